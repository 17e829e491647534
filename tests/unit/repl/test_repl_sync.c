/*
 * test_repl_sync.c -- catching up (shard/repl/repl_sync.c): repair of a gap by GetPrepare, state
 * transfer when the log a backup needs was trimmed, a replica without its disk recovering
 * without ever voting or acking, log trimming, and junk messages.
 */
#include "repl_fixture.h"

static uint64_t want_op;

static bool
all_applied(rf_cluster *c)
{
    return rf_same_state(c, want_op);
}

Test(repl_sync, gap_is_repaired_by_get_prepare)
{
    /* Goal: a backup that gets op 2 without op 1 asks for op 1 by checksum at once and applies
     * both. Method: cut 0 -> 2 for the first prepare only, then prepare op 2 with the link up;
     * the repair (asked in the round op 2 arrives) beats the 50 ms resend. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    c.cut[0][2] = true;
    cr_assert_eq(rf_prepare(&c, 0, 1, 33), LD_OK);
    rf_flush(&c);
    rf_round(&c); /* op 1 lost on the way to 2 */
    c.cut[0][2] = false;
    cr_assert_eq(rf_prepare(&c, 0, 2, 33), LD_OK);
    rf_flush(&c);
    rf_round(&c); /* 2 gets op 2: a gap, asks for op 1 */
    cr_assert_eq(rf_state(&c, 2).op, 2);
    want_op = 2;
    cr_assert(rf_until(&c, all_applied, 10));
    ld_repl_stats st;
    ld_repl_stats_get(c.nodes[2].r, &st);
    cr_assert_geq(st.repairs, 1);
    rf_fini(&c);
}

Test(repl_sync, lagging_backup_catches_up_by_resends)
{
    /* Goal: a backup cut off for a while catches up (resends from its last ack) once healed.
     * Method: cut 0 <-> 2, commit 20 entries with backup 1, heal, run. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    c.cut[0][2] = c.cut[2][0] = true;
    for (uint32_t i = 1; i <= 20; i++) {
        while (!ld_repl_can_prepare(c.nodes[0].r))
            rf_round(&c);
        cr_assert_eq(rf_prepare(&c, 0, i, 20), LD_OK);
        rf_flush(&c);
    }
    rf_rounds(&c, 5);
    cr_assert_eq(c.nodes[0].applied, 20);
    cr_assert_eq(c.nodes[2].applied, 0);
    c.cut[0][2] = c.cut[2][0] = false;
    want_op = 20;
    cr_assert(rf_until(&c, all_applied, 200));
    rf_fini(&c);
}

Test(repl_sync, trimmed_log_leads_to_state_transfer)
{
    /* Goal: a backup whose missing entries were trimmed everywhere gets a checkpoint (in several
     * chunks when they are small), anchors its log there, and then follows prepares; its state
     * equals the others'. Method: log_retain = 4, cut 2 off, commit 100 entries (beyond the
     * window), heal, run; the logs of 0 and 1 start past op 90. */
    ld_repl_config cfg = {.log_retain = 4};
    rf_cluster c;
    rf_init(&c, 3, &cfg);
    for (uint32_t a = 0; a < 2; a++)
        c.cut[a][2] = c.cut[2][a] = true;
    for (uint32_t i = 1; i <= 100; i++) {
        while (!ld_repl_can_prepare(c.nodes[0].r))
            rf_round(&c);
        cr_assert_eq(rf_prepare(&c, 0, i, 40), LD_OK);
        rf_flush(&c);
    }
    rf_rounds(&c, 5);
    cr_assert_eq(c.nodes[0].applied, 100);
    cr_assert_geq(rf_state(&c, 0).log_start, 90, "trimmed to commit_min - log_retain");
    for (uint32_t a = 0; a < 2; a++)
        c.cut[a][2] = c.cut[2][a] = false;
    want_op = 100;
    cr_assert(rf_until(&c, all_applied, 300));
    ld_repl_stats st;
    ld_repl_stats_get(c.nodes[2].r, &st);
    cr_assert_geq(st.state_transfers, 1);
    cr_assert_geq(rf_state(&c, 2).log_start, 90);
    /* and it keeps following */
    cr_assert_eq(rf_prepare(&c, 0, 101, 40), LD_OK);
    rf_flush(&c);
    want_op = 101;
    cr_assert(rf_until(&c, all_applied, 30));
    /* a restart after the transfer opens from the anchor */
    rf_crash(&c, 2);
    cr_assert_eq(rf_open(&c, 2), LD_OK);
    cr_assert(rf_until(&c, all_applied, 100));
    rf_fini(&c);
}

static bool
recovered(rf_cluster *c)
{
    return rf_state(c, 2).status == LD_REPL_NORMAL && rf_same_state(c, want_op);
}

Test(repl_sync, wiped_replica_recovers_without_voting_or_acking)
{
    /* Goal: a replica that lost its disk starts RECOVERING, sends no StartViewChange, DoViewChange
     * or PrepareOk until it has installed a checkpoint and the view's StartView, then is a normal
     * backup with the same state. Method: commit 10, wipe 2, reopen it, run; count what it sent
     * while recovering. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    for (uint32_t i = 1; i <= 10; i++) {
        while (!ld_repl_can_prepare(c.nodes[0].r))
            rf_round(&c);
        cr_assert_eq(rf_prepare(&c, 0, i, 25), LD_OK);
        rf_flush(&c);
    }
    want_op = 10;
    cr_assert(rf_until(&c, all_applied, 30));
    rf_wipe(&c, 2);
    cr_assert_eq(rf_open(&c, 2), LD_OK);
    cr_assert_eq(rf_state(&c, 2).status, LD_REPL_RECOVERING);
    bool was_normal = false;
    for (int i = 0; i < 300 && !recovered(&c); i++) {
        rf_round(&c);
        if (rf_state(&c, 2).status == LD_REPL_RECOVERING) {
            cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_START_VIEW_CHANGE], 0);
            cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_DO_VIEW_CHANGE], 0);
            cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_PREPARE_OK], 0);
        } else {
            was_normal = true;
        }
    }
    cr_assert(recovered(&c));
    (void)was_normal;
    ld_repl_stats st;
    ld_repl_stats_get(c.nodes[2].r, &st);
    cr_assert_geq(st.state_transfers, 1);
    /* it is a working member: with 1 down, 0 and 2 still commit */
    rf_crash(&c, 1);
    cr_assert_eq(rf_prepare(&c, 0, 11, 25), LD_OK);
    rf_flush(&c);
    want_op = 11;
    cr_assert(rf_until(&c, all_applied, 50));
    rf_fini(&c);
}

Test(repl_sync, wiped_replica_crashing_mid_recovery_recovers_again)
{
    /* Goal: a recovering replica writes no meta before it has the view's StartView, so a crash
     * in the middle restarts the recovery rather than leaving a replica that could vote.
     * Method: wipe 2, reopen, run a few rounds (probes answered, transfer started), crash,
     * reopen: still RECOVERING; then it recovers. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    cr_assert_eq(rf_prepare(&c, 0, 1, 25), LD_OK);
    rf_flush(&c);
    want_op = 1;
    cr_assert(rf_until(&c, all_applied, 30));
    rf_wipe(&c, 2);
    cr_assert_eq(rf_open(&c, 2), LD_OK);
    rf_rounds(&c, 3);
    rf_crash(&c, 2);
    cr_assert_eq(rf_open(&c, 2), LD_OK);
    cr_assert_eq(rf_state(&c, 2).status, LD_REPL_RECOVERING);
    cr_assert(rf_until(&c, recovered, 300));
    rf_fini(&c);
}

Test(repl_sync, junk_messages_are_dropped_and_counted)
{
    /* Goal: on_message never crashes on nonsense fields and counts what it refuses. Method: a
     * deterministic stream of messages with random kinds and fields (headers, bytes, ops,
     * views, checksums) into every replica of a running cluster, with rounds in between. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    uint8_t bytes[64];
    ld_entry_header hs[LD_PEER_DVC_HEADERS_MAX];
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ld_repl_msg m;
        memset(&m, 0, sizeof m);
        m.kind = (ld_repl_kind)(1 + x % 10);
        m.cluster_id = (x >> 8) % 16 ? RF_CLUSTER : x;
        m.shard_id = (x >> 12) % 16 ? RF_SHARD : (uint32_t)x;
        m.replica = (uint32_t)((x >> 16) % 4);
        m.view = (x >> 20) % 4;
        m.op = (x >> 24) % 8;
        m.commit = (x >> 28) % 8;
        m.log_view = (x >> 32) % 3;
        m.commit_min = (x >> 34) % 8;
        m.suffix_from = (x >> 36) % 8;
        m.entry.op = (x >> 40) % 8;
        m.entry.view = (x >> 44) % 3;
        m.entry.entry_size = (uint32_t)((x >> 46) % 4);
        for (unsigned k = 0; k < sizeof bytes; k++)
            bytes[k] = (uint8_t)(x >> (k % 56));
        m.bytes = bytes;
        m.bytes_len = (uint32_t)((x >> 50) % 4);
        m.headers_len = (uint32_t)((x >> 52) % 4);
        for (unsigned k = 0; k < m.headers_len; k++) {
            hs[k].op = m.op - k;
            hs[k].view = (x >> (k + 3)) % 2;
            memset(hs[k].checksum.b, (int)k, 16);
            memset(hs[k].parent.b, (int)k + 1, 16);
            hs[k].entry_size = 0;
        }
        m.headers = hs;
        m.has_nonce = (x >> 54) & 1;
        m.min_op = (x >> 55) % 3;
        m.offset = (x >> 57) % 3;
        m.total_bytes = (x >> 59) % 5;
        if (m.kind == LD_REPL_PREPARE && (x >> 61) % 2) {
            /* a well-formed checksum, so the prepare reaches the log logic */
            m.entry.entry_size = m.bytes_len;
            m.entry.checksum =
                ld_repl_entry_checksum(RF_CLUSTER, RF_SHARD, &m.entry, m.bytes, m.bytes_len);
        }
        uint32_t to = (uint32_t)(x % 3);
        if (m.replica == to)
            m.replica = (to + 1) % 3;
        ld_repl_on_message(c.nodes[to].r, &m, c.now);
        ld_repl_on_tick(c.nodes[to].r, c.now);
        if (i % 100 == 0)
            rf_round(&c);
    }
    ld_repl_stats st;
    ld_repl_stats_get(c.nodes[0].r, &st);
    cr_assert_gt(st.dropped, 0);
    rf_fini(&c);
}

/* Drops the prepares from -> to in flight (the link stays up for everything else). */
static void
drop_prepares_in_flight(rf_cluster *c, uint32_t from, uint32_t to)
{
    size_t keep = 0;
    for (size_t k = 0; k < c->flight_len; k++) {
        rf_msg *m = &c->flight[k];
        bool drop = false;
        if (m->from == from && m->to == to) {
            ld_repl_msg_buf buf;
            cr_assert_eq(ld_repl_msg_unpack(m->frame, m->len, &buf), LD_OK);
            drop = buf.msg.kind == LD_REPL_PREPARE;
            ld_repl_msg_buf_done(&buf);
        }
        if (drop)
            rf_msg_free(m);
        else
            c->flight[keep++] = *m;
    }
    c->flight_len = keep;
}

/* present_op of the DoViewChange replica `from` has in flight, or UINT64_MAX if none. */
static uint64_t
dvc_present_in_flight(rf_cluster *c, uint32_t from, uint64_t *op_out)
{
    for (size_t k = 0; k < c->flight_len; k++) {
        rf_msg *m = &c->flight[k];
        if (m->from != from)
            continue;
        ld_repl_msg_buf buf;
        cr_assert_eq(ld_repl_msg_unpack(m->frame, m->len, &buf), LD_OK);
        uint64_t present = UINT64_MAX;
        if (buf.msg.kind == LD_REPL_DO_VIEW_CHANGE) {
            present = buf.msg.present_op;
            *op_out = buf.msg.op;
        }
        ld_repl_msg_buf_done(&buf);
        if (present != UINT64_MAX)
            return present;
    }
    return UINT64_MAX;
}

Test(repl_sync, recovered_replica_counts_entries_it_may_have_acked_as_present)
{
    /* Goal: a replica recovered from a wiped disk may have acknowledged, before the wipe, entries
     * whose bodies it no longer holds; its DoViewChange reports present_op >= the head of the
     * StartView it recovered with (lost_op, durable in meta: also after a restart), so the nack
     * rule never takes those entries for unheld and truncates a committed one (S5 of the
     * simulator, seed 13201 --rf 3). The view then forms only with their bodies, here once the
     * old primary is back. Method: commit 2; wipe and reopen 2; prepare 3 and 4 with 0 -> 1 cut
     * (not committed: 2 is recovering); drop every prepare 0 -> 2 until 2 is normal at op 4 (the
     * StartView's headers, no bodies), then cut 0 <-> 2;
     * restart 2, crash 0, heal 1 <-> 2: 2's DVC says present_op 4 with applied op 2; bring 0
     * back: the view keeps ops 3 and 4 and every replica applies them. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    cr_assert_eq(rf_prepare(&c, 0, 1, 20), LD_OK);
    cr_assert_eq(rf_prepare(&c, 0, 2, 20), LD_OK);
    rf_flush(&c);
    want_op = 2;
    cr_assert(rf_until(&c, all_applied, 20));
    rf_wipe(&c, 2);
    cr_assert_eq(rf_open(&c, 2), LD_OK);
    c.cut[0][1] = true;
    cr_assert_eq(rf_prepare(&c, 0, 3, 20), LD_OK);
    cr_assert_eq(rf_prepare(&c, 0, 4, 20), LD_OK);
    rf_flush(&c);
    bool normal = false;
    for (int i = 0; i < 300 && !normal; i++) {
        drop_prepares_in_flight(&c, 0, 2);
        rf_round(&c);
        normal = rf_state(&c, 2).status == LD_REPL_NORMAL;
    }
    cr_assert(normal, "2 recovered");
    c.cut[0][2] = c.cut[2][0] = true; /* its repair of ops 3 and 4 is never answered */
    cr_assert_eq(rf_state(&c, 2).op, 4);
    cr_assert_eq(c.nodes[2].applied, 2);
    rf_round(&c);
    rf_crash(&c, 2);
    cr_assert_eq(rf_open(&c, 2), LD_OK);
    rf_crash(&c, 0);
    uint64_t present = UINT64_MAX, op = 0;
    for (int i = 0; i < 300 && present == UINT64_MAX; i++) {
        rf_round(&c);
        present = dvc_present_in_flight(&c, 2, &op);
    }
    cr_assert_eq(op, 4);
    cr_assert_eq(c.nodes[2].applied, 2);
    cr_assert_eq(present, 4, "the entries it may have acked before the wipe count as present");
    cr_assert_eq(rf_open(&c, 0), LD_OK);
    memset(c.cut, 0, sizeof c.cut);
    want_op = 4;
    cr_assert(rf_until(&c, all_applied, 500), "ops 3 and 4 survive and commit");
    rf_fini(&c);
}

static void
commit_entries(rf_cluster *c, uint32_t p, uint32_t first, uint32_t count)
{
    for (uint32_t i = first; i < first + count; i++) {
        while (!ld_repl_can_prepare(c->nodes[p].r))
            rf_round(c);
        cr_assert_eq(rf_prepare(c, p, i, 30), LD_OK);
        rf_flush(c);
    }
}

/* The start both wipe tests share: 0 commits 10 entries everywhere; 2 loses its disk and
 * reopens; rounds run until it has installed its one checkpoint; then 2 is cut off from 0 and 1
 * (both ways). Returns 2's stats at that point. */
static ld_repl_stats
wipe_2_until_installed_then_cut(rf_cluster *c)
{
    commit_entries(c, 0, 1, 10);
    want_op = 10;
    cr_assert(rf_until(c, all_applied, 30));
    rf_wipe(c, 2);
    cr_assert_eq(rf_open(c, 2), LD_OK);
    ld_repl_stats st = {0};
    for (int i = 0; i < 100 && st.state_transfers == 0; i++) {
        rf_round(c);
        ld_repl_stats_get(c->nodes[2].r, &st);
    }
    cr_assert_eq(st.state_transfers, 1, "the checkpoint is installed");
    for (uint32_t a = 0; a < 2; a++)
        c->cut[a][2] = c->cut[2][a] = true;
    return st;
}

Test(repl_sync, wiped_replica_far_behind_after_its_checkpoint_fills_instead_of_transferring)
{
    /* Goal: a replica recovering from a lost disk that, once its checkpoint is installed, finds
     * the view's head more than LD_PEER_WINDOW_MAX ops ahead fetches the committed entries above
     * its checkpoint (GetPrepare without checksum, REPLICATION.md 6.1) and recovers with that one
     * checkpoint -- no second state transfer while the primary's log still holds the gap (under a
     * storm a transfer per StartView never ends: the bug this guards). While recovering it sends
     * no vote, DVC or PrepareOk. Method: commit 10; wipe 2 and reopen it; run until it has
     * installed its checkpoint; cut it off while 0 and 1 commit 150 more (2.3 windows); heal; it
     * must be normal with everybody's state, one transfer, >= 140 entries filled. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    ld_repl_stats st = wipe_2_until_installed_then_cut(&c);
    cr_assert_eq(rf_state(&c, 2).status, LD_REPL_RECOVERING);
    commit_entries(&c, 0, 11, 150);
    rf_rounds(&c, 5);
    cr_assert_eq(c.nodes[0].applied, 160);
    cr_assert_eq(c.nodes[2].applied, 10);
    memset(c.cut, 0, sizeof c.cut);
    want_op = 160;
    for (int i = 0; i < 300 && !recovered(&c); i++) {
        rf_round(&c);
        if (rf_state(&c, 2).status == LD_REPL_RECOVERING) {
            cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_START_VIEW_CHANGE], 0);
            cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_DO_VIEW_CHANGE], 0);
            cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_PREPARE_OK], 0);
        }
    }
    cr_assert(recovered(&c), "2 is a normal backup at op 160 with the others' state");
    ld_repl_stats_get(c.nodes[2].r, &st);
    cr_assert_eq(st.state_transfers, 1, "no second transfer (%lu)",
                 (unsigned long)st.state_transfers);
    cr_assert_geq(st.fills, 140, "the gap was filled (%lu)", (unsigned long)st.fills);
    cr_assert_geq(rf_state(&c, 2).lost_op, 150, "lost_op is the head it recovered with");
    /* and it is a working member: with 1 down, 0 and 2 still commit */
    rf_crash(&c, 1);
    commit_entries(&c, 0, 161, 1);
    want_op = 161;
    cr_assert(rf_until(&c, all_applied, 50));
    rf_fini(&c);
}

Test(repl_sync, recovering_replica_rejoins_through_the_primary_while_a_probe_round_lacks_an_answer)
{
    /* Goal: a replica recovering from a lost disk that has installed its checkpoint and caught up
     * with an idle primary becomes a normal backup through that primary's StartView even when a
     * VC_TIMEOUT without StartView sent it probing again and the other backup's answer never
     * comes (REPLICATION.md 7.3). Before, the timeout cleared its "installed" state: it asked
     * nobody for a StartView and ignored the primary's until a round with f+1 answers completed,
     * so it stayed recovering at the primary's commit. Method: commit 10; wipe 2 and reopen it;
     * the round it installs its checkpoint, cut 2 off (no StartView reaches it) for 80 rounds
     * (800 ms > VC_TIMEOUT); heal only 0 <-> 2 (1 <-> 2 stays cut); 2 must be normal with 0's
     * state within 50 rounds, having sent no vote, DVC or PrepareOk while recovering; then 0 and 2
     * alone commit a new entry. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    ld_repl_stats st = wipe_2_until_installed_then_cut(&c);
    rf_rounds(&c, 80);
    cr_assert_eq(rf_state(&c, 2).status, LD_REPL_RECOVERING);
    cr_assert_eq(c.nodes[2].applied, 10, "caught up with the idle primary");
    c.cut[0][2] = c.cut[2][0] = false;
    for (int i = 0; i < 50 && rf_state(&c, 2).status == LD_REPL_RECOVERING; i++) {
        rf_round(&c);
        if (rf_state(&c, 2).status != LD_REPL_RECOVERING)
            break;
        cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_START_VIEW_CHANGE], 0);
        cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_DO_VIEW_CHANGE], 0);
        cr_assert_eq(c.nodes[2].sent_kinds[LD_REPL_PREPARE_OK], 0);
    }
    ld_repl_state s2 = rf_state(&c, 2);
    cr_assert_eq(s2.status, LD_REPL_NORMAL, "2 rejoined through the primary's StartView");
    cr_assert_eq(s2.view, rf_state(&c, 0).view);
    cr_assert(rf_same_state(&c, 10));
    ld_repl_stats_get(c.nodes[2].r, &st);
    cr_assert_eq(st.state_transfers, 1, "no second transfer");
    /* 0 and 2 are a quorum without 1 */
    for (uint32_t a = 0; a < 3; a++)
        c.cut[a][1] = c.cut[1][a] = true;
    commit_entries(&c, 0, 11, 1);
    for (int i = 0; i < 50 && (c.nodes[0].applied < 11 || c.nodes[2].applied < 11); i++)
        rf_round(&c);
    cr_assert_eq(c.nodes[0].applied, 11);
    cr_assert_eq(c.nodes[2].applied, 11);
    rf_fini(&c);
}

/* The GetPrepare answers (Prepare) in flight to replica `to`: count, and how many say committed. */
static uint32_t
prepares_to(rf_cluster *c, uint32_t to, uint32_t *committed)
{
    uint32_t n = 0;
    *committed = 0;
    for (size_t k = 0; k < c->out_len; k++) {
        ld_repl_msg_buf buf;
        if (c->out[k].to != to || ld_repl_msg_unpack(c->out[k].frame, c->out[k].len, &buf))
            continue;
        if (buf.msg.kind == LD_REPL_PREPARE) {
            n++;
            *committed += buf.msg.committed;
        }
        ld_repl_msg_buf_done(&buf);
    }
    return n;
}

Test(repl_sync, get_prepare_without_checksum_answers_only_applied_entries)
{
    /* Goal: a GetPrepare without checksum asks for the COMMITTED entry at op (REPLICATION.md
     * 6.1): a replica answers it (Prepare.committed) only for an op it applied, never for an
     * entry it merely holds. Method: 0 prepares op 1 with both links cut (held, not committed);
     * ask it for op 1 without checksum as replica 1: no answer; heal, commit; ask again: one
     * Prepare with committed set. */
    rf_cluster c;
    rf_init(&c, 3, NULL);
    c.cut[0][1] = c.cut[0][2] = true;
    cr_assert_eq(rf_prepare(&c, 0, 1, 30), LD_OK);
    rf_flush(&c);
    rf_round(&c);
    cr_assert_eq(rf_state(&c, 0).op, 1);
    cr_assert_eq(rf_state(&c, 0).commit_min, 0);
    ld_repl_msg gp = {.kind = LD_REPL_GET_PREPARE,
                      .cluster_id = RF_CLUSTER,
                      .shard_id = RF_SHARD,
                      .replica = 1,
                      .view = 0,
                      .op = 1,
                      .has_checksum = false};
    size_t before = c.out_len;
    ld_repl_on_message(c.nodes[0].r, &gp, c.now);
    uint32_t committed = 0;
    cr_assert_eq(c.out_len, before, "an entry not applied is not answered");
    memset(c.cut, 0, sizeof c.cut);
    want_op = 1;
    cr_assert(rf_until(&c, all_applied, 30));
    ld_repl_on_message(c.nodes[0].r, &gp, c.now);
    cr_assert_eq(prepares_to(&c, 1, &committed), 1);
    cr_assert_eq(committed, 1, "the answer says committed");
    rf_fini(&c);
}
