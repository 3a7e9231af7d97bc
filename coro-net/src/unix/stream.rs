//! A Unix-domain stream whose reads and writes park the coroutine.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::{self, SocketAddr};
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::registration::{Direction, Interest, Registration};
use crate::timeout::Timeout;

/// First pause before retrying a connect refused with `EAGAIN` (the
/// listener's backlog is full); each retry doubles it.
const CONNECT_BACKOFF_MIN: Duration = Duration::from_micros(100);
/// Longest pause between connect retries, so a connect notices a drained
/// backlog soon after.
const CONNECT_BACKOFF_MAX: Duration = Duration::from_millis(10);

/// A Unix-domain stream connection; see `std::os::unix::net::UnixStream`.
/// `Read` and `Write` are implemented for `UnixStream` and `&UnixStream`,
/// so any blocking-IO crate works on it, and a coroutine blocked in it lets
/// its worker run others.
#[derive(Debug)]
pub struct UnixStream {
    // Dropped before `inner`, which closes the fd.
    reg: Registration,
    inner: net::UnixStream,
    read_timeout: Timeout,
    write_timeout: Timeout,
}

impl UnixStream {
    /// Connects to the socket file at `path`.
    ///
    /// The connect is nonblocking: it completes or fails at once, unless
    /// the listener's backlog is full, in which case it is retried after a
    /// short sleep (of the coroutine, or of the thread outside one) until
    /// the listener accepts or goes away.
    ///
    /// # Errors
    /// As `std::os::unix::net::UnixStream::connect` (`NotFound`,
    /// `ConnectionRefused`, a path too long, ...).
    pub fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = SockAddr::unix(path)?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        let mut backoff = CONNECT_BACKOFF_MIN;
        loop {
            match socket.connect(&addr) {
                Ok(()) => return UnixStream::from_std(socket.into()),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    // No event on this socket marks space in the backlog.
                    coro::sleep(backoff);
                    backoff = (backoff * 2).min(CONNECT_BACKOFF_MAX);
                }
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                    return UnixStream::finish_connect(socket);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits for a connect in progress (not Linux's behaviour for Unix
    /// sockets, but allowed by POSIX) as TCP does: until writable, then
    /// reads the outcome from `SO_ERROR`.
    fn finish_connect(socket: Socket) -> io::Result<UnixStream> {
        let stream = UnixStream::from_std(socket.into())?;
        stream.reg.io(Direction::Write, None, || {
            if let Some(e) = stream.inner.take_error()? {
                return Err(e);
            }
            match stream.inner.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(stream)
    }

    /// An unnamed pair of connected sockets.
    ///
    /// # Errors
    /// As `std::os::unix::net::UnixStream::pair`, or if a socket cannot be
    /// registered.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a connected `std` stream (made nonblocking here).
    ///
    /// # Errors
    /// If it cannot be made nonblocking or registered.
    pub fn from_std(stream: net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        // SAFETY: the stream is moved into the result, declared after the
        // registration, so it outlives it.
        let reg = unsafe { Registration::new(stream.as_fd(), Interest::Socket)? };
        Ok(UnixStream {
            reg,
            inner: stream,
            read_timeout: Timeout::default(),
            write_timeout: Timeout::default(),
        })
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    /// As `std`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// The remote address (unnamed for a client or a [`pair`](Self::pair)).
    ///
    /// # Errors
    /// As `std`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// The local address.
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

    /// A second handle to the same connection (a duplicated fd, registered
    /// on its own), for reading in one coroutine and writing in another.
    /// Timeouts are not shared.
    ///
    /// # Errors
    /// As `std`.
    pub fn try_clone(&self) -> io::Result<UnixStream> {
        UnixStream::from_std(self.inner.try_clone()?)
    }

    // A short read does not clear read readiness here: a Unix stream read
    // may stop short with bytes still queued (see `registration`).
    fn read_with(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Read, self.read_timeout.deadline(), || {
                (&self.inner).read(buf)
            })
    }

    fn read_vectored_with(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.reg
            .io(Direction::Read, self.read_timeout.deadline(), || {
                (&self.inner).read_vectored(bufs)
            })
    }

    fn write_with(&self, buf: &[u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Write, self.write_timeout.deadline(), || {
                (&self.inner).write(buf)
            })
    }

    fn write_vectored_with(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.reg
            .io(Direction::Write, self.write_timeout.deadline(), || {
                (&self.inner).write_vectored(bufs)
            })
    }
}

crate::stream_io::impl_stream_io!(UnixStream);

impl TryFrom<net::UnixStream> for UnixStream {
    type Error = io::Error;
    fn try_from(s: net::UnixStream) -> io::Result<Self> {
        UnixStream::from_std(s)
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

crate::timeout::impl_timeouts!(UnixStream);
