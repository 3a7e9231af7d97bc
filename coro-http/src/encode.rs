//! Writing a response: the status line and fields into the output buffer,
//! then the body by its kind.
//!
//! Framing is decided here and only here. A body of known length gets
//! `Content-Length` (for `HEAD`, the length the `GET` body would have), a
//! streamed one `Transfer-Encoding: chunked` on HTTP/1.1 or, for a 1.0
//! client, no length and a close at its end. 1xx, 204 and 304 responses
//! carry no body. Small bodies are copied behind the head so that a batch
//! of pipelined responses goes out in one write; large ones follow the
//! buffered output in one vectored write.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::SystemTime;

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING};
use http::{HeaderName, HeaderValue, Method, StatusCode, Version};

use crate::date;
use crate::head_cache::{self, Shape};
use crate::io::{file_ended_early, read_file_at, ConnIo, FLUSH_AT};
use crate::parse::Head;
use crate::response::{BodyKind, Response, StreamFn};

/// Bodies up to this size are copied into the output buffer.
const COPY_BODY_MAX: usize = 16 * 1024;

/// Room reserved for a response head beyond the handler's own fields: the
/// status line, `Server`, `Date` (37 bytes), `Content-Type`,
/// `Content-Length` and `Connection` lines fit with room to spare.
const HEAD_RESERVE: usize = 256;

/// Read size when sending a body from a reader.
const READER_CHUNK: usize = 16 * 1024;

/// Whether the connection stays open after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    KeepOpen,
    Close,
}

/// Writes `response` to the request `head` into `io`. The head (and a
/// small body) may stay in the output buffer; larger bodies are sent.
/// `close` says the connection closes after it; a streamed body to an
/// HTTP/1.0 client, or a handler's `Connection: close`, also closes it.
/// The response is borrowed, not taken: it is dropped where it lies in the
/// caller (a response is over a hundred bytes, and a move copies them); a
/// body sent from a reader, a file or a closure is taken out of it.
///
/// An error means the response could not be completed (the client went
/// away, or a body reader failed): the connection must close at once.
pub(crate) fn write_response(
    io: &mut ConnIo,
    head: &Head,
    response: &mut Response,
    close: bool,
) -> io::Result<After> {
    let frame = Frame::of(
        response.status,
        response.body.len(),
        &response.headers,
        head.version,
        close,
    );
    write_head(
        io,
        head.version,
        response.status,
        response.content_type.as_ref(),
        &response.headers,
        &frame,
    );
    let after = if frame.close {
        After::Close
    } else {
        After::KeepOpen
    };
    if frame.bodiless || head.method == Method::HEAD {
        return Ok(after);
    }
    match &response.body.kind {
        BodyKind::Empty => {}
        BodyKind::Bytes(bytes) => send_bytes(io, bytes)?,
        BodyKind::Reader { .. } | BodyKind::File { .. } | BodyKind::Stream(_) => {
            send_taken(io, std::mem::take(&mut response.body).kind, frame.chunked)?;
        }
    }
    if io.output().len() >= FLUSH_AT {
        io.flush()?;
    }
    Ok(after)
}

/// A body taken out of its response to be sent: one from a reader, a file
/// or a closure, which sending consumes. Never inlined: `io::copy`'s 8 KiB
/// buffer would otherwise be in `write_response`'s frame, which every
/// response would then pay two stack probes for (8.4 KiB; 216 bytes
/// without it).
#[inline(never)]
fn send_taken(io: &mut ConnIo, kind: BodyKind, chunked: bool) -> io::Result<()> {
    match kind {
        BodyKind::Empty => Ok(()),
        BodyKind::Bytes(bytes) => send_bytes(io, &bytes),
        BodyKind::Reader { reader, len } => send_reader(io, reader, len, chunked),
        BodyKind::File { file, offset, len } => send_file(io, &file, offset, len),
        BodyKind::Stream(write) => send_stream(io, write, chunked),
    }
}

/// How a response is delimited, decided before its head is written.
#[derive(Debug)]
struct Frame {
    /// No body goes out: 1xx, 204, 304, and 205 (which says so with a
    /// length of 0).
    bodiless: bool,
    /// The `Content-Length` to send.
    length: Option<u64>,
    /// `Transfer-Encoding: chunked` (a body of unknown length on 1.1).
    chunked: bool,
    /// The connection closes after this response.
    close: bool,
}

impl Frame {
    fn of(
        status: StatusCode,
        body_len: Option<u64>,
        headers: &[(HeaderName, HeaderValue)],
        version: Version,
        mut close: bool,
    ) -> Frame {
        let no_content = status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        // 205 tells the client to reset its view: no content, whatever the
        // handler gave, and a length of 0 to say so.
        let reset = status == StatusCode::RESET_CONTENT;
        let length = if no_content {
            None
        } else if reset {
            Some(0)
        } else {
            body_len
        };
        let chunked = !no_content && length.is_none() && version == Version::HTTP_11;
        // A body of unknown length to a 1.0 client ends with the close.
        if !no_content && length.is_none() && !chunked {
            close = true;
        }
        if headers.iter().any(|(name, value)| {
            *name == CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close")
        }) {
            close = true;
        }
        Frame {
            bodiless: no_content || reset,
            length,
            chunked,
            close,
        }
    }
}

/// The status line and fields, into the output buffer: the server's
/// `Server` and `Date` unless the handler set its own, and the framing
/// fields from `frame`, never the handler's. A head without handler
/// fields equal to the last one this worker wrote in the same second is
/// that one's copy (see `head_cache`).
fn write_head(
    io: &mut ConnIo,
    version: Version,
    status: StatusCode,
    content_type: Option<&HeaderValue>,
    headers: &[(HeaderName, HeaderValue)],
    frame: &Frame,
) {
    let (out, config) = io.output_and_config();
    let now = date::coarse_now();
    let shape = Shape {
        status,
        version,
        length: frame.length,
        chunked: frame.chunked,
        close: frame.close,
    };
    if !headers.is_empty() {
        write_fields(out, &config.server_line, now, &shape, content_type, headers);
        return;
    }
    if head_cache::reuse(out, &shape, content_type, config, now) {
        return;
    }
    let start = out.len();
    let second = write_fields(out, &config.server_line, now, &shape, content_type, headers);
    head_cache::keep(&out[start..], shape, content_type, config, second);
}

/// [`write_head`] field by field; `now` dates it. Returns the second of
/// its `Date` line (the reading's own when the handler sent a `Date`).
fn write_fields(
    out: &mut Vec<u8>,
    server_line: &[u8],
    now: SystemTime,
    shape: &Shape,
    content_type: Option<&HeaderValue>,
    headers: &[(HeaderName, HeaderValue)],
) -> (SystemTime, SystemTime) {
    let own_server = headers.iter().any(|(name, _)| *name == SERVER);
    let own_date = headers.iter().any(|(name, _)| *name == DATE);
    // Room for the whole head at once, so the pieces below are copied
    // without growing the buffer between them.
    out.reserve(
        HEAD_RESERVE
            + headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum::<usize>(),
    );
    status_line(out, shape.status);
    if !own_server {
        out.extend_from_slice(server_line);
    }
    let second = if own_date {
        (now, now)
    } else {
        date::append_date_line(out, now)
    };
    if let Some(ct) = content_type {
        field(out, b"Content-Type", ct.as_bytes());
    }
    for (name, value) in headers {
        if *name == CONTENT_LENGTH || *name == TRANSFER_ENCODING || *name == CONNECTION {
            continue;
        }
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(n) = shape.length {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    } else if shape.chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if shape.status == StatusCode::SWITCHING_PROTOCOLS {
        // Only `upgrade::switch_protocols` sends one.
        out.extend_from_slice(b"Connection: upgrade\r\n");
    } else if shape.close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if shape.version == Version::HTTP_10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    second
}

/// A body in memory: copied behind the head when small, so pipelined
/// responses share a write; else sent after the buffered output in one
/// vectored write.
fn send_bytes(io: &mut ConnIo, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() <= COPY_BODY_MAX {
        io.output().extend_from_slice(bytes);
        Ok(())
    } else {
        io.flush_with(bytes)
    }
}

/// A file's bytes: a small file read behind the head, so that it goes out
/// with it in one write (one segment); a larger one after the buffered
/// output, by `sendfile(2)` on a plain socket (`ConnIo::send_file`).
fn send_file(io: &mut ConnIo, file: &File, offset: u64, len: u64) -> io::Result<()> {
    if len <= COPY_BODY_MAX as u64 {
        return copy_small_file(io, file, offset, len);
    }
    io.flush()?;
    io.send_file(file, offset, len)
}

/// Reads `len` bytes of `file` from `offset` into the output buffer. A
/// file that ends early is an error, after what it had is sent: the
/// connection closes short of the length promised, so the client knows
/// the body is incomplete.
fn copy_small_file(io: &mut ConnIo, file: &File, offset: u64, len: u64) -> io::Result<()> {
    let out = io.output();
    let start = out.len();
    // At most COPY_BODY_MAX, so it fits.
    out.resize(start + len as usize, 0);
    let (got, failure) = match read_file_at(file, &mut out[start..], offset) {
        Ok(n) if n as u64 == len => return Ok(()),
        Ok(n) => (n, file_ended_early()),
        Err(e) => (0, e),
    };
    out.truncate(start + got);
    io.flush()?;
    Err(failure)
}

/// A body from a reader: exactly its length when known, else chunked (or
/// to the close, for 1.0).
fn send_reader(
    io: &mut ConnIo,
    mut reader: Box<dyn Read + Send>,
    len: Option<u64>,
    chunked: bool,
) -> io::Result<()> {
    io.flush()?;
    match len {
        Some(n) => send_exactly(io, &mut reader, n),
        None => {
            let mut w = BodyWriter { io, chunked };
            io::copy(&mut reader, &mut w)?;
            w.finish()
        }
    }
}

/// A body the handler's closure writes: each write a chunk (or as is, for
/// 1.0).
fn send_stream(io: &mut ConnIo, write: StreamFn, chunked: bool) -> io::Result<()> {
    io.flush()?;
    let mut w = BodyWriter { io, chunked };
    write(&mut w)?;
    w.finish()
}

/// `HTTP/1.1 <code> <reason>` and its CRLF; 200, nearly every response,
/// as one constant.
fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    if status == StatusCode::OK {
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Sends exactly `len` bytes from `reader`; a reader that ends early
/// breaks the framing, so it is an error (the connection closes).
fn send_exactly(io: &mut ConnIo, reader: &mut dyn Read, len: u64) -> io::Result<()> {
    let mut left = len;
    let mut chunk = vec![0; READER_CHUNK];
    while left > 0 {
        let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match reader.read(&mut chunk[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the body reader ended before its length",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        io.flush_with(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Sends a streamed body: each write as one chunk (HTTP/1.1), or as is
/// (HTTP/1.0, delimited by the close).
struct BodyWriter<'a> {
    io: &'a mut ConnIo,
    chunked: bool,
}

impl BodyWriter<'_> {
    fn finish(self) -> io::Result<()> {
        if self.chunked {
            self.io.flush_with(b"0\r\n\r\n")?;
        }
        Ok(())
    }
}

impl Write for BodyWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            // An empty chunk would end the body.
            return Ok(0);
        }
        if self.chunked {
            let out = self.io.output();
            // Formatted straight into the buffer: no allocation per chunk.
            write!(out, "{:x}\r\n", buf.len())?;
            if buf.len() <= COPY_BODY_MAX {
                out.extend_from_slice(buf);
                out.extend_from_slice(b"\r\n");
                self.io.flush()?;
            } else {
                self.io.flush_with(buf)?;
                self.io.flush_with(b"\r\n")?;
            }
        } else {
            self.io.flush_with(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}
