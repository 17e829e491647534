/*
 * codec.c -- livedrop.proto -> ld_op: field checks, the dispatch, and the drop and order ops
 * (see codec.h; codec_ops.c holds the social and catalog ops, codec_result.c results, pages and
 * events).
 *
 * ld_codec_op_from_pb() is the only way into an ld_op: it checks every field against
 * ld_limits.h, in the order the fields are declared in livedrop.proto, and stops at the first
 * bad one with a precise code and a message naming the field ("reserve.qty: ..."). Strings must
 * be valid UTF-8 (shortest form, no surrogates, <= U+10FFFF) and contain no NUL byte. Messages
 * never echo the caller's strings back (they may not be valid UTF-8).
 *
 * NUL bytes: protobuf-c hands strings over as NUL-terminated char *, so a NUL inside a string
 * on the wire ends the string as this codec sees it (the rest is never read). The modified-UTF-8
 * spelling of NUL (C0 80) is refused as an overlong sequence.
 */
#include "codec.h"

#include <stdio.h>
#include <string.h>

#include "codec_int.h"
#include "shard_int.h"

_Static_assert(LD_PAGE_DEFAULT <= LD_PAGE_EDGES_MAX && LD_PAGE_DEFAULT <= LD_PAGE_DROPS_MAX,
               "the default page size fits every list");

/* ---- field checks ------------------------------------------------------------------------ */

ld_err
ldi_codec_check_id(const ProtobufCBinaryData *b, const char *field, ld_id *out, ld_result *res)
{
    if (b->len != LD_ID_BYTES || b->data == NULL)
        return ld_result_fail(res, LD_ERR_INVALID_ID, "%s: must be exactly 16 bytes, got %zu",
                              field, b->len);
    memcpy(out->bytes, b->data, LD_ID_BYTES);
    if (ld_id_is_zero(out))
        return ld_result_fail(res, LD_ERR_INVALID_ID, "%s: must not be all zero", field);
    return LD_OK;
}

ld_err
ldi_codec_check_opt_id(const ProtobufCBinaryData *b, const char *field, ld_id *out, ld_result *res)
{
    if (b->len == 0) {
        memset(out->bytes, 0, LD_ID_BYTES);
        return LD_OK;
    }
    return ldi_codec_check_id(b, field, out, res);
}

ld_err
ldi_codec_check_str(const char *s, const char *field, size_t max, bool required, char *out,
                    ld_result *res)
{
    if (s == NULL)
        s = "";
    size_t len = strnlen(s, max + 1);
    if (len > max)
        return ld_result_fail(res, LD_ERR_STRING_TOO_LONG, "%s: longer than %zu bytes", field, max);
    if (required && len == 0)
        return ld_result_fail(res, LD_ERR_MISSING_FIELD, "%s: required, must not be empty", field);
    if (!ldi_utf8_valid(s, len))
        return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT, "%s: not valid UTF-8", field);
    memcpy(out, s, len);
    out[len] = '\0';
    return LD_OK;
}

ld_err
ldi_codec_check_range(int64_t v, int64_t lo, int64_t hi, const char *field, ld_result *res)
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

ld_err
ldi_codec_check_time(int64_t t, const char *field, ld_result *res)
{
    if (t < LD_TIME_MS_MIN || t > LD_TIME_MS_MAX)
        return ld_result_fail(res, LD_ERR_INVALID_TIME, "%s: %lld ms is outside %lld..%lld", field,
                              (long long)t, (long long)LD_TIME_MS_MIN, (long long)LD_TIME_MS_MAX);
    return LD_OK;
}

ld_err
ldi_codec_check_currency(const char *cur, const char *field, char *out, ld_result *res)
{
    if (cur == NULL)
        cur = "";
    if (strnlen(cur, LD_CURRENCY_BYTES + 1) != LD_CURRENCY_BYTES)
        return ld_result_fail(res, LD_ERR_INVALID_CURRENCY, "%s: must be 3 upper-case letters",
                              field);
    for (unsigned i = 0; i < LD_CURRENCY_BYTES; i++)
        if (cur[i] < 'A' || cur[i] > 'Z')
            return ld_result_fail(res, LD_ERR_INVALID_CURRENCY, "%s: must be 3 upper-case letters",
                                  field);
    memcpy(out, cur, LD_CURRENCY_BYTES + 1);
    return LD_OK;
}

ld_err
ldi_codec_check_tags(size_t n, char *const *tags, const char *field,
                     char out[][LD_TAG_BYTES_MAX + 1], uint32_t *count_out, ld_result *res)
{
    if (n > LD_TAGS_MAX)
        return ld_result_fail(res, LD_ERR_TOO_MANY_TAGS, "%s: %zu tags, at most %u", field, n,
                              LD_TAGS_MAX);
    for (size_t i = 0; i < n; i++) {
        char f[LDI_FIELD_BYTES];
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        const char *tag = tags[i] ? tags[i] : "";
        if (tag[0] == '\0')
            return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT, "%s: must not be empty", f);
        LDI_TRY(ldi_codec_check_str(tag, f, LD_TAG_BYTES_MAX, true, out[i], res));
    }
    *count_out = (uint32_t)n;
    return LD_OK;
}

ld_err
ldi_codec_check_attrs(size_t n, Ldpb__Attribute *const *attrs, const char *field, ld_attr *out,
                      uint32_t *count_out, ld_result *res)
{
    if (n > LD_ATTRS_MAX)
        return ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE,
                              "%s: too many attributes (max %u), got %zu", field, LD_ATTRS_MAX, n);
    for (size_t i = 0; i < n; i++) {
        char f[LDI_FIELD_BYTES];
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if (attrs[i] == NULL)
            return ld_result_fail(res, LD_ERR_MISSING_FIELD, "%s: required", f);
        snprintf(f, sizeof f, "%s[%zu].key", field, i);
        LDI_TRY(
            ldi_codec_check_str(attrs[i]->key, f, LD_ATTR_KEY_BYTES_MAX, true, out[i].key, res));
        for (size_t j = 0; j < i; j++)
            if (strcmp(out[j].key, out[i].key) == 0)
                return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                                      "%s: duplicate key (same as %s[%zu].key)", f, field, j);
        snprintf(f, sizeof f, "%s[%zu].value", field, i);
        LDI_TRY(ldi_codec_check_str(attrs[i]->value, f, LD_ATTR_VALUE_BYTES_MAX, false,
                                    out[i].value, res));
    }
    *count_out = (uint32_t)n;
    return LD_OK;
}

static bool
handle_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
}

ld_err
ldi_codec_check_handle(const char *s, const char *field, char *out, ld_result *res)
{
    if (s == NULL)
        s = "";
    size_t len = strnlen(s, LD_HANDLE_BYTES_MAX + 1);
    bool ok = len >= LD_HANDLE_BYTES_MIN && len <= LD_HANDLE_BYTES_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = handle_char(s[i]);
    if (!ok)
        return ld_result_fail(res, LD_ERR_INVALID_HANDLE,
                              "%s: must be %u..%u characters of A-Z, a-z, 0-9, '_' and '.'", field,
                              LD_HANDLE_BYTES_MIN, LD_HANDLE_BYTES_MAX);
    memcpy(out, s, len);
    out[len] = '\0';
    return LD_OK;
}

ld_err
ldi_codec_check_first(uint32_t first, uint32_t max, const char *field, uint32_t *out,
                      ld_result *res)
{
    if (first > max)
        return ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE, "%s: %u is above the maximum %u",
                              field, first, max);
    *out = first == 0 ? LD_PAGE_DEFAULT : first;
    return LD_OK;
}

static bool
base64url_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

ld_err
ldi_codec_check_cursor(const char *s, const char *field, char *out, ld_result *res)
{
    if (s == NULL)
        s = "";
    size_t len = strnlen(s, LD_CURSOR_BYTES_MAX + 1);
    if (len > LD_CURSOR_BYTES_MAX)
        return ld_result_fail(res, LD_ERR_INVALID_CURSOR, "%s: longer than %u bytes", field,
                              LD_CURSOR_BYTES_MAX);
    for (size_t i = 0; i < len; i++)
        if (!base64url_char(s[i]))
            return ld_result_fail(res, LD_ERR_INVALID_CURSOR,
                                  "%s: not a cursor (base64url characters only)", field);
    memcpy(out, s, len);
    out[len] = '\0';
    return LD_OK;
}

/* ---- drop and order ops ------------------------------------------------------------------ */

static ld_err
product_from_pb(const Ldpb__Product *pb, ld_product *p, ld_result *res)
{
    if (pb == NULL)
        return ld_result_fail(res, LD_ERR_MISSING_FIELD, "create_drop.product: required");
    LDI_TRY(
        ldi_codec_check_id(&pb->creator_id, "create_drop.product.creator_id", &p->creator_id, res));
    LDI_TRY(ldi_codec_check_str(pb->title, "create_drop.product.title", LD_TITLE_BYTES_MAX, true,
                                p->title, res));
    LDI_TRY(ldi_codec_check_range(pb->price_minor, 0, LD_PRICE_MINOR_MAX,
                                  "create_drop.product.price_minor", res));
    p->price_minor = pb->price_minor;
    LDI_TRY(
        ldi_codec_check_currency(pb->currency, "create_drop.product.currency", p->currency, res));
    LDI_TRY(ldi_codec_check_tags(pb->n_tags, pb->tags, "create_drop.product.tags", p->tags,
                                 &p->tags_count, res));
    if (pb->product_id.len != 0)
        return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                              "create_drop.product.product_id: must be empty (schedule from a "
                              "catalog product with create_drop.product_id)");
    return LD_OK;
}

/* True when an inline product carries no field at all (absent, or every field at its default). */
static bool
product_empty(const Ldpb__Product *pb)
{
    if (pb == NULL)
        return true;
    return pb->creator_id.len == 0 && (pb->title == NULL || pb->title[0] == '\0') &&
           pb->price_minor == 0 && (pb->currency == NULL || pb->currency[0] == '\0') &&
           pb->n_tags == 0 && pb->product_id.len == 0;
}

static ld_err
create_drop_from_pb(const Ldpb__CreateDrop *pb, ld_op_create_drop *c, ld_result *res)
{
    LDI_TRY(ldi_codec_check_id(&pb->id, "create_drop.id", &c->id, res));
    if (pb->product_id.len == 0) {
        LDI_TRY(product_from_pb(pb->product, &c->product, res));
    } else {
        /* From the catalog: the state machine fills c->product from the product. */
        if (!product_empty(pb->product))
            return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                                  "create_drop.product: must be empty when product_id is set");
        LDI_TRY(ldi_codec_check_id(&pb->product_id, "create_drop.product_id", &c->product_id, res));
    }
    LDI_TRY(ldi_codec_check_time(pb->starts_at_ms, "create_drop.starts_at_ms", res));
    LDI_TRY(ldi_codec_check_time(pb->ends_at_ms, "create_drop.ends_at_ms", res));
    if (pb->ends_at_ms <= pb->starts_at_ms)
        return ld_result_fail(res, LD_ERR_INVALID_TIME,
                              "create_drop.ends_at_ms: must be after starts_at_ms");
    c->starts_at_ms = pb->starts_at_ms;
    c->ends_at_ms = pb->ends_at_ms;
    LDI_TRY(ldi_codec_check_range(pb->initial_stock, 1, LD_STOCK_MAX, "create_drop.initial_stock",
                                  res));
    c->initial_stock = pb->initial_stock;
    LDI_TRY(ldi_codec_check_range(pb->low_stock_threshold, 0, pb->initial_stock,
                                  "create_drop.low_stock_threshold", res));
    c->low_stock_threshold = pb->low_stock_threshold;
    LDI_TRY(ldi_codec_check_range(pb->max_per_user, 0, LD_MAX_PER_USER_MAX,
                                  "create_drop.max_per_user", res));
    c->max_per_user = pb->max_per_user;
    c->reservation_ttl_ms = pb->reservation_ttl_ms;
    if (c->reservation_ttl_ms == 0)
        c->reservation_ttl_ms = LD_RESERVATION_TTL_MS_DEFAULT;
    return ldi_codec_check_range(c->reservation_ttl_ms, LD_RESERVATION_TTL_MS_MIN,
                                 LD_RESERVATION_TTL_MS_MAX, "create_drop.reservation_ttl_ms", res);
}

static ld_err
reserve_from_pb(const ProtobufCBinaryData *drop_id, const ProtobufCBinaryData *user_id, int64_t qty,
                const char *key, const char *name, ld_op_reserve *r, ld_result *res)
{
    char field[LDI_FIELD_BYTES];
    snprintf(field, sizeof field, "%s.drop_id", name);
    LDI_TRY(ldi_codec_check_id(drop_id, field, &r->drop_id, res));
    snprintf(field, sizeof field, "%s.user_id", name);
    LDI_TRY(ldi_codec_check_id(user_id, field, &r->user_id, res));
    snprintf(field, sizeof field, "%s.qty", name);
    LDI_TRY(check_qty(qty, field, res));
    r->qty = qty;
    snprintf(field, sizeof field, "%s.idempotency_key", name);
    return ldi_codec_check_str(key, field, LD_IDEMPOTENCY_KEY_BYTES_MAX, true, r->idempotency_key,
                               res);
}

/* The order and payment ops (reserve .. finish_order). */
static ld_err
order_ops_from_pb(const Ldpb__Op *pb, ld_op *op, ld_result *res)
{
    switch (pb->body_case) {
    case LDPB__OP__BODY_RESERVE: {
        const Ldpb__Reserve *r = pb->reserve;
        op->type = LD_OP_RESERVE;
        return reserve_from_pb(&r->drop_id, &r->user_id, r->qty, r->idempotency_key, "reserve",
                               &op->u.reserve, res);
    }
    case LDPB__OP__BODY_COMMIT:
        op->type = LD_OP_CHECKOUT;
        LDI_TRY(ldi_codec_check_id(&pb->commit->reservation_id, "commit.reservation_id",
                                   &op->u.checkout.reservation_id, res));
        return ldi_codec_check_str(pb->commit->payment_ref, "commit.payment_ref",
                                   LD_PAYMENT_REF_BYTES_MAX, true, op->u.checkout.payment_ref, res);
    case LDPB__OP__BODY_PLACE_ORDER: {
        const Ldpb__PlaceOrder *p = pb->place_order;
        op->type = LD_OP_PLACE_ORDER;
        LDI_TRY(reserve_from_pb(&p->drop_id, &p->user_id, p->qty, p->idempotency_key, "place_order",
                                &op->u.reserve, res));
        return ldi_codec_check_str(p->payment_method, "place_order.payment_method",
                                   LD_PAYMENT_METHOD_BYTES_MAX, true, op->u.reserve.payment_method,
                                   res);
    }
    case LDPB__OP__BODY_FINISH_ORDER: {
        const Ldpb__FinishOrder *f = pb->finish_order;
        op->type = LD_OP_FINISH_ORDER;
        LDI_TRY(ldi_codec_check_id(&f->reservation_id, "finish_order.reservation_id",
                                   &op->u.finish.reservation_id, res));
        op->u.finish.approved = f->approved != 0;
        /* The payment ref is optional here: a decline may come without one. */
        return ldi_codec_check_str(f->payment_ref, "finish_order.payment_ref",
                                   LD_PAYMENT_REF_BYTES_MAX, false, op->u.finish.payment_ref, res);
    }
    default:
        return ldi_codec_ops_from_pb(pb, op, res);
    }
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
        return ldi_codec_check_id(&pb->get_drop->drop_id, "get_drop.drop_id", &op->u.id, res);
    case LDPB__OP__BODY_RELEASE:
        op->type = LD_OP_RELEASE;
        return ldi_codec_check_id(&pb->release->reservation_id, "release.reservation_id", &op->u.id,
                                  res);
    case LDPB__OP__BODY_GET_ORDER:
        op->type = LD_OP_GET_ORDER;
        return ldi_codec_check_id(&pb->get_order->order_id, "get_order.order_id", &op->u.id, res);
    case LDPB__OP__BODY_GET_RESERVATION:
        op->type = LD_OP_GET_RESERVATION;
        return ldi_codec_check_id(&pb->get_reservation->reservation_id,
                                  "get_reservation.reservation_id", &op->u.id, res);
    case LDPB__OP__BODY_TICK:
        op->type = LD_OP_TICK;
        return LD_OK;
    default:
        return order_ops_from_pb(pb, op, res);
    }
}

/* True for the internal ops (100..199): written to the log by the node, never by a client. */
static bool
body_internal(Ldpb__Op__BodyCase c)
{
    return (int)c >= 100 && (int)c < 200;
}

ld_err
ld_codec_op_from_pb(const Ldpb__Op *pb, bool from_client, ld_op *op_out, ld_result *result_out)
{
    LD_ASSERT(op_out != NULL);
    LD_ASSERT(result_out != NULL);
    /* A set case without its message is a hand-built Op (every member of the union is a
     * pointer, so one NULL check covers them all). */
    if (pb == NULL || pb->body_case == LDPB__OP__BODY__NOT_SET || pb->create_drop == NULL)
        return ld_result_fail(result_out, LD_ERR_UNKNOWN_OP, "op: no body");
    if (from_client && body_internal(pb->body_case))
        return ld_result_fail(result_out, LD_ERR_UNKNOWN_OP, "op: internal op, not for clients");
    ld_op op;
    memset(&op, 0, sizeof op);
    ld_result scratch_res;
    ld_err err =
        ldi_codec_check_opt_id(&pb->principal, "op.principal", &op.principal, &scratch_res);
    if (err == LD_OK)
        err = body_from_pb(pb, &op, &scratch_res);
    if (err != LD_OK) {
        *result_out = scratch_res;
        return err;
    }
    *op_out = op;
    return LD_OK;
}

/* ---- ld_op -> wire ------------------------------------------------------------------------ */

ProtobufCBinaryData
ldi_codec_bin(const ld_id *id)
{
    return (ProtobufCBinaryData){.len = LD_ID_BYTES, .data = (uint8_t *)id->bytes};
}

ProtobufCBinaryData
ldi_codec_opt_bin(const ld_id *id)
{
    if (ld_id_is_zero(id))
        return (ProtobufCBinaryData){.len = 0, .data = NULL};
    return ldi_codec_bin(id);
}

void
ldi_codec_product_to_pb(const ld_product *p, Ldpb__Product *pb, char **tags)
{
    ldpb__product__init(pb);
    pb->creator_id = ldi_codec_bin(&p->creator_id);
    pb->title = (char *)p->title;
    pb->price_minor = p->price_minor;
    pb->currency = (char *)p->currency;
    LD_ASSERT(p->tags_count <= LD_TAGS_MAX);
    for (uint32_t i = 0; i < p->tags_count; i++)
        tags[i] = (char *)p->tags[i];
    pb->n_tags = p->tags_count;
    pb->tags = p->tags_count ? tags : NULL;
}

void
ldi_codec_attrs_to_pb(const ld_attr *in, uint32_t n, Ldpb__Attribute *attrs, Ldpb__Attribute **ptrs)
{
    LD_ASSERT(n <= LD_ATTRS_MAX);
    for (uint32_t i = 0; i < n; i++) {
        ldpb__attribute__init(&attrs[i]);
        attrs[i].key = (char *)in[i].key;
        attrs[i].value = (char *)in[i].value;
        ptrs[i] = &attrs[i];
    }
}

static void
create_drop_to_pb(const ld_op_create_drop *c, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ldpb__create_drop__init(&s->create_drop);
    s->create_drop.id = ldi_codec_bin(&c->id);
    if (ld_id_is_zero(&c->product_id)) {
        ldi_codec_product_to_pb(&c->product, &s->product, s->tags);
        s->create_drop.product = &s->product;
    } else {
        /* From the catalog: the product travels as its id only (the codec left it empty). */
        s->create_drop.product_id = ldi_codec_bin(&c->product_id);
    }
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
        s->reserve.drop_id = ldi_codec_bin(&r->drop_id);
        s->reserve.user_id = ldi_codec_bin(&r->user_id);
        s->reserve.qty = r->qty;
        s->reserve.idempotency_key = (char *)r->idempotency_key;
        pb->body_case = LDPB__OP__BODY_RESERVE;
        pb->reserve = &s->reserve;
        return;
    }
    ldpb__place_order__init(&s->place_order);
    s->place_order.drop_id = ldi_codec_bin(&r->drop_id);
    s->place_order.user_id = ldi_codec_bin(&r->user_id);
    s->place_order.qty = r->qty;
    s->place_order.idempotency_key = (char *)r->idempotency_key;
    s->place_order.payment_method = (char *)r->payment_method;
    pb->body_case = LDPB__OP__BODY_PLACE_ORDER;
    pb->place_order = &s->place_order;
}

/* The ops whose body is one id. */
static void
id_op_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ProtobufCBinaryData id = ldi_codec_bin(&op->u.id);
    switch (op->type) {
    case LD_OP_GET_DROP:
        ldpb__get_drop__init(&s->get_drop);
        s->get_drop.drop_id = id;
        pb->body_case = LDPB__OP__BODY_GET_DROP;
        pb->get_drop = &s->get_drop;
        break;
    case LD_OP_RELEASE:
        ldpb__release__init(&s->release);
        s->release.reservation_id = id;
        pb->body_case = LDPB__OP__BODY_RELEASE;
        pb->release = &s->release;
        break;
    case LD_OP_GET_ORDER:
        ldpb__get_order__init(&s->get_order);
        s->get_order.order_id = id;
        pb->body_case = LDPB__OP__BODY_GET_ORDER;
        pb->get_order = &s->get_order;
        break;
    case LD_OP_GET_RESERVATION:
        ldpb__get_reservation__init(&s->get_reservation);
        s->get_reservation.reservation_id = id;
        pb->body_case = LDPB__OP__BODY_GET_RESERVATION;
        pb->get_reservation = &s->get_reservation;
        break;
    default:
        LD_ASSERT(!"id_op_to_pb: not an id op");
    }
}

static bool
order_ops_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    switch (op->type) {
    case LD_OP_CREATE_DROP:
        create_drop_to_pb(&op->u.create_drop, pb, s);
        return true;
    case LD_OP_RESERVE:
    case LD_OP_PLACE_ORDER:
        reserve_to_pb(op, pb, s);
        return true;
    case LD_OP_GET_DROP:
    case LD_OP_RELEASE:
    case LD_OP_GET_ORDER:
    case LD_OP_GET_RESERVATION:
        id_op_to_pb(op, pb, s);
        return true;
    case LD_OP_CHECKOUT:
        ldpb__commit__init(&s->commit);
        s->commit.reservation_id = ldi_codec_bin(&op->u.checkout.reservation_id);
        s->commit.payment_ref = (char *)op->u.checkout.payment_ref;
        pb->body_case = LDPB__OP__BODY_COMMIT;
        pb->commit = &s->commit;
        return true;
    case LD_OP_TICK:
        ldpb__tick__init(&s->tick);
        pb->body_case = LDPB__OP__BODY_TICK;
        pb->tick = &s->tick;
        return true;
    case LD_OP_FINISH_ORDER:
        ldpb__finish_order__init(&s->finish_order);
        s->finish_order.reservation_id = ldi_codec_bin(&op->u.finish.reservation_id);
        s->finish_order.approved = op->u.finish.approved;
        s->finish_order.payment_ref = (char *)op->u.finish.payment_ref;
        pb->body_case = LDPB__OP__BODY_FINISH_ORDER;
        pb->finish_order = &s->finish_order;
        return true;
    default:
        return false;
    }
}

void
ld_codec_op_to_pb(const ld_op *op, Ldpb__Op *pb_out, ld_codec_op_scratch *scratch)
{
    LD_ASSERT(op != NULL);
    LD_ASSERT(pb_out != NULL && scratch != NULL);
    ldpb__op__init(pb_out);
    pb_out->principal = ldi_codec_opt_bin(&op->principal);
    bool done = order_ops_to_pb(op, pb_out, scratch) || ldi_codec_ops_to_pb(op, pb_out, scratch);
    LD_ASSERT(done && "ld_codec_op_to_pb: op type is not encodable");
}
