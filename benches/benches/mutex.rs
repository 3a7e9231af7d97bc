//! Lock + increment + unlock of a mutex holding a `u64`; the time reported
//! is per lock acquisition.
//!
//! * `uncontended/{coro,std,parking_lot}`: one coroutine on a 1-worker
//!   runtime locks `coro::sync::Mutex`, `std::sync::Mutex` and
//!   `parking_lot::Mutex` in a loop (for `coro` one CAS to lock and one to
//!   unlock; the queue lock is never touched). No `black_box`: the
//!   compiler does not elide or merge atomic read-modify-writes, and
//!   `black_box(&mutex)` in the loop added about 3 ns to each iteration
//!   (a 2-core VM).
//! * `contended/coro/workers={1,2}`: 8 coroutines share one
//!   `coro::sync::Mutex` and each locks it `iters / 8` times (`iters`
//!   rounded up to a multiple of 8, the time scaled back). Nothing in the
//!   loop suspends unless the mutex is found held, so a coroutine runs until
//!   it has to park. On 1 worker they run one after the other and never
//!   meet (the uncontended cost plus the barrier, a baseline). On 2 workers,
//!   4 coroutines on each (`benches::run_spread`: a burst of spawns from one
//!   coroutine would mostly start on one worker, and a started coroutine
//!   never moves), one running at a time per worker: a locker that finds
//!   the mutex held spins briefly, then parks, and its worker runs its next
//!   coroutine (Go's barging, then hand-off after 1 ms of waiting).
//! * `contended/tokio_mutex/workers=2`: the same with `tokio::sync::Mutex`
//!   and 8 tasks on a 2-worker tokio runtime.
//!
//! The timing runs inside the runtime (`iter_custom`). In the contended
//! cases the tasks are spawned, meet at a barrier, and each reads the clock
//! after it and after its loop; the time is from the earliest start to the
//! latest end, so spawning is outside it. The final count is checked.
//!
//! `cargo bench -p benches --bench mutex`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion};

/// Coroutines (or tasks) sharing the mutex in the contended cases.
const TASKS: u64 = 8;

/// `iters` lock + increment + unlock of a `coro::sync::Mutex`, by 8
/// coroutines spread evenly over the current runtime's `workers` workers;
/// call inside a coroutine.
fn coro_contended(iters: u64, workers: usize) -> Duration {
    let per = iters.div_ceil(TASKS);
    let mutex = Arc::new(coro::sync::Mutex::new(0_u64));
    let barrier = Arc::new(coro::sync::Barrier::new(TASKS as usize));
    let times = benches::run_spread(TASKS as usize, workers, |_| {
        let mutex = Arc::clone(&mutex);
        let barrier = Arc::clone(&barrier);
        move || {
            barrier.wait();
            let start = Instant::now();
            for _ in 0..per {
                *mutex.lock() += 1;
            }
            (start, Instant::now())
        }
    });
    assert_eq!(*mutex.lock(), per * TASKS, "an increment was lost");
    benches::scale(benches::span(times), per * TASKS, iters)
}

/// The same with `tokio::sync::Mutex` and 8 tasks; run in a task.
async fn tokio_contended(iters: u64) -> Duration {
    let per = iters.div_ceil(TASKS);
    let mutex = Arc::new(tokio::sync::Mutex::new(0_u64));
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
    let handles: Vec<_> = (0..TASKS)
        .map(|_| {
            let mutex = Arc::clone(&mutex);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                for _ in 0..per {
                    *mutex.lock().await += 1;
                }
                (start, Instant::now())
            })
        })
        .collect();
    let mut times = Vec::with_capacity(handles.len());
    for h in handles {
        times.push(h.await.expect("a lock loop cannot fail"));
    }
    assert_eq!(*mutex.lock().await, per * TASKS, "an increment was lost");
    benches::scale(benches::span(times), per * TASKS, iters)
}

fn mutex(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);

    let rt = benches::coro_runtime(1);
    group.bench_function("uncontended/coro", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| {
                let mutex = coro::sync::Mutex::new(0_u64);
                let start = Instant::now();
                for _ in 0..iters {
                    *mutex.lock() += 1;
                }
                let elapsed = start.elapsed();
                assert_eq!(mutex.into_inner(), iters);
                elapsed
            })
        })
    });
    group.bench_function("uncontended/std", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| {
                let mutex = std::sync::Mutex::new(0_u64);
                let start = Instant::now();
                for _ in 0..iters {
                    *mutex.lock().expect("never poisoned") += 1;
                }
                let elapsed = start.elapsed();
                assert_eq!(mutex.into_inner().expect("never poisoned"), iters);
                elapsed
            })
        })
    });
    group.bench_function("uncontended/parking_lot", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| {
                let mutex = parking_lot::Mutex::new(0_u64);
                let start = Instant::now();
                for _ in 0..iters {
                    *mutex.lock() += 1;
                }
                let elapsed = start.elapsed();
                assert_eq!(mutex.into_inner(), iters);
                elapsed
            })
        })
    });
    drop(rt);

    for workers in [1, 2] {
        let rt = benches::coro_runtime(workers);
        group.bench_function(
            BenchmarkId::new("contended/coro", format!("workers={workers}")),
            |b| b.iter_custom(|iters| rt.block_on(|| coro_contended(iters, workers))),
        );
    }

    let rt = benches::tokio_runtime(2);
    group.bench_function("contended/tokio_mutex/workers=2", |b| {
        b.iter_custom(|iters| {
            rt.block_on(rt.spawn(tokio_contended(iters)))
                .expect("the timing task cannot fail")
        })
    });
    group.finish();
}

/// The criterion group; in a private module, as the `pub fn` that
/// `criterion_group!` generates has no doc comment.
mod group {
    criterion::criterion_group!(benches, super::mutex);
}

criterion_main!(group::benches);
