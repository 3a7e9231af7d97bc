//! Lost wake-ups: races between parking and waking that hang (or lose or
//! duplicate a message) unless the channel's park/wake protocol is right.
//!
//! * ping-pong over unbuffered channels, coroutine against thread and
//!   coroutine against coroutine on another runtime: every message is a
//!   park on one side and a wake from the other;
//! * timeouts racing completions: a timed send or receive that gives up
//!   exactly when its partner arrives must either complete or hand the
//!   message back, never both and never neither;
//! * disconnection racing blocked senders and receivers: all wake, senders
//!   with their own message back;
//! * selects woken by several completers at once; coroutines parked while
//!   their stacks are copied out; a ring of forwarders;
//! * runtimes dropped in the middle of traffic, coroutines unwound while
//!   threads complete their operations: every message dropped exactly once.
//!
//! Every body runs under the watchdog, so a lost wake-up fails the test;
//! the scenarios where a bug would crash the process run in a child
//! process.

mod chan_common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use chan_common::{
    rt_test, select, select_recv, watchdog, yield_any, Done, Rng, Seen, Token, Wait, WATCHDOG,
};
use coro::chan::{
    bounded, unbounded, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender,
    TryRecvError,
};

/// A timeout that never fires in a healthy run.
const LONG: Duration = Duration::from_secs(30);

rt_test! {
    /// A coroutine and a plain thread play ping-pong over two unbuffered
    /// channels: each message parks one side and wakes the other.
    fn pingpong_coroutine_thread(rt) {
        const ROUNDS: u64 = 100_000;
        let (ping_tx, ping_rx) = bounded::<u64>(0);
        let (pong_tx, pong_rx) = bounded::<u64>(0);
        let t = thread::spawn(move || {
            for v in ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        });
        rt.block_on(move || {
            for i in 0..ROUNDS {
                ping_tx.send(2 * i).unwrap();
                assert_eq!(pong_rx.recv(), Ok(2 * i + 1));
            }
        });
        t.join().unwrap();
    }
}

rt_test! {
    /// As `pingpong_coroutine_thread`, the thread using the timed calls
    /// (a deadline that never passes) and the coroutine a select, so the
    /// timer paths park and wake too.
    fn pingpong_coroutine_thread_timed(rt) {
        const ROUNDS: u64 = 20_000;
        let (ping_tx, ping_rx) = bounded::<u64>(0);
        let (pong_tx, pong_rx) = bounded::<u64>(0);
        let t = thread::spawn(move || loop {
            match ping_rx.recv_timeout(LONG) {
                Ok(v) => pong_tx.send_timeout(v + 1, LONG).unwrap(),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("a 30 s timeout fired"),
            }
        });
        rt.block_on(move || {
            for i in 0..ROUNDS {
                ping_tx.send_timeout(2 * i, LONG).unwrap();
                assert_eq!(
                    select_recv(&[&pong_rx], Wait::Timeout(LONG)),
                    Some((0, Ok(2 * i + 1)))
                );
            }
        });
        t.join().unwrap();
    }
}

/// Two coroutines on two one-worker runtimes play ping-pong over two
/// unbuffered channels: every wake crosses runtimes.
#[test]
fn pingpong_two_runtimes() {
    const ROUNDS: u64 = 20_000;
    watchdog("pingpong_two_runtimes", || {
        let rt_a = chan_common::runtime(1);
        let rt_b = chan_common::runtime(1);
        let (ping_tx, ping_rx) = bounded::<u64>(0);
        let (pong_tx, pong_rx) = bounded::<u64>(0);
        let b = rt_b.spawn(move || {
            for v in ping_rx {
                pong_tx.send(v + 1).unwrap();
            }
        });
        rt_a.block_on(move || {
            for i in 0..ROUNDS {
                ping_tx.send(2 * i).unwrap();
                assert_eq!(pong_rx.recv(), Ok(2 * i + 1));
            }
        });
        b.join().unwrap();
    });
}

/// One timed-race run: senders offer `n` messages with short random
/// timeouts, receivers take them with short random timeouts, until the
/// senders are done. Every message must be received exactly once or handed
/// back to its sender in `Timeout`, not both.
fn timeouts_racing(rt: &coro::Runtime, cap: usize, n: u64) {
    const SENDERS: u64 = 2;
    let (tx, rx) = bounded::<u64>(cap);
    let received = Arc::new(Seen::new(n));
    let returned = Arc::new(Seen::new(n));
    let sent_ok = Arc::new(AtomicU64::new(0));

    // Receivers: two coroutines and a thread.
    let recv_body = |seed: u64| {
        let (rx, received) = (rx.clone(), Arc::clone(&received));
        move || {
            let mut rng = Rng::new(seed);
            loop {
                let wait = Duration::from_micros(rng.below(60));
                let got = if rng.below(2) == 0 {
                    rx.recv_timeout(wait)
                } else {
                    match select_recv(&[&rx], Wait::Timeout(wait)) {
                        Some((_, Ok(v))) => Ok(v),
                        Some((_, Err(RecvError))) => Err(RecvTimeoutError::Disconnected),
                        None => Err(RecvTimeoutError::Timeout),
                    }
                };
                match got {
                    Ok(v) => assert!(received.mark(v), "message {v} received twice"),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
    };
    let receivers = vec![rt.spawn(recv_body(1)), rt.spawn(recv_body(2))];
    let receiver_thread = thread::spawn(recv_body(3));

    // Senders: a coroutine and a thread, each offering half the ids.
    let send_body = |s: u64| {
        let (tx, returned, sent_ok) = (tx.clone(), Arc::clone(&returned), Arc::clone(&sent_ok));
        move || {
            let mut rng = Rng::new(100 + s);
            for v in (s..n).step_by(SENDERS as usize) {
                let wait = Duration::from_micros(rng.below(60));
                let back = if rng.below(2) == 0 {
                    match tx.send_timeout(v, wait) {
                        Ok(()) => None,
                        Err(SendTimeoutError::Timeout(back)) => Some(back),
                        Err(e) => panic!("send_timeout: {e}"),
                    }
                } else {
                    match select(vec![(&tx, v)], &[], Wait::Timeout(wait)) {
                        (Some(Done::Sent(0, Ok(()))), unsent) if unsent.is_empty() => None,
                        (None, mut unsent) if unsent.len() == 1 => unsent.pop(),
                        other => panic!("select: {other:?}"),
                    }
                };
                match back {
                    None => {
                        sent_ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(back) => {
                        assert_eq!(back, v, "a timed-out send handed back another message");
                        assert!(returned.mark(back));
                    }
                }
            }
        }
    };
    let sender = rt.spawn(send_body(0));
    let sender_thread = thread::spawn(send_body(1));
    drop((tx, rx));
    sender.join().unwrap();
    sender_thread.join().unwrap();
    for h in receivers {
        h.join().unwrap();
    }
    receiver_thread.join().unwrap();

    let mut both = Vec::new();
    let mut neither = Vec::new();
    for id in 0..n {
        match (received.contains(id), returned.contains(id)) {
            (true, true) => both.push(id),
            (false, false) => neither.push(id),
            _ => {}
        }
    }
    both.truncate(10);
    neither.truncate(10);
    assert!(
        both.is_empty() && neither.is_empty(),
        "cap {cap}: received and handed back: {both:?}; lost: {neither:?}"
    );
    assert_eq!(
        received.count(),
        sent_ok.load(Ordering::Relaxed),
        "cap {cap}"
    );
}

rt_test! {
    /// Timed sends race timed receives (and selects with `default(d)`):
    /// a message is received exactly once, or handed back in the timeout
    /// error, never both, never neither.
    fn timeouts_racing_completions(rt) {
        timeouts_racing(rt, 0, 20_000);
        timeouts_racing(rt, 1, 20_000);
    }
}

/// What a receiver in [`disconnect_wakes_receivers`] reports when the
/// channel is disconnected.
const DISCONNECTED: &str = "disconnected";

/// How a blocked receiver in [`disconnect_wakes_receivers`] waits.
fn blocked_recv(how: u64, rx: &Receiver<u32>, never: &Receiver<u32>) -> Result<u32, String> {
    match how % 4 {
        0 => rx.recv().map_err(|RecvError| DISCONNECTED.to_owned()),
        1 => rx.recv_timeout(LONG).map_err(|e| match e {
            RecvTimeoutError::Disconnected => DISCONNECTED.to_owned(),
            RecvTimeoutError::Timeout => "a 30 s timeout fired".to_owned(),
        }),
        2 => match select_recv(&[never, rx], Wait::Block) {
            Some((1, r)) => r.map_err(|RecvError| DISCONNECTED.to_owned()),
            other => Err(format!("unexpected select outcome {other:?}")),
        },
        _ => rx.iter().next().ok_or_else(|| DISCONNECTED.to_owned()),
    }
}

rt_test! {
    /// Receivers (coroutines, sometimes a thread) block on a channel in
    /// every way there is; the last sender is dropped at a random moment,
    /// racing their registration. Every one must wake with the
    /// disconnection error.
    fn disconnect_wakes_receivers(rt) {
        const ROUNDS: u64 = 300;
        const RECEIVERS: u64 = 6;
        let (_never_tx, never_rx) = bounded::<u32>(0);
        let mut rng = Rng::new(7);
        for round in 0..ROUNDS {
            let (tx, rx) = match round % 3 {
                0 => bounded::<u32>(0),
                1 => bounded(1),
                _ => unbounded(),
            };
            let hs: Vec<_> = (0..RECEIVERS)
                .map(|k| {
                    let (rx, never) = (rx.clone(), never_rx.clone());
                    rt.spawn(move || blocked_recv(round + k, &rx, &never))
                })
                .collect();
            let t = (round % 10 == 0).then(|| {
                let (rx, never) = (rx.clone(), never_rx.clone());
                thread::spawn(move || blocked_recv(round, &rx, &never))
            });
            drop(rx);
            for _ in 0..rng.below(4) {
                thread::yield_now();
            }
            if rng.below(4) == 0 {
                thread::sleep(Duration::from_micros(200));
            }
            let tx2 = tx.clone();
            drop(tx);
            drop(tx2);
            for h in hs {
                let r = h.join().unwrap();
                assert_eq!(r, Err(DISCONNECTED.to_owned()), "round {round}");
            }
            if let Some(t) = t {
                assert_eq!(t.join().unwrap(), Err(DISCONNECTED.to_owned()), "round {round}");
            }
        }
    }
}

/// How a blocked sender in [`disconnect_wakes_senders`] sends; returns
/// the message if it comes back.
fn blocked_send(how: u64, tx: &Sender<Token>, never: &Receiver<Token>, t: Token) -> Option<Token> {
    match how % 3 {
        0 => tx.send(t).err().map(SendError::into_inner),
        1 => tx.send_timeout(t, LONG).err().map(|e| {
            assert!(e.is_disconnected(), "{e}");
            e.into_inner()
        }),
        _ => match select(vec![(tx, t)], &[never], Wait::Block) {
            (Some(Done::Sent(0, r)), _) => r.err().map(SendError::into_inner),
            other => panic!("unexpected select outcome {other:?}"),
        },
    }
}

rt_test! {
    /// Senders (coroutines, sometimes a thread) block on a full channel in
    /// every way there is; the last receiver is dropped at a random moment.
    /// Every one must wake with its own message back, and every message
    /// (theirs and the buffered one) is dropped exactly once.
    fn disconnect_wakes_senders(rt) {
        const ROUNDS: u64 = 300;
        const SENDERS: u64 = 6;
        let drops = Arc::new(AtomicUsize::new(0));
        let mut made = 0;
        let (_never_tx, never_rx) = bounded::<Token>(0);
        let mut rng = Rng::new(11);
        for round in 0..ROUNDS {
            let (tx, rx) = bounded::<Token>((round % 2) as usize);
            if round % 2 == 1 {
                tx.send(Token::new(u64::MAX, &drops)).unwrap();
                made += 1;
            }
            let hs: Vec<_> = (0..SENDERS)
                .map(|k| {
                    let (tx, never) = (tx.clone(), never_rx.clone());
                    let t = Token::new(k, &drops);
                    rt.spawn(move || blocked_send(round + k, &tx, &never, t).map(|t| (k, t.id)))
                })
                .collect();
            made += SENDERS as usize;
            let t = (round % 10 == 0).then(|| {
                let (tx, never) = (tx.clone(), never_rx.clone());
                let t = Token::new(SENDERS, &drops);
                thread::spawn(move || blocked_send(round, &tx, &never, t).map(|t| (SENDERS, t.id)))
            });
            made += usize::from(t.is_some());
            drop(tx);
            for _ in 0..rng.below(4) {
                thread::yield_now();
            }
            if rng.below(4) == 0 {
                thread::sleep(Duration::from_micros(200));
            }
            let rx2 = rx.clone();
            drop(rx);
            drop(rx2);
            for (k, h) in hs.into_iter().enumerate() {
                let back = h.join().unwrap();
                assert_eq!(back, Some((k as u64, k as u64)), "round {round}: sender {k}");
            }
            if let Some(t) = t {
                assert_eq!(t.join().unwrap(), Some((SENDERS, SENDERS)), "round {round}");
            }
        }
        assert_eq!(drops.load(Ordering::SeqCst), made, "messages dropped != messages made");
    }
}

rt_test! {
    /// A receive with a short random timeout races a send (from a
    /// coroutine or a thread). On a buffered channel the message is either
    /// received or still in the channel afterwards; on an unbuffered one
    /// (the send timed too) the receive succeeds exactly when the send
    /// does, and a failed send hands its message back.
    fn recv_timeout_races_send(rt) {
        const ROUNDS: u64 = 3_000;
        let mut rng = Rng::new(5);
        for round in 0..ROUNDS {
            let cap = match round % 3 {
                0 => Some(0),
                1 => Some(1),
                _ => None,
            };
            let (tx, rx) = match cap {
                Some(c) => bounded::<u64>(c),
                None => unbounded(),
            };
            let recv_wait = Duration::from_micros(rng.below(40));
            let send_wait = Duration::from_micros(rng.below(40));
            let receiver = {
                let rx = rx.clone();
                rt.spawn(move || rx.recv_timeout(recv_wait))
            };
            // Keeps the channel connected after the sender gives up, so the
            // receive can only time out or succeed.
            let keep_tx = tx.clone();
            let send = move || {
                if cap == Some(0) {
                    tx.send_timeout(round, send_wait)
                } else {
                    tx.send(round).map_err(Into::into)
                }
            };
            let sent = if round % 4 == 0 {
                thread::spawn(send).join().unwrap()
            } else {
                rt.spawn(send).join().unwrap()
            };
            let got = receiver.join().unwrap();
            drop(keep_tx);
            match (cap, got, sent) {
                (Some(0), Ok(v), Ok(())) => {
                    assert_eq!(v, round);
                }
                (Some(0), Err(RecvTimeoutError::Timeout), Err(SendTimeoutError::Timeout(v))) => {
                    assert_eq!(v, round);
                }
                (_, Ok(v), Ok(())) if cap != Some(0) => {
                    assert_eq!(v, round);
                    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "round {round}");
                }
                (_, Err(RecvTimeoutError::Timeout), Ok(())) if cap != Some(0) => {
                    assert_eq!(rx.try_recv(), Ok(round), "round {round}: the message was lost");
                }
                other => panic!("round {round}, cap {cap:?}: inconsistent outcome {other:?}"),
            }
        }
    }
}

rt_test! {
    /// A select over eight unbuffered channels while eight senders, one per
    /// channel, send at once: each select takes exactly one message and the
    /// other senders stay blocked for the next. Repeated with the selector
    /// a coroutine and a thread in turn.
    fn select_woken_by_many(rt) {
        const ROUNDS: u64 = 200;
        const CHANS: usize = 8;
        for round in 0..ROUNDS {
            let (txs, rxs): (Vec<Sender<u64>>, Vec<Receiver<u64>>) =
                (0..CHANS).map(|_| bounded(0)).unzip();
            let senders: Vec<_> = txs
                .into_iter()
                .enumerate()
                .map(|(k, tx)| rt.spawn(move || tx.send(k as u64)))
                .collect();
            let collect = move || {
                let mut got = Vec::new();
                let mut open: Vec<usize> = (0..CHANS).collect();
                while !open.is_empty() {
                    let rs: Vec<&Receiver<u64>> = open.iter().map(|&k| &rxs[k]).collect();
                    let (i, v) = select_recv(&rs, Wait::Block).unwrap();
                    let k = open.remove(i);
                    assert_eq!(v, Ok(k as u64), "channel {k}");
                    got.push(k);
                }
                got.sort_unstable();
                got
            };
            let got = if round % 2 == 0 {
                rt.spawn(collect).join().unwrap()
            } else {
                thread::spawn(collect).join().unwrap()
            };
            assert_eq!(got, (0..CHANS).collect::<Vec<_>>());
            for h in senders {
                h.join().unwrap().unwrap();
            }
        }
    }
}

/// Many more coroutines parked in channel operations than the runtime keeps
/// stacks for, so that parked coroutines' stacks are copied out and lent
/// (see the crate docs): the channel must keep nothing on them, and the
/// runtime must bring each one back before it runs. Half wait in `recv`,
/// half in a select of a receive and a send; a thread then completes every
/// one of them. A corrupted stack crashes rather than fails, so this runs
/// in a child process.
#[test]
fn parked_coroutines_with_shared_stacks() {
    chan_common::in_child_process("parked_coroutines_with_shared_stacks", WATCHDOG, || {
        for workers in chan_common::WORKER_COUNTS {
            for round in 0..5 {
                shared_stacks_round(workers, round);
            }
        }
    });
}

fn shared_stacks_round(workers: usize, round: u64) {
    const WAITERS: u64 = 200;
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .resident_stacks(2 + round as usize)
        .build()
        .unwrap();
    let (a_tx, a_rx) = bounded::<u64>(0);
    let (b_tx, b_rx) = bounded::<u64>(0);
    let (c_tx, c_rx) = bounded::<u64>(0);
    let seen = Arc::new(Seen::new(3 * WAITERS));
    let mut hs = Vec::new();
    for k in 0..WAITERS {
        let (a_rx, seen_a) = (a_rx.clone(), Arc::clone(&seen));
        hs.push(rt.spawn(move || {
            // Something on the stack to check after the wait.
            let pad = std::hint::black_box([k; 64]);
            let v = if k % 2 == 0 {
                a_rx.recv().unwrap()
            } else {
                a_rx.recv_timeout(LONG).unwrap()
            };
            assert!(seen_a.mark(v));
            assert_eq!(
                std::hint::black_box(pad),
                [k; 64],
                "a stack came back changed"
            );
        }));
        let (b_rx, c_tx, seen_b) = (b_rx.clone(), c_tx.clone(), Arc::clone(&seen));
        hs.push(rt.spawn(move || {
            let pad = std::hint::black_box([!k; 64]);
            match select(vec![(&c_tx, 2 * WAITERS + k)], &[&b_rx], Wait::Block).0 {
                Some(Done::Sent(_, r)) => r.unwrap(),
                Some(Done::Received(_, v)) => assert!(seen_b.mark(v.unwrap())),
                None => unreachable!(),
            }
            assert_eq!(
                std::hint::black_box(pad),
                [!k; 64],
                "a stack came back changed"
            );
        }));
    }
    drop((a_rx, b_rx, c_tx));
    // The selects complete through b (a message from us) or through c (one
    // to us): WAITERS completions in all.
    let half = WAITERS / 2;
    for i in 0..WAITERS {
        a_tx.send(i).unwrap();
    }
    for i in 0..half {
        b_tx.send(WAITERS + i).unwrap();
    }
    for _ in 0..WAITERS - half {
        assert!(seen.mark(c_rx.recv().unwrap()));
    }
    for h in hs {
        h.join().unwrap();
    }
    // Every a message, the b messages, and the c ids of the selects that
    // sent: WAITERS + half + (WAITERS - half).
    assert_eq!(seen.count(), 2 * WAITERS);
    for i in 0..WAITERS + half {
        assert!(seen.contains(i), "message {i} lost");
    }
}

rt_test! {
    /// A ring of forwarders over unbuffered channels, coroutines with a few
    /// threads among them; several tokens circle at once, each for a fixed
    /// number of hops. Every hop is a park and a wake; one lost wake-up
    /// stops a token and the ring hangs.
    fn token_ring(rt) {
        const NODES: usize = 48;
        const THREAD_EVERY: usize = 12;
        const TOKENS: u64 = 6;
        const HOPS: u64 = 2_000;
        /// A token: (id, hops left); a stop token has id u64::MAX.
        type Msg = (u64, u64);
        let (txs, rxs): (Vec<Sender<Msg>>, Vec<Receiver<Msg>>) =
            (0..NODES).map(|_| bounded(0)).unzip();
        let (done_tx, done_rx) = unbounded::<u64>();
        let mut coroutines = Vec::new();
        let mut threads = Vec::new();
        for (k, inbox) in rxs.into_iter().enumerate() {
            let next = txs[(k + 1) % NODES].clone();
            let done = done_tx.clone();
            let body = move || {
                for (id, left) in inbox {
                    if id == u64::MAX {
                        // Pass the stop on; the node after the last one has
                        // stopped already.
                        let _ = next.send((id, left));
                        return;
                    }
                    if left == 0 {
                        done.send(id).unwrap();
                    } else {
                        next.send((id, left - 1)).unwrap();
                    }
                }
            };
            if k % THREAD_EVERY == THREAD_EVERY - 1 {
                threads.push(thread::spawn(body));
            } else {
                coroutines.push(rt.spawn(body));
            }
        }
        drop(done_tx);
        // Inject the tokens from coroutines, as a blocked sender racing
        // the ring's own traffic.
        for id in 0..TOKENS {
            let first = txs[(id as usize * 7) % NODES].clone();
            rt.spawn(move || first.send((id, HOPS)).unwrap());
        }
        let mut finished: Vec<u64> = (0..TOKENS).map(|_| done_rx.recv().unwrap()).collect();
        finished.sort_unstable();
        assert_eq!(finished, (0..TOKENS).collect::<Vec<_>>());
        txs[0].send((u64::MAX, 0)).unwrap();
        drop(txs);
        for h in coroutines {
            h.join().unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
    }
}

rt_test! {
    /// Unbuffered send and receive where both sides alternate between
    /// blocking, non-blocking-with-retry and timed calls, so every pairing
    /// of "arrived first and parked" with "arrived second and completed"
    /// happens, between a coroutine and a thread.
    fn mixed_apis_rendezvous(rt) {
        const N: u64 = 20_000;
        let (tx, rx) = bounded::<u64>(0);
        let t = thread::spawn(move || {
            let mut rng = Rng::new(3);
            let mut sum = 0;
            loop {
                let r = match rng.below(3) {
                    0 => rx.recv().map_err(|_| ()),
                    1 => loop {
                        match rx.try_recv() {
                            Ok(v) => break Ok(v),
                            Err(TryRecvError::Disconnected) => break Err(()),
                            Err(TryRecvError::Empty) => yield_any(),
                        }
                    },
                    _ => loop {
                        match rx.recv_timeout(Duration::from_micros(rng.below(50))) {
                            Ok(v) => break Ok(v),
                            Err(RecvTimeoutError::Disconnected) => break Err(()),
                            Err(RecvTimeoutError::Timeout) => {}
                        }
                    },
                };
                match r {
                    Ok(v) => sum += v,
                    Err(()) => return sum,
                }
            }
        });
        rt.block_on(move || {
            let mut rng = Rng::new(4);
            for v in 0..N {
                match rng.below(3) {
                    0 => tx.send(v).unwrap(),
                    // A non-blocking send succeeds only against a parked
                    // receiver; the thread's try_recv loop never parks, so
                    // retry a few times and then block.
                    1 => {
                        let mut pending = Some(v);
                        for _ in 0..3 {
                            match tx.try_send(pending.take().unwrap()) {
                                Ok(()) => break,
                                Err(e) => pending = Some(e.into_inner()),
                            }
                            coro::yield_now();
                        }
                        if let Some(v) = pending {
                            tx.send(v).unwrap();
                        }
                    }
                    _ => {
                        let mut v = v;
                        loop {
                            match tx.send_timeout(v, Duration::from_micros(rng.below(50))) {
                                Ok(()) => break,
                                Err(SendTimeoutError::Timeout(back)) => v = back,
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                }
            }
        });
        assert_eq!(t.join().unwrap(), (0..N).sum::<u64>());
    }
}

/// One participant of [`drop_runtime_mid_traffic`]: loops on channel
/// operations of kind `k % 5` until its runtime unwinds it (coroutines) or
/// `stop` is set (threads).
fn traffic(
    k: usize,
    chans: &[(Sender<Token>, Receiver<Token>)],
    made: &AtomicUsize,
    drops: &Arc<AtomicUsize>,
    stop: &std::sync::atomic::AtomicBool,
) {
    let short = Duration::from_micros(300);
    let mut i = 0;
    let token = |i: u64| {
        made.fetch_add(1, Ordering::SeqCst);
        Token::new(i, drops)
    };
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let (tx, rx) = &chans[(k + i as usize) % chans.len()];
        let (tx2, rx2) = &chans[(k + i as usize + 1) % chans.len()];
        match k % 5 {
            0 => drop(tx.send_timeout(token(i), short)),
            1 => drop(rx.recv_timeout(short)),
            2 => drop(select(vec![(tx, token(i))], &[rx2], Wait::Timeout(short))),
            3 => drop(select(vec![(tx2, token(i))], &[rx], Wait::Block)),
            _ => {
                drop(tx.try_send(token(i)));
                drop(rx.try_recv());
                yield_any();
            }
        }
    }
}

/// Runtimes dropped in the middle of heavy traffic: coroutines blocked,
/// timing out, selecting, and being completed by plain threads at the
/// moment they are unwound. Nothing may crash or hang, and every message
/// ever made is dropped exactly once (none leaks in a dead hook, none is
/// dropped twice). Runs in a child process: a use-after-free would crash.
#[test]
fn drop_runtime_mid_traffic() {
    chan_common::in_child_process("drop_runtime_mid_traffic", WATCHDOG, || {
        let mut rng = Rng::new(17);
        for round in 0..60usize {
            let workers = chan_common::WORKER_COUNTS[round % 2];
            let made = Arc::new(AtomicUsize::new(0));
            let drops = Arc::new(AtomicUsize::new(0));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let chans: Arc<Vec<(Sender<Token>, Receiver<Token>)>> =
                Arc::new(vec![bounded(0), bounded(1), unbounded(), bounded(0)]);
            let rt = chan_common::runtime(workers);
            for k in 0..20 {
                let (chans, made, drops, stop) = (
                    Arc::clone(&chans),
                    Arc::clone(&made),
                    Arc::clone(&drops),
                    Arc::clone(&stop),
                );
                rt.spawn(move || traffic(k, &chans, &made, &drops, &stop));
            }
            let threads: Vec<_> = (0..3)
                .map(|k| {
                    let (chans, made, drops, stop) = (
                        Arc::clone(&chans),
                        Arc::clone(&made),
                        Arc::clone(&drops),
                        Arc::clone(&stop),
                    );
                    // Kinds 0, 1 and 2 only: a thread must not block for
                    // good once the coroutines are gone.
                    thread::spawn(move || traffic(k, &chans, &made, &drops, &stop))
                })
                .collect();
            thread::sleep(Duration::from_micros(rng.below(4_000)));
            drop(rt);
            stop.store(true, Ordering::SeqCst);
            for t in threads {
                t.join().unwrap();
            }
            drop(chans);
            assert_eq!(
                drops.load(Ordering::SeqCst),
                made.load(Ordering::SeqCst),
                "round {round}: messages made and dropped differ"
            );
        }
    });
}
