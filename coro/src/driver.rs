//! Event sources that idle workers wait on: how the I/O reactor of
//! `coro-net` plugs into the scheduler.
//!
//! A [`Driver`] is installed once per process ([`install`]). From then on:
//!
//! * a worker with nothing to run waits in [`Driver::wait`] instead of
//!   sleeping on its thread, if no other worker is waiting there already
//!   (one at a time; the others sleep as before and are woken as before);
//! * a worker that goes to sleep while another waits in the driver queues
//!   for the driver (process-wide, whatever its runtime); whoever leaves the
//!   driver wakes the first queued worker, so events keep being waited for
//!   while the one that left runs coroutines. A worker queues, then looks
//!   at the driver once more; the leaver frees the driver, then looks at the
//!   queue: one of the two sees the other. A queued worker that leaves the
//!   queue without taking the driver (it was woken to take it, but found
//!   work, or its runtime is stopping) passes the hand-off on to the next
//!   one while the driver is free ([`leave_queue`]), so that several
//!   runtimes in one process never leave their workers asleep with nobody
//!   in the driver;
//! * a busy worker polls the driver without blocking every
//!   `DRIVER_POLL_INTERVAL` scheduler ticks, so events get in while every
//!   worker is busy; no thread ever spins.
//!
//! The driver wakes the coroutines its events are for through the
//! [`Waker`](std::task::Waker)s they gave it ([`current_waker`]).
//!
//! [`current_waker`]: crate::current_waker

use std::fmt;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;

use crate::scheduler::Remote;

/// A source of events that a worker can wait on; see the module docs.
pub trait Driver: Send + Sync + 'static {
    /// Waits for events for at most `timeout` (`None`: until an event or a
    /// [`wake`](Driver::wake)) and wakes whoever waits on them. A zero
    /// timeout polls. Never called by two threads at once.
    fn wait(&self, timeout: Option<Duration>);

    /// Makes a `wait` in progress return soon, or the next one, if none is
    /// in progress. Any thread.
    fn wake(&self);
}

static DRIVER: OnceLock<&'static dyn Driver> = OnceLock::new();
/// Whether a worker waits in (or polls) the driver now.
static DRIVER_BUSY: AtomicBool = AtomicBool::new(false);
/// Sleeping workers that found the driver busy, first come first served.
static QUEUED: Mutex<Vec<Arc<Remote>>> = Mutex::new(Vec::new());

/// The driver was already installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyInstalled;

impl fmt::Display for AlreadyInstalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a coro driver is already installed in this process")
    }
}

impl std::error::Error for AlreadyInstalled {}

/// Installs the process's driver; all runtimes use it.
///
/// # Errors
/// One is installed already.
pub fn install(driver: &'static dyn Driver) -> Result<(), AlreadyInstalled> {
    // Workers asleep on their threads keep sleeping there: a coroutine must
    // run on a worker to register with the driver, and that worker takes
    // the driver the next time it goes idle.
    DRIVER.set(driver).map_err(|_| AlreadyInstalled)
}

/// The installed driver.
pub(crate) fn get() -> Option<&'static dyn Driver> {
    DRIVER.get().copied()
}

/// Holds the right to call the driver; released on drop.
pub(crate) struct DriverTurn(&'static dyn Driver);

impl DriverTurn {
    /// Takes the turn if a driver is installed and nobody has it.
    pub(crate) fn try_take() -> Option<DriverTurn> {
        let driver = get()?;
        DRIVER_BUSY
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| DriverTurn(driver))
    }

    /// Takes the turn, or else queues `worker` to be woken when the driver
    /// is free. The worker must have announced its park before.
    pub(crate) fn take_or_queue(worker: &Arc<Remote>) -> Option<DriverTurn> {
        if let Some(turn) = DriverTurn::try_take() {
            return Some(turn);
        }
        get()?;
        QUEUED.lock().push(Arc::clone(worker));
        fence(Ordering::SeqCst);
        // The holder may have left before it could see us in the queue.
        let turn = DriverTurn::try_take()?;
        leave_queue(worker);
        Some(turn)
    }

    pub(crate) fn driver(&self) -> &'static dyn Driver {
        self.0
    }
}

/// Takes `worker` off the queue for the driver, if it is on it. If the
/// driver is free then, wakes the first worker still queued: the leaver
/// may be the one a leaving holder woke to take the driver, and it is not
/// taking it (it found work, or its runtime is stopping), so the hand-off
/// goes on to the next, or every queued worker would sleep with nobody
/// waiting for their events.
pub(crate) fn leave_queue(worker: &Arc<Remote>) {
    let next = {
        let mut queued = QUEUED.lock();
        if let Some(i) = queued.iter().position(|r| Arc::ptr_eq(r, worker)) {
            queued.remove(i);
        }
        fence(Ordering::SeqCst);
        (!DRIVER_BUSY.load(Ordering::SeqCst) && !queued.is_empty()).then(|| queued.remove(0))
    };
    if let Some(next) = next {
        next.parker.unpark();
    }
}

impl Drop for DriverTurn {
    fn drop(&mut self) {
        DRIVER_BUSY.store(false, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let next = {
            let mut queued = QUEUED.lock();
            (!queued.is_empty()).then(|| queued.remove(0))
        };
        if let Some(worker) = next {
            worker.parker.unpark();
        }
    }
}
