//! An `Unparker` wakes the next `park` after it was made, whatever the
//! coroutine does in between: yields, and parks inside other primitives
//! (issue 14, item 8). Each test runs under 1 and 4 workers, with the
//! default resident-stack budget and with a budget of one.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use util::rt_budget_test;

/// Rounds of each hunt: on one worker the first round already hangs if the
/// unparker went stale; more rounds give four workers' races a chance.
const ROUNDS: usize = 200;

/// Parks until `flag` is set, as the parking protocol says: `park` may
/// return early, so check again.
fn park_until_set(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        coro::park();
    }
}

/// A coroutine that receives an unparker, sets the flag, and unparks.
fn unparker_task(rx: coro::chan::Receiver<coro::Unparker>, flag: Arc<AtomicBool>) {
    let u = rx.recv().unwrap();
    flag.store(true, Ordering::Release);
    u.unpark();
}

rt_budget_test! {
    fn survives_a_yield(rt) {
        rt.block_on(|| {
            for _ in 0..ROUNDS {
                let flag = Arc::new(AtomicBool::new(false));
                let (tx, rx) = coro::chan::unbounded();
                let f = Arc::clone(&flag);
                let h = coro::spawn(move || unparker_task(rx, f));
                let u = coro::current_unparker();
                coro::yield_now();
                tx.send(u).unwrap();
                park_until_set(&flag);
                h.join().unwrap();
            }
        });
    }
}

rt_budget_test! {
    fn survives_a_rendezvous_send(rt) {
        rt.block_on(|| {
            for _ in 0..ROUNDS {
                let flag = Arc::new(AtomicBool::new(false));
                let (tx, rx) = coro::chan::bounded(0);
                let f = Arc::clone(&flag);
                let h = coro::spawn(move || unparker_task(rx, f));
                tx.send(coro::current_unparker()).unwrap();
                park_until_set(&flag);
                h.join().unwrap();
            }
        });
    }
}

rt_budget_test! {
    fn survives_a_sleep_it_may_land_in(rt) {
        rt.block_on(|| {
            for _ in 0..ROUNDS / 4 {
                let flag = Arc::new(AtomicBool::new(false));
                let (tx, rx) = coro::chan::unbounded();
                let f = Arc::clone(&flag);
                let h = coro::spawn(move || unparker_task(rx, f));
                tx.send(coro::current_unparker()).unwrap();
                // The unpark lands during this sleep (or before it); it is
                // for the `park` below, and must not be spent here.
                coro::sleep(Duration::from_micros(200));
                park_until_set(&flag);
                h.join().unwrap();
            }
        });
    }
}

rt_budget_test! {
    fn from_a_thread_survives_a_yield(rt) {
        rt.block_on(|| {
            for _ in 0..ROUNDS / 4 {
                let flag = Arc::new(AtomicBool::new(false));
                let (tx, rx) = std::sync::mpsc::channel::<coro::Unparker>();
                let f = Arc::clone(&flag);
                let t = std::thread::spawn(move || {
                    let u = rx.recv().unwrap();
                    f.store(true, Ordering::Release);
                    u.unpark();
                });
                let u = coro::current_unparker();
                coro::yield_now();
                tx.send(u).unwrap();
                park_until_set(&flag);
                t.join().unwrap();
            }
        });
    }
}
