//! `coro::sync::Mutex`: mutual exclusion across coroutines and threads,
//! fairness (Go's `TestMutexFairness`), lost wake-ups, and what happens to
//! waiters when their runtime is dropped.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro::sync::Mutex;
use util::{rt_test, spin_for, wait_until, watchdog, WATCHDOG};

rt_test! {
    /// Coroutines and plain threads increment one counter under the lock; a
    /// coroutine sometimes suspends while holding it, so others queue.
    fn counter_stress_with_coroutines_and_threads(rt) {
        const COROUTINES: usize = 200;
        const THREADS: usize = 3;
        const ITERS: usize = 200;
        let m = Arc::new(Mutex::new(0usize));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    for _ in 0..ITERS * 5 {
                        let mut g = m.lock();
                        let v = *g;
                        thread::yield_now();
                        *g = v + 1;
                    }
                })
            })
            .collect();
        rt.block_on(|| {
            let hs: Vec<_> = (0..COROUTINES)
                .map(|i| {
                    let m = Arc::clone(&m);
                    coro::spawn(move || {
                        for j in 0..ITERS {
                            let mut g = m.lock();
                            let v = *g;
                            if (i + j) % 16 == 0 {
                                // Suspend holding the lock: a guard may cross
                                // a suspension, and the others must queue.
                                coro::yield_now();
                            }
                            *g = v + 1;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), COROUTINES * ITERS + THREADS * ITERS * 5);
        assert!(!m.is_locked());
    }
}

rt_test! {
    /// Go's `TestMutexFairness`: one coroutine takes the lock over and over,
    /// holding it across a short sleep; another must still get it, ten times.
    /// Only the watchdog bounds the time.
    fn go_mutex_fairness(rt) {
        let m = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        rt.block_on(|| {
            let hog = {
                let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
                coro::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let g = m.lock();
                        coro::sleep(Duration::from_micros(100));
                        drop(g);
                    }
                })
            };
            let m2 = Arc::clone(&m);
            coro::spawn(move || {
                for _ in 0..10 {
                    coro::sleep(Duration::from_micros(100));
                    drop(m2.lock());
                }
            })
            .join()
            .unwrap();
            stop.store(true, Ordering::Relaxed);
            hog.join().unwrap();
        });
    }
}

rt_test! {
    /// As above, but the hog never suspends: it releases and re-takes the lock
    /// at once, with only a `yield_now` in between. On one worker the other
    /// coroutine runs only during that yield, when the lock is held.
    fn fairness_against_a_yielding_hog(rt) {
        let m = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        rt.block_on(|| {
            let hog = {
                let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
                coro::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let g = m.lock();
                        coro::yield_now();
                        drop(g);
                    }
                })
            };
            let m2 = Arc::clone(&m);
            coro::spawn(move || {
                for _ in 0..10 {
                    coro::yield_now();
                    drop(m2.lock());
                }
            })
            .join()
            .unwrap();
            stop.store(true, Ordering::Relaxed);
            hog.join().unwrap();
        });
    }
}

rt_test! {
    /// The hog is a plain thread that busy-works under the lock and re-takes
    /// it at once after unlocking; a coroutine must still get the lock.
    fn fairness_against_a_spinning_thread(rt) {
        let m = Arc::new(Mutex::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let hog = {
            let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let g = m.lock();
                    spin_for(Duration::from_micros(50));
                    drop(g);
                }
            })
        };
        wait_until("the hog holds the lock", || m.is_locked());
        rt.block_on(|| {
            for _ in 0..10 {
                drop(m.lock());
                coro::sleep(Duration::from_micros(100));
            }
        });
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
    }
}

rt_test! {
    /// Many rounds of a lock passed back and forth between a coroutine and a
    /// thread, each waiting for its turn under the lock: a lost wake-up hangs
    /// (and the watchdog fails the test).
    fn turn_taking_between_a_coroutine_and_a_thread(rt) {
        const ROUNDS: usize = 2_000;
        let turn = Arc::new(Mutex::new(0usize));
        let t = {
            let turn = Arc::clone(&turn);
            thread::spawn(move || {
                let mut mine = 1;
                while mine < 2 * ROUNDS {
                    let mut g = turn.lock();
                    if *g == mine {
                        *g += 1;
                        mine += 2;
                    }
                }
            })
        };
        rt.block_on(|| {
            let mut mine = 0;
            while mine < 2 * ROUNDS {
                let mut g = turn.lock();
                if *g == mine {
                    *g += 1;
                    mine += 2;
                }
                drop(g);
                coro::yield_now();
            }
        });
        t.join().unwrap();
        assert_eq!(*turn.lock(), 2 * ROUNDS);
    }
}

rt_test! {
    /// `try_lock` never blocks and fails exactly while the lock is held, from a
    /// coroutine or a thread.
    fn try_lock_and_guard_across_sleep(rt) {
        let m = Arc::new(Mutex::new(String::new()));
        rt.block_on(|| {
            let g = m.lock();
            let m2 = Arc::clone(&m);
            let h = coro::spawn(move || {
                assert!(m2.try_lock().is_none());
                m2.lock().push_str("second");
            });
            // Hold the guard across a suspension: the other coroutine queues.
            coro::sleep(Duration::from_millis(5));
            assert!(!h.is_finished());
            drop(g);
            h.join().unwrap();
        });
        let m2 = Arc::clone(&m);
        let g = m.try_lock().expect("free");
        assert!(thread::spawn(move || m2.try_lock().is_none()).join().unwrap());
        assert_eq!(*g, "second");
    }
}

/// Dropping a runtime unwinds its coroutines, among them the holder and a
/// queue of waiters. The lock must end up free, and a thread queued behind
/// them all must get it.
#[test]
fn waiters_unwound_by_a_dropped_runtime_pass_the_lock_on() {
    for workers in [1, 4] {
        watchdog("mutex waiters unwound", WATCHDOG, move || {
            let rt = util::runtime(workers, "mx");
            let m = Arc::new(Mutex::new(0u32));
            let queued = Arc::new(AtomicUsize::new(0));
            let holder = Arc::clone(&m);
            rt.spawn(move || {
                let _g = holder.lock();
                coro::sleep(Duration::from_secs(86_400));
            });
            wait_until("the holder has the lock", || m.is_locked());
            for _ in 0..20 {
                let (m, queued) = (Arc::clone(&m), Arc::clone(&queued));
                rt.spawn(move || {
                    queued.fetch_add(1, Ordering::SeqCst);
                    *m.lock() += 1;
                    coro::sleep(Duration::from_secs(86_400));
                });
            }
            wait_until("the waiters started", || {
                queued.load(Ordering::SeqCst) == 20
            });
            let m2 = Arc::clone(&m);
            let thread_waiter = thread::spawn(move || *m2.lock() += 100);
            // Give the waiters time to queue (the test is valid either way).
            thread::sleep(Duration::from_millis(20));
            drop(rt);
            thread_waiter.join().unwrap();
            let v = *m.lock();
            assert!(v >= 100, "the thread got the lock: {v}");
            assert!(!m.is_locked());
        });
    }
}

/// Waits through a `Mutex` on a thread with no runtime at all.
#[test]
fn works_without_any_runtime() {
    watchdog("mutex, threads only", WATCHDOG, || {
        let m = Arc::new(Mutex::new(Vec::new()));
        let ts: Vec<_> = (0..4)
            .map(|i| {
                let m = Arc::clone(&m);
                thread::spawn(move || {
                    for j in 0..500 {
                        m.lock().push(i * 1000 + j);
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        let mut v = Arc::try_unwrap(m).unwrap().into_inner();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 2000);
    });
}
