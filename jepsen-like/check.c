/*
 * check.c -- see check.h. Loading builds one record per key (indexed by key and by user id in
 * two open-addressing tables) and folds the final state's orders into them; checking then walks
 * the keys and the reads once.
 */
#include "check.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "chaos.h"
#include "history.h"

#define SRC_COUNT (LDC_NODES + 1) /* 0: the primary's linearizable read; n: replica n's */
#define TABLE_SLOTS (2u * LDC_KEYS_MAX)
#define CODES_MAX 400u

_Static_assert((TABLE_SLOTS & (TABLE_SLOTS - 1)) == 0, "table size is a power of two");

enum { OUT_NONE = 0, OUT_OK, OUT_FAIL, OUT_INFO };

typedef struct key_rec {
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    ld_id user;
    int64_t qty;
    int64_t client;
    uint32_t attempts;
    int last;      /* OUT_*: the last completion (OUT_NONE: none yet) */
    int last_code; /* its code */
    bool acked;
    ld_id acked_order;
    int64_t acked_qty;
    uint32_t paid[SRC_COUNT]; /* PAID orders of this key's user, per read */
    ld_id paid_order[SRC_COUNT];
    int64_t paid_qty[SRC_COUNT];
    bool rechecked;
    int64_t recheck_code, get_code, get_qty;
    ld_id recheck_order;
    char get_status[16];
} key_rec;

typedef struct stock {
    bool read;
    int64_t initial, available, reserved, sold;
    int64_t applied;
} stock;

struct ldc_model {
    /* history */
    bool have_run, have_end, truncated;
    int64_t initial_stock, seed, clients, time_s;
    char drop[33];
    char faults[64];
    key_rec *keys;
    uint32_t nkeys;
    uint32_t by_key[TABLE_SLOTS];  /* index + 1, 0: empty */
    uint32_t by_user[TABLE_SLOTS]; /* index + 1 */
    uint64_t attempts;
    uint64_t codes[CODES_MAX]; /* completions by code (all calls) */
    uint64_t completions[4];   /* by OUT_* (all calls) */
    uint64_t nemesis_ops[8];
    /* final */
    bool have_final, final_complete;
    char final_note[200];
    stock src[SRC_COUNT]; /* src[0]: the primary, src[n]: replica n */
    bool src_orders[SRC_COUNT];
    uint64_t orders_paid[SRC_COUNT], orders_failed[SRC_COUNT];
    int64_t paid_qty[SRC_COUNT];
    uint64_t paid_digest[SRC_COUNT]; /* sum of a hash of every PAID order id: compares sets */
    uint64_t phantom[SRC_COUNT];     /* PAID orders of a user no key has */
    char phantom_example[SRC_COUNT][33];
};

static const char *const nemesis_names[8] = {"kill",     "pause",     "wipe",       "restart",
                                             "continue", "recovered", "no-primary", "other"};

const char *
ldc_check_name(int check)
{
    static const char *const names[LDC_CHECKS] = {
        [LDC_CHECK_HISTORY] = "history",         [LDC_CHECK_FINAL] = "final-read",
        [LDC_CHECK_OVERSELL] = "no-oversell",    [LDC_CHECK_LOST] = "not-lost",
        [LDC_CHECK_DOUBLE] = "no-double",        [LDC_CHECK_ONCE] = "at-most-once",
        [LDC_CHECK_REPLICAS] = "replicas-agree",
    };
    return check >= 0 && check < LDC_CHECKS ? names[check] : "?";
}

static uint64_t
fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The slot of key in table (its entry or the empty slot where it would go). */
static uint32_t *
slot_by_key(ldc_model *m, const char *key)
{
    uint32_t i = (uint32_t)fnv1a(key, strlen(key)) & (TABLE_SLOTS - 1);
    for (;;) {
        uint32_t *s = &m->by_key[i];
        if (*s == 0 || strcmp(m->keys[*s - 1].key, key) == 0)
            return s;
        i = (i + 1) & (TABLE_SLOTS - 1);
    }
}

static uint32_t *
slot_by_user(ldc_model *m, const ld_id *user)
{
    uint32_t i = (uint32_t)fnv1a(user->bytes, sizeof user->bytes) & (TABLE_SLOTS - 1);
    for (;;) {
        uint32_t *s = &m->by_user[i];
        if (*s == 0 || ldc_id_eq(&m->keys[*s - 1].user, user))
            return s;
        i = (i + 1) & (TABLE_SLOTS - 1);
    }
}

static bool
need_str(const ldc_rec *r, const char *field, const char **out, char *err, size_t err_size)
{
    *out = ldc_rec_str(r, field);
    if (!*out)
        snprintf(err, err_size, "record without the string field \"%s\"", field);
    return *out != NULL;
}

static bool
need_int(const ldc_rec *r, const char *field, int64_t *out, char *err, size_t err_size)
{
    if (ldc_rec_int(r, field, out))
        return true;
    snprintf(err, err_size, "record without the integer field \"%s\"", field);
    return false;
}

static bool
need_id(const ldc_rec *r, const char *field, ld_id *out, char *err, size_t err_size)
{
    const char *hex;
    if (!need_str(r, field, &hex, err, err_size))
        return false;
    if (ld_id_parse(hex, out) != LD_OK) {
        snprintf(err, err_size, "\"%s\" is not 32 hex digits", field);
        return false;
    }
    return true;
}

/* ---- loading the history --------------------------------------------------------------------- */

static bool
hist_invoke(ldc_model *m, const ldc_rec *r, char *err, size_t err_size)
{
    const char *key;
    ld_id user;
    int64_t qty, client;
    if (!need_str(r, "key", &key, err, err_size) || !need_id(r, "user", &user, err, err_size) ||
        !need_int(r, "qty", &qty, err, err_size) || !need_int(r, "client", &client, err, err_size))
        return false;
    if (strlen(key) == 0 || strlen(key) > LD_IDEMPOTENCY_KEY_BYTES_MAX) {
        snprintf(err, err_size, "key of %zu bytes", strlen(key));
        return false;
    }
    uint32_t *s = slot_by_key(m, key);
    key_rec *k;
    if (*s == 0) {
        if (m->nkeys == LDC_KEYS_MAX) {
            snprintf(err, err_size, "more than %u keys", LDC_KEYS_MAX);
            return false;
        }
        uint32_t *u = slot_by_user(m, &user);
        if (*u != 0) {
            snprintf(err, err_size, "key %s reuses the user of key %s", key, m->keys[*u - 1].key);
            return false;
        }
        k = &m->keys[m->nkeys];
        memset(k, 0, sizeof *k);
        snprintf(k->key, sizeof k->key, "%s", key);
        k->user = user;
        k->qty = qty;
        k->client = client;
        *s = ++m->nkeys;
        *u = *s;
    } else {
        k = &m->keys[*s - 1];
        if (!ldc_id_eq(&k->user, &user) || k->qty != qty) {
            snprintf(err, err_size, "key %s called again with another user or qty", key);
            return false;
        }
    }
    k->attempts++;
    m->attempts++;
    return true;
}

static bool
hist_complete(ldc_model *m, const ldc_rec *r, int kind, char *err, size_t err_size)
{
    const char *key;
    int64_t code;
    if (!need_str(r, "key", &key, err, err_size) || !need_int(r, "code", &code, err, err_size))
        return false;
    uint32_t *s = slot_by_key(m, key);
    if (*s == 0) {
        snprintf(err, err_size, "completion of key %s that was never invoked", key);
        return false;
    }
    key_rec *k = &m->keys[*s - 1];
    k->last = kind;
    k->last_code = (int)code;
    m->completions[kind]++;
    m->codes[code >= 0 && code < (int64_t)CODES_MAX ? code : CODES_MAX - 1]++;
    if (kind == OUT_OK) {
        ld_id order;
        int64_t qty;
        if (!need_id(r, "order", &order, err, err_size) || !need_int(r, "qty", &qty, err, err_size))
            return false;
        if (k->acked && !ldc_id_eq(&k->acked_order, &order)) {
            snprintf(err, err_size, "key %s acknowledged twice with different orders", key);
            return false; /* the client stops at the first ok: this is not our history */
        }
        k->acked = true;
        k->acked_order = order;
        k->acked_qty = qty;
    }
    return true;
}

static bool
hist_rec(void *ctx, const ldc_rec *r, uint64_t line, char *err, size_t err_size)
{
    ldc_model *m = ctx;
    (void)line;
    const char *type;
    if (!need_str(r, "type", &type, err, err_size))
        return false;
    if (strcmp(type, "run") == 0) {
        const char *drop, *faults;
        if (!need_int(r, "stock", &m->initial_stock, err, err_size) ||
            !need_str(r, "drop", &drop, err, err_size) ||
            !need_str(r, "faults", &faults, err, err_size))
            return false;
        (void)ldc_rec_int(r, "seed", &m->seed);
        (void)ldc_rec_int(r, "clients", &m->clients);
        (void)ldc_rec_int(r, "time_s", &m->time_s);
        snprintf(m->drop, sizeof m->drop, "%s", drop);
        snprintf(m->faults, sizeof m->faults, "%s", faults);
        m->have_run = true;
        return true;
    }
    if (!m->have_run) {
        snprintf(err, err_size, "the first record is not {\"type\":\"run\",...}");
        return false;
    }
    if (strcmp(type, "invoke") == 0)
        return hist_invoke(m, r, err, err_size);
    if (strcmp(type, "ok") == 0)
        return hist_complete(m, r, OUT_OK, err, err_size);
    if (strcmp(type, "fail") == 0)
        return hist_complete(m, r, OUT_FAIL, err, err_size);
    if (strcmp(type, "info") == 0)
        return hist_complete(m, r, OUT_INFO, err, err_size);
    if (strcmp(type, "nemesis") == 0) {
        const char *op;
        if (!need_str(r, "op", &op, err, err_size))
            return false;
        int i = 0;
        while (i < 7 && strcmp(nemesis_names[i], op) != 0)
            i++;
        m->nemesis_ops[i]++;
        return true;
    }
    if (strcmp(type, "truncated") == 0) {
        m->truncated = true;
        return true;
    }
    if (strcmp(type, "end") == 0) {
        m->have_end = true;
        return true;
    }
    if (strcmp(type, "note") == 0)
        return true;
    snprintf(err, err_size, "unknown record type \"%.40s\"", type);
    return false;
}

/* ---- loading the final state ----------------------------------------------------------------- */

static bool
read_stock(const ldc_rec *r, stock *s, char *err, size_t err_size)
{
    int64_t ok = 1;
    (void)ldc_rec_int(r, "ok", &ok);
    s->read = ok != 0;
    if (!s->read)
        return true;
    (void)ldc_rec_int(r, "applied", &s->applied);
    return need_int(r, "initial", &s->initial, err, err_size) &&
           need_int(r, "available", &s->available, err, err_size) &&
           need_int(r, "reserved", &s->reserved, err, err_size) &&
           need_int(r, "sold", &s->sold, err, err_size);
}

static bool
final_order(ldc_model *m, const ldc_rec *r, char *err, size_t err_size)
{
    int64_t src, qty;
    ld_id order, user;
    const char *status;
    if (!need_int(r, "src", &src, err, err_size) || !need_id(r, "order", &order, err, err_size) ||
        !need_id(r, "user", &user, err, err_size) || !need_int(r, "qty", &qty, err, err_size) ||
        !need_str(r, "status", &status, err, err_size))
        return false;
    if (src < 0 || src >= SRC_COUNT) {
        snprintf(err, err_size, "order of src %lld (0..%d)", (long long)src, LDC_NODES);
        return false;
    }
    m->src_orders[src] = true;
    if (strcmp(status, "PAID") != 0) {
        m->orders_failed[src]++;
        return true;
    }
    m->orders_paid[src]++;
    m->paid_qty[src] += qty;
    m->paid_digest[src] += fnv1a(order.bytes, sizeof order.bytes) | 1;
    uint32_t *u = slot_by_user(m, &user);
    if (*u == 0) {
        if (m->phantom[src]++ == 0)
            ld_id_format(&order, m->phantom_example[src]);
        return true;
    }
    key_rec *k = &m->keys[*u - 1];
    if (k->paid[src]++ == 0) {
        k->paid_order[src] = order;
        k->paid_qty[src] = qty;
    }
    return true;
}

static bool
final_rec(void *ctx, const ldc_rec *r, uint64_t line, char *err, size_t err_size)
{
    ldc_model *m = ctx;
    (void)line;
    const char *type;
    if (!need_str(r, "type", &type, err, err_size))
        return false;
    if (strcmp(type, "final") == 0) {
        int64_t complete = 0;
        (void)ldc_rec_int(r, "complete", &complete);
        const char *note = ldc_rec_str(r, "note");
        snprintf(m->final_note, sizeof m->final_note, "%s", note ? note : "");
        m->have_final = true;
        m->final_complete = complete != 0;
        return read_stock(r, &m->src[0], err, err_size);
    }
    if (strcmp(type, "replica") == 0) {
        int64_t node;
        if (!need_int(r, "node", &node, err, err_size))
            return false;
        if (node < 1 || node > LDC_NODES) {
            snprintf(err, err_size, "replica node %lld (1..%d)", (long long)node, LDC_NODES);
            return false;
        }
        return read_stock(r, &m->src[node], err, err_size);
    }
    if (strcmp(type, "orders") == 0) { /* a walk that found no order still says it was made */
        int64_t src;
        if (!need_int(r, "src", &src, err, err_size))
            return false;
        if (src < 0 || src >= SRC_COUNT) {
            snprintf(err, err_size, "orders of src %lld", (long long)src);
            return false;
        }
        m->src_orders[src] = true;
        return true;
    }
    if (strcmp(type, "order") == 0)
        return final_order(m, r, err, err_size);
    if (strcmp(type, "recheck") == 0) {
        const char *key;
        if (!need_str(r, "key", &key, err, err_size))
            return false;
        uint32_t *s = slot_by_key(m, key);
        if (*s == 0) {
            snprintf(err, err_size, "recheck of unknown key %s", key);
            return false;
        }
        key_rec *k = &m->keys[*s - 1];
        k->rechecked = true;
        k->recheck_code = -1;
        k->get_code = -1;
        (void)ldc_rec_int(r, "code", &k->recheck_code);
        (void)ldc_rec_int(r, "get_code", &k->get_code);
        (void)ldc_rec_int(r, "get_qty", &k->get_qty);
        const char *order = ldc_rec_str(r, "order");
        if (!order || ld_id_parse(order, &k->recheck_order) != LD_OK)
            memset(&k->recheck_order, 0, sizeof k->recheck_order);
        const char *st = ldc_rec_str(r, "get_status");
        snprintf(k->get_status, sizeof k->get_status, "%s", st ? st : "");
        return true;
    }
    snprintf(err, err_size, "unknown record type \"%.40s\"", type);
    return false;
}

ldc_model *
ldc_model_load(const char *history_path, const char *final_path, char *err, size_t err_size)
{
    ldc_model *m = calloc(1, sizeof *m);
    if (m)
        m->keys = calloc(LDC_KEYS_MAX, sizeof *m->keys);
    if (!m || !m->keys) {
        snprintf(err, err_size, "out of memory");
        ldc_model_free(m);
        return NULL;
    }
    if (!ldc_read_jsonl(history_path, hist_rec, m, err, err_size))
        goto out_free;
    if (!m->have_run) {
        snprintf(err, err_size, "%s: no {\"type\":\"run\",...} record", history_path);
        goto out_free;
    }
    if (!ldc_read_jsonl(final_path, final_rec, m, err, err_size))
        goto out_free;
    return m;
out_free:
    ldc_model_free(m);
    return NULL;
}

void
ldc_model_free(ldc_model *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m);
}

/* ---- checking -------------------------------------------------------------------------------- */

typedef struct verdict {
    FILE *out;
    uint64_t violations[LDC_CHECKS];
} verdict;

static void violation(verdict *v, int check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
violation(verdict *v, int check, const char *fmt, ...)
{
    if (v->violations[check]++ >= LDC_REPORT_ERRORS_MAX || !v->out)
        return;
    fprintf(v->out, "  VIOLATION %-14s ", ldc_check_name(check));
    va_list ap;
    va_start(ap, fmt);
    vfprintf(v->out, fmt, ap);
    va_end(ap);
    fputc('\n', v->out);
}

static const char *
src_name(int src, char buf[32])
{
    if (src == 0)
        snprintf(buf, 32, "primary");
    else
        snprintf(buf, 32, "replica %d", src);
    return buf;
}

static void
check_history_final(const ldc_model *m, verdict *v)
{
    if (m->truncated)
        violation(v, LDC_CHECK_HISTORY,
                  "the history was truncated at its size limit "
                  "(LDC_HISTORY_BYTES_MAX): what it lost cannot be checked");
    if (!m->have_end)
        violation(v, LDC_CHECK_HISTORY,
                  "the history has no \"end\" record: the run did not "
                  "finish (the harness died or was stopped)");
    if (!m->have_final)
        violation(v, LDC_CHECK_FINAL, "the final state has no \"final\" record");
    else if (!m->final_complete)
        violation(v, LDC_CHECK_FINAL, "the final read is incomplete: %s", m->final_note);
    char b[32];
    for (int s = 0; s < SRC_COUNT; s++) {
        if (!m->src[s].read)
            violation(v, LDC_CHECK_FINAL, "the drop was not read on the %s", src_name(s, b));
        if (!m->src_orders[s])
            violation(v, LDC_CHECK_FINAL, "the orders were not read on the %s", src_name(s, b));
    }
}

static void
check_stock(const ldc_model *m, verdict *v)
{
    char b[32];
    for (int s = 0; s < SRC_COUNT; s++) {
        const stock *st = &m->src[s];
        if (!st->read)
            continue;
        if (st->initial != m->initial_stock)
            violation(v, LDC_CHECK_OVERSELL, "%s: initial stock %lld, the run created %lld",
                      src_name(s, b), (long long)st->initial, (long long)m->initial_stock);
        if (st->available < 0 || st->reserved < 0 || st->sold < 0 ||
            st->available + st->reserved + st->sold != st->initial)
            violation(v, LDC_CHECK_OVERSELL,
                      "%s: available %lld + reserved %lld + sold %lld != initial %lld (or < 0)",
                      src_name(s, b), (long long)st->available, (long long)st->reserved,
                      (long long)st->sold, (long long)st->initial);
        if (m->src_orders[s] && st->sold != m->paid_qty[s])
            violation(v, LDC_CHECK_DOUBLE, "%s: sold %lld != %lld units in its %llu PAID orders",
                      src_name(s, b), (long long)st->sold, (long long)m->paid_qty[s],
                      (unsigned long long)m->orders_paid[s]);
        if (m->phantom[s])
            violation(v, LDC_CHECK_DOUBLE,
                      "%s: %llu PAID orders of users no key of the history has (e.g. order %s)",
                      src_name(s, b), (unsigned long long)m->phantom[s], m->phantom_example[s]);
        if (s == 0 || !st->read || !m->src[0].read)
            continue;
        const stock *p = &m->src[0];
        if (st->available != p->available || st->reserved != p->reserved || st->sold != p->sold)
            violation(v, LDC_CHECK_REPLICAS,
                      "replica %d: available %lld reserved %lld sold %lld, the primary's %lld "
                      "%lld %lld",
                      s, (long long)st->available, (long long)st->reserved, (long long)st->sold,
                      (long long)p->available, (long long)p->reserved, (long long)p->sold);
        if (m->src_orders[s] && m->src_orders[0] &&
            (m->orders_paid[s] != m->orders_paid[0] || m->paid_digest[s] != m->paid_digest[0]))
            violation(v, LDC_CHECK_REPLICAS,
                      "replica %d: %llu PAID orders, the primary %llu (or not the same ones)", s,
                      (unsigned long long)m->orders_paid[s], (unsigned long long)m->orders_paid[0]);
    }
}

static void
check_key_lost(const key_rec *k, verdict *v)
{
    char a[33], b[33];
    ldc_hex(&k->acked_order, a);
    if (k->acked_qty != k->qty)
        violation(v, LDC_CHECK_LOST, "key %s: acknowledged qty %lld, asked %lld", k->key,
                  (long long)k->acked_qty, (long long)k->qty);
    if (k->paid[0] == 0)
        violation(v, LDC_CHECK_LOST, "key %s: acknowledged order %s is not among the orders",
                  k->key, a);
    else if (!ldc_id_eq(&k->paid_order[0], &k->acked_order))
        violation(v, LDC_CHECK_LOST, "key %s: acknowledged order %s, the drop holds %s instead",
                  k->key, a, ldc_hex(&k->paid_order[0], b));
    else if (k->paid_qty[0] != k->acked_qty)
        violation(v, LDC_CHECK_LOST, "key %s: order %s of qty %lld, acknowledged %lld", k->key, a,
                  (long long)k->paid_qty[0], (long long)k->acked_qty);
    if (!k->rechecked)
        violation(v, LDC_CHECK_LOST, "key %s: not rechecked (place_order again with its key)",
                  k->key);
    else if (k->recheck_code != LD_OK || !ldc_id_eq(&k->recheck_order, &k->acked_order))
        violation(v, LDC_CHECK_LOST,
                  "key %s: place_order again with the key: %s order %s, "
                  "acknowledged %s",
                  k->key, ld_err_name((ld_err)k->recheck_code), ldc_hex(&k->recheck_order, b), a);
    else if (k->get_code != LD_OK || strcmp(k->get_status, "PAID") != 0 || k->get_qty != k->qty)
        violation(v, LDC_CHECK_LOST, "key %s: get_order %s: %s status %s qty %lld", k->key, a,
                  ld_err_name((ld_err)k->get_code), k->get_status, (long long)k->get_qty);
}

static void
check_keys(const ldc_model *m, verdict *v, uint64_t *happened_out)
{
    char b[32];
    for (uint32_t i = 0; i < m->nkeys; i++) {
        const key_rec *k = &m->keys[i];
        if (k->acked)
            check_key_lost(k, v);
        for (int s = 0; s < SRC_COUNT; s++) {
            if (k->paid[s] > 1)
                violation(v, LDC_CHECK_DOUBLE, "key %s: %u PAID orders on the %s", k->key,
                          k->paid[s], src_name(s, b));
            if (k->paid[s] >= 1 && k->paid_qty[s] != k->qty)
                violation(v, LDC_CHECK_DOUBLE, "key %s: an order of qty %lld, asked %lld", k->key,
                          (long long)k->paid_qty[s], (long long)k->qty);
        }
        if (k->acked)
            continue;
        if (k->last == OUT_FAIL && k->paid[0] > 0)
            violation(v, LDC_CHECK_ONCE, "key %s: refused (%s) yet it has a PAID order", k->key,
                      ld_err_name((ld_err)k->last_code));
        if (k->last != OUT_FAIL && k->paid[0] > 1)
            violation(v, LDC_CHECK_ONCE, "key %s: indeterminate, and it happened %u times", k->key,
                      k->paid[0]);
        if (k->last != OUT_FAIL && k->paid[0] == 1)
            (*happened_out)++;
    }
}

static void
print_counts(const ldc_model *m, FILE *out, uint64_t happened)
{
    uint64_t ok = 0, fail = 0, info = 0, retried = 0;
    for (uint32_t i = 0; i < m->nkeys; i++) {
        const key_rec *k = &m->keys[i];
        retried += k->attempts > 1;
        ok += k->acked;
        fail += !k->acked && k->last == OUT_FAIL;
        info += !k->acked && k->last != OUT_FAIL;
    }
    fprintf(out, "run        seed %lld, %lld clients, %lld s, faults %s, drop %s\n",
            (long long)m->seed, (long long)m->clients, (long long)m->time_s, m->faults, m->drop);
    fprintf(out,
            "orders     %u keys in %llu calls (%llu keys called again with the same key): "
            "ok %llu, refused %llu, indeterminate %llu (of which %llu happened)\n",
            m->nkeys, (unsigned long long)m->attempts, (unsigned long long)retried,
            (unsigned long long)ok, (unsigned long long)fail, (unsigned long long)info,
            (unsigned long long)happened);
    fprintf(out, "calls      ok %llu, fail %llu, info %llu; codes:",
            (unsigned long long)m->completions[OUT_OK],
            (unsigned long long)m->completions[OUT_FAIL],
            (unsigned long long)m->completions[OUT_INFO]);
    for (unsigned c = 0; c < CODES_MAX; c++)
        if (m->codes[c])
            fprintf(out, " %s %llu", ld_err_name((ld_err)c), (unsigned long long)m->codes[c]);
    fprintf(out, "\nfaults    ");
    for (int i = 0; i < 8; i++)
        if (m->nemesis_ops[i])
            fprintf(out, " %s %llu", nemesis_names[i], (unsigned long long)m->nemesis_ops[i]);
    fprintf(out, "\n");
    char b[32];
    for (int s = 0; s < SRC_COUNT; s++) {
        const stock *st = &m->src[s];
        if (!st->read) {
            fprintf(out, "%-10s not read\n", src_name(s, b));
            continue;
        }
        fprintf(out,
                "%-10s initial %lld: available %lld, reserved %lld, sold %lld; %llu PAID "
                "orders (%lld units), %llu FAILED; applied op %lld\n",
                src_name(s, b), (long long)st->initial, (long long)st->available,
                (long long)st->reserved, (long long)st->sold, (unsigned long long)m->orders_paid[s],
                (long long)m->paid_qty[s], (unsigned long long)m->orders_failed[s],
                (long long)st->applied);
    }
}

uint32_t
ldc_check(const ldc_model *m, FILE *out)
{
    verdict v = {.out = out};
    uint64_t happened = 0;
    check_history_final(m, &v);
    check_stock(m, &v);
    check_keys(m, &v, &happened);
    uint32_t mask = 0;
    for (int c = 0; c < LDC_CHECKS; c++)
        if (v.violations[c])
            mask |= 1u << c;
    if (!out)
        return mask;
    print_counts(m, out, happened);
    for (int c = 0; c < LDC_CHECKS; c++)
        fprintf(out, "check      %-14s %s (%llu violations)\n", ldc_check_name(c),
                v.violations[c] ? "FAIL" : "PASS", (unsigned long long)v.violations[c]);
    fprintf(out, "result     %s\n", mask ? "FAIL" : "PASS");
    return mask;
}

int
ldc_check_files(const char *history_path, const char *final_path, FILE *out)
{
    char err[512];
    ldc_model *m = ldc_model_load(history_path, final_path, err, sizeof err);
    if (!m) {
        fprintf(out, "livedrop-chaos: cannot check: %s\n", err);
        return 2;
    }
    fprintf(out, "history    %s\nfinal      %s\n", history_path, final_path);
    uint32_t mask = ldc_check(m, out);
    ldc_model_free(m);
    return mask ? 1 : 0;
}
