//! tokio counterpart of `examples/examples/echo.rs`: a TCP echo server, one
//! task per connection, a 16 KiB buffer, read then `write_all`.
//!
//! `cargo run --release -p benches --example echo_tokio -- --port 7000 --workers N`
//!
//! Prints `listening on 127.0.0.1:PORT` once it accepts connections.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let examples::ServerArgs { port, workers, .. } = examples::ServerArgs::parse(7000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .build()
        .expect("tokio runtime starts");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        println!(
            "listening on {}",
            listener.local_addr().expect("local address")
        );
        loop {
            let mut stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    eprintln!("accept: {e}");
                    continue;
                }
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}
