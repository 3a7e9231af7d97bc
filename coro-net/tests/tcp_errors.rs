//! TCP error paths: read/write/connect timeouts, half-close, peer reset,
//! and a parked reader woken by a shutdown from another coroutine.

#[macro_use]
mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use coro_net::{ListenOptions, TcpListener, TcpStream};

/// A connected pair on loopback: (client, server side).
fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// A read with nothing to read fails with `TimedOut` after the timeout; the
/// stream still works afterwards. The peer is kept open (not reading, not
/// writing) the whole time.
fn read_timeout() {
    let (mut client, mut server) = pair();
    let timeout = Duration::from_millis(200);
    client.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..2 {
        let start = Instant::now();
        let e = client.read(&mut buf).expect_err("read should time out");
        let elapsed = start.elapsed();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e:?}");
        assert!(
            elapsed >= timeout,
            "timed out early: {elapsed:?} < {timeout:?}"
        );
    }
    // peek honours the read timeout too.
    let start = Instant::now();
    let e = client.peek(&mut buf).expect_err("peek should time out");
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e:?}");
    assert!(start.elapsed() >= timeout);
    // Still usable: data that arrives later is read.
    server.write_all(b"late").unwrap();
    client.read_exact(&mut buf[..4]).unwrap();
    assert_eq!(&buf[..4], b"late");
    // A read that is satisfied within the timeout is not cut short by it.
    let writer = coro::spawn(move || {
        coro::sleep(Duration::from_millis(50));
        server.write_all(b"x").unwrap();
        server
    });
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(client.read(&mut buf).unwrap(), 1);
    drop(writer.join().unwrap());
}

/// Fills the send path while the peer does not read: a write then fails
/// with `TimedOut`, having waited at least the timeout.
fn write_timeout() {
    let (client, server) = pair();
    let timeout = Duration::from_millis(300);
    client.set_write_timeout(Some(timeout)).unwrap();
    let chunk = vec![0x5Au8; 256 * 1024];
    let mut total = 0usize;
    let err = loop {
        let start = Instant::now();
        match (&client).write(&chunk) {
            Ok(n) => {
                assert!(n > 0);
                total += n;
                assert!(
                    total < 1 << 30,
                    "wrote 1 GiB to a peer that never reads without a timeout"
                );
            }
            Err(e) => break (e, start.elapsed()),
        }
    };
    let (e, elapsed) = err;
    assert_eq!(
        e.kind(),
        io::ErrorKind::TimedOut,
        "{e:?} after {total} bytes"
    );
    assert!(
        elapsed >= timeout,
        "write timed out early: {elapsed:?} < {timeout:?}"
    );
    assert!(total > 0, "not even the first write went through");
    // Once the peer drains, writing works again: it reads everything in a
    // coroutine while we write one more chunk.
    let expect = total + chunk.len();
    let drainer = coro::spawn(move || {
        let mut server = server;
        let mut buf = vec![0u8; 256 * 1024];
        let mut got = 0;
        while got < expect {
            let n = server.read(&mut buf).unwrap();
            assert!(n > 0, "EOF after {got} of {expect}");
            assert!(buf[..n].iter().all(|&b| b == 0x5A));
            got += n;
        }
        got
    });
    client.set_write_timeout(None).unwrap();
    (&client).write_all(&chunk).unwrap();
    assert_eq!(drainer.join().unwrap(), expect);
}

/// Timeouts on a plain thread (the poll(2) path).
#[test]
fn timeouts_on_plain_thread() {
    common::watchdog("timeouts_on_plain_thread", || {
        let (client, _server) = pair();
        let timeout = Duration::from_millis(150);
        client.set_read_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        let e = (&client).read(&mut [0u8; 8]).expect_err("read timeout");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e:?}");
        assert!(start.elapsed() >= timeout);

        client.set_write_timeout(Some(timeout)).unwrap();
        let chunk = vec![1u8; 256 * 1024];
        let mut total = 0usize;
        loop {
            let start = Instant::now();
            match (&client).write(&chunk) {
                Ok(n) => {
                    total += n;
                    assert!(total < 1 << 30, "no write timeout after 1 GiB");
                }
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e:?}");
                    assert!(start.elapsed() >= timeout);
                    break;
                }
            }
        }
    });
}

/// `connect_timeout` gives up with `TimedOut` when the loopback listener's
/// accept queue is full (Linux then drops the SYN). Loopback only; if the
/// kernel never drops a SYN here, the timeout path is reported as not
/// exercised rather than failed.
fn connect_timeout_fires() {
    let opts = ListenOptions {
        backlog: 1,
        ..ListenOptions::default()
    };
    let listener = TcpListener::bind_with("127.0.0.1:0", opts).unwrap();
    let addr = listener.local_addr().unwrap();
    let timeout = Duration::from_millis(250);
    let mut held = Vec::new();
    for attempt in 0..32 {
        let start = Instant::now();
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => held.push(s),
            Err(e) => {
                let elapsed = start.elapsed();
                assert_eq!(
                    e.kind(),
                    io::ErrorKind::TimedOut,
                    "attempt {attempt}: {e:?}"
                );
                assert!(elapsed >= timeout, "gave up early: {elapsed:?}");
                // The listener still works once the queue is drained.
                drop(held);
                return;
            }
        }
    }
    eprintln!(
        "connect_timeout_fires: 32 connects to a backlog-1 listener all succeeded; \
         the timeout path was not exercised on this kernel"
    );
    drop(listener);
}

/// shutdown(Write): the peer reads the data, then 0, and can still write
/// back; the half-closed side reads that, then EOF.
fn half_close() {
    let (mut client, mut server) = pair();
    let peer = coro::spawn(move || {
        let mut got = Vec::new();
        server.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"request, then half-close");
        // Reading again at EOF keeps returning 0.
        assert_eq!(server.read(&mut [0u8; 4]).unwrap(), 0);
        server.write_all(b"reply after EOF").unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        server
    });
    client.write_all(b"request, then half-close").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    let e = client
        .write(b"more")
        .expect_err("write after shutdown(Write)");
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{e:?}");
    let mut back = Vec::new();
    client.read_to_end(&mut back).unwrap();
    assert_eq!(back, b"reply after EOF");
    drop(peer.join().unwrap());
}

/// Resets `stream` (SO_LINGER 0, then close).
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// After a read has seen the reset (error or EOF), writes must start to
/// fail within a bounded number of tries.
fn writes_eventually_fail(s: &TcpStream) {
    for _ in 0..100 {
        match (&*s).write(b"after reset") {
            Ok(n) => {
                assert!(n > 0);
                coro::sleep(Duration::from_millis(10));
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::NotConnected
                    ),
                    "unexpected write error after reset: {e:?}"
                );
                return;
            }
        }
    }
    panic!("100 writes after a peer reset all succeeded");
}

fn check_reset_read(r: io::Result<usize>) {
    match r {
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e:?}"),
        Ok(n) => assert_eq!(n, 0, "read {n} bytes from a reset connection"),
    }
}

/// The peer resets while a reader is parked: the read returns an error (or
/// EOF) promptly, not a hang; writes then fail.
fn peer_reset_wakes_parked_reader() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = coro::spawn(move || {
        let client = TcpStream::connect(addr).unwrap();
        // A generous backstop: hitting it would mean the reset was missed.
        client
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let r = (&client).read(&mut [0u8; 64]);
        if let Err(e) = &r {
            assert_ne!(e.kind(), io::ErrorKind::TimedOut, "reset not noticed");
        }
        check_reset_read(r);
        writes_eventually_fail(&client);
    });
    let (server, _) = listener.accept().unwrap();
    // Let the reader park first.
    coro::sleep(Duration::from_millis(100));
    reset(server);
    reader.join().expect("reader panicked");
}

/// The reset arrives before the read: still an error or EOF, then failing
/// writes. Also with unread data queued on the resetting side.
fn peer_reset_before_read() {
    let (client, mut server) = pair();
    (&client).write_all(b"unread by the server").unwrap();
    coro::sleep(Duration::from_millis(20));
    let mut b = [0u8; 4];
    server.read_exact(&mut b).unwrap();
    reset(server);
    coro::sleep(Duration::from_millis(50));
    check_reset_read((&client).read(&mut [0u8; 64]));
    writes_eventually_fail(&client);
}

/// A coroutine parked in `read` is woken with EOF or an error when another
/// coroutine calls `shutdown(Both)` on a `try_clone` of the stream.
fn shutdown_clone_wakes_parked_reader() {
    let (client, server) = pair();
    let closer = client.try_clone().unwrap();
    let reader = coro::spawn(move || {
        let mut client = client;
        let r = client.read(&mut [0u8; 64]);
        match r {
            Ok(0) => {}
            Ok(n) => panic!("read {n} bytes nobody sent"),
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{e:?}"),
        }
    });
    coro::sleep(Duration::from_millis(100));
    assert!(!reader.is_finished(), "reader did not park");
    closer.shutdown(Shutdown::Both).unwrap();
    reader.join().expect("reader panicked");
    drop(server);
}

/// The same with `shutdown(Read)` on a shared `&TcpStream`.
fn shutdown_read_wakes_parked_reader() {
    let (client, server) = pair();
    let client = Arc::new(client);
    let reader = {
        let client = Arc::clone(&client);
        coro::spawn(move || match (&*client).read(&mut [0u8; 64]) {
            Ok(0) => {}
            Ok(n) => panic!("read {n} bytes nobody sent"),
            Err(e) => assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{e:?}"),
        })
    };
    coro::sleep(Duration::from_millis(100));
    assert!(!reader.is_finished(), "reader did not park");
    client.shutdown(Shutdown::Read).unwrap();
    reader.join().expect("reader panicked");
    drop(server);
}

/// A writer parked on a full send buffer is woken (with an error) when
/// another coroutine shuts the stream down.
fn shutdown_wakes_parked_writer() {
    let (client, server) = pair();
    let closer = client.try_clone().unwrap();
    let writer = coro::spawn(move || {
        let chunk = vec![0u8; 256 * 1024];
        let mut total = 0usize;
        loop {
            match (&client).write(&chunk) {
                Ok(n) => {
                    total += n;
                    assert!(total < 1 << 30, "never blocked after 1 GiB");
                }
                Err(e) => {
                    assert_ne!(e.kind(), io::ErrorKind::TimedOut, "{e:?}");
                    return total;
                }
            }
        }
    });
    coro::sleep(Duration::from_millis(200));
    assert!(!writer.is_finished(), "writer never blocked");
    closer.shutdown(Shutdown::Both).unwrap();
    let total = writer.join().expect("writer panicked");
    assert!(total > 0);
    drop(server);
}

/// `TcpListener` has no `shutdown`, but `shutdown(2)` on its fd (through
/// socket2) makes Linux fail a pending `accept`: the parked acceptor must
/// wake with that error rather than hang.
fn shutdown_fd_wakes_parked_accept() {
    let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let acceptor = {
        let listener = Arc::clone(&listener);
        coro::spawn(move || listener.accept().map(|_| ()))
    };
    coro::sleep(Duration::from_millis(100));
    assert!(!acceptor.is_finished(), "accept did not park");
    socket2::SockRef::from(&*listener)
        .shutdown(Shutdown::Both)
        .unwrap();
    let r = acceptor.join().expect("acceptor panicked");
    let e = r.expect_err("accept on a shut-down listener");
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e:?}");
}

per_workers!(
    read_timeout,
    shutdown_fd_wakes_parked_accept,
    write_timeout,
    connect_timeout_fires,
    half_close,
    peer_reset_wakes_parked_reader,
    peer_reset_before_read,
    shutdown_clone_wakes_parked_reader,
    shutdown_read_wakes_parked_reader,
    shutdown_wakes_parked_writer,
);

/// A plain thread's blocking read is woken by a peer reset too.
#[test]
fn peer_reset_on_plain_thread() {
    common::watchdog("peer_reset_on_plain_thread", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let t = thread::spawn(move || {
            let c = TcpStream::connect(addr).unwrap();
            check_reset_read((&c).read(&mut [0u8; 8]));
        });
        let (s, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_millis(100));
        reset(s);
        t.join().expect("reader thread panicked");
    });
}

/// Dropping a runtime while its coroutines are parked in `read` and
/// `accept` unwinds them (closing their sockets) instead of hanging; the
/// sockets' peers then see EOF.
#[test]
fn runtime_drop_with_parked_io() {
    common::watchdog("runtime_drop_with_parked_io", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let idle = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = std::net::TcpStream::connect(addr).unwrap();
        let rt = coro::runtime::Builder::new().workers(2).build().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let _reader = rt.spawn(move || {
            let (s, _) = listener.accept().unwrap();
            tx.send(()).unwrap();
            let _ = (&s).read(&mut [0u8; 8]);
            unreachable!("nobody writes");
        });
        let _acceptor = rt.spawn(move || {
            let _ = idle.accept();
        });
        rx.recv().unwrap();
        thread::sleep(Duration::from_millis(100));
        drop(rt);
        let mut peer = peer;
        peer.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        assert_eq!(peer.read(&mut [0u8; 8]).expect("EOF after unwind"), 0);
    });
}
