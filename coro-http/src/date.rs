//! The `Date` header, formatted at most once a second per worker.
//!
//! Each worker thread keeps the last formatted value and the second it was
//! made for; a response compares the clock's second with it and formats
//! anew only when the second has changed. The cache is a thread-local, and
//! no borrow of it is held across a suspension point (see the coro crate's
//! rules for thread-locals).

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `Date: ` + an IMF-fixdate (29 bytes) + CRLF.
const LINE_LEN: usize = 6 + 29 + 2;

struct Cached {
    second: u64,
    line: [u8; LINE_LEN],
}

thread_local! {
    static CACHE: RefCell<Cached> = const {
        RefCell::new(Cached { second: u64::MAX, line: [0; LINE_LEN] })
    };
}

/// Appends the `Date` header line, CRLF included, to `out`.
pub(crate) fn append_date_line(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.second != second {
            let date = httpdate::fmt_http_date(now);
            let mut line = [0; LINE_LEN];
            line[..6].copy_from_slice(b"Date: ");
            line[6..6 + 29].copy_from_slice(&date.as_bytes()[..29]);
            line[35..].copy_from_slice(b"\r\n");
            cache.line = line;
            cache.second = second;
        }
        out.extend_from_slice(&cache.line);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_line_is_an_imf_fixdate_of_now() {
        let mut out = Vec::new();
        append_date_line(&mut out);
        let line = std::str::from_utf8(&out).unwrap();
        assert!(
            line.starts_with("Date: ") && line.ends_with(" GMT\r\n"),
            "{line:?}"
        );
        let when = httpdate::parse_http_date(&line[6..line.len() - 2]).unwrap();
        let age = SystemTime::now().duration_since(when).unwrap();
        assert!(age.as_secs() < 5, "the date is {age:?} old");
    }
}
