#!/usr/bin/env python3
"""Seeds the fuzz corpora from the raw-socket tests.

Every Rust string literal in coro-http/tests/http_*.rs and in the unit
tests of parse.rs and chunked.rs that holds a request (or a chunked body)
becomes one seed file; `cargo fuzz cmin` then keeps those that add
coverage. Run from coro-http/: `python3 fuzz/seeds.py`.
"""
import hashlib
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
CRATE = HERE.parent
LITERAL = re.compile(r'b?"((?:[^"\\]|\\.)*)"', re.S)
ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "0": "\0", '"': '"', "\\": "\\", "'": "'"}


def unescape(text):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = text[i + 1]
        if n == "\n":  # a line continuation: skip the break and the indent
            i += 2
            while i < len(text) and text[i] in " \t":
                i += 1
            continue
        if n == "x":
            out.append(chr(int(text[i + 2 : i + 4], 16)))
            i += 4
            continue
        out.append(ESCAPES.get(n, n))
        i += 2
    return "".join(out).encode("latin-1", "replace")


def literals(paths):
    for path in paths:
        for m in LITERAL.finditer(path.read_text()):
            yield unescape(m.group(1))


def write(corpus, seeds):
    directory = HERE / "corpus" / corpus
    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        name = hashlib.sha1(seed).hexdigest()
        (directory / name).write_bytes(seed)


sources = sorted(CRATE.glob("tests/http_*.rs")) + [CRATE / "src/parse.rs"]
requests = {s for s in literals(sources) if b"HTTP/" in s and len(s) < 4096}
write("head", requests)
write("connection", requests)

chunk_sources = sources + [CRATE / "src/chunked.rs"]
bodies = set()
for s in literals(chunk_sources):
    if b"Transfer-Encoding: chunked\r\n\r\n" in s:
        s = s.split(b"Transfer-Encoding: chunked\r\n\r\n", 1)[1]
    elif not re.match(rb"^[0-9a-fA-F+\- ]*[;\r\n]", s):
        continue
    # The first two bytes choose the split and the buffer (see
    # coro_http::fuzzing::chunked): whole, and byte by byte.
    bodies.add(b"\x1f\x1f" + s)
    bodies.add(b"\x00\x00" + s)
write("chunked", bodies)
