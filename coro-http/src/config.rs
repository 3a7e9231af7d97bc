//! A server's settings: limits and timeouts (what a client may send, and
//! how long it may take), and the [`Config`] every connection reads.
//!
//! The defaults are generous for real clients and small enough that a
//! hostile one cannot make the server allocate without bound: a connection
//! holds at most `max_header_bytes` of head, and a body is buffered whole
//! only up to `max_body_bytes`.

use std::time::Duration;

/// Size limits on a request. Each maps to its RFC 9112 status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version), and so the longest
    /// URI. Past it: 414. Default 16 KiB.
    pub max_request_line: usize,
    /// Largest header section, request line included. Past it: 431.
    /// Default 64 KiB.
    pub max_header_bytes: usize,
    /// Most header fields. Past it: 431. Default 100.
    pub max_headers: usize,
    /// Largest body: a larger `Content-Length` is refused at once, and a
    /// chunked body fails when it grows past it. 413. Default 8 MiB.
    pub max_body_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_request_line: 16 * 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Timeouts of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to receive a whole request head, from its first byte (or from
    /// the accept, for a connection's first request). Past it: 408 and the
    /// connection closes (slowloris). Default 10 s.
    pub header: Duration,
    /// Time a TLS connection has for its handshake, from the accept; past
    /// it the connection closes (a client that stalls mid-handshake costs
    /// a timer, not a worker). Used by TLS listeners only
    /// (`Builder::bind_tls`, the `tls` feature). Default 10 s.
    pub handshake: Duration,
    /// Time a keep-alive connection may wait idle for its next request
    /// before it is closed. Default 60 s.
    pub idle: Duration,
    /// Time one read of the body may wait for data; a stalled body closes
    /// the connection. Default 30 s.
    pub body: Duration,
    /// Time one write of the response may wait for the client to read.
    /// Default 30 s.
    pub write: Duration,
    /// How long [`ShutdownHandle::shutdown`](crate::ShutdownHandle::shutdown)
    /// lets in-flight requests finish before their connections are closed.
    /// Default 10 s.
    pub grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            header: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            body: Duration::from_secs(30),
            write: Duration::from_secs(30),
            grace: Duration::from_secs(10),
        }
    }
}

/// How a keep-alive connection waits for its next request
/// ([`Builder::idle_wait`](crate::Builder::idle_wait)).
///
/// A connection's coroutine never leaves the worker it started on, so a
/// connection parked in its coroutine is served on that worker, even while
/// the worker is busy with a long request and others are idle. Waiting
/// without a coroutine lets its next request start wherever it is seen
/// first (the other workers look at a stuck worker's sockets for it), at
/// the price of a coroutine start per request instead of a wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IdleWait {
    /// Without a coroutine while the runtime is congested (a worker ran a
    /// handler for a millisecond or more without a suspension within the
    /// last second, see [`coro::runtime_is_congested`]); parked in its
    /// coroutine otherwise, at no cost. The default.
    #[default]
    Adaptive,
    /// Always without a coroutine: request-level balancing whatever the
    /// load.
    Detached,
    /// Always parked in its coroutine, on the worker it started on.
    Parked,
}

/// What every connection of a server reads.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    /// `Server: <name>\r\n`, or empty for none.
    pub(crate) server_line: Vec<u8>,
    pub(crate) idle_wait: IdleWait,
    /// Stack size of connections' coroutines, if set.
    pub(crate) stack_size: Option<usize>,
}

impl Config {
    /// The builder of a connection's coroutine: its stack size, and the
    /// setting its overflow report names.
    pub(crate) fn connection_coroutine(&self) -> coro::Builder {
        let builder = coro::Builder::new().overflow_hint(STACK_SIZE_SETTING);
        match self.stack_size {
            Some(bytes) => builder.stack_size(bytes),
            None => builder,
        }
    }
}

/// What a connection coroutine's stack-overflow report tells the reader to
/// raise.
const STACK_SIZE_SETTING: &str = "coro_http::Builder::stack_size (the connections' stack)";
