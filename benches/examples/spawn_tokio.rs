//! The tokio mirror of `examples/examples/spawn.rs`, a bench-only
//! comparison: spawn N empty tasks from one task, then await them all.
//!
//! `cargo run --release -p benches --example spawn_tokio -- [N=500000] [WORKERS=2] [FROM=block_on]`
//!
//! Prints one line:
//! `spawn_tokio n=500000 workers=2 spawn_s=0.xxx run_s=0.xxx total_s=0.xxx peak_rss_kib=NNN`
//! where `spawn_s` is the time to spawn all N, `run_s` the time from then
//! until the last is awaited, and `peak_rss_kib` the process's peak resident
//! memory (VmHWM). The runtime is tokio's multi-thread one with WORKERS
//! worker threads. With `FROM=block_on` (the default) the spawning loop is
//! `block_on`'s future, on the main thread; with `FROM=task` it is a task
//! on a worker, as coro's `block_on` runs its closure on a worker, and the
//! line ends with ` from=task`.

use std::time::Instant;

async fn spawn_all(n: usize) -> (f64, f64) {
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(async {})).collect();
    let spawned = Instant::now();
    for h in handles {
        h.await.expect("an empty task cannot fail");
    }
    let done = Instant::now();
    (
        (spawned - start).as_secs_f64(),
        (done - spawned).as_secs_f64(),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(500_000, |a| a.parse().expect("N is a number"));
    let workers: usize = args
        .next()
        .map_or(2, |a| a.parse().expect("WORKERS is a number"));
    let from_task = match args.next().as_deref() {
        None | Some("block_on") => false,
        Some("task") => true,
        Some(other) => panic!("FROM is block_on or task, not {other:?}"),
    };
    let rt = benches::tokio_runtime(workers);
    let (spawn_s, run_s) = if from_task {
        rt.block_on(rt.spawn(spawn_all(n)))
            .expect("the spawning task cannot fail")
    } else {
        rt.block_on(spawn_all(n))
    };
    println!(
        "spawn_tokio n={n} workers={workers} spawn_s={spawn_s:.3} run_s={run_s:.3} total_s={:.3} peak_rss_kib={}{}",
        spawn_s + run_s,
        examples::peak_rss_kib(),
        if from_task { " from=task" } else { "" }
    );
}
