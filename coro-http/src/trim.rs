//! Giving memory back to the kernel after many connections have closed.
//!
//! A connection's buffers, the frames of its coroutine evicted to the heap
//! (see coro's `stack` module) and its registry entry are all freed when it
//! closes, and coro already gives a finished coroutine's stack pages back
//! beyond a small warm reserve. But the heap does not shrink by itself:
//! glibc's malloc keeps freed memory in its arenas (one per thread that
//! allocates, so one per worker here) and returns it only from the top of
//! the main heap. Measured with `benches/abuse.py soak` (10,000 keep-alive
//! connections on two workers): 10 s after every connection had closed the
//! server still held 85 MB, 80 of them free chunks in the two workers'
//! arenas; `malloc_trim(0)` brought it to 17 MB, and the next round of load
//! was no slower (the pages come back as ordinary page faults).
//!
//! So the idle sweep (`server::sweep_idle`) tells a [`Trimmer`] how many
//! connections are open each time it looks, and the trimmer asks malloc to
//! return its free pages ([`malloc_trim`]) once the count has fallen by
//! [`TRIM_AFTER_CLOSED`] from its highest since the last trim, at most once
//! per [`TRIM_INTERVAL`]. A steady load, or a steady churn of connections,
//! never trims; a burst that ends trims once, within a sweep period of
//! the last close. The trim walks every arena's free chunks under its lock
//! and `madvise`s their whole pages away; it runs on a blocking-pool thread
//! ([`coro::spawn_blocking`]), so no worker waits for it.
//!
//! Other allocators (musl's, or a `#[global_allocator]` such as jemalloc or
//! mimalloc) return memory on their own terms; there the trim does nothing.

use std::time::{Duration, Instant};

/// How far the number of open connections must fall from its peak before
/// the heap is trimmed: at about 5 KiB of buffers per connection, a few MiB
/// worth returning, and far more than the jitter of a steady load.
pub(crate) const TRIM_AFTER_CLOSED: usize = 1024;

/// Least time between two trims: a trim costs a walk of the free chunks
/// and page faults afterwards, so a server whose connection count swings
/// does not pay it more than once a second.
pub(crate) const TRIM_INTERVAL: Duration = Duration::from_secs(1);

/// Free bytes malloc may keep at the top of its main heap when trimming:
/// a small reserve for the next allocations.
const TRIM_PAD: usize = 1 << 20;

/// When to trim, from the open-connection counts the idle sweep sees.
#[derive(Debug)]
pub(crate) struct Trimmer {
    /// Most connections open at once since the last trim.
    peak: usize,
    last: Option<Instant>,
}

impl Trimmer {
    pub(crate) fn new() -> Trimmer {
        Trimmer {
            peak: 0,
            last: None,
        }
    }

    /// Notes that `open` connections are open at `now`; true if the heap
    /// should be trimmed now (and the count starts over from `open`).
    pub(crate) fn note(&mut self, open: usize, now: Instant) -> bool {
        self.peak = self.peak.max(open);
        let recent = self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) < TRIM_INTERVAL);
        if self.peak - open < TRIM_AFTER_CLOSED || recent {
            return false;
        }
        self.peak = open;
        self.last = Some(now);
        true
    }
}

/// Returns the allocator's free pages to the kernel, on a blocking-pool
/// thread; does nothing where the allocator is not glibc's.
pub(crate) fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        drop(coro::spawn_blocking(|| {
            let started = Instant::now();
            // SAFETY: malloc_trim only reorganizes the allocator's own free
            // memory, under its arena locks; it may be called at any time
            // from any thread.
            let released = unsafe { libc::malloc_trim(TRIM_PAD) };
            log::debug!(
                "malloc_trim: {} in {:?}",
                if released == 1 {
                    "memory returned"
                } else {
                    "nothing to return"
                },
                started.elapsed()
            );
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_count_never_trims_and_a_fall_trims_once() {
        let mut t = Trimmer::new();
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        assert!(!t.note(10_000, at(0)));
        assert!(!t.note(10_000 - TRIM_AFTER_CLOSED + 1, at(1)), "jitter");
        assert!(t.note(10_000 - TRIM_AFTER_CLOSED, at(2)), "a fall");
        assert!(!t.note(0, at(2)), "not twice within the interval");
        assert!(t.note(0, at(4)), "the rest of the fall, later");
        assert!(!t.note(0, at(10)), "nothing more closed");
    }

    #[test]
    fn a_churn_below_the_threshold_never_trims() {
        let mut t = Trimmer::new();
        let start = Instant::now();
        for s in 0..100 {
            let open = 2_000 + (s % 2) * (TRIM_AFTER_CLOSED - 1);
            assert!(!t.note(open, start + Duration::from_secs(s as u64)));
        }
    }
}
