/*
 * livedrop.h -- the public C API of liblivedrop, the client of a livedrop cluster.
 *
 * This header, with ld_limits.h and ld_errors.def installed beside it, is the whole supported
 * interface: use of definitions not found here is unsupported. Link with `pkg-config livedrop`.
 *
 * Model. An ld_client is a connection to one livedrop node, or to the replicas of a cluster
 * (ld_client_open takes a comma-separated address list: see "Clusters" below). Every call is
 * synchronous: it returns once a node answered or the client's timeout passed. Calls from many
 * threads on one client are coalesced: ops waiting in the client are packed into one request
 * message (up to LD_REQUEST_OPS_MAX ops), with up to `inflight_max` messages in flight, so a busy
 * client sends few large messages rather than many small ones. Page reads (lists, pulls) go at most
 * LD_REQUEST_LIST_OPS_MAX to a message; place_order and long-poll pulls travel in messages of
 * their own (their replies may take seconds) and never take the last free message slot.
 *
 * Results. Each call returns an ld_err: LD_OK (or LD_EXISTS for an identical create) on success,
 * a business refusal (LD_ERR_SOLD_OUT, ...), an invalid request (LD_ERR_QTY_OUT_OF_RANGE, ...),
 * or a transport error (LD_ERR_TIMEOUT, ...). See ld_errors.def and PROTOCOL.md. Results are
 * written into caller-owned structs; the library keeps no pointer to them after the call.
 * Every call takes an optional `ld_errmsg *` that receives the node's detail message. On a
 * failure *out is zeroed unless the node sent a body with the refusal (see ld_place_order).
 *
 * Checks. Arguments are checked against ld_limits.h before anything is sent, with the code and
 * message the node would answer (NULL pointers: LD_ERR_INVALID_ARGUMENT). ld_client_raw() is
 * the way to send what the checks would refuse.
 *
 * Timeouts. Each call has its own deadline, `timeout_ms` after it starts. A call that gets no
 * answer in time returns LD_ERR_TIMEOUT -- or LD_ERR_CONNECTION if the client never managed to
 * connect to the node. A connection that drops is redialled in the background, and requests
 * waiting on it are sent again on the new one within their deadline (safe: every write is
 * idempotent on the node).
 *
 * Retries. A call that timed out has an unknown outcome: call it again with the same idempotency
 * key (reserve, place_order) or the same id (creates) and you get the first outcome, never a
 * second effect.
 *
 * Clusters. Given several addresses (the client_url of each `replica` line of the cluster-conf,
 * in any order), the client sends to the node it believes is the primary, starting with the
 * first address. A node that is not the primary refuses the whole message with
 * LD_ERR_NOT_PRIMARY and names the primary; the client then resends the SAME message (same ops,
 * ids and idempotency keys, so a retry never applies twice) to the named node, or, while a view
 * change leaves the name empty, to the next address after LD_CLIENT_NOT_PRIMARY_BACKOFF_MS. A
 * message without an answer for LD_CLIENT_FAILOVER_TIMEOUT_MS (payments:
 * LD_CLIENT_FAILOVER_SLOW_TIMEOUT_MS; long polls: never) is resent to the next address. When a
 * node's connection drops (it died), the messages it had move to the next address at once, and
 * "next" skips addresses without a connection; a NOT_PRIMARY naming such a node counts as no
 * name. ld_client_open waits for every address to connect (LD_CLIENT_OPEN_CONNECT_GRACE_MS after
 * the first, LD_CLIENT_OPEN_CONNECT_WAIT_MS at most, less when every address refuses at once),
 * so that the first call avoids a dead one. A call that finds no address connected and every
 * one refusing connections fails at once with LD_ERR_CONNECTION, unsent (after riding out
 * LD_CLIENT_RECONNECT_WAIT_MS of a connection that just dropped: a restarting node). All of
 * this happens inside one call and within its deadline: the caller sees the final answer, or
 * LD_ERR_TIMEOUT. A named primary that is not among the client's addresses ends the call with
 * LD_ERR_NOT_PRIMARY (the message names it). Reads are linearizable (answered by the primary
 * under its lease) unless the client was opened with `follower_read`.
 *
 * Threads. An ld_client is thread-safe: any number of threads may call it at once. Open and
 * close are not concurrent with other calls on the same handle.
 */
#ifndef LIVEDROP_H
#define LIVEDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ld_limits.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LD_ERR_DEFINED
#define LD_ERR_DEFINED
typedef enum ld_err {
#define LD_ERR(name, value, text) LD_##name = value,
#include "ld_errors.def"
#undef LD_ERR
} ld_err;
/* Static description of err. Thread: any. */
const char *ld_strerror(ld_err err);
/* Name without the LD_ prefix, e.g. "ERR_SOLD_OUT". Thread: any. */
const char *ld_err_name(ld_err err);
#endif

/* The ranges of ld_errors.def: success, transport (outcome may be unknown), invalid request,
 * business refusal. Same definitions as in proto/ld_base.h. */
#define LD_ERR_IS_SUCCESS(e) ((int)(e) < 100)
#define LD_ERR_IS_TRANSPORT(e) ((int)(e) >= 100 && (int)(e) < 200)
#define LD_ERR_IS_INVALID(e) ((int)(e) >= 200 && (int)(e) < 300)
#define LD_ERR_IS_BUSINESS(e) ((int)(e) >= 300 && (int)(e) < 400)

#ifndef LD_ID_DEFINED
#define LD_ID_DEFINED
/* A 128-bit id. All-zero is never valid. */
typedef struct ld_id {
    uint8_t bytes[16];
} ld_id;
#endif

#define LD_WARN_UNUSED __attribute__((warn_unused_result))

/* The node's detail for a result, NUL-terminated; empty when the node sent none. */
typedef struct ld_errmsg {
    char text[LD_MESSAGE_BYTES_MAX + 1];
} ld_errmsg;

/* Fills *out with 16 random bytes from the OS (getrandom). Thread: any. */
LD_WARN_UNUSED ld_err ld_id_random(ld_id *out);
/* Writes 32 lower-case hex digits and a NUL. Thread: any. */
void ld_id_format(const ld_id *id, char out[33]);
/* Parses exactly 32 hex digits. LD_ERR_INVALID_ID otherwise. Thread: any. */
LD_WARN_UNUSED ld_err ld_id_parse(const char *hex, ld_id *out);

/* ---- entities (caller-owned, fixed size, strings NUL-terminated) ---------------------------- */

typedef enum ld_drop_status {
    LD_DROP_UPCOMING = 1,
    LD_DROP_LIVE = 2,
    LD_DROP_ENDED = 3,
    LD_DROP_CANCELLED = 4,
} ld_drop_status;

typedef enum ld_reservation_state {
    LD_RES_ACTIVE = 1,
    LD_RES_COMMITTED = 2,
    LD_RES_RELEASED = 3,
    LD_RES_EXPIRED = 4,
} ld_reservation_state;

typedef enum ld_order_status {
    LD_ORDER_PAID = 1,
    LD_ORDER_FAILED = 2,
} ld_order_status;

typedef struct ld_product_spec {
    ld_id creator_id;
    char title[LD_TITLE_BYTES_MAX + 1];
    int64_t price_minor; /* minor units of currency (cents) */
    char currency[LD_CURRENCY_BYTES + 1];
    uint32_t tags_count;
    char tags[LD_TAGS_MAX][LD_TAG_BYTES_MAX + 1];
} ld_product_spec;

typedef struct ld_drop_spec {
    ld_id id; /* client-generated (ld_id_random) */
    /* Zero: `product` is inline. Else the drop is scheduled from this catalog product and
     * snapshots it: set only product.creator_id (the acting creator). */
    ld_id product_id;
    ld_product_spec product;
    int64_t starts_at_ms; /* Unix time, milliseconds */
    int64_t ends_at_ms;
    int64_t initial_stock;
    int64_t low_stock_threshold;
    int64_t max_per_user;       /* 0: unlimited */
    int64_t reservation_ttl_ms; /* 0: LD_RESERVATION_TTL_MS_DEFAULT */
} ld_drop_spec;

typedef struct ld_stock {
    int64_t available;
    int64_t reserved;
    int64_t sold;
} ld_stock;

typedef struct ld_drop {
    ld_drop_spec spec;
    ld_drop_status status;
    ld_stock stock;
    int64_t created_at_ms;
} ld_drop;

typedef struct ld_reservation {
    ld_id id;
    ld_id drop_id;
    ld_id user_id;
    int64_t qty;
    int64_t expires_at_ms;
    ld_reservation_state state;
    ld_id order_id; /* zero until committed */
    int64_t created_at_ms;
} ld_reservation;

typedef struct ld_order {
    ld_id id;
    ld_id drop_id;
    ld_id user_id;
    ld_id reservation_id;
    int64_t qty;
    int64_t total_minor;
    char currency[LD_CURRENCY_BYTES + 1];
    ld_order_status status;
    char payment_ref[LD_PAYMENT_REF_BYTES_MAX + 1];
    int64_t created_at_ms;
} ld_order;

/* ---- the client ---------------------------------------------------------------------------- */

typedef struct ld_client ld_client;

typedef struct ld_client_opts {
    uint32_t timeout_ms;   /* per call; 0: LD_CLIENT_TIMEOUT_MS_DEFAULT */
    uint32_t inflight_max; /* request messages in flight; 0: LD_CLIENT_INFLIGHT_DEFAULT,
                              at most LD_CLIENT_INFLIGHT_MAX */
    /* Reads (gets, lists, pulls) are follower reads: Request.follower_read is set on messages
     * that carry only reads, and whichever replica the client is talking to answers from its
     * applied state, without a lease -- possibly stale, monotonic per replica. The op number
     * and view the answer reflects: ld_client_last_call(). Writes on such a client travel in
     * messages of their own, without the flag, to the primary. To read from one particular
     * replica, open a follower-read client with that one address. */
    bool follower_read;
} ld_client_opts;

/* The address list the `livedrop` CLI, livedrop-bench and livedrop-fanout use when neither
 * --addr nor $LIVEDROP_ADDR is given: the local 3-node cluster of cluster-conf/local-3.conf (the
 * README's first command). A single node started with its defaults listens on the first of them
 * (cluster-conf/single.conf), so it is reached too: the dead addresses refuse and are skipped.
 * Events: LD_PUBLISH_ADDR_DEFAULT ($LIVEDROP_PUBLISH_ADDR), node 1's publish socket. */
#define LD_ADDR_DEFAULT "tcp://127.0.0.1:7400,tcp://127.0.0.1:7410,tcp://127.0.0.1:7420"
#define LD_PUBLISH_ADDR_DEFAULT "tcp://127.0.0.1:7401"

/* Opens a client for the node at `addr` (an NNG URL, e.g. "tcp://127.0.0.1:7400"), or for a
 * cluster: a comma-separated list of up to LD_CLIENT_ADDRS_MAX node addresses
 * ("tcp://127.0.0.1:7400,tcp://127.0.0.1:7410,tcp://127.0.0.1:7420"; see "Clusters" above).
 * Connects in the background: the call succeeds even if no node is up yet, and calls made
 * before one is wait (up to their timeout) -- except that while every address refuses
 * connections outright, calls fail at once with LD_ERR_CONNECTION (see "Clusters"). `opts` may be
 * NULL. Returns owned, free with ld_client_close(). LD_ERR_INVALID_ARGUMENT for a bad address (an
 * empty element, a URL NNG does not accept, more than LD_CLIENT_ADDRS_MAX, one longer than
 * LD_CLIENT_ADDR_BYTES_MAX, the same one twice) or option (inflight_max > LD_CLIENT_INFLIGHT_MAX).
 * Thread: any. */
LD_WARN_UNUSED ld_err ld_client_open(const char *addr, const ld_client_opts *opts, ld_client **out);

/* Bytes an address list can take: LD_CLIENT_ADDRS_MAX URLs and their commas, and a NUL. */
#define LD_CLIENT_ADDR_LIST_BYTES (LD_CLIENT_ADDRS_MAX * (LD_CLIENT_ADDR_BYTES_MAX + 1))

/* Reads the client addresses of a cluster-conf file (cluster-conf/README.md) into out[out_size]
 * as a list for ld_client_open: the client_url of every `replica` line, in order; with no
 * replica line, the `listen` URL of the single node (its default when absent). Other keys are
 * ignored. LD_ERR_INVALID_ARGUMENT (reason in msg) for an unreadable file, a malformed replica
 * line, more than LD_CLIENT_ADDRS_MAX replicas, a line over LD_CLIENT_CONF_LINE_BYTES_MAX, or a
 * list longer than out_size (LD_CLIENT_ADDR_LIST_BYTES always suffices). Thread: any. */
LD_WARN_UNUSED ld_err ld_conf_client_addrs(const char *path, char *out, size_t out_size,
                                           ld_errmsg *msg);

/* The number of addresses the client was opened with, and the i-th of them (borrowed, valid
 * until ld_client_close; NULL when i is out of range). Thread: any. */
uint32_t ld_client_addrs_count(const ld_client *client);
const char *ld_client_addr(const ld_client *client, uint32_t i);

/* Where the answer of a call came from. */
typedef struct ld_call_info {
    uint32_t addr_index; /* the address (ld_client_addr) of the node that answered */
    uint64_t view;       /* that node's view when it answered (0 on a single node) */
    uint64_t applied_op; /* the op number of the state it answered from (its commit_min) */
    bool follower_read;  /* the answer was a follower read (possibly stale) */
} ld_call_info;

/* Like errno, per thread: the ld_call_info of this thread's latest call on `client`. Returns
 * false (and zeroes *out) when that call got no answer from a node (a timeout, a refusal by the
 * library's checks before sending leaves the previous call's info) or this thread made none.
 * Thread: the one that made the call. */
bool ld_client_last_call(const ld_client *client, ld_call_info *out);

/* Fails every call still waiting with LD_ERR_CLOSED, waits for them to return, and frees the
 * client. No call may start on `client` after this begins. Closing the connections takes at
 * most about 2 s: with NNG 1.5.2 a close racing an arriving message can hang inside NNG (nng
 * #616), and so can every close after it in the process; the sockets are then left to a
 * background thread rather than hanging the caller. NULL is a no-op. Thread: any thread that is
 * not inside a call on `client`. */
void ld_client_close(ld_client *client);

/* Creates a drop. LD_OK: created; LD_EXISTS: a drop with this id and identical fields exists
 * (the retry of a create). *out (may be NULL) receives the drop. Thread: any. */
LD_WARN_UNUSED ld_err ld_drop_create(ld_client *client, const ld_drop_spec *spec, ld_drop *out,
                                     ld_errmsg *msg);

/* Reads a drop, with its status and stock as of now on the node. Thread: any. */
LD_WARN_UNUSED ld_err ld_drop_get(ld_client *client, const ld_id *drop_id, ld_drop *out,
                                  ld_errmsg *msg);

/* Reserves qty units of a live drop for user, holding them for the drop's reservation TTL.
 * `idempotency_key` (1..LD_IDEMPOTENCY_KEY_BYTES_MAX bytes) is scoped to (user, drop): a retry
 * with the same key and body returns the first result. While a call with the same key is still
 * running on the node (LD_ERR_IN_PROGRESS), waits and asks again as ld_place_order() does.
 * Thread: any. */
LD_WARN_UNUSED ld_err ld_reserve(ld_client *client, const ld_id *drop_id, const ld_id *user_id,
                                 int64_t qty, const char *idempotency_key, ld_reservation *out,
                                 ld_errmsg *msg);

/* Turns an active reservation into a PAID order, recording the caller's own payment reference.
 * Committing it again with the same payment_ref returns the same order; with another one,
 * LD_ERR_IDEMPOTENCY_KEY_REUSED (the reservation id is the commit's key). Acts as user_id, the
 * reservation's holder (anyone else: LD_ERR_FORBIDDEN). Thread: any. */
LD_WARN_UNUSED ld_err ld_commit(ld_client *client, const ld_id *user_id,
                                const ld_id *reservation_id, const char *payment_ref, ld_order *out,
                                ld_errmsg *msg);

/* Makes sure a reservation holds no stock: an active one gives its stock back (RELEASED). LD_OK
 * also when it was released or expired already, or expires now, with its final state in *out;
 * a committed one is LD_ERR_RESERVATION_CLOSED. Acts as user_id, the reservation's holder.
 * Thread: any. */
LD_WARN_UNUSED ld_err ld_release(ld_client *client, const ld_id *user_id,
                                 const ld_id *reservation_id, ld_reservation *out, ld_errmsg *msg);

/* Reserve -> payment by the node's payment provider -> commit (or release on decline), in one
 * call. `payment_method`: one the node's provider takes -- the built-in test provider's are
 * "pm_card_ok", "pm_card_declined" and "pm_card_slow"; any other is LD_ERR_INVALID_ARGUMENT
 * (nothing reserved, the key not remembered). While an earlier
 * call with the same key is still paying, the node answers LD_ERR_IN_PROGRESS; this function
 * waits and asks again (every LD_CLIENT_IN_PROGRESS_WAIT_MS, within its timeout), so every caller
 * of one key sees the same final order (LD_ERR_TIMEOUT if it is still paying at the deadline).
 * LD_ERR_PAYMENT_DECLINED and LD_ERR_RESERVATION_EXPIRED fill *out with the FAILED order when
 * the node sent one. Place-order requests travel in messages of their own and never take the
 * client's last free message slot, so a slow payment does not hold up other calls.
 * Thread: any. */
LD_WARN_UNUSED ld_err ld_place_order(ld_client *client, const ld_id *drop_id, const ld_id *user_id,
                                     int64_t qty, const char *idempotency_key,
                                     const char *payment_method, ld_order *out, ld_errmsg *msg);

/* Reads an order / a reservation. Thread: any. */
LD_WARN_UNUSED ld_err ld_order_get(ld_client *client, const ld_id *order_id, ld_order *out,
                                   ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_reservation_get(ld_client *client, const ld_id *reservation_id,
                                         ld_reservation *out, ld_errmsg *msg);

/* ---- users, creators, follows, catalog, browse, events, notifications ---------------------- */

/* Who acts. Every write names the acting user or creator, and the node checks it (the op's
 * principal): a user's own follows, reservations and orders; a creator's own products and
 * drops. A mismatch is LD_ERR_FORBIDDEN. */

typedef struct ld_attr {
    char key[LD_ATTR_KEY_BYTES_MAX + 1];
    char value[LD_ATTR_VALUE_BYTES_MAX + 1];
} ld_attr;

typedef struct ld_user_spec {
    ld_id id; /* acts as this user */
    char name[LD_NAME_BYTES_MAX + 1];
    char email[LD_EMAIL_BYTES_MAX + 1];
} ld_user_spec;

typedef struct ld_user {
    ld_user_spec spec;
    int64_t created_at_ms;
    int64_t following_count; /* derived from follow events: may trail a follow by a moment */
} ld_user;

typedef struct ld_creator_spec {
    ld_id id; /* acts as this creator */
    char handle[LD_HANDLE_BYTES_MAX + 1];
    char name[LD_NAME_BYTES_MAX + 1];
    uint32_t profile_count;
    ld_attr profile[LD_ATTRS_MAX];
} ld_creator_spec;

typedef struct ld_creator {
    ld_creator_spec spec;
    int64_t created_at_ms;
    int64_t follower_count;
} ld_creator;

typedef struct ld_catalog_product_spec {
    ld_id id;
    ld_id creator_id; /* acts as this creator */
    char title[LD_TITLE_BYTES_MAX + 1];
    int64_t price_minor;
    char currency[LD_CURRENCY_BYTES + 1];
    uint32_t tags_count;
    char tags[LD_TAGS_MAX][LD_TAG_BYTES_MAX + 1];
    uint32_t attrs_count;
    ld_attr attrs[LD_ATTRS_MAX];
} ld_catalog_product_spec;

typedef struct ld_catalog_product {
    ld_catalog_product_spec spec;
    int64_t created_at_ms;
    int64_t updated_at_ms;
} ld_catalog_product;

typedef struct ld_follow_state {
    bool following;
    int64_t since_ms;
    int64_t follower_count;
} ld_follow_state;

typedef struct ld_page_info {
    bool has_next_page;
    char end_cursor[LD_CURSOR_BYTES_MAX + 1]; /* pass as `after` for the next page */
} ld_page_info;

typedef struct ld_follow_edge {
    ld_id user_id;
    ld_id creator_id;
    int64_t created_at_ms;
    char user_name[LD_NAME_BYTES_MAX + 1];
    char creator_handle[LD_HANDLE_BYTES_MAX + 1];
} ld_follow_edge;

/* Pages are large (up to ~0.5 MiB): allocate them on the heap and reuse them. A page call
 * writes the header (count, page_info / next_after, last_seq) and the first `count` entries
 * only, in place; entries past `count` are left as they were. On a failure count is 0 and the
 * page_info (or next_after and last_seq) zero. */
typedef struct ld_follow_page {
    uint32_t count;
    ld_follow_edge edges[LD_PAGE_EDGES_MAX];
    ld_page_info page_info;
} ld_follow_page;

typedef struct ld_product_page {
    uint32_t count;
    ld_catalog_product products[LD_PAGE_DROPS_MAX];
    ld_page_info page_info;
} ld_product_page;

typedef struct ld_drop_page {
    uint32_t count;
    ld_drop drops[LD_PAGE_DROPS_MAX];
    ld_page_info page_info;
} ld_drop_page;

/* A browse filter. Note price_max_minor: a zeroed filter lists free drops only; set it to -1
 * for no upper bound. */
typedef struct ld_drop_filter {
    ld_drop_status status;   /* required: LD_DROP_UPCOMING, _LIVE, _ENDED or _CANCELLED */
    ld_id creator_id;        /* zero: any creator */
    int64_t price_min_minor; /* 0: no lower bound (inclusive, 0..LD_PRICE_MINOR_MAX) */
    int64_t price_max_minor; /* inclusive upper bound; < 0: none */
    uint32_t tags_count;     /* every tag listed must be on the drop */
    char tags[LD_TAGS_MAX][LD_TAG_BYTES_MAX + 1];
} ld_drop_filter;

typedef enum ld_event_type {
    LD_EVENT_DROP_SCHEDULED = 1,
    LD_EVENT_DROP_LIVE = 2,
    LD_EVENT_LOW_STOCK = 3,
    LD_EVENT_SOLD_OUT = 4,
    LD_EVENT_DROP_ENDED = 5,
    LD_EVENT_DROP_CANCELLED = 6,
    LD_EVENT_STOCK_CHANGED = 7,
    LD_EVENT_RESERVATION_EXPIRED = 8,
    LD_EVENT_ORDER_PAID = 9,
    LD_EVENT_ORDER_FAILED = 10,
    LD_EVENT_FOLLOWED = 11,
    LD_EVENT_UNFOLLOWED = 12,
} ld_event_type;

typedef struct ld_event {
    uint64_t seq; /* dense per shard */
    uint32_t shard;
    int64_t timestamp_ms;
    ld_event_type type;
    ld_id creator_id, drop_id, user_id, order_id, reservation_id; /* zero when not relevant */
    ld_stock stock;
    int64_t qty;
    char title[LD_TITLE_BYTES_MAX + 1];
    char topic[LD_TOPIC_BYTES_MAX + 1]; /* set when read through a topic */
    uint64_t topic_seq;                 /* dense per topic: a jump means missed events */
} ld_event;

typedef struct ld_event_page {
    uint32_t count;
    ld_event events[LD_PULL_EVENTS_MAX];
    uint64_t next_after; /* pass as `after` to continue */
    uint64_t last_seq;   /* newest seq (or topic_seq) when read */
} ld_event_page;

typedef enum ld_notification_kind {
    LD_NOTIFY_DROP_LIVE = 1,
    LD_NOTIFY_LOW_STOCK = 2,
    LD_NOTIFY_SOLD_OUT = 3,
    LD_NOTIFY_ORDER_PAID = 4,
    LD_NOTIFY_ORDER_FAILED = 5,
} ld_notification_kind;

typedef struct ld_notification {
    ld_notification_kind kind;
    ld_event event;
} ld_notification;

typedef struct ld_notification_page {
    uint32_t count;
    ld_notification notifications[LD_PAGE_DROPS_MAX];
    ld_page_info page_info;
} ld_notification_page;

/* Users and creators. Creates are idempotent by id (LD_EXISTS when identical, ERR_ID_CONFLICT
 * otherwise) and act as the new user / creator (spec->id is the principal); a creator's handle
 * is unique case-insensitively (ERR_HANDLE_TAKEN). Reads need no principal. All: thread any;
 * `out` (may be NULL) receives the entity. */
LD_WARN_UNUSED ld_err ld_user_create(ld_client *c, const ld_user_spec *spec, ld_user *out,
                                     ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_user_get(ld_client *c, const ld_id *user_id, ld_user *out, ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_creator_create(ld_client *c, const ld_creator_spec *spec, ld_creator *out,
                                        ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_creator_get(ld_client *c, const ld_id *creator_id, ld_creator *out,
                                     ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_creator_get_by_handle(ld_client *c, const char *handle, ld_creator *out,
                                               ld_errmsg *msg);

/* Follow graph. Follow and unfollow are idempotent (LD_OK, nothing changes, when already in
 * that state) and act as user_id; following yourself is ERR_SELF_FOLLOW; the creator must
 * exist (ERR_CREATOR_NOT_FOUND). *out receives the edge's state after the call and the
 * creator's follower count. Thread: any. */
LD_WARN_UNUSED ld_err ld_follow(ld_client *c, const ld_id *user_id, const ld_id *creator_id,
                                ld_follow_state *out, ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_unfollow(ld_client *c, const ld_id *user_id, const ld_id *creator_id,
                                  ld_follow_state *out, ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_is_following(ld_client *c, const ld_id *user_id, const ld_id *creator_id,
                                      ld_follow_state *out, ld_errmsg *msg);
/* Followers of a creator / creators a user follows, newest first. first: 0 (default
 * LD_PAGE_DEFAULT) .. LD_PAGE_EDGES_MAX; after: NULL or "" for the first page, else the
 * previous page's page_info.end_cursor (LD_ERR_INVALID_CURSOR for anything else). A walk
 * through every page never returns an edge twice and never skips one that existed for the
 * whole walk. Borrows `after` for the call. Thread: any. */
LD_WARN_UNUSED ld_err ld_followers_list(ld_client *c, const ld_id *creator_id, uint32_t first,
                                        const char *after, ld_follow_page *out, ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_following_list(ld_client *c, const ld_id *user_id, uint32_t first,
                                        const char *after, ld_follow_page *out, ld_errmsg *msg);

/* Catalog: a creator's products (acting as spec->creator_id; update acts as the product's
 * creator, given in spec->creator_id, and replaces title, price, currency, tags and attributes).
 * Create is idempotent by id. Drops scheduled from a product snapshot it: set
 * ld_drop_spec.product_id and product.creator_id (the acting creator), leave the other product
 * fields empty (LD_ERR_INVALID_ARGUMENT otherwise). Products are listed newest first
 * (first: 0 .. LD_PAGE_DROPS_MAX). Thread: any. */
LD_WARN_UNUSED ld_err ld_product_create(ld_client *c, const ld_catalog_product_spec *spec,
                                        ld_catalog_product *out, ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_product_update(ld_client *c, const ld_catalog_product_spec *spec,
                                        ld_catalog_product *out, ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_product_get(ld_client *c, const ld_id *product_id, ld_catalog_product *out,
                                     ld_errmsg *msg);
LD_WARN_UNUSED ld_err ld_products_list(ld_client *c, const ld_id *creator_id, uint32_t first,
                                       const char *after, ld_product_page *out, ld_errmsg *msg);
/* Cancels a drop that has not started, acting as creator_id (its creator). Cancelling again is
 * LD_OK; once started: ERR_NOT_CANCELLABLE. *out receives the drop (status CANCELLED).
 * Thread: any. */
LD_WARN_UNUSED ld_err ld_drop_cancel(ld_client *c, const ld_id *creator_id, const ld_id *drop_id,
                                     ld_drop *out, ld_errmsg *msg);
/* Browse drops of one status (first: 0 .. LD_PAGE_DROPS_MAX). UPCOMING: soonest start first;
 * LIVE: soonest end first; ENDED: latest end first; CANCELLED: latest cancelled first. A page
 * examines at most LD_BROWSE_SCAN_MAX drops, so a narrow filter may give a short (even empty)
 * page with has_next_page true: keep paging. Thread: any. */
LD_WARN_UNUSED ld_err ld_drops_list(ld_client *c, const ld_drop_filter *filter, uint32_t first,
                                    const char *after, ld_drop_page *out, ld_errmsg *msg);

/* Events after a cursor (pull). topic NULL or "": the shard's stream, `after` is a seq; else
 * "creator/<hex>", "drop/<hex>" or "user/<hex>" (LD_ERR_INVALID_TOPIC otherwise) and `after` is
 * a topic_seq. max: 0 (the node's default, 100) .. LD_PULL_EVENTS_MAX. Continue with
 * out->next_after. wait_ms > 0 holds the call until an event arrives or wait_ms passes (long
 * poll, <= LD_PULL_WAIT_MS_MAX; then an empty page): such a call travels alone in its message
 * and its deadline is max(timeout, wait_ms + 2000 ms). LD_ERR_EVENTS_TRIMMED: `after` is older
 * than the events the node keeps. Thread: any. */
LD_WARN_UNUSED ld_err ld_events_pull(ld_client *c, const char *topic, uint64_t after, uint32_t max,
                                     uint32_t wait_ms, ld_event_page *out, ld_errmsg *msg);
/* A user's notification feed, newest first (first: 0 .. LD_PAGE_DROPS_MAX): drop live, low
 * stock and sold out from the creators the user follows (events after the follow), and the
 * user's own order outcomes. Thread: any. */
LD_WARN_UNUSED ld_err ld_notifications_list(ld_client *c, const ld_id *user_id, uint32_t first,
                                            const char *after, ld_notification_page *out,
                                            ld_errmsg *msg);

/* Push: a subscriber connects to a node's publish address (node option `publish`, default
 * tcp://127.0.0.1:7401) and receives the events of the topics it subscribed to. Delivery is
 * best effort (a slow subscriber may miss messages, and events published before the connection
 * is up are not seen): each event carries its topic_seq, and a subscriber that sees a jump
 * fills the gap with ld_events_pull(topic, last_topic_seq, ...). Every subscriber receives
 * every published message on the wire and filters locally (NNG's pub/sub), so subscribe on a
 * few connections per process (a gateway) and fan out in memory.
 * Not thread-safe: one thread at a time per subscriber. */
typedef struct ld_subscriber ld_subscriber;
/* Opens a subscriber dialled to `publish_addr` (an NNG URL) in the background: the call succeeds
 * even if the node is not up yet. Returns owned, free with ld_subscriber_close().
 * LD_ERR_INVALID_ARGUMENT for a bad address. Thread: any. */
LD_WARN_UNUSED ld_err ld_subscriber_open(const char *publish_addr, ld_subscriber **out);
/* Starts / stops receiving `topic` ("creator/<32 hex>", "drop/<32 hex>", "user/<32 hex>", hex
 * of either case; LD_ERR_INVALID_TOPIC otherwise). Subscribing twice is harmless;
 * unsubscribing an unknown topic is LD_OK. Borrows `topic`. */
LD_WARN_UNUSED ld_err ld_subscribe(ld_subscriber *s, const char *topic);
LD_WARN_UNUSED ld_err ld_unsubscribe(ld_subscriber *s, const char *topic);
/* Waits up to timeout_ms (0: only what has arrived) for the next event of a subscribed topic
 * and writes it into *out (topic and topic_seq set): LD_OK, LD_ERR_TIMEOUT, or
 * LD_ERR_PROTOCOL for a message that is not a well-formed event (*out zeroed; receive again).
 * Events arrive in the node's publish order. */
LD_WARN_UNUSED ld_err ld_subscriber_recv(ld_subscriber *s, uint32_t timeout_ms, ld_event *out);
/* Closes the connection and frees the subscriber. The node is asked to close the connection
 * first (this side half-closes it): with NNG 1.5.2 a close racing an arriving message can hang
 * inside NNG (nng #616), and so can every close after it in the process. Returns within about
 * 4 s: a node that does not close the connection within 2 s is not waited for, and a close stuck
 * in NNG anyway is left to a background thread after 2 s more. NULL is a no-op. */
void ld_subscriber_close(ld_subscriber *s);

/* Sends raw bytes as one request frame, unchecked and alone in its message, and waits for the
 * raw reply: for gateways and tests of the node's handling of malformed input. LD_OK means a
 * reply arrived (whatever it says); *reply_out is then owned by the caller, free with free().
 * Frames may exceed LD_FRAME_BYTES_MAX (up to 16 times it). Borrows `frame` for the call.
 * Thread: any. */
LD_WARN_UNUSED ld_err ld_client_raw(ld_client *client, const void *frame, size_t frame_len,
                                    void **reply_out, size_t *reply_len_out);

/* ---- cluster status -------------------------------------------------------------------------- */

typedef enum ld_replica_role {
    LD_ROLE_UNKNOWN = 0,
    LD_ROLE_PRIMARY = 1,     /* status normal, primary of its view */
    LD_ROLE_BACKUP = 2,      /* status normal, backup */
    LD_ROLE_VIEW_CHANGE = 3, /* electing a new primary */
    LD_ROLE_RECOVERING = 4,  /* lost its data; state transfer in progress */
} ld_replica_role;

/* One replica a node holds (REPLICATION.md): its place in the shard's replica group, its view,
 * and how far its log goes. op >= commit >= applied. */
typedef struct ld_replica_status {
    uint32_t shard_id;
    uint32_t node_id;
    uint32_t replica;       /* index in the shard's replica list */
    uint32_t replica_count; /* replication factor */
    ld_replica_role role;
    uint64_t view;
    uint64_t log_view;     /* the view in which its log was last replaced by a primary's */
    uint64_t op;           /* head of its log */
    uint64_t commit;       /* highest op it knows is committed (commit_max) */
    uint64_t applied;      /* ops applied to its state (commit_min) */
    bool lease;            /* a primary holding its read lease */
    uint64_t state_digest; /* digest of the applied state: equal replicas, equal digests */
    /* Since the node started: */
    uint64_t view_changes;    /* views this replica entered */
    uint64_t repairs;         /* log entries it fetched from a peer */
    uint64_t state_transfers; /* checkpoints (state snapshots) it installed */
    uint64_t dropped;         /* peer messages it refused as malformed or foreign */
} ld_replica_status;

typedef struct ld_node_status {
    uint32_t count;
    ld_replica_status replicas[LD_CLUSTER_STATUS_REPLICAS_MAX];
} ld_node_status;

/* Asks the node at address `addr_index` of the client (and only that node: no redirect, no
 * failover) for the status of the replicas it holds. Any node answers, whatever its role.
 * LD_ERR_INVALID_ARGUMENT for an index out of range; LD_ERR_TIMEOUT / LD_ERR_CONNECTION when
 * that node did not answer within the client's timeout (open a client with a short timeout to
 * poll a cluster); LD_ERR_PROTOCOL for a reply with more than LD_CLUSTER_STATUS_REPLICAS_MAX
 * replicas or a malformed one. Thread: any. */
LD_WARN_UNUSED ld_err ld_cluster_status(ld_client *client, uint32_t addr_index, ld_node_status *out,
                                        ld_errmsg *msg);

/* The name of a role: "primary", "backup", "view_change", "recovering", "unknown". */
const char *ld_replica_role_name(ld_replica_role role);

/* Client-side counters, since open. Thread: any. */
typedef struct ld_client_stats {
    uint64_t ops_sent;
    uint64_t messages_sent;    /* ops_sent / messages_sent is the coalescing factor */
    uint64_t redirects;        /* NOT_PRIMARY answers followed (the message was sent again) */
    uint64_t failovers;        /* messages sent again to the next address for want of an answer */
    uint64_t connections_lost; /* a node's connection dropped (with several addresses, its
                                  messages moved on at once) */
    uint64_t connects_refused; /* calls ended unsent: every address refused connections */
    uint64_t probes;           /* connect probes (a call or an open found no connection) */
} ld_client_stats;
void ld_client_stats_get(ld_client *client, ld_client_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* LIVEDROP_H */
