//! Waiting on several channel operations at once: [`Select`] and
//! [`select!`](crate::select!).
//!
//! Every blocking channel call (`send`, `recv` and their timed forms) is a
//! select of one operation, so there is one algorithm, Go's:
//!
//! 1. Lock every channel involved, in address order (so two selects can
//!    never deadlock on each other's locks).
//! 2. Try the operations, starting at a random one so that when several
//!    are ready, each is equally likely to be chosen. If one completes,
//!    unlock and return it.
//! 3. With a `default` arm (or a deadline already past), unlock and return
//!    none.
//! 4. Otherwise register a hook on every channel, all sharing one
//!    [`Signal`], and unlock. Because steps 2 and 4 happen under the same
//!    locks, no operation can become ready in between unnoticed.
//! 5. Park until a completer claims the signal (or the deadline passes and
//!    the signal is aborted), then lock everything again to remove the
//!    remaining hooks.
//!
//! A completer claims the signal before it touches a packet, so exactly one
//! operation of a select ever happens.

use std::cell::Cell;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use super::channel::{recv_outcome, send_outcome, Channel, SignalRef, Waiting};
use super::error::{RecvError, SendError, TryRecvError, TrySendError};
use super::signal::Signal;
use super::{Receiver, Sender};
use crate::task::{park, park_until, Waiter};

/// One operation of a select, over a channel of any message type.
pub(crate) trait SelectOp {
    /// Identity of the channel, for the lock order.
    fn channel_addr(&self) -> usize;
    fn raw_lock(&self);
    /// # Safety
    /// The caller holds the channel's lock (taken with `raw_lock`).
    unsafe fn raw_unlock(&self);
    /// Tries the operation. True if it completed (a closed channel
    /// completes it with an error). Returns a waiter to wake after
    /// unlocking through `woken`.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn try_locked(&mut self, woken: &mut Option<Waiter>) -> bool;
    /// Registers a hook as operation `op`, with the select's shared signal,
    /// or (`None`, a lone operation) with a signal of its own.
    ///
    /// # Safety
    /// The caller holds the channel's lock; a shared signal outlives the
    /// hook (the select unregisters every hook before freeing it).
    unsafe fn register_locked(&mut self, signal: Option<NonNull<Signal>>, op: usize);
    /// The signal of a lone operation's hook, after `register_locked(None)`.
    fn own_signal(&self) -> &Signal;
    /// Removes this operation's hook from the channel, if still queued.
    ///
    /// # Safety
    /// The caller holds the channel's lock.
    unsafe fn unregister_locked(&mut self);
    /// This operation's hook was selected: free it, keep the result.
    fn finish(&mut self);
    /// The select ended without this operation: free the hook, taking back
    /// what it held. Called after `unregister_locked`.
    fn abandon(&mut self);
    /// Whether the operation already happened (in an earlier wait of a
    /// reused `Select`): it takes no further part.
    fn is_spent(&self) -> bool;
}

/// What a select operation holds of its channel: the channel, and its hook
/// while registered. The parts of [`SelectOp`] that do not depend on the
/// direction.
struct OpChannel<'a, T> {
    chan: &'a Channel<T>,
    hook: Option<NonNull<Waiting<T>>>,
}

impl<'a, T> OpChannel<'a, T> {
    fn new(chan: &'a Channel<T>) -> Self {
        OpChannel { chan, hook: None }
    }

    fn addr(&self) -> usize {
        self.chan as *const Channel<T> as usize
    }

    /// # Safety
    /// The caller holds the lock, taken with `raw_lock`.
    unsafe fn unlock(&self) {
        // SAFETY: forwarded; dropping the guard releases the lock.
        drop(unsafe { self.chan.assume_locked() });
    }

    /// The channel's state, for a caller that holds the lock (the guard is
    /// not dropped, so the lock stays held).
    ///
    /// # Safety
    /// The caller holds the lock, taken with `raw_lock`.
    unsafe fn inner(&self) -> std::mem::ManuallyDrop<super::channel::Locked<'a, T>> {
        // SAFETY: forwarded to the caller.
        std::mem::ManuallyDrop::new(unsafe { self.chan.assume_locked() })
    }

    fn own_signal(&self) -> &Signal {
        // SAFETY: our hook is alive until `free_hook`.
        unsafe { self.hook.expect("registered").as_ref() }.signal()
    }

    /// # Safety
    /// The caller holds the lock.
    unsafe fn unregister(&mut self) {
        if let Some(hook) = self.hook {
            // SAFETY: forwarded to the caller.
            unsafe { self.inner() }.remove_hook(hook);
        }
    }

    /// Frees the hook and returns what its slot held; `None` if there was no
    /// hook. The hook must be out of its queue: popped by the completer that
    /// selected it, or unregistered.
    fn free_hook(&mut self) -> Option<Option<T>> {
        // SAFETY: see above; the owner frees its hook once.
        self.hook.take().map(|h| unsafe { Waiting::free(h) })
    }
}

/// A receive, as a select operation.
pub(crate) struct RecvOp<'a, T> {
    ch: OpChannel<'a, T>,
    pub(crate) result: Option<Result<T, RecvError>>,
}

impl<'a, T> RecvOp<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>) -> Self {
        RecvOp {
            ch: OpChannel::new(chan),
            result: None,
        }
    }
}

impl<T> SelectOp for RecvOp<'_, T> {
    fn channel_addr(&self) -> usize {
        self.ch.addr()
    }

    fn raw_lock(&self) {
        self.ch.chan.raw_lock();
    }

    unsafe fn raw_unlock(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unlock() }
    }

    unsafe fn try_locked(&mut self, woken: &mut Option<Waiter>) -> bool {
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

    unsafe fn register_locked(&mut self, signal: Option<NonNull<Signal>>, op: usize) {
        let hook = Waiting::alloc(signal_ref(signal), op, None);
        self.ch.hook = Some(hook);
        // SAFETY: the caller holds the lock; we free the hook only after it
        // left the queue (`finish`, `abandon`, after the select's
        // unregistering).
        unsafe { self.ch.inner().push_recv_hook(hook) };
    }

    fn own_signal(&self) -> &Signal {
        self.ch.own_signal()
    }

    unsafe fn unregister_locked(&mut self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unregister() }
    }

    fn finish(&mut self) {
        let left = self
            .ch
            .free_hook()
            .expect("a selected receive registered a hook");
        self.result = Some(recv_outcome(left));
    }

    fn abandon(&mut self) {
        self.ch.free_hook();
    }

    fn is_spent(&self) -> bool {
        self.result.is_some()
    }
}

/// A send, as a select operation.
pub(crate) struct SendOp<'a, T> {
    ch: OpChannel<'a, T>,
    value: Option<T>,
    pub(crate) result: Option<Result<(), SendError<T>>>,
}

impl<'a, T> SendOp<'a, T> {
    pub(crate) fn new(chan: &'a Channel<T>, value: T) -> Self {
        SendOp {
            ch: OpChannel::new(chan),
            value: Some(value),
            result: None,
        }
    }

    /// The message, if it was not sent.
    pub(crate) fn take_unsent(&mut self) -> Option<T> {
        self.value.take()
    }
}

impl<T> SelectOp for SendOp<'_, T> {
    fn channel_addr(&self) -> usize {
        self.ch.addr()
    }

    fn raw_lock(&self) {
        self.ch.chan.raw_lock();
    }

    unsafe fn raw_unlock(&self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unlock() }
    }

    unsafe fn try_locked(&mut self, woken: &mut Option<Waiter>) -> bool {
        let Some(value) = self.value.take() else {
            return false;
        };
        let cap = self.ch.chan.capacity();
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

    unsafe fn register_locked(&mut self, signal: Option<NonNull<Signal>>, op: usize) {
        let hook = Waiting::alloc(signal_ref(signal), op, self.value.take());
        self.ch.hook = Some(hook);
        // SAFETY: as in `RecvOp::register_locked`.
        unsafe { self.ch.inner().push_send_hook(hook) };
    }

    fn own_signal(&self) -> &Signal {
        self.ch.own_signal()
    }

    unsafe fn unregister_locked(&mut self) {
        // SAFETY: forwarded to the caller.
        unsafe { self.ch.unregister() }
    }

    fn finish(&mut self) {
        let left = self
            .ch
            .free_hook()
            .expect("a selected send registered a hook");
        self.result = Some(send_outcome(left));
    }

    fn abandon(&mut self) {
        if let Some(left) = self.ch.free_hook() {
            self.value = left;
        }
    }

    fn is_spent(&self) -> bool {
        self.value.is_none()
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
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let local = 0u8;
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ (&local as *const u8 as u64).rotate_left(32)) | 1
}

/// A random index below `n` (xorshift64*; fairness needs spread only).
fn random_below(n: usize) -> usize {
    RNG.with(|r| {
        let mut x = r.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        r.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32) as usize % n
    })
}

/// A uniformly random order of `0..n` (Fisher and Yates); no allocation for
/// a lone operation.
fn random_permutation(n: usize) -> PollOrder {
    if n == 1 {
        return PollOrder::One;
    }
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, random_below(i + 1));
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
fn lock_order<O: SelectOp + ?Sized>(ops: &[&mut O]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| ops[i].channel_addr());
    order.dedup_by_key(|i| ops[*i].channel_addr());
    order
}

fn lock_all<O: SelectOp + ?Sized>(ops: &[&mut O], order: &[usize]) {
    for &i in order {
        ops[i].raw_lock();
    }
}

/// # Safety
/// The caller took these locks with `lock_all` and the same `order`.
unsafe fn unlock_all<O: SelectOp + ?Sized>(ops: &[&mut O], order: &[usize]) {
    for &i in order.iter().rev() {
        // SAFETY: forwarded to the caller.
        unsafe { ops[i].raw_unlock() };
    }
}

fn unregister_all<O: SelectOp + ?Sized>(ops: &mut [&mut O], order: &[usize]) {
    lock_all(ops, order);
    for op in ops.iter_mut() {
        // SAFETY: we hold every lock.
        unsafe { op.unregister_locked() };
    }
    // SAFETY: taken above.
    unsafe { unlock_all(ops, order) };
}

fn free_shared(shared: Option<NonNull<Signal>>) {
    if let Some(s) = shared {
        // SAFETY: leaked by `run`; every hook pointing to it is unregistered.
        drop(unsafe { Box::from_raw(s.as_ptr()) });
    }
}

/// Runs a select over `ops`; returns the index of the operation that
/// completed, or `None` (a `default` arm, or the deadline passed).
///
/// No user code runs while the channel locks are held (messages are only
/// moved), so the locks are taken and released by hand.
#[inline]
pub(crate) fn run<O: SelectOp + ?Sized>(ops: &mut [&mut O], wait: Wait) -> Option<usize> {
    let n = ops.len();
    assert!(
        ops.iter().any(|op| !op.is_spent()),
        "a select with no operation left to perform would wait forever"
    );
    if !matches!(wait, Wait::Never) {
        // A coroutine whose channels are always ready would otherwise never
        // let the others of its worker run.
        crate::budget::consume_budget();
    }
    let many;
    let order: &[usize] = if n == 1 {
        &[0]
    } else {
        many = lock_order(ops);
        &many
    };
    loop {
        // Steps 1 to 4, under every channel lock, visiting the operations
        // in a random order (as Go's `pollorder`): a rotation from a random
        // start would not do, as an idle operation's turn would always pass
        // to the one after it.
        let poll_order = random_permutation(n);
        lock_all(ops, order);
        for &i in poll_order.iter() {
            if ops[i].is_spent() {
                continue;
            }
            let mut woken = None;
            // SAFETY: we hold every lock.
            if unsafe { ops[i].try_locked(&mut woken) } {
                // SAFETY: taken above.
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
        if expired {
            // SAFETY: taken above.
            unsafe { unlock_all(ops, order) };
            return None;
        }
        // The shared signal of a select of several operations lives on the
        // heap (completers reach it while we are parked) until every hook
        // is unregistered below.
        let shared = (n > 1).then(|| NonNull::from(Box::leak(Box::new(Signal::new()))));
        // Register in the same random order, so that when two operations
        // wait on one channel, neither is always first in its queue.
        for &i in poll_order.iter() {
            if !ops[i].is_spent() {
                // SAFETY: we hold every lock; `shared` outlives the hooks.
                unsafe { ops[i].register_locked(shared, i) };
            }
        }
        let signal = |ops: &[&mut O]| -> *const Signal {
            match shared {
                Some(s) => s.as_ptr(),
                None => ops[0].own_signal(),
            }
        };
        // SAFETY (for the dereferences of `signal(ops)` below): the signal
        // is kept alive by `shared`, or by the lone operation's hook, which
        // it holds until `finish` or `abandon`.
        // SAFETY: taken above.
        unsafe { unlock_all(ops, order) };

        // Step 5.
        // SAFETY: see above.
        let mut selected = unsafe { &*signal(ops) }.selected();
        let mut timed_out = false;
        if selected.is_none() {
            let parked = panic::catch_unwind(AssertUnwindSafe(|| match wait {
                Wait::Until(d) => park_until(d),
                _ => park(),
            }));
            if let Err(unwinding) = parked {
                // The coroutine is being unwound (its runtime stopped): take
                // every hook out of its channel before anything is freed.
                // SAFETY: see above.
                unsafe { &*signal(ops) }.abort();
                unregister_all(ops, order);
                ops.iter_mut().for_each(|op| op.abandon());
                free_shared(shared);
                panic::resume_unwind(unwinding);
            }
            // SAFETY: see above.
            selected = unsafe { &*signal(ops) }.selected();
            if selected.is_none() {
                timed_out = matches!(wait, Wait::Until(d) if Instant::now() >= d);
                // Timed out, or woken spuriously: end this round.
                // SAFETY: see above.
                selected = unsafe { &*signal(ops) }.abort();
            }
        }
        // The completer removed the selected hook; remove the others.
        if n > 1 || selected.is_none() {
            unregister_all(ops, order);
        }
        for (i, op) in ops.iter_mut().enumerate() {
            if Some(i) == selected {
                op.finish();
            } else {
                op.abandon();
            }
        }
        free_shared(shared);
        if selected.is_some() || timed_out {
            return selected;
        }
        // A spurious wake-up: start over.
    }
}

static NEXT_SELECT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Waits on several channel operations and performs exactly one.
///
/// Add operations with [`recv`](Select::recv) and [`send`](Select::send),
/// which return handles; run the select with [`wait`](Select::wait) (or
/// [`try_wait`](Select::try_wait), [`wait_timeout`](Select::wait_timeout));
/// then take the result of the operation that happened with
/// [`recv_result`](Select::recv_result) or
/// [`send_result`](Select::send_result). When several operations are ready,
/// each is equally likely to be chosen. A `Select` may be waited on again:
/// operations that already happened take no further part. The [`select!`](crate::select!)
/// macro is a shorter way to write the same.
///
/// ```
/// use coro::chan::{bounded, Select};
///
/// let (tx1, rx1) = bounded::<i32>(1);
/// let (tx2, rx2) = bounded::<&str>(1);
/// tx2.send("hello").unwrap();
///
/// let mut sel = Select::new();
/// let a = sel.recv(&rx1);
/// let b = sel.recv(&rx2);
/// let done = sel.wait();
/// assert_eq!(done, b.index());
/// assert_eq!(sel.recv_result(b), Ok("hello"));
/// # drop((tx1, a));
/// ```
pub struct Select<'a> {
    ops: Vec<Box<dyn SelectOp + 'a>>,
    id: u64,
}

impl std::fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.ops.len())
            .finish()
    }
}

/// Names a receive added to a [`Select`].
#[derive(Debug)]
pub struct RecvHandle<T> {
    index: usize,
    select: u64,
    _marker: PhantomData<fn() -> T>,
}

/// Names a send added to a [`Select`].
#[derive(Debug)]
pub struct SendHandle<T> {
    index: usize,
    select: u64,
    _marker: PhantomData<fn() -> T>,
}

impl<T> RecvHandle<T> {
    /// The index that [`Select::wait`] returns when this operation happens.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<T> SendHandle<T> {
    /// The index that [`Select::wait`] returns when this operation happens.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl<'a> Select<'a> {
    /// An empty select.
    pub fn new() -> Self {
        Select {
            ops: Vec::new(),
            id: NEXT_SELECT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Adds a receive from `rx`.
    pub fn recv<T: Send + 'a>(&mut self, rx: &'a Receiver<T>) -> RecvHandle<T> {
        self.ops.push(Box::new(RecvOp::new(&rx.chan)));
        RecvHandle {
            index: self.ops.len() - 1,
            select: self.id,
            _marker: PhantomData,
        }
    }

    /// Adds a send of `value` on `tx`. If another operation happens
    /// instead, [`send_result`](Select::send_result) hands the value back.
    pub fn send<T: Send + 'a>(&mut self, tx: &'a Sender<T>, value: T) -> SendHandle<T> {
        self.ops.push(Box::new(SendOp::new(&tx.chan, value)));
        SendHandle {
            index: self.ops.len() - 1,
            select: self.id,
            _marker: PhantomData,
        }
    }

    fn run(&mut self, wait: Wait) -> Option<usize> {
        if self.ops.is_empty() {
            // Only a `default` arm, as Go allows: nothing can happen.
            match wait {
                Wait::Never => return None,
                Wait::Until(d) => {
                    crate::sleep_until(d);
                    return None;
                }
                Wait::Forever => panic!("an empty select would wait forever"),
            }
        }
        let mut ops: Vec<&mut (dyn SelectOp + 'a)> =
            self.ops.iter_mut().map(|b| &mut **b).collect();
        run(&mut ops, wait)
    }

    /// Blocks until one operation happens; returns its index.
    ///
    /// # Panics
    /// If no operation is left to perform (it could never complete).
    pub fn wait(&mut self) -> usize {
        self.run(Wait::Forever)
            .expect("a select without deadline completes")
    }

    /// Performs a ready operation if there is one, without blocking.
    pub fn try_wait(&mut self) -> Option<usize> {
        self.run(Wait::Never)
    }

    /// As [`wait`](Select::wait), giving up after `timeout`.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<usize> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.wait_deadline(d),
            None => Some(self.wait()),
        }
    }

    /// As [`wait`](Select::wait), giving up at `deadline`.
    pub fn wait_deadline(&mut self, deadline: Instant) -> Option<usize> {
        self.run(Wait::Until(deadline))
    }

    /// The result of a receive that happened.
    ///
    /// # Panics
    /// If the handle is from another select, or its receive did not happen.
    pub fn recv_result<T: 'a>(&mut self, handle: RecvHandle<T>) -> Result<T, RecvError> {
        assert_eq!(
            handle.select, self.id,
            "a RecvHandle used with another Select"
        );
        let op: *mut (dyn SelectOp + 'a) = &mut *self.ops[handle.index];
        // SAFETY: the handle came from this select (checked by id), and
        // `recv` put a `RecvOp<T>` at its index.
        let op = unsafe { &mut *op.cast::<RecvOp<'a, T>>() };
        op.result.take().expect("this receive did not happen")
    }

    /// The result of a send that happened, or the value back if it did not
    /// happen (as `Err(SendError(value))`).
    ///
    /// # Panics
    /// If the handle is from another select.
    pub fn send_result<T: 'a>(&mut self, handle: SendHandle<T>) -> Result<(), SendError<T>> {
        assert_eq!(
            handle.select, self.id,
            "a SendHandle used with another Select"
        );
        let op: *mut (dyn SelectOp + 'a) = &mut *self.ops[handle.index];
        // SAFETY: as in `recv_result`, with `send` and `SendOp<T>`.
        let op = unsafe { &mut *op.cast::<SendOp<'a, T>>() };
        match op.result.take() {
            Some(r) => r,
            None => Err(SendError(
                op.take_unsent().expect("the send's value is still here"),
            )),
        }
    }
}

/// Waits on several channel operations and runs the arm of the one that
/// happens; when several are ready, one is chosen at random.
///
/// Arms:
/// * `recv(rx) -> msg => expr`: `msg` is `Result<T, RecvError>`;
/// * `send(tx, value) -> res => expr`: `res` is `Result<(), SendError<T>>`;
/// * `default => expr`: runs if no operation is ready right away;
/// * `default(duration) => expr`: runs if none becomes ready in time.
///
/// ```
/// use std::time::Duration;
/// use coro::chan::bounded;
///
/// let (tx, rx) = bounded::<u32>(0);
/// let (done_tx, done_rx) = bounded::<()>(0);
/// coro::spawn(move || {
///     tx.send(7).unwrap();
///     done_tx.send(()).unwrap();
/// });
/// let mut got = 0;
/// loop {
///     coro::select! {
///         recv(rx) -> v => got += v.unwrap(),
///         recv(done_rx) -> _ => break,
///         default(Duration::from_secs(10)) => panic!("nothing happened"),
///     }
/// }
/// assert_eq!(got, 7);
/// ```
#[macro_export]
macro_rules! select {
    // Skip separating commas.
    (@parse $sel:ident [$($ops:tt)*] [$($def:tt)*] , $($rest:tt)*) => {
        $crate::select!(@parse $sel [$($ops)*] [$($def)*] $($rest)*)
    };
    (@parse $sel:ident [$($ops:tt)*] [$($def:tt)*] recv($rx:expr) -> $m:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $sel [$($ops)* (recv, $rx, $m, $body)] [$($def)*] $($rest)*)
    };
    (@parse $sel:ident [$($ops:tt)*] [$($def:tt)*] recv($rx:expr) -> $m:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $sel [$($ops)* (recv, $rx, $m, $body)] [$($def)*] $($($rest)*)?)
    };
    (@parse $sel:ident [$($ops:tt)*] [$($def:tt)*] send($tx:expr, $v:expr) -> $m:pat => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $sel [$($ops)* (send, ($tx, $v), $m, $body)] [$($def)*] $($rest)*)
    };
    (@parse $sel:ident [$($ops:tt)*] [$($def:tt)*] send($tx:expr, $v:expr) -> $m:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $sel [$($ops)* (send, ($tx, $v), $m, $body)] [$($def)*] $($($rest)*)?)
    };
    (@parse $sel:ident [$($ops:tt)*] [] default($t:expr) => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $sel [$($ops)*] [(Some($t), $body)] $($rest)*)
    };
    (@parse $sel:ident [$($ops:tt)*] [] default($t:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $sel [$($ops)*] [(Some($t), $body)] $($($rest)*)?)
    };
    (@parse $sel:ident [$($ops:tt)*] [] default => $body:block $($rest:tt)*) => {
        $crate::select!(@parse $sel [$($ops)*] [(None, $body)] $($rest)*)
    };
    (@parse $sel:ident [$($ops:tt)*] [] default => $body:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@parse $sel [$($ops)*] [(None, $body)] $($($rest)*)?)
    };
    // All parsed: register each operation under a name of its own (each
    // step of the recursion has its own hygiene), then run.
    (@parse $sel:ident [$($ops:tt)*] [$($def:tt)*]) => {{
        let mut $sel = $crate::chan::Select::new();
        $crate::select!(@register $sel [] [$($def)*] $($ops)*)
    }};
    (@register $sel:ident [$($named:tt)*] [$($def:tt)*] (recv, $rx:expr, $m:pat, $body:expr) $($ops:tt)*) => {{
        let handle = $sel.recv(&$rx);
        $crate::select!(@register $sel [$($named)* (recv_result, handle, $m, $body)] [$($def)*] $($ops)*)
    }};
    (@register $sel:ident [$($named:tt)*] [$($def:tt)*] (send, ($tx:expr, $v:expr), $m:pat, $body:expr) $($ops:tt)*) => {{
        let handle = $sel.send(&$tx, $v);
        $crate::select!(@register $sel [$($named)* (send_result, handle, $m, $body)] [$($def)*] $($ops)*)
    }};
    (@register $sel:ident [$(($take:ident, $h:ident, $m:pat, $body:expr))*] []) => {{
        let index = $sel.wait();
        $(
            if index == $h.index() {
                let $m = $sel.$take($h);
                $body
            } else
        )* {
            unreachable!()
        }
    }};
    (@register $sel:ident [$(($take:ident, $h:ident, $m:pat, $body:expr))*] [(None, $dbody:expr)]) => {{
        match $sel.try_wait() {
            $(
                Some(index) if index == $h.index() => {
                    let $m = $sel.$take($h);
                    $body
                }
            )*
            Some(_) => unreachable!(),
            None => $dbody,
        }
    }};
    (@register $sel:ident [$(($take:ident, $h:ident, $m:pat, $body:expr))*] [(Some($t:expr), $dbody:expr)]) => {{
        match $sel.wait_timeout($t) {
            $(
                Some(index) if index == $h.index() => {
                    let $m = $sel.$take($h);
                    $body
                }
            )*
            Some(_) => unreachable!(),
            None => $dbody,
        }
    }};
    // Entry (last, so that it does not swallow the internal rules).
    ($($arms:tt)*) => {
        $crate::select!(@parse sel_ [] [] $($arms)*)
    };
}
