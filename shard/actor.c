/*
 * actor.c -- the drop actor: create_drop, reserve, place_order, commit, release, finish_order
 * and expiry, with their business rules (see sm.h for the rules, sm_int.h for the layout).
 *
 * Every mutation of a drop's inventory goes through res_open() and res_close(), which move qty
 * between available, reserved and sold, keep the (drop, user) counters in step, and LD_ASSERT
 * P1 on the drop afterwards. Every check that can refuse an op runs before the first mutation,
 * so a refused op leaves no trace except, for keyed ops, its stored refusal.
 *
 * Choices where sm.h leaves room:
 *   - reserve checks, in order: drop exists, status, active reservations of the user
 *     (LD_ACTIVE_RESERVATIONS_PER_USER_MAX, refused with ERR_USER_LIMIT), max_per_user, stock,
 *     then capacities. ERR_CAPACITY is never stored under an idempotency key (it is the node's
 *     limit, not the request's answer): a retry may succeed once room is made.
 *   - a place_order reserves room for its future order (orders + payments in flight <= the
 *     order capacity), so FINISH_ORDER and expiry can always record the order.
 *   - commit or release of a reservation whose place_order payment is still running is refused
 *     with ERR_IN_PROGRESS: only FINISH_ORDER (or expiry) settles it.
 *   - commit or FINISH_ORDER of an active reservation at or after expires_at expires it on the
 *     spot (RESERVATION_EXPIRED); release does the same but answers LD_OK with the EXPIRED
 *     reservation, as it does for one that expired earlier: a release is the retry-safe "make
 *     sure this holds no stock".
 *   - commit of a committed reservation with another payment reference than its order's is
 *     IDEMPOTENCY_KEY_REUSED: the reservation id is the commit's idempotency key.
 *   - when the reservation table is full, the oldest closed (retained) reservation is deleted
 *     early to make room; only when every held reservation is active is the answer CAPACITY.
 *   - the FAILED order of a declined or expired place_order carries the payment ref it got.
 *   - ids: reservation = XXH3_128("ldres2\0\0" | entry id seed | op_number LE64 | index LE32),
 *     order = XXH3_128("ldord1\0\0" | reservation id), canonical bytes; an all-zero result
 *     becomes ...01 (proto/PROTOCOL.md, "Ids the cluster makes").
 */
#include <string.h>
#include <xxhash.h>

#include "sm_int.h"

/* ---- drops ------------------------------------------------------------------------------- */

ld_drop_status
ldi_drop_status(const ldi_drop *drop, int64_t now_ms)
{
    if (drop->announced == LD_DROP_CANCELLED)
        return LD_DROP_CANCELLED;
    if (now_ms < drop->spec.starts_at_ms)
        return LD_DROP_UPCOMING;
    if (now_ms < drop->spec.ends_at_ms)
        return LD_DROP_LIVE;
    return LD_DROP_ENDED;
}

void
ldi_drop_view(const ldi_drop *drop, int64_t now_ms, ld_drop_view *out)
{
    out->spec = drop->spec;
    out->status = ldi_drop_status(drop, now_ms);
    out->stock = drop->stock;
    out->created_at_ms = drop->created_at_ms;
}

void
ldi_drop_assert_p1(const ldi_drop *drop)
{
    const ld_stock *s = &drop->stock;
    LD_ASSERT(s->available >= 0);
    LD_ASSERT(s->reserved >= 0);
    LD_ASSERT(s->sold >= 0);
    LD_ASSERT(s->available + s->reserved + s->sold == drop->spec.initial_stock);
}

static bool
product_eq(const ld_product *a, const ld_product *b)
{
    if (!ld_id_eq(&a->creator_id, &b->creator_id) || strcmp(a->title, b->title) != 0 ||
        a->price_minor != b->price_minor || strcmp(a->currency, b->currency) != 0 ||
        a->tags_count != b->tags_count)
        return false;
    for (uint32_t i = 0; i < a->tags_count; i++)
        if (strcmp(a->tags[i], b->tags[i]) != 0)
            return false;
    return true;
}

/* Equal create_drop bodies. A drop made from a catalog product is compared by product id, not by
 * its snapshot (the product may have changed since; a retry must still find its drop). */
static bool
spec_eq(const ld_op_create_drop *a, const ld_op_create_drop *b)
{
    if (!ld_id_eq(&a->product_id, &b->product_id))
        return false;
    bool same_product = !ld_id_is_zero(&a->product_id) || product_eq(&a->product, &b->product);
    return ld_id_eq(&a->id, &b->id) && same_product && a->starts_at_ms == b->starts_at_ms &&
           a->ends_at_ms == b->ends_at_ms && a->initial_stock == b->initial_stock &&
           a->low_stock_threshold == b->low_stock_threshold && a->max_per_user == b->max_per_user &&
           a->reservation_ttl_ms == b->reservation_ttl_ms;
}

/* The drop a create_drop asks for: the op's spec, with the catalog product's fields copied in when
 * product_id is set. Checks the principal against the product's creator. On refusal fills res
 * and returns false. */
static bool
create_drop_spec(ld_sm *sm, const ld_op *op, ld_op_create_drop *spec, ld_result *res)
{
    *spec = op->u.create_drop;
    if (ld_id_is_zero(&spec->product_id))
        return ldi_principal_is(op, &spec->product.creator_id, "the drop's creator", res);
    uint32_t idx = ldi_product_find(sm, &spec->product_id);
    if (idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_PRODUCT_NOT_FOUND, "create_drop: no such product");
        return false;
    }
    const ld_op_product *p = &ldi_product_at(sm, idx)->spec;
    if (!ldi_principal_is(op, &p->creator_id, "the product's creator", res))
        return false;
    memset(&spec->product, 0, sizeof spec->product);
    spec->product.creator_id = p->creator_id;
    memcpy(spec->product.title, p->title, sizeof spec->product.title);
    spec->product.price_minor = p->price_minor;
    memcpy(spec->product.currency, p->currency, sizeof spec->product.currency);
    spec->product.tags_count = p->tags_count;
    memcpy(spec->product.tags, p->tags, sizeof spec->product.tags);
    return true;
}

/* Room for one more drop and its two topics (creator/, drop/); false with CAPACITY in res. */
static bool
create_drop_room(ld_sm *sm, const ld_op_create_drop *spec, ld_result *res)
{
    uint32_t topics = 1; /* drop/<id> is new with the drop */
    if (ldi_topic_find(sm, LD_TOPIC_CREATOR, &spec->product.creator_id) == LDI_NIL)
        topics++;
    ld_err err = ldi_table_reserve(&sm->drop_index, 1);
    if (err == LD_OK && ldi_pool_full(&sm->drops))
        err = LD_ERR_CAPACITY;
    if (err == LD_OK && !ldi_topic_room(sm, topics))
        err = LD_ERR_CAPACITY;
    if (err == LD_ERR_NOMEM)
        ldi_sm_oom(__FILE__, __LINE__);
    if (err != LD_OK)
        ld_result_fail(res, LD_ERR_CAPACITY,
                       "create_drop: the shard holds its maximum of drops "
                       "(%u) or topics",
                       sm->caps.drops);
    return err == LD_OK;
}

void
ldi_create_drop(ld_sm *sm, const ld_op *op, ld_result *res)
{
    ld_op_create_drop spec;
    LD_ASSERT(!ld_id_is_zero(&op->u.create_drop.id));
    LD_ASSERT(op->u.create_drop.initial_stock >= 1 &&
              op->u.create_drop.initial_stock <= LD_STOCK_MAX);
    LD_ASSERT(op->u.create_drop.low_stock_threshold >= 0 &&
              op->u.create_drop.low_stock_threshold <= op->u.create_drop.initial_stock);
    if (!create_drop_spec(sm, op, &spec, res))
        return;
    uint32_t idx = ldi_drop_find(sm, &spec.id);
    if (idx != LDI_NIL) {
        const ldi_drop *d = ldi_drop_at(sm, idx);
        if (!spec_eq(&d->spec, &spec)) {
            ld_result_fail(res, LD_ERR_ID_CONFLICT, "create_drop: id exists with different fields");
            return;
        }
        res->code = LD_EXISTS;
        res->kind = LD_RESULT_DROP;
        ldi_drop_view(d, sm->now_ms, &res->u.drop);
        return;
    }
    if (spec.ends_at_ms <= sm->now_ms) {
        ld_result_fail(res, LD_ERR_INVALID_TIME, "create_drop: ends_at_ms is already past");
        return;
    }
    if (!create_drop_room(sm, &spec, res))
        return;
    LDI_MUST(ldi_pool_alloc(&sm->drops, &idx));
    ldi_drop *d = ldi_drop_at(sm, idx);
    d->spec = spec;
    d->created_at_ms = sm->now_ms;
    d->stock = (ld_stock){.available = spec.initial_stock};
    d->dheap_pos = LDI_NIL;
    ldi_table_insert(&sm->drop_index, ldi_table_hash(&spec.id, 16), idx);
    uint32_t topic;
    LDI_MUST(ldi_topic_get(sm, LD_TOPIC_CREATOR, &spec.product.creator_id, &topic));
    LDI_MUST(ldi_topic_get(sm, LD_TOPIC_DROP, &spec.id, &topic));
    ldi_drop_schedule(sm, idx); /* writes the drop */
    ldi_drop_assert_p1(d);
    res->code = LD_OK;
    res->kind = LD_RESULT_DROP;
    ldi_drop_view(d, sm->now_ms, &res->u.drop);
}

/* ---- ids --------------------------------------------------------------------------------- */

static ld_id
id_from_hash(const void *buf, size_t len)
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
    ld_id id;
    memcpy(id.bytes, c.digest, sizeof id.bytes);
    if (ld_id_is_zero(&id))
        id.bytes[15] = 1;
    return id;
}

/* XXH3-128 of "ldres2" | id_seed | le64(op) | le32(index). The seed is random per entry, so ids
 * differ between clusters, shards and reformats although op numbers repeat; op and index make
 * the ids of one entry distinct. */
ld_id
ldi_res_id_derive(const ld_id *id_seed, uint64_t op_number, uint32_t index)
{
    uint8_t buf[8 + LD_ID_BYTES + 8 + 4];
    memcpy(buf, "ldres2\0\0", 8);
    memcpy(buf + 8, id_seed->bytes, LD_ID_BYTES);
    ldi_le64_put(buf + 8 + LD_ID_BYTES, op_number);
    ldi_le32_put(buf + 16 + LD_ID_BYTES, index);
    return id_from_hash(buf, sizeof buf);
}

ld_id
ldi_order_id_derive(const ld_id *res_id)
{
    uint8_t buf[8 + LD_ID_BYTES];
    memcpy(buf, "ldord1\0\0", 8);
    memcpy(buf + 8, res_id->bytes, LD_ID_BYTES);
    return id_from_hash(buf, sizeof buf);
}

/* ---- reservation lifecycle --------------------------------------------------------------- */

void
ldi_res_view(const ldi_res *r, ld_reservation_view *out)
{
    *out = r->v;
}

/* Moves an active reservation to `state` (COMMITTED: its qty is sold; RELEASED or EXPIRED: its
 * qty is available again), queues it for deletion after retention and writes it. */
static void
res_close(ld_sm *sm, uint32_t res_idx, ld_reservation_state state)
{
    ldi_res *r = ldi_res_at(sm, res_idx);
    LD_ASSERT(r->v.state == LD_RES_ACTIVE);
    LD_ASSERT(r->pay_idx == LDI_NIL);
    LD_ASSERT(state != LD_RES_ACTIVE);
    ldi_heap_remove(sm, res_idx);
    r->v.state = state;
    r->closed_at_ms = sm->now_ms;
    r->seq = sm->next_seq++;
    ldi_closed_append(sm, res_idx);

    ldi_drop *d = ldi_drop_at(sm, r->drop_idx);
    uint32_t ud_idx = ldi_ud_find(sm, &r->v.drop_id, &r->v.user_id);
    LD_ASSERT(ud_idx != LDI_NIL);
    ldi_ud *ud = ldi_ud_at(sm, ud_idx);
    LD_ASSERT(ud->active > 0 && ud->reserved >= r->v.qty);
    ud->active--;
    ud->reserved -= r->v.qty;
    d->stock.reserved -= r->v.qty;
    if (state == LD_RES_COMMITTED) {
        ud->bought += r->v.qty;
        d->stock.sold += r->v.qty;
    } else {
        d->stock.available += r->v.qty;
    }
    ldi_ud_maybe_free(sm, ud_idx);
    ldi_drop_assert_p1(d);
    ldi_put_res(sm, r);
    ldi_stock_changed(sm, r->drop_idx);
    if (state == LD_RES_COMMITTED)
        ldi_emit_res(sm, r, LD_EVENT_ORDER_PAID, &r->v.order_id);
    else if (state == LD_RES_EXPIRED)
        ldi_emit_res(sm, r, LD_EVENT_RESERVATION_EXPIRED, NULL);
}

/* Records the order of reservation r. Room was checked by the caller. */
static uint32_t
order_create(ld_sm *sm, const ldi_res *r, ld_order_status status, const char *payment_ref)
{
    const ldi_drop *d = ldi_drop_at(sm, r->drop_idx);
    uint32_t idx;
    LDI_MUST(ldi_table_reserve(&sm->order_index, 1));
    LDI_MUST(ldi_pool_alloc(&sm->orders, &idx));
    ld_order_view *o = ldi_order_at(sm, idx);
    o->id = ldi_order_id_derive(&r->v.id);
    LD_ASSERT(ldi_order_find(sm, &o->id) == LDI_NIL); /* 128-bit derived ids do not collide */
    o->drop_id = r->v.drop_id;
    o->user_id = r->v.user_id;
    o->reservation_id = r->v.id;
    o->qty = r->v.qty;
    o->total_minor = r->v.qty * d->spec.product.price_minor;
    memcpy(o->currency, d->spec.product.currency, sizeof o->currency);
    o->status = status;
    size_t ref_len = strnlen(payment_ref, LD_PAYMENT_REF_BYTES_MAX);
    memcpy(o->payment_ref, payment_ref, ref_len);
    o->payment_ref[ref_len] = '\0';
    o->created_at_ms = sm->now_ms;
    ldi_table_insert(&sm->order_index, ldi_table_hash(&o->id, 16), idx);
    ldi_put_order(sm, o);
    return idx;
}

/* True when one more order fits, counting the orders promised to payments in flight. */
static bool
order_room(const ld_sm *sm, uint32_t extra)
{
    return (uint64_t)sm->orders.live + sm->pays.live + extra <= sm->caps.orders;
}

/* Commits an active reservation: order PAID with payment_ref, stock sold. */
static uint32_t
res_checkout(ld_sm *sm, uint32_t res_idx, const char *payment_ref)
{
    ldi_res *r = ldi_res_at(sm, res_idx);
    uint32_t order_idx = order_create(sm, r, LD_ORDER_PAID, payment_ref);
    r->v.order_id = ldi_order_at(sm, order_idx)->id;
    res_close(sm, res_idx, LD_RES_COMMITTED);
    return order_idx;
}

/* The final result of a place_order whose payment is settled; a function of the reservation and
 * its order only, so FINISH_ORDER replays it identically. */
static void
finish_result(const ldi_res *r, const ld_order_view *order, ld_result *res)
{
    memset(res, 0, sizeof *res);
    if (r->v.state == LD_RES_COMMITTED)
        res->code = LD_OK;
    else if (r->v.state == LD_RES_RELEASED)
        ld_result_fail(res, LD_ERR_PAYMENT_DECLINED, "place_order: payment declined");
    else
        ld_result_fail(res, LD_ERR_RESERVATION_EXPIRED,
                       "place_order: reservation expired before the payment was approved");
    res->kind = LD_RESULT_ORDER;
    res->u.order = *order;
}

/* Settles the payment of a place_order: COMMITTED (approved), RELEASED (declined) or EXPIRED.
 * Stores the final result under its key and returns it in res. */
static void
payment_settle(ld_sm *sm, uint32_t res_idx, ld_reservation_state state, const char *payment_ref,
               ld_result *res)
{
    ldi_res *r = ldi_res_at(sm, res_idx);
    LD_ASSERT(r->pay_idx != LDI_NIL);
    uint32_t key_idx = ldi_payreq_at(sm, r->pay_idx)->key_idx;
    ldi_pool_free(&sm->pays, r->pay_idx);
    r->pay_idx = LDI_NIL;
    uint32_t order_idx;
    if (state == LD_RES_COMMITTED) {
        order_idx = res_checkout(sm, res_idx, payment_ref);
    } else {
        res_close(sm, res_idx, state);
        order_idx = order_create(sm, r, LD_ORDER_FAILED, payment_ref);
        ldi_emit_res(sm, r, LD_EVENT_ORDER_FAILED, &ldi_order_at(sm, order_idx)->id);
    }
    finish_result(r, ldi_order_at(sm, order_idx), res);
    ldi_key_finish(sm, key_idx, res);
}

void
ldi_expire_res(ld_sm *sm, uint32_t res_idx)
{
    ldi_res *r = ldi_res_at(sm, res_idx);
    LD_ASSERT(r->v.state == LD_RES_ACTIVE);
    LD_ASSERT(sm->now_ms >= r->v.expires_at_ms);
    if (r->pay_idx != LDI_NIL) {
        ld_result scratch;
        payment_settle(sm, res_idx, LD_RES_EXPIRED, "", &scratch);
        return;
    }
    res_close(sm, res_idx, LD_RES_EXPIRED);
}

void
ldi_res_delete(ld_sm *sm, uint32_t res_idx)
{
    LD_ASSERT(res_idx == sm->closed_head);
    ldi_res *r = ldi_res_at(sm, res_idx);
    LD_ASSERT(r->v.state != LD_RES_ACTIVE);
    ldi_closed_pop(sm);
    ldi_del_res(sm, r);
    ldi_table_remove(&sm->res_index, ldi_table_hash(&r->v.id, 16), res_idx);
    ldi_pool_free(&sm->res, res_idx);
}

/* ---- reserve and place_order ------------------------------------------------------------- */

/* The business checks of a reserve; on refusal fills res and returns false. */
static bool
reserve_allowed(ld_sm *sm, const ld_op *op, uint32_t *drop_idx_out, uint32_t *ud_idx_out,
                ld_result *res)
{
    const ld_op_reserve *r = &op->u.reserve;
    const char *name = ld_op_name(op->type);
    uint32_t drop_idx = ldi_drop_find(sm, &r->drop_id);
    if (drop_idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_DROP_NOT_FOUND, "%s: no such drop", name);
        return false;
    }
    const ldi_drop *d = ldi_drop_at(sm, drop_idx);
    ld_drop_status status = ldi_drop_status(d, sm->now_ms);
    if (status == LD_DROP_CANCELLED) {
        ld_result_fail(res, LD_ERR_DROP_CANCELLED, "%s: drop was cancelled", name);
        return false;
    }
    if (status == LD_DROP_UPCOMING) {
        ld_result_fail(res, LD_ERR_DROP_NOT_STARTED, "%s: drop starts at %lld ms", name,
                       (long long)d->spec.starts_at_ms);
        return false;
    }
    if (status == LD_DROP_ENDED) {
        ld_result_fail(res, LD_ERR_DROP_ENDED, "%s: drop ended at %lld ms", name,
                       (long long)d->spec.ends_at_ms);
        return false;
    }
    uint32_t ud_idx = ldi_ud_find(sm, &r->drop_id, &r->user_id);
    const ldi_ud *ud = ud_idx == LDI_NIL ? NULL : ldi_ud_at(sm, ud_idx);
    if (ud != NULL && ud->active >= LD_ACTIVE_RESERVATIONS_PER_USER_MAX) {
        ld_result_fail(res, LD_ERR_USER_LIMIT, "%s: %u active reservations per user", name,
                       LD_ACTIVE_RESERVATIONS_PER_USER_MAX);
        return false;
    }
    int64_t held = ud == NULL ? 0 : ud->reserved + ud->bought;
    if (d->spec.max_per_user > 0 && held + r->qty > d->spec.max_per_user) {
        ld_result_fail(res, LD_ERR_USER_LIMIT, "%s: limit %lld per user, %lld already held", name,
                       (long long)d->spec.max_per_user, (long long)held);
        return false;
    }
    if (r->qty > d->stock.available) {
        ld_result_fail(res, LD_ERR_SOLD_OUT, "%s: %lld requested, %lld available", name,
                       (long long)r->qty, (long long)d->stock.available);
        return false;
    }
    *drop_idx_out = drop_idx;
    *ud_idx_out = ud_idx;
    return true;
}

/* Makes room for one more reservation (and its counters, payment and order); evicts the oldest
 * retained reservation if the table is full. On refusal fills res (CAPACITY) and returns false. */
static bool
reserve_room(ld_sm *sm, const ld_op *op, uint32_t ud_idx, ld_result *res)
{
    const char *name = ld_op_name(op->type);
    const char *what = NULL;
    if (ldi_pool_full(&sm->res) && sm->closed_head == LDI_NIL)
        what = "reservations";
    else if (ud_idx == LDI_NIL && ldi_pool_full(&sm->uds))
        what = "(drop, user) counters";
    else if (op->type == LD_OP_PLACE_ORDER && ldi_pool_full(&sm->pays))
        what = "payments in flight";
    else if (op->type == LD_OP_PLACE_ORDER && !order_room(sm, 1))
        what = "orders";
    if (what != NULL) {
        ld_result_fail(res, LD_ERR_CAPACITY, "%s: the shard holds its maximum of %s", name, what);
        return false;
    }
    if (ldi_pool_full(&sm->res))
        ldi_res_delete(sm, sm->closed_head);
    LDI_MUST(ldi_table_reserve(&sm->res_index, 1));
    if (ud_idx == LDI_NIL)
        LDI_MUST(ldi_table_reserve(&sm->ud_index, 1));
    LDI_MUST(ldi_heap_reserve(sm, 1));
    return true;
}

/* Creates the reservation (stock moves from available to reserved) and returns its index. */
static uint32_t
res_open(ld_sm *sm, const ld_op *op, uint32_t drop_idx, uint32_t ud_idx, const ld_id *id)
{
    const ld_op_reserve *rq = &op->u.reserve;
    ldi_drop *d = ldi_drop_at(sm, drop_idx);
    uint32_t idx;
    LDI_MUST(ldi_pool_alloc(&sm->res, &idx));
    if (ud_idx == LDI_NIL) {
        ld_err err = ldi_ud_get(sm, &rq->drop_id, &rq->user_id, &ud_idx);
        LD_ASSERT(err == LD_OK); /* reserve_room() made room */
    }
    ldi_res *r = ldi_res_at(sm, idx);
    r->v.id = *id;
    r->v.drop_id = rq->drop_id;
    r->v.user_id = rq->user_id;
    r->v.qty = rq->qty;
    r->v.expires_at_ms = sm->now_ms + d->spec.reservation_ttl_ms;
    r->v.state = LD_RES_ACTIVE;
    r->v.created_at_ms = sm->now_ms;
    r->drop_idx = drop_idx;
    r->pay_idx = LDI_NIL;
    r->next = LDI_NIL;
    r->origin = op->type == LD_OP_PLACE_ORDER ? LDI_ORIGIN_PLACE_ORDER : LDI_ORIGIN_RESERVE;
    ldi_table_insert(&sm->res_index, ldi_table_hash(id, 16), idx);
    ldi_heap_push(sm, idx);
    ldi_ud *ud = ldi_ud_at(sm, ud_idx);
    ud->reserved += rq->qty;
    ud->active++;
    int64_t available_before = d->stock.available;
    d->stock.available -= rq->qty;
    d->stock.reserved += rq->qty;
    ldi_drop_assert_p1(d);
    ldi_stock_changed(sm, drop_idx);
    ldi_stock_fell(sm, drop_idx, available_before);
    return idx;
}

/* Links a place_order's reservation to its payment and builds the needs_payment result. */
static void
payment_start(ld_sm *sm, uint32_t res_idx, uint32_t key_idx, const ld_op_reserve *rq,
              ld_result *res)
{
    uint32_t pay_idx;
    LDI_MUST(ldi_pool_alloc(&sm->pays, &pay_idx));
    ldi_payreq *pay = ldi_payreq_at(sm, pay_idx);
    pay->res_idx = res_idx;
    pay->key_idx = key_idx;
    size_t len = strnlen(rq->payment_method, LD_PAYMENT_METHOD_BYTES_MAX);
    memcpy(pay->payment_method, rq->payment_method, len);
    pay->payment_method[len] = '\0';
    ldi_res *r = ldi_res_at(sm, res_idx);
    r->pay_idx = pay_idx;
    const ldi_drop *d = ldi_drop_at(sm, r->drop_idx);
    res->code = LD_OK;
    res->kind = LD_RESULT_RESERVATION;
    ldi_res_view(r, &res->u.reservation);
    res->needs_payment = true;
    res->payment.reservation_id = r->v.id;
    res->payment.amount_minor = r->v.qty * d->spec.product.price_minor;
    memcpy(res->payment.currency, d->spec.product.currency, sizeof res->payment.currency);
    memcpy(res->payment.payment_method, pay->payment_method, sizeof res->payment.payment_method);
    res->payment.expires_at_ms = r->v.expires_at_ms;
}

void
ldi_reserve(ld_sm *sm, const ld_op *op, ld_result *res)
{
    const ld_op_reserve *rq = &op->u.reserve;
    LD_ASSERT(rq->qty >= 1 && rq->qty <= LD_QTY_MAX);
    LD_ASSERT(!ld_id_is_zero(&rq->drop_id) && !ld_id_is_zero(&rq->user_id));
    const char *name = ld_op_name(op->type);
    if (!ldi_principal_is(op, &rq->user_id, "the user the reservation is for", res))
        return;
    ldi_key_id key_id;
    uint8_t hash[16];
    ldi_key_id_of(rq, &key_id);
    ldi_request_hash(op, hash);
    uint64_t key_hash;
    uint32_t key_idx = ldi_key_lookup(sm, &key_id, &key_hash);
    if (key_idx != LDI_NIL) {
        const ldi_idem *k = ldi_key_at(sm, key_idx);
        if (memcmp(k->req_hash, hash, sizeof hash) != 0)
            ld_result_fail(res, LD_ERR_IDEMPOTENCY_KEY_REUSED,
                           "%s: idempotency key was used for a different request", name);
        else if (k->status == LDI_KEY_IN_PROGRESS)
            ld_result_fail(res, LD_ERR_IN_PROGRESS, "%s: the first request is still running", name);
        else
            ldi_key_result(k, res);
        return;
    }
    if (ldi_key_room(sm) != LD_OK) {
        ld_result_fail(res, LD_ERR_CAPACITY, "%s: the shard holds its maximum of keys", name);
        return;
    }
    uint32_t drop_idx, ud_idx;
    if (!reserve_allowed(sm, op, &drop_idx, &ud_idx, res)) {
        ldi_key_create(sm, &key_id, key_hash, hash, LDI_KEY_DONE, res);
        return;
    }
    ld_id id = ldi_res_id_derive(&sm->cur_id_seed, sm->cur_op, sm->cur_index);
    if (ldi_res_find(sm, &id) != LDI_NIL) { /* a 128-bit collision: never seen, never stored */
        ld_result_fail(res, LD_ERR_INTERNAL, "%s: derived reservation id collides", name);
        return;
    }
    if (!reserve_room(sm, op, ud_idx, res))
        return;
    uint32_t res_idx = res_open(sm, op, drop_idx, ud_idx, &id);
    if (op->type == LD_OP_RESERVE) {
        res->code = LD_OK;
        res->kind = LD_RESULT_RESERVATION;
        ldi_res_view(ldi_res_at(sm, res_idx), &res->u.reservation);
        ldi_key_create(sm, &key_id, key_hash, hash, LDI_KEY_DONE, res);
    } else {
        key_idx = ldi_key_create(sm, &key_id, key_hash, hash, LDI_KEY_IN_PROGRESS, NULL);
        payment_start(sm, res_idx, key_idx, rq, res);
    }
    ldi_put_res(sm, ldi_res_at(sm, res_idx));
}

/* ---- commit, release, finish_order ------------------------------------------------------- */

/* Shared refusals of commit and release for a reservation that is not active, or whose payment
 * is running, or whose time is up (which expires it now). Returns true when it answered. */
static bool
res_refused(ld_sm *sm, uint32_t res_idx, const char *name, ld_result *res)
{
    ldi_res *r = ldi_res_at(sm, res_idx);
    if (r->v.state == LD_RES_EXPIRED) {
        ld_result_fail(res, LD_ERR_RESERVATION_EXPIRED, "%s: reservation expired", name);
        return true;
    }
    if (r->v.state != LD_RES_ACTIVE)
        return false;
    if (r->pay_idx != LDI_NIL) {
        ld_result_fail(res, LD_ERR_IN_PROGRESS, "%s: a place_order payment is running", name);
        return true;
    }
    if (sm->now_ms >= r->v.expires_at_ms) {
        ldi_expire_res(sm, res_idx);
        ld_result_fail(res, LD_ERR_RESERVATION_EXPIRED, "%s: reservation expired", name);
        return true;
    }
    return false;
}

void
ldi_checkout(ld_sm *sm, const ld_op *cop, ld_result *res)
{
    const ld_op_checkout *op = &cop->u.checkout;
    LD_ASSERT(!ld_id_is_zero(&op->reservation_id));
    uint32_t res_idx = ldi_res_find(sm, &op->reservation_id);
    if (res_idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_RESERVATION_NOT_FOUND, "commit: no such reservation");
        return;
    }
    if (!ldi_principal_is(cop, &ldi_res_at(sm, res_idx)->v.user_id, "the reservation's user", res))
        return;
    if (res_refused(sm, res_idx, "commit", res))
        return;
    const ldi_res *r = ldi_res_at(sm, res_idx);
    uint32_t order_idx;
    if (r->v.state == LD_RES_RELEASED) {
        ld_result_fail(res, LD_ERR_RESERVATION_CLOSED, "commit: reservation was released");
        return;
    }
    if (r->v.state == LD_RES_COMMITTED) {
        order_idx = ldi_order_find(sm, &r->v.order_id);
        LD_ASSERT(order_idx != LDI_NIL);
        /* The reservation is the commit's idempotency key: the retry of the same commit (same
         * payment reference) gets the order; another reference is another request. */
        const ld_order_view *o = ldi_order_at(sm, order_idx);
        if (strncmp(o->payment_ref, op->payment_ref, sizeof o->payment_ref) != 0) {
            ld_result_fail(res, LD_ERR_IDEMPOTENCY_KEY_REUSED,
                           "commit: reservation was committed with another payment reference");
            return;
        }
    } else if (!order_room(sm, 1)) {
        ld_result_fail(res, LD_ERR_CAPACITY, "commit: the shard holds its maximum of orders");
        return;
    } else {
        order_idx = res_checkout(sm, res_idx, op->payment_ref);
    }
    res->code = LD_OK;
    res->kind = LD_RESULT_ORDER;
    res->u.order = *ldi_order_at(sm, order_idx);
}

void
ldi_release(ld_sm *sm, const ld_op *op, ld_result *res)
{
    const ld_id *res_id = &op->u.id;
    LD_ASSERT(!ld_id_is_zero(res_id));
    uint32_t res_idx = ldi_res_find(sm, res_id);
    if (res_idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_RESERVATION_NOT_FOUND, "release: no such reservation");
        return;
    }
    if (!ldi_principal_is(op, &ldi_res_at(sm, res_idx)->v.user_id, "the reservation's user", res))
        return;
    /* A release makes sure the reservation holds no stock, so it is OK whenever that is already
     * true (released, expired, or expiring now), with the reservation's final state. */
    const ldi_res *r = ldi_res_at(sm, res_idx);
    if (r->v.state == LD_RES_COMMITTED) {
        ld_result_fail(res, LD_ERR_RESERVATION_CLOSED, "release: reservation is committed");
        return;
    }
    if (r->v.state == LD_RES_ACTIVE && r->pay_idx != LDI_NIL) {
        ld_result_fail(res, LD_ERR_IN_PROGRESS, "release: a place_order payment is running");
        return;
    }
    if (r->v.state == LD_RES_ACTIVE && sm->now_ms >= r->v.expires_at_ms)
        ldi_expire_res(sm, res_idx);
    else if (r->v.state == LD_RES_ACTIVE)
        res_close(sm, res_idx, LD_RES_RELEASED);
    LD_ASSERT(r->v.state == LD_RES_RELEASED || r->v.state == LD_RES_EXPIRED);
    res->code = LD_OK;
    res->kind = LD_RESULT_RESERVATION;
    ldi_res_view(r, &res->u.reservation);
}

void
ldi_finish_order(ld_sm *sm, const ld_op *o, ld_result *res)
{
    const ld_op_finish_order *op = &o->u.finish;
    LD_ASSERT(!ld_id_is_zero(&op->reservation_id));
    uint32_t res_idx = ldi_res_find(sm, &op->reservation_id);
    if (res_idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_RESERVATION_NOT_FOUND, "finish_order: no such reservation");
        return;
    }
    const ldi_res *r = ldi_res_at(sm, res_idx);
    if (r->origin != LDI_ORIGIN_PLACE_ORDER) {
        ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                       "finish_order: reservation was not made by place_order");
        return;
    }
    if (r->pay_idx == LDI_NIL) { /* settled already: answer as the settlement did */
        ld_id order_id = ldi_order_id_derive(&r->v.id);
        uint32_t order_idx = ldi_order_find(sm, &order_id);
        LD_ASSERT(order_idx != LDI_NIL);
        finish_result(r, ldi_order_at(sm, order_idx), res);
        return;
    }
    ld_reservation_state state = LD_RES_RELEASED;
    if (sm->now_ms >= r->v.expires_at_ms)
        state = LD_RES_EXPIRED;
    else if (op->approved)
        state = LD_RES_COMMITTED;
    payment_settle(sm, res_idx, state, op->payment_ref, res);
}

/* ---- reads ------------------------------------------------------------------------------- */

void
ldi_get_drop(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    uint32_t idx;
    if ((idx = ldi_drop_find(sm, &op->u.id)) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_DROP_NOT_FOUND, "get_drop: no such drop");
        return;
    }
    res->kind = LD_RESULT_DROP;
    ldi_drop_view(ldi_drop_at(sm, idx), now_ms, &res->u.drop);
}

void
ldi_get_reservation(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    (void)now_ms;
    uint32_t idx;
    if ((idx = ldi_res_find(sm, &op->u.id)) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_RESERVATION_NOT_FOUND, "get_reservation: no such id");
        return;
    }
    res->kind = LD_RESULT_RESERVATION;
    ldi_res_view(ldi_res_at(sm, idx), &res->u.reservation);
}

void
ldi_get_order(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    (void)now_ms;
    uint32_t idx;
    if ((idx = ldi_order_find(sm, &op->u.id)) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_ORDER_NOT_FOUND, "get_order: no such order");
        return;
    }
    res->kind = LD_RESULT_ORDER;
    res->u.order = *ldi_order_at(sm, idx);
}
