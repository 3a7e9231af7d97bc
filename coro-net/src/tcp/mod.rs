//! TCP: [`TcpListener`] and [`TcpStream`], as `std::net`'s, whose blocking
//! calls park the calling coroutine.

mod listener;
mod sendfile;
mod stream;

pub use listener::{Incoming, ListenOptions, TcpListener};
pub use stream::TcpStream;
