//! A streamed (chunked) response fed from a channel: a producer coroutine
//! sends a line every 100 ms, and the response writes each one as it
//! arrives.
//!
//! `cargo run --release -p examples --example stream -- --port 8082`, then
//! `curl -N 'localhost:8082/ticks?count=5'`.

use std::io::Write;
use std::time::Duration;

use coro_http::{Request, Response, Router};

/// Ticks sent when the query gives no `count`.
const DEFAULT_COUNT: u32 = 10;

/// The most ticks one request may ask for.
const MAX_COUNT: u32 = 1000;

fn ticks(req: &mut Request<'_>) -> Response {
    let count = req
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("count=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_COUNT)
        .min(MAX_COUNT);
    let (tx, rx) = coro::chan::bounded::<String>(1);
    coro::spawn(move || {
        for i in 1..=count {
            coro::sleep(Duration::from_millis(100));
            if tx.send(format!("tick {i} of {count}\n")).is_err() {
                return; // the client went away
            }
        }
    });
    Response::stream(move |out: &mut dyn Write| {
        for line in rx.iter() {
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    })
    .content_type(coro_http::HeaderValue::from_static(
        "text/plain; charset=utf-8",
    ))
}

/// A streamed response fed from a channel: GET /ticks?count=N.
#[derive(Debug, clap::Parser)]
struct Args {
    #[command(flatten)]
    server: examples::ServerArgs,
}

fn main() -> std::process::ExitCode {
    let args: Args = examples::parse_args(8082);
    examples::init_logger();
    let mut router = Router::new();
    router.get("/ticks", ticks);
    examples::serve(router, &args.server)
}
