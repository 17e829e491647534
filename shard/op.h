/*
 * op.h -- decoded, validated operations and their results: the state machine's own language.
 *
 * The wire (livedrop.proto) is turned into these fixed-size structs by codec.c, which checks
 * every limit of ld_limits.h on the way in. Past the codec, an ld_op is trusted to be within its
 * limits (the state machine asserts that), so the state machine only checks business rules.
 * Strings are NUL-terminated and inline: an op owns no heap memory.
 */
#ifndef LD_SHARD_OP_H
#define LD_SHARD_OP_H

#include "ld_base.h"

typedef enum ld_op_type {
    LD_OP_NONE = 0,
    LD_OP_CREATE_DROP = 1,
    LD_OP_GET_DROP = 2,
    LD_OP_RESERVE = 3,
    LD_OP_COMMIT = 4,
    LD_OP_RELEASE = 5,
    LD_OP_PLACE_ORDER = 6,
    LD_OP_GET_ORDER = 7,
    LD_OP_GET_RESERVATION = 8,
    /* internal: written to the log by the node, refused from clients */
    LD_OP_TICK = 100,
    LD_OP_FINISH_ORDER = 101,
} ld_op_type;

typedef enum ld_drop_status {
    LD_DROP_UPCOMING = 1,
    LD_DROP_LIVE = 2,
    LD_DROP_ENDED = 3,
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

typedef struct ld_product {
    ld_id creator_id;
    char title[LD_TITLE_BYTES_MAX + 1];
    int64_t price_minor;
    char currency[LD_CURRENCY_BYTES + 1];
    uint32_t tags_count;
    char tags[LD_TAGS_MAX][LD_TAG_BYTES_MAX + 1];
} ld_product;

typedef struct ld_op_create_drop {
    ld_id id;
    ld_product product;
    int64_t starts_at_ms;
    int64_t ends_at_ms;
    int64_t initial_stock;
    int64_t low_stock_threshold;
    int64_t max_per_user;       /* 0: unlimited */
    int64_t reservation_ttl_ms; /* already defaulted by the codec: never 0 here */
} ld_op_create_drop;

typedef struct ld_op_reserve {
    ld_id drop_id;
    ld_id user_id;
    int64_t qty;
    char idempotency_key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    /* LD_OP_PLACE_ORDER only: */
    char payment_method[LD_PAYMENT_METHOD_BYTES_MAX + 1];
} ld_op_reserve;

typedef struct ld_op_commit {
    ld_id reservation_id;
    char payment_ref[LD_PAYMENT_REF_BYTES_MAX + 1];
} ld_op_commit;

typedef struct ld_op_finish_order {
    ld_id reservation_id;
    bool approved;
    char payment_ref[LD_PAYMENT_REF_BYTES_MAX + 1];
} ld_op_finish_order;

/* One operation. `type` selects the union member:
 *   CREATE_DROP -> create_drop;  RESERVE, PLACE_ORDER -> reserve;  COMMIT -> commit;
 *   GET_DROP, GET_ORDER, GET_RESERVATION, RELEASE -> id;  FINISH_ORDER -> finish;  TICK -> none */
typedef struct ld_op {
    ld_op_type type;
    union {
        ld_op_create_drop create_drop;
        ld_op_reserve reserve;
        ld_op_commit commit;
        ld_op_finish_order finish;
        ld_id id;
    } u;
} ld_op;

typedef struct ld_stock {
    int64_t available;
    int64_t reserved;
    int64_t sold;
} ld_stock;

typedef struct ld_drop_view {
    ld_op_create_drop spec; /* as created */
    ld_drop_status status;  /* as of the timestamp the result was produced at */
    ld_stock stock;
    int64_t created_at_ms;
} ld_drop_view;

typedef struct ld_reservation_view {
    ld_id id;
    ld_id drop_id;
    ld_id user_id;
    int64_t qty;
    int64_t expires_at_ms;
    ld_reservation_state state;
    ld_id order_id; /* zero unless committed */
    int64_t created_at_ms;
} ld_reservation_view;

typedef struct ld_order_view {
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
} ld_order_view;

typedef enum ld_result_kind {
    LD_RESULT_NONE = 0,
    LD_RESULT_DROP = 1,
    LD_RESULT_RESERVATION = 2,
    LD_RESULT_ORDER = 3,
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
    } u;
    /* LD_OP_PLACE_ORDER only: true when the reservation was made and payment must run now.
     * `code` is then LD_OK, kind RESERVATION, and the client's reply waits for FINISH_ORDER. */
    bool needs_payment;
    ld_payment_request payment;
} ld_result;

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
