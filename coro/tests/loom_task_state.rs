//! Loom model of the task state word: the park/wake machine of
//! `src/task/state.rs`, compiled here against loom's atomics (see
//! `src/loom.rs`), run against itself from several threads.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p coro --release --test loom_task_state`
//!
//! Each model checks the no-lost-wake-up rule: when a worker parks a task
//! while wakers fire, exactly one party ends up scheduling it (the worker,
//! because a wake came first and left `NOTIFIED`, or the one waker that
//! moved it from `PARKED` to `SCHEDULED`), never none and never two.
#![cfg(loom)]
#![allow(dead_code)]

/// What `crate::loom` is for the protocol files compiled in here.
mod loom {
    pub(crate) mod sync {
        pub(crate) mod atomic {
            pub(crate) use ::loom::sync::atomic::{AtomicU64, Ordering};
        }
    }
}

#[path = "../src/task/state.rs"]
mod state;

use ::loom::sync::Arc;
use ::loom::thread;
use state::*;

/// A task its worker has just resumed.
fn running() -> Arc<State> {
    let st = Arc::new(State::new(SCHEDULED));
    st.set_running();
    st
}

fn word(st: &State) -> u64 {
    st.word().load(::loom::sync::atomic::Ordering::SeqCst)
}

#[test]
fn a_wake_races_the_park_and_is_never_lost() {
    ::loom::model(|| {
        let st = running();
        let seq = seq(word(&st));
        let waker = {
            let st = st.clone();
            thread::spawn(move || st.wake(seq))
        };
        let worker_reschedules = st.set_parked();
        let waker_schedules = waker.join().unwrap();
        assert!(
            worker_reschedules ^ waker_schedules,
            "scheduled by exactly one: worker {worker_reschedules}, waker {waker_schedules}"
        );
        let w = word(&st);
        assert_eq!(w & (PARKED | RUNNING | NOTIFIED), 0);
        assert_ne!(w & SCHEDULED, 0);
    });
}

#[test]
fn two_wakers_of_one_run_schedule_it_once() {
    ::loom::model(|| {
        let st = running();
        let seq = seq(word(&st));
        let wakers: Vec<_> = (0..2)
            .map(|_| {
                let st = st.clone();
                thread::spawn(move || st.wake(seq))
            })
            .collect();
        let mut schedules = usize::from(st.set_parked());
        for w in wakers {
            schedules += usize::from(w.join().unwrap());
        }
        assert_eq!(schedules, 1);
    });
}

#[test]
fn a_stale_wake_never_schedules_a_later_run() {
    ::loom::model(|| {
        let st = running();
        let old = seq(word(&st));
        st.set_yielded();
        st.set_running();
        let waker = {
            let st = st.clone();
            thread::spawn(move || st.wake(old))
        };
        assert!(!st.set_parked(), "no wake of this run came");
        assert!(!waker.join().unwrap());
        assert_ne!(
            word(&st) & PARKED,
            0,
            "still parked: the stale wake did nothing"
        );
    });
}

#[test]
fn an_unpark_reaches_its_park_once() {
    ::loom::model(|| {
        let st = running();
        let epoch = epoch(word(&st));
        let unparker = {
            let st = st.clone();
            thread::spawn(move || st.unpark(epoch))
        };
        // The task's public park: it returns at once on a token; else it
        // suspends, and its worker parks it.
        let returned_at_once = st.begin_park();
        let worker_reschedules = !returned_at_once && st.set_parked();
        let unparker_schedules = unparker.join().unwrap();
        let ends = [returned_at_once, worker_reschedules, unparker_schedules];
        assert_eq!(
            ends.iter().filter(|&&e| e).count(),
            1,
            "the park ends exactly one way: {ends:?}"
        );
    });
}
