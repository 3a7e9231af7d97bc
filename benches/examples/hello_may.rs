//! may_minihttp counterpart of `examples/examples/hello.rs` for
//! `benches/http.sh` (`SERVERS="coro hyper bare may"`): another runtime of
//! stackful coroutines with an HTTP/1.1 server, the one TechEmpower lists.
//!
//! may_minihttp 0.1 on may 0.3 with its defaults (work stealing, 10 ms
//! poll timeout), except that may's workers are not pinned to cores
//! (`set_worker_pin(false)`): `http.sh` pins the 1-worker server with
//! `taskset` and leaves the 2-worker one free, as it does the others.
//! One coroutine per connection; may_minihttp writes the answers to all
//! the requests one read brought in one `write`, and leaves Nagle on.
//!
//! * `GET /plaintext`: `Hello, World!` as `text/plain; charset=utf-8`.
//! * `GET /fib/{n}`: the naive recursive Fibonacci number `n` (at most
//!   92) as decimal text; 400 otherwise.
//! * anything else: 404.
//!
//! The plaintext answer carries the header lines coro's does (`Server`,
//! `Date`, `Content-Type`, `Content-Length`) and the same body, but
//! may_minihttp writes its status line and `Server` value itself:
//!
//! ```text
//! coro: HTTP/1.1 200 OK / Server: coro / Date / Content-Type / Content-Length: 13   (144 bytes)
//! may:  HTTP/1.1 200 Ok / Server: M / Date / Content-Length: 13 / Content-Type      (141 bytes)
//! ```
//!
//! `cargo run --release -p benches --example hello_may -- --port 8080 --workers N`
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections. With
//! `--port 0` it takes a port the kernel has just handed out and released
//! (may_minihttp binds its own listener and does not tell its address).

use std::io::{self, Write};
use std::net::TcpListener;

use may_minihttp::{HttpService, HttpServiceFactory, Request, Response};

/// The largest `n` whose Fibonacci number fits a `u64`.
const MAX_FIB: u64 = 92;
/// The content type of every text answer, as coro sends it.
const TEXT: &str = "Content-Type: text/plain; charset=utf-8";

/// The naive recursive Fibonacci number `n`: CPU work per request.
fn fib(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

/// The service of one connection.
#[derive(Clone, Copy)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        if req.method() != "GET" {
            rsp.status_code(404, "Not Found");
            return Ok(());
        }
        let path = req.path();
        if path == "/plaintext" {
            rsp.header(TEXT).body("Hello, World!");
        } else if let Some(n) = path.strip_prefix("/fib/") {
            match n.parse::<u64>() {
                Ok(n) if n <= MAX_FIB => {
                    let body = fib(std::hint::black_box(n)).to_string();
                    rsp.header(TEXT).body_vec(body.into_bytes());
                }
                _ => {
                    rsp.status_code(400, "Bad Request")
                        .header(TEXT)
                        .body("n must be a number from 0 to 92\n");
                }
            }
        } else {
            rsp.status_code(404, "Not Found");
        }
        Ok(())
    }
}

/// Makes a [`Hello`] per connection.
struct HelloFactory;

impl HttpServiceFactory for HelloFactory {
    type Service = Hello;

    fn new_service(&self, _: usize) -> Hello {
        Hello
    }
}

/// `port`, or a free one when it is 0.
fn free_port(port: u16) -> io::Result<u16> {
    if port != 0 {
        return Ok(port);
    }
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

fn main() -> io::Result<()> {
    let examples::ServerArgs { port, workers, .. } = examples::ServerArgs::parse(8080);
    may::config().set_workers(workers.max(1));
    may::config().set_worker_pin(false);
    // A free port may be taken again before may_minihttp binds it: retry.
    let mut tries = 0;
    let (server, port) = loop {
        let chosen = free_port(port)?;
        match HelloFactory.start(("127.0.0.1", chosen)) {
            Ok(server) => break (server, chosen),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && port == 0 && tries < 10 => tries += 1,
            Err(e) => return Err(e),
        }
    };
    let mut stdout = io::stdout();
    writeln!(stdout, "listening on 127.0.0.1:{port}")?;
    stdout.flush()?;
    server.wait();
    Ok(())
}
