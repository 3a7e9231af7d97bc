//! One worker's stacks: ranges carved from regions, the resident budget, and
//! eviction by a clock hand. The design is in the [parent module](super).

use std::cell::Cell;
use std::io;
use std::ptr::NonNull;

use super::region::{self, fatal, Range, Region};
use super::{SlotStack, GUARD_SIZE};
use crate::task::Slot;

/// Free ranges of one size class whose pages stay resident, ready for the
/// next coroutine to start without a page fault; a range freed beyond them
/// gives its pages back to the kernel. A spawn-and-finish workload keeps
/// far fewer free at once.
const WARM_FREE_RANGES: usize = 64;

/// Where a coroutine's frames are: in its range (resident), or copied out.
#[derive(Debug, Default)]
pub(crate) struct StackImage {
    /// Which size class the coroutine's range belongs to.
    class: usize,
    /// The coroutine's range for life, once bound.
    range: Option<Range>,
    /// Position in its class's `residents` while resident.
    resident_index: usize,
    /// Stack pointer the coroutine reported when it last suspended.
    pub(crate) suspend_sp: usize,
    /// The lowest address of the range, where its guard page starts, and
    /// the usable size above the guard: what the overflow report needs.
    pub(crate) guard_bottom: usize,
    pub(crate) stack_size: usize,
    /// The copied-out bytes, from `saved_low` to the range's top; empty
    /// while resident.
    saved: Vec<u8>,
    saved_low: usize,
    evicted: bool,
    /// While nonzero, the image is never evicted (`coro::scope`,
    /// `coro::pin_stack`). A cell: the running coroutine pins itself
    /// through a shared reference (`switch::with_current`).
    pub(crate) pins: Cell<u32>,
}

#[cfg(test)]
impl StackImage {
    /// Bytes kept on the heap for this coroutine (0 while resident).
    pub(crate) fn saved_len(&self) -> usize {
        self.saved.len()
    }
}

struct SizeClass {
    /// Usable bytes of each stack.
    size: usize,
    /// Guard plus stack.
    range_len: usize,
    regions: Vec<Region>,
    /// Ranges of the last region not handed out yet.
    next: usize,
    /// Unowned ranges that are accessible: reused without a system call.
    free_resident: Vec<Range>,
    /// Unowned ranges that are inaccessible.
    free_cold: Vec<Range>,
    /// Resident, owned images, for the clock hand.
    residents: Vec<NonNull<StackImage>>,
    hand: usize,
}

impl SizeClass {
    /// Gives a free range's pages back and makes it inaccessible: it no
    /// longer counts against the budget.
    fn cool(&mut self, range: Range) {
        // SAFETY: the range is free: no coroutine owns it.
        if let Err(e) = unsafe { region::make_inaccessible(range, self.range_len) } {
            fatal(format_args!("coro: cannot release a free stack: {e}"));
        }
        self.free_cold.push(range);
    }

    /// Ranges whose stack part is accessible: what the budget bounds.
    fn resident(&self) -> usize {
        self.residents.len() + self.free_resident.len()
    }

    /// A range that has never been used, inaccessible.
    fn carve(&mut self) -> io::Result<Range> {
        let full = self.regions.last().is_none_or(|r| self.next == r.ranges());
        if full {
            self.regions.push(Region::acquire(self.range_len)?);
            self.next = 0;
        }
        let region = self.regions.last().expect("a region was just added");
        self.next += 1;
        Ok(region.range(self.next - 1))
    }

    fn push_resident(&mut self, image: &mut StackImage) {
        image.resident_index = self.residents.len();
        self.residents.push(NonNull::from(image));
    }

    fn remove_resident(&mut self, index: usize) {
        self.residents.swap_remove(index);
        if let Some(moved) = self.residents.get_mut(index) {
            // SAFETY: resident pointers refer to live images (images leave
            // `residents` before they are released or dropped).
            unsafe { moved.as_mut() }.resident_index = index;
        }
    }

    /// The next unpinned resident after the clock hand.
    fn pick_victim(&mut self) -> Option<usize> {
        let n = self.residents.len();
        for step in 0..n {
            let i = (self.hand + step) % n;
            // SAFETY: every pointer in `residents` refers to a live image:
            // an image leaves `residents` before it is released or dropped.
            // The shared borrow only reads `pins`, a `Cell` that the running
            // coroutine itself may set through a shared reference too.
            if unsafe { self.residents[i].as_ref() }.pins.get() == 0 {
                // The next look starts at whatever takes this place.
                self.hand = i;
                return Some(i);
            }
        }
        None
    }
}

/// One worker's stacks. Not shared: only its worker touches it.
pub(crate) struct StackPool {
    classes: Vec<SizeClass>,
    /// Accessible ranges per size class before suspended coroutines are
    /// evicted.
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

    /// Gives `image` (of the coroutine `owner`) a range of `size` bytes of
    /// its own, resident. Returns the range's stack.
    pub(crate) fn bind(
        &mut self,
        image: &mut StackImage,
        owner: *const Slot,
        size: usize,
    ) -> io::Result<SlotStack> {
        let class = match self.classes.iter().position(|c| c.size == size) {
            Some(c) => c,
            None => {
                self.classes.push(SizeClass {
                    size,
                    range_len: size + GUARD_SIZE,
                    regions: Vec::new(),
                    next: 0,
                    free_resident: Vec::new(),
                    free_cold: Vec::new(),
                    residents: Vec::new(),
                    hand: 0,
                });
                self.classes.len() - 1
            }
        };
        let range = match self.classes[class].free_resident.pop() {
            Some(r) => r,
            None => {
                self.make_room(class);
                let c = &mut self.classes[class];
                let r = match c.free_cold.pop() {
                    Some(r) => r,
                    None => c.carve().map_err(|e| super::limit_error(e, size))?,
                };
                if let Err(e) = region::make_accessible(r, c.range_len) {
                    c.free_cold.push(r);
                    return Err(super::limit_error(e, size));
                }
                r
            }
        };
        range.info.set_owner(owner);
        image.class = class;
        image.range = Some(range);
        image.evicted = false;
        image.saved = Vec::new();
        let c = &mut self.classes[class];
        c.push_resident(image);
        let stack = SlotStack {
            top: range.base + c.range_len,
            bottom: range.base,
        };
        image.guard_bottom = stack.bottom();
        image.stack_size = stack.size();
        Ok(stack)
    }

    /// Brings the class under its budget by one range if it is at it:
    /// cools a free resident range, else evicts the clock hand's victim.
    /// With every resident pinned, the budget is exceeded instead.
    fn make_room(&mut self, class: usize) {
        let margin = self.margin;
        let c = &mut self.classes[class];
        if c.resident() < self.budget {
            return;
        }
        if let Some(r) = c.free_resident.pop() {
            c.cool(r);
            return;
        }
        if let Some(i) = c.pick_victim() {
            let mut victim = c.residents[i];
            c.remove_resident(i);
            // SAFETY: the victim was in `residents`, so it is a live image
            // (images leave `residents` before they are released or
            // dropped). The worker runs one coroutine at a time and is in
            // the pool, so the victim is suspended and nobody else touches
            // its image while we hold this `&mut`.
            evict(unsafe { victim.as_mut() }, c.range_len, margin);
        }
    }

    /// Makes `image`'s frames present at their addresses again, if they
    /// were evicted. Always succeeds: no other coroutine can hold the range.
    pub(crate) fn make_resident(&mut self, image: &mut StackImage) {
        if !image.evicted {
            return;
        }
        let class = image.class;
        self.make_room(class);
        let c = &mut self.classes[class];
        let range = image.range.expect("an evicted image has a range");
        if let Err(e) = region::restore_into(range, c.range_len, image.saved_low, &image.saved) {
            fatal(format_args!(
                "coro: cannot restore the stack of a suspended coroutine ({e}); \
                 lower runtime::Builder::resident_stacks or raise vm.max_map_count"
            ));
        }
        range.info.clear_evicted();
        image.saved = Vec::new();
        image.evicted = false;
        c.push_resident(image);
    }

    /// Whether `image` must be copied back before its coroutine runs.
    pub(crate) fn is_evicted(image: &StackImage) -> bool {
        image.evicted
    }

    /// Unbinds a finished coroutine's image; its range becomes free.
    pub(crate) fn release(&mut self, image: &mut StackImage) {
        let Some(range) = image.range.take() else {
            return;
        };
        range.info.set_owner(std::ptr::null());
        let c = &mut self.classes[image.class];
        if image.evicted {
            c.free_cold.push(range);
        } else {
            c.remove_resident(image.resident_index);
            if c.free_resident.len() < WARM_FREE_RANGES {
                c.free_resident.push(range);
            } else {
                // Many coroutines finished and none started: give the
                // pages back (an idle server's connections letting their
                // coroutines go, say) instead of keeping them all warm.
                c.cool(range);
            }
        }
        image.saved = Vec::new();
        image.evicted = false;
    }

    /// Number of ranges with accessible stacks.
    pub(crate) fn mapped(&self) -> usize {
        self.classes.iter().map(SizeClass::resident).sum()
    }
}

/// Copies a suspended image's frames out and makes its range inaccessible.
fn evict(image: &mut StackImage, range_len: usize, margin: usize) {
    let range = image.range.expect("a resident image has a range");
    let stack = range.base + GUARD_SIZE;
    let top = range.base + range_len;
    let low = image.suspend_sp.saturating_sub(margin).max(stack);
    debug_assert!(image.suspend_sp >= low && image.suspend_sp <= top);
    // Marked first, so that a write that faults on the read-only stack is
    // reported; read-only next, so that no write is lost during the copy.
    range.info.set_evicted();
    if let Err(e) = region::make_read_only(range, range_len) {
        fatal(format_args!(
            "coro: cannot evict a suspended coroutine's stack: {e}"
        ));
    }
    image.saved.clear();
    // SAFETY: `low..top` lies in the range's stack part, readable now.
    let live = unsafe { std::slice::from_raw_parts(low as *const u8, top - low) };
    image.saved.extend_from_slice(live);
    image.saved.shrink_to_fit();
    image.saved_low = low;
    image.evicted = true;
    // SAFETY: the frames were just copied out; nothing else lives there.
    if let Err(e) = unsafe { region::make_inaccessible(range, range_len) } {
        fatal(format_args!(
            "coro: cannot evict a suspended coroutine's stack: {e}"
        ));
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
    use std::ptr;

    use super::super::{round_stack_size, MIN_STACK_SIZE};
    use super::*;

    fn readable(addr: usize) -> bool {
        let mut byte = [0u8; 1];
        // SAFETY: the kernel copies one byte from `addr` into our buffer,
        // or fails if `addr` is not readable; our memory is not touched
        // otherwise.
        let r = unsafe {
            libc::process_vm_readv(
                libc::getpid(),
                &libc::iovec {
                    iov_base: byte.as_mut_ptr().cast(),
                    iov_len: 1,
                },
                1,
                &libc::iovec {
                    iov_base: addr as *mut _,
                    iov_len: 1,
                },
                1,
                0,
            )
        };
        r == 1
    }

    #[test]
    fn evicted_frames_come_back_to_the_same_addresses_and_are_unreadable_meanwhile() {
        let size = round_stack_size(MIN_STACK_SIZE);
        let mut pool = StackPool::new(1, 0);
        let mut a = StackImage::default();
        let mut b = StackImage::default();
        let sa = pool.bind(&mut a, ptr::null(), size).unwrap();
        let top = sa.top;
        // SAFETY: the top 100 bytes are in the usable part of the stack.
        unsafe { ptr::write_bytes((top - 100) as *mut u8, 0xAB, 100) };
        a.suspend_sp = top - 100;
        // Binding `b` past the budget of one evicts `a`, and `b` gets a
        // range of its own.
        let sb = pool.bind(&mut b, ptr::null(), size).unwrap();
        assert_ne!(sb.top, top, "two live coroutines never share addresses");
        assert_eq!(a.saved_len(), 100);
        assert!(
            !readable(top - 100),
            "an evicted stack must be inaccessible"
        );
        b.suspend_sp = sb.top - 64;
        pool.make_resident(&mut a);
        assert!(readable(top - 100));
        // SAFETY: the 100 bytes below `a`'s top are in its range, which the
        // pool owns and has just made accessible again (resident).
        let back = unsafe { std::slice::from_raw_parts((top - 100) as *const u8, 100) };
        assert!(back.iter().all(|&x| x == 0xAB));
        assert_eq!(b.saved_len(), 64);
        assert!(!readable(sb.top - 1));
        pool.release(&mut a);
        pool.make_resident(&mut b);
        pool.release(&mut b);
        assert_eq!(pool.mapped(), 1);
    }

    #[test]
    fn a_finished_range_is_reused_without_eviction() {
        let size = round_stack_size(MIN_STACK_SIZE);
        let mut pool = StackPool::new(1, 0);
        let (mut a, mut b) = (StackImage::default(), StackImage::default());
        let sa = pool.bind(&mut a, ptr::null(), size).unwrap();
        pool.release(&mut a);
        let sb = pool.bind(&mut b, ptr::null(), size).unwrap();
        assert_eq!(sa.top, sb.top);
        pool.release(&mut b);
    }

    #[test]
    fn pinned_residents_are_not_evicted() {
        let size = round_stack_size(MIN_STACK_SIZE);
        let mut pool = StackPool::new(1, 0);
        let mut a = StackImage::default();
        let mut b = StackImage::default();
        let sa = pool.bind(&mut a, ptr::null(), size).unwrap();
        a.suspend_sp = sa.top - 64;
        a.pins.set(1);
        pool.bind(&mut b, ptr::null(), size).unwrap();
        assert_eq!(pool.mapped(), 2, "a pinned resident exceeds the budget");
        assert_eq!(a.saved_len(), 0);
        a.pins.set(0);
        pool.release(&mut a);
        pool.release(&mut b);
    }

    #[test]
    fn a_coroutine_comes_back_while_its_evictor_is_pinned() {
        // Issue 14, item 3: restoring never waits for anyone.
        let size = round_stack_size(MIN_STACK_SIZE);
        let mut pool = StackPool::new(1, 0);
        let (mut a, mut q) = (StackImage::default(), StackImage::default());
        let sa = pool.bind(&mut a, ptr::null(), size).unwrap();
        a.suspend_sp = sa.top - 64;
        let sq = pool.bind(&mut q, ptr::null(), size).unwrap();
        q.suspend_sp = sq.top - 64;
        q.pins.set(1);
        assert!(StackPool::is_evicted(&a));
        pool.make_resident(&mut a);
        assert!(!StackPool::is_evicted(&a) && !StackPool::is_evicted(&q));
        q.pins.set(0);
        pool.release(&mut a);
        pool.release(&mut q);
    }
}
