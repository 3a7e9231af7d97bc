//! The one error type of the server, and the status code each error maps
//! to.
//!
//! Every way a request can be refused is a variant here, so the connection
//! code turns any of them into the right RFC 9112 response with
//! [`Error::status`], and a handler can return one to answer with it.
//!
//! # Errors a handler returns with `?`
//!
//! A handler that returns `Result<T, Error>` can use `?` on an
//! `io::Error` (through `From`), and one that returns `io::Result<T>` or
//! `Result<T, Box<dyn std::error::Error + Send + Sync>>` can use it on
//! anything: each of those error types is an
//! [`IntoResponse`](crate::IntoResponse). The mapping:
//!
//! | error | status | body |
//! | --- | --- | --- |
//! | `io::ErrorKind::NotFound` | 404 | `Not Found` |
//! | `io::ErrorKind::PermissionDenied` | 403 | `Forbidden` |
//! | any other `io::Error` | 500 | `Internal Server Error` |
//! | an [`Error`] (also inside a `Box<dyn Error>`) | [`Error::status`] | its text |
//! | an `io::Error` inside a `Box<dyn Error>` | as an `io::Error` | as an `io::Error` |
//! | any other `Box<dyn Error>` | 500 | `Internal Server Error` |
//!
//! An `io::Error`'s own text never reaches the client (it names paths and
//! system details); a 500 logs it with `log::error!` instead, so the cause
//! is not lost. The error hook ([`Router::on_error`](crate::Router::on_error))
//! shapes every one of these bodies, as it does the server's own refusals.

use std::io;

use http::StatusCode;

/// Why a request could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is malformed (request line, header, framing, chunk);
    /// the text says what was wrong. 400.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The request line or its target is longer than the limit. 414.
    #[error("the request line or URI is longer than the limit")]
    UriTooLong,
    /// The header section is larger than the limit, or has too many
    /// fields. 431.
    #[error("the header section is larger than the limit")]
    HeadersTooLarge,
    /// The body is larger than the limit. 413.
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    /// A transfer coding the server does not implement. 501.
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// An HTTP version other than 1.x (`HTTP/2.0`, `HTTP/0.9`); `HTTP/1.2`
    /// to `HTTP/1.9` are served as 1.1. 505.
    #[error("the HTTP version is not supported")]
    VersionNotSupported,
    /// An `Expect` other than `100-continue`. 417.
    #[error("the expectation is not supported")]
    ExpectationFailed,
    /// The client sent the request too slowly. 408.
    #[error("the request was not received in time")]
    Timeout,
    /// The body's bytes were not valid for what was asked of them (UTF-8,
    /// JSON). 400.
    #[error("the body is not valid: {0}")]
    InvalidBody(String),
    /// The query string does not decode into the type asked for
    /// (`Request::query_as`, with the `form` feature). 400.
    #[error("the query is not valid: {0}")]
    InvalidQuery(String),
    /// The body's `Content-Type` is not the one asked for (a form read
    /// from a body that is not `application/x-www-form-urlencoded`); the
    /// text names the type expected. 415.
    #[error("unsupported media type: expected {0}")]
    UnsupportedMediaType(&'static str),
    /// A WebSocket opening handshake that is not valid (see the `ws`
    /// module, feature `ws`); the text says what was wrong. 400.
    #[error("bad WebSocket handshake: {0}")]
    WebSocketHandshake(&'static str),
    /// The resource needs the client to switch protocols (a WebSocket
    /// endpoint asked without `Upgrade: websocket`); the text says what to
    /// send. 426.
    #[error("upgrade required: {0}")]
    UpgradeRequired(&'static str),
    /// No route matches the path. 404.
    #[error("not found")]
    NotFound,
    /// A route matches the path but not the method. 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A handler panicked, or answered with a status that cannot be a
    /// final answer (1xx), or a 101 that cannot switch protocols (see
    /// [`Response::upgrade`](crate::Response::upgrade)); the text says
    /// which. The client sees only the status. 500.
    #[error("the handler failed: {0}")]
    HandlerFailed(&'static str),
    /// An I/O error. From the connection (reading the body, writing the
    /// response), it means no response can be sent. From a handler (`?`
    /// on `File::open`), it answers by its kind: `NotFound` 404,
    /// `PermissionDenied` 403, any other 500, without its text.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The status code that answers this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) | Error::InvalidBody(_) => StatusCode::BAD_REQUEST,
            Error::UriTooLong => StatusCode::URI_TOO_LONG,
            Error::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::VersionNotSupported => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            Error::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Error::Timeout => StatusCode::REQUEST_TIMEOUT,
            Error::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::WebSocketHandshake(_) => StatusCode::BAD_REQUEST,
            Error::UpgradeRequired(_) => StatusCode::UPGRADE_REQUIRED,
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::HandlerFailed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Io(e) => match e.kind() {
                io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
                io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// Whether the client may see this error's text: not for an I/O error
    /// (it names paths and system details) nor a handler's failure.
    pub(crate) fn is_public(&self) -> bool {
        !matches!(self, Error::Io(_) | Error::HandlerFailed(_))
    }
}
