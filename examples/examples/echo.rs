//! A TCP echo server, one coroutine per connection.
//!
//! `cargo run --release -p examples --example echo -- --port 7000 --workers N`
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections.

use std::io::{Read, Write};
use std::time::Duration;

/// The pause after a failed accept (out of descriptors, say), so that the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// A TCP echo server, one coroutine per connection.
#[derive(Debug, clap::Parser)]
struct Args {
    #[command(flatten)]
    server: examples::ServerArgs,
}

fn main() {
    let args: Args = examples::parse_args(7000);
    examples::init_logger();
    let examples::ServerArgs {
        host,
        port,
        workers,
        reuse_port,
    } = args.server;
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .build()
        .expect("runtime starts");
    rt.block_on(|| {
        let options = coro_net::ListenOptions {
            reuse_port,
            ..coro_net::ListenOptions::default()
        };
        let listener = match coro_net::TcpListener::bind_with((host.as_str(), port), options) {
            Ok(l) => l,
            Err(e) => {
                log::error!("cannot listen on {host}:{port}: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "listening on {}",
            listener.local_addr().expect("local address")
        );
        for stream in listener.incoming() {
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    log::warn!("accept: {e}");
                    coro::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            coro::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}
