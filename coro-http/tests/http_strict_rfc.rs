//! The RFC rules closed after `http_strict`, on a live server, in its
//! style: the `Host` authority (RFC 9110 §7.2, RFC 3986 §3.2), the
//! authority of absolute-form and `CONNECT` targets, chunk extensions
//! (RFC 9112 §7.1.1) and trailer field lines (§7.1.2), and refusals that
//! do not wait for a body nobody reads.
//!
//! Every refused request is sent with a valid request behind it in the
//! same write (`GET /secret`, which counts its hits): the test asserts the
//! exact status of the one answer, that it says `Connection: close`, that
//! the connection closed, and that `/secret` was never served.

mod util;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coro_http::{Request, Router, Timeouts};

use util::{assert_refused_on, chunked_post, serve, serve_with, TestServer, SMUGGLED};

/// Routes: `GET /` answers `ok`; `POST /` reads the whole body and answers
/// its length; `POST /unread` answers without reading it; `GET /secret`
/// counts its hits; `GET /only-get` is GET only; nothing else is routed.
fn router(hits: &Arc<AtomicUsize>) -> Router {
    let hits = Arc::clone(hits);
    let mut r = Router::new();
    r.get("/", |_: &mut Request<'_>| "ok")
        .post("/", |req: &mut Request<'_>| {
            req.body_bytes().map(|b| format!("read {}", b.len()))
        })
        .post("/unread", |_: &mut Request<'_>| "not read")
        .post("/forbidden", |_: &mut Request<'_>| {
            coro_http::StatusCode::FORBIDDEN
        })
        .post("/too-large", |_: &mut Request<'_>| {
            coro_http::StatusCode::PAYLOAD_TOO_LARGE
        })
        .get("/only-get", |_: &mut Request<'_>| "got")
        .get("/secret", move |_: &mut Request<'_>| {
            hits.fetch_add(1, Ordering::SeqCst);
            "secret"
        });
    r
}

fn assert_refused(request: &str, status: u16) {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    assert_refused_on(&server, &hits, request.as_bytes(), status);
}

/// Asserts that `request` is served with 200, and the connection too.
fn assert_served(request: &str) {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    let response = client.request(request);
    assert_eq!(
        response.status,
        200,
        "{request:?} was refused: {}",
        response.text()
    );
    client.assert_serves();
}

fn get_with_host(host: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")
}

// ---------------------------------------------------------------------------
// Host: an authority, `host[:port]`, and nothing else.

#[test]
fn a_host_with_userinfo_is_400() {
    assert_refused(&get_with_host("user@example.com"), 400);
}

#[test]
fn a_host_with_user_and_password_is_400() {
    assert_refused(&get_with_host("user:secret@example.com"), 400);
}

#[test]
fn a_host_with_an_empty_port_is_400() {
    assert_refused(&get_with_host("example.com:"), 400);
}

#[test]
fn a_host_with_a_non_digit_port_is_400() {
    assert_refused(&get_with_host("example.com:8o"), 400);
}

#[test]
fn a_host_with_a_port_past_65535_is_400() {
    assert_refused(&get_with_host("example.com:65536"), 400);
}

#[test]
fn a_host_with_two_ports_is_400() {
    assert_refused(&get_with_host("example.com:80:80"), 400);
}

#[test]
fn a_host_with_only_a_port_is_400() {
    assert_refused(&get_with_host(":80"), 400);
}

#[test]
fn an_empty_host_is_400() {
    assert_refused("GET / HTTP/1.1\r\nHost: \r\n\r\n", 400);
}

#[test]
fn a_bracketed_ip_literal_that_does_not_parse_is_400() {
    assert_refused(&get_with_host("[::g]"), 400);
}

#[test]
fn an_ipv4_address_in_brackets_is_400() {
    assert_refused(&get_with_host("[127.0.0.1]"), 400);
}

#[test]
fn an_unclosed_ip_literal_is_400() {
    assert_refused(&get_with_host("[::1"), 400);
}

#[test]
fn an_ip_literal_followed_by_junk_is_400() {
    assert_refused(&get_with_host("[::1]x"), 400);
}

#[test]
fn a_host_with_a_path_is_400() {
    assert_refused(&get_with_host("example.com/admin"), 400);
}

#[test]
fn a_host_with_a_space_inside_is_400() {
    assert_refused(&get_with_host("exa mple.com"), 400);
}

#[test]
fn a_host_with_a_bad_percent_escape_is_400() {
    assert_refused(&get_with_host("exa%zzmple.com"), 400);
}

#[test]
fn a_host_with_non_ascii_bytes_is_400() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    assert_refused_on(
        &server,
        &hits,
        b"GET / HTTP/1.1\r\nHost: ex\xc3\xa4mple.com\r\n\r\n",
        400,
    );
}

#[test]
fn an_invalid_host_on_http_1_0_is_400_too() {
    assert_refused("GET / HTTP/1.0\r\nHost: user@example.com\r\n\r\n", 400);
}

#[test]
fn valid_hosts_of_every_form_are_served() {
    for host in [
        "example.com",
        "example.com:8080",
        "127.0.0.1:80",
        "[::1]",
        "[2001:db8::1]:443",
        "[v1.fe80::a+en1]",
        "a%20b.example",
    ] {
        assert_served(&get_with_host(host));
    }
}

// ---------------------------------------------------------------------------
// The authority of other targets.

#[test]
fn an_absolute_form_target_with_userinfo_is_400() {
    assert_refused(
        "GET http://user@example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        400,
    );
}

#[test]
fn an_absolute_form_target_with_an_empty_host_is_400() {
    assert_refused("GET http:///x HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
}

#[test]
fn an_absolute_form_target_with_a_bad_port_is_400() {
    assert_refused(
        "GET http://example.com:x/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
        400,
    );
}

#[test]
fn a_valid_absolute_form_target_is_served() {
    assert_served("GET http://example.com:8080/?q HTTP/1.1\r\nHost: example.com\r\n\r\n");
}

#[test]
fn connect_with_an_origin_form_target_is_400() {
    assert_refused("CONNECT / HTTP/1.1\r\nHost: example.com\r\n\r\n", 400);
}

#[test]
fn connect_without_a_port_is_400() {
    assert_refused(
        "CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n\r\n",
        400,
    );
}

#[test]
fn connect_with_userinfo_is_400() {
    assert_refused(
        "CONNECT user@example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        400,
    );
}

// ---------------------------------------------------------------------------
// Transfer-Encoding.

#[test]
fn chunked_with_parameters_is_400() {
    // An intermediary matching `chunked` exactly would frame this body by
    // something else.
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn chunked_with_an_empty_parameter_is_400() {
    assert_refused(
        "POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked;\r\n\r\n0\r\n\r\n",
        400,
    );
}

// ---------------------------------------------------------------------------
// Chunk extensions: `;` name [ `=` token / quoted-string ].

#[test]
fn a_bare_semicolon_extension_is_400() {
    assert_refused(&chunked_post("5;\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_semicolon_and_whitespace_without_a_name_is_400() {
    assert_refused(&chunked_post("5; \r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn two_semicolons_are_400() {
    assert_refused(&chunked_post("5;;a\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn an_extension_with_a_value_but_no_name_is_400() {
    assert_refused(&chunked_post("5;=x\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn an_extension_with_an_equals_sign_and_no_value_is_400() {
    assert_refused(&chunked_post("5;a=\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn an_unclosed_quoted_extension_value_is_400() {
    assert_refused(&chunked_post("5;ext=\"x\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_quoted_value_ending_in_an_escaped_quote_is_400() {
    assert_refused(&chunked_post("5;ext=\"x\\\"\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn junk_after_a_quoted_extension_value_is_400() {
    assert_refused(&chunked_post("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn an_extension_name_with_a_non_token_character_is_400() {
    assert_refused(&chunked_post("5;a@b\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn an_extension_value_with_a_non_token_character_is_400() {
    assert_refused(&chunked_post("5;a=b\"c\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn an_extension_value_of_two_tokens_is_400() {
    assert_refused(&chunked_post("5;a=b c\r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn whitespace_after_an_extension_before_the_line_end_is_400() {
    assert_refused(&chunked_post("5;a=b \r\nhello\r\n0\r\n\r\n"), 400);
}

#[test]
fn a_bad_extension_on_the_last_chunk_is_400() {
    assert_refused(&chunked_post("5\r\nhello\r\n0;\r\n\r\n"), 400);
}

#[test]
fn a_bad_extension_is_400_when_the_handler_does_not_read_the_body() {
    assert_refused(
        "POST /unread HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn chunk_extensions_past_their_limit_for_one_body_are_400() {
    // One byte of data behind each kilobyte of extension: every line is
    // within its own limit, the body is not.
    let chunk = format!("1;x={}\r\nd\r\n", "e".repeat(1000));
    assert_refused(
        &chunked_post(&format!("{}0\r\n\r\n", chunk.repeat(17))),
        400,
    );
}

#[test]
fn valid_extensions_of_every_form_are_served() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = serve(router(&hits));
    let mut client = server.connect();
    let body =
        "5;a\r\nhello\r\n1 ; b = c ;d=\"q \\\" ;\"\r\n!\r\n3;e=\"\";f=g\r\nabc\r\n0;last\r\n\r\n";
    let response = client.request(chunked_post(body));
    assert_eq!((response.status, response.text()), (200, "read 9"));
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Trailer fields: field lines like those of the head.

#[test]
fn a_trailer_line_without_a_colon_is_400() {
    assert_refused(&chunked_post("5\r\nhello\r\n0\r\nX-Trailer\r\n\r\n"), 400);
}

#[test]
fn a_trailer_with_a_space_before_the_colon_is_400() {
    assert_refused(&chunked_post("5\r\nhello\r\n0\r\nX-T : 1\r\n\r\n"), 400);
}

#[test]
fn an_obs_folded_trailer_is_400() {
    assert_refused(
        &chunked_post("5\r\nhello\r\n0\r\nX-T: 1\r\n folded\r\n\r\n"),
        400,
    );
}

#[test]
fn a_trailer_with_an_empty_name_is_400() {
    assert_refused(&chunked_post("5\r\nhello\r\n0\r\n: 1\r\n\r\n"), 400);
}

#[test]
fn a_trailer_value_with_a_control_character_is_400() {
    assert_refused(
        &chunked_post("5\r\nhello\r\n0\r\nX-T: a\u{1}b\r\n\r\n"),
        400,
    );
}

#[test]
fn valid_trailers_are_served() {
    assert_served(&chunked_post(
        "5\r\nhello\r\n0\r\nX-T: 1\r\nX-Empty:\r\nX-Tab:\ta b\r\n\r\n",
    ));
}

// ---------------------------------------------------------------------------
// A refusal does not wait for the body.

/// A server whose body timeout is far past the client's read timeout
/// ([`util::READ_TIMEOUT`]): an answer that waited for a stalled body
/// would fail the client's read.
fn patient_server(hits: &Arc<AtomicUsize>) -> TestServer {
    serve_with(router(hits), |b| {
        b.timeouts(Timeouts {
            body: Duration::from_secs(60),
            ..util::test_timeouts()
        })
    })
}

/// Sends the head of a request and part of its body, which then stalls,
/// and asserts that `status` comes, says close, and the connection
/// closes, all without the rest of the body.
fn assert_answered_without_the_body(request_head: &str, status: u16) {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = patient_server(&hits);
    let mut client = server.connect();
    client.send(format!("{request_head}hello"));
    let response = client.response();
    assert_eq!(response.status, status, "{}", response.text());
    assert!(response.says_close(), "the body is not read: close");
    client.assert_closed();
}

#[test]
fn a_405_with_a_stalled_body_is_answered_at_once_and_closes() {
    assert_answered_without_the_body(
        "POST /only-get HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n",
        405,
    );
}

#[test]
fn a_404_with_a_stalled_body_is_answered_at_once_and_closes() {
    assert_answered_without_the_body(
        "POST /nowhere HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n",
        404,
    );
}

#[test]
fn a_405_with_a_stalled_chunked_body_is_answered_at_once_and_closes() {
    assert_answered_without_the_body(
        "POST /only-get HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n",
        405,
    );
}

#[test]
fn a_handlers_own_refusal_with_a_stalled_body_is_answered_at_once() {
    assert_answered_without_the_body(
        "POST /forbidden HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n",
        403,
    );
    assert_answered_without_the_body(
        "POST /too-large HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n",
        413,
    );
}

#[test]
fn a_405_whose_body_came_with_the_head_keeps_the_connection() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = patient_server(&hits);
    let mut client = server.connect();
    client.send(format!(
        "POST /only-get HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello{SMUGGLED}"
    ));
    let response = client.response();
    assert_eq!(response.status, 405);
    assert!(!response.says_close());
    let next = client.response();
    assert_eq!((next.status, next.text()), (200, "secret"));
    client.assert_serves();
}

#[test]
fn a_405_whose_chunked_body_came_with_the_head_keeps_the_connection() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = patient_server(&hits);
    let mut client = server.connect();
    client.send(format!(
        "POST /only-get HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{SMUGGLED}"
    ));
    assert_eq!(client.response().status, 405);
    let next = client.response();
    assert_eq!((next.status, next.text()), (200, "secret"));
    client.assert_serves();
}

#[test]
fn a_405_with_a_broken_chunked_body_is_400() {
    // The buffered body is drained, so the broken framing is found and
    // answered instead of the 405.
    let hits = Arc::new(AtomicUsize::new(0));
    let server = patient_server(&hits);
    assert_refused_on(
        &server,
        &hits,
        b"POST /only-get HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello, world\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn a_405_to_a_client_waiting_for_100_continue_closes_without_the_body() {
    let hits = Arc::new(AtomicUsize::new(0));
    let server = patient_server(&hits);
    let mut client = server.connect();
    client.send(
        "POST /only-get HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n",
    );
    let response = client.response();
    assert_eq!(response.status, 405);
    assert!(response.says_close());
    client.assert_closed();
}
