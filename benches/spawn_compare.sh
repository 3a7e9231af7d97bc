#!/usr/bin/env bash
# Spawn N empty coroutines (examples/examples/spawn.rs) against N empty tokio
# tasks (benches/examples/spawn_tokio.rs), each run K times, alternating,
# each run a fresh process, pinned to CPUs 0,1 when `taskset` exists.
# Prints every line, then the median total_s and peak_rss_kib of each and
# the ratios tokio/coro.
#
# usage: benches/spawn_compare.sh [N=500000] [WORKERS=2] [K=5]
set -euo pipefail

n="${1:-500000}"
workers="${2:-2}"
k="${3:-5}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release --quiet -p examples --example spawn
cargo build --release --quiet -p benches --example spawn_tokio
bin="${CARGO_TARGET_DIR:-target}/release/examples"

pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc --all)" -ge 2 ]; then
    pin=(taskset -c 0,1)
fi
echo "# n=$n workers=$workers k=$k pin=${pin[*]:-none} $(uname -m) $(nproc) cpus"

# field NAME LINE: the value of NAME=... in LINE.
field() {
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

# median: the median of the numbers on stdin, one a line.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

coro_total=() coro_rss=() tokio_total=() tokio_rss=()
for _ in $(seq "$k"); do
    line="$("${pin[@]}" "$bin/spawn" "$n" "$workers")"
    echo "$line"
    coro_total+=("$(field total_s "$line")")
    coro_rss+=("$(field peak_rss_kib "$line")")
    line="$("${pin[@]}" "$bin/spawn_tokio" "$n" "$workers")"
    echo "$line"
    tokio_total+=("$(field total_s "$line")")
    tokio_rss+=("$(field peak_rss_kib "$line")")
done

ct="$(printf '%s\n' "${coro_total[@]}" | median)"
cr="$(printf '%s\n' "${coro_rss[@]}" | median)"
tt="$(printf '%s\n' "${tokio_total[@]}" | median)"
tr_="$(printf '%s\n' "${tokio_rss[@]}" | median)"
echo "median coro  total_s=$ct peak_rss_kib=$cr"
echo "median tokio total_s=$tt peak_rss_kib=$tr_"
awk -v ct="$ct" -v tt="$tt" -v cr="$cr" -v tr="$tr_" 'BEGIN {
    printf "ratio tokio/coro total_s=%.2f peak_rss_kib=%.2f\n", tt / ct, tr / cr }'
