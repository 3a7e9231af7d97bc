//! A worker's timers: a binary heap of deadlines over a slab of entries.
//!
//! Every sleeping coroutine and every timed wait arms an entry here, on its
//! home worker, so no thread sleeps on its behalf. The worker fires due
//! entries between coroutine runs and sleeps with a timeout equal to the
//! earliest deadline.
//!
//! # One entry per coroutine, re-armed lazily
//!
//! The common timed wait is a socket read with a timeout that data ends
//! long before: arm, park, disarm, once per message. So an entry belongs to
//! its coroutine for the coroutine's life ([`reserve`](Timers::reserve),
//! [`release`](Timers::release)) and arming and disarming it touch only the
//! entry, not the heap:
//!
//! * An entry has at most one *live* heap node, the one whose tag equals
//!   the entry's `node` and whose deadline `queued` records. Older nodes
//!   are stale and skipped when they surface.
//! * [`arm`](Timers::arm) records the waiter and deadline. It pushes a node
//!   only when the entry has none, or when the new deadline is earlier than
//!   its node's; a later deadline leaves the node where it is.
//! * [`disarm`](Timers::disarm) only drops the waiter; the node stays.
//! * When a live node comes due, the entry fires if it is armed and its own
//!   deadline has passed; if it is armed for later, the node is pushed again
//!   at that deadline; if it is disarmed, the node is simply dropped.
//!
//! A connection that parks once per request with a 60 s idle timeout thus
//! pushes and pops one node a minute, not one per request. The earliest node
//! may be earlier than its entry's deadline, so the worker may wake once
//! early per entry and timeout period; it then finds nothing due.
//!
//! So that stale nodes (an entry re-armed earlier, or released) cannot grow
//! the heap without bound, the heap is rebuilt from the live nodes when it
//! holds more than twice as many nodes as entries ([`COMPACT_MIN`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::task::Waiter;

/// Heap size below which stale nodes are never compacted away.
const COMPACT_MIN: usize = 64;

/// Identifies an entry, for its owner to arm, disarm and release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    index: u32,
    generation: u32,
}

struct Entry {
    /// Bumped on release, so that a released key matches nothing.
    generation: u32,
    /// Reserved by an owner (not on the free list).
    in_use: bool,
    /// Whom to wake, while armed.
    waiter: Option<Waiter>,
    /// When to wake, while armed.
    deadline: Instant,
    /// The tag of the live heap node; nodes with another tag are stale.
    node: u32,
    /// The deadline of the live heap node, if there is one.
    queued: Option<Instant>,
}

#[derive(Default)]
pub(crate) struct Timers {
    /// Nodes: deadline, entry index, tag.
    heap: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    entries: Vec<Entry>,
    free: Vec<u32>,
    /// Entries reserved (not on the free list).
    reserved: usize,
    /// Entries armed.
    armed: usize,
}

impl Timers {
    /// A new entry for one owner, disarmed.
    pub(crate) fn reserve(&mut self) -> TimerKey {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    generation: 0,
                    in_use: false,
                    waiter: None,
                    deadline: Instant::now(),
                    node: 0,
                    queued: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        self.reserved += 1;
        let entry = &mut self.entries[index as usize];
        entry.in_use = true;
        TimerKey {
            index,
            generation: entry.generation,
        }
    }

    /// Arms the entry of `key` to wake `waiter` at `deadline`, replacing
    /// any earlier arming. A missing or released key gets a new entry; the
    /// key to use from now on is returned.
    pub(crate) fn arm(
        &mut self,
        key: Option<TimerKey>,
        deadline: Instant,
        waiter: Waiter,
    ) -> TimerKey {
        let key = match key {
            Some(k) if self.is_reserved(k) => k,
            _ => self.reserve(),
        };
        let entry = &mut self.entries[key.index as usize];
        if entry.waiter.replace(waiter).is_none() {
            self.armed += 1;
        }
        entry.deadline = deadline;
        if entry.queued.is_none_or(|q| q > deadline) {
            self.push_node(key.index, deadline);
        }
        key
    }

    /// Disarms the entry of `key`; no effect if it fired or is released.
    pub(crate) fn disarm(&mut self, key: TimerKey) {
        if self.is_reserved(key) && self.entries[key.index as usize].waiter.take().is_some() {
            self.armed -= 1;
        }
    }

    /// Gives the entry of `key` up; its node, if any, becomes stale.
    pub(crate) fn release(&mut self, key: TimerKey) {
        if !self.is_reserved(key) {
            return;
        }
        self.disarm(key);
        let entry = &mut self.entries[key.index as usize];
        entry.in_use = false;
        entry.generation = entry.generation.wrapping_add(1);
        entry.node = entry.node.wrapping_add(1);
        entry.queued = None;
        self.free.push(key.index);
        self.reserved -= 1;
    }

    fn is_reserved(&self, key: TimerKey) -> bool {
        self.entries
            .get(key.index as usize)
            .is_some_and(|e| e.in_use && e.generation == key.generation)
    }

    /// Makes a node at `deadline` the entry's live one.
    fn push_node(&mut self, index: u32, deadline: Instant) {
        let entry = &mut self.entries[index as usize];
        entry.node = entry.node.wrapping_add(1);
        entry.queued = Some(deadline);
        self.heap.push(Reverse((deadline, index, entry.node)));
        if self.heap.len() > COMPACT_MIN && self.heap.len() > 2 * self.reserved {
            self.compact();
        }
    }

    /// Wakes every armed entry whose deadline is at or before `now`.
    /// Returns how many were woken.
    pub(crate) fn fire(&mut self, now: Instant) -> usize {
        let mut fired = 0;
        while let Some(&Reverse((at, index, tag))) = self.heap.peek() {
            if at > now {
                break;
            }
            self.heap.pop();
            let entry = &mut self.entries[index as usize];
            if entry.node != tag {
                continue;
            }
            entry.queued = None;
            if entry.waiter.is_none() {
                continue;
            }
            if entry.deadline <= now {
                if let Some(w) = entry.waiter.take() {
                    self.armed -= 1;
                    w.wake();
                    fired += 1;
                }
            } else {
                let deadline = entry.deadline;
                self.push_node(index, deadline);
            }
        }
        fired
    }

    /// The earliest node of an armed entry: no later than every armed
    /// deadline, possibly earlier (see the module docs).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, index, tag))) = self.heap.peek() {
            let entry = &mut self.entries[index as usize];
            if entry.node == tag {
                if entry.waiter.is_some() {
                    return Some(at);
                }
                entry.queued = None;
            }
            self.heap.pop();
        }
        None
    }

    /// Whether no entry is armed.
    pub(crate) fn is_empty(&self) -> bool {
        self.armed == 0
    }

    /// Releases every entry, dropping its waiter (shutdown). Keys given
    /// out before stay invalid.
    pub(crate) fn clear(&mut self) {
        for index in 0..self.entries.len() {
            let e = &self.entries[index];
            if e.in_use {
                self.release(TimerKey {
                    index: index as u32,
                    generation: e.generation,
                });
            }
        }
        self.heap.clear();
    }

    fn compact(&mut self) {
        let entries = &self.entries;
        let heap = std::mem::take(&mut self.heap);
        self.heap = heap
            .into_iter()
            .filter(|Reverse((_, i, tag))| entries[*i as usize].node == *tag)
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

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let mut t = Timers::default();
        let now = Instant::now();
        t.arm(None, now + 20 * MS, thread_waiter());
        t.arm(None, now + 10 * MS, thread_waiter());
        assert_eq!(t.next_deadline(), Some(now + 10 * MS));
        assert_eq!(t.fire(now), 0);
        assert_eq!(t.fire(now + 15 * MS), 1);
        assert_eq!(t.fire(now + 25 * MS), 1);
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_disarmed_entry_does_not_fire() {
        let mut t = Timers::default();
        let now = Instant::now();
        let k = t.arm(None, now + MS, thread_waiter());
        t.disarm(k);
        assert!(t.is_empty());
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.fire(now + 2 * MS), 0);
    }

    #[test]
    fn rearming_later_keeps_one_node_and_fires_at_the_new_deadline() {
        let mut t = Timers::default();
        let now = Instant::now();
        let mut key = None;
        for i in 1..=1000 {
            let k = t.arm(key, now + i * MS, thread_waiter());
            t.disarm(k);
            key = Some(k);
        }
        assert_eq!(t.heap.len(), 1, "a later re-arm pushed a node");
        let k = t.arm(key, now + 2000 * MS, thread_waiter());
        assert_eq!(Some(k), key, "the entry was not reused");
        // The node is still at the first deadline: the worker may wake
        // then, finds nothing due, and the node moves to the real one.
        assert_eq!(t.next_deadline(), Some(now + MS));
        assert_eq!(t.fire(now + 1500 * MS), 0);
        assert_eq!(t.next_deadline(), Some(now + 2000 * MS));
        assert_eq!(t.fire(now + 2000 * MS), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn rearming_earlier_fires_at_the_earlier_deadline() {
        let mut t = Timers::default();
        let now = Instant::now();
        let k = t.arm(None, now + 100 * MS, thread_waiter());
        t.disarm(k);
        t.arm(Some(k), now + 10 * MS, thread_waiter());
        assert_eq!(t.next_deadline(), Some(now + 10 * MS));
        assert_eq!(t.fire(now + 10 * MS), 1);
        // The stale node at 100 ms fires nothing.
        assert_eq!(t.fire(now + 200 * MS), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn released_entries_do_not_fire_and_stale_nodes_do_not_accumulate() {
        let mut t = Timers::default();
        let later = Instant::now() + Duration::from_secs(3600);
        for i in 0..10_000u32 {
            let k = t.arm(None, later + i * MS, thread_waiter());
            t.release(k);
        }
        assert!(t.is_empty());
        assert!(t.heap.len() <= 2 * COMPACT_MIN + 2, "{}", t.heap.len());
        assert_eq!(t.fire(later + Duration::from_secs(60)), 0);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn a_released_key_does_not_touch_a_reused_entry() {
        let mut t = Timers::default();
        let now = Instant::now();
        let k1 = t.reserve();
        t.release(k1);
        let k2 = t.arm(None, now, thread_waiter());
        assert_eq!(k1.index, k2.index, "the entry was not reused");
        t.disarm(k1);
        t.release(k1);
        assert_eq!(t.fire(now), 1);
        // Arming with the stale key takes a new entry instead.
        let k3 = t.arm(Some(k1), now, thread_waiter());
        assert_ne!(k3, k1);
        assert_eq!(t.fire(now), 1);
    }

    #[test]
    fn clear_drops_waiters_and_invalidates_keys() {
        let mut t = Timers::default();
        let now = Instant::now();
        let k = t.arm(None, now, thread_waiter());
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.fire(now), 0);
        let k2 = t.arm(Some(k), now, thread_waiter());
        assert_ne!(k2, k);
        assert_eq!(t.fire(now), 1);
    }
}

#[cfg(test)]
mod model_tests {
    //! Random operations, seeded, against a naive model: nothing fires
    //! early or never, `next_deadline` is never past an armed deadline, a
    //! fired worker is not left with a due deadline (no busy loop), and the
    //! heap stays bounded.
    use super::*;
    use std::time::Duration;

    fn tw() -> Waiter {
        Waiter::Thread(std::thread::current())
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn random_operations_match_a_naive_model() {
        for seed in 1..400u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut t = Timers::default();
            let base = Instant::now();
            let ms = Duration::from_millis(1);
            let mut now = 0u32; // in ms since base
                                // owners: (key, armed deadline in ms)
            let mut owners: Vec<(Option<TimerKey>, Option<u32>)> = Vec::new();
            for step in 0..3000 {
                match rng.below(10) {
                    0 => owners.push((None, None)),
                    1..=3 => {
                        if owners.is_empty() {
                            continue;
                        }
                        let i = rng.below(owners.len() as u64) as usize;
                        let d = now + rng.below(200) as u32;
                        let k = t.arm(owners[i].0, base + d * ms, tw());
                        owners[i] = (Some(k), Some(d));
                    }
                    4 | 5 => {
                        if owners.is_empty() {
                            continue;
                        }
                        let i = rng.below(owners.len() as u64) as usize;
                        if let Some(k) = owners[i].0 {
                            t.disarm(k);
                        }
                        owners[i].1 = None;
                    }
                    6 => {
                        if owners.is_empty() {
                            continue;
                        }
                        let i = rng.below(owners.len() as u64) as usize;
                        if let Some(k) = owners[i].0 {
                            t.release(k);
                        }
                        owners.swap_remove(i);
                    }
                    7 | 8 => {
                        now += rng.below(50) as u32;
                        let want = owners
                            .iter()
                            .filter(|o| o.1.is_some_and(|d| d <= now))
                            .count();
                        let skip = t.is_empty();
                        let got = if skip { 0 } else { t.fire(base + now * ms) };
                        assert_eq!(got, want, "seed {seed} step {step}: fired");
                        for o in owners.iter_mut() {
                            if o.1.is_some_and(|d| d <= now) {
                                let k = o.0.unwrap();
                                assert!(
                                    t.entries[k.index as usize].waiter.is_none(),
                                    "seed {seed} step {step}: not fired"
                                );
                                o.1 = None;
                            } else if o.1.is_some() {
                                let k = o.0.unwrap();
                                assert!(
                                    t.entries[k.index as usize].waiter.is_some(),
                                    "seed {seed} step {step}: fired early"
                                );
                            }
                        }
                    }
                    _ => {
                        let min = owners.iter().filter_map(|o| o.1).min();
                        let nd = t.next_deadline();
                        match (min, nd) {
                            (None, None) => {}
                            (Some(m), Some(n)) => assert!(
                                n <= base + m * ms,
                                "seed {seed} step {step}: next_deadline past a deadline"
                            ),
                            other => panic!("seed {seed} step {step}: {other:?}"),
                        }
                    }
                }
                assert_eq!(
                    t.is_empty(),
                    owners.iter().all(|o| o.1.is_none()),
                    "seed {seed} step {step}: is_empty"
                );
                let reserved = owners.iter().filter(|o| o.0.is_some()).count();
                assert_eq!(t.reserved, reserved, "seed {seed} step {step}");
                assert!(
                    t.heap.len() <= (2 * reserved).max(COMPACT_MIN) + 1,
                    "seed {seed} step {step}: heap {}",
                    t.heap.len()
                );
                // liveness: after fire(now), next deadline is in the future
                let n = base + now * ms;
                if !t.is_empty() && rng.below(8) == 0 {
                    t.fire(n);
                    for o in owners.iter_mut() {
                        if o.1.is_some_and(|d| d <= now) {
                            o.1 = None;
                        }
                    }
                    if let Some(d) = t.next_deadline() {
                        assert!(d > n, "seed {seed} step {step}: busy loop");
                    }
                }
            }
        }
    }
}
