#!/usr/bin/env bash
# The worker curve: the coro hello server (examples/examples/hello.rs),
# the hyper one (benches/examples/hello_hyper.rs) and the epoll floor
# (benches/examples/hello_bare.rs) with 1, 2, 4, 8 and 16 workers, under
# wrk (installed with apt-get when missing), nothing pinned. Meant for a
# machine with 16 cores or more (issue 10 asks for this curve when one is
# lent); on fewer cores the larger counts only share the same CPUs.
#
# Every run starts a fresh server with W workers on an ephemeral loopback
# port, waits for its "listening on" line, loads it with a 1 s wrk warm-up
# (not counted) and then SECONDS of wrk, and stops it; runs alternate the
# servers worker count by worker count, RUNS times over.
#
#   scenario   path        servers                 wrk (W workers, N = nproc)
#   plaintext  /plaintext  coro, hyper, bare, may  -tT -c(64 W), T = min(W, max(1, N / 2))
#   fib        /fib/25     coro, hyper             the same
#
# wrk gets at most half the CPUs: with W = 16 on 16 cores the client and
# the server share them, which the requests per CPU-second column
# discounts (it is what to compare across W; requests/s shows where the
# machine ran out). The servers are built as http.sh builds them
# (build_http_servers in benches/lib.sh: functions aligned, in
# target/http-bench).
#
# Each run prints requests/s, p50 and p99 latency in µs, the server's CPU
# seconds during the measured run (utime + stime from /proc/PID/stat, all
# threads) and requests per server CPU-second. At the end, per scenario, a
# markdown table of the medians: requests/s, the scaling over the first
# worker count, requests per CPU-second, and coro's share of the floor
# and of hyper per CPU-second.
#
# usage: benches/scaling.sh [RUNS=3] [SECONDS=10]
#   WORKERS="1 2 4 8 16"      the worker counts
#   SERVERS="coro hyper bare" the servers, of coro, hyper, bare and may
#                             (may_minihttp, benches/examples/hello_may.rs);
#                             bare and may run plaintext only
#   SCENARIOS="plaintext fib" a subset of the scenarios above
#   WRK_THREADS=T             wrk threads for every W, instead of the rule
#   CONNS_PER_WORKER=64       connections per server worker
#   ALIGN=0                   default code layout
#
#   benches/scaling.sh 3 10                                 the curve
#   WORKERS="1 2" benches/scaling.sh 1 2                    a quick check
set -euo pipefail

runs="${1:-3}"
seconds="${2:-10}"
workers_list="${WORKERS:-1 2 4 8 16}"
servers="${SERVERS:-coro hyper bare}"
scenarios="${SCENARIOS:-plaintext fib}"
per_worker="${CONNS_PER_WORKER:-64}"
warmup=1
fib_n=25
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
ulimit -n 8192

if ! command -v wrk >/dev/null 2>&1; then
    apt_install wrk
fi

for server in $servers; do
    case "$server" in
    coro | hyper | bare | may) ;;
    *)
        echo "unknown server $server; SERVERS takes coro, hyper, bare and may" >&2
        exit 2
        ;;
    esac
done
# shellcheck disable=SC2086 # one word per server
build_http_servers $servers

cpus="$(nproc)"
machine_header
echo "# WORKERS=\"$workers_list\" SERVERS=\"$servers\" SCENARIOS=\"$scenarios\" ALIGN=${ALIGN:-1}" \
    "benches/scaling.sh $runs $seconds (connections per worker=$per_worker fib=$fib_n, unpinned)"

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# takes_part SERVER SCENARIO: the floor and may_minihttp answer
# plaintext only here.
takes_part() {
    case "$1" in
    coro | hyper) return 0 ;;
    *) [ "$2" = plaintext ] ;;
    esac
}

# wrk_threads W: the wrk threads for W server workers.
wrk_threads() {
    if [ -n "${WRK_THREADS:-}" ]; then
        echo "$WRK_THREADS"
        return
    fi
    local half=$((cpus / 2))
    if [ "$half" -lt 1 ]; then half=1; fi
    if [ "$1" -lt "$half" ]; then echo "$1"; else echo "$half"; fi
}

declare -A values
failed=0
# run SCENARIO W SERVER: one fresh server with W workers, warm-up,
# measured wrk run, stop.
run() {
    local scenario="$1" w="$2" server="$3" path
    case "$scenario" in
    plaintext) path=/plaintext ;;
    fib) path="/fib/$fib_n" ;;
    *)
        echo "unknown scenario $scenario; SCENARIOS takes plaintext and fib" >&2
        exit 2
        ;;
    esac
    local threads conns
    threads="$(wrk_threads "$w")"
    conns=$((per_worker * w))
    if [ "$conns" -lt "$threads" ]; then conns="$threads"; fi

    start_server "$tmp/server.log" "$server" "${server_bin[$server]}" --port 0 --workers "$w"
    local wrk_args=(-t"$threads" -c"$conns" --latency "http://127.0.0.1:$server_port$path")
    wrk -d"${warmup}s" "${wrk_args[@]}" >/dev/null
    local before after out
    before="$(cpu_ticks "$server_pid")"
    out="$(wrk -d"${seconds}s" "${wrk_args[@]}")"
    after="$(cpu_ticks "$server_pid")"
    stop_server

    local ticks=$((after - before)) errors
    local figures=("rps=$(wrk_rps "$out")" "p50_us=$(latency_us 50 "$out")"
        "p99_us=$(latency_us 99 "$out")" "cpu_s=$(cpu_seconds "$ticks")"
        "rps_per_cpu_s=$(per_cpu_second "$(wrk_requests "$out")" "$ticks")")
    errors="$(wrk_errors "$out")"
    echo "$scenario workers=$w $server wrk=-t$threads/-c$conns ${figures[*]}${errors:+ errors=\"$errors\"}"
    if [ -n "$errors" ]; then failed=$((failed + 1)); fi
    local pair
    for pair in "${figures[@]}"; do
        values["$scenario.$w.$server.${pair%%=*}"]+="${pair#*=} "
    done
}

for _ in $(seq "$runs"); do
    for scenario in $scenarios; do
        for w in $workers_list; do
            for server in $servers; do
                if takes_part "$server" "$scenario"; then run "$scenario" "$w" "$server"; fi
            done
        done
    done
done

has() { [[ " $1 " == *" $2 "* ]]; }

first="${workers_list%% *}"
echo
echo "Medians of $runs runs of ${seconds} s, unpinned, $per_worker connections per worker; ×$first is requests/s over the $first-worker run's; req/CPU-s is requests per second of server CPU time."
for scenario in $scenarios; do
    in=""
    for server in $servers; do
        if takes_part "$server" "$scenario"; then in+="$server "; fi
    done
    echo
    case "$scenario" in
    plaintext) echo "plaintext" ;;
    fib) echo "fib($fib_n)" ;;
    esac
    echo
    head="| workers | wrk |" rule="|---|---|"
    for server in $in; do head+=" $server req/s |" rule+="---|"; done
    for server in $in; do head+=" $server ×$first |" rule+="---|"; done
    for server in $in; do head+=" $server req/CPU-s |" rule+="---|"; done
    if has "$in" coro && has "$in" bare; then head+=" coro / floor |" rule+="---|"; fi
    if has "$in" coro && has "$in" hyper; then head+=" coro / hyper |" rule+="---|"; fi
    echo "$head"
    echo "$rule"
    for w in $workers_list; do
        threads="$(wrk_threads "$w")"
        conns=$((per_worker * w))
        if [ "$conns" -lt "$threads" ]; then conns="$threads"; fi
        row="| $w | -t$threads -c$conns |"
        for server in $in; do row+=" $(int "$(m "$scenario.$w.$server.rps")") |"; done
        for server in $in; do
            row+=" $(ratio "$(m "$scenario.$w.$server.rps")" "$(m "$scenario.$first.$server.rps")") |"
        done
        for server in $in; do row+=" $(int "$(m "$scenario.$w.$server.rps_per_cpu_s")") |"; done
        cc="$(m "$scenario.$w.coro.rps_per_cpu_s")"
        if has "$in" coro && has "$in" bare; then
            row+=" $(ratio "$cc" "$(m "$scenario.$w.bare.rps_per_cpu_s")") |"
        fi
        if has "$in" coro && has "$in" hyper; then
            row+=" $(ratio "$cc" "$(m "$scenario.$w.hyper.rps_per_cpu_s")") |"
        fi
        echo "$row"
    done
done
echo
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs (other load skews the figures)"
if [ "$failed" -gt 0 ]; then
    echo
    echo "# WARNING: $failed runs saw socket errors or non-2xx responses (see errors= above)"
fi
