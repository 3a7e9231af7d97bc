//! A Unix-domain listener whose `accept` parks the coroutine.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;

use socket2::{Domain, SockAddr, Socket, Type};

use super::UnixStream;
use crate::registration::{Direction, Interest, Registration};

/// Backlog of pending connections (as the TCP listener's default).
const BACKLOG: i32 = 1024;

/// A Unix-domain socket server; see `std::os::unix::net::UnixListener`.
///
/// ```no_run
/// use std::io::{Read, Write};
///
/// let listener = coro_net::UnixListener::bind("/tmp/echo.sock")?;
/// for stream in listener.incoming() {
///     let mut stream = stream?;
///     coro::spawn(move || {
///         let mut buf = [0; 1024];
///         while let Ok(n @ 1..) = stream.read(&mut buf) {
///             stream.write_all(&buf[..n]).unwrap();
///         }
///     });
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    // Dropped before `inner`, which closes the fd.
    reg: Registration,
    inner: net::UnixListener,
}

impl UnixListener {
    /// Binds to the socket file at `path`, which must not exist yet (the
    /// file is not removed when the listener is dropped, as in `std`).
    ///
    /// # Errors
    /// As `std::os::unix::net::UnixListener::bind` (`AddrInUse` if the file
    /// exists, a path too long, ...).
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.bind(&SockAddr::unix(path)?)?;
        socket.listen(BACKLOG)?;
        UnixListener::from_std(socket.into())
    }

    /// Wraps a bound, listening `std` listener (made nonblocking here).
    ///
    /// # Errors
    /// If it cannot be made nonblocking or registered.
    pub fn from_std(listener: net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        // SAFETY: the listener is moved into the result, declared after the
        // registration, so it outlives it.
        let reg = unsafe { Registration::new(listener.as_fd(), Interest::Listener)? };
        Ok(UnixListener {
            reg,
            inner: listener,
        })
    }

    /// Accepts a connection, parking the coroutine until one arrives.
    ///
    /// # Errors
    /// As `std::os::unix::net::UnixListener::accept`.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, peer) = self.reg.io(Direction::Read, None, || self.inner.accept())?;
        Ok((UnixStream::from_std(stream)?, peer))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// As `std`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    /// As `std`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

impl TryFrom<net::UnixListener> for UnixListener {
    type Error = io::Error;
    fn try_from(l: net::UnixListener) -> io::Result<Self> {
        UnixListener::from_std(l)
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// Iterator from [`UnixListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
