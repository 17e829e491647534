/*
 * run.h -- one chaos run: its options and the state its three parts share (the client threads
 * of workload.c, the nemesis of nemesis.c on the main thread, the final read of final.c).
 */
#ifndef LDC_RUN_H
#define LDC_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chaos_limits.h"
#include "cluster.h"
#include "history.h"
#include "livedrop.h"

enum { LDC_FAULT_KILL = 1u << 0, LDC_FAULT_PAUSE = 1u << 1, LDC_FAULT_WIPE = 1u << 2 };

typedef struct ldc_opts {
    char dir[LDC_PATH_BYTES_MAX]; /* empty: mkdtemp */
    char node_bin[LDC_PATH_BYTES_MAX];
    uint64_t seed;
    bool seed_given;
    uint32_t time_s, clients, stock, rate, qty_max, interval_ms, call_timeout_ms;
    uint32_t slow_pct, declined_pct; /* orders paid with pm_card_slow / pm_card_declined */
    unsigned faults;                 /* LDC_FAULT_* */
    bool keep_data;
} ldc_opts;

/* One acknowledged order, kept for the final recheck (place_order again with its key). */
typedef struct ldc_acked {
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    ld_id user;
    int64_t qty;
    const char *pm; /* payment method: the recheck must send the same body */
    ld_id order;
} ldc_acked;

typedef struct ldc_run {
    ldc_opts o;
    ldc_cluster cluster;
    ldc_hist hist;
    ld_id drop_id;
    char drop_hex[33];
    int64_t t0_ms;             /* ldc_mono_ms() when the workload started */
    atomic_bool stop_new;      /* no new logical orders after this */
    atomic_llong drain_end_ms; /* unresolved same-key retries give up at this time */
    atomic_uint started;       /* logical orders started (the rate limiter's ticket) */
    pthread_mutex_t acked_mu;
    ldc_acked *acked; /* LDC_KEYS_MAX */
    uint32_t acked_n;
    atomic_uint crashes; /* nodes that exited without a fault */
} ldc_run;

/* workload.c: creates the drop (LD_OK or a reason), starts / joins the client threads.
 * Thread: main. */
bool ldc_workload_setup(ldc_run *run, char *err, size_t err_size);
bool ldc_workload_start(ldc_run *run, pthread_t *threads, char *err, size_t err_size);
void ldc_workload_join(ldc_run *run, pthread_t *threads);

/* nemesis.c: runs the fault schedule until the run's time is up, then heals every node and
 * waits until each is back in normal status. false (reason in err) when a node would not come
 * back. Thread: main. */
bool ldc_nemesis_run(ldc_run *run, char *err, size_t err_size);
/* Restarts / continues every node and waits (LDC_RECOVER_MS) until each reports normal status.
 * Thread: main. */
bool ldc_heal_all(ldc_run *run, char *err, size_t err_size);

/* final.c: the final read, written to final_path. Returns false only for an I/O error on the
 * file; an incomplete read is written as such ("complete": false) for the checker to judge.
 * Thread: main. */
bool ldc_final_read(ldc_run *run, const char *final_path, char *err, size_t err_size);

/* selftest.c: planted histories through the checker. Returns the exit status. */
int ldc_self_test(void);

/* A splitmix64 step (seeding) and an xorshift64* generator. Thread: any (one state each). */
uint64_t ldc_mix(uint64_t x);
uint64_t ldc_rand(uint64_t *state);
/* Uniform in [lo, hi]. */
int64_t ldc_rand_range(uint64_t *state, int64_t lo, int64_t hi);

#endif /* LDC_RUN_H */
