/*
 * test_config.c -- the cluster-conf parser (node/config.c): the `cluster_id` and repeatable
 * `replica` keys, the replica-count and own-line checks, --format, and the flags that still win
 * over the own line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char path[64];

static void
write_conf(const char *text)
{
    snprintf(path, sizeof path, "/tmp/ld-config-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

static void
teardown(void)
{
    if (path[0] != '\0')
        unlink(path);
    path[0] = '\0';
}

TestSuite(config, .fini = teardown);

#define THREE                                                                                      \
    "cluster_id = 7\n"                                                                             \
    "replica = 1 tcp://127.0.0.1:7400 tcp://127.0.0.1:7402 tcp://127.0.0.1:7401\n"                 \
    "replica = 2 tcp://127.0.0.1:7410 tcp://127.0.0.1:7412 tcp://127.0.0.1:7411\n"                 \
    "replica = 3 tcp://127.0.0.1:7420 tcp://127.0.0.1:7422 none  # no push on this one\n"

/* Parses argv (NULL-terminated) after writing `text` as the --config file. */
static ldi_cli_action
parse(const char *text, ldi_config *cfg, char *err, size_t err_len, const char *a1, const char *a2,
      const char *a3)
{
    write_conf(text);
    char *argv[8] = {(char *)"livedrop-node", (char *)"--config", path};
    int argc = 3;
    const char *extra[] = {a1, a2, a3};
    for (int i = 0; i < 3 && extra[i] != NULL; i++)
        argv[argc++] = (char *)extra[i];
    argv[argc] = NULL;
    err[0] = '\0';
    return ldi_config_parse_args(cfg, argc, argv, err, err_len);
}

/* Expects `text` to be refused at `line` with a message containing `what`. */
static void
expect_bad(const char *text, unsigned line, const char *what)
{
    ldi_config cfg;
    char err[512];
    cr_assert_eq(parse(text, &cfg, err, sizeof err, "--node-id", "1", NULL), LDI_CLI_USAGE,
                 "accepted: %s", text);
    char where[96];
    if (line > 0) {
        snprintf(where, sizeof where, "%s:%u: ", path, line);
        cr_assert(strstr(err, where) != NULL, "error \"%s\" does not name line %u", err, line);
    }
    cr_assert(strstr(err, what) != NULL, "error \"%s\" does not say \"%s\"", err, what);
    teardown();
}

Test(config, three_replicas_own_line_gives_listen_and_publish)
{
    /* Goal: a good 3-replica file is read in order and node 2 takes its addresses from its own
     * line. Method: parse with --node-id 2 and compare every field. */
    ldi_config cfg;
    char err[512];
    cr_assert_eq(parse(THREE, &cfg, err, sizeof err, "--node-id", "2", NULL), LDI_CLI_RUN, "%s",
                 err);
    cr_assert_eq(cfg.cluster_id, 7);
    cr_assert_eq(cfg.replica_count, 3);
    cr_assert_eq(cfg.replica_index, 1);
    cr_assert_eq(cfg.replicas[2].node_id, 3);
    cr_assert_str_eq(cfg.replicas[0].peer_url, "tcp://127.0.0.1:7402");
    cr_assert_str_eq(cfg.replicas[2].publish_url, "none");
    cr_assert_str_eq(cfg.listen, "tcp://127.0.0.1:7410");
    cr_assert_str_eq(cfg.publish, "tcp://127.0.0.1:7411");
    cr_assert(!cfg.format);
}

Test(config, flags_win_over_the_own_line_and_format_is_a_flag)
{
    /* Goal: --listen / --publish still override the own line; --format is recorded. Method:
     * parse node 3 with both flags and --format. */
    ldi_config cfg;
    char err[512];
    write_conf(THREE);
    char *argv[] = {(char *)"livedrop-node",
                    (char *)"-c",
                    path,
                    (char *)"--node-id",
                    (char *)"3",
                    (char *)"--listen",
                    (char *)"tcp://127.0.0.1:9999",
                    (char *)"--format",
                    NULL};
    cr_assert_eq(ldi_config_parse_args(&cfg, 8, argv, err, sizeof err), LDI_CLI_RUN, "%s", err);
    cr_assert_str_eq(cfg.listen, "tcp://127.0.0.1:9999");
    cr_assert_str_eq(cfg.publish, "none");
    cr_assert_eq(cfg.replica_index, 2);
    cr_assert(cfg.format);
}

Test(config, no_replica_lines_is_the_single_node)
{
    /* Goal: a file without replica lines (single.conf style) changes nothing of the single node.
     * Method: parse a listen line only; replica_count stays 0, listen comes from the file. */
    ldi_config cfg;
    char err[512];
    cr_assert_eq(parse("listen = tcp://127.0.0.1:7500\n", &cfg, err, sizeof err, NULL, NULL, NULL),
                 LDI_CLI_RUN, "%s", err);
    cr_assert_eq(cfg.replica_count, 0);
    cr_assert_eq(cfg.cluster_id, 0);
    cr_assert_str_eq(cfg.listen, "tcp://127.0.0.1:7500");
}

Test(config, one_replica_line_is_allowed)
{
    /* Goal: one replica line is a replica group of one. Method: parse it. */
    ldi_config cfg;
    char err[512];
    cr_assert_eq(parse("cluster_id = 3\nreplica = 1 tcp://127.0.0.1:7400 tcp://127.0.0.1:7402 "
                       "none\n",
                       &cfg, err, sizeof err, NULL, NULL, NULL),
                 LDI_CLI_RUN, "%s", err);
    cr_assert_eq(cfg.replica_count, 1);
    cr_assert_str_eq(cfg.publish, "none");
}

Test(config, bad_replica_lines_name_the_line)
{
    /* Goal: every malformed replica line is refused with its line number and what is wrong.
     * Method: one file per mistake, on line 2 (line 1 is cluster_id). */
    const char *head = "cluster_id = 7\n";
    struct {
        const char *line;
        const char *what;
    } bad[] = {
        {"replica = 1 tcp://a:1 tcp://a:2\n", "got 3 field(s)"},
        {"replica = 1 tcp://a:1 tcp://a:2 none extra\n", "more than 4 field(s)"},
        {"replica = 0 tcp://a:1 tcp://a:2 none\n", "node_id: expected a number in 1..65535"},
        {"replica = x tcp://a:1 tcp://a:2 none\n", "node_id: expected a number"},
        {"replica = 70000 tcp://a:1 tcp://a:2 none\n", "node_id"},
        {"replica = 1 127.0.0.1:7400 tcp://a:2 none\n", "expected an NNG URL"},
        {"replica = 1 tcp://a:1 a:2 none\n", "expected an NNG URL"},
        {"replica = 1 tcp://a:1 tcp://a:2 a:3\n", "expected an NNG URL"},
        {"replica = 1 tcp://a:1 tcp://a:1 none\n", "must differ"},
        {"replica =\n", "missing value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "%s%s", head, bad[i].line);
        expect_bad(text, 2, bad[i].what);
    }
}

Test(config, replica_lines_must_be_distinct)
{
    /* Goal: a node id, client URL or peer URL given twice is refused on the second line.
     * Method: three files, each repeating one field on line 3. */
    expect_bad("cluster_id = 7\nreplica = 1 tcp://a:1 tcp://a:2 none\n"
               "replica = 1 tcp://b:1 tcp://b:2 none\n",
               3, "node_id 1 is listed twice");
    expect_bad("cluster_id = 7\nreplica = 1 tcp://a:1 tcp://a:2 none\n"
               "replica = 2 tcp://a:1 tcp://b:2 none\n",
               3, "used by an earlier replica line");
    expect_bad("cluster_id = 7\nreplica = 1 tcp://a:1 tcp://a:2 none\n"
               "replica = 2 tcp://b:1 tcp://a:2 none\n",
               3, "used by an earlier replica line");
}

Test(config, replica_count_cluster_id_and_own_line_are_checked)
{
    /* Goal: 2, 4 or 6 replica lines, a missing or zero cluster_id, and a node that is in no
     * line are refused. Method: one file each; the whole-file errors name the file. */
    expect_bad("cluster_id = 7\nreplica = 1 tcp://a:1 tcp://a:2 none\n"
               "replica = 2 tcp://b:1 tcp://b:2 none\n",
               0, "2 replica lines; a replica group has 1, 3 or 5");
    char six[1024] = "cluster_id = 7\n";
    for (int i = 1; i <= 6; i++) {
        char line[128];
        snprintf(line, sizeof line, "replica = %d tcp://h%d:1 tcp://h%d:2 none\n", i, i, i);
        strcat(six, line);
    }
    expect_bad(six, 7, "more than 5 replica lines");
    expect_bad("replica = 1 tcp://a:1 tcp://a:2 none\n", 0, "need cluster_id");
    expect_bad("cluster_id = 0\n", 1, "cluster_id: expected a number in 1..");
    expect_bad("cluster_id = 7\ncluster_id = 8\n", 2, "set twice");
    ldi_config cfg;
    char err[512];
    cr_assert_eq(parse(THREE, &cfg, err, sizeof err, "--node-id", "4", NULL), LDI_CLI_USAGE);
    cr_assert(strstr(err, "node_id 4 is not in any replica line") != NULL, "%s", err);
}

Test(config, help_mentions_format)
{
    /* Goal: --help documents --format. Method: look for it in the usage text. */
    cr_assert(strstr(ldi_config_usage(), "--format") != NULL);
}
