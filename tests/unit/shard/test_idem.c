/*
 * test_idem.c -- idempotency keys (shard/idem.c): replay, reuse, in-progress, scope, TTL,
 * capacity, and the canonical request hash.
 */
#include "sm_fixture.h"

Test(idem, same_body_replays_the_first_result)
{
    /* Goal: a retry with the same key and body gets the first result byte for byte and changes
     * nothing (no second reservation). Method: reserve, retry in a later batch, compare results
     * and the stock. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 3, "key-1"));
    ld_result b = fx_apply(&f, T0 + 500, op_reserve(drop, id_n(2), 3, "key-1"));
    assert_code(b, LD_OK);
    cr_assert_eq(memcmp(&a, &b, sizeof a), 0);
    cr_assert_eq(fx_stock(&f, drop).reserved, 3);
    ld_sm_stats st;
    ld_sm_stats_get(f.sm, &st);
    cr_assert_eq(st.reservations, 1);
    cr_assert_eq(st.idempotency_keys, 1);
    fx_fini(&f);
}

Test(idem, refusals_are_replayed_too)
{
    /* Goal: a stored refusal is replayed even after the condition went away. Method: sold out
     * with key k; stock comes back (release); retry with k is still SOLD_OUT with the same
     * message; a fresh key succeeds. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 2, 0);
    ld_result hold = fx_apply(&f, T0, op_reserve(drop, id_n(3), 2, "h"));
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "k"));
    assert_code(a, LD_ERR_SOLD_OUT);
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, hold.u.reservation.id)), LD_OK);
    ld_result b = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "k"));
    assert_code(b, LD_ERR_SOLD_OUT);
    cr_assert_str_eq(a.message, b.message);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "k2")), LD_OK);
    fx_fini(&f);
}

Test(idem, different_body_is_key_reused)
{
    /* Goal: the same key with any other body field, or another op type, is
     * IDEMPOTENCY_KEY_REUSED and does nothing. Method: vary qty, then use the key for a
     * place_order. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "k")), LD_OK);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 2, "k")), LD_ERR_IDEMPOTENCY_KEY_REUSED);
    assert_code(fx_apply(&f, T0, op_place(drop, id_n(2), 1, "k", "pm_card_ok")),
                LD_ERR_IDEMPOTENCY_KEY_REUSED);
    cr_assert_eq(fx_stock(&f, drop).reserved, 1);
    fx_fini(&f);
}

Test(idem, keys_are_scoped_to_user_and_drop)
{
    /* Goal: one key string used by another user or on another drop is a different key.
     * Method: three reserves with key "k" for (u1,d1), (u2,d1), (u1,d2): all succeed. */
    fx f;
    fx_init(&f, NULL);
    fx_live_drop(&f, id_n(1), 10, 0);
    fx_live_drop(&f, id_n(2), 10, 0);
    assert_code(fx_apply(&f, T0, op_reserve(id_n(1), id_n(5), 1, "k")), LD_OK);
    assert_code(fx_apply(&f, T0, op_reserve(id_n(1), id_n(6), 1, "k")), LD_OK);
    assert_code(fx_apply(&f, T0, op_reserve(id_n(2), id_n(5), 1, "k")), LD_OK);
    cr_assert_eq(fx_stock(&f, id_n(1)).reserved, 2);
    fx_fini(&f);
}

Test(idem, in_progress_then_done)
{
    /* Goal: a place_order retried while its payment runs is IN_PROGRESS (same body) or
     * KEY_REUSED (other body); after FINISH_ORDER the retry gets the final result. Method:
     * place, retry twice, finish, retry. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    fx_live_drop(&f, drop, 10, 0);
    ld_op place = op_place(drop, id_n(2), 1, "k", "pm_card_ok");
    ld_result p = fx_apply(&f, T0, place);
    assert_code(fx_apply(&f, T0, place), LD_ERR_IN_PROGRESS);
    assert_code(fx_apply(&f, T0, op_place(drop, id_n(2), 1, "k", "pm_card_declined")),
                LD_ERR_IDEMPOTENCY_KEY_REUSED);
    assert_code(fx_apply(&f, T0 + 1, op_finish(p.payment.reservation_id, true, "pi")), LD_OK);
    ld_result r = fx_apply(&f, T0 + 2, place);
    assert_code(r, LD_OK);
    cr_assert_eq(r.kind, LD_RESULT_ORDER);
    fx_fini(&f);
}

Test(idem, key_forgotten_after_ttl)
{
    /* Goal: a key replays until created + LD_IDEMPOTENCY_TTL_MS - 1 and is forgotten from
     * created + TTL on (a new request with it runs afresh), without a TICK having run. Method:
     * reserve and release; retry at TTL - 1 (replay), at TTL (new reservation). */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    assert_code(fx_apply(&f, T0, op_create(drop, T0, T0 + 30 * DAY_MS, 10, 0)), LD_OK);
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "k"));
    assert_code(fx_apply(&f, T0, op_id(LD_OP_RELEASE, a.u.reservation.id)), LD_OK);
    ld_result b = fx_apply(&f, T0 + LD_IDEMPOTENCY_TTL_MS - 1, op_reserve(drop, id_n(2), 1, "k"));
    cr_assert(ld_id_eq(&a.u.reservation.id, &b.u.reservation.id));
    ld_result c = fx_apply(&f, T0 + LD_IDEMPOTENCY_TTL_MS, op_reserve(drop, id_n(2), 1, "k"));
    assert_code(c, LD_OK);
    cr_assert(!ld_id_eq(&a.u.reservation.id, &c.u.reservation.id));
    cr_assert_eq(fx_stock(&f, drop).reserved, 1);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(idem, tick_forgets_due_keys_oldest_first)
{
    /* Goal: TICK forgets exactly the keys that are due, so the stats drop and the key can be
     * reused with another body. Method: keys at T0 and T0 + 1 h; tick at T0 + TTL. */
    fx f;
    fx_init(&f, NULL);
    ld_id drop = id_n(1);
    assert_code(fx_apply(&f, T0, op_create(drop, T0, T0 + 30 * DAY_MS, 100, 0)), LD_OK);
    ld_result a = fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "old"));
    fx_apply(&f, T0 + HOUR_MS, op_reserve(drop, id_n(2), 1, "new"));
    fx_apply(&f, T0 + HOUR_MS, op_id(LD_OP_RELEASE, a.u.reservation.id));
    assert_code(fx_apply(&f, T0 + LD_IDEMPOTENCY_TTL_MS, op_tick()), LD_OK);
    ld_sm_stats st;
    ld_sm_stats_get(f.sm, &st);
    cr_assert_eq(st.idempotency_keys, 1);
    assert_code(fx_apply(&f, f.ts, op_reserve(drop, id_n(2), 5, "old")), LD_OK);
    assert_code(fx_apply(&f, f.ts, op_reserve(drop, id_n(2), 5, "new")),
                LD_ERR_IDEMPOTENCY_KEY_REUSED);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(idem, key_table_full_is_capacity_and_not_stored)
{
    /* Goal: with the key table full a new key gets ERR_CAPACITY, nothing is stored, existing
     * keys still replay, and once a key is forgotten the refused request succeeds. Method: caps
     * of 2 keys. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.keys = 2;
    fx f;
    fx_init(&f, &caps);
    ld_id drop = id_n(1);
    assert_code(fx_apply(&f, T0, op_create(drop, T0, T0 + 30 * DAY_MS, 100, 0)), LD_OK);
    assert_code(fx_apply(&f, T0, op_reserve(drop, id_n(2), 1, "a")), LD_OK);
    assert_code(fx_apply(&f, T0 + 1, op_reserve(drop, id_n(2), 1, "b")), LD_OK);
    ld_result c = fx_apply(&f, T0 + 2, op_reserve(drop, id_n(2), 1, "c"));
    assert_code(c, LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0 + 2, op_reserve(drop, id_n(2), 1, "a")), LD_OK);
    assert_code(fx_apply(&f, T0 + LD_IDEMPOTENCY_TTL_MS, op_tick()), LD_OK);
    assert_code(fx_apply(&f, f.ts, op_reserve(drop, id_n(2), 1, "c")), LD_OK);
    fx_fini(&f);
}

Test(idem, request_hash_is_canonical)
{
    /* Goal: the request hash depends on the op type and every body field, and not on bytes
     * after a string's NUL. Method: hash variants of one reserve. */
    ld_op a = op_reserve(id_n(1), id_n(2), 3, "k");
    uint8_t h0[16], h1[16];
    ldi_request_hash(&a, h0);
    ld_op b = a;
    memset(b.u.reserve.idempotency_key + 2, 'x', 10); /* garbage after the NUL */
    ldi_request_hash(&b, h1);
    cr_assert_eq(memcmp(h0, h1, 16), 0);
    ld_op variants[5] = {a, a, a, a, a};
    variants[0].u.reserve.qty = 4;
    variants[1].u.reserve.user_id = id_n(3);
    variants[2].u.reserve.drop_id = id_n(3);
    variants[3].type = LD_OP_PLACE_ORDER;
    variants[4].u.reserve.idempotency_key[0] = 'j';
    for (int i = 0; i < 5; i++) {
        ldi_request_hash(&variants[i], h1);
        cr_assert_neq(memcmp(h0, h1, 16), 0, "variant %d", i);
    }
    ld_op p1 = op_place(id_n(1), id_n(2), 3, "k", "pm_card_ok");
    ld_op p2 = op_place(id_n(1), id_n(2), 3, "k", "pm_card_slow");
    ldi_request_hash(&p1, h0);
    ldi_request_hash(&p2, h1);
    cr_assert_neq(memcmp(h0, h1, 16), 0);
}
