//! The open connections, as the shutdown and the idle sweep see them.
//!
//! Each connection is an entry with a state word (busy, idle, closing,
//! upgraded) and a way to shut it from outside its coroutine
//! ([`Shutter`](crate::link::Shutter)). An upgraded connection (one
//! that switched protocols, see `upgrade`) is neither busy nor idle: the
//! shutdown does not close it as idle, but tells it once
//! ([`ConnEntry::notify_upgraded`]) and waits for it within the grace
//! period. The registry also holds the
//! shutting-down flag that connections check as they go idle (see
//! `server`'s module docs, "Shutdown", for the protocol), and the
//! connection cap's permits.

use std::collections::HashMap;
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro::sync::Semaphore;
use parking_lot::Mutex;

use crate::link::Shutter;

const BUSY: u8 = 0;
const IDLE: u8 = 1;
const CLOSING: u8 = 2;
/// It switched protocols; it stays so until it closes.
const UPGRADED: u8 = 3;

/// One open connection, as the shutdown sees it.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    id: u64,
    shutter: Shutter,
    /// It holds a place under the connection cap (it came through one of
    /// the server's listeners), given back when it closes.
    holds_slot: bool,
    state: AtomicU8,
    /// While the connection waits for its next request without a
    /// coroutine: when its idle timeout ends, in nanoseconds from the
    /// registry's epoch (0 otherwise).
    idle_deadline: AtomicU64,
    /// The shutdown has told this upgraded connection (once).
    notified: AtomicBool,
}

impl ConnEntry {
    /// Marks the connection upgraded: from now on it serves another
    /// protocol until it closes. Only from busy (it served the request
    /// that upgraded it).
    pub(crate) fn enter_upgraded(&self) {
        let _ = self
            .state
            .compare_exchange(BUSY, UPGRADED, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// During the shutdown, tells an upgraded connection, once, by
    /// interrupting its read (see `upgrade`'s module docs). A connection
    /// that upgrades after the shutdown's first look is told at a later
    /// one: the shutdown looks until every connection is gone.
    pub(crate) fn notify_upgraded(&self) {
        if self.state.load(Ordering::SeqCst) == UPGRADED
            && !self.notified.swap(true, Ordering::SeqCst)
        {
            self.shutter.interrupt_read();
        }
    }

    /// Marks the connection idle before it waits for a request. False if
    /// the server is shutting down: the connection should close instead.
    pub(crate) fn enter_idle(&self, registry: &Registry) -> bool {
        if self
            .state
            .compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        !registry.is_closing()
    }

    /// Marks it busy again after the wait.
    pub(crate) fn leave_idle(&self) {
        let _ = self
            .state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Notes that the connection waits for its next request without a
    /// coroutine, for `idle_left` at most (see `sweep_idle`).
    pub(crate) fn wait_elsewhere(&self, registry: &Registry, idle_left: Duration) {
        let deadline = registry.nanos(Instant::now() + idle_left);
        self.idle_deadline.store(deadline, Ordering::SeqCst);
        registry.waiting_elsewhere.fetch_add(1, Ordering::SeqCst);
    }

    /// Its wait without a coroutine is over.
    pub(crate) fn stop_waiting_elsewhere(&self, registry: &Registry) {
        self.idle_deadline.store(0, Ordering::SeqCst);
        registry.waiting_elsewhere.fetch_sub(1, Ordering::SeqCst);
    }

    /// Ends the wait of a connection whose idle timeout has passed: its
    /// read side is shut, which starts its coroutine, to find the end of
    /// the stream and close.
    pub(crate) fn close_if_idle_too_long(&self, now: u64) {
        let deadline = self.idle_deadline.load(Ordering::SeqCst);
        if deadline != 0 && now >= deadline {
            self.shutter.shut(Shutdown::Read);
        }
    }

    /// Shuts the connection's socket from outside its stream.
    pub(crate) fn shut(&self, how: Shutdown) {
        self.shutter.shut(how);
    }

    /// Closes the connection if it is idle; a busy one sees the flag later.
    pub(crate) fn close_if_idle(&self) {
        if self
            .state
            .compare_exchange(IDLE, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            self.shutter.shut(Shutdown::Read);
        }
    }
}

/// The shutting-down flag: set once, by the shutdown.
#[derive(Debug, Clone, Default)]
pub(crate) struct Closing(Arc<AtomicBool>);

impl Closing {
    pub(crate) fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The open connections.
pub(crate) struct Registry {
    next_id: AtomicU64,
    /// The server is shutting down: no connection may go idle.
    closing: Closing,
    open: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    /// Connections that wait for a request without a coroutine.
    pub(crate) waiting_elsewhere: AtomicUsize,
    /// Where idle deadlines count from.
    epoch: Instant,
    /// One permit per connection the cap allows
    /// ([`Builder::max_connections`]); `None` without a cap. An acceptor
    /// takes one before it accepts, the connection gives it back when it
    /// closes (`remove`).
    slots: Option<Semaphore>,
}

impl Registry {
    pub(crate) fn new(max_connections: Option<usize>) -> Registry {
        Registry {
            next_id: AtomicU64::new(0),
            closing: Closing::default(),
            open: Mutex::default(),
            waiting_elsewhere: AtomicUsize::new(0),
            epoch: Instant::now(),
            slots: max_connections.map(Semaphore::new),
        }
    }

    /// Waits, under the connection cap, until one more connection may open,
    /// and takes its place (given back by `remove`, or by `give_back_slot`
    /// if none opens). Parks the acceptor while the server is full: new
    /// connections wait in the listen backlog meanwhile.
    pub(crate) fn take_slot(&self) {
        if let Some(slots) = &self.slots {
            std::mem::forget(slots.acquire());
        }
    }

    /// Gives back a place taken by `take_slot` that no connection holds.
    pub(crate) fn give_back_slot(&self) {
        if let Some(slots) = &self.slots {
            slots.add_permits(1);
        }
    }

    /// Wakes `acceptors` acceptors parked in `take_slot`, for the shutdown.
    /// Starts the shutdown: from now on no connection goes idle (see
    /// [`ConnEntry::enter_idle`]). False if it had started already.
    pub(crate) fn start_closing(&self) -> bool {
        !self.closing.0.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_set()
    }

    /// The shutting-down flag, for what outlives a request (an upgraded
    /// connection).
    pub(crate) fn closing(&self) -> Closing {
        self.closing.clone()
    }

    pub(crate) fn release_acceptors(&self, acceptors: usize) {
        if let Some(slots) = &self.slots {
            slots.add_permits(acceptors);
        }
    }

    /// Adds a connection; `holds_slot`: it took a place under the cap.
    pub(crate) fn insert(&self, shutter: Shutter, holds_slot: bool) -> Arc<ConnEntry> {
        let entry = Arc::new(ConnEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            shutter,
            holds_slot,
            state: AtomicU8::new(BUSY),
            idle_deadline: AtomicU64::new(0),
            notified: AtomicBool::new(false),
        });
        self.open.lock().insert(entry.id, Arc::clone(&entry));
        entry
    }

    pub(crate) fn remove(&self, entry: &ConnEntry) {
        if self.open.lock().remove(&entry.id).is_some() && entry.holds_slot {
            self.give_back_slot();
        }
    }

    /// How many connections are upgraded (for tests and the logs).
    pub(crate) fn upgraded(&self) -> usize {
        self.open
            .lock()
            .values()
            .filter(|e| e.state.load(Ordering::SeqCst) == UPGRADED)
            .count()
    }

    pub(crate) fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// `at` in nanoseconds from the registry's epoch, never 0.
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    pub(crate) fn each(&self, f: impl Fn(&ConnEntry)) {
        let entries: Vec<Arc<ConnEntry>> = self.open.lock().values().cloned().collect();
        for e in entries {
            f(&e);
        }
    }

    /// Shuts every open connection from outside, for the end of the grace
    /// period.
    pub(crate) fn shut_all(&self) {
        self.each(|e| e.shutter.shut(Shutdown::Both));
    }
}
