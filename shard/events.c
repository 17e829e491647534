/*
 * events.c -- the outbox (docs/ARCHITECTURE.md §10): topics, emission, the coalesced STOCK_CHANGED,
 * LOW_STOCK and SOLD_OUT, retention and the events of the batch.
 *
 * ldi_emit() gives an event the next seq (dense from 1) and, on each topic its type is on (see
 * ld_event_view in op.h), the topic's next topic_seq; it writes the event record 'E', one topic
 * index record 'T' per topic and, for feed-worthy events, an 'H' record (record.h). All of it goes
 * into the store in the same write as the change that caused it. Topic counters are written once
 * per batch ('A', at the end of the batch).
 *
 * Topics of drops and creators are created with them (a full topic table refuses the create with
 * LD_ERR_CAPACITY); a user's topic is created by its first event. If the topic table is full at
 * that moment the event is still written but is not on that user's topic (topic_seq 0): the table
 * holds LD_TOPICS_MAX topics, more than the shard's users, creators and drops together.
 *
 * Budget. A batch emits at most LDI_BATCH_EVENTS_MAX events, the coalesced STOCK_CHANGED
 * included: every op but TICK emits at most LDI_EV_PER_OP_MAX, and a TICK asks ldi_ev_room()
 * before each step, keeping that much room for every op after it. So the batch buffer never
 * overflows and what a TICK does depends only on the batch (deterministic).
 *
 * Retention. The newest caps.events_retain events are kept; a TICK trims older ones, oldest
 * first, at most LD_TICK_OPS_EXPIRE_MAX per TICK. Memory keeps, per retained event, its topics
 * (the ring), so trimming deletes 'E', 'T' and 'H' records without reading the store: events
 * leave a topic in topic_seq order, so the 'T' record to delete is always the topic's floor.
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sm_int.h"

/* ---- topics ------------------------------------------------------------------------------ */

static bool
topic_eq(const void *ctx, uint32_t idx, const void *key)
{
    const ldi_topic *t = ldi_topic_at(ctx, idx);
    const uint8_t *k = key;
    return t->kind == k[0] && memcmp(t->id.bytes, k + 1, LD_ID_BYTES) == 0;
}

static uint64_t
topic_hash(uint8_t kind, const ld_id *id, uint8_t key[1 + LD_ID_BYTES])
{
    key[0] = kind;
    memcpy(key + 1, id->bytes, LD_ID_BYTES);
    return ldi_table_hash(key, 1 + LD_ID_BYTES);
}

uint32_t
ldi_topic_find(const ld_sm *sm, uint8_t kind, const ld_id *id)
{
    uint8_t key[1 + LD_ID_BYTES];
    uint64_t hash = topic_hash(kind, id, key);
    return ldi_table_find(&sm->topic_index, hash, topic_eq, sm, key);
}

bool
ldi_topic_room(const ld_sm *sm, uint32_t n)
{
    return (uint64_t)sm->topics.live + n <= sm->caps.topics;
}

static void
put_topic(ld_sm *sm, const ldi_topic *t)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = ldi_rec_topic_key(t->kind, &t->id, key);
    sm->store->ops->put(sm->store->impl, key, key_len, val, ldi_rec_topic_encode(t, val));
}

/* Appends idx to a growable list of pool indexes (dirty drops, dirty topics). */
static void
list_push(uint32_t **list, uint32_t *len, uint32_t *cap, uint32_t idx)
{
    if (*len == *cap) {
        uint32_t n = *cap ? 2 * *cap : 64;
        uint32_t *p = realloc(*list, (size_t)n * sizeof *p);
        if (p == NULL)
            ldi_sm_oom(__FILE__, __LINE__);
        *list = p;
        *cap = n;
    }
    (*list)[(*len)++] = idx;
}

static void
topic_dirty(ld_sm *sm, uint32_t idx)
{
    ldi_topic *t = ldi_topic_at(sm, idx);
    if (t->dirty)
        return;
    t->dirty = true;
    list_push(&sm->dirty_topics, &sm->dirty_topics_len, &sm->dirty_topics_cap, idx);
}

ld_err
ldi_topic_get(ld_sm *sm, uint8_t kind, const ld_id *id, uint32_t *idx_out)
{
    LD_ASSERT(kind >= LD_TOPIC_CREATOR && kind <= LD_TOPIC_USER);
    LD_ASSERT(!ld_id_is_zero(id));
    uint32_t idx = ldi_topic_find(sm, kind, id);
    if (idx != LDI_NIL) {
        *idx_out = idx;
        return LD_OK;
    }
    ld_err err = ldi_table_reserve(&sm->topic_index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(&sm->topics, &idx);
    if (err == LD_ERR_NOMEM)
        ldi_sm_oom(__FILE__, __LINE__);
    if (err != LD_OK)
        return LD_ERR_CAPACITY;
    ldi_topic *t = ldi_topic_at(sm, idx);
    t->kind = kind;
    t->id = *id;
    t->floor = 1;
    uint8_t key[1 + LD_ID_BYTES];
    ldi_table_insert(&sm->topic_index, topic_hash(kind, id, key), idx);
    topic_dirty(sm, idx); /* written at the end of the batch, events or not */
    *idx_out = idx;
    return LD_OK;
}

ld_err
ldi_topic_insert_loaded(ld_sm *sm, const ldi_topic *topic)
{
    uint32_t idx;
    if (ldi_topic_find(sm, topic->kind, &topic->id) != LDI_NIL)
        return LD_ERR_STORAGE;
    ld_err err = ldi_table_reserve(&sm->topic_index, 1);
    if (err == LD_OK)
        err = ldi_pool_alloc(&sm->topics, &idx);
    if (err != LD_OK)
        return err == LD_ERR_NOMEM ? LD_ERR_NOMEM : LD_ERR_STORAGE;
    ldi_topic *t = ldi_topic_at(sm, idx);
    *t = *topic;
    t->dirty = false;
    t->floor = 0; /* set by the first retained event, or count + 1 at the end of recovery */
    uint8_t key[1 + LD_ID_BYTES];
    ldi_table_insert(&sm->topic_index, topic_hash(t->kind, &t->id, key), idx);
    return LD_OK;
}

/* ---- the retained-event ring ------------------------------------------------------------- */

static void
ring_grow(ld_sm *sm)
{
    uint64_t cap = sm->ring_cap ? 2 * sm->ring_cap : 1024;
    ldi_ev_slot *ring = malloc(cap * sizeof *ring);
    if (ring == NULL)
        ldi_sm_oom(__FILE__, __LINE__);
    for (uint64_t seq = sm->first_event_seq; seq < sm->last_event_seq; seq++)
        ring[seq & (cap - 1)] = sm->ring[seq & (sm->ring_cap - 1)];
    free(sm->ring);
    sm->ring = ring;
    sm->ring_cap = cap;
}

/* Records the topics of event sm->last_event_seq (just assigned). */
static void
ring_push(ld_sm *sm, const ldi_ev_slot *slot)
{
    LD_ASSERT(sm->last_event_seq >= sm->first_event_seq);
    if (sm->last_event_seq - sm->first_event_seq + 1 > sm->ring_cap)
        ring_grow(sm);
    sm->ring[sm->last_event_seq & (sm->ring_cap - 1)] = *slot;
}

const ldi_ev_slot *
ldi_ring_at(const ld_sm *sm, uint64_t seq)
{
    LD_ASSERT(seq >= sm->first_event_seq && seq <= sm->last_event_seq);
    return &sm->ring[seq & (sm->ring_cap - 1)];
}

ld_err
ldi_ring_load(ld_sm *sm, const ld_event_view *ev)
{
    if (sm->last_event_seq != 0 && ev->seq != sm->last_event_seq + 1)
        return LD_ERR_STORAGE; /* retained events are dense */
    if (sm->last_event_seq == 0)
        sm->first_event_seq = ev->seq;
    sm->last_event_seq = ev->seq;
    ldi_ev_slot slot = {.topic = {LDI_NIL, LDI_NIL, LDI_NIL}, .type = (uint8_t)ev->type};
    const ld_id *ids[3];
    ldi_event_topic_ids(ev, ids);
    for (unsigned k = 0; k < 3; k++) {
        if (ids[k] == NULL || ev->topic_seq[k + 1] == 0)
            continue;
        uint32_t t = ldi_topic_find(sm, (uint8_t)(k + 1), ids[k]);
        if (t == LDI_NIL)
            return LD_ERR_STORAGE;
        ldi_topic *topic = ldi_topic_at(sm, t);
        if (ev->topic_seq[k + 1] > topic->count)
            return LD_ERR_STORAGE;
        if (topic->floor == 0)
            topic->floor = ev->topic_seq[k + 1];
        slot.topic[k] = t;
    }
    ring_push(sm, &slot);
    return LD_OK;
}

/* ---- emission ---------------------------------------------------------------------------- */

uint32_t
ldi_ev_room(const ld_sm *sm)
{
    uint64_t used = (uint64_t)sm->batch_ev_len + sm->dirty_drops_len +
                    (uint64_t)LDI_EV_PER_OP_MAX * sm->ops_left;
    return used >= LDI_BATCH_EVENTS_MAX ? 0 : (uint32_t)(LDI_BATCH_EVENTS_MAX - used);
}

static void
batch_push(ld_sm *sm, const ld_event_view *ev)
{
    LD_ASSERT((uint64_t)sm->batch_ev_len + sm->dirty_drops_len < LDI_BATCH_EVENTS_MAX);
    if (sm->batch_ev_len == sm->batch_ev_cap) {
        uint32_t n = sm->batch_ev_cap ? 2 * sm->batch_ev_cap : 256;
        if (n > LDI_BATCH_EVENTS_MAX)
            n = LDI_BATCH_EVENTS_MAX;
        ld_event_view *p = realloc(sm->batch_ev, (size_t)n * sizeof *p);
        if (p == NULL)
            ldi_sm_oom(__FILE__, __LINE__);
        sm->batch_ev = p;
        sm->batch_ev_cap = n;
    }
    sm->batch_ev[sm->batch_ev_len++] = *ev;
}

/* Puts the event on topic kind k + 1 (creating a user topic on demand); returns the topic's
 * index, or LDI_NIL when the event cannot be on it (topic table full). */
static uint32_t
emit_on_topic(ld_sm *sm, ld_event_view *ev, unsigned k, const ld_id *id)
{
    uint8_t kind = (uint8_t)(k + 1), key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    uint32_t idx;
    if (ldi_topic_get(sm, kind, id, &idx) != LD_OK)
        return LDI_NIL;
    ldi_topic *t = ldi_topic_at(sm, idx);
    ev->topic_seq[kind] = ++t->count;
    size_t key_len = ldi_rec_tindex_key(kind, id, t->count, key);
    sm->store->ops->put(sm->store->impl, key, key_len, val, ldi_rec_u64_encode(ev->seq, val));
    if (ldi_event_notable((uint8_t)ev->type, kind)) {
        t->last_notable = ev->seq;
        key_len = ldi_rec_notable_key(kind, id, ev->seq, key);
        sm->store->ops->put(sm->store->impl, key, key_len, val, ldi_rec_marker_encode(val));
    }
    topic_dirty(sm, idx);
    return idx;
}

void
ldi_emit(ld_sm *sm, ld_event_view *ev)
{
    LD_ASSERT(ev->type >= LD_EVENT_DROP_SCHEDULED && ev->type <= LD_EVENT_UNFOLLOWED);
    ev->seq = ++sm->last_event_seq;
    ev->ts_ms = sm->now_ms;
    memset(ev->topic_seq, 0, sizeof ev->topic_seq);
    ldi_ev_slot slot = {.topic = {LDI_NIL, LDI_NIL, LDI_NIL}, .type = (uint8_t)ev->type};
    const ld_id *ids[3];
    ldi_event_topic_ids(ev, ids);
    for (unsigned k = 0; k < 3; k++)
        if (ids[k] != NULL)
            slot.topic[k] = emit_on_topic(sm, ev, k, ids[k]);
    uint8_t key[LDI_REC_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = ldi_rec_event_key(ev->seq, key);
    sm->store->ops->put(sm->store->impl, key, key_len, val, ldi_rec_event_encode(ev, val));
    ring_push(sm, &slot);
    batch_push(sm, ev);
}

static void
drop_event(const ldi_drop *d, ld_event_type type, ld_event_view *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->creator_id = d->spec.product.creator_id;
    ev->drop_id = d->spec.id;
    ev->stock = d->stock;
    memcpy(ev->title, d->spec.product.title, sizeof ev->title);
}

void
ldi_emit_drop(ld_sm *sm, const ldi_drop *d, ld_event_type type)
{
    ld_event_view ev;
    drop_event(d, type, &ev);
    ldi_emit(sm, &ev);
}

void
ldi_emit_res(ld_sm *sm, const ldi_res *r, ld_event_type type, const ld_id *order_id)
{
    ld_event_view ev;
    drop_event(ldi_drop_at(sm, r->drop_idx), type, &ev);
    ev.user_id = r->v.user_id;
    ev.reservation_id = r->v.id;
    if (order_id != NULL)
        ev.order_id = *order_id;
    ev.qty = r->v.qty;
    ldi_emit(sm, &ev);
}

void
ldi_stock_changed(ld_sm *sm, uint32_t drop_idx)
{
    ldi_drop *d = ldi_drop_at(sm, drop_idx);
    if (d->stock_dirty)
        return;
    d->stock_dirty = true;
    list_push(&sm->dirty_drops, &sm->dirty_drops_len, &sm->dirty_drops_cap, drop_idx);
}

void
ldi_stock_fell(ld_sm *sm, uint32_t drop_idx, int64_t available_before)
{
    ldi_drop *d = ldi_drop_at(sm, drop_idx);
    LD_ASSERT(d->stock.available < available_before);
    int64_t threshold = d->spec.low_stock_threshold;
    if (threshold > 0 && !d->low_stock_sent && d->stock.available <= threshold) {
        d->low_stock_sent = true;
        ldi_put_drop(sm, d);
        ldi_emit_drop(sm, d, LD_EVENT_LOW_STOCK);
    }
    if (d->stock.available == 0)
        ldi_emit_drop(sm, d, LD_EVENT_SOLD_OUT);
}

/* ---- the batch --------------------------------------------------------------------------- */

void
ldi_batch_begin(ld_sm *sm, size_t n)
{
    LD_ASSERT(sm->dirty_drops_len == 0 && sm->dirty_topics_len == 0);
    sm->batch_ev_len = 0;
    sm->ops_left = (uint32_t)n;
}

void
ldi_batch_end(ld_sm *sm)
{
    LD_ASSERT(sm->ops_left == 0);
    /* One STOCK_CHANGED per drop whose stock moved, with its final stock, in first-move order. */
    uint32_t n = sm->dirty_drops_len;
    for (uint32_t i = 0; i < n; i++) {
        ldi_drop *d = ldi_drop_at(sm, sm->dirty_drops[i]);
        LD_ASSERT(d->stock_dirty);
        d->stock_dirty = false;
        sm->dirty_drops_len = n - i - 1; /* the room kept for this one becomes its event's */
        ldi_emit_drop(sm, d, LD_EVENT_STOCK_CHANGED);
    }
    sm->dirty_drops_len = 0;
    for (uint32_t i = 0; i < sm->dirty_topics_len; i++) {
        ldi_topic *t = ldi_topic_at(sm, sm->dirty_topics[i]);
        t->dirty = false;
        put_topic(sm, t);
    }
    sm->dirty_topics_len = 0;
    LD_ASSERT(sm->batch_ev_len <= LDI_BATCH_EVENTS_MAX);
}

uint64_t
ld_sm_last_event_seq(const ld_sm *sm)
{
    LD_ASSERT(sm != NULL);
    return sm->last_event_seq;
}

size_t
ld_sm_batch_events(const ld_sm *sm, const ld_event_view **events_out)
{
    LD_ASSERT(sm != NULL && events_out != NULL);
    *events_out = sm->batch_ev;
    return sm->batch_ev_len;
}

/* ---- retention --------------------------------------------------------------------------- */

bool
ldi_trim_due(const ld_sm *sm)
{
    return sm->last_event_seq >= sm->first_event_seq &&
           sm->last_event_seq - sm->first_event_seq + 1 > sm->caps.events_retain;
}

/* Deletes the oldest retained event and its index records. */
static void
trim_one(ld_sm *sm)
{
    uint64_t seq = sm->first_event_seq;
    const ldi_ev_slot *slot = ldi_ring_at(sm, seq);
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    for (unsigned k = 0; k < 3; k++) {
        if (slot->topic[k] == LDI_NIL)
            continue;
        ldi_topic *t = ldi_topic_at(sm, slot->topic[k]);
        LD_ASSERT(t->kind == k + 1);
        LD_ASSERT(t->floor >= 1 && t->floor <= t->count);
        size_t key_len = ldi_rec_tindex_key(t->kind, &t->id, t->floor, key);
        sm->store->ops->del(sm->store->impl, key, key_len);
        t->floor++;
        if (ldi_event_notable(slot->type, t->kind)) {
            key_len = ldi_rec_notable_key(t->kind, &t->id, seq, key);
            sm->store->ops->del(sm->store->impl, key, key_len);
        }
    }
    size_t key_len = ldi_rec_event_key(seq, key);
    sm->store->ops->del(sm->store->impl, key, key_len);
    sm->first_event_seq++;
}

uint32_t
ldi_trim(ld_sm *sm, uint32_t max)
{
    uint32_t n = 0;
    while (n < max && ldi_trim_due(sm)) {
        trim_one(sm);
        n++;
    }
    return n;
}

/* ---- reading events back (page reads) ------------------------------------------------------ */

typedef struct read_one {
    ld_event_view *out;
    bool found, bad;
} read_one;

static ld_err
read_one_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    read_one *r = arg;
    r->found = true;
    r->bad = !ldi_rec_event_decode(key, key_len, val, val_len, r->out);
    return LD_EXISTS;
}

ld_err
ldi_event_read(const ld_sm *sm, uint64_t seq, ld_event_view *out, bool *found_out)
{
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    size_t key_len = ldi_rec_event_key(seq, key);
    read_one r = {.out = out};
    ld_err err =
        sm->store->ops->seek(sm->store->impl, key, key_len, key, key_len, false, read_one_cb, &r);
    if (err != LD_OK || r.bad)
        return LD_ERR_STORAGE;
    *found_out = r.found;
    return LD_OK;
}
