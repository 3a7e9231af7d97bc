//! Loom model of a worker's sleep protocol: the sleep state of
//! `src/scheduler/sleep.rs`, compiled here against loom's atomics (see
//! `src/loom.rs`), between a worker that is about to wait on its thread
//! and the wakers that give it work.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p coro --release --test loom_sleep`
//!
//! A lost wake-up shows as a worker asleep for good: loom reports the
//! deadlock.
#![cfg(loom)]
#![allow(dead_code)]

/// What `crate::loom` is for the protocol files compiled in here.
mod loom {
    pub(crate) mod sync {
        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{fence, AtomicU8, Ordering};
        }
    }
}

#[path = "../src/scheduler/sleep.rs"]
mod sleep;

use ::loom::sync::atomic::{AtomicUsize, Ordering};
use ::loom::sync::Arc;
use ::loom::thread;
use sleep::{SleepState, Sleeping};

/// The worker's side (`WorkerCtx::sleep`, `Sleeper`): announce the wait,
/// look for work once more, wait; until `expected` items of work came.
/// The look is a relaxed load: only the two `SeqCst` fences order it.
fn worker(state: &SleepState, work: &AtomicUsize, expected: usize) {
    loop {
        state.prepare(false);
        if work.load(Ordering::Relaxed) == expected {
            state.set_awake();
            return;
        }
        thread::park();
        state.set_awake();
    }
}

/// A waker's side (`Sleeper::wake`): publish, then wake the worker only
/// if it waits.
fn give_work(state: &SleepState, work: &AtomicUsize, worker: &thread::Thread) {
    work.fetch_add(1, Ordering::Relaxed);
    match state.take_sleeper() {
        Some(Sleeping::OnThread) => worker.unpark(),
        Some(Sleeping::InDriver) => unreachable!("this worker waits on its thread"),
        None => {}
    }
}

#[test]
fn a_worker_about_to_sleep_sees_the_work_or_the_wake() {
    ::loom::model(|| {
        let state = Arc::new(SleepState::default());
        let work = Arc::new(AtomicUsize::new(0));
        let w = {
            let (state, work) = (state.clone(), work.clone());
            thread::spawn(move || worker(&state, &work, 1))
        };
        give_work(&state, &work, w.thread());
        w.join().unwrap();
    });
}

/// Two wakers, so that one of them finds the worker not yet announced and
/// skips the wake: the worker's look after its announcement must then see
/// that waker's work. (With a plain store for the announcement loom
/// reported a deadlock here; see `sleep.rs` for why every write is a swap.)
#[test]
fn two_wakers_never_leave_the_worker_asleep() {
    ::loom::model(|| {
        let state = Arc::new(SleepState::default());
        let work = Arc::new(AtomicUsize::new(0));
        let w = {
            let (state, work) = (state.clone(), work.clone());
            thread::spawn(move || worker(&state, &work, 2))
        };
        let other = {
            let (state, work, t) = (state.clone(), work.clone(), w.thread().clone());
            thread::spawn(move || give_work(&state, &work, &t))
        };
        give_work(&state, &work, w.thread());
        other.join().unwrap();
        w.join().unwrap();
    });
}
