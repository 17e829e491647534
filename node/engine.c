/*
 * engine.c -- the node's loop turns around the replica host core (shard/host/host.h): request
 * intake and the take (routing, decoding, payment capacity, internal ops), the write (RocksDB,
 * fsync metrics), the release (payments, results, reads, parked pulls), opening and shutdown.
 *
 * A turn runs from a uv_idle callback, so every source of work (NNG arrivals, peer messages,
 * finished payments, the tick timers) just schedules one and several sources in one loop
 * iteration share it. While a turn's synced write is in progress the NNG threads keep queueing,
 * so the next turn's entry grows with the load: the fsync cost is shared by more ops exactly
 * when it matters (group commit, docs/ARCHITECTURE.md §8).
 *
 * One turn (eng_turn): the client frames that arrived are checked and queued (engine_req.c), the
 * peer frames taken off the transport, and ld_host_turn() does the rest in the order the core
 * fixes -- the replica's step, the early release of a commit-only step, the entry (io->take
 * here), ONE write synced when the core says it must be, then the release (io->release here).
 * The decisions of that order are the core's, so the simulator's seeds check the turn that ships.
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

/* The body cases of livedrop.proto's Op are the op type numbers: a request is routed by them
 * before its ops are decoded. */
_Static_assert((int)LDPB__OP__BODY_CREATE_DROP == (int)LD_OP_CREATE_DROP, "op numbers");
_Static_assert((int)LDPB__OP__BODY_LIST_NOTIFICATIONS == (int)LD_OP_LIST_NOTIFICATIONS,
               "op numbers");
_Static_assert((int)LDPB__OP__BODY_GET_CLUSTER_STATUS == (int)LD_OP_GET_CLUSTER_STATUS,
               "op numbers");
_Static_assert((int)LDPB__OP__BODY_TICK == (int)LD_OP_TICK, "op numbers");
_Static_assert((int)LDPB__OP__BODY_RELAY_FOLLOW == (int)LD_OP_RELAY_FOLLOW, "op numbers");

/* ---- io: take requests ---------------------------------------------------------------------- */

/* Where a queued request goes, by this replica's role (REPLICATION.md §9). */
typedef enum eng_route {
    ROUTE_TAKE = 0,        /* writes join the entry; reads are answered after the sync */
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
    if (e->rs->status != LD_REPL_NORMAL)
        return ROUTE_NOT_PRIMARY;
    if (r->follower)
        return ROUTE_TAKE;
    if (!e->rs->primary)
        return ROUTE_NOT_PRIMARY;
    if (has_write)
        return can_prepare ? ROUTE_TAKE : ROUTE_WAIT;
    return ld_host_can_read(e->core, now) ? ROUTE_TAKE : ROUTE_NOT_PRIMARY;
}

/* Decodes one op of a taken request: its error result, an op of the entry, or a pending read. */
static void
eng_take_op(ldi_engine *e, eng_req *r, uint32_t i)
{
    const Ldpb__Op *pb = r->pb->ops[i];
    ld_op *op = &e->take_op;
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
    const ld_host_flight *f = ld_host_building(e->core);
    LD_ASSERT(f != NULL); /* routed ROUTE_TAKE with a write: an entry is being formed */
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
        e->flights[f->index].payments++;
    }
    r->slots[i].state = SLOT_BATCH;
    r->n_batch++;
    r->has_write = true;
    ld_host_add(
        e->core, pb, op,
        (ld_host_src){
            .kind = SRC_CLIENT, .flags = payment ? ENG_SRC_PAYMENT : 0, .a = r->index, .b = i});
    e->batch_client_ops++;
    e->metrics.writes++;
}

/* Takes whole queued requests, oldest first, while their ops surely fit in this entry next to
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
        if (route == ROUTE_TAKE && (e->batch_client_ops + r->n_ops > room ||
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

void
ldi_eng_add_internal(ldi_engine *e, uint32_t k, const ld_op *op, ld_host_src src)
{
    LD_ASSERT(k < ENG_INTERNAL_OPS_MAX);
    /* The wire form points into its op (ids, strings): each internal op keeps its own copy until
     * the entry is packed. */
    e->internal_ops[k] = *op;
    ld_codec_op_to_pb(&e->internal_ops[k], &e->internal_pb[k], &e->internal_scratch[k]);
    ld_host_add(e->core, &e->internal_pb[k], &e->internal_ops[k], src);
    e->metrics.internal_ops++;
}

/* Finished payments become FINISH_ORDER ops, queued follow events RELAY_FOLLOW ops (the core
 * adds the TICK). */
static void
eng_take_internal(ldi_engine *e)
{
    const ld_host_flight *f = ld_host_building(e->core);
    ldi_pay_done *done = e->flights[f->index].done;
    size_t n = ldi_pay_take_done(e->pay, done, ENG_FINISH_OPS_MAX);
    ld_op *op = &e->tmp_op;
    for (size_t k = 0; k < n; k++) {
        memset(op, 0, sizeof *op);
        op->type = LD_OP_FINISH_ORDER;
        op->u.finish.reservation_id = done[k].reservation_id;
        op->u.finish.approved = done[k].approved;
        snprintf(op->u.finish.payment_ref, sizeof op->u.finish.payment_ref, "%s",
                 done[k].payment_ref);
        ldi_eng_add_internal(e, (uint32_t)k, op,
                             (ld_host_src){.kind = SRC_FINISH, .a = (uint32_t)k});
    }
    ldi_eng_relay_take(e, (uint32_t)n);
}

/* io->take: the queued requests, and on the ready primary the internal ops. */
static void
eng_take(void *arg, int64_t ts, int64_t now, bool can_prepare)
{
    ldi_engine *e = arg;
    e->batch_client_ops = 0;
    e->batch_bytes = 0;
    if (can_prepare) {
        e->flights[ld_host_building(e->core)->index].payments = 0;
    }
    bool ready = can_prepare && ld_host_ready(e->core);
    uint32_t relays = ready ? ldi_eng_relay_fill(e, ts) : 0;
    e->turn_blocked = eng_take_requests(e, relays, can_prepare, now);
    if (ready)
        eng_take_internal(e);
}

/* ---- io: the write -------------------------------------------------------------------------- */

/* Writes the pending write batch with sync; a failure stops the node. Returns the fsync's us. */
static uint64_t
eng_sync(ldi_engine *e)
{
    e->metrics.records += (uint64_t)ldi_rocks_batch_count(e->rocks);
    uint64_t t0 = uv_hrtime();
    if (ldi_rocks_batch_write(e->rocks, true) != LD_OK)
        ldi_fatal("storage: a synced write failed (applied op %" PRIu64 "); the state in memory "
                  "is ahead of the disk, stopping",
                  e->sm != NULL ? ld_sm_applied_op(e->sm) : 0);
    uint64_t us = (uv_hrtime() - t0) / 1000;
    e->metrics.fsyncs++;
    e->metrics.fsync_us += us;
    if (us > e->metrics.fsync_us_max)
        e->metrics.fsync_us_max = us;
    if (us > e->metrics.fsync_us_max_all)
        e->metrics.fsync_us_max_all = us;
    return us;
}

/* io->write: the turn's one RocksDB WriteBatch, with sync when the core says so. Without sync
 * (3 or 5 replicas, applied state and commit_max only) iterators (page reads, state snapshots)
 * read it at once, a process crash keeps it (the WAL is in the OS), an OS crash may lose it and
 * the replica then re-applies from its log and relearns commit from the primary; the next synced
 * write makes it durable too (one WAL). A failed write stops the node. */
static bool
eng_write(void *arg, bool sync, bool held)
{
    ldi_engine *e = arg;
    if (sync) {
        uint64_t us = eng_sync(e);
        if (held)
            e->commit_held_us += us;
        return true;
    }
    e->metrics.records += (uint64_t)ldi_rocks_batch_count(e->rocks);
    if (ldi_rocks_batch_write(e->rocks, false) != LD_OK)
        ldi_fatal("storage: a write failed (applied op %" PRIu64 "); stopping",
                  ld_sm_applied_op(e->sm));
    return true;
}

static uint32_t
eng_pending(void *arg)
{
    ldi_engine *e = arg;
    return (uint32_t)ldi_rocks_batch_count(e->rocks);
}

static void
eng_random(void *arg, uint8_t out[LD_ID_BYTES])
{
    (void)arg;
    if (uv_random(NULL, NULL, out, LD_ID_BYTES, 0, NULL) != 0)
        ldi_fatal("no randomness for the id seed of a log entry");
}

/* ---- io: the release ------------------------------------------------------------------------ */

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
    if (!r->follower && !ld_host_can_read(e->core, now)) {
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
    if (e->rs->primary || ldi_pay_done_count(e->pay) == 0)
        return;
    size_t n = ldi_pay_take_done(e->pay, e->flights[0].done, ENG_FINISH_OPS_MAX);
    LDI_INFO("%zu finished payment(s) dropped: not the primary (the primary drives them again)", n);
}

/* io->release: everything the turn's calls so far put is written, and durable where it must be
 * (the core sent the peer messages and the events): payments, results, reads, parked pulls. */
static void
eng_release(void *arg, int64_t ts, int64_t now)
{
    ldi_engine *e = arg;
    eng_start_payments(e);
    eng_finish_touched(e, ts, now);
    ldi_eng_polls_run_ready(e, ts);
    eng_drop_payment_results(e);
}

/* ---- the turn ------------------------------------------------------------------------------- */

static void
eng_turn(ldi_engine *e)
{
    LD_ASSERT(eng_on_loop_thread(e));
    LD_ASSERT(!e->stopped && e->net != NULL);
    LD_ASSERT(e->n_touched == 0);
    ldi_net_drain(e->net, ldi_eng_on_msg, e);
    if (e->peer != NULL)
        ldi_peer_take(e->peer, &e->peer_in);
    e->turn_blocked = false;
    bool ok = ld_host_turn(e->core, ldi_eng_mono_ms(), ldi_now_ms());
    LD_ASSERT(ok); /* eng_write() stops the node rather than fail */
    ldi_peer_batch_free(&e->peer_in);
    bool internal = ld_host_ready(e->core) && ld_host_can_prepare(e->core) &&
                    (ldi_pay_done_count(e->pay) > 0 || ldi_eng_relay_pending(e));
    if ((e->fifo_len > 0 && !e->turn_blocked) || internal)
        eng_kick(e);
}

/* ---- timers -------------------------------------------------------------------------------- */

static void
eng_tick_cb(uv_timer_t *timer)
{
    ldi_engine *e = timer->data;
    if (ld_host_ready(e->core) &&
        ld_sm_next_deadline_ms(e->sm) <= ld_host_timestamp(e->core, ldi_now_ms()))
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
    ld_host_stats hs;
    ld_host_stats_get(e->core, &hs);
    LDI_INFO("writes since start: writes=%" PRIu64 " entries_prepared=%" PRIu64 " fsyncs=%" PRIu64
             " (needless %" PRIu64 ") unsynced=%" PRIu64 " | commit turns=%" PRIu64
             " (replies held by a fsync in %" PRIu64 ", %.1f ms in all)",
             hs.writes, hs.prepared, e->metrics.fsyncs, hs.fsyncs_needless, hs.writes_nosync,
             hs.commit_turns, hs.commit_held, (double)e->commit_held_us / 1000.0);
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
                 pst.sent, pst.send_dropped, e->peer_lost_sends + hs.lost_sends, pst.received,
                 pst.recv_dropped, e->peer_bad_frames, rst.dropped, rst.view_changes, rst.repairs,
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
        ld_host_format(&e->repl_store);
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

static const ld_host_io eng_io = {
    .write = eng_write,
    .pending = eng_pending,
    .random = eng_random,
    .take = eng_take,
    .release = eng_release,
};

/* Opens the host core: the state machine from its records, then the replica, which re-applies
 * the committed entries the state machine lacks (recovery by replaying the log above the
 * applied op), or starts recovering when the directory holds no replica state. */
static ld_err
eng_open_core(ldi_engine *e)
{
    ld_host_config hc = {.batch_ops_max = LD_BATCH_OPS_MAX,
                         .entry_bytes_max = LD_PEER_ENTRY_BYTES_MAX,
                         .tick = true};
    hc.repl.cluster_id = e->cfg.cluster_id;
    hc.repl.shard_id = 0;
    hc.repl.replica = e->cfg.replica_index;
    hc.repl.replica_count = e->replica_count;
    uint8_t nonce[16];
    if (uv_random(NULL, NULL, nonce, sizeof nonce, 0, NULL) != 0)
        ldi_fatal("no randomness for the replica's nonce");
    e->io = eng_io;
    ldi_eng_repl_io(&e->io);
    e->io.arg = e;
    const char *what = "";
    ld_err err = ld_host_open(&hc, &e->store, &e->repl_store, &e->io, nonce, ldi_eng_mono_ms(),
                              &e->core, &what);
    if (err != LD_OK) {
        LDI_ERROR("cannot open: %s (%s)%s", what, ld_err_name(err),
                  e->replica_count == 1 ? ": a single node's data directory without replica "
                                          "state cannot recover; format a new one"
                                        : "");
        return err;
    }
    e->sm = ld_host_sm(e->core);
    e->repl = ld_host_repl(e->core);
    e->rs = ld_host_state(e->core);
    ld_host_stats hs;
    ld_host_stats_get(e->core, &hs);
    if (hs.batches > 0)
        LDI_WARN("recovery: re-applied %" PRIu64 " log entries, up to op %" PRIu64, hs.batches,
                 ld_sm_applied_op(e->sm));
    if (!ld_host_flush(e->core))
        ldi_fatal("storage: the write after the recovery failed; stopping");
    return LD_OK;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void
eng_alloc_arrays(ldi_engine *e)
{
    e->internal_ops = ldi_xcalloc(ENG_INTERNAL_OPS_MAX, sizeof *e->internal_ops);
    e->internal_pb = ldi_xcalloc(ENG_INTERNAL_OPS_MAX, sizeof *e->internal_pb);
    e->internal_scratch = ldi_xcalloc(ENG_INTERNAL_OPS_MAX, sizeof *e->internal_scratch);
    for (uint32_t i = 0; i < LD_HOST_FLIGHTS; i++)
        e->flights[i].done = ldi_xcalloc(ENG_FINISH_OPS_MAX, sizeof *e->flights[i].done);
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
    err = eng_open_core(e);
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
    if (e->ready_pending) { /* a ready primary drives the payments a stop interrupted */
        e->ready_pending = false;
        ldi_eng_become_ready(e);
    }
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
    ldi_eng_polls_answer_all(
        e, ld_host_timestamp(e->core, ldi_now_ms())); /* and no pull parks from now on */
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
    ld_host_forget(e->core);
    for (uint32_t t = 0; t < e->n_touched; t++)
        e->reqs[e->touched[t]].touched = false;
    e->n_touched = 0;
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
    ld_host_free(e->core);
    ldi_rocks_close(e->rocks);
    ldi_eng_reqs_fini(e);
    ldi_eng_events_fini(e);
    for (uint32_t i = 0; i < LD_HOST_FLIGHTS; i++)
        free(e->flights[i].done);
    free(e->internal_ops);
    free(e->internal_pb);
    free(e->internal_scratch);
    free(e->pay_starts);
    free(e);
}
