/*
 * store_mem.c -- the in-memory ld_store, for unit tests and the deterministic simulator.
 *
 * Durable records live in an array sorted by key (memcmp order, shorter key first on a tie of
 * the common prefix), so scan() and seek() visit a prefix range in key order as RocksDB would.
 * put() and del() only append to a pending list; ld_store_mem_sync() replays that list onto the
 * durable array in order, and ld_store_mem_crash() throws it away. ld_store_mem_fail_scan() arms a
 * one-shot fault for the next scan(). Binary search keeps lookups O(log n); an insert moves the
 * tail of the pointer array, which is fine at test and simulator sizes.
 */
#include <stdlib.h>
#include <string.h>

#include "store.h"

typedef struct mem_rec {
    size_t key_len;
    size_t val_len;
    uint8_t *val; /* points into bytes, after the key */
    uint8_t bytes[];
} mem_rec;

typedef struct mem_pending {
    bool is_del;
    mem_rec *rec; /* the key (and value for a put) */
} mem_pending;

struct ld_store_mem {
    mem_rec **recs; /* sorted by key */
    size_t recs_len;
    size_t recs_cap;
    mem_pending *pending;
    size_t pending_len;
    size_t pending_cap;
    size_t fail_after;
    ld_err fail_err; /* LD_OK: disarmed */
};

static mem_rec *
rec_alloc(const void *key, size_t key_len, const void *val, size_t val_len)
{
    mem_rec *rec = malloc(sizeof *rec + key_len + val_len + 1);
    LD_ASSERT(rec != NULL); /* test-only store: out of memory is fatal */
    rec->key_len = key_len;
    rec->val_len = val_len;
    if (key_len > 0)
        memcpy(rec->bytes, key, key_len);
    rec->val = rec->bytes + key_len;
    if (val_len > 0)
        memcpy(rec->val, val, val_len);
    return rec;
}

static int
key_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
    size_t n = a_len < b_len ? a_len : b_len;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return a_len < b_len ? -1 : a_len > b_len ? 1 : 0;
}

/* Returns the index of the first record whose key is >= key; *found when equal. */
static size_t
lower_bound(const ld_store_mem *mem, const void *key, size_t key_len, bool *found)
{
    size_t lo = 0, hi = mem->recs_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mem_rec *r = mem->recs[mid];
        if (key_cmp(r->bytes, r->key_len, key, key_len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < mem->recs_len &&
             key_cmp(mem->recs[lo]->bytes, mem->recs[lo]->key_len, key, key_len) == 0;
    return lo;
}

static void
pending_push(ld_store_mem *mem, bool is_del, mem_rec *rec)
{
    if (mem->pending_len == mem->pending_cap) {
        size_t cap = mem->pending_cap ? mem->pending_cap * 2 : 64;
        mem_pending *p = realloc(mem->pending, cap * sizeof *p);
        LD_ASSERT(p != NULL);
        mem->pending = p;
        mem->pending_cap = cap;
    }
    mem->pending[mem->pending_len++] = (mem_pending){.is_del = is_del, .rec = rec};
}

static void
mem_put(void *impl, const void *key, size_t key_len, const void *val, size_t val_len)
{
    LD_ASSERT(impl != NULL);
    LD_ASSERT(key_len > 0);
    pending_push(impl, false, rec_alloc(key, key_len, val, val_len));
}

static void
mem_del(void *impl, const void *key, size_t key_len)
{
    LD_ASSERT(impl != NULL);
    LD_ASSERT(key_len > 0);
    pending_push(impl, true, rec_alloc(key, key_len, NULL, 0));
}

static ld_err
mem_scan(void *impl, const void *prefix, size_t prefix_len, ld_store_scan_cb cb, void *arg)
{
    ld_store_mem *mem = impl;
    LD_ASSERT(mem != NULL);
    LD_ASSERT(cb != NULL);
    ld_err fail = mem->fail_err;
    size_t fail_after = mem->fail_after;
    mem->fail_err = LD_OK; /* one shot */
    bool found;
    size_t i = lower_bound(mem, prefix, prefix_len, &found);
    size_t visited = 0;
    for (; i < mem->recs_len; i++) {
        const mem_rec *r = mem->recs[i];
        if (r->key_len < prefix_len || (prefix_len > 0 && memcmp(r->bytes, prefix, prefix_len)))
            break;
        if (fail != LD_OK && visited == fail_after)
            return fail;
        ld_err err = cb(arg, r->bytes, r->key_len, r->val, r->val_len);
        if (err != LD_OK)
            return err;
        visited++;
    }
    if (fail != LD_OK && visited == fail_after)
        return fail;
    return LD_OK;
}

static bool
has_prefix(const mem_rec *r, const void *prefix, size_t prefix_len)
{
    return r->key_len >= prefix_len &&
           (prefix_len == 0 || memcmp(r->bytes, prefix, prefix_len) == 0);
}

/* Walks durable records only (pending puts and deletes are invisible, as in RocksDB before the
 * write is made): forward from the first key >= start, or backward from the last key <= start,
 * while keys keep `prefix`. LD_EXISTS from the callback ends the walk without error. */
static ld_err
mem_seek(void *impl, const void *prefix, size_t prefix_len, const void *start, size_t start_len,
         bool reverse, ld_store_scan_cb cb, void *arg)
{
    ld_store_mem *mem = impl;
    LD_ASSERT(mem != NULL && cb != NULL);
    LD_ASSERT(start_len >= prefix_len);
    LD_ASSERT(prefix_len == 0 || memcmp(start, prefix, prefix_len) == 0);
    bool found;
    size_t i = lower_bound(mem, start, start_len, &found);
    if (reverse && !found) {
        if (i == 0)
            return LD_OK;
        i--;
    }
    for (;;) {
        if (i >= mem->recs_len)
            return LD_OK;
        const mem_rec *r = mem->recs[i];
        if (!has_prefix(r, prefix, prefix_len))
            return LD_OK;
        ld_err err = cb(arg, r->bytes, r->key_len, r->val, r->val_len);
        if (err == LD_EXISTS)
            return LD_OK;
        if (err != LD_OK)
            return err;
        if (reverse) {
            if (i == 0)
                return LD_OK;
            i--;
        } else {
            i++;
        }
    }
}

/* The pending list newest first (its last word on the key wins), then the durable records. The
 * walk of the pending list costs its length: tests and the simulator keep it short. */
static ld_err
mem_get(void *impl, const void *key, size_t key_len, ld_store_get_cb cb, void *arg, bool *found_out)
{
    ld_store_mem *mem = impl;
    LD_ASSERT(mem != NULL && cb != NULL);
    LD_ASSERT(found_out != NULL);
    for (size_t i = mem->pending_len; i > 0; i--) {
        const mem_pending *p = &mem->pending[i - 1];
        if (key_cmp(p->rec->bytes, p->rec->key_len, key, key_len) != 0)
            continue;
        *found_out = !p->is_del;
        if (!p->is_del)
            cb(arg, p->rec->val, p->rec->val_len);
        return LD_OK;
    }
    bool found = false;
    size_t i = lower_bound(mem, key, key_len, &found);
    *found_out = found;
    if (found)
        cb(arg, mem->recs[i]->val, mem->recs[i]->val_len);
    return LD_OK;
}

static const ld_store_ops mem_ops = {
    .put = mem_put,
    .del = mem_del,
    .scan = mem_scan,
    .seek = mem_seek,
    .get = mem_get,
};

ld_err
ld_store_mem_alloc(ld_store_mem **out)
{
    LD_ASSERT(out != NULL);
    ld_store_mem *mem = calloc(1, sizeof *mem);
    if (mem == NULL)
        return LD_ERR_NOMEM;
    *out = mem;
    return LD_OK;
}

void
ld_store_mem_free(ld_store_mem *mem)
{
    if (mem == NULL)
        return;
    ld_store_mem_crash(mem);
    for (size_t i = 0; i < mem->recs_len; i++)
        free(mem->recs[i]);
    free(mem->recs);
    free(mem->pending);
    free(mem);
}

ld_store
ld_store_mem_store(ld_store_mem *mem)
{
    LD_ASSERT(mem != NULL);
    return (ld_store){.ops = &mem_ops, .impl = mem};
}

static void
apply_one(ld_store_mem *mem, mem_pending *p)
{
    bool found;
    size_t i = lower_bound(mem, p->rec->bytes, p->rec->key_len, &found);
    if (p->is_del) {
        if (found) {
            free(mem->recs[i]);
            memmove(&mem->recs[i], &mem->recs[i + 1], (mem->recs_len - i - 1) * sizeof(void *));
            mem->recs_len--;
        }
        free(p->rec);
        return;
    }
    if (found) {
        free(mem->recs[i]);
        mem->recs[i] = p->rec;
        return;
    }
    if (mem->recs_len == mem->recs_cap) {
        size_t cap = mem->recs_cap ? mem->recs_cap * 2 : 256;
        mem_rec **r = realloc(mem->recs, cap * sizeof *r);
        LD_ASSERT(r != NULL);
        mem->recs = r;
        mem->recs_cap = cap;
    }
    memmove(&mem->recs[i + 1], &mem->recs[i], (mem->recs_len - i) * sizeof(void *));
    mem->recs[i] = p->rec;
    mem->recs_len++;
}

void
ld_store_mem_sync(ld_store_mem *mem)
{
    LD_ASSERT(mem != NULL);
    for (size_t i = 0; i < mem->pending_len; i++)
        apply_one(mem, &mem->pending[i]);
    mem->pending_len = 0;
}

void
ld_store_mem_crash(ld_store_mem *mem)
{
    LD_ASSERT(mem != NULL);
    for (size_t i = 0; i < mem->pending_len; i++)
        free(mem->pending[i].rec);
    mem->pending_len = 0;
}

size_t
ld_store_mem_count(const ld_store_mem *mem)
{
    LD_ASSERT(mem != NULL);
    return mem->recs_len;
}

size_t
ld_store_mem_pending(const ld_store_mem *mem)
{
    LD_ASSERT(mem != NULL);
    return mem->pending_len;
}

void
ld_store_mem_fail_scan(ld_store_mem *mem, size_t after, ld_err err)
{
    LD_ASSERT(mem != NULL);
    mem->fail_after = after;
    mem->fail_err = err;
}
