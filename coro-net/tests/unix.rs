//! `UnixListener` and `UnixStream`: echo round trips through a socket
//! file, pairs, half-close, read timeouts, and many clients at once, under
//! one worker and under four, and from plain threads.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use coro_net::{UnixListener, UnixStream};

mod common;

use common::{on_runtimes, watchdog};

/// A socket path unique to this process and call, removed on drop.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(name: &str) -> SocketPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("coro-net-{name}-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Echoes everything read until the peer closes its write half.
fn echo(mut stream: UnixStream) {
    let mut buf = [0; 1024];
    loop {
        match stream.read(&mut buf).unwrap() {
            0 => return,
            n => stream.write_all(&buf[..n]).unwrap(),
        }
    }
}

fn echo_round_trips() {
    let path = SocketPath::new("echo");
    let listener = UnixListener::bind(&path.0).unwrap();
    assert_eq!(
        listener.local_addr().unwrap().as_pathname(),
        Some(path.0.as_path())
    );
    let server = coro::spawn(move || {
        let (stream, _peer) = listener.accept().unwrap();
        echo(stream);
    });
    let mut client = UnixStream::connect(&path.0).unwrap();
    assert_eq!(
        client.peer_addr().unwrap().as_pathname(),
        Some(path.0.as_path())
    );
    // More than the socket buffers hold, so both sides park on the way.
    let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut writer = client.try_clone().unwrap();
    let to_send = data.clone();
    let sender = coro::spawn(move || {
        writer.write_all(&to_send).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert!(got == data, "echoed bytes differ");
    sender.join().unwrap();
    server.join().unwrap();
}

#[test]
fn unix_echo_round_trips() {
    on_runtimes(echo_round_trips);
}

fn pair_and_vectored() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let n = a
        .write_vectored(&[IoSlice::new(b"ab"), IoSlice::new(b"cd")])
        .unwrap();
    assert_eq!(n, 4);
    let (mut x, mut y) = ([0; 1], [0; 3]);
    let n = b
        .read_vectored(&mut [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)])
        .unwrap();
    assert_eq!((n, &x, &y), (4, b"a", b"bcd"));

    // `&UnixStream` reads and writes too, from two coroutines.
    let reader = coro::spawn(move || {
        let mut buf = [0; 5];
        (&b).read_exact(&mut buf).unwrap();
        buf
    });
    (&a).write_all(b"hello").unwrap();
    assert_eq!(&reader.join().unwrap(), b"hello");
    a.flush().unwrap();
}

#[test]
fn unix_pair() {
    on_runtimes(pair_and_vectored);
}

fn half_close() {
    let (mut a, mut b) = UnixStream::pair().unwrap();
    let reader = coro::spawn(move || {
        let mut got = Vec::new();
        b.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"last words");
        assert_eq!(b.read(&mut [0; 8]).unwrap(), 0);
        // The other direction still works.
        b.write_all(b"reply").unwrap();
    });
    a.write_all(b"last words").unwrap();
    a.shutdown(Shutdown::Write).unwrap();
    let mut reply = [0; 5];
    a.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"reply");
    reader.join().unwrap();
}

#[test]
fn unix_half_close() {
    on_runtimes(half_close);
}

/// Pairs per run of [`short_read_then_eof`].
const SHORT_READ_ITERATIONS: usize = 300;

/// The peer writes and closes while the reader is parked (on one worker the
/// data and the hang-up then reach epoll as one event): the reader's short
/// read must be followed by end-of-file, not a hang. A short read clears
/// read readiness unless the hang-up was seen; see `registration`.
fn short_read_then_eof() {
    for i in 0..SHORT_READ_ITERATIONS {
        let (mut a, b) = UnixStream::pair().unwrap();
        b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let (reading_tx, reading_rx) = coro::chan::bounded::<()>(1);
        let writer = coro::spawn(move || {
            reading_rx.recv().unwrap();
            a.write_all(b"bye").unwrap();
            if i % 2 == 0 {
                drop(a);
            } else {
                a.shutdown(Shutdown::Write).unwrap();
            }
        });
        reading_tx.send(()).unwrap();
        let mut got = Vec::new();
        let mut buf = [0; 1024];
        loop {
            match (&b).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("iteration {i}: {e} after {got:?} (end-of-file lost?)"),
            }
        }
        assert_eq!(got, b"bye", "iteration {i}");
        writer.join().unwrap();
    }
}

#[test]
fn unix_short_read_then_eof() {
    on_runtimes(short_read_then_eof);
}

fn read_times_out() {
    let (mut a, _b) = UnixStream::pair().unwrap();
    let timeout = Duration::from_millis(50);
    a.set_read_timeout(Some(timeout)).unwrap();
    assert_eq!(a.read_timeout().unwrap(), Some(timeout));
    let start = Instant::now();
    let err = a.read(&mut [0; 8]).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    assert!(start.elapsed() >= timeout);
}

#[test]
fn unix_read_timeout() {
    on_runtimes(read_times_out);
}

/// Many client coroutines connect at once; one coroutine accepts them all
/// and hands each to an echo coroutine.
fn accept_under_load() {
    const CLIENTS: usize = 200;

    let path = SocketPath::new("load");
    let listener = UnixListener::bind(&path.0).unwrap();
    let server = coro::spawn(move || {
        let handlers: Vec<_> = listener
            .incoming()
            .take(CLIENTS)
            .map(|s| {
                let s = s.unwrap();
                coro::spawn(move || echo(s))
            })
            .collect();
        for h in handlers {
            h.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let path = path.0.clone();
            coro::spawn(move || {
                let mut s = UnixStream::connect(&path).unwrap();
                let msg = format!("client {c}");
                s.write_all(msg.as_bytes()).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut got = String::new();
                s.read_to_string(&mut got).unwrap();
                assert_eq!(got, msg);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn unix_accept_under_load() {
    on_runtimes(accept_under_load);
}

/// Outside any coroutine the calls block the thread, as `std`'s do.
#[test]
fn unix_plain_threads() {
    watchdog("unix", || {
        let path = SocketPath::new("thread");
        let listener = UnixListener::bind(&path.0).unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            echo(stream);
        });
        let mut client = UnixStream::connect(&path.0).unwrap();
        client.write_all(b"plain").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"plain");
        server.join().unwrap();

        let (a, _b) = UnixStream::pair().unwrap();
        let timeout = Duration::from_millis(30);
        a.set_read_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        let err = (&a).read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() >= timeout);
    });
}

#[test]
fn unix_errors() {
    let path = SocketPath::new("missing");
    assert_eq!(
        UnixStream::connect(&path.0).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    let _listener = UnixListener::bind(&path.0).unwrap();
    assert_eq!(
        UnixListener::bind(&path.0).unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
    let (a, _b) = UnixStream::pair().unwrap();
    assert!(a.set_write_timeout(Some(Duration::ZERO)).is_err());
    assert!(a.take_error().unwrap().is_none());
    assert!(a.local_addr().unwrap().is_unnamed());
}

/// A socket file whose listener was dropped refuses connections.
#[test]
fn unix_connect_refused() {
    let path = SocketPath::new("refused");
    drop(UnixListener::bind(&path.0).unwrap());
    assert_eq!(
        UnixStream::connect(&path.0).unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

/// With the listener's backlog full, connects answer `EAGAIN` and must be
/// retried (not parked forever) until the server starts accepting.
fn connect_with_full_backlog() {
    const CLIENTS: usize = 16;
    /// Tiny, so most connects find the backlog full.
    const BACKLOG: i32 = 1;

    let path = SocketPath::new("backlog");
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&socket2::SockAddr::unix(&path.0).unwrap())
        .unwrap();
    socket.listen(BACKLOG).unwrap();
    let listener = UnixListener::from_std(socket.into()).unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let path = path.0.clone();
            coro::spawn(move || {
                let mut s = UnixStream::connect(&path).unwrap();
                s.write_all(&[c as u8]).unwrap();
                s.shutdown(Shutdown::Write).unwrap();
                let mut got = Vec::new();
                s.read_to_end(&mut got).unwrap();
                assert_eq!(got, [c as u8]);
            })
        })
        .collect();
    // Let the clients fill the backlog before accepting anything.
    coro::sleep(Duration::from_millis(50));
    let handlers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (s, _) = listener.accept().unwrap();
            coro::spawn(move || echo(s))
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    for h in handlers {
        h.join().unwrap();
    }
}

#[test]
fn unix_connect_full_backlog() {
    on_runtimes(connect_with_full_backlog);
}

/// Sends `data` with `fd` attached (`SCM_RIGHTS`).
fn send_with_fd(sock: &std::os::unix::net::UnixStream, data: &[u8], fd: i32) {
    use std::os::fd::AsRawFd;
    let space = {
        // SAFETY: CMSG_SPACE only computes a size.
        unsafe { libc::CMSG_SPACE(std::mem::size_of::<i32>() as u32) as usize }
    };
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: the msghdr points at `iov` and `control`, which outlive the
    // call; the control buffer has room for one header and one fd, written
    // through the CMSG macros within it.
    let sent = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let header = libc::CMSG_FIRSTHDR(&msg);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as _;
        std::ptr::copy_nonoverlapping(
            (&fd as *const i32).cast::<u8>(),
            libc::CMSG_DATA(header),
            std::mem::size_of::<i32>(),
        );
        libc::sendmsg(sock.as_raw_fd(), &msg, 0)
    };
    assert_eq!(sent, data.len() as isize);
}

fn read_after_a_read_stopped_at_passed_fds() {
    use std::os::fd::AsRawFd;
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let b = UnixStream::from_std(b).unwrap();
    let devnull = std::fs::File::open("/dev/null").unwrap();
    // The kernel stops a read at the message that carried the fd, with the
    // bytes behind it still queued and no new edge to come.
    send_with_fd(&a, b"AAAA", devnull.as_raw_fd());
    (&a).write_all(b"BBBB").unwrap();
    // Let the reactor deliver the edge for all of it before the first read,
    // so that no later event could set read readiness again.
    coro::sleep(Duration::from_millis(50));
    let mut buf = [0u8; 100];
    let mut got = 0;
    while got < 8 {
        let n = (&b).read(&mut buf[got..]).unwrap();
        assert!(n > 0, "end of stream before the queued bytes");
        got += n;
    }
    assert_eq!(&buf[..8], b"AAAABBBB");
}

#[test]
fn unix_read_after_a_read_stopped_at_passed_fds() {
    on_runtimes(read_after_a_read_stopped_at_passed_fds);
}
