/*
 * expiry.c -- TICK: what time makes happen, in bounded steps.
 *
 * A TICK does three kinds of work, each at most LD_TICK_OPS_EXPIRE_MAX times: the expiry queues
 * below; moving drops whose status boundary has come (browse.c: DROP_LIVE / DROP_ENDED); and
 * trimming events past retention (events.c). Steps that emit events first ask ldi_ev_room()
 * (an expiry emits up to three), so a TICK never overfills the batch's event buffer.
 *
 * Three queues hold everything that falls due: active reservations (heap, by expires_at),
 * closed reservations (FIFO, due closed_at + LD_RESERVATION_RETAIN_MS) and idempotency keys
 * (FIFO, due created_at + LD_IDEMPOTENCY_TTL_MS). A TICK at time ts takes the earliest due item
 * of the three (ties: reservations to expire, then retained reservations, then keys) while it
 * is due at ts, at most LD_TICK_OPS_EXPIRE_MAX times; the rest stays due and
 * ld_sm_next_deadline_ms() says so, so the node sends another TICK at once.
 */
#include <stdio.h>

#include "sm_int.h"

static int64_t
due_active(const ld_sm *sm)
{
    uint32_t idx = ldi_heap_top(sm);
    return idx == LDI_NIL ? INT64_MAX : ldi_res_at(sm, idx)->v.expires_at_ms;
}

static int64_t
due_closed(const ld_sm *sm)
{
    if (sm->closed_head == LDI_NIL)
        return INT64_MAX;
    return ldi_res_at(sm, sm->closed_head)->closed_at_ms + LD_RESERVATION_RETAIN_MS;
}

static int64_t
due_key(const ld_sm *sm)
{
    if (sm->key_head == LDI_NIL)
        return INT64_MAX;
    const ldi_idem *k = ldi_key_at(sm, sm->key_head);
    /* A key in progress waits for its payment, which its reservation's expiry settles first. */
    if (k->status != LDI_KEY_DONE)
        return INT64_MAX;
    return k->created_at_ms + LD_IDEMPOTENCY_TTL_MS;
}

int64_t
ldi_next_deadline(const ld_sm *sm)
{
    int64_t a = due_active(sm), b = due_closed(sm), c = due_key(sm);
    int64_t m = a < b ? a : b;
    m = m < c ? m : c;
    int64_t d = ldi_drop_next_boundary(sm);
    m = m < d ? m : d;
    /* Events past retention are due now (the last batch's time). */
    return ldi_trim_due(sm) && sm->last_ts_ms < m ? sm->last_ts_ms : m;
}

void
ldi_tick(ld_sm *sm, const ld_op *op, ld_result *res)
{
    (void)op; /* TICK has no body: it runs what is due at the batch's time */
    uint32_t expired = 0, deleted = 0, forgotten = 0, done = 0;
    for (; done < LD_TICK_OPS_EXPIRE_MAX; done++) {
        int64_t a = due_active(sm), b = due_closed(sm), c = due_key(sm);
        if (a <= sm->now_ms && a <= b && a <= c) {
            if (ldi_ev_room(sm) < LDI_EV_PER_OP_MAX)
                break; /* the batch's event room is used up: the next TICK goes on */
            ldi_expire_res(sm, ldi_heap_top(sm));
            expired++;
        } else if (b <= sm->now_ms && b <= c) {
            ldi_res_delete(sm, sm->closed_head);
            deleted++;
        } else if (c <= sm->now_ms) {
            ldi_key_delete(sm, sm->key_head);
            forgotten++;
        } else {
            break;
        }
    }
    LD_ASSERT(done <= LD_TICK_OPS_EXPIRE_MAX);
    uint32_t moved = ldi_drop_transitions(sm, LD_TICK_OPS_EXPIRE_MAX);
    uint32_t trimmed = ldi_trim(sm, LD_TICK_OPS_EXPIRE_MAX);
    res->code = LD_OK;
    res->kind = LD_RESULT_NONE;
    snprintf(res->message, sizeof res->message,
             "tick: %u reservations expired, %u deleted, %u keys forgotten, %u drop moves, "
             "%u events trimmed",
             expired, deleted, forgotten, moved, trimmed);
}
