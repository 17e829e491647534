/*
 * test_repl_vc.c -- view change (shard/repl/repl_vc.c): a new primary after the old one falls
 * silent keeps every committed entry (also one only the primary knew committed), the deposed
 * primary rejoins as a backup, a cut-off replica's votes move nobody, a restarted primary steps
 * aside.
 */
#include "repl_fixture.h"

static uint64_t want_op;

static bool
all_applied(rf_cluster *c)
{
    return rf_same_state(c, want_op);
}

static bool
has_primary(rf_cluster *c)
{
    return rf_primary(c) >= 0;
}

static bool
new_primary(rf_cluster *c)
{
    int p = rf_primary(c);
    return p >= 0 && rf_state(c, (uint32_t)p).view > 0;
}

Test(repl_vc, primary_silence_elects_a_new_primary_that_keeps_committed_entries)
{
    /* Goal: after the primary crashes, the backups form view 1 within about VC_TIMEOUT, keep
     * the committed entries, accept new ones, and the old primary rejoins as a backup. Method:
     * commit 5, crash 0, run until a primary of a view > 0, prepare 2 more there, restart 0. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    for (uint32_t i = 1; i <= 5; i++)
        cr_assert_eq(rf_prepare(&c, 0, i, 30), LD_OK);
    rf_flush(&c);
    want_op = 5;
    cr_assert(rf_until(&c, all_applied, 20));
    uint64_t hash5 = c.nodes[1].hash;
    rf_crash(&c, 0);
    int64_t t0 = c.now;
    cr_assert(rf_until(&c, new_primary, 200), "a new view forms");
    cr_assert_leq(c.now - t0, 3 * LD_PEER_VC_TIMEOUT_MS, "within a few VC_TIMEOUTs");
    int p = rf_primary(&c);
    cr_assert_eq(p, 1, "primary(1) = 1");
    cr_assert_eq(c.nodes[1].hash, hash5);
    cr_assert_eq(rf_prepare(&c, 1, 6, 30), LD_OK);
    cr_assert_eq(rf_prepare(&c, 1, 7, 30), LD_OK);
    rf_flush(&c);
    want_op = 7;
    cr_assert(rf_until(&c, all_applied, 30));
    cr_assert_eq(rf_open(&c, 0), LD_OK);
    cr_assert(rf_until(&c, all_applied, 100), "the old primary catches up");
    ld_repl_state s = rf_state(&c, 0);
    cr_assert_eq(s.status, LD_REPL_NORMAL);
    cr_assert_not(s.primary);
    cr_assert_eq(s.view, rf_state(&c, 1).view);
    rf_fini(&c);
}

Test(repl_vc, entry_committed_only_at_the_primary_survives_its_crash)
{
    /* Goal: S5 -- entries the primary committed (and a client heard of) after one backup's ack
     * survive the primary's crash even though no backup knew they were committed, and the
     * backup that never got them repairs them. Method: cut 0 -> 2, prepare 3, let backup 1 ack
     * and the primary commit, crash 0 before any commit reaches 1, run the view change. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    c.cut[0][2] = true;
    for (uint32_t i = 1; i <= 3; i++)
        cr_assert_eq(rf_prepare(&c, 0, i, 50), LD_OK);
    rf_flush(&c);
    rf_round(&c); /* backup 1 writes and acks */
    rf_round(&c); /* the primary commits */
    cr_assert_eq(c.nodes[0].applied, 3);
    cr_assert_eq(rf_state(&c, 1).commit_max, 0, "backup 1 does not know yet");
    uint64_t hash3 = c.nodes[0].hash;
    rf_crash(&c, 0);
    c.cut[0][2] = false;
    cr_assert(rf_until(&c, new_primary, 200));
    want_op = 3;
    cr_assert(rf_until(&c, all_applied, 100));
    cr_assert_eq(c.nodes[1].hash, hash3);
    cr_assert_eq(c.nodes[2].hash, hash3);
    rf_fini(&c);
}

Test(repl_vc, deposed_primary_stops_and_rejoins_the_new_view)
{
    /* Goal: a primary cut off from both backups loses its lease, cannot commit, and after the
     * heal learns the new view from its messages and becomes its backup; its uncommitted entry
     * is dropped and every replica ends with the same state. Method: commit 2, cut 0 both ways,
     * prepare 1 on 0 (never acked), run until 1 leads view 1 and commits 2 more, heal. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    cr_assert_eq(rf_prepare(&c, 0, 1, 16), LD_OK);
    cr_assert_eq(rf_prepare(&c, 0, 2, 16), LD_OK);
    rf_flush(&c);
    want_op = 2;
    cr_assert(rf_until(&c, all_applied, 20));
    for (uint32_t b = 1; b < 3; b++)
        c.cut[0][b] = c.cut[b][0] = true;
    cr_assert_eq(rf_prepare(&c, 0, 99, 16), LD_OK);
    rf_flush(&c);
    int64_t t0 = c.now;
    bool formed = false;
    for (int i = 0; i < 200 && !formed; i++) {
        rf_round(&c);
        ld_repl_state s1 = rf_state(&c, 1);
        formed = s1.primary && s1.view > 0;
        if (c.now - t0 > LD_PEER_LEASE_MS + 2 * RF_TICK)
            cr_assert_not(ld_repl_can_read(c.nodes[0].r, c.now), "old primary lost its lease");
    }
    cr_assert(formed);
    cr_assert_not(ld_repl_can_read(c.nodes[0].r, c.now));
    cr_assert_eq(c.nodes[0].applied, 2, "its own entry never committed");
    cr_assert_eq(rf_prepare(&c, 1, 3, 16), LD_OK);
    cr_assert_eq(rf_prepare(&c, 1, 4, 16), LD_OK);
    rf_flush(&c);
    rf_rounds(&c, 5);
    for (uint32_t b = 1; b < 3; b++)
        c.cut[0][b] = c.cut[b][0] = false;
    want_op = 4;
    cr_assert(rf_until(&c, all_applied, 200), "the old primary adopts the new view's log");
    ld_repl_state s0 = rf_state(&c, 0);
    cr_assert_not(s0.primary);
    cr_assert_eq(s0.view, rf_state(&c, 1).view);
    cr_assert_eq(s0.op, 4, "its uncommitted entry was truncated");
    rf_fini(&c);
}

Test(repl_vc, a_cut_off_replica_votes_alone_and_moves_nobody)
{
    /* Goal: the pre-vote: a replica that hears no primary votes again and again but never moves
     * to a view alone, and does not push the others out of a working view. Method: cut 2 off
     * both ways for 10 VC_TIMEOUTs; the others stay in view 0; heal; 2 follows view 0. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    for (uint32_t a = 0; a < 2; a++)
        c.cut[a][2] = c.cut[2][a] = true;
    rf_rounds(&c, 10 * LD_PEER_VC_TIMEOUT_MS / RF_TICK);
    cr_assert_eq(rf_state(&c, 2).view, 0, "no view of its own");
    cr_assert_eq(rf_state(&c, 2).status, LD_REPL_NORMAL);
    cr_assert_eq(rf_state(&c, 0).view, 0);
    cr_assert(rf_state(&c, 0).primary);
    for (uint32_t a = 0; a < 2; a++)
        c.cut[a][2] = c.cut[2][a] = false;
    /* its stale votes reach the others now: still no view change */
    cr_assert_eq(rf_prepare(&c, 0, 1, 9), LD_OK);
    rf_flush(&c);
    want_op = 1;
    cr_assert(rf_until(&c, all_applied, 50));
    rf_rounds(&c, LD_PEER_VC_TIMEOUT_MS / RF_TICK);
    cr_assert_eq(rf_state(&c, 0).view, 0);
    cr_assert(rf_state(&c, 0).primary);
    rf_fini(&c);
}

Test(repl_vc, restarted_primary_steps_aside_and_the_next_view_forms)
{
    /* Goal: a primary that restarts with its disk does not resume as primary (it votes for the
     * next view at once), the next view forms and keeps the committed entries. Method: commit 3,
     * crash and reopen 0 at once, run until a primary of a view > 0. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    for (uint32_t i = 1; i <= 3; i++)
        cr_assert_eq(rf_prepare(&c, 0, i, 20), LD_OK);
    rf_flush(&c);
    want_op = 3;
    cr_assert(rf_until(&c, all_applied, 20));
    rf_crash(&c, 0);
    cr_assert_eq(rf_open(&c, 0), LD_OK);
    cr_assert_not(rf_state(&c, 0).primary);
    cr_assert_eq(ld_repl_prepare(c.nodes[0].r, (const uint8_t *)"x", 1, c.now, c.now),
                 LD_ERR_NOT_PRIMARY);
    cr_assert(rf_until(&c, new_primary, 300));
    cr_assert(rf_until(&c, has_primary, 10));
    int p = rf_primary(&c);
    cr_assert_eq(rf_prepare(&c, (uint32_t)p, 4, 20), LD_OK);
    rf_flush(&c);
    want_op = 4;
    cr_assert(rf_until(&c, all_applied, 100));
    rf_fini(&c);
}

Test(repl_vc, a_gap_only_a_lost_replica_could_fill_is_truncated_and_the_view_forms)
{
    /* Goal: the nack rule covers a gap below best's suffix. Replica 2 holds op 4 but not op 3
     * (that prepare was lost), the primary -- the only holder of op 3 -- loses its disk, and
     * replica 1 got neither. No DVC sender holds op 3, so neither it nor op 4 was committed: the
     * new view truncates them and forms (before, every view asked for op 3 forever: S7 of the
     * simulator, seed 29). Method: commit 2; cut 0 -> 1; prepare 3 with 0 -> 2 cut, then 4 with
     * it up and 2 -> 0 cut (no repair from 0); wipe 0; heal; a primary of a view > 0 forms at op
     * 2 with the committed state and commits a new entry with the other backup. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    cr_assert_eq(rf_prepare(&c, 0, 1, 20), LD_OK);
    cr_assert_eq(rf_prepare(&c, 0, 2, 20), LD_OK);
    rf_flush(&c);
    want_op = 2;
    cr_assert(rf_until(&c, all_applied, 20));
    uint64_t hash2 = c.nodes[1].hash;
    c.cut[0][1] = c.cut[0][2] = true;
    cr_assert_eq(rf_prepare(&c, 0, 3, 20), LD_OK);
    rf_flush(&c);
    rf_round(&c); /* op 3 lost on the way to both */
    c.cut[0][2] = false;
    c.cut[2][0] = true;
    cr_assert_eq(rf_prepare(&c, 0, 4, 20), LD_OK);
    rf_flush(&c);
    rf_round(&c); /* 2 writes op 4 above a gap; its repair of op 3 cannot reach 0 */
    cr_assert_eq(rf_state(&c, 2).op, 4);
    cr_assert_eq(c.nodes[2].applied, 2);
    cr_assert_eq(rf_state(&c, 1).op, 2);
    rf_wipe(&c, 0);
    memset(c.cut, 0, sizeof c.cut);
    cr_assert(rf_until(&c, new_primary, 300), "a view forms without op 3");
    int p = rf_primary(&c);
    cr_assert(p == 1 || p == 2);
    cr_assert_eq(rf_state(&c, (uint32_t)p).op, 2, "ops 3 and 4 were truncated");
    cr_assert_eq(c.nodes[p].hash, hash2);
    cr_assert_eq(rf_prepare(&c, (uint32_t)p, 5, 20), LD_OK);
    rf_flush(&c);
    want_op = 3;
    cr_assert(rf_until(&c, all_applied, 50), "the new op 3 commits on 1 and 2");
    rf_fini(&c);
}
