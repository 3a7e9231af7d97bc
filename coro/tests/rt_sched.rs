//! Scheduling: yielding, fairness against coroutines that never park, work
//! spreading over workers, wake-ups of sleeping workers, and a concurrent
//! spawn/join stress test.

mod util;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use coro::Runtime;
use util::{is_worker_of, prefix, rt_test, spin_for, thread_name, wait_until};

const ROUNDS: usize = 10;

rt_test! {
    fn yield_now_interleaves_coroutines(rt) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let workers = rt.workers();
        rt.block_on(|| {
            let handles: Vec<_> = ['a', 'b']
                .into_iter()
                .map(|who| {
                    let log = Arc::clone(&log);
                    coro::spawn(move || {
                        for i in 0..ROUNDS {
                            log.lock().unwrap().push((who, i));
                            coro::yield_now();
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), 2 * ROUNDS);
        for who in ['a', 'b'] {
            let mine: Vec<usize> = log.iter().filter(|e| e.0 == who).map(|e| e.1).collect();
            assert_eq!(mine, (0..ROUNDS).collect::<Vec<_>>(), "{who} ran out of order");
        }
        if workers == 1 {
            // On one thread, once both have started, each yield hands the
            // worker to the other: strict alternation.
            let both = log.iter().position(|e| e.0 != log[0].0).expect("both ran");
            assert!(both <= 2, "the second coroutine started late: {log:?}");
            for pair in log[both - 1..].windows(2) {
                let ends = pair[0].1 == ROUNDS - 1 || pair[1].1 == ROUNDS - 1;
                assert!(pair[0].0 != pair[1].0 || ends, "no alternation after both began: {log:?}");
            }
        }
    }
}

/// Starts two coroutines that only ever yield, until `stop` is set. With
/// one worker they are always runnable, so whatever sets `stop` must get the
/// worker between their turns. Returns once both hogs run.
fn start_hogs(stop: &Arc<AtomicBool>) -> Vec<coro::JoinHandle<u64>> {
    let started = Arc::new(AtomicUsize::new(0));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(stop);
            let started = Arc::clone(&started);
            coro::spawn(move || {
                started.fetch_add(1, Ordering::SeqCst);
                let mut turns = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    turns += 1;
                    coro::yield_now();
                }
                turns
            })
        })
        .collect();
    wait_until("both hogs run", || started.load(Ordering::SeqCst) == 2);
    hogs
}

fn stop_hogs(hogs: Vec<coro::JoinHandle<u64>>) {
    for h in hogs {
        h.join().unwrap();
    }
}

rt_test! {
    fn hogs_do_not_starve_a_fresh_coroutine(rt) {
        rt.block_on(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let hogs = start_hogs(&stop);
            let s = Arc::clone(&stop);
            coro::spawn(move || s.store(true, Ordering::SeqCst)).join().unwrap();
            stop_hogs(hogs);
        });
    }
}

rt_test! {
    fn hogs_do_not_starve_a_spawn_from_another_thread(rt) {
        // The setter goes through the injector, which a worker with local
        // work only looks at every so many ticks.
        let stop = Arc::new(AtomicBool::new(false));
        let hogs = {
            let stop = Arc::clone(&stop);
            rt.spawn(move || start_hogs(&stop)).join().unwrap()
        };
        let s = Arc::clone(&stop);
        rt.spawn(move || s.store(true, Ordering::SeqCst)).join().unwrap();
        rt.spawn(move || stop_hogs(hogs)).join().unwrap();
    }
}

rt_test! {
    fn hogs_do_not_starve_a_timer(rt) {
        // Go's TestTimerFairness: a sleeping coroutine must wake although
        // the worker always has ready coroutines.
        rt.block_on(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let s = Arc::clone(&stop);
            let sleeper = coro::spawn(move || {
                coro::sleep(Duration::from_millis(5));
                s.store(true, Ordering::SeqCst);
            });
            let hogs = start_hogs(&stop);
            sleeper.join().unwrap();
            stop_hogs(hogs);
        });
    }
}

rt_test! {
    fn hogs_do_not_starve_a_wake_from_another_thread(rt) {
        // A coroutine parked in `join` is woken by a thread that is not its
        // worker, through the worker's inbox.
        let other = util::runtime(1, "other");
        rt.block_on(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let s = Arc::clone(&stop);
            let remote = other.spawn(|| coro::sleep(Duration::from_millis(5)));
            let waiter = coro::spawn(move || {
                remote.join().unwrap();
                s.store(true, Ordering::SeqCst);
            });
            let hogs = start_hogs(&stop);
            waiter.join().unwrap();
            stop_hogs(hogs);
        });
    }
}

rt_test! {
    fn work_spreads_over_the_workers(rt) {
        let workers = rt.workers();
        let pre = prefix(workers);
        let names: Vec<String> = rt.block_on(|| {
            let handles: Vec<_> = (0..100)
                .map(|_| {
                    coro::spawn(|| {
                        // Real work, so that the spawning worker stays busy
                        // and the others have something to steal.
                        spin_for(Duration::from_millis(2));
                        thread_name()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for name in &names {
            assert!(is_worker_of(name, &pre, workers), "{name}");
        }
        let distinct: HashSet<&String> = names.iter().collect();
        if workers == 1 {
            assert_eq!(distinct.len(), 1);
        } else {
            assert!(distinct.len() > 1, "all {} coroutines ran on {distinct:?}", names.len());
        }
    }
}

/// Rounds of spawn-one-join-one: each round finds the workers asleep, so a
/// lost wake-up hangs the round (and the watchdog fails the test).
const PING_ROUNDS: u64 = 20_000;

rt_test! {
    fn a_spawn_wakes_a_sleeping_worker(rt) {
        // From a plain thread: through the injector.
        for i in 0..PING_ROUNDS {
            assert_eq!(rt.spawn(move || i).join().unwrap(), i);
        }
        // From a coroutine: through a local queue, with the joiner parked.
        rt.block_on(|| {
            for i in 0..PING_ROUNDS {
                assert_eq!(coro::spawn(move || i).join().unwrap(), i);
            }
        });
    }
}

rt_test! {
    fn wakes_across_workers_are_not_lost(rt) {
        // The child parks once, so it is woken by whoever completes
        // `inner`, often on another worker while its own sleeps.
        rt.block_on(|| {
            for i in 0..PING_ROUNDS / 4 {
                let inner = coro::spawn(move || i);
                let outer = coro::spawn(move || inner.join().unwrap() + 1);
                assert_eq!(outer.join().unwrap(), i + 1);
            }
        });
        // A timer is the only event: the worker must park with a timeout.
        rt.block_on(|| {
            for _ in 0..50 {
                coro::sleep(Duration::from_micros(200));
            }
        });
    }
}

rt_test! {
    fn threads_and_coroutines_spawn_and_join_concurrently(rt) {
        const THREADS: u64 = 4;
        const ITERS: u64 = 150;
        const FANOUT: u64 = 8;
        // What one iteration of thread `t` returns, `i` being the iteration.
        fn expected(t: u64, i: u64) -> u64 {
            (0..FANOUT).map(|k| (t * ITERS + i) * FANOUT + k + 1).sum()
        }
        let total = AtomicU64::new(0);
        let rt = &rt;
        let total_ref = &total;
        thread::scope(|s| {
            for t in 0..THREADS {
                s.spawn(move || {
                    for i in 0..ITERS {
                        let base = (t * ITERS + i) * FANOUT;
                        // A coroutine fans out; every child spawns a
                        // grandchild and joins it; some park on the way.
                        let sum = rt
                            .spawn(move || {
                                let children: Vec<_> = (0..FANOUT)
                                    .map(|k| {
                                        coro::spawn(move || {
                                            if k % 3 == 0 {
                                                coro::yield_now();
                                            }
                                            coro::spawn(move || base + k).join().unwrap() + 1
                                        })
                                    })
                                    .collect();
                                children.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                            })
                            .join()
                            .unwrap();
                        assert_eq!(sum, expected(t, i));
                        total_ref.fetch_add(sum, Ordering::Relaxed);
                    }
                });
            }
        });
        let want: u64 = (0..THREADS).flat_map(|t| (0..ITERS).map(move |i| expected(t, i))).sum();
        assert_eq!(total.load(Ordering::Relaxed), want);
    }
}

#[test]
fn several_runtimes_run_side_by_side() {
    util::watchdog("several runtimes", util::WATCHDOG, || {
        let runtimes: Vec<Runtime> = (0..3)
            .map(|i| util::runtime(2, &format!("side{i}")))
            .collect();
        let handles: Vec<_> = runtimes
            .iter()
            .enumerate()
            .flat_map(|(r, rt)| {
                (0..200).map(move |_| {
                    rt.spawn(move || {
                        // A spawn from a coroutine stays on its runtime.
                        let inner = coro::spawn(thread_name).join().unwrap();
                        assert!(is_worker_of(&inner, &format!("side{r}"), 2), "{inner}");
                        r
                    })
                })
            })
            .collect();
        let mut counts = [0; 3];
        for h in handles {
            counts[h.join().unwrap()] += 1;
        }
        assert_eq!(counts, [200; 3]);
    });
}

/// How long [`a_spawn_racing_a_worker_going_to_sleep_is_not_lost`] hunts.
const RACE_HUNT: Duration = Duration::from_secs(4);
/// A round that takes this long has lost its wake-up.
const RACE_STUCK: Duration = Duration::from_secs(2);

/// Spawns from a plain thread the moment the previous coroutine finished,
/// with a varying delay, so that some spawn lands while the worker is on
/// its way to sleep. A lost wake-up leaves the coroutine unrun.
///
/// Regression test for a race in `WorkerCtx::sleep`: a worker that
/// registered as a sleeper (`Idle::sleep`) before announcing its sleep
/// (`Sleeper::prepare`) could be taken off the sleeper list and counted as
/// searching by a spawner whose `Sleeper::wake` then found no announcement
/// and did nothing; the worker slept for good as a phantom searcher, and
/// since `searching` stayed 1, no later spawn woke anyone. Before the fix
/// this hunt hit the window in about a third of 15-second runs.
#[test]
fn a_spawn_racing_a_worker_going_to_sleep_is_not_lost() {
    let rt = util::runtime(1, "race");
    let start = std::time::Instant::now();
    let mut delay = 1u32;
    let mut round = 0u64;
    while start.elapsed() < RACE_HUNT {
        let h = rt.spawn(|| ());
        let spawned = std::time::Instant::now();
        // Spin rather than park, to spawn again as soon as possible.
        while !h.is_finished() {
            assert!(
                spawned.elapsed() < RACE_STUCK,
                "round {round}: a coroutine spawned onto an idle runtime never ran (lost wake-up)"
            );
            std::hint::spin_loop();
        }
        h.join().unwrap();
        // A pseudo-random delay sweeps the spawn over the worker's way to
        // sleep.
        delay = delay.wrapping_mul(1_103_515_245).wrapping_add(12_345) % 4000;
        for _ in 0..delay {
            std::hint::spin_loop();
        }
        round += 1;
    }
}

rt_test! {
    fn a_coroutine_that_never_blocks_yields_when_its_budget_is_spent(rt) {
        // One hog per worker spins on operations that always complete (as
        // reads from a peer that always answers at once would); the
        // coroutine that stops them starts on a hog's worker, so it runs
        // only if that hog yields.
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let hogs: Vec<_> = (0..rt.workers())
            .map(|i| {
                let stop = Arc::clone(&stop);
                let started = Arc::clone(&started);
                coro::Builder::new()
                    .worker(i)
                    .spawn_on(&rt, move || {
                        started.fetch_add(1, Ordering::AcqRel);
                        while !stop.load(Ordering::Acquire) {
                            coro::consume_budget();
                        }
                    })
                    .unwrap()
            })
            .collect();
        wait_until("every hog runs", || started.load(Ordering::Acquire) == rt.workers());
        let stopper = {
            let stop = Arc::clone(&stop);
            coro::Builder::new()
                .worker(0)
                .spawn_on(&rt, move || stop.store(true, Ordering::Release))
                .unwrap()
        };
        stopper.join().unwrap();
        for h in hogs {
            h.join().unwrap();
        }
    }
}

rt_test! {
    fn a_coroutine_whose_channels_are_always_ready_yields(rt) {
        // The coroutine passes one message around its own channel, so each
        // receive and send completes at once and it never parks; the
        // stopper, on the same worker, runs only if it yields.
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicBool::new(false));
        let spinner = {
            let stop = Arc::clone(&stop);
            let started = Arc::clone(&started);
            coro::Builder::new()
                .worker(0)
                .spawn_on(&rt, move || {
                    let (tx, rx) = coro::chan::bounded::<u64>(1);
                    tx.send(0).unwrap();
                    started.store(true, Ordering::Release);
                    while !stop.load(Ordering::Acquire) {
                        let n = rx.recv().unwrap();
                        tx.send(n + 1).unwrap();
                    }
                })
                .unwrap()
        };
        wait_until("the spinner runs", || started.load(Ordering::Acquire));
        let stopper = {
            let stop = Arc::clone(&stop);
            coro::Builder::new()
                .worker(0)
                .spawn_on(&rt, move || stop.store(true, Ordering::Release))
                .unwrap()
        };
        stopper.join().unwrap();
        spinner.join().unwrap();
    }
}
