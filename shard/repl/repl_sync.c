/*
 * repl_sync.c -- catching up (REPLICATION.md §6, §7): repair of single entries by GetPrepare
 * (asked by checksum, so an answer is verified before it is written), the fill of a replica far
 * behind (committed entries fetched forward from its applied op, 6.1), state transfer of a
 * checkpoint (only when the log it needs is gone), the recovery of a replica without its disk,
 * and log trimming.
 *
 * The checkpoint is whatever host->snapshot() returns: the host serializes its state machine's
 * durable records and says which op they reflect. The responder takes one snapshot per transfer
 * and keeps it (one at a time) while it is being pulled; the asker pulls chunks by offset,
 * verifies the stream checksum, calls host->install() and anchors its log at the checkpoint op
 * with that entry's checksum and timestamp (which the responder sends: its log still holds that
 * entry, the snapshot op being >= commit_min - log_retain).
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "repl_int.h"

static ld_checksum
stream_checksum(const uint8_t *buf, size_t len)
{
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
    ld_checksum out;
    memcpy(out.b, c.digest, 16);
    return out;
}

/* ---- repair -------------------------------------------------------------------------------- */

void
ldi_sync_on_get_prepare(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    (void)now;
    uint64_t k = m->op;
    if (k <= r->log_start || k > r->op)
        return;
    /* Without a checksum the asker wants the committed entry at k (6.1): only an applied one is
     * known to be it. The record of an applied op is never rewritten (writes and truncations
     * stay above commit_min), so below the window the durable record at k is that entry. */
    if (!m->has_checksum && k > r->commit_min)
        return;
    const ldi_ring_entry *s = ldi_ring_entry_cget(r, k);
    ld_entry_header h;
    uint8_t *owned = NULL;
    const uint8_t *body = NULL;
    if (s != NULL) {
        if (!s->has_body || (m->has_checksum && !ldi_cs_eq(&s->h.checksum, &m->checksum)))
            return;
        h = s->h;
        body = s->body;
        if (body == NULL)
            body = owned = ldi_log_read_body(r, k, &s->h.checksum, NULL);
    } else {
        body = owned = ldi_log_read_body(r, k, m->has_checksum ? &m->checksum : NULL, &h);
    }
    if (body == NULL)
        return;
    ld_repl_msg a;
    ldi_msg_init(r, &a, LD_REPL_PREPARE);
    a.entry = h;
    a.bytes = body;
    a.bytes_len = h.entry_size;
    a.commit = r->commit_max;
    a.committed = !m->has_checksum;
    ldi_send(r, m->replica, &a);
    free(owned);
}

static void
ask_entry(ld_repl *r, uint32_t to, uint64_t op, const ld_checksum *c)
{
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_GET_PREPARE);
    m.op = op;
    m.checksum = *c;
    m.has_checksum = true;
    ldi_send(r, to, &m);
}

/* The replica to ask next: the primary first (it holds the whole view's log), then the others
 * in turn, one more at each REPAIR_TIMEOUT. */
static uint32_t
repair_target(const ld_repl *r)
{
    uint32_t base = ldi_primary_of(r, r->view);
    for (uint32_t i = 0; i < r->n; i++) {
        uint32_t t = (base + r->repair_rot + i) % r->n;
        if (t != r->self)
            return t;
    }
    LD_ASSERT(false);
    return 0;
}

void
ldi_sync_repair(ld_repl *r, int64_t now, bool force)
{
    bool backup = r->status == LD_REPL_NORMAL && r->installed;
    bool forming =
        r->status == LD_REPL_VIEW_CHANGE && r->vc_adopted && ldi_primary_of(r, r->view) == r->self;
    if (r->n == 1 || (!backup && !forming)) {
        r->repair_at = INT64_MAX;
        return;
    }
    bool need_break = !r->linked && r->break_op > r->commit_min;
    uint64_t lo = r->linked ? r->commit_min : r->break_op;
    bool need_bodies = false;
    for (uint64_t k = lo + 1; k <= r->op && !need_bodies; k++) {
        const ldi_ring_entry *s = ldi_ring_entry_cget(r, k);
        need_bodies = s != NULL && !s->has_body;
    }
    if (!need_break && !need_bodies) {
        r->repair_at = INT64_MAX;
        return;
    }
    if (r->repair_at == INT64_MAX)
        r->repair_at = now; /* something new to fetch */
    uint32_t to = repair_target(r);
    if (force && need_break) {
        ask_entry(r, to, r->break_op, &r->break_expect); /* walk the chain down at once */
        return;
    }
    if (now < r->repair_at)
        return;
    if (need_break)
        ask_entry(r, to, r->break_op, &r->break_expect);
    for (uint64_t k = lo + 1; k <= r->op; k++) {
        const ldi_ring_entry *s = ldi_ring_entry_cget(r, k);
        if (s != NULL && !s->has_body)
            ask_entry(r, to, k, &s->h.checksum);
    }
    r->repair_at = now + (int64_t)r->cfg.repair_timeout_ms;
    r->repair_rot++;
}

/* ---- fill: committed entries forward from commit_min (6.1) ---------------------------------- */

/* The highest op known committed: what the fill fetches up to. */
static uint64_t
fill_target(const ld_repl *r)
{
    return r->fill_commit > r->commit_max ? r->fill_commit : r->commit_max;
}

bool
ldi_sync_filling(const ld_repl *r)
{
    if (r->n == 1 || r->xfer.active || fill_target(r) <= r->commit_min)
        return false;
    if (r->status == LD_REPL_RECOVERING)
        return r->rec_installed;
    return r->status == LD_REPL_NORMAL && ldi_primary_of(r, r->view) != r->self;
}

/* Whether op k (in the window above commit_min) is to be fetched: no record at all, or -- while
 * the log is not the view's yet -- anything not known to be the committed entry. An installed
 * backup repairs the entries it has headers for by checksum (ldi_sync_repair). */
static bool
fill_wants(const ld_repl *r, uint64_t k)
{
    const ldi_ring_entry *s = ldi_ring_entry_cget(r, k);
    if (s == NULL)
        return true;
    bool installed = r->status == LD_REPL_NORMAL && r->installed;
    return !installed && (!s->committed || !s->has_body);
}

static void
ask_committed(ld_repl *r, uint32_t to, uint64_t op)
{
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_GET_PREPARE);
    m.op = op;
    m.has_checksum = false;
    ldi_send(r, to, &m);
}

void
ldi_sync_fill(ld_repl *r, int64_t now, bool force)
{
    if (!ldi_sync_filling(r)) {
        r->fill_at = INT64_MAX;
        return;
    }
    uint64_t hi = r->commit_min + LD_PEER_WINDOW_MAX;
    if (hi > fill_target(r))
        hi = fill_target(r);
    uint64_t lo = r->commit_min;
    bool round = r->fill_at == INT64_MAX || now >= r->fill_at;
    if (!round) {
        if (!force)
            return;
        if (r->fill_asked_hi > lo)
            lo = r->fill_asked_hi; /* the rest was asked in this round */
    } else {
        if (r->fill_at != INT64_MAX && r->commit_min == r->fill_round_cm)
            r->fill_rot++; /* a round without progress: the next replica */
        r->fill_at = now + (int64_t)r->cfg.repair_timeout_ms;
        r->fill_round_cm = r->commit_min;
    }
    /* The primary first, the next replica after each round without progress; never self. */
    uint32_t to = (ldi_primary_of(r, r->view) + r->fill_rot) % r->n;
    if (to == r->self)
        to = (to + 1) % r->n;
    LD_ASSERT(to != r->self);
    for (uint64_t k = lo + 1; k <= hi; k++)
        if (fill_wants(r, k))
            ask_committed(r, to, k);
    if (hi > r->fill_asked_hi || round)
        r->fill_asked_hi = hi;
}

void
ldi_sync_on_fill(ld_repl *r, const ld_repl_msg *m)
{
    const ld_entry_header *h = &m->entry;
    uint64_t k = h->op;
    if (r->status == LD_REPL_RECOVERING ? !r->rec_installed || r->xfer.active
                                        : r->status != LD_REPL_NORMAL)
        return;
    if (ldi_primary_of(r, r->view) == r->self || k <= r->commit_min ||
        k > r->commit_min + LD_PEER_WINDOW_MAX)
        return;
    if (k == r->commit_min + 1 && !ldi_cs_eq(&h->parent, &r->cm_checksum)) {
        r->stats.dropped++; /* not on the chain of what we applied: a bug somewhere */
        return;
    }
    ldi_ring_entry *s = ldi_ring_entry_get(r, k);
    bool same = s != NULL && ldi_cs_eq(&s->h.checksum, &h->checksum);
    if (!same && s != NULL && r->status == LD_REPL_NORMAL && r->installed &&
        (r->linked || k > r->break_op)) {
        /* The view's own linked log holds another entry at a committed op: cannot happen
         * (S1). Keep ours; the chain repair has the last word. */
        r->stats.dropped++;
        return;
    }
    if (!same || !s->has_body) {
        uint8_t *body = malloc(h->entry_size > 0 ? h->entry_size : 1);
        LD_ASSERT(body != NULL);
        if (h->entry_size > 0)
            memcpy(body, m->bytes, h->entry_size);
        ldi_log_write(r, h, body, true); /* an older view's entry at k is replaced (6.1) */
        r->stats.repairs++;
        r->stats.fills++;
        s = ldi_ring_entry_get(r, k);
    }
    LD_ASSERT(s != NULL);
    LD_ASSERT(s->has_body);
    s->committed = true;
    if (k > r->fill_commit)
        r->fill_commit = k;
}

/* ---- state transfer: responder ------------------------------------------------------------- */

static void
ckpt_free(ldi_ckpt *c)
{
    free(c->buf);
    memset(c, 0, sizeof *c);
}

/* The checksum and timestamp of entry op, for a checkpoint's anchor. */
static bool
anchor_of(ld_repl *r, uint64_t op, ld_checksum *cs, int64_t *ts)
{
    if (op == r->commit_min) {
        *cs = r->cm_checksum;
        *ts = r->cm_ts;
        return true;
    }
    if (op == r->anchor_op) {
        *cs = r->anchor_checksum;
        *ts = r->anchor_ts;
        return true;
    }
    const ldi_ring_entry *s = ldi_ring_entry_cget(r, op);
    if (s != NULL) {
        *cs = s->h.checksum;
        *ts = s->h.timestamp_ms;
        return true;
    }
    if (op <= r->log_start || op >= r->overwrite_min)
        return false;
    ld_entry_header h;
    uint8_t *body = ldi_log_read_body(r, op, NULL, &h);
    if (body == NULL)
        return false;
    free(body);
    *cs = h.checksum;
    *ts = h.timestamp_ms;
    return true;
}

static bool
ckpt_take(ld_repl *r, int64_t now)
{
    if (r->host.snapshot == NULL)
        return false;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t op = 0;
    if (r->host.snapshot(r->host.arg, &buf, &len, &op) != LD_OK)
        return false;
    ld_checksum cs;
    int64_t ts;
    if (len > LD_PEER_STATE_BYTES_MAX || op > r->commit_min || !anchor_of(r, op, &cs, &ts)) {
        free(buf);
        return false;
    }
    ckpt_free(&r->ckpt);
    r->ckpt.buf = buf;
    r->ckpt.len = len;
    r->ckpt.op = op;
    r->ckpt.checksum = cs;
    r->ckpt.ts = ts;
    r->ckpt.stream_checksum = stream_checksum(buf, len);
    r->ckpt.used_at = now;
    return true;
}

static void
new_state_init(ld_repl *r, ld_repl_msg *a, const ld_repl_msg *m)
{
    ldi_msg_init(r, a, LD_REPL_NEW_STATE);
    memcpy(a->nonce, m->nonce, 16);
    a->has_nonce = m->has_nonce;
    a->responder_normal = r->status == LD_REPL_NORMAL && r->installed;
    a->responder_op = r->op;
    a->responder_commit = r->commit_max;
}

void
ldi_sync_on_get_state(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    ld_repl_msg a;
    if (m->min_op == 0 && m->checkpoint_op == 0 && m->offset == 0) {
        /* a recovering replica's probe: who we are, no data */
        new_state_init(r, &a, m);
        a.last = true;
        ldi_send(r, m->replica, &a);
        return;
    }
    bool cached = r->ckpt.buf != NULL && r->ckpt.op >= m->min_op &&
                  (m->checkpoint_op == 0 || m->checkpoint_op == r->ckpt.op);
    uint64_t offset = m->offset;
    if (!cached) {
        if (!ckpt_take(r, now) || r->ckpt.op < m->min_op)
            return; /* nothing recent enough: the asker tries another replica */
        offset = 0; /* a new checkpoint: the asker restarts its stream */
    }
    if (m->checkpoint_op != r->ckpt.op)
        offset = 0;
    if (offset > r->ckpt.len)
        return;
    r->ckpt.used_at = now;
    size_t n = r->ckpt.len - offset;
    if (n > LD_PEER_STATE_CHUNK_BYTES)
        n = LD_PEER_STATE_CHUNK_BYTES;
    new_state_init(r, &a, m);
    a.checkpoint_op = r->ckpt.op;
    a.checkpoint_checksum = r->ckpt.checksum;
    a.checkpoint_timestamp_ms = r->ckpt.ts;
    a.total_bytes = r->ckpt.len;
    a.stream_checksum = r->ckpt.stream_checksum;
    a.offset = offset;
    a.bytes = r->ckpt.buf + offset;
    a.bytes_len = (uint32_t)n;
    a.last = offset + n == r->ckpt.len;
    ldi_send(r, m->replica, &a);
}

/* ---- state transfer: asker ----------------------------------------------------------------- */

static void
xfer_ask(ld_repl *r, int64_t now)
{
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_GET_STATE);
    m.min_op = r->xfer.min_op;
    memcpy(m.nonce, r->nonce, 16);
    m.has_nonce = true;
    m.checkpoint_op = r->xfer.checkpoint_op;
    m.offset = r->xfer.have;
    ldi_send(r, r->xfer.from, &m);
    r->xfer.asked_at = now;
}

static void
xfer_reset(ldi_xfer *x)
{
    free(x->buf);
    x->buf = NULL;
    x->checkpoint_op = 0;
    x->total = 0;
    x->have = 0;
}

void
ldi_sync_start_transfer(ld_repl *r, uint32_t from, uint64_t min_op, int64_t now)
{
    LD_ASSERT(from != r->self);
    if (r->xfer.active)
        return;
    xfer_reset(&r->xfer);
    r->xfer.active = true;
    r->xfer.from = from;
    /* A recovering replica may hold a checkpoint of an earlier attempt (commit_min): never go
     * back below it (S3); anyone else asks for something newer than what it has. */
    uint64_t floor = r->status == LD_REPL_RECOVERING ? r->commit_min : r->commit_min + 1;
    r->xfer.min_op = min_op > floor ? min_op : floor;
    if (r->xfer.min_op == 0)
        r->xfer.min_op = 1;
    r->xfer.retries = 0;
    LD_ASSERT(r->xfer.min_op >= 1);
    if (r->status != LD_REPL_RECOVERING)
        LD_ASSERT(r->xfer.min_op > r->commit_min); /* never back to a state we applied (S3) */
    xfer_ask(r, now);
}

/* Recovering with a state to build on: stop probing, restart the StartView timeout and ask
 * primary(view) for its StartView now (REPLICATION.md 7.3). */
static void
rec_await_start_view(ld_repl *r, int64_t now)
{
    LD_ASSERT(r->status == LD_REPL_RECOVERING);
    LD_ASSERT(r->rec_installed);
    r->rec_probing = false;
    r->rec_installed_at = now;
    r->rsv_at = 0;
    ldi_vc_request_start_view(r, r->view, now);
    LD_ASSERT(!r->rec_probing);
}

/* The verified checkpoint: install it and anchor the log at its op (one write with meta). */
static void
xfer_install(ld_repl *r, int64_t now)
{
    ldi_xfer *x = &r->xfer;
    LD_ASSERT(r->host.install != NULL);
    LD_ASSERT(x->active);
    LD_ASSERT(x->have == x->total);
    if (r->host.install(r->host.arg, x->buf, x->total, x->checkpoint_op) != LD_OK) {
        xfer_reset(x); /* did not decode: ask again */
        xfer_ask(r, now);
        return;
    }
    uint64_t c = x->checkpoint_op;
    if (r->status == LD_REPL_RECOVERING) {
        /* Nothing durable of its own (no meta): whatever an earlier attempt of this incarnation
         * installed or filled is replaced, its log records too. */
        ldi_log_del_range(r, r->log_start + 1, r->op);
        ldi_ring_clear(r);
        r->op = r->log_start = r->anchor_op = 0;
        r->commit_min = 0;
        r->commit_max = 0;
    }
    LD_ASSERT(c > r->commit_min); /* asked with min_op > commit_min */
    /* Our entries above the checkpoint stay if they continue its chain -- or if this replica is
     * the new primary forming its view: its log is the adopted one, which holds every committed
     * entry (REPLICATION.md §5.3), so the checkpoint (a committed state) lies on its chain even
     * where the log has a gap right above c; repair fills the gap from the parents. Truncating
     * there would drop committed entries the view must keep (S5). */
    const ldi_ring_entry *s = ldi_ring_entry_cget(r, c);
    const ldi_ring_entry *above = ldi_ring_entry_cget(r, c + 1);
    bool forming =
        r->status == LD_REPL_VIEW_CHANGE && r->vc_adopted && ldi_primary_of(r, r->view) == r->self;
    bool keep = forming || (s != NULL && ldi_cs_eq(&s->h.checksum, &x->checkpoint_checksum)) ||
                (above != NULL && ldi_cs_eq(&above->h.parent, &x->checkpoint_checksum));
    uint64_t old_top = r->op;
    if (r->op > c && !keep)
        ldi_log_truncate(r, c);
    /* The old log at and below the anchor is gone: delete it (bounded by the retained log). */
    if (old_top > c)
        old_top = c;
    ldi_log_del_range(r, r->log_start + 1, old_top);
    for (unsigned i = 0; i < LDI_REPL_RING; i++)
        if (r->ring[i].op != 0 && r->ring[i].op <= c)
            ldi_ring_entry_clear(&r->ring[i]);
    r->anchor_op = c;
    r->anchor_checksum = x->checkpoint_checksum;
    r->anchor_ts = x->checkpoint_ts;
    r->log_start = c;
    r->commit_min = c;
    r->cm_checksum = x->checkpoint_checksum;
    r->cm_ts = x->checkpoint_ts;
    if (r->op < c)
        r->op = c;
    if (r->commit_max < c)
        r->commit_max = c;
    r->canon_op = c;
    r->stats.state_transfers++;
    r->progress_at = now;
    xfer_reset(x);
    x->active = false;
    ldi_link_scan(r);
    LD_ASSERT(r->commit_min == c);
    LD_ASSERT(r->log_start == c);
    LD_ASSERT(r->anchor_op == c);
    LD_ASSERT(r->op >= c);
    LD_ASSERT(r->op - c <= LD_PEER_WINDOW_MAX);
    LD_ASSERT(r->commit_max >= c);
    r->fill_at = INT64_MAX;
    r->fill_asked_hi = c;
    if (r->status == LD_REPL_RECOVERING) {
        /* No meta yet: a crash now restarts the recovery (§7.3). The StartView's install
         * writes the first meta record, with the view's log_view. */
        r->rec_installed = true;
        r->rec_anchored = true;
        rec_await_start_view(r, now);
        LD_ASSERT(r->status == LD_REPL_RECOVERING);
        return;
    }
    ldi_meta_write(r);
    if (r->status == LD_REPL_NORMAL && r->installed) {
        ldi_apply_committed(r, now);
        ldi_send_prepare_ok(r, INT64_MIN, now);
    } else if (r->status == LD_REPL_NORMAL) {
        r->rsv_at = 0;
        ldi_vc_request_start_view(r, r->view, now);
    }
}

static void
on_probe_answer(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    LD_ASSERT(r->status == LD_REPL_RECOVERING);
    uint32_t i = m->replica;
    r->rec_have[i] = true;
    r->rec_view[i] = m->view;
    r->rec_normal[i] = m->responder_normal;
    r->rec_commit[i] = m->responder_commit;
    if (r->xfer.active || (r->rec_installed && !r->rec_probing))
        return;
    uint32_t count = 0;
    uint64_t v = 0;
    for (uint32_t k = 0; k < r->n; k++)
        if (r->rec_have[k]) {
            count++;
            if (r->rec_view[k] > v)
                v = r->rec_view[k];
        }
    if (count < r->q)
        return; /* f+1 answers from the others (§7.3) */
    uint32_t p = ldi_primary_of(r, v);
    if (p == r->self || !r->rec_have[p] || r->rec_view[p] != v || !r->rec_normal[p])
        return; /* a view change is under way, or that primary is down: keep asking */
    if (r->rec_installed) {
        /* A round after VC_TIMEOUT without StartView or fill progress: the StartView comes from
         * the view it found. It asked primary(view) all along; views never go back (the f+1
         * answers include a member of that view's quorum), so view only grows here. */
        LD_ASSERT(r->rec_probing);
        LD_ASSERT(p != r->self);
        if (v > r->view)
            r->view = v;
        rec_await_start_view(r, now);
        return;
    }
    r->view = v;
    if ((r->rec_commit[p] == 0 && r->commit_min == 0) || r->rec_anchored) {
        /* Nothing committed anywhere yet: the empty state is the checkpoint. Or this incarnation
         * already installed one (and maybe filled above it): the StartView of the view it found
         * now tells how far behind it is, and it fills from there (6.1); a new transfer would
         * bring nothing newer than what a fill fetches, and never anything older. */
        r->rec_installed = true;
        r->rec_installed_at = now;
        r->rsv_at = 0;
        ldi_vc_request_start_view(r, v, now);
        return;
    }
    ldi_sync_start_transfer(r, p, 1, now);
}

void
ldi_sync_on_new_state(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    if (!m->has_nonce || memcmp(m->nonce, r->nonce, 16) != 0)
        return; /* an answer to another incarnation's question */
    if (m->checkpoint_op == 0 && m->total_bytes == 0 && m->offset == 0 && m->bytes_len == 0) {
        if (r->status == LD_REPL_RECOVERING)
            on_probe_answer(r, m, now);
        return;
    }
    ldi_xfer *x = &r->xfer;
    if (!x->active || m->replica != x->from || m->checkpoint_op < x->min_op)
        return;
    if (m->checkpoint_op <= r->commit_min && r->status != LD_REPL_RECOVERING) {
        /* caught up meanwhile (repairs, prepares): the checkpoint is no longer needed */
        xfer_reset(x);
        x->active = false;
        return;
    }
    if (x->buf == NULL || m->checkpoint_op != x->checkpoint_op ||
        !ldi_cs_eq(&m->stream_checksum, &x->stream_checksum) || m->total_bytes != x->total) {
        if (m->offset != 0)
            return; /* a chunk of a checkpoint we did not start */
        xfer_reset(x);
        x->buf = malloc(m->total_bytes > 0 ? m->total_bytes : 1);
        if (x->buf == NULL)
            return;
        x->checkpoint_op = m->checkpoint_op;
        x->checkpoint_checksum = m->checkpoint_checksum;
        x->checkpoint_ts = m->checkpoint_timestamp_ms;
        x->total = m->total_bytes;
        x->stream_checksum = m->stream_checksum;
    }
    if (m->offset != x->have)
        return; /* a duplicate or out of order: we ask for what we need */
    if (m->bytes_len > 0)
        memcpy(x->buf + x->have, m->bytes, m->bytes_len);
    x->have += m->bytes_len;
    x->retries = 0;
    if (x->have < x->total) {
        xfer_ask(r, now);
        return;
    }
    ld_checksum c = stream_checksum(x->buf, x->total);
    if (!ldi_cs_eq(&c, &x->stream_checksum)) {
        xfer_reset(x);
        xfer_ask(r, now);
        return;
    }
    xfer_install(r, now);
}

static void
probe(ld_repl *r, int64_t now)
{
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_GET_STATE);
    memcpy(m.nonce, r->nonce, 16);
    m.has_nonce = true;
    for (uint32_t i = 0; i < r->n; i++)
        if (i != r->self)
            ldi_send(r, i, &m);
    r->rec_at = now + (int64_t)r->cfg.vc_retry_ms;
}

/* ---- trimming, ticks ------------------------------------------------------------------------ */

void
ldi_sync_trim(ld_repl *r)
{
    if (r->commit_min <= r->cfg.log_retain)
        return;
    uint64_t target = r->commit_min - r->cfg.log_retain;
    if (target <= r->log_start)
        return;
    if (target - r->log_start > LDI_REPL_TRIM_BATCH)
        target = r->log_start + LDI_REPL_TRIM_BATCH;
    ldi_log_del_range(r, r->log_start + 1, target);
    for (uint64_t k = r->log_start + 1; k <= target; k++) {
        ldi_ring_entry *s = ldi_ring_entry_get(r, k);
        if (s != NULL)
            ldi_ring_entry_clear(s);
    }
    r->log_start = target;
    LD_ASSERT(r->log_start < r->commit_min); /* log_retain >= 1 entry stays below it */
    ldi_meta_write(r);
}

/* Fill that made no progress for REPAIR_TIMEOUT x (n + 1) -- every replica asked in turn, none
 * answered: the entries right above commit_min are gone from every log (trimmed below a
 * checkpoint). Only then a state transfer, for a checkpoint above commit_min. An installed backup
 * also gets here when nobody gave it committed entries beyond its window some other way. */
static void
fill_fallback(ld_repl *r, int64_t now)
{
    bool behind = ldi_sync_filling(r) && !ldi_is_primary(r);
    if (!behind) {
        r->progress_at = now;
        return;
    }
    if (now - r->progress_at < (int64_t)r->cfg.repair_timeout_ms * (r->n + 1))
        return;
    r->fill_at = INT64_MAX;
    ldi_sync_start_transfer(r, ldi_primary_of(r, r->view), r->commit_min + 1, now);
}

void
ldi_sync_tick(ld_repl *r, int64_t now)
{
    if (r->ckpt.buf != NULL && now - r->ckpt.used_at >= LDI_REPL_STATE_IDLE_MS)
        ckpt_free(&r->ckpt);
    if (r->status == LD_REPL_RECOVERING) {
        if (r->rec_probing)
            LD_ASSERT(r->rec_installed);
        if (r->rec_installed && !r->rec_probing &&
            now - r->rec_installed_at >= (int64_t)r->cfg.vc_timeout_ms) {
            /* No StartView from primary(view) and no fill progress: the view may have moved on.
             * Probe everybody again for it (an anchored replica then asks the new primary, no
             * transfer) -- and keep asking primary(view) and taking its StartView meanwhile: a
             * replica caught up with an idle primary makes no fill progress, an install longer
             * than VC_TIMEOUT times out at once, and a round that lacks an answer must not keep
             * it from the StartView that makes it normal (REPLICATION.md 7.3). */
            r->rec_probing = true;
            memset(r->rec_have, 0, sizeof r->rec_have);
            r->rec_at = now;
        }
        if (r->rec_installed)
            ldi_vc_request_start_view(r, r->view, now);
        if ((!r->rec_installed || r->rec_probing) && !r->xfer.active && now >= r->rec_at)
            probe(r, now);
    }
    ldi_xfer *x = &r->xfer;
    if (x->active && now - x->asked_at >= (int64_t)r->cfg.repair_timeout_ms) {
        if (++x->retries >= 3) {
            /* that responder is gone or has nothing recent enough: the next one */
            x->retries = 0;
            xfer_reset(x);
            uint32_t from = x->from;
            do
                from = (from + 1) % r->n;
            while (from == r->self);
            x->from = from;
        }
        xfer_ask(r, now);
    }
    ldi_sync_fill(r, now, false);
    fill_fallback(r, now);
    if (r->status == LD_REPL_RECOVERING)
        return;
    ldi_sync_repair(r, now, false);
    ldi_sync_trim(r);
}

int64_t
ldi_sync_deadline(const ld_repl *r)
{
    int64_t d = r->repair_at;
    if (r->xfer.active && r->xfer.asked_at + (int64_t)r->cfg.repair_timeout_ms < d)
        d = r->xfer.asked_at + (int64_t)r->cfg.repair_timeout_ms;
    if (r->status == LD_REPL_RECOVERING && r->rec_at < d)
        d = r->rec_at;
    if (ldi_sync_filling(r) && !ldi_is_primary(r)) {
        int64_t t = r->progress_at + (int64_t)r->cfg.repair_timeout_ms * (r->n + 1);
        if (t < d)
            d = t;
        if (r->fill_at < d)
            d = r->fill_at;
    }
    if (r->ckpt.buf != NULL && r->ckpt.used_at + LDI_REPL_STATE_IDLE_MS < d)
        d = r->ckpt.used_at + LDI_REPL_STATE_IDLE_MS;
    return d;
}

void
ldi_sync_free(ld_repl *r)
{
    ckpt_free(&r->ckpt);
    xfer_reset(&r->xfer);
}
