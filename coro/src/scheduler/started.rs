//! What a worker keeps for each task it has started: the task's switching
//! state ([`CoroState`], `crate::switch`) and the worker's own bookkeeping
//! for it ([`Bookkeeping`]: its place in the live list, the scopes it owns,
//! its timer entry).
//!
//! A [`Started`] is boxed (it must not move: the task slot points at it)
//! and recycled through the worker's pool. The task slot holds the pointer
//! untyped (`TaskRef::started`), since the task layer sits below this one;
//! [`of`] and [`bind`] are the only places that cast it. Like the
//! `CoroState` inside it, a `Started` is touched only on the task's home
//! worker: by the worker while the coroutine is suspended, and by the
//! coroutine itself, through [`with_current`], while it runs.

use std::cell::{Cell, RefCell};
use std::ptr::NonNull;
use std::sync::Arc;

use super::timers::TimerKey;
use crate::switch::CoroState;
use crate::task::group::Group;
use crate::task::TaskRef;

/// A started task's record on its home worker.
#[derive(Default)]
pub(crate) struct Started {
    pub(crate) coro: CoroState,
    pub(crate) book: Bookkeeping,
}

/// The worker's bookkeeping for one started task. Cells: the running
/// coroutine reaches it by shared reference ([`with_current`]).
#[derive(Default)]
pub(crate) struct Bookkeeping {
    /// Position in the worker's list of live tasks.
    pub(crate) live_index: Cell<usize>,
    /// Scopes this coroutine owns and is inside of, innermost last: a
    /// stopping worker unwinds it only after their children.
    pub(crate) scopes: RefCell<Vec<Arc<Group>>>,
    /// The coroutine's entry in its worker's timers, once it has made a
    /// timed wait; released by the worker when the coroutine ends.
    pub(crate) timer: Cell<Option<TimerKey>>,
}

/// The record of `task`, if it has started. Home worker only.
pub(crate) fn of(task: &TaskRef) -> Option<NonNull<Started>> {
    task.started().map(NonNull::cast)
}

/// Points `task` at its record (or at none). Home worker only.
pub(crate) fn bind(task: &TaskRef, started: Option<NonNull<Started>>) {
    task.set_started(started.map(NonNull::cast))
}

/// Runs `f` on the bookkeeping of the running coroutine, if the caller is
/// one. The borrow ends with `f`.
pub(crate) fn with_current<R>(f: impl FnOnce(&Bookkeeping) -> R) -> Option<R> {
    let slot = crate::switch::with_current(CoroState::task)?;
    // SAFETY: the running coroutine's task is referenced by its worker's
    // live list while it runs; the uncounted reference is never dropped.
    let task = std::mem::ManuallyDrop::new(unsafe { TaskRef::from_raw(slot) });
    let started = of(&task).expect("a running task has started");
    // SAFETY: the record lives until the worker finishes the task, after
    // its coroutine returned, so it outlives this call. We are on its home
    // worker (the coroutine runs here), and borrow only the bookkeeping, by
    // shared reference: the worker's `&mut` to the switching state, held
    // across the resume that runs us, is a different field.
    let book = unsafe { &(*started.as_ptr()).book };
    Some(f(book))
}
