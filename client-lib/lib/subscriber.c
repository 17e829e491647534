/*
 * subscriber.c -- the push side of liblivedrop: an NNG sub0 socket dialled to a node's publish
 * address (node option `publish`).
 *
 * Message layout, one event per message, published once per topic the event is on:
 *
 *   +---------------------------+------+------------------------------+
 *   | topic ("creator/<32 hex>")| '\n' | packed Ldpb__Event           |
 *   +---------------------------+------+------------------------------+
 *
 * A subscription is the prefix "<topic>\n", so "creator/ab..." never matches "creator/ab...cd"
 * by accident. NNG 1.5.2 filters on the subscriber's side: every subscriber receives every
 * published message, and the sub0 socket drops what matches none of its prefixes (and, when its
 * receive queue is full, the oldest message: delivery is best effort, gaps show as jumps in
 * topic_seq). Topics are canonicalised to lower-case hex, as the node formats them.
 *
 * Not thread-safe: one thread uses a subscriber at a time (the NNG socket is thread-safe, but
 * the receive timeout is a socket option set per call).
 */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

/* One pushed message: a topic, '\n', and one event (a few hundred bytes). Anything larger is
 * not ours; NNG drops it before it costs memory. */
#define PUSH_BYTES_MAX (64u * 1024u)
/* Messages the socket queues while the caller is busy; NNG's maximum. */
#define PUSH_QUEUE_MAX 8192

struct ld_subscriber {
    nng_socket sock;
    int32_t recv_timeout_ms; /* as last set on the socket; -2: never set */
};

static ld_err
sub_socket_open(ld_subscriber *s, const char *addr)
{
    if (nng_sub0_open(&s->sock) != 0)
        return LD_ERR_NOMEM;
    if (nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, PUSH_BYTES_MAX) != 0 ||
        nng_socket_set_int(s->sock, NNG_OPT_RECVBUF, PUSH_QUEUE_MAX) != 0)
        return LD_ERR_INTERNAL;
    (void)nng_socket_set_ms(s->sock, NNG_OPT_RECONNMINT, 20);
    (void)nng_socket_set_ms(s->sock, NNG_OPT_RECONNMAXT, 500);
    /* Non-blocking: the dialer keeps trying in the background, like ld_client_open(). */
    int rv = nng_dial(s->sock, addr, NULL, NNG_FLAG_NONBLOCK);
    if (rv != 0)
        return rv == NNG_ENOMEM ? LD_ERR_NOMEM : LD_ERR_INVALID_ARGUMENT;
    return LD_OK;
}

LD_API ld_err
ld_subscriber_open(const char *publish_addr, ld_subscriber **out)
{
    if (out == NULL)
        return LD_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (publish_addr == NULL || publish_addr[0] == '\0')
        return LD_ERR_INVALID_ARGUMENT;
    ld_subscriber *s = calloc(1, sizeof *s);
    if (s == NULL)
        return LD_ERR_NOMEM;
    s->recv_timeout_ms = -2;
    ld_err err = sub_socket_open(s, publish_addr);
    if (err != LD_OK) {
        if (nng_socket_id(s->sock) > 0)
            nng_close(s->sock);
        free(s);
        return err;
    }
    *out = s;
    return LD_OK;
}

/* Subscribes or unsubscribes the prefix "<canonical topic>\n". */
static ld_err
sub_option(ld_subscriber *s, const char *opt, const char *topic)
{
    if (s == NULL)
        return LD_ERR_INVALID_ARGUMENT;
    char prefix[LD_TOPIC_BYTES_MAX + 2];
    ld_err err = ldi_check_topic(topic, "topic", prefix, NULL);
    if (err != LD_OK)
        return err;
    size_t len = strlen(prefix);
    prefix[len++] = '\n';
    int rv = nng_socket_set(s->sock, opt, prefix, len);
    if (rv == NNG_ENOENT)
        return LD_OK; /* unsubscribing what was not subscribed */
    if (rv == NNG_ENOMEM)
        return LD_ERR_NOMEM;
    return rv == 0 ? LD_OK : LD_ERR_INTERNAL;
}

LD_API ld_err
ld_subscribe(ld_subscriber *s, const char *topic)
{
    return sub_option(s, NNG_OPT_SUB_SUBSCRIBE, topic);
}

LD_API ld_err
ld_unsubscribe(ld_subscriber *s, const char *topic)
{
    return sub_option(s, NNG_OPT_SUB_UNSUBSCRIBE, topic);
}

/* Splits a pushed message into its topic and event. */
static ld_err
push_parse(const uint8_t *body, size_t len, ld_event *out)
{
    size_t scan = len < LD_TOPIC_BYTES_MAX + 1 ? len : LD_TOPIC_BYTES_MAX + 1;
    const uint8_t *nl = memchr(body, '\n', scan);
    if (nl == NULL)
        return LD_ERR_PROTOCOL;
    char topic[LD_TOPIC_BYTES_MAX + 1];
    size_t topic_len = (size_t)(nl - body);
    memcpy(topic, body, topic_len);
    topic[topic_len] = '\0';
    size_t ev_len = len - topic_len - 1;
    Ldpb__Event *ev = ldpb__event__unpack(NULL, ev_len, nl + 1);
    if (ev == NULL)
        return LD_ERR_PROTOCOL;
    /* The prefix is what the subscription matched: it names the topic even if the event
     * carries another (it should not). */
    bool ok = ldi_event_from_pb(out, ev, NULL);
    ldi_copy_str(out->topic, sizeof out->topic, topic);
    ldpb__event__free_unpacked(ev, NULL);
    return ok ? LD_OK : LD_ERR_PROTOCOL;
}

LD_API ld_err
ld_subscriber_recv(ld_subscriber *s, uint32_t timeout_ms, ld_event *out)
{
    if (out != NULL)
        memset(out, 0, sizeof *out);
    if (s == NULL || out == NULL)
        return LD_ERR_INVALID_ARGUMENT;
    int32_t t = timeout_ms > INT32_MAX ? INT32_MAX : (int32_t)timeout_ms;
    if (t != s->recv_timeout_ms) {
        if (nng_socket_set_ms(s->sock, NNG_OPT_RECVTIMEO, t) != 0)
            return LD_ERR_INTERNAL;
        s->recv_timeout_ms = t;
    }
    nng_msg *msg = NULL;
    int rv = nng_recvmsg(s->sock, &msg, timeout_ms == 0 ? NNG_FLAG_NONBLOCK : 0);
    switch (rv) {
    case 0:
        break;
    case NNG_ETIMEDOUT:
    case NNG_EAGAIN:
        return LD_ERR_TIMEOUT;
    case NNG_ECLOSED:
        return LD_ERR_CLOSED;
    case NNG_ENOMEM:
        return LD_ERR_NOMEM;
    default:
        return LD_ERR_INTERNAL;
    }
    ld_err err = push_parse(nng_msg_body(msg), nng_msg_len(msg), out);
    nng_msg_free(msg);
    if (err != LD_OK)
        memset(out, 0, sizeof *out);
    return err;
}

LD_API void
ld_subscriber_close(ld_subscriber *s)
{
    if (s == NULL)
        return;
    nng_close(s->sock);
    free(s);
}
