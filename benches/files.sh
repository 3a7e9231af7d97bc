#!/usr/bin/env bash
# Static files: the coro file server (examples/examples/files.rs, a
# coro_http::fs::ServeDir) against nginx (the Debian package, installed
# with apt-get when missing) and Go's net/http FileServer
# (benches/files/fileserver.go, built here; golang-go is installed with
# apt-get when missing, and Go is left out if that fails). All three
# serve the same directory: a 100 MB file of random bytes and a 4 KB one.
#
# Each run starts every server in turn, fresh, on one CPU (CPU 0, one
# worker: coro --workers 1, nginx worker_processes 1 with master_process
# off so that the one process does all the work, Go GOMAXPROCS=1), with
# the client on CPU 1, and measures:
#
#   download  one GET of the 100 MB file with curl (to /dev/null): MB/s
#             (10^6 bytes a second, curl's speed_download) and the
#             server's CPU-seconds for it (from /proc/PID/stat: a few
#             clock ticks, so only a coarse figure);
#   small     REQUESTS (20,000) GETs of the 4 KB file over 64 keep-alive
#             connections, wrk -t1 -c64 with benches/files/count.lua
#             stopping it after that many responses (after a warm-up of
#             2,000 not counted): wall requests/s (REQUESTS over the time
#             from wrk's start, connections included, to the last
#             response, which count.lua marks) and requests per server
#             CPU-second (utime + stime deltas from /proc/PID/stat, all
#             threads, over the same run).
#
# The servers alternate run by run, RUNS times over; the tables at the end
# are the medians, with each contender's ratio to nginx from the same
# runs (higher is better for coro). Every server's answer is checked
# first: the 4 KB file's bytes and the 100 MB file's length.
#
# usage: benches/files.sh [RUNS=5]
#   SERVERS="coro nginx go"   the contenders (any of these three)
#   REQUESTS=20000            the small-file requests per run
set -euo pipefail

runs="${1:-5}"
servers="${SERVERS:-coro nginx go}"
requests="${REQUESTS:-20000}"
warmup_requests=2000
conns=64
big_mb=100
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source benches/lib.sh
ulimit -n 4096

for tool in wrk curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then apt_install "$tool"; fi
done
has() { [[ " $1 " == *" $2 "* ]]; }

tmp="$(mktemp -d)"
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

declare -A server_cmd
if has "$servers" coro; then
    cargo build --release --quiet -p examples --example files
    server_cmd[coro]="${CARGO_TARGET_DIR:-$(pwd)/target}/release/examples/files"
fi
if has "$servers" nginx; then
    if [ ! -x /usr/sbin/nginx ] && ! command -v nginx >/dev/null 2>&1; then apt_install nginx; fi
    server_cmd[nginx]="$(command -v nginx || echo /usr/sbin/nginx)"
fi
if has "$servers" go; then
    if ! command -v go >/dev/null 2>&1; then
        apt_install golang-go || true
    fi
    if command -v go >/dev/null 2>&1 &&
        GOCACHE="$tmp/go-cache" go build -o "$tmp/fileserver" benches/files/fileserver.go; then
        server_cmd[go]="$tmp/fileserver"
    else
        echo "# Go: not available (apt-get install golang-go failed, or the build did); left out" >&2
        servers="${servers//go/}"
    fi
fi

www="$tmp/www"
mkdir -p "$www"
head -c "$((big_mb * 1000 * 1000))" /dev/urandom >"$www/big.bin"
head -c 4096 /dev/urandom >"$www/small.bin"
big_len="$(stat -c %s "$www/big.bin")"

pinning 0 1
machine_header
echo "# SERVERS=\"$servers\" REQUESTS=$requests benches/files.sh $runs" \
    "(download ${big_mb} MB with curl; small 4 KB, wrk -t1 -c$conns;" \
    "pin=${pin_server[*]:-none}/${pin_client[*]:-none}; $("${server_cmd[nginx]:-nginx}" -v 2>&1 | head -n 1 || true);" \
    "$(go version 2>/dev/null || echo 'no go'))"

# free_port: a port nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start SERVER: a fresh SERVER on CPU 0; sets server_pid and server_port.
start() {
    case "$1" in
    coro)
        start_server "$tmp/server.log" coro \
            "${pin_server[@]}" "${server_cmd[coro]}" --root "$www" --port 0 --workers 1
        ;;
    go)
        GOMAXPROCS=1 start_server "$tmp/server.log" go \
            "${pin_server[@]}" "${server_cmd[go]}" -root "$www" -port 0
        ;;
    nginx)
        server_port="$(free_port)"
        mkdir -p "$tmp/nginx"
        cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$server_port;
        root $www;
    }
}
CONF
        "${pin_server[@]}" "${server_cmd[nginx]}" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
            >"$tmp/server.log" 2>&1 &
        server_pid=$!
        local waited=0
        until curl -sf -o /dev/null "http://127.0.0.1:$server_port/small.bin"; do
            if ! kill -0 "$server_pid" 2>/dev/null || [ "$waited" -ge 100 ]; then
                echo "# nginx did not start:" >&2
                cat "$tmp/server.log" "$tmp/nginx/error.log" >&2 2>/dev/null || true
                exit 1
            fi
            sleep 0.05
            waited=$((waited + 1))
        done
        ;;
    esac
}

declare -A values

# check SERVER: fails the script unless SERVER (running) sends the small
# file's bytes and the big file's length.
check() {
    local base="http://127.0.0.1:$server_port"
    if ! curl -sf "$base/small.bin" | cmp -s - "$www/small.bin"; then
        echo "# $1 sent the wrong bytes for small.bin" >&2
        exit 1
    fi
    local size
    size="$(curl -sf -o /dev/null -w '%{size_download}' "$base/big.bin")"
    if [ "$size" != "$big_len" ]; then
        echo "# $1 sent $size bytes of big.bin, not $big_len" >&2
        exit 1
    fi
}

# load BASE N: N GETs of BASE/small.bin with wrk -t1 -c$conns; returns
# once the Nth response is in (its time in $tmp/end, see count.lua), after
# wrk's report, which it prints.
load() {
    rm -f "$tmp/end"
    REQUESTS="$2" END_FILE="$tmp/end" "${pin_client[@]}" \
        wrk -t1 -c"$conns" -d120s -s benches/files/count.lua "$1/small.bin" >"$tmp/wrk.out" &
    local wrk_pid=$!
    until [ -s "$tmp/end" ]; do
        if ! kill -0 "$wrk_pid" 2>/dev/null; then
            echo "# wrk ended before $2 responses:" >&2
            cat "$tmp/wrk.out" >&2
            exit 1
        fi
        sleep 0.01
    done
    kill -INT "$wrk_pid"
    wait "$wrk_pid" || true
    cat "$tmp/wrk.out"
}

failed=0
# run SERVER: one fresh server: the download, then the small-file load.
run() {
    local server="$1"
    start "$server"
    local base="http://127.0.0.1:$server_port"
    check "$server"

    local before after out
    before="$(cpu_ticks "$server_pid")"
    out="$("${pin_client[@]}" curl -s -o /dev/null -w '%{speed_download} %{size_download} %{http_code}' "$base/big.bin")"
    after="$(cpu_ticks "$server_pid")"
    local speed size code
    read -r speed size code <<<"$out"
    local mb_s dl_cpu
    mb_s="$(awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1e6 }')"
    dl_cpu="$(cpu_seconds $((after - before)))"
    if [ "$code" != 200 ] || [ "$size" != "$big_len" ]; then
        echo "# $server: download answered $code with $size bytes" >&2
        failed=$((failed + 1))
    fi

    load "$base" "$warmup_requests" >/dev/null
    local start_ns
    before="$(cpu_ticks "$server_pid")"
    start_ns="$(date +%s%N)"
    out="$(load "$base" "$requests")"
    after="$(cpu_ticks "$server_pid")"
    stop_server

    local ticks=$((after - before)) rps per_cpu errors done_requests
    rps="$(awk -v n="$requests" -v a="$start_ns" -v b="$(cat "$tmp/end")" \
        'BEGIN { printf "%.0f", n * 1e9 / (b - a) }')"
    done_requests="$(wrk_requests "$out")"
    per_cpu="$(per_cpu_second "$requests" "$ticks")"
    errors="$(wrk_errors "$out")"
    local figures=("download_mb_s=$mb_s" "download_cpu_s=$dl_cpu"
        "small_rps=$(int "$rps")" "small_requests=$done_requests"
        "small_cpu_s=$(cpu_seconds "$ticks")" "small_rps_per_cpu_s=$per_cpu")
    echo "$server ${figures[*]}${errors:+ errors=\"$errors\"}"
    if [ -n "$errors" ]; then failed=$((failed + 1)); fi
    record "$server" "${figures[@]}"
}

for _ in $(seq "$runs"); do
    for server in $servers; do run "$server"; done
done

echo
echo "Medians of $runs runs; each server on CPU 0 with one worker, the client on CPU 1; x/nginx is the ratio of the medians (higher is better)."
echo
echo "| server | 100 MB download, MB/s | x/nginx | its server CPU-s | 4 KB, req/s | x/nginx | 4 KB, req per server CPU-s | x/nginx |"
echo "|---|---|---|---|---|---|---|---|"
for server in $servers; do
    echo "| $server | $(int "$(m "$server.download_mb_s")") |" \
        "$(ratio "$(m "$server.download_mb_s")" "$(m nginx.download_mb_s)") |" \
        "$(m "$server.download_cpu_s") |" \
        "$(int "$(m "$server.small_rps")") | $(ratio "$(m "$server.small_rps")" "$(m nginx.small_rps)") |" \
        "$(int "$(m "$server.small_rps_per_cpu_s")") |" \
        "$(ratio "$(m "$server.small_rps_per_cpu_s")" "$(m nginx.small_rps_per_cpu_s)") |"
done
if [ "$failed" -gt 0 ]; then
    echo "# $failed runs saw errors (see above)" >&2
    exit 1
fi
