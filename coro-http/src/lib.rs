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
//! runs; [`Response::file`] reads its file on the connection's worker (fast
//! from the page cache, slow from a cold or remote disk: read such files
//! with `spawn_blocking`). A coroutine that runs longer than 10 ms without
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
//! 505) and the connection closes, so nothing after them is served. A
//! request that is well framed but cannot be routed is answered and the
//! connection stays open: 404, 405, and 400 for a path parameter that does
//! not percent-decode, as for an error a handler returns. See
//! [`Limits`] and [`Timeouts`] for the bounds on what a client may send
//! and how slowly. A handler that panics answers 500 and closes only its
//! connection.
//!
//! # Module map
//!
//! `server` (listeners, acceptors, shutdown), `conn` (the per-connection
//! loop), `parse` (strict head parsing), `chunked` (the chunked decoder),
//! `body` (request bodies), `request`, `params` (percent-decoded path
//! parameters), `response`, `encode` (writing responses), `router`,
//! `date`, `config`, `error`.

mod body;
mod chunked;
mod config;
mod conn;
mod date;
mod encode;
mod error;
mod io;
mod params;
mod parse;
mod request;
mod response;
mod router;
mod server;
mod trim;

pub use config::{IdleWait, Limits, Timeouts};
pub use error::Error;
pub use request::{BodyReader, Request};
pub use response::{Body, IntoResponse, Response};
pub use router::{Handler, Middleware, Next, Router};
pub use server::{Builder, Server, ShutdownHandle};

pub use http;
pub use http::{HeaderName, HeaderValue, Method, StatusCode};
