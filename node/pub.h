/*
 * pub.h -- event push (docs/ARCHITECTURE.md §10): an NNG pub0 socket that broadcasts every event of
 * every synced batch, once per topic the event is on.
 *
 * One message per (event, topic):
 *
 *   +--------------------------------------+------+-------------------------------------------+
 *   | topic: "creator/<32 lower-case hex>" | '\n' | packed Ldpb__Event, `topic` and           |
 *   |        "drop/<hex>" or "user/<hex>"  |      | `topic_seq` set (ld_codec_event_to_pb)    |
 *   +--------------------------------------+------+-------------------------------------------+
 *
 * A subscriber (sub0) subscribes to "<topic>\n" for one topic, or to a shorter prefix such as
 * "creator/" for a whole kind. Delivery is best effort: NNG's pub0 drops messages for a
 * subscriber whose queue (PUB_SENDBUF_MSGS) is full, and nothing is replayed across reconnects.
 * topic_seq is dense per topic, so a subscriber that sees a jump pulls the gap (PULL_EVENTS with
 * that topic, after the last topic_seq it has).
 *
 * Publishing never blocks the loop: every send is NNG_FLAG_NONBLOCK (pub0 queues a reference to
 * the message on each subscriber's pipe and returns). The socket never receives: its
 * NNG_OPT_RECVMAXSZ is set small anyway (docs/ARCHITECTURE.md §13), and at most PUB_SUBSCRIBERS_MAX
 * connections are accepted (further ones are closed on arrival) so that the per-subscriber
 * queues stay bounded (P5).
 *
 * Thread: the loop thread opens, publishes and closes; NNG threads only run the pipe callback.
 */
#ifndef LDI_PUB_H
#define LDI_PUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "op.h"

typedef struct ldi_pub ldi_pub;

/* Opens the pub0 socket and listens on `url`. Writes the URL actually bound into bound_url (for
 * "tcp://host:0", the port NNG picked). Returns owned, close with ldi_pub_close();
 * LD_ERR_CONNECTION (logged) if the URL is invalid or cannot be bound; LD_ERR_NOMEM. */
ld_err ldi_pub_open(const char *url, char *bound_url, size_t bound_url_len, ldi_pub **out)
    __attribute__((warn_unused_result));

/* Publishes `ev` (borrowed) once on every topic it is on (topic_seq[k] > 0), in the order
 * creator, drop, user. Never blocks. Adds to *published_out the messages handed to NNG and to
 * *dropped_out those it refused (or that found no memory). */
void ldi_pub_event(ldi_pub *pub, const ld_event_view *ev, uint64_t *published_out,
                   uint64_t *dropped_out);

/* Subscribers connected now. Thread: any. */
uint32_t ldi_pub_subscribers(ldi_pub *pub);

/* Closes the socket (queued messages are dropped) and frees it. Accepts NULL. */
void ldi_pub_close(ldi_pub *pub);

#endif /* LDI_PUB_H */
