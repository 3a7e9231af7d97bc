//! Panics and channels: the ends are `UnwindSafe`, and a message whose
//! `Drop` panics when the last receiver drops the buffer propagates that
//! first panic and leaks the rest (a second panic during the unwinding
//! would abort the process), on a thread and in a coroutine.

mod chan_common;

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chan_common::in_child_process;
use coro::chan::{bounded, unbounded, Receiver, Sender};

fn assert_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

#[test]
fn ends_are_unwind_safe() {
    assert_unwind_safe::<Sender<Cell<u32>>>();
    assert_unwind_safe::<Receiver<Cell<u32>>>();
    // So they can be used in `catch_unwind` without `AssertUnwindSafe`.
    let (tx, rx) = unbounded::<u32>();
    let r = panic::catch_unwind(|| {
        tx.send(1).unwrap();
        panic!("after the send");
    });
    assert!(r.is_err());
    assert_eq!(rx.try_recv(), Ok(1));
}

/// Panics when dropped, after counting the drop.
struct Bomb(Arc<AtomicUsize>, u32);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("bomb {}", self.1);
    }
}

/// Fills a channel with three bombs, drops its last receiver in
/// `catch_unwind`, and checks that the first bomb's panic came out and the
/// other two were leaked.
fn drop_bombs(cap: Option<usize>) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = match cap {
        Some(c) => bounded::<Bomb>(c),
        None => unbounded(),
    };
    for i in 1..=3 {
        tx.send(Bomb(Arc::clone(&drops), i)).unwrap();
    }
    let err = panic::catch_unwind(AssertUnwindSafe(move || drop(rx)))
        .expect_err("the first message's panic propagates");
    let msg = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .unwrap_or("?");
    assert_eq!(msg, "bomb 1");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the others are leaked");
    // The channel is disconnected for the sender all the same.
    assert!(tx.is_disconnected());
    let back = tx.send(Bomb(Arc::new(AtomicUsize::new(0)), 9)).unwrap_err();
    std::mem::forget(back);
}

#[test]
fn a_panicking_message_drop_propagates_the_first_panic() {
    // Run in a child: an abort (the bug) would take the whole binary down.
    in_child_process(
        "a_panicking_message_drop_propagates_the_first_panic",
        Duration::from_secs(60),
        || {
            drop_bombs(Some(4));
            drop_bombs(None);
            // Inside a coroutine: the panic ends it, and its join says so.
            let rt = chan_common::runtime(1);
            let h = rt.spawn(|| drop_bombs(Some(3)));
            h.join().unwrap();
        },
    );
}
