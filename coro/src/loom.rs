//! The synchronization types of the protocols checked under loom (the
//! task state word, `task::state`; a worker's sleep state,
//! `scheduler::sleep`), as tokio's `src/loom` does: `std`'s here, loom's
//! in the models.
//!
//! The models are integration tests (`tests/loom_*.rs`), run with
//! `RUSTFLAGS="--cfg loom" cargo test -p coro --release --test loom_...`.
//! Each compiles the protocol's own source file into the test crate, with a
//! `crate::loom` of its own that re-exports loom's types, so the model runs
//! exactly the code the runtime runs. Those files therefore use nothing of
//! this crate but `crate::loom`. Inside the library, `cfg(loom)` changes
//! nothing: loom is a dev-dependency, and the runtime itself (threads,
//! stacks, signals) is not something loom can run.

pub(crate) mod sync {
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{fence, AtomicU64, AtomicU8, Ordering};
    }
}
