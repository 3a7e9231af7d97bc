//! A condition variable for [`Mutex`].
//!
//! A [`Condvar`] is a [`WaitList`] and nothing else. [`Condvar::wait`]
//! pushes the caller's entry *before* it unlocks the mutex, so a notifier
//! that takes the mutex after that (as it must, to change the condition)
//! finds the entry: no notification sent after the waiter checked the
//! condition is lost. The notifier unlinks entries and wakes their waiters;
//! a waiter returns only once its own entry was notified (or timed out), so
//! this condvar has no spurious wake-ups, although code should loop on its
//! condition anyway ([`Condvar::wait_while`]), as with any condvar.
//!
//! A waiter that leaves by unwinding after it was notified by
//! [`notify_one`](Condvar::notify_one) passes the notification on to the
//! next waiter.
//!
//! `notify_all` wakes every waiter, which then contend for the mutex; there
//! is no requeueing onto the mutex's queue (`parking_lot` does that), since
//! the mutex hands itself to a waiter that starves anyway.

use std::fmt;
use std::time::{Duration, Instant};

use super::mutex::{Mutex, MutexGuard};
use super::wait_list::{self, WaitList};
use crate::task::Waiter;

/// Waits for a condition on data behind a [`Mutex`]; the `std::sync::Condvar`
/// of this crate, for coroutines and threads alike.
///
/// ```
/// use std::sync::Arc;
/// use coro::sync::{Condvar, Mutex};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let pair2 = Arc::clone(&pair);
/// coro::spawn(move || {
///     let (ready, cv) = &*pair2;
///     *ready.lock() = true;
///     cv.notify_one();
/// });
/// let (ready, cv) = &*pair;
/// let guard = cv.wait_while(ready.lock(), |ready| !*ready);
/// assert!(*guard);
/// ```
#[derive(Default)]
pub struct Condvar {
    waiters: parking_lot::Mutex<WaitList<()>>,
}

/// Whether a timed wait on a [`Condvar`] returned because its time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because the timeout elapsed (for the `_while`
    /// variants: with the condition still true).
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

impl Condvar {
    /// A condvar with nobody waiting.
    pub const fn new() -> Self {
        Condvar {
            waiters: parking_lot::Mutex::new(WaitList::new()),
        }
    }

    /// Unlocks the mutex of `guard`, waits until notified, and locks it
    /// again.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until_inner(guard, None).0
    }

    /// Waits until `condition` is false, checking it first, then after every
    /// notification, with the mutex locked each time.
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// As [`wait`](Self::wait), but gives up once `timeout` has passed.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        self.wait_until_inner(guard, Instant::now().checked_add(timeout))
    }

    /// As [`wait_while`](Self::wait_while), but gives up once `timeout` has
    /// passed with the condition still true.
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult)
    where
        F: FnMut(&mut T) -> bool,
    {
        let deadline = Instant::now().checked_add(timeout);
        while condition(&mut *guard) {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return (guard, WaitTimeoutResult(true));
            }
            guard = self.wait_until_inner(guard, deadline).0;
        }
        (guard, WaitTimeoutResult(false))
    }

    fn wait_until_inner<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
    ) -> (MutexGuard<'a, T>, WaitTimeoutResult) {
        let mutex: &'a Mutex<T> = guard.mutex;
        // Queue first, then unlock: see the module docs.
        let key = self.waiters.lock().push_back(Waiter::current(), ());
        drop(guard);
        let notified = wait_list::wait(
            &self.waiters,
            key,
            deadline,
            |l| l,
            |l, given| {
                // Leaving with a `notify_one` in hand: hand it on.
                if given.is_some() {
                    if let Some(w) = l.notify_front() {
                        w.wake();
                    }
                }
            },
        );
        (mutex.lock(), WaitTimeoutResult(notified.is_none()))
    }

    /// Wakes one waiter, the one that has waited longest, if any.
    pub fn notify_one(&self) {
        crate::budget::consume_budget();
        let waiter = self.waiters.lock().notify_front();
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        crate::budget::consume_budget();
        let waiters = self.waiters.lock().notify_all();
        for w in waiters {
            w.wake();
        }
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar")
            .field("waiters", &self.waiters.lock().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn threads_ping_pong() {
        const ROUNDS: u32 = 1_000;
        let state = Arc::new((Mutex::new(0u32), Condvar::new()));
        let s2 = Arc::clone(&state);
        let t = thread::spawn(move || {
            let (m, cv) = &*s2;
            for i in 0..ROUNDS {
                let mut g = cv.wait_while(m.lock(), |n| *n != 2 * i + 1);
                *g += 1;
                cv.notify_all();
            }
        });
        let (m, cv) = &*state;
        for i in 0..ROUNDS {
            let mut g = cv.wait_while(m.lock(), |n| *n != 2 * i);
            *g += 1;
            cv.notify_one();
        }
        t.join().unwrap();
        assert_eq!(*m.lock(), 2 * ROUNDS);
        assert!(cv.waiters.lock().is_empty());
    }

    #[test]
    fn wait_timeout_times_out_and_leaves_no_entry() {
        let m = Mutex::new(());
        let cv = Condvar::new();
        let start = Instant::now();
        let (g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(10));
        drop(g);
        assert!(r.timed_out());
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert!(cv.waiters.lock().is_empty());
        let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_millis(5), |_| true);
        drop(g);
        assert!(r.timed_out());
        let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_millis(5), |_| false);
        drop(g);
        assert!(!r.timed_out());
    }

    #[test]
    fn notify_without_waiters_is_not_remembered() {
        let m = Mutex::new(());
        let cv = Condvar::new();
        cv.notify_one();
        cv.notify_all();
        let (g, r) = cv.wait_timeout(m.lock(), Duration::from_millis(1));
        drop(g);
        assert!(r.timed_out());
    }
}
