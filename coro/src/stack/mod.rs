//! Coroutine stacks: every coroutine keeps its own stack addresses for
//! life, and a suspended coroutine's stack may be *evicted* (copied to the
//! heap and made inaccessible) so that far more coroutines can park than
//! the kernel would let us map stacks for.
//!
//! # The mapping limit
//!
//! A stack needs a guard page below it, so that running off its end faults
//! instead of corrupting memory. Mapped one by one, that is two kernel
//! memory mappings per stack, and a stock kernel allows 65,530 per process
//! (`vm.max_map_count`): about 32,000 stacks. We want a million parked
//! coroutines.
//!
//! # Ranges for life
//!
//! Stacks are carved from large reserved regions of `PROT_NONE` address
//! space ([`region`]): each coroutine gets a *range*, a guard page and its
//! stack, at its first resume, and keeps it until it finishes. No other
//! coroutine is ever given a range while its owner lives (finished ranges
//! are reused), so a pointer into a suspended coroutine's stack can never
//! reach another coroutine's frames. Address space is cheap: a million
//! default stacks are 260 GB of it, out of 128 TB.
//!
//! # Resident and evicted coroutines
//!
//! A range whose stack part is read-write is *resident*; each splits the
//! region's mapping. So each worker's pool ([`pool`]) keeps at most a budget
//! of resident ranges per stack size ([`StackPool::new`],
//! `runtime::Builder::resident_stacks`), free ones included. Past it, the
//! pool *evicts* a suspended coroutine chosen by a clock hand:
//!
//! 1. its range is marked evicted, for the fault handler;
//! 2. its stack part is made read-only, so no write can be lost;
//! 3. the used part, from its saved stack pointer (minus a calibrated
//!    margin, see `switch::suspend_margin`) to the top, is copied into a
//!    heap buffer ([`StackImage`]);
//! 4. its pages are released and it is made inaccessible by mapping a fresh
//!    `PROT_NONE` mapping over it, which the kernel merges with the guard
//!    pages and evicted ranges around it.
//!
//! Before an evicted coroutine runs again, its buffer is written into a
//! fresh mapping that `mremap` moves over its stack part in one step, and
//! the mark is cleared. Restoring never waits for anyone: nobody else can
//! hold the range.
//!
//! # What this guarantees
//!
//! Code outside a coroutine may hold pointers into its stack while it is
//! suspended (a `std::thread::scope` thread it lent a local to, a rayon job
//! of `rayon::in_place_scope`). While the coroutine is resident, they see its
//! frames, exactly as on a thread. While it is evicted, any access faults,
//! and the fault handler (`crate::overflow`) names the coroutine and the
//! rule and aborts: never another coroutine's data, never a lost write. A
//! coroutine that lends its stack this way keeps it resident with
//! [`crate::pin_stack`]; the owner of a [`crate::scope()`] is pinned too, since
//! its children borrow its stack. Soundness does not depend on pins: they
//! only turn an abort into a program that works.

pub(crate) mod pool;
pub(crate) mod region;

pub(crate) use pool::{StackImage, StackPool};

use std::io;
use std::ptr::{self, NonNull};

use corosensei::stack::{Stack, StackPointer};

/// Size of the inaccessible guard region below every stack.
pub(crate) const GUARD_SIZE: usize = 4096;
/// Smallest stack a coroutine may ask for.
pub(crate) const MIN_STACK_SIZE: usize = 16 * 1024;
/// Largest stack a coroutine may ask for ([`Builder::stack_size`](crate::Builder::stack_size)
/// refuses more).
pub const MAX_STACK_SIZE: usize = 1 << 30;
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
pub(super) fn limit_error(err: io::Error, size: usize) -> io::Error {
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
                 so fewer suspended coroutines keep their stacks mapped"
            ),
        )
    } else {
        err
    }
}

/// A coroutine's stack, as corosensei sees it: two addresses. The pool
/// owns the range and outlives every coroutine running on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotStack {
    pub(super) top: usize,
    pub(super) bottom: usize,
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

// SAFETY: `top` and `bottom` delimit a range owned by the worker's pool
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
}
