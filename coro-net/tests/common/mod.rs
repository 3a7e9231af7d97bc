//! Helpers shared by the TCP tests: a watchdog so that a hang fails the test
//! instead of stalling CI, runtimes of a given size, and byte patterns that
//! catch lost, duplicated or reordered bytes.

#![allow(dead_code, unused_macros)]

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long one test body may run before it counts as hung.
pub const WATCHDOG: Duration = Duration::from_secs(45);

/// Runs `f` on its own thread and fails if it does not finish within
/// [`WATCHDOG`]; a panic in `f` is propagated as the test's failure. A hung
/// thread is leaked (the test binary exits anyway once the harness is done).
pub fn watchdog<F>(name: &str, f: F)
where
    F: FnOnce() + Send + 'static,
{
    watchdog_for(name, WATCHDOG, f);
}

/// [`watchdog`] with an explicit limit.
pub fn watchdog_for<F>(name: &str, limit: Duration, f: F)
where
    F: FnOnce() + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(format!("test-body:{name}"))
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .expect("spawn test body thread");
    match rx.recv_timeout(limit) {
        Ok(()) => handle.join().expect("test body thread"),
        Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("body finished without reporting"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("watchdog: test `{name}` did not finish within {limit:?} (hang?)")
        }
    }
}

/// Builds a runtime with `workers` workers and runs `body` on it as a
/// coroutine, under the watchdog.
pub fn on_runtime(name: &str, workers: usize, body: fn()) {
    let label = format!("{name}[{workers}w]");
    watchdog(&label, move || {
        let rt = coro::runtime::Builder::new()
            .workers(workers)
            .build()
            .expect("build runtime");
        rt.block_on(body);
        drop(rt);
    });
}

/// Runs `body` as a coroutine on a 1-worker runtime, then on a 4-worker
/// one, under the watchdog.
pub fn on_runtimes(body: fn()) {
    watchdog("on 1 and 4 workers", move || {
        for workers in [1, 4] {
            let rt = coro::runtime::Builder::new()
                .workers(workers)
                .build()
                .expect("build runtime");
            rt.block_on(body);
        }
    });
}

/// Declares `#[test] fn one_worker` and `#[test] fn four_workers` in a module
/// named after each given function, running that function (a `fn()`) on a
/// runtime with 1 and with 4 workers, under the watchdog.
macro_rules! per_workers {
    ($($f:ident),* $(,)?) => {
        $(
            mod $f {
                #[test]
                fn one_worker() {
                    $crate::common::on_runtime(stringify!($f), 1, super::$f);
                }

                #[test]
                fn four_workers() {
                    $crate::common::on_runtime(stringify!($f), 4, super::$f);
                }
            }
        )*
    };
}

/// The byte at offset `i` of the pattern with `seed`: not periodic in any
/// power of two, so a shifted, dropped or duplicated chunk shows.
pub fn pattern_byte(seed: u64, i: usize) -> u8 {
    let x = (i as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
    ((x >> 29) ^ (x >> 47) ^ (i as u64 % 251)) as u8
}

/// `len` bytes of the pattern with `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| pattern_byte(seed, i)).collect()
}

/// Asserts that `got` is the pattern `seed` starting at offset `start`,
/// naming the first wrong offset.
pub fn check_pattern(seed: u64, start: usize, got: &[u8]) {
    for (k, &b) in got.iter().enumerate() {
        let want = pattern_byte(seed, start + k);
        assert_eq!(
            b,
            want,
            "seed {seed}: byte at offset {} is {b:#04x}, want {want:#04x}",
            start + k
        );
    }
}
