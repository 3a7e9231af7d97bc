//! The `Select` type in crossbeam-channel's call shape, as its suite
//! checks it (`tests/select.rs` and `tests/ready.rs` there), in our own
//! words: `recv`/`send` return indexes, `select`/`try_select`/
//! `select_timeout` return a `SelectedOperation` that is completed with
//! the same end, `ready`/`try_ready`/`ready_timeout` perform nothing,
//! `remove`, `Clone`, `new_biased`, and the misuse that panics.

mod chan_common;

use std::time::{Duration, Instant};

use chan_common::{both_test, go, settle};
use coro::chan::{
    after, bounded, never, unbounded, ReadyTimeoutError, RecvError, Select, SelectTimeoutError,
    SendError, TryReadyError, TrySelectError,
};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn select_api_is_send_free_and_clone() {
    fn clone_me<T: Clone>(_: &T) {}
    let (_tx, rx) = unbounded::<std::rc::Rc<u32>>();
    let mut sel = Select::new();
    sel.recv(&rx);
    clone_me(&sel);
}

#[test]
fn try_select_on_ready_and_idle_operations() {
    let (s1, r1) = unbounded::<i32>();
    let (s2, r2) = bounded::<i32>(0);
    let mut sel = Select::new();
    let i1 = sel.recv(&r1);
    let i2 = sel.recv(&r2);
    assert_eq!(sel.try_select().map(|_| ()).unwrap_err(), TrySelectError);
    s1.send(3).unwrap();
    let oper = sel.try_select().unwrap();
    assert_eq!(oper.index(), i1);
    assert_eq!(oper.recv(&r1), Ok(3));
    // The select is reusable: the same operation again.
    s1.send(4).unwrap();
    let oper = sel.try_select().unwrap();
    assert_eq!(oper.index(), i1);
    assert_eq!(oper.recv(&r1), Ok(4));
    // Disconnection makes a receive ready, with the error.
    drop(s2);
    let oper = sel.try_select().unwrap();
    assert_eq!(oper.index(), i2);
    assert_eq!(oper.recv(&r2), Err(RecvError));
}

#[test]
fn a_send_takes_its_message_when_completed() {
    let (s, r) = bounded::<String>(1);
    let mut sel = Select::new();
    let i = sel.send(&s);
    let oper = sel.select();
    assert_eq!(oper.index(), i);
    oper.send(&s, "late".to_owned()).unwrap();
    assert_eq!(r.try_recv().as_deref(), Ok("late"));
    // Full now: not ready.
    s.send("fill".to_owned()).unwrap();
    assert!(sel.try_select().is_err());
    // Every receiver gone: ready, and the message comes back.
    drop(r);
    let oper = sel.try_select().unwrap();
    assert_eq!(
        oper.send(&s, "back".to_owned()),
        Err(SendError("back".to_owned()))
    );
}

#[test]
fn select_timeout_gives_up_and_succeeds() {
    let (_s, r) = bounded::<i32>(0);
    let (s2, r2) = unbounded::<i32>();
    let mut sel = Select::new();
    sel.recv(&r);
    assert_eq!(
        sel.select_timeout(Duration::from_millis(5))
            .map(|_| ())
            .unwrap_err(),
        SelectTimeoutError
    );
    let i2 = sel.recv(&r2);
    s2.send(1).unwrap();
    let oper = sel.select_timeout(LONG).unwrap();
    assert_eq!(oper.index(), i2);
    assert_eq!(oper.recv(&r2), Ok(1));
}

#[test]
fn removed_operations_are_skipped_and_indexes_stay() {
    let (s1, r1) = unbounded::<i32>();
    let (s2, r2) = unbounded::<i32>();
    let mut sel = Select::new();
    let i1 = sel.recv(&r1);
    let i2 = sel.recv(&r2);
    s1.send(1).unwrap();
    s2.send(2).unwrap();
    sel.remove(i1);
    let oper = sel.select();
    assert_eq!(oper.index(), i2);
    assert_eq!(oper.recv(&r2), Ok(2));
    assert_eq!(r1.try_recv(), Ok(1));
}

#[test]
#[should_panic(expected = "no operation with index")]
fn removing_twice_panics() {
    let (_s, r) = unbounded::<i32>();
    let mut sel = Select::new();
    let i = sel.recv(&r);
    sel.remove(i);
    sel.remove(i);
}

#[test]
#[should_panic(expected = "other than the one selected")]
fn completing_with_another_end_panics() {
    let (s, r) = unbounded::<i32>();
    let (_s2, r2) = unbounded::<i32>();
    s.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&r);
    let oper = sel.select();
    let _ = oper.recv(&r2);
}

#[test]
#[should_panic(expected = "not a send")]
fn completing_a_receive_as_a_send_panics() {
    // Same channel, other direction: caught too.
    let (s, r) = unbounded::<i32>();
    s.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&r);
    let oper = sel.select();
    let _ = oper.send(&s, 2);
}

#[test]
#[should_panic(expected = "dropped without being completed")]
fn dropping_a_selected_operation_panics() {
    let (s, r) = unbounded::<i32>();
    s.send(1).unwrap();
    let mut sel = Select::new();
    sel.recv(&r);
    drop(sel.select());
}

#[test]
fn a_clone_holds_the_same_operations() {
    let (s1, r1) = unbounded::<i32>();
    let (s2, r2) = unbounded::<i32>();
    let mut sel = Select::new();
    let i1 = sel.recv(&r1);
    let i2 = sel.add_send(&s2, 5).index();
    let mut copy = sel.clone();
    s1.send(1).unwrap();
    let oper = copy.select_timeout(LONG).unwrap();
    // Both operations are ready in the clone; its send has no message.
    match oper.index() {
        i if i == i1 => assert_eq!(oper.recv(&r1), Ok(1)),
        i if i == i2 => {
            oper.send(&s2, 6).unwrap();
            assert_eq!(r2.try_recv(), Ok(6));
        }
        i => panic!("unknown index {i}"),
    }
}

#[test]
fn biased_select_prefers_the_first_added() {
    let (s1, r1) = unbounded::<i32>();
    let (s2, r2) = unbounded::<i32>();
    for i in 0..100 {
        s1.send(i).unwrap();
        s2.send(i).unwrap();
    }
    let mut sel = Select::new_biased();
    let i1 = sel.recv(&r1);
    sel.recv(&r2);
    for i in 0..100 {
        let oper = sel.select();
        assert_eq!(oper.index(), i1);
        assert_eq!(oper.recv(&r1), Ok(i));
    }
    assert_eq!(r2.len(), 100);
}

#[test]
fn ready_performs_nothing() {
    let (s1, r1) = unbounded::<i32>();
    let (s2, r2) = bounded::<i32>(1);
    let mut sel = Select::new();
    let i1 = sel.recv(&r1);
    let i2 = sel.send(&s2);
    // The send has room: ready, and nothing was sent.
    assert_eq!(sel.try_ready(), Ok(i2));
    assert_eq!(sel.ready(), i2);
    assert_eq!(r2.len(), 0);
    s2.send(0).unwrap();
    assert_eq!(sel.try_ready(), Err(TryReadyError));
    assert_eq!(
        sel.ready_timeout(Duration::from_millis(5)),
        Err(ReadyTimeoutError)
    );
    // A message to receive: ready, and still there.
    s1.send(1).unwrap();
    assert_eq!(sel.ready_timeout(LONG), Ok(i1));
    assert_eq!(r1.len(), 1);
    // Disconnection is readiness too.
    let (s3, r3) = bounded::<i32>(0);
    let nothing = never::<i32>();
    let mut sel = Select::new();
    let i3 = sel.recv(&r3);
    sel.recv(&nothing);
    drop(s3);
    assert_eq!(sel.try_ready(), Ok(i3));
}

#[test]
fn ready_on_clocks() {
    let start = Instant::now();
    let timer = after(Duration::from_millis(10));
    let mut sel = Select::new();
    let i = sel.recv(&timer);
    assert_eq!(sel.ready(), i);
    assert!(
        start.elapsed() >= Duration::from_millis(10),
        "ready before the timer was due"
    );
    // Still there: ready took nothing.
    assert!(timer.try_recv().is_ok());
}

both_test! {
    /// `ready` wakes when a peer makes an operation ready: a send arrives,
    /// a receiver starts waiting on a zero-capacity channel, an end goes.
    fn ready_wakes_on_changes() {
        let (s1, r1) = bounded::<i32>(0);
        let (s2, r2) = bounded::<i32>(0);
        let mut sel = Select::new();
        let i1 = sel.recv(&r1);
        let i2 = sel.send(&s2);
        let peer = go(move || {
            settle();
            // A blocked receive makes the send ready.
            assert_eq!(r2.recv(), Ok(9));
            settle();
            // A blocked send makes the receive ready.
            s1.send(3).unwrap();
        });
        assert_eq!(sel.ready(), i2);
        s2.send(9).unwrap();
        assert_eq!(sel.ready(), i1);
        assert_eq!(r1.recv(), Ok(3));
        peer.join();
    }
}

both_test! {
    /// A select blocked on a crossbeam-shape send is chosen once a receiver
    /// waits; the send then meets that receiver.
    fn a_waiting_send_is_chosen_when_a_receiver_comes() {
        const COUNT: i32 = 500;
        let (s, r) = bounded::<i32>(0);
        let (_s2, r2) = bounded::<i32>(0);
        let peer = go(move || (0..COUNT).map(|_| r.recv().unwrap()).sum::<i32>());
        let mut sel = Select::new();
        let i = sel.send(&s);
        sel.recv(&r2);
        for k in 0..COUNT {
            let oper = sel.select();
            assert_eq!(oper.index(), i);
            oper.send(&s, k).unwrap();
        }
        assert_eq!(peer.join(), (0..COUNT).sum::<i32>());
    }
}

both_test! {
    /// crossbeam's `stress_recv`, with `Select`: receives from an
    /// unbounded and a bounded channel, against a peer sending on each in
    /// turn.
    fn receives_from_two_kinds() {
        const COUNT: usize = 2_000;
        let (s1, r1) = unbounded::<usize>();
        let (s2, r2) = bounded::<usize>(5);
        let (s3, r3) = bounded::<()>(100);
        let peer = go(move || {
            for i in 0..COUNT {
                s1.send(i).unwrap();
                r3.recv().unwrap();
                s2.send(i).unwrap();
                r3.recv().unwrap();
            }
        });
        for i in 0..COUNT {
            for _ in 0..2 {
                let mut sel = Select::new();
                let a = sel.recv(&r1);
                let b = sel.recv(&r2);
                let oper = sel.select();
                match oper.index() {
                    ix if ix == a => assert_eq!(oper.recv(&r1), Ok(i)),
                    ix if ix == b => assert_eq!(oper.recv(&r2), Ok(i)),
                    _ => unreachable!(),
                }
                s3.send(()).unwrap();
            }
        }
        peer.join();
    }
}

#[test]
fn the_same_channel_twice() {
    // crossbeam's `duplicate_operations`: every copy can be chosen.
    let (s, r) = unbounded::<i32>();
    let mut hit = [false; 4];
    while hit.iter().any(|h| !h) {
        let mut sel = Select::new();
        let ops = [sel.recv(&r), sel.recv(&r), sel.send(&s), sel.send(&s)];
        let oper = sel.select();
        let k = ops.iter().position(|&i| i == oper.index()).unwrap();
        if k < 2 {
            assert!(oper.recv(&r).is_ok());
        } else {
            oper.send(&s, 0).unwrap();
        }
        hit[k] = true;
    }
}

#[test]
fn a_select_is_reused() {
    // crossbeam's `reuse`: one `Select`, chosen many times, alternating.
    let (s1, r1) = bounded::<i32>(1);
    let (s2, r2) = bounded::<i32>(1);
    let mut sel = Select::new();
    let a = sel.recv(&r1);
    let b = sel.send(&s2);
    for i in 0..100 {
        s1.send(i).unwrap();
        // Both ready: a receive and a send with room; take whichever.
        let oper = sel.select();
        if oper.index() == a {
            assert_eq!(oper.recv(&r1), Ok(i));
        } else {
            assert_eq!(oper.index(), b);
            oper.send(&s2, i).unwrap();
            assert_eq!(r2.try_recv(), Ok(i));
            assert_eq!(r1.try_recv(), Ok(i));
        }
    }
}

#[test]
fn preflight_sees_what_is_already_there() {
    // crossbeam's `preflight*`: ready before the select starts, including
    // a disconnection with messages still buffered.
    let (s, r) = bounded::<i32>(2);
    s.send(1).unwrap();
    s.send(2).unwrap();
    drop(s);
    let mut sel = Select::new();
    let i = sel.recv(&r);
    for want in [Ok(1), Ok(2), Err(RecvError)] {
        let oper = sel.select();
        assert_eq!(oper.index(), i);
        assert_eq!(oper.recv(&r), want);
    }
}

#[test]
fn nested_selects_over_one_channel() {
    let (s, r) = unbounded::<i32>();
    let mut outer = Select::new();
    outer.send(&s);
    let oper = outer.select();
    oper.send(&s, 1).unwrap();
    let mut inner = Select::new();
    inner.recv(&r);
    let oper = inner.select();
    let mut innermost = Select::new();
    innermost.send(&s);
    assert!(innermost.try_select().is_ok_and(|o| o.send(&s, 2).is_ok()));
    assert_eq!(oper.recv(&r), Ok(1));
    assert_eq!(r.try_recv(), Ok(2));
}

both_test! {
    /// crossbeam's `ready::stress_*` shape: `ready` over two channels while
    /// a peer sends on each in turn; each time, the one it names really
    /// has a message.
    fn ready_then_receive() {
        const COUNT: usize = 1_000;
        let (s1, r1) = unbounded::<usize>();
        let (s2, r2) = bounded::<usize>(1);
        let (s3, r3) = bounded::<()>(0);
        let peer = go(move || {
            for i in 0..COUNT {
                if i % 2 == 0 {
                    s1.send(i).unwrap();
                } else {
                    s2.send(i).unwrap();
                }
                r3.recv().unwrap();
            }
        });
        let mut sel = Select::new();
        let a = sel.recv(&r1);
        let b = sel.recv(&r2);
        for i in 0..COUNT {
            let k = sel.ready();
            let got = if k == a {
                r1.try_recv()
            } else {
                assert_eq!(k, b);
                r2.try_recv()
            };
            assert_eq!(got, Ok(i));
            s3.send(()).unwrap();
        }
        peer.join();
    }
}
