#!/usr/bin/env python3
"""Soak and abuse bench of the coro HTTP server (issue 17).

Builds the hello example (release), starts a fresh server on an ephemeral
127.0.0.1 port for each scenario, loads it, stops it with SIGTERM, and
prints one line per scenario with its figures. Everything is bounded in
count and in time; nothing leaves the loopback interface. wrk is installed
with apt-get when missing (as benches/http.sh does). The server's stderr
(its log: examples::init_logger, warnings and up) is kept, and its lines are counted.

  soak        ROUNDS rounds of REQUESTS requests over CONNS keep-alive
              connections (wrk -t2 with benches/abuse_soak.lua, which
              stops each thread at its share and checks every body): wrk's
              errors, wrong responses, requests/s, and the server's RSS at
              start, at its peak (sampled every 50 ms), when wrk exits, and
              SETTLE s after every connection closed, with its memory
              mappings then.
  slowloris   RUNS times, alternating: wrk -c32 on /plaintext alone, and
              beside 2,000 connections that send a request head one byte
              every 5 s; wrk's requests/s and p99 (medians), and for the
              slow ones how many got 408, how many were closed, and when
              (seconds from their connect).
  garbage     20,000 connections (GARBAGE=N), 2,000 at a time, in two
              halves, of random bytes and of mutated valid requests (byte
              flips, truncation, 1 MB header lines, NULs, invalid UTF-8,
              garbage after a valid request): what came back must parse as
              HTTP/1.1 responses followed by a close, or end with a
              response that keeps the connection open (a 404, or a
              mutation that is still a valid request; the client closes
              those after 1 s); invalid_replies counts the rest,
              left_open the connections still open past the server's
              header and body timeouts; statuses, RSS before, at peak and
              after each half; whether the server still answers.
  resets      10,000 connections that send a request and reset (SO_LINGER
              0) before reading, one in ten a normal request instead;
              normal ones answered, log lines, server alive.
  fds         the server under RLIMIT_NOFILE 256 and 1,000 connections
              that each send a request: the server's CPU while it is out of
              descriptors, its log lines, and whether every connection is
              answered as the earlier ones close, and a fresh one after.
  shutdown    SIGTERM 2 s into a 6 s wrk -t2 -c64 run: time to exit, wrk's
              requests and socket errors (read errors are requests that got
              EOF or a reset instead of an answer); then again with a
              /fib/50 request (minutes of CPU) in flight: time to exit.

usage: python3 benches/abuse.py [SCENARIO...]   (default: all, in order)
  environment: HELLO=path (a prebuilt server), WORKERS=2, REQUESTS=1000000,
  CONNS=10000, ROUNDS=2, SETTLE=10, RUNS=3 (slowloris alternations),
  SLOW_SECONDS=8 (each slowloris wrk run), SEED=17.
"""
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
WORKERS = os.environ.get("WORKERS", "2")
REQUESTS = int(os.environ.get("REQUESTS", "1000000"))
CONNS = int(os.environ.get("CONNS", "10000"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
SETTLE = float(os.environ.get("SETTLE", "10"))
RUNS = int(os.environ.get("RUNS", "3"))
SLOW_SECONDS = int(os.environ.get("SLOW_SECONDS", "8"))
SEED = int(os.environ.get("SEED", "17"))

# The hello server's timeouts (coro-http's defaults, config.rs): header,
# body, and the lingering close after a refusal.
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
LINGER = 0.5
# Slack on top of the timeouts before a connection counts as left open.
SLACK = 3.0

GET = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n"
HELLO_BODY = b"Hello, World!"


# ---------------------------------------------------------------------------
# The server.

def build():
    binary = os.environ.get("HELLO")
    if binary:
        return binary
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "examples", "--example", "hello"],
                   cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release/examples/hello")


class Server:
    """One hello server on an ephemeral port, its stderr in a file."""

    def __init__(self, binary, name, nofile=None):
        self.log_path = os.path.join(TMP, f"{name}.log")
        self.log = open(self.log_path, "w+")

        def limit():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen([binary, "--port", "0", "--workers", WORKERS],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     preexec_fn=limit)
        line = self.proc.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            sys.exit(f"# the server did not start: {line!r}\n{open(self.log_path).read()}")
        self.port = int(m.group(1))
        self.pid = self.proc.pid

    def status_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith(field))

    def rss_kib(self):
        return self.status_kib("VmRSS:")

    def maps(self):
        with open(f"/proc/{self.pid}/maps") as f:
            return sum(1 for _ in f)

    def cpu_ticks(self):
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def log_lines(self):
        """The log, less the signal line and coro's hog warnings (on a
        shared machine, a worker preempted by the kernel for 10 ms looks
        like a hog; they are counted apart, see hog_lines)."""
        with open(self.log_path) as f:
            return [l for l in f.read().splitlines()
                    if not l.startswith("signal ") and "shutting down gracefully" not in l
                    and "coro::scheduler::hog" not in l]

    def hog_lines(self):
        with open(self.log_path) as f:
            return sum("coro::scheduler::hog" in l for l in f)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30.0):
        """SIGTERM; SIGKILL after `timeout`. Returns seconds to exit."""
        start = time.monotonic()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return time.monotonic() - start


class RssSampler(threading.Thread):
    """The peak RSS of a server, sampled every 50 ms while running."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server, self.peak, self.last, self.stopped = server, 0, 0, threading.Event()
        self.start()

    def run(self):
        while not self.stopped.is_set():
            try:
                self.last = self.server.rss_kib()
            except (OSError, StopIteration):
                return
            self.peak = max(self.peak, self.last)
            self.stopped.wait(0.05)

    def stop(self):
        self.stopped.set()
        self.join()
        return self.peak


def answers(port):
    """Whether a fresh connection gets 200 and the hello body."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(GET)
            data = b""
            while HELLO_BODY not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"HTTP/1.1 200") and data.endswith(HELLO_BODY)
    except OSError:
        return False


# ---------------------------------------------------------------------------
# wrk.

def wrk(port, path, conns, threads, seconds, script=None, script_args=()):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    if script:
        cmd += ["-s", script]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if script_args:
        cmd += ["--", *script_args]
    start = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    return parse_wrk(out, time.monotonic() - start)


def parse_wrk(out, wall):
    r = {"wall_s": wall, "errors": {}, "non2xx": 0, "raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    r["p99_us"] = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)] if m else 0.0
    for key in ("lua_responses", "lua_wrong"):
        m = re.search(key + r"=(\d+)", out)
        r[key] = int(m.group(1)) if m else None
    return r


def errors_text(r):
    e = sum(r["errors"].values()) + r["non2xx"]
    if not e:
        return "0"
    parts = [f"{k}:{v}" for k, v in r["errors"].items() if v]
    if r["non2xx"]:
        parts.append(f"non2xx:{r['non2xx']}")
    return ",".join(parts)


def emit(name, **fields):
    print(name + " " + " ".join(f"{k}={v}" for k, v in fields.items()), flush=True)


# ---------------------------------------------------------------------------
# Raw connections driven by one selector.

class Conn:
    """A client connection: bytes to send, what came back, when it closed."""
    __slots__ = ("sock", "out", "sent", "got", "opened", "closed", "kind", "error", "reset")

    def __init__(self, sock, out, kind=""):
        self.sock, self.out, self.sent, self.got = sock, out, 0, bytearray()
        self.opened, self.closed, self.kind, self.error, self.reset = time.monotonic(), None, kind, None, False


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    return s


def pump(sel, timeout):
    """One round of the selector: sends pending bytes, reads replies."""
    for key, mask in sel.select(timeout):
        c = key.data
        if mask & selectors.EVENT_WRITE and c.sent < len(c.out):
            try:
                c.sent += c.sock.send(c.out[c.sent:c.sent + 65536])
            except BlockingIOError:
                pass
            except OSError as e:
                c.error = e.errno
                c.sent = len(c.out)
            if c.sent >= len(c.out) and c.closed is None:
                sel.modify(c.sock, selectors.EVENT_READ, c)
        if mask & selectors.EVENT_READ:
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data, c.reset = b"", True
            except OSError as e:
                data, c.error = b"", e.errno
            if data:
                c.got += data
            else:
                finish(sel, c)


def finish(sel, c):
    if c.closed is None:
        c.closed = time.monotonic()
        sel.unregister(c.sock)
        c.sock.close()


# One HTTP/1.1 response: status line, fields, and a body framed by
# Content-Length (every response of the hello server has one).
STATUS_LINE = re.compile(rb"HTTP/1\.1 ([1-5]\d\d) [\x21-\x7e \t]*\r\n")
FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\x21-\x7e \t]*?)[ \t]*\r\n")


def parse_responses(data):
    """The (status, says_close) of each whole response in `data`, and the
    number of bytes left over; None if something is not a valid response."""
    out, pos = [], 0
    while pos < len(data):
        begin = pos
        m = STATUS_LINE.match(data, pos)
        if not m:
            return None if len(data) - pos >= 1024 or b"\r\n" in data[pos:] else (out, len(data) - pos)
        status, pos = int(m.group(1)), m.end()
        length, close = None, False
        while not data.startswith(b"\r\n", pos):
            f = FIELD.match(data, pos)
            if not f:
                return (out, len(data) - begin) if b"\r\n\r\n" not in data[begin:] else None
            name, value = f.group(1).lower(), f.group(2)
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.lower() == b"close"
            pos = f.end()
        pos += 2
        if length is None:
            return None
        if len(data) - pos < length:
            return out, len(data) - begin
        pos += length
        out.append((status, close))
    return out, 0


# ---------------------------------------------------------------------------
# Scenarios.

def soak(binary):
    resource.setrlimit(resource.RLIMIT_NOFILE, (CONNS + 1000, max(CONNS + 1000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    server = Server(binary, "soak")
    fields = {"requests": REQUESTS, "conns": CONNS, "rss_start_kib": server.rss_kib()}
    per_thread = REQUESTS // 2
    for round_ in range(1, ROUNDS + 1):
        sampler = RssSampler(server)
        marks = os.path.join(TMP, f"soak{round_}")
        os.mkdir(marks)
        cmd = ["wrk", "-t2", f"-c{CONNS}", "-d600s", "--timeout", "30s", "-s",
               os.path.join(ROOT, "benches/abuse_soak.lua"), f"http://127.0.0.1:{server.port}/plaintext",
               "--", str(per_thread), marks]
        began = time.monotonic()
        load = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        while len(os.listdir(marks)) < 2 and load.poll() is None:
            time.sleep(0.05)
        loaded_s = time.monotonic() - began
        # Every thread has stopped; its connections are still open.
        time.sleep(0.5)
        after_load = server.rss_kib()
        load.send_signal(signal.SIGINT)
        r = parse_wrk(load.communicate()[0], loaded_s)
        peak = sampler.stop()
        time.sleep(SETTLE)
        p = f"r{round_}_"
        wrong = r["lua_wrong"] if r["lua_wrong"] is not None else "?"
        fields.update({
            p + "responses": r["lua_responses"], p + "errors": errors_text(r), p + "wrong": wrong,
            p + "rps": round((r["lua_responses"] or 0) / loaded_s),
            p + "rss_peak_kib": peak, p + "rss_after_load_kib": after_load,
            p + "rss_closed_kib": server.rss_kib(), p + "maps_closed": server.maps(),
        })
    fields["settle_s"] = SETTLE
    fields["answers_after"] = "yes" if answers(server.port) else "no"
    fields["log_lines"] = len(server.log_lines())
    fields["hog_lines"] = server.hog_lines()
    server.stop()
    emit("soak", **fields)


def slow_clients(port, n, results, ready, stop_at):
    """`n` connections that send a head one byte every 5 s; each result is
    (status or None, seconds from connect to close, closed) once done."""
    head = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"a" * 1000
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        c = Conn(s, b"")
        conns.append(c)
        sel.register(s, selectors.EVENT_READ, c)
    ready.set()
    step, next_byte = 0, time.monotonic()
    while any(c.closed is None for c in conns) and time.monotonic() < stop_at:
        if time.monotonic() >= next_byte:
            for c in conns:
                if c.closed is None:
                    try:
                        c.sock.send(head[step:step + 1])
                    except OSError:
                        pass
            step, next_byte = step + 1, next_byte + 5.0
        pump(sel, 0.1)
    for c in conns:
        parsed = parse_responses(bytes(c.got))
        status = parsed[0][0][0] if parsed and parsed[0] else None
        results.append((status, (c.closed or time.monotonic()) - c.opened, c.closed is not None))
        if c.closed is None:
            c.sock.close()


def slowloris(binary):
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, max(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    base_rps, base_p99, slow_rps, slow_p99, results = [], [], [], [], []
    for _ in range(RUNS):
        server = Server(binary, "slowloris")
        wrk(server.port, "/plaintext", 32, 1, 1)  # warm-up
        r = wrk(server.port, "/plaintext", 32, 1, SLOW_SECONDS)
        base_rps.append(r["rps"])
        base_p99.append(r["p99_us"])
        ready = threading.Event()
        run_results = []
        t = threading.Thread(target=slow_clients, args=(server.port, 2000, run_results, ready,
                                                        time.monotonic() + HEADER_TIMEOUT + 20))
        t.start()
        ready.wait()
        r = wrk(server.port, "/plaintext", 32, 1, SLOW_SECONDS)
        slow_rps.append(r["rps"])
        slow_p99.append(r["p99_us"])
        t.join()
        results += run_results
        server.stop()
    closes = [d for _, d, closed in results if closed]
    emit("slowloris", runs=RUNS, seconds=SLOW_SECONDS,
         base_rps=round(statistics.median(base_rps)), slow_rps=round(statistics.median(slow_rps)),
         ratio=f"{statistics.median(slow_rps) / statistics.median(base_rps):.2f}",
         base_p99_us=round(statistics.median(base_p99)), slow_p99_us=round(statistics.median(slow_p99)),
         base_rps_runs="/".join(str(round(x)) for x in base_rps),
         slow_rps_runs="/".join(str(round(x)) for x in slow_rps),
         slow_conns=len(results), got_408=sum(1 for s, _, _ in results if s == 408),
         closed=len(closes), still_open=len(results) - len(closes),
         close_after_s=f"{min(closes):.2f}..{max(closes):.2f}" if closes else "-")


def garbage_payload(rng):
    """A hostile request and its kind."""
    valid = [
        GET,
        b"GET /json HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\nUser-Agent: abuse\r\n\r\n",
        b"GET /fib/10 HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n",
        b"POST /plaintext HTTP/1.1\r\nHost: bench\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /plaintext HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ]
    base = bytearray(rng.choice(valid))
    kind = rng.choices(["random", "flip", "truncate", "huge", "nul", "utf8", "tail"],
                       weights=[25, 25, 15, 2, 11, 11, 11])[0]
    if kind == "random":
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2048))), kind
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            base[rng.randrange(len(base))] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del base[rng.randrange(1, len(base)):]
    elif kind == "huge":
        return b"GET /plaintext HTTP/1.1\r\nHost: bench\r\nX-Huge: " + b"h" * (1 << 20) + b"\r\n\r\n", kind
    elif kind == "nul":
        base.insert(rng.randrange(len(base)), 0)
    elif kind == "utf8":
        at = rng.randrange(4, len(base))
        base[at:at] = bytes(rng.randint(0x80, 0xff) for _ in range(rng.randint(1, 8)))
    elif kind == "tail":
        base += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 256)))
    return bytes(base), kind


def garbage(binary):
    total, parallel = int(os.environ.get("GARBAGE", "20000")), 2000
    resource.setrlimit(resource.RLIMIT_NOFILE, (parallel + 1000, max(parallel + 1000, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    rng = random.Random(SEED)
    server = Server(binary, "garbage")
    answers(server.port)
    rss_before = server.rss_kib()
    sampler = RssSampler(server)
    sel = selectors.DefaultSelector()
    open_, started, done = [], 0, []
    # A connection is past the timeouts once it has had the header and the
    # body timeout, the lingering close and some slack.
    limit = HEADER_TIMEOUT + BODY_TIMEOUT + LINGER + SLACK
    # A connection whose replies leave it open (a still-valid request) is
    # closed by the client after this quiet time.
    quiet = 1.0
    start = time.monotonic()
    rss_halves = []
    # Two halves, with the RSS after each: flat if the second adds nothing.
    for goal in (total // 2, total):
        while started < goal or open_:
            while started < goal and len(open_) < parallel:
                payload, kind = garbage_payload(rng)
                c = Conn(connect(server.port), payload, kind)
                sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                open_.append(c)
                started += 1
            pump(sel, 0.05)
            now = time.monotonic()
            still = []
            for c in open_:
                if c.closed is None:
                    parsed = parse_responses(bytes(c.got))
                    # A whole request answered without `Connection: close`
                    # (a 404, or a mutation that is still a valid request).
                    keeps_open = parsed and parsed[0] and parsed[1] == 0 and not parsed[0][-1][1]
                    if keeps_open and now - c.opened > quiet and c.sent >= len(c.out):
                        c.kind += "+client_closed"
                        finish(sel, c)
                    elif now - c.opened > limit:
                        c.kind += "+left_open"
                        finish(sel, c)
                (done if c.closed is not None else still).append(c)
            open_ = still
        time.sleep(2)
        rss_halves.append(server.rss_kib())
    elapsed = time.monotonic() - start
    peak = sampler.stop()
    statuses, invalid, closed_unanswered, left_open, kept_open = {}, 0, 0, 0, 0
    for c in done:
        parsed = parse_responses(bytes(c.got))
        if "+left_open" in c.kind:
            left_open += 1
        if parsed is None or parsed[1] != 0:
            invalid += 1
            continue
        if not parsed[0]:
            closed_unanswered += 1
        for status, _ in parsed[0]:
            key = f"{status // 100}xx" if status < 400 else str(status)
            statuses[key] = statuses.get(key, 0) + 1
        if parsed[0] and not parsed[0][-1][1]:
            kept_open += 1
    with open(os.path.join(TMP, "garbage-left-open.txt"), "wb") as f:
        for c in done:
            if "+left_open" in c.kind:
                f.write(c.kind.encode() + b" sent=" + repr(c.out[:300]).encode() + b" got=" + repr(bytes(c.got[:200])).encode() + b"\n")
    time.sleep(2)
    emit("garbage", conns=total, seconds=round(elapsed, 1), invalid_replies=invalid,
         left_open=left_open, closed_unanswered=closed_unanswered, kept_open=kept_open,
         statuses=",".join(f"{k}:{v}" for k, v in sorted(statuses.items())),
         rss_before_kib=rss_before, rss_peak_kib=peak, rss_after_half_kib=rss_halves[0],
         rss_after_kib=rss_halves[1],
         answers_after="yes" if answers(server.port) else "no", log_lines=len(server.log_lines()))
    server.stop()


def resets(binary):
    total = 10000
    server = Server(binary, "resets")
    answers(server.port)
    rss_before = server.rss_kib()
    linger0 = struct.pack("ii", 1, 0)
    normal_ok = normal = 0
    start = time.monotonic()
    for i in range(total):
        s = socket.create_connection(("127.0.0.1", server.port))
        if i % 10 == 9:
            normal += 1
            s.settimeout(5)
            s.sendall(GET)
            data = b""
            try:
                while not data.endswith(HELLO_BODY):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            normal_ok += data.startswith(b"HTTP/1.1 200")
            s.close()
        else:
            s.sendall(GET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
            s.close()
    elapsed = time.monotonic() - start
    time.sleep(1)
    lines = server.log_lines()
    emit("resets", resets=total - normal, normal=normal, normal_ok=normal_ok, seconds=round(elapsed, 1),
         log_lines=len(lines), rss_before_kib=rss_before, rss_after_kib=server.rss_kib(),
         answers_after="yes" if answers(server.port) else "no")
    server.stop()


def fds(binary):
    total, nofile = 1000, 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, max(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    server = Server(binary, "fds", nofile=nofile)
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(total):
        c = Conn(connect(server.port), GET)
        sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        conns.append(c)

    def answered(c):
        return c.got.endswith(HELLO_BODY)

    # Out of descriptors: hold every connection for a while and watch CPU.
    hold = 5.0
    ticks0, t0 = server.cpu_ticks(), time.monotonic()
    while time.monotonic() - t0 < hold:
        pump(sel, 0.05)
    cpu = (server.cpu_ticks() - ticks0) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)
    first_answered = sum(map(answered, conns))
    lines_held = len(server.log_lines())
    # Recovery: close what was answered, again and again.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(answered(c) or c.closed for c in conns):
        for c in conns:
            if answered(c) and c.closed is None:
                finish(sel, c)
        pump(sel, 0.05)
    unanswered = [c for c in conns if not answered(c)]
    closed_unanswered = sum(1 for c in unanswered if c.closed is not None)
    for c in conns:
        finish(sel, c)
    total_answered = sum(map(answered, conns))
    time.sleep(1)
    lines = server.log_lines()
    emit("fds", nofile=nofile, conns=total, answered_while_full=first_answered,
         cpu_while_full=f"{cpu * 100:.1f}%", held_s=hold, log_lines_while_full=lines_held,
         log_lines=len(lines), answered_in_the_end=total_answered, closed_unanswered=closed_unanswered,
         unanswered_how=",".join(f"{c.error or 0}/{int(c.reset)}/{round((c.closed or 0) - c.opened, 1)}s" for c in unanswered[:5]),
         answers_after="yes" if answers(server.port) else "no",
         first_log_line=repr(lines[0][:120]) if lines else "-")
    server.stop()


def shutdown(binary):
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, max(4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
    # 1: under wrk alone.
    server = Server(binary, "shutdown")
    out = {}
    t = threading.Thread(target=lambda: out.update(wrk(server.port, "/plaintext", 64, 2, 6)))
    t.start()
    time.sleep(2)
    exit_s = server.stop()
    t.join()
    lines = server.log_lines()
    # 2: with a CPU-bound request in flight that outlasts the grace period.
    server2 = Server(binary, "shutdown-fib")
    fib = connect(server2.port)
    fib.setblocking(True)
    fib.sendall(b"GET /fib/50 HTTP/1.1\r\nHost: bench\r\n\r\n")
    out2 = {}
    t = threading.Thread(target=lambda: out2.update(wrk(server2.port, "/plaintext", 64, 2, 6)))
    t.start()
    time.sleep(2)
    exit2_s = server2.stop(timeout=120)
    t.join()
    fib.close()
    def dropped(r):
        # Requests that got EOF or a reset instead of an answer (wrk's read
        # errors) or none at all; wrk's connect and write errors are its
        # reconnections to a server that has stopped listening.
        return r["errors"].get("read", 0) + r["errors"].get("timeout", 0) if r else "?"

    def refused(r):
        return r["errors"].get("connect", 0) + r["errors"].get("write", 0) if r else "?"

    emit("shutdown", wrk_requests=out.get("requests"), dropped=dropped(out), refused_after=refused(out),
         non2xx=out.get("non2xx"), exit_s=f"{exit_s:.2f}", log_lines=len(lines),
         fib_requests=out2.get("requests"), fib_dropped=dropped(out2), fib_exit_s=f"{exit2_s:.2f}",
         fib_log=repr(" | ".join(l[:80] for l in server2.log_lines())))


SCENARIOS = {"soak": soak, "slowloris": slowloris, "garbage": garbage, "resets": resets, "fds": fds,
             "shutdown": shutdown}


def main():
    global TMP
    names = sys.argv[1:] or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            sys.exit(f"unknown scenario {n}; use {' '.join(SCENARIOS)}")
    if shutil.which("wrk") is None:
        subprocess.run(["bash", "-c", "source benches/lib.sh && apt_install wrk"], cwd=ROOT, check=True)
    binary = build()
    TMP = tempfile.mkdtemp(prefix="coro-abuse-")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, commit {commit}, {os.cpu_count()} cpus, "
          f"{cpu}, Linux {os.uname().release}, workers={WORKERS}, load average "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}; server logs in {TMP}", flush=True)
    for n in names:
        SCENARIOS[n](binary)


if __name__ == "__main__":
    main()
