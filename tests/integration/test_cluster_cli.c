/*
 * test_cluster_cli.c -- `livedrop cluster status` (the real CLI) against a real three-node
 * cluster: what an operator sees when the primary dies and when a replica lost its disk.
 *
 * JSON is read leniently: one object per node address, one per line; a key is "key" followed by
 * a colon, as livedrop prints it.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_cluster.h"

TestSuite(cluster_cli, .fini = ldh_suite_fini, .timeout = 240);

#define CC_N 3
#define CC_ALL 0x7u
#define CC_TIMEOUT_MS 30000
#define CC_CALL_MS 10000

/* One node's line of `livedrop --json cluster status`. */
typedef struct cc_row {
    char code[32];
    char role[16];
    uint64_t view, view_changes, state_transfers, applied;
    bool lease;
    char digest[17];
} cc_row;

/* The text after "key": in `line`, or NULL. */
static const char *
after_key(const char *line, const char *key)
{
    char pat[48];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

static void
str_field(const char *line, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    const char *v = after_key(line, key);
    if (v == NULL || *v != '"')
        return;
    v++;
    size_t n = 0;
    while (v[n] != '\0' && v[n] != '"' && n + 1 < cap)
        n++;
    memcpy(out, v, n);
    out[n] = '\0';
}

static uint64_t
u64_field(const char *line, const char *key)
{
    const char *v = after_key(line, key);
    cr_assert(v != NULL, "no \"%s\" in: %s", key, line);
    return strtoull(v, NULL, 10);
}

/* Runs `livedrop --addr <all> [--json] cluster status`; fills rows[i] for node i (JSON only). */
static void
status_cli(const ldh_cluster *c, bool json, ldh_cli *res, cc_row rows[CC_N])
{
    const char *json_argv[] = {"--addr", c->addrs, "--json", "cluster", "status", NULL};
    const char *human_argv[] = {"--addr", c->addrs, "cluster", "status", NULL};
    ldh_cli_run(res, CC_CALL_MS, json ? json_argv : human_argv);
    if (!json)
        return;
    const char *line = res->out;
    for (int i = 0; i < CC_N; i++) {
        cr_assert(line != NULL && *line == '{', "line %d of: %s", i, res->out);
        const char *end = strchr(line, '\n');
        cr_assert(end != NULL, "%s", res->out);
        char buf[2048];
        size_t len = (size_t)(end - line) < sizeof buf - 1 ? (size_t)(end - line) : sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        cc_row *r = &rows[i];
        memset(r, 0, sizeof *r);
        str_field(buf, "code", r->code, sizeof r->code);
        if (strcmp(r->code, "OK") == 0) {
            str_field(buf, "role", r->role, sizeof r->role);
            str_field(buf, "state_digest", r->digest, sizeof r->digest);
            r->view = u64_field(buf, "view");
            r->applied = u64_field(buf, "applied");
            r->view_changes = u64_field(buf, "view_changes");
            r->state_transfers = u64_field(buf, "state_transfers");
            (void)u64_field(buf, "repairs");
            (void)u64_field(buf, "dropped");
            const char *lease = after_key(buf, "lease");
            r->lease = lease != NULL && strncmp(lease, "true", 4) == 0;
        }
        line = end + 1;
    }
}

Test(cluster_cli, status_shows_the_roles_a_failover_and_a_state_transfer)
{
    /* Proves `livedrop cluster status` tells an operator what happened, from every node: one
     * primary with its lease and equal digests in a healthy cluster; after a kill -9 of the
     * primary, that node unreachable (exit 3) and the survivors in a newer view, each counting
     * the view change; after a wipe, the wiped node counting the state snapshot it installed.
     * How: real nodes, real kills (harness_cluster.c), and the CLI's --json and human output
     * checked at each step against the harness's own view of the replicas. */
    ldh_cluster c;
    ldh_cluster_init(&c, CC_N, 0);
    ldh_cluster_start_all(&c);
    int p = ldh_cluster_wait_primary(&c, CC_ALL, CC_TIMEOUT_MS);
    ldh_cluster_wait_converged(&c, CC_ALL, 0, CC_TIMEOUT_MS);

    ldh_cli res;
    cc_row rows[CC_N];
    status_cli(&c, true, &res, rows);
    cr_assert_eq(res.status, 0, "exit %d: %s%s", res.status, res.out, res.err);
    int primaries = 0;
    for (int i = 0; i < CC_N; i++) {
        cr_assert_str_eq(rows[i].code, "OK", "%s", res.out);
        cr_assert_str_eq(rows[i].digest, rows[0].digest, "%s", res.out);
        if (strcmp(rows[i].role, "primary") == 0) {
            primaries++;
            cr_assert_eq(i, p, "%s", res.out);
            cr_assert(rows[i].lease, "%s", res.out);
        }
    }
    cr_assert_eq(primaries, 1, "%s", res.out);
    uint64_t view0 = rows[p].view;
    ldh_cli_free(&res);

    /* kill -9 the primary: the survivors elect another one. */
    ldh_node_kill9(&c.nodes[p]);
    unsigned survivors = CC_ALL & ~(1u << p);
    int q = ldh_cluster_wait_primary(&c, survivors, CC_TIMEOUT_MS);
    status_cli(&c, true, &res, rows);
    cr_assert_eq(res.status, 3, "a dead node: exit %d: %s%s", res.status, res.out, res.err);
    cr_assert(strcmp(rows[p].code, "ERR_CONNECTION") == 0 ||
                  strcmp(rows[p].code, "ERR_TIMEOUT") == 0,
              "%s", res.out);
    for (int i = 0; i < CC_N; i++) {
        if (i == p)
            continue;
        cr_assert_str_eq(rows[i].code, "OK", "%s", res.out);
        cr_assert_gt(rows[i].view, view0, "%s", res.out);
        cr_assert_geq(rows[i].view_changes, 1, "node %d counts its view change: %s", i + 1,
                      res.out);
    }
    cr_assert_str_eq(rows[q].role, "primary", "%s", res.out);
    ldh_cli_free(&res);
    status_cli(&c, false, &res, rows);
    cr_assert_eq(res.status, 3);
    cr_assert(strstr(res.out, "unreachable") != NULL, "%s", res.out);
    cr_assert(strstr(res.out, "xfers") != NULL, "%s", res.out);
    ldh_cli_free(&res);

    /* Some state to transfer: a drop and orders through the new primary. */
    ld_client *client = ldh_client_try(c.addrs, CC_CALL_MS, 0);
    cr_assert(client != NULL);
    ld_drop_spec drop;
    ldh_drop_create_live(client, &drop, 1000, 0, 0);
    for (int k = 0; k < 20; k++) {
        ld_id user = ldh_id();
        char key[32];
        snprintf(key, sizeof key, "cc-%d", k);
        ld_order o;
        ld_errmsg msg;
        cr_assert_eq(ld_place_order(client, &drop.id, &user, 1, key, "pm_card_ok", &o, &msg), LD_OK,
                     "%s", msg.text);
    }
    ld_client_close(client);

    /* Restart it on its data, wipe a backup: the wiped one comes back by state transfer. */
    ldh_node_start(&c.nodes[p]);
    int w = (q + 1) % CC_N;
    ldh_cluster_wipe(&c, w);
    ldh_node_start(&c.nodes[w]);
    ldh_cluster_wait_converged(&c, CC_ALL, 0, CC_TIMEOUT_MS);
    status_cli(&c, true, &res, rows);
    cr_assert_eq(res.status, 0, "exit %d: %s%s", res.status, res.out, res.err);
    cr_assert_geq(rows[w].state_transfers, 1, "node %d installed a snapshot: %s", w + 1, res.out);
    for (int i = 0; i < CC_N; i++)
        cr_assert_str_eq(rows[i].digest, rows[0].digest, "%s", res.out);
    ldh_cli_free(&res);

    for (int i = 0; i < CC_N; i++)
        ldh_node_stop(&c.nodes[i], LDH_STOP_TIMEOUT_MS);
    ldh_cluster_destroy(&c);
}
