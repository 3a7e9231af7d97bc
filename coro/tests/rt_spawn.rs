//! Spawning and joining: results, panics, nesting, spawns from plain
//! threads, detached coroutines, identity (`current`, names, ids).

mod util;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use coro::{Builder, CoroutineId, Runtime};
use util::{is_worker_of, prefix, rt_test, thread_name, wait_until};

rt_test! {
    fn spawn_returns_the_value(rt) {
        // From the test thread, through the runtime's handle.
        assert_eq!(rt.spawn(|| 6 * 7).join().unwrap(), 42);
        // An output too large to be stored inline, and one with no size.
        let big = rt.spawn(|| [7u64; 32]).join().unwrap();
        assert_eq!(big, [7u64; 32]);
        rt.spawn(|| ()).join().unwrap();
        // From inside a coroutine, through `coro::spawn`.
        let s = rt.block_on(|| coro::spawn(|| String::from("hello")).join().unwrap());
        assert_eq!(s, "hello");
    }
}

rt_test! {
    fn a_panic_arrives_as_join_error_with_its_payload(rt) {
        let err = rt.spawn(|| -> u32 { panic!("boom") }).join().unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert!(err.to_string().contains("boom"), "{err}");
        let payload = err.into_panic();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));

        // A formatted message arrives as a `String`, and from a coroutine
        // joiner just the same.
        let payload = rt.block_on(|| {
            let n = 17;
            let err = coro::spawn(move || -> u32 { panic!("formatted {n}") }).join().unwrap_err();
            assert!(err.is_panic());
            err.try_into_panic().expect("a panic, not a cancellation")
        });
        assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("formatted 17"));

        // `resume_unwind` carries the payload on.
        let err = rt.spawn(|| panic::panic_any(1234u32)).join().unwrap_err();
        let payload = err.into_panic();
        let resume = || panic::resume_unwind(payload);
        let resumed = panic::catch_unwind(AssertUnwindSafe(resume)).unwrap_err();
        assert_eq!(resumed.downcast_ref::<u32>(), Some(&1234));
    }
}

/// Spawns three children per level down to `depth` 0 and joins them; returns
/// the number of leaves. Also checks every level runs on the runtime its
/// parent runs on.
fn tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let here = thread_name();
    let parent_prefix = here.rsplit_once('-').map(|(p, _)| p.to_owned()).unwrap();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let parent_prefix = parent_prefix.clone();
            coro::spawn(move || {
                let child = thread_name();
                assert!(
                    child.starts_with(&format!("{parent_prefix}-")),
                    "a child spawned from a coroutine of `{parent_prefix}` ran on `{child}`"
                );
                tree(depth - 1)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

rt_test! {
    fn nested_spawns_join_through_several_levels(rt) {
        assert_eq!(rt.block_on(|| tree(6)), 3u64.pow(6));
    }
}

rt_test! {
    fn handles_can_be_joined_by_another_coroutine_or_thread(rt) {
        let h = rt.spawn(|| 5);
        let j = rt.spawn(move || h.join().unwrap() + 1);
        let k = thread::spawn(move || j.join().unwrap() + 1);
        assert_eq!(k.join().unwrap(), 7);
    }
}

#[test]
fn plain_threads_spawn_onto_the_default_runtime() {
    util::watchdog("default runtime", util::WATCHDOG, || {
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                thread::spawn(move || {
                    assert!(coro::try_current().is_none());
                    let handles: Vec<_> = (0..200u64)
                        .map(|i| {
                            coro::spawn(move || {
                                let name = thread_name();
                                assert!(
                                    name.starts_with("coro-worker-"),
                                    "default runtime worker named {name}"
                                );
                                t * 1000 + i
                            })
                        })
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
            })
            .collect();
        let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        let expected: u64 = (0..8u64)
            .map(|t| (0..200).map(|i| t * 1000 + i).sum::<u64>())
            .sum();
        assert_eq!(total, expected);
    });
}

rt_test! {
    fn plain_threads_spawn_onto_an_explicit_runtime(rt) {
        let workers = rt.workers();
        let pre: Arc<str> = prefix(workers).into();
        let rt = &rt;
        let total: u64 = thread::scope(|s| {
            let threads: Vec<_> = (0..6u64)
                .map(|t| {
                    let pre = Arc::clone(&pre);
                    s.spawn(move || {
                        let mut handles = Vec::new();
                        for i in 0..200u64 {
                            let pre = Arc::clone(&pre);
                            let f = move || {
                                let name = thread_name();
                                assert!(is_worker_of(&name, &pre, workers), "ran on {name}");
                                t * 1000 + i
                            };
                            // Both ways of spawning onto a given runtime.
                            if i % 2 == 0 {
                                handles.push(rt.spawn(f));
                            } else {
                                handles.push(Builder::new().spawn_on(rt, f).unwrap());
                            }
                        }
                        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                    })
                })
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).sum()
        });
        let expected: u64 = (0..6u64).map(|t| (0..200).map(|i| t * 1000 + i).sum::<u64>()).sum();
        assert_eq!(total, expected);
    }
}

/// Spawns this many coroutines in the million-spawn test, in batches of
/// [`BATCH`] joined as we go, so that debug builds stay within a few seconds
/// and memory stays flat.
const MILLION: u64 = 1_000_000;
const BATCH: u64 = 10_000;

rt_test! {
    fn a_million_spawns_add_up(rt) {
        let sum = rt.block_on(|| {
            let mut sum = 0u64;
            for b in 0..MILLION / BATCH {
                let handles: Vec<_> =
                    (0..BATCH).map(|i| coro::spawn(move || b * BATCH + i)).collect();
                sum += handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>();
            }
            sum
        });
        assert_eq!(sum, MILLION * (MILLION - 1) / 2);
    }
}

rt_test! {
    fn detached_coroutines_still_run(rt) {
        let count = Arc::new(AtomicUsize::new(0));
        // Detached from a plain thread; half of them park first.
        for i in 0..100 {
            let count = Arc::clone(&count);
            drop(rt.spawn(move || {
                if i % 2 == 0 {
                    coro::sleep(std::time::Duration::from_millis(1));
                }
                count.fetch_add(1, Ordering::SeqCst);
            }));
        }
        // Detached from a coroutine that returns before they run.
        let c = Arc::clone(&count);
        rt.block_on(move || {
            for _ in 0..100 {
                let c = Arc::clone(&c);
                drop(coro::spawn(move || {
                    coro::yield_now();
                    c.fetch_add(1, Ordering::SeqCst);
                }));
            }
        });
        wait_until("all 200 detached coroutines ran", || count.load(Ordering::SeqCst) == 200);
    }
}

rt_test! {
    fn is_finished_turns_true_when_the_coroutine_returns(rt) {
        let go = Arc::new(AtomicBool::new(false));
        let g = Arc::clone(&go);
        let h = rt.spawn(move || {
            while !g.load(Ordering::SeqCst) {
                coro::yield_now();
            }
            9
        });
        // It cannot finish before we let it.
        for _ in 0..100 {
            assert!(!h.is_finished());
            coro::yield_now();
        }
        go.store(true, Ordering::SeqCst);
        wait_until("the coroutine finished", || h.is_finished());
        assert!(format!("{h:?}").contains("finished: true"));
        assert_eq!(h.join().unwrap(), 9);

        // A panicked coroutine is finished too.
        let p = rt.spawn(|| panic!("done"));
        wait_until("the panicking coroutine finished", || p.is_finished());
        assert!(p.join().unwrap_err().is_panic());
    }
}

rt_test! {
    fn builder_names_are_visible_through_current(rt) {
        let name = Builder::new()
            .name("alpha")
            .spawn_on(&rt, || {
                let before = coro::current().name().map(str::to_owned);
                // The name survives a suspension.
                coro::sleep(std::time::Duration::from_millis(1));
                let after = coro::current().name().map(str::to_owned);
                assert_eq!(before, after);
                after
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(name.as_deref(), Some("alpha"));

        let (named, unnamed, sized) = rt.block_on(|| {
            let named = Builder::new()
                .name(String::from("beta"))
                .spawn(|| coro::current().name().map(str::to_owned))
                .unwrap();
            let unnamed = coro::spawn(|| coro::current().name().map(str::to_owned));
            let sized = Builder::new()
                .stack_size(128 * 1024)
                .spawn(|| coro::current().name().map(str::to_owned))
                .unwrap();
            (named.join().unwrap(), unnamed.join().unwrap(), sized.join().unwrap())
        });
        assert_eq!(named.as_deref(), Some("beta"));
        assert_eq!(unnamed, None);
        assert_eq!(sized, None);
    }
}

rt_test! {
    fn ids_are_distinct_and_stable(rt) {
        let ids: Vec<CoroutineId> = rt.block_on(|| {
            let me = coro::current().id();
            let handles: Vec<_> = (0..2000)
                .map(|i| {
                    coro::spawn(move || {
                        let id = coro::current().id();
                        if i % 3 == 0 {
                            coro::yield_now();
                        }
                        assert_eq!(coro::current().id(), id, "an id changed across a suspension");
                        assert_eq!(coro::try_current().map(|c| c.id()), Some(id));
                        id
                    })
                })
                .collect();
            let mut ids: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            ids.push(me);
            ids
        });
        let distinct: HashSet<u64> = ids.iter().map(|id| id.as_u64()).collect();
        assert_eq!(distinct.len(), ids.len(), "coroutine ids repeat");
        assert!(!distinct.contains(&0));
        // Distinct from those of another runtime's coroutines too.
        let other = Runtime::new().unwrap();
        let theirs: Vec<u64> = (0..100)
            .map(|_| other.spawn(|| coro::current().id().as_u64()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        assert!(theirs.iter().all(|id| !distinct.contains(id)));
    }
}

#[test]
fn there_is_no_current_coroutine_on_a_plain_thread() {
    assert!(coro::try_current().is_none());
    let err = panic::catch_unwind(coro::current).unwrap_err();
    let msg = util::panic_message(&*err);
    assert!(msg.contains("outside a coroutine"), "{msg}");
    // Nor on a thread that spawned and joined coroutines.
    coro::spawn(|| assert!(coro::try_current().is_some()))
        .join()
        .unwrap();
    assert!(coro::try_current().is_none());
}

rt_test! {
    fn an_unjoined_panic_does_not_take_down_the_worker(rt) {
        let workers = rt.workers();
        for i in 0..20 {
            drop(rt.spawn(move || -> u32 { panic!("detached panic {i}") }));
        }
        // Joined panics must not hurt either.
        for _ in 0..5 {
            assert!(rt.spawn(|| panic!("joined")).join().is_err());
        }
        // Every worker still runs coroutines: with one worker, this work
        // runs on the very thread the panics went through.
        let pre = prefix(workers);
        let results: Vec<_> = (0..100u64)
            .map(|i| {
                rt.spawn(move || {
                    coro::yield_now();
                    (i, thread_name())
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        for (i, (v, name)) in results.into_iter().enumerate() {
            assert_eq!(v, i as u64);
            assert!(is_worker_of(&name, &pre, workers), "{name}");
        }
        if workers == 1 {
            assert_eq!(rt.spawn(thread_name).join().unwrap(), format!("{pre}-0"));
        }
    }
}

#[test]
fn runtime_settings_are_honoured() {
    let rt = coro::runtime::Builder::new().workers(3).build().unwrap();
    assert_eq!(rt.workers(), 3);
    assert!(format!("{rt:?}").contains('3'));
    let name = rt.spawn(thread_name).join().unwrap();
    assert!(
        is_worker_of(&name, "coro-worker", 3),
        "default worker names: {name}"
    );
    drop(rt);

    let rt = coro::runtime::Builder::new()
        .workers(0)
        .thread_name("custom")
        .build()
        .unwrap();
    assert_eq!(rt.workers(), 1, "at least one worker");
    assert_eq!(rt.spawn(thread_name).join().unwrap(), "custom-0");
    assert!(Runtime::new().unwrap().workers() >= 1);
}

#[test]
fn a_panic_in_block_on_reaches_the_caller_unchanged() {
    let rt = util::runtime(1, "bo");
    let err =
        panic::catch_unwind(AssertUnwindSafe(|| rt.block_on(|| panic!("inside")))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"inside"));
    // And the runtime still works.
    assert_eq!(rt.block_on(|| 3), 3);
}

rt_test! {
    fn builder_worker_starts_each_coroutine_on_its_worker(rt) {
        let workers = rt.workers();
        // From a coroutine, which would otherwise keep its spawns for its
        // own worker until a thief comes: each index must land on its own
        // worker, the same one for equal indexes modulo the count.
        let placed: Vec<(usize, String)> = rt.block_on(|| {
            let handles: Vec<_> = (0..4 * workers)
                .map(|i| {
                    Builder::new()
                        .worker(i)
                        .spawn(move || (i % workers, thread_name()))
                        .unwrap()
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut thread_of = std::collections::HashMap::new();
        for (index, thread) in placed {
            let first = thread_of.entry(index).or_insert_with(|| thread.clone());
            assert_eq!(*first, thread, "worker index {index} ran on two threads");
        }
        let distinct: HashSet<&String> = thread_of.values().collect();
        assert_eq!(distinct.len(), workers, "indexes {thread_of:?}");
    }
}
