/*
 * check.c -- ld_sm_check(): recompute every derived number from the records and compare.
 *
 * O(state) and allocation-heavy by design; for tests, the simulator and debug builds. Any
 * mismatch is a bug in the state machine, hence LD_ASSERT. ldi_sm_check_store() also compares
 * the store's index records ('A', 'B', 'E', 'F', 'G', 'H', 'Q', 'T') with memory; it needs every
 * applied write to be durable (tests sync first).
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sm_int.h"

static void
check_drops_and_uds(const ld_sm *sm)
{
    /* Recomputed sums, indexed like the pools. */
    int64_t *reserved = calloc(sm->drops.high + 1, sizeof *reserved);
    int64_t *sold = calloc(sm->drops.high + 1, sizeof *sold);
    int64_t *ud_res = calloc(sm->uds.high + 1, sizeof *ud_res);
    int64_t *ud_bought = calloc(sm->uds.high + 1, sizeof *ud_bought);
    uint32_t *ud_active = calloc(sm->uds.high + 1, sizeof *ud_active);
    LD_ASSERT(reserved && sold && ud_res && ud_bought && ud_active);
    for (uint32_t i = 0; i < sm->res.high; i++) {
        if (!ldi_pool_used(&sm->res, i))
            continue;
        const ldi_res *r = ldi_res_at(sm, i);
        LD_ASSERT(ldi_drop_find(sm, &r->v.drop_id) == r->drop_idx);
        if (r->v.state != LD_RES_ACTIVE)
            continue;
        uint32_t ud = ldi_ud_find(sm, &r->v.drop_id, &r->v.user_id);
        LD_ASSERT(ud != LDI_NIL);
        reserved[r->drop_idx] += r->v.qty;
        ud_res[ud] += r->v.qty;
        ud_active[ud]++;
    }
    for (uint32_t i = 0; i < sm->orders.high; i++) {
        if (!ldi_pool_used(&sm->orders, i))
            continue;
        const ld_order_view *o = ldi_order_at(sm, i);
        uint32_t d = ldi_drop_find(sm, &o->drop_id);
        LD_ASSERT(d != LDI_NIL);
        if (o->status != LD_ORDER_PAID)
            continue;
        uint32_t ud = ldi_ud_find(sm, &o->drop_id, &o->user_id);
        LD_ASSERT(ud != LDI_NIL);
        sold[d] += o->qty;
        ud_bought[ud] += o->qty;
    }
    for (uint32_t i = 0; i < sm->drops.high; i++) {
        if (!ldi_pool_used(&sm->drops, i))
            continue;
        const ldi_drop *d = ldi_drop_at(sm, i);
        ldi_drop_assert_p1(d);
        LD_ASSERT(d->stock.reserved == reserved[i]);
        LD_ASSERT(d->stock.sold == sold[i]);
        LD_ASSERT(ldi_drop_find(sm, &d->spec.id) == i);
    }
    for (uint32_t i = 0; i < sm->uds.high; i++) {
        if (!ldi_pool_used(&sm->uds, i))
            continue;
        const ldi_ud *ud = ldi_ud_at(sm, i);
        LD_ASSERT(ud->reserved == ud_res[i] && ud->bought == ud_bought[i]);
        LD_ASSERT(ud->active == ud_active[i]);
        LD_ASSERT(ud->reserved + ud->bought > 0); /* all-zero counters are freed */
        LD_ASSERT(ud->active <= LD_ACTIVE_RESERVATIONS_PER_USER_MAX);
    }
    free(reserved);
    free(sold);
    free(ud_res);
    free(ud_bought);
    free(ud_active);
}

static void
check_reservations(const ld_sm *sm)
{
    uint32_t active = 0, closed = 0, awaiting = 0;
    for (uint32_t i = 0; i < sm->res.high; i++) {
        if (!ldi_pool_used(&sm->res, i))
            continue;
        const ldi_res *r = ldi_res_at(sm, i);
        LD_ASSERT(ldi_res_find(sm, &r->v.id) == i);
        if (r->v.state == LD_RES_ACTIVE) {
            active++;
            LD_ASSERT(r->heap_pos < sm->heap_len && sm->heap[r->heap_pos] == i);
        } else {
            closed++;
            LD_ASSERT(r->pay_idx == LDI_NIL);
        }
        if (r->v.state == LD_RES_COMMITTED) {
            uint32_t o = ldi_order_find(sm, &r->v.order_id);
            LD_ASSERT(o != LDI_NIL && ldi_order_at(sm, o)->status == LD_ORDER_PAID);
        }
        if (r->pay_idx != LDI_NIL) {
            awaiting++;
            const ldi_payreq *pay = ldi_payreq_at(sm, r->pay_idx);
            LD_ASSERT(pay->res_idx == i);
            LD_ASSERT(ldi_key_at(sm, pay->key_idx)->status == LDI_KEY_IN_PROGRESS);
        }
    }
    LD_ASSERT(active == sm->heap_len);
    LD_ASSERT(awaiting == sm->pays.live);
    for (uint32_t pos = 1; pos < sm->heap_len; pos++)
        LD_ASSERT(!ldi_heap_less(sm, sm->heap[pos], sm->heap[(pos - 1) / 2]));
    uint32_t walked = 0;
    uint64_t last_seq = 0;
    for (uint32_t i = sm->closed_head; i != LDI_NIL; i = ldi_res_at(sm, i)->next) {
        const ldi_res *r = ldi_res_at(sm, i);
        LD_ASSERT(r->v.state != LD_RES_ACTIVE && r->seq > last_seq && r->seq < sm->next_seq);
        last_seq = r->seq;
        walked++;
        LD_ASSERT(walked <= closed);
    }
    LD_ASSERT(walked == closed);
    LD_ASSERT(sm->res_index.count == sm->res.live);
    LD_ASSERT(sm->order_index.count == sm->orders.live);
    LD_ASSERT(sm->drop_index.count == sm->drops.live);
    LD_ASSERT(sm->ud_index.count == sm->uds.live);
    LD_ASSERT((uint64_t)sm->orders.live + sm->pays.live <= sm->caps.orders);
}

static void
check_keys(const ld_sm *sm)
{
    uint32_t walked = 0, in_progress = 0, prev = LDI_NIL;
    uint64_t last_seq = 0;
    int64_t last_ms = INT64_MIN;
    for (uint32_t i = sm->key_head; i != LDI_NIL; i = ldi_key_at(sm, i)->next) {
        const ldi_idem *k = ldi_key_at(sm, i);
        LD_ASSERT(k->prev == prev);
        LD_ASSERT(k->seq > last_seq && k->seq < sm->next_seq);
        LD_ASSERT(k->created_at_ms >= last_ms);
        LD_ASSERT(ldi_key_find(sm, &k->id) == i);
        in_progress += k->status == LDI_KEY_IN_PROGRESS;
        last_seq = k->seq;
        last_ms = k->created_at_ms;
        prev = i;
        walked++;
        LD_ASSERT(walked <= sm->keys.live);
    }
    LD_ASSERT(prev == sm->key_tail);
    LD_ASSERT(walked == sm->keys.live);
    LD_ASSERT(sm->key_index.count == sm->keys.live);
    LD_ASSERT(in_progress == sm->pays.live);
}

/* Users, creators (both indexes), products. */
static void
check_catalog(const ld_sm *sm)
{
    for (uint32_t i = 0; i < sm->users.high; i++)
        if (ldi_pool_used(&sm->users, i))
            LD_ASSERT(ldi_user_find(sm, &ldi_user_at(sm, i)->id) == i);
    for (uint32_t i = 0; i < sm->creators.high; i++) {
        if (!ldi_pool_used(&sm->creators, i))
            continue;
        const ldi_creator *c = ldi_creator_at(sm, i);
        LD_ASSERT(ldi_creator_find(sm, &c->spec.id) == i);
        LD_ASSERT(ldi_creator_find_handle(sm, c->spec.handle) == i);
        LD_ASSERT(ldi_topic_find(sm, LD_TOPIC_CREATOR, &c->spec.id) != LDI_NIL);
    }
    for (uint32_t i = 0; i < sm->products.high; i++) {
        if (!ldi_pool_used(&sm->products, i))
            continue;
        const ldi_product *p = ldi_product_at(sm, i);
        LD_ASSERT(ldi_product_find(sm, &p->spec.id) == i);
        LD_ASSERT(ldi_creator_find(sm, &p->spec.creator_id) != LDI_NIL);
        LD_ASSERT(p->updated_at_ms >= p->created_at_ms);
    }
    LD_ASSERT(sm->user_index.count == sm->users.live);
    LD_ASSERT(sm->creator_index.count == sm->creators.live);
    LD_ASSERT(sm->handle_index.count == sm->creators.live);
    LD_ASSERT(sm->product_index.count == sm->products.live);
}

/* Follower counts equal the edges, fans count their edges and list their following entries. */
static void
check_follows(const ld_sm *sm)
{
    int64_t *followers = calloc(sm->creators.high + 1, sizeof *followers);
    uint32_t *fan_edges = calloc(sm->fans.high + 1, sizeof *fan_edges);
    LD_ASSERT(followers != NULL && fan_edges != NULL);
    for (uint32_t i = 0; i < sm->edges.high; i++) {
        if (!ldi_pool_used(&sm->edges, i))
            continue;
        const ldi_edge *e = ldi_edge_at(sm, i);
        LD_ASSERT(ldi_edge_find(sm, &e->user_id, &e->creator_id) == i);
        uint32_t c = ldi_creator_find(sm, &e->creator_id), fan = ldi_fan_find(sm, &e->user_id);
        LD_ASSERT(c != LDI_NIL && fan != LDI_NIL);
        LD_ASSERT(!ld_id_eq(&e->user_id, &e->creator_id));
        LD_ASSERT(e->seq >= 1 && e->seq <= sm->last_event_seq);
        followers[c]++;
        fan_edges[fan]++;
    }
    for (uint32_t i = 0; i < sm->creators.high; i++)
        if (ldi_pool_used(&sm->creators, i))
            LD_ASSERT(ldi_creator_at(sm, i)->follower_count == followers[i]);
    uint32_t listed = 0;
    for (uint32_t i = 0; i < sm->fans.high; i++) {
        if (!ldi_pool_used(&sm->fans, i))
            continue;
        const ldi_fan *fan = ldi_fan_at(sm, i);
        LD_ASSERT(ldi_fan_find(sm, &fan->user_id) == i);
        LD_ASSERT(fan->edges == fan_edges[i]);
        LD_ASSERT(fan->edges + fan->following > 0); /* empty fans are freed */
        uint32_t walked = 0, prev = LDI_NIL;
        for (uint32_t f = fan->head; f != LDI_NIL; f = ldi_fol_at(sm, f)->next) {
            const ldi_fol *fol = ldi_fol_at(sm, f);
            LD_ASSERT(fol->prev == prev && ld_id_eq(&fol->user_id, &fan->user_id));
            LD_ASSERT(ldi_fol_find(sm, &fol->user_id, &fol->creator_id) == f);
            prev = f;
            walked++;
            LD_ASSERT(walked <= fan->following);
        }
        LD_ASSERT(walked == fan->following);
        listed += walked;
    }
    LD_ASSERT(listed == sm->fols.live);
    LD_ASSERT(sm->edge_index.count == sm->edges.live);
    LD_ASSERT(sm->fol_index.count == sm->fols.live);
    LD_ASSERT(sm->fan_index.count == sm->fans.live);
    free(followers);
    free(fan_edges);
}

/* Topics: counters and floors against the retained-event ring. */
static void
check_events(const ld_sm *sm)
{
    LD_ASSERT(sm->first_event_seq >= 1 && sm->first_event_seq <= sm->last_event_seq + 1);
    LD_ASSERT(sm->last_event_seq - sm->first_event_seq + 1 <= sm->ring_cap ||
              sm->last_event_seq + 1 == sm->first_event_seq);
    LD_ASSERT(sm->dirty_drops_len == 0 && sm->dirty_topics_len == 0);
    uint64_t *refs = calloc(sm->topics.high + 1, sizeof *refs);
    LD_ASSERT(refs != NULL);
    for (uint64_t seq = sm->first_event_seq; seq <= sm->last_event_seq; seq++) {
        const ldi_ev_slot *slot = ldi_ring_at(sm, seq);
        for (unsigned k = 0; k < 3; k++) {
            if (slot->topic[k] == LDI_NIL)
                continue;
            LD_ASSERT(ldi_topic_at(sm, slot->topic[k])->kind == k + 1);
            refs[slot->topic[k]]++;
        }
    }
    for (uint32_t i = 0; i < sm->topics.high; i++) {
        if (!ldi_pool_used(&sm->topics, i))
            continue;
        const ldi_topic *t = ldi_topic_at(sm, i);
        LD_ASSERT(ldi_topic_find(sm, t->kind, &t->id) == i);
        LD_ASSERT(!t->dirty);
        LD_ASSERT(t->floor >= 1 && t->floor <= t->count + 1);
        LD_ASSERT(refs[i] == t->count + 1 - t->floor);
        LD_ASSERT(t->last_notable <= sm->last_event_seq);
    }
    LD_ASSERT(sm->topic_index.count == sm->topics.live);
    free(refs);
}

/* Announced statuses and the boundary heap. */
static void
check_drop_status(const ld_sm *sm)
{
    uint32_t in_heap = 0;
    for (uint32_t i = 0; i < sm->drops.high; i++) {
        if (!ldi_pool_used(&sm->drops, i))
            continue;
        const ldi_drop *d = ldi_drop_at(sm, i);
        LD_ASSERT(!d->stock_dirty);
        /* Drops of a version-1 store have no topics until their first event: not asserted. */
        if (d->announced == LD_DROP_CANCELLED) {
            LD_ASSERT(d->cancelled_at_ms < d->spec.starts_at_ms);
            LD_ASSERT(d->stock.reserved == 0 && d->stock.sold == 0);
        } else {
            LD_ASSERT(d->cancelled_at_ms == 0);
        }
        if (d->announced == LD_DROP_LIVE || d->announced == LD_DROP_ENDED)
            LD_ASSERT(d->spec.starts_at_ms <= sm->last_ts_ms);
        if (d->announced == LD_DROP_ENDED)
            LD_ASSERT(d->spec.ends_at_ms <= sm->last_ts_ms);
        if (d->low_stock_sent)
            LD_ASSERT(d->spec.low_stock_threshold > 0);
        if (ldi_drop_boundary(d) == INT64_MAX) {
            LD_ASSERT(d->dheap_pos == LDI_NIL);
            continue;
        }
        in_heap++;
        LD_ASSERT(d->dheap_pos < sm->dheap_len && sm->dheap[d->dheap_pos] == i);
    }
    LD_ASSERT(in_heap == sm->dheap_len);
    for (uint32_t pos = 1; pos < sm->dheap_len; pos++)
        LD_ASSERT(!ldi_dheap_less(sm, sm->dheap[pos], sm->dheap[(pos - 1) / 2]));
}

void
ld_sm_check(const ld_sm *sm)
{
    LD_ASSERT(sm != NULL);
    check_drops_and_uds(sm);
    check_reservations(sm);
    check_keys(sm);
    check_catalog(sm);
    check_follows(sm);
    check_events(sm);
    check_drop_status(sm);
}

/* ---- the store's index records ----------------------------------------------------------- */

typedef struct store_check {
    const ld_sm *sm;
    uint64_t count;
} store_check;

static ld_err
browse_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    uint64_t sort_key;
    ld_id id;
    LD_ASSERT(ldi_rec_list_key_split(key, key_len, LDI_REC_BROWSE, 1, &sort_key, &id));
    LD_ASSERT(ldi_rec_marker_decode(val, val_len));
    uint32_t d = ldi_drop_find(sc->sm, &id);
    LD_ASSERT(d != LDI_NIL);
    LD_ASSERT(((const uint8_t *)key)[1] == ldi_drop_at(sc->sm, d)->announced);
    LD_ASSERT(sort_key == ldi_browse_sort_key(ldi_drop_at(sc->sm, d)));
    sc->count++;
    return LD_OK;
}

static ld_err
products_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    uint64_t sort_key;
    ld_id id;
    LD_ASSERT(ldi_rec_list_key_split(key, key_len, LDI_REC_PRODUCTS, 16, &sort_key, &id));
    LD_ASSERT(ldi_rec_marker_decode(val, val_len));
    uint32_t p = ldi_product_find(sc->sm, &id);
    LD_ASSERT(p != LDI_NIL);
    const ldi_product *prod = ldi_product_at(sc->sm, p);
    LD_ASSERT(memcmp(prod->spec.creator_id.bytes, (const uint8_t *)key + 1, 16) == 0);
    LD_ASSERT(sort_key == ~(uint64_t)prod->created_at_ms);
    sc->count++;
    return LD_OK;
}

static ld_err
edge_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    ldi_edge e;
    LD_ASSERT(ldi_rec_edge_decode(key, key_len, val, val_len, &e));
    uint32_t i = ldi_edge_find(sc->sm, &e.user_id, &e.creator_id);
    LD_ASSERT(i != LDI_NIL);
    LD_ASSERT(ldi_edge_at(sc->sm, i)->since_ms == e.since_ms);
    LD_ASSERT(ldi_edge_at(sc->sm, i)->seq == e.seq);
    sc->count++;
    return LD_OK;
}

static ld_err
fol_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    ldi_fol f;
    char handle[LD_HANDLE_BYTES_MAX + 1];
    LD_ASSERT(ldi_rec_fol_decode(key, key_len, val, val_len, &f, handle));
    uint32_t i = ldi_fol_find(sc->sm, &f.user_id, &f.creator_id);
    LD_ASSERT(i != LDI_NIL);
    LD_ASSERT(ldi_fol_at(sc->sm, i)->at_ms == f.at_ms && ldi_fol_at(sc->sm, i)->seq == f.seq);
    sc->count++;
    return LD_OK;
}

static ld_err
topic_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    ldi_topic t;
    LD_ASSERT(ldi_rec_topic_decode(key, key_len, val, val_len, &t));
    uint32_t i = ldi_topic_find(sc->sm, t.kind, &t.id);
    LD_ASSERT(i != LDI_NIL);
    LD_ASSERT(ldi_topic_at(sc->sm, i)->count == t.count);
    LD_ASSERT(ldi_topic_at(sc->sm, i)->last_notable == t.last_notable);
    sc->count++;
    return LD_OK;
}

static ld_err
event_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    ld_event_view ev;
    LD_ASSERT(ldi_rec_event_decode(key, key_len, val, val_len, &ev));
    LD_ASSERT(ev.seq == sc->sm->first_event_seq + sc->count); /* dense */
    const ldi_ev_slot *slot = ldi_ring_at(sc->sm, ev.seq);
    LD_ASSERT(slot->type == ev.type);
    for (unsigned k = 0; k < 3; k++)
        LD_ASSERT((slot->topic[k] == LDI_NIL) == (ev.topic_seq[k + 1] == 0));
    sc->count++;
    return LD_OK;
}

static ld_err
tindex_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    const uint8_t *k = key;
    uint64_t seq;
    LD_ASSERT(key_len == 2 + 16 + 8 && ldi_rec_u64_decode(val, val_len, &seq));
    ld_id id;
    memcpy(id.bytes, k + 2, 16);
    uint32_t t = ldi_topic_find(sc->sm, k[1], &id);
    LD_ASSERT(t != LDI_NIL);
    uint64_t topic_seq = ldi_be64_get(k + 18);
    LD_ASSERT(topic_seq >= ldi_topic_at(sc->sm, t)->floor);
    LD_ASSERT(topic_seq <= ldi_topic_at(sc->sm, t)->count);
    LD_ASSERT(seq >= sc->sm->first_event_seq && seq <= sc->sm->last_event_seq);
    LD_ASSERT(ldi_ring_at(sc->sm, seq)->topic[k[1] - 1] == t);
    sc->count++;
    return LD_OK;
}

static ld_err
notable_rec_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    store_check *sc = arg;
    const uint8_t *k = key;
    LD_ASSERT(key_len == 2 + 16 + 8 && ldi_rec_marker_decode(val, val_len));
    ld_id id;
    memcpy(id.bytes, k + 2, 16);
    uint32_t t = ldi_topic_find(sc->sm, k[1], &id);
    uint64_t seq = ldi_be64_get(k + 18);
    LD_ASSERT(t != LDI_NIL);
    LD_ASSERT(seq >= sc->sm->first_event_seq && seq <= sc->sm->last_event_seq);
    const ldi_ev_slot *slot = ldi_ring_at(sc->sm, seq);
    LD_ASSERT(slot->topic[k[1] - 1] == t && ldi_event_notable(slot->type, k[1]));
    sc->count++;
    return LD_OK;
}

static uint64_t
scan_count(const ld_sm *sm, uint8_t type, ld_store_scan_cb cb)
{
    store_check sc = {.sm = sm};
    LD_ASSERT(sm->store->ops->scan(sm->store->impl, &type, 1, cb, &sc) == LD_OK);
    return sc.count;
}

void
ldi_sm_check_store(const ld_sm *sm)
{
    LD_ASSERT(sm != NULL);
    LD_ASSERT(scan_count(sm, LDI_REC_BROWSE, browse_rec_cb) == sm->drops.live);
    LD_ASSERT(scan_count(sm, LDI_REC_PRODUCTS, products_rec_cb) == sm->products.live);
    LD_ASSERT(scan_count(sm, LDI_REC_FOLLOWER, edge_rec_cb) == sm->edges.live);
    LD_ASSERT(scan_count(sm, LDI_REC_FOLLOWING, fol_rec_cb) == sm->fols.live);
    LD_ASSERT(scan_count(sm, LDI_REC_TOPIC, topic_rec_cb) == sm->topics.live);
    LD_ASSERT(scan_count(sm, LDI_REC_EVENT, event_rec_cb) ==
              sm->last_event_seq + 1 - sm->first_event_seq);
    uint64_t tindex = 0, notable = 0;
    for (uint32_t i = 0; i < sm->topics.high; i++)
        if (ldi_pool_used(&sm->topics, i))
            tindex += ldi_topic_at(sm, i)->count + 1 - ldi_topic_at(sm, i)->floor;
    for (uint64_t seq = sm->first_event_seq; seq <= sm->last_event_seq; seq++) {
        const ldi_ev_slot *slot = ldi_ring_at(sm, seq);
        for (unsigned k = 0; k < 3; k++)
            notable += slot->topic[k] != LDI_NIL && ldi_event_notable(slot->type, (uint8_t)(k + 1));
    }
    LD_ASSERT(scan_count(sm, LDI_REC_TINDEX, tindex_rec_cb) == tindex);
    LD_ASSERT(scan_count(sm, LDI_REC_NOTABLE, notable_rec_cb) == notable);
}
