//! What a connection can be served over, for streams the program accepted
//! itself: the [`Transport`] trait (coro-net's TCP and Unix sockets have
//! it) and the [`Closer`] that lets the server end such a connection from
//! outside. How the connection loop holds its stream, whatever it is, is
//! `link`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

use coro_net::{TcpStream, UnixStream};

/// A byte stream that a connection can be served over: see
/// [`ConnectionHandle::serve`](crate::ConnectionHandle::serve).
///
/// Reads and writes block in the coroutine (or thread) that serves the
/// connection, as coro-net's sockets do; a stream that blocks its thread
/// stops every coroutine of that worker while it waits.
pub trait Transport: Read + Write + Send + 'static {
    /// Bounds the reads that follow: one that waits longer fails with
    /// [`io::ErrorKind::TimedOut`] (or `WouldBlock`). `None` waits
    /// forever. The server's header, idle and body timeouts work through
    /// it. A stream that cannot bound its reads should return `Ok(())` and
    /// go without them (an error here closes the connection).
    ///
    /// # Errors
    /// If the bound cannot be set.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Bounds the writes that follow, as `set_read_timeout` the reads.
    ///
    /// # Errors
    /// If the bound cannot be set.
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()>;

    /// Ends the stream's write side after the last response, so that the
    /// client reads the end of the stream (TLS: sends `close_notify`,
    /// then shuts the socket's write side).
    ///
    /// # Errors
    /// If the end cannot be sent.
    fn shutdown_write(&mut self) -> io::Result<()>;

    /// A way for the server to end this connection from another thread:
    /// the shutdown closes idle connections with it, and, after the grace
    /// period, busy ones. `None` (the default): an idle connection stays
    /// open through the shutdown until its idle timeout ends it.
    fn closer(&self) -> Option<Closer> {
        None
    }
}

/// Shuts a connection's underlying socket from any thread: after
/// `Shutdown::Read` the connection's reads see the end of the stream, and
/// after `Shutdown::Both` its writes fail too.
#[derive(Clone)]
pub struct Closer(Arc<dyn Fn(Shutdown) + Send + Sync>);

impl Closer {
    /// A closer that calls `shut`.
    pub fn new(shut: impl Fn(Shutdown) + Send + Sync + 'static) -> Closer {
        Closer(Arc::new(shut))
    }

    /// A closer of the socket behind `fd`, through a duplicate of the
    /// descriptor (shutting a socket acts on the socket, whichever
    /// descriptor names it).
    ///
    /// # Errors
    /// If the descriptor cannot be duplicated.
    pub fn for_socket(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<Closer> {
        let socket = socket2::SockRef::from(&fd).try_clone()?;
        Ok(Closer::new(move |how| {
            let _ = socket.shutdown(how);
        }))
    }

    /// Shuts the socket.
    pub fn shut(&self, how: Shutdown) {
        (self.0)(how);
    }
}

impl fmt::Debug for Closer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closer")
    }
}

/// Implements [`Transport`] for a coro-net stream type.
macro_rules! coro_net_transport {
    ($ty:ty) => {
        impl Transport for $ty {
            fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_read_timeout(self, timeout.map(nonzero))
            }

            fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
                <$ty>::set_write_timeout(self, timeout.map(nonzero))
            }

            fn shutdown_write(&mut self) -> io::Result<()> {
                self.shutdown(Shutdown::Write)
            }

            fn closer(&self) -> Option<Closer> {
                use std::os::fd::AsFd;
                Closer::for_socket(self.as_fd()).ok()
            }
        }
    };
}

coro_net_transport!(TcpStream);
coro_net_transport!(UnixStream);

/// coro-net refuses a zero timeout, as `std` does; the server's deadlines
/// may leave exactly nothing.
pub(crate) fn nonzero(d: Duration) -> Duration {
    d.max(Duration::from_nanos(1))
}
