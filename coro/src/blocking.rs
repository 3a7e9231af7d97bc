//! The blocking pool: OS threads for work that would stall a worker.
//!
//! A coroutine that makes a blocking call (a file read, `getaddrinfo`, a
//! blocking database driver, a long computation) holds its worker thread,
//! and every other coroutine of that worker waits. [`spawn_blocking`] runs
//! such a call on a thread of its own and parks the caller in
//! [`JoinHandle::join`] meanwhile, so the worker runs the others.
//!
//! # Design
//!
//! Each runtime has one pool (`scheduler::blocking_pool`, in the scheduler's
//! shared state), after tokio's `runtime/blocking/pool.rs`:
//!
//! * A job is an ordinary task ([`TaskRef`]) that never gets a coroutine: a
//!   pool thread runs its closure ([`TaskRef::run_closure`], which catches
//!   a panic into the outcome) and completes it ([`TaskRef::complete`],
//!   which wakes the joiner). So the handle is the same `JoinHandle<T>` as
//!   for `spawn`, a panic arrives as a `JoinError` as it does there, and a
//!   plain thread may join it as well as a coroutine.
//! * One mutex guards a FIFO of queued jobs and the thread counts. A
//!   `spawn_blocking` pushes its job, then either claims an idle thread (it
//!   takes one off `idle`, adds one to `notified` and signals the condvar),
//!   or starts a new thread if fewer than
//!   [`max_blocking_threads`](crate::runtime::Builder::max_blocking_threads)
//!   exist, or else leaves the job queued: a busy thread takes it when it
//!   is done. A job is never dropped for want of a thread.
//! * A thread runs queued jobs until the queue is empty, then waits as
//!   idle. It goes back to work when it consumes a notification; after
//!   [`thread_keep_alive`](crate::runtime::Builder::thread_keep_alive)
//!   (10 s by default) without one it exits, so the pool
//!   shrinks to nothing when idle. Counting notifications (tokio's
//!   `num_notify`) keeps a spurious wake-up from being taken for work and
//!   two spawns from claiming the same idle thread.
//! * A pool thread enters its runtime: `coro::spawn` and `spawn_blocking`
//!   called from a job go to the runtime that ran it.
//!
//! # Shutdown
//!
//! Dropping the [`Runtime`](crate::Runtime) does what tokio's does:
//!
//! 1. the pool is closed: a later `spawn_blocking` is cancelled at once;
//! 2. queued jobs that no thread has started are cancelled: their closures
//!    are dropped and their joiners get [`JoinError::is_cancelled`];
//! 3. idle threads are woken and exit;
//! 4. jobs already running cannot be interrupted: the drop waits for them
//!    to return (as tokio's `Runtime::drop` does), then joins the threads.
//!    A runtime dropped from one of its own coroutines or pool threads
//!    cannot wait for itself, and leaves its threads to finish detached.
//!
//! [`JoinError::is_cancelled`]: crate::JoinError::is_cancelled

use std::sync::Arc;

use crate::coroutine::JoinHandle;
use crate::scheduler::Shared;
use crate::task::TaskRef;

/// Runs `f` on a thread of the blocking pool and returns a handle to join
/// it.
///
/// For work that would block a worker thread: file I/O (`std::fs`), DNS
/// (`ToSocketAddrs`; `coro_net::lookup_host` does it for you), blocking
/// database or HTTP client drivers, and CPU-heavy computation. The
/// coroutine that joins the handle parks until `f` returns, while its
/// worker runs the other coroutines.
///
/// Called from a coroutine (or a pool thread), the job goes to that
/// runtime's pool; from any other thread, to the default runtime's, as
/// [`spawn`](crate::spawn) does. The pool grows on demand up to
/// [`runtime::Builder::max_blocking_threads`](crate::runtime::Builder::max_blocking_threads)
/// (512 by default) threads; past that, jobs queue until a thread is free,
/// and are never dropped. Idle threads exit after
/// [`runtime::Builder::thread_keep_alive`](crate::runtime::Builder::thread_keep_alive).
///
/// A panic in `f` arrives as a [`JoinError`](crate::JoinError) with its
/// payload. If the runtime is dropped before a queued job starts, the job
/// is cancelled ([`JoinError::is_cancelled`](crate::JoinError::is_cancelled));
/// a job that already runs is waited for by the drop. Dropping the handle
/// detaches the job: it still runs.
///
/// ```
/// let h = coro::spawn(|| {
///     // Blocks a pool thread, not this coroutine's worker.
///     let text = coro::spawn_blocking(|| std::fs::read_to_string("Cargo.toml"))
///         .join()
///         .unwrap();
///     text.map(|t| t.len())
/// });
/// assert!(h.join().unwrap().unwrap() > 0);
/// ```
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_blocking_on(&crate::runtime::current_or_default(), f)
}

/// [`spawn_blocking`] on the runtime whose shared state is `rt`.
pub(crate) fn spawn_blocking_on<F, T>(rt: &Arc<Shared>, f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // SAFETY: `F` and `T` are 'static, so they outlive the task.
    let (job, handle) = unsafe { TaskRef::new(f, None) };
    rt.blocking.spawn(rt, job);
    JoinHandle::from_task(handle)
}
