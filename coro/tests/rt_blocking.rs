//! The blocking pool (`spawn_blocking`) and hog detection.

mod util;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use coro::Runtime;
use util::{
    is_worker_of, prefix, rt_test, thread_name, wait_until, watchdog, WATCHDOG, WORKER_COUNTS,
};

rt_test! {
    fn spawn_blocking_returns_the_value_on_a_pool_thread(rt) {
        let pool = format!("{}-blocking", prefix(rt.workers()));
        // From the test thread, through the runtime's handle.
        let name = rt.spawn_blocking(thread_name).join().unwrap();
        assert_eq!(name, pool);
        // From a coroutine, through `coro::spawn_blocking`; an output too
        // large to be stored inline.
        let (name, big) = rt.block_on(|| {
            let name = coro::spawn_blocking(thread_name).join().unwrap();
            (name, coro::spawn_blocking(|| [7u64; 32]).join().unwrap())
        });
        assert_eq!(name, pool);
        assert_eq!(big, [7u64; 32]);
    }
}

rt_test! {
    fn the_caller_parks_and_its_worker_runs_others(rt) {
        // The job blocks its thread until a coroutine sends; with one worker
        // that coroutine runs only if the joiner parked instead of blocking.
        let (tx, rx) = mpsc::channel::<u32>();
        let got = rt.block_on(move || {
            let job = coro::spawn_blocking(move || rx.recv().unwrap() + 1);
            let sender = coro::spawn(move || tx.send(41).unwrap());
            let got = job.join().unwrap();
            sender.join().unwrap();
            got
        });
        assert_eq!(got, 42);
    }
}

rt_test! {
    fn many_coroutines_block_at_once(rt) {
        let total = rt.block_on(|| {
            let hs: Vec<_> = (0..200u64)
                .map(|i| coro::spawn(move || coro::spawn_blocking(move || i * 2).join().unwrap()))
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(total, 199 * 200);
    }
}

rt_test! {
    fn a_panic_arrives_as_join_error(rt) {
        let err = rt.spawn_blocking(|| -> u32 { panic!("blocking boom") }).join().unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"blocking boom"));
        // From a coroutine, and the pool thread survives to run the next job.
        let (panicked, next) = rt.block_on(|| {
            let n = std::hint::black_box(7);
            let e = coro::spawn_blocking(move || panic!("formatted {n}")).join().unwrap_err();
            let msg = e.into_panic().downcast_ref::<String>().cloned();
            (msg, coro::spawn_blocking(|| 5).join().unwrap())
        });
        assert_eq!(panicked.as_deref(), Some("formatted 7"));
        assert_eq!(next, 5);
    }
}

rt_test! {
    fn a_job_enters_its_runtime(rt) {
        let p = prefix(rt.workers());
        let workers = rt.workers();
        // `coro::spawn` and `spawn_blocking` from a pool thread go to the
        // runtime that runs it, not to the default runtime.
        let (spawned_on, nested_on) = rt
            .spawn_blocking(|| {
                let on = coro::spawn(thread_name).join().unwrap();
                let nested = coro::spawn_blocking(thread_name).join().unwrap();
                (on, nested)
            })
            .join()
            .unwrap();
        assert!(is_worker_of(&spawned_on, &p, workers), "{spawned_on}");
        assert_eq!(nested_on, format!("{p}-blocking"));
    }
}

#[test]
fn spawn_blocking_from_a_plain_thread_uses_the_default_runtime() {
    watchdog("default runtime", WATCHDOG, || {
        let name = coro::spawn_blocking(thread_name).join().unwrap();
        assert_eq!(name, "coro-worker-blocking");
    });
}

/// The number of threads of this process whose name is `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        // The kernel keeps the first 15 bytes of a thread's name.
        .filter(|comm| comm.trim_end() == &name[..name.len().min(15)])
        .count()
}

/// A gate that blocked jobs wait on until it opens.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: std::sync::Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cv.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

fn pool_runtime(workers: usize, name: &str, max: usize, keep_alive: Duration) -> Runtime {
    coro::runtime::Builder::new()
        .workers(workers)
        .thread_name(name)
        .max_blocking_threads(max)
        .thread_keep_alive(keep_alive)
        .build()
        .unwrap()
}

#[test]
fn the_pool_stops_growing_at_its_bound_and_queues_the_rest() {
    for workers in WORKER_COUNTS {
        watchdog("bound", WATCHDOG, move || {
            let name = format!("bound{workers}");
            let rt = pool_runtime(workers, &name, 2, Duration::from_secs(10));
            let gate = Arc::new(Gate::default());
            let running = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let ids = Arc::new(Mutex::new(HashSet::new()));
            let handles: Vec<_> = (0..10)
                .map(|i| {
                    let (gate, running, most, ids) =
                        (gate.clone(), running.clone(), most.clone(), ids.clone());
                    rt.spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        ids.lock().unwrap().insert(thread::current().id());
                        gate.wait();
                        running.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                })
                .collect();
            // Every spawn has returned: a pool without a bound would have
            // started a thread for each job, since none is idle, and they
            // would all be running by now.
            wait_until("two jobs run", || running.load(Ordering::SeqCst) >= 2);
            thread::sleep(Duration::from_millis(20));
            assert_eq!(running.load(Ordering::SeqCst), 2);
            assert_eq!(threads_named(&format!("{name}-blocking")), 2);
            gate.open();
            let sum: i32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(sum, 45, "every queued job ran");
            assert_eq!(most.load(Ordering::SeqCst), 2);
            assert_eq!(ids.lock().unwrap().len(), 2);
        });
    }
}

#[test]
fn idle_pool_threads_exit_after_the_keep_alive() {
    watchdog("keep-alive", WATCHDOG, || {
        let rt = pool_runtime(1, "keepalive", 8, Duration::from_millis(20));
        let pool = "keepalive-blocking";
        let gate = Arc::new(Gate::default());
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let gate = gate.clone();
                rt.spawn_blocking(move || gate.wait())
            })
            .collect();
        wait_until("three pool threads", || threads_named(pool) == 3);
        gate.open();
        hs.into_iter().for_each(|h| h.join().unwrap());
        wait_until("the idle pool threads exit", || threads_named(pool) == 0);
        // And it grows again on demand.
        assert_eq!(rt.spawn_blocking(|| 3).join().unwrap(), 3);
    });
}

#[test]
fn dropping_the_runtime_cancels_queued_jobs_and_waits_for_running_ones() {
    for workers in WORKER_COUNTS {
        watchdog("drop", WATCHDOG, move || {
            let rt = pool_runtime(
                workers,
                &format!("drop{workers}"),
                1,
                Duration::from_secs(10),
            );
            let gate = Arc::new(Gate::default());
            let started = Arc::new(AtomicBool::new(false));
            let finished = Arc::new(AtomicBool::new(false));
            let queued_ran = Arc::new(AtomicBool::new(false));
            let running = {
                let (gate, started, finished) = (gate.clone(), started.clone(), finished.clone());
                rt.spawn_blocking(move || {
                    started.store(true, Ordering::SeqCst);
                    gate.wait();
                    // Late on purpose: a drop that did not wait would be
                    // over by now.
                    thread::sleep(Duration::from_millis(30));
                    finished.store(true, Ordering::SeqCst);
                    7
                })
            };
            let queued = {
                let queued_ran = queued_ran.clone();
                rt.spawn_blocking(move || queued_ran.store(true, Ordering::SeqCst))
            };
            // Running, not just queued, when the runtime is dropped.
            wait_until("the first job runs", || started.load(Ordering::SeqCst));
            let dropper = thread::spawn(move || drop(rt));
            wait_until("the queued job is cancelled", || queued.is_finished());
            assert!(!dropper.is_finished(), "the drop waits for the running job");
            gate.open();
            dropper.join().unwrap();
            assert!(
                finished.load(Ordering::SeqCst),
                "the drop returned before the job"
            );
            assert_eq!(running.join().unwrap(), 7);
            let err = queued.join().unwrap_err();
            assert!(err.is_cancelled(), "{err:?}");
            assert!(!queued_ran.load(Ordering::SeqCst));
        });
    }
}

// ---- Hog detection ----

/// Collects the messages of every warning logged by coro.
struct TestLogger;

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

impl log::Log for TestLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn && m.target().starts_with("coro")
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            RECORDS.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn install_logger() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        log::set_logger(&TestLogger).expect("no other logger");
        log::set_max_level(log::LevelFilter::Warn);
    });
}

/// The warnings that mention `needle`.
fn reports_about(needle: &str) -> Vec<String> {
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains(needle))
        .cloned()
        .collect()
}

const HOG_THRESHOLD: Duration = Duration::from_millis(20);

fn hog_runtime(workers: usize, name: &str, threshold: Option<Duration>) -> Runtime {
    coro::runtime::Builder::new()
        .workers(workers)
        .thread_name(name)
        .hog_threshold(threshold)
        .build()
        .unwrap()
}

/// Spins without suspending for five thresholds, and on until a report
/// about `name` arrived (a loaded machine may starve the monitor), then a
/// little more: a repeated report would come in that time.
fn spin_until_reported(name: &str) {
    let start = Instant::now();
    let mut reported_at = None;
    loop {
        std::hint::spin_loop();
        let ran = start.elapsed();
        if reported_at.is_none() && !reports_about(name).is_empty() {
            reported_at = Some(ran);
        }
        match reported_at {
            Some(at) if ran >= (5 * HOG_THRESHOLD).max(at + 2 * HOG_THRESHOLD) => return,
            None if ran > WATCHDOG / 3 => return,
            _ => {}
        }
    }
}

#[test]
fn a_coroutine_that_never_suspends_is_reported_once() {
    install_logger();
    for workers in WORKER_COUNTS {
        watchdog("hog", WATCHDOG, move || {
            let rt_name = format!("hog{workers}");
            let rt = hog_runtime(workers, &rt_name, Some(HOG_THRESHOLD));
            let name = format!("spinner-{workers}");
            let spin_name = name.clone();
            let h = coro::Builder::new()
                .name(&name)
                .spawn_on(&rt, move || spin_until_reported(&spin_name))
                .unwrap();
            h.join().unwrap();
            drop(rt);
            let reports = reports_about(&format!("{name:?}"));
            assert_eq!(reports.len(), 1, "{reports:?}");
            let r = &reports[0];
            assert!(r.contains(&format!("({rt_name}-")), "names the worker: {r}");
            assert!(r.contains("on worker "), "{r}");
            assert!(r.contains(" ms "), "says how long: {r}");
        });
    }
}

#[test]
fn a_coroutine_that_yields_is_never_reported() {
    install_logger();
    for workers in WORKER_COUNTS {
        watchdog("no hog", WATCHDOG, move || {
            let rt = hog_runtime(workers, &format!("yield{workers}"), Some(HOG_THRESHOLD));
            let yielder = format!("yielder-{workers}");
            // Busy for five thresholds in all, but suspending often. The
            // longest stretch from one return of `yield_now` to the next
            // (the coroutine's run and the worker's loop) is measured, so
            // that a thread descheduled by a loaded machine is not blamed.
            let longest = coro::Builder::new()
                .name(&yielder)
                .spawn_on(&rt, || {
                    let start = Instant::now();
                    let mut longest = Duration::ZERO;
                    let mut last = Instant::now();
                    while start.elapsed() < 5 * HOG_THRESHOLD {
                        for _ in 0..100 {
                            std::hint::spin_loop();
                        }
                        coro::yield_now();
                        longest = longest.max(last.elapsed());
                        last = Instant::now();
                    }
                    longest
                })
                .unwrap()
                .join()
                .unwrap();
            // The monitor is alive and watching this runtime: a hog after
            // it is reported.
            let spinner = format!("after-yielder-{workers}");
            let spin_name = spinner.clone();
            coro::Builder::new()
                .name(&spinner)
                .spawn_on(&rt, move || spin_until_reported(&spin_name))
                .unwrap()
                .join()
                .unwrap();
            drop(rt);
            assert_eq!(reports_about(&format!("{spinner:?}")).len(), 1);
            let about_yielder = reports_about(&format!("{yielder:?}"));
            if longest < HOG_THRESHOLD / 2 {
                assert!(about_yielder.is_empty(), "{about_yielder:?}");
            }
        });
    }
}

#[test]
fn hog_detection_can_be_turned_off() {
    install_logger();
    watchdog("hog off", WATCHDOG, || {
        // The runtime's monitor thread runs either way (it also drives the
        // periodic driver looks); off means it reports nothing.
        let rt = hog_runtime(1, "hogoff", None);
        let h = coro::Builder::new()
            .name("unwatched")
            .spawn_on(&rt, || util::spin_for(5 * HOG_THRESHOLD))
            .unwrap();
        h.join().unwrap();
        drop(rt);
        assert!(reports_about("\"unwatched\"").is_empty());
        // The monitor runs, and leaves with its runtime.
        let rt = hog_runtime(1, "hogon", Some(HOG_THRESHOLD));
        wait_until("the monitor runs", || threads_named("hogon-monitor") == 1);
        drop(rt);
        // A joined thread may linger in /proc for a moment.
        wait_until("the monitor exits with its runtime", || {
            threads_named("hogon-monitor") == 0
        });
    });
}
