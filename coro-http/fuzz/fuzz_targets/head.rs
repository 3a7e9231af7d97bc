//! See `coro_http::fuzzing::parse_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| coro_http::fuzzing::parse_head(input));
