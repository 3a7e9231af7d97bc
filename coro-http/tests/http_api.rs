//! The handler API over real connections: typed query and form decoding,
//! the router's shared state and per-request extensions, the error hook
//! shaping every error response (the server's own refusals included, which
//! are logged at debug level), `?` on `io::Error` in handlers, and
//! responses built on another thread.

mod util;

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coro_http::{
    Error, ErrorContext, HeaderName, HeaderValue, Limits, Next, Request, Response, Router,
    StatusCode, Timeouts,
};
use serde::Deserialize;

use util::{get, post, serve, serve_with};

// ---------------------------------------------------------------------------
// A logger that keeps what coro-http logs, for the debug lines of refusals.

struct Kept(Mutex<Vec<String>>);

impl log::Log for Kept {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target().starts_with("coro_http") {
            let line = format!("{} {}", record.level(), record.args());
            self.0.lock().unwrap().push(line);
        }
    }
    fn flush(&self) {}
}

static KEPT: Kept = Kept(Mutex::new(Vec::new()));

/// Installs the keeping logger (once for the binary).
fn keep_logs() {
    if log::set_logger(&KEPT).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// Whether a kept line has `level` and every one of `parts`.
fn logged(level: log::Level, parts: &[&str]) -> bool {
    let prefix = format!("{level} ");
    KEPT.0
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.starts_with(&prefix) && parts.iter().all(|p| l.contains(p)))
}

// ---------------------------------------------------------------------------
// Query and form.

#[derive(Debug, Deserialize)]
struct Search {
    q: String,
    #[serde(default)]
    page: u32,
    tag: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Login {
    user: String,
    remember: bool,
}

fn forms() -> Router {
    let mut r = Router::new();
    r.get(
        "/search",
        |req: &mut Request<'_>| -> Result<String, Error> {
            let s: Search = req.query_as()?;
            Ok(format!("q={} page={} tag={:?}", s.q, s.page, s.tag))
        },
    )
    .post("/login", |req: &mut Request<'_>| -> Result<String, Error> {
        let l: Login = req.form()?;
        Ok(format!("user={} remember={}", l.user, l.remember))
    });
    r
}

#[test]
fn a_query_decodes_into_a_struct() {
    let server = serve(forms());
    let mut client = server.connect();
    let r = client.request(get("/search?q=caf%C3%A9+au+lait&page=3"));
    assert_eq!(
        (r.status, r.text()),
        (200, "q=café au lait page=3 tag=None")
    );
    let r = client.request(get("/search?tag=x&q=a%26b"));
    assert_eq!(r.text(), "q=a&b page=0 tag=Some(\"x\")");
}

#[test]
fn a_query_that_does_not_fit_is_400_and_the_connection_stays_open() {
    let server = serve(forms());
    let mut client = server.connect();
    for target in ["/search", "/search?page=3", "/search?q=a&page=many"] {
        let r = client.request(get(target));
        assert_eq!(r.status, 400, "{target}");
        assert!(r.text().contains("query"), "{target}: {}", r.text());
    }
    client.assert_serves();
}

#[test]
fn a_form_body_decodes_and_another_media_type_is_415() {
    let server = serve(forms());
    let mut client = server.connect();
    let body = "user=J%C3%BCrgen+K&remember=true";
    let r = client.request(format!(
        "POST /login HTTP/1.1\r\nHost: test\r\n\
         Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!((r.status, r.text()), (200, "user=Jürgen K remember=true"));
    let r = client.request(post("/login", body));
    assert_eq!(r.status, 415);
    assert!(r.text().contains("application/x-www-form-urlencoded"));
    let bad = "user=x&remember=perhaps";
    let r = client.request(format!(
        "POST /login HTTP/1.1\r\nHost: test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{bad}",
        bad.len()
    ));
    assert_eq!(r.status, 400);
}

// ---------------------------------------------------------------------------
// State and extensions.

struct Counter(AtomicUsize);

#[derive(Clone)]
struct RequestId(u64);

#[test]
fn handlers_and_middleware_reach_the_state_and_middleware_hands_extensions_on() {
    let mut r = Router::new();
    r.state(Counter(AtomicUsize::new(0)))
        .state(String::from("shared text"));
    r.wrap(|req: &mut Request<'_>, next: Next<'_>| -> Response {
        let n = req.state::<Counter>().0.fetch_add(1, Ordering::SeqCst) as u64;
        req.extensions_mut().insert(RequestId(n + 100));
        next.run(req)
    });
    r.get("/", |req: &mut Request<'_>| {
        let id = req.extensions().get::<RequestId>().map_or(0, |id| id.0);
        let count = req.state::<Counter>().0.load(Ordering::SeqCst);
        let missing = req.try_state::<Vec<u8>>().is_none();
        format!(
            "{} id={id} count={count} missing={missing}",
            req.state::<String>()
        )
    });
    let server = serve(r);
    let mut client = server.connect();
    assert_eq!(
        client.request(get("/")).text(),
        "shared text id=100 count=1 missing=true"
    );
    // A new request starts with no extensions of the one before.
    assert_eq!(
        client.request(get("/")).text(),
        "shared text id=101 count=2 missing=true"
    );
}

#[test]
fn state_and_extensions_reach_a_request_from_http_through_handle() {
    let mut r = Router::new();
    r.state(7u32);
    r.get("/", |req: &mut Request<'_>| {
        let seen = req.extensions().get::<RequestId>().map_or(0, |id| id.0);
        format!("{} {seen}", req.state::<u32>())
    });
    let mut http = http::Request::get("/").body(Vec::new()).unwrap();
    http.extensions_mut().insert(RequestId(9));
    let mut req = Request::from_http(http).unwrap();
    let resp = r.handle(&mut req);
    assert_eq!(resp.body_bytes(), Some(&b"7 9"[..]));
}

#[test]
fn a_missing_state_panics_naming_the_type_and_how_to_add_it() {
    let mut r = Router::new();
    r.get("/", |req: &mut Request<'_>| {
        req.state::<Counter>().0.load(Ordering::SeqCst).to_string()
    });
    let resp = catch(|| {
        r.handle(
            &mut Request::from_http(http::Request::get("/").body(Vec::new()).unwrap()).unwrap(),
        )
    });
    let message = resp.expect_err("a missing state panics");
    assert!(
        message.contains("Counter") && message.contains("Router::state"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// The error hook and the server's refusals.

/// A router whose hook answers JSON and counts what it saw.
fn json_errors(seen: &Arc<Mutex<Vec<String>>>) -> Router {
    let mut r = Router::new();
    let log = Arc::clone(seen);
    r.on_error(move |cx: &ErrorContext<'_>| {
        log.lock().unwrap().push(format!(
            "{} {} refusal={}",
            cx.status().as_u16(),
            cx.path().unwrap_or("-"),
            cx.is_refusal()
        ));
        Response::text(format!("{{\"error\":{}}}", cx.status().as_u16()))
            .content_type(HeaderValue::from_static("application/json"))
            .status(StatusCode::OK)
    });
    r.wrap(|req: &mut Request<'_>, next: Next<'_>| -> Response {
        next.run(req).header(
            HeaderName::from_static("x-wrapped"),
            HeaderValue::from_static("1"),
        )
    });
    r.get("/", |_: &mut Request<'_>| "ok")
        .post("/", |_: &mut Request<'_>| "ok")
        .get("/fail", |_: &mut Request<'_>| Error::BadRequest("no good"))
        .get("/missing", |_: &mut Request<'_>| -> io::Result<Response> {
            Response::file(std::fs::File::open("/this/file/does/not/exist")?)
        })
        .get("/panic", |_: &mut Request<'_>| -> &'static str {
            panic!("the handler panics (on purpose, in a test)")
        })
        .post("/read", |req: &mut Request<'_>| {
            let _ = req.body_bytes();
            "read"
        });
    r
}

fn assert_json_error(r: &util::Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.text(), format!("{{\"error\":{status}}}"));
}

#[test]
fn the_hook_shapes_router_and_handler_errors_inside_middleware() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let server = serve(json_errors(&seen));
    let mut client = server.connect();
    for (request, status) in [
        (get("/nope"), 404),
        (get("/fail"), 400),
        (get("/missing"), 404),
        ("DELETE / HTTP/1.1\r\nHost: test\r\n\r\n".to_string(), 405),
    ] {
        let r = client.request(&request);
        assert_json_error(&r, status);
        // Shaped where it was made: the middleware's header is kept.
        assert_eq!(r.header("x-wrapped"), Some("1"), "{request}");
        if status == 405 {
            assert_eq!(r.header("allow"), Some("GET, POST, HEAD"));
        }
    }
    assert_eq!(client.request(get("/")).text(), "ok");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "404 /nope refusal=false",
            "400 /fail refusal=false",
            "404 /missing refusal=false",
            "405 / refusal=false",
        ]
    );
}

#[test]
fn the_servers_own_refusals_reach_the_hook_and_the_debug_log() {
    keep_logs();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let limits = Limits {
        max_body_bytes: 100,
        max_header_bytes: 1024,
        ..Limits::default()
    };
    let timeouts = Timeouts {
        header: Duration::from_millis(300),
        ..util::test_timeouts()
    };
    let server = serve_with(json_errors(&seen), |b| b.limits(limits).timeouts(timeouts));
    let refusals: [(&[u8], u16); 5] = [
        (
            b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 101\r\n\r\n",
            413,
        ),
        (
            b"GET /two-hosts HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            400,
        ),
        (b"GET / HTTP/1.1\r\nHost: test\r\nX-Big: ", 431),
        (b"GET / HTTP/1.1\r\nHost: te", 408),
        (b"GET /panic HTTP/1.1\r\nHost: test\r\n\r\n", 500),
    ];
    for (bytes, status) in refusals {
        let mut client = server.connect();
        if status == 431 {
            let mut head = bytes.to_vec();
            head.extend(std::iter::repeat_n(b'a', 2048));
            client.send(head);
        } else {
            client.send(bytes);
        }
        let r = client.response();
        assert_json_error(&r, status);
        assert!(r.says_close());
        // No middleware saw it.
        assert_eq!(r.header("x-wrapped"), None);
        client.assert_closed();
    }
    // A body that breaks after the handler read it: 413 past the limit.
    let mut client = server.connect();
    client.send(
        "POST /read HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
         c8\r\n"
            .to_string()
            + &"x".repeat(200)
            + "\r\n0\r\n\r\n",
    );
    let r = client.response();
    assert_json_error(&r, 413);
    client.assert_closed();

    let seen = seen.lock().unwrap().clone();
    for line in [
        "413 - refusal=true",
        "400 - refusal=true",
        "431 - refusal=true",
        "408 - refusal=true",
        "500 /panic refusal=true",
        "413 /read refusal=true",
    ] {
        assert!(seen.iter().any(|s| s == line), "{line} not in {seen:?}");
    }
    for status in ["413", "400", "431", "408"] {
        assert!(
            logged(log::Level::Debug, &["refused", status]),
            "no debug line for {status}"
        );
    }
    assert!(logged(log::Level::Debug, &["refused", "POST /read", "413"]));
}

#[test]
fn without_a_hook_refusals_keep_their_text_bodies() {
    let server = serve_with(forms(), |b| {
        b.limits(Limits {
            max_body_bytes: 10,
            ..Limits::default()
        })
    });
    let mut client = server.connect();
    client.send("POST /login HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\n");
    let r = client.response();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.text(), "the request body is larger than the limit\n");
}

#[test]
fn middleware_sees_the_cause_of_an_error_response() {
    let mut r = Router::new();
    r.wrap(|req: &mut Request<'_>, next: Next<'_>| -> Response {
        let resp = next.run(req);
        let cause = resp.error().map_or("none".to_string(), |e| e.to_string());
        resp.header(
            HeaderName::from_static("x-cause"),
            HeaderValue::from_str(&cause).unwrap(),
        )
    });
    r.get("/", |_: &mut Request<'_>| "fine");
    let handle = |uri: &str| {
        r.handle(
            &mut Request::from_http(http::Request::get(uri).body(Vec::new()).unwrap()).unwrap(),
        )
    };
    let cause = |resp: &Response| {
        resp.header_value(&HeaderName::from_static("x-cause"))
            .unwrap()
            .clone()
    };
    assert_eq!(cause(&handle("/")), "none");
    assert_eq!(cause(&handle("/zzz")), "not found");
}

// ---------------------------------------------------------------------------
// `?` on io::Error and other errors.

fn failing(kind: io::ErrorKind) -> io::Result<&'static str> {
    Err(io::Error::new(kind, "secret detail /etc/shadow"))
}

#[test]
fn io_errors_answer_404_403_and_500_without_their_text() {
    keep_logs();
    let mut r = Router::new();
    r.get("/open", |_: &mut Request<'_>| -> io::Result<Response> {
        Response::file(std::fs::File::open("/no/such/file/here")?)
    })
    .get("/denied", |_: &mut Request<'_>| {
        failing(io::ErrorKind::PermissionDenied)
    })
    .get("/other", |_: &mut Request<'_>| {
        failing(io::ErrorKind::Other)
    })
    .get(
        "/through-error",
        |_: &mut Request<'_>| -> Result<&'static str, Error> {
            Ok(failing(io::ErrorKind::NotFound)?)
        },
    )
    .get(
        "/boxed",
        |_: &mut Request<'_>| -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
            let n: u32 = "not a number".parse()?;
            Ok(n.to_string())
        },
    )
    .get(
        "/boxed-io",
        |_: &mut Request<'_>| -> Result<&'static str, Box<dyn std::error::Error + Send + Sync>> {
            Ok(failing(io::ErrorKind::PermissionDenied)?)
        },
    )
    .get(
        "/boxed-ours",
        |_: &mut Request<'_>| -> Result<&'static str, Box<dyn std::error::Error>> {
            Err(Box::new(Error::BadRequest("ours")))
        },
    );
    let server = serve(r);
    let mut client = server.connect();
    for (path, status, body) in [
        ("/open", 404, "Not Found\n"),
        ("/denied", 403, "Forbidden\n"),
        ("/other", 500, "Internal Server Error\n"),
        ("/through-error", 404, "Not Found\n"),
        ("/boxed", 500, "Internal Server Error\n"),
        ("/boxed-io", 403, "Forbidden\n"),
        ("/boxed-ours", 400, "bad request: ours\n"),
    ] {
        let r = client.request(get(path));
        assert_eq!((r.status, r.text()), (status, body), "{path}");
    }
    // Kept open: these are answers, not broken connections.
    client.assert_serves();
    // The 500's cause is logged, not sent.
    assert!(logged(log::Level::Error, &["secret detail"]));
}

// ---------------------------------------------------------------------------
// Responses built elsewhere.

#[test]
fn a_response_built_on_another_thread_is_served() {
    let mut r = Router::new();
    r.get("/thread", |_: &mut Request<'_>| {
        std::thread::spawn(|| {
            Response::stream(|out: &mut dyn Write| {
                out.write_all(b"from ")?;
                out.write_all(b"a thread")
            })
        })
        .join()
        .unwrap()
    })
    .get("/reader", |_: &mut Request<'_>| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let body =
                coro_http::Body::from_reader(io::Cursor::new(b"read elsewhere".to_vec()), None);
            tx.send(Response::new(StatusCode::OK).body(body)).unwrap();
        });
        rx.recv().unwrap()
    });
    let server = serve(r);
    let mut client = server.connect();
    assert_eq!(client.request(get("/thread")).text(), "from a thread");
    assert_eq!(client.request(get("/reader")).text(), "read elsewhere");
}

// ---------------------------------------------------------------------------
// Patterns.

/// Runs `f`, which may panic: its value, or the panic's message.
fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn route_panic(pattern: &str) -> String {
    let mut r = Router::new();
    catch(|| {
        r.get(pattern, |_: &mut Request<'_>| "x");
    })
    .expect_err(pattern)
}

#[test]
fn patterns_that_never_match_are_refused_with_what_to_write() {
    for (pattern, advice) in [
        ("", "write \"/\""),
        ("nosl", "write \"/nosl\""),
        ("/users/:id", "write \"/users/{id}\""),
        ("/files/*path", "write \"/files/{*path}\""),
        ("/{id}/{id}", "`id` appears twice"),
    ] {
        let message = route_panic(pattern);
        assert!(message.contains(advice), "{pattern:?}: {message}");
    }
}

#[test]
fn a_bad_pattern_panics_at_the_callers_line() {
    let here = std::sync::Arc::new(Mutex::new(None));
    let seen = Arc::clone(&here);
    let previous = std::panic::take_hook();
    let me = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == me {
            *seen.lock().unwrap() = info.location().map(|l| (l.file().to_string(), l.line()));
        }
    }));
    let mut r = Router::new();
    let line = line!() + 2;
    let result = catch(|| {
        r.post("/users/:id", |_: &mut Request<'_>| "x");
    });
    std::panic::set_hook(previous);
    assert!(result.is_err());
    let location = here.lock().unwrap().clone().expect("the panic's location");
    assert_eq!(location, (file!().to_string(), line));
}
