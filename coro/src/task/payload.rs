//! A task's payload: the closure before the first resume, and the
//! [`Outcome`] after it ran, in one type-erased cell of the [`Slot`].
//!
//! The cell is `PAYLOAD_WORDS` words. A value that fits them (size and
//! alignment) is stored inline, a larger one boxed (`put`, `take`,
//! `peek`). What type is there is known only to the slot's [`VTable`],
//! made for the task's closure type `F` and output type `T` when it is
//! spawned (`Erased`); a vacant slot's is `VACANT`, which holds nothing.
//! Which value the payload holds, and who owns it, follows from the state
//! word (`super::state`):
//!
//! * until `COMPLETE`: the closure, until the coroutine (or whoever ends a
//!   task that never started, holding the scheduler's reference) moves it
//!   out and stores the outcome in its place; theirs;
//! * `COMPLETE`, not `OUTPUT_TAKEN`: the outcome, owned by the one that
//!   sets `OUTPUT_TAKEN` ([`claim_output`](TaskRef::claim_output)), or by
//!   the last reference's `release` if nobody does;
//! * `OUTPUT_TAKEN`: nothing.
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

use std::any::Any;
use std::marker::PhantomData;
use std::mem::{self, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::Ordering;

use super::state::{COMPLETE, OUTPUT_TAKEN};
use super::{Slot, TaskRef};

/// Words of inline storage for a closure or an output; larger ones are boxed.
const PAYLOAD_WORDS: usize = 3;
pub(super) type Payload = [MaybeUninit<usize>; PAYLOAD_WORDS];

/// A payload that holds nothing.
pub(super) const EMPTY: Payload = [MaybeUninit::uninit(); PAYLOAD_WORDS];

/// How a task ended, as stored in its payload.
pub(crate) enum Outcome<T> {
    /// The closure returned.
    Value(T),
    /// The closure panicked.
    Panic(Box<dyn Any + Send + 'static>),
    /// The runtime stopped before the closure finished.
    Cancelled,
}

/// Type-erased operations on a slot's payload.
pub(super) struct VTable {
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

/// The vtable of a vacant slot: its payload holds nothing.
pub(super) static VACANT: VTable = VTable {
    run: |_| unreachable!("vacant slot run"),
    drop_closure: |_| {},
    drop_output: |_| {},
    store_cancelled: |_| {},
    store_panic: |_, _| {},
    output_is_panic: |_| false,
};

impl Slot {
    /// Stores closure `f` and the vtable made for `F` and `T`.
    ///
    /// # Safety
    /// The caller has the slot to itself (it is not published yet), and its
    /// payload is empty.
    pub(super) unsafe fn store_closure<F: FnOnce() -> T, T>(&self, f: F) {
        self.vtable.set(&Erased::<F, T>::VTABLE);
        // SAFETY: the caller has the slot to itself and its payload is
        // empty; the vtable just set reads it back as `F`, the type put.
        unsafe { put(self.payload.get(), f) }
    }

    /// Drops what the payload of a slot whose last reference went still
    /// holds, and returns the destructor's panic, if any (see the module
    /// docs). A task is referenced by its scheduler until it completes, so
    /// such a slot either completed (its output may still be here) or never
    /// started (its closure is here). `take` moves the value out before it
    /// is dropped, so the payload is empty even if the drop panics.
    ///
    /// # Safety
    /// The last reference is gone, so the caller owns the slot, and `state`
    /// is its state word.
    pub(super) unsafe fn drop_leftover(&self, state: u64) -> Option<Box<dyn Any + Send>> {
        if state & COMPLETE == 0 {
            // SAFETY: never started: the payload holds the closure, and the
            // caller owns the slot.
            drop_user(|| unsafe { (self.vtable.get().drop_closure)(self) })
        } else if state & OUTPUT_TAKEN == 0 {
            // SAFETY: completed, output not taken: it is here, and the
            // caller owns the slot.
            drop_user(|| unsafe { (self.vtable.get().drop_output)(self) })
        } else {
            None
        }
    }
}

impl TaskRef {
    /// Runs the closure and stores its outcome. On the coroutine's stack,
    /// once.
    pub(crate) fn run_closure(&self) {
        let slot = self.slot();
        // SAFETY: called once per task, by its coroutine, while the payload
        // holds the closure.
        unsafe { (slot.vtable.get().run)(slot) }
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
pub(super) fn after_user_drop(panicked: Option<Box<dyn Any + Send>>, what: &str) {
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
fn panic_text(payload: &(dyn Any + Send)) -> &str {
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
    // SAFETY: the caller owns `p`, which holds an `X` that `put` stored
    // inline exactly when `fits_inline::<X>()` and as a `Box<X>` otherwise;
    // the same test picks the same representation to read, and the caller
    // treats the payload as empty afterwards, so the value moves out once.
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
    // SAFETY: `p` holds an `X` that `put` stored inline exactly when
    // `fits_inline::<X>()` and as a `Box<X>` otherwise; the same test picks
    // the same representation, and the reference only reads it.
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
    use std::sync::Arc;

    use super::*;

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
}
