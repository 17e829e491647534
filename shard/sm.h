/*
 * sm.h -- the shard state machine: drops, their actors, reservations, orders, idempotency keys,
 * users, creators, catalog products, follows, events (the outbox) and page reads.
 *
 * Pure and deterministic (docs/ARCHITECTURE.md §2, P4): the state after ld_sm_apply() is a function
 * of the state before and the batch (op number, timestamp, ops). No clock reads, no randomness, no
 * I/O except through the ld_store ops table. Ids of reservations and orders are derived from the
 * batch's id seed (16 random bytes the primary drew when it formed the log entry), the op number
 * and the op's position in the batch: every replica derives the same ids, and no two clusters,
 * shards or reformats of one do (proto/PROTOCOL.md, "Ids the cluster makes").
 *
 * Each drop is an actor: its inventory {available, reserved, sold}, reservations and per-user
 * counts are touched only by ops addressed to it, in log order. After every op that touches a
 * drop, LD_ASSERT checks available + reserved + sold == initial_stock, each >= 0 (P1).
 *
 * Rules (see proto/PROTOCOL.md for the codes):
 *   - create_drop: idempotent by id (LD_EXISTS if identical, LD_ERR_ID_CONFLICT otherwise);
 *     ends_at must be after starts_at and after the batch time (LD_ERR_INVALID_TIME).
 *   - status: UPCOMING while ts < starts_at, LIVE while ts < ends_at, then ENDED.
 *   - reserve: only while LIVE; qty <= available (else SOLD_OUT); reserved + bought by the user
 *     on this drop + qty <= max_per_user (else USER_LIMIT); at most
 *     LD_ACTIVE_RESERVATIONS_PER_USER_MAX active reservations per (user, drop).
 *     Reservation expires at ts + the drop's reservation TTL.
 *   - idempotency (reserve, place_order): key scoped to (user, drop), holding a hash of the
 *     request body (op type included), its status and its result, forgotten
 *     LD_IDEMPOTENCY_TTL_MS after first use. Same key + same body -> the first result again
 *     (a refusal too); different body -> IDEMPOTENCY_KEY_REUSED; first still awaiting payment
 *     -> IN_PROGRESS.
 *   - commit: active reservation -> order PAID with the payment ref; committing a committed
 *     reservation again with the same payment ref returns the same order (LD_OK), with another
 *     ref -> IDEMPOTENCY_KEY_REUSED; released -> RESERVATION_CLOSED; expired (state EXPIRED, or
 *     ts >= expires_at) -> RESERVATION_EXPIRED (and the stock goes back at once). Commit is
 *     allowed after ends_at if the reservation is still active.
 *   - release: active -> stock back (LD_OK, RELEASED); released or expired (state EXPIRED, or
 *     ts >= expires_at, which expires it now) -> LD_OK with the reservation as it ended;
 *     committed -> RESERVATION_CLOSED (committed reservations cannot be released).
 *   - place_order: reserve with the key marked in progress; result needs_payment. FINISH_ORDER
 *     then commits (approved) or releases (declined) and stores the final result under the key:
 *     the order (PAID), or PAYMENT_DECLINED / RESERVATION_EXPIRED with a FAILED order.
 *   - tick: expires up to LD_TICK_OPS_EXPIRE_MAX due reservations (stock back; a place_order
 *     awaiting payment gets RESERVATION_EXPIRED and a FAILED order) and forgets due keys and
 *     retained closed reservations.
 *
 * Principals, drop status, follows and events (catalog.c, follow.c, browse.c, events.c, feed.c
 * and page.c say more):
 *   - principals: every client write is checked against op.principal before any idempotency
 *     lookup (LD_ERR_FORBIDDEN, the message names the expected principal's role); a missing
 *     principal is refused like a wrong one, the drop and order writes included.
 *   - the drop status of views is CANCELLED if cancelled, else computed from the time. The
 *     announced status (events, browse index) moves by create_drop, cancel_drop and TICK;
 *     ld_sm_next_deadline_ms() includes the next boundary. A TICK finding a drop past both
 *     boundaries emits DROP_LIVE then DROP_ENDED.
 *   - FOLLOWED / UNFOLLOWED events carry the creator's handle in `title` (for RELAY_FOLLOW).
 *   - events: seq dense from 1; a batch emits at most LDI_BATCH_EVENTS_MAX (sm_int.h), every
 *     TICK step asking for room first. A user's topic is created by its first event; when the
 *     topic table (LD_TOPICS_MAX) is full the event is written without that topic.
 *   - a TICK also trims, oldest first, up to LD_TICK_OPS_EXPIRE_MAX events behind the newest
 *     LD_EVENTS_RETAIN; ld_sm_next_deadline_ms() is the last batch time while a trim is due.
 *
 * Details the rules above leave open, as implemented (actor.c, idem.c and expiry.c say more):
 *   - more than LD_ACTIVE_RESERVATIONS_PER_USER_MAX active reservations -> USER_LIMIT.
 *   - LD_ERR_CAPACITY is never stored under an idempotency key; every other refusal is.
 *   - commit or release of a reservation whose place_order payment is running -> IN_PROGRESS;
 *     release (like commit) of an active reservation at or after expires_at expires it now.
 *   - a full reservation table deletes its oldest closed (retained) reservation early.
 *   - running out of memory inside ld_sm_apply() aborts the process (fail-stop): an
 *     "out of memory" answer for one op would make the replicas diverge.
 */
#ifndef LD_SHARD_SM_H
#define LD_SHARD_SM_H

#include "op.h"
#include "store.h"

typedef struct ld_sm ld_sm;

/* Allocates a state machine and rebuilds its state from `store` (scan of every record).
 * Borrows `store`, which must outlive the state machine. Returns owned, free with ld_sm_free();
 * LD_ERR_STORAGE if a record cannot be decoded or the scan fails; LD_ERR_NOMEM.
 * Thread: the caller's, then only that thread may use the state machine. */
ld_err ld_sm_open(const ld_store *store, ld_sm **out);
void ld_sm_free(ld_sm *sm);

/* What the primary stamped on a batch when it formed its log entry (ldpb.LogEntry op,
 * timestamp_ms and id_seed). Every replica applies the entry with the same stamp. */
typedef struct ld_batch_stamp {
    uint64_t op;   /* the entry's log position */
    int64_t ts_ms; /* the batch time: expiry, status and key retention run on it */
    ld_id id_seed; /* drawn at random by the primary for this entry; never drawn at apply time */
} ld_batch_stamp;

/* Applies one batch of write ops (ld_op_is_write) as the log entry `stamp` describes.
 * stamp->op must be ld_sm_applied_op() + 1 and stamp->ts_ms >= the last batch's timestamp
 * (asserted). Writes one result per op into results_out[0..n) and every state change to the
 * store. Never fails as a whole: each op's refusal is in its result. Borrows everything. */
void ld_sm_apply(ld_sm *sm, const ld_batch_stamp *stamp, const ld_op *ops, size_t n,
                 ld_result *results_out);

/* Answers a read op (GET_*, IS_FOLLOWING) from the applied state, with drop status as of
 * now_ms. */
void ld_sm_read(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *result_out);

/* Answers a page op (ld_op_is_page: LIST_*, PULL_EVENTS) from the applied and durable state:
 * index records are read back through the store's seek(), so call it only when everything
 * applied has been synced. On LD_OK fills *page_out (result_out->code LD_OK, kind NONE);
 * otherwise result_out holds the refusal (e.g. ERR_INVALID_CURSOR, ERR_EVENTS_TRIMMED) and
 * page_out is unspecified. A PULL_EVENTS with nothing after its cursor returns an empty page:
 * the node decides whether to hold it (wait_ms). */
void ld_sm_read_page(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_page *page_out,
                     ld_result *result_out);

/* ---- events (the outbox, docs/ARCHITECTURE.md §10) ----------------------------------------------
 * Every applied change writes its events through the store in the same write as the change:
 * record `E|seq` plus the topic index records. seq is dense from 1. STOCK_CHANGED is coalesced:
 * one per drop per batch, after the batch's other events of that drop. LOW_STOCK is emitted
 * once per drop, when available first falls to the threshold or below; SOLD_OUT each time
 * available reaches 0; DROP_LIVE / DROP_ENDED by the TICK that moves the drop's status, which
 * the node issues within LD_TICK_INTERVAL_MS of starts_at / ends_at (ld_sm_next_deadline_ms
 * includes those boundaries). */

/* Seq of the newest event (0: none yet). */
uint64_t ld_sm_last_event_seq(const ld_sm *sm);
/* The events emitted by the last ld_sm_apply(), in seq order; valid until the next apply. The
 * node publishes them (push) and relays FOLLOWED / UNFOLLOWED as RELAY_FOLLOW ops. */
size_t ld_sm_batch_events(const ld_sm *sm, const ld_event_view **events_out);
/* The relay cursor of the derived follow index: the last (source shard `source_shard`) event
 * seq applied by RELAY_FOLLOW. After a restart the node relays FOLLOWED / UNFOLLOWED events
 * from here (reading them with a PULL_EVENTS page). */
uint64_t ld_sm_relay_cursor(const ld_sm *sm, uint32_t source_shard);

/* Op number of the last applied batch (0 for a new shard). Persisted by the state machine. */
uint64_t ld_sm_applied_op(const ld_sm *sm);
/* Timestamp of the last applied batch (0 for a new shard). */
int64_t ld_sm_last_ts(const ld_sm *sm);

/* Earliest time at which a TICK op would have work (a reservation or key due, a drop status
 * boundary, events to trim), or INT64_MAX. */
int64_t ld_sm_next_deadline_ms(const ld_sm *sm);

/* Calls cb for every place_order still awaiting FINISH_ORDER (after a restart, the node runs
 * these payments again; providers deduplicate by reservation id). Returns how many. */
size_t ld_sm_pending_payments(const ld_sm *sm, void (*cb)(void *arg, const ld_payment_request *req),
                              void *arg);

/* Checks P1 on every drop and the consistency of every index; LD_ASSERT on violation. O(state). */
void ld_sm_check(const ld_sm *sm);

/* A 64-bit digest of the whole logical state (order-independent): equal states, equal digests.
 * Used by tests and, later, by replicas comparing state. O(state). */
uint64_t ld_sm_digest(const ld_sm *sm);

/* Counts, for metrics and tests. */
typedef struct ld_sm_stats {
    uint64_t drops;
    uint64_t reservations; /* records held, active and retained */
    uint64_t reservations_active;
    uint64_t orders;
    uint64_t idempotency_keys;
    uint64_t users;
    uint64_t creators;
    uint64_t products;
    uint64_t follows;
    uint64_t last_event_seq;
} ld_sm_stats;
void ld_sm_stats_get(const ld_sm *sm, ld_sm_stats *out);

#endif /* LD_SHARD_SM_H */
