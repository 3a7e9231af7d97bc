//! Blocking on events of one's own making: the low-level API that
//! primitives outside this crate (the `coro-net` sockets) block with.
//!
//! The protocol is the one every primitive of this crate follows:
//!
//! 1. make an [`Unparker`] with [`current_unparker`] (or a `std` waker with
//!    [`current_waker`]) and hand it to whoever will signal the event;
//! 2. check once more whether the event already happened;
//! 3. [`park`] (or [`park_until`]), then check again: `park` may return
//!    without the event (a stale or early wake), so loop.
//!
//! A waker made by a coroutine wakes the next `park` of that coroutine
//! after it was made, whatever the coroutine does in between: it may
//! yield, and block in other primitives (a channel send, a lock, a sleep)
//! before it hands the waker over and parks. Once that `park` has
//! returned, older wakers of it do nothing: after an early return, make a
//! new one (step 1). On a plain thread, the waker unparks the thread and
//! `park` is `std::thread::park`.
//!
//! How: a coroutine's `Unparker` carries the task's *park epoch*, which
//! only a return from `park` moves on (the task's state word,
//! `task::state`). Unparking leaves a token for that epoch, as
//! `std::thread::Thread::unpark` does, and wakes the task if it is in that
//! `park` already; a `park` that finds the token returns at once. The
//! parks inside this crate's own primitives are not `park`s of this API:
//! they neither spend the token nor move the epoch on.
//!
//! An [`Unparker`] is the waker without the `std::task::Waker` clothing:
//! making one counts a reference to the task instead of allocating, which
//! matters to a socket that parks once per message.

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Instant;

use crate::task::Waiter;

struct UnparkerWake(Unparker);

impl Wake for UnparkerWake {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker for the caller's next [`park`]; see `park` for the protocol.
pub fn current_waker() -> Waker {
    Waker::from(current_unparker())
}

/// Wakes the caller's next [`park`] (see `park` for the protocol), from any
/// thread; made by [`current_unparker`].
#[derive(Debug, Clone)]
pub struct Unparker {
    waiter: Waiter,
    /// The park epoch it was made in (coroutines only).
    epoch: u32,
}

impl Unparker {
    /// Wakes the coroutine or thread that made this. A coroutine is woken
    /// only if it has not returned from the `park` this was made for; if it
    /// is not in that `park` yet, the `park` returns at once when it comes.
    /// A thread keeps the token likewise (`std::thread::Thread::unpark`).
    pub fn unpark(&self) {
        match &self.waiter {
            Waiter::Task { task, .. } => task.unpark(self.epoch),
            Waiter::Thread(t) => t.unpark(),
        }
    }

    /// Whether this and `other` wake the same coroutine or thread (made
    /// for the same or for different `park`s): lets a wait list keep one
    /// entry per waiter.
    pub fn will_wake(&self, other: &Unparker) -> bool {
        match (&self.waiter, &other.waiter) {
            (Waiter::Task { task: a, .. }, Waiter::Task { task: b, .. }) => a == b,
            (Waiter::Thread(a), Waiter::Thread(b)) => a.id() == b.id(),
            _ => false,
        }
    }
}

impl From<Unparker> for Waker {
    fn from(unparker: Unparker) -> Waker {
        Waker::from(Arc::new(UnparkerWake(unparker)))
    }
}

/// An [`Unparker`] for the caller's next [`park`]: as [`current_waker`],
/// without allocating.
pub fn current_unparker() -> Unparker {
    let waiter = Waiter::current();
    let epoch = match &waiter {
        Waiter::Task { task, .. } => task.current_epoch(),
        Waiter::Thread(_) => 0,
    };
    Unparker { waiter, epoch }
}

/// Suspends the current coroutine (or parks the thread) until an
/// [`Unparker`] (or a waker from [`current_waker`]) made since the last
/// `park` returned is woken; at once if one was woken already. May return
/// early: check the condition again.
///
/// The protocol, the one every primitive of this crate follows:
///
/// 1. make an [`Unparker`] with [`current_unparker`] (or a `std` waker with
///    [`current_waker`]) and hand it to whoever will signal the event;
/// 2. check once more whether the event already happened;
/// 3. `park` (or [`park_until`]), then check again, in a loop.
///
/// A waker made by a coroutine wakes the next `park` of that coroutine
/// after it was made, whatever the coroutine does in between (yield, or
/// block in a channel, a lock or a sleep) before it parks. Once that `park`
/// has returned, older wakers of it do nothing: after an early return, make
/// a new one. On a plain thread, the waker unparks the thread and `park` is
/// `std::thread::park`.
///
/// A coroutine that parks while its thread is panicking aborts the process
/// (see the crate docs).
pub fn park() {
    park_with(crate::wait::park);
}

/// As [`park`], returning by `deadline` at the latest.
pub fn park_until(deadline: Instant) {
    park_with(|| crate::wait::park_until(deadline));
}

/// Runs `wait` (a suspension of the coroutine, or a block of the thread)
/// as a public park: unless a token is there already, and with the next
/// park epoch afterwards (see the module docs).
fn park_with(wait: impl FnOnce()) {
    if crate::scheduler::with_current_task(|t| t.begin_park()) == Some(true) {
        return;
    }
    wait();
    crate::scheduler::with_current_task(|t| t.end_park());
}
