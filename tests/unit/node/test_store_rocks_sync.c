/*
 * test_store_rocks_sync.c -- which pending batches must be written with sync
 * (ldi_rocks_batch_needs_sync, node/store_rocks.c): the replica's log records and meta changes
 * must be durable before a turn's effects leave; state-machine records and a commit_max advance
 * need not (REPLICATION.md §8). The node writes the latter without fsync.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "repl.h"
#include "store_rocks.h"

static char dir[64];
static ldi_rocks *rocks;
static ld_store st;   /* state CF */
static ld_store repl; /* log CF */

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
setup(void)
{
    ldi_log_init(LDI_LOG_ERROR, 1);
    snprintf(dir, sizeof dir, "/tmp/ld-store-sync-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    bool created = false;
    cr_assert_eq(ldi_rocks_open(dir, 1, &created, &rocks), LD_OK);
    cr_assert(created);
    st = ldi_rocks_store(rocks);
    repl = ldi_rocks_repl_store(rocks);
}

static void
teardown(void)
{
    ldi_rocks_close(rocks);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store_rocks_sync, .init = setup, .fini = teardown);

/* The replica under test: replica 0 of 3 (primary of view 0); sends are captured. */
typedef struct host_ctx {
    ld_repl_msg last_prepare;
    uint32_t prepares;
    uint32_t applies;
} host_ctx;

static void
h_send(void *arg, uint32_t to, const ld_repl_msg *msg, bool early)
{
    host_ctx *h = arg;
    (void)to;
    cr_assert(!early);
    if (msg->kind == LD_REPL_PREPARE) {
        h->last_prepare = *msg;
        h->last_prepare.bytes = NULL; /* borrowed for the call only */
        h->prepares++;
    }
}

static void
h_apply(void *arg, uint64_t op, int64_t ts, const uint8_t *entry, uint32_t len)
{
    host_ctx *h = arg;
    (void)op;
    (void)ts;
    (void)entry;
    (void)len;
    h->applies++;
}

/* Proves that with the real replica core (shard/repl/repl*.c) a prepared entry needs a sync and the
 * commit that a PrepareOk brings (meta with a new commit_max, plus the apply's state records)
 * does not -- i.e. that store_rocks reads the replica's meta layout right. How: format, open a
 * 3-replica primary on the RocksDB store, prepare one entry, then feed a backup's PrepareOk. */
Test(store_rocks_sync, a_prepare_needs_sync_and_the_commit_of_a_prepare_ok_does_not)
{
    ld_repl_format(&repl);
    cr_assert(ldi_rocks_batch_needs_sync(rocks)); /* format records and the first meta */
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    cr_assert_not(ldi_rocks_batch_needs_sync(rocks));

    host_ctx h;
    memset(&h, 0, sizeof h);
    ld_repl_host host = {.arg = &h, .send = h_send, .apply = h_apply};
    ld_repl_config cfg = {.cluster_id = 7, .shard_id = 0, .replica = 0, .replica_count = 3};
    uint8_t nonce[16] = {1};
    ld_repl *r = NULL;
    cr_assert_eq(ld_repl_open(&cfg, &repl, &host, 0, nonce, 1000, &r), LD_OK);
    cr_assert(ld_repl_can_prepare(r));

    static const uint8_t entry[] = {1, 2, 3, 4};
    cr_assert_eq(ld_repl_prepare(r, entry, sizeof entry, 5000, 1000), LD_OK);
    cr_assert_eq(h.prepares, 2); /* to both backups */
    cr_assert(ldi_rocks_batch_needs_sync(rocks), "a log entry must be durable");
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);

    ld_repl_msg ok;
    memset(&ok, 0, sizeof ok);
    ok.kind = LD_REPL_PREPARE_OK;
    ok.cluster_id = 7;
    ok.replica = 1;
    ok.view = 0;
    ok.op = 1;
    ok.checksum = h.last_prepare.entry.checksum;
    ld_repl_on_message(r, &ok, 1001);
    ld_repl_state s;
    ld_repl_state_get(r, &s);
    cr_assert_eq(s.commit_max, 1);
    cr_assert_eq(h.applies, 1);
    st.ops->put(st.impl, "s", 1, "applied", 7); /* what the host's apply puts */
    cr_assert_gt(ldi_rocks_batch_count(rocks), 1, "the commit wrote meta");
    cr_assert_not(ldi_rocks_batch_needs_sync(rocks), "commit_max and applied state may trail");
    cr_assert_eq(ldi_rocks_batch_write(rocks, false), LD_OK);
    ld_repl_free(r);
}

/* Meta record of shard/repl/repl_log.c (version 1, 65 bytes): view at 1, commit_max at 17. */
static void
meta(uint8_t v[65], uint64_t view, uint64_t commit)
{
    memset(v, 0, 65);
    v[0] = 1;
    memcpy(v + 1, &view, 8);
    memcpy(v + 17, &commit, 8);
}

/* Proves the classification record by record: state records never need a sync; a log record or
 * its deletion always does; a meta record needs one unless it differs from the previous meta
 * record in commit_max alone, and an unknown layout always does. How: put each kind into an
 * empty batch and ask. */
Test(store_rocks_sync, each_kind_of_record)
{
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK); /* the format records */
    st.ops->put(st.impl, "k", 1, "v", 1);
    st.ops->del(st.impl, "k", 1);
    cr_assert_not(ldi_rocks_batch_needs_sync(rocks));
    cr_assert_eq(ldi_rocks_batch_write(rocks, false), LD_OK);

    uint8_t v[65];
    meta(v, 1, 10);
    repl.ops->put(repl.impl, LD_REPL_KEY_META, 1, v, 65);
    cr_assert(ldi_rocks_batch_needs_sync(rocks), "the first meta record seen is synced");
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    meta(v, 1, 11);
    repl.ops->put(repl.impl, LD_REPL_KEY_META, 1, v, 65);
    cr_assert_not(ldi_rocks_batch_needs_sync(rocks), "commit_max alone");
    cr_assert_eq(ldi_rocks_batch_write(rocks, false), LD_OK);
    meta(v, 2, 11);
    repl.ops->put(repl.impl, LD_REPL_KEY_META, 1, v, 65);
    cr_assert(ldi_rocks_batch_needs_sync(rocks), "a new view");
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    v[0] = 2;
    repl.ops->put(repl.impl, LD_REPL_KEY_META, 1, v, 65);
    cr_assert(ldi_rocks_batch_needs_sync(rocks), "another version");
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    repl.ops->put(repl.impl, LD_REPL_KEY_META, 1, v, 64);
    cr_assert(ldi_rocks_batch_needs_sync(rocks), "another length");
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);

    static const uint8_t key[9] = {'L', 0, 0, 0, 0, 0, 0, 0, 1};
    repl.ops->put(repl.impl, key, sizeof key, "e", 1);
    cr_assert(ldi_rocks_batch_needs_sync(rocks), "a log entry");
    cr_assert_eq(ldi_rocks_batch_write(rocks, true), LD_OK);
    repl.ops->del(repl.impl, key, sizeof key);
    cr_assert(ldi_rocks_batch_needs_sync(rocks), "a log deletion");
    ldi_rocks_batch_clear(rocks);
    cr_assert_not(ldi_rocks_batch_needs_sync(rocks));
}
