//! A fast, strict HTTP/1.1 server whose handlers run on coroutines.
//!
//! Not built yet: this crate is a placeholder in the workspace until the
//! server lands (see the project's open issues).
