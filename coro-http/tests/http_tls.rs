//! HTTPS through `Builder::bind_tls`, against a rustls client: the same
//! connection loop as plain HTTP (keep-alive, pipelining, chunked uploads,
//! streamed and file responses), ALPN, the peer address, plain and TLS
//! listeners in one server, and the handshake's failures: a staller
//! (closed at the handshake timeout, while others are served), plain HTTP
//! or an untrusted client on the TLS port (closed, the server unharmed),
//! and the shutdown during a handshake.
//!
//! The certificates are made at test time with rcgen: no key is
//! committed.

mod util;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use coro_http::{Builder, IntoResponse, Request, Response, Router, Timeouts};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

use util::{chunked_post, get, post, serve_with, Client, TestServer, READ_TIMEOUT};

/// A self-signed certificate for `localhost`, and the server config that
/// presents it.
struct Identity {
    cert: CertificateDer<'static>,
    server: ServerConfig,
}

fn identity() -> Identity {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("make a certificate");
    let cert = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("a server config");
    Identity { cert, server }
}

/// A client config that trusts `cert` and offers `alpn`.
fn client_config(cert: &CertificateDer<'static>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).expect("trust the certificate");
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A TLS session to `addr`, handshaken; the error if the handshake fails.
fn try_connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
    let socket = TcpStream::connect_timeout(&addr, READ_TIMEOUT)?;
    socket.set_read_timeout(Some(READ_TIMEOUT))?;
    socket.set_write_timeout(Some(READ_TIMEOUT))?;
    socket.set_nodelay(true)?;
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, socket);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

/// A test [`Client`] speaking TLS to `addr`, with the ALPN protocol the
/// server chose.
fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> (Client, Option<Vec<u8>>) {
    let tls = try_connect(addr, config).expect("the TLS handshake");
    let alpn = tls.conn.alpn_protocol().map(<[u8]>::to_vec);
    let socket = tls.sock.try_clone().unwrap();
    (Client::over(socket, tls), alpn)
}

/// Bytes of a file response, large enough for several TLS records.
const FILE_LEN: usize = 100_000;

fn file_bytes() -> Vec<u8> {
    (0..FILE_LEN).map(|i| (i % 251) as u8).collect()
}

fn router() -> Router {
    let mut router = Router::new();
    router
        .get("/", |_: &mut Request| Response::text("hello"))
        .get("/peer", |req: &mut Request| {
            Response::text(format!("{:?}", req.remote_addr()))
        })
        .post("/", |req: &mut Request| match req.body_bytes() {
            Ok(body) => Response::bytes(body),
            Err(e) => e.into_response(),
        })
        .get("/stream", |_: &mut Request| {
            Response::stream(|w: &mut dyn Write| {
                for piece in ["one ", "two ", "three"] {
                    w.write_all(piece.as_bytes())?;
                }
                Ok(())
            })
        })
        .get("/file", |_: &mut Request| {
            let path = std::env::temp_dir().join(format!("coro-http-tls-{}", std::process::id()));
            std::fs::write(&path, file_bytes())?;
            let file = std::fs::File::open(&path)?;
            std::fs::remove_file(&path)?;
            Response::file(file)
        });
    router
}

/// A server with a plain listener (`addrs()[0]`) and a TLS one
/// (`addrs()[1]`) presenting `identity`, adjusted by `configure`.
fn serve_tls(
    identity: &Identity,
    configure: impl FnOnce(Builder) -> Builder,
) -> (TestServer, SocketAddr) {
    let config = identity.server.clone();
    let server = serve_with(router(), |b| configure(b.bind_tls("127.0.0.1:0", config)));
    let tls_addr = server.addrs()[1];
    (server, tls_addr)
}

/// The first bytes of a ClientHello: a handshake record header that
/// promises more than follows.
const HALF_A_CLIENT_HELLO: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];

/// A raw socket to `addr` that sent half a ClientHello.
fn staller(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect_timeout(&addr, READ_TIMEOUT).unwrap();
    socket.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    socket.write_all(HALF_A_CLIENT_HELLO).unwrap();
    socket
}

/// Fails the test unless the server closed `socket` (end of stream or a
/// reset) with nothing, or only a TLS alert record, sent first.
fn assert_closed_raw(socket: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("expected the server to close the connection: {e}; got {got:?}"),
        }
    }
}

#[test]
fn a_tls_connection_keeps_alive_pipelines_and_reads_chunked_uploads() {
    let identity = identity();
    let (server, addr) = serve_tls(&identity, |b| b);
    let (mut client, _) = connect(addr, client_config(&identity.cert, &[b"http/1.1"]));
    for _ in 0..3 {
        let r = client.request(get("/"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), "hello");
        assert!(!r.says_close());
    }
    client.send(format!(
        "{}{}{}",
        post("/", "one"),
        get("/"),
        post("/", "two")
    ));
    assert_eq!(client.response().text(), "one");
    assert_eq!(client.response().text(), "hello");
    assert_eq!(client.response().text(), "two");
    let r = client.request(chunked_post("7\r\nchunked\r\n7\r\n upload\r\n0\r\n\r\n"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "chunked upload");
    client.assert_serves();
    drop(server);
}

#[test]
fn streamed_and_file_responses_arrive_whole_over_tls() {
    let identity = identity();
    let (_server, addr) = serve_tls(&identity, |b| b);
    let (mut client, _) = connect(addr, client_config(&identity.cert, &[b"http/1.1"]));
    let r = client.request(get("/stream"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "one two three");
    assert!(r.chunks.is_some(), "a streamed body is chunked");
    let r = client.request(get("/file"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), FILE_LEN);
    assert!(r.body == file_bytes(), "the file's bytes, in order");
    client.assert_serves();
}

#[test]
fn alpn_negotiates_http_1_1_and_a_client_without_alpn_is_served() {
    let identity = identity();
    let (_server, addr) = serve_tls(&identity, |b| b);
    let (mut client, alpn) = connect(addr, client_config(&identity.cert, &[b"h2", b"http/1.1"]));
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(client.request(get("/")).status, 200);
    let (mut client, alpn) = connect(addr, client_config(&identity.cert, &[]));
    assert_eq!(alpn, None);
    assert_eq!(client.request(get("/")).status, 200);
    // A client that speaks only h2 finds no protocol in common.
    let refused = try_connect(addr, client_config(&identity.cert, &[b"h2"]));
    assert!(refused.is_err(), "an h2-only client was accepted");
    assert!(util::accepts_requests(server_plain(&_server)));
}

fn server_plain(server: &TestServer) -> SocketAddr {
    server.addrs()[0]
}

#[test]
fn an_alpn_list_the_server_cannot_honour_is_refused_at_build() {
    let identity = identity();
    for alpn in [
        vec![b"h2".to_vec()],
        vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    ] {
        let mut config = identity.server.clone();
        config.alpn_protocols = alpn.clone();
        let built = coro_http::Server::builder()
            .bind_tls("127.0.0.1:0", config)
            .build(router());
        let e = built.expect_err("an ALPN list with h2 was accepted");
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{alpn:?}: {e}");
        assert!(e.to_string().contains("h2"), "{e}");
    }
    let mut config = identity.server.clone();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let server = coro_http::Server::builder()
        .bind_tls("127.0.0.1:0", config)
        .build(router());
    assert!(server.is_ok(), "an http/1.1 list is refused");
}

#[test]
fn handlers_see_the_clients_address_over_tls() {
    let identity = identity();
    let (_server, addr) = serve_tls(&identity, |b| b);
    let tls = try_connect(addr, client_config(&identity.cert, &[b"http/1.1"])).unwrap();
    let me = tls.sock.local_addr().unwrap();
    let mut client = Client::over(tls.sock.try_clone().unwrap(), tls);
    let r = client.request(get("/peer"));
    assert_eq!(r.text(), format!("{:?}", Some(me)));
}

#[test]
fn plain_and_tls_listeners_serve_side_by_side() {
    let identity = identity();
    let (server, addr) = serve_tls(&identity, |b| b);
    let mut plain = Client::connect(server_plain(&server));
    let (mut tls, _) = connect(addr, client_config(&identity.cert, &[b"http/1.1"]));
    for _ in 0..2 {
        assert_eq!(plain.request(get("/")).text(), "hello");
        assert_eq!(tls.request(get("/")).text(), "hello");
    }
}

#[test]
fn plain_http_on_the_tls_port_is_closed_and_the_server_unharmed() {
    let identity = identity();
    let (_server, addr) = serve_tls(&identity, |b| b);
    let mut raw = TcpStream::connect_timeout(&addr, READ_TIMEOUT).unwrap();
    raw.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    raw.write_all(get("/").as_bytes()).unwrap();
    let got = assert_closed_raw(&mut raw);
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1"),
        "plain HTTP was answered in the clear on the TLS port: {got:?}"
    );
    // Garbage too.
    let mut raw = TcpStream::connect_timeout(&addr, READ_TIMEOUT).unwrap();
    raw.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    raw.write_all(&[0xff; 64]).unwrap();
    assert_closed_raw(&mut raw);
    let (mut client, _) = connect(addr, client_config(&identity.cert, &[b"http/1.1"]));
    assert_eq!(client.request(get("/")).status, 200);
}

#[test]
fn a_client_that_does_not_trust_the_certificate_fails_alone() {
    let identity = identity();
    let (_server, addr) = serve_tls(&identity, |b| b);
    let stranger = self::identity();
    let refused = try_connect(addr, client_config(&stranger.cert, &[b"http/1.1"]));
    assert!(refused.is_err(), "a certificate of another CA was trusted");
    let (mut client, _) = connect(addr, client_config(&identity.cert, &[b"http/1.1"]));
    assert_eq!(client.request(get("/")).status, 200);
}

#[test]
fn the_handshake_timeout_closes_a_staller_while_others_are_served() {
    let identity = identity();
    // One worker: a staller that held it would stop every other client.
    let timeouts = Timeouts {
        handshake: Duration::from_secs(2),
        ..util::test_timeouts()
    };
    let (_server, addr) = serve_tls(&identity, |b| b.workers(1).timeouts(timeouts));
    let mut stalled = staller(addr);
    let mut silent = TcpStream::connect_timeout(&addr, READ_TIMEOUT).unwrap();
    silent.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let (mut client, _) = connect(addr, client_config(&identity.cert, &[b"http/1.1"]));
    for _ in 0..3 {
        assert_eq!(client.request(get("/")).status, 200);
    }
    assert_closed_raw(&mut stalled);
    assert_closed_raw(&mut silent);
    client.assert_serves();
}

/// Fails the test unless the server ended the session cleanly:
/// `close_notify`, then the end of the stream.
fn assert_closed_cleanly(tls: &mut StreamOwned<ClientConnection, TcpStream>) {
    let mut buf = [0u8; 64];
    match tls.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("more bytes after the last response: {:?}", &buf[..n]),
        Err(e) => panic!("the session did not end with close_notify: {e}"),
    }
}

#[test]
fn idle_tls_connections_end_with_close_notify_at_the_idle_timeout_and_the_shutdown() {
    let identity = identity();
    let timeouts = Timeouts {
        idle: Duration::from_millis(300),
        ..util::test_timeouts()
    };
    let (mut server, addr) = serve_tls(&identity, |b| b.timeouts(timeouts));
    let config = client_config(&identity.cert, &[b"http/1.1"]);
    let mut timed_out = try_connect(addr, Arc::clone(&config)).unwrap();
    timed_out.write_all(get("/").as_bytes()).unwrap();
    let mut answer = [0u8; 12];
    timed_out.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    let mut rest = vec![0u8; 512];
    // The rest of the (small) response, then the idle timeout's end.
    let n = timed_out.read(&mut rest).unwrap();
    assert!(n > 0 && rest[..n].ends_with(b"hello"), "{:?}", &rest[..n]);
    assert_closed_cleanly(&mut timed_out);
    let mut shut = try_connect(addr, config).unwrap();
    server.shutdown_handle().shutdown();
    server.wait_stopped();
    assert_closed_cleanly(&mut shut);
}

#[test]
fn the_shutdown_closes_a_connection_mid_handshake_and_run_returns() {
    let identity = identity();
    // A handshake timeout and a grace period far past the test's stop
    // limit: only the shutdown's close of connections that sent no request
    // can end the staller's handshake in time.
    let timeouts = Timeouts {
        handshake: Duration::from_secs(600),
        grace: Duration::from_secs(600),
        ..util::test_timeouts()
    };
    let (mut server, addr) = serve_tls(&identity, |b| b.workers(1).timeouts(timeouts));
    let mut stalled = staller(addr);
    // Served after the staller was accepted (one acceptor, in order): its
    // handshake is under way when the shutdown starts.
    let (mut client, _) = connect(addr, client_config(&identity.cert, &[b"http/1.1"]));
    assert_eq!(client.request(get("/")).status, 200);
    server.shutdown_handle().shutdown();
    server.wait_stopped();
    assert_closed_raw(&mut stalled);
    client.assert_closed();
}

/// A WebSocket echo on `/ws`, as `tests/http_upgrade.rs` has on plain
/// TCP: each closure counts itself out when it ends.
fn ws_router(ended: &Arc<std::sync::atomic::AtomicUsize>) -> Router {
    use coro_http::ws::{Message, Rejection, WebSocketUpgrade};
    let mut router = Router::new();
    let ended = Arc::clone(ended);
    router.get(
        "/ws",
        move |req: &mut Request| -> Result<Response, Rejection> {
            let ended = Arc::clone(&ended);
            Ok(
                WebSocketUpgrade::from_request(req)?.on_upgrade(move |mut ws| {
                    while let Ok(msg) = ws.read() {
                        if matches!(msg, Message::Text(_) | Message::Binary(_))
                            && ws.send(msg).is_err()
                        {
                            break;
                        }
                    }
                    ended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }),
            )
        },
    );
    router
}

#[test]
fn a_websocket_over_tls_echoes_and_hears_the_shutdown_as_going_away() {
    use tungstenite::protocol::frame::coding::CloseCode;
    use tungstenite::Message;
    let identity = identity();
    let ended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let config = identity.server.clone();
    // A grace period far past the test's bound: the socket must end
    // through its close frame, not be cut at the end of the grace.
    let timeouts = Timeouts {
        grace: Duration::from_secs(600),
        ..util::test_timeouts()
    };
    let mut server = serve_with(ws_router(&ended), |b| {
        b.bind_tls("127.0.0.1:0", config).timeouts(timeouts)
    });
    let tls = try_connect(
        server.addrs()[1],
        client_config(&identity.cert, &[b"http/1.1"]),
    )
    .expect("the TLS handshake");
    let (mut ws, answer) =
        tungstenite::client("wss://localhost/ws", tls).expect("the WebSocket handshake");
    assert_eq!(answer.status(), 101);
    ws.send(Message::text("over tls")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("over tls"));
    let big = Message::binary(vec![7u8; 200_000]);
    ws.send(big.clone()).unwrap();
    assert_eq!(ws.read().unwrap(), big);

    server.shutdown_handle().shutdown();
    match ws.read() {
        Ok(Message::Close(Some(frame))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame with 1001, got {other:?}"),
    }
    let _ = ws.flush();
    server.wait_stopped();
    assert_eq!(ended.load(std::sync::atomic::Ordering::SeqCst), 1);
}
