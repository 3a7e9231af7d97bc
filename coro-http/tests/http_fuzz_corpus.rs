//! Replays the fuzz corpora on stable: every file under
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` goes through
//! the function its cargo-fuzz target calls (`coro_http::fuzzing`), which
//! panics when an invariant breaks. The corpora are minimized
//! (`cargo fuzz cmin`); the regressions are the inputs of crashes found,
//! each fixed, kept whether or not they add coverage.
//!
//! CI so runs what fuzzing found without nightly or libFuzzer.

use std::fs;
use std::path::{Path, PathBuf};

/// The files of `fuzz/<kind>/<target>/`, sorted; none when it is absent.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("read a corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Feeds every input of `target` to `check`; returns how many there were.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for path in inputs(kind, target) {
            let input = fs::read(&path).expect("read a corpus file");
            let outcome = std::panic::catch_unwind(|| check(&input));
            assert!(outcome.is_ok(), "{} breaks an invariant", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn the_head_corpus_replays() {
    assert!(
        replay("head", coro_http::fuzzing::parse_head) > 0,
        "no corpus"
    );
}

#[test]
fn the_chunked_corpus_replays() {
    assert!(
        replay("chunked", coro_http::fuzzing::chunked) > 0,
        "no corpus"
    );
}

#[test]
fn the_connection_corpus_replays() {
    assert!(
        replay("connection", coro_http::fuzzing::connection) > 0,
        "no corpus"
    );
}
