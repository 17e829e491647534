#!/usr/bin/env bash
# pg-hot-row.sh -- the Live Drops design's own order path (docs/ARCHITECTURE.md §1) on PostgreSQL, for a side-by-side comparison.
#
# The "Live Drops" design (docs/ARCHITECTURE.md §1) decrements stock with a hot-row update in
# PostgreSQL:
#   BEGIN; UPDATE inventory SET available = available - 1 WHERE drop_id = 1 AND available >= 1;
#          INSERT INTO orders ...; COMMIT;
# This script runs exactly that with pgbench against a throwaway PostgreSQL 15 cluster on a free
# loopback port, durable as livedrop is (fsync=on, synchronous_commit=on), and prints orders/s
# (tps) and latency percentiles computed from pgbench's per-transaction log.
#
# Usage: tests/bench/pg-hot-row.sh [--duration-s N] [--clients N] [--threads N]
#   defaults: 10 s, 64 clients, 2 threads. Installs postgresql-15 with apt if it is missing
#   (needs root). Everything lives in a temp dir that is removed at the end, also on Ctrl-C.
# Last line, for scripts: RESULT pg_hot_row tps=<n> p50_ms=<n> p99_ms=<n> orders=<n>
set -euo pipefail

DURATION_S=10
CLIENTS=64
THREADS=2
while (($# > 0)); do
    case "$1" in
    --duration-s) DURATION_S=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "pg-hot-row: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done

log() { echo "pg-hot-row: $*" >&2; }

PGBIN=/usr/lib/postgresql/15/bin
if [[ ! -x $PGBIN/postgres || ! -x $PGBIN/pgbench ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        log "postgresql-15 is missing; run as root (or: apt-get install postgresql-15)"
        exit 1
    fi
    log "installing postgresql-15"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >&2
    apt-get install -y -q postgresql-15 postgresql-client-15 </dev/null >&2
fi

# Root cannot run postgres: run the server as the `postgres` system user (created by the
# package). A non-root caller runs it as itself.
AS_PG=()
if [[ $(id -u) -eq 0 ]]; then
    AS_PG=(runuser -u postgres --)
fi

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=$((20000 + RANDOM % 20000))
while port_in_use "$PORT"; do PORT=$((PORT + 1)); done

WORK=$(mktemp -d /tmp/pg-hot-row.XXXXXX)
chmod 755 "$WORK"
DATA=$WORK/data
started=0
cleanup() {
    if ((started)); then
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$DATA" "$WORK/sock" "$WORK/pgbench"
if [[ $(id -u) -eq 0 ]]; then chown postgres: "$DATA" "$WORK/sock"; fi

log "initdb in $DATA"
# --no-sync only skips initdb's own final flush of the template files; the server below runs
# with fsync=on and synchronous_commit=on, and every measured commit waits for its WAL fsync.
"${AS_PG[@]}" "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-sync \
    >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; exit 1; }

log "starting postgres on 127.0.0.1:$PORT (fsync=on, synchronous_commit=on)"
started=1
"${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start -o \
    "-p $PORT -k $WORK/sock -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on \
     -c full_page_writes=on -c max_connections=$((CLIENTS + 20))" >/dev/null ||
    { cat "$DATA/server.log" >&2; exit 1; }

PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres)
STOCK=1000000000 # never sells out during a run: every transaction is a real order
"${PSQL[@]}" -d postgres -c "CREATE DATABASE livedrop"
"${PSQL[@]}" -d livedrop <<SQL
CREATE TABLE inventory (
    drop_id   bigint PRIMARY KEY,
    available bigint NOT NULL CHECK (available >= 0)
);
CREATE TABLE orders (
    id         bigserial PRIMARY KEY,
    drop_id    bigint NOT NULL REFERENCES inventory (drop_id),
    user_id    bigint NOT NULL,
    qty        integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO inventory VALUES (1, $STOCK);
SQL

cat >"$WORK/order.sql" <<'SQL'
\set user_id random(1, 1000000)
BEGIN;
UPDATE inventory SET available = available - 1 WHERE drop_id = 1 AND available >= 1;
INSERT INTO orders (drop_id, user_id, qty) VALUES (1, :user_id, 1);
COMMIT;
SQL

PGVERSION=$("${PSQL[@]}" -d livedrop -Atc "SHOW server_version")
log "PostgreSQL $PGVERSION: pgbench -c $CLIENTS -j $THREADS -T $DURATION_S"
"$PGBIN/pgbench" -n -h 127.0.0.1 -p "$PORT" -U postgres -c "$CLIENTS" -j "$THREADS" \
    -T "$DURATION_S" -P 5 -r -l --log-prefix="$WORK/pgbench/tx" -f "$WORK/order.sql" livedrop \
    >"$WORK/pgbench.out" 2>"$WORK/pgbench.err" ||
    { cat "$WORK/pgbench.out" "$WORK/pgbench.err" >&2; exit 1; }
cat "$WORK/pgbench.err" >&2
sed 's/^/  /' "$WORK/pgbench.out" >&2

TPS=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.out" | head -n1)
TPS=$(printf '%.1f' "${TPS:-0}")
# Per-transaction log lines: client_id tx_no latency_us script_no epoch_s epoch_us
# shellcheck disable=SC2016
read -r N P50 P99 MEAN < <(cat "$WORK"/pgbench/tx* | awk '{print $3}' | sort -n | awk '
    { v[NR] = $1; sum += $1 }
    END {
        if (NR == 0) { print 0, 0, 0, 0; exit }
        i50 = int(NR * 0.50); if (i50 < NR * 0.50) i50++; if (i50 < 1) i50 = 1
        i99 = int(NR * 0.99); if (i99 < NR * 0.99) i99++; if (i99 < 1) i99 = 1
        printf "%d %.2f %.2f %.2f\n", NR, v[i50] / 1000, v[i99] / 1000, sum / NR / 1000
    }')

read -r AVAILABLE ORDERS < <("${PSQL[@]}" -d livedrop -AtF ' ' -c \
    "SELECT (SELECT available FROM inventory WHERE drop_id = 1), (SELECT count(*) FROM orders)")
if ((STOCK - AVAILABLE == ORDERS)); then CHECK=ok; else CHECK=MISMATCH; fi

echo "pg-hot-row: PostgreSQL $PGVERSION, fsync=on, synchronous_commit=on, $CLIENTS clients," \
    "$THREADS threads, $DURATION_S s"
echo "pg-hot-row: orders committed   $ORDERS (stock - available = $((STOCK - AVAILABLE)): $CHECK)"
echo "pg-hot-row: orders/s (tps)     $TPS"
echo "pg-hot-row: latency ms         p50 $P50  p99 $P99  mean $MEAN  (over $N transactions)"
echo "RESULT pg_hot_row tps=$TPS p50_ms=$P50 p99_ms=$P99 orders=$ORDERS"
[[ $CHECK == ok ]]
