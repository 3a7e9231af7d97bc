//! The cooperative budget: how many operations a coroutine may complete
//! without suspending before it yields to the others on its worker.
//!
//! There is no preemption. A coroutine whose operations never block (a
//! socket whose peer always answers before it is read again, a channel that
//! is never empty) would keep its worker for as long as that lasts, and the
//! coroutines queued behind it would starve. So, as tokio does, every resume
//! of a coroutine starts a budget of [`BUDGET`] operations; each operation
//! that may suspend (a socket operation, a blocking channel operation)
//! calls [`consume_budget`] before it starts, and once the budget is spent
//! that call yields first (to the back of the worker's queue), which starts
//! a fresh budget. A coroutine that is unwinding (a panic, or a runtime
//! being dropped) never yields there.

use crate::scheduler::worker;

/// Operations a coroutine may complete per resume without suspending
/// (tokio uses the same figure).
pub(crate) const BUDGET: u32 = 128;

/// Counts one operation that completed without suspending, yielding first
/// if the calling coroutine has spent its budget. Outside a coroutine it
/// does nothing. Blocking channel operations call it, and I/O libraries
/// built on coro call it before each operation (coro-net's sockets do); code that loops on a source that is always
/// ready may call it too.
pub fn consume_budget() {
    let spent = worker::with_current(|w| w.take_budget()).unwrap_or(false);
    if spent {
        crate::yield_now();
    }
}
