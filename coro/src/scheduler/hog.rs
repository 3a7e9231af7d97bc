//! Hog detection: reporting a coroutine that runs too long without
//! suspending.
//!
//! A coroutine that computes, or calls something blocking, for long
//! without suspending holds its worker: every other coroutine of that
//! worker waits (the README's first caveat). The cure is
//! [`spawn_blocking`](crate::spawn_blocking); this module finds the places
//! that need it.
//!
//! # Design
//!
//! Nothing is timed on the worker. Each worker publishes, in its
//! [`Probe`], two relaxed atomics: `runs`, bumped at every resume, and
//! `running`, the id of the coroutine it resumed (0 while it runs none).
//! That is two plain stores per resume and one per suspension, with no
//! clock read and no shared cache line written by anyone else.
//!
//! The runtime's monitor thread ([`super::monitor`]), which looks at the
//! probes every millisecond while a worker runs coroutines, checks them
//! against the threshold
//! ([`runtime::Builder::hog_threshold`](crate::runtime::Builder::hog_threshold),
//! 10 ms by default) at each look ([`HogWatch`]). When it sees the same `(runs, running)` pair, with a coroutine
//! running, for at least the threshold, that one resume has lasted at
//! least that long: it logs one `log::warn!` naming the coroutine (its name
//! if it has one, and its id), its worker and how long it has run so far,
//! and stays quiet about that resume until the worker moves on. The report
//! comes while the coroutine still runs, so a coroutine that never returns
//! is reported too. The monitor exits when the runtime is dropped.
//!
//! Names: a coroutine's name lives in its task, which the monitor cannot
//! safely reach from another thread. A worker that resumes a *named*
//! coroutine copies the `Arc<str>` into the probe behind a small lock, so
//! unnamed coroutines (the common case: connections, requests) pay
//! nothing for it.
//!
//! # What happens to the other coroutines of a stuck worker
//!
//! Go's `sysmon` hands a processor stuck in a system call to another
//! thread. Here:
//!
//! * never-started coroutines in the stuck worker's fresh queue are stolen
//!   by the other workers already (they look for work when idle, and are
//!   woken to when a spawn lands on a busy worker), and so are spawns from
//!   plain threads (the shared injector); only its *runnext* task waits
//!   until another worker's second search (see `steal_runnext`);
//! * started coroutines cannot move: a suspended stack may hold `!Send`
//!   values and thread-local addresses cached by the compiler (see
//!   `crate::switch`), so they resume only on the worker that first ran
//!   them, and wait until the hog suspends. A replacement thread would help
//!   only the never-started ones, which stealing already covers, so there
//!   is none; the hog report says where `spawn_blocking` is needed.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Shared;

/// The default threshold of [`crate::runtime::Builder::hog_threshold`].
pub(crate) const DEFAULT_THRESHOLD: Duration = Duration::from_millis(10);
/// What a worker publishes for the monitor.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// Resumes so far (wrapping). Written by the worker only.
    runs: AtomicU32,
    /// The id of the coroutine being resumed, 0 between resumes.
    running: AtomicU64,
    /// The name of the running coroutine, for named ones only.
    name: Mutex<Option<Arc<str>>>,
}

impl Probe {
    /// The worker is about to resume coroutine `id`. Worker only.
    #[inline]
    pub(crate) fn begin(&self, id: u64, name: Option<&Arc<str>>) {
        if let Some(name) = name {
            *self.name.lock() = Some(Arc::clone(name));
        }
        let runs = self.runs.load(Ordering::Relaxed).wrapping_add(1);
        self.runs.store(runs, Ordering::Relaxed);
        self.running.store(id, Ordering::Relaxed);
    }

    /// The coroutine suspended or returned. Worker only.
    #[inline]
    pub(crate) fn end(&self, named: bool) {
        self.running.store(0, Ordering::Relaxed);
        if named {
            *self.name.lock() = None;
        }
    }

    /// Whether the worker runs a coroutine now.
    pub(crate) fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed) != 0
    }

    /// The number of resumes so far and the running coroutine's id (0:
    /// none).
    pub(crate) fn sample(&self) -> (u32, u64) {
        (
            self.runs.load(Ordering::Relaxed),
            self.running.load(Ordering::Relaxed),
        )
    }
}

/// The monitor's view of one worker.
#[derive(Clone, Copy)]
struct Seen {
    runs: u32,
    id: u64,
    since: Instant,
    reported: bool,
}

/// The monitor thread's body: samples until the runtime shuts down.
/// The hog check, run by the runtime's monitor at each of its looks.
pub(crate) struct HogWatch {
    threshold: Duration,
    seen: Vec<Seen>,
}

impl HogWatch {
    pub(crate) fn new(workers: usize, threshold: Duration) -> HogWatch {
        let now = Instant::now();
        HogWatch {
            threshold,
            seen: (0..workers)
                .map(|_| Seen {
                    runs: 0,
                    id: 0,
                    since: now,
                    reported: false,
                })
                .collect(),
        }
    }

    /// Reports each run that has lasted the threshold, once.
    pub(crate) fn look(&mut self, shared: &Shared, now: Instant) {
        let threshold = self.threshold;
        for (index, (remote, s)) in shared.remotes.iter().zip(&mut self.seen).enumerate() {
            let (runs, id) = remote.probe.sample();
            if id == 0 || runs != s.runs || id != s.id {
                *s = Seen {
                    runs,
                    id,
                    since: now,
                    reported: false,
                };
                continue;
            }
            let ran = now - s.since;
            if s.reported || ran < threshold {
                continue;
            }
            s.reported = true;
            let name = remote.probe.name.lock().clone();
            // The name is the running coroutine's only if it is still the
            // same resume.
            let name = name.filter(|_| remote.probe.sample() == (runs, id));
            let who = match name {
                Some(n) => format!("coroutine {id} ({n:?})"),
                None => format!("coroutine {id}"),
            };
            log::warn!(
                "coro: {who} on worker {index} ({}-{index}) has run for at least {} ms without \
                 suspending; every other coroutine of that worker waits. Move blocking or \
                 CPU-heavy work to coro::spawn_blocking",
                shared.config.thread_name,
                ran.as_millis(),
            );
        }
    }
}
