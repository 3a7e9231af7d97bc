//! The server as its process sees it: signals, a file descriptor limit, a
//! stack overflow, and a handler or a response cut off at the end of the
//! grace period.
//!
//! Each test runs its server in a child process: this test binary again,
//! with only that test selected and [`CHILD`] set, so the child takes the
//! test's child branch. The child logs to stderr ([`StderrLogger`]) and
//! says where it stands on stdout, in lines that start with `child: `; the
//! parent reads both, and sends the child real signals or requests. No
//! assertion waits for a time: the parent waits for the lines it needs,
//! with [`WAIT_LIMIT`] only as a guard against a hang.

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use coro_http::{Request, Response, Router, Server, Timeouts};
use util::Client;

/// Set in a child process to the name of the test it serves.
const CHILD: &str = "CORO_HTTP_TEST_CHILD";

/// Longest wait for a line from the child: only a bug comes near it.
const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// The name of the test whose child this process is, if it is one.
fn child_of() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// A line of the child's, from its stdout or its stderr.
#[derive(Debug)]
enum Line {
    Out(String),
    Err(String),
}

/// A running child: its process, and its lines as they come.
struct ChildProcess {
    child: Child,
    lines: mpsc::Receiver<Line>,
    /// Where the reader threads send; dropped by `wait`.
    tx: Option<mpsc::Sender<Line>>,
    /// Every stderr line so far, for failure messages.
    log: Vec<String>,
}

impl ChildProcess {
    /// Starts this binary again for `test`'s child branch.
    fn start(test: &str) -> ChildProcess {
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, test)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the child");
        let (tx, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().expect("piped"));
        let err = BufReader::new(child.stderr.take().expect("piped"));
        let tx_out = tx.clone();
        thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = tx_out.send(Line::Out(line));
            }
        });
        let tx_err = tx.clone();
        thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let _ = tx_err.send(Line::Err(line));
            }
        });
        ChildProcess {
            child,
            lines,
            tx: Some(tx),
            log: Vec::new(),
        }
    }

    /// The next line of the child's.
    fn next(&mut self) -> Line {
        match self.lines.recv_timeout(WAIT_LIMIT) {
            Ok(Line::Err(l)) => {
                self.log.push(l.clone());
                Line::Err(l)
            }
            Ok(line) => line,
            Err(_) => panic!("the child went silent; its log:\n{}", self.log.join("\n")),
        }
    }

    /// Waits for a stdout line with `child: WHAT...`, and returns what follows.
    fn wait_out(&mut self, what: &str) -> String {
        let prefix = format!("child: {what}");
        loop {
            // Anywhere in the line: libtest's `test NAME ... ` may be
            // before it.
            if let Line::Out(l) = self.next() {
                if let Some(at) = l.find(&prefix) {
                    return l[at + prefix.len()..].trim().to_string();
                }
            }
        }
    }

    /// Waits for a stderr line that contains `what`, and returns it.
    fn wait_log(&mut self, what: &str) -> String {
        loop {
            if let Line::Err(l) = self.next() {
                if l.contains(what) {
                    return l;
                }
            }
        }
    }

    fn addr(&mut self) -> SocketAddr {
        self.wait_out("listening on").parse().expect("an address")
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: kill has no memory effects; the pid is our own child's,
        // which has not been waited for, so it is not reused.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill failed");
    }

    /// Waits for the child to end, with its stderr drained.
    fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        self.tx = None;
        let status = self.child.wait().expect("wait for the child");
        for line in self.lines.iter() {
            if let Line::Err(l) = line {
                self.log.push(l);
            }
        }
        (status, std::mem::take(&mut self.log))
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes every log line to stderr, as `LEVEL target: message`.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        eprintln!("{} {}: {}", record.level(), record.target(), record.args());
    }
    fn flush(&self) {}
}

/// Says `child: WHAT` on stdout, at once.
fn say(what: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "child: {what}").expect("stdout");
    out.flush().expect("stdout");
}

fn init_child_logger() {
    log::set_logger(&StderrLogger).expect("one logger");
    log::set_max_level(log::LevelFilter::Debug);
}

/// The child of the signal tests: a server whose `POST /upload` says that
/// it started, then reads its body, run until a signal.
fn signal_child() -> ! {
    init_child_logger();
    let mut router = Router::new();
    router.post("/upload", |req: &mut Request<'_>| {
        say("in the handler");
        let body = req.body_bytes().expect("the whole body");
        Response::text(format!("{} bytes", body.len()))
    });
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .workers(2)
        .build(router)
        .expect("build");
    say(&format!("listening on {}", server.local_addrs()[0]));
    server.run_until_signal().expect("run_until_signal");
    say("run returned");
    std::process::exit(0)
}

/// Sends the head of an upload and half its body, and waits until its
/// handler runs.
fn upload_in_flight(child: &mut ChildProcess) -> Client {
    let addr = child.addr();
    let mut client = Client::connect(addr);
    client.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    child.wait_out("in the handler");
    client
}

#[test]
fn sigterm_drains_in_flight_requests_then_run_returns() {
    if child_of().is_some() {
        signal_child();
    }
    let mut child = ChildProcess::start("sigterm_drains_in_flight_requests_then_run_returns");
    let mut client = upload_in_flight(&mut child);
    child.signal(libc::SIGTERM);
    child.wait_log("SIGTERM: shutting down gracefully");
    // The request in flight when the signal came is served to its end.
    client.send("67890");
    let response = client.response();
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "10 bytes");
    assert!(response.says_close(), "the drain closes the connection");
    child.wait_out("run returned");
    let (status, log) = child.wait();
    assert!(status.success(), "{status}; log:\n{}", log.join("\n"));
}

#[test]
fn a_second_sigint_ends_the_process_at_once() {
    if child_of().is_some() {
        signal_child();
    }
    let mut child = ChildProcess::start("a_second_sigint_ends_the_process_at_once");
    let _client = upload_in_flight(&mut child);
    child.signal(libc::SIGINT);
    child.wait_log("SIGINT: shutting down gracefully");
    // The drain waits for the upload, which never ends; the second signal
    // does not wait.
    child.signal(libc::SIGINT);
    let (status, log) = child.wait();
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "{status}; log:\n{}",
        log.join("\n")
    );
    assert!(log
        .iter()
        .any(|l| l.contains("stopping the process at once")));
}

/// Free descriptors the child keeps under its limit: connections it can
/// accept before `accept` fails with `EMFILE`.
const SPARE_FDS: usize = 3;

/// How often the child looks whether the warm-up connection has closed.
const POLL: Duration = Duration::from_millis(1);

/// Descriptor numbers looked at for the ones open.
const FD_SCAN: libc::c_int = 4096;

#[test]
fn accept_out_of_descriptors_is_logged_and_recovers() {
    if child_of().is_some() {
        init_child_logger();
        let mut router = Router::new();
        router.get("/", |_: &mut Request<'_>| "ok");
        let server = Server::builder()
            .bind("127.0.0.1:0")
            .workers(1)
            .build(router)
            .expect("build");
        let addr = server.local_addrs()[0];
        thread::spawn(move || server.run());
        // One request first, so that what the server opens on first use
        // (its worker's reactor) is open before the limit; then wait until
        // the server has closed that connection (only the listener is a
        // socket). readlink opens nothing.
        let mut warm = Client::connect(addr);
        let answer = warm.request("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(answer.status, 200);
        drop(warm);
        let sockets = || {
            (0..FD_SCAN)
                .filter_map(|fd| std::fs::read_link(format!("/proc/self/fd/{fd}")).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        };
        while sockets() > 1 {
            thread::sleep(POLL);
        }
        // The limit below which exactly SPARE_FDS descriptor numbers are
        // free (a new descriptor takes the lowest free number). Probed with
        // fcntl, which opens nothing.
        // SAFETY: F_GETFD on any number only reads the descriptor table.
        let is_open = |fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
        let last_spare = (0..FD_SCAN)
            .filter(|&fd| !is_open(fd))
            .nth(SPARE_FDS - 1)
            .expect("free numbers");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given.
        let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        assert_eq!(r, 0, "getrlimit");
        limit.rlim_cur = libc::rlim_t::try_from(last_spare + 1).expect("positive");
        // SAFETY: setrlimit reads the struct it is given; lowering the soft
        // limit of this (child) process is what the test is about.
        let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        assert_eq!(r, 0, "setrlimit");
        say(&format!("listening on {addr}"));
        loop {
            thread::park();
        }
    }
    let mut child = ChildProcess::start("accept_out_of_descriptors_is_logged_and_recovers");
    let addr = child.addr();
    // As many connections as the child has descriptors left, each served
    // and kept open.
    let served: Vec<Client> = (0..SPARE_FDS)
        .map(|_| {
            let mut client = Client::connect(addr);
            assert_eq!(
                client.request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
                200
            );
            client
        })
        .collect();
    // One more: the kernel queues it, and the child's accept fails.
    let mut queued = Client::connect(addr);
    queued
        .stream()
        .set_read_timeout(Some(WAIT_LIMIT))
        .expect("read timeout");
    queued.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let failure = child.wait_log("accept failed");
    assert!(failure.contains("Too many open files"), "{failure}");
    assert!(failure.contains("RLIMIT_NOFILE"), "{failure}");
    // Closing the served connections frees descriptors: the queued one is
    // accepted and answered, and the log says so.
    drop(served);
    assert_eq!(queued.response().status, 200);
    child.wait_log("accepting connections again after");
}

/// A stack frame of this many bytes per level of `deep`.
const FRAME: usize = 4096;

/// Recurses `levels` deep, with a [`FRAME`]-byte frame each.
fn deep(levels: usize) -> u8 {
    let frame = std::hint::black_box([levels as u8; FRAME]);
    if levels == 0 {
        frame[0]
    } else {
        deep(levels - 1).wrapping_add(std::hint::black_box(frame)[FRAME - 1])
    }
}

#[test]
fn a_connection_stack_overflow_names_the_server_setting() {
    if child_of().is_some() {
        let mut router = Router::new();
        // About 128 KiB of stack: fine with the default 256 KiB, not with
        // the 64 KiB set below.
        router.get("/deep", |_: &mut Request<'_>| deep(32).to_string());
        let server = Server::builder()
            .bind("127.0.0.1:0")
            .workers(1)
            .stack_size(64 * 1024)
            .build(router)
            .expect("build");
        say(&format!("listening on {}", server.local_addrs()[0]));
        server.run().expect("run");
        std::process::exit(0)
    }
    let mut child = ChildProcess::start("a_connection_stack_overflow_names_the_server_setting");
    let mut client = Client::connect(child.addr());
    client.send("GET /deep HTTP/1.1\r\nHost: x\r\n\r\n");
    let (status, log) = child.wait();
    assert_eq!(status.signal(), Some(libc::SIGABRT), "{status}");
    let report = log
        .iter()
        .find(|l| l.contains("overflowed its stack"))
        .unwrap_or_else(|| panic!("no overflow report in:\n{}", log.join("\n")));
    assert!(
        report.contains("of 65536 bytes; raise it with coro_http::Builder::stack_size"),
        "{report}"
    );
}

#[test]
fn a_handler_cut_off_after_the_grace_period_is_not_called_a_panic() {
    const TEST: &str = "a_handler_cut_off_after_the_grace_period_is_not_called_a_panic";
    if child_of().is_some() {
        let (entered, handler_runs) = mpsc::channel();
        let entered = std::sync::Mutex::new(entered);
        let mut router = Router::new();
        router.get("/long", move |_: &mut Request<'_>| {
            let _ = entered.lock().unwrap().send(());
            // Longer than any test: only the shutdown ends it.
            coro::sleep(Duration::from_secs(3600));
            "too late"
        });
        serve_and_stop_once_entered(router, handler_runs);
    }
    expect_a_cut_off_not_a_panic(TEST, "/long");
}

#[test]
fn a_response_cut_off_after_the_grace_period_is_not_called_a_panic() {
    const TEST: &str = "a_response_cut_off_after_the_grace_period_is_not_called_a_panic";
    if child_of().is_some() {
        let (entered, stream_runs) = mpsc::channel();
        let entered = std::sync::Mutex::new(entered);
        let mut router = Router::new();
        router.get("/events", move |_: &mut Request<'_>| {
            let entered = entered.lock().unwrap().clone();
            // A stream that waits for its next event between writes, longer
            // than any test: only the shutdown ends it, which closes the
            // socket under it while it waits, then drops the runtime.
            Response::stream(move |out| {
                out.write_all(b"event 1\n")?;
                let _ = entered.send(());
                coro::sleep(Duration::from_secs(3600));
                out.write_all(b"event 2\n")
            })
        });
        serve_and_stop_once_entered(router, stream_runs);
    }
    expect_a_cut_off_not_a_panic(TEST, "/events");
}

/// The child of a cut-off test: serves `router` on one worker with a
/// grace period of 100 ms, starts the shutdown once `entered` says the
/// request's code runs, and exits when `run` returns.
fn serve_and_stop_once_entered(router: Router, entered: mpsc::Receiver<()>) -> ! {
    init_child_logger();
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .workers(1)
        .timeouts(Timeouts {
            grace: Duration::from_millis(100),
            ..Timeouts::default()
        })
        .build(router)
        .expect("build");
    let stop = server.shutdown_handle();
    say(&format!("listening on {}", server.local_addrs()[0]));
    thread::spawn(move || {
        entered.recv().expect("the request's code runs");
        stop.shutdown();
    });
    server.run().expect("run");
    say("run returned");
    std::process::exit(0)
}

/// The parent of a cut-off test: sends `GET path` to the child of `test`,
/// waits for the child to stop, and checks that its log names the cut-off
/// and calls nothing a panic.
fn expect_a_cut_off_not_a_panic(test: &str, path: &str) {
    let mut child = ChildProcess::start(test);
    let mut client = Client::connect(child.addr());
    client.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    child.wait_out("run returned");
    let (status, log) = child.wait();
    assert!(status.success(), "{status}");
    let all = log.join("\n");
    assert!(
        all.contains(&format!("was cut off: GET {path}")),
        "no cut-off line in:\n{all}"
    );
    assert!(
        !all.contains("panicked"),
        "a cut-off called a panic:\n{all}"
    );
    drop(client);
}
