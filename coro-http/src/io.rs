//! A connection's buffers: bytes read but not yet parsed, and responses
//! written but not yet sent.
//!
//! The input buffer is read into in large pieces and parsed in place; a
//! pipelining client's requests are all parsed from one read. The output
//! buffer collects the responses to every request already buffered, and is
//! sent with one write when the connection would otherwise wait for input
//! (or when it grows past [`FLUSH_AT`]).
//!
//! [`ConnIo`] keeps its fields to itself: the connection loop, the body
//! reader and the response writer go through its methods. The body being
//! read is the connection loop's, per request (`body::ConnBody` pairs it
//! with the buffers for the handler's reads).

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::link::Link;

/// Size of the first input buffer; it grows (up to the header limit) only
/// for a head that does not fit.
const INPUT_START: usize = 4 * 1024;

/// Capacity of the first output buffer; it grows with what is written.
const OUTPUT_START: usize = 1024;

/// Read size of a file copied through a buffer (over TLS): a multiple of
/// the 16 KiB of plaintext a TLS record holds, so rustls makes whole
/// records of each piece.
const FILE_CHUNK: usize = 64 * 1024;

/// Output past this size is sent before the next request is served.
pub(crate) const FLUSH_AT: usize = 64 * 1024;

/// The bytes of a connection not yet parsed.
#[derive(Debug)]
struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Input {
    fn new() -> Input {
        Input {
            buf: vec![0; INPUT_START],
            start: 0,
            end: 0,
        }
    }

    /// The unparsed bytes.
    fn filled(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes as parsed.
    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// A buffer that holds nothing and owns no memory (see
    /// [`ConnIo::release_buffers`]); the next [`spare`](Self::spare) makes
    /// it [`INPUT_START`] bytes again.
    fn released() -> Input {
        Input {
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// Room to read into: moves the unparsed bytes to the front when the
    /// tail is short, and doubles the buffer (up to `max` total) when it is
    /// full of them.
    fn spare(&mut self, max: usize) -> &mut [u8] {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() && self.buf.len() < max {
            let grown = (self.buf.len() * 2)
                .max(INPUT_START)
                .min(max.max(self.buf.len() + 1));
            self.buf.resize(grown, 0);
        }
        &mut self.buf[self.end..]
    }
}

/// A connection's stream and buffers.
#[derive(Debug)]
pub(crate) struct ConnIo {
    stream: Link,
    input: Input,
    out: Vec<u8>,
    config: Arc<Config>,
}

impl ConnIo {
    pub(crate) fn new(stream: Link, config: Arc<Config>) -> ConnIo {
        ConnIo {
            stream,
            input: Input::new(),
            out: Vec::with_capacity(OUTPUT_START),
            config,
        }
    }

    /// The server's settings.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The stream.
    pub(crate) fn link(&self) -> &Link {
        &self.stream
    }

    /// The stream, for a close.
    pub(crate) fn link_mut(&mut self) -> &mut Link {
        &mut self.stream
    }

    /// The bytes read and not yet parsed or handed out.
    pub(crate) fn buffered(&self) -> &[u8] {
        self.input.filled()
    }

    /// Marks the first `n` buffered bytes as used.
    pub(crate) fn consume(&mut self, n: usize) {
        self.input.consume(n);
    }

    /// The output buffer, to write a response into; it is sent by the
    /// next [`flush`](Self::flush) or [`flush_with`](Self::flush_with).
    pub(crate) fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// The output buffer and the settings, together (a response's head
    /// takes the `Server` line from the settings).
    pub(crate) fn output_and_config(&mut self) -> (&mut Vec<u8>, &Arc<Config>) {
        (&mut self.out, &self.config)
    }

    /// Frees the memory of both buffers, which must be empty: a connection
    /// that has been idle a while keeps nothing but its socket. They are
    /// made again at their first use.
    pub(crate) fn release_buffers(&mut self) {
        debug_assert!(self.input.is_empty() && self.out.is_empty());
        self.input = Input::released();
        self.out = Vec::new();
    }

    /// Reads more input, waiting at most `timeout`. Returns the number of
    /// bytes read: 0 at end of stream, or when the buffer is at its limit.
    pub(crate) fn fill(&mut self, timeout: Duration) -> io::Result<usize> {
        let max = self.config.limits.max_header_bytes.max(INPUT_START);
        let spare = self.input.spare(max);
        if spare.is_empty() {
            return Ok(0);
        }
        self.stream.set_read_timeout(timeout)?;
        let n = self.stream.read(spare)?;
        self.input.end += n;
        Ok(n)
    }

    /// Reads what the socket holds now, without waiting and whatever the
    /// reactor has seen of it yet: 0 if nothing (or end of stream, or the
    /// buffer is at its limit). For the shutdown, which answers a request
    /// already received but waits for none.
    pub(crate) fn fill_now(&mut self) -> io::Result<usize> {
        let max = self.config.limits.max_header_bytes.max(INPUT_START);
        let spare = self.input.spare(max);
        if spare.is_empty() {
            return Ok(0);
        }
        let n = self.stream.read_now(spare)?;
        self.input.end += n;
        Ok(n)
    }

    /// As [`fill`](Self::fill), until `deadline`.
    pub(crate) fn fill_until(&mut self, deadline: Instant) -> io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.fill(left)
    }

    /// Reads straight into `buf`, past the input buffer (for large body
    /// reads once the buffer is empty).
    pub(crate) fn read_direct(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        debug_assert!(self.input.is_empty());
        self.stream.set_read_timeout(timeout)?;
        self.stream.read(buf)
    }

    /// Sends the output buffer.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let result = self.stream.write_all(&self.out);
            self.out.clear();
            result?;
        }
        self.stream.flush()
    }

    /// Sends the output buffer and then `tail`, in as few writes as the
    /// socket takes.
    pub(crate) fn flush_with(&mut self, tail: &[u8]) -> io::Result<()> {
        let result = write_all_vectored(&mut self.stream, &self.out, tail);
        self.out.clear();
        result?;
        self.stream.flush()
    }

    /// Sends `len` bytes of `file` from `offset`, after the output buffer
    /// (which must be flushed first): by `sendfile(2)` on a plain socket,
    /// the kernel copying from the page cache; through a buffer over TLS
    /// or another transport, which must see the bytes. A file that ends
    /// before `len` is an error: the `Content-Length` already sent
    /// promised more, so the connection must close rather than let the
    /// next response be taken for the rest of this one.
    pub(crate) fn send_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<()> {
        debug_assert!(self.out.is_empty());
        let sent = match &self.stream {
            Link::Tcp(socket) => socket.send_file(file, offset, len)?,
            _ => self.copy_file(file, offset, len)?,
        };
        if sent < len {
            return Err(file_ended_early());
        }
        Ok(())
    }

    /// The buffered copy of [`send_file`](Self::send_file): what it sent
    /// (less than `len` if the file ended first).
    fn copy_file(&mut self, file: &File, offset: u64, len: u64) -> io::Result<u64> {
        let mut chunk = vec![0; FILE_CHUNK];
        let mut sent = 0;
        while sent < len {
            let want = chunk
                .len()
                .min(usize::try_from(len - sent).unwrap_or(usize::MAX));
            let n = read_file_at(file, &mut chunk[..want], offset + sent)?;
            if n == 0 {
                break;
            }
            self.stream.write_all(&chunk[..n])?;
            sent += n as u64;
        }
        self.stream.flush()?;
        Ok(sent)
    }
}

/// Reads `file` at `offset` into `buf` until it is full or the file ends:
/// how many bytes it holds then.
pub(crate) fn read_file_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A file body that ended before the `Content-Length` already sent for it.
pub(crate) fn file_ended_early() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "the file ended before the length sent for it (truncated meanwhile?)",
    )
}

/// Writes `a` then `b` with vectored writes until both are sent.
fn write_all_vectored(w: &mut impl Write, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let n = match w.write_vectored(&[IoSlice::new(a), IoSlice::new(b)]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_buffer_compacts_then_grows_to_its_limit() {
        let mut input = Input::new();
        let len = input.buf.len();
        input.end = len;
        input.start = 10;
        assert_eq!(input.spare(len).len(), 10, "compacted");
        input.end = len;
        assert_eq!(input.spare(len).len(), 0, "full at the limit");
        assert_eq!(input.spare(3 * len).len(), len, "doubled");
        input.end = 2 * len;
        assert_eq!(input.spare(3 * len).len(), len, "capped at the limit");
    }

    #[test]
    fn a_released_input_buffer_owns_nothing_and_comes_back_at_its_first_size() {
        let mut input = Input::released();
        assert_eq!(input.buf.capacity(), 0);
        assert_eq!(input.spare(64 * 1024).len(), INPUT_START);
    }
}
