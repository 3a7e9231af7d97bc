//! A worker's local run queues.
//!
//! * `fresh`: tasks that have never run, in a `crossbeam-deque` FIFO whose
//!   stealer other workers take half of when they run dry. Only never-started
//!   tasks may be stolen (see `crate::switch`).
//! * `ready`: started tasks of this worker that are runnable (woken, or
//!   yielded), FIFO. Nobody else may run them, so this is a plain `VecDeque`.
//! * `lifo`: the task the running coroutine just woke. It runs next, while
//!   its data is hot in cache (a channel hand-off); after [`LIFO_BUDGET`]
//!   consecutive runs from the slot it goes to the back of `ready` instead, so
//!   two coroutines waking each other cannot starve the rest.
//!
//! Between `fresh` and `ready`, the worker alternates which it looks at first
//! on every tick, so neither new work nor woken work can starve the other.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use crossbeam_deque::Worker;

use crate::task::TaskRef;

/// Consecutive runs from the LIFO slot before it yields to the ready queue.
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

    /// A started task that is runnable again.
    pub(crate) fn push_ready(&self, task: TaskRef) {
        self.ready.borrow_mut().push_back(task);
    }

    /// The next local task. `prefer_fresh` alternates between the queues.
    pub(crate) fn pop(&self, prefer_fresh: bool) -> Option<TaskRef> {
        if let Some(task) = self.lifo.take() {
            if self.lifo_streak.get() < LIFO_BUDGET {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(task);
            }
            self.ready.borrow_mut().push_back(task);
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

    pub(crate) fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.ready.borrow().is_empty() && {
            let lifo = self.lifo.take();
            let empty = lifo.is_none();
            self.lifo.set(lifo);
            empty
        }
    }

    /// Empties every queue (shutdown).
    pub(crate) fn drain(&self) -> Vec<TaskRef> {
        let mut all: Vec<TaskRef> = self.lifo.take().into_iter().collect();
        all.extend(self.ready.borrow_mut().drain(..));
        while let Some(t) = self.fresh.pop() {
            all.push(t);
        }
        all
    }
}
