//! The floor server of `hello_bare.rs` on io_uring instead of epoll, for
//! `benches/http.sh` (`SERVERS="coro hyper bare bare-uring"`): does
//! batching every connection's `recv` and `send` into one system call per
//! loop lower the kernel's share of a request?
//!
//! What it answers, and how it finds requests, is in `benches/src/floor.rs`.
//! One thread per worker, each with its own ring (single issuer, deferred
//! task work where the kernel has it), an accept always pending on the
//! shared listener, and per connection one `recv` always pending and at
//! most one `send` in flight; answers due while a send is in flight wait
//! in a second buffer. Each loop submits what the last completions asked
//! for and waits for one more completion in a single `io_uring_enter`.
//!
//! `cargo run --release -p benches --example hello_bare_uring -- --port 8080 --workers N`
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections.

use benches::floor::{self, HeadEnds};
use io_uring::{opcode, squeue, types, IoUring};
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

/// Bytes a `recv` may take.
const RECV_SIZE: usize = 16 * 1024;
/// Submission queue entries per ring.
const RING_ENTRIES: u32 = 4096;
/// The user data of the pending accept.
const ACCEPT: u64 = u64::MAX;

/// One connection. Its buffers are heap allocations that stay put while the
/// kernel uses them: `buf` while a `recv` is pending, `sending` while a
/// `send` is in flight (neither is touched then).
struct Conn {
    stream: TcpStream,
    buf: Box<[u8]>,
    heads: HeadEnds,
    /// The bytes of the send in flight, and how many of them went out.
    sending: Vec<u8>,
    sent: usize,
    send_pending: bool,
    /// Answers due while a send was in flight.
    queued: Vec<u8>,
    recv_pending: bool,
    /// The peer closed or an operation failed: drop once nothing is pending.
    closing: bool,
}

/// The user data of an operation on the connection in `slot`.
fn user_data(slot: usize, op: Op) -> u64 {
    (slot as u64) << 1 | op as u64
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Recv = 0,
    Send = 1,
}

/// A ring for one thread: single issuer with deferred task work when the
/// kernel has them (6.1+), else a plain one.
fn new_ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(RING_ENTRIES)
        .or_else(|_| IoUring::new(RING_ENTRIES))
}

/// One worker's connections and the entries they want submitted.
struct Worker {
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    to_submit: Vec<squeue::Entry>,
}

impl Worker {
    fn recv(&mut self, slot: usize) {
        let conn = self.conns[slot].as_mut().expect("live slot");
        let fd = types::Fd(conn.stream.as_raw_fd());
        conn.recv_pending = true;
        let entry = opcode::Recv::new(fd, conn.buf.as_mut_ptr(), RECV_SIZE as u32)
            .build()
            .user_data(user_data(slot, Op::Recv));
        self.to_submit.push(entry);
    }

    /// Sends what is queued, if nothing is in flight.
    fn send(&mut self, slot: usize) {
        let conn = self.conns[slot].as_mut().expect("live slot");
        if conn.send_pending || conn.closing {
            return;
        }
        if conn.sent == conn.sending.len() {
            if conn.queued.is_empty() {
                return;
            }
            std::mem::swap(&mut conn.sending, &mut conn.queued);
            conn.queued.clear();
            conn.sent = 0;
        }
        let fd = types::Fd(conn.stream.as_raw_fd());
        let rest = &conn.sending[conn.sent..];
        conn.send_pending = true;
        let entry = opcode::Send::new(fd, rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(slot, Op::Send));
        self.to_submit.push(entry);
    }

    fn accepted(&mut self, fd: RawFd) -> io::Result<()> {
        // SAFETY: the kernel just gave us this fd; nothing else owns it.
        let stream = unsafe { TcpStream::from_raw_fd(fd) };
        stream.set_nodelay(true)?;
        let conn = Conn {
            stream,
            buf: vec![0; RECV_SIZE].into_boxed_slice(),
            heads: HeadEnds::default(),
            sending: Vec::new(),
            sent: 0,
            send_pending: false,
            queued: Vec::new(),
            recv_pending: false,
            closing: false,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.conns[slot] = Some(conn);
                slot
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        self.recv(slot);
        Ok(())
    }

    fn completed(&mut self, slot: usize, op: Op, result: i32, response: &[u8]) {
        let Some(conn) = self.conns[slot].as_mut() else {
            return;
        };
        match op {
            Op::Recv => {
                conn.recv_pending = false;
                if result <= 0 {
                    conn.closing = true;
                } else {
                    let n = result as usize;
                    let heads = conn.heads.count(&conn.buf[..n]);
                    for _ in 0..heads {
                        conn.queued.extend_from_slice(response);
                    }
                    self.send(slot);
                    self.recv(slot);
                }
            }
            Op::Send => {
                conn.send_pending = false;
                if result < 0 {
                    conn.closing = true;
                } else {
                    conn.sent += result as usize;
                    self.send(slot);
                }
            }
        }
        let conn = self.conns[slot].as_ref().expect("live slot");
        if conn.closing && !conn.recv_pending && !conn.send_pending {
            // Dropping the stream closes the fd; no operation uses it.
            self.conns[slot] = None;
            self.free.push(slot);
        }
    }
}

/// One worker: accepts what it can and serves its own connections forever.
fn worker(listener: &TcpListener) -> io::Result<()> {
    let mut ring = new_ring()?;
    let accept = opcode::Accept::new(
        types::Fd(listener.as_raw_fd()),
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    )
    .build()
    .user_data(ACCEPT);
    let mut w = Worker {
        conns: Vec::new(),
        free: Vec::new(),
        to_submit: vec![accept.clone()],
    };
    let mut response = floor::Response::default();
    let mut completions = Vec::new();
    loop {
        for entry in w.to_submit.drain(..) {
            // SAFETY: every entry points into a connection's `buf` or
            // `sending`, which stay allocated and untouched until its
            // completion arrives (see `Conn`), or at nothing (accept).
            while unsafe { ring.submission().push(&entry) }.is_err() {
                ring.submit()?;
            }
        }
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        completions.extend(ring.completion().map(|c| (c.user_data(), c.result())));
        let response = response.current();
        for (data, result) in completions.drain(..) {
            if data == ACCEPT {
                if result >= 0 {
                    w.accepted(result)?;
                }
                w.to_submit.push(accept.clone());
                continue;
            }
            let op = if data & 1 == 0 { Op::Recv } else { Op::Send };
            w.completed((data >> 1) as usize, op, result, response);
        }
    }
}

fn main() -> io::Result<()> {
    floor::serve(false, worker)
}
