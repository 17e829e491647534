/*
 * test_store_mem.c -- the in-memory store (proto/store_mem.c): ordering, prefix scans,
 * pending vs durable writes, crash and fault injection.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "store.h"

typedef struct seen {
    char keys[16][16];
    char vals[16][16];
    size_t n;
    size_t stop_after;
} seen;

static ld_err
collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    seen *s = arg;
    cr_assert_lt(s->n, 16);
    memcpy(s->keys[s->n], key, key_len);
    s->keys[s->n][key_len] = '\0';
    memcpy(s->vals[s->n], val, val_len);
    s->vals[s->n][val_len] = '\0';
    s->n++;
    return s->stop_after && s->n == s->stop_after ? LD_ERR_INTERNAL : LD_OK;
}

static void
put(ld_store *st, const char *k, const char *v)
{
    st->ops->put(st->impl, k, strlen(k), v, strlen(v));
}

Test(store_mem, pending_writes_are_invisible_until_sync)
{
    /* Goal: put and del are pending (scan sees durable records only) until sync. Method: put,
     * scan, sync, scan; del, scan, sync, scan. */
    ld_store_mem *mem;
    cr_assert_eq(ld_store_mem_alloc(&mem), LD_OK);
    ld_store st = ld_store_mem_store(mem);
    put(&st, "a", "1");
    seen s = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s), LD_OK);
    cr_assert_eq(s.n, 0);
    ld_store_mem_sync(mem);
    cr_assert_eq(ld_store_mem_count(mem), 1);
    st.ops->del(st.impl, "a", 1);
    cr_assert_eq(ld_store_mem_count(mem), 1);
    ld_store_mem_sync(mem);
    cr_assert_eq(ld_store_mem_count(mem), 0);
    ld_store_mem_free(mem);
}

Test(store_mem, scan_is_sorted_and_prefix_bounded)
{
    /* Goal: scan visits records in byte order (shorter first on a common prefix) and only those
     * with the prefix; later writes to a key win. Method: unsorted puts, overwrite, scans. */
    ld_store_mem *mem;
    cr_assert_eq(ld_store_mem_alloc(&mem), LD_OK);
    ld_store st = ld_store_mem_store(mem);
    put(&st, "b2", "x");
    put(&st, "a", "1");
    put(&st, "b", "2");
    put(&st, "b1", "3");
    put(&st, "c", "4");
    put(&st, "b2", "5");
    ld_store_mem_sync(mem);
    seen s = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s), LD_OK);
    cr_assert_eq(s.n, 5);
    const char *want[] = {"a", "b", "b1", "b2", "c"};
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(s.keys[i], want[i]);
    cr_assert_str_eq(s.vals[3], "5");
    seen p = {0};
    cr_assert_eq(st.ops->scan(st.impl, "b", 1, collect, &p), LD_OK);
    cr_assert_eq(p.n, 3);
    seen none = {0};
    cr_assert_eq(st.ops->scan(st.impl, "bz", 2, collect, &none), LD_OK);
    cr_assert_eq(none.n, 0);
    seen stop = {.stop_after = 2};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &stop), LD_ERR_INTERNAL);
    cr_assert_eq(stop.n, 2);
    ld_store_mem_free(mem);
}

Test(store_mem, crash_drops_pending_in_order)
{
    /* Goal: a crash drops every pending write and keeps the durable ones; pending writes apply
     * in order at sync (put then del of one key deletes it). Method: mixed sequence. */
    ld_store_mem *mem;
    cr_assert_eq(ld_store_mem_alloc(&mem), LD_OK);
    ld_store st = ld_store_mem_store(mem);
    put(&st, "keep", "1");
    ld_store_mem_sync(mem);
    put(&st, "lost", "2");
    st.ops->del(st.impl, "keep", 4);
    ld_store_mem_crash(mem);
    ld_store_mem_sync(mem);
    seen s = {0};
    st.ops->scan(st.impl, "", 0, collect, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.keys[0], "keep");
    put(&st, "x", "1");
    st.ops->del(st.impl, "x", 1);
    st.ops->del(st.impl, "never", 5);
    ld_store_mem_sync(mem);
    cr_assert_eq(ld_store_mem_count(mem), 1);
    put(&st, "pending-at-free", "1"); /* freed with the store, no leak */
    ld_store_mem_free(mem);
}

Test(store_mem, fail_scan_is_one_shot)
{
    /* Goal: fail_scan makes the next scan return the error after `after` records, once; LD_OK
     * disarms it. Method: three records, fail after 2, after 0, after 3 (= at the end). */
    ld_store_mem *mem;
    cr_assert_eq(ld_store_mem_alloc(&mem), LD_OK);
    ld_store st = ld_store_mem_store(mem);
    put(&st, "a", "1");
    put(&st, "b", "2");
    put(&st, "c", "3");
    ld_store_mem_sync(mem);
    ld_store_mem_fail_scan(mem, 2, LD_ERR_STORAGE);
    seen s = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s), LD_ERR_STORAGE);
    cr_assert_eq(s.n, 2);
    seen s2 = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s2), LD_OK);
    cr_assert_eq(s2.n, 3);
    ld_store_mem_fail_scan(mem, 0, LD_ERR_STORAGE);
    seen s3 = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s3), LD_ERR_STORAGE);
    cr_assert_eq(s3.n, 0);
    ld_store_mem_fail_scan(mem, 3, LD_ERR_STORAGE);
    seen s4 = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s4), LD_ERR_STORAGE);
    cr_assert_eq(s4.n, 3);
    ld_store_mem_fail_scan(mem, 0, LD_ERR_STORAGE);
    ld_store_mem_fail_scan(mem, 0, LD_OK);
    seen s5 = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s5), LD_OK);
    ld_store_mem_free(mem);
}

static ld_err
stop_exists(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    seen *s = arg;
    collect(arg, key, key_len, val, val_len);
    return s->n == s->stop_after ? LD_EXISTS : LD_OK;
}

static void
seek_world(ld_store_mem **mem_out, ld_store *st)
{
    cr_assert_eq(ld_store_mem_alloc(mem_out), LD_OK);
    *st = ld_store_mem_store(*mem_out);
    const char *keys[] = {"a9", "b1", "b3", "b5", "b7", "c1"};
    for (int i = 0; i < 6; i++)
        put(st, keys[i], keys[i]);
    ld_store_mem_sync(*mem_out);
}

Test(store_mem, seek_forward_starts_at_first_key_not_below_start)
{
    /* Goal: a forward seek visits keys >= start, in order, and stops at the end of the prefix;
     * a start between keys begins at the next one; a start past the prefix visits nothing.
     * Method: keys a9 b1 b3 b5 b7 c1, seeks under prefix "b". */
    ld_store_mem *mem;
    ld_store st;
    seek_world(&mem, &st);
    seen s = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b3", 2, false, collect, &s), LD_OK);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.keys[0], "b3");
    cr_assert_str_eq(s.keys[2], "b7");
    seen between = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b4", 2, false, collect, &between), LD_OK);
    cr_assert_eq(between.n, 2);
    cr_assert_str_eq(between.keys[0], "b5");
    seen whole = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b", 1, false, collect, &whole), LD_OK);
    cr_assert_eq(whole.n, 4);
    seen past = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b8", 2, false, collect, &past), LD_OK);
    cr_assert_eq(past.n, 0);
    ld_store_mem_free(mem);
}

Test(store_mem, seek_reverse_starts_at_last_key_not_above_start)
{
    /* Goal: a reverse seek visits keys <= start, newest key first, and stops at the start of
     * the prefix; a start above every key of the prefix begins at its last key; a start below
     * the prefix's first key visits nothing. Method: keys a9 b1 b3 b5 b7 c1, prefix "b". */
    ld_store_mem *mem;
    ld_store st;
    seek_world(&mem, &st);
    seen s = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b5", 2, true, collect, &s), LD_OK);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.keys[0], "b5");
    cr_assert_str_eq(s.keys[2], "b1");
    seen between = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b4", 2, true, collect, &between), LD_OK);
    cr_assert_eq(between.n, 2);
    cr_assert_str_eq(between.keys[0], "b3");
    seen top = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b\xff", 2, true, collect, &top), LD_OK);
    cr_assert_eq(top.n, 4);
    cr_assert_str_eq(top.keys[0], "b7");
    seen below = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b0", 2, true, collect, &below), LD_OK);
    cr_assert_eq(below.n, 0);
    seen first = {0};
    cr_assert_eq(st.ops->seek(st.impl, "a", 1, "a9", 2, true, collect, &first), LD_OK);
    cr_assert_eq(first.n, 1);
    ld_store_mem_free(mem);
}

Test(store_mem, seek_stops_on_callback_and_sees_durable_records_only)
{
    /* Goal: LD_EXISTS from the callback ends the walk with LD_OK; another code ends it and is
     * returned; pending puts and deletes are invisible to seek until sync. Method: stop after
     * two records both ways; a pending put and a pending del, seek, sync, seek. */
    ld_store_mem *mem;
    ld_store st;
    seek_world(&mem, &st);
    seen s = {.stop_after = 2};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b1", 2, false, stop_exists, &s), LD_OK);
    cr_assert_eq(s.n, 2);
    seen e = {.stop_after = 2};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b1", 2, false, collect, &e), LD_ERR_INTERNAL);
    cr_assert_eq(e.n, 2);
    put(&st, "b2", "new");
    st.ops->del(st.impl, "b3", 2);
    seen pend = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b1", 2, false, collect, &pend), LD_OK);
    cr_assert_eq(pend.n, 4);
    cr_assert_str_eq(pend.keys[1], "b3");
    ld_store_mem_sync(mem);
    seen after = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b1", 2, false, collect, &after), LD_OK);
    cr_assert_eq(after.n, 4);
    cr_assert_str_eq(after.keys[1], "b2");
    cr_assert_str_eq(after.keys[2], "b5");
    ld_store_mem_free(mem);
}

typedef struct got {
    char val[32];
    int calls;
} got;

static void
got_cb(void *arg, const void *val, size_t val_len)
{
    got *g = arg;
    cr_assert_lt(val_len, sizeof g->val);
    memcpy(g->val, val, val_len);
    g->val[val_len] = '\0';
    g->calls++;
}

/* Looks `k` up; returns whether it was found (its value in g->val). */
static bool
get(ld_store *st, const char *k, got *g)
{
    bool found = true;
    memset(g, 0, sizeof *g);
    cr_assert_eq(st->ops->get(st->impl, k, strlen(k), got_cb, g, &found), LD_OK);
    cr_assert_eq(g->calls, found ? 1 : 0, "the callback runs once exactly when found");
    return found;
}

Test(store_mem, get_reads_the_pending_write_then_the_durable_records)
{
    /* Goal: get() is read-your-writes: the last pending put or del of a key wins over the durable
     * record, a crash takes the pending word back, and a key never written is absent. Method: a
     * durable a=1; pending a=2, then del a, then a=3, reading after each; crash; read again. */
    ld_store_mem *mem;
    cr_assert_eq(ld_store_mem_alloc(&mem), LD_OK);
    ld_store st = ld_store_mem_store(mem);
    got g;
    cr_assert_not(get(&st, "a", &g));
    put(&st, "a", "1");
    cr_assert(get(&st, "a", &g), "a pending put is read");
    cr_assert_str_eq(g.val, "1");
    ld_store_mem_sync(mem);
    cr_assert(get(&st, "a", &g));
    cr_assert_str_eq(g.val, "1");
    put(&st, "a", "2");
    cr_assert(get(&st, "a", &g));
    cr_assert_str_eq(g.val, "2", "the pending put wins over the durable record");
    st.ops->del(st.impl, "a", 1);
    cr_assert_not(get(&st, "a", &g), "a pending del hides the durable record");
    put(&st, "a", "3");
    cr_assert(get(&st, "a", &g));
    cr_assert_str_eq(g.val, "3", "the last pending word wins");
    cr_assert_not(get(&st, "ab", &g), "a longer key is another key");
    cr_assert_not(get(&st, "", &g));
    ld_store_mem_crash(mem);
    cr_assert(get(&st, "a", &g));
    cr_assert_str_eq(g.val, "1", "a crash leaves the durable record");
    st.ops->del(st.impl, "a", 1);
    ld_store_mem_sync(mem);
    cr_assert_not(get(&st, "a", &g), "a synced del removes it");
    ld_store_mem_free(mem);
}
