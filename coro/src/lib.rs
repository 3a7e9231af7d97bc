//! Stackful coroutines on a work-stealing scheduler: Go-style concurrency in
//! plain blocking Rust.
//!
//! A coroutine is a function with its own stack that the runtime can
//! suspend where it blocks (a [`join`](JoinHandle::join), a [`sleep`], and
//! the channels, locks and sockets built on this crate) and resume later,
//! while its worker thread runs other coroutines. Code stays in blocking
//! style, with no `async`/`.await`.
//!
//! ```
//! use std::time::Duration;
//!
//! let handles: Vec<_> = (0..1000)
//!     .map(|i| {
//!         coro::spawn(move || {
//!             coro::sleep(Duration::from_millis(1)); // parks, never blocks a thread
//!             i * 2
//!         })
//!     })
//!     .collect();
//! let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
//! assert_eq!(sum, 999 * 1000);
//! ```
//!
//! # The runtime
//!
//! [`spawn`] from a plain thread uses a default runtime with one worker per
//! core, started on first use; build a [`Runtime`] for other settings. Each
//! worker runs one coroutine at a time, from a queue of its own; idle
//! workers steal half the never-started coroutines of a busy one's queue
//! (Chase–Lev deques, as tokio and Go do), and a started coroutine stays on
//! the worker that ran it. The full algorithm is in the source's
//! `coro/src/scheduler/mod.rs`.
//!
//! # Blocking work
//!
//! [`spawn_blocking`] runs a closure on a pool of OS threads of the
//! runtime and returns the same [`JoinHandle`] as [`spawn`]; the coroutine
//! that joins it parks while its worker runs the others. Use it for file
//! I/O, DNS (`coro_net::lookup_host` does it for host names), blocking
//! database or HTTP client drivers, and CPU-heavy work:
//!
//! ```
//! let h = coro::spawn(|| {
//!     let text = coro::spawn_blocking(|| std::fs::read_to_string("Cargo.toml"))
//!         .join()
//!         .unwrap();
//!     let hash = coro::spawn_blocking(|| (0..1_000_000u64).fold(0u64, |h, i| h ^ i.wrapping_mul(31)))
//!         .join()
//!         .unwrap();
//!     (text.is_ok(), hash)
//! });
//! assert!(h.join().unwrap().0);
//! ```
//!
//! The pool grows on demand up to
//! [`runtime::Builder::max_blocking_threads`] threads (512), idle ones exit
//! after [`runtime::Builder::thread_keep_alive`] (10 s), and jobs past the
//! bound queue. Dropping a runtime cancels the jobs that have not started
//! and waits for the running ones, as tokio does (the `blocking` module
//! docs have the design).
//!
//! # Synchronization
//!
//! [`sync`] has the locks and friends ([`sync::Mutex`], [`sync::RwLock`],
//! [`sync::Condvar`], [`sync::Semaphore`], [`sync::WaitGroup`],
//! [`sync::Barrier`], [`sync::OnceLock`]): they park a waiting coroutine and
//! block a waiting thread, so coroutines and threads may share them.
//!
//! # Rules for coroutine code
//!
//! * **Blocking calls block the worker.** A coroutine that calls
//!   `std::thread::sleep`, a `std::sync::Mutex` held by another coroutine,
//!   a blocking socket, `std::fs`, a blocking database driver, DNS through
//!   `std::net::ToSocketAddrs`, or computes for long, stalls every coroutine
//!   of its worker. Use this crate's primitives, or move the call to the
//!   blocking pool with [`spawn_blocking`] (see below). A coroutine that
//!   runs longer than [`runtime::Builder::hog_threshold`] (10 ms) without
//!   suspending is reported once with `log::warn!`, to find such calls.
//! * **A coroutine stays on the worker thread that first ran it.** So
//!   thread-locals behave as on a thread, but are shared by all coroutines
//!   of that worker: a value put into a thread-local before a suspension
//!   point may have been changed by another coroutine after it. Holding a
//!   `RefCell` borrow of a thread-local across a suspension can make another
//!   coroutine's borrow panic. `!Send` values (an `Rc`, a `MutexGuard`)
//!   may live across suspensions; they never change threads.
//! * **Lending your stack to threads.** Every coroutine keeps its stack
//!   addresses for life, and no other coroutine ever runs on them. When more
//!   coroutines are suspended than a worker keeps resident
//!   ([`runtime::Builder::resident_stacks`], 4,096 by default), the frames
//!   of a suspended coroutine may be copied to the heap and its stack made
//!   inaccessible until it resumes (this is what lets a million coroutines
//!   park under the kernel's mapping limit). Code that keeps using a
//!   reference into the stack of a suspended coroutine (a
//!   `std::thread::scope` thread, a `rayon::in_place_scope` job) sees the
//!   coroutine's own data while it is resident; while it is evicted, the
//!   access faults and the process aborts with a message naming the
//!   coroutine. It never reads another coroutine's frames or loses a write.
//!   Wrap such lending in [`pin_stack`] to keep the stack resident; the
//!   caller of [`scope()`] is pinned for you.
//! * **Stack size.** The default is 256 KiB per coroutine
//!   ([`runtime::Builder::stack_size`], [`Builder::stack_size`]); only
//!   touched pages cost memory. Overflowing it aborts the process with a
//!   message naming the coroutine and its stack size, evicted before or not.
//! * **Panics** in a coroutine are caught and handed to whoever joins it
//!   ([`JoinError::into_panic`]); the standard panic hook reports them once,
//!   as for threads, and the worker carries on. A panic in the `Drop` of a
//!   result nobody took, or of a closure that never ran, is reported and
//!   logged (`log::error!`), and the runtime carries on; a scope resumes
//!   such a panic of its children's results once all of them are dropped.
//! * **No suspending while panicking.** A coroutine must not park while its
//!   thread is panicking (in a panic hook, or in a `Drop` run by an
//!   unwind): the panic state is the thread's, and other coroutines would
//!   run mid-panic. Such a park aborts the process with a message naming
//!   the coroutine; a [`yield_now`] then does nothing.
//! * **Dropping a runtime** unwinds its suspended coroutines on their own
//!   workers, so their destructors run. Those destructors run while the
//!   thread is panicking, so one that parks aborts (the rule above). A
//!   coroutine that catches that unwind (`catch_unwind` around a
//!   suspension) and suspends again aborts too, instead of keeping
//!   `Runtime::drop` waiting forever; [`is_cancelling`] tells such a
//!   `catch_unwind` that what it caught is this unwind (hand it on with
//!   `std::panic::resume_unwind`), not a panic.
//!
//! # Layers (of the source)
//!
//! Imports point one way, from the bottom: `task` (slots, the state word,
//! payloads, the join waiter; it wakes through the `task::Schedule` hook
//! the scheduler implements, and imports nothing else), `stack`, `switch`
//! (stack switching only, the current coroutine lent by
//! `switch::with_current`), `overflow`, `scheduler` (queues, workers,
//! sleep and park, timers, the blocking pool, the I/O driver hook), `wait`
//! (`Waiter`, `park`, `park_until`), then the public API (`coroutine`,
//! `runtime`, `scope`, `blocking`, `parking`, `budget`) and, above it,
//! `sync`, `chan` and `time`. Within the public API, `coroutine`,
//! `runtime`, `scope` and `blocking` use each other by design (the free
//! functions use the default runtime, the runtime's methods the
//! builders); `.ci/module_cycles.py` checks the rest in CI.

mod blocking;
mod budget;
pub mod chan;
pub use scheduler::driver;
pub mod runtime;
pub mod sync;

mod coroutine;
mod loom;
mod overflow;
mod parking;
mod rand;
mod scheduler;
mod scope;
mod stack;
mod switch;
mod task;
mod time;
mod wait;

pub use blocking::spawn_blocking;
pub use budget::consume_budget;
pub use coroutine::{
    current, in_coroutine, is_cancelling, spawn, try_current, yield_now, Builder, Coroutine,
    CoroutineId, JoinError, JoinHandle, Unstarted,
};
pub use parking::{current_unparker, current_waker, park, park_until, Unparker};
pub use runtime::Runtime;
pub use scheduler::runtime_is_congested;
pub use scope::{pin_stack, scope, Scope, ScopedJoinHandle};
pub use stack::{DEFAULT_STACK_SIZE, MAX_STACK_SIZE};
pub use time::{sleep, sleep_until};

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct CrateReadmeDoctests;
