/*
 * test_ids.c -- the ids the cluster makes (reservations, orders, payment references) never
 * repeat: not between two fresh clusters, not between a node and the same node wiped and
 * formatted again (proto/PROTOCOL.md, "Ids the cluster makes").
 *
 * Every history here is the same requests with the same client ids at the same log positions,
 * so ids derived from the log position alone (as before LogEntry.id_seed) would repeat.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness_cluster.h"

TestSuite(ids, .fini = ldh_suite_fini, .timeout = 240);

#define IDS_CALL_MS 15000

/* What one history handed out. */
typedef struct ids_seen {
    ld_id reservation;
    ld_id order;
    char payment_ref[LD_PAYMENT_REF_BYTES_MAX + 1];
} ids_seen;

/* The client ids every history uses: the same drop, creator and user each time. */
static ld_drop_spec ids_spec;
static ld_id ids_user;

static void
ids_fixed_inputs(void)
{
    if (!ldh_id_zero(&ids_user))
        return;
    ldh_drop_spec_live(&ids_spec, 100, 0, 0);
    ids_user = ldh_id();
}

/* Runs the history on a client: create the drop (a fresh spec time each run, the same ids), one
 * place_order that is paid by the test provider; records its order, reservation and payment
 * reference. */
static ids_seen
ids_history(ld_client *c)
{
    ids_fixed_inputs();
    ld_drop_spec spec = ids_spec;
    int64_t now = ldh_now_ms();
    spec.starts_at_ms = now - 1000;
    spec.ends_at_ms = now + 3600 * 1000;
    ldh_drop_create(c, &spec, NULL);
    ld_order order;
    ld_errmsg msg;
    ld_err err = ld_place_order(c, &spec.id, &ids_user, 1, "ids-key-1", "pm_card_ok", &order, &msg);
    cr_assert_eq(err, LD_OK, "place_order: %s %s", ld_err_name(err), msg.text);
    ids_seen s;
    memset(&s, 0, sizeof s);
    s.reservation = order.reservation_id;
    s.order = order.id;
    memcpy(s.payment_ref, order.payment_ref, sizeof s.payment_ref);
    cr_assert(!ldh_id_zero(&s.reservation) && !ldh_id_zero(&s.order));
    cr_assert(s.payment_ref[0] != '\0');
    return s;
}

static void
ids_assert_differ(const ids_seen *a, const ids_seen *b, const char *what)
{
    cr_assert(!ldh_id_eq(&a->reservation, &b->reservation), "%s: reservation id %s repeats", what,
              ldh_hex(&a->reservation));
    cr_assert(!ldh_id_eq(&a->order, &b->order), "%s: order id %s repeats", what,
              ldh_hex(&a->order));
    cr_assert(strcmp(a->payment_ref, b->payment_ref) != 0, "%s: payment reference %s repeats", what,
              a->payment_ref);
}

/* The same history on a fresh 3-node cluster; also checks every replica holds the order under
 * the id its client heard (the ids are the primary's entry, applied by every replica). */
static ids_seen
ids_on_fresh_cluster(void)
{
    ldh_cluster c;
    ldh_cluster_init(&c, 3, 0);
    ldh_cluster_start_all(&c);
    ldh_cluster_wait_primary(&c, 0x7u, 30000);
    ld_client *client = ldh_client_try(c.addrs, IDS_CALL_MS, 0);
    cr_assert(client != NULL);
    ids_seen s = ids_history(client);
    uint64_t applied = ldh_cluster_wait_converged(&c, 0x7u, 1, 30000);
    cr_assert(applied > 0);
    for (int i = 0; i < 3; i++) {
        ld_client_opts o = {.timeout_ms = IDS_CALL_MS, .follower_read = true};
        ld_client *f = NULL;
        cr_assert_eq(ld_client_open(c.nodes[i].url, &o, &f), LD_OK);
        ld_order got;
        ld_errmsg msg;
        ld_err err = ld_order_get(f, &s.order, &got, &msg);
        cr_assert_eq(err, LD_OK, "replica %d: order %s: %s %s", i, ldh_hex(&s.order),
                     ld_err_name(err), msg.text);
        cr_assert(ldh_id_eq(&got.reservation_id, &s.reservation));
        ld_client_close(f);
    }
    ld_client_close(client);
    ldh_cluster_destroy(&c);
    return s;
}

Test(ids, two_fresh_clusters_hand_out_different_ids)
{
    /* Goal: reservation, order and payment ids are unique across clusters and identical on
     * every replica. Method: the same requests (same client ids, same log positions) on two
     * fresh 3-node clusters one after the other; compare what each handed out, and read the
     * order back from each replica by its id. */
    ids_seen a = ids_on_fresh_cluster();
    ids_seen b = ids_on_fresh_cluster();
    ids_assert_differ(&a, &b, "two fresh clusters");
}

Test(ids, a_wiped_and_reformatted_node_hands_out_new_ids)
{
    /* Goal: after its data is wiped and the node formats a new directory, the ids it hands out
     * are new, so an old id never resolves to a different order. Method: the history on a
     * single node; kill -9, delete the data directory, restart (the node formats it), run the
     * same history; the old order id is unknown to the new node. */
    ldh_node n;
    ldh_node_spawn(&n, 0);
    ld_client *c = ldh_client(&n, IDS_CALL_MS);
    ids_seen before = ids_history(c);
    ld_client_close(c);
    ldh_node_kill9(&n);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", n.data_dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    ldh_node_start(&n);
    c = ldh_client(&n, IDS_CALL_MS);
    ids_seen after = ids_history(c);
    ids_assert_differ(&before, &after, "a reformatted node");
    ld_order old;
    ld_errmsg msg;
    ld_err err = ld_order_get(c, &before.order, &old, &msg);
    cr_assert_eq(err, LD_ERR_ORDER_NOT_FOUND, "the old order id resolves: %s", ld_err_name(err));
    ld_client_close(c);
    ldh_node_destroy(&n);
}
