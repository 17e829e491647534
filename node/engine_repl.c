/*
 * engine_repl.c -- the node's adapters of the replica host core (shard/host/host.h) on the
 * replication side: peer frames in and out (NNG, through peer.c), applies and flights (results
 * to request slots, payments to start), events, roles (not-primary, payments driven again by a
 * new primary), state transfer (RocksDB), and the cluster status op.
 *
 * The host rule of repl.h is the core's to keep: it holds the peer messages until the turn's
 * write, says when that write must be synced, and hands the events of an apply over at once with
 * 3 or 5 replicas (a committed entry is durable on a quorum) or after the synced write with one.
 * The node's part: results wait in the request slots, and payments to start in pay_starts,
 * until the core's io->release (engine.c).
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

/* ---- io: peers ------------------------------------------------------------------------------ */

typedef struct frame_ctx {
    ldi_engine *e;
    ld_repl_msg_buf *buf;
    bool ok;
} frame_ctx;

static void
on_frame(void *arg, const uint8_t *frame, size_t len)
{
    frame_ctx *c = arg;
    c->ok = ld_repl_msg_unpack(frame, len, c->buf) == LD_OK;
    if (!c->ok)
        c->e->peer_bad_frames++; /* malformed, oversized or of another version: dropped */
}

/* io->recv: the next frame this turn took from the transport that unpacks. */
static bool
eng_recv(void *arg, ld_repl_msg_buf *buf)
{
    ldi_engine *e = arg;
    frame_ctx c = {.e = e, .buf = buf};
    while (ldi_peer_batch_next(&e->peer_in, on_frame, &c))
        if (c.ok)
            return true;
    return false;
}

static void
eng_send(void *arg, const ld_host_sent *sent, uint8_t *buf, size_t len)
{
    ldi_engine *e = arg;
    LD_ASSERT(sent->to < e->replica_count);
    LD_ASSERT(sent->to != e->cfg.replica_index);
    if (e->peer == NULL || !ldi_peer_send(e->peer, sent->to, buf, len))
        e->peer_lost_sends++; /* a lost message: the protocol resends what matters */
    free(buf);
}

/* ---- io: applies and flights ---------------------------------------------------------------- */

static void
eng_applied(void *arg, const ld_host_applied *a)
{
    ldi_engine *e = arg;
    e->metrics.batches++;
    e->metrics.batch_ops += a->n;
    if (a->n > e->metrics.batch_ops_max)
        e->metrics.batch_ops_max = a->n;
    if (a->n > e->metrics.batch_ops_max_all)
        e->metrics.batch_ops_max_all = a->n;
}

static void
eng_events(void *arg, bool ready)
{
    ldi_engine *e = arg;
    ldi_eng_after_commit(e, ready); /* publish, queue relays, wake parked pulls */
}

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
resolve_client(ldi_engine *e, eng_flight *fl, const ld_host_src *src, const ld_result *res)
{
    eng_req *r = &e->reqs[src->a];
    LD_ASSERT(r->state == REQ_TAKEN || r->state == REQ_WAITING);
    LD_ASSERT(r->slots[src->b].state == SLOT_BATCH);
    LD_ASSERT(r->n_batch > 0);
    r->n_batch--;
    ldi_eng_touch(e, r);
    if (src->flags & ENG_SRC_PAYMENT) {
        LD_ASSERT(fl->payments > 0);
        LD_ASSERT(e->planned_payments > 0);
        fl->payments--;
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

/* The flight's entry was applied: its sources get their results. */
static void
resolve_flight(ldi_engine *e, const ld_host_flight *f, eng_flight *fl, const ld_host_applied *a)
{
    LD_ASSERT(f->n == a->n);
    for (uint32_t i = 0; i < f->n; i++) {
        const ld_host_src *src = &f->src[i];
        const ld_result *res = &a->results[i];
        switch (src->kind) {
        case SRC_CLIENT:
            resolve_client(e, fl, src, res);
            break;
        case SRC_FINISH:
            resolve_finish(e, &fl->done[src->a], res);
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
    LD_ASSERT(fl->payments == 0);
}

/* The flight ended without results: the replica left the view in which it prepared it (its
 * ops' outcome is unknown here: they may still commit in the new view, so their requests get
 * NOT_PRIMARY and the clients retry with the same ids and keys, P3), or refused it (`err`).
 * Finished payments in it are driven again by the next primary (ld_sm_pending_payments). */
static void
abandon_flight(ldi_engine *e, const ld_host_flight *f, eng_flight *fl, ld_host_end why, ld_err err)
{
    if (why == LD_HOST_END_REFUSED)
        LDI_ERROR("replica refused entry %" PRIu64 " of %u ops: %s", f->op, f->n, ld_err_name(err));
    for (uint32_t i = 0; i < f->n; i++) {
        const ld_host_src *src = &f->src[i];
        if (src->kind != SRC_CLIENT)
            continue;
        eng_req *r = &e->reqs[src->a];
        LD_ASSERT(r->slots[src->b].state == SLOT_BATCH);
        LD_ASSERT(r->n_batch > 0);
        r->n_batch--;
        if (why == LD_HOST_END_REFUSED) {
            ld_result_fail(&e->tmp_result, err, "the batch could not be replicated; retry");
            ldi_eng_put_result(e, r, src->b, &e->tmp_result);
        } else {
            r->abandoned = true;
        }
        ldi_eng_touch(e, r);
    }
    LD_ASSERT(e->planned_payments >= fl->payments);
    e->planned_payments -= fl->payments;
    fl->payments = 0;
}

static void
eng_flight_end(void *arg, const ld_host_flight *f, ld_host_end why, const ld_host_applied *a,
               ld_err err)
{
    ldi_engine *e = arg;
    eng_flight *fl = &e->flights[f->index];
    if (why == LD_HOST_END_APPLIED)
        resolve_flight(e, f, fl, a);
    else
        abandon_flight(e, f, fl, why, err);
}

/* ---- io: roles ------------------------------------------------------------------------------ */

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
void
ldi_eng_become_ready(ldi_engine *e)
{
    ldi_eng_relay_reset(e);
    size_t n = ld_sm_pending_payments(e->sm, restart_payment, e);
    LDI_INFO("replica: primary of view %" PRIu64 " ready at op %" PRIu64
             "; %zu payment(s) driven again",
             e->rs->view, e->rs->commit_min, n);
}

static void
eng_role(void *arg, ld_host_role what, const ld_repl_state *st)
{
    ldi_engine *e = arg;
    switch (what) {
    case LD_HOST_ROLE_CHANGED:
        LDI_INFO("replica %u of %u: view %" PRIu64 ", role %s (log_view %" PRIu64 ", op %" PRIu64
                 ", commit %" PRIu64 ", applied %" PRIu64 ")",
                 st->replica, st->replica_count, st->view, role_name(st), st->log_view, st->op,
                 st->commit_max, st->commit_min);
        break;
    case LD_HOST_ROLE_LOST:
        e->ready_pending = false;
        lose_primary(e);
        break;
    case LD_HOST_ROLE_READY:
        if (e->net == NULL || e->sm == NULL)
            e->ready_pending = true; /* ldi_engine_start() does it */
        else
            ldi_eng_become_ready(e);
        break;
    }
}

static void
eng_corrupt(void *arg, uint64_t op, const char *why)
{
    (void)arg;
    ldi_fatal("replica: committed entry %" PRIu64 ": %s; stopping rather than diverging "
              "(REPLICATION.md §3.1)",
              op, why);
}

/* ---- io: state transfer --------------------------------------------------------------------- */

static ld_err
eng_snapshot(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out)
{
    ldi_engine *e = arg;
    ld_err err = ldi_rocks_state_snapshot(e->rocks, LD_PEER_STATE_BYTES_MAX, buf_out, len_out);
    if (err != LD_OK)
        return err == LD_ERR_CAPACITY ? LD_ERR_CAPACITY : LD_ERR_NOMEM;
    /* The iterator read the last completed write (synced or not): its applied op is this. */
    *op_out = ld_host_written_op(e->core);
    LDI_INFO("state transfer: snapshot of %zu bytes at op %" PRIu64, *len_out, *op_out);
    return LD_OK;
}

/* Replaces the state machine's records with `buf`; the core reopens the state machine from
 * them, and ld_sm_open scans durable records only, so the pending write -- the new records and
 * whatever the replica put before this call -- is written with sync here. */
static ld_err
eng_install(void *arg, const uint8_t *buf, size_t len, const ld_store **store_out)
{
    ldi_engine *e = arg;
    if (ldi_rocks_batch_state_replace(e->rocks, buf, len) != LD_OK)
        return LD_ERR_STORAGE;
    if (ldi_rocks_batch_write(e->rocks, true) != LD_OK)
        ldi_fatal("storage: the synced write of a received state failed; stopping");
    *store_out = &e->store;
    return LD_OK;
}

static void
eng_installed(void *arg, uint64_t op, size_t len)
{
    ldi_engine *e = arg;
    e->sm = ld_host_sm(e->core);
    ldi_eng_relay_reset(e);
    LDI_INFO("state transfer: installed %zu bytes of state at op %" PRIu64, len, op);
}

void
ldi_eng_repl_io(ld_host_io *io)
{
    io->recv = eng_recv;
    io->send = eng_send;
    io->applied = eng_applied;
    io->flight_end = eng_flight_end;
    io->events = eng_events;
    io->role = eng_role;
    io->corrupt = eng_corrupt;
    io->snapshot = eng_snapshot;
    io->install = eng_install;
    io->installed = eng_installed;
}

/* ---- responses ----------------------------------------------------------------------------- */

void
ldi_eng_resp_fill(const ldi_engine *e, Ldpb__Response *resp)
{
    resp->applied_op = ld_sm_applied_op(e->sm);
    resp->view = e->rs->view;
}

void
ldi_eng_put_cluster_status(ldi_engine *e, eng_req *r, uint32_t op_index)
{
    const ld_repl_state *st = e->rs;
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
