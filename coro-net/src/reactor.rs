//! The reactor: one epoll instance per coro worker, driven directly through
//! `libc`, installed as that worker's coro [driver](coro::driver) so that
//! the worker waits on it when idle and polls it while busy. All of
//! coro-net's fd registration (`epoll_ctl`) and epoll waiting happens in
//! this module, and so does most of its `unsafe`. The rest is in
//! [`crate::registration`] (borrowing the fd it was promised stays open,
//! and `poll(2)` on a plain thread) and in each socket type's constructor,
//! which makes that promise by calling the `unsafe`
//! `Registration::new`.
//!
//! # One reactor per worker
//!
//! A worker's reactor is made the first time a coroutine on it needs one
//! ([`Reactor::with_current`]), and kept, in a thread-local of the worker
//! thread, for the thread's life. A socket is registered with the reactor
//! of the worker whose coroutine first waits on it (see
//! [`crate::registration`]), so the worker that harvests its events is the
//! one that runs the coroutines waiting on it: delivering an event is a
//! push onto that worker's own queue. No epoll instance is shared, handed
//! from thread to thread, or waited on by two threads; the only
//! cross-thread wake-ups left are for sockets whose waiters live on
//! another worker than the one the socket is registered with, and a
//! registration moves to the waiter's worker when that happens.
//!
//! A listening socket is registered with `EPOLLEXCLUSIVE`: when several
//! workers each accept on their own descriptor of one listener (a `dup`,
//! [`TcpListener::try_clone`](crate::TcpListener::try_clone)), the kernel
//! wakes one epoll instance that is waiting for a new connection, not all
//! of them; the event is still queued on the others, which find the
//! connection taken (an `accept` that says `WouldBlock`) when they look. A
//! worker that is busy, or blocked in a system call, is not waiting, so
//! the kernel passes it over and wakes one that is: accepting never
//! depends on one worker.
//!
//! # Registration
//!
//! Every socket registers its fd once, edge-triggered, for
//! `EPOLLIN | EPOLLOUT | EPOLLRDHUP` (`EPOLLERR` and `EPOLLHUP` are always
//! reported). An event is handed to the socket's [`IoState`] as three
//! facts: readable, writable, and *read closed* (`EPOLLRDHUP`, `EPOLLHUP`
//! or `EPOLLERR`: the peer sent its FIN, or the socket is dead). Read closed
//! is what lets a short read clear read readiness safely; see
//! [`crate::registration`]. The event mask that `epoll_wait` reports is the
//! fd's state when the event is harvested, not when the edge fired, so a FIN
//! that arrived with the last data shows up as `EPOLLRDHUP` in that same
//! event, and a FIN that arrives later fires an edge of its own.
//!
//! An event carries a key that names the registration's slot *and its
//! generation*: when a socket is closed its slot's generation changes, so a
//! stale event that was already in flight for the old fd (which the kernel
//! may have handed to a new socket since) finds a different generation and
//! wakes nobody.
//!
//! # Waiting and waking
//!
//! [`Driver::wait`](coro::driver::Driver::wait) is one system call:
//! `epoll_pwait2`, whose `timespec` timeout keeps a timer due in 1 µs from
//! being rounded up to a whole millisecond. On a kernel without it (before
//! 5.11, `ENOSYS`), or under a seccomp filter that refuses it (`EPERM`), the
//! reactor falls back, once and for good, to
//! `epoll_wait`, rounding the timeout *up* to milliseconds so that a wait
//! never ends before a timer is due.
//!
//! [`Driver::wake`](coro::driver::Driver::wake) writes to an eventfd that is
//! registered edge-triggered under its own key. Every write to an eventfd
//! wakes its waiters, and edge-triggered epoll reports each wake-up that
//! finds the fd not already queued as ready, so the counter never has to be
//! read to re-arm the edge: a wait costs no `read` or `epoll_ctl` for the
//! notifier. The counter only grows; if it ever reached its maximum
//! (2^64 - 2, centuries of wake-ups) the write would fail with `EAGAIN`,
//! and `wake` then reads it back to zero and writes again, as mio does.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::readiness::{IoState, Readiness};
use crate::timeout::millis_rounded_up;

/// Events taken from the kernel per wait.
const EVENTS_PER_WAIT: usize = 1024;

/// Bits of an event key that hold the slot index; the rest is the
/// generation.
const INDEX_BITS: u32 = 32;

/// The key of the notifier eventfd's events. No token has it: its index
/// would be `u32::MAX`, which [`Reactor::register`] never hands out.
const NOTIFY_KEY: u64 = u64::MAX;

/// What a registration asks the kernel to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    /// A connected or datagram socket: both directions and the peer's FIN,
    /// edge triggered. `EPOLLERR` and `EPOLLHUP` need not be asked for.
    Socket,
    /// A listening socket: new connections, edge triggered, waking one
    /// waiting epoll instance of those that watch the listener (see the
    /// module docs). `EPOLLRDHUP` is not allowed with `EPOLLEXCLUSIVE`.
    Listener,
}

impl Interest {
    fn events(self) -> u32 {
        (match self {
            Interest::Socket => libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET,
            Interest::Listener => libc::EPOLLIN | libc::EPOLLEXCLUSIVE | libc::EPOLLET,
        }) as u32
    }
}

/// Event bits that make a socket readable: data, or a read that will not
/// block because it returns end-of-file or an error.
const READABLE: u32 = (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Event bits that make a socket writable, or make a write fail at once.
const WRITABLE: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
/// Event bits after which reads never block again on a stream socket.
const READ_CLOSED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// Whether `epoll_pwait2` may be tried: its timeout is the kernel's 64-bit
/// `timespec`, which is `libc::timespec` only on 64-bit targets.
const PWAIT2_POSSIBLE: bool = cfg!(target_pointer_width = "64");

pub(crate) struct Reactor {
    epoll: OwnedFd,
    notify: OwnedFd,
    /// Cleared, for good, when the kernel (or a seccomp filter) refuses
    /// `epoll_pwait2` (`ENOSYS`, `EPERM`).
    pwait2: AtomicBool,
    events: Mutex<Vec<libc::epoll_event>>,
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slots {
    entries: Vec<SlotEntry>,
    free: Vec<u32>,
}

struct SlotEntry {
    generation: u32,
    state: Option<Arc<IoState>>,
}

/// Where a registration lives in the reactor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    index: u32,
    generation: u32,
}

impl Token {
    fn key(self) -> u64 {
        u64::from(self.generation) << INDEX_BITS | u64::from(self.index)
    }

    fn from_key(key: u64) -> Token {
        Token {
            index: key as u32,
            generation: (key >> INDEX_BITS) as u32,
        }
    }
}

/// The epoll side of [`Readiness`]: what an event's mask says.
impl Readiness {
    fn from_epoll(events: u32) -> Readiness {
        Readiness {
            readable: events & READABLE != 0,
            writable: events & WRITABLE != 0,
            read_closed: events & READ_CLOSED != 0,
        }
    }
}

/// Turns a `-1` return into the thread's `errno`.
fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

thread_local! {
    /// The calling worker's reactor, once made (see `Reactor::with_current`).
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// Its address while `CURRENT` holds it, else null.
    static CURRENT_ADDRESS: Cell<*const Reactor> = const { Cell::new(ptr::null()) };
}

/// A worker's reactor in `CURRENT`; its drop (the thread's end) clears
/// `CURRENT_ADDRESS`, so no later reactor at the same address is taken for
/// it.
struct Current(Arc<Reactor>);

impl Drop for Current {
    fn drop(&mut self) {
        let _ = CURRENT_ADDRESS.try_with(|a| a.set(ptr::null()));
    }
}

impl Reactor {
    /// Runs `f` on the calling worker's reactor, made and installed as
    /// the worker's driver on first use. Coroutines only: a plain thread
    /// is no worker, and gets an error.
    ///
    /// # Errors
    /// The epoll instance or eventfd cannot be made (out of descriptors),
    /// or the worker has another driver.
    pub(crate) fn with_current<R>(f: impl FnOnce(&Arc<Reactor>) -> R) -> io::Result<R> {
        CURRENT.with(|current| {
            if let Some(Current(r)) = current.borrow().as_ref() {
                return Ok(f(r));
            }
            let reactor = Arc::new(Reactor::new()?);
            coro::driver::install(Arc::clone(&reactor) as Arc<dyn coro::driver::Driver>)
                .map_err(|e| io::Error::other(e.to_string()))?;
            let out = f(&reactor);
            CURRENT_ADDRESS.with(|a| a.set(Arc::as_ptr(&reactor)));
            *current.borrow_mut() = Some(Current(reactor));
            Ok(out)
        })
    }

    /// Whether `reactor` is the calling worker's reactor: the check every
    /// wait for readiness makes first, by address, without the borrow and
    /// the result that [`with_current`](Self::with_current) costs.
    pub(crate) fn is_current(reactor: *const Reactor) -> bool {
        !reactor.is_null()
            && CURRENT_ADDRESS
                .try_with(|a| ptr::eq(a.get(), reactor))
                .unwrap_or(false)
    }

    fn new() -> io::Result<Reactor> {
        // SAFETY: no pointers; a new fd or -1.
        let epoll = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `epoll` is a fresh fd that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        // SAFETY: no pointers; a new fd or -1.
        let notify = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `notify` is a fresh fd that nothing else owns.
        let notify = unsafe { OwnedFd::from_raw_fd(notify) };
        let reactor = Reactor {
            epoll,
            notify,
            pwait2: AtomicBool::new(PWAIT2_POSSIBLE),
            events: Mutex::new(Vec::with_capacity(EVENTS_PER_WAIT)),
            slots: Mutex::new(Slots::default()),
        };
        reactor.ctl(
            libc::EPOLL_CTL_ADD,
            reactor.notify.as_raw_fd(),
            (libc::EPOLLIN | libc::EPOLLET) as u32,
            NOTIFY_KEY,
        )?;
        Ok(reactor)
    }

    /// One `epoll_ctl` on our epoll instance.
    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: key };
        // SAFETY: `event` is a valid epoll_event for the call's duration;
        // the kernel checks `fd` (a closed or foreign fd is an error, and
        // registering one is what `register`'s contract rules out).
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) })?;
        Ok(())
    }

    /// Registers `fd` for edge-triggered readiness, as `interest` says.
    ///
    /// # Safety
    /// `fd` must stay open until [`deregister`](Self::deregister) is called
    /// for the returned token.
    pub(crate) unsafe fn register(
        &self,
        fd: RawFd,
        interest: Interest,
        state: Arc<IoState>,
    ) -> io::Result<Token> {
        let token = {
            let mut slots = self.slots.lock();
            let index = match slots.free.pop() {
                Some(i) => i,
                None => {
                    let i = u32::try_from(slots.entries.len())
                        .ok()
                        .filter(|&i| i != u32::MAX)
                        .ok_or_else(|| io::Error::other("too many registered sockets"))?;
                    slots.entries.push(SlotEntry {
                        generation: 0,
                        state: None,
                    });
                    i
                }
            };
            let entry = &mut slots.entries[index as usize];
            entry.state = Some(state);
            Token {
                index,
                generation: entry.generation,
            }
        };
        if let Err(e) = self.ctl(libc::EPOLL_CTL_ADD, fd, interest.events(), token.key()) {
            self.free_slot(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Removes `fd` from the epoll instance and retires its slot.
    pub(crate) fn deregister(&self, fd: BorrowedFd<'_>, token: Token) {
        // The fd is still open (the caller owns it); ignore an error: the
        // slot is retired either way, so a late event wakes nobody.
        let _ = self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0);
        self.free_slot(token);
    }

    fn free_slot(&self, token: Token) {
        let mut slots = self.slots.lock();
        let entry = &mut slots.entries[token.index as usize];
        if entry.generation == token.generation {
            entry.generation = entry.generation.wrapping_add(1);
            entry.state = None;
            slots.free.push(token.index);
        }
    }

    /// Waits for events and wakes the coroutines waiting on them.
    fn poll(&self, timeout: Option<Duration>) {
        let Some(mut events) = self.events.try_lock() else {
            return;
        };
        events.clear();
        let Ok(n) = self.epoll_wait(&mut events, timeout) else {
            // EINTR, or nothing we could act on: the driver loop waits again.
            return;
        };
        // SAFETY: the kernel initialised the first `n` entries, and `n` is
        // at most the capacity we passed it.
        unsafe { events.set_len(n) };
        for event in events.iter() {
            // Copies: the struct is packed on x86_64, so no references.
            let (key, bits) = (event.u64, event.events);
            if key != NOTIFY_KEY {
                self.dispatch(key, Readiness::from_epoll(bits));
            }
        }
    }

    /// One `epoll_pwait2` (or `epoll_wait`) into `events`' spare capacity;
    /// returns how many entries the kernel filled.
    fn epoll_wait(
        &self,
        events: &mut Vec<libc::epoll_event>,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let max = events.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
        let buf = events.as_mut_ptr();
        if self.pwait2.load(Ordering::Relaxed) {
            let ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                tv_nsec: t.subsec_nanos() as libc::c_long,
            });
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            // SAFETY: `buf` has room for `max` events; `ts_ptr` is null
            // (wait forever) or points to a timespec that outlives the
            // call, in the kernel's layout (64-bit targets only, see
            // `PWAIT2_POSSIBLE`); a null sigmask leaves the mask alone.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    self.epoll.as_raw_fd(),
                    buf,
                    max,
                    ts_ptr,
                    std::ptr::null::<libc::sigset_t>(),
                    0 as libc::size_t,
                )
            };
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = io::Error::last_os_error();
            // ENOSYS: an older kernel. EPERM: a seccomp filter (older
            // container runtimes, systemd's SystemCallFilter) that refuses
            // system calls it does not know. Both for good.
            if !matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                return Err(e);
            }
            self.pwait2.store(false, Ordering::Relaxed);
        }
        let ms = match timeout {
            None => -1,
            // Round up, so the wait does not end before the timer is due.
            Some(t) => millis_rounded_up(t),
        };
        // SAFETY: `buf` has room for `max` events.
        let n = cvt(unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), buf, max, ms) })?;
        Ok(n as usize)
    }

    /// Delivers one event to the registration its key names, if that
    /// registration still exists: a key from a retired slot generation
    /// (its socket closed, the slot perhaps reused) is dropped.
    fn dispatch(&self, key: u64, readiness: Readiness) {
        let token = Token::from_key(key);
        let state = {
            let slots = self.slots.lock();
            match slots.entries.get(token.index as usize) {
                Some(e) if e.generation == token.generation => e.state.clone(),
                _ => None,
            }
        };
        if let Some(state) = state {
            state.set_ready(readiness);
        }
    }

    /// Makes a wait in progress, or the next one, return.
    fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        loop {
            // SAFETY: writes the 8 bytes of `one`, which outlives the call.
            let r = unsafe {
                libc::write(
                    self.notify.as_raw_fd(),
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
            if r >= 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => {
                    // The counter is full (see the module docs): reset it.
                    let mut sink: u64 = 0;
                    // SAFETY: reads at most 8 bytes into `sink`, which
                    // outlives the call.
                    unsafe {
                        libc::read(
                            self.notify.as_raw_fd(),
                            (&mut sink as *mut u64).cast(),
                            std::mem::size_of::<u64>(),
                        )
                    };
                }
                _ => return Err(e),
            }
        }
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("epoll", &self.epoll)
            .field("notify", &self.notify)
            .finish_non_exhaustive()
    }
}

impl coro::driver::Driver for Reactor {
    fn wait(&self, timeout: Option<Duration>) {
        self.poll(timeout);
    }

    fn wake(&self) {
        let _ = self.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::time::Instant;

    const READ_ONLY: Readiness = Readiness {
        readable: true,
        writable: false,
        read_closed: false,
    };

    #[test]
    fn a_stale_event_for_a_reused_slot_wakes_nobody() {
        let reactor = Reactor::new().unwrap();
        let (a, _a_peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let (b, _b_peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let state_a = IoState::new();
        // SAFETY: `a` stays open until deregistered below.
        let token_a = unsafe {
            reactor
                .register(
                    std::os::fd::AsRawFd::as_raw_fd(&a),
                    Interest::Socket,
                    Arc::clone(&state_a),
                )
                .unwrap()
        };
        reactor.deregister(a.as_fd(), token_a);
        let state_b = IoState::new();
        // SAFETY: `b` stays open until deregistered below.
        let token_b = unsafe {
            reactor
                .register(
                    std::os::fd::AsRawFd::as_raw_fd(&b),
                    Interest::Socket,
                    Arc::clone(&state_b),
                )
                .unwrap()
        };
        assert_eq!(token_a.index, token_b.index, "the slot is reused");
        // An event for the old registration arrives late.
        reactor.dispatch(
            token_a.key(),
            Readiness::from_epoll((libc::EPOLLIN | libc::EPOLLOUT) as u32),
        );
        assert_eq!(
            state_b.events_seen(),
            0,
            "a stale event reached the new registration"
        );
        reactor.dispatch(token_b.key(), READ_ONLY);
        assert_eq!(state_b.events_seen(), 1);
        reactor.deregister(b.as_fd(), token_b);
    }

    #[test]
    fn event_bits_map_to_readiness() {
        let rdhup = Readiness::from_epoll((libc::EPOLLIN | libc::EPOLLRDHUP) as u32);
        assert!(rdhup.readable && rdhup.read_closed && !rdhup.writable);
        let hup = Readiness::from_epoll(libc::EPOLLHUP as u32);
        assert!(hup.readable && hup.writable && hup.read_closed);
        let out = Readiness::from_epoll(libc::EPOLLOUT as u32);
        assert!(!out.readable && out.writable && !out.read_closed);
        assert_eq!(Readiness::from_epoll(libc::EPOLLIN as u32), READ_ONLY);
    }

    #[test]
    fn wake_ends_a_wait_every_time_without_draining_the_eventfd() {
        // A reactor of its own, not the process's: a worker of another test
        // could harvest the wake-ups from that one.
        let reactor = Reactor::new().unwrap();
        let mut events = Vec::with_capacity(EVENTS_PER_WAIT);
        for _ in 0..3 {
            reactor.notify().unwrap();
            let n = reactor
                .epoll_wait(&mut events, Some(Duration::from_secs(10)))
                .unwrap();
            assert_eq!(n, 1, "a wake-up was not reported");
            // SAFETY: the kernel filled the one entry.
            unsafe { events.set_len(1) };
            assert_eq!({ events[0].u64 }, NOTIFY_KEY);
            events.clear();
        }
    }

    #[test]
    fn a_sub_millisecond_timeout_is_not_rounded_up_to_a_millisecond() {
        let reactor = Reactor::new().unwrap();
        let mut events = Vec::with_capacity(EVENTS_PER_WAIT);
        // The best of several short waits: one can be slowed by the
        // machine, not all of them sped up below the millisecond.
        let best = (0..20)
            .map(|_| {
                let start = Instant::now();
                let _ = reactor.epoll_wait(&mut events, Some(Duration::from_micros(10)));
                start.elapsed()
            })
            .min()
            .unwrap();
        if !reactor.pwait2.load(Ordering::Relaxed) {
            return; // the kernel lacks epoll_pwait2: the fallback rounds up
        }
        assert!(best < Duration::from_millis(1), "best wait {best:?}");
    }
}
