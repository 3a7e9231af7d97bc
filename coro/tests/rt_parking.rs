//! The public parking API (`current_unparker`, `current_waker`, `park`,
//! `park_until`) that primitives outside the crate block with: an event
//! signalled from another thread, or from another coroutine, is never
//! missed, a stale unparker does not end a later park of a coroutine, and
//! timed parks neither end early nor outlive their deadline, through the
//! reuse of each coroutine's timer entry and a runtime dropped mid-park.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// `rounds` times: a new thread sets an event the caller waits for.
fn hand_offs_from_threads(rounds: usize) {
    for _ in 0..rounds {
        let event = Arc::new(Event::default());
        let setter = {
            let event = Arc::clone(&event);
            thread::spawn(move || event.set())
        };
        event.wait();
        setter.join().unwrap();
    }
}

rt_test! {
    fn an_unparker_handed_to_a_thread_ends_the_park(rt) {
        rt.block_on(|| hand_offs_from_threads(ROUNDS));
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
        hand_offs_from_threads(ROUNDS / 10);
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

rt_test! {
    fn timers_fire_for_the_right_coroutine_through_entry_reuse(rt) {
        // Short-lived coroutines arm long timers, are woken early and end
        // (entry released with a node queued); new ones reuse the index.
        let late = Arc::new(AtomicUsize::new(0));
        let early = Arc::new(AtomicUsize::new(0));
        for round in 0..30u64 {
            let hs: Vec<_> = (0..32u64).map(|i| {
                let late = Arc::clone(&late);
                let early = Arc::clone(&early);
                rt.spawn(move || {
                    // a long timed park ended early by a wake
                    let u = coro::current_unparker();
                    let w = coro::spawn(move || u.unpark());
                    coro::park_until(Instant::now() + Duration::from_secs(5 + i));
                    w.join().unwrap();
                    if (i + round) % 3 == 0 {
                        return; // released with the 5 s node queued
                    }
                    let d = Duration::from_millis(1 + (i * 7 + round) % 11);
                    let deadline = Instant::now() + d;
                    coro::park_until(deadline);
                    let now = Instant::now();
                    if now < deadline { early.fetch_add(1, Ordering::Relaxed); }
                    if now > deadline + Duration::from_millis(500) { late.fetch_add(1, Ordering::Relaxed); }
                })
            }).collect();
            for h in hs { h.join().unwrap(); }
        }
        assert_eq!(early.load(Ordering::Relaxed), 0, "a park ended before its deadline");
        assert_eq!(late.load(Ordering::Relaxed), 0, "a timer fired very late");
    }
}

rt_test! {
    fn dropping_the_runtime_while_coroutines_sit_in_park_until(rt) {
        for _ in 0..16 {
            rt.spawn(|| loop {
                coro::park_until(Instant::now() + Duration::from_secs(3600));
            });
        }
        rt.spawn(|| {
            let u = coro::current_unparker();
            let w = coro::spawn(move || u.unpark());
            coro::park_until(Instant::now() + Duration::from_secs(3600));
            w.join().unwrap();
            coro::park_until(Instant::now() + Duration::from_secs(3600));
        });
        std::thread::sleep(Duration::from_millis(50));
        drop(rt);
    }
}
