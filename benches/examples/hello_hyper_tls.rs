//! hyper over tokio-rustls: the comparison point for `benches/tls.sh`, the
//! TLS counterpart of `hello_hyper.rs`.
//!
//! hyper 1.x, HTTP/1.1 only, keep-alive, one tokio task per connection
//! (its handshake first, through `tokio_rustls::TlsAcceptor`),
//! `TCP_NODELAY` on every accepted socket, `pipeline_flush(true)`. One
//! worker runs a `current_thread` runtime, more a `multi_thread` one.
//!
//! The TLS config is made as the coro hello server makes its own
//! (`examples::TlsArgs`, so the same certificate type and rustls defaults:
//! ring, TLS 1.3 preferred), with ALPN `http/1.1` as coro-http sets it. It
//! takes the same `--tls-cert`/`--tls-key` or `--self-signed` options, and
//! defaults to `--self-signed`.
//!
//! * `GET /plaintext`: `Hello, World!` as `text/plain`, with `Server: hyper`;
//! * anything else: 404.
//!
//! `cargo run --release -p benches --example hello_hyper_tls -- --port 8443 --workers N --self-signed`
//!
//! Prints `listening on 127.0.0.1:PORT (TLS)` once it accepts connections.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

/// The options: the server's, and the TLS ones of the coro hello server.
#[derive(Debug, clap::Parser)]
struct Args {
    #[command(flatten)]
    server: examples::ServerArgs,
    #[command(flatten)]
    tls: examples::TlsArgs,
}

/// Answers `GET /plaintext`; 404 for anything else.
async fn handle(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let found = request.method() == Method::GET && request.uri().path() == "/plaintext";
    let (status, body) = if found {
        (StatusCode::OK, Bytes::from_static(b"Hello, World!"))
    } else {
        (StatusCode::NOT_FOUND, Bytes::new())
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

/// Binds `127.0.0.1:port`, announces it, and serves every connection.
async fn serve(port: u16, config: rustls::ServerConfig) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind");
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "listening on {} (TLS)",
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
        let acceptor = acceptor.clone();
        let http = http.clone();
        tokio::spawn(async move {
            // A failed handshake, or a client that goes away mid-request,
            // is no news under load.
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = http
                .serve_connection(TokioIo::new(tls), service_fn(handle))
                .await;
        });
    }
}

fn main() -> std::process::ExitCode {
    let mut args: Args = examples::parse_args(8443);
    if args.tls.tls_cert.is_none() {
        args.tls.self_signed = true;
    }
    let mut config = match args.tls.server_config() {
        Ok(Some(config)) => config,
        Ok(None) => unreachable!("self-signed unless a certificate is given"),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let workers = args.server.workers;
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
    rt.block_on(serve(args.server.port, config));
    std::process::ExitCode::SUCCESS
}
