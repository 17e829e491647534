/*
 * test_actor.c -- the drop actor's rules (shard/actor.c): reserve limits, drop status, commit,
 * release, place_order and finish_order, with their refusals and boundaries.
 */
#include "sm_fixture.h"

static ld_id
reserve_ok(fx *f, int64_t ts, ld_id drop, ld_id user, int64_t qty, const char *key)
{
    ld_result r = fx_apply(f, ts, op_reserve(drop, user, qty, key));
    assert_code(r, LD_OK);
    return r.u.reservation.id;
}

Test(actor, sold_out_exactly_at_the_boundary)
{
    /* Goal: stock can be reserved down to exactly zero and not one unit further. Method: stock
     * 5; reserve 4 then 2 (refused), then 1 (ok, available 0), then 1 (refused). */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 5, 0);
    reserve_ok(&f, T0, drop, id_n(2), 4, "a");
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(3), 2, "b")), LD_ERR_SOLD_OUT);
    reserve_ok(&f, T0, drop, id_n(3), 1, "c");
    cr_assert_eq(fx_stock(&f, drop).available, 0);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(4), 1, "d")), LD_ERR_SOLD_OUT);
    ld_stock s = fx_stock(&f, drop);
    cr_assert(s.available == 0 && s.reserved == 5 && s.sold == 0);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, user_limit_counts_reserved_and_bought)
{
    /* Goal: max_per_user bounds reserved + bought of one user on one drop, and only that user.
     * Method: limit 5; reserve 3 and commit it (bought 3), reserve 2 (at the limit), reserve 1
     * (refused); another user is unaffected; releasing frees room again. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), u = id_n(2);
    fx_live_drop(&f, drop, 100, 5);
    ld_id r1 = reserve_ok(&f, T0, drop, u, 3, "a");
    assert_code(fx_apply(&f, T0, op_checkout(r1, "ch")), LD_OK);
    ld_id r2 = reserve_ok(&f, T0, drop, u, 2, "b");
    ld_result r = fx_apply(&f, T0, op_reserve(drop, u, 1, "c"));
    assert_code(r, LD_ERR_USER_LIMIT);
    cr_assert_eq(r.kind, LD_RESULT_NONE);
    reserve_ok(&f, T0, drop, id_n(3), 5, "a");
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, r2)), LD_OK);
    reserve_ok(&f, T0, drop, u, 2, "d");
    assert_code(fx_apply(&f, T0, op_reserve(drop, u, 1, "e")), LD_ERR_USER_LIMIT);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, user_limit_zero_means_unlimited)
{
    /* Goal: max_per_user 0 puts no cap on qty. Method: one user reserves 100 units of 100. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 100, 0);
    reserve_ok(&f, T0, drop, id_n(2), 100, "a");
    cr_assert_eq(fx_stock(&f, drop).available, 0);
    fx_fini(&f);
}

Test(actor, active_reservations_per_user_are_bounded)
{
    /* Goal: one user holds at most LD_ACTIVE_RESERVATIONS_PER_USER_MAX active reservations on a
     * drop. Method: reserve qty 1 that many times, the next is USER_LIMIT; a release makes
     * room; another drop is independent. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), u = id_n(2);
    fx_live_drop(&f, drop, 1000, 0);
    fx_live_drop(&f, id_n(9), 1000, 0);
    ld_id first = {{0}};
    for (unsigned i = 0; i < LD_ACTIVE_RESERVATIONS_PER_USER_MAX; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%u", i);
        ld_id id = reserve_ok(&f, T0, drop, u, 1, key);
        if (i == 0)
            first = id;
    }
    assert_code(fx_apply(&f, T0, op_reserve(drop, u, 1, "over")), LD_ERR_USER_LIMIT);
    reserve_ok(&f, T0, id_n(9), u, 1, "other-drop");
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, first)), LD_OK);
    reserve_ok(&f, T0, drop, u, 1, "after-release");
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, status_boundaries_are_exact_to_the_ms)
{
    /* Goal: reserve is refused before starts_at, allowed from starts_at to ends_at - 1, refused
     * from ends_at on. Method: a drop [T0+1000, T0+2000) probed at 999, 1000, 1999, 2000. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    assert_code(fx_apply(&f, T0, op_create(drop, T0 + 1000, T0 + 2000, 10, 0)), LD_OK);
    ld_result r = fx_apply(&f, T0 + 999, op_reserve(drop, id_n(2), 1, "a"));
    assert_code(r, LD_ERR_DROP_NOT_STARTED);
    reserve_ok(&f, T0 + 1000, drop, id_n(2), 1, "b");
    cr_assert_eq(fx_read(&f, T0 + 1000, op_id(LD_OP_GET_DROP, drop)).u.drop.status, LD_DROP_LIVE);
    reserve_ok(&f, T0 + 1999, drop, id_n(2), 1, "c");
    assert_code(fx_apply(&f, T0 + 2000, op_reserve(drop, id_n(2), 1, "d")), LD_ERR_DROP_ENDED);
    cr_assert_eq(fx_read(&f, T0 + 999, op_id(LD_OP_GET_DROP, drop)).u.drop.status,
                 LD_DROP_UPCOMING);
    cr_assert_eq(fx_read(&f, T0 + 2000, op_id(LD_OP_GET_DROP, drop)).u.drop.status, LD_DROP_ENDED);
    fx_fini(&f);
}

Test(actor, reserve_unknown_drop)
{
    /* Goal: reserve on a drop that does not exist is DROP_NOT_FOUND. Method: empty shard. */
    fx f;
    fx_init(&f, NULL);
    assert_code(fx_apply(&f, T0, op_reserve(id_n(1), id_n(2), 1, "a")), LD_ERR_DROP_NOT_FOUND);
    fx_fini(&f);
}

Test(actor, reservation_ids_are_derived_from_seed_op_and_index)
{
    /* Goal: a reservation's id is ldi_res_id_derive(entry id seed, op number, index in batch):
     * same on every replica, distinct per position, never zero. Method: a batch of three
     * reserves under a set seed, compared with the derivation. */
    fx f;
    fx_init(&f, NULL);
    f.id_seed = id_n(77);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_op ops[3] = {op_reserve(drop, id_n(2), 1, "a"), op_reserve(drop, id_n(3), 1, "a"),
                    op_reserve(drop, id_n(4), 1, "a")};
    ld_result res[3];
    uint64_t op_number = ld_sm_applied_op(f.sm) + 1;
    fx_batch(&f, T0, ops, 3, res);
    for (uint32_t i = 0; i < 3; i++) {
        ld_id want = ldi_res_id_derive(&f.id_seed, op_number, i);
        cr_assert(ld_id_eq(&res[i].u.reservation.id, &want));
        cr_assert(!ld_id_is_zero(&want));
    }
    cr_assert(!ld_id_eq(&res[0].u.reservation.id, &res[1].u.reservation.id));
    ld_id o = ldi_order_id_derive(&res[0].u.reservation.id);
    cr_assert(!ld_id_is_zero(&o) && !ld_id_eq(&o, &res[0].u.reservation.id));
    fx_fini(&f);
}

/* Runs the same history (a live drop, then one reserve) on a fresh state machine whose batches
 * carry `seed`; returns the reservation's id. */
static ld_id
fresh_shard_first_reservation(ld_id seed)
{
    fx f;
    fx_init(&f, NULL);
    f.id_seed = seed;
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_id rid = reserve_ok(&f, T0, drop, id_n(2), 1, "a");
    fx_fini(&f);
    return rid;
}

Test(actor, ids_differ_between_shards_with_the_same_history_and_agree_between_replicas)
{
    /* Goal: two fresh shards (two clusters, or one reformatted) fed the same ops at the same op
     * numbers hand out different reservation (and so order and payment) ids, because their
     * primaries drew different entry seeds; replicas applying the same entries agree. Method:
     * the same history under seeds A, B and A again. With ids derived from the op number alone
     * (the code before LogEntry.id_seed) A and B gave the same id. */
    ld_id a = fresh_shard_first_reservation(id_n(1001));
    ld_id b = fresh_shard_first_reservation(id_n(1002));
    ld_id a_again = fresh_shard_first_reservation(id_n(1001));
    cr_assert(!ld_id_eq(&a, &b), "two shards handed out the same reservation id");
    cr_assert(ld_id_eq(&a, &a_again), "the same entries gave different ids");
    ld_id oa = ldi_order_id_derive(&a), ob = ldi_order_id_derive(&b);
    cr_assert(!ld_id_eq(&oa, &ob));
}

Test(actor, commit_twice_returns_the_same_order)
{
    /* Goal: commit is idempotent on a committed reservation (same order, LD_OK, nothing sold
     * twice) when it is the same request, and a commit with another payment reference is
     * IDEMPOTENCY_KEY_REUSED (the reservation is the key), changing nothing. Method: commit,
     * commit again with the same ref, then with another; compare and read the stock. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_id rid = reserve_ok(&f, T0, drop, id_n(2), 2, "a");
    ld_result a = fx_apply(&f, T0 + 5, op_checkout(rid, "ch_1"));
    ld_result b = fx_apply(&f, T0 + 9, op_checkout(rid, "ch_1"));
    ld_result c = fx_apply(&f, T0 + 9, op_checkout(rid, "ch_2"));
    assert_code(a, LD_OK);
    assert_code(b, LD_OK);
    assert_code(c, LD_ERR_IDEMPOTENCY_KEY_REUSED);
    cr_assert(strstr(c.message, "another payment reference") != NULL, "%s", c.message);
    cr_assert(ld_id_eq(&a.u.order.id, &b.u.order.id));
    cr_assert_str_eq(b.u.order.payment_ref, "ch_1");
    cr_assert_eq(fx_stock(&f, drop).sold, 2);
    ld_result g = fx_read(&f, T0, op_id(LD_OP_GET_RESERVATION, rid));
    cr_assert_eq(g.u.reservation.state, LD_RES_COMMITTED);
    cr_assert(ld_id_eq(&g.u.reservation.order_id, &a.u.order.id));
    ld_result o = fx_read(&f, T0, op_id(LD_OP_GET_ORDER, a.u.order.id));
    assert_code(o, LD_OK);
    cr_assert_eq(o.u.order.status, LD_ORDER_PAID);
    cr_assert_str_eq(o.u.order.payment_ref, "ch_1");
    fx_fini(&f);
}

Test(actor, release_rules)
{
    /* Goal: release gives stock back once; releasing again is LD_OK; a released reservation
     * cannot be committed (CLOSED) and a committed one cannot be released (CLOSED); unknown ids
     * are NOT_FOUND. Method: drive one reservation of each kind through the transitions. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_id r1 = reserve_ok(&f, T0, drop, id_n(2), 3, "a");
    ld_result rel = fx_apply(&f, T0, op_id(LD_OP_RELEASE, r1));
    assert_code(rel, LD_OK);
    cr_assert_eq(rel.u.reservation.state, LD_RES_RELEASED);
    cr_assert_eq(fx_stock(&f, drop).available, 10);
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, r1)), LD_OK);
    cr_assert_eq(fx_stock(&f, drop).available, 10);
    assert_code(fx_apply(&f, T0, op_checkout(r1, "ch")), LD_ERR_RESERVATION_CLOSED);
    ld_id r2 = reserve_ok(&f, T0, drop, id_n(2), 1, "b");
    assert_code(fx_apply(&f, T0, op_checkout(r2, "ch")), LD_OK);
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, r2)), LD_ERR_RESERVATION_CLOSED);
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, id_n(77))), LD_ERR_RESERVATION_NOT_FOUND);
    assert_code(fx_apply(&f, T0, op_checkout(id_n(77), "ch")), LD_ERR_RESERVATION_NOT_FOUND);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, commit_at_expires_at_expires_now)
{
    /* Goal: commit succeeds until expires_at - 1 ms and at expires_at expires the reservation on
     * the spot (stock back) even though no TICK ran. Method: two reservations of one TTL. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    int64_t ttl = LD_RESERVATION_TTL_MS_DEFAULT;
    ld_id a = reserve_ok(&f, T0, drop, id_n(2), 2, "a");
    ld_id b = reserve_ok(&f, T0, drop, id_n(3), 3, "b");
    assert_code(fx_apply(&f, T0 + ttl - 1, op_checkout(a, "ch")), LD_OK);
    assert_code(fx_apply(&f, T0 + ttl, op_checkout(b, "ch")), LD_ERR_RESERVATION_EXPIRED);
    ld_stock s = fx_stock(&f, drop);
    cr_assert(s.available == 8 && s.reserved == 0 && s.sold == 2);
    cr_assert_eq(fx_read(&f, f.ts, op_id(LD_OP_GET_RESERVATION, b)).u.reservation.state,
                 LD_RES_EXPIRED);
    assert_code(fx_apply(&f, f.ts, op_checkout(b, "ch")), LD_ERR_RESERVATION_EXPIRED);
    ld_result rel = fx_apply(&f, f.ts, op_id(LD_OP_RELEASE, b));
    assert_code(rel, LD_OK); /* it holds no stock: what a release makes sure of */
    cr_assert_eq(rel.u.reservation.state, LD_RES_EXPIRED);
    cr_assert_eq(fx_stock(&f, drop).available, 8);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, release_after_expires_at_expires_it_and_answers_ok)
{
    /* Goal: release of an active reservation past its time (no TICK ran) expires it on the spot
     * (stock back once) and answers LD_OK with the EXPIRED reservation; releasing it again is the
     * same answer. Method: reserve 4 of 10, release at expires_at twice, read the stock. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_id a = reserve_ok(&f, T0, drop, id_n(2), 4, "a");
    for (int i = 0; i < 2; i++) {
        ld_result rel = fx_apply(&f, T0 + LD_RESERVATION_TTL_MS_DEFAULT, op_id(LD_OP_RELEASE, a));
        assert_code(rel, LD_OK);
        cr_assert_eq(rel.u.reservation.state, LD_RES_EXPIRED);
        cr_assert(ld_id_eq(&rel.u.reservation.id, &a));
        cr_assert_eq(fx_stock(&f, drop).available, 10);
    }
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, commit_allowed_after_the_drop_ended)
{
    /* Goal: an active reservation can be committed after ends_at. Method: drop ends at T0+10;
     * reserve at T0, commit at T0+20. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    assert_code(fx_apply(&f, T0, op_create(drop, T0 - 10, T0 + 10, 5, 0)), LD_OK);
    ld_id a = reserve_ok(&f, T0, drop, id_n(2), 1, "a");
    assert_code(fx_apply(&f, T0 + 20, op_checkout(a, "ch")), LD_OK);
    fx_fini(&f);
}

/* ---- place_order ---------------------------------------------------------------------------- */

static ld_result
place(fx *f, int64_t ts, ld_id drop, ld_id user, int64_t qty, const char *key)
{
    return fx_apply(f, ts, op_place(drop, user, qty, key, "pm_card_ok"));
}

Test(actor, place_order_approved)
{
    /* Goal: place_order reserves and asks for payment (amount, currency, method, expiry); an
     * approving FINISH_ORDER commits it (order PAID with the ref) and the key replays that order.
     * Method: place, check the payment request and pending list, finish, replay the key. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), u = id_n(2);
    fx_live_drop(&f, drop, 10, 0);
    ld_result p = place(&f, T0, drop, u, 3, "k");
    assert_code(p, LD_OK);
    cr_assert(p.needs_payment);
    cr_assert_eq(p.kind, LD_RESULT_RESERVATION);
    cr_assert_eq(p.payment.amount_minor, 3 * 1999);
    cr_assert_str_eq(p.payment.currency, "EUR");
    cr_assert_str_eq(p.payment.payment_method, "pm_card_ok");
    cr_assert_eq(p.payment.expires_at_ms, T0 + LD_RESERVATION_TTL_MS_DEFAULT);
    cr_assert(ld_id_eq(&p.payment.reservation_id, &p.u.reservation.id));
    cr_assert_eq(ld_sm_pending_payments(f.sm, NULL, NULL), 1);
    assert_code(place(&f, T0 + 1, drop, u, 3, "k"), LD_ERR_IN_PROGRESS);
    ld_result fin = fx_apply(&f, T0 + 2, op_finish(p.payment.reservation_id, true, "pi_1"));
    assert_code(fin, LD_OK);
    cr_assert_eq(fin.kind, LD_RESULT_ORDER);
    cr_assert_eq(fin.u.order.status, LD_ORDER_PAID);
    cr_assert_str_eq(fin.u.order.payment_ref, "pi_1");
    cr_assert_eq(ld_sm_pending_payments(f.sm, NULL, NULL), 0);
    ld_result again = place(&f, T0 + 3, drop, u, 3, "k");
    assert_code(again, LD_OK);
    cr_assert(!again.needs_payment);
    cr_assert_eq(memcmp(&again.u.order, &fin.u.order, sizeof fin.u.order), 0);
    ld_result fin2 = fx_apply(&f, T0 + 4, op_finish(p.payment.reservation_id, false, ""));
    assert_code(fin2, LD_OK); /* a late duplicate verdict changes nothing */
    cr_assert_eq(fx_stock(&f, drop).sold, 3);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, place_order_declined)
{
    /* Goal: a declining FINISH_ORDER gives the stock back, records a FAILED order and stores
     * PAYMENT_DECLINED (with that order) under the key. Method: place, decline, replay. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), u = id_n(2);
    fx_live_drop(&f, drop, 10, 0);
    ld_result p = place(&f, T0, drop, u, 2, "k");
    ld_result fin = fx_apply(&f, T0 + 2, op_finish(p.payment.reservation_id, false, "pi_d"));
    assert_code(fin, LD_ERR_PAYMENT_DECLINED);
    cr_assert_eq(fin.kind, LD_RESULT_ORDER);
    cr_assert_eq(fin.u.order.status, LD_ORDER_FAILED);
    ld_stock s = fx_stock(&f, drop);
    cr_assert(s.available == 10 && s.reserved == 0 && s.sold == 0);
    ld_result again = place(&f, T0 + 3, drop, u, 2, "k");
    assert_code(again, LD_ERR_PAYMENT_DECLINED);
    cr_assert_str_eq(again.message, fin.message);
    cr_assert_eq(again.u.order.status, LD_ORDER_FAILED);
    cr_assert_eq(fx_read(&f, f.ts, op_id(LD_OP_GET_RESERVATION, p.payment.reservation_id))
                     .u.reservation.state,
                 LD_RES_RELEASED);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, finish_after_expiry_fails_the_order)
{
    /* Goal: an approval that arrives at or after the reservation's expiry does not sell: the key
     * ends with RESERVATION_EXPIRED and a FAILED order (the node voids the payment). Method:
     * place, approve at expires_at. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), u = id_n(2);
    fx_live_drop(&f, drop, 10, 0);
    ld_result p = place(&f, T0, drop, u, 2, "k");
    ld_result fin =
        fx_apply(&f, p.payment.expires_at_ms, op_finish(p.payment.reservation_id, true, "pi"));
    assert_code(fin, LD_ERR_RESERVATION_EXPIRED);
    cr_assert_eq(fin.u.order.status, LD_ORDER_FAILED);
    cr_assert_eq(fx_stock(&f, drop).available, 10);
    assert_code(place(&f, f.ts, drop, u, 2, "k"), LD_ERR_RESERVATION_EXPIRED);
    fx_fini(&f);
}

Test(actor, tick_expiry_of_a_payment_fails_the_order)
{
    /* Goal: when TICK expires a reservation awaiting payment, the key gets RESERVATION_EXPIRED
     * and a FAILED order, and a late approval answers the same. Method: place, tick at expiry,
     * replay the key, then FINISH_ORDER approved. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), u = id_n(2);
    fx_live_drop(&f, drop, 10, 0);
    ld_result p = place(&f, T0, drop, u, 2, "k");
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), p.payment.expires_at_ms);
    assert_code(fx_apply(&f, p.payment.expires_at_ms, op_tick()), LD_OK);
    cr_assert_eq(ld_sm_pending_payments(f.sm, NULL, NULL), 0);
    ld_result again = place(&f, f.ts, drop, u, 2, "k");
    assert_code(again, LD_ERR_RESERVATION_EXPIRED);
    cr_assert_eq(again.kind, LD_RESULT_ORDER);
    ld_result late = fx_apply(&f, f.ts, op_finish(p.payment.reservation_id, true, "pi"));
    assert_code(late, LD_ERR_RESERVATION_EXPIRED);
    cr_assert(ld_id_eq(&late.u.order.id, &again.u.order.id));
    cr_assert_eq(fx_stock(&f, drop).available, 10);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(actor, commit_or_release_during_payment_is_in_progress)
{
    /* Goal: only FINISH_ORDER settles a place_order: commit and release of its reservation are
     * refused with IN_PROGRESS; FINISH_ORDER on a plain reservation is INVALID_ARGUMENT and on an
     * unknown one NOT_FOUND. Method: one of each. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), u = id_n(2);
    fx_live_drop(&f, drop, 10, 0);
    ld_result p = place(&f, T0, drop, u, 2, "k");
    ld_id rid = p.payment.reservation_id;
    assert_code(fx_apply(&f, T0, op_checkout(rid, "x")), LD_ERR_IN_PROGRESS);
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, rid)), LD_ERR_IN_PROGRESS);
    ld_id plain = reserve_ok(&f, T0, drop, u, 1, "r");
    assert_code(fx_apply(&f, T0, op_finish(plain, true, "x")), LD_ERR_INVALID_ARGUMENT);
    assert_code(fx_apply(&f, T0, op_finish(id_n(99), true, "x")), LD_ERR_RESERVATION_NOT_FOUND);
    fx_fini(&f);
}

static void
collect_cb(void *arg, const ld_payment_request *req)
{
    ld_payment_request *out = arg;
    *out = *req;
}

Test(actor, pending_payments_lists_what_awaits)
{
    /* Goal: ld_sm_pending_payments reports each place_order awaiting FINISH_ORDER with the same
     * request the place_order returned. Method: one place_order, collect through the callback. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_result p = place(&f, T0, drop, id_n(2), 4, "k");
    ld_payment_request got;
    memset(&got, 0, sizeof got);
    cr_assert_eq(ld_sm_pending_payments(f.sm, collect_cb, &got), 1);
    cr_assert(ld_id_eq(&got.reservation_id, &p.payment.reservation_id));
    cr_assert_eq(got.amount_minor, p.payment.amount_minor);
    cr_assert_str_eq(got.payment_method, "pm_card_ok");
    cr_assert_eq(got.expires_at_ms, p.payment.expires_at_ms);
    fx_fini(&f);
}

Test(actor, place_order_refusals_are_stored)
{
    /* Goal: a place_order refused by a rule (sold out) stores the refusal under its key and asks
     * for no payment. Method: stock 1, place qty 2, replay the key: the same refusal. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 1, 0);
    ld_result p = place(&f, T0, drop, id_n(2), 2, "k");
    assert_code(p, LD_ERR_SOLD_OUT);
    cr_assert(!p.needs_payment);
    cr_assert_eq(ld_sm_pending_payments(f.sm, NULL, NULL), 0);
    ld_result again = place(&f, T0, drop, id_n(2), 2, "k");
    assert_code(again, LD_ERR_SOLD_OUT);
    cr_assert_str_eq(again.message, p.message);
    fx_fini(&f);
}
