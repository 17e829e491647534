/*
 * test_expiry.c -- a reservation not committed within its TTL gives its stock back, never early,
 * within a few ticks after expires_at, across a kill -9 too.
 *
 * The node stamps batches with its wall clock and expires reservations through tick ops every
 * LD_TICK_INTERVAL_MS; the test runs on the same machine, so the test's wall clock is the node's.
 * Every read is bracketed by the test's clock: a read that ended before expires_at and already
 * saw the stock back proves an early expiry.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

TestSuite(expiry, .fini = ldh_suite_fini, .timeout = 180);

#define EXPIRY_LATE_MAX_MS 3000 /* stock must be back this long after expires_at */

/* Polls the drop until `qty` more units are available than `available_before` (the reservation's
 * stock is back), checking P1 on every read and that no read which ended before expires_at_ms saw
 * the stock back. Returns the test-clock time at which the return was first seen. */
static int64_t
wait_stock_back(ld_client *client, const ld_id *drop_id, int64_t available_before, int64_t qty,
                int64_t expires_at_ms)
{
    int reads = 0;
    for (;;) {
        int64_t t_start = ldh_now_ms();
        ld_drop d;
        ldh_drop_get(client, drop_id, &d);
        int64_t t_end = ldh_now_ms();
        reads++;
        ldh_assert_stock(&d);
        if (d.stock.available == available_before + qty) {
            cr_assert_geq(t_end, expires_at_ms,
                          "stock came back early: seen by a read that ended at %lld, %lld ms "
                          "before expires_at %lld",
                          (long long)t_end, (long long)(expires_at_ms - t_end),
                          (long long)expires_at_ms);
            cr_log_info("stock back %lld ms after expires_at (%d reads)",
                        (long long)(t_start - expires_at_ms), reads);
            return t_start;
        }
        cr_assert_eq(d.stock.available, available_before, "available moved to %lld",
                     (long long)d.stock.available);
        cr_assert_leq(t_start, expires_at_ms + EXPIRY_LATE_MAX_MS,
                      "stock still reserved %d ms after expires_at (tick is every %u ms)",
                      EXPIRY_LATE_MAX_MS, LD_TICK_INTERVAL_MS);
        ldh_sleep_ms(5);
    }
}

static void
reserve_ok(ld_client *client, const ld_id *drop_id, const ld_id *user, int64_t qty, const char *key,
           ld_reservation *out)
{
    ld_errmsg msg = {{0}};
    ld_err err = ld_reserve(client, drop_id, user, qty, key, out, &msg);
    cr_assert_eq(err, LD_OK, "reserve: %s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(out->state, LD_RES_ACTIVE);
    cr_assert_eq(out->qty, qty);
}

static void
assert_expired(ld_client *client, const ld_reservation *res)
{
    ld_errmsg msg = {{0}};
    ld_order o;
    ld_err err = ld_commit(client, &res->user_id, &res->id, "ref-too-late", &o, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_EXPIRED, "commit after expiry: %s (%s)", ld_err_name(err),
                 msg.text);
    cr_assert_str_not_empty(msg.text, "the refusal carries a message");
    ld_reservation r;
    err = ld_reservation_get(client, &res->id, &r, &msg);
    cr_assert_eq(err, LD_OK, "reservation_get: %s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(r.state, LD_RES_EXPIRED, "state %d, expected EXPIRED", (int)r.state);
    cr_assert(ldh_id_zero(&r.order_id), "an expired reservation has an order id");
    err = ld_release(client, &res->user_id, &res->id, &r, &msg);
    cr_assert_eq(err, LD_OK, "release after expiry: %s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(r.state, LD_RES_EXPIRED, "release after expiry: state %d", (int)r.state);
}

Test(expiry, uncommitted_reservation_gives_stock_back_after_ttl)
{
    /* Goal: a reservation not committed within its 1 s TTL returns its stock, not before
     * expires_at and within a few ticks after; commit then fails with RESERVATION_EXPIRED and
     * the reservation reads EXPIRED. Method: reserve 3 of 10, poll get_drop every 5 ms with each
     * read bracketed by the wall clock, then commit, release and reservation_get. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 10, 0, LD_RESERVATION_TTL_MS_MIN);

    ld_id user = ldh_id();
    ld_reservation res;
    int64_t t_before = ldh_now_ms();
    reserve_ok(client, &spec.id, &user, 3, "expiry-1", &res);
    int64_t t_after = ldh_now_ms();
    cr_assert_geq(res.expires_at_ms, t_before + LD_RESERVATION_TTL_MS_MIN - 1,
                  "expires_at %lld is before the request was sent + TTL (%lld)",
                  (long long)res.expires_at_ms, (long long)(t_before + LD_RESERVATION_TTL_MS_MIN));
    cr_assert_leq(res.expires_at_ms, t_after + LD_RESERVATION_TTL_MS_MIN + 1,
                  "expires_at %lld is after the reply + TTL (%lld)", (long long)res.expires_at_ms,
                  (long long)(t_after + LD_RESERVATION_TTL_MS_MIN));

    ld_drop d;
    ldh_drop_get(client, &spec.id, &d);
    int64_t t_read = ldh_now_ms();
    ldh_assert_stock(&d);
    cr_assert_lt(t_read, res.expires_at_ms, "the first read came after expiry (machine too slow)");
    cr_assert_eq(d.stock.reserved, 3);
    cr_assert_eq(d.stock.available, 7);

    wait_stock_back(client, &spec.id, 7, 3, res.expires_at_ms);
    ldh_drop_get(client, &spec.id, &d);
    cr_assert_eq(d.stock.reserved, 0);
    cr_assert_eq(d.stock.sold, 0);
    assert_expired(client, &res);
    ldh_drop_get(client, &spec.id, &d);
    cr_assert_eq(d.stock.available, 10, "a refused commit/release moved stock");

    /* The same key after expiry replays the first result, it does not reserve again. */
    ld_reservation again;
    ld_errmsg msg = {{0}};
    ld_err err = ld_reserve(client, &spec.id, &user, 3, "expiry-1", &again, &msg);
    cr_assert_eq(err, LD_OK, "same-key retry after expiry: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&again.id, &res.id), "same key reserved anew after expiry");
    ldh_drop_get(client, &spec.id, &d);
    cr_assert_eq(d.stock.available, 10);

    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(expiry, committed_reservation_never_expires)
{
    /* Goal: only ACTIVE reservations expire: one committed within its TTL stays sold while its
     * sibling expires. Method: reserve A (3) and B (2), commit A at once, poll B until EXPIRED,
     * then check A, its order and the counters. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 10, 0, LD_RESERVATION_TTL_MS_MIN);
    ld_id ua = ldh_id(), ub = ldh_id();
    ld_reservation a, b;
    reserve_ok(client, &spec.id, &ua, 3, "a", &a);
    reserve_ok(client, &spec.id, &ub, 2, "b", &b);
    ld_order order;
    ld_errmsg msg = {{0}};
    ld_err err = ld_commit(client, &a.user_id, &a.id, "ref-a", &order, &msg);
    cr_assert_eq(err, LD_OK, "commit within TTL: %s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(order.status, LD_ORDER_PAID);

    wait_stock_back(client, &spec.id, 5, 2, b.expires_at_ms);
    assert_expired(client, &b);
    ld_reservation r;
    err = ld_reservation_get(client, &a.id, &r, &msg);
    cr_assert_eq(err, LD_OK);
    cr_assert_eq(r.state, LD_RES_COMMITTED, "committed reservation changed to %d", (int)r.state);
    cr_assert(ldh_id_eq(&r.order_id, &order.id));
    ld_order o;
    err = ld_order_get(client, &order.id, &o, &msg);
    cr_assert_eq(err, LD_OK);
    cr_assert_eq(o.status, LD_ORDER_PAID);
    ld_drop d;
    ldh_drop_get(client, &spec.id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.sold, 3);
    cr_assert_eq(d.stock.reserved, 0);
    cr_assert_eq(d.stock.available, 7);
    /* Committing again still returns the same order, even past the TTL. */
    err = ld_commit(client, &a.user_id, &a.id, "ref-a", &o, &msg);
    cr_assert_eq(err, LD_OK, "re-commit past TTL: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&o.id, &order.id));

    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(expiry, expiry_survives_kill9)
{
    /* Goal: reservations survive kill -9 and still expire after restart, both one whose TTL ends
     * after the restart and one whose TTL ended while the node was down. Method: drop A (TTL
     * 5 s) and drop B (TTL 1 s), reserve on both, kill -9 at once, wait on the clock until B's
     * expires_at passed, restart, see A still reserved, then poll both until their stock is
     * back and check their states. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec da, db;
    ldh_drop_create_live(client, &da, 10, 0, 5000);
    ldh_drop_create_live(client, &db, 10, 0, LD_RESERVATION_TTL_MS_MIN);
    ld_id user = ldh_id();
    ld_reservation ra, rb;
    reserve_ok(client, &da.id, &user, 4, "ka", &ra);
    reserve_ok(client, &db.id, &user, 2, "kb", &rb);
    ld_client_close(client);
    ldh_node_kill9(&node);
    cr_assert_lt(ldh_now_ms(), rb.expires_at_ms, "kill came after B's expiry: nothing tested");
    while (ldh_now_ms() <= rb.expires_at_ms + 50)
        ldh_sleep_ms(10);

    ldh_node_start(&node);
    client = ldh_client(&node, 10000);
    ld_drop d;
    ldh_drop_get(client, &da.id, &d);
    int64_t t_read = ldh_now_ms();
    ldh_assert_stock(&d);
    cr_assert_lt(t_read, ra.expires_at_ms, "restart took past A's expiry (%lld ms late)",
                 (long long)(t_read - ra.expires_at_ms));
    cr_assert_eq(d.stock.reserved, 4, "A's reservation did not survive kill -9");
    cr_assert_eq(d.stock.available, 6);

    wait_stock_back(client, &db.id, 8, 2, rb.expires_at_ms);
    assert_expired(client, &rb);
    wait_stock_back(client, &da.id, 6, 4, ra.expires_at_ms);
    assert_expired(client, &ra);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(expiry, payment_slower_than_ttl_fails_the_order)
{
    /* Goal: a place_order whose payment outlives the reservation TTL ends as
     * RESERVATION_EXPIRED with the stock given back, and the late approval sells nothing.
     * Method: node with --payment-slow-ms 2500, drop TTL 1 s, place_order pm_card_slow; check
     * the result, the counters, a same-key retry, and the counters again once the approval
     * must have arrived. */
    ldh_node node;
    ldh_node_spawn(&node, 2500);
    ld_client *client = ldh_client(&node, 15000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 10, 0, LD_RESERVATION_TTL_MS_MIN);
    ld_id user = ldh_id();
    ld_order o;
    ld_errmsg msg = {{0}};
    int64_t t0 = ldh_now_ms();
    ld_err err = ld_place_order(client, &spec.id, &user, 2, "slow-1", "pm_card_slow", &o, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_EXPIRED, "place_order slower than TTL: %s (%s)",
                 ld_err_name(err), msg.text);
    if (!ldh_id_zero(&o.id))
        cr_assert_eq(o.status, LD_ORDER_FAILED, "the order of an expired payment is %d",
                     (int)o.status);
    ld_drop d;
    ldh_drop_get(client, &spec.id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.available, 10);
    cr_assert_eq(d.stock.sold, 0);

    err = ld_place_order(client, &spec.id, &user, 2, "slow-1", "pm_card_slow", &o, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_EXPIRED, "same-key retry: %s (%s)", ld_err_name(err),
                 msg.text);

    /* The approval comes back ~2.5 s after the call: it must be voided, not sold. */
    while (ldh_now_ms() < t0 + 2500 + 500)
        ldh_sleep_ms(20);
    ldh_drop_get(client, &spec.id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.available, 10, "a late approval took stock: available %lld",
                 (long long)d.stock.available);
    cr_assert_eq(d.stock.sold, 0);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
