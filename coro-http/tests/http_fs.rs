//! Static files through `coro_http::fs`: types, `HEAD`, validators and
//! conditional requests, ranges, directories, every path escape, links out
//! of the root, large bodies through `sendfile`, a file that shrinks while
//! it is sent, and a client that stops reading.

mod util;

use std::fs;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use coro_http::fs::{ServeDir, ServeFile};
use coro_http::{Method, Request, Response, Router, Timeouts};

use util::{get, serve, serve_with, TestServer};

const SECRET: &str = "the secret outside the root";
const A_TXT: &str = "hello from a.txt\n";
const INDEX: &str = "<h1>root index</h1>\n";
const SUB_INDEX: &str = "<h1>sub index</h1>\n";

/// A directory tree for one test, removed when dropped:
///
/// ```text
/// <base>/secret/secret.txt           outside the root
/// <base>/root/a.txt, style.css, app.wasm, data.bin, index.html
/// <base>/root/sub/index.html, sub/b.txt
/// <base>/root/empty/                 no index
/// <base>/root/out.txt  -> ../secret/secret.txt   (a link out)
/// <base>/root/outdir   -> <base>/secret          (absolute, out)
/// <base>/root/sub/in.txt -> ../a.txt             (a link that stays in)
/// ```
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new() -> Tree {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "coro-http-fs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&base);
        let root = base.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(root.join("empty")).unwrap();
        fs::create_dir_all(base.join("secret")).unwrap();
        fs::write(base.join("secret/secret.txt"), SECRET).unwrap();
        fs::write(root.join("a.txt"), A_TXT).unwrap();
        fs::write(root.join("style.css"), "body {}\n").unwrap();
        fs::write(root.join("app.wasm"), b"\0asm").unwrap();
        fs::write(root.join("data.bin"), pattern(1000)).unwrap();
        fs::write(root.join("index.html"), INDEX).unwrap();
        fs::write(root.join("sub/index.html"), SUB_INDEX).unwrap();
        fs::write(root.join("sub/b.txt"), "b\n").unwrap();
        symlink("../secret/secret.txt", root.join("out.txt")).unwrap();
        symlink(base.join("secret"), root.join("outdir")).unwrap();
        symlink("../a.txt", root.join("sub/in.txt")).unwrap();
        Tree { base }
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }

    fn serve(&self) -> TestServer {
        self.serve_dir(ServeDir::new(self.root()).unwrap())
    }

    fn serve_dir(&self, dir: ServeDir) -> TestServer {
        let mut router = Router::new();
        router.serve_dir("/static", dir);
        serve(router)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// `len` bytes that are not periodic in any small power of two.
fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 13) as u8 ^ (i % 251) as u8)
        .collect()
}

/// `GET path` with extra header lines (each ending in CRLF).
fn get_with(path: &str, fields: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{fields}\r\n")
}

#[test]
fn content_type_comes_from_the_extension() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    for (path, ct) in [
        ("/static/a.txt", "text/plain; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/index.html", "text/html; charset=utf-8"),
        ("/static/app.wasm", "application/wasm"),
        ("/static/data.bin", "application/octet-stream"),
    ] {
        let r = c.request(get(path));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ct), "{path}");
        assert_eq!(r.header("accept-ranges"), Some("bytes"), "{path}");
    }
    let r = c.request(get("/static/a.txt"));
    assert_eq!(r.text(), A_TXT);
    assert_eq!(r.header("content-length"), Some(&*A_TXT.len().to_string()));
}

#[test]
fn head_has_the_fields_of_get_and_no_body() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    let full = c.request(get("/static/data.bin"));
    assert_eq!(full.body, pattern(1000));
    c.send("HEAD /static/data.bin HTTP/1.1\r\nHost: test\r\n\r\n");
    let head = c.head_response();
    assert_eq!(head.status, 200);
    for name in [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "accept-ranges",
    ] {
        assert!(head.header(name).is_some(), "HEAD lacks {name}");
        assert_eq!(head.header(name), full.header(name), "{name} differs");
    }
    // A body after the HEAD answer would be read as the next response.
    let after = c.request(get("/static/a.txt"));
    assert_eq!(after.status, 200);
    assert_eq!(after.text(), A_TXT);
}

#[test]
fn if_none_match_with_the_current_tag_is_304_and_with_another_200() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    let first = c.request(get("/static/a.txt"));
    let etag = first.header("etag").expect("an ETag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong tag: {etag}"
    );

    let r = c.request(get_with(
        "/static/a.txt",
        &format!("If-None-Match: {etag}\r\n"),
    ));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(&*etag));
    assert_eq!(r.header("last-modified"), first.header("last-modified"));

    let listed = format!("If-None-Match: \"other\", W/{etag}\r\n");
    assert_eq!(
        c.request(get_with("/static/a.txt", &listed)).status,
        304,
        "weak comparison"
    );
    assert_eq!(
        c.request(get_with("/static/a.txt", "If-None-Match: *\r\n"))
            .status,
        304
    );
    let other = c.request(get_with("/static/a.txt", "If-None-Match: \"other\"\r\n"));
    assert_eq!(other.status, 200);
    assert_eq!(other.text(), A_TXT);

    // A changed file has another tag: the old one no longer matches.
    fs::write(
        tree.root().join("a.txt"),
        "changed, and longer than before\n",
    )
    .unwrap();
    let r = c.request(get_with(
        "/static/a.txt",
        &format!("If-None-Match: {etag}\r\n"),
    ));
    assert_eq!(r.status, 200);
    assert_ne!(r.header("etag"), Some(&*etag));
}

#[test]
fn if_modified_since_is_304_when_not_modified_and_if_none_match_wins() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    let first = c.request(get("/static/a.txt"));
    let date = first
        .header("last-modified")
        .expect("a Last-Modified")
        .to_string();
    assert!(httpdate::parse_http_date(&date).is_ok(), "{date}");

    let since = |d: &str| get_with("/static/a.txt", &format!("If-Modified-Since: {d}\r\n"));
    let r = c.request(since(&date));
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let older = c.request(since("Sun, 06 Nov 1994 08:49:37 GMT"));
    assert_eq!(older.status, 200);
    assert_eq!(older.text(), A_TXT);
    assert_eq!(
        c.request(since("not a date")).status,
        200,
        "an invalid date is ignored"
    );

    // RFC 9110 §13.2.2: If-None-Match is evaluated instead of
    // If-Modified-Since, so a changed tag means 200 whatever the date says.
    let both = format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {date}\r\n");
    assert_eq!(c.request(get_with("/static/a.txt", &both)).status, 200);
}

#[test]
fn if_match_and_if_unmodified_since_fail_with_412() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    let first = c.request(get("/static/a.txt"));
    let etag = first.header("etag").unwrap().to_string();
    let date = first.header("last-modified").unwrap().to_string();
    let with = |f: String| get_with("/static/a.txt", &f);

    assert_eq!(
        c.request(with("If-Match: \"other\"\r\n".into())).status,
        412
    );
    assert_eq!(
        c.request(with(format!("If-Match: W/{etag}\r\n"))).status,
        412,
        "strong only"
    );
    assert_eq!(c.request(with(format!("If-Match: {etag}\r\n"))).status, 200);
    assert_eq!(c.request(with("If-Match: *\r\n".into())).status, 200);
    let early = "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n";
    assert_eq!(c.request(with(early.into())).status, 412);
    let r = c.request(with(format!("If-Unmodified-Since: {date}\r\n")));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), A_TXT);
}

#[test]
fn one_range_is_206_and_one_past_the_end_416() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    let data = pattern(1000);
    let ranged = |r: &str| get_with("/static/data.bin", &format!("Range: {r}\r\n"));

    for (range, start, end) in [
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=900-5000", 900, 999),
    ] {
        let r = c.request(ranged(range));
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(&*format!("bytes {start}-{end}/1000")),
            "{range}"
        );
        assert_eq!(r.body, data[start..=end], "{range}");
    }

    let r = c.request(ranged("bytes=1000-"));
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range"), Some("bytes */1000"));
    assert!(r.body.is_empty());

    // Several ranges, or a malformed one: the whole file.
    for range in ["bytes=0-1,5-6", "bytes=9-3", "lines=1-2"] {
        let r = c.request(ranged(range));
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.body, data, "{range}");
    }
    // A HEAD describes the whole file whatever its Range (RFC 9110 §14.2).
    c.send("HEAD /static/data.bin HTTP/1.1\r\nHost: test\r\nRange: bytes=0-9\r\n\r\n");
    let head = c.head_response();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1000"));
    c.assert_serves();
}

#[test]
fn if_range_applies_the_range_only_to_the_current_file() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    let first = c.request(get("/static/data.bin"));
    let etag = first.header("etag").unwrap().to_string();
    let date = first.header("last-modified").unwrap().to_string();
    let with = |if_range: &str| {
        get_with(
            "/static/data.bin",
            &format!("Range: bytes=0-9\r\nIf-Range: {if_range}\r\n"),
        )
    };
    assert_eq!(c.request(with(&etag)).status, 206);
    assert_eq!(c.request(with(&date)).status, 206);
    let stale = c.request(with("\"stale\""));
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body.len(), 1000);
    assert_eq!(c.request(with("Sun, 06 Nov 1994 08:49:37 GMT")).status, 200);
}

#[test]
fn directories_serve_their_index_and_redirect_without_the_slash() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    let r = c.request(get("/static/"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), INDEX);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(c.request(get("/static/sub/")).text(), SUB_INDEX);

    // Relative to the path sent, which resolves to it with the slash.
    for (path, location) in [
        ("/static", "./static/"),
        ("/static/sub", "./sub/"),
        ("/static/sub?x=1", "./sub/?x=1"),
    ] {
        let r = c.request(get(path));
        assert_eq!(r.status, 301, "{path}");
        assert_eq!(r.header("location"), Some(location), "{path}");
    }
    for path in [
        "/static/empty/",
        "/static/missing.txt",
        "/static/a.txt/",
        "/static/a.txt/x",
        "/static/sub/missing/",
    ] {
        assert_eq!(c.request(get(path)).status, 404, "{path}");
    }
    c.assert_serves();
}

#[test]
fn every_path_escape_is_refused() {
    let tree = Tree::new();
    let server = tree.serve();
    for path in [
        "/static/../secret/secret.txt",
        "/static/sub/../../secret/secret.txt",
        "/static/%2e%2e/secret/secret.txt",
        "/static/%2E%2e/secret/secret.txt",
        "/static/.%2e/secret/secret.txt",
        "/static/..%2fsecret%2fsecret.txt",
        "/static/..%2Fsecret/secret.txt",
        "/static/sub%2fb.txt",
        "/static/a.txt%00",
        "/static/a.txt%00.html",
        "/static/..\\secret\\secret.txt",
        "/static/sub\\b.txt",
        "/static/..%5csecret%5csecret.txt",
    ] {
        let mut c = server.connect();
        c.send(get(path));
        match c.read_response(false) {
            util::ReadOutcome::Response(r) => {
                assert_eq!(r.status, 400, "{path}");
                assert!(!String::from_utf8_lossy(&r.body).contains(SECRET), "{path}");
            }
            util::ReadOutcome::Closed => panic!("{path}: closed without an answer"),
        }
    }
    // Nothing was refused by accident: the plain paths are served.
    let mut c = server.connect();
    assert_eq!(c.request(get("/static/sub/b.txt")).status, 200);
}

#[test]
fn links_out_of_the_root_are_404_unless_allowed() {
    let tree = Tree::new();
    let server = tree.serve();
    let mut c = server.connect();
    for path in ["/static/out.txt", "/static/outdir/secret.txt"] {
        let r = c.request(get(path));
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains(SECRET), "{path}");
    }
    // A link that stays inside is followed.
    let inside = c.request(get("/static/sub/in.txt"));
    assert_eq!(inside.status, 200);
    assert_eq!(inside.text(), A_TXT);
    drop(server);

    let dir = ServeDir::new(tree.root())
        .unwrap()
        .follow_links_out_of_root(true);
    let server = tree.serve_dir(dir);
    let mut c = server.connect();
    for path in ["/static/out.txt", "/static/outdir/secret.txt"] {
        let r = c.request(get(path));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.text(), SECRET, "{path}");
    }
    assert_eq!(
        c.request(get("/static/%2e%2e/secret/secret.txt")).status,
        400
    );
}

#[test]
fn serve_file_and_a_missing_root() {
    let tree = Tree::new();
    let mut router = Router::new();
    router.route(Method::GET, "/a", ServeFile::new(tree.root().join("a.txt")));
    router.route(
        Method::GET,
        "/gone",
        ServeFile::new(tree.root().join("gone")),
    );
    router.route(
        Method::POST,
        "/a",
        ServeFile::new(tree.root().join("a.txt")),
    );
    let server = serve(router);
    let mut c = server.connect();
    let r = c.request(get("/a"));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), A_TXT);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = c.request(get_with("/a", "Range: bytes=0-4\r\n"));
    assert_eq!((r.status, r.text()), (206, "hello"));
    assert_eq!(c.request(get("/gone")).status, 404);
    let r = c.request(util::post("/a", ""));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));

    let err = ServeDir::new(tree.base.join("no-such-dir")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}

/// Far more than the socket buffers hold, so the send parks many times.
const LARGE: usize = 40 << 20;

#[test]
fn a_large_file_arrives_intact() {
    let tree = Tree::new();
    let data = pattern(LARGE);
    fs::write(tree.root().join("large.bin"), &data).unwrap();
    let server = tree.serve();
    let mut c = server.connect();
    let r = c.request(get("/static/large.bin"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some(&*LARGE.to_string()));
    assert!(r.body == data, "the body differs from the file");
    // And a range from deep inside it.
    let r = c.request(get_with(
        "/static/large.bin",
        "Range: bytes=30000001-30100000\r\n",
    ));
    assert_eq!(r.status, 206);
    assert!(r.body == data[30_000_001..=30_100_000], "the range differs");
    c.assert_serves();
}

#[test]
fn a_large_file_that_shrinks_before_it_is_sent_closes_the_connection() {
    shrinks_to_1000_bytes_from(1 << 20);
}

#[test]
fn a_small_file_that_shrinks_before_it_is_sent_closes_the_connection() {
    // Small files are copied behind the head rather than sent by sendfile.
    shrinks_to_1000_bytes_from(8000);
}

fn shrinks_to_1000_bytes_from(len: usize) {
    let tree = Tree::new();
    let path = tree.root().join("shrinks.bin");
    fs::write(&path, pattern(len)).unwrap();
    let mut router = Router::new();
    let file_path = path.clone();
    router.get("/shrinks", move |_: &mut Request<'_>| {
        let file = fs::File::open(&file_path)?;
        let response = Response::file(file)?;
        // Its length was taken; now it loses most of its bytes.
        fs::OpenOptions::new()
            .write(true)
            .open(&file_path)?
            .set_len(1000)?;
        Ok::<_, std::io::Error>(response)
    });
    let server = serve(router);
    let mut c = server.connect();
    c.send(get("/shrinks"));
    let got = c.read_to_close();
    let head_end = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&got[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains(&format!("Content-Length: {len}")), "{head}");
    assert_eq!(got.len() - head_end, 1000, "the bytes the file still had");
    assert!(got[head_end..] == pattern(1000), "the bytes it had, intact");
    // The server goes on serving others.
    assert_eq!(server.connect().request(get("/shrinks")).status, 200);
}

#[test]
fn a_client_that_stops_reading_a_file_is_cut_off_after_the_write_timeout() {
    const WRITE_TIMEOUT: Duration = Duration::from_millis(300);
    let tree = Tree::new();
    fs::write(tree.root().join("large.bin"), pattern(64 << 20)).unwrap();
    let mut router = Router::new();
    router.serve_dir("/static", ServeDir::new(tree.root()).unwrap());
    let server = serve_with(router, |b| {
        b.timeouts(Timeouts {
            write: WRITE_TIMEOUT,
            ..util::test_timeouts()
        })
    });
    let mut stalled = server.connect();
    stalled.send(get("/static/large.bin"));
    // While it stalls, others are served.
    let mut other = server.connect();
    assert_eq!(other.request(get("/static/a.txt")).text(), A_TXT);
    // Stall well past the write timeout, then read what was sent.
    thread::sleep(WRITE_TIMEOUT * 4);
    let mut received = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stalled.stream().read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server neither finished nor closed: {e}"),
        }
    }
    assert!(received > 0, "nothing was sent");
    assert!(
        received < 64 << 20,
        "the whole file was sent: no write timeout"
    );
    assert_eq!(other.request(get("/static/sub/b.txt")).status, 200);
}

#[test]
fn the_root_may_be_mounted_at_the_top() {
    let tree = Tree::new();
    let mut router = Router::new();
    router.serve_dir("/", ServeDir::new(tree.root()).unwrap());
    let server = serve(router);
    let mut c = server.connect();
    assert_eq!(c.request(get("/")).text(), INDEX);
    assert_eq!(c.request(get("/a.txt")).text(), A_TXT);
    assert_eq!(c.request(get("/sub")).header("location"), Some("./sub/"));
    // `//sub` reaches the same directory; an absolute `//sub/` would send
    // a browser to the host `sub`.
    assert_eq!(c.request(get("//sub")).header("location"), Some("./sub/"));
    assert_eq!(c.request(get("/../a.txt")).status, 400);
}
