/*
 * replica.c -- the adapters of one simulated replica around the replica host core that the node
 * runs (shard/host/host.h): two in-memory disks (the replica's log and meta; the state machine's
 * records), the simulated network, clock and randomness, and the clients' requests.
 *
 * A step (sim_replica_step) is one node loop turn, ld_host_turn(): the core steps the replica
 * with the inbox's peer messages and its timeouts, forms one entry from the queued requests,
 * decides what must be synced, writes, and only then releases messages and replies (the host
 * rule of repl.h). The simulator only provides the I/O: a write with sync makes both disks
 * durable; one without sync leaves them pending (the next sync makes them durable, as RocksDB's
 * WAL does; a crash first loses them, as an OS crash would). A crash armed before the sync hits
 * inside the core's synced write: the write fails, the turn stops, and everything pending and
 * not released is lost.
 *
 * A checkpoint installed during a step goes into a fresh store that replaces the state machine's;
 * the previous one is kept until the sync, so a crash before it restores the old state exactly as
 * a torn RocksDB write batch would not have happened.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
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

/* ---- replies ------------------------------------------------------------------------------- */

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

/* Queues a reply for the release after the turn's write. Takes m. */
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

/* ---- io: storage ---------------------------------------------------------------------------- */

/* A write with sync makes both disks durable; one without leaves them pending (durable with the
 * next sync, lost by a crash first). A crash armed before the sync fails the synced write. */
static bool
host_write(void *arg, bool sync, bool held)
{
    (void)held;
    sim_replica *r = arg;
    sim_world *w = r->w;
    if (!sync)
        return true;
    if (r->crash_arm == SIM_CRASH_BEFORE_SYNC) {
        r->crashed_in_write = true;
        return false;
    }
    ld_store_mem_sync(r->log_mem);
    ld_store_mem_sync(r->sm_mem);
    sim_check_step_durable(w);
    if (r->prev_sm_mem != NULL) {
        ld_store_mem_free(r->prev_sm_mem);
        r->prev_sm_mem = NULL;
    }
    r->synced_in_step = true;
    if (r->host != NULL) {
        r->snap_op = ld_sm_applied_op(ld_host_sm(r->host));
        ld_repl_state now;
        ld_repl_state_get(ld_host_repl(r->host), &now);
        r->dur_view = now.view;
        r->dur_commit_max = now.commit_max;
        r->dur_commit_min = now.commit_min;
    }
    /* A step that installed a large checkpoint (storm seeds) syncs install_ms later: its
     * messages and replies leave then. */
    if (r->installed_in_step)
        w->net.hold_ms = w->p.install_ms;
    return true;
}

static uint32_t
host_pending(void *arg)
{
    sim_replica *r = arg;
    return (uint32_t)(ld_store_mem_pending(r->log_mem) + ld_store_mem_pending(r->sm_mem));
}

static ld_err
host_snapshot(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out)
{
    sim_replica *r = arg;
    ld_err err = ld_checkpoint_from_store(&r->sm_store, LD_PEER_STATE_BYTES_MAX, buf_out, len_out);
    if (err != LD_OK)
        return err;
    *op_out = r->snap_op;
    return LD_OK;
}

static void
install_put_cb(void *arg, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len)
{
    ld_store *store = arg;
    store->ops->put(store->impl, key, key_len, val, val_len);
}

/* The checkpoint goes into a fresh store (synced in itself: it is not the replica's until the
 * step's sync); the previous one is kept until then, for a crash before it. */
static ld_err
host_install(void *arg, const uint8_t *buf, size_t len, const ld_store **store_out)
{
    sim_replica *r = arg;
    if (!ld_checkpoint_valid(buf, len))
        return LD_ERR_STORAGE;
    ld_store_mem *mem = NULL;
    if (ld_store_mem_alloc(&mem) != LD_OK)
        return LD_ERR_NOMEM;
    ld_store store = ld_store_mem_store(mem);
    ld_checkpoint_walk(buf, len, install_put_cb, &store);
    ld_store_mem_sync(mem);
    if (r->prev_sm_mem == NULL) {
        r->prev_sm_mem = r->sm_mem;
        r->prev_snap_op = r->snap_op;
    } else { /* a second install in the same step replaces the first */
        ld_store_mem_free(r->sm_mem);
    }
    r->sm_mem = mem;
    r->sm_store = store;
    *store_out = &r->sm_store;
    return LD_OK;
}

static void
host_installed(void *arg, uint64_t op, size_t len)
{
    (void)len;
    sim_replica *r = arg;
    r->sm = ld_host_sm(r->host);
    r->snap_op = op;
    r->installed_in_step = true;
    sim_log(r->w, SIM_EV_INSTALL, (int32_t)r->index, -1, 0, 0, op, 0, 0);
    sim_check_install(r->w, r, op);
}

/* ---- io: peers ------------------------------------------------------------------------------ */

static bool
host_recv(void *arg, ld_repl_msg_buf *buf)
{
    sim_replica *r = arg;
    sim_world *w = r->w;
    while (r->peer_q_len > 0 && !w->failed) {
        sim_msg *m = r->peer_q[r->peer_q_head];
        r->peer_q_head = (r->peer_q_head + 1) % LD_SIM_INBOX_MAX;
        r->peer_q_len--;
        ld_err err = ld_repl_msg_unpack(m->buf, m->len, buf);
        if (err != LD_OK) {
            sim_fail(w, "codec", "r%u: a frame r%u packed does not unpack: %s", r->index, m->from,
                     ld_err_name(err));
            sim_msg_free(m);
            return false;
        }
        if (buf->config_epoch != SIM_CONFIG_EPOCH || buf->msg.kind != m->peer_kind)
            sim_fail(w, "codec", "r%u: a frame from r%u changed in the codec", r->index, m->from);
        sim_log(w, SIM_EV_DELIVER, (int32_t)m->from, (int32_t)r->index, m->peer_kind, m->peer_view,
                m->peer_op, m->peer_commit, 0);
        sim_msg_free(m);
        return true;
    }
    return false;
}

static void
host_send(void *arg, const ld_host_sent *s, uint8_t *buf, size_t len)
{
    sim_replica *r = arg;
    sim_world *w = r->w;
    if (s->to >= w->p.replica_count || s->to == r->index) {
        sim_fail(w, "API", "r%u sent a %d message to replica %u", r->index, (int)s->kind, s->to);
        free(buf);
        return;
    }
    sim_msg *m = calloc(1, sizeof *m);
    LD_ASSERT(m != NULL);
    m->type = SIM_MSG_PEER;
    m->from = r->index;
    m->to = s->to;
    m->buf = buf;
    m->len = len;
    m->peer_kind = (uint16_t)s->kind;
    m->peer_view = s->view;
    m->peer_op = s->op;
    m->peer_commit = s->commit;
    r->sent_in_step = true;
    sim_log(w, SIM_EV_SEND, (int32_t)r->index, (int32_t)s->to, m->peer_kind, s->view, s->op,
            s->commit, 0);
    sim_net_send(w, m);
}

/* ---- io: the turn --------------------------------------------------------------------------- */

static void
host_random(void *arg, uint8_t out[LD_ID_BYTES])
{
    sim_replica *r = arg;
    /* The primaries' entry id seeds: a stream of their own, so that drawing them leaves the
     * fault schedule as it was. */
    for (int i = 0; i < 2; i++) {
        uint64_t x = sim_splitmix64(&r->w->id_seed_rng);
        memcpy(out + 8 * i, &x, 8);
    }
}

/* Moves queued requests into the entry while they fit; not primary: they get NOT_PRIMARY. */
static void
host_take(void *arg, int64_t ts, int64_t now, bool can_prepare)
{
    (void)ts;
    (void)now;
    sim_replica *r = arg;
    sim_world *w = r->w;
    const ld_repl_state *st = ld_host_state(r->host);
    if (!st->primary) {
        while (r->pending_len > 0) {
            sim_host_req *q = &r->pending[r->pending_head];
            reply_not_primary(r, q->client, q->req_id);
            host_req_free(q);
            r->pending_head = (r->pending_head + 1) % LD_SIM_HOST_PENDING_MAX;
            r->pending_len--;
        }
        return;
    }
    if (!can_prepare)
        return;
    const ld_host_flight *f = ld_host_building(r->host);
    sim_host_entry *e = &r->flights[f->index];
    LD_ASSERT(e->n_reqs == 0);
    uint32_t n = 0;
    while (r->pending_len > 0 && !w->failed) {
        sim_host_req *q = &r->pending[r->pending_head];
        if (q->n_ops > ld_host_room(r->host))
            break;
        e->first_op_index[e->n_reqs] = n;
        for (uint32_t i = 0; i < q->n_ops; i++) {
            Ldpb__Op *pb = ldpb__op__unpack(NULL, q->ops_len[i], q->ops[i]);
            LD_ASSERT(pb != NULL); /* the clients packed them */
            r->take_pb[r->take_pb_len++] = pb;
            if (ld_codec_op_from_pb(pb, true, &r->take_op, &r->take_res) != LD_OK) {
                sim_fail(w, "API", "r%u: a client op does not decode: %s", r->index,
                         r->take_res.message);
                return;
            }
            ld_host_add(r->host, pb, &r->take_op,
                        (ld_host_src){.kind = SIM_SRC_CLIENT, .a = e->n_reqs, .b = i});
            n++;
        }
        e->reqs[e->n_reqs++] = *q;
        memset(q, 0, sizeof *q);
        r->pending_head = (r->pending_head + 1) % LD_SIM_HOST_PENDING_MAX;
        r->pending_len--;
    }
    if (n > 0)
        sim_log(w, SIM_EV_PREPARE, (int32_t)r->index, -1, 0, st->view, ld_repl_next_op(r->repl), 0,
                (int64_t)n);
}

static void
host_applied(void *arg, const ld_host_applied *a)
{
    sim_replica *r = arg;
    sim_world *w = r->w;
    r->sm = ld_host_sm(r->host);
    if (w->failed)
        return; /* the world stops at the end of this step */
    Ldpb__LogEntry *le = ldpb__log_entry__unpack(NULL, a->len, a->entry);
    LD_ASSERT(le != NULL); /* the core decoded it */
    ld_repl_state st = {0};
    if (ld_host_repl(r->host) != NULL) /* NULL while the replica opens (its re-applies) */
        ld_repl_state_get(ld_host_repl(r->host), &st);
    sim_log(w, SIM_EV_APPLY, (int32_t)r->index, -1, 0, st.view, a->stamp.op, st.commit_max,
            (int64_t)a->n);
    sim_check_apply(w, r, a->stamp.op, a->stamp.ts_ms, a->entry, a->len, le, a->ops, a->results);
    ldpb__log_entry__free_unpacked(le, NULL);
}

/* The entry `f` answers the requests taken into it (REPLICATION.md §4.5), or, when the replica
 * left its view, they get NOT_PRIMARY: their outcome is unknown here. */
static void
host_flight_end(void *arg, const ld_host_flight *f, ld_host_end why, const ld_host_applied *a,
                ld_err err)
{
    sim_replica *r = arg;
    sim_world *w = r->w;
    sim_host_entry *e = &r->flights[f->index];
    if (why == LD_HOST_END_REFUSED)
        sim_fail(w, "API", "r%u: ld_repl_prepare(op %" PRIu64 ") refused a preparable entry: %s",
                 r->index, f->op, ld_err_name(err));
    uint64_t lo = 0, hi = 0;
    if (why == LD_HOST_END_APPLIED)
        sim_entry_hash(a->stamp.ts_ms, a->entry, a->len, &lo, &hi);
    for (uint32_t q = 0; q < e->n_reqs; q++) {
        sim_host_req *req = &e->reqs[q];
        if (why != LD_HOST_END_APPLIED) {
            reply_not_primary(r, req->client, req->req_id);
            host_req_free(req);
            continue;
        }
        sim_msg *m = reply_new(r, req->client, req->req_id, SIM_REPLY_OK);
        m->op_number = f->op;
        m->n_ops = req->n_ops;
        for (uint32_t i = 0; i < req->n_ops; i++) {
            uint32_t pos = e->first_op_index[q] + i;
            m->results[i] = sim_res_from(&a->results[pos], a->ops[pos].type);
        }
        m->first_pos = e->first_op_index[q];
        m->ack_view = f->view;
        m->hash_lo = lo;
        m->hash_hi = hi;
        reply_queue(r, m);
        host_req_free(req);
    }
    e->n_reqs = 0;
}

static void
host_events(void *arg, bool ready)
{
    (void)arg;
    (void)ready; /* the simulated clients do not subscribe */
}

/* After the turn's write: the replies leave (the host core sent the peer messages). */
static void
host_release(void *arg, int64_t ts, int64_t now)
{
    (void)ts;
    (void)now;
    sim_replica *r = arg;
    sim_world *w = r->w;
    /* Effects left: the applies they stem from are facts for the checks from here on (with 3 or
     * 5 replicas an early release follows an unsynced write; its applies are of committed
     * entries, which a crash only makes the replica apply again). */
    sim_check_step_durable(w);
    r->replied_in_step = r->replied_in_step || r->replies_len > 0;
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

static void
host_role(void *arg, ld_host_role what, const ld_repl_state *st)
{
    (void)arg;
    (void)what;
    (void)st; /* logged after the step (log_status_change) */
}

static void
host_corrupt(void *arg, uint64_t op, const char *why)
{
    sim_replica *r = arg;
    const char *check = strstr(why, "out of order") != NULL ? "S1"
                        : strstr(why, "checkpoint") != NULL ? "S6"
                                                            : "S4";
    sim_fail(r->w, check, "r%u: committed entry %" PRIu64 ": %s", r->index, op, why);
}

static const ld_host_io sim_host_io = {
    .write = host_write,
    .pending = host_pending,
    .snapshot = host_snapshot,
    .install = host_install,
    .recv = host_recv,
    .send = host_send,
    .random = host_random,
    .take = host_take,
    .applied = host_applied,
    .flight_end = host_flight_end,
    .events = host_events,
    .release = host_release,
    .role = host_role,
    .corrupt = host_corrupt,
    .installed = host_installed,
};

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
    r->replies_len = 0;
    r->sent_in_step = false;
    r->replied_in_step = false;
    r->synced_in_step = false;
    r->crashed_in_write = false;
    r->installed_in_step = false;
    sim_check_step_begin(r->w);
}

/* Rebuilds the host from the durable disks: the core opens the state machine, then the replica
 * (which may apply entries during open). The caller finishes the step. */
static void
open_replica(sim_replica *r)
{
    sim_world *w = r->w;
    uint8_t nonce[16];
    for (int i = 0; i < 2; i++) {
        uint64_t x = sim_rng_next(&w->rng);
        memcpy(nonce + 8 * i, &x, 8);
    }
    ld_host_config hc = {.repl = r->cfg,
                         .batch_ops_max = LD_SIM_BATCH_OPS_MAX,
                         .entry_bytes_max = LD_PEER_ENTRY_BYTES_MAX,
                         .tick = true,
                         .config_epoch = SIM_CONFIG_EPOCH};
    const char *what = "";
    r->snap_op = 0;
    ld_err err = ld_host_open(&hc, &r->sm_store, &r->log_store, &r->io, nonce, sim_mono(r, w->t),
                              &r->host, &what);
    if (err != LD_OK) {
        r->host = NULL;
        r->repl = NULL;
        r->sm = NULL;
        sim_fail(w, "S3", "r%u: reopening from the durable disk failed: %s (%s)", r->index, what,
                 ld_err_name(err));
        return;
    }
    r->repl = ld_host_repl(r->host);
    r->sm = ld_host_sm(r->host);
    /* What its disk holds: the re-applies of the open (if any) are made durable by the flush that
     * follows, which sets snap_op again. */
    r->snap_op = ld_sm_applied_op(r->sm);
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
    r->io = sim_host_io;
    r->io.arg = r;
    r->replies = calloc(LD_SIM_OUTBOX_MAX, sizeof *r->replies);
    r->flights = calloc(LD_HOST_FLIGHTS, sizeof *r->flights);
    LD_ASSERT(r->replies != NULL && r->flights != NULL);
    r->mono0 = sim_rng_range(&w->rng, 1000000, 1000000000);
    r->drift_ppm = (int32_t)sim_rng_range(&w->rng, -1000, 1000); /* rho = 1e-3 */
    r->wall_off = sim_rng_range(&w->rng, -2000, 2000);
    open_disks(r);
    ld_host_format(&r->log_store);
    ld_store_mem_sync(r->log_mem);
    r->seen_status = 0;
    step_begin(r);
    open_replica(r);
    r->up = r->host != NULL;
    if (r->up)
        LD_ASSERT(ld_host_flush(r->host));
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
    while (r->peer_q_len > 0) {
        sim_msg_free(r->peer_q[r->peer_q_head]);
        r->peer_q_head = (r->peer_q_head + 1) % LD_SIM_INBOX_MAX;
        r->peer_q_len--;
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
    for (uint32_t i = 0; r->flights != NULL && i < LD_HOST_FLIGHTS; i++) {
        for (uint32_t q = 0; q < r->flights[i].n_reqs; q++)
            host_req_free(&r->flights[i].reqs[q]);
        r->flights[i].n_reqs = 0;
    }
    for (uint32_t i = 0; i < r->take_pb_len; i++)
        ldpb__op__free_unpacked(r->take_pb[i], NULL);
    r->take_pb_len = 0;
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
        for (size_t i = 0; i < r->replies_len; i++)
            sim_msg_free(r->replies[i]);
        r->replies_len = 0;
        if (r->prev_sm_mem != NULL) { /* the install of this step never happened */
            ld_store_mem_free(r->sm_mem);
            r->sm_mem = r->prev_sm_mem;
            r->sm_store = ld_store_mem_store(r->sm_mem);
            r->snap_op = r->prev_snap_op;
            r->prev_sm_mem = NULL;
        }
    }
    ld_store_mem_crash(r->log_mem);
    ld_store_mem_crash(r->sm_mem);
    if (r->host != NULL) {
        ld_repl_stats s;
        ld_repl_stats_get(r->repl, &s); /* in memory only: keep them for the summary */
        w->stats.view_changes += s.view_changes;
        w->stats.state_transfers += s.state_transfers;
        w->stats.repairs += s.repairs;
        ld_host_free(r->host);
    }
    r->host = NULL;
    r->repl = NULL;
    r->sm = NULL;
    drop_host_state(r);
    drop_inbox(r, SIM_LOSE_DOWN);
    r->up = false;
    r->paused = false;
    r->crash_arm = SIM_CRASH_NONE;
    r->seen_status = 0;
    r->crashes++;
}

void
sim_replica_restart(sim_replica *r)
{
    sim_world *w = r->w;
    LD_ASSERT(!r->up);
    step_begin(r);
    open_replica(r);
    if (r->host == NULL)
        return; /* failed: reported */
    r->up = true;
    r->restarts++;
    LD_ASSERT(ld_host_flush(r->host)); /* no crash is armed while down */
    ld_repl_state st;
    ld_repl_state_get(r->repl, &st);
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
    if (r->host != NULL)
        ld_host_free(r->host);
    if (r->prev_sm_mem != NULL)
        ld_store_mem_free(r->prev_sm_mem);
    drop_host_state(r);
    drop_inbox(r, SIM_LOSE_DOWN);
    if (r->log_mem != NULL)
        ld_store_mem_free(r->log_mem);
    if (r->sm_mem != NULL)
        ld_store_mem_free(r->sm_mem);
    free(r->replies);
    free(r->flights);
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

/* ---- client requests ------------------------------------------------------------------------ */

static void
serve_read(sim_replica *r, const sim_msg *req, int64_t now)
{
    sim_world *w = r->w;
    if (!ld_host_can_read(r->host, now)) {
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
    if (!ld_host_state(r->host)->primary) {
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

/* The inbox, in arrival order: client requests are queued (or answered), peer messages wait for
 * the core (io->recv) in their own queue. */
static void
take_inbox(sim_replica *r, int64_t now)
{
    while (r->inbox_len > 0 && !r->w->failed) {
        sim_msg *m = r->inbox[r->inbox_head];
        r->inbox_head = (r->inbox_head + 1) % LD_SIM_INBOX_MAX;
        r->inbox_len--;
        if (m->type == SIM_MSG_PEER) {
            LD_ASSERT(r->peer_q_len < LD_SIM_INBOX_MAX);
            r->peer_q[(r->peer_q_head + r->peer_q_len) % LD_SIM_INBOX_MAX] = m;
            r->peer_q_len++;
            continue;
        }
        on_request(r, m, now);
        sim_msg_free(m);
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
    LD_ASSERT(r->up && !r->paused && r->host != NULL);
    int64_t now = sim_mono(r, w->t);
    step_begin(r);
    take_inbox(r, now);
    ld_host_stats before;
    ld_host_stats_get(r->host, &before);
    bool ok = w->failed || ld_host_turn(r->host, now, sim_wall(r, w->t));
    for (uint32_t i = 0; i < r->take_pb_len; i++)
        ldpb__op__free_unpacked(r->take_pb[i], NULL);
    r->take_pb_len = 0;
    if (!ok) { /* the crash armed before the sync hit the turn's synced write */
        LD_ASSERT(r->crashed_in_write);
        sim_replica_crash(r, true);
        r->restart_at = w->t + sim_rng_range(&w->rng, 20, 1500);
        return;
    }
    ld_host_stats after;
    ld_host_stats_get(r->host, &after);
    if (after.lost_sends != before.lost_sends)
        sim_fail(w, "limit", "r%u: a turn lost %" PRIu64 " peer message(s) (outbox full)", r->index,
                 after.lost_sends - before.lost_sends);
    /* A crash armed after the sync hits the first step that wrote or sent something (or its
     * deadline); one armed before it that found no synced write, at its deadline. */
    bool something = r->synced_in_step || r->sent_in_step || r->replied_in_step;
    bool due = w->t >= r->crash_arm_until;
    bool crash_after = r->crash_arm == SIM_CRASH_AFTER_SYNC && (something || due);
    bool crash_before = r->crash_arm == SIM_CRASH_BEFORE_SYNC && due;
    if (crash_after || crash_before) {
        sim_replica_crash(r, crash_before);
        r->restart_at = w->t + sim_rng_range(&w->rng, 20, 1500);
        return;
    }
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
    if (r->pending_len > 0 && ld_host_can_prepare(r->host))
        next = w->t + 1;
    if (next <= w->t)
        next = w->t + 1;
    r->wake_at = next;
}
