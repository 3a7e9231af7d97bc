//! Strict parsing on a live server (RFC 9112, RFC 9110): malformed request
//! lines and fields, request smuggling shapes, and the size limits.
//!
//! Every refused request is sent with a second, valid request right behind
//! it in the same write (`GET /secret`, whose handler counts its hits). The
//! test then asserts the exact status of the one answer, that the
//! connection closed after it, and that `/secret` was never served: bytes
//! after a refused request must never be read as a request.

mod util;

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coro_http::{Limits, Request, Response, Router, StatusCode, Timeouts};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use util::{assert_refused_on, chunked_post, get, serve, serve_with, TestServer, SMUGGLED};

/// Routes: `GET /` answers `ok`; `POST /` reads the whole body and answers
/// its length; `POST /unread` answers without reading it; `GET /secret`
/// counts its hits.
fn router(hits: &Arc<AtomicUsize>) -> Router {
    let hits = Arc::clone(hits);
    let mut r = Router::new();
    r.get("/", |_: &mut Request<'_>| "ok")
        .post("/", |req: &mut Request<'_>| {
            req.body_bytes().map(|b| format!("read {}", b.len()))
        })
        .post("/unread", |_: &mut Request<'_>| "not read")
        .get("/secret", move |_: &mut Request<'_>| {
            hits.fetch_add(1, Ordering::SeqCst);
            "secret"
        })
        .get("/{*rest}", |_: &mut Request<'_>| "ok");
    r
}

/// Small limits, so that the limit tests send little.
fn small_limits() -> Limits {
    Limits {
        max_request_line: 1024,
        max_header_bytes: 4096,
        max_headers: 8,
        max_body_bytes: 1024,
    }
}

/// [`assert_refused_on`] on a fresh server with the default limits.
fn assert_refused(request: &str, status: u16) {
    assert_refused_bytes(request.as_bytes(), status);
}

fn assert_refused_bytes(request: &[u8], status: u16) {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    assert_refused_on(&server, &hits, request, status);
}

/// [`assert_refused_on`] on a fresh server with [`small_limits`].
fn assert_refused_small(request: &str, status: u16) {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve_with(router(&hits), |b| b.limits(small_limits()));
    assert_refused_on(&server, &hits, request.as_bytes(), status);
}

/// The control: a valid request with the same trailer is served, and so is
/// the request behind it, on the same connection.
#[test]
fn a_valid_request_and_the_one_behind_it_are_both_served() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    client.send(format!("{}{SMUGGLED}", util::post("/", "hello")));
    let first = client.response();
    assert_eq!((first.status, first.text()), (200, "read 5"));
    let second = client.response();
    assert_eq!((second.status, second.text()), (200, "secret"));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// The request line.

#[test]
fn a_request_line_without_a_version_is_400() {
    assert_refused("GET /\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_request_line_with_two_spaces_is_400() {
    assert_refused("GET  / HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_request_line_with_a_space_in_the_target_is_400() {
    assert_refused("GET /a b HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_target_that_is_not_a_path_is_400() {
    assert_refused("GET nopath HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_method_with_a_non_token_character_is_400() {
    assert_refused("G(T / HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_method_with_a_nul_is_400() {
    assert_refused_bytes(b"GE\0T / HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn an_empty_method_is_400() {
    assert_refused(" / HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn http_2_0_is_505() {
    assert_refused("GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505);
}

#[test]
fn http_3_0_is_505() {
    assert_refused("GET / HTTP/3.0\r\nHost: test\r\n\r\n", 505);
}

#[test]
fn http_0_9_is_505() {
    assert_refused("GET / HTTP/0.9\r\nHost: test\r\n\r\n", 505);
}

#[test]
fn a_version_cut_after_the_dot_is_400() {
    assert_refused("GET / HTTP/1.\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_version_with_a_two_digit_minor_is_400() {
    assert_refused("GET / HTTP/1.10\r\nHost: test\r\n\r\n", 400);
    assert_refused("GET / HTTP/1.20\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_version_with_a_letter_after_the_minor_is_400() {
    assert_refused("GET / HTTP/1.1x\r\nHost: test\r\n\r\n", 400);
    assert_refused("GET / HTTP/1.2x\r\nHost: test\r\n\r\n", 400);
}

/// `HTTP/1.2` is served as 1.1 (RFC 9110 §2.5), so 1.1's rules hold: the
/// `Host` field is required.
#[test]
fn http_1_2_without_host_is_400() {
    assert_refused("GET / HTTP/1.2\r\n\r\n", 400);
}

#[test]
fn http_1_2_with_content_length_and_chunked_is_400() {
    assert_refused(
        "POST / HTTP/1.2\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn a_lowercase_version_is_400() {
    assert_refused("GET / http/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_version_with_letters_is_400() {
    assert_refused("GET / HTTP/1.x\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_version_with_two_digit_parts_is_400() {
    assert_refused("GET / HTTP/11.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn a_misspelled_protocol_is_400() {
    assert_refused("GET / HTPT/1.1\r\nHost: test\r\n\r\n", 400);
}

// ---------------------------------------------------------------------------
// Header fields.

#[test]
fn a_bare_cr_in_a_field_value_is_400() {
    assert_refused("GET / HTTP/1.1\r\nHost: test\r\nX-A: b\rc\r\n\r\n", 400);
}

#[test]
fn a_bare_cr_in_a_field_name_is_400() {
    assert_refused("GET / HTTP/1.1\r\nHost: test\r\nX\r-A: b\r\n\r\n", 400);
}

#[test]
fn a_nul_in_a_field_value_is_400() {
    assert_refused_bytes(b"GET / HTTP/1.1\r\nHost: test\r\nX-A: b\0c\r\n\r\n", 400);
}

#[test]
fn a_nul_in_a_field_name_is_400() {
    assert_refused_bytes(b"GET / HTTP/1.1\r\nHost: test\r\nX\0A: b\r\n\r\n", 400);
}

#[test]
fn an_obs_folded_field_line_is_400() {
    assert_refused(
        "GET / HTTP/1.1\r\nHost: test\r\nX-A: b\r\n folded\r\n\r\n",
        400,
    );
}

#[test]
fn a_tab_folded_field_line_is_400() {
    assert_refused(
        "GET / HTTP/1.1\r\nHost: test\r\nX-A: b\r\n\tfolded\r\n\r\n",
        400,
    );
}

#[test]
fn whitespace_before_the_first_field_is_400() {
    assert_refused("GET / HTTP/1.1\r\n Host: test\r\n\r\n", 400);
}

#[test]
fn a_space_before_the_colon_is_400() {
    assert_refused("GET / HTTP/1.1\r\nHost : test\r\n\r\n", 400);
}

#[test]
fn a_space_before_the_colon_of_transfer_encoding_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn a_field_line_without_a_colon_is_400() {
    assert_refused("GET / HTTP/1.1\r\nHost: test\r\nNoColon\r\n\r\n", 400);
}

#[test]
fn a_missing_host_on_http_1_1_is_400() {
    assert_refused("GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400);
}

#[test]
fn two_host_fields_are_400() {
    assert_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

#[test]
fn two_identical_host_fields_are_400() {
    assert_refused("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400);
}

#[test]
fn two_host_fields_on_http_1_0_are_400() {
    assert_refused("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

#[test]
fn an_unsupported_expectation_is_417() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n",
        417,
    );
}

// ---------------------------------------------------------------------------
// Framing: the request smuggling shapes.

#[test]
fn content_length_with_transfer_encoding_is_400() {
    // CL.TE: a server reading the length would take "0\r\n\r\n" as the
    // body and the smuggled request as the next one.
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn transfer_encoding_with_content_length_is_400() {
    // TE.CL, the fields the other way round.
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn two_different_content_lengths_are_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn a_content_length_list_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5, 6\r\n\r\nhello!",
        400,
    );
}

#[test]
fn a_content_length_with_a_plus_sign_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: +5\r\n\r\nhello",
        400,
    );
}

#[test]
fn a_content_length_in_hex_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 0x5\r\n\r\nhello",
        400,
    );
}

#[test]
fn a_content_length_with_an_inner_space_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 5 5\r\n\r\nhello",
        400,
    );
}

#[test]
fn a_negative_content_length_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: -1\r\n\r\nhello",
        400,
    );
}

#[test]
fn an_empty_content_length_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: \r\n\r\nhello",
        400,
    );
}

#[test]
fn a_content_length_past_u64_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 18446744073709551616\r\n\r\nhello",
        400,
    );
}

#[test]
fn a_content_length_of_many_digits_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 000000000000000000005\r\n\r\nhello",
        400,
    );
}

#[test]
fn a_content_length_of_u64_max_is_413() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 18446744073709551615\r\n\r\nhello",
        413,
    );
}

#[test]
fn a_final_coding_other_than_chunked_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn transfer_encoding_identity_alone_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn chunked_applied_twice_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn an_empty_transfer_encoding_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: \r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn a_transfer_encoding_naming_no_coding_is_400_even_with_a_length() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: ,\r\nContent-Length: 5\r\n\r\nhello",
        400,
    );
}

#[test]
fn an_unknown_transfer_coding_is_501() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: bogus, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

#[test]
fn a_coding_that_only_looks_like_chunked_is_501() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

#[test]
fn a_known_coding_before_chunked_is_501() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    );
}

#[test]
fn transfer_encoding_on_http_1_0_is_400() {
    assert_refused(
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn a_chunk_size_with_a_hex_prefix_is_400() {
    assert_refused(&chunked_post("0x5\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_chunk_size_with_a_plus_sign_is_400() {
    assert_refused(&chunked_post("+5\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_chunk_size_with_a_minus_sign_is_400() {
    assert_refused(&chunked_post("-5\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_chunk_size_after_a_space_is_400() {
    assert_refused(&chunked_post(" 5\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn an_empty_chunk_size_is_400() {
    assert_refused(&chunked_post("\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_chunk_size_of_17_digits_is_400() {
    // Leading zeros: the value is small, the digit count is not.
    assert_refused(
        &chunked_post("00000000000000005\r\nhello\r\n0\r\n\r\n"),
        400,
    );
}

#[test]
fn a_chunk_size_past_u64_is_400() {
    assert_refused(
        &chunked_post("1ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
        400,
    );
}

#[test]
fn chunk_data_longer_than_its_size_is_400() {
    assert_refused(&chunked_post("5\r\nhello, world\r\n0\r\n\r\n"), 400);
}

#[test]
fn chunk_data_without_its_crlf_is_400() {
    assert_refused(&chunked_post("5\r\nhello0\r\n\r\n"), 400);
}

#[test]
fn a_chunk_size_line_ended_by_a_bare_lf_is_400() {
    assert_refused(&chunked_post("5\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_chunk_extension_past_its_limit_is_400() {
    let extension = format!(";name={}", "e".repeat(2000));
    assert_refused(
        &chunked_post(&format!("5{extension}\r\nhello\r\n0\r\n\r\n")),
        400,
    );
}

#[test]
fn trailers_past_the_header_limit_are_431() {
    let trailer = format!("X-Trailer: {}\r\n", "t".repeat(5000));
    assert_refused_small(
        &chunked_post(&format!("5\r\nhello\r\n0\r\n{trailer}\r\n")),
        431,
    );
}

#[test]
fn a_malformed_request_behind_a_valid_one_is_refused_after_it_is_answered() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    client.send(format!(
        "{}GET / HTTP/1.1\r\nHost: test\r\nContent-Length: 1, 2\r\n\r\n{SMUGGLED}",
        get("/")
    ));
    let first = client.response();
    assert_eq!((first.status, first.text()), (200, "ok"));
    assert_eq!(client.response().status, 400);
    client.assert_closed();
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

#[test]
fn a_bad_chunk_is_400_even_when_the_handler_does_not_read_the_body() {
    // The connection drains the unread body to find the next request, and
    // so finds the broken framing.
    assert_refused(
        "POST /unread HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello, world\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn a_body_cut_short_by_the_end_of_the_stream_is_400() {
    // The client promises 10 bytes, sends 5, and closes its side.
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    client.send("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello");
    client.shutdown_write();
    let response = client.response();
    assert_eq!(response.status, 400);
    client.assert_closed();
}

#[test]
fn a_chunked_body_cut_short_by_the_end_of_the_stream_is_400() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    client.send(chunked_post("5\r\nhello\r\n"));
    client.shutdown_write();
    let response = client.response();
    assert_eq!(response.status, 400);
    client.assert_closed();
}

// ---------------------------------------------------------------------------
// Limits.

#[test]
fn a_request_line_past_the_limit_is_414() {
    let uri = format!("/{}", "u".repeat(2000));
    assert_refused_small(&format!("GET {uri} HTTP/1.1\r\nHost: test\r\n\r\n"), 414);
}

#[test]
fn a_request_line_past_the_limit_is_414_before_it_ends() {
    // No CRLF yet: the server must not wait for the rest of the line.
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve_with(router(&hits), |b| b.limits(small_limits()));
    let mut client = server.connect();
    client.send(format!("GET /{}", "u".repeat(2000)));
    let response = client.response();
    assert_eq!(response.status, 414);
    client.assert_closed();
}

/// A `GET` whose request line (without its CRLF) is `len` bytes long.
fn get_with_line_of(len: usize) -> String {
    let fixed = "GET / HTTP/1.1".len();
    format!(
        "GET /{} HTTP/1.1\r\nHost: test\r\n\r\n",
        "u".repeat(len - fixed)
    )
}

#[test]
fn a_request_line_at_the_limit_is_served() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve_with(router(&hits), |b| b.limits(small_limits()));
    let mut client = server.connect();
    let response = client.request(get_with_line_of(small_limits().max_request_line));
    assert_eq!((response.status, response.text()), (200, "ok"));
    client.assert_serves();
}

#[test]
fn a_request_line_one_past_the_limit_is_414() {
    assert_refused_small(&get_with_line_of(small_limits().max_request_line + 1), 414);
}

/// A `GET` whose head (request line through the blank line) is `len`
/// bytes long, padded by one field.
fn get_with_head_of(len: usize) -> String {
    let fixed = "GET / HTTP/1.1\r\nHost: test\r\nX-Pad: \r\n\r\n".len();
    format!(
        "GET / HTTP/1.1\r\nHost: test\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(len - fixed)
    )
}

#[test]
fn a_head_at_the_default_limit_is_served() {
    // 64 KiB exactly: the connection's input buffer stops growing there.
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    let response = client.request(get_with_head_of(Limits::default().max_header_bytes));
    assert_eq!((response.status, response.text()), (200, "ok"));
    client.assert_serves();
}

#[test]
fn a_head_one_past_the_default_limit_is_431() {
    assert_refused(
        &get_with_head_of(Limits::default().max_header_bytes + 1),
        431,
    );
}

#[test]
fn a_head_at_a_small_limit_is_served_and_one_past_it_is_431() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve_with(router(&hits), |b| b.limits(small_limits()));
    let mut client = server.connect();
    let response = client.request(get_with_head_of(small_limits().max_header_bytes));
    assert_eq!(response.status, 200);
    client.assert_serves();
    let over = get_with_head_of(small_limits().max_header_bytes + 1);
    assert_refused_on(&server, &hits, over.as_bytes(), 431);
}

#[test]
fn a_header_section_past_the_limit_is_431() {
    let big = "v".repeat(5000);
    assert_refused_small(
        &format!("GET / HTTP/1.1\r\nHost: test\r\nX-Big: {big}\r\n\r\n"),
        431,
    );
}

#[test]
fn a_header_section_past_the_default_limit_is_431() {
    // 80 fields of 1,000 bytes: past the default 64 KiB.
    let mut request = String::from("GET / HTTP/1.1\r\nHost: test\r\n");
    for i in 0..80 {
        request.push_str(&format!("X-Field-{i}: {}\r\n", "v".repeat(1000)));
    }
    request.push_str("\r\n");
    assert_refused(&request, 431);
}

#[test]
fn too_many_fields_are_431() {
    let mut request = String::from("GET / HTTP/1.1\r\nHost: test\r\n");
    for i in 0..8 {
        request.push_str(&format!("X-{i}: v\r\n"));
    }
    request.push_str("\r\n");
    assert_refused_small(&request, 431);
}

#[test]
fn as_many_fields_as_the_limit_are_fine() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve_with(router(&hits), |b| b.limits(small_limits()));
    let mut request = String::from("GET / HTTP/1.1\r\nHost: test\r\n");
    for i in 0..7 {
        request.push_str(&format!("X-{i}: v\r\n"));
    }
    request.push_str("\r\n");
    let mut client = server.connect();
    assert_eq!(client.request(&request).status, 200);
    client.assert_serves();
}

#[test]
fn a_content_length_past_the_body_limit_is_413() {
    let body = "b".repeat(1025);
    assert_refused_small(
        &format!("POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 1025\r\n\r\n{body}"),
        413,
    );
}

#[test]
fn a_content_length_past_the_limit_with_expect_is_413_without_a_continue() {
    // The client waits for a 100 before it sends the body; it must get the
    // refusal instead.
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve_with(router(&hits), |b| b.limits(small_limits()));
    let mut client = server.connect();
    client.send(
        "POST / HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
    );
    let response = client.response();
    assert_eq!(response.status, 413);
    client.assert_closed();
}

#[test]
fn a_body_at_the_limit_is_accepted() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve_with(router(&hits), |b| b.limits(small_limits()));
    let mut client = server.connect();
    let response = client.request(util::post("/", &"b".repeat(1024)));
    assert_eq!((response.status, response.text()), (200, "read 1024"));
    client.assert_serves();
}

#[test]
fn a_chunked_body_growing_past_the_limit_is_413() {
    let chunk = format!("200\r\n{}\r\n", "c".repeat(0x200));
    assert_refused_small(
        &chunked_post(&format!("{chunk}{chunk}{chunk}0\r\n\r\n")),
        413,
    );
}

#[test]
fn a_chunked_body_growing_past_the_limit_is_413_when_read_through_read() {
    let hits = Arc::new(AtomicUsize::new(0));
    let mut r = router(&hits);
    r.post("/read", |req: &mut Request<'_>| {
        let mut sink = Vec::new();
        match req.body().read_to_end(&mut sink) {
            Ok(n) => Response::text(format!("read {n}")),
            Err(_) => Response::text("read failed"),
        }
    });
    let server = serve_with(r, |b| b.limits(small_limits()));
    let chunk = format!("200\r\n{}\r\n", "c".repeat(0x200));
    let request = format!(
        "POST /read HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}{chunk}0\r\n\r\n"
    );
    assert_refused_on(&server, &hits, request.as_bytes(), 413);
}

#[test]
fn an_unread_chunked_body_past_the_limit_is_413() {
    let chunk = format!("200\r\n{}\r\n", "c".repeat(0x200));
    assert_refused_small(
        &format!(
            "POST /unread HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}{chunk}0\r\n\r\n"
        ),
        413,
    );
}

#[test]
fn an_8000_byte_uri_is_served_under_the_default_limits() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    let response = client.request(get(&format!("/{}", "u".repeat(8000))));
    assert_eq!((response.status, response.text()), (200, "ok"));
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Fuzzing a live server.

/// The valid request the mutations start from.
const VALID: &[u8] = b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX: y\r\n\r\nhello";

/// Sends `input` on a fresh connection, closes the client's write side,
/// and reads everything until the server closes. Whatever the server sent
/// must be HTTP/1.1 responses; then a fresh connection must be served.
fn survives(server: &TestServer, input: &[u8]) -> Result<(), TestCaseError> {
    let mut client = server.connect();
    // The server may close before taking all of it; that is its right.
    let _ = client.try_send(input);
    client.shutdown_write();
    let answer = client.read_to_close();
    prop_assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 "),
        "not an HTTP/1.1 answer: {:?}",
        String::from_utf8_lossy(&answer)
    );
    let mut fresh = server.connect();
    let response = fresh.request(get("/"));
    prop_assert_eq!(response.status, 200);
    Ok(())
}

fn fuzz_server() -> TestServer {
    let mut r = Router::new();
    r.get("/", |_: &mut Request<'_>| "ok")
        .post("/a", |req: &mut Request<'_>| {
            req.body_bytes().map(|b| format!("read {}", b.len()))
        })
        .get("/{*rest}", |_: &mut Request<'_>| StatusCode::NO_CONTENT);
    serve_with(r, |b| {
        b.limits(small_limits()).timeouts(Timeouts {
            header: Duration::from_secs(2),
            body: Duration::from_secs(2),
            ..util::test_timeouts()
        })
    })
}

#[test]
fn random_bytes_never_take_the_server_down() {
    let server = fuzz_server();
    let mut runner = TestRunner::new(Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..300), |input| {
            survives(&server, &input)
        })
        .unwrap();
}

#[test]
fn mutated_requests_never_take_the_server_down() {
    let server = fuzz_server();
    let mut runner = TestRunner::new(Config {
        cases: 200,
        failure_persistence: None,
        ..Config::default()
    });
    let mutation = proptest::collection::vec((0..VALID.len(), any::<u8>()), 1..4);
    runner
        .run(&mutation, |changes| {
            let mut input = VALID.to_vec();
            for (at, byte) in changes {
                input[at] = byte;
            }
            survives(&server, &input)
        })
        .unwrap();
}
