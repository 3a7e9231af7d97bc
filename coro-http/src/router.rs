//! Routing: method and path to a handler, with path parameters, 404 and
//! 405, and middleware around every request.
//!
//! Paths are matched by `matchit` (a radix tree): `/users/{id}` binds one
//! segment, `/static/{*path}` the rest of the path. A pattern without
//! braces is also kept in a list sorted by length that every request looks
//! in first (a binary search by length and a comparison of bytes, against
//! the tree's walk and its parameter list): matchit prefers a static route to every
//! pattern with parameters, so a path that equals one is that route's
//! whatever else is routed. When a path matches but
//! no handler exists for the method, the answer is 405 with an `Allow`
//! field listing the methods that do; `HEAD` falls back to the `GET`
//! handler (the connection drops the body). Middleware wraps every request,
//! the 404s and 405s included, outermost first: each gets the request and a
//! [`Next`] that runs the rest of the chain.
//!
//! Path parameters are bound percent-decoded (see `params`): matching uses
//! the path as sent, so `%2F` inside a segment never splits it, and then
//! each captured value with a `%` is decoded. A value that does not decode
//! (a malformed escape, or bytes that are not UTF-8) answers `400 Bad
//! Request` in place of the handler, the way axum's `Path` rejects it: the
//! 405 of a route without the method comes first, since no handler would
//! have run, and middleware wraps the 400 as it wraps a 404. The request
//! is well framed, so the connection stays open, as it does after a 404 or
//! a handler's own 400 (a malformed head, by contrast, closes it: see
//! `parse` and `conn`).
//!
//! Patterns are checked when they are routed (see `pattern`): one that
//! could never match (`""`, `"users"`), the older `/users/:id` syntax, and
//! a parameter name used twice panic at once, with the pattern to write
//! instead, at the caller's line (`#[track_caller]` from [`Router::get`]
//! and the others down to the panic).
//!
//! A router also holds what every request may reach: shared state by type
//! ([`Router::state`], see `state`), and the error hook
//! ([`Router::on_error`], see `error_hook`) that shapes every response
//! made from an error.

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderValue, ALLOW};
use http::Method;

use crate::error::Error;
use crate::error_hook::{self, ErrorHook, Origin};
use crate::params::Params;
use crate::parse::Head;
use crate::pattern;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::state::{StateMap, StateRef};

/// Something that answers requests. Implemented for every
/// `Fn(&mut Request) -> impl IntoResponse`.
pub trait Handler: Send + Sync + 'static {
    /// Answers `req`.
    fn call(&self, req: &mut Request<'_>) -> Response;
}

impl<F, R> Handler for F
where
    F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, req: &mut Request<'_>) -> Response {
        self(req).into_response()
    }
}

/// Code that runs around every request: logging, authentication, headers.
/// Implemented for every `Fn(&mut Request, Next) -> Response`.
pub trait Middleware: Send + Sync + 'static {
    /// Answers `req`, usually by calling `next.run(req)` and adjusting
    /// its response.
    fn call(&self, req: &mut Request<'_>, next: Next<'_>) -> Response;
}

impl<F> Middleware for F
where
    F: Fn(&mut Request<'_>, Next<'_>) -> Response + Send + Sync + 'static,
{
    fn call(&self, req: &mut Request<'_>, next: Next<'_>) -> Response {
        self(req, next)
    }
}

/// The rest of the middleware chain, ending in the route's handler.
pub struct Next<'a> {
    layers: &'a [Box<dyn Middleware>],
    endpoint: Endpoint<'a>,
    on_error: Option<&'a dyn ErrorHook>,
}

impl fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next")
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}

enum Endpoint<'a> {
    Handler(&'a dyn Handler),
    NotFound,
    MethodNotAllowed(HeaderValue),
    /// The route and method match, but a path parameter does not decode.
    BadParam(Error),
}

impl Next<'_> {
    /// Runs the rest of the chain.
    pub fn run(self, req: &mut Request<'_>) -> Response {
        let on_error = self.on_error;
        let response = match self.layers.split_first() {
            Some((layer, rest)) => layer.call(
                req,
                Next {
                    layers: rest,
                    endpoint: self.endpoint,
                    on_error,
                },
            ),
            None => match self.endpoint {
                Endpoint::Handler(h) => h.call(req),
                Endpoint::NotFound => Response::for_error(Error::NotFound),
                Endpoint::MethodNotAllowed(allow) => {
                    // Shaped before `Allow` is added, so the hook's
                    // response keeps it.
                    let response = Response::for_error(Error::MethodNotAllowed);
                    shape(on_error, response, req).header(ALLOW, allow)
                }
                Endpoint::BadParam(error) => Response::for_error(error),
            },
        };
        // A response made from an error here (by the handler or by this
        // layer) is shaped once, before the layers outside see it.
        shape(on_error, response, req)
    }
}

/// `response` shaped by the error hook, if there is one and the response
/// was made from an error it has not shaped yet.
#[inline]
fn shape(on_error: Option<&dyn ErrorHook>, response: Response, req: &Request<'_>) -> Response {
    match on_error {
        Some(hook) if response.cause.is_some() => {
            let origin = Origin {
                method: Some(req.method()),
                path: Some(req.path()),
                remote_addr: req.remote_addr(),
                refusal: false,
            };
            error_hook::shape(hook, response, origin)
        }
        _ => response,
    }
}

/// The routes of a server.
#[derive(Default)]
pub struct Router {
    tree: matchit::Router<usize>,
    /// The patterns without braces and their routes, sorted by length
    /// (see the module docs).
    statics: Vec<(Box<str>, usize)>,
    routes: Vec<Route>,
    layers: Vec<Box<dyn Middleware>>,
    on_error: Option<Box<dyn ErrorHook>>,
    /// Shared with the requests of `Router::handle` that come without it.
    states: Arc<StateMap>,
}

struct Route {
    pattern: String,
    /// The parameter names of the pattern, shared with each request.
    names: Vec<Arc<str>>,
    methods: Vec<(Method, Box<dyn Handler>)>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for r in &self.routes {
            let methods: Vec<&str> = r.methods.iter().map(|(m, _)| m.as_str()).collect();
            list.entry(&format_args!("{} {}", methods.join(","), r.pattern));
        }
        list.finish()
    }
}

impl Router {
    /// An empty router: every request is 404.
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes `method` on `pattern` to `handler`.
    ///
    /// A pattern starts with `/`; `{name}` binds one segment and
    /// `{*name}` the rest of the path; `{{` and `}}` are literal braces.
    ///
    /// # Panics
    /// At the caller's line, if the pattern is invalid (a programming
    /// error, found at start-up): empty or without a leading `/` (it
    /// could never match), in the older `/users/:id` or `/static/*path`
    /// syntax, with a parameter name twice, or in conflict with another
    /// route; the message says what to write instead where it can. Also
    /// if the method is already routed there.
    #[track_caller]
    pub fn route<H: Handler>(&mut self, method: Method, pattern: &str, handler: H) -> &mut Router {
        // Found by its text, not through the tree: the tree matches paths,
        // and the path a pattern with `{{` stands for is not its text.
        let index = match self.routes.iter().position(|r| r.pattern == pattern) {
            Some(index) => index,
            None => {
                let names = match pattern::check(pattern) {
                    Ok(names) => names,
                    Err(why) => panic!("invalid route {pattern:?}: {why}"),
                };
                let index = self.routes.len();
                if let Err(e) = self.tree.insert(pattern, index) {
                    panic!("invalid route {pattern:?}: {e}");
                }
                if !pattern.contains(['{', '}']) {
                    let at = self
                        .statics
                        .partition_point(|(p, _)| p.len() <= pattern.len());
                    self.statics.insert(at, (pattern.into(), index));
                }
                self.routes.push(Route {
                    pattern: pattern.to_string(),
                    names,
                    methods: Vec::new(),
                });
                index
            }
        };
        let route = &mut self.routes[index];
        assert!(
            route.methods.iter().all(|(m, _)| *m != method),
            "{method} {pattern} is routed twice"
        );
        route.methods.push((method, Box::new(handler)));
        self
    }

    /// Routes `GET` (and so `HEAD`).
    #[track_caller]
    pub fn get<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::GET, pattern, handler)
    }

    /// Routes `POST`.
    #[track_caller]
    pub fn post<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::POST, pattern, handler)
    }

    /// Routes `PUT`.
    #[track_caller]
    pub fn put<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::PUT, pattern, handler)
    }

    /// Routes `DELETE`.
    #[track_caller]
    pub fn delete<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::DELETE, pattern, handler)
    }

    /// Routes `PATCH`.
    #[track_caller]
    pub fn patch<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::PATCH, pattern, handler)
    }

    /// Adds middleware around every request; the first added runs
    /// outermost.
    pub fn wrap<M: Middleware>(&mut self, middleware: M) -> &mut Router {
        self.layers.push(Box::new(middleware));
        self
    }

    /// Adds `value` to the router's shared state, replacing an earlier
    /// value of its type. Every request reaches it by type with
    /// [`Request::state`], so handlers need no `Arc` captured:
    ///
    /// ```
    /// use coro_http::{Request, Router};
    ///
    /// struct Greeting(String);
    ///
    /// let mut router = Router::new();
    /// router.state(Greeting("Hello".into()));
    /// router.get("/hi/{name}", |req: &mut Request<'_>| {
    ///     let greeting = &req.state::<Greeting>().0;
    ///     format!("{greeting}, {}!", req.param("name").unwrap_or("you"))
    /// });
    /// ```
    ///
    /// Interior mutability is the value's own: a `coro::sync::Mutex`, an
    /// atomic, a connection pool.
    pub fn state<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Router {
        Arc::make_mut(&mut self.states).insert(value);
        self
    }

    /// Sets the hook that makes the response for every error: the
    /// router's 404 and 405, a handler's `Err`, and the server's own
    /// refusals (408, 413, 431, a malformed request, ...), which no
    /// middleware sees. The hook shapes the headers and body; the status
    /// stays the error's. See [`ErrorContext`](crate::ErrorContext).
    ///
    /// ```
    /// use coro_http::{ErrorContext, Response, Router};
    ///
    /// let mut router = Router::new();
    /// router.on_error(|cx: &ErrorContext<'_>| {
    ///     Response::text(format!("{{\"error\":{}}}\n", cx.status().as_u16()))
    ///         .content_type(coro_http::HeaderValue::from_static("application/json"))
    /// });
    /// ```
    pub fn on_error<H: ErrorHook>(&mut self, hook: H) -> &mut Router {
        self.on_error = Some(Box::new(hook));
        self
    }

    /// Answers `req`: finds its route, binds the path parameters
    /// (percent-decoded; one that does not decode answers 400), and runs
    /// the middleware and the handler.
    pub fn handle(&self, req: &mut Request<'_>) -> Response {
        if matches!(req.states, StateRef::Unset) && !self.states.is_empty() {
            req.states = StateRef::Shared(Arc::clone(&self.states));
        }
        let endpoint = self.endpoint(req);
        Next {
            layers: &self.layers,
            endpoint,
            on_error: self.on_error.as_deref(),
        }
        .run(req)
    }

    /// The state requests on a connection borrow.
    pub(crate) fn states(&self) -> &StateMap {
        &self.states
    }

    /// The response for a request the server refuses by itself (see
    /// `error_hook`): logged at debug level, shaped by the error hook.
    /// `head` is the request's, when it was parsed.
    pub(crate) fn refusal(
        &self,
        error: Error,
        head: Option<&Head>,
        remote_addr: Option<std::net::SocketAddr>,
    ) -> Response {
        let method = head.map(|h| &h.method);
        let path = head.map(|h| h.str(&h.path));
        log::debug!(
            "refused {} {} from {}: {error} ({})",
            method.map_or("-", Method::as_str),
            path.unwrap_or("-"),
            remote_addr.map_or_else(|| "-".to_string(), |a| a.to_string()),
            error.status()
        );
        let response = Response::for_error(error);
        match &self.on_error {
            Some(hook) => {
                let origin = Origin {
                    method,
                    path,
                    remote_addr,
                    refusal: true,
                };
                error_hook::shape(&**hook, response, origin)
            }
            None => response,
        }
    }

    /// The route of the static pattern equal to `path`, if one is routed:
    /// a binary search by length, then the bytes of the few patterns of
    /// that length (one comparison of bytes where a search by bytes would
    /// make two).
    fn static_route(&self, path: &str) -> Option<usize> {
        let start = self.statics.partition_point(|(p, _)| p.len() < path.len());
        self.statics[start..]
            .iter()
            .take_while(|(p, _)| p.len() == path.len())
            .find(|(p, _)| p.as_bytes() == path.as_bytes())
            .map(|&(_, route)| route)
    }

    fn endpoint(&self, req: &mut Request<'_>) -> Endpoint<'_> {
        // Filled in place: a request's parameters keep their memory from
        // request to request on a connection, and none is moved or dropped.
        let (path, path_at, params) = req.route_parts();
        params.clear();
        let mut bad_param = None;
        let route = if let Some(index) = self.static_route(path) {
            Some(&self.routes[index])
        } else {
            self.matched(path, path_at, params, &mut bad_param)
        };
        let Some(route) = route else {
            return Endpoint::NotFound;
        };
        let method = req.method();
        let find = |m: &Method| route.methods.iter().find(|(rm, _)| rm == m);
        let found = find(method).or_else(|| {
            (*method == Method::HEAD)
                .then(|| find(&Method::GET))
                .flatten()
        });
        match (found, bad_param) {
            (Some(_), Some(error)) => Endpoint::BadParam(error),
            (Some((_, h)), None) => Endpoint::Handler(&**h),
            (None, _) => Endpoint::MethodNotAllowed(allow_value(route)),
        }
    }

    /// The route of `path` in the tree, with its parameters bound into
    /// `params` (or `bad_param` set to why one would not decode).
    fn matched(
        &self,
        path: &str,
        path_at: usize,
        params: &mut Params,
        bad_param: &mut Option<Error>,
    ) -> Option<&Route> {
        let m = self.tree.at(path).ok()?;
        let route = &self.routes[*m.value];
        let base = path.as_ptr() as usize;
        for (name, value) in m.params.iter() {
            let Some(name) = route.names.iter().find(|n| ***n == *name) else {
                continue;
            };
            let at = path_at + (value.as_ptr() as usize - base);
            if let Err(e) = params.bind(name, value, at) {
                // A request refused for a parameter has none.
                params.clear();
                *bad_param = Some(e);
                break;
            }
        }
        Some(route)
    }
}

/// The `Allow` value for a route: its methods, and `HEAD` where `GET` is.
fn allow_value(route: &Route) -> HeaderValue {
    let mut names: Vec<&str> = route.methods.iter().map(|(m, _)| m.as_str()).collect();
    if names.contains(&"GET") && !names.contains(&"HEAD") {
        names.push("HEAD");
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn request(method: &str, uri: &str) -> Request<'static> {
        Request::from_http(
            http::Request::builder()
                .method(method)
                .uri(uri)
                .body(Vec::new())
                .unwrap(),
        )
        .unwrap()
    }

    fn router() -> Router {
        let mut r = Router::new();
        r.get("/users/{id}", |req: &mut Request<'_>| {
            format!("user {}", req.param("id").unwrap())
        })
        .post("/users/{id}", |_: &mut Request<'_>| StatusCode::CREATED)
        .get("/static/{*path}", |req: &mut Request<'_>| {
            format!("file {}", req.param("path").unwrap())
        })
        .get("/", |_: &mut Request<'_>| "root");
        r
    }

    fn answer(r: &Router, method: &str, uri: &str) -> (u16, String, Option<String>) {
        let resp = r.handle(&mut request(method, uri));
        let allow = resp
            .header_value(&ALLOW)
            .map(|v| v.to_str().unwrap().to_string());
        let body = String::from_utf8(resp.body_bytes().unwrap().to_vec()).unwrap();
        (resp.status_code().as_u16(), body, allow)
    }

    #[test]
    fn a_path_equal_to_a_static_pattern_takes_its_route_over_every_parameter() {
        let mut r = Router::new();
        // Routed in an order that is not the sorted one, beside patterns
        // with parameters that match the same paths.
        let statics = [
            "/users/me",
            "/a",
            "/plaintext",
            "/users/all",
            "/b",
            "/json",
            "/",
        ];
        r.get("/{*rest}", |req: &mut Request<'_>| {
            format!("rest {}", req.param("rest").unwrap())
        })
        .get("/users/{id}", |req: &mut Request<'_>| {
            format!("user {}", req.param("id").unwrap())
        });
        for p in statics {
            r.get(p, move |req: &mut Request<'_>| {
                assert!(req.param("id").is_none() && req.param("rest").is_none());
                format!("static {p}")
            });
        }
        assert!(r.statics.windows(2).all(|w| w[0].0.len() <= w[1].0.len()));
        for p in statics {
            let route = r.static_route(p).expect("in the static list");
            assert_eq!(r.routes[route].pattern, p);
            assert_eq!(answer(&r, "GET", p).1, format!("static {p}"));
            assert_eq!(
                answer(&r, "GET", &format!("{p}?q=1")).1,
                format!("static {p}")
            );
        }
        // The list and the tree agree on every path, routed or a near miss.
        for p in statics
            .iter()
            .copied()
            .chain(["/jso", "/jsonx", "/js%6Fn", "/c", "/users/m"])
        {
            let by_tree = r.tree.at(p).ok().map(|m| *m.value);
            let by_list = r.static_route(p);
            assert!(
                by_list.is_none() || by_list == by_tree,
                "{p}: {by_list:?} against {by_tree:?}"
            );
            assert_eq!(by_list.is_some(), statics.contains(&p), "{p}");
        }
        assert_eq!(answer(&r, "GET", "/users/42").1, "user 42");
        assert_eq!(answer(&r, "GET", "/users/me/x").1, "rest users/me/x");
        assert_eq!(answer(&r, "GET", "/plaintext/").1, "rest plaintext/");
        assert_eq!(answer(&r, "GET", "/Plaintext").1, "rest Plaintext");
        // The same pattern routed again for another method keeps one entry.
        r.post("/json", |_: &mut Request<'_>| StatusCode::CREATED);
        assert_eq!(r.statics.len(), statics.len());
        assert_eq!(answer(&r, "POST", "/json").0, 201);
        assert_eq!(
            answer(&r, "DELETE", "/json").2.as_deref(),
            Some("GET, POST, HEAD")
        );
    }

    #[test]
    fn a_pattern_with_escaped_braces_takes_a_second_method() {
        let mut r = Router::new();
        r.get("/x{{y}}", |_: &mut Request<'_>| "get")
            .post("/x{{y}}", |_: &mut Request<'_>| "post");
        assert!(r.statics.is_empty());
        assert_eq!(r.routes.len(), 1);
        // The path it stands for, with its braces as sent.
        assert_eq!(answer(&r, "GET", "/x{y}").1, "get");
        assert_eq!(answer(&r, "POST", "/x{y}").1, "post");
    }

    #[test]
    fn parameters_and_catch_alls_bind() {
        let r = router();
        assert_eq!(answer(&r, "GET", "/users/42?x=1").1, "user 42");
        assert_eq!(
            answer(&r, "GET", "/static/css/site.css").1,
            "file css/site.css"
        );
        assert_eq!(answer(&r, "GET", "/").1, "root");
        assert_eq!(answer(&r, "POST", "/users/1").0, 201);
        assert_eq!(answer(&r, "HEAD", "/users/7").1, "user 7");
    }

    #[test]
    fn parameters_and_catch_alls_are_percent_decoded() {
        let r = router();
        assert_eq!(answer(&r, "GET", "/users/J%C3%BCrgen").1, "user Jürgen");
        assert_eq!(answer(&r, "GET", "/users/j%c3%bcrgen").1, "user jürgen");
        assert_eq!(answer(&r, "GET", "/users/a%2Fb").1, "user a/b");
        assert_eq!(answer(&r, "GET", "/users/a+b%20c").1, "user a+b c");
        assert_eq!(answer(&r, "GET", "/static/a%2Fb").1, "file a/b");
        assert_eq!(
            answer(&r, "GET", "/static/my%20docs/r%C3%A9sum%C3%A9.pdf").1,
            "file my docs/résumé.pdf"
        );
        assert_eq!(
            answer(&r, "GET", "/static/plain/file.txt").1,
            "file plain/file.txt"
        );
    }

    #[test]
    fn params_decode_every_value_and_the_path_stays_as_sent() {
        let mut r = Router::new();
        r.get("/{a}/{b}/{*rest}", |req: &mut Request<'_>| {
            let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}", req.path(), params.join("&"))
        });
        assert_eq!(
            answer(&r, "GET", "/x%41/plain/c%2Fd/e").1,
            "/x%41/plain/c%2Fd/e a=xA&b=plain&rest=c/d/e"
        );
    }

    #[test]
    fn a_parameter_that_does_not_decode_is_400_before_the_handler_runs() {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut r = router();
        let counted = Arc::clone(&calls);
        r.get("/count/{x}", move |_: &mut Request<'_>| {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            "ran"
        });
        for uri in [
            "/count/%zz",
            "/count/%4",
            "/count/a%",
            "/count/%%41",
            "/count/%FF",
            "/count/%C3",
            "/users/%C3%28",
            "/static/ok/%E2%82",
        ] {
            let (status, body, _) = answer(&r, "GET", uri);
            assert_eq!(status, 400, "{uri}");
            assert!(body.contains("path parameter"), "{uri}: {body}");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        // No handler for the method: 405 wins, as no handler would run.
        assert_eq!(answer(&r, "DELETE", "/users/%zz").0, 405);
        // No route: 404.
        assert_eq!(answer(&r, "GET", "/nope/%zz").0, 404);
    }

    #[test]
    fn middleware_wraps_a_bad_parameter_and_sees_no_parameters() {
        let mut r = router();
        r.wrap(|req: &mut Request<'_>, next: Next<'_>| {
            let seen = req.params().count().to_string();
            next.run(req).header(
                http::header::HeaderName::from_static("x-params"),
                HeaderValue::from_str(&seen).unwrap(),
            )
        });
        let resp = r.handle(&mut request("GET", "/users/%FF"));
        assert_eq!(resp.status_code(), 400);
        let seen = resp.header_value(&http::header::HeaderName::from_static("x-params"));
        assert_eq!(seen.map(|v| v.to_str().unwrap()), Some("0"));
    }

    #[test]
    fn a_missing_path_is_404_and_a_missing_method_405_with_allow() {
        let r = router();
        assert_eq!(answer(&r, "GET", "/nope").0, 404);
        let (status, _, allow) = answer(&r, "DELETE", "/users/1");
        assert_eq!(status, 405);
        assert_eq!(allow.as_deref(), Some("GET, POST, HEAD"));
    }

    #[test]
    fn middleware_wraps_in_order_and_sees_404s() {
        let mut r = router();
        r.wrap(|req: &mut Request<'_>, next: Next<'_>| {
            next.run(req).header(
                http::header::HeaderName::from_static("x-outer"),
                HeaderValue::from_static("1"),
            )
        });
        r.wrap(|req: &mut Request<'_>, next: Next<'_>| {
            if req.path() == "/blocked" {
                return Response::new(StatusCode::FORBIDDEN);
            }
            next.run(req)
        });
        let resp = r.handle(&mut request("GET", "/blocked"));
        assert_eq!(resp.status_code(), 403);
        assert!(resp
            .header_value(&http::header::HeaderName::from_static("x-outer"))
            .is_some());
        assert_eq!(r.handle(&mut request("GET", "/zzz")).status_code(), 404);
    }

    #[test]
    fn the_hook_shapes_a_405_and_keeps_its_allow_and_a_panicking_hook_the_default() {
        let mut r = router();
        r.on_error(|cx: &crate::ErrorContext<'_>| {
            assert!(!cx.is_refusal());
            format!("shaped {} {}", cx.status().as_u16(), cx.path().unwrap())
        });
        let (status, body, allow) = answer(&r, "DELETE", "/users/1");
        assert_eq!((status, &*body), (405, "shaped 405 /users/1"));
        assert_eq!(allow.as_deref(), Some("GET, POST, HEAD"));
        // A handler's error with its status overridden keeps that status.
        r.get("/teapot", |_: &mut Request<'_>| {
            (
                StatusCode::IM_A_TEAPOT,
                Error::BadRequest("short and stout"),
            )
        });
        assert_eq!(answer(&r, "GET", "/teapot").1, "shaped 418 /teapot");

        r.on_error(|_: &crate::ErrorContext<'_>| -> Response {
            panic!("the hook panics (on purpose, in a test)")
        });
        let resp = r.handle(&mut request("GET", "/nope"));
        assert_eq!(resp.status_code(), 404);
        assert_eq!(resp.body_bytes(), Some(&b"not found\n"[..]));
        assert!(matches!(resp.error(), Some(Error::NotFound)));
    }

    #[test]
    #[should_panic(expected = "routed twice")]
    fn a_route_twice_panics() {
        let mut r = router();
        r.get("/", |_: &mut Request<'_>| "again");
    }
}
