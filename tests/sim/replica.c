/*
 * replica.c -- the host of one simulated replica, doing what node/ does for a real one: two
 * in-memory disks (the replica's log and meta; the state machine's records), the host table of
 * shard/repl.h (send, apply, snapshot, install), client requests and batching on the primary.
 *
 * A step (sim_replica_step) is one node loop turn: deliver the inbox, tick, refuse or queue
 * client requests, batch queued requests into log entries, then the synced write of both disks
 * and only then release the step's messages and client replies (THE HOST RULE of repl.h). A crash
 * drawn before the sync throws the pending writes, the messages (except the `early` ones, which
 * left at once) and the replies away.
 *
 * A checkpoint installed during a step goes into a fresh store that replaces the state machine's;
 * the previous one is kept until the sync, so a crash before it restores the old state exactly as
 * a torn RocksDB write batch would not have happened.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "repl_codec.h"
#include "sim.h"

#define SIM_EPOCH_MS 1700000000000LL /* wall clocks start near here (2023) */
#define SIM_CONFIG_EPOCH 1u

/* ---- clocks --------------------------------------------------------------------------------- */

int64_t
sim_mono(const sim_replica *r, int64_t t)
{
    /* Truncation keeps this non-decreasing in t for |drift| < 1e6 ppm. */
    return r->mono0 + t + (t * r->drift_ppm) / 1000000;
}

int64_t
sim_wall(const sim_replica *r, int64_t t)
{
    return SIM_EPOCH_MS + (sim_mono(r, t) - r->mono0) + r->wall_off;
}

int64_t
sim_real_at(const sim_replica *r, int64_t mono)
{
    if (mono <= sim_mono(r, 0))
        return 0;
    int64_t d = mono - r->mono0;
    if (d > (int64_t)1 << 50)
        return INT64_MAX;
    int64_t t = d * 1000000 / (1000000 + r->drift_ppm);
    while (sim_mono(r, t) < mono)
        t++;
    while (t > 0 && sim_mono(r, t - 1) >= mono)
        t--;
    return t;
}

/* ---- messages out --------------------------------------------------------------------------- */

static void
release_peer(sim_replica *r, const sim_out *o)
{
    sim_world *w = r->w;
    sim_msg *m = calloc(1, sizeof *m);
    LD_ASSERT(m != NULL);
    m->type = SIM_MSG_PEER;
    m->from = r->index;
    m->to = o->to;
    m->buf = o->buf;
    m->len = o->len;
    m->peer_kind = o->kind;
    m->peer_view = o->view;
    m->peer_op = o->op;
    m->peer_commit = o->commit;
    sim_log(w, SIM_EV_SEND, (int32_t)r->index, (int32_t)o->to, o->kind, o->view, o->op, o->commit,
            0);
    sim_net_send(w, m);
}

static void
host_send(void *arg, uint32_t to, const ld_repl_msg *msg, bool early)
{
    sim_replica *r = arg;
    sim_world *w = r->w;
    if (to >= w->p.replica_count || to == r->index) {
        sim_fail(w, "API", "r%u sent a %d message to replica %u", r->index, (int)msg->kind, to);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    ld_err err = ld_repl_msg_pack(msg, SIM_CONFIG_EPOCH, &buf, &len);
    if (err != LD_OK) {
        sim_fail(w, "codec", "r%u: ld_repl_msg_pack of a kind %d message: %s", r->index,
                 (int)msg->kind, ld_err_name(err));
        return;
    }
    sim_out o = {.to = to,
                 .buf = buf,
                 .len = len,
                 .kind = (uint16_t)msg->kind,
                 .view = msg->view,
                 .op = msg->kind == LD_REPL_PREPARE ? msg->entry.op : msg->op,
                 .commit = msg->commit};
    if (early) {
        /* Only LD_PLANT_BUG_ACK_EARLY sends these: out now, before the sync. */
        r->step_sent_early = true;
        release_peer(r, &o);
        return;
    }
    if (r->outbox_len >= LD_SIM_OUTBOX_MAX) {
        free(buf);
        sim_fail(w, "limit", "r%u sent more than %u messages in one step", r->index,
                 LD_SIM_OUTBOX_MAX);
        return;
    }
    r->outbox[r->outbox_len++] = o;
}

static sim_msg *
reply_new(sim_replica *r, uint32_t client, uint64_t req_id, sim_reply_code code)
{
    sim_msg *m = calloc(1, sizeof *m);
    LD_ASSERT(m != NULL);
    m->type = SIM_MSG_REPLY;
    m->from = r->index;
    m->to = client;
    m->req_id = req_id;
    m->reply = code;
    m->hint = -1;
    return m;
}

/* Queues a reply for release after the sync. Takes m. */
static void
reply_queue(sim_replica *r, sim_msg *m)
{
    if (r->replies_len >= LD_SIM_OUTBOX_MAX) {
        sim_msg_free(m);
        sim_fail(r->w, "limit", "r%u: more than %u client replies in one step", r->index,
                 LD_SIM_OUTBOX_MAX);
        return;
    }
    r->replies[r->replies_len++] = m;
}

static void
host_req_free(sim_host_req *q)
{
    for (uint32_t i = 0; i < LD_SIM_REQ_OPS_MAX; i++) {
        free(q->ops[i]);
        q->ops[i] = NULL;
    }
    q->n_ops = 0;
}

static void
reply_not_primary(sim_replica *r, uint32_t client, uint64_t req_id)
{
    sim_msg *m = reply_new(r, client, req_id, SIM_REPLY_NOT_PRIMARY);
    if (r->repl != NULL) {
        ld_repl_state st;
        ld_repl_state_get(r->repl, &st);
        if (st.status == LD_REPL_NORMAL && !st.primary)
            m->hint = (int32_t)st.primary_index;
    }
    sim_log(r->w, SIM_EV_NOT_PRIMARY, (int32_t)r->index, (int32_t)client, 0, 0,
            (uint64_t)(m->hint + 1), 0, (int64_t)req_id);
    reply_queue(r, m);
}

/* ---- host: apply ---------------------------------------------------------------------------- */

static void
inflight_pop(sim_replica *r, bool answer_not_primary)
{
    LD_ASSERT(r->inflight_len > 0);
    sim_host_entry *e = &r->inflight[r->inflight_head];
    for (uint32_t q = 0; q < e->n_reqs; q++) {
        if (answer_not_primary)
            reply_not_primary(r, e->reqs[q].client, e->reqs[q].req_id);
        host_req_free(&e->reqs[q]);
    }
    e->n_reqs = 0;
    r->inflight_head = (r->inflight_head + 1) % LD_SIM_HOST_INFLIGHT_MAX;
    r->inflight_len--;
}

/* The applied entry `op` answers the requests the host prepared in it (REPLICATION.md §4.5):
 * only if it is byte for byte the entry this host prepared at op. */
static void
answer_applied(sim_replica *r, uint64_t op, uint64_t lo, uint64_t hi, const ld_result *results)
{
    while (r->inflight_len > 0 && r->inflight[r->inflight_head].op < op)
        inflight_pop(r, true); /* not reached unless an entry was skipped: outcome unknown */
    if (r->inflight_len == 0 || r->inflight[r->inflight_head].op != op)
        return;
    sim_host_entry *e = &r->inflight[r->inflight_head];
    if (e->hash_lo != lo || e->hash_hi != hi) {
        /* Another entry committed at op (a view change replaced ours): outcome unknown here. */
        inflight_pop(r, true);
        return;
    }
    for (uint32_t q = 0; q < e->n_reqs; q++) {
        sim_host_req *req = &e->reqs[q];
        sim_msg *m = reply_new(r, req->client, req->req_id, SIM_REPLY_OK);
        m->op_number = op;
        m->n_ops = req->n_ops;
        for (uint32_t i = 0; i < req->n_ops; i++)
            m->results[i] = sim_res_from(&results[e->first_op_index[q] + i],
                                         r->w->ops_scratch[e->first_op_index[q] + i].type);
        m->first_pos = e->first_op_index[q];
        m->ack_view = r->host_view;
        m->hash_lo = lo;
        m->hash_hi = hi;
        reply_queue(r, m);
    }
    inflight_pop(r, false);
}

static bool
decode_entry(sim_replica *r, uint64_t op, int64_t ts, const Ldpb__LogEntry *le)
{
    sim_world *w = r->w;
    if (le == NULL) {
        sim_fail(w, "S4", "r%u: committed entry %" PRIu64 " is not a LogEntry", r->index, op);
        return false;
    }
    if (le->op != op || le->timestamp_ms != ts) {
        sim_fail(w, "S1",
                 "r%u: apply(op=%" PRIu64 ", ts=%" PRId64 ") got an entry saying op=%" PRIu64
                 " ts=%" PRId64,
                 r->index, op, ts, le->op, le->timestamp_ms);
        return false;
    }
    if (le->id_seed.len != LD_ID_BYTES) {
        sim_fail(w, "S4", "r%u: committed entry %" PRIu64 " has an id seed of %zu bytes", r->index,
                 op, le->id_seed.len);
        return false;
    }
    if (le->n_ops == 0 || le->n_ops > LD_SIM_BATCH_OPS_MAX) {
        sim_fail(w, "S4", "r%u: committed entry %" PRIu64 " has %zu ops", r->index, op, le->n_ops);
        return false;
    }
    for (size_t i = 0; i < le->n_ops; i++) {
        ld_op *o = &w->ops_scratch[i];
        if (ld_codec_op_from_pb(le->ops[i], false, o, &w->res_scratch[i]) != LD_OK ||
            !ld_op_is_write(o->type)) {
            sim_fail(w, "S4", "r%u: op %zu of committed entry %" PRIu64 " does not decode (%s)",
                     r->index, i, op, ld_err_name(w->res_scratch[i].code));
            return false;
        }
    }
    return true;
}

static void
host_apply(void *arg, uint64_t op, int64_t ts, const uint8_t *entry, uint32_t len)
{
    sim_replica *r = arg;
    sim_world *w = r->w;
    if (w->failed)
        return; /* the world stops at the end of this step */
    uint64_t applied = ld_sm_applied_op(r->sm);
    if (op != applied + 1) {
        sim_fail(w, "S1", "r%u: apply(op=%" PRIu64 ") but the state machine is at op %" PRIu64,
                 r->index, op, applied);
        return;
    }
    if (ts < ld_sm_last_ts(r->sm)) {
        sim_fail(w, "S1", "r%u: entry %" PRIu64 " has timestamp %" PRId64 " < previous %" PRId64,
                 r->index, op, ts, ld_sm_last_ts(r->sm));
        return;
    }
    Ldpb__LogEntry *le = ldpb__log_entry__unpack(NULL, len, entry);
    if (!decode_entry(r, op, ts, le)) {
        if (le != NULL)
            ldpb__log_entry__free_unpacked(le, NULL);
        return;
    }
    ld_batch_stamp stamp = {.op = op, .ts_ms = ts};
    memcpy(stamp.id_seed.bytes, le->id_seed.data, sizeof stamp.id_seed.bytes); /* checked */
    ld_sm_apply(r->sm, &stamp, w->ops_scratch, le->n_ops, w->res_scratch);
    ld_repl_state st = {0};
    if (r->repl != NULL)
        ld_repl_state_get(r->repl, &st);
    sim_log(w, SIM_EV_APPLY, (int32_t)r->index, -1, 0, st.view, op, st.commit_max,
            (int64_t)le->n_ops);
    sim_check_apply(w, r, op, ts, entry, len, le, w->res_scratch);
    uint64_t lo, hi;
    sim_entry_hash(ts, entry, len, &lo, &hi);
    answer_applied(r, op, lo, hi, w->res_scratch);
    ldpb__log_entry__free_unpacked(le, NULL);
}

/* ---- host: snapshot / install (state transfer) ---------------------------------------------- */

typedef struct snap_buf {
    uint8_t *b;
    size_t len, cap;
    bool too_big;
} snap_buf;

static void
snap_put(snap_buf *s, const void *p, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        s->b = realloc(s->b, cap);
        LD_ASSERT(s->b != NULL);
        s->cap = cap;
    }
    memcpy(s->b + s->len, p, n);
    s->len += n;
}

static void
snap_put_le32(snap_buf *s, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    snap_put(s, b, 4);
}

static ld_err
snap_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    snap_buf *s = arg;
    if (s->len + key_len + val_len + 8 > LD_PEER_STATE_BYTES_MAX) {
        s->too_big = true;
        return LD_ERR_CAPACITY;
    }
    snap_put_le32(s, (uint32_t)key_len);
    snap_put(s, key, key_len);
    snap_put_le32(s, (uint32_t)val_len);
    snap_put(s, val, val_len);
    return LD_OK;
}

/* The checkpoint is the state machine's durable records in key order, each
 * le32 klen | key | le32 vlen | value (REPLICATION.md §7.2's stream format). */
static ld_err
host_snapshot(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out)
{
    sim_replica *r = arg;
    snap_buf s = {0};
    ld_err err = r->sm_store.ops->scan(r->sm_store.impl, "", 0, snap_cb, &s);
    if (err != LD_OK) {
        free(s.b);
        return s.too_big ? LD_ERR_CAPACITY : err;
    }
    if (s.b == NULL) { /* an empty state: still a buffer */
        s.b = malloc(1);
        LD_ASSERT(s.b != NULL);
    }
    *buf_out = s.b;
    *len_out = s.len;
    *op_out = r->snap_op;
    return LD_OK;
}

static uint32_t
get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static ld_err
parse_checkpoint(const uint8_t *buf, size_t len, ld_store *dst)
{
    size_t at = 0;
    while (at < len) {
        if (len - at < 4)
            return LD_ERR_STORAGE;
        uint32_t klen = get_le32(buf + at);
        at += 4;
        if (klen > len - at)
            return LD_ERR_STORAGE;
        const uint8_t *key = buf + at;
        at += klen;
        if (len - at < 4)
            return LD_ERR_STORAGE;
        uint32_t vlen = get_le32(buf + at);
        at += 4;
        if (vlen > len - at)
            return LD_ERR_STORAGE;
        dst->ops->put(dst->impl, key, klen, buf + at, vlen);
        at += vlen;
    }
    return LD_OK;
}

static ld_err
host_install(void *arg, const uint8_t *buf, size_t len, uint64_t op)
{
    sim_replica *r = arg;
    sim_world *w = r->w;
    ld_store_mem *mem = NULL;
    if (ld_store_mem_alloc(&mem) != LD_OK)
        return LD_ERR_NOMEM;
    ld_store store = ld_store_mem_store(mem);
    ld_sm *sm = NULL;
    ld_err err = parse_checkpoint(buf, len, &store);
    if (err == LD_OK) {
        ld_store_mem_sync(mem); /* this store is not the replica's until the step's sync */
        err = ld_sm_open(&store, &sm);
    }
    if (err == LD_OK && ld_sm_applied_op(sm) != op) {
        sim_fail(w, "S6", "r%u: checkpoint said op %" PRIu64 " but its state is at op %" PRIu64,
                 r->index, op, ld_sm_applied_op(sm));
        err = LD_ERR_STORAGE;
    }
    if (err != LD_OK) {
        if (sm != NULL)
            ld_sm_free(sm);
        ld_store_mem_free(mem);
        return LD_ERR_STORAGE;
    }
    if (r->prev_sm_mem == NULL) {
        r->prev_sm_mem = r->sm_mem;
        r->prev_sm = r->sm;
        r->prev_snap_op = r->snap_op;
    } else { /* a second install in the same step replaces the first */
        ld_sm_free(r->sm);
        ld_store_mem_free(r->sm_mem);
    }
    r->sm_mem = mem;
    r->sm_store = store;
    /* ld_sm keeps the store pointer it was opened with: reopen it on r->sm_store (the local
     * `store` dies with this call). The new store's records are synced, so the state is equal. */
    ld_sm_free(sm);
    err = ld_sm_open(&r->sm_store, &r->sm);
    LD_ASSERT(err == LD_OK);
    r->snap_op = op;
    r->installed_in_step = true;
    sim_log(w, SIM_EV_INSTALL, (int32_t)r->index, -1, 0, 0, op, 0, 0);
    sim_check_install(w, r, op);
    return LD_OK;
}

/* ---- life ----------------------------------------------------------------------------------- */

static void
open_disks(sim_replica *r)
{
    LD_ASSERT(ld_store_mem_alloc(&r->log_mem) == LD_OK);
    LD_ASSERT(ld_store_mem_alloc(&r->sm_mem) == LD_OK);
    r->log_store = ld_store_mem_store(r->log_mem);
    r->sm_store = ld_store_mem_store(r->sm_mem);
}

static void
step_begin(sim_replica *r)
{
    r->outbox_len = 0;
    r->replies_len = 0;
    r->step_sent_early = false;
    r->installed_in_step = false;
    sim_check_step_begin(r->w);
}

/* Rebuilds the host from the durable disks: state machine, then the replica (which may apply
 * entries during open). The caller finishes the step. */
static void
open_replica(sim_replica *r)
{
    sim_world *w = r->w;
    ld_err err = ld_sm_open(&r->sm_store, &r->sm);
    if (err != LD_OK) {
        sim_fail(w, "S6", "r%u: the state machine does not reopen from its disk: %s", r->index,
                 ld_err_name(err));
        return;
    }
    r->snap_op = ld_sm_applied_op(r->sm);
    uint8_t nonce[16];
    for (int i = 0; i < 2; i++) {
        uint64_t x = sim_rng_next(&w->rng);
        memcpy(nonce + 8 * i, &x, 8);
    }
    err = ld_repl_open(&r->cfg, &r->log_store, &r->host, ld_sm_applied_op(r->sm), nonce,
                       sim_mono(r, w->t), &r->repl);
    if (err != LD_OK) {
        r->repl = NULL;
        sim_fail(w, "S3", "r%u: ld_repl_open from the durable disk failed: %s", r->index,
                 ld_err_name(err));
    }
}

void
sim_replica_init(sim_world *w, sim_replica *r, uint32_t index)
{
    memset(r, 0, sizeof *r);
    r->index = index;
    r->w = w;
    r->cfg.cluster_id = 7;
    r->cfg.shard_id = 0;
    r->cfg.replica = index;
    r->cfg.replica_count = w->p.replica_count;
    r->cfg.log_retain = w->p.log_retain;
    r->host = (ld_repl_host){.arg = r,
                             .send = host_send,
                             .apply = host_apply,
                             .snapshot = host_snapshot,
                             .install = host_install};
    r->outbox = calloc(LD_SIM_OUTBOX_MAX, sizeof *r->outbox);
    r->replies = calloc(LD_SIM_OUTBOX_MAX, sizeof *r->replies);
    r->inflight = calloc(LD_SIM_HOST_INFLIGHT_MAX, sizeof *r->inflight);
    LD_ASSERT(r->outbox != NULL && r->replies != NULL && r->inflight != NULL);
    r->mono0 = sim_rng_range(&w->rng, 1000000, 1000000000);
    r->drift_ppm = (int32_t)sim_rng_range(&w->rng, -1000, 1000); /* rho = 1e-3 */
    r->wall_off = sim_rng_range(&w->rng, -2000, 2000);
    open_disks(r);
    ld_repl_format(&r->log_store);
    ld_store_mem_sync(r->log_mem);
    r->seen_status = 0;
    step_begin(r);
    open_replica(r);
    r->up = r->repl != NULL;
    ld_store_mem_sync(r->log_mem);
    ld_store_mem_sync(r->sm_mem);
    r->wake_at = 0;
}

static void
drop_inbox(sim_replica *r, int64_t reason)
{
    while (r->inbox_len > 0) {
        sim_msg *m = r->inbox[r->inbox_head];
        r->inbox_head = (r->inbox_head + 1) % LD_SIM_INBOX_MAX;
        r->inbox_len--;
        if (m->type == SIM_MSG_PEER)
            sim_log(r->w, SIM_EV_LOSE, (int32_t)m->from, (int32_t)m->to, m->peer_kind, m->peer_view,
                    m->peer_op, m->peer_commit, reason);
        sim_msg_free(m);
    }
}

static void
drop_host_state(sim_replica *r)
{
    while (r->pending_len > 0) {
        host_req_free(&r->pending[r->pending_head]);
        r->pending_head = (r->pending_head + 1) % LD_SIM_HOST_PENDING_MAX;
        r->pending_len--;
    }
    while (r->inflight_len > 0)
        inflight_pop(r, false);
}

static void
free_step_output(sim_replica *r)
{
    for (size_t i = 0; i < r->outbox_len; i++) {
        sim_out *o = &r->outbox[i];
        sim_log(r->w, SIM_EV_LOSE, (int32_t)r->index, (int32_t)o->to, o->kind, o->view, o->op,
                o->commit, SIM_LOSE_CRASH);
        free(o->buf);
    }
    r->outbox_len = 0;
    for (size_t i = 0; i < r->replies_len; i++)
        sim_msg_free(r->replies[i]);
    r->replies_len = 0;
}

void
sim_replica_crash(sim_replica *r, bool before_sync)
{
    sim_world *w = r->w;
    LD_ASSERT(r->up);
    ld_repl_state st = {0};
    if (r->repl != NULL)
        ld_repl_state_get(r->repl, &st);
    sim_log(w, SIM_EV_CRASH, (int32_t)r->index, -1, 0, st.view, st.op, st.commit_max,
            before_sync ? 1 : 0);
    if (before_sync) {
        sim_check_step_lost(w); /* the step's applies were never durable: the checks forget them */
        free_step_output(r);
        if (r->prev_sm_mem != NULL) { /* the install of this step never happened */
            ld_sm_free(r->sm);
            ld_store_mem_free(r->sm_mem);
            r->sm_mem = r->prev_sm_mem;
            r->sm = r->prev_sm;
            r->sm_store = ld_store_mem_store(r->sm_mem);
            r->snap_op = r->prev_snap_op;
            r->prev_sm_mem = NULL;
            r->prev_sm = NULL;
        }
    }
    ld_store_mem_crash(r->log_mem);
    ld_store_mem_crash(r->sm_mem);
    if (r->repl != NULL) {
        ld_repl_stats s;
        ld_repl_stats_get(r->repl, &s); /* in memory only: keep them for the summary */
        w->stats.view_changes += s.view_changes;
        w->stats.state_transfers += s.state_transfers;
        w->stats.repairs += s.repairs;
        ld_repl_free(r->repl);
    }
    r->repl = NULL;
    if (r->sm != NULL)
        ld_sm_free(r->sm);
    r->sm = NULL;
    drop_host_state(r);
    drop_inbox(r, SIM_LOSE_DOWN);
    r->up = false;
    r->paused = false;
    r->crash_arm = SIM_CRASH_NONE;
    r->seen_status = 0;
    r->crashes++;
}

/* The synced write of the step, then its effects (host rule). */
static void
step_sync_release(sim_replica *r)
{
    sim_world *w = r->w;
    ld_store_mem_sync(r->log_mem);
    ld_store_mem_sync(r->sm_mem);
    sim_check_step_durable(w);
    if (r->prev_sm_mem != NULL) {
        ld_sm_free(r->prev_sm);
        ld_store_mem_free(r->prev_sm_mem);
        r->prev_sm_mem = NULL;
        r->prev_sm = NULL;
    }
    r->snap_op = ld_sm_applied_op(r->sm);
    if (r->repl != NULL) {
        ld_repl_state st;
        ld_repl_state_get(r->repl, &st);
        r->dur_view = st.view;
        r->dur_commit_max = st.commit_max;
        r->dur_commit_min = st.commit_min;
    }
    /* A step that installed a large checkpoint (storm seeds) syncs install_ms later: its
     * messages and replies leave then. */
    if (r->installed_in_step)
        w->net.hold_ms = w->p.install_ms;
    for (size_t i = 0; i < r->outbox_len; i++)
        release_peer(r, &r->outbox[i]);
    r->outbox_len = 0;
    for (size_t i = 0; i < r->replies_len; i++) {
        sim_msg *m = r->replies[i];
        if (m->reply == SIM_REPLY_OK) {
            sim_check_ack(w, r, m);
            sim_log(w, SIM_EV_ACK, (int32_t)r->index, (int32_t)m->to, 0, m->ack_view, m->op_number,
                    0, (int64_t)m->req_id);
        }
        sim_net_send(w, m);
    }
    r->replies_len = 0;
    w->net.hold_ms = 0;
}

void
sim_replica_restart(sim_replica *r)
{
    sim_world *w = r->w;
    LD_ASSERT(!r->up);
    step_begin(r);
    open_replica(r);
    if (r->repl == NULL)
        return; /* failed: reported */
    r->up = true;
    r->restarts++;
    step_sync_release(r);
    ld_repl_state st;
    ld_repl_state_get(r->repl, &st);
    r->host_view = st.view;
    r->host_primary = false;
    sim_log(w, SIM_EV_RESTART, (int32_t)r->index, -1, (uint16_t)st.status, st.view, st.op,
            st.commit_max, 0);
    sim_check_restart(w, r);
    r->wake_at = w->t + 1;
}

void
sim_replica_wipe(sim_replica *r)
{
    if (r->up)
        sim_replica_crash(r, false);
    sim_log(r->w, SIM_EV_WIPE, (int32_t)r->index, -1, 0, 0, 0, 0, 0);
    ld_store_mem_free(r->log_mem);
    ld_store_mem_free(r->sm_mem);
    open_disks(r);
    r->wiped = true;
    r->wipes++;
    /* A new disk: nothing durable to compare with (S3 starts again). */
    r->dur_view = r->dur_commit_max = r->dur_commit_min = 0;
    r->seen_view = r->seen_commit_max = r->seen_commit_min = 0;
}

void
sim_replica_fini(sim_replica *r)
{
    step_begin(r);
    if (r->repl != NULL)
        ld_repl_free(r->repl);
    if (r->sm != NULL)
        ld_sm_free(r->sm);
    if (r->prev_sm != NULL)
        ld_sm_free(r->prev_sm);
    if (r->prev_sm_mem != NULL)
        ld_store_mem_free(r->prev_sm_mem);
    drop_host_state(r);
    while (r->inbox_len > 0) {
        sim_msg_free(r->inbox[r->inbox_head]);
        r->inbox_head = (r->inbox_head + 1) % LD_SIM_INBOX_MAX;
        r->inbox_len--;
    }
    if (r->log_mem != NULL)
        ld_store_mem_free(r->log_mem);
    if (r->sm_mem != NULL)
        ld_store_mem_free(r->sm_mem);
    free(r->outbox);
    free(r->replies);
    free(r->inflight);
    memset(r, 0, sizeof *r);
}

void
sim_replica_deliver(sim_replica *r, sim_msg *m)
{
    if (r->inbox_len >= LD_SIM_INBOX_MAX) {
        if (m->type == SIM_MSG_PEER)
            sim_log(r->w, SIM_EV_LOSE, (int32_t)m->from, (int32_t)m->to, m->peer_kind, m->peer_view,
                    m->peer_op, m->peer_commit, SIM_LOSE_INBOX_FULL);
        sim_msg_free(m);
        return;
    }
    r->inbox[(r->inbox_head + r->inbox_len) % LD_SIM_INBOX_MAX] = m;
    r->inbox_len++;
}

bool
sim_replica_has_work(const sim_replica *r)
{
    return r->up && !r->paused && (r->inbox_len > 0 || r->wake_at <= r->w->t);
}

/* ---- host: client requests and batching ----------------------------------------------------- */

static void
serve_read(sim_replica *r, const sim_msg *req, int64_t now)
{
    sim_world *w = r->w;
    if (!ld_repl_can_read(r->repl, now)) {
        reply_not_primary(r, req->from, req->req_id);
        return;
    }
    sim_msg *m = reply_new(r, req->from, req->req_id, SIM_REPLY_READ);
    m->n_ops = 1;
    if (!sim_read_drop(w, r, sim_wall(r, w->t), &m->results[0]))
        m->results[0].code = LD_ERR_DROP_NOT_FOUND;
    sim_log(w, SIM_EV_READ, (int32_t)r->index, (int32_t)req->from, 0, 0, ld_sm_applied_op(r->sm), 0,
            m->results[0].stock.sold);
    sim_check_read(w, r, &m->results[0]);
    reply_queue(r, m);
}

static void
on_request(sim_replica *r, sim_msg *req, int64_t now)
{
    if (req->is_read) {
        serve_read(r, req, now);
        return;
    }
    ld_repl_state st;
    ld_repl_state_get(r->repl, &st);
    if (!st.primary) {
        reply_not_primary(r, req->from, req->req_id);
        return;
    }
    if (r->pending_len >= LD_SIM_HOST_PENDING_MAX) {
        reply_queue(r, reply_new(r, req->from, req->req_id, SIM_REPLY_BUSY));
        return;
    }
    sim_host_req *q = &r->pending[(r->pending_head + r->pending_len) % LD_SIM_HOST_PENDING_MAX];
    r->pending_len++;
    memset(q, 0, sizeof *q);
    q->client = req->from;
    q->req_id = req->req_id;
    q->n_ops = req->n_ops;
    for (uint32_t i = 0; i < req->n_ops; i++) { /* the queue takes the op bytes */
        q->ops[i] = req->ops[i];
        q->ops_len[i] = req->ops_len[i];
        req->ops[i] = NULL;
    }
}

/* Requests taken or prepared in a view this replica no longer leads have an unknown outcome
 * (repl.h): answer NOT_PRIMARY; the clients retry with the same ops. */
static void
sync_host_view(sim_replica *r)
{
    ld_repl_state st;
    ld_repl_state_get(r->repl, &st);
    if (st.primary && st.view == r->host_view && r->host_primary)
        return;
    while (r->inflight_len > 0)
        inflight_pop(r, true);
    while (r->pending_len > 0) {
        sim_host_req *q = &r->pending[r->pending_head];
        reply_not_primary(r, q->client, q->req_id);
        host_req_free(q);
        r->pending_head = (r->pending_head + 1) % LD_SIM_HOST_PENDING_MAX;
        r->pending_len--;
    }
    r->host_view = st.view;
    r->host_primary = st.primary;
}

static size_t
pack_entry(sim_world *w, Ldpb__LogEntry *le)
{
    size_t len = ldpb__log_entry__get_packed_size(le);
    if (len > w->pack_cap) {
        size_t cap = w->pack_cap ? w->pack_cap : 4096;
        while (cap < len)
            cap *= 2;
        w->pack_scratch = realloc(w->pack_scratch, cap);
        LD_ASSERT(w->pack_scratch != NULL);
        w->pack_cap = cap;
    }
    size_t n = ldpb__log_entry__pack(le, w->pack_scratch);
    LD_ASSERT(n == len);
    return len;
}

/* Forms one log entry from queued requests (and a TICK when one is due) and prepares it.
 * Returns false when there was nothing to prepare. */
static bool
batch_one(sim_replica *r, int64_t now)
{
    sim_world *w = r->w;
    int64_t ts = sim_wall(r, w->t);
    if (ts < ld_repl_head_timestamp(r->repl))
        ts = ld_repl_head_timestamp(r->repl); /* entries' timestamps never go back */
    if (ts < ld_sm_last_ts(r->sm))
        ts = ld_sm_last_ts(r->sm);
    sim_host_entry *e =
        &r->inflight[(r->inflight_head + r->inflight_len) % LD_SIM_HOST_INFLIGHT_MAX];
    memset(e, 0, sizeof *e);
    Ldpb__Op *pbs[LD_SIM_BATCH_OPS_MAX];
    uint32_t n = 0;
    while (r->pending_len > 0) {
        sim_host_req *q = &r->pending[r->pending_head];
        if (n + q->n_ops > LD_SIM_BATCH_OPS_MAX - 1) /* room for a TICK */
            break;
        e->first_op_index[e->n_reqs] = n;
        for (uint32_t i = 0; i < q->n_ops; i++) {
            pbs[n] = ldpb__op__unpack(NULL, q->ops_len[i], q->ops[i]);
            LD_ASSERT(pbs[n] != NULL); /* the clients packed them */
            n++;
        }
        e->reqs[e->n_reqs++] = *q;
        memset(q, 0, sizeof *q);
        r->pending_head = (r->pending_head + 1) % LD_SIM_HOST_PENDING_MAX;
        r->pending_len--;
    }
    uint32_t n_client = n;
    ld_op tick;
    Ldpb__Op tick_pb;
    ld_codec_op_scratch scratch;
    if (ld_sm_next_deadline_ms(r->sm) <= ts && now - r->last_tick_op_ms >= LD_TICK_INTERVAL_MS) {
        memset(&tick, 0, sizeof tick);
        tick.type = LD_OP_TICK;
        ld_codec_op_to_pb(&tick, &tick_pb, &scratch);
        pbs[n++] = &tick_pb;
        r->last_tick_op_ms = now;
    }
    if (n == 0)
        return false;
    uint64_t op = ld_repl_next_op(r->repl);
    uint8_t id_seed[LD_ID_BYTES]; /* drawn by the primary as it forms the entry, as the node does */
    for (int i = 0; i < 2; i++) {
        uint64_t x = sim_splitmix64(&w->id_seed_rng);
        memcpy(id_seed + 8 * i, &x, 8);
    }
    Ldpb__LogEntry le = LDPB__LOG_ENTRY__INIT;
    le.op = op;
    le.timestamp_ms = ts;
    le.n_ops = n;
    le.ops = pbs;
    le.id_seed.data = id_seed;
    le.id_seed.len = sizeof id_seed;
    size_t len = pack_entry(w, &le);
    for (uint32_t i = 0; i < n_client; i++)
        ldpb__op__free_unpacked(pbs[i], NULL);
    e->op = op;
    sim_entry_hash(ts, w->pack_scratch, len, &e->hash_lo, &e->hash_hi);
    r->inflight_len++; /* before prepare: with one replica it may apply at once */
    sim_log(w, SIM_EV_PREPARE, (int32_t)r->index, -1, 0, r->host_view, op, 0, (int64_t)n);
    ld_err err = ld_repl_prepare(r->repl, w->pack_scratch, (uint32_t)len, ts, now);
    if (err != LD_OK) {
        sim_fail(w, "API",
                 "r%u: ld_repl_can_prepare() said yes but ld_repl_prepare(op %" PRIu64 ") is %s",
                 r->index, op, ld_err_name(err));
        return false;
    }
    return true;
}

static void
batch(sim_replica *r, int64_t now)
{
    while (!r->w->failed && r->inflight_len < LD_SIM_HOST_INFLIGHT_MAX &&
           ld_repl_can_prepare(r->repl)) {
        sync_host_view(r);
        if (!batch_one(r, now))
            break;
    }
}

static void
log_status_change(sim_replica *r)
{
    ld_repl_state st;
    ld_repl_state_get(r->repl, &st);
    /* A wiped replica counts as failed (fault model, README.md) until it is normal and has
     * applied everything it may have acknowledged before the wipe (repl.h lost_op). */
    if (r->wiped && st.status == LD_REPL_NORMAL && st.commit_min >= st.lost_op)
        r->wiped = false;
    if (st.status == r->seen_status && st.primary == r->seen_primary && st.view == r->seen_view)
        return;
    sim_log(r->w, SIM_EV_STATUS, (int32_t)r->index, -1, (uint16_t)st.status, st.view, st.op,
            st.commit_max, st.primary ? 1 : 0);
    r->seen_status = st.status;
    r->seen_primary = st.primary;
}

void
sim_replica_step(sim_replica *r)
{
    sim_world *w = r->w;
    LD_ASSERT(r->up && !r->paused && r->repl != NULL);
    int64_t now = sim_mono(r, w->t);
    step_begin(r);
    while (r->inbox_len > 0 && !w->failed) {
        sim_msg *m = r->inbox[r->inbox_head];
        r->inbox_head = (r->inbox_head + 1) % LD_SIM_INBOX_MAX;
        r->inbox_len--;
        if (m->type == SIM_MSG_PEER) {
            ld_repl_msg_buf buf;
            ld_err err = ld_repl_msg_unpack(m->buf, m->len, &buf);
            if (err != LD_OK) {
                sim_fail(w, "codec", "r%u: a frame r%u packed does not unpack: %s", r->index,
                         m->from, ld_err_name(err));
            } else {
                if (buf.config_epoch != SIM_CONFIG_EPOCH || buf.msg.kind != m->peer_kind)
                    sim_fail(w, "codec", "r%u: a frame from r%u changed in the codec", r->index,
                             m->from);
                sim_log(w, SIM_EV_DELIVER, (int32_t)m->from, (int32_t)r->index, m->peer_kind,
                        m->peer_view, m->peer_op, m->peer_commit, 0);
                ld_repl_on_message(r->repl, &buf.msg, now);
                ld_repl_msg_buf_done(&buf);
            }
        } else {
            on_request(r, m, now);
        }
        sim_msg_free(m);
    }
    if (!w->failed)
        ld_repl_on_tick(r->repl, now);
    if (!w->failed)
        sync_host_view(r);
    if (!w->failed)
        batch(r, now);
    if (!w->failed)
        sync_host_view(r);
    /* A crash armed by the fault schedule hits the first step that has something to lose. */
    bool something = r->outbox_len > 0 || r->replies_len > 0 || r->step_sent_early;
    if (r->crash_arm != SIM_CRASH_NONE && (something || w->t >= r->crash_arm_until)) {
        bool before = r->crash_arm == SIM_CRASH_BEFORE_SYNC;
        if (!before)
            step_sync_release(r);
        sim_replica_crash(r, before);
        r->restart_at = w->t + sim_rng_range(&w->rng, 20, 1500);
        return;
    }
    step_sync_release(r);
    if (w->failed)
        return;
    if (r->installed_in_step && w->p.install_ms > 0) {
        /* A large checkpoint (storm seeds): ingesting and syncing it keeps the node's loop busy
         * (its messages left with that delay); what arrives meanwhile waits in the inbox. */
        r->paused = true;
        r->resume_at = w->t + w->p.install_ms;
        sim_log(w, SIM_EV_PAUSE, (int32_t)r->index, -1, 0, 0, 0, 0, r->resume_at);
    }
    log_status_change(r);
    sim_check_step(w, r);
    int64_t next = w->t + LD_PEER_TICK_MS;
    int64_t dl = ld_repl_next_deadline(r->repl);
    if (dl != INT64_MAX) {
        int64_t at = sim_real_at(r, dl);
        if (at < next)
            next = at;
    }
    if (r->pending_len > 0 && ld_repl_can_prepare(r->repl))
        next = w->t + 1;
    if (next <= w->t)
        next = w->t + 1;
    r->wake_at = next;
}
