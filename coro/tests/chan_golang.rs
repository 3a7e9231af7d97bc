//! Go's channel semantics, ported from the Go runtime's `chan_test.go` the
//! way crossbeam-channel's `tests/golang.rs` ported them: blocking and
//! non-blocking sends and receives on buffered and unbuffered channels,
//! close (here: dropping every sender or every receiver), the races Go's
//! tests pin down (`TestNonblockRecvRace`, `TestNonblockSelectRace`,
//! `TestSelfSelect`, `TestSelectDuplicateChannel`), select fairness
//! (`TestSelectFairness`, `TestPseudoRandomSend`), and stress
//! (`TestSelectStress`, `TestMultiConsumer`).
//!
//! Where Go closes a channel, these tests drop the last `Sender`; where Go
//! relies on receiving the zero value from a closed channel, these expect
//! `Err(RecvError)`. A Go `nil` channel in a select (an arm that can never
//! fire) is an operation not added to the `Select`. Most selects go through
//! the `Select` builder (`chan_common::select`, which runs one exactly as a
//! `select!` with those arms would); the `*_macro` tests repeat the
//! fairness and self-select cases with the `select!` macro itself.
//!
//! Sleeps here only give a blocked operation time to block; assertions
//! never depend on how long anything took, except that a timeout waited at
//! least its duration.

mod chan_common;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chan_common::{rt_test, select, select_recv, settle, watchdog, with_runtime, Done, Seen, Wait};
use coro::chan::{
    bounded, unbounded, Receiver, RecvError, RecvTimeoutError, Select, SendError, SendTimeoutError,
    Sender, TryRecvError, TrySendError,
};

/// Capacities `go_chan` runs with: Go runs 0..200; every small one plus a
/// few large ones cover the same ground in debug builds.
const GO_CHAN_CAPS: [usize; 12] = [0, 1, 2, 3, 4, 5, 7, 8, 16, 33, 100, 199];

/// Go's `TestChan`, one capacity: the four behaviours of a channel of that
/// capacity, and len/cap. Runs as a coroutine.
fn go_chan_with_cap(cap: usize) {
    // A receive from an empty channel blocks; a non-blocking one does not.
    {
        let (tx, rx) = bounded::<i32>(cap);
        let got = Arc::new(AtomicU64::new(0));
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let (rx, got) = (rx.clone(), Arc::clone(&got));
                coro::spawn(move || {
                    let v = rx.recv();
                    got.fetch_add(1, Ordering::SeqCst);
                    v
                })
            })
            .collect();
        settle();
        assert_eq!(
            got.load(Ordering::SeqCst),
            0,
            "cap {cap}: a receive from an empty channel returned"
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "cap {cap}");
        assert_eq!(select_recv(&[&rx], Wait::Try), None, "cap {cap}");
        tx.send(0).unwrap();
        tx.send(0).unwrap();
        for h in receivers {
            assert_eq!(h.join().unwrap(), Ok(0), "cap {cap}");
        }
    }

    // A send to a full channel (any send, for cap 0) blocks until a
    // receive; a non-blocking one does not.
    {
        let (tx, rx) = bounded::<usize>(cap);
        for i in 0..cap {
            tx.send(i).unwrap();
        }
        assert_eq!(tx.len(), cap);
        let sent = Arc::new(AtomicBool::new(false));
        let sender = {
            let (tx, sent) = (tx.clone(), Arc::clone(&sent));
            coro::spawn(move || {
                tx.send(1000).unwrap();
                sent.store(true, Ordering::SeqCst);
            })
        };
        settle();
        assert!(
            !sent.load(Ordering::SeqCst),
            "cap {cap}: a send to a full channel returned"
        );
        assert_eq!(tx.try_send(7), Err(TrySendError::Full(7)), "cap {cap}");
        assert_eq!(
            select(vec![(&tx, 8)], &[], Wait::Try),
            (None, vec![8]),
            "cap {cap}"
        );
        // The first receive unblocks the sender (for cap 0 it takes its
        // message); FIFO order holds across the move into the buffer.
        let first = rx.recv().unwrap();
        sender.join().unwrap();
        assert!(sent.load(Ordering::SeqCst));
        let rest: Vec<usize> = rx.try_iter().collect();
        let mut all = vec![first];
        all.extend(rest);
        let want: Vec<usize> = (0..cap).chain([1000]).collect();
        assert_eq!(all, want, "cap {cap}: FIFO order");
    }

    // After the senders are gone, receives drain the buffer in order,
    // then fail, again and again.
    {
        let (tx, rx) = bounded::<usize>(cap);
        for i in 0..cap {
            tx.send(i).unwrap();
        }
        drop(tx);
        for i in 0..cap {
            assert_eq!(rx.recv(), Ok(i), "cap {cap}");
        }
        assert_eq!(rx.recv(), Err(RecvError), "cap {cap}");
        assert_eq!(rx.recv(), Err(RecvError), "cap {cap}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "cap {cap}");
    }

    // Dropping the senders unblocks a blocked receive, with an error.
    {
        let (tx, rx) = bounded::<usize>(cap);
        let h = coro::spawn(move || rx.recv());
        settle();
        drop(tx);
        assert_eq!(h.join().unwrap(), Err(RecvError), "cap {cap}");
    }

    // Dropping the receivers unblocks a blocked send, which gets its
    // message back.
    {
        let (tx, rx) = bounded::<usize>(cap);
        for i in 0..cap {
            tx.send(i).unwrap();
        }
        let h = coro::spawn(move || tx.send(4242));
        settle();
        drop(rx);
        assert_eq!(h.join().unwrap(), Err(SendError(4242)), "cap {cap}");
    }

    // 100 messages arrive intact and in order.
    {
        let (tx, rx) = bounded::<usize>(cap);
        let h = coro::spawn(move || {
            for i in 0..100 {
                tx.send(i).unwrap();
            }
        });
        for i in 0..100 {
            assert_eq!(rx.recv(), Ok(i), "cap {cap}: FIFO");
        }
        h.join().unwrap();
        assert_eq!(rx.recv(), Err(RecvError));
    }

    // 4 senders and 4 receivers of 1000 messages each: every value is
    // received exactly as often as it was sent.
    {
        const P: usize = 4;
        const L: usize = 1000;
        let (tx, rx) = bounded::<usize>(cap);
        for _ in 0..P {
            let tx = tx.clone();
            coro::spawn(move || {
                for i in 0..L {
                    tx.send(i).unwrap();
                }
            });
        }
        let receivers: Vec<_> = (0..P)
            .map(|_| {
                let rx = rx.clone();
                coro::spawn(move || {
                    let mut got = HashMap::new();
                    for _ in 0..L {
                        *got.entry(rx.recv().unwrap()).or_insert(0usize) += 1;
                    }
                    got
                })
            })
            .collect();
        let mut total: HashMap<usize, usize> = HashMap::new();
        for h in receivers {
            for (k, n) in h.join().unwrap() {
                *total.entry(k).or_default() += n;
            }
        }
        assert_eq!(total.len(), L, "cap {cap}");
        assert!(total.values().all(|&n| n == P), "cap {cap}: {total:?}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    // len and capacity.
    {
        let (tx, rx) = bounded::<usize>(cap);
        assert_eq!((tx.len(), tx.capacity()), (0, Some(cap)));
        assert_eq!((rx.len(), rx.capacity()), (0, Some(cap)));
        for i in 0..cap {
            tx.send(i).unwrap();
        }
        assert_eq!((tx.len(), tx.capacity()), (cap, Some(cap)));
        assert_eq!((rx.len(), rx.capacity()), (cap, Some(cap)));
        assert!(tx.is_full() && rx.is_full());
    }
}

rt_test! {
    /// Go's `TestChan` over a range of capacities.
    fn go_chan(rt) {
        rt.block_on(|| {
            for cap in GO_CHAN_CAPS {
                go_chan_with_cap(cap);
            }
        });
    }
}

rt_test! {
    /// `go_chan`'s blocking checks with plain threads on both sides of
    /// coroutines: a thread blocked in `recv` and `send`, woken by a
    /// coroutine, and the other way round.
    fn go_chan_threads_and_coroutines(rt) {
        for cap in [0, 1, 5] {
            let (tx, rx) = bounded::<usize>(cap);
            // A thread receives what a coroutine sends.
            let t = {
                let rx = rx.clone();
                thread::spawn(move || (0..100).map(|_| rx.recv().unwrap()).collect::<Vec<_>>())
            };
            rt.block_on(|| {
                for i in 0..100 {
                    tx.send(i).unwrap();
                }
            });
            assert_eq!(t.join().unwrap(), (0..100).collect::<Vec<_>>(), "cap {cap}");
            // A coroutine receives what a thread sends.
            let t = {
                let tx = tx.clone();
                thread::spawn(move || {
                    for i in 0..100 {
                        tx.send(i).unwrap();
                    }
                })
            };
            let got = rt.block_on(|| (0..100).map(|_| rx.recv().unwrap()).collect::<Vec<_>>());
            t.join().unwrap();
            assert_eq!(got, (0..100).collect::<Vec<_>>(), "cap {cap}");
            // A thread blocked on a full channel gets its message back when
            // the last receiver, a coroutine's, goes.
            for i in 0..cap {
                tx.send(i).unwrap();
            }
            let t = thread::spawn(move || tx.send(99));
            rt.block_on(move || {
                settle();
                drop(rx);
            });
            assert_eq!(t.join().unwrap(), Err(SendError(99)), "cap {cap}");
        }
    }
}

/// Go's close semantics for every flavour: after the receivers are gone,
/// every kind of send fails and hands the message back; after the senders
/// are gone, every kind of receive drains the buffer, then fails.
#[test]
fn go_close_semantics() {
    type Make = fn() -> (Sender<u32>, Receiver<u32>);
    let flavours: [(&str, Make); 3] = [
        ("bounded(0)", || bounded(0)),
        ("bounded(3)", || bounded(3)),
        ("unbounded", unbounded),
    ];
    for (name, make) in flavours {
        let (tx, rx) = make();
        drop(rx);
        assert_eq!(tx.send(1), Err(SendError(1)), "{name}");
        assert_eq!(tx.try_send(2), Err(TrySendError::Disconnected(2)), "{name}");
        assert_eq!(
            tx.send_timeout(3, Duration::from_secs(10)),
            Err(SendTimeoutError::Disconnected(3)),
            "{name}"
        );
        assert_eq!(
            tx.send_deadline(4, Instant::now() + Duration::from_secs(10)),
            Err(SendTimeoutError::Disconnected(4)),
            "{name}"
        );
        assert_eq!(
            select(vec![(&tx, 5)], &[], Wait::Block),
            (Some(Done::Sent(0, Err(SendError(5)))), vec![]),
            "{name}"
        );
        let mut sel = Select::new();
        let h = sel.add_send(&tx, 6);
        assert_eq!(sel.wait(), h.index());
        assert_eq!(sel.send_result(h), Err(SendError(6)), "{name}");

        let (tx, rx) = make();
        let buffered = rx.capacity().map_or(3, |c| c.min(3)) as u32;
        for i in 0..buffered {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert!(rx.is_disconnected(), "{name}");
        for i in 0..buffered {
            // Every kind of receive still gets the buffered messages first.
            let v = match i % 3 {
                0 => rx.recv().unwrap(),
                1 => rx.try_recv().unwrap(),
                _ => rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            };
            assert_eq!(v, i, "{name}");
        }
        assert_eq!(rx.recv(), Err(RecvError), "{name}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "{name}");
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected),
            "{name}"
        );
        assert_eq!(
            rx.recv_deadline(Instant::now() + Duration::from_secs(10)),
            Err(RecvTimeoutError::Disconnected),
            "{name}"
        );
        assert_eq!(
            select_recv(&[&rx], Wait::Block),
            Some((0, Err(RecvError))),
            "{name}"
        );
        assert_eq!(rx.iter().count(), 0, "{name}");
    }
}

rt_test! {
    /// Go's `TestNonblockRecvRace`: a channel holding one message is
    /// closed while a coroutine receives without blocking. The channel is
    /// ready either way (a message, or closed), so the receive must never
    /// report it empty.
    fn go_nonblock_recv_race(rt) {
        const ROUNDS: usize = 2_000;
        rt.block_on(|| {
            for i in 0..ROUNDS {
                let (tx, rx) = bounded::<u32>(1);
                tx.send(1).unwrap();
                let rx2 = rx.clone();
                let h = coro::spawn(move || {
                    if i % 2 == 0 {
                        match rx2.try_recv() {
                            Ok(1) | Err(TryRecvError::Disconnected) => Ok(()),
                            other => Err(format!("try_recv: {other:?}")),
                        }
                    } else {
                        match select_recv(&[&rx2], Wait::Try) {
                            Some((0, Ok(1) | Err(RecvError))) => Ok(()),
                            other => Err(format!("select: {other:?}")),
                        }
                    }
                });
                if i % 3 == 0 {
                    coro::yield_now();
                }
                drop(tx);
                let _ = rx.recv();
                if let Err(e) = h.join().unwrap() {
                    panic!("round {i}: {e}");
                }
            }
        });
    }
}

rt_test! {
    /// Go's `TestNonblockSelectRace` and `TestNonblockSelectRace2`: one of
    /// two channels is always ready while a coroutine selects over both
    /// without blocking (the other side fills the second before draining
    /// the first, or closes it). A select that locks and checks its
    /// channels one at a time can see neither ready.
    fn go_nonblock_select_race(rt) {
        const ROUNDS: usize = 2_000;
        rt.block_on(|| {
            for i in 0..ROUNDS {
                let (c1_tx, c1_rx) = bounded::<u32>(1);
                let (c2_tx, c2_rx) = bounded::<u32>(1);
                c1_tx.send(1).unwrap();
                let (r1, r2) = (c1_rx.clone(), c2_rx.clone());
                let h = coro::spawn(move || select_recv(&[&r1, &r2], Wait::Try).is_some());
                if i % 3 == 0 {
                    coro::yield_now();
                }
                if i % 2 == 0 {
                    c2_tx.send(1).unwrap();
                } else {
                    drop(c2_tx);
                }
                let _ = select_recv(&[&c1_rx], Wait::Try);
                assert!(h.join().unwrap(), "round {i}: no channel was ready");
            }
        });
    }
}

rt_test! {
    /// Go's `TestSelfSelect`: two coroutines loop on a select that both
    /// sends and receives on the same channel. Neither may deadlock, and
    /// on an unbuffered channel no select may receive its own message.
    fn go_self_select(rt) {
        const ITERS: u32 = 1_000;
        rt.block_on(|| {
            for cap in [0, 10] {
                let (tx, rx) = bounded::<u32>(cap);
                let hs: Vec<_> = (0..2u32)
                    .map(|p| {
                        let (tx, rx) = (tx.clone(), rx.clone());
                        coro::spawn(move || {
                            for _ in 0..ITERS {
                                match select(vec![(&tx, p)], &[&rx], Wait::Block).0 {
                                    Some(Done::Sent(_, r)) => r.unwrap(),
                                    Some(Done::Received(_, v)) => {
                                        if cap == 0 && v == Ok(p) {
                                            panic!("coroutine {p} received its own message");
                                        }
                                    }
                                    None => unreachable!(),
                                }
                            }
                        })
                    })
                    .collect();
                for h in hs {
                    h.join().unwrap();
                }
            }
        });
    }
}

/// A lone select that sends and receives on one unbuffered channel has no
/// partner: it must time out, and leave nothing behind (no message, no
/// waiting operation).
#[test]
fn go_self_select_alone_times_out() {
    fn alone() {
        let (tx, rx) = bounded::<u32>(0);
        let wait = Duration::from_millis(20);
        let start = Instant::now();
        let got = select(vec![(&tx, 1)], &[&rx], Wait::Timeout(wait));
        assert_eq!(
            got,
            (None, vec![1]),
            "a lone select communicated with itself"
        );
        assert!(start.elapsed() >= wait);
        assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }
    watchdog("go_self_select_alone_times_out", || {
        alone();
        let rt = chan_common::runtime(1);
        rt.block_on(alone);
    });
}

/// Number of selects in the fairness tests (Go's `TestSelectFairness`).
const FAIRNESS_TRIALS: u32 = 10_000;

/// Fails if `hits` out of [`FAIRNESS_TRIALS`] is more than five standard
/// deviations from half. For a fair choice that happens with probability
/// about 6e-7 (Go's test allows four, about 6e-5).
fn assert_fair(what: &str, hits: u32) {
    let trials = f64::from(FAIRNESS_TRIALS);
    let ratio = f64::from(hits) / trials;
    let sigma = (0.25 / trials).sqrt();
    assert!(
        (ratio - 0.5).abs() <= 5.0 * sigma,
        "{what}: the first channel won {hits} of {FAIRNESS_TRIALS} selects ({:.1}%); a fair \
         choice wins 50% +- {:.1}%",
        ratio * 100.0,
        5.0 * sigma * 100.0
    );
}

/// Two full channels, one select over both: each must win about half.
fn two_ready_fairness() {
    let n = FAIRNESS_TRIALS as usize + 1;
    let (tx1, rx1) = bounded::<u8>(n);
    let (tx2, rx2) = bounded::<u8>(n);
    for _ in 0..n {
        tx1.send(1).unwrap();
        tx2.send(2).unwrap();
    }
    let mut ones = 0;
    for _ in 0..FAIRNESS_TRIALS {
        let mut sel = Select::new();
        let a = sel.add_recv(&rx1);
        let b = sel.add_recv(&rx2);
        let i = sel.wait();
        if i == a.index() {
            sel.recv_result(a).unwrap();
            ones += 1;
        } else {
            sel.recv_result(b).unwrap();
        }
    }
    assert_fair("Select over two ready channels", ones);
}

/// Go's `TestSelectFairness` with two ready channels, from a thread and
/// from a coroutine.
#[test]
fn go_select_fairness_two_ready() {
    watchdog("go_select_fairness_two_ready", || {
        two_ready_fairness();
        chan_common::runtime(1).block_on(two_ready_fairness);
    });
}

/// Go's `TestSelectFairness` as Go writes it: the select also waits on
/// two channels that are never ready, listed before the two ready ones.
/// Each ready channel must still win about half.
///
/// A select that tries its operations in order from a random *start*
/// (rather than in a random *permutation*, as Go's `pollorder`) fails this:
/// the first ready arm after a run of idle ones wins whenever the start
/// falls in that run, here 3 times in 4.
#[test]
fn go_select_fairness() {
    watchdog("go_select_fairness", || {
        let n = FAIRNESS_TRIALS as usize + 1;
        let (tx1, rx1) = bounded::<u8>(n);
        let (tx2, rx2) = bounded::<u8>(n);
        for _ in 0..n {
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
        }
        let (_tx3, rx3) = bounded::<u8>(0);
        let (_tx4, rx4) = bounded::<u8>(0);
        let mut ones = 0;
        for _ in 0..FAIRNESS_TRIALS {
            let (_, v) = select_recv(&[&rx3, &rx4, &rx1, &rx2], Wait::Block).unwrap();
            ones += u32::from(v == Ok(1));
        }
        assert_fair("a select over two idle and two ready channels", ones);
    });
}

rt_test! {
    /// Go's `TestPseudoRandomSend`: a select of two sends on one channel
    /// must choose either about equally often, unbuffered (each send meets
    /// a waiting receiver) and buffered.
    fn go_pseudo_random_send(rt) {
        const N: usize = 100;
        rt.block_on(|| {
            for cap in [0, N] {
                let (tx, rx) = bounded::<u8>(cap);
                let reader = coro::spawn(move || {
                    (0..N)
                        .map(|_| {
                            coro::yield_now();
                            rx.recv().unwrap()
                        })
                        .collect::<Vec<u8>>()
                });
                for _ in 0..N {
                    match select(vec![(&tx, 1), (&tx, 0)], &[], Wait::Block).0 {
                        Some(Done::Sent(_, r)) => r.unwrap(),
                        other => panic!("{other:?}"),
                    }
                }
                let got = reader.join().unwrap();
                let ones = got.iter().filter(|&&b| b == 1).count();
                let zeros = N - ones;
                // Binomial(100, 1/2) is at most 10 with probability ~1.5e-17.
                assert!(
                    zeros > N / 10 && ones > N / 10,
                    "cap {cap}: want a pseudo-random choice, got {zeros} zeros and {ones} ones"
                );
            }
        });
    }
}

/// Message id of message `i` of source `src` in the select stress test.
fn stress_id(src: u64, i: u64, n: u64) -> u64 {
    src * n + i
}

rt_test! {
    /// Go's `TestSelectStress`: on each of four channels (two unbuffered,
    /// capacities 2 and 3) one coroutine sends N messages and one receives
    /// N; one more coroutine sends N on every channel through one select,
    /// and one receives N from every channel through one select. An arm
    /// whose quota is done leaves the select (Go sets the channel to nil).
    /// Nothing may deadlock, and every message arrives exactly once.
    fn go_select_stress(rt) {
        const N: u64 = 2_000;
        const CHANS: usize = 4;
        // Sources: 0..4 are the plain senders, 4..8 the select sender's
        // quota per channel.
        let seen = Arc::new(Seen::new(2 * CHANS as u64 * N));
        rt.block_on(|| {
            let (txs, rxs): (Vec<Sender<u64>>, Vec<Receiver<u64>>) =
                [0, 0, 2, 3].into_iter().map(bounded::<u64>).unzip();
            let mut hs = Vec::new();
            for k in 0..CHANS {
                let tx = txs[k].clone();
                hs.push(coro::spawn(move || {
                    for i in 0..N {
                        tx.send(stress_id(k as u64, i, N)).unwrap();
                    }
                }));
                let (rx, seen) = (rxs[k].clone(), Arc::clone(&seen));
                hs.push(coro::spawn(move || {
                    for _ in 0..N {
                        assert!(seen.mark(rx.recv().unwrap()));
                    }
                }));
            }
            {
                let txs = txs.clone();
                hs.push(coro::spawn(move || {
                    let mut sent = [0u64; CHANS];
                    for _ in 0..CHANS as u64 * N {
                        let mut sel = Select::new();
                        let mut handles = Vec::new();
                        for k in 0..CHANS {
                            if sent[k] < N {
                                let id = stress_id((CHANS + k) as u64, sent[k], N);
                                handles.push((k, sel.add_send(&txs[k], id)));
                            }
                        }
                        let index = sel.wait();
                        for (k, h) in handles {
                            if h.index() == index {
                                sel.send_result(h).unwrap();
                                sent[k] += 1;
                            }
                        }
                    }
                    assert_eq!(sent, [N; CHANS]);
                }));
            }
            {
                let (rxs, seen) = (rxs.clone(), Arc::clone(&seen));
                hs.push(coro::spawn(move || {
                    let mut got = [0u64; CHANS];
                    for _ in 0..CHANS as u64 * N {
                        let mut sel = Select::new();
                        let mut handles = Vec::new();
                        for k in 0..CHANS {
                            if got[k] < N {
                                handles.push((k, sel.add_recv(&rxs[k])));
                            }
                        }
                        let index = sel.wait();
                        for (k, h) in handles {
                            if h.index() == index {
                                assert!(seen.mark(sel.recv_result(h).unwrap()));
                                got[k] += 1;
                            }
                        }
                    }
                    assert_eq!(got, [N; CHANS]);
                }));
            }
            for h in hs {
                h.join().unwrap();
            }
            for rx in &rxs {
                assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
            }
        });
        seen.assert_complete("select stress");
    }
}

/// Go's `TestChanSendInterface`: messages of a boxed trait-object type, a
/// full channel refusing them in a select with a `default`, and the refused
/// boxes coming back to the sender intact.
#[test]
fn go_chan_send_interface() {
    struct Mt(u32);
    let (tx, rx) = bounded::<Box<dyn Any + Send>>(1);
    tx.send(Box::new(Mt(1))).unwrap();
    type Msg = Box<dyn Any + Send>;
    let (done, back) = select(vec![(&tx, Box::new(Mt(2)) as Msg)], &[], Wait::Try);
    assert!(done.is_none(), "sent to a full channel");
    assert_eq!(back[0].downcast_ref::<Mt>().map(|m| m.0), Some(2));
    let (done, back) = select(
        vec![(&tx, Box::new(Mt(3)) as Msg), (&tx, Box::new(7u64) as Msg)],
        &[],
        Wait::Try,
    );
    assert!(done.is_none(), "sent to a full channel");
    assert_eq!(back[0].downcast_ref::<Mt>().map(|m| m.0), Some(3));
    assert_eq!(back[1].downcast_ref::<u64>(), Some(&7));
    let mut sel = Select::new();
    let a = sel.add_send(&tx, Box::new(Mt(4)) as Box<dyn Any + Send>);
    let b = sel.add_send(&tx, Box::new("five") as Box<dyn Any + Send>);
    assert_eq!(sel.try_wait(), None);
    let back_a = sel.send_result(a).unwrap_err().into_inner();
    let back_b = sel.send_result(b).unwrap_err().into_inner();
    assert_eq!(back_a.downcast_ref::<Mt>().map(|m| m.0), Some(4));
    assert_eq!(back_b.downcast_ref::<&str>(), Some(&"five"));
    assert_eq!(rx.len(), 1);
    let got = rx.recv().unwrap();
    assert_eq!(got.downcast_ref::<Mt>().map(|m| m.0), Some(1));
    assert_eq!(rx.try_recv().map(|_| ()), Err(TryRecvError::Empty));
}

rt_test! {
    /// Go's `TestMultiConsumer`: one feeder, 23 workers that forward what
    /// they receive (some yielding first, to disturb the order), one
    /// consumer; the count and sum of what arrives must match what was fed.
    fn go_multi_consumer(rt) {
        const NWORK: usize = 23;
        // Go uses 271828; a tenth keeps debug builds quick.
        const NITER: usize = 27_183;
        const PN: [u64; 10] = [2, 3, 7, 11, 13, 17, 19, 23, 27, 31];
        rt.block_on(|| {
            let (q_tx, q_rx) = bounded::<u64>(NWORK * 3);
            let (r_tx, r_rx) = bounded::<u64>(NWORK * 3);
            let workers: Vec<_> = (0..NWORK)
                .map(|w| {
                    let (q_rx, r_tx) = (q_rx.clone(), r_tx.clone());
                    coro::spawn(move || {
                        for v in &q_rx {
                            if PN[w % PN.len()] == v {
                                coro::yield_now();
                            }
                            r_tx.send(v).unwrap();
                        }
                    })
                })
                .collect();
            drop((q_rx, r_tx));
            let feeder = coro::spawn(move || {
                let mut expect = 0;
                for i in 0..NITER {
                    let v = PN[i % PN.len()];
                    expect += v;
                    q_tx.send(v).unwrap();
                }
                drop(q_tx);
                for w in workers {
                    w.join().unwrap();
                }
                expect
            });
            let (mut n, mut sum) = (0, 0);
            for v in r_rx {
                n += 1;
                sum += v;
            }
            let expect = feeder.join().unwrap();
            assert_eq!((n, sum), (NITER, expect));
        });
    }
}

rt_test! {
    /// Go's `TestSelectDuplicateChannel`: a select with the same channel
    /// twice, woken through a third, must take both its waits off the
    /// duplicated channel, so that a later send there reaches the
    /// coroutine still waiting on it (in Go this used to corrupt the
    /// channel's wait queue).
    fn go_select_duplicate_channel(rt) {
        rt.block_on(|| {
            let (c_tx, c_rx) = bounded::<u32>(0);
            let (d_tx, d_rx) = bounded::<u32>(0);
            let (e_tx, e_rx) = bounded::<u32>(0);
            let a = {
                let c_rx = c_rx.clone();
                coro::spawn(move || {
                    let got = match select_recv(&[&c_rx, &c_rx, &d_rx], Wait::Block) {
                        Some((0 | 1, v)) => ('c', v),
                        Some((_, v)) => ('d', v),
                        None => unreachable!(),
                    };
                    e_tx.send(9).unwrap();
                    got
                })
            };
            settle(); // A waits on c first.
            let b = coro::spawn(move || c_rx.recv());
            settle(); // B waits on c behind A.
            d_tx.send(7).unwrap();
            assert_eq!(e_rx.recv(), Ok(9));
            assert_eq!(a.join().unwrap(), ('d', Ok(7)));
            c_tx.send(8).unwrap();
            assert_eq!(b.join().unwrap(), Ok(8));
        });
    }
}

rt_test! {
    /// Receiving with a timeout from an empty channel times out, after at
    /// least the timeout, in a coroutine; so do a select's `default(d)` and
    /// `Select::wait_timeout`.
    fn go_recv_timeout(rt) {
        let wait = Duration::from_millis(15);
        rt.block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let start = Instant::now();
            assert_eq!(rx.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
            assert!(start.elapsed() >= wait);

            let start = Instant::now();
            assert_eq!(rx.recv_deadline(start + wait), Err(RecvTimeoutError::Timeout));
            assert!(start.elapsed() >= wait);

            let start = Instant::now();
            assert_eq!(select_recv(&[&rx, &rx], Wait::Timeout(wait)), None);
            assert!(start.elapsed() >= wait);

            let start = Instant::now();
            let mut sel = Select::new();
            let _h = sel.add_recv(&rx);
            assert_eq!(sel.wait_timeout(wait), None);
            assert!(start.elapsed() >= wait);

            // Nothing was left behind: a sender finds no receiver.
            assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        });
    }
}

/// The same timeouts on a plain thread.
#[test]
fn go_recv_timeout_thread() {
    watchdog("go_recv_timeout_thread", || {
        let wait = Duration::from_millis(15);
        let (tx, rx) = unbounded::<u32>();
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(wait), Err(RecvTimeoutError::Timeout));
        assert!(start.elapsed() >= wait);
        let start = Instant::now();
        assert_eq!(select_recv(&[&rx], Wait::Timeout(wait)), None);
        assert!(start.elapsed() >= wait);
        // A message that is there is taken at once, timeout or not.
        tx.send(5).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(5));
    });
}

rt_test! {
    /// A send with a timeout on a full channel (any send, unbuffered) times
    /// out after at least the timeout and hands the message back; the
    /// channel is unchanged.
    fn go_send_timeout(rt) {
        let wait = Duration::from_millis(15);
        rt.block_on(|| {
            let (tx, rx) = bounded::<String>(1);
            tx.send("first".to_owned()).unwrap();
            let start = Instant::now();
            let e = tx.send_timeout("second".to_owned(), wait).unwrap_err();
            assert!(start.elapsed() >= wait);
            assert!(e.is_timeout());
            assert_eq!(e, SendTimeoutError::Timeout("second".to_owned()));
            let start = Instant::now();
            assert_eq!(
                tx.send_deadline("third".to_owned(), start + wait),
                Err(SendTimeoutError::Timeout("third".to_owned()))
            );
            assert!(start.elapsed() >= wait);
            assert_eq!(rx.len(), 1);
            assert_eq!(rx.recv().unwrap(), "first");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

            let (tx, rx) = bounded::<String>(0);
            let start = Instant::now();
            assert_eq!(
                tx.send_timeout("lonely".to_owned(), wait),
                Err(SendTimeoutError::Timeout("lonely".to_owned()))
            );
            assert!(start.elapsed() >= wait);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));

            // A select's send that times out hands its message back too.
            let mut sel = Select::new();
            let h = sel.add_send(&tx, "selected?".to_owned());
            assert_eq!(sel.wait_timeout(wait), None);
            assert_eq!(sel.send_result(h), Err(SendError("selected?".to_owned())));
        });
    }
}

/// The same send timeout on a plain thread, and a zero timeout.
#[test]
fn go_send_timeout_thread() {
    watchdog("go_send_timeout_thread", || {
        let wait = Duration::from_millis(15);
        let (tx, rx) = bounded::<u32>(0);
        let start = Instant::now();
        assert_eq!(tx.send_timeout(1, wait), Err(SendTimeoutError::Timeout(1)));
        assert!(start.elapsed() >= wait);
        assert_eq!(
            tx.send_timeout(2, Duration::ZERO),
            Err(SendTimeoutError::Timeout(2))
        );
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// An unbuffered send returns only once a receiver has taken its message
/// (a rendezvous, Go's unbuffered channel), here with two workers and the
/// receiver detached on the runtime.
#[test]
fn go_unbuffered_rendezvous() {
    with_runtime("go_unbuffered_rendezvous", 2, |rt| {
        let (tx, rx) = bounded::<u32>(0);
        let received = Arc::new(AtomicU64::new(0));
        let r = {
            let received = Arc::clone(&received);
            rt.spawn(move || {
                for v in rx {
                    received.fetch_add(u64::from(v), Ordering::SeqCst);
                }
            })
        };
        rt.block_on(|| {
            for i in 1..=200u32 {
                tx.send(i).unwrap();
                // The send returned, so the receiver took message i; it may
                // not have counted it yet, but it has every earlier one.
                let before: u64 = (1..i as u64).sum();
                assert!(received.load(Ordering::SeqCst) >= before);
            }
        });
        drop(tx);
        r.join().unwrap();
        assert_eq!(received.load(Ordering::SeqCst), (1..=200u64).sum::<u64>());
    });
}

/// `go_select_fairness` written with the `select!` macro: its arms are
/// chosen as fairly as the builder's operations.
#[test]
fn go_select_fairness_macro() {
    watchdog("go_select_fairness_macro", || {
        let n = FAIRNESS_TRIALS as usize + 1;
        let (tx1, rx1) = bounded::<u8>(n);
        let (tx2, rx2) = bounded::<u8>(n);
        for _ in 0..n {
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
        }
        let (_tx3, rx3) = bounded::<u8>(0);
        let (_tx4, rx4) = bounded::<u8>(0);
        let mut ones = 0;
        for _ in 0..FAIRNESS_TRIALS {
            let b = coro::select! {
                recv(rx3) -> v => v.unwrap(),
                recv(rx4) -> v => v.unwrap(),
                recv(rx1) -> v => v.unwrap(),
                recv(rx2) -> v => v.unwrap(),
            };
            ones += u32::from(b == 1);
        }
        assert_fair("select! over two idle and two ready channels", ones);
    });
}

rt_test! {
    /// `go_self_select` written with the `select!` macro, both arm orders.
    fn go_self_select_macro(rt) {
        const ITERS: u32 = 1_000;
        rt.block_on(|| {
            let (tx, rx) = bounded::<u32>(0);
            let hs: Vec<_> = (0..2u32)
                .map(|p| {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    coro::spawn(move || {
                        for i in 0..ITERS {
                            let got = if p == 0 || i % 2 == 0 {
                                coro::select! {
                                    send(tx, p) -> r => { r.unwrap(); None }
                                    recv(rx) -> v => Some(v.unwrap()),
                                }
                            } else {
                                coro::select! {
                                    recv(rx) -> v => Some(v.unwrap()),
                                    send(tx, p) -> r => { r.unwrap(); None }
                                }
                            };
                            assert_ne!(got, Some(p), "coroutine {p} received its own message");
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
    }
}
