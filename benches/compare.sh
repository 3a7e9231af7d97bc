#!/usr/bin/env bash
# Side-by-side figures for the runtime core: coro against Go (1.19, from
# Debian's golang-go, installed with apt-get when missing) and tokio, each
# program a fresh process, run K times alternating, pinned to CPUs 0,1 when
# `taskset` exists. Prints every line, then the median of each figure and
# the ratios.
#
#   spawn:    N=500000 empty coroutines / goroutines / tasks spawned from one
#             and joined, WORKERS=2       (total_s, peak_rss_kib; lower wins)
#   pingpong: a message there and back between two coroutines over two
#             channels, 1,000,000 times   (ns_per_rt; lower wins)
#   parked:   100,000 coroutines blocked on one channel at once
#                                         (bytes_per_task; lower wins)
#
# usage: benches/compare.sh [K=5]
set -euo pipefail

k="${1:-5}"
workers=2
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
source benches/lib.sh

if ! command -v go >/dev/null 2>&1; then
    apt_install golang-go
fi

cargo build --release --quiet -p examples --example spawn --example pingpong --example parked
cargo build --release --quiet -p benches --example spawn_tokio --example pingpong_tokio
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples"
gobin="$(mktemp -d)"
trap 'rm -rf "$gobin"' EXIT
for prog in spawn pingpong parked; do
    (cd benches/go && GOFLAGS=-mod=mod GO111MODULE=off go build -o "$gobin/$prog" "$prog.go" rss.go)
done

pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc --all)" -ge 2 ]; then
    pin=(taskset -c 0,1)
fi
echo "# k=$k workers=$workers pin=${pin[*]:-none} $(uname -m) $(nproc) cpus $(go version | cut -d' ' -f3) $(date -u +%F)"

declare -A values
# run KEY FIELD... -- COMMAND...: runs COMMAND once, prints its line, and
# records each FIELD under KEY.
run() {
    local key="$1"
    shift
    local fields=()
    while [ "$1" != "--" ]; do
        fields+=("$1")
        shift
    done
    shift
    local line
    line="$("${pin[@]}" "$@")"
    echo "$line"
    for f in "${fields[@]}"; do
        values["$key.$f"]+="$(field "$f" "$line") "
    done
}

for _ in $(seq "$k"); do
    run spawn.coro total_s peak_rss_kib -- "$bin/spawn" 500000 "$workers"
    run spawn.go total_s peak_rss_kib -- "$gobin/spawn" 500000 "$workers"
    run spawn.tokio total_s peak_rss_kib -- "$bin/spawn_tokio" 500000 "$workers"
    run pingpong.coro ns_per_rt -- "$bin/pingpong" 1000000 "$workers" 0
    run pingpong.go ns_per_rt -- "$gobin/pingpong" 1000000 "$workers" 0
    run pingpong.tokio ns_per_rt -- "$bin/pingpong_tokio" 1000000 "$workers"
    run parked.coro bytes_per_task -- "$bin/parked" 100000 "$workers"
    run parked.go bytes_per_task -- "$gobin/parked" 100000 "$workers"
done

m() {
    tr ' ' '\n' <<<"${values[$1]}" | sed '/^$/d' | median
}

echo
echo "| figure | coro | Go | tokio | Go/coro | tokio/coro |"
echo "|---|---|---|---|---|---|"
for f in total_s peak_rss_kib; do
    c="$(m "spawn.coro.$f")" g="$(m "spawn.go.$f")" t="$(m "spawn.tokio.$f")"
    echo "| spawn 500k, $f | $c | $g | $t | $(ratio "$g" "$c") | $(ratio "$t" "$c") |"
done
c="$(m pingpong.coro.ns_per_rt)" g="$(m pingpong.go.ns_per_rt)" t="$(m pingpong.tokio.ns_per_rt)"
echo "| ping-pong, ns per round trip | $c | $g | $t | $(ratio "$g" "$c") | $(ratio "$t" "$c") |"
c="$(m parked.coro.bytes_per_task)" g="$(m parked.go.bytes_per_task)"
echo "| 100k parked, bytes each | $c | $g | - | $(ratio "$g" "$c") | - |"
