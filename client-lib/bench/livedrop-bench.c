/*
 * livedrop-bench.c -- hot-drop storm: many threads reserve (or order) units of ONE fresh drop.
 *
 * It creates its own live drop (random id, max_per_user 0, reservation TTL at its maximum so
 * nothing expires during a run), then runs --clients threads, each with its own ld_client
 * connection -- or sharing --connections clients among them, to show client-side coalescing.
 * Every second it prints progress to stderr; at the end a summary: throughput, latency
 * percentiles (log-bucketed histogram, ~3% precision, bounded memory), counts by result code,
 * the coalescing factor, and the stock check (P1 and exactly-once accounting):
 *
 *   available + reserved + sold == initial_stock
 *   order mode:   sold            == sum of acknowledged order qty
 *   reserve mode: reserved + sold == sum of acknowledged reservation qty
 *
 * A call that timed out is retried with the same idempotency key (so its outcome becomes
 * known, and never counts twice); one still unknown at the end widens the check to a range.
 * Exit status: 0 PASS, 1 FAIL, 2 usage, 3 setup failed (node unreachable, create refused).
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_hist.h"
#include "livedrop.h"

#define CODES_MAX 512
#define TIMEOUT_RETRIES 5

typedef enum bench_mode {
    MODE_RESERVE,
    MODE_ORDER,
} bench_mode;

typedef struct bench_opts {
    const char *addr;
    const char *conf;
    uint32_t clients;
    uint32_t connections;
    int64_t duration_s;
    int64_t ops;
    int64_t qty;
    bench_mode mode;
    int64_t stock;
    int64_t users;
    uint32_t inflight;
    uint32_t timeout_ms;
    bool json;
} bench_opts;

typedef struct worker {
    pthread_t thread;
    uint32_t index;
    struct bench *bench;
    ld_client *client;
    hist lat;
    uint64_t codes[CODES_MAX];
    int64_t acked_qty;
    int64_t unknown_qty;
    _Atomic uint64_t done;    /* read by the progress loop */
    _Atomic uint64_t refused; /* business refusals */
    _Atomic uint64_t errors;  /* transport and invalid */
    uint64_t rng;
} worker;

typedef struct bench {
    bench_opts o;
    ld_client **clients;
    worker *workers;
    ld_id drop_id;
    ld_id user_base;
    _Atomic int64_t ops_left;
    atomic_bool stop;
    int64_t started_ns;
} bench;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options -------------------------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f, "usage: livedrop-bench [options]\n\n"
               "Hot-drop storm: creates a fresh live drop and hammers it from many threads, then\n"
               "checks the stock: available + reserved + sold == initial, and the acknowledged\n"
               "quantities match (PASS/FAIL, exit 1 on FAIL).\n\n"
               "Options:\n"
               "  --addr URL[,URL]... node address, or a cluster's node addresses (the client\n"
               "                      finds the primary; default $LIVEDROP_ADDR, else the\n"
               "                      local 3-node cluster: " LD_ADDR_DEFAULT ")\n"
               "  --conf FILE         or: the client_url of each replica line of a cluster-conf\n"
               "  --clients N         threads, each with its own connection (default 64)\n"
               "  --connections M     share M connections among the threads (coalescing)\n"
               "  --duration-s S      run S seconds (default 10)\n"
               "  --ops N             or: run exactly N operations\n"
               "  --qty Q             units per operation (default 1)\n"
               "  --mode MODE         reserve (default) | order (place_order with pm_card_ok)\n"
               "  --stock N           initial stock of the drop (default 100000000)\n"
               "  --users N           distinct user ids (default clients * 1000)\n"
               "  --inflight N        request messages in flight per connection (default 8)\n"
               "  --timeout-ms N      per-call timeout (default 10000)\n"
               "  --json              print the summary as one JSON object on stdout\n\n"
               "Examples:\n"
               "  livedrop-bench --clients 64 --duration-s 10\n"
               "  livedrop-bench --clients 256 --connections 4 --ops 1000000 --mode order\n"
               "  livedrop-bench --clients 64 --stock 1000 --ops 5000   # sells out: SOLD_OUT\n");
}

static bool
num_arg(const char *name, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    long long x = v != NULL ? strtoll(v, &end, 10) : 0;
    if (v == NULL || *v == '\0' || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "livedrop-bench: %s: '%s' is not an integer in %lld..%lld\n", name,
                v != NULL ? v : "", (long long)lo, (long long)hi);
        return false;
    }
    *out = x;
    return true;
}

/* Handles one numeric option; returns 0 unknown, 1 ok, -1 bad value. */
static int
parse_num_opt(bench_opts *o, const char *name, const char *v)
{
    int64_t x;
    struct {
        const char *name;
        int64_t lo, hi;
    } t[] = {
        {"--clients", 1, 4096},       {"--connections", 1, 4096},
        {"--duration-s", 1, 86400},   {"--ops", 1, INT64_MAX / 2},
        {"--qty", 1, LD_QTY_MAX},     {"--stock", 1, LD_STOCK_MAX},
        {"--users", 1, 100000000},    {"--inflight", 1, LD_CLIENT_INFLIGHT_MAX},
        {"--timeout-ms", 1, 3600000},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (strcmp(name, t[i].name) != 0)
            continue;
        if (!num_arg(name, v, t[i].lo, t[i].hi, &x))
            return -1;
        switch (i) {
        case 0:
            o->clients = (uint32_t)x;
            break;
        case 1:
            o->connections = (uint32_t)x;
            break;
        case 2:
            o->duration_s = x;
            break;
        case 3:
            o->ops = x;
            break;
        case 4:
            o->qty = x;
            break;
        case 5:
            o->stock = x;
            break;
        case 6:
            o->users = x;
            break;
        case 7:
            o->inflight = (uint32_t)x;
            break;
        default:
            o->timeout_ms = (uint32_t)x;
            break;
        }
        return 1;
    }
    return 0;
}

/* Returns -1 to continue, else the exit status. */
static int
parse_args(bench_opts *o, int argc, char **argv)
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
        } else if (strcmp(a, "--conf") == 0 && v != NULL) {
            o->conf = v;
        } else if (strcmp(a, "--mode") == 0 && v != NULL) {
            if (strcmp(v, "reserve") != 0 && strcmp(v, "order") != 0) {
                fprintf(stderr, "livedrop-bench: --mode: 'reserve' or 'order', not '%s'\n", v);
                return 2;
            }
            o->mode = strcmp(v, "order") == 0 ? MODE_ORDER : MODE_RESERVE;
        } else {
            int r = parse_num_opt(o, a, v);
            if (r < 0)
                return 2;
            if (r == 0) {
                fprintf(stderr,
                        "livedrop-bench: unknown option '%s'\nTry 'livedrop-bench "
                        "--help'.\n",
                        a);
                return 2;
            }
        }
        i++;
    }
    return -1;
}

/* ---- the storm ------------------------------------------------------------------------------ */

static uint64_t
rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static ld_id
user_id(const bench *b, uint64_t index)
{
    ld_id id = b->user_base;
    for (int i = 0; i < 8; i++)
        id.bytes[8 + i] ^= (uint8_t)(index >> (8 * i));
    return id;
}

/* One operation with a fresh key; timeouts are retried with the same key. */
static ld_err
one_op(worker *w, uint64_t seq, int64_t *qty_acked)
{
    bench *b = w->bench;
    ld_id user = user_id(b, rng_next(&w->rng) % (uint64_t)b->o.users);
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    snprintf(key, sizeof key, "bench-%u-%" PRIu64, w->index, seq);
    ld_err err = LD_ERR_TIMEOUT;
    *qty_acked = 0;
    for (int attempt = 0; attempt <= TIMEOUT_RETRIES && err == LD_ERR_TIMEOUT; attempt++) {
        if (b->o.mode == MODE_ORDER) {
            ld_order order;
            err = ld_place_order(w->client, &b->drop_id, &user, b->o.qty, key, "pm_card_ok", &order,
                                 NULL);
            if (err == LD_OK && order.status == LD_ORDER_PAID)
                *qty_acked = order.qty;
        } else {
            ld_reservation res;
            err = ld_reserve(w->client, &b->drop_id, &user, b->o.qty, key, &res, NULL);
            if (err == LD_OK)
                *qty_acked = res.qty;
        }
    }
    return err;
}

static void *
worker_main(void *arg)
{
    worker *w = arg;
    bench *b = w->bench;
    for (uint64_t seq = 0; !atomic_load_explicit(&b->stop, memory_order_relaxed); seq++) {
        if (b->o.ops > 0 && atomic_fetch_sub(&b->ops_left, 1) <= 0)
            break;
        int64_t t0 = now_ns(), qty;
        ld_err err = one_op(w, seq, &qty);
        hist_add(&w->lat, (uint64_t)(now_ns() - t0) / 1000);
        w->codes[(unsigned)err < CODES_MAX ? (unsigned)err : CODES_MAX - 1]++;
        w->acked_qty += qty;
        if (err == LD_ERR_TIMEOUT)
            w->unknown_qty += b->o.qty;
        if (LD_ERR_IS_BUSINESS(err))
            atomic_fetch_add_explicit(&w->refused, 1, memory_order_relaxed);
        else if (!LD_ERR_IS_SUCCESS(err))
            atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&w->done, 1, memory_order_relaxed);
    }
    return NULL;
}

/* Creates the bench's drop and waits until the node reports it LIVE. */
static bool
drop_setup(bench *b)
{
    ld_drop_spec spec;
    memset(&spec, 0, sizeof spec);
    if (ld_id_random(&spec.id) != LD_OK || ld_id_random(&spec.product.creator_id) != LD_OK ||
        ld_id_random(&b->user_base) != LD_OK)
        return false;
    snprintf(spec.product.title, sizeof spec.product.title, "livedrop-bench hot drop");
    spec.product.price_minor = 100;
    strcpy(spec.product.currency, "USD");
    spec.starts_at_ms = wall_ms();
    spec.ends_at_ms = spec.starts_at_ms + 24 * 3600 * 1000LL;
    spec.initial_stock = b->o.stock;
    spec.reservation_ttl_ms = LD_RESERVATION_TTL_MS_MAX;
    ld_drop drop;
    ld_errmsg msg;
    ld_err err = ld_drop_create(b->clients[0], &spec, &drop, &msg);
    if (err != LD_OK) {
        fprintf(stderr, "livedrop-bench: create drop: %s: %s\n", ld_err_name(err), msg.text);
        return false;
    }
    b->drop_id = spec.id;
    for (int i = 0; i < 100 && drop.status != LD_DROP_LIVE; i++) {
        usleep(50000);
        err = ld_drop_get(b->clients[0], &b->drop_id, &drop, &msg);
        if (err != LD_OK) {
            fprintf(stderr, "livedrop-bench: get drop: %s: %s\n", ld_err_name(err), msg.text);
            return false;
        }
    }
    if (drop.status != LD_DROP_LIVE)
        fprintf(stderr, "livedrop-bench: warning: drop is not LIVE yet\n");
    return true;
}

static void
progress(bench *b, int64_t *last_ops, int64_t *last_ns)
{
    uint64_t ops = 0, refused = 0, errors = 0;
    for (uint32_t i = 0; i < b->o.clients; i++) {
        ops += atomic_load_explicit(&b->workers[i].done, memory_order_relaxed);
        refused += atomic_load_explicit(&b->workers[i].refused, memory_order_relaxed);
        errors += atomic_load_explicit(&b->workers[i].errors, memory_order_relaxed);
    }
    int64_t t = now_ns();
    double rate = (double)((int64_t)ops - *last_ops) * 1e9 / (double)(t - *last_ns);
    fprintf(stderr,
            "[%5.1fs] ops %10" PRIu64 "  ops/s %9.0f  refused %8" PRIu64 "  errors %6" PRIu64 "\n",
            (double)(t - b->started_ns) / 1e9, ops, rate, refused, errors);
    *last_ops = (int64_t)ops;
    *last_ns = t;
}

/* Runs the workers; prints progress every second until they finish or time is up. */
static bool
storm(bench *b)
{
    b->started_ns = now_ns();
    atomic_store(&b->ops_left, b->o.ops);
    for (uint32_t i = 0; i < b->o.clients; i++) {
        worker *w = &b->workers[i];
        w->index = i;
        w->bench = b;
        w->client = b->clients[i % b->o.connections];
        w->rng = ((uint64_t)i + 1) * 0x2545F4914F6CDD1Dull ^ (uint64_t)b->started_ns;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "livedrop-bench: cannot start thread %u\n", i);
            atomic_store(&b->stop, true);
            b->o.clients = i;
            break;
        }
    }
    int64_t last_ops = 0, last_ns = b->started_ns,
            end_ns = b->started_ns + b->o.duration_s * 1000000000;
    for (int64_t next = b->started_ns + 1000000000;; next += 1000000000) {
        while (now_ns() < next) {
            usleep(20000);
            if (b->o.ops > 0 && atomic_load(&b->ops_left) <= 0)
                break;
        }
        if (b->o.ops > 0 && atomic_load(&b->ops_left) <= 0)
            break;
        progress(b, &last_ops, &last_ns);
        if (b->o.duration_s > 0 && now_ns() >= end_ns)
            break;
    }
    atomic_store(&b->stop, true);
    for (uint32_t i = 0; i < b->o.clients; i++)
        pthread_join(b->workers[i].thread, NULL);
    return b->o.clients > 0;
}

/* ---- summary -------------------------------------------------------------------------------- */

typedef struct summary {
    hist lat;
    uint64_t codes[CODES_MAX];
    uint64_t ops;
    int64_t acked_qty;
    int64_t unknown_qty;
    double secs;
    ld_client_stats net;
    ld_drop drop;
    ld_err drop_err;
    bool pass;
    char why[256];
} summary;

static void
summarize(bench *b, summary *s)
{
    memset(s, 0, sizeof *s);
    s->secs = (double)(now_ns() - b->started_ns) / 1e9;
    for (uint32_t i = 0; i < b->o.clients; i++) {
        worker *w = &b->workers[i];
        hist_merge(&s->lat, &w->lat);
        for (unsigned c = 0; c < CODES_MAX; c++)
            s->codes[c] += w->codes[c];
        s->acked_qty += w->acked_qty;
        s->unknown_qty += w->unknown_qty;
    }
    s->ops = s->lat.total;
    for (uint32_t i = 0; i < b->o.connections; i++) {
        ld_client_stats st;
        ld_client_stats_get(b->clients[i], &st);
        s->net.ops_sent += st.ops_sent;
        s->net.messages_sent += st.messages_sent;
        s->net.redirects += st.redirects;
        s->net.failovers += st.failovers;
        s->net.connections_lost += st.connections_lost;
    }
}

/* The stock check: P1 and the acknowledged quantities. */
static void
check_stock(bench *b, summary *s)
{
    ld_errmsg msg;
    s->drop_err = ld_drop_get(b->clients[0], &b->drop_id, &s->drop, &msg);
    if (s->drop_err != LD_OK) {
        snprintf(s->why, sizeof s->why, "get_drop failed: %s: %s", ld_err_name(s->drop_err),
                 msg.text);
        return;
    }
    const ld_stock *k = &s->drop.stock;
    int64_t initial = s->drop.spec.initial_stock;
    int64_t held = b->o.mode == MODE_ORDER ? k->sold : k->reserved + k->sold;
    if (k->available < 0 || k->reserved < 0 || k->sold < 0 ||
        k->available + k->reserved + k->sold != initial || initial != b->o.stock) {
        snprintf(s->why, sizeof s->why,
                 "available %" PRId64 " + reserved %" PRId64 " + sold %" PRId64
                 " != initial %" PRId64,
                 k->available, k->reserved, k->sold, b->o.stock);
        return;
    }
    if (held < s->acked_qty || held > s->acked_qty + s->unknown_qty) {
        snprintf(s->why, sizeof s->why,
                 "%s %" PRId64 " but acknowledged %" PRId64 " (+ up to %" PRId64 " unknown)",
                 b->o.mode == MODE_ORDER ? "sold" : "reserved+sold", held, s->acked_qty,
                 s->unknown_qty);
        return;
    }
    s->pass = true;
    snprintf(s->why, sizeof s->why, "%s %" PRId64 " == acknowledged %" PRId64 "%s",
             b->o.mode == MODE_ORDER ? "sold" : "reserved+sold", held, s->acked_qty,
             s->unknown_qty > 0 ? " (within unknown outcomes)" : "");
}

static void
print_text(const bench *b, const summary *s)
{
    const ld_stock *k = &s->drop.stock;
    char drop[33];
    ld_id_format(&b->drop_id, drop);
    printf("livedrop-bench: mode %s, %u threads over %u connections, qty %" PRId64 ", drop %s\n",
           b->o.mode == MODE_ORDER ? "order" : "reserve", b->o.clients, b->o.connections, b->o.qty,
           drop);
    printf("ops        %" PRIu64 " in %.2f s = %.0f ops/s\n", s->ops, s->secs,
           (double)s->ops / s->secs);
    printf("latency us p50 %" PRIu64 "  p95 %" PRIu64 "  p99 %" PRIu64 "  max %" PRIu64 "\n",
           hist_percentile(&s->lat, 50), hist_percentile(&s->lat, 95), hist_percentile(&s->lat, 99),
           s->lat.max);
    printf("results   ");
    for (unsigned c = 0; c < CODES_MAX; c++)
        if (s->codes[c] > 0)
            printf(" %s %" PRIu64, c == CODES_MAX - 1 ? "OTHER" : ld_err_name((ld_err)c),
                   s->codes[c]);
    printf("\nmessages   %" PRIu64 " carrying %" PRIu64 " ops (%.2f ops/message)\n",
           s->net.messages_sent, s->net.ops_sent,
           s->net.messages_sent ? (double)s->net.ops_sent / (double)s->net.messages_sent : 0.0);
    if (s->net.redirects > 0 || s->net.failovers > 0)
        printf("routing    %" PRIu64 " not-primary redirects, %" PRIu64 " failovers, %" PRIu64
               " lost connections\n",
               s->net.redirects, s->net.failovers, s->net.connections_lost);
    printf("stock      initial %" PRId64 ": available %" PRId64 ", reserved %" PRId64
           ", sold %" PRId64 "\n",
           b->o.stock, k->available, k->reserved, k->sold);
    printf("check      %s: %s\n", s->pass ? "PASS" : "FAIL", s->why);
}

static void
print_json(const bench *b, const summary *s)
{
    const ld_stock *k = &s->drop.stock;
    char drop[33];
    ld_id_format(&b->drop_id, drop);
    printf("{\"mode\":\"%s\",\"clients\":%u,\"connections\":%u,\"qty\":%" PRId64
           ",\"drop_id\":\"%s\",\"ops\":%" PRIu64 ",\"seconds\":%.3f,\"ops_per_s\":%.1f,",
           b->o.mode == MODE_ORDER ? "order" : "reserve", b->o.clients, b->o.connections, b->o.qty,
           drop, s->ops, s->secs, (double)s->ops / s->secs);
    printf("\"latency_us\":{\"p50\":%" PRIu64 ",\"p95\":%" PRIu64 ",\"p99\":%" PRIu64
           ",\"max\":%" PRIu64 "},\"codes\":{",
           hist_percentile(&s->lat, 50), hist_percentile(&s->lat, 95), hist_percentile(&s->lat, 99),
           s->lat.max);
    bool first = true;
    for (unsigned c = 0; c < CODES_MAX; c++) {
        if (s->codes[c] == 0)
            continue;
        printf("%s\"%s\":%" PRIu64, first ? "" : ",",
               c == CODES_MAX - 1 ? "OTHER" : ld_err_name((ld_err)c), s->codes[c]);
        first = false;
    }
    printf("},\"messages_sent\":%" PRIu64 ",\"ops_sent\":%" PRIu64 ",\"redirects\":%" PRIu64
           ",\"failovers\":%" PRIu64 ",\"stock\":{\"initial\":%" PRId64 ",\"available\":%" PRId64
           ",\"reserved\":%" PRId64 ",\"sold\":%" PRId64 "},\"acked_qty\":%" PRId64
           ",\"unknown_qty\":%" PRId64 ",\"check\":\"%s\"}\n",
           s->net.messages_sent, s->net.ops_sent, s->net.redirects, s->net.failovers, b->o.stock,
           k->available, k->reserved, k->sold, s->acked_qty, s->unknown_qty,
           s->pass ? "PASS" : "FAIL");
}

/* ---- main ----------------------------------------------------------------------------------- */

static bool
clients_open(bench *b)
{
    b->clients = calloc(b->o.connections, sizeof *b->clients);
    b->workers = calloc(b->o.clients, sizeof *b->workers);
    if (b->clients == NULL || b->workers == NULL)
        return false;
    ld_client_opts opts = {.timeout_ms = b->o.timeout_ms, .inflight_max = b->o.inflight};
    for (uint32_t i = 0; i < b->o.connections; i++) {
        ld_err err = ld_client_open(b->o.addr, &opts, &b->clients[i]);
        if (err != LD_OK) {
            fprintf(stderr, "livedrop-bench: --addr '%s': %s\n", b->o.addr, ld_strerror(err));
            return false;
        }
    }
    return true;
}

static void
clients_close(bench *b)
{
    for (uint32_t i = 0; b->clients != NULL && i < b->o.connections; i++)
        ld_client_close(b->clients[i]);
    free(b->clients);
    free(b->workers);
}

int
main(int argc, char **argv)
{
    static bench b;
    b.o = (bench_opts){.addr = getenv("LIVEDROP_ADDR") ? getenv("LIVEDROP_ADDR") : LD_ADDR_DEFAULT,
                       .clients = 64,
                       .qty = 1,
                       .stock = LD_STOCK_MAX};
    int rc = parse_args(&b.o, argc, argv);
    if (rc >= 0)
        return rc;
    static char conf_addrs[LD_CLIENT_ADDR_LIST_BYTES];
    if (b.o.conf != NULL) {
        ld_errmsg why;
        if (ld_conf_client_addrs(b.o.conf, conf_addrs, sizeof conf_addrs, &why) != LD_OK) {
            fprintf(stderr, "livedrop-bench: --conf %s: %s\n", b.o.conf, why.text);
            return 2;
        }
        b.o.addr = conf_addrs;
    }
    if (b.o.connections == 0 || b.o.connections > b.o.clients)
        b.o.connections = b.o.clients;
    if (b.o.users == 0)
        b.o.users = (int64_t)b.o.clients * 1000;
    if (b.o.duration_s == 0 && b.o.ops == 0)
        b.o.duration_s = 10;
    rc = 3;
    static summary s;
    if (clients_open(&b) && drop_setup(&b) && storm(&b)) {
        summarize(&b, &s);
        check_stock(&b, &s);
        if (b.o.json)
            print_json(&b, &s);
        else
            print_text(&b, &s);
        rc = s.pass ? 0 : 1;
    }
    clients_close(&b);
    return rc;
}
