//! One-time initialization that parks, not spins: [`OnceLock`] and
//! [`LazyLock`].
//!
//! # State
//!
//! An `AtomicU8` and a [`WaitList`] behind a `parking_lot` lock:
//!
//! * `INCOMPLETE`: no value. Any caller of `get_or_init` may move it to
//!   `RUNNING` (a CAS, under the list lock) and so become the initializer.
//! * `RUNNING`: one caller is running its initializer. Others queue under
//!   the list lock, having seen `RUNNING` there, and park.
//! * `COMPLETE`: the value is written; set once by the initializer (with
//!   `Release`, after writing it), never left. Readers check it with
//!   `Acquire` and need no lock.
//!
//! The initializer stores `COMPLETE` (or, if its closure panicked or
//! returned an error, `INCOMPLETE`) and *then* takes the list lock and wakes
//! every waiter. A waiter checked the state and queued in one hold of that
//! lock, so either it saw the new state or the initializer finds its entry:
//! no lost wake-up. After a failed initialization every waiter retries; one
//! of them becomes the next initializer, the others queue again.
//!
//! Calling `get_or_init` on a cell from inside its own initializer
//! deadlocks, as with `std::sync::OnceLock`.

use std::cell::UnsafeCell;
use std::fmt;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU8, Ordering};

use super::wait_list::{self, WaitList};
use crate::task::Waiter;

/// No value; anyone may start initializing.
const INCOMPLETE: u8 = 0;
/// An initializer is running.
const RUNNING: u8 = 1;
/// The value is there.
const COMPLETE: u8 = 2;

/// A cell written once, by the first caller of
/// [`get_or_init`](Self::get_or_init); concurrent callers park (or block)
/// until it is done. `std::sync::OnceLock`, for coroutines.
///
/// ```
/// use coro::sync::OnceLock;
///
/// static CONFIG: OnceLock<String> = OnceLock::new();
/// let handles: Vec<_> = (0..10)
///     .map(|_| coro::spawn(|| CONFIG.get_or_init(|| "loaded once".to_owned()).len()))
///     .collect();
/// for h in handles {
///     assert_eq!(h.join().unwrap(), 11);
/// }
/// ```
pub struct OnceLock<T> {
    state: AtomicU8,
    waiters: parking_lot::Mutex<WaitList<()>>,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by the one caller that won
// `INCOMPLETE -> RUNNING`, before `COMPLETE` is published with `Release`;
// after that it is only read through `&T` (or moved out through `&mut
// self`). Sharing the cell thus shares `&T` between threads (needs `T:
// Sync`) and may hand a `T` made on one thread to another, which drops it
// (needs `T: Send`), as for `std::sync::OnceLock`.
unsafe impl<T: Sync + Send> Sync for OnceLock<T> {}
// SAFETY: moving the cell moves the `T` in it.
unsafe impl<T: Send> Send for OnceLock<T> {}

impl<T: RefUnwindSafe + UnwindSafe> RefUnwindSafe for OnceLock<T> {}
impl<T: UnwindSafe> UnwindSafe for OnceLock<T> {}

impl<T> OnceLock<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        OnceLock {
            state: AtomicU8::new(INCOMPLETE),
            waiters: parking_lot::Mutex::new(WaitList::new()),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// The value, if it is initialized. Never waits.
    #[inline]
    pub fn get(&self) -> Option<&T> {
        if self.is_complete() {
            // SAFETY: `COMPLETE` (read with `Acquire`) means the value was
            // written, and it is never written again through `&self`.
            Some(unsafe { self.get_unchecked() })
        } else {
            None
        }
    }

    /// The value, if it is initialized, through a unique borrow.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        if *self.state.get_mut() == COMPLETE {
            // SAFETY: initialized, and `&mut self` makes the borrow unique.
            Some(unsafe { self.value.get_mut().assume_init_mut() })
        } else {
            None
        }
    }

    /// The value, initialized by `f` if nobody has initialized it yet.
    ///
    /// If another caller is running its initializer, parks the coroutine (or
    /// blocks the thread) until it finishes. If `f` panics, the panic
    /// propagates to this caller, the cell stays empty, and a waiting caller
    /// (or a later one) runs its own initializer.
    #[inline]
    pub fn get_or_init<F>(&self, f: F) -> &T
    where
        F: FnOnce() -> T,
    {
        if let Some(v) = self.get() {
            return v;
        }
        match self.initialize(|| Ok::<T, std::convert::Infallible>(f())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// As [`get_or_init`](Self::get_or_init), with an initializer that may
    /// fail; on an error the cell stays empty (and a waiting caller tries
    /// next) and the error is returned.
    ///
    /// # Errors
    /// Whatever `f` returned.
    pub fn get_or_try_init<F, E>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Result<T, E>,
    {
        if let Some(v) = self.get() {
            return Ok(v);
        }
        self.initialize(f)
    }

    /// Stores `value` if the cell is empty (waiting for a running
    /// initializer first).
    ///
    /// # Errors
    /// The cell was initialized already: `value` comes back.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("the initializer runs once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        if *self.state.get_mut() == COMPLETE {
            *self.state.get_mut() = INCOMPLETE;
            // SAFETY: it was initialized, and the state now says it is not,
            // so it is read out exactly once.
            Some(unsafe { self.value.get_mut().assume_init_read() })
        } else {
            None
        }
    }

    /// Consumes the cell and returns its value, if any.
    pub fn into_inner(mut self) -> Option<T> {
        self.take()
    }

    #[inline]
    fn is_complete(&self) -> bool {
        self.state.load(Ordering::Acquire) == COMPLETE
    }

    /// # Safety
    /// The cell must be complete.
    unsafe fn get_unchecked(&self) -> &T {
        // SAFETY: the caller saw `COMPLETE`.
        unsafe { (*self.value.get()).assume_init_ref() }
    }

    #[cold]
    fn initialize<F, E>(&self, f: F) -> Result<&T, E>
    where
        F: FnOnce() -> Result<T, E>,
    {
        loop {
            let key = {
                let mut list = self.waiters.lock();
                match self.state.compare_exchange(
                    INCOMPLETE,
                    RUNNING,
                    Ordering::Acquire,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    // SAFETY: just read `COMPLETE` with `Acquire`.
                    Err(COMPLETE) => return Ok(unsafe { self.get_unchecked() }),
                    Err(_running) => list.push_back(Waiter::current(), ()),
                }
            };
            // Leaving early needs nothing: whoever finishes wakes all.
            wait_list::wait(&self.waiters, key, None, |l| l, |_, _| {});
        }

        // We are the initializer. If `f` panics, `reset` reopens the cell.
        let reset = Reset(self);
        let value = f();
        std::mem::forget(reset);
        match value {
            Ok(v) => {
                // SAFETY: we won `INCOMPLETE -> RUNNING`, so nobody else
                // writes the value or reads it before `COMPLETE`.
                unsafe { (*self.value.get()).write(v) };
                self.finish(COMPLETE);
                // SAFETY: just completed.
                Ok(unsafe { self.get_unchecked() })
            }
            Err(e) => {
                self.finish(INCOMPLETE);
                Err(e)
            }
        }
    }

    /// Publishes the end of an initialization and wakes every waiter.
    fn finish(&self, state: u8) {
        self.state.store(state, Ordering::Release);
        let woken = self.waiters.lock().notify_all();
        for w in woken {
            w.wake();
        }
    }
}

/// Reopens a cell whose initializer panicked.
struct Reset<'a, T>(&'a OnceLock<T>);

impl<T> Drop for Reset<'_, T> {
    fn drop(&mut self) {
        self.0.finish(INCOMPLETE);
    }
}

impl<T> Drop for OnceLock<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == COMPLETE {
            // SAFETY: initialized, and dropped only here.
            unsafe { self.value.get_mut().assume_init_drop() }
        }
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    fn clone(&self) -> Self {
        match self.get() {
            Some(v) => OnceLock::from(v.clone()),
            None => OnceLock::new(),
        }
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

/// A value computed on first access, by a [`OnceLock`]: callers that come
/// while it is being computed park until it is ready.
/// `std::sync::LazyLock`, for coroutines.
///
/// If the initializer panics, the panic propagates and every later access
/// panics too (the closure is gone), as with `std`'s.
///
/// ```
/// use coro::sync::LazyLock;
///
/// static TABLE: LazyLock<Vec<u64>> = LazyLock::new(|| (0..10).map(|i| i * i).collect());
/// assert_eq!(TABLE[3], 9);
/// ```
pub struct LazyLock<T, F = fn() -> T> {
    cell: OnceLock<T>,
    init: UnsafeCell<Option<F>>,
}

// SAFETY: `init` is touched only by the one caller that runs the cell's
// initializer (the `OnceLock` admits one at a time), or through `&mut self`;
// it may be called on any thread, hence `F: Send`. The value is shared as in
// `OnceLock`.
unsafe impl<T: Sync + Send, F: Send> Sync for LazyLock<T, F> {}

impl<T: RefUnwindSafe + UnwindSafe, F: UnwindSafe> RefUnwindSafe for LazyLock<T, F> {}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value computed by `f` on first access.
    pub const fn new(f: F) -> Self {
        LazyLock {
            cell: OnceLock::new(),
            init: UnsafeCell::new(Some(f)),
        }
    }

    /// Computes the value if needed, and returns it.
    pub fn force(this: &Self) -> &T {
        this.cell.get_or_init(|| {
            // SAFETY: only the cell's single running initializer gets here.
            let f = unsafe { (*this.init.get()).take() };
            match f {
                Some(f) => f(),
                None => panic!("LazyLock instance has previously been poisoned"),
            }
        })
    }

    /// The value, if it was computed already. Never waits.
    pub fn get(this: &Self) -> Option<&T> {
        this.cell.get()
    }

    /// Consumes the lazy value: the value if it was computed, else the
    /// closure.
    ///
    /// # Errors
    /// The value was never computed: the closure comes back.
    ///
    /// # Panics
    /// If the closure panicked before (it is gone).
    pub fn into_inner(this: Self) -> Result<T, F> {
        let LazyLock { cell, init } = this;
        match cell.into_inner() {
            Some(v) => Ok(v),
            None => Err(init
                .into_inner()
                .expect("LazyLock instance has previously been poisoned")),
        }
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;

    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: Default> Default for LazyLock<T> {
    fn default() -> Self {
        LazyLock::new(T::default)
    }
}

impl<T: fmt::Debug, F> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        match self.cell.get() {
            Some(v) => d.field(v),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn set_get_take() {
        let mut c = OnceLock::new();
        assert_eq!(c.get(), None);
        assert_eq!(c.set(1), Ok(()));
        assert_eq!(c.set(2), Err(2));
        assert_eq!(c.get(), Some(&1));
        *c.get_mut().unwrap() = 3;
        assert_eq!(format!("{c:?}"), "OnceLock(3)");
        assert_eq!(c.clone(), c);
        assert_eq!(c.take(), Some(3));
        assert_eq!(format!("{c:?}"), "OnceLock(<uninit>)");
        assert_eq!(*c.get_or_init(|| 4), 4);
        assert_eq!(c.into_inner(), Some(4));
    }

    #[test]
    fn errors_and_panics_leave_it_empty() {
        let c = OnceLock::new();
        assert_eq!(c.get_or_try_init(|| Err::<u8, _>("no")), Err("no"));
        let r = panic::catch_unwind(AssertUnwindSafe(|| c.get_or_init(|| panic!("boom"))));
        assert!(r.is_err());
        assert_eq!(c.get(), None);
        assert_eq!(c.get_or_try_init(|| Ok::<_, ()>(5)), Ok(&5));
    }

    #[test]
    fn the_value_is_dropped_once() {
        let marker = Arc::new(());
        let c = OnceLock::new();
        c.set(Arc::clone(&marker)).unwrap();
        assert_eq!(Arc::strong_count(&marker), 2);
        drop(c);
        assert_eq!(Arc::strong_count(&marker), 1);
    }

    #[test]
    fn threads_wait_for_one_initializer() {
        let c = Arc::new(OnceLock::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..8)
            .map(|_| {
                let (c, runs) = (Arc::clone(&c), Arc::clone(&runs));
                thread::spawn(move || {
                    *c.get_or_init(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(std::time::Duration::from_millis(10));
                        42
                    })
                })
            })
            .collect();
        for t in ts {
            assert_eq!(t.join().unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn lazy() {
        let l = LazyLock::new(|| vec![1, 2]);
        assert_eq!(LazyLock::get(&l), None);
        assert_eq!(l.len(), 2);
        assert_eq!(LazyLock::into_inner(l).ok(), Some(vec![1, 2]));
        let l: LazyLock<u8, _> = LazyLock::new(|| panic!("boom"));
        assert!(panic::catch_unwind(AssertUnwindSafe(|| *l)).is_err());
        let again = panic::catch_unwind(AssertUnwindSafe(|| *l)).unwrap_err();
        assert!(again.downcast_ref::<&str>().unwrap().contains("poisoned"));
    }
}
