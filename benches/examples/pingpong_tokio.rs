//! tokio counterpart of `examples/examples/pingpong.rs`: two tasks exchange
//! a value over two `tokio::sync::mpsc` channels of capacity 1 (tokio has no
//! rendezvous channel).
//!
//! `cargo run --release -p benches --example pingpong_tokio -- [ROUNDS=1000000] [WORKERS=2]`
//!
//! Prints one line:
//! `pingpong_tokio rounds=1000000 workers=2 cap=1 total_s=0.xxx ns_per_rt=NNN.N`

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: u64 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("ROUNDS is a number"));
    let workers: usize = args
        .next()
        .map_or(2, |a| a.parse().expect("WORKERS is a number"));
    let rt = benches::tokio_runtime(workers);
    let total_s = rt.block_on(async move {
        tokio::spawn(async move {
            let (ping_tx, mut ping_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let (pong_tx, mut pong_rx) = tokio::sync::mpsc::channel::<u64>(1);
            let echo = tokio::spawn(async move {
                while let Some(v) = ping_rx.recv().await {
                    pong_tx
                        .send(v + 1)
                        .await
                        .expect("the pinger waits for the reply");
                }
            });
            let start = Instant::now();
            let mut v = 0;
            for _ in 0..rounds {
                ping_tx.send(v).await.expect("the echo task runs");
                v = pong_rx.recv().await.expect("the echo task replies");
            }
            let elapsed = start.elapsed().as_secs_f64();
            assert_eq!(v, rounds);
            drop(ping_tx);
            echo.await.expect("the echo task ends cleanly");
            elapsed
        })
        .await
        .expect("the pinger task ends cleanly")
    });
    println!(
        "pingpong_tokio rounds={rounds} workers={workers} cap=1 total_s={total_s:.3} ns_per_rt={:.1}",
        total_s * 1e9 / rounds as f64
    );
}
