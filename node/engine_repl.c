/*
 * engine_repl.c -- the engine as host of the shard's replica (shard/repl.h, REPLICATION.md §11):
 * the host table (send, apply, snapshot, install), peer frames in, the outbox, role changes,
 * not-primary answers and the cluster status op.
 *
 * The host rule of repl.h, as the engine keeps it: every call into the replica runs inside a
 * loop turn; what it writes goes into the turn's one WriteBatch; the messages it sends wait in
 * the outbox, and the results of its applies wait in the request slots (and payments to start in
 * pay_starts), until that batch is written with sync. With one replica the apply runs inside
 * ld_repl_prepare(), in the same turn as its entry: the entry, its state changes and nothing
 * else reach the disk in one synced write, and only then do replies, events and payments go out
 * (issue 1's group commit, unchanged). With 3 or 5 replicas an entry is applied only once a
 * quorum holds it durably, so its events may be published at once.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"
#include "log.h"
#include "repl_codec.h"
#include "util.h"

int64_t
ldi_eng_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
ldi_eng_touch(ldi_engine *e, eng_req *r)
{
    if (r->touched)
        return;
    LD_ASSERT(e->n_touched < LD_NODE_CONTEXTS);
    r->touched = true;
    e->touched[e->n_touched++] = r->index;
}

/* ---- host: send ---------------------------------------------------------------------------- */

static void
host_send(void *arg, uint32_t to, const ld_repl_msg *msg, bool early)
{
    ldi_engine *e = arg;
    LD_ASSERT(to < e->replica_count && to != e->cfg.replica_index);
    if (e->peer == NULL)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    ld_err err = ld_repl_msg_pack(msg, 0, &buf, &len);
    if (err != LD_OK) {
        LDI_WARN("peer: cannot pack a message of kind %d for replica %u: %s", (int)msg->kind, to,
                 ld_err_name(err));
        e->peer_lost_sends++;
        return;
    }
    if (early) { /* only the planted bug LD_PLANT_BUG_ACK_EARLY asks for this */
        if (!ldi_peer_send(e->peer, to, buf, len))
            e->peer_lost_sends++;
        free(buf);
        return;
    }
    if (e->n_out == ENG_OUTBOX_MAX) {
        e->peer_lost_sends++; /* a lost message: the protocol resends what matters */
        free(buf);
        return;
    }
    e->outbox[e->n_out++] = (eng_out){.to = to, .buf = buf, .len = len};
}

void
ldi_eng_repl_flush(ldi_engine *e)
{
    for (uint32_t i = 0; i < e->n_out; i++) {
        eng_out *o = &e->outbox[i];
        if (e->peer != NULL && !ldi_peer_send(e->peer, o->to, o->buf, o->len))
            e->peer_lost_sends++;
        free(o->buf);
        o->buf = NULL;
    }
    e->n_out = 0;
}

/* ---- host: apply --------------------------------------------------------------------------- */

/* Decodes committed entry `op` into ops[]; returns the op count. A committed entry that does not
 * decode was checksummed by its primary, so the primary has a bug: stop rather than diverge
 * (REPLICATION.md §3.1). */
static size_t
decode_entry(ldi_engine *e, uint64_t op, int64_t ts, const uint8_t *entry, uint32_t len, ld_op *ops,
             ld_id *id_seed_out)
{
    Ldpb__LogEntry *pb = ldpb__log_entry__unpack(NULL, len, entry);
    if (pb == NULL || pb->op != op || pb->timestamp_ms != ts || pb->n_ops == 0 ||
        pb->n_ops > LD_BATCH_OPS_MAX || pb->id_seed.len != sizeof id_seed_out->bytes)
        ldi_fatal("replica: committed entry %" PRIu64 " does not decode (header); stopping", op);
    memcpy(id_seed_out->bytes, pb->id_seed.data, sizeof id_seed_out->bytes);
    for (size_t i = 0; i < pb->n_ops; i++) {
        if (ld_codec_op_from_pb(pb->ops[i], false, &ops[i], &e->tmp_result) != LD_OK ||
            !ld_op_is_write(ops[i].type))
            ldi_fatal("replica: committed entry %" PRIu64 " op %zu is invalid (%s %s); stopping",
                      op, i, ld_err_name(e->tmp_result.code), e->tmp_result.message);
    }
    size_t n = pb->n_ops;
    ldpb__log_entry__free_unpacked(pb, NULL);
    return n;
}

static void
host_apply(void *arg, uint64_t op, int64_t ts, const uint8_t *entry, uint32_t len)
{
    ldi_engine *e = arg;
    eng_flight *f = &e->flights[op % ENG_FLIGHTS];
    if (!f->used || f->op != op)
        f = NULL;
    if (op != ld_sm_applied_op(e->sm) + 1 || ts < ld_sm_last_ts(e->sm))
        ldi_fatal("replica: entry %" PRIu64 " (ts %" PRId64 ") handed to apply after op %" PRIu64
                  " (ts %" PRId64 "); stopping",
                  op, ts, ld_sm_applied_op(e->sm), ld_sm_last_ts(e->sm));
    const ld_op *ops = e->batch_ops;
    size_t n = e->batch_n;
    ld_batch_stamp stamp = {.op = op, .ts_ms = ts, .id_seed = e->batch_id_seed};
    if (f == NULL || f != e->building) {
        /* Not the batch this turn is preparing: decode it. batch_ops is free unless a batch is
         * being built; then the entry goes into a second array, allocated once. */
        ld_op *into = e->batch_ops;
        if (e->batch_n > 0) {
            if (e->apply_ops == NULL)
                e->apply_ops = ldi_xcalloc(LD_BATCH_OPS_MAX, sizeof *e->apply_ops);
            into = e->apply_ops;
        }
        n = decode_entry(e, op, ts, entry, len, into, &stamp.id_seed);
        ops = into;
    }
    ld_sm_apply(e->sm, &stamp, ops, n, e->batch_results);
    e->metrics.batches++;
    e->metrics.batch_ops += n;
    if (n > e->metrics.batch_ops_max)
        e->metrics.batch_ops_max = n;
    if (n > e->metrics.batch_ops_max_all)
        e->metrics.batch_ops_max_all = n;
    if (!e->opening) {
        if (e->replica_count > 1)
            ldi_eng_after_commit(e, e->primary_ready); /* durable on a quorum already */
        else
            e->events_deferred = true; /* durable only with this turn's sync */
    }
    if (f == NULL)
        return; /* a backup's apply, or an entry this replica did not prepare in this view */
    ld_repl_state st;
    ld_repl_state_get(e->repl, &st);
    if (st.primary && st.view == f->view) {
        LD_ASSERT(f->n == n);
        ldi_eng_resolve_flight(e, f);
    }
    /* else: the view changed inside this call; ldi_eng_repl_observe() abandons f. */
}

/* ---- host: state transfer ------------------------------------------------------------------ */

static ld_err
host_snapshot(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out)
{
    ldi_engine *e = arg;
    ld_err err = ldi_rocks_state_snapshot(e->rocks, LD_PEER_STATE_BYTES_MAX, buf_out, len_out);
    if (err != LD_OK)
        return err == LD_ERR_CAPACITY ? LD_ERR_CAPACITY : LD_ERR_NOMEM;
    /* The iterator read the last completed write (synced or not): its applied op is this. */
    *op_out = e->durable_applied_op;
    LDI_INFO("state transfer: snapshot of %zu bytes at op %" PRIu64, *len_out, *op_out);
    return LD_OK;
}

/* Replaces the state machine's records with `buf` and rebuilds it from them. The state machine
 * rebuilds from durable records only (ld_sm_open scans), so the pending write -- the new records
 * and whatever the replica put before this call -- is written with sync here. */
static ld_err
host_install(void *arg, const uint8_t *buf, size_t len, uint64_t op)
{
    ldi_engine *e = arg;
    ld_err err = ldi_rocks_batch_state_replace(e->rocks, buf, len);
    if (err != LD_OK)
        return LD_ERR_STORAGE;
    if (ldi_rocks_batch_write(e->rocks, true) != LD_OK)
        ldi_fatal("storage: the synced write of a received state failed; stopping");
    ld_sm *sm = NULL;
    err = ld_sm_open(&e->store, &sm);
    if (err != LD_OK || ld_sm_applied_op(sm) != op)
        ldi_fatal("state transfer: the installed state does not open (%s, applied op %" PRIu64
                  " for %" PRIu64 "); stopping",
                  ld_err_name(err), sm != NULL ? ld_sm_applied_op(sm) : 0, op);
    ld_sm_check(sm);
    ld_sm_free(e->sm);
    e->sm = sm;
    e->durable_applied_op = op;
    e->events_deferred = false;
    ldi_eng_relay_reset(e);
    LDI_INFO("state transfer: installed %zu bytes of state at op %" PRIu64, len, op);
    return LD_OK;
}

const ld_repl_host ldi_eng_repl_host = {
    .send = host_send,
    .apply = host_apply,
    .snapshot = host_snapshot,
    .install = host_install,
};

/* ---- resolving and abandoning flights ------------------------------------------------------ */

static void
queue_payment(ldi_engine *e, const ld_payment_request *req, const ldi_pay_waiter *w)
{
    if (e->n_pay_starts == e->pay_starts_cap) {
        uint32_t cap = e->pay_starts_cap ? 2 * e->pay_starts_cap : 64;
        e->pay_starts = ldi_xrealloc(e->pay_starts, cap * sizeof *e->pay_starts);
        e->pay_starts_cap = cap;
    }
    e->pay_starts[e->n_pay_starts++] = (eng_pay_start){.req = *req, .waiter = *w};
}

static void
resolve_client(ldi_engine *e, eng_flight *f, const eng_src *src, ld_result *res)
{
    eng_req *r = &e->reqs[src->a];
    LD_ASSERT(r->state == REQ_TAKEN || r->state == REQ_WAITING);
    LD_ASSERT(r->slots[src->b].state == SLOT_BATCH);
    LD_ASSERT(r->n_batch > 0);
    r->n_batch--;
    ldi_eng_touch(e, r);
    if (src->payment) {
        LD_ASSERT(f->payments > 0 && e->planned_payments > 0);
        f->payments--;
        if (res->needs_payment) {
            /* Started after the sync; its capacity stays planned until then. */
            ldi_pay_waiter w = {
                .valid = true, .req_index = r->index, .op_index = src->b, .gen = r->gen};
            queue_payment(e, &res->payment, &w);
            r->slots[src->b].state = SLOT_PAYMENT;
            return;
        }
        e->planned_payments--;
    }
    ldi_eng_put_result(e, r, src->b, res);
}

static void
resolve_finish(ldi_engine *e, const ldi_pay_done *d, const ld_result *res)
{
    if (d->approved && res->code == LD_ERR_RESERVATION_EXPIRED)
        ldi_pay_void(e->pay, &d->reservation_id, d->payment_ref);
    if (!d->waiter.valid)
        return; /* restarted payment: the client asks again (idempotency key) */
    eng_req *r = &e->reqs[d->waiter.req_index];
    if (r->gen != d->waiter.gen || r->state != REQ_WAITING)
        return; /* answered already (shutdown deadline, a view change) */
    if (r->slots[d->waiter.op_index].state != SLOT_PAYMENT)
        return;
    ldi_eng_put_result(e, r, d->waiter.op_index, res);
    ldi_eng_touch(e, r);
}

void
ldi_eng_resolve_flight(ldi_engine *e, eng_flight *f)
{
    LD_ASSERT(f->used);
    for (uint32_t i = 0; i < f->n; i++) {
        const eng_src *src = &f->src[i];
        ld_result *res = &e->batch_results[i];
        switch (src->kind) {
        case SRC_CLIENT:
            resolve_client(e, f, src, res);
            break;
        case SRC_FINISH:
            resolve_finish(e, &f->done[src->a], res);
            break;
        case SRC_RELAY:
            if (!LD_ERR_IS_SUCCESS(res->code))
                LDI_WARN("relay_follow in op %" PRIu64 ": %s: %s", f->op, ld_err_name(res->code),
                         res->message);
            break;
        default:
            if (!LD_ERR_IS_SUCCESS(res->code))
                LDI_WARN("tick: %s: %s", ld_err_name(res->code), res->message);
            break;
        }
    }
    LD_ASSERT(f->payments == 0);
    f->used = false;
}

/* The replica left the view in which it prepared f: the outcome of f's ops is unknown here
 * (they may still commit in the new view), so their requests get NOT_PRIMARY and the clients
 * retry with the same ids and keys (P3). Finished payments in f are driven again by the next
 * primary (ld_sm_pending_payments). */
static void
abandon_flight(ldi_engine *e, eng_flight *f)
{
    LD_ASSERT(f->used);
    for (uint32_t i = 0; i < f->n; i++) {
        const eng_src *src = &f->src[i];
        if (src->kind != SRC_CLIENT)
            continue;
        eng_req *r = &e->reqs[src->a];
        LD_ASSERT(r->slots[src->b].state == SLOT_BATCH && r->n_batch > 0);
        r->n_batch--;
        r->abandoned = true;
        ldi_eng_touch(e, r);
    }
    LD_ASSERT(e->planned_payments >= f->payments);
    e->planned_payments -= f->payments;
    f->payments = 0;
    f->used = false;
}

/* No longer primary: requests waiting for a payment's FINISH_ORDER will not get it from this
 * replica; finished payments are dropped (the next primary drives them again). */
static void
lose_primary(ldi_engine *e)
{
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++) {
        eng_req *r = &e->reqs[i];
        if (r->state != REQ_WAITING && r->state != REQ_TAKEN)
            continue;
        for (uint32_t k = 0; k < r->n_ops; k++) {
            if (r->slots[k].state == SLOT_PAYMENT) {
                r->abandoned = true;
                ldi_eng_touch(e, r);
                break;
            }
        }
    }
    e->primary_ready = false;
}

static const char *
role_name(const ld_repl_state *st)
{
    if (st->status == LD_REPL_RECOVERING)
        return "recovering";
    if (st->status == LD_REPL_VIEW_CHANGE)
        return "view_change";
    return st->primary ? "primary" : "backup";
}

static void
restart_payment(void *arg, const ld_payment_request *req)
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

/* The primary has applied its view's adopted log: what earlier primaries left undone (payments
 * awaiting FINISH_ORDER, follow events not relayed) is now its work. */
static void
become_ready(ldi_engine *e)
{
    e->primary_ready = true;
    ldi_eng_relay_reset(e);
    size_t n = ld_sm_pending_payments(e->sm, restart_payment, e);
    LDI_INFO("replica: primary of view %" PRIu64 " ready at op %" PRIu64
             "; %zu payment(s) driven again",
             e->rs.view, e->rs.commit_min, n);
}

void
ldi_eng_repl_observe(ldi_engine *e)
{
    ld_repl_state st;
    ld_repl_state_get(e->repl, &st);
    bool was_primary = e->rs_valid && e->rs.primary;
    bool changed = !e->rs_valid || st.view != e->rs.view || st.status != e->rs.status ||
                   st.primary != e->rs.primary;
    if (changed) {
        LDI_INFO("replica %u of %u: view %" PRIu64 ", role %s (log_view %" PRIu64 ", op %" PRIu64
                 ", commit %" PRIu64 ", applied %" PRIu64 ")",
                 st.replica, st.replica_count, st.view, role_name(&st), st.log_view, st.op,
                 st.commit_max, st.commit_min);
        if (was_primary && (!st.primary || st.view != e->rs.view))
            lose_primary(e);
        if (st.primary && (!was_primary || st.view != e->rs.view)) {
            e->primary_ready = false;
            e->primary_ready_op = st.op;
        }
    }
    e->rs = st;
    e->rs_valid = true;
    for (uint32_t i = 0; i < ENG_FLIGHTS; i++) {
        eng_flight *f = &e->flights[i];
        if (f->used && (f->view != st.view || !st.primary) && f != e->building)
            abandon_flight(e, f);
    }
    if (st.primary && !e->primary_ready && st.commit_min >= e->primary_ready_op && e->net != NULL)
        become_ready(e);
}

/* ---- peer frames and ticks ----------------------------------------------------------------- */

typedef struct frame_ctx {
    ldi_engine *e;
    int64_t now;
    ld_repl_msg_buf *buf;
} frame_ctx;

static void
on_frame(void *arg, const uint8_t *frame, size_t len)
{
    frame_ctx *c = arg;
    if (ld_repl_msg_unpack(frame, len, c->buf) != LD_OK) {
        c->e->peer_bad_frames++; /* malformed, oversized or of another version: dropped */
        return;
    }
    ld_repl_on_message(c->e->repl, &c->buf->msg, c->now);
    ld_repl_msg_buf_done(c->buf);
    ldi_eng_repl_observe(c->e);
}

void
ldi_eng_repl_step(ldi_engine *e, int64_t now)
{
    LD_ASSERT(e->batch_n == 0 && e->building == NULL);
    if (e->peer != NULL) {
        static ld_repl_msg_buf buf; /* loop thread only; ~5 KiB of headers */
        frame_ctx c = {.e = e, .now = now, .buf = &buf};
        ldi_peer_drain(e->peer, on_frame, &c);
    }
    if (ld_repl_next_deadline(e->repl) <= now) {
        ld_repl_on_tick(e->repl, now);
        ldi_eng_repl_observe(e);
    }
}

/* ---- responses ----------------------------------------------------------------------------- */

void
ldi_eng_resp_fill(const ldi_engine *e, Ldpb__Response *resp)
{
    resp->applied_op = ld_sm_applied_op(e->sm);
    resp->view = e->rs.view;
}

void
ldi_eng_put_cluster_status(ldi_engine *e, eng_req *r, uint32_t op_index)
{
    const ld_repl_state *st = &e->rs;
    Ldpb__ReplicaStatus rs = LDPB__REPLICA_STATUS__INIT;
    rs.shard_id = 0;
    rs.replica = st->replica;
    rs.replica_count = st->replica_count;
    rs.role = st->status == LD_REPL_RECOVERING    ? LDPB__REPLICA_ROLE__REPLICA_ROLE_RECOVERING
              : st->status == LD_REPL_VIEW_CHANGE ? LDPB__REPLICA_ROLE__REPLICA_ROLE_VIEW_CHANGE
              : st->primary                       ? LDPB__REPLICA_ROLE__REPLICA_ROLE_PRIMARY
                                                  : LDPB__REPLICA_ROLE__REPLICA_ROLE_BACKUP;
    rs.view = st->view;
    rs.log_view = st->log_view;
    rs.op = st->op;
    rs.commit = st->commit_max;
    rs.applied = ld_sm_applied_op(e->sm);
    rs.lease = st->primary && ld_repl_can_read(e->repl, ldi_eng_mono_ms());
    rs.node_id = e->cfg.node_id;
    rs.state_digest = ld_sm_digest(e->sm);
    ld_repl_stats rst;
    ld_repl_stats_get(e->repl, &rst);
    rs.view_changes = rst.view_changes;
    rs.repairs = rst.repairs;
    rs.state_transfers = rst.state_transfers;
    rs.dropped = rst.dropped + e->peer_bad_frames;
    Ldpb__ReplicaStatus *list[1] = {&rs};
    Ldpb__ClusterStatus cs = LDPB__CLUSTER_STATUS__INIT;
    cs.n_replicas = 1;
    cs.replicas = list;
    Ldpb__Result res = LDPB__RESULT__INIT;
    res.code = LD_OK;
    res.message = (char *)"";
    res.body_case = LDPB__RESULT__BODY_CLUSTER_STATUS;
    res.cluster_status = &cs;
    ldi_eng_put_pb(e, r, op_index, &res, ldpb__result__get_packed_size(&res), LD_OK);
}
