/*
 * test_crash.c -- kill -9 during a storm: acknowledged means durable (P2), retries apply once
 * (P3), and the stock adds up after every restart (P1).
 *
 * 64 threads place orders (unique idempotency keys, qty 1..3) on a drop far too large to sell
 * out. Once N orders were acknowledged (N drawn at random), the node is killed with SIGKILL and
 * restarted on the same data directory and port. Every attempt is kept: acknowledged ones must be
 * found exactly as acknowledged; every attempt is then retried with its own key, which must give
 * back the first order (never a second one), after which the node's counters must equal the sum
 * of all keys' quantities exactly.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_storm.h"

TestSuite(crash, .fini = ldh_suite_fini, .timeout = 400);

#define CRASH_THREADS 64
#define CRASH_STOCK 1000000
#define CRASH_ACKS_MIN 50
#define CRASH_ACKS_MAX 1500
#define CRASH_CALL_TIMEOUT_MS 5000
#define CRASH_STORM_DEADLINE_MS 90000

/* One storm + kill -9 + restart + verification cycle; `all` accumulates attempts across cycles
 * (all of them acknowledged, by the end of the previous cycle). */
static void
crash_cycle(ldh_node *node, const ld_id *drop_id, ldh_attempts *all, ldh_rng *rng, int cycle)
{
    long target = (long)ldh_rand_range(rng, CRASH_ACKS_MIN, CRASH_ACKS_MAX);
    int64_t t0 = ldh_mono_ms();
    size_t before = all->n;
    ldh_storm *storm = ldh_storm_start(node->url, drop_id, CRASH_THREADS, ldh_rand(rng),
                                       CRASH_CALL_TIMEOUT_MS, t0 + CRASH_STORM_DEADLINE_MS);
    /* Wait for N acknowledgements, then pull the plug while requests are in flight. */
    bool reached = ldh_storm_wait_acked(storm, target);
    long acked_at_kill = ldh_storm_acked(storm);
    if (reached)
        ldh_node_kill9(node);
    ldh_storm_stop(storm, all);
    cr_assert(reached, "cycle %d: only %ld of %ld orders acknowledged in %d ms", cycle,
              acked_at_kill, target, CRASH_STORM_DEADLINE_MS);
    cr_log_info("cycle %d: target %ld, killed at %ld acks; %zu attempts, storm %lld ms", cycle,
                target, acked_at_kill, all->n - before, (long long)(ldh_mono_ms() - t0));

    ldh_node_start(node);
    ld_client *client = ldh_client(node, 30000);
    ld_drop drop;
    ldh_drop_get(client, drop_id, &drop);
    ldh_assert_stock(&drop);
    int64_t acked_qty = ldh_storm_acked_qty(all);
    cr_assert_geq(drop.stock.sold, acked_qty,
                  "cycle %d: sold %lld < %lld units acknowledged before kill -9", cycle,
                  (long long)drop.stock.sold, (long long)acked_qty);

    ldh_storm_verify(node->url, drop_id, all);
    ldh_storm_retry(node->url, drop_id, all);
    /* Every key now has exactly one order, and the counters are exactly their sum. */
    ldh_storm_check_totals(client, drop_id, all);
    ld_client_close(client);
}

static void
crash_run(int cycles)
{
    uint64_t seed = ldh_seed();
    ldh_rng rng;
    ldh_rng_init(&rng, seed);
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 30000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, CRASH_STOCK, 0, 0);
    ld_client_close(client);

    ldh_attempts all = {0};
    for (int c = 1; c <= cycles; c++)
        crash_cycle(&node, &spec.id, &all, &rng, c);
    ldh_attempts_free(&all);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
Test(crash, three_kill_restart_cycles_keep_every_order)
{
    /* Goal: after each kill -9 mid-storm every acknowledged order is there, PAID, with its qty
     * and a COMMITTED reservation; P1 holds; retrying every key (acked or not) yields one order
     * per key and sold == the sum over keys exactly. Method: 64 threads place_order, kill -9
     * after a random number N of acks, restart on the same dir, order_get + reservation_get +
     * same-key retries; three cycles on one data dir, each re-checking all earlier keys. */
    crash_run(3);
}
