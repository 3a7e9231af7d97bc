//! `coro::sync::OnceLock` and `LazyLock`: one initializer among many
//! concurrent callers, who park meanwhile; retry after a panic.

mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro::sync::{LazyLock, OnceLock};
use util::{rt_test, wait_until};

rt_test! {
    /// A hundred coroutines and a thread ask at once; the initializer,
    /// which suspends midway, runs once and everyone sees its value.
    fn one_initializer_among_a_hundred(rt) {
        const CALLERS: usize = 100;
        let cell = Arc::new(OnceLock::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let init = |runs: Arc<AtomicUsize>| {
            move || {
                runs.fetch_add(1, Ordering::SeqCst);
                // Park inside the initializer, so the others really wait.
                coro::sleep(Duration::from_millis(5));
                String::from("ready")
            }
        };
        let (c2, r2) = (Arc::clone(&cell), Arc::clone(&runs));
        let t = thread::spawn(move || c2.get_or_init(init(r2)).clone());
        rt.block_on(|| {
            let hs: Vec<_> = (0..CALLERS)
                .map(|_| {
                    let (cell, runs) = (Arc::clone(&cell), Arc::clone(&runs));
                    coro::spawn(move || cell.get_or_init(init(runs)).clone())
                })
                .collect();
            for h in hs {
                assert_eq!(h.join().unwrap(), "ready");
            }
        });
        assert_eq!(t.join().unwrap(), "ready");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(cell.get().map(String::as_str), Some("ready"));
    }
}

rt_test! {
    /// The first initializer panics while others wait; one of them
    /// initializes instead, and every caller but the first gets the value.
    fn a_panicking_initializer_lets_another_retry(rt) {
        const CALLERS: usize = 20;
        let cell = Arc::new(OnceLock::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let entered = Arc::new(AtomicUsize::new(0));
        rt.block_on(|| {
            let first = {
                let (cell, runs) = (Arc::clone(&cell), Arc::clone(&runs));
                coro::spawn(move || {
                    *cell.get_or_init(|| {
                        runs.fetch_add(1, Ordering::SeqCst);
                        coro::sleep(Duration::from_millis(10));
                        panic!("first initializer fails")
                    })
                })
            };
            wait_until("the first initializer runs", || runs.load(Ordering::SeqCst) == 1);
            let others: Vec<_> = (0..CALLERS)
                .map(|i| {
                    let (cell, runs, entered) = (cell.clone(), runs.clone(), entered.clone());
                    coro::spawn(move || {
                        entered.fetch_add(1, Ordering::SeqCst);
                        *cell.get_or_init(|| {
                            runs.fetch_add(1, Ordering::SeqCst);
                            i
                        })
                    })
                })
                .collect();
            let err = first.join().unwrap_err();
            assert!(err.is_panic());
            let values: Vec<usize> = others.into_iter().map(|h| h.join().unwrap()).collect();
            assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
        });
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(entered.load(Ordering::SeqCst), CALLERS);
    }
}

rt_test! {
    /// `set` loses to a finished initialization, `get_or_try_init` errors
    /// leave the cell open, and a thread blocks on a coroutine's
    /// initializer.
    fn set_and_try_init(rt) {
        let cell = Arc::new(OnceLock::new());
        rt.block_on(|| {
            assert_eq!(cell.get_or_try_init(|| Err::<u32, _>("not yet")), Err("not yet"));
            assert!(cell.get().is_none());
            let c2 = Arc::clone(&cell);
            let init = coro::spawn(move || {
                *c2.get_or_init(|| {
                    coro::sleep(Duration::from_millis(5));
                    7
                })
            });
            wait_until("initializing", || !init.is_finished());
            assert_eq!(init.join().unwrap(), 7);
            assert_eq!(cell.set(8), Err(8));
        });
        let c2 = Arc::clone(&cell);
        assert_eq!(thread::spawn(move || *c2.get_or_init(|| 9)).join().unwrap(), 7);
    }
}

static TABLE: LazyLock<Vec<u64>> = LazyLock::new(|| {
    coro::sleep(Duration::from_millis(2));
    (0..100).map(|i| i * i).collect()
});

rt_test! {
    /// A `static` `LazyLock` forced by many coroutines at once.
    fn lazy_static_from_many_coroutines(rt) {
        let sums: Vec<u64> = rt.block_on(|| {
            let hs: Vec<_> = (0..50).map(|_| coro::spawn(|| TABLE.iter().sum::<u64>())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(sums.iter().all(|&s| s == 328_350));
        let r = panic::catch_unwind(AssertUnwindSafe(|| LazyLock::force(&TABLE).len()));
        assert_eq!(r.unwrap(), 100);
    }
}
