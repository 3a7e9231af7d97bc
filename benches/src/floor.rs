//! What the floor servers (`examples/hello_bare.rs` on epoll,
//! `examples/hello_bare_uring.rs` on io_uring) share: the response they
//! send, how they tell where a request ends, and their `main`.
//!
//! A floor server is not an HTTP server. It answers every request it sees,
//! whatever its path, with the bytes the coro hello server sends for
//! `GET /plaintext`, and recognises a request only by the blank line that
//! ends its head (it must have no body). It measures what is left of a
//! server's cost when user space costs nothing.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};
use std::time::{Duration, Instant, SystemTime};

/// The head ahead of the `Date` value, as the coro hello server sends it.
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nServer: coro\r\nDate: ";
/// The rest of the response after the `Date` value.
const TAIL: &[u8] =
    b"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\nHello, World!";
/// The blank line that ends a request head.
const END_OF_HEAD: &[u8] = b"\r\n\r\n";

/// How often the `Date` value is renewed.
const DATE_EVERY: Duration = Duration::from_secs(1);

/// The whole plaintext response, dated now.
fn response_now() -> Vec<u8> {
    let date = httpdate::fmt_http_date(SystemTime::now());
    [HEAD, date.as_bytes(), TAIL].concat()
}

/// The plaintext response, its `Date` renewed once a second.
#[derive(Debug)]
pub struct Response {
    bytes: Vec<u8>,
    dated: Instant,
}

impl Default for Response {
    fn default() -> Response {
        Response {
            bytes: response_now(),
            dated: Instant::now(),
        }
    }
}

impl Response {
    /// The response, renewed first if its date is a second old.
    pub fn current(&mut self) -> &[u8] {
        if self.dated.elapsed() >= DATE_EVERY {
            self.bytes = response_now();
            self.dated = Instant::now();
        }
        &self.bytes
    }
}

/// A floor server's command line: the server options, and how new
/// connections are dealt to its threads.
#[derive(Debug, clap::Parser)]
struct FloorArgs {
    #[command(flatten)]
    server: examples::ServerArgs,
    /// Give every thread a listener of its own (`SO_REUSEPORT`), so that
    /// the kernel deals new connections evenly over the threads. Without
    /// it they share one listener; `hello_bare` then accepts every
    /// connection queued at each wake-up, so a load generator's burst of
    /// connects lands on one thread, and the others stay idle.
    #[arg(long)]
    spread: bool,
}

/// A floor server's `main`: binds `127.0.0.1:--port` (nonblocking or
/// not), prints `listening on ADDRESS`, and runs `worker` on `--workers`
/// threads until one fails. The threads share the listener, or with
/// `--spread` each gets one of its own, all bound to the same address
/// before the threads start. The backlog is the system's limit
/// (`somaxconn`).
///
/// # Errors
/// The first worker's error, or a failure to bind or to announce.
pub fn serve(
    nonblocking: bool,
    worker: impl Fn(&TcpListener) -> io::Result<()> + Sync,
) -> io::Result<()> {
    let args: FloorArgs = examples::parse_args(8080);
    let threads = args.server.workers.max(1);
    let reuse_port = args.spread || args.server.reuse_port;
    let first = bind((Ipv4Addr::LOCALHOST, args.server.port).into(), reuse_port)?;
    let address = first.local_addr()?;
    let mut listeners = vec![first];
    if args.spread {
        for _ in 1..threads {
            listeners.push(bind(address, true)?);
        }
    }
    for listener in &listeners {
        listener.set_nonblocking(nonblocking)?;
    }
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on {address}")?;
    stdout.flush()?;
    std::thread::scope(|scope| {
        let worker = &worker;
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let listener = &listeners[i % listeners.len()];
                scope.spawn(move || worker(listener))
            })
            .collect();
        for w in workers {
            w.join().expect("worker panicked")?;
        }
        Ok(())
    })
}

/// A listener on `address`, with `SO_REUSEPORT` if `reuse_port`.
fn bind(address: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.bind(&address.into())?;
    // A negative backlog is the system's limit.
    socket.listen(-1)?;
    Ok(socket.into())
}

/// Finds the ends of request heads in a connection's bytes, which may
/// split a head (or its blank line) anywhere.
#[derive(Debug, Default)]
pub struct HeadEnds {
    /// How many bytes of [`END_OF_HEAD`] the bytes seen so far end with.
    matched: usize,
}

impl HeadEnds {
    /// Counts the heads that `bytes`, the next bytes of the connection,
    /// complete.
    pub fn count(&mut self, bytes: &[u8]) -> usize {
        let mut heads = 0;
        for &b in bytes {
            self.matched = if b == END_OF_HEAD[self.matched] {
                self.matched + 1
            } else if b == END_OF_HEAD[0] {
                1
            } else {
                0
            };
            if self.matched == END_OF_HEAD.len() {
                heads += 1;
                self.matched = 0;
            }
        }
        heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_split_anywhere_are_counted_once() {
        let stream = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n\r\n\r\r\n\r\n";
        for cut in 0..stream.len() {
            let mut ends = HeadEnds::default();
            let n = ends.count(&stream[..cut]) + ends.count(&stream[cut..]);
            assert_eq!(n, 3, "cut at {cut}");
        }
    }

    #[test]
    fn the_response_is_the_hello_plaintext_one() {
        let r = String::from_utf8(Response::default().current().to_vec()).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\nServer: coro\r\nDate: "));
        assert!(r.ends_with("\r\nContent-Length: 13\r\n\r\nHello, World!"));
    }
}
