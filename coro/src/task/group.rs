//! A group of tasks that one owner waits for: the children of a
//! `coro::scope`, as the task layer sees them.
//!
//! The scope adds each child before it spawns it ([`Group::add`]); a
//! child's completion ([`TaskRef::complete`]) counts it out and, when it
//! was the last, wakes the waiter the owner registered. The owner's side
//! of the wait (registering a waiter and parking) is `crate::scope`'s,
//! above the scheduler; here is only the state, so that a completing task
//! tells its group without calling up into the scope, and a stopping
//! worker can ask whether a coroutine still has running children.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::{forget_payload, TaskRef, Waiter};

/// The children of one scope.
#[derive(Debug, Default)]
pub(crate) struct Group {
    running: AtomicUsize,
    waiter: Mutex<Option<Waiter>>,
    children: Mutex<Vec<TaskRef>>,
}

impl Group {
    /// Counts in a child about to be spawned; `child` is the group's own
    /// reference, for [`drop_unclaimed_outputs`](Self::drop_unclaimed_outputs).
    pub(crate) fn add(&self, child: TaskRef) {
        self.running.fetch_add(1, Ordering::AcqRel);
        self.children.lock().push(child);
    }

    /// Told by a child's worker when the child completes.
    pub(crate) fn child_completed(&self) {
        if self.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(w) = self.waiter.lock().take() {
                w.wake();
            }
        }
    }

    pub(crate) fn has_running_children(&self) -> bool {
        self.running.load(Ordering::Acquire) != 0
    }

    /// Stores `waiter` to be woken by the last child's completion, unless
    /// no child is running: then returns false and stores nothing. The
    /// check and the store are under one lock, which the last completion
    /// takes after its count reached zero, so the wake is not lost.
    pub(crate) fn wait_unless_done(&self, waiter: Waiter) -> bool {
        let mut slot = self.waiter.lock();
        if !self.has_running_children() {
            return false;
        }
        *slot = Some(waiter);
        true
    }

    /// Drops every output no handle took, every one even if a `Drop`
    /// panics: a result left in its slot would be dropped later by whoever
    /// holds the last task reference (an `Unparker` kept anywhere), after
    /// the data it borrows is gone. Returns whether an output was a panic,
    /// and the first panic of an output's `Drop`, for the caller to resume
    /// once the scope is done.
    pub(crate) fn drop_unclaimed_outputs(&self) -> (bool, Option<Box<dyn Any + Send>>) {
        let children = std::mem::take(&mut *self.children.lock());
        let mut panicked = false;
        let mut drop_panic = None;
        for child in children {
            if child.claim_output() {
                panicked |= child.output_is_panic();
                if let Some(p) = child.drop_claimed_output() {
                    match drop_panic {
                        None => drop_panic = Some(p),
                        Some(_) => forget_payload(p),
                    }
                }
            }
        }
        (panicked, drop_panic)
    }
}
