//! One connection, served by one coroutine from its first byte to its
//! close.
//!
//! The loop:
//!
//! 1. Parse a request head from the input buffer. If it is incomplete,
//!    first send the responses already written (so a pipelining client
//!    gets every answer to what it sent), then read more: an idle
//!    connection waits up to the idle timeout, a partly received head
//!    only until its header deadline (408 after it).
//! 2. Route the request and call the handler in this coroutine, so it may
//!    block on anything coro parks. A panic answers 500 and closes.
//! 3. Finish the body the handler left (drain it, or close), and answer a
//!    broken body with its error instead of the handler's response.
//! 4. Write the response into the output buffer and go to 1: with
//!    pipelining, every request already buffered is answered before one
//!    write sends all the answers. A `101 Switching Protocols` leaves the
//!    loop instead: the connection is the handler's closure's from then
//!    on (see `upgrade`).
//!
//! # Waiting for the next request without a coroutine
//!
//! A coroutine never leaves the worker it started on (see coro's
//! `switch.rs`), so a keep-alive connection parked in its coroutine between
//! requests is served on that worker only, even while a long request holds
//! the worker and others are idle. So at step 1, when the input is empty
//! between requests, the connection may instead end its coroutine and wait
//! as a `Send` value ([`Parked`]): its socket keeps an unstarted coroutine
//! ([`coro::Builder::unstarted`], `TcpStream::start_when_readable`) that
//! starts when the next request arrives, on the worker that sees the
//! event, and is stealable until it runs. The other workers poll a stuck
//! worker's reactor for it, so that worker is the one that sees it only
//! when it is free. The new coroutine reads before it may do the same
//! again, so a connection always makes progress.
//!
//! When it does so is [`IdleWait`]: by default only while the runtime is
//! congested ([`coro::runtime_is_congested`]: a worker ran a handler for a
//! millisecond or more without a suspension within the last second), so
//! that a server whose handlers are all short pays nothing (a wake-up of
//! the parked coroutine costs less than a coroutine start), while a server
//! with long handlers serves every request where a worker is free. The
//! whole runtime counts, not the connection's worker: the long request
//! comes on any connection and lands on any worker, and connections parked
//! on a worker that was calm a moment ago would wait for it. Measured
//! (`SCENARIOS=mixed-2w benches/http.sh`: one connection looping on a 5 ms
//! handler beside 62 loading a short one, on two workers): parked in their
//! coroutines, the short requests' p99 was 16 ms; waiting elsewhere only
//! while their own worker had been congested within 100 ms, 3 to 36 ms;
//! always waiting elsewhere, 1.2 to 2.3 ms, the figure the runtime-wide
//! rule gives too (README).
//!
//! Waiting that way, the connection is idle in the registry, so the
//! shutdown closes it as any idle connection; its idle timeout has no read
//! timeout to run on, so the server's idle sweep shuts its read side once
//! the timeout has passed, which starts its coroutine to find the end of
//! the stream and close.
//!
//! A handler's refusal (any 4xx or 5xx, the router's 404 and 405 included)
//! that left the body unread drains only what is buffered: if the rest is
//! still to come, the answer is sent at once and the connection closes,
//! rather than wait for a body nobody will read (see
//! `body::finish_refused`).
//!
//! Any refused request (see `parse`) is answered with its status and the
//! connection closes, so bytes after a malformed request are never parsed
//! as a request. Closing after an error uses a lingering close: the write
//! side is shut first and the input drained briefly, so that the client
//! reads the error response instead of a reset. So does any close that
//! the client may still be sending into (a keep-alive request the server
//! closes after, a body left unread, bytes buffered behind the request);
//! a client that asked to close and sent nothing more is closed at once.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro_net::TcpStream;
use http::StatusCode;

use crate::body::{self, BodyState, ConnBody, Finish};
use crate::config::IdleWait;
use crate::encode::{write_response, After};
use crate::error::Error;
use crate::io::ConnIo;
use crate::link::Link;
use crate::params::Params;
use crate::parse::{parse_head, worth_parsing, Head};
use crate::registry::ConnEntry;
use crate::request::Request;
use crate::shared::Shared;
use crate::upgrade::{run_upgraded, switch_protocols};
use crate::upgraded::OnUpgrade;

/// How long a keep-alive connection waits for its next request in its
/// coroutine before it lets the coroutine go and waits without one, with
/// its buffers released (see the module docs), whatever `IdleWait` says
/// (but `Parked`): long enough that a client with a request in flight or
/// a short think time never pays a coroutine start for it.
const RELEASE_IDLE_AFTER: Duration = Duration::from_secs(1);

/// How long a lingering close waits for the client to stop sending.
const LINGER: Duration = Duration::from_millis(500);

/// Most bytes a lingering close reads and drops.
const LINGER_BYTES: usize = 64 * 1024;

/// Serves `stream`, accepted by one of the server's listeners, until it
/// closes.
/// The acceptor took its place under the connection cap.
pub(crate) fn serve(stream: TcpStream, peer: Option<SocketAddr>, shared: Arc<Shared>) {
    serve_link(Link::Tcp(Arc::new(stream)), peer, shared, true);
}

/// Serves `link` until it closes, or until it waits for its next request
/// without this coroutine; `holds_slot`: the caller took its place under
/// the connection cap.
pub(crate) fn serve_link(
    link: Link,
    peer: Option<SocketAddr>,
    shared: Arc<Shared>,
    holds_slot: bool,
) {
    let entry = shared.conns.insert(link.shutter(), holds_slot);
    serve_registered(link, entry, peer, shared);
}

/// Serves `link`, already in the registry as `entry`, as `serve_link`
/// does.
pub(crate) fn serve_registered(
    mut link: Link,
    entry: Arc<ConnEntry>,
    peer: Option<SocketAddr>,
    shared: Arc<Shared>,
) {
    let _ = link.set_write_timeout(shared.config.timeouts.write);
    let io = ConnIo::new(link, Arc::clone(&shared.config));
    resume(
        Parked {
            io,
            entry,
            peer,
            params: Params::default(),
            first: true,
        },
        shared,
    );
}

/// A connection between two requests, with no coroutine (see the module
/// docs): all it needs to go on, as a `Send` value.
struct Parked {
    io: ConnIo,
    entry: Arc<ConnEntry>,
    peer: Option<SocketAddr>,
    params: Params,
    /// No request was served yet.
    first: bool,
}

/// Serves a connection from where it was left until it closes, or until it
/// waits for its next request without a coroutine.
fn resume(mut conn: Parked, shared: Arc<Shared>) {
    let mut c = Conn {
        io: &mut conn.io,
        shared: &shared,
        entry: &conn.entry,
        peer: conn.peer,
    };
    let exit = c.run(&mut conn.params, conn.first);
    match exit {
        Exit::Closed => {
            conn.io.link_mut().close();
            shared.conns.remove(&conn.entry);
        }
        Exit::Upgraded(on_upgrade) => {
            run_upgraded(conn.io, &conn.entry, &shared, on_upgrade);
            shared.conns.remove(&conn.entry);
        }
        Exit::WaitElsewhere { idle_left, release } => {
            conn.first = false;
            wait_elsewhere(conn, shared, idle_left, release);
        }
    }
}

/// Not a panic: the server stopped (its runtime is dropped) with `what`
/// (a handler, or a response still going out) past the grace period. Says
/// so, and lets the unwind go on, so that the coroutine's destructors run.
fn cut_off(what: &str, head: &Head, unwind: Box<dyn std::any::Any + Send>) -> ! {
    log::warn!(
        "{what} at the end of the grace period was cut off: {} {}",
        head.method,
        head.str(&head.target)
    );
    std::panic::resume_unwind(unwind)
}

/// Hands an idle connection to whichever worker sees its next request: a
/// new coroutine is made for it and started when the socket turns readable
/// (or is shut by the shutdown or the idle sweep, see `server`). Until
/// then the connection is idle in the registry, with its idle deadline.
fn wait_elsewhere(mut conn: Parked, shared: Arc<Shared>, idle_left: Duration, release: bool) {
    let Link::Tcp(stream) = conn.io.link() else {
        unreachable!("only a plain socket waits without a coroutine")
    };
    let stream = Arc::clone(stream);
    conn.entry.wait_elsewhere(&shared.conns, idle_left);
    if release {
        conn.io.release_buffers();
    }
    let next = shared
        .config
        .connection_coroutine()
        .unstarted(move || {
            conn.entry.stop_waiting_elsewhere(&shared.conns);
            conn.entry.leave_idle();
            resume(conn, shared);
        })
        .expect("the stack size was checked by Builder::build");
    stream.start_when_readable(next);
}

/// How a connection's coroutine ends.
enum Exit {
    /// The connection is closed, or as good as: nothing more to do.
    Closed,
    /// It sent a 101 and now serves another protocol, by this closure
    /// (see `upgrade`).
    Upgraded(OnUpgrade),
    /// It waits for its next request without this coroutine, for at most
    /// its idle time left, with its buffers released if `release`.
    WaitElsewhere { idle_left: Duration, release: bool },
}

struct Conn<'a> {
    io: &'a mut ConnIo,
    shared: &'a Shared,
    entry: &'a ConnEntry,
    peer: Option<SocketAddr>,
}

/// What waiting for a request head produced.
enum Next {
    /// A head of this many bytes is at the front of the input.
    Head(usize),
    /// The connection is done (closed by the client, idle, or refused).
    Stop,
    /// The connection is idle and waits for its next request without a
    /// coroutine (`Exit::WaitElsewhere`).
    WaitElsewhere { idle_left: Duration, release: bool },
}

impl Conn<'_> {
    /// Serves requests, from the first if `first`; `params_kept` keeps
    /// path parameters' memory from request to request.
    fn run(&mut self, params_kept: &mut Params, first: bool) -> Exit {
        // Borrowed from the server, not from `self`: no reference count
        // touched per request.
        let shared = self.shared;
        let config = &*shared.config;
        let mut head = Head::default();
        let mut params = std::mem::take(params_kept);
        // The first request must arrive within the header timeout of the
        // accept; a resumed connection waits between requests, with none.
        let mut head_deadline = first.then(|| Instant::now() + config.timeouts.header);
        let mut served = false;
        loop {
            let len = match self.next_head(&mut head, &mut head_deadline, served) {
                Next::Head(len) => len,
                Next::Stop => return Exit::Closed,
                Next::WaitElsewhere { idle_left, release } => {
                    *params_kept = params;
                    return Exit::WaitElsewhere { idle_left, release };
                }
            };
            self.io.consume(len);
            head_deadline = None;
            let mut body_state = BodyState::for_head(&head, config.limits.max_header_bytes);
            let body = ConnBody {
                io: self.io,
                state: &mut body_state,
            };

            let states = shared.router.states();
            // The request is dropped where it lies, at the end of this
            // block: `drop(req)` would move it (a 352-byte copy per request).
            // The answer is assigned, not the block's value, and the
            // response is taken from it without a tuple: each is a copy of
            // the response otherwise.
            let answer;
            {
                let mut req = Request::on_connection(&head, params, body, self.peer, states);
                answer = catch_unwind(AssertUnwindSafe(|| self.shared.router.handle(&mut req)));
                params = std::mem::take(&mut req.params);
            }
            let mut close = !head.keep_alive;
            let mut response = match answer {
                Ok(r) if r.status == StatusCode::SWITCHING_PROTOCOLS => {
                    // The connection switches protocols and leaves this
                    // loop (see `upgrade`), or is refused and closes.
                    let mut body = ConnBody {
                        io: self.io,
                        state: &mut body_state,
                    };
                    match switch_protocols(&mut body, &head, r) {
                        Ok(on_upgrade) => return Exit::Upgraded(on_upgrade),
                        Err(Error::Io(_)) => return Exit::Closed,
                        Err(e) => {
                            close = true;
                            shared.router.refusal(e, Some(&head), self.peer)
                        }
                    }
                }
                Ok(r) if r.status.is_informational() => {
                    // A 1xx is never a final answer; sent as one, the
                    // client would take the next response for this one.
                    log::error!(
                        "a handler answered {} {} with {}; sending 500",
                        head.method,
                        head.str(&head.target),
                        r.status
                    );
                    let error = Error::HandlerFailed("it answered with a 1xx status");
                    close = true;
                    shared.router.refusal(error, Some(&head), self.peer)
                }
                Ok(r) => r,
                Err(unwind) if coro::is_cancelling() => {
                    cut_off("a handler still running", &head, unwind)
                }
                Err(_) => {
                    log::error!(
                        "a handler panicked serving {} {}",
                        head.method,
                        head.str(&head.target)
                    );
                    let error = Error::HandlerFailed("it panicked");
                    close = true;
                    shared.router.refusal(error, Some(&head), self.peer)
                }
            };
            // A connection that closes anyway does not drain the body, and
            // a refusal does not wait for it (see `body::finish_refused`).
            let mut body = ConnBody {
                io: self.io,
                state: &mut body_state,
            };
            let end = if close {
                body::abandon(&mut body)
            } else if response.status.is_client_error() || response.status.is_server_error() {
                body::finish_refused(&mut body)
            } else {
                body::finish(&mut body)
            };
            match end {
                Finish::Complete => {}
                Finish::Close => close = true,
                Finish::Failed(Error::Io(_)) => return Exit::Closed,
                Finish::Failed(e) => {
                    response = shared.router.refusal(e, Some(&head), self.peer);
                    close = true;
                }
            }
            if self.shared.is_shutting_down() {
                close = true;
            }
            // A client that asked to close, and whose request was read to
            // its end with nothing behind it, sends nothing more: no later
            // byte can meet the closed socket and reset the connection, so
            // it closes without the lingering read (Go's rule, which
            // lingers only after a body cut short).
            let client_done =
                !head.keep_alive && body_state.is_done() && self.io.buffered().is_empty();
            let written = catch_unwind(AssertUnwindSafe(|| {
                write_response(self.io, &head, &mut response, close)
            }));
            served = true;
            match written {
                Ok(Ok(After::KeepOpen)) => {}
                Ok(Ok(After::Close)) => {
                    if client_done {
                        self.end_output();
                    } else {
                        self.close_gracefully();
                    }
                    return Exit::Closed;
                }
                Ok(Err(_)) => return Exit::Closed,
                Err(unwind) if coro::is_cancelling() => {
                    cut_off("a response still being sent", &head, unwind)
                }
                Err(_) => {
                    log::error!("a response body panicked; closing the connection");
                    return Exit::Closed;
                }
            }
        }
    }

    /// Waits until a whole request head is buffered, answering a refused
    /// one with its error.
    /// `may_wait_elsewhere`: this coroutine has served a request (one that
    /// was started for the connection's next request reads it first).
    fn next_head(
        &mut self,
        head: &mut Head,
        head_deadline: &mut Option<Instant>,
        may_wait_elsewhere: bool,
    ) -> Next {
        let shared = self.shared;
        let config = &*shared.config;
        // Buffered bytes already known not to end a head.
        let mut checked = 0;
        loop {
            let input = self.io.buffered();
            // The first look parses at once: a whole request usually
            // arrives in one read.
            if !input.is_empty() && (checked == 0 || worth_parsing(input, checked, &config.limits))
            {
                match parse_head(input, &config.limits, head) {
                    Ok(Some(len)) => return Next::Head(len),
                    Ok(None) => checked = self.io.buffered().len(),
                    Err(e) => {
                        self.refuse(e);
                        return Next::Stop;
                    }
                }
            }
            if self.io.flush().is_err() {
                return Next::Stop;
            }
            let idle = self.io.buffered().is_empty() && head_deadline.is_none();
            // No byte of a request yet (between requests, or before the
            // first): the shutdown may close the connection.
            let waiting = self.io.buffered().is_empty();
            if waiting && !self.entry.enter_idle(&self.shared.conns) {
                // Shutting down: no waiting for a request, but one the
                // client has already sent is answered (with `Connection:
                // close`), not reset by the close.
                if self.read_what_arrived() {
                    continue;
                }
                return Next::Stop;
            }
            // Between requests while the runtime runs long handlers (or
            // always, as `IdleWait` says): wait where the next request is
            // seen first, not for this worker.
            if idle && may_wait_elsewhere && self.waits_elsewhere() {
                return Next::WaitElsewhere {
                    idle_left: config.timeouts.idle,
                    release: false,
                };
            }
            let release_after = (idle
                && may_wait_elsewhere
                && self.can_wait_elsewhere()
                && config.idle_wait != IdleWait::Parked
                && RELEASE_IDLE_AFTER < config.timeouts.idle)
                .then_some(RELEASE_IDLE_AFTER);
            let read = if let Some(after) = release_after {
                match self.io.fill(after) {
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        return Next::WaitElsewhere {
                            idle_left: config.timeouts.idle - after,
                            release: true,
                        };
                    }
                    read => read,
                }
            } else if idle {
                self.io.fill(config.timeouts.idle)
            } else {
                let deadline =
                    *head_deadline.get_or_insert_with(|| Instant::now() + config.timeouts.header);
                self.io.fill_until(deadline)
            };
            if waiting {
                self.entry.leave_idle();
            }
            match read {
                Ok(0) => {
                    // End of stream (or a head past the size limit, which
                    // the parser reports on its next look).
                    if self.io.buffered().len() >= config.limits.max_header_bytes {
                        continue;
                    }
                    return Next::Stop;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut && !idle => {
                    self.refuse(Error::Timeout);
                    return Next::Stop;
                }
                Err(_) => return Next::Stop,
            }
        }
    }

    /// During the shutdown, reads what is already in the socket without
    /// waiting for more; true if it read something. The connection is
    /// busy again while it serves what it read, so the shutdown does not
    /// close it as idle meanwhile.
    fn read_what_arrived(&mut self) -> bool {
        self.entry.leave_idle();
        matches!(self.io.fill_now(), Ok(n) if n > 0)
    }

    /// Whether the connection, idle now, waits for its next request without
    /// its coroutine (`IdleWait`).
    fn waits_elsewhere(&self) -> bool {
        if !self.can_wait_elsewhere() {
            return false;
        }
        match self.shared.config.idle_wait {
            IdleWait::Adaptive => coro::runtime_is_congested(),
            IdleWait::Detached => true,
            IdleWait::Parked => false,
        }
    }

    /// Whether the connection's stream can start a coroutine when it turns
    /// readable: only a plain socket can (rustls may hold decrypted bytes
    /// that the socket's readiness does not show).
    fn can_wait_elsewhere(&self) -> bool {
        matches!(self.io.link(), Link::Tcp(_))
    }

    /// Answers a request that cannot be served with its error, and closes.
    fn refuse(&mut self, error: Error) {
        let head = Head::default();
        let mut response = self.shared.router.refusal(error, None, self.peer);
        if write_response(self.io, &head, &mut response, true).is_ok() {
            self.close_gracefully();
        }
    }

    /// Sends what is buffered and shuts the write side (a TLS stream sends
    /// its `close_notify` first); false if either failed.
    fn end_output(&mut self) -> bool {
        self.io.flush().is_ok() && self.io.link_mut().shutdown_write().is_ok()
    }

    /// Sends what is buffered, shuts the write side, and reads (and drops)
    /// what the client still sends for a moment, so that it gets the last
    /// response rather than a reset. Never inlined, for its scratch
    /// buffer (see `body::finish`).
    #[inline(never)]
    fn close_gracefully(&mut self) {
        if !self.end_output() {
            return;
        }
        let stream = self.io.link_mut();
        let deadline = Instant::now() + LINGER;
        let mut scratch = [0u8; 4096];
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(left).is_err() {
                return;
            }
            match stream.read(&mut scratch) {
                Ok(0) | Err(_) => return,
                Ok(n) => dropped += n,
            }
        }
    }
}
