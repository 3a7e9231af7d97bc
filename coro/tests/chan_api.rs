//! The channel API, one behaviour per test: iterators, length and
//! capacity, the error types, the `Select` builder and its handles, the
//! `select!` macro's arms (`default`, `default(timeout)`, sends, receives,
//! syntax), and what a dropped runtime leaves behind in a channel
//! (nothing: its coroutines are unwound and take their waiting operations
//! with them).

mod chan_common;

use std::error::Error;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chan_common::{rt_test, settle, wait_until, watchdog, DropFlag, Token, WORKER_COUNTS};
use coro::chan::{
    bounded, unbounded, Receiver, RecvError, RecvTimeoutError, Select, SendError, SendTimeoutError,
    Sender, TryRecvError, TrySendError,
};

fn assert_send_sync<T: Send + Sync>() {}

/// Both ends, the errors and `Select` can cross threads as crossbeam's do.
#[test]
fn ends_and_errors_are_send_and_sync() {
    assert_send_sync::<Sender<u32>>();
    assert_send_sync::<Receiver<u32>>();
    assert_send_sync::<SendError<u32>>();
    assert_send_sync::<TrySendError<u32>>();
    assert_send_sync::<SendTimeoutError<u32>>();
    assert_send_sync::<RecvError>();
    assert_send_sync::<TryRecvError>();
    assert_send_sync::<RecvTimeoutError>();
}

rt_test! {
    /// `iter` yields every message in order and ends when the last sender
    /// is gone and the buffer is empty.
    fn iter_ends_on_disconnect(rt) {
        rt.block_on(|| {
            for cap in [0, 1, 16] {
                let (tx, rx) = bounded::<u32>(cap);
                let tx2 = tx.clone();
                coro::spawn(move || {
                    for i in 0..50 {
                        tx.send(i).unwrap();
                    }
                });
                coro::spawn(move || {
                    for i in 50..100 {
                        tx2.send(i).unwrap();
                    }
                });
                let mut got: Vec<u32> = rx.iter().collect();
                // Each sender's messages arrive in its order.
                let (a, b): (Vec<u32>, Vec<u32>) = got.iter().partition(|&&v| v < 50);
                assert_eq!(a, (0..50).collect::<Vec<_>>(), "cap {cap}");
                assert_eq!(b, (50..100).collect::<Vec<_>>(), "cap {cap}");
                got.sort_unstable();
                assert_eq!(got, (0..100).collect::<Vec<_>>());
                // And it stays ended.
                assert_eq!(rx.iter().next(), None);
            }
        });
    }
}

/// `iter` on a plain thread, fed by a coroutine of the default runtime.
#[test]
fn iter_on_a_thread() {
    watchdog("iter_on_a_thread", || {
        let (tx, rx) = bounded::<u64>(0);
        let h = coro::spawn(move || {
            for i in 1..=10 {
                tx.send(i).unwrap();
            }
        });
        assert_eq!(rx.iter().sum::<u64>(), 55);
        h.join().unwrap();
    });
}

/// `try_iter` takes what is ready now and stops at the first empty
/// moment, without waiting for the senders that are still there.
#[test]
fn try_iter_takes_only_what_is_ready() {
    let (tx, rx) = bounded::<u32>(10);
    assert_eq!(rx.try_iter().next(), None);
    for i in 0..4 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(rx.try_iter().count(), 0);
    tx.send(9).unwrap();
    drop(tx);
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![9]);
    assert_eq!(rx.try_iter().count(), 0);

    let (tx, rx) = unbounded::<u32>();
    for i in 0..1000 {
        tx.send(i).unwrap();
    }
    assert_eq!(rx.try_iter().count(), 1000);
}

/// On an unbuffered channel `try_recv` (so `try_iter`) takes a message
/// only from a sender that is already waiting.
#[test]
fn try_recv_takes_from_a_waiting_sender() {
    watchdog("try_recv_takes_from_a_waiting_sender", || {
        let (tx, rx) = bounded::<u32>(0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let t = thread::spawn(move || tx.send(5));
        let mut got = None;
        wait_until("the sender waits", || {
            got = rx.try_iter().next();
            got.is_some()
        });
        assert_eq!(got, Some(5));
        assert_eq!(t.join().unwrap(), Ok(()));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    });
}

/// On an unbuffered channel `try_send` succeeds only into a receiver that
/// is already waiting, and hands the message straight to it.
#[test]
fn try_send_gives_to_a_waiting_receiver() {
    watchdog("try_send_gives_to_a_waiting_receiver", || {
        let (tx, rx) = bounded::<u32>(0);
        assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
        let t = thread::spawn(move || rx.recv());
        let mut v = 2;
        wait_until("the receiver waits", || match tx.try_send(v) {
            Ok(()) => true,
            Err(TrySendError::Full(back)) => {
                v = back;
                false
            }
            Err(e) => panic!("{e}"),
        });
        assert_eq!(t.join().unwrap(), Ok(2));
        assert_eq!(tx.try_send(3), Err(TrySendError::Disconnected(3)));
    });
}

/// A `Receiver` by value and by reference is an iterator that ends on
/// disconnection.
#[test]
fn into_iterator_owned_and_borrowed() {
    let (tx, rx) = unbounded::<u32>();
    for i in 0..3 {
        tx.send(i).unwrap();
    }
    let mut got = Vec::new();
    for v in &rx {
        got.push(v);
        if v == 2 {
            break;
        }
    }
    assert_eq!(got, vec![0, 1, 2]);
    for i in 3..6 {
        tx.send(i).unwrap();
    }
    drop(tx);
    let rest: Vec<u32> = rx.into_iter().collect();
    assert_eq!(rest, vec![3, 4, 5]);
}

/// Length, capacity, empty and full, on both ends, for each flavour.
#[test]
fn len_capacity_full_empty() {
    // Unbuffered: never holds a message, so always empty and always full,
    // even while a sender waits.
    let (tx, rx) = bounded::<u32>(0);
    assert_eq!((tx.capacity(), rx.capacity()), (Some(0), Some(0)));
    assert_eq!((tx.len(), rx.len()), (0, 0));
    assert!(tx.is_empty() && rx.is_empty());
    assert!(tx.is_full() && rx.is_full());
    let t = {
        let tx = tx.clone();
        thread::spawn(move || tx.send(1))
    };
    let mut got = None;
    wait_until("the sender waits", || {
        // A waiting sender is not in the buffer.
        assert_eq!(rx.len(), 0);
        got = rx.try_recv().ok();
        got.is_some()
    });
    t.join().unwrap().unwrap();

    // Buffered.
    let (tx, rx) = bounded::<u32>(3);
    assert_eq!((tx.capacity(), rx.capacity()), (Some(3), Some(3)));
    assert!(tx.is_empty() && !tx.is_full());
    tx.send(1).unwrap();
    assert_eq!((tx.len(), rx.len()), (1, 1));
    assert!(!rx.is_empty() && !rx.is_full());
    tx.send(2).unwrap();
    tx.send(3).unwrap();
    assert_eq!(rx.len(), 3);
    assert!(tx.is_full() && rx.is_full());
    assert_eq!(tx.try_send(4), Err(TrySendError::Full(4)));
    assert_eq!(rx.recv(), Ok(1));
    assert_eq!(tx.len(), 2);
    assert!(!tx.is_full());

    // Unbounded: never full.
    let (tx, rx) = unbounded::<u32>();
    assert_eq!((tx.capacity(), rx.capacity()), (None, None));
    for i in 0..10_000 {
        tx.send(i).unwrap();
    }
    assert_eq!((tx.len(), rx.len()), (10_000, 10_000));
    assert!(!tx.is_full() && !rx.is_full() && !rx.is_empty());
}

/// `same_channel` tells clones of one end from ends of another channel.
#[test]
fn same_channel() {
    let (tx1, rx1) = bounded::<u32>(1);
    let (tx2, rx2) = bounded::<u32>(1);
    assert!(tx1.same_channel(&tx1.clone()));
    assert!(!tx1.same_channel(&tx2));
    assert!(rx1.same_channel(&rx1.clone()));
    assert!(!rx1.same_channel(&rx2));
}

/// The channel disconnects when the *last* clone of an end goes, not the
/// first; `is_disconnected` says so on the receiving end.
#[test]
fn disconnects_when_the_last_clone_goes() {
    watchdog("disconnects_when_the_last_clone_goes", || {
        let (tx, rx) = bounded::<u32>(0);
        let tx2 = tx.clone();
        assert!(!rx.is_disconnected());
        drop(tx);
        assert!(!rx.is_disconnected());
        let t = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        };
        // The remaining sender still reaches a receiver.
        tx2.send(3).unwrap();
        assert_eq!(t.join().unwrap(), Ok(3));
        let t = {
            let rx = rx.clone();
            thread::spawn(move || rx.recv())
        };
        settle();
        drop(tx2);
        assert_eq!(t.join().unwrap(), Err(RecvError));
        assert!(rx.is_disconnected());

        // Receivers likewise: the send fails only when the last one goes.
        let (tx, rx) = unbounded::<u32>();
        let rx2 = rx.clone();
        drop(rx);
        assert_eq!(tx.send(1), Ok(()));
        assert_eq!(rx2.recv(), Ok(1));
        drop(rx2);
        assert_eq!(tx.send(2), Err(SendError(2)));
    });
}

/// Messages left in a channel are dropped with it, once each; a message a
/// failed send hands back is the caller's to drop.
#[test]
fn messages_are_dropped_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<Token>(5);
    for i in 0..3 {
        tx.send(Token::new(i, &drops)).unwrap();
    }
    assert_eq!(rx.recv().map(|t| t.id).ok(), Some(0));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(rx);
    // The receivers are gone: the buffered messages are dropped now or
    // with the channel, but not twice, and not the one handed back.
    let back = tx.send(Token::new(7, &drops)).unwrap_err().into_inner();
    assert_eq!(back.id, 7);
    drop(tx);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

/// `Display`, `Debug`, `into_inner` and the predicates of every error, and
/// the conversions between them. `Debug` needs no `Debug` message type.
#[test]
fn error_types() {
    struct Opaque(u8);

    let e = SendError(Opaque(1));
    assert_eq!(format!("{e:?}"), "SendError(..)");
    assert!(e.to_string().contains("no receivers"), "{e}");
    assert_eq!(e.into_inner().0, 1);

    let full = TrySendError::Full(Opaque(2));
    let gone = TrySendError::Disconnected(Opaque(3));
    assert!(full.is_full() && !full.is_disconnected());
    assert!(gone.is_disconnected() && !gone.is_full());
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert_eq!(format!("{gone:?}"), "Disconnected(..)");
    assert!(full.to_string().contains("full"), "{full}");
    assert!(gone.to_string().contains("no receivers"), "{gone}");
    assert_ne!(full.to_string(), gone.to_string());
    assert_eq!(full.into_inner().0, 2);
    assert_eq!(gone.into_inner().0, 3);

    let late = SendTimeoutError::Timeout(Opaque(4));
    let gone = SendTimeoutError::Disconnected(Opaque(5));
    assert!(late.is_timeout() && !late.is_disconnected());
    assert!(gone.is_disconnected() && !gone.is_timeout());
    assert_eq!(format!("{late:?}"), "Timeout(..)");
    assert!(late.to_string().contains("timed out"), "{late}");
    assert!(gone.to_string().contains("no receivers"), "{gone}");
    assert_eq!(late.into_inner().0, 4);
    assert_eq!(gone.into_inner().0, 5);

    assert!(RecvError.to_string().contains("no senders"));
    assert!(TryRecvError::Empty.is_empty() && !TryRecvError::Empty.is_disconnected());
    assert!(TryRecvError::Disconnected.is_disconnected() && !TryRecvError::Disconnected.is_empty());
    assert_ne!(
        TryRecvError::Empty.to_string(),
        TryRecvError::Disconnected.to_string()
    );
    assert!(RecvTimeoutError::Timeout.is_timeout());
    assert!(!RecvTimeoutError::Timeout.is_disconnected());
    assert!(RecvTimeoutError::Disconnected.is_disconnected());
    assert!(RecvTimeoutError::Timeout.to_string().contains("timed out"));

    // Conversions: a disconnection is a disconnection in every form.
    assert_eq!(
        TrySendError::from(SendError(6)),
        TrySendError::Disconnected(6)
    );
    assert_eq!(
        SendTimeoutError::from(SendError(7)),
        SendTimeoutError::Disconnected(7)
    );
    assert_eq!(TryRecvError::from(RecvError), TryRecvError::Disconnected);
    assert_eq!(
        RecvTimeoutError::from(RecvError),
        RecvTimeoutError::Disconnected
    );

    // All are `std::error::Error`, usable behind `?` and `Box<dyn Error>`.
    let boxed: Vec<Box<dyn Error + Send + Sync>> = vec![
        Box::new(SendError(1u8)),
        Box::new(TrySendError::Full(1u8)),
        Box::new(SendTimeoutError::Timeout(1u8)),
        Box::new(RecvError),
        Box::new(TryRecvError::Empty),
        Box::new(RecvTimeoutError::Timeout),
    ];
    assert!(boxed.iter().all(|e| !e.to_string().is_empty()));
    fn uses_question_mark(rx: &Receiver<u8>) -> Result<u8, Box<dyn Error>> {
        Ok(rx.try_recv()?)
    }
    let (_tx, rx) = bounded::<u8>(1);
    assert!(uses_question_mark(&rx).is_err());
}

/// The ends' `Debug` shows the number of buffered messages.
#[test]
fn debug_shows_len() {
    let (tx, rx) = bounded::<u32>(4);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert!(format!("{tx:?}").contains('2'), "{tx:?}");
    assert!(format!("{rx:?}").contains("len"), "{rx:?}");
    let sel = Select::default();
    assert!(format!("{sel:?}").contains("Select"));
}

/// A timeout too long to represent as a deadline waits like the blocking
/// call (and takes a message that is already there at once).
#[test]
fn huge_timeouts_mean_no_timeout() {
    watchdog("huge_timeouts_mean_no_timeout", || {
        let (tx, rx) = bounded::<u32>(1);
        tx.send_timeout(1, Duration::MAX).unwrap();
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(1));
        let t = thread::spawn(move || {
            settle();
            tx.send(2).unwrap();
        });
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(2));
        t.join().unwrap();
        let mut sel = Select::new();
        let h = sel.add_recv(&rx);
        assert_eq!(sel.wait_timeout(Duration::MAX), Some(h.index()));
        assert_eq!(sel.recv_result(h), Err(RecvError));
    });
}

/// A deadline already past still takes what is ready, and times out
/// without waiting otherwise.
#[test]
fn past_deadlines() {
    let past = Instant::now() - Duration::from_millis(1);
    let (tx, rx) = bounded::<u32>(1);
    assert_eq!(rx.recv_deadline(past), Err(RecvTimeoutError::Timeout));
    assert_eq!(tx.send_deadline(1, past), Ok(()));
    assert_eq!(tx.send_deadline(2, past), Err(SendTimeoutError::Timeout(2)));
    assert_eq!(rx.recv_deadline(past), Ok(1));
    assert_eq!(
        rx.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    );
}

/// Handles are numbered in the order the operations were added; `wait`
/// returns the index of the one that happened and the handle gives its
/// result.
#[test]
fn select_builder_handles() {
    let (tx1, rx1) = bounded::<u32>(1);
    let (tx2, rx2) = bounded::<&str>(1);
    let (tx3, rx3) = bounded::<u64>(0);
    tx2.send("two").unwrap();

    let mut sel = Select::new();
    let a = sel.add_recv(&rx1);
    let b = sel.add_recv(&rx2);
    let c = sel.add_send(&tx3, 3);
    assert_eq!((a.index(), b.index(), c.index()), (0, 1, 2));
    assert_eq!(sel.wait(), b.index());
    assert_eq!(sel.recv_result(b), Ok("two"));
    // The send that did not happen hands its message back.
    assert_eq!(sel.send_result(c), Err(SendError(3)));
    drop(sel);
    assert_eq!(rx3.try_recv(), Err(TryRecvError::Empty));

    // A select of a ready send and an idle receive performs the send.
    let mut sel = Select::new();
    let a = sel.add_recv(&rx1);
    let s = sel.add_send(&tx1, 10);
    assert_eq!(sel.wait(), s.index());
    assert_eq!(sel.send_result(s), Ok(()));
    drop((sel, a));
    assert_eq!(rx1.try_recv(), Ok(10));
    drop(tx2);
}

/// `try_wait` performs nothing when nothing is ready; `wait_timeout` and
/// `wait_deadline` give up after at least their time. The sends' messages
/// come back.
#[test]
fn select_builder_try_and_timeout() {
    watchdog("select_builder_try_and_timeout", || {
        let (tx, rx) = bounded::<String>(0);
        let (_tx2, rx2) = bounded::<u8>(0);
        let mut sel = Select::new();
        let s = sel.add_send(&tx, "kept".to_owned());
        let r = sel.add_recv(&rx2);
        assert_eq!(sel.try_wait(), None);
        let wait = Duration::from_millis(10);
        let start = Instant::now();
        assert_eq!(sel.wait_timeout(wait), None);
        assert!(start.elapsed() >= wait);
        let start = Instant::now();
        assert_eq!(sel.wait_deadline(start + wait), None);
        assert!(start.elapsed() >= wait);
        assert_eq!(sel.send_result(s), Err(SendError("kept".to_owned())));
        drop((sel, r));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    });
}

/// A select blocked on a plain thread is completed by a coroutine, and a
/// coroutine's by a thread, through receives and through sends.
#[test]
fn select_builder_across_threads_and_coroutines() {
    for workers in WORKER_COUNTS {
        watchdog("select_builder_across_threads_and_coroutines", move || {
            let rt = chan_common::runtime(workers);
            let (tx_a, rx_a) = bounded::<u32>(0);
            let (tx_b, rx_b) = bounded::<u32>(0);
            // The thread waits on a receive and a send; the coroutine
            // takes the send.
            let t = thread::spawn({
                let rx_a = rx_a.clone();
                move || {
                    let mut sel = Select::new();
                    let _r = sel.add_recv(&rx_a);
                    let s = sel.add_send(&tx_b, 7);
                    let i = sel.wait();
                    assert_eq!(i, s.index());
                    assert_eq!(sel.send_result(s), Ok(()));
                }
            });
            let got = rt.block_on(|| rx_b.recv());
            assert_eq!(got, Ok(7));
            t.join().unwrap();
            // The coroutine waits; the thread sends.
            let (tx_c, rx_c) = bounded::<u32>(0);
            let h = rt.spawn(move || {
                let mut sel = Select::new();
                let _a = sel.add_recv(&rx_a);
                let c = sel.add_recv(&rx_c);
                let i = sel.wait();
                assert_eq!(i, c.index());
                sel.recv_result(c)
            });
            tx_c.send(8).unwrap();
            assert_eq!(h.join().unwrap(), Ok(8));
            drop(tx_a);
        });
    }
}

/// Taking a result with a handle from another select is a bug, caught.
#[test]
#[should_panic(expected = "another Select")]
fn select_builder_foreign_handle_panics() {
    let (_tx, rx) = bounded::<u32>(1);
    let mut one = Select::new();
    let mut two = Select::new();
    let _mine = one.add_recv(&rx);
    let theirs = two.add_recv(&rx);
    let _ = one.recv_result(theirs);
}

/// Taking the result of a receive that did not happen is a bug, caught.
#[test]
#[should_panic(expected = "did not happen")]
fn select_builder_result_of_an_operation_that_did_not_happen_panics() {
    let (_tx, rx) = bounded::<u32>(1);
    let mut sel = Select::new();
    let h = sel.add_recv(&rx);
    assert_eq!(sel.try_wait(), None);
    let _ = sel.recv_result(h);
}

/// An empty select could never complete: `wait` says so.
#[test]
#[should_panic]
fn select_builder_empty_wait_panics() {
    Select::new().wait();
}

/// Builds a one-worker or four-worker runtime, runs `blocked` coroutines
/// that block in channel operations until `ready` counts them all, waits a
/// little more so they reach their park, then drops the runtime.
fn drop_runtime_with_blocked(
    workers: usize,
    blocked: Vec<Box<dyn FnOnce() + Send>>,
) -> Vec<coro::JoinHandle<()>> {
    let rt = chan_common::runtime(workers);
    let ready = Arc::new(AtomicUsize::new(0));
    let n = blocked.len();
    let handles: Vec<_> = blocked
        .into_iter()
        .map(|f| {
            let ready = Arc::clone(&ready);
            rt.spawn(move || {
                ready.fetch_add(1, Ordering::SeqCst);
                f();
            })
        })
        .collect();
    wait_until("every coroutine started", || {
        ready.load(Ordering::SeqCst) == n
    });
    settle();
    drop(rt);
    handles
}

/// Dropping a runtime unwinds coroutines blocked in `recv`: their waiting
/// receive leaves the channel. Afterwards a `try_send` on the unbuffered
/// channel finds no receiver (it would hand its message to a dead one),
/// and the channel works between plain threads.
#[test]
fn drop_runtime_with_blocked_receivers() {
    for workers in WORKER_COUNTS {
        watchdog("drop_runtime_with_blocked_receivers", move || {
            let (tx, rx) = bounded::<u32>(0);
            let unwound = Arc::new(AtomicUsize::new(0));
            let returned = Arc::new(AtomicBool::new(false));
            let blocked: Vec<Box<dyn FnOnce() + Send>> = (0..4)
                .map(|k| {
                    let (rx, unwound, returned) =
                        (rx.clone(), Arc::clone(&unwound), Arc::clone(&returned));
                    let f: Box<dyn FnOnce() + Send> = Box::new(move || {
                        let _guard = CountOnDrop(Arc::clone(&unwound));
                        let _ = match k % 2 {
                            0 => rx.recv().ok(),
                            _ => rx.recv_timeout(Duration::from_secs(3600)).ok(),
                        };
                        returned.store(true, Ordering::SeqCst);
                    });
                    f
                })
                .collect();
            let handles = drop_runtime_with_blocked(workers, blocked);
            assert_eq!(
                unwound.load(Ordering::SeqCst),
                4,
                "not every coroutine was unwound"
            );
            assert!(!returned.load(Ordering::SeqCst), "a receive returned");
            for h in handles {
                assert!(h.join().unwrap_err().is_cancelled());
            }
            assert_eq!(tx.try_send(1), Err(TrySendError::Full(1)));
            assert_eq!(
                tx.send_timeout(2, Duration::ZERO),
                Err(SendTimeoutError::Timeout(2))
            );
            let t = thread::spawn(move || rx.recv());
            tx.send(3).unwrap();
            assert_eq!(t.join().unwrap(), Ok(3));
        });
    }
}

/// Counts its drops into a shared counter.
struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Dropping a runtime unwinds coroutines blocked in `send`: their messages
/// leave the channel and are dropped once; a `try_recv` finds nothing.
#[test]
fn drop_runtime_with_blocked_senders() {
    for workers in WORKER_COUNTS {
        watchdog("drop_runtime_with_blocked_senders", move || {
            let drops = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = bounded::<Token>(0);
            let (tx1, rx1) = bounded::<Token>(1);
            tx1.send(Token::new(100, &drops)).unwrap();
            let blocked: Vec<Box<dyn FnOnce() + Send>> = (0..4)
                .map(|k| {
                    let (tx, tx1) = (tx.clone(), tx1.clone());
                    let t = Token::new(k, &drops);
                    let f: Box<dyn FnOnce() + Send> = Box::new(move || {
                        let r = match k {
                            0 => tx.send(t).is_ok(),
                            1 => tx.send_timeout(t, Duration::from_secs(3600)).is_ok(),
                            2 => tx1.send(t).is_ok(),
                            _ => tx1.send_timeout(t, Duration::from_secs(3600)).is_ok(),
                        };
                        panic!("a blocked send returned ({r})");
                    });
                    f
                })
                .collect();
            let handles = drop_runtime_with_blocked(workers, blocked);
            for h in handles {
                assert!(h.join().unwrap_err().is_cancelled());
            }
            assert_eq!(drops.load(Ordering::SeqCst), 4, "the senders' messages");
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
            assert_eq!(rx1.try_recv().map(|t| t.id).ok(), Some(100));
            assert!(matches!(rx1.try_recv(), Err(TryRecvError::Empty)));
            assert_eq!(drops.load(Ordering::SeqCst), 5);
            // Still a working channel between threads.
            let t = thread::spawn(move || rx.recv().map(|t| t.id));
            tx.send(Token::new(9, &drops)).unwrap();
            assert_eq!(t.join().unwrap(), Ok(9));
        });
    }
}

/// Dropping a runtime unwinds coroutines blocked in selects: every hook of
/// every select leaves its channel, and unsent messages are dropped once.
#[test]
fn drop_runtime_with_blocked_selects() {
    for workers in WORKER_COUNTS {
        watchdog("drop_runtime_with_blocked_selects", move || {
            let drops = Arc::new(AtomicUsize::new(0));
            let (a_tx, a_rx) = bounded::<Token>(0);
            let (b_tx, b_rx) = bounded::<Token>(0);
            let unwound = Arc::new(AtomicBool::new(false));
            let blocked: Vec<Box<dyn FnOnce() + Send>> = (0..6)
                .map(|k| {
                    let (a_rx, b_tx) = (a_rx.clone(), b_tx.clone());
                    let t = Token::new(k, &drops);
                    let flag = DropFlag(Arc::clone(&unwound));
                    let f: Box<dyn FnOnce() + Send> = Box::new(move || {
                        let _flag = flag;
                        let mut sel = Select::new();
                        let _r = sel.add_recv(&a_rx);
                        let _s = sel.add_send(&b_tx, t);
                        let i = if k % 2 == 0 {
                            Some(sel.wait())
                        } else {
                            sel.wait_timeout(Duration::from_secs(3600))
                        };
                        panic!("a blocked select returned {i:?}");
                    });
                    f
                })
                .collect();
            let handles = drop_runtime_with_blocked(workers, blocked);
            assert!(unwound.load(Ordering::SeqCst));
            for h in handles {
                assert!(h.join().unwrap_err().is_cancelled());
            }
            assert_eq!(drops.load(Ordering::SeqCst), 6, "the selects' messages");
            assert!(matches!(
                a_tx.try_send(Token::new(50, &drops)),
                Err(TrySendError::Full(_))
            ));
            assert!(matches!(b_rx.try_recv(), Err(TryRecvError::Empty)));
            assert_eq!(drops.load(Ordering::SeqCst), 7);
        });
    }
}

/// Dropping a runtime whose unwinding coroutines hold the last senders of
/// a channel that others wait on (coroutines of the same runtime and a
/// plain thread): the disconnection happens during the shutdown, the
/// thread wakes with the error, and nothing crashes or hangs.
#[test]
fn drop_runtime_disconnects_while_unwinding() {
    for workers in WORKER_COUNTS {
        watchdog("drop_runtime_disconnects_while_unwinding", move || {
            let (tx, rx) = bounded::<u32>(0);
            let (_idle_tx, idle_rx) = bounded::<u32>(0);
            let mut blocked: Vec<Box<dyn FnOnce() + Send>> = Vec::new();
            for _ in 0..3 {
                // Holds a sender while it waits elsewhere.
                let (tx, idle_rx) = (tx.clone(), idle_rx.clone());
                blocked.push(Box::new(move || {
                    let _keep = tx;
                    let _ = idle_rx.recv();
                }));
                // Waits on the channel whose senders are held above.
                let rx = rx.clone();
                blocked.push(Box::new(move || {
                    let _ = rx.recv();
                }));
            }
            drop(tx);
            let t = thread::spawn(move || rx.recv());
            let handles = drop_runtime_with_blocked(workers, blocked);
            assert_eq!(t.join().unwrap(), Err(RecvError));
            for h in handles {
                assert!(h.join().unwrap_err().is_cancelled());
            }
        });
    }
}

/// `select!` with `default`: runs the default when no operation is ready,
/// and an operation that is ready instead of the default.
#[test]
fn select_macro_default_arm() {
    let (tx, rx) = bounded::<u32>(1);
    let (tx0, rx0) = bounded::<u32>(0);
    let picked = coro::select! {
        recv(rx) -> v => Some(v),
        recv(rx0) -> v => Some(v),
        default => None,
    };
    assert_eq!(picked, None);
    // A send that cannot happen (unbuffered, nobody waits) leaves nothing.
    let picked = coro::select! {
        send(tx0, 1) -> r => Some(r),
        default => None,
    };
    assert_eq!(picked, None);
    assert_eq!(rx0.try_recv(), Err(TryRecvError::Empty));

    tx.send(5).unwrap();
    let picked = coro::select! {
        recv(rx) -> v => Some(v),
        recv(rx0) -> v => Some(v),
        default => None,
    };
    assert_eq!(picked, Some(Ok(5)));
    drop(tx0);
}

/// `select!` with `default(timeout)`: fires after at least the timeout when
/// nothing happens, in a coroutine and on a thread; does not wait when an
/// operation is ready; and an operation that becomes ready in time wins.
#[test]
fn select_macro_default_timeout_arm() {
    fn body() {
        let wait = Duration::from_millis(15);
        let (tx, rx) = bounded::<u32>(0);
        let start = Instant::now();
        let fired = coro::select! {
            recv(rx) -> v => panic!("received {v:?}"),
            default(wait) => true,
        };
        assert!(fired && start.elapsed() >= wait);

        let (tx1, rx1) = bounded::<u32>(1);
        tx1.send(1).unwrap();
        let got = coro::select! {
            recv(rx1) -> v => v,
            default(Duration::from_secs(3600)) => panic!("the ready receive did not win"),
        };
        assert_eq!(got, Ok(1));

        // A message that arrives while the select waits.
        let h = coro::spawn(move || {
            coro::sleep(Duration::from_millis(5));
            tx.send(2)
        });
        let got = coro::select! {
            recv(rx) -> v => v,
            default(Duration::from_secs(30)) => panic!("the message never came"),
        };
        assert_eq!(got, Ok(2));
        assert_eq!(h.join().unwrap(), Ok(()));
    }
    watchdog("select_macro_default_timeout_arm", || {
        body();
        chan_common::runtime(1).block_on(body);
    });
}

/// `select!`'s send arm: a ready send happens and reports `Ok`; a send on a
/// channel without receivers reports the message back; the message of a
/// send whose arm is not chosen (and that never had to wait) is never made.
#[test]
fn select_macro_send_arms() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<Token>(1);
    let r = coro::select! {
        send(tx, Token::new(1, &drops)) -> r => r.map_err(|e| e.into_inner().id),
    };
    assert_eq!(r, Ok(()));
    assert_eq!(rx.len(), 1);

    // Full: the receive of the other channel wins; the send's message is
    // evaluated lazily, as crossbeam does, so it was never made.
    let (tx2, rx2) = bounded::<u32>(1);
    tx2.send(9).unwrap();
    let got = coro::select! {
        send(tx, Token::new(2, &drops)) -> _ => panic!("sent to a full channel"),
        recv(rx2) -> v => v,
    };
    assert_eq!(got, Ok(9));
    assert_eq!(drops.load(Ordering::SeqCst), 0);

    drop(rx);
    let back = coro::select! {
        send(tx, Token::new(3, &drops)) -> r => r.unwrap_err().into_inner(),
    };
    assert_eq!(back.id, 3);
    drop(tx);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the buffered message (the second one was never made)"
    );
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

/// `select!`'s receive arm on a disconnected channel is ready at once with
/// the error.
#[test]
fn select_macro_disconnected_receive_is_ready() {
    let (tx, rx) = bounded::<u32>(0);
    let (_tx2, rx2) = bounded::<u32>(0);
    drop(tx);
    let got = coro::select! {
        recv(rx2) -> v => panic!("received {v:?}"),
        recv(rx) -> v => v,
    };
    assert_eq!(got, Err(RecvError));
}

/// Every arm form the macro accepts: block bodies with and without
/// commas, expression bodies, a trailing comma, `_` patterns, expressions
/// as channels and values, and `break`/`continue` out of the enclosing
/// loop.
#[test]
fn select_macro_syntax() {
    let (txs, rxs): (Vec<Sender<u32>>, Vec<Receiver<u32>>) = (0..2).map(|_| bounded(4)).unzip();
    txs[1].send(10).unwrap();
    let got = coro::select! {
        recv(rxs[0]) -> v => { v.unwrap() }
        recv(rxs[1]) -> v => { v.unwrap() + 1 }
    };
    assert_eq!(got, 11);

    let got = coro::select! {
        send(txs[0], 2 + 3) -> r => { r.unwrap(); "sent" },
        recv(rxs[1]) -> _ => "received",
    };
    assert_eq!(got, "sent");
    assert_eq!(rxs[0].try_recv(), Ok(5));

    let got: u32 = coro::select! {
        recv(rxs[0]) -> _ => 0,
        default => { 7 }
    };
    assert_eq!(got, 7);

    // `break` and `continue` reach the loop around the select.
    for i in 0..4 {
        txs[0].send(i).unwrap();
    }
    drop(txs);
    let mut sum = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        coro::select! {
            recv(rxs[0]) -> v => match v {
                Ok(1) => continue,
                Ok(v) => sum += v,
                Err(_) => break,
            },
        }
    }
    assert_eq!(sum, 2 + 3);
    assert_eq!(rounds, 5);

    // A reference to a receiver works as well as the receiver.
    let (tx, rx) = bounded::<u32>(1);
    tx.send(4).unwrap();
    let r = &rx;
    let got = coro::select! {
        recv(r) -> v => v,
    };
    assert_eq!(got, Ok(4));
}

rt_test! {
    /// A coroutine blocked in `select!` over several channels is woken by
    /// a thread's send, by a coroutine's, and by a disconnection.
    fn select_macro_blocked_coroutine_woken(rt) {
        let (tx_a, rx_a) = bounded::<u32>(0);
        let (tx_b, rx_b) = unbounded::<u32>();
        // Kept until the end: a disconnected `rx_b` would be ready too.
        let keep_b = tx_b.clone();
        let h = rt.spawn(move || {
            let mut got = Vec::new();
            loop {
                coro::select! {
                    recv(rx_a) -> v => match v {
                        Ok(v) => got.push(v),
                        Err(_) => break,
                    },
                    recv(rx_b) -> v => got.push(v.unwrap() + 100),
                }
            }
            got
        });
        let t = thread::spawn({
            let tx_a = tx_a.clone();
            move || {
                tx_a.send(1).unwrap();
            }
        });
        t.join().unwrap();
        rt.spawn(move || tx_b.send(2).unwrap()).join().unwrap();
        settle();
        drop(tx_a);
        let mut got = h.join().unwrap();
        drop(keep_b);
        got.sort_unstable();
        assert_eq!(got, vec![1, 102]);
    }
}

/// A `Select` whose send happened, waited on again (nothing documents that
/// a select is single-use): the second wait must not break anyone else.
/// The receiver gets the one message and nothing more; the second wait
/// either reports nothing or panics in its caller.
///
/// Runs in a child process: a select that spins forever on a claim that
/// is never completed would otherwise burn a core for the rest of the run.
#[test]
fn select_builder_waiting_again_after_a_send() {
    chan_common::in_child_process(
        "select_builder_waiting_again_after_a_send",
        Duration::from_secs(10),
        || {
            let (tx, rx) = bounded::<u32>(1);
            let (_idle_tx, idle_rx) = bounded::<u32>(0);
            let mut sel = Select::new();
            let s = sel.add_send(&tx, 1);
            let _r = sel.add_recv(&idle_rx);
            assert_eq!(sel.wait(), s.index());
            let peer = thread::spawn(move || {
                let first = rx.recv();
                let second = rx.recv_timeout(Duration::from_millis(100));
                (first, second)
            });
            let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sel.wait_timeout(Duration::from_millis(200))
            }));
            let peer = peer.join();
            assert!(
                matches!(peer, Ok((Ok(1), Err(RecvTimeoutError::Timeout)))),
                "the receiving thread saw {peer:?}"
            );
            assert!(
                matches!(again, Err(_) | Ok(None)),
                "the second wait performed {again:?}"
            );
        },
    );
}

/// A `Select` whose receive happened, waited on again before its result
/// was taken: no message may be lost. Either the second wait panics (the
/// first message stays in the select) or it leaves the first message's
/// result alone.
#[test]
fn select_builder_waiting_again_after_a_receive() {
    let (tx, rx) = bounded::<u32>(2);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let mut sel = Select::new();
    let r = sel.add_recv(&rx);
    assert_eq!(sel.wait(), r.index());
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sel.try_wait()));
    let mut all: Vec<u32> = sel.recv_result(r).into_iter().collect();
    drop(sel);
    all.extend(rx.try_iter());
    all.sort_unstable();
    assert_eq!(all, vec![1, 2], "a message was lost");
}

/// Go allows a select with only a default case; so does `select!`.
#[test]
fn select_with_only_a_default_arm_runs_it() {
    let got = coro::select! {
        default => 7,
    };
    assert_eq!(got, 7);
}

/// Messages nobody can receive any more are dropped with the last
/// receiver, not kept until the last sender goes.
#[test]
fn unread_messages_are_dropped_with_the_last_receiver() {
    let marker = std::sync::Arc::new(());
    let (tx, rx) = coro::chan::unbounded();
    tx.send(std::sync::Arc::clone(&marker)).unwrap();
    assert_eq!(std::sync::Arc::strong_count(&marker), 2);
    drop(rx);
    assert_eq!(std::sync::Arc::strong_count(&marker), 1);
    drop(tx);
}
