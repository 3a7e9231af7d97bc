//! Name resolution off the worker: `lookup_host`, and the socket calls that
//! take a host name, resolve on the blocking pool from a coroutine; numeric
//! addresses skip it.

use std::io::{Read, Write};
use std::net::SocketAddr;

use coro_net::{lookup_host, TcpListener, TcpStream, UdpSocket};

mod common;

use common::watchdog;

/// The threads of this process named `name` (names are cut to 15 bytes).
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        // The kernel keeps the first 15 bytes of a thread's name.
        .filter(|comm| comm.trim_end() == &name[..name.len().min(15)])
        .count()
}

/// Runs `body` as a coroutine on a fresh runtime of `workers` workers named
/// `name`, under the watchdog, and returns how many blocking pool threads
/// it has afterwards (idle ones live on for the keep-alive, 10 s).
fn pool_threads_after(name: &'static str, workers: usize, body: fn()) -> usize {
    let (tx, rx) = std::sync::mpsc::channel();
    watchdog(name, move || {
        let rt = coro::runtime::Builder::new()
            .workers(workers)
            .thread_name(name)
            .build()
            .unwrap();
        rt.block_on(body);
        tx.send(threads_named(&format!("{name}-blocking"))).unwrap();
    });
    rx.recv().unwrap()
}

fn is_localhost(addrs: &[SocketAddr], port: u16) -> bool {
    !addrs.is_empty()
        && addrs
            .iter()
            .all(|a| a.port() == port && a.ip().is_loopback())
}

fn lookup_by_name() {
    let addrs: Vec<_> = lookup_host("localhost:4242").unwrap().collect();
    assert!(is_localhost(&addrs, 4242), "{addrs:?}");
    let addrs: Vec<_> = lookup_host(("localhost", 7)).unwrap().collect();
    assert!(is_localhost(&addrs, 7), "{addrs:?}");
    let err = lookup_host("localhost-without-a-port").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
}

#[test]
fn lookup_host_resolves_a_name_on_the_pool() {
    assert!(pool_threads_after("dnsname1", 1, lookup_by_name) >= 1);
    assert!(pool_threads_after("dnsname4", 4, lookup_by_name) >= 1);
}

fn numeric_only() {
    let a: Vec<_> = lookup_host("127.0.0.1:80").unwrap().collect();
    assert_eq!(a, ["127.0.0.1:80".parse::<SocketAddr>().unwrap()]);
    let b: Vec<_> = lookup_host(("::1", 80)).unwrap().collect();
    assert_eq!(b, ["[::1]:80".parse::<SocketAddr>().unwrap()]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    let _client = TcpStream::connect(("127.0.0.1", addr.port())).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.connect(addr.to_string()).unwrap();
}

#[test]
fn numeric_addresses_skip_the_pool() {
    assert_eq!(pool_threads_after("dnsnum1", 1, numeric_only), 0);
    assert_eq!(pool_threads_after("dnsnum4", 4, numeric_only), 0);
}

fn sockets_by_name() {
    let listener = TcpListener::bind("localhost:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = coro::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let target = format!("{}:{port}", "localhost");
    let mut c = TcpStream::connect(target.as_str()).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0; 4];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    server.join().unwrap();

    let a = UdpSocket::bind(("localhost", 0)).unwrap();
    let b = UdpSocket::bind("localhost:0").unwrap();
    let b_port = b.local_addr().unwrap().port();
    a.connect(("localhost", b_port)).unwrap();
    a.send(b"dgram").unwrap();
    let mut buf = [0; 8];
    let (n, _) = b.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"dgram");
}

#[test]
fn sockets_resolve_names_on_the_pool() {
    // One or more: a lookup that follows another may come before the
    // first one's thread is idle again, and start a second.
    assert!(pool_threads_after("dnssock1", 1, sockets_by_name) >= 1);
    assert!(pool_threads_after("dnssock4", 4, sockets_by_name) >= 1);
}
