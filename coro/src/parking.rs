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
//! after it was made; once the coroutine has parked and resumed, older
//! wakers of it do nothing. On a plain thread, the waker unparks the thread
//! and `park` is `std::thread::park`.
//!
//! An [`Unparker`] is the waker without the `std::task::Waker` clothing:
//! making one counts a reference to the task instead of allocating, which
//! matters to a socket that parks once per message.

use std::sync::Arc;
use std::task::{Wake, Waker};
use std::time::Instant;

use crate::task::Waiter;

struct WaiterWake(Waiter);

impl Wake for WaiterWake {
    fn wake(self: Arc<Self>) {
        self.0.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake_by_ref();
    }
}

/// A waker for the caller's next [`park`]; see the module docs.
pub fn current_waker() -> Waker {
    Waker::from(current_unparker())
}

/// Wakes the caller's next [`park`] (see the module docs), from any thread;
/// made by [`current_unparker`].
#[derive(Debug, Clone)]
pub struct Unparker(Waiter);

impl Unparker {
    /// Wakes the coroutine or thread that made this. A coroutine is woken
    /// only if it has not moved past the `park` it was made for; a thread
    /// keeps the token, so its next `park` returns at once (as with
    /// `std::thread::Thread::unpark`).
    pub fn unpark(&self) {
        self.0.wake_by_ref();
    }
}

impl From<Unparker> for Waker {
    fn from(unparker: Unparker) -> Waker {
        Waker::from(Arc::new(WaiterWake(unparker.0)))
    }
}

/// An [`Unparker`] for the caller's next [`park`]: as [`current_waker`],
/// without allocating.
pub fn current_unparker() -> Unparker {
    Unparker(Waiter::current())
}

/// Suspends the current coroutine (or parks the thread) until a waker from
/// [`current_waker`] is woken. May return early: check the condition again.
pub fn park() {
    crate::task::park();
}

/// As [`park`], returning by `deadline` at the latest.
pub fn park_until(deadline: Instant) {
    crate::task::park_until(deadline);
}
