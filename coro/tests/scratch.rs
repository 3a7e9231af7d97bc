mod util;
use std::time::Instant;
#[test]
fn m() {
    for w in [1usize, 4] {
        let rt = util::runtime(w, "x");
        let t = Instant::now();
        let sum = rt.block_on(|| {
            let mut sum = 0u64;
            for b in 0..100u64 {
                let hs: Vec<_> = (0..10_000u64).map(|i| coro::spawn(move || b * 10_000 + i)).collect();
                sum += hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
            }
            sum
        });
        assert_eq!(sum, 999_999 * 1_000_000 / 2);
        eprintln!("{w}: 1M in {:?}", t.elapsed());
        let t = Instant::now();
        for i in 0..20_000u64 { assert_eq!(rt.spawn(move || i).join().unwrap(), i); }
        eprintln!("{w}: 20k plain rounds in {:?}", t.elapsed());
    }
}
