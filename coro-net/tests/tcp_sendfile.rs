//! `TcpStream::send_file`: a file far larger than the socket buffers
//! arrives intact (the sender parks when the buffer is full and resumes),
//! a range from an offset is exactly that range, a file shorter than asked
//! returns what it had, and a reader that stops reading makes the send
//! fail with `TimedOut` after the write timeout.

#[macro_use]
mod common;

use std::fs::File;
use std::io::{self, Read, Write};
use std::thread;
use std::time::Duration;

use coro_net::{TcpListener, TcpStream};

use common::{check_pattern, pattern};

/// Far more than loopback's socket buffers hold.
const LARGE: usize = 24 << 20;

/// A temporary file holding the pattern `seed`, removed when dropped.
struct TempFile {
    path: std::path::PathBuf,
    file: File,
}

impl TempFile {
    fn with_pattern(name: &str, seed: u64, len: usize) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "coro-net-sendfile-{}-{name}-{:?}",
            std::process::id(),
            thread::current().id()
        ));
        File::create(&path)
            .and_then(|mut f| f.write_all(&pattern(seed, len)))
            .expect("write the test file");
        let file = File::open(&path).expect("open the test file");
        TempFile { path, file }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A connected pair: the coroutine side (sender) and a std reader.
fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || std::net::TcpStream::connect(addr).expect("connect"));
    let (server, _) = listener.accept().expect("accept");
    let client = client.join().unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    (server, client)
}

fn a_large_file_arrives_intact() {
    let temp = TempFile::with_pattern("large", 7, LARGE);
    let (server, mut client) = pair();
    let reader = thread::spawn(move || {
        let mut got = Vec::with_capacity(LARGE);
        client.read_to_end(&mut got).expect("read");
        got
    });
    let sent = server.send_file(&temp.file, 0, LARGE as u64).expect("send");
    assert_eq!(sent, LARGE as u64);
    drop(server);
    let got = reader.join().unwrap();
    assert_eq!(got.len(), LARGE);
    check_pattern(7, 0, &got);
}

fn a_range_from_an_offset_is_exactly_that_range() {
    let temp = TempFile::with_pattern("range", 3, 100_000);
    let (server, mut client) = pair();
    assert_eq!(
        server.send_file(&temp.file, 12_345, 50_000).unwrap(),
        50_000
    );
    drop(server);
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 50_000);
    check_pattern(3, 12_345, &got);
}

fn a_file_shorter_than_asked_returns_what_it_had() {
    let temp = TempFile::with_pattern("short", 5, 1000);
    let (server, mut client) = pair();
    assert_eq!(server.send_file(&temp.file, 900, 500).unwrap(), 100);
    assert_eq!(server.send_file(&temp.file, 5000, 10).unwrap(), 0);
    drop(server);
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 100);
    check_pattern(5, 900, &got);
}

fn a_reader_that_stops_reading_times_the_send_out() {
    let temp = TempFile::with_pattern("stalled", 9, LARGE);
    let (server, client) = pair();
    server
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let err = server
        .send_file(&temp.file, 0, LARGE as u64)
        .expect_err("the whole file fit in the socket buffers");
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    drop(client);
}

per_workers!(
    a_large_file_arrives_intact,
    a_range_from_an_offset_is_exactly_that_range,
    a_file_shorter_than_asked_returns_what_it_had,
    a_reader_that_stops_reading_times_the_send_out,
);

#[test]
fn on_a_plain_thread_it_blocks_the_thread_and_arrives_intact() {
    common::watchdog("plain thread", || {
        let temp = TempFile::with_pattern("plain", 11, LARGE);
        let (server, mut client) = pair();
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got
        });
        assert_eq!(
            server.send_file(&temp.file, 0, LARGE as u64).unwrap(),
            LARGE as u64
        );
        drop(server);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), LARGE);
        check_pattern(11, 0, &got);
    });
}
