//! HTTPS: TLS through rustls, over the server's own coroutine sockets
//! (the `tls` feature, [`Builder::bind_tls`](crate::Builder::bind_tls)).
//!
//! A TLS listener's acceptor spawns a coroutine per connection as a plain
//! one does (see `accept`). That coroutine:
//!
//! 1. **Registers the connection** with a shutter of its raw socket, and
//!    marks it idle: it has sent no request yet, so the shutdown closes it
//!    as it closes a connection waiting for its first request (`server`'s
//!    module docs, step 2). Shutting the socket's read side ends the
//!    handshake's wait with the end of the stream.
//! 2. **Runs the handshake** in blocking style (`complete_io` over the
//!    coroutine socket, which parks the coroutine), within
//!    [`Timeouts::handshake`](crate::Timeouts::handshake) from the accept:
//!    every read and write of the handshake waits at most the time left
//!    ([`UntilDeadline`]), so a client that stalls or trickles bytes
//!    mid-handshake costs a parked coroutine and a timer until the
//!    deadline, never a worker. A failed handshake (plain HTTP on the TLS
//!    port, garbage, a client that refuses the certificate, the deadline)
//!    closes that connection only, logged at debug level: it is the
//!    client's failure, and a port open to the Internet sees many.
//! 3. **Serves the connection** with the one connection loop (`conn`),
//!    over [`Link::Tls`](crate::link::Link): a `rustls::StreamOwned`
//!    over the socket, whose reads and writes block as the socket's do.
//!    The header, idle, body and write timeouts are the socket's own, set
//!    by the loop as for a plain connection; rustls buffers what it
//!    encrypts, and the loop flushes after each batch of responses.
//!    Handlers see the client's address, from the accept. However the
//!    connection ends, it sends `close_notify` first if it can at once, so
//!    that the client tells the end from a truncation.
//!
//! Between requests a TLS connection waits in its coroutine (never without
//! one, see `conn`'s module docs): rustls may hold decrypted bytes that
//! the socket's readiness does not show. A file response is copied through
//! rustls (no `sendfile(2)`: the bytes must be encrypted).
//!
//! # ALPN
//!
//! The server speaks HTTP/1.1 only, so a listener's config advertises
//! `http/1.1`: an empty `alpn_protocols` list is set to it, and a list
//! that names another protocol (`h2`, say, which a client would then
//! speak) is refused when the server is built. A client that offers ALPN
//! without `http/1.1` fails the handshake (rustls's rule, RFC 7301 §3.2);
//! one that offers none is served.

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro_net::TcpStream;
use rustls::{ServerConfig, ServerConnection};

use crate::link::{Link, Shutter};
use crate::shared::Shared;
use crate::tls_stream::TlsStream;
use crate::transport::nonzero;

/// The ALPN name of HTTP/1.1 (RFC 7301 §6).
const HTTP_1_1: &[u8] = b"http/1.1";

/// The ALPN names this server may negotiate: what it speaks.
const SPOKEN: [&[u8]; 2] = [HTTP_1_1, b"http/1.0"];

/// A listener's TLS config, made ready to serve HTTP/1.1 (see the module
/// docs, "ALPN").
///
/// # Errors
/// `InvalidInput` if its ALPN list names a protocol the server does not
/// speak, or lacks `http/1.1`.
pub(crate) fn for_http(config: Arc<ServerConfig>) -> io::Result<Arc<ServerConfig>> {
    if config.alpn_protocols.is_empty() {
        let mut config = Arc::unwrap_or_clone(config);
        config.alpn_protocols = vec![HTTP_1_1.to_vec()];
        return Ok(Arc::new(config));
    }
    let foreign = config
        .alpn_protocols
        .iter()
        .find(|p| !SPOKEN.contains(&p.as_slice()));
    if let Some(p) = foreign {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "bind_tls: the ALPN list names {:?}, a protocol this server does not speak \
                 (leave alpn_protocols empty for http/1.1)",
                String::from_utf8_lossy(p)
            ),
        ));
    }
    if !config.alpn_protocols.iter().any(|p| p == HTTP_1_1) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bind_tls: the ALPN list lacks http/1.1 (leave alpn_protocols empty for http/1.1)",
        ));
    }
    Ok(config)
}

/// Serves `socket`, accepted by a TLS listener, until it closes (steps
/// 1–3 of the module docs). The acceptor took its place under the
/// connection cap.
pub(crate) fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    config: Arc<ServerConfig>,
) {
    let socket = Arc::new(socket);
    let entry = shared.conns.insert(Shutter::Tcp(Arc::clone(&socket)), true);
    if !entry.enter_idle(&shared.conns) {
        shared.conns.remove(&entry);
        return;
    }
    let timeout = shared.config.timeouts.handshake;
    let handshaken = handshake(&socket, config, timeout);
    entry.leave_idle();
    match handshaken {
        Ok(conn) => {
            let stream = TlsStream::new(conn, socket);
            crate::conn::serve_registered(Link::Tls(Box::new(stream)), entry, Some(peer), shared);
        }
        Err(e) => {
            if e.kind() == io::ErrorKind::TimedOut {
                log::debug!("TLS handshake with {peer}: no handshake within {timeout:?}");
            } else {
                log::debug!("TLS handshake with {peer} failed: {e}");
            }
            shared.conns.remove(&entry);
        }
    }
}

/// Runs the server's side of a handshake on `socket` within `timeout`.
fn handshake(
    socket: &TcpStream,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> io::Result<ServerConnection> {
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut io = UntilDeadline {
        socket,
        deadline: Instant::now() + timeout,
    };
    while conn.is_handshaking() {
        conn.complete_io(&mut io)?;
    }
    Ok(conn)
}

/// The socket during the handshake: each read or write waits at most
/// until the handshake's deadline.
struct UntilDeadline<'a> {
    socket: &'a TcpStream,
    deadline: Instant,
}

impl UntilDeadline<'_> {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        Ok(nonzero(left))
    }
}

impl Read for UntilDeadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.set_read_timeout(Some(self.left()?))?;
        self.socket.read(buf)
    }
}

impl Write for UntilDeadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket.set_write_timeout(Some(self.left()?))?;
        self.socket.write(buf)
    }

    /// rustls hands its queued records (the server's whole flight) over
    /// at once: one system call, not one per record.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.socket.set_write_timeout(Some(self.left()?))?;
        self.socket.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
