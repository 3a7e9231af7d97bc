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
//!
//! The shutdown model checks the other side of that transition: a waker
//! that won it goes on to read the task's `home` and push the task there,
//! so the stopping worker must not claim the task (and clear `home`) until
//! the push has reached it.
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

use ::loom::cell::UnsafeCell;
use ::loom::sync::atomic::{AtomicUsize, Ordering};
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

/// A task parked in run `seq`, woken from another thread while its worker
/// stops. The waker that wins reads `home` and then pushes the task to it;
/// the worker claims the task for its unwind only from `PARKED`, or once
/// the push reached it, and then clears `home`. Loom's cell reports any
/// read of `home` that is not ordered before the clear.
fn shutdown_against(wakers: usize, in_park: bool) {
    ::loom::model(move || {
        let st = running();
        let seq = seq(word(&st));
        let epoch = epoch(word(&st));
        if in_park {
            assert!(!st.begin_park());
        }
        assert!(!st.set_parked());
        let home = Arc::new(UnsafeCell::new(1u32));
        let pushed = Arc::new(AtomicUsize::new(0));
        let wakers: Vec<_> = (0..wakers)
            .map(|k| {
                let (st, home, pushed) = (st.clone(), home.clone(), pushed.clone());
                thread::spawn(move || {
                    let schedules = if k == 0 {
                        st.wake(seq)
                    } else {
                        st.unpark(epoch)
                    };
                    if schedules {
                        // SAFETY: a model of `Schedule::schedule`'s read.
                        let home = home.with(|h| unsafe { *h });
                        assert_eq!(home, 1, "the home was cleared under the waker");
                        pushed.fetch_add(1, Ordering::Release);
                    }
                })
            })
            .collect();
        loop {
            let reached_home = pushed.load(Ordering::Acquire) > 0;
            if st.claim_for_unwind(reached_home) {
                break;
            }
            thread::yield_now();
        }
        // SAFETY: a model of `finish`'s `clear_home`.
        home.with_mut(|h| unsafe { *h = 0 });
        for w in wakers {
            w.join().unwrap();
        }
        assert!(pushed.load(Ordering::Relaxed) <= 1, "pushed twice");
        let w = word(&st);
        assert_eq!(w & (PARKED | SCHEDULED), 0);
        assert_ne!(w & RUNNING, 0);
    });
}

#[test]
fn the_stopping_worker_never_clears_home_under_a_waker() {
    shutdown_against(1, false);
}

#[test]
fn the_stopping_worker_never_clears_home_under_a_wake_and_an_unpark() {
    shutdown_against(2, true);
}
