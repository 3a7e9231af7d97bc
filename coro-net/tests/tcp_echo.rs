//! TCP data paths: echo round trips (small, 4 MiB, vectored), accept under
//! load, connection refused, plain threads on either side, and the smaller
//! std-like accessors.

#[macro_use]
mod common;

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro_net::{ListenOptions, TcpListener, TcpStream};

use common::{check_pattern, pattern, pattern_byte};

/// Echoes everything read on `stream` until EOF, then closes.
fn echo(mut stream: TcpStream) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => stream.write_all(&buf[..n]).expect("echo write"),
            Err(e) => panic!("echo read: {e}"),
        }
    }
}

/// Binds a listener on 127.0.0.1:0 and spawns a coroutine accepting
/// `conns` connections, each echoed by a coroutine of its own. Returns the
/// address and the acceptor's handle (joining it joins every echo handler).
fn echo_server(conns: usize) -> (SocketAddr, coro::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let acceptor = coro::spawn(move || {
        let handlers: Vec<_> = (0..conns)
            .map(|_| {
                let (stream, peer) = listener.accept().expect("accept");
                assert_eq!(peer, stream.peer_addr().unwrap());
                coro::spawn(move || echo(stream))
            })
            .collect();
        for h in handlers {
            h.join().expect("echo handler panicked");
        }
    });
    (addr, acceptor)
}

/// Reads exactly `len` bytes and checks them against pattern `seed`.
fn read_pattern(mut r: impl Read, seed: u64, len: usize) {
    let mut buf = vec![0; 64 * 1024];
    let mut got = 0;
    while got < len {
        let want = buf.len().min(len - got);
        let n = r.read(&mut buf[..want]).expect("read");
        assert!(n > 0, "EOF after {got} of {len} bytes");
        check_pattern(seed, got, &buf[..n]);
        got += n;
    }
}

fn assert_eof(mut r: impl Read) {
    let mut b = [0u8; 16];
    assert_eq!(r.read(&mut b).expect("read at EOF"), 0, "expected EOF");
}

/// 50 client coroutines, each doing 20 request/response round trips of
/// varying sizes against a coroutine-per-connection echo server.
fn echo_round_trips() {
    const CLIENTS: usize = 50;
    const ROUNDS: usize = 20;
    let (addr, server) = echo_server(CLIENTS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            coro::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.set_nodelay(true).unwrap();
                for r in 0..ROUNDS {
                    let seed = (c * ROUNDS + r) as u64;
                    let len = 1 + (c * 997 + r * 131) % 9000;
                    let msg = pattern(seed, len);
                    s.write_all(&msg).unwrap();
                    let mut back = vec![0; len];
                    s.read_exact(&mut back).unwrap();
                    check_pattern(seed, 0, &back);
                }
                s.shutdown(Shutdown::Write).unwrap();
                assert_eof(&s);
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client panicked");
    }
    server.join().expect("server panicked");
}

/// 4 MiB written with `write_all` by one coroutine (through `&TcpStream`)
/// while another reads the echo concurrently; every byte checked.
fn echo_large_payload() {
    const LEN: usize = 4 << 20;
    let (addr, server) = echo_server(2);
    let clients: Vec<_> = (0..2u64)
        .map(|seed| {
            coro::spawn(move || {
                let s = Arc::new(TcpStream::connect(addr).expect("connect"));
                let writer = {
                    let s = Arc::clone(&s);
                    coro::spawn(move || {
                        let data = pattern(seed, LEN);
                        (&*s).write_all(&data).expect("write_all 4 MiB");
                        s.shutdown(Shutdown::Write).unwrap();
                    })
                };
                read_pattern(&*s, seed, LEN);
                assert_eof(&*s);
                writer.join().expect("writer panicked");
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client panicked");
    }
    server.join().expect("server panicked");
}

/// The same with a `try_clone`d writer, the server on the other end reading
/// everything before echoing from a second handle.
fn large_payload_try_clone() {
    const LEN: usize = 4 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = coro::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = coro::spawn(move || {
            w.write_all(&pattern(7, LEN)).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        read_pattern(&mut s, 7, LEN);
        assert_eof(&mut s);
        writer.join().unwrap();
    });
    let (mut s, _) = listener.accept().unwrap();
    let mut w = s.try_clone().unwrap();
    // Echo what is read through the clone, checking it on the way.
    let mut buf = vec![0; 100_000];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        check_pattern(7, total, &buf[..n]);
        total += n;
        w.write_all(&buf[..n]).unwrap();
    }
    assert_eq!(total, LEN);
    drop(w);
    drop(s);
    client.join().unwrap();
}

/// `write_vectored` / `read_vectored` on `TcpStream` and `&TcpStream`.
fn vectored_io() {
    let (addr, server) = echo_server(1);
    let mut s = TcpStream::connect(addr).unwrap();
    let parts: Vec<Vec<u8>> = (0..5)
        .map(|k| pattern(100 + k, 3000 + k as usize * 7))
        .collect();
    let mut all = Vec::new();
    for p in &parts {
        all.extend_from_slice(p);
    }
    // Write the parts vectored, advancing over partial writes by hand.
    let mut off = 0;
    while off < all.len() {
        let mut slices = Vec::new();
        let mut pos = 0;
        for p in &parts {
            let end = pos + p.len();
            if end > off {
                let from = off.saturating_sub(pos);
                slices.push(IoSlice::new(&p[from..]));
            }
            pos = end;
        }
        let n = if off % 2 == 0 {
            s.write_vectored(&slices).unwrap()
        } else {
            (&s).write_vectored(&slices).unwrap()
        };
        assert!(n > 0);
        off += n;
    }
    s.shutdown(Shutdown::Write).unwrap();
    // Read back vectored into three buffers at a time.
    let mut got = Vec::new();
    loop {
        let (mut a, mut b, mut c) = ([0u8; 1000], [0u8; 777], [0u8; 2048]);
        let mut bufs = [
            IoSliceMut::new(&mut a),
            IoSliceMut::new(&mut b),
            IoSliceMut::new(&mut c),
        ];
        let n = if got.len() % 2 == 0 {
            s.read_vectored(&mut bufs).unwrap()
        } else {
            (&s).read_vectored(&mut bufs).unwrap()
        };
        if n == 0 {
            break;
        }
        let mut flat = Vec::new();
        flat.extend_from_slice(&a);
        flat.extend_from_slice(&b);
        flat.extend_from_slice(&c);
        got.extend_from_slice(&flat[..n]);
    }
    assert_eq!(got.len(), all.len());
    assert!(got == all, "vectored echo mismatch");
    server.join().unwrap();
}

/// 500 client coroutines connect at once; the listener's `incoming` accepts
/// them all, and each connection carries its own id both ways.
fn accept_under_load() {
    const CLIENTS: usize = 500;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = {
        let accepted = Arc::clone(&accepted);
        coro::spawn(move || {
            let mut handlers = Vec::new();
            for stream in listener.incoming().take(CLIENTS) {
                let mut stream = stream.expect("accept");
                accepted.fetch_add(1, Ordering::Relaxed);
                handlers.push(coro::spawn(move || {
                    let mut id = [0u8; 8];
                    stream.read_exact(&mut id).unwrap();
                    let id = u64::from_le_bytes(id);
                    let reply = id.wrapping_mul(3) + 1;
                    stream.write_all(&reply.to_le_bytes()).unwrap();
                }));
            }
            for h in handlers {
                h.join().unwrap();
            }
        })
    };
    let clients: Vec<_> = (0..CLIENTS as u64)
        .map(|id| {
            coro::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                s.write_all(&id.to_le_bytes()).unwrap();
                let mut reply = [0u8; 8];
                s.read_exact(&mut reply).unwrap();
                assert_eq!(u64::from_le_bytes(reply), id * 3 + 1);
                assert_eof(&mut s);
            })
        })
        .collect();
    for c in clients {
        c.join().expect("client panicked");
    }
    server.join().expect("server panicked");
    assert_eq!(accepted.load(Ordering::Relaxed), CLIENTS);
}

/// Connecting to a loopback port nobody listens on is refused, through
/// `connect` and through `connect_timeout`.
fn connect_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let e = TcpStream::connect(addr).expect_err("connect to a closed port");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e:?}");
    let e = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .expect_err("connect_timeout to a closed port");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused, "{e:?}");
}

/// `connect_timeout` to a live loopback listener connects; the std-like
/// accessors agree with each other.
fn accessors() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    listener.set_ttl(77).unwrap();
    assert_eq!(listener.ttl().unwrap(), 77);
    assert!(listener.take_error().unwrap().is_none());
    let _ = listener.as_fd();

    let client = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    let (server, peer) = listener.accept().unwrap();
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
    assert_eq!(client.peer_addr().unwrap(), addr);
    assert_eq!(server.local_addr().unwrap(), addr);

    client.set_nodelay(true).unwrap();
    assert!(client.nodelay().unwrap());
    client.set_nodelay(false).unwrap();
    assert!(!client.nodelay().unwrap());
    client.set_ttl(42).unwrap();
    assert_eq!(client.ttl().unwrap(), 42);
    assert!(client.take_error().unwrap().is_none());

    assert_eq!(client.read_timeout().unwrap(), None);
    client
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    assert_eq!(
        client.read_timeout().unwrap(),
        Some(Duration::from_millis(1500))
    );
    client.set_read_timeout(None).unwrap();
    assert_eq!(client.read_timeout().unwrap(), None);
    let e = client
        .set_write_timeout(Some(Duration::ZERO))
        .expect_err("zero timeout");
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(client.write_timeout().unwrap(), None);

    // peek: parks until data, leaves it queued.
    let peeker = {
        let server = server.try_clone().unwrap();
        coro::spawn(move || {
            let mut b = [0u8; 5];
            let n = server.peek(&mut b).unwrap();
            assert!(n > 0 && b[..n] == b"hello"[..n]);
            server
        })
    };
    coro::sleep(Duration::from_millis(20));
    (&client).write_all(b"hello").unwrap();
    let server2 = peeker.join().unwrap();
    let mut b = [0u8; 5];
    (&server).read_exact(&mut b).unwrap();
    assert_eq!(&b, b"hello");
    drop(server2);

    // from_std / TryFrom, on both a listener and a stream.
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr2 = std_listener.local_addr().unwrap();
    let l2 = TcpListener::try_from(std_listener).unwrap();
    let std_client = std::net::TcpStream::connect(addr2).unwrap();
    let (mut s2, _) = l2.accept().unwrap();
    let mut c2 = TcpStream::from_std(std_client).unwrap();
    c2.write_all(b"from_std").unwrap();
    let mut b = [0u8; 8];
    s2.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"from_std");
    let s3 = TcpStream::try_from(std::net::TcpStream::connect(addr2).unwrap()).unwrap();
    let (_s3_peer, p) = l2.accept().unwrap();
    assert_eq!(p, s3.local_addr().unwrap());
}

/// Two listeners with `reuse_port` share a port; connections reach them.
fn bind_with_reuse_port() {
    let opts = ListenOptions {
        reuse_port: true,
        backlog: 64,
        ..ListenOptions::default()
    };
    let a = TcpListener::bind_with("127.0.0.1:0", opts).unwrap();
    let addr = a.local_addr().unwrap();
    let b = TcpListener::bind_with(addr, opts).expect("second SO_REUSEPORT bind");
    assert_eq!(b.local_addr().unwrap(), addr);
    // Without reuse_port, the port is taken.
    let e = TcpListener::bind(addr).expect_err("bind a taken port");
    assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e:?}");
    let listeners = Arc::new([a, b]);
    let got = Arc::new(AtomicUsize::new(0));
    let acceptors: Vec<_> = (0..2)
        .map(|i| {
            let (listeners, got) = (Arc::clone(&listeners), Arc::clone(&got));
            coro::spawn(move || {
                // Each accepts until the clients are done, then a last poke
                // connection (with id 0xFF) ends its loop.
                loop {
                    let (mut s, _) = listeners[i].accept().unwrap();
                    let mut id = [0u8; 1];
                    s.read_exact(&mut id).unwrap();
                    if id[0] == 0xFF {
                        break;
                    }
                    got.fetch_add(1, Ordering::Relaxed);
                    s.write_all(&id).unwrap();
                }
            })
        })
        .collect();
    for id in 0..40u8 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&[id]).unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        assert_eq!(b[0], id);
    }
    assert_eq!(got.load(Ordering::Relaxed), 40);
    // Poke connections (id 0xFF) until both acceptors have exited.
    while !acceptors.iter().all(|h| h.is_finished()) {
        let mut s = TcpStream::connect(addr).unwrap();
        let _ = s.write_all(&[0xFF]);
        coro::sleep(Duration::from_millis(5));
    }
    for h in acceptors {
        h.join().unwrap();
    }
}

per_workers!(
    echo_round_trips,
    echo_large_payload,
    large_payload_try_clone,
    vectored_io,
    accept_under_load,
    connect_refused,
    accessors,
    bind_with_reuse_port,
);

/// A plain thread uses `coro_net::TcpStream` (blocking the thread) against
/// a coroutine server, while the coroutine side runs on the runtime.
fn thread_client_coroutine_server(workers: usize) {
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = rt.spawn(move || {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (s, _) = listener.accept().unwrap();
                coro::spawn(move || echo(s))
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
    let threads: Vec<_> = (0..4u64)
        .map(|seed| {
            thread::spawn(move || {
                assert!(!coro::in_coroutine());
                let s = TcpStream::connect(addr).unwrap();
                let len = 1 << 20;
                // Write from a second plain thread while this one reads.
                let w = s.try_clone().unwrap();
                let writer = thread::spawn(move || {
                    (&w).write_all(&pattern(seed, len)).unwrap();
                    w.shutdown(Shutdown::Write).unwrap();
                });
                read_pattern(&s, seed, len);
                assert_eof(&s);
                writer.join().unwrap();
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread client panicked");
    }
    server.join().expect("server panicked");
}

/// A plain-thread server (blocking `accept` and reads on the thread) with
/// coroutine clients.
fn thread_server_coroutine_clients(workers: usize) {
    const CLIENTS: usize = 20;
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .build()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let mut handlers = Vec::new();
        for _ in 0..CLIENTS {
            let (s, _) = listener.accept().unwrap();
            handlers.push(thread::spawn(move || echo(s)));
        }
        for h in handlers {
            h.join().unwrap();
        }
    });
    rt.block_on(|| {
        let clients: Vec<_> = (0..CLIENTS as u64)
            .map(|seed| {
                coro::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    for round in 0..5 {
                        let len = 100 + 4000 * round;
                        let msg = pattern(seed * 10 + round as u64, len);
                        s.write_all(&msg).unwrap();
                        let mut back = vec![0; len];
                        s.read_exact(&mut back).unwrap();
                        check_pattern(seed * 10 + round as u64, 0, &back);
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().expect("client panicked");
        }
    });
    server.join().expect("thread server panicked");
}

#[test]
fn thread_client_coroutine_server_1w() {
    common::watchdog("thread_client_coroutine_server_1w", || {
        thread_client_coroutine_server(1)
    });
}

#[test]
fn thread_client_coroutine_server_4w() {
    common::watchdog("thread_client_coroutine_server_4w", || {
        thread_client_coroutine_server(4)
    });
}

#[test]
fn thread_server_coroutine_clients_1w() {
    common::watchdog("thread_server_coroutine_clients_1w", || {
        thread_server_coroutine_clients(1)
    });
}

#[test]
fn thread_server_coroutine_clients_4w() {
    common::watchdog("thread_server_coroutine_clients_4w", || {
        thread_server_coroutine_clients(4)
    });
}

/// No runtime at all: both ends on plain threads wait with poll(2).
#[test]
fn threads_only() {
    common::watchdog("threads_only", || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            echo(s);
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let msg = pattern(9, 300_000);
        let w = c.try_clone().unwrap();
        let writer = thread::spawn(move || {
            let mut w = w;
            w.write_all(&msg).unwrap();
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = 0;
        let mut buf = [0u8; 8192];
        loop {
            let n = c.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (k, &b) in buf[..n].iter().enumerate() {
                assert_eq!(b, pattern_byte(9, got + k));
            }
            got += n;
        }
        assert_eq!(got, 300_000);
        writer.join().unwrap();
        server.join().unwrap();
    });
}
