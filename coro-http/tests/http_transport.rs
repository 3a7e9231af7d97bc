//! Connections the program accepted itself, served through
//! `Server::connection_handle` over any `Transport`: the same connection
//! loop as the server's own (keep-alive, pipelining, chunked bodies,
//! timeouts), the peer address the caller gave, the connection cap, and
//! the shutdown, which closes them idle through their `Closer`.

mod util;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro_http::{ConnectionHandle, IntoResponse, Request, Response, Router, Timeouts, Transport};

use util::{get, post, serve_with, Client, TestServer, READ_TIMEOUT};

fn router() -> Router {
    let mut router = Router::new();
    router.get("/peer", |req: &mut Request| {
        Response::text(format!("{:?}", req.remote_addr()))
    });
    router.post("/echo", |req: &mut Request| match req.body_bytes() {
        Ok(body) => Response::bytes(body),
        Err(e) => e.into_response(),
    });
    router
}

/// A listener of the test's own whose connections go to `handle`, each
/// served on a plain thread with `wrap` around its socket.
fn own_listener<T: Transport>(
    handle: ConnectionHandle,
    wrap: impl Fn(coro_net::TcpStream) -> T + Send + Sync + 'static,
) -> SocketAddr {
    let listener = coro_net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let wrap = Arc::new(wrap);
    thread::spawn(move || {
        while let Ok((stream, peer)) = listener.accept() {
            let handle = handle.clone();
            let wrap = Arc::clone(&wrap);
            thread::spawn(move || handle.serve(wrap(stream), Some(peer)));
        }
    });
    addr
}

fn served_by_hand(server: &TestServer) -> SocketAddr {
    own_listener(server.connection_handle(), |s| s)
}

#[test]
fn a_connection_served_by_hand_keeps_alive_pipelines_and_reads_chunked_bodies() {
    let server = serve_with(router(), |b| b);
    let addr = served_by_hand(&server);
    let mut client = Client::connect(addr);
    for _ in 0..3 {
        let r = client.request(post("/echo", "abc"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "abc");
    }
    // Two requests in one write: both answered, in order.
    client.send(format!("{}{}", post("/echo", "one"), post("/echo", "two")));
    assert_eq!(client.response().text(), "one");
    assert_eq!(client.response().text(), "two");
    let r = client.request(
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         7\r\nchunked\r\n5\r\n body\r\n0\r\n\r\n",
    );
    assert_eq!(r.text(), "chunked body");
    client.assert_serves();
}

#[test]
fn handlers_see_the_peer_the_caller_gave() {
    let server = serve_with(router(), |b| b);
    let addr = served_by_hand(&server);
    let mut client = Client::connect(addr);
    let me = client.stream().local_addr().unwrap();
    let r = client.request(get("/peer"));
    assert_eq!(r.text(), format!("{:?}", Some(me)));
}

#[test]
fn a_connection_served_by_hand_has_the_servers_header_timeout() {
    let timeouts = Timeouts {
        header: Duration::from_millis(200),
        ..util::test_timeouts()
    };
    let server = serve_with(router(), |b| b.timeouts(timeouts));
    let addr = served_by_hand(&server);
    let mut client = Client::connect(addr);
    client.send("GET /peer HTTP/1.1\r\nHost: x\r\n");
    let r = client.response();
    assert_eq!(r.status, 408);
    client.assert_closed();
}

#[test]
fn the_shutdown_closes_an_idle_connection_served_by_hand_and_run_returns() {
    let mut server = serve_with(router(), |b| b);
    let addr = served_by_hand(&server);
    let mut client = Client::connect(addr);
    assert_eq!(client.request(get("/peer")).status, 200);
    // Idle now, or about to be, in a thread of the test's: the shutdown
    // ends that wait through the socket's closer (a duplicate of its
    // descriptor; see the next test for the order made certain), and
    // nothing else could.
    server.shutdown_handle().shutdown();
    server.wait_stopped();
    client.assert_closed();
}

#[test]
fn after_the_shutdown_started_a_connection_handed_over_is_dropped_unserved() {
    let server = serve_with(router(), |b| b);
    let connections = server.connection_handle();
    server.shutdown_handle().shutdown();
    let (ours, theirs) = coro_net::UnixStream::pair().unwrap();
    connections.serve(theirs, None);
    let mut ours = ours;
    ours.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(ours.read(&mut buf).unwrap(), 0, "closed unserved");
}

#[test]
fn a_unix_socket_served_in_a_coroutine_gets_its_answers() {
    let server = serve_with(router(), |b| b);
    let connections = server.connection_handle();
    let (ours, theirs) = coro_net::UnixStream::pair().unwrap();
    let served = coro::spawn(move || connections.serve(theirs, None));
    let mut ours = std::os::unix::net::UnixStream::from(into_std(ours));
    ours.set_nonblocking(false).unwrap();
    ours.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    ours.write_all(post("/echo", "over unix").as_bytes())
        .unwrap();
    ours.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut all = Vec::new();
    ours.read_to_end(&mut all).unwrap();
    let all = String::from_utf8(all).unwrap();
    assert!(all.contains("\r\n\r\nover unix"), "{all}");
    assert!(all.ends_with("None"), "{all}");
    served.join().unwrap();
}

/// The socket of a coro-net Unix stream, for a plain blocking client.
fn into_std(stream: coro_net::UnixStream) -> std::os::fd::OwnedFd {
    use std::os::fd::AsFd;
    stream.as_fd().try_clone_to_owned().unwrap()
}

/// A transport that counts the reads it starts and its closer's calls.
struct Counted {
    inner: coro_net::TcpStream,
    reads: Arc<AtomicUsize>,
    shuts: Arc<AtomicUsize>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read(buf)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Counted {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout)
    }
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.inner.shutdown(Shutdown::Write)
    }
    fn closer(&self) -> Option<coro_http::Closer> {
        let shuts = Arc::clone(&self.shuts);
        let socket = Transport::closer(&self.inner)?;
        Some(coro_http::Closer::new(move |how| {
            shuts.fetch_add(1, Ordering::SeqCst);
            socket.shut(how);
        }))
    }
}

#[test]
fn a_users_transport_is_closed_through_its_own_closer() {
    let mut server = serve_with(router(), |b| b);
    let shuts = Arc::new(AtomicUsize::new(0));
    let reads = Arc::new(AtomicUsize::new(0));
    let (counted_shuts, counted_reads) = (Arc::clone(&shuts), Arc::clone(&reads));
    let addr = own_listener(server.connection_handle(), move |inner| Counted {
        inner,
        reads: Arc::clone(&counted_reads),
        shuts: Arc::clone(&counted_shuts),
    });
    let mut client = Client::connect(addr);
    assert_eq!(client.request(get("/peer")).status, 200);
    // The connection has gone idle once it starts its next read: only the
    // closer can end that wait now.
    while reads.load(Ordering::SeqCst) < 2 {
        thread::yield_now();
    }
    assert_eq!(shuts.load(Ordering::SeqCst), 0);
    server.shutdown_handle().shutdown();
    server.wait_stopped();
    client.assert_closed();
    assert_eq!(shuts.load(Ordering::SeqCst), 1, "shut once, as idle");
}

#[test]
fn connections_served_by_hand_leave_the_cap_to_the_servers_listeners() {
    let server = serve_with(router(), |b| b.max_connections(1));
    // The server's own connection holds its one place...
    let mut own = server.connect();
    assert_eq!(own.request(get("/peer")).status, 200);
    // ...and connections handed over are served beside it, and closing
    // them gives no place back that the listeners did not take.
    let addr = served_by_hand(&server);
    for _ in 0..3 {
        let mut by_hand = Client::connect(addr);
        assert_eq!(by_hand.request(get("/peer")).status, 200);
    }
    let mut second = server.connect();
    second.send(get("/peer"));
    second
        .stream()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 16];
    let waited = second.stream().read(&mut buf);
    assert!(
        matches!(&waited, Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut),
        "a second listener connection was served past the cap: {waited:?}"
    );
    drop(own);
    second
        .stream()
        .set_read_timeout(Some(READ_TIMEOUT))
        .unwrap();
    assert_eq!(second.response().status, 200);
}
