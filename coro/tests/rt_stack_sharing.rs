//! Stacks lent outside their coroutine across a suspension (issue 14, part
//! A): a suspended coroutine's stack is evicted past the resident budget,
//! and code that kept pointers into it must see the coroutine's own data
//! (when the stack is pinned) or abort with a message naming the coroutine
//! and the rule (when it is not). It must never see another coroutine's
//! frames, lose a write, or hang.
//!
//! Every case runs under 1 and 4 workers, with the default budget and with
//! `resident_stacks(1)`. Cases that may abort run in a child process (this
//! binary again, see `util::run_child`), and the parent checks how it ended.

mod util;

use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coro::Runtime;
use util::{child_scenario, run_child, watchdog, WATCHDOG};

/// Words of the lender's array that the thread checks.
const LENT_WORDS: usize = 1024;
/// Coroutines that park meanwhile in item 1 with the default budget: past
/// the budget of one worker (4,096 resident stacks at most), so the lender
/// is evicted.
const PARKERS: usize = 10_000;
/// The same with a budget of 1, where a few suffice.
const PARKERS_BUDGET_1: usize = 1_000;

fn parkers(budget: Option<usize>) -> usize {
    if budget == Some(1) {
        PARKERS_BUDGET_1
    } else {
        PARKERS
    }
}
/// Parked coroutines in item 2: a few, as in the issue.
const FEW_PARKERS: usize = 8;
/// Words of every parked coroutine's own array.
const PARKER_WORDS: usize = 256;
/// What a child prints when it ran to the end with every check passing.
const VERIFIED: &str = "child verified every value";
/// What the abort message must say.
const RULE: [&str; 3] = [
    "coroutine 'lender'",
    "its stack was evicted while lent",
    "coro::pin_stack",
];

fn runtime(workers: usize, budget: Option<usize>) -> Runtime {
    let mut b = coro::runtime::Builder::new().workers(workers);
    if let Some(n) = budget {
        b = b.resident_stacks(n);
    }
    b.build().expect("cannot build a runtime")
}

fn pattern(owner: u64, i: usize) -> u64 {
    owner.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
}

/// Spawns `n` coroutines that each fill a local array with their own
/// pattern, park until `release` is dropped, and check the array. Returns
/// their handles and a count of those that have reached the park.
fn spawn_parkers(
    n: usize,
    release: &coro::chan::Receiver<()>,
) -> (Vec<coro::JoinHandle<()>>, Arc<AtomicUsize>) {
    let parked = Arc::new(AtomicUsize::new(0));
    let handles = (0..n)
        .map(|k| {
            let rx = release.clone();
            let parked = Arc::clone(&parked);
            coro::spawn(move || {
                let owner = k as u64 + 1;
                let mut own = [0u64; PARKER_WORDS];
                for (i, w) in own.iter_mut().enumerate() {
                    *w = pattern(owner, i);
                }
                let own = std::hint::black_box(own);
                parked.fetch_add(1, Ordering::Relaxed);
                let _ = rx.recv();
                for (i, w) in own.iter().enumerate() {
                    assert_eq!(*w, pattern(owner, i), "parker {k} lost its own frame");
                }
            })
        })
        .collect();
    (handles, parked)
}

/// Item 1: a coroutine lends a local array to a `std::thread::scope`
/// thread, which keeps checking it and writing to its own words, then
/// sleeps while `parkers` other coroutines park. With `pin`, inside
/// `coro::pin_stack`.
fn lend_to_scoped_thread(workers: usize, budget: Option<usize>, pin: bool, parkers: usize) {
    let rt = runtime(workers, budget);
    let h = coro::Builder::new()
        .name("lender")
        .spawn_on(&rt, move || {
            let body = || {
                let lent: [AtomicU64; LENT_WORDS] =
                    std::array::from_fn(|i| AtomicU64::new(pattern(0, i)));
                let stop = AtomicBool::new(false);
                let started = AtomicBool::new(false);
                let passes = Arc::new(AtomicU64::new(0));
                let writes = std::thread::scope(|s| {
                    let reader = s.spawn(|| {
                        let mut writes = 0u64;
                        while !stop.load(Ordering::Acquire) {
                            // Even words are read only; odd words count up.
                            for i in (0..LENT_WORDS).step_by(2) {
                                let v = lent[i].load(Ordering::Relaxed);
                                assert_eq!(v, pattern(0, i), "the thread read foreign data");
                            }
                            for i in (1..LENT_WORDS).step_by(2) {
                                lent[i].fetch_add(1, Ordering::Relaxed);
                            }
                            writes += 1;
                            passes.fetch_add(1, Ordering::Relaxed);
                            started.store(true, Ordering::Release);
                        }
                        writes
                    });
                    park_others_while_lent(&started, parkers, &passes);
                    stop.store(true, Ordering::Release);
                    reader
                        .join()
                        .expect("the thread saw only the lender's data")
                });
                for i in (1..LENT_WORDS).step_by(2) {
                    assert_eq!(
                        lent[i].load(Ordering::Relaxed),
                        pattern(0, i).wrapping_add(writes),
                        "a write of the thread was lost"
                    );
                }
            };
            if pin {
                coro::pin_stack(body)
            } else {
                body()
            }
        })
        .expect("spawn");
    h.join().expect("the lender ran to the end");
    drop(rt);
}

/// Item 2: a `rayon::in_place_scope` job reads the coroutine's local while
/// the coroutine sleeps, with a few other coroutines parked.
fn lend_to_rayon(workers: usize, budget: Option<usize>, pin: bool) {
    let rt = runtime(workers, budget);
    let h = coro::Builder::new()
        .name("lender")
        .spawn_on(&rt, move || {
            let body = || {
                let local: [u64; LENT_WORDS] = std::array::from_fn(|i| pattern(0, i));
                let local = std::hint::black_box(local);
                let stop = AtomicBool::new(false);
                let started = AtomicBool::new(false);
                let sum = AtomicU64::new(0);
                let passes = Arc::new(AtomicU64::new(0));
                rayon::in_place_scope(|s| {
                    s.spawn(|_| {
                        while !stop.load(Ordering::Acquire) {
                            let mut x = 0u64;
                            for (i, w) in local.iter().enumerate() {
                                let w = unsafe_free_read(w);
                                assert_eq!(w, pattern(0, i), "the job read foreign data");
                                x = x.wrapping_add(w);
                            }
                            sum.store(x, Ordering::Relaxed);
                            passes.fetch_add(1, Ordering::Relaxed);
                            started.store(true, Ordering::Release);
                        }
                    });
                    park_others_while_lent(&started, FEW_PARKERS, &passes);
                    stop.store(true, Ordering::Release);
                });
                let expect = (0..LENT_WORDS).fold(0u64, |x, i| x.wrapping_add(pattern(0, i)));
                assert_eq!(sum.load(Ordering::Relaxed), expect);
            };
            if pin {
                coro::pin_stack(body)
            } else {
                body()
            }
        })
        .expect("spawn");
    h.join().expect("the lender ran to the end");
    drop(rt);
}

/// Once the borrower has `started`, parks `parkers` other coroutines
/// (each checking its own frame when released) and waits, parked too,
/// for the borrower's passes (see [`wait_for_passes_elsewhere`]); then
/// releases and joins them.
fn park_others_while_lent(started: &AtomicBool, parkers: usize, passes: &Arc<AtomicU64>) {
    while !started.load(Ordering::Acquire) {
        coro::sleep(Duration::from_millis(1));
    }
    let (tx, rx) = coro::chan::bounded::<()>(0);
    let (handles, parked) = spawn_parkers(parkers, &rx);
    drop(rx);
    while parked.load(Ordering::Relaxed) < parkers {
        coro::sleep(Duration::from_millis(1));
    }
    // Every parker has parked: eviction had its chance.
    wait_for_passes_elsewhere(passes);
    drop(tx);
    for h in handles {
        h.join().expect("a parker's frame was intact");
    }
}

/// Full passes over the lent array that the borrowing thread must make
/// while the lender waits, so that it certainly reads the lender's stack
/// while the lender is parked (and, past the budget, evicted), however
/// late the machine schedules it.
const PASSES_WHILE_PARKED: u64 = 2;
/// The most the lender waits for them (the thread is starved beyond any
/// CI load past this).
const PASSES_LIMIT: Duration = Duration::from_secs(20);

/// Parks the calling lender until the borrowing thread has made
/// [`PASSES_WHILE_PARKED`] more passes, counted in `passes`: it joins
/// another coroutine that watches the count, so the lender stays parked
/// (and evictable) the whole time instead of resuming to look.
fn wait_for_passes_elsewhere(passes: &Arc<AtomicU64>) {
    let passes = Arc::clone(passes);
    coro::spawn(move || {
        let target = passes.load(Ordering::Relaxed) + PASSES_WHILE_PARKED;
        let start = std::time::Instant::now();
        while passes.load(Ordering::Relaxed) < target && start.elapsed() < PASSES_LIMIT {
            coro::sleep(Duration::from_millis(1));
        }
    })
    .join()
    .expect("the watcher ran");
}

/// A read the optimizer must perform every time.
fn unsafe_free_read(w: &u64) -> u64 {
    std::hint::black_box(*std::hint::black_box(w))
}

/// Item 3: Q starts after the main coroutine and evicts it, then owns a
/// scope whose child waits for a message only the main coroutine sends.
fn evictor_owns_a_scope(workers: usize, budget: Option<usize>) {
    let rt = runtime(workers, budget);
    let got = rt.block_on(|| {
        let (tx, rx) = coro::chan::bounded::<u32>(0);
        let q = coro::spawn(move || {
            coro::scope(|s| {
                s.spawn(|| rx.recv().expect("the main coroutine sends"))
                    .join()
            })
            .expect("the child receives")
        });
        // Let Q start (evicting this coroutine) and its child park.
        coro::yield_now();
        coro::sleep(Duration::from_millis(1));
        tx.send(42).expect("the child is there");
        q.join().expect("Q ends")
    });
    assert_eq!(got, 42);
}

/// How a lending child must end: with every check passed, or, where the
/// stack may be evicted, killed by `SIGABRT` with the rule on stderr.
/// `must_abort`: eviction of the lender is certain in this configuration.
fn check_child(out: &Output, must_abort: bool) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() && stdout.contains(VERIFIED) && !must_abort {
        return;
    }
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child should have aborted with the rule, but {}; stdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for needle in RULE {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
    assert!(!stdout.contains(VERIFIED));
}

/// Runs `body` as the child of test `name`, or runs the child and checks it.
fn in_child(name: &str, must_abort: bool, body: impl FnOnce()) {
    if child_scenario().is_some() {
        body();
        println!("{VERIFIED}");
        return;
    }
    let out = watchdog(name, WATCHDOG, {
        let name = name.to_owned();
        move || run_child(&name, "lend")
    });
    check_child(&out, must_abort);
}

macro_rules! per_config {
    ($($name:ident: $workers:expr, $budget:expr;)*) => {$(
        mod $name {
            use super::*;

            #[test]
            fn thread_scope_pinned_sees_its_data() {
                watchdog(concat!(stringify!($name), "::thread_scope_pinned"), WATCHDOG, || {
                    lend_to_scoped_thread($workers, $budget, true, parkers($budget))
                });
            }

            #[test]
            fn thread_scope_unpinned_is_correct_or_reported() {
                // With a budget of 1, or one worker and more parkers than
                // the default budget, the lender is surely evicted.
                let must_abort = $budget == Some(1) || $workers == 1;
                in_child(
                    concat!(stringify!($name), "::thread_scope_unpinned_is_correct_or_reported"),
                    must_abort,
                    || lend_to_scoped_thread($workers, $budget, false, parkers($budget)),
                );
            }

            #[test]
            fn rayon_pinned_sees_its_data() {
                watchdog(concat!(stringify!($name), "::rayon_pinned"), WATCHDOG, || {
                    lend_to_rayon($workers, $budget, true)
                });
            }

            #[test]
            fn rayon_unpinned_is_correct_or_reported() {
                // With a budget of 1 on one worker, the parkers evict it.
                let must_abort = $budget == Some(1) && $workers == 1;
                in_child(
                    concat!(stringify!($name), "::rayon_unpinned_is_correct_or_reported"),
                    must_abort,
                    || lend_to_rayon($workers, $budget, false),
                );
            }

            #[test]
            fn an_evicted_coroutine_resumes_while_its_evictor_is_a_scope_owner() {
                watchdog(concat!(stringify!($name), "::evictor_owns_a_scope"), WATCHDOG, || {
                    evictor_owns_a_scope($workers, $budget)
                });
            }
        }
    )*};
}

per_config! {
    one_worker_default_budget: 1, None;
    one_worker_budget_1: 1, Some(1);
    four_workers_default_budget: 4, None;
    four_workers_budget_1: 4, Some(1);
}

/// Coroutines in the stress test.
const STRESS_COROUTINES: usize = 2_000;
/// Suspensions of each.
const STRESS_ROUNDS: usize = 20;
/// Resident stacks per worker in the stress test: far fewer than coroutines,
/// so nearly every resume restores an evicted stack.
const STRESS_BUDGET: usize = 8;

fn stress(workers: usize) {
    let rt = runtime(workers, Some(STRESS_BUDGET));
    rt.block_on(|| {
        let handles: Vec<_> = (0..STRESS_COROUTINES)
            .map(|k| {
                coro::spawn(move || {
                    let owner = k as u64 + 1;
                    let mut own = [0u64; PARKER_WORDS];
                    for round in 0..STRESS_ROUNDS as u64 {
                        for (i, w) in own.iter_mut().enumerate() {
                            *w = pattern(owner ^ (round << 32), i);
                        }
                        std::hint::black_box(&mut own);
                        if round % 2 == 0 {
                            coro::yield_now();
                        } else {
                            coro::sleep(Duration::from_micros(50));
                        }
                        for (i, w) in own.iter().enumerate() {
                            assert_eq!(
                                *w,
                                pattern(owner ^ (round << 32), i),
                                "coroutine {k} round {round}: its frame changed"
                            );
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("every frame came back intact");
        }
    });
}

#[test]
fn stress_evicted_and_restored_frames_stay_intact_one_worker() {
    watchdog("stress (1 worker)", WATCHDOG, || stress(1));
}

#[test]
fn stress_evicted_and_restored_frames_stay_intact_four_workers() {
    watchdog("stress (4 workers)", WATCHDOG, || stress(4));
}

/// Recurses without end, with a page-sized array in every frame.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth as u8; 4096]);
    recurse(std::hint::black_box(depth + 1)) + u64::from(frame[depth as usize % 4096])
}

#[test]
fn an_overflow_after_eviction_and_restore_names_the_coroutine() {
    const NAME: &str = "an_overflow_after_eviction_and_restore_names_the_coroutine";
    if child_scenario().is_some() {
        let rt = runtime(1, Some(1));
        rt.block_on(|| {
            let (tx, rx) = coro::chan::bounded::<()>(0);
            let deep = coro::Builder::new()
                .name("restored")
                .stack_size(64 * 1024)
                .spawn(move || {
                    // Parks; the sender below runs meanwhile and, with a
                    // budget of one, evicts this stack.
                    rx.recv().expect("woken");
                    recurse(0)
                })
                .unwrap();
            coro::yield_now();
            coro::spawn(move || tx.send(()).unwrap()).join().unwrap();
            let _ = deep.join();
        });
        println!("the child survived its overflow");
        return;
    }
    let out = run_child(NAME, "overflow");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.signal().is_some(), "{}: {stderr}", out.status);
    for needle in ["coroutine 'restored'", "overflowed its stack of", "65536"] {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}
