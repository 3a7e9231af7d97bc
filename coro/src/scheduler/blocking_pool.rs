//! The runtime's blocking pool: the threads that run `spawn_blocking`'s
//! jobs. It is runtime state (the scheduler's `Shared` owns it), so it
//! lives here; the design, and the public `spawn_blocking`, are in
//! `crate::blocking`.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Shared;
use crate::task::TaskRef;

/// Most pool threads of a runtime unless its builder says otherwise (as
/// tokio's default).
pub(crate) const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;

/// How long an idle pool thread waits for work before it exits (as
/// tokio's default).
pub(crate) const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

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
    pub(crate) fn spawn(&self, rt: &Arc<Shared>, job: TaskRef) {
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
