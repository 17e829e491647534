/*
 * sm_fixture.h -- helpers shared by the state machine's unit tests: a state machine over an
 * in-memory store, op builders and one-op batches. Header-only (static functions) because every
 * test file is its own executable.
 */
#ifndef LD_TEST_SM_FIXTURE_H
#define LD_TEST_SM_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm.h"
#include "sm_int.h"
#include "store.h"

#define T0 1700000000000LL /* a batch time in 2023 */
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

/* Asserts a result code, printing the names and message on failure. */
#define assert_code(res, want)                                                                     \
    cr_assert_eq((res).code, (want), "got %s (%s), want %s", ld_err_name((res).code),              \
                 (res).message, ld_err_name(want))

typedef struct fx {
    ld_store_mem *mem;
    ld_store store;
    ld_sm *sm;
    int64_t ts;
    bool has_caps;
    ldi_sm_caps caps;
    ld_id id_seed; /* the "primary's" id seed of the next batches (zero unless a test sets it) */
} fx;

static inline ld_id
id_n(uint32_t n)
{
    ld_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = 0xAB;
    for (int i = 0; i < 4; i++)
        id.bytes[12 + i] = (uint8_t)(n >> (24 - 8 * i));
    return id;
}

static inline void
fx_open_sm(fx *f)
{
    ld_err err = f->has_caps ? ldi_sm_open_with_caps(&f->store, &f->caps, &f->sm)
                             : ld_sm_open(&f->store, &f->sm);
    cr_assert_eq(err, LD_OK, "open: %s", ld_err_name(err));
}

static inline void
fx_init(fx *f, const ldi_sm_caps *caps)
{
    memset(f, 0, sizeof *f);
    cr_assert_eq(ld_store_mem_alloc(&f->mem), LD_OK);
    f->store = ld_store_mem_store(f->mem);
    if (caps != NULL) {
        f->has_caps = true;
        f->caps = *caps;
    }
    fx_open_sm(f);
    f->ts = T0;
}

static inline void
fx_fini(fx *f)
{
    ld_sm_free(f->sm);
    ld_store_mem_free(f->mem);
}

/* Syncs the store and opens a fresh state machine on it (a clean restart). */
static inline void
fx_restart(fx *f)
{
    ld_store_mem_sync(f->mem);
    ld_sm_free(f->sm);
    fx_open_sm(f);
}

/* Applies a batch as given (no principal is filled in). */
static inline void
fx_batch_raw(fx *f, int64_t ts, const ld_op *ops, size_t n, ld_result *out)
{
    if (ts > f->ts)
        f->ts = ts;
    ld_batch_stamp stamp = {
        .op = ld_sm_applied_op(f->sm) + 1, .ts_ms = f->ts, .id_seed = f->id_seed};
    ld_sm_apply(f->sm, &stamp, ops, n, out);
}

/* The principal a commit or release needs: the user of its reservation (zero when unknown). */
static inline ld_id
fx_res_user(fx *f, const ld_id *res_id)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_GET_RESERVATION;
    op.u.id = *res_id;
    ld_result r;
    ld_sm_read(f->sm, f->ts, &op, &r);
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    return r.code == LD_OK ? r.u.reservation.user_id : zero;
}

/* Applies a batch; commits and releases without a principal act for their reservation's user
 * (as the node's authenticated caller would). Tests of FORBIDDEN use fx_batch_raw. */
static inline void
fx_batch(fx *f, int64_t ts, const ld_op *ops, size_t n, ld_result *out)
{
    ld_op *copy = malloc((n ? n : 1) * sizeof *copy);
    cr_assert_not_null(copy);
    if (n > 0)
        memcpy(copy, ops, n * sizeof *copy);
    for (size_t i = 0; i < n; i++) {
        if (!ld_id_is_zero(&copy[i].principal))
            continue;
        if (copy[i].type == LD_OP_CHECKOUT)
            copy[i].principal = fx_res_user(f, &copy[i].u.checkout.reservation_id);
        else if (copy[i].type == LD_OP_RELEASE)
            copy[i].principal = fx_res_user(f, &copy[i].u.id);
    }
    fx_batch_raw(f, ts, copy, n, out);
    free(copy);
}

static inline ld_result
fx_apply(fx *f, int64_t ts, ld_op op)
{
    ld_result res;
    fx_batch(f, ts, &op, 1, &res);
    return res;
}

static inline ld_result
fx_apply_raw(fx *f, int64_t ts, ld_op op)
{
    ld_result res;
    fx_batch_raw(f, ts, &op, 1, &res);
    return res;
}

static inline ld_result
fx_read(fx *f, int64_t now, ld_op op)
{
    ld_result res;
    ld_sm_read(f->sm, now, &op, &res);
    return res;
}

static inline ld_op
op_create(ld_id id, int64_t starts, int64_t ends, int64_t stock, int64_t max_per_user)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_CREATE_DROP;
    ld_op_create_drop *c = &op.u.create_drop;
    c->id = id;
    c->product.creator_id = id_n(0xC0FFEE);
    snprintf(c->product.title, sizeof c->product.title, "Sneaker drop");
    c->product.price_minor = 1999;
    memcpy(c->product.currency, "EUR", 4);
    c->product.tags_count = 2;
    snprintf(c->product.tags[0], sizeof c->product.tags[0], "shoes");
    snprintf(c->product.tags[1], sizeof c->product.tags[1], "limited");
    c->starts_at_ms = starts;
    c->ends_at_ms = ends;
    c->initial_stock = stock;
    c->low_stock_threshold = 0;
    c->max_per_user = max_per_user;
    c->reservation_ttl_ms = LD_RESERVATION_TTL_MS_DEFAULT;
    op.principal = c->product.creator_id;
    return op;
}

static inline ld_op
op_reserve(ld_id drop, ld_id user, int64_t qty, const char *key)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_RESERVE;
    op.u.reserve.drop_id = drop;
    op.u.reserve.user_id = user;
    op.u.reserve.qty = qty;
    snprintf(op.u.reserve.idempotency_key, sizeof op.u.reserve.idempotency_key, "%s", key);
    op.principal = user;
    return op;
}

static inline ld_op
op_place(ld_id drop, ld_id user, int64_t qty, const char *key, const char *method)
{
    ld_op op = op_reserve(drop, user, qty, key);
    op.type = LD_OP_PLACE_ORDER;
    snprintf(op.u.reserve.payment_method, sizeof op.u.reserve.payment_method, "%s", method);
    return op;
}

static inline ld_op
op_checkout(ld_id res_id, const char *ref)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_CHECKOUT;
    op.u.checkout.reservation_id = res_id;
    snprintf(op.u.checkout.payment_ref, sizeof op.u.checkout.payment_ref, "%s", ref);
    return op;
}

static inline ld_op
op_id(ld_op_type type, ld_id id)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = type;
    op.u.id = id;
    return op;
}

static inline ld_op
op_finish(ld_id res_id, bool approved, const char *ref)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_FINISH_ORDER;
    op.u.finish.reservation_id = res_id;
    op.u.finish.approved = approved;
    snprintf(op.u.finish.payment_ref, sizeof op.u.finish.payment_ref, "%s", ref);
    return op;
}

static inline ld_op
op_tick(void)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_TICK;
    return op;
}

/* Creates a live drop (T0 - 1 h .. T0 + 1 day) and asserts success. */
static inline void
fx_live_drop(fx *f, ld_id id, int64_t stock, int64_t max_per_user)
{
    ld_result r = fx_apply(f, f->ts, op_create(id, T0 - HOUR_MS, T0 + DAY_MS, stock, max_per_user));
    cr_assert_eq(r.code, LD_OK, "create: %s %s", ld_err_name(r.code), r.message);
}

static inline ld_stock
fx_stock(fx *f, ld_id drop)
{
    ld_result r = fx_read(f, f->ts, op_id(LD_OP_GET_DROP, drop));
    cr_assert_eq(r.code, LD_OK);
    return r.u.drop.stock;
}

static inline ld_err
fx_copy_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    ld_store *dst = arg;
    dst->ops->put(dst->impl, key, key_len, val, val_len);
    return LD_OK;
}

/* Opens `dst` as a new replica started from a copy of src's durable records. */
static inline void
fx_clone(fx *src, fx *dst)
{
    memset(dst, 0, sizeof *dst);
    cr_assert_eq(ld_store_mem_alloc(&dst->mem), LD_OK);
    dst->store = ld_store_mem_store(dst->mem);
    cr_assert_eq(src->store.ops->scan(src->store.impl, "", 0, fx_copy_cb, &dst->store), LD_OK);
    ld_store_mem_sync(dst->mem);
    dst->has_caps = src->has_caps;
    dst->caps = src->caps;
    fx_open_sm(dst);
    dst->ts = src->ts;
}

/* Replaces (or adds) one durable record of the store. */
static inline void
fx_store_put(fx *f, const void *key, size_t key_len, const void *val, size_t val_len)
{
    f->store.ops->put(f->store.impl, key, key_len, val, val_len);
    ld_store_mem_sync(f->mem);
}

static inline void
fx_store_del(fx *f, const void *key, size_t key_len)
{
    f->store.ops->del(f->store.impl, key, key_len);
    ld_store_mem_sync(f->mem);
}

/* Opens a second state machine on f's store and returns its open result (freeing it). */
static inline ld_err
fx_try_open(fx *f)
{
    ld_sm *sm = NULL;
    ld_err err =
        f->has_caps ? ldi_sm_open_with_caps(&f->store, &f->caps, &sm) : ld_sm_open(&f->store, &sm);
    if (err == LD_OK)
        ld_sm_free(sm);
    else
        cr_assert_null(sm);
    return err;
}

/* ---- users, creators, products, follows, pages -------------------------------------------- */

static inline ld_op
op_user(ld_id id, const char *name, const char *email)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_CREATE_USER;
    op.principal = id;
    op.u.create_user.id = id;
    snprintf(op.u.create_user.name, sizeof op.u.create_user.name, "%s", name);
    snprintf(op.u.create_user.email, sizeof op.u.create_user.email, "%s", email);
    return op;
}

static inline ld_op
op_creator(ld_id id, const char *handle)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_CREATE_CREATOR;
    op.principal = id;
    op.u.create_creator.id = id;
    snprintf(op.u.create_creator.handle, sizeof op.u.create_creator.handle, "%s", handle);
    snprintf(op.u.create_creator.name, sizeof op.u.create_creator.name, "Creator %s", handle);
    return op;
}

/* A catalog product of `creator` (CREATE_PRODUCT, principal the creator). */
static inline ld_op
op_product(ld_id id, ld_id creator, const char *title, int64_t price)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_CREATE_PRODUCT;
    op.principal = creator;
    ld_op_product *p = &op.u.product;
    p->id = id;
    p->creator_id = creator;
    snprintf(p->title, sizeof p->title, "%s", title);
    p->price_minor = price;
    memcpy(p->currency, "EUR", 4);
    p->tags_count = 1;
    snprintf(p->tags[0], sizeof p->tags[0], "shoes");
    p->attrs_count = 1;
    snprintf(p->attrs[0].key, sizeof p->attrs[0].key, "size");
    snprintf(p->attrs[0].value, sizeof p->attrs[0].value, "42");
    return op;
}

/* A drop scheduled from catalog product `product` of `creator`. */
static inline ld_op
op_create_from(ld_id id, ld_id product, ld_id creator, int64_t starts, int64_t ends, int64_t stock)
{
    ld_op op = op_create(id, starts, ends, stock, 0);
    memset(&op.u.create_drop.product, 0, sizeof op.u.create_drop.product);
    op.u.create_drop.product_id = product;
    op.principal = creator;
    return op;
}

static inline ld_op
op_follow(ld_op_type type, ld_id user, ld_id creator)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = type;
    op.principal = user;
    op.u.follow.user_id = user;
    op.u.follow.creator_id = creator;
    return op;
}

static inline ld_op
op_list(ld_op_type type, ld_id id, uint32_t first, const char *after)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = type;
    op.u.list.id = id;
    op.u.list.first = first;
    snprintf(op.u.list.after, sizeof op.u.list.after, "%s", after);
    return op;
}

static inline ld_op
op_list_drops(ld_drop_status status, uint32_t first, const char *after)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_LIST_DROPS;
    op.u.list_drops.status = status;
    op.u.list_drops.price_max_minor = INT64_MAX;
    op.u.list_drops.first = first;
    snprintf(op.u.list_drops.after, sizeof op.u.list_drops.after, "%s", after);
    return op;
}

static inline ld_op
op_pull(uint64_t after, uint32_t max, ld_topic_kind kind, ld_id topic_id)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_PULL_EVENTS;
    op.u.pull.after = after;
    op.u.pull.max = max;
    op.u.pull.topic_kind = kind;
    op.u.pull.topic_id = topic_id;
    return op;
}

/* Relays the FOLLOWED / UNFOLLOWED events of the last batch as RELAY_FOLLOW ops (source shard 0)
 * in one batch at time ts, as the node does; returns how many. */
static inline size_t
fx_relay(fx *f, int64_t ts)
{
    const ld_event_view *evs;
    size_t n = ld_sm_batch_events(f->sm, &evs), k = 0;
    ld_op *ops = calloc(n ? n : 1, sizeof *ops);
    ld_result *res = calloc(n ? n : 1, sizeof *res);
    cr_assert(ops != NULL && res != NULL);
    for (size_t i = 0; i < n; i++) {
        if (evs[i].type != LD_EVENT_FOLLOWED && evs[i].type != LD_EVENT_UNFOLLOWED)
            continue;
        ld_op *op = &ops[k++];
        op->type = LD_OP_RELAY_FOLLOW;
        op->u.relay.seq = evs[i].seq;
        op->u.relay.user_id = evs[i].user_id;
        op->u.relay.creator_id = evs[i].creator_id;
        op->u.relay.followed = evs[i].type == LD_EVENT_FOLLOWED;
        op->u.relay.at_ms = evs[i].ts_ms;
        snprintf(op->u.relay.creator_handle, sizeof op->u.relay.creator_handle, "%.*s",
                 (int)LD_HANDLE_BYTES_MAX, evs[i].title);
    }
    if (k > 0) {
        fx_batch_raw(f, ts, ops, k, res);
        for (size_t i = 0; i < k; i++)
            assert_code(res[i], LD_OK);
    }
    free(ops);
    free(res);
    return k;
}

/* Creates user `user` unless it exists (a follow needs its user). */
static inline void
fx_ensure_user(fx *f, ld_id user)
{
    if (fx_read(f, f->ts, op_id(LD_OP_GET_USER, user)).code == LD_OK)
        return;
    assert_code(fx_apply(f, f->ts, op_user(user, "fixture user", "user@example.com")), LD_OK);
}

/* Creates users id_n(first) .. id_n(first + count - 1), in batches. */
static inline void
fx_users(fx *f, uint32_t first, uint32_t count)
{
    ld_op *ops = calloc(LD_BATCH_OPS_MAX, sizeof *ops);
    ld_result *res = calloc(LD_BATCH_OPS_MAX, sizeof *res);
    cr_assert(ops != NULL && res != NULL);
    for (uint32_t done = 0; done < count;) {
        uint32_t n = count - done < LD_BATCH_OPS_MAX ? count - done : LD_BATCH_OPS_MAX;
        for (uint32_t i = 0; i < n; i++)
            ops[i] = op_user(id_n(first + done + i), "fixture user", "user@example.com");
        fx_batch_raw(f, f->ts, ops, n, res);
        for (uint32_t i = 0; i < n; i++)
            cr_assert(res[i].code == LD_OK || res[i].code == LD_EXISTS, "%s",
                      ld_err_name(res[i].code));
        done += n;
    }
    free(ops);
    free(res);
}

/* follow or unfollow (creating the user first when missing), then its relay; asserts
 * success. */
static inline ld_result
fx_follow(fx *f, ld_op_type type, ld_id user, ld_id creator)
{
    fx_ensure_user(f, user);
    ld_result r = fx_apply(f, f->ts, op_follow(type, user, creator));
    assert_code(r, LD_OK);
    fx_relay(f, f->ts);
    return r;
}

/* A page read after a sync (page reads see durable records only). Returns the result code. */
static inline ld_err
fx_page(fx *f, ld_op op, ld_page *page)
{
    ld_store_mem_sync(f->mem);
    ld_result r;
    ld_sm_read_page(f->sm, f->ts, &op, page, &r);
    return r.code;
}

static inline ld_page *
page_alloc(void)
{
    ld_page *p = malloc(sizeof *p);
    cr_assert_not_null(p);
    return p;
}

/* The events of the last batch. */
static inline size_t
fx_events(fx *f, const ld_event_view **evs)
{
    return ld_sm_batch_events(f->sm, evs);
}

/* ---- random workload (seeded PRNG in the test, never in shard/) --------------------------- */

typedef struct wl {
    uint64_t rng;
    uint32_t drops;     /* drops created so far: ids id_n(1000 + i) */
    ld_id res_ids[512]; /* reservation ids seen in results, a ring */
    uint32_t res_count;
    uint32_t key_counter;
    uint64_t ops_applied;
    uint32_t creators; /* creators made so far: ids id_n(0x7000 + i), handles "wlmaker<i>" */
    uint32_t products; /* catalog products of creator 0: ids id_n(0x8000 + i) */
    uint32_t social;   /* 0: drop and order ops only; else follows, catalog drops, cancels too */
} wl;

static inline uint64_t
wl_next(wl *w)
{
    /* xorshift64* */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ull;
}

static inline uint32_t
wl_below(wl *w, uint32_t n)
{
    return (uint32_t)(wl_next(w) % n);
}

static inline ld_id
wl_res_id(wl *w)
{
    if (w->res_count == 0 || wl_below(w, 20) == 0)
        return id_n(0xDEAD0000u + wl_below(w, 4)); /* unknown reservation */
    uint32_t n = w->res_count < 512 ? w->res_count : 512;
    return w->res_ids[wl_below(w, n)];
}

/* One random social or catalog write: creators, follows, catalog products and drops, cancels,
 * users. */
static inline ld_op
wl_social_op(wl *w, int64_t ts)
{
    uint32_t kind = wl_below(w, 10);
    if (w->creators < 4 || kind == 0) {
        char h[24];
        uint32_t n = w->creators < 4 ? w->creators++ : wl_below(w, 4);
        snprintf(h, sizeof h, "wlmaker%u", n);
        return op_creator(id_n(0x7000 + n), h);
    }
    ld_id creator = id_n(0x7000 + wl_below(w, w->creators));
    ld_id user = id_n(50 + wl_below(w, 12));
    if (kind < 5)
        return op_follow(wl_below(w, 3) ? LD_OP_FOLLOW : LD_OP_UNFOLLOW, user, creator);
    if (kind < 6 || w->products == 0) {
        uint32_t n = w->products < 8 && wl_below(w, 2) ? w->products++ : wl_below(w, 8);
        ld_op p = op_product(id_n(0x8000 + n), id_n(0x7000), "wl product", 100 * n);
        if (n < w->products && wl_below(w, 2))
            p.type = LD_OP_UPDATE_PRODUCT;
        return p;
    }
    if (kind < 8) {
        /* An upcoming or live drop from a catalog product, some soon, some later. */
        uint32_t n = w->drops++;
        int64_t starts = ts + (int64_t)wl_below(w, 4) * 30000 - 30000;
        return op_create_from(id_n(1000 + n), id_n(0x8000 + wl_below(w, w->products)), id_n(0x7000),
                              starts, starts + DAY_MS + wl_below(w, 1000), 20);
    }
    if (kind < 9) {
        ld_op c = op_id(LD_OP_CANCEL_DROP, id_n(1000 + wl_below(w, w->drops)));
        c.principal = id_n(0x7000);
        return c;
    }
    return op_user(user, "wl user", "wl@example.com");
}

/* One random write op over a small world: few drops and users, so limits and sold-outs hit. */
static inline ld_op
wl_op(wl *w, int64_t ts)
{
    uint32_t kind = wl_below(w, w->social ? 115 : 100);
    if (kind >= 100 && w->drops > 0)
        return wl_social_op(w, ts);
    if (w->drops == 0 || kind < 2) {
        uint32_t n = w->drops++;
        int64_t stock = 1 + wl_below(w, 60);
        ld_op op = op_create(id_n(1000 + n), ts - HOUR_MS, ts + 30 * DAY_MS, stock,
                             wl_below(w, 3) == 0 ? 0 : 1 + wl_below(w, 12));
        op.u.create_drop.reservation_ttl_ms = LD_RESERVATION_TTL_MS_MIN * (1 + wl_below(w, 120));
        return op;
    }
    ld_id drop = id_n(1000 + wl_below(w, w->drops + 1)); /* sometimes an unknown drop */
    ld_id user = id_n(50 + wl_below(w, 12));
    char key[32];
    /* Keys repeat often enough to exercise replays and reuse. */
    snprintf(key, sizeof key, "k%u", wl_below(w, 3) == 0 ? wl_below(w, 40) : w->key_counter++);
    int64_t qty = 1 + wl_below(w, 4);
    if (kind < 40)
        return op_reserve(drop, user, qty, key);
    if (kind < 55)
        return op_place(drop, user, qty, key, "pm_card_ok");
    if (kind < 70)
        return op_checkout(wl_res_id(w), "ch_x");
    if (kind < 80)
        return op_id(LD_OP_RELEASE, wl_res_id(w));
    if (kind < 92)
        return op_finish(wl_res_id(w), wl_below(w, 3) != 0, "pay_x");
    return op_tick();
}

static inline void
wl_note(wl *w, const ld_result *r)
{
    if (r->kind == LD_RESULT_RESERVATION)
        w->res_ids[w->res_count++ % 512] = r->u.reservation.id;
}

/* Applies `batches` random batches of 1..max_ops ops; time moves 0..90 s per batch, sometimes
 * hours or a day (retention and key expiry). Checks P1 on every result that shows a drop. */
static inline void
wl_run(fx *f, wl *w, uint32_t batches, uint32_t max_ops)
{
    ld_op ops[64];
    ld_result res[64];
    cr_assert(max_ops <= 64);
    for (uint32_t b = 0; b < batches; b++) {
        uint32_t step = wl_below(w, 50);
        int64_t dt = step == 0 ? DAY_MS / 2 : step == 1 ? 3 * HOUR_MS : wl_below(w, 90000);
        int64_t ts = f->ts + dt;
        uint32_t n = 1 + wl_below(w, max_ops);
        for (uint32_t i = 0; i < n; i++)
            ops[i] = wl_op(w, ts);
        fx_batch(f, ts, ops, n, res);
        for (uint32_t i = 0; i < n; i++)
            wl_note(w, &res[i]);
        w->ops_applied += n;
        if (w->social)
            fx_relay(f, ts);
    }
}

#endif /* LD_TEST_SM_FIXTURE_H */
