/*
 * redis-lua-bench.c -- the Live Drops design's reservation path on Redis, for
 * tests/bench/compare-repl.sh: a Lua script (EVALSHA) that reserves atomically, and --connections
 * threads, each with its own TCP connection and --pipeline calls in flight on it (default 1),
 * hammering ONE hot drop for --duration-s.
 *
 * Pipelining (--pipeline N > 1): a thread writes N EVALSHA calls, then reads the replies as they
 * come (Redis answers one connection's calls in order) and writes a new call for each reply, so
 * N stay in flight until the end; then it reads the replies still due, so that every call Redis
 * ran is counted. Each call is the one of --pipeline 1 (same script, same keys, its own
 * idempotency key), and its latency runs from its send to its reply.
 *
 * The script does what livedrop's reserve does, in Redis' single thread:
 *
 *   idempotency key seen?            -> return the first reservation id (a retry)
 *   stock < qty?                     -> SOLD_OUT
 *   per-user count + qty > max?      -> LIMIT (max_per_user 0: unlimited)
 *   DECRBY stock; INCRBY user count; HSET reservation {drop, user, qty, state, created_ms};
 *   SET idempotency key -> reservation id (PX 24 h)
 *
 * Durability is the server's business: compare-repl.sh starts redis-server with appendonly yes,
 * appendfsync always, so a reply leaves only after its write is fsync'd to the AOF (Redis
 * writes and fsyncs the AOF once per event-loop turn, before the replies of that turn).
 *
 * The client speaks RESP over a plain TCP socket (no hiredis): requests are RESP arrays of bulk
 * strings, replies are parsed by a small bounded reader (depth 1, bulk strings <= 512 bytes).
 * After the run it checks the stock: initial - remaining == sum of acknowledged qty.
 *
 * Output: a summary like livedrop-bench's (--json: one object with connections, pipeline, clients
 * = connections x pipeline calls in flight, ops_per_s, latency_us p50 / p95 / p99 / max, codes,
 * check). Exit 0 PASS, 1 FAIL, 2 usage, 3 cannot talk to Redis.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_hist.h"

#define RESP_BUF_BYTES 4096
#define RESP_STR_BYTES_MAX 512 /* a bulk string we accept in a reply */
#define RESP_ELEMS_MAX 4       /* elements of an array reply we accept */
#define REQ_ARGS_MAX 16
#define PIPELINE_MAX 64 /* calls in flight on one connection */
#define IO_TIMEOUT_S 10

/* Always on (the project's LD_ASSERT, without linking the library): a bug in the bench's own
 * bookkeeping aborts rather than printing figures. */
#define LD_BENCH_ASSERT(cond)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char RESERVE_LUA[] =
    "local prev = redis.call('GET', KEYS[3])\n"
    "if prev then return {1, prev} end\n"
    "local qty = tonumber(ARGV[1])\n"
    "local stock = tonumber(redis.call('GET', KEYS[1]) or '0')\n"
    "if stock < qty then return {0, 'SOLD_OUT'} end\n"
    "local max = tonumber(ARGV[2])\n"
    "if max > 0 then\n"
    "  local used = tonumber(redis.call('GET', KEYS[2]) or '0')\n"
    "  if used + qty > max then return {0, 'LIMIT'} end\n"
    "end\n"
    "redis.call('DECRBY', KEYS[1], qty)\n"
    "redis.call('INCRBY', KEYS[2], qty)\n"
    "redis.call('HSET', KEYS[4], 'drop', ARGV[6], 'user', ARGV[3], 'qty', qty,\n"
    "           'state', 'ACTIVE', 'created_ms', ARGV[5])\n"
    "redis.call('SET', KEYS[3], ARGV[4], 'PX', 86400000)\n"
    "return {1, ARGV[4]}\n";

typedef struct opts {
    const char *host;
    int port;
    uint32_t connections; /* threads, one connection each */
    uint32_t pipeline;    /* calls in flight per connection */
    int64_t duration_s;
    int64_t stock;
    int64_t max_per_user;
    int64_t users;
    int64_t qty;
    bool json;
} opts;

/* ---- RESP over a socket --------------------------------------------------------------------- */

typedef struct conn {
    int fd;
    char buf[RESP_BUF_BYTES];
    size_t start, end;
} conn;

typedef struct reply {
    char type; /* '+', '-', ':', '$', '*' */
    int64_t integer;
    bool nil;
    char str[RESP_STR_BYTES_MAX + 1];
    uint32_t count; /* array elements */
    struct {
        char type;
        int64_t integer;
        bool nil;
        char str[RESP_STR_BYTES_MAX + 1];
    } elems[RESP_ELEMS_MAX];
} reply;

static bool
conn_open(conn *c, const char *host, int port)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c->fd);
        c->fd = -1;
        return false;
    }
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return true;
}

static void
conn_close(conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Sends one command as a RESP array of bulk strings (one send: a pipelined call goes out as soon
 * as it is written, as with --pipeline 1). */
static bool
conn_send(conn *c, int argc, const char *const *argv)
{
    char out[8192];
    size_t n = (size_t)snprintf(out, sizeof out, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++) {
        size_t len = strlen(argv[i]);
        if (n + len + 32 > sizeof out)
            return false;
        n += (size_t)snprintf(out + n, sizeof out - n, "$%zu\r\n", len);
        memcpy(out + n, argv[i], len);
        n += len;
        out[n++] = '\r';
        out[n++] = '\n';
    }
    for (size_t sent = 0; sent < n;) {
        ssize_t w = send(c->fd, out + sent, n - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        sent += (size_t)w;
    }
    return true;
}

static bool
conn_fill(conn *c)
{
    if (c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->end == sizeof c->buf)
        return false; /* a line longer than the buffer: not a reply we sent for */
    for (;;) {
        ssize_t r = recv(c->fd, c->buf + c->end, sizeof c->buf - c->end, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        c->end += (size_t)r;
        return true;
    }
}

/* Reads one CRLF-terminated line into line[size] (without the CRLF). */
static bool
conn_line(conn *c, char *line, size_t size)
{
    for (;;) {
        for (size_t i = c->start; i + 1 < c->end; i++) {
            if (c->buf[i] == '\r' && c->buf[i + 1] == '\n') {
                size_t len = i - c->start;
                if (len >= size)
                    return false;
                memcpy(line, c->buf + c->start, len);
                line[len] = '\0';
                c->start = i + 2;
                return true;
            }
        }
        if (!conn_fill(c))
            return false;
    }
}

/* Reads exactly len bytes and the CRLF after them into out (len <= RESP_STR_BYTES_MAX). */
static bool
conn_bulk(conn *c, size_t len, char *out)
{
    while (c->end - c->start < len + 2)
        if (!conn_fill(c))
            return false;
    memcpy(out, c->buf + c->start, len);
    out[len] = '\0';
    c->start += len + 2;
    return true;
}

/* One scalar reply (not an array) into type/integer/nil/str. */
static bool
read_scalar(conn *c, char *type, int64_t *integer, bool *nil, char *str)
{
    char line[RESP_STR_BYTES_MAX + 2];
    if (!conn_line(c, line, sizeof line) || line[0] == '\0')
        return false;
    *type = line[0];
    *nil = false;
    str[0] = '\0';
    *integer = 0;
    switch (line[0]) {
    case '+':
    case '-':
        snprintf(str, RESP_STR_BYTES_MAX + 1, "%s", line + 1);
        return true;
    case ':':
        *integer = strtoll(line + 1, NULL, 10);
        return true;
    case '$': {
        long long len = strtoll(line + 1, NULL, 10);
        if (len < 0) {
            *nil = true;
            return true;
        }
        return len <= RESP_STR_BYTES_MAX && conn_bulk(c, (size_t)len, str);
    }
    default:
        return false;
    }
}

static bool
read_reply(conn *c, reply *r)
{
    while (c->end == c->start)
        if (!conn_fill(c))
            return false;
    if (c->buf[c->start] != '*') {
        r->count = 0;
        return read_scalar(c, &r->type, &r->integer, &r->nil, r->str);
    }
    char line[64];
    if (!conn_line(c, line, sizeof line))
        return false;
    long long n = strtoll(line + 1, NULL, 10);
    if (n < 0 || n > RESP_ELEMS_MAX)
        return false;
    r->type = '*';
    r->count = (uint32_t)n;
    for (uint32_t i = 0; i < r->count; i++)
        if (!read_scalar(c, &r->elems[i].type, &r->elems[i].integer, &r->elems[i].nil,
                         r->elems[i].str))
            return false;
    return true;
}

/* Sends a command and reads its reply; false (with a message) on I/O or a Redis error. */
static bool
command(conn *c, reply *r, int argc, const char *const *argv)
{
    if (!conn_send(c, argc, argv) || !read_reply(c, r)) {
        fprintf(stderr, "redis-lua-bench: %s: connection failed\n", argv[0]);
        return false;
    }
    if (r->type == '-') {
        fprintf(stderr, "redis-lua-bench: %s: %s\n", argv[0], r->str);
        return false;
    }
    return true;
}

/* ---- the storm ------------------------------------------------------------------------------ */

typedef struct worker {
    pthread_t thread;
    uint32_t index;
    struct bench *bench;
    conn c;
    hist lat;
    /* Send times of the calls in flight, oldest first: a ring of `inflight` entries from
     * `oldest`. Invariant: inflight <= o.pipeline <= PIPELINE_MAX. */
    int64_t sent_ns[PIPELINE_MAX];
    uint32_t oldest, inflight;
    uint64_t ok, sold_out, limit, errors;
    int64_t acked_qty;
    uint64_t rng;
} worker;

typedef struct bench {
    opts o;
    char prefix[48]; /* keys of this run: "ld:<run>:" */
    char sha[48];
    atomic_bool stop;
    worker *workers;
} bench;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Writes reservation call number n through the script and notes its send time as the newest in
 * flight; returns false on a transport error. */
static bool
reserve_send(worker *w, uint64_t n)
{
    const bench *b = w->bench;
    LD_BENCH_ASSERT(w->inflight < b->o.pipeline);
    uint64_t user = rng_next(&w->rng) % (uint64_t)b->o.users;
    char k_stock[96], k_user[96], k_idem[128], k_res[96], qty[24], max[24], user_s[24], res_id[40],
        created[24], drop[8] = "1";
    snprintf(k_stock, sizeof k_stock, "%sstock", b->prefix);
    snprintf(k_user, sizeof k_user, "%suser:%" PRIu64, b->prefix, user);
    snprintf(k_idem, sizeof k_idem, "%sidem:%" PRIu64 ":w%u-%" PRIu64, b->prefix, user, w->index,
             n);
    snprintf(res_id, sizeof res_id, "%016" PRIx64 "%016" PRIx64, rng_next(&w->rng),
             rng_next(&w->rng));
    snprintf(k_res, sizeof k_res, "%sres:%s", b->prefix, res_id);
    snprintf(qty, sizeof qty, "%" PRId64, b->o.qty);
    snprintf(max, sizeof max, "%" PRId64, b->o.max_per_user);
    snprintf(user_s, sizeof user_s, "%" PRIu64, user);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(created, sizeof created, "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    const char *argv[] = {"EVALSHA", b->sha, "4",    k_stock, k_user,  k_idem, k_res,
                          qty,       max,    user_s, res_id,  created, drop};
    w->sent_ns[(w->oldest + w->inflight) % PIPELINE_MAX] = now_ns();
    if (!conn_send(&w->c, (int)(sizeof argv / sizeof argv[0]), argv)) {
        fprintf(stderr, "redis-lua-bench: EVALSHA: connection failed\n");
        return false;
    }
    w->inflight++;
    return true;
}

/* Reads the reply to the oldest call in flight (Redis replies in order on a connection), records
 * its latency and its result; returns false on a transport or script error. */
static bool
reserve_recv(worker *w)
{
    const bench *b = w->bench;
    LD_BENCH_ASSERT(w->inflight > 0);
    reply r;
    if (!read_reply(&w->c, &r)) {
        fprintf(stderr, "redis-lua-bench: EVALSHA: connection failed\n");
        return false;
    }
    hist_add(&w->lat, (uint64_t)(now_ns() - w->sent_ns[w->oldest]) / 1000);
    w->oldest = (w->oldest + 1) % PIPELINE_MAX;
    w->inflight--;
    if (r.type == '-') {
        fprintf(stderr, "redis-lua-bench: EVALSHA: %s\n", r.str);
        return false;
    }
    if (r.type != '*' || r.count != 2 || r.elems[0].type != ':') {
        fprintf(stderr, "redis-lua-bench: unexpected reply to EVALSHA\n");
        return false;
    }
    if (r.elems[0].integer == 1) {
        w->ok++;
        w->acked_qty += b->o.qty;
    } else if (strcmp(r.elems[1].str, "SOLD_OUT") == 0) {
        w->sold_out++;
    } else {
        w->limit++;
    }
    return true;
}

/* Keeps o.pipeline calls in flight until stop, then reads the replies still due: every call
 * Redis ran is counted, or the stock check could not balance. With --pipeline 1 this is one
 * call at a time, as before pipelining. */
static void *
worker_main(void *arg)
{
    worker *w = arg;
    const bench *b = w->bench;
    uint64_t n = 0;
    bool ok = true;
    while (ok && !atomic_load(&w->bench->stop)) {
        while (ok && w->inflight < b->o.pipeline && !atomic_load(&w->bench->stop))
            ok = reserve_send(w, n++);
        if (ok && w->inflight > 0)
            ok = reserve_recv(w);
    }
    while (ok && w->inflight > 0)
        ok = reserve_recv(w);
    if (!ok)
        w->errors++;
    return NULL;
}

/* ---- options, setup, report ----------------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(
        f,
        "usage: redis-lua-bench --port P [options]\n\n"
        "The Live Drops design's reservation on Redis: a Lua script (EVALSHA) checks stock, the\n"
        "per-user limit and the idempotency key, then decrements and writes the\n"
        "reservation hash. --connections threads, one connection each, with --pipeline\n"
        "calls in flight on it (latency: from a call's send to its reply).\n"
        "Start redis-server with appendonly yes and appendfsync always for durable replies.\n\n"
        "Options:\n"
        "  --host IP           Redis IPv4 address (default 127.0.0.1)\n"
        "  --port P            Redis port (required)\n"
        "  --connections M     threads / connections (default 64)\n"
        "  --clients N         the same as --connections (its older name)\n"
        "  --pipeline N        EVALSHA calls in flight per connection, 1..%d (default 1)\n"
        "  --duration-s S      run S seconds (default 10)\n"
        "  --stock N           initial stock of the drop (default 100000000)\n"
        "  --max-per-user N    units one user may reserve, 0 unlimited (default 0)\n"
        "  --users N           distinct users (default connections * pipeline * 1000)\n"
        "  --qty Q             units per reservation (default 1)\n"
        "  --json              print the summary as one JSON object\n\n"
        "Examples:\n"
        "  redis-lua-bench --port 6379 --connections 64 --duration-s 10\n"
        "  redis-lua-bench --port 6379 --connections 4 --pipeline 16 --duration-s 10\n",
        PIPELINE_MAX);
}

static bool
num(const char *name, const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end = NULL;
    long long x = v != NULL ? strtoll(v, &end, 10) : 0;
    if (v == NULL || *v == '\0' || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "redis-lua-bench: %s: '%s' is not an integer in %lld..%lld\n", name,
                v != NULL ? v : "", (long long)lo, (long long)hi);
        return false;
    }
    *out = x;
    return true;
}

/* Returns -1 to go on, else the exit status. */
static int
parse_args(opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t x = 0;
        bool ok = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        } else if (strcmp(a, "--host") == 0 && v != NULL) {
            o->host = v;
        } else if (strcmp(a, "--port") == 0) {
            ok = num(a, v, 1, 65535, &x);
            o->port = (int)x;
        } else if (strcmp(a, "--connections") == 0 || strcmp(a, "--clients") == 0) {
            ok = num(a, v, 1, 4096, &x);
            o->connections = (uint32_t)x;
        } else if (strcmp(a, "--pipeline") == 0) {
            ok = num(a, v, 1, PIPELINE_MAX, &x);
            o->pipeline = (uint32_t)x;
        } else if (strcmp(a, "--duration-s") == 0) {
            ok = num(a, v, 1, 86400, &o->duration_s);
        } else if (strcmp(a, "--stock") == 0) {
            ok = num(a, v, 1, INT64_MAX / 2, &o->stock);
        } else if (strcmp(a, "--max-per-user") == 0) {
            ok = num(a, v, 0, INT64_MAX / 2, &o->max_per_user);
        } else if (strcmp(a, "--users") == 0) {
            ok = num(a, v, 1, INT64_MAX / 2, &o->users);
        } else if (strcmp(a, "--qty") == 0) {
            ok = num(a, v, 1, 1000000, &o->qty);
        } else {
            fprintf(stderr, "redis-lua-bench: unknown option '%s' (try --help)\n", a);
            return 2;
        }
        if (!ok)
            return 2;
        i++;
    }
    if (o->port == 0) {
        fprintf(stderr, "redis-lua-bench: --port is required\n");
        return 2;
    }
    return -1;
}

/* Loads the script and sets the stock; keys are prefixed per run. */
static bool
setup(bench *b)
{
    conn c;
    if (!conn_open(&c, b->o.host, b->o.port)) {
        fprintf(stderr, "redis-lua-bench: cannot connect to %s:%d\n", b->o.host, b->o.port);
        return false;
    }
    reply r;
    uint64_t seed = (uint64_t)now_ns();
    snprintf(b->prefix, sizeof b->prefix, "ld:%" PRIx64 ":", rng_next(&seed));
    char key[96], stock[24];
    snprintf(key, sizeof key, "%sstock", b->prefix);
    snprintf(stock, sizeof stock, "%" PRId64, b->o.stock);
    const char *load[] = {"SCRIPT", "LOAD", RESERVE_LUA};
    const char *set[] = {"SET", key, stock};
    bool ok = command(&c, &r, 3, load) && r.type == '$' &&
              snprintf(b->sha, sizeof b->sha, "%s", r.str) > 0 && command(&c, &r, 3, set);
    conn_close(&c);
    return ok;
}

/* The remaining stock after the run, or -1. */
static int64_t
stock_left(const bench *b)
{
    conn c;
    if (!conn_open(&c, b->o.host, b->o.port))
        return -1;
    char key[96];
    snprintf(key, sizeof key, "%sstock", b->prefix);
    const char *get[] = {"GET", key};
    reply r;
    int64_t left =
        command(&c, &r, 2, get) && r.type == '$' && !r.nil ? strtoll(r.str, NULL, 10) : -1;
    conn_close(&c);
    return left;
}

static int
report(const bench *b, double secs)
{
    hist all = {0};
    uint64_t ok = 0, sold_out = 0, limit = 0, errors = 0;
    int64_t acked = 0;
    for (uint32_t i = 0; i < b->o.connections; i++) {
        const worker *w = &b->workers[i];
        hist_merge(&all, &w->lat);
        ok += w->ok;
        sold_out += w->sold_out;
        limit += w->limit;
        errors += w->errors;
        acked += w->acked_qty;
    }
    int64_t left = stock_left(b);
    bool pass = errors == 0 && left >= 0 && b->o.stock - left == acked;
    double rate = secs > 0 ? (double)all.total / secs : 0;
    if (b->o.json) {
        printf("{\"system\":\"redis\",\"connections\":%u,\"pipeline\":%u,\"clients\":%u,"
               "\"ops\":%" PRIu64
               ",\"seconds\":%.3f,\"ops_per_s\":%.1f,\"latency_us\":{\"p50\":%" PRIu64
               ",\"p95\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"max\":%" PRIu64
               "},\"codes\":{\"OK\":%" PRIu64 ",\"SOLD_OUT\":%" PRIu64 ",\"LIMIT\":%" PRIu64
               "},\"errors\":%" PRIu64 ",\"stock\":{\"initial\":%" PRId64 ",\"left\":%" PRId64
               "},\"acked_qty\":%" PRId64 ",\"check\":\"%s\"}\n",
               b->o.connections, b->o.pipeline, b->o.connections * b->o.pipeline, all.total, secs,
               rate, hist_percentile(&all, 50), hist_percentile(&all, 95),
               hist_percentile(&all, 99), all.max, ok, sold_out, limit, errors, b->o.stock, left,
               acked, pass ? "PASS" : "FAIL");
    } else {
        printf("redis-lua-bench: %u connections x %u in flight, EVALSHA reserve, qty %" PRId64 "\n",
               b->o.connections, b->o.pipeline, b->o.qty);
        printf("ops        %" PRIu64 " in %.2f s = %.0f ops/s\n", all.total, secs, rate);
        printf("latency us p50 %" PRIu64 "  p95 %" PRIu64 "  p99 %" PRIu64 "  max %" PRIu64 "\n",
               hist_percentile(&all, 50), hist_percentile(&all, 95), hist_percentile(&all, 99),
               all.max);
        printf("results    OK %" PRIu64 " SOLD_OUT %" PRIu64 " LIMIT %" PRIu64 " errors %" PRIu64
               "\n",
               ok, sold_out, limit, errors);
        printf("check      %s: initial %" PRId64 " - left %" PRId64 " vs acknowledged %" PRId64
               "\n",
               pass ? "PASS" : "FAIL", b->o.stock, left, acked);
    }
    return pass ? 0 : 1;
}

int
main(int argc, char **argv)
{
    static bench b;
    b.o = (opts){.host = "127.0.0.1",
                 .connections = 64,
                 .pipeline = 1,
                 .duration_s = 10,
                 .stock = 100000000,
                 .qty = 1};
    int rc = parse_args(&b.o, argc, argv);
    if (rc >= 0)
        return rc;
    if (b.o.users == 0)
        b.o.users = (int64_t)b.o.connections * b.o.pipeline * 1000;
    if (!setup(&b))
        return 3;
    b.workers = calloc(b.o.connections, sizeof *b.workers);
    if (b.workers == NULL)
        return 3;
    atomic_init(&b.stop, false);
    uint32_t started = 0;
    for (uint32_t i = 0; i < b.o.connections; i++) {
        worker *w = &b.workers[i];
        *w = (worker){.index = i, .bench = &b, .rng = 0x9e3779b97f4a7c15ULL * (i + 1)};
        if (!conn_open(&w->c, b.o.host, b.o.port)) {
            fprintf(stderr, "redis-lua-bench: connection %u failed\n", i);
            break;
        }
        started++;
    }
    int64_t t0 = now_ns();
    for (uint32_t i = 0; i < started; i++)
        if (pthread_create(&b.workers[i].thread, NULL, worker_main, &b.workers[i]) != 0)
            abort();
    struct timespec end = {.tv_sec = b.o.duration_s};
    while (nanosleep(&end, &end) != 0 && errno == EINTR)
        ;
    atomic_store(&b.stop, true);
    for (uint32_t i = 0; i < started; i++)
        pthread_join(b.workers[i].thread, NULL);
    double secs = (double)(now_ns() - t0) / 1e9;
    for (uint32_t i = 0; i < started; i++)
        conn_close(&b.workers[i].c);
    b.o.connections = started;
    rc = started > 0 ? report(&b, secs) : 3;
    free(b.workers);
    return rc;
}
