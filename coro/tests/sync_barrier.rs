//! `coro::sync::Barrier`: generations in lockstep, one leader each, with
//! coroutines and threads together.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use coro::sync::Barrier;
use util::rt_test;

rt_test! {
    /// Coroutines and a thread pass many generations of one barrier. Nobody
    /// gets a round ahead, and each generation has exactly one leader.
    fn generations_in_lockstep(rt) {
        const COROUTINES: usize = 15;
        const PARTIES: usize = COROUTINES + 1;
        const ROUNDS: usize = 200;
        let barrier = Arc::new(Barrier::new(PARTIES));
        let arrived = Arc::new(AtomicUsize::new(0));
        let leaders = Arc::new(AtomicUsize::new(0));
        let party = {
            let (barrier, arrived, leaders) = (barrier.clone(), arrived.clone(), leaders.clone());
            move || {
                for round in 0..ROUNDS {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    if barrier.wait().is_leader() {
                        leaders.fetch_add(1, Ordering::SeqCst);
                    }
                    // Everyone of this round arrived before anyone left.
                    let a = arrived.load(Ordering::SeqCst);
                    assert!(a >= (round + 1) * PARTIES, "round {round}: {a}");
                    // A second wait keeps the next round's arrivals from
                    // being counted before everyone checked.
                    barrier.wait();
                }
            }
        };
        let t = thread::spawn(party.clone());
        rt.block_on(|| {
            let hs: Vec<_> = (0..COROUTINES).map(|_| coro::spawn(party.clone())).collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        t.join().unwrap();
        assert_eq!(leaders.load(Ordering::SeqCst), ROUNDS);
        assert_eq!(arrived.load(Ordering::SeqCst), ROUNDS * PARTIES);
    }
}

rt_test! {
    /// Many coroutines, one generation: all are released together.
    fn a_wide_barrier(rt) {
        const N: usize = 1_000;
        let barrier = Arc::new(Barrier::new(N));
        let leaders = rt.block_on(|| {
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let b = Arc::clone(&barrier);
                    coro::spawn(move || b.wait().is_leader())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).filter(|&l| l).count()
        });
        assert_eq!(leaders, 1);
    }
}
