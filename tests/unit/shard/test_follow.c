/*
 * test_follow.c -- follow edges, the relayed following side and their lists (shard/follow.c):
 * principals, self-follow, idempotent follow/unfollow, counts, relay dedupe, limits, and page
 * walks that stay exact while edges come and go.
 */
#include "sm_fixture.h"

static const ld_id CREATOR = {.bytes = {0xAB, [13] = 0xC0, [14] = 0xFF, [15] = 0xEE}};

static void
world(fx *f, const ldi_sm_caps *caps)
{
    fx_init(f, caps);
    assert_code(fx_apply(f, T0, op_creator(CREATOR, "maker")), LD_OK);
    assert_code(fx_apply(f, T0, op_user(id_n(1), "Ada", "")), LD_OK);
}

static int64_t
followers_of(fx *f, ld_id creator)
{
    ld_op get;
    memset(&get, 0, sizeof get);
    get.type = LD_OP_GET_CREATOR;
    get.u.get_creator.id = creator;
    ld_result r = fx_read(f, f->ts, get);
    assert_code(r, LD_OK);
    return r.u.creator.follower_count;
}

static int64_t
following_of(fx *f, ld_id user)
{
    ld_result r = fx_read(f, f->ts, op_id(LD_OP_GET_USER, user));
    assert_code(r, LD_OK);
    return r.u.user.following_count;
}

Test(follow, follow_and_unfollow_rules)
{
    /* Goal: follow needs the user's principal, an existing creator and another id; following
     * twice is LD_OK and changes nothing (no event); unfollowing when not following is LD_OK
     * (no event); follow_state and is_following report the edge and the follower count. Method:
     * one op per rule, checking the batch's events. */
    fx f;
    world(&f, NULL);
    ld_id u = id_n(1);
    ld_op wrong = op_follow(LD_OP_FOLLOW, u, CREATOR);
    wrong.principal = CREATOR;
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    memset(&wrong.principal, 0, sizeof wrong.principal);
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    ld_op wrong_un = op_follow(LD_OP_UNFOLLOW, u, CREATOR);
    wrong_un.principal = id_n(5);
    assert_code(fx_apply(&f, T0, wrong_un), LD_ERR_FORBIDDEN);
    assert_code(fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, u, id_n(404))), LD_ERR_CREATOR_NOT_FOUND);
    assert_code(fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, CREATOR, CREATOR)), LD_ERR_SELF_FOLLOW);
    const ld_event_view *evs;
    ld_result r = fx_apply(&f, T0 + 10, op_follow(LD_OP_FOLLOW, u, CREATOR));
    assert_code(r, LD_OK);
    cr_assert(r.u.follow_state.following);
    cr_assert_eq(r.u.follow_state.since_ms, T0 + 10);
    cr_assert_eq(r.u.follow_state.follower_count, 1);
    cr_assert_eq(fx_events(&f, &evs), 1);
    cr_assert_eq(evs[0].type, LD_EVENT_FOLLOWED);
    cr_assert_str_eq(evs[0].title, "maker");
    cr_assert(evs[0].topic_seq[LD_TOPIC_CREATOR] >= 1 && evs[0].topic_seq[LD_TOPIC_USER] == 1);
    r = fx_apply(&f, T0 + 20, op_follow(LD_OP_FOLLOW, u, CREATOR));
    assert_code(r, LD_OK);
    cr_assert_eq(r.u.follow_state.since_ms, T0 + 10);
    cr_assert_eq(fx_events(&f, &evs), 0);
    ld_op is = op_follow(LD_OP_IS_FOLLOWING, u, CREATOR);
    memset(&is.principal, 0, sizeof is.principal); /* reads need none */
    ld_result q = fx_read(&f, T0, is);
    assert_code(q, LD_OK);
    cr_assert(q.u.follow_state.following && q.u.follow_state.follower_count == 1);
    r = fx_apply(&f, T0 + 30, op_follow(LD_OP_UNFOLLOW, u, CREATOR));
    assert_code(r, LD_OK);
    cr_assert(!r.u.follow_state.following && r.u.follow_state.follower_count == 0);
    cr_assert_eq(fx_events(&f, &evs), 1);
    cr_assert_eq(evs[0].type, LD_EVENT_UNFOLLOWED);
    assert_code(fx_apply(&f, T0 + 40, op_follow(LD_OP_UNFOLLOW, u, CREATOR)), LD_OK);
    cr_assert_eq(fx_events(&f, &evs), 0);
    q = fx_read(&f, T0, is);
    cr_assert(!q.u.follow_state.following);
    is.u.follow.creator_id = id_n(404);
    assert_code(fx_read(&f, T0, is), LD_ERR_CREATOR_NOT_FOUND);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(follow, a_user_that_was_never_created_cannot_follow)
{
    /* Goal: follow, unfollow and is_following name an existing user or answer USER_NOT_FOUND,
     * and a refused follow records nothing (no edge, no count, no event); once the user is
     * created the same follow succeeds. Method: follow as an uncreated id, read the creator and
     * the batch's events, create the user, follow again. Before the check the follow was LD_OK
     * and follower_count rose with an edge whose user had no name. */
    fx f;
    world(&f, NULL);
    ld_id ghost = id_n(77);
    ld_result r = fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, ghost, CREATOR));
    assert_code(r, LD_ERR_USER_NOT_FOUND);
    cr_assert(strstr(r.message, "no such user") != NULL, "%s", r.message);
    const ld_event_view *evs;
    cr_assert_eq(ld_sm_batch_events(f.sm, &evs), 0);
    cr_assert_eq(followers_of(&f, CREATOR), 0);
    assert_code(fx_apply(&f, T0, op_follow(LD_OP_UNFOLLOW, ghost, CREATOR)), LD_ERR_USER_NOT_FOUND);
    assert_code(fx_read(&f, T0, op_follow(LD_OP_IS_FOLLOWING, ghost, CREATOR)),
                LD_ERR_USER_NOT_FOUND);
    /* The creator is checked first: an unknown creator is the answer for two unknowns. */
    assert_code(fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, ghost, id_n(404))),
                LD_ERR_CREATOR_NOT_FOUND);
    assert_code(fx_apply(&f, T0, op_user(ghost, "Now real", "")), LD_OK);
    assert_code(fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, ghost, CREATOR)), LD_OK);
    cr_assert_eq(followers_of(&f, CREATOR), 1);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(follow, relay_keeps_the_following_side_once_per_seq)
{
    /* Goal: RELAY_FOLLOW builds the user's following count and list; the same seq relayed twice
     * is applied once (the cursor only moves forward); an unfollow relay removes the entry; the
     * cursor survives a restart. Method: follow, relay, relay again; an old seq after a newer one;
     * unfollow, relay; restart. */
    fx f;
    world(&f, NULL);
    ld_id u = id_n(1);
    assert_code(fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, u, CREATOR)), LD_OK);
    const ld_event_view *evs;
    cr_assert_eq(fx_events(&f, &evs), 1);
    ld_event_view followed = evs[0];
    cr_assert_eq(following_of(&f, u), 0); /* not relayed yet */
    ld_op relay;
    memset(&relay, 0, sizeof relay);
    relay.type = LD_OP_RELAY_FOLLOW;
    relay.u.relay.seq = followed.seq;
    relay.u.relay.user_id = u;
    relay.u.relay.creator_id = CREATOR;
    relay.u.relay.followed = true;
    relay.u.relay.at_ms = followed.ts_ms;
    strcpy(relay.u.relay.creator_handle, "maker");
    assert_code(fx_apply(&f, T0 + 1, relay), LD_OK);
    cr_assert_eq(following_of(&f, u), 1);
    cr_assert_eq(ld_sm_relay_cursor(f.sm, 0), followed.seq);
    cr_assert_eq(ld_sm_relay_cursor(f.sm, 7), 0);
    ld_store_mem_sync(f.mem);
    size_t records = ld_store_mem_count(f.mem);
    assert_code(fx_apply(&f, T0 + 2, relay), LD_OK); /* duplicate */
    cr_assert_eq(following_of(&f, u), 1);
    ld_store_mem_sync(f.mem);
    cr_assert_eq(ld_store_mem_count(f.mem), records); /* no second 'G' record */
    cr_assert_eq(ld_sm_relay_cursor(f.sm, 0), followed.seq);
    /* An unfollow relay with an old seq is a duplicate too: nothing changes. */
    ld_op old = relay;
    old.u.relay.followed = false;
    assert_code(fx_apply(&f, T0 + 3, old), LD_OK);
    cr_assert_eq(following_of(&f, u), 1);
    ld_page *page = page_alloc();
    cr_assert_eq(fx_page(&f, op_list(LD_OP_LIST_FOLLOWING, u, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 1);
    cr_assert_str_eq(page->u.edges[0].creator_handle, "maker");
    cr_assert_eq(page->u.edges[0].created_at_ms, followed.ts_ms);
    fx_restart(&f);
    cr_assert_eq(ld_sm_relay_cursor(f.sm, 0), followed.seq);
    fx_apply(&f, T0 + 4, op_follow(LD_OP_UNFOLLOW, u, CREATOR));
    cr_assert_eq(fx_relay(&f, T0 + 5), 1);
    cr_assert_eq(following_of(&f, u), 0);
    cr_assert_eq(fx_page(&f, op_list(LD_OP_LIST_FOLLOWING, u, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 0);
    ld_sm_check(f.sm);
    ldi_sm_check_store(f.sm);
    free(page);
    fx_fini(&f);
}

Test(follow, following_limit_counts_relayed_and_pending_follows)
{
    /* Goal: a user following LD_FOLLOWING_MAX creators gets FOLLOW_LIMIT, whether the follows
     * were relayed or not yet; unfollowing one makes room. Method: LD_FOLLOWING_MAX creators
     * followed in one batch (no relay), one more; relay; unfollow, follow again. */
    fx f;
    world(&f, NULL);
    ld_id u = id_n(1);
    uint32_t n = LD_FOLLOWING_MAX + 1;
    ld_op *ops = calloc(n, sizeof *ops);
    ld_result *res = calloc(n, sizeof *res);
    for (uint32_t i = 0; i < n; i++) {
        char h[16];
        snprintf(h, sizeof h, "cr%u", i);
        ops[i] = op_creator(id_n(10000 + i), h);
    }
    fx_batch(&f, T0, ops, n, res);
    for (uint32_t i = 0; i < n; i++)
        ops[i] = op_follow(LD_OP_FOLLOW, u, id_n(10000 + i));
    fx_batch(&f, T0 + 1, ops, n - 1, res);
    for (uint32_t i = 0; i < n - 1; i++)
        assert_code(res[i], LD_OK);
    assert_code(fx_apply(&f, T0 + 1, ops[n - 1]), LD_ERR_FOLLOW_LIMIT);
    fx_batch(&f, T0 + 1, ops, n - 1, res); /* rebuild the batch events to relay them */
    fx_follow(&f, LD_OP_UNFOLLOW, u, id_n(10000));
    fx_follow(&f, LD_OP_FOLLOW, u, id_n(10000));
    assert_code(fx_apply(&f, T0 + 1, ops[n - 1]), LD_ERR_FOLLOW_LIMIT);
    fx_follow(&f, LD_OP_UNFOLLOW, u, id_n(10000));
    fx_follow(&f, LD_OP_FOLLOW, u, id_n(10000 + n - 1));
    ld_sm_check(f.sm);
    free(ops);
    free(res);
    fx_fini(&f);
}

Test(follow, follow_capacity_is_an_error)
{
    /* Goal: a full edge table answers CAPACITY and records nothing. Method: caps.follows = 2. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.follows = 2;
    fx f;
    world(&f, &caps);
    fx_follow(&f, LD_OP_FOLLOW, id_n(1), CREATOR);
    fx_follow(&f, LD_OP_FOLLOW, id_n(2), CREATOR);
    fx_ensure_user(&f, id_n(3));
    assert_code(fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, id_n(3), CREATOR)), LD_ERR_CAPACITY);
    cr_assert_eq(followers_of(&f, CREATOR), 2);
    fx_follow(&f, LD_OP_UNFOLLOW, id_n(1), CREATOR);
    fx_follow(&f, LD_OP_FOLLOW, id_n(3), CREATOR);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

/* ---- page walks under concurrent change ---------------------------------------------------- */

#define WALK_USERS 300u

typedef struct walk_world {
    bool following[WALK_USERS];
    uint64_t rng;
} walk_world;

static uint32_t
rnd(walk_world *w, uint32_t n)
{
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return (uint32_t)(w->rng % n);
}

/* A few random follows and unfollows of the creator, as one batch at a later time. */
static void
churn(fx *f, walk_world *w, bool *stable, int64_t ts)
{
    ld_op ops[8];
    ld_result res[8];
    uint32_t n = 1 + rnd(w, 8);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t u = rnd(w, WALK_USERS);
        bool follow = !w->following[u];
        w->following[u] = follow;
        stable[u] = false;
        ops[i] = op_follow(follow ? LD_OP_FOLLOW : LD_OP_UNFOLLOW, id_n(100 + u), CREATOR);
    }
    fx_batch(f, ts, ops, n, res);
    fx_relay(f, ts);
}

Test(follow, follower_walk_under_churn_is_exact)
{
    /* Goal: walking all pages of followers while follows and unfollows happen between pages never
     * returns a user twice and never skips one that followed for the whole walk; the same holds
     * for list_following of a user whose follows change. Method: 300 users, seeded churn between
     * pages of 7, several seeds; check against a model. */
    for (uint64_t seed = 1; seed <= 5; seed++) {
        fx f;
        world(&f, NULL);
        walk_world w = {.rng = seed * 0x9E3779B97F4A7C15ull};
        bool stable[WALK_USERS];
        int64_t ts = T0;
        for (uint32_t u = 0; u < WALK_USERS; u++)
            if (rnd(&w, 2) == 0) {
                ts += rnd(&w, 3); /* several follows share a time: ties go by user id */
                fx_follow(&f, LD_OP_FOLLOW, id_n(100 + u), CREATOR);
                f.ts = ts;
                w.following[u] = true;
            }
        memcpy(stable, w.following, sizeof stable);
        uint32_t seen[WALK_USERS] = {0};
        ld_page *page = page_alloc();
        char after[LD_CURSOR_BYTES_MAX + 1] = "";
        int64_t last_created = INT64_MAX;
        for (int pages = 0;; pages++) {
            cr_assert_lt(pages, 200);
            ld_err err = fx_page(&f, op_list(LD_OP_LIST_FOLLOWERS, CREATOR, 7, after), page);
            cr_assert_eq(err, LD_OK);
            for (uint32_t i = 0; i < page->count; i++) {
                uint32_t u = ((uint32_t)page->u.edges[i].user_id.bytes[14] << 8 |
                              page->u.edges[i].user_id.bytes[15]) -
                             100;
                cr_assert_lt(u, WALK_USERS);
                seen[u]++;
                cr_assert_eq(seen[u], 1, "user %u returned twice (seed %llu)", u,
                             (unsigned long long)seed);
                if (pages == 0 || i > 0)
                    cr_assert_leq(page->u.edges[i].created_at_ms, last_created);
                last_created = page->u.edges[i].created_at_ms;
            }
            if (!page->has_next_page)
                break;
            strcpy(after, page->end_cursor);
            ts += 1 + rnd(&w, 3);
            churn(&f, &w, stable, ts);
            last_created = INT64_MAX; /* new follows are newer: the walk continues older */
        }
        for (uint32_t u = 0; u < WALK_USERS; u++)
            if (stable[u])
                cr_assert_eq(seen[u], 1, "user %u skipped (seed %llu)", u,
                             (unsigned long long)seed);
        ld_sm_check(f.sm);
        ldi_sm_check_store(f.sm);
        free(page);
        fx_fini(&f);
    }
}

Test(follow, following_walk_under_churn_is_exact)
{
    /* Goal: the same for list_following: one user's followed creators, paged while the user
     * follows and unfollows others. Method: 120 creators, seeded churn between pages of 5. */
    fx f;
    fx_init(&f, NULL);
    ld_id u = id_n(1);
    enum { N = 120 };
    bool following[N] = {false}, stable[N];
    uint64_t rng = 42;
    for (uint32_t i = 0; i < N; i++) {
        char h[16];
        snprintf(h, sizeof h, "maker%u", i);
        assert_code(fx_apply(&f, T0, op_creator(id_n(1000 + i), h)), LD_OK);
    }
    for (uint32_t i = 0; i < N; i += 2) {
        fx_follow(&f, LD_OP_FOLLOW, u, id_n(1000 + i));
        following[i] = true;
    }
    memcpy(stable, following, sizeof stable);
    uint32_t seen[N] = {0};
    ld_page *page = page_alloc();
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    for (int pages = 0;; pages++) {
        cr_assert_lt(pages, 100);
        cr_assert_eq(fx_page(&f, op_list(LD_OP_LIST_FOLLOWING, u, 5, after), page), LD_OK);
        for (uint32_t i = 0; i < page->count; i++) {
            uint32_t c = page->u.edges[i].creator_id.bytes[15] +
                         256u * page->u.edges[i].creator_id.bytes[14] - 1000;
            cr_assert_lt(c, N);
            cr_assert_eq(++seen[c], 1);
        }
        if (!page->has_next_page)
            break;
        strcpy(after, page->end_cursor);
        for (int k = 0; k < 3; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            uint32_t c = (uint32_t)(rng >> 33) % N;
            f.ts++;
            fx_follow(&f, following[c] ? LD_OP_UNFOLLOW : LD_OP_FOLLOW, u, id_n(1000 + c));
            following[c] = !following[c];
            stable[c] = false;
        }
    }
    for (uint32_t c = 0; c < N; c++)
        if (stable[c])
            cr_assert_eq(seen[c], 1, "creator %u skipped", c);
    free(page);
    fx_fini(&f);
}
