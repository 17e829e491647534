/*
 * history.c -- see history.h. The writer is one mutex-protected FILE, flushed per record, so a
 * crash of the harness loses at most the record being written; the reader is a small parser of
 * the flat objects the writer produces (no nesting, no floats, no \u escapes).
 */
#include "history.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "chaos.h"

int64_t
ldc_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
ldc_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

const char *
ldc_hex(const ld_id *id, char out[33])
{
    ld_id_format(id, out);
    return out;
}

bool
ldc_id_eq(const ld_id *a, const ld_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* ---- writing --------------------------------------------------------------------------------- */

bool
ldc_hist_open(ldc_hist *h, const char *path, uint64_t bytes_max)
{
    memset(h, 0, sizeof *h);
    h->f = fopen(path, "w");
    if (!h->f)
        return false;
    pthread_mutex_init(&h->mu, NULL);
    h->t0_ms = ldc_mono_ms();
    h->bytes_max = bytes_max;
    return true;
}

bool
ldc_hist_add(ldc_hist *h, const char *fmt, ...)
{
    char line[LDC_LINE_BYTES_MAX + 2];
    int64_t t = ldc_mono_ms() - h->t0_ms;
    int n = snprintf(line, sizeof line, "{\"t_ms\":%lld,", (long long)t);
    LDC_ASSERT(n > 0 && (size_t)n < sizeof line);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* A record the harness formats never comes near the line limit: one that does is a bug. */
    LDC_ASSERT(m > 0 && (size_t)(n + m) + 2 <= LDC_LINE_BYTES_MAX);
    n += m;
    line[n++] = '}';
    line[n++] = '\n';
    line[n] = '\0';

    pthread_mutex_lock(&h->mu);
    bool ok = false;
    if (h->full || h->io_error) {
        ok = false;
    } else if (h->bytes + (uint64_t)n + 64 > h->bytes_max) {
        h->full = true;
        fprintf(h->f, "{\"t_ms\":%lld,\"type\":\"truncated\",\"bytes_max\":%llu}\n", (long long)t,
                (unsigned long long)h->bytes_max);
        fflush(h->f);
    } else if (fputs(line, h->f) < 0 || fflush(h->f) != 0) {
        h->io_error = true;
    } else {
        h->bytes += (uint64_t)n;
        h->records++;
        ok = true;
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

bool
ldc_hist_full(ldc_hist *h)
{
    pthread_mutex_lock(&h->mu);
    bool full = h->full;
    pthread_mutex_unlock(&h->mu);
    return full;
}

bool
ldc_hist_close(ldc_hist *h)
{
    bool ok = !h->io_error;
    if (h->f && fclose(h->f) != 0)
        ok = false;
    h->f = NULL;
    pthread_mutex_destroy(&h->mu);
    return ok;
}

const char *
ldc_json_str(const char *s, char *out, size_t out_size)
{
    LDC_ASSERT(out_size >= 1);
    size_t o = 0;
    for (; *s && o + 2 < out_size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20)
            continue;
        if (c == '"' || c == '\\')
            out[o++] = '\\';
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* ---- reading --------------------------------------------------------------------------------- */

static const char *
skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* Parses a string at *pp (at the opening quote), unescaping in place. NULL on error. */
static char *
parse_string(char **pp)
{
    char *p = *pp;
    if (*p != '"')
        return NULL;
    char *start = ++p, *w = p;
    for (;;) {
        if (*p == '\0')
            return NULL;
        if (*p == '"')
            break;
        if (*p == '\\') {
            p++;
            if (*p != '"' && *p != '\\' && *p != '/')
                return NULL;
        }
        *w++ = *p++;
    }
    *w = '\0';
    *pp = p + 1;
    return start;
}

static bool
parse_int(char **pp, int64_t *out)
{
    char *p = *pp, *end;
    if (!(*p == '-' || (*p >= '0' && *p <= '9')))
        return false;
    errno = 0;
    long long v = strtoll(p, &end, 10);
    if (errno != 0 || end == p || *end == '.' || *end == 'e' || *end == 'E')
        return false;
    *out = v;
    *pp = end;
    return true;
}

bool
ldc_rec_parse(ldc_rec *r, const char *line, char *err, size_t err_size)
{
    size_t len = strlen(line);
    if (len > LDC_LINE_BYTES_MAX) {
        snprintf(err, err_size, "record longer than %u bytes", LDC_LINE_BYTES_MAX);
        return false;
    }
    memcpy(r->buf, line, len + 1);
    r->n = 0;
    char *p = (char *)skip_ws(r->buf);
    if (*p++ != '{') {
        snprintf(err, err_size, "not a JSON object");
        return false;
    }
    p = (char *)skip_ws(p);
    if (*p == '}')
        goto tail;
    for (;;) {
        if (r->n == LDC_FIELDS_MAX) {
            snprintf(err, err_size, "more than %u fields", LDC_FIELDS_MAX);
            return false;
        }
        ldc_field *f = &r->f[r->n];
        char *key = parse_string(&p);
        if (!key) {
            snprintf(err, err_size, "expected a field name in quotes");
            return false;
        }
        p = (char *)skip_ws(p);
        if (*p++ != ':') {
            snprintf(err, err_size, "expected ':' after \"%.40s\"", key);
            return false;
        }
        p = (char *)skip_ws(p);
        f->key = key;
        f->str = NULL;
        f->num = 0;
        if (*p == '"') {
            f->str = parse_string(&p);
            if (!f->str) {
                snprintf(err, err_size, "bad string value of \"%.40s\"", key);
                return false;
            }
        } else if (strncmp(p, "true", 4) == 0) {
            f->num = 1;
            p += 4;
        } else if (strncmp(p, "false", 5) == 0) {
            p += 5;
        } else if (!parse_int(&p, &f->num)) {
            snprintf(err, err_size, "value of \"%.40s\" is not a string, integer or boolean", key);
            return false;
        }
        r->n++;
        p = (char *)skip_ws(p);
        if (*p == ',') {
            p = (char *)skip_ws(p + 1);
            continue;
        }
        if (*p == '}')
            break;
        snprintf(err, err_size, "expected ',' or '}' after \"%.40s\"", key);
        return false;
    }
tail:
    p = (char *)skip_ws(p + 1);
    if (*p != '\0') {
        snprintf(err, err_size, "text after the object");
        return false;
    }
    return true;
}

static const ldc_field *
find(const ldc_rec *r, const char *key)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (strcmp(r->f[i].key, key) == 0)
            return &r->f[i];
    return NULL;
}

const char *
ldc_rec_str(const ldc_rec *r, const char *key)
{
    const ldc_field *f = find(r, key);
    return f ? f->str : NULL;
}

bool
ldc_rec_int(const ldc_rec *r, const char *key, int64_t *out)
{
    const ldc_field *f = find(r, key);
    if (!f || f->str)
        return false;
    *out = f->num;
    return true;
}

bool
ldc_read_jsonl(const char *path, ldc_rec_fn fn, void *ctx, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    static _Thread_local ldc_rec rec;
    char line[LDC_LINE_BYTES_MAX + 2];
    uint64_t no = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        no++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
            snprintf(err, err_size, "%s:%llu: line longer than %u bytes", path,
                     (unsigned long long)no, LDC_LINE_BYTES_MAX);
            ok = false;
            break;
        }
        if (*skip_ws(line) == '\0')
            continue;
        char why[160];
        if (!ldc_rec_parse(&rec, line, why, sizeof why)) {
            snprintf(err, err_size, "%s:%llu: %s", path, (unsigned long long)no, why);
            ok = false;
            break;
        }
        char fn_err[256] = "";
        if (!fn(ctx, &rec, no, fn_err, sizeof fn_err)) {
            snprintf(err, err_size, "%s:%llu: %s", path, (unsigned long long)no, fn_err);
            ok = false;
        }
    }
    if (ok && ferror(f)) {
        snprintf(err, err_size, "reading %s: %s", path, strerror(errno));
        ok = false;
    }
    fclose(f);
    return ok;
}
