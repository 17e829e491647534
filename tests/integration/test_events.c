/*
 * test_events.c -- the outbox on a real node: a dense, ordered stream from seq
 * 1 with per-topic indexes, the event types of a whole drop lifecycle, long
 * polls, identity across kill -9, and push over the publish socket with gaps
 * detected by topic_seq and filled by a topic pull.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(events, .fini = ldh_suite_fini, .timeout = 120);

/* ---- topics as shard/op.h defines them
 * ------------------------------------------------------ */

static bool
on_creator_topic(const ld_event *ev, const ld_id *creator)
{
    switch (ev->type) {
    case LD_EVENT_DROP_SCHEDULED:
    case LD_EVENT_DROP_LIVE:
    case LD_EVENT_LOW_STOCK:
    case LD_EVENT_SOLD_OUT:
    case LD_EVENT_DROP_ENDED:
    case LD_EVENT_DROP_CANCELLED:
    case LD_EVENT_FOLLOWED:
    case LD_EVENT_UNFOLLOWED:
        return ldh_id_eq(&ev->creator_id, creator);
    default:
        return false;
    }
}

static bool
on_drop_topic(const ld_event *ev, const ld_id *drop)
{
    return ev->type <= LD_EVENT_ORDER_FAILED && ldh_id_eq(&ev->drop_id, drop);
}

static bool
on_user_topic(const ld_event *ev, const ld_id *user)
{
    switch (ev->type) {
    case LD_EVENT_RESERVATION_EXPIRED:
    case LD_EVENT_ORDER_PAID:
    case LD_EVENT_ORDER_FAILED:
    case LD_EVENT_FOLLOWED:
    case LD_EVENT_UNFOLLOWED:
        return ldh_id_eq(&ev->user_id, user);
    default:
        return false;
    }
}

/* Pulls `topic` from 0 and checks it is exactly the stream's events on it, in
 * order. */
static void
assert_topic_matches_stream(ld_client *c, const ldh_events *stream, const char *kind,
                            const ld_id *id, bool (*on_topic)(const ld_event *, const ld_id *))
{
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_topic(topic, kind, id);
    ldh_events got = {0};
    ldh_events_pull_all(c, topic, 0, 3, &got);
    size_t k = 0;
    for (size_t i = 0; i < stream->n; i++) {
        if (!on_topic(&stream->v[i], id))
            continue;
        cr_assert_lt(k, got.n, "%s lacks stream event seq %llu (%s)", topic,
                     (unsigned long long)stream->v[i].seq, ldh_event_name(stream->v[i].type));
        cr_assert(ldh_event_same(&got.v[k], &stream->v[i]),
                  "%s: topic_seq %zu is seq %llu (%s), the stream says seq %llu (%s)", topic, k + 1,
                  (unsigned long long)got.v[k].seq, ldh_event_name(got.v[k].type),
                  (unsigned long long)stream->v[i].seq, ldh_event_name(stream->v[i].type));
        k++;
    }
    cr_assert_eq(k, got.n, "%s holds %zu events, the stream %zu", topic, got.n, k);
    cr_assert_gt(k, 0, "%s is empty: the test made no event on it", topic);
    ldh_events_free(&got);
}

typedef struct ev_world {
    ld_id creator, user, fan;
    ld_drop_spec live, upcoming;
} ev_world;

/* Some of everything: follows, two drops, a cancel, a paid and a failed order.
 */
static void
make_world(ld_client *c, ev_world *w)
{
    w->creator = ldh_creator_create(c, "evented", NULL);
    w->user = ldh_user_create(c, "buyer", NULL);
    w->fan = ldh_id();
    ldh_follow(c, &w->user, &w->creator, NULL);
    ldh_follow(c, &w->fan, &w->creator, NULL);
    ldh_unfollow(c, &w->fan, &w->creator, NULL);
    int64_t now = ldh_now_ms();
    ldh_drop_spec_at(&w->live, &w->creator, now - 1000, now + 3600000, 10);
    w->live.low_stock_threshold = 5;
    ldh_drop_create(c, &w->live, NULL);
    ldh_drop_spec_at(&w->upcoming, &w->creator, now + 3600000, now + 7200000, 10);
    ldh_drop_create(c, &w->upcoming, NULL);
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_drop_cancel(c, &w->creator, &w->upcoming.id, NULL, &msg), LD_OK, "%s",
                 msg.text);
    ld_order o;
    cr_assert_eq(ld_place_order(c, &w->live.id, &w->user, 6, "w-1", "pm_card_ok", &o, &msg), LD_OK,
                 "%s", msg.text);
    ld_err err = ld_place_order(c, &w->live.id, &w->user, 1, "w-2", "pm_card_declined", &o, &msg);
    cr_assert_eq(err, LD_ERR_PAYMENT_DECLINED, "%s", ld_err_name(err));
}

Test(events, stream_is_dense_from_seq_1_and_topics_index_it)
{
    /* Goal: a new shard's stream starts empty, then holds every event once with
     * seq 1, 2, 3... in time order, whatever the page size; each topic (creator/,
     * drop/, user/) returns exactly the stream's events on it with topic_seq 1,
     * 2, 3... Method: an empty pull, then some of everything; the stream pulled
     * with max 1, 7 and 1000 must be identical; topic pulls (max 3) are compared
     * with the stream filtered by the topic rules of shard/op.h. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_event_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_events_pull(c, NULL, 0, 0, 0, page, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(page->count, 0, "a new shard has %u events", page->count);
    cr_assert_eq(page->last_seq, 0);
    cr_assert_eq(page->next_after, 0);
    free(page);

    ev_world w;
    make_world(c, &w);
    ldh_events a = {0}, b = {0}, d = {0};
    uint64_t last = ldh_events_pull_all(c, NULL, 0, 1000, &a);
    cr_assert_eq(a.n, last);
    cr_assert_geq(a.n, 8, "only %zu events for some of everything", a.n);
    ldh_events_pull_all(c, NULL, 0, 7, &b);
    ldh_events_pull_all(c, NULL, 0, 1, &d);
    cr_assert_eq(b.n, a.n);
    cr_assert_eq(d.n, a.n);
    for (size_t i = 0; i < a.n; i++) {
        cr_assert(ldh_event_same(&a.v[i], &b.v[i]) && ldh_event_same(&a.v[i], &d.v[i]),
                  "seq %zu differs between page sizes", i + 1);
        cr_assert_eq(a.v[i].shard, 0);
        if (i > 0)
            cr_assert_geq(a.v[i].timestamp_ms, a.v[i - 1].timestamp_ms, "seq %zu goes back in time",
                          i + 1);
    }
    assert_topic_matches_stream(c, &a, "creator", &w.creator, on_creator_topic);
    assert_topic_matches_stream(c, &a, "drop", &w.live.id, on_drop_topic);
    assert_topic_matches_stream(c, &a, "drop", &w.upcoming.id, on_drop_topic);
    assert_topic_matches_stream(c, &a, "user", &w.user, on_user_topic);
    assert_topic_matches_stream(c, &a, "user", &w.fan, on_user_topic);

    /* An unknown topic is empty, not an error; a pull after the end is empty. */
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ld_id nobody = ldh_id();
    ldh_events none = {0};
    cr_assert_eq(ldh_events_pull_all(c, ldh_topic(topic, "user", &nobody), 0, 0, &none), 0);
    cr_assert_eq(ldh_events_pull_all(c, NULL, last, 0, &none), last);
    cr_assert_eq(none.n, 0);
    ldh_events_free(&a);
    ldh_events_free(&b);
    ldh_events_free(&d);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* ---- a whole drop lifecycle
 * ----------------------------------------------------------------- */

typedef struct lc_run {
    ld_client *c;
    ld_id creator, fan;
    ld_drop_spec drop, other;
    ld_order paid1, failed2, paid6, paid7;
    ld_reservation held3;
    ld_id users[8];
    uint64_t batch_from, batch_to; /* seqs of the one request with two reserves */
    char drop_topic[LD_TOPIC_BYTES_MAX + 1];
    uint64_t after; /* drop topic position */
} lc_run;

static void
lc_order(lc_run *r, int user, int64_t qty, const char *method, ld_err want, ld_order *out)
{
    char key[32];
    snprintf(key, sizeof key, "lc-%d", user);
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(r->c, &r->drop.id, &r->users[user], qty, key, method, out, &msg);
    cr_assert_eq(err, want, "user %d: %s (%s)", user, ld_err_name(err), msg.text);
}

/* Two reserves in one request: one batch, so one STOCK_CHANGED. */
static void
lc_two_reserves_in_one_request(lc_run *r)
{
    Ldpb__Reserve rs[2];
    Ldpb__Op ops[2];
    Ldpb__Op *op_ptrs[2];
    for (int i = 0; i < 2; i++) {
        rs[i] = (Ldpb__Reserve)LDPB__RESERVE__INIT;
        rs[i].drop_id = ldh_pb_id(&r->drop.id);
        rs[i].user_id = ldh_pb_id(&r->users[4 + i]);
        rs[i].qty = 1;
        rs[i].idempotency_key = i ? "lc-5" : "lc-4";
        ops[i] = (Ldpb__Op)LDPB__OP__INIT;
        ops[i].principal = ldh_pb_id(&r->users[4 + i]);
        ops[i].body_case = LDPB__OP__BODY_RESERVE;
        ops[i].reserve = &rs[i];
        op_ptrs[i] = &ops[i];
    }
    ldh_events before = {0};
    r->batch_from = ldh_events_pull_all(r->c, NULL, 0, 0, &before);
    ldh_events_free(&before);
    uint32_t codes[2];
    cr_assert_eq(ldh_raw_ops(r->c, op_ptrs, 2, codes, NULL), 0);
    cr_assert_eq(codes[0], LD_OK, "%s", ld_err_name((ld_err)codes[0]));
    cr_assert_eq(codes[1], LD_OK, "%s", ld_err_name((ld_err)codes[1]));
    ldh_events after = {0};
    r->batch_to = ldh_events_pull_all(r->c, NULL, r->batch_from, 0, &after);
    ldh_events_free(&after);
}

/* Drives the drop through its life; every step waits for its event on the
 * drop's topic. */
static void
lc_drive(lc_run *r)
{
    ldh_events_wait(r->c, r->drop_topic, &r->after, LD_EVENT_DROP_LIVE, &r->drop.id, 5000);
    lc_order(r, 1, 2, "pm_card_ok", LD_OK, &r->paid1); /* 6 -> 4 */
    lc_order(r, 2, 1, "pm_card_declined", LD_ERR_PAYMENT_DECLINED, &r->failed2);
    ld_errmsg msg = {{0}};
    ld_err err = ld_reserve(r->c, &r->drop.id, &r->users[3], 1, "lc-3", &r->held3, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text); /* 4 -> 3, expires */
    ldh_events_wait(r->c, r->drop_topic, &r->after, LD_EVENT_RESERVATION_EXPIRED, &r->drop.id,
                    5000);
    lc_two_reserves_in_one_request(r);                 /* 4 -> 2: LOW_STOCK */
    lc_order(r, 6, 2, "pm_card_ok", LD_OK, &r->paid6); /* 2 -> 0: SOLD_OUT */
    for (int i = 0; i < 2; i++)                        /* users 4, 5: 0 -> 2 */
        ldh_events_wait(r->c, r->drop_topic, &r->after, LD_EVENT_RESERVATION_EXPIRED, &r->drop.id,
                        5000);
    lc_order(r, 7, 2, "pm_card_ok", LD_OK, &r->paid7); /* 2 -> 0: SOLD_OUT again */
    ldh_unfollow(r->c, &r->fan, &r->creator, NULL);
    cr_assert_eq(ld_drop_cancel(r->c, &r->creator, &r->other.id, NULL, &msg), LD_OK, "%s",
                 msg.text);
    int64_t left = r->drop.ends_at_ms - ldh_now_ms();
    ldh_events_wait(r->c, r->drop_topic, &r->after, LD_EVENT_DROP_ENDED, &r->drop.id,
                    (left > 0 ? left : 0) + 5000);
}

/* Checks the drop's events other than STOCK_CHANGED, in order, with their
 * fields. */
static void
lc_check_sequence(lc_run *r, const ldh_events *s)
{
    static const ld_event_type want[] = {LD_EVENT_DROP_SCHEDULED,
                                         LD_EVENT_DROP_LIVE,
                                         LD_EVENT_ORDER_PAID,
                                         LD_EVENT_ORDER_FAILED,
                                         LD_EVENT_RESERVATION_EXPIRED,
                                         LD_EVENT_LOW_STOCK,
                                         LD_EVENT_SOLD_OUT,
                                         LD_EVENT_ORDER_PAID,
                                         LD_EVENT_RESERVATION_EXPIRED,
                                         LD_EVENT_RESERVATION_EXPIRED,
                                         LD_EVENT_SOLD_OUT,
                                         LD_EVENT_ORDER_PAID,
                                         LD_EVENT_DROP_ENDED};
    const size_t n_want = sizeof want / sizeof want[0];
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        const ld_event *ev = &s->v[i];
        if (!ldh_id_eq(&ev->drop_id, &r->drop.id) || ev->type == LD_EVENT_STOCK_CHANGED)
            continue;
        cr_assert_lt(k, n_want, "an extra %s at seq %llu", ldh_event_name(ev->type),
                     (unsigned long long)ev->seq);
        cr_assert_eq(ev->type, want[k], "drop event %zu is %s, expected %s", k,
                     ldh_event_name(ev->type), ldh_event_name(want[k]));
        if (ev->type <= LD_EVENT_DROP_CANCELLED) { /* drop events carry the stock after */
            cr_assert(ldh_id_eq(&ev->creator_id, &r->creator), "%s without its creator",
                      ldh_event_name(ev->type));
            cr_assert_str_eq(ev->title, r->drop.product.title);
            cr_assert_eq(ev->stock.available + ev->stock.reserved + ev->stock.sold, 6,
                         "%s: stock %lld/%lld/%lld", ldh_event_name(ev->type),
                         (long long)ev->stock.available, (long long)ev->stock.reserved,
                         (long long)ev->stock.sold);
        }
        if (ev->type == LD_EVENT_SOLD_OUT)
            cr_assert_eq(ev->stock.available, 0);
        if (ev->type == LD_EVENT_LOW_STOCK)
            cr_assert_leq(ev->stock.available, 2);
        k++;
    }
    cr_assert_eq(k, n_want, "%zu of the %zu expected drop events", k, n_want);
    long paid = ldh_events_find(s, 0, LD_EVENT_ORDER_PAID, &r->drop.id);
    cr_assert(ldh_id_eq(&s->v[paid].order_id, &r->paid1.id));
    cr_assert(ldh_id_eq(&s->v[paid].user_id, &r->users[1]));
    cr_assert_eq(s->v[paid].qty, 2);
    long failed = ldh_events_find(s, 0, LD_EVENT_ORDER_FAILED, &r->drop.id);
    cr_assert(ldh_id_eq(&s->v[failed].user_id, &r->users[2]));
    long expired = ldh_events_find(s, 0, LD_EVENT_RESERVATION_EXPIRED, &r->drop.id);
    cr_assert(ldh_id_eq(&s->v[expired].reservation_id, &r->held3.id));
    cr_assert(ldh_id_eq(&s->v[expired].user_id, &r->users[3]));
    long ended = ldh_events_find(s, 0, LD_EVENT_DROP_ENDED, &r->drop.id);
    cr_assert_geq(s->v[ended].timestamp_ms, r->drop.ends_at_ms);
}

/* STOCK_CHANGED: P1 holds in each, and the one request of two reserves made
 * exactly one, after its LOW_STOCK, carrying the batch's final stock. */
static void
lc_check_stock_changed(lc_run *r, const ldh_events *s)
{
    int in_batch = 0;
    bool low_seen = false;
    for (size_t i = 0; i < s->n; i++) {
        const ld_event *ev = &s->v[i];
        if (!ldh_id_eq(&ev->drop_id, &r->drop.id) || ev->seq <= r->batch_from ||
            ev->seq > r->batch_to)
            continue;
        if (ev->type == LD_EVENT_LOW_STOCK)
            low_seen = true;
        if (ev->type != LD_EVENT_STOCK_CHANGED)
            continue;
        in_batch++;
        cr_assert(low_seen, "STOCK_CHANGED before the batch's LOW_STOCK");
        cr_assert_eq(ev->stock.available, 2);
        cr_assert_eq(ev->stock.reserved, 2);
        cr_assert_eq(ev->stock.sold, 2);
    }
    cr_assert_eq(in_batch, 1, "one batch of two reserves made %d STOCK_CHANGED", in_batch);
    int low = 0, changed = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!ldh_id_eq(&s->v[i].drop_id, &r->drop.id))
            continue;
        low += s->v[i].type == LD_EVENT_LOW_STOCK;
        if (s->v[i].type != LD_EVENT_STOCK_CHANGED)
            continue;
        changed++;
        const ld_stock *st = &s->v[i].stock;
        cr_assert(st->available >= 0 && st->reserved >= 0 && st->sold >= 0 &&
                      st->available + st->reserved + st->sold == 6,
                  "STOCK_CHANGED at seq %llu breaks P1: %lld/%lld/%lld",
                  (unsigned long long)s->v[i].seq, (long long)st->available,
                  (long long)st->reserved, (long long)st->sold);
    }
    cr_assert_eq(low, 1, "LOW_STOCK %d times: it is emitted once per drop", low);
    cr_assert_geq(changed, 6, "only %d STOCK_CHANGED for 9 stock changes", changed);
}

Test(events, a_drop_lifecycle_emits_each_type)
{
    /* Goal: a drop's life emits, in order: DROP_SCHEDULED, DROP_LIVE, ORDER_PAID,
     * ORDER_FAILED, RESERVATION_EXPIRED, LOW_STOCK (once, though stock crosses
     * the threshold twice), SOLD_OUT (each time stock reaches 0), DROP_ENDED,
     * with STOCK_CHANGED coalesced to one per batch; follows and a cancel emit
     * FOLLOWED, UNFOLLOWED, DROP_CANCELLED. Method: a drop of 6 (low-stock
     * threshold 2, TTL 1 s) starting in 0.8 s and ending 6 s later; each step
     * waits for its event by long poll; two reserves travel in one request (one
     * batch); then the whole stream is checked. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    static lc_run r;
    memset(&r, 0, sizeof r);
    r.c = ldh_client(&node, 10000);
    r.creator = ldh_creator_create(r.c, "lifecycle", NULL);
    r.fan = ldh_id();
    for (int i = 0; i < 8; i++)
        r.users[i] = ldh_id();
    ldh_follow(r.c, &r.fan, &r.creator, NULL);
    int64_t now = ldh_now_ms();
    ldh_drop_spec_at(&r.drop, &r.creator, now + 800, now + 6800, 6);
    r.drop.low_stock_threshold = 2;
    r.drop.reservation_ttl_ms = LD_RESERVATION_TTL_MS_MIN;
    ldh_drop_create(r.c, &r.drop, NULL);
    ldh_drop_spec_at(&r.other, &r.creator, now + 3600000, now + 7200000, 1);
    ldh_drop_create(r.c, &r.other, NULL);
    ldh_topic(r.drop_topic, "drop", &r.drop.id);
    lc_drive(&r);

    ldh_events s = {0};
    ldh_events_pull_all(r.c, NULL, 0, 0, &s);
    lc_check_sequence(&r, &s);
    lc_check_stock_changed(&r, &s);
    long f = ldh_events_find(&s, 0, LD_EVENT_FOLLOWED, NULL);
    cr_assert_geq(f, 0, "no FOLLOWED");
    cr_assert(ldh_id_eq(&s.v[f].user_id, &r.fan) && ldh_id_eq(&s.v[f].creator_id, &r.creator));
    long u = ldh_events_find(&s, 0, LD_EVENT_UNFOLLOWED, NULL);
    cr_assert_geq(u, 0, "no UNFOLLOWED");
    cr_assert(ldh_id_eq(&s.v[u].user_id, &r.fan));
    long x = ldh_events_find(&s, 0, LD_EVENT_DROP_CANCELLED, &r.other.id);
    cr_assert_geq(x, 0, "no DROP_CANCELLED");
    cr_assert(ldh_id_eq(&s.v[x].creator_id, &r.creator));
    cr_assert_lt(ldh_events_find(&s, 0, LD_EVENT_DROP_LIVE, &r.other.id), 0,
                 "a cancelled drop went live");
    ldh_events_free(&s);
    ld_client_close(r.c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(events, a_drop_created_live_emits_scheduled_then_live)
{
    /* Goal: a drop created already live emits DROP_SCHEDULED and DROP_LIVE,
     * adjacent, in that order, in the create's own batch. Method: create, then
     * read the drop's topic. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id creator = ldh_creator_create(c, "instant", NULL);
    ld_drop_spec spec;
    int64_t now = ldh_now_ms();
    ldh_drop_spec_at(&spec, &creator, now - 1000, now + 3600000, 3);
    ldh_drop_create(c, &spec, NULL);
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_events evs = {0};
    ldh_events_pull_all(c, ldh_topic(topic, "drop", &spec.id), 0, 0, &evs);
    cr_assert_eq(evs.n, 2, "%zu events", evs.n);
    cr_assert_eq(evs.v[0].type, LD_EVENT_DROP_SCHEDULED);
    cr_assert_eq(evs.v[1].type, LD_EVENT_DROP_LIVE);
    cr_assert_eq(evs.v[1].seq, evs.v[0].seq + 1);
    cr_assert_eq(evs.v[1].timestamp_ms, evs.v[0].timestamp_ms);
    cr_assert_eq(evs.v[1].stock.available, 3);
    ldh_events_free(&evs);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* ---- long poll
 * ------------------------------------------------------------------------------
 */

typedef struct lp_call {
    pthread_t tid;
    ld_client *c;
    const char *topic;
    uint64_t after;
    uint32_t wait_ms;
    atomic_bool started;
    ld_err err;
    ld_event_page *page;
    int64_t end_ms;
} lp_call;

static void *
lp_main(void *arg)
{
    lp_call *l = arg;
    ld_errmsg msg;
    atomic_store(&l->started, true);
    l->err = ld_events_pull(l->c, l->topic, l->after, 0, l->wait_ms, l->page, &msg);
    l->end_ms = ldh_mono_ms();
    return NULL;
}

/* Starts a long poll in a thread, waits until it runs and 200 ms more (so that
 * it is parked on the node by then in practice; the checks below hold either
 * way), runs `action`, joins. */
static void
lp_run(lp_call *l, void (*action)(void *), void *arg, int64_t *acted_ms_out)
{
    l->page = calloc(1, sizeof *l->page);
    cr_assert(l->page);
    cr_assert_eq(pthread_create(&l->tid, NULL, lp_main, l), 0);
    LDH_POLL_UNTIL(5000, atomic_load(&l->started), "the long-poll thread did not start");
    ldh_sleep_ms(200);
    action(arg);
    *acted_ms_out = ldh_mono_ms();
    pthread_join(l->tid, NULL);
}

typedef struct lp_follow {
    ld_client *c;
    ld_id user, creator;
} lp_follow;

static void
lp_do_follow(void *arg)
{
    lp_follow *f = arg;
    ldh_follow(f->c, &f->user, &f->creator, NULL);
}

Test(events, long_poll_answers_when_an_event_arrives_or_after_wait_ms)
{
    /* Goal: a pull with wait_ms and nothing to return is held until an event
     * arrives, then answers promptly (< 500 ms after the write was acknowledged)
     * with that event -- on the stream and on a topic; with nothing arriving it
     * answers an empty page once wait_ms has passed, not before. Method: long
     * polls from a thread on their own clients; a follow made by the main thread
     * is the event; the empty case is timed with the monotonic clock. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 15000);
    ld_client *poller = ldh_client(&node, 15000);
    lp_follow f = {.c = c, .user = ldh_id(), .creator = ldh_creator_create(c, "polled", NULL)};
    ldh_events evs = {0};
    uint64_t last = ldh_events_pull_all(c, NULL, 0, 0, &evs);

    static lp_call l;
    memset(&l, 0, sizeof l);
    l = (lp_call){.c = poller, .after = last, .wait_ms = 10000};
    int64_t acted = 0;
    lp_run(&l, lp_do_follow, &f, &acted);
    cr_assert_eq(l.err, LD_OK, "%s", ld_err_name(l.err));
    cr_assert_geq(l.page->count, 1, "the long poll came back empty");
    cr_assert_eq(l.page->events[0].seq, last + 1);
    cr_assert_eq(l.page->events[0].type, LD_EVENT_FOLLOWED);
    cr_assert_lt(l.end_ms - acted, 500, "the long poll answered %lld ms after the event",
                 (long long)(l.end_ms - acted));
    free(l.page);

    char topic[LD_TOPIC_BYTES_MAX + 1];
    memset(&l, 0, sizeof l);
    ldh_unfollow(c, &f.user, &f.creator, NULL);
    /* topic user/<u> now holds FOLLOWED (1) and UNFOLLOWED (2): wait after 2. */
    l = (lp_call){
        .c = poller, .topic = ldh_topic(topic, "user", &f.user), .after = 2, .wait_ms = 10000};
    lp_run(&l, lp_do_follow, &f, &acted);
    cr_assert_eq(l.err, LD_OK, "%s", ld_err_name(l.err));
    cr_assert_eq(l.page->count, 1, "the topic long poll returned %u events", l.page->count);
    cr_assert_eq(l.page->events[0].topic_seq, 3);
    cr_assert_str_eq(l.page->events[0].topic, topic);
    cr_assert_lt(l.end_ms - acted, 500, "the topic long poll answered %lld ms after the event",
                 (long long)(l.end_ms - acted));
    free(l.page);

    ld_event_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    last = ldh_events_pull_all(c, NULL, 0, 0, &evs);
    ld_errmsg msg = {{0}};
    int64_t t0 = ldh_mono_ms();
    cr_assert_eq(ld_events_pull(poller, NULL, last, 0, 400, page, &msg), LD_OK, "%s", msg.text);
    int64_t took = ldh_mono_ms() - t0;
    cr_assert_eq(page->count, 0);
    cr_assert_eq(page->next_after, last);
    cr_assert_eq(page->last_seq, last);
    cr_assert_geq(took, 380, "an empty long poll of 400 ms answered after %lld ms",
                  (long long)took);
    cr_assert_lt(took, 2000, "an empty long poll of 400 ms took %lld ms", (long long)took);
    free(page);
    ldh_events_free(&evs);
    ld_client_close(poller);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* ---- kill -9
 * --------------------------------------------------------------------------------
 */

Test(events, stream_is_identical_across_kill9_and_continues_without_gap)
{
    /* Goal: after kill -9 and a restart the stream and the topics hold exactly
     * the events read before (same seq -> same event, same topic_seq), and new
     * events continue at the next seq. Method: some of everything, read
     * everything, kill -9 right after the last acknowledged write, restart, read
     * again and compare field by field; then one more follow. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 15000);
    ev_world w;
    make_world(c, &w);
    char topics[3][LD_TOPIC_BYTES_MAX + 1];
    ldh_topic(topics[0], "creator", &w.creator);
    ldh_topic(topics[1], "drop", &w.live.id);
    ldh_topic(topics[2], "user", &w.user);
    ldh_events before = {0}, before_t[3] = {{0}};
    uint64_t last = ldh_events_pull_all(c, NULL, 0, 0, &before);
    for (int t = 0; t < 3; t++)
        ldh_events_pull_all(c, topics[t], 0, 0, &before_t[t]);
    uint64_t creator_last = before_t[0].n;

    ldh_node_kill9(&node);
    ldh_node_start(&node);

    ldh_events after = {0};
    cr_assert_eq(ldh_events_pull_all(c, NULL, 0, 0, &after), last,
                 "the stream ends at another seq after kill -9");
    for (size_t i = 0; i < before.n; i++)
        cr_assert(ldh_event_same(&before.v[i], &after.v[i]), "seq %zu changed across kill -9",
                  i + 1);
    for (int t = 0; t < 3; t++) {
        ldh_events got = {0};
        ldh_events_pull_all(c, topics[t], 0, 0, &got);
        cr_assert_eq(got.n, before_t[t].n, "%s: %zu events, %zu before", topics[t], got.n,
                     before_t[t].n);
        for (size_t i = 0; i < got.n; i++) {
            cr_assert(ldh_event_same(&got.v[i], &before_t[t].v[i]),
                      "%s: topic_seq %zu changed across kill -9", topics[t], i + 1);
            cr_assert_eq(got.v[i].topic_seq, before_t[t].v[i].topic_seq);
        }
        ldh_events_free(&got);
        ldh_events_free(&before_t[t]);
    }

    ld_id late = ldh_id();
    ldh_follow(c, &late, &w.creator, NULL);
    ldh_events more = {0};
    cr_assert_eq(ldh_events_pull_all(c, NULL, last, 0, &more), last + 1);
    cr_assert_eq(more.v[0].type, LD_EVENT_FOLLOWED);
    ldh_events topic_more = {0};
    cr_assert_eq(ldh_events_pull_all(c, topics[0], creator_last, 0, &topic_more), creator_last + 1,
                 "the creator's topic did not continue at the next topic_seq");
    ldh_events_free(&more);
    ldh_events_free(&topic_more);
    ldh_events_free(&before);
    ldh_events_free(&after);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* ---- push
 * -----------------------------------------------------------------------------------
 */

/* Receives the next event within timeout_ms (asserted). */
static ld_event
push_recv(ld_subscriber *sub, uint32_t timeout_ms, const char *what)
{
    ld_event ev;
    ld_err err = ld_subscriber_recv(sub, timeout_ms, &ev);
    cr_assert_eq(err, LD_OK, "no pushed event (%s) within %u ms: %s", what, timeout_ms,
                 ld_err_name(err));
    return ev;
}

Test(events, push_delivers_drop_live_with_its_topic_seq)
{
    /* Goal: a subscriber of creator/<id> receives DROP_SCHEDULED and then
     * DROP_LIVE of the creator's drop, each with the topic and the next
     * topic_seq, and they are the events a topic pull returns at those
     * topic_seqs. Method: a subscriber made live by probe follows
     * (ldh_subscriber_synced), a drop starting 500 ms later, recv with deadlines.
     */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id creator = ldh_creator_create(c, "pushed", NULL);
    uint64_t last = 0;
    ld_subscriber *sub = ldh_subscriber_synced(&node, c, &creator, &last);
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_topic(topic, "creator", &creator);

    ld_drop_spec spec;
    int64_t now = ldh_now_ms();
    ldh_drop_spec_at(&spec, &creator, now + 500, now + 3600000, 5);
    ldh_drop_create(c, &spec, NULL);
    ld_event sched = push_recv(sub, 5000, "DROP_SCHEDULED");
    ld_event live = push_recv(sub, 5000, "DROP_LIVE");
    cr_assert_eq(sched.type, LD_EVENT_DROP_SCHEDULED, "%s", ldh_event_name(sched.type));
    cr_assert_eq(live.type, LD_EVENT_DROP_LIVE, "%s", ldh_event_name(live.type));
    cr_assert_str_eq(live.topic, topic);
    cr_assert_eq(sched.topic_seq, last + 1);
    cr_assert_eq(live.topic_seq, last + 2);
    cr_assert(ldh_id_eq(&live.drop_id, &spec.id));
    cr_assert(ldh_id_eq(&live.creator_id, &creator));
    cr_assert_geq(live.timestamp_ms, spec.starts_at_ms);

    ldh_events pulled = {0};
    ldh_events_pull_all(c, topic, last, 0, &pulled);
    cr_assert_eq(pulled.n, 2);
    cr_assert(ldh_event_same(&pulled.v[0], &sched), "pushed and pulled DROP_SCHEDULED differ");
    cr_assert(ldh_event_same(&pulled.v[1], &live), "pushed and pulled DROP_LIVE differ");
    ldh_events_free(&pulled);
    ld_subscriber_close(sub);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* Follows and unfollows `creator` as a probe user until the subscriber receives
 * a push (the subscription is set up in the background); returns that first
 * push. Fails after 10 s. */
static ld_event
push_first_after_probes(ld_subscriber *sub, ld_client *c, const ld_id *creator)
{
    ld_event first;
    ld_id probe = ldh_id();
    int64_t deadline = ldh_mono_ms() + 10000;
    for (int i = 0;; i++) {
        cr_assert_lt(ldh_mono_ms(), deadline, "nothing pushed within 10 s");
        if (i % 2 == 0)
            ldh_follow(c, &probe, creator, NULL);
        else
            ldh_unfollow(c, &probe, creator, NULL);
        if (ld_subscriber_recv(sub, 200, &first) == LD_OK)
            return first;
    }
}

Test(events, late_subscriber_detects_the_gap_and_fills_it_by_pull)
{
    /* Goal: a subscriber that joins late sees a topic_seq above 1 -- the gap --
     * and a topic pull from 0 returns exactly the missed events, after which
     * pushed events continue densely. Method: 5 follows before the subscriber
     * exists; subscribe; probe follows until the first push arrives; pull
     * creator/<id> from 0 up to it; then 3 more follows must arrive with
     * topic_seq +1 each. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id creator = ldh_creator_create(c, "gappy", NULL);
    for (int i = 0; i < 5; i++) {
        ld_id u = ldh_id();
        ldh_follow(c, &u, &creator, NULL);
    }
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_topic(topic, "creator", &creator);
    ld_subscriber *sub = NULL;
    cr_assert_eq(ld_subscriber_open(node.pub_url, &sub), LD_OK);
    cr_assert_eq(ld_subscribe(sub, topic), LD_OK);
    ld_event first = push_first_after_probes(sub, c, &creator);
    cr_assert_gt(first.topic_seq, 5, "the first push has topic_seq %llu: no gap to fill",
                 (unsigned long long)first.topic_seq);

    ld_event_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    uint32_t missed = (uint32_t)(first.topic_seq - 1);
    cr_assert_eq(ld_events_pull(c, topic, 0, missed, 0, page, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(page->count, missed, "the fill returned %u of %u missed events", page->count,
                 missed);
    for (uint32_t i = 0; i < missed; i++)
        cr_assert_eq(page->events[i].topic_seq, i + 1);
    cr_assert_eq(page->events[0].type, LD_EVENT_FOLLOWED);
    free(page);

    /* Drain what the probes published after `first`, then 3 follows arrive
     * densely. */
    ldh_events all = {0};
    uint64_t now_last = ldh_events_pull_all(c, topic, 0, 0, &all);
    ldh_events_free(&all);
    uint64_t seen = first.topic_seq;
    while (seen < now_last) {
        ld_event ev = push_recv(sub, 5000, "a probe");
        cr_assert_eq(ev.topic_seq, seen + 1, "push jumped from %llu to %llu on loopback",
                     (unsigned long long)seen, (unsigned long long)ev.topic_seq);
        seen = ev.topic_seq;
    }
    for (int i = 0; i < 3; i++) {
        ld_id u = ldh_id();
        ldh_follow(c, &u, &creator, NULL);
        ld_event ev = push_recv(sub, 5000, "a follow");
        cr_assert_eq(ev.topic_seq, seen + 1);
        cr_assert_eq(ev.type, LD_EVENT_FOLLOWED);
        cr_assert(ldh_id_eq(&ev.user_id, &u));
        seen = ev.topic_seq;
    }
    ld_subscriber_close(sub);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
