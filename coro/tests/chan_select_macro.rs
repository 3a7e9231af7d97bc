//! `select!` and `select_biased!` as crossbeam-channel's suite checks them
//! (`tests/select_macro.rs` there), in our own words: the syntax it takes
//! (temporaries as channel expressions, `default()`, trailing commas,
//! references, boxed ends, `Deref` wrappers, nesting), what it evaluates
//! and when (channel expressions once, in order; a send's message only
//! when needed), its results, and its behaviour under load: matching
//! pairs on a zero-capacity channel, linearizability of `default`,
//! fairness, bias, and spinning pollers; and that a select with no arm
//! blocks forever (parked, not spinning). Every scenario that involves more
//! than one party runs on plain threads and inside coroutines.

mod chan_common;

use std::any::Any;
use std::cell::Cell;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chan_common::{both_test, go, settle, with_runtime};
use coro::chan::{
    after, bounded, never, tick, unbounded, Receiver, RecvError, SendError, Sender, TryRecvError,
};

/// A timeout long enough never to pass in a test that works: it only
/// bounds a test that is broken.
const LONG: Duration = Duration::from_secs(30);

// `Some(..).unwrap_or(never())` is the point: a temporary `never()`.
#[allow(clippy::unnecessary_literal_unwrap)]
#[test]
fn temporaries_as_channel_expressions() {
    struct Chans {
        tx: Sender<u32>,
        rx: Receiver<u32>,
    }
    impl Chans {
        fn rx(&self) -> Receiver<u32> {
            self.rx.clone()
        }
        fn tx(&self) -> Sender<u32> {
            self.tx.clone()
        }
    }
    let (tx, rx) = unbounded();
    let c = Chans { tx, rx };
    coro::select! {
        send(c.tx(), 4) -> r => r.unwrap(),
    }
    let got = coro::select! {
        recv(c.rx()) -> v => v.unwrap(),
    };
    assert_eq!(got, 4);
    let get = || c.rx();
    let none = coro::select! {
        recv(get()) -> _ => false,
        recv(Some(&c.rx).unwrap_or(&never())) -> _ => false,
        recv(Some(c.rx()).unwrap_or(never())) -> _ => false,
        default => true,
    };
    assert!(none);
}

#[test]
fn default_with_parentheses_and_trailing_commas() {
    let (tx, rx) = bounded::<u32>(0);
    let a = coro::select! {
        recv(rx,) -> _ => 1,
        default() => 2,
    };
    let b = coro::select! {
        send(tx, 1,) -> _ => 1,
        default() => 2
    };
    let c = coro::select! {
        default() => 3,
    };
    let d = coro::select! {
        recv(rx) -> _ => 1,
        default(Duration::from_millis(1),) => 4,
    };
    let e = coro::select! { default => 5 };
    assert_eq!((a, b, c, d, e), (2, 2, 3, 4, 5));
}

#[test]
fn references_boxes_and_moved_ends() {
    let (s, r) = unbounded::<i32>();
    coro::select! {
        send(&&&&s, 1) -> res => res.unwrap(),
    }
    assert_eq!(coro::select! { recv(&&&&r) -> v => v }, Ok(1));
    let (s, r) = (Box::new(s), Box::new(r));
    coro::select! {
        send(*s, 2) -> res => res.unwrap(),
    }
    assert_eq!(coro::select! { recv(*r) -> v => v }, Ok(2));
    #[allow(clippy::redundant_closure_call)]
    let got = coro::select! {
        send((move || *s)(), 3) -> res => { res.unwrap(); (move || *r)().recv() }
    };
    assert_eq!(got, Ok(3));
}

#[test]
fn deref_wrappers_are_accepted() {
    struct Tx<T>(Sender<T>);
    struct Rx<T>(Receiver<T>);
    impl<T> Deref for Tx<T> {
        type Target = Sender<T>;
        fn deref(&self) -> &Sender<T> {
            &self.0
        }
    }
    impl<T> Deref for Rx<T> {
        type Target = Receiver<T>;
        fn deref(&self) -> &Receiver<T> {
            &self.0
        }
    }
    let (s, r) = bounded::<i32>(0);
    let (s, r) = (Tx(s), Rx(r));
    let hit = coro::select! {
        send(s, 0) -> _ => true,
        recv(r) -> _ => true,
        default => false,
    };
    assert!(!hit);
}

#[test]
fn each_channel_expression_is_evaluated_once_in_order() {
    let calls = Cell::new(Vec::new());
    let (tx, rx) = unbounded::<u32>();
    let log = |k: u32| {
        let mut v = calls.take();
        v.push(k);
        calls.set(v);
    };
    let rx_of = |k| {
        log(k);
        &rx
    };
    let tx_of = |k| {
        log(k);
        &tx
    };
    coro::select! {
        recv(rx_of(1)) -> _ => {},
        send(tx_of(2), 7) -> _ => {},
        recv(rx_of(3)) -> _ => {},
    }
    assert_eq!(calls.take(), vec![1, 2, 3]);
}

#[test]
fn a_send_message_is_made_only_if_needed() {
    let made = AtomicUsize::new(0);
    let make = |v: u32| {
        made.fetch_add(1, Ordering::SeqCst);
        v
    };
    // Full, with `default`: never made.
    let (tx, _rx) = bounded::<u32>(0);
    coro::select! {
        send(tx, make(1)) -> _ => panic!("sent on a full channel"),
        default => {}
    }
    assert_eq!(made.load(Ordering::SeqCst), 0);
    // Another arm ready at once: never made.
    let (tx2, rx2) = unbounded::<u32>();
    tx2.send(5).unwrap();
    let got = coro::select! {
        send(tx, make(2)) -> _ => panic!("sent on a full channel"),
        recv(rx2) -> v => v,
    };
    assert_eq!(got, Ok(5));
    assert_eq!(made.load(Ordering::SeqCst), 0);
    // Chosen: made once.
    let (tx3, rx3) = unbounded::<u32>();
    coro::select! {
        send(tx3, make(3)) -> r => r.unwrap(),
        default => panic!("an unbounded channel has room"),
    }
    assert_eq!(made.load(Ordering::SeqCst), 1);
    assert_eq!(rx3.try_recv(), Ok(3));
    // With a timeout that passes: the select had to wait, so the message
    // was made (it waits as a partner that a polling receiver can meet).
    coro::select! {
        send(tx, make(4)) -> _ => panic!("no receiver"),
        default(Duration::from_millis(1)) => {}
    }
    assert_eq!(made.load(Ordering::SeqCst), 2);
}

#[test]
fn an_arm_body_may_change_what_its_message_read() {
    // The select's closures are gone before the body runs.
    let (tx, rx) = unbounded::<u32>();
    let mut x = 1;
    for _ in 0..3 {
        coro::select! {
            send(tx, x) -> r => { r.unwrap(); x *= 2; }
        }
    }
    assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![1, 2, 4]);
}

#[test]
fn results_and_values() {
    let (s, r) = unbounded::<i32>();
    let v = coro::select! {
        recv(r) -> _ => "foo".to_owned(),
        send(s, 0) -> _ => "bar".to_owned(),
        default => "baz".to_owned(),
    };
    assert_eq!(v, "bar");
    let v = coro::select! {
        recv(r) -> m => { let m: Result<i32, RecvError> = m; format!("{m:?}") }
        default => "baz".to_owned(),
    };
    assert_eq!(v, "Ok(0)");
    drop(r);
    let res = coro::select! {
        send(s, 7) -> res => { let res: Result<(), SendError<i32>> = res; res }
    };
    assert_eq!(res, Err(SendError(7)));
    // The pattern may shadow the channel's name.
    let (_, r) = unbounded::<i32>();
    coro::select! {
        recv(r) -> r => assert!(r.is_err()),
    }
}

#[test]
fn nested_selects() {
    let (s, r) = unbounded::<i32>();
    coro::select! {
        send(s, 0) -> _ => coro::select! {
            recv(r) -> v => {
                assert_eq!(v, Ok(0));
                coro::select! {
                    send(s, 1) -> _ => coro::select! {
                        recv(r) -> v => assert_eq!(v, Ok(1)),
                    }
                }
            }
        }
    }
}

#[test]
fn messages_without_send() {
    // `select!` does not need `T: Send`.
    type Msg = Box<dyn Any>;
    let (s, r) = bounded::<Msg>(1);
    coro::select! {
        send(s, Box::new(std::rc::Rc::new(5)) as Msg) -> r => assert!(r.is_ok()),
    }
    let got = coro::select! {
        recv(r) -> m => *m.unwrap().downcast::<std::rc::Rc<i32>>().unwrap(),
    };
    assert_eq!(*got, 5);
}

#[test]
#[should_panic(expected = "send end panicked")]
fn a_panicking_sender_expression_panics_first() {
    fn get() -> Sender<i32> {
        panic!("send end panicked")
    }
    #[allow(unreachable_code)]
    {
        coro::select! {
            send(get(), panic!("the message came first")) -> _ => {}
        }
    }
}

#[test]
#[should_panic(expected = "recv end panicked")]
fn a_panicking_receiver_expression_panics() {
    fn get() -> Receiver<i32> {
        panic!("recv end panicked")
    }
    coro::select! {
        recv(get()) -> _ => {}
    }
}

#[test]
fn send_and_receive_on_one_channel() {
    // A zero-capacity channel cannot pair a select with itself.
    let (s, r) = bounded::<i32>(0);
    let timed_out = coro::select! {
        send(s, 0) -> _ => false,
        recv(r) -> _ => false,
        default(Duration::from_millis(20)) => true,
    };
    assert!(timed_out);
    // An unbounded one takes the send at once.
    let (s, r) = unbounded::<i32>();
    coro::select! {
        send(s, 0) -> _ => {},
        recv(r) -> _ => panic!("nothing was buffered"),
        default(LONG) => panic!("an unbounded channel has room"),
    }
}

#[test]
fn biased_select_takes_the_first_ready_arm() {
    const COUNT: usize = 1_000;
    let (s1, r1) = unbounded::<()>();
    let (s2, r2) = unbounded::<()>();
    let (s3, r3) = unbounded::<()>();
    for _ in 0..COUNT {
        s1.send(()).unwrap();
        s2.send(()).unwrap();
    }
    s3.send(()).unwrap();
    let mut hits = [0; 3];
    for round in 0..2 * COUNT {
        match round % 3 {
            0 => coro::select_biased! {
                recv(r1) -> _ => hits[0] += 1,
                recv(r2) -> _ => hits[1] += 1,
                recv(r3) -> _ => hits[2] += 1,
            },
            1 => coro::select_biased! {
                recv(r1) -> _ => hits[0] += 1,
                recv(r2) -> _ => hits[1] += 1,
                recv(r3) -> _ => hits[2] += 1,
                default() => unreachable!(),
            },
            _ => coro::select_biased! {
                recv(r1) -> _ => hits[0] += 1,
                recv(r2) -> _ => hits[1] += 1,
                recv(r3) -> _ => hits[2] += 1,
                default(LONG) => unreachable!(),
            },
        }
        if round + 1 == COUNT {
            assert_eq!(hits, [COUNT, 0, 0]);
        }
    }
    assert_eq!(hits, [COUNT, COUNT, 0]);
}

#[test]
fn fair_select_over_clocks_and_channels() {
    // `after(0)` and `tick(0)` are always ready (after fires once, then
    // is empty: a fresh one per round), as are the two full channels.
    const COUNT: usize = 4_000;
    let (s1, r1) = bounded::<()>(COUNT);
    let (s2, r2) = unbounded::<()>();
    for _ in 0..COUNT {
        s1.send(()).unwrap();
        s2.send(()).unwrap();
    }
    let ticker = tick(Duration::ZERO);
    let mut hits = [0; 4];
    for _ in 0..COUNT {
        coro::select! {
            recv(r1) -> _ => hits[0] += 1,
            recv(r2) -> _ => hits[1] += 1,
            recv(after(Duration::ZERO)) -> _ => hits[2] += 1,
            recv(ticker) -> _ => hits[3] += 1,
        }
    }
    // Each expects COUNT / 4; a fair choice falls below half of that with
    // a probability far below 1e-9.
    assert!(hits.iter().all(|&h| h >= COUNT / 8), "{hits:?}");
}

both_test! {
    /// crossbeam's `matching`: selects that both send and receive on one
    /// zero-capacity channel pair up among themselves, none with itself.
    fn matching_pairs() {
        const N: usize = 24;
        let (s, r) = bounded::<usize>(0);
        let tasks: Vec<_> = (0..N)
            .map(|i| {
                let (s, r) = (s.clone(), r.clone());
                go(move || {
                    coro::select! {
                        recv(r) -> v => assert_ne!(v.unwrap(), i),
                        send(s, i) -> _ => {},
                    }
                })
            })
            .collect();
        for t in tasks {
            t.join();
        }
        assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
    }
}

/// A send arm that finds its channel ready before its message is made
/// stays in the select. Here the receiver it found is taken while the
/// message is made (by a thief that the message expression lets run): the
/// select must then wait with both its arms, so that the other one can
/// still happen. It used to return the send arm and send as a lone send,
/// which waited for a receiver that never came; `matching_pairs` hung now
/// and then that way, with two such senders left over. One worker, so the
/// order of events is fixed; if a `settle` were too short, the send would
/// find no receiver and the test would check an easier case.
#[test]
fn a_send_arm_whose_receiver_is_taken_meanwhile_stays_in_the_select() {
    with_runtime(
        "a_send_arm_whose_receiver_is_taken_meanwhile_stays_in_the_select",
        1,
        |rt| {
            rt.block_on(|| {
                let (tx, rx) = bounded::<u32>(0);
                let (other_tx, other_rx) = bounded::<()>(1);
                let (steal_tx, steal_rx) = bounded::<()>(1);
                let waiting = {
                    let (tx, rx) = (tx.clone(), rx.clone());
                    coro::spawn(move || {
                        coro::select! {
                            recv(rx) -> v => v.unwrap(),
                            send(tx, 100) -> r => { r.unwrap(); 0 },
                        }
                    })
                };
                let thief = {
                    let rx = rx.clone();
                    coro::spawn(move || {
                        steal_rx.recv().unwrap();
                        rx.recv().unwrap()
                    })
                };
                settle();
                let chooser = coro::spawn(move || {
                    coro::select! {
                        send(tx, {
                            steal_tx.send(()).unwrap();
                            coro::yield_now();
                            1
                        }) -> r => { r.unwrap(); "sent" },
                        recv(other_rx) -> v => { v.unwrap(); "received" },
                    }
                });
                settle();
                assert_eq!(
                    thief.join().unwrap(),
                    100,
                    "the thief took the waiting message"
                );
                assert_eq!(waiting.join().unwrap(), 0, "the waiting select sent");
                other_tx.send(()).unwrap();
                settle();
                let stuck_in_a_lone_send = !chooser.is_finished();
                if stuck_in_a_lone_send {
                    // Let it go, so that the test fails instead of hanging.
                    let _ = rx.try_recv();
                }
                assert_eq!(
                    chooser.join().unwrap(),
                    "received",
                    "the select left its send arm to a lone send"
                );
                assert!(!stuck_in_a_lone_send);
            })
        },
    );
}

both_test! {
    /// crossbeam's `stress_mixed`: a select that receives from one
    /// zero-capacity channel or sends on another, against a peer doing
    /// both in turn.
    fn mixed_send_and_receive_arms() {
        const COUNT: usize = 2_000;
        let (s1, r1) = bounded::<usize>(0);
        let (s2, r2) = bounded::<usize>(0);
        let (s3, r3) = bounded::<()>(100);
        let peer = go(move || {
            for i in 0..COUNT {
                s1.send(i).unwrap();
                assert_eq!(r2.recv().unwrap(), i);
                r3.recv().unwrap();
            }
        });
        for i in 0..COUNT {
            for _ in 0..2 {
                coro::select! {
                    recv(r1) -> v => assert_eq!(v, Ok(i)),
                    send(s2, i) -> _ => {},
                }
            }
            s3.send(()).unwrap();
        }
        peer.join();
    }
}

both_test! {
    /// crossbeam's `stress_send`: two send arms on zero-capacity channels,
    /// against a peer that receives from each in turn.
    fn two_send_arms() {
        const COUNT: usize = 2_000;
        let (s1, r1) = bounded::<usize>(0);
        let (s2, r2) = bounded::<usize>(0);
        let (s3, r3) = bounded::<()>(100);
        let peer = go(move || {
            for i in 0..COUNT {
                assert_eq!(r1.recv().unwrap(), i);
                assert_eq!(r2.recv().unwrap(), i);
                r3.recv().unwrap();
            }
        });
        for i in 0..COUNT {
            for _ in 0..2 {
                coro::select! {
                    send(s1, i) -> _ => {},
                    send(s2, i) -> _ => {},
                }
            }
            s3.send(()).unwrap();
        }
        peer.join();
    }
}

both_test! {
    /// crossbeam's `loop_try`: pollers spinning on `try_send`, `try_recv`
    /// and a `select!` with `default` meet a select that waits, on
    /// zero-capacity channels. Inside coroutines they all may share a
    /// worker: the spins must yield.
    fn pollers_meet_a_waiting_select() {
        const RUNS: usize = 20;
        for _ in 0..RUNS {
            let (s1, r1) = bounded::<i32>(0);
            let (s2, r2) = bounded::<i32>(0);
            let (end_s, end_r) = bounded::<()>(0);
            let sender = go({
                let end_r = end_r.clone();
                move || loop {
                    coro::select! {
                        send(s1, 1) -> _ => break,
                        default => {}
                    }
                    coro::select! {
                        recv(end_r) -> _ => break,
                        default => {}
                    }
                }
            });
            let receiver = go(move || loop {
                match r2.try_recv() {
                    Ok(x) => {
                        assert_eq!(x, 2);
                        break;
                    }
                    Err(TryRecvError::Disconnected) => break,
                    Err(TryRecvError::Empty) => {}
                }
                coro::select! {
                    recv(end_r) -> _ => break,
                    default => {}
                }
            });
            let selector = go(move || {
                coro::select! {
                    recv(r1) -> v => assert_eq!(v, Ok(1)),
                    default(LONG) => panic!("the poller's send never met the select"),
                }
                coro::select! {
                    send(s2, 2) -> v => assert_eq!(v, Ok(())),
                    default(LONG) => panic!("the poller's receive never met the select"),
                }
                drop(end_s);
            });
            selector.join();
            sender.join();
            receiver.join();
        }
    }
}

both_test! {
    /// crossbeam's `linearizable_default`: a message sent (and known
    /// received by nobody else) before a select with `default` is seen by
    /// it.
    fn default_arm_is_linearizable() {
        const COUNT: usize = 2_000;
        for step in 0..2 {
            let (start_s, start_r) = bounded::<()>(0);
            let (end_s, end_r) = bounded::<()>(0);
            let ((s1, r1), (s2, r2)) = if step == 0 {
                (bounded::<i32>(1), bounded::<i32>(1))
            } else {
                (unbounded::<i32>(), unbounded::<i32>())
            };
            let (r1b, r2b) = (r1.clone(), r2.clone());
            let peer = go(move || {
                for _ in 0..COUNT {
                    start_s.send(()).unwrap();
                    s1.send(1).unwrap();
                    coro::select! {
                        recv(r1) -> _ => {}
                        recv(r2) -> _ => {}
                        default => unreachable!("a message was sent before"),
                    }
                    end_s.send(()).unwrap();
                    let _ = r2.try_recv();
                }
            });
            for _ in 0..COUNT {
                start_r.recv().unwrap();
                s2.send(1).unwrap();
                let _ = r1b.try_recv();
                end_r.recv().unwrap();
            }
            drop(r2b);
            peer.join();
        }
    }
}

both_test! {
    /// A select waiting on a send arm is met by a plain receive, and one
    /// waiting on a receive arm by a plain send, after it parked.
    fn a_waiting_select_is_met() {
        let (s, r) = bounded::<u32>(0);
        let (s2, r2) = bounded::<u32>(0);
        let peer = go(move || {
            settle();
            assert_eq!(r.recv(), Ok(7));
            settle();
            s2.send(8).unwrap();
        });
        coro::select! {
            send(s, 7) -> res => res.unwrap(),
        }
        let got = coro::select! {
            recv(r2) -> v => v,
        };
        assert_eq!(got, Ok(8));
        peer.join();
    }
}

both_test! {
    /// crossbeam's `channel_through_channel`, with messages that are not
    /// `Send`-bounded in the select (boxed `Any`).
    fn channels_through_channels() {
        const COUNT: usize = 300;
        type T = Box<dyn Any + Send>;
        for cap in 0..3 {
            let (s, r) = bounded::<T>(cap);
            let a = go(move || {
                let mut s = s;
                for _ in 0..COUNT {
                    let (new_s, new_r) = bounded::<T>(cap);
                    let new_r: T = Box::new(Some(new_r));
                    coro::select! {
                        send(s, new_r) -> _ => {}
                    }
                    s = new_s;
                }
            });
            let b = go(move || {
                let mut r = r;
                for _ in 0..COUNT {
                    r = coro::select! {
                        recv(r) -> msg => msg
                            .unwrap()
                            .downcast_mut::<Option<Receiver<T>>>()
                            .unwrap()
                            .take()
                            .unwrap(),
                    }
                }
            });
            a.join();
            b.join();
        }
    }
}

/// How long the empty-select tests watch a blocked thread or coroutine
/// before they conclude it is still blocked; a one-sided check, which a
/// slow machine can only make easier to pass.
const STILL_BLOCKED: Duration = Duration::from_millis(300);

/// Work that needs the machine (and, on a one-worker runtime, the only
/// worker) to make progress: a ping-pong between the caller and a helper.
fn ping_pong(rounds: u32) {
    let (ping_tx, ping_rx) = bounded::<u32>(0);
    let (pong_tx, pong_rx) = bounded::<u32>(0);
    let t = go(move || {
        for v in ping_rx {
            pong_tx.send(v + 1).unwrap();
        }
    });
    for i in 0..rounds {
        ping_tx.send(i).unwrap();
        assert_eq!(pong_rx.recv(), Ok(i + 1));
    }
    drop(ping_tx);
    t.join();
}

/// Runs `block` (which never returns) on a thread of its own, lets other
/// work progress, and checks that it is still blocked. The thread is left
/// behind, blocked, until the test binary exits.
fn thread_stays_blocked(block: fn()) {
    let started = std::sync::Arc::new(AtomicUsize::new(0));
    let t = {
        let started = started.clone();
        std::thread::spawn(move || {
            started.store(1, Ordering::SeqCst);
            block();
        })
    };
    chan_common::wait_until("the blocker started", || {
        started.load(Ordering::SeqCst) == 1
    });
    ping_pong(100);
    std::thread::sleep(STILL_BLOCKED);
    assert!(!t.is_finished(), "an empty select returned (or panicked)");
}

/// `select! {}` blocks forever, as crossbeam's does: it neither returns
/// nor panics.
#[test]
fn empty_select_blocks_a_thread_forever() {
    thread_stays_blocked(|| coro::select! {});
}

/// So does an empty `Select::select`, and `Select::ready`.
#[test]
fn empty_select_builder_blocks_a_thread_forever() {
    thread_stays_blocked(|| {
        let _oper = coro::chan::Select::new().select();
    });
    thread_stays_blocked(|| {
        let _index = coro::chan::Select::new().ready();
    });
}

/// CPU time the threads named `name` (a worker's name) have used so far,
/// or `None` where `/proc` does not say.
fn cpu_time_of_threads(name: &str) -> Option<Duration> {
    let ticks_per_s = 100; // USER_HZ on Linux
    let mut ticks = 0u64;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        // Fields after the command: state is the first, utime the 12th
        // and stime the 13th.
        let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        ticks += rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
        found = true;
    }
    found.then(|| Duration::from_millis(ticks * 1000 / ticks_per_s))
}

/// A coroutine in `select! {}` (or an empty `Select::select`) parks for
/// good without holding its worker: on a runtime of one worker, the other
/// coroutines still run; the worker does not spin on it (it uses far less
/// CPU than the time watched, where `/proc` can tell); it is still blocked
/// after all that; and dropping the runtime unwinds it.
#[test]
fn empty_select_parks_a_coroutine_forever() {
    for builder in [false, true] {
        chan_common::watchdog("empty_select_parks_a_coroutine_forever", move || {
            let worker = "emptysel";
            let rt = coro::runtime::Builder::new()
                .workers(1)
                .thread_name(worker)
                .build()
                .unwrap();
            let unwound = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let blocked = {
                let flag = chan_common::DropFlag(unwound.clone());
                rt.spawn(move || {
                    let _flag = flag;
                    if builder {
                        let _oper = coro::chan::Select::new().select();
                    } else {
                        coro::select! {}
                    }
                })
            };
            rt.block_on(|| {
                settle();
                ping_pong(100);
            });
            let before = cpu_time_of_threads(&format!("{worker}-0"));
            std::thread::sleep(STILL_BLOCKED);
            let after = cpu_time_of_threads(&format!("{worker}-0"));
            if let (Some(before), Some(after)) = (before, after) {
                assert!(
                    after - before < STILL_BLOCKED / 2,
                    "the worker spun on a coroutine in an empty select: {:?} of CPU in {:?}",
                    after - before,
                    STILL_BLOCKED
                );
            }
            assert!(
                !blocked.is_finished(),
                "an empty select returned (or panicked)"
            );
            assert!(!unwound.load(Ordering::SeqCst));
            drop(rt);
            assert!(
                unwound.load(Ordering::SeqCst),
                "the runtime did not unwind it"
            );
            assert!(blocked.join().unwrap_err().is_cancelled());
        });
    }
}
