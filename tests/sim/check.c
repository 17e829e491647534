/*
 * check.c -- the simulator's checks (docs/ARCHITECTURE.md §7, REPLICATION.md §10), run after every
 * apply, every step, every restart and at the end:
 *
 *   S1  one committed entry per op: every replica applies, at op k, byte for byte the entry (and
 *       timestamp) the first replica applied at k.
 *   S2  the committed entries form one chain: S1 over every op from 1 means each replica's
 *       committed prefix is the same sequence; the parent checksums inside the core are checked
 *       by the core on every append, and a broken chain shows up here as an S1 difference.
 *   S3  view, commit_max and commit_min never go back on a replica, across restarts too (against
 *       the values durable at its last sync).
 *   S4  every client op in a committed entry was sent by a client (registered fingerprint), and
 *       an op committed at several positions (a retry) took effect once: the later positions
 *       answer what the first did (LD_EXISTS for a create). Clients replaying an idempotency key
 *       check they get the first answer (client.c).
 *   S5  every acknowledged request is, at its op, in the entry every replica applies there, with
 *       the results the client was given; every later primary's log reaches it; linearizable
 *       reads reflect every acknowledged commit.
 *   S6  ld_sm_check after every apply and install (it aborts on a broken invariant; main.c prints
 *       the trace then); equal ld_sm_digest at equal applied op; equal results at equal op;
 *       the drop's available + reserved + sold == stock after every apply.
 *   S7  after the heal, every client finishes and the replicas converge (world.c bounds the time).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "sim.h"

uint64_t
sim_fingerprint(const uint8_t *packed, size_t len)
{
    return XXH3_64bits(packed, len) | 1; /* never 0: 0 marks an empty slot */
}

void
sim_entry_hash(int64_t ts, const uint8_t *entry, size_t len, uint64_t *lo, uint64_t *hi)
{
    XXH128_hash_t h = XXH3_128bits_withSeed(entry, len, (uint64_t)ts);
    *lo = h.low64;
    *hi = h.high64;
}

sim_res
sim_res_from(const ld_result *res, ld_op_type type)
{
    sim_res s;
    memset(&s, 0, sizeof s);
    s.type = type;
    s.code = res->code;
    if (res->kind == LD_RESULT_RESERVATION) {
        s.id = res->u.reservation.id;
        s.qty = res->u.reservation.qty;
    } else if (res->kind == LD_RESULT_ORDER) {
        s.id = res->u.order.id;
        s.qty = res->u.order.qty;
    } else if (res->kind == LD_RESULT_DROP) {
        s.id = res->u.drop.spec.id;
        s.stock = res->u.drop.stock;
        s.qty = res->u.drop.spec.initial_stock;
    }
    return s;
}

static bool
res_equal(const sim_res *a, const sim_res *b)
{
    return a->type == b->type && a->code == b->code && a->qty == b->qty &&
           memcmp(&a->id, &b->id, sizeof a->id) == 0 && a->stock.available == b->stock.available &&
           a->stock.reserved == b->stock.reserved && a->stock.sold == b->stock.sold;
}

static uint64_t
res_hash(uint64_t h, const sim_res *s)
{
    uint64_t f[7] = {(uint64_t)s->type,
                     (uint64_t)s->code,
                     (uint64_t)s->qty,
                     (uint64_t)s->stock.available,
                     (uint64_t)s->stock.reserved,
                     (uint64_t)s->stock.sold,
                     XXH3_64bits(s->id.bytes, sizeof s->id.bytes)};
    return XXH3_64bits_withSeed(f, sizeof f, h);
}

bool
sim_read_drop(sim_world *w, sim_replica *r, int64_t now_ms, sim_res *out)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = LD_OP_GET_DROP;
    op.u.id = w->drop;
    ld_result *res = &w->res_scratch[LD_SIM_BATCH_OPS_MAX + 1];
    ld_sm_read(r->sm, now_ms, &op, res);
    if (res->code != LD_OK)
        return false;
    *out = sim_res_from(res, LD_OP_GET_DROP);
    return true;
}

static bool
stock_ok(const sim_res *d)
{
    return d->stock.available >= 0 && d->stock.reserved >= 0 && d->stock.sold >= 0 &&
           d->stock.available + d->stock.reserved + d->stock.sold == d->qty;
}

/* ---- the step's undo journal ---------------------------------------------------------------- */

/* Makes room for one more entry in a journal array (grown by doubling up to `max`: most steps
 * change a few records). False at the bound. */
static bool
undo_room(void **arr, size_t *cap, size_t len, size_t max, size_t elem)
{
    if (len < *cap)
        return true;
    if (*cap >= max)
        return false;
    size_t cap2 = *cap == 0 ? 16 : *cap * 2;
    if (cap2 > max)
        cap2 = max;
    void *p = realloc(*arr, cap2 * elem);
    LD_ASSERT(p != NULL);
    *arr = p;
    *cap = cap2;
    return true;
}

static void
undo_save_op(sim_world *w, uint64_t op)
{
    if (!undo_room((void **)&w->undo_ops, &w->undo_ops_cap, w->undo_ops_len, SIM_UNDO_OPS_MAX,
                   sizeof *w->undo_ops)) {
        sim_fail(w, "limit", "more than %u op records changed in one step", SIM_UNDO_OPS_MAX);
        return;
    }
    w->undo_ops[w->undo_ops_len++] = (sim_undo_op){.op = op, .rec = w->ops[op]};
}

static void
undo_save_cop(sim_world *w, const sim_cop_rec *c)
{
    if (!undo_room((void **)&w->undo_cops, &w->undo_cops_cap, w->undo_cops_len,
                   LD_SIM_CLIENT_OPS_MAX, sizeof *w->undo_cops)) {
        sim_fail(w, "limit", "more than %u client op records changed in one step",
                 LD_SIM_CLIENT_OPS_MAX);
        return;
    }
    w->undo_cops[w->undo_cops_len++] = (sim_undo_cop){.slot = (size_t)(c - w->cops), .rec = *c};
}

void
sim_check_step_begin(sim_world *w)
{
    w->undo_ops_len = 0;
    w->undo_cops_len = 0;
    w->undo_max_applied_op = w->max_applied_op;
}

void
sim_check_step_durable(sim_world *w)
{
    w->undo_ops_len = 0;
    w->undo_cops_len = 0;
    w->undo_max_applied_op = w->max_applied_op;
}

void
sim_check_step_lost(sim_world *w)
{
    while (w->undo_ops_len > 0) { /* newest first: the oldest saved value wins */
        const sim_undo_op *u = &w->undo_ops[--w->undo_ops_len];
        w->ops[u->op] = u->rec;
    }
    while (w->undo_cops_len > 0) {
        const sim_undo_cop *u = &w->undo_cops[--w->undo_cops_len];
        w->cops[u->slot] = u->rec;
    }
    w->max_applied_op = w->undo_max_applied_op;
}

/* ---- client ops (S4) ------------------------------------------------------------------------ */

static sim_cop_rec *
cop_find(sim_world *w, uint64_t fp, bool insert)
{
    size_t slots = (size_t)LD_SIM_CLIENT_OPS_MAX * 2;
    size_t i = (size_t)(fp % slots);
    for (;;) {
        sim_cop_rec *c = &w->cops[i];
        if (c->fp == fp)
            return c;
        if (c->fp == 0) {
            if (!insert)
                return NULL;
            if (w->cops_len >= LD_SIM_CLIENT_OPS_MAX) {
                sim_fail(w, "limit", "more than %u distinct client ops", LD_SIM_CLIENT_OPS_MAX);
                return NULL;
            }
            w->cops_len++;
            c->fp = fp;
            return c;
        }
        i = (i + 1) % slots;
    }
}

void
sim_check_client_op(sim_world *w, const uint8_t *packed, size_t len, ld_op_type type)
{
    sim_cop_rec *c = cop_find(w, sim_fingerprint(packed, len), true);
    if (c != NULL && c->type == LD_OP_NONE)
        c->type = type;
}

static bool
is_create(ld_op_type t)
{
    return t == LD_OP_CREATE_DROP || t == LD_OP_CREATE_USER || t == LD_OP_CREATE_CREATOR;
}

/* A later application of an op that already took effect answers as the first one did. */
static bool
repeat_consistent(const sim_res *first, const sim_res *later)
{
    if (is_create(first->type) && (first->code == LD_OK || first->code == LD_EXISTS))
        return later->code == LD_EXISTS;
    return first->code == later->code && memcmp(&first->id, &later->id, sizeof first->id) == 0;
}

static void
check_client_ops(sim_world *w, sim_replica *r, uint64_t op, const Ldpb__LogEntry *le,
                 const ld_op *ops, const ld_result *results)
{
    for (size_t i = 0; i < le->n_ops && !w->failed; i++) {
        ld_op_type type = ops[i].type;
        if (type == LD_OP_TICK || type == LD_OP_FINISH_ORDER || type == LD_OP_RELAY_FOLLOW)
            continue; /* internal: the primary's host adds them */
        size_t len = ldpb__op__get_packed_size(le->ops[i]);
        uint8_t stack[4096];
        uint8_t *buf = len <= sizeof stack ? stack : malloc(len);
        LD_ASSERT(buf != NULL);
        ldpb__op__pack(le->ops[i], buf);
        uint64_t fp = sim_fingerprint(buf, len);
        if (buf != stack)
            free(buf);
        sim_cop_rec *c = cop_find(w, fp, false);
        if (c == NULL) {
            sim_fail(w, "S4",
                     "r%u: op %zu (%s) of committed entry %" PRIu64 " was never sent by a client",
                     r->index, i, ld_op_name(type), op);
            return;
        }
        sim_res res = sim_res_from(&results[i], type);
        if (!c->applied) {
            undo_save_cop(w, c);
            c->applied = true;
            c->first_op = op;
            c->first_pos = (uint32_t)i;
            c->first_res = res;
        } else if (op == c->first_op && i == c->first_pos) {
            if (!res_equal(&res, &c->first_res))
                sim_fail(w, "S6", "r%u: op %" PRIu64 "[%zu] answered %s, another replica %s",
                         r->index, op, i, ld_err_name(res.code), ld_err_name(c->first_res.code));
        } else if (op < c->first_op || (op == c->first_op && i < c->first_pos)) {
            sim_fail(w, "S4",
                     "r%u: client op %s applied at %" PRIu64 "[%zu], below its first application "
                     "at %" PRIu64,
                     r->index, ld_op_name(type), op, i, c->first_op);
        } else if (!repeat_consistent(&c->first_res, &res)) {
            sim_fail(w, "S4",
                     "r%u: client op %s took effect twice: at %" PRIu64 "[%u] it answered %s, "
                     "again at %" PRIu64 "[%zu] it answered %s",
                     r->index, ld_op_name(type), c->first_op, c->first_pos,
                     ld_err_name(c->first_res.code), op, i, ld_err_name(res.code));
        }
    }
}

/* ---- apply (S1, S4, S5, S6) ----------------------------------------------------------------- */

static void
check_acks_at(sim_world *w, sim_replica *r, uint64_t op, const ld_result *results, size_t n)
{
    for (uint32_t a = w->ops[op].first_ack; a != 0 && !w->failed; a = w->acks[a - 1].next_at_op) {
        const sim_ack *k = &w->acks[a - 1];
        for (uint32_t i = 0; i < k->n_ops; i++) {
            sim_res got = k->pos[i] < n ? sim_res_from(&results[k->pos[i]], k->results[i].type)
                                        : (sim_res){0};
            if (!res_equal(&got, &k->results[i]))
                sim_fail(w, "S5",
                         "r%u: at op %" PRIu64 " position %u applies %s, but c%u was told %s",
                         r->index, op, k->pos[i], ld_err_name(got.code), k->client,
                         ld_err_name(k->results[i].code));
        }
    }
}

static void
check_digest(sim_world *w, sim_replica *r, uint64_t op, const char *what)
{
    ld_sm_check(r->sm); /* aborts on a broken invariant (P1 and every index) */
    uint64_t digest = ld_sm_digest(r->sm);
    sim_op_rec *rec = &w->ops[op];
    if (!rec->has_digest) {
        undo_save_op(w, op);
        rec->has_digest = true;
        rec->digest = digest;
    } else if (rec->digest != digest) {
        sim_fail(w, "S6",
                 "r%u: state digest %016" PRIx64 " after %s op %" PRIu64
                 ", another replica had %016" PRIx64,
                 r->index, digest, what, op, rec->digest);
        return;
    }
    sim_res d;
    if (sim_read_drop(w, r, ld_sm_last_ts(r->sm), &d) && !stock_ok(&d))
        sim_fail(w, "S6",
                 "r%u: at op %" PRIu64 " available %" PRId64 " + reserved %" PRId64
                 " + sold %" PRId64 " != stock %" PRId64,
                 r->index, op, d.stock.available, d.stock.reserved, d.stock.sold, d.qty);
}

void
sim_check_apply(sim_world *w, sim_replica *r, uint64_t op, int64_t ts, const uint8_t *entry,
                uint32_t len, const Ldpb__LogEntry *le, const ld_op *ops, const ld_result *results)
{
    if (op > LD_SIM_OPS_MAX) {
        sim_fail(w, "limit", "more than %u log entries", LD_SIM_OPS_MAX);
        return;
    }
    uint64_t lo, hi;
    sim_entry_hash(ts, entry, len, &lo, &hi);
    uint64_t rh = 0;
    for (size_t i = 0; i < le->n_ops; i++) {
        sim_res s = sim_res_from(&results[i], ops[i].type);
        rh = res_hash(rh, &s);
    }
    sim_op_rec *rec = &w->ops[op];
    if (!rec->applied) {
        undo_save_op(w, op);
        rec->applied = true;
        rec->hash_lo = lo;
        rec->hash_hi = hi;
        rec->results_hash = rh;
    } else if (rec->hash_lo != lo || rec->hash_hi != hi) {
        sim_fail(w, "S1",
                 "r%u applied a different entry at op %" PRIu64 " than another replica did "
                 "(%zu ops, ts %" PRId64 ")",
                 r->index, op, le->n_ops, ts);
        return;
    } else if (rec->results_hash != rh) {
        sim_fail(w, "S6", "r%u: the same entry %" PRIu64 " gave other results than elsewhere",
                 r->index, op);
        return;
    }
    if (op > w->max_applied_op)
        w->max_applied_op = op;
    check_client_ops(w, r, op, le, ops, results);
    if (!w->failed)
        check_acks_at(w, r, op, results, le->n_ops);
    if (!w->failed)
        check_digest(w, r, op, "applying");
}

void
sim_check_install(sim_world *w, sim_replica *r, uint64_t op)
{
    if (op > LD_SIM_OPS_MAX) {
        sim_fail(w, "limit", "checkpoint op %" PRIu64 " past %u", op, LD_SIM_OPS_MAX);
        return;
    }
    if (op > 0 && !w->ops[op].applied) {
        sim_fail(w, "S1", "r%u installed a checkpoint at op %" PRIu64 ", which nobody applied",
                 r->index, op);
        return;
    }
    check_digest(w, r, op, "installing a checkpoint at");
}

/* ---- acks and reads (S5) -------------------------------------------------------------------- */

static void
note_paid(sim_world *w, const sim_res *res)
{
    if (res->type != LD_OP_CHECKOUT || res->code != LD_OK)
        return;
    for (size_t i = 0; i < w->paid_len; i++)
        if (memcmp(&w->paid_orders[i], &res->id, sizeof res->id) == 0)
            return;
    if (w->paid_len >= LD_SIM_ACKS_MAX) {
        sim_fail(w, "limit", "more than %u paid orders", LD_SIM_ACKS_MAX);
        return;
    }
    w->paid_orders[w->paid_len++] = res->id;
    w->acked_sold += res->qty;
}

void
sim_check_ack(sim_world *w, sim_replica *r, const sim_msg *m)
{
    uint64_t op = m->op_number;
    LD_ASSERT(op >= 1 && op <= LD_SIM_OPS_MAX); /* the host answers only applied ops */
    sim_op_rec *rec = &w->ops[op];
    if (!rec->applied || rec->hash_lo != m->hash_lo || rec->hash_hi != m->hash_hi) {
        sim_fail(w, "S5",
                 "r%u acknowledged c%u's request at op %" PRIu64
                 ", which is not the entry committed there",
                 r->index, m->to, op);
        return;
    }
    if (w->acks_len >= LD_SIM_ACKS_MAX) {
        sim_fail(w, "limit", "more than %u acknowledged requests", LD_SIM_ACKS_MAX);
        return;
    }
    sim_ack *k = &w->acks[w->acks_len];
    memset(k, 0, sizeof *k);
    k->op = op;
    k->view = m->ack_view;
    k->hash_lo = m->hash_lo;
    k->hash_hi = m->hash_hi;
    k->client = m->to;
    k->req_id = m->req_id;
    k->n_ops = m->n_ops;
    k->at = w->t;
    for (uint32_t i = 0; i < m->n_ops; i++) {
        k->pos[i] = m->first_pos + i;
        k->results[i] = m->results[i];
        note_paid(w, &m->results[i]);
    }
    k->next_at_op = rec->first_ack;
    rec->first_ack = (uint32_t)++w->acks_len;
    w->stats.requests_acked++;
}

void
sim_check_read(sim_world *w, sim_replica *r, const sim_res *res)
{
    if (res->code != LD_OK)
        return; /* before the drop exists on this replica: nothing was acknowledged about it */
    if (!stock_ok(res)) {
        sim_fail(w, "S6", "r%u read a drop whose stock does not add up", r->index);
        return;
    }
    if (res->stock.sold < w->acked_sold)
        sim_fail(w, "S5",
                 "r%u served a stale linearizable read: sold %" PRId64 " but %" PRId64
                 " were acknowledged as paid before",
                 r->index, res->stock.sold, w->acked_sold);
}

/* ---- per step (S3, S5) ---------------------------------------------------------------------- */

void
sim_check_step(sim_world *w, sim_replica *r)
{
    ld_repl_state st;
    ld_repl_state_get(r->repl, &st);
    if (st.view < r->seen_view || st.commit_max < r->seen_commit_max ||
        st.commit_min < r->seen_commit_min) {
        sim_fail(w, "S3",
                 "r%u went back: view %" PRIu64 " -> %" PRIu64 ", commit_max %" PRIu64
                 " -> %" PRIu64 ", commit_min %" PRIu64 " -> %" PRIu64,
                 r->index, r->seen_view, st.view, r->seen_commit_max, st.commit_max,
                 r->seen_commit_min, st.commit_min);
        return;
    }
    r->seen_view = st.view;
    r->seen_commit_max = st.commit_max;
    r->seen_commit_min = st.commit_min;
    if (st.commit_min != ld_sm_applied_op(r->sm)) {
        sim_fail(w, "API", "r%u: commit_min %" PRIu64 " but the state machine applied %" PRIu64,
                 r->index, st.commit_min, ld_sm_applied_op(r->sm));
        return;
    }
    if (st.commit_min > st.commit_max) {
        sim_fail(w, "S3", "r%u: commit_min %" PRIu64 " > commit_max %" PRIu64, r->index,
                 st.commit_min, st.commit_max);
        return;
    }
    if (!st.primary || st.status != LD_REPL_NORMAL)
        return;
    for (size_t i = 0; i < w->acks_len; i++) {
        const sim_ack *k = &w->acks[i];
        if (k->view < st.view && k->op > st.op) {
            sim_fail(w, "S5",
                     "r%u is primary of view %" PRIu64 " with head op %" PRIu64 ", but op %" PRIu64
                     " was acknowledged to c%u in view %" PRIu64,
                     r->index, st.view, st.op, k->op, k->client, k->view);
            return;
        }
    }
}

void
sim_check_restart(sim_world *w, sim_replica *r)
{
    ld_repl_state st;
    ld_repl_state_get(r->repl, &st);
    if (st.view < r->dur_view || st.commit_max < r->dur_commit_max ||
        st.commit_min < r->dur_commit_min) {
        sim_fail(w, "S3",
                 "r%u restarted behind its durable state: view %" PRIu64 " (was %" PRIu64
                 "), commit_max %" PRIu64 " (was %" PRIu64 "), commit_min %" PRIu64 " (was %" PRIu64
                 ")",
                 r->index, st.view, r->dur_view, st.commit_max, r->dur_commit_max, st.commit_min,
                 r->dur_commit_min);
        return;
    }
    r->seen_view = st.view;
    r->seen_commit_max = st.commit_max;
    r->seen_commit_min = st.commit_min;
}

/* ---- the end (S6, S7) ----------------------------------------------------------------------- */

bool
sim_check_converged(sim_world *w, bool report)
{
    uint64_t want_op = 0, digest = 0;
    for (uint32_t i = 0; i < w->p.replica_count; i++) {
        sim_replica *r = &w->rep[i];
        ld_repl_state st = {0};
        if (r->up && r->repl != NULL)
            ld_repl_state_get(r->repl, &st);
        /* commit_min == op too: a replica's commit_max may trail after a crash (the write of a
         * commit-only change is not synced, REPLICATION.md §8), so an acknowledged entry can sit
         * in every log, committed again only by the next primary's quorum. */
        bool ok = r->up && !r->paused && r->repl != NULL && st.status == LD_REPL_NORMAL &&
                  st.commit_min == st.commit_max && st.commit_min == st.op;
        uint64_t d = ok ? ld_sm_digest(r->sm) : 0;
        if (ok && i > 0 && (st.commit_min != want_op || d != digest))
            ok = false;
        if (i == 0) {
            want_op = st.commit_min;
            digest = d;
        }
        if (!ok) {
            if (report)
                sim_fail(w, "S7",
                         "no convergence %" PRId64 " ms after the heal: r%u is %s, status %d, "
                         "view %" PRIu64 ", op %" PRIu64 ", commit_min %" PRIu64
                         ", commit_max %" PRIu64 " (r0 at %" PRIu64 ")",
                         w->t - w->heal_at, i, r->up ? "up" : "down", (int)st.status, st.view,
                         st.op, st.commit_min, st.commit_max, want_op);
            return false;
        }
    }
    return true;
}

void
sim_check_final(sim_world *w)
{
    sim_replica *r = &w->rep[0];
    sim_res d;
    if (!sim_read_drop(w, r, ld_sm_last_ts(r->sm), &d)) {
        sim_fail(w, "S5", "the drop does not exist at the end, though its creation was acked");
        return;
    }
    /* Every commit a client sent was acknowledged (clients only stop when answered), and each
     * PAID order was acknowledged at least once: sold is exactly their quantity. */
    if (d.stock.sold != w->acked_sold)
        sim_fail(w, "S6",
                 "sold %" PRId64 " at the end, but acknowledged paid orders sum to %" PRId64,
                 d.stock.sold, w->acked_sold);
}
