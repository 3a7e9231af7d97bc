//! Benchmarks of the `coro` runtime, with `tokio` comparisons.
//!
//! * `benches/spawn.rs`: spawn and join one empty coroutine (and one tokio
//!   task), on 1 and 2 workers.
//! * `benches/switch.rs`: a `yield_now` round trip between two coroutines on
//!   one worker (the switch cost, stack allocation excluded).
//! * `benches/sleep.rs`: `sleep(0)` and `sleep(1 µs)` wake-up latency.
//! * `examples/spawn_tokio.rs` and `spawn_compare.sh`: the tokio mirror of
//!   `examples/examples/spawn.rs` (500,000 empty tasks), and a script that
//!   runs both alternately and prints the medians and their ratio.
//!
//! Run with `cargo bench -p benches` and `benches/spawn_compare.sh`.

/// A `coro` runtime with `workers` worker threads.
///
/// # Panics
/// If a worker thread cannot be started.
pub fn coro_runtime(workers: usize) -> coro::Runtime {
    coro::runtime::Builder::new()
        .workers(workers)
        .build()
        .expect("coro runtime starts")
}

/// A tokio multi-thread runtime with `workers` worker threads.
///
/// # Panics
/// If the runtime cannot be started.
pub fn tokio_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("tokio runtime starts")
}

/// The process's peak resident set size in KiB (`VmHWM` in
/// `/proc/self/status`), or 0 if unknown.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
