//! `std::sync::mpsc`'s semantics on `coro::chan`, case by case as the
//! standard library's own channel tests check them (crossbeam-channel
//! keeps a port of them in `tests/mpsc.rs`): `channel()` is `unbounded()`
//! and `sync_channel(n)` is `bounded(n)`.
//!
//! What is checked: a message sent is received once, in order, and a
//! message still buffered when both ends are gone is dropped exactly once;
//! a send to a channel whose receivers are gone fails and hands the
//! message back, and a receive from one whose senders are gone fails once
//! the buffer is empty, whether the other end goes before, after, or while
//! the operation waits (the "oneshot" cases); `try_recv` tells empty from
//! disconnected in every state; `recv_timeout` times out, returns a
//! message sent in time, and notices disconnection; `try_send` on a
//! rendezvous or full channel; and stress with many senders. The iterator
//! cases of the same suite are in `chan_api.rs`.
//!
//! Every body runs on plain threads and inside coroutines (1 and 4
//! workers): see `chan_common::both_test!`. A sleep only gives the other
//! side time to block first; no assertion depends on its length, except
//! that a timeout waited at least its duration.

mod chan_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chan_common::{both_test, go, settle, Token};
use coro::chan::{
    bounded, unbounded, Receiver, RecvError, RecvTimeoutError, SendError, Sender, TryRecvError,
    TrySendError,
};

/// Messages per stress test: enough for the ends to overtake each other
/// many times, few enough for debug builds on two cores.
const STRESS: u64 = 10_000;

/// Senders in the shared-stress tests.
const SENDERS: u64 = 8;

/// A timeout long enough never to expire in a test, where it must not.
const LONG: Duration = Duration::from_secs(30);

/// A channel, with the name of its flavour for messages.
type Named<T> = (&'static str, (Sender<T>, Receiver<T>));

/// The flavours `std`'s `channel()` and `sync_channel(n)` map to, by name,
/// for messages of a test.
fn flavours<T>() -> Vec<Named<T>> {
    vec![
        ("unbounded", unbounded()),
        ("bounded(0)", bounded(0)),
        ("bounded(1)", bounded(1)),
        ("bounded(16)", bounded(16)),
    ]
}

/// As [`flavours`], without the rendezvous channel: for cases where one
/// thread sends and then receives.
fn buffered<T>() -> Vec<Named<T>> {
    flavours()
        .into_iter()
        .filter(|(name, _)| *name != "bounded(0)")
        .collect()
}

both_test! {
    /// One message, on every buffered flavour, then a message from a
    /// clone of the sender.
    fn smoke() {
        for (name, (tx, rx)) in buffered::<u32>() {
            tx.send(1).unwrap();
            assert_eq!(rx.recv(), Ok(1), "{name}");
            let tx2 = tx.clone();
            tx2.send(2).unwrap();
            assert_eq!(rx.recv(), Ok(2), "{name}");
            tx.send(3).unwrap();
            assert_eq!(rx.recv(), Ok(3), "{name}");
        }
    }
}

both_test! {
    /// A message sent from another thread or coroutine, on every flavour
    /// (the rendezvous one included: the sender waits for us).
    fn smoke_threads() {
        for (name, (tx, rx)) in flavours::<u32>() {
            let t = go(move || {
                tx.send(1).unwrap();
                tx.send(2).unwrap();
            });
            assert_eq!(rx.recv(), Ok(1), "{name}");
            assert_eq!(rx.recv(), Ok(2), "{name}");
            assert_eq!(rx.recv(), Err(RecvError), "{name}");
            t.join();
        }
    }
}

both_test! {
    /// A message still buffered when both ends are dropped is dropped with
    /// the channel, exactly once; with a cloned sender too.
    fn drop_full() {
        for shared in [false, true] {
            for (name, (tx, rx)) in buffered::<Token>() {
                let drops = Arc::new(AtomicUsize::new(0));
                let extra = shared.then(|| tx.clone());
                tx.send(Token::new(1, &drops)).unwrap();
                drop(tx);
                drop(extra);
                assert_eq!(drops.load(Ordering::SeqCst), 0, "{name}: dropped while buffered");
                drop(rx);
                assert_eq!(drops.load(Ordering::SeqCst), 1, "{name} (shared: {shared})");
            }
        }
    }
}

both_test! {
    /// Once the receiver is gone, a send fails and hands the message back,
    /// from the original sender and from clones, before and after the
    /// original is dropped.
    fn port_gone() {
        for (name, (tx, rx)) in flavours::<u32>() {
            drop(rx);
            assert_eq!(tx.send(1), Err(SendError(1)), "{name}");
            let tx2 = tx.clone();
            assert_eq!(tx2.send(2), Err(SendError(2)), "{name}");
            drop(tx);
            assert_eq!(tx2.send(3), Err(SendError(3)), "{name}");
            let tx3 = tx2.clone();
            drop(tx2);
            assert_eq!(tx3.send(4), Err(SendError(4)), "{name}");
        }
    }
}

both_test! {
    /// The receiver goes away while another thread keeps sending: its
    /// sends succeed until they fail, and once one fails every later one
    /// does. With one sender and with clones.
    fn port_gone_concurrent() {
        for shared in [false, true] {
            for (name, (tx, rx)) in flavours::<u32>() {
                let senders: Vec<_> = (0..if shared { 2 } else { 1 })
                    .map(|_| {
                        let tx = tx.clone();
                        go(move || {
                            let mut sent = 0u32;
                            while tx.send(sent).is_ok() {
                                sent += 1;
                            }
                            for i in 0..10 {
                                assert_eq!(tx.send(i), Err(SendError(i)));
                            }
                            sent
                        })
                    })
                    .collect();
                drop(tx);
                // Take a few, then leave.
                for _ in 0..3 {
                    rx.recv().unwrap();
                }
                drop(rx);
                let sent: u32 = senders.into_iter().map(|s| s.join()).sum();
                assert!(sent >= 3, "{name}: {sent} sent, 3 received");
            }
        }
    }
}

both_test! {
    /// Once every sender is gone and the buffer is empty, `recv` fails;
    /// with a cloned sender, only after both are gone.
    fn chan_gone() {
        for (name, (tx, rx)) in flavours::<u32>() {
            drop(tx);
            assert_eq!(rx.recv(), Err(RecvError), "{name}");
            assert_eq!(rx.recv(), Err(RecvError), "{name}: again");
        }
        for (name, (tx, rx)) in buffered::<u32>() {
            let tx2 = tx.clone();
            drop(tx);
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{name}");
            tx2.send(5).unwrap();
            drop(tx2);
            assert_eq!(rx.recv(), Ok(5), "{name}");
            assert_eq!(rx.recv(), Err(RecvError), "{name}");
        }
    }
}

both_test! {
    /// The sender sends and leaves while we wait: we get its messages,
    /// then the disconnection.
    fn chan_gone_concurrent() {
        for (name, (tx, rx)) in flavours::<u32>() {
            let t = go(move || {
                tx.send(1).unwrap();
                tx.send(2).unwrap();
            });
            while let Ok(v) = rx.recv() {
                assert!(v == 1 || v == 2, "{name}: {v}");
            }
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "{name}");
            t.join();
        }
    }
}

both_test! {
    /// Many messages from one sender arrive in order, on every flavour.
    fn stress() {
        for (name, (tx, rx)) in flavours::<u64>() {
            let t = go(move || {
                for i in 0..STRESS {
                    tx.send(i).unwrap();
                }
            });
            for i in 0..STRESS {
                assert_eq!(rx.recv(), Ok(i), "{name}");
            }
            assert_eq!(rx.recv(), Err(RecvError), "{name}");
            t.join();
        }
    }
}

both_test! {
    /// Many senders at once: each one's messages arrive in its order, and
    /// all of them arrive.
    fn stress_shared() {
        for (name, (tx, rx)) in flavours::<(u64, u64)>() {
            let per = STRESS / SENDERS;
            let senders: Vec<_> = (0..SENDERS)
                .map(|s| {
                    let tx = tx.clone();
                    go(move || {
                        for i in 0..per {
                            tx.send((s, i)).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut next = vec![0u64; SENDERS as usize];
            for (s, i) in rx.iter() {
                assert_eq!(i, next[s as usize], "{name}: sender {s} out of order");
                next[s as usize] += 1;
            }
            assert!(next.iter().all(|&n| n == per), "{name}: {next:?}");
            senders.into_iter().for_each(|t| t.join());
        }
    }
}

both_test! {
    /// The one-message cases of `std`'s suite, on one thread: each end
    /// dropped first, a send to a channel whose receiver is gone, a receive
    /// from one whose sender is gone, send then receive, and `try_send` on
    /// an open, a full and a closed channel.
    fn oneshot_single_thread() {
        for (_, (tx, rx)) in flavours::<Box<u32>>() {
            drop(rx);
            drop(tx);
        }
        for (_, (tx, rx)) in flavours::<Box<u32>>() {
            drop(tx);
            drop(rx);
        }
        for (name, (tx, rx)) in flavours::<Box<u32>>() {
            drop(rx);
            assert_eq!(tx.send(Box::new(0)), Err(SendError(Box::new(0))), "{name}");
        }
        for (name, (tx, rx)) in flavours::<Box<u32>>() {
            drop(tx);
            assert_eq!(rx.recv(), Err(RecvError), "{name}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "{name}");
        }
        for (name, (tx, rx)) in buffered::<Box<u32>>() {
            tx.send(Box::new(10)).unwrap();
            assert_eq!(*rx.recv().unwrap(), 10, "{name}");
        }
        for (name, (tx, rx)) in buffered::<u32>() {
            assert_eq!(tx.try_send(10), Ok(()), "{name}");
            assert_eq!(rx.recv(), Ok(10), "{name}");
        }
        // A full channel, and one with nobody to take a rendezvous.
        let (tx, _rx) = bounded::<u32>(1);
        tx.try_send(1).unwrap();
        assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
        let (tx, _rx) = bounded::<u32>(0);
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        // Closed.
        for (name, (tx, rx)) in flavours::<u32>() {
            drop(rx);
            assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)), "{name}");
        }
    }
}

both_test! {
    /// `try_recv` in each state: open and empty, holding a message, closed
    /// with a message left (it still comes out), closed and empty.
    fn try_recv_states() {
        for (name, (tx, rx)) in buffered::<u32>() {
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{name}");
            tx.send(1).unwrap();
            assert_eq!(rx.try_recv(), Ok(1), "{name}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty), "{name}");
            tx.send(2).unwrap();
            drop(tx);
            assert_eq!(rx.try_recv(), Ok(2), "{name}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "{name}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected), "{name}");
        }
    }
}

both_test! {
    /// `try_recv` states driven from another side, step by step: the
    /// receiver checks, tells the sender to act, and waits for it to have
    /// acted, as `std`'s `try_recv_states` does.
    fn try_recv_states_across() {
        let (tx1, rx1) = bounded::<u32>(1);
        let (tx2, rx2) = bounded::<()>(1);
        let (tx3, rx3) = bounded::<()>(1);
        let t = go(move || {
            rx2.recv().unwrap();
            tx1.send(1).unwrap();
            tx3.send(()).unwrap();
            rx2.recv().unwrap();
            drop(tx1);
            tx3.send(()).unwrap();
        });
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
        tx2.send(()).unwrap();
        rx3.recv().unwrap();
        assert_eq!(rx1.try_recv(), Ok(1));
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Empty));
        tx2.send(()).unwrap();
        rx3.recv().unwrap();
        assert_eq!(rx1.try_recv(), Err(TryRecvError::Disconnected));
        t.join();
    }
}

both_test! {
    /// A receiver waiting when the message comes, and one waiting when the
    /// sender leaves instead (`std`'s `oneshot_multi_task_recv_then_*`).
    fn oneshot_multi_recv_then() {
        for (name, (tx, rx)) in flavours::<Box<u32>>() {
            let t = go(move || *rx.recv().unwrap());
            settle();
            tx.send(Box::new(10)).unwrap();
            assert_eq!(t.join(), 10, "{name}");
        }
        for (name, (tx, rx)) in flavours::<Box<u32>>() {
            let t = go(move || rx.recv());
            settle();
            drop(tx);
            assert_eq!(t.join(), Err(RecvError), "{name}");
        }
    }
}

both_test! {
    /// Both ends dropped, sent to and received from on different threads
    /// in every order, many times: nothing hangs, nothing is lost or
    /// doubled, and a message that was not received is dropped once
    /// (`std`'s `oneshot_multi_thread_*_stress`).
    fn oneshot_multi_stress() {
        const ROUNDS: u64 = 200;
        for (name, _) in flavours::<Token>() {
            let make = || -> (Sender<Token>, Receiver<Token>) {
                match name {
                    "unbounded" => unbounded(),
                    "bounded(0)" => bounded(0),
                    "bounded(1)" => bounded(1),
                    _ => bounded(16),
                }
            };
            let drops = Arc::new(AtomicUsize::new(0));
            for i in 0..ROUNDS {
                // Close: the receiver goes while the sender goes.
                let (tx, rx) = make();
                let t = go(move || drop(rx));
                drop(tx);
                t.join();

                // Send while the receiver goes: either it fails and hands
                // the message back, or the message is dropped with the
                // channel.
                let (tx, rx) = make();
                let t = go(move || drop(rx));
                match tx.send(Token::new(i, &drops)) {
                    Ok(()) => {}
                    Err(SendError(tok)) => assert_eq!(tok.id, i),
                }
                t.join();
                drop(tx);

                // Receive while the sender goes.
                let (tx, rx) = make();
                let t = go(move || drop(tx));
                assert!(rx.recv().is_err(), "{name}: nothing was sent");
                t.join();

                // Send and receive on two sides.
                let (tx, rx) = make();
                let tok = Token::new(i, &drops);
                let t = go(move || tx.send(tok).map_err(|_| ()));
                assert_eq!(rx.recv().map(|t| t.id), Ok(i), "{name}");
                assert_eq!(t.join(), Ok(()));
            }
            assert_eq!(drops.load(Ordering::SeqCst), 2 * ROUNDS as usize, "{name}");
        }
    }
}

both_test! {
    /// A stream of messages from one side while the other receives, each
    /// one sent by a fresh helper (`std`'s `stream_send_recv_stress`).
    fn stream_send_recv_stress() {
        const ROUNDS: u64 = 50;
        const DEPTH: u64 = 20;
        for (name, (tx, rx)) in flavours::<Box<u64>>() {
            let t = go(move || {
                for i in 0..ROUNDS * DEPTH {
                    tx.send(Box::new(i)).unwrap();
                }
            });
            for i in 0..ROUNDS * DEPTH {
                assert_eq!(*rx.recv().unwrap(), i, "{name}");
            }
            t.join();
        }
    }
}

both_test! {
    /// A sender clone made and dropped while the receiver waits does not
    /// disconnect the channel, nor does the receiver miss a later message
    /// (`std`'s `destroy_upgraded_shared_port_when_sender_still_active` and
    /// `issue_32114`-style clone-then-send).
    fn clone_while_waiting() {
        for (name, (tx, rx)) in flavours::<u32>() {
            let t = go(move || rx.recv());
            settle();
            let tx2 = tx.clone();
            drop(tx2);
            tx.send(7).unwrap();
            assert_eq!(t.join(), Ok(7), "{name}");
        }
        let (tx, rx) = unbounded::<u32>();
        let _ = tx.try_send(1);
        let tx2 = tx.clone();
        drop(tx);
        tx2.send(2).unwrap();
        assert_eq!(rx.iter().take(2).collect::<Vec<_>>(), vec![1, 2]);
    }
}

both_test! {
    /// `recv_timeout` on an empty channel times out after at least its
    /// duration; with a message there it returns it; once the senders are
    /// gone it says so, even with a timeout far in the future.
    fn recv_timeout_single() {
        for (name, (tx, rx)) in flavours::<u32>() {
            let d = Duration::from_millis(10);
            let start = Instant::now();
            assert_eq!(rx.recv_timeout(d), Err(RecvTimeoutError::Timeout), "{name}");
            assert!(start.elapsed() >= d, "{name}: returned early");
            if name != "bounded(0)" {
                tx.send(1).unwrap();
                assert_eq!(rx.recv_timeout(d), Ok(1), "{name}");
            }
            drop(tx);
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(3600)),
                Err(RecvTimeoutError::Disconnected),
                "{name}"
            );
        }
        // A timeout too large to add to now waits like `recv`, without
        // panicking (`std`'s `very_long_recv_timeout_wont_panic`).
        let (tx, rx) = unbounded::<u32>();
        let t = go(move || rx.recv_timeout(Duration::MAX));
        settle();
        tx.send(9).unwrap();
        assert_eq!(t.join(), Ok(9));
    }
}

both_test! {
    /// A receiver that polls with short timeouts while a sender trickles
    /// messages in gets every message, in order, with some timeouts in
    /// between (`std`'s `stress_recv_timeout_two_threads`), with one
    /// sender and with several (`stress_recv_timeout_shared`).
    fn recv_timeout_stress() {
        const N: u64 = 100;
        for senders in [1, 4] {
            for (name, (tx, rx)) in flavours::<u64>() {
                let ts: Vec<_> = (0..senders)
                    .map(|_| {
                        let tx = tx.clone();
                        go(move || {
                            for i in 0..N {
                                if i % 10 == 0 {
                                    coro::sleep(Duration::from_millis(1));
                                }
                                tx.send(i).unwrap();
                            }
                        })
                    })
                    .collect();
                drop(tx);
                let mut got = 0;
                loop {
                    match rx.recv_timeout(Duration::from_micros(200)) {
                        Ok(_) => got += 1,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                }
                assert_eq!(got, N * senders, "{name}");
                ts.into_iter().for_each(|t| t.join());
            }
        }
    }
}

both_test! {
    /// A message sent while the receiver waits with a timeout is received
    /// before the timeout (`std`'s `recv_timeout_upgrade` and
    /// `shared_recv_timeout`: with a cloned sender too).
    fn recv_timeout_in_time() {
        for shared in [false, true] {
            for (name, (tx, rx)) in flavours::<u32>() {
                let ts: Vec<_> = (0..if shared { 3 } else { 1 })
                    .map(|k| {
                        let tx = tx.clone();
                        go(move || tx.send(k).unwrap())
                    })
                    .collect();
                let mut got: Vec<u32> = (0..ts.len())
                    .map(|_| rx.recv_timeout(LONG).expect(name))
                    .collect();
                got.sort_unstable();
                assert_eq!(got, (0..ts.len() as u32).collect::<Vec<_>>(), "{name}");
                ts.into_iter().for_each(|t| t.join());
                assert_eq!(
                    rx.recv_timeout(Duration::from_millis(1)),
                    Err(RecvTimeoutError::Timeout),
                    "{name}"
                );
            }
        }
    }
}

both_test! {
    /// Many messages on one thread: sent first, received after, on an
    /// unbounded channel (`std`'s `recv_a_lot`).
    fn recv_a_lot() {
        let (tx, rx) = unbounded::<u64>();
        for i in 0..STRESS {
            tx.send(i).unwrap();
        }
        for i in 0..STRESS {
            assert_eq!(rx.recv(), Ok(i));
        }
    }
}

both_test! {
    /// A rendezvous send waits for its receiver, and `try_send` meets one
    /// that waits (`std`'s `sync_channel(0)` cases): the send returns only
    /// once the message is taken.
    fn rendezvous() {
        let (tx, rx) = bounded::<u32>(0);
        let taken = Arc::new(AtomicUsize::new(0));
        let t = {
            let taken = Arc::clone(&taken);
            go(move || {
                settle();
                taken.store(1, Ordering::SeqCst);
                rx.recv().unwrap();
                rx
            })
        };
        tx.send(1).unwrap();
        assert_eq!(taken.load(Ordering::SeqCst), 1, "the send returned before a receiver came");
        let rx = t.join();
        // A receiver that waits meets a `try_send`.
        let t = go(move || rx.recv());
        let mut v = 2;
        loop {
            match tx.try_send(v) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    v = back;
                    chan_common::yield_any();
                }
                Err(TrySendError::Disconnected(_)) => unreachable!(),
            }
        }
        assert_eq!(t.join(), Ok(2));
    }
}

both_test! {
    /// A full bounded channel blocks its sender until room is made, and a
    /// sender blocked on it fails when the receiver leaves, handing its
    /// message back (`std`'s `sync_channel` `send`/`drop` cases).
    fn full_blocks_then_fails() {
        let (tx, rx) = bounded::<u32>(1);
        tx.send(1).unwrap();
        let t = go(move || {
            tx.send(2).unwrap();
            tx.send(3)
        });
        settle();
        assert_eq!(rx.recv(), Ok(1));
        // The second send fit; the third waits for room, then for nothing.
        chan_common::wait_until("the second message is in", || rx.is_full());
        settle();
        drop(rx);
        assert_eq!(t.join(), Err(SendError(3)));
    }
}
