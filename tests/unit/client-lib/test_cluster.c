/*
 * test_cluster.c -- liblivedrop against a cluster: the routing of client.c (not-primary
 * redirects, failover to the next address, the call's deadline over all of it), follower reads,
 * ld_cluster_status (api_cluster.c) and the address list, against two or three scripted fake
 * nodes (fake_node.h) on free loopback ports.
 */
#include "fake_node.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define NODES 3

static fake_node nodes[NODES];

static void
setup(void)
{
    for (int i = 0; i < NODES; i++)
        fake_start(&nodes[i]);
}

static void
teardown(void)
{
    for (int i = 0; i < NODES; i++)
        fake_stop(&nodes[i]);
}

TestSuite(cluster, .init = setup, .fini = teardown, .timeout = 60);

/* "url0,url1[,url2]" of the first n fake nodes. */
static const char *
addrs(int n)
{
    static char buf[3 * 80];
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (i > 0)
            strcat(buf, ",");
        strcat(buf, nodes[i].url);
    }
    return buf;
}

static void
set_not_primary(fake_node *n, bool on, const char *named, uint64_t view)
{
    pthread_mutex_lock(&n->mu);
    n->not_primary = on;
    snprintf(n->not_primary_addr, sizeof n->not_primary_addr, "%s", named);
    n->view = view;
    pthread_mutex_unlock(&n->mu);
}

static void
set_silent(fake_node *n, bool on)
{
    pthread_mutex_lock(&n->mu);
    n->silent = on;
    pthread_mutex_unlock(&n->mu);
}

static uint32_t
ops_seen(fake_node *n)
{
    pthread_mutex_lock(&n->mu);
    uint32_t k = n->nops;
    pthread_mutex_unlock(&n->mu);
    return k;
}

static fake_op
op_at(fake_node *n, uint32_t i)
{
    pthread_mutex_lock(&n->mu);
    cr_assert_lt(i, n->nops, "op %u was not received", i);
    fake_op op = n->ops[i];
    pthread_mutex_unlock(&n->mu);
    return op;
}

static ld_err
reserve(ld_client *c, const char *key, ld_errmsg *msg)
{
    ld_id drop = fake_id(2000), user = fake_id(1);
    ld_reservation r;
    return ld_reserve(c, &drop, &user, 1, key, &r, msg);
}

Test(cluster, not_primary_redirects_to_the_named_node_with_the_same_ops)
{
    /* Node 0 refuses as a backup and names node 1. A reserve through "node0,node1" must reach
     * node 1 with the very request node 0 refused (same request id, same idempotency key), end
     * OK in one call, and the next call must go straight to node 1. */
    set_not_primary(&nodes[0], true, nodes[1].url, 4);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 5000};
    cr_assert_eq(ld_client_open(addrs(2), &opts, &c), LD_OK);
    ld_errmsg msg;
    cr_assert_eq(reserve(c, "key-1", &msg), LD_OK, "%s", msg.text);
    fake_op refused = op_at(&nodes[0], 0), taken = op_at(&nodes[1], 0);
    cr_assert_eq(refused.body, LDPB__OP__BODY_RESERVE);
    cr_assert_eq(taken.body, LDPB__OP__BODY_RESERVE);
    cr_assert_str_eq(refused.key, "key-1");
    cr_assert_str_eq(taken.key, "key-1");
    cr_assert_eq(refused.request_id, taken.request_id, "the resend is the same request");
    ld_call_info info;
    cr_assert(ld_client_last_call(c, &info));
    cr_assert_eq(info.addr_index, 1);

    cr_assert_eq(reserve(c, "key-2", &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(ops_seen(&nodes[0]), 1, "the second call went to the primary directly");
    cr_assert_str_eq(op_at(&nodes[1], 1).key, "key-2");
    ld_client_stats st;
    ld_client_stats_get(c, &st);
    cr_assert_eq(st.redirects, 1);
    cr_assert_eq(st.failovers, 0);
    ld_client_close(c);
}

typedef struct storm_arg {
    pthread_t thread;
    ld_client *client;
    int index;
    ld_err err;
} storm_arg;

static void *
storm_main(void *p)
{
    storm_arg *a = p;
    char key[32];
    snprintf(key, sizeof key, "storm-%d", a->index);
    a->err = reserve(a->client, key, NULL);
    return NULL;
}

Test(cluster, redirect_keeps_coalescing_and_sends_each_key_once_to_the_primary)
{
    /* 48 threads reserve through a client with 4 messages in flight whose first address is a
     * backup naming node 1; node 1 answers slowly, so calls pile up and coalesce. Every call
     * ends OK, node 1 receives each key exactly once, and some request carried several ops. */
    set_not_primary(&nodes[0], true, nodes[1].url, 2);
    pthread_mutex_lock(&nodes[1].mu);
    nodes[1].delay_ms = 10;
    pthread_mutex_unlock(&nodes[1].mu);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 10000, .inflight_max = 4};
    cr_assert_eq(ld_client_open(addrs(2), &opts, &c), LD_OK);
    enum { N = 48 };
    static storm_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (storm_arg){.client = c, .index = i};
        cr_assert_eq(pthread_create(&args[i].thread, NULL, storm_main, &args[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(args[i].thread, NULL);
        cr_assert_eq(args[i].err, LD_OK, "call %d: %s", i, ld_err_name(args[i].err));
    }
    uint32_t seen[N] = {0};
    pthread_mutex_lock(&nodes[1].mu);
    for (uint32_t i = 0; i < nodes[1].nops; i++) {
        int k = -1;
        cr_assert_eq(sscanf(nodes[1].ops[i].key, "storm-%d", &k), 1);
        cr_assert(k >= 0 && k < N);
        seen[k]++;
    }
    uint32_t max_ops = nodes[1].max_ops_per_request;
    pthread_mutex_unlock(&nodes[1].mu);
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "key storm-%d reached the primary %u times", i, seen[i]);
    cr_assert_gt(max_ops, 1, "calls were coalesced");
    ld_client_close(c);
}

Test(cluster, not_primary_without_a_name_tries_the_next_node_after_the_backoff)
{
    /* During a view change node 0 names nobody: the client waits
     * LD_CLIENT_NOT_PRIMARY_BACKOFF_MS, then sends the same op to the next address. */
    set_not_primary(&nodes[0], true, "", 5);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 5000};
    cr_assert_eq(ld_client_open(addrs(2), &opts, &c), LD_OK);
    ld_errmsg msg;
    ld_id user = fake_id(1);
    ld_user u;
    int64_t t0 = fake_now_ms();
    cr_assert_eq(ld_user_get(c, &user, &u, &msg), LD_OK, "%s", msg.text);
    cr_assert_geq(fake_now_ms() - t0, LD_CLIENT_NOT_PRIMARY_BACKOFF_MS - 1, "backed off");
    cr_assert_eq(reserve(c, "key-vc", &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(op_at(&nodes[0], 0).body, LDPB__OP__BODY_GET_USER);
    cr_assert_eq(op_at(&nodes[1], 0).body, LDPB__OP__BODY_GET_USER);
    cr_assert_eq(op_at(&nodes[1], 1).body, LDPB__OP__BODY_RESERVE, "node 1 is primary now");
    cr_assert_eq(ops_seen(&nodes[0]), 1);
    ld_client_close(c);
}

Test(cluster, backoff_delays_the_resend_to_the_same_lone_node)
{
    /* One address; the node refuses without a name (a view change) until the test clears it,
     * after it saw three attempts. The client keeps resending the same op to that node, spaced
     * by the backoff (at most elapsed / LD_CLIENT_NOT_PRIMARY_BACKOFF_MS + 1 attempts), and the
     * call succeeds once the node accepts. */
    set_not_primary(&nodes[0], true, "", 1);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 5000};
    cr_assert_eq(ld_client_open(nodes[0].url, &opts, &c), LD_OK);
    storm_arg a = {.client = c, .index = 7};
    int64_t t0 = fake_now_ms();
    cr_assert_eq(pthread_create(&a.thread, NULL, storm_main, &a), 0);
    fake_wait_ops(&nodes[0], 3);
    set_not_primary(&nodes[0], false, "", 1);
    pthread_join(a.thread, NULL);
    cr_assert_eq(a.err, LD_OK, "%s", ld_err_name(a.err));
    int64_t took = fake_now_ms() - t0;
    uint32_t attempts = ops_seen(&nodes[0]);
    cr_assert_leq(attempts, (uint32_t)(took / LD_CLIENT_NOT_PRIMARY_BACKOFF_MS) + 2,
                  "%u attempts in %lld ms: no backoff", attempts, (long long)took);
    for (uint32_t i = 0; i < attempts; i++)
        cr_assert_str_eq(op_at(&nodes[0], i).key, "storm-7");
    ld_client_close(c);
}

Test(cluster, unknown_named_primary_ends_the_call_with_not_primary)
{
    /* The node names a primary the client was not given: the call ends with
     * LD_ERR_NOT_PRIMARY and a message naming that address, instead of waiting for a timeout. */
    set_not_primary(&nodes[0], true, "tcp://10.9.9.9:7400", 3);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 5000};
    cr_assert_eq(ld_client_open(nodes[0].url, &opts, &c), LD_OK);
    ld_errmsg msg;
    cr_assert_eq(reserve(c, "key-x", &msg), LD_ERR_NOT_PRIMARY);
    cr_assert(strstr(msg.text, "tcp://10.9.9.9:7400") != NULL, "%s", msg.text);
    ld_client_close(c);
}

Test(cluster, silent_node_fails_over_after_the_failover_timeout)
{
    /* Node 0 takes requests and never answers (SIGSTOP, a partition). A reserve through
     * "node0,node1" must be resent, the same request, to node 1 once
     * LD_CLIENT_FAILOVER_TIMEOUT_MS passed, and succeed well before the call's timeout; later
     * calls go to node 1 at once. */
    set_silent(&nodes[0], true);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 6000};
    cr_assert_eq(ld_client_open(addrs(2), &opts, &c), LD_OK);
    ld_errmsg msg;
    int64_t t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-f", &msg), LD_OK, "%s", msg.text);
    int64_t took = fake_now_ms() - t0;
    cr_assert_geq(took, LD_CLIENT_FAILOVER_TIMEOUT_MS - 5, "failed over after %lld ms",
                  (long long)took);
    cr_assert_lt(took, 4000);
    fake_op a = op_at(&nodes[0], 0), b = op_at(&nodes[1], 0);
    cr_assert_str_eq(a.key, "key-f");
    cr_assert_str_eq(b.key, "key-f");
    cr_assert_eq(a.request_id, b.request_id);
    t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-g", &msg), LD_OK, "%s", msg.text);
    cr_assert_lt(fake_now_ms() - t0, LD_CLIENT_FAILOVER_TIMEOUT_MS, "went to node 1 at once");
    cr_assert_eq(ops_seen(&nodes[0]), 1);
    ld_client_stats st;
    ld_client_stats_get(c, &st);
    cr_assert_eq(st.failovers, 1);
    ld_client_close(c);
}

/* Waits (up to 5 s) until the client saw `n` connections drop. */
static void
wait_connections_lost(ld_client *c, uint64_t n)
{
    ld_client_stats st;
    int64_t end = fake_now_ms() + 5000;
    do {
        ld_client_stats_get(c, &st);
        if (st.connections_lost >= n)
            return;
        struct timespec ts = {.tv_nsec = 1000000};
        nanosleep(&ts, NULL);
    } while (fake_now_ms() < end);
    cr_assert_fail("the client saw %llu lost connections, expected %llu",
                   (unsigned long long)st.connections_lost, (unsigned long long)n);
}

typedef struct stop_after_op {
    fake_node *node;
} stop_after_op;

static void *
stop_after_first_op(void *arg)
{
    stop_after_op *s = arg;
    fake_wait_ops(s->node, 1);
    fake_stop(s->node);
    return NULL;
}

Test(cluster, dropped_connection_moves_the_message_on_at_once)
{
    /* A node that dies (kill -9) holding a request drops its connection. The message must go
     * to the next address at once, not after LD_CLIENT_FAILOVER_TIMEOUT_MS (a payment: 5 s).
     * How: node 0 takes the reserve and never answers; a thread stops node 0 (its socket
     * closes) as soon as it has the op; the reserve must succeed on node 1 well within the
     * failover timeout, with the same key, and the client counts the lost connection. */
    set_silent(&nodes[0], true);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 6000};
    cr_assert_eq(ld_client_open(addrs(2), &opts, &c), LD_OK);
    stop_after_op s = {.node = &nodes[0]};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, stop_after_first_op, &s), 0);
    ld_errmsg msg;
    int64_t t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-d", &msg), LD_OK, "%s", msg.text);
    int64_t took = fake_now_ms() - t0;
    pthread_join(tid, NULL);
    cr_assert_lt(took, LD_CLIENT_FAILOVER_TIMEOUT_MS / 2, "moved on after %lld ms",
                 (long long)took);
    cr_assert_str_eq(op_at(&nodes[1], 0).key, "key-d");
    ld_client_stats st;
    ld_client_stats_get(c, &st);
    cr_assert_geq(st.connections_lost, 1);
    ld_client_close(c);
}

Test(cluster, a_named_primary_without_a_connection_is_not_followed)
{
    /* Just after the primary dies, a backup still names it in NOT_PRIMARY. Following that name
     * would park the message on a dead node's socket for the failover timeout. How: the client
     * talks to node 0 (primary), node 0 stops; node 1 answers NOT_PRIMARY naming node 0, node 2
     * serves; a reserve must reach node 2 well within LD_CLIENT_FAILOVER_TIMEOUT_MS, and node 0
     * is not tried (the client's primary left it when its connection dropped). */
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 6000};
    cr_assert_eq(ld_client_open(addrs(3), &opts, &c), LD_OK);
    ld_errmsg msg;
    cr_assert_eq(reserve(c, "key-p", &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(ops_seen(&nodes[0]), 1);
    set_not_primary(&nodes[1], true, nodes[0].url, 1);
    fake_stop(&nodes[0]);
    wait_connections_lost(c, 1);
    int64_t t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-q", &msg), LD_OK, "%s", msg.text);
    int64_t took = fake_now_ms() - t0;
    cr_assert_lt(took, LD_CLIENT_FAILOVER_TIMEOUT_MS / 2, "served after %lld ms", (long long)took);
    cr_assert_str_eq(op_at(&nodes[2], 0).key, "key-q");
    ld_client_close(c);
}

Test(cluster, a_client_opened_while_its_first_node_is_down_starts_on_a_live_one)
{
    /* A short-lived client (the CLI, a restarted gateway) opened after the first node of its
     * list died must not send its first call there and wait out the failover timeout. How:
     * node 0 is stopped before the open (its port refuses); the first reserve must succeed
     * on node 1 well within LD_CLIENT_FAILOVER_TIMEOUT_MS, counting the open's bounded wait. */
    fake_stop(&nodes[0]);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 6000};
    int64_t t0 = fake_now_ms();
    cr_assert_eq(ld_client_open(addrs(2), &opts, &c), LD_OK);
    ld_errmsg msg;
    cr_assert_eq(reserve(c, "key-o", &msg), LD_OK, "%s", msg.text);
    int64_t took = fake_now_ms() - t0;
    cr_assert_lt(took, LD_CLIENT_FAILOVER_TIMEOUT_MS / 2, "served after %lld ms", (long long)took);
    ld_client_stats st;
    ld_client_stats_get(c, &st);
    cr_assert_eq(st.failovers, 0);
    ld_client_close(c);
}

Test(cluster, open_with_every_node_down_returns_and_calls_end_in_a_connection_error)
{
    /* With no node up, ld_client_open returns at once (every address refuses: no connection is
     * coming) and a call ends at once, unsent, with LD_ERR_CONNECTION naming an address -- not
     * at its deadline, and not LD_ERR_TIMEOUT. How: stop all three fake nodes, open over their
     * addresses, reserve with a 10 s timeout, time both. Before the connect gate the open took
     * LD_CLIENT_OPEN_CONNECT_WAIT_MS and the call its whole timeout. */
    for (int i = 0; i < NODES; i++)
        fake_stop(&nodes[i]);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 10000};
    int64_t t0 = fake_now_ms();
    cr_assert_eq(ld_client_open(addrs(3), &opts, &c), LD_OK);
    int64_t open_ms = fake_now_ms() - t0;
    ld_errmsg msg;
    t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-n", &msg), LD_ERR_CONNECTION, "%s", msg.text);
    int64_t call_ms = fake_now_ms() - t0;
    cr_assert_lt(open_ms, LD_CLIENT_OPEN_CONNECT_WAIT_MS, "open took %lld ms", (long long)open_ms);
    cr_assert_lt(call_ms, 1000, "a call to refusing addresses took %lld ms", (long long)call_ms);
    cr_assert(strstr(msg.text, "refused") != NULL && strstr(msg.text, "tcp://127.0.0.1:"), "%s",
              msg.text);
    ld_client_stats st;
    ld_client_stats_get(c, &st);
    cr_assert_eq(st.connects_refused, 1);
    cr_assert_eq(st.messages_sent, 0, "a refused call was sent");
    ld_client_close(c);
}

/* Restarts `n` on `url` after `delay_ms`. */
typedef struct restart_arg {
    fake_node *node;
    char url[64];
    int64_t delay_ms;
} restart_arg;

static void *
restart_later(void *arg)
{
    restart_arg *r = arg;
    struct timespec ts = {.tv_sec = r->delay_ms / 1000, .tv_nsec = (r->delay_ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    fake_start_at(r->node, r->url);
    return NULL;
}

Test(cluster, a_restarting_node_is_waited_for_and_a_dead_one_refused_after_the_reconnect_wait)
{
    /* The gate must not turn a node's restart into errors: within LD_CLIENT_RECONNECT_WAIT_MS of
     * a dropped connection a call keeps probing and is served once the node is back; a node that
     * stays down is refused once that time has passed, well before the call's deadline. How: one
     * address; stop the node, restart it on its port 300 ms later while a reserve waits; then
     * stop it for good and time a reserve with a 10 s timeout. */
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 10000};
    cr_assert_eq(ld_client_open(nodes[0].url, &opts, &c), LD_OK);
    ld_errmsg msg;
    cr_assert_eq(reserve(c, "key-r1", &msg), LD_OK, "%s", msg.text);
    restart_arg ra = {.node = &nodes[0], .delay_ms = 300};
    snprintf(ra.url, sizeof ra.url, "%s", nodes[0].url);
    fake_stop(&nodes[0]);
    wait_connections_lost(c, 1);
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, restart_later, &ra), 0);
    int64_t t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-r2", &msg), LD_OK, "%s", msg.text);
    int64_t took = fake_now_ms() - t0;
    pthread_join(tid, NULL);
    cr_assert_geq(took, 200, "served after %lld ms, before the node was back", (long long)took);
    cr_assert_str_eq(op_at(&nodes[0], 0).key, "key-r2");

    fake_stop(&nodes[0]);
    wait_connections_lost(c, 2);
    t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-r3", &msg), LD_ERR_CONNECTION, "%s", msg.text);
    took = fake_now_ms() - t0;
    cr_assert_lt(took, LD_CLIENT_RECONNECT_WAIT_MS + 1000, "refused after %lld ms",
                 (long long)took);
    cr_assert_geq(took, LD_CLIENT_RECONNECT_WAIT_MS / 2, "refused after %lld ms, in the wait",
                  (long long)took);
    ld_client_close(c);
}

typedef struct gate_call {
    ld_client *c;
    ld_err err;
    int64_t took_ms;
} gate_call;

static void *
gate_call_main(void *arg)
{
    gate_call *g = arg;
    int64_t t0 = fake_now_ms();
    g->err = reserve(g->c, "key-g", NULL);
    g->took_ms = fake_now_ms() - t0;
    return NULL;
}

Test(cluster, close_ends_a_call_waiting_in_the_connect_gate)
{
    /* A call waiting in the connect gate must end with LD_ERR_CLOSED as soon as the client is
     * closed, not hold the close until its deadline. How: the only address is a plain TCP
     * listener that never speaks SP (the probe connects, NNG never gets a pipe), so the call
     * waits in the gate for its 10 s deadline; wait until it has probed
     * (ld_client_stats.probes), close, time the call. Without the close waking the gate the
     * call took its whole timeout. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%u", ntohs(a.sin_port));
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 10000};
    cr_assert_eq(ld_client_open(url, &opts, &c), LD_OK);
    gate_call g = {.c = c};
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, gate_call_main, &g), 0);
    /* The first probe shows the call is in the gate (nothing else probes this client). */
    ld_client_stats st;
    int64_t end = fake_now_ms() + 5000;
    do {
        struct timespec ts = {.tv_nsec = 1000000};
        nanosleep(&ts, NULL);
        ld_client_stats_get(c, &st);
    } while (st.probes == 0 && fake_now_ms() < end);
    cr_assert_gt(st.probes, 0, "the call never reached the connect gate");
    ld_client_close(c);
    pthread_join(tid, NULL);
    close(fd);
    cr_assert_eq(g.err, LD_ERR_CLOSED, "%s", ld_err_name(g.err));
    cr_assert_lt(g.took_ms, 1000, "the close waited %lld ms for the gate", (long long)g.took_ms);
}

Test(cluster, a_timeout_after_a_backoff_is_a_timeout_not_an_empty_reply)
{
    /* NNG 1.5.2 marks an aio used by nng_sleep_aio so that its later timeouts complete with
     * result 0 and no message; the client once backed off on the request's own aio, and the
     * next receive that timed out on it crashed in reply_check (found by livedrop-chaos with
     * short deadlines). How: one slot (inflight_max 1); node 0 answers NOT_PRIMARY without a
     * name (a backoff), node 1 never answers (a receive timeout on the same slot), round and
     * round until the deadline: the call must end in LD_ERR_TIMEOUT or LD_ERR_NOT_PRIMARY, and
     * the next call (node 1 answering again) must succeed on the same slot. */
    set_not_primary(&nodes[0], true, "", 3);
    set_silent(&nodes[1], true);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 2600, .inflight_max = 1};
    cr_assert_eq(ld_client_open(addrs(2), &opts, &c), LD_OK);
    ld_errmsg msg;
    ld_err err = reserve(c, "key-b", &msg);
    cr_assert(err == LD_ERR_TIMEOUT || err == LD_ERR_NOT_PRIMARY, "%s: %s", ld_err_name(err),
              msg.text);
    cr_assert_geq(ops_seen(&nodes[1]), 1, "node 1 got the request");
    set_silent(&nodes[1], false);
    cr_assert_eq(reserve(c, "key-c", &msg), LD_OK, "%s", msg.text);
    ld_client_close(c);
}

Test(cluster, every_node_silent_ends_in_timeout_at_the_calls_deadline)
{
    /* Three silent nodes and a 2.5 s timeout: the message visits node 0, 1 and 2 (one
     * failover timeout each), and the call returns LD_ERR_TIMEOUT at its deadline, not later. */
    for (int i = 0; i < NODES; i++)
        set_silent(&nodes[i], true);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 2500};
    cr_assert_eq(ld_client_open(addrs(3), &opts, &c), LD_OK);
    ld_errmsg msg;
    int64_t t0 = fake_now_ms();
    cr_assert_eq(reserve(c, "key-t", &msg), LD_ERR_TIMEOUT, "%s", msg.text);
    int64_t took = fake_now_ms() - t0;
    cr_assert_geq(took, 2490);
    cr_assert_lt(took, 3500, "%lld ms", (long long)took);
    for (int i = 0; i < NODES; i++)
        cr_assert_str_eq(op_at(&nodes[i], 0).key, "key-t", "node %d was tried", i);
    ld_client_close(c);
}

Test(cluster, follower_read_is_set_on_read_messages_only)
{
    /* A follower-read client: a get travels with Request.follower_read and its answer's view
     * and applied_op reach ld_client_last_call; a reserve on the same client travels without
     * the flag; a plain client never sets it. Then 32 threads mix reads and writes through one
     * message slot: no write ever shares a follower-read message. */
    pthread_mutex_lock(&nodes[0].mu);
    nodes[0].view = 9;
    nodes[0].applied_op = 12345;
    nodes[0].delay_ms = 5;
    pthread_mutex_unlock(&nodes[0].mu);
    ld_client *fc, *pc;
    ld_client_opts fopts = {.timeout_ms = 10000, .inflight_max = 1, .follower_read = true};
    cr_assert_eq(ld_client_open(nodes[0].url, &fopts, &fc), LD_OK);
    cr_assert_eq(ld_client_open(nodes[0].url, NULL, &pc), LD_OK);
    ld_id drop = fake_id(2000);
    ld_drop d;
    cr_assert_eq(ld_drop_get(fc, &drop, &d, NULL), LD_OK);
    ld_call_info info;
    cr_assert(ld_client_last_call(fc, &info));
    cr_assert(info.follower_read);
    cr_assert_eq(info.view, 9);
    cr_assert_eq(info.applied_op, 12345);
    cr_assert(!ld_client_last_call(pc, &info), "no call on the other client yet");
    cr_assert(op_at(&nodes[0], 0).follower_read);
    cr_assert_eq(reserve(fc, "fr-1", NULL), LD_OK);
    cr_assert(!op_at(&nodes[0], 1).follower_read, "a write never carries follower_read");
    cr_assert_eq(ld_drop_get(pc, &drop, &d, NULL), LD_OK);
    cr_assert(!op_at(&nodes[0], 2).follower_read, "a plain client reads from the primary");
    cr_assert(ld_client_last_call(pc, &info));
    cr_assert(!info.follower_read);

    enum { N = 32 };
    static storm_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (storm_arg){.client = fc, .index = 100 + i};
        cr_assert_eq(pthread_create(&args[i].thread, NULL, storm_main, &args[i]), 0);
    }
    for (int i = 0; i < 16; i++)
        cr_assert_eq(ld_drop_get(fc, &drop, &d, NULL), LD_OK);
    for (int i = 0; i < N; i++) {
        pthread_join(args[i].thread, NULL);
        cr_assert_eq(args[i].err, LD_OK);
    }
    pthread_mutex_lock(&nodes[0].mu);
    for (uint32_t i = 0; i < nodes[0].nops; i++) {
        const fake_op *op = &nodes[0].ops[i];
        bool read = op->body == LDPB__OP__BODY_GET_DROP;
        if (i != 2)
            cr_assert_eq(op->follower_read, read, "op %u (body %d) follower_read %d", i, op->body,
                         op->follower_read);
    }
    pthread_mutex_unlock(&nodes[0].mu);
    ld_client_close(fc);
    ld_client_close(pc);
}

Test(cluster, cluster_status_asks_exactly_the_given_node_and_decodes_its_replicas)
{
    /* ld_cluster_status(c, 1) asks node 1 only (node 0 refusing as not-primary does not
     * matter), and every ReplicaStatus field lands in ld_replica_status. A silent node gives
     * LD_ERR_TIMEOUT within the client's timeout without trying another node; an answer with
     * more than LD_CLUSTER_STATUS_REPLICAS_MAX replicas is LD_ERR_PROTOCOL; an index past the
     * list is LD_ERR_INVALID_ARGUMENT. */
    set_not_primary(&nodes[0], true, nodes[1].url, 3);
    pthread_mutex_lock(&nodes[1].mu);
    nodes[1].view = 7;
    nodes[1].status_replicas = 2;
    pthread_mutex_unlock(&nodes[1].mu);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 1500};
    cr_assert_eq(ld_client_open(addrs(3), &opts, &c), LD_OK);
    ld_node_status *st = malloc(sizeof *st);
    ld_errmsg msg;
    cr_assert_eq(ld_cluster_status(c, 1, st, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(ops_seen(&nodes[0]), 0);
    cr_assert_eq(op_at(&nodes[1], 0).body, LDPB__OP__BODY_GET_CLUSTER_STATUS);
    cr_assert_eq(st->count, 2);
    const ld_replica_status *r = &st->replicas[1];
    cr_assert_eq(r->shard_id, 1);
    cr_assert_eq(r->node_id, 2);
    cr_assert_eq(r->replica, 1);
    cr_assert_eq(r->replica_count, 3);
    cr_assert_eq(r->role, LD_ROLE_BACKUP);
    cr_assert_str_eq(ld_replica_role_name(r->role), "backup");
    cr_assert_eq(r->view, 7);
    cr_assert_eq(r->log_view, 6);
    cr_assert_eq(r->op, 1001);
    cr_assert_eq(r->commit, 999);
    cr_assert_eq(r->applied, 998);
    cr_assert(!r->lease);
    cr_assert_eq(r->state_digest, 0xfeedfacecafebeefULL);

    cr_assert_eq(ld_cluster_status(c, 0, st, &msg), LD_ERR_NOT_PRIMARY, "no redirect");
    cr_assert_eq(ops_seen(&nodes[1]), 1);

    set_silent(&nodes[2], true);
    int64_t t0 = fake_now_ms();
    cr_assert_eq(ld_cluster_status(c, 2, st, &msg), LD_ERR_TIMEOUT);
    cr_assert_lt(fake_now_ms() - t0, 2500);
    cr_assert_eq(ops_seen(&nodes[1]), 1, "no failover for a status call");
    cr_assert_eq(st->count, 0);

    pthread_mutex_lock(&nodes[1].mu);
    nodes[1].status_replicas = LD_CLUSTER_STATUS_REPLICAS_MAX + 1;
    pthread_mutex_unlock(&nodes[1].mu);
    cr_assert_eq(ld_cluster_status(c, 1, st, &msg), LD_ERR_PROTOCOL);
    cr_assert_eq(st->count, 0);
    cr_assert_eq(ld_cluster_status(c, 3, st, &msg), LD_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ld_cluster_status(NULL, 0, st, &msg), LD_ERR_INVALID_ARGUMENT);
    free(st);
    ld_client_close(c);
}

Test(cluster, address_lists_are_checked_at_open)
{
    /* Up to LD_CLIENT_ADDRS_MAX addresses open (spaces around an element are ignored and
     * ld_client_addr gives each back); one more, an empty element, the same address twice, an
     * element longer than LD_CLIENT_ADDR_BYTES_MAX and a URL NNG refuses are all
     * LD_ERR_INVALID_ARGUMENT with *out NULL. */
    char list[LD_CLIENT_ADDRS_MAX * 40 + 64] = "";
    for (uint32_t i = 0; i < LD_CLIENT_ADDRS_MAX; i++) {
        char one[40];
        snprintf(one, sizeof one, "%s tcp://127.0.0.1:%u ", i > 0 ? "," : "", 40000 + i);
        strcat(list, one);
    }
    ld_client *c = NULL;
    cr_assert_eq(ld_client_open(list, NULL, &c), LD_OK);
    cr_assert_eq(ld_client_addrs_count(c), LD_CLIENT_ADDRS_MAX);
    cr_assert_str_eq(ld_client_addr(c, 0), "tcp://127.0.0.1:40000");
    cr_assert_str_eq(ld_client_addr(c, LD_CLIENT_ADDRS_MAX - 1), "tcp://127.0.0.1:40007");
    cr_assert_null(ld_client_addr(c, LD_CLIENT_ADDRS_MAX));
    ld_client_close(c);

    strcat(list, ",tcp://127.0.0.1:40100");
    char long_url[LD_CLIENT_ADDR_BYTES_MAX + 32];
    memset(long_url, 0, sizeof long_url);
    strcpy(long_url, "tcp://127.0.0.1:1,tcp://");
    memset(long_url + strlen(long_url), 'a', LD_CLIENT_ADDR_BYTES_MAX);
    const char *bad[] = {
        list,
        "tcp://127.0.0.1:1,,tcp://127.0.0.1:2",
        ",tcp://127.0.0.1:1",
        "tcp://127.0.0.1:1,",
        " , ",
        "",
        "tcp://127.0.0.1:1,tcp://127.0.0.1:1",
        long_url,
        "tcp://127.0.0.1:1,bogus://127.0.0.1:2",
        "tcp://127.0.0.1:1,not a url",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c = (ld_client *)1;
        cr_assert_eq(ld_client_open(bad[i], NULL, &c), LD_ERR_INVALID_ARGUMENT, "list %zu", i);
        cr_assert_null(c, "list %zu", i);
    }
}
