/*
 * validate_social.c -- client-side checks of the social and catalog ops (users, creators, catalog
 * products, pages, browse filters, topics), with the codes and messages of the node's codec
 * (shard/codec.c): the fields in the order livedrop.proto declares them, first failure wins.
 *
 * The principal is not the codec's business (the state machine checks it); the client derives
 * it from the spec (livedrop.h says which field acts) and refuses a zero one here with
 * LD_ERR_INVALID_ID, naming it "<op>.principal".
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        ld_err try_err_ = (expr);                                                                  \
        if (try_err_ != LD_OK)                                                                     \
            return try_err_;                                                                       \
    } while (0)

/* An optional string of 0..max bytes of UTF-8 (NULL counts as empty). */
static ld_err
check_opt_str(const char *s, const char *field, size_t max, ld_errmsg *msg)
{
    if (s == NULL || s[0] == '\0')
        return LD_OK;
    return ldi_check_str(s, field, max, msg);
}

static ld_err
check_email(const char *email, ld_errmsg *msg)
{
    TRY(check_opt_str(email, "create_user.email", LD_EMAIL_BYTES_MAX, msg));
    if (email == NULL || email[0] == '\0')
        return LD_OK;
    const char *at = strchr(email, '@');
    if (at == NULL || at == email || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT,
                               "create_user.email: must be local@domain (one '@' with text on "
                               "both sides)");
    return LD_OK;
}

ld_err
ldi_check_user_spec(const ld_user_spec *s, ld_errmsg *msg)
{
    if (s == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "create_user: spec is NULL");
    TRY(ldi_check_id(&s->id, "create_user.id", msg));
    TRY(ldi_check_str(s->name, "create_user.name", LD_NAME_BYTES_MAX, msg));
    return check_email(s->email, msg);
}

ld_err
ldi_check_handle(const char *h, const char *field, ld_errmsg *msg)
{
    if (h == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: NULL", field);
    size_t len = strnlen(h, LD_HANDLE_BYTES_MAX + 1);
    bool ok = len >= LD_HANDLE_BYTES_MIN && len <= LD_HANDLE_BYTES_MAX;
    for (size_t i = 0; ok && i < len; i++) {
        char ch = h[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '_' || ch == '.';
    }
    if (!ok)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_HANDLE,
                               "%s: must be %u..%u characters of A-Z, a-z, 0-9, '_' and '.'", field,
                               LD_HANDLE_BYTES_MIN, LD_HANDLE_BYTES_MAX);
    return LD_OK;
}

/* Key/value pairs (a creator's profile, a product's attributes): count (VALUE_OUT_OF_RANGE),
 * each key 1..max and unique (INVALID_ARGUMENT), each value 0..max. `field` is e.g.
 * "create_creator.profile". */
static ld_err
check_attrs(const ld_attr *attrs, uint32_t count, const char *field, ld_errmsg *msg)
{
    if (count > LD_ATTRS_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                               "%s: too many attributes (max %u), got %u", field, LD_ATTRS_MAX,
                               count);
    for (uint32_t i = 0; i < count; i++) {
        char f[64];
        snprintf(f, sizeof f, "%s[%u].key", field, i);
        TRY(ldi_check_str(attrs[i].key, f, LD_ATTR_KEY_BYTES_MAX, msg));
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(attrs[j].key, attrs[i].key) == 0)
                return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT,
                                       "%s: duplicate key (same as %s[%u].key)", f, field, j);
        snprintf(f, sizeof f, "%s[%u].value", field, i);
        TRY(check_opt_str(attrs[i].value, f, LD_ATTR_VALUE_BYTES_MAX, msg));
    }
    return LD_OK;
}

ld_err
ldi_check_creator_spec(const ld_creator_spec *s, ld_errmsg *msg)
{
    if (s == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "create_creator: spec is NULL");
    TRY(ldi_check_id(&s->id, "create_creator.id", msg));
    TRY(ldi_check_handle(s->handle, "create_creator.handle", msg));
    TRY(ldi_check_str(s->name, "create_creator.name", LD_NAME_BYTES_MAX, msg));
    return check_attrs(s->profile, s->profile_count, "create_creator.profile", msg);
}

static ld_err
check_currency(const char *cur, const char *field, ld_errmsg *msg)
{
    bool ok = strnlen(cur, LD_CURRENCY_BYTES + 1) == LD_CURRENCY_BYTES;
    for (unsigned i = 0; ok && i < LD_CURRENCY_BYTES; i++)
        ok = cur[i] >= 'A' && cur[i] <= 'Z';
    if (!ok)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_CURRENCY, "%s: must be 3 upper-case letters",
                               field);
    return LD_OK;
}

/* Tags: count, each 1..LD_TAG_BYTES_MAX. `field` is e.g. "create_product.tags". */
static ld_err
check_tags(const char (*tags)[LD_TAG_BYTES_MAX + 1], uint32_t count, const char *field,
           ld_errmsg *msg)
{
    if (count > LD_TAGS_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_TOO_MANY_TAGS, "%s: %u tags, at most %u", field, count,
                               LD_TAGS_MAX);
    for (uint32_t i = 0; i < count; i++) {
        char f[64];
        snprintf(f, sizeof f, "%s[%u]", field, i);
        if (tags[i][0] == '\0')
            return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: must not be empty", f);
        TRY(ldi_check_str(tags[i], f, LD_TAG_BYTES_MAX, msg));
    }
    return LD_OK;
}

ld_err
ldi_check_product_spec(const ld_catalog_product_spec *s, bool update, ld_errmsg *msg)
{
    const char *op = update ? "update_product" : "create_product";
    char f[48];
    if (s == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: spec is NULL", op);
    snprintf(f, sizeof f, "%s.id", op);
    TRY(ldi_check_id(&s->id, f, msg));
    snprintf(f, sizeof f, update ? "%s.principal" : "%s.creator_id", op);
    TRY(ldi_check_id(&s->creator_id, f, msg));
    snprintf(f, sizeof f, "%s.title", op);
    TRY(ldi_check_str(s->title, f, LD_TITLE_BYTES_MAX, msg));
    if (s->price_minor < 0 || s->price_minor > LD_PRICE_MINOR_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                               "%s.price_minor: %lld is outside 0..%lld", op,
                               (long long)s->price_minor, (long long)LD_PRICE_MINOR_MAX);
    snprintf(f, sizeof f, "%s.currency", op);
    TRY(check_currency(s->currency, f, msg));
    snprintf(f, sizeof f, "%s.tags", op);
    TRY(check_tags(s->tags, s->tags_count, f, msg));
    snprintf(f, sizeof f, "%s.attributes", op);
    return check_attrs(s->attrs, s->attrs_count, f, msg);
}

ld_err
ldi_check_page(const char *op, uint32_t first, uint32_t first_max, const char *after,
               ld_errmsg *msg)
{
    if (first > first_max)
        return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                               "%s.first: %u is above the maximum %u", op, first, first_max);
    if (after == NULL || after[0] == '\0')
        return LD_OK;
    /* A cursor is base64url; its content is the node's business. */
    size_t len = strnlen(after, LD_CURSOR_BYTES_MAX + 1);
    if (len > LD_CURSOR_BYTES_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_CURSOR, "%s.after: longer than %u bytes", op,
                               LD_CURSOR_BYTES_MAX);
    for (size_t i = 0; i < len; i++) {
        char ch = after[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_'))
            return ldi_errmsg_fail(msg, LD_ERR_INVALID_CURSOR,
                                   "%s.after: not a cursor (base64url characters only)", op);
    }
    return LD_OK;
}

ld_err
ldi_check_drop_filter(const ld_drop_filter *f, ld_errmsg *msg)
{
    if (f == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "list_drops: filter is NULL");
    if ((int)f->status < LD_DROP_UPCOMING || (int)f->status > LD_DROP_CANCELLED)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT,
                               "list_drops.status: %d is not 1..4 (UPCOMING, LIVE, ENDED, "
                               "CANCELLED)",
                               (int)f->status);
    if (f->price_min_minor < 0 || f->price_min_minor > LD_PRICE_MINOR_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                               "list_drops.price_min_minor: %lld is outside 0..%lld",
                               (long long)f->price_min_minor, (long long)LD_PRICE_MINOR_MAX);
    if (f->price_max_minor >= 0) {
        if (f->price_max_minor > LD_PRICE_MINOR_MAX)
            return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                                   "list_drops.price_max_minor: %lld is outside 0..%lld",
                                   (long long)f->price_max_minor, (long long)LD_PRICE_MINOR_MAX);
        if (f->price_max_minor < f->price_min_minor)
            return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                                   "list_drops.price_max_minor: %lld is below price_min_minor "
                                   "%lld",
                                   (long long)f->price_max_minor, (long long)f->price_min_minor);
    }
    return check_tags(f->tags, f->tags_count, "list_drops.tags", msg);
}

ld_err
ldi_check_topic(const char *topic, const char *field, char out[LD_TOPIC_BYTES_MAX + 1],
                ld_errmsg *msg)
{
    static const char *const kinds[] = {"creator/", "drop/", "user/"};
    if (topic == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: NULL", field);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        size_t n = strlen(kinds[k]);
        ld_id id;
        if (strncmp(topic, kinds[k], n) != 0 || !ld_id_from_hex(topic + n, &id))
            continue;
        memcpy(out, kinds[k], n);
        ld_id_to_hex(&id, out + n);
        return LD_OK;
    }
    return ldi_errmsg_fail(msg, LD_ERR_INVALID_TOPIC,
                           "%s: must be creator/, drop/ or user/ followed by 32 hex digits", field);
}
