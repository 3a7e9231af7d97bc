//! 10,000 concurrent loopback connections, all open at once, every byte
//! checked. In a file of its own so that no other test competes for file
//! descriptors; the 1- and 4-worker runs are serialized for the same reason.

#[macro_use]
mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use coro::sync::Barrier;
use coro_net::{ListenOptions, TcpListener, TcpStream};

use common::{check_pattern, pattern, pattern_byte};

const WANTED: usize = 10_000;
/// Bytes each client sends and gets echoed.
const MSG: usize = 512;
/// Descriptors kept free for everything else (epoll, runtime, harness).
const SPARE_FDS: u64 = 256;

/// Runs one test at a time in this binary.
static SERIAL: Mutex<()> = Mutex::new(());

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns how many
/// connections fit (two descriptors each: client and accepted side).
fn connection_count() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out-pointer to an rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        } else {
            eprintln!(
                "setrlimit(RLIMIT_NOFILE, {}) failed: {}",
                lim.rlim_max,
                std::io::Error::last_os_error()
            );
        }
    }
    let fits = (lim.rlim_cur.saturating_sub(SPARE_FDS) / 2) as usize;
    if fits < WANTED {
        eprintln!(
            "RLIMIT_NOFILE is {} (hard {}): {WANTED} connections need about {} descriptors \
             (2 per connection + {SPARE_FDS} spare); running {fits} connections instead",
            lim.rlim_cur,
            lim.rlim_max,
            WANTED as u64 * 2 + SPARE_FDS
        );
    }
    assert!(fits >= 100, "too few file descriptors to test anything");
    fits.min(WANTED)
}

fn many_connections() {
    let n = connection_count();
    let listener = TcpListener::bind_with(
        "127.0.0.1:0",
        ListenOptions {
            backlog: 4096,
            ..ListenOptions::default()
        },
    )
    .unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = {
        let accepted = Arc::clone(&accepted);
        coro::spawn(move || {
            let handlers: Vec<_> = (0..n)
                .map(|_| {
                    let (mut s, _) = listener.accept().expect("accept");
                    accepted.fetch_add(1, Ordering::Relaxed);
                    coro::spawn(move || {
                        let mut buf = [0u8; MSG];
                        s.read_exact(&mut buf).expect("server read");
                        s.write_all(&buf).expect("server write");
                        let mut rest = [0u8; 1];
                        assert_eq!(s.read(&mut rest).expect("server read EOF"), 0);
                    })
                })
                .collect();
            for h in handlers {
                h.join().expect("handler panicked");
            }
        })
    };
    let barrier = Arc::new(Barrier::new(n));
    let clients: Vec<_> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let accepted = Arc::clone(&accepted);
            coro::spawn(move || {
                let mut s = TcpStream::connect(addr).expect("connect");
                if barrier.wait().is_leader() {
                    // Every client is connected; the server may still be
                    // draining its accept queue, so this is only a sanity
                    // bound.
                    assert!(accepted.load(Ordering::Relaxed) <= n);
                }
                let seed = i as u64;
                s.write_all(&pattern(seed, MSG)).expect("client write");
                let mut back = [0u8; MSG];
                s.read_exact(&mut back).expect("client read");
                check_pattern(seed, 0, &back);
                s.shutdown(std::net::Shutdown::Write).unwrap();
                back.iter().map(|&b| u64::from(b)).sum::<u64>()
            })
        })
        .collect();
    let sum: u64 = clients
        .into_iter()
        .map(|c| c.join().expect("client panicked"))
        .sum();
    server.join().expect("server panicked");
    assert_eq!(accepted.load(Ordering::Relaxed), n);
    let want: u64 = (0..n as u64)
        .flat_map(|seed| (0..MSG).map(move |k| u64::from(pattern_byte(seed, k))))
        .sum();
    assert_eq!(sum, want, "checksum over {n} connections");
}

fn serialized_many_connections() {
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    many_connections();
}

per_workers!(serialized_many_connections);
