//! The channel itself: a lock, a buffer, and two queues of waiting
//! operations.
//!
//! One design serves every flavour: `bounded(n)` (a buffer of `n`),
//! `bounded(0)` (no buffer: a message passes only from a waiting sender to
//! a receiver, or from a sender to a waiting receiver, as in Go) and
//! `unbounded()` (no limit).
//!
//! A blocked operation is a *hook* in `send_hooks` or `recv_hooks`: its
//! selection [`Signal`] (shared with the other hooks of the same `select!`),
//! the index of the operation within that select, and a slot through which
//! the message passes ([`Waiting`]). Hooks and packets live on the heap,
//! never on the waiting coroutine's stack, because that stack may be copied
//! out while the coroutine is parked (see `crate::stack`).
//!
//! Invariants, under the lock:
//!
//! * a receiver hook waits only while the buffer is empty;
//! * a sender hook waits only while the buffer is full (always, for
//!   `bounded(0)`); when a receiver frees a place, the first waiting sender
//!   moves its message into the buffer, so FIFO order holds;
//! * a hook whose signal cannot be claimed any more (its select chose
//!   another operation, or gave up) is dead and is dropped when met.
//!
//! Messages are handed over under the lock; the woken party is unparked
//! after the lock is released.
//!
//! # Observers
//!
//! A third queue, `observers`, holds hooks that carry no message: those of
//! [`Select::ready`](super::Select::ready) and of a select's send whose
//! message is not known yet (crossbeam's `Select::send`). They wait for the
//! channel to *change*, not for a partner: every change that can make an
//! operation ready (a message in or out, a hook queued, a disconnection)
//! completes all of them, and their selects look again. An observer is
//! never a partner: a `try_recv` does not take a message from it.
//!
//! # Clocks
//!
//! [`after`](super::after) and [`tick`](super::tick) channels have no
//! sender; their `clock` makes a message (the `Instant` it was due) when a
//! receive finds it due. A select waiting on one parks no later than the
//! clock's next due time and then looks again.
//!
//! # Dropping the last receiver
//!
//! The buffered messages are dropped one by one, outside the lock. If one
//! of their destructors panics, the rest are leaked and that first panic
//! goes on (a second panic while unwinding would abort the process).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::lock_api::RawMutex as _;
use parking_lot::RawMutex;

use std::time::{Duration, Instant};

use super::error::{RecvError, SendError, TryRecvError, TrySendError};
use super::signal::Signal;
use crate::task::Waiter;

/// A blocked operation, waiting in a channel: its selection signal, the
/// index of the operation in its select, and the slot through which the
/// message passes. Owned by the blocked operation (on the heap, never on
/// its stack: see the module docs); the channel's queues hold [`Hook`]s,
/// raw pointers to it.
///
/// # Lifetime
///
/// A hook is reachable by completers only while it is in a queue, and they
/// touch it only under the channel lock. It leaves the queue either when a
/// completer pops it (the completer is done with it before it releases the
/// lock), or when its owner removes it under the lock. The owner frees it
/// only after one of these (on every path, unwinding included: a select
/// unwound out of its wait, whether from its park or from a yield while a
/// claim on it is held, unregisters every hook before it frees any, and
/// waits out that claim without suspending again, see `select::run`).
///
/// # The message slot
///
/// The owner fills it (a send) before registering; a completer touches it
/// only after winning the signal; the owner reads it back only after
/// seeing its signal selected (an `Acquire` of the completer's `Release`)
/// or after removing its hook and aborting the signal.
pub(crate) struct Waiting<T> {
    signal: SignalRef,
    op: usize,
    value: UnsafeCell<Option<T>>,
}

/// The signal of a blocked operation: its own for a lone send or receive
/// (one allocation per wait), or the one shared by the operations of a
/// `select!`, which outlives the hooks that point to it.
pub(crate) enum SignalRef {
    Own(Signal),
    Shared(NonNull<Signal>),
}

/// A queued pointer to a [`Waiting`].
pub(crate) struct Hook<T>(NonNull<Waiting<T>>);

impl<T> Hook<T> {
    fn get(&self) -> &Waiting<T> {
        // SAFETY: a hook in a queue points at a live `Waiting` (see its
        // lifetime rules), and we are under the channel lock.
        unsafe { self.0.as_ref() }
    }
}

impl<T> Waiting<T> {
    /// Allocates a hook; the caller owns it and frees it with `free`.
    pub(crate) fn alloc(signal: SignalRef, op: usize, value: Option<T>) -> NonNull<Waiting<T>> {
        NonNull::from(Box::leak(Box::new(Waiting {
            signal,
            op,
            value: UnsafeCell::new(value),
        })))
    }

    /// # Safety
    /// `this` came from `alloc`, is in no queue, and is not used again.
    pub(crate) unsafe fn free(this: NonNull<Waiting<T>>) -> Option<T> {
        // SAFETY: forwarded to the caller.
        let b = unsafe { Box::from_raw(this.as_ptr()) };
        b.value.into_inner()
    }

    pub(crate) fn signal(&self) -> &Signal {
        match &self.signal {
            SignalRef::Own(s) => s,
            // SAFETY: a shared signal outlives every hook that points to it.
            SignalRef::Shared(s) => unsafe { s.as_ref() },
        }
    }

    /// # Safety
    /// The caller has exclusive access to the slot (see the type's docs).
    pub(crate) unsafe fn put(&self, v: T) {
        // SAFETY: forwarded to the caller.
        unsafe { *self.value.get() = Some(v) }
    }

    /// # Safety
    /// The caller has exclusive access to the slot (see the type's docs).
    pub(crate) unsafe fn take(&self) -> Option<T> {
        // SAFETY: forwarded to the caller.
        unsafe { (*self.value.get()).take() }
    }

    /// Ends a claim of this hook's signal. Wakes the waiter at once when
    /// that is only a push onto this worker's queue; otherwise returns it
    /// to wake once the channel lock is released.
    fn complete(&self) -> Option<Waiter> {
        let signal = self.signal();
        // Decide before publishing: once the signal shows `SELECTED`, an
        // owner on another thread may free the hook.
        let remote = signal.remote_waiter();
        signal.complete(self.op);
        if remote.is_none() {
            // The owner runs on this worker, which is busy with us: it
            // cannot free the hook before we return.
            signal.wake_local();
        }
        remote
    }
}

pub(crate) struct Inner<T> {
    buf: VecDeque<T>,
    send_hooks: VecDeque<Hook<T>>,
    recv_hooks: VecDeque<Hook<T>>,
    /// Hooks without a message, woken by any change (see the module docs).
    observers: VecDeque<Hook<T>>,
    clock: Option<Clock<T>>,
    senders_gone: bool,
    receivers_gone: bool,
}

/// The message source of an `after` or `tick` channel.
pub(crate) struct Clock<T> {
    /// When the next message is due; `None` once an `after` has fired.
    next: Option<Instant>,
    /// The period of a `tick`; `None` for an `after`.
    period: Option<Duration>,
    /// Makes the message from the time it was due (the identity: clock
    /// channels carry `Instant`s; a function keeps `Inner` generic).
    make: fn(Instant) -> T,
}

impl<T> Clock<T> {
    pub(crate) fn new(
        first: Option<Instant>,
        period: Option<Duration>,
        make: fn(Instant) -> T,
    ) -> Self {
        Clock {
            next: first,
            period,
            make,
        }
    }

    /// The message, if one is due at `now`; advances the clock.
    fn take_due(&mut self, now: Instant) -> Option<T> {
        let due = self.next.filter(|&d| d <= now)?;
        self.next = self.period.map(|p| {
            // On time: the next one is a period later. Late by a period or
            // more: skip the missed ones rather than deliver a burst.
            let next = due + p;
            if next > now {
                next
            } else {
                now + p
            }
        });
        Some((self.make)(due))
    }
}

/// The most buffer room a bounded channel allocates up front; a larger one
/// grows as it fills.
const INITIAL_BUFFER_MAX: usize = 1024;

pub(crate) struct Channel<T> {
    lock: RawMutex,
    inner: UnsafeCell<Inner<T>>,
    cap: Option<usize>,
    pub(crate) senders: AtomicUsize,
    pub(crate) receivers: AtomicUsize,
}

// SAFETY: `inner` is only touched with `lock` held (see `locked`), the
// messages it holds are `Send`, and its hooks point at `Waiting`s of `Send`
// messages whose access follows the rules on `Waiting`.
unsafe impl<T: Send> Send for Channel<T> {}
// SAFETY: shared access from several threads touches `inner` only with
// `lock` held (see `locked`), so no two threads reach it at once; the
// counters are atomics and `cap` is never written after creation. Messages
// and the `Waiting`s that hooks point at only move between threads, which
// `T: Send` allows.
unsafe impl<T: Send> Sync for Channel<T> {}

/// Holds a channel's lock; releases it when dropped.
pub(crate) struct Locked<'a, T> {
    chan: &'a Channel<T>,
}

impl<T> Drop for Locked<'_, T> {
    fn drop(&mut self) {
        // SAFETY: a `Locked` exists only while its thread holds the lock.
        unsafe { self.chan.lock.unlock() }
    }
}

impl<T> std::ops::Deref for Locked<'_, T> {
    type Target = Inner<T>;
    fn deref(&self) -> &Inner<T> {
        // SAFETY: we hold the lock.
        unsafe { &*self.chan.inner.get() }
    }
}

impl<T> std::ops::DerefMut for Locked<'_, T> {
    fn deref_mut(&mut self) -> &mut Inner<T> {
        // SAFETY: we hold the lock, and `&mut self` is unique.
        unsafe { &mut *self.chan.inner.get() }
    }
}

impl<T> Channel<T> {
    pub(crate) fn new(cap: Option<usize>) -> Channel<T> {
        Channel::with_clock(cap, None)
    }

    /// A channel whose messages come from `clock`, or (`None`) from
    /// nowhere (`never`): either way no `Sender` exists, and the sender
    /// count stays at one so that the channel is never disconnected.
    pub(crate) fn without_senders(clock: Option<Clock<T>>) -> Channel<T> {
        // A clock holds at most one message; `never` none.
        let cap = if clock.is_some() { 1 } else { 0 };
        Channel::with_clock(Some(cap), clock)
    }

    fn with_clock(cap: Option<usize>, clock: Option<Clock<T>>) -> Channel<T> {
        Channel {
            lock: RawMutex::INIT,
            inner: UnsafeCell::new(Inner {
                buf: VecDeque::with_capacity(cap.unwrap_or(0).min(INITIAL_BUFFER_MAX)),
                send_hooks: VecDeque::new(),
                recv_hooks: VecDeque::new(),
                observers: VecDeque::new(),
                clock,
                senders_gone: false,
                receivers_gone: false,
            }),
            cap,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
        }
    }

    pub(crate) fn locked(&self) -> Locked<'_, T> {
        self.lock.lock();
        Locked { chan: self }
    }

    /// Takes the lock for a `select` that locks several channels at once.
    pub(crate) fn raw_lock(&self) {
        self.lock.lock();
    }

    /// A `Locked` for a lock taken with `raw_lock`.
    ///
    /// # Safety
    /// The calling thread holds the lock, taken with `raw_lock`, and no
    /// other `Locked` for it exists. Dropping the result releases it.
    pub(crate) unsafe fn assume_locked(&self) -> Locked<'_, T> {
        Locked { chan: self }
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.cap
    }

    pub(crate) fn len(&self) -> usize {
        let inner = self.locked();
        match &inner.clock {
            Some(c) => usize::from(c.next.is_some_and(|d| d <= Instant::now())),
            None => inner.buf.len(),
        }
    }

    /// Whether a send would have to wait for room (always, for `bounded(0)`).
    pub(crate) fn is_full(&self) -> bool {
        self.cap.is_some_and(|c| self.len() >= c)
    }

    /// The last sender is gone: wake every waiting receiver.
    pub(crate) fn disconnect_senders(&self) {
        let woken = {
            let mut inner = self.locked();
            inner.senders_gone = true;
            inner.notify_observers();
            claim_all(&mut inner.recv_hooks)
        };
        woken.into_iter().for_each(Waiter::wake);
    }

    /// The last receiver is gone: wake every waiting sender (its message
    /// stays in its packet and goes back to it).
    pub(crate) fn disconnect_receivers(&self) {
        let (woken, unread) = {
            let mut inner = self.locked();
            inner.receivers_gone = true;
            inner.notify_observers();
            // Nobody can receive them any more: drop them now (after the
            // lock is released), as crossbeam-channel does.
            let unread = std::mem::take(&mut inner.buf);
            (claim_all(&mut inner.send_hooks), unread)
        };
        woken.into_iter().for_each(Waiter::wake);
        drop_each(unread);
    }

    pub(crate) fn is_disconnected(&self) -> bool {
        self.senders.load(Ordering::Acquire) == 0 || self.receivers.load(Ordering::Acquire) == 0
    }
}

/// Drops `msgs` front to back. If a destructor panics, the messages after
/// it are leaked and the panic resumes: dropping them while unwinding would
/// abort the process on a second panic.
fn drop_each<T>(mut msgs: VecDeque<T>) {
    while let Some(m) = msgs.pop_front() {
        if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(m))) {
            std::mem::forget(msgs);
            std::panic::resume_unwind(panic);
        }
    }
}

/// Completes every claimable hook without a message; returns the waiters
/// to wake.
fn claim_all<T>(hooks: &mut VecDeque<Hook<T>>) -> Vec<Waiter> {
    hooks
        .drain(..)
        .filter(|h| h.get().signal().try_claim())
        .filter_map(|h| h.get().complete())
        .collect()
}

/// Whether a hook in `hooks` still waits (its select may still take it).
fn any_live<T>(hooks: &VecDeque<Hook<T>>) -> bool {
    hooks.iter().any(|h| h.get().signal().is_waiting())
}

/// Pops the first hook whose signal we win, dropping dead ones.
fn claim_first<T>(hooks: &mut VecDeque<Hook<T>>) -> Option<Hook<T>> {
    while let Some(h) = hooks.pop_front() {
        if h.get().signal().try_claim() {
            return Some(h);
        }
    }
    None
}

impl<T> Inner<T> {
    /// Completes every observer (the channel changed) and wakes it. Unlike
    /// a partner's, an observer's waiter is woken under the lock: observers
    /// are rare, and this keeps the common unlock a plain unlock.
    #[inline(always)]
    fn notify_observers(&mut self) {
        if !self.observers.is_empty() {
            self.wake_observers();
        }
    }

    #[cold]
    fn wake_observers(&mut self) {
        claim_all(&mut self.observers)
            .into_iter()
            .for_each(Waiter::wake);
    }

    /// Whether a send would complete now (or fail: every receiver gone);
    /// changes nothing.
    pub(crate) fn send_ready(&self, cap: Option<usize>) -> bool {
        self.receivers_gone
            || (self.buf.is_empty() && any_live(&self.recv_hooks))
            || cap.is_none_or(|c| self.buf.len() < c)
    }

    /// Whether a receive would complete now (or fail: every sender gone);
    /// changes nothing.
    pub(crate) fn recv_ready(&self) -> bool {
        if let Some(c) = &self.clock {
            return c.next.is_some_and(|d| d <= Instant::now());
        }
        !self.buf.is_empty() || any_live(&self.send_hooks) || self.senders_gone
    }

    /// When a clock channel's next message is due.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.clock.as_ref().and_then(|c| c.next)
    }

    /// Sends without blocking. On success, returns the waiter of a receiver
    /// to wake, if one took the message.
    #[inline]
    pub(crate) fn try_send(
        &mut self,
        cap: Option<usize>,
        value: T,
    ) -> Result<Option<Waiter>, TrySendError<T>> {
        if self.receivers_gone {
            return Err(TrySendError::Disconnected(value));
        }
        if self.buf.is_empty() {
            if let Some(h) = claim_first(&mut self.recv_hooks) {
                // SAFETY: we won the hook's signal (see `Waiting`).
                unsafe { h.get().put(value) };
                self.notify_observers();
                return Ok(h.get().complete());
            }
        }
        if cap.is_none_or(|c| self.buf.len() < c) {
            self.buf.push_back(value);
            self.notify_observers();
            Ok(None)
        } else {
            Err(TrySendError::Full(value))
        }
    }

    /// Receives without blocking. On success, also returns the waiter of a
    /// sender to wake, if one moved its message in.
    #[inline]
    pub(crate) fn try_recv(&mut self) -> Result<(T, Option<Waiter>), TryRecvError> {
        if let Some(v) = self.buf.pop_front() {
            let mut woken = None;
            if let Some(h) = claim_first(&mut self.send_hooks) {
                // SAFETY: we won the hook's signal (see `Waiting`).
                let moved = unsafe { h.get().take() }.expect("a waiting sender holds a message");
                self.buf.push_back(moved);
                woken = h.get().complete();
            }
            self.notify_observers();
            return Ok((v, woken));
        }
        if let Some(h) = claim_first(&mut self.send_hooks) {
            // SAFETY: we won the hook's signal (see `Waiting`).
            let v = unsafe { h.get().take() }.expect("a waiting sender holds a message");
            self.notify_observers();
            return Ok((v, h.get().complete()));
        }
        // A clock channel has no buffer and no senders: its messages are
        // made here.
        if let Some(c) = &mut self.clock {
            return c
                .take_due(Instant::now())
                .map(|v| (v, None))
                .ok_or(TryRecvError::Empty);
        }
        if self.senders_gone {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Queues a hook that a sender owns.
    ///
    /// # Safety
    /// `hook` follows the lifetime rules of `Waiting`.
    pub(crate) unsafe fn push_send_hook(&mut self, hook: NonNull<Waiting<T>>) {
        self.send_hooks.push_back(Hook(hook));
        self.notify_observers();
    }

    /// Queues an observer hook (no message) that a select owns.
    ///
    /// # Safety
    /// `hook` follows the lifetime rules of `Waiting`.
    pub(crate) unsafe fn push_observer(&mut self, hook: NonNull<Waiting<T>>) {
        self.observers.push_back(Hook(hook));
    }

    /// Queues a hook that a receiver owns.
    ///
    /// # Safety
    /// `hook` follows the lifetime rules of `Waiting`.
    pub(crate) unsafe fn push_recv_hook(&mut self, hook: NonNull<Waiting<T>>) {
        self.recv_hooks.push_back(Hook(hook));
        self.notify_observers();
    }

    /// Removes `hook` if it is still queued.
    pub(crate) fn remove_hook(&mut self, hook: NonNull<Waiting<T>>) {
        self.send_hooks.retain(|h| h.0 != hook);
        self.recv_hooks.retain(|h| h.0 != hook);
        self.observers.retain(|h| h.0 != hook);
    }
}

/// The result of a blocking send, from what its hook's slot held when the
/// owner freed it.
pub(crate) fn send_outcome<T>(left: Option<T>) -> Result<(), SendError<T>> {
    match left {
        None => Ok(()),
        // Completed without taking the message: every receiver is gone.
        Some(v) => Err(SendError(v)),
    }
}

/// The result of a blocking receive, from what its hook's slot held when
/// the owner freed it.
pub(crate) fn recv_outcome<T>(left: Option<T>) -> Result<T, RecvError> {
    match left {
        Some(v) => Ok(v),
        // Completed without a message: every sender is gone.
        None => Err(RecvError),
    }
}
