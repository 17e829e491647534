/*
 * codec.c -- livedrop.proto <-> ld_op / ld_result (see codec.h).
 *
 * ld_codec_op_from_pb() is the only way into an ld_op: it checks every field against
 * ld_limits.h, in the order the fields are declared in livedrop.proto, and stops at the first
 * bad one with a precise code and a message naming the field ("reserve.qty: ..."). Strings must
 * be valid UTF-8 (shortest form, no surrogates, <= U+10FFFF) and contain no NUL byte.
 *
 * NUL bytes: protobuf-c hands strings over as NUL-terminated char *, so a NUL inside a string
 * on the wire ends the string as this codec sees it (the rest is never read). The modified-UTF-8
 * spelling of NUL (C0 80) is refused as an overlong sequence.
 */
#include "codec.h"

#include <stdio.h>
#include <string.h>

#include "shard_int.h"

/* ---- field checks ------------------------------------------------------------------------ */

static ld_err
check_id(const ProtobufCBinaryData *b, const char *field, ld_id *out, ld_result *res)
{
    if (b->len != LD_ID_BYTES || b->data == NULL)
        return ld_result_fail(res, LD_ERR_INVALID_ID, "%s: must be exactly 16 bytes, got %zu",
                              field, b->len);
    memcpy(out->bytes, b->data, LD_ID_BYTES);
    if (ld_id_is_zero(out))
        return ld_result_fail(res, LD_ERR_INVALID_ID, "%s: must not be all zero", field);
    return LD_OK;
}

/* Returns true when s[0..len) is valid UTF-8 with no NUL and no overlong form. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0)
            n = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            n = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            n = 4, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

bool
ldi_utf8_valid(const char *s, size_t len)
{
    return utf8_valid((const unsigned char *)s, len);
}

/* Copies a string field of at most max bytes into out[max + 1]. */
static ld_err
check_str(const char *s, const char *field, size_t max, bool required, char *out, ld_result *res)
{
    if (s == NULL)
        s = "";
    size_t len = strnlen(s, max + 1);
    if (len > max)
        return ld_result_fail(res, LD_ERR_STRING_TOO_LONG, "%s: longer than %zu bytes", field, max);
    if (required && len == 0)
        return ld_result_fail(res, LD_ERR_MISSING_FIELD, "%s: required, must not be empty", field);
    if (!utf8_valid((const unsigned char *)s, len))
        return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT, "%s: not valid UTF-8", field);
    memcpy(out, s, len);
    out[len] = '\0';
    return LD_OK;
}

static ld_err
check_range(int64_t v, int64_t lo, int64_t hi, const char *field, ld_result *res)
{
    if (v < lo || v > hi)
        return ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE, "%s: %lld is outside %lld..%lld",
                              field, (long long)v, (long long)lo, (long long)hi);
    return LD_OK;
}

static ld_err
check_qty(int64_t qty, const char *field, ld_result *res)
{
    if (qty < 1 || qty > LD_QTY_MAX)
        return ld_result_fail(res, LD_ERR_QTY_OUT_OF_RANGE, "%s: %lld is outside 1..%d", field,
                              (long long)qty, LD_QTY_MAX);
    return LD_OK;
}

static ld_err
check_time(int64_t t, const char *field, ld_result *res)
{
    if (t < LD_TIME_MS_MIN || t > LD_TIME_MS_MAX)
        return ld_result_fail(res, LD_ERR_INVALID_TIME, "%s: %lld ms is outside %lld..%lld", field,
                              (long long)t, (long long)LD_TIME_MS_MIN, (long long)LD_TIME_MS_MAX);
    return LD_OK;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        ld_err try_err_ = (expr);                                                                  \
        if (try_err_ != LD_OK)                                                                     \
            return try_err_;                                                                       \
    } while (0)

/* ---- ops --------------------------------------------------------------------------------- */

static ld_err
product_from_pb(const Ldpb__Product *pb, ld_product *p, ld_result *res)
{
    if (pb == NULL)
        return ld_result_fail(res, LD_ERR_MISSING_FIELD, "create_drop.product: required");
    TRY(check_id(&pb->creator_id, "create_drop.product.creator_id", &p->creator_id, res));
    TRY(check_str(pb->title, "create_drop.product.title", LD_TITLE_BYTES_MAX, true, p->title, res));
    TRY(check_range(pb->price_minor, 0, LD_PRICE_MINOR_MAX, "create_drop.product.price_minor",
                    res));
    p->price_minor = pb->price_minor;
    const char *cur = pb->currency ? pb->currency : "";
    if (strnlen(cur, LD_CURRENCY_BYTES + 1) != LD_CURRENCY_BYTES)
        return ld_result_fail(res, LD_ERR_INVALID_CURRENCY,
                              "create_drop.product.currency: must be 3 upper-case letters");
    for (unsigned i = 0; i < LD_CURRENCY_BYTES; i++)
        if (cur[i] < 'A' || cur[i] > 'Z')
            return ld_result_fail(res, LD_ERR_INVALID_CURRENCY,
                                  "create_drop.product.currency: must be 3 upper-case letters");
    memcpy(p->currency, cur, LD_CURRENCY_BYTES + 1);
    if (pb->n_tags > LD_TAGS_MAX)
        return ld_result_fail(res, LD_ERR_TOO_MANY_TAGS,
                              "create_drop.product.tags: %zu tags, at most %u", pb->n_tags,
                              LD_TAGS_MAX);
    p->tags_count = (uint32_t)pb->n_tags;
    for (size_t i = 0; i < pb->n_tags; i++) {
        char field[48];
        snprintf(field, sizeof field, "create_drop.product.tags[%zu]", i);
        const char *tag = pb->tags[i] ? pb->tags[i] : "";
        if (tag[0] == '\0')
            return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT, "%s: must not be empty", field);
        TRY(check_str(tag, field, LD_TAG_BYTES_MAX, true, p->tags[i], res));
    }
    return LD_OK;
}

static ld_err
create_drop_from_pb(const Ldpb__CreateDrop *pb, ld_op_create_drop *c, ld_result *res)
{
    TRY(check_id(&pb->id, "create_drop.id", &c->id, res));
    TRY(product_from_pb(pb->product, &c->product, res));
    TRY(check_time(pb->starts_at_ms, "create_drop.starts_at_ms", res));
    TRY(check_time(pb->ends_at_ms, "create_drop.ends_at_ms", res));
    if (pb->ends_at_ms <= pb->starts_at_ms)
        return ld_result_fail(res, LD_ERR_INVALID_TIME,
                              "create_drop.ends_at_ms: must be after starts_at_ms");
    c->starts_at_ms = pb->starts_at_ms;
    c->ends_at_ms = pb->ends_at_ms;
    TRY(check_range(pb->initial_stock, 1, LD_STOCK_MAX, "create_drop.initial_stock", res));
    c->initial_stock = pb->initial_stock;
    TRY(check_range(pb->low_stock_threshold, 0, pb->initial_stock,
                    "create_drop.low_stock_threshold", res));
    c->low_stock_threshold = pb->low_stock_threshold;
    TRY(check_range(pb->max_per_user, 0, LD_MAX_PER_USER_MAX, "create_drop.max_per_user", res));
    c->max_per_user = pb->max_per_user;
    c->reservation_ttl_ms = pb->reservation_ttl_ms;
    if (c->reservation_ttl_ms == 0)
        c->reservation_ttl_ms = LD_RESERVATION_TTL_MS_DEFAULT;
    TRY(check_range(c->reservation_ttl_ms, LD_RESERVATION_TTL_MS_MIN, LD_RESERVATION_TTL_MS_MAX,
                    "create_drop.reservation_ttl_ms", res));
    return LD_OK;
}

static ld_err
reserve_from_pb(const ProtobufCBinaryData *drop_id, const ProtobufCBinaryData *user_id, int64_t qty,
                const char *key, const char *name, ld_op_reserve *r, ld_result *res)
{
    char field[48];
    snprintf(field, sizeof field, "%s.drop_id", name);
    TRY(check_id(drop_id, field, &r->drop_id, res));
    snprintf(field, sizeof field, "%s.user_id", name);
    TRY(check_id(user_id, field, &r->user_id, res));
    snprintf(field, sizeof field, "%s.qty", name);
    TRY(check_qty(qty, field, res));
    r->qty = qty;
    snprintf(field, sizeof field, "%s.idempotency_key", name);
    return check_str(key, field, LD_IDEMPOTENCY_KEY_BYTES_MAX, true, r->idempotency_key, res);
}

static ld_err
body_from_pb(const Ldpb__Op *pb, ld_op *op, ld_result *res)
{
    switch (pb->body_case) {
    case LDPB__OP__BODY_CREATE_DROP:
        op->type = LD_OP_CREATE_DROP;
        return create_drop_from_pb(pb->create_drop, &op->u.create_drop, res);
    case LDPB__OP__BODY_GET_DROP:
        op->type = LD_OP_GET_DROP;
        return check_id(&pb->get_drop->drop_id, "get_drop.drop_id", &op->u.id, res);
    case LDPB__OP__BODY_RESERVE: {
        const Ldpb__Reserve *r = pb->reserve;
        op->type = LD_OP_RESERVE;
        return reserve_from_pb(&r->drop_id, &r->user_id, r->qty, r->idempotency_key, "reserve",
                               &op->u.reserve, res);
    }
    case LDPB__OP__BODY_COMMIT:
        op->type = LD_OP_COMMIT;
        TRY(check_id(&pb->commit->reservation_id, "commit.reservation_id",
                     &op->u.commit.reservation_id, res));
        return check_str(pb->commit->payment_ref, "commit.payment_ref", LD_PAYMENT_REF_BYTES_MAX,
                         true, op->u.commit.payment_ref, res);
    case LDPB__OP__BODY_RELEASE:
        op->type = LD_OP_RELEASE;
        return check_id(&pb->release->reservation_id, "release.reservation_id", &op->u.id, res);
    case LDPB__OP__BODY_PLACE_ORDER: {
        const Ldpb__PlaceOrder *p = pb->place_order;
        op->type = LD_OP_PLACE_ORDER;
        TRY(reserve_from_pb(&p->drop_id, &p->user_id, p->qty, p->idempotency_key, "place_order",
                            &op->u.reserve, res));
        return check_str(p->payment_method, "place_order.payment_method",
                         LD_PAYMENT_METHOD_BYTES_MAX, true, op->u.reserve.payment_method, res);
    }
    case LDPB__OP__BODY_GET_ORDER:
        op->type = LD_OP_GET_ORDER;
        return check_id(&pb->get_order->order_id, "get_order.order_id", &op->u.id, res);
    case LDPB__OP__BODY_GET_RESERVATION:
        op->type = LD_OP_GET_RESERVATION;
        return check_id(&pb->get_reservation->reservation_id, "get_reservation.reservation_id",
                        &op->u.id, res);
    case LDPB__OP__BODY_TICK:
        op->type = LD_OP_TICK;
        return LD_OK;
    case LDPB__OP__BODY_FINISH_ORDER: {
        const Ldpb__FinishOrder *f = pb->finish_order;
        op->type = LD_OP_FINISH_ORDER;
        TRY(check_id(&f->reservation_id, "finish_order.reservation_id",
                     &op->u.finish.reservation_id, res));
        op->u.finish.approved = f->approved != 0;
        /* The payment ref is optional here: a decline may come without one. */
        return check_str(f->payment_ref, "finish_order.payment_ref", LD_PAYMENT_REF_BYTES_MAX,
                         false, op->u.finish.payment_ref, res);
    }
    case LDPB__OP__BODY__NOT_SET:
    default:
        return ld_result_fail(res, LD_ERR_UNKNOWN_OP, "op: no known body set (case %d)",
                              (int)pb->body_case);
    }
}

/* True when the oneof case is set but its message pointer is not (a hand-built Op). */
static bool
body_missing(const Ldpb__Op *pb)
{
    switch (pb->body_case) {
    case LDPB__OP__BODY_CREATE_DROP:
    case LDPB__OP__BODY_GET_DROP:
    case LDPB__OP__BODY_RESERVE:
    case LDPB__OP__BODY_COMMIT:
    case LDPB__OP__BODY_RELEASE:
    case LDPB__OP__BODY_PLACE_ORDER:
    case LDPB__OP__BODY_GET_ORDER:
    case LDPB__OP__BODY_GET_RESERVATION:
    case LDPB__OP__BODY_TICK:
    case LDPB__OP__BODY_FINISH_ORDER:
        return pb->create_drop == NULL; /* every member of the union is a pointer */
    case LDPB__OP__BODY__NOT_SET:
    default:
        return false;
    }
}

ld_err
ld_codec_op_from_pb(const Ldpb__Op *pb, bool from_client, ld_op *op_out, ld_result *result_out)
{
    LD_ASSERT(op_out != NULL);
    LD_ASSERT(result_out != NULL);
    ld_result scratch_res;
    if (pb == NULL || body_missing(pb))
        return ld_result_fail(result_out, LD_ERR_UNKNOWN_OP, "op: no body");
    if (from_client &&
        (pb->body_case == LDPB__OP__BODY_TICK || pb->body_case == LDPB__OP__BODY_FINISH_ORDER))
        return ld_result_fail(result_out, LD_ERR_UNKNOWN_OP, "op: internal op, not for clients");
    ld_op op;
    memset(&op, 0, sizeof op);
    ld_err err = body_from_pb(pb, &op, &scratch_res);
    if (err != LD_OK) {
        *result_out = scratch_res;
        return err;
    }
    *op_out = op;
    return LD_OK;
}

/* ---- ld_op -> wire ------------------------------------------------------------------------ */

static ProtobufCBinaryData
bin(const ld_id *id)
{
    return (ProtobufCBinaryData){.len = LD_ID_BYTES, .data = (uint8_t *)id->bytes};
}

static void
product_to_pb(const ld_product *p, Ldpb__Product *pb, char **tags)
{
    ldpb__product__init(pb);
    pb->creator_id = bin(&p->creator_id);
    pb->title = (char *)p->title;
    pb->price_minor = p->price_minor;
    pb->currency = (char *)p->currency;
    LD_ASSERT(p->tags_count <= LD_TAGS_MAX);
    for (uint32_t i = 0; i < p->tags_count; i++)
        tags[i] = (char *)p->tags[i];
    pb->n_tags = p->tags_count;
    pb->tags = p->tags_count ? tags : NULL;
}

static void
create_drop_to_pb(const ld_op_create_drop *c, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ldpb__create_drop__init(&s->create_drop);
    s->create_drop.id = bin(&c->id);
    product_to_pb(&c->product, &s->product, s->tags);
    s->create_drop.product = &s->product;
    s->create_drop.starts_at_ms = c->starts_at_ms;
    s->create_drop.ends_at_ms = c->ends_at_ms;
    s->create_drop.initial_stock = c->initial_stock;
    s->create_drop.low_stock_threshold = c->low_stock_threshold;
    s->create_drop.max_per_user = c->max_per_user;
    s->create_drop.reservation_ttl_ms = c->reservation_ttl_ms;
    pb->body_case = LDPB__OP__BODY_CREATE_DROP;
    pb->create_drop = &s->create_drop;
}

static void
reserve_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    const ld_op_reserve *r = &op->u.reserve;
    if (op->type == LD_OP_RESERVE) {
        ldpb__reserve__init(&s->reserve);
        s->reserve.drop_id = bin(&r->drop_id);
        s->reserve.user_id = bin(&r->user_id);
        s->reserve.qty = r->qty;
        s->reserve.idempotency_key = (char *)r->idempotency_key;
        pb->body_case = LDPB__OP__BODY_RESERVE;
        pb->reserve = &s->reserve;
        return;
    }
    ldpb__place_order__init(&s->place_order);
    s->place_order.drop_id = bin(&r->drop_id);
    s->place_order.user_id = bin(&r->user_id);
    s->place_order.qty = r->qty;
    s->place_order.idempotency_key = (char *)r->idempotency_key;
    s->place_order.payment_method = (char *)r->payment_method;
    pb->body_case = LDPB__OP__BODY_PLACE_ORDER;
    pb->place_order = &s->place_order;
}

void
ld_codec_op_to_pb(const ld_op *op, Ldpb__Op *pb_out, ld_codec_op_scratch *scratch)
{
    LD_ASSERT(op != NULL);
    LD_ASSERT(pb_out != NULL && scratch != NULL);
    ldpb__op__init(pb_out);
    switch (op->type) {
    case LD_OP_CREATE_DROP:
        create_drop_to_pb(&op->u.create_drop, pb_out, scratch);
        break;
    case LD_OP_RESERVE:
    case LD_OP_PLACE_ORDER:
        reserve_to_pb(op, pb_out, scratch);
        break;
    case LD_OP_GET_DROP:
        ldpb__get_drop__init(&scratch->get_drop);
        scratch->get_drop.drop_id = bin(&op->u.id);
        pb_out->body_case = LDPB__OP__BODY_GET_DROP;
        pb_out->get_drop = &scratch->get_drop;
        break;
    case LD_OP_COMMIT:
        ldpb__commit__init(&scratch->commit);
        scratch->commit.reservation_id = bin(&op->u.commit.reservation_id);
        scratch->commit.payment_ref = (char *)op->u.commit.payment_ref;
        pb_out->body_case = LDPB__OP__BODY_COMMIT;
        pb_out->commit = &scratch->commit;
        break;
    case LD_OP_RELEASE:
        ldpb__release__init(&scratch->release);
        scratch->release.reservation_id = bin(&op->u.id);
        pb_out->body_case = LDPB__OP__BODY_RELEASE;
        pb_out->release = &scratch->release;
        break;
    case LD_OP_GET_ORDER:
        ldpb__get_order__init(&scratch->get_order);
        scratch->get_order.order_id = bin(&op->u.id);
        pb_out->body_case = LDPB__OP__BODY_GET_ORDER;
        pb_out->get_order = &scratch->get_order;
        break;
    case LD_OP_GET_RESERVATION:
        ldpb__get_reservation__init(&scratch->get_reservation);
        scratch->get_reservation.reservation_id = bin(&op->u.id);
        pb_out->body_case = LDPB__OP__BODY_GET_RESERVATION;
        pb_out->get_reservation = &scratch->get_reservation;
        break;
    case LD_OP_TICK:
        ldpb__tick__init(&scratch->tick);
        pb_out->body_case = LDPB__OP__BODY_TICK;
        pb_out->tick = &scratch->tick;
        break;
    case LD_OP_FINISH_ORDER:
        ldpb__finish_order__init(&scratch->finish_order);
        scratch->finish_order.reservation_id = bin(&op->u.finish.reservation_id);
        scratch->finish_order.approved = op->u.finish.approved;
        scratch->finish_order.payment_ref = (char *)op->u.finish.payment_ref;
        pb_out->body_case = LDPB__OP__BODY_FINISH_ORDER;
        pb_out->finish_order = &scratch->finish_order;
        break;
    case LD_OP_NONE:
    default:
        LD_ASSERT(!"ld_codec_op_to_pb: op type is not encodable");
    }
}

/* ---- ld_result -> wire -------------------------------------------------------------------- */

static void
drop_to_pb(const ld_drop_view *d, ld_codec_result_scratch *s)
{
    ldpb__drop__init(&s->drop);
    s->drop.id = bin(&d->spec.id);
    product_to_pb(&d->spec.product, &s->product, s->tags);
    s->drop.product = &s->product;
    s->drop.starts_at_ms = d->spec.starts_at_ms;
    s->drop.ends_at_ms = d->spec.ends_at_ms;
    s->drop.initial_stock = d->spec.initial_stock;
    s->drop.low_stock_threshold = d->spec.low_stock_threshold;
    s->drop.max_per_user = d->spec.max_per_user;
    s->drop.reservation_ttl_ms = d->spec.reservation_ttl_ms;
    s->drop.status = (Ldpb__DropStatus)d->status;
    ldpb__stock__init(&s->stock);
    s->stock.available = d->stock.available;
    s->stock.reserved = d->stock.reserved;
    s->stock.sold = d->stock.sold;
    s->drop.stock = &s->stock;
    s->drop.created_at_ms = d->created_at_ms;
}

static void
reservation_to_pb(const ld_reservation_view *r, Ldpb__Reservation *pb)
{
    ldpb__reservation__init(pb);
    pb->id = bin(&r->id);
    pb->drop_id = bin(&r->drop_id);
    pb->user_id = bin(&r->user_id);
    pb->qty = r->qty;
    pb->expires_at_ms = r->expires_at_ms;
    pb->state = (Ldpb__ReservationState)r->state;
    if (!ld_id_is_zero(&r->order_id))
        pb->order_id = bin(&r->order_id);
    pb->created_at_ms = r->created_at_ms;
}

static void
order_to_pb(const ld_order_view *o, Ldpb__Order *pb)
{
    ldpb__order__init(pb);
    pb->id = bin(&o->id);
    pb->drop_id = bin(&o->drop_id);
    pb->user_id = bin(&o->user_id);
    pb->reservation_id = bin(&o->reservation_id);
    pb->qty = o->qty;
    pb->total_minor = o->total_minor;
    pb->currency = (char *)o->currency;
    pb->status = (Ldpb__OrderStatus)o->status;
    pb->payment_ref = (char *)o->payment_ref;
    pb->created_at_ms = o->created_at_ms;
}

void
ld_codec_result_to_pb(const ld_result *result, Ldpb__Result *pb_out,
                      ld_codec_result_scratch *scratch)
{
    LD_ASSERT(result != NULL);
    LD_ASSERT(pb_out != NULL && scratch != NULL);
    ldpb__result__init(pb_out);
    pb_out->code = (uint32_t)result->code;
    pb_out->message = (char *)(result->message[0] ? result->message : ld_strerror(result->code));
    switch (result->kind) {
    case LD_RESULT_DROP:
        drop_to_pb(&result->u.drop, scratch);
        pb_out->body_case = LDPB__RESULT__BODY_DROP;
        pb_out->drop = &scratch->drop;
        break;
    case LD_RESULT_RESERVATION:
        reservation_to_pb(&result->u.reservation, &scratch->reservation);
        pb_out->body_case = LDPB__RESULT__BODY_RESERVATION;
        pb_out->reservation = &scratch->reservation;
        break;
    case LD_RESULT_ORDER:
        order_to_pb(&result->u.order, &scratch->order);
        pb_out->body_case = LDPB__RESULT__BODY_ORDER;
        pb_out->order = &scratch->order;
        break;
    case LD_RESULT_NONE:
    default:
        pb_out->body_case = LDPB__RESULT__BODY__NOT_SET;
        break;
    }
}
