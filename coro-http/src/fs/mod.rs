//! Static files: [`ServeDir`] for a directory tree, [`ServeFile`] for one
//! file, both [`Handler`](crate::Handler)s to route like any other.
//!
//! What a user of tower-http's `ServeDir` or Go's `http.FileServer`
//! expects, in one file per concept:
//!
//! * `path`: the sent path, decoded one segment at a time, with every
//!   escape refused (400): `..` sent as is or encoded, encoded separators
//!   (`%2F`, `%5C`) and backslashes, NULs, malformed escapes;
//! * `open`: the file opened beneath the root with `openat2(2)` and
//!   `RESOLVE_BENEATH`, so that a symbolic link out of the root is refused
//!   (404) in the same call that opens, with no race (unless
//!   [`ServeDir::follow_links_out_of_root`] allows such links); the
//!   `realpath` fallback for kernels without it, and the race it leaves,
//!   are described there;
//! * `mime`: `Content-Type` from the extension, by `mime_guess`'s table;
//! * `conditional`: `ETag` and `Last-Modified`, and `If-Match`,
//!   `If-Unmodified-Since` (412), `If-None-Match`, `If-Modified-Since`
//!   (304) and `If-Range`, in RFC 9110's order;
//! * `range`: one `Range` (206 with `Content-Range`, 416 when it overlaps
//!   nothing); a list of several is answered whole;
//! * `respond`: the answer for one file from those; `serve_dir`: directory
//!   requests (`index.html`, the redirect of a directory path without its
//!   trailing `/`).
//!
//! The body is a [`Body::file_range`](crate::Body::file_range): on a plain
//! TCP connection it goes out with `sendfile(2)`, the kernel copying from
//! the page cache to the socket, and a client that stops reading is cut
//! off after the server's write timeout
//! ([`Timeouts::write`](crate::Timeouts)) like any other response. If the
//! file shrinks between the `stat` and the send, the connection closes
//! short of the `Content-Length` it was promised, so the client knows the
//! body is incomplete; a file that grows is sent at its old length.
//!
//! # What blocks
//!
//! Opening a file and reading its metadata are system calls that the
//! worker makes itself, as nginx's workers do: on a local file system
//! with the metadata cached they take microseconds, and the bytes
//! themselves are the kernel's to move. On a slow or network file system
//! they can stall the worker (and its other connections) for as long as
//! the file system takes; serve such files from a handler that opens them
//! on [`coro::spawn_blocking`] and returns a [`Response::file`](crate::Response::file).

mod conditional;
mod mime;
mod open;
mod path;
mod range;
mod respond;
mod serve_dir;
mod serve_file;

use std::io;

use http::header::ALLOW;
use http::{HeaderValue, Method};

pub use serve_dir::ServeDir;
pub use serve_file::ServeFile;

use crate::error::Error;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

/// 405 for anything but `GET` and `HEAD` (a file server only reads).
fn only_get_and_head(req: &Request<'_>) -> Option<Response> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    Some(
        Error::MethodNotAllowed
            .into_response()
            .header(ALLOW, HeaderValue::from_static("GET, HEAD")),
    )
}

/// The answer for a file that could not be opened or read: 404 for what
/// does not exist from the client's view (missing, a path through a file,
/// a link out of the root, a loop of links), 403 for a permission, 500
/// (logged) for anything else.
fn open_error(e: io::Error) -> Response {
    let missing = matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory | io::ErrorKind::InvalidFilename
    ) || matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENAMETOOLONG));
    if missing {
        Error::NotFound.into_response()
    } else {
        Error::Io(e).into_response()
    }
}
