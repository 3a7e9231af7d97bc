//! Putting one worker thread to sleep and waking it.
//!
//! A worker with nothing to do announces how it will wait (on its thread,
//! or in the process's [driver](crate::driver)), issues a `SeqCst` fence,
//! looks at its queues once more, and only then waits (with a timeout when
//! a timer is due). Anyone who gives it work pushes first, fences, then
//! swaps the state to `AWAKE` and, only if the worker was waiting, unparks
//! its thread or wakes the driver: a running worker costs its wakers no
//! system call. Thread parking and driver wake-ups both keep a token, so a
//! wake that lands before the wait is not lost.

use std::sync::atomic::{fence, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::thread::{self, Thread};
use std::time::Duration;

const AWAKE: u8 = 0;
const ON_THREAD: u8 = 1;
const IN_DRIVER: u8 = 2;

#[derive(Debug, Default)]
pub(crate) struct Parker {
    thread: OnceLock<Thread>,
    state: AtomicU8,
}

impl Parker {
    /// Called once by the worker thread that owns this parker.
    pub(crate) fn bind_current_thread(&self) {
        let _ = self.thread.set(thread::current());
    }

    /// Announces that the worker is about to wait, in the driver or on its
    /// thread. The caller must check for work once more afterwards.
    pub(crate) fn prepare(&self, in_driver: bool) {
        let state = if in_driver { IN_DRIVER } else { ON_THREAD };
        self.state.store(state, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Cancels `prepare` when work turned up, or ends a wait in the driver.
    pub(crate) fn cancel(&self) {
        self.state.store(AWAKE, Ordering::SeqCst);
    }

    /// Waits on the thread until unparked, or until `timeout` passes.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        match timeout {
            Some(t) => thread::park_timeout(t),
            None => thread::park(),
        }
        self.state.store(AWAKE, Ordering::SeqCst);
    }

    /// Wakes the worker if it waits (or is about to). Call after publishing
    /// the work.
    pub(crate) fn unpark(&self) {
        fence(Ordering::SeqCst);
        match self.state.swap(AWAKE, Ordering::SeqCst) {
            ON_THREAD => self.unpark_thread(),
            IN_DRIVER => {
                if let Some(d) = crate::driver::get() {
                    d.wake();
                }
            }
            _ => {}
        }
    }

    /// Wakes the worker unconditionally (shutdown).
    pub(crate) fn force_unpark(&self) {
        self.unpark_thread();
        if self.state.load(Ordering::SeqCst) == IN_DRIVER {
            if let Some(d) = crate::driver::get() {
                d.wake();
            }
        }
    }

    fn unpark_thread(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}
