/*
 * catalog.c -- users, creators (and their handle index) and catalog products.
 *
 * Creates are idempotent by id (LD_EXISTS when identical, LD_ERR_ID_CONFLICT otherwise) and
 * checked against the op's principal first: a user creates itself, a creator itself and its own
 * products. A creator's handle is stored as given and unique case-insensitively (handles are
 * ASCII: [A-Za-z0-9_.]), through an index hashed on the lower-cased handle. A product update
 * replaces its fields; drops already scheduled from it keep their snapshot (actor.c copies the
 * fields). A creator's products are listed newest first from the index records
 * 'Q' | creator | ~created_at | product (record.h).
 *
 * Choices where the spec leaves room:
 *   - validation (name present, one '@' in a non-empty email, handle characters, unique keys in
 *     a profile or in attributes) runs before the idempotency lookup: a malformed retry is
 *     refused as malformed.
 *   - update_product of an unknown product answers PRODUCT_NOT_FOUND before the principal check
 *     (the product's creator is the principal to compare with).
 */
#include <stdio.h>
#include <string.h>

#include "record.h"
#include "sm_int.h"

static inline bool
id_eq(const ld_id *a, const void *b)
{
    return memcmp(a->bytes, b, LD_ID_BYTES) == 0;
}

static void
store_put(ld_sm *sm, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len)
{
    sm->store->ops->put(sm->store->impl, key, key_len, val, val_len);
}

/* Takes room for one record in a pool and its index; false when either is full. */
static bool
room_one(ldi_pool *pool, ldi_table *index, uint32_t *idx_out)
{
    ld_err err = ldi_table_reserve(index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(pool, idx_out);
    if (err == LD_ERR_NOMEM)
        ldi_sm_oom(__FILE__, __LINE__);
    return err == LD_OK;
}

static bool
attrs_unique(uint32_t n, const ld_attr *attrs)
{
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = i + 1; j < n; j++)
            if (strcmp(attrs[i].key, attrs[j].key) == 0)
                return false;
    return true;
}

static bool
attrs_eq(uint32_t n, const ld_attr *a, uint32_t m, const ld_attr *b)
{
    if (n != m)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a[i].key, b[i].key) != 0 || strcmp(a[i].value, b[i].value) != 0)
            return false;
    return true;
}

/* ---- users ------------------------------------------------------------------------------- */

static bool
user_eq(const void *ctx, uint32_t idx, const void *key)
{
    return id_eq(&ldi_user_at(ctx, idx)->id, key);
}

uint32_t
ldi_user_find(const ld_sm *sm, const ld_id *id)
{
    return ldi_table_find(&sm->user_index, ldi_table_hash(id, 16), user_eq, sm, id);
}

void
ldi_user_view(const ld_sm *sm, const ldi_user *user, ld_user_view *out)
{
    memset(out, 0, sizeof *out);
    out->id = user->id;
    memcpy(out->name, user->name, sizeof out->name);
    memcpy(out->email, user->email, sizeof out->email);
    out->created_at_ms = user->created_at_ms;
    uint32_t fan = ldi_fan_find(sm, &user->id);
    out->following_count = fan == LDI_NIL ? 0 : ldi_fan_at(sm, fan)->following;
}

/* Empty, or exactly one '@' with text on both sides. */
static bool
email_ok(const char *email)
{
    if (email[0] == '\0')
        return true;
    const char *at = strchr(email, '@');
    return at != NULL && at != email && at[1] != '\0' && strchr(at + 1, '@') == NULL;
}

void
ldi_create_user(ld_sm *sm, const ld_op *op, ld_result *res)
{
    const ld_op_create_user *c = &op->u.create_user;
    LD_ASSERT(!ld_id_is_zero(&c->id));
    if (!ldi_principal_is(op, &c->id, "the user being created", res))
        return;
    if (c->name[0] == '\0') {
        ld_result_fail(res, LD_ERR_MISSING_FIELD, "create_user: name is required");
        return;
    }
    if (!email_ok(c->email)) {
        ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                       "create_user: email must hold one '@' with text on both sides");
        return;
    }
    uint32_t idx = ldi_user_find(sm, &c->id);
    if (idx != LDI_NIL) {
        const ldi_user *u = ldi_user_at(sm, idx);
        if (strcmp(u->name, c->name) != 0 || strcmp(u->email, c->email) != 0) {
            ld_result_fail(res, LD_ERR_ID_CONFLICT, "create_user: id exists with different fields");
            return;
        }
        res->code = LD_EXISTS;
        res->kind = LD_RESULT_USER;
        ldi_user_view(sm, u, &res->u.user);
        return;
    }
    if (!room_one(&sm->users, &sm->user_index, &idx)) {
        ld_result_fail(res, LD_ERR_CAPACITY, "create_user: %u users is the shard's limit",
                       sm->caps.users);
        return;
    }
    ldi_user *u = ldi_user_at(sm, idx);
    u->id = c->id;
    memcpy(u->name, c->name, sizeof u->name);
    memcpy(u->email, c->email, sizeof u->email);
    u->created_at_ms = sm->now_ms;
    ldi_table_insert(&sm->user_index, ldi_table_hash(&u->id, 16), idx);
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    store_put(sm, key, ldi_rec_id_key(LDI_REC_USER, &u->id, key), val, ldi_rec_user_encode(u, val));
    res->code = LD_OK;
    res->kind = LD_RESULT_USER;
    ldi_user_view(sm, u, &res->u.user);
}

ld_err
ldi_user_load(ld_sm *sm, const ldi_user *user)
{
    uint32_t idx;
    if (ldi_user_find(sm, &user->id) != LDI_NIL)
        return LD_ERR_STORAGE;
    if (ldi_table_reserve(&sm->user_index, 1) != LD_OK || ldi_pool_alloc(&sm->users, &idx) != LD_OK)
        return LD_ERR_STORAGE;
    *ldi_user_at(sm, idx) = *user;
    ldi_table_insert(&sm->user_index, ldi_table_hash(&user->id, 16), idx);
    return LD_OK;
}

/* ---- creators ---------------------------------------------------------------------------- */

static bool
creator_eq(const void *ctx, uint32_t idx, const void *key)
{
    return id_eq(&ldi_creator_at(ctx, idx)->spec.id, key);
}

uint32_t
ldi_creator_find(const ld_sm *sm, const ld_id *id)
{
    return ldi_table_find(&sm->creator_index, ldi_table_hash(id, 16), creator_eq, sm, id);
}

static char
ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static uint64_t
handle_hash(const char *handle)
{
    char low[LD_HANDLE_BYTES_MAX];
    size_t n = strnlen(handle, LD_HANDLE_BYTES_MAX);
    for (size_t i = 0; i < n; i++)
        low[i] = ascii_lower(handle[i]);
    return ldi_table_hash(low, n);
}

static bool
handle_eq(const void *ctx, uint32_t idx, const void *key)
{
    const char *a = ldi_creator_at(ctx, idx)->spec.handle, *b = key;
    for (; *a != '\0' && *b != '\0'; a++, b++)
        if (ascii_lower(*a) != ascii_lower(*b))
            return false;
    return *a == *b;
}

uint32_t
ldi_creator_find_handle(const ld_sm *sm, const char *handle)
{
    return ldi_table_find(&sm->handle_index, handle_hash(handle), handle_eq, sm, handle);
}

void
ldi_creator_view(const ldi_creator *creator, ld_creator_view *out)
{
    memset(out, 0, sizeof *out);
    out->spec = creator->spec;
    out->created_at_ms = creator->created_at_ms;
    out->follower_count = creator->follower_count;
}

static bool
handle_ok(const char *h)
{
    size_t n = strnlen(h, LD_HANDLE_BYTES_MAX + 1);
    if (n < LD_HANDLE_BYTES_MIN || n > LD_HANDLE_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

static bool
creator_spec_eq(const ld_op_create_creator *a, const ld_op_create_creator *b)
{
    return strcmp(a->handle, b->handle) == 0 && strcmp(a->name, b->name) == 0 &&
           attrs_eq(a->profile_count, a->profile, b->profile_count, b->profile);
}

void
ldi_put_creator_rec(ld_sm *sm, const ldi_creator *creator)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    store_put(sm, key, ldi_rec_id_key(LDI_REC_CREATOR, &creator->spec.id, key), val,
              ldi_rec_creator_encode(creator, val));
}

/* The refusals of create_creator that do not depend on the state; true when it answered. */
static bool
creator_invalid(const ld_op *op, ld_result *res)
{
    const ld_op_create_creator *c = &op->u.create_creator;
    if (!ldi_principal_is(op, &c->id, "the creator being created", res))
        return true;
    if (!handle_ok(c->handle)) {
        ld_result_fail(res, LD_ERR_INVALID_HANDLE,
                       "create_creator: handle must be %u..%u characters of A-Z a-z 0-9 _ .",
                       LD_HANDLE_BYTES_MIN, LD_HANDLE_BYTES_MAX);
        return true;
    }
    LD_ASSERT(c->profile_count <= LD_ATTRS_MAX);
    if (!attrs_unique(c->profile_count, c->profile)) {
        ld_result_fail(res, LD_ERR_INVALID_ARGUMENT, "create_creator: profile keys repeat");
        return true;
    }
    return false;
}

void
ldi_create_creator(ld_sm *sm, const ld_op *op, ld_result *res)
{
    const ld_op_create_creator *c = &op->u.create_creator;
    LD_ASSERT(!ld_id_is_zero(&c->id));
    if (creator_invalid(op, res))
        return;
    uint32_t idx = ldi_creator_find(sm, &c->id);
    if (idx != LDI_NIL) {
        const ldi_creator *cr = ldi_creator_at(sm, idx);
        if (!creator_spec_eq(&cr->spec, c)) {
            ld_result_fail(res, LD_ERR_ID_CONFLICT,
                           "create_creator: id exists with different fields");
            return;
        }
        res->code = LD_EXISTS;
        res->kind = LD_RESULT_CREATOR;
        ldi_creator_view(cr, &res->u.creator);
        return;
    }
    if (ldi_creator_find_handle(sm, c->handle) != LDI_NIL) {
        ld_result_fail(res, LD_ERR_HANDLE_TAKEN, "create_creator: handle is taken");
        return;
    }
    if (!ldi_topic_room(sm, 1) || ldi_pool_full(&sm->creators) ||
        ldi_table_reserve(&sm->handle_index, 1) != LD_OK ||
        !room_one(&sm->creators, &sm->creator_index, &idx)) {
        ld_result_fail(res, LD_ERR_CAPACITY, "create_creator: %u creators is the shard's limit",
                       sm->caps.creators);
        return;
    }
    ldi_creator *cr = ldi_creator_at(sm, idx);
    cr->spec = *c;
    cr->created_at_ms = sm->now_ms;
    ldi_table_insert(&sm->creator_index, ldi_table_hash(&c->id, 16), idx);
    ldi_table_insert(&sm->handle_index, handle_hash(c->handle), idx);
    uint32_t topic;
    LDI_MUST(ldi_topic_get(sm, LD_TOPIC_CREATOR, &c->id, &topic)); /* room was checked */
    ldi_put_creator_rec(sm, cr);
    res->code = LD_OK;
    res->kind = LD_RESULT_CREATOR;
    ldi_creator_view(cr, &res->u.creator);
}

ld_err
ldi_creator_load(ld_sm *sm, const ldi_creator *creator)
{
    uint32_t idx;
    if (ldi_creator_find(sm, &creator->spec.id) != LDI_NIL ||
        ldi_creator_find_handle(sm, creator->spec.handle) != LDI_NIL)
        return LD_ERR_STORAGE;
    if (ldi_table_reserve(&sm->creator_index, 1) != LD_OK ||
        ldi_table_reserve(&sm->handle_index, 1) != LD_OK ||
        ldi_pool_alloc(&sm->creators, &idx) != LD_OK)
        return LD_ERR_STORAGE;
    ldi_creator *cr = ldi_creator_at(sm, idx);
    *cr = *creator;
    cr->follower_count = 0; /* derived from the edges */
    ldi_table_insert(&sm->creator_index, ldi_table_hash(&cr->spec.id, 16), idx);
    ldi_table_insert(&sm->handle_index, handle_hash(cr->spec.handle), idx);
    return LD_OK;
}

/* ---- products ---------------------------------------------------------------------------- */

static bool
product_eq(const void *ctx, uint32_t idx, const void *key)
{
    return id_eq(&ldi_product_at(ctx, idx)->spec.id, key);
}

uint32_t
ldi_product_find(const ld_sm *sm, const ld_id *id)
{
    return ldi_table_find(&sm->product_index, ldi_table_hash(id, 16), product_eq, sm, id);
}

void
ldi_product_view(const ldi_product *product, ld_product_view *out)
{
    memset(out, 0, sizeof *out);
    out->spec = product->spec;
    out->created_at_ms = product->created_at_ms;
    out->updated_at_ms = product->updated_at_ms;
}

/* The replaceable fields: title, price, currency, tags, attributes. */
static bool
product_fields_eq(const ld_op_product *a, const ld_op_product *b)
{
    if (strcmp(a->title, b->title) != 0 || a->price_minor != b->price_minor ||
        strcmp(a->currency, b->currency) != 0 || a->tags_count != b->tags_count)
        return false;
    for (uint32_t i = 0; i < a->tags_count; i++)
        if (strcmp(a->tags[i], b->tags[i]) != 0)
            return false;
    return attrs_eq(a->attrs_count, a->attrs, b->attrs_count, b->attrs);
}

static void
product_fields_copy(ld_op_product *dst, const ld_op_product *src)
{
    memcpy(dst->title, src->title, sizeof dst->title);
    dst->price_minor = src->price_minor;
    memcpy(dst->currency, src->currency, sizeof dst->currency);
    dst->tags_count = src->tags_count;
    memcpy(dst->tags, src->tags, sizeof dst->tags);
    dst->attrs_count = src->attrs_count;
    memcpy(dst->attrs, src->attrs, sizeof dst->attrs);
}

static void
put_product(ld_sm *sm, const ldi_product *p)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    store_put(sm, key, ldi_rec_id_key(LDI_REC_PRODUCT, &p->spec.id, key), val,
              ldi_rec_product_encode(p, val));
}

static void
product_result(const ldi_product *p, ld_err code, ld_result *res)
{
    res->code = code;
    res->kind = LD_RESULT_PRODUCT;
    ldi_product_view(p, &res->u.product);
}

static bool
product_attrs_ok(const ld_op *op, ld_result *res)
{
    const ld_op_product *p = &op->u.product;
    LD_ASSERT(p->tags_count <= LD_TAGS_MAX && p->attrs_count <= LD_ATTRS_MAX);
    if (attrs_unique(p->attrs_count, p->attrs))
        return true;
    ld_result_fail(res, LD_ERR_INVALID_ARGUMENT, "%s: attribute keys repeat", ld_op_name(op->type));
    return false;
}

void
ldi_create_product(ld_sm *sm, const ld_op *op, ld_result *res)
{
    const ld_op_product *p = &op->u.product;
    LD_ASSERT(!ld_id_is_zero(&p->id) && !ld_id_is_zero(&p->creator_id));
    if (!ldi_principal_is(op, &p->creator_id, "the product's creator", res) ||
        !product_attrs_ok(op, res))
        return;
    uint32_t idx = ldi_product_find(sm, &p->id);
    if (idx != LDI_NIL) {
        const ldi_product *have = ldi_product_at(sm, idx);
        if (!ld_id_eq(&have->spec.creator_id, &p->creator_id) ||
            !product_fields_eq(&have->spec, p)) {
            ld_result_fail(res, LD_ERR_ID_CONFLICT,
                           "create_product: id exists with different fields");
            return;
        }
        product_result(have, LD_EXISTS, res);
        return;
    }
    if (ldi_creator_find(sm, &p->creator_id) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_CREATOR_NOT_FOUND, "create_product: no such creator");
        return;
    }
    if (!room_one(&sm->products, &sm->product_index, &idx)) {
        ld_result_fail(res, LD_ERR_CAPACITY, "create_product: %u products is the shard's limit",
                       sm->caps.products);
        return;
    }
    ldi_product *np = ldi_product_at(sm, idx);
    np->spec = *p;
    np->created_at_ms = np->updated_at_ms = sm->now_ms;
    ldi_table_insert(&sm->product_index, ldi_table_hash(&p->id, 16), idx);
    put_product(sm, np);
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX], val[8];
    size_t key_len = ldi_rec_list_key(LDI_REC_PRODUCTS, p->creator_id.bytes, LD_ID_BYTES,
                                      ~(uint64_t)np->created_at_ms, &p->id, key);
    store_put(sm, key, key_len, val, ldi_rec_marker_encode(val));
    product_result(np, LD_OK, res);
}

void
ldi_update_product(ld_sm *sm, const ld_op *op, ld_result *res)
{
    const ld_op_product *p = &op->u.product;
    LD_ASSERT(!ld_id_is_zero(&p->id));
    uint32_t idx = ldi_product_find(sm, &p->id);
    if (idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_PRODUCT_NOT_FOUND, "update_product: no such product");
        return;
    }
    ldi_product *have = ldi_product_at(sm, idx);
    if (!ldi_principal_is(op, &have->spec.creator_id, "the product's creator", res) ||
        !product_attrs_ok(op, res))
        return;
    product_fields_copy(&have->spec, p);
    have->updated_at_ms = sm->now_ms;
    put_product(sm, have);
    product_result(have, LD_OK, res);
}

ld_err
ldi_product_load(ld_sm *sm, const ldi_product *product)
{
    uint32_t idx;
    if (ldi_product_find(sm, &product->spec.id) != LDI_NIL)
        return LD_ERR_STORAGE;
    if (ldi_table_reserve(&sm->product_index, 1) != LD_OK ||
        ldi_pool_alloc(&sm->products, &idx) != LD_OK)
        return LD_ERR_STORAGE;
    *ldi_product_at(sm, idx) = *product;
    ldi_table_insert(&sm->product_index, ldi_table_hash(&product->spec.id, 16), idx);
    return LD_OK;
}

/* ---- reads ------------------------------------------------------------------------------- */

void
ldi_get_user(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    (void)now_ms;
    uint32_t idx;
    if ((idx = ldi_user_find(sm, &op->u.id)) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_USER_NOT_FOUND, "get_user: no such user");
        return;
    }
    res->kind = LD_RESULT_USER;
    ldi_user_view(sm, ldi_user_at(sm, idx), &res->u.user);
}

void
ldi_get_creator(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    (void)now_ms;
    uint32_t idx;
    if (!ld_id_is_zero(&op->u.get_creator.id))
        idx = ldi_creator_find(sm, &op->u.get_creator.id);
    else
        idx = ldi_creator_find_handle(sm, op->u.get_creator.handle);
    if (idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_CREATOR_NOT_FOUND, "get_creator: no such creator");
        return;
    }
    res->kind = LD_RESULT_CREATOR;
    ldi_creator_view(ldi_creator_at(sm, idx), &res->u.creator);
}

void
ldi_get_product(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    (void)now_ms;
    uint32_t idx;
    if ((idx = ldi_product_find(sm, &op->u.id)) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_PRODUCT_NOT_FOUND, "get_product: no such product");
        return;
    }
    res->kind = LD_RESULT_PRODUCT;
    ldi_product_view(ldi_product_at(sm, idx), &res->u.product);
}

/* ---- list_products ------------------------------------------------------------------------- */

static bool
products_visit(void *arg, ld_page *page, uint64_t sort_key, const ld_id *id, const uint8_t *val,
               size_t val_len)
{
    const ld_sm *sm = arg;
    uint32_t idx = ldi_product_find(sm, id);
    if (idx == LDI_NIL || !ldi_rec_marker_decode(val, val_len))
        return false;
    const ldi_product *p = ldi_product_at(sm, idx);
    if (~(uint64_t)p->created_at_ms != sort_key)
        return false;
    ldi_product_view(p, &page->u.products[page->count++]);
    return true;
}

void
ldi_list_products(const ld_sm *sm, int64_t now_ms, const ld_op *o, ld_page *page, ld_result *res)
{
    (void)now_ms;
    const ld_op_list *op = &o->u.list;
    uint32_t first;
    if (!ldi_page_first("list_products", op->first, LD_PAGE_DROPS_MAX, &first, res))
        return;
    page->kind = LD_RESULT_PRODUCT_PAGE;
    ldi_walk w = {
        .type = LDI_REC_PRODUCTS,
        .mid = op->id.bytes,
        .mid_len = LD_ID_BYTES,
        .list = LD_CURSOR_PRODUCTS,
        .first = first,
        .scan_max = first,
        .visit = products_visit,
        .arg = (void *)sm,
    };
    ldi_walk_run(sm, &w, op->after, page, res);
}
