//! A reusable barrier.
//!
//! A count of arrivals in the current generation and a [`WaitList`], behind
//! one `parking_lot` lock. Each of the first `n - 1` callers of
//! [`Barrier::wait`] counts itself and queues; the `n`-th resets the count,
//! starts the next generation and notifies every queued entry, under the
//! lock, so whoever arrives next belongs to the next generation and queues
//! afresh. Since arrival and queueing happen under the same lock hold, the
//! leader always finds every one of its generation's waiters.
//!
//! A waiter that leaves before its generation completed (its runtime was
//! dropped and unwound it) takes its arrival back.

use std::fmt;

use super::wait_list::{self, WaitList};
use crate::task::Waiter;

/// Lets `n` coroutines (or threads) wait until all of them have arrived;
/// then all continue, and the barrier is ready for the next round.
///
/// ```
/// use std::sync::Arc;
/// use coro::sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(10));
/// let handles: Vec<_> = (0..10)
///     .map(|_| {
///         let b = Arc::clone(&barrier);
///         coro::spawn(move || b.wait().is_leader())
///     })
///     .collect();
/// let leaders: usize = handles.into_iter().map(|h| h.join().unwrap() as usize).sum();
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    n: usize,
    state: parking_lot::Mutex<State>,
}

struct State {
    /// Callers of the current generation waiting.
    arrived: usize,
    generation: u64,
    waiters: WaitList<()>,
}

impl State {
    fn list(&mut self) -> &mut WaitList<()> {
        &mut self.waiters
    }
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one caller of each generation: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl Barrier {
    /// A barrier for `n` callers. With `n` of 0 or 1, `wait` never blocks
    /// and every caller is a leader.
    pub const fn new(n: usize) -> Self {
        Barrier {
            n,
            state: parking_lot::Mutex::new(State {
                arrived: 0,
                generation: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Parks the coroutine (or blocks the thread) until `n` callers have
    /// called `wait` in this generation.
    pub fn wait(&self) -> BarrierWaitResult {
        crate::budget::consume_budget();
        let key = {
            let mut s = self.state.lock();
            if s.arrived + 1 >= self.n {
                s.arrived = 0;
                s.generation = s.generation.wrapping_add(1);
                let woken = s.waiters.notify_all();
                drop(s);
                for w in woken {
                    w.wake();
                }
                return BarrierWaitResult(true);
            }
            s.arrived += 1;
            s.waiters.push_back(Waiter::current(), ())
        };
        wait_list::wait(&self.state, key, None, State::list, |s, given| {
            // Leaving before the generation completed: un-arrive.
            if given.is_none() {
                s.arrived -= 1;
            }
        });
        BarrierWaitResult(false)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Barrier")
            .field("n", &self.n)
            .field("arrived", &s.arrived)
            .field("generation", &s.generation)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;

    #[test]
    fn trivial_barriers_never_block() {
        assert!(Barrier::new(0).wait().is_leader());
        let b = Barrier::new(1);
        assert!(b.wait().is_leader());
        assert!(b.wait().is_leader());
    }

    #[test]
    fn threads_pass_in_lockstep() {
        const N: usize = 4;
        const ROUNDS: usize = 100;
        let b = Arc::new(Barrier::new(N));
        let leaders = Arc::new(AtomicUsize::new(0));
        let phase = Arc::new(AtomicUsize::new(0));
        let ts: Vec<_> = (0..N)
            .map(|_| {
                let (b, leaders, phase) = (b.clone(), leaders.clone(), phase.clone());
                thread::spawn(move || {
                    for round in 0..ROUNDS {
                        // Nobody may be a round ahead.
                        assert!(phase.load(Ordering::SeqCst) / N <= round);
                        phase.fetch_add(1, Ordering::SeqCst);
                        if b.wait().is_leader() {
                            leaders.fetch_add(1, Ordering::SeqCst);
                        }
                        assert!(phase.load(Ordering::SeqCst) >= (round + 1) * N);
                        b.wait();
                    }
                })
            })
            .collect();
        for t in ts {
            t.join().unwrap();
        }
        assert_eq!(leaders.load(Ordering::SeqCst), ROUNDS);
    }
}
