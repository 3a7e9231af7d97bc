//! A worker's sleep state: the word by which a worker about to wait tells
//! its wakers whether, and where, it waits, so that a waker makes a system
//! call only for a worker that needs one (the protocol is in
//! [`super::sleeper`]).
//!
//! The worker stores its state and issues a `SeqCst` fence *before* it
//! looks at its queues once more; a waker publishes its work and issues a
//! `SeqCst` fence *before* it swaps the state back to `AWAKE`. The two
//! fences order the two store-then-load sequences (Dekker's pattern): the
//! worker sees the work, or the waker sees the worker waiting and wakes it,
//! or both; never neither. The loom model `tests/loom_sleep.rs` checks
//! exactly this, with this file compiled against loom.
//!
//! Every write to the word is a read-modify-write (`swap`), the worker's
//! too. The fence argument needs the word's writes in one modification
//! order, which the memory model gives any atomic; loom, though, orders
//! plain stores only by causality, so with a plain `store` it let a
//! waker's swap read an `AWAKE` older than the worker's concurrent
//! announcement and reported a deadlock that the model excludes. Swaps
//! form one chain that loom follows too. On x86 a `SeqCst` store is an
//! `xchg` already, so the swaps cost nothing more.

use crate::loom::sync::atomic::{fence, AtomicU8, Ordering};

/// Running, or done waiting.
const AWAKE: u8 = 0;
/// About to wait, or waiting, on the thread (`thread::park`).
const ON_THREAD: u8 = 1;
/// About to wait, or waiting, in the worker's I/O driver.
const IN_DRIVER: u8 = 2;

/// Where a worker that a waker took off its sleep state waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sleeping {
    /// On its thread: the waker unparks the thread.
    OnThread,
    /// In its driver: the waker calls the driver's `wake`.
    InDriver,
}

/// The sleep state of one worker.
#[derive(Debug)]
pub(crate) struct SleepState(AtomicU8);

impl Default for SleepState {
    fn default() -> Self {
        SleepState(AtomicU8::new(AWAKE))
    }
}

impl SleepState {
    /// The worker announces that it is about to wait, in its driver or on
    /// its thread. It must look for work once more afterwards.
    pub(crate) fn prepare(&self, in_driver: bool) {
        let state = if in_driver { IN_DRIVER } else { ON_THREAD };
        self.0.swap(state, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The worker is awake again: it found work after all, or its wait
    /// ended.
    pub(crate) fn set_awake(&self) {
        self.0.swap(AWAKE, Ordering::SeqCst);
    }

    /// Whether the worker waits (or is about to), as the monitor asks
    /// before it sleeps its idle period.
    pub(crate) fn is_waiting(&self) -> bool {
        self.0.load(Ordering::SeqCst) != AWAKE
    }

    /// A waker that published work takes the worker off its sleep state:
    /// where it waits (or is about to), if it does, for the waker to wake
    /// it there; `None` if it is running.
    pub(crate) fn take_sleeper(&self) -> Option<Sleeping> {
        fence(Ordering::SeqCst);
        match self.0.swap(AWAKE, Ordering::SeqCst) {
            ON_THREAD => Some(Sleeping::OnThread),
            IN_DRIVER => Some(Sleeping::InDriver),
            _ => None,
        }
    }
}
