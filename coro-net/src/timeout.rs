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

    /// The deadline of an operation starting now, read from the clock only
    /// if the operation has to wait (see [`Deadline`]).
    pub(crate) fn deadline(&self) -> Deadline {
        match self.get() {
            None => Deadline::Never,
            Some(d) => Deadline::After(d),
        }
    }
}

/// When a socket operation gives up waiting.
///
/// A timeout becomes an instant only when the operation first has to wait:
/// most operations complete at once, and reading the clock for them would
/// cost more than the system call's share of a small request. The timeout
/// so runs from the first wait rather than the call: later by one attempt
/// of the operation, and by a turn of the scheduler when the coroutine's
/// budget made it yield first. `std` measures `SO_RCVTIMEO` from the block
/// as well.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Deadline {
    /// Wait as long as it takes.
    Never,
    /// Give up at this instant.
    At(Instant),
    /// Give up this long after the first wait starts.
    After(Duration),
}

impl Deadline {
    /// The instant, fixing it from now if it was still a duration.
    pub(crate) fn resolve(&mut self) -> Option<Instant> {
        match *self {
            Deadline::Never => None,
            Deadline::At(at) => Some(at),
            Deadline::After(d) => {
                let at = Instant::now().checked_add(d);
                // Too far to represent is the same as never.
                *self = at.map_or(Deadline::Never, Deadline::At);
                at
            }
        }
    }
}

impl From<Option<Instant>> for Deadline {
    fn from(at: Option<Instant>) -> Deadline {
        at.map_or(Deadline::Never, Deadline::At)
    }
}

/// Implements `set_read_timeout`, `set_write_timeout`, `read_timeout` and
/// `write_timeout`, as `std`'s sockets have them, for a socket type with
/// `read_timeout` and `write_timeout` fields of type [`Timeout`].
macro_rules! impl_timeouts {
    ($ty:ty) => {
        impl $ty {
            /// Sets the read timeout; `None` waits forever.
            ///
            /// # Errors
            /// A zero duration.
            pub fn set_read_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.read_timeout.set(timeout)
            }

            /// Sets the write timeout; `None` waits forever.
            ///
            /// # Errors
            /// A zero duration.
            pub fn set_write_timeout(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> std::io::Result<()> {
                self.write_timeout.set(timeout)
            }

            /// The read timeout.
            ///
            /// # Errors
            /// Never; `io::Result` as in `std`.
            pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.read_timeout.get())
            }

            /// The write timeout.
            ///
            /// # Errors
            /// Never; `io::Result` as in `std`.
            pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
                Ok(self.write_timeout.get())
            }
        }
    };
}

pub(crate) use impl_timeouts;

/// Nanoseconds in a millisecond.
const NANOS_PER_MILLI: u32 = 1_000_000;

/// `d` in whole milliseconds, rounded *up* and capped at `c_int::MAX`: the
/// timeout of `poll(2)` and `epoll_wait(2)`, which must not end a wait
/// before its deadline (or a timer) is due.
pub(crate) fn millis_rounded_up(d: Duration) -> libc::c_int {
    d.as_millis()
        .saturating_add(u128::from(d.subsec_nanos() % NANOS_PER_MILLI != 0))
        .min(libc::c_int::MAX as u128) as libc::c_int
}
