/*
 * harness_cluster.h -- a replicated livedrop cluster of real processes on loopback.
 *
 * ldh_cluster_init() picks three free ports per node (client, publish, peer), writes one
 * cluster-conf file (cluster-conf/README.md: `cluster_id`, one `replica` line per node, in
 * replica-index order) and prepares every node to start with `--config FILE --node-id N`, the
 * first start with `--format`. Nodes are ordinary ldh_node processes: the harness registry
 * still kills them when the test process ends, and ldh_node_kill9 / ldh_node_start work on
 * them as on single nodes.
 *
 * Replica state is read with GetClusterStatus sent straight to one node (raw NNG req0, no
 * routing), and per-replica reads use follower_read requests, so that a test can look at every
 * replica and not only at the one the client library routes to.
 *
 * Same rules as harness.h: functions assert with criterion (main thread only) unless marked
 * "Thread: any".
 */
#ifndef LD_TESTS_HARNESS_CLUSTER_H
#define LD_TESTS_HARNESS_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

#define LDH_CLUSTER_MAX 5

typedef struct ldh_cluster {
    int n;
    ldh_node nodes[LDH_CLUSTER_MAX]; /* nodes[i] is replica i, node id i + 1 */
    uint16_t peer_port[LDH_CLUSTER_MAX];
    char conf_path[300];
    char addrs[LDH_CLUSTER_MAX * 64]; /* "url0,url1,..." for ld_client_open */
} ldh_cluster;

/* Roles as ldpb ReplicaRole. */
enum {
    LDH_ROLE_NONE = 0,
    LDH_ROLE_PRIMARY = 1,
    LDH_ROLE_BACKUP = 2,
    LDH_ROLE_VIEW_CHANGE = 3,
    LDH_ROLE_RECOVERING = 4
};

/* One replica's answer to GetClusterStatus. */
typedef struct ldh_rstatus {
    bool ok; /* false: the node did not answer in time */
    int role;
    uint32_t replica;
    uint64_t view, log_view, op, commit, applied, digest;
    bool lease;
} ldh_rstatus;

/* Creates n (1, 3 or 5) nodes' directories, ports and the conf file; starts nothing. */
void ldh_cluster_init(ldh_cluster *c, int n, uint32_t payment_slow_ms);
/* Starts every node that is not running (each waits for its ready line). */
void ldh_cluster_start_all(ldh_cluster *c);
/* kill -9 every running node. */
void ldh_cluster_kill_all(ldh_cluster *c);
/* Removes every node's directory (call at the end of a test that passed). */
void ldh_cluster_destroy(ldh_cluster *c);
/* kill -9 node i, delete its data directory's content, and mark it to start WITHOUT --format:
 * the node then starts with no state and must recover it from the others. */
void ldh_cluster_wipe(ldh_cluster *c, int i);

/* Asks node i for its replica status, waiting at most timeout_ms. Thread: any. */
ldh_rstatus ldh_cluster_status(const ldh_cluster *c, int i, int32_t timeout_ms);
/* Polls until exactly one node of `mask` (bit i = node i) reports PRIMARY with its lease in the
 * highest view reported by the nodes of mask, and returns its index; fails the test after
 * timeout_ms. */
int ldh_cluster_wait_primary(const ldh_cluster *c, unsigned mask, int64_t timeout_ms);
/* Polls until every node of `mask` is PRIMARY or BACKUP in the same view with equal `applied`
 * and equal state digest, at least `min_applied`; fails the test after timeout_ms printing the
 * statuses. Returns the common applied op. */
uint64_t ldh_cluster_wait_converged(const ldh_cluster *c, unsigned mask, uint64_t min_applied,
                                    int64_t timeout_ms);
/* Prints every node's status on stderr (diagnostics). */
void ldh_cluster_print_status(const ldh_cluster *c);

/* Stock of one drop as replica i holds it (follower read). Returns LD_OK and the four numbers,
 * or the envelope / result code. Thread: any. */
typedef struct ldh_stock {
    int64_t initial, available, reserved, sold;
} ldh_stock;
ld_err ldh_cluster_follower_stock(const ldh_cluster *c, int i, const ld_id *drop_id, ldh_stock *out,
                                  int32_t timeout_ms);

/* Sends one op to node i directly (no routing) and returns the envelope code if nonzero, else
 * the op's result code; LD_ERR_TIMEOUT when no answer came within timeout_ms. `op` is a packed
 * ldpb Op built by the caller (see the helpers below). Thread: any. */
ld_err ldh_cluster_direct_get_drop(const ldh_cluster *c, int i, const ld_id *drop_id,
                                   int32_t timeout_ms);
ld_err ldh_cluster_direct_reserve(const ldh_cluster *c, int i, const ld_id *drop_id,
                                  const ld_id *user_id, const char *key, int32_t timeout_ms);

#endif /* LD_TESTS_HARNESS_CLUSTER_H */
