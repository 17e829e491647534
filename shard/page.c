/*
 * page.c -- page reads (ld_sm_read_page): the dispatch, the keyset walk shared by every list,
 * and event pulls.
 *
 * Lists read their index records back through the store's seek(), which sees durable records
 * only: the node calls ld_sm_read_page() after the turn's synced write, so a page shows exactly
 * what is durable. A page resumes strictly after its cursor's (sort key, id), which is immutable
 * for every index entry, so a walk through all pages while entries come and go returns no entry
 * twice and skips none that existed for the whole walk.
 *
 * Pulls read 'E' records after a seq, or a topic's 'T' records after a topic_seq and then the
 * events they point to. A cursor older than the oldest retained event answers
 * LD_ERR_EVENTS_TRIMMED, so a consumer never misses events silently.
 */
#include <string.h>

#include "record.h"
#include "sm_int.h"

bool
ldi_page_first(const char *name, uint32_t first, uint32_t max, uint32_t *out, ld_result *res)
{
    if (first == 0)
        first = LD_PAGE_DEFAULT < max ? LD_PAGE_DEFAULT : max;
    if (first > max) {
        ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE, "%s: first is at most %u", name, max);
        return false;
    }
    *out = first;
    return true;
}

/* ---- keyset walk ------------------------------------------------------------------------- */

typedef struct walk_state {
    const ldi_walk *w;
    ld_page *page;
    const uint8_t *after_key; /* NULL: from the start */
    size_t after_len;
    uint32_t examined;
    bool have_last;
    uint64_t last_sort;
    ld_id last_id;
    bool bad;
} walk_state;

static ld_err
walk_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    walk_state *st = arg;
    const ldi_walk *w = st->w;
    if (st->after_key != NULL && key_len == st->after_len &&
        memcmp(key, st->after_key, key_len) == 0)
        return LD_OK; /* strictly after the cursor */
    if (st->page->count >= w->first || st->examined >= w->scan_max) {
        st->page->has_next_page = true;
        return LD_EXISTS;
    }
    uint64_t sort_key;
    ld_id id;
    if (!ldi_rec_list_key_split(key, key_len, w->type, w->mid_len, &sort_key, &id) ||
        !w->visit(w->arg, st->page, sort_key, &id, val, val_len)) {
        st->bad = true;
        return LD_ERR_STORAGE;
    }
    st->examined++;
    st->have_last = true;
    st->last_sort = sort_key;
    st->last_id = id;
    return LD_OK;
}

bool
ldi_walk_run(const ld_sm *sm, const ldi_walk *w, const char *after, ld_page *page, ld_result *res)
{
    LD_ASSERT(w->first >= 1 && w->scan_max >= w->first);
    uint8_t prefix[LDI_REC_LIST_KEY_BYTES_MAX], start[LDI_REC_LIST_KEY_BYTES_MAX];
    prefix[0] = w->type;
    memcpy(prefix + 1, w->mid, w->mid_len);
    size_t prefix_len = 1 + w->mid_len, start_len = prefix_len;
    memcpy(start, prefix, prefix_len);
    walk_state st = {.w = w, .page = page};
    if (after[0] != '\0') {
        ld_cursor c;
        if (!ld_cursor_decode(after, w->list, &c)) {
            ld_result_fail(res, LD_ERR_INVALID_CURSOR, "cursor is malformed or of another list");
            return false;
        }
        start_len = ldi_rec_list_key(w->type, w->mid, w->mid_len, c.sort_key, &c.id, start);
        st.after_key = start;
        st.after_len = start_len;
    }
    ld_err err = sm->store->ops->seek(sm->store->impl, prefix, prefix_len, start, start_len, false,
                                      walk_cb, &st);
    if (err != LD_OK || st.bad) {
        ld_result_fail(res, LD_ERR_STORAGE, "page read failed: %s", ld_err_name(err));
        return false;
    }
    if (st.have_last) {
        ld_cursor c = {.list = w->list, .sort_key = st.last_sort, .id = st.last_id};
        ld_cursor_encode(&c, page->end_cursor);
    } else {
        size_t n = strnlen(after, LD_CURSOR_BYTES_MAX);
        memcpy(page->end_cursor, after, n);
        page->end_cursor[n] = '\0';
    }
    return true;
}

/* ---- pulls ------------------------------------------------------------------------------- */

typedef struct pull_state {
    ld_page *page;
    uint32_t max;
    bool bad;
    /* topic pulls: seqs first, events after the walk */
    uint64_t seqs[LD_PULL_EVENTS_MAX];
    uint64_t topic_seqs[LD_PULL_EVENTS_MAX];
    uint32_t n;
} pull_state;

static ld_err
pull_stream_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    pull_state *st = arg;
    if (st->page->count >= st->max)
        return LD_EXISTS;
    if (!ldi_rec_event_decode(key, key_len, val, val_len, &st->page->u.events[st->page->count])) {
        st->bad = true;
        return LD_ERR_STORAGE;
    }
    st->page->count++;
    return LD_OK;
}

static ld_err
pull_topic_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    pull_state *st = arg;
    if (st->n >= st->max)
        return LD_EXISTS;
    uint64_t seq;
    if (key_len != 2 + LD_ID_BYTES + 8 || !ldi_rec_u64_decode(val, val_len, &seq) || seq == 0) {
        st->bad = true;
        return LD_ERR_STORAGE;
    }
    st->topic_seqs[st->n] = ldi_be64_get((const uint8_t *)key + 2 + LD_ID_BYTES);
    st->seqs[st->n++] = seq;
    return LD_OK;
}

static bool
pull_trimmed(uint64_t after, uint64_t floor, ld_result *res)
{
    if (after + 1 >= floor)
        return false;
    ld_result_fail(res, LD_ERR_EVENTS_TRIMMED, "pull_events: events up to %llu are trimmed",
                   (unsigned long long)(floor - 1));
    return true;
}

static void
pull_stream(const ld_sm *sm, const ld_op_pull_events *op, uint32_t max, ld_page *page,
            pull_state *st, ld_result *res)
{
    if (pull_trimmed(op->after, sm->first_event_seq, res))
        return;
    page->last_seq = sm->last_event_seq;
    page->next_after = op->after;
    if (op->after >= sm->last_event_seq)
        return;
    uint8_t start[LDI_REC_KEY_BYTES_MAX], prefix = LDI_REC_EVENT;
    size_t start_len = ldi_rec_event_key(op->after + 1, start);
    st->max = max;
    ld_err err = sm->store->ops->seek(sm->store->impl, &prefix, 1, start, start_len, false,
                                      pull_stream_cb, st);
    if (err != LD_OK || st->bad) {
        ld_result_fail(res, LD_ERR_STORAGE, "pull_events: read failed");
        return;
    }
    if (page->count > 0)
        page->next_after = page->u.events[page->count - 1].seq;
    page->has_next_page = page->next_after < sm->last_event_seq;
}

static void
pull_topic(const ld_sm *sm, const ld_op_pull_events *op, uint32_t max, ld_page *page,
           pull_state *st, ld_result *res)
{
    page->topic_kind = op->topic_kind;
    page->topic_id = op->topic_id;
    page->next_after = op->after;
    uint32_t t = ldi_topic_find(sm, (uint8_t)op->topic_kind, &op->topic_id);
    if (t == LDI_NIL)
        return; /* no event on it yet: an empty page, last_seq 0 */
    const ldi_topic *topic = ldi_topic_at(sm, t);
    if (pull_trimmed(op->after, topic->floor, res))
        return;
    page->last_seq = topic->count;
    if (op->after >= topic->count)
        return;
    uint8_t start[LDI_REC_KEY_BYTES_MAX];
    size_t start_len = ldi_rec_tindex_key(topic->kind, &topic->id, op->after + 1, start);
    st->max = max;
    ld_err err = sm->store->ops->seek(sm->store->impl, start, 2 + LD_ID_BYTES, start, start_len,
                                      false, pull_topic_cb, st);
    for (uint32_t i = 0; err == LD_OK && !st->bad && i < st->n; i++) {
        bool found;
        ld_event_view *ev = &page->u.events[i];
        err = ldi_event_read(sm, st->seqs[i], ev, &found);
        if (err == LD_OK && (!found || ev->topic_seq[op->topic_kind] != st->topic_seqs[i]))
            st->bad = true; /* the index points at a missing or different event */
        page->count = i + 1;
    }
    if (err != LD_OK || st->bad) {
        ld_result_fail(res, LD_ERR_STORAGE, "pull_events: read failed");
        return;
    }
    if (page->count > 0)
        page->next_after = st->topic_seqs[page->count - 1];
    page->has_next_page = page->next_after < topic->count;
}

void
ldi_pull_events(const ld_sm *sm, int64_t now_ms, const ld_op *o, ld_page *page, ld_result *res)
{
    (void)now_ms;
    const ld_op_pull_events *op = &o->u.pull;
    uint32_t max = op->max == 0 ? LD_PULL_EVENTS_MAX / 10 : op->max;
    if (max > LD_PULL_EVENTS_MAX || op->wait_ms > LD_PULL_WAIT_MS_MAX) {
        ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE,
                       "pull_events: max is at most %u, wait_ms at most %u", LD_PULL_EVENTS_MAX,
                       LD_PULL_WAIT_MS_MAX);
        return;
    }
    page->kind = LD_RESULT_EVENT_PAGE;
    pull_state *st = &(pull_state){.page = page};
    if (op->topic_kind == LD_TOPIC_NONE)
        pull_stream(sm, op, max, page, st, res);
    else if (op->topic_kind >= LD_TOPIC_CREATOR && op->topic_kind <= LD_TOPIC_USER)
        pull_topic(sm, op, max, page, st, res);
    else
        ld_result_fail(res, LD_ERR_INVALID_TOPIC, "pull_events: unknown topic kind");
}

/* ---- dispatch ---------------------------------------------------------------------------- */

void
ld_sm_read_page(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page_out,
                ld_result *result_out)
{
    LD_ASSERT(sm != NULL && op != NULL);
    LD_ASSERT(page_out != NULL && result_out != NULL);
    memset(result_out, 0, sizeof *result_out);
    /* The header only: the item array is large and each item is filled whole. */
    page_out->kind = LD_RESULT_NONE;
    page_out->count = 0;
    page_out->has_next_page = false;
    page_out->end_cursor[0] = '\0';
    page_out->next_after = page_out->last_seq = 0;
    page_out->topic_kind = LD_TOPIC_NONE;
    memset(&page_out->topic_id, 0, sizeof page_out->topic_id);
    const ldi_op_row *row = ldi_op_row_of(op->type);
    if (row->page == NULL) {
        ld_result_fail(result_out, LD_ERR_UNKNOWN_OP, "%s: not a page op", ld_op_name(op->type));
        return;
    }
    row->page(sm, now_ms, op, page_out, result_out);
}
