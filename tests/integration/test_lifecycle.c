/*
 * test_lifecycle.c -- a drop's and a reservation's life on a real node: the drop's window opens
 * and closes on time, per-user limits hold (and free up when stock comes back), and reservation
 * transitions (commit, release, their repeats and their refusals) move stock exactly once.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

TestSuite(lifecycle, .fini = ldh_suite_fini, .timeout = 180);

static ld_err
reserve(ld_client *client, const ld_id *drop, const ld_id *user, int64_t qty, const char *key,
        ld_reservation *out)
{
    ld_errmsg msg = {{0}};
    ld_err err = ld_reserve(client, drop, user, qty, key, out, &msg);
    if (err != LD_OK && err != LD_EXISTS)
        cr_assert_str_not_empty(msg.text, "%s without a message", ld_err_name(err));
    return err;
}

/* Polls the drop until its status is `want`; asserts no read that ended before `not_before_ms`
 * saw it, and that it came within 3 s after. */
static void
wait_status(ld_client *client, const ld_id *drop_id, ld_drop_status want, int64_t not_before_ms)
{
    for (;;) {
        int64_t t_start = ldh_now_ms();
        ld_drop d;
        ldh_drop_get(client, drop_id, &d);
        int64_t t_end = ldh_now_ms();
        if (d.status == want) {
            cr_assert_geq(t_end, not_before_ms, "status %d seen %lld ms early", (int)want,
                          (long long)(not_before_ms - t_end));
            return;
        }
        cr_assert_leq(t_start, not_before_ms + 3000, "status still %d 3 s after it was due",
                      (int)d.status);
        ldh_sleep_ms(5);
    }
}

Test(lifecycle, drop_window_opens_and_closes_on_time)
{
    /* Goal: a drop refuses reserves before starts_at (NOT_STARTED) and after ends_at (ENDED),
     * serves them in between, switches status neither early nor late, and a reservation made
     * while live can still be committed after the end. Method: a drop starting in 1 s and
     * lasting 3 s (room for a loaded machine between the edges); poll get_drop with
     * clock-bracketed reads around each edge. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_spec_live(&spec, 10, 0, 0);
    spec.starts_at_ms = ldh_now_ms() + 1000;
    spec.ends_at_ms = spec.starts_at_ms + 3000;
    ld_drop d;
    ldh_drop_create(client, &spec, &d);
    ld_id user = ldh_id();
    ld_reservation r;
    if (ldh_now_ms() < spec.starts_at_ms - 100) {
        cr_assert_eq(d.status, LD_DROP_UPCOMING);
        cr_assert_eq(reserve(client, &spec.id, &user, 1, "early", &r), LD_ERR_DROP_NOT_STARTED);
    }
    wait_status(client, &spec.id, LD_DROP_LIVE, spec.starts_at_ms);
    ld_err err = reserve(client, &spec.id, &user, 2, "live", &r);
    cr_assert_eq(err, LD_OK, "reserve while live: %s", ld_err_name(err));
    wait_status(client, &spec.id, LD_DROP_ENDED, spec.ends_at_ms);
    ld_reservation r2;
    cr_assert_eq(reserve(client, &spec.id, &user, 1, "late", &r2), LD_ERR_DROP_ENDED);
    ld_order o;
    ld_errmsg msg = {{0}};
    err = ld_place_order(client, &spec.id, &user, 1, "late-order", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_ERR_DROP_ENDED, "place_order after the end: %s", ld_err_name(err));
    err = ld_commit(client, &r.user_id, &r.id, "ref-after-end", &o, &msg);
    cr_assert_eq(err, LD_OK, "commit of a live-made reservation after the end: %s (%s)",
                 ld_err_name(err), msg.text);
    ldh_drop_get(client, &spec.id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.sold, 2);
    cr_assert_eq(d.stock.available, 8);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(lifecycle, per_user_limit_counts_reserved_and_frees_on_expiry)
{
    /* Goal: max_per_user counts held and bought units: a user at the limit is refused
     * (USER_LIMIT) by reserve and place_order while others are not, and gets room back when a
     * reservation expires. Method: max 3, TTL 1 s: buy 1, reserve 2, try more, wait for the
     * expiry, reserve 2 again. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 20, 3, LD_RESERVATION_TTL_MS_MIN);
    ld_id user = ldh_id(), other = ldh_id();
    ld_order o;
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(client, &spec.id, &user, 1, "buy", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    ld_reservation r;
    cr_assert_eq(reserve(client, &spec.id, &user, 2, "hold", &r), LD_OK);
    int64_t expires_at = r.expires_at_ms;
    cr_assert_eq(reserve(client, &spec.id, &user, 1, "more", &r), LD_ERR_USER_LIMIT);
    err = ld_place_order(client, &spec.id, &user, 1, "more-order", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_ERR_USER_LIMIT, "place_order at the limit: %s", ld_err_name(err));
    cr_assert_eq(reserve(client, &spec.id, &other, 3, "other", &r), LD_OK,
                 "another user is not limited by this one");
    ld_drop d;
    ldh_drop_get(client, &spec.id, &d);
    cr_assert_eq(d.stock.sold, 1);
    cr_assert_eq(d.stock.reserved, 5);

    /* Both holds expire; the user has room for 2 again (1 bought stays counted). */
    for (;;) {
        ldh_drop_get(client, &spec.id, &d);
        if (d.stock.reserved == 0)
            break;
        cr_assert_lt(ldh_now_ms(), expires_at + 3000, "holds did not expire");
        ldh_sleep_ms(10);
    }
    cr_assert_eq(reserve(client, &spec.id, &user, 3, "after-3", &r), LD_ERR_USER_LIMIT,
                 "bought units still count after the holds expired");
    cr_assert_eq(reserve(client, &spec.id, &user, 2, "after-2", &r), LD_OK);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(lifecycle, active_reservations_per_user_are_capped_across_restart)
{
    /* Goal: one user holds at most LD_ACTIVE_RESERVATIONS_PER_USER_MAX active reservations on
     * a drop; the cap survives kill -9, and releasing one makes room. Method: reserve the cap
     * with qty 1 each, see one more refused, kill -9 and restart, see it refused again,
     * release one, reserve again. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 100, 0, 0);
    ld_id user = ldh_id();
    ld_reservation r[LD_ACTIVE_RESERVATIONS_PER_USER_MAX], extra;
    for (unsigned i = 0; i < LD_ACTIVE_RESERVATIONS_PER_USER_MAX; i++) {
        char key[32];
        snprintf(key, sizeof key, "cap-%u", i);
        ld_err err = reserve(client, &spec.id, &user, 1, key, &r[i]);
        cr_assert_eq(err, LD_OK, "reservation %u: %s", i, ld_err_name(err));
    }
    cr_assert_eq(reserve(client, &spec.id, &user, 1, "over", &extra), LD_ERR_USER_LIMIT);
    ld_client_close(client);
    ldh_node_kill9(&node);
    ldh_node_start(&node);
    client = ldh_client(&node, 10000);
    cr_assert_eq(reserve(client, &spec.id, &user, 1, "over-2", &extra), LD_ERR_USER_LIMIT,
                 "the per-user cap was lost across kill -9");
    ld_reservation rel;
    ld_errmsg msg = {{0}};
    ld_err err = ld_release(client, &r[0].user_id, &r[0].id, &rel, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(rel.state, LD_RES_RELEASED);
    cr_assert_eq(reserve(client, &spec.id, &user, 1, "after-release", &extra), LD_OK);
    ld_drop d;
    ldh_drop_get(client, &spec.id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.reserved, LD_ACTIVE_RESERVATIONS_PER_USER_MAX);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(lifecycle, commit_and_release_move_stock_once)
{
    /* Goal: commit and release each move stock exactly once: repeats are answered (same order;
     * LD_OK) without moving stock, and the crossed transitions are refused with
     * RESERVATION_CLOSED; unknown ids are RESERVATION_NOT_FOUND / ORDER_NOT_FOUND. Method: two
     * reservations, one committed twice then released, one released twice then committed, with
     * the counters read after each step. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 10, 0, 0);
    ld_id user = ldh_id();
    ld_reservation a, b, tmp;
    cr_assert_eq(reserve(client, &spec.id, &user, 3, "a", &a), LD_OK);
    cr_assert_eq(reserve(client, &spec.id, &user, 2, "b", &b), LD_OK);
    ld_errmsg msg = {{0}};
    ld_order o1, o2;
    cr_assert_eq(ld_commit(client, &a.user_id, &a.id, "ref-a", &o1, &msg), LD_OK);
    cr_assert_eq(ld_commit(client, &a.user_id, &a.id, "ref-a", &o2, &msg), LD_OK);
    cr_assert(ldh_id_eq(&o1.id, &o2.id), "a second commit made a second order");
    ld_err err = ld_release(client, &a.user_id, &a.id, &tmp, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_CLOSED, "release of a committed reservation: %s",
                 ld_err_name(err));
    cr_assert_eq(ld_release(client, &b.user_id, &b.id, &tmp, &msg), LD_OK);
    cr_assert_eq(ld_release(client, &b.user_id, &b.id, &tmp, &msg), LD_OK, "releasing again is OK");
    err = ld_commit(client, &b.user_id, &b.id, "ref-b", &o2, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_CLOSED, "commit of a released reservation: %s",
                 ld_err_name(err));
    ld_drop d;
    ldh_drop_get(client, &spec.id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.sold, 3);
    cr_assert_eq(d.stock.reserved, 0);
    cr_assert_eq(d.stock.available, 7);

    ld_id unknown = ldh_id();
    err = ld_commit(client, &unknown, &unknown, "ref", &o2, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_NOT_FOUND, "%s", ld_err_name(err));
    err = ld_release(client, &unknown, &unknown, &tmp, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_NOT_FOUND, "%s", ld_err_name(err));
    err = ld_reservation_get(client, &unknown, &tmp, &msg);
    cr_assert_eq(err, LD_ERR_RESERVATION_NOT_FOUND, "%s", ld_err_name(err));
    err = ld_order_get(client, &unknown, &o2, &msg);
    cr_assert_eq(err, LD_ERR_ORDER_NOT_FOUND, "%s", ld_err_name(err));
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
