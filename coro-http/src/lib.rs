//! A fast, strict HTTP/1.1 server on coro: one coroutine per connection,
//! handlers in plain blocking style.
//!
//! ```
//! use std::io::{Read, Write};
//! use coro_http::{Request, Response, Router, Server};
//!
//! let mut router = Router::new();
//! router.get("/hello/{name}", |req: &mut Request<'_>| {
//!     Response::text(format!("Hello, {}!", req.param("name").unwrap()))
//! });
//! let server = Server::builder().bind("127.0.0.1:0").workers(1).build(router)?;
//! let addr = server.local_addrs()[0];
//! let stop = server.shutdown_handle();
//! let running = std::thread::spawn(move || server.run());
//!
//! let mut client = std::net::TcpStream::connect(addr)?;
//! client.write_all(b"GET /hello/coro HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
//! let mut answer = String::new();
//! client.read_to_string(&mut answer)?;
//! assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(answer.ends_with("\r\n\r\nHello, coro!"));
//!
//! stop.shutdown();
//! running.join().unwrap()?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # What a handler gets
//!
//! A handler is any `Fn(&mut Request) -> impl IntoResponse` (a
//! [`Response`], a string, a status, a `Result` of them, an
//! `http::Response`). It runs in its connection's coroutine, so it may
//! block on coro channels, locks, sleeps and sockets; only its own
//! connection waits. Path parameters ([`Request::param`]) come
//! percent-decoded (`/users/J%C3%BCrgen` binds `Jürgen`); the path itself
//! ([`Request::path`]) stays as sent. The request body is read on demand
//! ([`Request::body`], [`Request::body_bytes`]); reading it sends
//! `100 Continue` when the client asked for one.
//!
//! Beside that, a handler reaches:
//!
//! - the query and form bodies decoded into a `serde` type, with the
//!   `form` feature: `Request::query_as`, `Request::form` (axum's
//!   `Query` and `Form`, Go's `r.URL.Query()` and `r.FormValue`); JSON
//!   bodies with the `json` feature: `Request::json`, `Response::json`;
//! - the router's shared state, by type, with no `Arc` in each closure:
//!   [`Router::state`] and [`Request::state`] (axum's `State`);
//! - what middleware put in the request's extensions:
//!   [`Request::extensions`], [`Request::extensions_mut`] (axum's
//!   `Extension`, Go's `r.Context().Value`).
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use coro_http::{Next, Request, Response, Router};
//!
//! struct Hits(AtomicU64);
//! #[derive(Clone)]
//! struct RequestId(u64);
//!
//! let mut router = Router::new();
//! router.state(Hits(AtomicU64::new(0)));
//! router.wrap(|req: &mut Request<'_>, next: Next<'_>| -> Response {
//!     let id = req.state::<Hits>().0.fetch_add(1, Ordering::Relaxed);
//!     req.extensions_mut().insert(RequestId(id));
//!     next.run(req)
//! });
//! router.get("/", |req: &mut Request<'_>| {
//!     let id = req.extensions().get::<RequestId>().map_or(0, |r| r.0);
//!     format!("request {id}")
//! });
//! ```
//!
//! # Errors
//!
//! A handler may return a `Result`, so `?` works: with
//! [`Error`] (which `io::Error` converts into), `io::Result`, or
//! `Box<dyn std::error::Error + Send + Sync>` for anything. An `io::Error`
//! answers by its kind: not found 404, permission denied 403, anything
//! else 500, never with its text (it is logged); see [`Error`] for the
//! whole mapping.
//!
//! Every response made from an error goes through one hook,
//! [`Router::on_error`], which shapes its headers and body (JSON errors for
//! a JSON API): the router's 404 and 405, a handler's `Err`, and the
//! server's own refusals (a malformed head, 413 from `Content-Length`, 408,
//! 431, a handler's panic), which no middleware sees since no request was
//! routed. The refusals are logged at debug level, and the hook sees them
//! with [`ErrorContext::is_refusal`]. Middleware sees the cause of an error
//! response in [`Response::error`].
//!
//! A [`Response`] is `Send`, so it may be built on another thread or
//! coroutine and handed back.
//!
//! # Routes
//!
//! A pattern starts with `/`; `{name}` binds a segment, `{*name}` the rest
//! of the path. A pattern that could never match (`""`, `"users"`), the
//! older `/users/:id` and `/files/*path` syntax, and a name used twice
//! (`/{id}/{id}`) panic when routed, at the caller's line, with the
//! pattern to write instead.
//!
//! # Features
//!
//! - `json`: `Request::json` and `Response::json` (serde_json);
//! - `form`: `Request::query_as` and `Request::form`
//!   (serde_urlencoded).
//!
//! # Blocking work in a handler
//!
//! A handler that blocks its thread (`std::thread::sleep`, `std::fs`, a
//! blocking database driver, DNS through `std::net::ToSocketAddrs`, a long
//! computation) stalls every connection of its worker, not just its own.
//! Hand such work to [`coro::spawn_blocking`]: the handler's coroutine parks
//! until it is done, and the worker serves the others meanwhile.
//!
//! ```
//! use coro_http::{Request, Response, Router};
//!
//! let mut router = Router::new();
//! router.get("/report", |_: &mut Request<'_>| {
//!     // A blocking driver, file I/O or a CPU-heavy job, on a pool thread.
//!     let rows = coro::spawn_blocking(|| {
//!         std::fs::read_to_string("Cargo.toml").map(|t| t.lines().count())
//!     })
//!     .join();
//!     match rows {
//!         Ok(Ok(n)) => Response::text(format!("{n} lines")),
//!         _ => Response::text("unavailable"),
//!     }
//! });
//! ```
//!
//! What may block in this stack: `coro-net` sockets park, never block;
//! host names given to `coro_net` calls resolve on the blocking pool;
//! [`Builder::bind`] resolves with `std` when called, before the server
//! runs; [`Response::file`] and [`fs::ServeDir`] open their files on the
//! connection's worker, and the kernel sends them from the page cache with
//! `sendfile` (fast from the page cache, slow from a cold or remote disk:
//! open and read such files with `spawn_blocking`). A coroutine that runs longer than 10 ms without
//! suspending is reported with `log::warn!` (see
//! `coro::runtime::Builder::hog_threshold`).
//!
//! # Protocol
//!
//! HTTP/1.1 and 1.0 (a later 1.x, such as `HTTP/1.2`, is served as 1.1,
//! as RFC 9110 §2.5 asks): persistent connections (1.0 only when asked),
//! pipelining (every buffered request is answered, then one write sends
//! all the answers), `HEAD`, `Expect: 100-continue`, request bodies by
//! length or chunked, responses with a fixed, streamed (chunked) or file
//! body. `Date` and `Server` are added, and `Content-Length` is computed
//! from the body.
//!
//! Parsing is strict (RFC 9112): a malformed request line or field, a
//! missing or repeated `Host`, and every framing ambiguity used for request
//! smuggling are refused with the RFC's status (400, 413, 414, 431, 501,
//! 505; the body as the error hook shapes it) and the connection closes,
//! so nothing after them is served. A
//! request that is well framed but cannot be routed is answered and the
//! connection stays open: 404, 405, and 400 for a path parameter that does
//! not percent-decode, as for an error a handler returns. Such a refusal
//! never waits for a body nobody reads: when the body has not all arrived
//! with the head, the answer goes out at once and the connection closes.
//! See
//! [`Limits`] and [`Timeouts`] for the bounds on what a client may send
//! and how slowly. A handler that panics answers 500 and closes only its
//! connection.
//!
//! # Switching protocols: WebSocket and others
//!
//! A handler that answers [`Response::upgrade`] takes its connection
//! over once the `101 Switching Protocols` is sent: the closure runs in
//! the connection's coroutine with an [`Upgraded`] stream (`Read` +
//! `Write`), which reads first what the client sent behind the request.
//! With the `ws` feature, `ws::WebSocketUpgrade` checks a WebSocket
//! handshake (400 or 426 with what to send, if it is wrong) and hands the
//! closure a tungstenite WebSocket (axum's `WebSocketUpgrade`). WebSocket
//! endpoints and plain routes share a port:
//!
//! ```
//! # #[cfg(feature = "ws")] {
//! use coro_http::ws::{Rejection, WebSocketUpgrade};
//! use coro_http::{Request, Response, Router};
//!
//! let mut router = Router::new();
//! router.get("/", |_req: &mut Request<'_>| "a plain page");
//! router.get("/echo", |req: &mut Request<'_>| -> Result<Response, Rejection> {
//!     Ok(WebSocketUpgrade::from_request(req)?.on_upgrade(|mut ws| {
//!         while let Ok(msg) = ws.read() {
//!             if (msg.is_text() || msg.is_binary()) && ws.send(msg).is_err() {
//!                 break;
//!             }
//!         }
//!     }))
//! });
//! # }
//! ```
//!
//! A `Response::new(StatusCode::SWITCHING_PROTOCOLS)` with no closure,
//! or an upgrade to a request that did not ask for it, answers 500 and
//! logs why. At a graceful shutdown, an upgraded connection's read is
//! interrupted once (a WebSocket then sends a close frame with code 1001
//! and waits for the peer's), and the server waits for it within the
//! grace period. `examples/examples/chat.rs` is a chat room on these.
//!
//! # Running in production
//!
//! ```no_run
//! use coro_http::{Router, Server};
//!
//! # let router = Router::new();
//! let server = Server::builder()
//!     .bind("0.0.0.0:8080")
//!     .workers(4)                 // default: one per core
//!     .stack_size(512 * 1024)     // each connection's coroutine; default 256 KiB
//!     .max_connections(10_000)    // past it, new connections wait in the backlog
//!     .backlog(4096)              // the listen queue; default 1024
//!     .reuse_port(true)           // several processes on one port (README)
//!     .build(router)?;            // a port in use: "cannot listen on 0.0.0.0:8080: ..."
//! server.run_until_signal()?;     // graceful on SIGINT/SIGTERM
//! # std::io::Result::Ok(())
//! ```
//!
//! A handler that overflows its connection's stack aborts the process, as
//! any stack overflow does, with a message that names the coroutine, its
//! stack size and [`Builder::stack_size`].
//!
//! # Serving connections you accepted
//!
//! [`Server::connection_handle`] serves any byte stream that implements
//! [`Transport`] (coro-net's TCP and Unix sockets do) with the server's
//! router, limits and timeouts, as hyper's `serve_connection` does: from
//! your own listener, a Unix socket, an in-process pipe.
//! [`ConnectionHandle::serve`] runs the connection in the calling
//! coroutine (or thread) until it closes; the shutdown ends it as any of
//! the server's, through the transport's [`Closer`], and
//! [`Server::run`] waits for it. Handlers see the peer address you pass.
//!
//! # Signals
//!
//! [`Server::run_until_signal`] serves until the first `SIGINT` (Ctrl-C)
//! or `SIGTERM`, then shuts down gracefully and returns; a second signal
//! during the drain ends the process at once. It installs a signal
//! handler (through `signal-hook`) that writes to a pipe read by a thread
//! of the server's, so it works whichever thread the signal lands on and
//! whatever the threads' masks, and may be called after
//! [`Builder::build`] has started the workers. (`sigwait` would need the
//! signals blocked in every thread, set before the first starts: a
//! signal delivered to a thread that does not block it ends the process
//! with no drain.)
//!
//! To handle signals yourself instead, call [`ShutdownHandle::shutdown`]
//! from your handler's thread; and if you wait with `sigwait` or
//! `signalfd`, block the signals with `pthread_sigmask` in `main` *before*
//! `build` (and before anything else starts a thread, coro's default
//! runtime included): threads inherit the mask they are started with, so
//! signals blocked after `build` still reach the workers and kill the
//! process.
//!
//! # Logging
//!
//! coro-http logs through the [`log`](https://docs.rs/log) crate and
//! installs no logger: without one, every line is dropped. Install one in
//! `main` (`env_logger::init()`, or `tracing-subscriber` with its `log`
//! bridge). What it logs:
//!
//! * `error`: a handler that panicked (answered 500), a handler's 1xx
//!   answer, a 101 that cannot switch protocols (with how to upgrade), a
//!   response body that panicked, an upgraded connection's closure that
//!   panicked, a connection coroutine that could not start;
//! * `warn`: accept failures such as `EMFILE` (rate-limited: the first at
//!   once, then one line a second with a count, and one when accepts work
//!   again; the acceptor backs off from 5 ms to 1 s meanwhile), the signal
//!   that starts a shutdown, connections still open after the grace
//!   period, and each handler cut off then (`a handler still running at
//!   the end of the grace period was cut off: GET /long`);
//! * `debug`: accept errors that concern only the connection accepted, TLS
//!   handshakes that failed or timed out (`TLS handshake with
//!   127.0.0.1:50312 failed: ...`), and
//!   every request the server refuses by itself (malformed, too large, too
//!   slow), with its status.
//!
//! coro itself warns (`log::warn!`) about a coroutine that hogs its worker.
//!
//! # Features
//!
//! * `json`: `Request::json` and `Response::json`, through serde_json;
//! * `form`: `Request::query_as` and
//!   `Request::form`, through serde_urlencoded;
//! * `ws`: the `ws` module, WebSocket handshakes and sockets through
//!   tungstenite;
//! * `tls`: HTTPS through rustls (its `ring` provider), `Builder::bind_tls`
//!   with a `rustls::ServerConfig` per listener, beside plain listeners in
//!   one server; see `Timeouts::handshake`.
//!
//! docs.rs builds these docs with every feature, and marks each item with
//! the feature it needs.
//!
//! # Coming from another framework
//!
//! [`from_axum`] and [`from_net_http`] map each concept of axum and of Go's
//! `net/http` to its coro-http spelling.
//!
//! # Module map (of the source)
//!
//! Imports point one way: each module uses only those in the layers
//! below it (`.ci/module_cycles.py` checks it in CI). From the top:
//!
//! * the server: `server` (listeners, shutdown), `accept` (acceptors,
//!   the connection cap, accept errors), `tls` (handshakes, the `tls`
//!   feature), `signal` (SIGINT and SIGTERM), `trim` (the heap given
//!   back);
//! * a connection: `conn` (the per-connection loop), `upgrade`
//!   (switching protocols), `shared` (what every connection shares),
//!   `registry` (the open connections, as the shutdown sees them);
//! * the handler's side: `fs` (static files), `router`, `ws` (WebSocket), `error_hook` (the
//!   responses made from errors), `request`, `response`, `upgraded` (the
//!   stream a 101 hands over), `encode` (writing responses), `body`
//!   (request bodies), `params` (percent-decoded path parameters),
//!   `state` (the router's shared state), `pattern` (route patterns
//!   checked);
//! * bytes: `io` (a connection's buffers), `link` (its stream: TCP, TLS
//!   or boxed), `tls_stream` (a TLS session), `transport` (streams the
//!   program accepted), `parse` (strict head parsing), `chunked` (the
//!   chunked decoder), `authority` (the `Host` grammar), `date`,
//!   `head_cache` (the last response head reused), `config`, `error`.
//!
//! `fuzzing` (hidden) is what the fuzz targets in `coro-http/fuzz` and
//! the corpus replay test call.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod accept;
mod authority;
mod body;
mod chunked;
mod config;
mod conn;
mod date;
mod encode;
mod error;
mod error_hook;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
mod head_cache;
mod io;
mod link;
mod params;
mod parse;
mod pattern;
mod registry;
mod request;
mod response;
mod router;
mod server;
mod shared;
mod signal;
mod state;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
mod tls_stream;
mod transport;
mod trim;
mod upgrade;
mod upgraded;
#[cfg(feature = "ws")]
#[cfg_attr(docsrs, doc(cfg(feature = "ws")))]
pub mod ws;

pub use config::{IdleWait, Limits, Timeouts};
pub use error::Error;
pub use error_hook::{ErrorContext, ErrorHook};
pub use request::{BodyReader, Request};
pub use response::{Body, IntoResponse, Response};
pub use router::{Handler, Middleware, Next, Router};
pub use server::{Builder, ConnectionHandle, Server, ShutdownHandle};
pub use transport::{Closer, Transport};
pub use upgraded::{Interrupter, Upgraded};

#[doc = include_str!("../docs/from-axum.md")]
pub mod from_axum {}

#[doc = include_str!("../docs/from-net-http.md")]
pub mod from_net_http {}

pub use http;
pub use http::{HeaderName, HeaderValue, Method, StatusCode};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
