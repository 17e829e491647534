/*
 * fake_node.h -- a scripted stand-in for livedrop-node, for the client library's unit tests:
 * an NNG rep0 socket on a free loopback port served by FAKE_WORKERS threads (one rep context
 * each, so a held reply does not block the others). It records every op it receives (body,
 * principal, ops in its request, a pull's wait_ms) and answers each op with a canned body of
 * the kind the op expects. Header-only (static functions): every test file is its own
 * executable.
 *
 * Knobs (under `mu`): hold_polls (a request holding a pull with wait_ms > 0 is answered only
 * once release_polls is set, or after poll_reply_ms when that is set), delay_ms (every other
 * request is answered after this), page_entries (entries in a page; 0: the op's `first` or
 * `max`, or 3).
 *
 * Replication knobs: silent (record requests, never answer: a paused or partitioned
 * node), not_primary (answer every request with the envelope code LD_ERR_NOT_PRIMARY naming
 * not_primary_addr, "" during a view change), view and applied_op (stamped on every Response),
 * status_replicas (replicas in a ClusterStatus answer; 0: 1). Each recorded op keeps its
 * request's id and follower_read flag, and a reserve's idempotency key, so tests can check that
 * a resend carried the very same ops.
 */
#ifndef LD_TEST_FAKE_NODE_H
#define LD_TEST_FAKE_NODE_H

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "livedrop.h"
#include "livedrop.pb-c.h"

#define FAKE_WORKERS 8
#define FAKE_OPS_MAX 8192

typedef struct fake_op {
    Ldpb__Op__BodyCase body;
    ld_id principal; /* zero when absent */
    size_t principal_len;
    uint32_t wait_ms; /* PULL_EVENTS */
    uint32_t ops_in_request;
    bool create_drop_inline; /* CREATE_DROP: an inline product was sent */
    ld_id product_id;        /* CREATE_DROP: product_id */
    uint64_t request_id;
    bool follower_read;
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1]; /* RESERVE, PLACE_ORDER */
} fake_op;

typedef struct fake_node {
    nng_socket sock;
    char url[64];
    pthread_t threads[FAKE_WORKERS];
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* ---- under mu ---- */
    fake_op ops[FAKE_OPS_MAX];
    uint32_t nops;
    uint32_t nrequests;
    uint32_t max_ops_per_request;
    uint32_t max_page_ops_per_request;
    uint32_t polls_in_flight;
    uint32_t polls_in_flight_max;
    bool hold_polls;
    bool release_polls;
    uint32_t poll_reply_ms;
    uint32_t delay_ms;
    uint32_t page_entries;
    bool page_overflow; /* a follow page one entry larger than the protocol allows */
    bool silent;
    bool not_primary;
    char not_primary_addr[LD_CLIENT_ADDR_BYTES_MAX + 1];
    uint64_t view;
    uint64_t applied_op;
    uint32_t status_replicas;
    bool stopped; /* fake_stop() ran (a test may stop a node early: its connections drop) */
} fake_node;

static inline int64_t
fake_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline ld_id
fake_id(uint32_t n)
{
    ld_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = 0xC1;
    for (int i = 0; i < 4; i++)
        id.bytes[12 + i] = (uint8_t)(n >> (24 - 8 * i));
    return id;
}

/* ---- a bump arena for one reply's nested messages ---- */

typedef struct fake_arena {
    void *ptrs[16384];
    size_t n;
} fake_arena;

static inline void *
fake_alloc(fake_arena *a, size_t size)
{
    cr_assert(a->n < sizeof a->ptrs / sizeof a->ptrs[0]);
    void *p = calloc(1, size);
    cr_assert_not_null(p);
    a->ptrs[a->n++] = p;
    return p;
}

static inline ProtobufCBinaryData
fake_bin(fake_arena *a, const ld_id *id)
{
    uint8_t *b = fake_alloc(a, LD_ID_BYTES);
    memcpy(b, id->bytes, LD_ID_BYTES);
    return (ProtobufCBinaryData){.len = LD_ID_BYTES, .data = b};
}

static inline Ldpb__PageInfo *
fake_page_info(fake_arena *a)
{
    Ldpb__PageInfo *p = fake_alloc(a, sizeof *p);
    ldpb__page_info__init(p);
    p->has_next_page = true;
    p->end_cursor = "AQEAAAAAAAAAAQ";
    return p;
}

static inline Ldpb__Event *
fake_event(fake_arena *a, uint32_t i, const char *topic)
{
    Ldpb__Event *e = fake_alloc(a, sizeof *e);
    ldpb__event__init(e);
    e->seq = 100 + i;
    e->timestamp_ms = 1700000000000LL + i;
    e->type = LDPB__EVENT_TYPE__EVENT_DROP_LIVE;
    ld_id c = fake_id(7), d = fake_id(1000 + i);
    e->creator_id = fake_bin(a, &c);
    e->drop_id = fake_bin(a, &d);
    e->title = "Sneaker X";
    e->topic = (char *)(topic != NULL ? topic : "");
    e->topic_seq = topic != NULL && topic[0] != '\0' ? 1 + i : 0;
    return e;
}

static inline Ldpb__Drop *
fake_drop(fake_arena *a, uint32_t i)
{
    Ldpb__Drop *d = fake_alloc(a, sizeof *d);
    ldpb__drop__init(d);
    ld_id id = fake_id(2000 + i), creator = fake_id(7), product = fake_id(3000);
    d->id = fake_bin(a, &id);
    Ldpb__Product *p = fake_alloc(a, sizeof *p);
    ldpb__product__init(p);
    p->creator_id = fake_bin(a, &creator);
    p->title = "Sneaker X";
    p->currency = "EUR";
    p->price_minor = 12000;
    p->product_id = fake_bin(a, &product);
    d->product = p;
    d->status = LDPB__DROP_STATUS__DROP_STATUS_CANCELLED;
    d->initial_stock = 10;
    return d;
}

static inline Ldpb__CatalogProduct *
fake_product(fake_arena *a, uint32_t i)
{
    Ldpb__CatalogProduct *p = fake_alloc(a, sizeof *p);
    ldpb__catalog_product__init(p);
    ld_id id = fake_id(3000 + i), creator = fake_id(7);
    p->id = fake_bin(a, &id);
    p->creator_id = fake_bin(a, &creator);
    p->title = "Sneaker X";
    p->price_minor = 12000;
    p->currency = "EUR";
    Ldpb__Attribute *attr = fake_alloc(a, sizeof *attr);
    ldpb__attribute__init(attr);
    attr->key = "size";
    attr->value = "42";
    Ldpb__Attribute **attrs = fake_alloc(a, sizeof *attrs);
    attrs[0] = attr;
    p->n_attributes = 1;
    p->attributes = attrs;
    return p;
}

/* Entries of a page answer to an op asking for `asked` (0: the list's default). */
static inline uint32_t
fake_entries(fake_node *n, uint32_t asked)
{
    pthread_mutex_lock(&n->mu);
    uint32_t e = n->page_entries;
    pthread_mutex_unlock(&n->mu);
    return e != 0 ? e : asked != 0 ? asked : 3;
}

static inline void
fake_follow_page(fake_node *n, fake_arena *a, Ldpb__Result *r, uint32_t asked)
{
    uint32_t count = fake_entries(n, asked);
    pthread_mutex_lock(&n->mu);
    if (n->page_overflow)
        count = LD_PAGE_EDGES_MAX + 1;
    pthread_mutex_unlock(&n->mu);
    Ldpb__FollowPage *p = fake_alloc(a, sizeof *p);
    ldpb__follow_page__init(p);
    p->edges = fake_alloc(a, count * sizeof *p->edges);
    for (uint32_t i = 0; i < count; i++) {
        Ldpb__FollowEdge *e = fake_alloc(a, sizeof *e);
        ldpb__follow_edge__init(e);
        ld_id u = fake_id(10000 + i), c = fake_id(7);
        e->user_id = fake_bin(a, &u);
        e->creator_id = fake_bin(a, &c);
        e->created_at_ms = 1700000000000LL - i;
        e->user_name = "follower";
        p->edges[i] = e;
    }
    p->n_edges = count;
    p->page_info = fake_page_info(a);
    r->body_case = LDPB__RESULT__BODY_FOLLOW_PAGE;
    r->follow_page = p;
}

static inline void
fake_event_page(fake_node *n, fake_arena *a, Ldpb__Result *r, const Ldpb__PullEvents *pull)
{
    uint32_t count = fake_entries(n, pull->max);
    bool held = pull->wait_ms > 0;
    Ldpb__EventPage *p = fake_alloc(a, sizeof *p);
    ldpb__event_page__init(p);
    if (!held) {
        p->events = fake_alloc(a, count * sizeof *p->events);
        for (uint32_t i = 0; i < count; i++)
            p->events[i] = fake_event(a, i, pull->topic);
        p->n_events = count;
    }
    p->next_after = pull->after + p->n_events;
    p->last_seq = 999;
    r->body_case = LDPB__RESULT__BODY_EVENT_PAGE;
    r->event_page = p;
}

static inline void
fake_page_body(fake_node *n, fake_arena *a, const Ldpb__Op *op, Ldpb__Result *r)
{
    switch (op->body_case) {
    case LDPB__OP__BODY_LIST_FOLLOWERS:
        fake_follow_page(n, a, r, op->list_followers->first);
        return;
    case LDPB__OP__BODY_LIST_FOLLOWING:
        fake_follow_page(n, a, r, op->list_following->first);
        return;
    case LDPB__OP__BODY_PULL_EVENTS:
        fake_event_page(n, a, r, op->pull_events);
        return;
    case LDPB__OP__BODY_LIST_PRODUCTS: {
        Ldpb__ProductPage *p = fake_alloc(a, sizeof *p);
        ldpb__product_page__init(p);
        p->n_products = fake_entries(n, op->list_products->first);
        p->products = fake_alloc(a, p->n_products * sizeof *p->products);
        for (uint32_t i = 0; i < p->n_products; i++)
            p->products[i] = fake_product(a, i);
        p->page_info = fake_page_info(a);
        r->body_case = LDPB__RESULT__BODY_PRODUCT_PAGE;
        r->product_page = p;
        return;
    }
    case LDPB__OP__BODY_LIST_DROPS: {
        Ldpb__DropPage *p = fake_alloc(a, sizeof *p);
        ldpb__drop_page__init(p);
        p->n_drops = fake_entries(n, op->list_drops->first);
        p->drops = fake_alloc(a, p->n_drops * sizeof *p->drops);
        for (uint32_t i = 0; i < p->n_drops; i++)
            p->drops[i] = fake_drop(a, i);
        p->page_info = fake_page_info(a);
        r->body_case = LDPB__RESULT__BODY_DROP_PAGE;
        r->drop_page = p;
        return;
    }
    case LDPB__OP__BODY_LIST_NOTIFICATIONS: {
        Ldpb__NotificationPage *p = fake_alloc(a, sizeof *p);
        ldpb__notification_page__init(p);
        p->n_notifications = fake_entries(n, op->list_notifications->first);
        p->notifications = fake_alloc(a, p->n_notifications * sizeof *p->notifications);
        for (uint32_t i = 0; i < p->n_notifications; i++) {
            Ldpb__Notification *no = fake_alloc(a, sizeof *no);
            ldpb__notification__init(no);
            no->kind = LDPB__NOTIFICATION_KIND__NOTIFICATION_SOLD_OUT;
            no->event = fake_event(a, i, "creator/c1000000000000000000000000000007");
            p->notifications[i] = no;
        }
        p->page_info = fake_page_info(a);
        r->body_case = LDPB__RESULT__BODY_NOTIFICATION_PAGE;
        r->notification_page = p;
        return;
    }
    default:
        r->code = LD_ERR_UNKNOWN_OP;
        r->message = "fake node: no canned answer";
        return;
    }
}

/* A ClusterStatus of status_replicas replicas (0: one); replica i has fields derived from i. */
static inline void
fake_cluster_status(fake_node *n, fake_arena *a, Ldpb__Result *r)
{
    pthread_mutex_lock(&n->mu);
    uint32_t count = n->status_replicas != 0 ? n->status_replicas : 1;
    uint64_t view = n->view;
    pthread_mutex_unlock(&n->mu);
    Ldpb__ClusterStatus *cs = fake_alloc(a, sizeof *cs);
    ldpb__cluster_status__init(cs);
    cs->replicas = fake_alloc(a, count * sizeof *cs->replicas);
    for (uint32_t i = 0; i < count; i++) {
        Ldpb__ReplicaStatus *rs = fake_alloc(a, sizeof *rs);
        ldpb__replica_status__init(rs);
        rs->shard_id = i;
        rs->replica = 1;
        rs->replica_count = 3;
        rs->role = LDPB__REPLICA_ROLE__REPLICA_ROLE_BACKUP;
        rs->view = view;
        rs->log_view = view > 0 ? view - 1 : 0;
        rs->op = 1000 + i;
        rs->commit = 999;
        rs->applied = 998;
        rs->lease = false;
        rs->node_id = 2;
        rs->state_digest = 0xfeedfacecafebeefULL;
        cs->replicas[i] = rs;
    }
    cs->n_replicas = count;
    r->body_case = LDPB__RESULT__BODY_CLUSTER_STATUS;
    r->cluster_status = cs;
}

/* A canned answer of the body kind `op` expects. */
static inline void
fake_body(fake_node *n, fake_arena *a, const Ldpb__Op *op, Ldpb__Result *r)
{
    switch (op->body_case) {
    case LDPB__OP__BODY_FOLLOW:
    case LDPB__OP__BODY_UNFOLLOW:
    case LDPB__OP__BODY_IS_FOLLOWING: {
        Ldpb__FollowState *s = fake_alloc(a, sizeof *s);
        ldpb__follow_state__init(s);
        s->following = op->body_case != LDPB__OP__BODY_UNFOLLOW;
        s->since_ms = 1700000000000LL;
        s->follower_count = 7;
        r->body_case = LDPB__RESULT__BODY_FOLLOW_STATE;
        r->follow_state = s;
        return;
    }
    case LDPB__OP__BODY_CREATE_USER:
    case LDPB__OP__BODY_GET_USER: {
        Ldpb__User *u = fake_alloc(a, sizeof *u);
        ldpb__user__init(u);
        ld_id id = fake_id(1);
        u->id = fake_bin(a, &id);
        u->name = "Ada";
        u->email = "ada@example.com";
        u->following_count = 2;
        r->body_case = LDPB__RESULT__BODY_USER;
        r->user = u;
        return;
    }
    case LDPB__OP__BODY_CREATE_CREATOR:
    case LDPB__OP__BODY_GET_CREATOR: {
        Ldpb__Creator *c = fake_alloc(a, sizeof *c);
        ldpb__creator__init(c);
        ld_id id = fake_id(7);
        c->id = fake_bin(a, &id);
        c->handle = "SneakerLab";
        c->name = "Sneaker Lab";
        c->follower_count = 1000000;
        r->body_case = LDPB__RESULT__BODY_CREATOR;
        r->creator = c;
        return;
    }
    case LDPB__OP__BODY_CREATE_PRODUCT:
    case LDPB__OP__BODY_UPDATE_PRODUCT:
    case LDPB__OP__BODY_GET_PRODUCT:
        r->body_case = LDPB__RESULT__BODY_PRODUCT;
        r->product = fake_product(a, 0);
        return;
    case LDPB__OP__BODY_CANCEL_DROP:
    case LDPB__OP__BODY_CREATE_DROP:
    case LDPB__OP__BODY_GET_DROP:
        r->body_case = LDPB__RESULT__BODY_DROP;
        r->drop = fake_drop(a, 0);
        return;
    case LDPB__OP__BODY_RESERVE: {
        Ldpb__Reservation *res = fake_alloc(a, sizeof *res);
        ldpb__reservation__init(res);
        ld_id id = fake_id(4000);
        res->id = fake_bin(a, &id);
        res->drop_id = op->reserve->drop_id;
        res->user_id = op->reserve->user_id;
        res->qty = op->reserve->qty;
        res->state = LDPB__RESERVATION_STATE__RESERVATION_STATE_ACTIVE;
        r->body_case = LDPB__RESULT__BODY_RESERVATION;
        r->reservation = res;
        return;
    }
    case LDPB__OP__BODY_GET_CLUSTER_STATUS:
        fake_cluster_status(n, a, r);
        return;
    default:
        fake_page_body(n, a, op, r);
        return;
    }
}

static inline bool
fake_is_page(Ldpb__Op__BodyCase b)
{
    return b == LDPB__OP__BODY_LIST_FOLLOWERS || b == LDPB__OP__BODY_LIST_FOLLOWING ||
           b == LDPB__OP__BODY_LIST_PRODUCTS || b == LDPB__OP__BODY_LIST_DROPS ||
           b == LDPB__OP__BODY_PULL_EVENTS || b == LDPB__OP__BODY_LIST_NOTIFICATIONS;
}

/* Records the request's ops; returns true when it holds a long poll. */
static inline bool
fake_record(fake_node *n, const Ldpb__Request *req)
{
    bool poll = false;
    uint32_t pages = 0;
    pthread_mutex_lock(&n->mu);
    n->nrequests++;
    if (req->n_ops > n->max_ops_per_request)
        n->max_ops_per_request = (uint32_t)req->n_ops;
    for (size_t i = 0; i < req->n_ops; i++) {
        const Ldpb__Op *op = req->ops[i];
        pages += fake_is_page(op->body_case);
        if (n->nops >= FAKE_OPS_MAX)
            continue;
        fake_op *r = &n->ops[n->nops++];
        memset(r, 0, sizeof *r);
        r->body = op->body_case;
        r->principal_len = op->principal.len;
        if (op->principal.len == LD_ID_BYTES)
            memcpy(r->principal.bytes, op->principal.data, LD_ID_BYTES);
        r->ops_in_request = (uint32_t)req->n_ops;
        r->request_id = req->request_id;
        r->follower_read = req->follower_read;
        if (op->body_case == LDPB__OP__BODY_RESERVE && op->reserve->idempotency_key != NULL)
            snprintf(r->key, sizeof r->key, "%s", op->reserve->idempotency_key);
        if (op->body_case == LDPB__OP__BODY_PLACE_ORDER && op->place_order->idempotency_key != NULL)
            snprintf(r->key, sizeof r->key, "%s", op->place_order->idempotency_key);
        if (op->body_case == LDPB__OP__BODY_PULL_EVENTS) {
            r->wait_ms = op->pull_events->wait_ms;
            poll = poll || r->wait_ms > 0;
        }
        if (op->body_case == LDPB__OP__BODY_CREATE_DROP) {
            r->create_drop_inline = op->create_drop->product != NULL;
            if (op->create_drop->product_id.len == LD_ID_BYTES)
                memcpy(r->product_id.bytes, op->create_drop->product_id.data, LD_ID_BYTES);
        }
    }
    if (pages > n->max_page_ops_per_request)
        n->max_page_ops_per_request = pages;
    if (poll) {
        n->polls_in_flight++;
        if (n->polls_in_flight > n->polls_in_flight_max)
            n->polls_in_flight_max = n->polls_in_flight;
    }
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    return poll;
}

/* Waits before answering: a long poll until released (or poll_reply_ms), others delay_ms. */
static inline void
fake_wait(fake_node *n, bool poll)
{
    pthread_mutex_lock(&n->mu);
    int64_t start = fake_now_ms();
    for (;;) {
        int64_t until = poll && n->hold_polls
                            ? (n->poll_reply_ms ? start + n->poll_reply_ms : start + 60000)
                            : start + n->delay_ms;
        if ((poll && n->hold_polls && n->release_polls) || fake_now_ms() >= until ||
            atomic_load(&n->stop))
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 5 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&n->cond, &n->mu, &ts);
    }
    if (poll)
        n->polls_in_flight--;
    pthread_mutex_unlock(&n->mu);
}

static inline nng_msg *
fake_answer(fake_node *n, const Ldpb__Request *req)
{
    fake_arena *a = calloc(1, sizeof *a);
    cr_assert_not_null(a);
    Ldpb__Response resp = LDPB__RESPONSE__INIT;
    resp.version = LD_PROTOCOL_VERSION;
    resp.request_id = req->request_id;
    pthread_mutex_lock(&n->mu);
    resp.view = n->view;
    resp.applied_op = n->applied_op;
    bool not_primary = n->not_primary;
    char *named = fake_alloc(a, sizeof n->not_primary_addr);
    memcpy(named, n->not_primary_addr, sizeof n->not_primary_addr);
    pthread_mutex_unlock(&n->mu);
    Ldpb__NotPrimary np = LDPB__NOT_PRIMARY__INIT;
    if (not_primary) {
        resp.code = LD_ERR_NOT_PRIMARY;
        resp.message = "fake node: not the primary";
        np.view = resp.view;
        np.primary_address = named;
        resp.not_primary = &np;
    }
    size_t nres = not_primary ? 0 : req->n_ops; /* no results with an envelope failure */
    resp.n_results = nres;
    resp.results = fake_alloc(a, (nres + 1) * sizeof *resp.results);
    for (size_t i = 0; i < nres; i++) {
        Ldpb__Result *r = fake_alloc(a, sizeof *r);
        ldpb__result__init(r);
        fake_body(n, a, req->ops[i], r);
        resp.results[i] = r;
    }
    nng_msg *msg = NULL;
    size_t len = ldpb__response__get_packed_size(&resp);
    cr_assert_eq(nng_msg_alloc(&msg, len), 0);
    ldpb__response__pack(&resp, nng_msg_body(msg));
    for (size_t i = 0; i < a->n; i++)
        free(a->ptrs[i]);
    free(a);
    return msg;
}

static void *
fake_worker(void *arg)
{
    fake_node *n = arg;
    nng_ctx ctx;
    nng_aio *aio;
    cr_assert_eq(nng_ctx_open(&ctx, n->sock), 0);
    cr_assert_eq(nng_aio_alloc(&aio, NULL, NULL), 0);
    while (!atomic_load(&n->stop)) {
        nng_aio_set_timeout(aio, 50);
        nng_ctx_recv(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            continue;
        nng_msg *msg = nng_aio_get_msg(aio);
        Ldpb__Request *req = ldpb__request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
        nng_msg_free(msg);
        cr_assert_not_null(req, "the client sent a malformed Request");
        bool poll = fake_record(n, req);
        pthread_mutex_lock(&n->mu);
        bool silent = n->silent;
        if (silent && poll)
            n->polls_in_flight--;
        pthread_mutex_unlock(&n->mu);
        if (silent) {
            /* Never answered: the next receive on this context drops the request. */
            ldpb__request__free_unpacked(req, NULL);
            continue;
        }
        fake_wait(n, poll);
        nng_msg *reply = fake_answer(n, req);
        ldpb__request__free_unpacked(req, NULL);
        nng_aio_set_msg(aio, reply);
        nng_aio_set_timeout(aio, 5000);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        if (nng_aio_result(aio) != 0)
            nng_msg_free(reply);
    }
    nng_aio_free(aio);
    nng_ctx_close(ctx);
    return NULL;
}

/* Starts the fake node on `url` ("tcp://127.0.0.1:0": a free loopback port); its URL is
 * n->url. */
static inline void
fake_start_at(fake_node *n, const char *url)
{
    memset(n, 0, sizeof *n);
    pthread_mutex_init(&n->mu, NULL);
    pthread_cond_init(&n->cond, NULL);
    atomic_init(&n->stop, false);
    cr_assert_eq(nng_rep0_open(&n->sock), 0);
    nng_listener l;
    int rv = nng_listen(n->sock, url, &l, 0);
    cr_assert_eq(rv, 0, "listen %s: %s", url, nng_strerror(rv));
    nng_sockaddr sa;
    cr_assert_eq(nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa), 0);
    snprintf(n->url, sizeof n->url, "tcp://127.0.0.1:%u", ntohs(sa.s_in.sa_port));
    for (int i = 0; i < FAKE_WORKERS; i++)
        cr_assert_eq(pthread_create(&n->threads[i], NULL, fake_worker, n), 0);
}

static inline void
fake_start(fake_node *n)
{
    fake_start_at(n, "tcp://127.0.0.1:0");
}

static inline void
fake_stop(fake_node *n)
{
    if (n->stopped)
        return;
    n->stopped = true;
    atomic_store(&n->stop, true);
    pthread_mutex_lock(&n->mu);
    pthread_cond_broadcast(&n->cond);
    pthread_mutex_unlock(&n->mu);
    for (int i = 0; i < FAKE_WORKERS; i++)
        pthread_join(n->threads[i], NULL);
    nng_close(n->sock);
    pthread_cond_destroy(&n->cond);
    pthread_mutex_destroy(&n->mu);
}

/* Waits (up to 10 s) until the fake node saw at least `nops` ops. */
static inline void
fake_wait_ops(fake_node *n, uint32_t nops)
{
    pthread_mutex_lock(&n->mu);
    int64_t end = fake_now_ms() + 10000;
    while (n->nops < nops && fake_now_ms() < end) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&n->cond, &n->mu, &ts);
    }
    uint32_t got = n->nops;
    pthread_mutex_unlock(&n->mu);
    cr_assert_geq(got, nops, "fake node saw %u ops, expected %u", got, nops);
}

#endif /* LD_TEST_FAKE_NODE_H */
