#!/usr/bin/env bash
# HTTP load: the coro hello server (examples/examples/hello.rs) against the
# hyper 1.x one (benches/examples/hello_hyper.rs), under wrk (installed with
# apt-get when missing). Every run starts a fresh server on an ephemeral
# loopback port, waits for its "listening on" line, loads it with a 1 s
# wrk warm-up (not counted) and then SECONDS of wrk, and stops it; runs
# alternate coro/hyper scenario by scenario, RUNS times over.
#
#   scenario      path       workers  pinning (server/wrk)  wrk
#   plaintext     /plaintext 1        CPU 0 / CPU 1         -t1 -c64
#   pipelined     /plaintext 1        CPU 0 / CPU 1         -t1 -c64, 16 a write
#   json          /json      1        CPU 0 / CPU 1         -t1 -c64
#   fib           /fib/25    1        CPU 0 / CPU 1         -t1 -c64
#   fib-2w        /fib/25    2        none                  -t2 -c64
#   plaintext-2w  /plaintext 2        none                  -t2 -c64
#
# Each run prints requests/s, p50 and p99 latency in µs ('-' when
# pipelined: wrk then times whole batches), the server's CPU seconds
# during the measured wrk run (utime + stime from /proc/PID/stat) and
# requests per server CPU-second, plus any non-2xx responses or socket
# errors wrk saw. At the end: a markdown table of the medians, the
# coro/hyper ratios of requests/s and of requests per CPU-second (higher
# wins), and the fib scaling from 1 to 2 workers.
#
# usage: benches/http.sh [RUNS=3] [SECONDS=10]
#   SERVERS="coro hyper"  the servers to run (e.g. SERVERS=hyper); add
#                         "bare" and "bare-uring" for the floor servers
#                         (benches/examples/hello_bare.rs on epoll,
#                         hello_bare_uring.rs on io_uring) in the
#                         plaintext scenarios
#   SCENARIOS="..."       a subset of the scenarios above, in that order
#   ALIGN=0               default code layout (see the build step below)
set -euo pipefail

runs="${1:-3}"
seconds="${2:-10}"
servers="${SERVERS:-coro hyper}"
scenarios="${SCENARIOS:-plaintext pipelined json fib fib-2w plaintext-2w}"
warmup=1
conns=64
depth=16
fib_n=25
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
source benches/lib.sh
ulimit -n 4096

if ! command -v wrk >/dev/null 2>&1; then
    apt_install wrk
fi

# Both servers are built with every function aligned to 64 bytes, in a
# target directory of their own: where the linker happens to place the
# handler's code (fib above all) otherwise moves the CPU-bound figures by
# 10 to 15% from one build to the next, which would compare code layout,
# not runtimes. ALIGN=0 builds with the default flags instead.
if [ "${ALIGN:-1}" = 1 ]; then
    export RUSTFLAGS="${RUSTFLAGS:-} -C llvm-args=-align-all-functions=6"
    export CARGO_TARGET_DIR="$root/target/http-bench"
fi
declare -A server_bin
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples"
for server in $servers; do
    case "$server" in
    coro)
        cargo build --release --quiet -p examples --example hello
        server_bin[coro]="$bin/hello"
        ;;
    hyper)
        cargo build --release --quiet -p benches --example hello_hyper
        server_bin[hyper]="$bin/hello_hyper"
        ;;
    bare)
        cargo build --release --quiet -p benches --example hello_bare
        server_bin[bare]="$bin/hello_bare"
        ;;
    bare-uring)
        cargo build --release --quiet -p benches --example hello_bare_uring
        server_bin[bare-uring]="$bin/hello_bare_uring"
        ;;
    *)
        echo "unknown server $server; SERVERS takes coro, hyper, bare and bare-uring" >&2
        exit 2
        ;;
    esac
done

pinning 0 1
clk_tck="$(getconf CLK_TCK)"
cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "# $(date -u '+%F %H:%M UTC'), commit $commit"
echo "# machine: $(nproc) cpus, ${cpu_model:-$(uname -m)}, Linux $(uname -r), $(uname -m)"
echo "# $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
echo "# SERVERS=\"$servers\" ALIGN=${ALIGN:-1} benches/http.sh $runs $seconds" \
    "(connections=$conns pipeline=$depth fib=$fib_n pin=${pin_server[*]:-none}/${pin_client[*]:-none})"

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# cpu_ticks PID: the user + system clock ticks PID has used, all threads.
# The fields after the ")" closing the command name start at field 3, so
# utime (14) and stime (15) are the 12th and 13th of them.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# latency_us PERCENT WRK_OUTPUT: the PERCENT% line of wrk's --latency
# distribution, in microseconds.
latency_us() {
    awk -v p="$1%" '$1 == p {
        v = $2
        if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /m$/) m = 60e6; else m = 1e6
        sub(/[a-z]+$/, "", v)
        printf "%.0f", v * m
    }' <<<"$2"
}

# wrk_errors WRK_OUTPUT: wrk's socket error and non-2xx/3xx lines, if any.
wrk_errors() {
    sed -n 's/^ *\(Socket errors: .*\|Non-2xx or 3xx responses: .*\)$/\1/p' <<<"$1" | paste -sd ';' -
}

# floor_scenario SCENARIO: whether the bare floor server takes part.
floor_scenario() {
    case "$1" in
    plaintext | pipelined | plaintext-2w) return 0 ;;
    *) return 1 ;;
    esac
}

declare -A values
failed=0
# run SCENARIO SERVER: one fresh server, warm-up, measured wrk run, stop.
run() {
    local scenario="$1" server="$2"
    local path=/plaintext workers=1 threads=1 pinned=1 script=()
    case "$scenario" in
    plaintext) ;;
    pipelined) script=(-s benches/http/pipeline.lua) ;;
    json) path=/json ;;
    fib) path="/fib/$fib_n" ;;
    fib-2w) path="/fib/$fib_n" workers=2 threads=2 pinned=0 ;;
    plaintext-2w) workers=2 threads=2 pinned=0 ;;
    *)
        echo "unknown scenario $scenario" >&2
        exit 2
        ;;
    esac
    local ps=() pc=()
    if [ "$pinned" = 1 ]; then ps=("${pin_server[@]}") pc=("${pin_client[@]}"); fi

    start_server "$tmp/server.log" "$server" \
        "${ps[@]}" "${server_bin[$server]}" --port 0 --workers "$workers"

    local url="http://127.0.0.1:$server_port$path"
    local wrk_args=(-t"$threads" -c"$conns" --latency "${script[@]}" "$url")
    if [ "${#script[@]}" -gt 0 ]; then wrk_args+=(-- "$depth"); fi
    "${pc[@]}" wrk -d"${warmup}s" "${wrk_args[@]}" >/dev/null
    local before after out
    before="$(cpu_ticks "$server_pid")"
    out="$("${pc[@]}" wrk -d"${seconds}s" "${wrk_args[@]}")"
    after="$(cpu_ticks "$server_pid")"
    stop_server

    local rps requests cpu_s per_cpu p50=- p99=- errors
    rps="$(awk '$1 == "Requests/sec:" { print $2 }' <<<"$out")"
    requests="$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$out")"
    cpu_s="$(awk -v t="$((after - before))" -v hz="$clk_tck" 'BEGIN { printf "%.2f", t / hz }')"
    per_cpu="$(awk -v n="$requests" -v t="$((after - before))" -v hz="$clk_tck" \
        'BEGIN { if (t > 0) printf "%.0f", n * hz / t; else print 0 }')"
    if [ "${#script[@]}" -eq 0 ]; then
        p50="$(latency_us 50 "$out")" p99="$(latency_us 99 "$out")"
    fi
    errors="$(wrk_errors "$out")"
    echo "$scenario $server rps=$rps p50_us=$p50 p99_us=$p99 cpu_s=$cpu_s rps_per_cpu_s=$per_cpu${errors:+ errors=\"$errors\"}"
    if [ -n "$errors" ]; then failed=$((failed + 1)); fi
    local key="$scenario.$server"
    values["$key.rps"]+="$rps "
    values["$key.p50"]+="$p50 "
    values["$key.p99"]+="$p99 "
    values["$key.cpu"]+="$per_cpu "
}

for _ in $(seq "$runs"); do
    for scenario in $scenarios; do
        for server in $servers; do
            # The floor servers answer plaintext only.
            if [[ "$server" == bare* ]] && ! floor_scenario "$scenario"; then continue; fi
            run "$scenario" "$server"
        done
    done
done

# m KEY: the median of the figures recorded under KEY, or "-" for none
# (latencies of pipelined runs).
m() {
    local v
    v="$(tr ' ' '\n' <<<"${values[$1]:-}" | sed '/^$/d;/^-$/d')"
    if [ -n "$v" ]; then median <<<"$v"; else echo -; fi
}
int() {
    awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.0f", a }'
}
title() {
    case "$1" in
    plaintext) echo "plaintext, 1 worker" ;;
    pipelined) echo "plaintext pipelined x$depth, 1 worker" ;;
    json) echo "json, 1 worker" ;;
    fib) echo "fib($fib_n), 1 worker" ;;
    fib-2w) echo "fib($fib_n), 2 workers, unpinned" ;;
    plaintext-2w) echo "plaintext, 2 workers, unpinned" ;;
    esac
}

echo
echo "Medians of $runs runs of ${seconds} s, $conns connections; latency in µs; req/CPU-s is requests per second of server CPU time."
echo
echo "| scenario | coro req/s | hyper req/s | coro/hyper | coro p50 / p99 | hyper p50 / p99 | coro req/CPU-s | hyper req/CPU-s | coro/hyper |"
echo "|---|---|---|---|---|---|---|---|---|"
for scenario in $scenarios; do
    cr="$(int "$(m "$scenario.coro.rps")")" hr="$(int "$(m "$scenario.hyper.rps")")"
    cc="$(m "$scenario.coro.cpu")" hc="$(m "$scenario.hyper.cpu")"
    cl="$(int "$(m "$scenario.coro.p50")") / $(int "$(m "$scenario.coro.p99")")"
    hl="$(int "$(m "$scenario.hyper.p50")") / $(int "$(m "$scenario.hyper.p99")")"
    if [ "$cl" = "- / -" ]; then cl=-; fi
    if [ "$hl" = "- / -" ]; then hl=-; fi
    echo "| $(title "$scenario") | $cr | $hr | $(ratio "$cr" "$hr") | $cl | $hl |" \
        "$(int "$cc") | $(int "$hc") | $(ratio "$cc" "$hc") |"
done
if [[ " $scenarios " == *" fib "* && " $scenarios " == *" fib-2w "* ]]; then
    echo
    echo "| fib($fib_n) scaling, 2 workers / 1 | coro | hyper |"
    echo "|---|---|---|"
    echo "| requests/s | $(ratio "$(m fib-2w.coro.rps)" "$(m fib.coro.rps)") |" \
        "$(ratio "$(m fib-2w.hyper.rps)" "$(m fib.hyper.rps)") |"
fi
floors=""
for server in $servers; do
    if [[ "$server" == bare* ]]; then floors+="$server "; fi
done
if [ -n "$floors" ]; then
    echo
    echo "Against the floor (bare: hello_bare on epoll, bare-uring: hello_bare_uring on io_uring; the system calls alone, no HTTP work); the last column is the most any server could beat hyper by here."
    echo
    echo "| scenario | floor | floor req/s | floor req/CPU-s | coro / floor | hyper / floor | floor / hyper |"
    echo "|---|---|---|---|---|---|---|"
    for scenario in $scenarios; do
        floor_scenario "$scenario" || continue
        for floor in $floors; do
            fr="$(int "$(m "$scenario.$floor.rps")")" fc="$(m "$scenario.$floor.cpu")"
            cc="$(m "$scenario.coro.cpu")" hc="$(m "$scenario.hyper.cpu")"
            echo "| $(title "$scenario") | $floor | $fr | $(int "$fc") | $(ratio "$cc" "$fc") |" \
                "$(ratio "$hc" "$fc") | $(ratio "$fc" "$hc") |"
        done
    done
fi
echo
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs (other load skews the figures)"
if [ "$failed" -gt 0 ]; then
    echo
    echo "# WARNING: $failed runs saw socket errors or non-2xx responses (see errors= above)"
fi
