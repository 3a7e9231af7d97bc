//! The one error type of the server, and the status code each error maps
//! to.
//!
//! Every way a request can be refused is a variant here, so the connection
//! code turns any of them into the right RFC 9112 response with
//! [`Error::status`], and a handler can return one to answer with it.

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
    /// The connection failed while reading the body or writing the
    /// response. No response can be sent.
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
            Error::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
