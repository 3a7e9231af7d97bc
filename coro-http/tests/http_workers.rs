//! Connections and workers: a worker stuck in one handler stops only the
//! connections it serves; new connections are accepted and served by the
//! workers that are running.
//!
//! The handler here blocks its worker's thread (a `std` channel receive,
//! not a coroutine wait) until the test lets it go, so the test does not
//! depend on how long anything takes: a new connection that landed on the
//! blocked worker would get no answer until then, and its read would time
//! out.

mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use coro_http::{IdleWait, Request, Response, Router, Timeouts};

use util::{get, serve, serve_with, test_timeouts};

/// New connections opened, one after the other, while one worker blocks.
const NEW_CONNECTIONS: usize = 12;

/// How long the test waits for the blocking handler to start.
const START_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_worker_blocked_in_a_handler_does_not_stop_new_connections() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let release_rx = Mutex::new(release_rx);
    let mut router = Router::new();
    router
        .get("/block", move |_: &mut Request<'_>| {
            entered_tx.lock().unwrap().send(()).unwrap();
            // Blocks the worker's OS thread, as a blocking library call would.
            let _ = release_rx.lock().unwrap().recv();
            "released"
        })
        .get("/ping", |_: &mut Request<'_>| Response::text("pong"));
    let server = serve(router); // two workers
    let mut blocked = server.connect();
    blocked.send(get("/block"));
    entered_rx
        .recv_timeout(START_LIMIT)
        .expect("the blocking handler did not start");
    for i in 0..NEW_CONNECTIONS {
        let mut client = server.connect();
        let response = client.request(get("/ping"));
        assert_eq!(response.text(), "pong", "new connection {i}");
    }
    release_tx.send(()).unwrap();
    assert_eq!(blocked.response().text(), "released");
}

/// Keep-alive connections that wait for their next request while a
/// handler spins, never suspending, on one of the two workers.
const IDLE_CONNECTIONS: usize = 8;
/// The most a spinning handler spins if never released (the test fails
/// long before).
const SPIN_LIMIT: Duration = Duration::from_secs(30);

/// A handler that computes without ever suspending holds its worker; the
/// keep-alive connections idle at that moment must still be served, by the
/// other worker, however their coroutines were placed: they wait without a
/// coroutine (`IdleWait::Detached`), and the free worker looks at the stuck
/// worker's sockets for it.
#[test]
fn idle_connections_are_served_by_another_worker_while_one_spins() {
    let entered = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let mut router = Router::new();
    {
        let (entered, release) = (Arc::clone(&entered), Arc::clone(&release));
        router.get("/spin", move |_: &mut Request<'_>| {
            entered.store(true, Ordering::SeqCst);
            let start = Instant::now();
            while !release.load(Ordering::SeqCst) && start.elapsed() < SPIN_LIMIT {
                std::hint::spin_loop();
            }
            "spun"
        });
    }
    router.get("/ping", |_: &mut Request<'_>| Response::text("pong"));
    let server = serve_with(router, |b| b.idle_wait(IdleWait::Detached));
    let mut idle: Vec<_> = (0..IDLE_CONNECTIONS).map(|_| server.connect()).collect();
    for client in &mut idle {
        assert_eq!(client.request(get("/ping")).text(), "pong");
    }
    let mut spinning = server.connect();
    spinning.send(get("/spin"));
    while !entered.load(Ordering::SeqCst) {
        std::thread::yield_now();
    }
    for (i, client) in idle.iter_mut().enumerate() {
        let response = client.request(get("/ping"));
        assert_eq!(response.text(), "pong", "idle connection {i}");
        assert!(!release.load(Ordering::SeqCst));
    }
    release.store(true, Ordering::SeqCst);
    assert_eq!(spinning.response().text(), "spun");
}

/// A connection that waits for its next request without a coroutine has
/// no read timeout running: the idle sweep closes it at its idle timeout.
#[test]
fn a_connection_waiting_without_a_coroutine_is_closed_at_its_idle_timeout() {
    let mut router = Router::new();
    router.get("/ping", |_: &mut Request<'_>| Response::text("pong"));
    let timeouts = Timeouts {
        idle: Duration::from_millis(300),
        ..test_timeouts()
    };
    let server = serve_with(router, |b| {
        b.idle_wait(IdleWait::Detached)
            .timeouts(timeouts)
            .workers(1)
    });
    let mut client = server.connect();
    assert_eq!(client.request(get("/ping")).text(), "pong");
    client.assert_closed();
}

/// Many requests on a few connections, each waiting without a coroutine
/// between requests, on one worker and on two: every answer arrives, in
/// order, pipelined or not.
#[test]
fn keep_alive_requests_are_answered_in_order_when_waiting_without_a_coroutine() {
    const CONNECTIONS: usize = 4;
    const REQUESTS: usize = 50;
    for workers in [1, 2] {
        let mut router = Router::new();
        router.get("/n/{n}", |req: &mut Request<'_>| {
            req.param("n").unwrap().to_string()
        });
        let server = serve_with(router, |b| b.idle_wait(IdleWait::Detached).workers(workers));
        let mut clients: Vec<_> = (0..CONNECTIONS).map(|_| server.connect()).collect();
        for i in 0..REQUESTS {
            for (c, client) in clients.iter_mut().enumerate() {
                let n = c * REQUESTS + i;
                if i % 5 == 0 {
                    // Two at once: the second is buffered behind the first.
                    client.send(format!("{}{}", get(&format!("/n/{n}")), get("/n/x")));
                    assert_eq!(client.response().text(), n.to_string());
                    assert_eq!(client.response().text(), "x");
                } else {
                    assert_eq!(
                        client.request(get(&format!("/n/{n}"))).text(),
                        n.to_string()
                    );
                }
            }
        }
    }
}

/// Longer than the second after which an idle connection lets its
/// coroutine go and releases its buffers.
const PAST_RELEASE: Duration = Duration::from_millis(1_300);

/// A connection idle long enough to give up its coroutine and buffers is
/// served as before when it comes back, pipelined requests included, under
/// the default `IdleWait`.
#[test]
fn a_connection_idle_past_the_release_is_served_as_before() {
    let mut router = Router::new();
    router.post("/echo", |req: &mut Request<'_>| {
        req.body_bytes().map(Response::bytes)
    });
    router.get("/ping", |_: &mut Request<'_>| Response::text("pong"));
    let server = serve(router);
    let mut client = server.connect();
    assert_eq!(client.request(get("/ping")).text(), "pong");
    std::thread::sleep(PAST_RELEASE);
    let body = "x".repeat(10_000);
    client.send(format!(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}{}",
        body.len(),
        get("/ping")
    ));
    assert_eq!(client.response().text(), body);
    assert_eq!(client.response().text(), "pong");
}
