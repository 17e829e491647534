/*
 * test_storm.c -- 64 clients race for one drop: no oversell, no per-user overrun (P1).
 *
 * Every thread has its own ld_client (its own connection), picks one of STORM_USERS users and a
 * qty of 1..3 at random, and buys until it sees the drop sold out. The acknowledged orders are
 * the ground truth: their quantities must add up to exactly the stock, no user may hold more than
 * max_per_user, and the node's counters must agree.
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

TestSuite(storm, .fini = ldh_suite_fini, .timeout = 300);

#define STORM_THREADS 64
#define STORM_STOCK 1000
#define STORM_MAX_PER_USER 5
#define STORM_USERS 210 /* 1,050 units of per-user room for 1,000 units: the limit bites */
#define STORM_DEADLINE_MS 120000
#define STORM_AFTER_SOLD_OUT 3 /* attempts each thread makes after it saw available == 0 */

typedef struct storm_ack {
    int user;
    int64_t qty;
    ld_id order_id;
} storm_ack;

typedef struct storm_shared {
    const char *url;
    ld_id drop_id;
    ld_id users[STORM_USERS];
    bool two_step; /* reserve + commit instead of place_order */
    pthread_barrier_t start;
    int64_t deadline_mono_ms;
    atomic_bool done;
} storm_shared;

typedef struct storm_thread {
    pthread_t tid;
    bool joined;
    storm_shared *sh;
    int index;
    uint64_t seed;
    storm_ack *acks;
    size_t n_acks, cap_acks;
    uint64_t attempts, sold_out, user_limit, after_sold_out;
    int unexpected;
    char unexpected_msg[400];
} storm_thread;

static void storm_fail(storm_thread *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
storm_fail(storm_thread *t, const char *fmt, ...)
{
    if (t->unexpected++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->unexpected_msg, sizeof t->unexpected_msg, fmt, ap);
        va_end(ap);
    }
}

static void
storm_record(storm_thread *t, int user, int64_t qty, const ld_id *order_id)
{
    if (t->n_acks == t->cap_acks) {
        t->cap_acks = t->cap_acks ? t->cap_acks * 2 : 64;
        t->acks = realloc(t->acks, t->cap_acks * sizeof *t->acks);
        if (!t->acks)
            abort();
    }
    t->acks[t->n_acks++] = (storm_ack){.user = user, .qty = qty, .order_id = *order_id};
}

/* One purchase attempt: place_order, or reserve then commit. Returns the outcome; on LD_OK
 * *order holds the PAID order. */
static ld_err
storm_buy(storm_thread *t, ld_client *client, const ld_id *user, int64_t qty, const char *key,
          ld_order *order, ld_errmsg *msg)
{
    storm_shared *sh = t->sh;
    if (!sh->two_step)
        return ld_place_order(client, &sh->drop_id, user, qty, key, "pm_card_ok", order, msg);
    ld_reservation res;
    ld_err err = ld_reserve(client, &sh->drop_id, user, qty, key, &res, msg);
    if (err != LD_OK)
        return err;
    if (res.qty != qty || res.state != LD_RES_ACTIVE || !ldh_id_eq(&res.user_id, user))
        storm_fail(t, "reserve returned qty %lld state %d for qty %lld", (long long)res.qty,
                   (int)res.state, (long long)qty);
    char ref[LD_PAYMENT_REF_BYTES_MAX + 1];
    snprintf(ref, sizeof ref, "ref-%.40s", key);
    err = ld_commit(client, &res.user_id, &res.id, ref, order, msg);
    if (err != LD_OK) {
        storm_fail(t, "commit of a fresh reservation %s failed: %s (%s)", ldh_hex(&res.id),
                   ld_err_name(err), msg->text);
        return err;
    }
    if (!ldh_id_eq(&order->reservation_id, &res.id) || strcmp(order->payment_ref, ref) != 0)
        storm_fail(t, "commit returned an order for another reservation or ref");
    return LD_OK;
}

static void
storm_check_order(storm_thread *t, const ld_order *order, const ld_id *user, int64_t qty)
{
    if (order->status != LD_ORDER_PAID || order->qty != qty || !ldh_id_eq(&order->user_id, user) ||
        !ldh_id_eq(&order->drop_id, &t->sh->drop_id) || ldh_id_zero(&order->id))
        storm_fail(t, "acknowledged order %s: status %d qty %lld (asked %lld) or ids wrong",
                   ldh_hex(&order->id), (int)order->status, (long long)order->qty, (long long)qty);
}

static void *
storm_main(void *arg)
{
    storm_thread *t = arg;
    storm_shared *sh = t->sh;
    ldh_rng rng;
    ldh_rng_init(&rng, t->seed);
    ld_client *client = ldh_client_try(sh->url, 30000, 0);
    pthread_barrier_wait(&sh->start);
    if (!client) {
        storm_fail(t, "ld_client_open failed");
        return NULL;
    }
    int after = -1; /* attempts left once the drop was seen sold out; -1: not seen yet */
    while (after != 0) {
        if (ldh_mono_ms() > sh->deadline_mono_ms) {
            storm_fail(t, "drop not sold out after %d ms", STORM_DEADLINE_MS);
            break;
        }
        /* After sold out, fresh users only: nobody can be refused for their own limit. */
        ld_id fresh = ldh_id();
        int u = (int)ldh_rand_range(&rng, 0, STORM_USERS - 1);
        const ld_id *user = after > 0 ? &fresh : &sh->users[u];
        int64_t qty = ldh_rand_range(&rng, 1, 3);
        char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
        ldh_key(&rng, "storm", key, sizeof key);
        ld_order order;
        ld_errmsg msg = {{0}};
        ld_err err = storm_buy(t, client, user, qty, key, &order, &msg);
        t->attempts++;
        if (after > 0) {
            after--;
            t->after_sold_out++;
            if (err != LD_ERR_SOLD_OUT)
                storm_fail(t, "attempt after sold out got %s (%s), not ERR_SOLD_OUT",
                           ld_err_name(err), msg.text);
            continue;
        }
        if (err == LD_OK) {
            storm_check_order(t, &order, user, qty);
            storm_record(t, u, qty, &order.id);
        } else if (err == LD_ERR_USER_LIMIT) {
            t->user_limit++;
        } else if (err == LD_ERR_SOLD_OUT) {
            /* Refused for qty > available: stop only once nothing at all is left. */
            t->sold_out++;
            ld_drop drop;
            err = ld_drop_get(client, &sh->drop_id, &drop, &msg);
            if (err != LD_OK)
                storm_fail(t, "get_drop: %s (%s)", ld_err_name(err), msg.text);
            else if (drop.stock.available == 0)
                after = STORM_AFTER_SOLD_OUT;
        } else {
            storm_fail(t, "unexpected %s (%s) for qty %lld", ld_err_name(err), msg.text,
                       (long long)qty);
        }
    }
    ld_client_close(client);
    return NULL;
}

static int
ack_cmp(const void *a, const void *b)
{
    return memcmp(((const storm_ack *)a)->order_id.bytes, ((const storm_ack *)b)->order_id.bytes,
                  sizeof(ld_id));
}

/* Watches the drop while the storm runs: P1 on every read, sold never goes down. Returns the
 * number of reads. */
static int
storm_watch(ld_client *client, storm_shared *sh, storm_thread *threads, char *fail, size_t fail_sz)
{
    int reads = 0;
    int64_t last_sold = 0;
    for (;;) {
        bool all_done = true;
        for (int i = 0; i < STORM_THREADS; i++) {
            if (threads[i].joined)
                continue;
            if (pthread_tryjoin_np(threads[i].tid, NULL) == 0)
                threads[i].joined = true;
            else
                all_done = false;
        }
        if (all_done)
            break;
        ld_drop d;
        ld_errmsg msg = {{0}};
        ld_err err = ld_drop_get(client, &sh->drop_id, &d, &msg);
        reads++;
        if (err != LD_OK) {
            if (!fail[0])
                snprintf(fail, fail_sz, "get_drop during storm: %s (%s)", ld_err_name(err),
                         msg.text);
        } else if (!fail[0]) {
            const ld_stock *s = &d.stock;
            if (s->available < 0 || s->reserved < 0 || s->sold < 0 ||
                s->available + s->reserved + s->sold != STORM_STOCK)
                snprintf(fail, fail_sz, "P1 broken mid-storm: %lld + %lld + %lld",
                         (long long)s->available, (long long)s->reserved, (long long)s->sold);
            else if (s->sold < last_sold)
                snprintf(fail, fail_sz, "sold went down: %lld -> %lld", (long long)last_sold,
                         (long long)s->sold);
            last_sold = s->sold;
        }
        ldh_sleep_ms(20);
    }
    return reads;
}

static void
storm_run(bool two_step)
{
    uint64_t seed = ldh_seed();
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 30000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, STORM_STOCK, STORM_MAX_PER_USER, 0);

    static storm_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.url = node.url;
    sh.drop_id = spec.id;
    sh.two_step = two_step;
    for (int u = 0; u < STORM_USERS; u++)
        sh.users[u] = ldh_id();
    pthread_barrier_init(&sh.start, NULL, STORM_THREADS);
    static storm_thread threads[STORM_THREADS];
    memset(threads, 0, sizeof threads);
    int64_t t0 = ldh_mono_ms();
    sh.deadline_mono_ms = t0 + STORM_DEADLINE_MS;
    for (int i = 0; i < STORM_THREADS; i++) {
        threads[i].sh = &sh;
        threads[i].index = i;
        threads[i].seed = seed * 1000003u + (uint64_t)i + (two_step ? 500 : 0);
        cr_assert_eq(pthread_create(&threads[i].tid, NULL, storm_main, &threads[i]), 0);
    }
    char watch_fail[256] = "";
    int reads = storm_watch(client, &sh, threads, watch_fail, sizeof watch_fail);
    int64_t elapsed = ldh_mono_ms() - t0;
    pthread_barrier_destroy(&sh.start);

    /* Per-thread verdicts first: they say what went wrong most precisely. */
    uint64_t attempts = 0, sold_out = 0, user_limit = 0, after = 0;
    size_t n_acks = 0;
    for (int i = 0; i < STORM_THREADS; i++) {
        storm_thread *t = &threads[i];
        cr_expect_eq(t->unexpected, 0, "thread %d: %d unexpected results, first: %s", i,
                     t->unexpected, t->unexpected_msg);
        attempts += t->attempts;
        sold_out += t->sold_out;
        user_limit += t->user_limit;
        after += t->after_sold_out;
        n_acks += t->n_acks;
    }
    cr_assert_str_empty(watch_fail, "%s", watch_fail);
    cr_log_info("storm (%s): %llu attempts, %zu orders, %llu sold-out, %llu user-limit refusals, "
                "%llu attempts after sold out, %d reads, %lld ms",
                two_step ? "reserve+commit" : "place_order", (unsigned long long)attempts, n_acks,
                (unsigned long long)sold_out, (unsigned long long)user_limit,
                (unsigned long long)after, reads, (long long)elapsed);

    /* Gather every acknowledged order. */
    storm_ack *acks = calloc(n_acks ? n_acks : 1, sizeof *acks);
    cr_assert(acks);
    size_t k = 0;
    int64_t acked_qty = 0;
    int64_t per_user[STORM_USERS] = {0};
    for (int i = 0; i < STORM_THREADS; i++) {
        for (size_t j = 0; j < threads[i].n_acks; j++) {
            acks[k++] = threads[i].acks[j];
            acked_qty += threads[i].acks[j].qty;
            per_user[threads[i].acks[j].user] += threads[i].acks[j].qty;
        }
        free(threads[i].acks);
    }
    cr_assert_eq(acked_qty, STORM_STOCK, "acknowledged orders sum to %lld units, stock is %d",
                 (long long)acked_qty, STORM_STOCK);
    for (int u = 0; u < STORM_USERS; u++)
        cr_assert_leq(per_user[u], STORM_MAX_PER_USER, "user %d holds %lld > max_per_user %d", u,
                      (long long)per_user[u], STORM_MAX_PER_USER);
    cr_assert_gt(user_limit, 0,
                 "the per-user limit never refused anyone: the test did not "
                 "exercise it");
    cr_assert_eq(after, (uint64_t)STORM_THREADS * STORM_AFTER_SOLD_OUT);

    qsort(acks, n_acks, sizeof *acks, ack_cmp);
    for (size_t i = 1; i < n_acks; i++)
        cr_assert(!ldh_id_eq(&acks[i - 1].order_id, &acks[i].order_id),
                  "two acknowledged orders share id %s", ldh_hex(&acks[i].order_id));

    ld_drop drop;
    ldh_drop_get(client, &spec.id, &drop);
    ldh_assert_stock(&drop);
    cr_assert_eq(drop.stock.sold, STORM_STOCK, "node says sold %lld", (long long)drop.stock.sold);
    cr_assert_eq(drop.stock.available, 0);
    cr_assert_eq(drop.stock.reserved, 0);

    /* The node has each order as acknowledged. */
    for (size_t i = 0; i < n_acks; i++) {
        ld_order o;
        ld_errmsg msg = {{0}};
        ld_err err = ld_order_get(client, &acks[i].order_id, &o, &msg);
        cr_assert_eq(err, LD_OK, "order_get(%s): %s (%s)", ldh_hex(&acks[i].order_id),
                     ld_err_name(err), msg.text);
        cr_assert_eq(o.status, LD_ORDER_PAID);
        cr_assert_eq(o.qty, acks[i].qty);
        cr_assert(ldh_id_eq(&o.user_id, &sh.users[acks[i].user]));
    }

    /* Later attempts, both forms, from fresh users: sold out, and nothing moves. */
    ldh_rng rng;
    ldh_rng_init(&rng, seed ^ 0x5eed);
    for (int i = 0; i < 20; i++) {
        ld_id user = ldh_id();
        char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
        ldh_key(&rng, "late", key, sizeof key);
        ld_errmsg msg = {{0}};
        ld_err err;
        if (i % 2) {
            ld_order o;
            err = ld_place_order(client, &spec.id, &user, 1, key, "pm_card_ok", &o, &msg);
        } else {
            ld_reservation r;
            err = ld_reserve(client, &spec.id, &user, 1, key, &r, &msg);
        }
        cr_assert_eq(err, LD_ERR_SOLD_OUT, "late attempt %d: %s (%s)", i, ld_err_name(err),
                     msg.text);
        cr_assert_str_not_empty(msg.text, "a refusal carries a message");
    }
    ldh_drop_get(client, &spec.id, &drop);
    ldh_assert_stock(&drop);
    cr_assert_eq(drop.stock.sold, STORM_STOCK);

    free(acks);
    ld_client_close(client);
    cr_assert(ldh_node_alive(&node), "the node died during the storm");
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(storm, place_order_sells_exactly_the_stock)
{
    /* Goal: 64 racing clients with place_order sell exactly 1,000 units, no user above 5.
     * Method: 64 threads x own ld_client, 210 users, qty 1-3, pm_card_ok, until available == 0;
     * compare acknowledged orders with the node's counters and each order_get. */
    storm_run(false);
}

Test(storm, reserve_commit_sells_exactly_the_stock)
{
    /* Goal: the same race through the two-step form (reserve, then commit) sells exactly the
     * stock with no per-user overrun. Method: as place_order_sells_exactly_the_stock, each
     * attempt a reserve followed at once by a commit with the caller's own payment ref. */
    storm_run(true);
}
