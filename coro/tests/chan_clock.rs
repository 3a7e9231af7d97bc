//! `after`, `at`, `tick` and `never`, as crossbeam-channel's suite checks
//! them (`tests/after.rs`, `tests/tick.rs`, `tests/never.rs` there), in our
//! own words. Times are only checked from below (a message never comes
//! before it is due), never from above: a loaded machine may be late.

mod chan_common;

use std::time::{Duration, Instant};

use chan_common::{both_test, go};
use coro::chan::{after, at, never, tick, unbounded, RecvTimeoutError, TryRecvError};

const MS: Duration = Duration::from_millis(1);
const LONG: Duration = Duration::from_secs(30);

both_test! {
    /// One message, the instant it was due, no earlier; then empty, never
    /// disconnected.
    fn after_fires_once() {
        let start = Instant::now();
        let r = after(20 * MS);
        assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
        let fired = r.recv().unwrap();
        assert!(fired >= start + 20 * MS, "fired before it was due");
        assert!(Instant::now() >= fired);
        assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(r.recv_timeout(MS), Err(RecvTimeoutError::Timeout));
        assert!(!r.is_disconnected());
        assert_eq!(r.capacity(), Some(1));
    }
}

#[test]
fn after_len_and_is_empty() {
    let r = after(Duration::ZERO);
    assert_eq!(r.len(), 1);
    assert!(!r.is_empty());
    assert!(r.is_full());
    r.try_recv().unwrap();
    assert_eq!(r.len(), 0);
    assert!(r.is_empty());
    let far = after(Duration::from_secs(3600));
    assert!(far.is_empty());
    // A duration too long to represent never comes.
    let never_due = after(Duration::MAX);
    assert_eq!(never_due.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn at_a_past_instant_is_ready() {
    let past = Instant::now();
    let r = at(past);
    assert_eq!(r.try_recv(), Ok(past));
}

both_test! {
    /// `after` as a select timeout: the timer arm wins over an idle
    /// channel, and not before it is due.
    fn after_as_a_select_arm() {
        let (_s, r) = unbounded::<i32>();
        let start = Instant::now();
        let timed_out = coro::select! {
            recv(r) -> _ => false,
            recv(after(10 * MS)) -> at => { assert!(at.unwrap() >= start + 10 * MS); true }
        };
        assert!(timed_out);
        // A message that comes first wins over a far timer.
        let (s, r) = unbounded::<i32>();
        let peer = go(move || s.send(1).unwrap());
        let got = coro::select! {
            recv(r) -> v => v.unwrap(),
            recv(after(LONG)) -> _ => panic!("the message never came"),
        };
        assert_eq!(got, 1);
        peer.join();
    }
}

both_test! {
    /// Many timers in one select: the earliest wins.
    fn the_earliest_timer_wins() {
        let timers: Vec<_> = (0..8u32).rev().map(|k| after(MS * (5 + 10 * k))).collect();
        let mut sel = coro::chan::Select::new();
        let idx: Vec<usize> = timers.iter().map(|t| sel.recv(t)).collect();
        let oper = sel.select();
        let i = oper.index();
        let k = idx.iter().position(|&x| x == i).unwrap();
        let _ = oper.recv(&timers[k]);
        assert_eq!(k, timers.len() - 1, "a later timer fired first");
    }
}

both_test! {
    /// A tick delivers one message per period, each due no earlier than a
    /// period after the one before.
    fn tick_delivers_periodically() {
        let start = Instant::now();
        let r = tick(5 * MS);
        let mut last = start;
        for _ in 0..5 {
            let t = r.recv().unwrap();
            assert!(t >= last + 5 * MS, "ticked early");
            last = t;
        }
        assert!(!r.is_disconnected());
    }
}

#[test]
fn tick_skips_missed_ticks() {
    let r = tick(MS);
    std::thread::sleep(20 * MS);
    let woke = Instant::now();
    // Twenty periods passed: one message waits (capacity one) ...
    assert_eq!(r.len(), 1);
    let first = r.try_recv().unwrap();
    assert!(first < woke);
    // ... and the next is due after it was taken, not one of the missed
    // ones (which were all due before `woke`).
    let second = r.recv().unwrap();
    assert!(second >= woke + MS, "a missed tick was queued");
}

both_test! {
    /// A tick in a select with a busy channel: both get chosen.
    fn tick_in_a_select() {
        let t = tick(MS);
        let (s, r) = unbounded::<()>();
        let mut ticks = 0;
        let mut msgs = 0;
        while ticks < 3 {
            let _ = s.send(());
            coro::select! {
                recv(t) -> _ => ticks += 1,
                recv(r) -> _ => msgs += 1,
            }
        }
        assert!(msgs > 0);
    }
}

both_test! {
    /// `never` is never ready and never disconnected.
    fn never_never_fires() {
        let r = never::<i32>();
        assert_eq!(r.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(r.recv_timeout(MS), Err(RecvTimeoutError::Timeout));
        assert!(!r.is_disconnected());
        let got = coro::select! {
            recv(r) -> _ => panic!("never fired"),
            recv(after(MS)) -> _ => 1,
        };
        assert_eq!(got, 1);
        let r2 = r.clone();
        drop(r);
        assert!(r2.is_empty());
        // `Option::unwrap_or(never())` disables an arm.
        let maybe: Option<coro::chan::Receiver<i32>> = std::hint::black_box(None);
        let v = coro::select! {
            recv(maybe.unwrap_or(never())) -> _ => 0,
            default(MS) => 2,
        };
        assert_eq!(v, 2);
    }
}
