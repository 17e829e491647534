/*
 * peer.c -- pull0 in, push0 out, and the NNG -> libuv queue of received frames (see peer.h).
 *
 * One receive is pending on the pull socket at a time; its callback (an NNG thread) queues the
 * message and re-arms it at once. The loop thread is the only one that sends, drains and closes.
 */
#include "peer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "log.h"
#include "util.h"

typedef struct peer_frame {
    nng_msg *msg;
    struct peer_frame *next;
} peer_frame;

struct ldi_peer {
    uv_loop_t *loop;
    uv_thread_t loop_thread;
    uv_async_t async;
    ldi_net_wake_cb wake_cb;
    void *wake_arg;
    uint32_t self;
    uint32_t n;
    nng_socket pull;
    bool pull_open;
    nng_aio *recv_aio;
    nng_socket push[LD_PEER_REPLICAS_MAX]; /* [self] unused */
    bool push_open[LD_PEER_REPLICAS_MAX];
    atomic_bool closing;
    uv_mutex_t mu; /* guards head, tail, queued, queued_bytes, recv_dropped, received */
    peer_frame *head;
    peer_frame *tail;
    uint32_t queued;
    size_t queued_bytes;
    uint64_t received;
    uint64_t recv_dropped;
    uint64_t sent;
    uint64_t send_dropped;
};

static bool
peer_on_loop_thread(const ldi_peer *p)
{
    uv_thread_t self = uv_thread_self();
    return uv_thread_equal(&self, &p->loop_thread) != 0;
}

/* NNG thread: a frame arrived (or the receive failed). */
static void
peer_recv_cb(void *arg)
{
    ldi_peer *p = arg;
    int rv = nng_aio_result(p->recv_aio);
    if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
        return;
    if (atomic_load(&p->closing)) {
        /* A frame that arrived as the transport closes is ours to free: nobody takes it. */
        if (rv == 0) {
            nng_msg_free(nng_aio_get_msg(p->recv_aio));
            nng_aio_set_msg(p->recv_aio, NULL);
        }
        return;
    }
    if (rv == 0) {
        nng_msg *msg = nng_aio_get_msg(p->recv_aio);
        nng_aio_set_msg(p->recv_aio, NULL);
        size_t len = nng_msg_len(msg);
        peer_frame *f = NULL;
        uv_mutex_lock(&p->mu);
        bool room = p->queued < LD_PEER_RECV_QUEUE_MAX &&
                    len <= LD_PEER_RECV_QUEUE_BYTES_MAX - p->queued_bytes;
        if (room && (f = malloc(sizeof *f)) != NULL) {
            f->msg = msg;
            f->next = NULL;
            if (p->tail != NULL)
                p->tail->next = f;
            else
                p->head = f;
            p->tail = f;
            p->queued++;
            p->queued_bytes += len;
            p->received++;
        } else {
            p->recv_dropped++;
        }
        uv_mutex_unlock(&p->mu);
        if (f != NULL)
            uv_async_send(&p->async);
        else
            nng_msg_free(msg);
    }
    nng_recv_aio(p->pull, p->recv_aio);
}

static void
peer_async_cb(uv_async_t *async)
{
    ldi_peer *p = async->data;
    p->wake_cb(p->wake_arg);
}

/* Options every peer socket shares (set before its listener or dialer exists). */
static void
peer_socket_options(nng_socket s)
{
    int rv = nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, LD_PEER_FRAME_BYTES_MAX);
    LD_ASSERT(rv == 0);
    rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, LD_PEER_RECONNECT_MIN_MS);
    LD_ASSERT(rv == 0);
    rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, LD_PEER_RECONNECT_MAX_MS);
    LD_ASSERT(rv == 0);
}

static ld_err
peer_listen(ldi_peer *p, const char *url)
{
    int rv = nng_pull0_open(&p->pull);
    if (rv != 0) {
        LDI_ERROR("peer: cannot open the pull socket: %s", nng_strerror(rv));
        return LD_ERR_CONNECTION;
    }
    p->pull_open = true;
    peer_socket_options(p->pull);
    rv = nng_listen(p->pull, url, NULL, 0);
    if (rv != 0) {
        LDI_ERROR("peer: cannot listen on %s: %s", url, nng_strerror(rv));
        return LD_ERR_CONNECTION;
    }
    rv = nng_aio_alloc(&p->recv_aio, peer_recv_cb, p);
    if (rv != 0)
        return LD_ERR_NOMEM;
    nng_recv_aio(p->pull, p->recv_aio);
    return LD_OK;
}

static ld_err
peer_dial(ldi_peer *p, uint32_t to, const char *url)
{
    int rv = nng_push0_open(&p->push[to]);
    if (rv != 0) {
        LDI_ERROR("peer: cannot open a push socket: %s", nng_strerror(rv));
        return LD_ERR_CONNECTION;
    }
    p->push_open[to] = true;
    peer_socket_options(p->push[to]);
    rv = nng_socket_set_int(p->push[to], NNG_OPT_SENDBUF, (int)LD_PEER_SEND_QUEUE_MAX);
    LD_ASSERT(rv == 0);
    /* Non-blocking: the dialer keeps trying in the background while the peer is down. */
    rv = nng_dial(p->push[to], url, NULL, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        LDI_ERROR("peer: cannot dial replica %u at %s: %s", to, url, nng_strerror(rv));
        return LD_ERR_CONNECTION;
    }
    return LD_OK;
}

ld_err
ldi_peer_open(uv_loop_t *loop, uint32_t self, uint32_t n, const char *const *urls,
              ldi_net_wake_cb wake_cb, void *wake_arg, ldi_peer **out)
{
    LD_ASSERT(loop != NULL && urls != NULL && out != NULL);
    LD_ASSERT(n >= 1 && n <= LD_PEER_REPLICAS_MAX);
    LD_ASSERT(self < n);
    ldi_peer *p = ldi_xcalloc(1, sizeof *p);
    p->loop = loop;
    p->loop_thread = uv_thread_self();
    p->wake_cb = wake_cb;
    p->wake_arg = wake_arg;
    p->self = self;
    p->n = n;
    atomic_init(&p->closing, false);
    LD_ASSERT(uv_mutex_init(&p->mu) == 0);
    LD_ASSERT(uv_async_init(loop, &p->async, peer_async_cb) == 0);
    p->async.data = p;
    ld_err e = peer_listen(p, urls[self]);
    for (uint32_t i = 0; i < n && e == LD_OK; i++)
        if (i != self)
            e = peer_dial(p, i, urls[i]);
    if (e != LD_OK) {
        ldi_peer_close(p);
        return e;
    }
    LDI_INFO("peer: listening on %s, dialling %u other replica(s)", urls[self], n - 1);
    *out = p;
    return LD_OK;
}

void
ldi_peer_take(ldi_peer *p, ldi_peer_batch *b)
{
    LD_ASSERT(peer_on_loop_thread(p));
    LD_ASSERT(b->head == NULL);
    uv_mutex_lock(&p->mu);
    b->head = p->head;
    p->head = NULL;
    p->tail = NULL;
    p->queued = 0;
    p->queued_bytes = 0;
    uv_mutex_unlock(&p->mu);
}

bool
ldi_peer_batch_next(ldi_peer_batch *b, ldi_peer_frame_cb cb, void *arg)
{
    peer_frame *f = b->head;
    if (f == NULL)
        return false;
    b->head = f->next;
    cb(arg, nng_msg_body(f->msg), nng_msg_len(f->msg));
    nng_msg_free(f->msg);
    free(f);
    return true;
}

void
ldi_peer_batch_free(ldi_peer_batch *b)
{
    while (b->head != NULL) {
        peer_frame *f = b->head;
        b->head = f->next;
        nng_msg_free(f->msg);
        free(f);
    }
}

bool
ldi_peer_send(ldi_peer *p, uint32_t to, const uint8_t *buf, size_t len)
{
    LD_ASSERT(peer_on_loop_thread(p));
    LD_ASSERT(to < p->n && to != p->self);
    nng_msg *msg = NULL;
    if (nng_msg_alloc(&msg, len) != 0) {
        p->send_dropped++;
        return false;
    }
    memcpy(nng_msg_body(msg), buf, len);
    int rv = nng_sendmsg(p->push[to], msg, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        nng_msg_free(msg); /* NNG took it only on success */
        p->send_dropped++;
        return false;
    }
    p->sent++;
    return true;
}

void
ldi_peer_stats_get(ldi_peer *p, ldi_peer_stats *out)
{
    LD_ASSERT(peer_on_loop_thread(p));
    uv_mutex_lock(&p->mu);
    out->received = p->received;
    out->recv_dropped = p->recv_dropped;
    uv_mutex_unlock(&p->mu);
    out->sent = p->sent;
    out->send_dropped = p->send_dropped;
}

static void
peer_closed_cb(uv_handle_t *handle)
{
    ldi_peer *p = handle->data;
    uv_mutex_destroy(&p->mu);
    free(p);
}

void
ldi_peer_close(ldi_peer *p)
{
    if (p == NULL)
        return;
    LD_ASSERT(peer_on_loop_thread(p));
    atomic_store(&p->closing, true);
    if (p->pull_open)
        nng_close(p->pull); /* cancels the receive: its callback sees NNG_ECLOSED */
    if (p->recv_aio != NULL)
        nng_aio_free(p->recv_aio); /* waits for a running callback */
    for (uint32_t i = 0; i < p->n; i++)
        if (p->push_open[i])
            nng_close(p->push[i]);
    uv_mutex_lock(&p->mu);
    while (p->head != NULL) {
        peer_frame *f = p->head;
        p->head = f->next;
        nng_msg_free(f->msg);
        free(f);
    }
    p->tail = NULL;
    uv_mutex_unlock(&p->mu);
    uv_close((uv_handle_t *)&p->async, peer_closed_cb);
}
