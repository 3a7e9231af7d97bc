//! Coroutine stacks: guard-paged mappings, and the per-worker pool that lets
//! far more coroutines park than there are mapped stacks.
//!
//! # The mapping limit
//!
//! Every stack is one `mmap` whose lowest page is made inaccessible with
//! `mprotect`, so running off the end faults instead of corrupting memory.
//! That costs two kernel memory mappings per stack, and a stock kernel allows
//! 65,530 mappings per process (`vm.max_map_count`): about 32,000 stacks,
//! which is where one-stack-per-coroutine runtimes stop. We want hundreds of
//! thousands of parked coroutines, so a parked coroutine must not need a
//! mapped stack of its own.
//!
//! # Resident and evicted coroutines
//!
//! Each worker owns a pool of stack *slots* per stack size. A coroutine is
//! bound to one slot of its worker at its first resume and keeps that
//! binding for life, because its frames hold pointers into the slot's
//! addresses. While there are fewer coroutines than slots (the budget,
//! [`StackPool::new`]), every coroutine has its slot to itself and nothing
//! is ever copied.
//!
//! Past the budget, slots are shared. A slot has at most one *resident*
//! coroutine whose frames are in it. When another coroutine bound to the same
//! slot must run, the resident (which is suspended, since one worker runs one
//! coroutine at a time) is *evicted*: the used part of its stack, from its
//! saved stack pointer (minus a calibrated margin) to the top, is copied into
//! a heap buffer ([`StackImage`]). Before the evicted coroutine runs again,
//! the buffer is copied back to the very same addresses. A parked coroutine
//! that has been evicted costs only its used stack bytes on the heap.
//!
//! This is sound only while nothing outside the coroutine points into its
//! stack while it is suspended. The runtime keeps its own wait state in task
//! slots, never on stacks. A coroutine whose stack is borrowed by others
//! (the owner of a [`scope`](crate::scope())) is *pinned* and never evicted.
//! The crate docs state the one rule this leaves to users.
//!
//! A slot's victim is chosen by a clock hand over the unpinned residents.

use std::io;
use std::ptr::{self, NonNull};

use corosensei::stack::{Stack, StackPointer};

/// Size of the inaccessible guard region below every stack.
pub(crate) const GUARD_SIZE: usize = 4096;
/// Smallest stack a coroutine may ask for.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack a coroutine may ask for.
pub(crate) const MAX_STACK_SIZE: usize = 1 << 30;
/// Stack size when none is configured: generous, since only touched pages
/// cost memory and evicted coroutines cost only what they used.
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// Rounds a requested stack size up to whole pages.
pub(crate) fn round_stack_size(size: usize) -> usize {
    let page = page_size();
    size.max(MIN_STACK_SIZE).div_ceil(page) * page
}

/// One mapped stack with a guard page below it.
#[derive(Debug)]
pub(crate) struct StackMem {
    /// Start of the mapping: the guard page.
    start: NonNull<u8>,
    /// Length of the mapping, guard included.
    len: usize,
}

impl StackMem {
    /// Maps a stack of `size` usable bytes (a multiple of the page size).
    pub(crate) fn new(size: usize) -> io::Result<StackMem> {
        let len = size + GUARD_SIZE;
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing touches no existing memory.
        let start = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if start == libc::MAP_FAILED {
            return Err(limit_error(io::Error::last_os_error(), size));
        }
        // SAFETY: `start..start+GUARD_SIZE` lies in the mapping we just made.
        if unsafe { libc::mprotect(start, GUARD_SIZE, libc::PROT_NONE) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: unmapping the mapping we just made, which nobody uses.
            unsafe { libc::munmap(start, len) };
            return Err(limit_error(err, size));
        }
        Ok(StackMem {
            start: NonNull::new(start.cast()).expect("mmap returned null"),
            len,
        })
    }

    /// The highest address: where the stack starts growing down from.
    pub(crate) fn top(&self) -> usize {
        self.start.as_ptr() as usize + self.len
    }

    /// The lowest address, guard included.
    pub(crate) fn bottom(&self) -> usize {
        self.start.as_ptr() as usize
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.len - GUARD_SIZE
    }

    /// A view for corosensei.
    pub(crate) fn view(&self) -> SlotStack {
        SlotStack {
            top: self.top(),
            bottom: self.bottom(),
        }
    }
}

impl Drop for StackMem {
    fn drop(&mut self) {
        // SAFETY: we own the mapping; no coroutine runs on it any more (the
        // pool outlives every coroutine bound to it).
        unsafe { libc::munmap(self.start.as_ptr().cast(), self.len) };
    }
}

/// Turns an `ENOMEM` from mapping a stack into an error that names the limit.
fn limit_error(err: io::Error, size: usize) -> io::Error {
    if err.raw_os_error() == Some(libc::ENOMEM) {
        let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into());
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "coro: cannot map a coroutine stack of {size} bytes: the process hit the kernel's \
                 memory-mapping limit (vm.max_map_count = {max}) or ran out of memory; raise it with \
                 `sysctl -w vm.max_map_count=N`, or lower runtime::Builder::resident_stacks \
                 so more parked coroutines share stacks"
            ),
        )
    } else {
        err
    }
}

/// The stack of one slot, as corosensei sees it: two addresses. The pool
/// owns the mapping and outlives every coroutine running on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotStack {
    top: usize,
    bottom: usize,
}

impl SlotStack {
    /// The lowest address, guard included.
    pub(crate) fn bottom(&self) -> usize {
        self.bottom
    }

    /// Usable bytes.
    pub(crate) fn size(&self) -> usize {
        self.top - self.bottom - GUARD_SIZE
    }
}

// SAFETY: `top` and `bottom` delimit a mapping owned by the worker's pool
// that outlives the coroutine, whose lowest `GUARD_SIZE` bytes are
// inaccessible and whose usable part is at least `MIN_STACK_SIZE`; both are
// page-aligned, hence aligned to `STACK_ALIGNMENT`.
unsafe impl Stack for SlotStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top).expect("stack top is not null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.bottom).expect("stack bottom is not null")
    }
}

/// Where a coroutine's frames are: in its slot (resident), or copied out.
#[derive(Debug, Default)]
pub(crate) struct StackImage {
    /// Which size class and slot the coroutine is bound to.
    class: usize,
    index: usize,
    /// Stack pointer the coroutine reported when it last suspended.
    pub(crate) suspend_sp: usize,
    /// The copied-out bytes, from `saved_low` to the slot's top; empty while
    /// resident.
    saved: Vec<u8>,
    saved_low: usize,
    evicted: bool,
    /// While nonzero, the image is never evicted.
    pub(crate) pins: u32,
}

#[cfg(test)]
impl StackImage {
    /// Bytes kept on the heap for this coroutine (0 while resident).
    pub(crate) fn saved_len(&self) -> usize {
        self.saved.len()
    }
}

struct Slot {
    mem: StackMem,
    resident: Option<NonNull<StackImage>>,
}

struct SizeClass {
    size: usize,
    slots: Vec<Slot>,
    free: Vec<usize>,
    hand: usize,
}

/// One worker's stacks. Not shared: only its worker touches it.
pub(crate) struct StackPool {
    classes: Vec<SizeClass>,
    /// Slots per size class before coroutines start sharing them.
    budget: usize,
    /// Bytes below a suspended coroutine's reported stack pointer that may
    /// hold its state (see `switch::suspend_margin`).
    margin: usize,
}

impl StackPool {
    pub(crate) fn new(budget: usize, margin: usize) -> StackPool {
        StackPool {
            classes: Vec::new(),
            budget: budget.max(1),
            margin,
        }
    }

    /// Binds `image` to a slot of `size` bytes and makes it resident there.
    /// Returns the slot's stack.
    pub(crate) fn bind(&mut self, image: &mut StackImage, size: usize) -> io::Result<SlotStack> {
        let class = match self.classes.iter().position(|c| c.size == size) {
            Some(c) => c,
            None => {
                self.classes.push(SizeClass {
                    size,
                    slots: Vec::new(),
                    free: Vec::new(),
                    hand: 0,
                });
                self.classes.len() - 1
            }
        };
        let index = match self.pop_free(class) {
            Some(i) => i,
            None if self.classes[class].slots.len() < self.budget => self.map_slot(class)?,
            None => match self.pick_victim(class) {
                Some(i) => {
                    self.evict(class, i);
                    i
                }
                // Every resident is pinned: exceed the budget rather than fail.
                None => self.map_slot(class)?,
            },
        };
        image.class = class;
        image.index = index;
        image.evicted = false;
        let slot = &mut self.classes[class].slots[index];
        slot.resident = Some(NonNull::from(&mut *image));
        Ok(slot.mem.view())
    }

    fn map_slot(&mut self, class: usize) -> io::Result<usize> {
        let c = &mut self.classes[class];
        c.slots.push(Slot {
            mem: StackMem::new(c.size)?,
            resident: None,
        });
        Ok(c.slots.len() - 1)
    }

    /// A slot with no resident from the free list. Entries go stale when an
    /// evicted coroutine is copied back into a free slot (`make_resident`),
    /// so each is checked, and stale ones are dropped: the slot is listed
    /// again when its resident is released.
    fn pop_free(&mut self, class: usize) -> Option<usize> {
        let c = &mut self.classes[class];
        while let Some(i) = c.free.pop() {
            if c.slots[i].resident.is_none() {
                return Some(i);
            }
        }
        None
    }

    fn pick_victim(&mut self, class: usize) -> Option<usize> {
        let c = &mut self.classes[class];
        let n = c.slots.len();
        for step in 0..n {
            let i = (c.hand + step) % n;
            let unpinned = match c.slots[i].resident {
                // An empty slot needs no eviction at all.
                None => true,
                // SAFETY: a resident pointer refers to a live image: images
                // are unbound (`release`) before they are dropped.
                Some(resident) => unsafe { resident.as_ref() }.pins == 0,
            };
            if unpinned {
                c.hand = (i + 1) % n;
                return Some(i);
            }
        }
        None
    }

    /// Copies the resident of slot `index` out to its heap buffer.
    fn evict(&mut self, class: usize, index: usize) {
        let margin = self.margin;
        let slot = &mut self.classes[class].slots[index];
        let Some(mut resident) = slot.resident.take() else {
            return;
        };
        // SAFETY: see `pick_victim`; the worker runs one coroutine at a time,
        // so the resident is suspended and nobody else touches its image.
        let image = unsafe { resident.as_mut() };
        debug_assert_eq!(image.pins, 0);
        let top = slot.mem.top();
        let low = image
            .suspend_sp
            .saturating_sub(margin)
            .max(slot.mem.bottom() + GUARD_SIZE);
        debug_assert!(image.suspend_sp >= low && image.suspend_sp <= top);
        image.saved.clear();
        // SAFETY: `low..top` lies in the usable part of the slot's mapping.
        let live = unsafe { std::slice::from_raw_parts(low as *const u8, top - low) };
        image.saved.extend_from_slice(live);
        image.saved.shrink_to_fit();
        image.saved_low = low;
        image.evicted = true;
    }

    /// Makes `image`'s frames present in its slot, evicting whoever is there.
    /// Returns false, changing nothing, while the slot is held by a pinned
    /// coroutine (a scope owner): the caller tries again later.
    #[must_use]
    pub(crate) fn make_resident(&mut self, image: &mut StackImage) -> bool {
        let me = NonNull::from(&mut *image);
        let (class, index) = (image.class, image.index);
        let resident = self.classes[class].slots[index].resident;
        if resident == Some(me) {
            return true;
        }
        if let Some(other) = resident {
            // SAFETY: see `pick_victim`.
            if unsafe { other.as_ref() }.pins != 0 {
                return false;
            }
            self.evict(class, index);
        }
        debug_assert!(image.evicted);
        let slot = &mut self.classes[class].slots[index];
        // SAFETY: the image was copied from exactly these addresses of this
        // slot, which now has no resident.
        unsafe {
            ptr::copy_nonoverlapping(
                image.saved.as_ptr(),
                image.saved_low as *mut u8,
                image.saved.len(),
            );
        }
        image.saved = Vec::new();
        image.evicted = false;
        slot.resident = Some(me);
        true
    }

    /// Whether `image` must be copied back before its coroutine runs.
    pub(crate) fn is_evicted(image: &StackImage) -> bool {
        image.evicted
    }

    /// Unbinds a finished coroutine's image; its slot becomes free.
    pub(crate) fn release(&mut self, image: &mut StackImage) {
        let me = NonNull::from(&mut *image);
        let c = &mut self.classes[image.class];
        let slot = &mut c.slots[image.index];
        if slot.resident == Some(me) {
            slot.resident = None;
            c.free.push(image.index);
        }
        image.saved = Vec::new();
        image.evicted = false;
    }

    /// Number of mapped stacks.
    pub(crate) fn mapped(&self) -> usize {
        self.classes.iter().map(|c| c.slots.len()).sum()
    }
}

impl std::fmt::Debug for StackPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackPool")
            .field("mapped", &self.mapped())
            .field("budget", &self.budget)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stack_has_a_guard_page() {
        let s = StackMem::new(round_stack_size(MIN_STACK_SIZE)).unwrap();
        assert_eq!(s.top() - s.bottom(), s.size() + GUARD_SIZE);
        // Writing the lowest usable byte and the top byte works.
        // SAFETY: both addresses are in the usable part of the mapping.
        unsafe {
            ((s.bottom() + GUARD_SIZE) as *mut u8).write(1);
            ((s.top() - 1) as *mut u8).write(1);
        }
        let mut vec = [0u8; 1];
        // SAFETY: mincore-free probe: ask the kernel whether the guard page
        // is readable by letting it copy from it into our buffer.
        let r = unsafe {
            libc::process_vm_readv(
                libc::getpid(),
                &libc::iovec {
                    iov_base: vec.as_mut_ptr().cast(),
                    iov_len: 1,
                },
                1,
                &libc::iovec {
                    iov_base: s.bottom() as *mut _,
                    iov_len: 1,
                },
                1,
                0,
            )
        };
        assert_eq!(r, -1, "the guard page must not be readable");
    }

    #[test]
    fn rounds_up_to_pages() {
        assert_eq!(round_stack_size(1), MIN_STACK_SIZE);
        assert_eq!(round_stack_size(MIN_STACK_SIZE + 1) % page_size(), 0);
    }

    #[test]
    fn evicted_frames_come_back_to_the_same_addresses() {
        let mut pool = StackPool::new(1, 0);
        let mut a = StackImage::default();
        let mut b = StackImage::default();
        let sa = pool.bind(&mut a, round_stack_size(MIN_STACK_SIZE)).unwrap();
        // Pretend `a` used the top 100 bytes and suspended.
        let top = sa.top;
        // SAFETY: the top 100 bytes are in the usable part of the stack.
        unsafe { ptr::write_bytes((top - 100) as *mut u8, 0xAB, 100) };
        a.suspend_sp = top - 100;
        // Binding `b` past the budget of one slot evicts `a`.
        let sb = pool.bind(&mut b, round_stack_size(MIN_STACK_SIZE)).unwrap();
        assert_eq!(sb.top, top);
        assert_eq!(a.saved_len(), 100);
        // SAFETY: as above.
        unsafe { ptr::write_bytes((top - 100) as *mut u8, 0xCD, 100) };
        b.suspend_sp = top - 100;
        assert!(pool.make_resident(&mut a));
        // SAFETY: as above.
        let back = unsafe { std::slice::from_raw_parts((top - 100) as *const u8, 100) };
        assert!(back.iter().all(|&x| x == 0xAB));
        assert_eq!(b.saved_len(), 100);
        pool.release(&mut a);
        assert!(pool.make_resident(&mut b));
        pool.release(&mut b);
        assert_eq!(pool.mapped(), 1);
    }

    #[test]
    fn a_free_slot_that_an_evicted_image_came_back_to_is_not_handed_out() {
        let size = round_stack_size(MIN_STACK_SIZE);
        let mut pool = StackPool::new(1, 0);
        let (mut a, mut b, mut c) = (
            StackImage::default(),
            StackImage::default(),
            StackImage::default(),
        );
        let s = pool.bind(&mut a, size).unwrap();
        a.suspend_sp = s.top - 64;
        // `b` evicts `a`, then finishes: the slot is free, `a` is still bound.
        pool.bind(&mut b, size).unwrap();
        b.suspend_sp = s.top - 64;
        pool.release(&mut b);
        // `a` comes back into the free slot.
        assert!(pool.make_resident(&mut a));
        // `c` must not be given `a`'s slot as if it were free: `a` is evicted.
        pool.bind(&mut c, size).unwrap();
        assert_eq!(pool.mapped(), 1);
        assert!(
            StackPool::is_evicted(&a),
            "a new coroutine took the slot without evicting its resident"
        );
        c.suspend_sp = s.top - 64;
        assert!(pool.make_resident(&mut a));
        pool.release(&mut a);
        assert!(pool.make_resident(&mut c));
        pool.release(&mut c);
    }

    #[test]
    fn pinned_residents_are_not_evicted() {
        let mut pool = StackPool::new(1, 0);
        let mut a = StackImage::default();
        let mut b = StackImage::default();
        let size = round_stack_size(MIN_STACK_SIZE);
        let sa = pool.bind(&mut a, size).unwrap();
        a.suspend_sp = sa.top - 64;
        a.pins = 1;
        pool.bind(&mut b, size).unwrap();
        assert_eq!(pool.mapped(), 2, "a pinned resident forces a new slot");
        assert_eq!(a.saved_len(), 0);
        a.pins = 0;
        pool.release(&mut a);
        pool.release(&mut b);
    }
}
