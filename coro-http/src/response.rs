//! Responses: a status, header fields, and a body that is bytes, a reader,
//! a file, or a stream written by a closure.
//!
//! The framing fields are the server's: `Content-Length` (or chunked
//! `Transfer-Encoding`) is computed from the body when the response is
//! written, so it is always right, and a handler's own `Content-Length` or
//! `Transfer-Encoding` fields are dropped. `Date` and `Server` are added
//! unless the handler set them.
//!
//! A `Response` is `Send`: it can be built on another thread or coroutine
//! and handed back (a body from a reader or a closure asks for `Send` for
//! that reason).
//!
//! # Responses made from an error
//!
//! A response made from an [`Error`] (a handler's `Err`, `?` on an
//! `io::Error`, the router's 404 and 405, the server's own refusals)
//! remembers it: [`Response::error`] says why it was made, so middleware
//! can log the cause, and the router's error hook
//! ([`Router::on_error`](crate::Router::on_error)) replaces its default
//! `text/plain` body with one of its own (JSON, HTML) once, where it was
//! made, before any middleware outside sees it. The status stays the
//! error's. The default body is the error's text, or for an I/O error or a
//! handler's failure the status's reason alone (their text may name paths
//! and system details); a 500 for an I/O error logs it with `log::error!`.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::StatusCode;

use crate::error::Error;
use crate::upgraded::{OnUpgrade, Upgraded};

// A response moves several times from the handler through the router to
// the writer; up to 128 bytes the compiler moves it with inline stores,
// past that with a `memcpy` call each time (hence the thin `OnUpgrade`).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Response>() <= 128);

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub(crate) status: StatusCode,
    /// Kept apart from `headers` so the common response needs no vector.
    pub(crate) content_type: Option<HeaderValue>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Body,
    /// The error this response answers, if it was made from one.
    pub(crate) cause: Option<Box<Cause>>,
    /// What a 101 runs once it is sent ([`Response::upgrade`]).
    pub(crate) upgrade: Option<OnUpgrade>,
}

/// The error behind a response, and whether the error hook has shaped the
/// response yet (it does so once, where the response was made).
#[derive(Debug)]
pub(crate) struct Cause {
    pub(crate) error: Error,
    pub(crate) shaped: bool,
}

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");
#[cfg(feature = "json")]
const JSON: HeaderValue = HeaderValue::from_static("application/json");

impl Response {
    /// An empty response with `status`.
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Body::empty(),
            cause: None,
            upgrade: None,
        }
    }

    /// 200 with a `text/plain; charset=utf-8` body.
    pub fn text(body: impl Into<Body>) -> Response {
        Response::with_body(StatusCode::OK, TEXT, body)
    }

    /// 200 with a `text/html; charset=utf-8` body.
    pub fn html(body: impl Into<Body>) -> Response {
        Response::with_body(StatusCode::OK, HTML, body)
    }

    /// 200 with an `application/octet-stream` body.
    pub fn bytes(body: impl Into<Body>) -> Response {
        Response::with_body(StatusCode::OK, OCTETS, body)
    }

    /// 200 with `value` serialized as `application/json`; 500 if it cannot
    /// be serialized.
    #[cfg(feature = "json")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(v) => Response::with_body(StatusCode::OK, JSON, v),
            Err(e) => {
                log::error!("cannot serialize a JSON response: {e}");
                Response::new(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    /// 200 with a body written by `write` as it runs, sent chunked (to an
    /// HTTP/1.0 client: until the connection closes). Each `write` call of
    /// the closure goes out at once, so a slow producer (a channel, a
    /// long computation) reaches the client piece by piece.
    pub fn stream<F>(write: F) -> Response
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    {
        Response::with_body(StatusCode::OK, OCTETS, Body::stream(write))
    }

    /// 200 with the contents of `file` (its length taken now).
    ///
    /// # Errors
    /// If the file's metadata cannot be read.
    pub fn file(file: File) -> io::Result<Response> {
        Ok(Response::with_body(
            StatusCode::OK,
            OCTETS,
            Body::file(file)?,
        ))
    }

    /// A response of `status` with a body: built whole, in the place it is
    /// returned to, rather than as `Response::new(..)` changed by value, as
    /// each move of a response copies it (it is over a hundred bytes) and
    /// this is the response of nearly every handler.
    fn with_body(status: StatusCode, content_type: HeaderValue, body: impl Into<Body>) -> Response {
        Response {
            status,
            content_type: Some(content_type),
            headers: Vec::new(),
            body: body.into(),
            cause: None,
            upgrade: None,
        }
    }

    /// Sets the status.
    pub fn status(mut self, status: StatusCode) -> Response {
        self.status = status;
        self
    }

    /// Sets the `Content-Type`.
    pub fn content_type(mut self, value: HeaderValue) -> Response {
        self.content_type = Some(value);
        self
    }

    /// Adds a header field. `Content-Length` and `Transfer-Encoding` are
    /// ignored when the response is written (the server computes them).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Response {
        if name == CONTENT_TYPE {
            self.content_type = Some(value);
        } else {
            self.headers.push((name, value));
        }
        self
    }

    /// Replaces the body.
    pub fn body(mut self, body: impl Into<Body>) -> Response {
        self.body = body.into();
        self
    }

    /// The status.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The value of the first header field `name`.
    pub fn header_value(&self, name: &HeaderName) -> Option<&HeaderValue> {
        if *name == CONTENT_TYPE {
            return self.content_type.as_ref();
        }
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The error this response was made from, if it was: a handler's
    /// `Err`, the router's 404 or 405, a path parameter that does not
    /// decode, or one of the server's own refusals. Middleware can log it;
    /// the body the client gets says less for an I/O error (see the module
    /// docs).
    pub fn error(&self) -> Option<&Error> {
        self.cause.as_ref().map(|c| &c.error)
    }

    /// The body, as bytes if it is bytes.
    pub fn body_bytes(&self) -> Option<&[u8]> {
        match &self.body.kind {
            BodyKind::Empty => Some(&[]),
            BodyKind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The response as an `http::Response`.
    pub fn into_http(self) -> http::Response<Body> {
        let mut out = http::Response::new(self.body);
        *out.status_mut() = self.status;
        let headers = out.headers_mut();
        if let Some(ct) = self.content_type {
            headers.insert(CONTENT_TYPE, ct);
        }
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        out
    }

    /// The response for an error: its status, its text (or only the
    /// status's reason, for an error whose text is private) as the body,
    /// and the error kept as its cause, not yet shaped by the error hook.
    pub(crate) fn for_error(error: Error) -> Response {
        let status = error.status();
        let body = if error.is_public() {
            format!("{error}\n")
        } else {
            format!("{}\n", status.canonical_reason().unwrap_or("error"))
        };
        let mut response = Response::with_body(status, TEXT, body);
        response.cause = Some(Box::new(Cause {
            error,
            shaped: false,
        }));
        response
    }
}

impl<B: Into<Body>> From<http::Response<B>> for Response {
    fn from(response: http::Response<B>) -> Response {
        let (parts, body) = response.into_parts();
        let mut out = Response::new(parts.status).body(body);
        for (name, value) in &parts.headers {
            out = out.header(name.clone(), value.clone());
        }
        out
    }
}

/// A response body.
pub struct Body {
    pub(crate) kind: BodyKind,
}

pub(crate) enum BodyKind {
    Empty,
    Bytes(Bytes),
    /// Read to its end; `len`, when known, is sent as `Content-Length`.
    Reader {
        reader: Box<dyn Read + Send>,
        len: Option<u64>,
    },
    /// Written by the closure, sent chunked.
    Stream(StreamFn),
    /// `len` bytes of a file from `offset`, sent with `sendfile(2)` on a
    /// plain TCP connection. A file that turns out shorter breaks the
    /// framing: the connection closes.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
}

/// The closure behind a streamed body.
pub(crate) type StreamFn = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body {
            kind: BodyKind::Empty,
        }
    }

    /// A body read from `reader` to its end. With `len`, exactly that many
    /// bytes are sent with a `Content-Length`; without, the body is sent
    /// chunked. The reader is `Send`, as the response is.
    pub fn from_reader(reader: impl Read + Send + 'static, len: Option<u64>) -> Body {
        Body {
            kind: BodyKind::Reader {
                reader: Box::new(reader),
                len,
            },
        }
    }

    /// A file's contents, its length taken now. On a plain TCP
    /// connection the server sends it with `sendfile(2)`, without copying
    /// it through user memory; if the file is shorter by then (truncated
    /// meanwhile), the response cannot be completed and the connection
    /// closes, so the client sees a short body, never a wrong one.
    ///
    /// # Errors
    /// If its metadata cannot be read.
    pub fn file(file: File) -> io::Result<Body> {
        let len = file.metadata()?.len();
        Ok(Body::file_range(file, 0, len))
    }

    /// `len` bytes of `file` from `offset` (the file's own position is not
    /// used), sent as [`file`](Self::file) is.
    pub fn file_range(file: File, offset: u64, len: u64) -> Body {
        Body {
            kind: BodyKind::File { file, offset, len },
        }
    }

    /// A body written by `write` as the response goes out; see
    /// [`Response::stream`]. The closure is `Send`, as the response is.
    pub fn stream<F>(write: F) -> Body
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()> + Send + 'static,
    {
        Body {
            kind: BodyKind::Stream(Box::new(write)),
        }
    }

    /// The length, when it is known before the body is sent.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            BodyKind::Empty => Some(0),
            BodyKind::Bytes(b) => Some(b.len() as u64),
            BodyKind::Reader { len, .. } => *len,
            BodyKind::Stream(_) => None,
            BodyKind::File { len, .. } => Some(*len),
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BodyKind::Empty => f.write_str("Body::Empty"),
            BodyKind::Bytes(b) => f.debug_tuple("Body::Bytes").field(&b.len()).finish(),
            BodyKind::Reader { len, .. } => {
                f.debug_struct("Body::Reader").field("len", len).finish()
            }
            BodyKind::Stream(_) => f.write_str("Body::Stream"),
            BodyKind::File { offset, len, .. } => f
                .debug_struct("Body::File")
                .field("offset", offset)
                .field("len", len)
                .finish(),
        }
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Body {
        Body {
            kind: BodyKind::Bytes(b),
        }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Bytes::from_static(s.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Bytes::from_static(s).into()
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Bytes::from(s).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Bytes::from(v).into()
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

/// What a handler may return.
pub trait IntoResponse {
    /// Makes the response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::bytes(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        self.1.into_response().status(self.0)
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// Its status and text; see the [`Error`] docs for the mapping.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Io(e) = &self {
            if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
                log::error!("a handler failed with an I/O error, answered 500: {e}");
            }
        }
        Response::for_error(self)
    }
}

/// As [`Error::Io`]: `NotFound` 404, `PermissionDenied` 403, any other 500;
/// never with the error's text.
impl IntoResponse for io::Error {
    fn into_response(self) -> Response {
        Error::Io(self).into_response()
    }
}

/// An [`Error`] or an `io::Error` inside answers as itself; anything else
/// 500, its text logged and not sent.
impl IntoResponse for Box<dyn std::error::Error + Send + Sync> {
    fn into_response(self) -> Response {
        let boxed = match self.downcast::<Error>() {
            Ok(e) => return e.into_response(),
            Err(other) => other,
        };
        match boxed.downcast::<io::Error>() {
            Ok(e) => e.into_response(),
            Err(other) => io::Error::other(other).into_response(),
        }
    }
}

/// As the `Send` box; a cause that is not `Send` is kept as its text.
impl IntoResponse for Box<dyn std::error::Error> {
    fn into_response(self) -> Response {
        let boxed = match self.downcast::<Error>() {
            Ok(e) => return e.into_response(),
            Err(other) => other,
        };
        match boxed.downcast::<io::Error>() {
            Ok(e) => e.into_response(),
            Err(other) => io::Error::other(other.to_string()).into_response(),
        }
    }
}

impl<B: Into<Body>> IntoResponse for http::Response<B> {
    fn into_response(self) -> Response {
        self.into()
    }
}

impl Response {
    /// `101 Switching Protocols` to `protocol` (the response's `Upgrade`
    /// field, e.g. `websocket`): once the 101 is sent, `on_upgrade` runs in
    /// the connection's coroutine with the connection, as an [`Upgraded`]
    /// stream, and the connection closes when it returns. Add the new
    /// protocol's own fields with [`header`](Self::header).
    ///
    /// The request must have asked for it (HTTP/1.1, `Connection:
    /// upgrade`, and `protocol` among its `Upgrade` field's protocols);
    /// otherwise the client gets a 500 and the log says why. The rest of
    /// the request's body, if any, is read first (the new protocol starts
    /// after it). If the response goes out with another status (a
    /// middleware changed it), `on_upgrade` is dropped unrun.
    ///
    /// A plain `Response::new(StatusCode::SWITCHING_PROTOCOLS)` is not
    /// enough: with nothing to hand the connection to, it is answered
    /// with a 500. For WebSocket, see the `ws` module (feature `ws`).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use coro_http::{HeaderValue, Request, Response, Router};
    ///
    /// let mut router = Router::new();
    /// // A line echo protocol, after `Upgrade: echo`.
    /// router.get("/echo", |_req: &mut Request<'_>| {
    ///     Response::upgrade(HeaderValue::from_static("echo"), |mut up| {
    ///         let mut buf = [0u8; 1024];
    ///         while let Ok(n @ 1..) = up.read(&mut buf) {
    ///             if up.write_all(&buf[..n]).is_err() {
    ///                 break;
    ///             }
    ///         }
    ///     })
    /// });
    /// ```
    pub fn upgrade<F>(protocol: HeaderValue, on_upgrade: F) -> Response
    where
        F: FnOnce(Upgraded) + Send + 'static,
    {
        let mut response =
            Response::new(StatusCode::SWITCHING_PROTOCOLS).header(http::header::UPGRADE, protocol);
        response.upgrade = Some(OnUpgrade(Box::new(Box::new(on_upgrade))));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_responses_convert_both_ways() {
        let r = http::Response::builder()
            .status(201)
            .header("x-a", "1")
            .header("x-a", "2")
            .header("content-type", "text/csv")
            .body("a,b")
            .unwrap();
        let ours = Response::from(r);
        assert_eq!(ours.status_code(), StatusCode::CREATED);
        assert_eq!(ours.headers.len(), 2);
        assert_eq!(ours.header_value(&CONTENT_TYPE).unwrap(), "text/csv");
        assert_eq!(ours.body_bytes(), Some(&b"a,b"[..]));
        let back = ours.into_http();
        assert_eq!(back.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(back.body().len(), Some(3));
    }

    /// A response, whatever its body, can go to another thread.
    const _: fn() = || {
        fn is_send<T: Send>() {}
        is_send::<Response>();
        is_send::<Body>();
    };

    #[test]
    fn errors_answer_with_their_status_and_text() {
        let r = Error::BadRequest("invalid chunk size").into_response();
        assert_eq!(r.status_code(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.body_bytes().unwrap(),
            b"bad request: invalid chunk size\n"
        );
    }
}
