/*
 * test_store_rocks.c -- the RocksDB ld_store adapter (node/store_rocks.c): seek() forward and
 * backward, bounded to its prefix, stopped by the callback, over durable records only.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store_rocks.h"

typedef struct seen {
    char keys[16][16];
    size_t n;
    size_t stop_after; /* 0: never */
    ld_err stop_with;
} seen;

static ld_err
collect(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    seen *s = arg;
    (void)val;
    (void)val_len;
    cr_assert_lt(s->n, 16);
    cr_assert_lt(key_len, 16);
    memcpy(s->keys[s->n], key, key_len);
    s->keys[s->n][key_len] = '\0';
    s->n++;
    return s->stop_after != 0 && s->n == s->stop_after ? s->stop_with : LD_OK;
}

static char dir[64];
static ldi_rocks *rocks;
static ld_store st;

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
put(const char *k)
{
    st.ops->put(st.impl, k, strlen(k), "v", 1);
}

/* Keys around the prefix "b": "a*" before it, "c" after it; "b\xff" and "\xff\xff" test the
 * prefix successor; everything is written durably. */
static void
setup(void)
{
    ldi_log_init(LDI_LOG_ERROR, 1);
    snprintf(dir, sizeof dir, "/tmp/ld-store-rocks-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    bool created = false;
    cr_assert_eq(ldi_rocks_open(dir, 1, &created, &rocks), LD_OK);
    cr_assert(created);
    st = ldi_rocks_store(rocks);
    const char *keys[] = {"a", "az", "b1", "b3", "b5", "b\xff", "b\xff\xff", "c", "\xff\xff"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        put(keys[i]);
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
}

static void
teardown(void)
{
    ldi_rocks_close(rocks);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store_rocks, .init = setup, .fini = teardown);

Test(store_rocks, seek_forward_starts_at_start_and_stays_in_the_prefix)
{
    /* Goal: forward seek begins at the first key >= start and ends at the last key of the
     * prefix (not "c"). Method: start between keys and on a key, collect the keys. */
    seen s = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b2", 2, false, collect, &s), LD_OK);
    cr_assert_eq(s.n, 4);
    cr_assert_str_eq(s.keys[0], "b3");
    cr_assert_str_eq(s.keys[1], "b5");
    cr_assert_str_eq(s.keys[3], "b\xff\xff");
    seen t = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b5", 2, false, collect, &t), LD_OK);
    cr_assert_eq(t.n, 3);
    cr_assert_str_eq(t.keys[0], "b5");
}

Test(store_rocks, seek_backward_starts_at_or_before_start_and_stays_in_the_prefix)
{
    /* Goal: reverse seek begins at the last key <= start and ends at the first key of the
     * prefix (not "az"). Method: start on a key, between keys, and past the prefix's keys. */
    seen s = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b3", 2, true, collect, &s), LD_OK);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[0], "b3");
    cr_assert_str_eq(s.keys[1], "b1");
    seen t = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b4", 2, true, collect, &t), LD_OK);
    cr_assert_eq(t.n, 2);
    cr_assert_str_eq(t.keys[0], "b3");
    seen u = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b\xff\xff\xff", 4, true, collect, &u), LD_OK);
    cr_assert_eq(u.n, 5);
    cr_assert_str_eq(u.keys[0], "b\xff\xff");
    cr_assert_str_eq(u.keys[4], "b1");
}

Test(store_rocks, seek_prefix_ending_in_0xff_and_empty_prefix)
{
    /* Goal: a prefix whose last byte is 0xff (no simple successor) and the empty prefix (no
     * bounds) still visit exactly their keys. Method: seek "b\xff" both ways, "" forward. */
    seen s = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b\xff", 2, "b\xff", 2, false, collect, &s), LD_OK);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[1], "b\xff\xff");
    seen t = {0};
    cr_assert_eq(st.ops->seek(st.impl, "\xff", 1, "\xff\xff\xff", 3, true, collect, &t), LD_OK);
    cr_assert_eq(t.n, 1);
    cr_assert_str_eq(t.keys[0], "\xff\xff");
    seen u = {0};
    cr_assert_eq(st.ops->seek(st.impl, "", 0, "b", 1, false, collect, &u), LD_OK);
    cr_assert_eq(u.n, 7);
    cr_assert_str_eq(u.keys[0], "b1");
}

Test(store_rocks, seek_stops_when_the_callback_says_so)
{
    /* Goal: LD_EXISTS from the callback stops the walk and seek returns LD_OK; any other code
     * stops it and is returned. Method: stop after 2 records with each. */
    seen s = {.stop_after = 2, .stop_with = LD_EXISTS};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b", 1, false, collect, &s), LD_OK);
    cr_assert_eq(s.n, 2);
    seen t = {.stop_after = 2, .stop_with = LD_ERR_INTERNAL};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b5", 2, true, collect, &t), LD_ERR_INTERNAL);
    cr_assert_eq(t.n, 2);
}

Test(store_rocks, seek_sees_durable_records_only)
{
    /* Goal: a put still in the pending write batch is invisible to seek until written. Method:
     * put "b2", seek, write, seek again. */
    put("b2");
    seen s = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b", 1, false, collect, &s), LD_OK);
    cr_assert_eq(s.n, 5);
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    seen t = {0};
    cr_assert_eq(st.ops->seek(st.impl, "b", 1, "b", 1, false, collect, &t), LD_OK);
    cr_assert_eq(t.n, 6);
    cr_assert_str_eq(t.keys[1], "b2");
}

/* ---- state transfer: snapshot / install -------------------------------------------------- */

static size_t
count_state(void)
{
    seen s = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s), LD_OK);
    return s.n;
}

Test(store_rocks, snapshot_then_install_gives_the_same_records_back)
{
    /* Goal: install(snapshot) restores exactly the snapshot's records, removing later ones and
     * keeping the replica's own CF. Method: snapshot the 9 setup keys, change the state (new
     * keys, a deleted key), put a replica record, install the snapshot and compare. */
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(ldi_rocks_state_snapshot(rocks, 1u << 20, &buf, &len), LD_OK);
    cr_assert_eq(count_state(), 9);
    put("b2");
    put("zz");
    st.ops->del(st.impl, "a", 1);
    ld_store repl = ldi_rocks_repl_store(rocks);
    repl.ops->put(repl.impl, "M", 1, "meta", 4);
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    cr_assert_eq(count_state(), 10);
    cr_assert_eq(ldi_rocks_batch_state_replace(rocks, buf, len), LD_OK);
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    seen s = {0};
    cr_assert_eq(st.ops->scan(st.impl, "", 0, collect, &s), LD_OK);
    const char *want[] = {"a", "az", "b1", "b3", "b5", "b\xff", "b\xff\xff", "c", "\xff\xff"};
    cr_assert_eq(s.n, 9);
    for (size_t i = 0; i < 9; i++)
        cr_assert_str_eq(s.keys[i], want[i]);
    seen m = {0};
    cr_assert_eq(repl.ops->scan(repl.impl, "M", 1, collect, &m), LD_OK);
    cr_assert_eq(m.n, 1, "the replica's records are not part of the state");
    uint8_t *again = NULL;
    size_t again_len = 0;
    cr_assert_eq(ldi_rocks_state_snapshot(rocks, 1u << 20, &again, &again_len), LD_OK);
    cr_assert_eq(again_len, len);
    cr_assert_eq(memcmp(again, buf, len), 0, "a second snapshot is byte-identical");
    free(again);
    free(buf);
}

Test(store_rocks, install_of_an_empty_stream_empties_the_state)
{
    /* Goal: a checkpoint of an empty state installs as an empty state. Method: install a
     * zero-length stream over the 9 setup keys. */
    cr_assert_eq(ldi_rocks_batch_state_replace(rocks, NULL, 0), LD_OK);
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    cr_assert_eq(count_state(), 0);
}

Test(store_rocks, malformed_streams_are_refused_and_change_nothing)
{
    /* Goal: a truncated or inconsistent stream is LD_ERR_STORAGE and adds nothing to the write
     * batch. Method: cut a good snapshot at every length, and forge an empty key. */
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(ldi_rocks_state_snapshot(rocks, 1u << 20, &buf, &len), LD_OK);
    size_t bad = 0;
    for (size_t cut = 1; cut < len; cut++) {
        ld_err e = ldi_rocks_batch_state_replace(rocks, buf, cut);
        if (e != LD_OK) {
            bad++;
            cr_assert_eq(e, LD_ERR_STORAGE);
            cr_assert_eq(ldi_rocks_batch_count(rocks), 0);
        } else {
            ldi_rocks_batch_clear(rocks); /* cut exactly between two records: a shorter state */
        }
    }
    cr_assert_geq(bad, len - 1 - 8, "only record boundaries may parse");
    uint8_t empty_key[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(ldi_rocks_batch_state_replace(rocks, empty_key, sizeof empty_key), LD_ERR_STORAGE);
    free(buf);
    cr_assert_eq(count_state(), 9);
}

Test(store_rocks, snapshot_above_its_bound_is_refused)
{
    /* Goal: a state larger than the bound is LD_ERR_CAPACITY, not a huge allocation. Method: a
     * 40-byte bound for nine records of 10+ bytes each. */
    uint8_t *buf = NULL;
    size_t len = 0;
    cr_assert_eq(ldi_rocks_state_snapshot(rocks, 40, &buf, &len), LD_ERR_CAPACITY);
    cr_assert_null(buf);
}

Test(store_rocks, a_reopened_directory_is_not_created_again)
{
    /* Goal: `created` is set only for a directory with no format record, and a new directory
     * whose first write never happened is still new. Method: reopen the setup directory; open a
     * fresh one, close it without writing, reopen it. */
    ldi_rocks_close(rocks);
    bool created = true;
    cr_assert_eq(ldi_rocks_open(dir, 1, &created, &rocks), LD_OK);
    cr_assert(!created);
    st = ldi_rocks_store(rocks);
    cr_assert_eq(count_state(), 9);
    char other[80];
    snprintf(other, sizeof other, "%s/new", dir);
    ldi_rocks *o = NULL;
    cr_assert_eq(ldi_rocks_open(other, 2, &created, &o), LD_OK);
    cr_assert(created);
    ldi_rocks_close(o);
    cr_assert_eq(ldi_rocks_open(other, 2, &created, &o), LD_OK);
    cr_assert(created, "the format record was never written");
    cr_assert_eq(ldi_rocks_batch_write(o, true), LD_OK);
    ldi_rocks_close(o);
    cr_assert_eq(ldi_rocks_open(other, 2, &created, &o), LD_OK);
    cr_assert(!created);
    ldi_rocks_close(o);
    cr_assert_eq(ldi_rocks_open(other, 3, &created, &o), LD_ERR_STORAGE, "another node's dir");
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

static bool
get(const ld_store *s, const char *k, got *g)
{
    bool found = true;
    memset(g, 0, sizeof *g);
    cr_assert_eq(s->ops->get(s->impl, k, strlen(k), got_cb, g, &found), LD_OK);
    cr_assert_eq(g->calls, found ? 1 : 0, "the callback runs once exactly when found");
    return found;
}

Test(store_rocks, get_reads_the_turns_batch_then_the_database)
{
    /* Goal: get() is read-your-writes over RocksDB: the turn's pending batch (a put, a del, the
     * last word of several) wins over the database, the column families stay apart, a cleared
     * batch leaves the database's value, and a written batch is read back. Method: setup wrote
     * "b1" = "v" to the state CF; pending puts and dels on it, reads after each; the same key
     * in the replica's CF; clear; write; reopen. */
    got g;
    cr_assert(get(&st, "b1", &g));
    cr_assert_str_eq(g.val, "v");
    st.ops->put(st.impl, "b1", 2, "w", 1);
    cr_assert(get(&st, "b1", &g));
    cr_assert_str_eq(g.val, "w", "the pending put wins");
    st.ops->del(st.impl, "b1", 2);
    cr_assert_not(get(&st, "b1", &g), "a pending del hides the record");
    st.ops->put(st.impl, "b1", 2, "x", 1);
    cr_assert(get(&st, "b1", &g));
    cr_assert_str_eq(g.val, "x", "the last pending word wins");
    ld_store log = ldi_rocks_repl_store(rocks);
    cr_assert_not(get(&log, "b1", &g), "another column family");
    cr_assert_not(get(&st, "b2", &g));
    ldi_rocks_batch_clear(rocks);
    cr_assert(get(&st, "b1", &g));
    cr_assert_str_eq(g.val, "v", "a cleared batch leaves the database's value");
    st.ops->put(st.impl, "b2", 2, "y", 1);
    cr_assert_eq(ldi_rocks_batch_write(rocks, false), LD_OK);
    cr_assert(get(&st, "b2", &g), "an unsynced write is read back");
    cr_assert_str_eq(g.val, "y");
    ldi_rocks_close(rocks);
    bool created = true;
    cr_assert_eq(ldi_rocks_open(dir, 1, &created, &rocks), LD_OK);
    cr_assert_not(created);
    st = ldi_rocks_store(rocks);
    cr_assert(get(&st, "b2", &g), "a clean close keeps it");
    cr_assert_str_eq(g.val, "y");
}
