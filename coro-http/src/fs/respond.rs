//! The answer for one open file: validators, preconditions, the range,
//! then the body (sent with `sendfile(2)`, see `Body::file`).
//!
//! Every answer that describes the file carries its `ETag` and
//! `Last-Modified` (a 304 too, RFC 9110 §15.4.5, so a cache can refresh
//! what it holds), and `Accept-Ranges: bytes`. `HEAD` gets the same fields
//! as `GET`, `Content-Length` included; the connection leaves the body
//! out.

use std::fs::{File, Metadata};

use http::header::{ACCEPT_RANGES, CONTENT_RANGE, ETAG, LAST_MODIFIED};
use http::{HeaderValue, StatusCode};

use super::conditional::{self, Outcome, Validators};
use super::range::{self, Ranged};
use crate::request::Request;
use crate::response::{Body, Response};

const BYTES: HeaderValue = HeaderValue::from_static("bytes");

/// Answers `req` with `file`, whose metadata is `meta`, as `content_type`.
pub(crate) fn respond(
    req: &Request<'_>,
    file: File,
    meta: &Metadata,
    content_type: HeaderValue,
) -> Response {
    let validators = Validators::of(meta);
    let len = meta.len();
    let range_applies = match conditional::evaluate(req, &validators) {
        Outcome::NotModified => {
            return with_validators(Response::new(StatusCode::NOT_MODIFIED), &validators)
        }
        Outcome::PreconditionFailed => return Response::new(StatusCode::PRECONDITION_FAILED),
        Outcome::Proceed { range_applies } => range_applies,
    };
    let ranged = match req.header("range") {
        // Only a GET's (RFC 9110 §14.2): a HEAD describes the whole file,
        // as the GET without a range would.
        Some(value) if range_applies && *req.method() == http::Method::GET => {
            range::parse(value, len)
        }
        _ => Ranged::Whole,
    };
    let described = |status| {
        with_validators(Response::new(status), &validators)
            .content_type(content_type)
            .header(ACCEPT_RANGES, BYTES)
    };
    match ranged {
        Ranged::Whole => described(StatusCode::OK).body(Body::file_range(file, 0, len)),
        Ranged::Part { start, end } => described(StatusCode::PARTIAL_CONTENT)
            .header(CONTENT_RANGE, header(format!("bytes {start}-{end}/{len}")))
            .body(Body::file_range(file, start, end - start + 1)),
        Ranged::Unsatisfiable => Response::new(StatusCode::RANGE_NOT_SATISFIABLE)
            .header(ACCEPT_RANGES, BYTES)
            .header(CONTENT_RANGE, header(format!("bytes */{len}"))),
    }
}

fn with_validators(response: Response, v: &Validators) -> Response {
    let response = response.header(ETAG, header(v.etag.clone()));
    match v.last_modified() {
        Some(date) => response.header(LAST_MODIFIED, header(date)),
        None => response,
    }
}

/// A field value made here, of digits, hex, quotes and date text, so
/// always valid; an empty one stands in should that ever change.
fn header(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}
