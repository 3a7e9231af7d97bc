//! A connection's stream, as the connection loop holds it.
//!
//! The server's own listeners give it coro-net TCP sockets, which it keeps
//! as such ([`Link::Tcp`]): reads and writes go straight to the socket,
//! and only a plain socket can wait for its next request without a
//! coroutine (`conn`'s module docs) or send a file with `sendfile(2)`.
//! The server's own TLS listeners (the `tls` feature) give it a rustls
//! stream over such a socket ([`Link::Tls`], see `tls_stream`). Any other
//! stream (a Unix socket, the user's own TLS, anything) implements
//! [`Transport`] and is served boxed ([`Link::Boxed`]), by the same
//! connection loop: one dynamic call per read or write, next to a system
//! call each.
//!
//! The shutdown and the idle sweep close connections from outside their
//! coroutine, so the registry keeps a way to shut each one
//! ([`Shutter`]): the socket itself for TCP and the server's TLS, the
//! transport's [`Closer`] otherwise.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use coro_net::TcpStream;

use crate::transport::{nonzero, Closer, Transport};

/// A connection's stream, as the connection loop holds it.
pub(crate) enum Link {
    /// A socket of the server's own listeners.
    Tcp(Arc<TcpStream>),
    /// A TLS session of the server's own TLS listeners.
    #[cfg(feature = "tls")]
    Tls(Box<crate::tls_stream::TlsStream>),
    /// Anything else.
    Boxed(Box<dyn Transport>),
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Tcp(s) => f.debug_tuple("Link::Tcp").field(s).finish(),
            #[cfg(feature = "tls")]
            Link::Tls(s) => f.debug_tuple("Link::Tls").field(s).finish(),
            Link::Boxed(_) => f.write_str("Link::Boxed"),
        }
    }
}

impl Link {
    pub(crate) fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(nonzero(timeout));
        match self {
            Link::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.socket().set_read_timeout(timeout),
            Link::Boxed(s) => s.set_read_timeout(timeout),
        }
    }

    pub(crate) fn set_write_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        let timeout = Some(nonzero(timeout));
        match self {
            Link::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.socket().set_write_timeout(timeout),
            Link::Boxed(s) => s.set_write_timeout(timeout),
        }
    }

    /// Reads wait as long as it takes (an upgraded connection's default).
    pub(crate) fn clear_read_timeout(&mut self) -> io::Result<()> {
        match self {
            Link::Tcp(s) => s.set_read_timeout(None),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.socket().set_read_timeout(None),
            Link::Boxed(s) => s.set_read_timeout(None),
        }
    }

    pub(crate) fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Link::Tcp(s) => s.shutdown(Shutdown::Write),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.shutdown_write(),
            Link::Boxed(s) => s.shutdown_write(),
        }
    }

    /// Ends the stream before it is dropped, without waiting: a TLS
    /// session sends `close_notify` if the socket has room (see `tls`).
    pub(crate) fn close(&mut self) {
        #[cfg(feature = "tls")]
        if let Link::Tls(s) = self {
            s.close();
        }
    }

    /// Reads what has arrived, without waiting: 0 if nothing has (or at
    /// the end of the stream).
    pub(crate) fn read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = match self {
            // Straight from the (nonblocking) socket: the stream's own
            // read would first wait for the reactor to report it
            // readable. A readiness bit it leaves set only costs the next
            // read one try.
            Link::Tcp(s) => (&*socket2::SockRef::from(&**s)).read(buf),
            // What rustls holds decrypted comes first; then the socket,
            // with (next to) no wait.
            #[cfg(feature = "tls")]
            Link::Tls(s) => {
                s.socket().set_read_timeout(Some(nonzero(Duration::ZERO)))?;
                s.read(buf)
            }
            Link::Boxed(s) => {
                s.set_read_timeout(Some(nonzero(Duration::ZERO)))?;
                s.read(buf)
            }
        };
        match read {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(0)
            }
            read => read,
        }
    }

    /// The way the registry shuts this connection.
    pub(crate) fn shutter(&self) -> Shutter {
        match self {
            Link::Tcp(s) => Shutter::Tcp(Arc::clone(s)),
            #[cfg(feature = "tls")]
            Link::Tls(s) => Shutter::Tcp(Arc::clone(s.socket())),
            Link::Boxed(s) => s.closer().map_or(Shutter::None, Shutter::Closer),
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => (&**s).read(buf),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.read(buf),
            Link::Boxed(s) => s.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => (&**s).write(buf),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.write(buf),
            Link::Boxed(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Link::Tcp(s) => (&**s).write_vectored(bufs),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.write_vectored(bufs),
            Link::Boxed(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Tcp(_) => Ok(()),
            #[cfg(feature = "tls")]
            Link::Tls(s) => s.flush(),
            Link::Boxed(s) => s.flush(),
        }
    }
}

/// How the registry shuts a connection from outside its coroutine, and
/// tells an upgraded one of the shutdown (`interrupt_read`).
#[derive(Debug, Clone)]
pub(crate) enum Shutter {
    Tcp(Arc<TcpStream>),
    Closer(Closer),
    /// The transport gave no closer.
    None,
}

impl Shutter {
    pub(crate) fn shut(&self, how: Shutdown) {
        match self {
            Shutter::Tcp(s) => {
                let _ = s.shutdown(how);
            }
            Shutter::Closer(c) => c.shut(how),
            Shutter::None => {}
        }
    }

    /// Makes the connection's blocked read (or its next) return
    /// `WouldBlock` once, consuming nothing; false if this kind of stream
    /// cannot be interrupted (only the server's own TCP sockets can).
    pub(crate) fn interrupt_read(&self) -> bool {
        match self {
            Shutter::Tcp(s) => {
                s.interrupt_read();
                true
            }
            Shutter::Closer(_) | Shutter::None => false,
        }
    }
}
