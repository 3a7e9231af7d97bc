//! `coro::sync::RwLock`: readers share, writers exclude, and a writer is
//! not starved by a stream of readers.

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use coro::sync::{Barrier, RwLock, RwLockWriteGuard};
use util::rt_test;

rt_test! {
    /// N readers hold the lock at the same time: they meet at a barrier of
    /// N while holding it, which only works if all are inside at once.
    fn readers_are_concurrent(rt) {
        const READERS: usize = 20;
        let lock = Arc::new(RwLock::new(5));
        let barrier = Arc::new(Barrier::new(READERS + 1));
        let (l2, b2) = (Arc::clone(&lock), Arc::clone(&barrier));
        let t = thread::spawn(move || {
            let g = l2.read();
            b2.wait();
            *g
        });
        let sum = rt.block_on(|| {
            let hs: Vec<_> = (0..READERS)
                .map(|_| {
                    let (lock, barrier) = (Arc::clone(&lock), Arc::clone(&barrier));
                    coro::spawn(move || {
                        let g = lock.read();
                        barrier.wait();
                        *g
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<i32>()
        });
        assert_eq!(sum + t.join().unwrap(), 5 * (READERS as i32 + 1));
    }
}

rt_test! {
    /// Writers exclude everyone: readers never see a half-done update, and
    /// no increment is lost, with coroutines and threads mixed.
    fn writers_are_exclusive(rt) {
        const COROUTINES: usize = 40;
        const ITERS: usize = 100;
        let lock = Arc::new(RwLock::new((0usize, 0usize)));
        let writes = Arc::new(AtomicUsize::new(0));
        let body = |lock: Arc<RwLock<(usize, usize)>>, writes: Arc<AtomicUsize>, id: usize, suspend: fn()| {
            move || {
                for i in 0..ITERS {
                    if (i + id) % 5 == 0 {
                        let mut g = lock.write();
                        g.0 += 1;
                        suspend();
                        g.1 += 1;
                        writes.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let g = lock.read();
                        let a = g.0;
                        suspend();
                        assert_eq!(a, g.1, "a reader saw a torn write");
                    }
                }
            }
        };
        let threads: Vec<_> = (0..2)
            .map(|id| thread::spawn(body(lock.clone(), writes.clone(), id, thread::yield_now)))
            .collect();
        rt.block_on(|| {
            let hs: Vec<_> = (0..COROUTINES)
                .map(|id| coro::spawn(body(lock.clone(), writes.clone(), id, coro::yield_now)))
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        });
        for t in threads {
            t.join().unwrap();
        }
        let g = lock.read();
        assert_eq!(g.0, writes.load(Ordering::Relaxed));
        assert_eq!(g.0, g.1);
    }
}

rt_test! {
    /// Readers overlap without pause (each takes the lock before the last
    /// lets go); a writer must still get in, several times.
    fn a_writer_is_not_starved_by_readers(rt) {
        const READERS: usize = 8;
        let lock = Arc::new(RwLock::new(0u32));
        let stop = Arc::new(AtomicBool::new(false));
        rt.block_on(|| {
            let readers: Vec<_> = (0..READERS)
                .map(|_| {
                    let (lock, stop) = (Arc::clone(&lock), Arc::clone(&stop));
                    coro::spawn(move || {
                        let mut reads = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            let g = lock.read();
                            coro::sleep(Duration::from_micros(100));
                            drop(g);
                            reads += 1;
                        }
                        reads
                    })
                })
                .collect();
            // A thread reader too, holding the lock most of the time.
            let (l2, s2) = (Arc::clone(&lock), Arc::clone(&stop));
            let thread_reader = thread::spawn(move || {
                while !s2.load(Ordering::Relaxed) {
                    let g = l2.read();
                    thread::sleep(Duration::from_micros(100));
                    drop(g);
                }
            });
            coro::sleep(Duration::from_millis(1));
            for _ in 0..10 {
                *lock.write() += 1;
                coro::sleep(Duration::from_micros(200));
            }
            stop.store(true, Ordering::Relaxed);
            for r in readers {
                r.join().unwrap();
            }
            while !thread_reader.is_finished() {
                coro::sleep(Duration::from_micros(100));
            }
            thread_reader.join().unwrap();
        });
        assert_eq!(*lock.read(), 10);
    }
}

rt_test! {
    /// `downgrade` keeps writers out (a writer that comes meanwhile gets in
    /// only after the read guard is dropped), and `try_*` never block.
    /// (That readers queued before a downgrade are let in is a unit test:
    /// the queue is not observable from here.)
    fn downgrade_and_try(rt) {
        let lock = Arc::new(RwLock::new(Vec::new()));
        rt.block_on(|| {
            let mut w = lock.write();
            assert!(lock.try_read().is_none());
            assert!(lock.try_write().is_none());
            w.push(1);
            let r = RwLockWriteGuard::downgrade(w);
            assert!(lock.try_write().is_none());
            assert_eq!(*lock.try_read().expect("readers share"), [1]);
            let l2 = Arc::clone(&lock);
            let writer = coro::spawn(move || l2.write().push(2));
            coro::sleep(Duration::from_millis(2));
            assert!(!writer.is_finished());
            assert_eq!(*r, [1]);
            drop(r);
            writer.join().unwrap();
        });
        assert_eq!(*lock.try_read().unwrap(), [1, 2]);
    }
}
