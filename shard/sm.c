/*
 * sm.c -- the shard state machine's entry points: open, apply, read, digest, check, stats.
 *
 * The rules of each op live in actor.c (drops, reservations, orders), idem.c (idempotency keys)
 * and expiry.c (TICK); record.c encodes what is written to the store and recover.c reads it
 * back. See sm_int.h for the memory layout and record.h for the disk layout.
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
    };
}

void
ldi_sm_oom(const char *file, int line)
{
    ld_assert_fail(file, line, "out of memory in the state machine (fail-stop)");
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
    const ldi_pay *pay = ldi_pay_at(sm, res->pay_idx);
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
        err = ldi_pool_init(&sm->pays, sizeof(ldi_pay), c->payments);
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

ld_err
ldi_sm_open_with_caps(const ld_store *store, const ldi_sm_caps *caps, ld_sm **out)
{
    LD_ASSERT(store != NULL && store->ops != NULL);
    LD_ASSERT(caps != NULL && out != NULL);
    LD_ASSERT(caps->drops >= 1 && caps->reservations >= 1 && caps->orders >= 1);
    LD_ASSERT(caps->keys >= 1 && caps->user_drops >= 1 && caps->payments >= 1);
    ld_sm *sm = calloc(1, sizeof *sm);
    if (sm == NULL)
        return LD_ERR_NOMEM;
    sm->store = store;
    sm->caps = *caps;
    sm->next_seq = 1;
    sm->closed_head = sm->closed_tail = LDI_NIL;
    sm->key_head = sm->key_tail = LDI_NIL;
    ld_err err = sm_init_pools(sm);
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
    free(sm->heap);
    free(sm);
}

/* ---- apply / read ------------------------------------------------------------------------ */

static void
read_op(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    uint32_t idx;
    memset(res, 0, sizeof *res);
    switch (op->type) {
    case LD_OP_GET_DROP:
        if ((idx = ldi_drop_find(sm, &op->u.id)) == LDI_NIL) {
            ld_result_fail(res, LD_ERR_DROP_NOT_FOUND, "get_drop: no such drop");
            return;
        }
        res->kind = LD_RESULT_DROP;
        ldi_drop_view(ldi_drop_at(sm, idx), now_ms, &res->u.drop);
        return;
    case LD_OP_GET_RESERVATION:
        if ((idx = ldi_res_find(sm, &op->u.id)) == LDI_NIL) {
            ld_result_fail(res, LD_ERR_RESERVATION_NOT_FOUND, "get_reservation: no such id");
            return;
        }
        res->kind = LD_RESULT_RESERVATION;
        ldi_res_view(ldi_res_at(sm, idx), &res->u.reservation);
        return;
    case LD_OP_GET_ORDER:
        if ((idx = ldi_order_find(sm, &op->u.id)) == LDI_NIL) {
            ld_result_fail(res, LD_ERR_ORDER_NOT_FOUND, "get_order: no such order");
            return;
        }
        res->kind = LD_RESULT_ORDER;
        res->u.order = *ldi_order_at(sm, idx);
        return;
    default:
        ld_result_fail(res, LD_ERR_UNKNOWN_OP, "%s: not a read op", ld_op_name(op->type));
        return;
    }
}

static void
apply_one(ld_sm *sm, const ld_op *op, ld_result *res)
{
    memset(res, 0, sizeof *res);
    switch (op->type) {
    case LD_OP_CREATE_DROP:
        ldi_create_drop(sm, &op->u.create_drop, res);
        return;
    case LD_OP_RESERVE:
    case LD_OP_PLACE_ORDER:
        ldi_reserve(sm, op, res);
        return;
    case LD_OP_COMMIT:
        ldi_commit(sm, &op->u.commit, res);
        return;
    case LD_OP_RELEASE:
        ldi_release(sm, &op->u.id, res);
        return;
    case LD_OP_FINISH_ORDER:
        ldi_finish_order(sm, &op->u.finish, res);
        return;
    case LD_OP_TICK:
        ldi_tick(sm, res);
        return;
    case LD_OP_GET_DROP:
    case LD_OP_GET_ORDER:
    case LD_OP_GET_RESERVATION:
        /* Not a write; answered as a read at the batch time rather than trusted blindly. */
        read_op(sm, sm->now_ms, op, res);
        return;
    case LD_OP_NONE:
    default:
        ld_result_fail(res, LD_ERR_UNKNOWN_OP, "op type %d is unknown", (int)op->type);
        return;
    }
}

void
ld_sm_apply(ld_sm *sm, uint64_t op_number, int64_t ts_ms, const ld_op *ops, size_t n,
            ld_result *results_out)
{
    LD_ASSERT(sm != NULL);
    LD_ASSERT(n == 0 || (ops != NULL && results_out != NULL));
    LD_ASSERT(op_number == sm->applied_op + 1);
    LD_ASSERT(ts_ms >= sm->last_ts_ms && ts_ms <= LD_TIME_MS_MAX);
    LD_ASSERT(n <= LD_BATCH_OPS_MAX);
    sm->cur_op = op_number;
    sm->now_ms = ts_ms;
    for (size_t i = 0; i < n; i++) {
        sm->cur_index = (uint32_t)i;
        apply_one(sm, &ops[i], &results_out[i]);
    }
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
        const ldi_pay *pay = ldi_pay_at(sm, i);
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
    return sum;
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
}
