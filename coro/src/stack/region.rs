//! Reserved address regions that coroutine stacks are carved from, the
//! system calls that change a range's state, and the process-wide registry
//! the fault handler reads.
//!
//! # Regions and ranges
//!
//! A region is one `mmap` of [`REGION_BYTES`] (or more, for huge stacks) of
//! `PROT_NONE`, `MAP_NORESERVE` address space: it costs one kernel mapping
//! and no memory. It is cut into equal *ranges* of `GUARD_SIZE + size`
//! bytes, one per coroutine: a guard page, then the stack. A region belongs
//! to one size class of one worker's pool at a time; when the pool goes, the
//! region's pages are released and the region waits in a process-wide list
//! for the next pool with the same range length. Regions are never unmapped,
//! so the registry ([`REGIONS`]) only grows and the fault handler can read it
//! without locks.
//!
//! # Range states and their mappings
//!
//! * *Inaccessible* (never used, evicted, or cooled): `PROT_NONE` with no
//!   pages. It is put there by an `mmap(MAP_FIXED)` of a fresh `PROT_NONE`
//!   mapping ([`make_inaccessible`]), never by `mprotect`, so that it has no
//!   anonymous-memory object (`anon_vma`) and the kernel merges it with the
//!   neighbouring guard pages and inaccessible ranges into one mapping. A
//!   million evicted coroutines therefore cost a handful of mappings.
//! * *Accessible* (resident): the stack part is read-write; the guard stays
//!   `PROT_NONE`. Each such range splits the region's mapping, so there are
//!   about two mappings per resident range, and the pool bounds the number
//!   of resident ranges.
//!
//! `MADV_GUARD_INSTALL` (Linux 6.13) would let guard pages live in page
//! tables instead of mappings, but a restored range comes back as its own
//! mapping anyway (see [`restore_into`]), so it would save nothing here.
//!
//! # The fault protocol
//!
//! Each range has a [`RangeInfo`]: its owner (the task whose coroutine
//! lives in it, if one does) and whether it is evicted. The fault handler
//! ([`crate::overflow`]) calls [`classify_fault`] for any `SIGSEGV`. A
//! fault in the stack part of an evicted range is reported and aborts the
//! process; the handler then reads the owner's name, so the owner must not
//! finish meanwhile. A handler announces itself in [`REPORTERS`] before it
//! reads `evicted`, and a worker that restores a range clears `evicted`
//! before it reads `REPORTERS` (both sequentially consistent, Dekker's
//! pattern): if the handler saw the range evicted, the worker sees the
//! handler and waits for it (forever: the handler aborts) before it lets the
//! owner run.

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::GUARD_SIZE;
use crate::task::Slot;

/// Address space reserved per region when stacks are small: 1 GiB holds
/// about 4,000 default stacks and costs no memory.
const REGION_BYTES: usize = 1 << 30;
/// Ranges per region at least, for stacks so large that `REGION_BYTES`
/// would hold only a few.
const MIN_RANGES_PER_REGION: usize = 4;
/// Most regions a process may reserve. 8,192 regions of 1 GiB is 8 TiB of
/// address space, about two million default stacks.
const MAX_REGIONS: usize = 8192;

/// How every stack mapping is made. `MAP_STACK` also keeps transparent huge
/// pages away (Linux 6.7 and later), so a stack costs only the pages it
/// touches. Every mapping of a region has the same flags, so neighbouring
/// inaccessible parts merge.
const MAP_FLAGS: libc::c_int =
    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK;

/// What the fault handler knows about one range.
#[derive(Debug)]
pub(crate) struct RangeInfo {
    /// The task whose coroutine's range this is, or null while it is free.
    owner: AtomicPtr<Slot>,
    /// Set before the range stops being writable for eviction, cleared
    /// after it is accessible again with its frames back.
    evicted: AtomicBool,
}

impl RangeInfo {
    const fn new() -> RangeInfo {
        RangeInfo {
            owner: AtomicPtr::new(ptr::null_mut()),
            evicted: AtomicBool::new(false),
        }
    }

    pub(crate) fn set_owner(&self, owner: *const Slot) {
        self.owner.store(owner.cast_mut(), Ordering::Release);
    }

    pub(crate) fn set_evicted(&self) {
        self.evicted.store(true, Ordering::SeqCst);
    }

    /// Clears the evicted mark, then waits out any fault handler that may
    /// have seen it set (see the module docs). Only the owner's worker calls
    /// this, after the range holds the frames again.
    pub(crate) fn clear_evicted(&self) {
        self.evicted.store(false, Ordering::SeqCst);
        while REPORTERS.load(Ordering::SeqCst) != 0 {
            // A handler is deciding, or reporting and about to abort.
            std::thread::yield_now();
        }
    }
}

/// One registry entry. Written once, under `REGISTRY_LOCK`, before
/// `REGION_COUNT` publishes it; immutable afterwards.
struct RegionEntry {
    base: AtomicUsize,
    len: AtomicUsize,
    range_len: AtomicUsize,
    infos: AtomicPtr<RangeInfo>,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_ENTRY: RegionEntry = RegionEntry {
    base: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    range_len: AtomicUsize::new(0),
    infos: AtomicPtr::new(ptr::null_mut()),
};

static REGIONS: [RegionEntry; MAX_REGIONS] = [EMPTY_ENTRY; MAX_REGIONS];
/// Entries of `REGIONS` in use; a `Release` store publishes a new one.
static REGION_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Fault handlers between reading a range's `evicted` mark and deciding.
static REPORTERS: AtomicUsize = AtomicUsize::new(0);
/// Regions no pool holds, by index into `REGIONS`; also serializes adding
/// entries.
static SPARE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// A region held by one pool's size class.
#[derive(Debug)]
pub(crate) struct Region {
    index: usize,
    base: usize,
    range_len: usize,
    ranges: usize,
    infos: &'static [RangeInfo],
}

/// One range: where it starts (its guard page) and its info.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Range {
    pub(crate) base: usize,
    pub(crate) info: &'static RangeInfo,
}

impl Region {
    /// A region of ranges of `range_len` bytes: a spare one, or a new
    /// reservation.
    pub(crate) fn acquire(range_len: usize) -> io::Result<Region> {
        let mut spare = SPARE.lock();
        if let Some(pos) = spare
            .iter()
            .position(|&i| REGIONS[i].range_len.load(Ordering::Relaxed) == range_len)
        {
            return Ok(Region::from_entry(spare.swap_remove(pos)));
        }
        let count = REGION_COUNT.load(Ordering::Relaxed);
        if count == MAX_REGIONS {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("coro: all {MAX_REGIONS} stack regions are in use"),
            ));
        }
        let ranges = (REGION_BYTES / range_len).max(MIN_RANGES_PER_REGION);
        let len = ranges * range_len;
        // SAFETY: an anonymous mapping at an address of the kernel's choosing
        // touches no existing memory.
        let base = unsafe { libc::mmap(ptr::null_mut(), len, libc::PROT_NONE, MAP_FLAGS, -1, 0) };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let infos: Box<[RangeInfo]> = (0..ranges).map(|_| RangeInfo::new()).collect();
        let entry = &REGIONS[count];
        entry.base.store(base as usize, Ordering::Relaxed);
        entry.len.store(len, Ordering::Relaxed);
        entry.range_len.store(range_len, Ordering::Relaxed);
        entry
            .infos
            .store(Box::leak(infos).as_mut_ptr(), Ordering::Relaxed);
        REGION_COUNT.store(count + 1, Ordering::Release);
        Ok(Region::from_entry(count))
    }

    fn from_entry(index: usize) -> Region {
        let e = &REGIONS[index];
        let range_len = e.range_len.load(Ordering::Relaxed);
        let ranges = e.len.load(Ordering::Relaxed) / range_len;
        // SAFETY: `infos` points at a leaked slice of `ranges` entries,
        // written before the entry was published (we hold `SPARE` or the
        // entry came from `acquire`, which synchronizes with its writer).
        let infos = unsafe { std::slice::from_raw_parts(e.infos.load(Ordering::Relaxed), ranges) };
        Region {
            index,
            base: e.base.load(Ordering::Relaxed),
            range_len,
            ranges,
            infos,
        }
    }

    /// Ranges the region holds.
    pub(crate) fn ranges(&self) -> usize {
        self.ranges
    }

    /// Range `i` of the region (inaccessible until made accessible).
    pub(crate) fn range(&self, i: usize) -> Range {
        Range {
            base: self.base + i * self.range_len,
            info: &self.infos[i],
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // The pool goes only when none of its coroutines is alive, so no
        // range has an owner; release every page and hand the region on.
        // SAFETY: the region is ours and nothing runs on any of its ranges.
        let r = unsafe { map_none(self.base, self.ranges * self.range_len) };
        if let Err(e) = r {
            fatal(format_args!("coro: cannot release a stack region: {e}"));
        }
        for info in self.infos {
            info.owner.store(ptr::null_mut(), Ordering::Relaxed);
            info.evicted.store(false, Ordering::Relaxed);
        }
        SPARE.lock().push(self.index);
    }
}

/// Replaces `len` bytes at `addr` with a fresh inaccessible mapping.
///
/// # Safety
/// `addr..addr + len` must lie in a region and hold nothing anyone still
/// needs.
unsafe fn map_none(addr: usize, len: usize) -> io::Result<()> {
    // SAFETY: forwarded to the caller: the range is ours to replace.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            MAP_FLAGS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn protect(addr: usize, len: usize, prot: libc::c_int) -> io::Result<()> {
    // SAFETY: changing the protection of part of a region we own; callers
    // only make a range readable or writable for its owner, or read-only.
    if unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) } != 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Makes the stack part of an unowned inaccessible range read-write.
pub(crate) fn make_accessible(range: Range, range_len: usize) -> io::Result<()> {
    protect(
        range.base + GUARD_SIZE,
        range_len - GUARD_SIZE,
        libc::PROT_READ | libc::PROT_WRITE,
    )
}

/// Makes the stack part of a range read-only, so that no write can land
/// while its owner's frames are being copied out.
pub(crate) fn make_read_only(range: Range, range_len: usize) -> io::Result<()> {
    protect(
        range.base + GUARD_SIZE,
        range_len - GUARD_SIZE,
        libc::PROT_READ,
    )
}

/// Releases the pages of a range's stack part and makes it inaccessible.
///
/// # Safety
/// Nothing in the range's stack part may be needed any more: its owner's
/// frames have been copied out, or it has no owner.
pub(crate) unsafe fn make_inaccessible(range: Range, range_len: usize) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    unsafe { map_none(range.base + GUARD_SIZE, range_len - GUARD_SIZE) }
}

/// Puts `bytes` back at `low` in an inaccessible range and makes its stack
/// part read-write, in one atomic step: the bytes are written into a fresh
/// mapping elsewhere, which `mremap` then moves over the stack part. A
/// foreign access faults right up to the move and sees the frames after
/// it; it never sees the range half-restored.
pub(crate) fn restore_into(
    range: Range,
    range_len: usize,
    low: usize,
    bytes: &[u8],
) -> io::Result<()> {
    let stack = range.base + GUARD_SIZE;
    let len = range_len - GUARD_SIZE;
    debug_assert!(low >= stack && low + bytes.len() <= stack + len);
    // SAFETY: a fresh mapping at an address of the kernel's choosing.
    let staging = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            MAP_FLAGS,
            -1,
            0,
        )
    };
    if staging == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `low - stack + bytes.len() <= len`, so the destination lies
    // in the staging mapping we just made and nobody else knows of.
    unsafe {
        ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            staging.cast::<u8>().add(low - stack),
            bytes.len(),
        );
    }
    // SAFETY: moves the whole staging mapping over the stack part of a
    // range of ours whose contents are not needed (it is inaccessible and
    // empty); the two do not overlap.
    let moved = unsafe {
        libc::mremap(
            staging,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            stack as *mut libc::c_void,
        )
    };
    if moved == libc::MAP_FAILED {
        let err = io::Error::last_os_error();
        // SAFETY: unmapping the staging mapping, which nobody uses.
        unsafe { libc::munmap(staging, len) };
        return Err(err);
    }
    Ok(())
}

/// What a fault at some address means to us.
#[derive(Debug)]
pub(crate) enum Fault {
    /// In the stack of a coroutine whose stack is evicted: report and abort.
    /// The owner cannot run (hence cannot finish) until the process is gone.
    Evicted(*const Slot),
    /// In a live coroutine's stack that is accessible again (a restore won
    /// the race): running the access again succeeds.
    Retry,
    /// Not in a stack we know as evicted.
    Other,
}

/// Classifies a fault at `addr`. Async-signal-safe: it reads atomics only.
pub(crate) fn classify_fault(addr: usize) -> Fault {
    let count = REGION_COUNT.load(Ordering::Acquire);
    for entry in &REGIONS[..count] {
        let base = entry.base.load(Ordering::Relaxed);
        let len = entry.len.load(Ordering::Relaxed);
        if addr < base || addr >= base + len {
            continue;
        }
        let range_len = entry.range_len.load(Ordering::Relaxed);
        let (index, offset) = ((addr - base) / range_len, (addr - base) % range_len);
        if offset < GUARD_SIZE {
            return Fault::Other;
        }
        // SAFETY: published entries point at `len / range_len` infos that
        // are never freed.
        let info = unsafe { &*entry.infos.load(Ordering::Relaxed).add(index) };
        REPORTERS.fetch_add(1, Ordering::SeqCst);
        if info.evicted.load(Ordering::SeqCst) {
            // Stays counted: the caller aborts.
            return Fault::Evicted(info.owner.load(Ordering::Acquire));
        }
        let live = !info.owner.load(Ordering::Acquire).is_null();
        REPORTERS.fetch_sub(1, Ordering::SeqCst);
        return if live { Fault::Retry } else { Fault::Other };
    }
    Fault::Other
}

/// Writes `msg` to stderr and aborts: for failures of the system calls that
/// move a suspended coroutine's frames, which leave nothing to fall back
/// on.
pub(crate) fn fatal(msg: std::fmt::Arguments<'_>) -> ! {
    eprintln!("{msg}");
    std::process::abort()
}
