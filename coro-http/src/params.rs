//! Path parameters: what a route's `{name}` and `{*name}` captured,
//! percent-decoded (RFC 3986 §2.1).
//!
//! A value is kept as a range, and most values need nothing more: one
//! without a `%` is a range into the head's bytes, with no copy and no
//! allocation. Only a value with a `%` is decoded, into one buffer shared
//! by the request's parameters, which the connection reuses from request
//! to request along with the list itself.
//!
//! Decoding is strict, as axum's `Path` is: a `%` not followed by two hex
//! digits, or decoded bytes that are not UTF-8, make the value an error,
//! and the router answers 400 before the handler runs (see `router`). A
//! `+` stays a `+`: it means a space only in form-encoded queries
//! (`application/x-www-form-urlencoded`), never in a path.
//!
//! The path itself (`Request::path`) stays as sent, and routing matches
//! it as sent: decoding first would turn `%2F` into a separator and change
//! which route matches. So `/files/{name}` binds `a%2Fb` as `a/b`.

use std::ops::Range;
use std::sync::Arc;

use percent_encoding::percent_decode;

use crate::error::Error;

/// A request's path parameters, in the order of its route's pattern.
#[derive(Debug, Default)]
pub(crate) struct Params {
    /// Each parameter's name and where its value lies.
    values: Vec<(Arc<str>, Value)>,
    /// The decoded values of the parameters that had a `%`, one after
    /// another; each was checked to be UTF-8 when it was decoded.
    decoded: Vec<u8>,
}

/// Where a parameter's value lies.
#[derive(Debug, Clone)]
enum Value {
    /// In the head's bytes, as sent (it has no `%`).
    Sent(Range<usize>),
    /// In [`Params::decoded`]; `sent` is where the value as sent lies in
    /// the head's bytes.
    Decoded {
        decoded: Range<usize>,
        sent: Range<usize>,
    },
}

impl Params {
    /// Forgets every parameter, keeping the memory for the next request.
    pub(crate) fn clear(&mut self) {
        self.values.clear();
        self.decoded.clear();
    }

    /// Binds `name` to the value `sent`, which lies at `at` in the head's
    /// bytes, decoding it if it has a `%`.
    ///
    /// # Errors
    /// [`Error::BadRequest`] for a malformed escape or a value that is not
    /// UTF-8 once decoded; nothing is bound then.
    pub(crate) fn bind(&mut self, name: &Arc<str>, sent: &str, at: usize) -> Result<(), Error> {
        let bytes = sent.as_bytes();
        let value = if memchr::memchr(b'%', bytes).is_none() {
            Value::Sent(at..at + bytes.len())
        } else {
            Value::Decoded {
                decoded: self.decode(bytes)?,
                sent: at..at + bytes.len(),
            }
        };
        self.values.push((Arc::clone(name), value));
        Ok(())
    }

    /// Appends `sent`, percent-decoded, to the buffer and returns where it
    /// lies there.
    fn decode(&mut self, sent: &[u8]) -> Result<Range<usize>, Error> {
        if !escapes_are_well_formed(sent) {
            return Err(Error::BadRequest(
                "a path parameter has a % not followed by two hex digits",
            ));
        }
        let start = self.decoded.len();
        self.decoded.extend(percent_decode(sent));
        if std::str::from_utf8(&self.decoded[start..]).is_err() {
            self.decoded.truncate(start);
            return Err(Error::BadRequest(
                "a path parameter is not UTF-8 once percent-decoded",
            ));
        }
        Ok(start..self.decoded.len())
    }

    /// The value of `name`; `head` is the bytes of the request's head.
    pub(crate) fn get<'a>(&'a self, name: &str, head: &'a [u8]) -> Option<&'a str> {
        self.values
            .iter()
            .find(|(n, _)| **n == *name)
            .map(|(_, v)| self.text(v, head))
    }

    /// Every parameter, as name and value; `head` as for [`get`](Self::get).
    pub(crate) fn iter<'a>(&'a self, head: &'a [u8]) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.values
            .iter()
            .map(move |(n, v)| (&**n, self.text(v, head)))
    }

    /// The last parameter as sent, not decoded (for `fs`, which decodes a
    /// catch-all path itself, one segment at a time, so that an encoded
    /// `/` is told apart from a separator).
    pub(crate) fn last_as_sent<'a>(&self, head: &'a [u8]) -> Option<&'a str> {
        let sent = match &self.values.last()?.1 {
            Value::Sent(r) | Value::Decoded { sent: r, .. } => r.clone(),
        };
        // A piece of the path, which is UTF-8 (see `text`).
        std::str::from_utf8(&head[sent]).ok()
    }

    fn text<'a>(&'a self, value: &Value, head: &'a [u8]) -> &'a str {
        let bytes = match value {
            Value::Sent(r) => &head[r.clone()],
            Value::Decoded { decoded, .. } => &self.decoded[decoded.clone()],
        };
        // A sent value is a piece of the path that matchit cut at `/`, and
        // the router only sees a path that is UTF-8 (httparse lets bytes
        // past 0x7F into a target), so the piece is UTF-8 too; a decoded
        // one was checked when it was decoded.
        std::str::from_utf8(bytes).unwrap_or("")
    }
}

/// Whether every `%` in `sent` starts an escape: `%` and two hex digits.
/// (`percent_decode` would pass a malformed one through as it is.)
fn escapes_are_well_formed(sent: &[u8]) -> bool {
    memchr::memchr_iter(b'%', sent).all(|at| {
        matches!(sent.get(at + 1..at + 3), Some([hi, lo])
            if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Binds `sent` as the only value of a head that is just `sent`.
    fn bound(sent: &str) -> Result<(String, bool), Error> {
        let mut params = Params::default();
        params.bind(&Arc::from("p"), sent, 0)?;
        let value = params.get("p", sent.as_bytes()).unwrap().to_string();
        Ok((value, params.decoded.is_empty()))
    }

    #[test]
    fn a_value_without_a_percent_is_the_sent_bytes() {
        assert_eq!(bound("plain+text").unwrap(), ("plain+text".into(), true));
    }

    #[test]
    fn escapes_decode_in_either_case() {
        assert_eq!(bound("J%C3%BCrgen").unwrap().0, "Jürgen");
        assert_eq!(bound("j%c3%bcrgen").unwrap().0, "jürgen");
        assert_eq!(bound("a%2Fb").unwrap().0, "a/b");
        assert_eq!(bound("100%25").unwrap().0, "100%");
        assert_eq!(bound("a+b%20c").unwrap().0, "a+b c");
    }

    #[test]
    fn malformed_escapes_and_non_utf8_are_refused() {
        for sent in [
            "%", "%4", "a%4", "%zz", "%4g", "%%41", "%C3", "%FF", "%C3%28",
        ] {
            assert!(matches!(bound(sent), Err(Error::BadRequest(_))), "{sent:?}");
        }
    }

    #[test]
    fn values_share_the_buffer_and_keep_their_order() {
        let head = "/a%20b/plain/c%2Fd";
        let mut params = Params::default();
        params.bind(&Arc::from("x"), &head[1..6], 1).unwrap();
        params.bind(&Arc::from("y"), &head[7..12], 7).unwrap();
        params.bind(&Arc::from("z"), &head[13..], 13).unwrap();
        let all: Vec<_> = params.iter(head.as_bytes()).collect();
        assert_eq!(all, [("x", "a b"), ("y", "plain"), ("z", "c/d")]);
        assert_eq!(params.last_as_sent(head.as_bytes()), Some("c%2Fd"));
        // A refused value leaves what was bound before it intact.
        assert!(params.bind(&Arc::from("w"), "%FF", 0).is_err());
        assert_eq!(params.get("z", head.as_bytes()), Some("c/d"));
        assert_eq!(params.get("w", head.as_bytes()), None);
        params.clear();
        assert_eq!(params.iter(head.as_bytes()).count(), 0);
    }
}
