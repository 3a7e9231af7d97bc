//! Nonblocking sockets that park coroutines instead of threads.
//!
//! [`TcpListener`], [`TcpStream`], [`UdpSocket`], [`UnixListener`] and
//! [`UnixStream`], shaped like `std::net`'s and `std::os::unix::net`'s:
//! `accept`, `read`, `write`, `connect` block in plain style, but a
//! coroutine that would block is parked and its worker runs other
//! coroutines until the socket is ready. Called from a plain thread, they
//! block that thread, as `std` would. `WouldBlock` never
//! escapes a blocking call.
//!
//! Under the hood every coro worker has an epoll instance of its own
//! (direct `epoll_ctl`/`epoll_pwait2` through `libc`), which
//! it waits on when idle and polls while busy, through coro's driver hook.
//! A socket is registered, edge-triggered (with `EPOLLRDHUP`), with the
//! reactor of the worker whose coroutine first waits on it, so its events
//! are found by the worker that runs its coroutines. A socket remembers
//! which directions the kernel last reported ready, so a short read or
//! write skips the `WouldBlock` call before parking, and a wake-up is never
//! lost between a failed try and the park; the protocol, step by step, is
//! in the source's `coro-net/src/registration.rs`.
//!
//! # What may block
//!
//! No read, write, accept or connect blocks a worker: they park. Name
//! resolution would (`getaddrinfo` is a blocking call that can take
//! seconds), so the calls that take an address ([`TcpStream::connect`],
//! [`TcpListener::bind`], [`UdpSocket::bind`], [`UdpSocket::connect`],
//! [`UdpSocket::send_to`]) take this crate's [`ToSocketAddrs`] and, given a
//! host name in a coroutine, resolve it on the blocking pool
//! ([`coro::spawn_blocking`]), as [`lookup_host`] does; numeric addresses
//! (`SocketAddr`, `"127.0.0.1:80"`, `(IpAddr, u16)`) skip the pool. Wrapping
//! `std` sockets (`from_std`) and reading files is up to you: give
//! `std::fs` to `coro::spawn_blocking`.

mod addr;
mod reactor;
mod readiness;
mod registration;
mod stream_io;
mod syscall;
pub mod tcp;
mod timeout;
pub mod udp;
pub mod unix;

pub use addr::{lookup_host, ToSocketAddrs};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
