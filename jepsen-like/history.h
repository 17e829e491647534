/*
 * history.h -- the JSONL files of a chaos run: writing the history as it happens, and reading
 * records back (the checker reads history.jsonl and final.jsonl through the same parser, online
 * and offline alike).
 *
 * A record is one flat JSON object on one line: string, integer and boolean values only, no
 * nesting (what the harness writes; jepsen-like/README.md lists the fields). The writer stamps
 * "t_ms" (milliseconds since the run started, monotonic) first.
 */
#ifndef LDC_HISTORY_H
#define LDC_HISTORY_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "chaos_limits.h"

/* Monotonic clock in ms. Thread: any. */
int64_t ldc_mono_ms(void);
/* Sleeps ms milliseconds: a poll interval or a pacing step, never a wait for a condition.
 * Thread: any. */
void ldc_sleep_ms(int64_t ms);

/* ---- writing --------------------------------------------------------------------------------- */

typedef struct ldc_hist {
    pthread_mutex_t mu;
    FILE *f;
    int64_t t0_ms;      /* ldc_mono_ms() at open: t_ms is relative to it */
    uint64_t bytes;     /* written so far */
    uint64_t bytes_max; /* LDC_HISTORY_BYTES_MAX, lower in the self-test */
    uint64_t records;
    bool full; /* a record did not fit: the history is truncated */
    bool io_error;
} ldc_hist;

/* Creates (truncates) path. false with errno on failure. Thread: main. */
bool ldc_hist_open(ldc_hist *h, const char *path, uint64_t bytes_max);
/* Appends {"t_ms":N,<fields>} and a newline, flushed; `fmt` gives the fields (printf format,
 * values the caller made JSON-safe, e.g. with ldc_json_str). Returns false once the history is
 * full (LDC_HISTORY_BYTES_MAX; then a last {"type":"truncated"} record is written) or on an
 * I/O error. Thread: any (serialized by the mutex). */
bool ldc_hist_add(ldc_hist *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True once a record was refused for size. Thread: any. */
bool ldc_hist_full(ldc_hist *h);
/* Closes the file. false if anything failed to reach it. Thread: main. */
bool ldc_hist_close(ldc_hist *h);

/* Copies s into out as the inside of a JSON string (quotes and backslashes escaped, control
 * bytes dropped), truncated to out_size - 1 bytes. Returns out. Thread: any. */
const char *ldc_json_str(const char *s, char *out, size_t out_size);

/* ---- reading --------------------------------------------------------------------------------- */

typedef struct ldc_field {
    const char *key;
    const char *str; /* string value (unescaped), or NULL for a number or boolean */
    int64_t num;     /* integer value; booleans are 0 / 1 */
} ldc_field;

typedef struct ldc_rec {
    uint32_t n;
    ldc_field f[LDC_FIELDS_MAX];
    char buf[LDC_LINE_BYTES_MAX + 1]; /* the fields point into it */
} ldc_rec;

/* Parses one line (without or with its newline) into r. false and a reason in err[err_size]
 * for anything but a flat object of string / integer / boolean values within the limits. */
bool ldc_rec_parse(ldc_rec *r, const char *line, char *err, size_t err_size);
/* The string value of key, or NULL (absent, or not a string). */
const char *ldc_rec_str(const ldc_rec *r, const char *key);
/* The integer (or boolean) value of key: false when absent or a string. */
bool ldc_rec_int(const ldc_rec *r, const char *key, int64_t *out);

/* Reads path line by line and calls fn on each parsed record (line numbers from 1); stops at the
 * first false from fn. Returns false with a reason in err (I/O, a line over LDC_LINE_BYTES_MAX,
 * a malformed record, or fn's false). Thread: any. */
typedef bool (*ldc_rec_fn)(void *ctx, const ldc_rec *r, uint64_t line, char *err, size_t err_size);
bool ldc_read_jsonl(const char *path, ldc_rec_fn fn, void *ctx, char *err, size_t err_size);

#endif /* LDC_HISTORY_H */
