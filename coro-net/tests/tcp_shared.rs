//! Lost-wake-up hunts for sockets shared by several waiting coroutines
//! (issue 14, item 9): acceptors on one `TcpListener`, readers and writers
//! of one `TcpStream` through `&TcpStream`. Each waiter must be woken; with
//! one waiter slot per direction, the second one to park overwrote the
//! first, which then slept through every later event.
//!
//! Each hunt runs under 1 and 4 workers, with the default resident-stack
//! budget and with a budget of one, under the watchdog; a lost wake-up is a
//! hang that the watchdog turns into a failure.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro_net::{TcpListener, TcpStream};

/// Coroutines waiting on one socket at once.
const WAITERS: usize = 4;
/// Rounds of each hunt.
const ROUNDS: usize = 20;
/// Bytes each writer writes: many times the socket buffers below, so that
/// every writer parks.
const WRITE_CHUNK: usize = 512 * 1024;
/// Send and receive buffer sizes asked for on the pair (the kernel doubles
/// them), small so that writers fill them at once.
const SMALL_BUFFER: usize = 32 * 1024;
/// Lets parked coroutines get to their `park` before the event comes. Only
/// makes the hunt likelier to catch the race; nothing is asserted on time.
const SETTLE: Duration = Duration::from_millis(2);

fn on_runtimes(name: &str, body: fn()) {
    for workers in [1, 4] {
        for resident in [None, Some(1)] {
            let label = format!("{name}[{workers}w, resident {resident:?}]");
            common::watchdog(&label, move || {
                let mut b = coro::runtime::Builder::new().workers(workers);
                if let Some(n) = resident {
                    b = b.resident_stacks(n);
                }
                let rt = b.build().expect("build runtime");
                rt.block_on(body);
                drop(rt);
            });
        }
    }
}

/// Waits (on a plain thread) until `counter` reaches `n`.
fn wait_for(counter: &AtomicUsize, n: usize) {
    while counter.load(Ordering::Acquire) < n {
        thread::sleep(Duration::from_micros(100));
    }
}

/// Several coroutines accept on one listener, once each; a plain thread
/// connects once per acceptor and reads the byte its acceptor sends.
fn shared_listener_acceptors() {
    for _ in 0..ROUNDS {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0").unwrap());
        let addr = listener.local_addr().unwrap();
        let ready = Arc::new(AtomicUsize::new(0));
        let acceptors: Vec<_> = (0..WAITERS)
            .map(|i| {
                let listener = Arc::clone(&listener);
                let ready = Arc::clone(&ready);
                coro::spawn(move || {
                    ready.fetch_add(1, Ordering::AcqRel);
                    let (mut s, _) = listener.accept().unwrap();
                    s.write_all(&[i as u8]).unwrap();
                })
            })
            .collect();
        let r = Arc::clone(&ready);
        let client = thread::spawn(move || {
            wait_for(&r, WAITERS);
            thread::sleep(SETTLE);
            let mut got: Vec<u8> = (0..WAITERS)
                .map(|_| {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b).unwrap();
                    b[0]
                })
                .collect();
            got.sort_unstable();
            got
        });
        for a in acceptors {
            a.join().unwrap();
        }
        let want: Vec<u8> = (0..WAITERS as u8).collect();
        assert_eq!(client.join().unwrap(), want);
    }
}

/// A connected pair: the coroutine side and the plain-thread side.
fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let client = thread::spawn(move || std::net::TcpStream::connect(addr).unwrap());
    let (server, _) = listener.accept().unwrap();
    let client = client.join().unwrap();
    socket2::SockRef::from(&server)
        .set_send_buffer_size(SMALL_BUFFER)
        .unwrap();
    socket2::SockRef::from(&client)
        .set_recv_buffer_size(SMALL_BUFFER)
        .unwrap();
    (TcpStream::from_std(server).unwrap(), client)
}

/// Several coroutines read one byte each from one stream; a plain thread
/// sends the bytes one at a time, each after the previous one was read.
fn shared_stream_readers() {
    for _ in 0..ROUNDS {
        let (stream, mut peer) = pair();
        let stream = Arc::new(stream);
        let ready = Arc::new(AtomicUsize::new(0));
        let read = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..WAITERS)
            .map(|_| {
                let (stream, ready, read) = (stream.clone(), ready.clone(), read.clone());
                coro::spawn(move || {
                    ready.fetch_add(1, Ordering::AcqRel);
                    let mut b = [0u8; 1];
                    (&*stream).read_exact(&mut b).unwrap();
                    read.fetch_add(1, Ordering::AcqRel);
                    b[0]
                })
            })
            .collect();
        let (r, d) = (ready.clone(), read.clone());
        let writer = thread::spawn(move || {
            wait_for(&r, WAITERS);
            thread::sleep(SETTLE);
            for i in 0..WAITERS {
                peer.write_all(&[i as u8]).unwrap();
                wait_for(&d, i + 1);
                thread::sleep(SETTLE);
            }
        });
        let mut got: Vec<u8> = readers.into_iter().map(|h| h.join().unwrap()).collect();
        writer.join().unwrap();
        got.sort_unstable();
        assert_eq!(got, (0..WAITERS as u8).collect::<Vec<_>>());
    }
}

/// Several coroutines write a large chunk each to one stream; a plain
/// thread reads it all once every writer has started (so all of them park
/// on a full send buffer).
fn shared_stream_writers() {
    for _ in 0..ROUNDS / 4 {
        let (stream, mut peer) = pair();
        let stream = Arc::new(stream);
        let ready = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WAITERS)
            .map(|i| {
                let (stream, ready) = (stream.clone(), ready.clone());
                coro::spawn(move || {
                    ready.fetch_add(1, Ordering::AcqRel);
                    (&*stream).write_all(&vec![i as u8; WRITE_CHUNK]).unwrap();
                })
            })
            .collect();
        let r = ready.clone();
        let reader = thread::spawn(move || {
            wait_for(&r, WAITERS);
            thread::sleep(SETTLE);
            let mut counts = [0usize; WAITERS];
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0;
            while total < WAITERS * WRITE_CHUNK {
                let n = peer.read(&mut buf).unwrap();
                assert_ne!(n, 0, "the stream closed early");
                for &b in &buf[..n] {
                    counts[b as usize] += 1;
                }
                total += n;
            }
            counts
        });
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(reader.join().unwrap(), [WRITE_CHUNK; WAITERS]);
    }
}

#[test]
fn shared_listener_wakes_every_acceptor() {
    on_runtimes("shared_listener_acceptors", shared_listener_acceptors);
}

#[test]
fn shared_stream_wakes_every_reader() {
    on_runtimes("shared_stream_readers", shared_stream_readers);
}

#[test]
fn shared_stream_wakes_every_writer() {
    on_runtimes("shared_stream_writers", shared_stream_writers);
}
