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

rt_test! {
    fn a_timed_park_rearmed_for_later_lasts_until_the_later_deadline(rt) {
        rt.block_on(|| {
            // A timed park with an early deadline, ended by a wake...
            let unparker = coro::current_unparker();
            let waker = thread::spawn(move || unparker.unpark());
            coro::park_until(Instant::now() + Duration::from_millis(10));
            waker.join().unwrap();
            // ...leaves the coroutine's timer due at 10 ms; the next park,
            // with a later deadline and no waker, must last until that one.
            let deadline = Instant::now() + Duration::from_millis(60);
            coro::park_until(deadline);
            assert!(Instant::now() >= deadline, "the park ended at the old deadline");
            // And an earlier deadline than the one still queued is kept.
            let long = Instant::now() + Duration::from_secs(30);
            let unparker = coro::current_unparker();
            let waker = thread::spawn(move || unparker.unpark());
            coro::park_until(long);
            waker.join().unwrap();
            let start = Instant::now();
            let short = start + Duration::from_millis(20);
            coro::park_until(short);
            assert!(Instant::now() >= short);
            assert!(start.elapsed() < Duration::from_secs(20), "the earlier deadline was lost");
        });
    }
}

rt_test! {
    fn many_coroutines_time_out_after_early_wakes(rt) {
        // Each coroutine alternates woken and timed-out parks, so entries
        // are re-armed earlier and later, fire, and are released at the end.
        let handles: Vec<_> = (0..64u64)
            .map(|i| {
                rt.spawn(move || {
                    for round in 0..20u64 {
                        let d = Duration::from_millis(1 + (i + round) % 7);
                        if round % 2 == 0 {
                            let unparker = coro::current_unparker();
                            let waker = coro::spawn(move || unparker.unpark());
                            coro::park_until(Instant::now() + 100 * d);
                            waker.join().unwrap();
                        } else {
                            let deadline = Instant::now() + d;
                            coro::park_until(deadline);
                            assert!(Instant::now() >= deadline);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
