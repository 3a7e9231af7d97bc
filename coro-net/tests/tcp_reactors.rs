//! One reactor per worker: a socket is watched by the reactor of the worker
//! whose coroutine waits on it, and its registration follows the waiter to
//! another worker, or to another runtime once the first is gone. Nothing
//! is lost on the way: every byte sent is read.

mod common;

use std::io::{Read, Write};
use std::sync::mpsc;

use coro_net::{TcpListener, TcpStream};

/// Round trips per hand-over, so each worker waits on the socket many
/// times.
const ROUND_TRIPS: usize = 200;
/// Times the socket goes back and forth between the two workers.
const HAND_OVERS: usize = 20;

/// Reads `ROUND_TRIPS` messages from `stream`, answering each.
fn serve_round_trips(stream: &TcpStream) {
    for i in 0..ROUND_TRIPS {
        let mut byte = [0u8; 1];
        (&*stream).read_exact(&mut byte).unwrap();
        assert_eq!(byte[0], i as u8, "a message out of order");
        (&*stream).write_all(&byte).unwrap();
    }
}

/// A plain-thread peer that sends a byte and waits for its echo, for
/// `rounds` round trips.
fn peer(mut s: std::net::TcpStream, rounds: usize) {
    for _ in 0..rounds {
        for i in 0..ROUND_TRIPS {
            s.write_all(&[i as u8]).unwrap();
            let mut echo = [0u8; 1];
            s.read_exact(&mut echo).unwrap();
            assert_eq!(echo[0], i as u8);
        }
    }
}

#[test]
fn a_socket_waited_on_by_coroutines_of_alternating_workers_loses_nothing() {
    common::watchdog("alternating_workers", || {
        let rt = coro::runtime::Builder::new().workers(2).build().unwrap();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let client = std::thread::spawn(move || {
                peer(std::net::TcpStream::connect(addr).unwrap(), HAND_OVERS)
            });
            let (stream, _) = listener.accept().unwrap();
            let mut stream = Some(stream);
            for round in 0..HAND_OVERS {
                let s = stream.take().unwrap();
                let back = coro::Builder::new()
                    .worker(round % 2)
                    .spawn(move || {
                        serve_round_trips(&s);
                        s
                    })
                    .unwrap();
                stream = Some(back.join().unwrap());
            }
            client.join().unwrap();
        });
    });
}

#[test]
fn a_socket_outlives_its_runtime_and_serves_in_the_next_one() {
    common::watchdog("next_runtime", || {
        let (tx, rx) = mpsc::channel();
        let client = std::thread::spawn(move || {
            let addr = rx.recv().unwrap();
            peer(std::net::TcpStream::connect(addr).unwrap(), 2)
        });
        let first = coro::runtime::Builder::new().workers(1).build().unwrap();
        let (listener, stream) = first.block_on(move || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let (stream, _) = listener.accept().unwrap();
            serve_round_trips(&stream);
            (listener, stream)
        });
        // The reactor that watched the socket belonged to a worker that is
        // gone now: the next runtime's worker must take it over.
        drop(first);
        let second = coro::runtime::Builder::new().workers(2).build().unwrap();
        second.block_on(move || serve_round_trips(&stream));
        drop(listener);
        client.join().unwrap();
    });
}

#[test]
fn acceptors_on_each_worker_share_a_listener_through_their_own_descriptors() {
    const CONNECTIONS: usize = 64;
    common::watchdog("acceptor_per_worker", || {
        let rt = coro::runtime::Builder::new().workers(2).build().unwrap();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let (done_tx, done_rx) = coro::chan::unbounded::<usize>();
            let acceptors: Vec<_> = (0..2)
                .map(|w| {
                    let own = listener.try_clone().unwrap();
                    let done_tx = done_tx.clone();
                    coro::Builder::new()
                        .worker(w)
                        .spawn(move || loop {
                            let (mut s, _) = own.accept().unwrap();
                            let mut byte = [0u8; 1];
                            if s.read_exact(&mut byte).is_err() || byte[0] == 0 {
                                return;
                            }
                            s.write_all(&byte).unwrap();
                            done_tx.send(w).unwrap();
                        })
                        .unwrap()
                })
                .collect();
            let clients = std::thread::spawn(move || {
                for i in 0..CONNECTIONS {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(&[1 + (i % 200) as u8]).unwrap();
                    let mut echo = [0u8; 1];
                    s.read_exact(&mut echo).unwrap();
                }
                // One stop message per acceptor.
                for _ in 0..2 {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(&[0]).unwrap();
                }
            });
            for _ in 0..CONNECTIONS {
                done_rx.recv().unwrap();
            }
            clients.join().unwrap();
            for a in acceptors {
                a.join().unwrap();
            }
        });
    });
}
