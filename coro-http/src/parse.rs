//! Parsing a request head strictly (RFC 9112 §2–§7, RFC 9110 §5–§8).
//!
//! `httparse` checks the syntax of the request line and of each field
//! (token characters, no bare CR, no NUL, no obs-fold, no space before the
//! colon). On top of it this module decides everything a request's framing
//! depends on, and refuses every ambiguity that could let two parsers in a
//! chain disagree about where a request ends (request smuggling):
//!
//! * `Content-Length` must be plain digits that fit in a `u64`; repeated
//!   fields must agree.
//! * `Transfer-Encoding` must end in `chunked` (else 400), apply `chunked`
//!   once and without parameters, and name only codings this server
//!   decodes (else 501); it is refused on HTTP/1.0 and together with
//!   `Content-Length`.
//! * HTTP/1.1 needs exactly one `Host`; more than one is refused on any
//!   version, and so is one that is not a valid `host[:port]` (RFC 9110
//!   §7.2, RFC 3986 §3.2; see `authority`). The authority of an
//!   absolute-form target and the target of `CONNECT` are held to the
//!   same grammar.
//! * `CONNECT` takes only the authority form, `host:port`.
//! * Limits: a request line past `max_request_line` is 414, a head past
//!   `max_header_bytes` or with more than `max_headers` fields is 431.
//! * Versions: 1.0 and 1.1 are served. `HTTP/1.2` to `HTTP/1.9` are served
//!   as 1.1, every rule above included, as RFC 9110 §2.5 asks of a
//!   recipient that implements the major version but not the minor one.
//!   Any other well-formed `HTTP/x.y` (`HTTP/2.0`, `HTTP/0.9`) is 505; a
//!   malformed version (`HTTP/1.`, `HTTP/1.10`, `http/1.1`), 400.
//!
//! Later minor versions: `httparse` knows only 1.0 and 1.1 and refuses any
//! other version. Only on that refusal is the version token looked at; when
//! it is `HTTP/1.<digit>`, the input is copied with the digit made `1` and
//! parsed again, and the head keeps the bytes as sent (the digit put back).
//! So a 1.1 or 1.0 request pays nothing for it.
//!
//! Line endings: the head may end its lines with a bare LF, which RFC 9112
//! §2.2 lets a recipient accept (`httparse` does) and which cannot change
//! where the head ends; chunked framing, where a lenient reading could
//! change where the body ends, requires CRLF (see `chunked`).
//!
//! The parsed head is copied into a [`Head`] owned by the connection and
//! reused for its next request, so the input buffer is free to move on.

use std::mem::MaybeUninit;
use std::ops::Range;

use http::{Method, Version};

use crate::authority::{self, Port};
use crate::config::Limits;
use crate::error::Error;

/// Header fields parsed into a stack array; more than this (when the limit
/// allows) takes a heap array.
const STACK_HEADERS: usize = 100;

/// Longest `Content-Length` value accepted: `u64::MAX` has 20 digits, so
/// more (leading zeros included) are refused rather than read.
const MAX_LENGTH_DIGITS: usize = 20;

/// How the body of a request is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length`: exactly this many bytes (0 is no body).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head: its bytes, and where each part lies in them.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) bytes: Vec<u8>,
    pub(crate) method: Method,
    pub(crate) version: Version,
    /// The request target as sent.
    pub(crate) target: Range<usize>,
    /// `bytes[target]`, as the text `httparse` checked it to be: the
    /// target's parts are handed out as `&str` many times per request
    /// (routing, `Request::path`), and slicing checked text costs nothing
    /// where validating the bytes again would.
    target_text: String,
    /// The last `Host` value that passed the authority check: a
    /// connection's requests almost always repeat it, and an equal value
    /// needs no second check.
    checked_host: Vec<u8>,
    /// The path: the target without its query, and without the scheme and
    /// authority of an absolute-form target.
    pub(crate) path: Range<usize>,
    /// The query, without its `?`.
    pub(crate) query: Option<Range<usize>>,
    /// Each field's name and value.
    pub(crate) fields: Vec<(Range<usize>, Range<usize>)>,
    pub(crate) framing: Framing,
    /// Whether the client asked for (1.0) or did not refuse (1.1) a
    /// persistent connection.
    pub(crate) keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub(crate) expect_continue: bool,
}

impl Default for Head {
    fn default() -> Head {
        Head {
            bytes: Vec::new(),
            method: Method::GET,
            version: Version::HTTP_11,
            target: 0..0,
            target_text: String::new(),
            checked_host: Vec::new(),
            path: 0..0,
            query: None,
            fields: Vec::new(),
            framing: Framing::Length(0),
            keep_alive: true,
            expect_continue: false,
        }
    }
}

impl Head {
    /// `bytes[range]` as text. Every range a `Head` holds was checked by
    /// `httparse` to be visible ASCII (or a field value, see `field_str`).
    pub(crate) fn str(&self, range: &Range<usize>) -> &str {
        let at = self.target.start;
        if range.start >= at && range.end <= self.target.end {
            return self
                .target_text
                .get(range.start - at..range.end - at)
                .unwrap_or("");
        }
        std::str::from_utf8(&self.bytes[range.clone()]).unwrap_or("")
    }

    /// The first value of the field `name` (any case).
    pub(crate) fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| self.bytes[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &self.bytes[v.clone()])
    }
}

/// Parses the head at the start of `input` into `head`.
///
/// Returns the length of the head (through its blank line) when it is
/// complete, `None` when more bytes are needed, or the error that refuses
/// the request.
pub(crate) fn parse_head(
    input: &[u8],
    limits: &Limits,
    head: &mut Head,
) -> Result<Option<usize>, Error> {
    check_request_line(input, limits)?;
    match parse_with_fields(input, limits, head)? {
        Parsed::Head(len) => Ok(len),
        Parsed::LaterMinor { digit_at } => parse_as_1_1(input, digit_at, limits, head),
    }
}

/// Refuses a request line (without its line ending, after any empty lines
/// ahead of it) longer than the limit: 414, even while it is still
/// arriving, so it is checked before httparse sees it. The same line is
/// judged the same however it arrives: a line at the limit whose CR has
/// come and whose LF has not is still within it, and a line ended by a
/// bare LF is held to the same length as one ended by CRLF.
fn check_request_line(input: &[u8], limits: &Limits) -> Result<(), Error> {
    let max = limits.max_request_line;
    // No line in the input is longer than the input: the usual case (a
    // head of a few hundred bytes) needs no scan.
    if input.len() <= max {
        return Ok(());
    }
    let start = skip_empty_lines(input);
    // Past `max + 2` bytes without a LF, the line is too long whatever
    // comes next.
    let window = &input[start..input.len().min(start.saturating_add(max).saturating_add(2))];
    let line = match memchr::memchr(b'\n', window) {
        Some(lf) => &window[..lf],
        None => window,
    };
    // The CR of a CRLF (or the CR that may start one) is no part of it.
    let len = line.len() - usize::from(line.last() == Some(&b'\r'));
    if len > max {
        return Err(Error::UriTooLong);
    }
    Ok(())
}

/// Where the request line starts: httparse skips empty lines ahead of it
/// (RFC 9112 §2.2), and so does this.
fn skip_empty_lines(input: &[u8]) -> usize {
    let mut start = 0;
    loop {
        match &input[start..] {
            [b'\r', b'\n', ..] => start += 2,
            [b'\n', ..] => start += 1,
            _ => return start,
        }
    }
}

/// What one parse of the input came to, short of an error.
enum Parsed {
    /// As [`parse_head`] returns: the head's length, or `None` for more.
    Head(Option<usize>),
    /// The version is `HTTP/1.<digit>` with a digit past 1, which is at
    /// this offset of the input; see [`parse_as_1_1`].
    LaterMinor { digit_at: usize },
}

/// Parses `input`, sent as `HTTP/1.2` to `HTTP/1.9`, as HTTP/1.1: a copy
/// with the minor digit (at `digit_at`) made `1` is parsed, and the head
/// gets the digit back, so its bytes are the ones sent while its version
/// is 1.1.
fn parse_as_1_1(
    input: &[u8],
    digit_at: usize,
    limits: &Limits,
    head: &mut Head,
) -> Result<Option<usize>, Error> {
    // Only the head is copied, not the pipelined requests behind it.
    let mut copy = input[..later_minor_extent(input, digit_at, limits)].to_vec();
    copy[digit_at] = b'1';
    match parse_with_fields(&copy, limits, head)? {
        Parsed::Head(Some(len)) => {
            // The digit lies on the request line, so inside the head.
            head.bytes[digit_at] = input[digit_at];
            Ok(Some(len))
        }
        Parsed::Head(None) => Ok(None),
        // The copy's version is `HTTP/1.1`, which httparse accepts.
        Parsed::LaterMinor { .. } => Err(Error::BadRequest("invalid HTTP version")),
    }
}

/// How much of `input` a head whose version digit is at `digit_at` can
/// span: through its blank line when that has arrived, else up to the head
/// limit (a head longer than that is 431 whether it is all there or not).
fn later_minor_extent(input: &[u8], digit_at: usize, limits: &Limits) -> usize {
    let cap = input.len().min(limits.max_header_bytes);
    // The blank line comes after the request line, which the digit ends.
    let end = memchr::memchr_iter(b'\n', &input[digit_at..]).find_map(|i| {
        let after = digit_at + i + 1;
        match &input[after..] {
            [b'\n', ..] => Some(after + 1),
            [b'\r', b'\n', ..] => Some(after + 2),
            _ => None,
        }
    });
    end.map_or(cap, |end| end.min(cap)).max(digit_at + 1)
}

/// [`parse_into`] with a field array sized by the limit: on the stack
/// while it is small, else on the heap.
fn parse_with_fields(input: &[u8], limits: &Limits, head: &mut Head) -> Result<Parsed, Error> {
    let max_headers = limits.max_headers;
    if max_headers <= STACK_HEADERS {
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; STACK_HEADERS];
        parse_into(input, limits, head, &mut fields[..max_headers])
    } else {
        let mut fields = Vec::with_capacity(max_headers);
        fields.resize_with(max_headers, MaybeUninit::uninit);
        parse_into(input, limits, head, &mut fields)
    }
}

fn parse_into<'b>(
    input: &'b [u8],
    limits: &Limits,
    head: &mut Head,
    fields: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<Parsed, Error> {
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(input, fields) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            // At the limit and still partial: the head is longer than it.
            if input.len() >= limits.max_header_bytes {
                return Err(Error::HeadersTooLarge);
            }
            return Ok(Parsed::Head(None));
        }
        Err(httparse::Error::TooManyHeaders) => return Err(Error::HeadersTooLarge),
        Err(httparse::Error::Version) => return unknown_version(input),
        Err(e) => return Err(Error::BadRequest(parse_error_text(e))),
    };
    if len > limits.max_header_bytes {
        return Err(Error::HeadersTooLarge);
    }
    let base = input.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let range_of = |s: &[u8]| offset(s)..offset(s) + s.len();

    let method = req.method.unwrap_or("");
    let target = req.path.unwrap_or("");
    if target.len() > limits.max_request_line {
        return Err(Error::UriTooLong);
    }
    let version = match req.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    // GET, most requests, without the general lookup.
    let method = if method == "GET" {
        Method::GET
    } else {
        Method::from_bytes(method.as_bytes()).map_err(|_| Error::BadRequest("invalid method"))?
    };
    let target_range = range_of(target.as_bytes());
    let (path, query) = split_target(&method, target, target_range.start)?;

    let mut facts = Facts::default();
    head.fields.clear();
    for field in req.headers.iter() {
        facts.observe(field.name, field.value, &mut head.checked_host)?;
        head.fields
            .push((range_of(field.name.as_bytes()), range_of(field.value)));
    }
    let framing = facts.framing(version)?;
    if version == Version::HTTP_11 && facts.hosts == 0 {
        return Err(Error::BadRequest("missing Host header"));
    }
    if let Framing::Length(n) = framing {
        if n > limits.max_body_bytes {
            return Err(Error::PayloadTooLarge);
        }
    }

    head.bytes.clear();
    head.bytes.extend_from_slice(&input[..len]);
    head.method = method;
    head.version = version;
    head.target = target_range;
    head.target_text.clear();
    head.target_text.push_str(target);
    head.path = path;
    head.query = query;
    head.framing = framing;
    head.keep_alive = match version {
        Version::HTTP_10 => facts.keep_alive && !facts.close,
        _ => !facts.close,
    };
    head.expect_continue = facts.expect_continue;
    Ok(Parsed::Head(Some(len)))
}

/// Splits a request target into path and query (RFC 9112 §3.2): origin
/// form `/p?q`, absolute form `http://h/p?q`, `*` for `OPTIONS`, and the
/// authority form `h:port` for `CONNECT`, which takes no other. The
/// authority of the last two must be valid (see `authority`).
fn split_target(
    method: &Method,
    target: &str,
    at: usize,
) -> Result<(Range<usize>, Option<Range<usize>>), Error> {
    if method == Method::CONNECT {
        // The authority form, `host:port`, and only it (RFC 9110 §9.3.6).
        authority::check(target.as_bytes(), Port::Required)?;
        return Ok((at..at + target.len(), None));
    }
    let (path_start, rest) = if target.starts_with('/') {
        (0, target)
    } else if target == "*" {
        if method != Method::OPTIONS {
            return Err(Error::BadRequest("asterisk target without OPTIONS"));
        }
        return Ok((at..at + 1, None));
    } else if let Some(scheme_len) = absolute_prefix(target) {
        let after = &target[scheme_len..];
        let authority_end = after.find(['/', '?']).unwrap_or(after.len());
        authority::check(&after.as_bytes()[..authority_end], Port::Optional)?;
        match after.as_bytes().get(authority_end) {
            Some(b'/') => (scheme_len + authority_end, &after[authority_end..]),
            // `http://host` or `http://host?q`: the path is empty, read as `/`.
            _ => return Ok((at + target.len()..at + target.len(), None)),
        }
    } else {
        return Err(Error::BadRequest("invalid request target"));
    };
    let start = at + path_start;
    Ok(match find_question_mark(rest.as_bytes()) {
        Some(q) => (start..start + q, Some(start + q + 1..start + rest.len())),
        None => (start..start + rest.len(), None),
    })
}

/// Where the first `?` of `target` is, looked for eight bytes at a time:
/// paths are tens of bytes, on which memchr's vector setup costs more than
/// it saves and a byte loop costs six instructions a byte. A byte of the
/// word XORed with `?` is zero where the `?` is; `(x - 0x01..) & !x &
/// 0x80..` marks zero bytes, the lowest mark exactly (the borrow that can
/// mark a byte wrongly only runs upwards from a true zero).
fn find_question_mark(target: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const MARKS: u64 = u64::from_le_bytes([b'?'; 8]);
    let mut chunks = target.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let x = u64::from_le_bytes(bytes) ^ MARKS;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = chunks.remainder();
    rest.iter().position(|&b| b == b'?').map(|i| at + i)
}

/// The length of `http://authority` or `https://authority` at the start of
/// `target`, up to the path.
fn absolute_prefix(target: &str) -> Option<usize> {
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    let scheme = if lower.starts_with("http://") {
        7
    } else if lower.starts_with("https://") {
        8
    } else {
        return None;
    };
    (target.len() > scheme).then_some(scheme)
}

/// Whether `input`, of which the first `checked` bytes were already seen
/// not to end a head, may now hold a whole head or break a limit. Parsing
/// only then keeps a head that trickles in byte by byte from costing a
/// parse of the whole buffer per byte (quadratic in the head's size).
pub(crate) fn worth_parsing(input: &[u8], checked: usize, limits: &Limits) -> bool {
    // A head ends with an empty line: `\n\r\n` or, with bare line feeds,
    // `\n\n`; look from just before the new bytes. Also parse when the
    // request line has just completed, so that a malformed one is refused
    // at once rather than when the head would have ended.
    let from = checked.saturating_sub(2).min(input.len());
    let ends_head = memchr::memchr_iter(b'\n', &input[from..]).any(|i| {
        let rest = &input[from + i + 1..];
        rest.first() == Some(&b'\n') || rest.starts_with(b"\r\n")
    });
    // The request line starts after any empty lines ahead of it, as in
    // `check_request_line`, so that one too long is 414 there too.
    let start = skip_empty_lines(input);
    let first_line_end = memchr::memchr(b'\n', &input[start..]).map(|i| start + i);
    ends_head
        || first_line_end.is_some_and(|at| at >= checked)
        || input.len() >= limits.max_header_bytes
        || (input.len() - start > limits.max_request_line && first_line_end.is_none())
}

/// The version httparse refused: `HTTP/1.2` to `HTTP/1.9` is served as
/// 1.1 ([`Parsed::LaterMinor`]); another well-formed `HTTP/x.y` this server
/// does not speak is 505; anything else where the version should be, 400.
fn unknown_version(input: &[u8]) -> Result<Parsed, Error> {
    let start = skip_empty_lines(input);
    let line_end = memchr::memchr(b'\n', &input[start..]).map_or(input.len(), |i| start + i);
    let line = &input[start..line_end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    // Only the third of exactly three parts is a version: "GET /a b
    // HTTP/1.1" is a malformed request line, not an unsupported version.
    // httparse reached the version, so the method and the target before
    // it were each followed by one space, and the third part starts where
    // httparse looked for the version.
    let mut parts = line.split(|&b| b == b' ');
    let version = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(version), None) => version,
        _ => return Err(Error::BadRequest("invalid request line")),
    };
    match version {
        // 1.0 and 1.1 never get here: httparse accepts them.
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => Ok(Parsed::LaterMinor {
            // The version ends the line.
            digit_at: start + line.len() - 1,
        }),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(Error::VersionNotSupported)
        }
        [b'H', b'T', b'T', b'P', b'/', major] if major.is_ascii_digit() => {
            Err(Error::VersionNotSupported)
        }
        _ => Err(Error::BadRequest("invalid HTTP version")),
    }
}

fn parse_error_text(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method or request target",
        _ => "malformed request",
    }
}

/// What the fields say about framing and the connection, gathered in one
/// pass.
#[derive(Default)]
struct Facts {
    hosts: usize,
    content_length: Option<u64>,
    /// Transfer codings, in order, across every `Transfer-Encoding` field.
    codings: Codings,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

#[derive(Default)]
struct Codings {
    any: bool,
    chunked_count: usize,
    last_is_chunked: bool,
    other: bool,
    unknown: bool,
}

impl Facts {
    /// Notes one field; `checked_host` is the last `Host` value known
    /// valid (see [`Head`]), updated when a new one passes.
    fn observe(
        &mut self,
        name: &str,
        value: &[u8],
        checked_host: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let name = name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            self.hosts += 1;
            if self.hosts > 1 {
                return Err(Error::BadRequest("more than one Host header"));
            }
            let host = value.trim_ascii();
            // Empty until a host passed (and an empty host never does).
            if checked_host.is_empty() || host != checked_host.as_slice() {
                authority::check(host, Port::Optional)?;
                checked_host.clear();
                checked_host.extend_from_slice(host);
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_content_length(value)?;
            if self.content_length.is_some_and(|m| m != n) {
                return Err(Error::BadRequest("conflicting Content-Length headers"));
            }
            self.content_length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.observe_codings(value)?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in list_items(value) {
                if token.eq_ignore_ascii_case(b"close") {
                    self.close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    self.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if value.trim_ascii().eq_ignore_ascii_case(b"100-continue") {
                self.expect_continue = true;
            } else {
                return Err(Error::ExpectationFailed);
            }
        }
        Ok(())
    }

    fn observe_codings(&mut self, value: &[u8]) -> Result<(), Error> {
        let c = &mut self.codings;
        // The field counts even when it names no coding: `Transfer-Encoding: ,`
        // next to a Content-Length must not leave the length in charge.
        c.any = true;
        let mut items = 0;
        for coding in list_items(value) {
            items += 1;
            // Parameters (`;q=...`) do not change which coding it is.
            let mut parts = coding.split(|&b| b == b';');
            let name = parts.next().unwrap_or(b"").trim_ascii();
            let has_parameters = parts.next().is_some();
            if name.eq_ignore_ascii_case(b"chunked") {
                // `chunked` has no parameters (RFC 9112 §7.1); an
                // intermediary that matches the coding exactly would not
                // take `chunked;x=y` for it, and would frame the body
                // otherwise.
                if has_parameters {
                    return Err(Error::BadRequest("parameters on the chunked coding"));
                }
                c.chunked_count += 1;
                c.last_is_chunked = true;
                continue;
            }
            c.last_is_chunked = false;
            const KNOWN: [&[u8]; 6] = [
                b"gzip",
                b"x-gzip",
                b"deflate",
                b"compress",
                b"x-compress",
                b"identity",
            ];
            if KNOWN.iter().any(|k| name.eq_ignore_ascii_case(k)) {
                c.other = true;
            } else {
                c.unknown = true;
            }
        }
        if items == 0 {
            return Err(Error::BadRequest("empty Transfer-Encoding"));
        }
        Ok(())
    }

    fn framing(&self, version: Version) -> Result<Framing, Error> {
        let c = &self.codings;
        if !c.any {
            return Ok(Framing::Length(self.content_length.unwrap_or(0)));
        }
        if version == Version::HTTP_10 {
            return Err(Error::BadRequest(
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        if self.content_length.is_some() {
            return Err(Error::BadRequest(
                "both Content-Length and Transfer-Encoding",
            ));
        }
        if c.unknown {
            return Err(Error::NotImplemented("unknown transfer coding"));
        }
        if !c.last_is_chunked {
            return Err(Error::BadRequest(
                "the final transfer coding is not chunked",
            ));
        }
        if c.chunked_count > 1 {
            return Err(Error::BadRequest("chunked applied more than once"));
        }
        if c.other {
            return Err(Error::NotImplemented("transfer coding other than chunked"));
        }
        Ok(Framing::Chunked)
    }
}

/// A `Content-Length` value: one or more digits and nothing else (no sign,
/// no spaces inside, no list), fitting a `u64`.
fn parse_content_length(value: &[u8]) -> Result<u64, Error> {
    let digits = value.trim_ascii();
    if digits.is_empty()
        || digits.len() > MAX_LENGTH_DIGITS
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return Err(Error::BadRequest("invalid Content-Length"));
    }
    // Plain ASCII digits, so UTF-8; `parse` now only fails on overflow.
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or(Error::BadRequest("Content-Length overflows"))
}

/// The items of a comma-separated field value, trimmed, empty ones skipped.
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> Result<Option<(usize, Head)>, Error> {
        let mut head = Head::default();
        parse_head(input, &Limits::default(), &mut head).map(|r| r.map(|n| (n, head)))
    }

    fn status(input: &[u8]) -> u16 {
        match parse(input) {
            Ok(Some(_)) => 200,
            Ok(None) => 0,
            Err(e) => e.status().as_u16(),
        }
    }

    #[test]
    fn the_first_question_mark_is_found_wherever_it_lies() {
        // Every length up to three words, a `?` at every place (and none),
        // with bytes around it that set and clear every bit.
        for len in 0..24 {
            for q in (0..len).map(Some).chain([None]) {
                for filler in [b'a', 0xff, 0x00, b'>', b'@', 0x3e, 0xbf] {
                    let mut bytes = vec![filler; len];
                    if let Some(q) = q {
                        bytes[q] = b'?';
                        // A second `?` later must not be the one found.
                        if q + 2 < len {
                            bytes[q + 2] = b'?';
                        }
                    }
                    assert_eq!(
                        find_question_mark(&bytes),
                        bytes.iter().position(|&b| b == b'?'),
                        "{bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_simple_request_parses_into_its_parts() {
        let input = b"GET /users/7?full=1 HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\nrest";
        let (len, head) = parse(input).unwrap().unwrap();
        assert_eq!(len, input.len() - 4);
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.str(&head.path), "/users/7");
        assert_eq!(head.str(head.query.as_ref().unwrap()), "full=1");
        assert_eq!(head.field("x-a"), Some(&b"b"[..]));
        assert_eq!(head.framing, Framing::Length(0));
        assert!(head.keep_alive);
    }

    #[test]
    fn a_reused_head_hands_out_the_parts_of_its_latest_target() {
        let mut head = Head::default();
        let limits = Limits::default();
        let first = b"GET /a/longer/path?q=1 HTTP/1.1\r\nHost: x\r\n\r\n";
        parse_head(first, &limits, &mut head).unwrap().unwrap();
        let second = b"POST /b?r HTTP/1.1\r\nHost: example.com:80\r\nContent-Length: 0\r\n\r\n";
        parse_head(second, &limits, &mut head).unwrap().unwrap();
        assert_eq!(head.str(&head.target), "/b?r");
        assert_eq!(head.str(&head.path), "/b");
        assert_eq!(head.str(head.query.as_ref().unwrap()), "r");
        // Ranges outside the target still read the head's bytes.
        let (name, value) = head.fields[0].clone();
        assert_eq!(head.str(&name), "Host");
        assert_eq!(head.str(&value), "example.com:80");
    }

    #[test]
    fn a_host_is_checked_again_whenever_it_differs_from_the_last_valid_one() {
        let mut head = Head::default();
        let limits = Limits::default();
        let request = |host: &str| format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let mut parse = |host: &str| parse_head(request(host).as_bytes(), &limits, &mut head);
        assert!(parse("example.com").unwrap().is_some());
        assert!(
            parse("example.com").unwrap().is_some(),
            "the same host again"
        );
        assert!(parse("a@example.com").is_err(), "a new, invalid host");
        assert!(parse("example.com:99999").is_err(), "a new, invalid port");
        assert!(parse("example.com").unwrap().is_some());
        assert!(parse("other.example").unwrap().is_some());
        assert!(parse("bad host").is_err(), "still checked after a change");
    }

    #[test]
    fn an_incomplete_head_asks_for_more() {
        assert!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
        assert!(parse(b"GE").unwrap().is_none());
    }

    #[test]
    fn absolute_form_targets_yield_their_path() {
        let (_, head) = parse(b"GET http://example.com/a/b?c HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(head.str(&head.path), "/a/b");
        assert_eq!(head.str(head.query.as_ref().unwrap()), "c");
    }

    #[test]
    fn malformed_heads_are_400() {
        for input in [
            &b"GET / HTTP/1.1\r\nHost: x\r\nBad\rValue: y\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\0c\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTPT/1.1\r\nHost: x\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET nopath HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: u@h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h:\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h:x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: [::x]\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
            b"GET / HTTP/1.0\r\nHost: u@h\r\n\r\n",
            b"GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET http:///a HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET http://h:x/a HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT http://h:80 HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            assert_eq!(status(input), 400, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn valid_authorities_are_served() {
        for input in [
            &b"GET / HTTP/1.1\r\nHost: h:80\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: [::1]:80 \r\n\r\n",
            b"GET http://h:8080?q HTTP/1.1\r\nHost: h\r\n\r\n",
            b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
            b"CONNECT [::1]:443 HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            assert_eq!(status(input), 200, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn http_2_is_505_and_1_0_needs_no_host() {
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/1.0\r\n\r\n"), 200);
    }

    #[test]
    fn a_later_minor_version_parses_as_1_1_and_keeps_its_bytes() {
        for minor in b'2'..=b'9' {
            let mut input = b"GET /a?b HTTP/1.0\r\nHost: x\r\nX-A: y\r\n\r\nnext".to_vec();
            input[16] = minor;
            let (len, head) = parse(&input).unwrap().unwrap();
            assert_eq!(len, input.len() - 4);
            assert_eq!(head.version, Version::HTTP_11);
            assert!(head.keep_alive);
            assert_eq!(head.bytes, &input[..len], "the head keeps the bytes sent");
            assert_eq!(head.str(&head.path), "/a");
            assert_eq!(head.field("x-a"), Some(&b"y"[..]));
        }
        // Bare line feeds, and a head still arriving.
        assert!(parse(b"GET / HTTP/1.9\nHost: x\n\n").unwrap().is_some());
        assert!(parse(b"GET / HTTP/1.2\r\nHost: x\r\n").unwrap().is_none());
        assert!(parse(b"GET / HTTP/1.2").unwrap().is_none());
    }

    #[test]
    fn a_later_minor_head_is_parsed_alone_and_its_limit_holds() {
        // Only the head is copied for the second parse, whatever is
        // pipelined behind it, and with leading empty lines and bare LFs.
        for (head, tail) in [
            (&b"GET / HTTP/1.2\r\nHost: x\r\n\r\n"[..], 0),
            (b"\r\n\r\nGET / HTTP/1.2\r\nHost: x\r\n\r\n", 0),
            (b"GET / HTTP/1.2\nHost: x\n\n", 0),
            (b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 10_000),
        ] {
            let mut input = head.to_vec();
            input.extend(std::iter::repeat_n(b'G', tail));
            let digit_at = head.iter().position(|&b| b == b'2').unwrap();
            assert_eq!(
                later_minor_extent(&input, digit_at, &Limits::default()),
                head.len()
            );
            let (len, parsed) = parse(&input).unwrap().unwrap();
            assert_eq!((len, &parsed.bytes[..]), (head.len(), head));
        }
        // A head past the limit is 431 with or without its end.
        let limits = Limits::default();
        let long = "a".repeat(limits.max_header_bytes);
        let partial = format!("GET / HTTP/1.2\r\nHost: x\r\nX-Long: {long}");
        assert_eq!(status(partial.as_bytes()), 431);
        assert_eq!(status(format!("{partial}\r\n\r\n").as_bytes()), 431);
    }

    /// httparse skips empty lines before the request line (RFC 9112 §2.2),
    /// and 1.1 is served after one; so is 1.2.
    #[test]
    fn a_later_minor_version_after_an_empty_line_is_served() {
        assert_eq!(status(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
        assert_eq!(status(b"\r\nGET / HTTP/1.2\r\nHost: x\r\n\r\n"), 200);
    }

    #[test]
    fn a_later_minor_version_follows_the_rules_of_1_1() {
        assert_eq!(status(b"GET / HTTP/1.2\r\n\r\n"), 400, "Host is required");
        let (_, head) = parse(b"POST / HTTP/1.5\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            head.framing,
            Framing::Chunked,
            "chunked is allowed, as in 1.1"
        );
        assert_eq!(
            status(b"POST / HTTP/1.2\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        let (_, head) = parse(b"GET / HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!head.keep_alive);
    }

    #[test]
    fn other_versions_are_505_and_malformed_ones_400() {
        for version in ["HTTP/2.0", "HTTP/0.9", "HTTP/3.0", "HTTP/2.1"] {
            let input = format!("GET / {version}\r\nHost: x\r\n\r\n");
            assert_eq!(status(input.as_bytes()), 505, "{version}");
        }
        for version in [
            "HTTP/1.",
            "HTTP/1.10",
            "HTTP/1.20",
            "HTTP/1.1x",
            "HTTP/1.2x",
            "http/1.1",
            "http/1.2",
            "HTTP/1.x",
            "HTTP/11.1",
        ] {
            let input = format!("GET / {version}\r\nHost: x\r\n\r\n");
            assert_eq!(status(input.as_bytes()), 400, "{version}");
        }
        assert_eq!(status(b"GET /a b HTTP/1.2\r\nHost: x\r\n\r\n"), 400);
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let cases: [(&[u8], u16); 16] = [
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: bogus, chunked\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", 200),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\nContent-Length: 5\r\n\r\n", 400),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: , ,\r\nContent-Length: 5\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked ;\r\n\r\n", 400),
        ];
        for (input, want) in cases {
            assert_eq!(status(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn limits_map_to_414_431_413() {
        let limits = Limits {
            max_request_line: 64,
            max_header_bytes: 256,
            max_headers: 4,
            max_body_bytes: 10,
        };
        let check = |input: &[u8]| {
            let mut head = Head::default();
            parse_head(input, &limits, &mut head).map(|r| r.is_some())
        };
        let long_uri = format!("GET /{} HTTP/1.1\r\n", "a".repeat(80));
        assert!(matches!(check(long_uri.as_bytes()), Err(Error::UriTooLong)));
        let many = "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
        assert!(matches!(
            check(many.as_bytes()),
            Err(Error::HeadersTooLarge)
        ));
        let big = format!("GET / HTTP/1.1\r\nHost: x\r\nA: {}\r\n", "v".repeat(300));
        assert!(matches!(check(big.as_bytes()), Err(Error::HeadersTooLarge)));
        // A partial head exactly as long as the limit can only end past it
        // (the connection's buffer stops growing there).
        assert!(matches!(
            check(&big.as_bytes()[..256]),
            Err(Error::HeadersTooLarge)
        ));
        let body = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n";
        assert!(matches!(
            check(body.as_bytes()),
            Err(Error::PayloadTooLarge)
        ));
    }

    /// A request line at the limit is served however it arrives; one past
    /// it is 414 however it arrives.
    #[test]
    fn the_request_line_limit_does_not_depend_on_how_the_line_arrives() {
        let limits = Limits {
            max_request_line: 64,
            ..Limits::default()
        };
        let check = |input: &[u8]| {
            let mut head = Head::default();
            match parse_head(input, &limits, &mut head) {
                Ok(Some(_)) => 200,
                Ok(None) => 0,
                Err(e) => e.status().as_u16(),
            }
        };
        let fixed = "GET / HTTP/1.1".len();
        for lead in ["", "\r\n", "\n\r\n"] {
            for (extra, want) in [(0, 200), (1, 414)] {
                let line = format!("GET /{} HTTP/1.1", "a".repeat(64 - fixed + extra));
                for ending in ["\r\n", "\n"] {
                    let input = format!("{lead}{line}{ending}Host: x{ending}{ending}");
                    assert_eq!(check(input.as_bytes()), want, "{input:?}");
                    // Every prefix is incomplete or refused alike.
                    for cut in 1..input.len() {
                        let got = check(&input.as_bytes()[..cut]);
                        assert!(got == 0 || got == want, "{:?}: {got}", &input[..cut]);
                    }
                }
            }
        }
    }

    #[test]
    fn parsing_waits_for_the_end_of_the_head_or_a_limit() {
        let limits = Limits::default();
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        let line_end = 15; // the request line's `\n`
        for end in 1..head.len() {
            let worth = worth_parsing(&head[..end], end - 1, &limits);
            assert_eq!(worth, end == line_end + 1, "at {end}");
        }
        assert!(worth_parsing(head, head.len() - 1, &limits));
        assert!(worth_parsing(b"GET / HTTP/1.1\nHost: x\n\n", 24, &limits));
        let long_line = vec![b'a'; limits.max_request_line + 1];
        assert!(worth_parsing(&long_line, long_line.len() - 1, &limits));
        // A long line after an empty one is parsed (and refused) too.
        let mut late = b"\r\n".to_vec();
        late.extend(std::iter::repeat_n(b'a', limits.max_request_line + 1));
        assert!(worth_parsing(&late, late.len() - 1, &limits));
        assert!(matches!(
            parse_head(&late, &limits, &mut Head::default()),
            Err(Error::UriTooLong)
        ));
        let mut full = b"GET / HTTP/1.1\r\n".to_vec();
        full.resize(limits.max_header_bytes, b'a');
        assert!(worth_parsing(&full, full.len() - 1, &limits));
    }

    #[test]
    fn an_8000_byte_uri_is_within_the_default_limits() {
        let input = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(8000));
        assert_eq!(status(input.as_bytes()), 200);
    }

    #[test]
    fn connection_and_expect_are_read() {
        let (_, h) = parse(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, Close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.keep_alive);
        let (_, h) = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h.keep_alive);
        let (_, h) = parse(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.keep_alive);
        let (_, h) = parse(
            b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(h.expect_continue);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: x\r\n\r\n"),
            417
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Arbitrary bytes never panic the parser, and a complete head
        /// never claims more bytes than it was given.
        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(Some((len, _))) = parse(&input) {
                proptest::prop_assert!(len <= input.len());
            }
        }

        /// A valid request with one byte changed either still parses or is
        /// refused; it never panics.
        #[test]
        fn mutated_requests_never_panic(at in 0usize..80, byte in proptest::prelude::any::<u8>()) {
            let mut input = b"POST /a?b=c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX: y\r\n\r\nhello".to_vec();
            let at = at % input.len();
            input[at] = byte;
            let _ = parse(&input);
        }

        /// The same for a request sent as HTTP/1.2 (parsed again as 1.1),
        /// cut anywhere: a complete head keeps exactly the bytes sent.
        #[test]
        fn mutated_later_minor_requests_never_panic(
            at in 0usize..80,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..80,
        ) {
            let mut input = b"POST /a?b=c HTTP/1.2\r\nHost: h\r\nContent-Length: 5\r\nX: y\r\n\r\nhello".to_vec();
            let at = at % input.len();
            input[at] = byte;
            input.truncate(input.len() - cut % input.len());
            if let Ok(Some((len, head))) = parse(&input) {
                proptest::prop_assert_eq!(&head.bytes[..], &input[..len]);
            }
        }
    }
}
