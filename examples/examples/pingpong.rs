//! Two coroutines exchange a message back and forth over two channels.
//!
//! `cargo run --release -p examples --example pingpong -- [ROUNDS=1000000] [WORKERS=2] [CAP=0]`
//!
//! Prints one line:
//! `pingpong rounds=1000000 workers=2 total_s=0.xxx ns_per_rt=NNN.N`
//! where a round trip is one message from the first coroutine to the second
//! and one back. `CAP` is the capacity of both channels (0: rendezvous, as
//! Go's unbuffered channels; 1: one buffered message).

use std::time::Instant;

use coro::chan::bounded;

/// Two coroutines exchange a message back and forth over two channels.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Round trips.
    #[arg(default_value_t = 1_000_000)]
    rounds: u64,
    /// Worker threads.
    #[arg(default_value_t = 2, value_parser = examples::positive)]
    workers: usize,
    /// Capacity of both channels (0: rendezvous).
    #[arg(default_value_t = 0)]
    cap: usize,
}

fn main() {
    let Args {
        rounds,
        workers,
        cap,
    } = clap::Parser::parse();
    let rt = coro::runtime::Builder::new()
        .workers(workers)
        .build()
        .expect("runtime starts");
    let total_s = rt.block_on(|| {
        let (ping_tx, ping_rx) = bounded::<u64>(cap);
        let (pong_tx, pong_rx) = bounded::<u64>(cap);
        let echo = coro::spawn(move || {
            for v in ping_rx.iter() {
                pong_tx.send(v + 1).expect("the pinger waits for the reply");
            }
        });
        let start = Instant::now();
        let mut v = 0;
        for _ in 0..rounds {
            ping_tx.send(v).expect("the echo coroutine runs");
            v = pong_rx.recv().expect("the echo coroutine replies");
        }
        let elapsed = start.elapsed().as_secs_f64();
        assert_eq!(v, rounds);
        drop(ping_tx);
        echo.join().expect("the echo coroutine ends cleanly");
        elapsed
    });
    println!(
        "pingpong rounds={rounds} workers={workers} total_s={total_s:.3} ns_per_rt={:.1}",
        total_s * 1e9 / rounds as f64
    );
}
