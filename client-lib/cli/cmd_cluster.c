/*
 * cmd_cluster.c -- `livedrop cluster status`: asks every address of the client (--addr list or
 * --conf file) for its replicas' status, all at once (one thread per address), each bounded
 * by the timeout (1 s unless --timeout-ms is given), and prints one row per replica, or
 * "unreachable" for a node that did not answer. Exit status 0 when every node answered, 3
 * (transport) otherwise.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define STATUS_TIMEOUT_MS_DEFAULT 1000u

typedef struct status_ask {
    pthread_t thread;
    ld_client *client;
    uint32_t index;
    bool threaded; /* asked on `thread` (join it), else inline */
    ld_err err;
    ld_errmsg msg;
    ld_node_status status;
} status_ask;

static void *
status_ask_main(void *arg)
{
    status_ask *a = arg;
    a->err = ld_cluster_status(a->client, a->index, &a->status, &a->msg);
    return NULL;
}

static void
json_replica(FILE *f, const ld_replica_status *r)
{
    fprintf(f,
            "{\"shard_id\":%" PRIu32 ",\"node_id\":%" PRIu32 ",\"replica\":%" PRIu32
            ",\"replica_count\":%" PRIu32 ",\"role\":\"%s\",\"view\":%" PRIu64
            ",\"log_view\":%" PRIu64 ",\"op\":%" PRIu64 ",\"commit\":%" PRIu64
            ",\"applied\":%" PRIu64 ",\"lease\":%s,\"state_digest\":\"%016" PRIx64
            "\",\"view_changes\":%" PRIu64 ",\"repairs\":%" PRIu64 ",\"state_transfers\":%" PRIu64
            ",\"dropped\":%" PRIu64 "}",
            r->shard_id, r->node_id, r->replica, r->replica_count, ld_replica_role_name(r->role),
            r->view, r->log_view, r->op, r->commit, r->applied, r->lease ? "true" : "false",
            r->state_digest, r->view_changes, r->repairs, r->state_transfers, r->dropped);
}

/* {"addr": ..., "code": ..., "message": ..., "cluster_status": {"replicas": [...]}} */
static void
json_node(FILE *f, const char *addr, const status_ask *a)
{
    fputs("{\"addr\":", f);
    cli_json_str(f, addr);
    fprintf(f, ",\"code\":\"%s\",\"message\":", ld_err_name(a->err));
    cli_json_str(f, a->err == LD_OK ? "" : a->msg.text);
    if (a->err == LD_OK) {
        fputs(",\"cluster_status\":{\"replicas\":[", f);
        for (uint32_t i = 0; i < a->status.count; i++) {
            if (i > 0)
                fputc(',', f);
            json_replica(f, &a->status.replicas[i]);
        }
        fputs("]}", f);
    }
    fputs("}\n", f);
}

static void
human_header(FILE *f, int addr_width)
{
    fprintf(f, "%-*s %5s %5s %7s %-11s %6s %8s %10s %10s %10s %5s %-16s %4s %7s %5s\n", addr_width,
            "address", "node", "shard", "replica", "role", "view", "log_view", "op", "commit",
            "applied", "lease", "state_digest", "vcs", "repairs", "xfers");
}

static void
human_node(FILE *f, int addr_width, const char *addr, const status_ask *a)
{
    if (a->err != LD_OK) {
        bool down = a->err == LD_ERR_TIMEOUT || a->err == LD_ERR_CONNECTION;
        fprintf(f, "%-*s %s (%s: %s)\n", addr_width, addr, down ? "unreachable" : "error",
                ld_err_name(a->err), a->msg.text);
        return;
    }
    if (a->status.count == 0)
        fprintf(f, "%-*s (no replicas)\n", addr_width, addr);
    for (uint32_t i = 0; i < a->status.count; i++) {
        const ld_replica_status *r = &a->status.replicas[i];
        char replica[24];
        snprintf(replica, sizeof replica, "%" PRIu32 "/%" PRIu32, r->replica, r->replica_count);
        fprintf(f,
                "%-*s %5" PRIu32 " %5" PRIu32 " %7s %-11s %6" PRIu64 " %8" PRIu64 " %10" PRIu64
                " %10" PRIu64 " %10" PRIu64 " %5s %016" PRIx64 " %4" PRIu64 " %7" PRIu64
                " %5" PRIu64 "\n",
                addr_width, i == 0 ? addr : "", r->node_id, r->shard_id, replica,
                ld_replica_role_name(r->role), r->view, r->log_view, r->op, r->commit, r->applied,
                r->lease ? "yes" : "no", r->state_digest, r->view_changes, r->repairs,
                r->state_transfers);
    }
}

static int
cmd_cluster_status(cli *c)
{
    ld_client_opts opts = {
        .timeout_ms = c->timeout_ms != 0 ? c->timeout_ms : STATUS_TIMEOUT_MS_DEFAULT,
        .inflight_max = LD_CLIENT_ADDRS_MAX,
    };
    ld_client *client;
    ld_err err = ld_client_open(c->addr, &opts, &client);
    if (err != LD_OK)
        return cli_usage_error(c, "--addr '%s': %s", c->addr, ld_strerror(err));
    uint32_t n = ld_client_addrs_count(client);
    status_ask *asks = calloc(n, sizeof *asks);
    if (asks == NULL) {
        ld_client_close(client);
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        return EXIT_TRANSPORT;
    }
    for (uint32_t i = 0; i < n; i++) {
        asks[i] = (status_ask){.client = client, .index = i};
        asks[i].threaded = pthread_create(&asks[i].thread, NULL, status_ask_main, &asks[i]) == 0;
        if (!asks[i].threaded)
            status_ask_main(&asks[i]); /* no thread to spare: ask inline */
    }
    int addr_width = 7;
    for (uint32_t i = 0; i < n; i++) {
        if (asks[i].threaded)
            pthread_join(asks[i].thread, NULL);
        int len = (int)strlen(ld_client_addr(client, i));
        addr_width = len > addr_width ? len : addr_width;
    }
    if (!c->json)
        human_header(stdout, addr_width);
    int status = EXIT_OK;
    for (uint32_t i = 0; i < n; i++) {
        if (c->json)
            json_node(stdout, ld_client_addr(client, i), &asks[i]);
        else
            human_node(stdout, addr_width, ld_client_addr(client, i), &asks[i]);
        if (asks[i].err != LD_OK)
            status = EXIT_TRANSPORT;
    }
    fflush(stdout);
    free(asks);
    ld_client_close(client);
    return status;
}

static const char *const no_opts[] = {NULL};

const cli_cmd cli_cluster_cmds[] = {
    {"cluster status", "", "each node's replicas: role, view, op, commit",
     "Asks every node address (--addr a,b,c, or --conf FILE: the client_url of each replica\n"
     "line) for the status of its replicas, all at once, and prints one row per replica:\n"
     "node id, shard, replica index / replication factor, role (primary, backup,\n"
     "view_change, recovering), view, log_view, op (log head), commit, applied, whether a\n"
     "primary holds its read lease, the digest of its applied state (equal on replicas\n"
     "that applied the same ops), and since the node started: the views it entered (vcs),\n"
     "the log entries it fetched from a peer (repairs) and the state snapshots it installed\n"
     "(xfers). A node that does not answer within the timeout (1000 ms\n"
     "unless --timeout-ms is given) is printed as unreachable. With --json: one object per\n"
     "node, {\"addr\",\"code\",\"message\",\"cluster_status\":{\"replicas\":[...]}}.\n"
     "Exit status 0 when every node answered, 3 otherwise.\n\n"
     "Examples:\n"
     "  livedrop --conf cluster-conf/local-3.conf cluster status\n"
     "  livedrop --addr tcp://127.0.0.1:7400,tcp://127.0.0.1:7410 --json cluster status\n",
     no_opts, 0, cmd_cluster_status, 0},
};
const size_t cli_cluster_cmds_count = sizeof cli_cluster_cmds / sizeof cli_cluster_cmds[0];
