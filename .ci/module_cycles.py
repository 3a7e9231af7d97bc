#!/usr/bin/env python3
"""Checks that each crate's modules import one way.

For every top-level module of a crate (a file `src/x.rs` or a folder
`src/x/`), the `crate::y` paths its code names (comments and its
`#[cfg(test)] mod tests` left out) are its imports. The imports must form
no cycle, except the pairs listed in ALLOWED with the reason the crate's
module docs give. Prints each crate's order, bottom first, and exits 1 on
a cycle that is not allowed.

usage: .ci/module_cycles.py CRATE_DIR...
"""

import graphlib
import os
import re
import sys

# (crate folder, module, module): why the two may use each other. These
# are coro's public API, peers by design (coro's crate docs, "Layers").
ALLOWED = {
    ("coro", "coroutine", "runtime"): "coro::spawn uses the default runtime; Runtime::spawn its Builder",
    ("coro", "coroutine", "scope"): "Builder::spawn_scoped takes a Scope; a scoped handle joins as a coroutine's",
    ("coro", "runtime", "scope"): "Runtime::scope enters a scope; coro::scope uses the default runtime",
    ("coro", "blocking", "runtime"): "coro::spawn_blocking uses the default runtime; Runtime::spawn_blocking the pool",
}


def imports(src):
    graph = {}
    for folder, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, src)[: -len(".rs")]
            top = rel.split(os.sep)[0]
            if top in ("lib", "main"):
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            text = re.sub(r"#\[cfg\(test\)\]\s*mod tests \{.*", "", text, flags=re.S)
            text = re.sub(r"//.*", "", text)
            used = set(re.findall(r"crate::(\w+)", text))
            for group in re.findall(r"crate::\{([^}]*)\}", text):
                used.update(p.strip().split("::")[0] for p in group.split(",") if p.strip())
            used.discard(top)
            graph.setdefault(top, set()).update(used)
    return {m: {d for d in deps if d in graph} for m, deps in graph.items()}


def main(crates):
    failed = False
    for crate in crates:
        graph = imports(os.path.join(crate, "src"))
        allowed = {frozenset((a, b)) for (c, a, b) in ALLOWED if c == crate}
        pruned = {
            m: {d for d in deps if frozenset((m, d)) not in allowed}
            for m, deps in graph.items()
        }
        try:
            order = list(graphlib.TopologicalSorter(pruned).static_order())
            print(f"{crate}: " + " < ".join(order))
        except graphlib.CycleError as e:
            failed = True
            print(f"{crate}: modules import each other: {' -> '.join(e.args[1])}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["coro", "coro-net", "coro-http"]))
