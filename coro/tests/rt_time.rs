//! Sleeping: order of wake-ups, lower bounds, zero and past deadlines, many
//! sleepers at once, sleeping on plain threads.
//!
//! No test asserts an upper bound on a duration: a loaded CI machine may run
//! anything late. Orders are checked with gaps of tens of milliseconds.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use util::rt_test;

const MS: Duration = Duration::from_millis(1);

rt_test! {
    fn sleepers_wake_in_deadline_order(rt) {
        // Spawned in another order than they are due; 40 ms apart.
        let order = Arc::new(Mutex::new(Vec::new()));
        let handles: Vec<_> = [(3, 120), (1, 40), (2, 80)]
            .into_iter()
            .map(|(id, ms)| {
                let order = Arc::clone(&order);
                rt.spawn(move || {
                    coro::sleep(ms * MS);
                    order.lock().unwrap().push(id);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [1, 2, 3]);
    }
}

rt_test! {
    fn sleep_waits_at_least_its_duration(rt) {
        rt.block_on(|| {
            for d in [MS, 5 * MS, 20 * MS, Duration::from_micros(300)] {
                let start = Instant::now();
                coro::sleep(d);
                let took = start.elapsed();
                assert!(took >= d, "sleep({d:?}) returned after {took:?}");

                let deadline = Instant::now() + d;
                coro::sleep_until(deadline);
                let now = Instant::now();
                assert!(now >= deadline, "sleep_until returned {:?} early", deadline - now);
            }
        });
        // The same for many concurrent sleepers, each checked on its own.
        let handles: Vec<_> = (0..200u64)
            .map(|i| {
                rt.spawn(move || {
                    let d = Duration::from_micros(100 * (i % 37) + 50);
                    let start = Instant::now();
                    coro::sleep(d);
                    start.elapsed() >= d
                })
            })
            .collect();
        assert!(handles.into_iter().all(|h| h.join().unwrap()), "a sleeper woke early");
    }
}

rt_test! {
    fn zero_and_past_deadlines_return(rt) {
        rt.block_on(|| {
            coro::sleep(Duration::ZERO);
            let past = Instant::now();
            coro::sleep(MS);
            coro::sleep_until(past);
            coro::sleep_until(Instant::now());
        });
    }
}

rt_test! {
    fn a_zero_sleep_yields(rt) {
        // Like `yield_now`: a coroutine that only sleeps zero must let a
        // coroutine behind it run (on one worker, the same one).
        rt.block_on(|| {
            let flag = Arc::new(AtomicBool::new(false));
            let f = Arc::clone(&flag);
            let spinner = coro::spawn(move || {
                let past = Instant::now();
                let mut i = 0u64;
                while !f.load(Ordering::SeqCst) {
                    if i % 2 == 0 {
                        coro::sleep(Duration::ZERO);
                    } else {
                        coro::sleep_until(past);
                    }
                    i += 1;
                }
            });
            let f = Arc::clone(&flag);
            coro::spawn(move || f.store(true, Ordering::SeqCst)).join().unwrap();
            spinner.join().unwrap();
        });
    }
}

rt_test! {
    fn a_sleeping_coroutine_does_not_block_its_worker(rt) {
        // On one worker: if `sleep` blocked the thread, the second coroutine
        // could only run after the first woke.
        rt.block_on(|| {
            let ran = Arc::new(AtomicBool::new(false));
            let r = Arc::clone(&ran);
            let sleeper = coro::spawn(move || {
                coro::sleep(100 * MS);
                r.load(Ordering::SeqCst)
            });
            let r = Arc::clone(&ran);
            coro::spawn(move || r.store(true, Ordering::SeqCst)).join().unwrap();
            assert!(sleeper.join().unwrap(), "the other coroutine did not run during the sleep");
        });
    }
}

/// Coroutines asleep at once in [`many_sleepers_all_wake`].
const SLEEPERS: usize = 10_000;

rt_test! {
    fn many_sleepers_all_wake(rt) {
        let woke = Arc::new(AtomicUsize::new(0));
        let early = Arc::new(AtomicUsize::new(0));
        let w = Arc::clone(&woke);
        let e = Arc::clone(&early);
        rt.block_on(move || {
            let handles: Vec<_> = (0..SLEEPERS)
                .map(|i| {
                    let woke = Arc::clone(&w);
                    let early = Arc::clone(&e);
                    coro::spawn(move || {
                        // Deadlines spread over 50 ms, many equal.
                        let d = Duration::from_millis((i % 50) as u64 + 1);
                        let start = Instant::now();
                        coro::sleep(d);
                        if start.elapsed() < d {
                            early.fetch_add(1, Ordering::SeqCst);
                        }
                        woke.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        assert_eq!(woke.load(Ordering::SeqCst), SLEEPERS);
        assert_eq!(early.load(Ordering::SeqCst), 0, "sleepers woke before their deadline");
    }
}

#[test]
fn sleep_outside_a_coroutine_sleeps_the_thread() {
    let d = 30 * MS;
    let start = Instant::now();
    coro::sleep(d);
    assert!(start.elapsed() >= d);

    let deadline = Instant::now() + d;
    coro::sleep_until(deadline);
    assert!(Instant::now() >= deadline);

    coro::sleep(Duration::ZERO);
    coro::sleep_until(start);

    // On any plain thread, not only the test's.
    let t = thread::spawn(move || {
        let start = Instant::now();
        coro::sleep(d);
        start.elapsed() >= d
    });
    assert!(t.join().unwrap());
}
