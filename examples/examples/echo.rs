//! A TCP echo server, one coroutine per connection.
//!
//! `cargo run --release -p examples --example echo -- --port 7000 --workers N`
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections.

use std::io::{Read, Write};

fn main() {
    let examples::ServerArgs { port, workers } = examples::ServerArgs::parse(7000);
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .build()
        .expect("runtime starts");
    rt.block_on(|| {
        let listener = coro_net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        println!(
            "listening on {}",
            listener.local_addr().expect("local address")
        );
        for stream in listener.incoming() {
            let mut stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("accept: {e}");
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
