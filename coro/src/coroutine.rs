//! Spawning, joining, yielding: the coroutine API.

use std::any::Any;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::sync::Arc;

use crate::runtime;
use crate::scope::{Scope, ScopedJoinHandle};
use crate::stack::{round_stack_size, MAX_STACK_SIZE};
use crate::task::{Extra, Outcome, TaskRef, Waiter};
use crate::wait::park;

/// Spawns a coroutine running `f` and returns a handle to join it.
///
/// Called from a coroutine, the new coroutine goes to the same runtime;
/// from any other thread, to the default runtime (started on first use,
/// with one worker per core). The coroutine may start on any worker; once
/// started it stays on that worker.
///
/// Dropping the [`JoinHandle`] detaches the coroutine: it keeps running.
///
/// ```
/// let h = coro::spawn(|| 6 * 7);
/// assert_eq!(h.join().unwrap(), 42);
/// ```
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with(f, None, &runtime::current_or_default(), None)
}

pub(crate) fn spawn_with<F, T>(
    f: F,
    extra: Option<Box<Extra>>,
    rt: &Arc<crate::scheduler::Shared>,
    worker: Option<usize>,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: `F` and `T` are 'static, so they outlive the task.
    let (sched, handle) = unsafe { TaskRef::new(f, extra) };
    match worker {
        Some(w) => rt.spawn_to(w, sched),
        None => rt.spawn(sched),
    }
    JoinHandle {
        task: handle,
        _output: PhantomData,
    }
}

/// Suspends the current coroutine and lets the other runnable coroutines of
/// its worker run first. Outside a coroutine, yields the thread. While the
/// thread is panicking, does nothing: no other coroutine may run then (see
/// the crate docs).
pub fn yield_now() {
    if crate::scheduler::in_coroutine() {
        crate::switch::suspend_yield();
    } else {
        std::thread::yield_now();
    }
}

/// Whether the caller runs on a coroutine (rather than a plain thread).
pub fn in_coroutine() -> bool {
    crate::scheduler::in_coroutine()
}

/// A unique identifier of a coroutine, for its lifetime and beyond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoroutineId(NonZeroU64);

impl CoroutineId {
    /// The identifier as a number.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for CoroutineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The identity of a running coroutine, from [`current`].
#[derive(Clone, Debug)]
pub struct Coroutine {
    id: CoroutineId,
    name: Option<Arc<str>>,
}

impl Coroutine {
    /// Its identifier.
    pub fn id(&self) -> CoroutineId {
        self.id
    }

    /// The name given with [`Builder::name`], if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

/// The coroutine that calls this.
///
/// # Panics
/// Outside a coroutine; see [`try_current`].
pub fn current() -> Coroutine {
    try_current().expect("coro::current() called outside a coroutine")
}

/// The coroutine that calls this, or `None` on a plain thread.
pub fn try_current() -> Option<Coroutine> {
    crate::scheduler::with_current_task(|task| Coroutine {
        id: CoroutineId(NonZeroU64::new(task.id()).expect("ids start at 1")),
        name: task.extra().and_then(|e| e.name.clone()),
    })
}

/// Configures a coroutine before spawning it: name and stack size.
///
/// ```
/// let h = coro::Builder::new()
///     .name("worker-7")
///     .stack_size(64 * 1024)
///     .spawn(|| coro::current().name().map(str::to_owned))
///     .unwrap();
/// assert_eq!(h.join().unwrap().as_deref(), Some("worker-7"));
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
    worker: Option<usize>,
    overflow_hint: Option<&'static str>,
}

impl Builder {
    /// A builder with the runtime's defaults.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the coroutine (shown by [`current`] and in overflow reports).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Sets the coroutine's stack size in bytes (rounded up to whole pages,
    /// at least 16 KiB). The default is the runtime's,
    /// [`runtime::Builder::stack_size`].
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the coroutine on worker `index` (modulo the number of
    /// workers) of its runtime, instead of on the spawning worker with
    /// others free to steal it. A started coroutine stays on the worker
    /// that first ran it, so this is how a server spreads long-lived
    /// coroutines (one per connection) evenly: give them consecutive
    /// indexes. Ignored by [`spawn_scoped`](Self::spawn_scoped).
    pub fn worker(mut self, index: usize) -> Builder {
        self.worker = Some(index);
        self
    }

    /// The setting a stack-overflow report of this coroutine tells the
    /// reader to raise, in place of `coro::Builder::stack_size`. A library
    /// that spawns coroutines for its users' code names its own setting
    /// (coro-http names `coro_http::Builder::stack_size` for its
    /// connections). It costs a small allocation per spawn, as a name does.
    pub fn overflow_hint(mut self, setting: &'static str) -> Builder {
        self.overflow_hint = Some(setting);
        self
    }

    fn extra(self) -> io::Result<Option<Box<Extra>>> {
        let stack_size = match self.stack_size {
            Some(s) if s > MAX_STACK_SIZE => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("coro: stack size {s} exceeds the maximum of {MAX_STACK_SIZE} bytes"),
                ))
            }
            Some(s) => round_stack_size(s),
            None => 0,
        };
        if self.name.is_none() && stack_size == 0 && self.overflow_hint.is_none() {
            return Ok(None);
        }
        Ok(Some(Box::new(Extra {
            name: self.name.map(Arc::from),
            stack_size,
            scope: None,
            overflow_hint: self.overflow_hint,
        })))
    }

    /// Spawns the coroutine, as [`spawn`] does.
    ///
    /// # Errors
    /// An invalid stack size.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let worker = self.worker;
        let extra = self.extra()?;
        Ok(spawn_with(f, extra, &runtime::current_or_default(), worker))
    }

    /// Makes a coroutine that runs `f` once [started](Unstarted::start),
    /// on the runtime [`spawn`](Self::spawn) would use from here. Nothing is
    /// queued until then, so an `Unstarted` can wait, as a plain `Send`
    /// value, for an event (a socket becoming readable, say) and then be
    /// started by whoever sees the event, on any thread: it starts on that
    /// thread's worker if it is one of the runtime's, and is stealable
    /// like any new coroutine until it first runs. Dropped unstarted, it
    /// drops `f` without running it. The worker set by
    /// [`worker`](Self::worker) is not used.
    ///
    /// # Errors
    /// An invalid stack size.
    pub fn unstarted<F>(self, f: F) -> io::Result<Unstarted>
    where
        F: FnOnce() + Send + 'static,
    {
        let extra = self.extra()?;
        // SAFETY: `F` is 'static, so it outlives the task.
        let (sched, handle) = unsafe { TaskRef::new(f, extra) };
        drop(handle);
        Ok(Unstarted {
            task: Some(sched),
            rt: runtime::current_or_default(),
        })
    }

    /// Spawns the coroutine on `rt`.
    ///
    /// # Errors
    /// An invalid stack size.
    pub fn spawn_on<F, T>(self, rt: &crate::Runtime, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let worker = self.worker;
        let extra = self.extra()?;
        Ok(spawn_with(f, extra, rt.shared(), worker))
    }

    /// Spawns a scoped coroutine, as [`Scope::spawn`] does.
    ///
    /// # Errors
    /// An invalid stack size.
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let extra = self.extra()?.map_or_else(Extra::default, |e| *e);
        Ok(scope.spawn_with(f, extra))
    }
}

/// Whether the calling coroutine is being unwound by its stopping runtime:
/// dropping a [`Runtime`](crate::Runtime) unwinds the coroutines still
/// suspended, so that their destructors run (see the crate docs).
///
/// A `catch_unwind` that catches a panic while this is true caught that
/// unwind, not a panic of the code it wraps: it should say so rather than
/// report a panic, and hand the payload on with
/// `std::panic::resume_unwind`. False outside a coroutine.
pub fn is_cancelling() -> bool {
    crate::switch::is_force_unwinding()
}

/// A coroutine made by [`Builder::unstarted`] and not queued yet.
pub struct Unstarted {
    task: Option<TaskRef>,
    rt: Arc<crate::scheduler::Shared>,
}

impl Unstarted {
    /// Queues the coroutine: it runs next on the calling thread's worker
    /// when that is one of its runtime's, and is queued for the runtime's
    /// workers otherwise. Any thread.
    pub fn start(mut self) {
        if let Some(task) = self.task.take() {
            self.rt.spawn(task);
        }
    }
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.cancel_unstarted();
        }
    }
}

impl fmt::Debug for Unstarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unstarted").finish_non_exhaustive()
    }
}

/// An owned permission to join a coroutine (wait for it and take its
/// result). Dropping it detaches the coroutine.
pub struct JoinHandle<T> {
    task: TaskRef,
    _output: PhantomData<T>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// The handle of `task`, whose output type is `T`.
    pub(crate) fn from_task(task: TaskRef) -> JoinHandle<T> {
        JoinHandle {
            task,
            _output: PhantomData,
        }
    }

    /// Waits for the coroutine to finish and returns its result.
    ///
    /// Parks the calling coroutine, or blocks the calling thread.
    ///
    /// # Errors
    /// If the coroutine panicked, the error carries the panic payload
    /// ([`JoinError::into_panic`]); if its runtime stopped before it
    /// finished, [`JoinError::is_cancelled`] is true.
    pub fn join(self) -> Result<T, JoinError> {
        join_task(&self.task)
    }

    /// Whether the coroutine has finished (`join` would not wait).
    pub fn is_finished(&self) -> bool {
        self.task.is_complete()
    }
}

/// Waits for `task` and takes its output. Only the owner of its handle
/// may call this, once.
pub(crate) fn join_task<T>(task: &TaskRef) -> Result<T, JoinError> {
    wait_complete(task);
    assert!(task.claim_output(), "coro: a task's output was taken twice");
    // SAFETY: `T` is the task's output type (the handle's type parameter)
    // and we just claimed the output.
    match unsafe { task.read_output::<T>() } {
        Outcome::Value(v) => Ok(v),
        Outcome::Panic(p) => Err(JoinError {
            repr: Repr::Panic(p),
        }),
        Outcome::Cancelled => Err(JoinError {
            repr: Repr::Cancelled,
        }),
    }
}

fn wait_complete(task: &TaskRef) {
    while !task.is_complete() {
        if !task.set_join_waiter(Waiter::current()) {
            return;
        }
        if task.is_complete() {
            return;
        }
        park();
    }
}

/// Why a coroutine did not produce a result: it panicked, or its runtime
/// stopped first.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Panic(Box<dyn Any + Send + 'static>),
    Cancelled,
}

impl JoinError {
    /// Whether the coroutine panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// Whether the coroutine's runtime stopped before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The panic payload, for `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the error is not a panic.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic on a cancelled coroutine")
    }

    /// The panic payload, or the error back if it is not a panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(p) => Ok(p),
            Repr::Cancelled => Err(self),
        }
    }

    fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(p) => p
                .downcast_ref::<&'static str>()
                .copied()
                .or_else(|| p.downcast_ref::<String>().map(String::as_str)),
            Repr::Cancelled => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.panic_message()) {
            (Repr::Cancelled, _) => f.write_str("coroutine was cancelled: its runtime stopped"),
            (Repr::Panic(_), Some(m)) => write!(f, "coroutine panicked: {m}"),
            (Repr::Panic(_), None) => f.write_str("coroutine panicked"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(_) => write!(
                f,
                "JoinError::Panic({:?})",
                self.panic_message().unwrap_or("..")
            ),
        }
    }
}

impl std::error::Error for JoinError {}
