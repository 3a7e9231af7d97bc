//! Multi-producer multi-consumer channels that park coroutines.
//!
//! [`bounded`] and [`unbounded`] make a channel; both ends are `Clone`, and
//! coroutines and plain threads can share them in both directions. A
//! blocking call parks the calling coroutine (its worker runs others) or
//! blocks the calling thread.
//!
//! * `bounded(n)` holds up to `n` messages; `send` waits while it is full.
//! * `bounded(0)` holds none: `send` waits until a receiver takes the
//!   message (a rendezvous, as Go's unbuffered channels).
//! * `unbounded()` never makes `send` wait.
//!
//! Disconnection is as in `crossbeam-channel`: when every [`Sender`] is
//! gone, receivers get the messages still buffered, then an error; when
//! every [`Receiver`] is gone, `send` fails and hands the message back.
//! Every error of a send operation carries the message.
//!
//! [`select!`](crate::select!), [`select_biased!`](crate::select_biased!)
//! and [`Select`] wait on several operations at once. [`after`], [`tick`]
//! and [`never`](fn@never) make receivers that deliver the time once, periodically,
//! or never: timeouts and timers as select arms. The design (one lock per
//! channel, heap hooks, Go's lock-all-in-address-order select) is in the
//! source's `coro/src/chan/channel.rs` and `select.rs`.
//!
//! The API is crossbeam-channel's (0.5), so code written for it works with
//! `coro::chan` after renaming the crate, with these differences:
//!
//! * a send chosen by `Select::select` is not reserved (see [`Select`]);
//! * [`Select`] also offers sends that carry their message
//!   ([`Select::add_send`]), with typed handles for the results.
//!
//! Every operation counts against the cooperative budget
//! ([`consume_budget`](crate::consume_budget)), the non-blocking ones
//! (`try_send`, `try_recv`, `try_iter`, `len`, `is_empty`, a `select!`
//! with `default`) included: a coroutine spinning on them yields now and
//! then, so the coroutine it waits for runs even if it shares its worker.
//!
//! ```
//! let (tx, rx) = coro::chan::bounded(0);
//! let h = coro::spawn(move || rx.iter().sum::<u64>());
//! for i in 1..=10 {
//!     tx.send(i).unwrap();
//! }
//! drop(tx);
//! assert_eq!(h.join().unwrap(), 55);
//! ```

mod channel;
mod error;
mod macros;
mod select;
mod selection;
mod signal;

use std::fmt;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channel::{Channel, Clock};
pub use error::{
    ReadyTimeoutError, RecvError, RecvTimeoutError, SelectTimeoutError, SendError,
    SendTimeoutError, TryReadyError, TryRecvError, TrySelectError, TrySendError,
};
use select::{Mode, RecvOp, SendOp, Wait};
pub use selection::{RecvHandle, Select, SelectedOperation, SendHandle};

/// A channel holding up to `cap` messages; `bounded(0)` holds none, so each
/// send waits for a receiver.
pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    pair(Channel::new(Some(cap)))
}

/// A channel without a limit: `send` never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    pair(Channel::new(None))
}

/// A receiver that gets one message, the `Instant` it was due, once
/// `duration` has passed; after that it stays empty. It is never
/// disconnected. As a [`select!`](crate::select!) arm it is a timeout.
pub fn after(duration: Duration) -> Receiver<Instant> {
    let now = Instant::now();
    clock(now.checked_add(duration), None)
}

/// A receiver that gets one message at `when` (or at once, if that has
/// passed); see [`after`].
pub fn at(when: Instant) -> Receiver<Instant> {
    clock(Some(when), None)
}

/// A receiver that gets a message every `duration`, the `Instant` it was
/// due. It holds at most one: ticks missed while nobody received are
/// skipped, not queued. It is never disconnected.
pub fn tick(duration: Duration) -> Receiver<Instant> {
    let now = Instant::now();
    clock(now.checked_add(duration), Some(duration))
}

/// A receiver that never gets a message and is never disconnected: a
/// [`select!`](crate::select!) arm that is never chosen.
pub fn never<T>() -> Receiver<T> {
    Receiver {
        chan: Arc::new(Channel::without_senders(None)),
    }
}

/// A clock channel's receiver; `first: None` is a due time too far off to
/// represent, which never comes.
fn clock(first: Option<Instant>, period: Option<Duration>) -> Receiver<Instant> {
    Receiver {
        chan: Arc::new(Channel::without_senders(Some(Clock::new(
            first,
            period,
            |due| due,
        )))),
    }
}

fn pair<T>(chan: Channel<T>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(chan);
    (
        Sender {
            chan: Arc::clone(&chan),
        },
        Receiver { chan },
    )
}

/// The sending end of a channel.
pub struct Sender<T> {
    chan: Arc<Channel<T>>,
}

/// The receiving end of a channel.
pub struct Receiver<T> {
    chan: Arc<Channel<T>>,
}

// A channel end is a handle: a panic that unwinds past it leaves the
// channel consistent (its state changes under its lock, with no user code
// run there), as crossbeam-channel's ends are.
impl<T> UnwindSafe for Sender<T> {}
impl<T> RefUnwindSafe for Sender<T> {}
impl<T> UnwindSafe for Receiver<T> {}
impl<T> RefUnwindSafe for Receiver<T> {}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.chan.len())
            .finish()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.chan.len())
            .finish()
    }
}

fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl<T> Sender<T> {
    /// Sends a message, waiting while the channel is full (for `bounded(0)`:
    /// until a receiver takes it).
    ///
    /// # Errors
    /// Every receiver is gone; the error holds the message.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let mut op = SendOp::new(&self.chan, msg);
        select::run(&mut [&mut op], Wait::Forever, Mode::FAIR);
        op.result.take().expect("a send without deadline completes")
    }

    /// Sends a message if that needs no waiting.
    ///
    /// # Errors
    /// The channel is full, or every receiver is gone; the error holds the
    /// message.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        crate::budget::consume_budget();
        self.try_send_now(msg)
    }

    /// `try_send` without counting it against the budget.
    #[inline]
    fn try_send_now(&self, msg: T) -> Result<(), TrySendError<T>> {
        let mut inner = self.chan.locked();
        match inner.try_send(self.chan.capacity(), msg) {
            Ok(woken) => {
                drop(inner);
                if let Some(w) = woken {
                    w.wake();
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// As [`send`](Sender::send), giving up after `timeout`.
    ///
    /// # Errors
    /// Timed out, or every receiver is gone; the error holds the message.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        match deadline_after(timeout) {
            Some(d) => self.send_deadline(msg, d),
            None => self.send(msg).map_err(Into::into),
        }
    }

    /// As [`send`](Sender::send), giving up at `deadline`.
    ///
    /// # Errors
    /// Timed out, or every receiver is gone; the error holds the message.
    pub fn send_deadline(&self, msg: T, deadline: Instant) -> Result<(), SendTimeoutError<T>> {
        let mut op = SendOp::new(&self.chan, msg);
        match select::run(&mut [&mut op], Wait::Until(deadline), Mode::FAIR) {
            Some(_) => op.result.take().expect("completed").map_err(Into::into),
            None => Err(SendTimeoutError::Timeout(op.take_unsent().expect("unsent"))),
        }
    }

    /// Messages in the channel's buffer.
    pub fn len(&self) -> usize {
        crate::budget::consume_budget();
        self.chan.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full (always true for `bounded(0)`).
    pub fn is_full(&self) -> bool {
        crate::budget::consume_budget();
        self.chan.is_full()
    }

    /// The buffer's capacity; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// Whether every receiver (or every sender) is gone.
    pub fn is_disconnected(&self) -> bool {
        crate::budget::consume_budget();
        self.chan.is_disconnected()
    }

    /// Whether both ends belong to the same channel.
    pub fn same_channel(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_senders();
        }
    }
}

impl<T> Receiver<T> {
    /// Receives a message, waiting until one arrives.
    ///
    /// # Errors
    /// The channel is empty and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut op = RecvOp::new(&self.chan);
        select::run(&mut [&mut op], Wait::Forever, Mode::FAIR);
        op.result
            .take()
            .expect("a receive without deadline completes")
    }

    /// Receives a message if one is ready.
    ///
    /// # Errors
    /// None is ready, or the channel is empty and every sender is gone.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        crate::budget::consume_budget();
        self.try_recv_now()
    }

    /// `try_recv` without counting it against the budget.
    #[inline]
    fn try_recv_now(&self) -> Result<T, TryRecvError> {
        let mut inner = self.chan.locked();
        let (v, woken) = inner.try_recv()?;
        drop(inner);
        if let Some(w) = woken {
            w.wake();
        }
        Ok(v)
    }

    /// As [`recv`](Receiver::recv), giving up after `timeout`.
    ///
    /// # Errors
    /// Timed out, or the channel is empty and every sender is gone.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match deadline_after(timeout) {
            Some(d) => self.recv_deadline(d),
            None => self.recv().map_err(Into::into),
        }
    }

    /// As [`recv`](Receiver::recv), giving up at `deadline`.
    ///
    /// # Errors
    /// Timed out, or the channel is empty and every sender is gone.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        let mut op = RecvOp::new(&self.chan);
        match select::run(&mut [&mut op], Wait::Until(deadline), Mode::FAIR) {
            Some(_) => op.result.take().expect("completed").map_err(Into::into),
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// A blocking iterator over messages; it ends when the channel is empty
    /// and every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages ready now.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }

    /// Messages in the channel's buffer.
    pub fn len(&self) -> usize {
        crate::budget::consume_budget();
        self.chan.len()
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the buffer is full (always true for `bounded(0)`).
    pub fn is_full(&self) -> bool {
        crate::budget::consume_budget();
        self.chan.is_full()
    }

    /// The buffer's capacity; `None` for an unbounded channel.
    pub fn capacity(&self) -> Option<usize> {
        self.chan.capacity()
    }

    /// Whether every sender (or every receiver) is gone.
    pub fn is_disconnected(&self) -> bool {
        crate::budget::consume_budget();
        self.chan.is_disconnected()
    }

    /// Whether both ends belong to the same channel.
    pub fn same_channel(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: Arc::clone(&self.chan),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.disconnect_receivers();
        }
    }
}

/// Blocking iterator from [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

/// Non-blocking iterator from [`Receiver::try_iter`].
#[derive(Debug)]
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

/// Owning blocking iterator from `Receiver::into_iter`.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}
