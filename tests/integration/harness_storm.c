/*
 * harness_storm.c -- see harness_storm.h. Moved out of test_crash.c when the replication tests
 * needed the same storm against a cluster.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_storm.h"

#define STORM_RETRY_THREADS 16
#define STORM_RETRY_TIMEOUT_MS 30000

ldh_attempt *
ldh_attempts_push(ldh_attempts *log)
{
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 256;
        log->v = realloc(log->v, log->cap * sizeof *log->v);
        if (!log->v)
            abort();
    }
    ldh_attempt *a = &log->v[log->n++];
    memset(a, 0, sizeof *a);
    return a;
}

void
ldh_attempts_free(ldh_attempts *log)
{
    free(log->v);
    memset(log, 0, sizeof *log);
}

typedef struct storm_thread {
    pthread_t tid;
    struct ldh_storm *sh;
    uint64_t seed;
    ldh_attempts log;
    int bad; /* wrong acknowledged orders or business refusals */
    char bad_msg[300];
} storm_thread;

struct ldh_storm {
    const char *addrs;
    ld_id drop_id;
    ld_id users[LDH_STORM_USERS];
    uint32_t call_timeout_ms;
    int64_t deadline_mono_ms;
    atomic_long acked;
    atomic_bool stop;
    int threads;
    storm_thread th[LDH_STORM_THREADS_MAX];
};

static void thread_fail(int *bad, char *buf, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
thread_fail(int *bad, char *buf, const char *fmt, ...)
{
    if ((*bad)++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, 300, fmt, ap);
        va_end(ap);
    }
}

static void *
storm_main(void *arg)
{
    storm_thread *t = arg;
    struct ldh_storm *sh = t->sh;
    ldh_rng rng;
    ldh_rng_init(&rng, t->seed);
    ld_client *client = ldh_client_try(sh->addrs, sh->call_timeout_ms, 0);
    if (!client) {
        thread_fail(&t->bad, t->bad_msg, "ld_client_open(%s) failed", sh->addrs);
        return NULL;
    }
    while (!atomic_load(&sh->stop) && ldh_mono_ms() < sh->deadline_mono_ms) {
        ldh_attempt *a = ldh_attempts_push(&t->log);
        a->user = sh->users[ldh_rand_range(&rng, 0, LDH_STORM_USERS - 1)];
        a->qty = ldh_rand_range(&rng, 1, 3);
        ldh_key(&rng, "storm", a->key, sizeof a->key);
        ld_order o;
        ld_errmsg msg = {{0}};
        a->err =
            ld_place_order(client, &sh->drop_id, &a->user, a->qty, a->key, "pm_card_ok", &o, &msg);
        if (a->err == LD_OK) {
            if (o.status != LD_ORDER_PAID || o.qty != a->qty)
                thread_fail(&t->bad, t->bad_msg, "acked order status %d qty %lld", (int)o.status,
                            (long long)o.qty);
            a->state = LDH_ATT_ACKED;
            a->order_id = o.id;
            a->acked_mono_ms = ldh_mono_ms();
            atomic_fetch_add(&sh->acked, 1);
        } else if (LDH_IS_TRANSPORT(a->err)) {
            a->state = LDH_ATT_UNKNOWN; /* outcome unknown: retried later */
        } else {
            a->state = LDH_ATT_REFUSED;
            thread_fail(&t->bad, t->bad_msg, "place_order refused: %s (%s)", ld_err_name(a->err),
                        msg.text);
        }
    }
    ld_client_close(client);
    return NULL;
}

ldh_storm *
ldh_storm_start(const char *addrs, const ld_id *drop_id, int threads, uint64_t seed,
                uint32_t call_timeout_ms, int64_t deadline_mono_ms)
{
    cr_assert(threads > 0 && threads <= LDH_STORM_THREADS_MAX);
    ldh_storm *s = calloc(1, sizeof *s);
    cr_assert(s);
    s->addrs = addrs;
    s->drop_id = *drop_id;
    s->call_timeout_ms = call_timeout_ms;
    s->deadline_mono_ms = deadline_mono_ms;
    s->threads = threads;
    for (int u = 0; u < LDH_STORM_USERS; u++)
        s->users[u] = ldh_id();
    ldh_rng rng;
    ldh_rng_init(&rng, seed);
    for (int i = 0; i < threads; i++) {
        s->th[i].sh = s;
        s->th[i].seed = ldh_rand(&rng);
        cr_assert_eq(pthread_create(&s->th[i].tid, NULL, storm_main, &s->th[i]), 0);
    }
    return s;
}

long
ldh_storm_acked(const ldh_storm *s)
{
    return atomic_load(&s->acked);
}

bool
ldh_storm_wait_acked(const ldh_storm *s, long n)
{
    while (atomic_load(&s->acked) < n && ldh_mono_ms() < s->deadline_mono_ms)
        ldh_sleep_ms(1);
    return atomic_load(&s->acked) >= n;
}

void
ldh_storm_stop(ldh_storm *s, ldh_attempts *all)
{
    atomic_store(&s->stop, true);
    for (int i = 0; i < s->threads; i++)
        pthread_join(s->th[i].tid, NULL);
    int bad = 0;
    const char *first = NULL;
    for (int i = 0; i < s->threads; i++) {
        bad += s->th[i].bad;
        if (s->th[i].bad && !first)
            first = s->th[i].bad_msg;
        for (size_t j = 0; j < s->th[i].log.n; j++)
            *ldh_attempts_push(all) = s->th[i].log.v[j];
        ldh_attempts_free(&s->th[i].log);
    }
    free(s);
    cr_assert_eq(bad, 0, "storm: %d failures, first: %s", bad, first);
}

int64_t
ldh_storm_acked_qty(const ldh_attempts *all)
{
    int64_t q = 0;
    for (size_t i = 0; i < all->n; i++)
        if (all->v[i].state == LDH_ATT_ACKED)
            q += all->v[i].qty;
    return q;
}

/* ---- after the storm: verify, then retry every key ----------------------------------------- */

typedef struct retry_thread {
    pthread_t tid;
    const char *addrs;
    ld_id drop_id;
    ldh_attempt *v;
    size_t from, to;
    bool verify_only; /* phase 1: read acknowledged orders; phase 2: retry every key */
    int bad;
    char bad_msg[300];
} retry_thread;

static void
verify_acked(retry_thread *t, ld_client *client, const ldh_attempt *a)
{
    ld_order o;
    ld_errmsg msg = {{0}};
    ld_err err = ld_order_get(client, &a->order_id, &o, &msg);
    if (err != LD_OK) {
        thread_fail(&t->bad, t->bad_msg, "acknowledged order %s (key %s) lost: %s (%s)",
                    ldh_hex(&a->order_id), a->key, ld_err_name(err), msg.text);
        return;
    }
    if (o.status != LD_ORDER_PAID || o.qty != a->qty || !ldh_id_eq(&o.user_id, &a->user) ||
        !ldh_id_eq(&o.drop_id, &t->drop_id)) {
        thread_fail(&t->bad, t->bad_msg, "order %s: status %d qty %lld (acked qty %lld)",
                    ldh_hex(&o.id), (int)o.status, (long long)o.qty, (long long)a->qty);
        return;
    }
    ld_reservation r;
    err = ld_reservation_get(client, &o.reservation_id, &r, &msg);
    if (err != LD_OK) {
        thread_fail(&t->bad, t->bad_msg, "reservation %s of order %s: %s (%s)",
                    ldh_hex(&o.reservation_id), ldh_hex(&o.id), ld_err_name(err), msg.text);
        return;
    }
    if (r.state != LD_RES_COMMITTED || !ldh_id_eq(&r.order_id, &o.id) || r.qty != a->qty)
        thread_fail(&t->bad, t->bad_msg,
                    "reservation %s of PAID order %s is half-applied: state %d qty %lld",
                    ldh_hex(&r.id), ldh_hex(&o.id), (int)r.state, (long long)r.qty);
}

static void
retry_key(retry_thread *t, ld_client *client, ldh_attempt *a)
{
    ld_order o;
    ld_errmsg msg = {{0}};
    ld_err err =
        ld_place_order(client, &t->drop_id, &a->user, a->qty, a->key, "pm_card_ok", &o, &msg);
    if (err != LD_OK) {
        thread_fail(&t->bad, t->bad_msg, "retry of key %s (was %s): %s (%s)", a->key,
                    a->state == LDH_ATT_ACKED ? "acked" : "unknown", ld_err_name(err), msg.text);
        return;
    }
    if (a->state == LDH_ATT_ACKED && !ldh_id_eq(&o.id, &a->order_id)) {
        thread_fail(&t->bad, t->bad_msg, "retry of acked key %s returned order %s, first was %s",
                    a->key, ldh_hex(&o.id), ldh_hex(&a->order_id));
        return;
    }
    if (o.qty != a->qty || o.status != LD_ORDER_PAID) {
        thread_fail(&t->bad, t->bad_msg, "retry of key %s: order qty %lld status %d", a->key,
                    (long long)o.qty, (int)o.status);
        return;
    }
    a->state = LDH_ATT_ACKED;
    a->order_id = o.id;
}

static void *
retry_main(void *arg)
{
    retry_thread *t = arg;
    ld_client *client = ldh_client_try(t->addrs, STORM_RETRY_TIMEOUT_MS, 0);
    if (!client) {
        thread_fail(&t->bad, t->bad_msg, "ld_client_open failed");
        return NULL;
    }
    for (size_t i = t->from; i < t->to; i++) {
        ldh_attempt *a = &t->v[i];
        if (t->verify_only) {
            if (a->state == LDH_ATT_ACKED)
                verify_acked(t, client, a);
        } else {
            retry_key(t, client, a);
        }
    }
    ld_client_close(client);
    return NULL;
}

static void
retry_phase(const char *addrs, const ld_id *drop_id, ldh_attempts *all, bool verify_only)
{
    static retry_thread rt[STORM_RETRY_THREADS];
    memset(rt, 0, sizeof rt);
    size_t per = (all->n + STORM_RETRY_THREADS - 1) / STORM_RETRY_THREADS;
    for (int i = 0; i < STORM_RETRY_THREADS; i++) {
        rt[i].addrs = addrs;
        rt[i].drop_id = *drop_id;
        rt[i].v = all->v;
        rt[i].from = (size_t)i * per < all->n ? (size_t)i * per : all->n;
        rt[i].to = rt[i].from + per < all->n ? rt[i].from + per : all->n;
        rt[i].verify_only = verify_only;
        cr_assert_eq(pthread_create(&rt[i].tid, NULL, retry_main, &rt[i]), 0);
    }
    int bad = 0;
    const char *first = NULL;
    for (int i = 0; i < STORM_RETRY_THREADS; i++) {
        pthread_join(rt[i].tid, NULL);
        bad += rt[i].bad;
        if (rt[i].bad && !first)
            first = rt[i].bad_msg;
    }
    cr_assert_eq(bad, 0, "%s: %d failures, first: %s",
                 verify_only ? "verify acknowledged" : "retry same keys", bad, first);
}

void
ldh_storm_verify(const char *addrs, const ld_id *drop_id, ldh_attempts *all)
{
    retry_phase(addrs, drop_id, all, true);
}

void
ldh_storm_retry(const char *addrs, const ld_id *drop_id, ldh_attempts *all)
{
    retry_phase(addrs, drop_id, all, false);
}

static int
order_cmp(const void *a, const void *b)
{
    return memcmp(((const ldh_attempt *)a)->order_id.bytes,
                  ((const ldh_attempt *)b)->order_id.bytes, sizeof(ld_id));
}

void
ldh_storm_check_totals(ld_client *client, const ld_id *drop_id, const ldh_attempts *all)
{
    int64_t total_qty = 0;
    for (size_t i = 0; i < all->n; i++) {
        cr_assert_eq(all->v[i].state, LDH_ATT_ACKED);
        total_qty += all->v[i].qty;
    }
    ldh_attempt *sorted = malloc((all->n ? all->n : 1) * sizeof *sorted);
    cr_assert(sorted);
    memcpy(sorted, all->v, all->n * sizeof *sorted);
    qsort(sorted, all->n, sizeof *sorted, order_cmp);
    for (size_t i = 1; i < all->n; i++)
        cr_assert(!ldh_id_eq(&sorted[i - 1].order_id, &sorted[i].order_id),
                  "keys %s and %s share order %s", sorted[i - 1].key, sorted[i].key,
                  ldh_hex(&sorted[i].order_id));
    free(sorted);
    ld_drop drop;
    ldh_drop_get(client, drop_id, &drop);
    ldh_assert_stock(&drop);
    cr_assert_eq(drop.stock.sold, total_qty,
                 "sold %lld != %lld units over %zu distinct keys (a retry applied twice, or an "
                 "order exists that no key accounts for)",
                 (long long)drop.stock.sold, (long long)total_qty, all->n);
    cr_assert_eq(drop.stock.reserved, 0, "%lld units still reserved",
                 (long long)drop.stock.reserved);
}
