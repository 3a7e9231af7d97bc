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

use std::sync::{mpsc, Mutex};
use std::time::Duration;

use coro_http::{Request, Response, Router};

use util::{get, serve};

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
