/*
 * sm.c -- the shard state machine's entry points: open, apply, read, digest, check, stats.
 *
 * The rules of each op live in actor.c (drops, reservations, orders), idem.c (idempotency keys),
 * expiry.c (TICK), catalog.c (users, creators, products), follow.c (follows, relay), browse.c
 * (drop status, cancel, browse) and events.c (the outbox); page.c and feed.c answer page reads.
 * record.c encodes what is written to the store and recover.c reads it back. See sm_int.h for
 * the memory layout and record.h for the disk layout.
 *
 * Dispatch. apply, read and page reads find an op's handler in its row of the op table (op.c);
 * there is no switch on the op type here.
 *
 * Principals. Every client write names the user or creator it acts for (op.principal); the
 * handler of each op compares it with the one the write needs, before any idempotency lookup,
 * and answers LD_ERR_FORBIDDEN when it is missing or different (ldi_principal_is). Reads and
 * internal ops (TICK, FINISH_ORDER, RELAY_FOLLOW) carry none.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "record.h"
#include "sm_int.h"

ldi_sm_caps
ldi_sm_caps_default(void)
{
    return (ldi_sm_caps){
        .drops = LD_DROPS_MAX,
        .reservations = LD_RESERVATIONS_MAX,
        .orders = LD_ORDERS_MAX,
        .keys = LD_IDEMPOTENCY_KEYS_MAX,
        .user_drops = LD_USER_DROP_ENTRIES_MAX,
        .payments = LD_NODE_PAYMENTS_MAX,
        .users = LD_USERS_MAX,
        .creators = LD_CREATORS_MAX,
        .products = LD_PRODUCTS_MAX,
        .follows = LD_FOLLOWS_MAX,
        .topics = LD_TOPICS_MAX,
        .events_retain = LD_EVENTS_RETAIN,
    };
}

void
ldi_sm_oom(const char *file, int line)
{
    ld_assert_fail(file, line, "out of memory in the state machine (fail-stop)");
}

bool
ldi_principal_is(const ld_op *op, const ld_id *want, const char *role, ld_result *res)
{
    LD_ASSERT(!ld_id_is_zero(want));
    if (memcmp(op->principal.bytes, want->bytes, LD_ID_BYTES) == 0)
        return true;
    ld_result_fail(res, LD_ERR_FORBIDDEN, "%s: %s principal; it must be %s", ld_op_name(op->type),
                   ld_id_is_zero(&op->principal) ? "missing" : "wrong", role);
    return false;
}

/* ---- lookups ----------------------------------------------------------------------------- */

/* memcmp of a constant 16 bytes compiles to two 8-byte compares (ld_id_eq loops per byte). */
static inline bool
id_eq(const ld_id *a, const void *b)
{
    return memcmp(a->bytes, b, LD_ID_BYTES) == 0;
}

static bool
drop_eq(const void *ctx, uint32_t idx, const void *key)
{
    return id_eq(&ldi_drop_at(ctx, idx)->spec.id, key);
}

static bool
res_eq(const void *ctx, uint32_t idx, const void *key)
{
    return id_eq(&ldi_res_at(ctx, idx)->v.id, key);
}

static bool
order_eq(const void *ctx, uint32_t idx, const void *key)
{
    return id_eq(&ldi_order_at(ctx, idx)->id, key);
}

static bool
ud_eq(const void *ctx, uint32_t idx, const void *key)
{
    const ldi_ud *ud = ldi_ud_at(ctx, idx);
    const ld_id *k = key;
    return id_eq(&ud->drop_id, &k[0]) && id_eq(&ud->user_id, &k[1]);
}

bool
ldi_key_eq(const void *ctx, uint32_t idx, const void *key)
{
    const ldi_key_id *a = &ldi_key_at(ctx, idx)->id;
    const ldi_key_id *b = key;
    return a->len == b->len && id_eq(&a->drop_id, &b->drop_id) && id_eq(&a->user_id, &b->user_id) &&
           memcmp(a->bytes, b->bytes, a->len) == 0;
}

uint32_t
ldi_drop_find(const ld_sm *sm, const ld_id *id)
{
    return ldi_table_find(&sm->drop_index, ldi_table_hash(id, 16), drop_eq, sm, id);
}

uint32_t
ldi_res_find(const ld_sm *sm, const ld_id *id)
{
    return ldi_table_find(&sm->res_index, ldi_table_hash(id, 16), res_eq, sm, id);
}

uint32_t
ldi_order_find(const ld_sm *sm, const ld_id *id)
{
    return ldi_table_find(&sm->order_index, ldi_table_hash(id, 16), order_eq, sm, id);
}

static uint64_t
ud_hash(const ld_id *drop_id, const ld_id *user_id)
{
    ld_id k[2] = {*drop_id, *user_id};
    return ldi_table_hash(k, sizeof k);
}

uint32_t
ldi_ud_find(const ld_sm *sm, const ld_id *drop_id, const ld_id *user_id)
{
    ld_id k[2] = {*drop_id, *user_id};
    return ldi_table_find(&sm->ud_index, ud_hash(drop_id, user_id), ud_eq, sm, k);
}

uint64_t
ldi_key_hash(const ldi_key_id *id)
{
    uint8_t buf[LDI_REC_KEY_BYTES_MAX];
    size_t len = ldi_rec_key_key(id, buf);
    return ldi_table_hash(buf, len);
}

uint32_t
ldi_key_find(const ld_sm *sm, const ldi_key_id *id)
{
    return ldi_table_find(&sm->key_index, ldi_key_hash(id), ldi_key_eq, sm, id);
}

ld_err
ldi_ud_get(ld_sm *sm, const ld_id *drop_id, const ld_id *user_id, uint32_t *idx_out)
{
    uint32_t idx = ldi_ud_find(sm, drop_id, user_id);
    if (idx != LDI_NIL) {
        *idx_out = idx;
        return LD_OK;
    }
    ld_err err = ldi_table_reserve(&sm->ud_index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(&sm->uds, &idx);
    if (err == LD_ERR_NOMEM)
        ldi_sm_oom(__FILE__, __LINE__);
    if (err != LD_OK)
        return err;
    ldi_ud *ud = ldi_ud_at(sm, idx);
    ud->drop_id = *drop_id;
    ud->user_id = *user_id;
    ldi_table_insert(&sm->ud_index, ud_hash(drop_id, user_id), idx);
    *idx_out = idx;
    return LD_OK;
}

void
ldi_ud_maybe_free(ld_sm *sm, uint32_t idx)
{
    ldi_ud *ud = ldi_ud_at(sm, idx);
    LD_ASSERT(ud->reserved >= 0 && ud->bought >= 0);
    if (ud->reserved != 0 || ud->bought != 0 || ud->active != 0)
        return;
    ldi_table_remove(&sm->ud_index, ud_hash(&ud->drop_id, &ud->user_id), idx);
    ldi_pool_free(&sm->uds, idx);
}

/* ---- write-through ----------------------------------------------------------------------- */

static void
store_put(ld_sm *sm, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len)
{
    sm->store->ops->put(sm->store->impl, key, key_len, val, val_len);
}

void
ldi_put_drop(ld_sm *sm, const ldi_drop *drop)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = ldi_rec_id_key(LDI_REC_DROP, &drop->spec.id, key);
    store_put(sm, key, key_len, val, ldi_rec_drop_encode(drop, val));
}

/* Fills the record form of a reservation (with its payment, if one is awaited). */
static void
res_rec(const ld_sm *sm, const ldi_res *res, ldi_rec_res *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->res = *res;
    if (res->pay_idx == LDI_NIL)
        return;
    const ldi_payreq *pay = ldi_payreq_at(sm, res->pay_idx);
    rec->awaiting_payment = true;
    rec->key = ldi_key_at(sm, pay->key_idx)->id;
    memcpy(rec->payment_method, pay->payment_method, sizeof rec->payment_method);
}

void
ldi_put_res(ld_sm *sm, const ldi_res *res)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    ldi_rec_res rec;
    res_rec(sm, res, &rec);
    size_t key_len = ldi_rec_id_key(LDI_REC_RES, &res->v.id, key);
    store_put(sm, key, key_len, val, ldi_rec_res_encode(&rec, val));
}

void
ldi_del_res(ld_sm *sm, const ldi_res *res)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    size_t key_len = ldi_rec_id_key(LDI_REC_RES, &res->v.id, key);
    sm->store->ops->del(sm->store->impl, key, key_len);
}

void
ldi_put_order(ld_sm *sm, const ld_order_view *order)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = ldi_rec_id_key(LDI_REC_ORDER, &order->id, key);
    store_put(sm, key, key_len, val, ldi_rec_order_encode(order, val));
}

void
ldi_put_key(ld_sm *sm, const ldi_idem *k)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = ldi_rec_key_key(&k->id, key);
    store_put(sm, key, key_len, val, ldi_rec_key_encode(k, val));
}

void
ldi_del_key(ld_sm *sm, const ldi_idem *k)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    size_t key_len = ldi_rec_key_key(&k->id, key);
    sm->store->ops->del(sm->store->impl, key, key_len);
}

static size_t
meta_encode(const ld_sm *sm, uint8_t *val)
{
    ldi_rec_meta meta = {
        .applied_op = sm->applied_op,
        .last_ts_ms = sm->last_ts_ms,
        .next_seq = sm->next_seq,
        .last_event_seq = sm->last_event_seq,
    };
    return ldi_rec_meta_encode(&meta, val);
}

void
ldi_put_meta(ld_sm *sm)
{
    uint8_t key = LDI_REC_META, val[LDI_REC_VAL_BYTES_MAX];
    store_put(sm, &key, 1, val, meta_encode(sm, val));
}

/* ---- open / free ------------------------------------------------------------------------- */

static ld_err
sm_init_pools(ld_sm *sm)
{
    const ldi_sm_caps *c = &sm->caps;
    ld_err err = LD_OK;
    if (err == LD_OK)
        err = ldi_pool_init(&sm->drops, sizeof(ldi_drop), c->drops);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->res, sizeof(ldi_res), c->reservations);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->orders, sizeof(ld_order_view), c->orders);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->uds, sizeof(ldi_ud), c->user_drops);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->keys, sizeof(ldi_idem), c->keys);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->pays, sizeof(ldi_payreq), c->payments);
    if (err == LD_OK)
        err = ldi_table_init(&sm->drop_index, c->drops);
    if (err == LD_OK)
        err = ldi_table_init(&sm->res_index, c->reservations);
    if (err == LD_OK)
        err = ldi_table_init(&sm->order_index, c->orders);
    if (err == LD_OK)
        err = ldi_table_init(&sm->ud_index, c->user_drops);
    if (err == LD_OK)
        err = ldi_table_init(&sm->key_index, c->keys);
    return err;
}

/* The pools and indexes of the social and catalog state: users, creators, products, follows,
 * topics. */
static ld_err
sm_init_pools3(ld_sm *sm)
{
    const ldi_sm_caps *c = &sm->caps;
    uint32_t fans = c->follows > UINT32_MAX / 2 - 1 ? UINT32_MAX - 2 : 2 * c->follows;
    ld_err err = ldi_pool_init(&sm->users, sizeof(ldi_user), c->users);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->creators, sizeof(ldi_creator), c->creators);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->products, sizeof(ldi_product), c->products);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->edges, sizeof(ldi_edge), c->follows);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->fols, sizeof(ldi_fol), c->follows);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->fans, sizeof(ldi_fan), fans);
    if (err == LD_OK)
        err = ldi_pool_init(&sm->topics, sizeof(ldi_topic), c->topics);
    if (err == LD_OK)
        err = ldi_table_init(&sm->user_index, c->users);
    if (err == LD_OK)
        err = ldi_table_init(&sm->creator_index, c->creators);
    if (err == LD_OK)
        err = ldi_table_init(&sm->handle_index, c->creators);
    if (err == LD_OK)
        err = ldi_table_init(&sm->product_index, c->products);
    if (err == LD_OK)
        err = ldi_table_init(&sm->edge_index, c->follows);
    if (err == LD_OK)
        err = ldi_table_init(&sm->fol_index, c->follows);
    if (err == LD_OK)
        err = ldi_table_init(&sm->fan_index, fans);
    if (err == LD_OK)
        err = ldi_table_init(&sm->topic_index, c->topics);
    return err;
}

ld_err
ldi_sm_open_with_caps(const ld_store *store, const ldi_sm_caps *caps, ld_sm **out)
{
    LD_ASSERT(store != NULL && store->ops != NULL);
    LD_ASSERT(caps != NULL && out != NULL);
    LD_ASSERT(caps->drops >= 1 && caps->reservations >= 1 && caps->orders >= 1);
    LD_ASSERT(caps->keys >= 1 && caps->user_drops >= 1 && caps->payments >= 1);
    LD_ASSERT(caps->users >= 1 && caps->creators >= 1 && caps->products >= 1);
    LD_ASSERT(caps->follows >= 1 && caps->topics >= 1 && caps->events_retain >= 1);
    ld_sm *sm = calloc(1, sizeof *sm);
    if (sm == NULL)
        return LD_ERR_NOMEM;
    sm->store = store;
    sm->caps = *caps;
    sm->next_seq = 1;
    sm->first_event_seq = 1;
    sm->closed_head = sm->closed_tail = LDI_NIL;
    sm->key_head = sm->key_tail = LDI_NIL;
    ld_err err = sm_init_pools(sm);
    if (err == LD_OK)
        err = sm_init_pools3(sm);
    if (err == LD_OK)
        err = ldi_recover(sm);
    if (err != LD_OK) {
        ld_sm_free(sm);
        return err;
    }
    *out = sm;
    return LD_OK;
}

ld_err
ld_sm_open(const ld_store *store, ld_sm **out)
{
    ldi_sm_caps caps = ldi_sm_caps_default();
    return ldi_sm_open_with_caps(store, &caps, out);
}

void
ld_sm_free(ld_sm *sm)
{
    if (sm == NULL)
        return;
    for (uint32_t i = 0; sm->keys.chunks != NULL && i < sm->keys.high; i++)
        if (ldi_pool_used(&sm->keys, i))
            free(ldi_key_at(sm, i)->message);
    ldi_pool_fini(&sm->drops);
    ldi_pool_fini(&sm->res);
    ldi_pool_fini(&sm->orders);
    ldi_pool_fini(&sm->uds);
    ldi_pool_fini(&sm->keys);
    ldi_pool_fini(&sm->pays);
    ldi_table_fini(&sm->drop_index);
    ldi_table_fini(&sm->res_index);
    ldi_table_fini(&sm->order_index);
    ldi_table_fini(&sm->ud_index);
    ldi_table_fini(&sm->key_index);
    ldi_pool_fini(&sm->users);
    ldi_pool_fini(&sm->creators);
    ldi_pool_fini(&sm->products);
    ldi_pool_fini(&sm->edges);
    ldi_pool_fini(&sm->fols);
    ldi_pool_fini(&sm->fans);
    ldi_pool_fini(&sm->topics);
    ldi_table_fini(&sm->user_index);
    ldi_table_fini(&sm->creator_index);
    ldi_table_fini(&sm->handle_index);
    ldi_table_fini(&sm->product_index);
    ldi_table_fini(&sm->edge_index);
    ldi_table_fini(&sm->fol_index);
    ldi_table_fini(&sm->fan_index);
    ldi_table_fini(&sm->topic_index);
    free(sm->heap);
    free(sm->dheap);
    free(sm->ring);
    free(sm->batch_ev);
    free(sm->dirty_drops);
    free(sm->dirty_topics);
    free(sm->relays);
    free(sm);
}

/* ---- apply / read ------------------------------------------------------------------------ */

/* Answers a read op from memory at `now_ms` (the batch's time when a read op is in a batch). */
static void
read_op(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    memset(res, 0, sizeof *res);
    const ldi_op_row *row = ldi_op_row_of(op->type);
    if (row->read == NULL) {
        ld_result_fail(res, LD_ERR_UNKNOWN_OP, "%s: not a read op", ld_op_name(op->type));
        return;
    }
    row->read(sm, now_ms, op, res);
}

static void
apply_one(ld_sm *sm, const ld_op *op, ld_result *res)
{
    memset(res, 0, sizeof *res);
    const ldi_op_row *row = ldi_op_row_of(op->type);
    if (row->apply != NULL) {
        row->apply(sm, op, res);
        /* The row's principal rule: a write that needs a principal never succeeds without. */
        LD_ASSERT(res->code != LD_OK || row->principal == LDI_PRINCIPAL_NONE ||
                  !ld_id_is_zero(&op->principal));
    } else if (row->read != NULL) {
        /* Not a write; answered as a read at the batch time rather than trusted blindly. */
        read_op(sm, sm->now_ms, op, res);
    } else {
        ld_result_fail(res, LD_ERR_UNKNOWN_OP, "op type %d is unknown", (int)op->type);
    }
}

void
ld_sm_apply(ld_sm *sm, const ld_batch_stamp *stamp, const ld_op *ops, size_t n,
            ld_result *results_out)
{
    LD_ASSERT(sm != NULL);
    LD_ASSERT(stamp != NULL);
    uint64_t op_number = stamp->op;
    int64_t ts_ms = stamp->ts_ms;
    LD_ASSERT(n == 0 || (ops != NULL && results_out != NULL));
    LD_ASSERT(op_number == sm->applied_op + 1);
    LD_ASSERT(ts_ms >= sm->last_ts_ms && ts_ms <= LD_TIME_MS_MAX);
    LD_ASSERT(n <= LD_BATCH_OPS_MAX);
    sm->cur_op = op_number;
    sm->cur_id_seed = stamp->id_seed;
    sm->now_ms = ts_ms;
    ldi_batch_begin(sm, n);
    for (size_t i = 0; i < n; i++) {
        sm->cur_index = (uint32_t)i;
        sm->ops_left = (uint32_t)(n - i - 1);
        apply_one(sm, &ops[i], &results_out[i]);
    }
    ldi_batch_end(sm);
    sm->applied_op = op_number;
    sm->last_ts_ms = ts_ms;
    ldi_put_meta(sm);
}

void
ld_sm_read(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *result_out)
{
    LD_ASSERT(sm != NULL);
    LD_ASSERT(op != NULL && result_out != NULL);
    read_op(sm, now_ms, op, result_out);
}

uint64_t
ld_sm_applied_op(const ld_sm *sm)
{
    return sm->applied_op;
}

int64_t
ld_sm_last_ts(const ld_sm *sm)
{
    return sm->last_ts_ms;
}

int64_t
ld_sm_next_deadline_ms(const ld_sm *sm)
{
    return ldi_next_deadline(sm);
}

size_t
ld_sm_pending_payments(const ld_sm *sm, void (*cb)(void *arg, const ld_payment_request *req),
                       void *arg)
{
    LD_ASSERT(sm != NULL);
    size_t count = 0;
    for (uint32_t i = 0; i < sm->pays.high; i++) {
        if (!ldi_pool_used(&sm->pays, i))
            continue;
        const ldi_payreq *pay = ldi_payreq_at(sm, i);
        const ldi_res *r = ldi_res_at(sm, pay->res_idx);
        const ldi_drop *d = ldi_drop_at(sm, r->drop_idx);
        ld_payment_request req;
        memset(&req, 0, sizeof req);
        req.reservation_id = r->v.id;
        req.amount_minor = r->v.qty * d->spec.product.price_minor;
        memcpy(req.currency, d->spec.product.currency, sizeof req.currency);
        memcpy(req.payment_method, pay->payment_method, sizeof req.payment_method);
        req.expires_at_ms = r->v.expires_at_ms;
        if (cb != NULL)
            cb(arg, &req);
        count++;
    }
    return count;
}

/* ---- digest and stats -------------------------------------------------------------------- */

static uint64_t
rec_hash(const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len)
{
    return XXH3_64bits_withSeed(val, val_len, XXH3_64bits(key, key_len));
}

/* The digest of the social and catalog state: users, creators, products, edges, following entries,
 * topics and relay cursors, each hashed in its record form (a following entry without its handle,
 * which memory does not keep). */
static uint64_t
digest3(const ld_sm *sm)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    uint64_t sum = 0;
    for (uint32_t i = 0; i < sm->users.high; i++)
        if (ldi_pool_used(&sm->users, i))
            sum += rec_hash(key, ldi_rec_id_key(LDI_REC_USER, &ldi_user_at(sm, i)->id, key), val,
                            ldi_rec_user_encode(ldi_user_at(sm, i), val));
    for (uint32_t i = 0; i < sm->creators.high; i++) {
        if (!ldi_pool_used(&sm->creators, i))
            continue;
        const ldi_creator *c = ldi_creator_at(sm, i);
        sum += rec_hash(key, ldi_rec_id_key(LDI_REC_CREATOR, &c->spec.id, key), val,
                        ldi_rec_creator_encode(c, val)) ^
               (uint64_t)c->follower_count;
    }
    for (uint32_t i = 0; i < sm->products.high; i++) {
        if (!ldi_pool_used(&sm->products, i))
            continue;
        const ldi_product *p = ldi_product_at(sm, i);
        sum += rec_hash(key, ldi_rec_id_key(LDI_REC_PRODUCT, &p->spec.id, key), val,
                        ldi_rec_product_encode(p, val));
    }
    for (uint32_t i = 0; i < sm->edges.high; i++) {
        if (!ldi_pool_used(&sm->edges, i))
            continue;
        const ldi_edge *e = ldi_edge_at(sm, i);
        size_t n = ldi_rec_list_key(LDI_REC_FOLLOWER, e->creator_id.bytes, LD_ID_BYTES,
                                    ~(uint64_t)e->since_ms, &e->user_id, key);
        sum += rec_hash(key, n, val, ldi_rec_u64_encode(e->seq, val));
    }
    for (uint32_t i = 0; i < sm->fols.high; i++) {
        if (!ldi_pool_used(&sm->fols, i))
            continue;
        const ldi_fol *f = ldi_fol_at(sm, i);
        size_t n = ldi_rec_list_key(LDI_REC_FOLLOWING, f->user_id.bytes, LD_ID_BYTES,
                                    ~(uint64_t)f->at_ms, &f->creator_id, key);
        sum += rec_hash(key, n, val, ldi_rec_u64_encode(f->seq, val));
    }
    for (uint32_t i = 0; i < sm->topics.high; i++) {
        if (!ldi_pool_used(&sm->topics, i))
            continue;
        const ldi_topic *t = ldi_topic_at(sm, i);
        sum += rec_hash(key, ldi_rec_topic_key(t->kind, &t->id, key), val,
                        ldi_rec_topic_encode(t, val)) ^
               t->floor;
    }
    for (uint32_t i = 0; i < sm->relays_len; i++)
        sum += rec_hash(key, ldi_rec_relay_key(sm->relays[i].source_shard, key), val,
                        ldi_rec_u64_encode(sm->relays[i].seq, val));
    return sum + XXH3_64bits(&sm->first_event_seq, sizeof sm->first_event_seq);
}

uint64_t
ld_sm_digest(const ld_sm *sm)
{
    LD_ASSERT(sm != NULL);
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    key[0] = LDI_REC_META;
    uint64_t sum = rec_hash(key, 1, val, meta_encode(sm, val));
    for (uint32_t i = 0; i < sm->drops.high; i++) {
        if (!ldi_pool_used(&sm->drops, i))
            continue;
        const ldi_drop *d = ldi_drop_at(sm, i);
        sum += rec_hash(key, ldi_rec_id_key(LDI_REC_DROP, &d->spec.id, key), val,
                        ldi_rec_drop_encode(d, val));
    }
    for (uint32_t i = 0; i < sm->res.high; i++) {
        if (!ldi_pool_used(&sm->res, i))
            continue;
        ldi_rec_res rec;
        res_rec(sm, ldi_res_at(sm, i), &rec);
        sum += rec_hash(key, ldi_rec_id_key(LDI_REC_RES, &rec.res.v.id, key), val,
                        ldi_rec_res_encode(&rec, val));
    }
    for (uint32_t i = 0; i < sm->orders.high; i++) {
        if (!ldi_pool_used(&sm->orders, i))
            continue;
        const ld_order_view *o = ldi_order_at(sm, i);
        sum += rec_hash(key, ldi_rec_id_key(LDI_REC_ORDER, &o->id, key), val,
                        ldi_rec_order_encode(o, val));
    }
    for (uint32_t i = 0; i < sm->keys.high; i++) {
        if (!ldi_pool_used(&sm->keys, i))
            continue;
        const ldi_idem *k = ldi_key_at(sm, i);
        sum += rec_hash(key, ldi_rec_key_key(&k->id, key), val, ldi_rec_key_encode(k, val));
    }
    return sum + digest3(sm);
}

void
ld_sm_stats_get(const ld_sm *sm, ld_sm_stats *out)
{
    LD_ASSERT(sm != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->drops = sm->drops.live;
    out->reservations = sm->res.live;
    out->reservations_active = sm->heap_len;
    out->orders = sm->orders.live;
    out->idempotency_keys = sm->keys.live;
    out->users = sm->users.live;
    out->creators = sm->creators.live;
    out->products = sm->products.live;
    out->follows = sm->edges.live;
    out->last_event_seq = sm->last_event_seq;
}
