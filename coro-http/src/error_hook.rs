//! The error hook: one place that shapes every response made from an
//! [`Error`], so that a JSON API answers JSON errors, the server's own
//! refusals included.
//!
//! Three kinds of response are made from an error, and each reaches the
//! hook ([`Router::on_error`](crate::Router::on_error)) once, where it is
//! made:
//!
//! 1. the router's own: 404, 405 (its `Allow` field is added after the
//!    hook), and 400 for a path parameter that does not decode;
//! 2. a handler's or a middleware's `Err` (an [`Error`], `?` on an
//!    `io::Error`, a boxed error: see the [`Error`] docs), as it leaves
//!    the handler or that middleware, so that every middleware outside it
//!    sees the shaped response;
//! 3. the server's refusals, which no middleware sees because no request
//!    was routed: a malformed or oversized head (400, 413 from
//!    `Content-Length`, 414, 431, 501, 505), a head not received in time
//!    (408), a body that turns out broken after the handler ran (400,
//!    413), a handler that panicked or answered 1xx (500). The connection
//!    closes after each. They are logged at debug level, and the hook sees
//!    them with [`ErrorContext::is_refusal`] set, so an access log that
//!    wants every response logs there as well as in a middleware.
//!
//! The hook shapes headers and body; the status stays the response's,
//! the error's unless a handler answered `(StatusCode, Error)` (a refusal
//! that answered 200 would leave the client reading a broken stream as a
//! success), and the response keeps its cause
//! ([`Response::error`]). A hook that panics leaves the default response
//! in place and is logged.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};

use http::{Method, StatusCode};

use crate::error::Error;
use crate::response::{IntoResponse, Response};

/// Makes the response for an error; see [`Router::on_error`](crate::Router::on_error).
/// Implemented for every `Fn(&ErrorContext) -> impl IntoResponse`.
pub trait ErrorHook: Send + Sync + 'static {
    /// The response for the error `cx` describes.
    fn call(&self, cx: &ErrorContext<'_>) -> Response;
}

impl<F, R> ErrorHook for F
where
    F: Fn(&ErrorContext<'_>) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, cx: &ErrorContext<'_>) -> Response {
        self(cx).into_response()
    }
}

/// An error about to be answered, and what is known of its request.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    error: &'a Error,
    status: StatusCode,
    method: Option<&'a Method>,
    path: Option<&'a str>,
    remote_addr: Option<SocketAddr>,
    refusal: bool,
}

impl<'a> ErrorContext<'a> {
    /// The error.
    pub fn error(&self) -> &'a Error {
        self.error
    }

    /// The status the response will have: [`Error::status`], unless the
    /// handler answered `(StatusCode, Error)`.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The request's method, when its head was parsed.
    pub fn method(&self) -> Option<&'a Method> {
        self.method
    }

    /// The request's path as sent (without the query), when its head was
    /// parsed.
    pub fn path(&self) -> Option<&'a str> {
        self.path
    }

    /// The client's address, when known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Whether the server refused the request by itself (see the module
    /// docs): no middleware sees this response, and the connection closes
    /// after it.
    pub fn is_refusal(&self) -> bool {
        self.refusal
    }
}

/// What is known of the request an error answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) method: Option<&'a Method>,
    pub(crate) path: Option<&'a str>,
    pub(crate) remote_addr: Option<SocketAddr>,
    /// The server refused the request by itself.
    pub(crate) refusal: bool,
}

/// `response` as the hook shapes it, if it was made from an error and not
/// shaped yet; otherwise as it is.
pub(crate) fn shape(hook: &dyn ErrorHook, mut response: Response, origin: Origin<'_>) -> Response {
    let Some(cause) = response.cause.as_deref_mut() else {
        return response;
    };
    if cause.shaped {
        return response;
    }
    cause.shaped = true;
    let cx = ErrorContext {
        error: &cause.error,
        status: response.status,
        method: origin.method,
        path: origin.path,
        remote_addr: origin.remote_addr,
        refusal: origin.refusal,
    };
    let made = catch_unwind(AssertUnwindSafe(|| hook.call(&cx)));
    match made {
        Ok(mut shaped) => {
            shaped.status = response.status;
            shaped.cause = response.cause.take();
            shaped
        }
        Err(_) => {
            log::error!(
                "the error hook panicked answering {}; sending the default response",
                response.status
            );
            response
        }
    }
}
