//! Shared helpers for the example programs in `examples/`.

/// The process's peak resident set size in KiB (`VmHWM`), or 0 if unknown.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

/// The process's current resident set size in KiB (`VmRSS`), or 0 if unknown.
pub fn rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Positional argument `index` (0 is the first after the program name),
/// parsed, or `default` when absent.
///
/// # Panics
/// With a message naming the argument if it does not parse.
pub fn arg<T: std::str::FromStr>(index: usize, name: &str, default: T) -> T {
    match std::env::args().nth(index + 1) {
        Some(a) => a
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {a:?}")),
        None => default,
    }
}

/// The command line's `--flag value` pairs, in order.
///
/// # Panics
/// If the last flag has no value.
pub fn flags() -> impl Iterator<Item = (String, String)> {
    let mut args = std::env::args().skip(1);
    std::iter::from_fn(move || {
        let flag = args.next()?;
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        Some((flag, value))
    })
}

/// The `--port P --workers N` options of the server examples.
#[derive(Debug, Clone, Copy)]
pub struct ServerArgs {
    /// `--port`, 0 for any free port.
    pub port: u16,
    /// `--workers`, default one per core.
    pub workers: usize,
}

impl ServerArgs {
    /// Parses the command line, with `port` as the default port.
    ///
    /// # Panics
    /// With a usage message on an unknown option or a bad value.
    pub fn parse(port: u16) -> ServerArgs {
        let mut parsed = ServerArgs {
            port,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        for (flag, value) in flags() {
            match flag.as_str() {
                "--port" => parsed.port = value.parse().expect("--port is a number"),
                "--workers" => parsed.workers = value.parse().expect("--workers is a number"),
                other => panic!("unknown option {other}; use --port and --workers"),
            }
        }
        parsed
    }
}

/// SIGINT and SIGTERM, blocked in this thread (and so in every thread
/// started after it) until [`TerminationSignals::on_signal`] waits for
/// them on a thread of its own.
#[derive(Debug)]
pub struct TerminationSignals {
    set: libc::sigset_t,
}

impl TerminationSignals {
    /// Blocks the signals; call it before starting any thread.
    ///
    /// # Panics
    /// If the signal mask cannot be set.
    pub fn block() -> TerminationSignals {
        // SAFETY: a zeroed sigset_t is a valid argument to sigemptyset,
        // which initializes it; the calls only touch this local set and
        // the calling thread's mask.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            let r = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            assert_eq!(r, 0, "pthread_sigmask failed");
            TerminationSignals { set }
        }
    }

    /// Runs `f` on a new thread when the first of the signals arrives.
    pub fn on_signal(self, f: impl FnOnce() + Send + 'static) {
        let set = self.set;
        std::thread::spawn(move || {
            let mut signal = 0;
            // SAFETY: `set` is an initialized signal set, `signal` a valid
            // out-pointer.
            let r = unsafe { libc::sigwait(&set, &mut signal) };
            if r == 0 {
                eprintln!("signal {signal}: shutting down");
                f();
            }
        });
    }
}

/// Writes `log` records of level `warn` and above to stderr, one line each
/// (`LEVEL target: message`); `CORO_LOG=info` (or `debug`, `trace`, `error`,
/// `off`) sets another level. Does nothing if a logger is already set.
pub fn log_to_stderr() {
    static LOGGER: StderrLogger = StderrLogger;
    let level = std::env::var("CORO_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(log::LevelFilter::Warn);
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// The logger of [`log_to_stderr`].
#[derive(Debug)]
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Serves `router` on 127.0.0.1 at the port and with the workers of
/// `args`: prints `listening on ADDRESS` once it accepts connections, and
/// stops gracefully on SIGINT or SIGTERM (blocked by `signals`).
///
/// # Errors
/// If the server cannot bind or start.
pub fn serve(
    router: coro_http::Router,
    args: ServerArgs,
    signals: TerminationSignals,
) -> std::io::Result<()> {
    let server = coro_http::Server::builder()
        .bind(("127.0.0.1", args.port))
        .workers(args.workers)
        .build(router)?;
    let stop = server.shutdown_handle();
    signals.on_signal(move || stop.shutdown());
    println!("listening on {}", server.local_addrs()[0]);
    server.run()
}
