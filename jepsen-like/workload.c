/*
 * workload.c -- the clients: N threads place orders for one hot drop through liblivedrop's
 * ld_place_order (reserve -> payment by the node's test provider -> commit, in one call), at a
 * global rate, each logical order with its own idempotency key and its own user id. A call that
 * ends in a transport error (outcome unknown) is retried with the SAME key and body until it gets
 * a definite answer, LDC_ATTEMPTS_MAX calls, or the drain deadline. Every call is an "invoke"
 * record and a completion record ("ok", "fail" or "info") in the history.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "chaos.h"
#include "run.h"

typedef struct worker {
    ldc_run *run;
    uint32_t index;
    uint64_t rng;
    ld_client *client;
} worker;

static worker workers[LDC_CLIENTS_MAX];

uint64_t
ldc_mix(uint64_t x)
{
    uint64_t z = x + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z ? z : 1;
}

uint64_t
ldc_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}

int64_t
ldc_rand_range(uint64_t *state, int64_t lo, int64_t hi)
{
    LDC_ASSERT(lo <= hi);
    return lo + (int64_t)(ldc_rand(state) % (uint64_t)(hi - lo + 1));
}

static int64_t
now_ms_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
ldc_workload_setup(ldc_run *run, char *err, size_t err_size)
{
    ld_client_opts opts = {.timeout_ms = run->o.call_timeout_ms};
    ld_client *c;
    if (ld_client_open(run->cluster.addrs, &opts, &c) != LD_OK) {
        snprintf(err, err_size, "ld_client_open(%s) failed", run->cluster.addrs);
        return false;
    }
    uint64_t rng = ldc_mix(run->o.seed ^ 0xd509);
    ld_drop_spec spec;
    memset(&spec, 0, sizeof spec);
    for (int i = 0; i < 2; i++) {
        uint64_t a = ldc_rand(&rng), b = ldc_rand(&rng);
        ld_id *id = i ? &spec.product.creator_id : &spec.id;
        memcpy(id->bytes, &a, 8);
        memcpy(id->bytes + 8, &b, 8);
    }
    snprintf(spec.product.title, sizeof spec.product.title, "chaos drop (seed %" PRIu64 ")",
             run->o.seed);
    spec.product.price_minor = 1000;
    memcpy(spec.product.currency, "EUR", 4);
    int64_t now = now_ms_wall();
    spec.starts_at_ms = now - 1000;
    spec.ends_at_ms = now + 24 * 3600 * 1000LL;
    spec.initial_stock = run->o.stock;
    spec.reservation_ttl_ms = LDC_RESERVATION_TTL_MS;
    ld_errmsg msg = {{0}};
    ld_err e = LD_ERR_TIMEOUT;
    /* The create is idempotent by id: a transport error is retried with the same spec. */
    for (int attempt = 0; attempt < 5 && LD_ERR_IS_TRANSPORT(e); attempt++)
        e = ld_drop_create(c, &spec, NULL, &msg);
    ld_client_close(c);
    if (e != LD_OK && e != LD_EXISTS) {
        snprintf(err, err_size, "creating the drop: %s (%s)", ld_err_name(e), msg.text);
        return false;
    }
    run->drop_id = spec.id;
    ld_id_format(&run->drop_id, run->drop_hex);
    return true;
}

/* Waits until the rate limiter's time for ticket n, or until stop_new. false: stop. */
static bool
wait_ticket(ldc_run *run, uint32_t n)
{
    int64_t due = run->t0_ms + (int64_t)n * 1000 / (int64_t)run->o.rate;
    for (;;) {
        if (atomic_load(&run->stop_new))
            return false;
        int64_t left = due - ldc_mono_ms();
        if (left <= 0)
            return true;
        ldc_sleep_ms(left < 50 ? left : 50); /* pacing, re-checking stop_new */
    }
}

static void
remember_acked(ldc_run *run, const char *key, const ld_id *user, int64_t qty, const char *pm,
               const ld_id *order)
{
    pthread_mutex_lock(&run->acked_mu);
    LDC_ASSERT(run->acked_n < LDC_KEYS_MAX); /* one per key, and keys are bounded */
    ldc_acked *a = &run->acked[run->acked_n++];
    snprintf(a->key, sizeof a->key, "%s", key);
    a->user = *user;
    a->qty = qty;
    a->pm = pm;
    a->order = *order;
    pthread_mutex_unlock(&run->acked_mu);
}

/* One logical order: calls with its key until a definite answer or the retry budget ends. */
static void
one_order(worker *w, uint32_t n)
{
    ldc_run *run = w->run;
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1], user_hex[33];
    snprintf(key, sizeof key, "k%u-c%u", n, w->index);
    ld_id user;
    uint64_t a = ldc_rand(&w->rng), b = ldc_rand(&w->rng) | 1; /* never all zero */
    memcpy(user.bytes, &a, 8);
    memcpy(user.bytes + 8, &b, 8);
    ld_id_format(&user, user_hex);
    int64_t qty = ldc_rand_range(&w->rng, 1, run->o.qty_max);
    int64_t dice = ldc_rand_range(&w->rng, 0, 99);
    const char *pm = dice < (int64_t)run->o.slow_pct                           ? "pm_card_slow"
                     : dice < (int64_t)(run->o.slow_pct + run->o.declined_pct) ? "pm_card_declined"
                                                                               : "pm_card_ok";
    for (uint32_t attempt = 1; attempt <= LDC_ATTEMPTS_MAX; attempt++) {
        if (!ldc_hist_add(&run->hist,
                          "\"type\":\"invoke\",\"client\":%u,\"op\":\"order\",\"key\":\"%s\","
                          "\"user\":\"%s\",\"qty\":%lld,\"pm\":\"%s\",\"attempt\":%u",
                          w->index, key, user_hex, (long long)qty, pm, attempt))
            return;
        ld_order order;
        ld_errmsg msg = {{0}};
        ld_err e = ld_place_order(w->client, &run->drop_id, &user, qty, key, pm, &order, &msg);
        char text[LD_MESSAGE_BYTES_MAX + 1];
        ldc_json_str(msg.text, text, sizeof text);
        if (e == LD_OK) {
            char order_hex[33];
            ld_id_format(&order.id, order_hex);
            (void)ldc_hist_add(&run->hist,
                               "\"type\":\"ok\",\"client\":%u,\"op\":\"order\",\"key\":\"%s\","
                               "\"code\":0,\"order\":\"%s\",\"qty\":%lld,\"status\":\"%s\"",
                               w->index, key, order_hex, (long long)order.qty,
                               order.status == LD_ORDER_PAID ? "PAID" : "FAILED");
            remember_acked(run, key, &user, qty, pm, &order.id);
            return;
        }
        /* Transport codes (1xx) and IN_PROGRESS leave the outcome unknown: retry the key. */
        bool unknown = LD_ERR_IS_TRANSPORT(e) || e == LD_ERR_IN_PROGRESS;
        (void)ldc_hist_add(&run->hist,
                           "\"type\":\"%s\",\"client\":%u,\"op\":\"order\",\"key\":\"%s\","
                           "\"code\":%d,\"error\":\"%s\",\"msg\":\"%.120s\"",
                           unknown ? "info" : "fail", w->index, key, (int)e, ld_err_name(e), text);
        if (!unknown)
            return;
        if (ldc_mono_ms() >= atomic_load(&run->drain_end_ms))
            return;
        ldc_sleep_ms(LDC_RETRY_PAUSE_MS); /* a pause between retries, not a wait for a state */
    }
}

static void *
worker_main(void *arg)
{
    worker *w = arg;
    ldc_run *run = w->run;
    for (;;) {
        uint32_t n = atomic_fetch_add(&run->started, 1);
        if (n >= LDC_KEYS_MAX) {
            atomic_store(&run->stop_new, true);
            break;
        }
        if (!wait_ticket(run, n) || ldc_hist_full(&run->hist))
            break;
        one_order(w, n);
    }
    return NULL;
}

bool
ldc_workload_start(ldc_run *run, pthread_t *threads, char *err, size_t err_size)
{
    for (uint32_t i = 0; i < run->o.clients; i++) {
        worker *w = &workers[i];
        w->run = run;
        w->index = i;
        w->rng = ldc_mix(run->o.seed * 1000003u + i + 1);
        ld_client_opts opts = {.timeout_ms = run->o.call_timeout_ms};
        if (ld_client_open(run->cluster.addrs, &opts, &w->client) != LD_OK) {
            snprintf(err, err_size, "ld_client_open(%s) failed", run->cluster.addrs);
            return false;
        }
    }
    for (uint32_t i = 0; i < run->o.clients; i++) {
        int rc = pthread_create(&threads[i], NULL, worker_main, &workers[i]);
        if (rc != 0) {
            snprintf(err, err_size, "pthread_create: %s", strerror(rc));
            atomic_store(&run->stop_new, true);
            for (uint32_t j = 0; j < i; j++)
                pthread_join(threads[j], NULL);
            return false;
        }
    }
    return true;
}

void
ldc_workload_join(ldc_run *run, pthread_t *threads)
{
    for (uint32_t i = 0; i < run->o.clients; i++) {
        pthread_join(threads[i], NULL);
        ld_client_close(workers[i].client);
        workers[i].client = NULL;
    }
}
