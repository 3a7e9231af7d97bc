//! [`ServeFile`]: one file, at whatever route it is mounted.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use http::HeaderValue;

use super::{only_get_and_head, open_error, respond::respond};
use crate::error::Error;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::router::Handler;

/// Serves one file, as [`ServeDir`](super::ServeDir) serves each of its
/// own: `Content-Type` from its name, `HEAD`, `ETag`/`Last-Modified` and
/// the conditional requests, one `Range`. The file is opened for each
/// request, so it may be replaced while the server runs; while it is
/// missing the answer is 404.
///
/// ```no_run
/// use coro_http::fs::ServeFile;
/// use coro_http::{Method, Router};
///
/// let mut router = Router::new();
/// router.route(Method::GET, "/favicon.ico", ServeFile::new("assets/favicon.ico"));
/// ```
#[derive(Debug, Clone)]
pub struct ServeFile {
    path: PathBuf,
    content_type: HeaderValue,
}

impl ServeFile {
    /// Serves the file at `path`, its type taken from its name.
    pub fn new(path: impl Into<PathBuf>) -> ServeFile {
        let path = path.into();
        let content_type = super::mime::content_type(&path);
        ServeFile { path, content_type }
    }

    /// Sends `value` as its `Content-Type` instead.
    pub fn content_type(mut self, value: HeaderValue) -> ServeFile {
        self.content_type = value;
        self
    }
}

impl Handler for ServeFile {
    fn call(&self, req: &mut Request<'_>) -> Response {
        if let Some(refusal) = only_get_and_head(req) {
            return refusal;
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path)
        {
            Ok(file) => file,
            Err(e) => return open_error(e),
        };
        match file.metadata() {
            Ok(meta) if meta.is_file() => respond(req, file, &meta, self.content_type.clone()),
            Ok(_) => Error::NotFound.into_response(),
            Err(e) => open_error(e),
        }
    }
}
