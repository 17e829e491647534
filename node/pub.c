/*
 * pub.c -- the pub0 socket that pushes events to subscribers (see pub.h).
 */
#include "pub.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "codec.h"
#include "log.h"
#include "net.h"
#include "util.h"

/* Subscribers at once: pub0 keeps a queue per subscriber, so their number bounds memory. */
#define PUB_SUBSCRIBERS_MAX 1024u
/* Messages queued per subscriber before pub0 drops for it. A batch can emit thousands of events
 * (a burst of follows); the queues hold references to shared messages, so this costs 8 bytes
 * per slot and subscriber. NNG accepts 0..8192. */
#define PUB_SENDBUF_MSGS 4096
/* The socket never receives; SP handshakes are not messages, so this only refuses garbage. */
#define PUB_RECV_BYTES_MAX 1024u

struct ldi_pub {
    nng_socket sock;
    nng_listener listener;
    uv_mutex_t mu; /* guards pipes, n_pipes, refused (pipe callbacks run on NNG threads) */
    uint32_t pipes[PUB_SUBSCRIBERS_MAX]; /* ids of the admitted subscribers' pipes */
    uint32_t n_pipes;
    uint64_t refused; /* connections closed because of the cap */
};

/* NNG thread: a subscriber connects (ADD_PRE: it may still be refused) or goes away. Admitted
 * pipes are remembered by id, so a REM_POST for a pipe refused here (NNG documents that none
 * comes, but the count must not depend on it) changes nothing. */
static void
pub_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    ldi_pub *pub = arg;
    uint32_t id = (uint32_t)nng_pipe_id(pipe);
    bool refuse = false;
    uint64_t refused = 0;
    uv_mutex_lock(&pub->mu);
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        refuse = pub->n_pipes >= PUB_SUBSCRIBERS_MAX;
        if (!refuse)
            pub->pipes[pub->n_pipes++] = id;
        else
            refused = ++pub->refused;
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        for (uint32_t i = 0; i < pub->n_pipes; i++) {
            if (pub->pipes[i] == id) {
                pub->pipes[i] = pub->pipes[--pub->n_pipes];
                break;
            }
        }
    }
    uv_mutex_unlock(&pub->mu);
    if (refuse) {
        /* A refused dialer redials at once: log the 1st, 2nd, 4th... refusal, not each. */
        if ((refused & (refused - 1)) == 0)
            LDI_WARN("publish: %u subscribers already; closing a new connection (%llu so far)",
                     PUB_SUBSCRIBERS_MAX, (unsigned long long)refused);
        nng_pipe_close(pipe);
    }
}

ld_err
ldi_pub_open(const char *url, char *bound_url, size_t bound_url_len, ldi_pub **out)
{
    LD_ASSERT(url != NULL && bound_url != NULL);
    LD_ASSERT(out != NULL);
    ldi_pub *pub = ldi_xcalloc(1, sizeof *pub);
    LD_ASSERT(uv_mutex_init(&pub->mu) == 0);
    int rv = nng_pub0_open(&pub->sock);
    if (rv != 0) {
        LDI_ERROR("publish: cannot open pub0 socket: %s", nng_strerror(rv));
        uv_mutex_destroy(&pub->mu);
        free(pub);
        return LD_ERR_NOMEM;
    }
    rv = nng_socket_set_size(pub->sock, NNG_OPT_RECVMAXSZ, PUB_RECV_BYTES_MAX);
    LD_ASSERT(rv == 0);
    rv = nng_socket_set_int(pub->sock, NNG_OPT_SENDBUF, PUB_SENDBUF_MSGS);
    if (rv != 0)
        LDI_WARN("publish: cannot set the subscriber queue to %d messages: %s", PUB_SENDBUF_MSGS,
                 nng_strerror(rv));
    rv = nng_pipe_notify(pub->sock, NNG_PIPE_EV_ADD_PRE, pub_pipe_cb, pub);
    LD_ASSERT(rv == 0);
    rv = nng_pipe_notify(pub->sock, NNG_PIPE_EV_REM_POST, pub_pipe_cb, pub);
    LD_ASSERT(rv == 0);
    rv = nng_listener_create(&pub->listener, pub->sock, url);
    if (rv == 0)
        rv = nng_listener_start(pub->listener, 0);
    if (rv != 0) {
        LDI_ERROR("publish: cannot listen on %s: %s", url, nng_strerror(rv));
        ldi_pub_close(pub);
        return LD_ERR_CONNECTION;
    }
    ldi_net_bound_url(pub->listener, url, bound_url, bound_url_len);
    *out = pub;
    return LD_OK;
}

static const ld_id *
pub_topic_id(const ld_event_view *ev, ld_topic_kind kind)
{
    switch (kind) {
    case LD_TOPIC_CREATOR:
        return &ev->creator_id;
    case LD_TOPIC_DROP:
        return &ev->drop_id;
    case LD_TOPIC_USER:
        return &ev->user_id;
    default:
        LD_ASSERT(!"not a topic kind");
        return NULL;
    }
}

/* Builds "<topic>\n<packed Event>" in a new message; NULL when out of memory. */
static nng_msg *
pub_message(const ld_event_view *ev, ld_topic_kind kind)
{
    char topic[LD_TOPIC_BYTES_MAX + 1];
    size_t topic_len = ld_topic_format(kind, pub_topic_id(ev, kind), topic);
    LD_ASSERT(topic_len > 0 && topic_len <= LD_TOPIC_BYTES_MAX);
    Ldpb__Event pb;
    ld_codec_event_scratch scratch;
    ld_codec_event_to_pb(ev, topic, ev->topic_seq[kind], &pb, &scratch);
    size_t len = ldpb__event__get_packed_size(&pb);
    nng_msg *msg = NULL;
    if (nng_msg_alloc(&msg, topic_len + 1 + len) != 0)
        return NULL;
    uint8_t *body = nng_msg_body(msg);
    memcpy(body, topic, topic_len);
    body[topic_len] = '\n';
    size_t packed = ldpb__event__pack(&pb, body + topic_len + 1);
    LD_ASSERT(packed == len);
    return msg;
}

void
ldi_pub_event(ldi_pub *pub, const ld_event_view *ev, uint64_t *published_out, uint64_t *dropped_out)
{
    LD_ASSERT(pub != NULL && ev != NULL);
    static const ld_topic_kind kinds[] = {LD_TOPIC_CREATOR, LD_TOPIC_DROP, LD_TOPIC_USER};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        if (ev->topic_seq[kinds[i]] == 0)
            continue;
        nng_msg *msg = pub_message(ev, kinds[i]);
        if (msg == NULL) {
            (*dropped_out)++;
            continue;
        }
        /* NONBLOCK: pub0 never waits for a subscriber, but the loop must not wait either. */
        int rv = nng_sendmsg(pub->sock, msg, NNG_FLAG_NONBLOCK);
        if (rv != 0) {
            nng_msg_free(msg); /* NNG takes the message only on success */
            (*dropped_out)++;
            LDI_DEBUG("publish: send refused: %s", nng_strerror(rv));
            continue;
        }
        (*published_out)++;
    }
}

uint32_t
ldi_pub_subscribers(ldi_pub *pub)
{
    uv_mutex_lock(&pub->mu);
    uint32_t n = pub->n_pipes;
    uv_mutex_unlock(&pub->mu);
    return n;
}

void
ldi_pub_close(ldi_pub *pub)
{
    if (pub == NULL)
        return;
    nng_close(pub->sock); /* closes the listener and every pipe; no callback runs after it */
    uv_mutex_destroy(&pub->mu);
    free(pub);
}
