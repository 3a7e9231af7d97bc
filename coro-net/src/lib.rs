//! Nonblocking sockets that park coroutines instead of threads.
//!
//! Not built yet: this crate is a placeholder in the workspace until the
//! reactor lands (see the project's open issues).
