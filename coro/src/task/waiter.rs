//! Waiters: the value a blocking primitive keeps for whoever waits on it,
//! coroutine or thread, and how it is woken.
//!
//! A coroutine's waiter names the task *and its current run sequence*, so a
//! wake that arrives before the task suspends is not lost (the task is
//! marked `NOTIFIED` and is rescheduled the moment it suspends) and a wake
//! that arrives after the task moved on is ignored (see [`super::state`]).
//! A thread's waiter is its `Thread` handle; `park`/`unpark` tokens give
//! the same guarantee. Waking a parked task goes through the
//! [`Schedule`](super::Schedule) hook.
//!
//! Making a waiter for the caller ([`Waiter::current`]) and blocking
//! ([`crate::wait::park`]) need the running coroutine, which this layer
//! does not know: they live in [`crate::wait`], above the scheduler.

use std::thread::Thread;

use super::{Schedule, TaskRef};

/// Someone blocked on a primitive: a coroutine in one of its runs, or a thread.
#[derive(Debug, Clone)]
pub(crate) enum Waiter {
    /// A coroutine, valid for its run with this sequence.
    Task { task: TaskRef, seq: u32 },
    /// A plain thread.
    Thread(Thread),
}

impl Waiter {
    /// Wakes the waiter (no effect if it already moved on).
    pub(crate) fn wake(self) {
        self.wake_by_ref();
    }

    /// Whether waking this waiter is a push onto the calling worker's own
    /// queue (a coroutine whose home is the calling worker).
    pub(crate) fn is_local(&self) -> bool {
        match self {
            Waiter::Task { task, .. } => task.home().is_some_and(super::Scheduler::is_current),
            Waiter::Thread(_) => false,
        }
    }

    /// Wakes the waiter without consuming it.
    pub(crate) fn wake_by_ref(&self) {
        match self {
            Waiter::Task { task, seq } => task.wake(*seq),
            Waiter::Thread(t) => t.unpark(),
        }
    }
}
