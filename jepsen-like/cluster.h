/*
 * cluster.h -- the three livedrop-node processes of a chaos run, on free loopback ports.
 *
 * The same approach as tests/integration/harness_cluster.c and cluster-conf/run-local-3.sh (the
 * harness itself asserts with criterion, so it is not linked here): pick three free ports per
 * node (client, publish, peer), write one cluster-conf with a random cluster_id and a `replica`
 * line per node, start each node with `--config FILE --node-id N --data DIR`, with `--format` on
 * its very first start only. A node's stdout goes to DIR/N.out (the harness polls it for the
 * ready line), its stderr to DIR/N.log, appended across restarts and kept.
 *
 * Faults act on real processes: kill -9 (and reap), SIGSTOP / SIGCONT, and a wipe (kill -9, then
 * remove the data directory's content: restarted without --format, the node recovers its state
 * from the others by state transfer). Nodes are started with PR_SET_PDEATHSIG(SIGKILL) so none
 * outlives the harness.
 *
 * Thread: every function runs on the main thread (the one that forks: PR_SET_PDEATHSIG follows
 * the forking thread), except ldc_cluster_status, which any thread may call.
 */
#ifndef LDC_CLUSTER_H
#define LDC_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "chaos_limits.h"
#include "livedrop.h"

typedef struct ldc_node {
    int id;    /* node id 1..LDC_NODES; replica index id - 1 */
    pid_t pid; /* 0 when not running */
    bool paused;
    bool format_next;
    int starts;
    uint16_t port, pub_port, peer_port;
    char url[64];
    char data_dir[LDC_PATH_BYTES_MAX];
    char log_path[LDC_PATH_BYTES_MAX];
    char out_path[LDC_PATH_BYTES_MAX];
    ld_client *status_client; /* this node only, short timeout: GetClusterStatus */
} ldc_node;

typedef struct ldc_cluster {
    ldc_node nodes[LDC_NODES];
    char dir[LDC_PATH_BYTES_MAX];
    char conf_path[LDC_PATH_BYTES_MAX];
    char node_bin[LDC_PATH_BYTES_MAX];
    char addrs[LDC_NODES * 64]; /* "url1,url2,url3" for ld_client_open */
} ldc_cluster;

/* One node's answer to GetClusterStatus (ok false: no answer). */
typedef struct ldc_status {
    bool ok;
    ld_replica_status r;
} ldc_status;

/* Picks ports, writes dir/cluster.conf, creates dir/N/ for each node; starts nothing. false with
 * a reason in err. */
bool ldc_cluster_init(ldc_cluster *c, const char *dir, const char *node_bin, char *err,
                      size_t err_size);
/* Starts node i (0-based) if not running and waits for its ready line (LDC_START_MS). */
bool ldc_node_start(ldc_cluster *c, int i, char *err, size_t err_size);
/* kill -9 node i (continuing it first if paused is not needed: SIGKILL ends a stopped process)
 * and reaps it. No-op if not running. */
void ldc_node_kill(ldc_cluster *c, int i);
/* SIGSTOP / SIGCONT node i. */
void ldc_node_pause(ldc_cluster *c, int i);
void ldc_node_resume(ldc_cluster *c, int i);
/* kill -9 node i and remove every file in its data directory (the directory stays). */
bool ldc_node_wipe(ldc_cluster *c, int i, char *err, size_t err_size);
/* True if node i's process exited on its own (reaps it and logs the status in err). */
bool ldc_node_exited(ldc_cluster *c, int i, char *err, size_t err_size);
/* Asks node i (only it) for its replica status, within LDC_STATUS_TIMEOUT_MS. Thread: any. */
ldc_status ldc_cluster_status(const ldc_cluster *c, int i);
/* The index of the one node that reports PRIMARY with its lease in the highest view any node
 * reports, or -1 (no poll: one round of statuses). */
int ldc_cluster_primary(const ldc_cluster *c);
/* Kills every node (continuing paused ones), closes the status clients. */
void ldc_cluster_stop(ldc_cluster *c);
/* Removes every node's data directory (a run that passed keeps only logs and history). */
void ldc_cluster_remove_data(ldc_cluster *c);

#endif /* LDC_CLUSTER_H */
