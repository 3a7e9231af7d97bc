//! The join-waiter protocol: how the owner of a task's join handle waits
//! for the task to complete, and how completion wakes it.
//!
//! The slot's `join_waiter` cell holds the [`Waiter`] of the joiner. The
//! `JOIN_WAITER` bit of the state word says whose the cell is (the
//! protocol of tokio's `JOIN_WAKER`):
//!
//! * while `JOIN_WAITER` is clear, the cell belongs to the join handle's
//!   owner: [`set_join_waiter`](TaskRef::set_join_waiter) writes a waiter
//!   there and then sets the bit, unless `COMPLETE` is set by then; to
//!   replace an earlier waiter it first clears the bit, again only while
//!   `COMPLETE` is clear;
//! * once `COMPLETE` is set while `JOIN_WAITER` is set, the cell belongs to
//!   the completer: [`complete`](TaskRef::complete) takes the waiter out
//!   and wakes it;
//! * once the last reference is gone, `release` clears the cell with the
//!   rest of the slot.
//!
//! Both sides change the bits by read-modify-writes of the one state word,
//! so they are ordered: a joiner that set `JOIN_WAITER` before `COMPLETE`
//! is woken, and one that comes later sees `COMPLETE` and does not wait.

use std::sync::atomic::Ordering;

use super::state::{COMPLETE, JOIN_WAITER, NOTIFIED, RUNNING, SCHEDULED};
use super::{TaskRef, Waiter};

impl TaskRef {
    /// Marks the task complete (its outcome is in the payload) and wakes its
    /// joiner and its scope.
    pub(crate) fn complete(&self) {
        let st = self.slot().state.word();
        let prev = st.fetch_or(COMPLETE, Ordering::AcqRel);
        st.fetch_and(!(RUNNING | SCHEDULED | NOTIFIED), Ordering::AcqRel);
        debug_assert_eq!(prev & COMPLETE, 0, "task completed twice");
        if prev & JOIN_WAITER != 0 {
            // SAFETY: `COMPLETE` is now set while `JOIN_WAITER` was set, which
            // hands the waiter cell to us: the joiner no longer touches it.
            let waiter = unsafe { (*self.slot().join_waiter.get()).take() };
            if let Some(w) = waiter {
                w.wake();
            }
        }
        if let Some(scope) = self.extra().and_then(|e| e.scope.as_ref()) {
            scope.child_completed();
        }
    }

    /// Registers `waiter` to be woken on completion, replacing an earlier
    /// one. Returns false (and drops the waiter) if the task already
    /// completed. Join handle owner only.
    ///
    /// The cell belongs to the joiner while `JOIN_WAITER` is clear, and to
    /// the completer once `COMPLETE` is set while `JOIN_WAITER` is set
    /// (the protocol of tokio's `JOIN_WAKER`).
    pub(crate) fn set_join_waiter(&self, waiter: Waiter) -> bool {
        let slot = self.slot();
        let st = slot.state.word();
        let mut s = st.load(Ordering::Acquire);
        // Take the cell back from an earlier registration.
        while s & JOIN_WAITER != 0 {
            if s & COMPLETE != 0 {
                return false;
            }
            match st.compare_exchange_weak(s, s & !JOIN_WAITER, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => s &= !JOIN_WAITER,
                Err(now) => s = now,
            }
        }
        if s & COMPLETE != 0 {
            return false;
        }
        // SAFETY: `JOIN_WAITER` is clear, so the cell is ours.
        unsafe { *slot.join_waiter.get() = Some(waiter) };
        loop {
            if s & COMPLETE != 0 {
                // SAFETY: still ours: we never set `JOIN_WAITER`.
                unsafe { *slot.join_waiter.get() = None };
                return false;
            }
            match st.compare_exchange_weak(s, s | JOIN_WAITER, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn completion_takes_the_join_waiter_and_a_later_one_is_refused() {
        // SAFETY: 'static closure.
        let (a, b) = unsafe { TaskRef::new(|| (), None) };
        let me = || Waiter::Thread(thread::current());
        assert!(b.set_join_waiter(me()));
        assert!(
            b.set_join_waiter(me()),
            "a second waiter replaces the first"
        );
        assert_ne!(b.state() & JOIN_WAITER, 0);
        a.cancel_unstarted();
        // SAFETY: the completer is done with the cell, and this thread is
        // the only one that touches the task.
        let left = unsafe { (*b.slot().join_waiter.get()).is_some() };
        assert!(!left, "the completer took the waiter");
        assert!(!b.set_join_waiter(me()), "the task already completed");
    }
}
