//! `coro::sync::Semaphore`: it bounds concurrency, returns permits on drop
//! (also when unwinding), times out, and serves a large request in turn.

mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use coro::sync::Semaphore;
use util::{rt_test, wait_until};

/// Runs `f` counted in `inside`, recording the most ever inside at once in
/// `max`.
fn counted(inside: &AtomicUsize, max: &AtomicUsize, f: impl FnOnce()) {
    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
    max.fetch_max(now, Ordering::SeqCst);
    f();
    inside.fetch_sub(1, Ordering::SeqCst);
}

rt_test! {
    /// Never more holders than permits, from coroutines and threads; and
    /// with holders that suspend, the limit is reached.
    fn limits_concurrency(rt) {
        const PERMITS: usize = 3;
        let sem = Arc::new(Semaphore::new(PERMITS));
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (sem, inside, max) = (sem.clone(), inside.clone(), max.clone());
                thread::spawn(move || {
                    for _ in 0..50 {
                        let _p = sem.acquire();
                        counted(&inside, &max, thread::yield_now);
                    }
                })
            })
            .collect();
        rt.block_on(|| {
            let hs: Vec<_> = (0..50)
                .map(|_| {
                    let (sem, inside, max) = (sem.clone(), inside.clone(), max.clone());
                    coro::spawn(move || {
                        for _ in 0..10 {
                            let _p = sem.acquire();
                            counted(&inside, &max, || coro::sleep(Duration::from_micros(200)));
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
        assert_eq!(max.load(Ordering::SeqCst), PERMITS);
        assert_eq!(sem.available_permits(), PERMITS);
    }
}

rt_test! {
    /// Permits come back when dropped, when their holder panics, and when
    /// an owned permit moved into a coroutine goes out of scope there.
    fn raii_release_and_try_acquire(rt) {
        let sem = Arc::new(Semaphore::new(2));
        rt.block_on(|| {
            let p = sem.acquire();
            let q = sem.try_acquire().expect("a second permit");
            assert!(sem.try_acquire().is_none());
            drop(p);
            assert_eq!(sem.available_permits(), 1);
            drop(q);

            let s2 = Arc::clone(&sem);
            let err = coro::spawn(move || {
                let _p = s2.acquire_many(2);
                panic!("holder fails");
            })
            .join()
            .unwrap_err();
            assert!(err.is_panic());
            assert_eq!(sem.available_permits(), 2);

            let owned = Arc::clone(&sem).acquire_owned();
            assert_eq!(sem.available_permits(), 1);
            coro::spawn(move || drop(owned)).join().unwrap();
            assert_eq!(sem.available_permits(), 2);
            assert!(Arc::clone(&sem).try_acquire_owned().is_some());
        });
        assert_eq!(sem.available_permits(), 2);
        let r = panic::catch_unwind(AssertUnwindSafe(|| {
            let _p = sem.acquire();
            panic!("thread holder fails");
        }));
        assert!(r.is_err());
        assert_eq!(sem.available_permits(), 2);
    }
}

rt_test! {
    /// `acquire_timeout` gives up after (at least) its timeout, and leaves
    /// the queue as it found it.
    fn acquire_timeout_times_out(rt) {
        const TIMEOUT: Duration = Duration::from_millis(20);
        let sem = Arc::new(Semaphore::new(1));
        rt.block_on(|| {
            let held = sem.acquire();
            let start = Instant::now();
            assert!(sem.acquire_timeout(TIMEOUT).is_none());
            assert!(start.elapsed() >= TIMEOUT);
            drop(held);
            assert!(sem.acquire_timeout(TIMEOUT).is_some());
            // Served in time: no timeout.
            let held = sem.acquire();
            let s2 = Arc::clone(&sem);
            let h = coro::spawn(move || s2.acquire_timeout(Duration::from_secs(600)).is_some());
            coro::sleep(Duration::from_millis(2));
            drop(held);
            assert!(h.join().unwrap());
        });
        let _held = sem.acquire();
        let start = Instant::now();
        assert!(sem.acquire_timeout(TIMEOUT).is_none());
        assert!(start.elapsed() >= TIMEOUT);
    }
}

rt_test! {
    /// A request for all permits, made while small requests keep cycling,
    /// is still served: later small requests queue behind it.
    fn a_large_request_is_not_starved(rt) {
        const PERMITS: usize = 5;
        let sem = Arc::new(Semaphore::new(PERMITS));
        let stop = Arc::new(AtomicBool::new(false));
        rt.block_on(|| {
            let small: Vec<_> = (0..10)
                .map(|_| {
                    let (sem, stop) = (sem.clone(), stop.clone());
                    coro::spawn(move || {
                        let mut n = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let _p = sem.acquire();
                            coro::yield_now();
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            coro::sleep(Duration::from_millis(2));
            for _ in 0..5 {
                let all = sem.acquire_many(PERMITS);
                assert_eq!(all.num_permits(), PERMITS);
                drop(all);
                coro::yield_now();
            }
            stop.store(true, Ordering::Relaxed);
            for h in small {
                h.join().unwrap();
            }
        });
        assert_eq!(sem.available_permits(), PERMITS);
    }
}

rt_test! {
    /// `add_permits` wakes as many queued requests as it satisfies, in
    /// order; a thread and coroutines wait together.
    fn add_permits_wakes_waiters(rt) {
        let sem = Arc::new(Semaphore::new(0));
        let got = Arc::new(AtomicUsize::new(0));
        let (s2, g2) = (Arc::clone(&sem), Arc::clone(&got));
        let t = thread::spawn(move || {
            s2.acquire().forget();
            g2.fetch_add(1, Ordering::SeqCst);
        });
        rt.block_on(|| {
            let hs: Vec<_> = (0..20)
                .map(|_| {
                    let (sem, got) = (sem.clone(), got.clone());
                    coro::spawn(move || {
                        sem.acquire().forget();
                        got.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            coro::sleep(Duration::from_millis(2));
            assert_eq!(got.load(Ordering::SeqCst), 0);
            sem.add_permits(10);
            wait_until("ten served", || got.load(Ordering::SeqCst) == 10);
            sem.add_permits(11);
            for h in hs {
                h.join().unwrap();
            }
        });
        t.join().unwrap();
        assert_eq!(got.load(Ordering::SeqCst), 21);
        assert_eq!(sem.available_permits(), 0);
    }
}
