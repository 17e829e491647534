/*
 * feed.c -- a user's notification feed (LIST_NOTIFICATIONS), assembled on read
 * (docs/ARCHITECTURE.md §10).
 *
 * The feed is the merge, newest first, of
 *   (a) for each creator the user follows (its derived following list, follow.c): the creator's
 *       DROP_LIVE, LOW_STOCK and SOLD_OUT events with a seq after the FOLLOWED event, and
 *   (b) the user's own ORDER_PAID and ORDER_FAILED events,
 * read from the feed-worthy index 'H' | kind | id | seq (record.h) backwards from the cursor.
 * Unfollowing removes a creator from (a), and so its events from the feed.
 *
 * Bounded work: at most the user's following list (LD_FOLLOWING_MAX) plus one sources. A source
 * whose newest feed-worthy event (ldi_topic.last_notable, in memory) is not after its floor is
 * skipped without a read. The rest are taken in descending order of their newest candidate; once
 * the page holds `first` + 1 candidates, a source whose newest candidate is older than all of
 * them ends the merge, and each source's walk stops at the oldest candidate kept.
 *
 * Cursor: (LD_CURSOR_NOTIFICATIONS, seq of the last notification returned, zero id); the next
 * page holds notifications strictly older.
 */
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "sm_int.h"

typedef struct feed_source {
    uint8_t kind;
    ld_id id;
    uint64_t floor; /* events after this seq only */
    uint64_t bound; /* newest candidate seq (inclusive) */
} feed_source;

typedef struct feed_walk {
    uint64_t floor;
    uint64_t *heap; /* min-heap of candidate seqs, at most cap */
    uint32_t len, cap;
    bool bad;
} feed_walk;

static void
heap_sift_down(uint64_t *h, uint32_t len, uint32_t pos)
{
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= len)
            return;
        if (c + 1 < len && h[c + 1] < h[c])
            c++;
        if (h[pos] <= h[c])
            return;
        uint64_t t = h[pos];
        h[pos] = h[c];
        h[c] = t;
        pos = c;
    }
}

static void
heap_add(feed_walk *fw, uint64_t seq)
{
    if (fw->len == fw->cap) { /* replace the oldest candidate */
        fw->heap[0] = seq;
        heap_sift_down(fw->heap, fw->len, 0);
        return;
    }
    uint32_t pos = fw->len++;
    fw->heap[pos] = seq;
    while (pos > 0 && fw->heap[(pos - 1) / 2] > fw->heap[pos]) {
        uint64_t t = fw->heap[pos];
        fw->heap[pos] = fw->heap[(pos - 1) / 2];
        fw->heap[(pos - 1) / 2] = t;
        pos = (pos - 1) / 2;
    }
}

static ld_err
feed_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    feed_walk *fw = arg;
    if (key_len != 2 + LD_ID_BYTES + 8 || !ldi_rec_marker_decode(val, val_len)) {
        fw->bad = true;
        return LD_ERR_STORAGE;
    }
    uint64_t seq = ldi_be64_get((const uint8_t *)key + 2 + LD_ID_BYTES);
    if (seq <= fw->floor || (fw->len == fw->cap && seq <= fw->heap[0]))
        return LD_EXISTS; /* older ones cannot make the page either */
    heap_add(fw, seq);
    return LD_OK;
}

static int
source_cmp(const void *a, const void *b)
{
    const feed_source *x = a, *y = b;
    return x->bound > y->bound ? -1 : x->bound < y->bound ? 1 : 0;
}

/* Adds a source when its topic has a feed-worthy event after `floor` and before `before`. */
static void
source_add(const ld_sm *sm, uint8_t kind, const ld_id *id, uint64_t floor, uint64_t before,
           feed_source *out, uint32_t *n)
{
    uint32_t t = ldi_topic_find(sm, kind, id);
    if (t == LDI_NIL || before == 0)
        return;
    uint64_t last = ldi_topic_at(sm, t)->last_notable;
    uint64_t bound = last < before ? last : before - 1;
    if (last == 0 || bound <= floor || bound < sm->first_event_seq)
        return;
    out[(*n)++] = (feed_source){.kind = kind, .id = *id, .floor = floor, .bound = bound};
}

/* Collects the newest (cap) candidate seqs before `before` into fw. */
static ld_err
feed_collect(const ld_sm *sm, const ld_id *user_id, uint64_t before, feed_walk *fw)
{
    uint32_t fan_idx = ldi_fan_find(sm, user_id);
    uint32_t following = fan_idx == LDI_NIL ? 0 : ldi_fan_at(sm, fan_idx)->following;
    feed_source *src = malloc(((size_t)following + 1) * sizeof *src);
    if (src == NULL)
        return LD_ERR_NOMEM;
    uint32_t n = 0;
    source_add(sm, LD_TOPIC_USER, user_id, 0, before, src, &n);
    for (uint32_t i = fan_idx == LDI_NIL ? LDI_NIL : ldi_fan_at(sm, fan_idx)->head; i != LDI_NIL;
         i = ldi_fol_at(sm, i)->next) {
        const ldi_fol *f = ldi_fol_at(sm, i);
        source_add(sm, LD_TOPIC_CREATOR, &f->creator_id, f->seq, before, src, &n);
    }
    LD_ASSERT(n <= following + 1);
    qsort(src, n, sizeof *src, source_cmp);
    ld_err err = LD_OK;
    for (uint32_t i = 0; i < n && err == LD_OK; i++) {
        if (fw->len == fw->cap && src[i].bound <= fw->heap[0])
            break; /* every later source is older still */
        uint8_t start[LDI_REC_KEY_BYTES_MAX];
        size_t start_len = ldi_rec_notable_key(src[i].kind, &src[i].id, src[i].bound, start);
        fw->floor = src[i].floor;
        err = sm->store->ops->seek(sm->store->impl, start, 2 + LD_ID_BYTES, start, start_len, true,
                                   feed_cb, fw);
        if (fw->bad)
            err = LD_ERR_STORAGE;
    }
    free(src);
    return err;
}

static int
seq_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y ? 1 : 0;
}

static ld_notification_kind
note_kind(ld_event_type type)
{
    switch (type) {
    case LD_EVENT_DROP_LIVE:
        return LD_NOTIFY_DROP_LIVE;
    case LD_EVENT_LOW_STOCK:
        return LD_NOTIFY_LOW_STOCK;
    case LD_EVENT_SOLD_OUT:
        return LD_NOTIFY_SOLD_OUT;
    case LD_EVENT_ORDER_PAID:
        return LD_NOTIFY_ORDER_PAID;
    case LD_EVENT_ORDER_FAILED:
        return LD_NOTIFY_ORDER_FAILED;
    default:
        return 0;
    }
}

/* Reads the notifications of the `count` newest candidates into the page. */
static ld_err
feed_fill(const ld_sm *sm, const uint64_t *seqs, uint32_t count, ld_page *page)
{
    for (uint32_t i = 0; i < count; i++) {
        ld_notification_view *nv = &page->u.notifications[i];
        memset(nv, 0, sizeof *nv);
        bool found;
        ld_err err = ldi_event_read(sm, seqs[i], &nv->event, &found);
        if (err != LD_OK)
            return err;
        nv->kind = found ? note_kind(nv->event.type) : 0;
        if (nv->kind == 0)
            return LD_ERR_STORAGE; /* the index names a missing or unworthy event */
        page->count = i + 1;
    }
    return LD_OK;
}

void
ldi_list_notifications(const ld_sm *sm, int64_t now_ms, const ld_op *o, ld_page *page,
                       ld_result *res)
{
    (void)now_ms;
    const ld_op_list *op = &o->u.list;
    uint32_t first;
    if (!ldi_page_first("list_notifications", op->first, LD_PAGE_DROPS_MAX, &first, res))
        return;
    uint64_t before = UINT64_MAX;
    if (op->after[0] != '\0') {
        ld_cursor c;
        if (!ld_cursor_decode(op->after, LD_CURSOR_NOTIFICATIONS, &c)) {
            ld_result_fail(res, LD_ERR_INVALID_CURSOR, "list_notifications: bad cursor");
            return;
        }
        before = c.sort_key;
    }
    page->kind = LD_RESULT_NOTIFICATION_PAGE;
    uint64_t heap[LD_PAGE_DROPS_MAX + 1];
    feed_walk fw = {.heap = heap, .cap = first + 1};
    ld_err err = feed_collect(sm, &op->id, before, &fw);
    if (err == LD_OK) {
        qsort(heap, fw.len, sizeof heap[0], seq_desc);
        page->has_next_page = fw.len > first;
        err = feed_fill(sm, heap, fw.len < first ? fw.len : first, page);
    }
    if (err != LD_OK) {
        ld_result_fail(res, err, "list_notifications: read failed");
        return;
    }
    if (page->count > 0) {
        ld_cursor c = {.list = LD_CURSOR_NOTIFICATIONS, .sort_key = heap[page->count - 1]};
        ld_cursor_encode(&c, page->end_cursor);
    } else {
        size_t len = strnlen(op->after, LD_CURSOR_BYTES_MAX);
        memcpy(page->end_cursor, op->after, len);
        page->end_cursor[len] = '\0';
    }
}
