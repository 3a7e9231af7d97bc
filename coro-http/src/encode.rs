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
use std::os::unix::fs::FileExt;

use http::header::{CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING};
use http::{Method, StatusCode, Version};

use crate::date::append_date_line;
use crate::io::{ConnIo, FLUSH_AT};
use crate::parse::Head;
use crate::response::{BodyKind, Response};

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
///
/// An error means the response could not be completed (the client went
/// away, or a body reader failed): the connection must close at once.
pub(crate) fn write_response(
    io: &mut ConnIo,
    head: &Head,
    response: Response,
    mut close: bool,
) -> io::Result<After> {
    let Response {
        status,
        content_type,
        headers,
        body,
        ..
    } = response;
    let bodiless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // 205 tells the client to reset its view: no content, whatever the
    // handler gave, and a length of 0 to say so.
    let reset = status == StatusCode::RESET_CONTENT;
    let length = if reset { Some(0) } else { body.len() };
    let chunked = !bodiless && length.is_none() && head.version == Version::HTTP_11;
    if !bodiless && length.is_none() && !chunked {
        close = true;
    }
    let mut own_server = false;
    let mut own_date = false;
    for (name, value) in &headers {
        if *name == CONNECTION && value.as_bytes().eq_ignore_ascii_case(b"close") {
            close = true;
        }
        own_server |= *name == SERVER;
        own_date |= *name == DATE;
    }

    let out = &mut io.out;
    // Room for the whole head at once, so the pieces below are copied
    // without growing the buffer between them.
    out.reserve(
        HEAD_RESERVE
            + headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len() + 4)
                .sum::<usize>(),
    );
    status_line(out, status);
    if !own_server {
        out.extend_from_slice(&io.config.server_line);
    }
    if !own_date {
        append_date_line(out);
    }
    if let Some(ct) = &content_type {
        field(out, b"Content-Type", ct.as_bytes());
    }
    for (name, value) in &headers {
        if *name == CONTENT_LENGTH || *name == TRANSFER_ENCODING || *name == CONNECTION {
            continue;
        }
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !bodiless {
        if let Some(n) = length {
            out.extend_from_slice(b"Content-Length: ");
            out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            out.extend_from_slice(b"\r\n");
        } else if chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
        }
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if head.version == Version::HTTP_10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");

    let after = if close { After::Close } else { After::KeepOpen };
    if bodiless || reset || head.method == Method::HEAD {
        return Ok(after);
    }
    match body.kind {
        BodyKind::Empty => {}
        BodyKind::Bytes(bytes) => {
            if bytes.len() <= COPY_BODY_MAX {
                io.out.extend_from_slice(&bytes);
            } else {
                io.flush_with(&bytes)?;
            }
        }
        BodyKind::Reader { mut reader, len } => {
            io.flush()?;
            match len {
                Some(n) => send_exactly(io, &mut reader, n)?,
                None => {
                    let mut w = BodyWriter { io, chunked };
                    io::copy(&mut reader, &mut w)?;
                    w.finish()?;
                }
            }
        }
        BodyKind::File { file, offset, len } if len <= COPY_BODY_MAX as u64 => {
            copy_small_file(io, &file, offset, len)?;
        }
        BodyKind::File { file, offset, len } => {
            io.flush()?;
            io.send_file(&file, offset, len)?;
        }
        BodyKind::Stream(write) => {
            io.flush()?;
            let mut w = BodyWriter { io, chunked };
            write(&mut w)?;
            w.finish()?;
        }
    }
    if io.out.len() >= FLUSH_AT {
        io.flush()?;
    }
    Ok(after)
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

/// Reads a small file's `len` bytes from `offset` into the output buffer,
/// behind the head, as a small `Bytes` body is copied: head and body then
/// leave in one write, one TCP segment, where a head write and a
/// `sendfile` would make two (and wake the client twice). A file that ends
/// early (truncated since its length was taken) or fails to read: what it
/// had goes out, and the error closes the connection short of the
/// `Content-Length`.
fn copy_small_file(io: &mut ConnIo, file: &File, offset: u64, len: u64) -> io::Result<()> {
    let start = io.out.len();
    // At most COPY_BODY_MAX, so it fits.
    let len = len as usize;
    io.out.resize(start + len, 0);
    let mut got = 0;
    let failure = loop {
        if got == len {
            return Ok(());
        }
        match file.read_at(&mut io.out[start + got..], offset + got as u64) {
            Ok(0) => {
                break io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file ended before the length sent for it (truncated meanwhile?)",
                )
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break e,
        }
    };
    io.out.truncate(start + got);
    io.flush()?;
    Err(failure)
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
            let out = &mut self.io.out;
            out.extend_from_slice(format!("{:x}\r\n", buf.len()).as_bytes());
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
