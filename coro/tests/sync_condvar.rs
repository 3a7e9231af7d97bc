//! `coro::sync::Condvar` with `coro::sync::Mutex`: producers and consumers,
//! `notify_all`, timeouts, and turn-taking that hangs on a lost wake-up.

mod util;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use coro::sync::{Condvar, Mutex};
use util::{rt_test, wait_until};

/// A bounded queue built from a mutex and two condvars.
struct Bounded {
    items: Mutex<VecDeque<u64>>,
    not_empty: Condvar,
    not_full: Condvar,
    cap: usize,
}

impl Bounded {
    fn new(cap: usize) -> Self {
        Bounded {
            items: Mutex::new(VecDeque::new()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            cap,
        }
    }

    fn push(&self, v: u64) {
        let mut q = self
            .not_full
            .wait_while(self.items.lock(), |q| q.len() >= self.cap);
        q.push_back(v);
        drop(q);
        self.not_empty.notify_one();
    }

    fn pop(&self) -> u64 {
        let mut q = self
            .not_empty
            .wait_while(self.items.lock(), |q| q.is_empty());
        let v = q.pop_front().expect("not empty");
        drop(q);
        self.not_full.notify_one();
        v
    }
}

rt_test! {
    /// Coroutine producers and a thread producer feed coroutine consumers
    /// through a queue of 4; every item arrives once.
    fn producers_and_consumers(rt) {
        const PRODUCERS: u64 = 8;
        const PER_PRODUCER: u64 = 500;
        const CONSUMERS: u64 = 7; // not a divisor of TOTAL: uneven shares
        // One extra producer is a plain thread.
        const TOTAL: u64 = (PRODUCERS + 1) * PER_PRODUCER;
        let q = Arc::new(Bounded::new(4));
        let qt = Arc::clone(&q);
        let thread_producer = thread::spawn(move || {
            for i in 0..PER_PRODUCER {
                qt.push(PRODUCERS * PER_PRODUCER + i);
            }
        });
        let sum = rt.block_on(|| {
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let q = Arc::clone(&q);
                    coro::spawn(move || {
                        for i in 0..PER_PRODUCER {
                            q.push(p * PER_PRODUCER + i);
                        }
                    })
                })
                .collect();
            let consumers: Vec<_> = (0..CONSUMERS)
                .map(|c| {
                    let q = Arc::clone(&q);
                    let share = TOTAL / CONSUMERS + u64::from(c < TOTAL % CONSUMERS);
                    coro::spawn(move || (0..share).map(|_| q.pop()).sum::<u64>())
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            consumers.into_iter().map(|c| c.join().unwrap()).sum::<u64>()
        });
        thread_producer.join().unwrap();
        assert_eq!(sum, TOTAL * (TOTAL - 1) / 2);
        assert!(q.items.lock().is_empty());
    }
}

rt_test! {
    /// `notify_all` releases every waiter, coroutines and a thread alike.
    fn notify_all_wakes_everyone(rt) {
        const WAITERS: usize = 50;
        let state = Arc::new((Mutex::new(false), Condvar::new(), AtomicUsize::new(0)));
        let s2 = Arc::clone(&state);
        let thread_waiter = thread::spawn(move || {
            let (m, cv, waiting) = &*s2;
            let g = m.lock();
            waiting.fetch_add(1, Ordering::SeqCst);
            drop(cv.wait_while(g, |go| !*go));
        });
        rt.block_on(|| {
            let hs: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let state = Arc::clone(&state);
                    coro::spawn(move || {
                        let (m, cv, waiting) = &*state;
                        let g = m.lock();
                        waiting.fetch_add(1, Ordering::SeqCst);
                        drop(cv.wait_while(g, |go| !*go));
                    })
                })
                .collect();
            let (m, cv, waiting) = &*state;
            // Each waiter counted itself under the lock, so once all have,
            // taking the lock means each is inside `wait`.
            wait_until("all waiters wait", || waiting.load(Ordering::SeqCst) == WAITERS + 1);
            *m.lock() = true;
            cv.notify_all();
            for h in hs {
                h.join().unwrap();
            }
        });
        thread_waiter.join().unwrap();
    }
}

rt_test! {
    /// A timed wait with nobody notifying returns after its timeout, from a
    /// coroutine and from a thread; one that is notified in time does not
    /// time out.
    fn wait_timeout_times_out(rt) {
        const TIMEOUT: Duration = Duration::from_millis(20);
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let p2 = Arc::clone(&pair);
        rt.block_on(move || {
            let (m, cv) = &*p2;
            let start = Instant::now();
            let (g, r) = cv.wait_timeout(m.lock(), TIMEOUT);
            assert!(r.timed_out());
            assert!(start.elapsed() >= TIMEOUT);
            drop(g);

            let start = Instant::now();
            let (g, r) = cv.wait_timeout_while(m.lock(), TIMEOUT, |n| *n == 0);
            assert!(r.timed_out());
            assert!(start.elapsed() >= TIMEOUT);
            drop(g);

            let p3 = Arc::clone(&p2);
            let notifier = coro::spawn(move || {
                coro::sleep(Duration::from_millis(2));
                *p3.0.lock() = 1;
                p3.1.notify_one();
            });
            let (g, r) = cv.wait_timeout_while(m.lock(), Duration::from_secs(600), |n| *n == 0);
            assert!(!r.timed_out());
            assert_eq!(*g, 1);
            drop(g);
            notifier.join().unwrap();
        });
        let (m, cv) = &*pair;
        let start = Instant::now();
        let (_g, r) = cv.wait_timeout(m.lock(), TIMEOUT);
        assert!(r.timed_out());
        assert!(start.elapsed() >= TIMEOUT);
    }
}

rt_test! {
    /// Strict turn-taking between two coroutines and a thread through one
    /// condvar and `notify_all`, thousands of times. A single lost wake-up
    /// stalls it, and the watchdog fails the test.
    fn turn_taking_ping_pong(rt) {
        const ROUNDS: usize = 1_000;
        const PLAYERS: usize = 3;
        let state = Arc::new((Mutex::new(0usize), Condvar::new()));
        let play = |state: Arc<(Mutex<usize>, Condvar)>, me: usize| {
            move || {
                let (m, cv) = &*state;
                for round in 0..ROUNDS {
                    let mut g = cv.wait_while(m.lock(), |turn| *turn != round * PLAYERS + me);
                    *g += 1;
                    drop(g);
                    cv.notify_all();
                }
            }
        };
        let t = thread::spawn(play(Arc::clone(&state), 2));
        rt.block_on(|| {
            let a = coro::spawn(play(Arc::clone(&state), 0));
            let b = coro::spawn(play(Arc::clone(&state), 1));
            a.join().unwrap();
            b.join().unwrap();
        });
        t.join().unwrap();
        assert_eq!(*state.0.lock(), ROUNDS * PLAYERS);
    }
}

rt_test! {
    /// `notify_one` wakes waiters one at a time: with N waiters and N
    /// notifications (each after a new item), each item is taken once.
    fn notify_one_hands_out_items(rt) {
        const N: usize = 100;
        let state = Arc::new((Mutex::new(0usize), Condvar::new()));
        rt.block_on(|| {
            let hs: Vec<_> = (0..N)
                .map(|_| {
                    let state = Arc::clone(&state);
                    coro::spawn(move || {
                        let (m, cv) = &*state;
                        let mut g = cv.wait_while(m.lock(), |items| *items == 0);
                        *g -= 1;
                    })
                })
                .collect();
            let (m, cv) = &*state;
            for _ in 0..N {
                *m.lock() += 1;
                cv.notify_one();
                coro::yield_now();
            }
            for h in hs {
                h.join().unwrap();
            }
            assert_eq!(*m.lock(), 0);
        });
    }
}
