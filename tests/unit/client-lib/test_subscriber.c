/*
 * test_subscriber.c -- ld_subscriber (client-lib/lib/subscriber.c) against a test-owned NNG pub0
 * socket that publishes what the node publishes: "<topic>\n" + a packed Ldpb__Event.
 *
 * The sub0 connection comes up in the background, so a test first publishes a marker until the
 * subscriber receives it (a bounded loop, no fixed sleep); from then on pub -> sub delivery on
 * loopback is in order.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <stdio.h>
#include <string.h>

#include "livedrop.h"
#include "livedrop.pb-c.h"

#define TOPIC_A "creator/c1000000000000000000000000000007"
#define TOPIC_B "drop/c10000000000000000000000000007d0"

static nng_socket pub;
static char url[64];
static ld_subscriber *sub;

static void
setup(void)
{
    cr_assert_eq(nng_pub0_open(&pub), 0);
    nng_listener l;
    cr_assert_eq(nng_listen(pub, "tcp://127.0.0.1:0", &l, 0), 0);
    nng_sockaddr sa;
    cr_assert_eq(nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa), 0);
    snprintf(url, sizeof url, "tcp://127.0.0.1:%u", ntohs(sa.s_in.sa_port));
    cr_assert_eq(ld_subscriber_open(url, &sub), LD_OK);
}

static void
teardown(void)
{
    ld_subscriber_close(sub);
    nng_close(pub);
}

TestSuite(subscriber, .init = setup, .fini = teardown, .timeout = 30);

/* Publishes one event on `topic` (raw bytes after the newline when `raw` is set). */
static void
publish(const char *topic, uint64_t topic_seq, const char *raw)
{
    Ldpb__Event ev = LDPB__EVENT__INIT;
    uint8_t creator[16] = {0xC1};
    ev.seq = 1000 + topic_seq;
    ev.type = LDPB__EVENT_TYPE__EVENT_DROP_LIVE;
    ev.creator_id = (ProtobufCBinaryData){.len = 16, .data = creator};
    ev.title = "Sneaker X";
    ev.topic = (char *)topic;
    ev.topic_seq = topic_seq;
    size_t tlen = strlen(topic);
    size_t blen = raw != NULL ? strlen(raw) : ldpb__event__get_packed_size(&ev);
    nng_msg *msg;
    cr_assert_eq(nng_msg_alloc(&msg, tlen + 1 + blen), 0);
    uint8_t *b = nng_msg_body(msg);
    memcpy(b, topic, tlen);
    b[tlen] = '\n';
    if (raw != NULL)
        memcpy(b + tlen + 1, raw, blen);
    else
        ldpb__event__pack(&ev, b + tlen + 1);
    cr_assert_eq(nng_sendmsg(pub, msg, 0), 0);
}

/* Publishes a marker on `topic` until the subscriber gets one (the connection is up). */
static void
await_connected(const char *topic)
{
    for (int i = 0; i < 500; i++) {
        publish(topic, 1, NULL);
        ld_event e;
        if (ld_subscriber_recv(sub, 20, &e) == LD_OK) {
            /* Drain the markers still queued. */
            while (ld_subscriber_recv(sub, 50, &e) == LD_OK)
                ;
            return;
        }
    }
    cr_assert_fail("the subscriber never connected");
}

Test(subscriber, receives_only_subscribed_topics_with_their_sequence)
{
    /* Subscribed to TOPIC_A only: an event on TOPIC_B published before one on TOPIC_A never
     * arrives; the TOPIC_A event arrives whole, topic and topic_seq included. */
    cr_assert_eq(ld_subscribe(sub, TOPIC_A), LD_OK);
    await_connected(TOPIC_A);
    publish(TOPIC_B, 5, NULL);
    publish(TOPIC_A, 42, NULL);
    ld_event e;
    cr_assert_eq(ld_subscriber_recv(sub, 5000, &e), LD_OK);
    cr_assert_str_eq(e.topic, TOPIC_A);
    cr_assert_eq(e.topic_seq, 42);
    cr_assert_eq(e.seq, 1042);
    cr_assert_eq(e.type, LD_EVENT_DROP_LIVE);
    cr_assert_str_eq(e.title, "Sneaker X");
    cr_assert_eq(e.creator_id.bytes[0], 0xC1);
    cr_assert_eq(ld_subscriber_recv(sub, 0, &e), LD_ERR_TIMEOUT, "nothing else queued");
}

Test(subscriber, topics_are_validated_and_canonical)
{
    /* Malformed topics are LD_ERR_INVALID_TOPIC; upper-case hex subscribes to the lower-case
     * topic the node publishes; unsubscribing stops delivery (and an unknown topic is OK). */
    cr_assert_eq(ld_subscribe(sub, "creator/123"), LD_ERR_INVALID_TOPIC);
    cr_assert_eq(ld_subscribe(sub, "shop/c1000000000000000000000000000007"), LD_ERR_INVALID_TOPIC);
    cr_assert_eq(ld_subscribe(sub, TOPIC_A "0"), LD_ERR_INVALID_TOPIC);
    cr_assert_eq(ld_subscribe(sub, NULL), LD_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ld_subscribe(NULL, TOPIC_A), LD_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ld_unsubscribe(sub, TOPIC_B), LD_OK);

    cr_assert_eq(ld_subscribe(sub, "creator/C1000000000000000000000000000007"), LD_OK);
    cr_assert_eq(ld_subscribe(sub, TOPIC_B), LD_OK);
    await_connected(TOPIC_A);
    cr_assert_eq(ld_unsubscribe(sub, TOPIC_A), LD_OK);
    publish(TOPIC_A, 7, NULL);
    publish(TOPIC_B, 8, NULL);
    ld_event e;
    cr_assert_eq(ld_subscriber_recv(sub, 5000, &e), LD_OK);
    cr_assert_str_eq(e.topic, TOPIC_B, "the unsubscribed topic was not delivered");
    cr_assert_eq(e.topic_seq, 8);
}

Test(subscriber, malformed_message_is_a_protocol_error_and_recv_goes_on)
{
    /* A message whose body is not an Event answers LD_ERR_PROTOCOL with *out zeroed; the next
     * good message is received normally. A recv with nothing published times out. */
    cr_assert_eq(ld_subscribe(sub, TOPIC_A), LD_OK);
    await_connected(TOPIC_A);
    ld_event e;
    cr_assert_eq(ld_subscriber_recv(sub, 30, &e), LD_ERR_TIMEOUT);
    publish(TOPIC_A, 0, "\xff\xff\xff\xff");
    publish(TOPIC_A, 9, NULL);
    cr_assert_eq(ld_subscriber_recv(sub, 5000, &e), LD_ERR_PROTOCOL);
    cr_assert_eq(e.topic_seq, 0);
    cr_assert_str_eq(e.topic, "");
    cr_assert_eq(ld_subscriber_recv(sub, 5000, &e), LD_OK);
    cr_assert_eq(e.topic_seq, 9);
}

Test(subscriber, open_refuses_bad_addresses)
{
    /* A malformed URL or a NULL argument is LD_ERR_INVALID_ARGUMENT and *out stays NULL. */
    ld_subscriber *s = (ld_subscriber *)1;
    cr_assert_eq(ld_subscriber_open("not a url", &s), LD_ERR_INVALID_ARGUMENT);
    cr_assert_null(s);
    cr_assert_eq(ld_subscriber_open(NULL, &s), LD_ERR_INVALID_ARGUMENT);
    cr_assert_eq(ld_subscriber_open(url, NULL), LD_ERR_INVALID_ARGUMENT);
    ld_subscriber_close(NULL);
}
