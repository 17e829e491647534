#!/usr/bin/env bash
# compare-repl.sh -- livedrop replicated (RF=3) and single (RF=1) against the seed design's
# paths, in ONE run: the same number of clients on one hot drop, the same time each.
#
#   (a) livedrop, 3 nodes on loopback, RF=3 (a conf with three `replica` lines on free ports,
#       three `livedrop-node --config CONF --node-id N --data DIR --format` processes; it waits
#       for a primary holding its lease): livedrop-bench --conf, reserve and order
#   (b) livedrop, one node, RF=1: reserve and order (reserve + payment + commit)
#   (c) Redis 7: a private redis-server (appendonly yes, appendfsync always, dir in a temp
#       dir) and redis-lua-bench: the reservation as one Lua script (EVALSHA) checking stock,
#       the per-user limit and the idempotency key, then decrementing and writing the hash
#   (d) PostgreSQL 15: pg-hot-row.sh, the seed's hot-row UPDATE + INSERT order
#
# and prints one table: ops/s, p50, p99, ratio of ops/s to PostgreSQL's and to Redis'. Every
# system acknowledges only fsync'd work (livedrop RF=3: on a quorum of the three nodes).
# Until livedrop-node knows `replica` lines, (a) is skipped with a message saying so.
#
# Usage: tests/bench/compare-repl.sh [--duration-s N] [--clients N] [--build-dir DIR] [--skip-pg]
#   defaults: 10 s, 64 clients, build/ (Release is the fair build). Takes about 6 x duration
#   + 30 s. Exit 1 if a run or a stock check fails (a skipped (a) is not a failure).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION_S=10
CLIENTS=64
BUILD=$ROOT/build
SKIP_PG=0
while (($# > 0)); do
    case "$1" in
    --duration-s) DURATION_S=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --skip-pg) SKIP_PG=1; shift ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "compare-repl: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

WORK=$(mktemp -d /tmp/livedrop-compare-repl.XXXXXX)
BENCH_NAME=compare-repl
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
cleanup() {
    bench_stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_need "$NODE_BIN" "$BENCH_BIN" "$CLI_BIN" "$REDIS_BENCH_BIN"
status=0

# livedrop_modes PREFIX ADDR_ARGS...: livedrop-bench reserve and order, keys PREFIX-reserve and
# PREFIX-order.
livedrop_modes() {
    local prefix=$1 mode
    shift
    for mode in reserve order; do
        log "livedrop-bench $* --mode $mode --clients $CLIENTS --duration-s $DURATION_S"
        bench_run "$prefix-$mode" "$BENCH_BIN" "$@" --clients "$CLIENTS" \
            --duration-s "$DURATION_S" --mode "$mode" --json || status=1
    done
}

# ---- (a) three nodes, RF=3 ----------------------------------------------------------------------

# Does this livedrop-node take a conf with replica lines? A node refuses a key it does not know
# at start ('unknown key "replica"'), so start one on a one-replica conf and see: refused, or
# still up (or serving) after 3 s.
repl_supported() {
    local conf=$WORK/probe.conf pid verdict=1
    printf 'replica = 1 tcp://127.0.0.1:%s tcp://127.0.0.1:%s none\n' "$(free_port)" \
        "$(free_port)" >"$conf"
    "$NODE_BIN" --config "$conf" --node-id 1 --data "$WORK/probe-data" \
        >"$WORK/probe.out" 2>"$WORK/probe.log" &
    pid=$!
    for _ in $(seq 1 30); do
        grep -q 'listening on' "$WORK/probe.out" 2>/dev/null && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    pid_stop "$pid"
    grep -q 'unknown key "replica"' "$WORK/probe.log" 2>/dev/null || verdict=0
    rm -rf "$WORK/probe-data"
    return "$verdict"
}

# Writes $WORK/cluster.conf (three replicas on free ports) and starts the nodes; waits until
# `livedrop cluster status` shows a primary holding its lease. Returns 1 on failure.
cluster_start() {
    local conf=$WORK/cluster.conf i
    echo "cluster_id = 7" >"$conf"
    for i in 1 2 3; do
        echo "replica = $i tcp://127.0.0.1:$(free_port) tcp://127.0.0.1:$(free_port) none" >>"$conf"
    done
    log "3-node cluster: $(grep -c '^replica' "$conf") replicas in $conf"
    for i in 1 2 3; do
        node_start "node$i" --config "$conf" --node-id "$i" --data "$WORK/data$i" --format ||
            return 1
    done
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

RF3_NOTE=
if repl_supported; then
    if cluster_start; then
        livedrop_modes rf3 --conf "$WORK/cluster.conf"
        "$CLI_BIN" --conf "$WORK/cluster.conf" cluster status >&2 || true
    else
        status=1
        RF3_NOTE="failed to start"
    fi
    bench_stop_all
else
    RF3_NOTE="skipped: this livedrop-node does not support replica lines yet (no --node-id)"
    log "(a) $RF3_NOTE"
fi

# ---- (b) one node, RF=1 -------------------------------------------------------------------------

URL=tcp://127.0.0.1:$(free_port)
log "one node on $URL (build type ${BUILD_TYPE:-?})"
if node_start single --listen "$URL" --publish none --data "$WORK/data-single"; then
    livedrop_modes rf1 --addr "$URL"
else
    status=1
fi
bench_stop_all

# ---- (c) Redis 7, Lua reservation, appendfsync always ----------------------------------------

redis_start() {
    local port=$1 dir=$WORK/redis
    mkdir -p "$dir"
    if ! command -v redis-server >/dev/null; then
        log "redis-server is not installed (apt-get install redis-server)"
        return 1
    fi
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
        --appendfsync always --save '' --protected-mode yes --daemonize no \
        --logfile "$dir/redis.log" --maxclients $((CLIENTS + 32)) &
    BENCH_PIDS+=("$!")
    for _ in $(seq 1 100); do
        port_in_use "$port" && return 0
        sleep 0.1
    done
    log "redis-server not listening after 10 s:"
    tail -n 20 "$dir/redis.log" >&2
    return 1
}

REDIS_PORT=$(free_port)
log "redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') on 127.0.0.1:$REDIS_PORT" \
    "(appendonly yes, appendfsync always)"
if redis_start "$REDIS_PORT"; then
    log "redis-lua-bench --clients $CLIENTS --duration-s $DURATION_S"
    bench_run redis "$REDIS_BENCH_BIN" --port "$REDIS_PORT" --clients "$CLIENTS" \
        --duration-s "$DURATION_S" --json || status=1
else
    status=1
fi
bench_stop_all

# ---- (d) PostgreSQL 15 hot row ------------------------------------------------------------------

if ((SKIP_PG)); then
    log "(d) PostgreSQL skipped (--skip-pg)"
else
    pg_run "$DURATION_S" "$CLIENTS" || status=1
fi

# ---- the table ----------------------------------------------------------------------------------

row() { # row LABEL KEY
    local key=$2
    if [[ -z ${OPS[$key]+set} ]]; then
        printf '%-52s %s\n' "$1" "${3:-not run}"
        return
    fi
    printf '%-52s %10.0f %9s %9s %8s %8s %7s\n' "$1" "${OPS[$key]}" "${P50[$key]}" \
        "${P99[$key]}" "$(ratio "${OPS[$key]}" "${OPS[pg]:-0}")" \
        "$(ratio "${OPS[$key]}" "${OPS[redis]:-0}")" "${CHECK[$key]}"
}

echo
echo "livedrop RF=3 / RF=1 vs Redis Lua vs PostgreSQL hot row: $CLIENTS clients on one hot drop," \
    "$DURATION_S s each, $(nproc) cores, build ${BUILD_TYPE:-?}; every acknowledgement fsync'd"
printf '%-52s %10s %9s %9s %8s %8s %7s\n' "system / operation" "ops/s" "p50 ms" "p99 ms" \
    "vs PG" "vs Redis" "check"
row "livedrop RF=3 (3 nodes) reserve" rf3-reserve "$RF3_NOTE"
row "livedrop RF=3 (3 nodes) order (reserve+pay+commit)" rf3-order "$RF3_NOTE"
row "livedrop RF=1 reserve" rf1-reserve
row "livedrop RF=1 order (reserve+pay+commit)" rf1-order
row "Redis $(redis-server --version | sed -E 's/.*v=([0-9]+\.[0-9]+).*/\1/') Lua reserve (appendfsync always)" redis
row "PostgreSQL 15 UPDATE+INSERT order" pg
echo "(vs PG / vs Redis: ops/s of the row divided by PostgreSQL's orders/s / Redis' reservations/s)"
exit "$status"
