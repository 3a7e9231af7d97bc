//! Address resolution off the worker: [`ToSocketAddrs`] and
//! [`lookup_host`].
//!
//! `std::net::ToSocketAddrs` resolves host names with `getaddrinfo`, a
//! blocking call that can take seconds; made on a worker it stalls every
//! coroutine of that worker. So the calls of this crate that take an
//! address (`TcpStream::connect`, `TcpListener::bind`, `UdpSocket::bind`,
//! `connect`, `send_to`) take this crate's [`ToSocketAddrs`] instead, as
//! tokio's do: implemented for the same types as std's, it tells an
//! address that is already numeric (a `SocketAddr`, an IP and a port, a
//! string that parses as one), which is used as is, from a host name,
//! which a coroutine resolves on the blocking pool
//! ([`coro::spawn_blocking`]) while its worker runs the others. A plain
//! thread resolves in place, as `std` does.
//!
//! The trait is sealed: the set of address types is `std`'s.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::vec;

/// Something that names one or more socket addresses: the types that
/// implement `std::net::ToSocketAddrs` (`SocketAddr`, `(IpAddr, u16)`,
/// `"host:port"`, `("host", port)`, `&[SocketAddr]`, ...).
///
/// A host name is resolved on the blocking pool when called from a
/// coroutine (see [`lookup_host`]); numeric addresses never are.
pub trait ToSocketAddrs: sealed::Resolve {}

/// The addresses `host` names, resolved with `getaddrinfo` (as
/// `std::net::ToSocketAddrs` does) on [`coro::spawn_blocking`]'s pool when
/// called from a coroutine, so that a slow DNS server stalls only the
/// caller, not its worker. A numeric address is returned as is, with no
/// lookup; a plain thread resolves in place.
///
/// ```
/// let addrs: Vec<_> = coro::spawn(|| coro_net::lookup_host("localhost:80"))
///     .join()
///     .unwrap()
///     .unwrap()
///     .collect();
/// assert!(addrs.iter().all(|a| a.port() == 80 && a.ip().is_loopback()));
/// ```
///
/// # Errors
/// As `std::net::ToSocketAddrs::to_socket_addrs`: a malformed address, or
/// a name that does not resolve; `Other` if the runtime stopped before the
/// lookup ran.
pub fn lookup_host(
    host: impl ToSocketAddrs,
) -> io::Result<impl Iterator<Item = SocketAddr> + std::fmt::Debug> {
    resolve(&host)
}

/// The addresses of `addr`, looked up off the worker if need be.
pub(crate) fn resolve(
    addr: &(impl ToSocketAddrs + ?Sized),
) -> io::Result<vec::IntoIter<SocketAddr>> {
    match addr.resolve() {
        sealed::Resolved::Numeric(addrs) => Ok(addrs.into_iter()),
        sealed::Resolved::Name(query) => query.lookup().map(Vec::into_iter),
    }
}

mod sealed {
    use std::io;
    use std::net::{SocketAddr, ToSocketAddrs as _};

    /// What an address gives before any lookup.
    #[derive(Debug)]
    pub enum Resolved {
        /// Already numeric: no lookup.
        Numeric(Vec<SocketAddr>),
        /// A host name to look up.
        Name(Query),
    }

    /// A lookup to run, owned so that it can move to a pool thread.
    #[derive(Debug)]
    pub enum Query {
        /// `"host:port"`.
        HostPort(String),
        /// `("host", port)`.
        Host(String, u16),
    }

    impl Query {
        fn run(self) -> io::Result<Vec<SocketAddr>> {
            match self {
                Query::HostPort(s) => s.as_str().to_socket_addrs().map(Iterator::collect),
                Query::Host(h, port) => (h.as_str(), port).to_socket_addrs().map(Iterator::collect),
            }
        }

        /// Runs the lookup: on the blocking pool from a coroutine, in place
        /// on a plain thread.
        pub(crate) fn lookup(self) -> io::Result<Vec<SocketAddr>> {
            if !coro::in_coroutine() {
                return self.run();
            }
            match coro::spawn_blocking(move || self.run()).join() {
                Ok(r) => r,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => Err(io::Error::other(e.to_string())),
            }
        }
    }

    /// How an address type resolves. Sealed: see the module docs.
    pub trait Resolve {
        /// The numeric addresses, or the name to look up.
        fn resolve(&self) -> Resolved;
    }
}

use sealed::{Query, Resolve, Resolved};

macro_rules! numeric {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {}
        impl Resolve for $t {
            fn resolve(&self) -> Resolved {
                Resolved::Numeric(vec![SocketAddr::from(*self)])
            }
        }
    )*};
}

numeric!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for [SocketAddr] {}
impl Resolve for [SocketAddr] {
    fn resolve(&self) -> Resolved {
        Resolved::Numeric(self.to_vec())
    }
}

impl ToSocketAddrs for str {}
impl Resolve for str {
    fn resolve(&self) -> Resolved {
        match self.parse::<SocketAddr>() {
            Ok(a) => Resolved::Numeric(vec![a]),
            Err(_) => Resolved::Name(Query::HostPort(self.to_owned())),
        }
    }
}

impl ToSocketAddrs for String {}
impl Resolve for String {
    fn resolve(&self) -> Resolved {
        self.as_str().resolve()
    }
}

impl ToSocketAddrs for (&str, u16) {}
impl Resolve for (&str, u16) {
    fn resolve(&self) -> Resolved {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Resolved::Numeric(vec![SocketAddr::new(ip, port)]),
            Err(_) => Resolved::Name(Query::Host(host.to_owned(), port)),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl Resolve for (String, u16) {
    fn resolve(&self) -> Resolved {
        (self.0.as_str(), self.1).resolve()
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> Resolve for &T {
    fn resolve(&self) -> Resolved {
        (**self).resolve()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(a: &(impl ToSocketAddrs + ?Sized)) -> bool {
        matches!(a.resolve(), Resolved::Numeric(_))
    }

    #[test]
    fn numeric_addresses_need_no_lookup() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert!(numeric(&v4));
        assert!(numeric("127.0.0.1:80"));
        assert!(numeric("[::1]:80"));
        assert!(numeric(&String::from("10.0.0.1:1")));
        assert!(numeric(&("10.0.0.1", 1)));
        assert!(numeric(&("::1", 1)));
        assert!(numeric(&(Ipv4Addr::LOCALHOST, 1)));
        assert!(numeric(&[v4, v4][..]));
        assert!(!numeric("localhost:80"));
        assert!(!numeric(&("localhost", 80)));
        assert!(!numeric(&(String::from("example.invalid"), 80)));
    }

    #[test]
    fn a_plain_thread_resolves_in_place() {
        let got: Vec<_> = resolve("localhost:8080").unwrap().collect();
        assert!(!got.is_empty());
        assert!(got.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
        assert!(resolve("no-port-here").is_err());
    }
}
