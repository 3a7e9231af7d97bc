//! Helpers shared by the HTTP behaviour tests.
//!
//! * [`serve`] / [`serve_with`] start a server on `127.0.0.1:0` on its own
//!   thread. The [`TestServer`] guard shuts it down and waits for
//!   [`Server::run`] to return when dropped, and fails the test if `run`
//!   does not return in time, so a stuck shutdown is a failure, not a hang.
//! * [`Client`] is a raw HTTP/1.1 client on a `std::net::TcpStream`: it
//!   writes exact bytes and reads exact responses (status line, fields, a
//!   body framed by `Content-Length`, chunked, or the close), strictly, so
//!   a framing mistake of the server fails the test. Every read has a
//!   timeout, so a test never hangs on a silent server. [`Client::over`]
//!   speaks through another stream on the socket (a TLS client's).
//! * [`Client::assert_closed`] and [`Client::assert_serves`] say whether
//!   the server closed the connection or keeps serving it. Neither guesses
//!   from silence: closed means the read returned end-of-stream or a
//!   reset, open means another request on the socket got its answer.
//!
//! Each test binary uses a different subset of these.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use coro_http::{Builder, ConnectionHandle, Router, Server, ShutdownHandle, Timeouts};

/// How long a client waits for the server's next bytes before the test
/// fails. Generous: only a bug takes anywhere near this long.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How long [`Server::run`] may take to return after a shutdown: the test
/// servers' grace period, the server's one second for force-closed
/// connections, and slack for a loaded CI machine.
pub const STOP_LIMIT: Duration = Duration::from_secs(15);

/// The timeouts of a test server unless a test sets its own: the defaults,
/// with a grace period short enough that a test left with a busy
/// connection still ends soon.
pub fn test_timeouts() -> Timeouts {
    Timeouts {
        grace: Duration::from_secs(3),
        ..Timeouts::default()
    }
}

/// A running server; dropping it shuts the server down and waits for
/// `run` to return.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    addrs: Vec<SocketAddr>,
    handle: ShutdownHandle,
    connections: ConnectionHandle,
    done: Option<mpsc::Receiver<io::Result<()>>>,
}

/// Starts a server for `router` with two workers and [`test_timeouts`].
pub fn serve(router: Router) -> TestServer {
    serve_with(router, |b| b)
}

/// Starts a server for `router`, its builder (already bound to
/// `127.0.0.1:0`, two workers, [`test_timeouts`]) adjusted by `configure`.
pub fn serve_with(router: Router, configure: impl FnOnce(Builder) -> Builder) -> TestServer {
    let builder = Server::builder()
        .bind("127.0.0.1:0")
        .workers(2)
        .timeouts(test_timeouts());
    let server = configure(builder).build(router).expect("build the server");
    let addrs = server.local_addrs();
    let addr = addrs[0];
    let handle = server.shutdown_handle();
    let connections = server.connection_handle();
    let (tx, done) = mpsc::channel();
    thread::Builder::new()
        .name(format!("server:{addr}"))
        .spawn(move || {
            let _ = tx.send(server.run());
        })
        .expect("spawn the server thread");
    TestServer {
        addr,
        addrs,
        handle,
        connections,
        done: Some(done),
    }
}

impl TestServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every address the server listens on, in the order bound (the
    /// first is [`addr`](Self::addr)).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle that shuts the server down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// A handle that serves connections the test accepted itself.
    pub fn connection_handle(&self) -> ConnectionHandle {
        self.connections.clone()
    }

    /// A new raw client connected to the server.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Waits for `run` to return (after a shutdown started elsewhere) and
    /// fails the test if it does not within [`STOP_LIMIT`] or fails.
    pub fn wait_stopped(&mut self) {
        let done = self.done.take().expect("the server is already stopped");
        match done.recv_timeout(STOP_LIMIT) {
            Ok(result) => result.expect("Server::run failed"),
            Err(_) => panic!("Server::run did not return within {STOP_LIMIT:?} of the shutdown"),
        }
    }

    /// Shuts the server down and waits for `run` to return.
    pub fn stop(mut self) {
        self.handle.shutdown();
        self.wait_stopped();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(done) = self.done.take() else { return };
        self.handle.shutdown();
        let result = done.recv_timeout(STOP_LIMIT);
        if thread::panicking() {
            return;
        }
        match result {
            Ok(result) => result.expect("Server::run failed"),
            Err(_) => panic!("Server::run did not return within {STOP_LIMIT:?} of the shutdown"),
        }
    }
}

/// `GET path` on HTTP/1.1 with a `Host`.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// `POST path` on HTTP/1.1 with `body` framed by `Content-Length`.
pub fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The version in the status line, e.g. `HTTP/1.1`.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, decoded if it was chunked.
    pub body: Vec<u8>,
    /// For a chunked body, the size of each data chunk in order.
    pub chunks: Option<Vec<usize>>,
    /// For a body delimited by the close, true (the connection is closed).
    pub until_close: bool,
}

impl Response {
    /// The value of the only field `name` (any case); fails the test if it
    /// is repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers_named(name);
        let first = values.next();
        assert!(
            values.next().is_none(),
            "the field {name} is repeated in {:?}",
            self.headers
        );
        first
    }

    /// Every value of the field `name` (any case).
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("the body is not UTF-8")
    }

    /// The `Connection` field says `close`.
    pub fn says_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A stream a [`Client`] may speak through (a TLS client's, over the
/// socket).
pub trait Wire: Read + Write + Send + std::fmt::Debug {}
impl<T: Read + Write + Send + std::fmt::Debug> Wire for T {}

/// A raw client on one connection.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    /// What the client reads and writes through, if not the socket.
    wire: Option<Box<dyn Wire>>,
    /// Bytes received and not yet parsed.
    buf: Vec<u8>,
    /// The server closed its side.
    eof: bool,
}

/// How a response read came out, when the test wants to look at failures.
#[derive(Debug)]
pub enum ReadOutcome {
    Response(Response),
    /// The server closed (end of stream or reset) before any byte of a
    /// response.
    Closed,
}

impl Client {
    /// Connects to `addr`, with [`READ_TIMEOUT`] on reads and writes.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, READ_TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            wire: None,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// A client that reads and writes through `wire`, a stream over
    /// `stream` (which it still shuts, for [`shutdown_write`](Self::shutdown_write)).
    pub fn over(stream: TcpStream, wire: impl Wire + 'static) -> Client {
        Client {
            stream,
            wire: Some(Box::new(wire)),
            buf: Vec::new(),
            eof: false,
        }
    }

    /// The client's stream: the wire if it has one, else the socket.
    fn io(&mut self) -> &mut dyn Wire {
        match &mut self.wire {
            Some(wire) => &mut **wire,
            None => &mut self.stream,
        }
    }

    /// The socket, for tests that need it (e.g. to shut its write side).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Writes exactly `bytes`.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.io()
            .write_all(bytes.as_ref())
            .expect("write to the server");
    }

    /// Writes `bytes`, returning the error if the server already closed.
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> io::Result<()> {
        self.io().write_all(bytes.as_ref())
    }

    /// Sends `request` and reads its response.
    pub fn request(&mut self, request: impl AsRef<[u8]>) -> Response {
        self.send(request);
        self.response()
    }

    /// Reads the next response (to anything but `HEAD`).
    pub fn response(&mut self) -> Response {
        match self.read_response(false) {
            ReadOutcome::Response(r) => r,
            ReadOutcome::Closed => panic!("the server closed the connection instead of answering"),
        }
    }

    /// Reads the next response to a `HEAD` request: never a body.
    pub fn head_response(&mut self) -> Response {
        match self.read_response(true) {
            ReadOutcome::Response(r) => r,
            ReadOutcome::Closed => panic!("the server closed the connection instead of answering"),
        }
    }

    /// Reads the next response, or reports that the connection closed
    /// before one began.
    pub fn read_response(&mut self, to_head: bool) -> ReadOutcome {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill() {
                assert!(
                    self.buf.is_empty(),
                    "the connection closed inside a response head: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
                return ReadOutcome::Closed;
            }
        };
        let head: Vec<u8> = self.buf.drain(..head_end).collect();
        let head = String::from_utf8(head).expect("the response head is not UTF-8");
        let mut lines = head[..head.len() - 4].split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap().to_string();
        assert!(
            version == "HTTP/1.1",
            "bad status line {status_line:?} (the server speaks HTTP/1.1)"
        );
        let code = parts.next().unwrap_or("");
        assert!(
            code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()),
            "bad status code in {status_line:?}"
        );
        let status: u16 = code.parse().unwrap();
        let reason = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("bad field line {line:?}"));
            assert!(
                !name.is_empty() && !name.contains([' ', '\t']),
                "bad field name in {line:?}"
            );
            headers.push((name.to_string(), value.trim().to_string()));
        }
        let mut response = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            chunks: None,
            until_close: false,
        };
        let bodiless = to_head || (100..200).contains(&status) || status == 204 || status == 304;
        if bodiless {
            return ReadOutcome::Response(response);
        }
        let chunked = response
            .header("transfer-encoding")
            .map(|te| {
                assert!(
                    te.eq_ignore_ascii_case("chunked"),
                    "unexpected Transfer-Encoding {te:?}"
                );
                assert!(
                    response.header("content-length").is_none(),
                    "both Content-Length and Transfer-Encoding in a response"
                );
            })
            .is_some();
        if chunked {
            let (body, chunks) = self.read_chunked();
            response.body = body;
            response.chunks = Some(chunks);
        } else if let Some(len) = response.header("content-length") {
            let len: usize = len.parse().expect("a numeric Content-Length");
            response.body = self.take_exactly(len);
        } else {
            while self.fill() {}
            response.body = std::mem::take(&mut self.buf);
            response.until_close = true;
        }
        ReadOutcome::Response(response)
    }

    /// Reads whatever the server sends until it closes, without parsing
    /// it. Fails the test if the server does not close.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        while self.fill() {}
        std::mem::take(&mut self.buf)
    }

    /// Fails the test unless the server has closed the connection with
    /// nothing more to send: the next read must return end of stream or a
    /// reset, not data and not a timeout.
    pub fn assert_closed(&mut self) {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes after the last response: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        if self.eof {
            return;
        }
        let mut scratch = [0u8; 1024];
        match self.io().read(&mut scratch) {
            Ok(0) => self.eof = true,
            Ok(n) => panic!(
                "expected the connection to be closed, got more bytes: {:?}",
                String::from_utf8_lossy(&scratch[..n])
            ),
            Err(e) if is_reset(&e) => self.eof = true,
            Err(e) => panic!("expected the connection to be closed, but the read failed: {e}"),
        }
    }

    /// Fails the test unless the connection still serves requests: a
    /// request on it gets an answer (any status; the path need not exist).
    pub fn assert_serves(&mut self) {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes after the last response: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        assert!(!self.eof, "the server closed the connection");
        self.try_send(get("/__probe"))
            .expect("the connection is not open: the probe request could not be sent");
        match self.read_response(false) {
            ReadOutcome::Response(r) => assert!(r.status < 500, "the probe got {}", r.status),
            ReadOutcome::Closed => panic!("the connection is not open: the probe got no answer"),
        }
    }

    /// Shuts the client's write side: the server sees end of stream.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads more into the buffer; false at end of stream. Fails the test
    /// on a timeout or another error.
    fn fill(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.io().read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if is_reset(&e) => {
                self.eof = true;
                false
            }
            Err(e) if is_timeout(&e) => panic!(
                "no answer from the server within {READ_TIMEOUT:?}; have {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Err(e) => panic!("read from the server failed: {e}"),
        }
    }

    fn take_exactly(&mut self, len: usize) -> Vec<u8> {
        while self.buf.len() < len {
            assert!(
                self.fill(),
                "the connection closed {} bytes into a {len}-byte body",
                self.buf.len()
            );
        }
        self.buf.drain(..len).collect()
    }

    fn take_line(&mut self) -> String {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                break i;
            }
            assert!(self.fill(), "the connection closed inside a chunked body");
        };
        let line: Vec<u8> = self.buf.drain(..end + 2).collect();
        String::from_utf8(line[..end].to_vec()).expect("a chunk line is not UTF-8")
    }

    /// Decodes a chunked body strictly: sizes in hex, each chunk's data
    /// followed by CRLF, the last chunk, no trailers expected but allowed.
    fn read_chunked(&mut self) -> (Vec<u8>, Vec<usize>) {
        let mut body = Vec::new();
        let mut chunks = Vec::new();
        loop {
            let line = self.take_line();
            let size = line.split(';').next().unwrap();
            let size = usize::from_str_radix(size, 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
            if size == 0 {
                break;
            }
            let data = self.take_exactly(size + 2);
            assert_eq!(&data[size..], b"\r\n", "chunk data not followed by CRLF");
            body.extend_from_slice(&data[..size]);
            chunks.push(size);
        }
        while !self.take_line().is_empty() {}
        (body, chunks)
    }
}

/// Whether the connection still accepts and serves a new client at all:
/// false when the connect is refused or the connection closes unanswered.
pub fn accepts_requests(addr: SocketAddr) -> bool {
    let Ok(stream) = TcpStream::connect_timeout(&addr, READ_TIMEOUT) else {
        return false;
    };
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut client = Client {
        stream,
        wire: None,
        buf: Vec::new(),
        eof: false,
    };
    if client.try_send(get("/__probe")).is_err() {
        return false;
    }
    // A connection that sits in the backlog of a listener nobody accepts
    // from times out here; that too is a refusal.
    let mut first = [0u8; 1];
    match client.stream.read(&mut first) {
        Ok(1) => true,
        Ok(_) => false,
        Err(e) if is_reset(&e) || is_timeout(&e) => false,
        Err(e) => panic!("probe read failed: {e}"),
    }
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            // A TLS wire's: the socket closed without a `close_notify`.
            | io::ErrorKind::UnexpectedEof
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The valid request the strictness tests send right behind every refused
/// one (`GET /secret`, whose handler counts its hits).
pub const SMUGGLED: &str = "GET /secret HTTP/1.1\r\nHost: test\r\n\r\n";

/// Sends `request` followed by [`SMUGGLED`] to `server` in one write and
/// asserts: exactly one answer, with `status` and `Connection: close`; the
/// connection closed after it; `/secret` (counted by `hits`) never served.
pub fn assert_refused_on(server: &TestServer, hits: &AtomicUsize, request: &[u8], status: u16) {
    let mut client = server.connect();
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(SMUGGLED.as_bytes());
    client.send(&bytes);
    let response = client.response();
    assert_eq!(
        response.status,
        status,
        "wrong status for {:?}: {}",
        String::from_utf8_lossy(request),
        response.text()
    );
    assert!(response.says_close(), "an error response must say close");
    client.assert_closed();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the smuggled request was served"
    );
}

/// A chunked `POST /` with `body` as its chunked body, read by the handler.
pub fn chunked_post(body: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n{body}")
}
