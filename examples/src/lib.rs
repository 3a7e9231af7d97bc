//! Shared helpers for the example programs in `examples/`.

mod tls;

pub use tls::TlsArgs;

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

/// The command line's `--flag value` pairs, in order (for the bench
/// clients, which take free-form options).
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

/// The `--host`, `--port` and `--workers` options of the server examples;
/// flatten it into an example's own `clap::Parser`
/// (`#[command(flatten)]`) and parse that with [`parse_args`].
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Worker threads [default: one per core].
    #[arg(long, default_value_t = cores(), hide_default_value = true, value_parser = positive)]
    pub workers: usize,
    /// Set SO_REUSEPORT, so that several processes can listen on the port.
    #[arg(long)]
    pub reuse_port: bool,
}

/// The command line of an example that takes only [`ServerArgs`].
#[derive(Debug, clap::Parser)]
struct ServerOnly {
    #[command(flatten)]
    server: ServerArgs,
}

impl ServerArgs {
    /// Parses a command line of only these options, with `port` as the
    /// default port: usage on `--help`, and a message and exit code 2 on a
    /// bad one.
    pub fn parse(port: u16) -> ServerArgs {
        parse_args::<ServerOnly>(port).server
    }
}

/// A count of at least 1 (workers), for `#[arg(value_parser = positive)]`.
///
/// # Errors
/// If `s` is not a number of at least 1.
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Parses the command line into `A`, whose flattened [`ServerArgs`] get
/// `port` as the default port. On `--help` it prints the usage and exits
/// 0; on a bad option it prints what is wrong and the usage, and exits 2.
pub fn parse_args<A: clap::Parser>(port: u16) -> A {
    try_parse_args_from(port, std::env::args_os()).unwrap_or_else(|e| e.exit())
}

/// As [`parse_args`], from `args` (the program name first), with the error
/// instead of the exit: [`clap::Error::exit_code`] says 0 for `--help` and
/// 2 for a bad command line.
///
/// # Errors
/// A bad command line, or `--help` (clap's usage text as the error).
pub fn try_parse_args_from<A, I, T>(port: u16, args: I) -> Result<A, clap::Error>
where
    A: clap::Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let command = A::command().mut_arg("port", |a| a.default_value(port.to_string()));
    let matches = command.try_get_matches_from(args)?;
    A::from_arg_matches(&matches)
}

/// What the examples log without `RUST_LOG`: warnings and errors, but only
/// errors from rustls, which warns about its clients' quirks once per
/// connection (wrk and curl send an IP address as the server name, which
/// the TLS spec forbids): under load that is a formatted line and a
/// `write` per connection, for nothing the server can change.
const DEFAULT_LOG_FILTER: &str = "warn,rustls=error";

/// Installs the examples' logger (`env_logger`, to stderr): by default
/// warnings and errors, but only errors from rustls; or what `RUST_LOG` says
/// (`RUST_LOG=info`, `RUST_LOG=coro_http=debug`, see the `env_logger`
/// docs).
pub fn init_logger() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(DEFAULT_LOG_FILTER))
        .init();
}

/// Serves `router` at the host, port and workers of `args`: prints
/// `listening on ADDRESS` once it accepts connections, and stops
/// gracefully on SIGINT or SIGTERM ([`coro_http::Server::run_until_signal`]).
///
/// Exits with status 1 and the error on stderr if the server cannot bind
/// or start.
pub fn serve(router: coro_http::Router, args: &ServerArgs) -> std::process::ExitCode {
    serve_maybe_tls(router, args, None)
}

/// As [`serve`], but HTTPS with `tls` on the port if given (printing
/// `listening on ADDRESS (TLS)`).
pub fn serve_maybe_tls(
    router: coro_http::Router,
    args: &ServerArgs,
    tls: Option<rustls::ServerConfig>,
) -> std::process::ExitCode {
    let builder = coro_http::Server::builder()
        .workers(args.workers)
        .reuse_port(args.reuse_port);
    let addr = (args.host.as_str(), args.port);
    let (builder, suffix) = match tls {
        Some(config) => (builder.bind_tls(addr, config), " (TLS)"),
        None => (builder.bind(addr), ""),
    };
    let served = builder.build(router).and_then(|server| {
        println!("listening on {}{suffix}", server.local_addrs()[0]);
        server.run_until_signal()
    });
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerOnly, clap::Error> {
        try_parse_args_from(8080, std::iter::once("hello").chain(args.iter().copied()))
    }

    #[test]
    fn the_server_options_parse_with_their_defaults() {
        let args = parse(&[]).unwrap().server;
        assert_eq!((args.host.as_str(), args.port), ("127.0.0.1", 8080));
        assert_eq!(args.workers, cores());
        assert!(!args.reuse_port);
        let args = parse(&[
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--workers",
            "3",
            "--reuse-port",
        ])
        .unwrap()
        .server;
        assert_eq!(
            (args.host.as_str(), args.port, args.workers),
            ("0.0.0.0", 0, 3)
        );
        assert!(args.reuse_port);
    }

    #[test]
    fn help_shows_the_usage_and_exits_0() {
        let help = parse(&["--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
        let text = help.to_string();
        for option in ["--host", "--port", "--workers", "[default: 8080]"] {
            assert!(text.contains(option), "no {option} in:\n{text}");
        }
    }

    #[test]
    fn a_bad_value_names_it_and_exits_2() {
        for (args, needle) in [
            (
                &["--port", "80x"][..],
                "invalid value '80x' for '--port <PORT>'",
            ),
            (&["--port", "70000"][..], "--port"),
            (&["--workers", "0"][..], "must be at least 1"),
            (&["--colour"][..], "unexpected argument '--colour'"),
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains(needle), "{args:?}: {err}");
        }
    }
}
