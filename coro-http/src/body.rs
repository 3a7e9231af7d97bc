//! Reading a request body off the connection, by `Content-Length` or
//! chunked, as the handler asks for it.
//!
//! The body is not read before the handler runs: the handler pulls it
//! through `std::io::Read` (or whole, up to the limit). The first read
//! sends `100 Continue` when the client asked for it, and only then, so a
//! handler that refuses a request without reading its body never invites
//! the upload. After the handler, the connection [finishes](finish) the
//! body: what the handler left unread is read and dropped (up to
//! [`DRAIN_LIMIT`]) so the next request starts at the right byte, or the
//! connection closes. After a refusal (a 4xx or 5xx answer) only what is
//! already buffered is drained ([`finish_refused`]): the answer never
//! waits for a body that is still coming, or stalled.
//!
//! A framing error (a bad chunk, a body that ends early, one past the
//! limit) is remembered in [`BodyState::failed`]: the handler sees an
//! `io::Error`, and the connection answers with the error's status instead
//! of the handler's response, then closes, so nothing after the broken
//! body is ever parsed as a request.

use std::io;

use crate::chunked::ChunkedDecoder;
use crate::error::Error;
use crate::io::ConnIo;
use crate::parse::{Framing, Head};

/// Unread body bytes a connection reads and drops to stay open; past this
/// it closes instead.
const DRAIN_LIMIT: u64 = 256 * 1024;

/// Body reads at least this large go straight from the socket into the
/// caller's buffer when nothing is buffered.
const DIRECT_READ_MIN: usize = 4 * 1024;

/// Most memory reserved up front for a whole body; it grows as data comes.
const RESERVE_MAX: u64 = 64 * 1024;

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[derive(Debug)]
enum Remaining {
    Length(u64),
    Chunked(Box<ChunkedDecoder>),
    Done,
}

/// The body of the request being served.
#[derive(Debug)]
pub(crate) struct BodyState {
    remaining: Remaining,
    /// Body bytes handed out so far.
    read: u64,
    /// `100 Continue` is owed before the first read.
    continue_owed: bool,
    /// The framing error that ended the body, if one did.
    pub(crate) failed: Option<Error>,
}

/// A request's body as it is read off its connection: the connection's
/// buffers and stream, and the state of the body being read (owned by the
/// connection loop, which starts it for each request).
#[derive(Debug)]
pub(crate) struct ConnBody<'c> {
    pub(crate) io: &'c mut ConnIo,
    pub(crate) state: &'c mut BodyState,
}

/// How a body ended, once the handler is done with it.
#[derive(Debug)]
pub(crate) enum Finish {
    /// Read to its end: the connection may serve its next request.
    Complete,
    /// Left unread (too large to drain, or never invited): close.
    Close,
    /// The framing was broken: answer with this error and close.
    Failed(Error),
}

impl BodyState {
    /// The body of a request with `head`.
    pub(crate) fn for_head(head: &Head, max_trailer_bytes: usize) -> BodyState {
        let remaining = match head.framing {
            Framing::Length(0) => Remaining::Done,
            Framing::Length(n) => Remaining::Length(n),
            Framing::Chunked => {
                Remaining::Chunked(Box::new(ChunkedDecoder::new(max_trailer_bytes)))
            }
        };
        let has_body = !matches!(remaining, Remaining::Done);
        BodyState {
            remaining,
            read: 0,
            continue_owed: has_body
                && head.expect_continue
                && head.version == http::Version::HTTP_11,
            failed: None,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.remaining, Remaining::Done)
    }
}

/// Reads body bytes into `buf`; 0 at the end of the body.
pub(crate) fn read(b: &mut ConnBody<'_>, buf: &mut [u8]) -> io::Result<usize> {
    read_with(b, buf, Wait::Yes)
}

/// Whether a body read may wait for the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Yes,
    /// Only what is buffered is read; 0 when that runs out, whether or not
    /// the body has ended (ask [`BodyState::is_done`]).
    No,
}

fn read_with(b: &mut ConnBody<'_>, buf: &mut [u8], wait: Wait) -> io::Result<usize> {
    if let Some(e) = &b.state.failed {
        return Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string()));
    }
    if buf.is_empty() || b.state.is_done() {
        return Ok(0);
    }
    match read_inner(b, buf, wait) {
        Ok(n) => Ok(n),
        Err(e) => {
            let message = e.to_string();
            let kind = match &e {
                Error::Io(io_error) => io_error.kind(),
                Error::Timeout => io::ErrorKind::TimedOut,
                _ => io::ErrorKind::InvalidData,
            };
            b.state.failed = Some(e);
            b.state.remaining = Remaining::Done;
            Err(io::Error::new(kind, message))
        }
    }
}

fn read_inner(b: &mut ConnBody<'_>, buf: &mut [u8], wait: Wait) -> Result<usize, Error> {
    if b.state.continue_owed {
        b.state.continue_owed = false;
        b.io.flush_with(CONTINUE)?;
    }
    let max_body = b.io.config().limits.max_body_bytes;
    let timeout = b.io.config().timeouts.body;
    loop {
        if wait == Wait::No && b.io.buffered().is_empty() {
            return Ok(0);
        }
        let n = match &mut b.state.remaining {
            Remaining::Done => return Ok(0),
            Remaining::Length(left) => {
                let left = *left;
                let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                let n = if !b.io.buffered().is_empty() {
                    let n = want.min(b.io.buffered().len());
                    buf[..n].copy_from_slice(&b.io.buffered()[..n]);
                    b.io.consume(n);
                    n
                } else if want >= DIRECT_READ_MIN {
                    let n =
                        b.io.read_direct(&mut buf[..want], timeout)
                            .map_err(timeout_error)?;
                    if n == 0 {
                        return Err(Error::BadRequest("the body ended before its length"));
                    }
                    n
                } else {
                    if b.io.fill(timeout).map_err(timeout_error)? == 0 {
                        return Err(Error::BadRequest("the body ended before its length"));
                    }
                    continue;
                };
                b.state.remaining = match left - n as u64 {
                    0 => Remaining::Done,
                    rest => Remaining::Length(rest),
                };
                n
            }
            Remaining::Chunked(decoder) => {
                if b.io.buffered().is_empty() {
                    if b.io.fill(timeout).map_err(timeout_error)? == 0 {
                        return Err(Error::BadRequest("the chunked body ended early"));
                    }
                    continue;
                }
                let p = decoder.decode(b.io.buffered(), buf)?;
                b.io.consume(p.consumed);
                if decoder.is_done() {
                    b.state.remaining = Remaining::Done;
                }
                if p.produced == 0 {
                    continue;
                }
                p.produced
            }
        };
        b.state.read += n as u64;
        if b.state.read > max_body {
            return Err(Error::PayloadTooLarge);
        }
        return Ok(n);
    }
}

fn timeout_error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::TimedOut {
        Error::Timeout
    } else {
        Error::Io(e)
    }
}

/// Reads the rest of the body into a vector, refusing more than the limit.
pub(crate) fn read_to_vec(b: &mut ConnBody<'_>) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    if let Remaining::Length(n) = b.state.remaining {
        // What the client announced, but not more than the first read
        // could need: a large Content-Length with no body behind it must
        // not reserve memory.
        out.reserve_exact(usize::try_from(n.min(RESERVE_MAX)).unwrap_or(0));
    }
    let mut chunk = [0u8; 8 * 1024];
    loop {
        match read(b, &mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&chunk[..n]),
            Err(e) => {
                // The connection keeps the failure (it answers with it);
                // the caller gets the same error.
                return Err(b.state.failed.as_ref().map_or(Error::Io(e), clone_error));
            }
        }
    }
}

/// The same error again (an `Io` error keeps its kind and message).
pub(crate) fn clone_error(e: &Error) -> Error {
    match e {
        Error::BadRequest(s) => Error::BadRequest(s),
        Error::UriTooLong => Error::UriTooLong,
        Error::HeadersTooLarge => Error::HeadersTooLarge,
        Error::PayloadTooLarge => Error::PayloadTooLarge,
        Error::NotImplemented(s) => Error::NotImplemented(s),
        Error::VersionNotSupported => Error::VersionNotSupported,
        Error::ExpectationFailed => Error::ExpectationFailed,
        Error::Timeout => Error::Timeout,
        Error::InvalidBody(s) => Error::InvalidBody(s.clone()),
        Error::InvalidQuery(s) => Error::InvalidQuery(s.clone()),
        Error::UnsupportedMediaType(s) => Error::UnsupportedMediaType(s),
        Error::WebSocketHandshake(s) => Error::WebSocketHandshake(s),
        Error::UpgradeRequired(s) => Error::UpgradeRequired(s),
        Error::NotFound => Error::NotFound,
        Error::MethodNotAllowed => Error::MethodNotAllowed,
        Error::HandlerFailed(s) => Error::HandlerFailed(s),
        Error::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
    }
}

/// Ends the body of a request whose connection closes anyway: only a
/// framing error the handler ran into matters (it replaces the response).
pub(crate) fn abandon(b: &mut ConnBody<'_>) -> Finish {
    match b.state.failed.take() {
        Some(e) => Finish::Failed(e),
        None => Finish::Close,
    }
}

/// Ends the body after a handler that refused the request (a 4xx or 5xx
/// answer: a 404, a 405, a 413 of its own, an authentication failure):
/// what the handler left unread is drained only as far as it is already
/// buffered, never waited for. A client that sent the body with the head
/// keeps its connection; one whose body is still coming (or stalled, or
/// waiting for a `100 Continue`) is answered at once and the connection
/// closes, with the lingering close that lets it read the answer. A
/// refusal must not wait for a body nobody will read (up to the body
/// timeout, for a stalled one).
pub(crate) fn finish_refused(b: &mut ConnBody<'_>) -> Finish {
    if let Some(end) = settled(b) {
        return end;
    }
    drain_buffered(b)
}

/// The rest of `finish_refused`: drains what is buffered. Its scratch
/// buffer is in a frame of its own (see `finish`).
#[inline(never)]
fn drain_buffered(b: &mut ConnBody<'_>) -> Finish {
    let start = b.state.read;
    let mut scratch = [0u8; 8 * 1024];
    while !b.io.buffered().is_empty() && !b.state.is_done() {
        match read_with(b, &mut scratch, Wait::No) {
            Ok(_) if b.state.read - start > DRAIN_LIMIT => return Finish::Close,
            Ok(_) => {}
            Err(_) => return drain_failed(b),
        }
    }
    if b.state.is_done() {
        Finish::Complete
    } else {
        Finish::Close
    }
}

/// How a body ends without a read: with an error met earlier, complete, or
/// closing because the client waits for a 100 that never came (it may or
/// may not send the body, so the connection cannot be reused).
fn settled(b: &mut ConnBody<'_>) -> Option<Finish> {
    if let Some(e) = b.state.failed.take() {
        return Some(Finish::Failed(e));
    }
    if b.state.is_done() {
        return Some(Finish::Complete);
    }
    b.state.continue_owed.then_some(Finish::Close)
}

/// How a drain that failed ends: a broken body is answered with its error;
/// a vanished or silent client only closes the connection.
fn drain_failed(b: &mut ConnBody<'_>) -> Finish {
    match b.state.failed.take() {
        Some(Error::Io(_)) | Some(Error::Timeout) | None => Finish::Close,
        Some(e) => Finish::Failed(e),
    }
}

/// Ends the body after the handler: drains what it left unread, if that is
/// small enough, so the connection can go on.
pub(crate) fn finish(b: &mut ConnBody<'_>) -> Finish {
    if let Some(end) = settled(b) {
        return end;
    }
    if let Remaining::Length(n) = b.state.remaining {
        if n > DRAIN_LIMIT {
            return Finish::Close;
        }
    }
    drain_unread(b)
}

/// The rest of `finish`: reads and drops the unread body. Never inlined:
/// its 8 KiB scratch buffer would otherwise sit in the connection loop's
/// frame, above every handler, taking 8 KiB of each handler's stack (and
/// two stack probes at each entry). With this and the other cold paths
/// that hold such a buffer out of line, the loop's frame went from 9.6
/// KiB to 1.7 KiB.
#[inline(never)]
fn drain_unread(b: &mut ConnBody<'_>) -> Finish {
    let start = b.state.read;
    let mut scratch = [0u8; 8 * 1024];
    loop {
        match read(b, &mut scratch) {
            Ok(0) => return Finish::Complete,
            Ok(_) if b.state.read - start > DRAIN_LIMIT => return Finish::Close,
            Ok(_) => {}
            Err(_) => return drain_failed(b),
        }
    }
}
