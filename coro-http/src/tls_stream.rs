//! An established TLS session over one of the server's sockets: plaintext
//! in and out, records on the socket, which the registry's shutter shares
//! (see `link`). The handshake that makes one is `tls`'s.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use coro_net::TcpStream;
use rustls::{ServerConnection, StreamOwned};

use crate::transport::nonzero;

/// The socket under an established TLS session, shared with the
/// registry's shutter.
#[derive(Debug)]
struct SocketIo(Arc<TcpStream>);

impl Read for SocketIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for SocketIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self.0).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An established TLS connection: plaintext in and out, records on the
/// socket.
pub(crate) struct TlsStream(StreamOwned<ServerConnection, SocketIo>);

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsStream").field(&self.0.sock.0).finish()
    }
}

impl TlsStream {
    /// The session `conn`, handshaken, over `socket`.
    pub(crate) fn new(conn: ServerConnection, socket: Arc<TcpStream>) -> TlsStream {
        TlsStream(StreamOwned::new(conn, SocketIo(socket)))
    }

    pub(crate) fn socket(&self) -> &Arc<TcpStream> {
        &self.0.sock.0
    }

    /// Sends `close_notify` (unless it was), without waiting for room in
    /// the socket: a connection that closes otherwise than through
    /// [`shutdown_write`](Self::shutdown_write) (idle, shut by the
    /// shutdown, its client gone) still ends its session cleanly for a
    /// client that can hear it.
    pub(crate) fn close(&mut self) {
        self.0.conn.send_close_notify();
        if self.0.conn.wants_write()
            && self
                .socket()
                .set_write_timeout(Some(nonzero(Duration::ZERO)))
                .is_ok()
        {
            let _ = self.0.conn.write_tls(&mut self.0.sock);
        }
    }

    /// Sends `close_notify`, then shuts the socket's write side.
    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        self.0.conn.send_close_notify();
        self.0.flush()?;
        self.socket().shutdown(Shutdown::Write)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
