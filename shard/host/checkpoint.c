/*
 * checkpoint.c -- the checkpoint stream's writer and reader (checkpoint.h).
 */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

static void
put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

ld_err
ld_checkpoint_append(ld_checkpoint_writer *w, const void *key, size_t key_len, const void *val,
                     size_t val_len)
{
    LD_ASSERT(w != NULL);
    if (key_len == 0)
        return LD_ERR_INVALID_ARGUMENT;
    if (key_len > UINT32_MAX || val_len > UINT32_MAX)
        return LD_ERR_CAPACITY;
    LD_ASSERT(w->len <= w->max);
    size_t need = 8 + key_len + val_len;
    if (need > w->max - w->len)
        return LD_ERR_CAPACITY;
    if (w->len + need > w->cap) {
        size_t cap = w->cap ? w->cap : 64 * 1024;
        while (cap < w->len + need)
            cap *= 2;
        uint8_t *buf = realloc(w->buf, cap);
        LD_ASSERT(buf != NULL);
        w->buf = buf;
        w->cap = cap;
    }
    uint8_t *at = w->buf + w->len;
    put_le32(at, (uint32_t)key_len);
    memcpy(at + 4, key, key_len);
    put_le32(at + 4 + key_len, (uint32_t)val_len);
    if (val_len > 0)
        memcpy(at + 8 + key_len, val, val_len);
    w->len += need;
    return LD_OK;
}

uint8_t *
ld_checkpoint_take(ld_checkpoint_writer *w, size_t *len_out)
{
    uint8_t *buf = w->buf != NULL ? w->buf : calloc(1, 1);
    LD_ASSERT(buf != NULL);
    *len_out = w->len;
    memset(w, 0, sizeof *w);
    return buf;
}

void
ld_checkpoint_writer_fini(ld_checkpoint_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

static ld_err
from_store_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    return ld_checkpoint_append(arg, key, key_len, val, val_len);
}

ld_err
ld_checkpoint_from_store(const ld_store *store, size_t max_bytes, uint8_t **buf_out,
                         size_t *len_out)
{
    LD_ASSERT(store != NULL);
    LD_ASSERT(buf_out != NULL && len_out != NULL);
    ld_checkpoint_writer w = {.max = max_bytes};
    ld_err err = store->ops->scan(store->impl, "", 0, from_store_cb, &w);
    if (err != LD_OK) {
        ld_checkpoint_writer_fini(&w);
        return err;
    }
    *buf_out = ld_checkpoint_take(&w, len_out);
    return LD_OK;
}

/* The record at `at`: false when it runs past the end or has an empty key. */
static bool
record_at(const uint8_t *buf, size_t len, size_t at, uint32_t *klen_out, uint32_t *vlen_out)
{
    if (len - at < 4)
        return false;
    uint32_t klen = get_le32(buf + at);
    if (klen == 0 || len - at - 4 < (size_t)klen + 4)
        return false;
    uint32_t vlen = get_le32(buf + at + 4 + klen);
    if (len - at - 8 - klen < vlen)
        return false;
    *klen_out = klen;
    *vlen_out = vlen;
    return true;
}

/* memcmp order, a prefix first. */
static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

bool
ld_checkpoint_valid(const uint8_t *buf, size_t len)
{
    LD_ASSERT(buf != NULL || len == 0);
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (size_t at = 0; at < len;) {
        uint32_t klen, vlen;
        if (!record_at(buf, len, at, &klen, &vlen))
            return false;
        const uint8_t *key = buf + at + 4;
        if (prev != NULL && key_cmp(prev, prev_len, key, klen) >= 0)
            return false;
        prev = key;
        prev_len = klen;
        at += 8 + (size_t)klen + vlen;
    }
    return true;
}

void
ld_checkpoint_walk(const uint8_t *buf, size_t len, ld_checkpoint_cb cb, void *arg)
{
    for (size_t at = 0; at < len;) {
        uint32_t klen = 0, vlen = 0;
        LD_ASSERT(record_at(buf, len, at, &klen, &vlen)); /* checked by ld_checkpoint_valid */
        const uint8_t *key = buf + at + 4;
        cb(arg, key, klen, key + klen + 4, vlen);
        at += 8 + (size_t)klen + vlen;
    }
}
