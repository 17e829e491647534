/*
 * ld_limits.h -- every limit of livedrop, in one place (docs/ARCHITECTURE.md §2, P5).
 *
 * Shared by the node, the shard state machine and the client library: a client can check a
 * request against the same numbers the node enforces. Past a limit the caller gets a clear error
 * code (see ld_errors.def); nothing grows without bound. Units are in the names.
 *
 * Changing a wire limit (the LD_*_BYTES_MAX of strings, LD_FRAME_BYTES_MAX, LD_REQUEST_OPS_MAX)
 * is a protocol change: see the versioning rule in proto/PROTOCOL.md.
 */
#ifndef LD_LIMITS_H
#define LD_LIMITS_H

/* ---- wire ---------------------------------------------------------------------------------- */
#define LD_PROTOCOL_VERSION 1u
#define LD_FRAME_BYTES_MAX (1u << 20) /* one request or response frame */
#define LD_REQUEST_OPS_MAX 1024u      /* ops in one request message */
#define LD_ID_BYTES 16u               /* every id is a client-generated 128-bit value */
#define LD_MESSAGE_BYTES_MAX 200u     /* error message in a result */

/* ---- strings (bytes of UTF-8, excluding the terminating NUL) -------------------------------- */
#define LD_TITLE_BYTES_MAX 200u
#define LD_TAG_BYTES_MAX 32u
#define LD_TAGS_MAX 8u
#define LD_CURRENCY_BYTES 3u /* ISO 4217: exactly three upper-case letters */
#define LD_IDEMPOTENCY_KEY_BYTES_MAX 64u
#define LD_PAYMENT_METHOD_BYTES_MAX 64u
#define LD_PAYMENT_REF_BYTES_MAX 64u

#define LD_NAME_BYTES_MAX 100u
#define LD_EMAIL_BYTES_MAX 254u
#define LD_HANDLE_BYTES_MIN 3u
#define LD_HANDLE_BYTES_MAX 32u
#define LD_ATTRS_MAX 8u /* profile / attributes pairs */
#define LD_ATTR_KEY_BYTES_MAX 32u
#define LD_ATTR_VALUE_BYTES_MAX 128u
#define LD_CURSOR_BYTES_MAX 64u /* an opaque base64url page cursor */
#define LD_TOPIC_BYTES_MAX 48u  /* "creator/" + 32 hex digits */

/* ---- numbers ------------------------------------------------------------------------------- */
#define LD_QTY_MAX 100                     /* units in one reserve or order */
#define LD_STOCK_MAX 100000000             /* initial_stock of one drop */
#define LD_PRICE_MINOR_MAX 1000000000000LL /* 10^12 minor units */
#define LD_MAX_PER_USER_MAX 1000000 /* a drop's per-user limit; 0 on create means "unlimited" */
#define LD_TIME_MS_MIN 0LL          /* 1970-01-01 */
#define LD_TIME_MS_MAX 253402300799999LL       /* 9999-12-31T23:59:59.999Z */
#define LD_RESERVATION_TTL_MS_DEFAULT 120000LL /* 0 on create means the default */
#define LD_RESERVATION_TTL_MS_MIN 1000LL
#define LD_RESERVATION_TTL_MS_MAX 3600000LL
#define LD_IDEMPOTENCY_TTL_MS 86400000LL    /* keys are forgotten 24 h after first use */
#define LD_RESERVATION_RETAIN_MS 86400000LL /* closed reservations are kept this long */

/* ---- per-shard capacity (state is held in memory and persisted write-through) -------------- */
#define LD_DROPS_MAX 100000u
#define LD_RESERVATIONS_MAX (1u << 21) /* active and retained reservations */
#define LD_ORDERS_MAX (1u << 22)
#define LD_IDEMPOTENCY_KEYS_MAX (1u << 22)
#define LD_ACTIVE_RESERVATIONS_PER_USER_MAX 16u /* active reservations of one user on one drop */
#define LD_USER_DROP_ENTRIES_MAX (1u << 22)     /* (drop, user) counters */

#define LD_USERS_MAX (1u << 22)
#define LD_CREATORS_MAX (1u << 20)
#define LD_PRODUCTS_MAX (1u << 20)
#define LD_FOLLOWS_MAX (1u << 23) /* follow edges of the shard */
#define LD_FOLLOWING_MAX 2000u    /* creators one user follows */
#define LD_TOPICS_MAX (1u << 23)  /* topics with a topic_seq (creators, drops, users) */
#define LD_EVENTS_RETAIN 4000000u /* events kept behind the newest; older are trimmed */

/* ---- pages, events, notifications ---------------------------------------------------------- */
#define LD_PAGE_DEFAULT 20u              /* `first` when 0 */
#define LD_PAGE_EDGES_MAX 1000u          /* followers / following per page */
#define LD_PAGE_DROPS_MAX 100u           /* drops / products / notifications per page */
#define LD_BROWSE_SCAN_MAX 10000u        /* index entries one filtered page examines at most */
#define LD_PULL_EVENTS_MAX 1000u         /* events per pull */
#define LD_PULL_WAIT_MS_MAX 30000u       /* long-poll wait */
#define LD_REQUEST_LIST_OPS_MAX 8u       /* list/pull ops in one request (bounds the reply) */
#define LD_RESPONSE_BYTES_MAX (4u << 20) /* a response frame; the node never sends more */

/* ---- batching and time --------------------------------------------------------------------- */
#define LD_BATCH_OPS_MAX 8192u       /* ops in one log entry (one apply, one synced write) */
#define LD_TICK_OPS_EXPIRE_MAX 4096u /* expirations one tick op performs; the rest wait */
#define LD_TICK_INTERVAL_MS 25u      /* the node checks for due expirations this often */

/* ---- node ---------------------------------------------------------------------------------- */
#define LD_NODE_CONTEXTS 256u            /* concurrent requests the node accepts (NNG rep ctxs) */
#define LD_NODE_PENDING_OPS_MAX 65536u   /* ops waiting for a batch; past it: LD_ERR_BUSY */
#define LD_NODE_PAYMENTS_MAX 65536u      /* payments in flight */
#define LD_NODE_SHUTDOWN_DRAIN_MS 30000u /* SIGTERM waits this long for in-flight work */
#define LD_PAYMENT_SLOW_MS_DEFAULT 2000u /* pm_card_slow approves after this delay */
#define LD_PAYMENT_SLOW_MS_MAX 600000u
#define LD_LOG_RETAIN_ENTRIES 100000u /* log entries kept behind the applied op (RF=1) */
#define LD_NODE_LONG_POLLS_MAX 1024u  /* pull requests parked waiting for events */
#define LD_NODE_RELAY_BATCH_MAX 1024u /* follow events relayed per turn */

/* ---- replication (proto/REPLICATION.md) ----------------------------------------------------- */
#define LD_PEER_PROTOCOL_VERSION 1u
#define LD_PEER_FRAME_BYTES_MAX (16u << 20)         /* NNG_OPT_RECVMAXSZ of every peer socket */
#define LD_PEER_ENTRY_BYTES_MAX (8u << 20)          /* packed LogEntry in one prepare */
#define LD_PEER_PIPELINE_MAX 8u                     /* prepares in flight (op - commit_max) */
#define LD_HOST_FLIGHTS (2u * LD_PEER_PIPELINE_MAX) /* entries a primary's host waits on */
#define LD_HOST_OUTBOX_MAX 4096u    /* peer messages one turn may send; past it they are lost */
#define LD_PEER_DVC_HEADERS_MAX 64u /* headers in a DoViewChange / StartView suffix */
#define LD_PEER_WINDOW_MAX 64u      /* entries (bodies) a replica holds in memory */
#define LD_PEER_STATE_CHUNK_BYTES (1u << 20) /* data in one NewState */
#define LD_PEER_STATE_BYTES_MAX (1ull << 30) /* one checkpoint stream (held in memory) */
#define LD_PEER_LOG_RETAIN_ENTRIES LD_LOG_RETAIN_ENTRIES /* entries kept behind commit_min */
#define LD_PEER_REPLICAS_MAX 5u                          /* replication factor 1, 3 or 5 */
#define LD_PEER_TICK_MS 10u                              /* ld_repl_on_tick at least this often */
#define LD_PEER_PREPARE_RESEND_MS 50u
#define LD_PEER_PREPARE_RESEND_MAX_MS 400u
#define LD_PEER_COMMIT_INTERVAL_MS 50u
#define LD_PEER_VC_TIMEOUT_MS 500u
#define LD_PEER_VC_RETRY_MS 100u
#define LD_PEER_REPAIR_TIMEOUT_MS 100u
#define LD_PEER_LEASE_MS 200u
#define LD_PEER_SEND_QUEUE_MAX 1024u /* messages queued per peer socket; past it: dropped */
#define LD_PEER_RECV_QUEUE_MAX 4096u /* frames received, not yet drained by the loop: dropped */
#define LD_PEER_RECV_QUEUE_BYTES_MAX (64u << 20) /* ...and their bytes */
#define LD_PEER_RECONNECT_MIN_MS 10u  /* a lost peer connection is redialled after this... */
#define LD_PEER_RECONNECT_MAX_MS 100u /* ...doubling up to this */
_Static_assert(LD_PEER_COMMIT_INTERVAL_MS * 2 < LD_PEER_LEASE_MS,
               "an idle primary keeps its lease");
_Static_assert(LD_PEER_LEASE_MS * 1002 / 998 < LD_PEER_VC_TIMEOUT_MS, "leases are safe");
_Static_assert(LD_PEER_VC_TIMEOUT_MS >= 5 * LD_PEER_COMMIT_INTERVAL_MS, "lost heartbeats");
_Static_assert(LD_PEER_DVC_HEADERS_MAX >= LD_PEER_PIPELINE_MAX, "a DVC covers the pipeline");
_Static_assert(LD_PEER_WINDOW_MAX >= LD_PEER_DVC_HEADERS_MAX, "the window holds a DVC suffix");

/* ---- client -------------------------------------------------------------------------------- */
#define LD_CLIENT_TIMEOUT_MS_DEFAULT 10000u
#define LD_CLIENT_INFLIGHT_MAX 64u /* request messages in flight on one client */
#define LD_CLIENT_INFLIGHT_DEFAULT 8u
#define LD_CLIENT_QUEUE_OPS_MAX 65536u       /* ops queued in one client; past it: LD_ERR_BUSY */
#define LD_CLIENT_IN_PROGRESS_WAIT_MS 50u    /* place_order retries IN_PROGRESS after this pause */
#define LD_CLIENT_ADDRS_MAX 8u               /* node addresses one client knows (a cluster) */
#define LD_CLIENT_FAILOVER_TIMEOUT_MS 1000u  /* no answer this long: try the next node */
#define LD_CLIENT_NOT_PRIMARY_BACKOFF_MS 20u /* pause before retrying during a view change */
#define LD_CLIENT_ADDR_BYTES_MAX 256u        /* one node address (an NNG URL) */
/* A payment message waits for the provider (pm_card_slow: LD_PAYMENT_SLOW_MS_DEFAULT), so it
 * tries the next node only after this long without an answer. Long polls never fail over on
 * time (the node holds them on purpose): one whose node died ends at its deadline. */
#define LD_CLIENT_FAILOVER_SLOW_TIMEOUT_MS 5000u
/* ld_client_open with several addresses waits for every one to connect: at most this long in
 * all, and at most the grace after the first connection (a dead node never connects). */
#define LD_CLIENT_OPEN_CONNECT_WAIT_MS 100u
#define LD_CLIENT_OPEN_CONNECT_GRACE_MS 10u
/* A call that finds no connection to any address it may use probes them (one TCP or IPC connect
 * each) and fails at once with LD_ERR_CONNECTION, unsent, when every one refuses -- unless one
 * of them had a connection that dropped less than LD_CLIENT_RECONNECT_WAIT_MS ago (a node
 * restarting): then it probes again every LD_CLIENT_PROBE_INTERVAL_MS, within its deadline,
 * until a connection comes up or that time has passed. A probe without an answer in
 * LD_CLIENT_PROBE_TIMEOUT_MS (an address that drops packets) is no refusal: the call waits out
 * its deadline as before. */
#define LD_CLIENT_RECONNECT_WAIT_MS 3000u
#define LD_CLIENT_PROBE_INTERVAL_MS 50u
#define LD_CLIENT_PROBE_TIMEOUT_MS 2000u
#define LD_CLIENT_CONF_LINE_BYTES_MAX 1024u /* a cluster-conf line (as node/config.c reads) */
#define LD_CLUSTER_STATUS_REPLICAS_MAX                                                             \
    64u /* replicas in one node's ClusterStatus (one per shard) */
_Static_assert(LD_CLIENT_FAILOVER_SLOW_TIMEOUT_MS > LD_PAYMENT_SLOW_MS_DEFAULT,
               "a slow test payment does not make the client fail over");

#endif /* LD_LIMITS_H */
