//! An `Unparker` wakes the next `park` after it was made, whatever the
//! coroutine does in between: yields, and parks inside other primitives
//! (issue 14, item 8: the run sequence it carried was bumped by every
//! resume, so `let u = current_unparker(); yield_now(); hand over u;
//! park()` was never woken). Each test runs under 1 and 4 workers, with
//! the default resident-stack budget and with a budget of one.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use util::rt_budget_test;

/// Rounds of each hunt: on one worker the first round already hangs if the
/// unparker went stale; more rounds give four workers' races a chance.
const ROUNDS: usize = 200;

/// A one-shot event whose waiter does something that suspends between
/// making its unparker and handing it over.
#[derive(Default)]
struct Event {
    set: AtomicBool,
    waiter: Mutex<Option<coro::Unparker>>,
}

impl Event {
    /// Waits until set, with the parking protocol of `coro::park`'s docs,
    /// calling `between` after making each unparker and before storing it.
    fn wait(&self, between: &dyn Fn()) {
        loop {
            if self.set.load(Ordering::Acquire) {
                return;
            }
            let u = coro::current_unparker();
            between();
            *self.waiter.lock().unwrap() = Some(u);
            if self.set.load(Ordering::Acquire) {
                return;
            }
            coro::park();
        }
    }

    /// Once a waiter is stored: sets the event and unparks it. `pause` lets
    /// the waiter on in the meantime.
    fn set_once_waited(&self, pause: impl Fn()) {
        while self.waiter.lock().unwrap().is_none() {
            pause();
        }
        self.set.store(true, Ordering::Release);
        if let Some(u) = self.waiter.lock().unwrap().take() {
            u.unpark();
        }
    }
}

/// `rounds` rounds of an event set by another coroutine, waited for with
/// `between` in the protocol.
fn hand_offs(rounds: usize, between: &dyn Fn()) {
    for _ in 0..rounds {
        let event = Arc::new(Event::default());
        let e = Arc::clone(&event);
        let setter = coro::spawn(move || e.set_once_waited(coro::yield_now));
        event.wait(between);
        setter.join().unwrap();
    }
}

rt_budget_test! {
    fn survives_a_yield(rt) {
        rt.block_on(|| hand_offs(ROUNDS, &coro::yield_now));
    }
}

rt_budget_test! {
    fn survives_a_rendezvous_send(rt) {
        rt.block_on(|| {
            hand_offs(ROUNDS, &|| {
                let (tx, rx) = coro::chan::bounded::<()>(0);
                let meet = coro::spawn(move || rx.recv().unwrap());
                tx.send(()).unwrap();
                meet.join().unwrap();
            })
        });
    }
}

rt_budget_test! {
    fn survives_a_sleep(rt) {
        rt.block_on(|| hand_offs(ROUNDS / 4, &|| coro::sleep(Duration::from_micros(50))));
    }
}

rt_budget_test! {
    fn from_a_thread_survives_a_yield(rt) {
        rt.block_on(|| {
            for _ in 0..ROUNDS / 4 {
                let event = Arc::new(Event::default());
                let e = Arc::clone(&event);
                let setter = std::thread::spawn(move || {
                    e.set_once_waited(|| std::thread::sleep(Duration::from_micros(20)))
                });
                event.wait(&coro::yield_now);
                setter.join().unwrap();
            }
        });
    }
}
