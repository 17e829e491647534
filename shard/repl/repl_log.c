/*
 * repl_log.c -- the replica's records (meta and log), the entry checksum, format / open, and the
 * in-memory log window with its canonical-log bookkeeping (repl_int.h explains the window).
 *
 * Records, in the store given to ld_repl_open (little-endian, version byte first; a record that
 * does not decode, or whose body does not match its checksum, is LD_ERR_STORAGE at open):
 *
 *   meta "M" (version 1)              log "L" be64(op) (version 1)
 *   +--------------------------+      +------------------------------------------+
 *   | u8  version              |      | u8  version                              |
 *   | u64 view                 |      | u8  flags (bit 0: the body follows)      |
 *   | u64 log_view             |      | u64 view (entry's)                       |
 *   | u64 commit_max           |      | i64 timestamp_ms                         |
 *   | u64 anchor_op            |      | 16B parent                               |
 *   | 16B anchor_checksum      |      | 16B checksum                             |
 *   | i64 anchor_timestamp_ms  |      | u32 entry_size                           |
 *   | u64 log_start            |      | entry_size bytes (packed LogEntry), if   |
 *   +--------------------------+      |   flags bit 0                            |
 *                                     +------------------------------------------+
 *   recovered "R" (version 1), only in a replica that recovered from a lost disk:
 *   u8 version, u64 lost_op (repl_int.h) -- written with the recovery's first meta record.
 *   Its own key keeps the meta record's layout (node/store_rocks.c reads it) unchanged.
 */
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "repl_int.h"

#define META_VERSION 1u
#define META_BYTES (1u + 8 * 4 + 16 + 8 + 8)
#define LOST_VERSION 1u
#define LOST_BYTES (1u + 8)
#define LOG_VERSION 1u
#define LOG_HDR_BYTES (1u + 1 + 8 + 8 + 16 + 16 + 4)
#define LOG_FLAG_BODY 1u

/* ---- checksums --------------------------------------------------------------------------- */

ld_checksum
ld_repl_entry_checksum(uint64_t cluster_id, uint32_t shard_id, const ld_entry_header *h,
                       const uint8_t *entry, uint32_t len)
{
    LD_ASSERT(h != NULL);
    if (len > 0)
        LD_ASSERT(entry != NULL);
    /* "LDP1" cluster shard op view ts parent size, then the entry bytes (REPLICATION.md §3.3). */
    uint8_t pre[4 + 8 + 4 + 8 + 8 + 8 + 16 + 4];
    memcpy(pre, "LDP1", 4);
    ldi_le64_put(pre + 4, cluster_id);
    ldi_le32_put(pre + 12, shard_id);
    ldi_le64_put(pre + 16, h->op);
    ldi_le64_put(pre + 24, h->view);
    ldi_le64_put(pre + 32, (uint64_t)h->timestamp_ms);
    memcpy(pre + 40, h->parent.b, 16);
    ldi_le32_put(pre + 56, len);
    XXH3_state_t st;
    XXH3_INITSTATE(&st);
    XXH3_128bits_reset(&st);
    XXH3_128bits_update(&st, pre, sizeof pre);
    if (len > 0)
        XXH3_128bits_update(&st, entry, len);
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&st));
    ld_checksum out;
    _Static_assert(sizeof c.digest == sizeof out.b, "XXH3-128 is 16 bytes");
    memcpy(out.b, c.digest, 16);
    return out;
}

bool
ldi_cs_eq(const ld_checksum *a, const ld_checksum *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

bool
ldi_cs_zero(const ld_checksum *a)
{
    static const ld_checksum zero;
    return ldi_cs_eq(a, &zero);
}

/* ---- record encodings -------------------------------------------------------------------- */

static void
log_key(uint8_t key[9], uint64_t op)
{
    key[0] = LD_REPL_KEY_LOG;
    ldi_be64_put(key + 1, op);
}

static void
meta_encode(const ld_repl *r, uint8_t out[META_BYTES])
{
    uint8_t *p = out;
    *p++ = META_VERSION;
    ldi_le64_put(p, r->view), p += 8;
    ldi_le64_put(p, r->log_view), p += 8;
    ldi_le64_put(p, r->commit_max), p += 8;
    ldi_le64_put(p, r->anchor_op), p += 8;
    memcpy(p, r->anchor_checksum.b, 16), p += 16;
    ldi_le64_put(p, (uint64_t)r->anchor_ts), p += 8;
    ldi_le64_put(p, r->log_start), p += 8;
    LD_ASSERT(p == out + META_BYTES);
}

typedef struct meta_rec {
    uint64_t view, log_view, commit_max, anchor_op, log_start;
    ld_checksum anchor_checksum;
    int64_t anchor_ts;
} meta_rec;

static ld_err
meta_decode(const uint8_t *v, size_t len, meta_rec *m)
{
    if (len != META_BYTES || v[0] != META_VERSION)
        return LD_ERR_STORAGE;
    const uint8_t *p = v + 1;
    m->view = ldi_le64_get(p), p += 8;
    m->log_view = ldi_le64_get(p), p += 8;
    m->commit_max = ldi_le64_get(p), p += 8;
    m->anchor_op = ldi_le64_get(p), p += 8;
    memcpy(m->anchor_checksum.b, p, 16), p += 16;
    m->anchor_ts = (int64_t)ldi_le64_get(p), p += 8;
    m->log_start = ldi_le64_get(p);
    if (m->log_view > m->view || m->anchor_op > m->log_start)
        return LD_ERR_STORAGE;
    return LD_OK;
}

bool
ld_repl_meta_commit_only(const uint8_t *prev, size_t prev_len, const uint8_t *next, size_t next_len)
{
    /* Bytes, not fields: a field added to the record later is a change that needs a sync until
     * this function says otherwise. commit_max sits after the version, view and log_view. */
    enum { COMMIT_AT = 1 + 8 + 8, COMMIT_END = COMMIT_AT + 8 };
    meta_rec a, b;
    if (meta_decode(prev, prev_len, &a) != LD_OK || meta_decode(next, next_len, &b) != LD_OK)
        return false;
    LD_ASSERT(prev_len == META_BYTES);
    LD_ASSERT(next_len == META_BYTES);
    return memcmp(prev, next, COMMIT_AT) == 0 &&
           memcmp(prev + COMMIT_END, next + COMMIT_END, META_BYTES - COMMIT_END) == 0;
}

void
ldi_meta_write(ld_repl *r)
{
    if (r->status == LD_REPL_RECOVERING)
        LD_ASSERT(r->rec_installed); /* no meta before a state to build on (7.3) */
    uint8_t v[META_BYTES];
    meta_encode(r, v);
    r->store.ops->put(r->store.impl, LD_REPL_KEY_META, 1, v, sizeof v);
}

void
ldi_lost_write(ld_repl *r)
{
    uint8_t v[LOST_BYTES];
    v[0] = LOST_VERSION;
    ldi_le64_put(v + 1, r->lost_op);
    r->store.ops->put(r->store.impl, LD_REPL_KEY_RECOVERED, 1, v, sizeof v);
}

void
ld_repl_format(const ld_store *store)
{
    LD_ASSERT(store != NULL);
    ld_repl z;
    memset(&z, 0, sizeof z);
    uint8_t v[META_BYTES];
    meta_encode(&z, v);
    store->ops->put(store->impl, LD_REPL_KEY_META, 1, v, sizeof v);
}

/* A decoded log record; body points into the scanned value (borrowed). */
typedef struct log_rec {
    ld_entry_header h;
    bool has_body;
    const uint8_t *body;
} log_rec;

static ld_err
log_decode(const ld_repl *r, const uint8_t *key, size_t key_len, const uint8_t *v, size_t len,
           log_rec *out)
{
    if (key_len != 9 || key[0] != LD_REPL_KEY_LOG || len < LOG_HDR_BYTES || v[0] != LOG_VERSION)
        return LD_ERR_STORAGE;
    const uint8_t *p = v + 1;
    uint8_t flags = *p++;
    if ((flags & ~LOG_FLAG_BODY) != 0)
        return LD_ERR_STORAGE;
    out->h.op = ldi_be64_get(key + 1);
    out->h.view = ldi_le64_get(p), p += 8;
    out->h.timestamp_ms = (int64_t)ldi_le64_get(p), p += 8;
    memcpy(out->h.parent.b, p, 16), p += 16;
    memcpy(out->h.checksum.b, p, 16), p += 16;
    out->h.entry_size = ldi_le32_get(p), p += 4;
    out->has_body = (flags & LOG_FLAG_BODY) != 0;
    size_t want = LOG_HDR_BYTES + (out->has_body ? out->h.entry_size : 0);
    if (out->h.op == 0 || out->h.entry_size > LD_PEER_ENTRY_BYTES_MAX || len != want)
        return LD_ERR_STORAGE;
    out->body = out->has_body ? p : NULL;
    if (out->has_body) {
        ld_checksum c = ld_repl_entry_checksum(r->cfg.cluster_id, r->cfg.shard_id, &out->h,
                                               out->body, out->h.entry_size);
        if (!ldi_cs_eq(&c, &out->h.checksum))
            return LD_ERR_STORAGE;
    }
    return LD_OK;
}

/* ---- slots ------------------------------------------------------------------------------- */

ldi_ring_entry *
ldi_ring_entry_get(ld_repl *r, uint64_t op)
{
    ldi_ring_entry *s = &r->ring[op & (LDI_REPL_RING - 1)];
    return op != 0 && s->op == op ? s : NULL;
}

const ldi_ring_entry *
ldi_ring_entry_cget(const ld_repl *r, uint64_t op)
{
    const ldi_ring_entry *s = &r->ring[op & (LDI_REPL_RING - 1)];
    return op != 0 && s->op == op ? s : NULL;
}

void
ldi_ring_entry_clear(ldi_ring_entry *s)
{
    free(s->body);
    memset(s, 0, sizeof *s);
}

void
ldi_ring_clear(ld_repl *r)
{
    for (unsigned i = 0; i < LDI_REPL_RING; i++)
        ldi_ring_entry_clear(&r->ring[i]);
}

bool
ldi_checksum_of(const ld_repl *r, uint64_t op, ld_checksum *out)
{
    if (op == r->commit_min) {
        *out = r->cm_checksum;
        return true;
    }
    const ldi_ring_entry *s = ldi_ring_entry_cget(r, op);
    if (s == NULL)
        return false;
    *out = s->h.checksum;
    return true;
}

void
ldi_log_write(ld_repl *r, const ld_entry_header *h, uint8_t *body, bool has_body)
{
    LD_ASSERT(h->op > r->commit_min);
    LD_ASSERT(h->op <= r->commit_min + LD_PEER_WINDOW_MAX);
    if (body != NULL)
        LD_ASSERT(has_body);
    size_t len = LOG_HDR_BYTES + (has_body ? h->entry_size : 0);
    uint8_t *v = malloc(len);
    LD_ASSERT(v != NULL); /* out of memory: fail-stop, as the state machine does */
    uint8_t *p = v;
    *p++ = LOG_VERSION;
    *p++ = has_body ? LOG_FLAG_BODY : 0;
    ldi_le64_put(p, h->view), p += 8;
    ldi_le64_put(p, (uint64_t)h->timestamp_ms), p += 8;
    memcpy(p, h->parent.b, 16), p += 16;
    memcpy(p, h->checksum.b, 16), p += 16;
    ldi_le32_put(p, h->entry_size), p += 4;
    if (has_body && h->entry_size > 0)
        memcpy(p, body, h->entry_size);
    uint8_t key[9];
    log_key(key, h->op);
    r->store.ops->put(r->store.impl, key, sizeof key, v, len);
    free(v);

    ldi_ring_entry *s = &r->ring[h->op & (LDI_REPL_RING - 1)];
    if (s->op == h->op && !ldi_cs_eq(&s->h.checksum, &h->checksum) && h->op < r->overwrite_min)
        r->overwrite_min = h->op;
    ldi_ring_entry_clear(s);
    s->op = h->op;
    s->h = *h;
    s->has_body = has_body;
    s->body = body;
    if (h->op > r->op)
        r->op = h->op;
}

void
ldi_log_del_range(ld_repl *r, uint64_t lo, uint64_t hi)
{
    for (uint64_t k = lo; k <= hi && k != 0; k++) {
        uint8_t key[9];
        log_key(key, k);
        r->store.ops->del(r->store.impl, key, sizeof key);
    }
}

void
ldi_log_truncate(ld_repl *r, uint64_t after)
{
    LD_ASSERT(after >= r->commit_min);
    for (uint64_t k = r->op; k > after; k--) {
        uint8_t key[9];
        log_key(key, k);
        r->store.ops->del(r->store.impl, key, sizeof key);
        ldi_ring_entry *s = ldi_ring_entry_get(r, k);
        if (s != NULL)
            ldi_ring_entry_clear(s);
        if (k < r->overwrite_min)
            r->overwrite_min = k;
    }
    if (r->op > after)
        r->op = after;
    while (r->op > r->commit_min && ldi_ring_entry_cget(r, r->op) == NULL)
        r->op--; /* a gap below the truncation point: the head is the highest record */
    if (r->canon_op > after)
        r->canon_op = after;
    LD_ASSERT(r->op <= after);
    LD_ASSERT(r->op >= r->commit_min);
}

typedef struct read_ctx {
    const ld_repl *r;
    uint64_t op;
    const ld_checksum *want;
    ld_entry_header h;
    uint8_t *body;
} read_ctx;

static ld_err
read_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    read_ctx *c = arg;
    log_rec rec;
    if (log_decode(c->r, key, key_len, val, val_len, &rec) != LD_OK || rec.h.op != c->op ||
        !rec.has_body || (c->want != NULL && !ldi_cs_eq(&rec.h.checksum, c->want)))
        return LD_EXISTS; /* stop: not the entry asked for */
    c->body = malloc(rec.h.entry_size > 0 ? rec.h.entry_size : 1);
    LD_ASSERT(c->body != NULL);
    if (rec.h.entry_size > 0)
        memcpy(c->body, rec.body, rec.h.entry_size);
    c->h = rec.h;
    return LD_EXISTS;
}

uint8_t *
ldi_log_read_body(ld_repl *r, uint64_t op, const ld_checksum *want, ld_entry_header *h)
{
    uint8_t key[9];
    log_key(key, op);
    uint8_t prefix = LD_REPL_KEY_LOG;
    read_ctx c = {.r = r, .op = op, .want = want};
    if (r->store.ops->seek(r->store.impl, &prefix, 1, key, sizeof key, false, read_cb, &c) !=
        LD_OK) {
        free(c.body);
        return NULL;
    }
    if (c.body != NULL && h != NULL)
        *h = c.h;
    return c.body;
}

/* ---- the canonical log ------------------------------------------------------------------- */

void
ldi_link_scan(ld_repl *r)
{
    r->linked = false;
    r->break_op = 0;
    if (r->op <= r->commit_min) {
        r->linked = true;
        r->canon_op = r->commit_min;
        return;
    }
    const ldi_ring_entry *top = ldi_ring_entry_cget(r, r->op);
    LD_ASSERT(top != NULL); /* the head always has its slot */
    ld_checksum expect = top->h.checksum;
    uint64_t k = r->op;
    for (; k > r->commit_min; k--) {
        const ldi_ring_entry *s = ldi_ring_entry_cget(r, k);
        if (s == NULL || !ldi_cs_eq(&s->h.checksum, &expect)) {
            r->break_op = k;
            r->break_expect = expect;
            if (r->canon_op >= k)
                r->canon_op = k - 1;
            LD_ASSERT(r->canon_op < r->break_op);
            return;
        }
        expect = s->h.parent;
    }
    if (!ldi_cs_eq(&expect, &r->cm_checksum)) {
        /* The chain the head belongs to disagrees with an applied entry: only a bug (or a
         * planted one) gets here. Stay put: nothing above commit_min is acknowledged. */
        r->break_op = r->commit_min;
        r->break_expect = expect;
        r->canon_op = r->commit_min;
        return;
    }
    r->linked = true;
    uint64_t c = r->commit_min;
    while (c < r->op && ldi_ring_entry_cget(r, c + 1)->has_body)
        c++;
    r->canon_op = c;
    LD_ASSERT(r->break_op == 0);
    LD_ASSERT(r->canon_op <= r->op);
}

/* Applies slot s, the entry commit_min + 1. False when its body is not readable yet. */
static bool
apply_slot(ld_repl *r, ldi_ring_entry *s)
{
    uint64_t k = r->commit_min + 1;
    LD_ASSERT(s != NULL);
    LD_ASSERT(s->op == k);
    LD_ASSERT(s->has_body);
    if (s->body == NULL) {
        ld_entry_header h;
        s->body = ldi_log_read_body(r, k, &s->h.checksum, &h);
        if (s->body == NULL)
            return false; /* put in this turn, not visible yet: the next call applies it */
    }
    r->host.apply(r->host.arg, k, s->h.timestamp_ms, s->body, s->h.entry_size);
    r->commit_min = k;
    r->cm_checksum = s->h.checksum;
    r->cm_ts = s->h.timestamp_ms;
    /* Bodies stay in memory for the unapplied window plus the last pipeline's worth
     * (resends); older ones are read back from the store when asked for. */
    if (k > LD_PEER_PIPELINE_MAX) {
        ldi_ring_entry *old = ldi_ring_entry_get(r, k - LD_PEER_PIPELINE_MAX);
        if (old != NULL) {
            free(old->body);
            old->body = NULL;
        }
    }
    return true;
}

void
ldi_apply_committed(ld_repl *r, int64_t now)
{
    uint64_t upto = r->commit_max < r->canon_op ? r->commit_max : r->canon_op;
    bool moved = false;
    while (r->commit_min < upto && apply_slot(r, ldi_ring_entry_get(r, r->commit_min + 1)))
        moved = true;
    if (moved)
        r->progress_at = now;
}

void
ldi_apply_filled(ld_repl *r, int64_t now)
{
    bool moved = false;
    for (;;) {
        ldi_ring_entry *s = ldi_ring_entry_get(r, r->commit_min + 1);
        if (s == NULL || !s->committed || !s->has_body ||
            !ldi_cs_eq(&s->h.parent, &r->cm_checksum) || !apply_slot(r, s))
            break;
        moved = true;
    }
    if (!moved)
        return;
    r->progress_at = now;
    r->rec_installed_at = now; /* recovering: the primary is there and we progress */
    if (r->commit_max < r->commit_min)
        r->commit_max = r->commit_min; /* in memory; durable with the next meta record */
    if (r->canon_op < r->commit_min)
        r->canon_op = r->commit_min;
}

/* ---- open -------------------------------------------------------------------------------- */

typedef struct open_ctx {
    ld_repl *r;
    bool found;
    meta_rec meta;
    uint64_t lost_op;
    ld_err err;
    uint64_t head;
} open_ctx;

static ld_err
meta_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    open_ctx *c = arg;
    if (key_len != 1 || memcmp(key, LD_REPL_KEY_META, 1) != 0)
        return LD_EXISTS;
    c->found = true;
    c->err = meta_decode(val, val_len, &c->meta);
    return LD_EXISTS;
}

static ld_err
lost_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    open_ctx *c = arg;
    if (key_len != 1 || memcmp(key, LD_REPL_KEY_RECOVERED, 1) != 0)
        return LD_EXISTS;
    const uint8_t *v = val;
    if (val_len != LOST_BYTES || v[0] != LOST_VERSION)
        c->err = LD_ERR_STORAGE;
    else
        c->lost_op = ldi_le64_get(v + 1);
    return LD_EXISTS;
}

static ld_err
head_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    open_ctx *c = arg;
    log_rec rec;
    c->err = log_decode(c->r, key, key_len, val, val_len, &rec);
    if (c->err == LD_OK)
        c->head = rec.h.op;
    return LD_EXISTS;
}

static ld_err
load_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    open_ctx *c = arg;
    ld_repl *r = c->r;
    log_rec rec;
    ld_err err = log_decode(r, key, key_len, val, val_len, &rec);
    if (err != LD_OK)
        return err;
    if (rec.h.op > c->head)
        return LD_EXISTS;
    ldi_ring_entry *s = &r->ring[rec.h.op & (LDI_REPL_RING - 1)];
    ldi_ring_entry_clear(s);
    s->op = rec.h.op;
    s->h = rec.h;
    s->has_body = rec.has_body;
    if (rec.has_body && rec.h.op > r->commit_min) {
        s->body = malloc(rec.h.entry_size > 0 ? rec.h.entry_size : 1);
        LD_ASSERT(s->body != NULL);
        if (rec.h.entry_size > 0)
            memcpy(s->body, rec.body, rec.h.entry_size);
    }
    return LD_OK;
}

static void
cfg_defaults(ld_repl_config *c)
{
#define LDI_DEF(f, v)                                                                              \
    if (c->f == 0)                                                                                 \
    c->f = (v)
    LDI_DEF(prepare_resend_ms, LD_PEER_PREPARE_RESEND_MS);
    LDI_DEF(prepare_resend_max_ms, LD_PEER_PREPARE_RESEND_MAX_MS);
    LDI_DEF(commit_interval_ms, LD_PEER_COMMIT_INTERVAL_MS);
    LDI_DEF(vc_timeout_ms, LD_PEER_VC_TIMEOUT_MS);
    LDI_DEF(vc_retry_ms, LD_PEER_VC_RETRY_MS);
    LDI_DEF(repair_timeout_ms, LD_PEER_REPAIR_TIMEOUT_MS);
    LDI_DEF(lease_ms, LD_PEER_LEASE_MS);
    LDI_DEF(log_retain, LD_PEER_LOG_RETAIN_ENTRIES);
#undef LDI_DEF
}

static ld_err
open_log(ld_repl *r, const meta_rec *m, uint64_t applied_op)
{
    r->view = m->view;
    r->log_view = m->log_view;
    r->anchor_op = m->anchor_op;
    r->anchor_checksum = m->anchor_checksum;
    r->anchor_ts = m->anchor_ts;
    r->log_start = m->log_start;
    if (applied_op < r->anchor_op || applied_op < r->log_start)
        return LD_ERR_STORAGE; /* the state machine is behind the log's start: nothing replays */

    open_ctx c = {.r = r, .head = r->log_start};
    uint8_t prefix = LD_REPL_KEY_LOG;
    uint8_t last[9];
    log_key(last, UINT64_MAX);
    ld_err err = r->store.ops->seek(r->store.impl, &prefix, 1, last, 9, true, head_cb, &c);
    if (err != LD_OK || c.err != LD_OK)
        return LD_ERR_STORAGE;
    if (c.head < r->log_start)
        c.head = r->log_start; /* only records below the anchor are left: ignored */
    if (c.head < applied_op || c.head - applied_op > LD_PEER_WINDOW_MAX)
        return LD_ERR_STORAGE; /* the log must hold every applied op's successor window */
    r->op = c.head;
    r->commit_min = applied_op;
    uint64_t lo = r->op > LDI_REPL_RING ? r->op - LDI_REPL_RING + 1 : 1;
    if (lo <= r->log_start)
        lo = r->log_start + 1;
    if (lo <= r->op) {
        uint8_t first[9];
        log_key(first, lo);
        err = r->store.ops->seek(r->store.impl, &prefix, 1, first, 9, false, load_cb, &c);
        if (err != LD_OK)
            return LD_ERR_STORAGE;
    }
    if (applied_op == r->anchor_op) {
        r->cm_checksum = r->anchor_checksum;
        r->cm_ts = r->anchor_ts;
    } else {
        const ldi_ring_entry *s = ldi_ring_entry_cget(r, applied_op);
        if (s == NULL)
            return LD_ERR_STORAGE;
        r->cm_checksum = s->h.checksum;
        r->cm_ts = s->h.timestamp_ms;
    }
    if (r->op > r->log_start && ldi_ring_entry_cget(r, r->op) == NULL)
        return LD_ERR_STORAGE;
    r->commit_max = m->commit_max > applied_op ? m->commit_max : applied_op;
    if (r->n == 1)
        r->commit_max = r->op; /* every entry of a one-replica log was committed when written */
    r->canon_op = r->commit_min;
    ldi_link_scan(r);
    LD_ASSERT(r->log_start <= r->commit_min);
    LD_ASSERT(r->commit_min <= r->op);
    LD_ASSERT(r->commit_min <= r->commit_max);
    return LD_OK;
}

ld_err
ld_repl_open(const ld_repl_config *cfg, const ld_store *store, const ld_repl_host *host,
             uint64_t applied_op, const uint8_t nonce[16], int64_t now, ld_repl **out)
{
    LD_ASSERT(cfg != NULL);
    LD_ASSERT(store != NULL);
    LD_ASSERT(host != NULL);
    LD_ASSERT(out != NULL);
    LD_ASSERT(nonce != NULL);
    LD_ASSERT(cfg->replica_count == 1 || cfg->replica_count == 3 || cfg->replica_count == 5);
    LD_ASSERT(cfg->replica < cfg->replica_count);
    LD_ASSERT(host->send != NULL);
    LD_ASSERT(host->apply != NULL);
    ld_repl *r = calloc(1, sizeof *r);
    if (r == NULL)
        return LD_ERR_NOMEM;
    r->cfg = *cfg;
    cfg_defaults(&r->cfg);
    r->store = *store;
    r->host = *host;
    r->n = cfg->replica_count;
    r->q = r->n / 2 + 1;
    r->self = cfg->replica;
    memcpy(r->nonce, nonce, 16);
    r->overwrite_min = UINT64_MAX;
    r->opened_at = now;
    r->heard_at = now;
    r->progress_at = now;
    r->vc_at = now;
    r->ack_sent_at = now; /* lease promise across a restart (§5.1) */
    r->repair_at = INT64_MAX;
    r->fill_at = INT64_MAX;

    open_ctx c = {.r = r};
    ld_err err =
        store->ops->seek(store->impl, LD_REPL_KEY_META, 1, LD_REPL_KEY_META, 1, false, meta_cb, &c);
    if (err != LD_OK || c.err != LD_OK) {
        err = LD_ERR_STORAGE;
        goto out_free;
    }
    if (!c.found) {
        if (r->n == 1) {
            err = LD_ERR_STORAGE; /* a wiped single replica has nobody to recover from */
            goto out_free;
        }
        /* REPLICATION.md §7.3: no durable state, so no vote and no ack until recovered. The
         * host's state machine is empty; whatever it says it applied is ignored. */
        r->status = LD_REPL_RECOVERING;
        r->rec_at = now;
        /* The host's state may hold a checkpoint installed by a recovery that crashed before
         * its StartView: reported as is, and replaced by the next checkpoint. */
        r->commit_min = applied_op;
        r->commit_max = applied_op;
        LD_ASSERT(!r->rec_installed);
        ldi_repl_invariants(r);
        *out = r;
        return LD_OK;
    }
    err = store->ops->seek(store->impl, LD_REPL_KEY_RECOVERED, 1, LD_REPL_KEY_RECOVERED, 1, false,
                           lost_cb, &c);
    if (err != LD_OK || c.err != LD_OK) {
        err = LD_ERR_STORAGE;
        goto out_free;
    }
    r->lost_op = c.lost_op;
    err = open_log(r, &c.meta, applied_op);
    if (err != LD_OK)
        goto out_free;
    if (r->linked)
        ldi_apply_committed(r, now);

    if (r->n == 1) {
        r->status = LD_REPL_NORMAL;
        r->installed = true;
        ldi_primary_begin(r, now);
    } else if (r->view == 0 && r->op == 0 && r->log_start == 0) {
        /* Fresh from --format (or nothing was ever prepared: the primary's own entry is durable
         * before any backup hears of it). Everyone's empty log is view 0's: start in it. */
        r->status = LD_REPL_NORMAL;
        r->installed = true;
        if (ldi_primary_of(r, 0) == r->self)
            ldi_primary_begin(r, now);
    } else if (r->view > r->log_view) {
        /* It voted and may have sent a DVC: it votes again when its view-change times out. */
        r->status = LD_REPL_VIEW_CHANGE;
        r->vc_at = now;
    } else {
        r->status = LD_REPL_NORMAL;
        r->installed = false; /* acks only after primary(view)'s StartView */
        if (ldi_primary_of(r, r->view) == r->self) {
            /* Its pipeline and client table are gone: it cannot resume as primary. It treats
             * its primary as silent and votes for the next view at once. */
            r->heard_at = now - (int64_t)r->cfg.vc_timeout_ms;
        } else {
            ldi_vc_request_start_view(r, r->view, now);
        }
    }
    ldi_repl_invariants(r);
    *out = r;
    return LD_OK;

out_free:
    ldi_ring_clear(r);
    free(r);
    return err;
}

void
ld_repl_free(ld_repl *r)
{
    if (r == NULL)
        return;
    ldi_ring_clear(r);
    ldi_sync_free(r);
    free(r);
}
