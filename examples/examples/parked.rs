//! N coroutines parked at once on one channel, then released.
//!
//! `cargo run --release -p examples --example parked -- [N=100000] [WORKERS=2]`
//!
//! Prints one line:
//! `parked n=100000 workers=2 bytes_per_task=NNNN peak_rss_kib=NNN total_s=0.xxx`
//! where `bytes_per_task` is (resident memory while all N are parked minus
//! resident memory before they were spawned) / N, and `total_s` the time
//! from the first spawn until the last one was joined after the release.
//!
//! Every coroutine blocks in `recv` on the same `bounded(0)` channel; the
//! release drops the only sender, which wakes them all with `RecvError`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// N coroutines parked at once on one channel, then released.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Coroutines to park.
    #[arg(default_value_t = 100_000)]
    n: usize,
    /// Worker threads.
    #[arg(default_value_t = 2, value_parser = examples::positive)]
    workers: usize,
}

fn main() {
    let Args { n, workers } = clap::Parser::parse();
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .build()
        .expect("runtime starts");
    let (bytes_per_task, total_s) = rt.block_on(|| {
        let (tx, rx) = coro::chan::bounded::<()>(0);
        let blocked = Arc::new(AtomicUsize::new(0));
        let before = examples::rss_kib();
        let start = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let rx = rx.clone();
                let blocked = Arc::clone(&blocked);
                coro::spawn(move || {
                    blocked.fetch_add(1, Ordering::Relaxed);
                    rx.recv().expect_err("released by disconnection")
                })
            })
            .collect();
        drop(rx);
        // Wait until every coroutine has started, then give the last ones
        // time to reach `recv` and park.
        while blocked.load(Ordering::Relaxed) < n {
            coro::sleep(Duration::from_millis(1));
        }
        coro::sleep(Duration::from_millis(100));
        let parked = examples::rss_kib();
        drop(tx);
        for h in handles {
            h.join().expect("a parked coroutine ends cleanly");
        }
        let bytes_per_task = (parked.saturating_sub(before) * 1024) as f64 / n as f64;
        (bytes_per_task, start.elapsed().as_secs_f64())
    });
    println!(
        "parked n={n} workers={workers} bytes_per_task={bytes_per_task:.0} peak_rss_kib={} total_s={total_s:.3}",
        examples::peak_rss_kib()
    );
}
