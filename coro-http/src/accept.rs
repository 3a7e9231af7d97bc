//! The acceptors: one coroutine per listener and worker, each accepting
//! connections and starting a coroutine for each.
//!
//! # One accept, in order
//!
//! 1. **A place under the cap.** With [`Builder::max_connections`], the
//!    acceptor first takes a permit of the registry's semaphore, parking
//!    while the server is full; the permit goes to the connection it
//!    accepts and comes back when that connection closes. The connections
//!    beyond the cap are not refused: they wait in the listen backlog,
//!    completed by the kernel, until an acceptor takes them. (At most `n`
//!    connections are open: each holds a permit, and so does each acceptor
//!    waiting in `accept`.)
//! 2. **The accept.** `accept4` parks the acceptor until a connection
//!    arrives (the kernel wakes one idle worker's acceptor per connection,
//!    see the server's module docs).
//! 3. **Its coroutine.** Spawned with the connection settings
//!    ([`Builder::stack_size`], and the overflow report's hint), it runs
//!    next on the acceptor's worker: it serves HTTP at once, or, for a TLS
//!    listener, runs the handshake first (see `tls`), so a slow handshake
//!    never holds up the acceptor.
//!
//! # Accept errors
//!
//! Errors that concern only the connection being accepted (it was reset
//! or aborted while queued, or one of the network errors Linux passes on
//! from the new socket, see `accept(2)`) are skipped at once. Any other
//! (`EMFILE`, `ENFILE`: out of file descriptors; `ENOBUFS`, `ENOMEM`: out
//! of socket memory) does not go away by retrying at once, and the
//! connection that met it stays in the backlog for the next try. So the
//! acceptor backs off: 5 ms after the first failure, doubling to 1 s, and
//! back to none after an accept succeeds (the figures of Go's
//! `net/http.Server.Serve`). Every acceptor of a server reports into one
//! [`AcceptErrors`], which logs the first failure at once and then at
//! most one line a second with the count since the last (`log::warn!`),
//! and one line when accepting works again, so a server out of
//! descriptors says so without flooding its log.
//!
//! [`Builder::max_connections`]: crate::Builder::max_connections
//! [`Builder::stack_size`]: crate::Builder::stack_size

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro_net::{TcpListener, TcpStream};
use parking_lot::Mutex;

use crate::shared::Shared;

/// The first pause after an accept error that may pass.
const BACKOFF_MIN: Duration = Duration::from_millis(5);

/// The longest pause between two tries of a failing accept.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How often, at most, a run of accept failures is logged.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// What a listener serves.
#[derive(Debug, Clone)]
pub(crate) enum Protocol {
    /// HTTP/1.1 in the clear.
    Http,
    /// HTTP/1.1 over TLS, with the listener's config (ALPN set, see
    /// `tls::for_http`).
    #[cfg(feature = "tls")]
    Https(Arc<rustls::ServerConfig>),
}

/// A listening socket and what it serves.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) socket: Arc<TcpListener>,
    pub(crate) protocol: Protocol,
}

/// Starts the acceptor of `listener` on `worker` of `runtime`, with a
/// descriptor of its own (the first worker's uses the listener itself). A
/// worker whose acceptor cannot start (out of descriptors) still serves
/// connections that others accept.
pub(crate) fn start_acceptor(
    runtime: &coro::Runtime,
    listener: &Listener,
    worker: usize,
    shared: &Arc<Shared>,
    errors: &Arc<AcceptErrors>,
) -> Option<coro::JoinHandle<()>> {
    let own = if worker == 0 {
        Arc::clone(&listener.socket)
    } else {
        match listener.socket.try_clone() {
            Ok(l) => Arc::new(l),
            Err(e) => {
                log::warn!("no acceptor on worker {worker}: {e}");
                return None;
            }
        }
    };
    let shared = Arc::clone(shared);
    let errors = Arc::clone(errors);
    let protocol = listener.protocol.clone();
    coro::Builder::new()
        .worker(worker)
        .spawn_on(runtime, move || {
            accept_loop(&own, &protocol, &shared, &errors)
        })
        .map_err(|e| log::warn!("no acceptor on worker {worker}: {e}"))
        .ok()
}

/// Accepts connections until the shutdown (steps 1–3 of the module docs).
fn accept_loop(
    listener: &TcpListener,
    protocol: &Protocol,
    shared: &Arc<Shared>,
    errors: &AcceptErrors,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        shared.conns.take_slot();
        let Some((stream, peer)) = accept_one(listener, shared, errors, &mut backoff) else {
            shared.conns.give_back_slot();
            return;
        };
        let _ = stream.set_nodelay(true);
        let conn_shared = Arc::clone(shared);
        let builder = shared.config.connection_coroutine();
        let spawned = match protocol {
            Protocol::Http => {
                builder.spawn(move || crate::conn::serve(stream, Some(peer), conn_shared))
            }
            #[cfg(feature = "tls")]
            Protocol::Https(config) => {
                let config = Arc::clone(config);
                builder.spawn(move || crate::tls::serve(stream, peer, conn_shared, config))
            }
        };
        if let Err(e) = spawned {
            log::error!("cannot start a connection's coroutine: {e}");
            shared.conns.give_back_slot();
        }
    }
}

/// The next connection, retrying past errors (see the module docs), or
/// `None` once the server shuts down.
fn accept_one(
    listener: &TcpListener,
    shared: &Shared,
    errors: &AcceptErrors,
    backoff: &mut Duration,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        if shared.is_shutting_down() {
            return None;
        }
        match listener.accept() {
            Ok(accepted) => {
                *backoff = BACKOFF_MIN;
                errors.succeeded();
                return (!shared.is_shutting_down()).then_some(accepted);
            }
            Err(_) if shared.is_shutting_down() => return None,
            Err(e) if is_per_connection_error(&e) => {
                log::debug!("accept: a connection failed while queued: {e}");
            }
            Err(e) => {
                errors.failed(&e);
                coro::sleep(*backoff);
                *backoff = (*backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Errors that concern only the connection being accepted.
fn is_per_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    ) || matches!(
        e.raw_os_error(),
        // What Linux's accept passes on from the new socket (accept(2)).
        Some(
            libc::ENETDOWN
                | libc::EPROTO
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

/// The accept failures of one server, logged at most once a second (see
/// the module docs).
#[derive(Debug, Default)]
pub(crate) struct AcceptErrors {
    /// Whether a run of failures is going on: the lock-free look of a
    /// successful accept. Written under `run`'s lock.
    failing: AtomicBool,
    run: Mutex<FailureRun>,
}

/// Failures since the last successful accept.
#[derive(Debug, Default)]
struct FailureRun {
    /// All of them.
    total: u64,
    /// Those since the last line logged.
    unlogged: u64,
    /// When the last line was logged.
    logged_at: Option<Instant>,
}

impl AcceptErrors {
    /// Counts a failure, and logs it if no line was logged within
    /// [`REPORT_EVERY`].
    pub(crate) fn failed(&self, e: &io::Error) {
        if let Some(line) = self.failure_at(e, Instant::now()) {
            log::warn!("{line}");
        }
    }

    /// Ends a run of failures, if one was going on, with a line.
    pub(crate) fn succeeded(&self) {
        if !self.failing.load(Ordering::Relaxed) {
            return;
        }
        if let Some(line) = self.success() {
            log::warn!("{line}");
        }
    }

    /// Counts a failure at `now`: the line to log, if one is due.
    fn failure_at(&self, e: &io::Error, now: Instant) -> Option<String> {
        let mut run = self.run.lock();
        self.failing.store(true, Ordering::Relaxed);
        run.total += 1;
        run.unlogged += 1;
        let since = run.logged_at.map(|at| now.saturating_duration_since(at));
        if since.is_some_and(|s| s < REPORT_EVERY) {
            return None;
        }
        let hint = hint(e);
        let line = match since {
            None => format!("accept failed: {e}{hint}; backing off"),
            Some(s) => format!(
                "accept failed {} times in the last {:.1} s: {e}{hint}; backing off",
                run.unlogged,
                s.as_secs_f64()
            ),
        };
        run.unlogged = 0;
        run.logged_at = Some(now);
        Some(line)
    }

    /// Ends a run of failures: the line to log, if there was one.
    fn success(&self) -> Option<String> {
        let mut run = self.run.lock();
        let total = run.total;
        *run = FailureRun::default();
        self.failing.store(false, Ordering::Relaxed);
        (total > 0).then(|| format!("accepting connections again after {total} failed accepts"))
    }
}

/// What to do about an accept error, for the log line.
fn hint(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EMFILE) => {
            " (out of file descriptors: raise RLIMIT_NOFILE, `ulimit -n`, \
             or cap connections with Builder::max_connections)"
        }
        Some(libc::ENFILE) => " (the system is out of file descriptors: fs.file-max)",
        Some(libc::ENOBUFS | libc::ENOMEM) => " (out of memory for sockets)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emfile() -> io::Error {
        io::Error::from_raw_os_error(libc::EMFILE)
    }

    #[test]
    fn a_run_of_failures_is_logged_once_a_second_with_its_count() {
        let errors = AcceptErrors::default();
        let t0 = Instant::now();
        let first = errors
            .failure_at(&emfile(), t0)
            .expect("the first is logged");
        assert!(
            first.starts_with("accept failed: Too many open files"),
            "{first}"
        );
        assert!(first.contains("RLIMIT_NOFILE"), "{first}");
        for ms in [1, 10, 500, 999] {
            let at = t0 + Duration::from_millis(ms);
            assert_eq!(errors.failure_at(&emfile(), at), None, "{ms} ms");
        }
        let second = errors
            .failure_at(&emfile(), t0 + Duration::from_millis(1500))
            .expect("a second later, one more line");
        assert!(
            second.starts_with("accept failed 5 times in the last 1.5 s: Too many open files"),
            "{second}"
        );
        assert_eq!(
            errors.success().as_deref(),
            Some("accepting connections again after 6 failed accepts")
        );
        // A new run starts afresh.
        assert_eq!(errors.success(), None);
        let again = errors.failure_at(&emfile(), t0 + Duration::from_millis(1600));
        assert!(again
            .expect("logged at once")
            .starts_with("accept failed: "));
    }

    #[test]
    fn per_connection_errors_are_told_apart() {
        assert!(is_per_connection_error(
            &io::ErrorKind::ConnectionAborted.into()
        ));
        assert!(is_per_connection_error(&io::Error::from_raw_os_error(
            libc::EPROTO
        )));
        assert!(!is_per_connection_error(&emfile()));
        assert!(!is_per_connection_error(&io::Error::from_raw_os_error(
            libc::ENOBUFS
        )));
    }
}
