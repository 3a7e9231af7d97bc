//! The `Date` header, formatted at most once a second per worker.
//!
//! Each worker thread keeps the last formatted value and the start of the
//! next second; a response compares the clock with that (a comparison,
//! where taking the second out of the clock's reading is a division) and
//! formats anew only once the second has passed. The cache is a thread-local, and
//! no borrow of it is held across a suspension point (see the coro crate's
//! rules for thread-locals).
//!
//! The clock is Linux's coarse real-time clock (`CLOCK_REALTIME_COARSE`),
//! which the vDSO reads without the time stamp counter: 6 ns a reading on
//! the project's VM against 28 for `SystemTime::now`, once per response,
//! which is 3% of a pipelined request's CPU. It lags the fine clock by at
//! most one tick (4 ms there), so a date may turn to the next second that
//! much late: well within the date's own resolution of a second (RFC 9110
//! §6.6.1 asks for the best available approximation).

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `Date: ` + an IMF-fixdate (29 bytes) + CRLF.
const LINE_LEN: usize = 6 + 29 + 2;

struct Cached {
    /// The second the line is for: from this instant (included) to
    /// `until` (excluded); both `UNIX_EPOCH` before the first line.
    from: SystemTime,
    until: SystemTime,
    line: [u8; LINE_LEN],
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { from: UNIX_EPOCH, until: UNIX_EPOCH, line: [0; LINE_LEN] })
    };
}

/// Appends the `Date` header line for `now` (a [`coarse_now`] reading),
/// CRLF included, to `out`. Returns the second the line stands for, from
/// its start (included) to its end (excluded).
pub(crate) fn append_date_line(out: &mut Vec<u8>, now: SystemTime) -> (SystemTime, SystemTime) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        cache.refresh(now);
        out.extend_from_slice(&cache.line);
        (cache.from, cache.until)
    })
}

/// The coarse real-time clock's reading (see the module docs); the fine
/// clock's where the coarse one is not available.
pub(crate) fn coarse_now() -> SystemTime {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec`, which `ts` is, and
    // keeps no pointer to it.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return SystemTime::now();
    }
    match (u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
        (Ok(secs), Ok(nanos)) => UNIX_EPOCH + Duration::new(secs, nanos),
        // Before 1970: not a clock a server runs on; the fine one decides.
        _ => SystemTime::now(),
    }
}

impl Cached {
    /// Makes the line for `now` unless it is in the cached second. Outside
    /// it either way: a clock set back gets its own date at once too.
    fn refresh(&mut self, now: SystemTime) {
        if self.from <= now && now < self.until {
            return;
        }
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let date = httpdate::fmt_http_date(now);
        self.line[..6].copy_from_slice(b"Date: ");
        self.line[6..6 + 29].copy_from_slice(&date.as_bytes()[..29]);
        self.line[35..].copy_from_slice(b"\r\n");
        self.from = UNIX_EPOCH + Duration::from_secs(second);
        self.until = self.from + Duration::from_secs(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_changes_with_the_second_forward_and_back() {
        let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_millis(s * 1000 + ms);
        let mut cache = Cached {
            from: UNIX_EPOCH,
            until: UNIX_EPOCH,
            line: [0; LINE_LEN],
        };
        let date = |c: &Cached| String::from_utf8(c.line.to_vec()).unwrap();
        cache.refresh(at(1_000_000_000, 0));
        assert_eq!(date(&cache), "Date: Sun, 09 Sep 2001 01:46:40 GMT\r\n");
        cache.refresh(at(1_000_000_000, 999));
        assert_eq!(date(&cache), "Date: Sun, 09 Sep 2001 01:46:40 GMT\r\n");
        cache.refresh(at(1_000_000_001, 0));
        assert_eq!(date(&cache), "Date: Sun, 09 Sep 2001 01:46:41 GMT\r\n");
        // The clock set back an hour: its own date, not the cached one.
        cache.refresh(at(1_000_000_001 - 3600, 500));
        assert_eq!(date(&cache), "Date: Sun, 09 Sep 2001 00:46:41 GMT\r\n");
    }

    #[test]
    fn the_coarse_clock_is_within_a_tick_of_the_fine_one() {
        let before = SystemTime::now();
        let coarse = coarse_now();
        let after = SystemTime::now();
        // Behind by at most a tick (a few ms), never ahead of a later reading.
        assert!(coarse <= after, "{coarse:?} is after {after:?}");
        let lag = before.duration_since(coarse).unwrap_or(Duration::ZERO);
        assert!(
            lag < Duration::from_millis(100),
            "the coarse clock lags {lag:?}"
        );
    }

    #[test]
    fn the_date_line_is_an_imf_fixdate_of_now() {
        let mut out = Vec::new();
        let now = coarse_now();
        let (from, until) = append_date_line(&mut out, now);
        assert!(from <= now && now < until && until == from + Duration::from_secs(1));
        let line = std::str::from_utf8(&out).unwrap();
        assert!(
            line.starts_with("Date: ") && line.ends_with(" GMT\r\n"),
            "{line:?}"
        );
        let when = httpdate::parse_http_date(&line[6..line.len() - 2]).unwrap();
        assert_eq!(when, from, "the line is the date of its second");
        let age = SystemTime::now().duration_since(when).unwrap();
        assert!(age.as_secs() < 5, "the date is {age:?} old");
    }
}
