//! What crossbeam-channel's per-flavour suites (`tests/array.rs`,
//! `tests/list.rs`, `tests/zero.rs` there) check, in our own words, for
//! each of our flavours at once: `bounded(0)`, `bounded(1)`, `bounded(8)`
//! and `unbounded()`, including their long stress cases (one-shot
//! channels, `try_iter` polling, timeouts on both sides, linearizability,
//! fairness with duplicate operations, ends sent through channels) at
//! small counts. Each test runs on plain threads and inside
//! coroutines (one and four workers); the helpers it starts are threads or
//! coroutines to match.

mod chan_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chan_common::{both_test, go, settle, Token};
use coro::chan::{
    bounded, unbounded, Receiver, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender,
    TryRecvError, TrySendError,
};

const MS: Duration = Duration::from_millis(1);

/// The flavours: `None` is unbounded.
const CAPS: [Option<usize>; 4] = [Some(0), Some(1), Some(8), None];

fn chan<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
    match cap {
        Some(c) => bounded(c),
        None => unbounded(),
    }
}

#[test]
fn capacity_len_empty_full() {
    for cap in CAPS {
        let (s, r) = chan::<u32>(cap);
        assert_eq!(s.capacity(), cap);
        assert_eq!(r.capacity(), cap);
        assert_eq!((s.len(), s.is_empty()), (0, true));
        // Only a zero-capacity channel is full while empty.
        assert_eq!(s.is_full(), cap == Some(0));
        let fill = cap.unwrap_or(20);
        for i in 0..fill {
            s.try_send(i as u32).unwrap();
            assert_eq!(r.len(), i + 1);
        }
        assert!(!r.is_empty() || fill == 0);
        assert_eq!(r.is_full(), cap.is_some());
        for i in (0..fill).rev() {
            r.try_recv().unwrap();
            assert_eq!(s.len(), i);
        }
    }
}

#[test]
fn try_send_full_and_disconnected() {
    for cap in CAPS {
        let (s, r) = chan::<u32>(cap);
        if let Some(c) = cap {
            for i in 0..c {
                s.try_send(i as u32).unwrap();
            }
            assert_eq!(s.try_send(99), Err(TrySendError::Full(99)));
        }
        drop(r);
        assert_eq!(s.try_send(7), Err(TrySendError::Disconnected(7)));
        assert_eq!(s.send(8), Err(SendError(8)));
        assert_eq!(
            s.send_timeout(9, MS),
            Err(SendTimeoutError::Disconnected(9))
        );
    }
}

#[test]
fn messages_outlive_their_senders() {
    for cap in CAPS.into_iter().filter(|c| *c != Some(0)) {
        let (s, r) = chan::<u32>(cap);
        s.send(1).unwrap();
        s.send_timeout(2, MS).map_err(|_| ()).ok();
        drop(s);
        assert_eq!(r.try_recv(), Ok(1));
        if cap != Some(1) {
            assert_eq!(r.recv(), Ok(2));
        }
        assert_eq!(r.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(r.recv(), Err(RecvError));
        assert_eq!(r.recv_timeout(MS), Err(RecvTimeoutError::Disconnected));
        assert!(r.is_disconnected());
    }
}

#[test]
fn timeouts_expire() {
    for cap in CAPS {
        let (s, r) = chan::<u32>(cap);
        assert_eq!(r.recv_timeout(MS), Err(RecvTimeoutError::Timeout));
        if let Some(c) = cap {
            for i in 0..c {
                s.send(i as u32).unwrap();
            }
            assert_eq!(s.send_timeout(5, MS), Err(SendTimeoutError::Timeout(5)));
        }
    }
}

#[test]
fn same_channel() {
    let (s1, r1) = unbounded::<u32>();
    let (s2, r2) = unbounded::<u32>();
    assert!(s1.same_channel(&s1.clone()));
    assert!(!s1.same_channel(&s2));
    assert!(r1.same_channel(&r1.clone()));
    assert!(!r1.same_channel(&r2));
}

both_test! {
    /// A send and a receive meet, in each order, for every flavour.
    fn smoke() {
        for cap in CAPS {
            let (s, r) = chan::<u32>(cap);
            let peer = go(move || {
                assert_eq!(r.recv(), Ok(1));
                assert_eq!(r.recv_timeout(Duration::from_secs(30)), Ok(2));
                r
            });
            s.send(1).unwrap();
            s.send_timeout(2, Duration::from_secs(30)).unwrap();
            let r = peer.join();
            assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
        }
    }
}

both_test! {
    /// The last receiver going wakes a blocked sender (with its message
    /// back); the last sender going wakes a blocked receiver.
    fn disconnection_wakes_the_blocked() {
        for cap in CAPS {
            let (s, r) = chan::<u32>(cap);
            if let Some(c) = cap {
                for i in 0..c {
                    s.send(i as u32).unwrap();
                }
                let peer = go(move || s.send(77));
                settle();
                drop(r);
                assert_eq!(peer.join(), Err(SendError(77)));
            }
            let (s, r) = chan::<u32>(cap);
            let peer = go(move || r.recv());
            settle();
            drop(s);
            assert_eq!(peer.join(), Err(RecvError));
        }
    }
}

both_test! {
    /// Many senders and receivers: every message arrives exactly once.
    fn mpmc_sum() {
        const PER: u64 = 2_000;
        const SIDES: u64 = 4;
        for cap in CAPS {
            let (s, r) = chan::<u64>(cap);
            let total = Arc::new(AtomicUsize::new(0));
            let senders: Vec<_> = (0..SIDES)
                .map(|k| {
                    let s = s.clone();
                    go(move || {
                        for i in 0..PER {
                            s.send(k * PER + i).unwrap();
                        }
                    })
                })
                .collect();
            drop(s);
            let receivers: Vec<_> = (0..SIDES)
                .map(|_| {
                    let r = r.clone();
                    let total = Arc::clone(&total);
                    go(move || {
                        let mut sum = 0;
                        for v in r.iter() {
                            sum += v;
                            total.fetch_add(1, Ordering::Relaxed);
                        }
                        sum
                    })
                })
                .collect();
            drop(r);
            senders.into_iter().for_each(|t| t.join());
            let sum: u64 = receivers.into_iter().map(|t| t.join()).sum();
            let n = SIDES * PER;
            assert_eq!(total.load(Ordering::Relaxed) as u64, n, "cap {cap:?}");
            assert_eq!(sum, n * (n - 1) / 2, "cap {cap:?}");
        }
    }
}

both_test! {
    /// Every message is dropped exactly once: received ones by the
    /// receiver, the rest with the channel.
    fn drops_once() {
        for cap in CAPS {
            let drops = Arc::new(AtomicUsize::new(0));
            let (s, r) = chan::<Token>(cap);
            let sent = match cap {
                Some(0) => 0,
                Some(c) => c as u64,
                None => 50,
            };
            let peer = {
                let drops = Arc::clone(&drops);
                go(move || {
                    // Ten through a waiting receiver, then fill the buffer.
                    for i in 0..10 {
                        s.send(Token::new(i, &drops)).unwrap();
                    }
                    for i in 0..sent {
                        s.send(Token::new(100 + i, &drops)).unwrap();
                    }
                    s
                })
            };
            for i in 0..10 {
                assert_eq!(r.recv().unwrap().id, i);
            }
            let s = peer.join();
            assert_eq!(drops.load(Ordering::SeqCst), 10);
            drop(r);
            assert_eq!(drops.load(Ordering::SeqCst), 10 + sent as usize, "cap {cap:?}");
            drop(s);
        }
    }
}

both_test! {
    /// crossbeam's `recv_in_send`: a `select!` send arm whose message
    /// expression receives from the same channel runs that receive outside
    /// every channel lock.
    fn a_message_expression_may_use_the_channel() {
        let (s, _r) = bounded::<()>(1);
        s.send(()).unwrap();
        coro::select! {
            send(s, panic!("a full channel's message was made")) -> _ => panic!(),
            default => {}
        }
        let (s, r) = bounded::<()>(2);
        s.send(()).unwrap();
        coro::select! {
            send(s, assert_eq!(r.recv(), Ok(()))) -> res => res.unwrap(),
        }
        assert_eq!(r.try_recv(), Ok(()));
    }
}

both_test! {
    /// crossbeam's `stress_timeout_two_threads`: both sides retry with
    /// timeouts while the other is away now and then; order holds.
    fn timeouts_on_both_sides() {
        const COUNT: u32 = 20;
        for cap in [Some(0), Some(2), None] {
            let (s, r) = chan::<u32>(cap);
            let sender = go(move || {
                for i in 0..COUNT {
                    if i % 4 == 0 {
                        settle();
                    }
                    let mut msg = i;
                    loop {
                        match s.send_timeout(msg, MS) {
                            Ok(()) => break,
                            Err(SendTimeoutError::Timeout(m)) => msg = m,
                            Err(SendTimeoutError::Disconnected(_)) => panic!("receiver gone"),
                        }
                    }
                }
            });
            for i in 0..COUNT {
                if i % 4 == 2 {
                    settle();
                }
                loop {
                    match r.recv_timeout(MS) {
                        Ok(v) => {
                            assert_eq!(v, i);
                            break;
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => panic!("sender gone"),
                    }
                }
            }
            sender.join();
        }
    }
}

// ---------------------------------------------------------------------
// The long stress cases of the per-flavour suites, with counts kept small
// enough for debug builds on two cores.

/// Messages per stress case.
const STRESS: u32 = 2_000;

both_test! {
    /// One sender, one receiver: every message arrives, in order.
    fn spsc_in_order() {
        for cap in CAPS {
            let (s, r) = chan::<u32>(cap);
            let t = go(move || {
                for i in 0..STRESS {
                    s.send(i).unwrap();
                }
            });
            for i in 0..STRESS {
                assert_eq!(r.recv(), Ok(i), "{cap:?}");
            }
            assert_eq!(r.recv(), Err(RecvError), "{cap:?}");
            t.join();
        }
    }
}

both_test! {
    /// A fresh channel per round, one message, sent and received on two
    /// sides in both roles, and both ends dropped at once.
    fn stress_oneshot() {
        const ROUNDS: u32 = 300;
        for cap in CAPS {
            for i in 0..ROUNDS {
                let (s, r) = chan::<u32>(cap);
                let t = if i % 2 == 0 {
                    let t = go(move || r.recv());
                    s.send(i).unwrap();
                    t.join()
                } else {
                    let t = go(move || s.send(i).unwrap());
                    let got = r.recv();
                    t.join();
                    got
                };
                assert_eq!(t, Ok(i), "{cap:?}");
            }
        }
    }
}

both_test! {
    /// A requester sends requests and drains the answers with `try_iter`
    /// between them (a poll, not a wait): every answer arrives.
    fn stress_iter() {
        for cap in CAPS {
            let (req_s, req_r) = chan::<u32>(cap);
            let (resp_s, resp_r) = chan::<u32>(cap);
            let answerer = go(move || {
                for v in req_r {
                    resp_s.send(v).unwrap();
                }
            });
            let mut got = 0;
            for i in 0..STRESS {
                // A rendezvous send only happens when the answerer waits;
                // the answerer only waits when its answer was taken.
                let mut msg = i;
                loop {
                    match req_s.try_send(msg) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => msg = back,
                        Err(TrySendError::Disconnected(_)) => unreachable!(),
                    }
                    got += resp_r.try_iter().count() as u32;
                    chan_common::yield_any();
                }
                got += resp_r.try_iter().count() as u32;
            }
            drop(req_s);
            got += resp_r.iter().count() as u32;
            assert_eq!(got, STRESS, "{cap:?}");
            answerer.join();
        }
    }
}

both_test! {
    /// Both sides use short timeouts and retry; the sender pauses now and
    /// then, so that both time out many times. Every message arrives, in
    /// order.
    fn stress_timeout_two_sides() {
        const N: u32 = 200;
        for cap in CAPS {
            let (s, r) = chan::<u32>(cap);
            let t = go(move || {
                for i in 0..N {
                    if i % 20 == 0 {
                        coro::sleep(MS);
                    }
                    let mut msg = i;
                    loop {
                        match s.send_timeout(msg, Duration::from_micros(100)) {
                            Ok(()) => break,
                            Err(SendTimeoutError::Timeout(back)) => msg = back,
                            Err(SendTimeoutError::Disconnected(_)) => unreachable!(),
                        }
                    }
                }
            });
            let mut next = 0;
            loop {
                if next % 20 == 10 {
                    coro::sleep(MS);
                }
                match r.recv_timeout(Duration::from_micros(100)) {
                    Ok(v) => {
                        assert_eq!(v, next, "{cap:?}");
                        next += 1;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            assert_eq!(next, N, "{cap:?}");
            t.join();
        }
    }
}

both_test! {
    /// On a channel with room for everyone's message, each of several
    /// threads or coroutines sends and then at once receives without
    /// waiting: the receive always finds a message (its own, or another
    /// left in its place). A channel whose send and receive are not
    /// linearizable lets a receive miss a message that was sent before it.
    fn linearizable() {
        const SIDES: usize = 4;
        const ROUNDS: u32 = 500;
        for cap in [Some(SIDES), None] {
            let (s, r) = chan::<u32>(cap);
            let sides: Vec<_> = (0..SIDES)
                .map(|_| {
                    let (s, r) = (s.clone(), r.clone());
                    go(move || {
                        for i in 0..ROUNDS {
                            s.send(i).unwrap();
                            assert!(r.try_recv().is_ok(), "{cap:?}: a sent message was missed");
                        }
                    })
                })
                .collect();
            sides.into_iter().for_each(|t| t.join());
        }
    }
}

/// The least share of hits each of several ready choices must get, of
/// `n`: far below what a fair choice gives, far above what a choice that
/// prefers one gives.
fn fair_share(n: u32, choices: u32) -> u32 {
    n / choices / 4
}

/// With two buffered channels always ready, a select picks each often;
/// with one channel added several times, each of its operations is picked
/// often.
#[test]
fn fairness() {
    const N: u32 = 2_000;
    for cap in [Some(N as usize), None] {
        let (s1, r1) = chan::<()>(cap);
        let (s2, r2) = chan::<()>(cap);
        for _ in 0..N {
            s1.send(()).unwrap();
            s2.send(()).unwrap();
        }
        let mut hits = [0u32; 2];
        for _ in 0..N {
            coro::select! {
                recv(r1) -> v => { v.unwrap(); hits[0] += 1; }
                recv(r2) -> v => { v.unwrap(); hits[1] += 1; }
            }
        }
        assert!(
            hits.iter().all(|&h| h >= fair_share(N, 2)),
            "{cap:?}: {hits:?}"
        );

        let (s, r) = chan::<()>(cap);
        for _ in 0..N {
            s.send(()).unwrap();
        }
        const DUPLICATES: usize = 5;
        let mut hits = [0u32; DUPLICATES];
        for _ in 0..N {
            let mut sel = coro::chan::Select::new();
            for _ in 0..DUPLICATES {
                sel.recv(&r);
            }
            let oper = sel.select();
            let i = oper.index();
            oper.recv(&r).unwrap();
            hits[i] += 1;
        }
        assert!(
            hits.iter().all(|&h| h >= fair_share(N, DUPLICATES as u32)),
            "{cap:?}: {hits:?}"
        );
    }
}

both_test! {
    /// Channels sent through channels: a chain of ends passed back and
    /// forth, each used once on the other side.
    fn channel_through_channel() {
        const ROUNDS: u32 = 200;
        for cap in CAPS {
            type Link = (Sender<u32>, Receiver<u32>);
            let (s, r) = chan::<Link>(cap);
            let (back_s, back_r) = chan::<Link>(cap);
            let t = go(move || {
                for (tx, rx) in r {
                    let v = rx.recv().unwrap();
                    tx.send(v + 1).unwrap();
                    back_s.send((tx, rx)).unwrap();
                }
            });
            for i in 0..ROUNDS {
                let (in_s, in_r) = chan::<u32>(Some(1));
                let (out_s, out_r) = chan::<u32>(Some(1));
                in_s.send(i).unwrap();
                s.send((out_s, in_r)).unwrap();
                assert_eq!(out_r.recv(), Ok(i + 1), "{cap:?}");
                let (_tx, rx) = back_r.recv().unwrap();
                assert!(rx.same_channel(&rx.clone()));
                drop(in_s);
                assert_eq!(rx.recv(), Err(RecvError), "{cap:?}");
            }
            drop(s);
            t.join();
        }
    }
}
