//! The selection state of one blocked channel operation (or `select!`).
//!
//! A coroutine or thread that must wait registers a *hook* on every channel
//! it waits on; all its hooks share one [`Signal`]. Whoever completes an
//! operation for it (a sender handing over a message, a receiver taking
//! one, a channel disconnecting) first *claims* the signal; only one claim
//! can win, so exactly one of the waiter's operations happens. The waiter
//! itself may *abort* the signal (deadline passed), after which no claim
//! wins.
//!
//! States, and who moves between them:
//!
//! ```text
//! WAITING --claim (any completer)--> CLAIMING --complete(op)--> SELECTED + op
//!    \
//!     --abort (the waiter)--> ABORTED
//! ```
//!
//! Between `CLAIMING` and `SELECTED + op` the completer moves the message
//! through the hook's packet; the waiter that sees `CLAIMING` waits for the
//! final state. The `Release` store of the final state publishes the
//! packet's contents to the waiter's `Acquire` load.

use crate::task::Waiter;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicUsize, Ordering};

const WAITING: usize = 0;
const CLAIMING: usize = 1;
const ABORTED: usize = 2;
const SELECTED: usize = 3;

/// Spins on `CLAIMING` before yielding: a claim lasts a few instructions.
const CLAIM_SPINS: u32 = 64;

#[derive(Debug)]
pub(crate) struct Signal {
    state: AtomicUsize,
    /// For a coroutine, an *uncounted* reference to its task: the task is
    /// alive while the signal is reachable, because a coroutine blocked in a
    /// channel operation cannot finish before the operation has removed its
    /// hooks. Only a thread's handle is owned (and dropped).
    waiter: ManuallyDrop<Waiter>,
}

impl Drop for Signal {
    fn drop(&mut self) {
        if matches!(*self.waiter, Waiter::Thread(_)) {
            // SAFETY: dropped once, here; a thread waiter is owned.
            unsafe { ManuallyDrop::drop(&mut self.waiter) };
        }
    }
}

impl Signal {
    /// A signal for the caller.
    pub(crate) fn new() -> Signal {
        Signal {
            state: AtomicUsize::new(WAITING),
            waiter: ManuallyDrop::new(Waiter::current_uncounted()),
        }
    }

    /// Whether no operation was selected yet and the wait was not aborted
    /// (a snapshot).
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.load(Ordering::Relaxed) == WAITING
    }

    /// Tries to claim the signal for one of its operations.
    pub(crate) fn try_claim(&self) -> bool {
        self.state
            .compare_exchange(WAITING, CLAIMING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Ends a successful claim: operation `op` happened. The caller wakes
    /// the waiter (after releasing its locks).
    pub(crate) fn complete(&self, op: usize) {
        #[cfg(test)]
        tests::CLAIM_STALL.with(|stall| {
            if let Some(stall) = &*stall.borrow() {
                stall();
            }
        });
        self.state.store(SELECTED + op, Ordering::Release);
    }

    /// A counted copy of the waiter if waking it is more than a push onto
    /// the calling worker's own queue (a wake across threads may be a
    /// system call, better made after the completer released its locks).
    pub(crate) fn remote_waiter(&self) -> Option<Waiter> {
        if self.waiter.is_local() {
            None
        } else {
            Some(Waiter::clone(&self.waiter))
        }
    }

    /// Wakes a waiter that runs on the calling worker.
    pub(crate) fn wake_local(&self) {
        self.waiter.wake_by_ref();
    }

    /// The operation selected, if any; waits out a claim in progress.
    pub(crate) fn selected(&self) -> Option<usize> {
        self.selected_yielding_with(crate::yield_now)
    }

    /// Aborts the wait unless an operation was selected; returns that one.
    pub(crate) fn abort(&self) -> Option<usize> {
        self.abort_yielding_with(crate::yield_now)
    }

    /// As [`abort`](Self::abort), for a coroutine being unwound out of its
    /// wait: waits out a claim in progress without suspending. A stopping
    /// runtime re-throws its unwind at any suspension, which would leave
    /// the hooks in their channels; the claim's holder is another thread,
    /// a few instructions from its end (a claim never spans a suspension).
    pub(crate) fn abort_unwinding(&self) {
        self.abort_yielding_with(std::thread::yield_now);
    }

    fn abort_yielding_with(&self, yield_now: fn()) -> Option<usize> {
        match self
            .state
            .compare_exchange(WAITING, ABORTED, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => None,
            Err(_) => self.selected_yielding_with(yield_now),
        }
    }

    /// [`selected`](Self::selected), calling `yield_now` while a claim
    /// lasts past a short spin.
    fn selected_yielding_with(&self, yield_now: fn()) -> Option<usize> {
        let mut spins = 0;
        loop {
            match self.state.load(Ordering::Acquire) {
                WAITING | ABORTED => return None,
                CLAIMING => {
                    if spins < CLAIM_SPINS {
                        spins += 1;
                        std::hint::spin_loop();
                    } else {
                        yield_now();
                    }
                }
                s => return Some(s - SELECTED),
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;

    use super::*;

    thread_local! {
        /// What a completer on this thread runs just before it ends a
        /// claim: lets a test hold a claim open, as a completer preempted
        /// there would.
        pub(crate) static CLAIM_STALL: RefCell<Option<Box<dyn Fn()>>> = const { RefCell::new(None) };
    }

    #[test]
    fn one_claim_wins() {
        let s = Signal::new();
        assert!(s.try_claim());
        assert!(!s.try_claim());
        s.complete(2);
        assert_eq!(s.selected(), Some(2));
        assert_eq!(s.abort(), Some(2));
    }

    #[test]
    fn an_aborted_signal_cannot_be_claimed() {
        let s = Signal::new();
        assert_eq!(s.abort(), None);
        assert!(!s.try_claim());
        assert_eq!(s.selected(), None);
    }
}
