//! `coro::sync::WaitGroup`: Go's `Add`/`Done`/`Wait` across many
//! coroutines and threads, reuse, and the negative-counter panic.

mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro::sync::WaitGroup;
use util::rt_test;

rt_test! {
    /// Ten thousand coroutines each `done()` once; a coroutine and a thread
    /// wait for all of them.
    fn ten_thousand_coroutines(rt) {
        const N: usize = 10_000;
        let wg = Arc::new(WaitGroup::new());
        let finished = Arc::new(AtomicUsize::new(0));
        wg.add(N as isize);
        let (w2, f2) = (Arc::clone(&wg), Arc::clone(&finished));
        let thread_waiter = thread::spawn(move || {
            w2.wait();
            f2.load(Ordering::SeqCst)
        });
        rt.block_on(|| {
            for i in 0..N {
                let (wg, finished) = (Arc::clone(&wg), Arc::clone(&finished));
                coro::spawn(move || {
                    if i % 7 == 0 {
                        coro::yield_now();
                    }
                    finished.fetch_add(1, Ordering::SeqCst);
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(finished.load(Ordering::SeqCst), N);
        });
        assert_eq!(thread_waiter.join().unwrap(), N);
        assert_eq!(wg.count(), 0);
    }
}

rt_test! {
    /// One group, many rounds: each round's waiters (coroutines and a
    /// thread) wake only when that round's work is done.
    fn reuse_across_rounds(rt) {
        const ROUNDS: usize = 100;
        const WORKERS: usize = 8;
        let wg = Arc::new(WaitGroup::new());
        let done_in_round = Arc::new(AtomicUsize::new(0));
        rt.block_on(|| {
            for _ in 0..ROUNDS {
                done_in_round.store(0, Ordering::SeqCst);
                wg.add(WORKERS as isize);
                let waiters: Vec<_> = (0..3)
                    .map(|_| {
                        let (wg, d) = (wg.clone(), done_in_round.clone());
                        coro::spawn(move || {
                            wg.wait();
                            d.load(Ordering::SeqCst)
                        })
                    })
                    .collect();
                let (w2, d2) = (wg.clone(), done_in_round.clone());
                let thread_waiter = thread::spawn(move || {
                    w2.wait();
                    d2.load(Ordering::SeqCst)
                });
                for _ in 0..WORKERS {
                    let (wg, d) = (wg.clone(), done_in_round.clone());
                    coro::spawn(move || {
                        coro::yield_now();
                        d.fetch_add(1, Ordering::SeqCst);
                        wg.done();
                    });
                }
                for w in waiters {
                    assert_eq!(w.join().unwrap(), WORKERS);
                }
                wg.wait();
                // Join the thread without blocking the worker for long.
                while !thread_waiter.is_finished() {
                    coro::sleep(Duration::from_micros(100));
                }
                assert_eq!(thread_waiter.join().unwrap(), WORKERS);
            }
        });
    }
}

rt_test! {
    /// A counter that would go negative panics and is left unchanged.
    fn negative_counter_panics(rt) {
        let wg = WaitGroup::new();
        rt.block_on(|| {
            let r = panic::catch_unwind(AssertUnwindSafe(|| wg.done()));
            let payload = r.unwrap_err();
            assert!(util::panic_message(&*payload).contains("negative"));
            wg.add(2);
            let r = panic::catch_unwind(AssertUnwindSafe(|| wg.add(-3)));
            assert!(r.is_err());
            assert_eq!(wg.count(), 2);
            wg.add(-2);
            wg.wait();
        });
    }
}
