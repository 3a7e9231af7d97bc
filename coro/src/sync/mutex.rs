//! A mutual-exclusion lock that parks coroutines and blocks threads.
//!
//! # State
//!
//! One `AtomicU8` and a [`WaitList`] behind a `parking_lot` lock (the
//! *queue lock*):
//!
//! * `LOCKED`: somebody holds the mutex. Set by a locker's CAS when it was
//!   clear, or left set by an unlocker that hands the mutex to a waiter.
//!   Cleared by the unlocker otherwise.
//! * `PARKED`: the wait list may be non-empty, so an unlock must take the
//!   slow path. Set by a locker under the queue lock, only while `LOCKED` is
//!   set (checked in the same CAS); cleared under the queue lock by whoever
//!   empties the list.
//!
//! Uncontended, [`Mutex::lock`] is one CAS (`0 -> LOCKED`) and the guard's
//! drop another (`LOCKED -> 0`); the queue lock is never touched.
//!
//! # Contention: barging, then hand-off
//!
//! The scheme is Go's `sync.Mutex` (`src/sync/mutex.go`, "Mutex fairness"),
//! in the shape of `parking_lot`'s `RawMutex`. A locker that finds the mutex
//! held spins briefly ([`SPIN_ROUNDS`]) while nobody is queued, then queues
//! itself and parks. An unlock that sees `PARKED` takes the queue lock and
//! pops the front waiter:
//!
//! * *normal mode*: it clears `LOCKED` and wakes the waiter, which must then
//!   compete for the mutex with lockers that arrive meanwhile (and usually
//!   lose to one that is already running: that is the throughput of normal
//!   mode). A waiter that loses goes back to the *front* of the queue and
//!   keeps the time it first queued;
//! * *hand-off* (Go's starvation mode): if the front waiter has been waiting
//!   longer than [`STARVATION_THRESHOLD`], the unlocker leaves `LOCKED` set
//!   and gives the mutex to that waiter directly. Nobody can barge in, so no
//!   waiter waits much longer than the threshold plus the critical sections
//!   ahead of it.
//!
//! # Why no wake-up is lost
//!
//! A locker sets `PARKED` (in a CAS that also checks `LOCKED` is still set)
//! and pushes its entry, all under the queue lock, before it parks. The
//! holder's unlock CAS `LOCKED -> 0` then fails, so the unlocker takes the
//! queue lock, which orders it after the push, and finds the waiter. If the
//! mutex was released before the CAS, the locker sees `LOCKED` clear and
//! retries instead of queueing. A wake that reaches the waiter before it
//! parks is kept (see [`crate::task::Waiter`]).
//!
//! A waiter that leaves by unwinding (its runtime was dropped) passes on
//! what it was given: the mutex itself after a hand-off, or the duty to
//! compete for it after a normal wake (see `abandon`).

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::wait_list::{self, WaitList};
use crate::task::Waiter;

/// Somebody holds the mutex.
const LOCKED: u8 = 1 << 0;
/// Somebody may be queued; unlock takes the slow path.
const PARKED: u8 = 1 << 1;

/// How long the front waiter may wait before an unlock hands the mutex to
/// it directly instead of letting newcomers barge (Go's
/// `starvationThresholdNs`).
pub const STARVATION_THRESHOLD: Duration = Duration::from_millis(1);

/// Rounds of busy-waiting (1, 2, 4, ... `spin_loop` hints) a locker spends
/// on a held mutex while nobody is queued, before it parks. Short: a
/// coroutine that spins keeps every other coroutine of its worker waiting.
const SPIN_ROUNDS: u32 = 3;

/// What a queued locker is, and what its unlocker gave it.
#[derive(Debug)]
struct Waiting {
    /// When the locker first queued; starvation is measured from here.
    since: Instant,
    /// The unlocker left `LOCKED` set for this waiter: it owns the mutex.
    handoff: bool,
}

/// The lock without the data.
struct RawMutex {
    state: AtomicU8,
    queue: parking_lot::Mutex<WaitList<Waiting>>,
}

impl RawMutex {
    const fn new() -> Self {
        RawMutex {
            state: AtomicU8::new(0),
            queue: parking_lot::Mutex::new(WaitList::new()),
        }
    }

    #[inline]
    fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                s,
                s | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Releases the mutex. The caller must hold it.
    #[inline]
    fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow();
        }
    }

    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spins = 0;
        let mut since = None;
        let mut requeue = false;
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & LOCKED == 0 {
                if self
                    .state
                    .compare_exchange_weak(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
                continue;
            }
            if s & PARKED == 0 && spins < SPIN_ROUNDS {
                for _ in 0..1u32 << spins {
                    std::hint::spin_loop();
                }
                spins += 1;
                continue;
            }

            let mut queue = self.queue.lock();
            if !self.announce_waiter() {
                continue; // released meanwhile: compete again
            }
            let waiting = Waiting {
                since: *since.get_or_insert_with(Instant::now),
                handoff: false,
            };
            let key = if requeue {
                queue.push_front(Waiter::current(), waiting)
            } else {
                queue.push_back(Waiter::current(), waiting)
            };
            drop(queue);
            let given = wait_list::wait(
                &self.queue,
                key,
                None,
                |q| q,
                |q, given| self.abandon(q, given),
            )
            .expect("a wait without deadline returns notified");
            if given.handoff {
                return;
            }
            // Woken to compete; if we lose, we go back to the front.
            requeue = true;
            spins = 0;
        }
    }

    /// Sets `PARKED` if the mutex is still held. Under the queue lock.
    /// Returns false if it was released (the caller must not queue).
    fn announce_waiter(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & LOCKED == 0 {
                return false;
            }
            if s & PARKED != 0 {
                return true;
            }
            match self.state.compare_exchange_weak(
                s,
                s | PARKED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut queue = self.queue.lock();
        let next = self.release(&mut queue);
        drop(queue);
        if let Some(w) = next {
            w.wake();
        }
    }

    /// Releases the mutex the caller holds, to the front waiter if there is
    /// one (see the module docs for the two modes). Under the queue lock;
    /// returns the waiter to wake.
    ///
    /// While `LOCKED` is set and the queue lock is held, nobody else changes
    /// the state (lockers' CASes expect `LOCKED` clear, `PARKED` changes
    /// under the queue lock), so plain stores suffice.
    fn release(&self, queue: &mut WaitList<Waiting>) -> Option<Waiter> {
        let Some(front) = queue.front_mut() else {
            self.state.store(0, Ordering::Release);
            return None;
        };
        let handoff = front.since.elapsed() >= STARVATION_THRESHOLD;
        front.handoff = handoff;
        let waiter = queue.notify_front();
        let parked = if queue.is_empty() { 0 } else { PARKED };
        let next = if handoff { LOCKED | parked } else { parked };
        // On a hand-off, the new owner synchronizes through the queue lock.
        self.state.store(next, Ordering::Release);
        waiter
    }

    /// A queued locker leaves by unwinding; see [`wait_list::wait`].
    fn abandon(&self, queue: &mut WaitList<Waiting>, given: Option<Waiting>) {
        match given {
            // Still queued: if it was the last, unlock needs no slow path.
            None => {
                if queue.is_empty() {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            }
            // Handed the mutex: release it to the next waiter.
            Some(Waiting { handoff: true, .. }) => {
                if let Some(w) = self.release(queue) {
                    w.wake();
                }
            }
            // Woken to compete: compete, so that the wake passes on to the
            // next waiter rather than being lost. If someone else holds the
            // mutex, their unlock wakes the next one.
            Some(Waiting { handoff: false, .. }) => {
                let s = self.state.load(Ordering::Relaxed);
                if s & LOCKED == 0
                    && self
                        .state
                        .compare_exchange(s, s | LOCKED, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                {
                    if let Some(w) = self.release(queue) {
                        w.wake();
                    }
                }
            }
        }
    }
}

/// A mutual-exclusion lock for coroutines and threads.
///
/// [`lock`](Self::lock) parks a coroutine (its worker runs other coroutines
/// meanwhile) and blocks a plain thread; both may share one mutex. A guard
/// may be held across suspension points (a [`sleep`](crate::sleep), a
/// channel operation): a coroutine never changes threads.
///
/// Uncontended, locking and unlocking cost one atomic compare-and-swap each.
/// Under contention the mutex favours throughput, but a waiter that has
/// waited longer than [`STARVATION_THRESHOLD`] is handed the lock directly,
/// so none starves. See the module source docs for the algorithm.
///
/// Unlike `std::sync::Mutex` there is no poisoning: a panic while the lock
/// is held just releases it. Locking a mutex the caller already holds
/// deadlocks.
///
/// ```
/// use std::sync::Arc;
/// use coro::sync::Mutex;
///
/// let counter = Arc::new(Mutex::new(0));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         coro::spawn(move || *counter.lock() += 1)
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.lock(), 10);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out `&mut T` to one guard at a time (the `LOCKED`
// bit), so sharing it between threads only ever moves `T`'s use from one
// thread to another: `T: Send` suffices, as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    /// A new unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Mutex {
            raw: RawMutex::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns its value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, parking the coroutine (or blocking the thread)
    /// until it is available.
    #[inline]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        crate::budget::consume_budget();
        self.raw.lock();
        MutexGuard::new(self)
    }

    /// Acquires the mutex if it is free right now.
    #[inline]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        crate::budget::consume_budget();
        self.raw.try_lock().then(|| MutexGuard::new(self))
    }

    /// Whether somebody holds the mutex (a snapshot, for diagnostics).
    pub fn is_locked(&self) -> bool {
        crate::budget::consume_budget();
        self.raw.is_locked()
    }

    /// The value, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
///
/// Not `Send`, like `std`'s guard (though a coroutine may hold it across
/// suspensions: it never changes threads).
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    pub(super) mutex: &'a Mutex<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives out `&T`, so it may be shared between
// threads exactly when `T` may.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    fn new(mutex: &'a Mutex<T>) -> Self {
        MutexGuard {
            mutex,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while its holder owns the lock, so
        // no `&mut T` is handed out elsewhere.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while its holder owns the lock, so
        // no other borrow of the data exists outside this guard, and `&mut
        // self` makes this one unique within it.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.raw.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn lock_try_lock_and_into_inner() {
        let mut m = Mutex::new(vec![1]);
        m.lock().push(2);
        {
            let g = m.try_lock().expect("free");
            assert!(m.is_locked());
            assert!(m.try_lock().is_none());
            assert_eq!(*g, [1, 2]);
        }
        assert!(!m.is_locked());
        m.get_mut().push(3);
        assert_eq!(format!("{m:?}"), "Mutex { data: [1, 2, 3], .. }");
        let g = m.lock();
        assert_eq!(format!("{:?}", m), "Mutex { data: <locked>, .. }");
        drop(g);
        assert_eq!(m.into_inner(), [1, 2, 3]);
    }

    #[test]
    fn unsized_data() {
        let m: &Mutex<[u32]> = &Mutex::new([1, 2, 3]);
        m.lock()[1] = 5;
        assert_eq!(&*m.lock(), &[1, 5, 3]);
    }

    #[test]
    fn threads_contend_and_the_state_ends_clean() {
        const THREADS: usize = 4;
        const ITERS: usize = 5_000;
        let m = Arc::new(Mutex::new(0usize));
        let ts: Vec<_> = (0..THREADS)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    for _ in 0..ITERS {
                        *m.lock() += 1;
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), THREADS * ITERS);
        assert_eq!(m.raw.state.load(Ordering::Relaxed), 0);
        assert!(m.raw.queue.lock().is_empty());
    }

    #[test]
    fn a_starving_waiter_is_handed_the_lock() {
        let m = Arc::new(Mutex::new(Vec::new()));
        let mut g = m.lock();
        let m2 = Arc::clone(&m);
        let t = thread::spawn(move || m2.lock().push("thread"));
        // Wait until the thread is queued, then let it starve past the
        // threshold.
        while m.raw.queue.lock().is_empty() {
            thread::yield_now();
        }
        thread::sleep(STARVATION_THRESHOLD * 2);
        g.push("first");
        drop(g);
        // Handed off: `LOCKED` stayed set for the thread, so this lock
        // cannot barge in ahead of it, however fast it comes.
        m.lock().push("main");
        t.join().unwrap();
        assert_eq!(*m.lock(), ["first", "thread", "main"]);
        assert_eq!(m.raw.state.load(Ordering::Relaxed), 0);
    }
}
