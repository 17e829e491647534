/*
 * test_sm.c -- the shard state machine's rules, end to end through ld_sm_apply().
 */
#include "sm_fixture.h"

Test(sm, reserve_commit_happy_path)
{
    /* Goal: a reserve then commit moves stock available -> reserved -> sold. Method: one drop,
     * one reserve, one commit, reading the drop after each. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1), user = id_n(2);
    fx_live_drop(&f, drop, 10, 0);
    ld_result r = fx_apply(&f, T0, op_reserve(drop, user, 3, "k1"));
    assert_code(r, LD_OK);
    cr_assert_eq(r.kind, LD_RESULT_RESERVATION);
    cr_assert_eq(r.u.reservation.state, LD_RES_ACTIVE);
    cr_assert_eq(r.u.reservation.expires_at_ms, T0 + LD_RESERVATION_TTL_MS_DEFAULT);
    ld_stock s = fx_stock(&f, drop);
    cr_assert(s.available == 7 && s.reserved == 3 && s.sold == 0);
    ld_result c = fx_apply(&f, T0 + 1, op_checkout(r.u.reservation.id, "ch_1"));
    assert_code(c, LD_OK);
    cr_assert_eq(c.kind, LD_RESULT_ORDER);
    cr_assert_eq(c.u.order.status, LD_ORDER_PAID);
    cr_assert_eq(c.u.order.total_minor, 3 * 1999);
    cr_assert_str_eq(c.u.order.payment_ref, "ch_1");
    s = fx_stock(&f, drop);
    cr_assert(s.available == 7 && s.reserved == 0 && s.sold == 3);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(sm, create_drop_is_idempotent_by_id)
{
    /* Goal: re-creating a drop with identical fields is LD_EXISTS with the drop (even after it
     * ended); any differing field is ID_CONFLICT and changes nothing. Method: create, re-create
     * identical, with another title, with another stock, and identical after ends_at. */
    fx f;
    fx_init(&f, NULL);
    ld_op c = op_create(id_n(1), T0, T0 + 1000, 10, 0);
    assert_code(fx_apply(&f, T0, c), LD_OK);
    ld_result again = fx_apply(&f, T0 + 1, c);
    assert_code(again, LD_EXISTS);
    cr_assert_eq(again.kind, LD_RESULT_DROP);
    cr_assert_eq(again.u.drop.created_at_ms, T0);
    ld_op other = c;
    snprintf(other.u.create_drop.product.title, sizeof other.u.create_drop.product.title, "x");
    assert_code(fx_apply(&f, T0 + 2, other), LD_ERR_ID_CONFLICT);
    other = c;
    other.u.create_drop.initial_stock = 11;
    assert_code(fx_apply(&f, T0 + 2, other), LD_ERR_ID_CONFLICT);
    other = c;
    other.u.create_drop.product.tags_count = 1;
    assert_code(fx_apply(&f, T0 + 2, other), LD_ERR_ID_CONFLICT);
    assert_code(fx_apply(&f, T0 + 5000, c), LD_EXISTS);
    cr_assert_eq(fx_stock(&f, id_n(1)).available, 10);
    fx_fini(&f);
}

Test(sm, create_drop_refuses_an_end_in_the_past)
{
    /* Goal: ends_at must be after the batch time: ends_at == ts is INVALID_TIME, ts + 1 is fine.
     * Method: two creates at T0. */
    fx f;
    fx_init(&f, NULL);
    ld_result r = fx_apply(&f, T0, op_create(id_n(1), T0 - 10, T0, 10, 0));
    assert_code(r, LD_ERR_INVALID_TIME);
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_DROP, id_n(1))), LD_ERR_DROP_NOT_FOUND);
    assert_code(fx_apply(&f, T0, op_create(id_n(1), T0 - 10, T0 + 1, 10, 0)), LD_OK);
    fx_fini(&f);
}

Test(sm, create_drop_result_shows_the_drop)
{
    /* Goal: the create result carries the drop as created: spec, status at the batch time and
     * full stock. Method: create an upcoming drop and inspect the result. */
    fx f;
    fx_init(&f, NULL);
    ld_result r = fx_apply(&f, T0, op_create(id_n(1), T0 + 10, T0 + 20, 7, 2));
    assert_code(r, LD_OK);
    cr_assert_eq(r.u.drop.status, LD_DROP_UPCOMING);
    cr_assert_eq(r.u.drop.stock.available, 7);
    cr_assert_eq(r.u.drop.spec.max_per_user, 2);
    cr_assert_str_eq(r.u.drop.spec.product.tags[1], "limited");
    fx_fini(&f);
}

Test(sm, reads_of_unknown_ids)
{
    /* Goal: reads of unknown ids answer NOT_FOUND with the right code per kind; a write op
     * given to ld_sm_read is UNKNOWN_OP. Method: empty shard. */
    fx f;
    fx_init(&f, NULL);
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_DROP, id_n(1))), LD_ERR_DROP_NOT_FOUND);
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_ORDER, id_n(1))), LD_ERR_ORDER_NOT_FOUND);
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_RESERVATION, id_n(1))),
                LD_ERR_RESERVATION_NOT_FOUND);
    assert_code(fx_read(&f, T0, op_tick()), LD_ERR_UNKNOWN_OP);
    fx_fini(&f);
}

Test(sm, apply_counts_ops_and_time)
{
    /* Goal: applied op and last timestamp advance with each batch, also for empty batches and
     * batches holding a read op (answered, not applied). Method: three batches. */
    fx f;
    fx_init(&f, NULL);
    cr_assert_eq(ld_sm_applied_op(f.sm), 0);
    cr_assert_eq(ld_sm_last_ts(f.sm), 0);
    fx_batch(&f, T0, NULL, 0, NULL);
    cr_assert_eq(ld_sm_applied_op(f.sm), 1);
    cr_assert_eq(ld_sm_last_ts(f.sm), T0);
    ld_result r = fx_apply(&f, T0 + 5, op_id(LD_OP_GET_DROP, id_n(1)));
    assert_code(r, LD_ERR_DROP_NOT_FOUND);
    ld_op none;
    memset(&none, 0, sizeof none);
    assert_code(fx_apply(&f, T0 + 6, none), LD_ERR_UNKNOWN_OP);
    cr_assert_eq(ld_sm_applied_op(f.sm), 3);
    cr_assert_eq(ld_sm_last_ts(f.sm), T0 + 6);
    fx_fini(&f);
}

Test(sm, determinism_same_batches_same_digest)
{
    /* Goal: two state machines fed the same batches reach equal digests and equal results; a
     * different history gives a different digest. Method: the same seeded workload on two
     * shards, then one more op on one of them. */
    fx a, b;
    fx_init(&a, NULL);
    fx_init(&b, NULL);
    wl wa = {.rng = 42}, wb = {.rng = 42};
    wl_run(&a, &wa, 300, 16);
    wl_run(&b, &wb, 300, 16);
    cr_assert_eq(ld_sm_digest(a.sm), ld_sm_digest(b.sm));
    cr_assert_eq(ld_sm_applied_op(a.sm), ld_sm_applied_op(b.sm));
    uint64_t before = ld_sm_digest(a.sm);
    fx_apply(&a, a.ts, op_create(id_n(999999), a.ts, a.ts + 10, 1, 0));
    cr_assert_neq(ld_sm_digest(a.sm), before);
    fx_fini(&a);
    fx_fini(&b);
}

Test(sm, drop_capacity)
{
    /* Goal: past the drop capacity create_drop is ERR_CAPACITY, and an identical re-create of an
     * existing drop is still LD_EXISTS. Method: caps of 2 drops, create 3. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.drops = 2;
    fx f;
    fx_init(&f, &caps);
    fx_live_drop(&f, id_n(1), 1, 0);
    fx_live_drop(&f, id_n(2), 1, 0);
    assert_code(fx_apply(&f, T0, op_create(id_n(3), T0, T0 + 10, 1, 0)), LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0, op_create(id_n(1), T0 - HOUR_MS, T0 + DAY_MS, 1, 0)), LD_EXISTS);
    fx_fini(&f);
}

Test(sm, reservation_capacity_evicts_retained_before_refusing)
{
    /* Goal: with the reservation table full of active reservations reserve is ERR_CAPACITY (not
     * stored under its key); when some are closed, the oldest closed one is deleted early to make
     * room. Method: caps of 2 reservations. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.reservations = 2;
    fx f;
    fx_init(&f, &caps);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "a"));
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "b")), LD_OK);
    ld_result c = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "c"));
    assert_code(c, LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, a.u.reservation.id)), LD_OK);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "c")), LD_OK);
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_RESERVATION, a.u.reservation.id)),
                LD_ERR_RESERVATION_NOT_FOUND);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(sm, order_and_payment_capacity)
{
    /* Goal: commit past the order capacity is ERR_CAPACITY (the reservation stays active);
     * place_order needs a payment slot and room for its future order. Method: caps of 1 order
     * and 1 payment. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.orders = 1;
    caps.payments = 1;
    fx f;
    fx_init(&f, &caps);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_result p = fx_apply(&f, T0, op_place(drop, id_n(2), 1, "p", "pm_card_ok"));
    assert_code(p, LD_OK);
    assert_code(fx_apply(&f, T0, op_place(drop, id_n(3), 1, "q", "pm_card_ok")), LD_ERR_CAPACITY);
    ld_result r = fx_apply(&f, T0, op_reserve(drop, id_n(4), 1, "r"));
    assert_code(r, LD_OK);
    /* The only order slot is promised to the payment in flight. */
    assert_code(fx_apply(&f, T0, op_checkout(r.u.reservation.id, "ch")), LD_ERR_CAPACITY);
    cr_assert_eq(
        fx_read(&f, T0, op_id(LD_OP_GET_RESERVATION, r.u.reservation.id)).u.reservation.state,
        LD_RES_ACTIVE);
    assert_code(fx_apply(&f, T0, op_finish(p.payment.reservation_id, true, "pi")), LD_OK);
    assert_code(fx_apply(&f, T0, op_checkout(r.u.reservation.id, "ch")), LD_ERR_CAPACITY);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(sm, user_drop_counter_capacity)
{
    /* Goal: a reserve that needs a new (drop, user) counter past its capacity is ERR_CAPACITY;
     * existing users go on. Method: caps of 1 counter, two users. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.user_drops = 1;
    fx f;
    fx_init(&f, &caps);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "a")), LD_OK);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(3), 1, "a")), LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "b")), LD_OK);
    fx_fini(&f);
}

Test(sm, stats_count_records)
{
    /* Goal: ld_sm_stats_get counts drops, reservations (active and all), orders and keys.
     * Method: one of each after a small scenario. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "a"));
    fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "b"));
    fx_apply(&f, T0, op_checkout(a.u.reservation.id, "c"));
    ld_sm_stats st;
    ld_sm_stats_get(f.sm, &st);
    cr_assert_eq(st.drops, 1);
    cr_assert_eq(st.reservations, 2);
    cr_assert_eq(st.reservations_active, 1);
    cr_assert_eq(st.orders, 1);
    cr_assert_eq(st.idempotency_keys, 2);
    fx_fini(&f);
}
