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
    ld_result c = fx_apply(&f, T0 + 1, op_commit(r.u.reservation.id, "ch_1"));
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
