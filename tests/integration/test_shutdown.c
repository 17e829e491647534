/*
 * test_shutdown.c -- SIGTERM is a graceful stop: work in flight finishes and is answered, new
 * work is refused, the node exits 0, and everything acknowledged is there after a restart.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

TestSuite(shutdown, .fini = ldh_suite_fini, .timeout = 180);

#define SHUTDOWN_SLOW_MS 500

typedef struct inflight {
    const char *url;
    const ld_id *drop_id;
    ld_id user;
    ld_err err;
    ld_errmsg msg;
    ld_order order;
    atomic_bool done;
} inflight;

static void *
inflight_main(void *arg)
{
    inflight *f = arg;
    ld_client *client = ldh_client_try(f->url, 15000, 0);
    if (!client) {
        f->err = LD_ERR_CONNECTION;
    } else {
        f->err = ld_place_order(client, f->drop_id, &f->user, 2, "inflight", "pm_card_slow",
                                &f->order, &f->msg);
        ld_client_close(client);
    }
    atomic_store(&f->done, true);
    return NULL;
}

static bool
refused(ld_err err)
{
    return err == LD_ERR_SHUTTING_DOWN || err == LD_ERR_CONNECTION || err == LD_ERR_TIMEOUT ||
           err == LD_ERR_CLOSED;
}

/* Polls the node's log until it holds `needle` (deadline: the stop timeout). */
static void
wait_log_line(const ldh_node *node, const char *needle)
{
    int64_t deadline = ldh_mono_ms() + LDH_STOP_TIMEOUT_MS;
    static char buf[1 << 16];
    for (;;) {
        FILE *f = fopen(node->log_path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = '\0';
        if (strstr(buf, needle) != NULL)
            return;
        cr_assert_lt(ldh_mono_ms(), deadline, "the node never logged \"%s\"", needle);
        ldh_sleep_ms(2);
    }
}

Test(shutdown, sigterm_finishes_inflight_order_and_refuses_new_work)
{
    /* Goal: SIGTERM while a place_order is paying lets it finish and answers it (PAID), refuses
     * new work (new connection, and a new order on an open one), exits 0, and the order is
     * there after restart with nothing else sold. Method: pm_card_slow (500 ms) in a thread,
     * wait until its stock is reserved, SIGTERM, probe with a fresh client and the open one,
     * join, waitpid, restart, retry the key and read the order and the counters (durability),
     * then require the original reply to have been PAID with the same order. */
    ldh_node node;
    ldh_node_spawn(&node, SHUTDOWN_SLOW_MS);
    ld_client *client = ldh_client(&node, 1000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 10, 0, 0);

    static inflight f;
    memset(&f, 0, sizeof f);
    f.url = node.url;
    f.drop_id = &spec.id;
    f.user = ldh_id();
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, inflight_main, &f), 0);
    int64_t deadline = ldh_mono_ms() + 10000;
    ld_drop d;
    for (;;) {
        ldh_drop_get(client, &spec.id, &d);
        if (d.stock.reserved == 2)
            break;
        cr_assert_lt(ldh_mono_ms(), deadline, "the order never reserved its stock");
        ldh_sleep_ms(2);
    }
    cr_assert_eq(d.stock.sold, 0);
    ldh_node_sigterm(&node);
    bool done_before = atomic_load(&f.done);
    /* kill() returns before the node has handled the signal: probe only once it has. */
    wait_log_line(&node, "received Terminated");

    /* New work after SIGTERM: a new connection, and a new order on a connection already open. */
    ld_client *late = ldh_client_try(node.url, 1000, 0);
    cr_assert(late);
    ld_errmsg msg = {{0}};
    ld_err probe_new = ld_drop_get(late, &spec.id, &d, &msg);
    ld_client_close(late);
    ld_id user2 = ldh_id();
    ld_order o;
    ld_err probe_open =
        ld_place_order(client, &spec.id, &user2, 1, "after-term", "pm_card_ok", &o, &msg);
    ld_client_close(client);

    pthread_join(tid, NULL);
    int status = 0;
    bool exited = ldh_node_wait_exit(&node, LDH_STOP_TIMEOUT_MS, &status);
    if (!exited || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        ldh_node_print_log(&node, 4000);
    cr_assert(!done_before, "the order finished before SIGTERM: nothing was in flight");
    cr_assert(exited, "the node did not exit within %d ms of SIGTERM", LDH_STOP_TIMEOUT_MS);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x, expected 0",
              status);
    cr_assert(refused(probe_new), "a new connection after SIGTERM got %s", ld_err_name(probe_new));
    cr_assert(refused(probe_open), "a new order after SIGTERM got %s", ld_err_name(probe_open));
    cr_log_info("after SIGTERM: new connection -> %s, new order -> %s; in-flight order -> %s",
                ld_err_name(probe_new), ld_err_name(probe_open), ld_err_name(f.err));

    /* Durability first (whatever the reply did): after a restart the key's order is PAID, and
     * exactly its 2 units are sold. Then the reply itself. */
    ldh_node_start(&node);
    client = ldh_client(&node, 10000);
    ld_order again;
    ld_err err =
        ld_place_order(client, &spec.id, &f.user, 2, "inflight", "pm_card_slow", &again, &msg);
    cr_assert_eq(err, LD_OK, "the drained order's key after restart: %s (%s)", ld_err_name(err),
                 msg.text);
    cr_assert_eq(again.status, LD_ORDER_PAID);
    err = ld_order_get(client, &again.id, &o, &msg);
    cr_assert_eq(err, LD_OK, "the drained order after restart: %s (%s)", ld_err_name(err),
                 msg.text);
    cr_assert_eq(o.status, LD_ORDER_PAID);
    cr_assert_eq(o.qty, 2);
    ldh_drop_get(client, &spec.id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.sold, 2, "sold %lld: the order refused after SIGTERM applied?",
                 (long long)d.stock.sold);
    cr_assert_eq(d.stock.reserved, 0);

    cr_assert_eq(f.err, LD_OK,
                 "the in-flight order is durable but its reply was lost: %s (%s) -- SIGTERM must "
                 "let in-flight replies reach their clients",
                 ld_err_name(f.err), f.msg.text);
    cr_assert_eq(f.order.status, LD_ORDER_PAID);
    cr_assert(ldh_id_eq(&f.order.id, &again.id), "the reply and the retry name different orders");
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(shutdown, idle_sigterm_exits_zero_and_keeps_data)
{
    /* Goal: an idle node exits 0 on SIGTERM, stops listening, and restarts with its data.
     * Method: create a drop and an order, SIGTERM, waitpid with a deadline, see a fresh client
     * fail to reach it, restart on the same dir, read both back. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 10, 3, 0);
    ld_id user = ldh_id();
    ld_order order;
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(client, &spec.id, &user, 3, "k", "pm_card_ok", &order, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);

    client = ldh_client_try(node.url, 500, 0);
    cr_assert(client);
    ld_drop d;
    err = ld_drop_get(client, &spec.id, &d, &msg);
    ld_client_close(client);
    cr_assert(err == LD_ERR_CONNECTION || err == LD_ERR_TIMEOUT, "a stopped node answered: %s",
              ld_err_name(err));

    ldh_node_start(&node);
    client = ldh_client(&node, 10000);
    ld_order o;
    err = ld_order_get(client, &order.id, &o, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    cr_assert_eq(o.qty, 3);
    cr_assert_eq(o.status, LD_ORDER_PAID);
    ldh_drop_get(client, &spec.id, &d);
    cr_assert_eq(d.stock.sold, 3);
    cr_assert_eq(d.spec.max_per_user, 3);
    /* The per-user count survived too: the same user is at the limit. */
    err = ld_place_order(client, &spec.id, &user, 1, "k2", "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_ERR_USER_LIMIT, "%s (%s)", ld_err_name(err), msg.text);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
