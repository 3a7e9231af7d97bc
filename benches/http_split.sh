#!/usr/bin/env bash
# Where an HTTP hello server's CPU goes per request, split into the
# kernel's part and the process's own (user space), by sampling: the
# figure to read when per-CPU-second ratios (benches/http.sh) move with
# the host more than with the servers. On the 2-vCPU VM the kernel's part
# of a plaintext request moves by a third from run to run for the same
# binary, while the user-space part, the servers' own code, holds steady.
#
# Each run starts a fresh server on an ephemeral loopback port, loads it
# with a 1 s wrk warm-up, then samples it with `perf record -e cpu-clock
# -F 4000` (every thread) while wrk loads it for SECONDS, and stops it.
# Samples are split by DSO: `[kernel.kallsyms]` is the kernel's, the rest
# (the binary, libc, the vDSO) the process's own; one sample is 250 µs.
# The scenarios are benches/http.sh's:
#
#   plaintext     1 worker pinned to CPU 0, wrk -t1 -c64 on CPU 1
#   pipelined     the same, 16 requests a write (benches/http/pipeline.lua)
#   plaintext-2w  2 workers unpinned, wrk -t1 -c128
#
# Rounds alternate the servers scenario by scenario. Each run prints its
# line; at the end, per scenario, each server's medians (CPU per request
# in µs: total, kernel, user) and the medians of the rounds' ratios of
# requests per CPU, coro against each other server.
#
# usage: benches/http_split.sh [ROUNDS=5] [SECONDS=3]
#   SERVERS="coro bare hyper"   of coro, hyper, may and bare (the floor)
#   SCENARIOS="plaintext pipelined plaintext-2w"
#   BEFORE=PATH                 another build of examples/hello (an older
#                               commit, built as benches/lib.sh builds
#                               coro), run as the server "before"
#
#   BEFORE=target/http-bench-old/release/examples/hello benches/http_split.sh 5
set -euo pipefail

rounds="${1:-5}"
seconds="${2:-3}"
servers="${SERVERS:-coro bare hyper}"
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
    local out
    out="$("${pc[@]}" wrk -d"${seconds}s" "${wrk_args[@]}")"
    wait "$perf_pid" || true
    stop_server
    local requests
    requests="$(wrk_requests "$out")"
    perf report -i "$tmp/perf.data" -n --no-children --sort dso -q 2>/dev/null |
        awk -v n="$requests" -v sc="$scenario" -v s="$server" '
            { if ($3 ~ /kernel/) k += $2; else u += $2 }
            END {
                if (n == 0) n = 1
                printf "%s %s requests=%d us_per_req=%.3f kernel_us=%.3f user_us=%.3f\n",
                    sc, s, n, (k + u) * 250 / n, k * 250 / n, u * 250 / n
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
    coro = runs.get((scenario, "coro"))
    for server in servers:
        if not coro or server == "coro":
            continue
        # Requests per CPU, coro against SERVER: SERVER's CPU per request
        # over coro's, round by round.
        ratios = [o[0] / c[0] for c, o in zip(coro, runs[(scenario, server)])]
        print(f"  coro / {server} per CPU: median {med(ratios):.2f}"
              f" (rounds {' '.join(f'{x:.2f}' for x in ratios)})")
EOF
