/*
 * sm_int.h -- internals of the shard state machine, shared by the files of shard/ that make it
 * (sm.c, actor.c, idem.c, expiry.c, heap.c, catalog.c, follow.c, events.c, browse.c, feed.c,
 * page.c, recover.c, check.c, record.c). Not a contract: only shard/ and its unit tests include it.
 *
 * Memory layout. Every record lives in a pool (pool.h) and is found through a hash index
 * (table.h) keyed by its fixed bytes:
 *
 *   drops        ldi_drop      by drop id            spec + created_at + announced status;
 *                                                    stock is derived; UPCOMING and LIVE ones
 *                                                    sit in `dheap` by their next boundary
 *   reservations ldi_res       by reservation id     active ones in `heap`, closed ones in the
 *                                                    `closed` FIFO until retention ends
 *   orders       ld_order_view by order id           kept for good
 *   user_drops   ldi_ud        by (drop id, user id) reserved + bought + active counts; derived
 *   keys         ldi_idem      by (drop, user, key)  in the `keys` FIFO (creation order)
 *   payments     ldi_payreq    (no index)            place_orders awaiting FINISH_ORDER
 *   users        ldi_user      by user id
 *   creators     ldi_creator   by creator id, and by lower-cased handle (handle_index)
 *   products     ldi_product   by product id
 *   edges        ldi_edge      by (user, creator)    follow edges of this shard's creators
 *   fols         ldi_fol       by (user, creator)    derived "following" entries (RELAY_FOLLOW),
 *                                                    linked per user from its ldi_fan
 *   fans         ldi_fan       by user id            per user: edges it has here, and the head
 *                                                    of its following list; derived
 *   topics       ldi_topic     by (kind, id)         per-topic event counters
 *
 * Events (the outbox) live in the store only ('E' records and their index records); memory keeps
 * a ring with the topics of each retained event (so trimming knows which index records to delete
 * without reading the store), the events of the batch being applied, and per-topic counters.
 *
 * Derived state (stock, user_drops, heaps, FIFOs, payments links, follower counts, fans, the
 * event ring) is never stored: ld_sm_open() rebuilds it from the records (record.h), and
 * ld_sm_check() recomputes it from scratch.
 *
 * Ordering for bounded work. A TICK removes at most LD_TICK_OPS_EXPIRE_MAX things of each kind,
 * so which ones it picks must not depend on history (a restarted replica must pick the same
 * ones). Every order used is total and persisted: the heaps order by (time, id); the FIFOs order
 * by `seq`, a counter stored in the meta record and in each record that sits in a FIFO; events
 * are trimmed in event seq order.
 */
#ifndef LD_SHARD_SM_INT_H
#define LD_SHARD_SM_INT_H

#include "cursor.h"
#include "op.h"
#include "pool.h"
#include "sm.h"
#include "store.h"
#include "table.h"

/* Capacities of one state machine; ld_sm_open() uses ldi_sm_caps_default(). */
typedef struct ldi_sm_caps {
    uint32_t drops;
    uint32_t reservations; /* active + retained */
    uint32_t orders;
    uint32_t keys;
    uint32_t user_drops;
    uint32_t payments; /* place_orders awaiting FINISH_ORDER */
    uint32_t users;
    uint32_t creators;
    uint32_t products;
    uint32_t follows; /* follow edges, and derived following entries (each) */
    uint32_t topics;
    uint32_t events_retain; /* events kept behind the newest (LD_EVENTS_RETAIN) */
} ldi_sm_caps;

ldi_sm_caps ldi_sm_caps_default(void);

/* As ld_sm_open(), with explicit capacities (tests use small ones). Each must be >= 1. */
ld_err ldi_sm_open_with_caps(const ld_store *store, const ldi_sm_caps *caps, ld_sm **out);

typedef struct ldi_drop {
    ld_op_create_drop spec;
    int64_t created_at_ms;
    int64_t cancelled_at_ms; /* 0 unless cancelled */
    ld_stock stock;      /* derived: reserved = sum of active qty, sold = sum of PAID orders' qty */
    uint8_t announced;   /* ld_drop_status as moved by create, TICK and cancel (persisted) */
    bool low_stock_sent; /* LOW_STOCK was emitted (persisted: once per drop) */
    bool stock_dirty;    /* in the batch's STOCK_CHANGED list */
    uint32_t dheap_pos;  /* in `dheap` while announced UPCOMING or LIVE, else LDI_NIL */
} ldi_drop;

/* Where a reservation came from: a plain reserve, or a place_order (which has a payment). */
enum { LDI_ORIGIN_RESERVE = 1, LDI_ORIGIN_PLACE_ORDER = 2 };

typedef struct ldi_res {
    ld_reservation_view v;
    int64_t closed_at_ms; /* time it left ACTIVE; 0 while active */
    uint64_t seq;         /* position in the closed FIFO; 0 while active */
    uint32_t drop_idx;
    uint32_t heap_pos; /* while active */
    uint32_t next;     /* closed FIFO link */
    uint32_t pay_idx;  /* LDI_NIL unless a place_order awaits its payment */
    uint8_t origin;
} ldi_res;

typedef struct ldi_payreq {
    uint32_t res_idx;
    uint32_t key_idx;
    char payment_method[LD_PAYMENT_METHOD_BYTES_MAX + 1];
} ldi_payreq;

typedef struct ldi_ud {
    ld_id drop_id;
    ld_id user_id;
    int64_t reserved; /* qty in active reservations */
    int64_t bought;   /* qty in PAID orders */
    uint32_t active;  /* active reservations */
} ldi_ud;

enum { LDI_KEY_IN_PROGRESS = 1, LDI_KEY_DONE = 2 };

/* The identity of an idempotency key, also its record key after the type byte. */
typedef struct ldi_key_id {
    ld_id drop_id;
    ld_id user_id;
    uint8_t len;
    char bytes[LD_IDEMPOTENCY_KEY_BYTES_MAX];
} ldi_key_id;

typedef struct ldi_idem {
    ldi_key_id id;
    uint8_t status;
    uint8_t kind; /* ld_result_kind of the stored result: NONE, RESERVATION or ORDER */
    uint16_t code;
    uint8_t req_hash[16];
    int64_t created_at_ms;
    uint64_t seq;
    uint32_t prev, next; /* keys FIFO */
    char *message;       /* owned; NULL when empty */
    union {
        ld_reservation_view res;
        ld_order_view order;
    } body;
} ldi_idem;

typedef struct ldi_user {
    ld_id id;
    char name[LD_NAME_BYTES_MAX + 1];
    char email[LD_EMAIL_BYTES_MAX + 1];
    int64_t created_at_ms;
} ldi_user;

typedef struct ldi_creator {
    ld_op_create_creator spec;
    int64_t created_at_ms;
    int64_t follower_count; /* derived: edges to this creator */
} ldi_creator;

typedef struct ldi_product {
    ld_op_product spec; /* creator_id always set */
    int64_t created_at_ms;
    int64_t updated_at_ms;
} ldi_product;

/* A follow edge, on the creator's shard (the source of truth of who follows whom). */
typedef struct ldi_edge {
    ld_id user_id;
    ld_id creator_id;
    int64_t since_ms;
    uint64_t seq; /* seq of its FOLLOWED event */
} ldi_edge;

/* A derived "following" entry, on the user's shard, kept by RELAY_FOLLOW. */
typedef struct ldi_fol {
    ld_id user_id;
    ld_id creator_id;
    int64_t at_ms;
    uint64_t seq;        /* seq of the FOLLOWED event on the source shard (the feed's floor) */
    uint32_t prev, next; /* the user's list */
} ldi_fol;

/* Per user: its edges on this shard and its derived following list. Freed when both are 0. */
typedef struct ldi_fan {
    ld_id user_id;
    uint32_t edges;     /* edges (user -> some creator here) */
    uint32_t following; /* entries in the following list */
    uint32_t head;      /* first ldi_fol, LDI_NIL when none */
} ldi_fan;

/* An event topic (creator/, drop/ or user/ + id). */
typedef struct ldi_topic {
    ld_id id;
    uint8_t kind;          /* ld_topic_kind */
    bool dirty;            /* its record must be written at the end of the batch */
    uint64_t count;        /* topic_seq of its newest event (0: none) */
    uint64_t floor;        /* topic_seq of its oldest retained event (count + 1: none retained) */
    uint64_t last_notable; /* seq of its newest feed-worthy event (0: none) */
} ldi_topic;

/* The topics of one retained event (LDI_NIL where it is not on one), indexed by kind - 1. */
typedef struct ldi_ev_slot {
    uint32_t topic[3];
    uint8_t type;
} ldi_ev_slot;

/* Events one batch may emit: 3 per op (any op but TICK emits at most 3, the coalesced
 * STOCK_CHANGED included) plus room for TICKs (an expiry emits up to 3, a status move 1). */
#define LDI_EV_PER_OP_MAX 3u
#define LDI_BATCH_EVENTS_MAX (LDI_EV_PER_OP_MAX * LD_BATCH_OPS_MAX + 5u * LD_TICK_OPS_EXPIRE_MAX)
/* Source shards whose follow events this shard relays (one per shard of the cluster at most). */
#define LDI_RELAY_SOURCES_MAX 16384u

typedef struct ldi_relay {
    uint32_t source_shard;
    uint64_t seq;
} ldi_relay;

struct ld_sm {
    const ld_store *store;
    ldi_sm_caps caps;
    uint64_t applied_op;
    int64_t last_ts_ms;
    uint64_t next_seq;

    ldi_pool drops, res, orders, uds, keys, pays;
    ldi_table drop_index, res_index, order_index, ud_index, key_index;
    ldi_pool users, creators, products, edges, fols, fans, topics;
    ldi_table user_index, creator_index, handle_index, product_index, edge_index, fol_index,
        fan_index, topic_index;

    uint32_t *heap; /* active reservations, min by (expires_at, id) */
    uint32_t heap_len, heap_cap;
    uint32_t closed_head, closed_tail; /* closed reservations by seq */
    uint32_t key_head, key_tail;       /* keys by seq */

    uint32_t *dheap; /* drops announced UPCOMING or LIVE, min by (next boundary, id) */
    uint32_t dheap_len, dheap_cap;

    /* Events: [first_event_seq, last_event_seq] are retained; ring[seq & (ring_cap - 1)]. */
    uint64_t last_event_seq;
    uint64_t first_event_seq;
    ldi_ev_slot *ring;
    uint64_t ring_cap;
    ld_event_view *batch_ev; /* the events of the last (or current) batch */
    uint32_t batch_ev_len, batch_ev_cap;
    uint32_t *dirty_drops; /* drops whose stock changed in this batch, in first-change order */
    uint32_t dirty_drops_len, dirty_drops_cap;
    uint32_t *dirty_topics; /* topics whose record changed in this batch */
    uint32_t dirty_topics_len, dirty_topics_cap;
    uint32_t ops_left; /* ops of the batch after the one being applied */

    ldi_relay *relays; /* relay cursors, by source shard (unsorted, few) */
    uint32_t relays_len, relays_cap;

    /* The op being applied. */
    uint64_t cur_op;
    ld_id cur_id_seed; /* the batch's id seed (ld_batch_stamp) */
    uint32_t cur_index;
    int64_t now_ms;
};

/* ---- sm.c ----------------------------------------------------------------------------------- */

/* Aborts the replica: a deterministic state machine cannot answer "out of memory" for one op
 * (the other replicas would not), so it stops and recovers, as on any crash. */
_Noreturn void ldi_sm_oom(const char *file, int line);
#define LDI_MUST(expr)                                                                             \
    do {                                                                                           \
        if ((expr) != LD_OK)                                                                       \
            ldi_sm_oom(__FILE__, __LINE__);                                                        \
    } while (0)

uint32_t ldi_drop_find(const ld_sm *sm, const ld_id *id);
uint32_t ldi_res_find(const ld_sm *sm, const ld_id *id);
uint32_t ldi_order_find(const ld_sm *sm, const ld_id *id);
uint32_t ldi_ud_find(const ld_sm *sm, const ld_id *drop_id, const ld_id *user_id);
uint32_t ldi_key_find(const ld_sm *sm, const ldi_key_id *id);
uint64_t ldi_key_hash(const ldi_key_id *id);
bool ldi_key_eq(const void *ctx, uint32_t idx, const void *key);

static inline ldi_drop *
ldi_drop_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->drops, idx);
}
static inline ldi_res *
ldi_res_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->res, idx);
}
static inline ld_order_view *
ldi_order_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->orders, idx);
}
static inline ldi_ud *
ldi_ud_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->uds, idx);
}
static inline ldi_idem *
ldi_key_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->keys, idx);
}
static inline ldi_payreq *
ldi_payreq_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->pays, idx);
}
static inline ldi_user *
ldi_user_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->users, idx);
}
static inline ldi_creator *
ldi_creator_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->creators, idx);
}
static inline ldi_product *
ldi_product_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->products, idx);
}
static inline ldi_edge *
ldi_edge_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->edges, idx);
}
static inline ldi_fol *
ldi_fol_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->fols, idx);
}
static inline ldi_fan *
ldi_fan_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->fans, idx);
}
static inline ldi_topic *
ldi_topic_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->topics, idx);
}

/* ---- op.c: the op table ------------------------------------------------------------------- */

/* Whose id a write's handler compares with op.principal (ldi_principal_is), before any
 * idempotency lookup. The handler knows which user or creator of the record it must be; the
 * row says which kind, and apply asserts that a write with a rule never succeeds without one. */
typedef enum ldi_principal_rule {
    LDI_PRINCIPAL_NONE = 0, /* reads, internal ops: none is checked */
    LDI_PRINCIPAL_USER,     /* the user the write acts for */
    LDI_PRINCIPAL_CREATOR,  /* the creator the write acts for */
} ldi_principal_rule;

enum {
    LDI_OP_WRITE = 1u << 0,  /* changes state: goes through the log (ld_op_is_write) */
    LDI_OP_CLIENT = 1u << 1, /* a client may send it (ld_op_is_client) */
    LDI_OP_PAGE = 1u << 2,   /* answered with an ld_page (ld_op_is_page) */
};

/* The handlers a row carries. `res` (and the page header) is zeroed by the dispatcher; a handler
 * fills it, ld_result_fail() on refusal. apply runs inside ld_sm_apply at sm->now_ms (the batch's
 * time); read and page run at `now_ms` and change nothing. Thread: the state machine's. */
typedef void ldi_op_apply_fn(ld_sm *sm, const ld_op *op, ld_result *res);
typedef void ldi_op_read_fn(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
typedef void ldi_op_page_fn(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page,
                            ld_result *res);

/* One row of the op table (op.c): everything the state machine knows about an op type. At most
 * one of read / page is set; a write has apply; a read op in a batch is answered by its read
 * handler at the batch's time. An op with no handler (GET_CLUSTER_STATUS: the node answers it)
 * is refused by the state machine with LD_ERR_UNKNOWN_OP. */
typedef struct ldi_op_row {
    const char *name; /* for logs and messages, e.g. "reserve" */
    unsigned flags;   /* LDI_OP_* */
    ldi_principal_rule principal;
    ldi_op_apply_fn *apply;
    ldi_op_read_fn *read;
    ldi_op_page_fn *page;
} ldi_op_row;

/* The row of `type`; for an unknown type a row named "unknown" with no flags and no handlers.
 * Never NULL. Thread: any. */
const ldi_op_row *ldi_op_row_of(ld_op_type type);

/* True when op->principal is `want` (and set); otherwise fills res with LD_ERR_FORBIDDEN,
 * naming the expected principal by its role (e.g. "the reservation's user"), and returns false. */
bool ldi_principal_is(const ld_op *op, const ld_id *want, const char *role, ld_result *res);

ld_drop_status ldi_drop_status(const ldi_drop *drop, int64_t now_ms);
void ldi_drop_view(const ldi_drop *drop, int64_t now_ms, ld_drop_view *out);
/* LD_ASSERTs P1 on one drop. */
void ldi_drop_assert_p1(const ldi_drop *drop);

/* Finds or creates the (drop, user) counters; LD_ERR_CAPACITY. Creation needs a reserved
 * index slot (ldi_table_reserve) which this function takes care of. */
ld_err ldi_ud_get(ld_sm *sm, const ld_id *drop_id, const ld_id *user_id, uint32_t *idx_out);
/* Deletes the counters when they are all zero. */
void ldi_ud_maybe_free(ld_sm *sm, uint32_t idx);

/* Write-through of records to the store (record.c encodes). */
void ldi_put_drop(ld_sm *sm, const ldi_drop *drop);
void ldi_put_res(ld_sm *sm, const ldi_res *res);
void ldi_del_res(ld_sm *sm, const ldi_res *res);
void ldi_put_order(ld_sm *sm, const ld_order_view *order);
void ldi_put_key(ld_sm *sm, const ldi_idem *key);
void ldi_del_key(ld_sm *sm, const ldi_idem *key);
void ldi_put_meta(ld_sm *sm);

/* ---- heap.c: active reservations by (expires_at, id); closed FIFO -------------------------- */

ld_err ldi_heap_reserve(ld_sm *sm, uint32_t n);
void ldi_heap_push(ld_sm *sm, uint32_t res_idx);
void ldi_heap_remove(ld_sm *sm, uint32_t res_idx);
/* LDI_NIL when empty. */
uint32_t ldi_heap_top(const ld_sm *sm);
bool ldi_heap_less(const ld_sm *sm, uint32_t a, uint32_t b);
void ldi_closed_append(ld_sm *sm, uint32_t res_idx);
/* Unlinks the head of the closed FIFO (which must exist) and returns it. */
uint32_t ldi_closed_pop(ld_sm *sm);

/* ---- actor.c: the drop actor's rules ------------------------------------------------------- */

void ldi_create_drop(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_reserve(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_checkout(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_release(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_finish_order(ld_sm *sm, const ld_op *op, ld_result *res);
/* GET_DROP, GET_RESERVATION, GET_ORDER. */
void ldi_get_drop(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
void ldi_get_reservation(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
void ldi_get_order(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
/* Closes an active reservation whose time is up (stock back, payment failed). */
void ldi_expire_res(ld_sm *sm, uint32_t res_idx);
void ldi_res_view(const ldi_res *r, ld_reservation_view *out);
/* The id a reservation made at (op_number, index in batch) of a batch with id seed `id_seed`
 * gets; never zero (proto/PROTOCOL.md, "Ids the cluster makes"). */
ld_id ldi_res_id_derive(const ld_id *id_seed, uint64_t op_number, uint32_t index);
/* The id of the order of a reservation; never zero. */
ld_id ldi_order_id_derive(const ld_id *res_id);
/* Deletes a closed reservation (retention over, or evicted for room). */
void ldi_res_delete(ld_sm *sm, uint32_t res_idx);

/* ---- idem.c: idempotency keys -------------------------------------------------------------- */

/* XXH3_128 of the canonical encoding of a reserve / place_order body (op type included). */
void ldi_request_hash(const ld_op *op, uint8_t out[16]);
void ldi_key_id_of(const ld_op_reserve *op, ldi_key_id *out);
/* Returns the live key for `id` at sm->now_ms (a key past its TTL is forgotten first), or
 * LDI_NIL; *hash_out gets the key's index hash for ldi_key_create(). */
uint32_t ldi_key_lookup(ld_sm *sm, const ldi_key_id *id, uint64_t *hash_out);
/* Replays the stored result of a DONE key into res. */
void ldi_key_result(const ldi_idem *key, ld_result *res);
/* Creates a key with the given status and result (copied). Room must be available:
 * ldi_key_room() returned LD_OK. Returns the pool index. */
ld_err ldi_key_room(ld_sm *sm);
uint32_t ldi_key_create(ld_sm *sm, const ldi_key_id *id, uint64_t key_hash, const uint8_t hash[16],
                        uint8_t status, const ld_result *result);
/* Sets a key's status to DONE with `result` and writes it. */
void ldi_key_finish(ld_sm *sm, uint32_t key_idx, const ld_result *result);
/* Forgets a key (TTL over). */
void ldi_key_delete(ld_sm *sm, uint32_t key_idx);
void ldi_key_fifo_append(ld_sm *sm, uint32_t key_idx);

/* ---- expiry.c: TICK ------------------------------------------------------------------------ */

void ldi_tick(ld_sm *sm, const ld_op *op, ld_result *res);
int64_t ldi_next_deadline(const ld_sm *sm);

/* ---- catalog.c: users, creators, products ------------------------------------------------- */

uint32_t ldi_user_find(const ld_sm *sm, const ld_id *id);
uint32_t ldi_creator_find(const ld_sm *sm, const ld_id *id);
/* Case-insensitive (handles are ASCII). */
uint32_t ldi_creator_find_handle(const ld_sm *sm, const char *handle);
uint32_t ldi_product_find(const ld_sm *sm, const ld_id *id);
void ldi_create_user(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_create_creator(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_create_product(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_update_product(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_get_user(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
void ldi_get_creator(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
void ldi_get_product(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
void ldi_user_view(const ld_sm *sm, const ldi_user *user, ld_user_view *out);
void ldi_creator_view(const ldi_creator *creator, ld_creator_view *out);
void ldi_product_view(const ldi_product *product, ld_product_view *out);
/* Index insertion of records loaded by recovery; LD_ERR_STORAGE on duplicates or no room. */
ld_err ldi_user_load(ld_sm *sm, const ldi_user *user);
ld_err ldi_creator_load(ld_sm *sm, const ldi_creator *creator);
ld_err ldi_product_load(ld_sm *sm, const ldi_product *product);
void ldi_put_creator_rec(ld_sm *sm, const ldi_creator *creator);
void ldi_list_products(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page,
                       ld_result *res);

/* ---- follow.c: follow edges, the derived following side, relay ----------------------------- */

/* FOLLOW and UNFOLLOW. */
void ldi_follow(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_relay_follow(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_is_following(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *res);
uint32_t ldi_edge_find(const ld_sm *sm, const ld_id *user_id, const ld_id *creator_id);
uint32_t ldi_fol_find(const ld_sm *sm, const ld_id *user_id, const ld_id *creator_id);
uint32_t ldi_fan_find(const ld_sm *sm, const ld_id *user_id);
uint64_t ldi_relay_get(const ld_sm *sm, uint32_t source_shard);
/* Recovery: adds a loaded edge / following entry / relay cursor (derived counts included). */
ld_err ldi_edge_load(ld_sm *sm, const ldi_edge *edge);
ld_err ldi_fol_load(ld_sm *sm, const ldi_fol *fol);
ld_err ldi_relay_load(ld_sm *sm, const ldi_relay *relay);
void ldi_list_followers(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page,
                        ld_result *res);
void ldi_list_following(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page,
                        ld_result *res);

/* ---- events.c: topics, emission, retention ------------------------------------------------- */

uint32_t ldi_topic_find(const ld_sm *sm, uint8_t kind, const ld_id *id);
/* Finds or creates (and writes) a topic. LD_ERR_CAPACITY when the topic table is full. */
ld_err ldi_topic_get(ld_sm *sm, uint8_t kind, const ld_id *id, uint32_t *idx_out);
/* True when n more topics fit. */
bool ldi_topic_room(const ld_sm *sm, uint32_t n);
ld_err ldi_topic_insert_loaded(ld_sm *sm, const ldi_topic *topic);
/* Emits an event whose type, ids, stock, qty and title are set; fills seq, ts and topic_seq. */
void ldi_emit(ld_sm *sm, ld_event_view *ev);
void ldi_emit_drop(ld_sm *sm, const ldi_drop *drop, ld_event_type type);
void ldi_emit_res(ld_sm *sm, const ldi_res *r, ld_event_type type, const ld_id *order_id);
/* Marks a drop for the batch's coalesced STOCK_CHANGED. Hot path: a flag test when marked. */
void ldi_stock_changed(ld_sm *sm, uint32_t drop_idx);
/* After `available` fell from available_before: LOW_STOCK (once per drop) and SOLD_OUT. */
void ldi_stock_fell(ld_sm *sm, uint32_t drop_idx, int64_t available_before);
void ldi_batch_begin(ld_sm *sm, size_t n);
/* Emits the coalesced STOCK_CHANGED events and writes the changed topic counters. */
void ldi_batch_end(ld_sm *sm);
/* Events a TICK may still emit in this batch (room kept for every op after it). */
uint32_t ldi_ev_room(const ld_sm *sm);
bool ldi_trim_due(const ld_sm *sm);
/* Trims up to max of the oldest events past retention; returns how many. */
uint32_t ldi_trim(ld_sm *sm, uint32_t max);
const ldi_ev_slot *ldi_ring_at(const ld_sm *sm, uint64_t seq);
/* Recovery: appends a loaded event (in seq order) to the ring. */
ld_err ldi_ring_load(ld_sm *sm, const ld_event_view *ev);
/* Reads event `seq` from the durable store; *found_out false when it is not there. Returns
 * LD_ERR_STORAGE on a store error or a bad record. */
ld_err ldi_event_read(const ld_sm *sm, uint64_t seq, ld_event_view *out, bool *found_out);

/* ---- browse.c: drop status, cancel, browse index -------------------------------------------- */

/* The drop's next status boundary while announced UPCOMING (starts_at) or LIVE (ends_at). */
int64_t ldi_drop_boundary(const ldi_drop *drop);
/* The browse sort key of the drop's announced status. */
uint64_t ldi_browse_sort_key(const ldi_drop *drop);
/* Announces a new drop: status, browse record, boundary heap, DROP_SCHEDULED (and DROP_LIVE). */
void ldi_drop_schedule(ld_sm *sm, uint32_t drop_idx);
void ldi_cancel_drop(ld_sm *sm, const ld_op *op, ld_result *res);
/* Moves at most `max` drops past due boundaries (each move needs one event of room). */
uint32_t ldi_drop_transitions(ld_sm *sm, uint32_t max);
int64_t ldi_drop_next_boundary(const ld_sm *sm);
ld_err ldi_dheap_reserve(ld_sm *sm, uint32_t n);
void ldi_dheap_push(ld_sm *sm, uint32_t drop_idx);
bool ldi_dheap_less(const ld_sm *sm, uint32_t a, uint32_t b);
void ldi_list_drops(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page,
                    ld_result *res);

/* ---- page.c: page reads --------------------------------------------------------------------- */

/* Visits one index entry of a page walk: appends an item to `page` (page->count++) when the entry
 * passes the list's filter. Returns false when the entry is malformed (LD_ERR_STORAGE). */
typedef bool (*ldi_walk_visit_fn)(void *arg, ld_page *page, uint64_t sort_key, const ld_id *id,
                                  const uint8_t *val, size_t val_len);

/* A keyset walk over list index records type | mid | sort_key | id (record.h), ascending. */
typedef struct ldi_walk {
    uint8_t type;
    const void *mid;
    size_t mid_len;
    ld_cursor_list list;
    uint32_t first;    /* items wanted (already defaulted and checked) */
    uint32_t scan_max; /* entries examined at most */
    ldi_walk_visit_fn visit;
    void *arg;
} ldi_walk;

/* Runs a page of `w` strictly after the cursor `after` (empty: from the start). Sets
 * has_next_page (one more entry exists after the last examined) and end_cursor (the last examined
 * entry; `after` itself when none was). Returns false with res filled (INVALID_CURSOR, STORAGE). */
bool ldi_walk_run(const ld_sm *sm, const ldi_walk *w, const char *after, ld_page *page,
                  ld_result *res);
/* `first` 0 -> LD_PAGE_DEFAULT; above max -> false with VALUE_OUT_OF_RANGE in res. */
bool ldi_page_first(const char *name, uint32_t first, uint32_t max, uint32_t *out, ld_result *res);

/* PULL_EVENTS: the shard's stream or one topic's, from the store. */
void ldi_pull_events(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page,
                     ld_result *res);

/* ---- feed.c ---------------------------------------------------------------------------------- */

void ldi_list_notifications(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page,
                            ld_result *res);

/* ---- check.c ----------------------------------------------------------------------------------
 */

/* Compares every index record of the durable store with memory (LD_ASSERT). Call it only when
 * everything applied is durable. O(store). For tests. */
void ldi_sm_check_store(const ld_sm *sm);

/* ---- recover.c ----------------------------------------------------------------------------- */

/* Rebuilds memory from the store's records. Returns LD_ERR_STORAGE on any bad record. */
ld_err ldi_recover(ld_sm *sm);

#endif /* LD_SHARD_SM_INT_H */
