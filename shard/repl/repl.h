/*
 * repl.h -- one shard's replica of the replication protocol, as a pure state machine
 * (proto/REPLICATION.md; docs/ARCHITECTURE.md §7). Viewstamped Replication Revisited with
 * TigerBeetle's durable view / log_view, hash-chained prepares and a bounded pipeline.
 *
 * Pure: no I/O, no clock reads, no randomness of its own. The caller (shard/host/, the host core)
 * feeds it messages, ticks and batches with `now` (monotonic ms) and gets effects back through
 * the host table below:
 *
 *   - storage: the replica's log entries and meta go through an ld_store (keys below), in the
 *     caller's pending write. THE HOST RULE: every effect of one call (messages, applies,
 *     client outcomes) may be released only after everything that call (and the calls before
 *     it) put into the store is durable -- except applied state and commit_max, which the log
 *     and a quorum re-derive after a crash (REPLICATION.md §8: "nothing waits on it"). The host
 *     is the host core (shard/host/host.h), which the node and the simulator both run: one
 *     write per loop turn, the turn's messages after it (group commit), synced when the write
 *     holds anything else (ld_repl_meta_commit_only below tells a commit-only meta record).
 *     Messages with `early = true` are the only exception: they may go out before the sync.
 *     Only the planted bug LD_PLANT_BUG_ACK_EARLY ever sets it.
 *   - send(to, msg): a message to another replica of the group (index 0..n-1, never self).
 *   - apply(op, ts, entry bytes): a committed entry, exactly once per op, in op order, on every
 *     replica. The host decodes the packed ldpb.LogEntry and runs ld_sm_apply(); the state
 *     machine's applied op is the replica's commit_min.
 *   - snapshot / install: state transfer (REPLICATION.md §7). The host serializes its state
 *     machine's durable records (the checkpoint) and installs one received from a peer.
 *
 * The host owns the ld_sm; this module never sees it. Client requests: the primary's host packs
 * a LogEntry for op ld_repl_next_op() and hands it to ld_repl_prepare(). When apply() is called
 * for that op the outcome is known; when the replica leaves the view in which the host prepared
 * an op, the op's outcome is unknown to this replica (the host answers NOT_PRIMARY and the
 * client retries with the same idempotency keys; P3 makes that safe).
 *
 * Thread: the caller's; one replica is used by one thread at a time.
 */
#ifndef LD_SHARD_REPL_H
#define LD_SHARD_REPL_H

#include "ld_base.h"
#include "ld_limits.h"
#include "store.h"

/* ---- messages (C form of proto/peer.proto; shard/repl/repl_codec.c converts) ----------------- */

typedef enum ld_repl_kind {
    LD_REPL_PREPARE = 1,
    LD_REPL_PREPARE_OK,
    LD_REPL_COMMIT,
    LD_REPL_START_VIEW_CHANGE,
    LD_REPL_DO_VIEW_CHANGE,
    LD_REPL_START_VIEW,
    LD_REPL_REQUEST_START_VIEW,
    LD_REPL_GET_PREPARE,
    LD_REPL_GET_STATE,
    LD_REPL_NEW_STATE,
} ld_repl_kind;

typedef struct ld_checksum {
    uint8_t b[16]; /* XXH3-128, high half first (REPLICATION.md §3.3) */
} ld_checksum;

typedef struct ld_entry_header {
    uint64_t op;
    uint64_t view; /* the view in which the entry was first prepared */
    int64_t timestamp_ms;
    ld_checksum parent;
    ld_checksum checksum;
    uint32_t entry_size;
} ld_entry_header;

/* One peer message. Pointers (entry bytes, headers, data) are borrowed: valid for the call that
 * passes the message only (send() must copy or encode what it keeps). */
typedef struct ld_repl_msg {
    ld_repl_kind kind;
    /* header */
    uint64_t cluster_id;
    uint32_t shard_id;
    uint32_t replica; /* sender */
    uint64_t view;    /* sender's view */
    /* body fields; which ones are meaningful depends on kind (see peer.proto) */
    ld_entry_header entry; /* PREPARE */
    const uint8_t *bytes;  /* PREPARE: packed LogEntry; NEW_STATE: chunk data */
    uint32_t bytes_len;
    uint64_t op;          /* PREPARE_OK, DO_VIEW_CHANGE, START_VIEW, GET_PREPARE */
    uint64_t commit;      /* PREPARE, COMMIT, DO_VIEW_CHANGE, START_VIEW */
    uint64_t commit_min;  /* DO_VIEW_CHANGE */
    uint64_t log_view;    /* DO_VIEW_CHANGE */
    ld_checksum checksum; /* PREPARE_OK, COMMIT (commit_checksum), GET_PREPARE */
    bool has_checksum;    /* GET_PREPARE: false = the committed entry at op (REPLICATION.md 6.1) */
    bool committed;       /* PREPARE: answers a GET_PREPARE without checksum; the sender applied
                             this entry, so it is the committed one at its op */
    const ld_entry_header *headers; /* DO_VIEW_CHANGE, START_VIEW: newest first */
    uint32_t headers_len;           /* <= LD_PEER_DVC_HEADERS_MAX */
    uint64_t suffix_from;
    uint8_t nonce[16]; /* REQUEST_START_VIEW, START_VIEW, GET_STATE, NEW_STATE */
    bool has_nonce;
    /* GET_STATE / NEW_STATE */
    uint64_t min_op;
    uint64_t checkpoint_op;
    uint64_t offset;
    ld_checksum checkpoint_checksum;
    int64_t checkpoint_timestamp_ms;
    uint64_t total_bytes;
    ld_checksum stream_checksum;
    bool last;
    bool responder_normal;
    uint64_t responder_op;
    uint64_t responder_commit;
    /* COMMIT: the primary's monotonic time when sent; PREPARE_OK answering a Commit: that time
     * echoed. The primary's read lease counts from it (REPLICATION.md §9.1). */
    int64_t ping_ms;
    bool has_ping;
    /* DO_VIEW_CHANGE: every entry of the sender's log up to here holds its body (the new primary
     * truncates an uncommitted entry no DVC sender holds: REPLICATION.md §5.3) */
    uint64_t present_op;
} ld_repl_msg;

/* ---- configuration -------------------------------------------------------------------------- */

typedef struct ld_repl_config {
    uint64_t cluster_id;
    uint32_t shard_id;
    uint32_t replica;       /* this replica's index, < replica_count */
    uint32_t replica_count; /* 1, 3 or 5 */
    /* Timeouts in ms (REPLICATION.md §9.1); 0 takes the LD_PEER_*_MS default. */
    uint32_t prepare_resend_ms;
    uint32_t prepare_resend_max_ms;
    uint32_t commit_interval_ms;
    uint32_t vc_timeout_ms;
    uint32_t vc_retry_ms;
    uint32_t repair_timeout_ms;
    uint32_t lease_ms;
    /* Log entries kept behind commit_min for repair; 0: LD_PEER_LOG_RETAIN_ENTRIES. The
     * simulator uses a small value so that state transfer happens. */
    uint64_t log_retain;
} ld_repl_config;

/* ---- the host ------------------------------------------------------------------------------- */

typedef struct ld_repl_host {
    void *arg;
    /* A message for replica `to` (!= self). See the host rule above for `early`. */
    void (*send)(void *arg, uint32_t to, const ld_repl_msg *msg, bool early);
    /* Committed entry `op` (packed ldpb.LogEntry, borrowed for the call), in op order. */
    void (*apply)(void *arg, uint64_t op, int64_t timestamp_ms, const uint8_t *entry, uint32_t len);
    /* Serializes the host state machine's durable state into *buf_out (malloc'd, the caller of
     * the hook frees) and its applied op into *op_out. The op may trail commit_min (what is
     * applied but not yet synced is not in it) but is never below commit_min - log_retain.
     * LD_ERR_NOMEM / LD_ERR_CAPACITY (above LD_PEER_STATE_BYTES_MAX) refuse. */
    ld_err (*snapshot)(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out);
    /* Replaces the host state machine's state with the checkpoint `buf` (from some replica's
     * snapshot()), whose applied op is `op`, in the pending write. LD_ERR_STORAGE: the stream
     * did not decode (the replica keeps recovering and asks again). */
    ld_err (*install)(void *arg, const uint8_t *buf, size_t len, uint64_t op);
} ld_repl_host;

/* ---- storage keys (in the ld_store given to ld_repl_open) -----------------------------------
 * "M"            meta record: view, log_view, commit_max, the checkpoint anchor (op, checksum,
 *                timestamp) the log starts after, and the formatted flag
 * "L" be64(op)   log entry: the encoded ld_entry_header followed by the packed LogEntry
 * "R"            recovered: lost_op (ld_repl_state), only after a recovery from a lost disk
 * The host may keep these in their own column family; scan/seek see durable records only. */
#define LD_REPL_KEY_META "M"
#define LD_REPL_KEY_LOG 'L'
#define LD_REPL_KEY_RECOVERED "R"

/* ---- lifecycle ------------------------------------------------------------------------------ */

typedef struct ld_repl ld_repl;

typedef enum ld_repl_status {
    LD_REPL_NORMAL = 1,
    LD_REPL_VIEW_CHANGE,
    LD_REPL_RECOVERING,
} ld_repl_status;

/* Writes the meta record of a brand-new, empty replica (view = log_view = 0, empty log) into
 * `store`'s pending write: `livedrop-node --format` and the simulator's initial cluster. Only a
 * formatted replica may take part in quorums from the start (REPLICATION.md §7.3). */
void ld_repl_format(const ld_store *store);

/* Opens the replica from the durable records of `store`. `applied_op` is the host state
 * machine's ld_sm_applied_op() (commit_min). `nonce` (16 random bytes from the caller) marks
 * this incarnation's recovery round. With no meta record (wiped or new directory, not
 * formatted) the replica starts RECOVERING; with replica_count == 1 that is LD_ERR_STORAGE
 * instead (nobody to recover from). Entries in (applied_op, commit_max] are applied (host
 * apply) during open. Borrows store and host; returns owned, free with ld_repl_free().
 * LD_ERR_STORAGE: a record does not decode or the chain is broken; LD_ERR_NOMEM. */
ld_err ld_repl_open(const ld_repl_config *cfg, const ld_store *store, const ld_repl_host *host,
                    uint64_t applied_op, const uint8_t nonce[16], int64_t now, ld_repl **out);
void ld_repl_free(ld_repl *r);

/* ---- inputs --------------------------------------------------------------------------------- */

/* A message from a peer (already decoded and checked for size by repl_codec). Messages of another
 * cluster or shard, from an unknown replica, or malformed for their kind are dropped (counted in
 * stats.dropped). */
void ld_repl_on_message(ld_repl *r, const ld_repl_msg *msg, int64_t now);

/* Time passed: resends, heartbeats, view-change and repair timeouts. Call at least every
 * LD_PEER_TICK_MS; calling more often is harmless. */
void ld_repl_on_tick(ld_repl *r, int64_t now);

/* Op number the next ld_repl_prepare() will take (head + 1). */
uint64_t ld_repl_next_op(const ld_repl *r);

/* Timestamp floor for the next entry: the head's timestamp (entries' timestamps never go back). */
int64_t ld_repl_head_timestamp(const ld_repl *r);

/* Whether ld_repl_prepare() would accept an entry now: primary, status normal, the view's
 * adopted log fully present, pipeline (head - commit_max) below LD_PEER_PIPELINE_MAX. */
bool ld_repl_can_prepare(const ld_repl *r);

/* Primary only: appends the packed LogEntry `entry` (whose op field is ld_repl_next_op() and
 * whose timestamp_ms is ts >= ld_repl_head_timestamp()) as the next op, writes it, and sends
 * the prepare. LD_ERR_NOT_PRIMARY when not primary in normal status; LD_ERR_BUSY when the
 * pipeline is full; LD_ERR_FRAME_TOO_LARGE above LD_PEER_ENTRY_BYTES_MAX. Copies entry. */
ld_err ld_repl_prepare(ld_repl *r, const uint8_t *entry, uint32_t len, int64_t ts, int64_t now);

/* ---- queries -------------------------------------------------------------------------------- */

typedef struct ld_repl_state {
    ld_repl_status status;
    bool primary; /* status normal and primary of view */
    uint32_t replica;
    uint32_t replica_count;
    uint64_t view;
    uint64_t log_view;
    uint64_t op; /* head */
    uint64_t commit_max;
    uint64_t commit_min; /* applied */
    uint64_t log_start;  /* the log holds entries > log_start (checkpoint anchor) */
    /* The head of the log a recovery from a wiped disk installed (0: the disk was never lost).
     * Until commit_min reaches it the replica may lack bodies of entries it acknowledged before
     * the wipe: it still counts as one of the f replicas that lost their state
     * (REPLICATION.md §7.3). */
    uint64_t lost_op;
    uint32_t primary_index; /* view % replica_count */
} ld_repl_state;
void ld_repl_state_get(const ld_repl *r, ld_repl_state *out);

/* Linearizable reads (REPLICATION.md §9.2): primary, normal, holding the lease at `now`, and
 * every entry of the view's adopted log applied. */
bool ld_repl_can_read(const ld_repl *r, int64_t now);

/* Earliest `now` at which ld_repl_on_tick() has work (a resend, heartbeat or timeout). */
int64_t ld_repl_next_deadline(const ld_repl *r);

typedef struct ld_repl_stats {
    uint64_t dropped;         /* messages refused by validation */
    uint64_t view_changes;    /* views this replica entered */
    uint64_t repairs;         /* entries fetched by GetPrepare */
    uint64_t fills;           /* of which committed entries fetched forward (REPLICATION.md 6.1) */
    uint64_t state_transfers; /* checkpoints installed */
    uint64_t prepares_sent;
} ld_repl_stats;
void ld_repl_stats_get(const ld_repl *r, ld_repl_stats *out);

/* Whether meta record `next` (LD_REPL_KEY_META) differs from `prev` in commit_max at most: such
 * a write need not be durable before the effects of the call that put it (REPLICATION.md §8).
 * False for anything that does not decode. */
bool ld_repl_meta_commit_only(const uint8_t *prev, size_t prev_len, const uint8_t *next,
                              size_t next_len);

/* ---- checksums ------------------------------------------------------------------------------ */

/* checksum(entry) of REPLICATION.md §3.3 for header h (h->checksum is ignored). */
ld_checksum ld_repl_entry_checksum(uint64_t cluster_id, uint32_t shard_id, const ld_entry_header *h,
                                   const uint8_t *entry, uint32_t len);

#endif /* LD_SHARD_REPL_H */
