//! Routing: method and path to a handler, with path parameters, 404 and
//! 405, and middleware around every request.
//!
//! Paths are matched by `matchit` (a radix tree): `/users/{id}` binds one
//! segment, `/static/{*path}` the rest of the path. When a path matches but
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

use std::fmt;
use std::sync::Arc;

use http::header::{HeaderValue, ALLOW};
use http::{Method, StatusCode};

use crate::error::Error;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

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
        match self.layers.split_first() {
            Some((layer, rest)) => layer.call(
                req,
                Next {
                    layers: rest,
                    endpoint: self.endpoint,
                },
            ),
            None => match self.endpoint {
                Endpoint::Handler(h) => h.call(req),
                Endpoint::NotFound => Response::text("not found\n").status(StatusCode::NOT_FOUND),
                Endpoint::MethodNotAllowed(allow) => Response::text("method not allowed\n")
                    .status(StatusCode::METHOD_NOT_ALLOWED)
                    .header(ALLOW, allow),
                Endpoint::BadParam(error) => Response::for_error(&error),
            },
        }
    }
}

/// The routes of a server.
#[derive(Default)]
pub struct Router {
    tree: matchit::Router<usize>,
    routes: Vec<Route>,
    layers: Vec<Box<dyn Middleware>>,
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
    /// # Panics
    /// If the pattern is invalid or conflicts with another (a programming
    /// error, found at start-up), or the method is already routed there.
    pub fn route<H: Handler>(&mut self, method: Method, pattern: &str, handler: H) -> &mut Router {
        let index = match self.tree.at(pattern) {
            Ok(m) if self.routes[*m.value].pattern == pattern => *m.value,
            _ => {
                let index = self.routes.len();
                if let Err(e) = self.tree.insert(pattern, index) {
                    panic!("invalid route {pattern:?}: {e}");
                }
                self.routes.push(Route {
                    pattern: pattern.to_string(),
                    names: param_names(pattern),
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
    pub fn get<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::GET, pattern, handler)
    }

    /// Routes `POST`.
    pub fn post<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::POST, pattern, handler)
    }

    /// Routes `PUT`.
    pub fn put<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::PUT, pattern, handler)
    }

    /// Routes `DELETE`.
    pub fn delete<F, R>(&mut self, pattern: &str, handler: F) -> &mut Router
    where
        F: Fn(&mut Request<'_>) -> R + Send + Sync + 'static,
        R: IntoResponse,
    {
        self.route(Method::DELETE, pattern, handler)
    }

    /// Routes `PATCH`.
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

    /// Answers `req`: finds its route, binds the path parameters
    /// (percent-decoded; one that does not decode answers 400), and runs
    /// the middleware and the handler.
    pub fn handle(&self, req: &mut Request<'_>) -> Response {
        let endpoint = self.endpoint(req);
        Next {
            layers: &self.layers,
            endpoint,
        }
        .run(req)
    }

    fn endpoint(&self, req: &mut Request<'_>) -> Endpoint<'_> {
        let mut params = std::mem::take(&mut req.params);
        params.clear();
        let path = req.path();
        let path_at = req.path_range_start();
        let mut bad_param = None;
        let route = match self.tree.at(path) {
            Ok(m) => {
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
                        bad_param = Some(e);
                        break;
                    }
                }
                Some(route)
            }
            Err(_) => None,
        };
        req.params = params;
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
}

/// The `Allow` value for a route: its methods, and `HEAD` where `GET` is.
fn allow_value(route: &Route) -> HeaderValue {
    let mut names: Vec<&str> = route.methods.iter().map(|(m, _)| m.as_str()).collect();
    if names.contains(&"GET") && !names.contains(&"HEAD") {
        names.push("HEAD");
    }
    HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static(""))
}

/// The parameter names in a matchit pattern (`{id}`, `{*rest}`; `{{` and
/// `}}` are literal braces).
fn param_names(pattern: &str) -> Vec<Arc<str>> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if rest[open + 1..].starts_with('{') {
            rest = &rest[open + 2..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = rest[open + 1..open + close].trim_start_matches('*');
        names.push(Arc::from(name));
        rest = &rest[open + close + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

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
    #[should_panic(expected = "routed twice")]
    fn a_route_twice_panics() {
        let mut r = router();
        r.get("/", |_: &mut Request<'_>| "again");
    }
}
