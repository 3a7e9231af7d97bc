//! The monitor: one thread per runtime that keeps time for the workers, so
//! that no worker reads a clock per tick (as Go's `sysmon` does for its
//! processors).
//!
//! Every [`BUSY_PERIOD`] while some worker runs coroutines (every
//! [`IDLE_PERIOD`] otherwise) it reads each worker's probe (the count of
//! resumes and the running coroutine, two relaxed atomics the worker writes
//! at each resume; see [`super::hog`]) and:
//!
//! * asks each worker that is running for its periodic look
//!   (`Remote::poll_due`): after its current coroutine suspends, the worker
//!   polls its I/O driver, fires its timers and takes from its inbox and
//!   the injector ahead of local work, so a worker whose coroutines run for
//!   milliseconds between suspensions still sees I/O within about one of
//!   them;
//! * marks *stuck* a worker that is in the same run as at its last look,
//!   at least a period long (`Remote::stuck`), and wakes a sleeping worker
//!   (`notify_work`) to help: the others poll a stuck worker's driver
//!   (`WorkerCtx::help_stuck_workers`), so events for sockets that wait
//!   without a coroutine ([`crate::Unstarted`]) start coroutines on a free
//!   worker; and while any worker runs, idle workers sleep at most
//!   `STUCK_AFTER` at a time, to keep helping;
//! * makes the runtime *congested* for [`CONGESTION_WINDOW`] when a stuck
//!   worker's thread has used [`LONG_RUN`] of CPU time in one run since
//!   it was found stuck. CPU
//!   time, not wall time: a worker thread that the kernel preempted (more
//!   runnable threads than cores, as when the load generator shares the
//!   machine) has not run long. The thread's CPU clock is read only for
//!   stuck workers.
//!
//! * reports coroutines that run past the hog threshold ([`super::hog`]),
//!   when one is set.
//!
//! It exits at the runtime's shutdown (which unparks it).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::hog::HogWatch;
use super::Shared;

/// Between two looks while some worker runs a coroutine: the periodic
/// look, stuck workers and congestion are seen within about this much.
const BUSY_PERIOD: Duration = super::DRIVER_POLL_PERIOD;
/// Between two looks while no worker runs one.
const IDLE_PERIOD: Duration = Duration::from_millis(10);
/// CPU time one run must use after the monitor first found it stuck (so a
/// millisecond or more in all) to make the runtime congested.
const LONG_RUN: Duration = Duration::from_micros(800);
/// How long the runtime stays congested after a long run.
const CONGESTION_WINDOW: Duration = Duration::from_secs(1);

/// Starts the monitor of `shared`, with hog reports past `hog_threshold`.
pub(crate) fn start(
    shared: &Arc<Shared>,
    hog_threshold: Option<Duration>,
) -> std::io::Result<thread::JoinHandle<()>> {
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name(format!("{}-monitor", shared.config.thread_name))
        .spawn(move || run(&shared, hog_threshold))
}

/// What the monitor saw of one worker at its last look.
#[derive(Clone, Copy, Default)]
struct Seen {
    runs: u32,
    id: u64,
    /// The worker thread's CPU time at the first look that found this run
    /// stuck.
    cpu: Option<Duration>,
}

fn run(shared: &Shared, hog_threshold: Option<Duration>) {
    let mut hogs = hog_threshold.map(|t| HogWatch::new(shared.remotes.len(), t));
    let mut seen = vec![Seen::default(); shared.remotes.len()];
    let mut congested_until: Option<Instant> = None;
    let mut period = IDLE_PERIOD;
    while !shared.is_shutdown() {
        thread::park_timeout(period);
        let mut running = false;
        let mut any_stuck = false;
        let mut long_run = false;
        for (remote, seen) in shared.remotes.iter().zip(&mut seen) {
            let (runs, id) = remote.probe.sample();
            if id == 0 {
                remote.stuck.store(false, Ordering::Relaxed);
                *seen = Seen {
                    runs,
                    id,
                    cpu: None,
                };
                continue;
            }
            running = true;
            remote.poll_due.store(true, Ordering::Relaxed);
            if (runs, id) != (seen.runs, seen.id) {
                remote.stuck.store(false, Ordering::Relaxed);
                *seen = Seen {
                    runs,
                    id,
                    cpu: None,
                };
                continue;
            }
            remote.stuck.store(true, Ordering::Relaxed);
            any_stuck = true;
            let cpu = remote.cpu_clock.get().and_then(|&c| cpu_time(c));
            match (seen.cpu, cpu) {
                (Some(first), Some(now)) => long_run |= now.saturating_sub(first) >= LONG_RUN,
                (None, _) => seen.cpu = cpu,
                (Some(_), None) => {}
            }
        }
        let now = Instant::now();
        if let Some(hogs) = &mut hogs {
            hogs.look(shared, now);
        }
        if long_run {
            congested_until = Some(now + CONGESTION_WINDOW);
        }
        let congested = congested_until.is_some_and(|until| now < until);
        if shared.congested.load(Ordering::Relaxed) != congested {
            shared.congested.store(congested, Ordering::Relaxed);
        }
        if any_stuck {
            shared.notify_work();
        }
        period = if running { BUSY_PERIOD } else { IDLE_PERIOD };
    }
}

/// The CPU time of the thread whose clock is `clock`.
fn cpu_time(clock: libc::clockid_t) -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to fill; a clock of a thread that
    // has exited is an error (EINVAL), not undefined behaviour.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}
