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
 *
 * Close. NNG 1.5.2 can hang forever in nng_close() when a message arrives as the socket's TCP
 * pipe closes (nng issue #616; closer.c tells how), and a subscriber receives whatever the node
 * publishes: seen with a subscriber closed while a burst it had fallen behind was still
 * arriving, measured on most closes under a steady flood from another process, and as a
 * timeout of integ_test_events in 3 of 155 runs on a loaded machine (the stuck close stops NNG's
 * reaper, and with it every later close of the process). So ld_subscriber_close() unsubscribes,
 * half-closes the connection (ldi_pipe_half_close), closes the dialer as the pipe goes (no
 * reconnection: a new connection left behind at exit is reported by LeakSanitizer) and waits
 * up to LDI_CLOSE_WAIT_MS for the node to close it -- the pipe then goes from NNG's receive path,
 * without the race -- and only then closes the socket, through ldi_close_bounded(): a close
 * stuck in NNG anyway (the node did not answer) leaves that socket and thread behind.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"

/* One pushed message: a topic, '\n', and one event (a few hundred bytes). Anything larger is
 * not ours; NNG drops it before it costs memory. */
#define PUSH_BYTES_MAX (64u * 1024u)
/* Messages the socket queues while the caller is busy; NNG's maximum. */
#define PUSH_QUEUE_MAX 8192

/* A subscription prefix: "<canonical topic>\n" and a NUL. */
typedef char sub_prefix[LD_TOPIC_BYTES_MAX + 2];

struct ld_subscriber {
    nng_socket sock;
    nng_dialer dialer;
    pthread_mutex_t mu; /* guards pipe and pipe_up, held by the close while it half-closes */
    pthread_cond_t pipe_gone;
    nng_pipe pipe; /* the connection to the node, when pipe_up */
    bool pipe_up;
    bool closing;            /* ld_subscriber_close() began: no reconnection */
    int32_t recv_timeout_ms; /* as last set on the socket; -2: never set */
    sub_prefix *prefixes;    /* the subscriptions, unsubscribed before the close */
    size_t nprefixes;
    size_t cap;
};

/* Tracks the connection to the node, for the close. Thread: NNG. */
static void
sub_pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    ld_subscriber *s = arg;
    pthread_mutex_lock(&s->mu);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        s->pipe = pipe;
        s->pipe_up = true;
    } else if (s->pipe_up && nng_pipe_id(s->pipe) == nng_pipe_id(pipe)) {
        s->pipe_up = false;
        /* Closing: the dialer goes before NNG would start its reconnection timer (after this
         * callback). NNG 1.5.2 draws that back-off as a negative number half the time, so no
         * RECONNMINT prevents an immediate redial. nng_dialer_close() does not wait. */
        if (s->closing)
            (void)nng_dialer_close(s->dialer);
        pthread_cond_broadcast(&s->pipe_gone);
    }
    pthread_mutex_unlock(&s->mu);
}

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
    if (nng_pipe_notify(s->sock, NNG_PIPE_EV_ADD_POST, sub_pipe_cb, s) != 0 ||
        nng_pipe_notify(s->sock, NNG_PIPE_EV_REM_POST, sub_pipe_cb, s) != 0)
        return LD_ERR_INTERNAL;
    /* Non-blocking: the dialer keeps trying in the background, like ld_client_open(). */
    int rv = nng_dial(s->sock, addr, &s->dialer, NNG_FLAG_NONBLOCK);
    if (rv != 0)
        return rv == NNG_ENOMEM ? LD_ERR_NOMEM : LD_ERR_INVALID_ARGUMENT;
    return LD_OK;
}

/* Frees the subscriber's memory (its socket is closed). */
static void
sub_free(void *arg)
{
    ld_subscriber *s = arg;
    pthread_cond_destroy(&s->pipe_gone);
    pthread_mutex_destroy(&s->mu);
    free(s->prefixes);
    free(s);
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
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->pipe_gone, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->mu, NULL);
    ld_err err = sub_socket_open(s, publish_addr);
    if (err != LD_OK) {
        if (nng_socket_id(s->sock) > 0)
            nng_close(s->sock);
        sub_free(s);
        return err;
    }
    *out = s;
    return LD_OK;
}

/* The index of a tracked prefix, or nprefixes. */
static size_t
prefix_find(const ld_subscriber *s, const char *prefix)
{
    size_t i = 0;
    while (i < s->nprefixes && strcmp(s->prefixes[i], prefix) != 0)
        i++;
    return i;
}

/* Tracks a new subscription; false when out of memory. */
static bool
prefix_add(ld_subscriber *s, const char *prefix)
{
    if (prefix_find(s, prefix) < s->nprefixes)
        return true;
    if (s->nprefixes == s->cap) {
        size_t cap = s->cap != 0 ? 2 * s->cap : 8;
        sub_prefix *p = realloc(s->prefixes, cap * sizeof *p);
        if (p == NULL)
            return false;
        s->prefixes = p;
        s->cap = cap;
    }
    strcpy(s->prefixes[s->nprefixes++], prefix);
    return true;
}

static void
prefix_remove(ld_subscriber *s, const char *prefix)
{
    size_t i = prefix_find(s, prefix);
    if (i == s->nprefixes)
        return;
    s->nprefixes--;
    if (i != s->nprefixes)
        memcpy(s->prefixes[i], s->prefixes[s->nprefixes], sizeof s->prefixes[i]);
}

/* Subscribes or unsubscribes the prefix "<canonical topic>\n". */
static ld_err
sub_option(ld_subscriber *s, bool subscribe, const char *topic)
{
    if (s == NULL)
        return LD_ERR_INVALID_ARGUMENT;
    sub_prefix prefix;
    ld_err err = ldi_check_topic(topic, "topic", prefix, NULL);
    if (err != LD_OK)
        return err;
    size_t len = strlen(prefix);
    prefix[len++] = '\n';
    prefix[len] = '\0';
    const char *opt = subscribe ? NNG_OPT_SUB_SUBSCRIBE : NNG_OPT_SUB_UNSUBSCRIBE;
    int rv = nng_socket_set(s->sock, opt, prefix, len);
    if (rv == NNG_ENOENT)
        return LD_OK; /* unsubscribing what was not subscribed */
    if (rv != 0)
        return rv == NNG_ENOMEM ? LD_ERR_NOMEM : LD_ERR_INTERNAL;
    if (!subscribe) {
        prefix_remove(s, prefix);
    } else if (!prefix_add(s, prefix)) {
        (void)nng_socket_set(s->sock, NNG_OPT_SUB_UNSUBSCRIBE, prefix, len);
        return LD_ERR_NOMEM;
    }
    return LD_OK;
}

LD_API ld_err
ld_subscribe(ld_subscriber *s, const char *topic)
{
    return sub_option(s, true, topic);
}

LD_API ld_err
ld_unsubscribe(ld_subscriber *s, const char *topic)
{
    return sub_option(s, false, topic);
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

/* ldi_close_bounded()'s first half: the NNG close (sub_free is the second). */
static void
sub_close_socket(void *arg)
{
    ld_subscriber *s = arg;
    nng_close(s->sock);
}

/* Has the node close the connection (see the file comment) and waits for its pipe to go, at
 * most LDI_CLOSE_WAIT_MS. A node that does not answer (stopped, gone) sends nothing either, so
 * the close that follows has no message to race. */
static void
sub_quiesce(ld_subscriber *s)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += LDI_CLOSE_WAIT_MS / 1000;
    until.tv_nsec += (long)(LDI_CLOSE_WAIT_MS % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    uint32_t half_closed = 0; /* the pipe id last half-closed */
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    while (s->pipe_up) {
        if (nng_pipe_id(s->pipe) != (int)half_closed) {
            half_closed = (uint32_t)nng_pipe_id(s->pipe);
            if (!ldi_pipe_half_close(s->pipe))
                break; /* not TCP, or not found: close as before */
        }
        if (pthread_cond_timedwait(&s->pipe_gone, &s->mu, &until) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&s->mu);
}

LD_API void
ld_subscriber_close(ld_subscriber *s)
{
    if (s == NULL)
        return;
    /* With no subscription left the socket drops at once whatever still arrives. */
    for (size_t i = 0; i < s->nprefixes; i++)
        (void)nng_socket_set(s->sock, NNG_OPT_SUB_UNSUBSCRIBE, s->prefixes[i],
                             strlen(s->prefixes[i]));
    sub_quiesce(s);
    if (ldi_close_bounded(sub_close_socket, sub_free, s, LDI_CLOSE_WAIT_MS))
        sub_free(s);
}
