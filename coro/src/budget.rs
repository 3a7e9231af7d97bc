//! The cooperative budget: how many operations a coroutine may complete
//! without suspending before it yields to the others on its worker.
//!
//! There is no preemption. A coroutine whose operations never block (a
//! socket whose peer always answers before it is read again, a channel that
//! is never empty) would keep its worker for as long as that lasts, and the
//! coroutines queued behind it would starve. So, as tokio does, every resume
//! of a coroutine starts a budget of `BUDGET` operations (the worker's,
//! `scheduler::worker::BUDGET`); each operation
//! calls [`consume_budget`] before it starts, and once the budget is spent
//! that call yields first (to the back of the worker's queue), which starts
//! a fresh budget. A coroutine that is unwinding (a panic, or a runtime
//! being dropped) never yields there.
//!
//! "Each operation" means every one, not only those that may suspend: a
//! socket operation, every channel operation (`send`/`recv` and their timed
//! forms, but also `try_send`, `try_recv`, each step of `try_iter`, `len`,
//! `is_empty`, `is_full`, a `select!` that takes its `default` arm), and
//! every `coro::sync` operation (`lock`, `try_lock`, `try_read`,
//! `try_acquire`, `notify_one`, ...). A coroutine that spins on
//! `try_recv` waiting for another coroutine to send is the case this is for:
//! a started coroutine never moves to another worker, so if the sender was
//! started on the spinner's worker, it runs only when the spinner yields.
//! Counting only the operations that may suspend would let that spin run
//! forever.

use crate::scheduler::worker;

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
