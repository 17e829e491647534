/*
 * nemesis.c -- the fault schedule, on the main thread.
 *
 * One fault at a time, so that never more than one node of three (a minority) is down, paused or
 * wiped-and-not-yet-caught-up: quiet for a while, then one fault on one node (half the time the
 * current primary), held for a while, then healed; the next fault comes only once the healed node
 * reports normal status again (PRIMARY or BACKUP) and, after a wipe, has applied every op the
 * cluster had committed when it was restarted. Gaps and holds are drawn from the seed around
 * --interval-ms; kinds and targets too. The seed fixes the schedule's choices, not the cluster's
 * timing, so a run is not replayed exactly (the simulator in tests/sim is the replayable one).
 * Every action is a "nemesis" record in the history.
 */
#include <string.h>

#include "chaos.h"
#include "run.h"

static const char *const kind_names[3] = {"kill", "pause", "wipe"};

/* Counts nodes that are down, paused or recovering (for the minority assertion). */
static int impaired;

static bool
normal_role(const ldc_status *st)
{
    return st->ok && (st->r.role == LD_ROLE_PRIMARY || st->r.role == LD_ROLE_BACKUP);
}

/* Records and restarts nodes that exited without a fault (a crash is a finding: it is kept in
 * the history and reported). */
static void
watch_crashes(ldc_run *run)
{
    for (int i = 0; i < LDC_NODES; i++) {
        char why[128];
        if (!ldc_node_exited(&run->cluster, i, why, sizeof why))
            continue;
        atomic_fetch_add(&run->crashes, 1);
        fprintf(stderr, "livedrop-chaos: node %d %s without a fault (see %s)\n", i + 1, why,
                run->cluster.nodes[i].log_path);
        (void)ldc_hist_add(&run->hist,
                           "\"type\":\"nemesis\",\"op\":\"crash\",\"node\":%d,"
                           "\"detail\":\"%s\"",
                           i + 1, why);
    }
}

/* Waits ms (bounded by end_ms), watching for crashes every LDC_POLL_MS * 5. */
static void
hold(ldc_run *run, int64_t ms, int64_t end_ms)
{
    int64_t until = ldc_mono_ms() + ms;
    if (until > end_ms)
        until = end_ms;
    while (ldc_mono_ms() < until) {
        watch_crashes(run);
        int64_t left = until - ldc_mono_ms();
        ldc_sleep_ms(left < 100 ? left : 100);
    }
}

/* The highest commit any running node reports (what a caught-up node must have applied). */
static uint64_t
cluster_commit(const ldc_run *run)
{
    uint64_t top = 0;
    for (int i = 0; i < LDC_NODES; i++) {
        ldc_status st = ldc_cluster_status(&run->cluster, i);
        if (st.ok && st.r.commit > top)
            top = st.r.commit;
    }
    return top;
}

/* Polls until node i reports normal status with applied >= min_applied. */
static bool
wait_recovered(ldc_run *run, int i, uint64_t min_applied, char *err, size_t err_size)
{
    int64_t t0 = ldc_mono_ms(), deadline = t0 + LDC_RECOVER_MS;
    for (;;) {
        ldc_status st = ldc_cluster_status(&run->cluster, i);
        if (normal_role(&st) && st.r.applied >= min_applied) {
            (void)ldc_hist_add(&run->hist,
                               "\"type\":\"nemesis\",\"op\":\"recovered\",\"node\":%d,"
                               "\"role\":\"%s\",\"applied\":%llu,\"ms\":%lld",
                               i + 1, ld_replica_role_name(st.r.role),
                               (unsigned long long)st.r.applied, (long long)(ldc_mono_ms() - t0));
            return true;
        }
        if (ldc_mono_ms() >= deadline) {
            snprintf(err, err_size,
                     "node %d did not come back within %d ms (normal status and applied >= %llu; "
                     "see %s)",
                     i + 1, LDC_RECOVER_MS, (unsigned long long)min_applied,
                     run->cluster.nodes[i].log_path);
            (void)ldc_hist_add(&run->hist,
                               "\"type\":\"note\",\"what\":\"node %d not recovered "
                               "within %d ms\"",
                               i + 1, LDC_RECOVER_MS);
            return false;
        }
        ldc_sleep_ms(LDC_POLL_MS);
    }
}

bool
ldc_heal_all(ldc_run *run, char *err, size_t err_size)
{
    /* A healed node counts as impaired until it has applied what the cluster had committed
     * when it came back: a wiped one holds nothing before that, and must not count as a copy. */
    uint64_t min_applied[LDC_NODES] = {0};
    bool healed[LDC_NODES] = {false};
    for (int i = 0; i < LDC_NODES; i++) {
        ldc_node *n = &run->cluster.nodes[i];
        if (n->paused) {
            min_applied[i] = cluster_commit(run);
            ldc_node_resume(&run->cluster, i);
            (void)ldc_hist_add(&run->hist, "\"type\":\"nemesis\",\"op\":\"continue\",\"node\":%d",
                               i + 1);
            healed[i] = true;
        } else if (n->pid == 0) {
            min_applied[i] = cluster_commit(run);
            if (!ldc_node_start(&run->cluster, i, err, err_size))
                return false;
            (void)ldc_hist_add(&run->hist, "\"type\":\"nemesis\",\"op\":\"restart\",\"node\":%d",
                               i + 1);
            healed[i] = true;
        }
    }
    bool ok = true;
    for (int i = 0; i < LDC_NODES && ok; i++)
        if (healed[i])
            ok = wait_recovered(run, i, min_applied[i], err, err_size);
    /* Every node is running and reports normal status: none is impaired any more. */
    impaired = 0;
    return ok;
}

/* Injects one fault of kind k (index into kind_names) on node i. */
static bool
inject(ldc_run *run, int k, int i, bool is_primary, char *err, size_t err_size)
{
    LDC_ASSERT(impaired == 0); /* the minority rule: one impaired node of three at most */
    if (k == 0)
        ldc_node_kill(&run->cluster, i);
    else if (k == 1)
        ldc_node_pause(&run->cluster, i);
    else if (!ldc_node_wipe(&run->cluster, i, err, err_size))
        return false;
    impaired = 1;
    (void)ldc_hist_add(&run->hist,
                       "\"type\":\"nemesis\",\"op\":\"%s\",\"node\":%d,"
                       "\"primary\":%s",
                       kind_names[k], i + 1, is_primary ? "true" : "false");
    fprintf(stderr, "livedrop-chaos: t=%llds %s node %d%s\n",
            (long long)((ldc_mono_ms() - run->t0_ms) / 1000), kind_names[k], i + 1,
            is_primary ? " (the primary)" : "");
    return true;
}

bool
ldc_nemesis_run(ldc_run *run, char *err, size_t err_size)
{
    uint64_t rng = ldc_mix(run->o.seed ^ 0x6e656d65ULL);
    int kinds[3], nkinds = 0;
    for (int k = 0; k < 3; k++)
        if (run->o.faults & (1u << k))
            kinds[nkinds++] = k;
    int64_t end_ms = run->t0_ms + (int64_t)run->o.time_s * 1000;
    int64_t mean = run->o.interval_ms;
    while (ldc_mono_ms() < end_ms) {
        hold(run, ldc_rand_range(&rng, mean / 2, mean * 3 / 2), end_ms);
        if (ldc_mono_ms() >= end_ms || nkinds == 0)
            continue;
        int k = kinds[ldc_rand_range(&rng, 0, nkinds - 1)];
        bool at_primary = ldc_rand(&rng) & 1;
        int target = (int)ldc_rand_range(&rng, 0, LDC_NODES - 1);
        int primary = at_primary ? ldc_cluster_primary(&run->cluster) : -1;
        if (primary >= 0)
            target = primary;
        if (!inject(run, k, target, target == primary, err, err_size))
            return false;
        hold(run, ldc_rand_range(&rng, mean / 2, mean * 3 / 2), end_ms);
        if (!ldc_heal_all(run, err, err_size))
            return false;
    }
    return true;
}
