//! Stress: many producers and consumers, coroutines and plain threads
//! mixed, on every flavour of channel, under one worker and under four.
//! Every message carries a unique id and every receiver marks it in a
//! bitmap ([`Seen`]), so a lost message and a duplicated one both fail the
//! test, by id. Each body runs under the watchdog, so a lost wake-up fails
//! instead of hanging.
//!
//! Producers and consumers use every API in turn (blocking, timed, `try_*`
//! with a blocking fallback, and selects of several operations), so that
//! each kind of waiter meets each kind of completer.

mod chan_common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use chan_common::{rt_test, select, select_recv, yield_any, Done, Rng, Seen, Wait};
use coro::chan::{
    bounded, unbounded, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TrySendError,
};
use coro::Runtime;

/// A timeout long enough never to fire in a healthy run: a timed call
/// that uses it waits on its deadline timer without it mattering.
const LONG: Duration = Duration::from_secs(30);

/// Retries of `try_send` before a producer falls back to `send`: enough to
/// exercise the non-blocking path, few enough that producers that only
/// poll cannot starve consumers that only poll.
const TRY_RETRIES: usize = 3;

/// Sends `v` the way producer number `p` does.
fn produce(p: usize, tx: &Sender<u64>, never: &Receiver<u64>, v: u64) {
    match p % 4 {
        0 => tx.send(v).unwrap(),
        1 => {
            let mut v = v;
            loop {
                match tx.send_timeout(v, LONG) {
                    Ok(()) => break,
                    Err(SendTimeoutError::Timeout(back)) => v = back,
                    Err(e) => panic!("send_timeout: {e}"),
                }
            }
        }
        2 => {
            // A select of the send and a receive that never happens.
            match select(vec![(tx, v)], &[never], Wait::Block).0 {
                Some(Done::Sent(0, r)) => r.unwrap(),
                other => panic!("select: {other:?}"),
            }
        }
        _ => {
            let mut v = v;
            for _ in 0..TRY_RETRIES {
                match tx.try_send(v) {
                    Ok(()) => return,
                    Err(TrySendError::Full(back)) => v = back,
                    Err(e) => panic!("try_send: {e}"),
                }
                yield_any();
            }
            tx.send(v).unwrap();
        }
    }
}

/// Receives until the channel is disconnected, the way consumer number `c`
/// does, marking every message; returns how many it got.
fn consume(c: usize, rx: &Receiver<u64>, never: &Receiver<u64>, seen: &Seen) -> u64 {
    let mut n = 0;
    let mut mark = |v: u64| {
        assert!(seen.mark(v), "message {v} received twice");
        n += 1;
    };
    match c % 4 {
        0 => {
            while let Ok(v) = rx.recv() {
                mark(v);
            }
        }
        1 => rx.iter().for_each(&mut mark),
        2 => loop {
            match rx.recv_timeout(LONG) {
                Ok(v) => mark(v),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        },
        _ => loop {
            match select_recv(&[rx, never], Wait::Block) {
                Some((0, Ok(v))) => mark(v),
                Some((0, Err(_))) => break,
                other => panic!("select: {other:?}"),
            }
        },
    }
    n
}

/// Who takes part in a [`mpmc`] run.
#[derive(Debug, Clone, Copy)]
struct Mix {
    coroutine_producers: usize,
    thread_producers: usize,
    coroutine_consumers: usize,
    thread_consumers: usize,
    per_producer: u64,
}

/// The default mix: mostly coroutines, a few threads on each side.
const MIX: Mix = Mix {
    coroutine_producers: 12,
    thread_producers: 2,
    coroutine_consumers: 12,
    thread_consumers: 2,
    per_producer: 15_000,
};

/// Runs `mix` over the channel `(tx, rx)` on `rt` and checks that every
/// message arrived exactly once.
fn mpmc(rt: &Runtime, what: &str, chan: (Sender<u64>, Receiver<u64>), mix: Mix) {
    mpmc_on(rt, rt, what, chan, mix);
}

/// As [`mpmc`], with the producing coroutines on `producer_rt` and the
/// consuming ones on `consumer_rt`.
fn mpmc_on(
    producer_rt: &Runtime,
    consumer_rt: &Runtime,
    what: &str,
    (tx, rx): (Sender<u64>, Receiver<u64>),
    mix: Mix,
) {
    let producers = mix.coroutine_producers + mix.thread_producers;
    let consumers = mix.coroutine_consumers + mix.thread_consumers;
    let total = producers as u64 * mix.per_producer;
    let seen = Arc::new(Seen::new(total));
    let received = Arc::new(AtomicU64::new(0));
    // Kept alive (never sent on) until the end, so selects over it block.
    let (never_tx, never_rx) = bounded::<u64>(0);

    let mut coroutines = Vec::new();
    let mut threads = Vec::new();
    for c in 0..consumers {
        let (rx, never, seen, received) = (
            rx.clone(),
            never_rx.clone(),
            Arc::clone(&seen),
            Arc::clone(&received),
        );
        let body = move || {
            let n = consume(c, &rx, &never, &seen);
            received.fetch_add(n, Ordering::Relaxed);
        };
        if c < mix.coroutine_consumers {
            coroutines.push(consumer_rt.spawn(body));
        } else {
            threads.push(thread::spawn(body));
        }
    }
    for p in 0..producers {
        let (tx, never) = (tx.clone(), never_rx.clone());
        let per = mix.per_producer;
        let body = move || {
            for i in 0..per {
                produce(p, &tx, &never, p as u64 * per + i);
            }
        };
        if p < mix.coroutine_producers {
            coroutines.push(producer_rt.spawn(body));
        } else {
            threads.push(thread::spawn(body));
        }
    }
    // Only the producers' clones are left: the consumers stop when they
    // are all done.
    drop((tx, rx, never_rx));
    for h in coroutines {
        h.join().unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    drop(never_tx);
    assert_eq!(received.load(Ordering::Relaxed), total, "{what}");
    seen.assert_complete(what);
}

rt_test! {
    /// Rendezvous: every message passes from a sender to a receiver that
    /// meet.
    fn mpmc_bounded_0(rt) {
        mpmc(rt, "bounded(0)", bounded(0), MIX);
    }
}

rt_test! {
    /// A one-message buffer: senders and receivers both block often.
    fn mpmc_bounded_1(rt) {
        mpmc(rt, "bounded(1)", bounded(1), MIX);
    }
}

rt_test! {
    fn mpmc_bounded_64(rt) {
        mpmc(rt, "bounded(64)", bounded(64), MIX);
    }
}

rt_test! {
    /// Senders never block; receivers do.
    fn mpmc_unbounded(rt) {
        mpmc(rt, "unbounded", unbounded(), MIX);
    }
}

rt_test! {
    /// One million messages through one `bounded(64)` channel, most
    /// producers and consumers coroutines, some threads.
    fn million_messages(rt) {
        let mix = Mix {
            coroutine_producers: 6,
            thread_producers: 2,
            coroutine_consumers: 6,
            thread_consumers: 2,
            per_producer: 1_000_000 / 8,
        };
        mpmc(rt, "bounded(64), one million", bounded(64), mix);
    }
}

rt_test! {
    /// Producers on this runtime, consumers on another with the other
    /// worker count (every wake crosses runtimes), threads on both sides.
    fn mpmc_two_runtimes(rt) {
        let other = chan_common::runtime(5 - rt.workers());
        mpmc_on(rt, &other, "bounded(1), two runtimes", bounded(1), MIX);
        mpmc_on(&other, rt, "bounded(0), two runtimes", bounded(0), MIX);
    }
}

/// Nodes in [`select_mesh`]; the last [`MESH_THREADS`] are plain threads.
const MESH_NODES: usize = 16;
const MESH_THREADS: usize = 3;
/// Messages each node sends.
const MESH_QUOTA: u64 = 3_000;

rt_test! {
    /// A mesh of nodes, each with an inbox (capacities 0, 1 and 2 in
    /// turn). Each node loops on one select: send its next message to a
    /// random other node, or receive from its own inbox; once its quota is
    /// sent it drops its senders and drains its inbox. A select with a send
    /// and a receive arm must always find the partner that is waiting in
    /// another select, or the mesh deadlocks.
    fn select_mesh(rt) {
        let total = MESH_NODES as u64 * MESH_QUOTA;
        let seen = Arc::new(Seen::new(total));
        let (txs, rxs): (Vec<Sender<u64>>, Vec<Receiver<u64>>) =
            (0..MESH_NODES).map(|k| bounded(k % 3)).unzip();
        let mut coroutines = Vec::new();
        let mut threads = Vec::new();
        for (k, inbox) in rxs.into_iter().enumerate() {
            let txs = txs.clone();
            let seen = Arc::clone(&seen);
            let body = move || {
                let mut rng = Rng::new(k as u64 + 1);
                let mut sent = 0;
                let mut got = 0;
                while sent < MESH_QUOTA {
                    let mut to = rng.below(MESH_NODES as u64 - 1) as usize;
                    if to >= k {
                        to += 1;
                    }
                    let id = k as u64 * MESH_QUOTA + sent;
                    match select(vec![(&txs[to], id)], &[&inbox], Wait::Block).0 {
                        Some(Done::Sent(_, r)) => {
                            r.unwrap();
                            sent += 1;
                        }
                        Some(Done::Received(_, v)) => {
                            assert!(seen.mark(v.unwrap()), "node {k}: duplicate");
                            got += 1;
                        }
                        None => unreachable!(),
                    }
                }
                drop(txs);
                for v in &inbox {
                    assert!(seen.mark(v), "node {k}: duplicate");
                    got += 1;
                }
                got
            };
            if k < MESH_NODES - MESH_THREADS {
                coroutines.push(rt.spawn(body));
            } else {
                threads.push(thread::spawn(body));
            }
        }
        drop(txs);
        let mut got: u64 = coroutines.into_iter().map(|h| h.join().unwrap()).sum();
        got += threads.into_iter().map(|t| t.join().unwrap()).sum::<u64>();
        assert_eq!(got, total);
        seen.assert_complete("select mesh");
    }
}
