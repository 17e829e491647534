/*
 * test_repl.c -- the replica's normal path (shard/repl/repl.c, shard/repl/repl_log.c): checksum,
 * format and open, RF=1 commit and restart, RF=3 commit at a quorum and not before, backups
 * applying the same entries, restarts with meta, the read lease.
 */
#include "repl_fixture.h"

Test(repl, checksum_covers_every_header_field_and_the_bytes)
{
    /* Goal: the §3.3 checksum changes with each field and with the bytes, and is stable.
     * Method: one base header, flip each field in turn, compare. */
    ld_entry_header h = {.op = 5, .view = 2, .timestamp_ms = 77, .entry_size = 3};
    h.parent.b[0] = 9;
    const uint8_t bytes[3] = {1, 2, 3};
    ld_checksum base = ld_repl_entry_checksum(1, 2, &h, bytes, 3);
    ld_checksum again = ld_repl_entry_checksum(1, 2, &h, bytes, 3);
    cr_assert_eq(memcmp(base.b, again.b, 16), 0);
    ld_checksum c;
    c = ld_repl_entry_checksum(2, 2, &h, bytes, 3);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "cluster");
    c = ld_repl_entry_checksum(1, 3, &h, bytes, 3);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "shard");
    ld_entry_header x = h;
    x.op = 6;
    c = ld_repl_entry_checksum(1, 2, &x, bytes, 3);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "op");
    x = h;
    x.view = 3;
    c = ld_repl_entry_checksum(1, 2, &x, bytes, 3);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "view");
    x = h;
    x.timestamp_ms = 78;
    c = ld_repl_entry_checksum(1, 2, &x, bytes, 3);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "ts");
    x = h;
    x.parent.b[15] = 1;
    c = ld_repl_entry_checksum(1, 2, &x, bytes, 3);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "parent");
    const uint8_t other[3] = {1, 2, 4};
    c = ld_repl_entry_checksum(1, 2, &h, other, 3);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "bytes");
    c = ld_repl_entry_checksum(1, 2, &h, bytes, 2);
    cr_assert_neq(memcmp(base.b, c.b, 16), 0, "length");
    x = h;
    c = ld_repl_entry_checksum(1, 2, &x, bytes, 3);
    cr_assert_eq(memcmp(base.b, c.b, 16), 0, "checksum field itself is ignored");
}

Test(repl, rf1_commits_inside_prepare_and_survives_restart)
{
    /* Goal: with n = 1 an entry is committed and applied before ld_repl_prepare returns, no
     * message is sent, and a restart re-applies what the state machine had not persisted.
     * Method: three prepares; reopen at applied_op = 3 (nothing to do), then at applied_op = 1
     * with the state of op 1 (ops 2 and 3 are applied again, same hash). */
    rf_cluster c;
    rf_init(&c, 1, NULL);
    rf_node *nd = &c.nodes[0];
    cr_assert(rf_state(&c, 0).primary);
    cr_assert(ld_repl_can_read(nd->r, c.now));
    uint64_t hash1 = 0;
    for (uint32_t i = 1; i <= 3; i++) {
        cr_assert_eq(ld_repl_next_op(nd->r), i);
        cr_assert_eq(rf_prepare(&c, 0, i, 10), LD_OK);
        cr_assert_eq(nd->applied, i, "applied inside prepare");
        if (i == 1)
            hash1 = nd->hash;
    }
    cr_assert_eq(c.out_len, 0, "no messages with n = 1");
    uint64_t hash3 = nd->hash;
    rf_flush(&c);
    ld_repl_free(nd->r);
    cr_assert_eq(rf_open(&c, 0), LD_OK);
    cr_assert_eq(nd->applies, 0, "nothing to re-apply at applied_op = op");
    ld_repl_free(nd->r);
    ld_repl_config cfg = {.cluster_id = RF_CLUSTER, .shard_id = RF_SHARD, .replica_count = 1};
    ld_repl_host host = {.arg = nd, .send = rf_host_send, .apply = rf_host_apply};
    uint8_t nonce[16] = {0};
    nd->applied = 1;
    nd->hash = hash1;
    nd->applies = 0;
    cr_assert_eq(ld_repl_open(&cfg, &nd->store, &host, 1, nonce, c.now, &nd->r), LD_OK);
    cr_assert_eq(nd->applies, 2, "ops 2 and 3 re-applied during open");
    cr_assert_eq(nd->hash, hash3);
    ld_repl_state s = rf_state(&c, 0);
    cr_assert(s.primary);
    cr_assert_eq(s.op, 3);
    cr_assert_eq(s.commit_max, 3);
    cr_assert_eq(rf_prepare(&c, 0, 4, 10), LD_OK);
    cr_assert_eq(nd->applied, 4);
    rf_fini(&c);
}

Test(repl, rf1_without_meta_refuses_to_open)
{
    /* Goal: a wiped single replica is LD_ERR_STORAGE (nobody to recover from); a corrupt meta
     * record is LD_ERR_STORAGE too, never an assert. Method: open an empty store, then one
     * holding a truncated meta record. */
    ld_store_mem *mem;
    cr_assert_eq(ld_store_mem_alloc(&mem), LD_OK);
    ld_store st = ld_store_mem_store(mem);
    rf_node nd = {0};
    ld_repl_config cfg = {.cluster_id = 1, .replica_count = 1};
    ld_repl_host host = {.arg = &nd, .send = rf_host_send, .apply = rf_host_apply};
    uint8_t nonce[16] = {0};
    ld_repl *r = NULL;
    cr_assert_eq(ld_repl_open(&cfg, &st, &host, 0, nonce, 0, &r), LD_ERR_STORAGE);
    st.ops->put(st.impl, "M", 1, "\x01\x02", 2);
    ld_store_mem_sync(mem);
    cfg.replica_count = 3;
    cr_assert_eq(ld_repl_open(&cfg, &st, &host, 0, nonce, 0, &r), LD_ERR_STORAGE);
    ld_store_mem_free(mem);
}

Test(repl, corrupt_log_record_is_a_storage_error)
{
    /* Goal: a log record whose body does not match its checksum, or that is truncated, fails
     * open with LD_ERR_STORAGE. Method: RF=1 with two entries; flip a body byte in the store. */
    rf_cluster c;
    rf_init(&c, 1, NULL);
    rf_node *nd = &c.nodes[0];
    cr_assert_eq(rf_prepare(&c, 0, 1, 10), LD_OK);
    cr_assert_eq(rf_prepare(&c, 0, 2, 10), LD_OK);
    rf_flush(&c);
    ld_repl_free(nd->r);
    nd->r = NULL;
    /* op 2's record replaced by one whose body does not match its (zero) checksum */
    uint8_t key[9] = {'L', 0, 0, 0, 0, 0, 0, 0, 2};
    ld_repl_config cfg = {.cluster_id = RF_CLUSTER, .shard_id = RF_SHARD, .replica_count = 1};
    ld_repl_host host = {.arg = nd, .send = rf_host_send, .apply = rf_host_apply};
    uint8_t nonce[16] = {0};
    uint8_t bad[60];
    memset(bad, 0, sizeof bad);
    bad[0] = 1;  /* version */
    bad[1] = 1;  /* has body */
    bad[50] = 6; /* entry_size 6: six zero bytes of body under a zero checksum */
    nd->store.ops->put(nd->store.impl, key, 9, bad, sizeof bad);
    ld_store_mem_sync(nd->mem);
    ld_repl *r = NULL;
    cr_assert_eq(ld_repl_open(&cfg, &nd->store, &host, 1, nonce, c.now, &r), LD_ERR_STORAGE);
    nd->store.ops->put(nd->store.impl, key, 9, bad, 20); /* truncated */
    ld_store_mem_sync(nd->mem);
    cr_assert_eq(ld_repl_open(&cfg, &nd->store, &host, 1, nonce, c.now, &r), LD_ERR_STORAGE);
    rf_fini(&c);
}

static uint64_t want_op;

static bool
all_applied(rf_cluster *c)
{
    return rf_same_state(c, want_op);
}

Test(repl, rf3_commits_at_a_quorum_and_not_before)
{
    /* Goal: the primary commits only once a backup's PrepareOk (sent after its synced write)
     * arrives; backups then learn the commit and apply the same entries. Method: prepare,
     * check nothing applied before delivery; one round delivers the prepare (backups write and
     * ack); the next delivers the acks (commit); then heartbeats carry the commit. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    cr_assert_eq(rf_primary(&c), 0);
    cr_assert_eq(rf_prepare(&c, 0, 1, 40), LD_OK);
    cr_assert_eq(c.nodes[0].applied, 0, "not committed at the primary's own write");
    rf_flush(&c);
    rf_round(&c); /* backups get the prepare, write, ack after their sync */
    cr_assert_eq(c.nodes[0].applied, 0);
    cr_assert_eq(rf_state(&c, 1).op, 1);
    cr_assert_eq(rf_state(&c, 1).commit_max, 0);
    rf_round(&c); /* acks arrive */
    cr_assert_eq(c.nodes[0].applied, 1, "committed at a quorum");
    cr_assert_eq(rf_state(&c, 0).commit_max, 1);
    want_op = 1;
    cr_assert(rf_until(&c, all_applied, 20), "backups learn the commit");
    /* a pipeline of entries */
    for (uint32_t i = 2; i <= 9; i++) {
        cr_assert(ld_repl_can_prepare(c.nodes[0].r));
        cr_assert_eq(rf_prepare(&c, 0, i, 20 + i), LD_OK);
    }
    cr_assert_not(ld_repl_can_prepare(c.nodes[0].r), "pipeline of LD_PEER_PIPELINE_MAX");
    cr_assert_eq(rf_prepare(&c, 0, 99, 5), LD_ERR_BUSY);
    rf_flush(&c);
    want_op = 9;
    cr_assert(rf_until(&c, all_applied, 20));
    cr_assert_eq(ld_repl_prepare(c.nodes[1].r, (const uint8_t *)"x", 1, c.now, c.now),
                 LD_ERR_NOT_PRIMARY);
    rf_fini(&c);
}

Test(repl, rf3_never_commits_without_a_backup)
{
    /* Goal: with both backups cut off the primary's entry stays uncommitted; one backup back
     * is enough (q = 2). Method: cut both links, prepare, run; heal one link, run. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    for (uint32_t b = 1; b < 3; b++)
        c.cut[0][b] = c.cut[b][0] = true;
    cr_assert_eq(rf_prepare(&c, 0, 1, 8), LD_OK);
    rf_flush(&c);
    rf_rounds(&c, 30);
    cr_assert_eq(c.nodes[0].applied, 0);
    cr_assert_eq(rf_state(&c, 0).commit_max, 0);
    c.cut[0][2] = c.cut[2][0] = false;
    rf_rounds(&c, 20); /* resend reaches backup 2 */
    cr_assert_eq(c.nodes[0].applied, 1);
    cr_assert_eq(c.nodes[2].applied, 1);
    cr_assert_eq(c.nodes[1].applied, 0, "backup 1 is still cut off");
    rf_fini(&c);
}

static bool
lease_held(rf_cluster *c)
{
    return ld_repl_can_read(c->nodes[0].r, c->now);
}

Test(repl, lease_needs_a_quorum_of_recent_acks)
{
    /* Goal: the primary can read only while a quorum acked a heartbeat within LEASE, and loses
     * the lease when cut off. Method: run until can_read, cut both backups, run past LEASE. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    cr_assert_not(ld_repl_can_read(c.nodes[0].r, c.now), "no acks yet");
    cr_assert(rf_until(&c, lease_held, 20));
    cr_assert_not(ld_repl_can_read(c.nodes[1].r, c.now), "a backup never reads linearizably");
    for (uint32_t b = 1; b < 3; b++)
        c.cut[0][b] = c.cut[b][0] = true;
    rf_rounds(&c, LD_PEER_LEASE_MS / RF_TICK + 2);
    cr_assert_not(ld_repl_can_read(c.nodes[0].r, c.now), "lease expired");
    rf_fini(&c);
}

Test(repl, restarted_backup_rejoins_after_start_view)
{
    /* Goal: a backup that restarts with its disk does not ack until the primary's StartView,
     * then catches up and applies the same entries. Method: commit 3 entries, crash backup 2,
     * commit 3 more, restart it, run. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    for (uint32_t i = 1; i <= 3; i++)
        cr_assert_eq(rf_prepare(&c, 0, i, 12), LD_OK);
    rf_flush(&c);
    want_op = 3;
    cr_assert(rf_until(&c, all_applied, 20));
    rf_crash(&c, 2);
    for (uint32_t i = 4; i <= 6; i++)
        cr_assert_eq(rf_prepare(&c, 0, i, 12), LD_OK);
    rf_flush(&c);
    rf_rounds(&c, 5);
    cr_assert_eq(c.nodes[0].applied, 6);
    cr_assert_eq(rf_open(&c, 2), LD_OK);
    cr_assert_eq(c.nodes[2].applied, 3, "its own durable state");
    ld_repl_state s = rf_state(&c, 2);
    cr_assert_eq(s.status, LD_REPL_NORMAL);
    cr_assert_eq(s.view, 0);
    want_op = 6;
    cr_assert(rf_until(&c, all_applied, 50));
    cr_assert_eq(rf_primary(&c), 0, "no view change was needed");
    rf_fini(&c);
}
