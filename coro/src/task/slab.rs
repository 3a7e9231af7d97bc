//! The slab that task slots come from.
//!
//! A spawn must not cost a trip through the global allocator, so task slots
//! are carved out of chunks of [`CHUNK_SLOTS`] and recycled. Chunks are never
//! returned to the allocator: a slot's address stays valid for the life of
//! the process, which is what lets a `TaskRef` be a bare pointer.
//!
//! Free slots live in two tiers, in the manner of a magazine allocator:
//!
//! * a per-thread cache (a `Vec` of pointers, no atomics) that `alloc` pops
//!   and `free` pushes;
//! * a global list behind a `parking_lot` mutex that caches refill from and
//!   spill to in batches of [`BATCH`], so the lock is taken once per batch.
//!
//! A slot freed on another thread than the one that allocated it simply
//! joins that thread's cache; a thread that exits hands its cache back.

use std::cell::RefCell;
use std::ptr::NonNull;

use parking_lot::Mutex;

use super::Slot;

/// Slots allocated together when the slab grows.
const CHUNK_SLOTS: usize = 256;
/// Slots moved between a thread cache and the global list at once.
const BATCH: usize = 64;
/// A thread cache larger than this spills `BATCH` slots to the global list.
const CACHE_MAX: usize = 4 * BATCH;

/// A free slot, owned by whichever list holds it.
struct FreeSlot(NonNull<Slot>);

// SAFETY: a free slot is referenced by exactly one free list at a time; the
// list that holds it owns it, so moving the pointer between threads moves
// that ownership, and no one else touches the slot until it is allocated.
unsafe impl Send for FreeSlot {}

static GLOBAL_FREE: Mutex<Vec<FreeSlot>> = Mutex::new(Vec::new());

struct ThreadCache {
    slots: RefCell<Vec<FreeSlot>>,
}

impl Drop for ThreadCache {
    fn drop(&mut self) {
        let slots = std::mem::take(self.slots.get_mut());
        GLOBAL_FREE.lock().extend(slots);
    }
}

thread_local! {
    static CACHE: ThreadCache = const { ThreadCache { slots: RefCell::new(Vec::new()) } };
}

/// Takes a vacant slot.
pub(crate) fn alloc() -> NonNull<Slot> {
    CACHE
        .try_with(|cache| {
            let mut slots = cache.slots.borrow_mut();
            if let Some(slot) = slots.pop() {
                return slot.0;
            }
            refill(&mut slots);
            slots.pop().expect("refill leaves slots").0
        })
        .unwrap_or_else(|_| alloc_global())
}

/// Returns a vacant slot to the slab.
///
/// The caller must own the slot: no `TaskRef` to it may remain.
pub(crate) fn free(slot: NonNull<Slot>) {
    let spilled = CACHE.try_with(|cache| {
        let mut slots = cache.slots.borrow_mut();
        slots.push(FreeSlot(slot));
        if slots.len() > CACHE_MAX {
            let at = slots.len() - BATCH;
            let spill: Vec<FreeSlot> = slots.drain(at..).collect();
            GLOBAL_FREE.lock().extend(spill);
        }
    });
    if spilled.is_err() {
        GLOBAL_FREE.lock().push(FreeSlot(slot));
    }
}

fn refill(cache: &mut Vec<FreeSlot>) {
    {
        let mut global = GLOBAL_FREE.lock();
        let at = global.len().saturating_sub(BATCH);
        cache.extend(global.drain(at..));
    }
    if cache.is_empty() {
        cache.extend(new_chunk().map(FreeSlot));
    }
}

fn alloc_global() -> NonNull<Slot> {
    let mut global = GLOBAL_FREE.lock();
    if global.is_empty() {
        global.extend(new_chunk().map(FreeSlot));
    }
    global.pop().expect("chunk is not empty").0
}

/// Allocates a chunk of vacant slots and leaks it: slots are recycled, never
/// freed, so their addresses stay valid for the life of the process.
fn new_chunk() -> impl Iterator<Item = NonNull<Slot>> {
    let chunk: &'static mut [Slot] =
        Vec::from_iter((0..CHUNK_SLOTS).map(|_| Slot::vacant())).leak();
    chunk.iter_mut().map(NonNull::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_slots_are_reused_on_the_same_thread() {
        let a = alloc();
        free(a);
        let b = alloc();
        assert_eq!(a, b);
        free(b);
    }

    #[test]
    fn slots_are_distinct_while_allocated() {
        let slots: Vec<_> = (0..3 * CHUNK_SLOTS).map(|_| alloc()).collect();
        let mut sorted: Vec<usize> = slots.iter().map(|p| p.as_ptr() as usize).collect();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), slots.len());
        for s in slots {
            free(s);
        }
    }
}
