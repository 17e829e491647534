/*
 * host_turn.c -- one loop turn of the replica host core (host.h): the replica's step, the early
 * release, the entry, the one write and the release after it.
 *
 * The planted bug LD_PLANT_BUG_RELEASE_EARLY (shard/host/CMakeLists.txt, tests/sim/planted.sh)
 * breaks the host rule here: the turn's effects leave before its write.
 */
#include <stdlib.h>
#include <string.h>

#include "host_int.h"

/* ---- the write and the release -------------------------------------------------------------- */

/* Writes what the calls so far put: with sync when any of it must be durable before their
 * effects leave (log records, view, log_view, the anchor...), and always with one replica (its
 * replies need the apply durable). With 3 or 5 replicas a write of applied state and commit_max
 * only goes unsynced (REPLICATION.md §8: an acknowledged entry is durable on a quorum of logs; a
 * replica that loses the write re-applies from its log and relearns commit from the primary).
 * False: the caller's write failed (its host is gone). */
static bool
host_write(ld_host *h, bool held)
{
    if (h->io.pending(h->io.arg) == 0) {
        /* Nothing pending: what the calls put was written already (an install writes the pending
         * write with sync itself before it reopens the state machine). */
        h->needs_sync = false;
        return true;
    }
    bool sync = h->needs_sync || h->cfg.repl.replica_count == 1;
    if (!h->io.write(h->io.arg, sync, held && sync))
        return false;
    h->stats.writes++;
    if (sync) {
        h->stats.fsyncs++;
        if (!h->needs_sync)
            h->stats.fsyncs_needless++;
        if (held)
            h->stats.commit_held++;
    } else {
        h->stats.writes_nosync++;
    }
    h->needs_sync = false;
    h->written_op = ld_sm_applied_op(h->sm);
    return true;
}

/* Everything the calls so far put is written, and durable where it must be: their effects go
 * out -- peer messages, the events of applies that waited for the sync, then the caller's. */
static void
host_release(ld_host *h, int64_t ts, int64_t now)
{
    ldi_host_send_outbox(h);
    if (h->events_due) {
        h->events_due = false;
        h->io.events(h->io.arg, h->ready);
    }
    h->io.release(h->io.arg, ts, now);
}

/* The write, then the release (the host rule of repl.h). */
static bool
host_commit(ld_host *h, int64_t ts, int64_t now, bool held)
{
#ifdef LD_PLANT_BUG_RELEASE_EARLY
    /* PLANTED BUG: the effects leave before the write that makes their cause durable. */
    host_release(h, ts, now);
    return host_write(h, held);
#else
    if (!host_write(h, held))
        return false;
    host_release(h, ts, now);
    return true;
#endif
}

bool
ld_host_flush(ld_host *h)
{
    LD_ASSERT(h->building == NULL);
    h->needs_sync = h->needs_sync || h->io.pending(h->io.arg) > 0;
    if (!host_write(h, false))
        return false;
    ldi_host_send_outbox(h);
    ldi_host_observe(h);
    return true;
}

/* ---- step 1: the replica -------------------------------------------------------------------- */

static void
host_step_replica(ld_host *h, int64_t now)
{
    while (h->io.recv(h->io.arg, &h->in)) {
        ld_repl_on_message(h->repl, &h->in.msg, now);
        ld_repl_msg_buf_done(&h->in);
        ldi_host_observe(h);
    }
    if (ld_repl_next_deadline(h->repl) <= now) {
        ld_repl_on_tick(h->repl, now);
        ldi_host_observe(h);
    }
}

/* ---- step 3: the entry ---------------------------------------------------------------------- */

void
ld_host_add(ld_host *h, const Ldpb__Op *pb, const ld_op *op, ld_host_src src)
{
    LD_ASSERT(h->building != NULL);
    LD_ASSERT(h->batch_n < h->cfg.batch_ops_max);
    LD_ASSERT(pb != NULL && op != NULL);
    LD_ASSERT(ld_op_is_write(op->type));
    h->batch_ops[h->batch_n] = *op;
    h->batch_pb[h->batch_n] = (Ldpb__Op *)pb;
    h->building->src[h->batch_n] = src;
    h->batch_n++;
}

uint32_t
ld_host_room(const ld_host *h)
{
    if (h->building == NULL)
        return 0;
    LD_ASSERT(h->batch_n < h->cfg.batch_ops_max);
    return h->cfg.batch_ops_max - 1 - h->batch_n; /* one kept for the TICK */
}

const ld_host_flight *
ld_host_building(const ld_host *h)
{
    return h->building;
}

/* A TICK when something is due: expiries, forgotten keys, drop boundaries, event trims. */
static void
host_add_tick(ld_host *h, int64_t ts)
{
    if (!h->cfg.tick || ld_sm_next_deadline_ms(h->sm) > ts)
        return;
    LD_ASSERT(h->batch_n < h->cfg.batch_ops_max);
    ld_op *op = &h->batch_ops[h->batch_n];
    memset(op, 0, sizeof *op);
    op->type = LD_OP_TICK;
    ld_codec_op_to_pb(op, &h->tick_pb, &h->tick_scratch);
    h->batch_pb[h->batch_n] = &h->tick_pb;
    h->building->src[h->batch_n] = (ld_host_src){.kind = LD_HOST_SRC_TICK};
    h->batch_n++;
}

/* Packs the entry as log entry `op` into log_buf, with a fresh id seed; returns its length. */
static size_t
host_pack(ld_host *h, uint64_t op, int64_t ts)
{
    /* The id seed is drawn here, when the primary forms the entry, never at apply time: every
     * replica applies the entry with the seed it carries. */
    h->io.random(h->io.arg, h->seed.bytes);
    Ldpb__LogEntry entry = LDPB__LOG_ENTRY__INIT;
    entry.op = op;
    entry.timestamp_ms = ts;
    entry.n_ops = h->batch_n;
    entry.ops = h->batch_pb;
    entry.id_seed.data = h->seed.bytes;
    entry.id_seed.len = sizeof h->seed.bytes;
    size_t len = ldpb__log_entry__get_packed_size(&entry);
    if (len > h->log_cap) {
        size_t cap = h->log_cap ? h->log_cap : 64 * 1024;
        while (cap < len)
            cap *= 2;
        uint8_t *buf = realloc(h->log_buf, cap);
        LD_ASSERT(buf != NULL);
        h->log_buf = buf;
        h->log_cap = cap;
    }
    size_t packed = ldpb__log_entry__pack(&entry, h->log_buf);
    LD_ASSERT(packed == len);
    return len;
}

/* Hands the entry to the replica as the next op. With one replica it is applied (and its flight
 * ended) before ld_repl_prepare() returns. */
static void
host_prepare(ld_host *h, int64_t ts, int64_t now)
{
    ld_host_flight *f = h->building;
    LD_ASSERT(f != NULL && !f->used);
    LD_ASSERT(h->batch_n > 0 && h->batch_n <= h->cfg.batch_ops_max);
    uint64_t op = ld_repl_next_op(h->repl);
    LD_ASSERT(f == &h->flights[op % LD_HOST_FLIGHTS]);
    size_t len = host_pack(h, op, ts);
    f->used = true;
    f->op = op;
    f->view = h->rs.view;
    f->n = h->batch_n;
    h->stats.prepared++;
    ld_err err = len > h->cfg.entry_bytes_max
                     ? LD_ERR_FRAME_TOO_LARGE
                     : ld_repl_prepare(h->repl, h->log_buf, (uint32_t)len, ts, now);
    h->building = NULL;
    if (err != LD_OK && f->used && f->op == op)
        ldi_host_end_flight(h, f, LD_HOST_END_REFUSED, err);
    h->batch_n = 0;
    ldi_host_observe(h);
}

/* ---- the turn ------------------------------------------------------------------------------- */

bool
ld_host_turn(ld_host *h, int64_t now, int64_t wall_ms)
{
    LD_ASSERT(h->building == NULL);
    LD_ASSERT(h->batch_n == 0);
    h->stats.turns++;
    h->resolved = 0;
    host_step_replica(h, now); /* peer messages and timeouts: may apply committed entries */
    int64_t ts = ld_host_timestamp(h, wall_ms);
    bool committed = h->cfg.repl.replica_count > 1 && h->resolved > 0;
    h->stats.commit_turns += committed;
    bool held = committed;
    if (h->cfg.repl.replica_count > 1 && !h->needs_sync) {
        /* The step put nothing that must be durable (typically PrepareOks that committed
         * entries: applied state and commit_max): its effects -- the committed requests'
         * answers above all -- go out now, not after this turn's prepare and its fsync. */
        if (!host_commit(h, ts, now, false))
            return false;
        held = false;
    }
    bool can_prepare = ld_host_can_prepare(h);
    if (can_prepare) {
        h->building = &h->flights[ld_repl_next_op(h->repl) % LD_HOST_FLIGHTS];
        h->building->n = 0;
    }
    h->io.take(h->io.arg, ts, now, can_prepare);
    if (can_prepare && h->ready)
        host_add_tick(h, ts);
    if (h->batch_n > 0)
        host_prepare(h, ts, now);
    h->building = NULL;
    h->batch_n = 0;
    return host_commit(h, ts, now, held);
}
