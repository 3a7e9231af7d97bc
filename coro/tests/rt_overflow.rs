//! Stack sizes: an overflow is reported by name and aborts (checked in a
//! child process, since it kills the process), a requested size is honoured,
//! an impossible size is refused.
//!
//! The child is this test binary run again with `CORO_TEST_CHILD` set to a
//! scenario and `--exact` naming the test that runs it; the parent checks
//! how it died and what it wrote to stderr.

mod util;

use std::hint::black_box;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::Output;

use coro::Builder;
use util::{child_scenario, run_child};

/// Bytes of stack each level of [`recurse`] takes, at least.
const FRAME_BYTES: usize = 4096;

/// Recurses `depth` levels with a [`FRAME_BYTES`] array in every frame, or
/// without end when `depth` is `usize::MAX`. Returns a value that depends on
/// every frame, so none can be optimized away.
fn recurse(depth: usize) -> u64 {
    let mut frame = [0u8; FRAME_BYTES];
    frame[depth % FRAME_BYTES] = depth as u8;
    let frame = black_box(frame);
    if depth == 0 {
        return u64::from(frame[0]);
    }
    let below = recurse(black_box(depth - 1));
    black_box(below) + u64::from(frame[depth % FRAME_BYTES])
}

fn assert_killed_with(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.signal().is_some(),
        "the child should have died by a signal, but {}; stderr:\n{stderr}",
        out.status
    );
    assert!(!out.status.success());
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
}

#[test]
fn an_overflow_report_names_the_spawner_s_setting() {
    if let Some(scenario) = child_scenario() {
        assert_eq!(scenario, "hint");
        let h = Builder::new()
            .stack_size(64 * 1024)
            .overflow_hint("my_server::Config::stack")
            .spawn(|| recurse(usize::MAX))
            .unwrap();
        // Unreachable: the overflow aborts the process.
        let _ = h.join();
        println!("the child survived its overflow");
        return;
    }
    let out = run_child("an_overflow_report_names_the_spawner_s_setting", "hint");
    assert_killed_with(
        &out,
        &["overflowed its stack of 65536 bytes; raise it with my_server::Config::stack\n"],
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("coro::Builder::stack_size"));
}

#[test]
fn overflowing_a_named_coroutine_reports_it_and_aborts() {
    if let Some(scenario) = child_scenario() {
        assert_eq!(scenario, "named");
        let h = Builder::new()
            .name("deep")
            .stack_size(64 * 1024)
            .spawn(|| recurse(usize::MAX))
            .unwrap();
        // Unreachable: the overflow aborts the process.
        let _ = h.join();
        println!("the child survived its overflow");
        return;
    }
    let out = run_child(
        "overflowing_a_named_coroutine_reports_it_and_aborts",
        "named",
    );
    assert_killed_with(
        &out,
        &[
            "coroutine 'deep'",
            "overflowed its stack of",
            "65536",
            "Builder::stack_size",
        ],
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("survived"));
}

#[test]
fn overflowing_an_unnamed_coroutine_reports_its_size() {
    if child_scenario().is_some() {
        let rt = coro::runtime::Builder::new()
            .workers(1)
            .stack_size(32 * 1024)
            .build()
            .unwrap();
        let _ = rt.spawn(|| recurse(usize::MAX)).join();
        println!("the child survived its overflow");
        return;
    }
    let out = run_child(
        "overflowing_an_unnamed_coroutine_reports_its_size",
        "unnamed",
    );
    assert_killed_with(
        &out,
        &[
            "coroutine '<unnamed>' (id ",
            "overflowed its stack of 32768 bytes",
        ],
    );
}

#[test]
fn overflowing_a_plain_thread_is_still_reported_as_a_thread_overflow() {
    // The runtime's handler must hand faults that are not coroutine
    // overflows to the one installed before it (the standard library's).
    if child_scenario().is_some() {
        let rt = util::runtime(1, "bystander");
        assert_eq!(rt.block_on(|| 1), 1);
        let t = std::thread::Builder::new()
            .name("plain-deep".into())
            .stack_size(64 * 1024)
            .spawn(|| recurse(usize::MAX))
            .unwrap();
        let _ = t.join();
        println!("the child survived its overflow");
        return;
    }
    let out = run_child(
        "overflowing_a_plain_thread_is_still_reported_as_a_thread_overflow",
        "thread",
    );
    assert_killed_with(&out, &["thread 'plain-deep'", "has overflowed its stack"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("coroutine '"));
}

#[test]
fn a_requested_stack_size_is_honoured() {
    // At least 512 KiB of frames (4 KiB each, more in debug builds): past
    // the 256 KiB default, well within 8 MiB.
    // If the size were ignored the process would abort, so run it in a child.
    const DEPTH: usize = 512 * 1024 / FRAME_BYTES;
    if child_scenario().is_some() {
        let h = Builder::new()
            .name("roomy")
            .stack_size(8 << 20)
            .spawn(|| recurse(DEPTH))
            .unwrap();
        h.join().unwrap();
        let rt = coro::runtime::Builder::new()
            .workers(1)
            .stack_size(8 << 20)
            .build()
            .unwrap();
        rt.block_on(|| recurse(DEPTH));
        println!("deep recursion done");
        return;
    }
    let out = run_child("a_requested_stack_size_is_honoured", "roomy");
    assert!(
        out.status.success(),
        "{}; stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("deep recursion done"));
}

#[test]
fn a_tiny_stack_size_is_rounded_up_and_works() {
    let h = Builder::new().stack_size(1).spawn(|| 5).unwrap();
    assert_eq!(h.join().unwrap(), 5);
}

#[test]
fn a_huge_stack_size_is_an_error() {
    let too_big = (1 << 30) + 1;
    let err = Builder::new().stack_size(too_big).spawn(|| ()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("exceeds the maximum"), "{err}");

    let err = Builder::new()
        .stack_size(usize::MAX)
        .spawn(|| ())
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);

    let rt = util::runtime(1, "huge");
    let err = Builder::new()
        .name("huge")
        .stack_size(4 << 30)
        .spawn_on(&rt, || ())
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    // The runtime is unaffected.
    assert_eq!(rt.block_on(|| 2), 2);
}
