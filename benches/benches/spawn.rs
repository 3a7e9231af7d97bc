//! Spawn and join of one empty coroutine, the per-coroutine overhead of
//! `coro::spawn` + `JoinHandle::join`, on runtimes with 1 and 2 workers;
//! with `tokio::spawn(async {}).await` on tokio multi-thread runtimes with
//! 1 and 2 worker threads as the comparison.
//!
//! The timing runs inside the runtime (`iter_custom` inside `block_on`), so
//! entering the runtime is not measured. coro's `block_on` runs its closure
//! as a coroutine on a worker; the tokio loop likewise runs in a task on a
//! worker (`rt.spawn`), not in `block_on`'s future on the bench thread,
//! whose every spawn would go through the remote queue and wake a parked
//! worker (id `tokio_from_block_on`, for reference).
//!
//! `cargo bench -p benches --bench spawn`

use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion};

fn spawn_join(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_join");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    for workers in [1, 2] {
        let rt = benches::coro_runtime(workers);
        group.bench_function(
            BenchmarkId::new("coro", format!("workers={workers}")),
            |b| {
                b.iter_custom(|iters| {
                    rt.block_on(|| {
                        let start = Instant::now();
                        for _ in 0..iters {
                            coro::spawn(|| {})
                                .join()
                                .expect("an empty coroutine cannot fail");
                        }
                        start.elapsed()
                    })
                })
            },
        );
    }
    for workers in [1, 2] {
        let rt = benches::tokio_runtime(workers);
        group.bench_function(
            BenchmarkId::new("tokio", format!("workers={workers}")),
            |b| {
                b.iter_custom(|iters| {
                    rt.block_on(rt.spawn(async move {
                        let start = Instant::now();
                        for _ in 0..iters {
                            tokio::spawn(async {})
                                .await
                                .expect("an empty task cannot fail");
                        }
                        start.elapsed()
                    }))
                    .expect("the timing task cannot fail")
                })
            },
        );
        group.bench_function(
            BenchmarkId::new("tokio_from_block_on", format!("workers={workers}")),
            |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async move {
                        let start = Instant::now();
                        for _ in 0..iters {
                            tokio::spawn(async {})
                                .await
                                .expect("an empty task cannot fail");
                        }
                        start.elapsed()
                    })
                })
            },
        );
    }
    group.finish();
}

/// The criterion group; in a private module, as the `pub fn` that
/// `criterion_group!` generates has no doc comment.
mod group {
    criterion::criterion_group!(benches, super::spawn_join);
}

criterion_main!(group::benches);
