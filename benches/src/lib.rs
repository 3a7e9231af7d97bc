//! Benchmarks of the `coro` runtime, with `tokio` comparisons.
//!
//! * `benches/spawn.rs`: spawn and join one empty coroutine (and one tokio
//!   task), on 1 and 2 workers.
//! * `benches/switch.rs`: a `yield_now` round trip between two coroutines on
//!   one worker (the switch cost, stack allocation excluded).
//! * `benches/sleep.rs`: `sleep(0)` and `sleep(1 µs)` wake-up latency.
//! * `benches/mutex.rs`: `coro::sync::Mutex` lock + unlock, alone (with
//!   `std` and `parking_lot`) and shared by 8 coroutines (with tokio's).
//! * `benches/chan.rs`: channel throughput, time per message, 1:1, N:1 and
//!   N:N (with `tokio::sync::mpsc` for 1:1 and N:1).
//! * Comparison programs in `examples/`: the tokio mirrors of the coro
//!   figures programs (`spawn_tokio`, `pingpong_tokio`), a tokio echo server
//!   and an echo load generator (`echo_tokio`, `echo_client`), a hyper
//!   hello server (`hello_hyper`, the same pages as the coro `hello`) and
//!   a may_minihttp one (`hello_may`: `/plaintext` and `/fib/{n}`).
//! * Scripts that run coro and its peers side by side and print medians and
//!   ratios: `compare.sh` (spawn, ping-pong, parked, against Go and
//!   tokio), `echo.sh` (TCP echo against tokio), `http.sh` (the HTTP
//!   scenarios under `wrk`, against hyper, may_minihttp and the floor)
//!   and `scaling.sh` (the same servers from 1 to 16 workers).
//!
//! * The floor servers (`hello_bare` on epoll, `hello_bare_uring` on
//!   io_uring): the system calls of a plaintext server and nothing else,
//!   the ceiling `http.sh` measures beside coro and hyper ([`floor`]).
//!
//! Run with `cargo bench -p benches` and `bash benches/<script>.sh`.

pub mod floor;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// From the earliest start to the latest end of several timed loops that
/// ran at once, each given as `(start, end)`; zero if there are none.
pub fn span(times: impl IntoIterator<Item = (Instant, Instant)>) -> Duration {
    times
        .into_iter()
        .reduce(|(s0, e0), (s1, e1)| (s0.min(s1), e0.max(e1)))
        .map_or(Duration::ZERO, |(start, end)| end - start)
}

/// `elapsed`, measured over `done` iterations, scaled to `iters`: for
/// `iter_custom` when the work was split evenly between several loops and
/// `iters` rounded up to `done`, a multiple of their number.
pub fn scale(elapsed: Duration, done: u64, iters: u64) -> Duration {
    if done == 0 || done == iters {
        elapsed
    } else {
        elapsed.mul_f64(iters as f64 / done as f64)
    }
}

/// Runs `n` coroutines, the `i`-th running `f(i)`, on the current
/// runtime's `workers` workers, `i % workers` choosing the worker (so each
/// gets `n / workers` of them, give or take one), and returns their results
/// in order; call inside a coroutine. `f` is dropped before they are
/// joined, so it may own a channel end whose disconnection ends them.
///
/// A started coroutine never leaves its worker, but a fresh one may be
/// stolen, so a burst of spawns from one coroutine lands unevenly: mostly
/// on the spawner's worker if the spawner parks at once, mostly elsewhere if
/// it keeps its worker busy. Here the spawner starts one *group* coroutine
/// per worker: it holds its own worker, spinning without yielding, until
/// the other groups have started elsewhere, so the last starts on its
/// worker; each group holds its worker likewise until every group has
/// started. Then each group spawns its share and yields until that has
/// started, then spins until all `n` have: a worker is never idle, so never
/// steals, until every coroutine has started on its group's worker.
/// Meant for 1 or 2 workers: with more, a stealing worker may take two
/// groups at once and wait for the second forever (the deadline below makes
/// that a panic).
///
/// # Panics
/// If a worker did not do its part within a second, a coroutine ran on
/// another worker than its group, or one of them panicked.
pub fn run_spread<F, G, T>(n: usize, workers: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> G,
    G: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    /// Spins (yielding instead while `yield_while` holds) until `count`
    /// reaches `target`.
    fn wait_for(count: &AtomicUsize, target: usize, yield_while: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while count.load(Ordering::Acquire) < target {
            assert!(
                Instant::now() < deadline,
                "a worker did not start its share of the coroutines"
            );
            if yield_while() {
                coro::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    let mut groups: Vec<Vec<(usize, G)>> = (0..workers).map(|_| Vec::new()).collect();
    for i in 0..n {
        groups[i % workers].push((i, f(i)));
    }
    drop(f);
    // Groups started, and coroutines started.
    let groups_started = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = groups
        .into_iter()
        .map(|group| {
            let groups_started = Arc::clone(&groups_started);
            let started = Arc::clone(&started);
            coro::spawn(move || {
                groups_started.fetch_add(1, Ordering::AcqRel);
                wait_for(&groups_started, workers, || false);
                let thread = std::thread::current().id();
                let len = group.len();
                let mine = Arc::new(AtomicUsize::new(0));
                let handles: Vec<_> = group
                    .into_iter()
                    .map(|(i, g)| {
                        let started = Arc::clone(&started);
                        let mine = Arc::clone(&mine);
                        coro::spawn(move || {
                            mine.fetch_add(1, Ordering::AcqRel);
                            started.fetch_add(1, Ordering::AcqRel);
                            (i, std::thread::current().id(), g())
                        })
                    })
                    .collect();
                wait_for(&started, n, || mine.load(Ordering::Acquire) < len);
                handles
                    .into_iter()
                    .map(|h| {
                        let (i, t, v) = h.join().expect("a benchmark coroutine cannot fail");
                        (i, t == thread, v)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    wait_for(&groups_started, workers - 1, || false);
    let mut results: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a benchmark coroutine cannot fail"))
        .collect();
    results.sort_by_key(|&(i, _, _)| i);
    results
        .into_iter()
        .map(|(i, at_home, v)| {
            assert!(at_home, "coroutine {i} was stolen by another worker");
            v
        })
        .collect()
}
