//! Connections over time: the header, idle and body timeouts, a panicking
//! handler, graceful shutdown and its grace period, handlers that block,
//! and many connections at once.
//!
//! Timeouts are provoked with short settings and by stalling; the tests
//! assert what the server did (the status, the close), never how long it
//! took.

mod util;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use coro_http::{IdleWait, Request, Response, Router, Timeouts};

use util::{accepts_requests, get, post, serve_with, Client, READ_TIMEOUT};

/// Short enough that the tests run fast, long enough that a loaded CI
/// machine does not trip it by accident.
const SHORT: Duration = Duration::from_millis(300);

fn router() -> Router {
    let mut r = Router::new();
    r.get("/", |_: &mut Request<'_>| "ok")
        .post("/echo", |req: &mut Request<'_>| {
            req.body_bytes().map(Response::bytes)
        })
        .get("/panic", |_: &mut Request<'_>| -> &'static str {
            panic!("the handler panics (on purpose, in a test)")
        });
    r
}

fn short_timeouts() -> Timeouts {
    Timeouts {
        header: SHORT,
        idle: SHORT,
        body: SHORT,
        ..util::test_timeouts()
    }
}

// ---------------------------------------------------------------------------
// Timeouts.

#[test]
fn a_stalled_partial_head_gets_408_and_is_closed() {
    let server = serve_with(router(), |b| b.timeouts(short_timeouts()));
    let mut client = server.connect();
    client.send("GET / HTTP/1.1\r\nHost: te");
    let response = client.response();
    assert_eq!(response.status, 408);
    assert!(response.says_close());
    client.assert_closed();
}

#[test]
fn a_head_trickled_byte_by_byte_gets_408_and_is_closed() {
    // Slowloris proper: the client keeps sending, a byte at a time, so no
    // single read ever waits long; the deadline is for the whole head.
    let server = serve_with(router(), |b| b.timeouts(short_timeouts()));
    let mut client = server.connect();
    let mut writer = client.stream().try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_writer = Arc::clone(&stop);
    let trickle = thread::spawn(move || {
        let endless = b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'));
        for &b in endless {
            if stop_writer.load(Ordering::SeqCst)
                || std::io::Write::write_all(&mut writer, &[b]).is_err()
            {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let response = client.response();
    stop.store(true, Ordering::SeqCst);
    trickle.join().unwrap();
    assert_eq!(response.status, 408);
    client.assert_closed();
}

#[test]
fn a_silent_new_connection_gets_408_and_is_closed() {
    let server = serve_with(router(), |b| b.timeouts(short_timeouts()));
    let mut client = server.connect();
    let response = client.response();
    assert_eq!(response.status, 408);
    client.assert_closed();
}

#[test]
fn a_stalled_second_head_gets_408_and_is_closed() {
    let server = serve_with(router(), |b| b.timeouts(short_timeouts()));
    let mut client = server.connect();
    assert_eq!(client.request(get("/")).status, 200);
    client.send("GET / HTTP/1.1\r\n");
    let response = client.response();
    assert_eq!(response.status, 408);
    client.assert_closed();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_without_an_answer() {
    let server = serve_with(router(), |b| {
        b.timeouts(Timeouts {
            // The idle timeout, not the header one, must end it.
            header: Duration::from_secs(30),
            idle: SHORT,
            ..util::test_timeouts()
        })
    });
    let mut client = server.connect();
    assert_eq!(client.request(get("/")).status, 200);
    // The next read blocks until the idle timeout closes the connection;
    // `assert_closed` fails if anything (a 408) arrives first.
    client.assert_closed();
}

#[test]
fn a_connection_that_is_busy_is_not_idle() {
    // Requests keep coming, each well within the idle timeout of the last,
    // for longer than the idle timeout in all: the timeout counts from the
    // last request, so the connection is never cut.
    const IDLE: Duration = Duration::from_millis(500);
    let server = serve_with(router(), |b| {
        b.timeouts(Timeouts {
            idle: IDLE,
            ..util::test_timeouts()
        })
    });
    let mut client = server.connect();
    for _ in 0..15 {
        assert_eq!(client.request(get("/")).status, 200);
        thread::sleep(IDLE / 10);
    }
    client.assert_serves();
}

#[test]
fn a_stalled_body_is_closed() {
    let server = serve_with(router(), |b| b.timeouts(short_timeouts()));
    let mut client = server.connect();
    client.send(format!(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{}",
        "b".repeat(10)
    ));
    let response = client.response();
    assert_eq!(response.status, 408);
    assert!(response.says_close());
    client.assert_closed();
}

#[test]
fn a_stalled_body_the_handler_ignores_is_closed() {
    let mut r = router();
    r.post("/ignore", |_: &mut Request<'_>| "ignored");
    let server = serve_with(r, |b| b.timeouts(short_timeouts()));
    let mut client = server.connect();
    client.send(format!(
        "POST /ignore HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n{}",
        "b".repeat(10)
    ));
    // Draining the rest of the body stalls: the answer goes out, and the
    // connection closes because the next request cannot be found.
    let response = client.response();
    assert_eq!((response.status, response.text()), (200, "ignored"));
    assert!(response.says_close());
    client.assert_closed();
}

// ---------------------------------------------------------------------------
// Panics.

fn panics_answer_500_and_spare_other_connections(workers: usize) {
    let server = serve_with(router(), |b| b.workers(workers));
    let mut before = server.connect();
    assert_eq!(before.request(get("/")).status, 200);

    let mut victim = server.connect();
    victim.send(format!("{}{}", get("/panic"), get("/")));
    let response = victim.response();
    assert_eq!(response.status, 500);
    assert!(response.says_close());
    // The request behind the panicking one is not served.
    victim.assert_closed();

    let mut keeps_going = Vec::new();
    for _ in 0..4 {
        let mut c = server.connect();
        assert_eq!(c.request(get("/panic")).status, 500);
        keeps_going.push(c);
    }
    assert_eq!(before.request(get("/")).status, 200);
    before.assert_serves();
    let mut after = server.connect();
    assert_eq!(after.request(get("/")).status, 200);
    after.assert_serves();
}

/// A client that asked to close, its request read to the end, gets the
/// response and then a socket closed at once: a byte it sends afterwards
/// meets no reader, the kernel answers it with a reset, and the client's
/// next write fails. A lingering close would read and drop such bytes for
/// `LINGER` (half a second), and the writes would succeed all that time;
/// the test gives up well before that (on loopback the reset comes back
/// within the first write, so the second one already fails).
#[test]
fn a_client_that_asked_to_close_is_closed_without_lingering() {
    let server = serve_with(router(), |b| b);
    let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    let give_up = std::time::Instant::now() + Duration::from_millis(200);
    let refused = loop {
        match stream.write_all(b"x") {
            Err(e) => break Some(e.kind()),
            Ok(()) if std::time::Instant::now() >= give_up => break None,
            Ok(()) => thread::sleep(Duration::from_millis(2)),
        }
    };
    assert!(
        matches!(
            refused,
            Some(std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset)
        ),
        "the server lingered: it read what was sent after its answer ({refused:?})"
    );
}

#[test]
fn a_panicking_handler_answers_500_and_spares_other_connections_1_worker() {
    panics_answer_500_and_spare_other_connections(1);
}

#[test]
fn a_panicking_handler_answers_500_and_spares_other_connections_4_workers() {
    panics_answer_500_and_spare_other_connections(4);
}

// ---------------------------------------------------------------------------
// Shutdown.

/// A router whose `/block` handler reports that it started on `started`
/// and then waits on a coro channel for `release`.
fn blocking_router(started: mpsc::Sender<()>, release: coro::chan::Receiver<()>) -> Router {
    let mut r = router();
    r.get("/block", move |_: &mut Request<'_>| {
        started.send(()).unwrap();
        match release.recv() {
            Ok(()) => "released",
            Err(_) => "abandoned",
        }
    });
    r
}

#[test]
fn shutdown_finishes_the_request_in_flight_and_closes_the_rest() {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = coro::chan::unbounded();
    let mut server = serve_with(blocking_router(started_tx, release_rx), |b| {
        b.timeouts(Timeouts {
            grace: Duration::from_secs(10),
            ..util::test_timeouts()
        })
    });
    let addr = server.addr();

    let mut idle = server.connect();
    assert_eq!(idle.request(get("/")).status, 200);
    let mut busy = server.connect();
    busy.send(get("/block"));
    started
        .recv_timeout(READ_TIMEOUT)
        .expect("the handler started");

    server.shutdown_handle().shutdown();

    // The idle connection is closed at once, unanswered; new connections
    // are refused. The busy one still waits for its handler, so the
    // server cannot have stopped for another reason.
    idle.assert_closed();
    assert!(!accepts_requests(addr), "a new connection was served");

    release.send(()).unwrap();
    let response = busy.response();
    assert_eq!((response.status, response.text()), (200, "released"));
    assert!(response.says_close());
    busy.assert_closed();
    server.wait_stopped();
}

#[test]
fn shutdown_of_an_idle_server_returns() {
    // A grace period far past the time `wait_stopped` allows: only the
    // closing of idle connections can make `run` return in time.
    let mut server = serve_with(router(), |b| {
        b.timeouts(Timeouts {
            grace: Duration::from_secs(60),
            ..util::test_timeouts()
        })
    });
    let mut client = server.connect();
    assert_eq!(client.request(get("/")).status, 200);
    server.shutdown_handle().shutdown();
    client.assert_closed();
    server.wait_stopped();
}

#[test]
fn shutdown_closes_a_connection_that_has_not_sent_anything_yet() {
    // A client that connects ahead of its first request (browsers do) is
    // as idle as one between requests: the shutdown must not wait for it.
    let mut server = serve_with(router(), |b| {
        b.timeouts(Timeouts {
            header: Duration::from_secs(60),
            grace: Duration::from_secs(60),
            ..util::test_timeouts()
        })
    });
    let mut early = server.connect();
    // Make sure the server has accepted it before the shutdown.
    let mut served = server.connect();
    assert_eq!(served.request(get("/")).status, 200);
    server.shutdown_handle().shutdown();
    served.assert_closed();
    early.assert_closed();
    server.wait_stopped();
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
    // 64 MiB, far more than the socket buffers hold: the server's write
    // stalls while the client does not read, and must give up.
    const TOTAL: usize = 64 << 20;
    let mut r = router();
    r.get("/flood", |_: &mut Request<'_>| {
        Response::stream(|w: &mut dyn std::io::Write| {
            let piece = vec![b'f'; 64 * 1024];
            for _ in 0..TOTAL / piece.len() {
                w.write_all(&piece)?;
            }
            Ok(())
        })
    });
    let server = serve_with(r, |b| {
        b.timeouts(Timeouts {
            write: SHORT,
            ..util::test_timeouts()
        })
    });
    let mut client = server.connect();
    client.send(get("/flood"));
    // Stall well past the write timeout.
    thread::sleep(SHORT * 4);
    let mut received = 0;
    let mut tail = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match client.stream().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                received += n;
                tail.extend_from_slice(&buf[..n]);
                let keep = tail.len().saturating_sub(16);
                tail.drain(..keep);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server neither finished nor closed: {e}"),
        }
    }
    assert!(
        received < TOTAL,
        "the whole body was sent: no write timeout"
    );
    assert!(
        !tail.ends_with(b"0\r\n\r\n"),
        "a cut-off body looks complete"
    );
    let mut other = server.connect();
    assert_eq!(other.request(get("/")).status, 200);
}

#[test]
fn shutdown_returns_after_the_grace_period_when_a_handler_never_finishes() {
    let (started_tx, started) = mpsc::channel();
    // The sender stays alive to the end: the handler never gets a message.
    let (release, release_rx) = coro::chan::unbounded::<()>();
    let mut server = serve_with(blocking_router(started_tx, release_rx), |b| {
        b.timeouts(Timeouts {
            grace: Duration::from_millis(200),
            ..util::test_timeouts()
        })
    });
    let mut stuck = server.connect();
    stuck.send(get("/block"));
    started
        .recv_timeout(READ_TIMEOUT)
        .expect("the handler started");

    server.shutdown_handle().shutdown();
    server.wait_stopped();
    // Force-closed: no answer ever came.
    stuck.assert_closed();
    drop(release);
}

/// A `/spin` handler that computes, without ever suspending, until the
/// test releases it: it holds its worker thread the way a CPU-bound
/// handler does. Dropping the `Spin` releases it, so a failing test does
/// not leave a thread spinning.
struct Spin {
    started: mpsc::Receiver<()>,
    started_tx: mpsc::Sender<()>,
    release: Arc<AtomicBool>,
    finished: Arc<AtomicBool>,
}

impl Spin {
    fn new() -> Spin {
        let (started_tx, started) = mpsc::channel();
        Spin {
            started,
            started_tx,
            release: Arc::default(),
            finished: Arc::default(),
        }
    }

    fn router(&self) -> Router {
        let mut r = router();
        let started = self.started_tx.clone();
        let (release, finished) = (Arc::clone(&self.release), Arc::clone(&self.finished));
        r.get("/spin", move |_: &mut Request<'_>| {
            started.send(()).unwrap();
            while !release.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            finished.store(true, Ordering::SeqCst);
            "spun"
        });
        r
    }

    fn wait_started(&self) {
        self.started
            .recv_timeout(READ_TIMEOUT)
            .expect("the spinning handler started");
    }

    fn release(&self) {
        self.release.store(true, Ordering::SeqCst);
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::SeqCst)
    }
}

impl Drop for Spin {
    fn drop(&mut self) {
        self.release();
    }
}

/// A request that reached an idle keep-alive connection before the
/// shutdown began, and that the server had not read yet, is answered with
/// `Connection: close`: the connection's only worker is held by a
/// spinning handler from before the request is sent until after the
/// shutdown has started.
fn shutdown_answers_a_request_already_received(idle_wait: IdleWait) {
    let spin = Spin::new();
    let mut server = serve_with(spin.router(), |b| {
        b.workers(1).idle_wait(idle_wait).timeouts(Timeouts {
            grace: Duration::from_secs(10),
            ..util::test_timeouts()
        })
    });
    let mut waiting = server.connect();
    assert_eq!(waiting.request(get("/")).status, 200);
    let mut busy = server.connect();
    busy.send(get("/spin"));
    spin.wait_started();
    waiting.send(get("/"));
    server.shutdown_handle().shutdown();
    spin.release();

    let response = busy.response();
    assert_eq!((response.status, response.text()), (200, "spun"));
    assert!(response.says_close());
    busy.assert_closed();
    let response = waiting.response();
    assert_eq!((response.status, response.text()), (200, "ok"));
    assert!(response.says_close());
    waiting.assert_closed();
    server.wait_stopped();
}

#[test]
fn shutdown_answers_a_request_already_received_waiting_without_a_coroutine() {
    shutdown_answers_a_request_already_received(IdleWait::Detached);
}

#[test]
fn shutdown_answers_a_request_already_received_parked_in_its_coroutine() {
    shutdown_answers_a_request_already_received(IdleWait::Parked);
}

#[test]
fn run_returns_after_the_grace_period_while_a_handler_still_computes() {
    let spin = Spin::new();
    let mut server = serve_with(spin.router(), |b| {
        b.timeouts(Timeouts {
            grace: Duration::from_millis(200),
            ..util::test_timeouts()
        })
    });
    let mut stuck = server.connect();
    stuck.send(get("/spin"));
    spin.wait_started();
    server.shutdown_handle().shutdown();
    server.wait_stopped();
    assert!(
        !spin.finished(),
        "Server::run returned only once the handler had finished"
    );
    // Force-closed: no answer came, nor will one.
    stuck.assert_closed();
}

// ---------------------------------------------------------------------------
// Blocking handlers and many connections.

#[test]
fn handlers_sleeping_on_coro_do_not_stall_a_one_worker_server() {
    // Every `/sleep` handler waits, in `coro::sleep`, until all of them are
    // asleep at once. On one worker that is only possible if a sleeping
    // handler leaves the worker to the other connections; a handler that
    // blocked the thread would leave the others unserved, and give up.
    const CLIENTS: usize = 16;
    let asleep = Arc::new(AtomicUsize::new(0));
    let mut r = router();
    let count = Arc::clone(&asleep);
    r.get("/sleep", move |_: &mut Request<'_>| {
        count.fetch_add(1, Ordering::SeqCst);
        // 2,000 naps of 2 ms: far beyond what the rendezvous needs.
        for _ in 0..2000 {
            if count.load(Ordering::SeqCst) == CLIENTS {
                return Response::text("all asleep together");
            }
            coro::sleep(Duration::from_millis(2));
        }
        Response::text("alone").status(coro_http::StatusCode::SERVICE_UNAVAILABLE)
    });
    let server = serve_with(r, |b| b.workers(1));
    let addr = server.addr();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                let response = client.request(get("/sleep"));
                (response.status, response.text().to_string())
            })
        })
        .collect();
    for c in clients {
        assert_eq!(c.join().unwrap(), (200, "all asleep together".to_string()));
    }
    let mut client = server.connect();
    assert_eq!(client.request(get("/")).status, 200);
}

#[test]
fn a_handler_blocked_on_a_channel_does_not_stall_a_one_worker_server() {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = coro::chan::unbounded();
    let server = serve_with(blocking_router(started_tx, release_rx), |b| b.workers(1));
    let mut blocked = server.connect();
    blocked.send(get("/block"));
    started
        .recv_timeout(READ_TIMEOUT)
        .expect("the handler started");
    for _ in 0..3 {
        let mut other = server.connect();
        assert_eq!(
            other.request(post("/echo", "still served")).text(),
            "still served"
        );
    }
    release.send(()).unwrap();
    assert_eq!(blocked.response().text(), "released");
    blocked.assert_serves();
}

fn many_connections(workers: usize) {
    const CONNECTIONS: usize = 200;
    const REQUESTS: usize = 5;
    let mut r = router();
    r.get("/n/{n}", |req: &mut Request<'_>| {
        req.param("n").unwrap().to_string()
    });
    let server = serve_with(r, |b| b.workers(workers));
    // All connections are open before any sends, so they are all served
    // at once.
    let connections: Vec<Client> = (0..CONNECTIONS).map(|_| server.connect()).collect();
    let clients: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(c, mut client)| {
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    for i in 0..REQUESTS {
                        let n = c * REQUESTS + i;
                        let response = client.request(get(&format!("/n/{n}")));
                        assert_eq!(
                            (response.status, response.text()),
                            (200, n.to_string().as_str())
                        );
                    }
                    client.request("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
                    client.assert_closed();
                })
                .unwrap()
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let mut client = server.connect();
    let mut body = Vec::new();
    client.send("GET / HTTP/1.0\r\n\r\n");
    let _ = client.stream().read_to_end(&mut body);
    assert!(body.starts_with(b"HTTP/1.1 200 OK\r\n"));
}

#[test]
fn two_hundred_connections_with_keep_alive_on_1_worker() {
    many_connections(1);
}

#[test]
fn two_hundred_connections_with_keep_alive_on_4_workers() {
    many_connections(4);
}
