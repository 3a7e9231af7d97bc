//! See `coro_http::fuzzing::connection`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| coro_http::fuzzing::connection(input));
