//! `TcpStream::interrupt_read`: a read parked with no data returns
//! `WouldBlock` once, from another coroutine's or thread's interrupt, and
//! no byte is lost around it. Many iterations, under one worker and four,
//! so that an interrupt landing between a reader's last look and its park
//! is met (a lost one shows as the backstop's `TimedOut`).

#[macro_use]
mod common;

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use coro_net::{TcpListener, TcpStream};

const ITERATIONS: usize = 300;

/// A read that should return at once fails with `TimedOut` here instead
/// of hanging: a lost interrupt.
const BACKSTOP: Duration = Duration::from_secs(10);

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// A reader blocked with nothing to read is interrupted by another
/// coroutine, then reads what the peer sends next.
fn interrupts_a_parked_read() {
    let (mut client, server) = pair();
    let server = Arc::new(server);
    server.set_read_timeout(Some(BACKSTOP)).unwrap();
    for i in 0..ITERATIONS {
        let reader = Arc::clone(&server);
        let (started, ready) = coro::chan::bounded::<()>(1);
        let read = coro::spawn(move || {
            started.send(()).unwrap();
            let mut buf = [0u8; 16];
            let first = (&*reader).read(&mut buf).map_err(|e| e.kind());
            let second = (&*reader).read(&mut buf).map(|n| buf[..n].to_vec());
            (first, second.map_err(|e| e.kind()))
        });
        ready.recv().unwrap();
        // Half the time before the reader parks, half after a yield.
        if i % 2 == 1 {
            coro::yield_now();
        }
        server.interrupt_read();
        client.write_all(&[i as u8]).unwrap();
        let (first, second) = read.join().unwrap();
        match first {
            // The interrupt was taken by the first read...
            Err(io::ErrorKind::WouldBlock) => {
                assert_eq!(second, Ok(vec![i as u8]), "iteration {i}")
            }
            other => panic!("iteration {i}: the first read gave {other:?}, not WouldBlock"),
        }
    }
}

/// An interrupt with data already queued: the read returns `WouldBlock`
/// and the data is still there for the next one.
fn an_interrupt_consumes_no_data() {
    let (mut client, server) = pair();
    server.set_read_timeout(Some(BACKSTOP)).unwrap();
    client.write_all(b"kept").unwrap();
    server.interrupt_read();
    server.interrupt_read();
    let mut buf = [0u8; 16];
    assert_eq!(
        (&server).read(&mut buf).map_err(|e| e.kind()),
        Err(io::ErrorKind::WouldBlock)
    );
    let mut got = Vec::new();
    while got.len() < 4 {
        let n = (&server).read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"kept", "two interrupts count as one; no byte lost");
}

/// An interrupt from a plain thread wakes a coroutine parked in a read.
fn interrupts_from_another_thread() {
    let (_client, server) = pair();
    let server = Arc::new(server);
    server.set_read_timeout(Some(BACKSTOP)).unwrap();
    let other = Arc::clone(&server);
    let (started, ready) = coro::chan::bounded::<()>(1);
    let read = coro::spawn(move || {
        started.send(()).unwrap();
        let mut buf = [0u8; 16];
        (&*other).read(&mut buf).map_err(|e| e.kind())
    });
    ready.recv().unwrap();
    let interrupter = Arc::clone(&server);
    std::thread::spawn(move || interrupter.interrupt_read())
        .join()
        .unwrap();
    assert_eq!(read.join().unwrap(), Err(io::ErrorKind::WouldBlock));
}

per_workers!(
    interrupts_a_parked_read,
    an_interrupt_consumes_no_data,
    interrupts_from_another_thread
);
