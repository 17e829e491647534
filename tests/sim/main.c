/*
 * main.c -- livedrop-sim, the deterministic simulator's command line.
 *
 *   livedrop-sim --seeds N [--first-seed S] [--rf 1|3|5] [--stop-on-failure]
 *       runs seeds S..S+N-1 and prints one summary (and the report of each failing seed);
 *   livedrop-sim --seed S [--rf K] [--trace]
 *       runs one seed; --trace prints every event as it happens;
 *   livedrop-sim --self-test
 *       checks the simulator's own pieces (PRNG vectors, the S1 check on a planted divergence
 *       and on a lost apply, same seed -> same trace hash).
 * Exit status 0 only if every seed passed. An assertion inside the code under test (LD_ASSERT
 * in shard/, e.g. ld_sm_check) aborts: the handler prints the seed's trace before dying.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

static volatile uint64_t g_seed;

static void
on_abort(int sig)
{
    (void)sig;
    /* Not async-signal-safe, but the process is dying anyway and the trace is what we need. */
    fprintf(stderr, "---- seed %" PRIu64 " aborted (assertion above); last events:\n", g_seed);
    sim_world *w = sim_current;
    if (w != NULL)
        sim_trace_dump(&w->trace, stderr, LD_SIM_TRACE_PRINT);
    fprintf(stderr, "seed %" PRIu64 ": FAILED assert at t=%" PRId64 " ms (see the assertion)\n",
            g_seed, w != NULL ? w->t : -1);
    fflush(stderr);
    _exit(3);
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
planted(void)
{
#if defined(LD_PLANT_BUG_COMMIT_EARLY)
    return " [planted bug: COMMIT_EARLY]";
#elif defined(LD_PLANT_BUG_ACK_EARLY)
    return " [planted bug: ACK_EARLY]";
#elif defined(LD_PLANT_BUG_DVC_PICK)
    return " [planted bug: DVC_PICK]";
#else
    return "";
#endif
}

static sim_world *
run_seed(uint64_t seed, uint32_t rf, bool trace, uint64_t *hash_out)
{
    sim_params p;
    sim_params_draw(seed, rf, &p);
    g_seed = seed;
    sim_world *w = sim_world_run(&p, trace, stdout);
    if (hash_out != NULL)
        *hash_out = w->trace.hash ^ w->trace.count;
    return w;
}

static int
self_test(void)
{
    int bad = 0;
    /* splitmix64's published first outputs for state 0 */
    uint64_t st = 0;
    uint64_t a = sim_splitmix64(&st), b = sim_splitmix64(&st);
    if (a != 0xE220A8397B1DCDAFull || b != 0x6E789E6AA1B965F4ull) {
        fprintf(stderr, "self-test: splitmix64 vectors differ: %016" PRIx64 " %016" PRIx64 "\n", a,
                b);
        bad++;
    }
    sim_rng r1, r2, r3;
    sim_rng_seed(&r1, 42);
    sim_rng_seed(&r2, 42);
    sim_rng_seed(&r3, 43);
    bool same = true, differ = false;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sim_rng_next(&r1), y = sim_rng_next(&r2), z = sim_rng_next(&r3);
        same = same && x == y;
        differ = differ || x != z;
        int64_t v = sim_rng_range(&r1, -3, 3);
        (void)sim_rng_range(&r2, -3, 3);
        if (v < -3 || v > 3) {
            fprintf(stderr, "self-test: range out of bounds: %" PRId64 "\n", v);
            bad++;
            break;
        }
    }
    if (!same || !differ) {
        fprintf(stderr, "self-test: xoshiro256** is not a function of its seed\n");
        bad++;
    }
    /* The checks bite: a genuine S1 divergence fails, a lost (never durable) apply does not. */
    bad += sim_self_test_checks(stderr);
    /* Same seed, same trace; another seed, another trace. */
    uint64_t h1, h2, h3;
    sim_world *w = run_seed(7, 3, false, &h1);
    bool ok1 = !w->failed;
    uint64_t n1 = w->trace.count;
    sim_world_free(w);
    w = run_seed(7, 3, false, &h2);
    uint64_t n2 = w->trace.count;
    sim_world_free(w);
    w = run_seed(8, 3, false, &h3);
    sim_world_free(w);
    if (!ok1) {
        fprintf(stderr, "self-test: seed 7 failed (run livedrop-sim --seed 7 --rf 3 --trace)\n");
        bad++;
    }
    if (h1 != h2 || n1 != n2) {
        fprintf(stderr,
                "self-test: seed 7 twice gave two traces (%" PRIu64 " vs %" PRIu64
                " events): the run depends on something besides the seed\n",
                n1, n2);
        bad++;
    }
    if (h1 == h3) {
        fprintf(stderr, "self-test: seeds 7 and 8 gave the same trace\n");
        bad++;
    }
    if (n1 < 500) { /* a run that did something: faults, view changes, clients */
        fprintf(stderr, "self-test: seed 7 logged only %" PRIu64 " events\n", n1);
        bad++;
    }
    printf("livedrop-sim self-test: %s (trace of seed 7: %" PRIu64 " events, hash %016" PRIx64
           ")\n",
           bad ? "FAILED" : "ok", n1, h1);
    return bad ? 1 : 0;
}

static void
usage(void)
{
    fprintf(stderr, "usage: livedrop-sim --seeds N [--first-seed S] [--rf 1|3|5] "
                    "[--stop-on-failure]\n"
                    "       livedrop-sim --seed S [--rf 1|3|5] [--trace]\n"
                    "       livedrop-sim --self-test\n");
}

static bool
parse_u64(const char *s, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 0);
    if (s[0] == '\0' || s[0] == '-' || end == NULL || *end != '\0')
        return false;
    *out = v;
    return true;
}

int
main(int argc, char **argv)
{
    uint64_t seeds = 0, first = 1, one = 0, rf = 0;
    bool have_one = false, trace = false, stop = false, self = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(a, "--seeds") == 0 && has_val && parse_u64(argv[i + 1], &seeds)) {
            i++;
        } else if (strcmp(a, "--first-seed") == 0 && has_val && parse_u64(argv[i + 1], &first)) {
            i++;
        } else if (strcmp(a, "--seed") == 0 && has_val && parse_u64(argv[i + 1], &one)) {
            have_one = true;
            i++;
        } else if (strcmp(a, "--rf") == 0 && has_val && parse_u64(argv[i + 1], &rf) &&
                   (rf == 1 || rf == 3 || rf == 5)) {
            i++;
        } else if (strcmp(a, "--trace") == 0) {
            trace = true;
        } else if (strcmp(a, "--stop-on-failure") == 0) {
            stop = true;
        } else if (strcmp(a, "--self-test") == 0) {
            self = true;
        } else {
            usage();
            return 2;
        }
    }
    signal(SIGABRT, on_abort);
    if (self)
        return self_test();
    if (have_one) {
        seeds = 1;
        first = one;
    }
    if (seeds == 0) {
        usage();
        return 2;
    }
    double t0 = now_s();
    uint64_t failures = 0, ran = 0;
    sim_stats total;
    memset(&total, 0, sizeof total);
    for (uint64_t s = first; s < first + seeds; s++) {
        sim_world *w = run_seed(s, (uint32_t)rf, trace, NULL);
        ran++;
        if (w->failed || have_one) {
            sim_world_report(w, w->failed ? stderr : stdout);
            if (w->failed) {
                failures++;
                printf("FAILED seed %" PRIu64 " check %s: %s\n", s, w->check, w->why);
            }
        }
        total.ops_committed += w->stats.ops_committed;
        total.requests_acked += w->stats.requests_acked;
        total.view_changes += w->stats.view_changes;
        total.state_transfers += w->stats.state_transfers;
        total.repairs += w->stats.repairs;
        total.crashes += w->stats.crashes;
        total.wipes += w->stats.wipes;
        total.partitions += w->stats.partitions;
        total.messages += w->stats.messages;
        total.sim_ms += w->stats.sim_ms;
        total.storms += w->stats.storms;
        total.caught_up += w->stats.caught_up;
        if (w->stats.caught_up > 0) {
            total.catchup_ms += w->stats.catchup_ms;
            if (w->stats.catchup_ms > total.catchup_ms_max)
                total.catchup_ms_max = w->stats.catchup_ms;
        }
        if (w->stats.storm_gap_max > total.storm_gap_max)
            total.storm_gap_max = w->stats.storm_gap_max;
        bool failed = w->failed;
        sim_world_free(w);
        if (failed && stop)
            break;
    }
    double wall = now_s() - t0;
    printf("livedrop-sim%s: %" PRIu64 " seeds from %" PRIu64 ", %" PRIu64 " failed, %.2f s wall; "
           "ops committed %" PRIu64 ", requests acked %" PRIu64 ", view changes %" PRIu64
           ", state transfers %" PRIu64 ", repairs %" PRIu64 ", crashes %" PRIu64 ", wipes %" PRIu64
           ", partitions %" PRIu64 ", messages %" PRIu64 ", simulated %.1f s\n",
           planted(), ran, first, failures, wall, total.ops_committed, total.requests_acked,
           total.view_changes, total.state_transfers, total.repairs, total.crashes, total.wipes,
           total.partitions, total.messages, (double)total.sim_ms / 1000.0);
    if (total.storms > 0)
        printf("storms %" PRIu64 ": wiped backup whole again in %" PRIu64 " (catch-up after its "
               "restart: mean %.0f ms, max %" PRId64 " ms; largest gap behind the primary %" PRIu64
               " ops)\n",
               total.storms, total.caught_up,
               total.caught_up > 0 ? (double)total.catchup_ms / (double)total.caught_up : 0.0,
               total.catchup_ms_max, total.storm_gap_max);
    return failures == 0 ? 0 : 1;
}
