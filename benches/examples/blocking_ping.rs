//! The blocking-ping figure (issue 11): the latency of pings against a
//! coro-http server while one handler sleeps 1 s per request with
//! `std::thread::sleep`, with and without `coro::spawn_blocking`, and with
//! no blocking handler at all.
//!
//! ```text
//! cargo run --release -p benches --example blocking_ping -- [--workers 2] [--secs 3] [--pingers 8]
//! ```
//!
//! Each of `--pingers` clients has a keep-alive connection, made before the
//! blocking handler starts (a worker stuck in it accepts nothing), and pings
//! every 2 ms on a fixed schedule; a ping's latency counts from when it was
//! due, so pings that could not be sent while one was stuck count as late
//! (no coordinated omission). One more client calls the sleeping handler in
//! a loop. Prints one line per scenario: `mode=none|pool|blocking
//! p50_us=.. p99_us=.. max_us=.. pings=..`. `benches/blocking.sh` runs it
//! several times and takes medians.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use coro_http::{Request, Response, Router, Server};

/// How long the blocking handler sleeps per request.
const SLEEP: Duration = Duration::from_secs(1);
/// The interval between two pings of one client.
const PING_GAP: Duration = Duration::from_millis(2);

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// Sends one GET and reads the whole answer (whose body ends with `end`).
fn get(stream: &mut TcpStream, path: &str, end: &[u8]) {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n").unwrap();
    let mut got = Vec::with_capacity(256);
    let mut buf = [0u8; 512];
    while !got.ends_with(end) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "server closed");
        got.extend_from_slice(&buf[..n]);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_micros()
}

fn scenario(mode: &str, addr: SocketAddr, secs: u64, pingers: u64) {
    let stop = Arc::new(AtomicBool::new(false));
    // The ping connections are made (and answered once) before the
    // blocking handler starts: a worker stuck in it accepts nothing, so
    // connections made later would all land on the free workers.
    let ready = Arc::new(Barrier::new(pingers as usize + 1));
    let pingers: Vec<_> = (0..pingers)
        .map(|_| {
            let ready = ready.clone();
            thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_nodelay(true).unwrap();
                get(&mut s, "/ping", b"pong");
                ready.wait();
                ready.wait();
                // On a fixed schedule, each latency counted from when the
                // ping was due (as wrk2 does): a ping stuck for a second
                // delays the ones due meanwhile, and they count too.
                let mut lat = Vec::new();
                let start = Instant::now();
                let deadline = start + Duration::from_secs(secs);
                let mut due = start;
                while due < deadline {
                    if let Some(ahead) = due.checked_duration_since(Instant::now()) {
                        thread::sleep(ahead);
                    }
                    get(&mut s, "/ping", b"pong");
                    lat.push(due.elapsed());
                    due += PING_GAP;
                }
                lat
            })
        })
        .collect();
    ready.wait();
    let sleeper = (mode != "none").then(|| {
        let stop = stop.clone();
        let path = if mode == "pool" {
            "/sleep-pool"
        } else {
            "/sleep"
        };
        thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            while !stop.load(Ordering::Relaxed) {
                get(&mut s, path, b"slept");
            }
        })
    });
    // Let the first sleep start.
    thread::sleep(Duration::from_millis(50));
    ready.wait();
    thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let per: Vec<Vec<Duration>> = pingers.into_iter().map(|p| p.join().unwrap()).collect();
    if std::env::var_os("PING_DEBUG").is_some() {
        let counts: Vec<usize> = per.iter().map(Vec::len).collect();
        eprintln!("mode={mode} pings per connection: {counts:?}");
    }
    let mut all: Vec<Duration> = per.into_iter().flatten().collect();
    if let Some(s) = sleeper {
        s.join().unwrap();
    }
    all.sort();
    println!(
        "mode={mode} p50_us={} p99_us={} max_us={} pings={}",
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        all.last().unwrap().as_micros(),
        all.len()
    );
}

fn main() -> std::io::Result<()> {
    let workers = arg("--workers", 2) as usize;
    let secs = arg("--secs", 3);
    let pingers = arg("--pingers", 8);
    let mut router = Router::new();
    router.get("/ping", |_: &mut Request<'_>| Response::text("pong"));
    router.get("/sleep", |_: &mut Request<'_>| {
        thread::sleep(SLEEP);
        Response::text("slept")
    });
    router.get("/sleep-pool", |_: &mut Request<'_>| {
        coro::spawn_blocking(|| thread::sleep(SLEEP))
            .join()
            .unwrap();
        Response::text("slept")
    });
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .workers(workers)
        .build(router)?;
    let addr = server.local_addrs()[0];
    let stop = server.shutdown_handle();
    let running = thread::spawn(move || server.run());
    let modes = std::env::var("PING_MODES").unwrap_or_else(|_| "none,pool,blocking".into());
    for mode in modes.split(',') {
        scenario(mode, addr, secs, pingers);
    }
    stop.shutdown();
    running.join().unwrap()
}
