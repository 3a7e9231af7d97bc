#!/usr/bin/env bash
# HTTP load: the coro hello server (examples/examples/hello.rs) against the
# hyper 1.x one (benches/examples/hello_hyper.rs), the may_minihttp one
# (benches/examples/hello_may.rs) and the floor servers, under wrk
# (installed with apt-get when missing). Every run starts a fresh server
# on an ephemeral loopback port, waits for its "listening on" line, loads
# it with a 1 s wrk warm-up (not counted) and then SECONDS of wrk, and
# stops it; runs alternate the servers scenario by scenario, RUNS times
# over.
#
#   scenario      path        workers  pinning (server/wrk)  wrk                    servers
#   plaintext     /plaintext  1        CPU 0 / CPU 1         -t1 -c64               all
#   pipelined     /plaintext  1        CPU 0 / CPU 1         -t1 -c64, 16 a write   all
#   json          /json       1        CPU 0 / CPU 1         -t1 -c64               coro, hyper
#   fib           /fib/25     1        CPU 0 / CPU 1         -t1 -c64               coro, hyper
#   fib-2w        /fib/25     2        none                  -t2 -c64               coro, hyper
#   plaintext-2w  /plaintext  2        none                  -t1 -c128              all
#   mixed-2w      /plaintext  2        none                  -t1 -c62, and at once  coro, hyper, may
#                 + /fib/32                                  -t1 -c1 on /fib/32
#
# plaintext-2w is loaded as issue 10 measured it (wrk -t1 -c128): one wrk
# thread leaves the second CPU to the server's two workers. mixed-2w is
# issue 10's mixed load: one connection loops on GET /fib/32 (about 10 ms
# of CPU each) while 62 load GET /plaintext, two wrk processes started
# together for the same SECONDS; it shows whether plaintext requests wait
# behind the long ones.
#
# Each run prints requests/s, p50, p90 and p99 latency in µs ('-' when
# pipelined: wrk then times whole batches), the server's CPU seconds
# during the measured wrk run(s) (utime + stime from /proc/PID/stat, all
# threads) and requests per server CPU-second (in mixed-2w: plaintext
# requests per CPU-second of all the server's work, fib included; fib_rps
# and fib_p50_us are the /fib/32 loop's), with more than one worker the
# CPU ticks each of the server's threads used (threads=A/B/..., busiest
# first: how evenly the load was spread), plus any non-2xx responses or
# socket errors wrk saw. At the end, markdown tables of the medians:
# coro against hyper (requests/s and requests per CPU-second, ratios
# higher wins) and the fib scaling from 1 to 2 workers; may_minihttp
# beside coro; every server against the floor per CPU-second; and the
# mixed load, coro against hyper (and may), with ratios.
#
# usage: benches/http.sh [RUNS=3] [SECONDS=10]
#   SERVERS="coro hyper"  the servers to run, of coro, hyper, may
#                         (may_minihttp), bare, bare-spread and bare-uring
#                         (the floor servers: benches/examples/hello_bare.rs
#                         on epoll, bare-spread the same with a listener
#                         per thread, hello_bare_uring.rs on io_uring);
#                         each runs the scenarios the table above gives it
#   SCENARIOS="..."       a subset of the scenarios above, in that order
#   MIXED_FIB=32          the n of mixed-2w's long request (fib(32) takes
#                         4 to 10 ms of CPU on the machines seen so far)
#   ALIGN=0               default code layout (see build_http_servers in
#                         benches/lib.sh)
#
#   SERVERS="coro hyper bare may" benches/http.sh              everything
#   SERVERS="coro hyper bare may" SCENARIOS="plaintext plaintext-2w" benches/http.sh
#   SERVERS="coro hyper may" SCENARIOS=mixed-2w benches/http.sh 5 10
set -euo pipefail

runs="${1:-3}"
seconds="${2:-10}"
servers="${SERVERS:-coro hyper}"
scenarios="${SCENARIOS:-plaintext pipelined json fib fib-2w plaintext-2w mixed-2w}"
warmup=1
depth=16
fib_n=25
# The long request of mixed-2w, and how many connections load plaintext
# beside the one that loops on it.
mixed_fib_n="${MIXED_FIB:-32}"
mixed_conns=62
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
ulimit -n 4096

if ! command -v wrk >/dev/null 2>&1; then
    apt_install wrk
fi

# shellcheck disable=SC2086 # one word per server
build_http_servers $servers

pinning 0 1
machine_header
echo "# SERVERS=\"$servers\" ALIGN=${ALIGN:-1} benches/http.sh $runs $seconds" \
    "(pipeline=$depth fib=$fib_n mixed: fib=$mixed_fib_n + $mixed_conns plaintext" \
    "pin=${pin_server[*]:-none}/${pin_client[*]:-none})"

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# takes_part SERVER SCENARIO: whether SERVER runs SCENARIO. The floor
# servers answer plaintext only; may_minihttp runs the plaintext
# scenarios and the mixed load.
takes_part() {
    case "$1" in
    coro | hyper) return 0 ;;
    may)
        case "$2" in
        plaintext | pipelined | plaintext-2w | mixed-2w) return 0 ;;
        esac
        ;;
    bare*)
        case "$2" in
        plaintext | pipelined | plaintext-2w) return 0 ;;
        esac
        ;;
    esac
    return 1
}

declare -A values
failed=0

# run SCENARIO SERVER: one fresh server, warm-up, measured wrk run, stop.
run() {
    local scenario="$1" server="$2"
    local path=/plaintext workers=1 threads=1 conns=64 pinned=1 script=() mixed=0
    case "$scenario" in
    plaintext) ;;
    pipelined) script=(-s benches/http/pipeline.lua) ;;
    json) path=/json ;;
    fib) path="/fib/$fib_n" ;;
    fib-2w) path="/fib/$fib_n" workers=2 threads=2 pinned=0 ;;
    plaintext-2w) workers=2 conns=128 pinned=0 ;;
    mixed-2w) workers=2 conns="$mixed_conns" pinned=0 mixed=1 ;;
    *)
        echo "unknown scenario $scenario" >&2
        exit 2
        ;;
    esac
    start_http_server "$tmp/server.log" "$server" "$workers" "$pinned"
    local pc=("${client_pin[@]}")

    local base="http://127.0.0.1:$server_port"
    local wrk_args=(-t"$threads" -c"$conns" --latency "${script[@]}" "$base$path")
    if [ "${#script[@]}" -gt 0 ]; then wrk_args+=(-- "$depth"); fi
    local fib_args=(-t1 -c1 --latency "$base/fib/$mixed_fib_n") fib_pid=""
    if [ "$mixed" = 1 ]; then
        wrk -d"${warmup}s" "${fib_args[@]}" >/dev/null &
        fib_pid=$!
    fi
    "${pc[@]}" wrk -d"${warmup}s" "${wrk_args[@]}" >/dev/null
    if [ -n "$fib_pid" ]; then wait "$fib_pid"; fi
    local before after out fib_out="" threads_before threads_after
    threads_before="$(thread_ticks "$server_pid")"
    before="$(cpu_ticks "$server_pid")"
    if [ "$mixed" = 1 ]; then
        wrk -d"${seconds}s" "${fib_args[@]}" >"$tmp/fib.out" &
        fib_pid=$!
    fi
    out="$("${pc[@]}" wrk -d"${seconds}s" "${wrk_args[@]}")"
    if [ "$mixed" = 1 ]; then
        wait "$fib_pid"
        fib_out="$(cat "$tmp/fib.out")"
    fi
    after="$(cpu_ticks "$server_pid")"
    threads_after="$(thread_ticks "$server_pid")"
    stop_server

    local ticks=$((after - before)) split=""
    if [ "$workers" -gt 1 ]; then split=" threads=$(thread_split "$threads_before" "$threads_after")"; fi
    local rps cpu_s per_cpu p50=- p90=- p99=- errors fib=()
    rps="$(wrk_rps "$out")"
    cpu_s="$(cpu_seconds "$ticks")"
    per_cpu="$(per_cpu_second "$(wrk_requests "$out")" "$ticks")"
    if [ "${#script[@]}" -eq 0 ]; then
        p50="$(latency_us 50 "$out")" p90="$(latency_us 90 "$out")" p99="$(latency_us 99 "$out")"
    fi
    errors="$(wrk_errors "$out")"
    if [ "$mixed" = 1 ]; then
        fib=("fib_rps=$(wrk_rps "$fib_out")" "fib_p50_us=$(latency_us 50 "$fib_out")")
        local fib_errors
        fib_errors="$(wrk_errors "$fib_out")"
        errors+="${fib_errors:+${errors:+;}fib: $fib_errors}"
    fi
    local figures=("rps=$rps" "p50_us=$p50" "p90_us=$p90" "p99_us=$p99" "${fib[@]}"
        "cpu_s=$cpu_s" "rps_per_cpu_s=$per_cpu")
    echo "$scenario $server ${figures[*]}$split${errors:+ errors=\"$errors\"}"
    if [ -n "$errors" ]; then failed=$((failed + 1)); fi
    record "$scenario.$server" "${figures[@]}"
}

for _ in $(seq "$runs"); do
    for scenario in $scenarios; do
        for server in $servers; do
            if takes_part "$server" "$scenario"; then run "$scenario" "$server"; fi
        done
    done
done

# lat KEY: the median p50 / p99 under KEY, or "-".
lat() {
    local l
    l="$(int "$(m "$1.p50_us")") / $(int "$(m "$1.p99_us")")"
    if [ "$l" = "- / -" ]; then echo -; else echo "$l"; fi
}
title() {
    case "$1" in
    plaintext) echo "plaintext, 1 worker" ;;
    pipelined) echo "plaintext pipelined x$depth, 1 worker" ;;
    json) echo "json, 1 worker" ;;
    fib) echo "fib($fib_n), 1 worker" ;;
    fib-2w) echo "fib($fib_n), 2 workers, unpinned" ;;
    plaintext-2w) echo "plaintext, 2 workers, unpinned, -c128" ;;
    mixed-2w) echo "mixed, 2 workers, unpinned" ;;
    esac
}
has() { [[ " $1 " == *" $2 "* ]]; }

echo
echo "Medians of $runs runs of ${seconds} s; latency in µs; req/CPU-s is requests per second of server CPU time."
# The scenarios of the coro/hyper table (mixed-2w has its own), and
# those may_minihttp ran of them.
table_scenarios="" may_scenarios=""
for scenario in $scenarios; do
    [ "$scenario" = mixed-2w ] && continue
    table_scenarios+="$scenario "
    if takes_part may "$scenario"; then may_scenarios+="$scenario "; fi
done
if [ -n "$table_scenarios" ] && { has "$servers" coro || has "$servers" hyper; }; then
    echo
    echo "| scenario | coro req/s | hyper req/s | coro/hyper | coro p50 / p99 | hyper p50 / p99 | coro req/CPU-s | hyper req/CPU-s | coro/hyper |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for scenario in $table_scenarios; do
        cr="$(int "$(m "$scenario.coro.rps")")" hr="$(int "$(m "$scenario.hyper.rps")")"
        cc="$(m "$scenario.coro.rps_per_cpu_s")" hc="$(m "$scenario.hyper.rps_per_cpu_s")"
        echo "| $(title "$scenario") | $cr | $hr | $(ratio "$cr" "$hr") |" \
            "$(lat "$scenario.coro") | $(lat "$scenario.hyper") |" \
            "$(int "$cc") | $(int "$hc") | $(ratio "$cc" "$hc") |"
    done
fi
if has "$scenarios" fib && has "$scenarios" fib-2w; then
    echo
    echo "| fib($fib_n) scaling, 2 workers / 1 | coro | hyper |"
    echo "|---|---|---|"
    echo "| requests/s | $(ratio "$(m fib-2w.coro.rps)" "$(m fib.coro.rps)") |" \
        "$(ratio "$(m fib-2w.hyper.rps)" "$(m fib.hyper.rps)") |"
fi
if [ -n "$may_scenarios" ] && has "$servers" may; then
    echo
    echo "may_minihttp (benches/examples/hello_may.rs) beside coro."
    echo
    echo "| scenario | may req/s | coro/may | may p50 / p99 | may req/CPU-s | coro/may |"
    echo "|---|---|---|---|---|---|"
    for scenario in $may_scenarios; do
        mr="$(int "$(m "$scenario.may.rps")")" mc="$(m "$scenario.may.rps_per_cpu_s")"
        echo "| $(title "$scenario") | $mr | $(ratio "$(m "$scenario.coro.rps")" "$mr") |" \
            "$(lat "$scenario.may") | $(int "$mc") |" \
            "$(ratio "$(m "$scenario.coro.rps_per_cpu_s")" "$mc") |"
    done
fi
floors="" others=""
for server in $servers; do
    case "$server" in
    bare*) floors+="$server " ;;
    *) others+="$server " ;;
    esac
done
if [ -n "$floors" ]; then
    echo
    echo "Against the floor, per server CPU-second (bare: hello_bare on epoll, bare-spread: the same with a listener per thread, bare-uring: hello_bare_uring on io_uring; the system calls alone, no HTTP work); floor / hyper is the most any server could beat hyper by here."
    echo
    head="| scenario | floor | floor req/s | floor req/CPU-s |" rule="|---|---|---|---|"
    for server in $others; do head+=" $server / floor |" rule+="---|"; done
    if has "$servers" hyper; then head+=" floor / hyper |" rule+="---|"; fi
    echo "$head"
    echo "$rule"
    for scenario in $scenarios; do
        takes_part bare "$scenario" || continue
        for floor in $floors; do
            fc="$(m "$scenario.$floor.rps_per_cpu_s")"
            row="| $(title "$scenario") | $floor | $(int "$(m "$scenario.$floor.rps")") | $(int "$fc") |"
            for server in $others; do
                row+=" $(ratio "$(m "$scenario.$server.rps_per_cpu_s")" "$fc") |"
            done
            if has "$servers" hyper; then row+=" $(ratio "$fc" "$(m "$scenario.hyper.rps_per_cpu_s")") |"; fi
            echo "$row"
        done
    done
fi
if has "$scenarios" mixed-2w; then
    mixed_servers=""
    for server in $servers; do
        if takes_part "$server" mixed-2w; then mixed_servers+="$server "; fi
    done
    echo
    echo "Mixed load, 2 workers unpinned: wrk -t1 -c$mixed_conns on /plaintext and, at the same time, wrk -t1 -c1 looping on /fib/$mixed_fib_n; plaintext latency in µs; CPU-s is the server's over the ${seconds} s. In the ratio rows, higher wins for requests/s and lower for latency."
    echo
    echo "| server | plaintext req/s | p50 | p90 | p99 | fib($mixed_fib_n) req/s | server CPU-s | plaintext req/CPU-s |"
    echo "|---|---|---|---|---|---|---|---|"
    for server in $mixed_servers; do
        k="mixed-2w.$server"
        echo "| $server | $(int "$(m "$k.rps")") | $(int "$(m "$k.p50_us")") | $(int "$(m "$k.p90_us")") |" \
            "$(int "$(m "$k.p99_us")") | $(m "$k.fib_rps") | $(m "$k.cpu_s") | $(int "$(m "$k.rps_per_cpu_s")") |"
    done
    # vs_hyper SERVER FIGURE: SERVER's median FIGURE over hyper's.
    vs_hyper() { ratio "$(m "mixed-2w.$1.$2")" "$(m "mixed-2w.hyper.$2")"; }
    if has "$mixed_servers" hyper; then
        for server in $mixed_servers; do
            if [ "$server" = hyper ]; then continue; fi
            row="| $server / hyper |"
            for figure in rps p50_us p90_us p99_us fib_rps cpu_s rps_per_cpu_s; do
                row+=" $(vs_hyper "$server" "$figure") |"
            done
            echo "$row"
        done
    fi
fi
echo
echo "# load average $(cut -d' ' -f1-3 /proc/loadavg) after the runs (other load skews the figures)"
if [ "$failed" -gt 0 ]; then
    echo
    echo "# WARNING: $failed runs saw socket errors or non-2xx responses (see errors= above)"
fi
