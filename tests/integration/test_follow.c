/*
 * test_follow.c -- the follow graph on a real node: idempotent follow/unfollow,
 * refusals, point lookups, counts, the followers list (owned by the creator)
 * and the derived following list (built from follow events, so it may trail a
 * follow: polled with a deadline).
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(follow, .fini = ldh_suite_fini, .timeout = 120);

#define FOLLOW_DERIVED_MS 5000 /* the following side trails a follow by a batch or two */

/* Follow (body 13) or unfollow (14) sent raw, acting as `principal` (NULL:
 * none). */
static ld_err
raw_follow(ld_client *c, bool follow, const ld_id *principal, const ld_id *user,
           const ld_id *creator, char msg[LD_MESSAGE_BYTES_MAX + 1])
{
    Ldpb__Follow f = LDPB__FOLLOW__INIT;
    Ldpb__Unfollow u = LDPB__UNFOLLOW__INIT;
    Ldpb__Op op = LDPB__OP__INIT;
    if (principal)
        op.principal = ldh_pb_id(principal);
    if (follow) {
        f.user_id = ldh_pb_id(user);
        f.creator_id = ldh_pb_id(creator);
        op.body_case = LDPB__OP__BODY_FOLLOW;
        op.follow = &f;
    } else {
        u.user_id = ldh_pb_id(user);
        u.creator_id = ldh_pb_id(creator);
        op.body_case = LDPB__OP__BODY_UNFOLLOW;
        op.unfollow = &u;
    }
    return ldh_raw_op(c, &op, msg);
}

static ld_follow_state
is_following(ld_client *c, const ld_id *user, const ld_id *creator)
{
    ld_follow_state st;
    ld_errmsg msg = {{0}};
    ld_err err = ld_is_following(c, user, creator, &st, &msg);
    cr_assert_eq(err, LD_OK, "ld_is_following: %s (%s)", ld_err_name(err), msg.text);
    return st;
}

static int64_t
follower_count(ld_client *c, const ld_id *creator)
{
    ld_creator cr;
    ld_errmsg msg = {{0}};
    ld_err err = ld_creator_get(c, creator, &cr, &msg);
    cr_assert_eq(err, LD_OK, "ld_creator_get: %s (%s)", ld_err_name(err), msg.text);
    return cr.follower_count;
}

static int64_t
following_count(ld_client *c, const ld_id *user)
{
    ld_user u;
    ld_errmsg msg = {{0}};
    ld_err err = ld_user_get(c, user, &u, &msg);
    cr_assert_eq(err, LD_OK, "ld_user_get: %s (%s)", ld_err_name(err), msg.text);
    return u.following_count;
}

/* Counts events of `type` by `user` on the creator's topic. */
static int
count_topic_events(ld_client *c, const ld_id *creator, ld_event_type type, const ld_id *user)
{
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_events evs = {0};
    ldh_events_pull_all(c, ldh_topic(topic, "creator", creator), 0, 0, &evs);
    int n = 0;
    for (size_t i = 0; i < evs.n; i++)
        if (evs.v[i].type == type && ldh_id_eq(&evs.v[i].user_id, user))
            n++;
    ldh_events_free(&evs);
    return n;
}

Test(follow, follow_and_unfollow_are_idempotent)
{
    /* Goal: following twice is one edge and one FOLLOWED event; unfollowing twice
     * is one UNFOLLOWED; each answer carries the state and the creator's follower
     * count. Method: one user and one creator; compare the answers,
     * ld_is_following, the creator's count and the FOLLOWED / UNFOLLOWED events
     * on creator/<id>, bracketing since_ms by the wall clock. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id user = ldh_user_create(c, "Ada", NULL);
    ld_id creator = ldh_creator_create(c, "idem", NULL);

    ld_follow_state st = is_following(c, &user, &creator);
    cr_assert_not(st.following);
    cr_assert_eq(st.follower_count, 0);

    int64_t t0 = ldh_now_ms();
    ld_follow_state first;
    ldh_follow(c, &user, &creator, &first);
    int64_t t1 = ldh_now_ms();
    cr_assert_eq(first.follower_count, 1);
    cr_assert(first.since_ms >= t0 && first.since_ms <= t1, "since_ms %lld outside [%lld, %lld]",
              (long long)first.since_ms, (long long)t0, (long long)t1);
    ldh_wait_clock_past(t1);
    ld_follow_state again;
    ldh_follow(c, &user, &creator, &again);
    cr_assert_eq(again.since_ms, first.since_ms, "a repeated follow moved since_ms");
    cr_assert_eq(again.follower_count, 1, "a repeated follow counted twice");
    st = is_following(c, &user, &creator);
    cr_assert(st.following);
    cr_assert_eq(st.since_ms, first.since_ms);
    cr_assert_eq(follower_count(c, &creator), 1);
    cr_assert_eq(count_topic_events(c, &creator, LD_EVENT_FOLLOWED, &user), 1);

    ld_follow_state un;
    ldh_unfollow(c, &user, &creator, &un);
    cr_assert_eq(un.follower_count, 0);
    ldh_unfollow(c, &user, &creator, &un);
    cr_assert_eq(un.follower_count, 0, "a repeated unfollow went below zero");
    cr_assert_not(is_following(c, &user, &creator).following);
    cr_assert_eq(follower_count(c, &creator), 0);
    cr_assert_eq(count_topic_events(c, &creator, LD_EVENT_UNFOLLOWED, &user), 1);

    /* Following again is a new edge with a new since_ms. */
    ldh_wait_clock_past(first.since_ms);
    ldh_follow(c, &user, &creator, &st);
    cr_assert_gt(st.since_ms, first.since_ms);
    cr_assert_eq(st.follower_count, 1);
    cr_assert_eq(count_topic_events(c, &creator, LD_EVENT_FOLLOWED, &user), 2);

    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(follow, refusals_change_nothing)
{
    /* Goal: following yourself, following an unknown creator or as an unknown user, and following
     * or unfollowing for someone else (another principal, or none) are refused with their codes and
     * a message, and leave no edge, count or event behind. Method: the public API for the first
     * two, raw ops with a chosen principal for the others; then is_following, the counts and the
     * creator's topic. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id user = ldh_user_create(c, "Bob", NULL);
    ld_id other = ldh_user_create(c, "Eve", NULL);
    ld_id creator = ldh_creator_create(c, "refuse", NULL);
    ld_follow_state st;
    ld_errmsg msg = {{0}};

    /* A creator acting as a user of the same id follows itself. */
    ld_err err = ld_follow(c, &creator, &creator, &st, &msg);
    cr_assert_eq(err, LD_ERR_SELF_FOLLOW, "self-follow: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(msg.text[0], "self-follow without a message");

    ld_id unknown = ldh_id();
    err = ld_follow(c, &user, &unknown, &st, &msg);
    cr_assert_eq(err, LD_ERR_CREATOR_NOT_FOUND, "unknown creator: %s (%s)", ld_err_name(err),
                 msg.text);
    cr_assert(msg.text[0]);

    /* A user that was never created, acting for itself: refused, no edge (it was accepted and
     * counted before the check, with an edge whose user had no name). */
    ld_id ghost = ldh_id();
    err = ld_follow(c, &ghost, &creator, &st, &msg);
    cr_assert_eq(err, LD_ERR_USER_NOT_FOUND, "unknown user: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(strstr(msg.text, "no such user") != NULL, "%s", msg.text);
    err = ld_unfollow(c, &ghost, &creator, &st, &msg);
    cr_assert_eq(err, LD_ERR_USER_NOT_FOUND, "unknown user unfollows: %s (%s)", ld_err_name(err),
                 msg.text);

    char m[LD_MESSAGE_BYTES_MAX + 1];
    err = raw_follow(c, true, &other, &user, &creator, m);
    cr_assert_eq(err, LD_ERR_FORBIDDEN, "follow acting as another user: %s (%s)", ld_err_name(err),
                 m);
    err = raw_follow(c, true, NULL, &user, &creator, m);
    cr_assert_eq(err, LD_ERR_FORBIDDEN, "follow without a principal: %s (%s)", ld_err_name(err), m);
    err = raw_follow(c, true, &creator, &user, &creator, m);
    cr_assert_eq(err, LD_ERR_FORBIDDEN, "the creator following for a user: %s (%s)",
                 ld_err_name(err), m);
    cr_assert_not(is_following(c, &user, &creator).following);
    cr_assert_eq(follower_count(c, &creator), 0);

    /* A real follow, then a forbidden unfollow leaves it in place. */
    ldh_follow(c, &user, &creator, NULL);
    err = raw_follow(c, false, &other, &user, &creator, m);
    cr_assert_eq(err, LD_ERR_FORBIDDEN, "unfollow acting as another user: %s (%s)",
                 ld_err_name(err), m);
    err = raw_follow(c, false, NULL, &user, &creator, m);
    cr_assert_eq(err, LD_ERR_FORBIDDEN, "unfollow without a principal: %s (%s)", ld_err_name(err),
                 m);
    cr_assert(is_following(c, &user, &creator).following);
    cr_assert_eq(follower_count(c, &creator), 1);

    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_events evs = {0};
    ldh_events_pull_all(c, ldh_topic(topic, "creator", &creator), 0, 0, &evs);
    cr_assert_eq(evs.n, 1, "%zu events on the creator's topic, expected the one FOLLOWED", evs.n);
    cr_assert_eq(evs.v[0].type, LD_EVENT_FOLLOWED);
    ldh_events_free(&evs);

    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(follow, point_lookups_and_counts)
{
    /* Goal: is_following answers each (user, creator) pair exactly, and the
     * follower count (kept by the creator) and the following count (derived)
     * match the edges. Method: 5 users, 2 creators, users 0..4 follow creator A
     * and users 0..1 creator B; check all 10 pairs, the counts, then unfollow
     * user 2 from A and check again; following counts are polled. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id users[5];
    for (int i = 0; i < 5; i++)
        users[i] = ldh_user_create(c, "counted", NULL);
    ld_id a = ldh_creator_create(c, "ca", NULL);
    ld_id b = ldh_creator_create(c, "cb", NULL);
    ld_id nobody = ldh_creator_create(c, "cn", NULL); /* followed by no one */
    ld_follow_state st;
    for (int i = 0; i < 5; i++) {
        ldh_follow(c, &users[i], &a, &st);
        cr_assert_eq(st.follower_count, i + 1);
    }
    for (int i = 0; i < 2; i++)
        ldh_follow(c, &users[i], &b, NULL);

    for (int i = 0; i < 5; i++) {
        cr_assert(is_following(c, &users[i], &a).following, "user %d does not follow A", i);
        cr_assert_eq(is_following(c, &users[i], &b).following, i < 2, "user %d and B", i);
        cr_assert_not(is_following(c, &users[i], &nobody).following);
    }
    cr_assert_eq(is_following(c, &users[3], &a).follower_count, 5);
    cr_assert_eq(follower_count(c, &a), 5);
    cr_assert_eq(follower_count(c, &b), 2);
    for (int i = 0; i < 5; i++) {
        int64_t want = i < 2 ? 2 : 1;
        LDH_POLL_UNTIL(FOLLOW_DERIVED_MS, following_count(c, &users[i]) == want,
                       "user %d: following_count %lld, expected %lld", i,
                       (long long)following_count(c, &users[i]), (long long)want);
    }

    ldh_unfollow(c, &users[2], &a, &st);
    cr_assert_eq(st.follower_count, 4);
    cr_assert_not(is_following(c, &users[2], &a).following);
    cr_assert(is_following(c, &users[3], &a).following, "unfollowing user 2 touched user 3");
    cr_assert_eq(follower_count(c, &a), 4);
    LDH_POLL_UNTIL(FOLLOW_DERIVED_MS, following_count(c, &users[2]) == 0,
                   "user 2: following_count %lld after the unfollow",
                   (long long)following_count(c, &users[2]));

    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* Lists all followers of `creator` (one page) and checks the order against
 * users[n-1..0]. */
static void
assert_followers_newest_first(ld_client *c, const ld_id *creator, const ld_id *users,
                              const int64_t *since, int n)
{
    ld_follow_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    ld_err err = ld_followers_list(c, creator, 0, NULL, page, &msg);
    cr_assert_eq(err, LD_OK, "ld_followers_list: %s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(page->count, (uint32_t)n, "%u followers, expected %d", page->count, n);
    cr_assert_not(page->page_info.has_next_page);
    for (int i = 0; i < n; i++) {
        const ld_follow_edge *e = &page->edges[i];
        int want = n - 1 - i;
        cr_assert(ldh_id_eq(&e->user_id, &users[want]), "follower %d is %s, expected user %d", i,
                  ldh_hex(&e->user_id), want);
        cr_assert(ldh_id_eq(&e->creator_id, creator));
        cr_assert_eq(e->created_at_ms, since[want]);
        cr_assert_str_eq(e->user_name, "follower", "followers carry the user's name");
    }
    free(page);
}

Test(follow, followers_newest_first_and_following_derived)
{
    /* Goal: followers come newest first with the user's name and the follow time;
     * the following list of a user is derived from the follow events and comes
     * newest first with the creator's handle, and an unfollow leaves it. Method:
     * 10 users follow one creator, each after the wall clock passed the previous
     * follow's time (so every edge has its own time); one user follows 3 creators
     * the same way; the following list is polled with a deadline. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id creator = ldh_creator_create(c, "popular", NULL);
    ld_id users[10];
    int64_t since[10];
    for (int i = 0; i < 10; i++) {
        users[i] = ldh_user_create(c, "follower", NULL);
        if (i > 0)
            ldh_wait_clock_past(since[i - 1]);
        ld_follow_state st;
        ldh_follow(c, &users[i], &creator, &st);
        since[i] = st.since_ms;
    }
    assert_followers_newest_first(c, &creator, users, since, 10);

    ld_creator creators[3];
    int64_t csince[3];
    for (int i = 0; i < 3; i++) {
        ldh_creator_create(c, "fav", &creators[i]);
        if (i > 0)
            ldh_wait_clock_past(csince[i - 1]);
        ld_follow_state st;
        ldh_follow(c, &users[0], &creators[i].spec.id, &st);
        csince[i] = st.since_ms;
    }
    ldh_wait_following(c, &users[0], &creators[2].spec.id, true, FOLLOW_DERIVED_MS);
    ld_follow_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    LDH_POLL_UNTIL(FOLLOW_DERIVED_MS,
                   ld_following_list(c, &users[0], 0, NULL, page, &msg) == LD_OK &&
                       page->count == 4,
                   "user 0 follows 4 creators, its following list holds %u", page->count);
    /* Newest first: the 3 favourites, then the popular creator followed first. */
    for (int i = 0; i < 3; i++) {
        const ld_follow_edge *e = &page->edges[i];
        const ld_creator *want = &creators[2 - i];
        cr_assert(ldh_id_eq(&e->creator_id, &want->spec.id), "following %d is %s, expected %s", i,
                  ldh_hex(&e->creator_id), ldh_hex(&want->spec.id));
        cr_assert(ldh_id_eq(&e->user_id, &users[0]));
        cr_assert_eq(e->created_at_ms, csince[2 - i]);
        cr_assert_str_eq(e->creator_handle, want->spec.handle);
    }
    cr_assert(ldh_id_eq(&page->edges[3].creator_id, &creator));

    ldh_unfollow(c, &users[0], &creators[1].spec.id, NULL);
    ldh_wait_following(c, &users[0], &creators[1].spec.id, false, FOLLOW_DERIVED_MS);
    cr_assert_eq(ld_following_list(c, &users[0], 0, NULL, page, &msg), LD_OK);
    cr_assert_eq(page->count, 3);
    cr_assert(ldh_id_eq(&page->edges[0].creator_id, &creators[2].spec.id));
    cr_assert(ldh_id_eq(&page->edges[1].creator_id, &creators[0].spec.id));
    free(page);

    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(follow, following_is_derived_again_after_kill9)
{
    /* Goal: a follow acknowledged just before kill -9 reaches the user's
     * following list after the restart (the node relays follow events again from
     * its relay cursor), and is there once. Method: 20 follows, kill -9 right
     * after the last answer, restart, poll the following list until it holds all
     * 20 creators, then check the count and that none is listed twice. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id user = ldh_user_create(c, "restarted", NULL);
    ld_id creators[20];
    for (int i = 0; i < 20; i++)
        creators[i] = ldh_creator_create(c, "relay", NULL);
    for (int i = 0; i < 20; i++)
        ldh_follow(c, &user, &creators[i], NULL);
    ldh_node_kill9(&node);
    ldh_node_start(&node);

    ld_follow_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    LDH_POLL_UNTIL(FOLLOW_DERIVED_MS,
                   ld_following_list(c, &user, LD_PAGE_EDGES_MAX, NULL, page, &msg) == LD_OK &&
                       page->count >= 20,
                   "after kill -9 the following list holds %u of 20", page->count);
    cr_assert_eq(page->count, 20, "%u entries: a relayed follow was applied twice", page->count);
    for (int i = 0; i < 20; i++) {
        int seen = 0;
        for (uint32_t j = 0; j < page->count; j++)
            seen += ldh_id_eq(&page->edges[j].creator_id, &creators[i]);
        cr_assert_eq(seen, 1, "creator %d listed %d times", i, seen);
    }
    LDH_POLL_UNTIL(FOLLOW_DERIVED_MS, following_count(c, &user) == 20,
                   "following_count %lld after kill -9, expected 20",
                   (long long)following_count(c, &user));
    free(page);

    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* A node with one creator followed by 25 users. */
typedef struct pa_env {
    ldh_node node;
    ld_client *c;
    ld_id creator;
    ld_id users[25];
    ld_follow_page *page;
} pa_env;

static void
pa_open(pa_env *env)
{
    ldh_node_spawn(&env->node, 0);
    env->c = ldh_client(&env->node, 10000);
    env->creator = ldh_creator_create(env->c, "paged", NULL);
    for (int i = 0; i < 25; i++) {
        env->users[i] = ldh_id();
        ldh_follow(env->c, &env->users[i], &env->creator, NULL);
    }
    env->page = calloc(1, sizeof *env->page);
    cr_assert(env->page);
}

static void
pa_close(pa_env *env)
{
    free(env->page);
    ld_client_close(env->c);
    ldh_node_stop(&env->node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&env->node);
}

Test(follow, page_sizes_are_checked_and_pages_walk)
{
    /* Goal: the follow lists accept first 0 (the default LD_PAGE_DEFAULT) and
     * LD_PAGE_EDGES_MAX, refuse first above LD_PAGE_EDGES_MAX with
     * ERR_VALUE_OUT_OF_RANGE and a message, and first 1 walks every follower via
     * end_cursor. Method: one creator with 25 followers, the public API. */
    pa_env env;
    pa_open(&env);
    ld_follow_page *page = env.page;
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_followers_list(env.c, &env.creator, 0, NULL, page, &msg), LD_OK, "%s",
                 msg.text);
    cr_assert_eq(page->count, LD_PAGE_DEFAULT, "first 0 gave %u, not LD_PAGE_DEFAULT", page->count);
    cr_assert(page->page_info.has_next_page);
    cr_assert_eq(ld_followers_list(env.c, &env.creator, LD_PAGE_EDGES_MAX, "", page, &msg), LD_OK);
    cr_assert_eq(page->count, 25);
    cr_assert_not(page->page_info.has_next_page);

    ld_err err = ld_followers_list(env.c, &env.creator, LD_PAGE_EDGES_MAX + 1, NULL, page, &msg);
    cr_assert_eq(err, LD_ERR_VALUE_OUT_OF_RANGE, "first over max: %s", ld_err_name(err));
    cr_assert(msg.text[0]);
    err = ld_following_list(env.c, &env.users[0], LD_PAGE_EDGES_MAX + 1, NULL, page, &msg);
    cr_assert_eq(err, LD_ERR_VALUE_OUT_OF_RANGE, "following first over max: %s", ld_err_name(err));

    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    int seen = 0;
    for (;;) {
        cr_assert_eq(ld_followers_list(env.c, &env.creator, 1, after, page, &msg), LD_OK, "%s",
                     msg.text);
        seen += (int)page->count;
        cr_assert_leq(seen, 25);
        if (!page->page_info.has_next_page)
            break;
        snprintf(after, sizeof after, "%s", page->page_info.end_cursor);
    }
    cr_assert_eq(seen, 25);
    pa_close(&env);
}

Test(follow, bad_ids_and_cursors_are_refused)
{
    /* Goal: the follow lists refuse a zero id (ERR_INVALID_ID) and bad cursors --
     * garbage, the wrong length, version or list kind, longer than
     * LD_CURSOR_BYTES_MAX, another list's -- with ERR_INVALID_CURSOR and a
     * message. Method: one creator with 25 followers and a user following two
     * creators; the public API. */
    pa_env env;
    pa_open(&env);
    ld_follow_page *page = env.page;
    ld_errmsg msg = {{0}};
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    ld_err err = ld_followers_list(env.c, &zero, 10, NULL, page, &msg);
    cr_assert_eq(err, LD_ERR_INVALID_ID, "zero creator id: %s", ld_err_name(err));
    ld_follow_state st;
    err = ld_is_following(env.c, &zero, &env.creator, &st, &msg);
    cr_assert(err == LD_ERR_INVALID_ID || err == LD_ERR_INVALID_ARGUMENT, "zero user id: %s",
              ld_err_name(err));

    /* Garbage, 3 bytes, version 2, 25 bytes, list kind 9 (version 1 and list 1
     * with 24 bytes would be a valid followers cursor). */
    static const char *const bad_cursors[] = {"!!!!",
                                              "AAAA",
                                              "not a cursor at all",
                                              "AgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                              "AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                              "AQkAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
    for (size_t i = 0; i < sizeof bad_cursors / sizeof bad_cursors[0]; i++) {
        err = ld_followers_list(env.c, &env.creator, 10, bad_cursors[i], page, &msg);
        cr_assert_eq(err, LD_ERR_INVALID_CURSOR, "cursor \"%s\": %s (%s)", bad_cursors[i],
                     ld_err_name(err), msg.text);
        cr_assert(msg.text[0]);
    }
    char longc[LD_CURSOR_BYTES_MAX + 2];
    memset(longc, 'A', sizeof longc - 1);
    longc[sizeof longc - 1] = '\0';
    err = ld_followers_list(env.c, &env.creator, 10, longc, page, &msg);
    cr_assert(err == LD_ERR_INVALID_CURSOR || err == LD_ERR_STRING_TOO_LONG,
              "a cursor over LD_CURSOR_BYTES_MAX: %s", ld_err_name(err));

    /* A following cursor is refused by the followers list, and the other way
     * round. */
    ld_id fan = ldh_id();
    ld_id second = ldh_creator_create(env.c, "second", NULL);
    ldh_follow(env.c, &fan, &env.creator, NULL);
    ldh_follow(env.c, &fan, &second, NULL);
    ldh_wait_following(env.c, &fan, &env.creator, true, FOLLOW_DERIVED_MS);
    ldh_wait_following(env.c, &fan, &second, true, FOLLOW_DERIVED_MS);
    cr_assert_eq(ld_following_list(env.c, &fan, 1, NULL, page, &msg), LD_OK);
    cr_assert(page->page_info.has_next_page && page->page_info.end_cursor[0]);
    char cursor[LD_CURSOR_BYTES_MAX + 1];
    snprintf(cursor, sizeof cursor, "%s", page->page_info.end_cursor);
    err = ld_followers_list(env.c, &env.creator, 10, cursor, page, &msg);
    cr_assert_eq(err, LD_ERR_INVALID_CURSOR, "a following cursor on followers: %s",
                 ld_err_name(err));
    cr_assert_eq(ld_followers_list(env.c, &env.creator, 1, NULL, page, &msg), LD_OK);
    snprintf(cursor, sizeof cursor, "%s", page->page_info.end_cursor);
    err = ld_following_list(env.c, &fan, 10, cursor, page, &msg);
    cr_assert_eq(err, LD_ERR_INVALID_CURSOR, "a followers cursor on following: %s",
                 ld_err_name(err));
    pa_close(&env);
}

/* ---- the following limit ------------------------------------------------------------------- */

#define LIMIT_THREADS 8

typedef struct limit_ctx {
    ld_client *c;
    ld_id user;
    ld_id creators[LD_FOLLOWING_MAX + 1];
    atomic_int failures;
} limit_ctx;

typedef struct limit_thread {
    pthread_t tid;
    limit_ctx *ctx;
    uint32_t from, to;
} limit_thread;

/* Creates creators [from, to) and follows them as ctx->user. Thread: any (counts failures). */
static void *
limit_main(void *arg)
{
    limit_thread *t = arg;
    for (uint32_t i = t->from; i < t->to; i++) {
        ld_creator_spec spec;
        memset(&spec, 0, sizeof spec);
        spec.id = t->ctx->creators[i];
        snprintf(spec.handle, sizeof spec.handle, "lim%.12s", ldh_hex(&spec.id));
        snprintf(spec.name, sizeof spec.name, "Limit %u", i);
        ld_errmsg msg;
        if (ld_creator_create(t->ctx->c, &spec, NULL, &msg) != LD_OK)
            atomic_fetch_add(&t->ctx->failures, 1);
        else if (i < LD_FOLLOWING_MAX &&
                 ld_follow(t->ctx->c, &t->ctx->user, &spec.id, NULL, &msg) != LD_OK)
            atomic_fetch_add(&t->ctx->failures, 1);
    }
    return NULL;
}

Test(follow, following_limit_is_enforced)
{
    /* Goal: a user who follows LD_FOLLOWING_MAX creators is refused one more with
     * ERR_FOLLOW_LIMIT and a message, and may follow again after an unfollow. Method: 2,001
     * creators, 2,000 followed from 8 threads on one client; the derived following count is
     * polled until it reaches the limit (and back) before each check. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    static limit_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.c = ldh_client(&node, 20000);
    ctx.user = ldh_user_create(ctx.c, "collector", NULL);
    for (uint32_t i = 0; i <= LD_FOLLOWING_MAX; i++)
        ctx.creators[i] = ldh_id();
    limit_thread th[LIMIT_THREADS];
    uint32_t per = (LD_FOLLOWING_MAX + 1 + LIMIT_THREADS - 1) / LIMIT_THREADS;
    for (uint32_t i = 0; i < LIMIT_THREADS; i++) {
        uint32_t to = (i + 1) * per > LD_FOLLOWING_MAX + 1 ? LD_FOLLOWING_MAX + 1 : (i + 1) * per;
        th[i] = (limit_thread){.ctx = &ctx, .from = i * per, .to = to};
        cr_assert_eq(pthread_create(&th[i].tid, NULL, limit_main, &th[i]), 0);
    }
    for (int i = 0; i < LIMIT_THREADS; i++)
        pthread_join(th[i].tid, NULL);
    cr_assert_eq(atomic_load(&ctx.failures), 0, "creates or follows failed");
    LDH_POLL_UNTIL(FOLLOW_DERIVED_MS, following_count(ctx.c, &ctx.user) == LD_FOLLOWING_MAX,
                   "following_count %lld, expected %u",
                   (long long)following_count(ctx.c, &ctx.user), LD_FOLLOWING_MAX);

    const ld_id *extra = &ctx.creators[LD_FOLLOWING_MAX];
    ld_follow_state st;
    ld_errmsg msg = {{0}};
    ld_err err = ld_follow(ctx.c, &ctx.user, extra, &st, &msg);
    cr_assert_eq(err, LD_ERR_FOLLOW_LIMIT, "follow %u + 1: %s (%s)", LD_FOLLOWING_MAX,
                 ld_err_name(err), msg.text);
    cr_assert(msg.text[0]);
    cr_assert_not(is_following(ctx.c, &ctx.user, extra).following);
    cr_assert_eq(follower_count(ctx.c, extra), 0);
    /* Following one already followed is still fine at the limit. */
    ldh_follow(ctx.c, &ctx.user, &ctx.creators[0], NULL);

    ldh_unfollow(ctx.c, &ctx.user, &ctx.creators[1], NULL);
    LDH_POLL_UNTIL(FOLLOW_DERIVED_MS, following_count(ctx.c, &ctx.user) == LD_FOLLOWING_MAX - 1,
                   "following_count %lld after an unfollow",
                   (long long)following_count(ctx.c, &ctx.user));
    ldh_follow(ctx.c, &ctx.user, extra, NULL);
    ld_client_close(ctx.c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
