/*
 * test_replication.c -- real replicated processes under faults.
 *
 * Three livedrop-node processes on loopback form one RF=3 cluster (harness_cluster.h). A storm
 * of place_orders on one hot drop (harness_storm.h) runs through the client library with all
 * three addresses, so it follows NOT_PRIMARY redirects and fails over by itself. Faults are real
 * signals: SIGKILL, SIGSTOP / SIGCONT, and a wiped data directory. After each fault the suite
 * checks, on every live replica separately (follower reads, GetClusterStatus sent to that node),
 * that nothing acknowledged was lost or doubled and that the replicas converge to one state
 * digest. Every wait polls a condition against a deadline; nothing sleeps and hopes.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness_cluster.h"
#include "harness_storm.h"
#include "ld_limits.h"
#include "livedrop.pb-c.h"

TestSuite(replication, .fini = ldh_suite_fini, .timeout = 300);

#define REPL_N 3
#define REPL_ALL 0x7u
#define REPL_STORM_THREADS 16
#define REPL_STOCK 10000000
#define REPL_PROBE_STOCK 1000000
/* A storm call outlives a payment's failover (LD_CLIENT_FAILOVER_SLOW_TIMEOUT_MS) plus a view
 * change, so faults leave UNKNOWN outcomes only where a node really lost the answer. */
#define REPL_CALL_TIMEOUT_MS 30000
#define REPL_STORM_DEADLINE_MS 120000
#define REPL_PRIMARY_TIMEOUT_MS 20000
#define REPL_CONVERGE_TIMEOUT_MS 30000
/* Orders acknowledged before a fault / after it before the next step. */
#define REPL_ACKS_BEFORE 150
#define REPL_ACKS_AFTER 100
#define REPL_KILL_CYCLES 3
#define REPL_PROBE_CALL_MS 1000

/* Failover bound, kill -9 of the primary to the first reserve served by a new one: the backups
 * notice the silence after LD_PEER_VC_TIMEOUT_MS, a view change that stalls (a lost
 * StartViewChange or DoViewChange) is retried in the next view after another
 * LD_PEER_VC_TIMEOUT_MS, the new primary's first prepare needs a quorum round (far below
 * LD_PEER_LEASE_MS on loopback), and a loaded 2-core machine may delay each step's loop turn. */
#define REPL_FAILOVER_BOUND_MS                                                                     \
    (LD_PEER_VC_TIMEOUT_MS + 2 * LD_PEER_VC_TIMEOUT_MS + LD_PEER_LEASE_MS + 800)

/* ---- the cluster and its drops -------------------------------------------------------------- */

typedef struct repl_ctx {
    ldh_cluster c;
    ld_drop_spec hot;   /* the storm's drop */
    ld_drop_spec probe; /* direct reserves measuring failover and probing the old primary */
    ldh_attempts all;   /* every storm attempt so far */
    ldh_rng rng;
} repl_ctx;

static repl_ctx ctx;

static unsigned
live_mask(const ldh_cluster *c)
{
    unsigned m = 0;
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].pid != 0)
            m |= 1u << i;
    return m;
}

/* Starts three formatted nodes, waits for a primary, creates the hot and the probe drop. */
static void
repl_setup(void)
{
    memset(&ctx, 0, sizeof ctx);
    ldh_rng_init(&ctx.rng, ldh_seed());
    ldh_cluster_init(&ctx.c, REPL_N, 0);
    ldh_cluster_start_all(&ctx.c);
    ldh_cluster_wait_primary(&ctx.c, REPL_ALL, REPL_PRIMARY_TIMEOUT_MS);
    ld_client *client = ldh_client_try(ctx.c.addrs, REPL_CALL_TIMEOUT_MS, 0);
    cr_assert(client, "ld_client_open(%s)", ctx.c.addrs);
    ldh_drop_create_live(client, &ctx.hot, REPL_STOCK, 0, 0);
    ldh_drop_create_live(client, &ctx.probe, REPL_PROBE_STOCK, 0, 0);
    ld_client_close(client);
}

/* Every node must still be running (none died of an assertion or a sanitizer report) and must
 * stop cleanly on SIGTERM (exit 0, which under ASan includes the leak check). */
static void
repl_teardown(void)
{
    ldh_attempts_free(&ctx.all);
    for (int i = 0; i < ctx.c.n; i++)
        cr_assert(ldh_node_alive(&ctx.c.nodes[i]), "node %d died during the test", i + 1);
    for (int i = 0; i < ctx.c.n; i++)
        ldh_node_stop(&ctx.c.nodes[i], LDH_STOP_TIMEOUT_MS);
    ldh_cluster_destroy(&ctx.c);
}

static ldh_storm *
storm_start(void)
{
    return ldh_storm_start(ctx.c.addrs, &ctx.hot.id, REPL_STORM_THREADS, ldh_rand(&ctx.rng),
                           REPL_CALL_TIMEOUT_MS, ldh_mono_ms() + REPL_STORM_DEADLINE_MS);
}

/* Waits for `more` acknowledgements beyond what the storm had acked so far. */
static void
storm_wait_more(ldh_storm *s, long more, const char *what)
{
    long target = ldh_storm_acked(s) + more;
    bool ok = ldh_storm_wait_acked(s, target);
    if (!ok)
        ldh_cluster_print_status(&ctx.c);
    cr_assert(ok, "%s: only %ld of %ld orders acknowledged before the storm's deadline", what,
              ldh_storm_acked(s), target);
}

/* P1 on one drop as every node of `mask` holds it (follower reads, each node asked directly). */
static void
assert_stock_everywhere(unsigned mask, const ld_drop_spec *drop, int64_t sold_min)
{
    for (int i = 0; i < ctx.c.n; i++) {
        if (!(mask >> i & 1u))
            continue;
        ldh_stock st;
        ld_err err = ldh_cluster_follower_stock(&ctx.c, i, &drop->id, &st, 5000);
        cr_assert_eq(err, LD_OK, "node %d: follower read of the drop: %s", i + 1, ld_err_name(err));
        cr_assert_eq(st.initial, drop->initial_stock, "node %d: initial stock", i + 1);
        cr_assert(st.available >= 0 && st.reserved >= 0 && st.sold >= 0,
                  "node %d: negative stock %lld/%lld/%lld", i + 1, (long long)st.available,
                  (long long)st.reserved, (long long)st.sold);
        cr_assert_eq(st.available + st.reserved + st.sold, st.initial,
                     "node %d: P1 broken: available %lld + reserved %lld + sold %lld != %lld",
                     i + 1, (long long)st.available, (long long)st.reserved, (long long)st.sold,
                     (long long)st.initial);
        cr_assert_geq(st.sold, sold_min, "node %d: sold %lld < %lld units acknowledged", i + 1,
                      (long long)st.sold, (long long)sold_min);
    }
}

/* Highest `applied` among the nodes of mask (what a converged cluster must at least reach). */
static uint64_t
max_applied(unsigned mask)
{
    uint64_t top = 0;
    for (int i = 0; i < ctx.c.n; i++) {
        if (!(mask >> i & 1u))
            continue;
        ldh_rstatus st = ldh_cluster_status(&ctx.c, i, 1000);
        if (st.ok && st.applied > top)
            top = st.applied;
    }
    return top;
}

/* After a storm stopped: every acknowledged order is readable as acknowledged, the live nodes
 * converge to one digest, and each of them keeps P1 with at least the acknowledged units sold. */
static void
verify_and_converge(unsigned mask)
{
    ldh_storm_verify(ctx.c.addrs, &ctx.hot.id, &ctx.all);
    uint64_t applied =
        ldh_cluster_wait_converged(&ctx.c, mask, max_applied(mask), REPL_CONVERGE_TIMEOUT_MS);
    cr_log_info("nodes 0x%x converged at op %llu", mask, (unsigned long long)applied);
    int64_t acked = ldh_storm_acked_qty(&ctx.all);
    assert_stock_everywhere(mask, &ctx.hot, acked);
    assert_stock_everywhere(mask, &ctx.probe, 0);
}

/* The end of every test: each key retried once more gives its first order back and the counters
 * equal the sum over keys exactly (none lost, none doubled); then one digest everywhere. */
static void
final_checks(void)
{
    ldh_storm_retry(ctx.c.addrs, &ctx.hot.id, &ctx.all);
    ld_client *client = ldh_client_try(ctx.c.addrs, REPL_CALL_TIMEOUT_MS, 0);
    cr_assert(client);
    ldh_storm_check_totals(client, &ctx.hot.id, &ctx.all);
    ld_client_close(client);
    unsigned mask = live_mask(&ctx.c);
    ldh_cluster_wait_converged(&ctx.c, mask, max_applied(mask), REPL_CONVERGE_TIMEOUT_MS);
    assert_stock_everywhere(mask, &ctx.hot, ldh_storm_acked_qty(&ctx.all));
}

/* Sends direct reserves on the probe drop (fresh key each) to the nodes of mask in turn until
 * one answers LD_OK; returns the ms from t0 to that answer. Fails the test after `bound_ms`
 * plus a margin for the diagnostics (the caller asserts the bound itself). */
static int64_t
probe_until_served(unsigned mask, int64_t t0, int64_t bound_ms)
{
    int64_t give_up = t0 + bound_ms + 10000;
    ld_id user = ldh_id();
    ld_err last = LD_OK;
    while (ldh_mono_ms() < give_up) {
        for (int i = 0; i < ctx.c.n; i++) {
            if (!(mask >> i & 1u))
                continue;
            char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
            ldh_key(&ctx.rng, "probe", key, sizeof key);
            last = ldh_cluster_direct_reserve(&ctx.c, i, &ctx.probe.id, &user, key,
                                              REPL_PROBE_CALL_MS);
            if (last == LD_OK)
                return ldh_mono_ms() - t0;
        }
        ldh_sleep_ms(5);
    }
    ldh_cluster_print_status(&ctx.c);
    cr_assert_fail("no node of 0x%x served a reserve within %lld ms (last: %s)", mask,
                   (long long)(give_up - t0), ld_err_name(last));
    return -1;
}

/* The earliest acknowledgement after t0 among the attempts from index `from` on. */
static int64_t
first_ack_after(size_t from, int64_t t0)
{
    int64_t first = INT64_MAX;
    for (size_t i = from; i < ctx.all.n; i++) {
        const ldh_attempt *a = &ctx.all.v[i];
        if (a->state == LDH_ATT_ACKED && a->acked_mono_ms > t0 && a->acked_mono_ms < first)
            first = a->acked_mono_ms;
    }
    cr_assert(first != INT64_MAX, "no order acknowledged after the kill");
    return first;
}

/* ---- (a) + (b) ---------------------------------------------------------------------------- */

Test(replication, kill_primary_fails_over_then_rejoins)
{
    /* Proves (a) a kill -9 of the primary mid-storm gives a new primary serving writes within
     * REPL_FAILOVER_BOUND_MS, losing and doubling no acknowledged order, with P1 on every live
     * replica; and (b) the killed node, restarted on its data under the storm, catches up to the
     * others' state digest. How: REPL_KILL_CYCLES times, wait for acks, SIGKILL the node that
     * reports PRIMARY with its lease, time direct reserves on a probe drop to the survivors until
     * one succeeds (printed), let the storm go on through the new primary, check P1 on each
     * survivor by follower reads, restart the killed node while orders flow, stop the storm,
     * read back every acked order and wait for one view, applied op and digest on all three;
     * at the end retry every key (same order back) and check sold == the sum over keys. */
    repl_setup();
    int64_t failover_ms[REPL_KILL_CYCLES];
    for (int cycle = 0; cycle < REPL_KILL_CYCLES; cycle++) {
        ldh_storm *s = storm_start();
        storm_wait_more(s, REPL_ACKS_BEFORE, "before the kill");
        int p = ldh_cluster_wait_primary(&ctx.c, REPL_ALL, REPL_PRIMARY_TIMEOUT_MS);
        ldh_node_kill9(&ctx.c.nodes[p]);
        int64_t t0 = ldh_mono_ms();
        unsigned survivors = REPL_ALL & ~(1u << p);
        failover_ms[cycle] = probe_until_served(survivors, t0, REPL_FAILOVER_BOUND_MS);
        fprintf(stderr,
                "replication: failover %d of %d: node %d killed, a new primary served a "
                "reserve after %lld ms (bound %d ms)\n",
                cycle + 1, REPL_KILL_CYCLES, p + 1, (long long)failover_ms[cycle],
                (int)REPL_FAILOVER_BOUND_MS);
        storm_wait_more(s, REPL_ACKS_AFTER, "after the failover");
        assert_stock_everywhere(survivors, &ctx.hot, 0);
        ldh_node_start(&ctx.c.nodes[p]); /* (b): catches up while the storm goes on */
        storm_wait_more(s, REPL_ACKS_AFTER, "after the restart");
        size_t from = ctx.all.n;
        ldh_storm_stop(s, &ctx.all);
        int64_t storm_ms = first_ack_after(from, t0) - t0;
        fprintf(stderr,
                "replication: failover %d: the storm's first order acknowledged after the "
                "kill came %lld ms after it\n",
                cycle + 1, (long long)storm_ms);
        /* The storm's clients saw their connection to the dead primary drop and moved on at
         * once, not after a payment's failover timeout (LD_CLIENT_FAILOVER_SLOW_TIMEOUT_MS). */
        cr_assert_lt(storm_ms, REPL_FAILOVER_BOUND_MS + LD_CLIENT_FAILOVER_TIMEOUT_MS,
                     "failover %d: the storm waited %lld ms", cycle + 1, (long long)storm_ms);
        verify_and_converge(REPL_ALL);
    }
    for (int cycle = 0; cycle < REPL_KILL_CYCLES; cycle++)
        cr_assert_leq(failover_ms[cycle], REPL_FAILOVER_BOUND_MS,
                      "failover %d took %lld ms, bound %d ms", cycle + 1,
                      (long long)failover_ms[cycle], (int)REPL_FAILOVER_BOUND_MS);
    final_checks();
    repl_teardown();
}

/* ---- (c) ---------------------------------------------------------------------------------- */

Test(replication, kill_all_three_mid_storm)
{
    /* Proves (c) a kill -9 of every replica mid-storm loses no acknowledged order: an order is
     * acknowledged only once a quorum holds it durably, so the restarted cluster has all of them.
     * How: SIGKILL the three nodes back to back while 16 threads place orders, restart all of them
     * on their data while the storm's calls are still retrying, wait for a primary with its lease
     * and for the storm to be served again, read back every acked order (PAID, qty, COMMITTED
     * reservation), check convergence and P1 on each node, twice in a row; then retry every key
     * and check sold == the sum over keys. */
    repl_setup();
    for (int round = 0; round < 2; round++) {
        ldh_storm *s = storm_start();
        storm_wait_more(s, REPL_ACKS_BEFORE + (long)ldh_rand_range(&ctx.rng, 0, 300),
                        "before the kill");
        int first = (int)ldh_rand_range(&ctx.rng, 0, REPL_N - 1);
        for (int k = 0; k < REPL_N; k++)
            ldh_node_kill9(&ctx.c.nodes[(first + k) % REPL_N]);
        /* The storm's calls keep retrying within their deadline: restarted nodes serve them. */
        ldh_cluster_start_all(&ctx.c);
        ldh_cluster_wait_primary(&ctx.c, REPL_ALL, REPL_PRIMARY_TIMEOUT_MS);
        storm_wait_more(s, REPL_ACKS_AFTER, "after the restart of all three");
        ldh_storm_stop(s, &ctx.all);
        verify_and_converge(REPL_ALL);
    }
    final_checks();
    repl_teardown();
}

/* ---- (d) ---------------------------------------------------------------------------------- */

/* A request frame over a raw SP connection: 8-byte length, req0's 4-byte request id (high bit
 * set), then the packed Request. */
static void
raw_send_request(int fd, uint32_t req_id, Ldpb__Op *op)
{
    Ldpb__Op *ops[1] = {op};
    Ldpb__Request req = LDPB__REQUEST__INIT;
    req.version = LD_PROTOCOL_VERSION;
    req.request_id = req_id;
    req.n_ops = 1;
    req.ops = ops;
    size_t len = ldpb__request__get_packed_size(&req);
    uint8_t *buf = malloc(4 + len);
    cr_assert(buf);
    uint32_t id = req_id | 0x80000000u;
    for (int i = 0; i < 4; i++)
        buf[i] = (uint8_t)(id >> (24 - 8 * i));
    ldpb__request__pack(&req, buf + 4);
    cr_assert(ldh_tcp_send_frame_header(fd, 4 + len));
    cr_assert(ldh_tcp_send_all(fd, buf, 4 + len));
    free(buf);
}

static bool
recv_all(int fd, uint8_t *buf, size_t len, int64_t deadline)
{
    size_t got = 0;
    while (got < len) {
        int64_t left = deadline - ldh_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rv = poll(&pfd, 1, (int)left);
        if (rv < 0 && errno == EINTR)
            continue;
        if (rv <= 0)
            return false;
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* Reads one reply frame; returns the unpacked Response (owned) or NULL on no reply in time. */
static Ldpb__Response *
raw_recv_response(int fd, int64_t timeout_ms)
{
    int64_t deadline = ldh_mono_ms() + timeout_ms;
    uint8_t hdr[12];
    if (!recv_all(fd, hdr, sizeof hdr, deadline))
        return NULL;
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len = len << 8 | hdr[i];
    cr_assert(len >= 4 && len <= (4u << 20), "reply frame of %llu bytes", (unsigned long long)len);
    uint8_t *body = malloc(len - 4 + 1);
    cr_assert(body);
    Ldpb__Response *resp = NULL;
    if (recv_all(fd, body, len - 4, deadline))
        resp = ldpb__response__unpack(NULL, len - 4, body);
    free(body);
    return resp;
}

/* The code a response carries: the envelope's, else its one result's. */
static ld_err
response_code(const Ldpb__Response *resp)
{
    if (resp->code != 0)
        return (ld_err)resp->code;
    cr_assert_eq(resp->n_results, 1);
    return (ld_err)resp->results[0]->code;
}

Test(replication, paused_primary_serves_nothing_in_its_old_view)
{
    /* Proves (d) a primary paused (SIGSTOP) past the view-change timeout, once resumed, neither
     * accepts a write nor answers a linearizable read in its old view, then rejoins as a backup.
     * How: two raw SP connections to the primary are opened BEFORE the pause; after SIGSTOP the
     * test waits until the other two report a primary with its lease in a higher view, then writes
     * a reserve and a get_drop into those connections while the node is still stopped (the bytes
     * sit in its socket), and only then sends SIGCONT, so the node meets the requests before or
     * while it learns the new view. What the node guarantees: a linearizable read needs the
     * lease, which counts LD_PEER_LEASE_MS from the last quorum-acked heartbeat and so expired
     * while the node was stopped (a backup votes for a new view only LD_PEER_VC_TIMEOUT_MS >
     * LD_PEER_LEASE_MS after its last ack, and the test saw that view formed); a write needs
     * prepare_oks from a quorum in the old view, which the two backups, now in the higher view,
     * never give. So both must come back LD_ERR_NOT_PRIMARY, never LD_OK. Then the node must
     * report BACKUP in the new view, and all three converge with every acked order intact. */
    repl_setup();
    ldh_storm *s = storm_start();
    storm_wait_more(s, REPL_ACKS_BEFORE, "before the pause");
    int p = ldh_cluster_wait_primary(&ctx.c, REPL_ALL, REPL_PRIMARY_TIMEOUT_MS);
    ldh_rstatus before = ldh_cluster_status(&ctx.c, p, 2000);
    cr_assert(before.ok && before.role == LDH_ROLE_PRIMARY);
    int fd_write = ldh_tcp_sp_connect(ctx.c.nodes[p].port, 5000);
    int fd_read = ldh_tcp_sp_connect(ctx.c.nodes[p].port, 5000);
    cr_assert(fd_write >= 0 && fd_read >= 0, "raw connections to the primary");

    cr_assert_eq(kill(ctx.c.nodes[p].pid, SIGSTOP), 0);
    int64_t t_stop = ldh_mono_ms();
    unsigned others = REPL_ALL & ~(1u << p);
    int q = ldh_cluster_wait_primary(&ctx.c, others, REPL_PRIMARY_TIMEOUT_MS);
    ldh_rstatus after = ldh_cluster_status(&ctx.c, q, 2000);
    cr_assert(after.ok && after.view > before.view, "new primary %d in view %llu (old %llu)", q + 1,
              (unsigned long long)after.view, (unsigned long long)before.view);
    int64_t paused_ms = ldh_mono_ms() - t_stop;
    cr_assert_gt(paused_ms, LD_PEER_VC_TIMEOUT_MS);

    /* The requests reach the stopped node's socket before it runs again. */
    ld_id user = ldh_id();
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    ldh_key(&ctx.rng, "paused", key, sizeof key);
    Ldpb__Reserve reserve = LDPB__RESERVE__INIT;
    reserve.drop_id = (ProtobufCBinaryData){.len = 16, .data = ctx.probe.id.bytes};
    reserve.user_id = (ProtobufCBinaryData){.len = 16, .data = user.bytes};
    reserve.qty = 1;
    reserve.idempotency_key = key;
    Ldpb__Op wop = LDPB__OP__INIT;
    wop.body_case = LDPB__OP__BODY_RESERVE;
    wop.reserve = &reserve;
    wop.principal = reserve.user_id;
    Ldpb__GetDrop get = LDPB__GET_DROP__INIT;
    get.drop_id = (ProtobufCBinaryData){.len = 16, .data = ctx.hot.id.bytes};
    Ldpb__Op rop = LDPB__OP__INIT;
    rop.body_case = LDPB__OP__BODY_GET_DROP;
    rop.get_drop = &get;
    raw_send_request(fd_write, 1, &wop);
    raw_send_request(fd_read, 2, &rop);
    cr_assert_eq(kill(ctx.c.nodes[p].pid, SIGCONT), 0);
    fprintf(stderr,
            "replication: primary node %d (view %llu) paused %lld ms; node %d primary of "
            "view %llu; requests queued, SIGCONT\n",
            p + 1, (unsigned long long)before.view, (long long)paused_ms, q + 1,
            (unsigned long long)after.view);

    Ldpb__Response *wr = raw_recv_response(fd_write, 15000);
    Ldpb__Response *rr = raw_recv_response(fd_read, 15000);
    cr_assert(wr, "the resumed old primary never answered the reserve");
    cr_assert(rr, "the resumed old primary never answered the read");
    ld_err werr = response_code(wr), rerr = response_code(rr);
    fprintf(stderr,
            "replication: old primary answered the reserve %s (view %llu), the read %s "
            "(view %llu)\n",
            ld_err_name(werr), (unsigned long long)wr->view, ld_err_name(rerr),
            (unsigned long long)rr->view);
    cr_assert_eq(werr, LD_ERR_NOT_PRIMARY, "the old primary answered a write with %s",
                 ld_err_name(werr));
    cr_assert_eq(rerr, LD_ERR_NOT_PRIMARY, "the old primary answered a linearizable read with %s",
                 ld_err_name(rerr));
    ldpb__response__free_unpacked(wr, NULL);
    ldpb__response__free_unpacked(rr, NULL);
    ldh_tcp_close(fd_write);
    ldh_tcp_close(fd_read);

    /* It becomes a backup of the new view (or later), and the storm goes on. */
    int64_t deadline = ldh_mono_ms() + REPL_CONVERGE_TIMEOUT_MS;
    for (;;) {
        ldh_rstatus st = ldh_cluster_status(&ctx.c, p, 1000);
        if (st.ok && st.role == LDH_ROLE_BACKUP && st.view >= after.view)
            break;
        if (ldh_mono_ms() >= deadline) {
            ldh_cluster_print_status(&ctx.c);
            cr_assert_fail("the resumed node %d did not become a backup of view >= %llu", p + 1,
                           (unsigned long long)after.view);
        }
        ldh_sleep_ms(20);
    }
    storm_wait_more(s, REPL_ACKS_AFTER, "after SIGCONT");
    ldh_storm_stop(s, &ctx.all);
    verify_and_converge(REPL_ALL);
    final_checks();
    repl_teardown();
}

/* ---- (e) ---------------------------------------------------------------------------------- */

/* True if the node's log file contains `needle`. */
static bool
log_contains(const ldh_node *node, const char *needle)
{
    FILE *f = fopen(node->log_path, "r");
    cr_assert(f, "open %s", node->log_path);
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

Test(replication, wiped_backup_recovers_by_state_transfer)
{
    /* Proves (e) a backup whose data directory is wiped comes back by state transfer: started
     * without --format it recovers (REPLICATION.md 7.3), takes the state from the others while
     * the storm goes on, and ends with the same digest. How: wait for acks, pick a node that is
     * not the primary, kill -9 it, empty its data directory, restart it without --format, wait
     * for more acks, stop the storm, check every acked order, convergence of all three and P1 on
     * each, and that its log records an installed state transfer ("state transfer: installed",
     * engine_repl.c host_install). */
    repl_setup();
    ldh_storm *s = storm_start();
    storm_wait_more(s, REPL_ACKS_BEFORE, "before the wipe");
    int p = ldh_cluster_wait_primary(&ctx.c, REPL_ALL, REPL_PRIMARY_TIMEOUT_MS);
    int b = (p + 1 + (int)ldh_rand_range(&ctx.rng, 0, 1)) % REPL_N;
    ldh_cluster_wipe(&ctx.c, b);
    ldh_node_start(&ctx.c.nodes[b]);
    storm_wait_more(s, REPL_ACKS_AFTER, "after the restart of the wiped node");
    ldh_storm_stop(s, &ctx.all);
    verify_and_converge(REPL_ALL);
    cr_assert(log_contains(&ctx.c.nodes[b], "state transfer: installed"),
              "node %d converged but its log shows no installed state transfer", b + 1);
    final_checks();
    repl_teardown();
}

/* ---- (f) ---------------------------------------------------------------------------------- */

/* Orders acknowledged before the wipe in (f): a state of ~18 MB (~900 bytes an order), whose
 * transfer (1 MiB chunks, each a round trip) and install (a synced write of all of it) take long
 * enough for the storm to carry the primary far more than LD_PEER_WINDOW_MAX ops past the
 * checkpoint. */
#define REPL_STORM_PRELOAD_ACKS 20000
/* (f)'s bound, from the restart of the wiped node to it being a backup of the primary's view
 * within REPL_CATCHUP_SLACK ops of the primary's applied op, while the storm goes on. A state
 * transfer of the preloaded state takes a few seconds on the loaded 2-core machine; the fill
 * after it gains 64 entries per round trip on a primary that commits 8 per round trip. */
#define REPL_CATCHUP_BOUND_MS 15000
#define REPL_CATCHUP_SLACK (2 * LD_PEER_WINDOW_MAX)
#define REPL_CATCHUP_POLL_MS 50

/* Prints the node's log lines containing `needle` (at most `max`) and returns how many there are.
 */
static int
log_print_lines(const ldh_node *node, const char *needle, int max)
{
    FILE *f = fopen(node->log_path, "r");
    cr_assert(f, "open %s", node->log_path);
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, needle) != NULL && n++ < max)
            fprintf(stderr, "replication:   %s", line);
    fclose(f);
    return n;
}

/* The op of the first checkpoint `node` installed, as its log says ("state transfer: installed
 * <n> bytes of state at op <op>", engine_repl.c); 0 if it installed none. */
static uint64_t
log_installed_op(const ldh_node *node)
{
    static const char needle[] = "state transfer: installed ";
    FILE *f = fopen(node->log_path, "r");
    cr_assert(f, "open %s", node->log_path);
    char line[2048];
    uint64_t op = 0;
    while (op == 0 && fgets(line, sizeof line, f)) {
        const char *at = strstr(line, needle);
        at = at != NULL ? strstr(at, " at op ") : NULL;
        if (at != NULL)
            op = strtoull(at + strlen(" at op "), NULL, 10);
    }
    fclose(f);
    return op;
}

/* Polls until node b is a backup in the view of the primary of `mask`, within
 * REPL_CATCHUP_SLACK ops of its applied op; returns the ms since t0 and the primary's applied op
 * then in *primary_applied_out, or -1 after bound_ms. */
static int64_t
wait_caught_up(int b, unsigned mask, int64_t t0, int64_t bound_ms, uint64_t *primary_applied_out)
{
    while (ldh_mono_ms() - t0 < bound_ms) {
        ldh_rstatus sb = ldh_cluster_status(&ctx.c, b, 1000);
        for (int i = 0; sb.ok && sb.role == LDH_ROLE_BACKUP && i < ctx.c.n; i++) {
            if (i == b || !(mask >> i & 1u))
                continue;
            ldh_rstatus sp = ldh_cluster_status(&ctx.c, i, 1000);
            if (sp.ok && sp.role == LDH_ROLE_PRIMARY && sp.view == sb.view &&
                sb.applied + REPL_CATCHUP_SLACK >= sp.applied) {
                *primary_applied_out = sp.applied;
                return ldh_mono_ms() - t0;
            }
        }
        ldh_sleep_ms(REPL_CATCHUP_POLL_MS);
    }
    return -1;
}

Test(replication, wiped_backup_catches_up_under_a_storm)
{
    /* Proves (f) a backup whose data directory is wiped and that restarts WHILE a storm of
     * orders runs catches up under that storm (REPLICATION.md 6.1: after its checkpoint it fills
     * the gap with committed entries instead of starting a state transfer per StartView, which
     * never ended), and really holds the data. How: preload REPL_STORM_PRELOAD_ACKS orders (a
     * state of several MB), wipe a backup and restart it without --format while 16 threads keep
     * placing orders; poll until it is a backup of the primary's view within
     * REPL_CATCHUP_SLACK ops of the primary (bound REPL_CATCHUP_BOUND_MS, printed), with orders
     * acknowledged meanwhile and the primary then past the op of the one checkpoint the node
     * installed (the storm went on, so the node caught up by the log after its checkpoint -- a
     * condition, not a rate: a loaded machine acknowledges fewer orders in the same catch-up);
     * wait for more acknowledged orders, stop the storm and wait for one digest
     * on all three; then kill -9 another node -- the primary when it is not the recovered one --
     * so that the recovered node is in every quorum: a primary forms, every acknowledged order
     * reads back, the two converge to one digest, a new storm commits through them; restart the
     * killed node, retry every key and check sold == the sum over keys. */
    repl_setup();
    ldh_storm *s = storm_start();
    storm_wait_more(s, REPL_STORM_PRELOAD_ACKS, "before the wipe");
    int p = ldh_cluster_wait_primary(&ctx.c, REPL_ALL, REPL_PRIMARY_TIMEOUT_MS);
    int b = (p + 1 + (int)ldh_rand_range(&ctx.rng, 0, 1)) % REPL_N;
    ldh_cluster_wipe(&ctx.c, b);
    ldh_node_start(&ctx.c.nodes[b]);
    int64_t t0 = ldh_mono_ms();
    long acked_at_restart = ldh_storm_acked(s);
    uint64_t primary_applied = 0;
    int64_t caught_ms = wait_caught_up(b, REPL_ALL, t0, REPL_CATCHUP_BOUND_MS, &primary_applied);
    long acked_meanwhile = ldh_storm_acked(s) - acked_at_restart;
    uint64_t installed_op = log_installed_op(&ctx.c.nodes[b]);
    fprintf(stderr,
            "replication: wiped node %d restarted under the storm: caught up after %lld ms "
            "(bound %d ms; -1: not), %ld orders acknowledged meanwhile, checkpoint op %llu, "
            "primary at op %llu\n",
            b + 1, (long long)caught_ms, REPL_CATCHUP_BOUND_MS, acked_meanwhile,
            (unsigned long long)installed_op, (unsigned long long)primary_applied);
    int installs = log_print_lines(&ctx.c.nodes[b], "state transfer: installed", 5);
    fprintf(stderr, "replication: node %d installed %d checkpoints\n", b + 1, installs);
    if (caught_ms < 0)
        ldh_cluster_print_status(&ctx.c);
    cr_assert_geq(caught_ms, 0, "node %d did not catch up within %d ms under the storm", b + 1,
                  REPL_CATCHUP_BOUND_MS);
    /* One checkpoint, then the log: not a transfer per StartView (REPLICATION.md 6.1). */
    cr_assert_eq(installs, 1, "node %d installed %d checkpoints", b + 1, installs);
    cr_assert_gt(acked_meanwhile, 0, "no order acknowledged during the catch-up");
    cr_assert_gt(primary_applied, installed_op,
                 "the primary (op %llu) did not go past the checkpoint node %d installed (op "
                 "%llu): the storm did not go on during the catch-up",
                 (unsigned long long)primary_applied, b + 1, (unsigned long long)installed_op);
    storm_wait_more(s, REPL_ACKS_AFTER, "after the catch-up");
    ldh_storm_stop(s, &ctx.all);
    verify_and_converge(REPL_ALL);
    cr_assert(log_contains(&ctx.c.nodes[b], "state transfer: installed"),
              "node %d caught up but its log shows no installed state transfer", b + 1);

    /* The recovered node holds the data: from here on every quorum includes it. */
    int p2 = ldh_cluster_wait_primary(&ctx.c, REPL_ALL, REPL_PRIMARY_TIMEOUT_MS);
    int k = p2 != b ? p2 : (b + 1) % REPL_N;
    ldh_node_kill9(&ctx.c.nodes[k]);
    unsigned rest = REPL_ALL & ~(1u << k);
    ldh_cluster_wait_primary(&ctx.c, rest, REPL_PRIMARY_TIMEOUT_MS);
    verify_and_converge(rest);
    s = storm_start();
    storm_wait_more(s, REPL_ACKS_AFTER, "with the recovered node in every quorum");
    ldh_storm_stop(s, &ctx.all);
    verify_and_converge(rest);
    ldh_node_start(&ctx.c.nodes[k]);
    final_checks();
    repl_teardown();
}
