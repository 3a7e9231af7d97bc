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

# record KEY NAME=VALUE...: appends each VALUE to the figures under
# KEY.NAME, in the caller's `values` (a global `declare -A values`).
record() {
    local key="$1" pair
    shift
    for pair in "$@"; do
        values["$key.${pair%%=*}"]+="${pair#*=} "
    done
}

# m KEY: the median of the figures recorded under KEY in `values`, or "-"
# for none (a figure recorded as "-" does not count).
m() {
    local v
    v="$(tr ' ' '\n' <<<"${values[$1]:-}" | sed '/^$/d;/^-$/d')"
    if [ -n "$v" ]; then median <<<"$v"; else echo -; fi
}

# ratio A B: A / B to two places; "-" when either is "-" or B is 0.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'
}

server_pid=""
server_port=""

# start_server LOG NAME COMMAND...: runs COMMAND in the background with its
# output in LOG, and waits (5 s at most, or start_wait twentieths of a
# second) for its "listening on 127.0.0.1:PORT" line. Sets server_pid and server_port; exits the script
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
        if ! kill -0 "$server_pid" 2>/dev/null || [ "$waited" -ge "${start_wait:-100}" ]; then
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

# The HTTP scripts (http.sh, scaling.sh) share what follows.

# build_http_servers SERVER...: builds the named HTTP hello servers and
# sets server_bin[NAME] to each binary (and server_args[NAME] to options
# it is started with). coro is examples/examples/hello.rs;
# hyper, hyper-tls, may, bare and bare-uring are
# benches/examples/hello_hyper.rs, hello_hyper_tls.rs, hello_may.rs,
# hello_bare.rs and hello_bare_uring.rs; bare-spread is hello_bare with
# `--spread` (a listener per thread, so new connections are dealt evenly
# over the threads; bare's threads share one, and a burst of connects
# lands on one of them).
#
# They are built with every function aligned to 64 bytes, in a target
# directory of their own (target/http-bench): where the linker happens to
# place the handler's code (fib above all) otherwise moves the CPU-bound
# figures by 10 to 15% from one build to the next, which would compare
# code layout, not runtimes. ALIGN=0 builds with the default flags
# instead.
declare -A server_bin server_args
build_http_servers() {
    local root
    root="$(pwd)"
    if [ "${ALIGN:-1}" = 1 ]; then
        export RUSTFLAGS="${RUSTFLAGS:-} -C llvm-args=-align-all-functions=6"
        export CARGO_TARGET_DIR="$root/target/http-bench"
    fi
    local bin="${CARGO_TARGET_DIR:-$root/target}/release/examples" server example
    for server in "$@"; do
        case "$server" in
        coro)
            cargo build --release --quiet -p examples --example hello
            server_bin[coro]="$bin/hello"
            continue
            ;;
        hyper) example=hello_hyper ;;
        hyper-tls) example=hello_hyper_tls ;;
        may) example=hello_may ;;
        bare) example=hello_bare ;;
        bare-spread) example=hello_bare server_args[$server]=--spread ;;
        bare-uring) example=hello_bare_uring ;;
        *)
            echo "unknown server $server; SERVERS takes coro, hyper, hyper-tls, may, bare, bare-spread and bare-uring" >&2
            exit 2
            ;;
        esac
        cargo build --release --quiet -p benches --example "$example"
        server_bin[$server]="$bin/$example"
    done
}

# start_http_server LOG SERVER WORKERS PINNED: start_server for an HTTP
# scenario: server_bin[SERVER] on an ephemeral port with WORKERS workers,
# pinned to the server's CPU when PINNED is 1 (see `pinning`). Sets
# client_pin to the matching prefix for the load generator (empty when
# not pinned).
start_http_server() {
    local log="$1" server="$2" workers="$3" pinned="$4" ps=()
    client_pin=()
    if [ "$pinned" = 1 ]; then ps=("${pin_server[@]}") client_pin=("${pin_client[@]}"); fi
    # shellcheck disable=SC2086 # one word per option
    start_server "$log" "$server" "${ps[@]}" "${server_bin[$server]}" --port 0 --workers "$workers" \
        ${server_args[$server]:-}
}

# cpu_ticks PID: the user + system clock ticks PID has used, all threads.
# The fields after the ")" closing the command name start at field 3, so
# utime (14) and stime (15) are the 12th and 13th of them.
cpu_ticks() {
    sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# thread_ticks PID: a line "TID TICKS" per thread of PID, its user +
# system clock ticks. A thread that ends while it is read is left out.
thread_ticks() {
    local stat tid
    for stat in /proc/"$1"/task/*/stat; do
        tid="${stat%/stat}" tid="${tid##*/}"
        { sed 's/.*) //' "$stat" 2>/dev/null || true; } | awk -v tid="$tid" '{ print tid, $12 + $13 }'
    done
}

# thread_split BEFORE AFTER: the ticks each thread used between two
# thread_ticks outputs, busiest first, as A/B/...; threads that used
# none, or ended in between, are left out (so the parts may add up to
# less than the process's count).
thread_split() {
    awk 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; if (d > 0) print d }' \
        <(echo "$1") <(echo "$2") | sort -rn | paste -sd/ -
}

# cpu_seconds TICKS: clock ticks as seconds, to two places.
cpu_seconds() {
    awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'
}

# per_cpu_second REQUESTS TICKS: requests per second of CPU time (0 when
# no time was used).
per_cpu_second() {
    awk -v n="$1" -v t="$2" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (t > 0) printf "%.0f", n * hz / t; else print 0 }'
}

# wrk_rps WRK_OUTPUT, wrk_requests WRK_OUTPUT: wrk's requests a second,
# and the requests it completed.
wrk_rps() {
    awk '$1 == "Requests/sec:" { print $2 }' <<<"$1"
}
wrk_requests() {
    awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$1"
}

# latency_us PERCENT WRK_OUTPUT: the PERCENT% line of wrk's --latency
# distribution, in microseconds.
latency_us() {
    awk -v p="$1%" '$1 == p {
        v = $2
        if (v ~ /us$/) m = 1; else if (v ~ /ms$/) m = 1000; else if (v ~ /m$/) m = 60e6; else m = 1e6
        sub(/[a-z]+$/, "", v)
        printf "%.0f", v * m
    }' <<<"$2"
}

# wrk_errors WRK_OUTPUT: wrk's socket error and non-2xx/3xx lines, if any.
wrk_errors() {
    sed -n 's/^ *\(Socket errors: .*\|Non-2xx or 3xx responses: .*\)$/\1/p' <<<"$1" | paste -sd ';' -
}

# int NUMBER: rounded to a whole number; "-" stays "-".
int() {
    awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.0f", a }'
}

# machine_header: the date, commit, machine, wrk version and load, as
# comment lines.
machine_header() {
    local cpu_model commit
    cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "# $(date -u '+%F %H:%M UTC'), commit $commit"
    echo "# machine: $(nproc) cpus, ${cpu_model:-$(uname -m)}, Linux $(uname -r), $(uname -m)"
    echo "# $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
}
