//! A socket's read or write timeout, as `std` sets and reports them.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// An optional duration in an atomic: 0 is none, else nanoseconds + 1.
#[derive(Debug, Default)]
pub(crate) struct Timeout(AtomicU64);

impl Timeout {
    /// Sets it, rejecting a zero duration as `std` does.
    pub(crate) fn set(&self, timeout: Option<Duration>) -> io::Result<()> {
        let raw = match timeout {
            None => 0,
            Some(d) if d.is_zero() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "cannot set a 0 duration timeout",
                ))
            }
            Some(d) => u64::try_from(d.as_nanos()).unwrap_or(u64::MAX - 1) + 1,
        };
        self.0.store(raw, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n - 1)),
        }
    }

    /// The deadline for an operation starting now.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.get().and_then(|d| Instant::now().checked_add(d))
    }
}
