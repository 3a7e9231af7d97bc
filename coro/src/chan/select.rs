//! Waiting on several channel operations at once: the algorithm behind
//! [`Select`](super::Select), [`select!`](crate::select!) and every
//! blocking channel call.
//!
//! Every blocking channel call (`send`, `recv` and their timed forms) is a
//! select of one operation, so there is one algorithm, Go's:
//!
//! 1. Lock every channel involved, in address order (so two selects can
//!    never deadlock on each other's locks).
//! 2. Try the operations in a random order (in order, for a biased
//!    select), so that when several are ready, each is equally likely to be
//!    chosen. If one completes, unlock and return it.
//! 3. With a `default` arm (or a deadline already past), unlock and return
//!    none.
//! 4. If a send still has to compute its message (a `select!` send arm,
//!    whose message is evaluated only when needed), unlock, compute it, and
//!    start over at 1: user code never runs under a channel lock.
//! 5. Otherwise register a hook on every channel, all sharing one
//!    [`Signal`], and unlock. Because steps 2 and 5 happen under the same
//!    locks, no operation can become ready in between unnoticed.
//! 6. Park until a completer claims the signal (or the deadline, or a
//!    clock channel's due time, passes and the signal is aborted), then
//!    lock everything again to remove the remaining hooks. A hook that was
//!    only an *observer* (see `channel`) or a wake-up without a claim sends
//!    the select back to 1.
//!
//! A completer claims the signal before it touches a packet, so exactly one
//! operation of a select ever happens.
//!
//! # Operations that are only checked
//!
//! Some operations are not performed by the select but only found *ready*:
//! every operation of [`Select::ready`](super::Select::ready), and a send
//! without its message (crossbeam's `Select::send`). The select then
//! returns it and the caller performs it. Such an operation waits as
//! an observer, and it is not reserved: between the select and the
//! caller's send, another sender may take the room (or the receiver may
//! leave), and that send then waits. crossbeam reserves the slot instead;
//! here that would mean holding a receiver's hook claimed across user code.
//!
//! A `select!` send arm is not such an operation, though its message is
//! made only when needed: when its channel is found ready first, the select
//! makes the message (step 4) and tries again rather than return it. A
//! send left to the caller could meet a receiver that another sender took
//! meanwhile, and then wait as a plain send, where none of the select's
//! other arms could happen any more: selects that pair up among themselves
//! on one channel would hang.

use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::Instant;

use super::channel::{recv_outcome, send_outcome, Channel, SignalRef, Waiting};
use super::error::{RecvError, SendError, TryRecvError, TrySendError};
use super::signal::Signal;
use crate::rand::FastRand;
use crate::task::Waiter;
use crate::wait::{park, park_until};

/// What a select does with its operations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mode {
    /// Try them in the order given rather than a random one.
    pub(crate) biased: bool,
    /// Only find one that is ready; perform none (`Select::ready`).
    pub(crate) ready_only: bool,
}

impl Mode {
    /// A lone blocking send or receive, or a fair select.
    pub(crate) const FAIR: Mode = Mode {
        biased: false,
        ready_only: false,
    };
}

/// One operation of a select, over a channel of any message type.
pub(crate) trait SelectOp<'a> {
    /// Identity of the channel, for the lock order.
    fn channel_addr(&self) -> usize;
    fn raw_lock(&self);
    /// # Safety
    /// The caller holds the channel's lock (taken with `raw_lock`).
    unsafe fn raw_unlock(&self);
    /// Tries the operation (with `ready_only`, or for a send without its
    /// message: only checks that it could complete). True if it completed
    /// or is ready (a closed channel completes it with an error). Returns
    /// a waiter to wake after unlocking through `woken`.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn try_locked(&mut self, ready_only: bool, woken: &mut Option<Waiter>) -> bool;
    /// When a clock channel's next message is due.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn due_locked(&self) -> Option<Instant>;
    /// Whether the operation waits as an observer (no message to hand
    /// over, or `ready_only`) rather than as a partner.
    fn observes(&self, ready_only: bool) -> bool;
    /// Registers a hook as operation `op`, with the select's shared signal,
    /// or (`None`, a lone operation) with a signal of its own; an observer
    /// if `observe`.
    ///
    /// # Safety
    /// The caller holds the channel's lock; a shared signal outlives the
    /// hook (the select unregisters every hook before freeing it).
    unsafe fn register_locked(&mut self, signal: Option<NonNull<Signal>>, op: usize, observe: bool);
    /// Whether the operation has a hook (registered, not yet freed).
    fn is_registered(&self) -> bool;
    /// The signal of a lone operation's hook, after `register_locked(None)`.
    fn own_signal(&self) -> &Signal;
    /// Removes this operation's hook from the channel, if still queued.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn unregister_locked(&mut self);
    /// This operation's hook was selected: free it, keep the result. False
    /// if the hook was an observer (nothing happened: look again).
    fn finish(&mut self) -> bool;
    /// The select ended without this operation: free the hook, taking back
    /// what it held. Called after `unregister_locked`.
    fn abandon(&mut self);
    /// Whether the operation already happened (in an earlier wait of a
    /// reused `Select`, for the operations that happen once): it takes no
    /// further part.
    fn is_spent(&self) -> bool;
    /// Whether a message must be computed before the select may block.
    fn wants_message(&self) -> bool {
        false
    }
    /// Computes the message (user code: no lock may be held).
    fn make_message(&mut self) {}
    /// What the caller needs to complete the operation once the select
    /// chose it: the received message, or the send's result or its
    /// message maker. `None` for an operation that keeps its result for
    /// a handle.
    fn take_payload(&mut self) -> Option<Box<dyn Payload + 'a>>;
    /// A fresh copy of the operation, without its message or result.
    fn clone_op(&self) -> Box<dyn SelectOp<'a> + 'a>;
}

/// The result of a chosen operation, on its way to the caller (through
/// `SelectedOperation`). Only dropped through this trait object; the
/// caller, which knows the message type, casts it back.
pub(crate) trait Payload {
    /// Whether this is a `SendPayload` (else a `RecvPayload`).
    fn is_send(&self) -> bool;
}

/// A chosen receive: what it received.
pub(crate) struct RecvPayload<T>(pub(crate) Result<T, RecvError>);
impl<T> Payload for RecvPayload<T> {
    fn is_send(&self) -> bool {
        false
    }
}

/// A chosen send: its result if it happened; `None` for a send that was
/// only found ready (crossbeam's `Select::send`), which the caller makes.
pub(crate) struct SendPayload<T>(pub(crate) Option<Result<(), SendError<T>>>);
impl<T> Payload for SendPayload<T> {
    fn is_send(&self) -> bool {
        true
    }
}

/// A send arm's message, evaluated only when needed.
pub(crate) type MakeMessage<'a, T> = Box<dyn FnOnce() -> T + 'a>;

/// What a select operation holds of its channel: the channel, and its hook
/// while registered. The parts of [`SelectOp`] that do not depend on the
/// direction.
struct OpChannel<'a, T> {
    chan: &'a Channel<T>,
    hook: Option<NonNull<Waiting<T>>>,
    /// Whether the hook is an observer.
    observing: bool,
}

impl<'a, T> OpChannel<'a, T> {
    #[inline]
    fn new(chan: &'a Channel<T>) -> Self {
        OpChannel {
            chan,
            hook: None,
            observing: false,
        }
    }

    #[inline]
    fn addr(&self) -> usize {
        self.chan as *const Channel<T> as usize
    }

    /// # Safety
    /// The caller holds the lock, taken with `raw_lock`.
    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: forwarded; dropping the guard releases the lock.
        drop(unsafe { self.chan.assume_locked() });
    }

    /// The channel's state, for a caller that holds the lock (the guard is
    /// not dropped, so the lock stays held).
    ///
    /// # Safety
    /// The caller holds the lock, taken with `raw_lock`.
    #[inline]
    unsafe fn inner(&self) -> std::mem::ManuallyDrop<super::channel::Locked<'a, T>> {
        // SAFETY: forwarded to the caller.
        std::mem::ManuallyDrop::new(unsafe { self.chan.assume_locked() })
    }

    #[inline]
    fn own_signal(&self) -> &Signal {
        // SAFETY: our hook is alive until `free_hook`.
        unsafe { self.hook.expect("registered").as_ref() }.signal()
    }

    /// Queues an observer hook.
    ///
    /// # Safety
    /// As `SelectOp::register_locked`.
    #[inline]
    unsafe fn observe(&mut self, signal: Option<NonNull<Signal>>, op: usize) {
        let hook = Waiting::alloc(signal_ref(signal), op, None);
        self.hook = Some(hook);
        self.observing = true;
        // SAFETY: the caller holds the lock; the hook is freed only after
        // it left the queue (as for partner hooks).
        unsafe { self.inner().push_observer(hook) };
    }

    /// # Safety
    /// The caller holds the lock.
    #[inline]
    unsafe fn unregister(&mut self) {
        if let Some(hook) = self.hook {
            // SAFETY: forwarded to the caller.
            unsafe { self.inner() }.remove_hook(hook);
        }
    }

    /// Frees the hook and returns what its slot held; `None` if there was no
    /// hook. The hook must be out of its queue: popped by the completer that
    /// selected it, or unregistered.
    #[inline]
    fn free_hook(&mut self) -> Option<Option<T>> {
        self.observing = false;
        // SAFETY: the hook came from `Waiting::alloc` (in `register_locked`
        // or `observe`); the caller guarantees it is out of its queue, so no
        // completer can reach it; `take` clears our only pointer to it, so
        // it is freed once and never used again.
        self.hook.take().map(|h| unsafe { Waiting::free(h) })
    }
}

/// A receive, as a select operation.
pub(crate) struct RecvOp<'a, T> {
    ch: OpChannel<'a, T>,
    pub(crate) result: Option<Result<T, RecvError>>,
    /// Happens at most once (an operation named by a handle); otherwise
    /// its result goes to the caller through `take_payload`.
    once: bool,
}

impl<'a, T> RecvOp<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>) -> Self {
        RecvOp {
            ch: OpChannel::new(chan),
            result: None,
            once: true,
        }
    }

    /// A receive that may be chosen again and again (crossbeam's
    /// `Select::recv`).
    pub(crate) fn reusable(chan: &'a Channel<T>) -> Self {
        RecvOp {
            once: false,
            ..RecvOp::new(chan)
        }
    }
}

impl<'a, T> SelectOp<'a> for RecvOp<'a, T> {
    #[inline]
    fn channel_addr(&self) -> usize {
        self.ch.addr()
    }

    #[inline]
    fn raw_lock(&self) {
        self.ch.chan.raw_lock();
    }

    #[inline]
    unsafe fn raw_unlock(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unlock() }
    }

    #[inline]
    unsafe fn try_locked(&mut self, ready_only: bool, woken: &mut Option<Waiter>) -> bool {
        if ready_only {
            // SAFETY: the caller holds the lock.
            return unsafe { self.ch.inner() }.recv_ready();
        }
        // SAFETY: the caller holds the lock.
        match unsafe { self.ch.inner() }.try_recv() {
            Ok((v, w)) => {
                self.result = Some(Ok(v));
                *woken = w;
                true
            }
            Err(TryRecvError::Disconnected) => {
                self.result = Some(Err(RecvError));
                true
            }
            Err(TryRecvError::Empty) => false,
        }
    }

    #[inline]
    unsafe fn due_locked(&self) -> Option<Instant> {
        // SAFETY: the caller holds the lock.
        unsafe { self.ch.inner() }.due()
    }

    #[inline]
    fn observes(&self, ready_only: bool) -> bool {
        ready_only
    }

    #[inline]
    unsafe fn register_locked(
        &mut self,
        signal: Option<NonNull<Signal>>,
        op: usize,
        observe: bool,
    ) {
        if observe {
            // SAFETY: forwarded to the caller.
            return unsafe { self.ch.observe(signal, op) };
        }
        let hook = Waiting::alloc(signal_ref(signal), op, None);
        self.ch.hook = Some(hook);
        // SAFETY: the caller holds the lock; we free the hook only after it
        // left the queue (`finish`, `abandon`, after the select's
        // unregistering).
        unsafe { self.ch.inner().push_recv_hook(hook) };
    }

    #[inline]
    fn is_registered(&self) -> bool {
        self.ch.hook.is_some()
    }

    #[inline]
    fn own_signal(&self) -> &Signal {
        self.ch.own_signal()
    }

    #[inline]
    unsafe fn unregister_locked(&mut self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unregister() }
    }

    #[inline]
    fn finish(&mut self) -> bool {
        let observed = self.ch.observing;
        let left = self
            .ch
            .free_hook()
            .expect("a selected receive registered a hook");
        if observed {
            return false;
        }
        self.result = Some(recv_outcome(left));
        true
    }

    #[inline]
    fn abandon(&mut self) {
        self.ch.free_hook();
    }

    #[inline]
    fn is_spent(&self) -> bool {
        self.once && self.result.is_some()
    }

    #[inline]
    fn take_payload(&mut self) -> Option<Box<dyn Payload + 'a>> {
        if self.once {
            return None;
        }
        // In `ready_only` mode nothing was received: no payload either.
        let r = self.result.take()?;
        Some(Box::new(RecvPayload(r)))
    }

    #[inline]
    fn clone_op(&self) -> Box<dyn SelectOp<'a> + 'a> {
        Box::new(RecvOp {
            once: self.once,
            ..RecvOp::new(self.ch.chan)
        })
    }
}

/// A send, as a select operation: with its message (`new`), with a way to
/// make it (`lazy`), or without one (`reusable`: the caller sends once
/// the select found the channel ready).
pub(crate) struct SendOp<'a, T> {
    ch: OpChannel<'a, T>,
    value: Option<T>,
    make: Option<MakeMessage<'a, T>>,
    pub(crate) result: Option<Result<(), SendError<T>>>,
    /// Happens at most once, holding its message (an operation named by a
    /// handle, or a lone send).
    once: bool,
}

impl<'a, T> SendOp<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>, value: T) -> Self {
        SendOp {
            ch: OpChannel::new(chan),
            value: Some(value),
            make: None,
            result: None,
            once: true,
        }
    }

    /// A send whose message is given later, to `SelectedOperation::send`.
    pub(crate) fn reusable(chan: &'a Channel<T>) -> Self {
        SendOp {
            ch: OpChannel::new(chan),
            value: None,
            make: None,
            result: None,
            once: false,
        }
    }

    /// A send whose message `make` computes, only when its channel is found
    /// ready or the select has to wait (a `select!` send arm). The select
    /// performs it itself: it never returns it unsent.
    pub(crate) fn lazy(chan: &'a Channel<T>, make: MakeMessage<'a, T>) -> Self {
        SendOp {
            make: Some(make),
            ..SendOp::reusable(chan)
        }
    }

    /// The message, if it was not sent.
    pub(crate) fn take_unsent(&mut self) -> Option<T> {
        self.value.take()
    }
}

impl<'a, T> SelectOp<'a> for SendOp<'a, T> {
    #[inline]
    fn channel_addr(&self) -> usize {
        self.ch.addr()
    }

    #[inline]
    fn raw_lock(&self) {
        self.ch.chan.raw_lock();
    }

    #[inline]
    unsafe fn raw_unlock(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unlock() }
    }

    #[inline]
    unsafe fn try_locked(&mut self, ready_only: bool, woken: &mut Option<Waiter>) -> bool {
        let cap = self.ch.chan.capacity();
        let value = match self.value.take() {
            Some(v) if !ready_only => v,
            v => {
                self.value = v;
                // SAFETY: the caller holds the lock.
                return unsafe { self.ch.inner() }.send_ready(cap);
            }
        };
        // SAFETY: the caller holds the lock.
        match unsafe { self.ch.inner() }.try_send(cap, value) {
            Ok(w) => {
                self.result = Some(Ok(()));
                *woken = w;
                true
            }
            Err(TrySendError::Disconnected(v)) => {
                self.result = Some(Err(SendError(v)));
                true
            }
            Err(TrySendError::Full(v)) => {
                self.value = Some(v);
                false
            }
        }
    }

    #[inline]
    unsafe fn due_locked(&self) -> Option<Instant> {
        None
    }

    #[inline]
    fn observes(&self, ready_only: bool) -> bool {
        ready_only || self.value.is_none()
    }

    #[inline]
    unsafe fn register_locked(
        &mut self,
        signal: Option<NonNull<Signal>>,
        op: usize,
        observe: bool,
    ) {
        if observe {
            // SAFETY: forwarded to the caller.
            return unsafe { self.ch.observe(signal, op) };
        }
        let hook = Waiting::alloc(signal_ref(signal), op, self.value.take());
        self.ch.hook = Some(hook);
        // SAFETY: as in `RecvOp::register_locked`.
        unsafe { self.ch.inner().push_send_hook(hook) };
    }

    #[inline]
    fn is_registered(&self) -> bool {
        self.ch.hook.is_some()
    }

    #[inline]
    fn own_signal(&self) -> &Signal {
        self.ch.own_signal()
    }

    #[inline]
    unsafe fn unregister_locked(&mut self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unregister() }
    }

    #[inline]
    fn finish(&mut self) -> bool {
        let observed = self.ch.observing;
        let left = self
            .ch
            .free_hook()
            .expect("a selected send registered a hook");
        if observed {
            return false;
        }
        self.result = Some(send_outcome(left));
        true
    }

    #[inline]
    fn abandon(&mut self) {
        if let Some(Some(left)) = self.ch.free_hook() {
            self.value = Some(left);
        }
    }

    #[inline]
    fn is_spent(&self) -> bool {
        self.once && self.value.is_none()
    }

    #[inline]
    fn wants_message(&self) -> bool {
        self.make.is_some()
    }

    #[inline]
    fn make_message(&mut self) {
        if let Some(make) = self.make.take() {
            self.value = Some(make());
        }
    }

    #[inline]
    fn take_payload(&mut self) -> Option<Box<dyn Payload + 'a>> {
        if self.once {
            return None;
        }
        Some(Box::new(SendPayload(self.result.take())))
    }

    #[inline]
    fn clone_op(&self) -> Box<dyn SelectOp<'a> + 'a> {
        Box::new(SendOp::reusable(self.ch.chan))
    }
}

fn signal_ref(shared: Option<NonNull<Signal>>) -> SignalRef {
    match shared {
        Some(s) => SignalRef::Shared(s),
        None => SignalRef::Own(Signal::new()),
    }
}

/// How long a select may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all (a `default` arm).
    Never,
    /// Until an operation completes.
    Forever,
    /// Until an operation completes or the deadline passes.
    Until(Instant),
}

thread_local! {
    static RNG: FastRand = FastRand::from_thread();
}

/// A random index below `n`, for the poll order.
fn random_below(n: usize) -> usize {
    RNG.with(|r| r.below(n))
}

/// The order in which a select visits its operations: a uniformly random
/// order of `0..n` (Fisher and Yates), or `0..n` for a biased select; no
/// allocation for a lone operation.
fn poll_order(n: usize, biased: bool) -> PollOrder {
    if n == 1 {
        return PollOrder::One;
    }
    let mut order: Vec<usize> = (0..n).collect();
    if !biased {
        for i in (1..n).rev() {
            order.swap(i, random_below(i + 1));
        }
    }
    PollOrder::Many(order)
}

/// The order in which a select visits its operations.
enum PollOrder {
    One,
    Many(Vec<usize>),
}

impl PollOrder {
    fn iter(&self) -> std::slice::Iter<'_, usize> {
        match self {
            PollOrder::One => [0].iter(),
            PollOrder::Many(v) => v.iter(),
        }
    }
}

/// The order in which to lock the channels of `ops`: by address, each once.
fn lock_order<'a, O: SelectOp<'a> + ?Sized>(ops: &[&mut O]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| ops[i].channel_addr());
    order.dedup_by_key(|i| ops[*i].channel_addr());
    order
}

fn lock_all<'a, O: SelectOp<'a> + ?Sized>(ops: &[&mut O], order: &[usize]) {
    for &i in order {
        ops[i].raw_lock();
    }
}

/// # Safety
/// The caller took these locks with `lock_all` and the same `order`.
unsafe fn unlock_all<'a, O: SelectOp<'a> + ?Sized>(ops: &[&mut O], order: &[usize]) {
    for &i in order.iter().rev() {
        // SAFETY: forwarded to the caller.
        unsafe { ops[i].raw_unlock() };
    }
}

fn unregister_all<'a, O: SelectOp<'a> + ?Sized>(ops: &mut [&mut O], order: &[usize]) {
    lock_all(ops, order);
    for op in ops.iter_mut() {
        // SAFETY: we hold every lock.
        unsafe { op.unregister_locked() };
    }
    // SAFETY: `lock_all(ops, order)` at the top of this function took
    // exactly these locks, in this order, and nothing released them since.
    unsafe { unlock_all(ops, order) };
}

fn free_shared(shared: Option<NonNull<Signal>>) {
    if let Some(s) = shared {
        // SAFETY: leaked by `run`; every hook pointing to it is unregistered.
        drop(unsafe { Box::from_raw(s.as_ptr()) });
    }
}

/// The earlier of two optional deadlines.
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs a select over `ops`; returns the index of the operation that
/// completed (or, see `Mode`, was found ready), or `None` (a `default` arm,
/// or the deadline passed).
///
/// No user code runs while the channel locks are held (messages are only
/// moved; a message to compute is computed after unlocking), so the locks
/// are taken and released by hand.
#[inline]
pub(crate) fn run<'a, O: SelectOp<'a> + ?Sized>(
    ops: &mut [&mut O],
    wait: Wait,
    mode: Mode,
) -> Option<usize> {
    let n = ops.len();
    assert!(
        ops.iter().any(|op| !op.is_spent()),
        "a select with no operation left to perform would wait forever"
    );
    // A coroutine whose channels are always ready (or that polls them with
    // a `default` arm) would otherwise never let the others of its worker
    // run.
    crate::budget::consume_budget();
    let many;
    let order: &[usize] = if n == 1 {
        &[0]
    } else {
        many = lock_order(ops);
        &many
    };
    let user_deadline = match wait {
        Wait::Until(d) => Some(d),
        _ => None,
    };
    loop {
        // Steps 1 to 3, under every channel lock, visiting the operations
        // in a random order (as Go's `pollorder`): a rotation from a random
        // start would not do, as an idle operation's turn would always pass
        // to the one after it.
        let poll_order = poll_order(n, mode.biased);
        lock_all(ops, order);
        let mut ready_without_message = false;
        for &i in poll_order.iter() {
            if ops[i].is_spent() {
                continue;
            }
            let mut woken = None;
            // SAFETY: we hold every lock.
            if unsafe { ops[i].try_locked(mode.ready_only, &mut woken) } {
                if !mode.ready_only && ops[i].wants_message() {
                    // A `select!` send arm found its channel ready before
                    // its message was made. Returning it would leave the
                    // send to the caller, outside the select: if another
                    // sender took the receiver meanwhile, it would wait
                    // there as a plain send, and the other arms could no
                    // longer happen. Make the message (step 4) and try
                    // again, so that the send happens here or the select
                    // waits with all its arms.
                    ready_without_message = true;
                    break;
                }
                // SAFETY: the `lock_all(ops, order)` before this loop took
                // these locks; nothing in the loop released them.
                unsafe { unlock_all(ops, order) };
                if let Some(w) = woken {
                    w.wake();
                }
                return Some(i);
            }
        }
        let expired = match wait {
            Wait::Never => true,
            Wait::Forever => false,
            Wait::Until(d) => Instant::now() >= d,
        };
        if expired && !ready_without_message {
            // SAFETY: the locks of this round's `lock_all(ops, order)` are
            // still held: the poll loop above returns after it unlocks.
            unsafe { unlock_all(ops, order) };
            return None;
        }
        // Step 4.
        if !mode.ready_only && ops.iter().any(|op| !op.is_spent() && op.wants_message()) {
            // SAFETY: the locks of this round's `lock_all(ops, order)` are
            // still held (the only unlock since is on the paths that return).
            unsafe { unlock_all(ops, order) };
            for op in ops.iter_mut() {
                if !op.is_spent() {
                    op.make_message();
                }
            }
            continue;
        }
        // A clock channel's message is made when a receive finds it due:
        // wake up then to look.
        let mut park_deadline = user_deadline;
        for op in ops.iter() {
            if !op.is_spent() {
                // SAFETY: we hold every lock.
                park_deadline = earliest(park_deadline, unsafe { op.due_locked() });
            }
        }
        // The shared signal of a select of several operations lives on the
        // heap (completers reach it while we are parked) until every hook
        // is unregistered below.
        let shared = (n > 1).then(|| NonNull::from(Box::leak(Box::new(Signal::new()))));
        // Step 5. Register in the same random order, so that when two
        // operations wait on one channel, neither is always first in its
        // queue; partners before observers, so that queueing our own
        // partner hook does not wake our own observer.
        // (A send's registration takes its message, after which it would
        // look like an observer: hence the check for a hook.)
        let mut observers = false;
        for &i in poll_order.iter() {
            if ops[i].is_spent() {
                continue;
            }
            if ops[i].observes(mode.ready_only) {
                observers = true;
            } else {
                // SAFETY: we hold every lock; `shared` outlives the hooks.
                unsafe { ops[i].register_locked(shared, i, false) };
            }
        }
        if observers {
            for &i in poll_order.iter() {
                let op = &ops[i];
                if !op.is_spent() && !op.is_registered() && op.observes(mode.ready_only) {
                    // SAFETY: this round's locks are all held (taken by
                    // `lock_all`, released only after registration); `shared`
                    // is freed only after every hook is unregistered.
                    unsafe { ops[i].register_locked(shared, i, true) };
                }
            }
        }
        // SAFETY: this round's `lock_all(ops, order)` took these locks, and
        // nothing released them since (every earlier unlock returns or
        // starts the next round).
        unsafe { unlock_all(ops, order) };

        // Step 6. Every suspension from here to the unregistration below
        // (the park, and the yields of `selected` while a completer on
        // another thread holds a claim) may be where a stopping runtime
        // unwinds the coroutine: the unwind must take every hook out of its
        // channel before the hooks, their signal and the task they name are
        // freed, so it is caught around all of them.
        let signal: *const Signal = match shared {
            Some(s) => s.as_ptr(),
            None => ops[0].own_signal(),
        };
        let waited = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the signal is alive: it is `shared` (freed by
            // `free_shared` only after every hook is unregistered, below) or
            // the lone operation's own hook's, which it holds until `finish`
            // or `abandon`, below.
            let signal = unsafe { &*signal };
            let mut selected = signal.selected();
            let mut timed_out = false;
            if selected.is_none() {
                match park_deadline {
                    Some(d) => park_until(d),
                    None => park(),
                }
                selected = signal.selected();
                if selected.is_none() {
                    timed_out = user_deadline.is_some_and(|d| Instant::now() >= d);
                    // Timed out, a clock came due, or woken spuriously: end
                    // this round.
                    selected = signal.abort();
                }
            }
            (selected, timed_out)
        }));
        let (selected, timed_out) = match waited {
            Ok(outcome) => outcome,
            Err(unwinding) => {
                // The coroutine is being unwound (its runtime stopped). An
                // operation a completer selected meanwhile is abandoned like
                // the others: `abandon` takes back what its hook holds.
                // SAFETY: the signal is alive: neither `shared` nor the lone
                // hook has been freed yet (that happens below, after the
                // hooks are unregistered).
                unsafe { &*signal }.abort_unwinding();
                unregister_all(ops, order);
                ops.iter_mut().for_each(|op| op.abandon());
                free_shared(shared);
                panic::resume_unwind(unwinding);
            }
        };
        // The completer removed the selected hook; remove the others.
        if n > 1 || selected.is_none() {
            unregister_all(ops, order);
        }
        let mut happened = None;
        for (i, op) in ops.iter_mut().enumerate() {
            if Some(i) == selected {
                if op.finish() {
                    happened = Some(i);
                }
            } else {
                op.abandon();
            }
        }
        free_shared(shared);
        if happened.is_some() {
            return happened;
        }
        if timed_out {
            return None;
        }
        // An observer was woken, a clock came due, or a spurious wake-up:
        // start over.
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Arc};
    use std::thread;
    use std::time::Duration;

    use crate::chan::signal::tests::CLAIM_STALL;
    use crate::chan::{bounded, TrySendError};
    use crate::runtime::Builder;

    /// A message that counts its drops.
    struct Counted(Arc<AtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A receiver whose deadline passed while a sender on another thread
    /// holds a claim on it (the message already in its hook) waits for the
    /// claim by yielding, and its runtime is dropped then. The unwind
    /// starts at that yield, not in the park: it must still take the hook
    /// out of the channel and the message back before the stack goes, so
    /// the message is dropped once (it used to be left in a hook that stayed
    /// in the channel, naming a task that was freed).
    #[test]
    fn a_receiver_unwound_while_a_sender_holds_its_claim_drops_the_message() {
        let drops = Arc::new(AtomicUsize::new(0));
        let rt = Builder::new().workers(1).build().expect("a runtime");
        let (tx, rx) = bounded::<Counted>(0);
        rt.spawn(move || loop {
            if rx.recv_timeout(Duration::from_millis(20)).is_ok() {
                break;
            }
        });
        let (claiming_tx, claiming) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let sender = {
            let drops = Arc::clone(&drops);
            thread::spawn(move || {
                CLAIM_STALL.with(|stall| {
                    *stall.borrow_mut() = Some(Box::new(move || {
                        claiming_tx.send(()).unwrap();
                        released.recv().unwrap();
                    }))
                });
                let mut message = Counted(drops);
                loop {
                    match tx.try_send(message) {
                        Ok(()) => break,
                        Err(TrySendError::Full(back)) => message = back,
                        Err(e) => panic!("{e:?}"),
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            })
        };
        claiming.recv().unwrap();
        // Past the receiver's deadline: it yields in its wait for the claim.
        thread::sleep(Duration::from_millis(100));
        let dropper = thread::spawn(move || drop(rt));
        thread::sleep(Duration::from_millis(50));
        release.send(()).unwrap();
        dropper.join().unwrap();
        sender.join().unwrap();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the message was dropped once"
        );
    }
}
