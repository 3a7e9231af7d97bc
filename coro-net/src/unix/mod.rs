//! Unix-domain stream sockets: [`UnixListener`] and [`UnixStream`], as
//! `std::os::unix::net`'s, whose blocking calls park the calling coroutine.
//!
//! They share TCP's readiness protocol; only connecting differs. A
//! nonblocking connect to a Unix socket completes or fails at once, except
//! when the listener's backlog is full: Linux then answers `EAGAIN`, and
//! no readiness event on the connecting socket says when to try again (the
//! wait is on the listener's side), so `connect` retries after a short,
//! growing sleep instead of waiting for an event.

mod listener;
mod stream;

pub use listener::{Incoming, UnixListener};
pub use stream::UnixStream;
