//! hyper counterpart of `examples/examples/hello.rs`: the comparison point
//! for `benches/http.sh`.
//!
//! hyper 1.x, HTTP/1.1 only, keep-alive, one tokio task per connection,
//! `TCP_NODELAY` on every accepted socket, and `pipeline_flush(true)` (as
//! TechEmpower's hyper entry sets it: answers to pipelined requests are
//! written together once the read buffer is drained, not one by one).
//! One worker runs a `current_thread` runtime, more a `multi_thread` one.
//!
//! * `GET /plaintext`: `Hello, World!` as `text/plain`.
//! * `GET /json`: `{"message":"Hello, World!"}`, serialized per request.
//! * `GET /fib/{n}`: the naive recursive Fibonacci number `n` (at most
//!   92, the largest that fits a `u64`) as decimal text; 400 otherwise.
//! * anything else: 404.
//!
//! Every response carries `Server: hyper`; hyper adds `Date`.
//!
//! `cargo run --release -p benches --example hello_hyper -- --port 8080 --workers N`
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections (port
//! 0 picks a free one).

use std::convert::Infallible;
use std::io::Write;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;

/// The largest `n` whose Fibonacci number fits a `u64`.
const MAX_FIB: u64 = 92;

/// The body of `GET /json`.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

/// The naive recursive Fibonacci number `n`: CPU work per request.
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

/// A response with `status`, `body` of `content_type`, and `Server: hyper`.
fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Routes one request; never fails (errors are status codes).
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    const TEXT: &str = "text/plain";
    if request.method() != Method::GET {
        return Ok(respond(StatusCode::NOT_FOUND, TEXT, Bytes::new()));
    }
    let path = request.uri().path();
    let response = if path == "/plaintext" {
        respond(StatusCode::OK, TEXT, Bytes::from_static(b"Hello, World!"))
    } else if path == "/json" {
        let body = serde_json::to_vec(&Message {
            message: "Hello, World!",
        })
        .expect("a Message serializes");
        respond(StatusCode::OK, "application/json", Bytes::from(body))
    } else if let Some(n) = path.strip_prefix("/fib/") {
        match n.parse::<u64>() {
            Ok(n) if n <= MAX_FIB => {
                let body = fib(std::hint::black_box(n)).to_string();
                respond(StatusCode::OK, TEXT, Bytes::from(body))
            }
            _ => respond(
                StatusCode::BAD_REQUEST,
                TEXT,
                Bytes::from_static(b"n must be a number from 0 to 92"),
            ),
        }
    } else {
        respond(StatusCode::NOT_FOUND, TEXT, Bytes::new())
    };
    Ok(response)
}

/// Binds `127.0.0.1:port`, announces it, and serves every connection.
async fn serve(port: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "listening on {}",
        listener.local_addr().expect("local address")
    )
    .and_then(|()| stdout.flush())
    .expect("stdout");
    let mut http = http1::Builder::new();
    http.keep_alive(true).pipeline_flush(true);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("TCP_NODELAY: {e}");
        }
        let connection = http.serve_connection(TokioIo::new(stream), service_fn(handle));
        tokio::spawn(async move {
            // A client that goes away mid-request is no news under load.
            let _ = connection.await;
        });
    }
}

fn main() {
    let examples::ServerArgs { port, workers, .. } = examples::ServerArgs::parse(8080);
    let rt = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_io()
            .build()
    }
    .expect("tokio runtime starts");
    rt.block_on(serve(port));
}
