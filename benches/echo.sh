#!/usr/bin/env bash
# TCP echo throughput: the coro echo server (examples/examples/echo.rs)
# against the tokio one (benches/examples/echo_tokio.rs), each a fresh
# process with one worker pinned to CPU 0, loaded by echo_client (one OS
# thread, blocking std::net sockets) pinned to CPU 1 for 3 s, with 64 and
# 1000 connections of 64-byte messages; K runs alternating coro/tokio.
# Loopback only (127.0.0.1), on ports the servers pick. Prints every
# line, then the median messages a second and the ratio coro/tokio
# (higher wins), and the median server CPU time per message (all its
# threads, from /proc/PID/task/*/schedstat; lower wins), which holds up
# far better than throughput when other work shares the machine.
#
# usage: benches/echo.sh [K=3]
set -euo pipefail

k="${1:-3}"
seconds=3
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
source benches/lib.sh
ulimit -n 4096

cargo build --release --quiet -p examples --example echo
cargo build --release --quiet -p benches --example echo_tokio --example echo_client
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples"

pinning 0 1
echo "# k=$k seconds=$seconds workers=1 pin=${pin_server[*]:-none}/${pin_client[*]:-none} $(uname -m) $(nproc) cpus $(date -u +%F)"

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT

declare -A values cpu
# run NAME CONNS SERVER: starts SERVER on a free port, waits for its
# "listening" line, runs the client with CONNS connections, stops SERVER.
run() {
    local name="$1" conns="$2" server="$3"
    start_server "$tmp/server.log" "$name" "${pin_server[@]}" "$server" --port 0 --workers 1
    local line
    line="$("${pin_client[@]}" "$bin/echo_client" --port "$server_port" --conns "$conns" \
        --threads 1 --seconds "$seconds" --size 64)"
    # Nanoseconds on CPU, summed over the server's threads, before it exits.
    local cpu_ns
    cpu_ns="$(cat /proc/"$server_pid"/task/*/schedstat | awk '{ s += $1 } END { print s }')"
    stop_server
    local rate per_msg
    rate="$(field msgs_per_s "$line")"
    per_msg="$(awk -v c="$cpu_ns" -v r="$rate" -v s="$seconds" 'BEGIN { printf "%.0f", c / (r * s) }')"
    echo "$name $line server_cpu_ns_per_msg=$per_msg"
    values["$name.$conns"]+="$rate "
    cpu["$name.$conns"]+="$per_msg "
}

for _ in $(seq "$k"); do
    for conns in 64 1000; do
        run coro "$conns" "$bin/echo"
        run tokio "$conns" "$bin/echo_tokio"
    done
done

m() {
    tr ' ' '\n' <<<"${values[$1]}" | sed '/^$/d' | median
}

# mc NAME: the median server CPU time per message of NAME.
mc() {
    tr ' ' '\n' <<<"${cpu[$1]}" | sed '/^$/d' | median
}

echo
echo "| connections | coro msgs/s | tokio msgs/s | coro/tokio |"
echo "|---|---|---|---|"
for conns in 64 1000; do
    c="$(m "coro.$conns")" t="$(m "tokio.$conns")"
    echo "| $conns | $c | $t | $(ratio "$c" "$t") |"
done

echo
echo "| connections | coro server CPU ns/msg | tokio server CPU ns/msg | coro/tokio |"
echo "|---|---|---|---|"
for conns in 64 1000; do
    c="$(mc "coro.$conns")" t="$(mc "tokio.$conns")"
    echo "| $conns | $c | $t | $(ratio "$c" "$t") |"
done
