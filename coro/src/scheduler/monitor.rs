//! The monitor: one thread per runtime of two or more workers that finds
//! workers stuck in one coroutine and makes sure another worker looks at
//! their I/O for them.
//!
//! A worker that runs one coroutine for [`STUCK_AFTER`] or more (a long
//! computation, a blocking call) cannot poll its reactor. The other
//! workers poll it for it (`WorkerCtx::help_stuck_workers`) at their
//! periodic look and before they sleep, and, while any worker runs a
//! coroutine, they sleep at most `STUCK_AFTER` at a time. What that leaves
//! out is a worker that went to sleep while nobody was running and so
//! sleeps without a timeout: the monitor wakes one such sleeper when it
//! finds a worker stuck, and from then on the woken worker keeps looking
//! by itself.
//!
//! The monitor reads one relaxed atomic per worker (`Remote::tick_started`)
//! and costs the workers nothing. It looks every [`BUSY_PERIOD`] while a
//! worker runs a coroutine and every [`IDLE_PERIOD`] while none does, and
//! exits at the runtime's shutdown.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::worker::{nanos_since_epoch, STUCK_AFTER};
use super::Shared;

/// Between two looks while some worker runs a coroutine.
const BUSY_PERIOD: Duration = Duration::from_millis(1);
/// Between two looks while no worker runs one: a long computation is
/// found stuck within this much of its start, at worst.
const IDLE_PERIOD: Duration = Duration::from_millis(10);

/// Starts the monitor of `shared` (a runtime of two or more workers).
pub(crate) fn start(shared: &Arc<Shared>) -> std::io::Result<()> {
    let shared = Arc::clone(shared);
    thread::Builder::new()
        .name(format!("{}-balance", shared.config.thread_name))
        .spawn(move || run(&shared))
        .map(drop)
}

fn run(shared: &Shared) {
    let mut period = IDLE_PERIOD;
    while !shared.is_shutdown() {
        thread::sleep(period);
        let now = nanos_since_epoch(Instant::now());
        let mut running = false;
        let mut stuck = false;
        for remote in shared.remotes.iter() {
            let started = remote
                .tick_started
                .load(std::sync::atomic::Ordering::Relaxed);
            if started != 0 {
                running = true;
                stuck |= now.saturating_sub(started) >= STUCK_AFTER.as_nanos() as u64;
            }
        }
        if stuck {
            shared.notify_work();
        }
        period = if running { BUSY_PERIOD } else { IDLE_PERIOD };
    }
}
