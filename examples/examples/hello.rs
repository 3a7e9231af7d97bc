//! The HTTP hello server: the project's main example and benchmark target.
//!
//! `cargo run --release -p examples --example hello -- --port 8080 --workers N`
//! (`--help` for the options; `RUST_LOG=info` for more of the log)
//!
//! * `GET /plaintext`: `Hello, World!` as text/plain;
//! * `GET /json`: `{"message":"Hello, World!"}`, serialized per request;
//! * `GET /fib/{n}`: the naive recursive Fibonacci of `n` (at most 92), a
//!   CPU-bound page.
//!
//! HTTPS instead of HTTP on the port with `--tls-cert cert.pem --tls-key
//! key.pem`, or `--self-signed` (a certificate for localhost made at
//! start); see `examples::TlsArgs`.
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections (with
//! ` (TLS)` after it for HTTPS); stops gracefully on SIGINT or SIGTERM.

use coro_http::{Request, Response, Router, StatusCode};

/// The largest `n` whose Fibonacci number fits a `u64`.
const MAX_FIB: u64 = 92;

#[derive(serde::Serialize)]
struct Message {
    message: &'static str,
}

fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

/// The HTTP hello server: GET /plaintext, /json and /fib/N.
#[derive(Debug, clap::Parser)]
struct Args {
    #[command(flatten)]
    server: examples::ServerArgs,
    #[command(flatten)]
    tls: examples::TlsArgs,
}

fn main() -> std::process::ExitCode {
    let args: Args = examples::parse_args(8080);
    examples::init_logger();
    let tls = match args.tls.server_config() {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };

    let mut router = Router::new();
    router
        .get("/plaintext", |_: &mut Request<'_>| {
            Response::text("Hello, World!")
        })
        .get("/json", |_: &mut Request<'_>| {
            Response::json(&Message {
                message: "Hello, World!",
            })
        })
        .get("/fib/{n}", |req: &mut Request<'_>| {
            match req.param("n").and_then(|n| n.parse::<u64>().ok()) {
                Some(n) if n <= MAX_FIB => Response::text(fib(std::hint::black_box(n)).to_string()),
                _ => Response::text(format!("n must be a number from 0 to {MAX_FIB}\n"))
                    .status(StatusCode::BAD_REQUEST),
            }
        });

    examples::serve_maybe_tls(router, &args.server, tls)
}
