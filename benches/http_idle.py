#!/usr/bin/env python3
"""Memory per idle keep-alive connection of the coro HTTP server.

Starts the hello example (release build), opens N connections that each
make one request and then stay open, idle, and prints the server's resident
set size, before and with them, per connection: at once, and again after
SETTLE seconds, once the connections have been idle long enough to let their
coroutines and buffers go (coro-http does so after 1 s idle).

usage: python3 benches/http_idle.py [N=10000] [WORKERS=2] [SETTLE=3]
"""
import os
import resource
import socket
import subprocess
import sys
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
workers = sys.argv[2] if len(sys.argv) > 2 else "2"
settle = float(sys.argv[3]) if len(sys.argv) > 3 else 3.0
binary = os.environ.get("HELLO")  # a prebuilt server, instead of building one
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
limit = n + 1000
resource.setrlimit(resource.RLIMIT_NOFILE, (limit, max(limit, resource.getrlimit(resource.RLIMIT_NOFILE)[1])))
if binary is None:
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "examples", "--example", "hello"],
                   cwd=root, check=True)
    binary = os.path.join(root, "target/release/examples/hello")
server = subprocess.Popen([binary, "--port", "0",
                           "--workers", workers], stdout=subprocess.PIPE, text=True)
try:
    port = int(server.stdout.readline().rsplit(":", 1)[1])

    def rss_kib():
        with open(f"/proc/{server.pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))

    before = rss_kib()
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n")
        conns.append(s)
    ok = sum(1 for s in conns if s.recv(4096).startswith(b"HTTP/1.1 200"))
    after = rss_kib()
    time.sleep(settle)
    settled = rss_kib()
    print(f"connections={n} answered={ok} workers={workers} rss_before_kib={before} "
          f"rss_after_kib={after} bytes_per_connection={(after - before) * 1024 // n} "
          f"settled_after_s={settle} rss_settled_kib={settled} "
          f"settled_bytes_per_connection={(settled - before) * 1024 // n}")
finally:
    server.terminate()
    server.wait()
