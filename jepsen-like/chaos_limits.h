/*
 * chaos_limits.h -- the limits of livedrop-chaos, the chaos harness, and only of it.
 *
 * Every limit of the system itself (the node, the shard, the wire, the client library) lives in
 * proto/ld_limits.h. The numbers below bound what the harness process keeps and waits for: its
 * history, its tables, its deadlines. They are harness-only: nothing outside jepsen-like/ reads
 * them, so they do not belong in the project's header. Units are in the names.
 */
#ifndef LDC_CHAOS_LIMITS_H
#define LDC_CHAOS_LIMITS_H

#include "ld_limits.h"

/* ---- the run -------------------------------------------------------------------------------- */
#define LDC_NODES 3              /* one shard, replication factor 3 */
#define LDC_CLIENTS_MAX 64u      /* client threads */
#define LDC_STOCK_MAX 100000     /* --stock */
#define LDC_QTY_MAX 10           /* --qty-max: units in one order (<= LD_QTY_MAX) */
#define LDC_RATE_MAX 10000u      /* --rate: orders started per second, all clients */
#define LDC_TIME_S_MAX 3600u     /* --time */
#define LDC_INTERVAL_MS_MIN 200u /* --interval-ms: mean quiet time between two faults */
#define LDC_INTERVAL_MS_MAX 600000u
#define LDC_KEYS_MAX 65536u  /* logical orders (idempotency keys) in one history */
#define LDC_ATTEMPTS_MAX 40u /* calls of one key (the first and its same-key retries) */
#define LDC_HISTORY_BYTES_MAX (64u << 20) /* history.jsonl; past it the run stops and FAILs */
#define LDC_LINE_BYTES_MAX 1024u          /* one JSONL record */
#define LDC_FIELDS_MAX 24u                /* fields in one record */
#define LDC_PATH_BYTES_MAX 512u           /* --dir and the files in it */
#define LDC_FINAL_ORDERS_MAX                                                                       \
    (4u * (LDC_STOCK_MAX + LDC_KEYS_MAX)) /* order lines in final.jsonl                            \
                                           */
#define LDC_EVENT_PAGES_MAX 10000u /* pages of one event pull walk (LD_PULL_EVENTS_MAX each) */
#define LDC_REPORT_ERRORS_MAX 20u  /* violations printed per check (all are counted) */

/* ---- deadlines (every wait polls a condition and ends at one of these) ------------------------
 */
#define LDC_CALL_TIMEOUT_MS_DEFAULT 15000u /* one client call; covers a failover to a dead node */
#define LDC_RETRY_PAUSE_MS 100u       /* between two calls of one key after a transport error */
#define LDC_DRAIN_MS 60000            /* after the run: same-key retries still unresolved end */
#define LDC_START_MS 30000            /* a node prints its ready line */
#define LDC_RECOVER_MS 60000          /* a healed node is back in normal status (and caught up) */
#define LDC_PRIMARY_MS 60000          /* a primary with its lease, after healing */
#define LDC_SETTLE_MS 30000           /* reservations left by dead payments expire (TTL below) */
#define LDC_CONVERGE_MS 60000         /* every replica at the same applied op and digest */
#define LDC_STATUS_TIMEOUT_MS 500u    /* one GetClusterStatus to one node */
#define LDC_POLL_MS 20                /* poll interval of those waits */
#define LDC_PAYMENT_SLOW_MS 1000u     /* pm_card_slow's delay (cluster.conf payment_slow_ms) */
#define LDC_RESERVATION_TTL_MS 3000LL /* the drop's: a reservation whose payment died expires */

_Static_assert(LDC_QTY_MAX <= LD_QTY_MAX, "an order's qty is bounded by the node's");
_Static_assert(LDC_STOCK_MAX <= LD_STOCK_MAX, "the drop's stock is bounded by the node's");
_Static_assert(LDC_RESERVATION_TTL_MS >= LD_RESERVATION_TTL_MS_MIN, "TTL within the node's");
_Static_assert(LDC_KEYS_MAX <= LD_IDEMPOTENCY_KEYS_MAX, "keys within the node's");

#endif /* LDC_CHAOS_LIMITS_H */
