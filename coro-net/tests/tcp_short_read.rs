//! A read shorter than its buffer clears read readiness (the next read parks
//! without trying). These tests check that this never loses what comes
//! after: the peer's FIN when it arrived together with the data (one
//! edge-triggered event, which must carry `EPOLLRDHUP`), and data or a FIN
//! that arrive after the short read. Every case runs many times, under one
//! worker (where the orders are deterministic) and under four.

#[macro_use]
mod common;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;

use coro_net::{TcpListener, TcpStream};

/// Connections per case and runtime.
const ITERATIONS: usize = 300;

/// Much larger than any message, so every read of one is short.
const READ_BUF: usize = 4096;

/// A backstop for a read that should return at once: hitting it means an
/// end-of-file or data was lost (the read timeout turns a hang into a
/// failure that names the iteration).
const BACKSTOP: Duration = Duration::from_secs(10);

/// How the peer ends its side after writing.
#[derive(Debug, Clone, Copy)]
enum End {
    /// `close`: drop the stream.
    Close,
    /// `shutdown(Write)`, keeping the socket open until the reader is done.
    Shutdown,
}

/// Reads everything until end-of-file with short reads, failing on a
/// timeout (a lost FIN or lost data).
fn read_to_eof(stream: &TcpStream, what: &str) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; READ_BUF];
    loop {
        match (&*stream).read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{what}: {e} after {} bytes (end-of-file lost?)", got.len()),
        }
    }
}

/// The peer writes, then closes or shuts down, while the reader is parked
/// in `read` (on one worker: always; the data and the FIN then arrive
/// before the worker looks at epoll again, as one event). The reader's
/// first read is short and must be followed by 0, not a hang.
fn fin_with_data_while_parked() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for i in 0..ITERATIONS {
        let end = if i % 2 == 0 {
            End::Close
        } else {
            End::Shutdown
        };
        let (reading_tx, reading_rx) = coro::chan::bounded::<()>(1);
        let (done_tx, done_rx) = coro::chan::bounded::<()>(1);
        let peer = coro::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            reading_rx.recv().unwrap();
            s.write_all(b"last request").unwrap();
            match end {
                End::Close => drop(s),
                End::Shutdown => {
                    s.shutdown(Shutdown::Write).unwrap();
                    done_rx.recv().unwrap();
                }
            }
        });
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(BACKSTOP)).unwrap();
        reading_tx.send(()).unwrap();
        let got = read_to_eof(&s, &format!("iteration {i} ({end:?})"));
        assert_eq!(got, b"last request", "iteration {i}");
        let _ = done_tx.send(());
        peer.join().unwrap();
    }
}

/// The data and the FIN are queued before the socket is even registered
/// (the peer is done before `accept` returns).
fn fin_with_data_before_registration() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for i in 0..ITERATIONS {
        let peer = coro::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"hello, bye").unwrap();
        });
        peer.join().unwrap();
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(BACKSTOP)).unwrap();
        assert_eq!(read_to_eof(&s, &format!("iteration {i}")), b"hello, bye");
    }
}

/// A short read drains the socket; then more data arrives, then the FIN:
/// both must still be seen.
fn data_then_fin_after_a_short_read() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    for i in 0..ITERATIONS {
        let (ack_tx, ack_rx) = coro::chan::bounded::<()>(1);
        let peer = coro::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"one").unwrap();
            ack_rx.recv().unwrap();
            s.write_all(b"two").unwrap();
            if i % 2 == 0 {
                drop(s);
            } else {
                s.shutdown(Shutdown::Write).unwrap();
                ack_rx.recv().unwrap();
            }
        });
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(BACKSTOP)).unwrap();
        let mut buf = [0u8; READ_BUF];
        let n = (&s).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one", "iteration {i}");
        ack_tx.send(()).unwrap();
        assert_eq!(read_to_eof(&s, &format!("iteration {i}")), b"two");
        let _ = ack_tx.send(());
        peer.join().unwrap();
    }
}

/// The peer is a plain thread with a blocking `std` socket, so the data and
/// the FIN land at any moment relative to the reader's reads.
fn fin_from_another_thread() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    for i in 0..ITERATIONS {
        let peer = thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(b"from a thread").unwrap();
        });
        let (s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(BACKSTOP)).unwrap();
        assert_eq!(read_to_eof(&s, &format!("iteration {i}")), b"from a thread");
        peer.join().unwrap();
    }
}

/// Reading on after end-of-file keeps returning 0 (the FIN's readiness is
/// sticky), and vectored reads follow the same rule.
fn eof_is_sticky_for_vectored_reads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = coro::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"vectored").unwrap();
    });
    let (s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(BACKSTOP)).unwrap();
    let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
    let mut got = 0;
    loop {
        let mut bufs = [io::IoSliceMut::new(&mut a), io::IoSliceMut::new(&mut b)];
        match (&s).read_vectored(&mut bufs).unwrap() {
            0 => break,
            n => got += n,
        }
    }
    assert_eq!(got, b"vectored".len());
    for _ in 0..3 {
        assert_eq!((&s).read(&mut a).unwrap(), 0);
    }
    peer.join().unwrap();
}

per_workers!(
    fin_with_data_while_parked,
    fin_with_data_before_registration,
    data_then_fin_after_a_short_read,
    fin_from_another_thread,
    eof_is_sticky_for_vectored_reads,
);
