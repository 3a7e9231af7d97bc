//! Lost-wake-up hunting: park/wake races repeated thousands of times
//! between coroutines and threads, on every primitive. Each would hang on a
//! single lost wake-up; the watchdog turns a hang into a failure.
//!
//! And the unwind paths: a dropped runtime unwinds coroutines blocked here,
//! and what they had been handed (permits, a lock) must reach the threads
//! queued behind them.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro::sync::{Barrier, OnceLock, RwLock, Semaphore, WaitGroup};
use util::{rt_test, wait_until, watchdog, WATCHDOG};

rt_test! {
    /// Two zero-permit semaphores as a ping-pong between a coroutine and a
    /// thread, then between two coroutines: each side parks and is woken by
    /// the other, every round.
    fn semaphore_ping_pong(rt) {
        const ROUNDS: usize = 3_000;
        let ping = Arc::new(Semaphore::new(0));
        let pong = Arc::new(Semaphore::new(0));
        let (pi, po) = (Arc::clone(&ping), Arc::clone(&pong));
        let t = thread::spawn(move || {
            for _ in 0..ROUNDS {
                pi.acquire().forget();
                po.add_permits(1);
            }
        });
        rt.block_on(|| {
            for _ in 0..ROUNDS {
                ping.add_permits(1);
                pong.acquire().forget();
            }
            let (pi, po) = (Arc::clone(&ping), Arc::clone(&pong));
            let other = coro::spawn(move || {
                for _ in 0..ROUNDS {
                    pi.acquire().forget();
                    po.add_permits(1);
                }
            });
            for _ in 0..ROUNDS {
                ping.add_permits(1);
                pong.acquire().forget();
            }
            other.join().unwrap();
        });
        t.join().unwrap();
        assert_eq!(ping.available_permits() + pong.available_permits(), 0);
    }
}

rt_test! {
    /// Rounds of: a few coroutines and a thread wait on a fresh group that
    /// others finish concurrently.
    fn wait_group_rounds(rt) {
        const ROUNDS: usize = 300;
        rt.block_on(|| {
            for _ in 0..ROUNDS {
                let wg = Arc::new(WaitGroup::new());
                wg.add(3);
                let w2 = Arc::clone(&wg);
                let t = thread::spawn(move || w2.wait());
                let waiters: Vec<_> = (0..2)
                    .map(|_| {
                        let wg = Arc::clone(&wg);
                        coro::spawn(move || wg.wait())
                    })
                    .collect();
                for _ in 0..3 {
                    let wg = Arc::clone(&wg);
                    coro::spawn(move || wg.done());
                }
                for w in waiters {
                    w.join().unwrap();
                }
                while !t.is_finished() {
                    coro::yield_now();
                }
                t.join().unwrap();
            }
        });
    }
}

rt_test! {
    /// Rounds of a fresh `OnceLock` raced by coroutines and a thread.
    fn once_lock_races(rt) {
        const ROUNDS: usize = 300;
        rt.block_on(|| {
            for round in 0..ROUNDS {
                let cell = Arc::new(OnceLock::new());
                let runs = Arc::new(AtomicUsize::new(0));
                let (c2, r2) = (Arc::clone(&cell), Arc::clone(&runs));
                let t = thread::spawn(move || {
                    *c2.get_or_init(|| {
                        r2.fetch_add(1, Ordering::SeqCst);
                        round
                    })
                });
                let hs: Vec<_> = (0..4)
                    .map(|_| {
                        let (cell, runs) = (Arc::clone(&cell), Arc::clone(&runs));
                        coro::spawn(move || {
                            *cell.get_or_init(|| {
                                runs.fetch_add(1, Ordering::SeqCst);
                                coro::yield_now();
                                round
                            })
                        })
                    })
                    .collect();
                for h in hs {
                    assert_eq!(h.join().unwrap(), round);
                }
                while !t.is_finished() {
                    coro::yield_now();
                }
                assert_eq!(t.join().unwrap(), round);
                assert_eq!(runs.load(Ordering::SeqCst), 1);
            }
        });
    }
}

rt_test! {
    /// A barrier of two coroutines and a thread, many generations.
    fn barrier_rounds(rt) {
        const ROUNDS: usize = 2_000;
        let b = Arc::new(Barrier::new(3));
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || (0..ROUNDS).filter(|_| b2.wait().is_leader()).count());
        let leaders = rt.block_on(|| {
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let b = Arc::clone(&b);
                    coro::spawn(move || (0..ROUNDS).filter(|_| b.wait().is_leader()).count())
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        });
        assert_eq!(leaders + t.join().unwrap(), ROUNDS);
    }
}

rt_test! {
    /// Writers and readers among coroutines and threads, with every lock
    /// hold short, so that hand-offs and fast paths interleave.
    fn rwlock_churn(rt) {
        const ITERS: usize = 2_000;
        let lock = Arc::new(RwLock::new(0usize));
        let threads: Vec<_> = (0..2)
            .map(|i| {
                let lock = Arc::clone(&lock);
                thread::spawn(move || {
                    for j in 0..ITERS {
                        if (i + j) % 3 == 0 {
                            *lock.write() += 1;
                        } else {
                            drop(lock.read());
                        }
                    }
                })
            })
            .collect();
        rt.block_on(|| {
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    let lock = Arc::clone(&lock);
                    coro::spawn(move || {
                        for j in 0..ITERS / 4 {
                            if (i + j) % 3 == 0 {
                                *lock.write() += 1;
                            } else {
                                let g = lock.read();
                                if j % 8 == 0 {
                                    coro::yield_now();
                                }
                                drop(g);
                            }
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
        let expect_threads: usize = (0..2).map(|i| (0..ITERS).filter(|j| (i + j) % 3 == 0).count()).sum();
        let expect_coros: usize = (0..8).map(|i| (0..ITERS / 4).filter(|j| (i + j) % 3 == 0).count()).sum();
        assert_eq!(*lock.read(), expect_threads + expect_coros);
    }
}

/// A coroutine that never wakes up on its own.
fn sleep_forever() {
    coro::sleep(Duration::from_secs(86_400));
}

/// Spawns a holder (`hold` takes the resource, calls its argument to say
/// so, and sleeps holding it), queues coroutine waiters (`wait`) behind it
/// and a thread behind them, then drops the runtime: the unwound holder
/// releases, the unwound waiters pass on whatever they were handed, and the
/// thread must get through.
fn unwound_waiters_pass_on<H, W>(what: &str, hold: H, wait: W)
where
    H: Fn(&dyn Fn()) + Send + Sync + 'static,
    W: Fn() + Send + Sync + 'static,
{
    let hold = Arc::new(hold);
    let wait = Arc::new(wait);
    for workers in [1, 4] {
        let (hold, wait) = (Arc::clone(&hold), Arc::clone(&wait));
        watchdog(
            &format!("{what} ({workers} workers)"),
            WATCHDOG,
            move || {
                let rt = util::runtime(workers, "unw");
                let started = Arc::new(AtomicUsize::new(0));
                let s = Arc::clone(&started);
                rt.spawn(move || {
                    hold(&|| {
                        s.fetch_add(1, Ordering::SeqCst);
                    })
                });
                wait_until("the holder holds", || started.load(Ordering::SeqCst) == 1);
                for _ in 0..10 {
                    let (w, s) = (Arc::clone(&wait), Arc::clone(&started));
                    rt.spawn(move || {
                        s.fetch_add(1, Ordering::SeqCst);
                        w();
                        sleep_forever();
                    });
                }
                wait_until("the waiters started", || {
                    started.load(Ordering::SeqCst) == 11
                });
                let w = Arc::clone(&wait);
                let thread_waiter = thread::spawn(move || w());
                // Time to queue; the test is valid (if weaker) either way.
                thread::sleep(Duration::from_millis(20));
                drop(rt);
                thread_waiter.join().unwrap();
            },
        );
    }
}

#[test]
fn unwound_semaphore_waiters_pass_permits_on() {
    let sem = Arc::new(Semaphore::new(2));
    let (s1, s2) = (Arc::clone(&sem), Arc::clone(&sem));
    unwound_waiters_pass_on(
        "semaphore waiters unwound",
        move |holding| {
            let _all = s1.acquire_many(2);
            holding();
            sleep_forever();
        },
        move || drop(s2.acquire_many(2)),
    );
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn unwound_rwlock_waiters_pass_the_lock_on() {
    let lock = Arc::new(RwLock::new(0u32));
    let (l1, l2) = (Arc::clone(&lock), Arc::clone(&lock));
    let turn = Arc::new(AtomicUsize::new(0));
    unwound_waiters_pass_on(
        "rwlock waiters unwound",
        move |holding| {
            let _w = l1.write();
            holding();
            sleep_forever();
        },
        move || {
            // Alternate readers and writers in the queue.
            if turn.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                *l2.write() += 1;
            } else {
                drop(l2.read());
            }
        },
    );
    assert!(lock.try_write().is_some());
}
