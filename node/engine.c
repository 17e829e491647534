/*
 * engine.c -- loop turns, group commit, payments, opening and shutdown (see engine.h).
 *
 * A turn runs from a uv_idle callback, so every source of work (NNG arrivals, peer messages,
 * finished payments, the tick timers) just schedules one and several sources in one loop
 * iteration share it. While a turn's synced write is in progress the NNG threads keep queueing,
 * so the next turn's batch grows with the load: the fsync cost is shared by more ops exactly
 * when it matters (group commit, docs/ARCHITECTURE.md §8).
 *
 * One turn: client frames in; peer messages and due timeouts into the replica (which may apply
 * committed entries: their requests' results are encoded at once); with 3 or 5 replicas, when
 * that step put nothing that must be durable (applied state and commit_max only: the usual
 * PrepareOks that commit entries), an unsynced write of it and its effects go out at once -- the
 * committed requests' replies do not wait for the fsync of the entry prepared next; on the
 * primary, one new entry from the queued requests and internal ops, handed to
 * ld_repl_prepare(); ONE write of everything else the turn put, synced when it holds a log entry
 * or a view/meta change (ldi_rocks_batch_needs_sync); then, and only then, peer messages,
 * events, payments, reads and replies go out. With one replica every write is synced and the
 * entry is applied inside ld_repl_prepare(), so this is issue 1's turn exactly: log put, apply,
 * one sync, replies.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "log.h"
#include "util.h"

static void eng_turn(ldi_engine *e);

static bool
eng_on_loop_thread(const ldi_engine *e)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &e->loop_thread) != 0;
}

static void
eng_idle_cb(uv_idle_t *idle)
{
    ldi_engine *e = idle->data;
    uv_idle_stop(idle);
    eng_turn(e);
}

/* Schedules a turn on the next loop iteration (once, however often it is called). */
static void
eng_kick(ldi_engine *e)
{
    LD_ASSERT(eng_on_loop_thread(e));
    if (e->stopped || e->net == NULL || uv_is_active((uv_handle_t *)&e->turn_idle))
        return;
    uv_idle_start(&e->turn_idle, eng_idle_cb);
}

void
ldi_engine_wake(void *engine)
{
    eng_kick(engine);
}

static void
eng_pay_ready(void *arg)
{
    eng_kick(arg);
}

/* The batch timestamp: wall clock, but never before the last batch (clocks jump back), nor
 * before the log head's (which after a view change may come from another primary's clock). */
static int64_t
eng_timestamp(const ldi_engine *e)
{
    int64_t now = ldi_now_ms();
    int64_t last = ld_sm_last_ts(e->sm);
    if (e->repl != NULL && ld_repl_head_timestamp(e->repl) > last)
        last = ld_repl_head_timestamp(e->repl);
    return now > last ? now : last;
}

/* The body cases of livedrop.proto's Op are the op type numbers: a request is routed by them
 * before its ops are decoded. */
_Static_assert((int)LDPB__OP__BODY_CREATE_DROP == (int)LD_OP_CREATE_DROP, "op numbers");
_Static_assert((int)LDPB__OP__BODY_LIST_NOTIFICATIONS == (int)LD_OP_LIST_NOTIFICATIONS,
               "op numbers");
_Static_assert((int)LDPB__OP__BODY_GET_CLUSTER_STATUS == (int)LD_OP_GET_CLUSTER_STATUS,
               "op numbers");
_Static_assert((int)LDPB__OP__BODY_TICK == (int)LD_OP_TICK, "op numbers");
_Static_assert((int)LDPB__OP__BODY_RELAY_FOLLOW == (int)LD_OP_RELAY_FOLLOW, "op numbers");

/* The primary may add an entry now: the replica takes one and its flight slot is free. */
static bool
eng_can_prepare(const ldi_engine *e)
{
    return e->rs.primary && ld_repl_can_prepare(e->repl) &&
           !e->flights[ld_repl_next_op(e->repl) % ENG_FLIGHTS].used;
}

/* Linearizable reads (REPLICATION.md §9.2). A single replica is its own quorum. */
static bool
eng_can_read(const ldi_engine *e, int64_t now)
{
    if (e->replica_count == 1)
        return e->rs.primary;
    return ld_repl_can_read(e->repl, now);
}

/* ---- step 2: take requests ----------------------------------------------------------------- */

/* Where a queued request goes, by this replica's role (REPLICATION.md §9). */
typedef enum eng_route {
    ROUTE_TAKE = 0,        /* writes join the batch; reads are answered after the sync */
    ROUTE_WAIT = 1,        /* a write while no entry can be prepared: it and what follows wait */
    ROUTE_NOT_PRIMARY = 2, /* refused: NOT_PRIMARY, naming where to retry */
    ROUTE_INVALID = 3,     /* follower_read with a write op */
} eng_route;

static eng_route
eng_route_req(const ldi_engine *e, const eng_req *r, bool can_prepare, int64_t now)
{
    bool has_write = false;
    bool all_status = true;
    for (uint32_t i = 0; i < r->n_ops; i++) {
        ld_op_type t = (ld_op_type)r->pb->ops[i]->body_case;
        has_write |= ld_op_is_write(t);
        all_status &= t == LD_OP_GET_CLUSTER_STATUS;
    }
    if (r->follower && has_write)
        return ROUTE_INVALID;
    if (all_status)
        return ROUTE_TAKE; /* any replica, any status */
    if (e->rs.status != LD_REPL_NORMAL)
        return ROUTE_NOT_PRIMARY;
    if (r->follower)
        return ROUTE_TAKE;
    if (!e->rs.primary)
        return ROUTE_NOT_PRIMARY;
    if (has_write)
        return can_prepare ? ROUTE_TAKE : ROUTE_WAIT;
    return eng_can_read(e, now) ? ROUTE_TAKE : ROUTE_NOT_PRIMARY;
}

/* Decodes one op of a taken request: its error result, a batch entry, or a pending read. */
static void
eng_take_op(ldi_engine *e, eng_req *r, uint32_t i)
{
    const Ldpb__Op *pb = r->pb->ops[i];
    ld_op *op = &e->batch_ops[e->batch_n];
    if (ld_codec_op_from_pb(pb, true, op, &e->tmp_result) != LD_OK) {
        ldi_eng_put_result(e, r, i, &e->tmp_result);
        return;
    }
    if (op->type == LD_OP_GET_CLUSTER_STATUS) {
        ldi_eng_put_cluster_status(e, r, i);
        return;
    }
    if (ld_op_is_page(op->type) && r->n_pages >= LD_REQUEST_LIST_OPS_MAX) {
        ld_result_fail(&e->tmp_result, LD_ERR_TOO_MANY_OPS,
                       "at most %u list and pull ops per request", LD_REQUEST_LIST_OPS_MAX);
        ldi_eng_put_result(e, r, i, &e->tmp_result);
        return;
    }
    if (!ld_op_is_write(op->type)) {
        r->n_pages += ld_op_is_page(op->type);
        r->slots[i].state = SLOT_READ;
        r->n_reads++;
        e->metrics.reads++;
        return;
    }
    LD_ASSERT(e->building != NULL); /* routed ROUTE_TAKE with a write: an entry is being built */
    bool payment = op->type == LD_OP_PLACE_ORDER;
    if (payment && ldi_pay_method_check(e->pay, op->u.reserve.payment_method, e->tmp_result.message,
                                        sizeof e->tmp_result.message) != LD_OK) {
        e->tmp_result.code = LD_ERR_INVALID_ARGUMENT;
        e->tmp_result.kind = LD_RESULT_NONE;
        ldi_eng_put_result(e, r, i, &e->tmp_result);
        return;
    }
    if (payment) {
        /* Reserve payment capacity now, so the payment can always start after the apply. */
        if (ldi_pay_in_flight(e->pay) + e->planned_payments >= LD_NODE_PAYMENTS_MAX) {
            ld_result_fail(&e->tmp_result, LD_ERR_BUSY, "%u payments in flight; retry later",
                           LD_NODE_PAYMENTS_MAX);
            ldi_eng_put_result(e, r, i, &e->tmp_result);
            return;
        }
        e->planned_payments++;
        e->building->payments++;
    }
    r->slots[i].state = SLOT_BATCH;
    r->n_batch++;
    r->has_write = true;
    e->batch_src[e->batch_n] =
        (eng_src){.kind = SRC_CLIENT, .payment = payment, .a = r->index, .b = i};
    e->batch_pb[e->batch_n] = (Ldpb__Op *)pb;
    e->batch_n++;
    e->metrics.writes++;
}

/* Takes whole queued requests, oldest first, while their ops surely fit in this batch next to
 * `relays` RELAY_FOLLOW ops and the entry stays below its byte budget; refuses those this
 * replica does not serve. Returns true when the queue's head must wait for the pipeline. */
static bool
eng_take_requests(ldi_engine *e, uint32_t relays, bool can_prepare, int64_t now)
{
    LD_ASSERT(relays <= ENG_RELAY_OPS_MAX);
    uint32_t room = ENG_CLIENT_OPS_MAX - relays;
    while (e->fifo_len > 0) {
        eng_req *r = &e->reqs[e->fifo[e->fifo_head]];
        LD_ASSERT(r->state == REQ_QUEUED);
        eng_route route = eng_route_req(e, r, can_prepare, now);
        if (route == ROUTE_WAIT)
            return true;
        if (route == ROUTE_TAKE && (e->batch_n + r->n_ops > room ||
                                    e->batch_bytes + r->frame_len > ENG_ENTRY_CLIENT_BYTES_MAX))
            break;
        e->fifo_head = (e->fifo_head + 1) % LD_NODE_CONTEXTS;
        e->fifo_len--;
        LD_ASSERT(e->pending_ops >= r->n_ops);
        e->pending_ops -= r->n_ops;
        r->state = REQ_TAKEN;
        if (route == ROUTE_NOT_PRIMARY) {
            ldi_eng_reply_not_primary(e, r, "not the primary of the shard (or no read lease)");
            continue;
        }
        if (route == ROUTE_INVALID) {
            ldi_eng_reply_envelope(e, r, LD_ERR_INVALID_ARGUMENT,
                                   "follower_read is for read-only requests");
            continue;
        }
        e->batch_bytes += r->frame_len;
        ldi_eng_touch(e, r);
        for (uint32_t i = 0; i < r->n_ops; i++)
            eng_take_op(e, r, i);
    }
    return false;
}

/* ---- step 3: internal ops ------------------------------------------------------------------ */

void
ldi_eng_add_internal(ldi_engine *e, uint32_t k, const ld_op *op, eng_src src)
{
    LD_ASSERT(k < ENG_INTERNAL_OPS_MAX);
    LD_ASSERT(e->batch_n < LD_BATCH_OPS_MAX);
    e->batch_ops[e->batch_n] = *op;
    ld_codec_op_to_pb(&e->batch_ops[e->batch_n], &e->internal_pb[k], &e->internal_scratch[k]);
    e->batch_pb[e->batch_n] = &e->internal_pb[k];
    e->batch_src[e->batch_n] = src;
    e->batch_n++;
    e->metrics.internal_ops++;
}

static void
eng_take_internal(ldi_engine *e, int64_t ts)
{
    size_t n = ldi_pay_take_done(e->pay, e->done, ENG_FINISH_OPS_MAX);
    ld_op *op = &e->tmp_op;
    for (size_t k = 0; k < n; k++) {
        memset(op, 0, sizeof *op);
        op->type = LD_OP_FINISH_ORDER;
        op->u.finish.reservation_id = e->done[k].reservation_id;
        op->u.finish.approved = e->done[k].approved;
        snprintf(op->u.finish.payment_ref, sizeof op->u.finish.payment_ref, "%s",
                 e->done[k].payment_ref);
        ldi_eng_add_internal(e, (uint32_t)k, op, (eng_src){.kind = SRC_FINISH, .a = (uint32_t)k});
    }
    uint32_t k = (uint32_t)n + ldi_eng_relay_take(e, (uint32_t)n);
    int64_t deadline = ld_sm_next_deadline_ms(e->sm);
    if (deadline <= ts) {
        /* Due: expiries, forgotten keys, drop boundaries (DROP_LIVE / DROP_ENDED). The tick
         * timer checks every LD_TICK_INTERVAL_MS, so the lag stays below that plus a turn. */
        LDI_DEBUG("tick at %" PRId64 ": due since %" PRId64 " (%" PRId64 " ms late)", ts, deadline,
                  ts - deadline);
        memset(op, 0, sizeof *op);
        op->type = LD_OP_TICK;
        ldi_eng_add_internal(e, k, op, (eng_src){.kind = SRC_TICK});
    }
}

/* ---- step 4: prepare the entry, one synced write ------------------------------------------- */

/* Packs the batch as log entry `op_number` into log_buf; returns its length. */
static size_t
eng_pack_entry(ldi_engine *e, uint64_t op_number, int64_t ts)
{
    /* The entry's id seed: drawn here, when the primary forms the entry, never at apply time
     * (every replica applies the entry with the seed it carries). */
    if (uv_random(NULL, NULL, e->batch_id_seed.bytes, sizeof e->batch_id_seed.bytes, 0, NULL) != 0)
        ldi_fatal("no randomness for the id seed of log entry %" PRIu64, op_number);
    Ldpb__LogEntry entry = LDPB__LOG_ENTRY__INIT;
    entry.op = op_number;
    entry.timestamp_ms = ts;
    entry.n_ops = e->batch_n;
    entry.ops = e->batch_pb;
    entry.id_seed.data = e->batch_id_seed.bytes;
    entry.id_seed.len = sizeof e->batch_id_seed.bytes;
    size_t len = ldpb__log_entry__get_packed_size(&entry);
    if (len > e->log_cap) {
        size_t cap = e->log_cap ? e->log_cap : 64 * 1024;
        while (cap < len)
            cap *= 2;
        e->log_buf = ldi_xrealloc(e->log_buf, cap);
        e->log_cap = cap;
    }
    size_t packed = ldpb__log_entry__pack(&entry, e->log_buf);
    LD_ASSERT(packed == len);
    return len;
}

/* Writes the pending write batch with sync; a failure stops the node. Returns the fsync's us. */
static uint64_t
eng_sync(ldi_engine *e)
{
    e->metrics.records += (uint64_t)ldi_rocks_batch_count(e->rocks);
    if (!ldi_rocks_batch_needs_sync(e->rocks))
        e->wc.fsyncs_needless++;
    uint64_t t0 = uv_hrtime();
    if (ldi_rocks_batch_write(e->rocks, true) != LD_OK)
        ldi_fatal("storage: a synced write failed (applied op %" PRIu64 "); the state in memory "
                  "is ahead of the disk, stopping",
                  ld_sm_applied_op(e->sm));
    uint64_t us = (uv_hrtime() - t0) / 1000;
    e->metrics.fsyncs++;
    e->metrics.fsync_us += us;
    if (us > e->metrics.fsync_us_max)
        e->metrics.fsync_us_max = us;
    if (us > e->metrics.fsync_us_max_all)
        e->metrics.fsync_us_max_all = us;
    if (e->sm != NULL)
        e->durable_applied_op = ld_sm_applied_op(e->sm);
    return us;
}

/* The replica refused the entry (not reached while the engine checks can_prepare and the byte
 * budget): its client ops get `err`; its finished payments are driven again by the next ready
 * primary. */
static void
eng_refuse_flight(ldi_engine *e, eng_flight *f, ld_err err)
{
    LDI_ERROR("replica refused entry %" PRIu64 " of %u ops: %s", f->op, f->n, ld_err_name(err));
    for (uint32_t i = 0; i < f->n; i++) {
        const eng_src *src = &f->src[i];
        if (src->kind != SRC_CLIENT)
            continue;
        eng_req *r = &e->reqs[src->a];
        r->n_batch--;
        ld_result_fail(&e->tmp_result, err, "the batch could not be replicated; retry");
        ldi_eng_put_result(e, r, src->b, &e->tmp_result);
    }
    e->planned_payments -= f->payments;
    f->payments = 0;
    f->used = false;
}

/* Hands the batch to the replica as the next log entry. With one replica it is applied (and its
 * results resolved) before ld_repl_prepare() returns. */
static void
eng_prepare(ldi_engine *e, eng_flight *f, int64_t ts, int64_t now)
{
    LD_ASSERT(e->batch_n > 0 && e->batch_n <= LD_BATCH_OPS_MAX);
    LD_ASSERT(f == e->building && !f->used);
    uint64_t op = ld_repl_next_op(e->repl);
    size_t len = eng_pack_entry(e, op, ts);
    f->used = true;
    f->op = op;
    f->view = e->rs.view;
    f->n = e->batch_n;
    ld_err err = len > LD_PEER_ENTRY_BYTES_MAX
                     ? LD_ERR_FRAME_TOO_LARGE
                     : ld_repl_prepare(e->repl, e->log_buf, (uint32_t)len, ts, now);
    if (err != LD_OK)
        eng_refuse_flight(e, f, err);
    e->building = NULL;
    ldi_eng_repl_observe(e);
}

/* ---- step 5: payments, reads, replies ------------------------------------------------------ */

static void
eng_start_payments(ldi_engine *e)
{
    for (uint32_t i = 0; i < e->n_pay_starts; i++) {
        const eng_pay_start *ps = &e->pay_starts[i];
        LD_ASSERT(e->planned_payments > 0);
        e->planned_payments--;
        ld_err err = ldi_pay_start(e->pay, &ps->req, &ps->waiter);
        if (err == LD_OK)
            continue;
        /* Not reached while admission reserves capacity; the reservation then stays pending
         * until it expires (tick) or a primary drives the payment again. */
        LDI_ERROR("payment could not start: %s", ld_err_name(err));
        eng_req *r = &e->reqs[ps->waiter.req_index];
        if (r->gen != ps->waiter.gen || r->slots[ps->waiter.op_index].state != SLOT_PAYMENT)
            continue;
        ld_result_fail(&e->tmp_result, err, "payment could not start; the reservation will expire");
        ldi_eng_put_result(e, r, ps->waiter.op_index, &e->tmp_result);
        ldi_eng_touch(e, r);
    }
    e->n_pay_starts = 0;
}

/* Answers the reads of request `r` from the state just made durable: plain reads first, then
 * page ops (which size themselves to the room the other results leave). */
static void
eng_answer_req_reads(ldi_engine *e, eng_req *r, int64_t ts, bool pages)
{
    for (uint32_t i = 0; i < r->n_ops && r->n_reads > 0; i++) {
        if (r->slots[i].state != SLOT_READ)
            continue;
        if (ld_codec_op_from_pb(r->pb->ops[i], true, &e->tmp_op, &e->tmp_result) != LD_OK) {
            ldi_eng_put_result(e, r, i, &e->tmp_result); /* not reached: decoded at take */
        } else if (ld_op_is_page(e->tmp_op.type)) {
            if (!pages)
                continue;
            ldi_eng_answer_page(e, r, i, &e->tmp_op, ts, true);
        } else {
            ld_sm_read(e->sm, ts, &e->tmp_op, &e->tmp_result);
            ldi_eng_put_result(e, r, i, &e->tmp_result);
        }
        r->n_reads--;
    }
}

/* Gives every op of `r` not resolved yet (and not a parked pull) the result `code`. */
static void
eng_fail_open_slots(ldi_engine *e, eng_req *r, ld_err code, const char *why)
{
    for (uint32_t k = 0; k < r->n_ops; k++) {
        uint8_t s = r->slots[k].state;
        if (s != SLOT_BATCH && s != SLOT_PAYMENT && s != SLOT_READ && s != SLOT_PENDING)
            continue;
        if (s == SLOT_READ)
            r->n_reads--;
        ld_result_fail(&e->tmp_result, code, "%s", why);
        ldi_eng_put_result(e, r, k, &e->tmp_result);
    }
}

static bool
eng_has_polls(const eng_req *r)
{
    for (uint32_t k = 0; k < r->n_ops; k++)
        if (r->slots[k].state == SLOT_POLL)
            return true;
    return false;
}

#define ENG_ABANDONED_WHY                                                                          \
    "the replica left the view in which it took this request: its outcome is unknown; retry with " \
    "the same ids and idempotency keys"

/* The reads of `r`, once its writes are applied: linearizable ones only under the lease. */
static void
eng_answer_reads(ldi_engine *e, eng_req *r, int64_t ts, int64_t now)
{
    if (!r->follower && !eng_can_read(e, now)) {
        eng_fail_open_slots(e, r, LD_ERR_NOT_PRIMARY,
                            "no read lease: not (or no longer) the "
                            "primary");
        return;
    }
    eng_answer_req_reads(e, r, ts, r->n_pages == 0);
    if (r->n_pages > 0)
        eng_answer_req_reads(e, r, ts, true);
}

/* After the sync: answers, replies or parks every request this turn took or resolved. */
static void
eng_finish_touched(ldi_engine *e, int64_t ts, int64_t now)
{
    for (uint32_t t = 0; t < e->n_touched; t++) {
        eng_req *r = &e->reqs[e->touched[t]];
        r->touched = false;
        if (r->state != REQ_TAKEN && r->state != REQ_WAITING)
            continue;
        if (r->abandoned) {
            r->abandoned = false;
            if (!eng_has_polls(r) && !(r->n_reads > 0 && !r->has_write)) {
                if (r->state == REQ_WAITING)
                    e->n_waiting--;
                ldi_eng_reply_not_primary(e, r, ENG_ABANDONED_WHY);
                continue;
            }
            eng_fail_open_slots(e, r, LD_ERR_NOT_PRIMARY, ENG_ABANDONED_WHY);
        }
        if (r->n_batch == 0 && r->n_reads > 0)
            eng_answer_reads(e, r, ts, now);
        if (r->unresolved == 0) {
            if (r->state == REQ_WAITING)
                e->n_waiting--;
            ldi_eng_reply(e, r);
            continue;
        }
        if (r->state == REQ_TAKEN) {
            r->state = REQ_WAITING; /* writes in flight, payments or parked pulls */
            e->n_waiting++;
        }
        if (r->n_reads == 0 && r->pb != NULL)
            ldi_eng_req_drop_pb(e, r);
    }
    e->n_touched = 0;
}

/* A replica that is not primary drops finished payments: the next primary drives them again
 * from the state machine (ld_sm_pending_payments). */
static void
eng_drop_payment_results(ldi_engine *e)
{
    if (e->rs.primary || ldi_pay_done_count(e->pay) == 0)
        return;
    size_t n = ldi_pay_take_done(e->pay, e->flights[0].done, ENG_FINISH_OPS_MAX);
    LDI_INFO("%zu finished payment(s) dropped: not the primary (the primary drives them again)", n);
}

/* Writes what the turn's calls put so far. With sync when any of it must be durable before
 * their effects leave (ldi_rocks_batch_needs_sync: log entries, view, log_view...), and always
 * with one replica (its replies need the apply durable: issue 1's group commit). With 3 or 5
 * replicas a batch of applied state and commit_max only is written without sync
 * (REPLICATION.md §8: nothing waits on them; an acknowledged entry is durable on a quorum of
 * logs): iterators (page reads, state snapshots) read it at once, a process crash keeps it (the
 * WAL is in the OS), an OS crash may lose it and the replica then re-applies from its log and
 * relearns commit from the primary. The next synced write makes it durable too (one WAL). */
static void
eng_write(ldi_engine *e)
{
    if (ldi_rocks_batch_count(e->rocks) == 0)
        return;
    e->wc.writes++;
    if (e->replica_count == 1 || ldi_rocks_batch_needs_sync(e->rocks)) {
        uint64_t us = eng_sync(e);
        if (e->turn_held) {
            e->wc.commit_held++;
            e->wc.commit_held_us += us;
        }
        return;
    }
    e->metrics.records += (uint64_t)ldi_rocks_batch_count(e->rocks);
    if (ldi_rocks_batch_write(e->rocks, false) != LD_OK)
        ldi_fatal("storage: a write failed (applied op %" PRIu64 "); stopping",
                  ld_sm_applied_op(e->sm));
    e->wc.writes_nosync++;
    e->durable_applied_op = ld_sm_applied_op(e->sm);
}

/* Everything the turn's calls so far put is written, and durable where it must be: their effects
 * go out (repl.h's host rule) -- peer messages, events, payments, results, reads, parked pulls. */
static void
eng_release(ldi_engine *e, int64_t ts, int64_t now)
{
    ldi_eng_repl_flush(e);
    if (e->events_deferred) {
        e->events_deferred = false;
        ldi_eng_after_commit(e, e->primary_ready); /* publish, queue relays, wake parked pulls */
    }
    eng_start_payments(e);
    eng_finish_touched(e, ts, now);
    ldi_eng_polls_run_ready(e, ts);
    eng_drop_payment_results(e);
}

static void
eng_turn(ldi_engine *e)
{
    LD_ASSERT(eng_on_loop_thread(e));
    LD_ASSERT(!e->stopped && e->net != NULL);
    LD_ASSERT(e->n_touched == 0 && e->building == NULL);
    int64_t now = ldi_eng_mono_ms();
    e->batch_n = 0;
    e->batch_bytes = 0;
    ldi_net_drain(e->net, ldi_eng_on_msg, e);
    ldi_eng_repl_step(e, now); /* peer messages and timeouts: may apply committed entries */
    int64_t ts = eng_timestamp(e);
    bool committed = e->replica_count > 1 && e->n_touched > 0; /* requests resolved by applies */
    e->wc.commit_turns += committed;
    if (e->replica_count > 1 && !ldi_rocks_batch_needs_sync(e->rocks)) {
        /* The replica step put nothing that must be durable (typically PrepareOks that committed
         * entries: applied state and commit_max): its effects -- the committed requests'
         * replies above all -- go out now, not after this turn's prepare and its fsync. */
        eng_write(e);
        eng_release(e, ts, now);
    } else {
        e->turn_held = committed; /* their replies wait for this turn's fsync */
    }
    bool can_prepare = eng_can_prepare(e);
    eng_flight *f = NULL;
    if (can_prepare) {
        f = &e->flights[ld_repl_next_op(e->repl) % ENG_FLIGHTS];
        f->n = 0;
        f->payments = 0;
        e->building = f;
        e->batch_src = f->src;
        e->done = f->done;
    }
    uint32_t relays = can_prepare && e->primary_ready ? ldi_eng_relay_fill(e, ts) : 0;
    bool blocked = eng_take_requests(e, relays, can_prepare, now);
    if (can_prepare && e->primary_ready)
        eng_take_internal(e, ts);
    if (e->batch_n > 0) {
        e->wc.prepared++;
        eng_prepare(e, f, ts, now);
    }
    e->building = NULL;
    e->batch_n = 0;
    eng_write(e);
    e->turn_held = false;
    eng_release(e, ts, now);
    bool internal = e->primary_ready && eng_can_prepare(e) &&
                    (ldi_pay_done_count(e->pay) > 0 || ldi_eng_relay_pending(e));
    if ((e->fifo_len > 0 && !blocked) || internal)
        eng_kick(e);
}

/* ---- timers -------------------------------------------------------------------------------- */

static void
eng_tick_cb(uv_timer_t *timer)
{
    ldi_engine *e = timer->data;
    if (e->primary_ready && ld_sm_next_deadline_ms(e->sm) <= eng_timestamp(e))
        eng_kick(e);
}

/* Drives the replica's timeouts (resends, heartbeats, view changes, repair). */
static void
eng_repl_timer_cb(uv_timer_t *timer)
{
    ldi_engine *e = timer->data;
    if (ld_repl_next_deadline(e->repl) <= ldi_eng_mono_ms())
        eng_kick(e);
}

static void
eng_report(ldi_engine *e, bool final)
{
    ldi_pay_stats ps;
    ld_sm_stats ss;
    ldi_pay_stats_get(e->pay, &ps);
    ld_sm_stats_get(e->sm, &ss);
    e->metrics.polls_now = e->n_polls;
    e->metrics.subscribers = e->pub != NULL ? ldi_pub_subscribers(e->pub) : 0;
    uint64_t now = uv_now(e->loop);
    uint64_t since = final ? e->started_ms : e->metrics_last_ms;
    double seconds = (double)(now - since) / 1000.0;
    LDI_INFO("writes since start: writes=%" PRIu64 " entries_prepared=%" PRIu64 " fsyncs=%" PRIu64
             " (needless %" PRIu64 ") unsynced=%" PRIu64 " | commit turns=%" PRIu64
             " (replies held by a fsync in %" PRIu64 ", %.1f ms in all)",
             e->wc.writes, e->wc.prepared, e->metrics.fsyncs, e->wc.fsyncs_needless,
             e->wc.writes_nosync, e->wc.commit_turns, e->wc.commit_held,
             (double)e->wc.commit_held_us / 1000.0);
    ldi_metrics_report(&e->metrics, &e->metrics_last, &ps, &ss, seconds, final);
    e->metrics_last_ms = now;
    if (final && e->peer != NULL) {
        ldi_peer_stats pst;
        ld_repl_stats rst;
        ldi_peer_stats_get(e->peer, &pst);
        ld_repl_stats_get(e->repl, &rst);
        LDI_INFO("peer totals: sent=%" PRIu64 " send_dropped=%" PRIu64 " lost=%" PRIu64
                 " received=%" PRIu64 " recv_dropped=%" PRIu64 " bad_frames=%" PRIu64
                 " | replica: dropped=%" PRIu64 " view_changes=%" PRIu64 " repairs=%" PRIu64
                 " state_transfers=%" PRIu64 " prepares_sent=%" PRIu64,
                 pst.sent, pst.send_dropped, e->peer_lost_sends, pst.received, pst.recv_dropped,
                 e->peer_bad_frames, rst.dropped, rst.view_changes, rst.repairs,
                 rst.state_transfers, rst.prepares_sent);
    }
}

static void
eng_metrics_cb(uv_timer_t *timer)
{
    ldi_engine *e = timer->data;
    if (e->metrics.requests != e->metrics_last.requests ||
        e->metrics.batches != e->metrics_last.batches)
        eng_report(e, false);
    else
        e->metrics_last_ms = uv_now(e->loop);
}

/* ---- opening ------------------------------------------------------------------------------- */

/* A brand-new directory (`created`) is formatted when asked (--format) or when this node is the
 * only replica; --format on a directory that holds data is refused (REPLICATION.md §7.3). */
static ld_err
eng_format(ldi_engine *e, bool created)
{
    const ldi_config *cfg = &e->cfg;
    if (cfg->format && !created) {
        LDI_ERROR("--format: %s already holds a livedrop data directory; refusing to format it "
                  "(to start this replica afresh, remove the directory and start without "
                  "--format: it then recovers from the other replicas)",
                  cfg->data_dir);
        return LD_ERR_STORAGE;
    }
    if (!created)
        return LD_OK;
    if (cfg->format || e->replica_count == 1) {
        ld_repl_format(&e->repl_store);
        LDI_INFO("formatted %s: replica %u of %u, cluster %" PRIu64, cfg->data_dir,
                 cfg->replica_index, e->replica_count, cfg->cluster_id);
    } else {
        LDI_WARN("%s is new and was not formatted: this replica recovers its state from the "
                 "others (start a brand-new cluster with --format)",
                 cfg->data_dir);
    }
    eng_sync(e);
    return LD_OK;
}

static ld_err
eng_open_peer(ldi_engine *e)
{
    if (e->replica_count == 1)
        return LD_OK;
    const char *urls[LD_PEER_REPLICAS_MAX];
    for (uint32_t i = 0; i < e->replica_count; i++)
        urls[i] = e->cfg.replicas[i].peer_url;
    return ldi_peer_open(e->loop, e->cfg.replica_index, e->replica_count, urls, ldi_engine_wake, e,
                         &e->peer);
}

/* Opens the replica: it re-applies the committed entries the state machine lacks (the
 * recovery of issue 1), or starts recovering when the directory holds no replica state. */
static ld_err
eng_open_repl(ldi_engine *e)
{
    ld_repl_config rc;
    memset(&rc, 0, sizeof rc);
    rc.cluster_id = e->cfg.cluster_id;
    rc.shard_id = 0;
    rc.replica = e->cfg.replica_index;
    rc.replica_count = e->replica_count;
    uint8_t nonce[16];
    if (uv_random(NULL, NULL, nonce, sizeof nonce, 0, NULL) != 0)
        ldi_fatal("no randomness for the replica's nonce");
    uint64_t applied = ld_sm_applied_op(e->sm);
    e->host = ldi_eng_repl_host;
    e->host.arg = e;
    e->opening = true;
    ld_err err =
        ld_repl_open(&rc, &e->repl_store, &e->host, applied, nonce, ldi_eng_mono_ms(), &e->repl);
    e->opening = false;
    if (err != LD_OK) {
        LDI_ERROR("replica: cannot open (%s)%s", ld_err_name(err),
                  e->replica_count == 1 ? ": a single node's data directory without replica "
                                          "state cannot recover; format a new one"
                                        : "");
        return err;
    }
    if (ldi_rocks_batch_count(e->rocks) > 0)
        eng_sync(e);
    e->durable_applied_op = ld_sm_applied_op(e->sm);
    if (e->durable_applied_op != applied)
        LDI_WARN("recovery: re-applied log entries %" PRIu64 "..%" PRIu64, applied + 1,
                 e->durable_applied_op);
    ldi_eng_repl_flush(e);
    ldi_eng_repl_observe(e);
    return LD_OK;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void
eng_alloc_arrays(ldi_engine *e)
{
    e->batch_ops = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->batch_ops);
    e->batch_results = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->batch_results);
    e->batch_pb = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->batch_pb);
    e->internal_pb = ldi_xcalloc(ENG_INTERNAL_OPS_MAX, sizeof *e->internal_pb);
    e->internal_scratch = ldi_xcalloc(ENG_INTERNAL_OPS_MAX, sizeof *e->internal_scratch);
    for (uint32_t i = 0; i < ENG_FLIGHTS; i++) {
        e->flights[i].src = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->flights[i].src);
        e->flights[i].done = ldi_xcalloc(ENG_FINISH_OPS_MAX, sizeof *e->flights[i].done);
    }
    e->batch_src = e->flights[0].src;
    e->done = e->flights[0].done;
}

ld_err
ldi_engine_open(uv_loop_t *loop, const ldi_config *cfg, ldi_engine **out)
{
    LD_ASSERT(loop != NULL && cfg != NULL);
    LD_ASSERT(out != NULL);
    ldi_engine *e = ldi_xcalloc(1, sizeof *e);
    e->loop = loop;
    e->loop_thread = uv_thread_self();
    e->cfg = *cfg;
    e->replica_count = cfg->replica_count > 1 ? cfg->replica_count : 1;
    eng_alloc_arrays(e);
    ldi_eng_reqs_init(e);
    /* The peer socket first: a taken peer port stops the node before it creates (or formats) a
     * new data directory. Peer messages wait in their queue until the loop runs. */
    ld_err err = eng_open_peer(e);
    if (err != LD_OK)
        goto out_free;
    bool created = false;
    err = ldi_rocks_open(cfg->data_dir, cfg->node_id, &created, &e->rocks);
    if (err != LD_OK)
        goto out_free;
    e->store = ldi_rocks_store(e->rocks);
    e->repl_store = ldi_rocks_repl_store(e->rocks);
    err = eng_format(e, created);
    if (err != LD_OK)
        goto out_free;
    err = ld_sm_open(&e->store, &e->sm);
    if (err != LD_OK) {
        LDI_ERROR("state: cannot rebuild the state machine: %s", ld_err_name(err));
        goto out_free;
    }
    err = eng_open_repl(e);
    if (err != LD_OK)
        goto out_free;
    ld_sm_check(e->sm);
    ld_sm_stats ss;
    ld_sm_stats_get(e->sm, &ss);
    LDI_INFO("recovered: applied op %" PRIu64 ", drops=%" PRIu64 " reservations=%" PRIu64
             " (active %" PRIu64 ") orders=%" PRIu64 " idempotency_keys=%" PRIu64,
             ld_sm_applied_op(e->sm), ss.drops, ss.reservations, ss.reservations_active, ss.orders,
             ss.idempotency_keys);
    ldi_eng_events_init(e);
    e->pay = ldi_pay_open(ldi_payment_test_provider(loop, cfg->payment_slow_ms), eng_pay_ready, e);
    *out = e;
    return LD_OK;
out_free:
    ldi_engine_free(e);
    return err;
}

void
ldi_engine_start(ldi_engine *e, ldi_net *net, ldi_pub *pub)
{
    LD_ASSERT(e->net == NULL && net != NULL);
    LD_ASSERT(!e->stopped);
    e->net = net;
    e->pub = pub;
    LD_ASSERT(uv_idle_init(e->loop, &e->turn_idle) == 0);
    LD_ASSERT(uv_timer_init(e->loop, &e->tick_timer) == 0);
    LD_ASSERT(uv_timer_init(e->loop, &e->metrics_timer) == 0);
    LD_ASSERT(uv_timer_init(e->loop, &e->repl_timer) == 0);
    e->turn_idle.data = e;
    e->tick_timer.data = e;
    e->metrics_timer.data = e;
    e->repl_timer.data = e;
    ldi_eng_polls_start(e);
    uv_timer_start(&e->tick_timer, eng_tick_cb, LD_TICK_INTERVAL_MS, LD_TICK_INTERVAL_MS);
    uv_timer_start(&e->metrics_timer, eng_metrics_cb, ENG_METRICS_INTERVAL_MS,
                   ENG_METRICS_INTERVAL_MS);
    uv_timer_start(&e->repl_timer, eng_repl_timer_cb, LD_PEER_TICK_MS, LD_PEER_TICK_MS);
    e->metrics_last_ms = uv_now(e->loop);
    e->started_ms = e->metrics_last_ms;
    ldi_eng_repl_observe(e); /* a ready primary drives the payments a stop interrupted */
    eng_kick(e);
}

void
ldi_engine_shutdown_begin(ldi_engine *e)
{
    if (e->shutting_down || e->stopped)
        return;
    ldi_net_drain(e->net, ldi_eng_on_msg, e); /* arrived before the signal: still served */
    e->shutting_down = true;
    if (e->n_polls > 0)
        LDI_INFO("shutdown: answering %u parked pull(s) now", e->n_polls);
    ldi_eng_polls_answer_all(e, eng_timestamp(e)); /* and no pull parks from now on */
    eng_kick(e);
}

bool
ldi_engine_drained(const ldi_engine *e)
{
    return e->fifo_len == 0 && e->n_waiting == 0 && ldi_pay_in_flight(e->pay) == 0 &&
           !uv_is_active((const uv_handle_t *)&e->turn_idle);
}

void
ldi_engine_abandon(ldi_engine *e)
{
    LD_ASSERT(e->shutting_down && !e->stopped);
    LD_ASSERT(e->n_polls == 0); /* answered by ldi_engine_shutdown_begin() */
    ldi_net_drain(e->net, ldi_eng_on_msg, e);
    while (e->fifo_len > 0) {
        eng_req *r = &e->reqs[e->fifo[e->fifo_head]];
        e->fifo_head = (e->fifo_head + 1) % LD_NODE_CONTEXTS;
        e->fifo_len--;
        e->pending_ops -= r->n_ops;
        ldi_eng_reply_envelope(e, r, LD_ERR_SHUTTING_DOWN, "node stopped before running it");
    }
    /* Entries still in flight may commit after all; nobody waits for them here any more. */
    for (uint32_t i = 0; i < ENG_FLIGHTS; i++) {
        eng_flight *f = &e->flights[i];
        if (!f->used)
            continue;
        for (uint32_t k = 0; k < f->n; k++)
            if (f->src[k].kind == SRC_CLIENT)
                e->reqs[f->src[k].a].n_batch--;
        e->planned_payments -= f->payments;
        f->payments = 0;
        f->used = false;
    }
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++) {
        eng_req *r = &e->reqs[i];
        if (r->state != REQ_WAITING)
            continue;
        eng_fail_open_slots(e, r, LD_ERR_SHUTTING_DOWN,
                            "node stopped before this op finished; retry with the same key");
        e->n_waiting--;
        ldi_eng_reply(e, r);
    }
    LD_ASSERT(e->n_waiting == 0);
}

void
ldi_engine_stop(ldi_engine *e)
{
    if (e->stopped)
        return;
    e->stopped = true;
    if (e->net != NULL) {
        eng_report(e, true);
        uv_close((uv_handle_t *)&e->turn_idle, NULL);
        uv_close((uv_handle_t *)&e->tick_timer, NULL);
        uv_close((uv_handle_t *)&e->metrics_timer, NULL);
        uv_close((uv_handle_t *)&e->repl_timer, NULL);
        ldi_eng_polls_stop(e);
    }
    ldi_peer_close(e->peer);
    e->peer = NULL;
    ldi_pay_close(e->pay);
    e->pay = NULL;
    e->net = NULL;
    e->pub = NULL;
}

void
ldi_engine_free(ldi_engine *e)
{
    if (e == NULL)
        return;
    ldi_pay_close(e->pay);   /* never started: no uv handles yet */
    ldi_peer_close(e->peer); /* opened but never started: run the loop afterwards */
    if (e->repl != NULL)
        ld_repl_free(e->repl);
    if (e->sm != NULL)
        ld_sm_free(e->sm);
    ldi_rocks_close(e->rocks);
    ldi_eng_reqs_fini(e);
    ldi_eng_events_fini(e);
    for (uint32_t i = 0; i < e->n_out; i++)
        free(e->outbox[i].buf);
    for (uint32_t i = 0; i < ENG_FLIGHTS; i++) {
        free(e->flights[i].src);
        free(e->flights[i].done);
    }
    free(e->batch_ops);
    free(e->batch_results);
    free(e->batch_pb);
    free(e->internal_pb);
    free(e->internal_scratch);
    free(e->apply_ops);
    free(e->pay_starts);
    free(e->log_buf);
    free(e);
}
