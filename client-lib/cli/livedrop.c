/*
 * livedrop.c -- the `livedrop` command-line client: one call to a node per invocation (a page
 * command with --all: one call per page; `watch`: a subscription).
 *
 *   livedrop [--addr URL[,URL]... | --conf FILE] [--json] [--timeout-ms N] <command> [options]
 *
 * Addresses: one node, or the nodes of a cluster (the library then finds the primary and
 * retries there); --conf reads them from a cluster-conf file.
 *
 * Output: a line or two for people by default; with --json exactly one JSON object per result
 * (per page with --all, per event with `watch`), shaped like the Result message of
 * livedrop.proto ({"code", "message", and "drop" | "reservation" | "order" | "user" | ... |
 * "follow_page" | "event_page" ... with the proto's snake_case field names, ids as 32 hex
 * digits, enums by name}), except that "code" is the code's name ("OK", "ERR_SOLD_OUT").
 *
 * Exit status: 0 success (OK, EXISTS); 1 business refusal (codes 300-399); 2 usage error or
 * invalid request (codes 200-299); 3 connection, timeout or other node failure (100-199).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* The client addresses of cluster-conf/local-3.conf (README's first command). A lone node on
 * the first of them works as well: the client starts with the first address. */

const char *cli_prog = "livedrop";

static void usage_hint(const cli *c);

/* Prints "livedrop: <message>" and a hint to stderr; returns EXIT_USAGE. */
int
cli_usage_error(const cli *c, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage_hint(c);
    return EXIT_USAGE;
}

const char *
cli_opt_get(const cli *c, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < c->nopts; i++)
        if (strcmp(c->opts[i].name, name) == 0)
            v = c->opts[i].value; /* the last one wins */
    return v;
}

bool
cli_parse_i64(const char *s, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* Reads a numeric option; absent: *out = dflt. Returns false (after a usage message) when the
 * value is not a number. */
bool
cli_opt_i64(const cli *c, const char *name, int64_t dflt, int64_t *out)
{
    const char *v = cli_opt_get(c, name);
    if (v == NULL) {
        *out = dflt;
        return true;
    }
    if (!cli_parse_i64(v, out)) {
        cli_usage_error(c, "--%s: '%s' is not an integer", name, v);
        return false;
    }
    return true;
}

bool
cli_opt_required(const cli *c, const char *name, const char **out)
{
    *out = cli_opt_get(c, name);
    if (*out == NULL) {
        cli_usage_error(c, "--%s is required", name);
        return false;
    }
    return true;
}

/* Parses an id given as 32 hex digits; `what` names it in messages. (The all-zero id parses;
 * the library refuses it with ERR_INVALID_ID, exit status 2 as well.) */
bool
cli_id_arg(const cli *c, const char *hex, const char *what, ld_id *out)
{
    if (ld_id_parse(hex, out) != LD_OK) {
        cli_usage_error(c, "%s: '%s' is not an id (32 hex digits)", what, hex);
        return false;
    }
    return true;
}

bool
cli_id_opt(const cli *c, const char *name, ld_id *out)
{
    const char *hex;
    if (!cli_opt_required(c, name, &hex))
        return false;
    char what[32];
    snprintf(what, sizeof what, "--%s", name);
    return cli_id_arg(c, hex, what, out);
}

bool
cli_id_opt_or_random(const cli *c, const char *name, ld_id *out)
{
    const char *hex = cli_opt_get(c, name);
    if (hex == NULL) {
        if (ld_id_random(out) != LD_OK)
            return cli_usage_error(c, "cannot get random bytes for --%s", name), false;
        return true;
    }
    char what[32];
    snprintf(what, sizeof what, "--%s", name);
    return cli_id_arg(c, hex, what, out);
}

bool
cli_opt_range(const cli *c, const char *name, int64_t lo, int64_t hi, int64_t dflt, int64_t *out)
{
    if (cli_opt_get(c, name) == NULL) {
        *out = dflt; /* the default may lie outside lo..hi (e.g. -1: none) */
        return true;
    }
    if (!cli_opt_i64(c, name, dflt, out))
        return false;
    if (*out < lo || *out > hi)
        return cli_usage_error(c, "--%s: %" PRId64 " is outside %" PRId64 "..%" PRId64, name, *out,
                               lo, hi),
               false;
    return true;
}

bool
cli_opt_list(const cli *c, const char *name, uint32_t max, size_t size, char *out,
             uint32_t *count_out)
{
    *count_out = 0;
    for (int i = 0; i < c->nopts; i++) {
        if (strcmp(c->opts[i].name, name) != 0)
            continue;
        if (*count_out >= max)
            return cli_usage_error(c, "--%s: at most %u", name, max), false;
        if (strlen(c->opts[i].value) >= size)
            return cli_usage_error(c, "--%s: '%s' is longer than %zu bytes", name, c->opts[i].value,
                                   size - 1),
                   false;
        strcpy(out + (size_t)*count_out * size, c->opts[i].value);
        (*count_out)++;
    }
    return true;
}

bool
cli_opt_attrs(const cli *c, const char *name, ld_attr *attrs, uint32_t *count_out)
{
    *count_out = 0;
    for (int i = 0; i < c->nopts; i++) {
        if (strcmp(c->opts[i].name, name) != 0)
            continue;
        const char *v = c->opts[i].value, *eq = strchr(v, '=');
        if (eq == NULL)
            return cli_usage_error(c, "--%s: '%s' is not KEY=VALUE", name, v), false;
        if (*count_out >= LD_ATTRS_MAX)
            return cli_usage_error(c, "--%s: at most %u", name, LD_ATTRS_MAX), false;
        ld_attr *a = &attrs[*count_out];
        size_t klen = (size_t)(eq - v);
        if (klen >= sizeof a->key || strlen(eq + 1) >= sizeof a->value)
            return cli_usage_error(c, "--%s: '%s': key at most %u bytes, value at most %u", name, v,
                                   LD_ATTR_KEY_BYTES_MAX, LD_ATTR_VALUE_BYTES_MAX),
                   false;
        memcpy(a->key, v, klen);
        a->key[klen] = '\0';
        strcpy(a->value, eq + 1);
        (*count_out)++;
    }
    return true;
}

int64_t
cli_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- output --------------------------------------------------------------------------------- */

int
cli_exit_status(ld_err err)
{
    if (LD_ERR_IS_SUCCESS(err))
        return EXIT_OK;
    if (LD_ERR_IS_BUSINESS(err))
        return EXIT_REFUSED;
    if (LD_ERR_IS_INVALID(err))
        return EXIT_USAGE;
    return EXIT_TRANSPORT;
}

void
cli_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void
cli_json_id(FILE *f, const char *key, const ld_id *id)
{
    char hex[33];
    ld_id_format(id, hex);
    fprintf(f, "\"%s\":\"%s\"", key, hex);
}

const char *
cli_drop_status_name(ld_drop_status s, bool json)
{
    switch (s) {
    case LD_DROP_UPCOMING:
        return json ? "DROP_STATUS_UPCOMING" : "UPCOMING";
    case LD_DROP_LIVE:
        return json ? "DROP_STATUS_LIVE" : "LIVE";
    case LD_DROP_ENDED:
        return json ? "DROP_STATUS_ENDED" : "ENDED";
    case LD_DROP_CANCELLED:
        return json ? "DROP_STATUS_CANCELLED" : "CANCELLED";
    }
    return json ? "DROP_STATUS_UNSPECIFIED" : "UNSPECIFIED";
}

static const char *
res_state_name(ld_reservation_state s, bool json)
{
    switch (s) {
    case LD_RES_ACTIVE:
        return json ? "RESERVATION_STATE_ACTIVE" : "ACTIVE";
    case LD_RES_COMMITTED:
        return json ? "RESERVATION_STATE_COMMITTED" : "COMMITTED";
    case LD_RES_RELEASED:
        return json ? "RESERVATION_STATE_RELEASED" : "RELEASED";
    case LD_RES_EXPIRED:
        return json ? "RESERVATION_STATE_EXPIRED" : "EXPIRED";
    }
    return json ? "RESERVATION_STATE_UNSPECIFIED" : "UNSPECIFIED";
}

static const char *
order_status_name(ld_order_status s, bool json)
{
    switch (s) {
    case LD_ORDER_PAID:
        return json ? "ORDER_STATUS_PAID" : "PAID";
    case LD_ORDER_FAILED:
        return json ? "ORDER_STATUS_FAILED" : "FAILED";
    }
    return json ? "ORDER_STATUS_UNSPECIFIED" : "UNSPECIFIED";
}

void
cli_json_drop(FILE *f, const ld_drop *d)
{
    const ld_drop_spec *s = &d->spec;
    fputc('{', f);
    cli_json_id(f, "id", &s->id);
    fputs(",\"product\":{", f);
    cli_json_id(f, "creator_id", &s->product.creator_id);
    if (!cli_id_is_zero(&s->product_id)) {
        fputc(',', f);
        cli_json_id(f, "product_id", &s->product_id);
    }
    fputs(",\"title\":", f);
    cli_json_str(f, s->product.title);
    fprintf(f, ",\"price_minor\":%" PRId64 ",\"currency\":", s->product.price_minor);
    cli_json_str(f, s->product.currency);
    fputs(",\"tags\":[", f);
    for (uint32_t i = 0; i < s->product.tags_count && i < LD_TAGS_MAX; i++) {
        if (i > 0)
            fputc(',', f);
        cli_json_str(f, s->product.tags[i]);
    }
    fprintf(f,
            "]},\"starts_at_ms\":%" PRId64 ",\"ends_at_ms\":%" PRId64 ",\"initial_stock\":%" PRId64
            ",\"low_stock_threshold\":%" PRId64 ",\"max_per_user\":%" PRId64
            ",\"reservation_ttl_ms\":%" PRId64 ",\"status\":\"%s\"",
            s->starts_at_ms, s->ends_at_ms, s->initial_stock, s->low_stock_threshold,
            s->max_per_user, s->reservation_ttl_ms, cli_drop_status_name(d->status, true));
    fprintf(f,
            ",\"stock\":{\"available\":%" PRId64 ",\"reserved\":%" PRId64 ",\"sold\":%" PRId64
            "},\"created_at_ms\":%" PRId64 "}",
            d->stock.available, d->stock.reserved, d->stock.sold, d->created_at_ms);
}

static void
json_reservation(FILE *f, const ld_reservation *r)
{
    fputc('{', f);
    cli_json_id(f, "id", &r->id);
    fputc(',', f);
    cli_json_id(f, "drop_id", &r->drop_id);
    fputc(',', f);
    cli_json_id(f, "user_id", &r->user_id);
    fprintf(f, ",\"qty\":%" PRId64 ",\"expires_at_ms\":%" PRId64 ",\"state\":\"%s\",", r->qty,
            r->expires_at_ms, res_state_name(r->state, true));
    cli_json_id(f, "order_id", &r->order_id);
    fprintf(f, ",\"created_at_ms\":%" PRId64 "}", r->created_at_ms);
}

static void
json_order(FILE *f, const ld_order *o)
{
    fputc('{', f);
    cli_json_id(f, "id", &o->id);
    fputc(',', f);
    cli_json_id(f, "drop_id", &o->drop_id);
    fputc(',', f);
    cli_json_id(f, "user_id", &o->user_id);
    fputc(',', f);
    cli_json_id(f, "reservation_id", &o->reservation_id);
    fprintf(f, ",\"qty\":%" PRId64 ",\"total_minor\":%" PRId64 ",\"currency\":", o->qty,
            o->total_minor);
    cli_json_str(f, o->currency);
    fprintf(f, ",\"status\":\"%s\",\"payment_ref\":", order_status_name(o->status, true));
    cli_json_str(f, o->payment_ref);
    fprintf(f, ",\"created_at_ms\":%" PRId64 "}", o->created_at_ms);
}

/* Formats Unix milliseconds as an ISO-8601 UTC time. */
const char *
cli_fmt_time(int64_t ms, char buf[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || gmtime_r(&secs, &tm) == NULL) {
        snprintf(buf, 32, "%" PRId64 "ms", ms);
        return buf;
    }
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%03dZ", (int)(ms % 1000));
    return buf;
}

void
cli_human_drop(FILE *f, const ld_drop *d)
{
    const ld_drop_spec *s = &d->spec;
    char id[33], creator[33], t1[32], t2[32];
    ld_id_format(&s->id, id);
    ld_id_format(&s->product.creator_id, creator);
    fprintf(f, "drop %s %s \"%s\" price %" PRId64 " %s", id, cli_drop_status_name(d->status, false),
            s->product.title, s->product.price_minor, s->product.currency);
    fprintf(f,
            " stock %" PRId64 ": available %" PRId64 ", reserved %" PRId64 ", sold %" PRId64 "\n",
            s->initial_stock, d->stock.available, d->stock.reserved, d->stock.sold);
    fprintf(f,
            "  %s .. %s, creator %s, max_per_user %" PRId64 ", low_stock %" PRId64
            ", ttl_ms %" PRId64,
            cli_fmt_time(s->starts_at_ms, t1), cli_fmt_time(s->ends_at_ms, t2), creator,
            s->max_per_user, s->low_stock_threshold, s->reservation_ttl_ms);
    for (uint32_t i = 0; i < s->product.tags_count && i < LD_TAGS_MAX; i++)
        fprintf(f, "%s%s", i == 0 ? ", tags " : ",", s->product.tags[i]);
    if (!cli_id_is_zero(&s->product_id)) {
        char product[33];
        ld_id_format(&s->product_id, product);
        fprintf(f, ", product %s", product);
    }
    fputc('\n', f);
}

static void
human_reservation(FILE *f, const ld_reservation *r)
{
    char id[33], drop[33], user[33], order[33], t[32];
    ld_id_format(&r->id, id);
    ld_id_format(&r->drop_id, drop);
    ld_id_format(&r->user_id, user);
    fprintf(f, "reservation %s %s qty %" PRId64 " expires %s\n  drop %s user %s", id,
            res_state_name(r->state, false), r->qty, cli_fmt_time(r->expires_at_ms, t), drop, user);
    bool has_order = false;
    for (unsigned i = 0; i < sizeof r->order_id.bytes; i++)
        has_order = has_order || r->order_id.bytes[i] != 0;
    if (has_order) {
        ld_id_format(&r->order_id, order);
        fprintf(f, " order %s", order);
    }
    fputc('\n', f);
}

static void
human_order(FILE *f, const ld_order *o)
{
    char id[33], drop[33], user[33], res[33];
    ld_id_format(&o->id, id);
    ld_id_format(&o->drop_id, drop);
    ld_id_format(&o->user_id, user);
    ld_id_format(&o->reservation_id, res);
    fprintf(f, "order %s %s qty %" PRId64 " total %" PRId64 " %s payment_ref %s\n", id,
            order_status_name(o->status, false), o->qty, o->total_minor, o->currency,
            o->payment_ref[0] != '\0' ? o->payment_ref : "-");
    fprintf(f, "  drop %s user %s reservation %s\n", drop, user, res);
}

typedef enum body_kind {
    BODY_DROP,
    BODY_RESERVATION,
    BODY_ORDER,
} body_kind;

bool
cli_id_is_zero(const ld_id *id)
{
    for (unsigned i = 0; i < sizeof id->bytes; i++)
        if (id->bytes[i] != 0)
            return false;
    return true;
}

/* True when the call left a body worth printing (the out struct is zeroed otherwise). */
static bool
body_present(body_kind kind, const void *body)
{
    const ld_id *id = kind == BODY_DROP          ? &((const ld_drop *)body)->spec.id
                      : kind == BODY_RESERVATION ? &((const ld_reservation *)body)->id
                                                 : &((const ld_order *)body)->id;
    return !cli_id_is_zero(id);
}

void
cli_json_answered_by(const cli *c, FILE *f)
{
    ld_call_info info;
    if (!c->follower_read || c->client == NULL || !ld_client_last_call(c->client, &info))
        return;
    fputs(",\"answered_by\":{\"addr\":", f);
    cli_json_str(f, ld_client_addr(c->client, info.addr_index));
    fprintf(f, ",\"follower_read\":%s,\"applied_op\":%" PRIu64 ",\"view\":%" PRIu64 "}",
            info.follower_read ? "true" : "false", info.applied_op, info.view);
}

int
cli_report(const cli *c, ld_err err, const ld_errmsg *msg, const cli_body *body)
{
    const char *text = msg->text[0] != '\0' ? msg->text : ld_strerror(err);
    bool has_body = body != NULL && body->body != NULL;
    if (c->json) {
        printf("{\"code\":\"%s\",\"message\":", ld_err_name(err));
        cli_json_str(stdout, LD_ERR_IS_SUCCESS(err) && msg->text[0] == '\0' ? "" : text);
        if (has_body) {
            printf(",\"%s\":", body->key);
            body->json(stdout, body->body);
        }
        cli_json_answered_by(c, stdout);
        printf("}\n");
        fflush(stdout);
        return cli_exit_status(err);
    }
    if (!LD_ERR_IS_SUCCESS(err))
        fprintf(stderr, "%s: %s: %s\n", cli_prog, ld_err_name(err), text);
    else if (err == LD_EXISTS)
        printf("EXISTS (identical) ");
    if (has_body)
        body->human(stdout, body->body);
    fflush(stdout);
    return cli_exit_status(err);
}

static void
json_reservation_cb(FILE *f, const void *body)
{
    json_reservation(f, body);
}

static void
human_reservation_cb(FILE *f, const void *body)
{
    human_reservation(f, body);
}

static void
json_order_cb(FILE *f, const void *body)
{
    json_order(f, body);
}

static void
human_order_cb(FILE *f, const void *body)
{
    human_order(f, body);
}

static void
json_drop_cb(FILE *f, const void *body)
{
    cli_json_drop(f, body);
}

static void
human_drop_cb(FILE *f, const void *body)
{
    cli_human_drop(f, body);
}

/* Prints one drop, reservation or order result and returns the exit status it means. */
static int
report(const cli *c, ld_err err, const ld_errmsg *msg, body_kind kind, const void *body)
{
    static const cli_body bodies[] = {
        [BODY_DROP] = {"drop", json_drop_cb, human_drop_cb, NULL},
        [BODY_RESERVATION] = {"reservation", json_reservation_cb, human_reservation_cb, NULL},
        [BODY_ORDER] = {"order", json_order_cb, human_order_cb, NULL},
    };
    cli_body b = bodies[kind];
    b.body = body_present(kind, body) ? body : NULL;
    return cli_report(c, err, msg, &b);
}

/* ---- commands ------------------------------------------------------------------------------- */

static bool
tags_collect(const cli *c, ld_product_spec *p)
{
    return cli_opt_list(c, "tag", LD_TAGS_MAX, sizeof p->tags[0], &p->tags[0][0], &p->tags_count);
}

/* Fills the product part of a drop spec from the options. */
static bool
product_from_opts(const cli *c, ld_product_spec *p)
{
    const char *creator = cli_opt_get(c, "creator");
    if (creator != NULL) {
        if (!cli_id_arg(c, creator, "--creator", &p->creator_id))
            return false;
    } else if (ld_id_random(&p->creator_id) != LD_OK) {
        return cli_usage_error(c, "cannot get random bytes for --creator"), false;
    }
    const char *title, *currency = cli_opt_get(c, "currency");
    if (!cli_opt_required(c, "title", &title))
        return false;
    if (strlen(title) > LD_TITLE_BYTES_MAX)
        return cli_usage_error(c, "--title: longer than %u bytes", LD_TITLE_BYTES_MAX), false;
    strcpy(p->title, title);
    if (currency == NULL)
        currency = "USD";
    if (strlen(currency) != LD_CURRENCY_BYTES)
        return cli_usage_error(c, "--currency: '%s' is not a 3-letter code", currency), false;
    strcpy(p->currency, currency);
    if (cli_opt_get(c, "price") == NULL)
        return cli_usage_error(c, "--price is required (minor units, e.g. 1999)"), false;
    return cli_opt_i64(c, "price", 0, &p->price_minor) && tags_collect(c, p);
}

/* Fills the drop's window: --starts-at-ms or --starts-in-s, --ends-at-ms or --duration-s. */
static bool
window_from_opts(const cli *c, ld_drop_spec *s)
{
    int64_t starts_in_s, duration_s;
    if (cli_opt_get(c, "starts-at-ms") != NULL && cli_opt_get(c, "starts-in-s") != NULL)
        return cli_usage_error(c, "use --starts-at-ms or --starts-in-s, not both"), false;
    if (cli_opt_get(c, "ends-at-ms") != NULL && cli_opt_get(c, "duration-s") != NULL)
        return cli_usage_error(c, "use --ends-at-ms or --duration-s, not both"), false;
    if (!cli_opt_i64(c, "starts-in-s", 0, &starts_in_s) ||
        !cli_opt_i64(c, "duration-s", 3600, &duration_s))
        return false;
    if (starts_in_s < -LD_TIME_MS_MAX / 1000 || starts_in_s > LD_TIME_MS_MAX / 1000 ||
        duration_s < -LD_TIME_MS_MAX / 1000 || duration_s > LD_TIME_MS_MAX / 1000)
        return cli_usage_error(c, "--starts-in-s / --duration-s out of range"), false;
    if (!cli_opt_i64(c, "starts-at-ms", cli_now_ms() + starts_in_s * 1000, &s->starts_at_ms))
        return false;
    if (s->starts_at_ms < -LD_TIME_MS_MAX || s->starts_at_ms > LD_TIME_MS_MAX)
        return cli_usage_error(c, "--starts-at-ms out of range"), false;
    return cli_opt_i64(c, "ends-at-ms", s->starts_at_ms + duration_s * 1000, &s->ends_at_ms);
}

/* --product ID --creator ID: a drop scheduled from a catalog product, which it snapshots. */
static bool
product_ref_from_opts(const cli *c, ld_drop_spec *s)
{
    static const char *const inline_opts[] = {"title", "price", "currency", "tag"};
    for (size_t i = 0; i < sizeof inline_opts / sizeof inline_opts[0]; i++)
        if (cli_opt_get(c, inline_opts[i]) != NULL)
            return cli_usage_error(c, "--%s: not with --product (the drop copies the product)",
                                   inline_opts[i]),
                   false;
    return cli_id_opt(c, "product", &s->product_id) &&
           cli_id_opt(c, "creator", &s->product.creator_id);
}

static int
cmd_drop_create(cli *c)
{
    ld_drop_spec spec;
    memset(&spec, 0, sizeof spec);
    const char *id = cli_opt_get(c, "id");
    if (id != NULL) {
        if (!cli_id_arg(c, id, "--id", &spec.id))
            return EXIT_USAGE;
    } else if (ld_id_random(&spec.id) != LD_OK) {
        return cli_usage_error(c, "cannot get random bytes for --id");
    }
    bool from_catalog = cli_opt_get(c, "product") != NULL;
    if (!(from_catalog ? product_ref_from_opts(c, &spec) : product_from_opts(c, &spec.product)) ||
        !window_from_opts(c, &spec))
        return EXIT_USAGE;
    if (cli_opt_get(c, "stock") == NULL)
        return cli_usage_error(c, "--stock is required");
    if (!cli_opt_i64(c, "stock", 0, &spec.initial_stock) ||
        !cli_opt_i64(c, "max-per-user", 0, &spec.max_per_user) ||
        !cli_opt_i64(c, "low-stock", 0, &spec.low_stock_threshold) ||
        !cli_opt_i64(c, "ttl-ms", 0, &spec.reservation_ttl_ms))
        return EXIT_USAGE;
    ld_drop drop;
    ld_errmsg msg;
    ld_err err = ld_drop_create(c->client, &spec, &drop, &msg);
    return report(c, err, &msg, BODY_DROP, &drop);
}

static int
cmd_drop_get(cli *c)
{
    ld_id id;
    if (!cli_id_arg(c, c->pos[0], "DROP_ID", &id))
        return EXIT_USAGE;
    ld_drop drop;
    ld_errmsg msg;
    ld_err err = ld_drop_get(c->client, &id, &drop, &msg);
    return report(c, err, &msg, BODY_DROP, &drop);
}

/* The options of reserve and order place: --drop, --user, --qty, --key. */
static bool
reserve_opts(const cli *c, ld_id *drop, ld_id *user, int64_t *qty, const char **key)
{
    if (!cli_id_opt(c, "drop", drop) || !cli_id_opt(c, "user", user))
        return false;
    if (cli_opt_get(c, "qty") == NULL)
        return cli_usage_error(c, "--qty is required (1..%d)", LD_QTY_MAX), false;
    return cli_opt_i64(c, "qty", 0, qty) && cli_opt_required(c, "key", key);
}

static int
cmd_reserve(cli *c)
{
    ld_id drop, user;
    int64_t qty;
    const char *key;
    if (!reserve_opts(c, &drop, &user, &qty, &key))
        return EXIT_USAGE;
    ld_reservation res;
    ld_errmsg msg;
    ld_err err = ld_reserve(c->client, &drop, &user, qty, key, &res, &msg);
    return report(c, err, &msg, BODY_RESERVATION, &res);
}

static int
cmd_commit(cli *c)
{
    ld_id id, user;
    const char *ref;
    if (!cli_id_arg(c, c->pos[0], "RESERVATION_ID", &id) || !cli_id_opt(c, "user", &user) ||
        !cli_opt_required(c, "payment-ref", &ref))
        return EXIT_USAGE;
    ld_order order;
    ld_errmsg msg;
    ld_err err = ld_commit(c->client, &user, &id, ref, &order, &msg);
    return report(c, err, &msg, BODY_ORDER, &order);
}

static int
cmd_release(cli *c)
{
    ld_id id, user;
    if (!cli_id_arg(c, c->pos[0], "RESERVATION_ID", &id) || !cli_id_opt(c, "user", &user))
        return EXIT_USAGE;
    ld_reservation res;
    ld_errmsg msg;
    ld_err err = ld_release(c->client, &user, &id, &res, &msg);
    return report(c, err, &msg, BODY_RESERVATION, &res);
}

static int
cmd_order_place(cli *c)
{
    ld_id drop, user;
    int64_t qty;
    const char *key, *pm;
    if (!reserve_opts(c, &drop, &user, &qty, &key) || !cli_opt_required(c, "pm", &pm))
        return EXIT_USAGE;
    ld_order order;
    ld_errmsg msg;
    ld_err err = ld_place_order(c->client, &drop, &user, qty, key, pm, &order, &msg);
    return report(c, err, &msg, BODY_ORDER, &order);
}

static int
cmd_order_get(cli *c)
{
    ld_id id;
    if (!cli_id_arg(c, c->pos[0], "ORDER_ID", &id))
        return EXIT_USAGE;
    ld_order order;
    ld_errmsg msg;
    ld_err err = ld_order_get(c->client, &id, &order, &msg);
    return report(c, err, &msg, BODY_ORDER, &order);
}

static int
cmd_reservation_get(cli *c)
{
    ld_id id;
    if (!cli_id_arg(c, c->pos[0], "RESERVATION_ID", &id))
        return EXIT_USAGE;
    ld_reservation res;
    ld_errmsg msg;
    ld_err err = ld_reservation_get(c->client, &id, &res, &msg);
    return report(c, err, &msg, BODY_RESERVATION, &res);
}

/* ---- command table -------------------------------------------------------------------------- */

static const char *const drop_create_opts[] = {
    "id",        "creator",     "title",        "price",      "currency",   "tag",
    "stock",     "starts-in-s", "starts-at-ms", "duration-s", "ends-at-ms", "max-per-user",
    "low-stock", "ttl-ms",      "product",      NULL};
static const char *const no_opts[] = {NULL};
static const char *const reserve_opts_list[] = {"drop", "user", "qty", "key", NULL};
static const char *const commit_opts[] = {"user", "payment-ref", NULL};
static const char *const release_opts[] = {"user", NULL};
static const char *const place_opts[] = {"drop", "user", "qty", "key", "pm", NULL};

static const cli_cmd commands[] = {
    {"drop create",
     "--title T --price MINOR --stock N [options] | --product ID --creator ID --stock N [options]",
     "create a drop (inline product, or from a catalog product)",
     "Creates a drop (a product on sale in a time window). Ids are random unless given. A\n"
     "retry with the same --id and identical fields answers EXISTS: for one, also give\n"
     "--creator, --starts-at-ms and --ends-at-ms (their defaults change on every run).\n"
     "With --product the drop is scheduled from that catalog product and snapshots its title,\n"
     "price, currency and tags (later product updates leave the drop as it is); --creator is\n"
     "then required and must be the product's creator, on whose behalf the call acts.\n\n"
     "Options:\n"
     "  --id HEX            drop id, 32 hex digits (random if omitted)\n"
     "  --creator HEX       creator id, who acts (random if omitted, required with --product)\n"
     "  --product HEX       schedule from this catalog product (no "
     "--title/--price/--currency/--tag)\n"
     "  --title T           product title, 1..200 bytes (required)\n"
     "  --price MINOR       price in minor units, e.g. 1999 for 19.99 (required)\n"
     "  --currency C        ISO 4217 code (default USD)\n"
     "  --tag T             a tag, repeatable (at most 8)\n"
     "  --stock N           initial stock, 1..100000000 (required)\n"
     "  --starts-in-s S     starts S seconds from now (default 0: now)\n"
     "  --starts-at-ms MS   or: starts at this Unix time in milliseconds\n"
     "  --duration-s S      lasts S seconds (default 3600)\n"
     "  --ends-at-ms MS     or: ends at this Unix time in milliseconds\n"
     "  --max-per-user N    units one user may buy (default 0: unlimited)\n"
     "  --low-stock N       low-stock threshold for notifications (default 0)\n"
     "  --ttl-ms N          reservation hold time, 1000..3600000 (default 0: 120000)\n\n"
     "Examples:\n"
     "  livedrop drop create --title 'Sneaker X' --price 12000 --stock 100 --max-per-user 2\n"
     "  livedrop --json drop create --title Poster --price 500 --currency EUR --stock 10 \\\n"
     "      --starts-in-s 60 --duration-s 600 --tag art --tag limited\n"
     "  livedrop drop create --product 7d1c0a4e5b6f47a8b9c0d1e2f3a4b5c6 \\\n"
     "      --creator 2b7e151628aed2a6abf7158809cf4f3c --stock 500 --starts-in-s 3600\n",
     drop_create_opts, 0, cmd_drop_create, 0},
    {"drop get", "DROP_ID", "show a drop with its status and stock",
     "Shows a drop, its status (UPCOMING, LIVE, ENDED) and its stock as of now.\n\n"
     "Example:\n  livedrop drop get 5f0c6a3e9b1d4e2f8a7b6c5d4e3f2a1b\n",
     no_opts, 1, cmd_drop_get, 0},
    {"reserve", "--drop ID --user ID --qty N --key K", "hold units of a live drop",
     "Reserves units of a live drop for a user; they are held for the drop's reservation TTL,\n"
     "then commit (with your payment reference) or release them. --key is the idempotency\n"
     "key (1..64 bytes, scoped to user and drop): repeating the call with the same key returns\n"
     "the first result for 24 h -- a refusal too (SOLD_OUT stays SOLD_OUT even if stock came\n"
     "back): use a new key for a new attempt, the same key only to retry one whose outcome\n"
     "you did not learn (a timeout). The same key with another --qty is\n"
     "ERR_IDEMPOTENCY_KEY_REUSED.\n\n"
     "Options:\n"
     "  --drop ID   drop id          --user ID   user id\n"
     "  --qty N     units, 1..100    --key K     idempotency key\n\n"
     "Example:\n"
     "  livedrop reserve --drop 5f0c6a3e9b1d4e2f8a7b6c5d4e3f2a1b \\\n"
     "      --user 0123456789abcdef0123456789abcdef --qty 1 --key cart-42\n",
     reserve_opts_list, 0, cmd_reserve, 0},
    {"commit", "RESERVATION_ID --user ID --payment-ref REF", "turn a reservation into a paid order",
     "Commits an active reservation as a PAID order, recording your own payment reference.\n"
     "Committing again with the same reference returns the same order; with another one it is\n"
     "ERR_IDEMPOTENCY_KEY_REUSED (exit 1: the reservation was paid with the first). --user is\n"
     "the reservation's holder, on whose behalf the call acts.\n\n"
     "Example:\n  livedrop commit 9a8b7c6d5e4f30211203948576abcdef \\\n"
     "      --user 0123456789abcdef0123456789abcdef --payment-ref ch_3PqR\n",
     commit_opts, 1, cmd_commit, 0},
    {"release", "RESERVATION_ID --user ID", "give a reservation's units back",
     "Makes sure a reservation holds no units: an active one is released and its units\n"
     "become available again. A reservation released or expired already answers OK too, with\n"
     "its final state (RELEASED or EXPIRED), so a release is safe to repeat; a committed one\n"
     "is ERR_RESERVATION_CLOSED. --user is the reservation's holder, on whose behalf the call\n"
     "acts.\n\n"
     "Example:\n  livedrop release 9a8b7c6d5e4f30211203948576abcdef \\\n"
     "      --user 0123456789abcdef0123456789abcdef\n",
     release_opts, 1, cmd_release, 0},
    {"order place", "--drop ID --user ID --qty N --key K --pm METHOD",
     "reserve, pay and commit in one call",
     "Reserves, charges the node's payment provider and commits (or releases on a decline),\n"
     "in one call. While an earlier call with the same key is still paying, waits for it and\n"
     "shows the same final order. The same key returns the first result for 24 h, refusals\n"
     "too (SOLD_OUT, USER_LIMIT, PAYMENT_DECLINED): use a new key for a new attempt, the same\n"
     "key only to learn the outcome of one that timed out.\n\n"
     "Options:\n"
     "  --drop ID   drop id          --user ID   user id\n"
     "  --qty N     units, 1..100    --key K     idempotency key\n"
     "  --pm METHOD the payment method; the node's built-in test provider takes:\n"
     "                pm_card_ok        approves\n"
     "                pm_card_declined  declines (a FAILED order, ERR_PAYMENT_DECLINED)\n"
     "                pm_card_slow      approves after the node's --payment-slow-ms\n"
     "              any other is a bad request (exit 2, nothing reserved)\n\n"
     "Exit status 1 with ERR_PAYMENT_DECLINED prints the FAILED order.\n\n"
     "Example:\n"
     "  livedrop order place --drop 5f0c6a3e9b1d4e2f8a7b6c5d4e3f2a1b \\\n"
     "      --user 0123456789abcdef0123456789abcdef --qty 2 --key order-7 --pm pm_card_ok\n",
     place_opts, 0, cmd_order_place, 0},
    {"order get", "ORDER_ID", "show an order",
     "Shows an order.\n\nExample:\n  livedrop order get 0f1e2d3c4b5a69788796a5b4c3d2e1f0\n",
     no_opts, 1, cmd_order_get, 0},
    {"reservation get", "RESERVATION_ID", "show a reservation",
     "Shows a reservation and its state (ACTIVE, COMMITTED, RELEASED, EXPIRED).\n\n"
     "Example:\n  livedrop reservation get 9a8b7c6d5e4f30211203948576abcdef\n",
     no_opts, 1, cmd_reservation_get, 0},
};

/* Every command: this file's table, then the other files'. */
static size_t
cmd_count(void)
{
    return sizeof commands / sizeof commands[0] + cli_social_cmds_count + cli_catalog_cmds_count +
           cli_events_cmds_count + cli_cluster_cmds_count;
}

static const cli_cmd *
cmd_at(size_t i)
{
    const struct {
        const cli_cmd *cmds;
        size_t n;
    } tables[] = {
        {commands, sizeof commands / sizeof commands[0]}, {cli_social_cmds, cli_social_cmds_count},
        {cli_catalog_cmds, cli_catalog_cmds_count},       {cli_events_cmds, cli_events_cmds_count},
        {cli_cluster_cmds, cli_cluster_cmds_count},
    };
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        if (i < tables[t].n)
            return &tables[t].cmds[i];
        i -= tables[t].n;
    }
    return NULL;
}

static void
print_main_help(FILE *f)
{
    fprintf(f,
            "usage: %s [--addr URL[,URL]... | --conf FILE] [--json] [--timeout-ms N] <command> "
            "[options]\n\n"
            "Talks to one livedrop node, or to a cluster: then to its primary.\n\n"
            "Global options:\n"
            "  --addr URL,...   node address, or the addresses of a cluster's nodes, comma-\n"
            "                   separated (default $LIVEDROP_ADDR, else the local 3-node\n"
            "                   cluster: " LD_ADDR_DEFAULT ")\n"
            "  --conf FILE      read the addresses from a cluster-conf file: the client_url of\n"
            "                   each replica line (or its listen URL without any)\n"
            "  --follower-read  reads may be answered by any replica (possibly stale); prints\n"
            "                   which node answered and the op its state reflects to stderr,\n"
            "                   and with --json as \"answered_by\" in the JSON\n"
            "  --json           print one JSON document per command (fields as in\n"
            "                   livedrop.proto); `watch` and `cluster status` print one\n"
            "                   object per line (per event, per node)\n"
            "  --timeout-ms N   give up after N ms (default %u); the outcome is then unknown:\n"
            "                   repeat with the same --key / --id to learn it\n"
            "  -h, --help       this help; `%s <command> --help` for a command's\n\n"
            "Commands:\n",
            cli_prog, LD_CLIENT_TIMEOUT_MS_DEFAULT, cli_prog);
    for (size_t i = 0; i < cmd_count(); i++)
        fprintf(f, "  %-17s %s\n", cmd_at(i)->words, cmd_at(i)->summary);
    fprintf(f,
            "\nExit status: 0 success, 1 refused (sold out, limit, ...), 2 usage or invalid\n"
            "request, 3 connection, timeout or node failure.\n\n"
            "Example:\n"
            "  %s drop create --title 'Sneaker X' --price 12000 --stock 100\n",
            cli_prog);
}

static void
print_cmd_help(FILE *f, const cli_cmd *cmd)
{
    fprintf(f, "usage: %s [global options] %s %s\n\n%s", cli_prog, cmd->words, cmd->synopsis,
            cmd->help);
}

static void
usage_hint(const cli *c)
{
    if (c != NULL && c->cmd != NULL)
        fprintf(stderr, "usage: %s %s %s\nTry '%s %s --help'.\n", cli_prog, c->cmd->words,
                c->cmd->synopsis, cli_prog, c->cmd->words);
    else
        fprintf(stderr, "Try '%s --help'.\n", cli_prog);
}

/* ---- argument parsing ----------------------------------------------------------------------- */

/* Finds the command named by the first words of argv[i..]; advances *i past them. */
static const cli_cmd *
find_command(int argc, char **argv, int *i)
{
    if (*i >= argc)
        return NULL;
    for (size_t k = 0; k < cmd_count(); k++) {
        const char *w = cmd_at(k)->words;
        const char *space = strchr(w, ' ');
        size_t n1 = space != NULL ? (size_t)(space - w) : strlen(w);
        if (strlen(argv[*i]) != n1 || strncmp(argv[*i], w, n1) != 0)
            continue;
        if (space == NULL) {
            *i += 1;
            return cmd_at(k);
        }
        if (*i + 1 < argc && strcmp(argv[*i + 1], space + 1) == 0) {
            *i += 2;
            return cmd_at(k);
        }
    }
    return NULL;
}

/* Prints the subcommands of a group word ("drop", "order", "reservation"). */
static bool
group_help(FILE *f, const char *word)
{
    bool any = false;
    size_t n = strlen(word);
    for (size_t k = 0; k < cmd_count(); k++) {
        const char *w = cmd_at(k)->words;
        if (strncmp(w, word, n) == 0 && w[n] == ' ') {
            if (!any)
                fprintf(f, "usage: %s %s <subcommand> [options]\n\nSubcommands:\n", cli_prog, word);
            fprintf(f, "  %-17s %s\n", w, cmd_at(k)->summary);
            any = true;
        }
    }
    if (any)
        fprintf(f, "\nTry '%s %s <subcommand> --help'.\n", cli_prog, word);
    return any;
}

static bool
cmd_accepts(const cli_cmd *cmd, const char *name)
{
    for (const char *const *o = cmd->opts; *o != NULL; o++)
        if (strcmp(*o, name) == 0)
            return true;
    return false;
}

typedef enum parse_result {
    PARSE_OK,
    PARSE_HELP,
    PARSE_DONE, /* help already printed */
    PARSE_ERROR,
} parse_result;

/* Handles one "--name[=value]" at argv[*i]; consumes its value. */
static parse_result
parse_option(cli *c, int argc, char **argv, int *i)
{
    char *arg = argv[*i] + 2;
    if (strcmp(arg, "help") == 0)
        return PARSE_HELP;
    if (strcmp(arg, "json") == 0) {
        c->json = true;
        return PARSE_OK;
    }
    if (strcmp(arg, "follower-read") == 0) {
        c->follower_read = true;
        return PARSE_OK;
    }
    if (strcmp(arg, "all") == 0 && c->cmd != NULL && cmd_accepts(c->cmd, "all")) {
        c->all = true; /* a flag of the page commands */
        return PARSE_OK;
    }
    char *eq = strchr(arg, '=');
    const char *value = NULL;
    if (eq != NULL) {
        *eq = '\0';
        value = eq + 1;
    }
    bool global =
        strcmp(arg, "addr") == 0 || strcmp(arg, "conf") == 0 || strcmp(arg, "timeout-ms") == 0;
    if (!global && (c->cmd == NULL || !cmd_accepts(c->cmd, arg)))
        return cli_usage_error(c, "unknown option --%s", arg), PARSE_ERROR;
    if (value == NULL) {
        if (*i + 1 >= argc)
            return cli_usage_error(c, "--%s needs a value", arg), PARSE_ERROR;
        value = argv[++*i];
    }
    if (strcmp(arg, "addr") == 0) {
        c->addr = value;
        c->addr_given = true;
    } else if (strcmp(arg, "conf") == 0) {
        c->conf = value;
    } else if (strcmp(arg, "timeout-ms") == 0) {
        int64_t ms;
        if (!cli_parse_i64(value, &ms) || ms < 1 || ms > UINT32_MAX)
            return cli_usage_error(c, "--timeout-ms: '%s' is not a positive integer", value),
                   PARSE_ERROR;
        c->timeout_ms = (uint32_t)ms;
    } else {
        if (c->nopts >= OPTS_MAX)
            return cli_usage_error(c, "too many options"), PARSE_ERROR;
        c->opts[c->nopts++] = (cli_opt){.name = arg, .value = value};
    }
    return PARSE_OK;
}

/* argv[i] names no command: a group word ("drop") alone or with --help prints its
 * subcommands; anything else is a usage error. */
static parse_result
group_or_unknown(const cli *c, int argc, char **argv, int i)
{
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    bool help = next != NULL && (strcmp(next, "--help") == 0 || strcmp(next, "-h") == 0);
    if (group_help(help ? stdout : stderr, argv[i]))
        return help ? PARSE_DONE : PARSE_ERROR;
    return cli_usage_error(c, "unknown command '%s'", argv[i]), PARSE_ERROR;
}

/* Parses the whole command line into *c. Global options may come anywhere. */
static parse_result
parse_args(cli *c, int argc, char **argv)
{
    int i = 1;
    while (i < argc) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0)
            return PARSE_HELP;
        if (strncmp(a, "--", 2) == 0 && a[2] != '\0') {
            parse_result r = parse_option(c, argc, argv, &i);
            if (r != PARSE_OK)
                return r;
            i++;
            continue;
        }
        if (c->cmd == NULL) {
            if (strcmp(a, "help") == 0)
                return PARSE_HELP;
            int j = i;
            c->cmd = find_command(argc, argv, &j);
            if (c->cmd == NULL)
                return group_or_unknown(c, argc, argv, i);
            i = j;
            continue;
        }
        if (c->npos >= POS_MAX || c->npos >= c->cmd->npos + c->cmd->npos_opt)
            return cli_usage_error(c, "unexpected argument '%s'", a), PARSE_ERROR;
        c->pos[c->npos++] = a;
        i++;
    }
    return PARSE_OK;
}

int
main(int argc, char **argv)
{
    cli c;
    memset(&c, 0, sizeof c);
    c.addr = getenv("LIVEDROP_ADDR") != NULL ? getenv("LIVEDROP_ADDR") : LD_ADDR_DEFAULT;
    parse_result r = parse_args(&c, argc, argv);
    if (r == PARSE_HELP) {
        if (c.cmd != NULL)
            print_cmd_help(stdout, c.cmd);
        else
            print_main_help(stdout);
        return EXIT_OK;
    }
    if (r == PARSE_DONE)
        return EXIT_OK;
    if (r == PARSE_ERROR)
        return EXIT_USAGE;
    if (c.cmd == NULL)
        return cli_usage_error(&c, "no command given");
    if (c.npos < c.cmd->npos)
        return cli_usage_error(&c, "missing argument");
    static char conf_addrs[LD_CLIENT_ADDR_LIST_BYTES];
    if (c.conf != NULL) {
        if (c.addr_given)
            return cli_usage_error(&c, "give --addr or --conf, not both");
        ld_errmsg why;
        if (ld_conf_client_addrs(c.conf, conf_addrs, sizeof conf_addrs, &why) != LD_OK)
            return cli_usage_error(&c, "--conf %s: %s", c.conf, why.text);
        c.addr = conf_addrs;
    }
    ld_client_opts opts = {.timeout_ms = c.timeout_ms, .follower_read = c.follower_read};
    ld_err err = ld_client_open(c.addr, &opts, &c.client);
    if (err != LD_OK)
        return cli_usage_error(&c,
                               "--addr '%s': %s (one URL, or up to %u distinct URLs separated "
                               "by commas)",
                               c.addr, ld_strerror(err), LD_CLIENT_ADDRS_MAX);
    int status = c.cmd->run(&c);
    ld_call_info info;
    if (c.follower_read && ld_client_last_call(c.client, &info))
        fprintf(stderr, "%s: answered by %s: %s, applied op %" PRIu64 ", view %" PRIu64 "\n",
                cli_prog, ld_client_addr(c.client, info.addr_index),
                info.follower_read ? "follower read" : "primary", info.applied_op, info.view);
    ld_client_close(c.client);
    return status;
}
