//! A TCP stream whose reads and writes park the coroutine.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{self, Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

use crate::addr::{resolve, ToSocketAddrs};
use crate::registration::{drained_by, Direction, Interest, Registration};
use crate::syscall;
use crate::timeout::Timeout;

/// A TCP connection; see `std::net::TcpStream`. `Read` and `Write` are
/// implemented for `TcpStream` and `&TcpStream`, so any blocking-IO crate
/// works on it, and a coroutine blocked in it lets its worker run others.
#[derive(Debug)]
pub struct TcpStream {
    // Dropped before `inner`, which closes the fd.
    pub(super) reg: Registration,
    pub(super) inner: net::TcpStream,
    read_timeout: Timeout,
    pub(super) write_timeout: Timeout,
}

impl TcpStream {
    /// Connects to `addr` (each address in turn, as `std` does). A host
    /// name is resolved on the blocking pool (see [`lookup_host`](crate::lookup_host)).
    ///
    /// # Errors
    /// As `std::net::TcpStream::connect` (connection refused, ...).
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| connect_one(a, None))
    }

    /// Connects, giving up after `timeout`.
    ///
    /// # Errors
    /// As `std::net::TcpStream::connect_timeout`.
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        connect_one(*addr, Instant::now().checked_add(timeout))
    }

    /// Wraps a connected `std` stream (made nonblocking here).
    ///
    /// # Errors
    /// If it cannot be made nonblocking or registered.
    pub fn from_std(stream: net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_nonblocking(stream)
    }

    /// Wraps a connected `std` stream that is nonblocking already (an
    /// `accept4` with `SOCK_NONBLOCK`).
    pub(crate) fn from_nonblocking(stream: net::TcpStream) -> io::Result<TcpStream> {
        // SAFETY: the stream is moved into the result, declared after the
        // registration, so it outlives it.
        let reg = unsafe { Registration::new(stream.as_fd(), Interest::Socket)? };
        Ok(TcpStream {
            reg,
            inner: stream,
            read_timeout: Timeout::default(),
            write_timeout: Timeout::default(),
        })
    }

    /// Receives data without removing it from the queue.
    ///
    /// # Errors
    /// As `std`, or `TimedOut` after the read timeout.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Read, self.read_timeout.deadline(), || {
                self.inner.peek(buf)
            })
    }

    /// Shuts down the read half, the write half, or both.
    ///
    /// # Errors
    /// As `std`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.shutdown(how)
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// As `std`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    ///
    /// # Errors
    /// As `std`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.nodelay()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    /// As `std`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.set_ttl(ttl)
    }

    /// `IP_TTL`.
    ///
    /// # Errors
    /// As `std`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.ttl()
    }

    /// The remote address.
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

    /// Starts `task` once the stream may be readable (data, end of stream,
    /// or an error), or at once if it may be already: a wait for input
    /// that holds no coroutine, so that what follows runs on whichever
    /// worker sees the event first, not on the one whose coroutine would
    /// otherwise be parked. `task` usually owns the stream (in an `Arc`)
    /// and reads from it. Called outside a coroutine, it starts `task` at
    /// once. A second call before the first task started replaces it (the
    /// first is dropped unstarted).
    ///
    /// ```no_run
    /// # fn demo(stream: std::sync::Arc<coro_net::TcpStream>) -> std::io::Result<()> {
    /// use std::io::Read;
    /// let reader = std::sync::Arc::clone(&stream);
    /// let task = coro::Builder::new().unstarted(move || {
    ///     let mut buf = [0u8; 512];
    ///     let _ = (&*reader).read(&mut buf); // ready: does not wait
    /// })?;
    /// stream.start_when_readable(task);
    /// # Ok(()) }
    /// ```
    pub fn start_when_readable(&self, task: coro::Unstarted) {
        self.reg.start_when_readable(task);
    }

    /// Makes the read that is waiting on this stream now (in any
    /// coroutine), or else the next read, return
    /// [`io::ErrorKind::WouldBlock`] once, without consuming a byte: a way
    /// to tell a coroutine blocked in a read with no deadline that
    /// something else needs it (a message to send, a shutdown). Callable
    /// from any thread. A stream never interrupted never returns
    /// `WouldBlock`; a reader that is interrupted should do what it was
    /// woken for and read again. Several interrupts before a read takes
    /// one count as one. A read on a plain thread (not a coroutine) takes
    /// the interrupt only when it next looks, after its `poll(2)` wait.
    pub fn interrupt_read(&self) {
        self.reg.interrupt_read();
    }

    /// A second handle to the same connection (a duplicated fd, registered
    /// on its own), for reading in one coroutine and writing in another.
    /// Timeouts are not shared.
    ///
    /// # Errors
    /// As `std`.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        TcpStream::from_std(self.inner.try_clone()?)
    }

    fn read_with(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        self.reg
            .io_drain(Direction::Read, self.read_timeout.deadline(), || {
                syscall::recv(self.inner.as_fd(), buf).map(|n| (n, drained_by(n, len)))
            })
    }

    fn read_vectored_with(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.reg
            .io_drain(Direction::Read, self.read_timeout.deadline(), || {
                (&self.inner)
                    .read_vectored(bufs)
                    .map(|n| (n, drained_by(n, len)))
            })
    }

    fn write_with(&self, buf: &[u8]) -> io::Result<usize> {
        self.reg
            .io_drain(Direction::Write, self.write_timeout.deadline(), || {
                syscall::send(self.inner.as_fd(), buf).map(|n| (n, n < buf.len()))
            })
    }

    fn write_vectored_with(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.reg
            .io(Direction::Write, self.write_timeout.deadline(), || {
                (&self.inner).write_vectored(bufs)
            })
    }
}

/// Tries `f` on each address of `addr`, returning the first success.
fn each_addr<T>(
    addr: impl ToSocketAddrs,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for a in resolve(&addr)? {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

/// A nonblocking connect: start it, wait until the socket is writable, then
/// read its outcome from `SO_ERROR`.
fn connect_one(addr: SocketAddr, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    let started = socket.connect(&addr.into());
    let stream = TcpStream::from_std(socket.into())?;
    match started {
        Ok(()) => return Ok(stream),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    stream.reg.io(Direction::Write, deadline, || {
        if let Some(e) = stream.inner.take_error()? {
            return Err(e);
        }
        // Writable with no error: connected, unless still in progress.
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

crate::stream_io::impl_stream_io!(TcpStream);

impl TryFrom<net::TcpStream> for TcpStream {
    type Error = io::Error;
    fn try_from(s: net::TcpStream) -> io::Result<Self> {
        TcpStream::from_std(s)
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

crate::timeout::impl_timeouts!(TcpStream);
