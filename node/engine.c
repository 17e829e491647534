/*
 * engine.c -- loop turns, group commit, payments, recovery and shutdown (see engine.h).
 *
 * A turn runs from a uv_idle callback, so every source of work (NNG arrivals, finished
 * payments, the tick timer) just schedules one and several sources in one loop iteration share
 * it. While a turn's synced write is in progress the NNG threads keep queueing, so the next
 * turn's batch grows with the load: the fsync cost is shared by more ops exactly when it
 * matters (group commit, DESIGN.md §10).
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

/* The batch timestamp: wall clock, but never before the last batch (clocks jump back). */
static int64_t
eng_timestamp(const ldi_engine *e)
{
    int64_t now = ldi_now_ms();
    int64_t last = ld_sm_last_ts(e->sm);
    return now > last ? now : last;
}

/* ---- step 2: take requests ----------------------------------------------------------------- */

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
    if (op->type == LD_OP_PLACE_ORDER) {
        /* Reserve payment capacity now, so the payment can always start after the apply. */
        if (ldi_pay_in_flight(e->pay) + e->planned_payments >= LD_NODE_PAYMENTS_MAX) {
            ld_result_fail(&e->tmp_result, LD_ERR_BUSY, "%u payments in flight; retry later",
                           LD_NODE_PAYMENTS_MAX);
            ldi_eng_put_result(e, r, i, &e->tmp_result);
            return;
        }
        e->planned_payments++;
    }
    r->slots[i].state = SLOT_BATCH;
    e->batch_src[e->batch_n] = (eng_src){.kind = SRC_CLIENT, .a = r->index, .b = i};
    e->batch_pb[e->batch_n] = (Ldpb__Op *)pb;
    e->batch_n++;
    e->metrics.writes++;
}

/* Takes whole queued requests, oldest first, while their ops surely fit in this batch next to
 * `relays` RELAY_FOLLOW ops. */
static void
eng_take_requests(ldi_engine *e, uint32_t relays)
{
    LD_ASSERT(relays <= ENG_RELAY_OPS_MAX);
    uint32_t room = ENG_CLIENT_OPS_MAX - relays;
    while (e->fifo_len > 0) {
        eng_req *r = &e->reqs[e->fifo[e->fifo_head]];
        LD_ASSERT(r->state == REQ_QUEUED);
        if (e->batch_n + r->n_ops > room)
            break;
        e->fifo_head = (e->fifo_head + 1) % LD_NODE_CONTEXTS;
        e->fifo_len--;
        LD_ASSERT(e->pending_ops >= r->n_ops);
        e->pending_ops -= r->n_ops;
        r->state = REQ_TAKEN;
        e->taken[e->n_taken++] = r->index;
        for (uint32_t i = 0; i < r->n_ops; i++)
            eng_take_op(e, r, i);
    }
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

/* ---- step 4: log, apply, one synced write -------------------------------------------------- */

/* Packs the batch as log entry `op_number` into log_buf; returns its length. */
static size_t
eng_pack_entry(ldi_engine *e, uint64_t op_number, int64_t ts)
{
    Ldpb__LogEntry entry = LDPB__LOG_ENTRY__INIT;
    entry.op = op_number;
    entry.timestamp_ms = ts;
    entry.n_ops = e->batch_n;
    entry.ops = e->batch_pb;
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

/* Writes the pending write batch with sync; a failure stops the node. */
static void
eng_sync(ldi_engine *e, uint64_t op_number)
{
    e->metrics.records += (uint64_t)ldi_rocks_batch_count(e->rocks);
    uint64_t t0 = uv_hrtime();
    if (ldi_rocks_batch_write(e->rocks, true) != LD_OK)
        ldi_fatal("storage: the synced write of log entry %" PRIu64 " failed; the state in "
                  "memory is ahead of the disk, stopping",
                  op_number);
    uint64_t us = (uv_hrtime() - t0) / 1000;
    e->metrics.fsyncs++;
    e->metrics.fsync_us += us;
    if (us > e->metrics.fsync_us_max)
        e->metrics.fsync_us_max = us;
    if (us > e->metrics.fsync_us_max_all)
        e->metrics.fsync_us_max_all = us;
}

static void
eng_commit(ldi_engine *e, int64_t ts)
{
    LD_ASSERT(e->batch_n > 0 && e->batch_n <= LD_BATCH_OPS_MAX);
    uint64_t op_number = ld_sm_applied_op(e->sm) + 1;
    size_t len = eng_pack_entry(e, op_number, ts);
    ldi_rocks_batch_clear(e->rocks);
    ldi_rocks_batch_log_put(e->rocks, op_number, e->log_buf, len);
    if (op_number > ENG_LOG_RETAIN_ENTRIES && op_number - e->last_trim_op >= ENG_LOG_TRIM_EVERY) {
        ldi_rocks_batch_log_trim(e->rocks, op_number - ENG_LOG_RETAIN_ENTRIES);
        e->last_trim_op = op_number;
    }
    /* The state machine's puts and deletes land in the same write batch as the log entry. */
    ld_sm_apply(e->sm, op_number, ts, e->batch_ops, e->batch_n, e->batch_results);
    LD_ASSERT(ld_sm_applied_op(e->sm) == op_number);
    eng_sync(e, op_number);
    e->metrics.batches++;
    e->metrics.batch_ops += e->batch_n;
    if (e->batch_n > e->metrics.batch_ops_max)
        e->metrics.batch_ops_max = e->batch_n;
    if (e->batch_n > e->metrics.batch_ops_max_all)
        e->metrics.batch_ops_max_all = e->batch_n;
}

/* ---- step 5: results, payments, replies ---------------------------------------------------- */

static void
eng_resolve_client(ldi_engine *e, const eng_src *src, ld_result *res)
{
    eng_req *r = &e->reqs[src->a];
    LD_ASSERT(r->state == REQ_TAKEN);
    LD_ASSERT(r->slots[src->b].state == SLOT_BATCH);
    if (res->needs_payment) {
        ldi_pay_waiter w = {
            .valid = true, .req_index = r->index, .op_index = src->b, .gen = r->gen};
        ld_err err = ldi_pay_start(e->pay, &res->payment, &w);
        if (err == LD_OK) {
            r->slots[src->b].state = SLOT_PAYMENT;
            return;
        }
        /* Not reached while admission reserves capacity; the reservation then stays pending
         * until it expires (tick) or the node restarts and runs the payment again. */
        LDI_ERROR("payment could not start: %s", ld_err_name(err));
        ld_result_fail(res, err, "payment could not start; the reservation will expire");
    }
    ldi_eng_put_result(e, r, src->b, res);
}

static void
eng_resolve_finish(ldi_engine *e, const eng_src *src, const ld_result *res)
{
    const ldi_pay_done *d = &e->done[src->a];
    if (d->approved && res->code == LD_ERR_RESERVATION_EXPIRED)
        ldi_pay_void(e->pay, &d->reservation_id, d->payment_ref);
    if (!d->waiter.valid)
        return; /* restarted after a crash: the client asks again (idempotency key) */
    eng_req *r = &e->reqs[d->waiter.req_index];
    if (r->gen != d->waiter.gen || r->state != REQ_WAITING)
        return; /* answered already (shutdown deadline) */
    if (r->slots[d->waiter.op_index].state != SLOT_PAYMENT)
        return;
    ldi_eng_put_result(e, r, d->waiter.op_index, res);
    if (r->unresolved == 0) {
        LD_ASSERT(e->n_waiting > 0);
        e->n_waiting--;
        ldi_eng_reply(e, r);
    }
}

static void
eng_resolve_batch(ldi_engine *e)
{
    for (uint32_t i = 0; i < e->batch_n; i++) {
        const eng_src *src = &e->batch_src[i];
        ld_result *res = &e->batch_results[i];
        switch (src->kind) {
        case SRC_CLIENT:
            eng_resolve_client(e, src, res);
            break;
        case SRC_FINISH:
            eng_resolve_finish(e, src, res);
            break;
        case SRC_RELAY:
            if (!LD_ERR_IS_SUCCESS(res->code))
                LDI_WARN("relay_follow of event %" PRIu64 ": %s: %s", e->batch_ops[i].u.relay.seq,
                         ld_err_name(res->code), res->message);
            break;
        default:
            if (!LD_ERR_IS_SUCCESS(res->code))
                LDI_WARN("tick: %s: %s", ld_err_name(res->code), res->message);
            break;
        }
    }
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

static void
eng_answer_reads(ldi_engine *e, int64_t ts)
{
    for (uint32_t t = 0; t < e->n_taken; t++) {
        eng_req *r = &e->reqs[e->taken[t]];
        if (r->n_reads == 0)
            continue;
        eng_answer_req_reads(e, r, ts, r->n_pages == 0);
        if (r->n_pages > 0)
            eng_answer_req_reads(e, r, ts, true);
    }
}

static void
eng_complete_taken(ldi_engine *e)
{
    for (uint32_t t = 0; t < e->n_taken; t++) {
        eng_req *r = &e->reqs[e->taken[t]];
        if (r->unresolved == 0) {
            ldi_eng_reply(e, r);
        } else {
            r->state = REQ_WAITING; /* only payments and parked pulls are left */
            e->n_waiting++;
            ldi_eng_req_drop_pb(e, r);
        }
    }
    e->n_taken = 0;
}

static void
eng_turn(ldi_engine *e)
{
    LD_ASSERT(eng_on_loop_thread(e));
    LD_ASSERT(!e->stopped && e->net != NULL);
    LD_ASSERT(e->n_taken == 0);
    ldi_net_drain(e->net, ldi_eng_on_msg, e);
    e->batch_n = 0;
    e->planned_payments = 0;
    int64_t ts = eng_timestamp(e);
    eng_take_requests(e, ldi_eng_relay_fill(e, ts));
    eng_take_internal(e, ts);
    if (e->batch_n > 0) {
        eng_commit(e, ts);
        ldi_eng_after_commit(e); /* publish, queue relays, wake parked pulls */
        eng_resolve_batch(e);
    }
    eng_answer_reads(e, ts);
    ldi_eng_polls_run_ready(e, ts);
    eng_complete_taken(e);
    e->batch_n = 0;
    if (e->fifo_len > 0 || ldi_pay_done_count(e->pay) > 0 || ldi_eng_relay_pending(e))
        eng_kick(e);
}

/* ---- timers -------------------------------------------------------------------------------- */

static void
eng_tick_cb(uv_timer_t *timer)
{
    ldi_engine *e = timer->data;
    if (ld_sm_next_deadline_ms(e->sm) <= eng_timestamp(e))
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
    ldi_metrics_report(&e->metrics, &e->metrics_last, &ps, &ss, seconds, final);
    e->metrics_last_ms = now;
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

/* ---- recovery ------------------------------------------------------------------------------ */

/* Re-applies one log entry read back from disk. Disk input: checked, never asserted. */
static ld_err
eng_replay_entry(ldi_engine *e, uint64_t op_number, const Ldpb__LogEntry *entry)
{
    if (entry == NULL || entry->op != op_number || entry->n_ops == 0 ||
        entry->n_ops > LD_BATCH_OPS_MAX || entry->timestamp_ms < ld_sm_last_ts(e->sm)) {
        LDI_ERROR("log: entry %" PRIu64 " is corrupt (header)", op_number);
        return LD_ERR_STORAGE;
    }
    for (size_t i = 0; i < entry->n_ops; i++) {
        ld_op *op = &e->batch_ops[i];
        if (ld_codec_op_from_pb(entry->ops[i], false, op, &e->tmp_result) != LD_OK ||
            !ld_op_is_write(op->type)) {
            LDI_ERROR("log: entry %" PRIu64 " op %zu is invalid: %s %s", op_number, i,
                      ld_err_name(e->tmp_result.code), e->tmp_result.message);
            return LD_ERR_STORAGE;
        }
    }
    ldi_rocks_batch_clear(e->rocks);
    ld_sm_apply(e->sm, op_number, entry->timestamp_ms, e->batch_ops, entry->n_ops,
                e->batch_results);
    eng_sync(e, op_number);
    return LD_OK;
}

static ld_err
eng_replay_one(void *arg, uint64_t op_number, const void *buf, size_t len)
{
    ldi_engine *e = arg;
    uint64_t want = ld_sm_applied_op(e->sm) + 1;
    if (op_number != want) {
        LDI_ERROR("log: found entry %" PRIu64 " where %" PRIu64 " was expected", op_number, want);
        return LD_ERR_STORAGE;
    }
    Ldpb__LogEntry *entry = ldpb__log_entry__unpack(NULL, len, buf);
    ld_err err = eng_replay_entry(e, op_number, entry);
    if (entry != NULL)
        ldpb__log_entry__free_unpacked(entry, NULL);
    return err;
}

/* Replays log entries past the applied op (normally none: the log entry and its state
 * changes are written atomically), then checks every invariant of the state. */
static ld_err
eng_recover(ldi_engine *e)
{
    uint64_t applied = ld_sm_applied_op(e->sm);
    ld_err err = ldi_rocks_log_scan(e->rocks, applied + 1, eng_replay_one, e);
    if (err != LD_OK)
        return err;
    uint64_t now_applied = ld_sm_applied_op(e->sm);
    if (now_applied != applied)
        LDI_WARN("recovery: replayed log entries %" PRIu64 "..%" PRIu64, applied + 1, now_applied);
    ld_sm_check(e->sm);
    e->last_trim_op = now_applied;
    ld_sm_stats ss;
    ld_sm_stats_get(e->sm, &ss);
    LDI_INFO("recovered: applied op %" PRIu64 ", drops=%" PRIu64 " reservations=%" PRIu64
             " (active %" PRIu64 ") orders=%" PRIu64 " idempotency_keys=%" PRIu64,
             now_applied, ss.drops, ss.reservations, ss.reservations_active, ss.orders,
             ss.idempotency_keys);
    return LD_OK;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void
eng_alloc_arrays(ldi_engine *e)
{
    e->batch_ops = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->batch_ops);
    e->batch_results = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->batch_results);
    e->batch_src = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->batch_src);
    e->batch_pb = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->batch_pb);
    e->internal_pb = ldi_xcalloc(ENG_INTERNAL_OPS_MAX, sizeof *e->internal_pb);
    e->internal_scratch = ldi_xcalloc(ENG_INTERNAL_OPS_MAX, sizeof *e->internal_scratch);
    e->done = ldi_xcalloc(ENG_FINISH_OPS_MAX, sizeof *e->done);
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
    eng_alloc_arrays(e);
    ldi_eng_reqs_init(e);
    ld_err err = ldi_rocks_open(cfg->data_dir, cfg->node_id, &e->rocks);
    if (err != LD_OK)
        goto out_free;
    e->store = ldi_rocks_store(e->rocks);
    err = ld_sm_open(&e->store, &e->sm);
    if (err != LD_OK) {
        LDI_ERROR("state: cannot rebuild the state machine: %s", ld_err_name(err));
        goto out_free;
    }
    err = eng_recover(e);
    if (err != LD_OK)
        goto out_free;
    ldi_eng_events_init(e);
    e->pay = ldi_pay_open(ldi_payment_test_provider(loop, cfg->payment_slow_ms), eng_pay_ready, e);
    *out = e;
    return LD_OK;
out_free:
    ldi_engine_free(e);
    return err;
}

static void
eng_restart_payment(void *arg, const ld_payment_request *req)
{
    ldi_engine *e = arg;
    ldi_pay_waiter nobody = {.valid = false};
    ld_err err = ldi_pay_start(e->pay, req, &nobody);
    if (err != LD_OK) {
        char hex[33];
        ld_id_to_hex(&req->reservation_id, hex);
        LDI_WARN("payment for reservation %s not restarted (%s); it expires instead", hex,
                 ld_err_name(err));
    }
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
    e->turn_idle.data = e;
    e->tick_timer.data = e;
    e->metrics_timer.data = e;
    ldi_eng_polls_start(e);
    uv_timer_start(&e->tick_timer, eng_tick_cb, LD_TICK_INTERVAL_MS, LD_TICK_INTERVAL_MS);
    uv_timer_start(&e->metrics_timer, eng_metrics_cb, ENG_METRICS_INTERVAL_MS,
                   ENG_METRICS_INTERVAL_MS);
    e->metrics_last_ms = uv_now(e->loop);
    e->started_ms = e->metrics_last_ms;
    size_t n = ld_sm_pending_payments(e->sm, eng_restart_payment, e);
    if (n > 0)
        LDI_INFO("recovery: restarted %zu payment(s) interrupted by the last stop", n);
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
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++) {
        eng_req *r = &e->reqs[i];
        if (r->state != REQ_WAITING)
            continue;
        for (uint32_t k = 0; k < r->n_ops; k++) {
            if (r->slots[k].state != SLOT_PAYMENT)
                continue;
            ld_result_fail(&e->tmp_result, LD_ERR_SHUTTING_DOWN,
                           "node stopped during the payment; retry with the same key");
            ldi_eng_put_result(e, r, k, &e->tmp_result);
        }
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
        ldi_eng_polls_stop(e);
    }
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
    ldi_pay_close(e->pay); /* never started: no uv handles yet */
    if (e->sm != NULL)
        ld_sm_free(e->sm);
    ldi_rocks_close(e->rocks);
    ldi_eng_reqs_fini(e);
    ldi_eng_events_fini(e);
    free(e->batch_ops);
    free(e->batch_results);
    free(e->batch_src);
    free(e->batch_pb);
    free(e->internal_pb);
    free(e->internal_scratch);
    free(e->done);
    free(e->log_buf);
    free(e);
}
