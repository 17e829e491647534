/*
 * test_pub.c -- event push (node/pub.c): one message per (event, topic), "<topic>\n" + packed
 * Event with topic and topic_seq, received through a real sub0 socket over loopback TCP.
 */
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "livedrop.pb-c.h"
#include "log.h"
#include "pub.h"

#define RECV_TRY_MS 100
#define WAIT_MS 5000

static ldi_pub *pub;
static nng_socket sub;
static char url[300];

static int64_t
mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void
setup(void)
{
    ldi_log_init(LDI_LOG_ERROR, 1);
    cr_assert_eq(ldi_pub_open("tcp://127.0.0.1:0", url, sizeof url, &pub), LD_OK);
    cr_assert_neq(strcmp(url, "tcp://127.0.0.1:0"), 0, "the bound port is reported: %s", url);
    cr_assert_eq(nng_sub0_open(&sub), 0);
    cr_assert_eq(nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, RECV_TRY_MS), 0);
    cr_assert_eq(nng_dial(sub, url, NULL, 0), 0);
    int64_t deadline = mono_ms() + WAIT_MS;
    while (ldi_pub_subscribers(pub) == 0 && mono_ms() < deadline)
        nng_msleep(1); /* polls a condition, with a deadline */
    cr_assert_eq(ldi_pub_subscribers(pub), 1);
}

static void
teardown(void)
{
    nng_close(sub);
    ldi_pub_close(pub);
}

TestSuite(pub, .init = setup, .fini = teardown);

static ld_event_view
drop_event(void)
{
    ld_event_view ev;
    memset(&ev, 0, sizeof ev);
    ev.seq = 7;
    ev.ts_ms = 1700000000000;
    ev.type = LD_EVENT_DROP_LIVE;
    ev.creator_id.bytes[0] = 0xab;
    ev.drop_id.bytes[15] = 0x01;
    ev.stock.available = 10;
    snprintf(ev.title, sizeof ev.title, "%s", "sneakers");
    ev.topic_seq[LD_TOPIC_CREATOR] = 3;
    ev.topic_seq[LD_TOPIC_DROP] = 5;
    return ev;
}

/* Publishes `ev` until a message whose topic starts with `want` arrives (the pipe counted at
 * connection may not carry messages for a moment yet; messages of an earlier subscription may
 * still be queued), then returns it unpacked; topic_out gets its topic line. */
static Ldpb__Event *
publish_and_receive(const ld_event_view *ev, const char *want, char *topic_out, size_t topic_len)
{
    int64_t deadline = mono_ms() + WAIT_MS;
    uint64_t published = 0;
    uint64_t dropped = 0;
    for (;;) {
        ldi_pub_event(pub, ev, &published, &dropped);
        cr_assert_eq(dropped, 0);
        nng_msg *msg = NULL;
        int rv = nng_recvmsg(sub, &msg, 0);
        if (rv == NNG_ETIMEDOUT && mono_ms() < deadline)
            continue;
        cr_assert_eq(rv, 0, "no message: %s", nng_strerror(rv));
        const char *body = nng_msg_body(msg);
        size_t len = nng_msg_len(msg);
        const char *nl = memchr(body, '\n', len);
        cr_assert_not_null(nl);
        cr_assert_lt((size_t)(nl - body), topic_len);
        memcpy(topic_out, body, (size_t)(nl - body));
        topic_out[nl - body] = '\0';
        Ldpb__Event *pb =
            ldpb__event__unpack(NULL, len - (size_t)(nl + 1 - body), (const uint8_t *)nl + 1);
        nng_msg_free(msg);
        cr_assert_not_null(pb);
        if (strncmp(topic_out, want, strlen(want)) == 0)
            return pb;
        ldpb__event__free_unpacked(pb, NULL);
    }
}

Test(pub, one_message_per_topic_with_its_topic_seq)
{
    /* Goal: an event on the creator and drop topics is published twice, each message carrying
     * its own topic and topic_seq, and not on the user topic. Method: subscribe to the drop
     * topic only, then to the creator topic only, publish, decode. */
    ld_event_view ev = drop_event();
    const char *drop_topic = "drop/00000000000000000000000000000001\n";
    cr_assert_eq(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, drop_topic, strlen(drop_topic)), 0);
    char topic[64];
    Ldpb__Event *pb = publish_and_receive(&ev, "drop/", topic, sizeof topic);
    cr_assert_str_eq(topic, "drop/00000000000000000000000000000001");
    cr_assert_str_eq(pb->topic, topic);
    cr_assert_eq(pb->topic_seq, 5);
    cr_assert_eq(pb->seq, 7);
    cr_assert_eq(pb->type, LDPB__EVENT_TYPE__EVENT_DROP_LIVE);
    cr_assert_str_eq(pb->title, "sneakers");
    cr_assert_not_null(pb->stock);
    cr_assert_eq(pb->stock->available, 10);
    ldpb__event__free_unpacked(pb, NULL);

    cr_assert_eq(nng_socket_set(sub, NNG_OPT_SUB_UNSUBSCRIBE, drop_topic, strlen(drop_topic)), 0);
    const char *creator_prefix = "creator/";
    cr_assert_eq(nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, creator_prefix, strlen(creator_prefix)),
                 0);
    pb = publish_and_receive(&ev, "creator/", topic, sizeof topic);
    cr_assert_str_eq(topic, "creator/ab000000000000000000000000000000");
    cr_assert_eq(pb->topic_seq, 3);
    cr_assert_eq(pb->creator_id.len, 16);
    cr_assert_eq(pb->creator_id.data[0], 0xab);
    ldpb__event__free_unpacked(pb, NULL);
}

Test(pub, counts_each_topic_once)
{
    /* Goal: the published count is one per topic the event is on (topic_seq > 0) and an event
     * on no topic publishes nothing. Method: publish with 2, 3 and 0 topics, read the count. */
    ld_event_view ev = drop_event();
    uint64_t published = 0;
    uint64_t dropped = 0;
    ldi_pub_event(pub, &ev, &published, &dropped);
    cr_assert_eq(published, 2);
    ev.user_id.bytes[3] = 9;
    ev.topic_seq[LD_TOPIC_USER] = 1;
    ldi_pub_event(pub, &ev, &published, &dropped);
    cr_assert_eq(published, 5);
    memset(ev.topic_seq, 0, sizeof ev.topic_seq);
    ldi_pub_event(pub, &ev, &published, &dropped);
    cr_assert_eq(published, 5);
    cr_assert_eq(dropped, 0);
}
