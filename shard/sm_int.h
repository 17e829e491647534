/*
 * sm_int.h -- internals of the shard state machine, shared by sm.c, actor.c, idem.c, expiry.c,
 * recover.c and record.c. Not a contract: only shard/ and its unit tests include it.
 *
 * Memory layout. Every record lives in a pool (pool.h) and is found through a hash index
 * (table.h) keyed by its fixed bytes:
 *
 *   drops        ldi_drop     by drop id            spec + created_at; stock is derived
 *   reservations ldi_res      by reservation id     active ones in `heap`, closed ones in the
 *                                                   `closed` FIFO until retention ends
 *   orders       ld_order_view by order id          kept for good
 *   user_drops   ldi_ud       by (drop id, user id) reserved + bought + active counts; derived
 *   keys         ldi_idem     by (drop, user, key)  in the `keys` FIFO (creation order)
 *   payments     ldi_pay      (no index)            place_orders awaiting FINISH_ORDER
 *
 * Derived state (stock, user_drops, heap, FIFOs, payments links) is never stored: ld_sm_open()
 * rebuilds it from the records (record.h), and ld_sm_check() recomputes it from scratch.
 *
 * Ordering for bounded work. A TICK removes at most LD_TICK_OPS_EXPIRE_MAX things, so which ones
 * it picks must not depend on history (a restarted replica must pick the same ones). Every
 * order used is total and persisted: the heap orders by (expires_at, id); the FIFOs order by
 * `seq`, a counter stored in the meta record and in each record that sits in a FIFO.
 */
#ifndef LD_SHARD_SM_INT_H
#define LD_SHARD_SM_INT_H

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
} ldi_sm_caps;

ldi_sm_caps ldi_sm_caps_default(void);

/* As ld_sm_open(), with explicit capacities (tests use small ones). Each must be >= 1. */
ld_err ldi_sm_open_with_caps(const ld_store *store, const ldi_sm_caps *caps, ld_sm **out);

typedef struct ldi_drop {
    ld_op_create_drop spec;
    int64_t created_at_ms;
    ld_stock stock; /* derived: reserved = sum of active qty, sold = sum of PAID orders' qty */
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

typedef struct ldi_pay {
    uint32_t res_idx;
    uint32_t key_idx;
    char payment_method[LD_PAYMENT_METHOD_BYTES_MAX + 1];
} ldi_pay;

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

struct ld_sm {
    const ld_store *store;
    ldi_sm_caps caps;
    uint64_t applied_op;
    int64_t last_ts_ms;
    uint64_t next_seq;

    ldi_pool drops, res, orders, uds, keys, pays;
    ldi_table drop_index, res_index, order_index, ud_index, key_index;

    uint32_t *heap; /* active reservations, min by (expires_at, id) */
    uint32_t heap_len, heap_cap;
    uint32_t closed_head, closed_tail; /* closed reservations by seq */
    uint32_t key_head, key_tail;       /* keys by seq */

    /* The op being applied. */
    uint64_t cur_op;
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
static inline ldi_pay *
ldi_pay_at(const ld_sm *sm, uint32_t idx)
{
    return ldi_pool_at(&sm->pays, idx);
}

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

void ldi_create_drop(ld_sm *sm, const ld_op_create_drop *op, ld_result *res);
void ldi_reserve(ld_sm *sm, const ld_op *op, ld_result *res);
void ldi_commit(ld_sm *sm, const ld_op_commit *op, ld_result *res);
void ldi_release(ld_sm *sm, const ld_id *res_id, ld_result *res);
void ldi_finish_order(ld_sm *sm, const ld_op_finish_order *op, ld_result *res);
/* Closes an active reservation whose time is up (stock back, payment failed). */
void ldi_expire_res(ld_sm *sm, uint32_t res_idx);
void ldi_res_view(const ldi_res *r, ld_reservation_view *out);
/* The id a reservation made at (op_number, index in batch) gets; never zero. */
ld_id ldi_res_id_derive(uint64_t op_number, uint32_t index);
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

void ldi_tick(ld_sm *sm, ld_result *res);
int64_t ldi_next_deadline(const ld_sm *sm);

/* ---- recover.c ----------------------------------------------------------------------------- */

/* Rebuilds memory from the store's records. Returns LD_ERR_STORAGE on any bad record. */
ld_err ldi_recover(ld_sm *sm);

#endif /* LD_SHARD_SM_INT_H */
