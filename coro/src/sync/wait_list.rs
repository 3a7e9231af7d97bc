//! The wait queue every primitive in [`crate::sync`] parks on.
//!
//! A [`WaitList`] is a FIFO of entries kept in a slab (a `Vec` of slots,
//! linked by index), owned by the primitive and guarded by the primitive's
//! `parking_lot` lock. Each entry holds the [`Waiter`] of someone blocked and
//! a little data `T` of the primitive's choosing (what it asks for, what it
//! was given).
//!
//! # Why the entries live in the primitive
//!
//! A suspended coroutine's frames may be copied out of its stack, and the
//! stack lent to another coroutine, until it resumes (see [`crate::stack`]).
//! Another thread that wrote into a node on a parked coroutine's stack would
//! write into someone else's frames. So the waiter keeps nothing on its stack
//! but a [`Key`] (an index it alone reads); everything a notifier touches is
//! in the slab, on the heap, under the primitive's lock. The slab also saves
//! an allocation per wait: slots are reused, and the whole `Vec` is reset
//! (and shrunk to [`RETAINED_SLOTS`]) whenever it empties.
//!
//! # An entry's life
//!
//! ```text
//!   push_back / push_front          notify_front / notify_all
//!  ------------------------> LINKED ---------------------------> NOTIFIED
//!         (waiter)              |                                    |
//!                               | remove (timeout, unwind)           | take_notified / remove
//!                               v                                    v
//!                             VACANT <-------------------------------+
//!                                       (only the waiter frees its slot)
//! ```
//!
//! A notifier unlinks the entry and leaves its data behind, marked
//! `NOTIFIED`; it never frees the slot. Only the waiter that owns the key
//! frees it, under the lock, when it sees the notification (or gives up).
//! So a key can never come to name another waiter's entry.
//!
//! # The wait loop
//!
//! [`wait`] is step 2 and 3 of the protocol in [`crate::task::Waiter`]'s
//! module: the caller has pushed its entry under the lock and released it;
//! `wait` parks, relocks, and returns once the entry is `NOTIFIED`. A wake
//! that arrives before the park is not lost (a coroutine is marked
//! `NOTIFIED` and does not stay suspended; a thread keeps its unpark token).
//! A coroutine's waiter is valid for one run only, so every time the loop
//! parks again it stores a fresh [`Waiter::current()`] in the entry.
//!
//! If the wait times out, or the park unwinds (a runtime that is dropped
//! unwinds its suspended coroutines), the entry is removed and the
//! primitive's `cancel` callback runs under the lock with whatever the entry
//! had been given, so that a hand-off (a lock, permits) is passed on instead
//! of being lost with the waiter.

use std::fmt;
use std::mem;
use std::time::Instant;

use parking_lot::Mutex;

use crate::task::Waiter;
use crate::wait::{park, park_until};

/// Index meaning "no slot".
const NIL: usize = usize::MAX;

/// Slots kept allocated when a list empties. A list that once held many
/// waiters gives the rest of its memory back then.
const RETAINED_SLOTS: usize = 16;

/// Names an entry of a [`WaitList`]; held by the waiter that pushed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(usize);

enum Slot<T> {
    /// Free; the next free slot.
    Vacant { next_free: usize },
    /// Waiting, in the queue between `prev` and `next`.
    Linked {
        waiter: Waiter,
        data: T,
        prev: usize,
        next: usize,
    },
    /// Taken out of the queue by a notifier; the waiter has not seen it yet.
    Notified(T),
}

/// A FIFO of blocked waiters; see the module docs.
pub(crate) struct WaitList<T> {
    slots: Vec<Slot<T>>,
    free: usize,
    head: usize,
    tail: usize,
    /// Entries in the queue.
    linked: usize,
    /// Slots not vacant: linked or notified.
    occupied: usize,
}

impl<T> WaitList<T> {
    /// An empty list; allocates nothing.
    pub(crate) const fn new() -> Self {
        WaitList {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            linked: 0,
            occupied: 0,
        }
    }

    /// Whether nobody is queued (notified entries don't count).
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// How many are queued.
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// Queues `waiter` at the back.
    pub(crate) fn push_back(&mut self, waiter: Waiter, data: T) -> Key {
        let i = self.alloc(Slot::Linked {
            waiter,
            data,
            prev: self.tail,
            next: NIL,
        });
        match self.tail {
            NIL => self.head = i,
            t => self.set_next(t, i),
        }
        self.tail = i;
        self.linked += 1;
        Key(i)
    }

    /// Queues `waiter` at the front (a waiter that was woken, lost the race
    /// and must not lose its place).
    pub(crate) fn push_front(&mut self, waiter: Waiter, data: T) -> Key {
        let i = self.alloc(Slot::Linked {
            waiter,
            data,
            prev: NIL,
            next: self.head,
        });
        match self.head {
            NIL => self.tail = i,
            h => self.set_prev(h, i),
        }
        self.head = i;
        self.linked += 1;
        Key(i)
    }

    /// The data of the first queued entry.
    pub(crate) fn front(&self) -> Option<&T> {
        match self.slots.get(self.head) {
            Some(Slot::Linked { data, .. }) => Some(data),
            _ => None,
        }
    }

    /// The data of the first queued entry, to change before notifying it.
    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        match self.slots.get_mut(self.head) {
            Some(Slot::Linked { data, .. }) => Some(data),
            _ => None,
        }
    }

    /// Takes the first entry out of the queue, marks it notified and returns
    /// its waiter, for the caller to wake (after releasing the lock, where it
    /// can).
    pub(crate) fn notify_front(&mut self) -> Option<Waiter> {
        if self.head == NIL {
            return None;
        }
        let i = self.head;
        let (waiter, data) = self.unlink(i);
        self.slots[i] = Slot::Notified(data);
        Some(waiter)
    }

    /// Notifies every queued entry; returns their waiters in queue order.
    pub(crate) fn notify_all(&mut self) -> Vec<Waiter> {
        let mut woken = Vec::with_capacity(self.linked);
        while let Some(w) = self.notify_front() {
            woken.push(w);
        }
        woken
    }

    /// If `key`'s entry was notified, frees it and returns its data; if it is
    /// still queued, returns `None`. The waiter that owns `key` only.
    pub(crate) fn take_notified(&mut self, key: Key) -> Option<T> {
        match self.slots[key.0] {
            Slot::Notified(_) => match self.free_slot(key.0) {
                Slot::Notified(data) => Some(data),
                _ => unreachable!(),
            },
            Slot::Linked { .. } => None,
            Slot::Vacant { .. } => unreachable!("wait-list key of a freed entry"),
        }
    }

    /// Frees `key`'s entry, queued or notified. Returns its data if it had
    /// been notified (the caller must pass on what that gave it). The waiter
    /// that owns `key` only.
    pub(crate) fn remove(&mut self, key: Key) -> Option<T> {
        match self.slots[key.0] {
            Slot::Notified(_) => self.take_notified(key),
            Slot::Linked { .. } => {
                let (_waiter, _data) = self.unlink(key.0);
                self.free_slot(key.0);
                None
            }
            Slot::Vacant { .. } => unreachable!("wait-list key of a freed entry"),
        }
    }

    /// Replaces the waiter of `key`'s entry, if it is still queued.
    pub(crate) fn set_waiter(&mut self, key: Key, new: Waiter) {
        if let Slot::Linked { waiter, .. } = &mut self.slots[key.0] {
            *waiter = new;
        }
    }

    /// Notifies queued entries from the front for as long as `take` says
    /// yes about the front's data (it may update it); pushes their waiters
    /// onto `woken`.
    pub(crate) fn notify_while(
        &mut self,
        woken: &mut Vec<Waiter>,
        mut take: impl FnMut(&mut T) -> bool,
    ) {
        while let Some(front) = self.front_mut() {
            if !take(front) {
                break;
            }
            woken.extend(self.notify_front());
        }
    }

    fn alloc(&mut self, slot: Slot<T>) -> usize {
        self.occupied += 1;
        if self.free == NIL {
            self.slots.push(slot);
            return self.slots.len() - 1;
        }
        let i = self.free;
        match mem::replace(&mut self.slots[i], slot) {
            Slot::Vacant { next_free } => self.free = next_free,
            _ => unreachable!("free list names an occupied slot"),
        }
        i
    }

    /// Vacates slot `i` and returns what it held.
    fn free_slot(&mut self, i: usize) -> Slot<T> {
        let old = mem::replace(
            &mut self.slots[i],
            Slot::Vacant {
                next_free: self.free,
            },
        );
        self.free = i;
        self.occupied -= 1;
        if self.occupied == 0 {
            // Nobody holds a key: start over, and give back a large slab.
            self.slots.clear();
            self.slots.shrink_to(RETAINED_SLOTS);
            self.free = NIL;
        }
        old
    }

    /// Takes queued slot `i` out of the queue (it is left vacant-looking,
    /// for the caller to fill).
    fn unlink(&mut self, i: usize) -> (Waiter, T) {
        let Slot::Linked {
            waiter,
            data,
            prev,
            next,
        } = mem::replace(&mut self.slots[i], Slot::Vacant { next_free: NIL })
        else {
            unreachable!("unlink of an entry that is not queued")
        };
        match prev {
            NIL => self.head = next,
            p => self.set_next(p, next),
        }
        match next {
            NIL => self.tail = prev,
            n => self.set_prev(n, prev),
        }
        self.linked -= 1;
        (waiter, data)
    }

    fn set_next(&mut self, i: usize, to: usize) {
        if let Slot::Linked { next, .. } = &mut self.slots[i] {
            *next = to;
        }
    }

    fn set_prev(&mut self, i: usize, to: usize) {
        if let Slot::Linked { prev, .. } = &mut self.slots[i] {
            *prev = to;
        }
    }
}

impl<T> Default for WaitList<T> {
    fn default() -> Self {
        WaitList::new()
    }
}

impl<T> fmt::Debug for WaitList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("queued", &self.linked)
            .field("notified", &(self.occupied - self.linked))
            .finish()
    }
}

/// Parks the caller until its entry `key` (already pushed onto the list that
/// `list` finds in `lock`, with the lock released since) is notified, and
/// returns the entry's data; see the module docs.
///
/// With a `deadline`, returns `None` once it has passed without a
/// notification: the entry is removed and `cancel(state, None)` runs under
/// the lock. If the park unwinds, the entry is removed and `cancel(state,
/// data)` runs under the lock, `data` being the entry's data if it had been
/// notified. `cancel` is where a primitive passes on what a waiter that
/// leaves was handed, and wakes whoever the leaving unblocks.
pub(crate) fn wait<S, T, C>(
    lock: &Mutex<S>,
    key: Key,
    deadline: Option<Instant>,
    list: fn(&mut S) -> &mut WaitList<T>,
    cancel: C,
) -> Option<T>
where
    C: FnOnce(&mut S, Option<T>),
{
    let mut leave = Leave {
        lock,
        key,
        list,
        cancel: Some(cancel),
    };
    loop {
        match deadline {
            Some(d) => park_until(d),
            None => park(),
        }
        let mut state = lock.lock();
        if let Some(data) = list(&mut state).take_notified(key) {
            leave.cancel = None;
            return Some(data);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let cancel = leave.cancel.take().expect("cancel is taken once");
            let given = list(&mut state).remove(key);
            debug_assert!(given.is_none(), "checked under this lock hold");
            cancel(&mut state, None);
            return None;
        }
        // An early return: wait again, with a waiter for this run.
        list(&mut state).set_waiter(key, Waiter::current());
    }
}

/// Removes the entry of a waiter that leaves [`wait`] by unwinding.
struct Leave<'a, S, T, C: FnOnce(&mut S, Option<T>)> {
    lock: &'a Mutex<S>,
    key: Key,
    list: fn(&mut S) -> &mut WaitList<T>,
    cancel: Option<C>,
}

impl<S, T, C: FnOnce(&mut S, Option<T>)> Drop for Leave<'_, S, T, C> {
    fn drop(&mut self) {
        if let Some(cancel) = self.cancel.take() {
            let mut state = self.lock.lock();
            let given = (self.list)(&mut state).remove(self.key);
            cancel(&mut state, given);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Waiter {
        Waiter::current()
    }

    fn order(l: &WaitList<u32>) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = l.head;
        while i != NIL {
            match &l.slots[i] {
                Slot::Linked { data, next, .. } => {
                    out.push(*data);
                    i = *next;
                }
                _ => panic!("queue links a slot that is not queued"),
            }
        }
        // And backwards, to check the `prev` links.
        let mut back = Vec::new();
        let mut i = l.tail;
        while i != NIL {
            match &l.slots[i] {
                Slot::Linked { data, prev, .. } => {
                    back.push(*data);
                    i = *prev;
                }
                _ => panic!("queue links a slot that is not queued"),
            }
        }
        back.reverse();
        assert_eq!(out, back);
        assert_eq!(out.len(), l.len());
        out
    }

    #[test]
    fn fifo_with_front_pushes() {
        let mut l = WaitList::new();
        l.push_back(me(), 1);
        l.push_back(me(), 2);
        l.push_front(me(), 0);
        l.push_back(me(), 3);
        assert_eq!(order(&l), [0, 1, 2, 3]);
        assert_eq!(l.front(), Some(&0));
    }

    #[test]
    fn notified_entries_keep_their_data_until_taken() {
        let mut l = WaitList::new();
        let a = l.push_back(me(), 10);
        let b = l.push_back(me(), 20);
        *l.front_mut().unwrap() += 1;
        assert!(l.notify_front().is_some());
        assert_eq!(order(&l), [20]);
        assert_eq!(l.take_notified(b), None, "b is still queued");
        assert_eq!(l.take_notified(a), Some(11));
        assert_eq!(l.remove(b), None);
        assert!(l.is_empty());
        assert!(l.notify_front().is_none());
    }

    #[test]
    fn removal_from_the_middle_and_the_ends() {
        let mut l = WaitList::new();
        let keys: Vec<Key> = (0..5).map(|i| l.push_back(me(), i)).collect();
        assert_eq!(l.remove(keys[2]), None);
        assert_eq!(order(&l), [0, 1, 3, 4]);
        assert_eq!(l.remove(keys[0]), None);
        assert_eq!(l.remove(keys[4]), None);
        assert_eq!(order(&l), [1, 3]);
        // A freed slot is reused, and the order still holds.
        l.push_back(me(), 5);
        assert_eq!(order(&l), [1, 3, 5]);
        assert_eq!(l.slots.len(), 5);
    }

    #[test]
    fn remove_returns_what_a_notification_gave() {
        let mut l = WaitList::new();
        let a = l.push_back(me(), 7);
        let _b = l.push_back(me(), 8);
        l.notify_front();
        assert_eq!(l.remove(a), Some(7));
    }

    #[test]
    fn notify_all_and_notify_while() {
        let mut l = WaitList::new();
        let keys: Vec<Key> = (0..4).map(|i| l.push_back(me(), i)).collect();
        let mut woken = Vec::new();
        l.notify_while(&mut woken, |d| *d < 2);
        assert_eq!(woken.len(), 2);
        assert_eq!(order(&l), [2, 3]);
        assert_eq!(l.notify_all().len(), 2);
        assert!(l.is_empty());
        for (i, k) in keys.into_iter().enumerate() {
            assert_eq!(l.take_notified(k), Some(i as u32));
        }
    }

    #[test]
    fn an_emptied_list_gives_memory_back() {
        let mut l = WaitList::new();
        let keys: Vec<Key> = (0..1000).map(|i| l.push_back(me(), i)).collect();
        assert!(l.slots.capacity() >= 1000);
        for k in keys {
            l.remove(k);
        }
        assert!(l.slots.is_empty());
        assert!(l.slots.capacity() <= RETAINED_SLOTS);
        let k = l.push_back(me(), 1);
        assert_eq!(k, Key(0));
    }

    #[test]
    fn wait_returns_the_data_and_times_out() {
        let lock = Mutex::new(WaitList::new());
        // Notified before the wait even parks: not lost.
        let key = lock.lock().push_back(me(), 5u32);
        let w = lock.lock().notify_front().unwrap();
        w.wake();
        let got = wait(&lock, key, None, |l| l, |_, _| unreachable!());
        assert_eq!(got, Some(5));

        // Nobody notifies: the deadline ends the wait and `cancel` runs.
        let key = lock.lock().push_back(me(), 6u32);
        let mut cancelled = false;
        let deadline = Instant::now() + std::time::Duration::from_millis(5);
        let got = wait(
            &lock,
            key,
            Some(deadline),
            |l| l,
            |l, given| {
                assert!(given.is_none());
                assert!(l.is_empty());
                cancelled = true;
            },
        );
        assert_eq!(got, None);
        assert!(cancelled);
        assert!(Instant::now() >= deadline);
    }

    #[test]
    fn wait_wakes_across_threads() {
        use std::sync::Arc;
        let lock = Arc::new(Mutex::new(WaitList::new()));
        for round in 0..200u32 {
            let key = lock.lock().push_back(me(), round);
            let l2 = Arc::clone(&lock);
            let t = std::thread::spawn(move || loop {
                let w = l2.lock().notify_front();
                if let Some(w) = w {
                    w.wake();
                    break;
                }
                std::thread::yield_now();
            });
            assert_eq!(wait(&lock, key, None, |l| l, |_, _| {}), Some(round));
            t.join().unwrap();
        }
    }
}
