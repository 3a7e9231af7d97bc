//! A load generator for the echo servers (`examples/examples/echo.rs` and
//! `echo_tokio.rs`), written with OS threads and blocking `std::net` sockets
//! so that it measures both the same way.
//!
//! `cargo run --release -p benches --example echo_client -- --port P
//! [--conns C=64] [--threads T=1] [--seconds S=3] [--size B=64]`
//!
//! Opens `C` connections to `127.0.0.1:P` and shares them out over `T`
//! threads. Each thread, round after round, writes `B` bytes to each of its
//! connections, then reads `B` bytes back from each and checks them, so up
//! to `C` messages are in flight at once. After `S` seconds it prints
//! `echo_client conns=C msgs_per_s=NNN` (completed round trips a second).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let mut port = 7000u16;
    let mut conns = 64usize;
    let mut threads = 1usize;
    let mut seconds = 3.0f64;
    let mut size = 64usize;
    for (flag, value) in examples::flags() {
        match flag.as_str() {
            "--port" => port = value.parse().expect("--port is a number"),
            "--conns" => conns = value.parse().expect("--conns is a number"),
            "--threads" => threads = value.parse().expect("--threads is a number"),
            "--seconds" => seconds = value.parse().expect("--seconds is a number"),
            "--size" => size = value.parse().expect("--size is a number"),
            other => panic!(
                "unknown option {other}; use --port, --conns, --threads, --seconds and --size"
            ),
        }
    }
    assert!(
        conns > 0 && threads > 0 && size > 0,
        "C, T and B must be positive"
    );
    let threads = threads.min(conns);

    let mut groups: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for i in 0..conns {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("connection {i} to 127.0.0.1:{port}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        groups[i % threads].push(stream);
    }

    let duration = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = groups
        .into_iter()
        .map(|mut streams| {
            std::thread::spawn(move || {
                let mut out = vec![0u8; size];
                let mut back = vec![0u8; size];
                let mut done = 0u64;
                let mut round = 0u64;
                while Instant::now() < deadline {
                    for (c, stream) in streams.iter_mut().enumerate() {
                        fill(&mut out, round, c);
                        stream.write_all(&out).expect("write to the server");
                    }
                    for (c, stream) in streams.iter_mut().enumerate() {
                        stream.read_exact(&mut back).expect("read from the server");
                        fill(&mut out, round, c);
                        assert!(back == out, "connection {c} echoed other bytes");
                        done += 1;
                    }
                    round += 1;
                }
                done
            })
        })
        .collect();
    let total: u64 = handles
        .into_iter()
        .map(|h| h.join().expect("a client thread cannot fail"))
        .sum();
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "echo_client conns={conns} msgs_per_s={:.0}",
        total as f64 / elapsed
    );
}

/// Fills `buf` with a pattern that differs between rounds and connections.
fn fill(buf: &mut [u8], round: u64, conn: usize) {
    let seed = round.wrapping_mul(31).wrapping_add(conn as u64);
    for (i, b) in buf.iter_mut().enumerate() {
        *b = seed.wrapping_add(i as u64) as u8;
    }
}
