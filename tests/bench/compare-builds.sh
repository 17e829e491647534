#!/usr/bin/env bash
# compare-builds.sh -- one livedrop-node build against another, in ONE run: did a change move the
# node's throughput or latency? Only the node differs: both builds are driven by the NEW build's
# livedrop-bench and livedrop CLI, with the same clients, duration and conf shape.
#
# For each build it starts, and keeps up for the whole run:
#   - a 3-node RF=3 cluster (as compare-repl.sh: a conf with `cluster_id` and three `replica`
#     lines on free loopback ports, `livedrop-node --config CONF --node-id N --data DIR
#     --format`; it waits for a primary holding its lease), driven with livedrop-bench --conf
#   - one RF=1 node (`--publish none`), driven with livedrop-bench --addr
# then runs livedrop-bench in alternating rounds, old right before new in each pair:
#   old rf3 reserve, new rf3 reserve, old rf1 reserve, new rf1 reserve,
#   old rf3 order,   new rf3 order,   old rf1 order,   new rf1 order      (x --rounds)
# The machine is shared and noisy; the two runs of a pair are neighbours in time and see about
# the same load, so the RATIOS are what to read, not the absolute figures.
#
# It prints one table: per (build, rf, mode) the median round's ops/s, p50 and p99 (by ops/s)
# and livedrop-bench's stock check; per (rf, mode) new/old of the medians' ops/s, p50 and p99,
# each round's paired new/old ops/s ratio, and in how many rounds new beat old. It also reports
# the CPU the idle build's nodes burnt while the other build ran (both builds are up together,
# so an idle build that spins would slow the other's runs). All nodes are stopped and the temp
# dir removed on exit, also on Ctrl-C.
#
# Usage: tests/bench/compare-builds.sh --old-build DIR --new-build DIR
#                                      [--duration-s N] [--clients N] [--rounds N]
#   DIR is a build directory (or a copy of one) holding node/livedrop-node; --new-build must
#   also hold client-lib/livedrop-bench and client-lib/livedrop. Defaults: 10 s, 64 clients,
#   3 rounds. Build both the same way (RelWithDebInfo or Release), e.g. the old tree with
#     git worktree add /tmp/wt-old REV && cmake -S /tmp/wt-old -B /tmp/wt-old/build \
#       -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLD_BUILD_TESTS=OFF &&
#     cmake --build /tmp/wt-old/build -j2 --target livedrop-node
#   Takes about 8 x rounds x (duration + 1 s) + 15 s (--duration-s 8 --rounds 3: 3.5 min on
#   a loaded 2-core machine). Exit 1 if a node fails to start, a run fails or a stock check
#   fails; the table is printed anyway. p50/p99 come from livedrop-bench's histogram buckets,
#   so equal buckets show as a ratio of exactly 1.000.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DURATION_S=10
CLIENTS=64
ROUNDS=3
OLD_BUILD=
NEW_BUILD=
while (($# > 0)); do
    case "$1" in
    --old-build) OLD_BUILD=$(cd "$2" && pwd); shift 2 ;;
    --new-build) NEW_BUILD=$(cd "$2" && pwd); shift 2 ;;
    --duration-s) DURATION_S=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    -h | --help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "compare-builds: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
if [[ -z $OLD_BUILD || -z $NEW_BUILD ]]; then
    echo "compare-builds: --old-build DIR and --new-build DIR are required (try --help)" >&2
    exit 2
fi

WORK=$(mktemp -d /tmp/livedrop-compare-builds.XXXXXX)
BENCH_NAME=compare-builds
BUILD=$NEW_BUILD # lib.sh: BENCH_BIN and CLI_BIN are the new build's, for both builds
# shellcheck source=tests/bench/lib.sh
source "$ROOT/tests/bench/lib.sh"
cleanup() {
    bench_stop_all
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -A NODE_OF TYPE_OF FLAGS_OF
NODE_OF[old]=$OLD_BUILD/node/livedrop-node
NODE_OF[new]=$NEW_BUILD/node/livedrop-node
for b in old new; do
    BUILD=${b^^}_BUILD
    BUILD=${!BUILD}
    bench_need "${NODE_OF[$b]}" # sets BUILD_TYPE from $BUILD/CMakeCache.txt
    TYPE_OF[$b]=${BUILD_TYPE:-unset (the project default)}
    FLAGS_OF[$b]=$(sed -n 's/^C_FLAGS = //p' \
        "$BUILD/node/CMakeFiles/livedrop-node.dir/flags.make" 2>/dev/null || true)
    log "$b node: ${NODE_OF[$b]} (build type ${TYPE_OF[$b]}, C flags: ${FLAGS_OF[$b]:-?})"
done
BUILD=$NEW_BUILD
bench_need "$BENCH_BIN" "$CLI_BIN"
if [[ ${FLAGS_OF[old]} != "${FLAGS_OF[new]}" ]]; then
    log "warning: the two nodes were compiled with different flags: the ratios measure that too"
fi
status=0

declare -A PIDS_OF # build -> its node pids, space-separated
declare -A RF3_UP RF1_UP URL_OF
declare -A IDLE_TICKS RUN_S # build -> its nodes' CPU ticks while the other ran; seconds of that

# start_node BUILD NAME ARGS...: node_start with BUILD's livedrop-node; records its pid.
start_node() {
    local b=$1
    shift
    NODE_BIN=${NODE_OF[$b]}
    node_start "$@" || return 1
    PIDS_OF[$b]+="${BENCH_PIDS[-1]} "
}

# cluster_start BUILD: writes $WORK/BUILD-cluster.conf (three replicas on free ports), starts
# BUILD's nodes, waits until `livedrop cluster status` shows a primary holding its lease.
cluster_start() {
    local b=$1 conf=$WORK/$1-cluster.conf i
    cluster_conf_write "$conf"
    log "$b: 3-node cluster, $(grep -c '^replica' "$conf") replicas in $conf"
    for i in 1 2 3; do
        start_node "$b" "$b-node$i" --config "$conf" --node-id "$i" --data "$WORK/$b-data$i" \
            --format || return 1
    done
    cluster_wait_primary "$conf"
}

# cpu_ticks PID...: user + system clock ticks the processes used so far.
cpu_ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
        sum=$((sum + t))
    done
    echo "$sum"
}

# livedrop_run BUILD RF MODE ROUND: one livedrop-bench run against BUILD's RF=RF nodes, recorded
# under BUILD-rfRF-MODE-rROUND; counts the CPU the other build's (idle) nodes used meanwhile.
livedrop_run() {
    local b=$1 rf=$2 mode=$3 round=$4 other key
    key=$b-rf$rf-$mode-r$round
    other=$([[ $b == old ]] && echo new || echo old)
    local -a addr
    if ((rf == 3)); then
        ((${RF3_UP[$b]})) || return 0
        addr=(--conf "$WORK/$b-cluster.conf")
    else
        ((${RF1_UP[$b]})) || return 0
        addr=(--addr "${URL_OF[$b]}")
    fi
    log "livedrop-bench ${addr[*]} --mode $mode --clients $CLIENTS --duration-s $DURATION_S ($key)"
    local t0 c0 c1
    local -a idle
    read -ra idle <<<"${PIDS_OF[$other]:-}"
    t0=$(date +%s.%N)
    c0=$(cpu_ticks "${idle[@]}")
    bench_run "$key" "$BENCH_BIN" "${addr[@]}" --clients "$CLIENTS" --duration-s "$DURATION_S" \
        --mode "$mode" --json || status=1
    c1=$(cpu_ticks "${idle[@]}")
    IDLE_TICKS[$other]=$((${IDLE_TICKS[$other]:-0} + c1 - c0))
    RUN_S[$other]=$(awk -v a="${RUN_S[$other]:-0}" -v t0="$t0" -v t1="$(date +%s.%N)" \
        'BEGIN { printf "%.3f", a + t1 - t0 }')
}

# pick_median KEY: copies the figures of KEY's median round (by ops/s) to KEY; the check is the
# first failed round's, if any. ROUNDS_OF[KEY]: every round's ops/s.
declare -A ROUNDS_OF
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
        all+="$(printf '%.0f' "${OPS[$key-r$r]:-0}") "
        if [[ ${CHECK[$key]} == PASS && -n ${CHECK[$key-r$r]+set} &&
            ${CHECK[$key-r$r]} != PASS ]]; then
            CHECK[$key]=${CHECK[$key-r$r]}
        fi
    done
    ROUNDS_OF[$key]=${all% }
    log "$key: ops/s by round: ${all}(median: round $med)"
}

# ratio3 A B: A / B with three decimals, or "-" when B is 0 or missing.
ratio3() {
    awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { if (b <= 0) print "-"; else printf "%.3f", a / b }'
}

# ---- start both builds' nodes (all up for the whole run) ------------------------------------

for b in old new; do
    RF3_UP[$b]=0 RF1_UP[$b]=0
    if cluster_start "$b"; then RF3_UP[$b]=1; else status=1; fi
    URL_OF[$b]=tcp://127.0.0.1:$(free_port)
    log "$b: one node on ${URL_OF[$b]}"
    if start_node "$b" "$b-single" --listen "${URL_OF[$b]}" --publish none \
        --data "$WORK/$b-data-single"; then
        RF1_UP[$b]=1
    else
        status=1
    fi
done

# ---- alternating rounds -------------------------------------------------------------------------

log "load before the runs: $(uptime)"
for round in $(seq 1 "$ROUNDS"); do
    log "round $round of $ROUNDS ($(uptime | sed 's/.*load/load/'))"
    for mode in reserve order; do
        for rf in 3 1; do
            for b in old new; do
                livedrop_run "$b" "$rf" "$mode" "$round"
            done
        done
    done
done
log "load after the runs: $(uptime)"
for b in old new; do
    for rf in 3 1; do
        for mode in reserve order; do pick_median "$b-rf$rf-$mode"; done
    done
done
for b in old new; do
    if ((${RF3_UP[$b]})); then
        log "$b cluster at the end:"
        "$CLI_BIN" --conf "$WORK/$b-cluster.conf" cluster status >&2 || true
    fi
done
bench_stop_all

# ---- the table ----------------------------------------------------------------------------------

echo
echo "livedrop-node old ($OLD_BUILD) vs new ($NEW_BUILD): $CLIENTS clients on one hot drop," \
    "$DURATION_S s per run, median of $ROUNDS alternating rounds (old, new, old, new, ...)," \
    "$(nproc) cores; both driven by the new livedrop-bench"
echo "build types: old ${TYPE_OF[old]}, new ${TYPE_OF[new]}; C flags" \
    "$([[ ${FLAGS_OF[old]} == "${FLAGS_OF[new]}" ]] && echo "identical (${FLAGS_OF[new]:-?})" ||
        echo "DIFFER: old '${FLAGS_OF[old]}', new '${FLAGS_OF[new]}'")"
printf '%-5s %-4s %-8s %9s %8s %8s %6s   %s\n' build rf mode ops/s "p50 ms" "p99 ms" check \
    "ops/s by round"
for rf in 3 1; do
    for mode in reserve order; do
        for b in old new; do
            key=$b-rf$rf-$mode
            if [[ -z ${OPS[$key]+set} ]]; then
                printf '%-5s %-4s %-8s %s\n' "$b" "RF=$rf" "$mode" "not run"
                continue
            fi
            printf '%-5s %-4s %-8s %9.0f %8s %8s %6s   %s\n' "$b" "RF=$rf" "$mode" \
                "${OPS[$key]}" "${P50[$key]}" "${P99[$key]}" "${CHECK[$key]}" "${ROUNDS_OF[$key]}"
        done
    done
done
echo
printf '%-4s %-8s %11s %9s %9s %11s   %s\n' rf mode "new/old ops" "new/old" "new/old" \
    "new beat" "paired new/old ops/s"
printf '%-4s %-8s %11s %9s %9s %11s   %s\n' "" "" "(medians)" "p50" "p99" "old (ops/s)" \
    "by round"
for rf in 3 1; do
    for mode in reserve order; do
        o=old-rf$rf-$mode n=new-rf$rf-$mode wins=0 runs=0 paired=
        for r in $(seq 1 "$ROUNDS"); do
            [[ -n ${OPS[$o-r$r]+set} && -n ${OPS[$n-r$r]+set} ]] || continue
            runs=$((runs + 1))
            awk -v a="${OPS[$n-r$r]}" -v b="${OPS[$o-r$r]}" 'BEGIN { exit !(a > b) }' &&
                wins=$((wins + 1))
            paired+="$(ratio3 "${OPS[$n-r$r]}" "${OPS[$o-r$r]}") "
        done
        printf '%-4s %-8s %11s %9s %9s %11s   %s\n' "RF=$rf" "$mode" \
            "$(ratio3 "${OPS[$n]:-0}" "${OPS[$o]:-0}")" "$(ratio3 "${P50[$n]:-0}" "${P50[$o]:-0}")" \
            "$(ratio3 "${P99[$n]:-0}" "${P99[$o]:-0}")" "$wins of $runs" "${paired% }"
    done
done
# idle_pct BUILD: CPU BUILD's (idle) nodes used while the other build ran, in % of one core.
idle_pct() {
    awk -v t="${IDLE_TICKS[$1]:-0}" -v s="${RUN_S[$1]:-0}" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { p = 0; if (s > 0) p = 100 * t / hz / s; printf "%.1f%%", p }'
}
echo "(ops > 1: new faster; p50/p99 < 1: new quicker. CPU of the idle build's nodes while the" \
    "other build ran: old $(idle_pct old), new $(idle_pct new) of one core)"
exit "$status"
