//! The `Range` field (RFC 9110 §14.1.2), for one range of bytes.
//!
//! `bytes=<first>-<last>`, `bytes=<first>-` and `bytes=-<suffix length>`
//! are served as one 206 with `Content-Range`; a `last` past the end is cut
//! to the end (§14.1.2). A range that starts at or past the end, or a
//! suffix of length 0 (or any range of an empty file), overlaps nothing:
//! 416 with `Content-Range: bytes */<length>` (§15.5.17).
//!
//! A field the server may ignore (§14.2) is ignored, and the whole file
//! sent with 200: another unit than `bytes`, a syntax error (a `last`
//! before its `first`, a sign, a number too large), and a list of more
//! than one range. Several ranges would be a `multipart/byteranges` body;
//! clients rarely ask for one, and nginx and Go both answer some lists
//! whole as well.

/// What the `Range` field asks of a file of some length.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ranged {
    /// The whole file, with 200.
    Whole,
    /// Bytes `start..=end`, with 206.
    Part { start: u64, end: u64 },
    /// Nothing the file holds: 416.
    Unsatisfiable,
}

/// Reads the `Range` field `value` for a file of `len` bytes.
pub(crate) fn parse(value: &str, len: u64) -> Ranged {
    let Some((unit, set)) = value.split_once('=') else {
        return Ranged::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Whole;
    }
    // A list may have empty elements (`bytes=0-1,`): §5.6.1.
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Ranged::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Ranged::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Some(suffix) = number(last) else {
            return Ranged::Whole;
        };
        if suffix == 0 || len == 0 {
            return Ranged::Unsatisfiable;
        }
        return Ranged::Part {
            start: len - suffix.min(len),
            end: len - 1,
        };
    }
    let Some(start) = number(first) else {
        return Ranged::Whole;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return Ranged::Whole,
        }
    };
    if start >= len {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part {
        start,
        end: end.min(len - 1),
    }
}

/// 1*DIGIT as a `u64` (`str::parse` would also take a `+`).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> Ranged {
        Ranged::Part { start, end }
    }

    #[test]
    fn one_range_in_each_form() {
        assert_eq!(parse("bytes=0-99", 1000), part(0, 99));
        assert_eq!(parse("bytes=990-", 1000), part(990, 999));
        assert_eq!(parse("bytes=-10", 1000), part(990, 999));
        assert_eq!(parse("bytes=-5000", 1000), part(0, 999));
        assert_eq!(parse("bytes=900-5000", 1000), part(900, 999));
        assert_eq!(parse("Bytes = 1-1 ,", 1000), part(1, 1));
    }

    #[test]
    fn ranges_past_the_end_are_unsatisfiable() {
        assert_eq!(parse("bytes=1000-", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=1000-2000", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Ranged::Unsatisfiable);
        assert_eq!(parse("bytes=-1", 0), Ranged::Unsatisfiable);
    }

    #[test]
    fn what_may_be_ignored_is_served_whole() {
        for value in [
            "items=0-1",
            "bytes",
            "bytes=",
            "bytes=5",
            "bytes=9-3",
            "bytes=+1-2",
            "bytes=a-b",
            "bytes=--1",
            "bytes=0-1,5-6",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(parse(value, 1000), Ranged::Whole, "{value:?}");
        }
    }
}
