//! Lost wake-up stress for the scheduler's idle protocol: workers go to
//! sleep and are woken over and over, from coroutines and from plain threads.
//!
//! Each test repeats a tiny unit of work (spawn one coroutine, join it) many
//! times, so that the moment a worker decides to sleep keeps racing the
//! moment new work appears. A lost wake-up leaves a worker asleep next to
//! work that nobody else will pick up; the watchdog then fails the test.

mod util;

use std::time::{Duration, Instant};

use util::watchdog;

/// Rounds per test for the fixed-size tests.
const ROUNDS: usize = 20_000;

/// How long each race hunt runs. The windows are a few instructions wide;
/// a worker that went to sleep as a "phantom searcher" (registered as a
/// sleeper before announcing its park) hung these loops within seconds.
const HUNT: Duration = Duration::from_secs(3);

/// Repeats `round` for `HUNT` on a runtime of `workers`, under the
/// watchdog.
fn hunt(what: &'static str, workers: usize, round: fn(&coro::Runtime, usize) -> usize) {
    watchdog(what, Duration::from_secs(60), move || {
        let rt = coro::runtime::Builder::new()
            .workers(workers)
            .build()
            .unwrap();
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < HUNT {
            assert_eq!(round(&rt, i), 2 * i);
            i += 1;
        }
    });
}

/// Spawn and join from a plain thread: every spawn goes through the
/// injector and must wake a sleeping worker.
#[test]
fn hunt_spawns_from_a_thread_racing_sleeping_workers() {
    for workers in [2, 4] {
        hunt("thread spawns vs sleeping workers", workers, |rt, i| {
            rt.spawn(move || 2 * i).join().unwrap()
        });
    }
}

/// Two spawns per round from a coroutine: the second displaces the first
/// from the runnext slot into the stealable queue, which notifies a worker.
#[test]
fn hunt_stealable_spawns_racing_sleeping_workers() {
    for workers in [2, 4] {
        hunt("stealable spawns vs sleeping workers", workers, |rt, i| {
            rt.block_on(|| {
                let a = coro::spawn(move || i);
                let b = coro::spawn(move || i);
                a.join().unwrap() + b.join().unwrap()
            })
        });
    }
}

/// Spawn-one-join-one from inside a coroutine: each child goes to the
/// spawner's worker and may be stolen by the other, which sleeps between
/// rounds.
#[test]
fn spawn_join_from_a_coroutine_never_hangs() {
    for workers in [2, 4] {
        watchdog(
            "spawn/join from a coroutine",
            Duration::from_secs(60),
            move || {
                let rt = coro::runtime::Builder::new()
                    .workers(workers)
                    .build()
                    .unwrap();
                let sum: usize = rt.block_on(|| {
                    (0..ROUNDS)
                        .map(|i| coro::spawn(move || i).join().unwrap())
                        .sum()
                });
                assert_eq!(sum, ROUNDS * (ROUNDS - 1) / 2);
            },
        );
    }
}

/// Spawn-one-join-one from a plain thread: each child goes through the
/// injector and must wake a sleeping worker.
#[test]
fn spawn_join_from_a_thread_never_hangs() {
    for workers in [1, 2, 4] {
        watchdog(
            "spawn/join from a thread",
            Duration::from_secs(60),
            move || {
                let rt = coro::runtime::Builder::new()
                    .workers(workers)
                    .build()
                    .unwrap();
                let sum: usize = (0..ROUNDS / 4)
                    .map(|i| rt.spawn(move || i).join().unwrap())
                    .sum();
                assert_eq!(sum, (ROUNDS / 4) * (ROUNDS / 4 - 1) / 2);
            },
        );
    }
}

/// A coroutine parked on one worker and woken from another, over and over:
/// the wake goes through the home worker's inbox while it may be asleep.
#[test]
fn cross_worker_wakes_are_never_lost() {
    watchdog("cross-worker wakes", Duration::from_secs(60), || {
        let a = coro::runtime::Builder::new().workers(1).build().unwrap();
        let b = coro::runtime::Builder::new().workers(1).build().unwrap();
        let (to_b, from_a) = coro::chan::bounded::<usize>(0);
        let (to_a, from_b) = coro::chan::bounded::<usize>(0);
        let echo = b.spawn(move || {
            for v in from_a.iter() {
                to_a.send(v + 1).unwrap();
            }
        });
        let rounds = ROUNDS / 10;
        let last = a.block_on(|| {
            let mut v = 0;
            for _ in 0..rounds {
                to_b.send(v).unwrap();
                v = from_b.recv().unwrap();
            }
            v
        });
        assert_eq!(last, rounds);
        drop(to_b);
        echo.join().unwrap();
    });
}
