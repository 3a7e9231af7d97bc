//! `UdpSocket`: datagram round trips, receive timeouts, and many coroutines
//! at once, under one worker and under four, and from a plain thread.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::thread;
use std::time::{Duration, Instant};

use coro_net::UdpSocket;

mod common;

use common::{on_runtimes, watchdog};

fn send_to_recv_from() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a_addr = a.local_addr().unwrap();
    let b_addr = b.local_addr().unwrap();

    let echo = coro::spawn(move || {
        let mut buf = [0; 64];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        b.send_to(&buf[..n], from).unwrap();
        from
    });
    assert_eq!(a.send_to(b"ping", b_addr).unwrap(), 4);
    let mut buf = [0; 64];
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from, b_addr);
    assert_eq!(echo.join().unwrap(), a_addr);
}

#[test]
fn udp_send_to_recv_from() {
    on_runtimes(send_to_recv_from);
}

fn connected() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());

    let echo = coro::spawn(move || {
        let mut buf = [0; 64];
        let n = b.peek(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        let n = b.recv(&mut buf).unwrap();
        b.send(&buf[..n]).unwrap();
    });
    a.send(b"hello").unwrap();
    let mut buf = [0; 64];
    let (n, from) = a.peek_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(from, a.peer_addr().unwrap());
    let n = a.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello");
    echo.join().unwrap();
}

#[test]
fn udp_connect_send_recv() {
    on_runtimes(connected);
}

fn recv_times_out() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let timeout = Duration::from_millis(50);
    s.set_read_timeout(Some(timeout)).unwrap();
    assert_eq!(s.read_timeout().unwrap(), Some(timeout));
    let start = Instant::now();
    let err = s.recv_from(&mut [0; 16]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= timeout);
}

#[test]
fn udp_recv_timeout() {
    on_runtimes(recv_times_out);
}

/// Client coroutines, each with its own socket, ping-pong with one echo
/// coroutine; one datagram in flight per client, so none is dropped.
fn many_coroutines() {
    const CLIENTS: usize = 64;
    const ROUNDS: usize = 20;

    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let server_addr = server.local_addr().unwrap();
    let echo = coro::spawn(move || {
        let mut buf = [0; 64];
        for _ in 0..CLIENTS * ROUNDS {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            coro::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.connect(server_addr).unwrap();
                let mut buf = [0; 64];
                for r in 0..ROUNDS {
                    let msg = format!("{c}:{r}");
                    s.send(msg.as_bytes()).unwrap();
                    let n = s.recv(&mut buf).unwrap();
                    assert_eq!(&buf[..n], msg.as_bytes());
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    echo.join().unwrap();
}

#[test]
fn udp_many_coroutines() {
    on_runtimes(many_coroutines);
}

/// A clone receives in one coroutine while the original sends in another.
fn cloned_halves() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b_addr = b.local_addr().unwrap();
    let a2 = a.try_clone().unwrap();
    let reader = coro::spawn(move || {
        let mut buf = [0; 16];
        let (n, _) = a2.recv_from(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    let echo = coro::spawn(move || {
        let mut buf = [0; 16];
        let (n, from) = b.recv_from(&mut buf).unwrap();
        b.send_to(&buf[..n], from).unwrap();
    });
    a.send_to(b"clone", b_addr).unwrap();
    echo.join().unwrap();
    assert_eq!(reader.join().unwrap(), b"clone");
}

#[test]
fn udp_try_clone() {
    on_runtimes(cloned_halves);
}

/// Outside any coroutine the calls block the thread, as `std`'s do.
#[test]
fn udp_plain_thread() {
    watchdog("udp", || {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = b.local_addr().unwrap();
        let echo = thread::spawn(move || {
            let mut buf = [0; 64];
            let (n, from) = b.recv_from(&mut buf).unwrap();
            b.send_to(&buf[..n], from).unwrap();
        });
        a.send_to(b"thread", b_addr).unwrap();
        let mut buf = [0; 64];
        let (n, _) = a.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"thread");
        echo.join().unwrap();

        let timeout = Duration::from_millis(30);
        a.set_read_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        let err = a.recv_from(&mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= timeout);
    });
}

#[test]
fn udp_options() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_broadcast(true).unwrap();
    assert!(s.broadcast().unwrap());
    s.set_ttl(42).unwrap();
    assert_eq!(s.ttl().unwrap(), 42);
    assert!(s.take_error().unwrap().is_none());
    assert!(s.set_write_timeout(Some(Duration::ZERO)).is_err());
    assert_eq!(s.write_timeout().unwrap(), None);
    assert_eq!(
        s.peer_addr().unwrap_err().kind(),
        io::ErrorKind::NotConnected
    );
    let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let raw = std_socket.as_raw_fd();
    let wrapped = UdpSocket::try_from(std_socket).unwrap();
    assert_eq!(wrapped.as_raw_fd(), raw);
    assert_eq!(wrapped.as_fd().as_raw_fd(), raw);
}
