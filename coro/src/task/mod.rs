//! Task slots: what a spawned coroutine is, as seen by everyone but its
//! stack.
//!
//! A [`Slot`] comes from the [slab](slab) and is shared by reference count
//! ([`TaskRef`]). It holds the state word ([`state`]), the closure before
//! the first resume and the output after completion (type-erased through a
//! [`VTable`], inline when small), the join waiter, and the pointer to the
//! scheduler's record of the task once it has started (untyped here: that
//! record, `scheduler::started`, belongs to a layer above this one).
//!
//! # Where each part lives
//!
//! * this file: the [`Slot`] and its fields' accessors, the reference
//!   count ([`TaskRef`]'s `Clone` and `Drop`, and `release`, which recycles
//!   a slot whose last reference went), the state transitions of a run
//!   (through [`state`]), and the [`Schedule`] hook;
//! * [`state`]: the state word, one doc line per bit;
//! * [`payload`]: the type-erased closure and output ([`Outcome`]), their
//!   vtable, and how the user's destructors run (`drop_user`);
//! * [`join`]: the join-waiter protocol (`join_waiter` and the
//!   `JOIN_WAITER` bit), and completion, which wakes the joiner;
//! * [`waiter`]: the [`Waiter`] a blocking primitive keeps;
//! * [`group`]: a scope's children; [`slab`]: where slots live.
//!
//! # Who may touch which field
//!
//! | field         | written by                               | read by |
//! |---------------|------------------------------------------|---------|
//! | `state`       | atomically, by anyone (see [`state`])    | anyone |
//! | `refs`        | atomically, by holders of a `TaskRef`    | anyone |
//! | `vtable`, `extra` | the spawner, before the task is published | anyone |
//! | `payload`     | the spawner (closure); the coroutine (output); the one that sets `OUTPUT_TAKEN` | as written |
//! | `home`        | the home worker, before the first resume | wakers (they hold a waiter the task made after that) |
//! | `started`     | the home worker only                     | the home worker only |
//! | `id`          | the home worker, before the first resume | the coroutine itself, its worker, the fault handler on its thread |
//! | `join_waiter` | the join handle owner while `JOIN_WAITER` is clear; the completer once it set `COMPLETE` with `JOIN_WAITER` set | as written |
//!
//! `vtable` and `payload` are read and written in [`payload`] only, and
//! `join_waiter` in [`join`] only, except where a slot is made
//! (`Slot::vacant`) and where `release` resets all three once the last
//! reference is gone (then nobody else can reach them).
//!
//! `started` is the one field that reaches `!Send` data (the suspended stack):
//! that is why it is touched on the home worker only. See
//! [`crate::switch`] for the argument.

pub(crate) mod group;
mod join;
mod payload;
pub(crate) mod slab;
pub(crate) mod state;
mod waiter;

use std::cell::{Cell, UnsafeCell};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::Arc;

use payload::{after_user_drop, Payload, VTable, VACANT};
pub(crate) use payload::{forget_payload, Outcome};
use state::*;
pub(crate) use waiter::Waiter;

/// Optional per-task data that most spawns don't have.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) name: Option<Arc<str>>,
    /// Stack size asked for with `Builder::stack_size`; 0 for the default.
    pub(crate) stack_size: usize,
    /// The scope this task was spawned in, told when the task completes.
    pub(crate) scope: Option<Arc<group::Group>>,
    /// The setting the overflow report names instead of
    /// `coro::Builder::stack_size` (`Builder::overflow_hint`).
    pub(crate) overflow_hint: Option<&'static str>,
}

/// A task slot. See the module docs for the access rules.
pub(crate) struct Slot {
    state: State,
    refs: AtomicU32,
    vtable: Cell<&'static VTable>,
    home: UnsafeCell<Option<Arc<Home>>>,
    /// The scheduler's record of the started task (`scheduler::started`).
    started: Cell<Option<NonNull<()>>>,
    /// The coroutine's id (`coro::current().id()`), 0 until it starts.
    id: Cell<u64>,
    extra: UnsafeCell<Option<Box<Extra>>>,
    join_waiter: UnsafeCell<Option<Waiter>>,
    payload: UnsafeCell<Payload>,
}

impl Slot {
    pub(crate) fn vacant() -> Slot {
        Slot {
            state: State::new(0),
            refs: AtomicU32::new(0),
            vtable: Cell::new(&VACANT),
            home: UnsafeCell::new(None),
            started: Cell::new(None),
            id: Cell::new(0),
            extra: UnsafeCell::new(None),
            join_waiter: UnsafeCell::new(None),
            payload: UnsafeCell::new(payload::EMPTY),
        }
    }
}

/// The scheduler, as this layer sees it: where a woken task goes, and what
/// a started task is bound to (its *home*, stored in the slot). This layer
/// declares the hook and calls it; its one implementation is the
/// scheduler's (`impl Schedule for task::Scheduler` in `crate::scheduler`),
/// as async-task's `Schedule` and tokio's `task::Schedule` are the
/// runtime's. It is bound statically, not through a `dyn` pointer in every
/// slot: a wake is the hottest path of the crate, and a virtual call and an
/// `Arc<dyn _>` per wake cost about 3% of a channel round trip.
pub(crate) trait Schedule {
    /// The home worker's handle, stored with each started task.
    type Home: Send + Sync + 'static;
    /// Queues `task`, which the caller just moved from `PARKED` to
    /// `SCHEDULED`, on its home.
    fn schedule(task: TaskRef);
    /// Whether the caller runs on `home`'s worker.
    fn is_current(home: &Arc<Self::Home>) -> bool;
}

/// The scheduler's side of [`Schedule`]: its `impl` is in `crate::scheduler`.
#[derive(Debug)]
pub(crate) struct Scheduler;

/// What a started task is bound to.
pub(crate) type Home = <Scheduler as Schedule>::Home;

/// A counted reference to a task slot.
pub(crate) struct TaskRef(NonNull<Slot>);

// SAFETY: every field of `Slot` is either atomic, written only before the
// task is published (`vtable`, `extra`, the closure), handed over by the
// state protocol (`payload`, `home`, `join_waiter`), or touched only on the
// task's home worker (`started`, see `crate::switch`). The closure and
// output are `Send` (spawn requires it), so the thread that finally drops
// them may be any thread.
unsafe impl Send for TaskRef {}
// SAFETY: a shared `&TaskRef` reaches the slot only through `slot()` and
// the methods here, and each field bears sharing: the atomics are atomic,
// `vtable` and `extra` are not written after the task is published, the
// state protocol hands `payload`, `home` and `join_waiter` to one thread at
// a time, and `started` is touched on the home worker only.
unsafe impl Sync for TaskRef {}

impl Clone for TaskRef {
    #[inline]
    fn clone(&self) -> Self {
        self.slot().refs.fetch_add(1, Ordering::Relaxed);
        TaskRef(self.0)
    }
}

impl Drop for TaskRef {
    #[inline]
    fn drop(&mut self) {
        if self.slot().refs.fetch_sub(1, Ordering::Release) == 1 {
            fence(Ordering::Acquire);
            self.release();
        }
    }
}

impl PartialEq for TaskRef {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl std::fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TaskRef").field(&self.0).finish()
    }
}

impl TaskRef {
    /// Allocates a task running `f`. Returns two references: one for the
    /// scheduler, one for the join handle.
    ///
    /// # Safety
    /// Whatever `F` and `T` borrow must outlive the task's use of them: they
    /// are `'static`, or the caller waits for completion and disposes of
    /// the output before the borrow ends (`scope`).
    pub(crate) unsafe fn new<F, T>(f: F, extra: Option<Box<Extra>>) -> (TaskRef, TaskRef)
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        let slot = slab::alloc();
        // SAFETY: the slab hands out vacant slots that nobody else references
        // (refs == 0), so we have exclusive access until we publish the task,
        // and a vacant slot's payload is empty, as `store_closure` needs.
        unsafe {
            let s = slot.as_ref();
            s.refs.store(2, Ordering::Relaxed);
            let word = s.state.word();
            let seq_kept = word.load(Ordering::Relaxed) & !FLAGS;
            word.store(seq_kept | SCHEDULED, Ordering::Relaxed);
            *s.extra.get() = extra;
            s.store_closure(f);
        }
        (TaskRef(slot), TaskRef(slot))
    }

    /// A `TaskRef` for `slot` that does not count: wrap it in
    /// `ManuallyDrop` and `clone` it to get a counted one.
    ///
    /// # Safety
    /// `slot` must be referenced (by someone else) while the result is used.
    pub(crate) unsafe fn from_raw(slot: *const Slot) -> TaskRef {
        // SAFETY: forwarded to the caller; slots are never null.
        TaskRef(unsafe { NonNull::new_unchecked(slot.cast_mut()) })
    }

    /// Gives up this reference as a raw pointer (for an atomic slot); take
    /// it back with [`from_raw_owned`](Self::from_raw_owned).
    pub(crate) fn into_raw(self) -> *mut Slot {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    /// Takes back a reference given up with [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `slot` came from `into_raw`, and is taken back once.
    pub(crate) unsafe fn from_raw_owned(slot: *mut Slot) -> TaskRef {
        // SAFETY: forwarded to the caller.
        TaskRef(unsafe { NonNull::new_unchecked(slot) })
    }

    #[inline]
    pub(crate) fn slot(&self) -> &Slot {
        // SAFETY: slots are never deallocated (see `slab`), and our count
        // keeps this one from being recycled while we hold it.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn as_ptr(&self) -> *const Slot {
        self.0.as_ptr()
    }

    pub(crate) fn state(&self) -> u64 {
        self.slot().state.word().load(Ordering::Acquire)
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state() & COMPLETE != 0
    }

    pub(crate) fn extra(&self) -> Option<&Extra> {
        // SAFETY: `extra` is written before the task is published and only
        // cleared in `release`, when no reference is left.
        unsafe { (*self.slot().extra.get()).as_deref() }
    }

    /// The home worker's handle, once the task has started.
    pub(crate) fn home(&self) -> Option<&Arc<Home>> {
        // SAFETY: written by the home worker before the first resume; every
        // caller holds a waiter or reference obtained after that (see the
        // module docs), and it is cleared only in `release`.
        unsafe { (*self.slot().home.get()).as_ref() }
    }

    /// Binds the task to its home worker. Home worker only, before the
    /// first resume.
    pub(crate) fn set_home(&self, home: Arc<Home>) {
        // SAFETY: the task has not run yet, so no waker can read `home`.
        unsafe { *self.slot().home.get() = Some(home) }
    }

    /// Unbinds a completed task from its worker. Home worker only, once
    /// its coroutine returned or was unwound after `claim_for_unwind`.
    pub(crate) fn clear_home(&self) {
        // SAFETY: wakers read `home` only after winning the `PARKED` to
        // `SCHEDULED` transition, and are done with it once the task is in
        // its home's queues. The worker resumed the task (or claimed it)
        // only from there or from `PARKED`, which shut later wakers out;
        // so no waker reads `home` now, nor can from here on.
        unsafe { *self.slot().home.get() = None }
    }

    /// The scheduler's record of the task, once it has started; untyped
    /// (see the module docs). Home worker only.
    pub(crate) fn started(&self) -> Option<NonNull<()>> {
        self.slot().started.get()
    }

    /// Home worker only.
    pub(crate) fn set_started(&self, started: Option<NonNull<()>>) {
        self.slot().started.set(started)
    }

    /// The coroutine's id; 0 before it started.
    pub(crate) fn id(&self) -> u64 {
        self.slot().id.get()
    }

    /// Home worker only, before the first resume.
    pub(crate) fn set_id(&self, id: u64) {
        self.slot().id.set(id)
    }

    /// Marks the task resumed: `RUNNING`, next run sequence.
    #[inline]
    pub(crate) fn set_running(&self) {
        self.slot().state.set_running()
    }

    /// The stopping home worker takes the suspended task to unwind it, if
    /// no waker is still on its way to `home` (see
    /// [`State::claim_for_unwind`](state::State::claim_for_unwind)).
    #[inline]
    pub(crate) fn claim_for_unwind(&self, reached_home: bool) -> bool {
        self.slot().state.claim_for_unwind(reached_home)
    }

    /// After the coroutine suspended to wait: `PARKED`, or back to
    /// `SCHEDULED` if a wake already arrived. Returns true when the task
    /// must be scheduled again at once.
    #[inline]
    pub(crate) fn set_parked(&self) -> bool {
        self.slot().state.set_parked()
    }

    /// After the coroutine yielded: `SCHEDULED`.
    #[inline]
    pub(crate) fn set_yielded(&self) {
        self.slot().state.set_yielded()
    }

    /// The run sequence a waiter made now would carry.
    pub(crate) fn current_seq(&self) -> u32 {
        seq(self.slot().state.word().load(Ordering::Relaxed))
    }

    /// Wakes the task if it is still in the run identified by `run_seq`:
    /// through the [`Schedule`] hook when it was parked.
    pub(crate) fn wake(&self, run_seq: u32) {
        if self.slot().state.wake(run_seq) {
            Scheduler::schedule(self.clone());
        }
    }

    /// The park epoch an `Unparker` made now carries (see [`state`]).
    pub(crate) fn current_epoch(&self) -> u32 {
        epoch(self.slot().state.word().load(Ordering::Relaxed))
    }

    /// An `Unparker` of park epoch `park_epoch` fired: wakes the task if it
    /// is in that epoch's public park, else leaves the token for it. Any
    /// thread.
    pub(crate) fn unpark(&self, park_epoch: u32) {
        if self.slot().state.unpark(park_epoch) {
            Scheduler::schedule(self.clone());
        }
    }

    /// Entering a public park, on the task's own coroutine: true (and the
    /// next epoch) if an unparker of this epoch fired already, so the park
    /// returns at once; else marks the task `IN_PARK`.
    pub(crate) fn begin_park(&self) -> bool {
        self.slot().state.begin_park()
    }

    /// Leaving a public park, on the task's own coroutine: the next epoch,
    /// so older unparkers do nothing (an unpark that came before this point
    /// is delivered by the return itself).
    pub(crate) fn end_park(&self) {
        self.slot().state.end_park()
    }

    fn release(&self) {
        let slot = self.slot();
        let s = slot.state.word().load(Ordering::Relaxed);
        // SAFETY: the last reference is gone, so we own the slot, and `s` is
        // its state word, read after the `Acquire` fence of `drop`.
        let panicked = unsafe { slot.drop_leftover(s) };
        debug_assert!(slot.started.get().is_none());
        // SAFETY: we own the slot (the last reference is gone), so nobody
        // else reads these cells.
        unsafe {
            *slot.extra.get() = None;
            *slot.home.get() = None;
        }
        slot.id.set(0);
        // SAFETY: the last reference is gone; nobody else can touch the cell.
        unsafe { *slot.join_waiter.get() = None };
        slot.vtable.set(&VACANT);
        // Keep the run sequence so a stale waiter of the previous occupant
        // can never match the next one before it runs.
        slot.state
            .word()
            .store((s & !FLAGS).wrapping_add(1 << SEQ_SHIFT), Ordering::Relaxed);
        slab::free(self.0);
        after_user_drop(panicked, "a coroutine's result or closure");
    }
}

#[cfg(test)]
mod tests {
    use std::mem;

    use super::*;

    /// A task that has started on `home` (a worker's handle, without its
    /// worker: no runtime runs here) and parked in its first run.
    fn parked_on(home: &Arc<Home>) -> (TaskRef, TaskRef, u32) {
        // SAFETY: 'static closure.
        let (a, b) = unsafe { TaskRef::new(|| (), None) };
        a.set_home(Arc::clone(home));
        a.set_running();
        let seq = a.current_seq();
        assert!(!a.set_parked());
        (a, b, seq)
    }

    /// Takes what was scheduled off the home's inbox, and ends the task.
    fn end(task: &TaskRef, home: &Home) -> Vec<TaskRef> {
        let scheduled = home.take_inbox();
        task.clear_home();
        task.cancel_unstarted();
        scheduled
    }

    #[test]
    fn a_parked_task_is_woken_through_the_hook_once() {
        let home = Arc::new(Home::default());
        let (a, _b, seq) = parked_on(&home);
        let waiter = Waiter::Task {
            task: a.clone(),
            seq,
        };
        assert!(!waiter.is_local(), "no worker runs here");
        waiter.wake_by_ref();
        waiter.wake();
        assert_ne!(a.state() & SCHEDULED, 0);
        let scheduled = end(&a, &home);
        assert_eq!(scheduled.len(), 1, "scheduled once");
        assert!(scheduled[0] == a);
    }

    #[test]
    fn a_group_wakes_its_waiter_when_its_last_child_completes() {
        let group = Arc::new(group::Group::default());
        let children: Vec<(TaskRef, TaskRef)> = (0..2)
            .map(|_| {
                let extra = Extra {
                    scope: Some(Arc::clone(&group)),
                    ..Extra::default()
                };
                // SAFETY: 'static closure.
                let (sched, handle) = unsafe { TaskRef::new(|| (), Some(Box::new(extra))) };
                group.add(handle.clone());
                (sched, handle)
            })
            .collect();
        let home = Arc::new(Home::default());
        let (owner, _h, seq) = parked_on(&home);
        assert!(group.wait_unless_done(Waiter::Task {
            task: owner.clone(),
            seq
        }));
        children[0].0.cancel_unstarted();
        assert!(home.inbox.is_empty());
        assert!(group.has_running_children());
        children[1].0.cancel_unstarted();
        assert!(!group.has_running_children());
        assert!(!group.wait_unless_done(Waiter::Task {
            task: owner.clone(),
            seq
        }));
        assert_eq!(end(&owner, &home).len(), 1, "the owner was woken once");
        assert!(!group.drop_unclaimed_outputs().0);
    }

    #[test]
    fn slot_stays_small() {
        // 500,000 live tasks must fit the spawn benchmark's memory budget.
        eprintln!("slot size {}", mem::size_of::<Slot>());
        assert!(mem::size_of::<Slot>() <= 112, "{}", mem::size_of::<Slot>());
    }

    #[test]
    fn an_unpark_outlives_yields_and_ends_only_its_own_park() {
        // SAFETY: 'static closure.
        let (a, _b) = unsafe { TaskRef::new(|| (), None) };
        a.set_running();
        let first = a.current_epoch();
        a.set_yielded();
        a.set_running();
        assert_eq!(a.current_epoch(), first, "a yield keeps the epoch");
        a.unpark(first);
        assert_ne!(
            a.state() & UNPARKED,
            0,
            "an unpark outside the park leaves a token"
        );
        assert!(
            a.begin_park(),
            "the park finds the token and returns at once"
        );
        assert_ne!(a.current_epoch(), first);
        a.unpark(first);
        assert_eq!(a.state() & UNPARKED, 0, "a stale unparker does nothing");
        assert!(!a.begin_park());
        a.unpark(a.current_epoch());
        assert_ne!(a.state() & NOTIFIED, 0, "in the park, before suspending");
        a.end_park();
        assert_eq!(a.state() & (UNPARKED | IN_PARK), 0);
        a.cancel_unstarted();
    }

    #[test]
    fn a_stale_wake_is_ignored() {
        // SAFETY: 'static closure.
        let (a, _b) = unsafe { TaskRef::new(|| (), None) };
        a.set_running();
        let old = a.current_seq();
        a.set_yielded();
        a.set_running();
        a.wake(old);
        assert_eq!(a.state() & NOTIFIED, 0);
        a.wake(a.current_seq());
        assert_ne!(a.state() & NOTIFIED, 0);
        assert!(a.set_parked(), "a wake before parking reschedules at once");
        a.cancel_unstarted();
    }
}
