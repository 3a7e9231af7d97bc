//! One socket's registration with the reactor, and the blocking-style I/O
//! loop built on it.
//!
//! # The readiness protocol
//!
//! `IoState::readiness` holds a READ bit, a WRITE bit, a READ_CLOSED bit, a
//! CLOSED bit and a tick counter that every event increments. Who sets
//! them:
//!
//! * READ, WRITE: the reactor, for an event in that direction (a new
//!   registration starts with both set); cleared only by operations, as
//!   below.
//! * READ_CLOSED: the reactor, for an event with `EPOLLRDHUP`, `EPOLLHUP`
//!   or `EPOLLERR` (the peer's FIN, or a dead socket). Sticky: nothing
//!   clears it. It sets READ too.
//! * CLOSED: [`Registration`]'s drop, which wakes every waiter.
//! * INTERRUPTED: [`Registration::interrupt_read`], from any thread, which
//!   then wakes the readers; cleared by the read operation that takes it
//!   (see "Interrupting a read" below).
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
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

pub(crate) use crate::reactor::Interest;
use crate::reactor::{Reactor, Readiness, Token};
use crate::timeout::Deadline;

const READ: usize = 1 << 0;
const WRITE: usize = 1 << 1;
const CLOSED: usize = 1 << 2;
/// Sticky: the peer's FIN (or an error) was seen; a short read keeps READ.
const READ_CLOSED: usize = 1 << 3;
/// The next read returns `WouldBlock` once (see "Interrupting a read").
const INTERRUPTED: usize = 1 << 4;
/// One event's increment of the tick counter above the bits.
const TICK: usize = 1 << 5;

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

    /// The interrupt bit this direction heeds: reads only.
    fn interrupt(self) -> usize {
        match self {
            Direction::Read => INTERRUPTED,
            Direction::Write => 0,
        }
    }

    fn poll_events(self) -> libc::c_short {
        match self {
            Direction::Read => libc::POLLIN,
            Direction::Write => libc::POLLOUT,
        }
    }
}

/// The wakers of the coroutines waiting in one direction (see the module
/// docs). The first is kept inline: one waiter is the common case, and its
/// wake must not allocate.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    first: Option<coro::Unparker>,
    rest: Vec<coro::Unparker>,
}

impl Waiters {
    /// Adds `waker`, replacing an older waker of the same coroutine.
    fn add(&mut self, waker: coro::Unparker) {
        if let Some(slot) = self.find(&waker) {
            *slot = waker;
        } else if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Takes away the waker of the coroutine that `waker` wakes, if any.
    fn remove(&mut self, waker: &coro::Unparker) {
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
    /// ([`Registration::start_when_readable`]).
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

    fn wake(&self, bits: usize) {
        if bits & READ != 0 {
            wake_all(&self.readers);
            self.start_on_readable();
        }
        if bits & WRITE != 0 {
            wake_all(&self.writers);
        }
    }

    /// Starts the coroutine waiting for read readiness without a
    /// coroutine, if there is one.
    fn start_on_readable(&self) {
        let task = self.on_readable.lock().take();
        if let Some(task) = task {
            task.start();
        }
    }

    fn waiter(&self, dir: Direction) -> &Mutex<Waiters> {
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
        Reactor::with_current(|current| {
            if ptr::eq(self.reactor.load(Ordering::Acquire), Arc::as_ptr(current)) {
                return Ok(());
            }
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
            let seen = self.state.readiness.load(Ordering::Acquire);
            if seen & CLOSED != 0 {
                return Err(closed());
            }
            if dir == Direction::Read && seen & INTERRUPTED != 0 {
                if self.take_interrupt() {
                    return Err(interrupted());
                }
                continue;
            }
            if seen & bit != 0 || !in_coroutine {
                match op() {
                    Ok((r, drained)) => {
                        if drained && !(dir == Direction::Read && seen & READ_CLOSED != 0) {
                            self.clear_unless_changed(seen, bit);
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
                            .waiter(dir)
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
            if seen & bit != 0 && !self.clear_unless_changed(seen, bit) {
                continue;
            }
            self.ensure_on_current_reactor()?;
            self.state.waiter(dir).lock().add(coro::current_unparker());
            if self.state.readiness.load(Ordering::Acquire) & (bit | CLOSED | dir.interrupt()) != 0
            {
                continue;
            }
            match until {
                Some(at) => coro::park_until(at),
                None => coro::park(),
            }
        }
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
        let ready =
            |state: &IoState| state.readiness.load(Ordering::Acquire) & (READ | CLOSED) != 0;
        if !coro::in_coroutine() || ready(&self.state) || self.ensure_on_current_reactor().is_err()
        {
            // A failed registration is reported by the read the task makes.
            task.start();
            return;
        }
        let replaced = self.state.on_readable.lock().replace(task);
        // Its closure is the caller's, dropped outside the lock.
        drop(replaced);
        if ready(&self.state) {
            self.state.start_on_readable();
        }
    }

    /// Makes the read that waits now, or else the next read, return
    /// `WouldBlock` once (see "Interrupting a read"). From any thread.
    pub(crate) fn interrupt_read(&self) {
        self.state.readiness.fetch_or(INTERRUPTED, Ordering::AcqRel);
        wake_all(&self.state.readers);
    }

    /// Clears INTERRUPTED; true if this call cleared it (another reader of
    /// the same stream may have taken it first).
    fn take_interrupt(&self) -> bool {
        self.state
            .readiness
            .fetch_and(!INTERRUPTED, Ordering::AcqRel)
            & INTERRUPTED
            != 0
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
        if let Some((reactor, token)) = self.place.get_mut().take() {
            // SAFETY: the owner keeps the fd open until we are dropped.
            let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
            reactor.deregister(fd, token);
        }
        self.state.readiness.fetch_or(CLOSED, Ordering::AcqRel);
        self.state.wake(READ | WRITE);
    }
}

/// Whether a stream read that returned `n` of `len` bytes emptied the
/// receive queue: it returned data, but less than asked for. (End-of-file,
/// `n == 0`, is not a drain: the next read must return 0 again at once.)
pub(crate) fn drained_by(n: usize, len: usize) -> bool {
    0 < n && n < len
}

fn interrupted() -> io::Error {
    io::Error::new(io::ErrorKind::WouldBlock, "the read was interrupted")
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the socket was closed")
}
