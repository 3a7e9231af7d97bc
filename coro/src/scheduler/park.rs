//! Putting one worker thread to sleep and waking it.
//!
//! A worker with nothing to do sets `sleeping`, issues a `SeqCst` fence,
//! looks at its queues once more, and only then parks its thread (with a
//! timeout when a timer is due). Anyone who gives it work pushes first,
//! fences, then swaps `sleeping` to false and unparks the thread only if it
//! was set: a running worker costs its wakers no system call. Thread parking
//! keeps a token, so an unpark that lands before the park is not lost.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Parker {
    thread: OnceLock<Thread>,
    sleeping: AtomicBool,
}

impl Parker {
    /// Called once by the worker thread that owns this parker.
    pub(crate) fn bind_current_thread(&self) {
        let _ = self.thread.set(thread::current());
    }

    /// Announces that the worker is about to park. The caller must check
    /// for work once more afterwards.
    pub(crate) fn prepare(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Cancels `prepare` when work turned up.
    pub(crate) fn cancel(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// Parks until unparked, or until `timeout` passes.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        match timeout {
            Some(t) => thread::park_timeout(t),
            None => thread::park(),
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// Wakes the worker if it is (about to be) parked. Call after publishing
    /// the work.
    pub(crate) fn unpark(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.swap(false, Ordering::SeqCst) {
            if let Some(t) = self.thread.get() {
                t.unpark();
            }
        }
    }

    /// Wakes the worker unconditionally (shutdown).
    pub(crate) fn force_unpark(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}
