/*
 * harness3.h -- what the social and catalog integration suites share: accounts, catalog products,
 * follows, bounded polling, event pulls, push subscribers and raw single-op requests.
 *
 * Same rules as harness.h: functions assert with criterion and so run on the test's main thread,
 * unless marked "Thread: any". Pages (ld_*_page) are large: the helpers that return one return it
 * on the heap, owned by the caller (free()).
 */
#ifndef LD_TESTS_HARNESS3_H
#define LD_TESTS_HARNESS3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"
#include "livedrop.pb-c.h"

/* ---- polling ------------------------------------------------------------------------------ */

/* Polls `cond` every LDH_POLL_MS until it holds; fails the test with `what` once `timeout_ms`
 * passed. Never a sleep-and-hope: the condition decides, the deadline only bounds the wait. */
#define LDH_POLL_MS 5
#define LDH_POLL_UNTIL(timeout_ms, cond, ...)                                                      \
    do {                                                                                           \
        int64_t ldh_deadline_ = ldh_mono_ms() + (timeout_ms);                                      \
        while (!(cond)) {                                                                          \
            if (ldh_mono_ms() >= ldh_deadline_)                                                    \
                cr_assert_fail(__VA_ARGS__);                                                       \
            ldh_sleep_ms(LDH_POLL_MS);                                                             \
        }                                                                                          \
    } while (0)

/* Waits until the wall clock is past t_ms, so that the next batch the node stamps is later than
 * anything stamped at t_ms (a bounded wait of about a millisecond). Thread: any. */
void ldh_wait_clock_past(int64_t t_ms);

/* ---- accounts and catalog ----------------------------------------------------------------- */

/* Creates a user with a random id and the given name (email "<hex>@example.com"); asserts LD_OK.
 * *out (may be NULL) receives the user. */
ld_id ldh_user_create(ld_client *c, const char *name, ld_user *out);
/* Creates a creator with a random id and the handle "<prefix><8 hex>" (unique per run); asserts
 * LD_OK. *out (may be NULL) receives the creator. */
ld_id ldh_creator_create(ld_client *c, const char *prefix, ld_creator *out);
/* Fills a catalog product spec: random id, `creator`, title, price in EUR, tags (NULL-terminated
 * list, may be NULL), one attribute "color" = "black". */
void ldh_catalog_spec(ld_catalog_product_spec *spec, const ld_id *creator, const char *title,
                      int64_t price_minor, const char *const *tags);
/* Creates it (asserts LD_OK); *out may be NULL. */
void ldh_product_create(ld_client *c, const ld_catalog_product_spec *spec, ld_catalog_product *out);
/* A drop spec of `creator`'s inline product starting at starts_at_ms and ending at ends_at_ms. */
void ldh_drop_spec_at(ld_drop_spec *spec, const ld_id *creator, int64_t starts_at_ms,
                      int64_t ends_at_ms, int64_t stock);

/* ---- follows ------------------------------------------------------------------------------ */

/* Follow / unfollow acting as `user`; assert LD_OK. *out may be NULL. */
/* Makes sure user `user` exists: creates it (name and email from its id) unless it does.
 * Returns LD_OK or the create's error. Thread: any (never asserts). */
ld_err ldh_user_ensure(ld_client *c, const ld_id *user);
/* Follows (the user is created first when missing, as a client signs up before following);
 * asserts LD_OK and following. */
void ldh_follow(ld_client *c, const ld_id *user, const ld_id *creator, ld_follow_state *out);
void ldh_unfollow(ld_client *c, const ld_id *user, const ld_id *creator, ld_follow_state *out);
/* One page of list_following (asserts LD_OK); true if `creator` is on it. Use with few
 * follows. */
bool ldh_following_has(ld_client *c, const ld_id *user, const ld_id *creator);
/* Polls list_following of `user` until `creator` is (following) or is not (!following) on its
 * first page of LD_PAGE_EDGES_MAX; fails after timeout_ms. The following side is derived from
 * follow events, so it may trail the follow by a batch or two. */
void ldh_wait_following(ld_client *c, const ld_id *user, const ld_id *creator, bool following,
                        int64_t timeout_ms);

/* ---- events ------------------------------------------------------------------------------- */

/* A growing array of events. */
typedef struct ldh_events {
    ld_event *v;
    size_t n;
    size_t cap;
} ldh_events;

void ldh_events_free(ldh_events *evs);
/* Writes "<kind>/<32 hex>" (kind: "creator", "drop" or "user") into out and returns out. */
const char *ldh_topic(char out[LD_TOPIC_BYTES_MAX + 1], const char *kind, const ld_id *id);
/* Pulls every event after `after` (a seq, or a topic_seq when topic is not NULL), `max` per
 * page, appending to *out until a page comes back empty. Asserts LD_OK and density: each seq (or
 * topic_seq) is the previous + 1, starting at after + 1; with a topic, each event carries it.
 * Returns the last page's last_seq. */
uint64_t ldh_events_pull_all(ld_client *c, const char *topic, uint64_t after, uint32_t max,
                             ldh_events *out);
/* Long-polls the stream (or topic) from *after until an event of `type` (for drop_id when not
 * NULL) arrives; advances *after past what it read; fails after timeout_ms. Returns the event. */
ld_event ldh_events_wait(ld_client *c, const char *topic, uint64_t *after, ld_event_type type,
                         const ld_id *drop_id, int64_t timeout_ms);
/* Index in evs of the first event of `type` for drop_id (NULL: any) at or after `from`; -1 if
 * none. Thread: any. */
long ldh_events_find(const ldh_events *evs, size_t from, ld_event_type type, const ld_id *drop_id);
/* Name of an event type ("DROP_LIVE"), for messages. Thread: any. */
const char *ldh_event_name(ld_event_type type);
/* True if a and b are the same event field by field (topic and topic_seq excluded). Thread: any.
 */
bool ldh_event_same(const ld_event *a, const ld_event *b);

/* ---- push --------------------------------------------------------------------------------- */

/* Opens a subscriber on the node's publish address and subscribes to `topic` (asserted). Then
 * makes sure the subscription is live: follows and unfollows `creator` as a throwaway user
 * (events on creator/<creator>) until the subscriber receives one of them -- a pub/sub
 * connection is set up in the background and would silently drop what was published before.
 * Only for topic == creator/<creator>. Drains what the probes published, and returns the
 * subscriber with *last_topic_seq_out = the topic's last topic_seq. */
ld_subscriber *ldh_subscriber_synced(const ldh_node *node, ld_client *c, const ld_id *creator,
                                     uint64_t *last_topic_seq_out);

/* ---- raw ops ------------------------------------------------------------------------------ */

/* The bytes of an id, borrowed, for a protobuf-c message. Thread: any. */
ProtobufCBinaryData ldh_pb_id(const ld_id *id);
/* Sends `ops` as one request through ld_client_raw and checks the reply: one result per op,
 * each failure with a message of 1..LD_MESSAGE_BYTES_MAX bytes. Fills codes_out[i] (and
 * msgs_out[i] when not NULL). Returns the envelope code (0: the ops ran). */
uint32_t ldh_raw_ops(ld_client *c, Ldpb__Op **ops, size_t n, uint32_t *codes_out,
                     char (*msgs_out)[LD_MESSAGE_BYTES_MAX + 1]);
/* One op: its result code (or the envelope's); msg_out (may be NULL) receives the message. */
ld_err ldh_raw_op(ld_client *c, Ldpb__Op *op, char msg_out[LD_MESSAGE_BYTES_MAX + 1]);

#endif /* LD_TESTS_HARNESS3_H */
