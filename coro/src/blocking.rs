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
//! Each runtime has one pool ([`BlockingPool`], in the scheduler's shared
//! state), after tokio's `runtime/blocking/pool.rs`:
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
//!   ([`DEFAULT_KEEP_ALIVE`], 10 s) without one it exits, so the pool
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

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::coroutine::JoinHandle;
use crate::scheduler::Shared;
use crate::task::TaskRef;

/// Most pool threads of a runtime unless its builder says otherwise (as
/// tokio's default).
pub(crate) const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// How long an idle pool thread waits for work before it exits (as
/// tokio's default).
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

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

thread_local! {
    /// The runtime whose pool runs this thread, on pool threads.
    static POOL_RUNTIME: std::cell::RefCell<Option<Arc<Shared>>> =
        const { std::cell::RefCell::new(None) };
}

/// The runtime of the calling pool thread, if it is one.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    POOL_RUNTIME.try_with(|r| r.borrow().clone()).ok().flatten()
}

/// Settings of a pool.
#[derive(Clone, Debug)]
pub(crate) struct PoolConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) thread_name: String,
}

/// One runtime's blocking pool. See the module docs.
pub(crate) struct BlockingPool {
    inner: Mutex<Inner>,
    /// Idle threads wait here.
    condvar: Condvar,
    config: PoolConfig,
}

struct Inner {
    /// Jobs no thread has taken yet, oldest first.
    queue: VecDeque<TaskRef>,
    /// Live pool threads.
    threads: usize,
    /// Idle threads not yet claimed by a spawn.
    idle: usize,
    /// Claims made on idle threads that no thread has consumed yet.
    notified: usize,
    shutdown: bool,
    /// Join handles of live threads, by thread number; a thread that exits
    /// on its own takes its handle out (detaching it).
    handles: HashMap<u64, thread::JoinHandle<()>>,
    next_thread: u64,
}

impl fmt::Debug for BlockingPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        f.debug_struct("BlockingPool")
            .field("threads", &inner.threads)
            .field("idle", &inner.idle)
            .field("queued", &inner.queue.len())
            .field("config", &self.config)
            .finish()
    }
}

impl BlockingPool {
    pub(crate) fn new(config: PoolConfig) -> BlockingPool {
        BlockingPool {
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
                handles: HashMap::new(),
                next_thread: 0,
            }),
            condvar: Condvar::new(),
            config,
        }
    }

    /// Queues `job` and finds it a thread (see the module docs).
    fn spawn(&self, rt: &Arc<Shared>, job: TaskRef) {
        let mut inner = self.inner.lock();
        if inner.shutdown {
            drop(inner);
            job.cancel_unstarted();
            return;
        }
        inner.queue.push_back(job);
        if inner.idle > 0 {
            inner.idle -= 1;
            inner.notified += 1;
            self.condvar.notify_one();
            return;
        }
        if inner.threads >= self.config.max_threads {
            // A busy thread takes it when it is done.
            return;
        }
        let number = inner.next_thread;
        let shared = Arc::clone(rt);
        let spawned = thread::Builder::new()
            .name(format!("{}-blocking", self.config.thread_name))
            .spawn(move || run_thread(shared, number));
        match spawned {
            Ok(handle) => {
                inner.next_thread += 1;
                inner.threads += 1;
                inner.handles.insert(number, handle);
            }
            Err(e) => {
                log::error!("coro: cannot start a blocking pool thread: {e}");
                if inner.threads == 0 {
                    // Nobody would ever take the job: fail it rather than
                    // leave its joiner waiting forever.
                    if let Some(job) = inner.queue.pop_back() {
                        drop(inner);
                        job.fail_unstarted(format!(
                            "coro: cannot start a blocking pool thread: {e}"
                        ));
                    }
                }
            }
        }
    }

    /// Steps 1 to 3 of the shutdown (see the module docs); returns the
    /// threads to join for step 4.
    pub(crate) fn shutdown(&self) -> Vec<thread::JoinHandle<()>> {
        let (queued, handles) = {
            let mut inner = self.inner.lock();
            inner.shutdown = true;
            self.condvar.notify_all();
            let queued: Vec<TaskRef> = inner.queue.drain(..).collect();
            let handles: Vec<_> = inner.handles.drain().map(|(_, h)| h).collect();
            (queued, handles)
        };
        for job in queued {
            job.cancel_unstarted();
        }
        handles
    }

    /// The loop of pool thread `number`.
    fn work(&self, number: u64) {
        let mut inner = self.inner.lock();
        'work: loop {
            while let Some(job) = inner.queue.pop_front() {
                drop(inner);
                job.run_closure();
                job.complete();
                drop(job);
                inner = self.inner.lock();
            }
            if inner.shutdown {
                break;
            }
            inner.idle += 1;
            let deadline = Instant::now() + self.config.keep_alive;
            loop {
                let timed_out = self.condvar.wait_until(&mut inner, deadline).timed_out();
                if inner.notified > 0 {
                    // A spawn claimed us (and took us off `idle`).
                    inner.notified -= 1;
                    continue 'work;
                }
                if inner.shutdown || timed_out {
                    inner.idle -= 1;
                    if !inner.shutdown && !inner.queue.is_empty() {
                        continue 'work;
                    }
                    break 'work;
                }
                // A spurious wake-up: wait on.
            }
        }
        inner.threads -= 1;
        // Exiting on our own: detach ourselves. After a shutdown the handle
        // is gone already, with the dropping thread that joins it.
        drop(inner.handles.remove(&number));
    }
}

fn run_thread(shared: Arc<Shared>, number: u64) {
    POOL_RUNTIME.with(|r| *r.borrow_mut() = Some(Arc::clone(&shared)));
    shared.blocking.work(number);
    // Break the cycle through the thread-local before the thread ends.
    POOL_RUNTIME.with(|r| r.borrow_mut().take());
}

/// Whether the calling thread is a pool thread of `rt`.
pub(crate) fn is_pool_thread_of(rt: &Arc<Shared>) -> bool {
    current_shared().is_some_and(|s| Arc::ptr_eq(&s, rt))
}
