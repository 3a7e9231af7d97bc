//! `Server::builder()` settings that concern the listener and the process:
//! the connection cap, `SO_REUSEPORT`, and the errors `build` gives for
//! what cannot work.
//!
//! What the kernel holds for a listening socket is read from
//! `/proc/net/tcp`: for a socket in `LISTEN`, `rx_queue` is the number of
//! connections waiting to be accepted.

mod util;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro_http::{Request, Router, Server};
use util::{get, serve_with, Client};

/// Longest wait for the kernel to show what a test waits for: only a bug
/// comes near it.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// How often the kernel's view is looked at while waiting.
const POLL: Duration = Duration::from_millis(5);

/// Connections made to two servers that share a port.
const CONNECTIONS_SPREAD: usize = 8;

fn hello() -> Router {
    let mut router = Router::new();
    router.get("/", |_: &mut Request<'_>| "hello");
    router
}

/// Connections waiting to be accepted on the listening socket on
/// `addr`'s port.
fn accept_queue(addr: SocketAddr) -> u64 {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let port = format!("{:04X}", addr.port());
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (local, state, queues) = (fields[1], fields[3], fields[4]);
        if state == "0A" && local.ends_with(&format!(":{port}")) {
            let (_, rx) = queues.split_once(':').expect("tx:rx");
            return u64::from_str_radix(rx, 16).expect("hex");
        }
    }
    panic!("no listening socket on {addr} in /proc/net/tcp");
}

/// Waits until `ready()`, failing the test after [`WAIT_LIMIT`].
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let end = Instant::now() + WAIT_LIMIT;
    while !ready() {
        assert!(Instant::now() < end, "never saw: {what}");
        std::thread::sleep(POLL);
    }
}

#[test]
fn binding_an_address_in_use_names_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Server::builder().bind(addr).build(hello()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    let message = err.to_string();
    assert!(
        message.contains(&addr.to_string()),
        "the error does not name {addr}: {message}"
    );
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let build = |b: coro_http::Builder| b.bind("127.0.0.1:0").build(hello()).unwrap_err();
    let zero_workers = build(Server::builder().workers(0));
    assert_eq!(zero_workers.kind(), io::ErrorKind::InvalidInput);
    assert!(zero_workers.to_string().contains("workers(0)"));
    let no_connections = build(Server::builder().max_connections(0));
    assert_eq!(no_connections.kind(), io::ErrorKind::InvalidInput);
    let huge_stack = build(Server::builder().stack_size(coro::MAX_STACK_SIZE + 1));
    assert_eq!(huge_stack.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn connections_past_the_cap_wait_in_the_backlog() {
    let released = Arc::new(AtomicBool::new(false));
    let mut router = Router::new();
    let seen = Arc::clone(&released);
    router.get("/", move |_: &mut Request<'_>| {
        if seen.load(Ordering::SeqCst) {
            "after the first closed"
        } else {
            "while the first was open"
        }
    });
    let server = serve_with(router, |b| b.max_connections(1));
    let mut first = server.connect();
    assert_eq!(first.request(get("/")).text(), "while the first was open");
    // The second is completed by the kernel and left in the backlog.
    let mut second = server.connect();
    second.send(get("/"));
    wait_until("the second connection queued in the backlog", || {
        accept_queue(server.addr()) == 1
    });
    // The first still serves, and the second gets its turn once the
    // first closes.
    assert_eq!(first.request(get("/")).text(), "while the first was open");
    released.store(true, Ordering::SeqCst);
    drop(first);
    assert_eq!(second.response().text(), "after the first closed");
    assert_eq!(accept_queue(server.addr()), 0);
}

#[test]
fn the_cap_does_not_keep_the_shutdown_waiting() {
    let server = serve_with(hello(), |b| b.max_connections(1));
    let mut only = server.connect();
    assert_eq!(only.request(get("/")).text(), "hello");
    // Every acceptor now waits for a place under the cap; the shutdown
    // must wake them (the guard fails the test if `run` does not return).
    drop(only);
    server.stop();
}

#[test]
fn reuse_port_lets_two_servers_share_an_address() {
    let a = serve_with(hello(), |b| b.reuse_port(true));
    let addr = a.addr();
    let refused = Server::builder().bind(addr).build(hello()).unwrap_err();
    assert_eq!(refused.kind(), io::ErrorKind::AddrInUse);
    let b = Server::builder()
        .bind(addr)
        .reuse_port(true)
        .workers(1)
        .build(hello())
        .expect("a second listener with SO_REUSEPORT");
    assert_eq!(b.local_addrs(), vec![addr]);
    let stop_b = b.shutdown_handle();
    let b = std::thread::spawn(move || b.run());
    // The kernel spreads the connections over both; every one is served.
    for _ in 0..CONNECTIONS_SPREAD {
        let mut client = Client::connect(addr);
        assert_eq!(client.request(get("/")).text(), "hello");
    }
    stop_b.shutdown();
    b.join().unwrap().unwrap();
}
