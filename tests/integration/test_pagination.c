/*
 * test_pagination.c -- keyset pagination on a real node: walks through every
 * page of a list while other threads change it, filters, and cursors that
 * belong to another list.
 *
 * A page resumes strictly after its cursor's (sort key, id), so a walk never
 * returns an entry twice and never skips one that existed for the whole walk.
 * The walks here check exactly that against presence intervals: each follower's
 * follow/unfollow is done under its own lock with a change counter, so the
 * walker knows which followers were there from before its first page to after
 * its last one.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(pagination, .fini = ldh_suite_fini, .timeout = 180);

/* ---- followers under churn
 * ------------------------------------------------------------------ */

#define PG_STABLE 2000   /* follow before the walks, never touched */
#define PG_VOLATILE 1000 /* follow before the walks, then toggled */
#define PG_FRESH 3000    /* not following at first, then toggled */
#define PG_USERS (PG_STABLE + PG_VOLATILE + PG_FRESH)
#define PG_CHURN_THREADS 2
#define PG_LOAD_THREADS 8

typedef struct pg_user {
    pthread_mutex_t lock;
    bool following;   /* as last acknowledged */
    uint32_t changes; /* incremented (under lock) before each follow/unfollow is
                         sent */
} pg_user;

typedef struct pg_ctx {
    ld_client *client;
    ld_id creator;
    uint8_t prefix[12]; /* user ids: prefix + big-endian index */
    pg_user users[PG_USERS];
    atomic_bool stop;
    atomic_int failures;
    atomic_uint churn_ops;
} pg_ctx;

static ld_id
pg_user_id(const pg_ctx *ctx, uint32_t i)
{
    ld_id id;
    memcpy(id.bytes, ctx->prefix, 12);
    id.bytes[12] = (uint8_t)(i >> 24);
    id.bytes[13] = (uint8_t)(i >> 16);
    id.bytes[14] = (uint8_t)(i >> 8);
    id.bytes[15] = (uint8_t)i;
    return id;
}

/* The index of a user id of this run, or -1. Thread: any. */
static long
pg_user_index(const pg_ctx *ctx, const ld_id *id)
{
    if (memcmp(id->bytes, ctx->prefix, 12) != 0)
        return -1;
    uint32_t i = (uint32_t)id->bytes[12] << 24 | (uint32_t)id->bytes[13] << 16 |
                 (uint32_t)id->bytes[14] << 8 | id->bytes[15];
    return i < PG_USERS ? (long)i : -1;
}

/* Flips user i's follow. Thread: any (never asserts: counts failures). */
static void
pg_toggle(pg_ctx *ctx, uint32_t i)
{
    pg_user *u = &ctx->users[i];
    pthread_mutex_lock(&u->lock);
    u->changes++;
    ld_id id = pg_user_id(ctx, i);
    ld_follow_state st;
    ld_errmsg msg;
    ld_err err = u->changes == 1 ? ldh_user_ensure(ctx->client, &id) : LD_OK;
    if (err == LD_OK)
        err = u->following ? ld_unfollow(ctx->client, &id, &ctx->creator, &st, &msg)
                           : ld_follow(ctx->client, &id, &ctx->creator, &st, &msg);
    if (err == LD_OK)
        u->following = !u->following;
    else
        atomic_fetch_add(&ctx->failures, 1);
    pthread_mutex_unlock(&u->lock);
    atomic_fetch_add(&ctx->churn_ops, 1);
}

typedef struct pg_thread {
    pthread_t tid;
    pg_ctx *ctx;
    uint64_t seed;
    uint32_t from, to; /* load: follow users [from, to) */
} pg_thread;

static void *
pg_load_main(void *arg)
{
    pg_thread *t = arg;
    for (uint32_t i = t->from; i < t->to; i++)
        pg_toggle(t->ctx, i);
    return NULL;
}

static void *
pg_churn_main(void *arg)
{
    pg_thread *t = arg;
    ldh_rng rng;
    ldh_rng_init(&rng, t->seed);
    while (!atomic_load(&t->ctx->stop))
        pg_toggle(t->ctx, (uint32_t)ldh_rand_range(&rng, PG_STABLE, PG_USERS - 1));
    return NULL;
}

typedef struct pg_seen {
    ld_id user;
    int64_t created_at_ms;
} pg_seen;

/* Index order of the followers list: newest first, then user id ascending. */
static bool
pg_seen_before(const pg_seen *a, const pg_seen *b)
{
    if (a->created_at_ms != b->created_at_ms)
        return a->created_at_ms > b->created_at_ms;
    return memcmp(a->user.bytes, b->user.bytes, 16) < 0;
}

/* Walks every followers page with `first`, toggling two random users between
 * pages; returns the entries seen (owned, *n_out of them). */
static pg_seen *
pg_walk(pg_ctx *ctx, uint32_t first, ldh_rng *rng, size_t *n_out, int *pages_out)
{
    ld_follow_page *page = calloc(1, sizeof *page);
    size_t cap = PG_USERS * 2, n = 0;
    pg_seen *seen = calloc(cap, sizeof *seen);
    cr_assert(page && seen);
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    int pages = 0;
    for (;;) {
        ld_errmsg msg = {{0}};
        ld_err err = ld_followers_list(ctx->client, &ctx->creator, first, after, page, &msg);
        cr_assert_eq(err, LD_OK, "page %d: %s (%s)", pages, ld_err_name(err), msg.text);
        pages++;
        cr_assert_leq(pages, PG_USERS, "the walk does not end");
        cr_assert_leq(page->count, first);
        if (page->page_info.has_next_page)
            cr_assert_eq(page->count, first, "page %d: %u entries and has_next_page", pages,
                         page->count);
        for (uint32_t i = 0; i < page->count && n < cap; i++)
            seen[n++] = (pg_seen){page->edges[i].user_id, page->edges[i].created_at_ms};
        if (!page->page_info.has_next_page)
            break;
        cr_assert(page->page_info.end_cursor[0], "has_next_page without an end_cursor");
        snprintf(after, sizeof after, "%s", page->page_info.end_cursor);
        for (int k = 0; k < 2; k++)
            pg_toggle(ctx, (uint32_t)ldh_rand_range(rng, PG_STABLE, PG_USERS - 1));
    }
    free(page);
    *n_out = n;
    *pages_out = pages;
    return seen;
}

/* Checks one walk: strictly in index order, no user twice, every user present
 * for the whole walk seen, no user seen that never followed during it. */
static void
pg_check_walk(pg_ctx *ctx, pg_seen *seen, size_t n, const bool *start_following,
              const uint32_t *changes0, uint32_t first)
{
    for (size_t i = 1; i < n; i++)
        cr_assert(pg_seen_before(&seen[i - 1], &seen[i]),
                  "first=%u: entry %zu (%s at %lld) is not after entry %zu (%s at %lld)", first, i,
                  ldh_hex(&seen[i].user), (long long)seen[i].created_at_ms, i - 1,
                  ldh_hex(&seen[i - 1].user), (long long)seen[i - 1].created_at_ms);
    bool *was_seen = calloc(PG_USERS, sizeof *was_seen);
    cr_assert(was_seen);
    for (size_t i = 0; i < n; i++) {
        long u = pg_user_index(ctx, &seen[i].user);
        cr_assert_geq(u, 0, "first=%u: a follower %s that no one created", first,
                      ldh_hex(&seen[i].user));
        cr_assert_not(was_seen[u], "first=%u: user %ld seen twice in one walk", first, u);
        was_seen[u] = true;
        bool untouched = ctx->users[u].changes == changes0[u];
        cr_assert(!untouched || start_following[u],
                  "first=%u: user %ld seen but it did not follow during the walk", first, u);
    }
    int must = 0;
    for (uint32_t u = 0; u < PG_USERS; u++) {
        bool untouched = ctx->users[u].changes == changes0[u];
        if (start_following[u] && untouched) {
            must++;
            cr_assert(was_seen[u], "first=%u: user %u followed for the whole walk, never seen",
                      first, u);
        }
    }
    cr_assert_geq(must, PG_STABLE);
    cr_log_info("first=%u: %zu entries seen, %d present for the whole walk", first, n, must);
    free(was_seen);
}

static void
pg_load(pg_ctx *ctx)
{
    pg_thread load[PG_LOAD_THREADS];
    uint32_t per = (PG_STABLE + PG_VOLATILE) / PG_LOAD_THREADS;
    for (int i = 0; i < PG_LOAD_THREADS; i++) {
        load[i] = (pg_thread){.ctx = ctx, .from = (uint32_t)i * per, .to = (uint32_t)(i + 1) * per};
        cr_assert_eq(pthread_create(&load[i].tid, NULL, pg_load_main, &load[i]), 0);
    }
    for (int i = 0; i < PG_LOAD_THREADS; i++)
        pthread_join(load[i].tid, NULL);
    cr_assert_eq(atomic_load(&ctx->failures), 0, "some of the initial follows failed");
}

/* With no churn: one more walk (pages of 333) equals the final state exactly,
 * and the creator's follower_count agrees. */
static void
pg_quiet_walk(pg_ctx *ctx, bool *start_following, uint32_t *changes0)
{
    int following = 0;
    for (uint32_t u = 0; u < PG_USERS; u++) {
        start_following[u] = ctx->users[u].following;
        changes0[u] = ctx->users[u].changes;
        following += start_following[u];
    }
    size_t n = 0;
    ld_follow_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    pg_seen *seen = calloc(PG_USERS, sizeof *seen);
    cr_assert(seen);
    do {
        ld_errmsg msg = {{0}};
        cr_assert_eq(ld_followers_list(ctx->client, &ctx->creator, 333, after, page, &msg), LD_OK);
        for (uint32_t i = 0; i < page->count && n < PG_USERS; i++)
            seen[n++] = (pg_seen){page->edges[i].user_id, page->edges[i].created_at_ms};
        snprintf(after, sizeof after, "%s", page->page_info.end_cursor);
    } while (page->page_info.has_next_page);
    cr_assert_eq((int)n, following, "quiet walk: %zu followers, the state says %d", n, following);
    pg_check_walk(ctx, seen, n, start_following, changes0, 333);
    ld_creator cr;
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_creator_get(ctx->client, &ctx->creator, &cr, &msg), LD_OK);
    cr_assert_eq(cr.follower_count, following, "follower_count %lld, %d follow",
                 (long long)cr.follower_count, following);
    free(seen);
    free(page);
}

Test(pagination, followers_walk_under_concurrent_follows)
{
    /* Goal: walking all follower pages (first 50, 97, 1000) while follows and
     * unfollows happen never returns a user twice, keeps index order (newest
     * first), and returns every follower present for the whole walk. Method:
     * 3,000 followers (2,000 never touched); two threads toggle random others
     * during the walks and the walker toggles two between pages; per-user locks
     * and change counters give each user's presence over the walk; last, a quiet
     * walk must equal the final state exactly and follower_count must match it.
     */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    static pg_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.client = ldh_client(&node, 15000);
    ctx.creator = ldh_creator_create(ctx.client, "walked", NULL);
    ld_id prefix = ldh_id();
    memcpy(ctx.prefix, prefix.bytes, 12);
    for (int i = 0; i < PG_USERS; i++)
        pthread_mutex_init(&ctx.users[i].lock, NULL);
    pg_load(&ctx);
    ldh_rng rng;
    ldh_rng_init(&rng, ldh_seed());

    static bool start_following[PG_USERS];
    static uint32_t changes0[PG_USERS];
    static const uint32_t firsts[] = {50, 97, LD_PAGE_EDGES_MAX};
    for (size_t w = 0; w < sizeof firsts / sizeof firsts[0]; w++) {
        atomic_store(&ctx.stop, false);
        pg_thread churn[PG_CHURN_THREADS];
        for (int i = 0; i < PG_CHURN_THREADS; i++) {
            churn[i] = (pg_thread){.ctx = &ctx, .seed = ldh_rand(&rng)};
            cr_assert_eq(pthread_create(&churn[i].tid, NULL, pg_churn_main, &churn[i]), 0);
        }
        for (uint32_t u = 0; u < PG_USERS; u++) {
            pthread_mutex_lock(&ctx.users[u].lock);
            start_following[u] = ctx.users[u].following;
            changes0[u] = ctx.users[u].changes;
            pthread_mutex_unlock(&ctx.users[u].lock);
        }
        unsigned ops0 = atomic_load(&ctx.churn_ops);
        size_t n = 0;
        int pages = 0;
        pg_seen *seen = pg_walk(&ctx, firsts[w], &rng, &n, &pages);
        atomic_store(&ctx.stop, true);
        for (int i = 0; i < PG_CHURN_THREADS; i++)
            pthread_join(churn[i].tid, NULL);
        cr_log_info("first=%u: %d pages, %u follows/unfollows during the walk", firsts[w], pages,
                    atomic_load(&ctx.churn_ops) - ops0);
        cr_assert_eq(atomic_load(&ctx.failures), 0, "a follow or unfollow failed");
        pg_check_walk(&ctx, seen, n, start_following, changes0, firsts[w]);
        free(seen);
    }

    pg_quiet_walk(&ctx, start_following, changes0);

    ld_client_close(ctx.client);
    for (int i = 0; i < PG_USERS; i++)
        pthread_mutex_destroy(&ctx.users[i].lock);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* ---- drops under concurrent creates
 * ---------------------------------------------------------- */

#define DW_PRE 500
#define DW_MAX 4000
#define DW_CREATORS 3

typedef struct dw_drop {
    ld_id id;
    int creator;     /* index into dw_ctx.creators */
    int64_t ends_at; /* the LIVE sort key */
    int64_t price;   /* 100..10000 */
    bool red;        /* tagged "red" (else "blue") */
} dw_drop;

/* A walk's filter: creator index (-1: any), inclusive price range, "red" tag required. */
typedef struct dw_filter {
    int creator;
    int64_t price_min, price_max;
    bool red;
    uint32_t first;
} dw_filter;

typedef struct dw_ctx {
    ld_client *client;
    ld_id creators[DW_CREATORS];
    pthread_mutex_t lock;
    dw_drop drops[DW_MAX];
    int n;
    int64_t starts_ms; /* a minute before the test: every drop is live */
    int64_t base_ms;   /* drops end in [base_ms, base_ms + 1 h] */
    atomic_bool stop;
    atomic_int failures;
} dw_ctx;

/* Registers a drop before creating it (a walk may see it before the answer). Thread: any. */
static void
dw_create(dw_ctx *ctx, ldh_rng *rng)
{
    ld_drop_spec spec;
    int creator = (int)ldh_rand_range(rng, 0, DW_CREATORS - 1);
    int64_t ends = ctx->base_ms + ldh_rand_range(rng, 0, 3600 * 1000);
    ldh_drop_spec_at(&spec, &ctx->creators[creator], ctx->starts_ms, ends, 10);
    int64_t price = ldh_rand_range(rng, 1, 100) * 100;
    bool red = ldh_rand(rng) & 1;
    spec.product.price_minor = price;
    snprintf(spec.product.tags[0], sizeof spec.product.tags[0], "%s", red ? "red" : "blue");
    pthread_mutex_lock(&ctx->lock);
    if (ctx->n == DW_MAX) {
        pthread_mutex_unlock(&ctx->lock);
        return;
    }
    ctx->drops[ctx->n++] =
        (dw_drop){.id = spec.id, .creator = creator, .ends_at = ends, .price = price, .red = red};
    pthread_mutex_unlock(&ctx->lock);
    ld_errmsg msg;
    if (ld_drop_create(ctx->client, &spec, NULL, &msg) != LD_OK)
        atomic_fetch_add(&ctx->failures, 1);
}

static bool
dw_matches(const dw_drop *d, const dw_filter *f)
{
    return (f->creator < 0 || d->creator == f->creator) && d->price >= f->price_min &&
           d->price <= f->price_max && (!f->red || d->red);
}

typedef struct dw_thread {
    pthread_t tid;
    dw_ctx *ctx;
    uint64_t seed;
} dw_thread;

static void *
dw_churn_main(void *arg)
{
    dw_thread *t = arg;
    ldh_rng rng;
    ldh_rng_init(&rng, t->seed);
    while (!atomic_load(&t->ctx->stop))
        dw_create(t->ctx, &rng);
    return NULL;
}

static const dw_drop *
dw_find(dw_ctx *ctx, const ld_id *id)
{
    pthread_mutex_lock(&ctx->lock);
    const dw_drop *found = NULL;
    for (int i = 0; i < ctx->n && !found; i++)
        if (ldh_id_eq(&ctx->drops[i].id, id))
            found = &ctx->drops[i];
    pthread_mutex_unlock(&ctx->lock);
    return found;
}

/* The order of a walk so far: the last (ends_at, id) seen. */
typedef struct dw_pos {
    int64_t key;
    ld_id id;
} dw_pos;

/* Checks one listed drop: known, not seen before in this walk, live, matching, in order. */
static void
dw_check_entry(dw_ctx *ctx, const dw_filter *f, const ld_drop *d, int *seen, dw_pos *pos)
{
    const dw_drop *known = dw_find(ctx, &d->spec.id);
    cr_assert(known, "a drop %s that no one created", ldh_hex(&d->spec.id));
    int idx = (int)(known - ctx->drops);
    cr_assert_eq(seen[idx], 0, "first=%u: drop %d seen twice", f->first, idx);
    seen[idx] = 1;
    cr_assert_eq(d->status, LD_DROP_LIVE);
    cr_assert_eq(d->spec.ends_at_ms, known->ends_at);
    cr_assert(dw_matches(known, f),
              "first=%u: drop %d (creator %d, price %lld, %s) does not "
              "match the filter",
              f->first, idx, known->creator, (long long)known->price, known->red ? "red" : "blue");
    bool in_order =
        d->spec.ends_at_ms > pos->key ||
        (d->spec.ends_at_ms == pos->key && memcmp(d->spec.id.bytes, pos->id.bytes, 16) > 0);
    cr_assert(in_order, "first=%u: drop ending %lld after one ending %lld", f->first,
              (long long)d->spec.ends_at_ms, (long long)pos->key);
    pos->key = d->spec.ends_at_ms;
    pos->id = d->spec.id;
}

static void
dw_to_filter(const dw_ctx *ctx, const dw_filter *f, ld_drop_filter *out)
{
    memset(out, 0, sizeof *out);
    out->status = LD_DROP_LIVE;
    out->price_min_minor = f->price_min;
    out->price_max_minor = f->price_max;
    if (f->creator >= 0)
        out->creator_id = ctx->creators[f->creator];
    if (f->red)
        snprintf(out->tags[out->tags_count++], LD_TAG_BYTES_MAX + 1, "red");
}

/* Walks LIVE drops through filter `f`, creating one drop between pages, and checks every entry
 * (dw_check_entry) and that every matching drop among the first n_pre (all acknowledged before
 * the walk) is seen. */
static void
dw_walk(dw_ctx *ctx, const dw_filter *f, int n_pre, ldh_rng *rng)
{
    ld_drop_filter filter;
    dw_to_filter(ctx, f, &filter);
    ld_drop_page *page = calloc(1, sizeof *page);
    int *seen = calloc(DW_MAX, sizeof *seen);
    cr_assert(page && seen);
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    dw_pos pos = {.key = INT64_MIN};
    int pages = 0, entries = 0;
    for (;;) {
        ld_errmsg msg = {{0}};
        ld_err err = ld_drops_list(ctx->client, &filter, f->first, after, page, &msg);
        cr_assert_eq(err, LD_OK, "drops page %d: %s (%s)", pages, ld_err_name(err), msg.text);
        cr_assert_leq(page->count, f->first);
        cr_assert_leq(++pages, DW_MAX);
        for (uint32_t i = 0; i < page->count; i++, entries++)
            dw_check_entry(ctx, f, &page->drops[i], seen, &pos);
        if (!page->page_info.has_next_page)
            break;
        snprintf(after, sizeof after, "%s", page->page_info.end_cursor);
        dw_create(ctx, rng);
    }
    int must = 0;
    for (int i = 0; i < n_pre; i++) {
        if (!dw_matches(&ctx->drops[i], f))
            continue;
        must++;
        cr_assert(seen[i], "first=%u: drop %d (ends %lld) existed for the whole walk, not seen",
                  f->first, i, (long long)ctx->drops[i].ends_at);
    }
    cr_log_info("drops first=%u creator=%d price %lld..%lld%s: %d pages, %d entries, %d required",
                f->first, f->creator, (long long)f->price_min, (long long)f->price_max,
                f->red ? " red" : "", pages, entries, must);
    free(seen);
    free(page);
}

Test(pagination, live_drops_walk_under_concurrent_creates)
{
    /* Goal: walking all LIVE drop pages (soonest end first), with and without a
     * creator filter, while new live drops are created ahead of and behind the
     * cursor, never returns a drop twice, keeps (ends_at, id) order, and returns
     * every drop that was live for the whole walk. Method: 500 drops ending at
     * random times in the next hour; two threads create more during each walk and
     * the walker creates one between pages; drops are registered before their
     * create is sent, so anything the walk returns is known. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    static dw_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    pthread_mutex_init(&ctx.lock, NULL);
    ctx.client = ldh_client(&node, 15000);
    ctx.starts_ms = ldh_now_ms() - 60000;
    ctx.base_ms = ldh_now_ms() + 3600 * 1000;
    for (int i = 0; i < DW_CREATORS; i++)
        ctx.creators[i] = ldh_creator_create(ctx.client, "drops", NULL);
    ldh_rng rng;
    ldh_rng_init(&rng, ldh_seed() + 1);
    for (int i = 0; i < DW_PRE; i++)
        dw_create(&ctx, &rng);
    cr_assert_eq(atomic_load(&ctx.failures), 0);

    static const dw_filter walks[] = {
        {.creator = -1, .price_max = LD_PRICE_MINOR_MAX, .first = LD_PAGE_DROPS_MAX},
        {.creator = -1, .price_max = LD_PRICE_MINOR_MAX, .first = 37},
        {.creator = 1, .price_max = LD_PRICE_MINOR_MAX, .first = 13},
        {.creator = -1, .price_min = 2000, .price_max = 6000, .red = true, .first = 11},
    };
    for (size_t w = 0; w < sizeof walks / sizeof walks[0]; w++) {
        int n_pre = ctx.n; /* all acknowledged: no create runs between walks */
        atomic_store(&ctx.stop, false);
        dw_thread churn[2];
        for (int i = 0; i < 2; i++) {
            churn[i] = (dw_thread){.ctx = &ctx, .seed = ldh_rand(&rng)};
            cr_assert_eq(pthread_create(&churn[i].tid, NULL, dw_churn_main, &churn[i]), 0);
        }
        dw_walk(&ctx, &walks[w], n_pre, &rng);
        atomic_store(&ctx.stop, true);
        for (int i = 0; i < 2; i++)
            pthread_join(churn[i].tid, NULL);
        cr_assert_eq(atomic_load(&ctx.failures), 0, "a create failed");
    }

    ld_client_close(ctx.client);
    pthread_mutex_destroy(&ctx.lock);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* ---- filters
 * ----------------------------------------------------------------------------------
 */

#define FL_LIVE 240
#define FL_UPCOMING 30
#define FL_DROPS (FL_LIVE + FL_UPCOMING)

static const char *const fl_tag_names[4] = {"red", "blue", "green", "xl"};

typedef struct fl_drop {
    ld_drop_spec spec;
    int creator;
    unsigned tags; /* bit i: fl_tag_names[i] */
    bool live;
} fl_drop;

static bool
fl_matches(const fl_drop *d, const ld_drop_filter *f, const ld_id *creators)
{
    if ((f->status == LD_DROP_LIVE) != d->live)
        return false;
    if (!ldh_id_zero(&f->creator_id) && !ldh_id_eq(&f->creator_id, &creators[d->creator]))
        return false;
    int64_t price = d->spec.product.price_minor;
    if (price < f->price_min_minor || (f->price_max_minor >= 0 && price > f->price_max_minor))
        return false;
    for (uint32_t i = 0; i < f->tags_count; i++) {
        bool has = false;
        for (int t = 0; t < 4; t++)
            if ((d->tags & (1u << t)) && strcmp(f->tags[i], fl_tag_names[t]) == 0)
                has = true;
        if (!has)
            return false;
    }
    return true;
}

static int
fl_sort_key_cmp(const fl_drop *a, const fl_drop *b, bool live)
{
    int64_t ka = live ? a->spec.ends_at_ms : a->spec.starts_at_ms;
    int64_t kb = live ? b->spec.ends_at_ms : b->spec.starts_at_ms;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return memcmp(a->spec.id.bytes, b->spec.id.bytes, 16);
}

/* Walks every page of `filter` and compares with the expected drops, in order.
 */
static void
fl_check(ld_client *c, const fl_drop *drops, const ld_id *creators, const ld_drop_filter *filter,
         uint32_t first, const char *label)
{
    const fl_drop *want[FL_DROPS];
    int n_want = 0;
    for (int i = 0; i < FL_DROPS; i++)
        if (fl_matches(&drops[i], filter, creators))
            want[n_want++] = &drops[i];
    bool live = filter->status == LD_DROP_LIVE;
    for (int i = 1; i < n_want; i++) /* insertion sort by the list's key */
        for (int j = i; j > 0 && fl_sort_key_cmp(want[j - 1], want[j], live) > 0; j--) {
            const fl_drop *t = want[j];
            want[j] = want[j - 1];
            want[j - 1] = t;
        }
    ld_drop_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    int got = 0, pages = 0;
    for (;;) {
        ld_errmsg msg = {{0}};
        ld_err err = ld_drops_list(c, filter, first, after, page, &msg);
        cr_assert_eq(err, LD_OK, "%s: %s (%s)", label, ld_err_name(err), msg.text);
        cr_assert_leq(++pages, FL_DROPS + 1, "%s: the walk does not end", label);
        for (uint32_t i = 0; i < page->count; i++, got++) {
            cr_assert_lt(got, n_want, "%s: more than the %d matching drops", label, n_want);
            const ld_drop *d = &page->drops[i];
            cr_assert(ldh_id_eq(&d->spec.id, &want[got]->spec.id),
                      "%s (first %u): drop %d is %s, expected %s", label, first, got,
                      ldh_hex(&d->spec.id), ldh_hex(&want[got]->spec.id));
            cr_assert_eq(d->spec.product.price_minor, want[got]->spec.product.price_minor);
            cr_assert_eq(d->stock.available, want[got]->spec.initial_stock);
        }
        if (!page->page_info.has_next_page)
            break;
        snprintf(after, sizeof after, "%s", page->page_info.end_cursor);
    }
    cr_assert_eq(got, n_want, "%s (first %u): %d drops, expected %d", label, first, got, n_want);
    free(page);
}

static void
fl_make(ld_client *c, fl_drop *drops, const ld_id *creators, ldh_rng *rng)
{
    int64_t now = ldh_now_ms();
    for (int i = 0; i < FL_DROPS; i++) {
        fl_drop *d = &drops[i];
        d->live = i < FL_LIVE;
        d->creator = i % 3;
        d->tags = (unsigned)ldh_rand_range(rng, 0, 15);
        int64_t starts = d->live ? now - 60000 : now + 3600000 + ldh_rand_range(rng, 0, 600000);
        ldh_drop_spec_at(&d->spec, &creators[d->creator], starts,
                         now + 7200000 + ldh_rand_range(rng, 0, 600000), 5);
        d->spec.product.price_minor = 500 + 250 * ldh_rand_range(rng, 0, 19);
        d->spec.product.tags_count = 0;
        for (int t = 0; t < 4; t++)
            if (d->tags & (1u << t))
                snprintf(d->spec.product.tags[d->spec.product.tags_count++], LD_TAG_BYTES_MAX + 1,
                         "%s", fl_tag_names[t]);
        ldh_drop_create(c, &d->spec, NULL);
    }
}

Test(pagination, filters_return_exactly_the_matching_set)
{
    /* Goal: each filter of the drops list (creator, price range inclusive, every
     * listed tag, and their combination) returns exactly the matching drops of
     * the status asked, in the list's order, across pages whose filtered-out
     * tails still advance the cursor. Method: 240 live and 30 upcoming drops with
     * random prices (500..5250) and tag subsets over 3 creators; the expected set
     * is computed locally; page sizes 7 and 100. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 15000);
    ld_id creators[3];
    for (int i = 0; i < 3; i++)
        creators[i] = ldh_creator_create(c, "filtered", NULL);
    static fl_drop drops[FL_DROPS];
    ldh_rng rng;
    ldh_rng_init(&rng, ldh_seed() + 2);
    fl_make(c, drops, creators, &rng);

    typedef struct fl_case {
        const char *label;
        ld_drop_status status;
        int creator; /* -1: any */
        int64_t min, max;
        const char *tags[3];
    } fl_case;
    static const fl_case cases[] = {
        {"all live", LD_DROP_LIVE, -1, 0, -1, {NULL}},
        {"all upcoming", LD_DROP_UPCOMING, -1, 0, -1, {NULL}},
        {"creator 1", LD_DROP_LIVE, 1, 0, -1, {NULL}},
        {"price 1000..3000", LD_DROP_LIVE, -1, 1000, 3000, {NULL}},
        {"price from 4000", LD_DROP_LIVE, -1, 4000, -1, {NULL}},
        {"price up to 0", LD_DROP_LIVE, -1, 0, 0, {NULL}},
        {"tag red", LD_DROP_LIVE, -1, 0, -1, {"red", NULL}},
        {"tags red+xl", LD_DROP_LIVE, -1, 0, -1, {"red", "xl", NULL}},
        {"tag nonexistent", LD_DROP_LIVE, -1, 0, -1, {"nonexistent", NULL}},
        {"creator 2, price 0..2000, tag blue", LD_DROP_LIVE, 2, 0, 2000, {"blue", NULL}},
        {"upcoming of creator 0 with green", LD_DROP_UPCOMING, 0, 0, -1, {"green", NULL}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ld_drop_filter f;
        memset(&f, 0, sizeof f);
        f.status = cases[k].status;
        if (cases[k].creator >= 0)
            f.creator_id = creators[cases[k].creator];
        f.price_min_minor = cases[k].min;
        f.price_max_minor = cases[k].max;
        for (int t = 0; t < 3 && cases[k].tags[t]; t++)
            snprintf(f.tags[f.tags_count++], LD_TAG_BYTES_MAX + 1, "%s", cases[k].tags[t]);
        fl_check(c, drops, creators, &f, 7, cases[k].label);
        fl_check(c, drops, creators, &f, LD_PAGE_DROPS_MAX, cases[k].label);
    }

    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* ---- cursors of one list on another
 * -----------------------------------------------------------
 */

enum {
    CL_FOLLOWERS,
    CL_FOLLOWING,
    CL_PRODUCTS,
    CL_LIVE,
    CL_UPCOMING,
    CL_CANCELLED,
    CL_NOTES,
    CL_N
};
static const char *const cl_names[CL_N] = {"followers",    "following",      "products",
                                           "live drops",   "upcoming drops", "cancelled drops",
                                           "notifications"};

typedef struct cl_ctx {
    ld_client *c;
    ld_id creator, user;
} cl_ctx;

/* Calls list `kind` with first 1 after `after`; returns the code and, on LD_OK,
 * the page's end_cursor in cursor_out (empty when it has no next page). */
static ld_err
cl_call(const cl_ctx *x, int kind, const char *after, char cursor_out[LD_CURSOR_BYTES_MAX + 1])
{
    static ld_follow_page fp;
    static ld_product_page pp;
    static ld_drop_page dp;
    static ld_notification_page np;
    ld_errmsg msg = {{0}};
    ld_drop_filter f;
    memset(&f, 0, sizeof f);
    f.price_max_minor = -1;
    f.status = kind == CL_LIVE       ? LD_DROP_LIVE
               : kind == CL_UPCOMING ? LD_DROP_UPCOMING
                                     : LD_DROP_CANCELLED;
    ld_err err;
    const ld_page_info *pi;
    switch (kind) {
    case CL_FOLLOWERS:
        err = ld_followers_list(x->c, &x->creator, 1, after, &fp, &msg);
        pi = &fp.page_info;
        break;
    case CL_FOLLOWING:
        err = ld_following_list(x->c, &x->user, 1, after, &fp, &msg);
        pi = &fp.page_info;
        break;
    case CL_PRODUCTS:
        err = ld_products_list(x->c, &x->creator, 1, after, &pp, &msg);
        pi = &pp.page_info;
        break;
    case CL_NOTES:
        err = ld_notifications_list(x->c, &x->user, 1, after, &np, &msg);
        pi = &np.page_info;
        break;
    default:
        err = ld_drops_list(x->c, &f, 1, after, &dp, &msg);
        pi = &dp.page_info;
        break;
    }
    cursor_out[0] = '\0';
    if (err == LD_OK && pi->has_next_page)
        snprintf(cursor_out, LD_CURSOR_BYTES_MAX + 1, "%s", pi->end_cursor);
    if (err != LD_OK)
        cr_assert(msg.text[0], "%s: %s without a message", cl_names[kind], ld_err_name(err));
    return err;
}

static void
cl_setup(cl_ctx *x)
{
    x->creator = ldh_creator_create(x->c, "lists", NULL);
    x->user = ldh_user_create(x->c, "lister", NULL);
    ld_id other = ldh_creator_create(x->c, "lists", NULL);
    ldh_follow(x->c, &x->user, &other, NULL);
    ldh_follow(x->c, &x->user, &x->creator, NULL);
    ldh_follow(x->c, &other, &x->creator, NULL);
    ldh_wait_following(x->c, &x->user, &x->creator, true, 5000);
    int64_t now = ldh_now_ms();
    for (int i = 0; i < 2; i++) {
        ld_catalog_product_spec ps;
        ldh_catalog_spec(&ps, &x->creator, "listed", 1000, NULL);
        ldh_product_create(x->c, &ps, NULL);
        ld_drop_spec ds;
        ldh_drop_spec_at(&ds, &x->creator, now - 1000, now + 3600000, 5);
        ldh_drop_create(x->c, &ds, NULL); /* live: two DROP_LIVE notifications */
        ldh_drop_spec_at(&ds, &x->creator, now + 3600000, now + 7200000, 5);
        ldh_drop_create(x->c, &ds, NULL);
        ldh_drop_spec_at(&ds, &x->creator, now + 3600000, now + 7200000, 5);
        ldh_drop_create(x->c, &ds, NULL);
        ld_errmsg msg = {{0}};
        ld_err err = ld_drop_cancel(x->c, &x->creator, &ds.id, NULL, &msg);
        cr_assert_eq(err, LD_OK, "cancel: %s (%s)", ld_err_name(err), msg.text);
    }
}

Test(pagination, cursor_of_one_list_is_refused_by_another)
{
    /* Goal: a cursor carries its list: every list refuses the cursor of every
     * other list with ERR_INVALID_CURSOR and a message, and accepts its own.
     * Method: two entries in each of the 7 lists (followers, following, products,
     * live / upcoming / cancelled drops, notifications), a first page of 1 of
     * each for its end_cursor, then the 7 x 7 matrix. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    cl_ctx x = {.c = ldh_client(&node, 10000)};
    cl_setup(&x);
    char cursors[CL_N][LD_CURSOR_BYTES_MAX + 1];
    for (int k = 0; k < CL_N; k++) {
        /* The feed is built from the derived following side: poll for its second
         * entry. */
        LDH_POLL_UNTIL(5000, cl_call(&x, k, NULL, cursors[k]) == LD_OK && cursors[k][0],
                       "%s: no second page", cl_names[k]);
    }
    for (int k = 0; k < CL_N; k++) {
        for (int j = 0; j < CL_N; j++) {
            char next[LD_CURSOR_BYTES_MAX + 1];
            ld_err err = cl_call(&x, j, cursors[k], next);
            if (j == k)
                cr_assert_eq(err, LD_OK, "%s refuses its own cursor: %s", cl_names[k],
                             ld_err_name(err));
            else
                cr_assert_eq(err, LD_ERR_INVALID_CURSOR, "%s accepted a cursor of %s: %s",
                             cl_names[j], cl_names[k], ld_err_name(err));
        }
    }
    ld_client_close(x.c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
