//! Runtimes: a set of worker threads that run coroutines.
//!
//! Most programs never build one: [`spawn`](crate::spawn) from a plain
//! thread starts the *default runtime* on first use, with one worker per
//! core, and it lives until the process exits. Build a [`Runtime`] to choose
//! the worker count or stack sizes, to run several, or to stop one (dropping
//! it stops its workers and unwinds its suspended coroutines).

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Worker};

use crate::coroutine::{spawn_with, JoinHandle};
use crate::scheduler::blocking_pool::{
    BlockingPool, PoolConfig, DEFAULT_KEEP_ALIVE, DEFAULT_MAX_BLOCKING_THREADS,
};
use crate::scheduler::idle::Idle;
use crate::scheduler::sleeper::Sleeper;
use crate::scheduler::worker::WorkerCtx;
use crate::scheduler::{Config, Remote, Shared};
use crate::stack::{round_stack_size, DEFAULT_STACK_SIZE, MAX_STACK_SIZE};

/// Mapped stacks per worker before parked coroutines start sharing them.
const DEFAULT_RESIDENT_STACKS: usize = 4096;
/// Share of `vm.max_map_count` that resident stacks may use by default (two
/// mappings each), leaving the rest to the program.
const MAP_COUNT_SHARE: usize = 4;
/// How often [`Runtime::shutdown_timeout`] looks whether a thread has
/// exited (std has no join with a timeout).
const JOIN_POLL: Duration = Duration::from_millis(1);

/// A set of worker threads running coroutines.
///
/// ```
/// let rt = coro::runtime::Builder::new().workers(2).build().unwrap();
/// let sum = rt.block_on(|| {
///     let hs: Vec<_> = (0..10u64).map(|i| coro::spawn(move || i * i)).collect();
///     hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
/// });
/// assert_eq!(sum, 285);
/// ```
pub struct Runtime {
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
    /// The monitor thread (`scheduler::monitor`).
    monitor: Option<thread::JoinHandle<()>>,
    /// The shutdown has run (`stop`).
    stopped: bool,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers())
            .finish()
    }
}

impl Runtime {
    /// A runtime with the default settings; see [`Builder`].
    ///
    /// # Errors
    /// If a worker thread cannot be started.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// Spawns a coroutine on this runtime; see [`crate::spawn`].
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_with(f, None, &self.shared, None)
    }

    /// Runs `f` on this runtime's blocking pool; see
    /// [`crate::spawn_blocking`].
    pub fn spawn_blocking<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        crate::blocking::spawn_blocking_on(&self.shared, f)
    }

    /// Runs `f` as a coroutine on this runtime and returns its result,
    /// blocking the calling thread (or parking the calling coroutine) until
    /// then. `f` may borrow from the caller. A panic in `f` resumes here.
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        crate::scope::scope_on(Arc::clone(&self.shared), |s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("{e}"),
        })
    }

    /// Number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.remotes.len()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Stops the runtime as dropping it does, but waits at most `timeout`
    /// for its worker threads and its blocking pool's threads to exit.
    /// Returns whether they all did.
    ///
    /// A thread still running then is left to finish on its own, detached:
    /// a worker inside a coroutine that computes without suspending goes on
    /// computing, and once the coroutine suspends or returns, the worker
    /// goes through the rest of the shutdown (the coroutine is unwound if
    /// it suspended) and exits; a blocking job runs to its end. If the
    /// process exits first, they simply stop with it, their destructors
    /// not run. Called from one of the runtime's own threads, it waits for
    /// none of them, as a drop there does.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> bool {
        self.stop(Instant::now().checked_add(timeout))
    }

    /// The shutdown: waits for the threads until `deadline`, or for as
    /// long as they take if `None`. Returns whether they all exited.
    fn stop(&mut self, deadline: Option<Instant>) -> bool {
        if std::mem::replace(&mut self.stopped, true) {
            return true;
        }
        self.shared.begin_shutdown();
        let pool_threads = self.shared.blocking.shutdown();
        if let Some(m) = self.monitor.take() {
            m.thread().unpark();
            let _ = m.join();
        }
        let me = thread::current().id();
        if self.threads.iter().any(|t| t.thread().id() == me)
            || crate::scheduler::blocking_pool::is_pool_thread_of(&self.shared)
        {
            // Dropped from one of its own coroutines (or pool threads): the
            // workers wait for each other in the shutdown protocol, so this
            // one must get back to its loop; they all finish on their own,
            // detached, and so do the pool threads.
            self.threads.clear();
            return false;
        }
        let workers_exited = join_all(self.threads.drain(..), deadline);
        if workers_exited {
            // (A worker still running cancels them itself, in step 2 of
            // the shutdown protocol.)
            self.shared.cancel_injected();
        }
        join_all(pool_threads, deadline) && workers_exited
    }
}

/// Joins `threads`, until `deadline` if there is one; the threads still
/// running then are detached. Returns whether every thread was joined.
fn join_all(
    threads: impl IntoIterator<Item = thread::JoinHandle<()>>,
    deadline: Option<Instant>,
) -> bool {
    let mut all = true;
    for t in threads {
        if let Some(deadline) = deadline {
            while !t.is_finished() && Instant::now() < deadline {
                thread::sleep(JOIN_POLL);
            }
            if !t.is_finished() {
                all = false;
                continue;
            }
        }
        let _ = t.join();
    }
    all
}

impl Drop for Runtime {
    /// Stops the workers, unwinds every suspended coroutine on its own
    /// worker (so its destructors run), cancels the ones that never started
    /// and the blocking jobs no pool thread has started, and waits for the
    /// worker threads to exit and for the blocking jobs that run to return
    /// (as tokio does; see `spawn_blocking`).
    fn drop(&mut self) {
        self.stop(None);
    }
}

/// Settings for a [`Runtime`].
#[derive(Debug, Clone)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    resident_stacks: Option<usize>,
    thread_name: String,
    max_blocking_threads: usize,
    thread_keep_alive: Duration,
    hog_threshold: Option<Duration>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK_SIZE,
            resident_stacks: None,
            thread_name: "coro-worker".into(),
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            thread_keep_alive: DEFAULT_KEEP_ALIVE,
            hog_threshold: Some(crate::scheduler::hog::DEFAULT_THRESHOLD),
        }
    }
}

impl Builder {
    /// Defaults: one worker per available core, 256 KiB stacks.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Number of worker threads (at least 1).
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n.max(1));
        self
    }

    /// Default stack size of this runtime's coroutines, in bytes (rounded up
    /// to pages; at least 16 KiB). Stacks are mapped lazily, so only the
    /// pages a coroutine touches cost memory.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes.min(MAX_STACK_SIZE);
        self
    }

    /// Resident (accessible) stacks per worker and stack size before the
    /// frames of suspended coroutines are copied to the heap and their
    /// stacks made inaccessible until they resume (see the crate docs and
    /// [`crate::pin_stack`]). Default: 4,096, or less so that all workers
    /// together use at most a quarter of `vm.max_map_count`.
    pub fn resident_stacks(mut self, n: usize) -> Builder {
        self.resident_stacks = Some(n.max(1));
        self
    }

    /// Prefix of worker thread names; workers are named `PREFIX-N`.
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// Most threads of the blocking pool ([`crate::spawn_blocking`]), at
    /// least 1; default 512, as tokio's. Past that, blocking jobs queue
    /// until a pool thread is free. The pool starts with none and grows on
    /// demand.
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking pool thread waits for a job before it
    /// exits; default 10 s, as tokio's.
    pub fn thread_keep_alive(mut self, d: Duration) -> Builder {
        self.thread_keep_alive = d;
        self
    }

    /// Hog detection: a coroutine that runs longer than `threshold` without
    /// suspending is reported once with `log::warn!`, naming it, its worker
    /// and how long it ran (it stalls every other coroutine of its worker;
    /// move such work to [`crate::spawn_blocking`]). `None` (or a zero
    /// threshold) turns it off.
    /// Default 10 ms. The runtime's monitor thread looks at the workers
    /// every millisecond while they run (the design is in the source's
    /// `coro/src/scheduler/hog.rs`); the workers themselves never read a
    /// clock for it.
    pub fn hog_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.hog_threshold = threshold.filter(|t| !t.is_zero());
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    /// If a worker thread cannot be started.
    pub fn build(self) -> io::Result<Runtime> {
        let workers = self
            .workers
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
        let resident_stacks = self
            .resident_stacks
            .unwrap_or_else(|| default_resident_stacks(workers));
        let config = Config {
            stack_size: round_stack_size(self.stack_size),
            resident_stacks,
            thread_name: self.thread_name,
        };
        crate::overflow::install_handler();
        crate::switch::suspend_margin();
        let fresh: Vec<Worker<_>> = (0..workers).map(|_| Worker::new_fifo()).collect();
        let shared = Arc::new(Shared {
            remotes: (0..workers)
                .map(|_| {
                    Arc::new(Remote {
                        inbox: Injector::new(),
                        runnext: Default::default(),
                        sleeper: Sleeper::default(),
                        poll_due: Default::default(),
                        looks: Default::default(),
                        stuck: Default::default(),
                        cpu_clock: Default::default(),
                        probe: Default::default(),
                    })
                })
                .collect(),
            stealers: fresh.iter().map(Worker::stealer).collect(),
            injector: Injector::new(),
            idle: Idle::new(workers),
            shutdown: AtomicBool::new(false),
            stopped: AtomicUsize::new(0),
            drained: AtomicUsize::new(0),
            monitor: Default::default(),
            blocking: BlockingPool::new(PoolConfig {
                max_threads: self.max_blocking_threads,
                keep_alive: self.thread_keep_alive,
                thread_name: config.thread_name.clone(),
            }),
            config,
            congested: Default::default(),
        });
        let mut threads = Vec::with_capacity(workers);
        for (index, fresh) in fresh.into_iter().enumerate() {
            let worker_shared = Arc::clone(&shared);
            let spawned = thread::Builder::new()
                .name(format!("{}-{index}", shared.config.thread_name))
                .spawn(move || WorkerCtx::new(index, worker_shared, fresh).run_thread());
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    // Workers that did start wait for all in the shutdown
                    // barrier; there will never be all, so leave them.
                    shared.begin_shutdown();
                    return Err(e);
                }
            }
        }
        let monitor = match crate::scheduler::monitor::start(&shared, self.hog_threshold) {
            Ok(m) => m,
            Err(e) => {
                shared.begin_shutdown();
                return Err(e);
            }
        };
        Ok(Runtime {
            shared,
            threads,
            monitor: Some(monitor),
            stopped: false,
        })
    }
}

fn default_resident_stacks(workers: usize) -> usize {
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(65_530);
    (max_map_count / MAP_COUNT_SHARE / 2 / workers.max(1)).clamp(16, DEFAULT_RESIDENT_STACKS)
}

/// The runtime of the calling coroutine, else the default runtime.
pub(crate) fn current_or_default() -> Arc<Shared> {
    crate::scheduler::entered_shared().unwrap_or_else(|| Arc::clone(default().shared()))
}

/// The default runtime, started on first use.
pub(crate) fn default() -> &'static Runtime {
    static DEFAULT: OnceLock<Runtime> = OnceLock::new();
    DEFAULT.get_or_init(|| Runtime::new().expect("coro: cannot start the default runtime"))
}
