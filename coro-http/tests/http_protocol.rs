//! The protocol on a live server: persistent connections, pipelining,
//! HEAD, `Expect: 100-continue`, request and response bodies in every
//! framing, the `Date` and `Server` fields, routing, and the `http` and
//! JSON conversions. Each test asserts the exact status and whether the
//! connection stays open.

mod util;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use coro_http::{Body, HeaderName, HeaderValue, Request, Response, Router, StatusCode};

use util::{get, post, serve, serve_with, Client};

/// `/path/{*p}` echoes the path; `POST /echo` echoes the body read whole;
/// `POST /read` echoes it read through `std::io::Read` in small pieces;
/// `/text` answers a fixed body.
fn router() -> Router {
    let mut r = Router::new();
    r.get("/text", |_: &mut Request<'_>| "hello, world")
        .get("/path/{*p}", |req: &mut Request<'_>| req.path().to_string())
        .post("/echo", |req: &mut Request<'_>| {
            req.body_bytes().map(Response::bytes)
        })
        .post("/read", |req: &mut Request<'_>| {
            let mut body = Vec::new();
            let mut piece = [0u8; 3];
            loop {
                match req.body().read(&mut piece) {
                    Ok(0) => return Response::bytes(body),
                    Ok(n) => body.extend_from_slice(&piece[..n]),
                    Err(e) => return Response::text(e.to_string()).status(StatusCode::BAD_REQUEST),
                }
            }
        })
        .post("/ignore", |_: &mut Request<'_>| "ignored");
    r
}

// ---------------------------------------------------------------------------
// Persistent connections.

#[test]
fn http_1_1_keeps_the_connection_alive() {
    let server = serve(router());
    let mut client = server.connect();
    let first = client.request(get("/text"));
    assert_eq!((first.status, first.text()), (200, "hello, world"));
    assert_eq!(first.header("connection"), None);
    let second = client.request(get("/path/two"));
    assert_eq!((second.status, second.text()), (200, "/path/two"));
    client.assert_serves();
}

#[test]
fn connection_close_is_honoured() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request("GET /text HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection"), Some("close"));
    client.assert_closed();
}

#[test]
fn connection_close_among_other_options_is_honoured() {
    let server = serve(router());
    let mut client = server.connect();
    let response =
        client.request("GET /text HTTP/1.1\r\nHost: test\r\nConnection: upgrade, Close\r\n\r\n");
    assert_eq!(response.status, 200);
    assert!(response.says_close());
    client.assert_closed();
}

#[test]
fn a_handlers_connection_close_closes() {
    let mut r = router();
    r.get("/bye", |_: &mut Request<'_>| {
        Response::text("bye").header(
            HeaderName::from_static("connection"),
            HeaderValue::from_static("close"),
        )
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/bye"));
    assert_eq!((response.status, response.text()), (200, "bye"));
    assert!(response.says_close());
    client.assert_closed();
}

#[test]
fn http_1_0_closes_by_default() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request("GET /text HTTP/1.0\r\n\r\n");
    assert_eq!((response.status, response.text()), (200, "hello, world"));
    assert_eq!(response.header("connection"), Some("close"));
    client.assert_closed();
}

#[test]
fn http_1_0_keeps_alive_when_asked() {
    let server = serve(router());
    let mut client = server.connect();
    let first = client.request("GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("connection"), Some("keep-alive"));
    let second = client.request("GET /path/b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_eq!((second.status, second.text()), (200, "/path/b"));
    assert_eq!(second.header("connection"), Some("keep-alive"));
    // Without asking again, the connection closes after the next answer.
    let third = client.request("GET /text HTTP/1.0\r\n\r\n");
    assert_eq!(third.status, 200);
    assert!(third.says_close());
    client.assert_closed();
}

// ---------------------------------------------------------------------------
// Later minor versions: `HTTP/1.2` to `HTTP/1.9` are served as 1.1 (RFC 9110
// §2.5).

/// `router()` with `/version`, which answers the version the handler sees.
fn versioned() -> Router {
    let mut r = router();
    r.get("/version", |req: &mut Request<'_>| {
        format!("{:?}", req.version())
    });
    r
}

#[test]
fn http_1_2_to_1_9_are_served_as_1_1() {
    let server = serve(versioned());
    let mut client = server.connect();
    for minor in 2..=9 {
        // The client checks that the status line says HTTP/1.1.
        let response = client.request(format!("GET /version HTTP/1.{minor}\r\nHost: test\r\n\r\n"));
        assert_eq!(
            (response.status, response.text()),
            (200, "HTTP/1.1"),
            "HTTP/1.{minor}"
        );
        // Persistent by default, as in 1.1.
        assert_eq!(response.header("connection"), None, "HTTP/1.{minor}");
    }
    client.assert_serves();
}

#[test]
fn http_1_2_connection_close_is_honoured() {
    let server = serve(versioned());
    let mut client = server.connect();
    let response =
        client.request("GET /version HTTP/1.2\r\nHost: test\r\nConnection: close\r\n\r\n");
    assert_eq!((response.status, response.text()), (200, "HTTP/1.1"));
    assert!(response.says_close());
    client.assert_closed();
}

#[test]
fn a_chunked_http_1_2_request_and_the_one_behind_it_are_served() {
    let server = serve(versioned());
    let mut client = server.connect();
    client.send(format!(
        "POST /echo HTTP/1.2\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n{}",
        get("/path/behind")
    ));
    let first = client.response();
    assert_eq!((first.status, first.text()), (200, "hello"));
    let second = client.response();
    assert_eq!((second.status, second.text()), (200, "/path/behind"));
    client.assert_serves();
}

#[test]
fn a_streamed_response_to_http_1_2_is_chunked() {
    let mut r = versioned();
    r.get("/stream", |_: &mut Request<'_>| {
        Response::stream(|w: &mut dyn Write| w.write_all(b"streamed"))
    });
    let server = serve(r);
    let mut client = server.connect();
    // HTTP/1.0 would get the body until the close; 1.2 is 1.1 here.
    let response = client.request("GET /stream HTTP/1.2\r\nHost: test\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.text(), "streamed");
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Pipelining.

#[test]
fn sixteen_pipelined_requests_are_answered_in_order() {
    let server = serve(router());
    let mut client = server.connect();
    let batch: String = (0..16).map(|i| get(&format!("/path/{i}"))).collect();
    client.send(batch);
    for i in 0..16 {
        let response = client.response();
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), format!("/path/{i}"));
    }
    client.assert_serves();
}

#[test]
fn pipelined_requests_with_bodies_are_answered_in_order() {
    let server = serve(router());
    let mut client = server.connect();
    let mut batch = String::new();
    for i in 0..8 {
        let body = format!("body-{i}-{}", "x".repeat(i * 100));
        if i % 2 == 0 {
            batch.push_str(&post("/echo", &body));
        } else {
            batch.push_str(&format!(
                "POST /read HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            ));
        }
    }
    // A request whose body the handler leaves unread is drained, and the
    // one after it still parses.
    batch.push_str(&post("/ignore", "left unread"));
    batch.push_str(&get("/path/last"));
    client.send(batch);
    for i in 0..8 {
        let response = client.response();
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), format!("body-{i}-{}", "x".repeat(i * 100)));
    }
    assert_eq!(client.response().text(), "ignored");
    assert_eq!(client.response().text(), "/path/last");
    client.assert_serves();
}

#[test]
fn a_large_response_in_a_pipeline_keeps_its_place() {
    let mut r = router();
    r.get("/big", |_: &mut Request<'_>| "B".repeat(100_000));
    let server = serve(r);
    let mut client = server.connect();
    client.send(format!(
        "{}{}{}",
        get("/path/1"),
        get("/big"),
        get("/path/3")
    ));
    assert_eq!(client.response().text(), "/path/1");
    let big = client.response();
    assert_eq!(big.status, 200);
    assert_eq!(big.body.len(), 100_000);
    assert!(big.body.iter().all(|&b| b == b'B'));
    assert_eq!(client.response().text(), "/path/3");
    client.assert_serves();
}

#[test]
fn nothing_behind_a_pipelined_close_is_served() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let mut r = router();
    r.get("/count", move |_: &mut Request<'_>| {
        seen.fetch_add(1, Ordering::SeqCst);
        "counted"
    });
    let server = serve(r);
    let mut client = server.connect();
    client.send(format!(
        "{}GET /path/x HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n{}",
        get("/path/w"),
        get("/count")
    ));
    assert_eq!(client.response().text(), "/path/w");
    let closing = client.response();
    assert_eq!(closing.text(), "/path/x");
    assert!(closing.says_close());
    client.assert_closed();
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[test]
fn a_request_followed_by_a_half_close_is_answered() {
    let server = serve(router());
    let mut client = server.connect();
    client.send(format!("{}{}", get("/path/1"), get("/path/2")));
    client.shutdown_write();
    assert_eq!(client.response().text(), "/path/1");
    assert_eq!(client.response().text(), "/path/2");
    client.assert_closed();
}

#[test]
fn a_pipelined_request_split_across_writes_is_served() {
    let server = serve(router());
    let mut client = server.connect();
    let both = format!("{}{}", get("/path/a"), get("/path/b"));
    let (left, right) = both.split_at(both.len() / 2 + 3);
    client.send(left);
    assert_eq!(client.response().text(), "/path/a");
    client.send(right);
    assert_eq!(client.response().text(), "/path/b");
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// HEAD.

#[test]
fn head_gets_the_get_fields_and_no_body() {
    let server = serve(router());
    let mut client = server.connect();
    let got = client.request(get("/text"));
    // The GET behind the HEAD parses only if the HEAD answer had no body.
    client.send(format!(
        "HEAD /text HTTP/1.1\r\nHost: test\r\n\r\n{}",
        get("/path/after")
    ));
    let head = client.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("12"));
    assert_eq!(head.header("content-length"), got.header("content-length"));
    assert_eq!(head.header("content-type"), got.header("content-type"));
    let after = client.response();
    assert_eq!((after.status, after.text()), (200, "/path/after"));
    client.assert_serves();
}

#[test]
fn head_of_a_streamed_response_has_no_body() {
    let mut r = router();
    r.get("/stream", |_: &mut Request<'_>| {
        Response::stream(|w: &mut dyn Write| w.write_all(b"never sent to HEAD"))
    });
    let server = serve(r);
    let mut client = server.connect();
    client.send(format!(
        "HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n{}",
        get("/path/after")
    ));
    let head = client.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), None);
    assert_eq!(client.response().text(), "/path/after");
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Expect: 100-continue.

#[test]
fn continue_is_sent_when_the_handler_reads_the_body() {
    let server = serve(router());
    let mut client = server.connect();
    // The client holds the body back until it sees the 100.
    client.send(
        "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    let interim = client.response();
    assert_eq!((interim.status, interim.reason.as_str()), (100, "Continue"));
    client.send("hello");
    let response = client.response();
    assert_eq!((response.status, response.text()), (200, "hello"));
    client.assert_serves();
}

#[test]
fn continue_is_sent_before_a_chunked_body_too() {
    let server = serve(router());
    let mut client = server.connect();
    client.send(
        "POST /read HTTP/1.1\r\nHost: test\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(client.response().status, 100);
    client.send("5\r\nhello\r\n0\r\n\r\n");
    let response = client.response();
    assert_eq!((response.status, response.text()), (200, "hello"));
    client.assert_serves();
}

#[test]
fn continue_follows_the_answers_pipelined_before_it() {
    let server = serve(router());
    let mut client = server.connect();
    client.send(format!(
        "{}POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        get("/path/first")
    ));
    assert_eq!(client.response().text(), "/path/first");
    assert_eq!(client.response().status, 100);
    client.send("hello");
    assert_eq!(client.response().text(), "hello");
    client.assert_serves();
}

#[test]
fn continue_is_not_sent_when_the_handler_does_not_read() {
    let server = serve(router());
    let mut client = server.connect();
    client.send(
        "POST /ignore HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    // The first thing back is the final answer; the body was never
    // invited, so the connection cannot be reused.
    let response = client.response();
    assert_eq!((response.status, response.text()), (200, "ignored"));
    assert!(response.says_close());
    client.assert_closed();
}

#[test]
fn continue_is_never_sent_to_http_1_0() {
    let server = serve(router());
    let mut client = server.connect();
    client.send("POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello");
    let response = client.response();
    assert_eq!((response.status, response.text()), (200, "hello"));
    client.assert_closed();
}

#[test]
fn continue_is_not_sent_for_a_request_without_a_body() {
    let server = serve(router());
    let mut client = server.connect();
    client.send(
        "POST /echo HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
    );
    let response = client.response();
    assert_eq!((response.status, response.text()), (200, ""));
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Request bodies.

#[test]
fn a_content_length_body_reads_through_read() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request(post("/read", "some body bytes"));
    assert_eq!((response.status, response.text()), (200, "some body bytes"));
    client.assert_serves();
}

#[test]
fn a_content_length_body_reads_through_body_bytes() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request(post("/echo", "some body bytes"));
    assert_eq!((response.status, response.text()), (200, "some body bytes"));
    client.assert_serves();
}

#[test]
fn a_large_body_arriving_in_pieces_reads_whole() {
    let server = serve(router());
    let mut client = server.connect();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    client.send(format!(
        "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    for piece in body.chunks(30_000) {
        client.send(piece);
    }
    let response = client.response();
    assert_eq!(response.status, 200);
    assert!(response.body == body, "the body came back changed");
    client.assert_serves();
}

/// A chunked body with extensions and trailers: "hello, chunked world".
const CHUNKED_BODY: &str =
    "5;ext=1\r\nhello\r\n2 ; a=\"b\"\r\n, \r\nD\r\nchunked world\r\n0;last\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n";

#[test]
fn a_chunked_body_with_extensions_and_trailers_reads_through_read() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request(format!(
        "POST /read HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n{CHUNKED_BODY}"
    ));
    assert_eq!(
        (response.status, response.text()),
        (200, "hello, chunked world")
    );
    client.assert_serves();
}

#[test]
fn a_chunked_body_with_extensions_and_trailers_reads_through_body_bytes() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request(format!(
        "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n{CHUNKED_BODY}"
    ));
    assert_eq!(
        (response.status, response.text()),
        (200, "hello, chunked world")
    );
    client.assert_serves();
}

#[test]
fn a_chunked_body_sent_byte_by_byte_reads_whole() {
    let server = serve(router());
    let mut client = server.connect();
    client.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    for b in CHUNKED_BODY.bytes() {
        client.send([b]);
    }
    let response = client.response();
    assert_eq!(
        (response.status, response.text()),
        (200, "hello, chunked world")
    );
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Response bodies.

#[test]
fn a_streamed_response_arrives_chunked() {
    let mut r = router();
    r.get("/stream", |_: &mut Request<'_>| {
        Response::stream(|w: &mut dyn Write| {
            for piece in ["one ", "two ", "", "three"] {
                w.write_all(piece.as_bytes())?;
            }
            w.write_all(&vec![b'z'; 40_000])
        })
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/stream"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.header("content-length"), None);
    let mut want = b"one two three".to_vec();
    want.extend_from_slice(&vec![b'z'; 40_000]);
    assert!(response.body == want, "the streamed body came back changed");
    assert_eq!(response.chunks.as_deref(), Some(&[4, 4, 5, 40_000][..]));
    client.assert_serves();
}

#[test]
fn a_streamed_response_fed_by_a_channel_arrives_whole() {
    let mut r = router();
    r.get("/feed", |_: &mut Request<'_>| {
        let (tx, rx) = coro::chan::bounded::<String>(1);
        coro::spawn(move || {
            for i in 0..20 {
                coro::sleep(Duration::from_millis(1));
                if tx.send(format!("piece {i}\n")).is_err() {
                    return;
                }
            }
        });
        Response::stream(move |w: &mut dyn Write| {
            for piece in rx.iter() {
                w.write_all(piece.as_bytes())?;
            }
            Ok(())
        })
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/feed"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let want: String = (0..20).map(|i| format!("piece {i}\n")).collect();
    assert_eq!(response.text(), want);
    assert_eq!(response.chunks.as_ref().map(Vec::len), Some(20));
    client.assert_serves();
}

#[test]
fn a_streamed_response_to_http_1_0_is_sent_until_the_close() {
    let mut r = router();
    r.get("/stream", |_: &mut Request<'_>| {
        Response::stream(|w: &mut dyn Write| {
            w.write_all(b"first, ")?;
            w.write_all(b"second")
        })
    });
    let server = serve(r);
    let mut client = server.connect();
    // Even a 1.0 client that asks to keep the connection gets a close:
    // the close is what ends the body.
    let response = client.request("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.header("content-length"), None);
    assert!(response.says_close());
    assert!(response.until_close);
    assert_eq!(response.text(), "first, second");
    client.assert_closed();
}

#[test]
fn a_large_unread_body_closes_the_connection() {
    // Too large to drain: the answer goes out and the connection closes
    // rather than reading a quarter megabyte nobody wants.
    let server = serve(router());
    let mut client = server.connect();
    client.send("POST /ignore HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n");
    let response = client.response();
    assert_eq!((response.status, response.text()), (200, "ignored"));
    assert!(response.says_close());
    client.assert_closed();
}

#[test]
fn a_streamed_response_that_fails_is_cut_short() {
    // A body that fails must not look complete: no last chunk, and the
    // connection closes.
    let mut r = router();
    r.get("/fails", |_: &mut Request<'_>| {
        Response::stream(|w: &mut dyn Write| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("the producer failed"))
        })
    });
    let server = serve(r);
    let mut client = server.connect();
    client.send(get("/fails"));
    let answer = client.read_to_close();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.ends_with("7\r\npartial\r\n"), "{answer:?}");
}

#[test]
fn a_streamed_response_that_panics_is_cut_short() {
    let mut r = router();
    r.get("/panics", |_: &mut Request<'_>| {
        Response::stream(|w: &mut dyn Write| {
            w.write_all(b"partial")?;
            panic!("the producer panics (on purpose, in a test)")
        })
    });
    let server = serve(r);
    let mut client = server.connect();
    client.send(get("/panics"));
    let answer = client.read_to_close();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert!(answer.ends_with("7\r\npartial\r\n"), "{answer:?}");
    let mut other = server.connect();
    assert_eq!(other.request(get("/text")).status, 200);
}

#[test]
fn a_reader_body_of_unknown_length_arrives_chunked() {
    let mut r = router();
    r.get("/reader", |_: &mut Request<'_>| {
        Response::new(StatusCode::OK).body(Body::from_reader(&b"from a reader"[..], None))
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/reader"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    assert_eq!(response.text(), "from a reader");
    client.assert_serves();
}

/// A file in the temporary directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_file_response_has_its_length() {
    let path = std::env::temp_dir().join(format!(
        "coro-http-file-response-{}.bin",
        std::process::id()
    ));
    let contents: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 256) as u8).collect();
    std::fs::write(&path, &contents).unwrap();
    let file = TempFile(path.clone());
    let mut r = router();
    r.get("/file", move |_: &mut Request<'_>| {
        Response::file(std::fs::File::open(&path).unwrap()).unwrap()
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/file"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("100000"));
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(response.body == contents, "the file came back changed");
    client.assert_serves();
    drop(file);
}

#[test]
fn a_no_content_response_has_no_body_and_no_length() {
    let mut r = router();
    r.get("/none", |_: &mut Request<'_>| {
        Response::text("dropped").status(StatusCode::NO_CONTENT)
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/none"));
    assert_eq!(response.status, 204);
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.header("transfer-encoding"), None);
    client.assert_serves();
}

#[test]
fn a_handlers_framing_fields_are_replaced_by_the_servers() {
    let mut r = router();
    r.get("/lies", |_: &mut Request<'_>| {
        Response::text("four")
            .header(
                HeaderName::from_static("content-length"),
                HeaderValue::from_static("100"),
            )
            .header(
                HeaderName::from_static("transfer-encoding"),
                HeaderValue::from_static("chunked"),
            )
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/lies"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("4"));
    assert_eq!(response.header("transfer-encoding"), None);
    assert_eq!(response.text(), "four");
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Date and Server.

#[test]
fn date_is_present_and_valid() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request(get("/text"));
    let date = response.header("date").expect("a Date field");
    let when = httpdate::parse_http_date(date).expect("an HTTP date");
    assert_eq!(httpdate::fmt_http_date(when), date, "not an IMF-fixdate");
    // Generous: only a wrong clock or a stale cache is this far off.
    let now = SystemTime::now();
    let off = now.duration_since(when).unwrap_or_else(|e| e.duration());
    assert!(off < Duration::from_secs(600), "Date {date} is {off:?} off");
    client.assert_serves();
}

/// Heads are reused while a response has the shape of the last one
/// (`head_cache`): a run of responses on one connection, in one second,
/// that differ in content type, length, status, version or closing must
/// each carry its own fields, once each.
#[test]
fn responses_in_a_row_each_get_their_own_head() {
    let mut r = router();
    r.get("/bytes", |_: &mut Request<'_>| {
        Response::bytes(b"hello, world".to_vec())
    })
    .get("/long", |_: &mut Request<'_>| "hello, world!");
    let server = serve(r);
    let mut client = server.connect();
    let one = |path: &str, extra: &str, version: &str| {
        format!("GET {path} HTTP/{version}\r\nHost: test\r\n{extra}\r\n")
    };
    client.send(
        [
            one("/text", "", "1.1"),
            one("/text", "", "1.1"),
            one("/long", "", "1.1"),
            one("/bytes", "", "1.1"),
            one("/nowhere", "", "1.1"),
            one("/text", "Connection: keep-alive\r\n", "1.0"),
            one("/text", "", "1.1"),
            one("/text", "Connection: close\r\n", "1.1"),
        ]
        .concat(),
    );
    let text = Some("text/plain; charset=utf-8");
    // Status, content type (`None`: the error's own), body, `Connection`.
    let expected = [
        (200, text, "hello, world", None),
        (200, text, "hello, world", None),
        (200, text, "hello, world!", None),
        (200, Some("application/octet-stream"), "hello, world", None),
        (404, None, "", None),
        (200, text, "hello, world", Some("keep-alive")),
        (200, text, "hello, world", None),
        (200, text, "hello, world", Some("close")),
    ];
    for (i, (status, content_type, body, connection)) in expected.into_iter().enumerate() {
        let response = client.response();
        assert_eq!(response.status, status, "response {i}");
        if status == 200 {
            assert_eq!(
                response.header("content-type"),
                content_type,
                "response {i}"
            );
            assert_eq!(response.text(), body, "response {i}");
        }
        let length = response.body.len().to_string();
        assert_eq!(
            response.header("content-length"),
            Some(length.as_str()),
            "response {i}"
        );
        assert_eq!(response.header("connection"), connection, "response {i}");
        for name in ["server", "date", "content-length", "content-type"] {
            assert_eq!(
                response.headers_named(name).count(),
                1,
                "response {i}: {name}"
            );
        }
    }
    client.assert_closed();
}

#[test]
fn server_is_coro_by_default() {
    let server = serve(router());
    let mut client = server.connect();
    let response = client.request(get("/text"));
    assert_eq!(response.header("server"), Some("coro"));
    client.assert_serves();
}

#[test]
fn server_name_is_configurable() {
    let server = serve_with(router(), |b| b.server_name(Some("test-server/1.0")));
    let mut client = server.connect();
    let response = client.request(get("/text"));
    assert_eq!(response.header("server"), Some("test-server/1.0"));
    client.assert_serves();
}

#[test]
fn server_name_none_sends_no_server_field() {
    let server = serve_with(router(), |b| b.server_name(None));
    let mut client = server.connect();
    let response = client.request(get("/text"));
    assert_eq!(response.status, 200);
    assert_eq!(response.header("server"), None);
    client.assert_serves();
}

#[test]
fn a_handlers_server_field_wins() {
    let mut r = router();
    r.get("/own", |_: &mut Request<'_>| {
        Response::text("own").header(
            HeaderName::from_static("server"),
            HeaderValue::from_static("mine"),
        )
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/own"));
    assert_eq!(response.header("server"), Some("mine"));
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// Routing.

fn routed() -> Router {
    let mut r = Router::new();
    r.get("/users/{id}", |req: &mut Request<'_>| {
        format!("user {}", req.param("id").unwrap())
    })
    .post("/users/{id}", |_: &mut Request<'_>| StatusCode::CREATED)
    .get("/users/{id}/posts/{post}", |req: &mut Request<'_>| {
        let params: Vec<String> = req.params().map(|(k, v)| format!("{k}={v}")).collect();
        params.join("&")
    })
    .get("/static/{*path}", |req: &mut Request<'_>| {
        format!("file {}", req.param("path").unwrap())
    })
    .get("/query", |req: &mut Request<'_>| {
        req.query().unwrap_or("none").to_string()
    });
    r
}

#[test]
fn an_unknown_path_is_404() {
    let server = serve(routed());
    let mut client = server.connect();
    let response = client.request(get("/nowhere"));
    assert_eq!(response.status, 404);
    client.assert_serves();
}

#[test]
fn an_unrouted_method_is_405_with_allow() {
    let server = serve(routed());
    let mut client = server.connect();
    let response = client.request("DELETE /users/7 HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(response.status, 405);
    let mut allow: Vec<&str> = response
        .header("allow")
        .expect("an Allow field")
        .split(',')
        .map(str::trim)
        .collect();
    allow.sort_unstable();
    assert_eq!(allow, ["GET", "HEAD", "POST"]);
    client.assert_serves();
}

#[test]
fn path_parameters_bind() {
    let server = serve(routed());
    let mut client = server.connect();
    let response = client.request(get("/users/42"));
    assert_eq!((response.status, response.text()), (200, "user 42"));
    let response = client.request(get("/users/7/posts/99?x=1"));
    assert_eq!((response.status, response.text()), (200, "id=7&post=99"));
    let response = client.request(post("/users/3", ""));
    assert_eq!(response.status, 201);
    client.assert_serves();
}

#[test]
fn a_catch_all_binds_the_rest_of_the_path() {
    let server = serve(routed());
    let mut client = server.connect();
    let response = client.request(get("/static/css/site.css?v=2"));
    assert_eq!(
        (response.status, response.text()),
        (200, "file css/site.css")
    );
    client.assert_serves();
}

#[test]
fn path_parameters_are_percent_decoded() {
    let server = serve(routed());
    let mut client = server.connect();
    let response = client.request(get("/users/J%C3%BCrgen"));
    assert_eq!((response.status, response.text()), (200, "user Jürgen"));
    let response = client.request(get("/users/a%2Fb"));
    assert_eq!((response.status, response.text()), (200, "user a/b"));
    let response = client.request(get("/users/7/posts/hello%20world?x=%41"));
    assert_eq!(
        (response.status, response.text()),
        (200, "id=7&post=hello world")
    );
    // `+` is a space only in form-encoded queries, not in a path.
    let response = client.request(get("/users/a+b"));
    assert_eq!((response.status, response.text()), (200, "user a+b"));
    client.assert_serves();
}

#[test]
fn a_catch_all_is_percent_decoded() {
    let server = serve(routed());
    let mut client = server.connect();
    let response = client.request(get("/static/a%2Fb"));
    assert_eq!((response.status, response.text()), (200, "file a/b"));
    let response = client.request(get("/static/my%20docs/r%C3%A9sum%C3%A9.pdf"));
    assert_eq!(
        (response.status, response.text()),
        (200, "file my docs/résumé.pdf")
    );
    client.assert_serves();
}

#[test]
fn the_path_stays_as_sent_while_its_parameter_decodes() {
    let mut r = routed();
    r.get("/raw/{x}", |req: &mut Request<'_>| {
        format!("{} {}", req.path(), req.param("x").unwrap())
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(get("/raw/J%C3%BCrgen"));
    assert_eq!(
        (response.status, response.text()),
        (200, "/raw/J%C3%BCrgen Jürgen")
    );
    client.assert_serves();
}

/// `routed()` with `/count/{x}`, whose handler counts its calls.
fn counting(calls: &Arc<AtomicUsize>) -> Router {
    let calls = Arc::clone(calls);
    let mut r = routed();
    r.get("/count/{x}", move |_: &mut Request<'_>| {
        calls.fetch_add(1, Ordering::SeqCst);
        "counted"
    });
    r
}

#[test]
fn a_path_parameter_that_does_not_decode_is_400_and_the_connection_stays_open() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = serve(counting(&calls));
    let mut client = server.connect();
    for path in [
        "/count/%zz",
        "/count/%4",
        "/count/a%",
        "/count/%FF",
        "/count/%C3%28",
        "/static/a/%E2%82",
    ] {
        let response = client.request(get(path));
        assert_eq!(response.status, 400, "{path}: {}", response.text());
        assert!(
            response.text().contains("path parameter"),
            "{path}: the reason is missing from {:?}",
            response.text()
        );
        // The request was well framed: no close.
        assert!(!response.says_close(), "{path}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a handler ran");
    let response = client.request(get("/count/fine"));
    assert_eq!((response.status, response.text()), (200, "counted"));
    client.assert_serves();
}

#[test]
fn a_bad_path_parameter_with_a_body_leaves_the_next_request_intact() {
    let server = serve(routed());
    let mut client = server.connect();
    // The body of the refused request is drained, not read as a request.
    client.send(format!(
        "{}{}",
        post("/users/%FF", "GET /users/smuggled HTTP/1.1\r\n\r\n"),
        get("/users/next")
    ));
    let first = client.response();
    assert_eq!(first.status, 400);
    assert!(!first.says_close());
    let second = client.response();
    assert_eq!((second.status, second.text()), (200, "user next"));
    client.assert_serves();
}

#[test]
fn an_absolute_form_target_routes_by_its_path() {
    let server = serve(routed());
    let mut client = server.connect();
    let response =
        client.request("GET http://example.com/users/5?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!((response.status, response.text()), (200, "user 5"));
    let response = client.request(get("/query?a=b&c"));
    assert_eq!((response.status, response.text()), (200, "a=b&c"));
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// http::Request and http::Response.

#[test]
fn http_conversions_work_end_to_end() {
    let mut r = Router::new();
    r.post("/convert", |req: &mut Request<'_>| {
        let request = req.to_http().unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri(), "/convert?x=1");
        assert_eq!(request.version(), http::Version::HTTP_11);
        let body = String::from_utf8(request.body().clone()).unwrap();
        http::Response::builder()
            .status(http::StatusCode::ACCEPTED)
            .header("x-got", request.headers()["x-thing"].clone())
            .header("x-multi", "1")
            .header("x-multi", "2")
            .body(format!("body was {body}"))
            .unwrap()
    });
    let server = serve(r);
    let mut client = server.connect();
    let response = client.request(
        "POST /convert?x=1 HTTP/1.1\r\nHost: test\r\nX-Thing: thing\r\nContent-Length: 4\r\n\r\nabcd",
    );
    assert_eq!(response.status, 202);
    assert_eq!(response.header("x-got"), Some("thing"));
    assert_eq!(
        response.headers_named("x-multi").collect::<Vec<_>>(),
        ["1", "2"]
    );
    assert_eq!(response.text(), "body was abcd");
    client.assert_serves();
}

// ---------------------------------------------------------------------------
// JSON.

#[cfg(feature = "json")]
mod json {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Point {
        x: i32,
        y: i32,
    }

    fn router() -> Router {
        let mut r = Router::new();
        r.post("/mirror", |req: &mut Request<'_>| {
            req.json::<Point>()
                .map(|p| Response::json(&Point { x: p.y, y: p.x }))
        });
        r
    }

    #[test]
    fn json_in_and_out() {
        let server = serve(router());
        let mut client = server.connect();
        let response = client.request(post("/mirror", r#"{"x": 1, "y": -2}"#));
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        let point: Point = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(point, Point { x: -2, y: 1 });
        client.assert_serves();
    }

    #[test]
    fn invalid_json_is_400_and_the_connection_goes_on() {
        let server = serve(router());
        let mut client = server.connect();
        let response = client.request(post("/mirror", r#"{"x": 1"#));
        assert_eq!(response.status, 400);
        client.assert_serves();
    }
}

// ---------------------------------------------------------------------------
// Many requests on one connection.

#[test]
fn a_thousand_requests_on_one_connection() {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let mut r = Router::new();
    r.get("/count", move |_: &mut Request<'_>| {
        seen.fetch_add(1, Ordering::SeqCst).to_string()
    });
    let server = serve(r);
    let mut client: Client = server.connect();
    for i in 0..1000 {
        let response = client.request(get("/count"));
        assert_eq!(
            (response.status, response.text()),
            (200, i.to_string().as_str())
        );
    }
    client.assert_serves();
}

#[test]
fn a_205_carries_no_content_whatever_the_handler_gave() {
    let mut r = router();
    r.get("/reset", |_: &mut Request<'_>| {
        Response::text("dropped").status(StatusCode::RESET_CONTENT)
    });
    let server = serve(r);
    let mut client = server.connect();
    // The GET behind it parses only if the 205 had no content.
    client.send(format!("{}{}", get("/reset"), get("/path/after")));
    let reset = client.response();
    assert_eq!(reset.status, 205);
    assert_eq!(reset.header("content-length"), Some("0"));
    assert_eq!(reset.text(), "");
    let after = client.response();
    assert_eq!((after.status, after.text()), (200, "/path/after"));
}

#[test]
fn a_1xx_from_a_handler_is_not_sent_as_the_final_answer() {
    let mut r = router();
    r.get("/early", |_: &mut Request<'_>| StatusCode::CONTINUE);
    let server = serve(r);
    let mut client = server.connect();
    let answer = client.request(get("/early"));
    assert_eq!(answer.status, 500);
    assert!(answer.says_close());
    client.assert_closed();
}

/// A stray CRLF after a request body (RFC 9112 §2.2: a server SHOULD
/// ignore at least one empty line before a request line) is ignored in
/// front of an HTTP/1.2 request as in front of an HTTP/1.1 one.
#[test]
fn an_empty_line_before_an_http_1_2_request_is_ignored() {
    let server = serve(versioned());
    let mut client = server.connect();
    client.send(format!(
        "{}\r\nGET /version HTTP/1.1\r\nHost: test\r\n\r\n",
        post("/echo", "hi")
    ));
    assert_eq!(client.response().text(), "hi");
    assert_eq!(client.response().status, 200, "1.1 after an empty line");
    client.send(format!(
        "{}\r\nGET /version HTTP/1.2\r\nHost: test\r\n\r\n",
        post("/echo", "hi")
    ));
    assert_eq!(client.response().text(), "hi");
    let second = client.response();
    assert_eq!(
        (second.status, second.text()),
        (200, "HTTP/1.1"),
        "1.2 after an empty line"
    );
    client.assert_serves();
}
