/*
 * test_expiry.c -- TICK (shard/expiry.c and the heap/FIFOs of shard/heap.c): what falls due,
 * when, and how much one TICK may do.
 */
#include "sm_fixture.h"

Test(expiry, tick_expires_exactly_the_due_reservations)
{
    /* Goal: a TICK expires reservations with expires_at <= ts and no others, and gives their
     * stock back. Method: two reservations 1 s apart; tick at the first expiry. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    int64_t ttl = LD_RESERVATION_TTL_MS_DEFAULT;
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 2, "a"));
    ld_result b = fx_apply(&f, T0 + 1000, op_reserve(drop, id_n(2), 3, "b"));
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + ttl);
    assert_code(fx_apply(&f, T0 + ttl - 1, op_tick()), LD_OK);
    cr_assert_eq(fx_stock(&f, drop).reserved, 5);
    assert_code(fx_apply(&f, T0 + ttl, op_tick()), LD_OK);
    ld_stock s = fx_stock(&f, drop);
    cr_assert(s.available == 7 && s.reserved == 3);
    cr_assert_eq(
        fx_read(&f, f.ts, op_id(LD_OP_GET_RESERVATION, a.u.reservation.id)).u.reservation.state,
        LD_RES_EXPIRED);
    cr_assert_eq(
        fx_read(&f, f.ts, op_id(LD_OP_GET_RESERVATION, b.u.reservation.id)).u.reservation.state,
        LD_RES_ACTIVE);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + 1000 + ttl);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(expiry, closed_reservations_are_retained_then_deleted)
{
    /* Goal: a closed reservation stays readable for LD_RESERVATION_RETAIN_MS after it closed
     * and is deleted by the TICK at closed + RETAIN (not before); its order stays. Method:
     * commit at T0 + 10, tick at +RETAIN - 1 and +RETAIN. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 2, "a"));
    ld_id rid = a.u.reservation.id;
    ld_result c = fx_apply(&f, T0 + 10, op_checkout(rid, "ch"));
    fx_apply(&f, T0 + 20, op_reserve(drop, id_n(2), 1, "keep")); /* keeps the key FIFO busy */
    fx_apply(&f, T0 + 10 + LD_RESERVATION_RETAIN_MS - 1, op_tick());
    assert_code(fx_read(&f, f.ts, op_id(LD_OP_GET_RESERVATION, rid)), LD_OK);
    fx_apply(&f, T0 + 10 + LD_RESERVATION_RETAIN_MS, op_tick());
    assert_code(fx_read(&f, f.ts, op_id(LD_OP_GET_RESERVATION, rid)), LD_ERR_RESERVATION_NOT_FOUND);
    assert_code(fx_read(&f, f.ts, op_id(LD_OP_GET_ORDER, c.u.order.id)), LD_OK);
    assert_code(fx_apply(&f, f.ts, op_checkout(rid, "ch")), LD_ERR_RESERVATION_NOT_FOUND);
    cr_assert_eq(fx_stock(&f, drop).sold, 2);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(expiry, tick_is_bounded_and_the_rest_stays_due)
{
    /* Goal: one TICK performs at most LD_TICK_OPS_EXPIRE_MAX expirations; what remains is still
     * reported due by ld_sm_next_deadline_ms and the next TICK finishes it. Method: MAX + 100
     * reservations (one per user) due at the same time; two ticks. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    uint32_t n = LD_TICK_OPS_EXPIRE_MAX + 100;
    fx_live_drop(&f, drop, n, 0);
    static ld_op ops[LD_TICK_OPS_EXPIRE_MAX + 100];
    static ld_result res[LD_TICK_OPS_EXPIRE_MAX + 100];
    for (uint32_t i = 0; i < n; i++)
        ops[i] = op_reserve(drop, id_n(100000 + i), 1, "k");
    fx_batch(&f, T0, ops, n, res);
    for (uint32_t i = 0; i < n; i++)
        assert_code(res[i], LD_OK);
    int64_t due = T0 + LD_RESERVATION_TTL_MS_DEFAULT;
    fx_apply(&f, due, op_tick());
    ld_sm_stats st;
    ld_sm_stats_get(f.sm, &st);
    cr_assert_eq(st.reservations_active, 100);
    cr_assert_eq(fx_stock(&f, drop).reserved, 100);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), due);
    fx_apply(&f, due, op_tick());
    ld_sm_stats_get(f.sm, &st);
    cr_assert_eq(st.reservations_active, 0);
    cr_assert_eq(fx_stock(&f, drop).available, n);
    cr_assert_gt(ld_sm_next_deadline_ms(f.sm), due);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(expiry, next_deadline_reports_every_queue)
{
    /* Goal: ld_sm_next_deadline_ms is INT64_MAX on an empty shard and otherwise the earliest
     * of: active expiry, retention end, key TTL end, the next drop status boundary. Method:
     * walk one reservation through a drop that ends after all of them, then end the drop. */
    fx f;
    fx_init(&f, NULL);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), INT64_MAX);
    ld_id drop = id_n(1);
    assert_code(fx_apply(&f, T0, op_create(drop, T0, T0 + 30 * DAY_MS, 10, 0)), LD_OK);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + 30 * DAY_MS);
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "k"));
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + LD_RESERVATION_TTL_MS_DEFAULT);
    fx_apply(&f, T0 + 5, op_id(LD_OP_RELEASE, a.u.reservation.id));
    /* The key (T0 + 24 h) is due before the retention end (T0 + 5 + 24 h). */
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + LD_IDEMPOTENCY_TTL_MS);
    fx_apply(&f, T0 + LD_IDEMPOTENCY_TTL_MS, op_tick());
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + 5 + LD_RESERVATION_RETAIN_MS);
    fx_apply(&f, T0 + 5 + LD_RESERVATION_RETAIN_MS, op_tick());
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + 30 * DAY_MS);
    fx_apply(&f, T0 + 30 * DAY_MS, op_tick());
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), INT64_MAX);
    ld_sm_stats st;
    ld_sm_stats_get(f.sm, &st);
    cr_assert(st.reservations == 0 && st.idempotency_keys == 0);
    fx_fini(&f);
}

Test(expiry, expiry_order_is_total)
{
    /* Goal: reservations due at the same ms expire in id order, so a bounded TICK picks the same
     * ones on every replica. Method: heap order check through ldi_heap_less on equal times. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_op ops[3] = {op_reserve(drop, id_n(2), 1, "a"), op_reserve(drop, id_n(3), 1, "a"),
                    op_reserve(drop, id_n(4), 1, "a")};
    ld_result res[3];
    fx_batch(&f, T0, ops, 3, res);
    uint32_t top = ldi_heap_top(f.sm);
    const ld_id *min = &res[0].u.reservation.id;
    for (int i = 1; i < 3; i++)
        if (memcmp(res[i].u.reservation.id.bytes, min->bytes, 16) < 0)
            min = &res[i].u.reservation.id;
    cr_assert(ld_id_eq(&ldi_res_at(f.sm, top)->v.id, min));
    fx_fini(&f);
}
