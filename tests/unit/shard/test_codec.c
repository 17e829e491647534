/*
 * test_codec.c -- livedrop.proto <-> ld_op / ld_result (shard/codec.c): every validation code,
 * the field named in each message, and exact round trips.
 */
#include "codec_fixture.h"

/* A valid create_drop, built into caller-owned messages. */
typedef struct cd_msg {
    Ldpb__Op op;
    Ldpb__CreateDrop cd;
    Ldpb__Product product;
    char *tags[12];
} cd_msg;

static void
cd_init(cd_msg *m)
{
    ldpb__op__init(&m->op);
    ldpb__create_drop__init(&m->cd);
    ldpb__product__init(&m->product);
    m->product.creator_id = bin(id_b, 16);
    m->product.title = "Drop";
    m->product.price_minor = 500;
    m->product.currency = "USD";
    m->tags[0] = "a";
    m->tags[1] = "b";
    m->product.tags = m->tags;
    m->product.n_tags = 2;
    m->cd.id = bin(id_a, 16);
    m->cd.product = &m->product;
    m->cd.starts_at_ms = 1000;
    m->cd.ends_at_ms = 2000;
    m->cd.initial_stock = 10;
    m->cd.low_stock_threshold = 2;
    m->cd.max_per_user = 0;
    m->cd.reservation_ttl_ms = 0;
    m->op.body_case = LDPB__OP__BODY_CREATE_DROP;
    m->op.create_drop = &m->cd;
}

typedef struct rs_msg {
    Ldpb__Op op;
    Ldpb__Reserve r;
    Ldpb__PlaceOrder p;
} rs_msg;

static void
rs_init(rs_msg *m, bool place)
{
    ldpb__op__init(&m->op);
    ldpb__reserve__init(&m->r);
    ldpb__place_order__init(&m->p);
    m->r.drop_id = m->p.drop_id = bin(id_a, 16);
    m->r.user_id = m->p.user_id = bin(id_b, 16);
    m->r.qty = m->p.qty = 2;
    m->r.idempotency_key = m->p.idempotency_key = "key";
    m->p.payment_method = "pm_card_ok";
    if (place) {
        m->op.body_case = LDPB__OP__BODY_PLACE_ORDER;
        m->op.place_order = &m->p;
    } else {
        m->op.body_case = LDPB__OP__BODY_RESERVE;
        m->op.reserve = &m->r;
    }
}

Test(codec, missing_or_internal_body_is_unknown_op)
{
    /* Goal: no body, a body case without its message, and internal ops from a client are
     * UNKNOWN_OP; internal ops from the log decode. Method: hand-built Ops. */
    Ldpb__Op op = LDPB__OP__INIT;
    expect(&op, LD_ERR_UNKNOWN_OP, NULL);
    expect(NULL, LD_ERR_UNKNOWN_OP, NULL);
    op.body_case = LDPB__OP__BODY_RESERVE;
    expect(&op, LD_ERR_UNKNOWN_OP, NULL);
    Ldpb__Tick tick = LDPB__TICK__INIT;
    op.body_case = LDPB__OP__BODY_TICK;
    op.tick = &tick;
    expect(&op, LD_ERR_UNKNOWN_OP, "internal");
    ld_op out;
    ld_result res;
    cr_assert_eq(ld_codec_op_from_pb(&op, false, &out, &res), LD_OK);
    cr_assert_eq(out.type, LD_OP_TICK);
    Ldpb__FinishOrder fin = LDPB__FINISH_ORDER__INIT;
    fin.reservation_id = bin(id_a, 16);
    fin.approved = 1;
    op.body_case = LDPB__OP__BODY_FINISH_ORDER;
    op.finish_order = &fin;
    expect(&op, LD_ERR_UNKNOWN_OP, "internal");
    cr_assert_eq(ld_codec_op_from_pb(&op, false, &out, &res), LD_OK);
    cr_assert(out.u.finish.approved);
    op.body_case = (Ldpb__Op__BodyCase)55;
    expect(&op, LD_ERR_UNKNOWN_OP, NULL);
}

Test(codec, ids_must_be_16_nonzero_bytes)
{
    /* Goal: every id field refuses 0, 15 and 17 bytes and all-zero with INVALID_ID naming the
     * field. Method: reserve's drop_id and user_id, commit, get ops. */
    rs_msg m;
    rs_init(&m, false);
    expect(&m.op, LD_OK, NULL);
    m.r.drop_id = bin(id_a, 15);
    expect(&m.op, LD_ERR_INVALID_ID, "reserve.drop_id");
    m.r.drop_id = bin(id_long, 17);
    expect(&m.op, LD_ERR_INVALID_ID, "reserve.drop_id");
    m.r.drop_id = bin(NULL, 0);
    expect(&m.op, LD_ERR_INVALID_ID, "reserve.drop_id");
    m.r.drop_id = bin(id_a, 16);
    m.r.user_id = bin(id_zero, 16);
    expect(&m.op, LD_ERR_INVALID_ID, "reserve.user_id");
    Ldpb__Op op = LDPB__OP__INIT;
    Ldpb__GetOrder go = LDPB__GET_ORDER__INIT;
    op.body_case = LDPB__OP__BODY_GET_ORDER;
    op.get_order = &go;
    expect(&op, LD_ERR_INVALID_ID, "get_order.order_id");
    Ldpb__Release rel = LDPB__RELEASE__INIT;
    rel.reservation_id = bin(id_zero, 16);
    op.body_case = LDPB__OP__BODY_RELEASE;
    op.release = &rel;
    expect(&op, LD_ERR_INVALID_ID, "release.reservation_id");
    cd_msg c;
    cd_init(&c);
    c.product.creator_id = bin(id_a, 3);
    expect(&c.op, LD_ERR_INVALID_ID, "creator_id");
}

Test(codec, qty_range)
{
    /* Goal: qty is 1..LD_QTY_MAX on reserve and place_order. Method: 0, -1, 101 refused; 1 and
     * 100 accepted. */
    rs_msg m;
    rs_init(&m, true);
    int64_t bad[] = {0, -1, LD_QTY_MAX + 1, INT64_MIN};
    for (size_t i = 0; i < 4; i++) {
        m.p.qty = bad[i];
        expect(&m.op, LD_ERR_QTY_OUT_OF_RANGE, "place_order.qty");
    }
    m.p.qty = 1;
    expect(&m.op, LD_OK, NULL);
    m.p.qty = LD_QTY_MAX;
    expect(&m.op, LD_OK, NULL);
}

Test(codec, string_lengths)
{
    /* Goal: each string is refused one byte past its limit (STRING_TOO_LONG naming the field
     * and limit) and accepted at it. Method: title, tag, key, method, payment ref. */
    char buf[300];
    cd_msg c;
    cd_init(&c);
    memset(buf, 'x', sizeof buf);
    buf[LD_TITLE_BYTES_MAX] = '\0';
    c.product.title = buf;
    expect(&c.op, LD_OK, NULL);
    buf[LD_TITLE_BYTES_MAX] = 'x';
    buf[LD_TITLE_BYTES_MAX + 1] = '\0';
    expect(&c.op, LD_ERR_STRING_TOO_LONG, "title: longer than 200");
    c.product.title = "t";
    buf[LD_TAG_BYTES_MAX + 1] = '\0';
    c.tags[1] = buf;
    expect(&c.op, LD_ERR_STRING_TOO_LONG, "tags[1]");
    buf[LD_TAG_BYTES_MAX] = '\0';
    expect(&c.op, LD_OK, NULL);

    rs_msg m;
    rs_init(&m, true);
    memset(buf, 'k', sizeof buf);
    buf[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1] = '\0';
    m.p.idempotency_key = buf;
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "idempotency_key: longer than 64");
    buf[LD_IDEMPOTENCY_KEY_BYTES_MAX] = '\0';
    expect(&m.op, LD_OK, NULL);
    m.p.idempotency_key = "k";
    memset(buf, 'm', sizeof buf);
    buf[LD_PAYMENT_METHOD_BYTES_MAX + 1] = '\0';
    m.p.payment_method = buf;
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "payment_method");

    Ldpb__Op op = LDPB__OP__INIT;
    Ldpb__Commit cm = LDPB__COMMIT__INIT;
    cm.reservation_id = bin(id_a, 16);
    memset(buf, 'r', sizeof buf);
    buf[LD_PAYMENT_REF_BYTES_MAX + 1] = '\0';
    cm.payment_ref = buf;
    op.body_case = LDPB__OP__BODY_COMMIT;
    op.commit = &cm;
    expect(&op, LD_ERR_STRING_TOO_LONG, "commit.payment_ref");
    buf[LD_PAYMENT_REF_BYTES_MAX] = '\0';
    expect(&op, LD_OK, NULL);
}

Test(codec, required_strings)
{
    /* Goal: empty (or NULL) title, key, payment method and commit ref are MISSING_FIELD; an
     * empty tag is INVALID_ARGUMENT; a missing product is MISSING_FIELD. Method: one at a time. */
    cd_msg c;
    cd_init(&c);
    c.product.title = "";
    expect(&c.op, LD_ERR_MISSING_FIELD, "title");
    c.product.title = NULL;
    expect(&c.op, LD_ERR_MISSING_FIELD, "title");
    c.product.title = "t";
    c.tags[0] = "";
    expect(&c.op, LD_ERR_INVALID_ARGUMENT, "tags[0]");
    c.tags[0] = "a";
    c.cd.product = NULL;
    expect(&c.op, LD_ERR_MISSING_FIELD, "product");
    rs_msg m;
    rs_init(&m, true);
    m.p.idempotency_key = "";
    expect(&m.op, LD_ERR_MISSING_FIELD, "idempotency_key");
    m.p.idempotency_key = "k";
    m.p.payment_method = "";
    expect(&m.op, LD_ERR_MISSING_FIELD, "payment_method");
    Ldpb__Op op = LDPB__OP__INIT;
    Ldpb__Commit cm = LDPB__COMMIT__INIT;
    cm.reservation_id = bin(id_a, 16);
    op.body_case = LDPB__OP__BODY_COMMIT;
    op.commit = &cm;
    expect(&op, LD_ERR_MISSING_FIELD, "payment_ref");
}

Test(codec, strings_must_be_utf8)
{
    /* Goal: invalid UTF-8 (stray continuation, bad lead, overlong incl. C0 80 for NUL,
     * surrogates, above U+10FFFF, truncated sequence) is INVALID_ARGUMENT; valid multi-byte text
     * passes. Method: each as an idempotency key. */
    const char *bad[] = {"\x80",         "a\xff",        "\xc0\x80",         "\xc1\xbf",
                         "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
                         "\xf0\x9f\x98"};
    rs_msg m;
    rs_init(&m, false);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.r.idempotency_key = (char *)bad[i];
        expect(&m.op, LD_ERR_INVALID_ARGUMENT, "UTF-8");
    }
    m.r.idempotency_key = "caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80";
    expect(&m.op, LD_OK, NULL);
}

Test(codec, tags_count)
{
    /* Goal: at most LD_TAGS_MAX tags. Method: 8 accepted, 9 TOO_MANY_TAGS. */
    cd_msg c;
    cd_init(&c);
    for (int i = 0; i < 9; i++)
        c.tags[i] = "t";
    c.product.n_tags = LD_TAGS_MAX;
    expect(&c.op, LD_OK, NULL);
    c.product.n_tags = LD_TAGS_MAX + 1;
    expect(&c.op, LD_ERR_TOO_MANY_TAGS, "tags");
}

Test(codec, currency)
{
    /* Goal: currency is exactly three upper-case ASCII letters. Method: "USD" ok; lower case,
     * 2 and 4 letters, digits, empty, non-ASCII refused. */
    const char *bad[] = {"usd", "US", "USDD", "U1D", "", "\xc3\x89UR"};
    cd_msg c;
    cd_init(&c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.product.currency = (char *)bad[i];
        expect(&c.op, LD_ERR_INVALID_CURRENCY, "currency");
    }
    c.product.currency = NULL;
    expect(&c.op, LD_ERR_INVALID_CURRENCY, "currency");
}

Test(codec, numbers_out_of_range)
{
    /* Goal: price, stock, low-stock threshold, max_per_user and TTL are checked at both ends
     * (VALUE_OUT_OF_RANGE naming the field); TTL 0 becomes the default. Method: edge values. */
    cd_msg c;
    cd_init(&c);
    c.product.price_minor = -1;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "price_minor");
    c.product.price_minor = LD_PRICE_MINOR_MAX + 1;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "price_minor");
    c.product.price_minor = LD_PRICE_MINOR_MAX;
    expect(&c.op, LD_OK, NULL);
    c.cd.initial_stock = 0;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "initial_stock");
    c.cd.initial_stock = LD_STOCK_MAX + 1;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "initial_stock");
    c.cd.initial_stock = 10;
    c.cd.low_stock_threshold = 11;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "low_stock_threshold");
    c.cd.low_stock_threshold = -1;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "low_stock_threshold");
    c.cd.low_stock_threshold = 10;
    c.cd.max_per_user = -1;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "max_per_user");
    c.cd.max_per_user = LD_MAX_PER_USER_MAX + 1;
    expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "max_per_user");
    c.cd.max_per_user = LD_MAX_PER_USER_MAX;
    int64_t bad_ttl[] = {-1, LD_RESERVATION_TTL_MS_MIN - 1, LD_RESERVATION_TTL_MS_MAX + 1};
    for (size_t i = 0; i < 3; i++) {
        c.cd.reservation_ttl_ms = bad_ttl[i];
        expect(&c.op, LD_ERR_VALUE_OUT_OF_RANGE, "reservation_ttl_ms");
    }
    c.cd.reservation_ttl_ms = 0;
    ld_op op;
    ld_result res;
    cr_assert_eq(ld_codec_op_from_pb(&c.op, true, &op, &res), LD_OK);
    cr_assert_eq(op.u.create_drop.reservation_ttl_ms, LD_RESERVATION_TTL_MS_DEFAULT);
}

Test(codec, times)
{
    /* Goal: times outside LD_TIME_MS_MIN..MAX and ends_at <= starts_at are INVALID_TIME.
     * Method: edges of each. */
    cd_msg c;
    cd_init(&c);
    c.cd.starts_at_ms = -1;
    expect(&c.op, LD_ERR_INVALID_TIME, "starts_at_ms");
    c.cd.starts_at_ms = 0;
    c.cd.ends_at_ms = LD_TIME_MS_MAX + 1;
    expect(&c.op, LD_ERR_INVALID_TIME, "ends_at_ms");
    c.cd.ends_at_ms = LD_TIME_MS_MAX;
    expect(&c.op, LD_OK, NULL);
    c.cd.starts_at_ms = 5000;
    c.cd.ends_at_ms = 5000;
    expect(&c.op, LD_ERR_INVALID_TIME, "ends_at_ms");
    c.cd.ends_at_ms = 4999;
    expect(&c.op, LD_ERR_INVALID_TIME, "ends_at_ms");
}

Test(codec, success_leaves_the_result_untouched)
{
    /* Goal: on LD_OK the result is not written. Method: a sentinel byte pattern survives. */
    rs_msg m;
    rs_init(&m, false);
    ld_op op;
    ld_result res, copy;
    memset(&res, 0x5A, sizeof res);
    copy = res;
    cr_assert_eq(ld_codec_op_from_pb(&m.op, true, &op, &res), LD_OK);
    cr_assert_eq(memcmp(&res, &copy, sizeof res), 0);
}

Test(codec, create_drop_decodes_every_field)
{
    /* Goal: every wire field of create_drop reaches the op (a dropped field would round-trip
     * "exactly" as zero). Method: decode a create_drop with nonzero fields, compare each. */
    cd_msg c;
    cd_init(&c);
    ld_op op;
    ld_result res;
    cr_assert_eq(ld_codec_op_from_pb(&c.op, true, &op, &res), LD_OK);
    const ld_op_create_drop *d = &op.u.create_drop;
    cr_assert_eq(d->product.price_minor, 500);
    cr_assert_str_eq(d->product.currency, "USD");
    cr_assert_str_eq(d->product.title, "Drop");
    cr_assert_eq(d->product.tags_count, 2);
    cr_assert_str_eq(d->product.tags[1], "b");
    cr_assert_eq(d->starts_at_ms, 1000);
    cr_assert_eq(d->ends_at_ms, 2000);
    cr_assert_eq(d->initial_stock, 10);
    cr_assert_eq(d->low_stock_threshold, 2);
    cr_assert_eq(d->reservation_ttl_ms, LD_RESERVATION_TTL_MS_DEFAULT);
    cr_assert_eq(memcmp(d->id.bytes, id_a, 16), 0);
    cr_assert_eq(memcmp(d->product.creator_id.bytes, id_b, 16), 0);
}

Test(codec, every_op_round_trips_exactly)
{
    /* Goal: op -> wire -> op is the identity for every op type (what the log relies on).
     * Method: decode valid wire ops, re-encode, pack, unpack, decode, compare the structs. */
    ld_op ops[12];
    size_t n = 0;
    ld_result res;
    cd_msg c;
    cd_init(&c);
    c.product.title = "T\xc3\xadtulo";
    cr_assert_eq(ld_codec_op_from_pb(&c.op, true, &ops[n++], &res), LD_OK);
    c.product.n_tags = 0;
    cr_assert_eq(ld_codec_op_from_pb(&c.op, true, &ops[n++], &res), LD_OK);
    rs_msg m;
    rs_init(&m, false);
    cr_assert_eq(ld_codec_op_from_pb(&m.op, true, &ops[n++], &res), LD_OK);
    rs_init(&m, true);
    cr_assert_eq(ld_codec_op_from_pb(&m.op, true, &ops[n++], &res), LD_OK);
    Ldpb__Op op = LDPB__OP__INIT;
    Ldpb__Commit cm = LDPB__COMMIT__INIT;
    cm.reservation_id = bin(id_a, 16);
    cm.payment_ref = "ch_1";
    op.body_case = LDPB__OP__BODY_COMMIT;
    op.commit = &cm;
    cr_assert_eq(ld_codec_op_from_pb(&op, true, &ops[n++], &res), LD_OK);
    Ldpb__FinishOrder fin = LDPB__FINISH_ORDER__INIT;
    fin.reservation_id = bin(id_b, 16);
    fin.payment_ref = "pi";
    fin.approved = 1;
    op.body_case = LDPB__OP__BODY_FINISH_ORDER;
    op.finish_order = &fin;
    cr_assert_eq(ld_codec_op_from_pb(&op, false, &ops[n++], &res), LD_OK);
    fin.approved = 0;
    fin.payment_ref = "";
    cr_assert_eq(ld_codec_op_from_pb(&op, false, &ops[n++], &res), LD_OK);
    Ldpb__Tick tick = LDPB__TICK__INIT;
    op.body_case = LDPB__OP__BODY_TICK;
    op.tick = &tick;
    cr_assert_eq(ld_codec_op_from_pb(&op, false, &ops[n++], &res), LD_OK);
    ld_op_type id_ops[] = {LD_OP_GET_DROP, LD_OP_RELEASE, LD_OP_GET_ORDER, LD_OP_GET_RESERVATION};
    for (size_t i = 0; i < 4; i++) {
        memset(&ops[n], 0, sizeof ops[n]);
        ops[n].type = id_ops[i];
        memcpy(ops[n].u.id.bytes, id_a, 16);
        n++;
    }
    for (size_t i = 0; i < n; i++) {
        ld_op back = round_trip(&ops[i]);
        cr_assert_eq(memcmp(&back, &ops[i], sizeof back), 0, "op %zu (%s)", i,
                     ld_op_name(ops[i].type));
    }
}

Test(codec, result_to_pb)
{
    /* Goal: a result's wire form carries code, message (ld_strerror when empty) and the body
     * with its fields; a reservation without order has an empty order_id. Method: build three
     * results and inspect, then pack one. */
    ld_result r;
    memset(&r, 0, sizeof r);
    r.code = LD_ERR_SOLD_OUT;
    Ldpb__Result pb;
    ld_codec_result_scratch s;
    ld_codec_result_to_pb(&r, &pb, &s);
    cr_assert_eq(pb.code, LD_ERR_SOLD_OUT);
    cr_assert_str_eq(pb.message, ld_strerror(LD_ERR_SOLD_OUT));
    cr_assert_eq(pb.body_case, LDPB__RESULT__BODY__NOT_SET);

    memset(&r, 0, sizeof r);
    r.kind = LD_RESULT_DROP;
    memcpy(r.u.drop.spec.id.bytes, id_a, 16);
    snprintf(r.u.drop.spec.product.title, sizeof r.u.drop.spec.product.title, "T");
    memcpy(r.u.drop.spec.product.currency, "EUR", 4);
    r.u.drop.spec.product.tags_count = 1;
    snprintf(r.u.drop.spec.product.tags[0], 8, "x");
    r.u.drop.status = LD_DROP_LIVE;
    r.u.drop.stock = (ld_stock){.available = 3, .reserved = 2, .sold = 1};
    snprintf(r.message, sizeof r.message, "custom");
    ld_codec_result_to_pb(&r, &pb, &s);
    cr_assert_str_eq(pb.message, "custom");
    cr_assert_eq(pb.body_case, LDPB__RESULT__BODY_DROP);
    cr_assert_eq(pb.drop->status, LDPB__DROP_STATUS__DROP_STATUS_LIVE);
    cr_assert_eq(pb.drop->stock->reserved, 2);
    cr_assert_eq(pb.drop->product->n_tags, 1);
    cr_assert_str_eq(pb.drop->product->tags[0], "x");
    cr_assert_eq(memcmp(pb.drop->id.data, id_a, 16), 0);
    uint8_t buf[2048];
    size_t len = protobuf_c_message_pack(&pb.base, buf);
    Ldpb__Result *back = ldpb__result__unpack(NULL, len, buf);
    cr_assert_not_null(back);
    cr_assert_str_eq(back->drop->product->currency, "EUR");
    ldpb__result__free_unpacked(back, NULL);

    memset(&r, 0, sizeof r);
    r.kind = LD_RESULT_RESERVATION;
    r.u.reservation.state = LD_RES_ACTIVE;
    ld_codec_result_to_pb(&r, &pb, &s);
    cr_assert_eq(pb.reservation->order_id.len, 0);
    cr_assert_eq(pb.reservation->state, LDPB__RESERVATION_STATE__RESERVATION_STATE_ACTIVE);
    r.kind = LD_RESULT_ORDER;
    r.u.order.status = LD_ORDER_FAILED;
    snprintf(r.u.order.payment_ref, 8, "pi");
    ld_codec_result_to_pb(&r, &pb, &s);
    cr_assert_eq(pb.order->status, LDPB__ORDER_STATUS__ORDER_STATUS_FAILED);
    cr_assert_str_eq(pb.order->payment_ref, "pi");
}

Test(codec, principal_is_copied_or_refused)
{
    /* Goal: Op.principal reaches ld_op.principal: absent gives zero, 16 nonzero bytes are copied,
     * 15 / 17 bytes and all-zero are INVALID_ID naming "principal" (before the body is read).
     * Method: a valid reserve with each principal; the bad ones also with a bad body. */
    rs_msg m;
    rs_init(&m, false);
    ld_op op = decode_ok(&m.op, false);
    cr_assert(ld_id_is_zero(&op.principal));
    m.op.principal = bin(id_b, 16);
    op = decode_ok(&m.op, false);
    cr_assert_eq(memcmp(op.principal.bytes, id_b, 16), 0);
    m.op.principal = bin(id_a, 15);
    expect(&m.op, LD_ERR_INVALID_ID, "op.principal");
    m.op.principal = bin(id_long, 17);
    expect(&m.op, LD_ERR_INVALID_ID, "op.principal");
    m.op.principal = bin(id_zero, 16);
    expect(&m.op, LD_ERR_INVALID_ID, "op.principal: must not be all zero");
    m.r.qty = 0;
    expect(&m.op, LD_ERR_INVALID_ID, "principal");
    m.op.principal = bin(id_b, 16);
    expect(&m.op, LD_ERR_QTY_OUT_OF_RANGE, "reserve.qty");
}

Test(codec, create_drop_from_catalog_product)
{
    /* Goal: create_drop with product_id decodes with a zeroed product (the state machine fills
     * it); an inline product with any field set next to product_id is INVALID_ARGUMENT; a bad
     * product_id is INVALID_ID naming it; an inline product may not carry its own product_id.
     * Method: one field of the inline product at a time. */
    cd_msg c;
    cd_init(&c);
    c.cd.product_id = bin(id_c, 16);
    c.cd.product = NULL;
    ld_op op = decode_ok(&c.op, false);
    cr_assert_eq(memcmp(op.u.create_drop.product_id.bytes, id_c, 16), 0);
    ld_product zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(memcmp(&op.u.create_drop.product, &zero, sizeof zero), 0);
    cr_assert_eq(op.u.create_drop.initial_stock, 10);
    Ldpb__Product empty = LDPB__PRODUCT__INIT;
    c.cd.product = &empty;
    expect(&c.op, LD_OK, NULL);
    Ldpb__Product p = LDPB__PRODUCT__INIT;
    c.cd.product = &p;
    p.creator_id = bin(id_b, 16);
    expect(&c.op, LD_ERR_INVALID_ARGUMENT, "create_drop.product: must be empty");
    p = (Ldpb__Product)LDPB__PRODUCT__INIT;
    p.title = "t";
    expect(&c.op, LD_ERR_INVALID_ARGUMENT, "create_drop.product");
    p = (Ldpb__Product)LDPB__PRODUCT__INIT;
    p.price_minor = 1;
    expect(&c.op, LD_ERR_INVALID_ARGUMENT, "create_drop.product");
    p = (Ldpb__Product)LDPB__PRODUCT__INIT;
    p.currency = "EUR";
    expect(&c.op, LD_ERR_INVALID_ARGUMENT, "create_drop.product");
    p = (Ldpb__Product)LDPB__PRODUCT__INIT;
    char *tags[1] = {"x"};
    p.tags = tags;
    p.n_tags = 1;
    expect(&c.op, LD_ERR_INVALID_ARGUMENT, "create_drop.product");
    c.cd.product = NULL;
    c.cd.product_id = bin(id_c, 15);
    expect(&c.op, LD_ERR_INVALID_ID, "create_drop.product_id");
    c.cd.product_id = bin(id_zero, 16);
    expect(&c.op, LD_ERR_INVALID_ID, "create_drop.product_id");
    cd_init(&c);
    c.product.product_id = bin(id_c, 16);
    expect(&c.op, LD_ERR_INVALID_ARGUMENT, "create_drop.product.product_id");
}

Test(codec, create_drop_with_principal_and_product_id_round_trips)
{
    /* Goal: the log form of a catalog create_drop keeps product_id and the principal, and an
     * inline one keeps its principal. Method: decode, round-trip, compare the structs. */
    cd_msg c;
    cd_init(&c);
    c.op.principal = bin(id_b, 16);
    ld_op inline_op = decode_ok(&c.op, false);
    expect_round_trip(&inline_op);
    c.cd.product = NULL;
    c.cd.product_id = bin(id_c, 16);
    ld_op catalog_op = decode_ok(&c.op, false);
    expect_round_trip(&catalog_op);
    Ldpb__Op pb;
    ld_codec_op_scratch s;
    ld_codec_op_to_pb(&catalog_op, &pb, &s);
    cr_assert_null(pb.create_drop->product);
    cr_assert_eq(pb.create_drop->product_id.len, 16);
    cr_assert_eq(memcmp(pb.principal.data, id_b, 16), 0);
}
