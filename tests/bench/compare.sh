#!/usr/bin/env bash
# compare.sh -- livedrop side by side with the Live Drops design's PostgreSQL order path.
#
# Starts a fresh livedrop-node (free loopback port, temp data dir), runs livedrop-bench with the
# same number of clients for the same time in two modes -- reserve only, and the full order
# (place_order: reserve, payment by the node's test provider, commit) -- then runs
# pg-hot-row.sh (PostgreSQL 15, fsync=on, synchronous_commit=on, the Live Drops design's hot-row UPDATE +
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

WORK=$(mktemp -d /tmp/livedrop-compare.XXXXXX)
BENCH_NAME=compare
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
cleanup() {
    bench_stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bench_need "$NODE_BIN" "$BENCH_BIN"

URL=tcp://127.0.0.1:$(free_port)
log "starting livedrop-node on $URL (data in $WORK/data, build type ${BUILD_TYPE:-?})"
node_start node --listen "$URL" --data "$WORK/data" || exit 1

status=0
for mode in reserve order; do
    log "livedrop-bench --mode $mode --clients $CLIENTS --duration-s $DURATION_S"
    bench_run "$mode" "$BENCH_BIN" --addr "$URL" --clients "$CLIENTS" --duration-s "$DURATION_S" \
        --mode "$mode" --json || status=1
done
bench_stop_all

pg_run "$DURATION_S" "$CLIENTS" || { [[ ${OPS[pg]} != 0 ]] || exit 1; status=1; }
PG_TPS=${OPS[pg]} PG_P50=${P50[pg]} PG_P99=${P99[pg]}

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
