/*
 * recover.c -- ld_sm_open()'s rebuild of memory from the store.
 *
 * Phase 1 scans every record once, in key order, and decodes it into its pool and index. Most
 * records are independent of the order; a few rely on it (record.h): topics ('A') come before
 * the events ('E') whose topics the event ring records, and creators ('C') before the follow
 * edges ('F') that count their followers. Index records ('B', 'H', 'Q', 'T') are derived from
 * the others and skipped. Phase 2 links and recomputes all derived state: drop of each
 * reservation and order, stock, (drop, user) counters, the expiry heap, the boundary heap of
 * drops, both FIFOs (sorted by their persisted seq), each payment in flight with its
 * IN_PROGRESS key, and the topics' retained floors. Every record and every cross-record rule is
 * checked; anything wrong is LD_ERR_STORAGE (disk input is not trusted), including more records
 * than the capacities allow.
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sm_int.h"

typedef struct pending_pay {
    uint32_t pay_idx;
    ldi_key_id key;
} pending_pay;

typedef struct recover_ctx {
    ld_sm *sm;
    bool have_meta;
    uint64_t meta_last_event_seq;
    size_t records;
    pending_pay *pays;
    size_t pays_len, pays_cap;
    char msg[LD_MESSAGE_BYTES_MAX + 1];
} recover_ctx;

/* Maps pool/table errors of phase 1: capacity exceeded means the store does not fit. */
static ld_err
room_err(ld_err err)
{
    return err == LD_ERR_NOMEM ? LD_ERR_NOMEM : LD_ERR_STORAGE;
}

static ld_err
load_drop(ld_sm *sm, const uint8_t *key, size_t key_len, const uint8_t *val, size_t len)
{
    ldi_drop d;
    uint32_t idx;
    if (!ldi_rec_drop_decode(key, key_len, val, len, &d))
        return LD_ERR_STORAGE;
    ld_err err = ldi_table_reserve(&sm->drop_index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(&sm->drops, &idx);
    if (err != LD_OK)
        return room_err(err);
    d.dheap_pos = LDI_NIL;
    *ldi_drop_at(sm, idx) = d;
    ldi_table_insert(&sm->drop_index, ldi_table_hash(&d.spec.id, 16), idx);
    return LD_OK;
}

static ld_err
load_order(ld_sm *sm, const uint8_t *key, size_t key_len, const uint8_t *val, size_t len)
{
    ld_order_view o;
    uint32_t idx;
    if (!ldi_rec_order_decode(key, key_len, val, len, &o))
        return LD_ERR_STORAGE;
    ld_err err = ldi_table_reserve(&sm->order_index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(&sm->orders, &idx);
    if (err != LD_OK)
        return room_err(err);
    *ldi_order_at(sm, idx) = o;
    ldi_table_insert(&sm->order_index, ldi_table_hash(&o.id, 16), idx);
    return LD_OK;
}

static ld_err
load_key(recover_ctx *ctx, const uint8_t *key, size_t key_len, const uint8_t *val, size_t len)
{
    ld_sm *sm = ctx->sm;
    ldi_idem k;
    uint32_t idx;
    if (!ldi_rec_key_decode(key, key_len, val, len, &k, ctx->msg))
        return LD_ERR_STORAGE;
    ld_err err = ldi_table_reserve(&sm->key_index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(&sm->keys, &idx);
    if (err != LD_OK)
        return room_err(err);
    size_t msg_len = strlen(ctx->msg);
    if (msg_len > 0) {
        k.message = malloc(msg_len + 1);
        if (k.message == NULL) {
            ldi_pool_free(&sm->keys, idx);
            return LD_ERR_NOMEM;
        }
        memcpy(k.message, ctx->msg, msg_len + 1);
    }
    k.prev = k.next = LDI_NIL;
    *ldi_key_at(sm, idx) = k;
    ldi_table_insert(&sm->key_index, ldi_key_hash(&k.id), idx);
    return LD_OK;
}

static ld_err
pending_push(recover_ctx *ctx, uint32_t pay_idx, const ldi_key_id *key)
{
    if (ctx->pays_len == ctx->pays_cap) {
        size_t cap = ctx->pays_cap ? 2 * ctx->pays_cap : 64;
        pending_pay *p = realloc(ctx->pays, cap * sizeof *p);
        if (p == NULL)
            return LD_ERR_NOMEM;
        ctx->pays = p;
        ctx->pays_cap = cap;
    }
    ctx->pays[ctx->pays_len++] = (pending_pay){.pay_idx = pay_idx, .key = *key};
    return LD_OK;
}

static ld_err
load_res(recover_ctx *ctx, const uint8_t *key, size_t key_len, const uint8_t *val, size_t len)
{
    ld_sm *sm = ctx->sm;
    ldi_rec_res rec;
    uint32_t idx, pay_idx = LDI_NIL;
    if (!ldi_rec_res_decode(key, key_len, val, len, &rec))
        return LD_ERR_STORAGE;
    ld_err err = ldi_table_reserve(&sm->res_index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(&sm->res, &idx);
    if (err != LD_OK)
        return room_err(err);
    if (rec.awaiting_payment) {
        err = ldi_pool_alloc(&sm->pays, &pay_idx);
        if (err == LD_OK)
            err = pending_push(ctx, pay_idx, &rec.key);
        if (err != LD_OK) {
            ldi_pool_free(&sm->res, idx);
            return room_err(err);
        }
        ldi_payreq *pay = ldi_payreq_at(sm, pay_idx);
        pay->res_idx = idx;
        pay->key_idx = LDI_NIL;
        memcpy(pay->payment_method, rec.payment_method, sizeof pay->payment_method);
    }
    ldi_res *r = ldi_res_at(sm, idx);
    *r = rec.res;
    r->drop_idx = r->heap_pos = r->next = LDI_NIL;
    r->pay_idx = pay_idx;
    ldi_table_insert(&sm->res_index, ldi_table_hash(&r->v.id, 16), idx);
    return LD_OK;
}

/* Loads the social, catalog and event records (users, creators, products, follows, topics, events,
 * relay cursors) and skips index records. Returns LD_ERR_UNKNOWN_OP for a type it does not know. */
static ld_err
load3(recover_ctx *ctx, const uint8_t *key, size_t key_len, const uint8_t *val, size_t len)
{
    ld_sm *sm = ctx->sm;
    union {
        ldi_user user;
        ldi_creator creator;
        ldi_product product;
        ldi_edge edge;
        ldi_fol fol;
        ldi_topic topic;
        ldi_relay relay;
        ld_event_view ev;
    } u;
    char handle[LD_HANDLE_BYTES_MAX + 1];
    switch (key[0]) {
    case LDI_REC_USER:
        return ldi_rec_user_decode(key, key_len, val, len, &u.user) ? ldi_user_load(sm, &u.user)
                                                                    : LD_ERR_STORAGE;
    case LDI_REC_CREATOR:
        return ldi_rec_creator_decode(key, key_len, val, len, &u.creator)
                   ? ldi_creator_load(sm, &u.creator)
                   : LD_ERR_STORAGE;
    case LDI_REC_PRODUCT:
        return ldi_rec_product_decode(key, key_len, val, len, &u.product)
                   ? ldi_product_load(sm, &u.product)
                   : LD_ERR_STORAGE;
    case LDI_REC_FOLLOWER:
        return ldi_rec_edge_decode(key, key_len, val, len, &u.edge) ? ldi_edge_load(sm, &u.edge)
                                                                    : LD_ERR_STORAGE;
    case LDI_REC_FOLLOWING:
        return ldi_rec_fol_decode(key, key_len, val, len, &u.fol, handle) ? ldi_fol_load(sm, &u.fol)
                                                                          : LD_ERR_STORAGE;
    case LDI_REC_TOPIC:
        return ldi_rec_topic_decode(key, key_len, val, len, &u.topic)
                   ? ldi_topic_insert_loaded(sm, &u.topic)
                   : LD_ERR_STORAGE;
    case LDI_REC_RELAY:
        return ldi_rec_relay_decode(key, key_len, val, len, &u.relay) ? ldi_relay_load(sm, &u.relay)
                                                                      : LD_ERR_STORAGE;
    case LDI_REC_EVENT:
        return ldi_rec_event_decode(key, key_len, val, len, &u.ev) ? ldi_ring_load(sm, &u.ev)
                                                                   : LD_ERR_STORAGE;
    case LDI_REC_BROWSE:
    case LDI_REC_NOTABLE:
    case LDI_REC_PRODUCTS:
    case LDI_REC_TINDEX:
        return LD_OK; /* derived index records: the page reads use them, memory does not */
    default:
        return LD_ERR_UNKNOWN_OP;
    }
}

static ld_err
load_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    recover_ctx *ctx = arg;
    ld_sm *sm = ctx->sm;
    if (key_len == 0)
        return LD_ERR_STORAGE;
    ctx->records++;
    switch (((const uint8_t *)key)[0]) {
    case LDI_REC_META: {
        ldi_rec_meta meta;
        if (key_len != 1 || !ldi_rec_meta_decode(val, val_len, &meta))
            return LD_ERR_STORAGE;
        sm->applied_op = meta.applied_op;
        sm->last_ts_ms = meta.last_ts_ms;
        sm->next_seq = meta.next_seq;
        ctx->meta_last_event_seq = meta.last_event_seq;
        ctx->have_meta = true;
        return LD_OK;
    }
    case LDI_REC_DROP:
        return load_drop(sm, key, key_len, val, val_len);
    case LDI_REC_ORDER:
        return load_order(sm, key, key_len, val, val_len);
    case LDI_REC_KEY:
        return load_key(ctx, key, key_len, val, val_len);
    case LDI_REC_RES:
        return load_res(ctx, key, key_len, val, val_len);
    default: {
        ld_err err = load3(ctx, key, key_len, val, val_len);
        return err == LD_ERR_UNKNOWN_OP ? LD_ERR_STORAGE : err;
    }
    }
}

/* ---- phase 2 ----------------------------------------------------------------------------- */

typedef struct seq_idx {
    uint64_t seq;
    int64_t time_ms;
    uint32_t idx;
} seq_idx;

static int
seq_cmp(const void *a, const void *b)
{
    const seq_idx *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* Sorts by seq and checks that seqs are unique, below next_seq, and that times never go back
 * along them (the FIFOs rely on it). */
static ld_err
seq_sort(const ld_sm *sm, seq_idx *v, size_t n)
{
    qsort(v, n, sizeof *v, seq_cmp);
    for (size_t i = 0; i < n; i++) {
        if (v[i].seq == 0 || v[i].seq >= sm->next_seq)
            return LD_ERR_STORAGE;
        if (i > 0 && (v[i].seq == v[i - 1].seq || v[i].time_ms < v[i - 1].time_ms))
            return LD_ERR_STORAGE;
    }
    return LD_OK;
}

/* Adds a reservation's or order's qty to its (drop, user) counters. */
static ld_err
ud_add(ld_sm *sm, const ld_id *drop_id, const ld_id *user_id, int64_t reserved, int64_t bought)
{
    uint32_t idx;
    ld_err err = ldi_ud_get(sm, drop_id, user_id, &idx);
    if (err != LD_OK)
        return room_err(err);
    ldi_ud *ud = ldi_ud_at(sm, idx);
    ud->reserved += reserved;
    ud->bought += bought;
    ud->active += reserved > 0 ? 1 : 0;
    /* More active reservations than the rules allow cannot come from this state machine. */
    if (ud->active > LD_ACTIVE_RESERVATIONS_PER_USER_MAX)
        return LD_ERR_STORAGE;
    return LD_OK;
}

/* Checks the order a closed or committed reservation must have. */
static bool
res_order_ok(const ld_sm *sm, const ldi_res *r)
{
    bool needs_order = r->v.state == LD_RES_COMMITTED ||
                       (r->origin == LDI_ORIGIN_PLACE_ORDER && r->v.state != LD_RES_ACTIVE);
    if (r->origin == LDI_ORIGIN_PLACE_ORDER && r->v.state == LD_RES_ACTIVE)
        return r->pay_idx != LDI_NIL; /* an active place_order always awaits its payment */
    if (!needs_order)
        return true;
    ld_id order_id = ldi_order_id_derive(&r->v.id);
    uint32_t idx = ldi_order_find(sm, &order_id);
    if (idx == LDI_NIL)
        return false;
    const ld_order_view *o = ldi_order_at(sm, idx);
    if (r->v.state == LD_RES_COMMITTED)
        return ld_id_eq(&r->v.order_id, &order_id) && o->status == LD_ORDER_PAID;
    return o->status == LD_ORDER_FAILED;
}

static ld_err
link_res(ld_sm *sm, seq_idx *closed, size_t *closed_len)
{
    for (uint32_t i = 0; i < sm->res.high; i++) {
        if (!ldi_pool_used(&sm->res, i))
            continue;
        ldi_res *r = ldi_res_at(sm, i);
        r->drop_idx = ldi_drop_find(sm, &r->v.drop_id);
        if (r->drop_idx == LDI_NIL || !res_order_ok(sm, r))
            return LD_ERR_STORAGE;
        if (r->v.state != LD_RES_ACTIVE) {
            closed[(*closed_len)++] = (seq_idx){r->seq, r->closed_at_ms, i};
            continue;
        }
        if (ldi_heap_reserve(sm, 1) != LD_OK)
            return LD_ERR_NOMEM;
        ldi_heap_push(sm, i);
        ld_err err = ud_add(sm, &r->v.drop_id, &r->v.user_id, r->v.qty, 0);
        if (err != LD_OK)
            return err;
        ldi_drop_at(sm, r->drop_idx)->stock.reserved += r->v.qty;
    }
    return LD_OK;
}

static ld_err
link_orders(ld_sm *sm)
{
    for (uint32_t i = 0; i < sm->orders.high; i++) {
        if (!ldi_pool_used(&sm->orders, i))
            continue;
        const ld_order_view *o = ldi_order_at(sm, i);
        uint32_t drop_idx = ldi_drop_find(sm, &o->drop_id);
        if (drop_idx == LDI_NIL)
            return LD_ERR_STORAGE;
        if (o->status != LD_ORDER_PAID)
            continue;
        ld_err err = ud_add(sm, &o->drop_id, &o->user_id, 0, o->qty);
        if (err != LD_OK)
            return err;
        ldi_drop_at(sm, drop_idx)->stock.sold += o->qty;
    }
    for (uint32_t i = 0; i < sm->drops.high; i++) {
        if (!ldi_pool_used(&sm->drops, i))
            continue;
        ldi_drop *d = ldi_drop_at(sm, i);
        d->stock.available = d->spec.initial_stock - d->stock.reserved - d->stock.sold;
        if (d->stock.available < 0)
            return LD_ERR_STORAGE; /* the records oversell: refuse to run on them */
    }
    return LD_OK;
}

static ld_err
link_keys(ld_sm *sm, seq_idx *v)
{
    size_t n = 0;
    for (uint32_t i = 0; i < sm->keys.high; i++)
        if (ldi_pool_used(&sm->keys, i))
            v[n++] = (seq_idx){ldi_key_at(sm, i)->seq, ldi_key_at(sm, i)->created_at_ms, i};
    ld_err err = seq_sort(sm, v, n);
    for (size_t i = 0; err == LD_OK && i < n; i++)
        ldi_key_fifo_append(sm, v[i].idx);
    return err;
}

static ld_err
link_pays(ld_sm *sm, const recover_ctx *ctx)
{
    size_t in_progress = 0;
    for (uint32_t i = 0; i < sm->keys.high; i++)
        if (ldi_pool_used(&sm->keys, i) && ldi_key_at(sm, i)->status == LDI_KEY_IN_PROGRESS)
            in_progress++;
    if (in_progress != ctx->pays_len)
        return LD_ERR_STORAGE;
    uint8_t *linked = calloc(sm->keys.high ? sm->keys.high : 1, 1);
    if (linked == NULL)
        return LD_ERR_NOMEM;
    ld_err err = LD_OK;
    for (size_t i = 0; err == LD_OK && i < ctx->pays_len; i++) {
        uint32_t key_idx = ldi_key_find(sm, &ctx->pays[i].key);
        if (key_idx == LDI_NIL || ldi_key_at(sm, key_idx)->status != LDI_KEY_IN_PROGRESS ||
            linked[key_idx]) {
            err = LD_ERR_STORAGE;
            break;
        }
        linked[key_idx] = 1;
        ldi_payreq_at(sm, ctx->pays[i].pay_idx)->key_idx = key_idx;
    }
    free(linked);
    return err;
}

/* Events: the retained ones are dense and end at the meta's last seq; topics without a retained
 * event get floor count + 1. Drops announced UPCOMING or LIVE go into the boundary heap. */
static ld_err
link3(ld_sm *sm, const recover_ctx *ctx)
{
    if (sm->last_event_seq == 0) {
        sm->last_event_seq = ctx->meta_last_event_seq;
        sm->first_event_seq = sm->last_event_seq + 1;
    } else if (sm->last_event_seq != ctx->meta_last_event_seq) {
        return LD_ERR_STORAGE;
    }
    for (uint32_t i = 0; i < sm->topics.high; i++) {
        if (!ldi_pool_used(&sm->topics, i))
            continue;
        ldi_topic *t = ldi_topic_at(sm, i);
        if (t->floor == 0)
            t->floor = t->count + 1;
        if (t->last_notable > sm->last_event_seq)
            return LD_ERR_STORAGE;
    }
    for (uint32_t i = 0; i < sm->drops.high; i++) {
        if (!ldi_pool_used(&sm->drops, i))
            continue;
        const ldi_drop *d = ldi_drop_at(sm, i);
        if (ldi_drop_boundary(d) == INT64_MAX)
            continue;
        if (ldi_dheap_reserve(sm, 1) != LD_OK)
            return LD_ERR_NOMEM;
        ldi_dheap_push(sm, i);
    }
    return LD_OK;
}

static ld_err
link_all(ld_sm *sm, const recover_ctx *ctx)
{
    size_t n = sm->res.live > sm->keys.live ? sm->res.live : sm->keys.live;
    seq_idx *v = malloc((n ? n : 1) * sizeof *v);
    if (v == NULL)
        return LD_ERR_NOMEM;
    size_t closed_len = 0;
    ld_err err = link_res(sm, v, &closed_len);
    if (err == LD_OK)
        err = seq_sort(sm, v, closed_len);
    for (size_t i = 0; err == LD_OK && i < closed_len; i++)
        ldi_closed_append(sm, v[i].idx);
    if (err == LD_OK)
        err = link_orders(sm);
    if (err == LD_OK)
        err = link_keys(sm, v);
    if (err == LD_OK)
        err = link_pays(sm, ctx);
    if (err == LD_OK)
        err = link3(sm, ctx);
    /* Every payment in flight holds a promise of room for its order. */
    if (err == LD_OK && (uint64_t)sm->orders.live + sm->pays.live > sm->caps.orders)
        err = LD_ERR_STORAGE;
    free(v);
    return err;
}

ld_err
ldi_recover(ld_sm *sm)
{
    recover_ctx ctx = {.sm = sm};
    ld_err err = sm->store->ops->scan(sm->store->impl, "", 0, load_cb, &ctx);
    if (err == LD_OK && !ctx.have_meta && ctx.records > 0)
        err = LD_ERR_STORAGE;
    if (err == LD_OK)
        err = link_all(sm, &ctx);
    free(ctx.pays);
    if (err != LD_OK && err != LD_ERR_NOMEM)
        err = LD_ERR_STORAGE;
    return err;
}
