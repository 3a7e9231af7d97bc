#!/usr/bin/env bash
# HTTPS load: the coro hello server over TLS (examples/examples/hello.rs
# --self-signed, coro-http's `tls` feature) against hyper over
# tokio-rustls (benches/examples/hello_hyper_tls.rs --self-signed), under
# wrk (installed with apt-get when missing). Both use rustls 0.23 with
# ring, a self-signed ECDSA P-256 certificate made at start (rcgen), the
# rustls defaults (TLS 1.3 preferred; wrk's OpenSSL then picks
# TLS_AES_256_GCM_SHA384) and ALPN http/1.1.
#
#   scenario   path        workers  pinning (server/wrk)  wrk
#   keepalive  /plaintext  1        CPU 0 / CPU 1         -t1 -c64
#   connect    /plaintext  1        CPU 0 / CPU 1         -t1 -c64 -H 'Connection: close'
#
# keepalive is requests over established sessions; connect is one full
# handshake per request (each response closes its connection, wrk
# reconnects), so its requests/s is new TLS connections per second.
#
# Every run starts a fresh server on an ephemeral loopback port, waits for
# its "listening on" line, loads it with a 1 s wrk warm-up (not counted)
# and then SECONDS of wrk, and stops it; runs alternate the servers
# scenario by scenario, RUNS times over. Each run prints requests/s, p50
# and p99 latency in µs, the server's CPU seconds during the measured run
# (utime + stime from /proc/PID/stat, all threads) and requests per server
# CPU-second, plus any non-2xx responses or socket errors wrk saw. At the
# end, a markdown table of the medians, coro against hyper, ratios higher
# wins.
#
# usage: benches/tls.sh [RUNS=3] [SECONDS=5]
#   SCENARIOS="keepalive connect"  a subset, in that order
#   ALIGN=0                        default code layout (see
#                                  build_http_servers in benches/lib.sh)
set -euo pipefail

runs="${1:-3}"
seconds="${2:-5}"
scenarios="${SCENARIOS:-keepalive connect}"
servers="coro hyper"
warmup=1
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
ulimit -n 4096

if ! command -v wrk >/dev/null 2>&1; then
    apt_install wrk
fi

build_http_servers coro hyper-tls
server_bin[hyper]="${server_bin[hyper-tls]}"

pinning 0 1
machine_header
echo "# ALIGN=${ALIGN:-1} SCENARIOS=\"$scenarios\" benches/tls.sh $runs $seconds" \
    "(pin=${pin_server[*]:-none}/${pin_client[*]:-none})"

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

declare -A values
failed=0

# run SCENARIO SERVER: one fresh server, warm-up, measured wrk run, stop.
run() {
    local scenario="$1" server="$2" headers=()
    case "$scenario" in
    keepalive) ;;
    connect) headers=(-H "Connection: close") ;;
    *)
        echo "unknown scenario $scenario" >&2
        exit 2
        ;;
    esac
    start_server "$tmp/server.log" "$server" \
        "${pin_server[@]}" "${server_bin[$server]}" --port 0 --workers 1 --self-signed
    local wrk_args=(-t1 -c64 --latency "${headers[@]}" "https://127.0.0.1:$server_port/plaintext")
    "${pin_client[@]}" wrk -d"${warmup}s" "${wrk_args[@]}" >/dev/null
    local before after out
    before="$(cpu_ticks "$server_pid")"
    out="$("${pin_client[@]}" wrk -d"${seconds}s" "${wrk_args[@]}")"
    after="$(cpu_ticks "$server_pid")"
    stop_server

    local ticks=$((after - before)) errors
    errors="$(wrk_errors "$out")"
    local figures=("rps=$(wrk_rps "$out")" "p50_us=$(latency_us 50 "$out")"
        "p99_us=$(latency_us 99 "$out")" "cpu_s=$(cpu_seconds "$ticks")"
        "rps_per_cpu_s=$(per_cpu_second "$(wrk_requests "$out")" "$ticks")")
    echo "$scenario $server ${figures[*]}${errors:+ errors=\"$errors\"}"
    if [ -n "$errors" ]; then failed=$((failed + 1)); fi
    record "$scenario.$server" "${figures[@]}"
}

for _ in $(seq "$runs"); do
    for scenario in $scenarios; do
        for server in $servers; do
            run "$scenario" "$server"
        done
    done
done

title() {
    case "$1" in
    keepalive) echo "TLS keep-alive, 1 worker" ;;
    connect) echo "new TLS connection per request, 1 worker" ;;
    esac
}

echo
echo "Medians of $runs runs of ${seconds} s; latency in µs; req/CPU-s is requests per second of server CPU time."
echo
echo "| scenario | coro req/s | hyper req/s | coro/hyper | coro p50 / p99 | hyper p50 / p99 | coro req/CPU-s | hyper req/CPU-s | coro/hyper |"
echo "|---|---|---|---|---|---|---|---|---|"
for scenario in $scenarios; do
    cr="$(int "$(m "$scenario.coro.rps")")" hr="$(int "$(m "$scenario.hyper.rps")")"
    cc="$(m "$scenario.coro.rps_per_cpu_s")" hc="$(m "$scenario.hyper.rps_per_cpu_s")"
    echo "| $(title "$scenario") | $cr | $hr | $(ratio "$cr" "$hr") |" \
        "$(int "$(m "$scenario.coro.p50_us")") / $(int "$(m "$scenario.coro.p99_us")") |" \
        "$(int "$(m "$scenario.hyper.p50_us")") / $(int "$(m "$scenario.hyper.p99_us")") |" \
        "$(int "$cc") | $(int "$hc") | $(ratio "$cc" "$hc") |"
done
if [ "$failed" -gt 0 ]; then
    echo
    echo "$failed runs saw errors (above)." >&2
    exit 1
fi
