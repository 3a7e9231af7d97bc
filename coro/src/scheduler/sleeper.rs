//! Putting one worker thread to sleep and waking it.
//!
//! A worker with nothing to do announces how it will wait (on its thread,
//! or in its own [driver](crate::driver)), issues a `SeqCst` fence,
//! looks at its queues once more, and only then waits (with a timeout when
//! a timer is due). Anyone who gives it work pushes first, fences, then
//! swaps the state to `AWAKE` and, only if the worker was waiting, unparks
//! its thread or wakes the driver: a running worker costs its wakers no
//! system call. Thread parking and driver wake-ups both keep a token, so a
//! wake that lands before the wait is not lost. The state word and its
//! fences are [`SleepState`] (`super::sleep`), checked under loom.

use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use super::driver::{Driver, InstallError};
use super::sleep::{SleepState, Sleeping};

#[derive(Default)]
pub(crate) struct Parker {
    thread: OnceLock<Thread>,
    /// The worker's driver, once a coroutine on it installed one.
    driver: OnceLock<Arc<dyn Driver>>,
    state: SleepState,
}

impl std::fmt::Debug for Parker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parker")
            .field("thread", &self.thread)
            .field("has_driver", &self.driver.get().is_some())
            .field("state", &self.state)
            .finish()
    }
}

impl Parker {
    /// Called once by the worker thread that owns this parker.
    pub(crate) fn bind_current_thread(&self) {
        let _ = self.thread.set(thread::current());
    }

    /// Gives the worker its driver (`crate::driver::install`).
    pub(crate) fn set_driver(&self, driver: Arc<dyn Driver>) -> Result<(), InstallError> {
        self.driver
            .set(driver)
            .map_err(|_| InstallError::AlreadyInstalled)
    }

    /// The worker's driver, if it has one.
    pub(crate) fn driver(&self) -> Option<&Arc<dyn Driver>> {
        self.driver.get()
    }

    /// Announces that the worker is about to wait, in the driver or on its
    /// thread. The caller must check for work once more afterwards.
    pub(crate) fn prepare(&self, in_driver: bool) {
        self.state.prepare(in_driver);
    }

    /// Cancels `prepare` when work turned up, or ends a wait in the driver.
    pub(crate) fn cancel(&self) {
        self.state.set_awake();
    }

    /// Waits on the thread until unparked, or until `timeout` passes.
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        match timeout {
            Some(t) => thread::park_timeout(t),
            None => thread::park(),
        }
        self.state.set_awake();
    }

    /// Wakes the worker if it waits (or is about to). Call after publishing
    /// the work.
    pub(crate) fn unpark(&self) {
        match self.state.take_sleeper() {
            Some(Sleeping::OnThread) => self.unpark_thread(),
            Some(Sleeping::InDriver) => {
                if let Some(d) = self.driver.get() {
                    d.wake();
                }
            }
            None => {}
        }
    }

    /// Wakes the worker unconditionally (shutdown).
    pub(crate) fn force_unpark(&self) {
        self.unpark_thread();
        if let Some(d) = self.driver.get() {
            d.wake();
        }
    }

    fn unpark_thread(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}
