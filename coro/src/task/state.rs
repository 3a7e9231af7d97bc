//! The state word of a task slot.
//!
//! One `AtomicU64` per task. The low 32 bits are flags, the high 32 bits are
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

/// Mask of the flag half of the word.
pub(crate) const FLAGS: u64 = u32::MAX as u64;
/// Shift of the run sequence in the word.
pub(crate) const SEQ_SHIFT: u32 = 32;

/// The run sequence stored in a state word.
#[inline]
pub(crate) fn seq(state: u64) -> u32 {
    (state >> SEQ_SHIFT) as u32
}

/// The state word of a task that was just resumed: `RUNNING`, with the next
/// sequence, keeping the completion flags of `prev`.
#[inline]
pub(crate) fn resumed(prev: u64) -> u64 {
    let next_seq = (seq(prev).wrapping_add(1) as u64) << SEQ_SHIFT;
    next_seq | (prev & JOIN_WAITER) | RUNNING
}

#[cfg(test)]
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
    fn sequence_wraps() {
        let s = (u32::MAX as u64) << SEQ_SHIFT | SCHEDULED;
        assert_eq!(seq(resumed(s)), 0);
    }
}
