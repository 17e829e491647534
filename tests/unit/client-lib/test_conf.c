/*
 * test_conf.c -- ld_conf_client_addrs (client-lib/lib/conf.c): the client addresses a
 * cluster-conf file gives, written to temp files: replica lines in order, comments, the listen
 * fallback, the node's default, and the refusals (malformed replica, too many, long line,
 * missing file, small buffer).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "livedrop.h"

static char path[64];

static void
write_conf(const char *text)
{
    strcpy(path, "/tmp/ld-test-conf-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *f = fdopen(fd, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void
cleanup(void)
{
    if (path[0] != '\0')
        unlink(path);
    path[0] = '\0';
}

TestSuite(conf, .fini = cleanup);

Test(conf, replica_lines_give_client_urls_in_order)
{
    /* The local-3 layout with comments and other keys: the client_url of each replica line,
     * in file order, joined by commas; everything else is ignored. */
    write_conf("# three nodes\n"
               "cluster_id = 7   # a comment\n"
               "replica = 1 tcp://127.0.0.1:7400 tcp://127.0.0.1:7402 tcp://127.0.0.1:7401\n"
               "  replica=2 tcp://127.0.0.1:7410 tcp://127.0.0.1:7412 none # two\n"
               "replica = 3\ttcp://127.0.0.1:7420 tcp://127.0.0.1:7422 tcp://127.0.0.1:7421\n"
               "listen = tcp://127.0.0.1:9999\n"
               "data_dir = ./x\n");
    char out[LD_CLIENT_ADDR_LIST_BYTES];
    ld_errmsg msg;
    cr_assert_eq(ld_conf_client_addrs(path, out, sizeof out, &msg), LD_OK, "%s", msg.text);
    cr_assert_str_eq(out, "tcp://127.0.0.1:7400,tcp://127.0.0.1:7410,tcp://127.0.0.1:7420");
    ld_client *c;
    cr_assert_eq(ld_client_open(out, NULL, &c), LD_OK, "the list opens a client");
    cr_assert_eq(ld_client_addrs_count(c), 3);
    ld_client_close(c);
}

Test(conf, single_node_conf_gives_listen_or_the_default)
{
    /* Without replica lines the conf is one node: its listen URL, or the node's default
     * tcp://127.0.0.1:7400 when listen is absent. */
    write_conf("node_id = 1\nlisten = tcp://127.0.0.1:7555 # here\n");
    char out[LD_CLIENT_ADDR_LIST_BYTES];
    cr_assert_eq(ld_conf_client_addrs(path, out, sizeof out, NULL), LD_OK);
    cr_assert_str_eq(out, "tcp://127.0.0.1:7555");
    cleanup();
    write_conf("node_id = 1\n");
    cr_assert_eq(ld_conf_client_addrs(path, out, sizeof out, NULL), LD_OK);
    cr_assert_str_eq(out, "tcp://127.0.0.1:7400");
}

Test(conf, bad_files_are_refused_with_a_reason)
{
    /* A replica line without its four fields, more than LD_CLIENT_ADDRS_MAX replicas, a line
     * longer than LD_CLIENT_CONF_LINE_BYTES_MAX, a missing file and a buffer too small all give
     * LD_ERR_INVALID_ARGUMENT, a message, and an empty out. */
    char out[LD_CLIENT_ADDR_LIST_BYTES];
    ld_errmsg msg;
    write_conf("replica = 1 tcp://127.0.0.1:7400\n");
    cr_assert_eq(ld_conf_client_addrs(path, out, sizeof out, &msg), LD_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(msg.text, "line 1") != NULL, "%s", msg.text);
    cr_assert_str_eq(out, "");
    cleanup();

    char many[2048] = "";
    for (unsigned i = 0; i <= LD_CLIENT_ADDRS_MAX; i++) {
        char line[128];
        snprintf(line, sizeof line, "replica = %u tcp://127.0.0.1:%u tcp://127.0.0.1:%u none\n",
                 i + 1, 7400 + 10 * i, 7402 + 10 * i);
        strcat(many, line);
    }
    write_conf(many);
    cr_assert_eq(ld_conf_client_addrs(path, out, sizeof out, &msg), LD_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(msg.text, "LD_CLIENT_ADDRS_MAX") != NULL, "%s", msg.text);
    cleanup();

    static char longline[LD_CLIENT_CONF_LINE_BYTES_MAX + 64];
    memset(longline, 'x', sizeof longline - 2);
    longline[sizeof longline - 2] = '\n';
    write_conf(longline);
    cr_assert_eq(ld_conf_client_addrs(path, out, sizeof out, &msg), LD_ERR_INVALID_ARGUMENT);
    cleanup();

    cr_assert_eq(ld_conf_client_addrs("/nonexistent/ld.conf", out, sizeof out, &msg),
                 LD_ERR_INVALID_ARGUMENT);
    cr_assert(strstr(msg.text, "/nonexistent/ld.conf") != NULL);

    write_conf("replica = 1 tcp://127.0.0.1:7400 a b\nreplica = 2 tcp://127.0.0.1:7410 a b\n");
    char small[24];
    cr_assert_eq(ld_conf_client_addrs(path, small, sizeof small, &msg), LD_ERR_INVALID_ARGUMENT);
    cr_assert_str_eq(small, "");
}
