//! Wake-up latency of `coro::sleep`, from the call to its return, for one
//! coroutine alone on a 1-worker runtime.
//!
//! * `zero`: `sleep(Duration::ZERO)`, a deadline already past, which yields
//!   to the scheduler and is resumed at once (nothing else is ready).
//! * `1us`: `sleep(Duration::from_micros(1))`, which registers a timer and
//!   parks; with nothing else to run the worker waits for the timer, which
//!   fires and makes the coroutine ready again. So it measures the timer
//!   firing path (timer insert, worker park with a timeout, expiry, resume),
//!   not the 1 µs.
//!
//! `cargo bench -p benches --bench sleep`

use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};

fn sleep(c: &mut Criterion) {
    let mut group = c.benchmark_group("sleep");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    let rt = benches::coro_runtime(1);
    for (id, duration) in [("zero", Duration::ZERO), ("1us", Duration::from_micros(1))] {
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                rt.block_on(|| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        coro::sleep(duration);
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

/// The criterion group; in a private module, as the `pub fn` that
/// `criterion_group!` generates has no doc comment.
mod group {
    criterion::criterion_group!(benches, super::sleep);
}

criterion_main!(group::benches);
