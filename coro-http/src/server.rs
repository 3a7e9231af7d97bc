//! The server: listeners, a runtime, one coroutine per connection, and a
//! graceful shutdown.
//!
//! [`Server::run`] starts, on the server's own coro runtime, one acceptor
//! coroutine per listener *and worker*, each on its worker
//! ([`coro::Builder::worker`]) with a descriptor of its own for the
//! listener ([`TcpListener::try_clone`]). The kernel wakes the acceptor of
//! one idle worker per new connection and passes over workers that are
//! busy or blocked (`EPOLLEXCLUSIVE`, see coro-net's reactor), so a worker
//! stuck in a long handler never stops the server from accepting.
//!
//! An acceptor spawns a coroutine per accepted connection as an ordinary
//! spawn: it runs next on the acceptor's worker, and the spawns it
//! displaces are stolen by idle workers. A started coroutine never changes
//! worker, so where a connection's coroutine starts is where the
//! connection is served; its socket is registered with that worker's
//! reactor when it first waits.
//!
//! # Shutdown
//!
//! [`ShutdownHandle::shutdown`] (from any thread or coroutine):
//!
//! 1. sets the shutting-down flag and shuts the listening sockets' read
//!    side, which wakes the acceptors: they see the flag and return;
//! 2. closes every connection that is idle between requests, or has not
//!    sent a byte of its first. A connection announces itself idle
//!    (`enter_idle`) before it waits for its next request and checks the
//!    flag after (sequentially consistent on both sides), so either it
//!    sees the flag and stops, or the shutdown sees it idle and shuts its
//!    read side, which ends the wait. (A request that arrives just as its
//!    read side is shut may still be read and answered with `Connection:
//!    close`; one that needs more of its body than was read with it gets
//!    400. That is the race any server has when it closes idle keep-alive
//!    connections; clients retry such requests.)
//! 3. lets busy connections finish their request: their response says
//!    `Connection: close`, and they stop instead of waiting for another;
//! 4. after the grace period, shuts down every connection still open, so
//!    blocked reads and writes fail and their coroutines end, waits
//!    [`FORCED_CLOSE_WAIT`] for them, stops the runtime
//!    ([`coro::Runtime::shutdown_timeout`], as long again at most) and
//!    returns.
//!
//! The thread that called [`Server::run`] does steps 2 to 4 itself, not a
//! coroutine: a worker stuck in a handler that computes without suspending
//! cannot hold them up. Such a handler is left running when `run` returns:
//! its worker thread goes on with it, detached, and its connection is
//! already shut, so its response goes nowhere; once it returns, the worker
//! finishes the runtime's shutdown and exits. A program that returns from
//! `main` after `run` exits with the handler unfinished (its destructors not
//! run), as it would with any thread still running.
//!
//! A connection that waits for its next request when it sees the flag
//! (step 2) still reads, without waiting, what the client already sent:
//! a request that was in its socket buffer when the shutdown started is
//! answered, with `Connection: close`, not dropped with a reset.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro::chan::{self, Receiver, Sender};
use coro_net::{TcpListener, TcpStream};
use parking_lot::Mutex;

use crate::config::{IdleWait, Limits, Timeouts};
use crate::router::Router;

/// How often the shutdown looks again at the connections still open.
const SHUTDOWN_POLL: Duration = Duration::from_millis(5);

/// How long the shutdown waits for force-closed connections to end.
const FORCED_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Bounds of the period of the idle sweep (`sweep_idle`): often enough for
/// short idle timeouts, rarely enough to cost nothing, and short enough
/// that the shutdown does not wait long for the sweeper.
const SWEEP_MIN: Duration = Duration::from_millis(10);
const SWEEP_MAX: Duration = Duration::from_millis(250);

/// A pause after an accept error that may pass (out of file descriptors
/// or memory), so the acceptor does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Each acceptor logs a failing accept at most once in this long, with the
/// count of those it did not log: out of descriptors, it fails a hundred
/// times a second (every [`ACCEPT_BACKOFF`]) until connections close.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// What every connection of a server reads.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) limits: Limits,
    pub(crate) timeouts: Timeouts,
    /// `Server: <name>\r\n`, or empty for none.
    pub(crate) server_line: Vec<u8>,
    pub(crate) idle_wait: IdleWait,
}

/// What the acceptors, the connections and the shutdown handle share.
pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) router: Router,
    pub(crate) conns: Registry,
    listeners: Vec<Arc<TcpListener>>,
    shutting_down: AtomicBool,
    wake_run: Sender<()>,
}

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

const BUSY: u8 = 0;
const IDLE: u8 = 1;
const CLOSING: u8 = 2;

/// One open connection, as the shutdown sees it.
#[derive(Debug)]
pub(crate) struct ConnEntry {
    id: u64,
    stream: Arc<TcpStream>,
    state: AtomicU8,
    /// While the connection waits for its next request without a
    /// coroutine: when its idle timeout ends, in nanoseconds from the
    /// registry's epoch (0 otherwise).
    idle_deadline: AtomicU64,
}

impl ConnEntry {
    /// Marks the connection idle before it waits for a request. False if
    /// the server is shutting down: the connection should close instead.
    pub(crate) fn enter_idle(&self, shared: &Shared) -> bool {
        if self
            .state
            .compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        !shared.is_shutting_down()
    }

    /// Marks it busy again after the wait.
    pub(crate) fn leave_idle(&self) {
        let _ = self
            .state
            .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Notes that the connection waits for its next request without a
    /// coroutine, for `idle_left` at most (see `sweep_idle`).
    pub(crate) fn wait_elsewhere(&self, shared: &Shared, idle_left: Duration) {
        let deadline = shared.conns.nanos(Instant::now() + idle_left);
        self.idle_deadline.store(deadline, Ordering::SeqCst);
        shared
            .conns
            .waiting_elsewhere
            .fetch_add(1, Ordering::SeqCst);
    }

    /// Its wait without a coroutine is over.
    pub(crate) fn stop_waiting_elsewhere(&self, shared: &Shared) {
        self.idle_deadline.store(0, Ordering::SeqCst);
        shared
            .conns
            .waiting_elsewhere
            .fetch_sub(1, Ordering::SeqCst);
    }

    /// Ends the wait of a connection whose idle timeout has passed: its
    /// read side is shut, which starts its coroutine, to find the end of
    /// the stream and close.
    fn close_if_idle_too_long(&self, now: u64) {
        let deadline = self.idle_deadline.load(Ordering::SeqCst);
        if deadline != 0 && now >= deadline {
            let _ = self.stream.shutdown(Shutdown::Read);
        }
    }

    /// Closes the connection if it is idle; a busy one sees the flag later.
    fn close_if_idle(&self) {
        if self
            .state
            .compare_exchange(IDLE, CLOSING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let _ = self.stream.shutdown(Shutdown::Read);
        }
    }
}

/// The open connections.
pub(crate) struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnEntry>>>,
    /// Connections that wait for a request without a coroutine.
    waiting_elsewhere: AtomicUsize,
    /// Where idle deadlines count from.
    epoch: Instant,
}

impl Default for Registry {
    fn default() -> Registry {
        Registry {
            next_id: AtomicU64::new(0),
            open: Mutex::default(),
            waiting_elsewhere: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Registry {
    pub(crate) fn insert(&self, stream: Arc<TcpStream>) -> Arc<ConnEntry> {
        let entry = Arc::new(ConnEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            stream,
            state: AtomicU8::new(BUSY),
            idle_deadline: AtomicU64::new(0),
        });
        self.open.lock().insert(entry.id, Arc::clone(&entry));
        entry
    }

    pub(crate) fn remove(&self, entry: &ConnEntry) {
        self.open.lock().remove(&entry.id);
    }

    fn len(&self) -> usize {
        self.open.lock().len()
    }

    /// `at` in nanoseconds from the registry's epoch, never 0.
    fn nanos(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.epoch).as_nanos() as u64).max(1)
    }

    fn each(&self, f: impl Fn(&ConnEntry)) {
        let entries: Vec<Arc<ConnEntry>> = self.open.lock().values().cloned().collect();
        for e in entries {
            f(&e);
        }
    }
}

/// Configures and binds a [`Server`].
#[derive(Debug)]
pub struct Builder {
    addrs: Vec<io::Result<Vec<SocketAddr>>>,
    workers: Option<usize>,
    limits: Limits,
    timeouts: Timeouts,
    server_name: Option<String>,
    idle_wait: IdleWait,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            addrs: Vec::new(),
            workers: None,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
            server_name: Some("coro".to_string()),
            idle_wait: IdleWait::default(),
        }
    }
}

impl Builder {
    /// Adds an address to listen on (call it again for more). Port 0
    /// picks a free port; [`Server::local_addrs`] says which.
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> Builder {
        self.addrs.push(addr.to_socket_addrs().map(|a| a.collect()));
        self
    }

    /// Worker threads of the server's runtime; default one per core.
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self
    }

    /// Size limits on requests.
    pub fn limits(mut self, limits: Limits) -> Builder {
        self.limits = limits;
        self
    }

    /// Connection timeouts.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Builder {
        self.timeouts = timeouts;
        self
    }

    /// How keep-alive connections wait for their next request (default
    /// [`IdleWait::Adaptive`]).
    pub fn idle_wait(mut self, idle_wait: IdleWait) -> Builder {
        self.idle_wait = idle_wait;
        self
    }

    /// The `Server` header value (default `coro`); `None` sends none.
    pub fn server_name(mut self, name: Option<&str>) -> Builder {
        self.server_name = name.map(str::to_string);
        self
    }

    /// Binds the listeners and starts the runtime.
    ///
    /// # Errors
    /// No address, an address that cannot be resolved or bound, an invalid
    /// server name, or a runtime that cannot start.
    pub fn build(self, router: Router) -> io::Result<Server> {
        let server_line = match &self.server_name {
            Some(name) => {
                http::HeaderValue::from_str(name).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "invalid server name")
                })?;
                format!("Server: {name}\r\n").into_bytes()
            }
            None => Vec::new(),
        };
        if self.addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on (Builder::bind)",
            ));
        }
        let mut listeners = Vec::new();
        for addrs in self.addrs {
            listeners.push(Arc::new(TcpListener::bind(&addrs?[..])?));
        }
        let mut runtime = coro::runtime::Builder::new().thread_name("coro-http");
        if let Some(n) = self.workers {
            runtime = runtime.workers(n);
        }
        let runtime = runtime.build()?;
        let (wake_run, run_woken) = chan::bounded(1);
        let shared = Arc::new(Shared {
            config: Arc::new(Config {
                limits: self.limits,
                timeouts: self.timeouts,
                server_line,
                idle_wait: self.idle_wait,
            }),
            router,
            conns: Registry::default(),
            listeners,
            shutting_down: AtomicBool::new(false),
            wake_run,
        });
        Ok(Server {
            runtime,
            shared,
            run_woken,
        })
    }
}

/// An HTTP/1.1 server; see the crate docs.
pub struct Server {
    runtime: coro::Runtime,
    shared: Arc<Shared>,
    run_woken: Receiver<()>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.local_addrs())
            .field("workers", &self.runtime.workers())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.shared
            .listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until shut down, then returns once every connection has
    /// closed (see the module docs for the order).
    ///
    /// # Errors
    /// Reserved for failures of the server itself; a failing connection
    /// never ends it.
    pub fn run(self) -> io::Result<()> {
        let Server {
            runtime,
            shared,
            run_woken,
        } = self;
        for listener in &shared.listeners {
            for worker in 0..runtime.workers() {
                start_acceptor(&runtime, listener, worker, &shared);
            }
        }
        {
            let shared = Arc::clone(&shared);
            drop(runtime.spawn(move || sweep_idle(&shared)));
        }
        // Here, not in a coroutine: see the module docs. The acceptors
        // and the sweeper end on their own once they see the flag.
        let _ = run_woken.recv();
        drain(&shared);
        if !runtime.shutdown_timeout(FORCED_CLOSE_WAIT) {
            log::warn!("a handler is still running after the grace period; leaving it");
        }
        Ok(())
    }
}

/// Starts the acceptor of `listener` on `worker` of `runtime`, with a
/// descriptor of its own (the first worker's uses the listener itself). A
/// worker whose acceptor cannot start (out of descriptors) still serves
/// connections that others accept.
fn start_acceptor(
    runtime: &coro::Runtime,
    listener: &Arc<TcpListener>,
    worker: usize,
    shared: &Arc<Shared>,
) {
    let own = if worker == 0 {
        Arc::clone(listener)
    } else {
        match listener.try_clone() {
            Ok(l) => Arc::new(l),
            Err(e) => {
                log::warn!("no acceptor on worker {worker}: {e}");
                return;
            }
        }
    };
    let shared = Arc::clone(shared);
    if let Err(e) = coro::Builder::new()
        .worker(worker)
        .spawn_on(runtime, move || accept_loop(&own, &shared))
    {
        log::warn!("no acceptor on worker {worker}: {e}");
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    let mut errors = RateLimited::default();
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if shared.is_shutting_down() {
                    return;
                }
                let _ = stream.set_nodelay(true);
                let conn_shared = Arc::clone(shared);
                let spawned = coro::Builder::new()
                    .spawn(move || crate::conn::serve(stream, Some(peer), conn_shared));
                if let Err(e) = spawned {
                    log::error!("cannot start a connection's coroutine: {e}");
                }
            }
            Err(_) if shared.is_shutting_down() => return,
            Err(e) => {
                if !is_per_connection_error(&e) {
                    match errors.should_log(Instant::now()) {
                        Some(0) => {
                            log::warn!("accept failed: {e}; retrying every {ACCEPT_BACKOFF:?}")
                        }
                        Some(n) => log::warn!(
                            "accept failed: {e}; retrying every {ACCEPT_BACKOFF:?} \
                             ({n} more failures since the last such line)"
                        ),
                        None => {}
                    }
                    coro::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    }
}

/// One line per [`ACCEPT_ERROR_LOG_EVERY`] at most, for an acceptor's
/// failures.
#[derive(Debug, Default)]
struct RateLimited {
    last: Option<Instant>,
    unlogged: u64,
}

impl RateLimited {
    /// Some(failures not logged since the last line) if this one is to be
    /// logged.
    fn should_log(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(t) if now.saturating_duration_since(t) < ACCEPT_ERROR_LOG_EVERY => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        }
    }
}

/// Until the shutdown, ends the wait of connections that wait for their
/// next request without a coroutine (`conn::wait_elsewhere`) once their
/// idle timeout has passed: no coroutine of theirs has a read timeout
/// running. Looks every quarter of the idle timeout (within
/// [`SWEEP_MIN`]..[`SWEEP_MAX`]), and only at the registry when some
/// connection waits that way. Each look also tells the heap trimmer how
/// many connections are open (see `trim`).
fn sweep_idle(shared: &Shared) {
    let period = (shared.config.timeouts.idle / 4).clamp(SWEEP_MIN, SWEEP_MAX);
    let mut trimmer = crate::trim::Trimmer::new();
    while !shared.is_shutting_down() {
        coro::sleep(period);
        if shared.conns.waiting_elsewhere.load(Ordering::SeqCst) > 0 {
            let now = shared.conns.nanos(Instant::now());
            shared.conns.each(|e| e.close_if_idle_too_long(now));
        }
        if trimmer.note(shared.conns.len(), Instant::now()) {
            crate::trim::malloc_trim();
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
    )
}

/// Steps 2–4 of the shutdown, but for stopping the runtime.
fn drain(shared: &Shared) {
    let grace_end = Instant::now() + shared.config.timeouts.grace;
    while shared.conns.len() > 0 && Instant::now() < grace_end {
        shared.conns.each(ConnEntry::close_if_idle);
        coro::sleep(SHUTDOWN_POLL);
    }
    if shared.conns.len() == 0 {
        return;
    }
    log::warn!(
        "{} connections still open after the grace period; closing them",
        shared.conns.len()
    );
    shared.conns.each(|e| {
        let _ = e.stream.shutdown(Shutdown::Both);
    });
    let forced_end = Instant::now() + FORCED_CLOSE_WAIT;
    while shared.conns.len() > 0 && Instant::now() < forced_end {
        coro::sleep(SHUTDOWN_POLL);
    }
}

/// Stops a running server: see [`Server::run`].
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("shutting_down", &self.shared.is_shutting_down())
            .finish()
    }
}

impl ShutdownHandle {
    /// Starts the shutdown: no new connections, idle ones closed, busy
    /// ones closed after their request, all closed after the grace period.
    /// Returns at once; [`Server::run`] returns when it is done.
    pub fn shutdown(&self) {
        if self.shared.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        for l in &self.shared.listeners {
            // Shutting a listening socket's read side wakes its acceptor.
            let _ = socket2::SockRef::from(&**l).shutdown(Shutdown::Read);
        }
        let _ = self.shared.wake_run.try_send(());
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.is_shutting_down()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_are_logged_once_per_period_with_the_count_left_out() {
        let mut errors = RateLimited::default();
        let start = Instant::now();
        assert_eq!(errors.should_log(start), Some(0));
        for i in 1..=99 {
            assert_eq!(errors.should_log(start + ACCEPT_BACKOFF * i), None);
        }
        assert_eq!(errors.should_log(start + ACCEPT_ERROR_LOG_EVERY), Some(99));
        assert_eq!(errors.should_log(start + ACCEPT_ERROR_LOG_EVERY), None);
    }
}
