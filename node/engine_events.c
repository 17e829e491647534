/*
 * engine_events.c -- pages, long polls, push and the relay of follow events (see engine_int.h).
 *
 * Pages. Every page op is read into ONE ld_page (about 0.5 MiB, allocated at start) and turned
 * at once into its wire form, with one reused ld_codec_page_scratch, straight into the
 * request's reply buffer. A page that would push the response past LD_RESPONSE_BYTES_MAX is
 * read again with half the size it asked for (a shorter page is a valid page: its cursor or
 * next_after says where to go on), until it fits.
 *
 * Long polls. A PULL_EVENTS whose page is empty and whose wait_ms > 0 is parked in one of
 * LD_NODE_LONG_POLLS_MAX slots (beyond: answered at once, empty). Parked pulls hang on chains
 * by topic -- a hash of (kind, id); pulls of the whole stream on a chain of their own -- so
 * after each committed batch, each event marks just the pulls it concerns (its topic_seq past
 * their `after`). Marked pulls are read again after the turn's sync and answered if their page
 * is no longer empty. Each parked pull has its own uv timer that answers it when wait_ms
 * passes; shutdown answers all of them at once. A request replies when its last op resolves.
 *
 * Relay (docs/ARCHITECTURE.md §11). FOLLOWED / UNFOLLOWED events become RELAY_FOLLOW ops of a later
 * batch, in seq order, at most ENG_RELAY_OPS_MAX per batch. The queue is bounded: the backlog is a
 * position, relay_scanned (every follow event up to it is relayed or queued), and what lies
 * beyond it is read back from the event log with PULL_EVENTS pages, one page per turn. At start
 * relay_scanned is the state machine's relay cursor, so whatever a stop cut off is relayed
 * again (the state machine ignores seqs at or below its cursor).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "log.h"
#include "util.h"

#define POLL_STREAM_CHAIN ENG_POLL_HASH_SLOTS /* pulls without a topic */

/* ---- life cycle ---------------------------------------------------------------------------- */

void
ldi_eng_events_init(ldi_engine *e)
{
    e->page = ldi_xmalloc(sizeof *e->page);
    if (ld_codec_page_scratch_alloc(&e->page_scratch) != LD_OK)
        ldi_fatal("out of memory for the page scratch");
    e->polls = ldi_xcalloc(LD_NODE_LONG_POLLS_MAX, sizeof *e->polls);
    e->poll_hash = ldi_xcalloc(ENG_POLL_HASH_SLOTS + 1, sizeof *e->poll_hash);
    for (uint32_t i = 0; i < LD_NODE_LONG_POLLS_MAX; i++) {
        e->polls[i].engine = e;
        e->polls[i].next = i + 1 < LD_NODE_LONG_POLLS_MAX ? i + 2 : 0;
    }
    e->poll_free = 1;
    e->relay_q = ldi_xcalloc(ENG_RELAY_OPS_MAX, sizeof *e->relay_q);
    ldi_eng_relay_reset(e);
}

void
ldi_eng_relay_reset(ldi_engine *e)
{
    e->relay_n = 0;
    e->relay_scanned = ld_sm_relay_cursor(e->sm, 0);
    uint64_t last = ld_sm_last_event_seq(e->sm);
    if (e->relay_scanned < last)
        LDI_INFO("relay: events %" PRIu64 "..%" PRIu64 " are read again for follow events to "
                 "relay",
                 e->relay_scanned + 1, last);
}

void
ldi_eng_events_fini(ldi_engine *e)
{
    free(e->page);
    if (e->page_scratch != NULL)
        ld_codec_page_scratch_free(e->page_scratch);
    free(e->polls);
    free(e->poll_hash);
    free(e->relay_q);
    e->page = NULL;
    e->page_scratch = NULL;
    e->polls = NULL;
    e->poll_hash = NULL;
    e->relay_q = NULL;
}

void
ldi_eng_polls_start(ldi_engine *e)
{
    LD_ASSERT(!e->polls_started);
    for (uint32_t i = 0; i < LD_NODE_LONG_POLLS_MAX; i++) {
        LD_ASSERT(uv_timer_init(e->loop, &e->polls[i].timer) == 0);
        e->polls[i].timer.data = &e->polls[i];
    }
    e->polls_started = true;
}

void
ldi_eng_polls_stop(ldi_engine *e)
{
    if (!e->polls_started)
        return;
    LD_ASSERT(e->n_polls == 0);
    for (uint32_t i = 0; i < LD_NODE_LONG_POLLS_MAX; i++)
        uv_close((uv_handle_t *)&e->polls[i].timer, NULL);
    e->polls_started = false;
}

/* ---- pages --------------------------------------------------------------------------------- */

/* Halves the number of entries a page op asks for; false when it asks for one already. */
static bool
page_narrow(ld_op *op)
{
    uint32_t *n = NULL;
    switch (op->type) {
    case LD_OP_LIST_DROPS:
        n = &op->u.list_drops.first;
        break;
    case LD_OP_PULL_EVENTS:
        n = &op->u.pull.max;
        break;
    default: /* LIST_FOLLOWERS, LIST_FOLLOWING, LIST_PRODUCTS, LIST_NOTIFICATIONS */
        n = &op->u.list.first;
        break;
    }
    if (*n <= 1)
        return false;
    *n /= 2;
    return true;
}

typedef enum page_mode {
    PAGE_ANSWER = 0,   /* answer whatever the page holds */
    PAGE_MAY_PARK = 1, /* an empty pull with wait_ms may be parked instead */
    PAGE_IF_EVENTS = 2 /* answer only if the page holds something (a woken pull) */
} page_mode;

static bool poll_park(ldi_engine *e, eng_req *r, uint32_t op_index, const ld_op_pull_events *pull);

/* Reads page op `op` and answers op `op_index` of `r` with it, narrowing the page until it fits
 * the response. Returns false only when nothing was answered (parked, or PAGE_IF_EVENTS and
 * the page is empty). */
static bool
page_answer(ldi_engine *e, eng_req *r, uint32_t op_index, ld_op *op, int64_t now_ms, page_mode mode)
{
    LD_ASSERT(ld_op_is_page(op->type));
    for (;;) {
        ld_sm_read_page(e->sm, now_ms, op, e->page, &e->page_result);
        if (e->page_result.code != LD_OK) {
            ldi_eng_put_result(e, r, op_index, &e->page_result);
            return true;
        }
        bool empty = e->page->count == 0;
        if (empty && mode == PAGE_IF_EVENTS)
            return false;
        if (empty && mode == PAGE_MAY_PARK && op->type == LD_OP_PULL_EVENTS &&
            op->u.pull.wait_ms > 0 && poll_park(e, r, op_index, &op->u.pull))
            return false;
        Ldpb__Result pb;
        ld_codec_page_to_pb(e->page, &pb, e->page_scratch);
        size_t len = ldpb__result__get_packed_size(&pb);
        if (ldi_eng_result_fits(r, len)) {
            ldi_eng_put_pb(e, r, op_index, &pb, len, LD_OK);
            e->metrics.pages++;
            return true;
        }
        LDI_DEBUG("request %llu op %u: a %zu-byte page does not fit the response; reading a "
                  "smaller one",
                  (unsigned long long)r->request_id, op_index, len);
        if (!page_narrow(op)) {
            ld_result_fail(&e->page_result, LD_ERR_FRAME_TOO_LARGE,
                           "not even one entry fits in the %u-byte response next to the "
                           "request's other results; send fewer ops per request",
                           ENG_RESPONSE_BYTES_MAX);
            ldi_eng_put_result(e, r, op_index, &e->page_result);
            return true;
        }
    }
}

void
ldi_eng_answer_page(ldi_engine *e, eng_req *r, uint32_t op_index, ld_op *op, int64_t now_ms,
                    bool may_park)
{
    (void)page_answer(e, r, op_index, op, now_ms, may_park ? PAGE_MAY_PARK : PAGE_ANSWER);
}

/* ---- long polls ---------------------------------------------------------------------------- */

static uint32_t
poll_chain(ld_topic_kind kind, const ld_id *id)
{
    if (kind == LD_TOPIC_NONE)
        return POLL_STREAM_CHAIN;
    uint64_t a = 0;
    uint64_t b = 0;
    memcpy(&a, id->bytes, 8);
    memcpy(&b, id->bytes + 8, 8);
    uint64_t h = (a * 0x9E3779B97F4A7C15ull) ^ (b * 0xC2B2AE3D27D4EB4Full) ^ (uint64_t)kind;
    h ^= h >> 29;
    return (uint32_t)(h & (ENG_POLL_HASH_SLOTS - 1));
}

static void poll_timer_cb(uv_timer_t *timer);

/* Parks op `op_index` of `r`; false when every poll slot is taken or the node shuts down. */
static bool
poll_park(ldi_engine *e, eng_req *r, uint32_t op_index, const ld_op_pull_events *pull)
{
    if (e->shutting_down || !e->polls_started)
        return false;
    if (e->poll_free == 0) {
        LDI_DEBUG("long poll: %u pulls parked already; answering at once", LD_NODE_LONG_POLLS_MAX);
        return false;
    }
    uint32_t idx = e->poll_free - 1;
    eng_poll *p = &e->polls[idx];
    LD_ASSERT(!p->used);
    e->poll_free = p->next;
    p->used = true;
    p->ready = false;
    p->req = r->index;
    p->op_index = op_index;
    p->gen = r->gen;
    p->pull = *pull;
    p->hash = poll_chain(pull->topic_kind, &pull->topic_id);
    p->prev = 0;
    p->next = e->poll_hash[p->hash];
    if (p->next != 0)
        e->polls[p->next - 1].prev = idx + 1;
    e->poll_hash[p->hash] = idx + 1;
    uint32_t wait_ms = pull->wait_ms < LD_PULL_WAIT_MS_MAX ? pull->wait_ms : LD_PULL_WAIT_MS_MAX;
    uv_timer_start(&p->timer, poll_timer_cb, wait_ms, 0);
    r->slots[op_index].state = SLOT_POLL;
    e->n_polls++;
    e->metrics.polls_parked++;
    return true;
}

/* Takes poll `idx` off its chain, stops its timer and frees its slot. */
static void
poll_release(ldi_engine *e, uint32_t idx)
{
    eng_poll *p = &e->polls[idx];
    LD_ASSERT(p->used);
    if (p->prev != 0)
        e->polls[p->prev - 1].next = p->next;
    else
        e->poll_hash[p->hash] = p->next;
    if (p->next != 0)
        e->polls[p->next - 1].prev = p->prev;
    uv_timer_stop(&p->timer);
    if (p->ready)
        e->n_ready--;
    p->used = false;
    p->ready = false;
    p->prev = 0;
    p->next = e->poll_free;
    e->poll_free = idx + 1;
    LD_ASSERT(e->n_polls > 0);
    e->n_polls--;
}

/* Reads parked poll `idx` again and answers it (always, or in PAGE_IF_EVENTS mode only if
 * events came), then replies to its request if that was its last op. */
static bool
poll_answer(ldi_engine *e, uint32_t idx, int64_t now_ms, page_mode mode)
{
    eng_poll *p = &e->polls[idx];
    LD_ASSERT(p->used);
    eng_req *r = &e->reqs[p->req];
    LD_ASSERT(r->gen == p->gen && r->state == REQ_WAITING);
    LD_ASSERT(r->slots[p->op_index].state == SLOT_POLL);
    ld_op *op = &e->poll_op;
    memset(op, 0, sizeof *op);
    op->type = LD_OP_PULL_EVENTS;
    op->u.pull = p->pull;
    if (!page_answer(e, r, p->op_index, op, now_ms, mode))
        return false;
    poll_release(e, idx);
    if (r->unresolved == 0) {
        LD_ASSERT(e->n_waiting > 0);
        e->n_waiting--;
        ldi_eng_reply(e, r);
    }
    return true;
}

static int64_t
poll_now_ms(const ldi_engine *e)
{
    int64_t now = ldi_now_ms();
    int64_t last = ld_sm_last_ts(e->sm);
    return now > last ? now : last;
}

/* wait_ms passed: the pull gets its page as it is now (empty, or events that came since). Runs
 * between turns, when everything applied is durable. */
static void
poll_timer_cb(uv_timer_t *timer)
{
    eng_poll *p = timer->data;
    ldi_engine *e = p->engine;
    LD_ASSERT(p->used);
    (void)poll_answer(e, (uint32_t)(p - e->polls), poll_now_ms(e), PAGE_ANSWER);
}

static void
poll_mark(ldi_engine *e, eng_poll *p)
{
    if (!p->ready) {
        p->ready = true;
        e->n_ready++;
    }
}

static const ld_id *
event_topic_id(const ld_event_view *ev, ld_topic_kind kind)
{
    return kind == LD_TOPIC_CREATOR ? &ev->creator_id
           : kind == LD_TOPIC_DROP  ? &ev->drop_id
                                    : &ev->user_id;
}

/* Marks the parked pulls that the events evs[0..n) concern. */
static void
polls_mark(ldi_engine *e, const ld_event_view *evs, size_t n)
{
    if (e->n_polls == 0 || n == 0)
        return;
    uint64_t last_seq = evs[n - 1].seq;
    for (uint32_t i = e->poll_hash[POLL_STREAM_CHAIN]; i != 0; i = e->polls[i - 1].next)
        if (e->polls[i - 1].pull.after < last_seq)
            poll_mark(e, &e->polls[i - 1]);
    for (size_t k = 0; k < n; k++) {
        const ld_event_view *ev = &evs[k];
        for (ld_topic_kind kind = LD_TOPIC_CREATOR; kind <= LD_TOPIC_USER; kind++) {
            if (ev->topic_seq[kind] == 0)
                continue;
            const ld_id *id = event_topic_id(ev, kind);
            for (uint32_t i = e->poll_hash[poll_chain(kind, id)]; i != 0;
                 i = e->polls[i - 1].next) {
                eng_poll *p = &e->polls[i - 1];
                if (p->pull.topic_kind == kind && ld_id_eq(&p->pull.topic_id, id) &&
                    p->pull.after < ev->topic_seq[kind])
                    poll_mark(e, p);
            }
        }
    }
}

void
ldi_eng_polls_run_ready(ldi_engine *e, int64_t now_ms)
{
    for (uint32_t i = 0; i < LD_NODE_LONG_POLLS_MAX && e->n_ready > 0; i++) {
        eng_poll *p = &e->polls[i];
        if (!p->used || !p->ready)
            continue;
        p->ready = false;
        e->n_ready--;
        if (poll_answer(e, i, now_ms, PAGE_IF_EVENTS))
            e->metrics.polls_woken++;
    }
    LD_ASSERT(e->n_ready == 0);
}

void
ldi_eng_polls_answer_all(ldi_engine *e, int64_t now_ms)
{
    for (uint32_t i = 0; i < LD_NODE_LONG_POLLS_MAX && e->n_polls > 0; i++)
        if (e->polls[i].used)
            (void)poll_answer(e, i, now_ms, PAGE_ANSWER);
    LD_ASSERT(e->n_polls == 0);
}

/* ---- relay --------------------------------------------------------------------------------- */

/* Queues the relay of follow event `ev`, with the creator's handle when the creator is known. */
static void
relay_queue(ldi_engine *e, const ld_event_view *ev)
{
    LD_ASSERT(e->relay_n < ENG_RELAY_OPS_MAX);
    ld_op_relay_follow *rf = &e->relay_q[e->relay_n++];
    memset(rf, 0, sizeof *rf);
    rf->source_shard = 0;
    rf->seq = ev->seq;
    rf->user_id = ev->user_id;
    rf->creator_id = ev->creator_id;
    rf->followed = ev->type == LD_EVENT_FOLLOWED;
    rf->at_ms = ev->ts_ms;
    ld_op *op = &e->relay_op;
    memset(op, 0, sizeof *op);
    op->type = LD_OP_GET_CREATOR;
    op->u.get_creator.id = ev->creator_id;
    ld_sm_read(e->sm, ev->ts_ms, op, &e->relay_result);
    if (e->relay_result.code == LD_OK && e->relay_result.kind == LD_RESULT_CREATOR)
        snprintf(rf->creator_handle, sizeof rf->creator_handle, "%s",
                 e->relay_result.u.creator.spec.handle);
}

/* Walks events evs[0..n) (ascending seq) past relay_scanned into the relay queue, until the
 * queue is full; relay_scanned follows. */
static void
relay_scan(ldi_engine *e, const ld_event_view *evs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const ld_event_view *ev = &evs[i];
        if (ev->seq <= e->relay_scanned)
            continue;
        if (ev->type == LD_EVENT_FOLLOWED || ev->type == LD_EVENT_UNFOLLOWED) {
            if (e->relay_n == ENG_RELAY_OPS_MAX)
                return; /* the rest is read back from the event log */
            relay_queue(e, ev);
        }
        e->relay_scanned = ev->seq;
    }
}

uint32_t
ldi_eng_relay_fill(ldi_engine *e, int64_t now_ms)
{
    uint64_t last = ld_sm_last_event_seq(e->sm);
    if (e->relay_n == ENG_RELAY_OPS_MAX || e->relay_scanned >= last)
        return e->relay_n;
    ld_op *op = &e->relay_op;
    memset(op, 0, sizeof *op);
    op->type = LD_OP_PULL_EVENTS;
    op->u.pull.after = e->relay_scanned;
    op->u.pull.max = LD_PULL_EVENTS_MAX;
    ld_sm_read_page(e->sm, now_ms, op, e->page, &e->relay_result);
    if (e->relay_result.code != LD_OK || e->page->count == 0 ||
        e->page->u.events[0].seq != e->relay_scanned + 1) {
        /* Trimmed past the relay (it fell LD_EVENTS_RETAIN events behind) or unreadable:
         * skipping ahead is the only way on; say what is lost. */
        LDI_ERROR("relay: cannot read the events after seq %" PRIu64 " (%s %s); follow events up "
                  "to seq %" PRIu64 " are not relayed",
                  e->relay_scanned, ld_err_name(e->relay_result.code), e->relay_result.message,
                  last);
        e->metrics.relay_errors++;
        e->relay_scanned = last;
        return e->relay_n;
    }
    relay_scan(e, e->page->u.events, e->page->count);
    return e->relay_n;
}

uint32_t
ldi_eng_relay_take(ldi_engine *e, uint32_t k0)
{
    ld_op *op = &e->relay_op;
    uint32_t n = e->relay_n;
    for (uint32_t i = 0; i < n; i++) {
        memset(op, 0, sizeof *op);
        op->type = LD_OP_RELAY_FOLLOW;
        op->u.relay = e->relay_q[i];
        ldi_eng_add_internal(e, k0 + i, op, (ld_host_src){.kind = SRC_RELAY, .a = i});
    }
    e->metrics.relayed += n;
    e->relay_n = 0;
    return n;
}

bool
ldi_eng_relay_pending(const ldi_engine *e)
{
    return e->relay_n > 0 || e->relay_scanned < ld_sm_last_event_seq(e->sm);
}

/* ---- after a committed batch --------------------------------------------------------------- */

void
ldi_eng_after_commit(ldi_engine *e, bool relay)
{
    const ld_event_view *evs = NULL;
    size_t n = ld_sm_batch_events(e->sm, &evs);
    if (n == 0)
        return;
    LD_ASSERT(evs != NULL);
    e->metrics.events += n;
    if (e->pub != NULL) {
        uint64_t t0 = uv_hrtime();
        for (size_t i = 0; i < n; i++)
            ldi_pub_event(e->pub, &evs[i], &e->metrics.published, &e->metrics.pub_dropped);
        e->metrics.publish_ns += uv_hrtime() - t0;
    }
    if (relay && evs[0].seq == e->relay_scanned + 1)
        relay_scan(e, evs, n); /* caught up: relay from the batch itself */
    polls_mark(e, evs, n);
}
