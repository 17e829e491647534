/*
 * main.c -- livedrop-node: parse the configuration, recover, serve, shut down cleanly.
 *
 *   start:    config -> engine (RocksDB, --format, state machine, peer sockets, replica: log
 *             re-apply, invariant check) -> publish socket -> request socket ->
 *             "livedrop-node: listening on <url>" on stdout (then, if the publish port was 0,
 *             "livedrop-node: publishing on <url>") -> serve
 *   SIGTERM / SIGINT (first):  refuse new connections (established ones stay open so that
 *             in-flight replies reach their clients); later requests get ERR_SHUTTING_DOWN;
 *             queued requests and payments (slow ones included) finish, for at most
 *             LD_NODE_SHUTDOWN_DRAIN_MS; a second signal cuts this short
 *   then:     answer what is left, let the replies go out, close socket, engine, database; exit 0
 *
 * Exit status: 0 clean shutdown, 1 runtime or storage failure, 2 usage or config error.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "net.h"
#include "pub.h"

#ifndef LD_VERSION
#define LD_VERSION "0.0.0"
#endif

/* After the last reply is handed to NNG, the socket stays open this long so that the replies
 * reach the wire (closing the socket closes its connections, dropping unsent data). */
#define NODE_REPLY_GRACE_MS 200u
/* ...but no longer than this if a peer does not read its replies. */
#define NODE_REPLY_WAIT_MS 3000u
#define NODE_DRAIN_POLL_MS 10u

/* Under ThreadSanitizer only: RocksDB is Debian's prebuilt, uninstrumented librocksdb, so TSan
 * cannot see its internal locking and reports false races inside it (e.g. in
 * RegisterCacheDeleterRole when a stats thread and the opener meet). Suppress reports whose
 * stacks are inside librocksdb; our own threads (the NNG -> libuv bridge) stay fully checked. */
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_suppressions(void);
const char *
__tsan_default_suppressions(void)
{
    return "race:librocksdb.so\n";
}
#endif

typedef enum node_phase {
    PHASE_RUNNING = 0,
    PHASE_DRAINING = 1, /* in-flight work finishing */
    PHASE_FLUSHING = 2, /* replies going out */
    PHASE_CLOSED = 3,
} node_phase;

typedef struct node {
    uv_loop_t loop;
    ldi_config cfg;
    ldi_engine *engine;
    ldi_net *net;
    ldi_pub *pub; /* NULL when publishing is off */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t drain_timer;
    node_phase phase;
    uint64_t drain_deadline_ms; /* uv_now */
    uint64_t flush_started_ms;
} node;

static void
node_close(node *n)
{
    n->phase = PHASE_CLOSED;
    /* One line per step that may wait on a library (NNG closes, RocksDB's close): a shutdown
     * that hangs names its step in the log. */
    ldi_engine_stop(n->engine);
    LDI_INFO("shutdown: engine stopped (peer transport closed); closing the client socket");
    ldi_net_close(n->net);
    n->net = NULL;
    LDI_INFO("shutdown: client socket closed; closing the publisher");
    ldi_pub_close(n->pub);
    n->pub = NULL;
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_close((uv_handle_t *)&n->drain_timer, NULL);
}

static void
node_drain_cb(uv_timer_t *timer)
{
    node *n = timer->data;
    uint64_t now = uv_now(&n->loop);
    if (n->phase == PHASE_DRAINING) {
        bool drained = ldi_engine_drained(n->engine);
        if (!drained && now < n->drain_deadline_ms)
            return;
        if (!drained) {
            LDI_WARN("shutdown: drain time is up; answering what is left with SHUTTING_DOWN");
            ldi_engine_abandon(n->engine);
        }
        n->phase = PHASE_FLUSHING;
        n->flush_started_ms = now;
        return;
    }
    if (n->phase != PHASE_FLUSHING)
        return;
    uint64_t waited = now - n->flush_started_ms;
    bool sent = ldi_net_sends_pending(n->net) == 0;
    if ((sent && waited >= NODE_REPLY_GRACE_MS) || waited >= NODE_REPLY_WAIT_MS) {
        if (!sent)
            LDI_WARN("shutdown: %u replies still unsent", ldi_net_sends_pending(n->net));
        node_close(n);
    }
}

static void
node_signal_cb(uv_signal_t *sig, int signum)
{
    node *n = sig->data;
    uint64_t now = uv_now(&n->loop);
    if (n->phase == PHASE_RUNNING) {
        LDI_INFO("received %s: refusing new connections, finishing in-flight work (at most "
                 "%u ms)",
                 strsignal(signum), LD_NODE_SHUTDOWN_DRAIN_MS);
        ldi_net_refuse_new(n->net);
        ldi_engine_shutdown_begin(n->engine);
        n->phase = PHASE_DRAINING;
        n->drain_deadline_ms = now + LD_NODE_SHUTDOWN_DRAIN_MS;
        uv_timer_start(&n->drain_timer, node_drain_cb, NODE_DRAIN_POLL_MS, NODE_DRAIN_POLL_MS);
    } else if (n->phase == PHASE_DRAINING) {
        LDI_INFO("received %s again: stopping without waiting", strsignal(signum));
        n->drain_deadline_ms = now;
    }
}

static int
node_parse(node *n, int argc, char **argv)
{
    char err[512] = "";
    switch (ldi_config_parse_args(&n->cfg, argc, argv, err, sizeof err)) {
    case LDI_CLI_HELP:
        fputs(ldi_config_usage(), stdout);
        return 0;
    case LDI_CLI_VERSION:
        printf("livedrop-node %s (protocol %u)\n", LD_VERSION, LD_PROTOCOL_VERSION);
        return 0;
    case LDI_CLI_USAGE:
        fprintf(stderr, "livedrop-node: %s\nTry 'livedrop-node --help'.\n", err);
        return 2;
    case LDI_CLI_RUN:
        break;
    }
    return -1;
}

static void
node_start_signals(node *n)
{
    LD_ASSERT(uv_signal_init(&n->loop, &n->sigterm) == 0);
    LD_ASSERT(uv_signal_init(&n->loop, &n->sigint) == 0);
    LD_ASSERT(uv_timer_init(&n->loop, &n->drain_timer) == 0);
    n->sigterm.data = n;
    n->sigint.data = n;
    n->drain_timer.data = n;
    LD_ASSERT(uv_signal_start(&n->sigterm, node_signal_cb, SIGTERM) == 0);
    LD_ASSERT(uv_signal_start(&n->sigint, node_signal_cb, SIGINT) == 0);
}

/* Opens the publish socket unless it is off; false (logged) when it cannot. */
static bool
node_open_pub(node *n, char *bound, size_t bound_len)
{
    if (strcmp(n->cfg.publish, LDI_PUBLISH_NONE) == 0) {
        LDI_INFO("publishing off (publish = %s)", LDI_PUBLISH_NONE);
        return true;
    }
    if (ldi_pub_open(n->cfg.publish, bound, bound_len, &n->pub) != LD_OK)
        return false;
    LDI_INFO("publishing events on %s", bound);
    return true;
}

/* The client socket's wake-up, bound before the engine exists: messages that arrive meanwhile
 * wait in the socket's queue, and the loop (hence this callback) only runs once the engine has
 * started. */
static void
node_wake(void *arg)
{
    node *n = arg;
    LD_ASSERT(n->engine != NULL);
    ldi_engine_wake(n->engine);
}

/* Opens everything; returns 0 when serving, else the exit status. The sockets are bound first
 * and the data directory is opened (and, when new, created and formatted) last: a node that
 * cannot serve (a port is taken) exits without touching the disk. */
static int
node_open(node *n)
{
    LDI_INFO("livedrop-node %s starting: listen=%s publish=%s data_dir=%s payment_slow_ms=%u "
             "replicas=%u%s",
             LD_VERSION, n->cfg.listen, n->cfg.publish, n->cfg.data_dir, n->cfg.payment_slow_ms,
             n->cfg.replica_count > 1 ? n->cfg.replica_count : 1u,
             n->cfg.format ? " --format" : "");
    char pub_bound[LDI_URL_BYTES_MAX + 64];
    char bound[LDI_URL_BYTES_MAX + 64];
    if (!node_open_pub(n, pub_bound, sizeof pub_bound))
        goto out_nothing;
    if (ldi_net_open(&n->loop, n->cfg.listen, node_wake, n, bound, sizeof bound, &n->net) != LD_OK)
        goto out_close_pub;
    if (ldi_engine_open(&n->loop, &n->cfg, &n->engine) != LD_OK) {
        LDI_ERROR("cannot start with the data directory %s (see above)", n->cfg.data_dir);
        goto out_close_net;
    }
    ldi_engine_start(n->engine, n->net, n->pub);
    node_start_signals(n);
    LDI_INFO("serving on %s", bound);
    printf("livedrop-node: listening on %s\n", bound);
    if (n->pub != NULL && strcmp(pub_bound, n->cfg.publish) != 0)
        printf("livedrop-node: publishing on %s\n", pub_bound); /* port 0 was resolved */
    fflush(stdout);
    return 0;
out_close_net:
    ldi_net_close(n->net);
    n->net = NULL;
out_close_pub:
    ldi_pub_close(n->pub);
    n->pub = NULL;
out_nothing:
    uv_run(&n->loop, UV_RUN_NOWAIT); /* let half-open sockets' handles close */
    return 1;
}

int
main(int argc, char **argv)
{
    static node n; /* static: the handles inside are large and live for the whole run */
    int status = node_parse(&n, argc, argv);
    if (status >= 0)
        return status;
    signal(SIGPIPE, SIG_IGN);
    ldi_log_init(n.cfg.log_level, n.cfg.node_id);
    if (uv_loop_init(&n.loop) != 0) {
        LDI_ERROR("cannot create the event loop");
        return 1;
    }
    status = node_open(&n);
    if (status != 0)
        return status;
    uv_run(&n.loop, UV_RUN_DEFAULT);
    LD_ASSERT(n.phase == PHASE_CLOSED);
    LDI_INFO("shutdown: loop done; closing the storage");
    ldi_engine_free(n.engine);
    if (uv_loop_close(&n.loop) != 0)
        LDI_WARN("event loop closed with handles still open");
    LDI_INFO("stopped cleanly");
    return 0;
}
