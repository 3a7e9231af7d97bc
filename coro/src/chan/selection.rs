//! [`Select`]: a dynamic list of channel operations, waited on together.
//!
//! Two call shapes share one type and one algorithm (`select::run`):
//!
//! * crossbeam-channel's: [`recv`](Select::recv) and [`send`](Select::send)
//!   return the operation's index; [`select`](Select::select) (and
//!   [`try_select`](Select::try_select),
//!   [`select_timeout`](Select::select_timeout)) returns a
//!   [`SelectedOperation`], which the caller completes with
//!   [`SelectedOperation::recv`] or [`SelectedOperation::send`]. The
//!   operations stay in the `Select`, which may be run again, cloned, or
//!   have operations [removed](Select::remove). [`ready`](Select::ready)
//!   only finds an operation that is ready.
//! * ours, with the message in the select: [`add_send`](Select::add_send)
//!   takes the message and [`add_recv`](Select::add_recv) returns a typed
//!   handle; [`wait`](Select::wait) performs one operation, and
//!   [`send_result`](Select::send_result) /
//!   [`recv_result`](Select::recv_result) hand back what happened,
//!   including the message of a send that did not happen.
//!
//! Why keep ours: a send that carries its message can wait as a *partner*
//! in the channel, so a receiver that only polls (`try_recv`, a `select!`
//! with `default`) on a zero-capacity channel meets it, as in Go. A send
//! added with crossbeam's [`send`](Select::send) has no message until the
//! select returns, so it can only wait as an observer, and nobody can take
//! a message from it until its owner comes back: a `try_recv` spin on the
//! other end never succeeds. And nothing can be left half done: every
//! operation is complete when `wait` returns, while a `SelectedOperation`
//! must be completed by its owner (dropping it is a bug, and panics, as in
//! crossbeam). The [`select!`](crate::select!) macro takes the best of
//! both: a send arm's message is computed only when needed, and then it
//! waits as a partner.

use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use super::error::{
    ReadyTimeoutError, RecvError, SelectTimeoutError, SendError, TryReadyError, TrySelectError,
};
use super::select::{
    self, Mode, Payload, RecvOp, RecvPayload, SelectOp, SendOp, SendPayload, Wait,
};
use super::{Receiver, Sender};

static NEXT_SELECT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Waits on several channel operations and performs exactly one.
///
/// crossbeam-channel's shape:
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
/// let oper = sel.select();
/// match oper.index() {
///     i if i == a => panic!("nothing was sent on rx1: {:?}", oper.recv(&rx1)),
///     i if i == b => assert_eq!(oper.recv(&rx2), Ok("hello")),
///     _ => unreachable!(),
/// }
/// # drop(tx1);
/// ```
///
/// Ours, with the messages in the select (see the module docs for why):
///
/// ```
/// use coro::chan::{bounded, Select};
///
/// let (tx1, rx1) = bounded::<i32>(0);
/// let (tx2, rx2) = bounded::<&str>(1);
///
/// let mut sel = Select::new();
/// let a = sel.add_recv(&rx1);
/// let b = sel.add_send(&tx2, "hello");
/// let done = sel.wait();
/// assert_eq!(done, b.index());
/// assert_eq!(sel.send_result(b), Ok(()));
/// assert_eq!(rx2.recv(), Ok("hello"));
/// # drop((tx1, a));
/// ```
///
/// When several operations are ready, each is equally likely to be chosen
/// ([`new_biased`](Select::new_biased): the first added). Operations added
/// with `add_send`/`add_recv` happen at most once: once they happened they
/// take no further part if the select is run again.
pub struct Select<'a> {
    /// `None`: removed (indexes of the others stay as they were).
    ops: Vec<Option<Box<dyn SelectOp<'a> + 'a>>>,
    id: u64,
    biased: bool,
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.ops.iter().flatten().count())
            .field("biased", &self.biased)
            .finish()
    }
}

impl Clone for Select<'_> {
    /// The same operations, without messages or results: a send added with
    /// [`add_send`](Select::add_send) is, in the clone, a send whose message
    /// is given to [`SelectedOperation::send`]. Handles of `self` do not
    /// work with the clone.
    fn clone(&self) -> Self {
        Select {
            ops: self
                .ops
                .iter()
                .map(|op| op.as_ref().map(|op| op.clone_op()))
                .collect(),
            id: next_id(),
            biased: self.biased,
        }
    }
}

fn next_id() -> u64 {
    NEXT_SELECT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Names a receive added with [`Select::add_recv`].
#[derive(Debug)]
pub struct RecvHandle<T> {
    index: usize,
    select: u64,
    _marker: PhantomData<fn() -> T>,
}

/// Names a send added with [`Select::add_send`].
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
    /// An empty select that chooses at random among ready operations.
    pub fn new() -> Self {
        Select {
            ops: Vec::new(),
            id: next_id(),
            biased: false,
        }
    }

    /// An empty select that chooses the first added of the ready
    /// operations (as [`select_biased!`](crate::select_biased!)).
    pub fn new_biased() -> Self {
        Select {
            biased: true,
            ..Select::new()
        }
    }

    fn push(&mut self, op: Box<dyn SelectOp<'a> + 'a>) -> usize {
        self.ops.push(Some(op));
        self.ops.len() - 1
    }

    /// Adds a receive from `rx`; returns its index. Complete it with
    /// [`SelectedOperation::recv`].
    pub fn recv<T: 'a>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.push(Box::new(RecvOp::reusable(&rx.chan)))
    }

    /// Adds a send on `tx`; returns its index. The message is given when
    /// the send is chosen, to [`SelectedOperation::send`]. Until then the
    /// send only watches the channel (see the module docs).
    pub fn send<T: 'a>(&mut self, tx: &'a Sender<T>) -> usize {
        self.push(Box::new(SendOp::reusable(&tx.chan)))
    }

    /// Adds a send whose message `make` computes, only when its channel is
    /// ready or the select has to wait (for `select!`).
    #[doc(hidden)]
    pub fn __send_lazy<T: 'a>(
        &mut self,
        tx: &'a Sender<T>,
        make: impl FnOnce() -> T + 'a,
    ) -> usize {
        self.push(Box::new(SendOp::lazy(&tx.chan, Box::new(make))))
    }

    /// Adds a receive from `rx`, performed by [`wait`](Select::wait); take
    /// its result with [`recv_result`](Select::recv_result).
    pub fn add_recv<T: 'a>(&mut self, rx: &'a Receiver<T>) -> RecvHandle<T> {
        RecvHandle {
            index: self.push(Box::new(RecvOp::new(&rx.chan))),
            select: self.id,
            _marker: PhantomData,
        }
    }

    /// Adds a send of `value` on `tx`, performed by [`wait`](Select::wait).
    /// If another operation happens instead,
    /// [`send_result`](Select::send_result) hands the value back.
    pub fn add_send<T: 'a>(&mut self, tx: &'a Sender<T>, value: T) -> SendHandle<T> {
        SendHandle {
            index: self.push(Box::new(SendOp::new(&tx.chan, value))),
            select: self.id,
            _marker: PhantomData,
        }
    }

    /// Removes the operation at `index`; the others keep their indexes.
    ///
    /// # Panics
    /// If there is no operation at `index` (never added, or removed).
    pub fn remove(&mut self, index: usize) {
        assert!(
            self.ops.get_mut(index).and_then(Option::take).is_some(),
            "no operation with index {index} in this select"
        );
    }

    fn run(&mut self, wait: Wait, ready_only: bool) -> Option<usize> {
        let mut index = Vec::with_capacity(self.ops.len());
        let mut ops: Vec<&mut (dyn SelectOp<'a> + 'a)> = Vec::with_capacity(self.ops.len());
        for (i, op) in self.ops.iter_mut().enumerate() {
            if let Some(op) = op {
                index.push(i);
                ops.push(&mut **op);
            }
        }
        if ops.is_empty() {
            // Only a `default` arm, as Go allows: nothing can happen.
            match wait {
                Wait::Never => {
                    // `select! { default => {} }` in a loop is a spin too.
                    crate::budget::consume_budget();
                    return None;
                }
                Wait::Until(d) => {
                    crate::sleep_until(d);
                    return None;
                }
                Wait::Forever => panic!("an empty select would wait forever"),
            }
        }
        let mode = Mode {
            biased: self.biased,
            ready_only,
        };
        select::run(&mut ops, wait, mode).map(|i| index[i])
    }

    /// crossbeam's shape: a `select` or `ready` with no operation can
    /// never return, and (unlike [`wait`](Select::wait), ours, which
    /// panics to report the bug) it waits forever rather than failing.
    fn block_forever_if_empty(&self) {
        if self.ops.iter().all(Option::is_none) {
            crate::wait::park_forever();
        }
    }

    fn selected(&mut self, index: usize) -> SelectedOperation<'a> {
        let op = self.ops[index].as_mut().expect("a selected operation");
        SelectedOperation {
            index,
            chan: op.channel_addr(),
            payload: op.take_payload(),
            done: false,
        }
    }

    /// Blocks until one operation is chosen; returns it, for the caller to
    /// complete.
    ///
    /// An empty select (so also `select! {}`) blocks forever, as crossbeam's
    /// does: the caller parks with no waker registered anywhere (a
    /// coroutine so parked costs its worker nothing, and a stopping runtime
    /// unwinds it like any other parked coroutine).
    pub fn select(&mut self) -> SelectedOperation<'a> {
        self.block_forever_if_empty();
        let i = self
            .run(Wait::Forever, false)
            .expect("a select without deadline completes");
        self.selected(i)
    }

    /// Chooses an operation if one is ready now.
    ///
    /// # Errors
    /// None was ready.
    pub fn try_select(&mut self) -> Result<SelectedOperation<'a>, TrySelectError> {
        match self.run(Wait::Never, false) {
            Some(i) => Ok(self.selected(i)),
            None => Err(TrySelectError),
        }
    }

    /// As [`select`](Select::select), giving up after `timeout`.
    ///
    /// # Errors
    /// None became ready in time.
    pub fn select_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.select_deadline(d),
            None => Ok(self.select()),
        }
    }

    /// As [`select`](Select::select), giving up at `deadline`.
    ///
    /// # Errors
    /// None became ready in time.
    pub fn select_deadline(
        &mut self,
        deadline: Instant,
    ) -> Result<SelectedOperation<'a>, SelectTimeoutError> {
        match self.run(Wait::Until(deadline), false) {
            Some(i) => Ok(self.selected(i)),
            None => Err(SelectTimeoutError),
        }
    }

    /// Blocks until an operation is ready and returns its index, performing
    /// none. By the time the caller performs it, another thread or
    /// coroutine may have made it not ready again.
    ///
    /// An empty select blocks forever, as [`select`](Select::select) does.
    pub fn ready(&mut self) -> usize {
        self.block_forever_if_empty();
        self.run(Wait::Forever, true)
            .expect("a ready without deadline completes")
    }

    /// The index of an operation that is ready now, performing none.
    ///
    /// # Errors
    /// None was ready.
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        self.run(Wait::Never, true).ok_or(TryReadyError)
    }

    /// As [`ready`](Select::ready), giving up after `timeout`.
    ///
    /// # Errors
    /// None became ready in time.
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.ready_deadline(d),
            None => Ok(self.ready()),
        }
    }

    /// As [`ready`](Select::ready), giving up at `deadline`.
    ///
    /// # Errors
    /// None became ready in time.
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        self.run(Wait::Until(deadline), true)
            .ok_or(ReadyTimeoutError)
    }

    /// Blocks until one operation happens; returns its index.
    ///
    /// # Panics
    /// If no operation is left to perform (it could never complete). Unlike
    /// crossbeam's [`select`](Select::select), which blocks forever then,
    /// our own call shape reports the bug.
    pub fn wait(&mut self) -> usize {
        let i = self
            .run(Wait::Forever, false)
            .expect("a select without deadline completes");
        self.keep_result(i)
    }

    /// Performs a ready operation if there is one, without blocking.
    pub fn try_wait(&mut self) -> Option<usize> {
        let i = self.run(Wait::Never, false)?;
        Some(self.keep_result(i))
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
        let i = self.run(Wait::Until(deadline), false)?;
        Some(self.keep_result(i))
    }

    /// After `wait`: an operation added in crossbeam's shape was chosen;
    /// its result has no handle to go to.
    fn keep_result(&mut self, i: usize) -> usize {
        let op = self.ops[i].as_mut().expect("a selected operation");
        assert!(
            op.take_payload().is_none(),
            "Select::wait chose an operation added with `recv` or `send`: use `select` for those"
        );
        i
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
        let op: *mut (dyn SelectOp<'a> + 'a) =
            &mut **self.ops[handle.index].as_mut().expect("operation removed");
        // SAFETY: the handle came from this select (checked by id), and
        // `add_recv` put a `RecvOp<T>` at its index (`remove` leaves `None`,
        // never another operation).
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
        let op: *mut (dyn SelectOp<'a> + 'a) =
            &mut **self.ops[handle.index].as_mut().expect("operation removed");
        // SAFETY: as in `recv_result`, with `add_send` and `SendOp<T>`.
        let op = unsafe { &mut *op.cast::<SendOp<'a, T>>() };
        match op.result.take() {
            Some(r) => r,
            None => Err(SendError(
                op.take_unsent().expect("the send's value is still here"),
            )),
        }
    }
}

/// An operation that [`Select::select`] chose; complete it with
/// [`recv`](SelectedOperation::recv) or [`send`](SelectedOperation::send),
/// passing the same channel end that was added.
///
/// A receive has already happened (the message waits here); a send happens
/// in `send`, without waiting unless another sender took the room since
/// (the select does not reserve it; see the `select` module).
///
/// # Panics
/// Dropping it without completing it panics (as crossbeam's does): the
/// received message would be lost, or the send forgotten.
#[must_use = "a selected operation must be completed with `recv` or `send`"]
pub struct SelectedOperation<'a> {
    index: usize,
    /// The channel of the operation, to check the end given back.
    chan: usize,
    payload: Option<Box<dyn Payload + 'a>>,
    done: bool,
}

impl fmt::Debug for SelectedOperation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelectedOperation")
            .field("index", &self.index)
            .finish()
    }
}

impl<'a> SelectedOperation<'a> {
    /// The index of the chosen operation (as `Select::recv`/`send` returned).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The payload, checked to be of the channel at `chan` and of the
    /// direction `send`.
    fn take(&mut self, chan: usize, send: bool) -> Box<dyn Payload + 'a> {
        let what = if send { "send" } else { "recv" };
        assert!(
            self.chan == chan,
            "SelectedOperation::{what} given a channel end other than the one selected"
        );
        self.done = true;
        match self.payload.take() {
            Some(p) if p.is_send() == send => p,
            _ => panic!("the selected operation is not a {what} added with Select::{what}"),
        }
    }

    /// Completes a chosen receive: its message, or `Err` if the channel was
    /// empty and disconnected.
    ///
    /// # Panics
    /// If `rx` is not the receiver of the chosen operation, or that
    /// operation is a send.
    pub fn recv<T>(mut self, rx: &Receiver<T>) -> Result<T, RecvError> {
        let chan = &*rx.chan as *const _ as usize;
        let payload = self.take(chan, false);
        let payload: *mut (dyn Payload + 'a) = Box::into_raw(payload);
        // SAFETY: `take` checked that the payload is a receive's, so a
        // `RecvPayload<U>` made by the `RecvOp<U>` of the channel at address
        // `chan`, and that `rx`'s channel is at that address. The selected
        // channel is alive (borrowed for 'a) and so is `rx`'s: two live
        // objects at one address are one `Channel`, so `U` is `T`.
        let payload = unsafe { Box::from_raw(payload.cast::<RecvPayload<T>>()) };
        payload.0
    }

    /// Completes a chosen send: sends `msg` on `tx` (or hands it back, if
    /// every receiver is gone). A send that the select already performed
    /// (a `select!` arm that waited) returns its result and drops `msg`.
    ///
    /// # Panics
    /// If `tx` is not the sender of the chosen operation, or that
    /// operation is a receive.
    pub fn send<T>(mut self, tx: &Sender<T>, msg: T) -> Result<(), SendError<T>> {
        let payload = self.send_payload(tx);
        match payload.0 {
            Some(r) => r,
            None => tx.send(msg),
        }
    }

    /// Completes a chosen `select!` send arm: the select already performed
    /// it (see `SendOp::lazy`); this hands back its result.
    #[doc(hidden)]
    pub fn __send_lazy<T>(mut self, tx: &Sender<T>) -> Result<(), SendError<T>> {
        self.send_payload(tx)
            .0
            .expect("a select! send arm is performed by the select that chose it")
    }

    fn send_payload<T>(&mut self, tx: &Sender<T>) -> Box<SendPayload<T>> {
        let chan = &*tx.chan as *const _ as usize;
        let payload = self.take(chan, true);
        let payload: *mut (dyn Payload + 'a) = Box::into_raw(payload);
        // SAFETY: as in `recv`, with a send's payload, which only a
        // `SendOp<'a, U>` makes: `SendPayload<U>` of the channel at
        // `chan`, which is `tx`'s, so `U` is `T`.
        unsafe { Box::from_raw(payload.cast::<SendPayload<T>>()) }
    }
}

impl Drop for SelectedOperation<'_> {
    fn drop(&mut self) {
        if !self.done && !std::thread::panicking() {
            panic!("a SelectedOperation was dropped without being completed");
        }
    }
}
