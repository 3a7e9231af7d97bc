//! Scoped coroutines, which may borrow from the caller's stack.
//!
//! [`scope`] runs a closure that spawns coroutines through a [`Scope`];
//! those may borrow anything that outlives the call, because `scope` does
//! not return (or unwind past its frame) before every one of them has
//! finished and its result has been taken or dropped. This is
//! `std::thread::scope`, for coroutines.
//!
//! # Why the caller's stack is pinned
//!
//! The children hold pointers into the caller's stack. If the caller is a
//! coroutine, its stack must stay accessible while it waits: an evicted
//! stack is inaccessible, and a child touching it would abort the process
//! (see [`crate::stack`]). So `scope` *pins* the calling coroutine's stack
//! for its duration, and registers the scope with the coroutine so that a
//! stopping runtime unwinds it only after its children. [`pin_stack`] does
//! the first half for code that lends its stack to threads instead.

use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::coroutine::{join_task, JoinError};
use crate::scheduler::Shared;
use crate::task::group::Group;
use crate::task::{forget_payload, Extra, TaskRef, Waiter};
use crate::wait::park;

/// Blocks until every child of `group` has completed.
fn wait_for_children(group: &Group) {
    while group.wait_unless_done(Waiter::current()) {
        park();
    }
}

/// A scope to spawn coroutines that borrow; see [`scope`].
#[derive(Debug)]
pub struct Scope<'scope, 'env: 'scope> {
    shared: Arc<Group>,
    runtime: Arc<Shared>,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// A handle to join a scoped coroutine.
#[derive(Debug)]
pub struct ScopedJoinHandle<'scope, T> {
    task: TaskRef,
    _marker: PhantomData<&'scope T>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the coroutine and returns its result; see
    /// [`JoinHandle::join`](crate::JoinHandle::join).
    ///
    /// # Errors
    /// The coroutine panicked (or its runtime stopped).
    pub fn join(self) -> Result<T, JoinError> {
        join_task(&self.task)
    }

    /// Whether the coroutine has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_complete()
    }
}

impl<'scope> Scope<'scope, '_> {
    /// Spawns a coroutine that may borrow anything that outlives the scope.
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        self.spawn_with(f, Extra::default())
    }

    pub(crate) fn spawn_with<F, T>(
        &'scope self,
        f: F,
        mut extra: Extra,
    ) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        extra.scope = Some(Arc::clone(&self.shared));
        // SAFETY: `scope` neither returns nor unwinds past its frame before
        // this task has completed (`wait_for_children`) and its output has
        // been taken or dropped (`drop_unclaimed_outputs`), so everything
        // `F` and `T` borrow for 'scope outlives the task's use of them.
        let (sched, handle) = unsafe { TaskRef::new(f, Some(Box::new(extra))) };
        self.shared.add(handle.clone());
        self.runtime.spawn(sched);
        ScopedJoinHandle {
            task: handle,
            _marker: PhantomData,
        }
    }
}

/// Runs `f` with a [`Scope`] for spawning coroutines that borrow from the
/// caller, and waits for all of them before returning.
///
/// Children go to the caller's runtime (the default one from a plain
/// thread). If `f` panics, the panic resumes after the children finished;
/// if a child panicked and nobody joined it, `scope` panics. Results nobody
/// joined are dropped before `scope` returns, every one of them even if a
/// `Drop` panics; the first such panic then resumes from `scope`.
///
/// ```
/// let mut counts = vec![0; 4];
/// coro::scope(|s| {
///     for (i, c) in counts.iter_mut().enumerate() {
///         s.spawn(move || *c = i * 10);
///     }
/// });
/// assert_eq!(counts, [0, 10, 20, 30]);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    scope_on(crate::runtime::current_or_default(), f)
}

pub(crate) fn scope_on<'env, F, T>(runtime: Arc<Shared>, f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let scope = Scope {
        shared: Arc::new(Group::default()),
        runtime,
        scope: PhantomData,
        env: PhantomData,
    };
    let pin = Pin::new(&scope.shared);
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
    wait_for_children(&scope.shared);
    let (child_panicked, drop_panic) = scope.shared.drop_unclaimed_outputs();
    drop(pin);
    match result {
        Err(payload) => {
            if let Some(p) = drop_panic {
                forget_payload(p);
            }
            panic::resume_unwind(payload)
        }
        Ok(_) if drop_panic.is_some() => {
            panic::resume_unwind(drop_panic.expect("checked just above"))
        }
        Ok(_) if child_panicked => panic!("a scoped coroutine panicked"),
        Ok(value) => value,
    }
}

/// Runs `f` with the calling coroutine's stack kept resident, and returns
/// its result. On a plain thread, just runs `f`.
///
/// Past its budget of resident stacks
/// ([`runtime::Builder::resident_stacks`](crate::runtime::Builder::resident_stacks)),
/// a worker copies the frames of a suspended coroutine to the heap and makes
/// its stack inaccessible. Code that holds pointers into the stack of a
/// suspended coroutine (a `std::thread::scope` thread or a
/// `rayon::in_place_scope` job borrowing a local, while the coroutine
/// sleeps, parks or joins) then faults, and the process aborts with a
/// message naming the coroutine: it never reads another coroutine's data or
/// loses a write. Inside `pin_stack` the stack is never evicted, so such
/// code works as on a thread. [`scope`] pins its caller by itself.
///
/// A pinned coroutine keeps its stack mapped while it is suspended, so pin
/// around the lending only, not whole long-lived coroutines.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::time::Duration;
///
/// coro::spawn(|| {
///     let shared = AtomicU64::new(7);
///     coro::pin_stack(|| {
///         std::thread::scope(|s| {
///             s.spawn(|| shared.fetch_add(1, Ordering::Relaxed));
///             coro::sleep(Duration::from_millis(1)); // suspends; `shared` stays put
///         });
///     });
///     assert_eq!(shared.load(Ordering::Relaxed), 8);
/// })
/// .join()
/// .unwrap();
/// ```
pub fn pin_stack<R>(f: impl FnOnce() -> R) -> R {
    if !add_pin(1) {
        return f();
    }
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    // The same coroutine as above: `f` returned (or unwound) on its stack.
    add_pin(-1);
    match result {
        Ok(value) => value,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Adds `delta` to the running coroutine's pin count; false on a plain
/// thread. The count is not a soundness invariant: a stale pin only keeps
/// a stack resident.
fn add_pin(delta: i32) -> bool {
    crate::switch::with_current(|cs| {
        let pins = &cs.image.pins;
        pins.set(pins.get().wrapping_add_signed(delta));
    })
    .is_some()
}

/// Pins the calling coroutine's stack and registers the scope with it, for
/// as long as it lives. On a plain thread, does nothing: a thread's stack
/// does not move.
struct Pin {
    /// Whether the caller is a coroutine (it is the one that drops the
    /// pin: the pin lives on its stack).
    pinned: bool,
    shared: Arc<Group>,
}

impl Pin {
    fn new(shared: &Arc<Group>) -> Pin {
        let pinned = add_pin(1);
        if pinned {
            crate::scheduler::started::with_current(|book| {
                book.scopes.borrow_mut().push(Arc::clone(shared))
            });
        }
        Pin {
            pinned,
            shared: Arc::clone(shared),
        }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        // Whatever happened, no child (or result) may outlive this point.
        // Normally `scope_on` has emptied the list already; on an unwind
        // through here, a second panic must not escape a `Drop`.
        wait_for_children(&self.shared);
        if let (_, Some(p)) = self.shared.drop_unclaimed_outputs() {
            forget_payload(p);
        }
        if self.pinned {
            add_pin(-1);
            crate::scheduler::started::with_current(|book| book.scopes.borrow_mut().pop());
        }
    }
}
