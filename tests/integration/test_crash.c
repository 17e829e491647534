/*
 * test_crash.c -- kill -9 during a storm: acknowledged means durable (P2), retries apply once
 * (P3), and the stock adds up after every restart (P1).
 *
 * 64 threads place orders (unique idempotency keys, qty 1..3) on a drop far too large to sell
 * out. Once N orders were acknowledged (N drawn at random), the node is killed with SIGKILL and
 * restarted on the same data directory and port. Every attempt is kept: acknowledged ones must be
 * found exactly as acknowledged; every attempt is then retried with its own key, which must give
 * back the first order (never a second one), after which the node's counters must equal the sum
 * of all keys' quantities exactly.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(crash, .fini = ldh_suite_fini, .timeout = 400);

#define CRASH_THREADS 64
#define CRASH_RETRY_THREADS 16
#define CRASH_STOCK 1000000
#define CRASH_USERS 500
#define CRASH_ACKS_MIN 50
#define CRASH_ACKS_MAX 1500
#define CRASH_CALL_TIMEOUT_MS 5000
#define CRASH_STORM_DEADLINE_MS 90000

enum { ATT_UNKNOWN = 0, ATT_ACKED = 1, ATT_REFUSED = 2 };

typedef struct crash_attempt {
    ld_id user;
    int64_t qty;
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    int state;
    ld_err err; /* last outcome */
    ld_id order_id;
} crash_attempt;

typedef struct crash_log {
    crash_attempt *v;
    size_t n, cap;
} crash_log;

static crash_attempt *
log_push(crash_log *log)
{
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->v = realloc(log->v, log->cap * sizeof *log->v);
        if (!log->v)
            abort();
    }
    crash_attempt *a = &log->v[log->n++];
    memset(a, 0, sizeof *a);
    return a;
}

typedef struct crash_shared {
    const char *url;
    ld_id drop_id;
    ld_id users[CRASH_USERS];
    atomic_long acked;
    atomic_bool stop;
    int64_t deadline_mono_ms;
} crash_shared;

typedef struct crash_thread {
    pthread_t tid;
    crash_shared *sh;
    uint64_t seed;
    crash_log log; /* this cycle's attempts */
    int bad;       /* wrong acknowledged orders or business refusals */
    char bad_msg[300];
} crash_thread;

static void *
crash_storm_main(void *arg)
{
    crash_thread *t = arg;
    crash_shared *sh = t->sh;
    ldh_rng rng;
    ldh_rng_init(&rng, t->seed);
    ld_client *client = ldh_client_try(sh->url, CRASH_CALL_TIMEOUT_MS, 0);
    if (!client) {
        t->bad++;
        snprintf(t->bad_msg, sizeof t->bad_msg, "ld_client_open failed");
        return NULL;
    }
    while (!atomic_load(&sh->stop) && ldh_mono_ms() < sh->deadline_mono_ms) {
        crash_attempt *a = log_push(&t->log);
        a->user = sh->users[ldh_rand_range(&rng, 0, CRASH_USERS - 1)];
        a->qty = ldh_rand_range(&rng, 1, 3);
        ldh_key(&rng, "crash", a->key, sizeof a->key);
        ld_order o;
        ld_errmsg msg = {{0}};
        a->err =
            ld_place_order(client, &sh->drop_id, &a->user, a->qty, a->key, "pm_card_ok", &o, &msg);
        if (a->err == LD_OK) {
            if (o.status != LD_ORDER_PAID || o.qty != a->qty) {
                if (t->bad++ == 0)
                    snprintf(t->bad_msg, sizeof t->bad_msg, "acked order status %d qty %lld",
                             (int)o.status, (long long)o.qty);
            }
            a->state = ATT_ACKED;
            a->order_id = o.id;
            atomic_fetch_add(&sh->acked, 1);
        } else if (LDH_IS_TRANSPORT(a->err)) {
            a->state = ATT_UNKNOWN; /* outcome unknown: retried after the restart */
        } else {
            a->state = ATT_REFUSED;
            if (t->bad++ == 0)
                snprintf(t->bad_msg, sizeof t->bad_msg, "place_order refused: %s (%s)",
                         ld_err_name(a->err), msg.text);
        }
    }
    ld_client_close(client);
    return NULL;
}

/* ---- after the restart: verify, then retry every key --------------------------------------- */

typedef struct retry_thread {
    pthread_t tid;
    const char *url;
    ld_id drop_id;
    crash_attempt *v;
    size_t from, to;
    bool verify_only; /* phase 1: read acknowledged orders; phase 2: retry every key */
    int bad;
    char bad_msg[300];
} retry_thread;

static void retry_fail(retry_thread *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
retry_fail(retry_thread *t, const char *fmt, ...)
{
    if (t->bad++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->bad_msg, sizeof t->bad_msg, fmt, ap);
        va_end(ap);
    }
}

static void
verify_acked(retry_thread *t, ld_client *client, const crash_attempt *a)
{
    ld_order o;
    ld_errmsg msg = {{0}};
    ld_err err = ld_order_get(client, &a->order_id, &o, &msg);
    if (err != LD_OK) {
        retry_fail(t, "acknowledged order %s (key %s) lost after kill -9: %s (%s)",
                   ldh_hex(&a->order_id), a->key, ld_err_name(err), msg.text);
        return;
    }
    if (o.status != LD_ORDER_PAID || o.qty != a->qty || !ldh_id_eq(&o.user_id, &a->user) ||
        !ldh_id_eq(&o.drop_id, &t->drop_id)) {
        retry_fail(t, "order %s after restart: status %d qty %lld (acked qty %lld)", ldh_hex(&o.id),
                   (int)o.status, (long long)o.qty, (long long)a->qty);
        return;
    }
    ld_reservation r;
    err = ld_reservation_get(client, &o.reservation_id, &r, &msg);
    if (err != LD_OK) {
        retry_fail(t, "reservation %s of order %s: %s (%s)", ldh_hex(&o.reservation_id),
                   ldh_hex(&o.id), ld_err_name(err), msg.text);
        return;
    }
    if (r.state != LD_RES_COMMITTED || !ldh_id_eq(&r.order_id, &o.id) || r.qty != a->qty)
        retry_fail(t, "reservation %s of PAID order %s is half-applied: state %d qty %lld",
                   ldh_hex(&r.id), ldh_hex(&o.id), (int)r.state, (long long)r.qty);
}

static void
retry_key(retry_thread *t, ld_client *client, crash_attempt *a)
{
    ld_order o;
    ld_errmsg msg = {{0}};
    ld_err err =
        ld_place_order(client, &t->drop_id, &a->user, a->qty, a->key, "pm_card_ok", &o, &msg);
    if (err != LD_OK) {
        retry_fail(t, "retry of key %s (was %s): %s (%s)", a->key,
                   a->state == ATT_ACKED ? "acked" : "unknown", ld_err_name(err), msg.text);
        return;
    }
    if (a->state == ATT_ACKED && !ldh_id_eq(&o.id, &a->order_id)) {
        retry_fail(t, "retry of acked key %s returned order %s, first was %s", a->key,
                   ldh_hex(&o.id), ldh_hex(&a->order_id));
        return;
    }
    if (o.qty != a->qty || o.status != LD_ORDER_PAID) {
        retry_fail(t, "retry of key %s: order qty %lld status %d", a->key, (long long)o.qty,
                   (int)o.status);
        return;
    }
    a->state = ATT_ACKED;
    a->order_id = o.id;
}

static void *
retry_main(void *arg)
{
    retry_thread *t = arg;
    ld_client *client = ldh_client_try(t->url, 30000, 0);
    if (!client) {
        retry_fail(t, "ld_client_open failed");
        return NULL;
    }
    for (size_t i = t->from; i < t->to; i++) {
        crash_attempt *a = &t->v[i];
        if (t->verify_only) {
            if (a->state == ATT_ACKED)
                verify_acked(t, client, a);
        } else {
            retry_key(t, client, a);
        }
    }
    ld_client_close(client);
    return NULL;
}

static void
run_retry_phase(const char *url, const ld_id *drop_id, crash_log *all, bool verify_only)
{
    static retry_thread rt[CRASH_RETRY_THREADS];
    memset(rt, 0, sizeof rt);
    size_t per = (all->n + CRASH_RETRY_THREADS - 1) / CRASH_RETRY_THREADS;
    for (int i = 0; i < CRASH_RETRY_THREADS; i++) {
        rt[i].url = url;
        rt[i].drop_id = *drop_id;
        rt[i].v = all->v;
        rt[i].from = (size_t)i * per < all->n ? (size_t)i * per : all->n;
        rt[i].to = rt[i].from + per < all->n ? rt[i].from + per : all->n;
        rt[i].verify_only = verify_only;
        cr_assert_eq(pthread_create(&rt[i].tid, NULL, retry_main, &rt[i]), 0);
    }
    int bad = 0;
    const char *first = NULL;
    for (int i = 0; i < CRASH_RETRY_THREADS; i++) {
        pthread_join(rt[i].tid, NULL);
        bad += rt[i].bad;
        if (rt[i].bad && !first)
            first = rt[i].bad_msg;
    }
    cr_assert_eq(bad, 0, "%s: %d failures, first: %s",
                 verify_only ? "verify acknowledged" : "retry same keys", bad, first);
}

static int
order_cmp(const void *a, const void *b)
{
    return memcmp(((const crash_attempt *)a)->order_id.bytes,
                  ((const crash_attempt *)b)->order_id.bytes, sizeof(ld_id));
}

/* One storm + kill -9 + restart + verification cycle; `all` accumulates attempts across cycles
 * (all of them acknowledged, by the end of the previous cycle). */
static void
crash_cycle(ldh_node *node, crash_shared *sh, crash_log *all, ldh_rng *rng, int cycle)
{
    long target = (long)ldh_rand_range(rng, CRASH_ACKS_MIN, CRASH_ACKS_MAX);
    static crash_thread th[CRASH_THREADS];
    memset(th, 0, sizeof th);
    atomic_store(&sh->acked, 0);
    atomic_store(&sh->stop, false);
    int64_t t0 = ldh_mono_ms();
    sh->deadline_mono_ms = t0 + CRASH_STORM_DEADLINE_MS;
    for (int i = 0; i < CRASH_THREADS; i++) {
        th[i].sh = sh;
        th[i].seed = ldh_rand(rng);
        cr_assert_eq(pthread_create(&th[i].tid, NULL, crash_storm_main, &th[i]), 0);
    }
    /* Wait for N acknowledgements, then pull the plug while requests are in flight. */
    while (atomic_load(&sh->acked) < target && ldh_mono_ms() < sh->deadline_mono_ms)
        ldh_sleep_ms(1);
    long acked_at_kill = atomic_load(&sh->acked);
    bool reached = acked_at_kill >= target;
    if (reached)
        ldh_node_kill9(node);
    atomic_store(&sh->stop, true);
    for (int i = 0; i < CRASH_THREADS; i++)
        pthread_join(th[i].tid, NULL);
    cr_assert(reached, "cycle %d: only %ld of %ld orders acknowledged in %d ms", cycle,
              acked_at_kill, target, CRASH_STORM_DEADLINE_MS);

    size_t before = all->n, unknown = 0, acked = 0;
    int64_t acked_qty = 0;
    for (int i = 0; i < CRASH_THREADS; i++) {
        cr_assert_eq(th[i].bad, 0, "cycle %d thread %d: %s", cycle, i, th[i].bad_msg);
        for (size_t j = 0; j < th[i].log.n; j++) {
            *log_push(all) = th[i].log.v[j];
            if (th[i].log.v[j].state == ATT_ACKED)
                acked++;
            else
                unknown++;
        }
        free(th[i].log.v);
    }
    for (size_t i = 0; i < all->n; i++)
        if (all->v[i].state == ATT_ACKED)
            acked_qty += all->v[i].qty;
    cr_log_info("cycle %d: target %ld, killed at %ld acks; %zu acked + %zu unknown attempts, "
                "%zu in all, storm %lld ms",
                cycle, target, acked_at_kill, acked, unknown, all->n - before,
                (long long)(ldh_mono_ms() - t0));

    ldh_node_start(node);
    ld_client *client = ldh_client(node, 30000);
    ld_drop drop;
    ldh_drop_get(client, &sh->drop_id, &drop);
    ldh_assert_stock(&drop);
    cr_assert_geq(drop.stock.sold, acked_qty,
                  "cycle %d: sold %lld < %lld units acknowledged before kill -9", cycle,
                  (long long)drop.stock.sold, (long long)acked_qty);

    run_retry_phase(node->url, &sh->drop_id, all, true);
    run_retry_phase(node->url, &sh->drop_id, all, false);

    /* Every key now has exactly one order, and the counters are exactly their sum. */
    int64_t total_qty = 0;
    for (size_t i = 0; i < all->n; i++) {
        cr_assert_eq(all->v[i].state, ATT_ACKED);
        total_qty += all->v[i].qty;
    }
    crash_attempt *sorted = malloc(all->n * sizeof *sorted);
    cr_assert(sorted);
    memcpy(sorted, all->v, all->n * sizeof *sorted);
    qsort(sorted, all->n, sizeof *sorted, order_cmp);
    for (size_t i = 1; i < all->n; i++)
        cr_assert(!ldh_id_eq(&sorted[i - 1].order_id, &sorted[i].order_id),
                  "keys %s and %s share order %s", sorted[i - 1].key, sorted[i].key,
                  ldh_hex(&sorted[i].order_id));
    free(sorted);

    ldh_drop_get(client, &sh->drop_id, &drop);
    ldh_assert_stock(&drop);
    cr_assert_eq(drop.stock.sold, total_qty,
                 "cycle %d: sold %lld != %lld units over %zu distinct keys (a retry applied "
                 "twice, or an order exists that no key accounts for)",
                 cycle, (long long)drop.stock.sold, (long long)total_qty, all->n);
    cr_assert_eq(drop.stock.reserved, 0, "cycle %d: %lld units still reserved", cycle,
                 (long long)drop.stock.reserved);
    ld_client_close(client);
}

static void
crash_run(int cycles)
{
    uint64_t seed = ldh_seed();
    ldh_rng rng;
    ldh_rng_init(&rng, seed);
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 30000);
    static crash_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.url = node.url;
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, CRASH_STOCK, 0, 0);
    ld_client_close(client);
    sh.drop_id = spec.id;
    for (int u = 0; u < CRASH_USERS; u++)
        sh.users[u] = ldh_id();

    crash_log all = {0};
    for (int c = 1; c <= cycles; c++)
        crash_cycle(&node, &sh, &all, &rng, c);
    free(all.v);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(crash, three_kill_restart_cycles_keep_every_order)
{
    /* Goal: after each kill -9 mid-storm every acknowledged order is there, PAID, with its qty
     * and a COMMITTED reservation; P1 holds; retrying every key (acked or not) yields one order
     * per key and sold == the sum over keys exactly. Method: 64 threads place_order, kill -9
     * after a random number N of acks, restart on the same dir, order_get + reservation_get +
     * same-key retries; three cycles on one data dir, each re-checking all earlier keys. */
    crash_run(3);
}
