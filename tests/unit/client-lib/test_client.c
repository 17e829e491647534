/*
 * test_client.c -- the engine's message classes (client-lib/lib/client.c) against a scripted
 * fake node: page ops go at most LD_REQUEST_LIST_OPS_MAX to a message, a long-poll pull
 * travels alone, never takes the last free context, and gets a deadline that covers its wait.
 */
#include "fake_node.h"

static fake_node node;

static void
setup(void)
{
    fake_start(&node);
}

static void
teardown(void)
{
    fake_stop(&node);
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 60);

#define PAGE_THREADS 48

typedef struct pager {
    pthread_t thread;
    ld_client *client;
    ld_err err;
    ld_follow_page *page;
} pager;

static void *
pager_main(void *arg)
{
    pager *p = arg;
    ld_id creator = fake_id(7);
    p->err = ld_followers_list(p->client, &creator, 10, NULL, p->page, NULL);
    return NULL;
}

Test(client, page_ops_go_at_most_eight_to_a_message)
{
    /* 48 threads list followers at once through one client with one context while the fake
     * node delays every reply: calls pile up in the queue, and no request the node receives
     * carries more than LD_REQUEST_LIST_OPS_MAX page ops. */
    pthread_mutex_lock(&node.mu);
    node.delay_ms = 20;
    pthread_mutex_unlock(&node.mu);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 20000, .inflight_max = 1};
    cr_assert_eq(ld_client_open(node.url, &opts, &c), LD_OK);
    static pager pagers[PAGE_THREADS];
    for (int i = 0; i < PAGE_THREADS; i++) {
        pagers[i].client = c;
        pagers[i].page = malloc(sizeof *pagers[i].page);
        cr_assert_eq(pthread_create(&pagers[i].thread, NULL, pager_main, &pagers[i]), 0);
    }
    for (int i = 0; i < PAGE_THREADS; i++) {
        pthread_join(pagers[i].thread, NULL);
        cr_assert_eq(pagers[i].err, LD_OK, "%s", ld_err_name(pagers[i].err));
        cr_assert_eq(pagers[i].page->count, 10);
        free(pagers[i].page);
    }
    pthread_mutex_lock(&node.mu);
    uint32_t max_pages = node.max_page_ops_per_request, nops = node.nops;
    pthread_mutex_unlock(&node.mu);
    cr_assert_eq(nops, PAGE_THREADS);
    cr_assert_leq(max_pages, LD_REQUEST_LIST_OPS_MAX, "a request carried %u page ops", max_pages);
    ld_client_close(c);
}

typedef struct poller {
    pthread_t thread;
    ld_client *client;
    uint32_t wait_ms;
    ld_err err;
    int64_t took_ms;
} poller;

static void *
poller_main(void *arg)
{
    poller *p = arg;
    ld_event_page *page = malloc(sizeof *page);
    int64_t t0 = fake_now_ms();
    p->err = ld_events_pull(p->client, NULL, 0, 0, p->wait_ms, page, NULL);
    p->took_ms = fake_now_ms() - t0;
    free(page);
    return NULL;
}

static uint32_t
polls_seen(void)
{
    uint32_t n = 0;
    pthread_mutex_lock(&node.mu);
    for (uint32_t i = 0; i < node.nops; i++)
        n += node.ops[i].body == LDPB__OP__BODY_PULL_EVENTS && node.ops[i].wait_ms > 0;
    pthread_mutex_unlock(&node.mu);
    return n;
}

Test(client, long_polls_travel_alone_and_leave_the_last_context_free)
{
    /* A client with two contexts: the node holds every long poll until released. The first
     * poll takes one context; a second poll must wait (the last free context is not for slow
     * messages) while a read still goes through; once released both polls finish, each having
     * been alone in its request. */
    pthread_mutex_lock(&node.mu);
    node.hold_polls = true;
    pthread_mutex_unlock(&node.mu);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 2000, .inflight_max = 2};
    cr_assert_eq(ld_client_open(node.url, &opts, &c), LD_OK);
    poller p1 = {.client = c, .wait_ms = 20000}, p2 = {.client = c, .wait_ms = 20000};
    cr_assert_eq(pthread_create(&p1.thread, NULL, poller_main, &p1), 0);
    fake_wait_ops(&node, 1); /* poll 1 is held by the node */
    cr_assert_eq(pthread_create(&p2.thread, NULL, poller_main, &p2), 0);

    ld_id user = fake_id(1);
    ld_user u;
    ld_errmsg msg;
    cr_assert_eq(ld_user_get(c, &user, &u, &msg), LD_OK, "a read passes the held poll: %s",
                 msg.text);
    cr_assert_eq(polls_seen(), 1, "the second poll did not take the last free context");

    pthread_mutex_lock(&node.mu);
    node.release_polls = true;
    pthread_cond_broadcast(&node.cond);
    pthread_mutex_unlock(&node.mu);
    pthread_join(p1.thread, NULL);
    pthread_join(p2.thread, NULL);
    cr_assert_eq(p1.err, LD_OK, "%s", ld_err_name(p1.err));
    cr_assert_eq(p2.err, LD_OK, "%s", ld_err_name(p2.err));
    pthread_mutex_lock(&node.mu);
    for (uint32_t i = 0; i < node.nops; i++)
        if (node.ops[i].body == LDPB__OP__BODY_PULL_EVENTS && node.ops[i].wait_ms > 0)
            cr_assert_eq(node.ops[i].ops_in_request, 1, "a long poll shared its request");
    cr_assert_eq(node.polls_in_flight_max, 1);
    pthread_mutex_unlock(&node.mu);
    ld_client_close(c);
}

Test(client, long_poll_deadline_covers_its_wait)
{
    /* Client timeout 300 ms, a pull waiting 600 ms that the node answers after 900 ms: the
     * call's deadline is max(timeout, wait + 2 s), so it gets the (empty) page, not TIMEOUT;
     * a plain read answered as late times out at 300 ms. */
    pthread_mutex_lock(&node.mu);
    node.hold_polls = true;
    node.poll_reply_ms = 900;
    pthread_mutex_unlock(&node.mu);
    ld_client *c;
    ld_client_opts opts = {.timeout_ms = 300, .inflight_max = 4};
    cr_assert_eq(ld_client_open(node.url, &opts, &c), LD_OK);
    poller p = {.client = c, .wait_ms = 600};
    poller_main(&p);
    cr_assert_eq(p.err, LD_OK, "%s after %lld ms", ld_err_name(p.err), (long long)p.took_ms);
    cr_assert_geq(p.took_ms, 900);

    pthread_mutex_lock(&node.mu);
    node.delay_ms = 900;
    pthread_mutex_unlock(&node.mu);
    ld_id user = fake_id(1);
    ld_user u;
    cr_assert_eq(ld_user_get(c, &user, &u, NULL), LD_ERR_TIMEOUT);
    ld_client_close(c);
}
