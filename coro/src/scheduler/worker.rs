//! One worker: its loop, how it starts, runs, finishes and finally unwinds
//! coroutines. The algorithm is described in the [parent module](super).
//!
//! # A worker never unwinds
//!
//! The worker's context owns the stack pool, which maps the stacks of every
//! coroutine suspended on it, and its peers wait for it in the shutdown
//! protocol. Unwinding the worker thread would unmap stacks that other
//! threads may still point into (a coroutine's stack lent to a scoped
//! child) and hang `Runtime::drop`. So user code that the worker runs
//! outside a coroutine (destructors of results and of never-started
//! closures) runs under `catch_unwind` (see `crate::task`), and if anything
//! else ever unwinds a worker, [`AbortOnUnwind`] stops the process with a
//! message instead.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_deque::{Steal, Worker};

use super::queue::LocalQueues;
use super::started::{self, Started};
use super::timers::Timers;
use super::{Remote, Shared, GLOBAL_QUEUE_INTERVAL, TIMER_INTERVAL};
use crate::rand::FastRand;
use crate::stack::StackPool;
use crate::switch::SuspendKind;
use crate::task::{Slot, TaskRef};

/// Operations a coroutine may complete per resume without suspending
/// (`crate::budget`; tokio uses the same figure).
pub(crate) const BUDGET: u32 = 128;
/// Finished coroutines' states kept per worker for reuse.
const CORO_POOL_MAX: usize = 1024;
/// Coroutine ids handed to a worker at once, so ids cost no shared atomic.
const ID_BLOCK: u64 = 1024;
/// How long a stopping worker waits between looks at its peers.
const SHUTDOWN_POLL: Duration = Duration::from_micros(200);

static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// While any other worker runs a coroutine, an idle worker sleeps at most
/// this long at a time, to look for stuck workers (`help_stuck_workers`).
pub(crate) const STUCK_AFTER: Duration = Duration::from_millis(1);

pub(crate) struct WorkerCtx {
    index: usize,
    pub(crate) shared: Arc<Shared>,
    pub(crate) remote: Arc<Remote>,
    pub(crate) queues: LocalQueues,
    pub(crate) timers: RefCell<Timers>,
    stacks: RefCell<StackPool>,
    /// Boxed: a started task points at its record, which must not move.
    #[allow(clippy::vec_box)]
    coro_pool: RefCell<Vec<Box<Started>>>,
    /// Started, unfinished tasks of this worker (the scheduler's reference).
    live: RefCell<Vec<TaskRef>>,
    tick: Cell<u32>,
    /// Operations left to the running coroutine before it must yield
    /// (`crate::budget`).
    budget: Cell<u32>,
    searching: Cell<bool>,
    /// A runnext task of another worker seen by the last search (compared
    /// by address only, never dereferenced).
    runnext_seen: Cell<*mut crate::task::Slot>,
    rng: FastRand,
    ids: Cell<(u64, u64)>,
}

thread_local! {
    static WORKER: Cell<*const WorkerCtx> = const { Cell::new(ptr::null()) };
}

/// Runs `f` on the calling thread's worker, if it is one.
pub(crate) fn with_current<R>(f: impl FnOnce(&WorkerCtx) -> R) -> Option<R> {
    let p = WORKER.try_with(Cell::get).ok()?;
    // SAFETY: `WORKER` points at the context that `run_thread` owns for the
    // whole time it is set; only this thread uses it, through shared
    // references, and all its mutable parts are cells.
    unsafe { p.as_ref() }.map(f)
}

impl WorkerCtx {
    pub(crate) fn new(
        index: usize,
        shared: Arc<Shared>,
        fresh: Worker<crate::task::TaskRef>,
    ) -> Self {
        let remote = Arc::clone(&shared.remotes[index]);
        let budget = shared.config.resident_stacks;
        WorkerCtx {
            index,
            remote,
            queues: LocalQueues::new(fresh),
            timers: RefCell::new(Timers::default()),
            stacks: RefCell::new(StackPool::new(budget, crate::switch::suspend_margin())),
            coro_pool: RefCell::new(Vec::new()),
            live: RefCell::new(Vec::new()),
            tick: Cell::new(0),
            budget: Cell::new(BUDGET),
            searching: Cell::new(false),
            runnext_seen: Cell::new(ptr::null_mut()),
            rng: FastRand::new(index as u64),
            ids: Cell::new((0, 0)),
            shared,
        }
    }

    pub(crate) fn shared_ptr(&self) -> *const Shared {
        Arc::as_ptr(&self.shared)
    }

    /// The worker thread's body.
    pub(crate) fn run_thread(self) {
        self.remote.sleeper.bind_current_thread();
        self.remote.publish_cpu_clock();
        reduce_timer_slack();
        let _altstack = crate::overflow::AltStack::ensure();
        let _abort = AbortOnUnwind;
        WORKER.with(|w| w.set(&self));
        self.run();
        self.shutdown();
        WORKER.with(|w| w.set(ptr::null()));
    }

    fn run(&self) {
        while !self.shared.is_shutdown() {
            let tick = self.tick.get().wrapping_add(1);
            self.tick.set(tick);
            if let Some(task) = self.next_task(tick) {
                self.run_task(task);
            } else if let Some(task) = self.search() {
                self.run_task(task);
            } else {
                self.sleep();
            }
        }
    }

    /// Polls, without blocking, the drivers of the other workers that the
    /// [monitor](super::monitor) found stuck in one coroutine, so that the
    /// events they cannot look at are seen: wake-ups of their own
    /// coroutines go to their inboxes, and coroutines that an event starts
    /// ([`crate::Unstarted`]) start here. Returns whether any other worker
    /// is running a coroutine at all.
    fn help_stuck_workers(&self) -> bool {
        let mut any_running = false;
        for (i, remote) in self.shared.remotes.iter().enumerate() {
            if i == self.index || !remote.probe.is_running() {
                continue;
            }
            any_running = true;
            if remote.stuck.load(Ordering::Relaxed) {
                if let Some(driver) = remote.sleeper.driver() {
                    driver.wait(Some(Duration::ZERO));
                }
            }
        }
        any_running
    }

    fn next_task(&self, tick: u32) -> Option<TaskRef> {
        // Ahead of local work, by ticks and by time: a worker whose
        // coroutines run long between suspensions still lets in I/O
        // events, wake-ups from other threads and spawns from outside
        // within about one such run.
        let by_ticks = tick % GLOBAL_QUEUE_INTERVAL == 0;
        if by_ticks || self.take_poll_due() {
            // A look the monitor asked for is not one of the worker's own:
            // counting it would let the monitor back off from a worker
            // that looks only when asked.
            if by_ticks {
                self.count_look();
            }
            self.poll_driver();
            self.help_stuck_workers();
            self.fire_timers();
            if let Some(t) = self.pull_inbox().or_else(|| self.pull_injector()) {
                return Some(t);
            }
        } else if tick % TIMER_INTERVAL == 0 {
            self.fire_timers();
        }
        if let Some(t) = self.queues.pop(&self.remote.runnext, tick & 1 == 0) {
            return Some(t);
        }
        if self.fire_timers() > 0 {
            if let Some(t) = self.queues.pop(&self.remote.runnext, false) {
                return Some(t);
            }
        }
        self.pull_inbox().or_else(|| self.pull_injector())
    }

    /// Tells the monitor this worker looked at its I/O, inbox and timers
    /// on its own (so it need not be asked to). One relaxed load and
    /// store: the worker is the only writer.
    fn count_look(&self) {
        let looks = &self.remote.looks;
        looks.store(
            looks.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }

    /// Whether the monitor asked for the periodic look since the last one
    /// (it does when this worker has run coroutines for one of its periods,
    /// a `DRIVER_POLL_PERIOD` or a little more, without a look of its own);
    /// clears the request. One relaxed load a tick when it did not.
    fn take_poll_due(&self) -> bool {
        let due = self.remote.poll_due.load(Ordering::Relaxed);
        if due {
            self.remote.poll_due.store(false, Ordering::Relaxed);
        }
        due
    }

    /// Moves everything in the inbox to `ready`; returns the first.
    fn pull_inbox(&self) -> Option<TaskRef> {
        let mut first = None;
        loop {
            match self.remote.inbox.steal() {
                Steal::Success(t) => match first {
                    None => first = Some(t),
                    Some(_) => self.queues.push_ready(t),
                },
                Steal::Empty => return first,
                Steal::Retry => {}
            }
        }
    }

    fn pull_injector(&self) -> Option<TaskRef> {
        loop {
            match self.shared.injector.steal_batch_and_pop(&self.queues.fresh) {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => {}
            }
        }
    }

    fn fire_timers(&self) -> usize {
        let mut timers = self.timers.borrow_mut();
        if timers.is_empty() {
            return 0;
        }
        timers.fire(Instant::now())
    }

    /// Steals half of some other worker's fresh queue, or from the injector.
    fn search(&self) -> Option<TaskRef> {
        if !self.searching.get() {
            if !self.shared.idle.try_start_searching() {
                return None;
            }
            self.searching.set(true);
        }
        let n = self.shared.stealers.len();
        let start = self.rng.below(n);
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            loop {
                match self.shared.stealers[victim]
                    .steal_batch_with_limit_and_pop(&self.queues.fresh, usize::MAX)
                {
                    Steal::Success(t) => return Some(t),
                    Steal::Empty => break,
                    Steal::Retry => {}
                }
            }
        }
        if let Some(t) = self.pull_injector() {
            return Some(t);
        }
        if let Some(t) = self.steal_runnext(start) {
            return Some(t);
        }
        self.searching.set(false);
        self.shared.idle.stop_searching();
        None
    }

    /// Takes another worker's runnext task, but only one that was already
    /// there when this worker last searched: a task just spawned is about
    /// to run on its spawner's worker (as soon as the spawner suspends), and
    /// stealing it would split a spawner from the child it talks to.
    fn steal_runnext(&self, start: usize) -> Option<TaskRef> {
        let n = self.shared.remotes.len();
        let seen = self.runnext_seen.take();
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let runnext = &self.shared.remotes[victim].runnext;
            let current = runnext.peek();
            if current.is_null() {
                continue;
            }
            if current == seen {
                if let Some(t) = runnext.take_if(current) {
                    return Some(t);
                }
            } else if self.runnext_seen.get().is_null() {
                self.runnext_seen.set(current);
            }
        }
        None
    }

    /// Whether anything would give this worker a task right now.
    fn has_work(&self) -> bool {
        if !self.queues.is_empty(&self.remote.runnext)
            || !self.remote.inbox.is_empty()
            || self.shared.is_shutdown()
        {
            return true;
        }
        if let Some(d) = self.timers.borrow_mut().next_deadline() {
            if d <= Instant::now() {
                return true;
            }
        }
        // Stealable work is for us only if nobody searches for it already.
        self.shared.idle.searching() == 0
            && (!self.shared.injector.is_empty()
                || self.shared.stealers.iter().any(|s| !s.is_empty()))
    }

    fn sleep(&self) {
        let idle = &self.shared.idle;
        let driver = self.remote.sleeper.driver();
        // What a stuck worker's events start lands in our queues, which
        // `has_work` looks at below; and while any other worker runs a
        // coroutine, we look again after `STUCK_AFTER` at the latest.
        let others_running = self.help_stuck_workers();
        // Announce the wait before registering as a sleeper: a notifier that
        // takes us off the sleepers list counts us as searching and wakes
        // us, and that wake must not be skipped for want of the
        // announcement, or we would sleep as a phantom searcher that keeps
        // every other worker from being notified.
        self.remote.sleeper.prepare(driver.is_some());
        idle.sleep(self.index);
        if self.has_work() {
            self.remote.sleeper.set_awake();
        } else {
            let mut timeout = self
                .timers
                .borrow_mut()
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if others_running {
                timeout = Some(timeout.map_or(STUCK_AFTER, |t| t.min(STUCK_AFTER)));
            }
            self.count_look();
            match driver {
                Some(driver) => {
                    driver.wait(timeout);
                    self.remote.sleeper.set_awake();
                }
                None => self.remote.sleeper.sleep_on_thread(timeout),
            }
            self.shared.monitor.wake_if_idle();
        }
        if idle.wake(self.index) {
            self.searching.set(true);
        }
    }

    /// Takes one unit of the running coroutine's budget; true when there
    /// was none left (the caller yields, which refills it).
    pub(crate) fn take_budget(&self) -> bool {
        match self.budget.get() {
            // Only a coroutine yields, and not one that is unwinding: a
            // destructor that suspended there could not be resumed
            // (shutdown) or would leave the thread's panic count raised
            // while others run. Asked only once the budget is spent: a
            // unit taken outside a coroutine, or while unwinding, changes
            // nothing but when the next yield comes.
            0 => crate::switch::in_coroutine() && !std::thread::panicking(),
            n => {
                self.budget.set(n - 1);
                false
            }
        }
    }

    /// Lets I/O events in while this worker is busy.
    fn poll_driver(&self) {
        if let Some(driver) = self.remote.sleeper.driver() {
            driver.wait(Some(Duration::ZERO));
        }
    }

    fn run_task(&self, task: TaskRef) {
        if self.searching.replace(false) && self.shared.idle.stop_searching() {
            // The last searcher found work: there may be more, so wake
            // another worker to look.
            self.shared.notify_work();
        }
        let record = match started::of(&task) {
            Some(c) => c,
            None => match self.start(&task) {
                Some(c) => c,
                None => return,
            },
        };
        // SAFETY: a started task's record is touched only by its home
        // worker, which is this thread (only home workers pop started
        // tasks). Only the switching state is borrowed mutably: the
        // coroutine reaches the bookkeeping while it runs (`started`).
        let cs = unsafe { &mut (*record.as_ptr()).coro };
        if StackPool::is_evicted(&cs.image) {
            self.stacks.borrow_mut().make_resident(&mut cs.image);
        }
        task.set_running();
        self.budget.set(BUDGET);
        let name = task.extra().and_then(|e| e.name.as_ref());
        self.remote.probe.begin(task.id(), name);
        let suspended = cs.resume();
        self.remote.probe.end(name.is_some());
        match suspended {
            Some(SuspendKind::Yield) => {
                task.set_yielded();
                self.queues.push_ready(task);
            }
            Some(SuspendKind::Park) => {
                if task.set_parked() {
                    self.queues.push_ready(task);
                }
            }
            None => self.finish(&task, record),
        }
    }

    /// First resume: bind the task to this worker and a stack.
    fn start(&self, task: &TaskRef) -> Option<NonNull<Started>> {
        let mut record = self.coro_pool.borrow_mut().pop().unwrap_or_default();
        let size = task
            .extra()
            .map(|e| e.stack_size)
            .filter(|&s| s != 0)
            .unwrap_or(self.shared.config.stack_size);
        let stack = match self
            .stacks
            .borrow_mut()
            .bind(&mut record.coro.image, task.as_ptr(), size)
        {
            Ok(s) => s,
            Err(e) => {
                log::error!("{e}");
                self.coro_pool.borrow_mut().push(record);
                task.fail_unstarted(e.to_string());
                return None;
            }
        };
        task.set_home(Arc::clone(&self.remote));
        task.set_id(self.next_id());
        {
            let mut live = self.live.borrow_mut();
            record.book.live_index.set(live.len());
            live.push(task.clone());
        }
        record.coro.start(task, stack);
        let ptr = NonNull::from(Box::leak(record));
        started::bind(task, Some(ptr));
        Some(ptr)
    }

    fn next_id(&self) -> u64 {
        let (mut next, mut end) = self.ids.get();
        if next == end {
            next = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        self.ids.set((next + 1, end));
        next
    }

    /// The coroutine returned: recycle its machinery, complete the task.
    fn finish(&self, task: &TaskRef, record: NonNull<Started>) {
        // SAFETY: `start` leaked this box for the task, and the task is done
        // with it: its coroutine returned.
        let mut record = unsafe { Box::from_raw(record.as_ptr()) };
        self.stacks.borrow_mut().release(&mut record.coro.image);
        let index = record.book.live_index.get();
        let ours = {
            let mut live = self.live.borrow_mut();
            let ours = live.swap_remove(index);
            if let Some(moved) = live.get(index) {
                let moved = started::of(moved).expect("live tasks have started");
                // SAFETY: a live task's record, on its home worker; the
                // coroutine is suspended, and the bookkeeping is only
                // borrowed for this one store.
                unsafe { (*moved.as_ptr()).book.live_index.set(index) };
            }
            ours
        };
        debug_assert!(ours == *task);
        started::bind(task, None);
        task.clear_home();
        if let Some(key) = record.book.timer.take() {
            self.timers.borrow_mut().release(key);
        }
        record.coro.clear();
        record.book.scopes.get_mut().clear();
        {
            let mut pool = self.coro_pool.borrow_mut();
            if pool.len() < CORO_POOL_MAX {
                pool.push(record);
            }
        }
        task.complete();
        drop(ours);
    }

    /// Steps 1 to 5 of the shutdown protocol (see the parent module).
    fn shutdown(&self) {
        let shared = &self.shared;
        let workers = shared.remotes.len();
        if self.searching.replace(false) {
            shared.idle.stop_searching();
        }
        wait_for_all(&shared.stopped, workers);
        let mut reached_home = HashSet::new();
        self.take_queued(&mut reached_home);
        shared.cancel_injected();
        wait_for_all(&shared.drained, workers);
        loop {
            // Started tasks that wakers pushed since: their wakers are done
            // with them, so they may be claimed now.
            self.take_queued(&mut reached_home);
            let live: Vec<TaskRef> = self.live.borrow().clone();
            if live.is_empty() {
                break;
            }
            let mut progressed = false;
            for task in live {
                let record = started::of(&task).expect("live tasks have started");
                // SAFETY: a live task's record, on its home worker, while its
                // coroutine is suspended: nothing else borrows it.
                let owns_running_scope = unsafe { &(*record.as_ptr()).book }
                    .scopes
                    .borrow()
                    .iter()
                    .any(|s| s.has_running_children());
                if owns_running_scope {
                    continue;
                }
                // A task a waker scheduled but has not pushed yet is left
                // for a later round: the waker is about to read its `home`,
                // which `finish` clears.
                if !task.claim_for_unwind(reached_home.remove(&task.as_ptr())) {
                    continue;
                }
                // SAFETY: a live task's record on its home worker, its
                // coroutine suspended; the borrow of the bookkeeping just
                // above has ended, and the switching state is borrowed
                // alone, as in `run_task`.
                let cs = unsafe { &mut (*record.as_ptr()).coro };
                if StackPool::is_evicted(&cs.image) {
                    self.stacks.borrow_mut().make_resident(&mut cs.image);
                }
                // Destructors that run during the unwind must not yield.
                self.budget.set(BUDGET);
                cs.force_unwind();
                task.store_cancelled_after_unwind(true);
                self.finish(&task, record);
                progressed = true;
            }
            if !progressed {
                std::thread::sleep(SHUTDOWN_POLL);
            }
        }
        // Every task of this worker completed, so no waker can push one
        // here any more: the queues are empty but for completed tasks.
        drop(self.queues.drain(&self.remote.runnext));
        drop(self.remote.take_inbox());
        self.timers.borrow_mut().clear();
    }

    /// Empties this worker's queues and inbox during the shutdown: cancels
    /// the never-started tasks, and notes the started ones in
    /// `reached_home` (whoever scheduled them is done with them).
    fn take_queued(&self, reached_home: &mut HashSet<*const Slot>) {
        let queued = self
            .queues
            .drain(&self.remote.runnext)
            .into_iter()
            .chain(self.remote.take_inbox());
        for task in queued {
            // On the home worker (or before any), so `started` may be read.
            if task.started().is_some() {
                reached_home.insert(task.as_ptr());
            } else if !task.is_complete() {
                task.cancel_unstarted();
            }
        }
    }
}

/// Aborts the process if it is dropped during an unwind of the worker
/// thread (see the module docs).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let thread = std::thread::current();
            eprintln!(
                "coro: worker thread '{}' is unwinding (a panic escaped the runtime); a worker \
                 must never unwind while coroutines are suspended on it (their stacks would \
                 be unmapped); aborting",
                thread.name().unwrap_or("<unnamed>")
            );
            std::process::abort();
        }
    }
}

/// Timer slack of worker threads, in nanoseconds: Linux lets a timed wait
/// oversleep by 50 µs by default, which would make a 1 µs `coro::sleep`
/// take 50 µs or more.
const WORKER_TIMER_SLACK_NS: libc::c_ulong = 1_000;

fn reduce_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK only changes the calling thread's slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, WORKER_TIMER_SLACK_NS, 0, 0, 0) };
}

fn wait_for_all(counter: &AtomicUsize, workers: usize) {
    counter.fetch_add(1, Ordering::AcqRel);
    while counter.load(Ordering::Acquire) < workers {
        std::thread::sleep(SHUTDOWN_POLL);
    }
}
