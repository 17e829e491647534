#!/usr/bin/env bash
# compare.sh -- livedrop side by side with the seed design's PostgreSQL order path.
#
# Starts a fresh livedrop-node (free loopback port, temp data dir), runs livedrop-bench with the
# same number of clients for the same time in two modes -- reserve only, and the full order
# (place_order: reserve, payment by the node's test provider, commit) -- then runs
# pg-hot-row.sh (PostgreSQL 15, fsync=on, synchronous_commit=on, the seed's hot-row UPDATE +
# INSERT per order), and prints one table: ops/s, p50 and p99 latency, and the ratio of each
# livedrop figure to PostgreSQL's orders/s. Every system acknowledges only durable (fsync'd) work.
#
# Usage: tests/bench/compare.sh [--duration-s N] [--clients N] [--build-dir DIR]
#   defaults: 10 s, 64 clients, build/ (a Release build is the fair one:
#   cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2).
# Takes about 3 x duration + 10 s. Exit 1 if a run fails or a stock check fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION_S=10
CLIENTS=64
BUILD=$ROOT/build
while (($# > 0)); do
    case "$1" in
    --duration-s) DURATION_S=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "compare: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

log() { echo "compare: $*" >&2; }

NODE_BIN=$BUILD/node/livedrop-node
BENCH_BIN=$BUILD/client-lib/livedrop-bench
for bin in "$NODE_BIN" "$BENCH_BIN"; do
    if [[ ! -x $bin ]]; then
        log "$bin is missing; build first:"
        log "  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2"
        exit 1
    fi
done
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
sanitizer=$(sed -n 's/^LD_SANITIZER:[A-Z]*=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
if [[ -n $sanitizer ]]; then
    log "warning: $BUILD is built with LD_SANITIZER=$sanitizer: figures will be low"
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$((20000 + RANDOM % 20000))
while port_in_use "$PORT"; do PORT=$((PORT + 1)); done
URL=tcp://127.0.0.1:$PORT

WORK=$(mktemp -d /tmp/livedrop-compare.XXXXXX)
NODE_PID=
stop_node() {
    [[ -n $NODE_PID ]] || return 0
    kill -TERM "$NODE_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do
        kill -0 "$NODE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
    NODE_PID=
}
cleanup() {
    stop_node
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "starting livedrop-node on $URL (data in $WORK/data, build type ${build_type:-?})"
"$NODE_BIN" --listen "$URL" --data "$WORK/data" >"$WORK/node.out" 2>"$WORK/node.log" &
NODE_PID=$!
for _ in $(seq 1 300); do
    grep -q 'listening on' "$WORK/node.out" 2>/dev/null && break
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
        log "livedrop-node exited at start:"
        cat "$WORK/node.out" "$WORK/node.log" >&2
        NODE_PID=
        exit 1
    fi
    sleep 0.1
done
grep -q 'listening on' "$WORK/node.out" || { log "node not ready after 30 s"; exit 1; }

# json_num FILE KEY: the first number after "KEY": in a one-line JSON object.
json_num() { grep -o "\"$2\":[0-9.]*" "$1" | head -n1 | cut -d: -f2; }

status=0
declare -A OPS P50 P99 CHECK
for mode in reserve order; do
    log "livedrop-bench --mode $mode --clients $CLIENTS --duration-s $DURATION_S"
    rc=0
    "$BENCH_BIN" --addr "$URL" --clients "$CLIENTS" --duration-s "$DURATION_S" --mode "$mode" \
        --json >"$WORK/$mode.json" 2>"$WORK/$mode.err" || rc=$?
    if [[ ! -s $WORK/$mode.json ]]; then
        log "livedrop-bench --mode $mode failed (exit $rc):"
        cat "$WORK/$mode.err" >&2
        OPS[$mode]=0 P50[$mode]=0 P99[$mode]=0 CHECK[$mode]="exit $rc"
        status=1
        continue
    fi
    OPS[$mode]=$(json_num "$WORK/$mode.json" ops_per_s)
    P50[$mode]=$(awk -v us="$(json_num "$WORK/$mode.json" p50)" 'BEGIN { printf "%.2f", us / 1000 }')
    P99[$mode]=$(awk -v us="$(json_num "$WORK/$mode.json" p99)" 'BEGIN { printf "%.2f", us / 1000 }')
    CHECK[$mode]=$(grep -o '"check":"[A-Z]*"' "$WORK/$mode.json" | cut -d'"' -f4)
    [[ $rc -eq 0 && ${CHECK[$mode]} == PASS ]] || status=1
    log "  $(cat "$WORK/$mode.json")"
done
stop_node

log "pg-hot-row.sh --duration-s $DURATION_S --clients $CLIENTS"
rc=0
bash "$ROOT/tests/bench/pg-hot-row.sh" --duration-s "$DURATION_S" --clients "$CLIENTS" \
    >"$WORK/pg.out" 2>"$WORK/pg.err" || rc=$?
cat "$WORK/pg.out" >&2
result=$(grep '^RESULT pg_hot_row ' "$WORK/pg.out" || true)
if [[ -z $result ]]; then
    log "pg-hot-row.sh failed (exit $rc):"
    tail -n 30 "$WORK/pg.err" >&2
    exit 1
fi
((rc == 0)) || status=1
PG_TPS=$(sed -E 's/.* tps=([0-9.]+).*/\1/' <<<"$result")
PG_P50=$(sed -E 's/.* p50_ms=([0-9.]+).*/\1/' <<<"$result")
PG_P99=$(sed -E 's/.* p99_ms=([0-9.]+).*/\1/' <<<"$result")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

echo
echo "livedrop vs PostgreSQL hot row: $CLIENTS clients, $DURATION_S s each, $(nproc) cores," \
    "everything fsync'd before it is acknowledged"
printf '%-36s %12s %10s %10s %14s %7s\n' "system / operation" "ops/s" "p50 ms" "p99 ms" \
    "vs PostgreSQL" "check"
printf '%-36s %12.0f %10s %10s %14s %7s\n' "livedrop reserve" "${OPS[reserve]}" \
    "${P50[reserve]}" "${P99[reserve]}" "$(ratio "${OPS[reserve]}" "$PG_TPS")" "${CHECK[reserve]}"
printf '%-36s %12.0f %10s %10s %14s %7s\n' "livedrop order (reserve+pay+commit)" \
    "${OPS[order]}" "${P50[order]}" "${P99[order]}" "$(ratio "${OPS[order]}" "$PG_TPS")" \
    "${CHECK[order]}"
printf '%-36s %12.0f %10s %10s %14s %7s\n' "PostgreSQL 15 UPDATE+INSERT order" "$PG_TPS" \
    "$PG_P50" "$PG_P99" "1.0x" "ok"
echo "(ratio = ops/s of the row / PostgreSQL orders/s; p99 ratio PostgreSQL/livedrop order:" \
    "$(ratio "$PG_P99" "${P99[order]}"))"
exit "$status"
