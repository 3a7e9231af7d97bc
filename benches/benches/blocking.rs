//! `spawn_blocking` round trip for an empty closure, coro against tokio in
//! the same run: from a coroutine (a tokio task) on a 2-worker runtime,
//! hand the closure to the blocking pool and wait for its result, one at a
//! time. The pool threads are warm (started in the warm-up and kept alive),
//! so this measures the queue, the wake of an idle pool thread, and the
//! wake of the joiner.
//!
//! `cargo bench -p benches --bench blocking`

use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};

fn blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_blocking");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    let rt = benches::coro_runtime(2);
    group.bench_function("coro", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| {
                let start = Instant::now();
                for _ in 0..iters {
                    coro::spawn_blocking(|| ()).join().unwrap();
                }
                start.elapsed()
            })
        })
    });
    let tokio = benches::tokio_runtime(2);
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        tokio::task::spawn_blocking(|| ()).await.unwrap();
                    }
                    start.elapsed()
                })
                .await
                .unwrap()
            })
        })
    });
    group.finish();
}

/// The criterion group; in a private module, as the `pub fn` that
/// `criterion_group!` generates has no doc comment.
mod group {
    criterion::criterion_group!(benches, super::blocking);
}

criterion_main!(group::benches);
