//! A counting semaphore with FIFO hand-off.
//!
//! # State
//!
//! A count of available permits and a [`WaitList`] of requests (how many
//! permits each wants), both behind one `parking_lot` lock.
//!
//! # Fairness: permits are handed over in queue order
//!
//! An acquire takes permits at once only if *nobody is queued* and enough
//! are available; otherwise it queues. Whoever returns permits (a dropped
//! [`SemaphorePermit`], [`Semaphore::add_permits`]) adds them to the count
//! and then, still under the lock, grants requests from the front of the
//! queue for as long as the front one fits: it subtracts that request's
//! permits on its behalf and notifies it. The woken waiter owns its permits
//! when it runs; nobody can take them in between. So a request for many
//! permits at the front is never overtaken by smaller ones behind it (the
//! smaller ones wait too), which is what keeps it from starving; the cost is
//! that permits may sit unused while the front request accumulates them.
//! This is the queueing discipline of tokio's `batch_semaphore`.
//!
//! # Why no wake-up is lost
//!
//! Checking the count and queueing happen under the lock that every return
//! of permits takes before granting. A waiter that leaves (timeout, unwind)
//! returns any permits it was granted and re-runs the grant loop, since its
//! leaving may unblock the requests behind it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wait_list::{self, WaitList};
use crate::task::Waiter;

/// A counting semaphore: limits how many coroutines (or threads) use
/// something at once.
///
/// ```
/// use std::sync::Arc;
/// use coro::sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(2));
/// let handles: Vec<_> = (0..8)
///     .map(|_| {
///         let sem = Arc::clone(&sem);
///         coro::spawn(move || {
///             let _permit = sem.acquire(); // at most 2 in here at once
///             coro::sleep(std::time::Duration::from_millis(1));
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(sem.available_permits(), 2);
/// ```
pub struct Semaphore {
    state: parking_lot::Mutex<State>,
}

struct State {
    permits: usize,
    /// Queued requests: how many permits each wants.
    waiters: WaitList<usize>,
}

impl State {
    fn list(&mut self) -> &mut WaitList<usize> {
        &mut self.waiters
    }

    /// Grants queued requests, in order, while the front one fits; returns
    /// the waiters to wake.
    fn grant(&mut self) -> Vec<Waiter> {
        let mut woken = Vec::new();
        let permits = &mut self.permits;
        self.waiters.notify_while(&mut woken, |&mut want| {
            let fits = want <= *permits;
            if fits {
                *permits -= want;
            }
            fits
        });
        woken
    }

    fn give_back(&mut self, n: usize) -> Vec<Waiter> {
        self.permits = self
            .permits
            .checked_add(n)
            .expect("semaphore permit count overflow");
        self.grant()
    }
}

impl Semaphore {
    /// A semaphore with `permits` permits available.
    pub const fn new(permits: usize) -> Self {
        Semaphore {
            state: parking_lot::Mutex::new(State {
                permits,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Permits available now (a snapshot).
    pub fn available_permits(&self) -> usize {
        crate::budget::consume_budget();
        self.state.lock().permits
    }

    /// Adds `n` permits, waking queued requests they satisfy.
    ///
    /// # Panics
    /// If the count would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        let woken = self.state.lock().give_back(n);
        for w in woken {
            w.wake();
        }
    }

    /// Takes up to `n` available permits out of the semaphore for good, and
    /// returns how many it took. Queued requests are not affected, except
    /// that fewer permits remain for them.
    pub fn forget_permits(&self, n: usize) -> usize {
        let mut s = self.state.lock();
        let taken = n.min(s.permits);
        s.permits -= taken;
        taken
    }

    /// Acquires one permit, parking (or blocking) until one is available and
    /// every earlier request has been served.
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        self.acquire_many(1)
    }

    /// Acquires `n` permits at once; see [`acquire`](Self::acquire). Waits
    /// forever if the semaphore never holds `n` permits.
    pub fn acquire_many(&self, n: usize) -> SemaphorePermit<'_> {
        let acquired = self.acquire_inner(n, None);
        debug_assert!(acquired, "a wait without deadline returns notified");
        SemaphorePermit { sem: self, n }
    }

    /// Acquires one permit if one is available and nobody is queued.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire_many(1)
    }

    /// Acquires `n` permits if they are available and nobody is queued.
    pub fn try_acquire_many(&self, n: usize) -> Option<SemaphorePermit<'_>> {
        self.try_take(n).then(|| SemaphorePermit { sem: self, n })
    }

    /// As [`acquire`](Self::acquire), but gives up (`None`) once `timeout`
    /// has passed.
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.acquire_many_timeout(1, timeout)
    }

    /// As [`acquire_many`](Self::acquire_many), but gives up (`None`) once
    /// `timeout` has passed.
    pub fn acquire_many_timeout(&self, n: usize, timeout: Duration) -> Option<SemaphorePermit<'_>> {
        self.acquire_inner(n, Instant::now().checked_add(timeout))
            .then(|| SemaphorePermit { sem: self, n })
    }

    /// As [`acquire`](Self::acquire), with a permit that keeps the semaphore
    /// alive (to move into a spawned coroutine).
    pub fn acquire_owned(self: Arc<Self>) -> OwnedSemaphorePermit {
        let acquired = self.acquire_inner(1, None);
        debug_assert!(acquired, "a wait without deadline returns notified");
        OwnedSemaphorePermit { sem: self, n: 1 }
    }

    /// As [`try_acquire`](Self::try_acquire), with an owned permit.
    pub fn try_acquire_owned(self: Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.try_take(1)
            .then(|| OwnedSemaphorePermit { sem: self, n: 1 })
    }

    fn try_take(&self, n: usize) -> bool {
        crate::budget::consume_budget();
        let mut s = self.state.lock();
        if s.waiters.is_empty() && s.permits >= n {
            s.permits -= n;
            true
        } else {
            false
        }
    }

    /// Takes `n` permits, queueing if needed; false if `deadline` passed.
    fn acquire_inner(&self, n: usize, deadline: Option<Instant>) -> bool {
        crate::budget::consume_budget();
        let key = {
            let mut s = self.state.lock();
            if s.waiters.is_empty() && s.permits >= n {
                s.permits -= n;
                return true;
            }
            s.waiters.push_back(Waiter::current(), n)
        };
        wait_list::wait(&self.state, key, deadline, State::list, |s, given| {
            // Leaving: give back what we were granted, and let the requests
            // behind us through if we were what held them up.
            let woken = s.give_back(given.unwrap_or(0));
            for w in woken {
                w.wake();
            }
        })
        .is_some()
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.add_permits(n);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Semaphore")
            .field("permits", &s.permits)
            .field("waiters", &s.waiters.len())
            .finish()
    }
}

/// Permits taken from a [`Semaphore`]; returned to it when dropped.
#[must_use = "the permits are returned as soon as this is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.n = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

/// A permit of an `Arc<Semaphore>`; see [`Semaphore::acquire_owned`].
#[must_use = "the permit is returned as soon as this is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    n: usize,
}

impl OwnedSemaphorePermit {
    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }

    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// The semaphore these permits belong to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.release(self.n);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.n)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn counting_and_raii() {
        let s = Semaphore::new(3);
        let a = s.acquire_many(2);
        assert_eq!(a.num_permits(), 2);
        assert_eq!(s.available_permits(), 1);
        assert!(s.try_acquire_many(2).is_none());
        let b = s.try_acquire().expect("one left");
        assert!(s.try_acquire().is_none());
        drop(a);
        assert_eq!(s.available_permits(), 2);
        b.forget();
        assert_eq!(s.available_permits(), 2);
        s.add_permits(3);
        assert_eq!(s.available_permits(), 5);
        assert_eq!(s.forget_permits(10), 5);
        assert_eq!(s.available_permits(), 0);
        assert!(s.acquire_timeout(Duration::from_millis(2)).is_none());
        assert!(s.state.lock().waiters.is_empty());
        // Zero permits are always available.
        let z = s.acquire_many(0);
        assert_eq!(z.num_permits(), 0);
    }

    #[test]
    fn a_big_request_is_not_overtaken() {
        let s = Arc::new(Semaphore::new(1));
        let one = s.acquire();
        let s2 = Arc::clone(&s);
        let big = thread::spawn(move || s2.acquire_many(3).forget());
        while s.state.lock().waiters.is_empty() {
            thread::yield_now();
        }
        // Queued behind the big request: no barging, even with a permit free.
        s.add_permits(1);
        assert!(s.try_acquire().is_none());
        s.add_permits(1);
        drop(one); // three now: the big request gets them all
        big.join().unwrap();
        assert_eq!(s.available_permits(), 0);
    }

    #[test]
    fn a_timed_out_front_request_lets_the_others_through() {
        let s = Arc::new(Semaphore::new(1));
        let held = s.acquire();
        let s2 = Arc::clone(&s);
        // A request for 2 that will time out, ahead of one for 1.
        let big = thread::spawn(move || {
            s2.acquire_many_timeout(2, Duration::from_millis(20))
                .is_some()
        });
        while s.state.lock().waiters.is_empty() {
            thread::yield_now();
        }
        let s3 = Arc::clone(&s);
        let small = thread::spawn(move || drop(s3.acquire()));
        while s.state.lock().waiters.len() < 2 {
            thread::yield_now();
        }
        s.add_permits(1); // one free, but the front wants two
        assert!(!big.join().unwrap(), "the big request cannot be served");
        small.join().unwrap(); // served as soon as the big one left
        drop(held);
        assert_eq!(s.available_permits(), 2);
    }
}
