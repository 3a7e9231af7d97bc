//! An unmodified blocking-IO crate on coroutine sockets: a tungstenite
//! WebSocket echo server and client, each a coroutine on a `TcpStream`.

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::thread;

use coro_net::{TcpListener, TcpStream};
use tungstenite::{Error, Message};

const MESSAGES: usize = 100;

/// Accepts `conns` WebSocket connections, echoing text and binary messages
/// on each in a coroutine of its own until the client closes.
fn ws_echo_server(conns: usize) -> (SocketAddr, coro::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = coro::spawn(move || {
        let handlers: Vec<_> = (0..conns)
            .map(|_| {
                let (stream, _) = listener.accept().unwrap();
                coro::spawn(move || {
                    let mut ws = tungstenite::accept(stream).expect("WebSocket handshake");
                    loop {
                        match ws.read() {
                            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                                ws.send(msg).expect("server send")
                            }
                            Ok(_) => {}
                            Err(Error::ConnectionClosed) => break,
                            Err(e) => panic!("server read: {e}"),
                        }
                    }
                })
            })
            .collect();
        for h in handlers {
            h.join().expect("ws handler panicked");
        }
    });
    (addr, server)
}

/// Connects, exchanges [`MESSAGES`] text messages (each checked), closes.
fn ws_client(addr: SocketAddr, id: usize) {
    let stream = TcpStream::connect(addr).unwrap();
    let url = format!("ws://{addr}/echo");
    let (mut ws, response) = tungstenite::client(url.as_str(), stream).expect("client handshake");
    assert_eq!(response.status(), 101);
    for i in 0..MESSAGES {
        // Sizes up to ~70 KiB, so some frames span many reads.
        let text = format!("client {id} message {i} ") + &"x".repeat((i * 709) % 70_000);
        ws.send(Message::text(text.clone())).expect("client send");
        match ws.read().expect("client read") {
            Message::Text(back) => assert_eq!(back.as_str(), text, "message {i}"),
            other => panic!("expected text, got {other:?}"),
        }
    }
    ws.close(None).expect("close");
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(Error::ConnectionClosed) => break,
            Err(e) => panic!("client read while closing: {e}"),
        }
    }
}

/// One server coroutine, one client coroutine.
fn websocket_echo() {
    let (addr, server) = ws_echo_server(1);
    coro::spawn(move || ws_client(addr, 0))
        .join()
        .expect("client panicked");
    server.join().expect("server panicked");
}

/// Eight clients at once against the same server.
fn websocket_echo_concurrent() {
    const CLIENTS: usize = 8;
    let (addr, server) = ws_echo_server(CLIENTS);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| coro::spawn(move || ws_client(addr, id)))
        .collect();
    for c in clients {
        c.join().expect("client panicked");
    }
    server.join().expect("server panicked");
}

per_workers!(websocket_echo, websocket_echo_concurrent);

/// The client on a plain thread, the server on coroutines.
#[test]
fn websocket_thread_client() {
    common::watchdog("websocket_thread_client", || {
        let rt = coro::runtime::Builder::new().workers(2).build().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let server = rt.spawn(move || {
            let (addr, server) = ws_echo_server(1);
            tx.send(addr).unwrap();
            server.join().unwrap();
        });
        let addr = rx.recv().unwrap();
        thread::spawn(move || ws_client(addr, 99))
            .join()
            .expect("thread client panicked");
        server.join().expect("server panicked");
    });
}
