//! Spin loops on non-blocking operations cannot starve their worker.
//!
//! A started coroutine never moves to another worker, and there is no
//! preemption, so a coroutine that spins on `try_recv` (or any other
//! operation that completes without suspending) waiting for a coroutine
//! started on its own worker would spin forever, unless that operation
//! counts against the cooperative budget (`coro::consume_budget`) and
//! yields once it is spent.
//!
//! Each test pins a spinner and the coroutine it waits for (the target) to
//! worker 0, under one worker and under four. The spinner spawns the target
//! and then spins without ever suspending, except in the operation under
//! test. It counts its spins: if the target has not done its part after
//! [`SPIN_LIMIT`] spins (thousands of budgets' worth), the spin did not
//! yield and the test fails. No clock is read.

mod chan_common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chan_common::rt_test;
use coro::chan::{bounded, unbounded, Select, TryRecvError, TrySendError};
use coro::sync::{Mutex, RwLock, Semaphore, WaitGroup};
use coro::Runtime;

/// Spins after which the target is taken never to have run. The budget is
/// 128 operations; a spin is one or two of them.
const SPIN_LIMIT: u64 = 1_000_000;

/// Spawns `target` and a spinner running `spin` until it returns true,
/// both pinned to worker 0 of `rt`; fails if the spinner gave up.
fn spin_until<T, S>(rt: &Runtime, what: &'static str, target: T, mut spin: S)
where
    T: FnOnce() + Send + 'static,
    S: FnMut() -> bool + Send + 'static,
{
    let spinner = coro::Builder::new()
        .worker(0)
        .spawn_on(rt, move || {
            let target = coro::Builder::new()
                .worker(0)
                .spawn(target)
                .expect("spawn the target");
            let mut spins = 0_u64;
            while !spin() {
                spins += 1;
                assert!(
                    spins < SPIN_LIMIT,
                    "{what}: the target on the spinner's worker never ran; \
                     the spin does not count against the budget"
                );
            }
            // Drop what the spin holds (channel ends) before waiting for
            // the target, which may wait for them to go.
            drop(spin);
            target.join().expect("the target ends cleanly");
            spins
        })
        .expect("spawn the spinner");
    spinner.join().expect("the spinner ends cleanly");
}

rt_test! {
    fn try_recv_spin_lets_the_sender_run(rt) {
        for cap in [None, Some(0), Some(1)] {
            let (tx, rx) = match cap {
                None => unbounded::<u32>(),
                Some(c) => bounded(c),
            };
            spin_until(rt, "try_recv", move || tx.send(7).unwrap(), move || {
                match rx.try_recv() {
                    Ok(v) => {
                        assert_eq!(v, 7);
                        true
                    }
                    Err(TryRecvError::Empty) => false,
                    Err(TryRecvError::Disconnected) => panic!("disconnected before the send"),
                }
            });
        }
    }
}

rt_test! {
    fn try_send_spin_lets_the_receiver_run(rt) {
        for cap in [0, 1] {
            let (tx, rx) = bounded::<u32>(cap);
            for i in 0..cap {
                tx.send(i as u32).unwrap();
            }
            let mut msg = Some(99);
            spin_until(
                rt,
                "try_send",
                move || {
                    let got: Vec<u32> = (0..=cap).map(|_| rx.recv().unwrap()).collect();
                    assert_eq!(got.last(), Some(&99));
                },
                move || match tx.try_send(msg.take().unwrap()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(v)) => {
                        msg = Some(v);
                        false
                    }
                    Err(TrySendError::Disconnected(_)) => panic!("receiver gone"),
                },
            );
        }
    }
}

rt_test! {
    fn try_iter_spin_lets_the_sender_run(rt) {
        let (tx, rx) = bounded::<u32>(4);
        let mut got = Vec::new();
        spin_until(
            rt,
            "try_iter",
            move || {
                for i in 0..3 {
                    tx.send(i).unwrap();
                }
            },
            move || {
                got.extend(rx.try_iter());
                got.len() == 3
            },
        );
    }
}

rt_test! {
    fn is_empty_and_len_spins_let_the_sender_run(rt) {
        let (tx, rx) = unbounded::<u32>();
        let tx2 = tx.clone();
        spin_until(rt, "is_empty", move || tx.send(1).unwrap(), move || !rx.is_empty());
        let (tx3, rx) = unbounded::<u32>();
        drop(tx2);
        spin_until(rt, "len", move || tx3.send(1).unwrap(), move || rx.len() == 1);
    }
}

rt_test! {
    fn select_default_spin_lets_the_sender_run(rt) {
        let (tx, rx) = bounded::<u32>(0);
        spin_until(rt, "select! default", move || tx.send(5).unwrap(), move || {
            coro::select! {
                recv(rx) -> v => {
                    assert_eq!(v, Ok(5));
                    true
                }
                default => false,
            }
        });
        // Only a `default` arm: nothing can ever be ready, the spin is on
        // a flag the target sets.
        let flag = Arc::new(AtomicBool::new(false));
        let set = Arc::clone(&flag);
        spin_until(rt, "select! with only default", move || set.store(true, Ordering::Release), move || {
            coro::select! {
                default => flag.load(Ordering::Acquire),
            }
        });
    }
}

rt_test! {
    fn select_try_spin_lets_the_sender_run(rt) {
        let (tx, rx) = bounded::<u32>(0);
        let (_tx2, rx2) = bounded::<u32>(0);
        spin_until(rt, "Select::try_select", move || tx.send(5).unwrap(), move || {
            let mut sel = Select::new();
            let i = sel.recv(&rx);
            sel.recv(&rx2);
            match sel.try_select() {
                Ok(oper) => {
                    assert_eq!(oper.index(), i);
                    assert_eq!(oper.recv(&rx), Ok(5));
                    true
                }
                Err(_) => false,
            }
        });
    }
}

rt_test! {
    fn sync_try_spins_let_the_holder_run(rt) {
        // Mutex::try_lock.
        let m = Arc::new(Mutex::new(false));
        let m2 = Arc::clone(&m);
        spin_until(rt, "Mutex::try_lock", move || *m2.lock() = true, move || {
            m.try_lock().is_some_and(|g| *g)
        });
        // RwLock::try_read.
        let l = Arc::new(RwLock::new(false));
        let l2 = Arc::clone(&l);
        spin_until(rt, "RwLock::try_read", move || *l2.write() = true, move || {
            l.try_read().is_some_and(|g| *g)
        });
        // Semaphore::try_acquire.
        let s = Arc::new(Semaphore::new(0));
        let s2 = Arc::clone(&s);
        spin_until(rt, "Semaphore::try_acquire", move || s2.add_permits(1), move || {
            s.try_acquire().is_some()
        });
        // WaitGroup::count.
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let wg2 = Arc::clone(&wg);
        spin_until(rt, "WaitGroup::count", move || wg2.done(), move || wg.count() == 0);
    }
}

rt_test! {
    /// crossbeam's `zero::stress_iter` shape, on one worker: the spinner
    /// asks with `try_send` and collects the answers with `try_iter`; the
    /// target answers each request it receives with a blocking send.
    fn try_iter_and_try_send_against_a_blocking_peer(rt) {
        const COUNT: u32 = 1_000;
        let (req_tx, req_rx) = bounded::<()>(0);
        let (resp_tx, resp_rx) = bounded::<u32>(0);
        let mut got = 0_u32;
        spin_until(
            rt,
            "try_send and try_iter against a blocking peer",
            move || {
                for () in req_rx.iter() {
                    if resp_tx.send(1).is_err() {
                        break;
                    }
                }
            },
            move || {
                // The spins are not reset by progress: the whole exchange
                // has to fit in SPIN_LIMIT spins.
                got += resp_rx.try_iter().sum::<u32>();
                if got >= COUNT {
                    // `spin_until` drops `req_tx` and `resp_rx`, which
                    // ends the target's loop.
                    return true;
                }
                let _ = req_tx.try_send(());
                false
            },
        );
    }
}
