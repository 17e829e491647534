# lib.sh -- shell shared by the benchmark scripts (compare.sh, compare-repl.sh). Source it after
# setting BENCH_NAME (the prefix of log lines), BUILD (the build directory) and WORK (a temp
# dir the caller removes); bench_stop_all stops whatever these functions started.
# shellcheck shell=bash

# shellcheck disable=SC2034 # used by the scripts that source this file
NODE_BIN=$BUILD/node/livedrop-node
BENCH_BIN=$BUILD/client-lib/livedrop-bench
CLI_BIN=$BUILD/client-lib/livedrop
REDIS_BENCH_BIN=$BUILD/client-lib/redis-lua-bench

declare -a BENCH_PIDS=()     # processes to stop at exit (nodes, redis)
declare -a BENCH_PORTS=()    # ports handed out by free_port in this run
declare -A OPS P50 P99 CHECK # figures of each run, by key (see bench_run)

log() { echo "$BENCH_NAME: $*" >&2; }

# bench_need BIN...: exits with a build hint if a binary is missing; warns on a sanitizer build.
bench_need() {
    local bin
    for bin in "$@"; do
        if [[ ! -x $bin ]]; then
            log "$bin is missing; build first:"
            log "  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
            exit 1
        fi
    done
    BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
    local sanitizer
    sanitizer=$(sed -n 's/^LD_SANITIZER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
    if [[ -n $sanitizer ]]; then
        log "warning: $BUILD is built with LD_SANITIZER=$sanitizer: figures will be low"
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port: prints a loopback port nobody listens on and this run has not handed out yet.
free_port() {
    local p=$((20000 + RANDOM % 20000)) q taken
    while :; do
        taken=0
        for q in "${BENCH_PORTS[@]}"; do [[ $q == "$p" ]] && taken=1; done
        if ((taken == 0)) && ! port_in_use "$p"; then break; fi
        p=$((p + 1))
    done
    BENCH_PORTS+=("$p")
    echo "$p"
}

# pid_stop PID: SIGTERM, wait up to 30 s, then SIGKILL.
pid_stop() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

bench_stop_all() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do pid_stop "$pid"; done
    BENCH_PIDS=()
}

# node_start NAME ARGS...: starts livedrop-node ARGS in the background (stdout in
# $WORK/NAME.out, stderr in $WORK/NAME.log) and waits until it prints "listening on". Returns 1
# (after printing its output) if it exits first or is not ready in 30 s.
node_start() {
    local name=$1
    shift
    "$NODE_BIN" "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
    local pid=$!
    BENCH_PIDS+=("$pid")
    for _ in $(seq 1 300); do
        grep -q 'listening on' "$WORK/$name.out" 2>/dev/null && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            log "livedrop-node ($name) exited at start:"
            cat "$WORK/$name.out" "$WORK/$name.log" >&2
            return 1
        fi
        sleep 0.1
    done
    log "livedrop-node ($name) not ready after 30 s"
    return 1
}

# json_num FILE KEY: the first number after "KEY": in a one-line JSON object.
json_num() { grep -o "\"$2\":[0-9.]*" "$1" | head -n1 | cut -d: -f2; }

# bench_run KEY CMD...: runs a bench printing one JSON object (livedrop-bench --json,
# redis-lua-bench --json) into $WORK/KEY.json and records OPS, P50, P99 (ms) and CHECK under
# KEY. Returns 1 if it failed or its check did not pass.
bench_run() {
    local key=$1
    shift
    local rc=0
    "$@" >"$WORK/$key.json" 2>"$WORK/$key.err" || rc=$?
    if [[ ! -s $WORK/$key.json ]]; then
        log "$key failed (exit $rc):"
        tail -n 20 "$WORK/$key.err" >&2
        OPS[$key]=0 P50[$key]=0 P99[$key]=0 CHECK[$key]="exit $rc"
        return 1
    fi
    OPS[$key]=$(json_num "$WORK/$key.json" ops_per_s)
    P50[$key]=$(awk -v us="$(json_num "$WORK/$key.json" p50)" 'BEGIN { printf "%.2f", us / 1000 }')
    P99[$key]=$(awk -v us="$(json_num "$WORK/$key.json" p99)" 'BEGIN { printf "%.2f", us / 1000 }')
    CHECK[$key]=$(grep -o '"check":"[A-Z]*"' "$WORK/$key.json" | cut -d'"' -f4)
    log "  $key: $(cat "$WORK/$key.json")"
    [[ $rc -eq 0 && ${CHECK[$key]} == PASS ]]
}

# pg_run DURATION CLIENTS: runs pg-hot-row.sh and records its figures under the key "pg"
# (CHECK ok). Returns 1 if it failed.
pg_run() {
    local rc=0
    log "pg-hot-row.sh --duration-s $1 --clients $2"
    bash "$ROOT/tests/bench/pg-hot-row.sh" --duration-s "$1" --clients "$2" \
        >"$WORK/pg.out" 2>"$WORK/pg.err" || rc=$?
    cat "$WORK/pg.out" >&2
    local result
    result=$(grep '^RESULT pg_hot_row ' "$WORK/pg.out" || true)
    if [[ -z $result ]]; then
        log "pg-hot-row.sh failed (exit $rc):"
        tail -n 30 "$WORK/pg.err" >&2
        OPS[pg]=0 P50[pg]=0 P99[pg]=0 CHECK[pg]="exit $rc"
        return 1
    fi
    OPS[pg]=$(sed -E 's/.* tps=([0-9.]+).*/\1/' <<<"$result")
    P50[pg]=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$result")
    P99[pg]=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$result")
    CHECK[pg]=ok
    ((rc == 0))
}

# ratio A B: A / B as "12.3x" ("0.03x" below 1), or "-" when B is 0 or missing.
ratio() {
    awk -v a="$1" -v b="${2:-0}" 'BEGIN {
        if (b <= 0) { print "-"; exit }
        r = a / b
        printf (r < 1 ? "%.2fx" : "%.1fx"), r
    }'
}

# cluster_conf_write CONF: a 3-replica cluster conf (cluster_id 7) on free loopback ports.
cluster_conf_write() {
    local conf=$1 i
    echo "cluster_id = 7" >"$conf"
    for i in 1 2 3; do
        echo "replica = $i tcp://127.0.0.1:$(free_port) tcp://127.0.0.1:$(free_port) none" >>"$conf"
    done
}

# cluster_wait_primary CONF: waits up to 30 s until `$CLI_BIN cluster status` shows a primary
# holding its lease, then prints the status; returns 1 (status printed) when none came.
cluster_wait_primary() {
    local conf=$1
    for _ in $(seq 1 300); do
        if "$CLI_BIN" --conf "$conf" --json cluster status 2>/dev/null |
            grep -q '"role":"primary".*"lease":true'; then
            "$CLI_BIN" --conf "$conf" cluster status >&2 || true
            return 0
        fi
        sleep 0.1
    done
    log "no primary with a lease after 30 s:"
    "$CLI_BIN" --conf "$conf" cluster status >&2 || true
    return 1
}
