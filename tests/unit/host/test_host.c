/*
 * test_host.c -- the replica host core (shard/host/): the order of a turn's io calls (the write,
 * then the release), the sync decision (what must be durable before a turn's effects leave:
 * REPLICATION.md §8, ported from the node's former tests/unit/node/test_store_rocks_sync.c),
 * ld_repl_meta_commit_only, and the checkpoint stream (checkpoint.h).
 *
 * The fake io: every core has two in-memory stores (the state machine's and the replica's). A
 * synced write makes both durable; an unsynced one leaves them pending (lost by a crash, durable
 * with the next sync) but hands them over, as RocksDB's unsynced WriteBatch does: io->pending
 * counts only what was put since the last write (tests/sim/replica.c counts them until the sync,
 * which only adds unsynced writes). Peer messages go through the codec into the addressee's inbox
 * (replica 2 of 3 never runs: what is sent to it is dropped). Every io call of every core is
 * appended to one event log, in call order; the assertions look for messages by kind, since the
 * replica's own heartbeats (Commit) come and go with its timeouts.
 *
 * One test is white box (host_int.h): the sync rule record by record, which the replica alone
 * cannot be made to put in every combination.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "codec.h"
#include "host.h"
#include "host_int.h" /* the sync rule record by record (h->repl_wrap, h->needs_sync) */
#include "repl_codec.h"

#define WALL0 1700000000000LL /* entry timestamps, in 2023 */
#define NOW0 1000             /* monotonic ms at open */
#define CORES 3
#define EV_MAX 1024
#define INBOX_MAX 64
#define REQS_MAX 4
#define METAS_MAX 32
#define META_BYTES 65 /* shard/repl/repl_log.c, version 1 */

/* ---- the event log -------------------------------------------------------------------------- */

typedef enum ev_kind {
    EV_WRITE = 1, /* flag: sync; ok: what the write returned */
    EV_SEND,      /* to, peer: kind, op */
    EV_RECV,      /* peer: kind, op */
    EV_RANDOM,
    EV_TAKE, /* flag: can_prepare */
    EV_APPLIED,
    EV_FLIGHT_END, /* why, op, code (APPLIED: the first op's result) */
    EV_EVENTS,
    EV_RELEASE,
    EV_ROLE,
    EV_CORRUPT,
    EV_INSTALLED,
} ev_kind;

typedef struct ev {
    ev_kind kind;
    uint32_t core;
    bool flag;
    bool ok;
    uint32_t to;
    ld_repl_kind peer;
    uint64_t op;
    ld_host_end why;
    ld_err code;
} ev;

typedef struct world world;

typedef struct core {
    world *w;
    uint32_t index;
    bool up;
    ld_store_mem *sm_mem;
    ld_store_mem *log_mem;
    ld_store sm_store;
    ld_store log_raw;   /* the replica's memory store... */
    ld_store log_store; /* ...behind a wrapper that records every meta record put */
    ld_host_io io;
    ld_host *host;
    size_t handed; /* pending records an unsynced write already handed over */
    bool crash;    /* the next write fails */
    /* peer frames delivered to this core, not yet received */
    uint8_t *inbox[INBOX_MAX];
    size_t inbox_len[INBOX_MAX];
    uint32_t inbox_head, inbox_n;
    /* client write ops queued for io->take (the pb point into the op and its scratch) */
    ld_op req_op[REQS_MAX];
    Ldpb__Op req_pb[REQS_MAX];
    ld_codec_op_scratch req_scratch[REQS_MAX];
    uint32_t reqs, taken;
    /* the last id seed io->random gave, and what the last apply and flight end carried */
    uint32_t randoms;
    ld_id random;
    ld_id applied_seed;
    ld_result applied_result;
    ld_id end_seed;       /* a->stamp.id_seed */
    ld_id end_entry_seed; /* the id seed packed in the LogEntry itself */
    ld_result end_result;
    /* every meta record the replica put, in order */
    uint8_t meta[METAS_MAX][128];
    size_t meta_len[METAS_MAX];
    uint32_t metas;
} core;

struct world {
    uint32_t n;
    core cores[CORES];
    ev log[EV_MAX];
    uint32_t n_ev;
};

static world W; /* criterion runs each test in its own process */

static void
ev_add(core *c, ev e)
{
    cr_assert_lt(c->w->n_ev, EV_MAX, "event log full");
    e.core = c->index;
    c->w->log[c->w->n_ev++] = e;
}

/* Index of the first event of `kind` by core `ci` at or after `from`; -1 when none. */
static int
ev_find(uint32_t from, uint32_t ci, ev_kind kind)
{
    for (uint32_t i = from; i < W.n_ev; i++)
        if (W.log[i].core == ci && W.log[i].kind == kind)
            return (int)i;
    return -1;
}

/* Index of the first send or receipt (`kind`) of a `peer` message by core `ci` at or after
 * `from`; -1 when none. */
static int
ev_find_msg(uint32_t from, uint32_t ci, ev_kind kind, ld_repl_kind peer)
{
    for (uint32_t i = from; i < W.n_ev; i++)
        if (W.log[i].core == ci && W.log[i].kind == kind && W.log[i].peer == peer)
            return (int)i;
    return -1;
}

static uint32_t
ev_count_sends(uint32_t from, uint32_t ci, ld_repl_kind peer)
{
    uint32_t n = 0;
    for (uint32_t i = from; i < W.n_ev; i++)
        n += W.log[i].core == ci && W.log[i].kind == EV_SEND && W.log[i].peer == peer;
    return n;
}

static uint32_t
ev_count(uint32_t from, uint32_t ci, ev_kind kind)
{
    uint32_t n = 0;
    for (uint32_t i = from; i < W.n_ev; i++)
        n += W.log[i].core == ci && W.log[i].kind == kind;
    return n;
}

/* ---- the recording store: the replica's records, forwarded; meta records copied ------------- */

static void
rec_put(void *impl, const void *key, size_t key_len, const void *val, size_t val_len)
{
    core *c = impl;
    if (key_len == 1 && memcmp(key, LD_REPL_KEY_META, 1) == 0 && c->metas < METAS_MAX &&
        val_len <= sizeof c->meta[0]) {
        memcpy(c->meta[c->metas], val, val_len);
        c->meta_len[c->metas++] = val_len;
    }
    c->log_raw.ops->put(c->log_raw.impl, key, key_len, val, val_len);
}

static void
rec_del(void *impl, const void *key, size_t key_len)
{
    core *c = impl;
    c->log_raw.ops->del(c->log_raw.impl, key, key_len);
}

static ld_err
rec_scan(void *impl, const void *prefix, size_t prefix_len, ld_store_scan_cb cb, void *arg)
{
    core *c = impl;
    return c->log_raw.ops->scan(c->log_raw.impl, prefix, prefix_len, cb, arg);
}

static ld_err
rec_seek(void *impl, const void *prefix, size_t prefix_len, const void *start, size_t start_len,
         bool reverse, ld_store_scan_cb cb, void *arg)
{
    core *c = impl;
    return c->log_raw.ops->seek(c->log_raw.impl, prefix, prefix_len, start, start_len, reverse, cb,
                                arg);
}

static ld_err
rec_get(void *impl, const void *key, size_t key_len, ld_store_get_cb cb, void *arg, bool *found_out)
{
    core *c = impl;
    return c->log_raw.ops->get(c->log_raw.impl, key, key_len, cb, arg, found_out);
}

static const ld_store_ops rec_ops = {
    .put = rec_put, .del = rec_del, .scan = rec_scan, .seek = rec_seek, .get = rec_get};

/* ---- the fake io ---------------------------------------------------------------------------- */

static size_t
fake_pending_all(core *c)
{
    return ld_store_mem_pending(c->log_mem) + ld_store_mem_pending(c->sm_mem);
}

static bool
fake_write(void *arg, bool sync, bool held)
{
    (void)held;
    core *c = arg;
    ev_add(c, (ev){.kind = EV_WRITE, .flag = sync, .ok = !c->crash});
    if (c->crash)
        return false;
    if (sync) {
        ld_store_mem_sync(c->log_mem);
        ld_store_mem_sync(c->sm_mem);
        c->handed = 0;
    } else {
        c->handed = fake_pending_all(c);
    }
    return true;
}

static uint32_t
fake_pending(void *arg)
{
    core *c = arg;
    return (uint32_t)(fake_pending_all(c) - c->handed);
}

static ld_err
fake_snapshot(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out)
{
    core *c = arg;
    *op_out = ld_host_written_op(c->host);
    return ld_checkpoint_from_store(&c->sm_store, LD_PEER_STATE_BYTES_MAX, buf_out, len_out);
}

static ld_err
fake_install(void *arg, const uint8_t *buf, size_t len, const ld_store **store_out)
{
    (void)arg;
    (void)buf;
    (void)len;
    (void)store_out;
    cr_assert_fail("no state transfer in these tests");
    return LD_ERR_STORAGE;
}

static bool
fake_recv(void *arg, ld_repl_msg_buf *buf)
{
    core *c = arg;
    if (c->inbox_n == 0)
        return false;
    uint8_t *frame = c->inbox[c->inbox_head];
    size_t len = c->inbox_len[c->inbox_head];
    c->inbox_head = (c->inbox_head + 1) % INBOX_MAX;
    c->inbox_n--;
    ld_err err = ld_repl_msg_unpack(frame, len, buf);
    free(frame);
    cr_assert_eq(err, LD_OK, "a frame the core packed does not unpack: %s", ld_err_name(err));
    uint64_t op = buf->msg.kind == LD_REPL_PREPARE ? buf->msg.entry.op : buf->msg.op;
    ev_add(c, (ev){.kind = EV_RECV, .peer = buf->msg.kind, .op = op});
    return true;
}

static void
fake_send(void *arg, const ld_host_sent *sent, uint8_t *buf, size_t len)
{
    core *c = arg;
    cr_assert_lt(sent->to, c->w->n);
    cr_assert_neq(sent->to, c->index);
    ev_add(c, (ev){.kind = EV_SEND, .to = sent->to, .peer = sent->kind, .op = sent->op});
    core *to = &c->w->cores[sent->to];
    if (!to->up || to->inbox_n == INBOX_MAX) { /* replica 2 never answers */
        free(buf);
        return;
    }
    uint32_t at = (to->inbox_head + to->inbox_n++) % INBOX_MAX;
    to->inbox[at] = buf;
    to->inbox_len[at] = len;
}

static void
fake_random(void *arg, uint8_t out[LD_ID_BYTES])
{
    core *c = arg;
    c->randoms++;
    for (uint32_t i = 0; i < LD_ID_BYTES; i++)
        out[i] = (uint8_t)(0x40 + 16 * c->index + 3 * c->randoms + i);
    memcpy(c->random.bytes, out, LD_ID_BYTES);
    ev_add(c, (ev){.kind = EV_RANDOM});
}

static void
fake_take(void *arg, int64_t ts, int64_t now, bool can_prepare)
{
    (void)ts;
    (void)now;
    core *c = arg;
    ev_add(c, (ev){.kind = EV_TAKE, .flag = can_prepare});
    if (!can_prepare)
        return;
    while (c->taken < c->reqs && ld_host_room(c->host) > 0) {
        uint32_t i = c->taken++;
        ld_host_add(c->host, &c->req_pb[i], &c->req_op[i], (ld_host_src){.kind = 1, .a = i});
    }
}

static void
fake_applied(void *arg, const ld_host_applied *a)
{
    core *c = arg;
    cr_assert_gt(a->n, 0);
    c->applied_seed = a->stamp.id_seed;
    c->applied_result = a->results[0];
    ev_add(c, (ev){.kind = EV_APPLIED, .op = a->stamp.op, .code = a->results[0].code});
}

static void
fake_flight_end(void *arg, const ld_host_flight *f, ld_host_end why, const ld_host_applied *a,
                ld_err err)
{
    core *c = arg;
    ev e = {.kind = EV_FLIGHT_END, .op = f->op, .why = why, .code = err};
    if (why == LD_HOST_END_APPLIED) {
        cr_assert_not_null(a);
        cr_assert_eq(a->n, f->n);
        e.code = a->results[0].code;
        c->end_seed = a->stamp.id_seed;
        c->end_result = a->results[0];
        Ldpb__LogEntry *le = ldpb__log_entry__unpack(NULL, a->len, a->entry);
        cr_assert_not_null(le);
        cr_assert_eq(le->id_seed.len, LD_ID_BYTES);
        memcpy(c->end_entry_seed.bytes, le->id_seed.data, LD_ID_BYTES);
        ldpb__log_entry__free_unpacked(le, NULL);
    }
    ev_add(c, e);
}

static void
fake_events(void *arg, bool ready)
{
    (void)ready;
    ev_add(arg, (ev){.kind = EV_EVENTS});
}

static void
fake_release(void *arg, int64_t ts, int64_t now)
{
    (void)ts;
    (void)now;
    ev_add(arg, (ev){.kind = EV_RELEASE});
}

static void
fake_role(void *arg, ld_host_role what, const ld_repl_state *st)
{
    (void)what;
    (void)st;
    ev_add(arg, (ev){.kind = EV_ROLE});
}

static void
fake_corrupt(void *arg, uint64_t op, const char *why)
{
    ev_add(arg, (ev){.kind = EV_CORRUPT, .op = op});
    cr_assert_fail("corrupt entry %llu: %s", (unsigned long long)op, why);
}

static void
fake_installed(void *arg, uint64_t op, size_t len)
{
    (void)len;
    ev_add(arg, (ev){.kind = EV_INSTALLED, .op = op});
}

static const ld_host_io fake_io = {
    .write = fake_write,
    .pending = fake_pending,
    .snapshot = fake_snapshot,
    .install = fake_install,
    .recv = fake_recv,
    .send = fake_send,
    .random = fake_random,
    .take = fake_take,
    .applied = fake_applied,
    .flight_end = fake_flight_end,
    .events = fake_events,
    .release = fake_release,
    .role = fake_role,
    .corrupt = fake_corrupt,
    .installed = fake_installed,
};

/* ---- cores ---------------------------------------------------------------------------------- */

static void
world_init(uint32_t n)
{
    memset(&W, 0, sizeof W);
    W.n = n;
}

/* Formats core i's replica store (synced, as a new node does), opens its host as replica i of
 * W.n and flushes what the open put. The event log is cleared afterwards. */
static core *
core_open(uint32_t i)
{
    core *c = &W.cores[i];
    c->w = &W;
    c->index = i;
    cr_assert_eq(ld_store_mem_alloc(&c->sm_mem), LD_OK);
    cr_assert_eq(ld_store_mem_alloc(&c->log_mem), LD_OK);
    c->sm_store = ld_store_mem_store(c->sm_mem);
    c->log_raw = ld_store_mem_store(c->log_mem);
    c->log_store = (ld_store){.ops = &rec_ops, .impl = c};
    ld_host_format(&c->log_store);
    ld_store_mem_sync(c->log_mem);
    c->io = fake_io;
    c->io.arg = c;
    ld_host_config cfg = {
        .repl = {.cluster_id = 7, .shard_id = 0, .replica = i, .replica_count = W.n},
        .batch_ops_max = 8,
        .entry_bytes_max = LD_PEER_ENTRY_BYTES_MAX,
        .tick = true,
        .config_epoch = 1};
    uint8_t nonce[16] = {(uint8_t)(i + 1)};
    const char *what = "";
    ld_err err =
        ld_host_open(&cfg, &c->sm_store, &c->log_store, &c->io, nonce, NOW0, &c->host, &what);
    cr_assert_eq(err, LD_OK, "open: %s (%s)", ld_err_name(err), what);
    cr_assert(ld_host_flush(c->host));
    c->up = true;
    W.n_ev = 0;
    return c;
}

static void
world_fini(void)
{
    for (uint32_t i = 0; i < W.n; i++) {
        core *c = &W.cores[i];
        if (c->host != NULL)
            ld_host_free(c->host);
        while (c->inbox_n > 0) {
            free(c->inbox[c->inbox_head]);
            c->inbox_head = (c->inbox_head + 1) % INBOX_MAX;
            c->inbox_n--;
        }
        if (c->sm_mem != NULL)
            ld_store_mem_free(c->sm_mem);
        if (c->log_mem != NULL)
            ld_store_mem_free(c->log_mem);
    }
}

/* Queues a CREATE_USER of user `n` for the core's next io->take. */
static void
core_queue_user(core *c, uint8_t n)
{
    cr_assert_lt(c->reqs, REQS_MAX);
    uint32_t i = c->reqs++;
    ld_op *op = &c->req_op[i];
    memset(op, 0, sizeof *op);
    op->type = LD_OP_CREATE_USER;
    op->u.create_user.id.bytes[0] = 0xAB;
    op->u.create_user.id.bytes[15] = n;
    op->principal = op->u.create_user.id;
    snprintf(op->u.create_user.name, sizeof op->u.create_user.name, "user %u", n);
    snprintf(op->u.create_user.email, sizeof op->u.create_user.email, "u%u@example.com", n);
    ld_codec_op_to_pb(op, &c->req_pb[i], &c->req_scratch[i]);
}

static bool
core_turn(core *c, int64_t dt)
{
    return ld_host_turn(c->host, NOW0 + dt, WALL0 + dt);
}

static uint64_t
meta_commit_max(const uint8_t *v)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = x << 8 | v[17 + i];
    return x;
}

static void
meta_set(uint8_t *v, size_t at, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        v[at + (size_t)i] = (uint8_t)(x >> (8 * i));
}

/* ---- one replica ---------------------------------------------------------------------------- */

/* Proves the host rule with one replica: the turn that takes a write op prepares it, applies it
 * (flight_end APPLIED with the op's result) and writes with sync BEFORE it releases anything,
 * and the entry's id seed is the one io->random gave. How: queue one CREATE_USER, run one turn,
 * read the event log and the stores. */
Test(host, one_replica_writes_with_sync_before_the_release)
{
    world_init(1);
    core *c = core_open(0);
    core_queue_user(c, 1);
    ld_host_stats before, after;
    ld_host_stats_get(c->host, &before);
    cr_assert(core_turn(c, 1));
    ld_host_stats_get(c->host, &after);

    int take = ev_find(0, 0, EV_TAKE);
    int rnd = ev_find(0, 0, EV_RANDOM);
    int end = ev_find(0, 0, EV_FLIGHT_END);
    int write = ev_find(0, 0, EV_WRITE);
    int release = ev_find(0, 0, EV_RELEASE);
    cr_assert(take >= 0 && rnd > take, "io->random draws the seed after the take");
    cr_assert(end > rnd, "the entry is applied inside its prepare");
    cr_assert_geq(write, 0, "a write");
    cr_assert(W.log[write].flag, "one replica: the write is synced");
    cr_assert_gt(release, write, "io->release comes after io->write");
    cr_assert_eq(ev_find(0, 0, EV_RELEASE), release);
    cr_assert_eq(ev_count(0, 0, EV_WRITE), 1, "one write per turn");
    cr_assert_eq(ev_count(0, 0, EV_RELEASE), 1);
    cr_assert_gt(end, take);
    cr_assert_lt(end, write, "results are known before the write, released after it");
    int events = ev_find(0, 0, EV_EVENTS);
    cr_assert(events > write && events < release, "one replica: events wait for the sync");

    cr_assert_eq(W.log[end].why, LD_HOST_END_APPLIED);
    cr_assert_eq(W.log[end].op, 1);
    cr_assert_eq(c->end_result.code, LD_OK, "%s", c->end_result.message);
    cr_assert_eq(c->end_result.kind, LD_RESULT_USER);
    cr_assert(ld_id_eq(&c->end_result.u.user.id, &c->req_op[0].u.create_user.id));
    cr_assert_str_eq(c->end_result.u.user.name, "user 1");
    cr_assert_eq(c->randoms, 1);
    cr_assert(ld_id_eq(&c->end_seed, &c->random), "the applied stamp's seed is io->random's");
    cr_assert(ld_id_eq(&c->end_entry_seed, &c->random), "the packed entry carries it");

    cr_assert_eq(ld_store_mem_pending(c->log_mem) + ld_store_mem_pending(c->sm_mem), 0);
    cr_assert_gt(ld_store_mem_count(c->sm_mem), 0, "the user is durable");
    cr_assert_eq(after.fsyncs - before.fsyncs, 1);
    cr_assert_eq(after.writes_nosync - before.writes_nosync, 0);
    cr_assert_eq(after.prepared - before.prepared, 1);
    cr_assert_eq(after.batches - before.batches, 1);
    cr_assert_eq(ld_host_written_op(c->host), 1);
    world_fini();
}

/* Proves that an idle turn writes nothing but still releases (the caller's reads and replies
 * that need no write must not wait for one). How: one replica, nothing queued, nothing due for
 * the TICK; one turn; the log holds no write and exactly one release. */
Test(host, an_idle_turn_skips_the_write_and_still_releases)
{
    world_init(1);
    core *c = core_open(0);
    cr_assert_eq(c->io.pending(c), 0);
    cr_assert(core_turn(c, 1));
    cr_assert_eq(ev_count(0, 0, EV_WRITE), 0, "nothing pending: no write");
    cr_assert_eq(ev_count(0, 0, EV_RANDOM), 0, "no entry formed");
    cr_assert_eq(ev_count(0, 0, EV_RELEASE), 1);
    cr_assert_gt(ev_find(0, 0, EV_RELEASE), ev_find(0, 0, EV_TAKE));
    ld_host_stats st;
    ld_host_stats_get(c->host, &st);
    cr_assert_eq(st.prepared, 0);
    cr_assert_eq(c->io.pending(c), 0);
    world_fini();
}

/* ---- three replicas ------------------------------------------------------------------------- */

/* Proves the sync decision and the host rule across a quorum (the scenario of the former
 * store_rocks_sync test, on the core): the primary's prepare is synced before its Prepare
 * leaves; the backup syncs the entry before its PrepareOk leaves; the commit the PrepareOk
 * brings (commit-only meta and applied state) is written UNSYNCED and released at once, in
 * the same turn, before the next entry is formed; that next entry is synced again. How: two of
 * three cores wired through the fake io (replica 2 never answers; 2 of 3 is a quorum), one
 * CREATE_USER, then a second one queued for the commit turn; the event log and ld_host_stats. */
Test(host, three_replicas_sync_the_log_and_release_a_commit_unsynced)
{
    world_init(3);
    core *p = core_open(0);
    core *b = core_open(1);
    cr_assert(ld_host_state(p->host)->primary, "replica 0 is the primary of view 0");
    cr_assert_not(ld_host_state(b->host)->primary);

    /* the primary prepares entry 1 */
    core_queue_user(p, 1);
    ld_host_stats s0, s1, s2;
    ld_host_stats_get(p->host, &s0);
    uint32_t t1 = W.n_ev;
    cr_assert(core_turn(p, 1));
    int w1 = ev_find(t1, 0, EV_WRITE);
    int send1 = ev_find_msg(t1, 0, EV_SEND, LD_REPL_PREPARE);
    cr_assert_geq(w1, 0);
    cr_assert(W.log[w1].flag, "a log record must be durable: synced");
    cr_assert_eq(ev_count(t1, 0, EV_WRITE), 1);
    cr_assert_gt(send1, w1, "the Prepare leaves only after the write");
    cr_assert_eq(W.log[send1].peer, LD_REPL_PREPARE);
    cr_assert_eq(W.log[send1].op, 1);
    cr_assert_eq(ev_count_sends(t1, 0, LD_REPL_PREPARE), 2, "to both backups");
    cr_assert_gt(ev_find((uint32_t)w1, 0, EV_RELEASE), send1, "then the release");
    cr_assert_eq(ev_count(t1, 0, EV_FLIGHT_END), 0, "not committed yet");
    ld_host_stats_get(p->host, &s1);
    cr_assert_eq(s1.fsyncs - s0.fsyncs, 1);
    cr_assert_eq(s1.writes_nosync - s0.writes_nosync, 0);
    cr_assert_eq(s1.commit_turns - s0.commit_turns, 0);
    ld_id seed1 = p->random;

    /* the backup takes the Prepare */
    uint32_t t2 = W.n_ev;
    cr_assert(core_turn(b, 2));
    int recv2 = ev_find_msg(t2, 1, EV_RECV, LD_REPL_PREPARE);
    int w2 = ev_find(t2, 1, EV_WRITE);
    int send2 = ev_find_msg(t2, 1, EV_SEND, LD_REPL_PREPARE_OK);
    cr_assert_geq(recv2, 0);
    cr_assert_eq(W.log[recv2].peer, LD_REPL_PREPARE);
    cr_assert_gt(w2, recv2);
    cr_assert(W.log[w2].flag, "the backup's log record is synced");
    cr_assert_gt(send2, w2, "the PrepareOk leaves only after the write");
    cr_assert_eq(W.log[send2].peer, LD_REPL_PREPARE_OK);
    cr_assert_eq(W.log[send2].to, 0);
    cr_assert_eq(ev_count(t2, 1, EV_APPLIED), 0, "a backup applies only what is committed");

    /* the primary takes the PrepareOk: entry 1 commits; entry 2 is queued for the same turn */
    core_queue_user(p, 2);
    uint32_t t3 = W.n_ev;
    cr_assert(core_turn(p, 3));
    ld_host_stats_get(p->host, &s2);
    int recv3 = ev_find_msg(t3, 0, EV_RECV, LD_REPL_PREPARE_OK);
    int end3 = ev_find(t3, 0, EV_FLIGHT_END);
    int w3 = ev_find(t3, 0, EV_WRITE);
    cr_assert_geq(recv3, 0);
    cr_assert_eq(W.log[recv3].peer, LD_REPL_PREPARE_OK);
    cr_assert_gt(end3, recv3);
    cr_assert_eq(W.log[end3].why, LD_HOST_END_APPLIED);
    cr_assert_eq(W.log[end3].op, 1);
    cr_assert_eq(W.log[end3].code, LD_OK);
    cr_assert(ld_id_eq(&p->end_seed, &seed1), "applied with the seed drawn at prepare");
    cr_assert_gt(w3, end3);
    cr_assert_not(W.log[w3].flag, "commit_max and applied state may trail: unsynced");
    /* right after that write: its release (the outbox first, then io->release) */
    int rel3 = ev_find(w3, 0, EV_RELEASE);
    cr_assert_gt(rel3, w3);
    for (int i = w3 + 1; i < rel3; i++)
        cr_assert_eq(W.log[i].kind, EV_SEND, "only the outbox between the write and release");
    /* ...before the next entry is formed, which is synced again and sent after its write */
    int take3 = ev_find(t3, 0, EV_TAKE);
    int rnd3 = ev_find(t3, 0, EV_RANDOM);
    cr_assert_gt(take3, rel3, "the commit is released before the next entry is taken");
    cr_assert_gt(rnd3, take3);
    int w4 = ev_find((uint32_t)rnd3, 0, EV_WRITE);
    cr_assert_gt(w4, rnd3);
    cr_assert(W.log[w4].flag, "entry 2's log record is synced");
    int send4 = ev_find_msg((uint32_t)rnd3, 0, EV_SEND, LD_REPL_PREPARE);
    cr_assert_gt(send4, w4);
    cr_assert_eq(W.log[send4].peer, LD_REPL_PREPARE);
    cr_assert_eq(W.log[send4].op, 2);
    cr_assert_gt(ev_find((uint32_t)w4, 0, EV_RELEASE), send4);
    cr_assert_eq(ev_count(t3, 0, EV_WRITE), 2);
    cr_assert_eq(ev_count(t3, 0, EV_RELEASE), 2);
    cr_assert_eq(s2.writes_nosync - s1.writes_nosync, 1);
    cr_assert_eq(s2.fsyncs - s1.fsyncs, 1);
    cr_assert_eq(s2.commit_turns - s1.commit_turns, 1);
    cr_assert_eq(s2.commit_held - s1.commit_held, 0, "the answers did not wait for the fsync");

    /* the backup learns the commit from Prepare 2 and applies entry 1 with the same seed */
    uint32_t t5 = W.n_ev;
    cr_assert(core_turn(b, 4));
    int app5 = ev_find(t5, 1, EV_APPLIED);
    cr_assert_geq(app5, 0);
    cr_assert_eq(W.log[app5].op, 1);
    cr_assert_eq(W.log[app5].code, LD_OK);
    cr_assert(ld_id_eq(&b->applied_seed, &seed1), "every replica applies the primary's seed");
    cr_assert(ld_id_eq(&b->applied_result.u.user.id, &p->end_result.u.user.id));
    world_fini();
}

/* Proves that a failed write ends the turn: nothing it would release leaves (no Prepare to the
 * backups, no io->release) and the turn reports false. How: a 3-replica primary with a queued
 * op (its Prepare waits in the outbox), the fake's next write returning false; the event log
 * after that write. */
Test(host, a_failed_write_ends_the_turn)
{
    world_init(3);
    core *p = core_open(0);
    core_open(1);
    core_queue_user(p, 1);
    p->crash = true;
    cr_assert_not(core_turn(p, 1), "the turn reports the failed write");
    int w = ev_find(0, 0, EV_WRITE);
    cr_assert_geq(w, 0);
    cr_assert_not(W.log[w].ok);
    cr_assert_eq(ev_count_sends(0, 0, LD_REPL_PREPARE), 0, "no Prepare leaves");
    cr_assert_eq(ev_find((uint32_t)w, 0, EV_SEND), -1, "no send after the write");
    cr_assert_eq(ev_find((uint32_t)w, 0, EV_RELEASE), -1, "no release after the write");
    cr_assert_eq((uint32_t)w, W.n_ev - 1, "the failed write is the turn's last io call");
    cr_assert_gt(ld_host_outbox_len(p->host), 0, "the Prepare was held back");
    world_fini();
}

/* ---- the sync decision ---------------------------------------------------------------------- */

/* Proves ld_repl_meta_commit_only on the replica's real meta records: true for two records that
 * differ in commit_max only, false when the view (or log_view) differs, false for anything
 * that does not decode (length, version, garbage). How: capture every meta record the primary
 * puts (a recording store) across a commit that advances commit_max from 0 to 1; edit copies. */
Test(host, meta_commit_only_tells_a_commit_max_advance)
{
    world_init(3);
    core *p = core_open(0);
    core *b = core_open(1);
    core_queue_user(p, 1);
    cr_assert(core_turn(p, 1));
    cr_assert(core_turn(b, 2));
    cr_assert(core_turn(p, 3));
    cr_assert_eq(ld_host_state(p->host)->commit_max, 1);

    const uint8_t *m0 = NULL, *m1 = NULL;
    for (uint32_t i = 0; i < p->metas; i++) {
        cr_assert_eq(p->meta_len[i], META_BYTES);
        if (meta_commit_max(p->meta[i]) == 0)
            m0 = p->meta[i];
        else if (meta_commit_max(p->meta[i]) == 1 && m1 == NULL)
            m1 = p->meta[i];
    }
    cr_assert_not_null(m0, "a meta record with commit_max 0");
    cr_assert_not_null(m1, "a meta record with commit_max 1");
    cr_assert_neq(memcmp(m0, m1, META_BYTES), 0);
    cr_assert(ld_repl_meta_commit_only(m0, META_BYTES, m1, META_BYTES));
    cr_assert(ld_repl_meta_commit_only(m1, META_BYTES, m0, META_BYTES));
    cr_assert(ld_repl_meta_commit_only(m1, META_BYTES, m1, META_BYTES), "no change at all");

    uint8_t v[META_BYTES];
    memcpy(v, m1, META_BYTES);
    meta_set(v, 1, 1); /* view 1 (log_view 0 <= view: still decodes) */
    cr_assert_not(ld_repl_meta_commit_only(m1, META_BYTES, v, META_BYTES), "a new view");
    cr_assert_not(ld_repl_meta_commit_only(v, META_BYTES, m1, META_BYTES), "an old view");
    uint8_t lv[META_BYTES];
    memcpy(lv, v, META_BYTES);
    meta_set(lv, 9, 1); /* log_view 1 */
    cr_assert_not(ld_repl_meta_commit_only(v, META_BYTES, lv, META_BYTES), "a new log_view");

    cr_assert_not(ld_repl_meta_commit_only(m1, META_BYTES, m1, META_BYTES - 1), "short");
    cr_assert_not(ld_repl_meta_commit_only(m1, META_BYTES - 1, m1, META_BYTES), "short prev");
    memcpy(v, m1, META_BYTES);
    v[0] = 2;
    cr_assert_not(ld_repl_meta_commit_only(m1, META_BYTES, v, META_BYTES), "another version");
    uint8_t garbage[META_BYTES];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(0x5A ^ (i * 37));
    cr_assert_not(ld_repl_meta_commit_only(m1, META_BYTES, garbage, META_BYTES), "garbage");
    cr_assert_not(ld_repl_meta_commit_only(garbage, META_BYTES, m1, META_BYTES), "garbage prev");
    memcpy(v, m1, META_BYTES);
    meta_set(v, 9, 2); /* log_view 2 > view 0: does not decode */
    cr_assert_not(ld_repl_meta_commit_only(m1, META_BYTES, v, META_BYTES), "log_view > view");
    world_fini();
}

/* Proves the core's sync rule record by record (the former store_rocks_sync each_kind_of_record
 * test): state-machine records never need a sync; a log record or its deletion always does; a
 * meta record does unless it differs from the previous meta record in commit_max alone, and an
 * unknown layout always does. How: white box (host_int.h) -- put each kind through the store the
 * replica writes through (h->repl_wrap) into an empty pending write and read h->needs_sync;
 * ld_host_flush clears it between kinds. */
Test(host, the_sync_rule_for_each_kind_of_record)
{
    world_init(3);
    core *c = core_open(0);
    ld_host *h = c->host;
    const ld_store *r = &h->repl_wrap;
    cr_assert_not(h->needs_sync);
    cr_assert_gt(c->metas, 0);
    uint8_t base[META_BYTES];
    cr_assert_eq(c->meta_len[c->metas - 1], META_BYTES);
    memcpy(base, c->meta[c->metas - 1], META_BYTES);

    c->sm_store.ops->put(c->sm_store.impl, "k", 1, "v", 1);
    c->sm_store.ops->del(c->sm_store.impl, "k", 1);
    cr_assert_not(h->needs_sync, "state records never need a sync");
    cr_assert(ld_host_flush(h));

    uint8_t v[META_BYTES];
    memcpy(v, base, META_BYTES);
    meta_set(v, 1, 1);
    meta_set(v, 17, 10);
    r->ops->put(r->impl, LD_REPL_KEY_META, 1, v, META_BYTES);
    cr_assert(h->needs_sync, "a new view");
    cr_assert(ld_host_flush(h));
    cr_assert_not(h->needs_sync);
    meta_set(v, 17, 11);
    r->ops->put(r->impl, LD_REPL_KEY_META, 1, v, META_BYTES);
    cr_assert_not(h->needs_sync, "commit_max alone");
    cr_assert(ld_host_flush(h));
    meta_set(v, 1, 2);
    r->ops->put(r->impl, LD_REPL_KEY_META, 1, v, META_BYTES);
    cr_assert(h->needs_sync, "a new view");
    cr_assert(ld_host_flush(h));
    v[0] = 2;
    r->ops->put(r->impl, LD_REPL_KEY_META, 1, v, META_BYTES);
    cr_assert(h->needs_sync, "another version");
    cr_assert(ld_host_flush(h));
    r->ops->put(r->impl, LD_REPL_KEY_META, 1, v, META_BYTES - 1);
    cr_assert(h->needs_sync, "another length");
    cr_assert(ld_host_flush(h));
    v[0] = 1;
    r->ops->put(r->impl, LD_REPL_KEY_META, 1, v, META_BYTES);
    cr_assert(h->needs_sync, "the first meta record after one that does not decode");
    cr_assert(ld_host_flush(h));

    static const uint8_t key[9] = {LD_REPL_KEY_LOG, 0, 0, 0, 0, 0, 0, 0, 1};
    r->ops->put(r->impl, key, sizeof key, "e", 1);
    cr_assert(h->needs_sync, "a log record");
    cr_assert(ld_host_flush(h));
    r->ops->del(r->impl, key, sizeof key);
    cr_assert(h->needs_sync, "a log deletion");
    cr_assert(ld_host_flush(h));
    cr_assert_not(h->needs_sync);
    world_fini();
}

/* ---- the checkpoint stream ------------------------------------------------------------------ */

typedef struct walk_ctx {
    uint32_t n;
    char keys[8][8];
    char vals[8][8];
} walk_ctx;

static void
walk_cb(void *arg, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len)
{
    walk_ctx *w = arg;
    cr_assert_lt(w->n, 8);
    cr_assert_lt(key_len, 8);
    cr_assert_lt(val_len, 8);
    memcpy(w->keys[w->n], key, key_len);
    w->keys[w->n][key_len] = 0;
    memcpy(w->vals[w->n], val, val_len);
    w->vals[w->n][val_len] = 0;
    w->n++;
}

static const char *const cp_keys[] = {"a", "ab", "b", "s\x01"};
static const char *const cp_vals[] = {"1", "", "xyz", "v"};

/* Proves a round trip: what the writer appends, the reader accepts and walks back in order, and
 * ld_checkpoint_from_store writes the same bytes from a store holding those records (an empty
 * value and a key that is a prefix of the next included). How: four records both ways. */
Test(host, checkpoint_round_trip)
{
    ld_checkpoint_writer w = {.max = 1 << 20};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(ld_checkpoint_append(&w, cp_keys[i], strlen(cp_keys[i]), cp_vals[i],
                                          strlen(cp_vals[i])),
                     LD_OK);
    size_t len = 0;
    uint8_t *buf = ld_checkpoint_take(&w, &len);
    cr_assert_not_null(buf);
    cr_assert_eq(len, 4 * 8 + 1 + 2 + 1 + 2 + 1 + 0 + 3 + 1);
    cr_assert_null(w.buf, "take empties the writer");
    cr_assert(ld_checkpoint_valid(buf, len));
    walk_ctx got = {0};
    ld_checkpoint_walk(buf, len, walk_cb, &got);
    cr_assert_eq(got.n, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(got.keys[i], cp_keys[i]);
        cr_assert_str_eq(got.vals[i], cp_vals[i]);
    }

    ld_store_mem *mem = NULL;
    cr_assert_eq(ld_store_mem_alloc(&mem), LD_OK);
    ld_store st = ld_store_mem_store(mem);
    for (int i = 3; i >= 0; i--) /* put out of order: the scan sorts */
        st.ops->put(st.impl, cp_keys[i], strlen(cp_keys[i]), cp_vals[i], strlen(cp_vals[i]));
    ld_store_mem_sync(mem);
    uint8_t *from = NULL;
    size_t from_len = 0;
    cr_assert_eq(ld_checkpoint_from_store(&st, 1 << 20, &from, &from_len), LD_OK);
    cr_assert_eq(from_len, len);
    cr_assert_eq(memcmp(from, buf, len), 0);
    free(from);
    cr_assert_eq(ld_checkpoint_from_store(&st, len - 1, &from, &from_len), LD_ERR_CAPACITY);
    ld_store_mem_free(mem);

    ld_checkpoint_writer empty = {.max = 16};
    uint8_t *e = ld_checkpoint_take(&empty, &len);
    cr_assert_not_null(e, "never NULL");
    cr_assert_eq(len, 0);
    cr_assert(ld_checkpoint_valid(e, 0));
    free(e);
    free(buf);
}

static size_t
put_rec(uint8_t *at, const char *key, size_t klen, const char *val)
{
    size_t vlen = strlen(val);
    at[0] = (uint8_t)klen, at[1] = at[2] = at[3] = 0;
    memcpy(at + 4, key, klen);
    at[4 + klen] = (uint8_t)vlen, at[5 + klen] = at[6 + klen] = at[7 + klen] = 0;
    memcpy(at + 8 + klen, val, vlen);
    return 8 + klen + vlen;
}

/* Proves the reader's checks: a cut anywhere but between records is refused (a record or a
 * length runs past the end), an empty key is refused by both the writer and the reader, keys
 * out of order (descending, repeated, a longer key before its prefix) are refused. How: cut a
 * written stream at every length; hand-made streams for the rest. */
Test(host, checkpoint_valid_refuses_truncation_empty_keys_and_disorder)
{
    ld_checkpoint_writer w = {.max = 1 << 20};
    size_t ends[4], end = 0;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(ld_checkpoint_append(&w, cp_keys[i], strlen(cp_keys[i]), cp_vals[i],
                                          strlen(cp_vals[i])),
                     LD_OK);
        end += 8 + strlen(cp_keys[i]) + strlen(cp_vals[i]);
        ends[i] = end;
    }
    size_t len = 0;
    uint8_t *buf = ld_checkpoint_take(&w, &len);
    cr_assert_eq(len, end);
    for (size_t cut = 0; cut < len; cut++) {
        bool boundary = cut == 0 || cut == ends[0] || cut == ends[1] || cut == ends[2];
        cr_assert_eq(ld_checkpoint_valid(buf, cut), boundary, "cut at %zu", cut);
    }
    free(buf);

    cr_assert_eq(ld_checkpoint_append(&w, "", 0, "v", 1), LD_ERR_INVALID_ARGUMENT);
    cr_assert_eq(w.len, 0);
    ld_checkpoint_writer_fini(&w);

    uint8_t s[64];
    size_t n = put_rec(s, "", 0, "v");
    cr_assert_not(ld_checkpoint_valid(s, n), "an empty key");
    n = put_rec(s, "a", 1, "1");
    n += put_rec(s + n, "", 0, "2");
    cr_assert_not(ld_checkpoint_valid(s, n), "an empty key after a good record");

    n = put_rec(s, "b", 1, "1");
    n += put_rec(s + n, "a", 1, "2");
    cr_assert_not(ld_checkpoint_valid(s, n), "descending keys");
    n = put_rec(s, "a", 1, "1");
    n += put_rec(s + n, "a", 1, "2");
    cr_assert_not(ld_checkpoint_valid(s, n), "a repeated key");
    n = put_rec(s, "ab", 2, "1");
    n += put_rec(s + n, "a", 1, "2");
    cr_assert_not(ld_checkpoint_valid(s, n), "a key after a longer one it prefixes");
    n = put_rec(s, "a", 1, "1");
    n += put_rec(s + n, "ab", 2, "2");
    cr_assert(ld_checkpoint_valid(s, n), "the same two keys in order");
    s[4 + 1] = 200; /* the first value's length runs past the end */
    cr_assert_not(ld_checkpoint_valid(s, n));
}

/* Proves the writer's limit: a record that would pass max is LD_ERR_CAPACITY and leaves the
 * stream as it was; a record that fits exactly is taken. How: max = one record of 10 bytes. */
Test(host, checkpoint_append_past_max_is_capacity)
{
    ld_checkpoint_writer w = {.max = 10};
    cr_assert_eq(ld_checkpoint_append(&w, "a", 1, "12", 2), LD_ERR_CAPACITY, "11 > 10");
    cr_assert_eq(w.len, 0);
    cr_assert_eq(ld_checkpoint_append(&w, "a", 1, "1", 1), LD_OK, "exactly 10");
    cr_assert_eq(w.len, 10);
    cr_assert_eq(ld_checkpoint_append(&w, "b", 1, "", 0), LD_ERR_CAPACITY);
    cr_assert_eq(w.len, 10);
    size_t len = 0;
    uint8_t *buf = ld_checkpoint_take(&w, &len);
    cr_assert_eq(len, 10);
    cr_assert(ld_checkpoint_valid(buf, len));
    free(buf);
}
