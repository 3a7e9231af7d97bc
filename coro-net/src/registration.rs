//! One socket's registration with the reactor, and the blocking-style I/O
//! loop built on it.
//!
//! # The readiness protocol
//!
//! `IoState::readiness` holds a READ bit, a WRITE bit, a CLOSED bit and a
//! tick counter that every event increments. An operation ([`Registration::io`]):
//!
//! 1. loads the readiness word and, if its direction's bit is set, tries
//!    the system call (a new registration starts with both bits set);
//! 2. on `WouldBlock`, clears its direction's bit, but only if the word is
//!    unchanged since step 1 (compare-and-swap); if an event arrived in
//!    between, it tries again at once. A write shorter than its data filled
//!    the socket's buffer, so it clears the bit the same way and returns:
//!    the next write parks without a system call that would only say
//!    `WouldBlock` (the kernel then owes an edge: a partial send sets the
//!    socket's no-space flag, which makes freed space wake epoll). The same
//!    rule is *not* applied to a short read: `polling` does not ask for
//!    `EPOLLRDHUP`, so a FIN that arrived together with the data (one
//!    coalesced edge) would leave a pending end-of-file that no later edge
//!    announces;
//! 3. stores its waker, then looks at the word once more: if the bit came
//!    back (or CLOSED), it tries again;
//! 4. parks, with its deadline if it has one, and loops.
//!
//! The reactor sets the bits *before* it takes the wakers, and an operation
//! stores its waker *before* its last look, so either the reactor finds the
//! waker or the operation sees the bit: no wake-up is lost. With
//! edge-triggered epoll an event comes only on a change of state, which is
//! why the bit, not the event, is what an operation trusts.
//!
//! On a plain thread (not a coroutine) there may be no worker waiting on the
//! reactor, so an operation there waits with `poll(2)` on its own fd
//! instead: the call blocks that thread, as `std::net` would.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use parking_lot::Mutex;

use crate::reactor::{Reactor, Token};

const READ: usize = 1 << 0;
const WRITE: usize = 1 << 1;
const CLOSED: usize = 1 << 2;
/// One event's increment of the tick counter above the bits.
const TICK: usize = 1 << 3;

/// Which readiness an operation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn bit(self) -> usize {
        match self {
            Direction::Read => READ,
            Direction::Write => WRITE,
        }
    }

    fn poll_events(self) -> libc::c_short {
        match self {
            Direction::Read => libc::POLLIN,
            Direction::Write => libc::POLLOUT,
        }
    }
}

/// What the reactor and the waiting coroutines share for one socket.
#[derive(Debug)]
pub(crate) struct IoState {
    readiness: AtomicUsize,
    readers: Mutex<Option<Waker>>,
    writers: Mutex<Option<Waker>>,
}

impl IoState {
    /// A new registration's state: both directions presumed ready, so the
    /// first operation tries its system call.
    pub(crate) fn new() -> Arc<IoState> {
        Arc::new(IoState {
            readiness: AtomicUsize::new(READ | WRITE),
            readers: Mutex::new(None),
            writers: Mutex::new(None),
        })
    }

    /// The number of events delivered so far.
    #[cfg(test)]
    pub(crate) fn events_seen(&self) -> usize {
        self.readiness.load(Ordering::Acquire) / TICK
    }

    /// Called by the reactor for an event: sets the bits, then wakes.
    pub(crate) fn set_ready(&self, readable: bool, writable: bool) {
        let bits = (if readable { READ } else { 0 }) | (if writable { WRITE } else { 0 });
        self.readiness.fetch_add(TICK, Ordering::AcqRel);
        self.readiness.fetch_or(bits, Ordering::AcqRel);
        self.wake(bits);
    }

    fn wake(&self, bits: usize) {
        if bits & READ != 0 {
            if let Some(w) = self.readers.lock().take() {
                w.wake();
            }
        }
        if bits & WRITE != 0 {
            if let Some(w) = self.writers.lock().take() {
                w.wake();
            }
        }
    }

    fn waiter(&self, dir: Direction) -> &Mutex<Option<Waker>> {
        match dir {
            Direction::Read => &self.readers,
            Direction::Write => &self.writers,
        }
    }
}

/// A socket's registration. The socket type that owns it must keep the fd
/// open until the registration is dropped (declare it before the fd's
/// owner, so it is dropped first).
#[derive(Debug)]
pub(crate) struct Registration {
    state: Arc<IoState>,
    fd: RawFd,
    token: Token,
    reactor: &'static Reactor,
}

impl Registration {
    /// Registers `fd`, which must be in nonblocking mode.
    ///
    /// # Safety
    /// `fd` must stay open until the registration is dropped.
    pub(crate) unsafe fn new(fd: BorrowedFd<'_>) -> io::Result<Registration> {
        let reactor = Reactor::get()?;
        let state = IoState::new();
        // SAFETY: forwarded to the caller.
        let token = unsafe { reactor.register(fd.as_raw_fd(), Arc::clone(&state))? };
        Ok(Registration {
            state,
            fd: fd.as_raw_fd(),
            token,
            reactor,
        })
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for
    /// readiness in `dir` between tries, until `deadline`.
    pub(crate) fn io<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_drain(dir, deadline, || op().map(|r| (r, false)))
    }

    /// As [`io`](Self::io), for an `op` that also says whether it drained
    /// the socket in `dir` (a short read or write), so that the next call
    /// can wait without trying first.
    pub(crate) fn io_drain<R>(
        &self,
        dir: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut() -> io::Result<(R, bool)>,
    ) -> io::Result<R> {
        let bit = dir.bit();
        let in_coroutine = coro::in_coroutine();
        loop {
            let seen = self.state.readiness.load(Ordering::Acquire);
            if seen & CLOSED != 0 {
                return Err(closed());
            }
            if seen & bit != 0 || !in_coroutine {
                match op() {
                    Ok((r, drained)) => {
                        if drained {
                            self.clear_unless_changed(seen, bit);
                        }
                        return Ok(r);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the socket operation timed out",
                ));
            }
            if !in_coroutine {
                self.poll_fd(dir, deadline)?;
                continue;
            }
            if seen & bit != 0 && !self.clear_unless_changed(seen, bit) {
                continue;
            }
            *self.state.waiter(dir).lock() = Some(coro::current_waker());
            if self.state.readiness.load(Ordering::Acquire) & (bit | CLOSED) != 0 {
                continue;
            }
            match deadline {
                Some(d) => coro::park_until(d),
                None => coro::park(),
            }
        }
    }

    /// Clears `bit` if the readiness word is still `seen` (no event since).
    fn clear_unless_changed(&self, seen: usize, bit: usize) -> bool {
        self.state
            .readiness
            .compare_exchange(seen, seen & !bit, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Waits with `poll(2)` (plain threads).
    fn poll_fd(&self, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up, so the wait does not end just before the deadline.
                left.as_millis()
                    .saturating_add(u128::from(left.subsec_nanos() % 1_000_000 != 0))
                    .min(i32::MAX as u128) as libc::c_int
            }
        };
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: dir.poll_events(),
            revents: 0,
        };
        // SAFETY: one valid pollfd; the fd is open (we are registered).
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: the owner keeps the fd open until we are dropped.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        self.reactor.deregister(fd, self.token);
        self.state.readiness.fetch_or(CLOSED, Ordering::AcqRel);
        self.state.wake(READ | WRITE);
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket was closed")
}
