//! `coro::Builder::unstarted`: a coroutine made now and queued later, from
//! any thread; and `coro::runtime_is_congested`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn an_unstarted_coroutine_runs_only_once_started_even_from_a_plain_thread() {
    for workers in [1, 4] {
        let rt = coro::runtime::Builder::new()
            .workers(workers)
            .build()
            .unwrap();
        let (tx, rx) = coro::chan::bounded(1);
        let ran = Arc::new(AtomicBool::new(false));
        let task = rt.block_on(|| {
            let ran = Arc::clone(&ran);
            coro::Builder::new()
                .unstarted(move || {
                    ran.store(true, Ordering::SeqCst);
                    tx.send(coro::in_coroutine()).unwrap();
                })
                .unwrap()
        });
        // Made inside the runtime, nothing queued yet: it has not run.
        rt.block_on(|| (0..10).for_each(|_| coro::yield_now()));
        assert!(!ran.load(Ordering::SeqCst));
        std::thread::spawn(move || task.start()).join().unwrap();
        assert!(rx.recv().unwrap(), "it ran as a coroutine of the runtime");
    }
}

#[test]
fn an_unstarted_coroutine_dropped_drops_its_closure_without_running_it() {
    let rt = coro::runtime::Builder::new().workers(2).build().unwrap();
    let marker = Arc::new(());
    let ran = Arc::new(AtomicBool::new(false));
    let task = {
        let (marker, ran) = (Arc::clone(&marker), Arc::clone(&ran));
        rt.block_on(move || {
            coro::Builder::new()
                .unstarted(move || {
                    let _keep = marker;
                    ran.store(true, Ordering::SeqCst);
                })
                .unwrap()
        })
    };
    assert_eq!(Arc::strong_count(&marker), 2);
    drop(task);
    assert_eq!(Arc::strong_count(&marker), 1, "the closure was dropped");
    assert!(!ran.load(Ordering::SeqCst));
}

/// The most the congesting coroutine computes without a suspension while
/// it waits for the runtime to count as congested (a few milliseconds of
/// CPU time do it).
const LONG_RUN_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn the_runtime_is_congested_during_and_after_a_long_run_and_never_outside_one() {
    assert!(!coro::runtime_is_congested(), "outside a coroutine");
    let rt = coro::runtime::Builder::new().workers(1).build().unwrap();
    rt.block_on(|| {
        let start = Instant::now();
        while !coro::runtime_is_congested() && start.elapsed() < LONG_RUN_LIMIT {
            std::hint::spin_loop();
        }
        assert!(coro::runtime_is_congested(), "during the long run");
        coro::yield_now();
        assert!(coro::runtime_is_congested(), "just after it");
    });
}
