//! Synchronization primitives that park coroutines and block threads.
//!
//! Every type here works the same whether its callers are coroutines, plain
//! OS threads, or a mix: a coroutine that must wait is suspended and its
//! worker runs other coroutines meanwhile; a thread is parked. So these,
//! not `std::sync`'s blocking types, are what coroutine code should use
//! (`std::sync::Mutex` held across a suspension, or contended by another
//! coroutine of the same worker, stalls the whole worker).
//!
//! | type | like | notes |
//! |------|------|-------|
//! | [`Mutex`] | `std::sync::Mutex` | one CAS uncontended; hands off to a waiter that starves (Go's `sync.Mutex`) |
//! | [`RwLock`] | `std::sync::RwLock` | FIFO hand-off: writers don't starve |
//! | [`Condvar`] | `std::sync::Condvar` | for [`Mutex`]; no spurious wake-ups |
//! | [`Semaphore`] | tokio's `Semaphore` | FIFO: a large request is not starved |
//! | [`WaitGroup`] | Go's `sync.WaitGroup` | `add`, `done`, `wait` |
//! | [`Barrier`] | `std::sync::Barrier` | reusable |
//! | [`OnceLock`], [`LazyLock`] | `std::sync`'s | waiters park while one initializes |
//!
//! # How they block
//!
//! Each primitive keeps its waiters in a wait list (`wait_list.rs`): a slab
//! owned by the primitive, on the heap, behind a short `parking_lot` lock
//! that is never held across a suspension. A blocked caller stores its
//! waiter there, releases the lock and parks; whoever changes the state so
//! that it may proceed takes the entry out *and* usually hands it what it
//! waited for (the lock, permits), then wakes it. Each module's docs give
//! its state bits and the argument for why no wake-up is lost. Guards may
//! be held across suspensions: a coroutine never changes threads.
//!
//! A runtime that is dropped unwinds its suspended coroutines; one that was
//! blocked here leaves the wait list on the way out and passes on whatever
//! it had been handed, so the others are not stranded.

mod barrier;
mod condvar;
mod mutex;
mod once;
mod rwlock;
mod semaphore;
mod wait_group;
mod wait_list;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard, STARVATION_THRESHOLD};
pub use once::{LazyLock, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{OwnedSemaphorePermit, Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;
