//! Validators and conditional requests (RFC 9110 §8.8 and §13).
//!
//! A file's validators are its `Last-Modified` (the modification time, to
//! the second, as HTTP dates go) and a strong `ETag` made of the
//! modification time to the nanosecond and the length, as nginx makes its
//! own (`"<seconds>.<nanos>-<length>"`, hex): it changes whenever a write
//! changes either, costs no read of the file, and stays the same across
//! servers that serve the same copy. It is strong (no `W/`), so it may
//! guard ranges.
//!
//! The preconditions are evaluated in the order of RFC 9110 §13.2.2:
//!
//! 1. `If-Match`, when present: unless one of its tags matches the
//!    current one by the strong comparison (or it is `*`), 412;
//! 2. otherwise `If-Unmodified-Since`, when a valid date: modified after
//!    it, 412;
//! 3. `If-None-Match`, when present: one of its tags matches by the weak
//!    comparison (or `*`): 304 for `GET` and `HEAD`, 412 for others;
//! 4. otherwise, for `GET` and `HEAD`, `If-Modified-Since`, when a valid
//!    date: not modified after it, 304;
//! 5. `If-Range` (only with a `Range`, in `GET`): the range applies only
//!    if it names the current representation, an entity tag by the strong
//!    comparison or a date equal to `Last-Modified`; otherwise the whole
//!    file is sent (200), as the client asked for in that case.
//!
//! So `If-None-Match` wins over `If-Modified-Since` (a client that sent
//! both gets 200 when the tag changed, even if the date says unmodified).
//! A date that does not parse is ignored, as §13.1.3 and §13.1.4 say; a
//! tag list that does not parse matches nothing.

use std::fmt::Write;
use std::fs::Metadata;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;

use crate::request::Request;

/// Room for an entity tag: quotes, 16 + 8 + 16 hex digits, `.` and `-`.
const ETAG_CAPACITY: usize = 44;

/// A file's validators.
#[derive(Debug)]
pub(crate) struct Validators {
    /// The entity tag, quotes included.
    pub(crate) etag: String,
    /// The modification time, truncated to the second.
    modified: Option<SystemTime>,
}

impl Validators {
    pub(crate) fn of(meta: &Metadata) -> Validators {
        let since_epoch = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let (secs, nanos) = since_epoch.map_or((0, 0), |d| (d.as_secs(), d.subsec_nanos()));
        let mut etag = String::with_capacity(ETAG_CAPACITY);
        // Writing to a String cannot fail.
        let _ = write!(etag, "\"{secs:x}.{nanos:x}-{:x}\"", meta.len());
        Validators {
            etag,
            modified: since_epoch.map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs())),
        }
    }

    /// `Last-Modified`, as an HTTP date.
    pub(crate) fn last_modified(&self) -> Option<String> {
        self.modified.map(httpdate::fmt_http_date)
    }
}

/// What the preconditions say about a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answer it; `range_applies` says whether a `Range` may be honoured
    /// (false when `If-Range` names another representation).
    Proceed { range_applies: bool },
    /// 304.
    NotModified,
    /// 412.
    PreconditionFailed,
}

/// Evaluates `req`'s preconditions against `v` (see the module docs).
pub(crate) fn evaluate(req: &Request<'_>, v: &Validators) -> Outcome {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if let Some(tags) = combined(req, "if-match") {
        if !any_matches(&tags, &v.etag, Comparison::Strong) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(date) = date(req, "if-unmodified-since") {
        if v.modified.is_none_or(|m| m > date) {
            return Outcome::PreconditionFailed;
        }
    }
    if let Some(tags) = combined(req, "if-none-match") {
        if any_matches(&tags, &v.etag, Comparison::Weak) {
            return if safe {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if safe {
        if let (Some(date), Some(modified)) = (date(req, "if-modified-since"), v.modified) {
            if modified <= date {
                return Outcome::NotModified;
            }
        }
    }
    Outcome::Proceed {
        range_applies: if_range_holds(req, v),
    }
}

/// Whether `If-Range`, if sent, names the current representation.
fn if_range_holds(req: &Request<'_>, v: &Validators) -> bool {
    let Some(value) = req.header("if-range") else {
        return true;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return any_matches(value, &v.etag, Comparison::Strong);
    }
    match (httpdate::parse_http_date(value), v.modified) {
        (Ok(date), Some(modified)) => date == modified,
        _ => false,
    }
}

/// Every value of the field `name`, joined by commas as one list (RFC 9110
/// §5.3), or `None` if it is absent.
fn combined(req: &Request<'_>, name: &str) -> Option<String> {
    let mut out: Option<String> = None;
    for (n, value) in req.headers() {
        if n.eq_ignore_ascii_case(name) {
            let value = String::from_utf8_lossy(value);
            match &mut out {
                None => out = Some(value.into_owned()),
                Some(all) => {
                    all.push(',');
                    all.push_str(&value);
                }
            }
        }
    }
    out
}

/// The field `name` as an HTTP date, if it is one.
fn date(req: &Request<'_>, name: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(req.header(name)?.trim()).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    /// Both tags strong and equal (§8.8.3.2).
    Strong,
    /// Equal once any `W/` is set aside.
    Weak,
}

/// Whether `list` (`*` or entity tags separated by commas) holds a tag that
/// matches `current` (a strong tag, quotes included). A list that does not
/// parse matches nothing.
fn any_matches(list: &str, current: &str, how: Comparison) -> bool {
    if list.trim() == "*" {
        return true;
    }
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return false;
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        // An entity tag: DQUOTE *etagc DQUOTE, and etagc holds no quote.
        let Some(body) = rest.strip_prefix('"') else {
            return false;
        };
        let Some(end) = body.find('"') else {
            return false;
        };
        let tag = &rest[..end + 2];
        if tag == current && !(weak && how == Comparison::Strong) {
            return true;
        }
        rest = &rest[end + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_lists_match_by_the_comparison_asked_for() {
        let cur = "\"5f.0-10\"";
        assert!(any_matches("\"5f.0-10\"", cur, Comparison::Strong));
        assert!(any_matches("\"x\", \"5f.0-10\"", cur, Comparison::Strong));
        assert!(any_matches("*", cur, Comparison::Strong));
        assert!(any_matches("W/\"5f.0-10\"", cur, Comparison::Weak));
        assert!(!any_matches("W/\"5f.0-10\"", cur, Comparison::Strong));
        assert!(!any_matches("\"5f.0-11\"", cur, Comparison::Weak));
        assert!(!any_matches("5f.0-10", cur, Comparison::Weak), "unquoted");
        assert!(!any_matches("\"5f.0-10", cur, Comparison::Weak), "unclosed");
        assert!(!any_matches("", cur, Comparison::Weak));
    }
}
