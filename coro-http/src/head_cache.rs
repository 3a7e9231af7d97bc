//! The last plain response head each worker wrote, reused while the next
//! response has the same shape and goes out in the same second.
//!
//! Most responses of a service look alike: `200`, the same content type,
//! the same length, no fields of the handler's own. Writing such a head
//! field by field (status line, `Server`, `Date`, `Content-Type`, the
//! length in decimal, the connection field) is about ten copies and a
//! number's formatting; a head equal to the last one is one copy.
//!
//! What makes two heads equal is their [`Shape`] (status, version, the
//! framing decided for the body, whether the connection closes), the
//! content type, the server writing it (its settings hold the `Server`
//! line), and the second of its `Date` line. Only heads without handler
//! fields are kept: those fields would make the key as long as the head.
//! Any difference is a miss, which writes the head the usual way and keeps
//! it for the next.
//!
//! The kept head holds its server's settings and its content type (both
//! shared, immutable memory), so that the same allocation is the same
//! value for as long as it is kept: one comparison of addresses decides
//! the usual case, where a head's content type is a constant and its
//! server the one that wrote the last head.
//!
//! The cache is a thread-local like the `Date` line's (see `date`), so
//! each worker reuses its own heads without sharing; no borrow of it is
//! held across a suspension point.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderValue, StatusCode, Version};

use crate::config::Config;

/// Everything about a head without handler fields that decides its bytes,
/// besides the content type, the server and the date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    /// The `Content-Length` sent, if any.
    pub(crate) length: Option<u64>,
    /// `Transfer-Encoding: chunked` is sent.
    pub(crate) chunked: bool,
    /// `Connection: close` is sent.
    pub(crate) close: bool,
}

/// The head kept, and what it was written for.
struct Kept {
    shape: Shape,
    content_type: Option<HeaderValue>,
    /// `None` while nothing is kept.
    config: Option<Arc<Config>>,
    /// The second of its `Date` line: from `from` (included) to `until`
    /// (excluded). Both `UNIX_EPOCH` while nothing is kept.
    from: SystemTime,
    until: SystemTime,
    bytes: Vec<u8>,
}

impl Kept {
    fn matches(
        &self,
        shape: &Shape,
        content_type: Option<&HeaderValue>,
        config: &Arc<Config>,
        now: SystemTime,
    ) -> bool {
        self.shape == *shape
            && self.from <= now
            && now < self.until
            && self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config))
            && match (&self.content_type, content_type) {
                (None, None) => true,
                (Some(kept), Some(given)) => same_value(kept, given),
                _ => false,
            }
    }
}

/// Whether two values have the same bytes; at the same address they do,
/// since a value's bytes never change while it lives.
fn same_value(a: &HeaderValue, b: &HeaderValue) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

thread_local! {
    static KEPT: RefCell<Kept> = const {
        RefCell::new(Kept {
            shape: Shape {
                status: StatusCode::OK,
                version: Version::HTTP_11,
                length: None,
                chunked: false,
                close: false,
            },
            content_type: None,
            config: None,
            from: SystemTime::UNIX_EPOCH,
            until: SystemTime::UNIX_EPOCH,
            bytes: Vec::new(),
        })
    };
}

/// Appends the kept head to `out` and returns `true` if it was written for
/// this shape, content type and server in the second `now` lies in;
/// else leaves `out` alone and returns `false`.
pub(crate) fn reuse(
    out: &mut Vec<u8>,
    shape: &Shape,
    content_type: Option<&HeaderValue>,
    config: &Arc<Config>,
    now: SystemTime,
) -> bool {
    // During the thread's teardown the cache may be gone: a miss.
    KEPT.try_with(|kept| {
        let kept = kept.borrow();
        let hit = kept.matches(shape, content_type, config, now);
        if hit {
            out.extend_from_slice(&kept.bytes);
        }
        hit
    })
    .unwrap_or(false)
}

/// Keeps `head`, written for this shape, content type and server with the
/// date of the second `from..until`, in place of the last one.
pub(crate) fn keep(
    head: &[u8],
    shape: Shape,
    content_type: Option<&HeaderValue>,
    config: &Arc<Config>,
    (from, until): (SystemTime, SystemTime),
) {
    let _ = KEPT.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        kept.shape = shape;
        kept.content_type = content_type.cloned();
        kept.config = Some(Arc::clone(config));
        kept.from = from;
        kept.until = until;
        kept.bytes.clear();
        kept.bytes.extend_from_slice(head);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn server() -> Arc<Config> {
        Arc::new(Config {
            limits: Default::default(),
            timeouts: Default::default(),
            server_line: b"Server: coro\r\n".to_vec(),
            idle_wait: Default::default(),
            stack_size: None,
        })
    }

    fn shape() -> Shape {
        Shape {
            status: StatusCode::OK,
            version: Version::HTTP_11,
            length: Some(13),
            chunked: false,
            close: false,
        }
    }

    fn second(s: u64) -> (SystemTime, SystemTime) {
        let from = UNIX_EPOCH + Duration::from_secs(s);
        (from, from + Duration::from_secs(1))
    }

    fn at(s: u64, ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(s * 1000 + ms)
    }

    #[test]
    fn an_equal_head_in_the_same_second_is_the_kept_one() {
        let text = HeaderValue::from_static("text/plain");
        let server = server();
        keep(b"HEAD A", shape(), Some(&text), &server, second(100));
        let mut out = b"before ".to_vec();
        assert!(reuse(
            &mut out,
            &shape(),
            Some(&text),
            &server,
            at(100, 999)
        ));
        // An equal content type elsewhere in memory is the same.
        let copy = HeaderValue::from_bytes(b"text/plain").unwrap();
        assert!(reuse(&mut out, &shape(), Some(&copy), &server, at(100, 0)));
        assert_eq!(out, b"before HEAD AHEAD A");
    }

    #[test]
    fn any_difference_of_shape_type_server_or_second_is_a_miss() {
        let text = HeaderValue::from_static("text/plain");
        let html = HeaderValue::from_static("text/html");
        let (server, other_server) = (server(), server());
        keep(b"HEAD A", shape(), Some(&text), &server, second(100));
        let others = [
            Shape {
                status: StatusCode::NOT_FOUND,
                ..shape()
            },
            Shape {
                version: Version::HTTP_10,
                ..shape()
            },
            Shape {
                length: Some(14),
                ..shape()
            },
            Shape {
                length: None,
                chunked: true,
                ..shape()
            },
            Shape {
                close: true,
                ..shape()
            },
        ];
        let mut out = Vec::new();
        for other in &others {
            assert!(
                !reuse(&mut out, other, Some(&text), &server, at(100, 0)),
                "{other:?}"
            );
        }
        assert!(!reuse(&mut out, &shape(), Some(&html), &server, at(100, 0)));
        assert!(!reuse(&mut out, &shape(), None, &server, at(100, 0)));
        // Another server, even with equal settings.
        assert!(!reuse(
            &mut out,
            &shape(),
            Some(&text),
            &other_server,
            at(100, 0)
        ));
        assert!(!reuse(&mut out, &shape(), Some(&text), &server, at(101, 0)));
        // A clock set back leaves the kept second too.
        assert!(!reuse(
            &mut out,
            &shape(),
            Some(&text),
            &server,
            at(99, 999)
        ));
        assert!(out.is_empty(), "a miss writes nothing");
        // The head kept last is the one reused.
        keep(b"HEAD B", others[0], None, &server, second(101));
        assert!(reuse(&mut out, &others[0], None, &server, at(101, 5)));
        assert_eq!(out, b"HEAD B");
    }
}
