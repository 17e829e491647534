/*
 * repl_vc.c -- view change (REPLICATION.md §5): the StartViewChange pre-vote with a quorum that
 * includes the voter, the durable move to the new view before DoViewChange, the new primary's
 * choice of the log with the highest (log_view, op), truncation and repair of its own log to it,
 * the durable log_view, StartView and the backups' install; RequestStartView for replicas that
 * saw a higher view or restarted.
 */
#include <stdlib.h>
#include <string.h>

#include "repl_int.h"

void
ldi_vc_heard(ld_repl *r, int64_t now)
{
    r->heard_at = now;
    r->voting = false;
    memset(r->svc_votes, 0, sizeof r->svc_votes);
}

void
ldi_vc_request_start_view(ld_repl *r, uint64_t view, int64_t now)
{
    if (r->status == LD_REPL_RECOVERING && !r->rec_installed)
        return;
    uint32_t to = ldi_primary_of(r, view);
    if (to == r->self)
        return;
    if (now < r->rsv_at && view <= r->rsv_view)
        return; /* asked recently */
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_REQUEST_START_VIEW);
    memcpy(m.nonce, r->nonce, 16);
    m.has_nonce = true;
    ldi_send(r, to, &m);
    r->rsv_at = now + (int64_t)r->cfg.vc_retry_ms;
    r->rsv_view = view;
}

/* ---- start_view_change -------------------------------------------------------------------- */

static void
send_svc(ld_repl *r, int64_t now)
{
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_START_VIEW_CHANGE);
    m.view = r->vote_view; /* header.view of an SVC is the proposed view */
    for (uint32_t i = 0; i < r->n; i++)
        if (i != r->self)
            ldi_send(r, i, &m);
    r->vote_at = now + (int64_t)r->cfg.vc_retry_ms;
}

static uint64_t
highest_seen_vote(const ld_repl *r)
{
    uint64_t w = r->view + 1;
    for (uint32_t i = 0; i < r->n; i++)
        if (i != r->self && r->svc_votes[i] > w)
            w = r->svc_votes[i];
    return w;
}

static void
check_svc_quorum(ld_repl *r, int64_t now)
{
    if (!r->voting)
        return;
    uint32_t count = 0;
    for (uint32_t i = 0; i < r->n; i++)
        if (i == r->self || r->svc_votes[i] == r->vote_view)
            count++;
    if (count < r->q)
        return;
    LD_ASSERT(r->vote_view > r->view); /* a vote is always for a view above ours */
    ldi_vc_enter(r, r->vote_view, now);
}

static void
vote(ld_repl *r, int64_t now)
{
    uint64_t w = highest_seen_vote(r);
    if (!r->voting || w > r->vote_view) {
        r->voting = true;
        r->vote_view = w;
    }
    LD_ASSERT(r->status != LD_REPL_RECOVERING);
    LD_ASSERT(r->vote_view > r->view);
    send_svc(r, now);
    check_svc_quorum(r, now);
}

void
ldi_vc_on_svc(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    if (m->view <= r->view)
        return;
    uint32_t i = m->replica;
    if (r->svc_votes[i] == 0)
        r->svc_first_at[i] = now;
    r->svc_last_at[i] = now;
    if (m->view > r->svc_votes[i])
        r->svc_votes[i] = m->view;
    if (r->voting && m->view > r->vote_view) {
        /* join the highest view proposed so that the votes meet */
        r->vote_view = m->view;
        send_svc(r, now);
    }
    check_svc_quorum(r, now);
}

/* ---- do_view_change ----------------------------------------------------------------------- */

static int64_t
dvc_allowed_at(const ld_repl *r)
{
    /* Lease promise (§5.1): no DVC within VC_TIMEOUT of the last PrepareOk to an older view's
     * primary, nor of a restart (ack_sent_at starts at the open time). */
    int64_t a = r->ack_sent_at + (int64_t)r->cfg.vc_timeout_ms;
    int64_t b = r->opened_at + (int64_t)r->cfg.vc_timeout_ms;
    return a > b ? a : b;
}

/* The highest op p such that the log holds a body for every op in (commit_min, p], whatever its
 * chain: what a DVC reports as present_op. Not canon_op, which is not raised while the log is
 * unlinked (after a restart with a gap, canon_op is commit_min although the entries acked before
 * the gap are all there): under-reporting would let the nack rule truncate a committed entry;
 * over-reporting only keeps an entry longer. */
static uint64_t
present_run(const ld_repl *r)
{
    uint64_t p = r->commit_min;
    while (p < r->op) {
        const ldi_ring_entry *s = ldi_ring_entry_cget(r, p + 1);
        if (s == NULL || !s->has_body)
            break;
        p++;
    }
    return p;
}

static void
own_dvc(const ld_repl *r, ldi_dvc *d)
{
    d->have = true;
    d->log_view = r->log_view;
    d->op = r->op;
    d->commit = r->commit_max;
    d->commit_min = r->commit_min;
    d->headers_len = ldi_suffix_headers(r, d->headers, &d->suffix_from);
    d->present_op = present_run(r);
    /* Where the linked suffix stops at an entry we hold that is not the one our head's chain has
     * there (an older view's, below the adopted log's headers), the run of bodies from there up
     * is not of our log: a body there is no copy of the log's entry. Every entry we acknowledged
     * is on our head's chain (a committed one is on every later log), so this never drops one;
     * without it the nack rule takes that stale body for the entry only a lost replica held, and
     * no view forms (S7 seed 4166 --rf 3). */
    uint64_t s = d->suffix_from;
    const ldi_ring_entry *below = ldi_ring_entry_cget(r, s);
    if (d->headers_len > 0 && d->headers_len < LD_PEER_DVC_HEADERS_MAX && s > r->commit_min &&
        below != NULL && !ldi_cs_eq(&below->h.checksum, &d->headers[d->headers_len - 1].parent) &&
        d->present_op >= s)
        d->present_op = s - 1;
    uint64_t lost = r->lost_op < r->op ? r->lost_op : r->op;
    if (d->present_op < lost)
        d->present_op = lost; /* acks lost with a wiped disk (repl_int.h lost_op) */
}

static void
send_dvc(ld_repl *r, int64_t now)
{
    ldi_dvc d;
    own_dvc(r, &d);
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_DO_VIEW_CHANGE);
    m.log_view = d.log_view;
    m.op = d.op;
    m.commit = d.commit;
    m.commit_min = d.commit_min;
    m.headers = d.headers;
    m.headers_len = d.headers_len;
    m.suffix_from = d.suffix_from;
    m.present_op = d.present_op;
    ldi_send(r, ldi_primary_of(r, r->view), &m);
    r->dvc_at = now + (int64_t)r->cfg.vc_retry_ms;
}

void
ldi_vc_enter(ld_repl *r, uint64_t w, int64_t now)
{
    LD_ASSERT(w > r->view);
    LD_ASSERT(r->status != LD_REPL_RECOVERING);
    LD_ASSERT(r->n > 1);
    r->view = w;
    r->status = LD_REPL_VIEW_CHANGE;
    r->installed = false;
    r->voting = false;
    for (uint32_t i = 0; i < r->n; i++)
        if (r->svc_votes[i] <= w)
            r->svc_votes[i] = 0;
    memset(r->dvcs, 0, sizeof r->dvcs);
    r->vc_adopted = false;
    r->vc_commit = 0;
    r->vc_at = now;
    r->dvc_at = dvc_allowed_at(r);
    r->stats.view_changes++;
    LD_ASSERT(r->status == LD_REPL_VIEW_CHANGE);
    LD_ASSERT(r->view == w);
    LD_ASSERT(r->log_view < r->view);
    LD_ASSERT(!r->installed);
    LD_ASSERT(!r->voting);
    ldi_meta_write(r); /* view = w durable before the DVC leaves (host rule) */
    if (ldi_primary_of(r, w) != r->self && now >= r->dvc_at)
        send_dvc(r, now);
}

/* Installs a suffix of headers (newest first, (suffix_from, top]) as the replica's log: keeps
 * the entries that match, truncates above top, writes header-only records for the others; the
 * break below (if any) is repaired by walking parents. False (nothing changed) when the log
 * cannot hold it: top beyond the window, or a header contradicting an applied entry. */
static bool
install_headers(ld_repl *r, const ld_entry_header *hs, uint32_t len, uint64_t top)
{
    if (top < r->commit_min || top - r->commit_min > LD_PEER_WINDOW_MAX)
        return false;
    for (uint32_t i = 0; i < len; i++) {
        ld_checksum c;
        if (hs[i].op <= r->commit_min && ldi_checksum_of(r, hs[i].op, &c) &&
            !ldi_cs_eq(&c, &hs[i].checksum))
            return false;
    }
    if (len > 0 && hs[len - 1].op == r->commit_min + 1 &&
        !ldi_cs_eq(&hs[len - 1].parent, &r->cm_checksum))
        return false;
    if (r->op > top)
        ldi_log_truncate(r, top);
    for (uint32_t i = len; i-- > 0;) {
        const ld_entry_header *h = &hs[i];
        if (h->op <= r->commit_min)
            continue;
        ldi_ring_entry *s = ldi_ring_entry_get(r, h->op);
        if (s != NULL && ldi_cs_eq(&s->h.checksum, &h->checksum))
            continue;
        ldi_log_write(r, h, NULL, false);
    }
    r->canon_op = r->commit_min;
    ldi_link_scan(r);
    LD_ASSERT(r->op <= top);
    LD_ASSERT(r->commit_min <= r->canon_op);
    return true;
}

/* The checksum of best's entry at op j when the new primary knows it: an entry it applied
 * (committed: on every later log), a header of best's suffix, or the parent of the lowest one. */
static bool
best_checksum_at(const ld_repl *r, const ldi_dvc *best, uint64_t j, ld_checksum *out)
{
    if (j > best->suffix_from && j <= best->op) {
        *out = best->headers[best->op - j].checksum;
        return true;
    }
    if (j == best->suffix_from && best->headers_len > 0) {
        *out = best->headers[best->headers_len - 1].parent;
        return true;
    }
    return j <= r->commit_min && ldi_checksum_of(r, j, out);
}

/* Whether DVC sender d may hold best's entry k with its body. Unsure counts as yes: only an
 * entry every sender provably lacks may be truncated. d provably lacks it when d holds no body
 * at k (present_op, op), or when d's linked suffix shows, at some op j <= k where best's
 * checksum is known, another entry: checksums cover the parent, so from j up d's entries are
 * on another chain than best's (an older view's suffix). */
static bool
may_hold(const ld_repl *r, const ldi_dvc *d, const ldi_dvc *best, uint64_t k)
{
    if (d->op < k || d->present_op < k)
        return false;
    uint64_t hi = k < d->op ? k : d->op;
    for (uint64_t j = d->suffix_from + 1; j <= hi; j++) {
        ld_checksum want;
        if (best_checksum_at(r, best, j, &want) &&
            !ldi_cs_eq(&d->headers[d->op - j].checksum, &want))
            return false;
    }
    return true;
}

static bool
held_by_some_dvc(const ld_repl *r, const ldi_dvc *best, uint64_t k)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->dvcs[i].have && may_hold(r, &r->dvcs[i], best, k))
            return true;
    return false;
}

/* Best's header at op `top` when best's own suffix does not reach it (a gap): the linked suffix
 * of another DVC of the same log_view covering top. Every replica with log_view L holds, on the
 * part linked to its head, the entries the primary of view L appended or adopted (§5.3 point 2),
 * so that header is best's entry at top. NULL when no DVC shows it. */
static const ld_entry_header *
same_log_header(const ld_repl *r, const ldi_dvc *best, uint64_t top)
{
    if (top <= r->commit_min || top - r->commit_min > LD_PEER_WINDOW_MAX)
        return NULL;
    for (uint32_t i = 0; i < r->n; i++) {
        const ldi_dvc *d = &r->dvcs[i];
        if (!d->have || d->log_view != best->log_view || top <= d->suffix_from || top > d->op)
            continue;
        bool agrees = true; /* and nothing known of best's chain below says otherwise */
        for (uint64_t j = d->suffix_from + 1; j <= top && agrees; j++) {
            ld_checksum want;
            agrees = !best_checksum_at(r, best, j, &want) ||
                     ldi_cs_eq(&d->headers[d->op - j].checksum, &want);
        }
        if (agrees)
            return &d->headers[d->op - top];
    }
    return NULL;
}

/* The nack rule (TB): a committed entry is held with its body by a quorum, each of whose members
 * acknowledged it with every body below it down to its commit_min (canon_op >= it; a DVC
 * reports that run of bodies as present_op), and that quorum meets the quorum of DVCs in at least
 * one replica. So the lowest op above the known commit that no DVC sender holds was never
 * committed, nor was anything after it: truncate from there. Without this a head that only a
 * crashed (or wiped) old primary held would block every view change. The op may lie in best's
 * suffix (its header known) or below it: a gap in best's log (best lacks the body, and the header
 * when the prepare was lost; its suffix stops at the gap) that only a wiped replica ever held would
 * otherwise make every view of this log repair it forever. */
static void
truncate_nacked(ld_repl *r, const ldi_dvc *best)
{
    uint64_t floor = r->vc_commit > r->commit_min ? r->vc_commit : r->commit_min;
    for (uint64_t k = floor + 1; k <= best->op; k++) {
        const ld_entry_header *bk = k > best->suffix_from ? &best->headers[best->op - k] : NULL;
        if (held_by_some_dvc(r, best, k))
            continue;
        /* The new head must be an entry of best's chain that the log holds: a header of the
         * suffix (installed above), an applied entry, our own entry matching bk's parent, or --
         * when best is our own DVC -- our own entry at top (our log is best's log, below its
         * suffix too: the DVC only left those headers out). */
        uint64_t top = k - 1;
        ld_checksum c;
        bool own_best = best == &r->dvcs[r->self];
        bool ok = top > best->suffix_from || top <= r->commit_min ||
                  (bk != NULL && ldi_checksum_of(r, top, &c) && ldi_cs_eq(&c, &bk->parent)) ||
                  (own_best && ldi_ring_entry_cget(r, top) != NULL);
        const ld_entry_header *ht = ok ? NULL : same_log_header(r, best, top);
        if (!ok && ht == NULL)
            return; /* cannot tell where best's log would end: repair, or time out */
        if (r->op > top)
            ldi_log_truncate(r, top);
        if (ht != NULL) {
            const ldi_ring_entry *s = ldi_ring_entry_cget(r, top);
            if (s == NULL || !ldi_cs_eq(&s->h.checksum, &ht->checksum))
                ldi_log_write(r, ht, NULL, false); /* header only: repaired before forming */
        }
        LD_ASSERT(r->op == top || r->op <= r->commit_min);
        ldi_link_scan(r);
        return;
    }
}

static void
send_start_view(ld_repl *r, uint32_t to, const uint8_t *nonce)
{
    ld_entry_header hs[LD_PEER_DVC_HEADERS_MAX];
    ld_repl_msg m;
    ldi_msg_init(r, &m, LD_REPL_START_VIEW);
    m.op = r->op;
    m.commit = r->commit_max;
    m.headers = hs;
    m.headers_len = ldi_suffix_headers(r, hs, &m.suffix_from);
    if (nonce != NULL) {
        memcpy(m.nonce, nonce, 16);
        m.has_nonce = true;
    }
    ldi_send(r, to, &m);
}

/* New primary: the log is complete -- become normal, durably in log_view, and start the view. */
static void
form_view(ld_repl *r, int64_t now)
{
    LD_ASSERT(r->status == LD_REPL_VIEW_CHANGE);
    LD_ASSERT(ldi_primary_of(r, r->view) == r->self);
    LD_ASSERT(r->vc_adopted);
    LD_ASSERT(r->linked);
    LD_ASSERT(r->canon_op == r->op);
    LD_ASSERT(r->op >= r->vc_commit);
    LD_ASSERT(r->log_view < r->view);
    r->log_view = r->view;
    r->status = LD_REPL_NORMAL;
    uint64_t c = r->vc_commit < r->op ? r->vc_commit : r->op;
    if (c > r->commit_max)
        r->commit_max = c;
    ldi_meta_write(r);
    ldi_primary_begin(r, now);
    LD_ASSERT(r->status == LD_REPL_NORMAL);
    LD_ASSERT(r->log_view == r->view);
    LD_ASSERT(r->installed);
    LD_ASSERT(r->commit_max <= r->op);
    for (uint32_t i = 0; i < r->n; i++)
        if (i != r->self)
            send_start_view(r, i, NULL);
    ldi_apply_committed(r, now);
}

void
ldi_vc_try_form(ld_repl *r, int64_t now)
{
    if (r->status != LD_REPL_VIEW_CHANGE || ldi_primary_of(r, r->view) != r->self)
        return;
    if (!r->vc_adopted) {
        if (now < dvc_allowed_at(r))
            return;
        own_dvc(r, &r->dvcs[r->self]);
        uint32_t count = 0;
        for (uint32_t i = 0; i < r->n; i++)
            count += r->dvcs[i].have;
        if (count < r->q)
            return;
        uint32_t best = r->self;
        for (uint32_t i = 0; i < r->n; i++) {
            const ldi_dvc *d = &r->dvcs[i], *b = &r->dvcs[best];
            if (!d->have)
                continue;
            if (d->commit > r->vc_commit)
                r->vc_commit = d->commit;
#ifdef LD_PLANT_BUG_DVC_PICK
            /* PLANTED BUG: the least advanced log, log_view ignored */
            if (d->op < b->op)
                best = i;
#else
            if (d->log_view > b->log_view || (d->log_view == b->log_view && d->op > b->op))
                best = i;
#endif
        }
        const ldi_dvc *b = &r->dvcs[best];
        if (best != r->self && !install_headers(r, b->headers, b->headers_len, b->op))
            return; /* too far behind to lead: the view times out and the next one forms */
        truncate_nacked(r, b);
        r->vc_adopted = true;
    }
    LD_ASSERT(r->vc_adopted);
    LD_ASSERT(r->status == LD_REPL_VIEW_CHANGE);
    ldi_link_scan(r);
    /* Never form below a commit a DVC reported: the adopted log holds every committed entry,
     * so a head below vc_commit means the log lost some (a safety net: the view times out). */
    if (r->linked && r->canon_op == r->op && r->op >= r->vc_commit)
        form_view(r, now);
    else
        ldi_sync_repair(r, now, false);
}

void
ldi_vc_on_dvc(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    uint64_t w = m->view;
    if (w < r->view)
        return;
    if (w > r->view)
        ldi_vc_enter(r, w, now); /* a DVC for w means a quorum voted for w */
    if (ldi_primary_of(r, w) != r->self)
        return;
    if (ldi_is_primary(r)) {
        send_start_view(r, m->replica, NULL); /* it missed the StartView */
        return;
    }
    if (r->status != LD_REPL_VIEW_CHANGE)
        return;
    ldi_dvc *d = &r->dvcs[m->replica];
    d->have = true;
    d->log_view = m->log_view;
    d->op = m->op;
    d->commit = m->commit;
    d->commit_min = m->commit_min;
    d->suffix_from = m->suffix_from;
    d->present_op = m->present_op;
    d->headers_len = m->headers_len;
    if (m->headers_len > 0)
        memcpy(d->headers, m->headers, m->headers_len * sizeof *m->headers);
    ldi_vc_try_form(r, now);
}

/* ---- start_view ---------------------------------------------------------------------------- */

void
ldi_vc_on_start_view(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    uint64_t w = m->view;
    if (m->replica != ldi_primary_of(r, w) || w < r->view)
        return;
    if (r->status == LD_REPL_RECOVERING && !r->rec_installed)
        return;
    if (w == r->view && r->status == LD_REPL_NORMAL && r->installed)
        return; /* already in this view's log (a late or repeated StartView) */
    if (m->op < r->commit_min) {
        /* A view's log holds every committed entry, so this is an older StartView of the view
         * (a late one) answered before what we applied since: ask again. */
        r->stats.dropped++;
        return;
    }
    if (m->op - r->commit_min > LD_PEER_WINDOW_MAX) {
        /* Too far behind to hold the view's suffix: move to the view (a recovering replica in
         * memory only: it has no meta before the install) and fill -- fetch the committed
         * entries above commit_min (6.1) -- until a StartView fits the window. Not a new state
         * transfer: under load the primary is always more than a window past any checkpoint by
         * the time it is installed, and a transfer per StartView never ends (7.2). */
        if (r->status == LD_REPL_RECOVERING) {
            r->view = w;
            r->rec_installed_at = now;
            r->rec_probing = false; /* primary(w) answered: no need to look for a newer view */
        } else if (w > r->view || r->status == LD_REPL_VIEW_CHANGE) {
            r->view = w;
            r->status = LD_REPL_NORMAL;
            r->installed = false;
            ldi_meta_write(r);
        }
        ldi_vc_heard(r, now);
        if (!ldi_sync_filling(r))
            r->progress_at = now; /* behind from now on (sync_tick's fallback) */
        if (m->commit > r->fill_commit)
            r->fill_commit = m->commit;
        LD_ASSERT(r->view == w);
        if (r->status != LD_REPL_RECOVERING) {
            LD_ASSERT(r->status == LD_REPL_NORMAL);
            LD_ASSERT(!r->installed); /* until a StartView that fits the window */
        }
        ldi_sync_fill(r, now, true);
        return;
    }
    /* the install: from primary(w), of a view not older than ours, within the window */
    LD_ASSERT(m->replica == ldi_primary_of(r, w));
    LD_ASSERT(w >= r->view);
    LD_ASSERT(m->op >= r->commit_min);
    LD_ASSERT(m->op - r->commit_min <= LD_PEER_WINDOW_MAX);
    if (r->status == LD_REPL_RECOVERING)
        LD_ASSERT(r->rec_installed);
    uint64_t canon_before = r->canon_op;
    if (!install_headers(r, m->headers, m->headers_len, m->op)) {
        r->stats.dropped++;
        return;
    }
    if (w > r->view)
        r->stats.view_changes++;
    if (r->status == LD_REPL_RECOVERING) {
        if (m->op > r->lost_op)
            r->lost_op = m->op;
        ldi_lost_write(r); /* with the first meta record of the recovered replica */
    }
    r->view = w;
    r->log_view = w;
    r->status = LD_REPL_NORMAL;
    r->installed = true;
    r->rec_installed = false;
    r->rec_probing = false;
    if (m->commit > r->commit_max)
        r->commit_max = m->commit;
    LD_ASSERT(r->status == LD_REPL_NORMAL);
    LD_ASSERT(r->installed);
    LD_ASSERT(r->view == w);
    LD_ASSERT(r->log_view == r->view);
    LD_ASSERT(r->op <= m->op); /* the view's log: nothing of ours above its head */
    LD_ASSERT(r->commit_max >= m->commit);
    LD_ASSERT(ldi_primary_of(r, r->view) != r->self);
    ldi_meta_write(r); /* view, log_view and the truncation in one write (§5.4) */
    ldi_vc_heard(r, now);
    memset(r->dvcs, 0, sizeof r->dvcs);
    r->progress_at = now;
    ldi_apply_committed(r, now);
    (void)canon_before;
    ldi_send_prepare_ok(r, INT64_MIN, now); /* the suffix commits by these acks */
    ldi_sync_repair(r, now, true);
}

void
ldi_vc_on_rsv(ld_repl *r, const ld_repl_msg *m, int64_t now)
{
    (void)now;
    if (ldi_is_primary(r) && m->view <= r->view)
        send_start_view(r, m->replica, m->has_nonce ? m->nonce : NULL);
}

/* ---- ticks --------------------------------------------------------------------------------- */

/* A primary that keeps hearing votes for a higher view from a replica that is not voting
 * because of a passing silence (they last longer than 2 VC_TIMEOUTs) steps into that view: the
 * voter is in a view above ours (it moved on a quorum of votes some of which were withdrawn when
 * their voters heard us again) or cannot hear us, and views never go back, so without this it
 * would stay out of the working view for good. Moving to a higher view is always safe; the
 * pre-vote only keeps a cut-off replica from deposing a primary the others hear, which a voter
 * that reaches the primary is not. */
static void
primary_check_stuck_voters(ld_repl *r, int64_t now)
{
    LD_ASSERT(ldi_is_primary(r));
    uint64_t w = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        if (i == r->self || r->svc_votes[i] <= r->view)
            continue;
        if (now - r->svc_last_at[i] > 2 * (int64_t)r->cfg.vc_retry_ms) {
            r->svc_votes[i] = 0; /* it stopped voting */
            continue;
        }
        if (now - r->svc_first_at[i] >= 2 * (int64_t)r->cfg.vc_timeout_ms && r->svc_votes[i] > w)
            w = r->svc_votes[i];
    }
    if (w > r->view)
        ldi_vc_enter(r, w, now);
}

void
ldi_vc_tick(ld_repl *r, int64_t now)
{
    if (r->status == LD_REPL_RECOVERING || r->n == 1)
        return;
    if (ldi_is_primary(r)) {
        primary_check_stuck_voters(r, now);
        return;
    }
    if (r->status == LD_REPL_NORMAL) {
        if (!r->installed)
            ldi_vc_request_start_view(r, r->view, now);
        if (!r->voting && now - r->heard_at >= (int64_t)r->cfg.vc_timeout_ms)
            vote(r, now);
        else if (r->voting && now >= r->vote_at)
            vote(r, now);
        return;
    }
    /* view_change */
    if (!r->voting && now - r->vc_at >= (int64_t)r->cfg.vc_timeout_ms)
        vote(r, now); /* view w did not start in time: w+1 */
    else if (r->voting && now >= r->vote_at)
        vote(r, now);
    if (r->status != LD_REPL_VIEW_CHANGE)
        return;
    if (ldi_primary_of(r, r->view) == r->self)
        ldi_vc_try_form(r, now);
    else if (now >= r->dvc_at)
        send_dvc(r, now);
}

int64_t
ldi_vc_deadline(const ld_repl *r)
{
    if (r->status == LD_REPL_RECOVERING || r->n == 1 || ldi_is_primary(r))
        return INT64_MAX;
    int64_t d = INT64_MAX;
#define LDI_MIN(x)                                                                                 \
    do {                                                                                           \
        int64_t x_ = (x);                                                                          \
        if (x_ < d)                                                                                \
            d = x_;                                                                                \
    } while (0)
    if (r->voting)
        LDI_MIN(r->vote_at);
    if (r->status == LD_REPL_NORMAL) {
        if (!r->installed)
            LDI_MIN(r->rsv_at);
        if (!r->voting)
            LDI_MIN(r->heard_at + (int64_t)r->cfg.vc_timeout_ms);
    } else {
        if (!r->voting)
            LDI_MIN(r->vc_at + (int64_t)r->cfg.vc_timeout_ms);
        if (ldi_primary_of(r, r->view) == r->self)
            LDI_MIN(dvc_allowed_at(r));
        else
            LDI_MIN(r->dvc_at);
    }
#undef LDI_MIN
    return d;
}
