//! The public parking API (`current_unparker`, `current_waker`, `park`,
//! `park_until`) that primitives outside the crate block with: an event
//! signalled from another thread, or from another coroutine, is never
//! missed, and a stale unparker does not end a later park.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use util::rt_test;

/// Rounds of the hand-off stress tests.
const ROUNDS: usize = 5_000;

/// A one-shot event: a flag and the unparker of whoever waits for it.
#[derive(Default)]
struct Event {
    set: AtomicBool,
    waiter: Mutex<Option<coro::Unparker>>,
}

impl Event {
    /// Waits until set, with the parking protocol of the module docs.
    fn wait(&self) {
        loop {
            if self.set.load(Ordering::Acquire) {
                return;
            }
            *self.waiter.lock().unwrap() = Some(coro::current_unparker());
            if self.set.load(Ordering::Acquire) {
                return;
            }
            coro::park();
        }
    }

    fn set(&self) {
        self.set.store(true, Ordering::Release);
        if let Some(u) = self.waiter.lock().unwrap().take() {
            u.unpark();
        }
    }
}

rt_test! {
    fn an_unparker_handed_to_a_thread_ends_the_park(rt) {
        rt.block_on(|| {
            for _ in 0..ROUNDS {
                let event = Arc::new(Event::default());
                let setter = {
                    let event = Arc::clone(&event);
                    thread::spawn(move || event.set())
                };
                event.wait();
                setter.join().unwrap();
            }
        });
    }
}

rt_test! {
    fn an_unparker_handed_to_another_coroutine_ends_the_park(rt) {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                rt.spawn(|| {
                    for _ in 0..ROUNDS / 8 {
                        let event = Arc::new(Event::default());
                        let setter = {
                            let event = Arc::clone(&event);
                            coro::spawn(move || {
                                coro::yield_now();
                                event.set();
                            })
                        };
                        event.wait();
                        setter.join().unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}

rt_test! {
    fn a_stale_unparker_does_not_end_a_later_park(rt) {
        rt.block_on(|| {
            // Made for a park that ends by its deadline...
            let stale = coro::current_unparker();
            coro::park_until(Instant::now() + Duration::from_millis(1));
            // ...it must not end the next one, which has no other waker
            // and so lasts until its deadline.
            let deadline = Instant::now() + Duration::from_millis(50);
            let unparked = thread::spawn(move || stale.unpark());
            coro::park_until(deadline);
            assert!(Instant::now() >= deadline, "a stale unparker ended the park");
            unparked.join().unwrap();
        });
    }
}

rt_test! {
    fn a_waker_from_current_waker_ends_the_park(rt) {
        rt.block_on(|| {
            let set = Arc::new(AtomicBool::new(false));
            let waker = coro::current_waker();
            let setter = {
                let set = Arc::clone(&set);
                thread::spawn(move || {
                    set.store(true, Ordering::Release);
                    waker.wake();
                })
            };
            while !set.load(Ordering::Acquire) {
                coro::park();
            }
            setter.join().unwrap();
        });
    }
}

/// On a plain thread an unparker unparks the thread.
#[test]
fn an_unparker_made_on_a_thread_unparks_it() {
    util::watchdog("thread unparker", util::WATCHDOG, || {
        for _ in 0..ROUNDS / 10 {
            let event = Arc::new(Event::default());
            let setter = {
                let event = Arc::clone(&event);
                thread::spawn(move || event.set())
            };
            event.wait();
            setter.join().unwrap();
        }
    });
}
