//! Which workers are searching for work and which are asleep.
//!
//! Two counters and a list, in the manner of Go's `nmspinning` and tokio's
//! `idle.rs`:
//!
//! * `searching`: workers that ran out of local work and are trying to
//!   steal. At most half of the workers may search at once
//!   ([`Idle::try_start_searching`]), so an idle runtime does not have every
//!   thread hammering every other thread's queue.
//! * `sleepers`: workers asleep with nothing to do.
//!
//! When stealable work appears (a spawn), [`Idle::worker_to_notify`] picks a
//! sleeper to wake *only if nobody is searching*: a searcher will find the
//! work. The woken worker is counted as searching before it even runs, so a
//! burst of spawns wakes one worker, not all of them. When a searcher finds
//! work and it was the last searcher, it wakes another (the scheduler does
//! this), so parallelism ramps up one worker at a time.
//!
//! No wake-up is lost: a worker registers as a sleeper and then, after a
//! `SeqCst` fence, looks at every queue once more before it sleeps; a spawner
//! pushes and then, after a `SeqCst` fence, reads the counters. One of the two
//! sees the other.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

#[derive(Debug)]
pub(crate) struct Idle {
    workers: usize,
    searching: AtomicUsize,
    sleeping: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            workers,
            searching: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
        }
    }

    /// Workers searching now.
    pub(crate) fn searching(&self) -> usize {
        self.searching.load(Ordering::SeqCst)
    }

    /// Counts the caller as searching, unless half the workers already are.
    pub(crate) fn try_start_searching(&self) -> bool {
        let mut n = self.searching.load(Ordering::SeqCst);
        loop {
            if 2 * n >= self.workers.max(2) {
                return false;
            }
            match self
                .searching
                .compare_exchange(n, n + 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(now) => n = now,
            }
        }
    }

    /// Stops counting the caller as searching. True if it was the last one.
    pub(crate) fn stop_searching(&self) -> bool {
        self.searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// A sleeper to wake for new stealable work, already counted as
    /// searching; `None` if someone searches already or nobody sleeps.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.searching.load(Ordering::SeqCst) != 0 || self.sleeping.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        let worker = sleepers.pop()?;
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        self.searching.fetch_add(1, Ordering::SeqCst);
        Some(worker)
    }

    /// Registers `worker` as asleep. The caller must have announced its sleep
    /// (see `sleeper::Sleeper::prepare`) before, and must look for work once
    /// more after, before it sleeps.
    pub(crate) fn sleep(&self, worker: usize) {
        let mut sleepers = self.sleepers.lock();
        sleepers.push(worker);
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        drop(sleepers);
        std::sync::atomic::fence(Ordering::SeqCst);
    }

    /// Unregisters `worker` after it woke. Returns true if a notifier took it
    /// off the list, in which case it is already counted as searching.
    pub(crate) fn wake(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.sleeping.fetch_sub(1, Ordering::SeqCst);
                false
            }
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_half_search() {
        let idle = Idle::new(4);
        assert!(idle.try_start_searching());
        assert!(idle.try_start_searching());
        assert!(!idle.try_start_searching());
        assert!(!idle.stop_searching());
        assert!(idle.stop_searching());
    }

    #[test]
    fn one_worker_may_search() {
        let idle = Idle::new(1);
        assert!(idle.try_start_searching());
        assert!(!idle.try_start_searching());
    }

    #[test]
    fn a_notified_sleeper_is_counted_as_searching() {
        let idle = Idle::new(2);
        idle.sleep(1);
        assert_eq!(idle.worker_to_notify(), Some(1));
        assert_eq!(idle.worker_to_notify(), None, "someone searches already");
        assert!(idle.wake(1), "the notifier took it off the list");
        assert!(idle.stop_searching());
    }

    #[test]
    fn a_sleeper_that_wakes_on_its_own_unregisters() {
        let idle = Idle::new(2);
        idle.sleep(0);
        assert!(!idle.wake(0));
        assert_eq!(idle.worker_to_notify(), None);
    }
}
