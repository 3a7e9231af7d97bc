//! A socket that is always ready must not keep its worker from the other
//! coroutines: its reads count against the coroutine's cooperative budget.

mod common;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use coro_net::{TcpListener, TcpStream};

/// The peer writes in chunks of this size for as long as the connection
/// lives: far faster than one-byte reads take it, so every read finds data.
const CHUNK: usize = 64 << 10;

#[test]
fn a_reader_that_never_waits_yields_to_others_on_its_worker() {
    common::watchdog("always_ready_reader", || {
        let rt = coro::runtime::Builder::new().workers(1).build().unwrap();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            // The writer is a plain thread, so it never needs the worker.
            let writer = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                let chunk = vec![7u8; CHUNK];
                while s.write_all(&chunk).is_ok() {}
            });
            let (stream, _) = listener.accept().unwrap();
            let mut first = [0u8; 1];
            (&stream).read_exact(&mut first).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let started = Arc::new(AtomicBool::new(false));
            let reader = {
                let stop = Arc::clone(&stop);
                let started = Arc::clone(&started);
                coro::spawn(move || {
                    started.store(true, Ordering::Release);
                    let read = read_until_stopped(&stream, &stop);
                    drop(stream);
                    read
                })
            };
            // Let the reader start; from then on, this coroutine and the
            // stopper run only if it yields: there is one worker.
            while !started.load(Ordering::Acquire) {
                coro::yield_now();
            }
            let stopper = coro::spawn(move || stop.store(true, Ordering::Release));
            stopper.join().unwrap();
            assert!(reader.join().unwrap() > 0);
            // The stream was dropped with the reader: the writer fails.
            writer.join().unwrap();
        });
    });
}

/// Reads one byte at a time (a full read each time, so readiness is never
/// cleared) until told to stop; returns the bytes read.
fn read_until_stopped(stream: &TcpStream, stop: &AtomicBool) -> usize {
    let mut read = 0;
    let mut byte = [0u8; 1];
    while !stop.load(Ordering::Acquire) {
        match (&*stream).read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    read
}

/// Dropping a runtime unwinds its parked coroutines; a destructor that then
/// writes to a socket must not yield because the budget happens to be
/// spent (a yield during that unwind cannot be resumed and aborts).
#[test]
fn a_destructor_that_writes_during_runtime_drop_does_not_yield() {
    use std::io::BufWriter;
    common::watchdog("write_in_drop_during_unwind", || {
        let rt = coro::runtime::Builder::new().workers(1).build().unwrap();
        let (a, _a_peer) = coro_net::UnixStream::pair().unwrap();
        let (b, _b_peer) = coro_net::UnixStream::pair().unwrap();
        let (_keep_parked_1, parked_1) = coro::chan::bounded::<()>(1);
        let (_keep_parked_2, parked_2) = coro::chan::bounded::<()>(1);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let ready = ready_tx.clone();
        rt.spawn(move || {
            // Flushes to `b` when unwound.
            let mut w = BufWriter::new(&b);
            w.write_all(b"pending").unwrap();
            ready.send(()).unwrap();
            let _ = parked_2.recv();
        });
        ready_rx.recv().unwrap();
        rt.spawn(move || {
            // Spends the worker's budget to the last unit, then parks.
            for _ in 0..127 {
                (&a).write_all(b"x").unwrap();
            }
            ready_tx.send(()).unwrap();
            let _ = parked_1.recv();
        });
        ready_rx.recv().unwrap();
        drop(rt);
    });
}

/// How long each slice of the computing coroutine below spins.
const SLICE: std::time::Duration = std::time::Duration::from_millis(2);
/// Slices it computes at most before the test gives up.
const MAX_SLICES: usize = 400;
/// The slice after which the peer writes.
const WRITE_AFTER: usize = 3;
/// Slices that may pass between the write and the reader's wake-up: the
/// worker looks for I/O events after any slice once a millisecond has
/// passed, so the reader runs after the computing coroutine's next slice
/// at the latest, whatever the number of ticks.
const WAKE_WITHIN_SLICES: usize = 3;

/// One worker; a coroutine computes in slices of a few milliseconds and
/// calls `yield_now` between them, never waiting. A reader parked on a
/// socket must still be woken within a slice or two of its data arriving,
/// not after a fixed number of scheduler ticks. Counted in slices, not
/// timed.
#[test]
fn a_parked_reader_runs_within_a_few_slices_of_a_coroutine_that_yields_between_long_ones() {
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    common::watchdog("reader_beside_long_slices", || {
        let rt = coro::runtime::Builder::new().workers(1).build().unwrap();
        rt.block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let slices = Arc::new(AtomicUsize::new(0));
            let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
            // The writer is a plain thread: it records the slice count at
            // the moment its byte is sent.
            let writer = {
                let slices = Arc::clone(&slices);
                std::thread::spawn(move || {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    go_rx.recv().unwrap();
                    s.write_all(b"x").unwrap();
                    let written_at = slices.load(Ordering::SeqCst);
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest);
                    written_at
                })
            };
            let (stream, _) = listener.accept().unwrap();
            let woke_at = Arc::new(AtomicUsize::new(usize::MAX));
            let reader = {
                let (slices, woke_at) = (Arc::clone(&slices), Arc::clone(&woke_at));
                coro::spawn(move || {
                    let mut byte = [0u8; 1];
                    (&stream).read_exact(&mut byte).unwrap();
                    woke_at.store(slices.load(Ordering::SeqCst), Ordering::SeqCst);
                })
            };
            // The reader runs and parks before the first slice ends.
            coro::yield_now();
            for i in 0..MAX_SLICES {
                let start = Instant::now();
                while start.elapsed() < SLICE {
                    std::hint::spin_loop();
                }
                slices.store(i + 1, Ordering::SeqCst);
                if i + 1 == WRITE_AFTER {
                    go_tx.send(()).unwrap();
                }
                if woke_at.load(Ordering::SeqCst) != usize::MAX {
                    break;
                }
                coro::yield_now();
            }
            reader.join().unwrap();
            let woke_at = woke_at.load(Ordering::SeqCst);
            let written_at = writer.join().unwrap();
            assert!(
                woke_at <= written_at + WAKE_WITHIN_SLICES,
                "written after slice {written_at}, read after slice {woke_at}"
            );
        });
    });
}
