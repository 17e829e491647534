/*
 * livedrop-fanout.c -- the follow / fan-out benchmark: one creator with N followers, S simulated
 * gateways holding the live users, and the time from a drop going live to its last user.
 *
 *   1. follow: creates a creator and N followers (follow ops with random user ids) from
 *      --threads threads sharing --clients connections (heavy client-side coalescing), with
 *      progress every second;
 *   2. gateways: opens S subscriber connections (each a simulated gateway holding --live / S
 *      users that follow the creator), subscribed to creator/<id>; on every pushed event a
 *      gateway delivers it to each of its users (an in-memory fan-out loop), filling topic_seq
 *      gaps by pull first. Probe follow/unfollow pairs make sure every gateway is connected;
 *   3. drop: creates a drop that goes live ~2 s later and waits for every gateway to deliver its
 *      DROP_LIVE. The node stamps the event with the commit time of the TICK that made the drop
 *      live (Event.timestamp_ms); the bench records when each gateway received it and when it
 *      reached that gateway's last user, and prints the time from the commit to the last
 *      subscriber and to the last simulated user (target <= 1 s);
 *   4. walk: pages through every follower with list_followers (first = LD_PAGE_EDGES_MAX),
 *      checking each user once and none missing, and prints the time and the count (== N).
 *
 * Exit status: 0 the checks passed (follower count and walk == N, every gateway delivered the
 * DROP_LIVE); 1 a check failed; 2 usage; 3 setup failed (node unreachable, create refused).
 * The 1 s target is reported (PASS / MISS), not part of the exit status.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "livedrop.h"

#define TIMEOUT_RETRIES 5
#define TARGET_MS 1000.0
#define PROBE_ROUNDS 100
#define PROBE_WAIT_MS 200
#define FOLLOW_STACK_BYTES (256 * 1024)

typedef struct fanout_opts {
    const char *addr;
    const char *publish_addr;
    int64_t followers;
    uint32_t subscribers;
    int64_t live;
    uint32_t threads;
    uint32_t clients;
    uint32_t inflight;
    uint32_t timeout_ms;
    int64_t starts_in_ms;
    bool json;
} fanout_opts;

/* One simulated live user held by a gateway. */
typedef struct live_user {
    uint64_t last_seq;
    uint32_t delivered;
} live_user;

typedef struct gateway {
    pthread_t thread;
    uint32_t index;
    struct fanout *f;
    ld_subscriber *sub;
    live_user *users;
    uint32_t nusers;
    ld_event_page *page; /* gap fills */
    uint64_t last_topic_seq;
    _Atomic uint64_t events; /* events delivered (pushed or pulled) */
    _Atomic uint64_t gaps;   /* topic_seq jumps filled by pull */
    _Atomic bool live_seen;  /* the bench drop's DROP_LIVE reached every user */
    int64_t live_ts_ms;      /* its Event.timestamp_ms */
    int64_t live_recv_us;    /* wall clock when this gateway received it */
    int64_t live_done_us;    /* ... and when its last user had it */
    bool live_pulled;        /* it came by pull (gap fill), not push */
} gateway;

typedef struct follower_thread {
    pthread_t thread;
    struct fanout *f;
    ld_client *client;
    uint64_t errors;
} follower_thread;

typedef struct fanout {
    fanout_opts o;
    ld_client **clients;
    ld_id creator;
    char handle[LD_HANDLE_BYTES_MAX + 1];
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ld_id user_base;
    ld_id drop_id;
    _Atomic int64_t next_follow;
    _Atomic int64_t follows_done;
    _Atomic uint64_t follow_errors;
    atomic_bool stop;
    bool signing_up; /* phase 1a: the followers are created (a follow needs its user) */
    gateway *gateways;
    /* results */
    double users_s;
    double follow_s;
    int64_t follower_count;
    ld_client_stats net;
    int64_t drop_starts_at_ms;
    uint64_t walk_count;
    uint64_t walk_pages;
    uint64_t walk_dups;
    uint64_t walk_foreign;
    double walk_s;
} fanout;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- options -------------------------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(
        f, "usage: livedrop-fanout [options]\n\n"
           "Follow / fan-out benchmark: one creator, N followers made through coalesced follow\n"
           "ops, S subscriber connections (simulated gateways) holding the live users, a drop\n"
           "going live, and the time from its DROP_LIVE commit to the last subscriber and the\n"
           "last simulated user (target <= 1 s); then a walk through every follower page.\n\n"
           "Options:\n"
           "  --addr URL[,URL]... node address, or a cluster's node addresses (the client\n"
           "                      finds the primary; default $LIVEDROP_ADDR, else the\n"
           "                      local 3-node cluster: " LD_ADDR_DEFAULT ")\n"
           "  --publish-addr URL  publish address of the node to subscribe to (default\n"
           "                      $LIVEDROP_PUBLISH_ADDR or " LD_PUBLISH_ADDR_DEFAULT ")\n"
           "  --followers N       followers to create (default 1000000)\n"
           "  --subscribers S     subscriber connections / gateways, at least 10 (default 10)\n"
           "  --live N            live users held by the gateways in all (default 100000)\n"
           "  --threads N         follow threads (default 1024)\n"
           "  --clients N         connections the follow threads share (default 4)\n"
           "  --inflight N        request messages in flight per connection (default 4)\n"
           "  --starts-in-ms MS   the drop goes live this long after it is created (default 2000)\n"
           "  --timeout-ms N      per-call timeout (default 10000)\n"
           "  --json              print the summary as one JSON object on stdout\n\n"
           "Examples:\n"
           "  livedrop-fanout --followers 1000000\n"
           "  livedrop-fanout --followers 20000 --threads 64 --json\n\n"
           "The follows are written by --threads threads through --clients connections with\n"
           "--inflight messages each: more threads per message slot means more follows per\n"
           "message (coalescing), and bigger batches on the node.\n");
}

/* Handles one numeric option; returns 0 unknown, 1 ok, -1 bad value. */
static int
parse_num_opt(fanout_opts *o, const char *name, const char *v)
{
    static const struct {
        const char *name;
        int64_t lo, hi;
    } t[] = {
        {"--followers", 1, 100000000},
        {"--subscribers", 10, 1000},
        {"--live", 10, 100000000},
        {"--threads", 1, 4096},
        {"--clients", 1, 256},
        {"--inflight", 1, LD_CLIENT_INFLIGHT_MAX},
        {"--starts-in-ms", 100, 3600000},
        {"--timeout-ms", 1, 3600000},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(name, t[i].name) != 0)
            continue;
        char *end = NULL;
        long long x = v != NULL ? strtoll(v, &end, 10) : 0;
        if (v == NULL || *v == '\0' || *end != '\0' || x < t[i].lo || x > t[i].hi) {
            fprintf(stderr, "livedrop-fanout: %s: '%s' is not an integer in %lld..%lld\n", name,
                    v != NULL ? v : "", (long long)t[i].lo, (long long)t[i].hi);
            return -1;
        }
        int64_t *i64[] = {&o->followers, NULL, &o->live, NULL, NULL, NULL, &o->starts_in_ms, NULL};
        uint32_t *u32[] = {NULL,        &o->subscribers, NULL, &o->threads,
                           &o->clients, &o->inflight,    NULL, &o->timeout_ms};
        if (i64[i] != NULL)
            *i64[i] = x;
        else
            *u32[i] = (uint32_t)x;
        return 1;
    }
    return 0;
}

/* Returns -1 to continue, else the exit status. */
static int
parse_args(fanout_opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--addr") == 0 && v != NULL) {
            o->addr = v;
        } else if (strcmp(a, "--publish-addr") == 0 && v != NULL) {
            o->publish_addr = v;
        } else {
            int r = parse_num_opt(o, a, v);
            if (r < 0)
                return 2;
            if (r == 0) {
                fprintf(stderr,
                        "livedrop-fanout: unknown option '%s'\n"
                        "Try 'livedrop-fanout --help'.\n",
                        a);
                return 2;
            }
        }
        i++;
    }
    if (o->live < o->subscribers) {
        fprintf(stderr, "livedrop-fanout: --live must be at least --subscribers\n");
        return 2;
    }
    return -1;
}

/* ---- phase 1: follows ----------------------------------------------------------------------- */

/* Follower i's id: the random base with bytes 8..15 xor i (so a walk can map ids back). */
static ld_id
user_id(const fanout *f, uint64_t i)
{
    ld_id id = f->user_base;
    for (int k = 0; k < 8; k++)
        id.bytes[8 + k] ^= (uint8_t)(i >> (8 * k));
    return id;
}

/* The index of one of our users, or -1. */
static int64_t
user_index(const fanout *f, const ld_id *id)
{
    if (memcmp(id->bytes, f->user_base.bytes, 8) != 0)
        return -1;
    uint64_t i = 0;
    for (int k = 0; k < 8; k++)
        i |= (uint64_t)(id->bytes[8 + k] ^ f->user_base.bytes[8 + k]) << (8 * k);
    return i < (uint64_t)f->o.followers ? (int64_t)i : -1;
}

/* Follow or unfollow; a timeout is retried (follow is idempotent). */
static ld_err
follow_retry(ld_client *c, const ld_id *user, const ld_id *creator, bool follow)
{
    ld_err err = LD_ERR_TIMEOUT;
    for (int a = 0; a <= TIMEOUT_RETRIES && err == LD_ERR_TIMEOUT; a++)
        err = follow ? ld_follow(c, user, creator, NULL, NULL)
                     : ld_unfollow(c, user, creator, NULL, NULL);
    return err;
}

/* Creates follower `user`; a timeout is retried (the same spec again is LD_EXISTS). */
static ld_err
user_create_retry(ld_client *c, const ld_id *user)
{
    ld_user_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = *user;
    snprintf(spec.name, sizeof spec.name, "fan");
    ld_err err = LD_ERR_TIMEOUT;
    for (int a = 0; a <= TIMEOUT_RETRIES && err == LD_ERR_TIMEOUT; a++)
        err = ld_user_create(c, &spec, NULL, NULL);
    return err == LD_EXISTS ? LD_OK : err;
}

static void *
follower_main(void *arg)
{
    follower_thread *t = arg;
    fanout *f = t->f;
    for (;;) {
        int64_t i = atomic_fetch_add_explicit(&f->next_follow, 1, memory_order_relaxed);
        if (i >= f->o.followers || atomic_load_explicit(&f->stop, memory_order_relaxed))
            break;
        ld_id user = user_id(f, (uint64_t)i);
        ld_err err = f->signing_up ? user_create_retry(t->client, &user)
                                   : follow_retry(t->client, &user, &f->creator, true);
        if (err != LD_OK) {
            if (t->errors++ < 5)
                fprintf(stderr, "livedrop-fanout: %s %" PRId64 ": %s\n",
                        f->signing_up ? "user create" : "follow", i, ld_err_name(err));
            atomic_fetch_add_explicit(&f->follow_errors, 1, memory_order_relaxed);
            if (LD_ERR_IS_INVALID(err))
                atomic_store(&f->stop, true);
        }
        atomic_fetch_add_explicit(&f->follows_done, 1, memory_order_relaxed);
    }
    return NULL;
}

static bool
creator_setup(fanout *f)
{
    ld_creator_spec spec;
    memset(&spec, 0, sizeof spec);
    /* The drop id is chosen now: the gateway threads read it from their start. */
    if (ld_id_random(&spec.id) != LD_OK || ld_id_random(&f->user_base) != LD_OK ||
        ld_id_random(&f->drop_id) != LD_OK)
        return false;
    f->creator = spec.id;
    char hex[33];
    ld_id_format(&spec.id, hex);
    snprintf(spec.handle, sizeof spec.handle, "fanout_%.12s", hex);
    snprintf(spec.name, sizeof spec.name, "livedrop-fanout creator");
    strcpy(f->handle, spec.handle);
    snprintf(f->topic, sizeof f->topic, "creator/%s", hex);
    ld_errmsg msg;
    ld_err err = ld_creator_create(f->clients[0], &spec, NULL, &msg);
    if (err != LD_OK) {
        fprintf(stderr, "livedrop-fanout: create creator: %s: %s\n", ld_err_name(err), msg.text);
        return false;
    }
    return true;
}

static void
follow_progress(fanout *f, int64_t t0, int64_t *last_n, int64_t *last_t)
{
    int64_t n = atomic_load(&f->follows_done), t = now_ns();
    fprintf(stderr, "[%5.1fs] %s %10" PRId64 " / %" PRId64 "  %9.0f/s  errors %" PRIu64 "\n",
            (double)(t - t0) / 1e9, f->signing_up ? "users  " : "follows", n, f->o.followers,
            (double)(n - *last_n) * 1e9 / (double)(t - *last_t), atomic_load(&f->follow_errors));
    *last_n = n;
    *last_t = t;
}

static bool
follow_phase(fanout *f)
{
    follower_thread *ts = calloc(f->o.threads, sizeof *ts);
    if (ts == NULL)
        return false;
    int64_t t0 = now_ns(), last_n = 0, last_t = t0;
    uint32_t started = 0;
    pthread_attr_t attr; /* many threads, each one blocking call deep: small stacks */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, FOLLOW_STACK_BYTES);
    for (; started < f->o.threads; started++) {
        ts[started].f = f;
        ts[started].client = f->clients[started % f->o.clients];
        if (pthread_create(&ts[started].thread, &attr, follower_main, &ts[started]) != 0)
            break;
    }
    pthread_attr_destroy(&attr);
    while (atomic_load(&f->follows_done) < f->o.followers && !atomic_load(&f->stop)) {
        for (int k = 0; k < 50 && atomic_load(&f->follows_done) < f->o.followers; k++)
            usleep(20000);
        follow_progress(f, t0, &last_n, &last_t);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(ts[i].thread, NULL);
    free(ts);
    if (f->signing_up) {
        f->users_s = (double)(now_ns() - t0) / 1e9;
        atomic_store(&f->next_follow, 0);
        atomic_store(&f->follows_done, 0);
        return started == f->o.threads && atomic_load(&f->follow_errors) == 0;
    }
    f->follow_s = (double)(now_ns() - t0) / 1e9;
    for (uint32_t i = 0; i < f->o.clients; i++) {
        ld_client_stats st;
        ld_client_stats_get(f->clients[i], &st);
        f->net.ops_sent += st.ops_sent;
        f->net.messages_sent += st.messages_sent;
    }
    return started == f->o.threads && atomic_load(&f->follow_errors) == 0;
}

/* ---- phase 2: gateways ---------------------------------------------------------------------- */

/* Delivers one event to every user of the gateway: the in-memory fan-out. */
static void
deliver(gateway *g, const ld_event *e, bool pulled)
{
    int64_t recv_us = wall_us();
    for (uint32_t u = 0; u < g->nusers; u++) {
        g->users[u].last_seq = e->seq;
        g->users[u].delivered++;
    }
    int64_t done_us = wall_us();
    if (e->type == LD_EVENT_DROP_LIVE &&
        memcmp(e->drop_id.bytes, g->f->drop_id.bytes, LD_ID_BYTES) == 0 &&
        !atomic_load(&g->live_seen)) {
        g->live_ts_ms = e->timestamp_ms;
        g->live_recv_us = recv_us;
        g->live_done_us = done_us;
        g->live_pulled = pulled;
        atomic_store(&g->live_seen, true);
    }
    if (e->topic_seq > g->last_topic_seq)
        g->last_topic_seq = e->topic_seq;
    atomic_fetch_add(&g->events, 1);
}

/* Pulls the events the push missed, before topic_seq `upto`. */
static void
fill_gap(gateway *g, uint64_t upto)
{
    atomic_fetch_add(&g->gaps, 1);
    while (g->last_topic_seq + 1 < upto) {
        uint64_t want = upto - 1 - g->last_topic_seq;
        ld_err err = ld_events_pull(
            g->f->clients[g->index % g->f->o.clients], g->f->topic, g->last_topic_seq,
            want < LD_PULL_EVENTS_MAX ? (uint32_t)want : LD_PULL_EVENTS_MAX, 0, g->page, NULL);
        if (err != LD_OK || g->page->count == 0)
            return;
        uint64_t before = g->last_topic_seq;
        for (uint32_t i = 0; i < g->page->count && g->page->events[i].topic_seq < upto; i++)
            if (g->page->events[i].topic_seq > g->last_topic_seq)
                deliver(g, &g->page->events[i], true);
        if (g->last_topic_seq == before)
            return;
    }
}

static void *
gateway_main(void *arg)
{
    gateway *g = arg;
    while (!atomic_load_explicit(&g->f->stop, memory_order_relaxed)) {
        ld_event e;
        ld_err err = ld_subscriber_recv(g->sub, 100, &e);
        if (err != LD_OK)
            continue; /* timeout (check stop), or a malformed message */
        if (g->last_topic_seq != 0 && e.topic_seq <= g->last_topic_seq)
            continue; /* already delivered (by a gap fill) */
        if (g->last_topic_seq != 0 && e.topic_seq > g->last_topic_seq + 1)
            fill_gap(g, e.topic_seq);
        deliver(g, &e, false);
    }
    return NULL;
}

static bool
gateways_start(fanout *f)
{
    uint32_t s = f->o.subscribers;
    f->gateways = calloc(s, sizeof *f->gateways);
    if (f->gateways == NULL)
        return false;
    for (uint32_t i = 0; i < s; i++) {
        gateway *g = &f->gateways[i];
        g->index = i;
        g->f = f;
        g->nusers = (uint32_t)(f->o.live / s + (i < (uint32_t)(f->o.live % s) ? 1 : 0));
        g->users = calloc(g->nusers, sizeof *g->users);
        g->page = malloc(sizeof *g->page);
        if (g->users == NULL || g->page == NULL)
            return false;
        ld_err err = ld_subscriber_open(f->o.publish_addr, &g->sub);
        if (err == LD_OK)
            err = ld_subscribe(g->sub, f->topic);
        if (err != LD_OK) {
            fprintf(stderr, "livedrop-fanout: subscriber %u: %s\n", i, ld_err_name(err));
            return false;
        }
        if (pthread_create(&g->thread, NULL, gateway_main, g) != 0)
            return false;
    }
    return true;
}

static bool
all_gateways_saw(fanout *f, const uint64_t *before)
{
    for (uint32_t i = 0; i < f->o.subscribers; i++)
        if (atomic_load(&f->gateways[i].events) <= before[i])
            return false;
    return true;
}

/* Follow / unfollow a probe user until every gateway delivers a creator event: all
 * connected. Leaves the probe unfollowed (the follower count is N again). */
static bool
gateways_await(fanout *f)
{
    uint64_t *before = calloc(f->o.subscribers, sizeof *before);
    if (before == NULL)
        return false;
    ld_id probe = user_id(f, (uint64_t)f->o.followers + 1);
    bool ok = false, followed = false;
    if (user_create_retry(f->clients[0], &probe) != LD_OK) {
        free(before);
        fprintf(stderr, "livedrop-fanout: the probe user cannot be created\n");
        return false;
    }
    for (int round = 0; round < PROBE_ROUNDS && !ok; round++) {
        for (uint32_t i = 0; i < f->o.subscribers; i++)
            before[i] = atomic_load(&f->gateways[i].events);
        followed = !followed;
        if (follow_retry(f->clients[0], &probe, &f->creator, followed) != LD_OK)
            break;
        for (int w = 0; w < PROBE_WAIT_MS / 10 && !ok; w++) {
            usleep(10000);
            ok = all_gateways_saw(f, before);
        }
    }
    if (followed && follow_retry(f->clients[0], &probe, &f->creator, false) != LD_OK)
        ok = false;
    free(before);
    if (!ok)
        fprintf(stderr, "livedrop-fanout: not every subscriber got the probe events\n");
    return ok;
}

/* ---- phase 3: the drop ---------------------------------------------------------------------- */

static bool
drop_phase(fanout *f)
{
    ld_drop_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = f->drop_id;
    spec.product.creator_id = f->creator;
    snprintf(spec.product.title, sizeof spec.product.title, "livedrop-fanout drop");
    spec.product.price_minor = 100;
    strcpy(spec.product.currency, "USD");
    spec.starts_at_ms = wall_us() / 1000 + f->o.starts_in_ms;
    spec.ends_at_ms = spec.starts_at_ms + 3600 * 1000LL;
    spec.initial_stock = 1000;
    f->drop_starts_at_ms = spec.starts_at_ms;
    ld_errmsg msg;
    ld_err err = ld_drop_create(f->clients[0], &spec, NULL, &msg);
    if (err != LD_OK) {
        fprintf(stderr, "livedrop-fanout: create drop: %s: %s\n", ld_err_name(err), msg.text);
        return false;
    }
    fprintf(stderr, "drop created, live in %" PRId64 " ms; waiting for DROP_LIVE\n",
            f->o.starts_in_ms);
    int64_t give_up = now_ns() + (f->o.starts_in_ms + 15000) * 1000000;
    for (;;) {
        bool all = true;
        for (uint32_t i = 0; i < f->o.subscribers && all; i++)
            all = atomic_load(&f->gateways[i].live_seen);
        if (all)
            return true;
        if (now_ns() > give_up) {
            fprintf(stderr, "livedrop-fanout: not every gateway delivered DROP_LIVE\n");
            return false;
        }
        usleep(5000);
    }
}

/* ---- phase 4: the walk ---------------------------------------------------------------------- */

static bool
walk_phase(fanout *f)
{
    ld_follow_page *page = malloc(sizeof *page);
    uint8_t *seen = calloc((size_t)f->o.followers / 8 + 1, 1);
    if (page == NULL || seen == NULL)
        return false;
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    int64_t t0 = now_ns();
    bool ok = true;
    for (;;) {
        ld_errmsg msg;
        ld_err err =
            ld_followers_list(f->clients[0], &f->creator, LD_PAGE_EDGES_MAX, after, page, &msg);
        if (err != LD_OK) {
            fprintf(stderr, "livedrop-fanout: list_followers: %s: %s\n", ld_err_name(err),
                    msg.text);
            ok = false;
            break;
        }
        f->walk_pages++;
        for (uint32_t i = 0; i < page->count; i++) {
            int64_t u = user_index(f, &page->edges[i].user_id);
            if (u < 0) {
                f->walk_foreign++;
                continue;
            }
            if (seen[u / 8] & (1u << (u % 8)))
                f->walk_dups++;
            seen[u / 8] |= (uint8_t)(1u << (u % 8));
            f->walk_count++;
        }
        if (!page->page_info.has_next_page)
            break;
        if (strcmp(after, page->page_info.end_cursor) == 0) {
            fprintf(stderr, "livedrop-fanout: the cursor did not move\n");
            ok = false;
            break;
        }
        strcpy(after, page->page_info.end_cursor);
    }
    f->walk_s = (double)(now_ns() - t0) / 1e9;
    free(page);
    free(seen);
    return ok;
}

/* ---- summary -------------------------------------------------------------------------------- */

typedef struct latency {
    int64_t commit_ms;    /* DROP_LIVE Event.timestamp_ms */
    double sub_first_ms;  /* commit -> first gateway's receipt */
    double sub_last_ms;   /* commit -> last gateway's receipt */
    double user_last_ms;  /* commit -> the last simulated user */
    double fanout_max_ms; /* longest in-memory fan-out of one gateway */
    uint64_t gaps;
    uint32_t pulled; /* gateways that got DROP_LIVE by a gap fill */
} latency;

static void
latency_compute(const fanout *f, latency *l)
{
    memset(l, 0, sizeof *l);
    l->commit_ms = f->gateways[0].live_ts_ms;
    double commit_us = (double)l->commit_ms * 1000.0;
    l->sub_first_ms = 1e18;
    for (uint32_t i = 0; i < f->o.subscribers; i++) {
        const gateway *g = &f->gateways[i];
        double recv = ((double)g->live_recv_us - commit_us) / 1000.0;
        double done = ((double)g->live_done_us - commit_us) / 1000.0;
        double fan = (double)(g->live_done_us - g->live_recv_us) / 1000.0;
        l->sub_first_ms = recv < l->sub_first_ms ? recv : l->sub_first_ms;
        l->sub_last_ms = recv > l->sub_last_ms ? recv : l->sub_last_ms;
        l->user_last_ms = done > l->user_last_ms ? done : l->user_last_ms;
        l->fanout_max_ms = fan > l->fanout_max_ms ? fan : l->fanout_max_ms;
        l->gaps += atomic_load(&g->gaps);
        l->pulled += g->live_pulled;
    }
}

static bool
walk_ok(const fanout *f)
{
    return f->walk_count == (uint64_t)f->o.followers && f->walk_dups == 0 && f->walk_foreign == 0;
}

static void
print_text(const fanout *f, const latency *l, bool ok)
{
    char creator[33];
    ld_id_format(&f->creator, creator);
    printf("livedrop-fanout: creator %s (@%s), %" PRId64 " followers\n", creator, f->handle,
           f->o.followers);
    printf("users       %" PRId64 " created first in %.2f s\n", f->o.followers, f->users_s);
    printf("follow      %" PRId64 " in %.2f s = %.0f follows/s, %" PRIu64 " messages (%.1f "
           "ops/message), %u threads over %u connections; follower_count %" PRId64 "\n",
           f->o.followers, f->follow_s, (double)f->o.followers / f->follow_s, f->net.messages_sent,
           f->net.messages_sent ? (double)f->net.ops_sent / (double)f->net.messages_sent : 0.0,
           f->o.threads, f->o.clients, f->follower_count);
    printf("drop live   commit at %+" PRId64 " ms from starts_at; %u subscribers x %" PRId64
           " live users (%" PRId64 " each)\n",
           l->commit_ms - f->drop_starts_at_ms, f->o.subscribers, f->o.live,
           f->o.live / f->o.subscribers);
    printf("fan-out     commit -> first subscriber %.1f ms, last subscriber %.1f ms, last "
           "user %.1f ms (in-memory fan-out <= %.2f ms); gaps filled %" PRIu64
           "; target <= %.0f ms: %s\n",
           l->sub_first_ms, l->sub_last_ms, l->user_last_ms, l->fanout_max_ms, l->gaps, TARGET_MS,
           l->user_last_ms <= TARGET_MS ? "PASS" : "MISS");
    printf("walk        %" PRIu64 " followers in %" PRIu64 " pages in %.2f s (%.0f followers/s)"
           "; duplicates %" PRIu64 ", unknown %" PRIu64 "\n",
           f->walk_count, f->walk_pages, f->walk_s, (double)f->walk_count / f->walk_s, f->walk_dups,
           f->walk_foreign);
    printf("check       %s\n", ok ? "PASS" : "FAIL");
}

static void
print_json(const fanout *f, const latency *l, bool ok)
{
    char creator[33];
    ld_id_format(&f->creator, creator);
    printf("{\"creator_id\":\"%s\",\"followers\":%" PRId64 ",\"follow_seconds\":%.3f,"
           "\"follows_per_s\":%.1f,\"messages_sent\":%" PRIu64 ",\"ops_sent\":%" PRIu64
           ",\"threads\":%u,\"connections\":%u,\"follower_count\":%" PRId64 ",",
           creator, f->o.followers, f->follow_s, (double)f->o.followers / f->follow_s,
           f->net.messages_sent, f->net.ops_sent, f->o.threads, f->o.clients, f->follower_count);
    printf("\"subscribers\":%u,\"live_users\":%" PRId64 ",\"drop_live_commit_ms\":%" PRId64
           ",\"commit_after_starts_at_ms\":%" PRId64 ",\"to_first_subscriber_ms\":%.3f,"
           "\"to_last_subscriber_ms\":%.3f,\"to_last_user_ms\":%.3f,\"fanout_max_ms\":%.3f,"
           "\"gaps\":%" PRIu64 ",\"target_ms\":%.0f,\"target\":\"%s\",",
           f->o.subscribers, f->o.live, l->commit_ms, l->commit_ms - f->drop_starts_at_ms,
           l->sub_first_ms, l->sub_last_ms, l->user_last_ms, l->fanout_max_ms, l->gaps, TARGET_MS,
           l->user_last_ms <= TARGET_MS ? "PASS" : "MISS");
    printf("\"walk\":{\"count\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"seconds\":%.3f,"
           "\"duplicates\":%" PRIu64 ",\"unknown\":%" PRIu64 "},\"check\":\"%s\"}\n",
           f->walk_count, f->walk_pages, f->walk_s, f->walk_dups, f->walk_foreign,
           ok ? "PASS" : "FAIL");
}

/* ---- main ----------------------------------------------------------------------------------- */

static bool
clients_open(fanout *f)
{
    f->clients = calloc(f->o.clients, sizeof *f->clients);
    if (f->clients == NULL)
        return false;
    ld_client_opts opts = {.timeout_ms = f->o.timeout_ms, .inflight_max = f->o.inflight};
    for (uint32_t i = 0; i < f->o.clients; i++) {
        ld_err err = ld_client_open(f->o.addr, &opts, &f->clients[i]);
        if (err != LD_OK) {
            fprintf(stderr, "livedrop-fanout: --addr '%s': %s\n", f->o.addr, ld_strerror(err));
            return false;
        }
    }
    return true;
}

static void
teardown(fanout *f)
{
    atomic_store(&f->stop, true);
    for (uint32_t i = 0; f->gateways != NULL && i < f->o.subscribers; i++) {
        gateway *g = &f->gateways[i];
        if (g->sub != NULL) {
            if (g->thread != 0)
                pthread_join(g->thread, NULL);
            ld_subscriber_close(g->sub);
        }
        free(g->users);
        free(g->page);
    }
    free(f->gateways);
    for (uint32_t i = 0; f->clients != NULL && i < f->o.clients; i++)
        ld_client_close(f->clients[i]);
    free(f->clients);
}

/* Runs the phases; returns the exit status. */
static int
run(fanout *f)
{
    if (!clients_open(f) || !creator_setup(f))
        return 3;
    fprintf(stderr, "phase 1: %" PRId64 " follows from %u threads over %u connections\n",
            f->o.followers, f->o.threads, f->o.clients);
    f->signing_up = true;
    bool signed_up = follow_phase(f);
    f->signing_up = false;
    if (!signed_up || !follow_phase(f)) {
        fprintf(stderr, "livedrop-fanout: %" PRIu64 " follows failed\n",
                atomic_load(&f->follow_errors));
        return 1;
    }
    ld_creator cr;
    ld_errmsg msg;
    if (ld_creator_get(f->clients[0], &f->creator, &cr, &msg) == LD_OK)
        f->follower_count = cr.follower_count;
    bool ok = f->follower_count == f->o.followers;
    if (!ok)
        fprintf(stderr, "livedrop-fanout: follower_count %" PRId64 ", expected %" PRId64 "\n",
                f->follower_count, f->o.followers);
    fprintf(stderr, "phase 2: %u subscribers\n", f->o.subscribers);
    if (!gateways_start(f) || !gateways_await(f))
        return 3;
    fprintf(stderr, "phase 3: drop\n");
    if (!drop_phase(f))
        return 1;
    fprintf(stderr, "phase 4: walk through the followers\n");
    ok = walk_phase(f) && ok && walk_ok(f);
    latency l;
    latency_compute(f, &l);
    if (f->o.json)
        print_json(f, &l, ok);
    else
        print_text(f, &l, ok);
    return ok ? 0 : 1;
}

int
main(int argc, char **argv)
{
    static fanout f;
    const char *addr = getenv("LIVEDROP_ADDR"), *pub = getenv("LIVEDROP_PUBLISH_ADDR");
    f.o = (fanout_opts){
        .addr = addr != NULL ? addr : LD_ADDR_DEFAULT,
        .publish_addr = pub != NULL ? pub : LD_PUBLISH_ADDR_DEFAULT,
        .followers = 1000000,
        .subscribers = 10,
        .live = 100000,
        .threads = 1024,
        .clients = 4,
        .inflight = 4,
        .timeout_ms = LD_CLIENT_TIMEOUT_MS_DEFAULT,
        .starts_in_ms = 2000,
    };
    int rc = parse_args(&f.o, argc, argv);
    if (rc >= 0)
        return rc;
    rc = run(&f);
    teardown(&f);
    return rc;
}
