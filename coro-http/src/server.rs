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
//! An acceptor (see `accept`, for the connection cap and accept errors)
//! spawns a coroutine per accepted connection as an ordinary
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
//!    side, which wakes the acceptors: they see the flag and return (those
//!    parked at the connection cap get a place each, to see it too);
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
//!    tells each upgraded connection (one that switched protocols, see
//!    `upgrade`) once, by interrupting its read, and lets it close on its
//!    own (a WebSocket sends its close frame, code 1001, and waits for the
//!    peer's);
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

use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coro::chan::{self, Receiver, Sender};
use coro_net::{ListenOptions, TcpListener};

use crate::accept::{start_acceptor, AcceptErrors, Listener, Protocol};
use crate::config::{Config, IdleWait, Limits, Timeouts};
use crate::registry::Registry;
use crate::router::Router;
use crate::shared::Shared;
use crate::transport::Transport;

/// How often the shutdown looks again at the connections still open.
const SHUTDOWN_POLL: Duration = Duration::from_millis(5);

/// How long the shutdown waits for force-closed connections to end.
const FORCED_CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Bounds of the period of the idle sweep (`sweep_idle`): often enough for
/// short idle timeouts, rarely enough to cost nothing, and short enough
/// that the shutdown does not wait long for the sweeper.
const SWEEP_MIN: Duration = Duration::from_millis(10);
const SWEEP_MAX: Duration = Duration::from_millis(250);

/// What the server and its handles hold beyond what its connections share.
struct Listening {
    shared: Arc<Shared>,
    listeners: Vec<Listener>,
    accept_errors: Arc<AcceptErrors>,
    wake_run: Sender<()>,
    /// Worker threads of the runtime: acceptors per listener.
    workers: usize,
}

/// Configures and binds a [`Server`].
#[derive(Debug)]
pub struct Builder {
    /// What to listen on, in the order bound.
    addrs: Vec<(io::Result<Vec<SocketAddr>>, Protocol)>,
    workers: Option<usize>,
    limits: Limits,
    timeouts: Timeouts,
    server_name: Option<String>,
    idle_wait: IdleWait,
    stack_size: Option<usize>,
    max_connections: Option<usize>,
    listen: ListenOptions,
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
            stack_size: None,
            max_connections: None,
            listen: ListenOptions::default(),
        }
    }
}

impl Builder {
    /// Adds an address to listen on (call it again for more). Port 0
    /// picks a free port; [`Server::local_addrs`] says which.
    pub fn bind(mut self, addr: impl ToSocketAddrs) -> Builder {
        let addrs = addr.to_socket_addrs().map(|a| a.collect());
        self.addrs.push((addrs, Protocol::Http));
        self
    }

    /// Adds an address to serve HTTPS on, with `config` (call it again for
    /// more, each with its own config; plain [`bind`](Self::bind)s may
    /// sit beside them in one server). Each connection's handshake runs
    /// in its own coroutine, within [`Timeouts::handshake`].
    ///
    /// ALPN: a config with an empty `alpn_protocols` list advertises
    /// `http/1.1`; [`build`](Self::build) refuses a list that lacks
    /// `http/1.1` or names a protocol this server does not speak (`h2`).
    ///
    /// ```no_run
    /// # fn config() -> rustls::ServerConfig { unimplemented!() }
    /// # let router = coro_http::Router::new();
    /// let server = coro_http::Server::builder()
    ///     .bind("0.0.0.0:80")
    ///     .bind_tls("0.0.0.0:443", config()) // a rustls::ServerConfig
    ///     .build(router)?;
    /// # std::io::Result::Ok(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn bind_tls(
        mut self,
        addr: impl ToSocketAddrs,
        config: impl Into<Arc<rustls::ServerConfig>>,
    ) -> Builder {
        let addrs = addr.to_socket_addrs().map(|a| a.collect());
        self.addrs.push((addrs, Protocol::Https(config.into())));
        self
    }

    /// Worker threads of the server's runtime; default one per core.
    /// [`build`](Self::build) refuses 0.
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

    /// Stack size in bytes of each connection's coroutine, where its
    /// handlers and middleware run (default [`coro::DEFAULT_STACK_SIZE`],
    /// 256 KiB; rounded up to pages, at least 16 KiB, at most
    /// [`coro::MAX_STACK_SIZE`]). Only the pages a connection touches cost
    /// memory. A handler that overflows it aborts the process, as any
    /// stack overflow does, with a message that names this setting.
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = Some(bytes);
        self
    }

    /// Most connections open at once (default: no cap). Past it, the
    /// acceptors stop accepting: new connections wait in the listen
    /// backlog ([`backlog`](Self::backlog)) until one closes, and beyond
    /// the backlog the kernel refuses or drops them. [`build`](Self::build)
    /// refuses 0.
    pub fn max_connections(mut self, n: usize) -> Builder {
        self.max_connections = Some(n);
        self
    }

    /// Sets `SO_REUSEPORT` on the listeners (default off), so that several
    /// processes (or servers) can listen on one address and the kernel
    /// spreads new connections over them: see the README, "Beyond one
    /// machine".
    pub fn reuse_port(mut self, on: bool) -> Builder {
        self.listen.reuse_port = on;
        self
    }

    /// Length of the listen backlog: connections the kernel completes and
    /// queues before the server accepts them (default 1024; Linux caps it
    /// at `net.core.somaxconn`).
    pub fn backlog(mut self, n: u32) -> Builder {
        self.listen.backlog = i32::try_from(n).unwrap_or(i32::MAX);
        self
    }

    /// Binds the listeners and starts the runtime.
    ///
    /// # Errors
    /// No address, an address that cannot be resolved or bound (the error
    /// names it), a TLS config whose ALPN list the server cannot honour
    /// (see `Builder::bind_tls`, feature `tls`), an invalid server name, `workers(0)`,
    /// `max_connections(0)`, a stack size past [`coro::MAX_STACK_SIZE`], or
    /// a runtime that cannot start.
    pub fn build(self, router: Router) -> io::Result<Server> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if self.workers == Some(0) {
            return Err(invalid("workers(0): a server needs at least one worker"));
        }
        if self.max_connections == Some(0) {
            return Err(invalid(
                "max_connections(0): a server must allow a connection",
            ));
        }
        if self.stack_size.is_some_and(|s| s > coro::MAX_STACK_SIZE) {
            return Err(invalid(&format!(
                "stack_size: at most {} bytes",
                coro::MAX_STACK_SIZE
            )));
        }
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
        for (addrs, protocol) in self.addrs {
            let addrs = addrs?;
            let protocol = match protocol {
                Protocol::Http => Protocol::Http,
                #[cfg(feature = "tls")]
                Protocol::Https(config) => Protocol::Https(crate::tls::for_http(config)?),
            };
            let socket = TcpListener::bind_with(&addrs[..], self.listen)
                .map_err(|e| bind_error(&addrs, e))?;
            listeners.push(Listener {
                socket: Arc::new(socket),
                protocol,
            });
        }
        let mut runtime = coro::runtime::Builder::new().thread_name("coro-http");
        if let Some(n) = self.workers {
            runtime = runtime.workers(n);
        }
        let runtime = runtime.build()?;
        let workers = runtime.workers();
        let (wake_run, run_woken) = chan::bounded(1);
        let shared = Arc::new(Shared {
            config: Arc::new(Config {
                limits: self.limits,
                timeouts: self.timeouts,
                server_line,
                idle_wait: self.idle_wait,
                stack_size: self.stack_size,
            }),
            router,
            conns: Registry::new(self.max_connections),
        });
        let listening = Arc::new(Listening {
            shared,
            listeners,
            accept_errors: Arc::default(),
            wake_run,
            workers,
        });
        Ok(Server {
            runtime,
            listening,
            run_woken,
        })
    }
}

/// `e`, a failure to listen on `addrs`, with the address in its message
/// (the OS's says only `Address already in use`).
fn bind_error(addrs: &[SocketAddr], e: io::Error) -> io::Error {
    let named = match addrs {
        [one] => one.to_string(),
        many => many
            .iter()
            .map(SocketAddr::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
    io::Error::new(e.kind(), format!("cannot listen on {named}: {e}"))
}

/// An HTTP/1.1 server; see the crate docs.
pub struct Server {
    runtime: coro::Runtime,
    listening: Arc<Listening>,
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

    /// The addresses the server listens on, in the order they were bound
    /// ([`Builder::bind`] and `Builder::bind_tls` alike).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listening
            .listeners
            .iter()
            .filter_map(|l| l.socket.local_addr().ok())
            .collect()
    }

    /// A handle that serves connections the program accepted itself, over
    /// any [`Transport`].
    pub fn connection_handle(&self) -> ConnectionHandle {
        ConnectionHandle {
            shared: Arc::clone(&self.listening.shared),
        }
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            listening: Arc::clone(&self.listening),
        }
    }

    /// Serves as [`run`](Self::run) does, and shuts down gracefully on the
    /// first `SIGINT` (Ctrl-C) or `SIGTERM`; a second one during the
    /// drain ends the process at once, as the signal does by default.
    /// [`ShutdownHandle::shutdown`] still works too.
    ///
    /// It installs a signal handler that works whatever the threads'
    /// signal masks (see the crate docs, "Signals", for why not `sigwait`,
    /// and for the rule to follow when you handle signals yourself).
    ///
    /// ```no_run
    /// # let router = coro_http::Router::new();
    /// let server = coro_http::Server::builder().bind("0.0.0.0:8080").build(router)?;
    /// server.run_until_signal()?; // returns after Ctrl-C, once drained
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Errors
    /// If the signal handler cannot be installed; otherwise as `run`.
    pub fn run_until_signal(self) -> io::Result<()> {
        let handle = self.shutdown_handle();
        let _watch = crate::signal::watch(Box::new(move || handle.shutdown()))?;
        self.run()
    }

    /// Serves until shut down, then returns once every connection has
    /// closed. The shutdown ([`ShutdownHandle::shutdown`]) stops the
    /// accepts, closes the connections idle between requests, lets busy
    /// ones finish their request (answered with `Connection: close`), and
    /// closes those still open at the end of the grace period
    /// ([`Timeouts::grace`]).
    ///
    /// # Errors
    /// Reserved for failures of the server itself; a failing connection
    /// never ends it.
    pub fn run(self) -> io::Result<()> {
        let Server {
            runtime,
            listening,
            run_woken,
        } = self;
        let shared = &listening.shared;
        for listener in &listening.listeners {
            for worker in 0..runtime.workers() {
                let errors = &listening.accept_errors;
                drop(start_acceptor(&runtime, listener, worker, shared, errors));
            }
        }
        {
            let shared = Arc::clone(shared);
            drop(runtime.spawn(move || sweep_idle(&shared)));
        }
        // Here, not in a coroutine: see the module docs. The acceptors
        // and the sweeper end on their own once they see the flag.
        let _ = run_woken.recv();
        drain(shared);
        if !runtime.shutdown_timeout(FORCED_CLOSE_WAIT) {
            log::warn!("a handler is still running after the grace period; leaving it");
        }
        Ok(())
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

/// Steps 2–4 of the shutdown, but for stopping the runtime.
fn drain(shared: &Shared) {
    let grace_end = Instant::now() + shared.config.timeouts.grace;
    while shared.conns.len() > 0 && Instant::now() < grace_end {
        shared.conns.each(|e| {
            e.close_if_idle();
            e.notify_upgraded();
        });
        coro::sleep(SHUTDOWN_POLL);
    }
    if shared.conns.len() == 0 {
        return;
    }
    log::warn!(
        "{} connections still open after the grace period ({} of them upgraded); closing them",
        shared.conns.len(),
        shared.conns.upgraded()
    );
    shared.conns.shut_all();
    let forced_end = Instant::now() + FORCED_CLOSE_WAIT;
    while shared.conns.len() > 0 && Instant::now() < forced_end {
        coro::sleep(SHUTDOWN_POLL);
    }
}

/// Stops a running server: see [`Server::run`].
#[derive(Clone)]
pub struct ShutdownHandle {
    listening: Arc<Listening>,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle")
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

impl ShutdownHandle {
    /// Starts the shutdown: no new connections, idle ones closed, busy
    /// ones closed after their request, all closed after the grace period.
    /// Returns at once; [`Server::run`] returns when it is done.
    pub fn shutdown(&self) {
        let listening = &*self.listening;
        if !listening.shared.conns.start_closing() {
            return;
        }
        for l in &listening.listeners {
            // Shutting a listening socket's read side wakes its acceptor.
            let _ = socket2::SockRef::from(&*l.socket).shutdown(Shutdown::Read);
        }
        // And a place under the connection cap, each acceptor parked there.
        listening
            .shared
            .conns
            .release_acceptors(listening.listeners.len() * listening.workers);
        let _ = listening.wake_run.try_send(());
    }

    /// Whether shutdown has started.
    pub fn is_shutting_down(&self) -> bool {
        self.listening.shared.is_shutting_down()
    }
}

/// Serves connections that the program accepted itself (from a Unix
/// socket, through its own TLS acceptor, from a test's in-memory pipe)
/// with the server's router, limits and timeouts, as hyper's
/// `serve_connection` does: see [`Server::connection_handle`].
#[derive(Clone)]
pub struct ConnectionHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionHandle").finish_non_exhaustive()
    }
}

impl ConnectionHandle {
    /// Serves `stream` in the calling coroutine (or thread) until the
    /// connection closes; `peer` is what handlers see as
    /// [`Request::remote_addr`](crate::Request::remote_addr).
    ///
    /// The shutdown ends the connection as any of the server's, through
    /// the transport's [`Closer`](crate::Closer) (see
    /// [`Transport::closer`]), and [`Server::run`] waits for it. Once the
    /// shutdown has started, `stream` is dropped unserved.
    /// [`Builder::max_connections`] caps only the server's own listeners:
    /// how many connections the caller hands over is the caller's to
    /// bound.
    ///
    /// Between requests such a connection waits in the calling coroutine,
    /// never without one as the server's own TCP connections may (see
    /// [`IdleWait`]).
    ///
    /// ```no_run
    /// # let server = coro_http::Server::builder().bind("127.0.0.1:0").build(coro_http::Router::new())?;
    /// let handle = server.connection_handle();
    /// let listener = coro_net::UnixListener::bind("/tmp/app.sock")?;
    /// std::thread::spawn(move || {
    ///     for stream in listener.incoming().flatten() {
    ///         let handle = handle.clone();
    ///         coro::spawn(move || handle.serve(stream, None));
    ///     }
    /// });
    /// server.run()?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn serve(&self, stream: impl Transport, peer: Option<SocketAddr>) {
        if self.shared.is_shutting_down() {
            return;
        }
        let link = crate::link::Link::Boxed(Box::new(stream));
        crate::conn::serve_link(link, peer, Arc::clone(&self.shared), false);
    }
}
