//! The readiness state that one socket shares with its reactor (tokio
//! keeps the equivalent in `scheduled_io.rs`): a readiness word and the
//! wakers of the coroutines that wait in each direction.
//!
//! The word ([`IoState`]) holds a READ bit, a WRITE bit, a READ_CLOSED
//! bit, a CLOSED bit and a tick counter that every event increments. Who
//! sets them:
//!
//! * READ, WRITE: the reactor, for an event in that direction (a new
//!   registration starts with both set); cleared only by operations, with
//!   [`IoState::clear_unless_changed`].
//! * READ_CLOSED: the reactor, for an event with `EPOLLRDHUP`, `EPOLLHUP`
//!   or `EPOLLERR` (the peer's FIN, or a dead socket). Sticky: nothing
//!   clears it. It sets READ too.
//! * CLOSED: the registration's drop ([`IoState::close`]), which wakes
//!   every waiter.
//! * INTERRUPTED: [`IoState::interrupt_read`], from any thread, which then
//!   wakes the readers; cleared by the read operation that takes it
//!   ([`IoState::take_interrupt`]; see the registration's "Interrupting a
//!   read").
//!
//! The reactor sets the bits *before* it takes the wakers
//! ([`IoState::set_ready`]), and an operation stores its waker *before*
//! its last look at the word; the operation's side of that protocol, step
//! by step, is in [`crate::registration`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) const READ: usize = 1 << 0;
pub(crate) const WRITE: usize = 1 << 1;
pub(crate) const CLOSED: usize = 1 << 2;
/// Sticky: the peer's FIN (or an error) was seen; a short read keeps READ.
pub(crate) const READ_CLOSED: usize = 1 << 3;
/// The next read returns `WouldBlock` once (see the registration's
/// "Interrupting a read").
pub(crate) const INTERRUPTED: usize = 1 << 4;
/// One event's increment of the tick counter above the bits.
const TICK: usize = 1 << 5;

/// What one event says about a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Readiness {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) read_closed: bool,
}

/// Which readiness an operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    /// Its bit in the readiness word.
    pub(crate) fn bit(self) -> usize {
        match self {
            Direction::Read => READ,
            Direction::Write => WRITE,
        }
    }

    /// The interrupt bit this direction heeds: reads only.
    pub(crate) fn interrupt(self) -> usize {
        match self {
            Direction::Read => INTERRUPTED,
            Direction::Write => 0,
        }
    }
}

/// The wakers of the coroutines waiting in one direction (see the
/// registration's module docs, "Several waiters in one direction"). The
/// first is kept inline: one waiter is the common case, and its wake must
/// not allocate.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    first: Option<coro::Unparker>,
    rest: Vec<coro::Unparker>,
}

impl Waiters {
    /// Adds `waker`, replacing an older waker of the same coroutine.
    pub(crate) fn add(&mut self, waker: coro::Unparker) {
        if let Some(slot) = self.find(&waker) {
            *slot = waker;
        } else if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Takes away the waker of the coroutine that `waker` wakes, if any.
    pub(crate) fn remove(&mut self, waker: &coro::Unparker) {
        if self.first.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.first = self.rest.pop();
        } else if let Some(i) = self.rest.iter().position(|w| w.will_wake(waker)) {
            self.rest.swap_remove(i);
        }
    }

    fn find(&mut self, waker: &coro::Unparker) -> Option<&mut coro::Unparker> {
        self.first
            .iter_mut()
            .chain(self.rest.iter_mut())
            .find(|w| w.will_wake(waker))
    }
}

/// What the reactor and the waiting coroutines share for one socket.
#[derive(Debug)]
pub(crate) struct IoState {
    readiness: AtomicUsize,
    readers: Mutex<Waiters>,
    writers: Mutex<Waiters>,
    /// A coroutine to start when the socket turns readable
    /// (`Registration::start_when_readable`).
    on_readable: Mutex<Option<coro::Unstarted>>,
}

impl IoState {
    /// A new registration's state: both directions presumed ready, so the
    /// first operation tries its system call.
    pub(crate) fn new() -> Arc<IoState> {
        Arc::new(IoState {
            readiness: AtomicUsize::new(READ | WRITE),
            readers: Mutex::new(Waiters::default()),
            writers: Mutex::new(Waiters::default()),
            on_readable: Mutex::new(None),
        })
    }

    /// The number of events delivered so far.
    #[cfg(test)]
    pub(crate) fn events_seen(&self) -> usize {
        self.readiness.load(Ordering::Acquire) / TICK
    }

    /// The readiness word now.
    pub(crate) fn load(&self) -> usize {
        self.readiness.load(Ordering::Acquire)
    }

    /// Called by the reactor for an event: sets the bits, then wakes.
    pub(crate) fn set_ready(&self, ready: Readiness) {
        let bits = (if ready.readable { READ } else { 0 })
            | (if ready.writable { WRITE } else { 0 })
            | (if ready.read_closed {
                READ | READ_CLOSED
            } else {
                0
            });
        self.readiness.fetch_add(TICK, Ordering::AcqRel);
        self.readiness.fetch_or(bits, Ordering::AcqRel);
        self.wake(bits);
    }

    /// Clears `bit` if the readiness word is still `seen` (no event since).
    pub(crate) fn clear_unless_changed(&self, seen: usize, bit: usize) -> bool {
        self.readiness
            .compare_exchange(seen, seen & !bit, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Sets INTERRUPTED, then wakes the readers (the order the reactor
    /// keeps for its bits, so that a reader's last look before it parks
    /// cannot miss it).
    pub(crate) fn interrupt_read(&self) {
        self.readiness.fetch_or(INTERRUPTED, Ordering::AcqRel);
        wake_all(&self.readers);
    }

    /// Clears INTERRUPTED; true if this call cleared it (another reader of
    /// the same stream may have taken it first).
    pub(crate) fn take_interrupt(&self) -> bool {
        self.readiness.fetch_and(!INTERRUPTED, Ordering::AcqRel) & INTERRUPTED != 0
    }

    /// The registration is gone: sets CLOSED and wakes everyone.
    pub(crate) fn close(&self) {
        self.readiness.fetch_or(CLOSED, Ordering::AcqRel);
        self.wake(READ | WRITE);
    }

    fn wake(&self, bits: usize) {
        if bits & READ != 0 {
            wake_all(&self.readers);
            self.start_on_readable();
        }
        if bits & WRITE != 0 {
            wake_all(&self.writers);
        }
    }

    /// Stores the coroutine to start at the next read readiness; returns
    /// the one it replaces (for the caller to drop outside the lock).
    pub(crate) fn replace_on_readable(&self, task: coro::Unstarted) -> Option<coro::Unstarted> {
        self.on_readable.lock().replace(task)
    }

    /// Starts the coroutine waiting for read readiness without a
    /// coroutine, if there is one.
    pub(crate) fn start_on_readable(&self) {
        let task = self.on_readable.lock().take();
        if let Some(task) = task {
            task.start();
        }
    }

    /// The wakers waiting in `dir`.
    pub(crate) fn waiters(&self, dir: Direction) -> &Mutex<Waiters> {
        match dir {
            Direction::Read => &self.readers,
            Direction::Write => &self.writers,
        }
    }
}

/// Wakes every waiter of one direction, outside the list's lock.
fn wake_all(waiters: &Mutex<Waiters>) {
    let mut list = waiters.lock();
    let first = list.first.take();
    // One waiter (or none) is the common case: no list to move out.
    let rest = (!list.rest.is_empty()).then(|| std::mem::take(&mut list.rest));
    drop(list);
    if let Some(w) = first {
        w.unpark();
    }
    if let Some(rest) = rest {
        for w in rest {
            w.unpark();
        }
    }
}
