//! A UDP socket whose sends and receives park the coroutine.
//!
//! Datagram sockets need no connect handshake and no listener: a receive
//! waits for read readiness, a send for write readiness (a full socket
//! send buffer), through the same registration as TCP. `connect` only sets
//! the default peer, which never blocks, so it is `std`'s call unchanged.

use std::io;
use std::net::{self, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::addr::{resolve, ToSocketAddrs};
use crate::registration::{Direction, Interest, Registration};
use crate::timeout::Timeout;

/// A UDP socket; see `std::net::UdpSocket`. A coroutine blocked in a send
/// or receive lets its worker run others.
///
/// ```no_run
/// let socket = coro_net::UdpSocket::bind("127.0.0.1:7001")?;
/// let mut buf = [0; 1500];
/// loop {
///     let (n, peer) = socket.recv_from(&mut buf)?;
///     socket.send_to(&buf[..n], peer)?;
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    // Dropped before `inner`, which closes the fd.
    reg: Registration,
    inner: net::UdpSocket,
    read_timeout: Timeout,
    write_timeout: Timeout,
}

impl UdpSocket {
    /// Binds to `addr` (the first address that works, as `std` does). A
    /// host name is resolved on the blocking pool (see
    /// [`lookup_host`](crate::lookup_host)).
    ///
    /// # Errors
    /// As `std::net::UdpSocket::bind`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs: Vec<SocketAddr> = resolve(&addr)?.collect();
        UdpSocket::from_std(net::UdpSocket::bind(&addrs[..])?)
    }

    /// Wraps a bound `std` socket (made nonblocking here).
    ///
    /// # Errors
    /// If it cannot be made nonblocking or registered.
    pub fn from_std(socket: net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        // SAFETY: the socket is moved into the result, declared after the
        // registration, so it outlives it.
        let reg = unsafe { Registration::new(socket.as_fd(), Interest::Socket)? };
        Ok(UdpSocket {
            reg,
            inner: socket,
            read_timeout: Timeout::default(),
            write_timeout: Timeout::default(),
        })
    }

    /// Sends `buf` as one datagram to `addr` (its first address), returning
    /// the number of bytes sent.
    ///
    /// # Errors
    /// As `std::net::UdpSocket::send_to`, `InvalidInput` if `addr` resolves
    /// to no address, or `TimedOut` after the write timeout.
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = first_addr(addr)?;
        self.reg
            .io(Direction::Write, self.write_timeout.deadline(), || {
                self.inner.send_to(buf, addr)
            })
    }

    /// Receives one datagram, returning its length and sender. A datagram
    /// longer than `buf` is truncated.
    ///
    /// # Errors
    /// As `std`, or `TimedOut` after the read timeout.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.reg
            .io(Direction::Read, self.read_timeout.deadline(), || {
                self.inner.recv_from(buf)
            })
    }

    /// Receives one datagram without removing it from the queue.
    ///
    /// # Errors
    /// As `std`, or `TimedOut` after the read timeout.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.reg
            .io(Direction::Read, self.read_timeout.deadline(), || {
                self.inner.peek_from(buf)
            })
    }

    /// Sets the default peer for [`send`](Self::send) and filters received
    /// datagrams to those from it. A host name is resolved on the blocking
    /// pool (see [`lookup_host`](crate::lookup_host)); otherwise it never
    /// blocks.
    ///
    /// # Errors
    /// As `std::net::UdpSocket::connect`.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs: Vec<SocketAddr> = resolve(&addr)?.collect();
        self.inner.connect(&addrs[..])
    }

    /// Sends `buf` as one datagram to the connected peer.
    ///
    /// # Errors
    /// As `std` (not connected, connection refused by an earlier ICMP
    /// error, ...), or `TimedOut` after the write timeout.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Write, self.write_timeout.deadline(), || {
                self.inner.send(buf)
            })
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Errors
    /// As `std`, or `TimedOut` after the read timeout.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Read, self.read_timeout.deadline(), || {
                self.inner.recv(buf)
            })
    }

    /// Receives one datagram from the connected peer without removing it
    /// from the queue.
    ///
    /// # Errors
    /// As `std`, or `TimedOut` after the read timeout.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.reg
            .io(Direction::Read, self.read_timeout.deadline(), || {
                self.inner.peek(buf)
            })
    }

    /// The local address.
    ///
    /// # Errors
    /// As `std`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// As `std`: `NotConnected` if [`connect`](Self::connect) was not called.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    /// As `std`.
    pub fn set_broadcast(&self, broadcast: bool) -> io::Result<()> {
        self.inner.set_broadcast(broadcast)
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    /// As `std`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.broadcast()
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

    /// A second handle to the same socket (a duplicated fd, registered on
    /// its own), for receiving in one coroutine and sending in another.
    /// Timeouts are not shared.
    ///
    /// # Errors
    /// As `std`.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        UdpSocket::from_std(self.inner.try_clone()?)
    }
}

/// The first address `addr` resolves to, as `std`'s `send_to` uses.
fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    resolve(&addr)?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send data to"))
}

impl TryFrom<net::UdpSocket> for UdpSocket {
    type Error = io::Error;
    fn try_from(s: net::UdpSocket) -> io::Result<Self> {
        UdpSocket::from_std(s)
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

crate::timeout::impl_timeouts!(UdpSocket);
