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
//! Under the hood every socket is registered once, edge-triggered (with
//! `EPOLLRDHUP`), with one epoll instance for the process (`reactor`,
//! direct `epoll_ctl`/`epoll_pwait2` through `libc`), which idle workers
//! wait on through coro's driver hook; the readiness protocol that keeps
//! wake-ups from being lost, and lets a short read or write skip the
//! `WouldBlock` call before parking, is in `registration`.

mod reactor;
mod registration;
mod stream_io;
pub mod tcp;
mod timeout;
pub mod udp;
pub mod unix;

pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};
