//! Sleeping without holding a thread.
//!
//! A coroutine that sleeps registers a timer on its home worker's timers
//! (`scheduler::timers`) and parks; the worker fires it when due (between coroutine
//! runs, or by parking its thread with the deadline as timeout when idle).
//! Outside a coroutine, these functions sleep the calling thread.

use std::time::{Duration, Instant};

use crate::wait::park_until;

/// Puts the current coroutine to sleep for at least `duration`.
///
/// Other coroutines run on the worker meanwhile. A zero duration yields, as
/// [`yield_now`](crate::yield_now) does. Called outside a coroutine, sleeps
/// the thread.
pub fn sleep(duration: Duration) {
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        // Practically forever.
        None => loop {
            sleep_until(Instant::now() + Duration::from_secs(86_400 * 365));
        },
    }
}

/// Puts the current coroutine to sleep until `deadline`.
///
/// A deadline in the past yields. Called outside a coroutine, sleeps the
/// thread.
pub fn sleep_until(deadline: Instant) {
    if !crate::scheduler::in_coroutine() {
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        }
        return;
    }
    if deadline <= Instant::now() {
        crate::yield_now();
        return;
    }
    // A coroutine is woken early only by a stale wake; wait again then.
    while Instant::now() < deadline {
        park_until(deadline);
    }
}
