//! A reader-writer lock with FIFO hand-off, so writers don't starve.
//!
//! # State
//!
//! One `AtomicUsize` and a [`WaitList`] of queued readers and writers
//! behind a `parking_lot` lock (the *queue lock*):
//!
//! ```text
//!  usize::BITS-1            2     1        0
//! +--------------------------+--------+--------+
//! |      reader count        | PARKED | WRITER |
//! +--------------------------+--------+--------+
//! ```
//!
//! * `WRITER`: a writer holds the lock. Set by a writer's CAS from `0`, or
//!   by a releaser that hands the lock to a queued writer.
//! * reader count: readers holding the lock. Raised by a reader's CAS while
//!   neither `WRITER` nor `PARKED` is set, or by a releaser on behalf of
//!   queued readers; lowered by each reader's release.
//! * `PARKED`: somebody is queued. Set by a locker under the queue lock (in a
//!   CAS that also checks the lock is still held); cleared under the queue
//!   lock by whoever empties the queue.
//!
//! Uncontended, `read` and `write` are one CAS each, and so are their
//! releases (a read release is a `fetch_sub`).
//!
//! # Fairness
//!
//! While anybody is queued (`PARKED`), nobody takes the lock on the fast
//! path: new readers queue behind a waiting writer instead of joining the
//! readers inside, so a stream of readers cannot starve a writer (and
//! writers, queued in order, cannot starve readers). Every release that
//! sees `PARKED` takes the queue lock and *grants* the lock to the front of
//! the queue if it can: to a writer when nobody holds it, or to the run of
//! readers at the front when no writer holds it. Granting sets `WRITER` or
//! adds the readers to the count *on the waiters' behalf*, before waking
//! them, so they own the lock when they run (a hand-off; nobody can barge
//! in between). A [`RwLockWriteGuard::downgrade`] grants the front readers
//! too.
//!
//! # Why no wake-up is lost
//!
//! A locker sets `PARKED` and queues in one hold of the queue lock, with a
//! CAS that fails if the lock was released meanwhile. Once `PARKED` is set,
//! the release that frees the lock (the last reader's `fetch_sub` sees it,
//! a writer's CAS from `WRITER` fails on it) takes the queue lock after the
//! locker let go of it, and grants. A waiter that leaves (unwinding) returns
//! the lock if it was granted, and re-runs the grant, since its leaving may
//! unblock the waiters behind it.
//!
//! Like any writer-preferring lock, taking a read lock while the same
//! coroutine already holds one can deadlock if a writer queued in between.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::wait_list::{self, WaitList};
use crate::task::Waiter;

/// A writer holds the lock.
const WRITER: usize = 1 << 0;
/// Somebody is queued; nobody takes the fast path.
const PARKED: usize = 1 << 1;
/// One reader in the count.
const ONE_READER: usize = 1 << 2;
/// The reader count's bits.
const READERS: usize = !(WRITER | PARKED);

/// What a queued locker wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Read,
    Write,
}

struct RawRwLock {
    state: AtomicUsize,
    queue: parking_lot::Mutex<WaitList<Want>>,
}

impl RawRwLock {
    const fn new() -> Self {
        RawRwLock {
            state: AtomicUsize::new(0),
            queue: parking_lot::Mutex::new(WaitList::new()),
        }
    }

    #[inline]
    fn try_read(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & (WRITER | PARKED) != 0 {
                return false;
            }
            let next = s.checked_add(ONE_READER).expect("too many readers");
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    #[inline]
    fn try_write(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    #[inline]
    fn read(&self) {
        if !self.try_read() {
            self.lock_slow(Want::Read);
        }
    }

    #[inline]
    fn write(&self) {
        if !self.try_write() {
            self.lock_slow(Want::Write);
        }
    }

    #[cold]
    fn lock_slow(&self, want: Want) {
        let key = {
            let mut queue = self.queue.lock();
            let mut s = self.state.load(Ordering::Relaxed);
            loop {
                let free = match want {
                    Want::Read => s & (WRITER | PARKED) == 0,
                    Want::Write => s == 0,
                };
                let next = if free {
                    match want {
                        Want::Read => s.checked_add(ONE_READER).expect("too many readers"),
                        Want::Write => WRITER,
                    }
                } else if s & PARKED == 0 {
                    s | PARKED
                } else {
                    break;
                };
                match self.state.compare_exchange_weak(
                    s,
                    next,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if free => return,
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            }
            queue.push_back(Waiter::current(), want)
        };
        // Notified means granted: the lock is ours (through the queue lock).
        wait_list::wait(
            &self.queue,
            key,
            None,
            |q| q,
            |q, given| {
                match given {
                    Some(Want::Read) => {
                        self.state.fetch_sub(ONE_READER, Ordering::Release);
                    }
                    Some(Want::Write) => {
                        self.state.fetch_and(!WRITER, Ordering::Release);
                    }
                    None => {}
                }
                for w in self.grant(q) {
                    w.wake();
                }
            },
        );
    }

    #[inline]
    fn unlock_read(&self) {
        let prev = self.state.fetch_sub(ONE_READER, Ordering::Release);
        debug_assert!(prev & READERS != 0, "read unlock without readers");
        if prev & (READERS | PARKED) == ONE_READER | PARKED {
            self.unlock_slow();
        }
    }

    #[inline]
    fn unlock_write(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            let mut queue = self.queue.lock();
            self.state.fetch_and(!WRITER, Ordering::Release);
            let woken = self.grant(&mut queue);
            drop(queue);
            for w in woken {
                w.wake();
            }
        }
    }

    /// Turns the caller's write lock into a read lock.
    fn downgrade(&self) {
        let mut queue = self.queue.lock();
        // WRITER -> one reader, in one step: nobody can slip in between.
        self.state
            .fetch_add(ONE_READER.wrapping_sub(WRITER), Ordering::Release);
        let woken = self.grant(&mut queue);
        drop(queue);
        for w in woken {
            w.wake();
        }
    }

    #[cold]
    fn unlock_slow(&self) {
        let mut queue = self.queue.lock();
        let woken = self.grant(&mut queue);
        drop(queue);
        for w in woken {
            w.wake();
        }
    }

    /// Grants the lock to the front of the queue if it can (see the module
    /// docs); returns the waiters to wake. Under the queue lock.
    ///
    /// With `PARKED` set, the only state changes outside the queue lock are
    /// releases, so the `fetch_*` below compose with them.
    fn grant(&self, queue: &mut WaitList<Want>) -> Vec<Waiter> {
        let mut woken = Vec::new();
        let s = self.state.load(Ordering::Acquire);
        match queue.front() {
            Some(Want::Write) if s & (WRITER | READERS) == 0 => {
                woken.extend(queue.notify_front());
                self.state.fetch_or(WRITER, Ordering::Acquire);
            }
            Some(Want::Read) if s & WRITER == 0 => {
                queue.notify_while(&mut woken, |w| *w == Want::Read);
                self.state
                    .fetch_add(ONE_READER * woken.len(), Ordering::Acquire);
            }
            // Nobody queued, or the front must wait for the holders.
            _ => {}
        }
        if queue.is_empty() {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        woken
    }
}

/// A reader-writer lock for coroutines and threads: many readers or one
/// writer at a time.
///
/// Blocking calls park a coroutine and block a thread. Under contention the
/// lock is handed over in arrival order, runs of readers together, so
/// neither writers nor readers starve (see the module source docs). No
/// poisoning.
///
/// ```
/// use coro::sync::RwLock;
///
/// let lock = RwLock::new(5);
/// {
///     let r1 = lock.read();
///     let r2 = lock.read();
///     assert_eq!(*r1 + *r2, 10);
///     assert!(lock.try_write().is_none());
/// }
/// *lock.write() += 1;
/// assert_eq!(*lock.read(), 6);
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    data: UnsafeCell<T>,
}

// SAFETY: readers on several threads share `&T` (needs `T: Sync`); a writer
// gets `&mut T` on whatever thread it runs (needs `T: Send`). As for
// `std::sync::RwLock`.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// A new unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        RwLock {
            raw: RawRwLock::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns its value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Acquires shared read access, parking (or blocking) while a writer
    /// holds the lock or anyone is queued.
    #[inline]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        crate::budget::consume_budget();
        self.raw.read();
        RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Acquires exclusive write access, parking (or blocking) until nobody
    /// else holds the lock.
    #[inline]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        crate::budget::consume_budget();
        self.raw.write();
        RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        }
    }

    /// Read access if it can be had right now: no writer holds the lock and
    /// nobody is queued (a queued writer goes first).
    #[inline]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        crate::budget::consume_budget();
        self.raw.try_read().then(|| RwLockReadGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// Write access if nobody holds the lock right now.
    #[inline]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        crate::budget::consume_budget();
        self.raw.try_write().then(|| RwLockWriteGuard {
            lock: self,
            _not_send: PhantomData,
        })
    }

    /// The value, through a unique borrow: no locking needed.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish_non_exhaustive()
    }
}

/// Shared access to the data of an [`RwLock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared read guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: a read guard exists only while its holder is counted as a
        // reader, so no writer has `&mut T`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw.unlock_read();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to the data of an [`RwLock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared write guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns write access into read access without letting a writer in
    /// between; readers queued at the front are let in too.
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let lock = this.lock;
        std::mem::forget(this);
        lock.raw.downgrade();
        RwLockReadGuard {
            lock,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the holder of a write guard owns the lock exclusively.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the holder of a write guard owns the lock exclusively, so
        // no reader or other writer borrows the data, and `&mut self` makes
        // this borrow unique within the guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.raw.unlock_write();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    fn state(l: &RwLock<impl Sized>) -> usize {
        l.raw.state.load(Ordering::Relaxed)
    }

    fn wait_queued(l: &RwLock<impl Sized>, n: usize) {
        while l.raw.queue.lock().len() < n {
            thread::yield_now();
        }
    }

    #[test]
    fn readers_share_writers_exclude() {
        let mut l = RwLock::new(1);
        let a = l.read();
        let b = l.try_read().expect("readers share");
        assert!(l.try_write().is_none());
        assert_eq!(state(&l), 2 * ONE_READER);
        drop((a, b));
        let mut w = l.write();
        assert!(l.try_read().is_none());
        *w = 2;
        drop(w);
        *l.get_mut() += 1;
        assert_eq!(format!("{l:?}"), "RwLock { data: 3, .. }");
        assert_eq!(l.into_inner(), 3);
    }

    #[test]
    fn a_queued_writer_stops_new_readers() {
        let l = Arc::new(RwLock::new(0));
        let r = l.read();
        let l2 = Arc::clone(&l);
        let writer = thread::spawn(move || *l2.write() += 1);
        wait_queued(&l, 1);
        // A writer waits: a new reader may not join the one inside.
        assert!(l.try_read().is_none());
        let l3 = Arc::clone(&l);
        let reader = thread::spawn(move || *l3.read());
        wait_queued(&l, 2);
        drop(r); // hands over to the writer, then to the reader
        assert_eq!(
            reader.join().unwrap(),
            1,
            "the reader came after the writer"
        );
        writer.join().unwrap();
        assert_eq!(state(&l), 0);
    }

    #[test]
    fn a_run_of_readers_is_granted_together_and_downgrade_lets_them_in() {
        let l = Arc::new(RwLock::new(0));
        let w = l.write();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let l = Arc::clone(&l);
                thread::spawn(move || *l.read())
            })
            .collect();
        wait_queued(&l, 3);
        let mut w = w;
        *w = 7;
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 7);
        for t in readers {
            assert_eq!(t.join().unwrap(), 7);
        }
        drop(r);
        assert_eq!(state(&l), 0);
    }

    #[test]
    fn threads_stress() {
        const THREADS: usize = 4;
        const ITERS: usize = 2_000;
        let l = Arc::new(RwLock::new((0usize, 0usize)));
        let ts: Vec<_> = (0..THREADS)
            .map(|t| {
                let l = Arc::clone(&l);
                thread::spawn(move || {
                    for i in 0..ITERS {
                        if (i + t) % 4 == 0 {
                            let mut g = l.write();
                            g.0 += 1;
                            g.1 += 1;
                        } else {
                            let g = l.read();
                            assert_eq!(g.0, g.1, "a reader saw a torn write");
                        }
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(l.read().0, THREADS * ITERS / 4);
        assert_eq!(state(&l), 0);
    }
}
