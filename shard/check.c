/*
 * check.c -- ld_sm_check(): recompute every derived number from the records and compare.
 *
 * O(state) and allocation-heavy by design; for tests, the simulator and debug builds. Any
 * mismatch is a bug in the state machine, hence LD_ASSERT.
 */
#include <stdlib.h>
#include <string.h>

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
            const ldi_pay *pay = ldi_pay_at(sm, r->pay_idx);
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

void
ld_sm_check(const ld_sm *sm)
{
    LD_ASSERT(sm != NULL);
    check_drops_and_uds(sm);
    check_reservations(sm);
    check_keys(sm);
}
