//! Shutdown on `SIGINT` and `SIGTERM`: [`Server::run_until_signal`].
//!
//! # Why a handler and a pipe, not `sigwait`
//!
//! A process-directed signal goes to any one thread that does not block
//! it. `sigwait` on a thread of our own would see it only if *every* other
//! thread blocked it: the mask is per thread, inherited when a thread is
//! started, so it would have to be set before the first thread starts,
//! including the server runtime's workers, which [`Builder::build`] starts,
//! coro's default runtime, and any thread of the application or of a
//! library. A library cannot make that true after the fact, and the
//! failure is silent: a signal that lands on a worker which does not block
//! it kills the process at once, with no drain. So the server installs a
//! handler instead (through `signal-hook`): it runs on whichever thread the
//! signal lands on, and only writes a byte to a pipe (the self-pipe trick,
//! async-signal-safe), which a thread of ours reads. That works whatever
//! the threads' masks, and whenever it is set up.
//!
//! # What a signal does
//!
//! One watcher thread per process, started by the first
//! `run_until_signal`, owns the handler for both signals and a list of the
//! servers that run until a signal. When a signal arrives:
//!
//! 1. if servers are on the list, it takes them off and starts the
//!    graceful shutdown of each ([`ShutdownHandle::shutdown`]); their
//!    `run_until_signal` returns once they have drained;
//! 2. if none is (a second signal during the drain, or one after the
//!    servers stopped), it does what the signal does by default: it ends
//!    the process, as Go's servers and most others do on a second Ctrl-C.
//!
//! Once installed, the handler stays for the life of the process (a
//! signal handler cannot be removed without a window where the signal is
//! lost or kills); case 2 keeps the default behaviour meanwhile.
//!
//! # Doing it yourself
//!
//! An application that waits for signals itself (`sigwait`, `signalfd`)
//! must block them in every thread: call `pthread_sigmask` in `main`
//! before anything starts a thread, before [`Builder::build`] in
//! particular, so that every thread inherits the mask. Blocked after
//! `build`, they are still delivered to the workers, and kill the process.
//! Signals blocked that way never reach the handler above either, so
//! `run_until_signal` then waits for a shutdown from elsewhere.
//!
//! [`Server::run_until_signal`]: crate::Server::run_until_signal
//! [`Builder::build`]: crate::Builder::build
//! [`ShutdownHandle::shutdown`]: crate::ShutdownHandle::shutdown

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The signals that stop the servers.
const SIGNALS: [libc::c_int; 2] = [SIGINT, SIGTERM];

/// The servers that run until a signal, with the id each was given.
struct Watched {
    servers: Mutex<Vec<(u64, Shutdown)>>,
    next_id: AtomicU64,
}

/// The process's watch list.
static WATCHED: Watched = Watched {
    servers: parking_lot::const_mutex(Vec::new()),
    next_id: AtomicU64::new(0),
};

/// Whether the handler and the watcher thread were set up (once): an
/// error says why not.
static WATCHER: OnceLock<Result<(), String>> = OnceLock::new();

/// What starts one server's graceful shutdown.
pub(crate) type Shutdown = Box<dyn Fn() + Send>;

/// A server on the watch list, taken off when dropped.
#[derive(Debug)]
pub(crate) struct Watch {
    id: u64,
}

/// Puts `server` on the list of servers that a signal shuts down,
/// starting the watcher if it is not running.
///
/// # Errors
/// If the signal handler or the watcher thread cannot be set up.
pub(crate) fn watch(server: Shutdown) -> io::Result<Watch> {
    WATCHER
        .get_or_init(start_watcher)
        .as_ref()
        .map_err(|e| io::Error::other(e.clone()))?;
    let id = WATCHED.next_id.fetch_add(1, Ordering::Relaxed);
    WATCHED.servers.lock().push((id, server));
    Ok(Watch { id })
}

impl Drop for Watch {
    fn drop(&mut self) {
        WATCHED.servers.lock().retain(|(id, _)| *id != self.id);
    }
}

fn start_watcher() -> Result<(), String> {
    let mut signals =
        Signals::new(SIGNALS).map_err(|e| format!("cannot handle SIGINT and SIGTERM: {e}"))?;
    std::thread::Builder::new()
        .name("coro-http-signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                on_signal(signal);
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(())
}

/// Steps 1 and 2 of the module docs.
fn on_signal(signal: libc::c_int) {
    let name = if signal == SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    };
    let servers = std::mem::take(&mut *WATCHED.servers.lock());
    if servers.is_empty() {
        log::warn!("{name}: stopping the process at once");
        if let Err(e) = signal_hook::low_level::emulate_default_handler(signal) {
            log::error!("cannot stop on {name}: {e}");
        }
        return;
    }
    for (_, shutdown) in &servers {
        shutdown();
    }
    // After the shutdown has started, so that whoever reads the line knows
    // the servers are draining.
    log::warn!("{name}: shutting down gracefully (another {name} stops at once)");
}
