//! Panics where the runtime does not expect them (issue 14, section B).
//!
//! Each scenario runs in a child process (see `util::child_test!`), under 1
//! and 4 workers, with the default resident-stack budget and with a budget
//! of one: a dead worker, a segfault or an abort then fails one test, not
//! the binary. A scenario either runs correctly or must abort with a
//! message that names the rule it broke.

mod util;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use util::{child_test, wait_until, Expect};

/// Words of the pattern a coroutine keeps on its stack across a suspension.
const PATTERN_WORDS: usize = 512;

/// Counts its drops, then panics.
struct PanicOnDrop(&'static AtomicUsize);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("PanicOnDrop dropped");
    }
}

/// A logger that keeps the error messages, or panics on the first one.
struct TestLogger {
    panic_on_error: bool,
    errors: Mutex<Vec<String>>,
}

impl log::Log for TestLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Error
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() != log::Level::Error {
            return;
        }
        if self.panic_on_error {
            panic!("the logger panicked");
        }
        self.errors.lock().unwrap().push(record.args().to_string());
    }

    fn flush(&self) {}
}

/// Installs a logger for this (child) process.
fn install_logger(logger: &'static TestLogger) {
    log::set_logger(logger).expect("one logger per child process");
    log::set_max_level(log::LevelFilter::Error);
}

/// Spawns, on every worker, a coroutine whose result panics when dropped,
/// detaches it before it completes (so its worker drops the result), and
/// waits until every result was dropped. In a coroutine.
fn drop_panicking_results_on_every_worker(workers: usize, drops: &'static AtomicUsize) {
    for w in 0..workers {
        let (tx, rx) = coro::chan::bounded::<()>(1);
        let detached = coro::Builder::new()
            .worker(w)
            .spawn(move || {
                rx.recv().unwrap();
                PanicOnDrop(drops)
            })
            .unwrap();
        drop(detached);
        tx.send(()).unwrap();
    }
    wait_until("every detached result was dropped", || {
        drops.load(Ordering::SeqCst) == workers
    });
}

fn fill(seed: u64) -> [u64; PATTERN_WORDS] {
    std::array::from_fn(|i| seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64)
}

// Item 4: a detached coroutine's result whose `Drop` panics is dropped by
// the worker (`run_task` -> `TaskRef::release`). The worker must log it and
// go on: every coroutine suspended on it survives with its stack intact,
// and new ones run.
child_test! {
    fn detached_output_drop_panics_on_the_worker(rt) expect Expect::Success; {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        static LOGGER: TestLogger = TestLogger {
            panic_on_error: false,
            errors: Mutex::new(Vec::new()),
        };
        install_logger(&LOGGER);
        let workers = rt.workers();
        rt.block_on(|| {
            let mut survivors = Vec::new();
            let mut wake_survivors = Vec::new();
            for w in 0..workers {
                let (tx, rx) = coro::chan::bounded::<()>(1);
                wake_survivors.push(tx);
                survivors.push(
                    coro::Builder::new()
                        .worker(w)
                        .spawn(move || {
                            let mine = fill(w as u64 + 1);
                            rx.recv().unwrap();
                            assert_eq!(mine, fill(w as u64 + 1), "a survivor's stack changed");
                            w
                        })
                        .unwrap(),
                );
            }
            drop_panicking_results_on_every_worker(workers, &DROPS);
            for tx in wake_survivors {
                tx.send(()).unwrap();
            }
            for (w, h) in survivors.into_iter().enumerate() {
                assert_eq!(h.join().unwrap(), w);
            }
            for w in 0..workers {
                let h = coro::Builder::new().worker(w).spawn(move || w * 2).unwrap();
                assert_eq!(h.join().unwrap(), w * 2);
            }
        });
        drop(rt);
        let errors = LOGGER.errors.lock().unwrap();
        assert_eq!(errors.len(), workers, "one error logged per drop: {errors:?}");
        assert!(errors.iter().all(|e| e.contains("PanicOnDrop dropped")), "{errors:?}");
    }
}

// Item 4: the report of a destructor's panic is guarded too. Here the
// logger that reports it panics as well; the result may be dropped on a
// worker outside any coroutine, or wherever its last reference goes (a
// channel's wait list inside another coroutine), and neither place may
// unwind. The runtime carries on: every result is dropped, the coroutines
// that wait meanwhile keep their stacks, and new ones run on every worker.
child_test! {
    fn a_panicking_logger_unwinds_nothing(rt) expect Expect::Success; {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        static LOGGER: TestLogger = TestLogger {
            panic_on_error: true,
            errors: Mutex::new(Vec::new()),
        };
        install_logger(&LOGGER);
        let workers = rt.workers();
        rt.block_on(|| {
            let (tx, rx) = coro::chan::bounded::<()>(0);
            let waiting = coro::spawn(move || {
                let mine = fill(7);
                rx.recv().unwrap();
                assert_eq!(mine, fill(7), "a waiting coroutine's stack changed");
            });
            drop_panicking_results_on_every_worker(workers, &DROPS);
            tx.send(()).unwrap();
            waiting.join().unwrap();
            for w in 0..workers {
                let h = coro::Builder::new().worker(w).spawn(move || w + 1).unwrap();
                assert_eq!(h.join().unwrap(), w + 1);
            }
        });
        drop(rt);
    }
}

// Item 4: never-started closures whose `Drop` panics, cancelled by the
// workers when the runtime stops (`cancel_unstarted`). `Runtime::drop` must
// return, having dropped every one of them.
child_test! {
    fn unstarted_closure_drop_panics_at_shutdown(rt) expect Expect::Success; {
        /// Never-started coroutines left to cancel.
        const UNSTARTED: usize = 16;
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        static BLOCKING: AtomicUsize = AtomicUsize::new(0);
        let workers = rt.workers();
        for w in 0..workers {
            // Hold every worker without suspending until the runtime stops
            // (a spawn is then cancelled on the spot), so that the closures
            // below never start.
            let blocker = coro::Builder::new()
                .worker(w)
                .spawn_on(&rt, || {
                    BLOCKING.fetch_add(1, Ordering::SeqCst);
                    loop {
                        let probe = coro::spawn(|| ());
                        if probe.is_finished() {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
                .unwrap();
            drop(blocker);
        }
        wait_until("every worker is held", || BLOCKING.load(Ordering::SeqCst) == workers);
        for _ in 0..UNSTARTED {
            let guard = PanicOnDrop(&DROPS);
            drop(rt.spawn(move || drop(guard)));
        }
        drop(rt);
        assert_eq!(DROPS.load(Ordering::SeqCst), UNSTARTED);
    }
}

/// Counts its drops through a borrow.
struct CountOnDrop<'a>(&'a AtomicUsize);

impl Drop for CountOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

// Item 5: when one unclaimed scoped result's `Drop` panics, every other
// result must still be dropped before `scope` returns (or unwinds), even
// while a counted task reference (an `Unparker` kept in a static) keeps
// its slot alive; then the panic resumes.
child_test! {
    fn scope_drops_every_result_when_one_drop_panics(rt) expect Expect::Success; {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        static KEEP: Mutex<Vec<coro::Unparker>> = Mutex::new(Vec::new());
        rt.block_on(|| {
            let dropped = AtomicUsize::new(0);
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                coro::scope(|s| {
                    s.spawn(|| PanicOnDrop(&DROPS));
                    for _ in 0..3 {
                        s.spawn(|| {
                            KEEP.lock().unwrap().push(coro::current_unparker());
                            CountOnDrop(&dropped)
                        });
                    }
                })
            }));
            let payload = result.expect_err("the result's panic resumes from scope");
            assert_eq!(util::panic_message(&*payload), "PanicOnDrop dropped");
            assert_eq!(DROPS.load(Ordering::SeqCst), 1);
            assert_eq!(
                dropped.load(Ordering::SeqCst),
                3,
                "every result is dropped before scope returns"
            );
            KEEP.lock().unwrap().clear();
        });
    }
}

/// The rule a coroutine breaks by suspending mid-panic.
const PANICKING_RULE: &str = "must not suspend while its thread is panicking";

// Item 6: a panic hook that parks on a coro primitive would let other
// coroutines run on a thread mid-panic: the process aborts, naming the
// coroutine and the rule.
child_test! {
    fn panic_hook_that_parks_aborts(rt) expect Expect::Abort(PANICKING_RULE); {
        panic::set_hook(Box::new(|_| {
            if coro::in_coroutine() {
                coro::sleep(Duration::from_millis(1));
            }
        }));
        rt.block_on(|| {
            let h = coro::Builder::new()
                .name("hooked")
                .spawn(|| panic!("boom"))
                .unwrap();
            let _ = h.join();
        });
    }
}

/// Parks when dropped.
struct ParkOnDrop;

impl Drop for ParkOnDrop {
    fn drop(&mut self) {
        coro::sleep(Duration::from_millis(1));
    }
}

// Item 6: likewise a `Drop` that parks while its coroutine unwinds.
child_test! {
    fn drop_that_parks_while_unwinding_aborts(rt) expect Expect::Abort(PANICKING_RULE); {
        rt.block_on(|| {
            let h = coro::Builder::new()
                .name("unwinding")
                .spawn(|| {
                    let _guard = ParkOnDrop;
                    panic!("boom");
                })
                .unwrap();
            let _ = h.join();
        });
    }
}

// Item 6: a yield while panicking does not switch: no other coroutine ever
// runs on a thread mid-panic.
child_test! {
    fn yield_while_unwinding_does_not_switch(rt) expect Expect::Success; {
        /// Yields of the unwinding coroutine and resumes of the bystander.
        const ROUNDS: usize = 50;
        static SAW_PANICKING: AtomicBool = AtomicBool::new(false);
        static STOP: AtomicBool = AtomicBool::new(false);

        struct YieldOnDrop;
        impl Drop for YieldOnDrop {
            fn drop(&mut self) {
                for _ in 0..ROUNDS {
                    coro::yield_now();
                }
            }
        }

        rt.block_on(|| {
            // Both on worker 0, so that a switch would run the bystander.
            let bystander = coro::Builder::new()
                .worker(0)
                .spawn(|| {
                    while !STOP.load(Ordering::SeqCst) {
                        if std::thread::panicking() {
                            SAW_PANICKING.store(true, Ordering::SeqCst);
                        }
                        coro::yield_now();
                    }
                })
                .unwrap();
            let unwinding = coro::Builder::new()
                .worker(0)
                .spawn(|| {
                    let _guard = YieldOnDrop;
                    panic!("boom");
                })
                .unwrap();
            assert!(unwinding.join().unwrap_err().is_panic());
            STOP.store(true, Ordering::SeqCst);
            bystander.join().unwrap();
            assert!(
                !SAW_PANICKING.load(Ordering::SeqCst),
                "a coroutine ran on a thread mid-panic"
            );
        });
    }
}

// Item 7: a coroutine that catches the forced unwind of a stopping runtime
// and suspends again would make `Runtime::drop` spin forever: the second
// suspension during its forced unwind aborts, naming the rule.
child_test! {
    fn catching_the_forced_unwind_aborts(rt) expect Expect::Abort("suspended again while its runtime was unwinding it"); {
        static PARKED: AtomicBool = AtomicBool::new(false);
        let h = coro::Builder::new()
            .name("catcher")
            .spawn_on(&rt, || loop {
                let _ = panic::catch_unwind(|| {
                    PARKED.store(true, Ordering::SeqCst);
                    coro::sleep(Duration::from_millis(10));
                });
            })
            .unwrap();
        drop(h);
        wait_until("the catcher parked", || PARKED.load(Ordering::SeqCst));
        drop(rt);
    }
}
