//! Channel throughput: `iters` `u64` messages from producers to consumers;
//! the time reported is per message (and criterion's elements/s).
//!
//! * `1:1/bounded(0)`, `1:1/bounded(64)`, `1:1/unbounded`: one producer
//!   coroutine and one consumer coroutine on a 1-worker runtime. With
//!   `bounded(0)` each message is a rendezvous (the sender parks until the
//!   receiver takes it); with `bounded(64)` the two take turns, about 64
//!   messages each; with `unbounded` the producer never parks, so it runs its
//!   whole loop before the consumer runs (a queue as long as `iters`).
//! * `N:1/bounded(64)`: 4 producers, 1 consumer, on 2 workers (producers 0
//!   and 2 and the consumer on one, producers 1 and 3 on the other).
//! * `N:N/bounded(64)`: 4 producers, 4 consumers sharing one `Receiver`
//!   (clones), on 2 workers (2 producers and 2 consumers on each).
//! * `1:1/tokio_mpsc(64)` (1 worker) and `N:1/tokio_mpsc(64)` (4 producers,
//!   2 workers): `tokio::sync::mpsc::channel(64)` with tokio tasks on tokio
//!   multi-thread runtimes, for comparison. tokio's mpsc has one receiver,
//!   so there is no N:N.
//!
//! `iters` is rounded up to a multiple of the producers and split evenly
//! between them; the time is scaled back to `iters`. The timing runs inside
//! the runtime (`iter_custom`): all producers and consumers are spawned (on
//! 2 workers, placed as above by `benches::run_spread`: a burst of spawns
//! from one coroutine would mostly start on one worker, and a started
//! coroutine never moves), meet at a barrier, and each reads the clock after it and when done (a
//! producer after its last send, a consumer when the channel is empty and
//! disconnected); the time is from the earliest start to the latest end,
//! so spawning is outside it. The consumers' count and sum of the messages
//! are checked.
//!
//! `cargo bench -p benches --bench chan`

use std::sync::Arc;
use std::time::{Duration, Instant};

use coro::chan::{Receiver, Sender};
use criterion::{criterion_main, Criterion, Throughput};

/// Producers in the N:1 and N:N cases.
const PRODUCERS: u64 = 4;
/// Consumers in the N:N case.
const CONSUMERS: u64 = 4;

/// The sum of all messages: each producer sends `0..per`.
fn expected_sum(producers: u64, per: u64) -> u64 {
    (per * per.saturating_sub(1) / 2).wrapping_mul(producers)
}

/// `iters` messages (rounded up to a multiple of `producers`) from
/// `producers` coroutines to `consumers` coroutines through `chan`, spread
/// evenly over the `workers` workers; call inside a coroutine.
fn coro_run(
    (tx, rx): (Sender<u64>, Receiver<u64>),
    producers: u64,
    consumers: u64,
    workers: usize,
    iters: u64,
) -> Duration {
    let per = iters.div_ceil(producers);
    let n = (producers + consumers) as usize;
    let barrier = Arc::new(coro::sync::Barrier::new(n));
    // Each returns its start and end, and for a consumer the count and sum
    // of what it received. The closure owns `tx` and `rx`, and `run_spread`
    // drops it before the joins: only the coroutines' clones remain.
    let results = benches::run_spread(n, workers, move |i| {
        let (tx, rx) = (tx.clone(), rx.clone());
        let barrier = Arc::clone(&barrier);
        let producer = (i as u64) < producers;
        move || {
            barrier.wait();
            let start = Instant::now();
            let (mut count, mut sum) = (0_u64, 0_u64);
            if producer {
                drop(rx);
                for v in 0..per {
                    tx.send(v).expect("the consumers outlive the producers");
                }
            } else {
                // Ends once every producer is done, as only their clones of
                // the sender remain.
                drop(tx);
                for v in rx.iter() {
                    count += 1;
                    sum = sum.wrapping_add(v);
                }
            }
            (start, Instant::now(), count, sum)
        }
    });
    let count: u64 = results.iter().map(|r| r.2).sum();
    let sum = results.iter().fold(0_u64, |s, r| s.wrapping_add(r.3));
    assert_eq!(count, per * producers, "a message was lost");
    assert_eq!(sum, expected_sum(producers, per), "a message was altered");
    let times = results.into_iter().map(|(start, end, _, _)| (start, end));
    benches::scale(benches::span(times), per * producers, iters)
}

/// `iters` messages (rounded up to a multiple of `producers`) from
/// `producers` tasks to one through a `tokio::sync::mpsc::channel(cap)`;
/// run in a task.
async fn tokio_run(cap: usize, producers: u64, iters: u64) -> Duration {
    let per = iters.div_ceil(producers);
    let (tx, mut rx) = tokio::sync::mpsc::channel(cap);
    let barrier = Arc::new(tokio::sync::Barrier::new(producers as usize + 1));
    let senders: Vec<_> = (0..producers)
        .map(|_| {
            let tx = tx.clone();
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                for i in 0..per {
                    tx.send(i)
                        .await
                        .expect("the consumer outlives the producers");
                }
                (start, Instant::now())
            })
        })
        .collect();
    drop(tx);
    let receiver = tokio::spawn(async move {
        barrier.wait().await;
        let start = Instant::now();
        let (mut count, mut sum) = (0_u64, 0_u64);
        while let Some(v) = rx.recv().await {
            count += 1;
            sum = sum.wrapping_add(v);
        }
        (start, Instant::now(), count, sum)
    });
    let mut times = Vec::with_capacity(producers as usize + 1);
    for h in senders {
        times.push(h.await.expect("a producer cannot fail"));
    }
    let (start, end, count, sum) = receiver.await.expect("the consumer cannot fail");
    times.push((start, end));
    assert_eq!(count, per * producers, "a message was lost");
    assert_eq!(sum, expected_sum(producers, per), "a message was altered");
    benches::scale(benches::span(times), per * producers, iters)
}

fn chan_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("chan_throughput");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .throughput(Throughput::Elements(1));

    let rt = benches::coro_runtime(1);
    group.bench_function("1:1/bounded(0)", |b| {
        b.iter_custom(|iters| rt.block_on(|| coro_run(coro::chan::bounded(0), 1, 1, 1, iters)))
    });
    group.bench_function("1:1/bounded(64)", |b| {
        b.iter_custom(|iters| rt.block_on(|| coro_run(coro::chan::bounded(64), 1, 1, 1, iters)))
    });
    group.bench_function("1:1/unbounded", |b| {
        b.iter_custom(|iters| rt.block_on(|| coro_run(coro::chan::unbounded(), 1, 1, 1, iters)))
    });
    drop(rt);

    let rt = benches::coro_runtime(2);
    group.bench_function("N:1/bounded(64)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| coro_run(coro::chan::bounded(64), PRODUCERS, 1, 2, iters))
        })
    });
    group.bench_function("N:N/bounded(64)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(|| coro_run(coro::chan::bounded(64), PRODUCERS, CONSUMERS, 2, iters))
        })
    });
    drop(rt);

    let rt = benches::tokio_runtime(1);
    group.bench_function("1:1/tokio_mpsc(64)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(rt.spawn(tokio_run(64, 1, iters)))
                .expect("the timing task cannot fail")
        })
    });
    drop(rt);

    let rt = benches::tokio_runtime(2);
    group.bench_function("N:1/tokio_mpsc(64)", |b| {
        b.iter_custom(|iters| {
            rt.block_on(rt.spawn(tokio_run(64, PRODUCERS, iters)))
                .expect("the timing task cannot fail")
        })
    });
    group.finish();
}

/// The criterion group; in a private module, as the `pub fn` that
/// `criterion_group!` generates has no doc comment.
mod group {
    criterion::criterion_group!(benches, super::chan_throughput);
}

criterion_main!(group::benches);
