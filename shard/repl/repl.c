/*
 * repl.c -- the replica's normal path (REPLICATION.md §4): prepare on the primary, the backups'
 * append and PrepareOk, commit at a quorum, apply in op order, Commit heartbeats, resends and the
 * read lease; plus message validation and dispatch, ticks and queries.
 *
 * Durability follows the host rule of repl.h: a record put in a call is durable before any
 * effect of that call leaves the host, so "written" here means "durable when anybody hears of
 * it" -- a PrepareOk sent in the call that put the entry, or the primary's self-ack, is safe.
 */
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

/* ---- helpers ----------------------------------------------------------------------------- */

uint32_t
ldi_primary_of(const ld_repl *r, uint64_t view)
{
    return (uint32_t)(view % r->n);
}

bool
ldi_is_primary(const ld_repl *r)
{
    return r->status == LD_REPL_NORMAL && r->installed && ldi_primary_of(r, r->view) == r->self;
}

void
ldi_msg_init(const ld_repl *r, ld_repl_msg *m, ld_repl_kind kind)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->cluster_id = r->cfg.cluster_id;
    m->shard_id = r->cfg.shard_id;
    m->replica = r->self;
    m->view = r->view;
}

void
ldi_send(ld_repl *r, uint32_t to, const ld_repl_msg *m)
{
    LD_ASSERT(to < r->n);
    LD_ASSERT(to != r->self);
    r->host.send(r->host.arg, to, m, false);
}

static int64_t
head_ts(const ld_repl *r)
{
    if (r->op == r->commit_min)
        return r->cm_ts;
    const ldi_ring_entry *s = ldi_ring_entry_cget(r, r->op);
    LD_ASSERT(s != NULL);
    return s->h.timestamp_ms;
}

uint32_t
ldi_suffix_headers(const ld_repl *r, ld_entry_header *out, uint64_t *suffix_from)
{
    uint32_t n = 0;
    uint64_t k = r->op;
    ld_checksum expect;
    while (k > r->log_start && n < LD_PEER_DVC_HEADERS_MAX) {
        const ldi_ring_entry *s = ldi_ring_entry_cget(r, k);
        if (s == NULL || (n > 0 && !ldi_cs_eq(&s->h.checksum, &expect)))
            break;
        out[n++] = s->h;
        expect = s->h.parent;
        k--;
    }
    *suffix_from = k;
    return n;
}

/* ---- invariants (repl_int.h, struct ld_repl) ------------------------------------------------ */

/* Recovery and state transfer: ldi_repl_invariants()' share. */
static void
sync_invariants(const ld_repl *r)
{
    if (r->status == LD_REPL_RECOVERING)
        LD_ASSERT(r->lost_op == 0);
    if (r->rec_installed)
        LD_ASSERT(r->status == LD_REPL_RECOVERING);
    if (r->rec_probing) {
        LD_ASSERT(r->status == LD_REPL_RECOVERING);
        LD_ASSERT(r->rec_installed);
    }
    if (r->status == LD_REPL_RECOVERING && r->rec_anchored)
        LD_ASSERT(r->rec_installed);
    if (r->xfer.active) {
        LD_ASSERT(r->xfer.from < r->n);
        LD_ASSERT(r->xfer.from != r->self);
    }
    if (r->ckpt.buf != NULL)
        LD_ASSERT(r->ckpt.op <= r->commit_min);
}

void
ldi_repl_invariants(const ld_repl *r)
{
    LD_ASSERT(r != NULL);
    LD_ASSERT(r->n == 1 || r->n == 3 || r->n == 5);
    LD_ASSERT(r->q == r->n / 2 + 1);
    LD_ASSERT(r->self < r->n);
    LD_ASSERT(r->status >= LD_REPL_NORMAL);
    LD_ASSERT(r->status <= LD_REPL_RECOVERING);

    /* views and status */
    LD_ASSERT(r->log_view <= r->view);
    if (r->status == LD_REPL_VIEW_CHANGE)
        LD_ASSERT(r->log_view < r->view);
    if (r->installed)
        LD_ASSERT(r->status == LD_REPL_NORMAL);
    if (r->installed && r->n > 1)
        LD_ASSERT(r->log_view == r->view);
    if (r->n == 1) {
        LD_ASSERT(r->status == LD_REPL_NORMAL);
        LD_ASSERT(r->installed);
    }

    /* the log */
    LD_ASSERT(r->commit_min <= r->commit_max);
    LD_ASSERT(r->log_start <= r->commit_min);
    LD_ASSERT(r->anchor_op <= r->log_start);
    if (r->linked)
        LD_ASSERT(r->break_op == 0);
    bool anchored = r->status != LD_REPL_RECOVERING || r->rec_installed;
    if (anchored) {
        LD_ASSERT(r->commit_min <= r->op);
        LD_ASSERT(r->op - r->commit_min <= LD_PEER_WINDOW_MAX);
        LD_ASSERT(r->commit_min <= r->canon_op);
        LD_ASSERT(r->canon_op <= r->op);
        if (r->op > r->commit_min)
            LD_ASSERT(ldi_ring_entry_cget(r, r->op) != NULL); /* the head has its slot */
    }

    /* the primary */
    if (ldi_is_primary(r)) {
        LD_ASSERT(r->canon_op == r->op);
        LD_ASSERT(r->commit_max <= r->op);
        LD_ASSERT(r->view_start_op <= r->op);
        LD_ASSERT(!r->voting);
    }

    /* view change */
    if (r->voting) {
        LD_ASSERT(r->status != LD_REPL_RECOVERING);
        LD_ASSERT(r->vote_view > r->view);
    }
    if (r->status == LD_REPL_VIEW_CHANGE && r->vc_adopted)
        LD_ASSERT(ldi_primary_of(r, r->view) == r->self);

    sync_invariants(r);
}

/* ---- primary ----------------------------------------------------------------------------- */

void
ldi_primary_begin(ld_repl *r, int64_t now)
{
    LD_ASSERT(r->status == LD_REPL_NORMAL);
    LD_ASSERT(ldi_primary_of(r, r->view) == r->self);
    r->installed = true;
    r->voting = false;
    memset(r->svc_votes, 0, sizeof r->svc_votes);
    for (uint32_t b = 0; b < r->n; b++) {
        r->acked[b] = 0;
        r->lease_at[b] = INT64_MIN;
        r->resend_at[b] = now;
        r->resend_ms[b] = r->cfg.prepare_resend_ms;
    }
    r->commit_sent_at = now - (int64_t)r->cfg.commit_interval_ms; /* heartbeat at once */
    r->view_start_op = r->op;
    r->canon_op = r->op;
    r->heard_at = now;
    LD_ASSERT(ldi_is_primary(r));
    LD_ASSERT(!r->voting);
}

/* Commits the highest op acknowledged by a quorum (self included), then applies. */
static void
commit_advance(ld_repl *r, int64_t now)
{
    uint64_t v[LD_PEER_REPLICAS_MAX];
    for (uint32_t i = 0; i < r->n; i++)
        v[i] = i == r->self ? r->op : (r->acked[i] < r->op ? r->acked[i] : r->op);
    /* q-th largest (n <= 5: insertion sort, descending) */
    for (uint32_t i = 1; i < r->n; i++)
        for (uint32_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
            uint64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    uint64_t c = v[r->q - 1];
#ifdef LD_PLANT_BUG_COMMIT_EARLY
    c = r->op; /* PLANTED BUG: commit at the primary's own ack, before a quorum has the entry */
#endif
    LD_ASSERT(c <= r->op);
    if (c > r->commit_max) {
        r->commit_max = c;
        ldi_meta_write(r);
    }
    ldi_apply_committed(r, now);
    LD_ASSERT(r->commit_min <= r->commit_max);
}

static void
send_prepare(ld_repl *r, uint32_t to, const ldi_ring_entry *s, const uint8_t *body)
{
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_PREPARE);
    m.entry = s->h;
    m.bytes = body;
    m.bytes_len = s->h.entry_size;
    m.commit = r->commit_max;
    ldi_send(r, to, &m);
    r->stats.prepares_sent++;
}

/* Resends the unacked prepares of backup b (a pipeline's worth, oldest first). */
static void
resend(ld_repl *r, uint32_t b, int64_t now)
{
    uint64_t from = r->acked[b] + 1;
    uint64_t to = from + LD_PEER_PIPELINE_MAX - 1 < r->op ? from + LD_PEER_PIPELINE_MAX - 1 : r->op;
    for (uint64_t k = from; k <= to; k++) {
        const ldi_ring_entry *s = ldi_ring_entry_cget(r, k);
        if (s == NULL || !s->has_body)
            continue; /* left the window: that backup catches up by fill (6.1) */
        if (s->body != NULL) {
            send_prepare(r, b, s, s->body);
            continue;
        }
        uint8_t *body = ldi_log_read_body(r, k, &s->h.checksum, NULL);
        if (body != NULL)
            send_prepare(r, b, s, body);
        free(body);
    }
    r->resend_at[b] = now + r->resend_ms[b];
    uint32_t next = r->resend_ms[b] * 2;
    r->resend_ms[b] = next < r->cfg.prepare_resend_max_ms ? next : r->cfg.prepare_resend_max_ms;
}

static void
send_commits(ld_repl *r, int64_t now)
{
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_COMMIT);
    m.commit = r->commit_max;
    bool ok = ldi_checksum_of(r, r->commit_max, &m.checksum);
    LD_ASSERT(ok); /* commit_max is applied or in the window on the primary */
    m.ping_ms = now;
    m.has_ping = true;
    for (uint32_t b = 0; b < r->n; b++)
        if (b != r->self)
            ldi_send(r, b, &m);
    r->commit_sent_at = now;
}

static void
primary_tick(ld_repl *r, int64_t now)
{
    /* Heartbeat every COMMIT_INTERVAL, busy or idle: it carries the lease ping (a simplification
     * of "when idle", REPLICATION.md §4.6). */
    if (now - r->commit_sent_at >= (int64_t)r->cfg.commit_interval_ms)
        send_commits(r, now);
    for (uint32_t b = 0; b < r->n; b++)
        if (b != r->self && r->acked[b] < r->op && now >= r->resend_at[b])
            resend(r, b, now);
}

static void
on_prepare_ok(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    if (m->view > r->view) {
        ldi_vc_request_start_view(r, m->view, now);
        return;
    }
    if (!ldi_is_primary(r) || m->view != r->view)
        return;
    uint32_t b = m->replica;
    ld_checksum c;
    if (m->op > r->op || !ldi_checksum_of(r, m->op, &c) || !ldi_cs_eq(&c, &m->checksum))
        return; /* an ack of another log (older view) or too old to check: not counted */
    if (m->op > r->acked[b]) {
        r->acked[b] = m->op;
        r->resend_ms[b] = r->cfg.prepare_resend_ms;
        r->resend_at[b] = now + r->resend_ms[b];
    }
    if (m->has_ping && m->ping_ms <= now && m->ping_ms > r->lease_at[b])
        r->lease_at[b] = m->ping_ms;
    commit_advance(r, now);
}

/* ---- backup ------------------------------------------------------------------------------ */

static bool
is_installed_backup(const ld_repl *r)
{
    return r->status == LD_REPL_NORMAL && r->installed && ldi_primary_of(r, r->view) != r->self;
}

void
ldi_send_prepare_ok(ld_repl *r, int64_t ping, int64_t now)
{
    if (!is_installed_backup(r))
        return;
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_PREPARE_OK);
    m.op = r->canon_op;
    bool ok = ldi_checksum_of(r, r->canon_op, &m.checksum);
    LD_ASSERT(ok);
    if (ping != INT64_MIN) {
        m.ping_ms = ping;
        m.has_ping = true;
    }
    bool early = false;
#ifdef LD_PLANT_BUG_ACK_EARLY
    early = true; /* PLANTED BUG: the ack may leave before the entry it covers is durable */
#endif
    r->host.send(r->host.arg, ldi_primary_of(r, r->view), &m, early);
    r->ack_sent_at = now;
}

void
ldi_accept_entry(ld_repl *r, const ld_repl_msg *m, bool canonical, int64_t now)
{
    (void)now;
    const ld_entry_header *h = &m->entry;
    uint64_t k = h->op;
    if (r->status == LD_REPL_RECOVERING || k <= r->commit_min)
        return;
    if (k > r->commit_min + LD_PEER_WINDOW_MAX)
        return; /* beyond the window: resent or repaired once the replica has caught up */
    ldi_ring_entry *s = ldi_ring_entry_get(r, k);
    if (s != NULL && ldi_cs_eq(&s->h.checksum, &h->checksum)) {
        if (!s->has_body) {
            uint8_t *body = malloc(h->entry_size > 0 ? h->entry_size : 1);
            LD_ASSERT(body != NULL);
            if (h->entry_size > 0)
                memcpy(body, m->bytes, h->entry_size);
            ldi_log_write(r, h, body, true);
            r->stats.repairs++;
        }
        return;
    }
    bool expected = !r->linked && k == r->break_op && ldi_cs_eq(&r->break_expect, &h->checksum);
    if (!canonical && !expected)
        return;
    if (!expected) {
        /* A prepare of this view from its primary. It may replace an entry only below the break
         * (an old view's entry not yet repaired); above it the log is the view's own, where a
         * different entry at the same op cannot exist (REPLICATION.md §4.3: stop, a bug). */
        if (s != NULL && (r->linked || k > r->break_op)) {
            r->stats.dropped++;
            return;
        }
        ld_checksum below;
        if (k == r->op + 1 && ldi_checksum_of(r, r->op, &below) && r->linked &&
            !ldi_cs_eq(&below, &h->parent)) {
            r->stats.dropped++;
            return;
        }
    }
    uint8_t *body = malloc(h->entry_size > 0 ? h->entry_size : 1);
    LD_ASSERT(body != NULL);
    if (h->entry_size > 0)
        memcpy(body, m->bytes, h->entry_size);
    if (expected)
        r->stats.repairs++;
    ldi_log_write(r, h, body, true);
}

/* After the log changed: relink, and per status apply / acknowledge / continue forming. */
static void
after_log_change(ld_repl *r, uint64_t canon_before, int64_t now)
{
    ldi_link_scan(r);
    if (is_installed_backup(r)) {
        ldi_apply_committed(r, now);
        if (r->canon_op != canon_before)
            ldi_send_prepare_ok(r, INT64_MIN, now);
    } else if (r->status == LD_REPL_VIEW_CHANGE && r->vc_adopted) {
        ldi_vc_try_form(r, now);
        if (r->status != LD_REPL_VIEW_CHANGE)
            return;
    }
    ldi_sync_repair(r, now, !r->linked);
    ldi_sync_fill(r, now, true); /* a commit learned may bring committed ops into the window */
}

static void
learn_commit(ld_repl *r, uint64_t commit)
{
    if (commit > r->commit_max) {
        r->commit_max = commit;
        ldi_meta_write(r);
    }
}

/* An answer to a fill request (REPLICATION.md 6.1): a committed entry, from any replica of any
 * view. Applied as soon as it chains onto commit_min; the ops that came into the window are
 * asked for at once. */
static void
on_fill_answer(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    uint64_t canon_before = r->canon_op;
    ldi_sync_on_fill(r, m);
    ldi_apply_filled(r, now);
    if (r->status == LD_REPL_NORMAL)
        after_log_change(r, canon_before, now);
    ldi_sync_fill(r, now, true);
}

static void
on_prepare(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    if (m->committed) {
        on_fill_answer(r, m, now);
        return;
    }
    if (m->view > r->view) {
        ldi_vc_request_start_view(r, m->view, now);
        return;
    }
    bool from_primary = m->view == r->view && m->replica == ldi_primary_of(r, r->view);
    if (from_primary && r->status == LD_REPL_NORMAL) {
        ldi_vc_heard(r, now);
        if (!r->installed) {
            ldi_vc_request_start_view(r, r->view, now);
            return;
        }
    }
    bool canonical = from_primary && is_installed_backup(r) && m->entry.view == r->view;
    uint64_t canon_before = r->canon_op;
    uint64_t head_before = r->op;
    bool had = false;
    ldi_ring_entry *s = ldi_ring_entry_get(r, m->entry.op);
    if (s != NULL && s->has_body && ldi_cs_eq(&s->h.checksum, &m->entry.checksum))
        had = true;
    ldi_accept_entry(r, m, canonical, now);
    if (from_primary && is_installed_backup(r))
        learn_commit(r, m->commit);
    after_log_change(r, canon_before, now);
    (void)head_before;
    /* A duplicate (resend) is re-acknowledged: the first ack may have been lost. */
    if (from_primary && is_installed_backup(r) && had && r->canon_op == canon_before)
        ldi_send_prepare_ok(r, INT64_MIN, now);
}

static void
on_commit(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    if (m->view > r->view) {
        ldi_vc_request_start_view(r, m->view, now);
        return;
    }
    if (m->view != r->view || m->replica != ldi_primary_of(r, r->view) ||
        r->status != LD_REPL_NORMAL)
        return;
    ldi_vc_heard(r, now);
    if (!r->installed) {
        ldi_vc_request_start_view(r, r->view, now);
        return;
    }
    learn_commit(r, m->commit);
    ldi_apply_committed(r, now);
    ldi_send_prepare_ok(r, m->has_ping ? m->ping_ms : INT64_MIN, now);
    ldi_sync_fill(r, now, true);
}

/* ---- validation ---------------------------------------------------------------------------- */

static bool
headers_valid(const ld_repl_msg *m)
{
    if (m->headers_len > LD_PEER_DVC_HEADERS_MAX || (m->headers_len > 0 && m->headers == NULL))
        return false;
    if (m->op < m->suffix_from || m->op - m->suffix_from != m->headers_len)
        return false;
    for (uint32_t i = 0; i < m->headers_len; i++) {
        const ld_entry_header *h = &m->headers[i];
        if (h->op != m->op - i || h->op == 0 || h->view > m->view ||
            h->entry_size > LD_PEER_ENTRY_BYTES_MAX)
            return false;
        if (i > 0 && !ldi_cs_eq(&m->headers[i - 1].parent, &h->checksum))
            return false; /* not a chain */
        if (i > 0 && m->headers[i - 1].timestamp_ms < h->timestamp_ms)
            return false;
    }
    return true;
}

static bool
msg_valid(const ld_repl *r, const ld_repl_msg *m)
{
    if (m->cluster_id != r->cfg.cluster_id || m->shard_id != r->cfg.shard_id)
        return false;
    if (m->replica >= r->n || m->replica == r->self)
        return false;
    if (m->bytes_len > 0 && m->bytes == NULL)
        return false;
    switch (m->kind) {
    case LD_REPL_PREPARE: {
        const ld_entry_header *h = &m->entry;
        if (h->op == 0 || h->view > m->view || h->entry_size != m->bytes_len ||
            m->bytes_len > LD_PEER_ENTRY_BYTES_MAX)
            return false;
        if (h->op == 1 && !ldi_cs_zero(&h->parent))
            return false;
        ld_checksum c =
            ld_repl_entry_checksum(r->cfg.cluster_id, r->cfg.shard_id, h, m->bytes, m->bytes_len);
        return ldi_cs_eq(&c, &h->checksum);
    }
    case LD_REPL_PREPARE_OK:
    case LD_REPL_COMMIT:
    case LD_REPL_START_VIEW_CHANGE:
    case LD_REPL_REQUEST_START_VIEW:
        return true;
    case LD_REPL_DO_VIEW_CHANGE:
        return m->log_view < m->view && m->commit_min <= m->op && headers_valid(m);
    case LD_REPL_START_VIEW:
        return m->commit <= m->op && headers_valid(m);
    case LD_REPL_GET_PREPARE:
        return m->op > 0;
    case LD_REPL_GET_STATE:
        return true;
    case LD_REPL_NEW_STATE:
        return m->bytes_len <= LD_PEER_STATE_CHUNK_BYTES &&
               m->total_bytes <= LD_PEER_STATE_BYTES_MAX && m->offset <= m->total_bytes &&
               m->bytes_len <= m->total_bytes - m->offset;
    }
    return false;
}

static void
dispatch(ld_repl *r, const ld_repl_msg *msg, int64_t now)
{
    if (!msg_valid(r, msg)) {
        r->stats.dropped++;
        return;
    }
    if (r->status == LD_REPL_RECOVERING && msg->kind != LD_REPL_NEW_STATE &&
        msg->kind != LD_REPL_START_VIEW && !(msg->kind == LD_REPL_PREPARE && msg->committed))
        return; /* a replica without its disk takes part in nothing until recovered */
    switch (msg->kind) {
    case LD_REPL_PREPARE:
        on_prepare(r, msg, now);
        break;
    case LD_REPL_PREPARE_OK:
        on_prepare_ok(r, msg, now);
        break;
    case LD_REPL_COMMIT:
        on_commit(r, msg, now);
        break;
    case LD_REPL_START_VIEW_CHANGE:
        ldi_vc_on_svc(r, msg, now);
        break;
    case LD_REPL_DO_VIEW_CHANGE:
        ldi_vc_on_dvc(r, msg, now);
        break;
    case LD_REPL_START_VIEW:
        ldi_vc_on_start_view(r, msg, now);
        break;
    case LD_REPL_REQUEST_START_VIEW:
        ldi_vc_on_rsv(r, msg, now);
        break;
    case LD_REPL_GET_PREPARE:
        ldi_sync_on_get_prepare(r, msg, now);
        break;
    case LD_REPL_GET_STATE:
        ldi_sync_on_get_state(r, msg, now);
        break;
    case LD_REPL_NEW_STATE:
        ldi_sync_on_new_state(r, msg, now);
        break;
    }
}

void
ld_repl_on_message(ld_repl *r, const ld_repl_msg *msg, int64_t now)
{
    LD_ASSERT(r != NULL);
    LD_ASSERT(msg != NULL);
    uint64_t view_before = r->view;
    dispatch(r, msg, now);
    LD_ASSERT(r->view >= view_before); /* views never go back */
    ldi_repl_invariants(r);
}

void
ld_repl_on_tick(ld_repl *r, int64_t now)
{
    LD_ASSERT(r != NULL);
    uint64_t view_before = r->view;
    if (ldi_is_primary(r) && r->n > 1)
        primary_tick(r, now);
    if (r->status != LD_REPL_RECOVERING && r->linked)
        ldi_apply_committed(r, now); /* bodies put in an earlier call are readable by now */
    if (r->status != LD_REPL_VIEW_CHANGE)
        ldi_apply_filled(r, now);
    ldi_vc_tick(r, now);
    ldi_sync_tick(r, now);
    LD_ASSERT(r->view >= view_before);
    ldi_repl_invariants(r);
}

/* ---- the primary's entry point ------------------------------------------------------------ */

uint64_t
ld_repl_next_op(const ld_repl *r)
{
    return r->op + 1;
}

int64_t
ld_repl_head_timestamp(const ld_repl *r)
{
    return head_ts(r);
}

bool
ld_repl_can_prepare(const ld_repl *r)
{
    return ldi_is_primary(r) && r->op - r->commit_max < LD_PEER_PIPELINE_MAX &&
           r->op - r->commit_min < LD_PEER_WINDOW_MAX;
}

static ld_err
prepare(ld_repl *r, const uint8_t *entry, uint32_t len, int64_t ts, int64_t now)
{
    if (!ldi_is_primary(r))
        return LD_ERR_NOT_PRIMARY;
    if (len > LD_PEER_ENTRY_BYTES_MAX)
        return LD_ERR_FRAME_TOO_LARGE;
    if (!ld_repl_can_prepare(r))
        return LD_ERR_BUSY;
    LD_ASSERT(ts >= head_ts(r)); /* the host takes max(wall clock, ld_repl_head_timestamp()) */
    ld_entry_header h = {.op = r->op + 1, .view = r->view, .timestamp_ms = ts, .entry_size = len};
    bool ok = ldi_checksum_of(r, r->op, &h.parent);
    LD_ASSERT(ok);
    if (h.op == 1)
        memset(&h.parent, 0, sizeof h.parent);
    h.checksum = ld_repl_entry_checksum(r->cfg.cluster_id, r->cfg.shard_id, &h, entry, len);
    uint8_t *body = malloc(len > 0 ? len : 1);
    if (body == NULL)
        return LD_ERR_NOMEM;
    if (len > 0)
        memcpy(body, entry, len);
    ldi_log_write(r, &h, body, true);
    LD_ASSERT(r->op == h.op);
    r->canon_op = r->op;
    const ldi_ring_entry *s = ldi_ring_entry_cget(r, h.op);
    LD_ASSERT(s != NULL);
    for (uint32_t b = 0; b < r->n; b++) {
        if (b == r->self)
            continue;
        send_prepare(r, b, s, s->body);
        if (r->acked[b] + 1 == h.op) {
            /* it was caught up: its resend clock starts with this prepare */
            r->resend_ms[b] = r->cfg.prepare_resend_ms;
            r->resend_at[b] = now + r->resend_ms[b];
        }
    }
    commit_advance(r, now); /* n == 1: commits and applies here */
    /* ld_repl_can_prepare() held: the pipeline and the window take this entry */
    LD_ASSERT(r->op - r->commit_max <= LD_PEER_PIPELINE_MAX);
    LD_ASSERT(r->op - r->commit_min <= LD_PEER_WINDOW_MAX);
    return LD_OK;
}

ld_err
ld_repl_prepare(ld_repl *r, const uint8_t *entry, uint32_t len, int64_t ts, int64_t now)
{
    LD_ASSERT(r != NULL);
    if (len > 0)
        LD_ASSERT(entry != NULL);
    ld_err err = prepare(r, entry, len, ts, now);
    ldi_repl_invariants(r);
    return err;
}

/* ---- queries ------------------------------------------------------------------------------ */

void
ld_repl_state_get(const ld_repl *r, ld_repl_state *out)
{
    LD_ASSERT(r != NULL);
    LD_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    out->status = r->status;
    out->primary = ldi_is_primary(r);
    out->replica = r->self;
    out->replica_count = r->n;
    out->view = r->view;
    out->log_view = r->log_view;
    out->op = r->op;
    out->commit_max = r->commit_max;
    out->commit_min = r->commit_min;
    out->log_start = r->log_start;
    out->lost_op = r->lost_op;
    out->primary_index = ldi_primary_of(r, r->view);
}

bool
ld_repl_can_read(const ld_repl *r, int64_t now)
{
    if (!ldi_is_primary(r) || r->commit_min < r->view_start_op)
        return false;
    if (r->n == 1)
        return true;
    /* lease_start = the q-th greatest of the acked ping times, "now" counting for itself */
    int64_t v[LD_PEER_REPLICAS_MAX];
    for (uint32_t i = 0; i < r->n; i++)
        v[i] = i == r->self ? now : r->lease_at[i];
    for (uint32_t i = 1; i < r->n; i++)
        for (uint32_t j = i; j > 0 && v[j] > v[j - 1]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    int64_t start = v[r->q - 1];
    return start != INT64_MIN && now < start + (int64_t)r->cfg.lease_ms;
}

int64_t
ld_repl_next_deadline(const ld_repl *r)
{
    int64_t d = INT64_MAX;
    if (ldi_is_primary(r) && r->n > 1) {
        d = r->commit_sent_at + (int64_t)r->cfg.commit_interval_ms;
        for (uint32_t b = 0; b < r->n; b++)
            if (b != r->self && r->acked[b] < r->op && r->resend_at[b] < d)
                d = r->resend_at[b];
    }
    int64_t v = ldi_vc_deadline(r);
    if (v < d)
        d = v;
    v = ldi_sync_deadline(r);
    if (v < d)
        d = v;
    return d;
}

void
ld_repl_stats_get(const ld_repl *r, ld_repl_stats *out)
{
    LD_ASSERT(r != NULL);
    LD_ASSERT(out != NULL);
    *out = r->stats;
}
