//! The reactor: one `polling::Poller` (epoll) for the process, installed as
//! the coro [driver](coro::driver) so that idle workers wait on it.
//!
//! Every socket registers its fd once, edge-triggered, for both read and
//! write readiness ([`crate::registration`]). An event carries a key that
//! names the registration's slot *and its generation*: when a socket is
//! closed its slot's generation changes, so a stale event that was already
//! in flight for the old fd (which the kernel may have handed to a new
//! socket since) finds a different generation and wakes nobody.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::Mutex;
use polling::{Event, Events, PollMode, Poller};

use crate::registration::IoState;

/// Events taken from the kernel per wait.
const EVENTS_PER_WAIT: usize = 1024;

/// Bits of an event key that hold the slot index; the rest is the
/// generation.
const INDEX_BITS: u32 = 32;

pub(crate) struct Reactor {
    poller: Poller,
    events: Mutex<Events>,
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
    fn key(self) -> usize {
        (self.generation as usize) << INDEX_BITS | self.index as usize
    }

    fn from_key(key: usize) -> Token {
        Token {
            index: key as u32,
            generation: (key >> INDEX_BITS) as u32,
        }
    }
}

impl Reactor {
    /// The process's reactor, created and installed as the coro driver on
    /// first use.
    pub(crate) fn get() -> io::Result<&'static Reactor> {
        static REACTOR: OnceLock<&'static Reactor> = OnceLock::new();
        static INIT: Mutex<()> = Mutex::new(());
        if let Some(r) = REACTOR.get() {
            return Ok(r);
        }
        // One thread creates it (a fallible step `OnceLock` cannot take);
        // the others wait here and find it made.
        let _init = INIT.lock();
        if let Some(r) = REACTOR.get() {
            return Ok(r);
        }
        let reactor: &'static Reactor = Box::leak(Box::new(Reactor {
            poller: Poller::new()?,
            events: Mutex::new(Events::with_capacity(
                EVENTS_PER_WAIT.try_into().expect("nonzero"),
            )),
            slots: Mutex::new(Slots::default()),
        }));
        coro::driver::install(reactor).map_err(|e| io::Error::other(e.to_string()))?;
        let _ = REACTOR.set(reactor);
        Ok(reactor)
    }

    /// Registers `fd` for edge-triggered read and write readiness.
    ///
    /// # Safety
    /// `fd` must stay open until [`deregister`](Self::deregister) is called
    /// for the returned token.
    pub(crate) unsafe fn register(
        &self,
        fd: std::os::fd::RawFd,
        state: Arc<IoState>,
    ) -> io::Result<Token> {
        let token = {
            let mut slots = self.slots.lock();
            let index = match slots.free.pop() {
                Some(i) => i,
                None => {
                    slots.entries.push(SlotEntry {
                        generation: 0,
                        state: None,
                    });
                    (slots.entries.len() - 1) as u32
                }
            };
            let entry = &mut slots.entries[index as usize];
            entry.state = Some(state);
            Token {
                index,
                generation: entry.generation,
            }
        };
        // SAFETY: the caller keeps `fd` open until it is deregistered.
        let added = unsafe {
            self.poller
                .add_with_mode(fd, Event::all(token.key()), PollMode::Edge)
        };
        if let Err(e) = added {
            self.free_slot(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Removes `fd` from the poller and retires its slot.
    pub(crate) fn deregister(&self, fd: std::os::fd::BorrowedFd<'_>, token: Token) {
        // The fd is still open (the caller owns it); ignore an error: the
        // slot is retired either way, so a late event wakes nobody.
        let _ = self.poller.delete(fd);
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
        if self.poller.wait(&mut events, timeout).is_err() {
            return;
        }
        for event in events.iter() {
            self.dispatch(event.key, event.readable, event.writable);
        }
    }

    /// Delivers one event to the registration its key names, if that
    /// registration still exists: a key from a retired slot generation
    /// (its socket closed, the slot perhaps reused) is dropped.
    fn dispatch(&self, key: usize, readable: bool, writable: bool) {
        let token = Token::from_key(key);
        let state = {
            let slots = self.slots.lock();
            match slots.entries.get(token.index as usize) {
                Some(e) if e.generation == token.generation => e.state.clone(),
                _ => None,
            }
        };
        if let Some(state) = state {
            state.set_ready(readable, writable);
        }
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor").finish_non_exhaustive()
    }
}

impl coro::driver::Driver for Reactor {
    fn wait(&self, timeout: Option<Duration>) {
        self.poll(timeout);
    }

    fn wake(&self) {
        let _ = self.poller.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_stale_event_for_a_reused_slot_wakes_nobody() {
        let reactor = Reactor::get().unwrap();
        let (a, _a_peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let (b, _b_peer) = std::os::unix::net::UnixStream::pair().unwrap();
        let state_a = IoState::new();
        // SAFETY: `a` stays open until deregistered below.
        let token_a = unsafe {
            reactor
                .register(std::os::fd::AsRawFd::as_raw_fd(&a), Arc::clone(&state_a))
                .unwrap()
        };
        reactor.deregister(a.as_fd(), token_a);
        let state_b = IoState::new();
        // SAFETY: `b` stays open until deregistered below.
        let token_b = unsafe {
            reactor
                .register(std::os::fd::AsRawFd::as_raw_fd(&b), Arc::clone(&state_b))
                .unwrap()
        };
        assert_eq!(token_a.index, token_b.index, "the slot is reused");
        // An event for the old registration arrives late.
        reactor.dispatch(token_a.key(), true, true);
        assert_eq!(
            state_b.events_seen(),
            0,
            "a stale event reached the new registration"
        );
        reactor.dispatch(token_b.key(), true, false);
        assert_eq!(state_b.events_seen(), 1);
        reactor.deregister(b.as_fd(), token_b);
    }
}
