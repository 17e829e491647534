/*
 * test_idempotency.c -- exactly-once effects (P3): one key, one effect, whoever retries and when.
 *
 * The node runs with --payment-slow-ms 300 so that concurrent place_order calls of one key
 * overlap while the first one is paying (the node answers IN_PROGRESS, the client waits).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

TestSuite(idempotency, .fini = ldh_suite_fini, .timeout = 180);

#define IDEM_THREADS 8
#define IDEM_SLOW_MS 300

typedef struct idem_call {
    pthread_t tid;
    pthread_barrier_t *barrier;
    ld_client *client; /* shared, or NULL: open an own one on url */
    const char *url;
    const ld_id *drop_id;
    const ld_id *user;
    int64_t qty;
    const char *key;
    const char *method; /* NULL: reserve instead of place_order */
    ld_err err;
    ld_errmsg msg;
    ld_order order;
    ld_reservation res;
    int64_t start_ms, end_ms;
} idem_call;

static void *
idem_call_main(void *arg)
{
    idem_call *c = arg;
    ld_client *client = c->client ? c->client : ldh_client_try(c->url, 15000, 0);
    pthread_barrier_wait(c->barrier);
    if (!client) {
        c->err = LD_ERR_CONNECTION;
        return NULL;
    }
    c->start_ms = ldh_mono_ms();
    if (c->method)
        c->err = ld_place_order(client, c->drop_id, c->user, c->qty, c->key, c->method, &c->order,
                                &c->msg);
    else
        c->err = ld_reserve(client, c->drop_id, c->user, c->qty, c->key, &c->res, &c->msg);
    c->end_ms = ldh_mono_ms();
    if (!c->client)
        ld_client_close(client);
    return NULL;
}

/* Runs IDEM_THREADS identical calls at once; own_clients: one connection each. */
static void
idem_race(idem_call calls[IDEM_THREADS], ld_client *shared, const ldh_node *node,
          const ld_id *drop_id, const ld_id *user, int64_t qty, const char *key, const char *method)
{
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, IDEM_THREADS);
    for (int i = 0; i < IDEM_THREADS; i++) {
        memset(&calls[i], 0, sizeof calls[i]);
        calls[i] = (idem_call){.barrier = &barrier,
                               .client = shared,
                               .url = node->url,
                               .drop_id = drop_id,
                               .user = user,
                               .qty = qty,
                               .key = key,
                               .method = method};
        cr_assert_eq(pthread_create(&calls[i].tid, NULL, idem_call_main, &calls[i]), 0);
    }
    for (int i = 0; i < IDEM_THREADS; i++)
        pthread_join(calls[i].tid, NULL);
    pthread_barrier_destroy(&barrier);
}

static void
assert_one_order(idem_call calls[IDEM_THREADS], int64_t qty)
{
    for (int i = 0; i < IDEM_THREADS; i++) {
        cr_assert_eq(calls[i].err, LD_OK, "call %d: %s (%s)", i, ld_err_name(calls[i].err),
                     calls[i].msg.text);
        cr_assert_eq(calls[i].order.status, LD_ORDER_PAID);
        cr_assert_eq(calls[i].order.qty, qty);
        cr_assert(ldh_id_eq(&calls[i].order.id, &calls[0].order.id),
                  "call %d saw order %s, call 0 saw %s", i, ldh_hex(&calls[i].order.id),
                  ldh_hex(&calls[0].order.id));
    }
}

static void
assert_counters(ld_client *client, const ld_id *drop_id, int64_t available, int64_t reserved,
                int64_t sold)
{
    ld_drop d;
    ldh_drop_get(client, drop_id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.available, available, "available %lld, expected %lld",
                 (long long)d.stock.available, (long long)available);
    cr_assert_eq(d.stock.reserved, reserved, "reserved %lld, expected %lld",
                 (long long)d.stock.reserved, (long long)reserved);
    cr_assert_eq(d.stock.sold, sold, "sold %lld, expected %lld", (long long)d.stock.sold,
                 (long long)sold);
}

Test(idempotency, one_key_from_8_threads_makes_one_order)
{
    /* Goal: one place_order key sent from 8 threads at once makes exactly one order, and every
     * caller sees it. Method: barrier-started threads, first with own connections and
     * pm_card_slow (300 ms, so every call overlaps the payment), then sharing one client (their
     * ops may share a message) with pm_card_ok; compare order ids and stock.sold. */
    ldh_node node;
    ldh_node_spawn(&node, IDEM_SLOW_MS);
    ld_client *client = ldh_client(&node, 15000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 100, 0, 0);
    ld_id user = ldh_id();
    static idem_call calls[IDEM_THREADS];

    idem_race(calls, NULL, &node, &spec.id, &user, 3, "one-key-slow", "pm_card_slow");
    assert_one_order(calls, 3);
    int64_t last_start = 0, first_end = INT64_MAX, longest = 0;
    for (int i = 0; i < IDEM_THREADS; i++) {
        last_start = calls[i].start_ms > last_start ? calls[i].start_ms : last_start;
        first_end = calls[i].end_ms < first_end ? calls[i].end_ms : first_end;
        longest = calls[i].end_ms - calls[i].start_ms > longest
                      ? calls[i].end_ms - calls[i].start_ms
                      : longest;
    }
    cr_assert_lt(last_start, first_end, "the 8 calls did not overlap: nothing was raced");
    cr_assert_geq(longest, IDEM_SLOW_MS, "no call waited for the slow payment (%lld ms)",
                  (long long)longest);
    assert_counters(client, &spec.id, 97, 0, 3);

    ld_id user2 = ldh_id();
    idem_race(calls, client, &node, &spec.id, &user2, 2, "one-key-ok", "pm_card_ok");
    assert_one_order(calls, 2);
    assert_counters(client, &spec.id, 95, 0, 5);

    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(idempotency, reserve_same_key_returns_same_reservation)
{
    /* Goal: reserve retried with one key -- sequentially and from 8 threads at once -- returns
     * one reservation and holds its stock once. Method: compare reservation ids and
     * stock.reserved after each round. */
    ldh_node node;
    ldh_node_spawn(&node, IDEM_SLOW_MS);
    ld_client *client = ldh_client(&node, 15000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 50, 0, 0);
    ld_id user = ldh_id();
    ld_reservation first, again;
    ld_errmsg msg = {{0}};
    ld_err err = ld_reserve(client, &spec.id, &user, 4, "res-key", &first, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    for (int i = 0; i < 3; i++) {
        err = ld_reserve(client, &spec.id, &user, 4, "res-key", &again, &msg);
        cr_assert_eq(err, LD_OK, "retry %d: %s (%s)", i, ld_err_name(err), msg.text);
        cr_assert(ldh_id_eq(&again.id, &first.id), "retry %d made reservation %s", i,
                  ldh_hex(&again.id));
    }
    assert_counters(client, &spec.id, 46, 4, 0);

    static idem_call calls[IDEM_THREADS];
    ld_id user2 = ldh_id();
    idem_race(calls, NULL, &node, &spec.id, &user2, 5, "res-race", NULL);
    for (int i = 0; i < IDEM_THREADS; i++) {
        cr_assert_eq(calls[i].err, LD_OK, "call %d: %s (%s)", i, ld_err_name(calls[i].err),
                     calls[i].msg.text);
        cr_assert(ldh_id_eq(&calls[i].res.id, &calls[0].res.id), "call %d: another reservation", i);
        cr_assert_eq(calls[i].res.qty, 5);
    }
    assert_counters(client, &spec.id, 41, 9, 0);

    /* Different body under the key: refused, nothing reserved. */
    err = ld_reserve(client, &spec.id, &user, 5, "res-key", &again, &msg);
    cr_assert_eq(err, LD_ERR_IDEMPOTENCY_KEY_REUSED, "%s (%s)", ld_err_name(err), msg.text);
    cr_assert_str_not_empty(msg.text);
    assert_counters(client, &spec.id, 41, 9, 0);

    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(idempotency, same_key_different_body_is_refused)
{
    /* Goal: a key reused with another body (qty, payment method, op type) is refused with
     * IDEMPOTENCY_KEY_REUSED and changes nothing, while the same key string under another user
     * or drop is a different key. Method: one order, then variations, checking the counters. */
    ldh_node node;
    ldh_node_spawn(&node, IDEM_SLOW_MS);
    ld_client *client = ldh_client(&node, 15000);
    ld_drop_spec spec, other;
    ldh_drop_create_live(client, &spec, 20, 0, 0);
    ldh_drop_create_live(client, &other, 20, 0, 0);
    ld_id user = ldh_id();
    ld_order o, first;
    ld_reservation r;
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(client, &spec.id, &user, 2, "k", "pm_card_ok", &first, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);

    err = ld_place_order(client, &spec.id, &user, 3, "k", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_ERR_IDEMPOTENCY_KEY_REUSED, "other qty: %s", ld_err_name(err));
    cr_assert_str_not_empty(msg.text);
    err = ld_place_order(client, &spec.id, &user, 2, "k", "pm_card_declined", &o, &msg);
    cr_assert_eq(err, LD_ERR_IDEMPOTENCY_KEY_REUSED, "other method: %s", ld_err_name(err));
    err = ld_reserve(client, &spec.id, &user, 2, "k", &r, &msg);
    cr_assert_eq(err, LD_ERR_IDEMPOTENCY_KEY_REUSED, "reserve under a place_order key: %s",
                 ld_err_name(err));
    assert_counters(client, &spec.id, 18, 0, 2);

    err = ld_place_order(client, &spec.id, &user, 2, "k", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_OK, "same body after refusals: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&o.id, &first.id), "the refusals changed the key's first result");

    ld_id user2 = ldh_id();
    err = ld_place_order(client, &spec.id, &user2, 2, "k", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_OK, "same key, other user: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(!ldh_id_eq(&o.id, &first.id), "keys are scoped to (user, drop)");
    err = ld_place_order(client, &other.id, &user, 2, "k", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_OK, "same key, other drop: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(!ldh_id_eq(&o.id, &first.id));
    assert_counters(client, &spec.id, 16, 0, 4);
    assert_counters(client, &other.id, 18, 0, 2);

    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(idempotency, declined_payment_is_replayed_not_retried)
{
    /* Goal: a refusal is a first result too: a declined place_order retried with its key gives
     * the same FAILED order again and never charges or reserves. Method: pm_card_declined twice,
     * compare the FAILED orders and the counters. */
    ldh_node node;
    ldh_node_spawn(&node, IDEM_SLOW_MS);
    ld_client *client = ldh_client(&node, 15000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 20, 0, 0);
    ld_id user = ldh_id();
    ld_order a, b;
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(client, &spec.id, &user, 2, "dk", "pm_card_declined", &a, &msg);
    cr_assert_eq(err, LD_ERR_PAYMENT_DECLINED, "%s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(a.status, LD_ORDER_FAILED);
    cr_assert(!ldh_id_zero(&a.id), "a declined place_order fills in the FAILED order");
    err = ld_place_order(client, &spec.id, &user, 2, "dk", "pm_card_declined", &b, &msg);
    cr_assert_eq(err, LD_ERR_PAYMENT_DECLINED, "retry: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&a.id, &b.id), "the retry made another order");
    ld_order got;
    err = ld_order_get(client, &a.id, &got, &msg);
    cr_assert_eq(err, LD_OK, "order_get of the FAILED order: %s", ld_err_name(err));
    cr_assert_eq(got.status, LD_ORDER_FAILED);
    assert_counters(client, &spec.id, 20, 0, 0);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(idempotency, create_drop_retry_exists_and_conflict)
{
    /* Goal: create_drop stores every field as given, and is idempotent by id: an identical
     * retry is LD_EXISTS (also after sales), a differing field is ID_CONFLICT, and neither
     * touches the drop. Method: create and compare each field (and an order's total), sell 2,
     * retry identical, retry with a changed title / stock / end / price, read the drop. */
    ldh_node node;
    ldh_node_spawn(&node, IDEM_SLOW_MS);
    ld_client *client = ldh_client(&node, 15000);
    ld_drop_spec spec;
    ldh_drop_spec_live(&spec, 30, 4, 0);
    spec.product.tags_count = 2;
    snprintf(spec.product.tags[1], sizeof spec.product.tags[1], "second");
    spec.low_stock_threshold = 5;
    ld_drop created;
    ldh_drop_create(client, &spec, &created);
    /* The drop as stored echoes every field of the create (what an identical retry compares). */
    cr_assert(ldh_id_eq(&created.spec.product.creator_id, &spec.product.creator_id));
    cr_assert_str_eq(created.spec.product.title, spec.product.title);
    cr_assert_eq(created.spec.product.price_minor, spec.product.price_minor,
                 "price_minor %lld stored as %lld", (long long)spec.product.price_minor,
                 (long long)created.spec.product.price_minor);
    cr_assert_str_eq(created.spec.product.currency, "EUR");
    cr_assert_eq(created.spec.product.tags_count, 2);
    cr_assert_str_eq(created.spec.product.tags[1], "second");
    cr_assert_eq(created.spec.starts_at_ms, spec.starts_at_ms);
    cr_assert_eq(created.spec.ends_at_ms, spec.ends_at_ms);
    cr_assert_eq(created.spec.initial_stock, 30);
    cr_assert_eq(created.spec.low_stock_threshold, 5);
    cr_assert_eq(created.spec.max_per_user, 4);
    cr_assert_eq(created.spec.reservation_ttl_ms, LD_RESERVATION_TTL_MS_DEFAULT);
    ld_id user = ldh_id();
    ld_order o;
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(client, &spec.id, &user, 2, "ck", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_OK);
    cr_assert_eq(o.total_minor, 2 * spec.product.price_minor, "order total %lld for 2 x %lld",
                 (long long)o.total_minor, (long long)spec.product.price_minor);
    cr_assert_str_eq(o.currency, "EUR");

    ld_drop d;
    err = ld_drop_create(client, &spec, &d, &msg);
    cr_assert_eq(err, LD_EXISTS, "identical retry: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&d.spec.id, &spec.id));
    cr_assert_str_eq(d.spec.product.title, spec.product.title);

    ld_drop_spec changed = spec;
    snprintf(changed.product.title, sizeof changed.product.title, "another title");
    err = ld_drop_create(client, &changed, &d, &msg);
    cr_assert_eq(err, LD_ERR_ID_CONFLICT, "other title: %s (%s)", ld_err_name(err), msg.text);
    cr_assert_str_not_empty(msg.text);
    changed = spec;
    changed.initial_stock = 31;
    err = ld_drop_create(client, &changed, &d, &msg);
    cr_assert_eq(err, LD_ERR_ID_CONFLICT, "other stock: %s", ld_err_name(err));
    changed = spec;
    changed.ends_at_ms += 1000;
    err = ld_drop_create(client, &changed, &d, &msg);
    cr_assert_eq(err, LD_ERR_ID_CONFLICT, "other end: %s", ld_err_name(err));
    changed = spec;
    changed.product.price_minor += 1;
    err = ld_drop_create(client, &changed, &d, &msg);
    cr_assert_eq(err, LD_ERR_ID_CONFLICT, "other price: %s", ld_err_name(err));

    ldh_drop_get(client, &spec.id, &d);
    cr_assert_str_eq(d.spec.product.title, spec.product.title);
    cr_assert_eq(d.spec.initial_stock, 30);
    cr_assert_eq(d.spec.ends_at_ms, spec.ends_at_ms);
    cr_assert_eq(d.spec.product.price_minor, spec.product.price_minor);
    assert_counters(client, &spec.id, 28, 0, 2);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

typedef struct slow_order {
    const char *url;
    const ld_id *drop_id;
    const ld_id *user;
    ld_err err;
} slow_order;

static void *
slow_order_main(void *arg)
{
    slow_order *s = arg;
    ld_client *client = ldh_client_try(s->url, 3000, 0);
    if (!client) {
        s->err = LD_ERR_CONNECTION;
        return NULL;
    }
    ld_order o;
    s->err = ld_place_order(client, s->drop_id, s->user, 3, "pending", "pm_card_slow", &o, NULL);
    ld_client_close(client);
    return NULL;
}

Test(idempotency, retry_after_kill9_returns_first_result)
{
    /* Goal: first results survive kill -9: after a restart, retries of an order key, a reserve
     * key and a create return what they returned before, and a place_order killed while paying
     * completes once. Method: order, reserve, start a pm_card_slow order and wait until its
     * stock is reserved (payment takes 2 s), kill -9, restart, retry all four, check ids and
     * counters. */
    ldh_node node;
    ldh_node_spawn(&node, 2000); /* a wide window to kill the node while it is paying */
    ld_client *client = ldh_client(&node, 15000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 40, 0, 0);
    ld_id user = ldh_id();
    ld_order o1, o;
    ld_reservation r2, r;
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(client, &spec.id, &user, 2, "k1", "pm_card_ok", &o1, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    err = ld_reserve(client, &spec.id, &user, 3, "k2", &r2, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);

    ld_id user3 = ldh_id();
    slow_order slow = {.url = node.url, .drop_id = &spec.id, .user = &user3};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, slow_order_main, &slow), 0);
    /* Wait until the slow order's reservation is made (payment running), then kill. */
    int64_t deadline = ldh_mono_ms() + 10000;
    ld_drop d;
    for (;;) {
        ldh_drop_get(client, &spec.id, &d);
        if (d.stock.reserved == 6)
            break;
        cr_assert_lt(ldh_mono_ms(), deadline, "the slow order never reserved (reserved %lld)",
                     (long long)d.stock.reserved);
        ldh_sleep_ms(2);
    }
    cr_assert_eq(d.stock.sold, 2, "the slow payment finished before the kill: nothing tested");
    ld_client_close(client);
    ldh_node_kill9(&node);
    pthread_join(tid, NULL);
    cr_assert_neq(slow.err, LD_OK, "an order answered OK though its payment was cut by kill -9");

    ldh_node_start(&node);
    client = ldh_client(&node, 15000);
    err = ld_place_order(client, &spec.id, &user, 2, "k1", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&o.id, &o1.id), "order key after restart gave another order");
    err = ld_reserve(client, &spec.id, &user, 3, "k2", &r, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&r.id, &r2.id), "reserve key after restart gave another reservation");
    err = ld_drop_create(client, &spec, &d, &msg);
    cr_assert_eq(err, LD_EXISTS, "create after restart: %s (%s)", ld_err_name(err), msg.text);
    err = ld_place_order(client, &spec.id, &user3, 3, "pending", "pm_card_slow", &o, &msg);
    cr_assert_eq(err, LD_OK, "the order cut by kill -9, retried: %s (%s)", ld_err_name(err),
                 msg.text);
    cr_assert_eq(o.status, LD_ORDER_PAID);
    ld_order again;
    err = ld_place_order(client, &spec.id, &user3, 3, "pending", "pm_card_slow", &again, &msg);
    cr_assert_eq(err, LD_OK);
    cr_assert(ldh_id_eq(&again.id, &o.id));
    assert_counters(client, &spec.id, 32, 3, 5);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
