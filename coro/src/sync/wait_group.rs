//! Go's `sync.WaitGroup`: wait for a counter of outstanding work to reach
//! zero.
//!
//! # State
//!
//! One `AtomicU64`, so that [`WaitGroup::add`] and [`WaitGroup::done`] are a
//! single CAS each, and a [`WaitList`] behind a `parking_lot` lock:
//!
//! ```text
//!  63            32 31                 1    0
//! +----------------+--------------------+---------+
//! | counter (i32)  | generation (31 b.) | WAITERS |
//! +----------------+--------------------+---------+
//! ```
//!
//! * counter: outstanding work. Changed by `add`/`done`; never negative (an
//!   `add` that would make it so panics and changes nothing).
//! * `WAITERS`: somebody may be queued. Set by [`WaitGroup::wait`] under the
//!   list lock, only while the counter is not zero (one CAS checks both).
//!   Cleared by the `add` that brings the counter to zero.
//! * generation: bumped by that same `add`, in the same CAS. Each queued
//!   entry records the generation it waited in.
//!
//! # Waking
//!
//! The `add` whose CAS took the counter to zero with `WAITERS` set then
//! takes the list lock and wakes every entry of its generation or older.
//! A waiter queues only after its CAS saw the counter non-zero, under the
//! list lock, so the `add` that zeroes the counter later (its CAS fails
//! until it sees `WAITERS`) finds the entry. Tagging entries with their
//! generation keeps a reuse of the group from waking the next round's
//! waiters early: if the counter goes up again before that `add` got the
//! lock, new waiters queue under the next generation and stay asleep.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::wait_list::{self, WaitList};
use crate::task::Waiter;

/// Somebody may be queued.
const WAITERS: u64 = 1;
/// Shift and mask of the generation.
const GEN_SHIFT: u32 = 1;
const GEN_MASK: u32 = (1 << 31) - 1;
/// Shift of the counter.
const COUNT_SHIFT: u32 = 32;

fn count(s: u64) -> i64 {
    i64::from((s >> COUNT_SHIFT) as u32 as i32)
}

fn generation(s: u64) -> u32 {
    (s >> GEN_SHIFT) as u32 & GEN_MASK
}

fn pack(count: i64, generation: u32, waiters: bool) -> u64 {
    (u64::from(count as u32) << COUNT_SHIFT)
        | (u64::from(generation & GEN_MASK) << GEN_SHIFT)
        | u64::from(waiters)
}

/// Whether generation `a` is `b` or older (modulo wrap-around).
fn not_after(a: u32, b: u32) -> bool {
    b.wrapping_sub(a) & GEN_MASK < (GEN_MASK >> 1)
}

/// Waits for a collection of coroutines (or threads) to finish: Go's
/// `sync.WaitGroup`.
///
/// [`add`](Self::add) counts work to wait for, [`done`](Self::done) marks
/// one piece finished, [`wait`](Self::wait) parks until the count is zero.
/// A group may be reused once its waits returned.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use coro::sync::WaitGroup;
///
/// let wg = Arc::new(WaitGroup::new());
/// let sum = Arc::new(AtomicUsize::new(0));
/// for i in 0..100 {
///     wg.add(1);
///     let (wg, sum) = (Arc::clone(&wg), Arc::clone(&sum));
///     coro::spawn(move || {
///         sum.fetch_add(i, Ordering::Relaxed);
///         wg.done();
///     });
/// }
/// wg.wait();
/// assert_eq!(sum.load(Ordering::Relaxed), 4950);
/// ```
pub struct WaitGroup {
    state: AtomicU64,
    /// Queued waiters, tagged with their generation.
    waiters: parking_lot::Mutex<WaitList<u32>>,
}

impl WaitGroup {
    /// A group with a count of zero.
    pub const fn new() -> Self {
        WaitGroup {
            state: AtomicU64::new(0),
            waiters: parking_lot::Mutex::new(WaitList::new()),
        }
    }

    /// Adds `delta` (which may be negative) to the count; when it reaches
    /// zero, every [`wait`](Self::wait) returns.
    ///
    /// # Panics
    /// If the count would become negative, or exceed `i32::MAX`; the count
    /// is left unchanged then.
    pub fn add(&self, delta: isize) {
        let delta = i64::try_from(delta).unwrap_or(i64::MAX);
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let c = count(s).saturating_add(delta);
            assert!(c >= 0, "negative WaitGroup counter");
            assert!(c <= i64::from(i32::MAX), "WaitGroup counter overflow");
            let wake = c == 0 && s & WAITERS != 0;
            let next = if wake {
                pack(0, generation(s).wrapping_add(1), false)
            } else {
                pack(c, generation(s), s & WAITERS != 0)
            };
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    if wake {
                        self.wake_up_to(generation(s));
                    }
                    return;
                }
                Err(now) => s = now,
            }
        }
    }

    /// Marks one piece of work finished: `add(-1)`.
    ///
    /// # Panics
    /// If the count is zero.
    pub fn done(&self) {
        self.add(-1);
    }

    /// The count now (a snapshot).
    pub fn count(&self) -> usize {
        crate::budget::consume_budget();
        count(self.state.load(Ordering::Relaxed)) as usize
    }

    /// Parks the coroutine (or blocks the thread) until the count is zero.
    /// Returns at once if it is zero already.
    pub fn wait(&self) {
        crate::budget::consume_budget();
        if count(self.state.load(Ordering::Acquire)) == 0 {
            return;
        }
        let key = {
            let mut list = self.waiters.lock();
            let mut s = self.state.load(Ordering::Acquire);
            loop {
                if count(s) == 0 {
                    return;
                }
                if s & WAITERS != 0 {
                    break;
                }
                match self.state.compare_exchange_weak(
                    s,
                    s | WAITERS,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        s |= WAITERS;
                        break;
                    }
                    Err(now) => s = now,
                }
            }
            list.push_back(Waiter::current(), generation(s))
        };
        // Leaving early needs nothing: the waker just finds one fewer entry.
        wait_list::wait(&self.waiters, key, None, |l| l, |_, _| {});
        // The `add` that woke us released its writes through the list lock,
        // which `wait` took after it.
    }

    /// Wakes every entry of generation `done` or older.
    fn wake_up_to(&self, done: u32) {
        let mut woken = Vec::new();
        self.waiters
            .lock()
            .notify_while(&mut woken, |&mut g| not_after(g, done));
        for w in woken {
            w.wake();
        }
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn packing() {
        for c in [0, 1, 5, i64::from(i32::MAX)] {
            for g in [0, 1, GEN_MASK] {
                for w in [false, true] {
                    let s = pack(c, g, w);
                    assert_eq!((count(s), generation(s), s & WAITERS != 0), (c, g, w));
                }
            }
        }
        assert!(not_after(5, 5));
        assert!(not_after(4, 5));
        assert!(!not_after(6, 5));
        assert!(not_after(GEN_MASK, 0), "wraps");
        assert!(!not_after(0, GEN_MASK));
    }

    #[test]
    fn counts_and_panics_on_negative() {
        let wg = WaitGroup::new();
        wg.wait();
        wg.add(3);
        wg.done();
        assert_eq!(wg.count(), 2);
        wg.add(-2);
        assert_eq!(wg.count(), 0);
        let r = panic::catch_unwind(AssertUnwindSafe(|| wg.done()));
        assert!(r.is_err());
        assert_eq!(wg.count(), 0, "unchanged by the panicking call");
        let r = panic::catch_unwind(AssertUnwindSafe(|| wg.add(isize::MAX)));
        assert!(r.is_err());
        wg.wait();
    }

    #[test]
    fn threads_wait_and_the_group_is_reusable() {
        let wg = Arc::new(WaitGroup::new());
        for round in 0..50 {
            wg.add(4);
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let wg = Arc::clone(&wg);
                    thread::spawn(move || wg.wait())
                })
                .collect();
            for _ in 0..4 {
                let wg = Arc::clone(&wg);
                thread::spawn(move || wg.done());
            }
            for w in waiters {
                w.join().unwrap();
            }
            assert_eq!(wg.count(), 0, "round {round}");
        }
        assert!(wg.waiters.lock().is_empty());
    }

    #[test]
    fn a_new_round_does_not_wake_early() {
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let wg2 = Arc::clone(&wg);
        let early = thread::spawn(move || wg2.wait());
        while wg.waiters.lock().is_empty() {
            thread::yield_now();
        }
        let gen0 = generation(wg.state.load(Ordering::Relaxed));
        let late = {
            // Hold the list lock so the zeroing `add` cannot wake yet.
            let mut list = wg.waiters.lock();
            let wg3 = Arc::clone(&wg);
            let zeroer = thread::spawn(move || wg3.done());
            while generation(wg.state.load(Ordering::Relaxed)) == gen0 {
                thread::yield_now();
            }
            // The next round starts, and a waiter of it queues, before the
            // zeroing `add` got the lock.
            wg.add(1);
            let s = wg.state.fetch_or(WAITERS, Ordering::Relaxed);
            let late = list.push_back(Waiter::current(), generation(s));
            drop(list);
            zeroer.join().unwrap();
            late
        };
        early.join().unwrap();
        // The late entry is still queued.
        assert_eq!(wg.waiters.lock().take_notified(late), None);
        wg.done();
        assert_eq!(wg.waiters.lock().take_notified(late), Some(gen0 + 1));
    }
}
