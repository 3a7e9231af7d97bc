//! Shared stacks: when more coroutines are suspended than a worker has
//! mapped stacks, suspended ones are copied out and back. Their frames must
//! come back intact, and a stack must never be handed to a new coroutine
//! while another one's frames live in it.
//!
//! Corrupted frames usually crash the process rather than fail an
//! assertion, so each scenario runs in a child process (this binary run
//! again, see `util::run_child`) and the parent checks that it exited
//! cleanly.

mod util;

use std::hint::black_box;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use util::{child_scenario, run_child};

/// A value no stack holds by accident.
const MARK: u64 = 0x1234_5678_9ABC_DEF0;

fn assert_child_ok(out: &Output, done: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(done),
        "the child failed ({}), a stack was corrupted; stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn shared_runtime(workers: usize, resident: usize) -> coro::Runtime {
    coro::runtime::Builder::new()
        .workers(workers)
        .resident_stacks(resident)
        .thread_name("shared")
        .build()
        .unwrap()
}

/// One worker, one stack. The coroutine `P` parks; child `C1` needs the
/// stack, so `P` is copied out; `C1` finishes and frees the stack; `P` is
/// copied back into it. The stack now holds `P` again, so when `C2` starts
/// while `P` waits for it, `P` must be copied out again, not overwritten.
#[test]
fn a_stack_given_back_to_its_evicted_owner_is_not_reused() {
    if child_scenario().is_some() {
        let rt = shared_runtime(1, 1);
        let intact = rt.block_on(|| {
            let mine = black_box([MARK; 64]);
            coro::spawn(|| ()).join().unwrap();
            coro::spawn(|| {
                // Fill the stack with something else.
                let junk = black_box([0xAAu8; 8192]);
                black_box(&junk);
            })
            .join()
            .unwrap();
            black_box(&mine).iter().all(|&w| w == MARK)
        });
        assert!(intact, "the parked coroutine's stack data changed");
        println!("child done");
        return;
    }
    let out = run_child(
        "a_stack_given_back_to_its_evicted_owner_is_not_reused",
        "reuse",
    );
    assert_child_ok(&out, "child done");
}

/// Many coroutines per mapped stack, on one and on two workers, each
/// checking a stack array of its own across suspensions of every kind.
fn churn(workers: usize) {
    let rt = shared_runtime(workers, 4);
    let bad = Arc::new(AtomicUsize::new(0));
    let b = Arc::clone(&bad);
    rt.block_on(move || {
        let handles: Vec<_> = (0..2000u64)
            .map(|i| {
                let bad = Arc::clone(&b);
                coro::spawn(move || {
                    let mine = black_box([MARK ^ i; 32]);
                    for round in 0..3u64 {
                        match (i + round) % 3 {
                            0 => coro::yield_now(),
                            1 => coro::sleep(Duration::from_micros(100 * (i % 7))),
                            _ => coro::spawn(move || i).join().map(drop).unwrap(),
                        }
                        if black_box(&mine).iter().any(|&w| w != MARK ^ i) {
                            bad.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "coroutines saw corrupted stacks"
    );
}

#[test]
fn frames_survive_stack_sharing_one_worker() {
    if child_scenario().is_some() {
        churn(1);
        println!("child done");
        return;
    }
    let out = run_child("frames_survive_stack_sharing_one_worker", "churn1");
    assert_child_ok(&out, "child done");
}

#[test]
fn frames_survive_stack_sharing_two_workers() {
    if child_scenario().is_some() {
        churn(2);
        println!("child done");
        return;
    }
    let out = run_child("frames_survive_stack_sharing_two_workers", "churn2");
    assert_child_ok(&out, "child done");
}
