/*
 * main.c -- livedrop-chaos: options, and one chaos run from start to verdict.
 *
 *   livedrop-chaos [OPTIONS]            a run: cluster, workload + nemesis, heal, final read, check
 *   livedrop-chaos check HISTORY [FINAL] re-check a saved run offline
 *   livedrop-chaos --self-test          planted bad histories must each FAIL
 *
 * Exit status: 0 PASS, 1 FAIL, 2 usage error, 3 the harness could not run (a node would not
 * start, a file could not be written). jepsen-like/README.md is the manual.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chaos.h"
#include "check.h"
#include "run.h"

static void
usage(FILE *f)
{
    fprintf(
        f,
        "Usage: livedrop-chaos [OPTIONS]\n"
        "       livedrop-chaos check HISTORY [FINAL]\n"
        "       livedrop-chaos --self-test\n"
        "\n"
        "Starts a 3-node livedrop cluster (RF 3) on free loopback ports, runs client threads\n"
        "placing orders for one drop while a seeded nemesis kills (-9), pauses (SIGSTOP) and\n"
        "wipes one node at a time, heals everything, reads the final state from the primary\n"
        "and every replica, and checks the history: no oversell, no acknowledged order lost,\n"
        "no order doubled, indeterminate calls counted at most once. Prints PASS or FAIL.\n"
        "\n"
        "Options:\n"
        "  --dir DIR            run directory (created; default: a new /tmp/livedrop-chaos-*)\n"
        "                       holds history.jsonl, final.jsonl, cluster.conf, N.log\n"
        "  --seed N             seed of the schedule, users and quantities (default random)\n"
        "  --time S             seconds of workload and faults, 1..%u (default 30)\n"
        "  --clients N          client threads, 1..%u (default 8)\n"
        "  --stock N            units of the drop, 1..%d (default 200)\n"
        "  --rate N             orders started per second, all clients, 1..%u (default 10)\n"
        "  --slow-pct N         percent of orders paid with pm_card_slow (approved after %u ms)\n"
        "                       (default 0)\n"
        "  --declined-pct N     percent of orders paid with pm_card_declined (default 0)\n"
        "  --qty-max N          units per order, drawn in 1..N, N in 1..%d (default 2)\n"
        "  --faults LIST        comma-separated kinds among kill,pause,wipe, or none\n"
        "                       (default kill,pause,wipe)\n"
        "  --interval-ms N      mean quiet time between faults and mean hold of a fault,\n"
        "                       %u..%u (default 3000)\n"
        "  --call-timeout-ms N  deadline of one client call, 1000..600000 (default %u)\n"
        "  --node-bin PATH      livedrop-node (default $LD_NODE_BIN, else ../node/livedrop-node\n"
        "                       next to this program, else livedrop-node on PATH)\n"
        "  --keep-data          keep the nodes' data directories after a PASS\n"
        "  --self-test          run the checker on planted bad histories; each must FAIL\n"
        "  -h, --help           this help\n"
        "\n"
        "Exit status: 0 PASS, 1 FAIL, 2 usage error, 3 the harness could not run.\n",
        LDC_TIME_S_MAX, LDC_CLIENTS_MAX, LDC_STOCK_MAX, LDC_RATE_MAX, LDC_PAYMENT_SLOW_MS,
        LDC_QTY_MAX, LDC_INTERVAL_MS_MIN, LDC_INTERVAL_MS_MAX, LDC_CALL_TIMEOUT_MS_DEFAULT);
}

static bool
parse_u64(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = v && *v && *v != '-' ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || *v == '-' || errno != 0 || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "livedrop-chaos: %s: expected an integer in %llu..%llu, got '%s'\n", opt,
                (unsigned long long)lo, (unsigned long long)hi, v ? v : "");
        return false;
    }
    *out = x;
    return true;
}

static bool
parse_faults(const char *v, unsigned *out)
{
    static const char *const names[3] = {"kill", "pause", "wipe"};
    *out = 0;
    if (strcmp(v, "none") == 0)
        return true;
    char buf[128];
    if (strlen(v) >= sizeof buf || !*v)
        goto bad;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        int k = 0;
        while (k < 3 && strcmp(tok, names[k]) != 0)
            k++;
        if (k == 3)
            goto bad;
        *out |= 1u << k;
    }
    if (*out)
        return true;
bad:
    fprintf(stderr,
            "livedrop-chaos: --faults: expected kinds among kill,pause,wipe separated by "
            "commas, or none; got '%s'\n",
            v);
    return false;
}

/* Parses argv into o. Returns -1 to go on, else an exit status. */
static int
parse_opts(int argc, char **argv, ldc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->time_s = 30;
    o->clients = 8;
    o->stock = 200;
    o->rate = 10;
    o->qty_max = 2;
    o->interval_ms = 3000;
    o->call_timeout_ms = LDC_CALL_TIMEOUT_MS_DEFAULT;
    o->faults = LDC_FAULT_KILL | LDC_FAULT_PAUSE | LDC_FAULT_WIPE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--self-test") == 0)
            return ldc_self_test();
        if (strcmp(a, "--keep-data") == 0) {
            o->keep_data = true;
            continue;
        }
        static const char *const with_value[] = {"--dir",          "--seed",
                                                 "--time",         "--clients",
                                                 "--stock",        "--rate",
                                                 "--qty-max",      "--faults",
                                                 "--interval-ms",  "--call-timeout-ms",
                                                 "--node-bin",     "--slow-pct",
                                                 "--declined-pct", NULL};
        int w = 0;
        while (with_value[w] && strcmp(with_value[w], a) != 0)
            w++;
        if (!with_value[w]) {
            fprintf(stderr, "livedrop-chaos: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "livedrop-chaos: %s needs a value (see --help)\n", a);
            return 2;
        }
        const char *v = argv[++i];
        uint64_t x = 0;
        bool ok = true;
        if (strcmp(a, "--dir") == 0 || strcmp(a, "--node-bin") == 0) {
            char *dst = a[2] == 'd' ? o->dir : o->node_bin;
            if (!*v || strlen(v) >= LDC_PATH_BYTES_MAX - 64) {
                fprintf(stderr, "livedrop-chaos: %s: a path of 1..%u bytes\n", a,
                        LDC_PATH_BYTES_MAX - 65);
                return 2;
            }
            snprintf(dst, LDC_PATH_BYTES_MAX, "%s", v);
        } else if (strcmp(a, "--seed") == 0) {
            ok = parse_u64(a, v, 0, UINT64_MAX, &o->seed);
            o->seed_given = true;
        } else if (strcmp(a, "--faults") == 0) {
            ok = parse_faults(v, &o->faults);
        } else if (strcmp(a, "--time") == 0 && (ok = parse_u64(a, v, 1, LDC_TIME_S_MAX, &x))) {
            o->time_s = (uint32_t)x;
        } else if (strcmp(a, "--clients") == 0 && (ok = parse_u64(a, v, 1, LDC_CLIENTS_MAX, &x))) {
            o->clients = (uint32_t)x;
        } else if (strcmp(a, "--stock") == 0 && (ok = parse_u64(a, v, 1, LDC_STOCK_MAX, &x))) {
            o->stock = (uint32_t)x;
        } else if (strcmp(a, "--rate") == 0 && (ok = parse_u64(a, v, 1, LDC_RATE_MAX, &x))) {
            o->rate = (uint32_t)x;
        } else if (strcmp(a, "--slow-pct") == 0 && (ok = parse_u64(a, v, 0, 100, &x))) {
            o->slow_pct = (uint32_t)x;
        } else if (strcmp(a, "--declined-pct") == 0 && (ok = parse_u64(a, v, 0, 100, &x))) {
            o->declined_pct = (uint32_t)x;
        } else if (strcmp(a, "--qty-max") == 0 && (ok = parse_u64(a, v, 1, LDC_QTY_MAX, &x))) {
            o->qty_max = (uint32_t)x;
        } else if (strcmp(a, "--interval-ms") == 0 &&
                   (ok = parse_u64(a, v, LDC_INTERVAL_MS_MIN, LDC_INTERVAL_MS_MAX, &x))) {
            o->interval_ms = (uint32_t)x;
        } else if (strcmp(a, "--call-timeout-ms") == 0 &&
                   (ok = parse_u64(a, v, 1000, 600000, &x))) {
            o->call_timeout_ms = (uint32_t)x;
        }
        if (!ok)
            return 2;
    }
    if (o->slow_pct + o->declined_pct > 100) {
        fprintf(stderr, "livedrop-chaos: --slow-pct %u + --declined-pct %u is more than 100\n",
                o->slow_pct, o->declined_pct);
        return 2;
    }
    return -1;
}

/* The node binary: --node-bin, $LD_NODE_BIN, ../node/livedrop-node beside this program, PATH. */
static bool
find_node_bin(ldc_opts *o)
{
    if (!o->node_bin[0]) {
        const char *env = getenv("LD_NODE_BIN");
        char self[LDC_PATH_BYTES_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 32);
        if (env && *env) {
            snprintf(o->node_bin, sizeof o->node_bin, "%s", env);
        } else if (n > 0) {
            self[n] = '\0';
            char *slash = strrchr(self, '/');
            if (slash) {
                strcpy(slash, "/../node/livedrop-node");
                if (access(self, X_OK) == 0)
                    snprintf(o->node_bin, sizeof o->node_bin, "%s", self);
            }
        }
    }
    if (!o->node_bin[0]) {
        const char *path = getenv("PATH");
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", path ? path : "");
        for (char *save = NULL, *d = strtok_r(buf, ":", &save); d && !o->node_bin[0];
             d = strtok_r(NULL, ":", &save)) {
            char cand[LDC_PATH_BYTES_MAX];
            if ((size_t)snprintf(cand, sizeof cand, "%s/livedrop-node", d) < sizeof cand &&
                access(cand, X_OK) == 0)
                snprintf(o->node_bin, sizeof o->node_bin, "%s", cand);
        }
    }
    if (!o->node_bin[0] || access(o->node_bin, X_OK) != 0) {
        fprintf(stderr,
                "livedrop-chaos: livedrop-node not found%s%s: build it, set LD_NODE_BIN "
                "or pass --node-bin\n",
                o->node_bin[0] ? " at " : "", o->node_bin);
        return false;
    }
    return true;
}

static bool
make_dir(ldc_opts *o)
{
    if (!o->dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(o->dir, sizeof o->dir, "%s/livedrop-chaos-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(o->dir)) {
            fprintf(stderr, "livedrop-chaos: mkdtemp %s: %s\n", o->dir, strerror(errno));
            return false;
        }
        return true;
    }
    if (mkdir(o->dir, 0700) != 0) {
        fprintf(stderr,
                "livedrop-chaos: --dir %s: %s (give a directory that does not exist "
                "yet)\n",
                o->dir, strerror(errno));
        return false;
    }
    return true;
}

static int
run_chaos(ldc_run *run)
{
    char err[600], hist_path[LDC_PATH_BYTES_MAX + 32], final_path[LDC_PATH_BYTES_MAX + 32];
    pthread_t threads[LDC_CLIENTS_MAX];
    snprintf(hist_path, sizeof hist_path, "%s/history.jsonl", run->o.dir);
    snprintf(final_path, sizeof final_path, "%s/final.jsonl", run->o.dir);
    if (!ldc_cluster_init(&run->cluster, run->o.dir, run->o.node_bin, err, sizeof err))
        goto out_fail;
    for (int i = 0; i < LDC_NODES; i++)
        if (!ldc_node_start(&run->cluster, i, err, sizeof err))
            goto out_fail;
    int64_t deadline = ldc_mono_ms() + LDC_PRIMARY_MS;
    while (ldc_cluster_primary(&run->cluster) < 0) {
        if (ldc_mono_ms() >= deadline) {
            snprintf(err, sizeof err, "no primary with its lease within %d ms", LDC_PRIMARY_MS);
            goto out_fail;
        }
        ldc_sleep_ms(LDC_POLL_MS);
    }
    if (!ldc_workload_setup(run, err, sizeof err))
        goto out_fail;
    if (!ldc_hist_open(&run->hist, hist_path, LDC_HISTORY_BYTES_MAX)) {
        snprintf(err, sizeof err, "cannot write %s: %s", hist_path, strerror(errno));
        goto out_fail;
    }
    char faults[32] = "";
    static const char *const names[3] = {"kill", "pause", "wipe"};
    for (int k = 0; k < 3; k++)
        if (run->o.faults & (1u << k))
            snprintf(faults + strlen(faults), sizeof faults - strlen(faults), "%s%s",
                     faults[0] ? "," : "", names[k]);
    (void)ldc_hist_add(
        &run->hist,
        "\"type\":\"run\",\"seed\":%" PRIu64 ",\"drop\":\"%s\",\"stock\":%u,"
        "\"clients\":%u,\"time_s\":%u,\"rate\":%u,\"qty_max\":%u,"
        "\"faults\":\"%s\",\"interval_ms\":%u,\"slow_pct\":%u,\"declined_pct\":%u,\"nodes\":\"%s\"",
        run->o.seed, run->drop_hex, run->o.stock, run->o.clients, run->o.time_s, run->o.rate,
        run->o.qty_max, faults[0] ? faults : "none", run->o.interval_ms, run->o.slow_pct,
        run->o.declined_pct, run->cluster.addrs);
    run->t0_ms = ldc_mono_ms();
    atomic_store(&run->drain_end_ms, INT64_MAX);
    if (!ldc_workload_start(run, threads, err, sizeof err))
        goto out_fail;
    bool nem_ok = ldc_nemesis_run(run, err, sizeof err);
    /* Time is up: no new orders; heal; unresolved keys retry until the drain deadline. */
    atomic_store(&run->stop_new, true);
    atomic_store(&run->drain_end_ms, ldc_mono_ms() + LDC_DRAIN_MS);
    if (nem_ok)
        nem_ok = ldc_heal_all(run, err, sizeof err);
    if (!nem_ok)
        fprintf(stderr, "livedrop-chaos: %s\n", err);
    ldc_workload_join(run, threads);
    fprintf(stderr, "livedrop-chaos: t=%llds workload done; final read\n",
            (long long)((ldc_mono_ms() - run->t0_ms) / 1000));
    if (!ldc_final_read(run, final_path, err, sizeof err))
        goto out_fail;
    (void)ldc_hist_add(&run->hist, "\"type\":\"end\",\"crashes\":%u", atomic_load(&run->crashes));
    if (!ldc_hist_close(&run->hist)) {
        snprintf(err, sizeof err, "writing %s failed", hist_path);
        goto out_fail;
    }
    ldc_cluster_stop(&run->cluster);
    int rc = ldc_check_files(hist_path, final_path, stdout);
    if (atomic_load(&run->crashes))
        printf("note       %u node(s) exited without a fault: see the nodes' logs\n",
               atomic_load(&run->crashes));
    printf("files      %s (history.jsonl, final.jsonl, cluster.conf, N.log)\n", run->o.dir);
    printf("replay     livedrop-chaos check %s\n", hist_path);
    if (rc == 0 && !run->o.keep_data)
        ldc_cluster_remove_data(&run->cluster);
    return rc == 0 ? 0 : rc == 1 ? 1 : 3;
out_fail:
    ldc_cluster_stop(&run->cluster);
    fprintf(stderr, "livedrop-chaos: %s\nlivedrop-chaos: files kept in %s\n", err, run->o.dir);
    return 3;
}

static int
check_cmd(int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "livedrop-chaos: usage: livedrop-chaos check HISTORY [FINAL] (FINAL "
                        "defaults to final.jsonl beside HISTORY)\n");
        return 2;
    }
    char final_path[LDC_PATH_BYTES_MAX];
    if (argc == 4) {
        snprintf(final_path, sizeof final_path, "%s", argv[3]);
    } else {
        const char *slash = strrchr(argv[2], '/');
        int dir_len = slash ? (int)(slash - argv[2] + 1) : 0;
        if (snprintf(final_path, sizeof final_path, "%.*sfinal.jsonl", dir_len, argv[2]) >=
            (int)sizeof final_path) {
            fprintf(stderr, "livedrop-chaos: path too long: %s\n", argv[2]);
            return 2;
        }
    }
    return ldc_check_files(argv[2], final_path, stdout);
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return check_cmd(argc, argv);
    static ldc_run run;
    int rc = parse_opts(argc, argv, &run.o);
    if (rc >= 0)
        return rc;
    if (!run.o.seed_given &&
        getrandom(&run.o.seed, sizeof run.o.seed, 0) != (ssize_t)sizeof run.o.seed) {
        fprintf(stderr, "livedrop-chaos: getrandom: %s\n", strerror(errno));
        return 3;
    }
    if (!find_node_bin(&run.o))
        return 3;
    if (!make_dir(&run.o))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    run.acked = calloc(LDC_KEYS_MAX, sizeof *run.acked);
    LDC_ASSERT(run.acked);
    pthread_mutex_init(&run.acked_mu, NULL);
    printf("livedrop-chaos: seed %" PRIu64 ", %u s, %u clients, stock %u, rate %u/s, dir %s\n",
           run.o.seed, run.o.time_s, run.o.clients, run.o.stock, run.o.rate, run.o.dir);
    fflush(stdout);
    rc = run_chaos(&run);
    free(run.acked);
    return rc;
}
