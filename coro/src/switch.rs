//! Stack switching: the one module that resumes and suspends coroutines.
//!
//! A started task owns a [`CoroState`]: its `corosensei` coroutine, the
//! [`StackImage`] that says where its frames are, and what a suspension
//! needs (the yielder, the forced-unwind count). Nothing else: the worker's
//! bookkeeping for the task lives in the scheduler (`scheduler::started`).
//! The worker resumes it with [`CoroState::resume`]; the coroutine comes
//! back with a [`Suspend`] (yield or park) or by returning.
//!
//! # The running coroutine
//!
//! [`with_current`] lends the running coroutine's state to a closure, as a
//! shared reference that cannot outlive the call, so no two borrows of it
//! can be live in a way that conflicts. Its parts that change while the
//! coroutine runs (the pin count, the yielder, the unwind count) are
//! cells; everything else is written by the worker while the coroutine is
//! suspended. A borrow never spans a suspension: [`suspend`] reads what it
//! needs inside the closure and switches after it returned.
//!
//! # Why started coroutines never change threads
//!
//! `corosensei::Coroutine` is `!Send`, on purpose: a suspended stack may hold
//! `!Send` values (an `Rc`, a `MutexGuard`) and addresses of thread-locals
//! that the compiler computed before a switch and reuses after it
//! (llvm-project#98479). Resuming such a stack on another thread would be
//! undefined behaviour that no safe code could rule out.
//!
//! So the rule here is: a task may move between workers only *before* its
//! first resume, when all it has is its `Send` closure; from its first
//! resume on, only the worker that started it (its *home*) ever touches its
//! `CoroState` or resumes it. Wakers on other threads push the task into the
//! home worker's inbox. The `unsafe impl Send for TaskRef` relies on exactly
//! this rule, and the scheduler enforces it: only never-started tasks are
//! put where other workers can steal them.
//!
//! # The suspend margin
//!
//! To copy a suspended coroutine's frames out (see [`crate::stack`]) we need
//! the lowest address that holds its state. `corosensei` keeps the saved
//! stack pointer to itself, so [`suspend_with`] reads the stack pointer just
//! before it suspends and reports it; what the switch pushes below that point
//! is measured once per process by running a probe coroutine on a stack
//! filled with a pattern ([`suspend_margin`]), and every copy includes that
//! margin plus the red zone.
//!
//! # When a coroutine may not suspend
//!
//! [`suspend`] refuses two switches that no later code could make right,
//! and stops the process with a message that names the coroutine and the
//! rule ([`abort_breaking`]) instead of hanging or corrupting:
//!
//! 1. **Never while the thread is panicking.** The panic count that
//!    `std::thread::panicking()` reads is the thread's, not the
//!    coroutine's: a panic hook, or a `Drop` run by an unwind, that parked
//!    here would let other coroutines run on a thread mid-panic (they would
//!    see `panicking() == true`, poison the `std` locks they hold, and a
//!    panic of theirs would abort as a panic during a panic). Blocking the
//!    thread instead would hang whenever the wake must come from a
//!    coroutine of the same worker. So a *park* while panicking aborts
//!    ([`PANICKING_RULE`]); a *yield* is only a hint, and is skipped.
//! 2. **At most once during a forced unwind.** A stopping runtime unwinds
//!    each suspended coroutine (`force_unwind`); `corosensei` re-throws the
//!    unwind at every suspension it meets. A coroutine that catches it and
//!    suspends again would be unwound forever and `Runtime::drop` would
//!    spin: the second suspension aborts ([`FORCED_UNWIND_RULE`]).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::OnceLock;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use crate::stack::{SlotStack, StackImage, StackMem};
use crate::task::{Slot, TaskRef};

/// Why a coroutine suspended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SuspendKind {
    /// `yield_now`: run again after the others that are ready.
    Yield,
    /// Waiting for a wake (see `task::Waiter`).
    Park,
}

/// What a coroutine hands its worker when it suspends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Suspend {
    kind: SuspendKind,
    /// The stack pointer just before the switch.
    sp: usize,
}

type Coro = Coroutine<(), Suspend, (), SlotStack>;

/// The switching state of a started task. Home worker only.
pub(crate) struct CoroState {
    coroutine: Option<Coro>,
    pub(crate) image: StackImage,
    /// Set by the coroutine itself when it first runs.
    yielder: Cell<*const Yielder<(), Suspend>>,
    task: *const Slot,
    /// Suspensions since a stopping runtime began to unwind it; `None`
    /// while it is not being unwound (see the module docs, rule 2).
    unwind_suspends: Cell<Option<u32>>,
}

impl Default for CoroState {
    fn default() -> Self {
        CoroState {
            coroutine: None,
            image: StackImage::default(),
            yielder: Cell::new(ptr::null()),
            task: ptr::null(),
            unwind_suspends: Cell::new(None),
        }
    }
}

thread_local! {
    /// The coroutine this thread is running, if any.
    static CURRENT: Cell<*mut CoroState> = const { Cell::new(ptr::null_mut()) };
}

/// Runs `f` on the state of the coroutine running on this thread, if the
/// caller is one. The borrow ends with `f`; see the module docs.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&CoroState) -> R) -> Option<R> {
    let p = CURRENT.with(Cell::get);
    // SAFETY: `CURRENT` is set by `resume` (and `force_unwind`) for exactly
    // the duration of the coroutine's run on this thread and points at its
    // live `CoroState`. While it runs, the worker does not touch it (it is
    // inside `resume`), and the coroutine's own code reaches it only
    // through this function, by shared reference, mutating cells only; the
    // reference cannot escape `f`, so it never spans a suspension.
    unsafe { p.as_ref() }.map(f)
}

/// Whether the caller runs on a coroutine.
#[inline]
pub(crate) fn in_coroutine() -> bool {
    !CURRENT.with(Cell::get).is_null()
}

/// Whether the running coroutine is being unwound by its stopping runtime
/// (`force_unwind`); false outside a coroutine.
pub(crate) fn is_force_unwinding() -> bool {
    with_current(|cs| cs.unwind_suspends.get().is_some()).unwrap_or(false)
}

/// The running coroutine's pointer, read from a signal handler.
pub(crate) fn current_raw() -> *const CoroState {
    CURRENT.try_with(Cell::get).unwrap_or(ptr::null_mut())
}

impl CoroState {
    /// Prepares a coroutine for `task` on `stack`. The task's closure runs
    /// on the first `resume`.
    pub(crate) fn start(&mut self, task: &TaskRef, stack: SlotStack) {
        let slot = task.as_ptr();
        self.task = slot;
        self.coroutine = Some(Coroutine::with_stack(stack, move |yielder, ()| {
            // The worker set `CURRENT` to this coroutine's state before
            // resuming it.
            with_current(|me| me.yielder.set(yielder)).expect("coroutine runs with CURRENT set");
            // SAFETY: the worker holds a reference to the task (its live
            // list) until the coroutine has returned.
            let task = std::mem::ManuallyDrop::new(unsafe { task_ref_from(slot) });
            task.run_closure();
        }));
    }

    /// The task this coroutine runs.
    pub(crate) fn task(&self) -> *const Slot {
        self.task
    }

    /// Runs the coroutine until it suspends (`Some`) or returns (`None`).
    /// Its frames must be resident.
    pub(crate) fn resume(&mut self) -> Option<SuspendKind> {
        let prev = CURRENT.with(|c| c.replace(self));
        let coroutine = self
            .coroutine
            .as_mut()
            .expect("resume of a finished coroutine");
        let result = coroutine.resume(());
        CURRENT.with(|c| c.set(prev));
        match result {
            CoroutineResult::Yield(s) => {
                self.image.suspend_sp = s.sp;
                Some(s.kind)
            }
            CoroutineResult::Return(()) => {
                self.coroutine = None;
                None
            }
        }
    }

    /// Unwinds a suspended coroutine so its destructors run. Its frames
    /// must be resident. A panic that escapes a destructor is caught and
    /// reported, never propagated into the worker.
    pub(crate) fn force_unwind(&mut self) {
        self.unwind_suspends.set(Some(0));
        let prev = CURRENT.with(|c| c.replace(self));
        if let Some(mut coroutine) = self.coroutine.take() {
            let result = panic::catch_unwind(AssertUnwindSafe(|| coroutine.force_unwind()));
            if result.is_err() {
                log::error!(
                    "coro: a destructor panicked while a stopped runtime unwound a coroutine"
                );
            }
            // A coroutine that caught the unwind and returned is done either way.
            if !coroutine.done() {
                // SAFETY: unreachable in practice (force_unwind loops until
                // the coroutine is done); if it is not done we must not drop
                // it (that would unwind again), so we forget the frames.
                unsafe { coroutine.force_reset() };
            }
        }
        CURRENT.with(|c| c.set(prev));
    }

    /// Resets for reuse by another task.
    pub(crate) fn clear(&mut self) {
        debug_assert!(self.coroutine.is_none());
        debug_assert_eq!(self.image.pins.get(), 0);
        self.task = ptr::null();
        self.yielder.set(ptr::null());
        self.unwind_suspends.set(None);
    }
}

/// # Safety
/// `slot` must be a task slot the caller knows to be referenced.
unsafe fn task_ref_from(slot: *const Slot) -> TaskRef {
    // SAFETY: forwarded to the caller.
    unsafe { TaskRef::from_raw(slot) }
}

/// Suspends the running coroutine until it is woken.
pub(crate) fn suspend_park() {
    suspend(SuspendKind::Park)
}

/// Suspends the running coroutine behind the others that are ready.
pub(crate) fn suspend_yield() {
    suspend(SuspendKind::Yield)
}

/// Rule 1 of the module docs.
pub(crate) const PANICKING_RULE: &str = "must not suspend while its thread is panicking (a \
     panic hook, or a Drop run during unwinding, parked on a coro primitive; other coroutines \
     would run on a thread mid-panic)";
/// Rule 2 of the module docs.
pub(crate) const FORCED_UNWIND_RULE: &str = "suspended again while its runtime was unwinding \
     it (it caught the forced unwind of a stopping runtime: a catch_unwind around a \
     suspension must resume payloads that are not its own)";
/// Suspensions allowed during a forced unwind (rule 2 of the module docs).
const UNWIND_SUSPENDS_ALLOWED: u32 = 1;

fn suspend(kind: SuspendKind) {
    let yielder = with_current(|me| {
        if std::thread::panicking() {
            match kind {
                SuspendKind::Yield => return None,
                SuspendKind::Park => abort_breaking(me, PANICKING_RULE),
            }
        }
        if let Some(n) = me.unwind_suspends.get() {
            me.unwind_suspends.set(Some(n + 1));
            if n + 1 > UNWIND_SUSPENDS_ALLOWED {
                abort_breaking(me, FORCED_UNWIND_RULE);
            }
        }
        Some(me.yielder.get())
    })
    .expect("suspend outside a coroutine");
    let Some(yielder) = yielder else { return };
    // SAFETY: the yielder lives on this coroutine's stack, which is resident
    // while it runs; `start` stored its address before the closure ran.
    suspend_with(unsafe { &*yielder }, kind);
}

/// Stops the process because the coroutine `cs` broke `rule`: writes a
/// message naming it to stderr, then aborts (unwinding would only run
/// more of the code that cannot go on).
pub(crate) fn abort_breaking(cs: &CoroState, rule: &str) -> ! {
    // SAFETY: the running coroutine's task is alive (its worker's live list
    // holds it); the uncounted reference is never dropped.
    let task = std::mem::ManuallyDrop::new(unsafe { task_ref_from(cs.task) });
    let name = task
        .extra()
        .and_then(|e| e.name.as_deref())
        .unwrap_or("<unnamed>");
    eprintln!(
        "coro: coroutine '{name}' (id {}) {rule}; aborting",
        task.id()
    );
    std::process::abort()
}

/// Suspends through `yielder`, reporting the stack pointer. Not inlined, so
/// that the frames pushed below the reported pointer are the same at every
/// call and the margin measured by [`suspend_margin`] holds for all of them.
#[inline(never)]
fn suspend_with(yielder: &Yielder<(), Suspend>, kind: SuspendKind) {
    let sp = stack_pointer();
    yielder.suspend(Suspend { kind, sp });
}

#[inline(always)]
fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer register into a general register.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    // SAFETY: reads the stack pointer register into a general register;
    // no memory, stack or flags are touched.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    sp
}

/// Bytes below the red zone that the ABI lets a leaf function use without
/// moving the stack pointer.
#[cfg(target_arch = "x86_64")]
const RED_ZONE: usize = 128;
#[cfg(not(target_arch = "x86_64"))]
const RED_ZONE: usize = 0;

/// Extra bytes copied beyond the measured margin, for safety.
const MARGIN_SLACK: usize = 64;

/// Bytes below a suspended coroutine's reported stack pointer that hold its
/// state, measured once per process.
pub(crate) fn suspend_margin() -> usize {
    static MARGIN: OnceLock<usize> = OnceLock::new();
    *MARGIN.get_or_init(|| {
        const PATTERN: u8 = 0xA5;
        const PROBE_STACK: usize = 64 * 1024;
        let mem = StackMem::new(PROBE_STACK).expect("coro: cannot map the probe stack");
        let usable_bottom = mem.top() - mem.size();
        // SAFETY: the usable part of a stack we own and nothing runs on.
        unsafe { ptr::write_bytes(usable_bottom as *mut u8, PATTERN, mem.size()) };
        let mut probe: Coro = Coroutine::with_stack(mem.view(), |yielder, ()| {
            suspend_with(yielder, SuspendKind::Yield);
        });
        let sp = match probe.resume(()) {
            CoroutineResult::Yield(s) => s.sp,
            CoroutineResult::Return(()) => unreachable!("probe suspends once"),
        };
        // SAFETY: the usable part of the probe stack, which we own; the
        // probe is suspended, so nothing writes it while we read.
        let bytes = unsafe { std::slice::from_raw_parts(usable_bottom as *const u8, mem.size()) };
        let lowest = usable_bottom + bytes.iter().position(|&b| b != PATTERN).unwrap_or(0);
        let _ = probe.resume(());
        drop(probe);
        let margin = sp.saturating_sub(lowest) + RED_ZONE + MARGIN_SLACK;
        assert!(margin < 4096, "coro: implausible suspend margin {margin}");
        margin.next_multiple_of(16)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_covers_the_switch_and_is_small() {
        let m = suspend_margin();
        assert!(m > RED_ZONE + MARGIN_SLACK, "{m}");
        assert!(m <= 1024, "{m}");
    }
}
