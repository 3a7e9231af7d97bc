//! A TCP listener whose `accept` parks the coroutine.

use std::io;
use std::net::{self, SocketAddr};

use crate::addr::{resolve, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, Socket, Type};

use super::TcpStream;
use crate::registration::{Direction, Interest, Registration};

/// Backlog of pending connections when none is given.
const DEFAULT_BACKLOG: i32 = 1024;

/// A TCP socket server; see `std::net::TcpListener`.
///
/// ```no_run
/// use std::io::{Read, Write};
///
/// let listener = coro_net::TcpListener::bind("127.0.0.1:7000")?;
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
pub struct TcpListener {
    // Dropped before `inner`, which closes the fd.
    reg: Registration,
    inner: net::TcpListener,
}

/// Options for [`TcpListener::bind_with`].
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Set `SO_REUSEPORT`, so several listeners (one per worker, say) can
    /// bind the same address and the kernel spreads connections over them.
    pub reuse_port: bool,
    /// Set `SO_REUSEADDR` (default true, as `std` does).
    pub reuse_address: bool,
    /// Length of the queue of pending connections.
    pub backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            reuse_port: false,
            reuse_address: true,
            backlog: DEFAULT_BACKLOG,
        }
    }
}

impl TcpListener {
    /// Binds to `addr` (the first address that works, as `std` does). A
    /// host name is resolved on the blocking pool (see
    /// [`lookup_host`](crate::lookup_host)).
    ///
    /// # Errors
    /// As `std::net::TcpListener::bind`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, ListenOptions::default())
    }

    /// Binds with explicit options (`SO_REUSEPORT`, backlog).
    ///
    /// # Errors
    /// As `std::net::TcpListener::bind`.
    pub fn bind_with(addr: impl ToSocketAddrs, options: ListenOptions) -> io::Result<TcpListener> {
        let mut last = None;
        for addr in resolve(&addr)? {
            match bind_one(addr, options) {
                Ok(l) => return TcpListener::from_std(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no address to bind to")
        }))
    }

    /// Wraps a bound `std` listener (made nonblocking here).
    ///
    /// # Errors
    /// If it cannot be made nonblocking or registered.
    pub fn from_std(listener: net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        // SAFETY: the listener is moved into the result, declared after the
        // registration, so it outlives it.
        let reg = unsafe { Registration::new(listener.as_fd(), Interest::Listener)? };
        Ok(TcpListener {
            reg,
            inner: listener,
        })
    }

    /// Accepts a connection, parking the coroutine until one arrives.
    ///
    /// # Errors
    /// As `std::net::TcpListener::accept`.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        // `accept4` with `SOCK_NONBLOCK`: the socket comes nonblocking, with
        // no `ioctl` per connection to make it so (std's `accept` would).
        let (socket, peer) = self.reg.io(Direction::Read, None, || {
            socket2::SockRef::from(&self.inner).accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
        })?;
        let peer = peer.as_socket().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "accept: not an IP peer address")
        })?;
        Ok((TcpStream::from_nonblocking(socket.into())?, peer))
    }

    /// A second descriptor for the same listening socket (`dup`), with a
    /// registration of its own: give one to each of several acceptor
    /// coroutines on different workers, and the kernel wakes an idle
    /// worker's acceptor for each new connection, passing over workers
    /// that are busy: listeners are registered with `EPOLLEXCLUSIVE`, so
    /// the kernel wakes one waiting descriptor's worker per connection.
    ///
    /// # Errors
    /// As `std::net::TcpListener::try_clone`.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        TcpListener::from_std(self.inner.try_clone()?)
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

    /// The pending socket error (`SO_ERROR`), if any.
    ///
    /// # Errors
    /// As `std`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

fn bind_one(addr: SocketAddr, options: ListenOptions) -> io::Result<net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(options.reuse_address)?;
    if options.reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(options.backlog)?;
    Ok(socket.into())
}

impl TryFrom<net::TcpListener> for TcpListener {
    type Error = io::Error;
    fn try_from(l: net::TcpListener) -> io::Result<Self> {
        TcpListener::from_std(l)
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// Iterator from [`TcpListener::incoming`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}
