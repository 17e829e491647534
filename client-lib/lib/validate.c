/*
 * validate.c -- client-side argument checks against ld_limits.h.
 *
 * A bad request is refused here, before it costs a round trip, with the code and message the
 * node's codec would answer: the same checks in the same order (the order of the fields in
 * livedrop.proto), first failure wins. The node checks again -- this is a convenience, not a
 * defence; ld_client_raw() sends requests that skip it.
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

ld_err
ldi_check_id(const ld_id *id, const char *field, ld_errmsg *msg)
{
    if (id == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: NULL", field);
    if (ld_id_is_zero(id))
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ID, "%s: must not be all zero", field);
    return LD_OK;
}

/* A required string of 1..max bytes of UTF-8. */
ld_err
ldi_check_str(const char *s, const char *field, size_t max, ld_errmsg *msg)
{
    if (s == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: NULL", field);
    size_t len = strnlen(s, max + 1);
    if (len > max)
        return ldi_errmsg_fail(msg, LD_ERR_STRING_TOO_LONG, "%s: longer than %zu bytes", field,
                               max);
    if (len == 0)
        return ldi_errmsg_fail(msg, LD_ERR_MISSING_FIELD, "%s: required, must not be empty", field);
    if (!ldi_utf8_valid(s, len))
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: not valid UTF-8", field);
    return LD_OK;
}

ld_err
ldi_check_qty(int64_t qty, const char *field, ld_errmsg *msg)
{
    if (qty < 1 || qty > LD_QTY_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_QTY_OUT_OF_RANGE, "%s: %lld is outside 1..%d", field,
                               (long long)qty, LD_QTY_MAX);
    return LD_OK;
}

static ld_err
check_range(int64_t v, int64_t lo, int64_t hi, const char *field, ld_errmsg *msg)
{
    if (v < lo || v > hi)
        return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE, "%s: %lld is outside %lld..%lld",
                               field, (long long)v, (long long)lo, (long long)hi);
    return LD_OK;
}

static ld_err
check_time(int64_t t, const char *field, ld_errmsg *msg)
{
    if (t < LD_TIME_MS_MIN || t > LD_TIME_MS_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_TIME, "%s: %lld ms is outside %lld..%lld", field,
                               (long long)t, (long long)LD_TIME_MS_MIN, (long long)LD_TIME_MS_MAX);
    return LD_OK;
}

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        ld_err try_err_ = (expr);                                                                  \
        if (try_err_ != LD_OK)                                                                     \
            return try_err_;                                                                       \
    } while (0)

static ld_err
check_currency(const char *cur, ld_errmsg *msg)
{
    bool ok = strnlen(cur, LD_CURRENCY_BYTES + 1) == LD_CURRENCY_BYTES;
    for (unsigned i = 0; ok && i < LD_CURRENCY_BYTES; i++)
        ok = cur[i] >= 'A' && cur[i] <= 'Z';
    if (!ok)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_CURRENCY,
                               "create_drop.product.currency: must be 3 upper-case letters");
    return LD_OK;
}

static ld_err
check_product(const ld_product_spec *p, ld_errmsg *msg)
{
    TRY(ldi_check_id(&p->creator_id, "create_drop.product.creator_id", msg));
    TRY(ldi_check_str(p->title, "create_drop.product.title", LD_TITLE_BYTES_MAX, msg));
    TRY(check_range(p->price_minor, 0, LD_PRICE_MINOR_MAX, "create_drop.product.price_minor", msg));
    TRY(check_currency(p->currency, msg));
    if (p->tags_count > LD_TAGS_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_TOO_MANY_TAGS,
                               "create_drop.product.tags: %u tags, at most %u", p->tags_count,
                               LD_TAGS_MAX);
    for (uint32_t i = 0; i < p->tags_count; i++) {
        char field[48];
        snprintf(field, sizeof field, "create_drop.product.tags[%u]", i);
        if (p->tags[i][0] == '\0')
            return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: must not be empty", field);
        TRY(ldi_check_str(p->tags[i], field, LD_TAG_BYTES_MAX, msg));
    }
    return LD_OK;
}

/* A drop scheduled from a catalog product: the inline product carries only the acting
 * creator (the principal; it does not go on the wire), the rest must be empty. */
static ld_err
check_product_ref(const ld_product_spec *p, ld_errmsg *msg)
{
    if (p->title[0] != '\0' || p->price_minor != 0 || p->currency[0] != '\0' || p->tags_count != 0)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT,
                               "create_drop.product: must be empty when product_id is set");
    return ldi_check_id(&p->creator_id, "create_drop.principal", msg);
}

ld_err
ldi_check_drop_spec(const ld_drop_spec *s, ld_errmsg *msg)
{
    if (s == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "create_drop: spec is NULL");
    TRY(ldi_check_id(&s->id, "create_drop.id", msg));
    if (ld_id_is_zero(&s->product_id))
        TRY(check_product(&s->product, msg));
    else
        TRY(check_product_ref(&s->product, msg));
    TRY(check_time(s->starts_at_ms, "create_drop.starts_at_ms", msg));
    TRY(check_time(s->ends_at_ms, "create_drop.ends_at_ms", msg));
    if (s->ends_at_ms <= s->starts_at_ms)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_TIME,
                               "create_drop.ends_at_ms: must be after starts_at_ms");
    TRY(check_range(s->initial_stock, 1, LD_STOCK_MAX, "create_drop.initial_stock", msg));
    TRY(check_range(s->low_stock_threshold, 0, s->initial_stock, "create_drop.low_stock_threshold",
                    msg));
    TRY(check_range(s->max_per_user, 0, LD_MAX_PER_USER_MAX, "create_drop.max_per_user", msg));
    int64_t ttl =
        s->reservation_ttl_ms != 0 ? s->reservation_ttl_ms : LD_RESERVATION_TTL_MS_DEFAULT;
    TRY(check_range(ttl, LD_RESERVATION_TTL_MS_MIN, LD_RESERVATION_TTL_MS_MAX,
                    "create_drop.reservation_ttl_ms", msg));
    return LD_OK;
}
