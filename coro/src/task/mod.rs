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
//! `started` is the one field that reaches `!Send` data (the suspended stack):
//! that is why it is touched on the home worker only. See
//! [`crate::switch`] for the argument.
//!
//! # User destructors
//!
//! A closure that never ran and an output nobody took are the user's
//! values, and their `Drop` may panic. They are dropped wherever the last
//! reference goes, or where a task is cancelled: often on a worker, outside
//! any coroutine (`run_task` finishing a detached task, the shutdown
//! cancelling never-started ones). A panic there must not unwind the worker,
//! whose stack pool maps the stacks of coroutines still suspended on it.
//! Elsewhere the last reference may go inside this crate's own critical
//! sections (a stale waiter dropped by a channel's wait list), which an
//! unwind must not cut short either. So every such drop runs under
//! `catch_unwind` ([`drop_user`]); the slot's bookkeeping is finished
//! first, and then the panic is logged and the program goes on (the panic
//! hook has reported it already, as for any panic). `std` aborts in that
//! case ("thread result panicked on drop"); there is no caller here to
//! hand the panic to. The one exception is a scope: it drops its
//! children's unclaimed results itself, at a point of its own choosing,
//! and resumes such a panic once they are all gone (`crate::scope`).

pub(crate) mod group;
pub(crate) mod slab;
pub(crate) mod state;
mod waiter;

use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::sync::Arc;

use state::*;
pub(crate) use waiter::Waiter;

/// Words of inline storage for a closure or an output; larger ones are boxed.
const PAYLOAD_WORDS: usize = 3;
type Payload = [MaybeUninit<usize>; PAYLOAD_WORDS];

/// How a task ended, as stored in its payload.
pub(crate) enum Outcome<T> {
    /// The closure returned.
    Value(T),
    /// The closure panicked.
    Panic(Box<dyn Any + Send + 'static>),
    /// The runtime stopped before the closure finished.
    Cancelled,
}

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

/// Type-erased operations on a slot's payload.
pub(crate) struct VTable {
    /// Runs the closure, replacing it with its `Outcome`. Called once, on
    /// the coroutine's stack.
    run: unsafe fn(&Slot),
    /// Drops a closure that never ran.
    drop_closure: unsafe fn(&Slot),
    /// Drops an output nobody took.
    drop_output: unsafe fn(&Slot),
    /// Stores `Outcome::Cancelled` in an empty payload.
    store_cancelled: unsafe fn(&Slot),
    /// Stores `Outcome::Panic` in an empty payload.
    store_panic: unsafe fn(&Slot, Box<dyn Any + Send + 'static>),
    /// Whether the stored output is `Outcome::Panic`.
    output_is_panic: unsafe fn(&Slot) -> bool,
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

static VACANT: VTable = VTable {
    run: |_| unreachable!("vacant slot run"),
    drop_closure: |_| {},
    drop_output: |_| {},
    store_cancelled: |_| {},
    store_panic: |_, _| {},
    output_is_panic: |_| false,
};

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
            payload: UnsafeCell::new([MaybeUninit::uninit(); PAYLOAD_WORDS]),
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

// SAFETY: every field of `Slot` is either atomic, behind a lock, written only
// before the task is published (`vtable`, `extra`, the closure), handed over
// by the state protocol (`payload`, `home`), or touched only on the task's
// home worker (`coro`, see `crate::switch`). The closure and output are
// `Send` (spawn requires it), so the thread that finally drops them may be
// any thread.
unsafe impl Send for TaskRef {}
// SAFETY: as for `Send`: shared access goes through the same protocol.
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
        // (refs == 0), so we have exclusive access until we publish the task.
        unsafe {
            let s = slot.as_ref();
            s.refs.store(2, Ordering::Relaxed);
            let word = s.state.word();
            let seq_kept = word.load(Ordering::Relaxed) & !FLAGS;
            word.store(seq_kept | SCHEDULED, Ordering::Relaxed);
            s.vtable.set(&Erased::<F, T>::VTABLE);
            *s.extra.get() = extra;
            put(s.payload.get(), f);
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

    /// Unbinds a completed task from its worker. Home worker only; no waker
    /// reads `home` of a task that is not parked.
    pub(crate) fn clear_home(&self) {
        // SAFETY: the task finished; wakers only read `home` after winning
        // the `PARKED` to `SCHEDULED` transition, impossible from here on.
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

    /// Runs the closure and stores its outcome. On the coroutine's stack,
    /// once.
    pub(crate) fn run_closure(&self) {
        let slot = self.slot();
        // SAFETY: called once per task, by its coroutine, while the payload
        // holds the closure.
        unsafe { (slot.vtable.get().run)(slot) }
    }

    /// Marks the task resumed: `RUNNING`, next run sequence.
    #[inline]
    pub(crate) fn set_running(&self) {
        self.slot().state.set_running()
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

    /// Marks the task complete (its outcome is in the payload) and wakes its
    /// joiner and its scope.
    pub(crate) fn complete(&self) {
        let st = self.slot().state.word();
        let prev = st.fetch_or(COMPLETE, Ordering::AcqRel);
        st.fetch_and(!(RUNNING | SCHEDULED | NOTIFIED), Ordering::AcqRel);
        debug_assert_eq!(prev & COMPLETE, 0, "task completed twice");
        if prev & JOIN_WAITER != 0 {
            // SAFETY: `COMPLETE` is now set while `JOIN_WAITER` was set, which
            // hands the waiter cell to us: the joiner no longer touches it.
            let waiter = unsafe { (*self.slot().join_waiter.get()).take() };
            if let Some(w) = waiter {
                w.wake();
            }
        }
        if let Some(scope) = self.extra().and_then(|e| e.scope.as_ref()) {
            scope.child_completed();
        }
    }

    /// Ends a task that never started: drops its closure and completes it
    /// as cancelled. Any thread.
    pub(crate) fn cancel_unstarted(&self) {
        let slot = self.slot();
        debug_assert!(self.started().is_none());
        // SAFETY: the task never started, so the payload holds the closure,
        // and we own the scheduler's reference: nobody else runs it. The
        // closure is gone even if its drop panicked (`take` moved it out).
        let panicked = drop_user(|| unsafe { (slot.vtable.get().drop_closure)(slot) });
        // SAFETY: the closure was moved out just above, so the payload is
        // empty, and still ours: the task is not complete yet.
        unsafe { (slot.vtable.get().store_cancelled)(slot) };
        self.complete();
        after_user_drop(panicked, "a never-started coroutine's closure");
    }

    /// Ends a task that could not start (no stack could be mapped) as if it
    /// panicked with `message`.
    pub(crate) fn fail_unstarted(&self, message: String) {
        let slot = self.slot();
        // SAFETY: the task could not start, so the payload holds the
        // closure, and we own the scheduler's reference: nobody else runs
        // it. `take` moves it out, so the payload is empty even on a panic.
        let panicked = drop_user(|| unsafe { (slot.vtable.get().drop_closure)(slot) });
        // SAFETY: the closure was moved out just above, so the payload is
        // empty, and still ours: the task is not complete yet.
        unsafe { (slot.vtable.get().store_panic)(slot, Box::new(message)) };
        self.complete();
        after_user_drop(panicked, "a never-started coroutine's closure");
    }

    /// Replaces whatever outcome a force-unwound coroutine stored (the
    /// unwind payload it caught) with `Cancelled`. Home worker, after the
    /// unwind finished.
    pub(crate) fn store_cancelled_after_unwind(&self, ran_to_store: bool) {
        let slot = self.slot();
        // The coroutine is finished; if its `run` got as far as storing an
        // outcome we drop it, and otherwise the closure was consumed on the
        // stack and the payload is empty.
        let panicked = if ran_to_store {
            // SAFETY: `run` stored an outcome, and the task is not complete
            // yet, so no joiner reads the payload: it is ours. `take`
            // empties the payload even if the outcome's drop panics.
            drop_user(|| unsafe { (slot.vtable.get().drop_output)(slot) })
        } else {
            None
        };
        // SAFETY: the payload is empty (dropped above, or consumed by the
        // closure) and still ours: the task is not complete.
        unsafe { (slot.vtable.get().store_cancelled)(slot) };
        after_user_drop(panicked, "an unwound coroutine's result");
    }

    /// Whether the stored outcome is a panic. Only while the output is there.
    pub(crate) fn output_is_panic(&self) -> bool {
        let slot = self.slot();
        // SAFETY: called by the owner of the output (the join handle or the
        // scope) after `COMPLETE` and before `OUTPUT_TAKEN`.
        unsafe { (slot.vtable.get().output_is_panic)(slot) }
    }

    /// Claims the output. True once, for the first caller after completion.
    pub(crate) fn claim_output(&self) -> bool {
        let prev = self
            .slot()
            .state
            .word()
            .fetch_or(OUTPUT_TAKEN, Ordering::AcqRel);
        debug_assert!(prev & COMPLETE != 0);
        prev & OUTPUT_TAKEN == 0
    }

    /// Moves the output out.
    ///
    /// # Safety
    /// `T` must be the task's output type, and the caller must have won
    /// [`claim_output`](Self::claim_output).
    pub(crate) unsafe fn read_output<T>(&self) -> Outcome<T> {
        // SAFETY: the caller guarantees the type and exclusive ownership.
        unsafe { take::<Outcome<T>>(self.slot().payload.get()) }
    }

    /// Drops the output. The caller must have won `claim_output`. Returns
    /// the panic of the output's `Drop`, if it panicked; the output is gone
    /// either way.
    pub(crate) fn drop_claimed_output(&self) -> Option<Box<dyn Any + Send>> {
        let slot = self.slot();
        // SAFETY: the caller owns the output by `claim_output`.
        drop_user(|| unsafe { (slot.vtable.get().drop_output)(slot) })
    }

    /// Registers `waiter` to be woken on completion, replacing an earlier
    /// one. Returns false (and drops the waiter) if the task already
    /// completed. Join handle owner only.
    ///
    /// The cell belongs to the joiner while `JOIN_WAITER` is clear, and to
    /// the completer once `COMPLETE` is set while `JOIN_WAITER` is set
    /// (the protocol of tokio's `JOIN_WAKER`).
    pub(crate) fn set_join_waiter(&self, waiter: Waiter) -> bool {
        let slot = self.slot();
        let st = slot.state.word();
        let mut s = st.load(Ordering::Acquire);
        // Take the cell back from an earlier registration.
        while s & JOIN_WAITER != 0 {
            if s & COMPLETE != 0 {
                return false;
            }
            match st.compare_exchange_weak(s, s & !JOIN_WAITER, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => s &= !JOIN_WAITER,
                Err(now) => s = now,
            }
        }
        if s & COMPLETE != 0 {
            return false;
        }
        // SAFETY: `JOIN_WAITER` is clear, so the cell is ours.
        unsafe { *slot.join_waiter.get() = Some(waiter) };
        loop {
            if s & COMPLETE != 0 {
                // SAFETY: still ours: we never set `JOIN_WAITER`.
                unsafe { *slot.join_waiter.get() = None };
                return false;
            }
            match st.compare_exchange_weak(s, s | JOIN_WAITER, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    fn release(&self) {
        let slot = self.slot();
        let s = slot.state.word().load(Ordering::Relaxed);
        // The last reference is gone, so we own the slot. A task is
        // referenced by its scheduler until it completes, so a slot freed
        // here either completed (its output may still be here) or never
        // started (its closure is here). `take` moves the value out before
        // it is dropped, so the payload is empty even if the drop panics.
        let panicked = if s & COMPLETE == 0 {
            // SAFETY: never started: the payload holds the closure, ours.
            drop_user(|| unsafe { (slot.vtable.get().drop_closure)(slot) })
        } else if s & OUTPUT_TAKEN == 0 {
            // SAFETY: completed, output not taken: it is here, and ours.
            drop_user(|| unsafe { (slot.vtable.get().drop_output)(slot) })
        } else {
            None
        };
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

/// Runs `drop` (a user value's destructor) and returns its panic, if any.
/// See the module docs.
fn drop_user(drop: impl FnOnce()) -> Option<Box<dyn Any + Send>> {
    panic::catch_unwind(AssertUnwindSafe(drop)).err()
}

/// What becomes of a user destructor's panic once the slot is consistent
/// again: it is logged, and the program goes on (see the module docs).
///
/// The report runs under `catch_unwind` as well: this may be inside one of
/// the crate's critical sections, or on a worker outside any coroutine, and
/// a logger that panics must not unwind either. Its panic is dropped (the
/// panic hook has reported it).
fn after_user_drop(panicked: Option<Box<dyn Any + Send>>, what: &str) {
    let Some(payload) = panicked else { return };
    let logged = panic::catch_unwind(AssertUnwindSafe(|| {
        log::error!(
            "coro: the Drop of {what} panicked ({}); carrying on",
            panic_text(&*payload)
        );
    }));
    if let Err(logger_panic) = logged {
        forget_payload(logger_panic);
    }
    forget_payload(payload);
}

/// Drops a panic payload that is not resumed, without letting a panic of
/// its own `Drop` escape (such a payload is leaked).
pub(crate) fn forget_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        mem::forget(again);
    }
}

/// The message of a panic payload, for a log line.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload")
}

/// The vtable of a task with closure `F` and output `T`.
struct Erased<F, T>(PhantomData<(F, T)>);

impl<F: FnOnce() -> T, T> Erased<F, T> {
    const VTABLE: VTable = VTable {
        run: Self::run,
        drop_closure: Self::drop_closure,
        drop_output: Self::drop_output,
        store_cancelled: Self::store_cancelled,
        store_panic: Self::store_panic,
        output_is_panic: Self::output_is_panic,
    };

    unsafe fn run(slot: &Slot) {
        // SAFETY: the vtable was made for this slot's `F` and `T`
        // (`TaskRef::new`), and the caller (the coroutine, once) holds the
        // payload with the closure in it, as `VTable::run` requires.
        let f = unsafe { take::<F>(slot.payload.get()) };
        let outcome = match panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => Outcome::Value(v),
            Err(p) => Outcome::Panic(p),
        };
        // SAFETY: `take` just emptied the payload, which is still the
        // caller's; `Outcome<T>` is the type every reader expects there.
        unsafe { put(slot.payload.get(), outcome) }
    }

    unsafe fn drop_closure(slot: &Slot) {
        // SAFETY: the vtable was made for this slot's `F`, and the caller
        // owns a payload that holds the closure (it never ran).
        drop(unsafe { take::<F>(slot.payload.get()) })
    }

    unsafe fn drop_output(slot: &Slot) {
        // SAFETY: the vtable was made for this slot's `T`, and the caller
        // owns a payload that holds the stored `Outcome<T>`.
        drop(unsafe { take::<Outcome<T>>(slot.payload.get()) })
    }

    unsafe fn store_cancelled(slot: &Slot) {
        // SAFETY: the caller owns an empty payload, and `Outcome<T>` is
        // what this slot's readers (made for its `T`) expect there.
        unsafe { put(slot.payload.get(), Outcome::<T>::Cancelled) }
    }

    unsafe fn store_panic(slot: &Slot, payload: Box<dyn Any + Send + 'static>) {
        // SAFETY: the caller owns an empty payload, and `Outcome<T>` is
        // what this slot's readers (made for its `T`) expect there.
        unsafe { put(slot.payload.get(), Outcome::<T>::Panic(payload)) }
    }

    unsafe fn output_is_panic(slot: &Slot) -> bool {
        // SAFETY: the vtable was made for this slot's `T`, and the caller
        // owns the payload while it holds the stored `Outcome<T>`; we only
        // look.
        unsafe { matches!(peek::<Outcome<T>>(slot.payload.get()), Outcome::Panic(_)) }
    }
}

const fn fits_inline<X>() -> bool {
    mem::size_of::<X>() <= mem::size_of::<Payload>()
        && mem::align_of::<X>() <= mem::align_of::<Payload>()
}

/// # Safety
/// `p` must be an empty payload that the caller owns.
unsafe fn put<X>(p: *mut Payload, x: X) {
    // SAFETY: checked size and alignment for the inline case; a `Box`
    // always fits a payload.
    unsafe {
        if fits_inline::<X>() {
            ptr::write(p.cast::<X>(), x)
        } else {
            ptr::write(p.cast::<Box<X>>(), Box::new(x))
        }
    }
}

/// # Safety
/// `p` must hold an `X` stored by `put`, which the caller owns; it is empty
/// afterwards.
unsafe fn take<X>(p: *mut Payload) -> X {
    // SAFETY: mirrors `put`.
    unsafe {
        if fits_inline::<X>() {
            ptr::read(p.cast::<X>())
        } else {
            *ptr::read(p.cast::<Box<X>>())
        }
    }
}

/// # Safety
/// `p` must hold an `X` stored by `put`.
unsafe fn peek<'a, X>(p: *mut Payload) -> &'a X {
    // SAFETY: mirrors `put`.
    unsafe {
        if fits_inline::<X>() {
            &*p.cast::<X>()
        } else {
            &*p.cast::<Box<X>>()
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn a_panic_in_a_cancelled_closures_drop_is_contained() {
        struct PanicsOnDrop;
        impl Drop for PanicsOnDrop {
            fn drop(&mut self) {
                panic!("the closure's capture panics on drop");
            }
        }
        let capture = PanicsOnDrop;
        // SAFETY: 'static closure.
        let (a, b) = unsafe {
            TaskRef::new(
                move || {
                    let _keep = &capture;
                },
                None,
            )
        };
        // The panic is caught, logged, and the task still completes as
        // cancelled: the caller (a worker, or the shutdown) carries on.
        a.cancel_unstarted();
        assert!(b.is_complete());
        assert!(b.claim_output());
        // SAFETY: `()` is the output type of `|| ()`, and the claim was
        // just won.
        let outcome = unsafe { b.read_output::<()>() };
        assert!(matches!(outcome, Outcome::Cancelled));
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
    fn large_closures_are_boxed_and_dropped() {
        let marker = Arc::new(());
        let big = [0u8; 100];
        let m = marker.clone();
        // SAFETY: 'static closure.
        let (a, b) = unsafe {
            TaskRef::new(
                move || {
                    let _keep = (&m, big);
                },
                None,
            )
        };
        assert_eq!(Arc::strong_count(&marker), 2);
        a.cancel_unstarted();
        assert_eq!(Arc::strong_count(&marker), 1);
        assert!(b.is_complete());
        drop((a, b));
    }

    #[test]
    fn an_unclaimed_output_is_dropped_with_the_last_reference() {
        let marker = Arc::new(());
        let m = marker.clone();
        // SAFETY: 'static closure.
        let (a, b) = unsafe { TaskRef::new(move || m, None) };
        a.run_closure();
        a.complete();
        assert_eq!(Arc::strong_count(&marker), 2);
        drop(a);
        assert_eq!(Arc::strong_count(&marker), 2);
        drop(b);
        assert_eq!(Arc::strong_count(&marker), 1);
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
