//! The connection a handler's 101 hands over ([`Upgraded`]), the closure
//! that takes it ([`OnUpgrade`]), and the [`Interrupter`] that wakes its
//! reads; see `upgrade` for the switch itself and the shutdown.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::sync::{Arc, Weak};
use std::time::Duration;

use coro_net::TcpStream;

use crate::io::ConnIo;
use crate::link::Link;
use crate::registry::Closing;

/// What a 101 response runs once it is sent: see [`Response::upgrade`](crate::Response::upgrade).
///
/// Boxed twice, so that it is one pointer wide and `Response` stays within
/// its size bound (see `response.rs`); the upgrade pays one allocation more.
pub(crate) struct OnUpgrade(pub(crate) Box<UpgradeFn>);

/// The handler's closure itself.
pub(crate) type UpgradeFn = Box<dyn FnOnce(Upgraded) + Send>;

impl fmt::Debug for OnUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnUpgrade")
    }
}

/// A connection that switched protocols, as the closure of
/// [`Response::upgrade`](crate::Response::upgrade) gets it: `Read` gives first the bytes that
/// arrived behind the request (nothing sent after the upgrade request is
/// lost), then the stream's; `Write` writes to the stream.
///
/// Reads wait as long as it takes (set a bound with
/// [`set_read_timeout`](Self::set_read_timeout)); writes keep the server's
/// write timeout. A read returns `WouldBlock` only when interrupted: by
/// the server's shutdown ([`is_shutting_down`](Self::is_shutting_down)
/// then says so), or by an [`Interrupter`]. The connection closes when
/// the closure returns, even if the closure moved the `Upgraded` elsewhere
/// (its socket is shut then; it is the server's connection only while the
/// closure runs). Dropping it ends a TLS session with `close_notify`.
pub struct Upgraded {
    io: ConnIo,
    closing: Closing,
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("buffered", &self.io.buffered().len())
            .field("stream", self.io.link())
            .finish_non_exhaustive()
    }
}

impl Upgraded {
    pub(crate) fn new(io: ConnIo, closing: Closing) -> Upgraded {
        Upgraded { io, closing }
    }

    /// Whether the server is shutting down: the protocol should say
    /// goodbye and end (a WebSocket: a close frame, code 1001). The
    /// shutdown interrupts a blocked read once to say so (see the
    /// [`Upgraded`] docs).
    pub fn is_shutting_down(&self) -> bool {
        self.closing.is_set()
    }

    /// A handle that interrupts this connection's reads from any
    /// coroutine or thread (see [`Interrupter`]); `None` for a stream
    /// that cannot be interrupted (one the program handed to
    /// [`ConnectionHandle::serve`](crate::ConnectionHandle::serve)).
    pub fn interrupter(&self) -> Option<Interrupter> {
        match self.io.link() {
            Link::Tcp(stream) => Some(Interrupter(Arc::downgrade(stream))),
            // An interrupted socket read comes out of rustls as the same
            // `WouldBlock`, with the session's state kept.
            #[cfg(feature = "tls")]
            Link::Tls(tls) => Some(Interrupter(Arc::downgrade(tls.socket()))),
            Link::Boxed(_) => None,
        }
    }

    /// The bytes that arrived behind the request and are not read yet.
    pub fn buffered(&self) -> &[u8] {
        self.io.buffered()
    }

    /// Bounds the reads that follow (`None`, the default: no bound); one
    /// that waits longer fails with `TimedOut`.
    ///
    /// # Errors
    /// If the stream cannot set it.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match timeout {
            Some(t) => self.io.link_mut().set_read_timeout(t),
            None => self.io.link_mut().clear_read_timeout(),
        }
    }
}

impl Drop for Upgraded {
    fn drop(&mut self) {
        // A TLS session says it ends (`close_notify`) rather than stop.
        self.io.link_mut().close();
    }
}

impl Read for Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let buffered = self.io.buffered();
        if !buffered.is_empty() {
            let n = buffered.len().min(buf.len());
            buf[..n].copy_from_slice(&buffered[..n]);
            self.io.consume(n);
            return Ok(n);
        }
        self.io.link_mut().read(buf)
    }
}

impl Write for Upgraded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.link_mut().write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.io.link_mut().write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.link_mut().flush()
    }
}

/// Interrupts an [`Upgraded`] connection's read from another coroutine or
/// thread: the read blocked now (or else the next one) returns
/// `WouldBlock` once, consuming nothing, so that the connection's
/// coroutine can do what it was woken for (send a message that another
/// coroutine handed it over a channel) and read again. Several interrupts
/// before a read takes one count as one. It does not keep the connection
/// open: once the connection has closed, it does nothing.
#[derive(Clone, Debug)]
pub struct Interrupter(Weak<TcpStream>);

impl Interrupter {
    /// Interrupts the connection's read, if the connection is still open.
    pub fn interrupt(&self) {
        if let Some(stream) = self.0.upgrade() {
            stream.interrupt_read();
        }
    }
}
