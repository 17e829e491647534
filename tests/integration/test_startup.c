/*
 * test_startup.c -- a node that cannot serve leaves no trace: when a port it must bind (client,
 * publish or peer) is taken, it exits 1 saying which, before it creates or formats a data
 * directory.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "harness_cluster.h"

TestSuite(startup, .fini = ldh_suite_fini, .timeout = 120);

#define STARTUP_RUN_MS 20000

/* Binds and listens on 127.0.0.1:port (as another program holding it would); returns the fd. */
static int
occupy(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "bind %u", (unsigned)port);
    cr_assert_eq(listen(fd, 4), 0);
    return fd;
}

/* Number of entries in `dir` besides . and .. (0 when it does not exist). */
static int
dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int n = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Runs the node binary with argv and asserts: exit 1, "Address in use" and `port_url` on
 * stderr, and nothing written into data_dir. */
static void
expect_refused(const char *const *argv, const char *port_url, const char *data_dir)
{
    ldh_cli r;
    ldh_prog_run(&r, STARTUP_RUN_MS, ldh_node_bin(), argv);
    cr_assert_eq(r.status, 1, "exit %d, expected 1; stderr: %s", r.status, r.err);
    cr_assert(strstr(r.err, "Address in use") != NULL, "stderr: %s", r.err);
    cr_assert(strstr(r.err, port_url) != NULL, "stderr does not name %s: %s", port_url, r.err);
    cr_assert_eq(dir_entries(data_dir), 0, "the node wrote into %s although it cannot serve",
                 data_dir);
    ldh_cli_free(&r);
}

Test(startup, a_taken_client_or_publish_port_creates_no_data_directory)
{
    /* Goal: a single node whose client port, or publish port, is taken exits 1 naming the
     * address and creates nothing. Method: hold the port with a listening socket, run the node
     * on a data directory that does not exist yet, check the exit, stderr and that the
     * directory is still absent; then free the port and the same command serves. Before the fix
     * the node formatted the directory first. */
    ldh_node n;
    ldh_node_init(&n, 0);
    char data[sizeof n.data_dir];
    cr_assert_lt((size_t)snprintf(data, sizeof data, "%.250s/fresh", n.root), sizeof data);

    int fd = occupy(n.port);
    const char *argv[] = {"--listen", n.url, "--publish", "none", "--data", data, NULL};
    expect_refused(argv, n.url, data);
    close(fd);

    fd = occupy(n.pub_port);
    const char *argv_pub[] = {"--listen", n.url, "--publish", n.pub_url, "--data", data, NULL};
    expect_refused(argv_pub, n.pub_url, data);
    close(fd);

    /* Free again: the node starts and creates its directory. */
    snprintf(n.data_dir, sizeof n.data_dir, "%s", data);
    ldh_node_start(&n);
    cr_assert_gt(dir_entries(data), 0);
    ldh_node_destroy(&n);
}

Test(startup, a_taken_peer_port_creates_no_data_directory)
{
    /* Goal: a cluster node whose peer port is taken exits 1 before it formats its directory.
     * Method: a 3-node cluster config; hold node 1's peer port; run it with --format; check the
     * exit, stderr and the empty data directory. */
    ldh_cluster c;
    ldh_cluster_init(&c, 3, 0);
    ldh_node *n = &c.nodes[0];
    char peer_url[64];
    snprintf(peer_url, sizeof peer_url, "tcp://127.0.0.1:%u", (unsigned)c.peer_port[0]);
    int fd = occupy(c.peer_port[0]);
    const char *argv[] = {"--config", c.conf_path, "--node-id", "1",
                          "--data",   n->data_dir, "--format",  NULL};
    expect_refused(argv, peer_url, n->data_dir);
    close(fd);
    ldh_cluster_destroy(&c);
}
