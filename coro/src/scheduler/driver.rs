//! Event sources that idle workers wait on: how the I/O reactor of
//! `coro-net` plugs into the scheduler.
//!
//! Each worker may own one [`Driver`], installed from a coroutine running
//! on it ([`install`]); `coro-net` installs one epoll instance per worker
//! the first time a socket is used there. From then on:
//!
//! * that worker, with nothing to run, waits in its own [`Driver::wait`]
//!   (bounded by its next timer) instead of sleeping on its thread; anyone
//!   who gives it work ends that wait with [`Driver::wake`];
//! * while busy, it polls its driver without blocking every
//!   `DRIVER_POLL_INTERVAL` ticks, and whenever `DRIVER_POLL_PERIOD` has
//!   passed since its last poll, so events get in however long its
//!   coroutines run between suspensions;
//! * no other thread ever waits in it: the events a driver reports are for
//!   sockets registered by coroutines of its worker, so delivering them is
//!   a push onto that worker's own queue, with no cross-thread wake-up;
//! * except when its worker is stuck, running one coroutine for a
//!   millisecond or more: then the other workers of the runtime poll it
//!   (zero timeout) at their periodic look and before they sleep, so its
//!   events are not held up. Wake-ups of the stuck worker's coroutines go
//!   to its inbox, and coroutines that an event starts
//!   ([`Unstarted`](crate::Unstarted)) start on the worker that polled.
//!
//! A worker with no driver sleeps on its thread, as before any socket.
//! The driver wakes the coroutines its events are for through the
//! [`Unparker`](crate::Unparker)s they gave it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A source of events that one worker waits on; see the module docs.
pub trait Driver: Send + Sync + 'static {
    /// Waits for events for at most `timeout` (`None`: until an event or a
    /// [`wake`](Driver::wake)) and wakes whoever waits on them. A zero
    /// timeout polls. Called by the worker that owns the driver and, with a
    /// zero timeout, by the runtime's other workers while it is stuck (see
    /// the module docs), so two calls may overlap: one of them may then
    /// return at once, having waited for nothing.
    fn wait(&self, timeout: Option<Duration>);

    /// Makes a `wait` in progress return soon, or the next one, if none is
    /// in progress. Any thread.
    fn wake(&self);
}

/// Why [`install`] refused a driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallError {
    /// The calling thread is not a coro worker.
    NotAWorker,
    /// The calling worker has a driver already.
    AlreadyInstalled,
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstallError::NotAWorker => "a coro driver can only be installed on a worker thread",
            InstallError::AlreadyInstalled => "this coro worker has a driver already",
        })
    }
}

impl std::error::Error for InstallError {}

/// Installs `driver` as the calling worker's driver, for the rest of the
/// worker's life.
///
/// # Errors
/// The caller is not on a worker thread, or its worker has a driver.
pub fn install(driver: Arc<dyn Driver>) -> Result<(), InstallError> {
    super::worker::with_current(|w| w.remote.sleeper.set_driver(driver))
        .unwrap_or(Err(InstallError::NotAWorker))
}
