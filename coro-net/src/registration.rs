//! One socket's registration with the reactor, and the blocking-style I/O
//! loop built on it.
//!
//! # The readiness protocol
//!
//! The readiness word and who sets its bits are described in
//! [`crate::readiness`].
//!
//! An operation ([`Registration::io`]):
//!
//! 0. counts itself against the coroutine's cooperative budget
//!    ([`coro::consume_budget`]), yielding first when it is spent, so a
//!    socket that is always ready cannot keep the worker from the others;
//! 1. loads the readiness word (`seen`) and, if its direction's bit is set,
//!    tries the system call;
//! 2. on `WouldBlock`, clears its direction's bit, but only if the word is
//!    unchanged since step 1 (compare-and-swap); if an event arrived in
//!    between, it tries again at once. The *drain rule*: a call that
//!    returned less than it was asked for emptied the socket in its
//!    direction, so it clears the bit the same way (unless the word
//!    changed) and returns; the next call then parks without a system call
//!    that would only say `WouldBlock`. For writes, a short write filled the
//!    send buffer (and set the socket's no-space flag, so freed space fires
//!    an edge). For reads, a stream read shorter than its buffer emptied
//!    the receive queue, *unless READ_CLOSED is in `seen`*: then the bit
//!    stays, because the FIN (or error) is still pending for the next read
//!    and no later edge will announce it. Datagram reads (UDP) never use
//!    the rule: a short datagram says nothing about the queue;
//! 3. adds its waker to its direction's wait list (replacing an older one
//!    of the same coroutine), then looks at the word once more: if the bit
//!    came back (or CLOSED), it tries again;
//! 4. parks, with its deadline if it has one, and loops. A timeout becomes
//!    a deadline here, at the first wait, so an operation that never waits
//!    never reads the clock ([`Deadline`]).
//!
//! The reactor sets the bits *before* it takes the wakers, and an operation
//! stores its waker *before* its last look, so either the reactor finds the
//! waker or the operation sees the bit: no wake-up is lost. With
//! edge-triggered epoll an event comes only on a change of state, which is
//! why the bit, not the event, is what an operation trusts.
//!
//! ## Several waiters in one direction
//!
//! Coroutines may wait in the same direction at once: acceptors sharing a
//! listener, readers or writers sharing a stream through `&TcpStream`. So
//! each direction keeps a list of wakers ([`Waiters`], as tokio's
//! `ScheduledIo` keeps one), not one slot, which the second waiter would
//! overwrite and leave the first asleep through every later edge. An event
//! takes the *whole* list and wakes every waiter: each retries; the ones
//! that lose the race for the data (or the connection) get `WouldBlock`,
//! clear the bit under the rule of step 2 and wait again, so none is left
//! asleep while the socket is ready, whichever of them the kernel serves.
//! Waking only one would lose a wake-up whenever that one stopped waiting
//! (a timeout, a dropped coroutine) before it retried. An operation that
//! gives up at its deadline takes its waker off the list. So the list holds
//! at most one waker per coroutine that has used the socket since its last
//! event in that direction: the ones waiting, and the few that found the
//! bit back at their last look (or were woken by something else) and went
//! on; the next event takes those too, and their `unpark` at most makes
//! one later park return early, which every wait loop absorbs.
//!
//! ## Why a short read may clear READ
//!
//! Clearing READ is safe when every byte and every FIN that the read did
//! not consume will still fire an edge whose event comes *after* `seen` in
//! the word's modification order, for then the compare-and-swap fails and
//! READ stays. Take a stream read that returned `0 < n < len`:
//!
//! * Data. The kernel's TCP `recvmsg` stops short only when
//!   it finds the receive queue (and, for TCP, the socket backlog) empty.
//!   So any byte not consumed was queued after the read looked, and queuing
//!   it fires the socket's wake-up, hence a new edge. Its event is
//!   harvested and dispatched after that, and so after the read and after
//!   `seen` was loaded (before the read): the tick changes, the clear
//!   fails. An edge for bytes the read *did* consume can land the same way;
//!   it only costs one extra read that says `WouldBlock`.
//! * End-of-file. A FIN that arrives after the read fires an edge of its own
//!   (the socket's state change), covered as data is. A FIN that arrived
//!   before the read was collapsed into the same edge as the data, perhaps
//!   into an event dispatched before `seen` was loaded: that is the case
//!   the old reactor (the `polling` crate, without `EPOLLRDHUP`) could not
//!   tell apart, and why the rule used to be for writes only. Now that
//!   event carries `EPOLLRDHUP` (epoll reports the fd's state when the
//!   event is harvested, so a FIN queued by then is in it), READ_CLOSED is
//!   in `seen`, and the read leaves READ set: the next read returns 0.
//! * Errors and resets come with `EPOLLERR`/`EPOLLHUP`: READ_CLOSED again.
//!
//! The rule is for TCP only. A Unix stream read also stops short at a
//! message that carried file descriptors (`SCM_RIGHTS`) or, with
//! `SO_PASSCRED`, where the sender's credentials change, with bytes still
//! queued and no edge to come: Unix stream reads never clear READ after a
//! short read.
//!
//! One kernel case breaks the rule, as it does for tokio, which clears read
//! readiness the same way: a TCP read stops short at the urgent-data mark
//! (out-of-band data without `SO_OOBINLINE`), with bytes left behind it.
//!
//! A `WouldBlock` still clears READ even with READ_CLOSED set: the kernel
//! has just said there is nothing to read (a stream after its FIN never
//! says that; a UDP socket whose error was reported does, and must park).
//!
//! ## Interrupting a read
//!
//! A protocol served over a stream for a long time (a WebSocket) waits in
//! a read with no deadline, and sometimes must be told something while it
//! waits: the server shuts down, a message for the peer came from another
//! coroutine. [`Registration::interrupt_read`] sets INTERRUPTED, then
//! wakes the readers, as the reactor sets a bit then wakes (so the
//! interrupt is not lost between a reader's last look and its park: that
//! look checks INTERRUPTED too). The next read operation to look at the
//! word, one parked now or the next one to start, clears the bit and
//! returns `WouldBlock` without a system call, so no byte is consumed:
//! the caller does what it was woken for and reads again. Several
//! interrupts before a read takes one are one interrupt. Nothing else
//! ever sets the bit, so a stream that is never interrupted never sees
//! `WouldBlock`, and the bit costs nothing but its test in a load every
//! operation makes anyway.
//!
//! On a plain thread (not a coroutine) there may be no worker waiting on the
//! reactor, so an operation there waits with `poll(2)` on its own fd
//! instead: the call blocks that thread, as `std::net` would.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

pub(crate) use crate::reactor::Interest;
use crate::reactor::{Reactor, Token};
pub(crate) use crate::readiness::Direction;
use crate::readiness::{IoState, CLOSED, READ, READ_CLOSED};
use crate::timeout::{millis_rounded_up, Deadline};

/// A socket's registration. The socket type that owns it must keep the fd
/// open until the registration is dropped (declare it before the fd's
/// owner, so it is dropped first).
///
/// It is registered with a reactor only when a coroutine first has to
/// wait on it, with that coroutine's worker's reactor, and moves to
/// another worker's reactor when a coroutine there waits on it (see
/// [`ensure_on_current_reactor`](Self::ensure_on_current_reactor)). Plain
/// threads never need it registered: they wait with `poll(2)`.
#[derive(Debug)]
pub(crate) struct Registration {
    state: Arc<IoState>,
    fd: RawFd,
    interest: Interest,
    /// The reactor it is registered with (null: none), for a look without
    /// the lock; written under `place`'s lock.
    reactor: AtomicPtr<Reactor>,
    place: Mutex<Option<(Arc<Reactor>, Token)>>,
}

impl Registration {
    /// Prepares the registration of `fd`, which must be in nonblocking
    /// mode.
    ///
    /// # Safety
    /// `fd` must stay open until the registration is dropped.
    pub(crate) unsafe fn new(fd: BorrowedFd<'_>, interest: Interest) -> io::Result<Registration> {
        Ok(Registration {
            state: IoState::new(),
            fd: fd.as_raw_fd(),
            interest,
            reactor: AtomicPtr::new(ptr::null_mut()),
            place: Mutex::new(None),
        })
    }

    /// Makes sure the calling coroutine's worker's reactor watches the fd,
    /// moving the registration there from another reactor if need be.
    ///
    /// Adding an fd to an epoll instance reports its readiness at that
    /// moment (the kernel polls it in `EPOLL_CTL_ADD`), so nothing that
    /// happened before, or while the registration moved, is missed: an
    /// event the old reactor still delivers after the move finds its slot
    /// retired and is dropped, and the new reactor reports the same
    /// readiness anew.
    fn ensure_on_current_reactor(&self) -> io::Result<()> {
        if Reactor::is_current(self.reactor.load(Ordering::Acquire)) {
            return Ok(());
        }
        // Not on this worker's reactor (or the worker has none yet, and
        // `with_current` makes it): move it here.
        Reactor::with_current(|current| {
            let mut place = self.place.lock();
            if let Some((old, token)) = place.take() {
                // SAFETY: the owner keeps the fd open while we exist.
                old.deregister(unsafe { BorrowedFd::borrow_raw(self.fd) }, token);
            }
            self.reactor.store(ptr::null_mut(), Ordering::Release);
            // SAFETY: the owner keeps the fd open until we are dropped,
            // and our drop deregisters it first.
            let token =
                unsafe { current.register(self.fd, self.interest, Arc::clone(&self.state))? };
            *place = Some((Arc::clone(current), token));
            self.reactor
                .store(Arc::as_ptr(current).cast_mut(), Ordering::Release);
            Ok(())
        })?
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for
    /// readiness in `dir` between tries, until `deadline`.
    pub(crate) fn io<R>(
        &self,
        dir: Direction,
        deadline: impl Into<Deadline>,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_drain(dir, deadline, || op().map(|r| (r, false)))
    }

    /// As [`io`](Self::io), for an `op` that also says whether it drained
    /// the socket in `dir` (a short stream read or write), so that the next
    /// call can wait without trying first. For reads, a drained flag is
    /// ignored once the peer's FIN was seen (see the module docs).
    pub(crate) fn io_drain<R>(
        &self,
        dir: Direction,
        deadline: impl Into<Deadline>,
        mut op: impl FnMut() -> io::Result<(R, bool)>,
    ) -> io::Result<R> {
        let mut deadline = deadline.into();
        let bit = dir.bit();
        let in_coroutine = coro::in_coroutine();
        if in_coroutine {
            // An operation that never has to wait would otherwise keep the
            // worker from every other coroutine (see `coro::consume_budget`).
            coro::consume_budget();
        }
        loop {
            let seen = self.state.load();
            if seen & CLOSED != 0 {
                return Err(closed());
            }
            if seen & dir.interrupt() != 0 {
                if self.state.take_interrupt() {
                    return Err(interrupted());
                }
                continue;
            }
            if seen & bit != 0 || !in_coroutine {
                match op() {
                    Ok((r, drained)) => {
                        if drained && !(dir == Direction::Read && seen & READ_CLOSED != 0) {
                            self.state.clear_unless_changed(seen, bit);
                        }
                        return Ok(r);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            let until = match deadline {
                Deadline::Never => None,
                // The first wait: the clock starts now, so it has not run
                // out yet.
                Deadline::After(_) => deadline.resolve(),
                Deadline::At(at) if Instant::now() >= at => {
                    if in_coroutine {
                        // Off the list: nobody is to wake us any more.
                        self.state
                            .waiters(dir)
                            .lock()
                            .remove(&coro::current_unparker());
                    }
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the socket operation timed out",
                    ));
                }
                Deadline::At(at) => Some(at),
            };
            if !in_coroutine {
                self.poll_fd(dir, until)?;
                continue;
            }
            if seen & bit != 0 && !self.state.clear_unless_changed(seen, bit) {
                continue;
            }
            self.ensure_on_current_reactor()?;
            self.state.waiters(dir).lock().add(coro::current_unparker());
            if self.state.load() & (bit | CLOSED | dir.interrupt()) != 0 {
                continue;
            }
            match until {
                Some(at) => coro::park_until(at),
                None => coro::park(),
            }
        }
    }

    /// Makes the read that waits now, or else the next read, return
    /// `WouldBlock` once (see "Interrupting a read"). From any thread.
    pub(crate) fn interrupt_read(&self) {
        self.state.interrupt_read();
    }

    /// Starts `task` once the socket may be readable (data, end of stream,
    /// an error, or the registration's close), or at once if it may be
    /// already: a wait for input that holds no coroutine. The readiness
    /// bit is read after the task is stored, as a parked reader reads it
    /// after storing its waker, so no event is missed between the two.
    /// Outside a coroutine there is no reactor to watch the socket, and the
    /// task starts at once. A second call replaces a task still waiting,
    /// which is dropped.
    pub(crate) fn start_when_readable(&self, task: coro::Unstarted) {
        let ready = |state: &IoState| state.load() & (READ | CLOSED) != 0;
        if !coro::in_coroutine() || ready(&self.state) || self.ensure_on_current_reactor().is_err()
        {
            // A failed registration is reported by the read the task makes.
            task.start();
            return;
        }
        let replaced = self.state.replace_on_readable(task);
        // Its closure is the caller's, dropped outside the lock.
        drop(replaced);
        if ready(&self.state) {
            self.state.start_on_readable();
        }
    }

    /// Waits with `poll(2)` (plain threads).
    fn poll_fd(&self, dir: Direction, deadline: Option<Instant>) -> io::Result<()> {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                // Rounded up, so the wait does not end just before the
                // deadline.
                millis_rounded_up(d.saturating_duration_since(Instant::now()))
            }
        };
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: poll_events(dir),
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
        if let Some((reactor, token)) = self.place.get_mut().take() {
            // SAFETY: the owner keeps the fd open until we are dropped.
            let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
            reactor.deregister(fd, token);
        }
        self.state.close();
    }
}

/// Whether a stream read that returned `n` of `len` bytes emptied the
/// receive queue: it returned data, but less than asked for. (End-of-file,
/// `n == 0`, is not a drain: the next read must return 0 again at once.)
pub(crate) fn drained_by(n: usize, len: usize) -> bool {
    0 < n && n < len
}

/// The `poll(2)` events that mean readiness in `dir`.
fn poll_events(dir: Direction) -> libc::c_short {
    match dir {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    }
}

fn interrupted() -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, "the read was interrupted")
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket was closed")
}
