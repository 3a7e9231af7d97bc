//! Scoped coroutines: borrowing from the caller, results, panics, nesting,
//! and the pinning of the owner's stack when stacks are shared.

mod util;

use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use coro::Builder;
use util::{panic_message, rt_test};

const MS: Duration = Duration::from_millis(1);

/// Children write disjoint chunks of a vector and read a shared slice, all
/// on the caller's stack; some park on the way.
fn borrow_disjoint_and_shared() {
    let shared: Vec<u8> = (0..=255).collect();
    let shared: &[u8] = &shared;
    let mut out = [0u64; 64];
    coro::scope(|s| {
        for (i, chunk) in out.chunks_mut(8).enumerate() {
            s.spawn(move || {
                if i % 2 == 0 {
                    coro::sleep(MS);
                } else {
                    coro::yield_now();
                }
                for (j, x) in chunk.iter_mut().enumerate() {
                    *x = u64::from(shared[i * 8 + j]) * 2;
                }
            });
        }
    });
    let want: Vec<u64> = (0..64).map(|k| k * 2).collect();
    assert_eq!(out.to_vec(), want);
}

rt_test! {
    fn children_borrow_from_a_coroutine(rt) {
        rt.block_on(borrow_disjoint_and_shared);
    }
}

#[test]
fn children_borrow_from_a_plain_thread() {
    util::watchdog(
        "scope on a plain thread",
        util::WATCHDOG,
        borrow_disjoint_and_shared,
    );
}

rt_test! {
    fn scope_returns_the_closure_value(rt) {
        let base = 40;
        let v = rt.block_on(|| {
            coro::scope(|s| {
                let h = s.spawn(|| base + 1);
                let k = s.spawn(|| 1);
                h.join().unwrap() + k.join().unwrap()
            })
        });
        assert_eq!(v, 42);
    }
}

rt_test! {
    fn an_unjoined_child_panic_makes_scope_panic(rt) {
        let finished = AtomicBool::new(false);
        let err = rt.block_on(|| {
            panic::catch_unwind(AssertUnwindSafe(|| {
                coro::scope(|s| {
                    s.spawn(|| panic!("child"));
                    // A sibling still runs to its end before scope panics.
                    s.spawn(|| {
                        coro::sleep(20 * MS);
                        finished.store(true, Ordering::SeqCst);
                    });
                    7
                })
            }))
            .unwrap_err()
        });
        let msg = panic_message(&*err);
        assert!(msg.contains("a scoped coroutine panicked"), "{msg:?}");
        assert!(finished.load(Ordering::SeqCst), "scope returned before all its children");
    }
}

rt_test! {
    fn a_joined_child_panic_does_not(rt) {
        let v = rt.block_on(|| {
            coro::scope(|s| {
                let h = s.spawn(|| -> u32 { panic!("joined") });
                let err = h.join().unwrap_err();
                assert!(err.is_panic());
                assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"joined"));
                5
            })
        });
        assert_eq!(v, 5);
    }
}

rt_test! {
    fn a_panic_in_the_closure_resumes_after_the_children(rt) {
        let finished = AtomicBool::new(false);
        let err = rt.block_on(|| {
            panic::catch_unwind(AssertUnwindSafe(|| {
                coro::scope(|s| {
                    s.spawn(|| {
                        coro::sleep(20 * MS);
                        finished.store(true, Ordering::SeqCst);
                    });
                    panic!("body");
                })
            }))
            .unwrap_err()
        });
        assert_eq!(panic_message(&*err), "body");
        assert!(finished.load(Ordering::SeqCst), "scope unwound before its child finished");
    }
}

rt_test! {
    fn scopes_nest(rt) {
        let outer_data = [1u64, 2, 3, 4];
        let total = rt.block_on(|| {
            coro::scope(|outer| {
                let handles: Vec<_> = outer_data
                    .iter()
                    .map(|x| {
                        outer.spawn(move || {
                            let inner_data = [*x; 8];
                            let mut sums = [0u64; 2];
                            coro::scope(|inner| {
                                for (half, sum) in inner_data.chunks(4).zip(sums.iter_mut()) {
                                    inner.spawn(move || {
                                        coro::yield_now();
                                        *sum = half.iter().sum::<u64>() + outer_data.len() as u64;
                                    });
                                }
                            });
                            sums.iter().sum::<u64>()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        });
        // Each x: two halves of 4 * x, plus 4 each.
        assert_eq!(total, outer_data.iter().map(|x| 8 * x + 8).sum::<u64>());
    }
}

rt_test! {
    fn scoped_handles_report_is_finished(rt) {
        let go = AtomicBool::new(false);
        rt.block_on(|| {
            coro::scope(|s| {
                let h = s.spawn(|| {
                    while !go.load(Ordering::SeqCst) {
                        coro::yield_now();
                    }
                });
                for _ in 0..50 {
                    assert!(!h.is_finished());
                    coro::yield_now();
                }
                go.store(true, Ordering::SeqCst);
                util::wait_until("the scoped child finished", || h.is_finished());
                h.join().unwrap();
            });
        });
    }
}

rt_test! {
    fn builder_spawn_scoped_names_and_sizes(rt) {
        let data = [3u32; 10];
        let (name, sum) = rt.block_on(|| {
            coro::scope(|s| {
                let h = Builder::new()
                    .name("scoped")
                    .stack_size(64 * 1024)
                    .spawn_scoped(s, || {
                        coro::yield_now();
                        (coro::current().name().map(str::to_owned), data.iter().sum::<u32>())
                    })
                    .unwrap();
                h.join().unwrap()
            })
        });
        assert_eq!(name.as_deref(), Some("scoped"));
        assert_eq!(sum, 30);

        // An impossible stack size is an error, not a child.
        coro::scope(|s| {
            let err = Builder::new().stack_size(2 << 30).spawn_scoped(s, || ()).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        });
    }
}

/// Children in [`owner_data_survives_shared_stacks`].
const CHILDREN: usize = 300;
/// Words of the owner's stack array the children read.
const OWNER_WORDS: usize = 256;
/// Words of each child's own stack array it checks across its sleeps.
const CHILD_WORDS: usize = 64;

fn owner_pattern(k: usize) -> u64 {
    (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF
}

/// Runs on a runtime whose workers have one mapped stack each: every child
/// that parks is copied out so the next can run. The owner's frames, which
/// the children borrow, must stay in place throughout; each child's own
/// frames must come back intact after every park.
fn owner_data_survives_shared_stacks(workers: usize) {
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .resident_stacks(1)
        .thread_name(format!("shared{workers}"))
        .build()
        .unwrap();
    let bad = AtomicUsize::new(0);
    let results = rt.block_on(|| {
        let owner: [u64; OWNER_WORDS] = black_box(std::array::from_fn(owner_pattern));
        let owner = &owner;
        let bad = &bad;
        let mut results = vec![0u64; CHILDREN];
        coro::scope(|s| {
            for (i, out) in results.iter_mut().enumerate() {
                s.spawn(move || {
                    let mine: [u64; CHILD_WORDS] = black_box([i as u64 ^ 0x5555; CHILD_WORDS]);
                    for round in 0..3 {
                        coro::sleep(Duration::from_millis(((i + round) % 5) as u64 + 1));
                        let mine_ok = black_box(&mine).iter().all(|&w| w == i as u64 ^ 0x5555);
                        let owner_ok = (0..OWNER_WORDS).all(|k| owner[k] == owner_pattern(k));
                        if !mine_ok || !owner_ok {
                            bad.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    *out = owner[i % OWNER_WORDS] ^ black_box(&mine)[0];
                });
            }
        });
        assert!(
            (0..OWNER_WORDS).all(|k| owner[k] == owner_pattern(k)),
            "the owner's stack changed"
        );
        results
    });
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "children saw corrupted stack data"
    );
    for (i, r) in results.into_iter().enumerate() {
        assert_eq!(r, owner_pattern(i % OWNER_WORDS) ^ (i as u64 ^ 0x5555));
    }
}

#[test]
fn owner_data_survives_shared_stacks_one_worker() {
    util::watchdog("shared stacks, 1 worker", util::WATCHDOG, || {
        owner_data_survives_shared_stacks(1)
    });
}

#[test]
fn owner_data_survives_shared_stacks_four_workers() {
    util::watchdog("shared stacks, 4 workers", util::WATCHDOG, || {
        owner_data_survives_shared_stacks(4)
    });
}

/// Many scope owners parked at once with one mapped stack per worker: all
/// are pinned, so the pool must map past its budget rather than copy any
/// owner out or fail.
fn many_pinned_owners(workers: usize) {
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .resident_stacks(1)
        .thread_name(format!("pinned{workers}"))
        .build()
        .unwrap();
    let total = rt.block_on(|| {
        coro::scope(|s| {
            let handles: Vec<_> = (0..50u64)
                .map(|i| {
                    s.spawn(move || {
                        let mine = black_box([i; 16]);
                        let mut parts = [0u64; 4];
                        coro::scope(|inner| {
                            for (j, p) in parts.iter_mut().enumerate() {
                                let mine = &mine;
                                inner.spawn(move || {
                                    coro::sleep(Duration::from_millis(j as u64 + 1));
                                    *p = mine.iter().sum::<u64>() + j as u64;
                                });
                            }
                        });
                        parts.iter().sum::<u64>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        })
    });
    let want: u64 = (0..50u64).map(|i| 4 * 16 * i + 6).sum();
    assert_eq!(total, want);
}

#[test]
fn many_pinned_scope_owners_one_worker() {
    util::watchdog("pinned owners, 1 worker", util::WATCHDOG, || {
        many_pinned_owners(1)
    });
}

#[test]
fn many_pinned_scope_owners_four_workers() {
    util::watchdog("pinned owners, 4 workers", util::WATCHDOG, || {
        many_pinned_owners(4)
    });
}
