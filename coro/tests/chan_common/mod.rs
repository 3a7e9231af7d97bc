//! Helpers shared by the channel tests (`chan_*.rs`).
//!
//! * [`rt_test!`] runs one body twice, on a fresh runtime with one worker
//!   and on one with four (tokio's `rt_test!`): with one worker a lost
//!   wake-up cannot hide behind another thread picking up the slack; with
//!   four, cross-thread wakes and stealing run.
//! * [`watchdog`] runs a closure on its own thread and fails the test with a
//!   message if it has not finished in time, so a hang fails instead of
//!   stalling CI.
//! * [`Seen`] is the checksum of the stress tests: one bit per message, so a
//!   lost message and a duplicated one are both caught, and named.
//! * [`Token`] counts its drops, to prove that a message handed back in an
//!   error, or dropped with a channel, is dropped exactly once.
//! * [`select`] and [`select_recv`] run a `Select` over a list of sends and
//!   receives and hand back what happened, including the messages of the
//!   sends that did not.
//! * [`in_child_process`] runs a scenario in a child process, for bugs that
//!   crash (a corrupted stack) or leave a thread spinning.
//!
//! Each test binary uses a different subset of these.
#![allow(dead_code, unused_macros, unused_imports)]

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use coro::chan::{Receiver, RecvError, Select, SendError, Sender};
use coro::Runtime;

/// How long one test body may run before the watchdog fails it. Every body
/// takes a few seconds at most in debug on two cores; this only has to
/// catch hangs on a loaded CI runner.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Worker counts every scheduler-dependent test runs under.
pub const WORKER_COUNTS: [usize; 2] = [1, 4];

/// How long a test lets a coroutine or thread reach a blocking call before
/// it acts on the assumption that it is blocked. No assertion depends on
/// it being long enough: if it is not, the test checks an easier case.
pub const SETTLE: Duration = Duration::from_millis(20);

/// Runs `f` on a fresh thread and returns its result; fails the test if it
/// has not finished within [`WATCHDOG`]. A panic in `f` resumes here.
///
/// On a timeout the thread is left behind (nothing can stop it); the test
/// fails and the process exits when the harness is done.
pub fn watchdog<T, F>(what: &str, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    watchdog_for(what, WATCHDOG, f)
}

/// As [`watchdog`], with a limit of `limit`.
pub fn watchdog_for<T, F>(what: &str, limit: Duration, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name(format!("watched:{what}"))
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(result);
        })
        .expect("cannot start the watchdog's thread");
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!(
            "watchdog: `{what}` did not finish within {limit:?}: a hang (lost wake-up, \
             deadlock, or a runtime that does not shut down)"
        ),
    }
}

/// Set in a child process started by [`in_child_process`]: the test to run.
const CHILD_ENV: &str = "CORO_CHAN_TEST_CHILD";

/// Runs `body` in a child process (this test binary again, running only
/// the test `test`, whose path is given relative to the crate root) and
/// fails unless it exits cleanly. For scenarios where a bug corrupts memory
/// and crashes the process, or leaves a thread spinning: the failure then
/// fails this one test, with the child's output, instead of taking the
/// whole test binary down. The child's own run is bounded by the
/// [`watchdog`], with `limit`.
pub fn in_child_process(test: &str, limit: Duration, body: impl FnOnce() + Send + 'static) {
    if std::env::var(CHILD_ENV).as_deref() == Ok(test) {
        watchdog_for(test, limit, body);
        println!("child {test}: done");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("cannot run the child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("child {test}: done")),
        "the child process running `{test}` failed ({}): memory corruption or a hang?\n\
         stdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A runtime with `workers` workers.
pub fn runtime(workers: usize) -> Runtime {
    coro::runtime::Builder::new()
        .workers(workers)
        .thread_name(format!("chan{workers}w"))
        .build()
        .expect("cannot build a runtime")
}

/// Runs `body` with a fresh runtime of `workers` workers under the
/// watchdog; the runtime is dropped inside the watchdog too, so a shutdown
/// that hangs fails the test as well.
pub fn with_runtime<F>(test: &str, workers: usize, body: F)
where
    F: FnOnce(&Runtime) + Send + 'static,
{
    let what = format!("{test} ({workers} workers)");
    watchdog(&what, move || {
        let rt = runtime(workers);
        body(&rt);
        drop(rt);
    })
}

/// Defines a test that runs its body once per entry of [`WORKER_COUNTS`],
/// each time on a fresh runtime (a `&Runtime` bound to the given name),
/// under the [`watchdog`]. The tests are `NAME::one_worker` and
/// `NAME::four_workers`.
macro_rules! rt_test {
    ($(#[$attr:meta])* fn $name:ident($rt:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_variables)]
            fn body($rt: &::coro::Runtime) $body

            $(#[$attr])*
            #[test]
            fn one_worker() {
                $crate::chan_common::with_runtime(
                    concat!(module_path!(), "::one_worker"),
                    1,
                    body,
                );
            }

            $(#[$attr])*
            #[test]
            fn four_workers() {
                $crate::chan_common::with_runtime(
                    concat!(module_path!(), "::four_workers"),
                    4,
                    body,
                );
            }
        }
    };
}
pub(crate) use rt_test;

/// How long a [`select`] may wait.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// Until an operation happens (`Select::wait`).
    Block,
    /// Not at all (`Select::try_wait`, a `default` arm).
    Try,
    /// Up to this long (`Select::wait_timeout`).
    Timeout(Duration),
}

/// The operation a [`select`] performed.
#[derive(Debug, PartialEq, Eq)]
pub enum Done<T> {
    /// The send at this position of `sends` happened.
    Sent(usize, Result<(), SendError<T>>),
    /// The receive at this position of `recvs` happened.
    Received(usize, Result<T, RecvError>),
}

/// One `Select` over sends and receives of one message type, as a
/// `select!` with those arms would run it. Returns the operation that
/// happened (`None`: nothing within `wait`) and, in order, the messages of
/// the sends that did not happen, handed back by `send_result`.
pub fn select<T: Send>(
    sends: Vec<(&Sender<T>, T)>,
    recvs: &[&Receiver<T>],
    wait: Wait,
) -> (Option<Done<T>>, Vec<T>) {
    let mut sel = Select::new();
    let send_handles: Vec<_> = sends
        .into_iter()
        .map(|(tx, v)| sel.add_send(tx, v))
        .collect();
    let recv_handles: Vec<_> = recvs.iter().map(|rx| sel.add_recv(rx)).collect();
    let index = match wait {
        Wait::Block => Some(sel.wait()),
        Wait::Try => sel.try_wait(),
        Wait::Timeout(d) => sel.wait_timeout(d),
    };
    let mut done = None;
    let mut unsent = Vec::new();
    for (k, h) in send_handles.into_iter().enumerate() {
        if Some(h.index()) == index {
            done = Some(Done::Sent(k, sel.send_result(h)));
        } else {
            match sel.send_result(h) {
                Err(SendError(v)) => unsent.push(v),
                Ok(()) => panic!("send {k} happened, but the select returned {index:?}"),
            }
        }
    }
    for (k, h) in recv_handles.into_iter().enumerate() {
        if Some(h.index()) == index {
            done = Some(Done::Received(k, sel.recv_result(h)));
        }
    }
    assert_eq!(done.is_some(), index.is_some(), "select returned {index:?}");
    (done, unsent)
}

/// A select of receives only: which receiver, and what it got.
pub fn select_recv<T: Send>(
    recvs: &[&Receiver<T>],
    wait: Wait,
) -> Option<(usize, Result<T, RecvError>)> {
    match select(Vec::new(), recvs, wait).0 {
        Some(Done::Received(k, r)) => Some((k, r)),
        Some(Done::Sent(..)) => unreachable!("no send was added"),
        None => None,
    }
}

/// Whether the caller is a coroutine.
pub fn in_coroutine() -> bool {
    coro::try_current().is_some()
}

/// Lets others run: yields the coroutine, or the thread.
pub fn yield_any() {
    if in_coroutine() {
        coro::yield_now();
    } else {
        thread::yield_now();
    }
}

/// Waits [`SETTLE`]: sleeps the coroutine (its worker runs the others), or
/// the thread.
pub fn settle() {
    coro::sleep(SETTLE);
}

/// Polls `cond` until it holds; fails with `what` after [`WATCHDOG`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        if in_coroutine() {
            coro::yield_now();
        } else {
            thread::sleep(Duration::from_micros(100));
        }
    }
}

/// A small deterministic generator (xorshift64*) for test decisions.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never zero: xorshift would stay there.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        (self.next_u64() >> 32) % n
    }
}

/// One bit per message id: proves every message arrived exactly once.
#[derive(Debug)]
pub struct Seen {
    bits: Vec<AtomicU64>,
    total: u64,
    marked: AtomicU64,
    duplicates: AtomicU64,
    out_of_range: AtomicU64,
}

impl Seen {
    /// Room for message ids `0..total`.
    pub fn new(total: u64) -> Seen {
        Seen {
            bits: (0..total.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            total,
            marked: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            out_of_range: AtomicU64::new(0),
        }
    }

    /// Records message `id`; false (and counted) if it was seen before.
    pub fn mark(&self, id: u64) -> bool {
        if id >= self.total {
            self.out_of_range.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let bit = 1u64 << (id % 64);
        let prev = self.bits[(id / 64) as usize].fetch_or(bit, Ordering::Relaxed);
        if prev & bit != 0 {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            false
        } else {
            self.marked.fetch_add(1, Ordering::Relaxed);
            true
        }
    }

    /// Whether `id` was marked.
    pub fn contains(&self, id: u64) -> bool {
        id < self.total
            && self.bits[(id / 64) as usize].load(Ordering::Relaxed) & (1 << (id % 64)) != 0
    }

    /// Ids marked exactly once each, so far.
    pub fn count(&self) -> u64 {
        self.marked.load(Ordering::Relaxed)
    }

    /// Fails unless every id in `0..total` was marked exactly once.
    pub fn assert_complete(&self, what: &str) {
        let dup = self.duplicates.load(Ordering::Relaxed);
        let bad = self.out_of_range.load(Ordering::Relaxed);
        let marked = self.marked.load(Ordering::Relaxed);
        let missing: Vec<u64> = (0..self.total)
            .filter(|&id| {
                self.bits[(id / 64) as usize].load(Ordering::Relaxed) & (1 << (id % 64)) == 0
            })
            .take(10)
            .collect();
        assert!(
            dup == 0 && bad == 0 && marked == self.total && missing.is_empty(),
            "{what}: {marked} of {} messages arrived, {dup} duplicates, {bad} unknown ids; \
             first missing: {missing:?}",
            self.total
        );
    }
}

/// A message that counts how many times it was dropped.
#[derive(Debug)]
pub struct Token {
    pub id: u64,
    drops: Arc<AtomicUsize>,
}

impl Token {
    pub fn new(id: u64, drops: &Arc<AtomicUsize>) -> Token {
        Token {
            id,
            drops: Arc::clone(drops),
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sets its flag when dropped: shows that a coroutine was unwound.
#[derive(Debug)]
pub struct DropFlag(pub Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A thread or a coroutine, whichever the caller is: what [`go`] started.
#[derive(Debug)]
pub enum Task<T> {
    Thread(thread::JoinHandle<T>),
    Coroutine(coro::JoinHandle<T>),
}

/// Starts `f` as a coroutine of the caller's runtime if the caller is a
/// coroutine, or else as a thread: a test body written with it runs the
/// same scenario in both worlds.
pub fn go<T, F>(f: F) -> Task<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if in_coroutine() {
        Task::Coroutine(coro::spawn(f))
    } else {
        Task::Thread(thread::spawn(f))
    }
}

impl<T> Task<T> {
    /// Waits for it; a panic in it resumes here.
    pub fn join(self) -> T {
        match self {
            Task::Thread(h) => h.join().unwrap_or_else(|p| panic::resume_unwind(p)),
            Task::Coroutine(h) => h
                .join()
                .unwrap_or_else(|e| panic::resume_unwind(e.into_panic())),
        }
    }
}

/// Defines a test whose body runs on a plain thread (`NAME::thread`) and
/// inside a coroutine on a fresh runtime of one and of four workers
/// (`NAME::one_worker`, `NAME::four_workers`), each under the
/// [`watchdog`]. Helpers the body starts with [`go`] are threads in the
/// first case and coroutines in the others.
macro_rules! both_test {
    ($(#[$attr:meta])* fn $name:ident() $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body() $body

            $(#[$attr])*
            #[test]
            fn thread() {
                $crate::chan_common::watchdog(concat!(module_path!(), "::thread"), body);
            }

            $(#[$attr])*
            #[test]
            fn one_worker() {
                $crate::chan_common::with_runtime(
                    concat!(module_path!(), "::one_worker"),
                    1,
                    |rt| rt.block_on(body),
                );
            }

            $(#[$attr])*
            #[test]
            fn four_workers() {
                $crate::chan_common::with_runtime(
                    concat!(module_path!(), "::four_workers"),
                    4,
                    |rt| rt.block_on(body),
                );
            }
        }
    };
}
pub(crate) use both_test;
