//! Spawn N empty coroutines from one coroutine, then join them all.
//!
//! `cargo run --release -p examples --example spawn -- [N=500000] [WORKERS=2]`
//!
//! Prints one line:
//! `spawn n=500000 workers=2 spawn_s=0.xxx run_s=0.xxx total_s=0.xxx peak_rss_kib=NNN`
//! where `spawn_s` is the time to spawn all N, `run_s` the time from then
//! until the last is joined, and `peak_rss_kib` the process's peak resident
//! memory (VmHWM).

use std::time::Instant;

/// Spawn N empty coroutines from one coroutine, then join them all.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Coroutines to spawn.
    #[arg(default_value_t = 500_000)]
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
    let (spawn_s, run_s) = rt.block_on(|| {
        let start = Instant::now();
        let handles: Vec<_> = (0..n).map(|_| coro::spawn(|| {})).collect();
        let spawned = Instant::now();
        for h in handles {
            h.join().expect("an empty coroutine cannot fail");
        }
        let done = Instant::now();
        (
            (spawned - start).as_secs_f64(),
            (done - spawned).as_secs_f64(),
        )
    });
    println!(
        "spawn n={n} workers={workers} spawn_s={spawn_s:.3} run_s={run_s:.3} total_s={:.3} peak_rss_kib={}",
        spawn_s + run_s,
        examples::peak_rss_kib()
    );
}
