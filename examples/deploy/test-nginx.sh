#!/usr/bin/env bash
# Runs examples/deploy/nginx.conf locally in front of two `hello`
# processes, and checks that:
#   1. requests through nginx are answered, by both processes;
#   2. after one process is stopped with SIGTERM (it drains and exits 0),
#      every request is still answered, by the other;
#   3. two processes listening on one port with --reuse-port both start,
#      and the port keeps serving after one of them is stopped.
# Installs nginx with apt-get if it is missing. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Requests sent in each round: enough that both upstreams get some (nginx
# spreads them round-robin).
REQUESTS=20

if ! command -v nginx >/dev/null; then
    apt-get install -y -qq nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# PROFILE=dev for a quicker build.
PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" --quiet -p examples --example hello
HELLO=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")/examples/hello

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/tmp" "$work/logs"

# Waits until `curl URL` answers.
wait_for() {
    for _ in $(seq 100); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "no answer from $1" >&2
    return 1
}

"$HELLO" --port 8091 --workers 1 >"$work/a.out" 2>&1 &
a=$!; pids+=("$a")
"$HELLO" --port 8092 --workers 1 >"$work/b.out" 2>&1 &
b=$!; pids+=("$b")
"$NGINX" -p "$work" -c "$PWD/examples/deploy/nginx.conf" 2>"$work/nginx.err" &
pids+=("$!")
wait_for http://127.0.0.1:8091/plaintext
wait_for http://127.0.0.1:8092/plaintext
wait_for http://127.0.0.1:8090/plaintext

# Sends REQUESTS requests through nginx; prints the upstream of each.
round() {
    for _ in $(seq "$REQUESTS"); do
        out=$(curl -fsS -D - http://127.0.0.1:8090/plaintext)
        grep -q 'Hello, World!' <<<"$out" || { echo "bad answer: $out" >&2; exit 1; }
        # The last upstream tried is the one that answered.
        grep -i '^x-upstream:' <<<"$out" | tr -d '\r' | awk '{print $NF}'
    done
}

seen=$(round | sort -u)
echo "round 1 upstreams: $(echo $seen)"
grep -q 127.0.0.1:8091 <<<"$seen" && grep -q 127.0.0.1:8092 <<<"$seen" || {
    echo "FAIL: not both upstreams served" >&2; exit 1; }

kill -TERM "$a"
status=0; wait "$a" || status=$?
[ "$status" -eq 0 ] || { echo "FAIL: the stopped process exited $status" >&2; exit 1; }

seen=$(round | sort -u)
echo "round 2 upstreams: $(echo $seen)"
[ "$seen" = "127.0.0.1:8092" ] || { echo "FAIL: expected only 8092 after the stop" >&2; exit 1; }
# 3. SO_REUSEPORT: two processes, one port.
"$HELLO" --port 8093 --workers 1 --reuse-port >"$work/c.out" 2>&1 &
c=$!; pids+=("$c")
"$HELLO" --port 8093 --workers 1 --reuse-port >"$work/d.out" 2>&1 &
d=$!; pids+=("$d")
wait_for http://127.0.0.1:8093/plaintext
for _ in $(seq 100); do grep -q 'listening on' "$work/d.out" && break; sleep 0.1; done
grep -q 'listening on' "$work/c.out" && grep -q 'listening on' "$work/d.out" || {
    echo "FAIL: both --reuse-port processes should listen" >&2; cat "$work"/[cd].out >&2; exit 1; }
kill -TERM "$c"
status=0; wait "$c" || status=$?
[ "$status" -eq 0 ] || { echo "FAIL: the stopped process exited $status" >&2; exit 1; }
for _ in $(seq "$REQUESTS"); do
    curl -fsS http://127.0.0.1:8093/plaintext | grep -q 'Hello, World!' || {
        echo "FAIL: port 8093 stopped serving" >&2; exit 1; }
done
echo "reuse-port: both listened; the port serves after one stopped"
echo "nginx deploy test: ok"
