#!/usr/bin/env bash
# compare-repl.sh -- livedrop replicated (RF=3) and single (RF=1) against the Live Drops design's
# paths, in ONE run: the same number of clients on one hot drop, the same time each.
#
#   (a) livedrop, 3 nodes on loopback, RF=3 (a conf with three `replica` lines on free ports,
#       three `livedrop-node --config CONF --node-id N --data DIR --format` processes; it waits
#       for a primary holding its lease): livedrop-bench --conf, reserve and order
#   (b) livedrop, one node, RF=1: reserve and order (reserve + payment + commit)
#   (c) Redis 7: a private redis-server (appendonly yes, appendfsync always, dir in a temp
#       dir) and redis-lua-bench: the reservation as one Lua script (EVALSHA) checking stock,
#       the per-user limit and the idempotency key, then decrementing and writing the hash
#   (d) PostgreSQL 15: pg-hot-row.sh, the Live Drops design's hot-row UPDATE + INSERT order
#
# Next to these --clients rows, many callers over few connections: livedrop reserve (RF=3 and
# RF=1) with 256 clients over 4 connections (livedrop-bench --clients 256 --connections 4: the
# library coalesces the calls of a connection's threads into its messages, as a gateway would),
# and Redis pipelined (redis-lua-bench --connections 4 --pipeline 16: 16 calls in flight on each
# of 4 connections).
#
# (a), (b) and (c) are up together and their runs alternate, --rounds times (rf3 reserve, rf1
# reserve, rf3 order, rf1 order, rf3 reserve 256/4, rf1 reserve 256/4, Redis, Redis pipelined,
# then again): a shared, noisy machine slows neighbouring runs alike, and the table shows each
# row's median round. It prints one table: ops/s, p50, p99, the ratio of ops/s to RF=1's (RF=3
# rows), to PostgreSQL's and to Redis' (the 256/4 rows: to pipelined Redis'). Every system
# acknowledges only fsync'd work (livedrop RF=3: on a quorum of the three nodes). redis-server
# and postgresql-15 are installed with apt when missing (as root).
#
# Usage: tests/bench/compare-repl.sh [--duration-s N] [--clients N] [--rounds N]
#                                    [--build-dir DIR] [--skip-pg]
#   defaults: 10 s, 64 clients, 3 rounds, build/ (Release is the fair build). Takes about
#   (8 x rounds + 1) x duration + 40 s. Exit 1 if a run or a stock check fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION_S=10
CLIENTS=64
BUILD=$ROOT/build
SKIP_PG=0
ROUNDS=3
# the many-callers rows (not options: change them here)
COALESCED_CLIENTS=256     # livedrop-bench threads ...
COALESCED_CONNECTIONS=4   # ... sharing this many connections
PIPELINE=16               # redis-lua-bench calls in flight per connection ...
PIPELINE_CONNECTIONS=4    # ... on this many connections
while (($# > 0)); do
    case "$1" in
    --duration-s) DURATION_S=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --skip-pg) SKIP_PG=1; shift ;;
    -h | --help) sed -n '2,31p' "$0"; exit 0 ;;
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

# livedrop_run KEY MODE CLIENTS CONNECTIONS ADDR_ARGS...: one livedrop-bench run in MODE with
# CLIENTS threads sharing CONNECTIONS connections, recorded under KEY.
livedrop_run() {
    local key=$1 mode=$2 clients=$3 connections=$4
    shift 4
    log "livedrop-bench $* --mode $mode --clients $clients --connections $connections" \
        "--duration-s $DURATION_S ($key)"
    bench_run "$key" "$BENCH_BIN" "$@" --clients "$clients" --connections "$connections" \
        --duration-s "$DURATION_S" --mode "$mode" --json || status=1
}

# pick_median KEY: copies the figures of KEY's median round (by ops/s) to KEY; the check is the
# first failed round's, if any.
pick_median() {
    local key=$1 r med all=
    local -a order
    mapfile -t order < <(for k in $(seq 1 "$ROUNDS"); do
        [[ -n ${OPS[$key-r$k]+set} ]] && echo "${OPS[$key-r$k]} $k"
    done | sort -g | awk '{print $2}')
    ((${#order[@]} > 0)) || return 0
    med=${order[$(((${#order[@]} - 1) / 2))]}
    OPS[$key]=${OPS[$key-r$med]} P50[$key]=${P50[$key-r$med]} P99[$key]=${P99[$key-r$med]}
    CHECK[$key]=PASS
    for r in $(seq 1 "$ROUNDS"); do
        all+="${OPS[$key-r$r]:--} "
        if [[ ${CHECK[$key]} == PASS && -n ${CHECK[$key-r$r]+set} &&
            ${CHECK[$key-r$r]} != PASS ]]; then
            CHECK[$key]=${CHECK[$key-r$r]}
        fi
    done
    log "$key: ops/s by round: ${all}(median: round $med)"
}

# ---- (a) three nodes, RF=3, (b) one node, RF=1, and (c) Redis 7, side by side ----------------

# Writes $WORK/cluster.conf (three replicas on free ports) and starts the nodes; waits until
# `livedrop cluster status` shows a primary holding its lease. Returns 1 on failure.
cluster_start() {
    local conf=$WORK/cluster.conf i
    cluster_conf_write "$conf"
    log "3-node cluster: $(grep -c '^replica' "$conf") replicas in $conf"
    for i in 1 2 3; do
        node_start "node$i" --config "$conf" --node-id "$i" --data "$WORK/data$i" --format ||
            return 1
    done
    cluster_wait_primary "$conf"
}

RF3_NOTE=
RF3_UP=0
if cluster_start; then
    RF3_UP=1
else
    status=1
    RF3_NOTE="failed to start"
fi
URL=tcp://127.0.0.1:$(free_port)
log "one node on $URL (build type ${BUILD_TYPE:-?})"
RF1_UP=0
if node_start single --listen "$URL" --publish none --data "$WORK/data-single"; then
    RF1_UP=1
else
    status=1
fi
# (c) Redis 7, the Lua reservation, appendfsync always
redis_start() {
    local port=$1 dir=$WORK/redis
    mkdir -p "$dir"
    if ! command -v redis-server >/dev/null; then
        if [[ $(id -u) != 0 ]]; then
            log "redis-server is missing; run as root (or: apt-get install redis-server)"
            return 1
        fi
        log "installing redis-server with apt"
        apt-get update -q </dev/null >&2
        apt-get install -y -q redis-server </dev/null >&2
        # the package starts a system redis on 6379; this bench runs its own
        { systemctl stop redis-server || service redis-server stop; } >&2 2>/dev/null || true
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
REDIS_UP=0
if redis_start "$REDIS_PORT"; then
    REDIS_UP=1
    log "redis-server $(redis-server --version | sed -E 's/.*v=([^ ]+).*/\1/') on" \
        "127.0.0.1:$REDIS_PORT (appendonly yes, appendfsync always)"
else
    status=1
fi

# redis_run KEY CONNECTIONS PIPELINE: one redis-lua-bench run, recorded under KEY.
redis_run() {
    log "redis-lua-bench --connections $2 --pipeline $3 --duration-s $DURATION_S ($1)"
    bench_run "$1" "$REDIS_BENCH_BIN" --port "$REDIS_PORT" --connections "$2" --pipeline "$3" \
        --duration-s "$DURATION_S" --json || status=1
}

for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS"
    for mode in reserve order; do
        ((RF3_UP)) && livedrop_run "rf3-$mode-r$round" "$mode" "$CLIENTS" "$CLIENTS" \
            --conf "$WORK/cluster.conf"
        ((RF1_UP)) && livedrop_run "rf1-$mode-r$round" "$mode" "$CLIENTS" "$CLIENTS" \
            --addr "$URL"
    done
    ((RF3_UP)) && livedrop_run "rf3-coal-r$round" reserve "$COALESCED_CLIENTS" \
        "$COALESCED_CONNECTIONS" --conf "$WORK/cluster.conf"
    ((RF1_UP)) && livedrop_run "rf1-coal-r$round" reserve "$COALESCED_CLIENTS" \
        "$COALESCED_CONNECTIONS" --addr "$URL"
    ((REDIS_UP)) && redis_run "redis-r$round" "$CLIENTS" 1
    ((REDIS_UP)) && redis_run "redis-pipe-r$round" "$PIPELINE_CONNECTIONS" "$PIPELINE"
done
for key in rf3-reserve rf3-order rf1-reserve rf1-order rf3-coal rf1-coal redis redis-pipe; do
    pick_median "$key"
done
((RF3_UP)) && { "$CLI_BIN" --conf "$WORK/cluster.conf" cluster status >&2 || true; }
bench_stop_all

# ---- (d) PostgreSQL 15 hot row ------------------------------------------------------------------

if ((SKIP_PG)); then
    log "(d) PostgreSQL skipped (--skip-pg)"
else
    pg_run "$DURATION_S" "$CLIENTS" || status=1
fi

# ---- the table ----------------------------------------------------------------------------------

row() { # row LABEL KEY [NOTE] [RF1_KEY] [REDIS_KEY (default redis)]
    local key=$2 redis=${5:-redis}
    if [[ -z ${OPS[$key]+set} ]]; then
        printf '%-52s %s\n' "$1" "${3:-not run}"
        return
    fi
    local vs_rf1=-
    [[ -n ${4:-} ]] && vs_rf1=$(ratio "${OPS[$key]}" "${OPS[$4]:-0}")
    printf '%-52s %10.0f %9s %9s %8s %8s %8s %7s\n' "$1" "${OPS[$key]}" "${P50[$key]}" \
        "${P99[$key]}" "$vs_rf1" "$(ratio "${OPS[$key]}" "${OPS[pg]:-0}")" \
        "$(ratio "${OPS[$key]}" "${OPS[$redis]:-0}")" "${CHECK[$key]}"
}

REDIS_VERSION=$(redis-server --version 2>/dev/null | sed -E 's/.*v=([0-9]+\.[0-9]+).*/\1/' || true)
echo
echo "livedrop RF=3 / RF=1 vs Redis Lua vs PostgreSQL hot row: $CLIENTS clients on one hot drop," \
    "$DURATION_S s each (median of $ROUNDS alternating rounds), $(nproc) cores," \
    "build ${BUILD_TYPE:-?}; every acknowledgement fsync'd. Many callers over few connections:" \
    "livedrop $COALESCED_CLIENTS clients over $COALESCED_CONNECTIONS connections, Redis" \
    "$PIPELINE calls in flight on each of $PIPELINE_CONNECTIONS connections"
printf '%-52s %10s %9s %9s %8s %8s %8s %7s\n' "system / operation" "ops/s" "p50 ms" "p99 ms" \
    "vs RF=1" "vs PG" "vs Redis" "check"
row "livedrop RF=3 (3 nodes) reserve" rf3-reserve "$RF3_NOTE" rf1-reserve
row "livedrop RF=3 (3 nodes) order (reserve+pay+commit)" rf3-order "$RF3_NOTE" rf1-order
row "livedrop RF=1 reserve" rf1-reserve
row "livedrop RF=1 order (reserve+pay+commit)" rf1-order
row "livedrop RF=3 reserve, $COALESCED_CLIENTS clients / $COALESCED_CONNECTIONS connections" \
    rf3-coal "$RF3_NOTE" rf1-coal redis-pipe
row "livedrop RF=1 reserve, $COALESCED_CLIENTS clients / $COALESCED_CONNECTIONS connections" \
    rf1-coal "" "" redis-pipe
row "Redis ${REDIS_VERSION:-7} Lua reserve (appendfsync always)" redis
row "Redis Lua, pipelined $PIPELINE x $PIPELINE_CONNECTIONS connections" redis-pipe
row "PostgreSQL 15 UPDATE+INSERT order" pg
echo "(vs RF=1 / vs PG / vs Redis: ops/s of the row divided by RF=1's in the same mode and"
echo " clients / PostgreSQL's orders/s / Redis' reservations/s -- pipelined Redis' for the"
echo " $COALESCED_CLIENTS clients / $COALESCED_CONNECTIONS connections rows)"
exit "$status"
