/*
 * browse.c -- a drop's announced status, its moves by TICK, cancel, and the browse index.
 *
 * Views compute a drop's status from the time (CANCELLED, else UPCOMING / LIVE / ENDED, exact at
 * the boundaries). The *announced* status is what the events and the browse index say: it moves
 * only through ops -- create_drop, cancel_drop, and the TICK whose time reaches the boundary. A
 * min-heap of the drops announced UPCOMING or LIVE, by (next boundary, id), tells
 * ld_sm_next_deadline_ms() when the next move is due and lets a TICK take due drops in a total
 * order (a restarted replica takes the same ones). Each move emits DROP_LIVE or DROP_ENDED and
 * moves the drop's browse record 'B' | status | sort_key | drop (record.h): UPCOMING by starts_at,
 * LIVE by ends_at, ENDED by ~ends_at, CANCELLED by ~cancelled_at.
 *
 * Choices where the spec leaves room:
 *   - a TICK that finds a drop past both boundaries moves it twice (DROP_LIVE, then DROP_ENDED):
 *     every ended drop was announced live first.
 *   - list_drops of an unknown status answers INVALID_ARGUMENT; a drop's filters see its
 *     in-memory fields (the snapshot it was created with).
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sm_int.h"

int64_t
ldi_drop_boundary(const ldi_drop *d)
{
    if (d->announced == LD_DROP_UPCOMING)
        return d->spec.starts_at_ms;
    if (d->announced == LD_DROP_LIVE)
        return d->spec.ends_at_ms;
    return INT64_MAX;
}

uint64_t
ldi_browse_sort_key(const ldi_drop *d)
{
    switch (d->announced) {
    case LD_DROP_UPCOMING:
        return (uint64_t)d->spec.starts_at_ms;
    case LD_DROP_LIVE:
        return (uint64_t)d->spec.ends_at_ms;
    case LD_DROP_ENDED:
        return ~(uint64_t)d->spec.ends_at_ms;
    default:
        LD_ASSERT(d->announced == LD_DROP_CANCELLED);
        return ~(uint64_t)d->cancelled_at_ms;
    }
}

static size_t
browse_key(const ldi_drop *d, uint8_t *key)
{
    uint8_t status = d->announced;
    return ldi_rec_list_key(LDI_REC_BROWSE, &status, 1, ldi_browse_sort_key(d), &d->spec.id, key);
}

static void
browse_put(ld_sm *sm, const ldi_drop *d)
{
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX], val[8];
    size_t key_len = browse_key(d, key);
    sm->store->ops->put(sm->store->impl, key, key_len, val, ldi_rec_marker_encode(val));
}

static void
browse_del(ld_sm *sm, const ldi_drop *d)
{
    uint8_t key[LDI_REC_LIST_KEY_BYTES_MAX];
    size_t key_len = browse_key(d, key);
    sm->store->ops->del(sm->store->impl, key, key_len);
}

/* ---- the boundary heap ------------------------------------------------------------------- */

bool
ldi_dheap_less(const ld_sm *sm, uint32_t a, uint32_t b)
{
    const ldi_drop *x = ldi_drop_at(sm, a), *y = ldi_drop_at(sm, b);
    int64_t bx = ldi_drop_boundary(x), by = ldi_drop_boundary(y);
    if (bx != by)
        return bx < by;
    return memcmp(x->spec.id.bytes, y->spec.id.bytes, LD_ID_BYTES) < 0;
}

static void
dheap_set(ld_sm *sm, uint32_t pos, uint32_t drop_idx)
{
    sm->dheap[pos] = drop_idx;
    ldi_drop_at(sm, drop_idx)->dheap_pos = pos;
}

static void
dheap_sift_up(ld_sm *sm, uint32_t pos)
{
    uint32_t idx = sm->dheap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!ldi_dheap_less(sm, idx, sm->dheap[parent]))
            break;
        dheap_set(sm, pos, sm->dheap[parent]);
        pos = parent;
    }
    dheap_set(sm, pos, idx);
}

static void
dheap_sift_down(ld_sm *sm, uint32_t pos)
{
    uint32_t idx = sm->dheap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= sm->dheap_len)
            break;
        if (child + 1 < sm->dheap_len && ldi_dheap_less(sm, sm->dheap[child + 1], sm->dheap[child]))
            child++;
        if (!ldi_dheap_less(sm, sm->dheap[child], idx))
            break;
        dheap_set(sm, pos, sm->dheap[child]);
        pos = child;
    }
    dheap_set(sm, pos, idx);
}

ld_err
ldi_dheap_reserve(ld_sm *sm, uint32_t n)
{
    if ((uint64_t)sm->dheap_len + n <= sm->dheap_cap)
        return LD_OK;
    uint64_t cap = sm->dheap_cap ? sm->dheap_cap : 64;
    while (cap < (uint64_t)sm->dheap_len + n)
        cap *= 2;
    if (cap > sm->caps.drops)
        cap = sm->caps.drops;
    LD_ASSERT(cap >= (uint64_t)sm->dheap_len + n);
    uint32_t *heap = realloc(sm->dheap, cap * sizeof *heap);
    if (heap == NULL)
        return LD_ERR_NOMEM;
    sm->dheap = heap;
    sm->dheap_cap = (uint32_t)cap;
    return LD_OK;
}

void
ldi_dheap_push(ld_sm *sm, uint32_t drop_idx)
{
    LD_ASSERT(sm->dheap_len < sm->dheap_cap);
    LD_ASSERT(ldi_drop_boundary(ldi_drop_at(sm, drop_idx)) != INT64_MAX);
    sm->dheap[sm->dheap_len++] = drop_idx;
    dheap_sift_up(sm, sm->dheap_len - 1);
}

static void
dheap_remove(ld_sm *sm, uint32_t drop_idx)
{
    uint32_t pos = ldi_drop_at(sm, drop_idx)->dheap_pos;
    LD_ASSERT(pos < sm->dheap_len && sm->dheap[pos] == drop_idx);
    uint32_t last = sm->dheap[--sm->dheap_len];
    ldi_drop_at(sm, drop_idx)->dheap_pos = LDI_NIL;
    if (pos == sm->dheap_len)
        return;
    dheap_set(sm, pos, last);
    dheap_sift_up(sm, pos);
    dheap_sift_down(sm, ldi_drop_at(sm, last)->dheap_pos);
}

int64_t
ldi_drop_next_boundary(const ld_sm *sm)
{
    return sm->dheap_len == 0 ? INT64_MAX : ldi_drop_boundary(ldi_drop_at(sm, sm->dheap[0]));
}

/* ---- moves ------------------------------------------------------------------------------- */

/* Moves a drop announced UPCOMING to LIVE, or LIVE to ENDED, with its event and records. */
static void
drop_move(ld_sm *sm, uint32_t drop_idx)
{
    ldi_drop *d = ldi_drop_at(sm, drop_idx);
    LD_ASSERT(d->announced == LD_DROP_UPCOMING || d->announced == LD_DROP_LIVE);
    browse_del(sm, d);
    if (d->announced == LD_DROP_UPCOMING) {
        d->announced = LD_DROP_LIVE;
        dheap_sift_down(sm, d->dheap_pos); /* its boundary moved later, to ends_at */
        ldi_emit_drop(sm, d, LD_EVENT_DROP_LIVE);
    } else {
        dheap_remove(sm, drop_idx);
        d->announced = LD_DROP_ENDED;
        ldi_emit_drop(sm, d, LD_EVENT_DROP_ENDED);
    }
    browse_put(sm, d);
    ldi_put_drop(sm, d);
}

void
ldi_drop_schedule(ld_sm *sm, uint32_t drop_idx)
{
    ldi_drop *d = ldi_drop_at(sm, drop_idx);
    LD_ASSERT(d->spec.ends_at_ms > sm->now_ms);
    d->announced = LD_DROP_UPCOMING;
    LDI_MUST(ldi_dheap_reserve(sm, 1));
    ldi_dheap_push(sm, drop_idx);
    browse_put(sm, d);
    ldi_put_drop(sm, d);
    ldi_emit_drop(sm, d, LD_EVENT_DROP_SCHEDULED);
    if (sm->now_ms >= d->spec.starts_at_ms)
        drop_move(sm, drop_idx);
}

uint32_t
ldi_drop_transitions(ld_sm *sm, uint32_t max)
{
    uint32_t n = 0;
    while (n < max && sm->dheap_len > 0 && ldi_drop_next_boundary(sm) <= sm->now_ms &&
           ldi_ev_room(sm) >= 1) {
        drop_move(sm, sm->dheap[0]);
        n++;
    }
    return n;
}

void
ldi_cancel_drop(ld_sm *sm, const ld_op *op, ld_result *res)
{
    LD_ASSERT(!ld_id_is_zero(&op->u.id));
    uint32_t idx = ldi_drop_find(sm, &op->u.id);
    if (idx == LDI_NIL) {
        ld_result_fail(res, LD_ERR_DROP_NOT_FOUND, "cancel_drop: no such drop");
        return;
    }
    ldi_drop *d = ldi_drop_at(sm, idx);
    if (!ldi_principal_is(op, &d->spec.product.creator_id, "the drop's creator", res))
        return;
    if (d->announced != LD_DROP_CANCELLED) {
        if (sm->now_ms >= d->spec.starts_at_ms) {
            ld_result_fail(res, LD_ERR_NOT_CANCELLABLE, "cancel_drop: the drop started at %lld ms",
                           (long long)d->spec.starts_at_ms);
            return;
        }
        LD_ASSERT(d->announced == LD_DROP_UPCOMING);
        LD_ASSERT(d->stock.reserved == 0 && d->stock.sold == 0);
        browse_del(sm, d);
        dheap_remove(sm, idx);
        d->announced = LD_DROP_CANCELLED;
        d->cancelled_at_ms = sm->now_ms;
        browse_put(sm, d);
        ldi_put_drop(sm, d);
        ldi_emit_drop(sm, d, LD_EVENT_DROP_CANCELLED);
    }
    res->code = LD_OK;
    res->kind = LD_RESULT_DROP;
    ldi_drop_view(d, sm->now_ms, &res->u.drop);
}

/* ---- list_drops -------------------------------------------------------------------------- */

typedef struct drops_ctx {
    const ld_sm *sm;
    const ld_op_list_drops *op;
    int64_t now_ms;
} drops_ctx;

static bool
drop_has_tag(const ldi_drop *d, const char *tag)
{
    for (uint32_t i = 0; i < d->spec.product.tags_count; i++)
        if (strcmp(d->spec.product.tags[i], tag) == 0)
            return true;
    return false;
}

static bool
drop_matches(const ldi_drop *d, const ld_op_list_drops *op)
{
    const ld_product *p = &d->spec.product;
    if (!ld_id_is_zero(&op->creator_id) && !ld_id_eq(&op->creator_id, &p->creator_id))
        return false;
    if (p->price_minor < op->price_min_minor || p->price_minor > op->price_max_minor)
        return false;
    for (uint32_t i = 0; i < op->tags_count; i++)
        if (!drop_has_tag(d, op->tags[i]))
            return false;
    return true;
}

static bool
drops_visit(void *arg, ld_page *page, uint64_t sort_key, const ld_id *id, const uint8_t *val,
            size_t val_len)
{
    (void)sort_key;
    const drops_ctx *ctx = arg;
    uint32_t idx = ldi_drop_find(ctx->sm, id);
    if (idx == LDI_NIL || !ldi_rec_marker_decode(val, val_len))
        return false;
    const ldi_drop *d = ldi_drop_at(ctx->sm, idx);
    if (drop_matches(d, ctx->op))
        ldi_drop_view(d, ctx->now_ms, &page->u.drops[page->count++]);
    return true;
}

void
ldi_list_drops(const ld_sm *sm, int64_t now_ms, const ld_op *o, ld_page *page, ld_result *res)
{
    const ld_op_list_drops *op = &o->u.list_drops;
    uint32_t first;
    if (op->status < LD_DROP_UPCOMING || op->status > LD_DROP_CANCELLED) {
        ld_result_fail(res, LD_ERR_INVALID_ARGUMENT, "list_drops: status is required");
        return;
    }
    LD_ASSERT(op->tags_count <= LD_TAGS_MAX);
    if (!ldi_page_first("list_drops", op->first, LD_PAGE_DROPS_MAX, &first, res))
        return;
    page->kind = LD_RESULT_DROP_PAGE;
    uint8_t status = (uint8_t)op->status;
    drops_ctx ctx = {.sm = sm, .op = op, .now_ms = now_ms};
    ldi_walk w = {
        .type = LDI_REC_BROWSE,
        .mid = &status,
        .mid_len = 1,
        .list = (ld_cursor_list)(LD_CURSOR_DROPS_UPCOMING + (op->status - LD_DROP_UPCOMING)),
        .first = first,
        .scan_max = LD_BROWSE_SCAN_MAX,
        .visit = drops_visit,
        .arg = &ctx,
    };
    ldi_walk_run(sm, &w, op->after, page, res);
}
