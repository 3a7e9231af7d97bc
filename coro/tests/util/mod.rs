//! Helpers shared by the integration tests.
//!
//! * [`rt_test!`] runs one test body twice, on a runtime with one worker and
//!   on one with four (tokio's `rt_test!` in `tests/rt_common.rs`). With one
//!   worker, fairness and wake-up bugs cannot hide behind another thread
//!   picking up the slack; with four, stealing and cross-thread wakes run.
//! * [`watchdog`] runs a closure on its own thread and fails the test if it
//!   has not finished in time, so a lost wake-up or a deadlock fails the
//!   test with a message instead of stalling CI.
//!
//! Each test binary uses a different subset of these.
#![allow(dead_code, unused_macros, unused_imports)]

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use coro::Runtime;

/// How long a test body may run before the watchdog fails it. Generous:
/// every test finishes in well under a second or two on an idle machine;
/// this only has to catch hangs, on a loaded 2-core CI runner in debug.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Worker counts every scheduler test runs under.
pub const WORKER_COUNTS: [usize; 2] = [1, 4];

/// Runs `f` on a fresh thread and returns its result, or fails the test if it
/// takes longer than `limit`. A panic in `f` is resumed on the caller.
///
/// On a timeout the thread is left behind (nothing can stop it); the test
/// fails and the process exits when the harness is done.
pub fn watchdog<T, F>(what: &str, limit: Duration, f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let name = format!("watched:{what}");
    thread::Builder::new()
        .name(name)
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

/// Builds a runtime with `workers` workers whose threads are named
/// `PREFIX-N`.
pub fn runtime(workers: usize, prefix: &str) -> Runtime {
    coro::runtime::Builder::new()
        .workers(workers)
        .thread_name(prefix)
        .build()
        .expect("cannot build a runtime")
}

/// Runs `body` with a fresh runtime of `workers` workers, under the
/// watchdog. The runtime is dropped inside the watchdog too (unless `body`
/// consumed it), so a shutdown that hangs fails the test as well.
pub fn with_runtime<F>(test: &str, workers: usize, body: F)
where
    F: FnOnce(Runtime) + Send + 'static,
{
    let plural = if workers == 1 { "" } else { "s" };
    let what = format!("{test} ({workers} worker{plural})");
    watchdog(&what, WATCHDOG, move || {
        body(runtime(workers, &prefix(workers)))
    })
}

/// The worker-thread name prefix of the runtimes [`rt_test!`] builds.
pub fn prefix(workers: usize) -> String {
    format!("rt{workers}w")
}

/// Defines a test that runs its body once per entry of [`WORKER_COUNTS`],
/// each time on a fresh runtime (an owned [`Runtime`] bound to the given
/// name), under the [`watchdog`]. The tests are `NAME::one_worker` and
/// `NAME::four_workers`.
///
/// ```ignore
/// rt_test! {
///     fn spawn_and_join(rt) {
///         assert_eq!(rt.block_on(|| 1), 1);
///     }
/// }
/// ```
macro_rules! rt_test {
    ($(#[$attr:meta])* fn $name:ident($rt:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut, unused_variables)]
            fn body(mut $rt: ::coro::Runtime) $body

            $(#[$attr])*
            #[test]
            fn one_worker() {
                $crate::util::with_runtime(concat!(stringify!($name), "::one_worker"), 1, body);
            }

            $(#[$attr])*
            #[test]
            fn four_workers() {
                $crate::util::with_runtime(concat!(stringify!($name), "::four_workers"), 4, body);
            }
        }
    };
}
pub(crate) use rt_test;

/// Polls `cond` until it holds, failing with `what` after [`WATCHDOG`].
/// For observing work that nobody joins (detached coroutines, destructors).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        if coro::try_current().is_some() {
            coro::yield_now();
        } else {
            thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Burns about `d` of CPU without suspending: work that keeps a worker
/// busy, so that idle workers have a reason to steal.
pub fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// The name of the calling thread, owned.
pub fn thread_name() -> String {
    thread::current().name().unwrap_or("<unnamed>").to_owned()
}

/// Whether `name` is the name of a worker of a runtime built with
/// `thread_name(prefix)` and `workers` workers: `PREFIX-N` with `N <
/// workers`.
pub fn is_worker_of(name: &str, prefix: &str, workers: usize) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n < workers)
}

/// The message of a panic payload (`&str` or `String`), or `""`.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("")
}

/// Environment variable that turns a test into a child scenario; see
/// [`run_child`].
pub const CHILD_ENV: &str = "CORO_TEST_CHILD";

/// Runs this test binary again as a child process that runs only `test`,
/// with [`CHILD_ENV`] set to `scenario`. For behaviour that kills the
/// process (a stack overflow, memory corruption): the parent checks how the
/// child ended instead of dying with it.
pub fn run_child(test: &str, scenario: &str) -> std::process::Output {
    let exe = std::env::current_exe().expect("the test binary's path");
    std::process::Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, scenario)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("cannot run the child process")
}

/// The scenario this process is to run, if it is a child of [`run_child`].
pub fn child_scenario() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

/// Resident-stack budgets the soundness tests run under: the runtime's
/// default, and one stack per worker (every other suspended coroutine is
/// evicted, so a bug that needs a stack to be shared shows at once).
pub const RESIDENT_BUDGETS: [Option<usize>; 2] = [None, Some(1)];

/// Builds a runtime with `workers` workers and the given resident-stack
/// budget (`None`: the default).
pub fn runtime_with(workers: usize, resident: Option<usize>) -> Runtime {
    let mut b = coro::runtime::Builder::new()
        .workers(workers)
        .thread_name(prefix(workers));
    if let Some(n) = resident {
        b = b.resident_stacks(n);
    }
    b.build().expect("cannot build a runtime")
}

/// How a child scenario of [`run_child_test`] must end.
#[derive(Debug, Clone, Copy)]
pub enum Expect {
    /// It returns normally: exit status 0.
    Success,
    /// It aborts (or otherwise fails) with this text on stderr.
    Abort(&'static str),
}

/// How long a child scenario may run before its own watchdog fails it.
pub const CHILD_WATCHDOG: Duration = Duration::from_secs(10);

/// One run of a soundness scenario in a child process (so that an abort, a
/// segfault or a dead worker fails this test, not the whole binary):
/// in the parent, re-runs this binary with `--exact test` and checks the
/// child ended as `expect` says; in the child, runs `body` on a runtime of
/// `workers` workers and the `resident` budget, under a watchdog.
pub fn run_child_test(
    test: &str,
    workers: usize,
    resident: Option<usize>,
    expect: Expect,
    body: fn(Runtime),
) {
    if child_scenario().is_some() {
        watchdog(test, CHILD_WATCHDOG, move || {
            body(runtime_with(workers, resident))
        });
        return;
    }
    let out = run_child(test, "run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match expect {
        Expect::Success => assert!(
            out.status.success(),
            "`{test}` should have succeeded; it ended with {:?}; stderr:\n{stderr}",
            out.status
        ),
        Expect::Abort(message) => {
            assert!(
                !out.status.success(),
                "`{test}` should have aborted with {message:?}; it succeeded; stderr:\n{stderr}"
            );
            assert!(
                stderr.contains(message),
                "`{test}` should have aborted with {message:?}; it ended with {:?}; \
                 stderr:\n{stderr}",
                out.status
            );
        }
    }
}

/// The four `#[test]` functions of [`child_test!`] and [`rt_budget_test!`]:
/// each calls the module's `run(variant, workers, resident_stacks)` with 1
/// and 4 workers, the default stack budget and a budget of one.
macro_rules! four_runtime_tests {
    ($(#[$attr:meta])*) => {
        $(#[$attr])*
        #[test]
        fn one_worker() {
            run("one_worker", 1, None);
        }

        $(#[$attr])*
        #[test]
        fn four_workers() {
            run("four_workers", 4, None);
        }

        $(#[$attr])*
        #[test]
        fn one_worker_one_stack() {
            run("one_worker_one_stack", 1, Some(1));
        }

        $(#[$attr])*
        #[test]
        fn four_workers_one_stack() {
            run("four_workers_one_stack", 4, Some(1));
        }
    };
}
pub(crate) use four_runtime_tests;

/// Defines a soundness scenario run by [`run_child_test`] in four child
/// processes: 1 and 4 workers, each with the default resident-stack
/// budget and with a budget of one. The tests are `NAME::one_worker`,
/// `NAME::four_workers`, `NAME::one_worker_one_stack` and
/// `NAME::four_workers_one_stack`.
///
/// ```ignore
/// child_test! {
///     fn name(rt) expect Expect::Abort("message") { ... }
/// }
/// ```
macro_rules! child_test {
    ($(#[$attr:meta])* fn $name:ident($rt:ident) expect $expect:expr; $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut, unused_variables)]
            fn body(mut $rt: ::coro::Runtime) $body

            fn run(variant: &str, workers: usize, resident: Option<usize>) {
                let test = format!("{}::{variant}", stringify!($name));
                $crate::util::run_child_test(&test, workers, resident, $expect, body);
            }

            $crate::util::four_runtime_tests!($(#[$attr])*);
        }
    };
}
pub(crate) use child_test;

/// As [`rt_test!`], in this process, over the four runtimes of
/// [`child_test!`] (1 and 4 workers, default budget and a budget of one).
macro_rules! rt_budget_test {
    ($(#[$attr:meta])* fn $name:ident($rt:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[allow(unused_mut, unused_variables)]
            fn body(mut $rt: ::coro::Runtime) $body

            fn run(variant: &str, workers: usize, resident: Option<usize>) {
                let what = format!("{}::{variant}", stringify!($name));
                $crate::util::watchdog(&what, $crate::util::WATCHDOG, move || {
                    body($crate::util::runtime_with(workers, resident))
                });
            }

            $crate::util::four_runtime_tests!($(#[$attr])*);
        }
    };
}
pub(crate) use rt_budget_test;
