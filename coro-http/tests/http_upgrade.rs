//! Switching protocols: WebSocket through `coro_http::ws` (tungstenite's
//! client on a std socket at the other end), a raw protocol after a 101,
//! the bytes pipelined behind an upgrade request, a client that vanishes
//! mid-frame, a thousand WebSockets at once, the shutdown's close frame
//! (1001), and the 101s that cannot switch.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use coro_http::ws::{Message, Rejection, WebSocketUpgrade, WsError};
use coro_http::{HeaderValue, Interrupter, Request, Response, Router, StatusCode};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::Role;

use util::{serve, serve_with, Client, READ_TIMEOUT};

/// RFC 6455 §1.3's example key and the accept value that answers it.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A generous bound for a condition the server reaches on its own (a
/// closure ending): only a bug takes anywhere near it.
const SETTLE: Duration = Duration::from_secs(10);

/// What the test routes' closures did.
#[derive(Default)]
struct Seen {
    /// Upgrade closures running now.
    running: AtomicUsize,
    /// Upgrade closures that returned.
    ended: AtomicUsize,
    /// Closures of upgrades that must not have happened.
    wrongly_run: AtomicUsize,
    /// What reaches the `/pushed` WebSockets from outside.
    pushers: Mutex<Vec<(coro::chan::Sender<String>, Interrupter)>>,
}

fn router(seen: &Arc<Seen>) -> Router {
    let mut router = Router::new();
    let s = Arc::clone(seen);
    router.get(
        "/ws",
        move |req: &mut Request| -> Result<Response, Rejection> {
            let s = Arc::clone(&s);
            Ok(
                WebSocketUpgrade::from_request(req)?.on_upgrade(move |mut ws| {
                    s.running.fetch_add(1, Ordering::SeqCst);
                    loop {
                        match ws.read() {
                            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                                if ws.send(msg).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                    s.running.fetch_sub(1, Ordering::SeqCst);
                    s.ended.fetch_add(1, Ordering::SeqCst);
                }),
            )
        },
    );
    // A raw echo protocol, after `Upgrade: echo`; it reads no body.
    let raw = |_req: &mut Request| {
        Response::upgrade(HeaderValue::from_static("echo"), |mut up| {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = up.read(&mut buf) {
                if up.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })
    };
    router.get("/raw", raw);
    router.post("/raw", raw);
    router.get("/plain-101", |_req: &mut Request| {
        Response::new(StatusCode::SWITCHING_PROTOCOLS)
    });
    let s = Arc::clone(seen);
    router.get("/always-upgrade", move |_req: &mut Request| {
        let s = Arc::clone(&s);
        Response::upgrade(HeaderValue::from_static("websocket"), move |_up| {
            s.wrongly_run.fetch_add(1, Ordering::SeqCst);
        })
    });
    router.get("/hello", |_req: &mut Request| "hello");
    // A WebSocket that sends what comes over its channel, woken by its
    // interrupter; the test gets both through `pushers`.
    let s = Arc::clone(seen);
    router.get(
        "/pushed",
        move |req: &mut Request| -> Result<Response, Rejection> {
            let s = Arc::clone(&s);
            Ok(
                WebSocketUpgrade::from_request(req)?.on_upgrade(move |mut ws| {
                    let (tx, rx) = coro::chan::bounded::<String>(16);
                    let wake = ws
                        .interrupter()
                        .expect("a TCP connection can be interrupted");
                    s.pushers.lock().unwrap().push((tx, wake));
                    loop {
                        match ws.read() {
                            Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                while let Ok(line) = rx.try_recv() {
                                    ws.send(Message::text(line)).unwrap();
                                }
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                }),
            )
        },
    );
    router
}

fn ws_url(addr: SocketAddr) -> String {
    format!("ws://{addr}/ws")
}

/// A tungstenite client on a std socket, its reads bounded.
fn ws_client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(READ_TIMEOUT)).unwrap();
    let (ws, response) = tungstenite::client(ws_url(addr), stream).expect("WebSocket handshake");
    assert_eq!(response.status(), 101);
    ws
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let end = Instant::now() + SETTLE;
    while !cond() {
        assert!(
            Instant::now() < end,
            "not reached within {SETTLE:?}: {what}"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// Reads a response head from `stream`; returns it and the bytes read past
/// it.
fn read_head(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = got.split_off(i + 4);
            return (String::from_utf8(got).unwrap(), rest);
        }
        let n = stream.read(&mut buf).expect("read a response head");
        assert!(n > 0, "closed inside a response head: {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
}

fn raw_stream(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

fn handshake(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}\r\n\r\n"
    )
}

/// A client's (masked) frame: `opcode`, and `payload` whole if `whole`,
/// else only its first half behind a header that announces all of it.
fn client_frame(opcode: u8, payload: &[u8], whole: bool) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    let sent = if whole {
        payload.len()
    } else {
        payload.len() / 2
    };
    frame.extend(
        payload[..sent]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4]),
    );
    frame
}

#[test]
fn a_websocket_echoes_text_binary_and_a_large_message() {
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let mut ws = ws_client(server.addr());
    ws.send(Message::text("hello")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(vec![0u8, 1, 2, 255]));
    // Past any one buffer of the server's (the input buffer, a socket
    // read), so it arrives in many pieces.
    let large: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(large.clone())).unwrap();
    match ws.read().unwrap() {
        Message::Binary(got) => {
            assert!(got[..] == large[..], "the large message came back changed")
        }
        other => panic!("expected the large message back, got {other:?}"),
    }
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(_) => {}
            Err(WsError::ConnectionClosed) => break,
            Err(e) => panic!("closing handshake: {e}"),
        }
    }
    wait_until("the closure returned", || {
        seen.ended.load(Ordering::SeqCst) == 1
    });
    // The HTTP routes are served beside it, on the same port.
    assert_eq!(
        server.connect().request(util::get("/hello")).text(),
        "hello"
    );
}

#[test]
fn a_frame_sent_with_the_upgrade_request_arrives() {
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let mut stream = raw_stream(server.addr());
    let mut request = handshake("/ws").into_bytes();
    request.extend(client_frame(0x1, b"first", true));
    stream.write_all(&request).unwrap();
    let (head, rest) = read_head(&mut stream);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(head.contains(&format!(": {ACCEPT}\r\n")), "{head}");
    assert!(!lower.contains("content-length") && !lower.contains("transfer-encoding"));
    let mut ws = tungstenite::WebSocket::from_partially_read(stream, rest, Role::Client, None);
    assert_eq!(ws.read().unwrap(), Message::text("first"));
}

#[test]
fn a_raw_protocol_after_a_101_gets_its_bytes_including_those_sent_with_the_request() {
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let mut stream = raw_stream(server.addr());
    stream
        .write_all(b"GET /raw HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nearly bytes|")
        .unwrap();
    let (head, mut got) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("\r\nupgrade: echo\r\n"),
        "{head}"
    );
    stream.write_all(b"late bytes").unwrap();
    let want = b"early bytes|late bytes";
    let mut buf = [0u8; 64];
    while got.len() < want.len() {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&got[..], want);
}

#[test]
fn a_request_body_is_read_before_the_switch() {
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let mut stream = raw_stream(server.addr());
    // The handler reads no body: the server does, so the new protocol
    // starts after it.
    stream
        .write_all(
            b"POST /raw HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\
              Content-Length: 9\r\n\r\nthe body!after",
        )
        .unwrap();
    let (head, mut got) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut buf = [0u8; 64];
    while got.len() < 5 {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {got:?}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(&got[..], b"after");
}

#[test]
fn a_client_that_vanishes_mid_frame_ends_only_its_connection() {
    let seen = Arc::new(Seen::default());
    // A grace period past the bound on `run`'s return: the server stops in
    // time only if the registry forgot every closed connection.
    let server = serve_with(router(&seen), long_grace);
    let mut stream = raw_stream(server.addr());
    stream.write_all(handshake("/ws").as_bytes()).unwrap();
    let (head, _) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    wait_until("the closure started", || {
        seen.running.load(Ordering::SeqCst) == 1
    });
    stream
        .write_all(&client_frame(
            0x2,
            b"half of this frame is never sent",
            false,
        ))
        .unwrap();
    drop(stream);
    wait_until("the vanished client's closure returned", || {
        seen.ended.load(Ordering::SeqCst) == 1 && seen.running.load(Ordering::SeqCst) == 0
    });
    // The server goes on: a new WebSocket and a plain request.
    let mut ws = ws_client(server.addr());
    ws.send(Message::text("still here")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("still here"));
    assert_eq!(
        server.connect().request(util::get("/hello")).text(),
        "hello"
    );
    drop(ws);
    wait_until("the second closure returned", || {
        seen.ended.load(Ordering::SeqCst) == 2
    });
    server.stop();
}

/// A grace period far longer than [`util::STOP_LIMIT`], for a test whose
/// server must stop without waiting for it.
fn long_grace(builder: coro_http::Builder) -> coro_http::Builder {
    builder.timeouts(coro_http::Timeouts {
        grace: Duration::from_secs(60),
        ..util::test_timeouts()
    })
}

#[test]
fn an_interrupter_wakes_a_blocked_websocket_to_send_from_elsewhere() {
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let addr = server.addr();
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/pushed"), stream).unwrap();
    wait_until("the WebSocket registered its interrupter", || {
        seen.pushers.lock().unwrap().len() == 1
    });
    for i in 0..3 {
        // From this plain thread: the connection's coroutine is blocked in
        // its read, and only the interrupt gets it to send.
        {
            let pushers = seen.pushers.lock().unwrap();
            let (tx, wake) = &pushers[0];
            tx.try_send(format!("pushed {i}")).unwrap();
            wake.interrupt();
        }
        assert_eq!(ws.read().unwrap(), Message::text(format!("pushed {i}")));
    }
}

/// Raises the soft limit on open files to at least `want` (up to the hard
/// limit): a thousand client and a thousand server sockets in one process.
fn raise_fd_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(got, 0, "getrlimit: {}", std::io::Error::last_os_error());
    if limit.rlim_cur >= want {
        return;
    }
    assert!(
        limit.rlim_max >= want,
        "this test needs {want} open files; the hard limit is {}",
        limit.rlim_max
    );
    limit.rlim_cur = want;
    // SAFETY: a valid rlimit, within the hard limit.
    let set = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
    assert_eq!(set, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

#[test]
fn a_thousand_websockets_at_once_each_echo() {
    const SOCKETS: usize = 1000;
    // Both ends of each, plus the runtime's and the harness's own.
    raise_fd_limit(2 * SOCKETS as u64 + 256);
    let seen = Arc::new(Seen::default());
    let server = serve_with(router(&seen), long_grace);
    let mut clients: Vec<_> = (0..SOCKETS).map(|_| ws_client(server.addr())).collect();
    wait_until("every closure runs at once", || {
        seen.running.load(Ordering::SeqCst) == SOCKETS
    });
    for (i, ws) in clients.iter_mut().enumerate() {
        ws.send(Message::text(format!("message {i}"))).unwrap();
    }
    for (i, ws) in clients.iter_mut().enumerate() {
        assert_eq!(ws.read().unwrap(), Message::text(format!("message {i}")));
    }
    drop(clients);
    wait_until("every closure returned", || {
        seen.ended.load(Ordering::SeqCst) == SOCKETS
    });
    // In time only if the registry forgot every one of them.
    server.stop();
}

#[test]
fn the_shutdown_closes_each_websocket_with_going_away_and_run_returns() {
    const SOCKETS: usize = 20;
    let seen = Arc::new(Seen::default());
    // The sockets must close through their close frames, not at the end
    // of the grace period.
    let mut server = serve_with(router(&seen), long_grace);
    let mut clients: Vec<_> = (0..SOCKETS).map(|_| ws_client(server.addr())).collect();
    for ws in &mut clients {
        ws.send(Message::text("before")).unwrap();
        assert_eq!(ws.read().unwrap(), Message::text("before"));
    }
    server.shutdown_handle().shutdown();
    for (i, ws) in clients.iter_mut().enumerate() {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(frame.code, CloseCode::Away, "socket {i}")
            }
            other => panic!("socket {i}: expected a close frame with 1001, got {other:?}"),
        }
        // Reading the close queued tungstenite's answer; this sends it.
        match ws.flush() {
            Ok(()) | Err(WsError::ConnectionClosed) => {}
            Err(e) => panic!("socket {i}: answering the close: {e}"),
        }
    }
    server.wait_stopped();
    assert_eq!(seen.ended.load(Ordering::SeqCst), SOCKETS);
}

/// The log lines of level error, for the tests that check what the server
/// says about a handler's mistake.
fn error_log() -> &'static Mutex<Vec<String>> {
    static LOG: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    struct Capture;
    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata) -> bool {
            metadata.level() <= log::Level::Error
        }
        fn log(&self, record: &log::Record) {
            if self.enabled(record.metadata()) {
                error_log().lock().unwrap().push(record.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    LOG.get_or_init(|| {
        let _ = log::set_logger(&Capture);
        log::set_max_level(log::LevelFilter::Error);
        Mutex::default()
    })
}

fn logged(needle: &str) -> bool {
    error_log()
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains(needle))
}

#[test]
fn a_101_without_an_upgrade_answers_500_and_logs_how_to_upgrade() {
    error_log();
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let mut client = server.connect();
    let response = client.request(handshake("/plain-101"));
    assert_eq!(response.status, 500);
    client.assert_closed();
    assert!(
        logged("GET /plain-101 with 101 Switching Protocols but gave no upgrade")
            && logged("Response::upgrade"),
        "the error log does not say how to upgrade: {:?}",
        error_log().lock().unwrap()
    );
}

#[test]
fn an_upgrade_to_a_request_that_did_not_ask_answers_500_and_never_runs() {
    error_log();
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let asks_not = [
        // No `Connection: upgrade`, no `Upgrade`.
        "GET /always-upgrade HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        // `Upgrade` without `Connection: upgrade`.
        "GET /always-upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n".to_string(),
        // Another protocol than the response's.
        "GET /always-upgrade HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n"
            .to_string(),
        // HTTP/1.0 cannot upgrade.
        "GET /always-upgrade HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
            .to_string(),
    ];
    for request in &asks_not {
        let mut client = server.connect();
        let response = client.request(request);
        assert_eq!(response.status, 500, "{request:?}");
        client.assert_closed();
    }
    assert!(logged(
        "GET /always-upgrade with 101 Switching Protocols, but"
    ));
    // Asked properly, it does switch.
    let mut stream = raw_stream(server.addr());
    stream
        .write_all(handshake("/always-upgrade").as_bytes())
        .unwrap();
    let (head, _) = read_head(&mut stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    wait_until("the proper upgrade ran", || {
        seen.wrongly_run.load(Ordering::SeqCst) == 1
    });
}

#[test]
fn bad_websocket_handshakes_get_400_or_426_with_what_to_send() {
    let seen = Arc::new(Seen::default());
    let server = serve(router(&seen));
    let without = |field: &str| -> String {
        handshake("/ws")
            .split("\r\n")
            .filter(|l| !l.starts_with(field))
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let cases: [(String, u16, &str); 5] = [
        (util::get("/ws"), 426, "Upgrade: websocket"),
        (without("Sec-WebSocket-Version"), 426, "version must be 13"),
        (
            handshake("/ws").replace("Version: 13", "Version: 8"),
            426,
            "version must be 13",
        ),
        (
            without("Sec-WebSocket-Key"),
            400,
            "Sec-WebSocket-Key is missing",
        ),
        (
            handshake("/ws").replace(KEY, "not-a-key"),
            400,
            "16 bytes in base64",
        ),
    ];
    for (request, status, says) in &cases {
        let mut client = Client::connect(server.addr());
        let response = client.request(request);
        assert_eq!(response.status, *status, "{request:?}");
        assert!(
            response.text().contains(says),
            "{request:?}: {}",
            response.text()
        );
        if *status == 426 {
            assert_eq!(response.header("upgrade"), Some("websocket"));
            assert_eq!(response.header("sec-websocket-version"), Some("13"));
        }
        // A refused handshake is an ordinary answer: the connection goes on.
        client.assert_serves();
    }
    assert_eq!(seen.running.load(Ordering::SeqCst), 0);
}

#[test]
fn the_101_names_the_first_subprotocol_of_the_servers_that_the_client_offered() {
    let mut router = Router::new();
    router.get(
        "/chat",
        |req: &mut Request| -> Result<Response, Rejection> {
            let upgrade = WebSocketUpgrade::from_request(req)?.protocols(["v2.chat", "v1.chat"]);
            Ok(upgrade.on_upgrade(|_ws| {}))
        },
    );
    let server = serve(router);
    let answer = |offered: Option<&str>| {
        let mut client = Client::connect(server.addr());
        let field = offered.map_or(String::new(), |o| {
            format!("Sec-WebSocket-Protocol: {o}\r\n")
        });
        let request = handshake("/chat").replace("\r\n\r\n", &format!("\r\n{field}\r\n"));
        client.send(&request);
        let response = client.head_response();
        assert_eq!(response.status, 101, "{offered:?}");
        response
            .header("sec-websocket-protocol")
            .map(str::to_string)
    };
    // The server's preference wins, whatever the client's order.
    assert_eq!(answer(Some("v1.chat, v2.chat")).as_deref(), Some("v2.chat"));
    assert_eq!(answer(Some("x, v1.chat")).as_deref(), Some("v1.chat"));
    // Offered over two fields, as RFC 9110 lets a list be split.
    let mut client = Client::connect(server.addr());
    let request = handshake("/chat").replace(
        "\r\n\r\n",
        "\r\nSec-WebSocket-Protocol: x\r\nSec-WebSocket-Protocol: v1.chat\r\n\r\n",
    );
    client.send(&request);
    let response = client.head_response();
    assert_eq!(response.header("sec-websocket-protocol"), Some("v1.chat"));
    // Nothing in common, or nothing offered: none named.
    assert_eq!(answer(Some("V2.CHAT, other")), None, "compared exactly");
    assert_eq!(answer(None), None);
}

#[test]
fn a_connection_ends_with_its_closure_even_when_the_upgraded_stream_was_moved_out() {
    let (kept_tx, kept_rx) = std::sync::mpsc::channel();
    let kept_tx = Mutex::new(kept_tx);
    let mut router = Router::new();
    router.get("/keep", move |_req: &mut Request| {
        let tx = kept_tx.lock().unwrap().clone();
        Response::upgrade(HeaderValue::from_static("echo"), move |up| {
            // Handed elsewhere, and kept alive there.
            tx.send(up).unwrap();
        })
    });
    let server = serve(router);
    let mut stream = raw_stream(server.addr());
    stream
        .write_all(b"GET /keep HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .unwrap();
    let _kept = kept_rx.recv_timeout(READ_TIMEOUT).expect("the closure ran");
    // The closure returned: the server shut the connection, so the client
    // reads the 101 and then the end of the stream, not a silent socket.
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    assert!(
        all.starts_with(b"HTTP/1.1 101 "),
        "{:?}",
        String::from_utf8_lossy(&all)
    );
}
