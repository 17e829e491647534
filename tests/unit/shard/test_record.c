/*
 * test_record.c -- record encodings (shard/record.c): exact round trips and refusal of values
 * that break a limit. (Truncations of real records are covered by test_recover.c.)
 */
#include "record.h"
#include "sm_fixture.h"

Test(record, drop_round_trip_and_limits)
{
    /* Goal: a drop decodes to what was encoded; a title past its limit, a bad currency or an
     * inverted window is refused. Method: encode, decode, compare; then edit and re-encode. */
    ld_op c = op_create(id_n(1), T0, T0 + 10, 5, 2);
    ldi_drop d;
    memset(&d, 0, sizeof d);
    d.spec = c.u.create_drop;
    d.created_at_ms = T0;
    d.announced = LD_DROP_UPCOMING;
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = ldi_rec_id_key(LDI_REC_DROP, &d.spec.id, key);
    size_t len = ldi_rec_drop_encode(&d, val);
    ldi_drop back;
    cr_assert(ldi_rec_drop_decode(key, key_len, val, len, &back));
    cr_assert_eq(ldi_rec_drop_encode(&back, val), len);
    cr_assert_str_eq(back.spec.product.tags[1], "limited");
    cr_assert_eq(back.stock.available, 5);
    ldi_drop bad = d;
    bad.spec.ends_at_ms = bad.spec.starts_at_ms;
    len = ldi_rec_drop_encode(&bad, val);
    cr_assert(!ldi_rec_drop_decode(key, key_len, val, len, &back));
    bad = d;
    memcpy(bad.spec.product.currency, "eur", 4);
    len = ldi_rec_drop_encode(&bad, val);
    cr_assert(!ldi_rec_drop_decode(key, key_len, val, len, &back));
    bad = d;
    bad.spec.product.tags[0][0] = '\0';
    len = ldi_rec_drop_encode(&bad, val);
    cr_assert(!ldi_rec_drop_decode(key, key_len, val, len, &back));
}

Test(record, reservation_round_trip_and_rules)
{
    /* Goal: a reservation (with an awaited payment) round-trips; an unknown state, a committed
     * one without order id, or an active one with a closed time is refused. Method: edits. */
    ldi_rec_res rec;
    memset(&rec, 0, sizeof rec);
    rec.res.v.id = id_n(7);
    rec.res.v.drop_id = id_n(1);
    rec.res.v.user_id = id_n(2);
    rec.res.v.qty = 3;
    rec.res.v.created_at_ms = T0;
    rec.res.v.expires_at_ms = T0 + 1000;
    rec.res.v.state = LD_RES_ACTIVE;
    rec.res.origin = LDI_ORIGIN_PLACE_ORDER;
    rec.awaiting_payment = true;
    rec.key.drop_id = id_n(1);
    rec.key.user_id = id_n(2);
    rec.key.len = 3;
    memcpy(rec.key.bytes, "abc", 3);
    strcpy(rec.payment_method, "pm_card_ok");
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = ldi_rec_id_key(LDI_REC_RES, &rec.res.v.id, key);
    size_t len = ldi_rec_res_encode(&rec, val);
    ldi_rec_res back;
    cr_assert(ldi_rec_res_decode(key, key_len, val, len, &back));
    cr_assert(back.awaiting_payment);
    cr_assert_eq(back.key.len, 3);
    cr_assert_str_eq(back.payment_method, "pm_card_ok");
    cr_assert_eq(back.res.v.qty, 3);

    ldi_rec_res bad = rec;
    bad.res.v.state = (ld_reservation_state)9;
    len = ldi_rec_res_encode(&bad, val);
    cr_assert(!ldi_rec_res_decode(key, key_len, val, len, &back));
    bad = rec;
    bad.awaiting_payment = false;
    bad.res.v.state = LD_RES_COMMITTED;
    bad.res.seq = 5;
    bad.res.closed_at_ms = T0 + 1;
    len = ldi_rec_res_encode(&bad, val);
    cr_assert(!ldi_rec_res_decode(key, key_len, val, len, &back)); /* no order id */
    bad.res.v.order_id = id_n(9);
    len = ldi_rec_res_encode(&bad, val);
    cr_assert(ldi_rec_res_decode(key, key_len, val, len, &back));
    bad = rec;
    bad.res.closed_at_ms = T0 + 1; /* active but closed */
    len = ldi_rec_res_encode(&bad, val);
    cr_assert(!ldi_rec_res_decode(key, key_len, val, len, &back));
    bad = rec;
    bad.res.origin = LDI_ORIGIN_RESERVE; /* a plain reserve never awaits payment */
    len = ldi_rec_res_encode(&bad, val);
    cr_assert(!ldi_rec_res_decode(key, key_len, val, len, &back));
}

Test(record, key_round_trip_and_limits)
{
    /* Goal: an idempotency key with a stored order result round-trips; an unknown result code
     * or status, or a key string that is not UTF-8, is refused. Method: edits. */
    ldi_idem k;
    memset(&k, 0, sizeof k);
    k.id.drop_id = id_n(1);
    k.id.user_id = id_n(2);
    k.id.len = 2;
    memcpy(k.id.bytes, "k1", 2);
    k.status = LDI_KEY_DONE;
    k.kind = LD_RESULT_ORDER;
    k.code = LD_ERR_PAYMENT_DECLINED;
    k.message = "declined";
    k.created_at_ms = T0;
    k.seq = 3;
    k.body.order.id = id_n(5);
    k.body.order.drop_id = id_n(1);
    k.body.order.user_id = id_n(2);
    k.body.order.reservation_id = id_n(4);
    k.body.order.qty = 1;
    memcpy(k.body.order.currency, "EUR", 4);
    k.body.order.status = LD_ORDER_FAILED;
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    char msg[LD_MESSAGE_BYTES_MAX + 1];
    size_t key_len = ldi_rec_key_key(&k.id, key);
    size_t len = ldi_rec_key_encode(&k, val);
    ldi_idem back;
    cr_assert(ldi_rec_key_decode(key, key_len, val, len, &back, msg));
    cr_assert_str_eq(msg, "declined");
    cr_assert_eq(back.code, LD_ERR_PAYMENT_DECLINED);
    cr_assert_eq(back.body.order.status, LD_ORDER_FAILED);
    cr_assert_eq(back.id.len, 2);
    ldi_idem bad = k;
    bad.code = 999;
    len = ldi_rec_key_encode(&bad, val);
    cr_assert(!ldi_rec_key_decode(key, key_len, val, len, &back, msg));
    bad = k;
    bad.status = 7;
    len = ldi_rec_key_encode(&bad, val);
    cr_assert(!ldi_rec_key_decode(key, key_len, val, len, &back, msg));
    len = ldi_rec_key_encode(&k, val);
    key[key_len - 1] = 0xff;
    cr_assert(!ldi_rec_key_decode(key, key_len, val, len, &back, msg));
}
