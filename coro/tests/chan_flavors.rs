//! What crossbeam-channel's per-flavour suites (`tests/array.rs`,
//! `tests/list.rs`, `tests/zero.rs` there) check, in our own words, for
//! each of our flavours at once: `bounded(0)`, `bounded(1)`, `bounded(8)`
//! and `unbounded()`. Each test runs on plain threads and inside
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
