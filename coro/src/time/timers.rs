//! A worker's timers: a binary heap of deadlines over a slab of entries.
//!
//! Every sleeping coroutine and every timed wait puts one entry here, on its
//! home worker, so no thread sleeps on its behalf. The worker fires due
//! entries between coroutine runs and parks with a timeout equal to the
//! earliest deadline.
//!
//! Entries can be cancelled in O(1) (a timed wait that succeeded early): the
//! slab slot is freed and its generation bumped, and the stale heap entry is
//! skipped when it surfaces. So that a stream of cancelled long timeouts
//! cannot grow the heap without bound, the heap is rebuilt from the live
//! entries when stale ones outnumber them ([`COMPACT_MIN`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::task::Waiter;

/// Heap size below which stale entries are never compacted away.
const COMPACT_MIN: usize = 64;

/// Identifies a registered timer, for [`Timers::cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

struct Entry {
    generation: u32,
    waiter: Option<Waiter>,
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    live: usize,
}

impl Timers {
    /// Wakes `waiter` at `deadline`.
    pub(crate) fn insert(&mut self, deadline: Instant, waiter: Waiter) -> TimerKey {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    generation: 0,
                    waiter: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let entry = &mut self.entries[index as usize];
        entry.waiter = Some(waiter);
        let generation = entry.generation;
        self.heap.push(Reverse((deadline, index, generation)));
        self.live += 1;
        if self.heap.len() > COMPACT_MIN && self.heap.len() > 2 * self.live {
            self.compact();
        }
        TimerKey { index, generation }
    }

    /// Cancels a timer that has not fired. No effect if it has.
    pub(crate) fn cancel(&mut self, key: TimerKey) {
        if let Some(entry) = self.entries.get_mut(key.index as usize) {
            if entry.generation == key.generation && entry.waiter.is_some() {
                self.free_entry(key.index);
            }
        }
    }

    fn free_entry(&mut self, index: u32) -> Option<Waiter> {
        let entry = &mut self.entries[index as usize];
        entry.generation = entry.generation.wrapping_add(1);
        let waiter = entry.waiter.take();
        self.free.push(index);
        self.live -= 1;
        waiter
    }

    /// Wakes every waiter whose deadline is at or before `now`. Returns how
    /// many were woken.
    pub(crate) fn fire(&mut self, now: Instant) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((deadline, index, generation))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if self.entries[index as usize].generation == generation {
                if let Some(w) = self.free_entry(index) {
                    w.wake();
                    fired += 1;
                }
            }
        }
        fired
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, index, generation))) = self.heap.peek() {
            if self.entries[index as usize].generation == generation {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Drops every waiter (shutdown).
    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.entries.clear();
        self.free.clear();
        self.live = 0;
    }

    fn compact(&mut self) {
        let entries = &self.entries;
        let heap = std::mem::take(&mut self.heap);
        self.heap = heap
            .into_iter()
            .filter(|Reverse((_, i, g))| entries[*i as usize].generation == *g)
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn thread_waiter() -> Waiter {
        Waiter::Thread(std::thread::current())
    }

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        let now = Instant::now();
        t.insert(now + Duration::from_millis(20), thread_waiter());
        t.insert(now + Duration::from_millis(10), thread_waiter());
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(10)));
        assert_eq!(t.fire(now), 0);
        assert_eq!(t.fire(now + Duration::from_millis(15)), 1);
        assert_eq!(t.fire(now + Duration::from_millis(25)), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn cancelled_timers_do_not_fire_and_do_not_accumulate() {
        let mut t = Timers::default();
        let later = Instant::now() + Duration::from_secs(3600);
        for _ in 0..10_000 {
            let k = t.insert(later, thread_waiter());
            t.cancel(k);
        }
        assert!(t.is_empty());
        assert!(t.heap.len() <= 2 * COMPACT_MIN + 2, "{}", t.heap.len());
        assert_eq!(t.fire(later), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_stale_key_does_not_cancel_a_reused_entry() {
        let mut t = Timers::default();
        let now = Instant::now();
        let k1 = t.insert(now, thread_waiter());
        t.cancel(k1);
        let _k2 = t.insert(now, thread_waiter());
        t.cancel(k1);
        assert_eq!(t.fire(now), 1);
    }
}
