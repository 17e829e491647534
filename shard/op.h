/*
 * op.h -- decoded, validated operations and their results: the state machine's own language.
 *
 * The wire (livedrop.proto) is turned into these fixed-size structs by codec.c, which checks
 * every limit of ld_limits.h on the way in. Past the codec, an ld_op is trusted to be within its
 * limits (the state machine asserts that), so the state machine only checks business rules.
 * Strings are NUL-terminated and inline: an op owns no heap memory.
 *
 * Adding an op takes, and only takes:
 *   1. its number in enum ld_op_type below (the same number as its case in livedrop.proto's
 *      Op.body oneof: the node relies on that), and its body struct in the ld_op union when it
 *      has one;
 *   2. one row in op.c's op table (shard/op.c): name, flags (write / client / page), principal
 *      rule and its apply handler (writes) or read or page handler (reads) -- the state machine
 *      dispatches through the row (sm.c, page.c) and has no switch on the op type;
 *   3. the handler itself, in the shard/ file of its entity (actor.c, catalog.c, follow.c,
 *      browse.c, page.c, feed.c), declared in sm_int.h;
 *   4. its wire message in livedrop.proto and the two conversions of that body: wire -> op in
 *      ld_codec_op_from_pb's switches (codec.c for drops and orders, codec_ops.c for the rest,
 *      where the limits are checked) and op -> wire in ld_codec_op_to_pb's (same files). These
 *      stay switches: each case is the body's own protobuf-c encoding, not dispatch;
 *   5. for a new result kind, its conversion in codec_result.c; for a page op, how the node
 *      narrows it (page_narrow in node/engine_events.c), when its count field is not list.first.
 */
#ifndef LD_SHARD_OP_H
#define LD_SHARD_OP_H

#include "ld_base.h"
#include "livedrop.h"

typedef enum ld_op_type {
    LD_OP_NONE = 0,
    LD_OP_CREATE_DROP = 1,
    LD_OP_GET_DROP = 2,
    LD_OP_RESERVE = 3,
    LD_OP_CHECKOUT = 4,
    LD_OP_RELEASE = 5,
    LD_OP_PLACE_ORDER = 6,
    LD_OP_GET_ORDER = 7,
    LD_OP_GET_RESERVATION = 8,
    LD_OP_CREATE_USER = 9,
    LD_OP_GET_USER = 10,
    LD_OP_CREATE_CREATOR = 11,
    LD_OP_GET_CREATOR = 12,
    LD_OP_FOLLOW = 13,
    LD_OP_UNFOLLOW = 14,
    LD_OP_IS_FOLLOWING = 15,
    LD_OP_LIST_FOLLOWERS = 16, /* page op */
    LD_OP_LIST_FOLLOWING = 17, /* page op */
    LD_OP_CREATE_PRODUCT = 18,
    LD_OP_UPDATE_PRODUCT = 19,
    LD_OP_GET_PRODUCT = 20,
    LD_OP_LIST_PRODUCTS = 21, /* page op */
    LD_OP_CANCEL_DROP = 22,
    LD_OP_LIST_DROPS = 23,         /* page op */
    LD_OP_PULL_EVENTS = 24,        /* page op (the node may hold it: long poll) */
    LD_OP_LIST_NOTIFICATIONS = 25, /* page op */
    LD_OP_GET_CLUSTER_STATUS =
        26, /* answered by the node (replica status), not the state machine */
    /* internal: written to the log by the node, refused from clients */
    LD_OP_TICK = 100,
    LD_OP_FINISH_ORDER = 101,
    LD_OP_RELAY_FOLLOW = 102,
} ld_op_type;

/* The entities the state machine shares with the public API have one home, livedrop.h (the
 * installed client header, which includes nothing internal): ld_drop_status,
 * ld_reservation_state, ld_order_status, ld_event_type, ld_notification_kind, ld_stock, ld_attr,
 * ld_follow_state, and the specs and entities below under their internal names. */
typedef ld_product_spec ld_product;

/* CREATE_DROP. `product_id` zero: `product` is inline; else the state machine fills `product` from
 * the catalog product (the codec leaves it empty). `reservation_ttl_ms` is already defaulted by
 * the codec: never 0 here. */
typedef ld_drop_spec ld_op_create_drop;

typedef struct ld_op_reserve {
    ld_id drop_id;
    ld_id user_id;
    int64_t qty;
    char idempotency_key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    /* LD_OP_PLACE_ORDER only: */
    char payment_method[LD_PAYMENT_METHOD_BYTES_MAX + 1];
} ld_op_reserve;

typedef struct ld_op_checkout {
    ld_id reservation_id;
    char payment_ref[LD_PAYMENT_REF_BYTES_MAX + 1];
} ld_op_checkout;

typedef struct ld_op_finish_order {
    ld_id reservation_id;
    bool approved;
    char payment_ref[LD_PAYMENT_REF_BYTES_MAX + 1];
} ld_op_finish_order;

typedef ld_user_spec ld_op_create_user;

/* CREATE_CREATOR. `handle` as given; uniqueness is case-insensitive. */
typedef ld_creator_spec ld_op_create_creator;

typedef struct ld_op_get_creator {
    ld_id id; /* zero: look up by handle */
    char handle[LD_HANDLE_BYTES_MAX + 1];
} ld_op_get_creator;

typedef struct ld_op_follow {
    ld_id user_id;
    ld_id creator_id;
} ld_op_follow;

/* CREATE_PRODUCT and UPDATE_PRODUCT (creator_id is zero for an update). */
typedef ld_catalog_product_spec ld_op_product;

/* LIST_FOLLOWERS (id = creator), LIST_FOLLOWING (id = user), LIST_PRODUCTS (id = creator),
 * LIST_NOTIFICATIONS (id = user). `first` is already defaulted and bounded by the codec. */
typedef struct ld_op_list {
    ld_id id;
    uint32_t first;
    char after[LD_CURSOR_BYTES_MAX + 1]; /* empty: from the start */
} ld_op_list;

typedef struct ld_op_list_drops {
    ld_drop_status status;
    ld_id creator_id; /* zero: any */
    int64_t price_min_minor;
    int64_t price_max_minor; /* INT64_MAX when no upper bound was given */
    uint32_t tags_count;
    char tags[LD_TAGS_MAX][LD_TAG_BYTES_MAX + 1];
    uint32_t first;
    char after[LD_CURSOR_BYTES_MAX + 1];
} ld_op_list_drops;

typedef enum ld_topic_kind {
    LD_TOPIC_NONE = 0, /* the shard's whole stream */
    LD_TOPIC_CREATOR = 1,
    LD_TOPIC_DROP = 2,
    LD_TOPIC_USER = 3,
} ld_topic_kind;

typedef struct ld_op_pull_events {
    uint64_t after; /* seq, or topic_seq with a topic */
    uint32_t max;   /* 1..LD_PULL_EVENTS_MAX (defaulted by the codec) */
    uint32_t wait_ms;
    ld_topic_kind topic_kind;
    ld_id topic_id;
} ld_op_pull_events;

typedef struct ld_op_relay_follow {
    uint32_t source_shard;
    uint64_t seq;
    ld_id user_id;
    ld_id creator_id;
    bool followed;
    int64_t at_ms;
    char creator_handle[LD_HANDLE_BYTES_MAX + 1];
} ld_op_relay_follow;

/* One operation. `type` selects the union member:
 *   CREATE_DROP -> create_drop;  RESERVE, PLACE_ORDER -> reserve;  CHECKOUT -> checkout;
 *   GET_DROP, GET_ORDER, GET_RESERVATION, RELEASE, GET_USER, GET_PRODUCT, CANCEL_DROP -> id;
 *   FINISH_ORDER -> finish;  TICK -> none;  CREATE_USER -> create_user;
 *   CREATE_CREATOR -> create_creator;  GET_CREATOR -> get_creator;
 *   FOLLOW, UNFOLLOW, IS_FOLLOWING -> follow;  CREATE_PRODUCT, UPDATE_PRODUCT -> product;
 *   LIST_FOLLOWERS, LIST_FOLLOWING, LIST_PRODUCTS, LIST_NOTIFICATIONS -> list;
 *   LIST_DROPS -> list_drops;  PULL_EVENTS -> pull;  RELAY_FOLLOW -> relay.
 * `principal` is the acting user or creator (zero: none); the state machine checks it. */
typedef struct ld_op {
    ld_op_type type;
    ld_id principal;
    union {
        ld_op_create_drop create_drop;
        ld_op_reserve reserve;
        ld_op_checkout checkout;
        ld_op_finish_order finish;
        ld_id id;
        ld_op_create_user create_user;
        ld_op_create_creator create_creator;
        ld_op_get_creator get_creator;
        ld_op_follow follow;
        ld_op_product product;
        ld_op_list list;
        ld_op_list_drops list_drops;
        ld_op_pull_events pull;
        ld_op_relay_follow relay;
    } u;
} ld_op;

/* A drop as of the timestamp the result was produced at (status, stock); spec as created. */
typedef ld_drop ld_drop_view;
typedef ld_reservation ld_reservation_view; /* order_id zero unless committed */
typedef ld_order ld_order_view;

typedef struct ld_user_view {
    ld_id id;
    char name[LD_NAME_BYTES_MAX + 1];
    char email[LD_EMAIL_BYTES_MAX + 1];
    int64_t created_at_ms;
    int64_t following_count;
} ld_user_view;

typedef ld_creator ld_creator_view;
typedef ld_catalog_product ld_product_view; /* spec.creator_id always set */

typedef enum ld_result_kind {
    LD_RESULT_NONE = 0,
    LD_RESULT_DROP = 1,
    LD_RESULT_RESERVATION = 2,
    LD_RESULT_ORDER = 3,
    LD_RESULT_USER = 4,
    LD_RESULT_CREATOR = 5,
    LD_RESULT_PRODUCT = 6,
    LD_RESULT_FOLLOW_STATE = 7,
    /* page results (ld_page) */
    LD_RESULT_FOLLOW_PAGE = 20,
    LD_RESULT_PRODUCT_PAGE = 21,
    LD_RESULT_DROP_PAGE = 22,
    LD_RESULT_EVENT_PAGE = 23,
    LD_RESULT_NOTIFICATION_PAGE = 24,
} ld_result_kind;

/* A place_order whose reservation is made and whose payment the node must now run, then report
 * with an LD_OP_FINISH_ORDER op carrying `reservation_id`. */
typedef struct ld_payment_request {
    ld_id reservation_id;
    int64_t amount_minor;
    char currency[LD_CURRENCY_BYTES + 1];
    char payment_method[LD_PAYMENT_METHOD_BYTES_MAX + 1];
    int64_t expires_at_ms; /* the reservation's expiry: a later approval is voided */
} ld_payment_request;

typedef struct ld_result {
    ld_err code;
    char message[LD_MESSAGE_BYTES_MAX + 1]; /* detail for the caller; empty means ld_strerror */
    ld_result_kind kind;
    union {
        ld_drop_view drop;
        ld_reservation_view reservation;
        ld_order_view order;
        ld_user_view user;
        ld_creator_view creator;
        ld_product_view product;
        ld_follow_state follow_state;
    } u;
    /* LD_OP_PLACE_ORDER only: true when the reservation was made and payment must run now.
     * `code` is then LD_OK, kind RESERVATION, and the client's reply waits for FINISH_ORDER. */
    bool needs_payment;
    ld_payment_request payment;
} ld_result;

/* ---- events and pages ---------------------------------------------------------------------- */

/* One outbox event. Ids that do not apply are zero. topic_seq[k] is the event's position in
 * topic (kind k, the matching id) -- 0 when the event is not on that topic. Topics:
 *   creator/<creator_id>: DROP_SCHEDULED, DROP_LIVE, LOW_STOCK, SOLD_OUT, DROP_ENDED,
 *                         DROP_CANCELLED, FOLLOWED, UNFOLLOWED
 *   drop/<drop_id>:       every drop event, STOCK_CHANGED, RESERVATION_EXPIRED, ORDER_*
 *   user/<user_id>:       RESERVATION_EXPIRED, ORDER_PAID, ORDER_FAILED, FOLLOWED, UNFOLLOWED
 * `title` is the drop's title on drop events and the creator's handle on FOLLOWED / UNFOLLOWED
 * (what RELAY_FOLLOW's creator_handle needs). */
typedef struct ld_event_view {
    uint64_t seq;
    int64_t ts_ms;
    ld_event_type type;
    ld_id creator_id;
    ld_id drop_id;
    ld_id user_id;
    ld_id order_id;
    ld_id reservation_id;
    ld_stock stock;
    int64_t qty;
    char title[LD_TITLE_BYTES_MAX + 1];
    uint64_t topic_seq[4]; /* indexed by ld_topic_kind; [LD_TOPIC_NONE] unused */
} ld_event_view;

/* user_name on followers pages (when known), creator_handle on following pages. */
typedef ld_follow_edge ld_follow_edge_view;

typedef struct ld_notification_view {
    ld_notification_kind kind;
    ld_event_view event;
} ld_notification_view;

/* The result of a page op (ld_op_is_page). Large (about 0.5 MiB): allocate it once and reuse. */
typedef struct ld_page {
    ld_result_kind kind; /* one of the *_PAGE kinds */
    uint32_t count;
    bool has_next_page;
    char end_cursor[LD_CURSOR_BYTES_MAX + 1];
    uint64_t next_after;      /* EVENT_PAGE */
    uint64_t last_seq;        /* EVENT_PAGE */
    ld_topic_kind topic_kind; /* EVENT_PAGE read through a topic */
    ld_id topic_id;
    union {
        ld_follow_edge_view edges[LD_PAGE_EDGES_MAX];
        ld_product_view products[LD_PAGE_DROPS_MAX];
        ld_drop_view drops[LD_PAGE_DROPS_MAX];
        ld_event_view events[LD_PULL_EVENTS_MAX];
        ld_notification_view notifications[LD_PAGE_DROPS_MAX];
    } u;
} ld_page;

/* True for ops whose answer is an ld_page (LIST_*, PULL_EVENTS). Thread: any. */
bool ld_op_is_page(ld_op_type type);

/* True for ops that change state and therefore go through the log. Thread: any. */
bool ld_op_is_write(ld_op_type type);
/* True for ops a client may send (false for internal and unknown types). Thread: any. */
bool ld_op_is_client(ld_op_type type);
/* Op name for logs and messages, e.g. "reserve". Thread: any. */
const char *ld_op_name(ld_op_type type);

/* Sets result->code and a printf-formatted message; kind becomes NONE. Returns `code`. */
ld_err ld_result_fail(ld_result *result, ld_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* LD_SHARD_OP_H */
