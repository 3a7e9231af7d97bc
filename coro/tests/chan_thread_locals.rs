//! Channels used while a plain thread exits: from the destructor of a
//! thread-local, which runs after the thread-locals the channel code itself
//! set up (they were made later, so they go first). crossbeam-channel's
//! `tests/thread_locals.rs` checks the blocking case; here every kind of
//! operation is tried, including ones that wait to be woken by another
//! thread, and the results travel back to the test.
//!
//! (A coroutine has no thread-locals of its own, and its worker's outlive
//! it, so this concerns plain threads only.)

mod chan_common;

use std::cell::RefCell;
use std::thread;
use std::time::Duration;

use chan_common::watchdog;
use coro::chan::{bounded, unbounded, Receiver, RecvTimeoutError, Select, Sender};

/// How long the operations in a destructor wait for something that never
/// comes; it only has to be positive.
const SHORT: Duration = Duration::from_millis(20);

/// What the destructor of [`AtExit`] does: channel operations of every
/// kind, reporting what they got on `report`.
struct AtExit {
    /// Feeds the blocking receive; the test sends on it after the thread
    /// has begun to exit.
    wake: Receiver<u32>,
    /// Where the destructor tells the test what happened.
    report: Sender<String>,
    /// Told once the thread's main function has returned.
    exiting: Sender<()>,
}

impl Drop for AtExit {
    fn drop(&mut self) {
        let (tx, rx) = unbounded::<u32>();
        let mut log = Vec::new();
        // Non-blocking, and waits that time out.
        tx.send(1).unwrap();
        log.push(format!("recv {:?}", rx.try_recv()));
        log.push(format!("timeout {:?}", rx.recv_timeout(SHORT)));
        let got = coro::select! {
            recv(rx) -> _ => "recv",
            default(SHORT) => "default",
        };
        log.push(format!("select {got}"));
        let (_idle_tx, idle) = bounded::<u32>(0);
        let mut sel = Select::new();
        sel.recv(&idle);
        log.push(format!("ready {:?}", sel.ready_timeout(SHORT).is_err()));
        // A wait that another thread ends.
        let _ = self.exiting.send(());
        log.push(format!("woken {:?}", self.wake.recv()));
        let _ = self.report.send(log.join(", "));
    }
}

thread_local! {
    static AT_EXIT: RefCell<Option<AtExit>> = const { RefCell::new(None) };
}

/// Channel operations in a thread-local's destructor, after the channel
/// code's own thread-locals are gone, neither panic nor misbehave; a
/// blocking receive there is woken by another thread.
#[test]
fn channels_work_in_thread_local_destructors() {
    watchdog("channels_work_in_thread_local_destructors", || {
        let (wake_tx, wake_rx) = bounded::<u32>(0);
        let (report_tx, report_rx) = unbounded::<String>();
        let (exiting_tx, exiting_rx) = bounded::<()>(1);
        let t = thread::spawn(move || {
            // Set up first, so destroyed last.
            AT_EXIT.with(|a| {
                *a.borrow_mut() = Some(AtExit {
                    wake: wake_rx,
                    report: report_tx,
                    exiting: exiting_tx,
                })
            });
            // Now the channel code's own thread-locals: a blocking
            // receive, a select, the select's random order.
            let (tx, rx) = bounded::<u32>(0);
            let helper = thread::spawn(move || tx.send(5).unwrap());
            assert_eq!(rx.recv(), Ok(5));
            helper.join().unwrap();
            let (tx1, rx1) = unbounded::<u32>();
            let (tx2, rx2) = unbounded::<u32>();
            tx1.send(1).unwrap();
            tx2.send(2).unwrap();
            coro::select! {
                recv(rx1) -> v => assert_eq!(v, Ok(1)),
                recv(rx2) -> v => assert_eq!(v, Ok(2)),
            }
        });
        // The destructor runs: it reaches its blocking receive.
        exiting_rx.recv().unwrap();
        thread::sleep(SHORT);
        wake_tx.send(9).unwrap();
        let report = report_rx.recv().expect("the destructor did not report");
        assert_eq!(
            report,
            format!(
                "recv Ok(1), timeout {:?}, select default, ready true, woken Ok(9)",
                Err::<u32, _>(RecvTimeoutError::Timeout)
            )
        );
        t.join().expect("the exiting thread panicked");
    });
}

/// A thread that exits while holding the only sender (in a thread-local)
/// disconnects the channel as it exits: a receiver blocked on another
/// thread wakes with the buffered message and then the disconnection.
#[test]
fn a_sender_in_a_thread_local_disconnects_at_exit() {
    thread_local! {
        static SENDER: RefCell<Option<Sender<u32>>> = const { RefCell::new(None) };
    }
    watchdog("a_sender_in_a_thread_local_disconnects_at_exit", || {
        let (tx, rx) = bounded::<u32>(1);
        let receiver = thread::spawn(move || (rx.recv(), rx.recv()));
        thread::spawn(move || {
            tx.send(3).unwrap();
            SENDER.with(|s| *s.borrow_mut() = Some(tx));
        })
        .join()
        .unwrap();
        let (first, second) = receiver.join().unwrap();
        assert_eq!(first, Ok(3));
        assert!(second.is_err(), "still connected after the thread exited");
    });
}
