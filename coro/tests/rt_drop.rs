//! Stopping a runtime: suspended coroutines are unwound (their destructors
//! run) and their joiners told they were cancelled; never-started ones are
//! cancelled; `block_on`.

mod util;

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use coro::{JoinError, JoinHandle, Runtime};
use util::{panic_message, rt_test, wait_until};

/// Forever, as far as a test is concerned.
const HOUR: Duration = Duration::from_secs(3600);

/// Counts its drops.
struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn assert_cancelled<T: std::fmt::Debug>(h: JoinHandle<T>) {
    let err: JoinError = h.join().expect_err("the coroutine cannot have finished");
    assert!(err.is_cancelled(), "{err:?}");
    assert!(!err.is_panic());
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert!(err.try_into_panic().is_err());
}

rt_test! {
    fn dropping_the_runtime_unwinds_suspended_coroutines(rt) {
        const EACH: usize = 40;
        let dropped = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for i in 0..EACH {
            // Parked in a long sleep, in an endless one, in a join, or
            // runnable (yielding in a loop) when the runtime stops.
            let (d, s) = (Arc::clone(&dropped), Arc::clone(&started));
            handles.push(rt.spawn(move || {
                let _g = Guard(d);
                s.fetch_add(1, Ordering::SeqCst);
                coro::sleep(HOUR);
            }));
            let (d, s) = (Arc::clone(&dropped), Arc::clone(&started));
            handles.push(rt.spawn(move || {
                let _g = Guard(d);
                s.fetch_add(1, Ordering::SeqCst);
                coro::sleep(Duration::MAX);
            }));
            let (d, s) = (Arc::clone(&dropped), Arc::clone(&started));
            handles.push(rt.spawn(move || {
                let _g = Guard(d);
                let inner = coro::spawn(|| coro::sleep(HOUR));
                s.fetch_add(1, Ordering::SeqCst);
                inner.join().unwrap();
            }));
            if i % 4 == 0 {
                let (d, s) = (Arc::clone(&dropped), Arc::clone(&started));
                handles.push(rt.spawn(move || {
                    let _g = Guard(d);
                    s.fetch_add(1, Ordering::SeqCst);
                    loop {
                        coro::yield_now();
                    }
                }));
            }
        }
        let n = handles.len();
        wait_until("every coroutine started", || started.load(Ordering::SeqCst) == n);
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        drop(rt);
        assert_eq!(dropped.load(Ordering::SeqCst), n, "destructors of suspended coroutines ran");
        for h in handles {
            assert_cancelled(h);
        }
    }
}

rt_test! {
    fn a_thread_blocked_in_join_is_told_of_the_cancellation(rt) {
        let started = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&started);
        let h = rt.spawn(move || {
            s.store(true, Ordering::SeqCst);
            coro::sleep(HOUR);
        });
        let joiner = thread::spawn(move || h.join().map_err(|e| e.is_cancelled()));
        wait_until("the coroutine started", || started.load(Ordering::SeqCst));
        drop(rt);
        assert_eq!(joiner.join().unwrap(), Err(true));
    }
}

#[test]
fn never_started_coroutines_are_cancelled() {
    util::watchdog("never-started coroutines", util::WATCHDOG, || {
        // One worker, kept busy by a coroutine that does not suspend until
        // the runtime has begun to stop, so nothing else can start.
        let rt = util::runtime(1, "busy");
        let dropped = Arc::new(AtomicUsize::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let (d, r) = (Arc::clone(&dropped), Arc::clone(&ready));
        let busy = rt.spawn(move || {
            // Spawned by a coroutine: into the worker's own queue.
            let local: Vec<JoinHandle<()>> = (0..50)
                .map(|_| {
                    let g = Guard(Arc::clone(&d));
                    coro::spawn(move || drop(g))
                })
                .collect();
            r.store(true, Ordering::SeqCst);
            // Blocks the worker (deliberately) until a spawn is cancelled
            // on the spot, which it is once the runtime stops.
            loop {
                let probe = coro::spawn(|| ());
                if probe.is_finished() {
                    assert!(probe.join().unwrap_err().is_cancelled());
                    break;
                }
                thread::yield_now();
            }
            let _g = Guard(d);
            coro::sleep(HOUR);
            local
        });
        wait_until("the busy coroutine spawned its children", || {
            ready.load(Ordering::SeqCst)
        });
        // Spawned by a plain thread: into the injector.
        let injected: Vec<JoinHandle<()>> = (0..50)
            .map(|_| {
                let g = Guard(Arc::clone(&dropped));
                rt.spawn(move || drop(g))
            })
            .collect();
        drop(rt);
        // 100 closures dropped unrun, plus the busy coroutine's guard.
        assert_eq!(dropped.load(Ordering::SeqCst), 101);
        assert_cancelled(busy);
        for h in injected {
            assert_cancelled(h);
        }
    });
}

#[test]
fn a_spawn_while_stopping_is_cancelled_on_the_spot() {
    util::watchdog("spawn during shutdown", util::WATCHDOG, || {
        // A destructor that runs during the unwind spawns: the spawn must
        // not be lost in a queue nobody drains any more.
        struct SpawnOnDrop(Arc<Mutex<Option<bool>>>);
        impl Drop for SpawnOnDrop {
            fn drop(&mut self) {
                let h = coro::spawn(|| 1);
                let cancelled = h.is_finished() && h.join().is_err_and(|e| e.is_cancelled());
                *self.0.lock().unwrap() = Some(cancelled);
            }
        }
        let rt = util::runtime(2, "stopping");
        let seen = Arc::new(Mutex::new(None));
        let started = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&seen), Arc::clone(&started));
        let h = rt.spawn(move || {
            let _g = SpawnOnDrop(s);
            st.store(true, Ordering::SeqCst);
            coro::sleep(HOUR);
        });
        wait_until("the coroutine started", || started.load(Ordering::SeqCst));
        drop(rt);
        assert_eq!(*seen.lock().unwrap(), Some(true));
        assert_cancelled(h);
    });
}

rt_test! {
    fn scope_children_are_unwound_before_their_owner(rt) {
        // The children borrow the owner's stack, so the owner may only be
        // unwound once they are gone; when they unwind, the owner's data
        // must still be there.
        struct Child<'a> {
            owner: &'a [u64; 32],
            log: &'a Mutex<Vec<&'static str>>,
        }
        impl Drop for Child<'_> {
            fn drop(&mut self) {
                let intact = self.owner.iter().all(|&w| w == 0xC0FFEE);
                self.log.lock().unwrap().push(if intact { "child" } else { "child saw garbage" });
            }
        }
        struct Owner(Arc<Mutex<Vec<&'static str>>>);
        impl Drop for Owner {
            fn drop(&mut self) {
                self.0.lock().unwrap().push("owner");
            }
        }

        let log = Arc::new(Mutex::new(Vec::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let (l, s) = (Arc::clone(&log), Arc::clone(&started));
        let h = rt.spawn(move || {
            let _owner = Owner(Arc::clone(&l));
            let data = black_box([0xC0FFEEu64; 32]);
            let (data, log, started) = (&data, &*l, &*s);
            coro::scope(|sc| {
                for _ in 0..10 {
                    sc.spawn(move || {
                        let _c = Child { owner: data, log };
                        started.fetch_add(1, Ordering::SeqCst);
                        coro::sleep(HOUR);
                    });
                }
            });
        });
        wait_until("all children started", || started.load(Ordering::SeqCst) == 10);
        drop(rt);
        let log = log.lock().unwrap().clone();
        let mut want = vec!["child"; 10];
        want.push("owner");
        assert_eq!(log, want);
        assert_cancelled(h);
    }
}

rt_test! {
    fn block_on_returns_the_value_and_borrows(rt) {
        assert_eq!(rt.block_on(|| 6 * 7), 42);
        let mut v = vec![1, 2, 3];
        let local = 10;
        rt.block_on(|| {
            coro::yield_now();
            v.push(local);
        });
        assert_eq!(v, [1, 2, 3, 10]);
        let s = String::from("borrowed");
        assert_eq!(rt.block_on(|| s.len()), 8);
        // From inside one of its own coroutines, it parks instead of
        // blocking the worker.
        let rt = &rt;
        let x = rt.block_on(|| {
            let y = 5;
            rt.block_on(|| y + 1)
        });
        assert_eq!(x, 6);
    }
}

rt_test! {
    fn block_on_propagates_panics(rt) {
        let in_block_on = || rt.block_on(|| -> u32 { panic!("in block_on") });
        let err = panic::catch_unwind(AssertUnwindSafe(in_block_on)).unwrap_err();
        assert_eq!(panic_message(&*err), "in block_on");
        let err = panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(|| coro::spawn(|| panic!("nested")).join().unwrap())
        }))
        .unwrap_err();
        assert!(panic_message(&*err).contains("nested"), "{}", panic_message(&*err));
        // Still usable.
        assert_eq!(rt.block_on(|| 1), 1);
    }
}

/// Coroutines suspended in [`dropping_with_shared_stacks`].
const SUSPENDED: usize = 500;

/// Drops a runtime whose workers have one mapped stack each while hundreds
/// of coroutines are suspended: most are copied out, and each must be copied
/// back to be unwound. Their destructors check their own stack data.
fn dropping_with_shared_stacks(workers: usize) {
    struct Check<'a> {
        id: u64,
        mine: &'a [u64; 32],
        ok: Arc<AtomicUsize>,
        bad: Arc<AtomicUsize>,
    }
    impl Drop for Check<'_> {
        fn drop(&mut self) {
            let counter = if self.mine.iter().all(|&w| w == self.id) {
                &self.ok
            } else {
                &self.bad
            };
            counter.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .resident_stacks(1)
        .thread_name(format!("evict{workers}"))
        .build()
        .unwrap();
    let ok = Arc::new(AtomicUsize::new(0));
    let bad = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..SUSPENDED as u64)
        .map(|id| {
            let (ok, bad, started) = (Arc::clone(&ok), Arc::clone(&bad), Arc::clone(&started));
            rt.spawn(move || {
                let mine = black_box([id; 32]);
                let _c = Check {
                    id,
                    mine: &mine,
                    ok,
                    bad,
                };
                started.fetch_add(1, Ordering::SeqCst);
                coro::sleep(HOUR);
            })
        })
        .collect();
    wait_until("every coroutine started", || {
        started.load(Ordering::SeqCst) == SUSPENDED
    });
    drop(rt);
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "unwound coroutines saw corrupted stacks"
    );
    assert_eq!(ok.load(Ordering::SeqCst), SUSPENDED);
    for h in handles {
        assert_cancelled(h);
    }
}

#[test]
fn dropping_with_shared_stacks_one_worker() {
    util::watchdog("drop with shared stacks, 1 worker", util::WATCHDOG, || {
        dropping_with_shared_stacks(1)
    });
}

#[test]
fn dropping_with_shared_stacks_four_workers() {
    util::watchdog("drop with shared stacks, 4 workers", util::WATCHDOG, || {
        dropping_with_shared_stacks(4)
    });
}

#[test]
fn an_idle_runtime_drops_promptly() {
    util::watchdog("idle drop", util::WATCHDOG, || {
        for workers in util::WORKER_COUNTS {
            drop(util::runtime(workers, "idle"));
            let rt = Runtime::new().unwrap();
            assert_eq!(rt.block_on(|| 2), 2);
            drop(rt);
        }
    });
}

rt_test! {
    fn a_runtime_can_be_dropped_from_another_runtimes_coroutine(rt) {
        let inner = util::runtime(2, "inner");
        let started = Arc::new(AtomicBool::new(false));
        let s = Arc::clone(&started);
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = Arc::clone(&dropped);
        let h = inner.spawn(move || {
            let _g = Guard(d);
            s.store(true, Ordering::SeqCst);
            coro::sleep(HOUR);
        });
        wait_until("the inner coroutine started", || started.load(Ordering::SeqCst));
        rt.spawn(move || drop(inner)).join().unwrap();
        assert_eq!(dropped.load(Ordering::SeqCst), 1);
        assert_cancelled(h);
    }
}

/// Drops a runtime from one of its own coroutines, which `Runtime::drop`
/// says it supports: "Dropped from one of its own coroutines: that worker
/// finishes the protocol on its own once the coroutine suspends."
fn drop_from_own_coroutine(workers: usize) {
    let rt = util::runtime(workers, "selfdrop");
    let dropped = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicBool::new(false));
    let (d, s) = (Arc::clone(&dropped), Arc::clone(&started));
    let sleeper = rt.spawn(move || {
        let _g = Guard(d);
        s.store(true, Ordering::SeqCst);
        coro::sleep(HOUR);
    });
    wait_until("the sleeper started", || started.load(Ordering::SeqCst));
    let done = Arc::new(AtomicBool::new(false));
    let slot: Arc<Mutex<Option<Runtime>>> = Arc::new(Mutex::new(None));
    let (dn, sl) = (Arc::clone(&done), Arc::clone(&slot));
    let h = rt.spawn(move || {
        wait_until("the runtime was handed over", || {
            sl.lock().unwrap().is_some()
        });
        let rt = sl.lock().unwrap().take();
        drop(rt);
        dn.store(true, Ordering::SeqCst);
    });
    *slot.lock().unwrap() = Some(rt);
    wait_until("the drop inside the coroutine returned", || {
        done.load(Ordering::SeqCst)
    });
    wait_until("the sleeper was unwound", || {
        dropped.load(Ordering::SeqCst) == 1
    });
    assert_cancelled(sleeper);
    h.join().unwrap();
}

#[test]
fn a_runtime_can_be_dropped_from_its_own_coroutine_one_worker() {
    util::watchdog(
        "drop from its own coroutine, 1 worker",
        util::WATCHDOG,
        || drop_from_own_coroutine(1),
    );
}

/// Known bug: with more than one worker this deadlocks. `Runtime::drop`
/// (runtime.rs) joins every other worker thread from the coroutine's
/// worker, while those workers wait in `wait_for_all(&shared.stopped, ..)`
/// (scheduler/worker.rs, shutdown step 1) for every worker to stop, the
/// dropping worker included, which never gets there.
#[test]
fn a_runtime_can_be_dropped_from_its_own_coroutine_four_workers() {
    util::watchdog(
        "drop from its own coroutine, 4 workers",
        util::WATCHDOG,
        || drop_from_own_coroutine(4),
    );
}

/// `shutdown_timeout` returns though a coroutine computes without
/// suspending, leaves its worker to it, and the worker still finishes the
/// shutdown (unwinds or cancels the others) once the coroutine returns.
fn shutdown_timeout_leaves_a_computing_worker(workers: usize) {
    let rt = util::runtime(workers, "timeout");
    let (started, release, finished) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (s, r, f) = (
        Arc::clone(&started),
        Arc::clone(&release),
        Arc::clone(&finished),
    );
    let _computing = rt.spawn(move || {
        s.store(true, Ordering::SeqCst);
        while !r.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        f.store(true, Ordering::SeqCst);
    });
    let dropped = Arc::new(AtomicUsize::new(0));
    // Made here, so that it is dropped whether the sleeper is unwound or,
    // never started (one worker), cancelled.
    let guard = Guard(Arc::clone(&dropped));
    let _sleeper = rt.spawn(move || {
        let _g = guard;
        coro::sleep(HOUR);
    });
    wait_until("the computing coroutine started", || {
        started.load(Ordering::SeqCst)
    });
    assert!(
        !rt.shutdown_timeout(Duration::from_millis(50)),
        "a worker cannot have stopped inside the computation"
    );
    assert!(
        !finished.load(Ordering::SeqCst),
        "shutdown_timeout returned only after the computation"
    );
    release.store(true, Ordering::SeqCst);
    wait_until("the computation finished", || {
        finished.load(Ordering::SeqCst)
    });
    wait_until("the sleeper was unwound or cancelled", || {
        dropped.load(Ordering::SeqCst) == 1
    });
}

#[test]
fn shutdown_timeout_leaves_a_computing_worker_one_worker() {
    util::watchdog("shutdown_timeout, 1 worker", util::WATCHDOG, || {
        shutdown_timeout_leaves_a_computing_worker(1)
    });
}

#[test]
fn shutdown_timeout_leaves_a_computing_worker_four_workers() {
    util::watchdog("shutdown_timeout, 4 workers", util::WATCHDOG, || {
        shutdown_timeout_leaves_a_computing_worker(4)
    });
}

#[test]
fn shutdown_timeout_of_an_idle_runtime_stops_everything() {
    util::watchdog("idle shutdown_timeout", util::WATCHDOG, || {
        for workers in util::WORKER_COUNTS {
            let rt = util::runtime(workers, "idle-timeout");
            assert_eq!(rt.block_on(|| 2), 2);
            assert!(rt.shutdown_timeout(util::WATCHDOG));
        }
    });
}

#[test]
fn a_catch_unwind_can_tell_the_runtime_s_unwind_from_a_panic() {
    util::watchdog("is_cancelling", util::WATCHDOG, || {
        let rt = util::runtime(1, "cancelling");
        // What `is_cancelling` said: in a plain run, after a plain panic
        // was caught, and after the runtime's unwind was caught.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let started = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&started);
        let h = rt.spawn(move || {
            s.lock().unwrap().push(("running", coro::is_cancelling()));
            let caught = panic::catch_unwind(|| panic::resume_unwind(Box::new("plain")));
            assert!(caught.is_err());
            s.lock().unwrap().push(("a panic", coro::is_cancelling()));
            st.store(true, Ordering::SeqCst);
            let caught = panic::catch_unwind(AssertUnwindSafe(|| coro::sleep(HOUR)));
            let unwind = caught.expect_err("only the runtime's unwind ends the sleep");
            s.lock()
                .unwrap()
                .push(("the runtime's unwind", coro::is_cancelling()));
            panic::resume_unwind(unwind)
        });
        wait_until("the coroutine sleeps", || started.load(Ordering::SeqCst));
        drop(rt);
        assert_cancelled(h);
        assert!(!coro::is_cancelling(), "a plain thread is never cancelling");
        assert_eq!(
            *seen.lock().unwrap(),
            [
                ("running", false),
                ("a panic", false),
                ("the runtime's unwind", true)
            ]
        );
    });
}
