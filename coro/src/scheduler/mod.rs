//! The work-stealing scheduler.
//!
//! # Design
//!
//! One OS thread per worker. Each worker owns ([`queue`]):
//!
//! * a `crossbeam-deque` of *fresh* tasks (spawned, never run) that other
//!   workers may steal from (Chase and Lev, "Dynamic Circular Work-Stealing
//!   Deque", SPAA 2005);
//! * a FIFO of *ready* started tasks and a LIFO slot, which only it runs,
//!   and a *runnext* slot for the task it spawned last;
//! * an *inbox* ([`Remote`]) where other threads put its started tasks when
//!   they wake them, and fresh tasks spawned onto this worker by index
//!   (`coro::Builder::worker`);
//! * its timers and its stack pool.
//!
//! A shared *injector* takes spawns from threads that are not workers.
//!
//! Started tasks never migrate (the soundness argument is in
//! [`crate::switch`]); balancing happens when tasks are spawned, which for
//! the workloads we target (a coroutine per connection, a coroutine per
//! request, fan-out of jobs) is where the imbalance is.
//!
//! # The worker loop ([`worker`])
//!
//! Each *tick* runs one task until it suspends or returns. Looking for the
//! next task:
//!
//! 1. every [`GLOBAL_QUEUE_INTERVAL`] ticks, and whenever the monitor
//!    found it running for a [`DRIVER_POLL_PERIOD`] or more without a look
//!    of its own (a wait, or one of these by ticks), the worker
//!    polls its I/O driver without blocking, fires its due timers, and
//!    takes from the inbox and the injector first, so a worker busy with
//!    local work, or with coroutines that run for milliseconds between
//!    suspensions, cannot starve them;
//! 2. every [`TIMER_INTERVAL`] ticks, due timers fire;
//! 3. the LIFO and runnext slots (budgeted), then the fresh and ready
//!    queues, alternating;
//! 4. the inbox, then the injector;
//! 5. *searching*: steal half of another worker's fresh queue, visiting
//!    victims from a random start, then the injector, then (last resort)
//!    another worker's runnext task; at most half the workers search at
//!    once ([`idle`]);
//! 6. nothing anywhere: wait until woken or the next timer is due
//!    ([`sleeper`]), in the worker's own I/O [driver](crate::driver) if a
//!    coroutine on it installed one (one epoll instance per worker, see
//!    `coro-net`), else on its thread.
//!
//! # Parking, timers and I/O waits together
//!
//! A coroutine that waits (a channel, a lock, a sleep, a socket) parks: its
//! task goes to the waiter it registered with (a wait list, its timer
//! entry, a socket's `IoState`), and nothing of it is in any queue. What
//! wakes it pushes the task onto its home worker: the LIFO slot or `ready`
//! when the waker runs on that worker, the inbox plus a wake of the worker
//! otherwise. The three sources reach a worker by three paths that never
//! cross:
//!
//! * timers are per worker, and fire on it (step 1, 2, and before it
//!   waits: the next deadline bounds the wait);
//! * I/O events come from the worker's own driver, where the coroutines of
//!   that worker registered their sockets, so they are found by the worker
//!   that runs their coroutines, with no other thread involved;
//! * wake-ups from other threads go through the inbox; the worker's wake
//!   (`Sleeper::wake`) ends its sleep on the thread, or in the driver
//!   through the driver's `wake`.
//!
//! # Stuck workers
//!
//! A worker that runs one coroutine for a long time cannot poll its
//! reactor. Its started coroutines cannot move, but events for sockets
//! that wait without a coroutine ([`crate::Unstarted`]) need not wait for
//! it: the [`monitor`] marks a worker stuck when it finds it in the same
//! run as a period before, and the other workers poll a stuck worker's
//! driver at their periodic look and before they sleep (and sleep at most
//! [`worker::STUCK_AFTER`] while any worker runs a coroutine); the
//! coroutines those events start run on the worker that polled, and
//! wake-ups of the stuck worker's own coroutines go to its inbox, as from
//! any thread. A run that uses most of a millisecond of CPU time (wall
//! time is not enough: a preempted thread has not run long) makes the
//! runtime *congested* for the next second ([`runtime_is_congested`]),
//! which is what coro-http's connections ask before they wait for their
//! next request without a coroutine.
//!
//! # Waking
//!
//! A woken task goes to its home worker: into the LIFO slot when the waker
//! is a coroutine on that worker, into `ready` when it is the worker itself
//! (a timer), into the inbox otherwise, followed by a wake of that worker
//! if it sleeps. A spawn from a coroutine goes to its worker's runnext slot,
//! pushing the task there before to the fresh queue, and wakes a sleeping
//! worker to come and steal, if nobody is searching already. A spawn from
//! another thread goes to the injector.
//!
//! # Shutdown
//!
//! Dropping the runtime sets `shutdown` and wakes every worker. Each
//! worker then, in order:
//!
//! 1. stops running tasks and waits until every worker has stopped;
//! 2. cancels the never-started tasks in its queues (their closures are
//!    dropped, joiners get `JoinError::is_cancelled`), and drains the
//!    injector likewise; spawns from now on are cancelled on the spot;
//! 3. waits until every worker has done step 2;
//! 4. unwinds each of its suspended coroutines on its own thread, so their
//!    destructors run where their thread-locals live. A coroutine that owns
//!    a scope whose children are still alive is unwound only after them
//!    (the children borrow its stack). Nor is one taken while a waker may
//!    still be on its way to it: a waker on another thread that moved the
//!    task from `PARKED` to `SCHEDULED` goes on to read the task's `home`
//!    and push it there, and the unwind ends by clearing `home`. So the
//!    worker takes a task from `PARKED` itself, in one compare-and-swap
//!    that shuts later wakers out, or from `SCHEDULED` once it has found
//!    the task in its own queues; a task in between waits for a later
//!    round (`TaskRef::claim_for_unwind`, and its loom model);
//! 5. drops what is left in its queues and exits.

pub(crate) mod blocking_pool;
pub mod driver;
pub(crate) mod hog;
pub(crate) mod idle;
pub(crate) mod monitor;
pub(crate) mod queue;
pub(crate) mod sleep;
pub(crate) mod sleeper;
pub(crate) mod started;
pub(crate) mod timers;
pub(crate) mod worker;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_deque::{Injector, Stealer};

use crate::task::{Schedule, TaskRef};
use idle::Idle;
use sleeper::Sleeper;
use timers::Timers;

/// Ticks between two looks at the I/O driver, the inbox and the injector
/// ahead of local work. Why 61: the look costs an `epoll_wait` and two
/// steals, so it is rare (under 2% of ticks) yet bounds how many local runs
/// an outside wake-up or spawn waits for; and it is prime, Go's choice for
/// `schedtick % 61`, so it does not fall into step with the other periodic
/// choices of the loop ([`TIMER_INTERVAL`], the fresh/ready alternation on
/// every other tick) or with a workload's own period, which would starve
/// the same queue at every look.
pub(crate) const GLOBAL_QUEUE_INTERVAL: u32 = 61;
/// Ticks between two checks of the timers while there is local work. A
/// check reads the clock and the wheel's next deadline, cheap but not free
/// on every tick; with 16, a timer that comes due while the worker is busy
/// fires at most 16 runs late (and a power of two makes the `%` a mask).
pub(crate) const TIMER_INTERVAL: u32 = 16;
/// About the longest a worker with local work goes without polling its I/O
/// driver, looking at its inbox and the injector, and firing its timers,
/// however few ticks that is: a worker whose coroutines compute for
/// milliseconds between yields still sees I/O after about one of them.
/// The [`monitor`] keeps this time, so the worker reads no clock for it;
/// a poll that finds nothing costs one `epoll_wait`. A worker that was
/// looking on its own is asked up to the monitor's calm period late (see
/// `monitor`) when it turns to long runs.
pub(crate) const DRIVER_POLL_PERIOD: std::time::Duration = std::time::Duration::from_millis(1);

/// Settings a runtime is built with.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) stack_size: usize,
    pub(crate) resident_stacks: usize,
    pub(crate) thread_name: String,
}

/// What other threads may reach of one worker.
#[derive(Debug, Default)]
pub(crate) struct Remote {
    /// Started tasks of this worker, woken by other threads.
    pub(crate) inbox: Injector<TaskRef>,
    /// The task its worker runs next; see `queue`.
    pub(crate) runnext: queue::RunNext,
    pub(crate) sleeper: Sleeper,
    /// Set by the monitor while the worker runs coroutines, unless it was
    /// running at the monitor's last look too and has looked at its I/O on
    /// its own since (see `looks`); the worker clears it at its periodic
    /// look.
    pub(crate) poll_due: AtomicBool,
    /// How many times the worker looked at its I/O driver, inbox and
    /// timers on its own: its looks by ticks and its waits, not the looks
    /// the monitor asked for. Written by the worker
    /// only; the monitor compares it between two looks of its own.
    pub(crate) looks: AtomicU32,
    /// Set by the monitor while the worker has been running one coroutine
    /// for a whole monitor period or more: the others poll its driver.
    pub(crate) stuck: AtomicBool,
    /// The worker thread's CPU-time clock, for the monitor.
    pub(crate) cpu_clock: std::sync::OnceLock<libc::clockid_t>,
    /// What the hog monitor reads of this worker ([`hog`]).
    pub(crate) probe: hog::Probe,
}

impl Remote {
    /// Called once by the worker thread: publishes its CPU-time clock.
    pub(crate) fn publish_cpu_clock(&self) {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `pthread_self` is the calling thread, alive; `clock` is a
        // valid place for the id.
        if unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0 {
            let _ = self.cpu_clock.set(clock);
        }
    }

    /// Everything in the inbox.
    pub(crate) fn take_inbox(&self) -> Vec<TaskRef> {
        let mut all = Vec::new();
        loop {
            match self.inbox.steal() {
                crossbeam_deque::Steal::Success(t) => all.push(t),
                crossbeam_deque::Steal::Empty => return all,
                crossbeam_deque::Steal::Retry => {}
            }
        }
    }
}

/// State shared by the workers of one runtime.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) remotes: Box<[Arc<Remote>]>,
    pub(crate) stealers: Box<[Stealer<TaskRef>]>,
    pub(crate) injector: Injector<TaskRef>,
    pub(crate) idle: Idle,
    pub(crate) shutdown: AtomicBool,
    /// Workers past each step of the shutdown protocol.
    pub(crate) stopped: AtomicUsize,
    pub(crate) drained: AtomicUsize,
    pub(crate) config: Config,
    /// Whether the runtime counts as congested (`runtime_is_congested`):
    /// kept by the monitor, read with one relaxed load.
    pub(crate) congested: AtomicBool,
    /// The runtime's blocking pool (`crate::blocking`).
    pub(crate) blocking: blocking_pool::BlockingPool,
    /// How a worker that leaves a wait wakes the monitor from its idle
    /// period.
    pub(crate) monitor: monitor::IdleWake,
}

impl Shared {
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// Queues a never-started task on this runtime.
    pub(crate) fn spawn(self: &Arc<Self>, task: TaskRef) {
        if self.is_shutdown() {
            task.cancel_unstarted();
            return;
        }
        let mut task = Some(task);
        let mut notify = true;
        worker::with_current(|w| {
            if std::ptr::eq(w.shared_ptr(), Arc::as_ptr(self)) {
                // The new task runs next on this worker. Only an earlier one
                // it displaces becomes stealable, and only a push onto an
                // empty queue needs a wake-up: whoever was told about the
                // first task is awake, and a worker about to sleep sees the
                // queue non-empty when it looks once more.
                let was_empty = w.queues.fresh.is_empty();
                let displaced = w
                    .queues
                    .push_runnext(&w.remote.runnext, task.take().expect("task is here"));
                notify = displaced && was_empty;
            }
        });
        if let Some(task) = task {
            self.injector.push(task);
            if self.is_shutdown() {
                // The workers may have drained the injector already.
                self.cancel_injected();
            }
        }
        if notify {
            self.notify_work();
        }
    }

    /// Queues a never-started task on worker `worker` (modulo the number of
    /// workers), through its inbox: it starts there, unstolen.
    pub(crate) fn spawn_to(&self, worker: usize, task: TaskRef) {
        if self.is_shutdown() {
            task.cancel_unstarted();
            return;
        }
        // No shutdown race: a spawn from a coroutine happens before its
        // worker stops (step 1 of the shutdown), which every worker waits
        // for before it drains its inbox (step 2); any later spawn sees the
        // flag above. Plain threads cannot reach a runtime being dropped.
        let remote = &self.remotes[worker % self.remotes.len()];
        remote.inbox.push(task);
        remote.sleeper.wake();
    }

    /// Wakes a sleeping worker to steal, if nobody is searching.
    pub(crate) fn notify_work(&self) {
        if let Some(w) = self.idle.worker_to_notify() {
            self.remotes[w].sleeper.wake();
        }
    }

    /// Cancels every task in the injector (shutdown).
    pub(crate) fn cancel_injected(&self) {
        loop {
            match self.injector.steal() {
                crossbeam_deque::Steal::Success(t) => t.cancel_unstarted(),
                crossbeam_deque::Steal::Empty => break,
                crossbeam_deque::Steal::Retry => {}
            }
        }
    }

    /// Starts the shutdown protocol (see the module docs).
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        for r in self.remotes.iter() {
            r.sleeper.force_wake();
        }
    }
}

/// The scheduler's hook into the task layer: a woken task goes to its home
/// worker (see the module docs, "Waking").
impl Schedule for crate::task::Scheduler {
    type Home = Remote;

    fn schedule(task: TaskRef) {
        let mut task = Some(task);
        worker::with_current(|w| {
            let t = task.take().expect("task is here");
            let home = t.home().expect("a woken task has started");
            if !Arc::ptr_eq(&w.remote, home) {
                task = Some(t);
            } else if crate::switch::in_coroutine() {
                w.queues.push_lifo(t);
            } else {
                w.queues.push_ready(t);
            }
        });
        if let Some(task) = task {
            // Keep the worker's handle alive past the push: once in the
            // inbox, the task (and its reference to `home`) may be gone at
            // any moment.
            let home = Arc::clone(task.home().expect("a woken task has started"));
            home.inbox.push(task);
            home.sleeper.wake();
        }
    }

    fn is_current(home: &Arc<Remote>) -> bool {
        worker::with_current(|w| Arc::ptr_eq(&w.remote, home)).unwrap_or(false)
    }
}

/// The task of the running coroutine, if the caller is one.
pub(crate) fn current_task() -> Option<TaskRef> {
    with_current_task(TaskRef::clone)
}

/// Whether the calling coroutine's runtime is congested: one of its
/// workers ran a coroutine for a millisecond or more without a suspension,
/// now or within the last second. False outside a coroutine.
///
/// A connection that waits for its next request can then wait without a
/// coroutine ([`crate::Builder::unstarted`]), so that its next request is
/// served by whichever worker sees it first, rather than wait for the one
/// it last ran on, which may be the next to run long. The whole runtime
/// counts, not the caller's worker, because the long request may come on
/// any connection, to any worker.
pub fn runtime_is_congested() -> bool {
    in_coroutine()
        && worker::with_current(|w| w.shared.congested.load(Ordering::Relaxed)).unwrap_or(false)
}

/// Runs `f` on the task of the running coroutine, if the caller is one,
/// without counting a reference.
pub(crate) fn with_current_task<R>(f: impl FnOnce(&TaskRef) -> R) -> Option<R> {
    let slot = crate::switch::with_current(crate::switch::CoroState::task)?;
    // SAFETY: the running coroutine's task is referenced by its worker's
    // live list for as long as it runs, which covers this call; the
    // uncounted reference is never dropped.
    let task = std::mem::ManuallyDrop::new(unsafe { TaskRef::from_raw(slot) });
    Some(f(&task))
}

/// Whether the caller runs on a coroutine.
pub(crate) fn in_coroutine() -> bool {
    crate::switch::in_coroutine()
}

/// The runtime of the calling worker thread, if it is one.
pub(crate) fn current_shared() -> Option<Arc<Shared>> {
    worker::with_current(|w| w.shared.clone())
}

/// The runtime the calling thread belongs to: its worker's, or the pool's
/// of a blocking pool thread.
pub(crate) fn entered_shared() -> Option<Arc<Shared>> {
    current_shared().or_else(blocking_pool::current_shared)
}

/// Runs `f` on the calling coroutine's worker timers. Coroutines only.
pub(crate) fn with_timers<R>(f: impl FnOnce(&mut Timers) -> R) -> R {
    worker::with_current(|w| f(&mut w.timers.borrow_mut())).expect("timers outside a worker")
}
