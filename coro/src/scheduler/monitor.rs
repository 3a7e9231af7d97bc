//! The monitor: one thread per runtime that keeps time for the workers, so
//! that no worker reads a clock per tick (as Go's `sysmon` does for its
//! processors).
//!
//! Every [`BUSY_PERIOD`] while some worker runs coroutines (every
//! [`IDLE_PERIOD`] otherwise) it reads each worker's probe (the count of
//! resumes and the running coroutine, two relaxed atomics the worker writes
//! at each resume; see [`super::hog`]) and:
//!
//! * asks each running worker for its periodic look (`Remote::poll_due`)
//!   unless the worker was running at the last look too and has looked at
//!   its I/O on its own since (`Remote::looks`: its looks by ticks and its
//!   waits, not the looks asked for): after its current coroutine
//!   suspends, the worker polls its I/O driver, fires its timers
//!   and takes from its inbox and the injector ahead of local work, so a
//!   worker whose coroutines run for milliseconds between suspensions still
//!   sees I/O within about one of them;
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
//! While every running worker was running at the last look too, has
//! looked on its own since, and none is stuck (the common case under a load of short requests: a worker
//! waits in its driver every few dozen of them), the monitor has nothing
//! to do, and it doubles its period up to [`CALM_PERIOD`]; anything else
//! brings it back to [`BUSY_PERIOD`]. As Go's `sysmon` backs off, and
//! for the same reason: at a millisecond, the monitor woke a thousand
//! times a second beside a busy worker, and where they shared a CPU
//! (one worker pinned) it preempted the worker as often, for about 2% of
//! the CPU. The cost of the back-off is that a worker that turns from
//! short runs to long ones is asked for its first look up to a
//! `CALM_PERIOD` late, and found stuck that much later. A worker that has
//! just started running is never calm: the waits it did before say
//! nothing about the run it is in (a look that counted them let a worker
//! computing between yields go a `CALM_PERIOD` unasked at its start).
//!
//! It sleeps its idle period only when no worker has run since its last
//! look (a worker is *active* if it was in a run at this look or the last
//! one, or resumed one in between: a look between two runs finds no
//! coroutine running) and every worker waits. It raises
//! `IdleWake::sleeping` and then reads the workers' sleep states; a worker
//! leaving a wait sets its state awake and then reads the flag, and wakes
//! the monitor if it is raised (Go's `sysmon` is woken from its idle sleep
//! the same way). Both sides are `SeqCst`, so either the monitor sees the
//! worker awake and does not sleep long, or the worker sees the flag. The
//! monitor then looks again a busy period later, and it starts at the busy
//! period. Before that, a look that fell between two runs, or a monitor
//! that was still starting, left a coroutine that computes between yields
//! an `IDLE_PERIOD` unasked and unwatched: `tcp_fairness`'s reader beside
//! it was woken 4 slices late, 5 runs in 40. A worker pays one load per
//! wait for this while the runtime is busy, a wake-up otherwise.
//!
//! It exits at the runtime's shutdown (which unparks it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use super::hog::HogWatch;
use super::Shared;

/// Between two looks while some worker runs a coroutine: the periodic
/// look, stuck workers and congestion are seen within about this much.
const BUSY_PERIOD: Duration = super::DRIVER_POLL_PERIOD;
/// Between two looks while no worker runs one.
const IDLE_PERIOD: Duration = Duration::from_millis(10);
/// The longest period the monitor backs off to while every running worker
/// looks at its I/O on its own (see the module docs): a few milliseconds,
/// so that a worker that starts a long run is still asked for its look,
/// and found stuck, within a few milliseconds.
const CALM_PERIOD: Duration = Duration::from_millis(4);
/// CPU time one run must use after the monitor first found it stuck (so a
/// millisecond or more in all) to make the runtime congested.
const LONG_RUN: Duration = Duration::from_micros(800);
/// How long the runtime stays congested after a long run.
const CONGESTION_WINDOW: Duration = Duration::from_secs(1);

/// How a worker wakes the monitor from its idle period (`Shared::monitor`).
#[derive(Debug, Default)]
pub(crate) struct IdleWake {
    /// The monitor's thread, set when it starts.
    thread: OnceLock<thread::Thread>,
    /// Set while the monitor sleeps its idle period; cleared by the first
    /// worker to leave a wait meanwhile, which wakes it.
    sleeping: AtomicBool,
}

impl IdleWake {
    /// Called by a worker that left a wait (its sleep state already
    /// awake): wakes the monitor if it sleeps its idle period. One load
    /// while it does not, which is always while the runtime is busy.
    pub(crate) fn wake_if_idle(&self) {
        // SeqCst against `begin_idle`: the monitor either sees this worker
        // awake or this load sees its flag.
        if self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst) {
            if let Some(monitor) = self.thread.get() {
                monitor.unpark();
            }
        }
    }

    /// Whether the monitor may sleep its idle period: every worker waits.
    /// If so the flag stays set, for the first worker that leaves its wait
    /// to clear.
    fn begin_idle(&self, remotes: &[Arc<super::Remote>]) -> bool {
        self.sleeping.store(true, Ordering::SeqCst);
        if remotes.iter().all(|r| r.sleeper.is_waiting()) {
            return true;
        }
        self.sleeping.store(false, Ordering::Relaxed);
        false
    }

    /// Sleeps `period`; when it is the idle one (`begin_idle` said so),
    /// true if a worker cut it short.
    fn sleep(&self, period: Duration, idle: bool) -> bool {
        thread::park_timeout(period);
        idle && !self.sleeping.swap(false, Ordering::SeqCst)
    }
}

/// Starts the monitor of `shared`, with hog reports past `hog_threshold`.
pub(crate) fn start(
    shared: &Arc<Shared>,
    hog_threshold: Option<Duration>,
) -> std::io::Result<thread::JoinHandle<()>> {
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name(format!("{}-monitor", shared.config.thread_name))
        .spawn(move || {
            let _ = shared.monitor.thread.set(thread::current());
            run(&shared, hog_threshold)
        })
}

/// What the monitor saw of one worker at its last look.
#[derive(Clone, Copy, Default)]
struct Seen {
    runs: u32,
    id: u64,
    /// The worker's `looks`.
    looks: u32,
    /// It was in a run, or had run since the look before.
    active: bool,
    /// The worker thread's CPU time at the first look that found this run
    /// stuck.
    cpu: Option<Duration>,
}

fn run(shared: &Shared, hog_threshold: Option<Duration>) {
    let mut hogs = hog_threshold.map(|t| HogWatch::new(shared.remotes.len(), t));
    let mut seen = vec![Seen::default(); shared.remotes.len()];
    let mut congested_until: Option<Instant> = None;
    let mut period = BUSY_PERIOD;
    let mut idle = false;
    while !shared.is_shutdown() {
        let woken = shared.monitor.sleep(period, idle);
        let mut running = false;
        let mut any_stuck = false;
        let mut long_run = false;
        // Every active worker looked on its own since the last look.
        let mut calm = true;
        for (remote, seen) in shared.remotes.iter().zip(&mut seen) {
            let (runs, id) = remote.probe.sample();
            let looks = remote.looks.load(Ordering::Relaxed);
            let looked = looks != seen.looks;
            // Active: running at some time since the last look: in a run
            // then or now, or resumed one in between. A look between two
            // runs finds no coroutine running; taking that for idleness
            // slept an idle period beside a coroutine that computes
            // between yields.
            let active = id != 0 || seen.id != 0 || runs != seen.runs;
            // Calm needs two looks that both found the worker active: its
            // waits before it began say nothing about what it runs now.
            let was_active = seen.active;
            if !active {
                remote.stuck.store(false, Ordering::Relaxed);
                *seen = Seen {
                    runs,
                    id,
                    looks,
                    active,
                    cpu: None,
                };
                continue;
            }
            running = true;
            if !(looked && was_active) {
                remote.poll_due.store(true, Ordering::Relaxed);
                calm = false;
            }
            if id == 0 || (runs, id) != (seen.runs, seen.id) {
                remote.stuck.store(false, Ordering::Relaxed);
                *seen = Seen {
                    runs,
                    id,
                    looks,
                    active,
                    cpu: None,
                };
                continue;
            }
            seen.looks = looks;
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
        // A worker that woke us has left a wait to run, though perhaps it
        // has not resumed a coroutine yet: look again a busy period later
        // rather than an idle one.
        period = next_period(period, running || woken, calm && running && !any_stuck);
        idle = period == IDLE_PERIOD && shared.monitor.begin_idle(&shared.remotes);
        if period == IDLE_PERIOD && !idle {
            // Nothing ran since the last look, but a worker has left its
            // wait since: it is about to.
            period = BUSY_PERIOD;
        }
    }
}

/// The period after one of `period`: `running`, some worker runs a
/// coroutine; `calm`, every running worker looked at its I/O on its own
/// since the last look and none is stuck.
fn next_period(period: Duration, running: bool, calm: bool) -> Duration {
    if !running {
        IDLE_PERIOD
    } else if calm {
        (period * 2).clamp(BUSY_PERIOD, CALM_PERIOD)
    } else {
        BUSY_PERIOD
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_backs_off_while_calm_and_snaps_back_when_not() {
        // From idle to busy and calm: straight to the calm cap.
        assert_eq!(next_period(IDLE_PERIOD, true, true), CALM_PERIOD);
        // Busy and calm: doubling from the busy period, up to the cap.
        let mut period = BUSY_PERIOD;
        let mut seen = vec![period];
        while period < CALM_PERIOD {
            period = next_period(period, true, true);
            seen.push(period);
        }
        assert_eq!(seen, [BUSY_PERIOD, BUSY_PERIOD * 2, BUSY_PERIOD * 4]);
        assert_eq!(next_period(CALM_PERIOD, true, true), CALM_PERIOD);
        // A worker that did not look, or a stuck one: back to the busy period.
        assert_eq!(next_period(CALM_PERIOD, true, false), BUSY_PERIOD);
        // Nothing running: the idle period.
        assert_eq!(next_period(BUSY_PERIOD, false, false), IDLE_PERIOD);
    }
}
