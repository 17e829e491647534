/*
 * follow.c -- follow edges (the creator's side), the derived following side (RELAY_FOLLOW) and
 * the lists of followers and followed creators.
 *
 * The creator's shard owns the edge (docs/ARCHITECTURE.md §11): memory holds it by (user, creator)
 * with its time and the seq of its FOLLOWED event, the store holds it as the follower index record
 * 'F' | creator | ~since | user, so followers list newest first. follow and unfollow emit FOLLOWED
 * and UNFOLLOWED (creator/ and user/ topics; the event's `title` carries the creator's handle,
 * which the relay needs). The node turns each of them into a RELAY_FOLLOW op for the user's shard,
 * which keeps, per user, the list of followed creators with the seq of the FOLLOWED event (the
 * feed shows a creator's events after it) and the index 'G' | user | ~at | creator. RELAY_FOLLOW
 * is applied at most once per (source shard, seq): a relay cursor per source shard ('Y' records)
 * drops what was applied already.
 *
 * Limits. A user follows at most LD_FOLLOWING_MAX creators: follow is refused when the user's
 * derived following count, or its edges on this shard (which the relay has not caught up with
 * yet), reach it. Edges and following entries are each bounded by caps.follows.
 *
 * Choices where the spec leaves room:
 *   - follow and unfollow check, in order: principal, self-follow, creator exists, user exists
 *     (USER_NOT_FOUND: an edge never names a user that was not created), then for a follow
 *     already following (LD_OK), limit, capacity. is_following of an unknown creator answers
 *     CREATOR_NOT_FOUND, of an unknown user USER_NOT_FOUND.
 *   - users are never deleted, so "the user exists" cannot turn false once seen. With users and
 *     creators on different shards the creator's shard cannot look the user up in its own state:
 *     the node that takes the follow reads the user from the user's shard first and only then
 *     logs the op with that fact (proto/PROTOCOL.md §4.3); the state machine stays the judge.
 *   - a RELAY_FOLLOW that cannot be stored (following entries at capacity) still advances the
 *     cursor (it is not retried) and answers LD_ERR_CAPACITY: the user's feed misses that creator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sm_int.h"

static inline bool
id_eq(const ld_id *a, const void *b)
{
    return memcmp(a->bytes, b, LD_ID_BYTES) == 0;
}

static uint64_t
pair_hash(const ld_id *user_id, const ld_id *creator_id)
{
    ld_id k[2] = {*user_id, *creator_id};
    return ldi_table_hash(k, sizeof k);
}

static bool
edge_eq(const void *ctx, uint32_t idx, const void *key)
{
    const ldi_edge *e = ldi_edge_at(ctx, idx);
    const ld_id *k = key;
    return id_eq(&e->user_id, &k[0]) && id_eq(&e->creator_id, &k[1]);
}

static bool
fol_eq(const void *ctx, uint32_t idx, const void *key)
{
    const ldi_fol *f = ldi_fol_at(ctx, idx);
    const ld_id *k = key;
    return id_eq(&f->user_id, &k[0]) && id_eq(&f->creator_id, &k[1]);
}

static bool
fan_eq(const void *ctx, uint32_t idx, const void *key)
{
    return id_eq(&ldi_fan_at(ctx, idx)->user_id, key);
}

uint32_t
ldi_edge_find(const ld_sm *sm, const ld_id *user_id, const ld_id *creator_id)
{
    ld_id k[2] = {*user_id, *creator_id};
    return ldi_table_find(&sm->edge_index, pair_hash(user_id, creator_id), edge_eq, sm, k);
}

uint32_t
ldi_fol_find(const ld_sm *sm, const ld_id *user_id, const ld_id *creator_id)
{
    ld_id k[2] = {*user_id, *creator_id};
    return ldi_table_find(&sm->fol_index, pair_hash(user_id, creator_id), fol_eq, sm, k);
}

uint32_t
ldi_fan_find(const ld_sm *sm, const ld_id *user_id)
{
    return ldi_table_find(&sm->fan_index, ldi_table_hash(user_id, 16), fan_eq, sm, user_id);
}

/* Finds or creates the fan of a user; LD_ERR_CAPACITY. */
static ld_err
fan_get(ld_sm *sm, const ld_id *user_id, uint32_t *idx_out)
{
    uint32_t idx = ldi_fan_find(sm, user_id);
    if (idx == LDI_NIL) {
        ld_err err = ldi_table_reserve(&sm->fan_index, 1);
        if (err == LD_OK)
            err = ldi_pool_alloc(&sm->fans, &idx);
        if (err == LD_ERR_NOMEM)
            ldi_sm_oom(__FILE__, __LINE__);
        if (err != LD_OK)
            return LD_ERR_CAPACITY;
        ldi_fan *fan = ldi_fan_at(sm, idx);
        fan->user_id = *user_id;
        fan->head = LDI_NIL;
        ldi_table_insert(&sm->fan_index, ldi_table_hash(user_id, 16), idx);
    }
    *idx_out = idx;
    return LD_OK;
}

static void
fan_maybe_free(ld_sm *sm, uint32_t idx)
{
    ldi_fan *fan = ldi_fan_at(sm, idx);
    if (fan->edges != 0 || fan->following != 0)
        return;
    LD_ASSERT(fan->head == LDI_NIL);
    ldi_table_remove(&sm->fan_index, ldi_table_hash(&fan->user_id, 16), idx);
    ldi_pool_free(&sm->fans, idx);
}

/* Room for one record in a pool and its index. */
static ld_err
room_one(ldi_pool *pool, ldi_table *index)
{
    if (ldi_pool_full(pool))
        return LD_ERR_CAPACITY;
    ld_err err = ldi_table_reserve(index, 1);
    if (err == LD_ERR_NOMEM)
        ldi_sm_oom(__FILE__, __LINE__);
    return err;
}

/* ---- follow / unfollow ------------------------------------------------------------------- */

static void
edge_key(const ldi_edge *e, uint8_t *key, size_t *len)
{
    *len = ldi_rec_list_key(LDI_REC_FOLLOWER, e->creator_id.bytes, LD_ID_BYTES,
                            ~(uint64_t)e->since_ms, &e->user_id, key);
}

static void
follow_state(const ld_sm *sm, uint32_t creator_idx, uint32_t edge_idx, ld_result *res)
{
    res->code = LD_OK;
    res->kind = LD_RESULT_FOLLOW_STATE;
    memset(&res->u.follow_state, 0, sizeof res->u.follow_state);
    res->u.follow_state.follower_count = ldi_creator_at(sm, creator_idx)->follower_count;
    if (edge_idx == LDI_NIL)
        return;
    res->u.follow_state.following = true;
    res->u.follow_state.since_ms = ldi_edge_at(sm, edge_idx)->since_ms;
}

static void
follow_event(ld_sm *sm, const ldi_creator *cr, const ld_id *user_id, ld_event_type type,
             ld_event_view *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->creator_id = cr->spec.id;
    ev->user_id = *user_id;
    _Static_assert(sizeof ev->title >= sizeof cr->spec.handle, "a handle fits a title");
    memcpy(ev->title, cr->spec.handle, sizeof cr->spec.handle);
    ldi_emit(sm, ev);
}

/* Adds the edge (user -> creator); every check has passed. Returns the edge's index. */
static uint32_t
edge_add(ld_sm *sm, uint32_t creator_idx, uint32_t fan_idx, const ld_id *user_id)
{
    ldi_creator *cr = ldi_creator_at(sm, creator_idx);
    ld_event_view ev;
    follow_event(sm, cr, user_id, LD_EVENT_FOLLOWED, &ev);
    uint32_t idx;
    LDI_MUST(ldi_pool_alloc(&sm->edges, &idx));
    ldi_edge *e = ldi_edge_at(sm, idx);
    e->user_id = *user_id;
    e->creator_id = cr->spec.id;
    e->since_ms = sm->now_ms;
    e->seq = ev.seq;
    ldi_table_insert(&sm->edge_index, pair_hash(user_id, &cr->spec.id), idx);
    cr->follower_count++;
    ldi_fan_at(sm, fan_idx)->edges++;
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len;
    edge_key(e, key, &key_len);
    sm->store->ops->put(sm->store->impl, key, key_len, val, ldi_rec_u64_encode(e->seq, val));
    return idx;
}

static void
edge_remove(ld_sm *sm, uint32_t creator_idx, uint32_t edge_idx)
{
    ldi_creator *cr = ldi_creator_at(sm, creator_idx);
    ldi_edge *e = ldi_edge_at(sm, edge_idx);
    ld_event_view ev;
    follow_event(sm, cr, &e->user_id, LD_EVENT_UNFOLLOWED, &ev);
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX];
    size_t key_len;
    edge_key(e, key, &key_len);
    sm->store->ops->del(sm->store->impl, key, key_len);
    uint32_t fan_idx = ldi_fan_find(sm, &e->user_id);
    LD_ASSERT(fan_idx != LDI_NIL && ldi_fan_at(sm, fan_idx)->edges > 0);
    LD_ASSERT(cr->follower_count > 0);
    ldi_fan_at(sm, fan_idx)->edges--;
    cr->follower_count--;
    fan_maybe_free(sm, fan_idx);
    ldi_table_remove(&sm->edge_index, pair_hash(&e->user_id, &e->creator_id), edge_idx);
    ldi_pool_free(&sm->edges, edge_idx);
}

/* The checks of a new follow after "already following"; true when it answered. */
static bool
follow_refused(ld_sm *sm, const ld_op_follow *f, uint32_t *fan_out, ld_result *res)
{
    uint32_t fan_idx = ldi_fan_find(sm, &f->user_id);
    if (fan_idx != LDI_NIL) {
        const ldi_fan *fan = ldi_fan_at(sm, fan_idx);
        if (fan->following >= LD_FOLLOWING_MAX || fan->edges >= LD_FOLLOWING_MAX) {
            ld_result_fail(res, LD_ERR_FOLLOW_LIMIT, "follow: a user follows at most %u creators",
                           LD_FOLLOWING_MAX);
            return true;
        }
    }
    if (room_one(&sm->edges, &sm->edge_index) != LD_OK ||
        (fan_idx == LDI_NIL && fan_get(sm, &f->user_id, &fan_idx) != LD_OK)) {
        ld_result_fail(res, LD_ERR_CAPACITY, "follow: the shard holds its maximum of follows");
        return true;
    }
    *fan_out = fan_idx;
    return false;
}

void
ldi_follow(ld_sm *sm, const ld_op *op, ld_result *res)
{
    const ld_op_follow *f = &op->u.follow;
    const char *name = ld_op_name(op->type);
    LD_ASSERT(op->type == LD_OP_FOLLOW || op->type == LD_OP_UNFOLLOW);
    LD_ASSERT(!ld_id_is_zero(&f->user_id) && !ld_id_is_zero(&f->creator_id));
    if (!ldi_principal_is(op, &f->user_id, "the user who follows", res))
        return;
    if (ld_id_eq(&f->user_id, &f->creator_id)) {
        ld_result_fail(res, LD_ERR_SELF_FOLLOW, "%s: user and creator are the same", name);
        return;
    }
    uint32_t creator_idx = ldi_creator_find(sm, &f->creator_id);
    if (creator_idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_CREATOR_NOT_FOUND, "%s: no such creator", name);
        return;
    }
    if (ldi_user_find(sm, &f->user_id) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_USER_NOT_FOUND, "%s: no such user (create it first)", name);
        return;
    }
    uint32_t edge_idx = ldi_edge_find(sm, &f->user_id, &f->creator_id), fan_idx;
    if (op->type == LD_OP_FOLLOW && edge_idx == LDI_NIL) {
        if (follow_refused(sm, f, &fan_idx, res))
            return;
        edge_idx = edge_add(sm, creator_idx, fan_idx, &f->user_id);
    } else if (op->type == LD_OP_UNFOLLOW && edge_idx != LDI_NIL) {
        edge_remove(sm, creator_idx, edge_idx);
        edge_idx = LDI_NIL;
    }
    follow_state(sm, creator_idx, edge_idx, res);
}

void
ldi_is_following(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res)
{
    (void)now_ms;
    const ld_op_follow *f = &op->u.follow;
    uint32_t creator_idx = ldi_creator_find(sm, &f->creator_id);
    if (creator_idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_CREATOR_NOT_FOUND, "is_following: no such creator");
        return;
    }
    if (ldi_user_find(sm, &f->user_id) == LDI_NIL) {
        ld_result_fail(res, LD_ERR_USER_NOT_FOUND, "is_following: no such user");
        return;
    }
    follow_state(sm, creator_idx, ldi_edge_find(sm, &f->user_id, &f->creator_id), res);
}

ld_err
ldi_edge_load(ld_sm *sm, const ldi_edge *edge)
{
    uint32_t creator_idx = ldi_creator_find(sm, &edge->creator_id), idx, fan_idx;
    if (creator_idx == LDI_NIL || ld_id_eq(&edge->user_id, &edge->creator_id) ||
        ldi_edge_find(sm, &edge->user_id, &edge->creator_id) != LDI_NIL)
        return LD_ERR_STORAGE;
    if (room_one(&sm->edges, &sm->edge_index) != LD_OK || fan_get(sm, &edge->user_id, &fan_idx) ||
        ldi_pool_alloc(&sm->edges, &idx) != LD_OK)
        return LD_ERR_STORAGE;
    *ldi_edge_at(sm, idx) = *edge;
    ldi_table_insert(&sm->edge_index, pair_hash(&edge->user_id, &edge->creator_id), idx);
    ldi_creator_at(sm, creator_idx)->follower_count++;
    ldi_fan_at(sm, fan_idx)->edges++;
    return LD_OK;
}

/* ---- the derived following side ---------------------------------------------------------- */

static void
fol_link(ld_sm *sm, uint32_t fan_idx, uint32_t fol_idx)
{
    ldi_fan *fan = ldi_fan_at(sm, fan_idx);
    ldi_fol *f = ldi_fol_at(sm, fol_idx);
    f->prev = LDI_NIL;
    f->next = fan->head;
    if (fan->head != LDI_NIL)
        ldi_fol_at(sm, fan->head)->prev = fol_idx;
    fan->head = fol_idx;
    fan->following++;
}

static void
fol_unlink(ld_sm *sm, uint32_t fan_idx, uint32_t fol_idx)
{
    ldi_fan *fan = ldi_fan_at(sm, fan_idx);
    ldi_fol *f = ldi_fol_at(sm, fol_idx);
    if (f->prev == LDI_NIL)
        fan->head = f->next;
    else
        ldi_fol_at(sm, f->prev)->next = f->next;
    if (f->next != LDI_NIL)
        ldi_fol_at(sm, f->next)->prev = f->prev;
    LD_ASSERT(fan->following > 0);
    fan->following--;
}

static size_t
fol_key(const ldi_fol *f, uint8_t *key)
{
    return ldi_rec_list_key(LDI_REC_FOLLOWING, f->user_id.bytes, LD_ID_BYTES, ~(uint64_t)f->at_ms,
                            &f->creator_id, key);
}

static void
fol_del(ld_sm *sm, uint32_t fol_idx)
{
    ldi_fol *f = ldi_fol_at(sm, fol_idx);
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX];
    sm->store->ops->del(sm->store->impl, key, fol_key(f, key));
    uint32_t fan_idx = ldi_fan_find(sm, &f->user_id);
    LD_ASSERT(fan_idx != LDI_NIL);
    fol_unlink(sm, fan_idx, fol_idx);
    fan_maybe_free(sm, fan_idx);
    ldi_table_remove(&sm->fol_index, pair_hash(&f->user_id, &f->creator_id), fol_idx);
    ldi_pool_free(&sm->fols, fol_idx);
}

static ld_err
fol_add(ld_sm *sm, const ld_op_relay_follow *op)
{
    uint32_t fan_idx, idx;
    if (room_one(&sm->fols, &sm->fol_index) != LD_OK || fan_get(sm, &op->user_id, &fan_idx))
        return LD_ERR_CAPACITY;
    LDI_MUST(ldi_pool_alloc(&sm->fols, &idx));
    ldi_fol *f = ldi_fol_at(sm, idx);
    f->user_id = op->user_id;
    f->creator_id = op->creator_id;
    f->at_ms = op->at_ms;
    f->seq = op->seq;
    ldi_table_insert(&sm->fol_index, pair_hash(&op->user_id, &op->creator_id), idx);
    fol_link(sm, fan_idx, idx);
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX], val[LDI_REC_VAL_BYTES_MAX];
    size_t key_len = fol_key(f, key);
    sm->store->ops->put(sm->store->impl, key, key_len, val,
                        ldi_rec_fol_encode(op->seq, op->creator_handle, val));
    return LD_OK;
}

static ldi_relay *
relay_slot(const ld_sm *sm, uint32_t source_shard)
{
    for (uint32_t i = 0; i < sm->relays_len; i++)
        if (sm->relays[i].source_shard == source_shard)
            return &sm->relays[i];
    return NULL;
}

uint64_t
ldi_relay_get(const ld_sm *sm, uint32_t source_shard)
{
    const ldi_relay *r = relay_slot(sm, source_shard);
    return r == NULL ? 0 : r->seq;
}

uint64_t
ld_sm_relay_cursor(const ld_sm *sm, uint32_t source_shard)
{
    LD_ASSERT(sm != NULL);
    return ldi_relay_get(sm, source_shard);
}

/* Finds or adds the cursor of a source shard; NULL when LDI_RELAY_SOURCES_MAX are known. */
static ldi_relay *
relay_get(ld_sm *sm, uint32_t source_shard)
{
    ldi_relay *r = relay_slot(sm, source_shard);
    if (r != NULL)
        return r;
    if (sm->relays_len == LDI_RELAY_SOURCES_MAX)
        return NULL;
    if (sm->relays_len == sm->relays_cap) {
        uint32_t cap = sm->relays_cap ? 2 * sm->relays_cap : 4;
        ldi_relay *p = realloc(sm->relays, (size_t)cap * sizeof *p);
        if (p == NULL)
            ldi_sm_oom(__FILE__, __LINE__);
        sm->relays = p;
        sm->relays_cap = cap;
    }
    r = &sm->relays[sm->relays_len++];
    *r = (ldi_relay){.source_shard = source_shard};
    return r;
}

void
ldi_relay_follow(ld_sm *sm, const ld_op *o, ld_result *res)
{
    const ld_op_relay_follow *op = &o->u.relay;
    LD_ASSERT(!ld_id_is_zero(&op->user_id) && !ld_id_is_zero(&op->creator_id));
    LD_ASSERT(op->seq >= 1);
    if (op->seq <= ldi_relay_get(sm, op->source_shard)) {
        res->code = LD_OK;
        snprintf(res->message, sizeof res->message, "relay_follow: seq %llu was applied already",
                 (unsigned long long)op->seq);
        return;
    }
    ldi_relay *r = relay_get(sm, op->source_shard);
    if (r == NULL) {
        ld_result_fail(res, LD_ERR_CAPACITY, "relay_follow: %u source shards at most",
                       LDI_RELAY_SOURCES_MAX);
        return;
    }
    r->seq = op->seq;
    uint8_t key[8], val[LDI_REC_VAL_BYTES_MAX];
    sm->store->ops->put(sm->store->impl, key, ldi_rec_relay_key(op->source_shard, key), val,
                        ldi_rec_u64_encode(op->seq, val));
    res->code = LD_OK;
    uint32_t fol_idx = ldi_fol_find(sm, &op->user_id, &op->creator_id);
    if (fol_idx != LDI_NIL)
        fol_del(sm, fol_idx); /* unfollowed, or re-followed: the newest relay wins */
    if (op->followed && fol_add(sm, op) != LD_OK)
        ld_result_fail(res, LD_ERR_CAPACITY,
                       "relay_follow: the shard holds its maximum of following entries");
}

ld_err
ldi_fol_load(ld_sm *sm, const ldi_fol *fol)
{
    uint32_t fan_idx, idx;
    if (ldi_fol_find(sm, &fol->user_id, &fol->creator_id) != LDI_NIL)
        return LD_ERR_STORAGE;
    if (room_one(&sm->fols, &sm->fol_index) != LD_OK || fan_get(sm, &fol->user_id, &fan_idx) ||
        ldi_pool_alloc(&sm->fols, &idx) != LD_OK)
        return LD_ERR_STORAGE;
    *ldi_fol_at(sm, idx) = *fol;
    ldi_table_insert(&sm->fol_index, pair_hash(&fol->user_id, &fol->creator_id), idx);
    fol_link(sm, fan_idx, idx);
    return LD_OK;
}

ld_err
ldi_relay_load(ld_sm *sm, const ldi_relay *relay)
{
    if (relay_slot(sm, relay->source_shard) != NULL)
        return LD_ERR_STORAGE;
    ldi_relay *r = relay_get(sm, relay->source_shard);
    if (r == NULL)
        return LD_ERR_STORAGE;
    r->seq = relay->seq;
    return LD_OK;
}

/* ---- lists ------------------------------------------------------------------------------- */

static bool
followers_visit(void *arg, ld_page *page, uint64_t sort_key, const ld_id *id, const uint8_t *val,
                size_t val_len)
{
    const ld_op_list *op = ((const void **)arg)[1];
    const ld_sm *sm = ((const void **)arg)[0];
    uint64_t seq;
    if (!ldi_rec_u64_decode(val, val_len, &seq))
        return false;
    ld_follow_edge_view *e = &page->u.edges[page->count++];
    memset(e, 0, sizeof *e);
    e->user_id = *id;
    e->creator_id = op->id;
    e->created_at_ms = (int64_t)~sort_key;
    uint32_t user_idx = ldi_user_find(sm, id);
    if (user_idx != LDI_NIL)
        memcpy(e->user_name, ldi_user_at(sm, user_idx)->name, sizeof e->user_name);
    return true;
}

static bool
following_visit(void *arg, ld_page *page, uint64_t sort_key, const ld_id *id, const uint8_t *val,
                size_t val_len)
{
    const ld_op_list *op = ((const void **)arg)[1];
    ld_follow_edge_view *e = &page->u.edges[page->count];
    memset(e, 0, sizeof *e);
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX];
    size_t key_len =
        ldi_rec_list_key(LDI_REC_FOLLOWING, op->id.bytes, LD_ID_BYTES, sort_key, id, key);
    ldi_fol f;
    if (!ldi_rec_fol_decode(key, key_len, val, val_len, &f, e->creator_handle))
        return false;
    e->user_id = op->id;
    e->creator_id = *id;
    e->created_at_ms = f.at_ms;
    page->count++;
    return true;
}

static void
list_edges(const ld_sm *sm, const ld_op_list *op, bool followers, ld_page *page, ld_result *res)
{
    uint32_t first;
    if (!ldi_page_first(followers ? "list_followers" : "list_following", op->first,
                        LD_PAGE_EDGES_MAX, &first, res))
        return;
    page->kind = LD_RESULT_FOLLOW_PAGE;
    const void *ctx[2] = {sm, op};
    ldi_walk w = {
        .type = followers ? LDI_REC_FOLLOWER : LDI_REC_FOLLOWING,
        .mid = op->id.bytes,
        .mid_len = LD_ID_BYTES,
        .list = followers ? LD_CURSOR_FOLLOWERS : LD_CURSOR_FOLLOWING,
        .first = first,
        .scan_max = first,
        .visit = followers ? followers_visit : following_visit,
        .arg = (void *)ctx,
    };
    ldi_walk_run(sm, &w, op->after, page, res);
}

void
ldi_list_followers(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page, ld_result *res)
{
    (void)now_ms;
    list_edges(sm, &op->u.list, true, page, res);
}

void
ldi_list_following(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page, ld_result *res)
{
    (void)now_ms;
    list_edges(sm, &op->u.list, false, page, res);
}
