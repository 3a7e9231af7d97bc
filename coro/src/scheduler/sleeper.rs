//! Putting one worker thread to sleep and waking it.
//!
//! A worker with nothing to do announces how it will sleep (on its thread,
//! or in its own [driver](crate::driver)), issues a `SeqCst` fence,
//! looks at its queues once more, and only then sleeps (with a timeout when
//! a timer is due). Anyone who gives it work pushes first, fences, then
//! swaps the state to `AWAKE` and, only if the worker was asleep, wakes its
//! thread (`Thread::unpark`) or its driver: a running worker costs its
//! wakers no system call. Thread parking and driver wake-ups both keep a
//! token, so a wake that lands before the sleep is not lost. The state word
//! and its fences are [`SleepState`] (`super::sleep`), checked under loom.
//!
//! This is the worker thread's sleep; a coroutine blocking is a *park*
//! (`crate::wait`, `crate::parking`), which suspends the coroutine and
//! leaves its worker running.

use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::Duration;

use super::driver::{Driver, InstallError};
use super::sleep::{SleepState, Sleeping};

/// How a worker thread sleeps and is woken: its thread, its driver, and its
/// [`SleepState`].
#[derive(Default)]
pub(crate) struct Sleeper {
    thread: OnceLock<Thread>,
    /// The worker's driver, once a coroutine on it installed one.
    driver: OnceLock<Arc<dyn Driver>>,
    state: SleepState,
}

impl std::fmt::Debug for Sleeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleeper")
            .field("thread", &self.thread)
            .field("has_driver", &self.driver.get().is_some())
            .field("state", &self.state)
            .finish()
    }
}

impl Sleeper {
    /// Called once by the worker thread that owns this sleeper.
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

    /// Announces that the worker is about to sleep, in the driver or on its
    /// thread. The caller must check for work once more afterwards.
    pub(crate) fn prepare(&self, in_driver: bool) {
        self.state.prepare(in_driver);
    }

    /// The worker is awake again: it cancels `prepare` when work turned
    /// up, or ends a sleep in the driver.
    pub(crate) fn set_awake(&self) {
        self.state.set_awake();
    }

    /// Whether the worker waits, or is about to (see `SleepState`).
    pub(crate) fn is_waiting(&self) -> bool {
        self.state.is_waiting()
    }

    /// Sleeps on the thread until woken, or until `timeout` passes.
    pub(crate) fn sleep_on_thread(&self, timeout: Option<Duration>) {
        match timeout {
            Some(t) => thread::park_timeout(t),
            None => thread::park(),
        }
        self.state.set_awake();
    }

    /// Wakes the worker if it sleeps (or is about to). Call after
    /// publishing the work.
    pub(crate) fn wake(&self) {
        match self.state.take_sleeper() {
            Some(Sleeping::OnThread) => self.wake_thread(),
            Some(Sleeping::InDriver) => {
                if let Some(d) = self.driver.get() {
                    d.wake();
                }
            }
            None => {}
        }
    }

    /// Wakes the worker unconditionally (shutdown).
    pub(crate) fn force_wake(&self) {
        self.wake_thread();
        if let Some(d) = self.driver.get() {
            d.wake();
        }
    }

    fn wake_thread(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}
