#!/usr/bin/env bash
# The blocking-ping figure of issue 11: pings' p50/p99 against a coro-http
# server (2 workers) with no blocking handler ("none"), with one handler
# sleeping 1 s per request through coro::spawn_blocking ("pool"), and with
# it sleeping on the worker ("blocking"). Runs the example RUNS times (as
# fresh processes) and prints the medians.
#
#   bash benches/blocking.sh [RUNS=5] [SECS=3]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh

runs=${1:-5}
secs=${2:-3}
cargo build --release -q -p benches --example blocking_ping
bin=target/release/examples/blocking_ping

out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 1; i <= runs; i++)); do
    "$bin" --workers 2 --secs "$secs" --pingers 8 | tee -a "$out" >&2
done

printf '%-9s %10s %10s %10s\n' mode p50_us p99_us max_us
declare -A p99s
for mode in none pool blocking; do
    lines=$(grep "^mode=$mode " "$out")
    p50=$(while read -r l; do field p50_us "$l"; done <<<"$lines" | median)
    p99=$(while read -r l; do field p99_us "$l"; done <<<"$lines" | median)
    max=$(while read -r l; do field max_us "$l"; done <<<"$lines" | median)
    p99s[$mode]=$p99
    printf '%-9s %10s %10s %10s\n' "$mode" "$p50" "$p99" "$max"
done
# The target: with spawn_blocking, the pings' p99 within 2x of no blocking.
echo "p99 pool/none: $(ratio "${p99s[pool]}" "${p99s[none]}") (target <= 2)"
