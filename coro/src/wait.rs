//! Blocking: how a caller waits for a primitive, coroutine or thread.
//!
//! Every blocking call in this crate follows one protocol, the same whether
//! the caller is a coroutine or a plain OS thread:
//!
//! 1. under the primitive's own lock, check the condition; if it does not
//!    hold, store [`Waiter::current()`] in the primitive's wait list;
//! 2. release the lock and call [`park()`];
//! 3. on return, check the condition again (a `park` may return early).
//!
//! A coroutine's waiter names the task *and its current run sequence*, so a
//! wake that arrives between steps 1 and 2 is not lost (the task is marked
//! `NOTIFIED` and is rescheduled the moment it suspends) and a wake that
//! arrives after the task moved on is ignored. A thread's waiter is its
//! `Thread` handle; `park`/`unpark` tokens give the same guarantee.
//!
//! No lock may be held across step 2: a coroutine that parks while holding a
//! `parking_lot` lock would stall every other coroutine of its worker that
//! wants it.
//!
//! This module sits above the scheduler: making a waiter for the caller
//! needs the running coroutine, and a timed park arms the worker's timers.
//! The [`Waiter`] value itself, and waking it, are the task layer's
//! (`task::waiter`).

use std::thread;
use std::time::Instant;

use crate::task::{TaskRef, Waiter};

/// The constructors of a waiter for the caller (the type is `task`'s).
impl Waiter {
    /// A waiter for the caller: the running coroutine, else the thread.
    pub(crate) fn current() -> Waiter {
        match crate::scheduler::current_task() {
            Some(task) => {
                let seq = task.current_seq();
                Waiter::Task { task, seq }
            }
            None => Waiter::Thread(thread::current()),
        }
    }

    /// As [`current`](Waiter::current), but a coroutine's task reference is
    /// not counted: the result must never be dropped (wrap it in
    /// `ManuallyDrop`), and may be used only while the caller knows the
    /// task is alive. Cloning it makes a counted waiter.
    pub(crate) fn current_uncounted() -> Waiter {
        match crate::switch::with_current(crate::switch::CoroState::task) {
            Some(slot) => {
                // SAFETY: the running coroutine's task is alive; the caller
                // promises not to drop the uncounted reference.
                let task = unsafe { TaskRef::from_raw(slot) };
                let seq = task.current_seq();
                Waiter::Task { task, seq }
            }
            None => Waiter::Thread(thread::current()),
        }
    }
}

/// Blocks the caller until its waiter is woken (or spuriously): suspends the
/// running coroutine, or parks the thread.
pub(crate) fn park() {
    if crate::scheduler::in_coroutine() {
        crate::switch::suspend_park();
    } else {
        thread::park();
    }
}

/// Blocks the caller for good: parks it without a waiter anywhere, so
/// nothing wakes it on purpose, and parks it again after every spurious
/// wake-up (a stale wake of an earlier operation). A parked coroutine costs
/// its worker nothing; a stopping runtime unwinds it out of its park as it
/// does any parked coroutine, and that unwind passes through here.
pub(crate) fn park_forever() -> ! {
    loop {
        park();
    }
}

/// As [`park`], but returns by `deadline` at the latest (a coroutine gets a
/// timer on its worker for it).
pub(crate) fn park_until(deadline: Instant) {
    if crate::scheduler::in_coroutine() {
        // The coroutine's own timer entry, kept from one park to the next
        // (see `scheduler::timers`); the worker releases it when the
        // coroutine ends.
        let waiter = Waiter::current();
        let key = crate::scheduler::started::with_current(|book| {
            let key = crate::scheduler::with_timers(|t| t.arm(book.timer.get(), deadline, waiter));
            book.timer.set(Some(key));
            key
        })
        .expect("in a coroutine");
        crate::switch::suspend_park();
        crate::scheduler::with_timers(|t| t.disarm(key));
    } else {
        let now = Instant::now();
        if deadline > now {
            thread::park_timeout(deadline - now);
        }
    }
}
