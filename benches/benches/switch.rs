//! A `yield_now` round trip between two coroutines on a 1-worker runtime:
//! coroutine A yields, B runs and yields, A runs again. This is the switch
//! cost (two suspends and two resumes through the scheduler's run queue).
//!
//! For `iters` iterations, two coroutines are spawned once (per sample) and
//! each yields `iters` times. Each first yields once so that both have
//! started, then reads the clock, loops, and reads it again; the measured
//! time is from the earlier start to the later end. Spawning, stack
//! allocation and the first resume are outside it.
//!
//! `cargo bench -p benches --bench switch`

use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion};

/// Yields once to let the other coroutine start, then `iters` times;
/// returns the clock after the first yield and after the last.
fn yield_loop(iters: u64) -> (Instant, Instant) {
    coro::yield_now();
    let start = Instant::now();
    for _ in 0..iters {
        coro::yield_now();
    }
    (start, Instant::now())
}

fn switch(c: &mut Criterion) {
    let mut group = c.benchmark_group("switch");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    let rt = benches::coro_runtime(1);
    group.bench_function("yield_round_trip/workers=1", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| {
                let a = coro::spawn(move || yield_loop(iters));
                let b = coro::spawn(move || yield_loop(iters));
                let (a_start, a_end) = a.join().expect("a yield loop cannot fail");
                let (b_start, b_end) = b.join().expect("a yield loop cannot fail");
                a_end.max(b_end) - a_start.min(b_start)
            })
        })
    });
    group.finish();
}

/// The criterion group; in a private module, as the `pub fn` that
/// `criterion_group!` generates has no doc comment.
mod group {
    criterion::criterion_group!(benches, super::switch);
}

criterion_main!(group::benches);
