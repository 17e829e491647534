#!/bin/sh
# run-local-3.sh -- start (or stop) the three replicas of cluster-conf/local-3.conf on this machine.
#
#   cluster-conf/run-local-3.sh [DIR]          start; DIR (default ./livedrop-cluster) holds
#                                              DIR/<id>/ (data), DIR/<id>.log, DIR/<id>.pid
#   cluster-conf/run-local-3.sh --stop [DIR]   stop them (SIGTERM, then wait for a clean exit)
#   cluster-conf/run-local-3.sh --kill [DIR]   kill -9 them all (a crash), and wait until gone
#
# The first start of a DIR formats each node's new data directory (--format: a brand-new
# cluster); later starts reuse the data. A node whose data directory was removed while the
# others' remain is started WITHOUT --format, so it recovers its state from them. The script
# returns once every node prints its "listening on" line and a primary holds its lease, and
# prints the client addresses.
# The node binary: $LD_NODE_BIN, else build/node/livedrop-node of this checkout, else PATH.
# LD_CONF=FILE uses a copy of local-3.conf (say, with other ports) instead.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
conf=${LD_CONF:-$here/local-3.conf} # another conf with node ids 1, 2, 3 (other ports)
ids="1 2 3"

stop=0
sig=TERM
case "${1:-}" in
--stop) stop=1; shift ;;
--kill) stop=1; sig=KILL; shift ;;
esac
dir=${1:-./livedrop-cluster}

# alive PID: the process runs and is not a zombie (a node killed with kill -9 answers kill -0
# until its parent reaps it).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    state=$(sed -n 's/^[0-9]* (.*) \([A-Z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null || true)
    [ "$state" != Z ]
}

if [ "$stop" = 1 ]; then
    for i in $ids; do
        pidf="$dir/$i.pid"
        [ -f "$pidf" ] || continue
        pid=$(cat "$pidf")
        if alive "$pid"; then
            kill -"$sig" "$pid"
            echo "node $i (pid $pid): SIG$sig"
        fi
    done
    for i in $ids; do
        pidf="$dir/$i.pid"
        [ -f "$pidf" ] || continue
        pid=$(cat "$pidf")
        n=0
        while alive "$pid"; do
            n=$((n + 1))
            if [ "$n" -gt 400 ]; then
                echo "node $i (pid $pid) still running after 40 s" >&2
                exit 1
            fi
            sleep 0.1
        done
        rm -f "$pidf"
    done
    if [ "$sig" = KILL ]; then echo "killed"; else echo "stopped"; fi
    exit 0
fi

bin=${LD_NODE_BIN:-}
if [ -z "$bin" ]; then
    if [ -x "$here/../build/node/livedrop-node" ]; then
        bin="$here/../build/node/livedrop-node"
    else
        bin=$(command -v livedrop-node || true)
    fi
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    echo "livedrop-node not found: build it (cmake --build build) or set LD_NODE_BIN" >&2
    exit 1
fi

mkdir -p "$dir"
fresh=1 # a brand-new cluster only when no node has data yet
for i in $ids; do
    [ -d "$dir/$i" ] && fresh=0
done

for i in $ids; do
    pidf="$dir/$i.pid"
    if [ -f "$pidf" ] && alive "$(cat "$pidf")"; then
        echo "node $i already runs (pid $(cat "$pidf"))"
        continue
    fi
    fmt=""
    [ "$fresh" = 1 ] && fmt="--format"
    : >"$dir/$i.out"
    # shellcheck disable=SC2086
    nohup "$bin" --config "$conf" --node-id "$i" --data "$dir/$i" $fmt \
        >"$dir/$i.out" 2>>"$dir/$i.log" </dev/null &
    echo $! >"$pidf"
done

for i in $ids; do
    pid=$(cat "$dir/$i.pid")
    n=0
    until grep -q "listening on" "$dir/$i.out" 2>/dev/null; do
        if ! alive "$pid"; then
            echo "node $i exited; the end of $dir/$i.log:" >&2
            tail -n 20 "$dir/$i.log" >&2
            exit 1
        fi
        n=$((n + 1))
        if [ "$n" -gt 300 ]; then
            echo "node $i does not serve after 30 s; see $dir/$i.log" >&2
            exit 1
        fi
        sleep 0.1
    done
done

# Serving means a primary holds its lease: wait for one (with the CLI next to the node binary,
# else on PATH), so that the CLI works as soon as this script returns.
cli=${LD_CLI_BIN:-}
if [ -z "$cli" ]; then
    if [ -x "$(dirname "$bin")/../client-lib/livedrop" ]; then
        cli="$(dirname "$bin")/../client-lib/livedrop"
    else
        cli=$(command -v livedrop || true)
    fi
fi
if [ -n "$cli" ]; then
    n=0
    until "$cli" --conf "$conf" --json --timeout-ms 500 cluster status 2>/dev/null |
        grep -q '"role":"primary"[^}]*"lease":true'; do
        n=$((n + 1))
        if [ "$n" -gt 200 ]; then
            echo "no primary with a lease after 20 s: see $dir/<id>.log" >&2
            exit 1
        fi
        sleep 0.1
    done
fi

addrs=$(grep '^replica' "$conf" | awk '{print $4}' | paste -sd, -)
echo "three nodes serve, one is the primary (logs: $dir/<id>.log). Client addresses:"
echo "  $addrs"
echo "  e.g. livedrop --addr $addrs ..."
echo "stop them with: $0 --stop $dir"
