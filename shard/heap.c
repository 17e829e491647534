/*
 * heap.c -- the two expiry orders of reservations.
 *
 * Active reservations sit in a binary min-heap ordered by (expires_at, id): a total order, so
 * the reservations a bounded TICK expires do not depend on how the heap was built (a replica
 * that rebuilt it from the store picks the same ones). Each reservation knows its heap slot,
 * so commit and release remove it in O(log n).
 *
 * Closed reservations wait for the end of their retention in a FIFO ordered by `seq`: they are
 * closed at the batch time, which never goes back, and all wait the same LD_RESERVATION_RETAIN_MS,
 * so the oldest is always the first due.
 */
#include <stdlib.h>
#include <string.h>

#include "sm_int.h"

bool
ldi_heap_less(const ld_sm *sm, uint32_t a, uint32_t b)
{
    const ldi_res *ra = ldi_res_at(sm, a);
    const ldi_res *rb = ldi_res_at(sm, b);
    if (ra->v.expires_at_ms != rb->v.expires_at_ms)
        return ra->v.expires_at_ms < rb->v.expires_at_ms;
    return memcmp(ra->v.id.bytes, rb->v.id.bytes, LD_ID_BYTES) < 0;
}

static void
heap_set(ld_sm *sm, uint32_t pos, uint32_t res_idx)
{
    sm->heap[pos] = res_idx;
    ldi_res_at(sm, res_idx)->heap_pos = pos;
}

static void
sift_up(ld_sm *sm, uint32_t pos)
{
    uint32_t idx = sm->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!ldi_heap_less(sm, idx, sm->heap[parent]))
            break;
        heap_set(sm, pos, sm->heap[parent]);
        pos = parent;
    }
    heap_set(sm, pos, idx);
}

static void
sift_down(ld_sm *sm, uint32_t pos)
{
    uint32_t idx = sm->heap[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= sm->heap_len)
            break;
        if (child + 1 < sm->heap_len && ldi_heap_less(sm, sm->heap[child + 1], sm->heap[child]))
            child++;
        if (!ldi_heap_less(sm, sm->heap[child], idx))
            break;
        heap_set(sm, pos, sm->heap[child]);
        pos = child;
    }
    heap_set(sm, pos, idx);
}

ld_err
ldi_heap_reserve(ld_sm *sm, uint32_t n)
{
    if ((uint64_t)sm->heap_len + n <= sm->heap_cap)
        return LD_OK;
    uint64_t cap = sm->heap_cap ? sm->heap_cap : 64;
    while (cap < (uint64_t)sm->heap_len + n)
        cap *= 2;
    if (cap > sm->caps.reservations)
        cap = sm->caps.reservations;
    LD_ASSERT(cap >= (uint64_t)sm->heap_len + n);
    uint32_t *heap = realloc(sm->heap, cap * sizeof *heap);
    if (heap == NULL)
        return LD_ERR_NOMEM;
    sm->heap = heap;
    sm->heap_cap = (uint32_t)cap;
    return LD_OK;
}

void
ldi_heap_push(ld_sm *sm, uint32_t res_idx)
{
    LD_ASSERT(sm->heap_len < sm->heap_cap);
    LD_ASSERT(ldi_res_at(sm, res_idx)->v.state == LD_RES_ACTIVE);
    sm->heap[sm->heap_len++] = res_idx;
    sift_up(sm, sm->heap_len - 1);
}

void
ldi_heap_remove(ld_sm *sm, uint32_t res_idx)
{
    uint32_t pos = ldi_res_at(sm, res_idx)->heap_pos;
    LD_ASSERT(pos < sm->heap_len);
    LD_ASSERT(sm->heap[pos] == res_idx);
    uint32_t last = sm->heap[--sm->heap_len];
    ldi_res_at(sm, res_idx)->heap_pos = LDI_NIL;
    if (pos == sm->heap_len)
        return;
    heap_set(sm, pos, last);
    sift_up(sm, pos);
    sift_down(sm, ldi_res_at(sm, last)->heap_pos);
}

uint32_t
ldi_heap_top(const ld_sm *sm)
{
    return sm->heap_len ? sm->heap[0] : LDI_NIL;
}

void
ldi_closed_append(ld_sm *sm, uint32_t res_idx)
{
    ldi_res *r = ldi_res_at(sm, res_idx);
    LD_ASSERT(r->v.state != LD_RES_ACTIVE);
    LD_ASSERT(r->seq != 0);
    r->next = LDI_NIL;
    if (sm->closed_tail == LDI_NIL) {
        sm->closed_head = res_idx;
    } else {
        LD_ASSERT(ldi_res_at(sm, sm->closed_tail)->seq < r->seq);
        ldi_res_at(sm, sm->closed_tail)->next = res_idx;
    }
    sm->closed_tail = res_idx;
}

uint32_t
ldi_closed_pop(ld_sm *sm)
{
    uint32_t idx = sm->closed_head;
    LD_ASSERT(idx != LDI_NIL);
    sm->closed_head = ldi_res_at(sm, idx)->next;
    if (sm->closed_head == LDI_NIL)
        sm->closed_tail = LDI_NIL;
    ldi_res_at(sm, idx)->next = LDI_NIL;
    return idx;
}
