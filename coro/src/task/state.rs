//! The state word of a task slot.
//!
//! One `AtomicU64` per task. The low 16 bits are flags, the next 16 the
//! park epoch (see below), the high 32 bits are
//! the *run sequence*: a counter the home worker bumps every time it resumes
//! the task. A [`Waiter`](crate::task::Waiter) captured while the task runs
//! carries the sequence it saw, so a wake that arrives after the task has
//! moved on (a timer that fired late, a channel that lost a `select!` race)
//! finds a different sequence and does nothing. That is what makes a stale
//! wake-up harmless instead of a spurious resume of some later wait.
//!
//! Flag bits and who sets them:
//!
//! * `SCHEDULED`: the task sits in a run queue (or is about to). Set by
//!   `spawn`, by a waker that found the task `PARKED`, by the worker when a
//!   task yields. Cleared by the worker when it resumes the task.
//! * `RUNNING`: the task is executing on its worker. Set and cleared only by
//!   the worker.
//! * `PARKED`: the task is suspended until a wake with the current sequence.
//!   Set by the worker after the coroutine suspended with `Park`; cleared by
//!   the waker that schedules it.
//! * `NOTIFIED`: a wake with the current sequence arrived while the task was
//!   still `RUNNING` (it registered a waiter and has not suspended yet). The
//!   worker sees it when the coroutine suspends and schedules it again at
//!   once instead of parking it. This is the no-lost-wake-up rule.
//! * `COMPLETE`: the task finished; its payload holds the output. Set once,
//!   by the worker (or by whoever cancels a never-started task).
//! * `OUTPUT_TAKEN`: the output was moved out (by `join`) or dropped.
//! * `JOIN_WAITER`: the join waiter cell holds a waiter. Set by the
//!   `JoinHandle` owner, read by whoever sets `COMPLETE`.
//! * `UNPARKED`: an [`Unparker`](crate::Unparker) of the current *park
//!   epoch* fired while the task was not in that epoch's public
//!   `coro::park`; that park returns at once (the token of
//!   `std::thread::park`, for one park only). Set by the unparker, cleared
//!   by the task.
//! * `IN_PARK`: the task is inside a public `coro::park`/`park_until`, so
//!   an unparker of its epoch must also wake it (as a waiter of the current
//!   run would). Set and cleared by the task.
//!
//! # The park epoch
//!
//! Bits 16 to 31 count the task's returns from a public `coro::park` (the
//! *park epoch*). An `Unparker` carries the epoch it was made in and wakes
//! only that epoch's park: it stays good across the yields and the parks
//! inside this crate's primitives (a channel send, a sleep) that come
//! between its making and that park, which the run sequence, bumped on
//! every resume to keep the primitives' own waiters to one wait each,
//! could not promise. Once that park has returned, older unparkers do
//! nothing (one whose epoch is a multiple of 2^16 behind may make a park
//! return early, which `park` allows).

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// In a run queue, or about to be pushed to one.
pub(crate) const SCHEDULED: u64 = 1 << 0;
/// Executing on its home worker.
pub(crate) const RUNNING: u64 = 1 << 1;
/// Suspended until a wake with the current run sequence.
pub(crate) const PARKED: u64 = 1 << 2;
/// A wake arrived while `RUNNING`; reschedule on suspend.
pub(crate) const NOTIFIED: u64 = 1 << 3;
/// Finished: the payload holds the output (or nothing, once taken).
pub(crate) const COMPLETE: u64 = 1 << 4;
/// The output was taken or dropped.
pub(crate) const OUTPUT_TAKEN: u64 = 1 << 5;
/// The join waiter cell is filled.
pub(crate) const JOIN_WAITER: u64 = 1 << 6;
/// An unparker of the current park epoch fired: that park returns at once.
pub(crate) const UNPARKED: u64 = 1 << 7;
/// Inside a public `coro::park`.
pub(crate) const IN_PARK: u64 = 1 << 8;
/// Shift of the park epoch in the word.
pub(crate) const EPOCH_SHIFT: u32 = 16;
/// Mask of the park epoch in the word.
pub(crate) const EPOCH: u64 = 0xFFFF << EPOCH_SHIFT;
/// What a resume keeps of the flag half: the join waiter and the park
/// state, which outlive runs.
const KEPT_ACROSS_RUNS: u64 = JOIN_WAITER | UNPARKED | IN_PARK | EPOCH;

/// Mask of the flag half of the word.
pub(crate) const FLAGS: u64 = u32::MAX as u64;
/// Shift of the run sequence in the word.
pub(crate) const SEQ_SHIFT: u32 = 32;

/// The run sequence stored in a state word.
#[inline]
pub(crate) fn seq(state: u64) -> u32 {
    (state >> SEQ_SHIFT) as u32
}

/// The park epoch stored in a state word.
#[inline]
pub(crate) fn epoch(state: u64) -> u32 {
    ((state & EPOCH) >> EPOCH_SHIFT) as u32
}

/// `state` after a public park returned: the next park epoch, the park
/// flags cleared.
#[inline]
pub(crate) fn park_returned(state: u64) -> u64 {
    let next = ((epoch(state).wrapping_add(1) as u64) << EPOCH_SHIFT) & EPOCH;
    (state & !(EPOCH | UNPARKED | IN_PARK)) | next
}

/// The state word of a task that was just resumed: `RUNNING`, with the next
/// sequence, keeping the join waiter and the park state of `prev`.
#[inline]
pub(crate) fn resumed(prev: u64) -> u64 {
    let next_seq = (seq(prev).wrapping_add(1) as u64) << SEQ_SHIFT;
    next_seq | (prev & KEPT_ACROSS_RUNS) | RUNNING
}

/// The state word, with the transitions of the park/wake state machine:
/// the worker's (resume, park, yield), a waker's, an unparker's, and the
/// task's own around a public park. Each is one compare-and-swap loop on
/// the word; the ones a waker runs say whether the caller must schedule
/// the task (it moved it from `PARKED` to `SCHEDULED`), so that scheduling
/// is the caller's business, not this module's. The loom model
/// `tests/loom_task_state.rs` runs these against each other.
#[derive(Debug)]
pub(crate) struct State(AtomicU64);

impl State {
    pub(crate) fn new(word: u64) -> State {
        State(AtomicU64::new(word))
    }

    /// The word itself, for the slot's own protocols (completion, the join
    /// waiter, recycling).
    #[inline]
    pub(crate) fn word(&self) -> &AtomicU64 {
        &self.0
    }

    /// The worker resumes the task: `RUNNING`, next run sequence.
    #[inline]
    pub(crate) fn set_running(&self) {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            match self
                .0
                .compare_exchange_weak(s, resumed(s), Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// The stopping home worker takes a suspended task to unwind it:
    /// `RUNNING`, next run sequence, as [`set_running`](Self::set_running),
    /// but only from a state in which no waker can still be on its way to
    /// the task's `home`. That is `PARKED` (the transition shuts every
    /// waker out: their wake needs `PARKED` and the old sequence), or
    /// `SCHEDULED` once the worker has taken the task off its own queues
    /// (`reached_home`: the waker that scheduled it is done with the slot).
    /// A task `SCHEDULED` but not yet pushed has a waker between its
    /// transition and its read of `home`: false, try again later.
    #[inline]
    pub(crate) fn claim_for_unwind(&self, reached_home: bool) -> bool {
        let mut s = self.0.load(Ordering::Acquire);
        loop {
            let claimable = s & PARKED != 0 || (s & SCHEDULED != 0 && reached_home);
            if !claimable {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(s, resumed(s), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// The coroutine suspended to wait: `PARKED`, or back to `SCHEDULED` if
    /// a wake already arrived (`NOTIFIED`). True when the worker must
    /// schedule the task again at once.
    #[inline]
    pub(crate) fn set_parked(&self) -> bool {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            let notified = s & NOTIFIED != 0;
            let next = if notified {
                (s & !(RUNNING | NOTIFIED)) | SCHEDULED
            } else {
                (s & !RUNNING) | PARKED
            };
            match self
                .0
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return notified,
                Err(now) => s = now,
            }
        }
    }

    /// The coroutine yielded: `SCHEDULED`.
    #[inline]
    pub(crate) fn set_yielded(&self) {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            let next = (s & !(RUNNING | NOTIFIED)) | SCHEDULED;
            match self
                .0
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }

    /// A waiter of run `run_seq` fires. Marks a running task `NOTIFIED`, or
    /// moves a parked one to `SCHEDULED` and returns true: the caller must
    /// then schedule it. A stale or late wake does nothing.
    #[inline]
    pub(crate) fn wake(&self, run_seq: u32) -> bool {
        let mut s = self.0.load(Ordering::Acquire);
        loop {
            if seq(s) != run_seq || s & COMPLETE != 0 {
                return false;
            }
            let next = if s & PARKED != 0 {
                (s & !PARKED) | SCHEDULED
            } else if s & RUNNING != 0 && s & NOTIFIED == 0 {
                s | NOTIFIED
            } else {
                return false;
            };
            match self
                .0
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return s & PARKED != 0,
                Err(now) => s = now,
            }
        }
    }

    /// An `Unparker` of park epoch `park_epoch` fires: wakes the task if it
    /// is in that epoch's public park (true: the caller must schedule it,
    /// as for [`wake`](Self::wake)), else leaves the token for it.
    #[inline]
    pub(crate) fn unpark(&self, park_epoch: u32) -> bool {
        let mut s = self.0.load(Ordering::Acquire);
        loop {
            if epoch(s) != park_epoch || s & COMPLETE != 0 {
                return false;
            }
            let mut next = s | UNPARKED;
            let mut schedule = false;
            if s & IN_PARK != 0 {
                // The park's own suspension (it is the only one inside a
                // public park): wake it as a waiter of the current run
                // would (see `wake`).
                if s & PARKED != 0 {
                    next = (next & !PARKED) | SCHEDULED;
                    schedule = true;
                } else if s & RUNNING != 0 {
                    next |= NOTIFIED;
                }
            }
            if next == s {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return schedule,
                Err(now) => s = now,
            }
        }
    }

    /// The task enters a public park: true (and the next epoch) if an
    /// unparker of this epoch fired already, so the park returns at once;
    /// else marks it `IN_PARK`.
    #[inline]
    pub(crate) fn begin_park(&self) -> bool {
        let mut s = self.0.load(Ordering::Acquire);
        loop {
            let (next, unparked) = if s & UNPARKED != 0 {
                (park_returned(s), true)
            } else {
                (s | IN_PARK, false)
            };
            match self
                .0
                .compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return unparked,
                Err(now) => s = now,
            }
        }
    }

    /// The task leaves a public park: the next epoch, so older unparkers
    /// do nothing (an unpark that came before this point is delivered by
    /// the return itself).
    #[inline]
    pub(crate) fn end_park(&self) {
        let mut s = self.0.load(Ordering::Relaxed);
        loop {
            match self.0.compare_exchange_weak(
                s,
                park_returned(s),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => s = now,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn resumed_bumps_sequence_and_keeps_join_waiter() {
        let s = (7u64 << SEQ_SHIFT) | SCHEDULED | JOIN_WAITER;
        let r = resumed(s);
        assert_eq!(seq(r), 8);
        assert_eq!(r & FLAGS, RUNNING | JOIN_WAITER);
    }

    #[test]
    fn resumed_keeps_the_park_state() {
        let s = (3u64 << SEQ_SHIFT) | (9 << EPOCH_SHIFT) | SCHEDULED | UNPARKED | IN_PARK;
        let r = resumed(s);
        assert_eq!((seq(r), epoch(r)), (4, 9));
        assert_eq!(r & FLAGS & !EPOCH, RUNNING | UNPARKED | IN_PARK);
    }

    #[test]
    fn the_park_epoch_wraps_inside_its_bits() {
        let s = EPOCH | RUNNING | UNPARKED | IN_PARK | (5u64 << SEQ_SHIFT);
        let r = park_returned(s);
        assert_eq!(epoch(r), 0);
        assert_eq!(r, RUNNING | (5u64 << SEQ_SHIFT));
    }

    #[test]
    fn sequence_wraps() {
        let s = (u32::MAX as u64) << SEQ_SHIFT | SCHEDULED;
        assert_eq!(seq(resumed(s)), 0);
    }
}
