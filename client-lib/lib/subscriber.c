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
 * Close. NNG 1.5.2 can hang forever in nng_close() when the socket's TCP pipe is closed between
 * a message's header and its body (nng issues #616 and #1636, fixed after 1.5.2): seen with a
 * subscriber closed while a burst it had fallen behind was still arriving, and measured on most
 * closes under a steady flood from another process (an idle publisher: none). So the close runs
 * on a thread of its own, and ld_subscriber_close() waits for it at most CLOSE_WAIT_MS: a close
 * stuck in NNG then leaves that socket and thread behind instead of hanging the caller. The
 * stuck close blocks nothing else (its pipe waits for a receive that never finishes; the reaper
 * and other sockets go on: measured with 60 stuck closes in one process).
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
/* How long ld_subscriber_close() waits for nng_close() (see there). */
#define CLOSE_WAIT_MS 2000

/* A subscription prefix: "<canonical topic>\n" and a NUL. */
typedef char sub_prefix[LD_TOPIC_BYTES_MAX + 2];

struct ld_subscriber {
    nng_socket sock;
    int32_t recv_timeout_ms; /* as last set on the socket; -2: never set */
    sub_prefix *prefixes;    /* the subscriptions, unsubscribed before the close */
    size_t nprefixes;
    size_t cap;
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

/* Closes a socket on a thread of its own (see ld_subscriber_close()). The last of the closing
 * thread and the caller to let go frees it. */
typedef struct closer {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    nng_socket sock;
    bool done;      /* nng_close() returned */
    bool abandoned; /* the caller stopped waiting: the thread frees */
} closer;

static void
closer_free(closer *k)
{
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

static void *
closer_main(void *arg)
{
    closer *k = arg;
    nng_close(k->sock);
    pthread_mutex_lock(&k->mu);
    k->done = true;
    bool abandoned = k->abandoned;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->mu);
    if (abandoned)
        closer_free(k);
    return NULL;
}

/* Waits until the closer is done or CLOSE_WAIT_MS passed. Returns true when done. */
static bool
closer_wait(closer *k)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += CLOSE_WAIT_MS / 1000;
    until.tv_nsec += (long)(CLOSE_WAIT_MS % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&k->mu);
    while (!k->done && pthread_cond_timedwait(&k->cond, &k->mu, &until) != ETIMEDOUT)
        ;
    bool done = k->done;
    k->abandoned = !done;
    pthread_mutex_unlock(&k->mu);
    return done;
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
    nng_socket sock = s->sock;
    free(s->prefixes);
    free(s);
    closer *k = calloc(1, sizeof *k);
    pthread_condattr_t attr;
    pthread_t thread;
    if (k == NULL) {
        nng_close(sock);
        return;
    }
    k->sock = sock;
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&thread, NULL, closer_main, k) != 0) {
        nng_close(sock);
        closer_free(k);
        return;
    }
    if (closer_wait(k)) {
        pthread_join(thread, NULL);
        closer_free(k);
    } else {
        pthread_detach(thread); /* stuck in NNG: it frees k if nng_close() ever returns */
    }
}
