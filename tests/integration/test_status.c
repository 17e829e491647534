/*
 * test_status.c -- a drop's status changes exactly at its boundaries on a real node.
 *
 * Every observation is bracketed by the wall clock: a call sent at t_send and answered at t_recv
 * ran on the node at some ts in [t_send, t_recv] (the node stamps with the same clock). So an
 * answer "not started" proves ts < starts_at, hence t_send < starts_at; an answer "live" proves
 * ts >= starts_at, hence t_recv >= starts_at. The browse lists move a drop when the node's TICK
 * announces the new status (the DROP_LIVE / DROP_ENDED event), which the node issues within
 * LD_TICK_INTERVAL_MS of the boundary: its event's timestamp must be within 100 ms after it.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(status, .fini = ldh_suite_fini, .timeout = 120);

#define ST_LEAD_MS 1500  /* the boundary is this far in the future when the test starts */
#define ST_WINDOW_MS 300 /* probe this long before and after the boundary */
#define ST_EVENT_LATE_MS 100

/* True if the drop is on the first page of the creator's `status` list. */
static bool
st_listed(ld_client *c, const ld_id *creator, ld_drop_status status, const ld_id *drop)
{
    static ld_drop_page page;
    ld_drop_filter f;
    memset(&f, 0, sizeof f);
    f.status = status;
    f.creator_id = *creator;
    f.price_max_minor = -1;
    ld_errmsg msg = {{0}};
    ld_err err = ld_drops_list(c, &f, LD_PAGE_DROPS_MAX, NULL, &page, &msg);
    cr_assert_eq(err, LD_OK, "ld_drops_list: %s (%s)", ld_err_name(err), msg.text);
    for (uint32_t i = 0; i < page.count; i++)
        if (ldh_id_eq(&page.drops[i].spec.id, drop))
            return true;
    return false;
}

typedef struct st_counts {
    int before, after; /* observations of the old / the new state */
} st_counts;

typedef struct st_case {
    ld_client *c;
    ld_id creator, drop;
    int64_t boundary;
    ld_err old_err, new_err;       /* reserve before / at-or-after the boundary */
    ld_drop_status old_st, new_st; /* get_drop, and the browse list the drop is on */
    st_counts res, get, list;
    bool moved; /* seen on the new list */
} st_case;

/* One look at both lists, the old one first: a move between the two reads shows the drop on
 * both, never on neither; once on the new list it never returns to the old one. */
static void
st_look_lists(st_case *x)
{
    bool in_old = st_listed(x->c, &x->creator, x->old_st, &x->drop);
    bool in_new = st_listed(x->c, &x->creator, x->new_st, &x->drop);
    int64_t t_recv = ldh_now_ms();
    cr_assert(in_old || in_new, "the drop is on neither list");
    cr_assert(!(x->moved && in_old), "the drop went back to list %d", (int)x->old_st);
    if (in_new) {
        cr_assert_geq(t_recv, x->boundary, "listed as %d %lld ms before its boundary",
                      (int)x->new_st, (long long)(x->boundary - t_recv));
        x->moved = true;
        x->list.after++;
    } else {
        x->list.before++;
    }
}

/* One reserve, bracketed. */
static void
st_look_reserve(st_case *x, ldh_rng *rng)
{
    ld_id user = ldh_id();
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    ldh_key(rng, "st", key, sizeof key);
    ld_reservation r;
    ld_errmsg msg = {{0}};
    int64_t t_send = ldh_now_ms();
    ld_err err = ld_reserve(x->c, &x->drop, &user, 1, key, &r, &msg);
    int64_t t_recv = ldh_now_ms();
    if (err == x->old_err) {
        cr_assert_lt(t_send, x->boundary, "reserve sent %lld ms after the boundary got %s",
                     (long long)(t_send - x->boundary), ld_err_name(err));
        x->res.before++;
    } else {
        cr_assert_eq(err, x->new_err, "reserve: %s (%s)", ld_err_name(err), msg.text);
        cr_assert_geq(t_recv, x->boundary, "reserve answered %lld ms before the boundary: %s",
                      (long long)(x->boundary - t_recv), ld_err_name(err));
        x->res.after++;
    }
}

/* One get_drop, bracketed. */
static void
st_look_get(st_case *x)
{
    ld_drop d;
    int64_t t_send = ldh_now_ms();
    ldh_drop_get(x->c, &x->drop, &d);
    int64_t t_recv = ldh_now_ms();
    if (d.status == x->old_st) {
        cr_assert_lt(t_send, x->boundary, "get_drop sent %lld ms after the boundary: old status",
                     (long long)(t_send - x->boundary));
        x->get.before++;
    } else {
        cr_assert_eq(d.status, x->new_st, "get_drop status %d", (int)d.status);
        cr_assert_geq(t_recv, x->boundary, "get_drop answered %lld ms before the boundary",
                      (long long)(x->boundary - t_recv));
        x->get.after++;
    }
}

/* Looks at reserve, get_drop and the lists every ~10 ms from ST_WINDOW_MS before the boundary
 * to ST_WINDOW_MS after it, then until the lists have moved (bounded). */
static void
st_probe(st_case *x)
{
    ldh_rng rng;
    ldh_rng_init(&rng, ldh_seed() + 11);
    while (ldh_now_ms() < x->boundary - ST_WINDOW_MS)
        ldh_sleep_ms(5); /* pacing only: the checks hold whenever they run */
    while (ldh_now_ms() < x->boundary + ST_WINDOW_MS) {
        st_look_reserve(x, &rng);
        st_look_get(x);
        st_look_lists(x);
        ldh_sleep_ms(10);
    }
    LDH_POLL_UNTIL(5000, (st_look_lists(x), x->moved), "the drop never moved to list %d",
                   (int)x->new_st);
    for (int i = 0; i < 3; i++)
        st_look_lists(x);
    cr_log_info("boundary: reserve %d/%d, get_drop %d/%d, lists %d/%d (before/after)",
                x->res.before, x->res.after, x->get.before, x->get.after, x->list.before,
                x->list.after);
    cr_assert_gt(x->res.before, 0, "no reserve before the boundary: the test ran late");
    cr_assert_gt(x->res.after, 0);
    cr_assert_gt(x->get.before, 0);
    cr_assert_gt(x->get.after, 0);
    cr_assert_gt(x->list.before, 0);
}

Test(status, a_drop_goes_live_exactly_at_starts_at)
{
    /* Goal: reserve answers ERR_DROP_NOT_STARTED before starts_at and succeeds from it on;
     * get_drop flips UPCOMING -> LIVE at starts_at; the browse lists move the drop from upcoming
     * to live, never before starts_at; DROP_LIVE is stamped within 100 ms after starts_at.
     * Method: a drop starting 1.5 s from now, probed every ~10 ms from 300 ms before to 300 ms
     * after, each answer bracketed by the wall clock (see the file comment); the event by long
     * poll. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    static st_case x;
    memset(&x, 0, sizeof x);
    x.c = ldh_client(&node, 10000);
    x.creator = ldh_creator_create(x.c, "punctual", NULL);
    ld_drop_spec spec;
    x.boundary = ldh_now_ms() + ST_LEAD_MS;
    ldh_drop_spec_at(&spec, &x.creator, x.boundary, x.boundary + 3600000, 10000);
    ldh_drop_create(x.c, &spec, NULL);
    x.drop = spec.id;
    x.old_err = LD_ERR_DROP_NOT_STARTED;
    x.new_err = LD_OK;
    x.old_st = LD_DROP_UPCOMING;
    x.new_st = LD_DROP_LIVE;
    st_probe(&x);
    char topic[LD_TOPIC_BYTES_MAX + 1];
    uint64_t after = 0;
    ld_event ev = ldh_events_wait(x.c, ldh_topic(topic, "drop", &spec.id), &after,
                                  LD_EVENT_DROP_LIVE, &spec.id, 5000);
    cr_assert_geq(ev.timestamp_ms, x.boundary, "DROP_LIVE stamped %lld ms before starts_at",
                  (long long)(x.boundary - ev.timestamp_ms));
    cr_assert_leq(ev.timestamp_ms, x.boundary + ST_EVENT_LATE_MS,
                  "DROP_LIVE stamped %lld ms after starts_at",
                  (long long)(ev.timestamp_ms - x.boundary));
    ld_client_close(x.c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(status, a_drop_ends_exactly_at_ends_at)
{
    /* Goal: reserve succeeds before ends_at and answers ERR_DROP_ENDED from it on; get_drop
     * flips LIVE -> ENDED at ends_at; the browse lists move the drop from live to ended;
     * DROP_ENDED is stamped within 100 ms after ends_at. Method: as for the start, with a live
     * drop ending 1.5 s from now. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    static st_case x;
    memset(&x, 0, sizeof x);
    x.c = ldh_client(&node, 10000);
    x.creator = ldh_creator_create(x.c, "closing", NULL);
    ld_drop_spec spec;
    int64_t now = ldh_now_ms();
    x.boundary = now + ST_LEAD_MS;
    ldh_drop_spec_at(&spec, &x.creator, now - 1000, x.boundary, 10000);
    ldh_drop_create(x.c, &spec, NULL);
    x.drop = spec.id;
    x.old_err = LD_OK;
    x.new_err = LD_ERR_DROP_ENDED;
    x.old_st = LD_DROP_LIVE;
    x.new_st = LD_DROP_ENDED;
    st_probe(&x);
    char topic[LD_TOPIC_BYTES_MAX + 1];
    uint64_t after = 0;
    ld_event ev = ldh_events_wait(x.c, ldh_topic(topic, "drop", &spec.id), &after,
                                  LD_EVENT_DROP_ENDED, &spec.id, 5000);
    cr_assert_geq(ev.timestamp_ms, x.boundary);
    cr_assert_leq(ev.timestamp_ms, x.boundary + ST_EVENT_LATE_MS,
                  "DROP_ENDED stamped %lld ms after ends_at",
                  (long long)(ev.timestamp_ms - x.boundary));
    ld_client_close(x.c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
