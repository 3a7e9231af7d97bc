//! A worker's local run queues.
//!
//! * `fresh`: tasks that have never run, in a `crossbeam-deque` FIFO whose
//!   stealer other workers take half of when they run dry. Only never-started
//!   tasks may be stolen (see `crate::switch`).
//! * `ready`: started tasks of this worker that are runnable (woken, or
//!   yielded), FIFO. Nobody else may run them, so this is a plain `VecDeque`.
//! * `lifo`: the task the running coroutine just woke. It runs next, while
//!   its data is hot in cache (a channel hand-off).
//! * `runnext` (in [`Remote`], so that searchers can take it as a last
//!   resort): the task the running coroutine just spawned, as Go's
//!   `runnext`. It runs as soon as the spawner suspends, on the same worker,
//!   so a spawner and its child that talk to each other stay together; a
//!   spawn that displaces an earlier one pushes that one to `fresh`, where
//!   other workers steal it.
//!
//! After [`LIFO_BUDGET`] consecutive runs from the two slots, their tasks
//! go to the back of the queues instead, so two coroutines waking (or
//! spawning) each other cannot starve the rest.
//!
//! Between `fresh` and `ready`, the worker alternates which it looks at first
//! on every tick, so neither new work nor woken work can starve the other.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crossbeam_deque::Worker;

use crate::task::{Slot, TaskRef};

/// Consecutive runs from the LIFO and runnext slots before their tasks go
/// to the back of the queues. Why 3 (tokio's `MAX_LIFO_POLLS_PER_TICK`
/// too): a coroutine that wakes another and waits for its answer (a
/// request and its reply, a ping-pong over channels) stays hot in cache
/// for a whole exchange, while a task in the ready queue waits at most
/// three extra runs behind such a pair.
const LIFO_BUDGET: u32 = 3;

pub(crate) struct LocalQueues {
    pub(crate) fresh: Worker<TaskRef>,
    ready: RefCell<VecDeque<TaskRef>>,
    lifo: Cell<Option<TaskRef>>,
    lifo_streak: Cell<u32>,
}

impl LocalQueues {
    pub(crate) fn new(fresh: Worker<TaskRef>) -> LocalQueues {
        LocalQueues {
            fresh,
            ready: RefCell::new(VecDeque::new()),
            lifo: Cell::new(None),
            lifo_streak: Cell::new(0),
        }
    }

    /// A task woken by the running coroutine: it runs next.
    pub(crate) fn push_lifo(&self, task: TaskRef) {
        if let Some(prev) = self.lifo.replace(Some(task)) {
            self.ready.borrow_mut().push_back(prev);
        }
    }

    /// A task just spawned by the running coroutine: it runs next. Returns
    /// true if an earlier one was moved to the stealable queue.
    pub(crate) fn push_runnext(&self, runnext: &RunNext, task: TaskRef) -> bool {
        match runnext.swap(Some(task)) {
            Some(prev) => {
                self.fresh.push(prev);
                true
            }
            None => false,
        }
    }

    /// A started task that is runnable again.
    pub(crate) fn push_ready(&self, task: TaskRef) {
        self.ready.borrow_mut().push_back(task);
    }

    /// The next local task. `prefer_fresh` alternates between the queues.
    pub(crate) fn pop(&self, runnext: &RunNext, prefer_fresh: bool) -> Option<TaskRef> {
        let within_budget = self.lifo_streak.get() < LIFO_BUDGET;
        if let Some(task) = self.lifo.take() {
            if within_budget {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(task);
            }
            self.ready.borrow_mut().push_back(task);
        }
        if let Some(task) = runnext.take() {
            if within_budget {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(task);
            }
            self.fresh.push(task);
        }
        self.lifo_streak.set(0);
        if prefer_fresh {
            self.fresh
                .pop()
                .or_else(|| self.ready.borrow_mut().pop_front())
        } else {
            let next = self.ready.borrow_mut().pop_front();
            next.or_else(|| self.fresh.pop())
        }
    }

    pub(crate) fn is_empty(&self, runnext: &RunNext) -> bool {
        runnext.is_empty() && self.fresh.is_empty() && self.ready.borrow().is_empty() && {
            let lifo = self.lifo.take();
            let empty = lifo.is_none();
            self.lifo.set(lifo);
            empty
        }
    }

    /// Empties every queue (shutdown).
    pub(crate) fn drain(&self, runnext: &RunNext) -> Vec<TaskRef> {
        let mut all: Vec<TaskRef> = self.lifo.take().into_iter().chain(runnext.take()).collect();
        all.extend(self.ready.borrow_mut().drain(..));
        while let Some(t) = self.fresh.pop() {
            all.push(t);
        }
        all
    }
}

/// A slot for one never-started task, which its worker takes first and other
/// workers may steal.
#[derive(Debug, Default)]
pub(crate) struct RunNext {
    slot: AtomicPtr<Slot>,
}

impl RunNext {
    /// Puts `task` in the slot; returns what it displaced.
    pub(crate) fn swap(&self, task: Option<TaskRef>) -> Option<TaskRef> {
        let new = task.map_or(ptr::null_mut(), TaskRef::into_raw);
        let old = self.slot.swap(new, Ordering::AcqRel);
        // SAFETY: non-null pointers in the slot came from `into_raw`, and the
        // swap hands each to exactly one taker.
        (!old.is_null()).then(|| unsafe { TaskRef::from_raw_owned(old) })
    }

    pub(crate) fn take(&self) -> Option<TaskRef> {
        if self.is_empty() {
            return None;
        }
        self.swap(None)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slot.load(Ordering::Acquire).is_null()
    }

    /// The task in the slot, by address only: not to be dereferenced.
    pub(crate) fn peek(&self) -> *mut Slot {
        self.slot.load(Ordering::Acquire)
    }

    /// Takes the task if it is still `expected`.
    pub(crate) fn take_if(&self, expected: *mut Slot) -> Option<TaskRef> {
        self.slot
            .compare_exchange(
                expected,
                ptr::null_mut(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()
            // SAFETY: as in `swap`.
            .map(|p| unsafe { TaskRef::from_raw_owned(p) })
    }
}

impl Drop for RunNext {
    fn drop(&mut self) {
        drop(self.take());
    }
}
