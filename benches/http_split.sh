#!/usr/bin/env bash
# Where an HTTP hello server's CPU goes per request, split into the
# kernel's part and the process's own (user space), by sampling. On the
# 2-vCPU VM the kernel's part of a plaintext request moves by a third from
# run to run for the same binary, while the user-space part, the server's
# own code, holds steadier: this shows what a change to coro's own code
# did (BEFORE= runs an older build beside it).
#
# Not for ranking servers: the sampling slows them, and not evenly.
# Pipelined ×16 on the 2-vCPU VM (2026-12-03), per request: coro 0.90 to
# 1.41 µs under perf against 0.78 to 0.90 without it (benches/http.sh),
# hyper 1.59 to 1.85 against 1.09 to 1.38. Rank servers by
# benches/http.sh, which runs no profiler.
#
# Each run starts a fresh server on an ephemeral loopback port, loads it
# with a 1 s wrk warm-up, then samples it with `perf record -e cpu-clock
# -F 4000` (every thread) while wrk loads it for SECONDS, and stops it.
# The CPU time per request is the process's own count (utime + stime from
# /proc/PID/stat over the measured run, as benches/http.sh takes it: the
# kernel keeps their sum exact); the samples split it, by DSO:
# `[kernel.kallsyms]` is the kernel's, the rest (the binary, libc, the
# vDSO) the process's own. (Counting 250 µs a sample instead undercounts,
# and not evenly: 0.86 CPU-seconds a second for coro against 0.90 by its
# own count in benches/http.sh's runs, 0.89 for hyper against 0.99,
# pipelined.) The scenarios are
# benches/http.sh's:
#
#   plaintext     1 worker pinned to CPU 0, wrk -t1 -c64 on CPU 1
#   pipelined     the same, 16 requests a write (benches/http/pipeline.lua)
#   plaintext-2w  2 workers unpinned, wrk -t1 -c128
#
# Rounds alternate the servers scenario by scenario. Each run prints its
# line; at the end, per scenario, each server's medians (CPU per request
# in µs: total, kernel, user) and, with BEFORE=, the medians of the
# rounds' ratios of coro's figures to the older build's.
#
# usage: benches/http_split.sh [ROUNDS=5] [SECONDS=3]
#   SERVERS="coro bare"         of coro, hyper, may and bare (the floor)
#   SCENARIOS="plaintext pipelined plaintext-2w"
#   BEFORE=PATH                 another build of examples/hello (an older
#                               commit, built as benches/lib.sh builds
#                               coro), run as the server "before"
#
#   BEFORE=target/http-bench-old/release/examples/hello benches/http_split.sh 5
set -euo pipefail

rounds="${1:-5}"
seconds="${2:-3}"
servers="${SERVERS:-coro bare}"
scenarios="${SCENARIOS:-plaintext pipelined plaintext-2w}"
depth=16

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh

command -v wrk >/dev/null 2>&1 || apt_install wrk
command -v perf >/dev/null 2>&1 || apt_install linux-perf
command -v python3 >/dev/null 2>&1 || apt_install python3

# shellcheck disable=SC2086
build_http_servers $servers
if [ -n "${BEFORE:-}" ]; then
    server_bin[before]="$BEFORE"
    servers+=" before"
fi
pinning 0 1

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT

# run SCENARIO SERVER: one fresh server, warm-up, one sampled wrk run.
run() {
    local scenario="$1" server="$2"
    local workers=1 conns=64 pinned=1 script=()
    case "$scenario" in
    plaintext) ;;
    pipelined) script=(-s benches/http/pipeline.lua) ;;
    plaintext-2w) workers=2 conns=128 pinned=0 ;;
    *)
        echo "unknown scenario $scenario" >&2
        exit 2
        ;;
    esac
    start_http_server "$tmp/server.log" "$server" "$workers" "$pinned"
    local pc=("${client_pin[@]}")
    local wrk_args=(-t1 -c"$conns" "${script[@]}" "http://127.0.0.1:$server_port/plaintext")
    if [ "${#script[@]}" -gt 0 ]; then wrk_args+=(-- "$depth"); fi
    "${pc[@]}" wrk -d1s "${wrk_args[@]}" >/dev/null
    perf record -q -e cpu-clock -F 4000 -p "$server_pid" -o "$tmp/perf.data" \
        -- sleep "$seconds" >/dev/null 2>&1 &
    local perf_pid=$!
    local before after out
    before="$(cpu_ticks "$server_pid")"
    out="$("${pc[@]}" wrk -d"${seconds}s" "${wrk_args[@]}")"
    after="$(cpu_ticks "$server_pid")"
    wait "$perf_pid" || true
    stop_server
    local requests
    requests="$(wrk_requests "$out")"
    # The total is the process's CPU time (exact, as benches/http.sh
    # takes it); the samples only split it.
    perf report -i "$tmp/perf.data" -n --no-children --sort dso -q 2>/dev/null |
        awk -v n="$requests" -v ticks="$((after - before))" -v hz="$(getconf CLK_TCK)" \
            -v sc="$scenario" -v s="$server" '
            { if ($3 ~ /kernel/) k += $2; else u += $2 }
            END {
                if (n == 0) n = 1
                if (k + u == 0) u = 1
                total = ticks / hz * 1e6 / n
                printf "%s %s requests=%d us_per_req=%.3f kernel_us=%.3f user_us=%.3f\n",
                    sc, s, n, total, total * k / (k + u), total * u / (k + u)
            }' | tee -a "$tmp/lines"
}

machine_header
echo "# SERVERS=\"$servers\" benches/http_split.sh $rounds $seconds"
for _ in $(seq "$rounds"); do
    for scenario in $scenarios; do
        for server in $servers; do
            run "$scenario" "$server"
        done
    done
done

python3 - "$tmp/lines" <<'EOF'
import collections, statistics, sys

runs = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    scenario, server, *pairs = line.split()
    f = dict(p.split("=") for p in pairs)
    if (scenario, server) not in runs:
        order.append((scenario, server))
    runs[(scenario, server)].append(
        (float(f["us_per_req"]), float(f["kernel_us"]), float(f["user_us"])))

med = statistics.median
for scenario in dict.fromkeys(s for s, _ in order):
    servers = [v for s, v in order if s == scenario]
    print(f"\n{scenario}: CPU per request in µs, medians (total / kernel / user)")
    for server in servers:
        r = runs[(scenario, server)]
        print(f"  {server:8} {med(x[0] for x in r):7.3f} / {med(x[1] for x in r):7.3f}"
              f" / {med(x[2] for x in r):6.3f}   ({len(r)} runs)")
    coro, before = runs.get((scenario, "coro")), runs.get((scenario, "before"))
    if coro and before:
        # Round by round: coro's figure over the older build's (below 1:
        # coro spends less).
        for i, name in enumerate(("total", "kernel", "user")):
            ratios = [c[i] / b[i] for c, b in zip(coro, before)]
            print(f"  coro / before, {name} per request: median {med(ratios):.2f}"
                  f" (rounds {' '.join(f'{x:.2f}' for x in ratios)})")
EOF
