#!/usr/bin/env bash
# User-space instructions per request of the HTTP hello servers, counted
# by callgrind (valgrind, installed with apt-get when missing). On the
# 2-vCPU VM a server's requests per CPU-second move by 10% or more from
# run to run, the same binary included; an instruction count moves by
# about 1% (with how the requests batch), so it is what shows a change
# to a server's own code. It says nothing of the kernel's part of a
# request, nor of cache misses or stalls: benches/http.sh ranks servers.
#
# Each count starts a fresh server, 1 worker, under
# `valgrind --tool=callgrind` on an ephemeral loopback port, loads it
# with wrk pinned to CPU 1 for a warm-up (counters then zeroed), then for
# SECONDS, dumps the counters and divides the program's total by the
# requests wrk completed:
#
#   plaintext     GET /plaintext, wrk -t1 -c16, warm-up 2 s
#   pipelined     the same, 16 requests a write (benches/http/pipeline.lua)
#   tls-connect   GET /plaintext over TLS (--self-signed), wrk -t1 -c8
#                 -H 'Connection: close': a full handshake per request,
#                 warm-up 3 s (coro and hyper only; hyper is
#                 hello_hyper_tls.rs)
#
# The servers are built as benches/http.sh builds them (see
# build_http_servers in benches/lib.sh). Prints one line per count and a
# table of the medians of RUNS counts.
#
# usage: benches/instructions.sh [RUNS=3] [SECONDS=5]
#   SERVERS="coro hyper bare"          of coro, hyper, bare (the floor)
#   SCENARIOS="plaintext pipelined"    a subset of the above, in order
#   CACHE=1                            also simulate the caches
#                                      (--cache-sim=yes, slower): L1
#                                      instruction misses, and L1 data
#                                      misses on reads and on writes, per
#                                      request
set -euo pipefail

runs="${1:-3}"
seconds="${2:-5}"
servers="${SERVERS:-coro hyper bare}"
scenarios="${SCENARIOS:-plaintext pipelined}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
ulimit -n 4096

if ! command -v wrk >/dev/null 2>&1; then apt_install wrk; fi
if ! command -v valgrind >/dev/null 2>&1; then apt_install valgrind; fi

to_build=""
for server in $servers; do
    to_build+="$server "
    if [ "$server" = hyper ] && [[ " $scenarios " == *" tls-connect "* ]]; then
        to_build+="hyper-tls "
    fi
done
# shellcheck disable=SC2086 # one word per server
build_http_servers $to_build
pinning 0 1
machine_header
echo "# SERVERS=\"$servers\" SCENARIOS=\"$scenarios\" benches/instructions.sh $runs $seconds"

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
declare -A values

# count SCENARIO SERVER: one callgrind count; prints and records it.
count() {
    local scenario="$1" server="$2" bin="${server_bin[$2]}" args=() scheme=http
    local wrk_args=(-t1 -c16) warmup=2
    case "$scenario" in
    plaintext) ;;
    pipelined) wrk_args+=(-s benches/http/pipeline.lua) ;;
    tls-connect)
        [ "$server" = bare ] && return 0
        if [ "$server" = hyper ]; then bin="${server_bin[hyper-tls]}"; fi
        args=(--self-signed) scheme=https wrk_args=(-t1 -c8 -H "Connection: close") warmup=3
        ;;
    *)
        echo "unknown scenario $scenario" >&2
        exit 2
        ;;
    esac
    # valgrind runs the server 20 to 50 times slower: it may take
    # seconds to announce itself (30 at most).
    local cache=()
    if [ "${CACHE:-0}" = 1 ]; then cache=(--cache-sim=yes); fi
    start_wait=600 start_server "$tmp/server.log" "$server" valgrind --tool=callgrind "${cache[@]}" \
        --callgrind-out-file="$tmp/callgrind.out" "$bin" --port 0 --workers 1 "${args[@]}"
    local url="$scheme://127.0.0.1:$server_port/plaintext" depth=()
    if [ "$scenario" = pipelined ]; then depth=(-- 16); fi
    "${pin_client[@]}" wrk -d"${warmup}s" "${wrk_args[@]}" "$url" "${depth[@]}" >/dev/null
    callgrind_control -z "$server_pid" >/dev/null 2>&1
    local out requests
    out="$("${pin_client[@]}" wrk -d"${seconds}s" "${wrk_args[@]}" "$url" "${depth[@]}")"
    callgrind_control -d "$server_pid" >/dev/null 2>&1
    stop_server
    requests="$(wrk_requests "$out")"
    # The totals line: each event's count, then its share in brackets
    # (Ir first; with the cache simulation Dr, Dw, I1mr, D1mr, D1mw next).
    local totals
    totals="$(callgrind_annotate "$tmp"/callgrind.out.* 2>/dev/null |
        awk '/PROGRAM TOTALS/ { gsub(",", ""); print }')"
    rm -f "$tmp"/callgrind.out*
    local total per misses=()
    total="$(awk '{ print $1 }' <<<"$totals")"
    per=$((total / requests))
    if [ "${CACHE:-0}" = 1 ]; then
        read -ra misses <<<"$(awk -v n="$requests" '{ printf "i1_misses=%.0f d1_read_misses=%.0f d1_write_misses=%.0f",
            $7 / n, $9 / n, $11 / n }' <<<"$totals")"
    fi
    echo "$scenario $server requests=$requests instructions=$total per_request=$per ${misses[*]}"
    record "$scenario.$server" "per_request=$per" "${misses[@]}"
}

for _ in $(seq "$runs"); do
    for scenario in $scenarios; do
        for server in $servers; do
            count "$scenario" "$server"
        done
    done
done

echo
echo "User-space instructions per request, medians of $runs counts of ${seconds} s (callgrind)."
echo
head="| scenario |" rule="|---|"
for server in $servers; do head+=" $server |" rule+="---|"; done
echo "$head"
echo "$rule"
for scenario in $scenarios; do
    row="| $scenario |"
    for server in $servers; do row+=" $(int "$(m "$scenario.$server.per_request")") |"; done
    echo "$row"
done
if [ "${CACHE:-0}" = 1 ]; then
    echo
    echo "Simulated L1 misses per request (instruction / data read / data write), medians."
    echo
    echo "$head"
    echo "$rule"
    for scenario in $scenarios; do
        row="| $scenario |"
        for server in $servers; do
            k="$scenario.$server"
            row+=" $(int "$(m "$k.i1_misses")") / $(int "$(m "$k.d1_read_misses")") / $(int "$(m "$k.d1_write_misses")") |"
        done
        echo "$row"
    done
fi
