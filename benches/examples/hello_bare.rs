//! The floor under every plaintext figure: a server that does nothing but
//! the system calls an HTTP/1.1 keep-alive server cannot avoid, for
//! `benches/http.sh` (`SERVERS="coro hyper bare"`).
//!
//! What it answers, and how it finds requests, is in `benches/src/floor.rs`.
//! No parsing, no routing, no allocation per request, no coroutines: one
//! thread per worker, each with its own epoll instance (edge-triggered)
//! watching the shared listener
//! (`EPOLLEXCLUSIVE`), or with `--spread` a listener of its own
//! (`SO_REUSEPORT`, see `benches/src/floor.rs`), and its own connections. Per readable connection it
//! reads until a short read, writing the answers due after each read in one
//! `write` (what is left when the socket is full waits for `EPOLLOUT`; a
//! client that never reads makes it buffer without bound, which a load
//! generator does not do).
//!
//! What it measures is what is left when user space costs nothing: the
//! kernel's share of a request (`recv`, `send`, loopback delivery, epoll).
//! A real server's requests per CPU-second divided by this one's is the
//! fraction of the machine it gets out of its kernel; hyper's per-CPU
//! figure divided by this one's bounds how far any server can beat hyper
//! here.
//!
//! `cargo run --release -p benches --example hello_bare -- --port 8080 --workers N [--spread]`
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections.

use benches::floor::{self, HeadEnds};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};

/// Bytes read per `read` call.
const READ_SIZE: usize = 16 * 1024;
/// Events taken per `epoll_wait`.
const MAX_EVENTS: usize = 256;
/// The epoll token of the listener; connections use their fd.
const LISTENER: u64 = u64::MAX;

/// One accepted connection.
struct Conn {
    stream: TcpStream,
    heads: HeadEnds,
    /// Answers not yet written (the socket was full).
    pending: Vec<u8>,
}

impl Conn {
    /// Writes what is pending until done or the socket is full.
    fn flush(&mut self) -> io::Result<()> {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads until a short read and answers each complete head. `Ok(false)`
    /// when the peer closed.
    fn serve(&mut self, buf: &mut [u8], response: &[u8]) -> io::Result<bool> {
        self.flush()?;
        loop {
            let n = match self.stream.read(buf) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let heads = self.heads.count(&buf[..n]);
            for _ in 0..heads {
                self.pending.extend_from_slice(response);
            }
            self.flush()?;
            if n < buf.len() {
                // A short read took everything queued; the next arrival is
                // a new edge.
                return Ok(true);
            }
        }
    }
}

/// An epoll instance, closed on drop.
struct Epoll(RawFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: no pointers; the returned fd is owned by the `Epoll`.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    fn add(&self, fd: RawFd, events: i32, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: events as u32,
            u64: token,
        };
        // SAFETY: `event` is a valid epoll_event for the call's duration;
        // both fds are open.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits for events into `events`; returns how many arrived.
    fn wait(&self, events: &mut [libc::epoll_event]) -> io::Result<usize> {
        // SAFETY: the kernel writes at most `events.len()` entries into
        // the slice, which lives through the call.
        let n = unsafe { libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            let e = io::Error::last_os_error();
            // A signal (a tracer attaching) is no reason to stop.
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(e)
            };
        }
        Ok(n as usize)
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the fd is owned by this `Epoll` and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// One worker: accepts what it can and serves its own connections forever.
fn worker(listener: &TcpListener) -> io::Result<()> {
    let epoll = Epoll::new()?;
    epoll.add(
        listener.as_raw_fd(),
        libc::EPOLLIN | libc::EPOLLEXCLUSIVE,
        LISTENER,
    )?;
    let mut conns: HashMap<RawFd, Conn> = HashMap::new();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
    let mut buf = vec![0u8; READ_SIZE];
    let mut response = floor::Response::default();
    loop {
        let n = epoll.wait(&mut events)?;
        let response = response.current();
        for event in &events[..n] {
            let token = event.u64;
            if token == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            stream.set_nonblocking(true)?;
                            stream.set_nodelay(true)?;
                            let fd = stream.as_raw_fd();
                            let interest =
                                libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET;
                            epoll.add(fd, interest, fd as u64)?;
                            conns.insert(
                                fd,
                                Conn {
                                    stream,
                                    heads: HeadEnds::default(),
                                    pending: Vec::new(),
                                },
                            );
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // Another worker took it, or the client gave up.
                        Err(_) => break,
                    }
                }
                continue;
            }
            let fd = token as RawFd;
            let open = match conns.get_mut(&fd) {
                Some(conn) => matches!(conn.serve(&mut buf, response), Ok(true)),
                None => continue,
            };
            if !open {
                // Dropping the stream closes it, which also removes it from
                // the epoll set.
                conns.remove(&fd);
            }
        }
    }
}

fn main() -> io::Result<()> {
    floor::serve(true, worker)
}
