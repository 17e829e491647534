/*
 * host.c -- the replica host core: the replica's host table, the sync decision, the outbox,
 * flights and roles (host.h). The turn itself is in host_turn.c.
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "host_int.h"
#include "repl_codec.h"

/* ---- the replica's store: forwards to the caller's, decides the sync ------------------------ */

/* What must be durable before a turn's effects leave (REPLICATION.md §8): every record of the
 * replica (log entries and their deletion, view, log_view, the checkpoint anchor, the recovered
 * mark) except a meta record whose only change is commit_max. The state machine's records may
 * trail the log: recovery re-applies committed entries from it. */
static void
rstore_put(void *impl, const void *key, size_t key_len, const void *val, size_t val_len)
{
    ld_host *h = impl;
    bool meta = key_len == 1 && memcmp(key, LD_REPL_KEY_META, 1) == 0;
    if (!meta) {
        h->needs_sync = true;
    } else {
        bool commit_only = h->has_last_meta &&
                           ld_repl_meta_commit_only(h->last_meta, h->last_meta_len, val, val_len);
        if (!commit_only)
            h->needs_sync = true;
        h->has_last_meta = val_len <= sizeof h->last_meta;
        if (h->has_last_meta) {
            memcpy(h->last_meta, val, val_len);
            h->last_meta_len = val_len;
        }
    }
    h->repl_store->ops->put(h->repl_store->impl, key, key_len, val, val_len);
}

static void
rstore_del(void *impl, const void *key, size_t key_len)
{
    ld_host *h = impl;
    h->needs_sync = true;
    h->repl_store->ops->del(h->repl_store->impl, key, key_len);
}

static ld_err
rstore_scan(void *impl, const void *prefix, size_t prefix_len, ld_store_scan_cb cb, void *arg)
{
    ld_host *h = impl;
    return h->repl_store->ops->scan(h->repl_store->impl, prefix, prefix_len, cb, arg);
}

/* A read of the replica's records while it opens: the meta record it reads is the durable one,
 * the baseline of the first meta record it puts (a commit_max advance from it needs no sync). */
typedef struct rstore_open_read {
    ld_host *h;
    ld_store_scan_cb cb;
    void *arg;
} rstore_open_read;

static ld_err
rstore_open_read_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    rstore_open_read *rd = arg;
    ld_host *h = rd->h;
    if (key_len == 1 && memcmp(key, LD_REPL_KEY_META, 1) == 0 && val_len <= sizeof h->last_meta) {
        memcpy(h->last_meta, val, val_len);
        h->last_meta_len = val_len;
        h->has_last_meta = true;
    }
    return rd->cb(rd->arg, key, key_len, val, val_len);
}

static ld_err
rstore_seek(void *impl, const void *prefix, size_t prefix_len, const void *start, size_t start_len,
            bool reverse, ld_store_scan_cb cb, void *arg)
{
    ld_host *h = impl;
    if (h->opening) {
        rstore_open_read rd = {.h = h, .cb = cb, .arg = arg};
        return h->repl_store->ops->seek(h->repl_store->impl, prefix, prefix_len, start, start_len,
                                        reverse, rstore_open_read_cb, &rd);
    }
    return h->repl_store->ops->seek(h->repl_store->impl, prefix, prefix_len, start, start_len,
                                    reverse, cb, arg);
}

static ld_err
rstore_get(void *impl, const void *key, size_t key_len, ld_store_get_cb cb, void *arg,
           bool *found_out)
{
    ld_host *h = impl;
    return h->repl_store->ops->get(h->repl_store->impl, key, key_len, cb, arg, found_out);
}

static const ld_store_ops rstore_ops = {
    .put = rstore_put,
    .del = rstore_del,
    .scan = rstore_scan,
    .seek = rstore_seek,
    .get = rstore_get,
};

/* ---- host table: send ----------------------------------------------------------------------- */

static void
host_send(void *arg, uint32_t to, const ld_repl_msg *msg, bool early)
{
    ld_host *h = arg;
    LD_ASSERT(to < h->cfg.repl.replica_count);
    LD_ASSERT(to != h->cfg.repl.replica);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (ld_repl_msg_pack(msg, h->cfg.config_epoch, &buf, &len) != LD_OK) {
        h->stats.lost_sends++;
        return;
    }
    ld_host_sent sent = {.to = to,
                         .kind = msg->kind,
                         .view = msg->view,
                         .op = msg->kind == LD_REPL_PREPARE ? msg->entry.op : msg->op,
                         .commit = msg->commit};
    if (early) { /* only the planted bug LD_PLANT_BUG_ACK_EARLY asks for this */
        h->io.send(h->io.arg, &sent, buf, len);
        return;
    }
    if (h->n_out == LD_HOST_OUTBOX_MAX) {
        h->stats.lost_sends++; /* a lost message: the protocol resends what matters */
        free(buf);
        return;
    }
    h->outbox[h->n_out++] = (ldi_host_out){.sent = sent, .buf = buf, .len = len};
}

void
ldi_host_send_outbox(ld_host *h)
{
    for (uint32_t i = 0; i < h->n_out; i++) {
        ldi_host_out *o = &h->outbox[i];
        h->io.send(h->io.arg, &o->sent, o->buf, o->len);
        o->buf = NULL;
    }
    h->n_out = 0;
}

static void
outbox_drop(ld_host *h)
{
    for (uint32_t i = 0; i < h->n_out; i++)
        free(h->outbox[i].buf);
    h->n_out = 0;
}

/* ---- host table: apply ---------------------------------------------------------------------- */

/* Decodes committed entry `op` into h->apply_ops; false (reported) when it does not decode. */
static bool
decode_entry(ld_host *h, uint64_t op, int64_t ts, const uint8_t *entry, uint32_t len, size_t *n_out,
             ld_id *seed_out)
{
    Ldpb__LogEntry *pb = ldpb__log_entry__unpack(NULL, len, entry);
    const char *why = NULL;
    if (pb == NULL)
        why = "not a LogEntry";
    else if (pb->op != op || pb->timestamp_ms != ts)
        why = "its op or timestamp differ from its header";
    else if (pb->n_ops == 0 || pb->n_ops > h->cfg.batch_ops_max)
        why = "op count out of range";
    else if (pb->id_seed.len != LD_ID_BYTES)
        why = "id seed of the wrong size";
    for (size_t i = 0; why == NULL && i < pb->n_ops; i++) {
        if (ld_codec_op_from_pb(pb->ops[i], false, &h->apply_ops[i], &h->results[i]) != LD_OK ||
            !ld_op_is_write(h->apply_ops[i].type))
            why = "an op does not decode as a write";
    }
    if (why == NULL) {
        memcpy(seed_out->bytes, pb->id_seed.data, LD_ID_BYTES);
        *n_out = pb->n_ops;
    }
    if (pb != NULL)
        ldpb__log_entry__free_unpacked(pb, NULL);
    if (why != NULL)
        h->io.corrupt(h->io.arg, op, why);
    return why == NULL;
}

static void
host_apply(void *arg, uint64_t op, int64_t ts, const uint8_t *entry, uint32_t len)
{
    ld_host *h = arg;
    if (op != ld_sm_applied_op(h->sm) + 1 || ts < ld_sm_last_ts(h->sm)) {
        h->io.corrupt(h->io.arg, op, "handed to apply out of order (op or timestamp)");
        return;
    }
    ld_host_flight *f = &h->flights[op % LD_HOST_FLIGHTS];
    if (!f->used || f->op != op)
        f = NULL;
    ld_host_applied a = {.stamp = {.op = op, .ts_ms = ts}, .entry = entry, .len = len};
    if (f != NULL && f == h->building) {
        /* The entry this turn is preparing (one replica): applied from the ops as taken. */
        a.stamp.id_seed = h->seed;
        a.ops = h->batch_ops;
        a.n = h->batch_n;
    } else {
        size_t n = 0;
        if (!decode_entry(h, op, ts, entry, len, &n, &a.stamp.id_seed))
            return;
        a.ops = h->apply_ops;
        a.n = n;
    }
    ld_sm_apply(h->sm, &a.stamp, a.ops, a.n, h->results);
    a.results = h->results;
    h->stats.batches++;
    h->stats.batch_ops += a.n;
    h->io.applied(h->io.arg, &a);
    if (!h->opening) {
        if (h->cfg.repl.replica_count > 1)
            h->io.events(h->io.arg, h->ready); /* durable on a quorum already */
        else
            h->events_due = true; /* durable only with this turn's sync */
    }
    if (f == NULL)
        return; /* a backup's apply, or an entry this replica did not prepare */
    ld_repl_state st;
    ld_repl_state_get(h->repl, &st);
    if (!st.primary || st.view != f->view)
        return; /* the view changed inside this call: ldi_host_observe() ends f */
    LD_ASSERT(f->n == a.n);
    f->used = false;
    h->resolved++;
    h->io.flight_end(h->io.arg, f, LD_HOST_END_APPLIED, &a, LD_OK);
}

/* ---- host table: state transfer ------------------------------------------------------------- */

static ld_err
host_snapshot(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out)
{
    ld_host *h = arg;
    return h->io.snapshot(h->io.arg, buf_out, len_out, op_out);
}

static ld_err
host_install(void *arg, const uint8_t *buf, size_t len, uint64_t op)
{
    ld_host *h = arg;
    const ld_store *store = NULL;
    if (h->io.install(h->io.arg, buf, len, &store) != LD_OK)
        return LD_ERR_STORAGE;
    LD_ASSERT(store != NULL);
    ld_sm *sm = NULL;
    ld_err err = ld_sm_open(store, &sm);
    if (err != LD_OK || ld_sm_applied_op(sm) != op) {
        h->io.corrupt(h->io.arg, op, "an installed checkpoint does not open at its op");
        if (sm != NULL)
            ld_sm_free(sm);
        return LD_ERR_STORAGE;
    }
    ld_sm_check(sm);
    ld_sm_free(h->sm);
    h->sm = sm;
    h->sm_store = store;
    h->written_op = op;
    h->events_due = false;
    h->io.installed(h->io.arg, op, len);
    return LD_OK;
}

/* ---- flights and roles ---------------------------------------------------------------------- */

void
ldi_host_end_flight(ld_host *h, ld_host_flight *f, ld_host_end why, ld_err err)
{
    LD_ASSERT(f->used);
    LD_ASSERT(why != LD_HOST_END_APPLIED);
    f->used = false;
    h->io.flight_end(h->io.arg, f, why, NULL, err);
}

void
ldi_host_observe(ld_host *h)
{
    ld_repl_state st;
    ld_repl_state_get(h->repl, &st);
    bool was_primary = h->rs_valid && h->rs.primary;
    bool changed = !h->rs_valid || st.view != h->rs.view || st.status != h->rs.status ||
                   st.primary != h->rs.primary;
    bool lost = false;
    if (changed) {
        lost = was_primary && (!st.primary || st.view != h->rs.view);
        if (st.primary && (!was_primary || st.view != h->rs.view)) {
            h->ready = false;
            h->ready_op = st.op;
        }
        if (lost)
            h->ready = false;
    }
    h->rs = st;
    h->rs_valid = true;
    if (changed)
        h->io.role(h->io.arg, LD_HOST_ROLE_CHANGED, &st);
    if (lost)
        h->io.role(h->io.arg, LD_HOST_ROLE_LOST, &st);
    for (uint32_t i = 0; i < LD_HOST_FLIGHTS; i++) {
        ld_host_flight *f = &h->flights[i];
        if (f->used && f != h->building && (f->view != st.view || !st.primary))
            ldi_host_end_flight(h, f, LD_HOST_END_LEFT_VIEW, LD_ERR_NOT_PRIMARY);
    }
    if (st.primary && !h->ready && st.commit_min >= h->ready_op && !h->opening) {
        h->ready = true;
        h->io.role(h->io.arg, LD_HOST_ROLE_READY, &st);
    }
}

void
ld_host_forget(ld_host *h)
{
    LD_ASSERT(h->building == NULL);
    for (uint32_t i = 0; i < LD_HOST_FLIGHTS; i++)
        if (h->flights[i].used)
            ldi_host_end_flight(h, &h->flights[i], LD_HOST_END_LEFT_VIEW, LD_ERR_SHUTTING_DOWN);
}

/* ---- life ----------------------------------------------------------------------------------- */

void
ld_host_format(const ld_store *repl_store)
{
    ld_repl_format(repl_store);
}

static void
host_alloc(ld_host *h)
{
    uint32_t n = h->cfg.batch_ops_max;
    h->batch_ops = calloc(n, sizeof *h->batch_ops);
    h->batch_pb = calloc(n, sizeof *h->batch_pb);
    h->apply_ops = calloc(n, sizeof *h->apply_ops);
    h->results = calloc(n, sizeof *h->results);
    LD_ASSERT(h->batch_ops != NULL && h->batch_pb != NULL);
    LD_ASSERT(h->apply_ops != NULL && h->results != NULL);
    for (uint32_t i = 0; i < LD_HOST_FLIGHTS; i++) {
        h->flights[i].index = i;
        h->flights[i].src = calloc(n, sizeof *h->flights[i].src);
        LD_ASSERT(h->flights[i].src != NULL);
    }
}

ld_err
ld_host_open(const ld_host_config *cfg, const ld_store *sm_store, const ld_store *repl_store,
             const ld_host_io *io, const uint8_t nonce[16], int64_t now, ld_host **out,
             const char **what_out)
{
    LD_ASSERT(cfg != NULL && io != NULL);
    LD_ASSERT(cfg->batch_ops_max >= 2 && cfg->batch_ops_max <= LD_BATCH_OPS_MAX);
    LD_ASSERT(cfg->entry_bytes_max > 0 && cfg->entry_bytes_max <= LD_PEER_ENTRY_BYTES_MAX);
    *out = NULL;
    ld_host *h = calloc(1, sizeof *h);
    if (h == NULL)
        return LD_ERR_NOMEM;
    h->cfg = *cfg;
    h->io = *io;
    h->sm_store = sm_store;
    h->repl_store = repl_store;
    h->repl_wrap = (ld_store){.ops = &rstore_ops, .impl = h};
    h->repl_host = (ld_repl_host){.arg = h,
                                  .send = host_send,
                                  .apply = host_apply,
                                  .snapshot = host_snapshot,
                                  .install = host_install};
    host_alloc(h);
    ld_err err = ld_sm_open(sm_store, &h->sm);
    if (err != LD_OK) {
        *what_out = "the state machine does not open from its records";
        ld_host_free(h);
        return err;
    }
    *out = h; /* the re-applies of the open may query the host */
    h->opening = true;
    err = ld_repl_open(&h->cfg.repl, &h->repl_wrap, &h->repl_host, ld_sm_applied_op(h->sm), nonce,
                       now, &h->repl);
    h->opening = false;
    if (err != LD_OK) {
        *what_out = "the replica does not open from its records";
        *out = NULL;
        ld_host_free(h);
        return err;
    }
    h->written_op = ld_sm_applied_op(h->sm);
    ldi_host_observe(h);
    return LD_OK;
}

void
ld_host_free(ld_host *h)
{
    if (h == NULL)
        return;
    if (h->repl != NULL)
        ld_repl_free(h->repl);
    if (h->sm != NULL)
        ld_sm_free(h->sm);
    outbox_drop(h);
    for (uint32_t i = 0; i < LD_HOST_FLIGHTS; i++)
        free(h->flights[i].src);
    free(h->batch_ops);
    free(h->batch_pb);
    free(h->apply_ops);
    free(h->results);
    free(h->log_buf);
    free(h);
}

/* ---- queries -------------------------------------------------------------------------------- */

ld_sm *
ld_host_sm(const ld_host *h)
{
    return h->sm;
}

ld_repl *
ld_host_repl(const ld_host *h)
{
    return h->repl;
}

const ld_repl_state *
ld_host_state(const ld_host *h)
{
    return &h->rs;
}

bool
ld_host_ready(const ld_host *h)
{
    return h->ready;
}

bool
ld_host_can_read(const ld_host *h, int64_t now)
{
    if (h->cfg.repl.replica_count == 1)
        return h->rs.primary;
    return ld_repl_can_read(h->repl, now);
}

bool
ld_host_can_prepare(const ld_host *h)
{
    return h->rs.primary && ld_repl_can_prepare(h->repl) &&
           !h->flights[ld_repl_next_op(h->repl) % LD_HOST_FLIGHTS].used;
}

uint32_t
ld_host_outbox_len(const ld_host *h)
{
    return h->n_out;
}

uint64_t
ld_host_written_op(const ld_host *h)
{
    return h->written_op;
}

int64_t
ld_host_timestamp(const ld_host *h, int64_t wall_ms)
{
    int64_t last = ld_sm_last_ts(h->sm);
    /* Only a primary forms entries: the floor of its log's head matters there, and a recovering
     * replica may not hold its head's header at all. */
    if (h->rs.primary && ld_repl_head_timestamp(h->repl) > last)
        last = ld_repl_head_timestamp(h->repl);
    return wall_ms > last ? wall_ms : last;
}

void
ld_host_stats_get(const ld_host *h, ld_host_stats *out)
{
    *out = h->stats;
}
