//! [`ServeDir`]: a directory tree, each request's path resolved beneath
//! its root.
//!
//! A request is answered in these steps:
//!
//! 1. a method other than `GET` and `HEAD`: 405 with `Allow`;
//! 2. the path under the mount (the route's last parameter as sent, or
//!    none for the root) is decoded and checked ([`path`](super::path));
//!    an escape is 400;
//! 3. it is opened beneath the root ([`open`](super::open)); missing, or
//!    leading out of the root through a link, it is 404;
//! 4. a directory: sent without its trailing `/`, it is redirected (301)
//!    to the path with one, as Go's `FileServer` and nginx do, so that the
//!    page's relative links resolve inside it; with one, its `index.html`
//!    is served, or 404 if it has none (no listings). A file sent with a
//!    trailing `/` is 404, and anything else than a file (a FIFO, a
//!    device) is 404 too;
//! 5. the file is answered by [`respond`](super::respond).

use std::fs::{File, Metadata};
use std::path::Path;
use std::sync::Arc;

use http::header::LOCATION;
use http::{HeaderValue, Method, StatusCode};

use super::open::Root;
use super::{mime, only_get_and_head, open_error, path, respond::respond};
use crate::error::Error;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::router::{Handler, Router};

/// The file served for a directory.
const INDEX: &str = "index.html";

/// Serves the files under a directory. Mount it with
/// [`Router::serve_dir`](crate::Router::serve_dir), or route it yourself
/// on a pattern whose last parameter is a catch-all (the path under the
/// root); on a route without parameters it serves the root's
/// `index.html`.
///
/// ```no_run
/// use coro_http::fs::ServeDir;
/// use coro_http::{Method, Router};
///
/// # fn main() -> std::io::Result<()> {
/// let mut router = Router::new();
/// // `/static`, `/static/` and everything below.
/// router.serve_dir("/static", ServeDir::new("public")?);
/// // The same, routed by hand: `{*path}` is the path under the root.
/// router.route(Method::GET, "/assets/{*path}", ServeDir::new("assets")?);
/// # Ok(()) }
/// ```
///
/// Symbolic links are followed while they stay inside the root; one that
/// leads out is answered 404 unless
/// [`follow_links_out_of_root`](Self::follow_links_out_of_root) allows it.
/// Cloning is cheap: the clones share the root.
#[derive(Debug, Clone)]
pub struct ServeDir {
    root: Arc<Root>,
    follow_links_out: bool,
}

impl ServeDir {
    /// Serves the tree under `root`, resolved now (every link in it), so
    /// that moving the process's working directory later changes nothing.
    ///
    /// # Errors
    /// If `root` does not exist or is not a directory that can be opened.
    pub fn new(root: impl AsRef<Path>) -> std::io::Result<ServeDir> {
        Ok(ServeDir {
            root: Arc::new(Root::new(root.as_ref())?),
            follow_links_out: false,
        })
    }

    /// Whether symbolic links may lead out of the root (default: no).
    /// With yes, paths are still refused for `..` and the other escapes of
    /// the path itself, but a link inside the root is followed wherever it
    /// points, as a deployment that links shared assets in might want.
    pub fn follow_links_out_of_root(mut self, yes: bool) -> ServeDir {
        self.follow_links_out = yes;
        self
    }

    /// The root, canonical.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Opens `relative` beneath the root, with its metadata.
    fn open(&self, relative: &str) -> std::io::Result<(File, Metadata)> {
        let file = self.root.open(relative, self.follow_links_out)?;
        let meta = file.metadata()?;
        Ok((file, meta))
    }
}

impl Handler for ServeDir {
    fn call(&self, req: &mut Request<'_>) -> Response {
        if let Some(refusal) = only_get_and_head(req) {
            return refusal;
        }
        let relative = match path::relative(req.last_param_as_sent().unwrap_or("")) {
            Ok(relative) => relative.0,
            Err(why) => return Error::BadRequest(why).into_response(),
        };
        let (file, meta) = match self.open(&relative) {
            Ok(opened) => opened,
            Err(e) => return open_error(e),
        };
        let slash = req.path().ends_with('/');
        let (file, meta, name) = if meta.is_dir() {
            if !slash {
                return redirect_to_slash(req);
            }
            let index = if relative.is_empty() {
                INDEX.to_string()
            } else {
                format!("{relative}/{INDEX}")
            };
            match self.open(&index) {
                Ok((file, meta)) => (file, meta, index),
                Err(e) => return open_error(e),
            }
        } else if slash {
            return Error::NotFound.into_response();
        } else {
            (file, meta, relative)
        };
        if !meta.is_file() {
            return Error::NotFound.into_response();
        }
        respond(req, file, &meta, mime::content_type(Path::new(&name)))
    }
}

/// 301 to the request's path with a `/` added, its query kept. The
/// `Location` is relative (the last segment and a `/`, as Go's
/// `localRedirect`): the path as sent could start with `//`, which a
/// browser would read as another host.
fn redirect_to_slash(req: &Request<'_>) -> Response {
    let last = req.path().rsplit('/').next().unwrap_or("");
    let mut location = if last.is_empty() {
        "./".to_string()
    } else {
        format!("./{last}/")
    };
    if let Some(query) = req.query() {
        location.push('?');
        location.push_str(query);
    }
    match HeaderValue::try_from(location) {
        Ok(value) => Response::new(StatusCode::MOVED_PERMANENTLY).header(LOCATION, value),
        // The path and query came in a valid head, so this cannot be.
        Err(_) => Error::NotFound.into_response(),
    }
}

impl Router {
    /// Serves the files under `dir` at `prefix` (`"/static"`, or `"/"`
    /// for the whole site): routes `GET` (so `HEAD` too) on
    /// `{prefix}/{*path}` for what is below, `{prefix}/` for the root's
    /// `index.html`, and `{prefix}` itself, which redirects to
    /// `{prefix}/`. See [`ServeDir`].
    ///
    /// # Panics
    /// As [`route`](Self::route), if one of those patterns is invalid or
    /// already routed for `GET`.
    #[track_caller]
    pub fn serve_dir(&mut self, prefix: &str, dir: ServeDir) -> &mut Router {
        let base = prefix.trim_end_matches('/');
        self.route(Method::GET, &format!("{base}/{{*path}}"), dir.clone());
        if !base.is_empty() {
            self.route(Method::GET, base, dir.clone());
        }
        self.route(Method::GET, &format!("{base}/"), dir)
    }
}
