//! [`TcpStream::send_file`]: a file's bytes to the socket with
//! `sendfile(2)`, the kernel copying from the page cache to the socket
//! without a pass through user memory.
//!
//! The socket is nonblocking, so `sendfile` sends what the send buffer
//! takes and returns; when it takes nothing (`EAGAIN`) the coroutine parks
//! on the stream's registration until the socket is writable, as a
//! [`write`](std::io::Write::write) does (see `registration`), and each of
//! those waits is bounded by the stream's write timeout. So a client that
//! stops reading holds the sender for one write timeout, then the call
//! fails with `TimedOut`, whatever is left of the file.
//!
//! A short `sendfile` is not taken as "the send buffer is full" (the drain
//! rule of `registration`): it also means the file ended, and a stream
//! whose WRITE readiness was cleared while the socket still had room would
//! wait for an edge that never comes. The cost is one `EAGAIN` call per
//! buffer's worth.
//!
//! The file offset is passed explicitly, so the file's own position is
//! neither used nor moved, and several sends from one file may overlap.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use crate::registration::Direction;
use crate::tcp::TcpStream;

/// Most bytes one `sendfile` call is asked for: the kernel's own cap
/// (`MAX_RW_COUNT`, `INT_MAX` rounded down to a page).
const SENDFILE_MAX: u64 = 0x7fff_f000;

impl TcpStream {
    /// Sends `len` bytes of `file`, from `offset`, with `sendfile(2)`,
    /// parking the coroutine whenever the socket's send buffer is full.
    /// Returns the number of bytes sent: `len`, or fewer if the file ended
    /// first (it is shorter than `offset + len`, say because it was
    /// truncated), which the caller must treat as an error of its framing.
    /// The file's own position is not moved.
    ///
    /// # Errors
    /// As `sendfile(2)` (a closed connection: `BrokenPipe` or
    /// `ConnectionReset`; a file that cannot be mapped to a socket:
    /// `InvalidInput`), or `TimedOut` when the socket stays full for the
    /// write timeout. Bytes already sent stay sent.
    pub fn send_file(&self, file: &File, offset: u64, len: u64) -> io::Result<u64> {
        let mut sent = 0;
        while sent < len {
            let start = offset.checked_add(sent).ok_or_else(too_far)?;
            let want = (len - sent).min(SENDFILE_MAX);
            let n = self
                .reg
                .io(Direction::Write, self.write_timeout.deadline(), || {
                    sendfile_once(self, file, start, want)
                })?;
            if n == 0 {
                break;
            }
            sent += n;
        }
        Ok(sent)
    }
}

/// One `sendfile` of at most `want` bytes from `start`: the bytes sent
/// (0 at the end of the file) or the error, `WouldBlock` included.
fn sendfile_once(stream: &TcpStream, file: &File, start: u64, want: u64) -> io::Result<u64> {
    let mut off = libc::off_t::try_from(start).map_err(|_| too_far())?;
    let count = usize::try_from(want).unwrap_or(usize::MAX);
    // SAFETY: both fds are open for the call (borrowed from the live
    // stream and file), and `off` is a valid, exclusively borrowed off_t
    // the kernel writes the next offset into.
    let n = unsafe { libc::sendfile(stream.inner.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // Not negative, checked above.
    Ok(n as u64)
}

fn too_far() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "the file offset is past what sendfile can address",
    )
}
