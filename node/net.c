/*
 * net.c -- the rep0 socket, its contexts, and the NNG -> libuv hand-off queue (see net.h).
 *
 * Each context is in one of three states; whoever holds it is the only one touching it:
 *
 *   NET_RECV  an nng_ctx_recv is pending      -> NNG thread (aio callback)
 *   NET_HELD  a message was delivered         -> loop thread, until ldi_net_reply()
 *   NET_SEND  an nng_ctx_send is pending      -> NNG thread (aio callback), then NET_RECV
 */
#include "net.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/reqrep0/rep.h>

#include "log.h"
#include "util.h"

typedef enum net_state { NET_RECV = 0, NET_HELD = 1, NET_SEND = 2 } net_state;

typedef struct net_ctx {
    ldi_net *net;
    uint32_t index;
    net_state state;
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *msg;         /* NET_HELD: the received message, until drained */
    struct net_ctx *next; /* link in the inbound queue */
} net_ctx;

struct ldi_net {
    uv_loop_t *loop;
    uv_thread_t loop_thread; /* the only thread that may drain, reply and close */
    uv_async_t async;
    ldi_net_wake_cb wake_cb;
    void *wake_arg;
    nng_socket sock;
    nng_listener listener;
    bool listening;
    atomic_bool refusing; /* new pipes are closed on arrival */
    atomic_bool closing;  /* set before nng_close: callbacks stop re-arming */
    atomic_uint sends_pending;
    uv_mutex_t mu; /* guards head, tail */
    net_ctx *head;
    net_ctx *tail;
    net_ctx ctxs[LD_NODE_CONTEXTS];
};

static void
net_arm_recv(net_ctx *c)
{
    c->state = NET_RECV;
    nng_ctx_recv(c->ctx, c->aio);
}

/* NNG thread: a receive completed. */
static void
net_recv_done(net_ctx *c, int rv)
{
    ldi_net *net = c->net;
    if (rv != 0) {
        if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || atomic_load(&net->closing))
            return;
        LDI_DEBUG("net: receive failed: %s", nng_strerror(rv));
        net_arm_recv(c);
        return;
    }
    c->msg = nng_aio_get_msg(c->aio);
    nng_aio_set_msg(c->aio, NULL);
    c->state = NET_HELD;
    c->next = NULL;
    uv_mutex_lock(&net->mu);
    if (net->tail != NULL)
        net->tail->next = c;
    else
        net->head = c;
    net->tail = c;
    uv_mutex_unlock(&net->mu);
    uv_async_send(&net->async);
}

/* NNG thread: a send completed. NNG took the message only on success. */
static void
net_send_done(net_ctx *c, int rv)
{
    ldi_net *net = c->net;
    if (rv != 0) {
        nng_msg *msg = nng_aio_get_msg(c->aio);
        nng_aio_set_msg(c->aio, NULL);
        nng_msg_free(msg);
        if (rv != NNG_ECLOSED)
            LDI_DEBUG("net: send failed: %s", nng_strerror(rv));
    }
    atomic_fetch_sub(&net->sends_pending, 1);
    if (rv == NNG_ECLOSED || atomic_load(&net->closing))
        return;
    net_arm_recv(c);
}

static void
net_aio_cb(void *arg)
{
    net_ctx *c = arg;
    int rv = nng_aio_result(c->aio);
    if (c->state == NET_SEND)
        net_send_done(c, rv);
    else
        net_recv_done(c, rv);
}

static void
net_async_cb(uv_async_t *async)
{
    ldi_net *net = async->data;
    net->wake_cb(net->wake_arg);
}

void
ldi_net_bound_url(nng_listener listener, const char *url, char *out, size_t out_len)
{
    snprintf(out, out_len, "%s", url);
    nng_url *u = NULL;
    if (nng_url_parse(&u, url) != 0)
        return;
    int port = 0;
    bool tcp = strncmp(u->u_scheme, "tcp", 3) == 0;
    if (tcp && strcmp(u->u_port, "0") == 0 &&
        nng_listener_get_int(listener, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        bool v6 = strchr(u->u_hostname, ':') != NULL;
        snprintf(out, out_len, "%s://%s%s%s:%d", u->u_scheme, v6 ? "[" : "", u->u_hostname,
                 v6 ? "]" : "", port);
    }
    nng_url_free(u);
}

/* NNG thread: a connection is about to join the socket. */
static void
net_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    ldi_net *net = arg;
    if (ev == NNG_PIPE_EV_ADD_PRE && atomic_load(&net->refusing))
        nng_pipe_close(pipe);
}

static ld_err
net_listen(ldi_net *net, const char *url, char *bound_url, size_t bound_url_len)
{
    int rv = nng_pipe_notify(net->sock, NNG_PIPE_EV_ADD_PRE, net_pipe_cb, net);
    LD_ASSERT(rv == 0);
    rv = nng_listener_create(&net->listener, net->sock, url);
    if (rv == 0)
        rv = nng_listener_start(net->listener, 0);
    if (rv != 0) {
        LDI_ERROR("net: cannot listen on %s: %s", url, nng_strerror(rv));
        return LD_ERR_CONNECTION;
    }
    net->listening = true;
    ldi_net_bound_url(net->listener, url, bound_url, bound_url_len);
    return LD_OK;
}

static ld_err
net_open_ctxs(ldi_net *net)
{
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++) {
        net_ctx *c = &net->ctxs[i];
        c->net = net;
        c->index = i;
        int rv = nng_ctx_open(&c->ctx, net->sock);
        if (rv == 0)
            rv = nng_aio_alloc(&c->aio, net_aio_cb, c);
        if (rv != 0) {
            LDI_ERROR("net: cannot open context %u: %s", i, nng_strerror(rv));
            return LD_ERR_NOMEM;
        }
    }
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++)
        net_arm_recv(&net->ctxs[i]);
    return LD_OK;
}

ld_err
ldi_net_open(uv_loop_t *loop, const char *url, ldi_net_wake_cb wake_cb, void *wake_arg,
             char *bound_url, size_t bound_url_len, ldi_net **out)
{
    LD_ASSERT(loop != NULL && url != NULL);
    LD_ASSERT(wake_cb != NULL && out != NULL);
    ldi_net *net = ldi_xcalloc(1, sizeof *net);
    net->loop = loop;
    net->loop_thread = uv_thread_self();
    net->wake_cb = wake_cb;
    net->wake_arg = wake_arg;
    atomic_init(&net->refusing, false);
    atomic_init(&net->closing, false);
    atomic_init(&net->sends_pending, 0);
    LD_ASSERT(uv_mutex_init(&net->mu) == 0);
    LD_ASSERT(uv_async_init(loop, &net->async, net_async_cb) == 0);
    net->async.data = net;
    int rv = nng_rep0_open(&net->sock);
    if (rv != 0) {
        LDI_ERROR("net: cannot open rep0 socket: %s", nng_strerror(rv));
        *out = NULL;
        ldi_net_close(net);
        return LD_ERR_NOMEM;
    }
    /* Before the listener exists, so every pipe inherits the cap (see net.h). */
    rv = nng_socket_set_size(net->sock, NNG_OPT_RECVMAXSZ, LDI_NET_RECV_BYTES_MAX);
    LD_ASSERT(rv == 0);
    ld_err e = net_open_ctxs(net);
    if (e == LD_OK)
        e = net_listen(net, url, bound_url, bound_url_len);
    if (e != LD_OK) {
        ldi_net_close(net);
        return e;
    }
    *out = net;
    return LD_OK;
}

static bool
net_on_loop_thread(const ldi_net *net)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &net->loop_thread) != 0;
}

void
ldi_net_drain(ldi_net *net, ldi_net_msg_cb cb, void *arg)
{
    LD_ASSERT(net_on_loop_thread(net));
    uv_mutex_lock(&net->mu);
    net_ctx *c = net->head;
    net->head = NULL;
    net->tail = NULL;
    uv_mutex_unlock(&net->mu);
    while (c != NULL) {
        net_ctx *next = c->next;
        LD_ASSERT(c->state == NET_HELD);
        nng_msg *msg = c->msg;
        c->msg = NULL;
        c->next = NULL;
        cb(arg, c->index, msg);
        c = next;
    }
}

void
ldi_net_reply(ldi_net *net, uint32_t ctx_index, nng_msg *msg)
{
    LD_ASSERT(net_on_loop_thread(net));
    LD_ASSERT(ctx_index < LD_NODE_CONTEXTS);
    net_ctx *c = &net->ctxs[ctx_index];
    LD_ASSERT(c->state == NET_HELD);
    LD_ASSERT(c->msg == NULL);
    if (msg == NULL) {
        net_arm_recv(c);
        return;
    }
    c->state = NET_SEND;
    atomic_fetch_add(&net->sends_pending, 1);
    nng_aio_set_msg(c->aio, msg);
    nng_ctx_send(c->ctx, c->aio); /* from here on, c belongs to the NNG thread */
}

void
ldi_net_refuse_new(ldi_net *net)
{
    atomic_store(&net->refusing, true);
}

uint32_t
ldi_net_sends_pending(const ldi_net *net)
{
    return atomic_load(&((ldi_net *)net)->sends_pending);
}

static void
net_closed_cb(uv_handle_t *handle)
{
    ldi_net *net = handle->data;
    uv_mutex_destroy(&net->mu);
    free(net);
}

void
ldi_net_close(ldi_net *net)
{
    LD_ASSERT(net_on_loop_thread(net));
    atomic_store(&net->refusing, true);
    atomic_store(&net->closing, true);
    if (net->listening) {
        net->listening = false;
        nng_listener_close(net->listener);
    }
    if (nng_socket_id(net->sock) > 0)
        nng_close(net->sock); /* cancels every context operation: callbacks see NNG_ECLOSED */
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++) {
        if (net->ctxs[i].aio != NULL)
            nng_aio_free(net->ctxs[i].aio); /* stops it and waits for a running callback */
        net->ctxs[i].aio = NULL;
    }
    uv_mutex_lock(&net->mu);
    for (net_ctx *c = net->head; c != NULL; c = c->next) {
        nng_msg_free(c->msg);
        c->msg = NULL;
    }
    net->head = NULL;
    net->tail = NULL;
    uv_mutex_unlock(&net->mu);
    uv_close((uv_handle_t *)&net->async, net_closed_cb);
}
