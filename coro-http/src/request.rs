//! A request as a handler sees it: the parsed head, the route's path
//! parameters (percent-decoded, see `params`), and the body, read on
//! demand.
//!
//! A `Request` borrows its connection while the handler runs, so reading
//! the body reads the socket directly, with no copy into an intermediate
//! buffer beyond the connection's own. [`Request::from_http`] builds one
//! from an `http::Request` instead, which is how handlers are unit-tested
//! without a socket ([`Router::handle`](crate::Router::handle)).
//!
//! Beside what the client sent, a request carries what the server and its
//! middleware give it: the router's shared state, by type
//! ([`Request::state`], see `state`), and per-request extensions
//! ([`Request::extensions_mut`], an `http::Extensions`), which a
//! middleware fills (the authenticated user, a request id) for the
//! handlers after it. Extensions start empty on every request, at no cost
//! until something is inserted.
//!
//! With the `form` feature, the query and `application/x-www-form-
//! urlencoded` bodies decode into any `serde::Deserialize` type
//! (`Request::query_as`, `Request::form`) through `serde_urlencoded`:
//! `+` is a space there, and a value that does not fit its field answers
//! 400 (415 for a form body of another type), as axum's `Query` and
//! `Form` do. It is a feature of its own, not part of `json`, so that a
//! service that takes forms builds without `serde_json` and one that
//! speaks JSON without `serde_urlencoded`.

use std::borrow::Cow;
use std::io::{self, Read};
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Version};

use crate::body;
use crate::body::ConnBody;
use crate::config::Limits;
use crate::error::Error;
use crate::params::Params;
use crate::parse::{parse_head, Head};
use crate::state::{StateMap, StateRef};

/// An HTTP request being served.
#[derive(Debug)]
pub struct Request<'c> {
    head: Cow<'c, Head>,
    pub(crate) params: Params,
    source: Source<'c>,
    remote_addr: Option<SocketAddr>,
    max_body_bytes: u64,
    pub(crate) states: StateRef<'c>,
    extensions: http::Extensions,
}

#[derive(Debug)]
enum Source<'c> {
    Conn(ConnBody<'c>),
    Bytes(io::Cursor<Bytes>),
}

impl<'c> Request<'c> {
    pub(crate) fn on_connection(
        head: &'c Head,
        params: Params,
        body: ConnBody<'c>,
        remote_addr: Option<SocketAddr>,
        states: &'c StateMap,
    ) -> Request<'c> {
        let max_body_bytes = body.io.config().limits.max_body_bytes;
        Request {
            head: Cow::Borrowed(head),
            params,
            source: Source::Conn(body),
            remote_addr,
            max_body_bytes,
            states: StateRef::Borrowed(states),
            extensions: http::Extensions::new(),
        }
    }

    /// The path as sent, where it starts in the head's bytes, and the
    /// path parameters to fill in: what routing needs, borrowed apart.
    pub(crate) fn route_parts(&mut self) -> (&str, usize, &mut Params) {
        (
            self.head.str(&self.head.path),
            self.head.path.start,
            &mut self.params,
        )
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The path, as sent (percent-encoding is kept), without the query.
    pub fn path(&self) -> &str {
        self.head.str(&self.head.path)
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.head.query.as_ref().map(|q| self.head.str(q))
    }

    /// The request target exactly as sent.
    pub fn uri(&self) -> &str {
        self.head.str(&self.head.target)
    }

    /// The HTTP version: 1.0 or 1.1. A request sent as `HTTP/1.2` to
    /// `HTTP/1.9` is served as 1.1 (RFC 9110 §2.5) and reports 1.1.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The first value of the header `name` (any case), if it is valid
    /// UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.header_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of the header `name` (any case), as bytes.
    pub fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.head.field(name)
    }

    /// Every header field, in order, as name and value.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.head
            .fields
            .iter()
            .map(|(n, v)| (self.head.str(n), &self.head.bytes[v.clone()]))
    }

    /// The path parameter `name` of the route that matched (`{id}` in
    /// `/users/{id}`, `{*path}` in `/static/{*path}`), percent-decoded:
    /// `/users/J%C3%BCrgen` gives `Jürgen`, `/static/a%2Fb` gives `a/b`.
    /// A `+` stays a `+` (it is a space only in form-encoded queries). A
    /// value without a `%` is the sent text itself, not a copy. A decoded
    /// value may hold any character, `/`, `..` and NUL included: check it
    /// before using it as a file path.
    ///
    /// A request with a parameter that does not decode (a `%` not followed
    /// by two hex digits, or bytes that are not UTF-8 once decoded) is
    /// answered `400 Bad Request` before its handler runs, and the
    /// connection stays open; middleware around that answer sees no
    /// parameters. [`path`](Self::path) stays as sent.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name, &self.head.bytes)
    }

    /// The route's last path parameter as sent, percent-encoding kept
    /// (see `Params::last_as_sent`).
    pub(crate) fn last_param_as_sent(&self) -> Option<&str> {
        self.params.last_as_sent(&self.head.bytes)
    }

    /// Every path parameter, as name and value, in the order of the
    /// route's pattern; each value percent-decoded as for
    /// [`param`](Self::param).
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter(&self.head.bytes)
    }

    /// The router's shared state of type `T` (see
    /// [`Router::state`](crate::Router::state)).
    ///
    /// # Panics
    /// If the router has no state of that type: a programming error, which
    /// the first request that asks finds (it answers 500, as any panic).
    /// [`try_state`](Self::try_state) asks without the panic.
    #[track_caller]
    pub fn state<T: Send + Sync + 'static>(&self) -> &T {
        match self.try_state() {
            Some(value) => value,
            None => panic!(
                "the router has no state of type {}: add it with Router::state",
                std::any::type_name::<T>()
            ),
        }
    }

    /// The router's shared state of type `T`, if it has one.
    pub fn try_state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.states.map().and_then(StateMap::get)
    }

    /// This request's extensions: values a middleware put there for the
    /// handlers after it. Empty when the request arrives.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// This request's extensions, to add to:
    ///
    /// ```
    /// use coro_http::{Next, Request, Response, Router};
    ///
    /// #[derive(Clone)]
    /// struct User(String);
    ///
    /// let mut router = Router::new();
    /// router.wrap(|req: &mut Request<'_>, next: Next<'_>| -> Response {
    ///     let user = req.header("x-user").unwrap_or("anonymous").to_string();
    ///     req.extensions_mut().insert(User(user));
    ///     next.run(req)
    /// });
    /// router.get("/me", |req: &mut Request<'_>| {
    ///     req.extensions().get::<User>().map_or("?".to_string(), |u| u.0.clone())
    /// });
    /// ```
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The query decoded into `T` (`application/x-www-form-urlencoded`
    /// rules: `+` is a space, escapes are decoded). A request without a
    /// query decodes as an empty one, so a struct of `Option`s or
    /// `#[serde(default)]` fields fits every request.
    ///
    /// ```
    /// use coro_http::{Error, Request, Response, Router};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Page {
    ///     q: String,
    ///     #[serde(default)]
    ///     page: u32,
    /// }
    ///
    /// let mut router = Router::new();
    /// router.get("/search", |req: &mut Request<'_>| -> Result<String, Error> {
    ///     let p: Page = req.query_as()?;
    ///     Ok(format!("{} page {}", p.q, p.page))
    /// });
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] (400) if it does not decode into `T`: a
    /// missing field, a value of the wrong type.
    #[cfg(feature = "form")]
    pub fn query_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, Error> {
        serde_urlencoded::from_str(self.query().unwrap_or(""))
            .map_err(|e| Error::InvalidQuery(e.to_string()))
    }

    /// The body, an `application/x-www-form-urlencoded` form (what an HTML
    /// `<form method="post">` sends), decoded into `T`; read whole, up to
    /// the body limit. A form sent with `GET` comes in the query: use
    /// [`query_as`](Self::query_as).
    ///
    /// # Errors
    /// [`Error::UnsupportedMediaType`] (415) if the `Content-Type` is
    /// another, [`Error::InvalidBody`] (400) if the form does not decode
    /// into `T`, or as [`body_bytes`](Self::body_bytes).
    #[cfg(feature = "form")]
    pub fn form<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        const FORM: &str = "application/x-www-form-urlencoded";
        let media_type = self
            .header("content-type")
            .map(|v| v.split(';').next().unwrap_or("").trim());
        if !media_type.is_some_and(|t| t.eq_ignore_ascii_case(FORM)) {
            return Err(Error::UnsupportedMediaType(FORM));
        }
        serde_urlencoded::from_bytes(&self.body_bytes()?)
            .map_err(|e| Error::InvalidBody(e.to_string()))
    }

    /// The client's address.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// The `Content-Length` the client sent.
    pub fn content_length(&self) -> Option<u64> {
        match self.head.framing {
            crate::parse::Framing::Length(n) => Some(n),
            crate::parse::Framing::Chunked => None,
        }
    }

    /// The body, as a reader. Reading it sends `100 Continue` first when
    /// the client asked for it. Past the body limit, reads fail.
    pub fn body(&mut self) -> BodyReader<'_, 'c> {
        BodyReader {
            source: &mut self.source,
        }
    }

    /// The whole body, up to the body limit.
    ///
    /// # Errors
    /// [`Error::PayloadTooLarge`] past the limit, a framing error, or the
    /// connection's I/O error.
    pub fn body_bytes(&mut self) -> Result<Vec<u8>, Error> {
        match &mut self.source {
            Source::Conn(conn) => body::read_to_vec(conn),
            Source::Bytes(cursor) => {
                let mut out = Vec::new();
                cursor.read_to_end(&mut out)?;
                if out.len() as u64 > self.max_body_bytes {
                    return Err(Error::PayloadTooLarge);
                }
                Ok(out)
            }
        }
    }

    /// The whole body as UTF-8 text.
    ///
    /// # Errors
    /// As [`body_bytes`](Self::body_bytes), or [`Error::InvalidBody`].
    pub fn body_string(&mut self) -> Result<String, Error> {
        String::from_utf8(self.body_bytes()?).map_err(|e| Error::InvalidBody(e.to_string()))
    }

    /// The body parsed as JSON.
    ///
    /// # Errors
    /// As [`body_bytes`](Self::body_bytes), or [`Error::InvalidBody`].
    #[cfg(feature = "json")]
    pub fn json<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Error> {
        serde_json::from_slice(&self.body_bytes()?).map_err(|e| Error::InvalidBody(e.to_string()))
    }

    /// The request as an `http::Request`, its body read whole (so the
    /// body is gone from `self` afterwards), with a copy of its
    /// extensions.
    ///
    /// # Errors
    /// As [`body_bytes`](Self::body_bytes).
    pub fn to_http(&mut self) -> Result<http::Request<Vec<u8>>, Error> {
        let body = self.body_bytes()?;
        let mut builder = http::Request::builder()
            .method(self.method().clone())
            .uri(self.uri())
            .version(self.version());
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        if let Some(extensions) = builder.extensions_mut() {
            *extensions = self.extensions.clone();
        }
        builder
            .body(body)
            .map_err(|_| Error::BadRequest("the request does not fit http::Request"))
    }

    /// A request made from an `http::Request`, held in memory (for testing
    /// handlers through [`Router::handle`](crate::Router::handle)). The
    /// head is checked as one from a socket would be; the extensions come
    /// along, and `Router::handle` gives it the router's state.
    ///
    /// # Errors
    /// As for a request read from a socket (a missing `Host` on 1.1, ...).
    pub fn from_http<B: Into<Bytes>>(request: http::Request<B>) -> Result<Request<'static>, Error> {
        let (parts, body) = request.into_parts();
        let body: Bytes = body.into();
        let mut text = Vec::new();
        text.extend_from_slice(parts.method.as_str().as_bytes());
        text.push(b' ');
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        text.extend_from_slice(target.as_bytes());
        text.extend_from_slice(match parts.version {
            Version::HTTP_10 => b" HTTP/1.0\r\n",
            _ => b" HTTP/1.1\r\n",
        });
        let mut has_host = false;
        for (name, value) in &parts.headers {
            has_host |= name == http::header::HOST;
            if name == http::header::TRANSFER_ENCODING || name == http::header::CONTENT_LENGTH {
                continue;
            }
            text.extend_from_slice(name.as_str().as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(value.as_bytes());
            text.extend_from_slice(b"\r\n");
        }
        if !has_host {
            let host = parts.uri.authority().map_or("localhost", |a| a.as_str());
            text.extend_from_slice(format!("host: {host}\r\n").as_bytes());
        }
        text.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
        let limits = Limits::default();
        let mut head = Head::default();
        match parse_head(&text, &limits, &mut head)? {
            Some(_) => Ok(Request {
                head: Cow::Owned(head),
                params: Params::default(),
                source: Source::Bytes(io::Cursor::new(body)),
                remote_addr: None,
                max_body_bytes: limits.max_body_bytes,
                states: StateRef::Unset,
                extensions: parts.extensions,
            }),
            None => Err(Error::BadRequest("incomplete request head")),
        }
    }
}

/// A request's body as `std::io::Read`; see [`Request::body`].
#[derive(Debug)]
pub struct BodyReader<'a, 'c> {
    source: &'a mut Source<'c>,
}

impl Read for BodyReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.source {
            Source::Conn(conn) => body::read(conn, buf),
            Source::Bytes(cursor) => cursor.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_converts_and_reads_back() {
        let r = http::Request::post("http://example.com/a/b?x=1")
            .header("X-Thing", "yes")
            .body("payload")
            .unwrap();
        let mut req = Request::from_http(r).unwrap();
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.path(), "/a/b");
        assert_eq!(req.query(), Some("x=1"));
        assert_eq!(req.header("x-thing"), Some("yes"));
        assert_eq!(req.header("host"), Some("example.com"));
        assert_eq!(req.content_length(), Some(7));
        let back = req.to_http().unwrap();
        assert_eq!(back.body(), b"payload");
        assert_eq!(back.uri(), "/a/b?x=1");
    }

    #[test]
    fn extensions_come_from_and_go_to_http_requests() {
        let mut r = http::Request::get("/").body("").unwrap();
        r.extensions_mut().insert(7u8);
        let mut req = Request::from_http(r).unwrap();
        assert_eq!(req.extensions().get::<u8>(), Some(&7));
        req.extensions_mut().insert("added");
        let back = req.to_http().unwrap();
        assert_eq!(back.extensions().get::<u8>(), Some(&7));
        assert_eq!(back.extensions().get::<&str>(), Some(&"added"));
    }
}
