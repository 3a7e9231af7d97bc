//! The functions the fuzz targets call (`coro-http/fuzz`), and the test
//! that replays their corpora (`tests/http_fuzz_corpus.rs`) calls too.
//!
//! Why this is public: `cargo fuzz` builds each target as a separate crate
//! that links coro-http, so the parser and the chunked decoder, which are
//! crate-private, must be reachable from outside; and the corpus replay
//! on stable must feed every file through exactly the function the target
//! calls, so that a committed crash input stays a regression test. The
//! module is `#[doc(hidden)]`: it is no part of the API, and may change
//! with any release.
//!
//! Each function panics when an invariant breaks; a panic is what
//! libFuzzer reports as a crash, and what fails the replay test.
//!
//! * [`parse_head`]: the head parser under the default limits and under
//!   small ones. A complete head claims no more than it was given, keeps
//!   the bytes as sent, and every range it holds lies inside them; every
//!   shorter prefix of a complete or refused head is incomplete or
//!   refused alike, never refused where the whole is served; and the
//!   connection's `worth_parsing` never lets a complete head go unparsed.
//! * [`chunked`]: the chunked decoder. Data never outgrows the input, and
//!   however the input is split and however small the output buffer, the
//!   result is the same as decoding it in one call.
//! * [`connection`]: a whole connection on a real server (a loopback
//!   socket into the real connection loop). Whatever the bytes, the
//!   server answers with well-formed HTTP/1.1 responses, nothing after a
//!   `Connection: close`, then closes; it never panics or hangs (the
//!   client's read timeout would fail it).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use crate::chunked::ChunkedDecoder;
use crate::config::{Limits, Timeouts};
use crate::error::Error;
use crate::parse::{self, Head};
use crate::request::Request;
use crate::response::Response;
use crate::router::{Next, Router};
use crate::server::Server;

/// The limits the small-limit runs use: small enough that fuzzed inputs
/// of a few KiB cross every one of them.
fn small_limits() -> Limits {
    Limits {
        max_request_line: 64,
        max_header_bytes: 256,
        max_headers: 4,
        max_body_bytes: 512,
    }
}

/// How many evenly spaced prefixes of a head [`parse_head`] also parses,
/// besides those at each line end: enough to catch a prefix refused where
/// the whole is not, few enough that a 4 KiB input still runs thousands
/// of times a second.
const PREFIX_CUTS: usize = 8;

/// Most prefixes cut at line ends: both sides of the first 32 CRs or LFs,
/// so that an input of nothing but line feeds stays fast.
const LINE_END_CUTS: usize = 64;

/// Parses `input` as a request head and checks the parser's invariants
/// (see the module docs). Panics if one breaks.
pub fn parse_head(input: &[u8]) {
    for limits in [Limits::default(), small_limits()] {
        check_head(input, &limits);
    }
}

fn check_head(input: &[u8], limits: &Limits) {
    let mut head = Head::default();
    let whole = parse::parse_head(input, limits, &mut head);
    // Where the connection would have stopped and answered: the end of
    // a complete head, or all of the input for a refused one.
    let settled = match &whole {
        Ok(Some(len)) => {
            let len = *len;
            assert!(len <= input.len(), "a head of {len} from {}", input.len());
            assert_eq!(&head.bytes[..], &input[..len], "the head keeps its bytes");
            let ranges = [&head.target, &head.path]
                .into_iter()
                .chain(head.query.as_ref())
                .chain(head.fields.iter().flat_map(|(n, v)| [n, v]));
            for range in ranges {
                assert!(range.start <= range.end && range.end <= len, "{range:?}");
            }
            assert!(
                head.path.start >= head.target.start && head.path.end <= head.target.end,
                "the path lies in the target"
            );
            // The head alone parses the same.
            let mut alone = Head::default();
            let again = parse::parse_head(&input[..len], limits, &mut alone);
            assert!(matches!(again, Ok(Some(n)) if n == len), "{again:?}");
            assert_eq!(alone.framing, head.framing);
            Some(len)
        }
        Ok(None) => None,
        Err(_) => Some(input.len()),
    };
    let Some(settled) = settled else { return };
    // Every shorter prefix waits for more, or is refused as the whole is;
    // and for a head that completes, the connection parses again once the
    // rest arrives. The prefixes: on either side of each CR and LF, where
    // a line has ended or not yet, and a few places between.
    let line_ends = input[..settled]
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\r' || b == b'\n')
        .flat_map(|(i, _)| [i, i + 1])
        .take(LINE_END_CUTS);
    let cuts = (1..PREFIX_CUTS).map(|k| settled * k / PREFIX_CUTS);
    for cut in cuts.chain(line_ends).chain(settled.checked_sub(1)) {
        if cut == 0 || cut >= settled {
            continue;
        }
        let mut part = Head::default();
        match parse::parse_head(&input[..cut], limits, &mut part) {
            Ok(None) => assert!(
                whole.is_err() || parse::worth_parsing(&input[..settled], cut, limits),
                "a head complete at {settled} is not parsed after {cut} bytes"
            ),
            Ok(Some(n)) => panic!("a prefix of {cut} bytes is a head of {n}, the whole {whole:?}"),
            Err(e) => assert!(
                whole.is_err(),
                "a prefix of {cut} bytes is refused ({e}) but the whole is {whole:?}"
            ),
        }
    }
}

/// Decodes `input` as a chunked body and checks the decoder's invariants
/// (see the module docs). The first two bytes, when there are more than
/// two, choose the input split and the output buffer size of the second
/// decoding. Panics if one breaks.
pub fn chunked(input: &[u8]) {
    let (step, cap, body) = match input {
        [s, c, rest @ ..] if !rest.is_empty() => {
            (usize::from(*s % 32) + 1, usize::from(*c % 32) + 1, rest)
        }
        _ => (1, 1, input),
    };
    // A small trailer limit, so that fuzzed trailers cross it.
    const TRAILER_LIMIT: usize = 64;
    let whole = decode_all(body, body.len().max(1), body.len().max(1), TRAILER_LIMIT);
    let split = decode_all(body, step, cap, TRAILER_LIMIT);
    match (&whole, &split) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "split {step}, buffer {cap}"),
        (Err(a), Err(b)) => assert_eq!(a.status(), b.status(), "{a} / {b}"),
        _ => panic!("whole {whole:?}, split {step} buffer {cap}: {split:?}"),
    }
}

/// What decoding a chunked body came to: its data, the input used, and
/// whether the body ended.
type Decoded = (Vec<u8>, usize, bool);

fn decode_all(input: &[u8], step: usize, cap: usize, trailers: usize) -> Result<Decoded, Error> {
    let mut decoder = ChunkedDecoder::new(trailers);
    let mut body = Vec::new();
    let mut out = vec![0; cap];
    let mut at = 0;
    while at < input.len() && !decoder.is_done() {
        let end = (at + step).min(input.len());
        let p = decoder.decode(&input[at..end], &mut out)?;
        assert!(p.consumed <= end - at && p.produced <= p.consumed);
        body.extend_from_slice(&out[..p.produced]);
        at += p.consumed;
        assert!(
            p.consumed > 0 || p.produced > 0,
            "no progress at {at} of {}",
            input.len()
        );
    }
    assert!(body.len() <= at);
    Ok((body, at, decoder.is_done()))
}

/// How long the [`connection`] client waits for the server: far past the
/// server's own timeouts, so only a hang reaches it.
const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The field the fuzz server's middleware adds to the answer to a `HEAD`,
/// which has no body whatever its `Content-Length` says.
const HEAD_MARK: &str = "x-fuzz-head";

/// Sends `input` on a fresh connection to a server started on first use
/// (loopback, one worker, small limits, timeouts of a few seconds), shuts
/// the write side, reads until the server closes, and checks that what it
/// sent is well-formed HTTP/1.1 responses (see the module docs). Panics if
/// not, or if the server does not close within its timeouts.
pub fn connection(input: &[u8]) {
    let addr = *FUZZ_SERVER.get_or_init(start_fuzz_server);
    let stream = TcpStream::connect(addr).expect("connect to the fuzz server");
    stream.set_read_timeout(Some(CLIENT_READ_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    let (answer, reset) = std::thread::scope(|s| {
        // The server may answer before it has read everything, so the
        // write goes on beside the read; it may also close before taking
        // it all, which is its right.
        s.spawn(|| {
            let _ = (&stream).write_all(input);
            let _ = stream.shutdown(Shutdown::Write);
        });
        read_to_close(&stream)
    });
    if let Err(e) = check_responses(&answer, reset) {
        panic!(
            "{e}\ninput: {:?}\nanswer: {:?}",
            String::from_utf8_lossy(input),
            String::from_utf8_lossy(&answer)
        );
    }
}

static FUZZ_SERVER: OnceLock<SocketAddr> = OnceLock::new();

fn start_fuzz_server() -> SocketAddr {
    let mut router = Router::new();
    router
        .get("/", |_: &mut Request<'_>| "ok")
        .post("/", |req: &mut Request<'_>| {
            req.body_bytes().map(|b| format!("read {}", b.len()))
        })
        .post("/unread", |_: &mut Request<'_>| "not read")
        .get("/stream", |_: &mut Request<'_>| {
            Response::stream(|w: &mut dyn Write| w.write_all(b"streamed"))
        })
        .get("/empty", |_: &mut Request<'_>| http::StatusCode::NO_CONTENT)
        .get("/p/{id}", |req: &mut Request<'_>| {
            req.param("id").unwrap_or("").to_string()
        })
        .wrap(|req: &mut Request<'_>, next: Next<'_>| {
            let head = *req.method() == http::Method::HEAD;
            let response = next.run(req);
            if head {
                response.header(
                    http::HeaderName::from_static(HEAD_MARK),
                    http::HeaderValue::from_static("1"),
                )
            } else {
                response
            }
        });
    let server = Server::builder()
        .bind("127.0.0.1:0")
        .workers(1)
        .limits(Limits {
            max_request_line: 256,
            max_header_bytes: 1024,
            max_headers: 16,
            max_body_bytes: 1024,
        })
        .timeouts(Timeouts {
            header: Duration::from_secs(5),
            handshake: Duration::from_secs(5),
            idle: Duration::from_secs(5),
            body: Duration::from_secs(5),
            write: Duration::from_secs(5),
            grace: Duration::from_secs(1),
        })
        .build(router)
        .expect("start the fuzz server");
    let addr = server.local_addrs()[0];
    std::thread::Builder::new()
        .name("fuzz-server".into())
        .spawn(move || server.run())
        .expect("spawn the fuzz server");
    addr
}

/// Everything the server sends until it closes, and whether it ended in a
/// reset rather than an orderly close. A timeout is a hang: it panics.
fn read_to_close(mut stream: &TcpStream) -> (Vec<u8>, bool) {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return (answer, false),
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ) =>
            {
                return (answer, true)
            }
            Err(e) => panic!(
                "no close from the server within {CLIENT_READ_TIMEOUT:?} ({e}); have {:?}",
                String::from_utf8_lossy(&answer)
            ),
        }
    }
}

/// Checks that `bytes` is a sequence of whole HTTP/1.1 responses, nothing
/// after one that says `Connection: close` or is delimited by the close.
/// After a reset, the last response may be cut short (the kernel drops
/// what it had not handed over).
fn check_responses(mut bytes: &[u8], reset: bool) -> Result<(), String> {
    while !bytes.is_empty() {
        match next_response(bytes) {
            Ok((used, closes)) => {
                bytes = &bytes[used..];
                if closes && !bytes.is_empty() {
                    return Err("bytes after a response that closes".into());
                }
            }
            Err(Cut) if reset => return Ok(()),
            Err(Cut) => return Err("a response cut short by the close".into()),
            Err(Malformed(e)) => return Err(e),
        }
    }
    Ok(())
}

/// Why a response could not be read.
enum BadResponse {
    /// It ends before it is complete.
    Cut,
    /// It is not well-formed HTTP/1.1.
    Malformed(String),
}
use BadResponse::{Cut, Malformed};

/// Reads one response at the start of `bytes`: its length, and whether
/// the connection ends after it.
fn next_response(bytes: &[u8]) -> Result<(usize, bool), BadResponse> {
    let head_end = find(bytes, b"\r\n\r\n").ok_or(Cut)? + 4;
    let head = std::str::from_utf8(&bytes[..head_end - 4])
        .map_err(|_| Malformed("a response head that is not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| {
            rest.get(..3)
                .filter(|_| rest.as_bytes().get(3) == Some(&b' '))
        })
        .filter(|code| code.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..600).contains(code))
        .ok_or_else(|| Malformed(format!("bad status line {status_line:?}")))?;
    let (mut length, mut chunked, mut close, mut to_head) = (None, false, false, false);
    for line in lines {
        let (name, value) = line
            .split_once(": ")
            .filter(|(n, _)| !n.is_empty() && n.bytes().all(is_token))
            .ok_or_else(|| Malformed(format!("bad field line {line:?}")))?;
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(Malformed(format!("a control in {line:?}")));
        }
        if name.eq_ignore_ascii_case("content-length") {
            if length.is_some() {
                return Err(Malformed("two Content-Length fields".into()));
            }
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| Malformed(format!("bad Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if value != "chunked" || chunked {
                return Err(Malformed(format!("bad Transfer-Encoding {value:?}")));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            close |= value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case(HEAD_MARK) {
            to_head = true;
        }
    }
    if chunked && length.is_some() {
        return Err(Malformed("both Content-Length and chunked".into()));
    }
    let bodiless = (100..200).contains(&status) || status == 204 || status == 304;
    if (100..200).contains(&status) && (length.is_some() || chunked || close) {
        return Err(Malformed("framing fields on a 1xx".into()));
    }
    if bodiless || to_head {
        return Ok((head_end, close));
    }
    let body = &bytes[head_end..];
    if chunked {
        let used = chunked_length(body)?;
        Ok((head_end + used, close))
    } else if let Some(n) = length {
        if body.len() < n {
            return Err(Cut);
        }
        Ok((head_end + n, close))
    } else {
        // Delimited by the close: the rest is its body.
        Ok((bytes.len(), true))
    }
}

/// The length of the chunked body at the start of `body`, as the server
/// writes them: hex sizes, no extensions, no trailers.
fn chunked_length(body: &[u8]) -> Result<usize, BadResponse> {
    let mut at = 0;
    loop {
        let line_end = find(&body[at..], b"\r\n").ok_or(Cut)?;
        let size = std::str::from_utf8(&body[at..at + line_end])
            .ok()
            .filter(|s| !s.is_empty())
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| Malformed("a bad chunk size in a response".into()))?;
        at += line_end + 2;
        if size == 0 {
            return match body.get(at..at + 2) {
                Some(b"\r\n") => Ok(at + 2),
                Some(_) => Err(Malformed("a response's chunked body not ended".into())),
                None => Err(Cut),
            };
        }
        match body.get(at + size..at + size + 2) {
            Some(b"\r\n") => at += size + 2,
            Some(_) => return Err(Malformed("chunk data not followed by CRLF".into())),
            None => return Err(Cut),
        }
    }
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    const CLOSE: &str =
        "HTTP/1.1 400 Bad Request\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx";

    fn check(bytes: &str, reset: bool) -> bool {
        check_responses(bytes.as_bytes(), reset).is_ok()
    }

    #[test]
    fn well_formed_answers_pass() {
        assert!(check("", false));
        assert!(check(&format!("{OK}{OK}{CLOSE}"), false));
        assert!(check(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            false
        ));
        assert!(check(
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nx-fuzz-head: 1\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            false
        ));
        assert!(check("HTTP/1.1 200 OK\r\n\r\nuntil the close", false));
        // A reset may cut the last answer.
        assert!(check(&format!("{OK}HTTP/1.1 200 OK\r\nContent-Len"), true));
    }

    #[test]
    fn malformed_answers_fail() {
        for bytes in [
            format!("{CLOSE}{OK}"),
            format!("{OK}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok"),
            "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n".into(),
            "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n".into(),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n".into(),
            "HTTP/1.1 200 OK\r\nBad Field\r\n\r\n".into(),
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n".into(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX0\r\n\r\n".into(),
            "HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\n".into(),
            "garbage".into(),
        ] {
            assert!(!check(&bytes, false), "{bytes:?} passed");
        }
    }
}
