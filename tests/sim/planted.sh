#!/usr/bin/env bash
# planted.sh -- proves that the simulator's checks bite: for each planted replication bug
# (shard/repl/CMakeLists.txt, proto/REPLICATION.md §10) it configures its own build directory
# build-plant-<bug>/ with -DLD_PLANT_BUG_<BUG>=ON -DLD_BUILD_TESTS=ON, builds only the
# livedrop-sim target, runs the CI seed count (seeds 1..N, the same seeds the plain build's ctest
# runs, tests/sim/CMakeLists.txt LD_SIM_CI_SEEDS) and EXPECTS a failure. For each bug it prints
# the first failing seed, the check that caught it and how many seeds that took; when that
# check is S7 (liveness) it also runs on to the first safety catch (S1..S6) and reports it.
#
# Usage: tests/sim/planted.sh [--seeds N] [--jobs N] [BUG...]
#   BUG: COMMIT_EARLY, ACK_EARLY, DVC_PICK (the replica), RELEASE_EARLY (the host core's turn:
#   its effects leave before its write); default: all four.
# Exit status 0 only if every bug was caught within the seeds; 1 if one was not (or a build
# failed). A run stops at the first failing seed (--stop-on-failure), so a caught bug costs only
# the seeds up to it. Logs: build-plant-<bug>/planted.log.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SEEDS=$(sed -n 's/^set(LD_SIM_CI_SEEDS \([0-9][0-9]*\).*/\1/p' "$ROOT/tests/sim/CMakeLists.txt")
JOBS=2
BUGS=()
while (($# > 0)); do
    case "$1" in
    --seeds) SEEDS=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    COMMIT_EARLY | ACK_EARLY | DVC_PICK | RELEASE_EARLY) BUGS+=("$1"); shift ;;
    *) echo "planted: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
((${#BUGS[@]} > 0)) || BUGS=(COMMIT_EARLY ACK_EARLY DVC_PICK RELEASE_EARLY)
if [[ -z $SEEDS ]]; then
    echo "planted: no LD_SIM_CI_SEEDS in tests/sim/CMakeLists.txt" >&2
    exit 2
fi

T0=$(date +%s)
rows=()
missed=0
for bug in "${BUGS[@]}"; do
    lower=$(tr '[:upper:]' '[:lower:]' <<<"$bug")
    dir=$ROOT/build-plant-$lower
    log=$dir/planted.log
    t_bug=$(date +%s)
    echo "---- planted bug $bug: build in ${dir#"$ROOT"/}"
    mkdir -p "$dir"
    if ! cmake -S "$ROOT" -B "$dir" -DLD_PLANT_BUG_"$bug"=ON -DLD_BUILD_TESTS=ON \
        >"$dir/configure.log" 2>&1 ||
        ! cmake --build "$dir" -j"$JOBS" --target livedrop-sim >"$dir/build.log" 2>&1; then
        tail -n 30 "$dir/configure.log" "$dir/build.log" 2>/dev/null || true
        rows+=("$bug|build failed|-|-|-|$(($(date +%s) - t_bug))")
        missed=$((missed + 1))
        continue
    fi
    # First catch: seeds 1..N, stopping at the first failing seed. If that check is S7 (liveness)
    # the runs go on from the next seed to the first safety catch (S1..S6), reported as well.
    seed="" check="" why="" safe_seed="" safe_check="" safe_why="" rc=0
    first=1
    while ((first <= SEEDS)); do
        rc=0
        "$dir/tests/sim/livedrop-sim" --seeds "$((SEEDS - first + 1))" --first-seed "$first" \
            --stop-on-failure >"$log" 2>&1 || rc=$?
        s="" c="" y=""
        # A failing seed prints "FAILED seed S check C: why"; an assertion in the code under
        # test aborts with "seed S: FAILED assert at ...".
        line=$(grep -m1 -E '^FAILED seed [0-9]+ check ' "$log" || true)
        if [[ -n $line ]]; then
            s=$(sed -E 's/^FAILED seed ([0-9]+) check .*/\1/' <<<"$line")
            c=$(sed -E 's/^FAILED seed [0-9]+ check ([^:]+):.*/\1/' <<<"$line")
            y=$(sed -E 's/^FAILED seed [0-9]+ check [^:]+: //' <<<"$line")
        else
            line=$(grep -m1 -E '^seed [0-9]+: FAILED assert' "$log" || true)
            if [[ -n $line ]]; then
                s=$(sed -E 's/^seed ([0-9]+): .*/\1/' <<<"$line")
                c=assert
                y=$(grep -m1 "assertion failed at" "$log" | head -c 200 || true)
            fi
        fi
        [[ -n $s ]] || break
        if [[ -z $seed ]]; then
            seed=$s check=$c why=$y
            cp "$log" "$dir/planted-first.log"
        fi
        if [[ $c != S7 ]]; then
            safe_seed=$s safe_check=$c safe_why=$y
            break
        fi
        first=$((s + 1))
    done
    secs=$(($(date +%s) - t_bug))
    if [[ -z $seed ]]; then
        echo "planted: $bug was NOT caught in $SEEDS seeds (livedrop-sim exit $rc):"
        tail -n 5 "$log"
        rows+=("$bug|NOT CAUGHT|-|$SEEDS|-|$secs")
        missed=$((missed + 1))
        continue
    fi
    echo "caught: seed $seed, check $check: $why"
    echo "  reproduce: ${dir#"$ROOT"/}/tests/sim/livedrop-sim --seed $seed --trace"
    if [[ $check == S7 ]]; then
        if [[ -n $safe_seed ]]; then
            echo "  first safety catch: seed $safe_seed, check $safe_check: $safe_why"
        else
            echo "  no safety check (S1..S6) failed in seeds $seed..$SEEDS: liveness only"
        fi
    fi
    rows+=("$bug|$check|$seed|$seed|${safe_check:-none} ${safe_seed:+(seed $safe_seed)}|$secs")
done

printf '\nplanted bugs, %s CI seeds each (seeds 1..%s):\n' "$SEEDS" "$SEEDS"
printf '  %-13s %-10s %-11s %-13s %-22s %s\n' bug "caught by" "first seed" "seeds needed" \
    "first safety (S1-S6)" "build+run s"
for row in "${rows[@]}"; do
    IFS='|' read -r b c s n f t <<<"$row"
    printf '  %-13s %-10s %-11s %-13s %-22s %s\n' "$b" "$c" "$s" "$n" "$f" "$t"
done
printf 'planted: %d of %d bugs caught in %ss\n' "$((${#BUGS[@]} - missed))" "${#BUGS[@]}" \
    "$(($(date +%s) - T0))"
((missed == 0))
