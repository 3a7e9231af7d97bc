# Helpers the benchmark scripts (compare.sh, echo.sh, http.sh) share.
# Sourced, not run: `source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"`.

# apt_install PACKAGE: installs a Debian package, as root or with sudo,
# updating the package lists only when the first try fails.
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "# installing $1 with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -qq "$1" >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -qq >/dev/null
        "${sudo[@]}" apt-get install -y -qq "$1" >/dev/null
    fi
}

# pinning CPUS_SERVER CPUS_CLIENT: sets pin_server and pin_client to
# `taskset` commands when taskset exists and the machine has 2+ CPUs,
# else to nothing.
pinning() {
    pin_server=() pin_client=()
    if command -v taskset >/dev/null 2>&1 && [ "$(nproc --all)" -ge 2 ]; then
        pin_server=(taskset -c "$1") pin_client=(taskset -c "$2")
    fi
}

# field NAME LINE: the value of NAME=... in LINE.
field() {
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

# median: the median of the numbers on stdin, one a line.
median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B to two places; "-" when either is "-" or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'
}

server_pid=""
server_port=""

# start_server LOG NAME COMMAND...: runs COMMAND in the background with its
# output in LOG, and waits (5 s at most) for its "listening on
# 127.0.0.1:PORT" line. Sets server_pid and server_port; exits the script
# with the log if the server dies or never announces itself.
start_server() {
    local log="$1" name="$2"
    shift 2
    : >"$log"
    "$@" >"$log" 2>&1 &
    server_pid=$!
    local waited=0
    server_port=""
    until server_port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")" &&
        [ -n "$server_port" ]; do
        if ! kill -0 "$server_pid" 2>/dev/null || [ "$waited" -ge 100 ]; then
            echo "# $name server did not start:" >&2
            cat "$log" >&2
            exit 1
        fi
        sleep 0.05
        waited=$((waited + 1))
    done
}

# stop_server: SIGTERM to the server, SIGKILL if it is still there 5 s on.
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        local waited=0
        while kill -0 "$server_pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
            sleep 0.05
            waited=$((waited + 1))
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
