/*
 * host.h -- the replica host core: one shard's state machine and replica, and the loop turn that
 * joins them (docs/ARCHITECTURE.md, "The host core"; proto/REPLICATION.md §8 and §11).
 *
 * Pure: no I/O, no clock reads, no randomness, no logging. Everything outside -- the disk, the
 * peer network, the client requests, the clock, payments, event publishing -- is the caller's,
 * reached through the ld_host_io table. Two callers drive it: node/engine*.c (RocksDB, NNG,
 * libuv) and tests/sim/replica.c (in-memory disks, a simulated network and clock), so the
 * simulator's seeds run the turn that ships.
 *
 * The core owns:
 *   - the ld_sm and the ld_repl of the shard, and the replica's host table (repl.h): send, apply,
 *     snapshot, install;
 *   - the sync decision: it sees every record the replica puts (through its own ld_store that
 *     forwards to the caller's) and knows whether the pending write holds something that must
 *     be durable before the effects of the calls that put it leave (repl.h's host rule);
 *   - the outbox of peer messages, released only after that write;
 *   - the entry being formed, its id seed and TICK, and the flights: entries this replica
 *     prepared as primary, waiting for their apply (their ops' results) or for the end of their
 *     view (outcome unknown);
 *   - the roles: primary, ready primary (its view's adopted log applied), lost primary.
 *
 * One turn (ld_host_turn), in order:
 *   1. peer messages (io->recv) into the replica, then its due timeouts: applies of committed
 *      entries hand their results to io->flight_end and io->applied;
 *   2. with 3 or 5 replicas, when step 1 put nothing that must be durable (applied state and
 *      commit_max only), an unsynced write and the release of its effects at once: committed
 *      requests are answered without waiting for the next entry's fsync;
 *   3. the entry: when this replica may prepare, io->take adds the queued requests' write ops
 *      (ld_host_add) and answers what it does not batch; the core adds a TICK when the state
 *      machine has something due; the entry is packed with a fresh id seed and prepared (with
 *      one replica it is applied inside the prepare);
 *   4. ONE write of everything the turn put, synced when it must be durable (any log or view
 *      record; always with one replica), and only then the release: peer messages (io->send),
 *      the events of entries applied with one replica (io->events), then io->release (replies,
 *      reads, payments: the caller's).
 *
 * A write that fails (io->write returns false: the simulator's crash, or a host that stops)
 * ends the turn: nothing more is released.
 *
 * Thread: one thread uses an ld_host at a time; every io callback runs on it, inside a call.
 */
#ifndef LD_HOST_H
#define LD_HOST_H

#include "ld_base.h"
#include "ld_limits.h"
#include "livedrop.pb-c.h"
#include "op.h"
#include "repl.h"
#include "repl_codec.h"
#include "sm.h"
#include "store.h"

typedef struct ld_host ld_host;

/* Where one op of a prepared entry came from: the caller's to define (the core only copies it
 * and hands it back in io->flight_end). */
typedef struct ld_host_src {
    uint32_t kind;
    uint32_t flags;
    uint32_t a;
    uint32_t b;
} ld_host_src;

/* The core's own op source kind: the TICK the core adds. Callers use other kinds. */
#define LD_HOST_SRC_TICK 0xffffffffu

/* An entry this replica prepared as primary (the flight of op `op`). */
typedef struct ld_host_flight {
    bool used;
    uint32_t index; /* in the flight ring: op % LD_HOST_FLIGHTS (for the caller's own arrays) */
    uint64_t op;
    uint64_t view;
    uint32_t n;       /* ops in the entry */
    ld_host_src *src; /* [n] */
} ld_host_flight;

/* One applied entry, for io->applied and io->flight_end. Pointers are borrowed for the call. */
typedef struct ld_host_applied {
    ld_batch_stamp stamp;
    const uint8_t *entry; /* the packed LogEntry */
    uint32_t len;
    const ld_op *ops;
    size_t n;
    const ld_result *results; /* [n] */
} ld_host_applied;

/* A peer message as the core hands it to io->send (its header, for the caller's traces). */
typedef struct ld_host_sent {
    uint32_t to;
    ld_repl_kind kind;
    uint64_t view;
    uint64_t op; /* the entry's op for a prepare, else msg.op */
    uint64_t commit;
} ld_host_sent;

/* Why a flight ended without results. */
typedef enum ld_host_end {
    LD_HOST_END_APPLIED = 0, /* applied: results in `a` */
    LD_HOST_END_LEFT_VIEW,   /* the replica left the view: the outcome is unknown here */
    LD_HOST_END_REFUSED,     /* ld_repl_prepare refused it (err): never in the log */
} ld_host_end;

/* Role changes the caller acts on. */
typedef enum ld_host_role {
    LD_HOST_ROLE_CHANGED = 1, /* view, status or primary changed (st says how) */
    LD_HOST_ROLE_LOST,        /* was primary, is not (or is, of another view) */
    LD_HOST_ROLE_READY,       /* primary whose view's adopted log is applied: internal work */
} ld_host_role;

typedef struct ld_host_io {
    void *arg;
    /* -- storage: both stores put into the caller's one pending write -- */
    /* Writes the pending write, with sync when `sync`. `held`: requests committed in this turn
     * wait for this write (a metric). False: the host is gone (a crash); the turn ends. */
    bool (*write)(void *arg, bool sync, bool held);
    /* Records in the pending write (0: the write is skipped). */
    uint32_t (*pending)(void *arg);
    /* The state machine's durable records as a checkpoint stream (checkpoint.h) in *buf_out
     * (malloc'd; the hook's caller frees), and the applied op they hold. */
    ld_err (*snapshot)(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out);
    /* Replaces the state machine's records with the checkpoint stream `buf` so that a scan of
     * *store_out reads them (the core reopens the state machine from it); *store_out stays
     * valid until the next install or ld_host_free. LD_ERR_STORAGE: the stream is malformed. */
    ld_err (*install)(void *arg, const uint8_t *buf, size_t len, const ld_store **store_out);
    /* -- peers -- */
    /* The next peer message for the replica, unpacked into *buf: false when there is none. The
     * core calls ld_repl_msg_buf_done() after handing it over. */
    bool (*recv)(void *arg, ld_repl_msg_buf *buf);
    /* Sends a packed peer message (after the write; at once for the `early` ones of repl.h).
     * Takes buf. */
    void (*send)(void *arg, const ld_host_sent *sent, uint8_t *buf, size_t len);
    /* -- the turn -- */
    /* 16 random bytes: the id seed of a new entry. */
    void (*random)(void *arg, uint8_t out[LD_ID_BYTES]);
    /* Takes queued requests: their write ops go into the entry with ld_host_add() when
     * `can_prepare`, up to ld_host_room(); the rest is answered by the caller. */
    void (*take)(void *arg, int64_t ts_ms, int64_t now, bool can_prepare);
    /* Every apply (after ld_sm_apply, before io->flight_end). */
    void (*applied)(void *arg, const ld_host_applied *a);
    /* A flight ended: applied (results in a) or not (a == NULL; err for REFUSED). */
    void (*flight_end)(void *arg, const ld_host_flight *f, ld_host_end why,
                       const ld_host_applied *a, ld_err err);
    /* The events of applied entries may go out: at once with 3 or 5 replicas (committed entries
     * are durable on a quorum), after the turn's synced write with one. `ready`: the replica is
     * the ready primary (it relays follow events). */
    void (*events)(void *arg, bool ready);
    /* The turn's write is durable: release replies, reads, payments. */
    void (*release)(void *arg, int64_t ts_ms, int64_t now);
    /* A role change (st: the replica's state now). */
    void (*role)(void *arg, ld_host_role what, const ld_repl_state *st);
    /* A committed entry that does not decode, or an apply out of order: the primary that
     * checksummed it has a bug. The node stops; the simulator fails the seed. */
    void (*corrupt)(void *arg, uint64_t op, const char *why);
    /* A state transfer installed a checkpoint at op. */
    void (*installed)(void *arg, uint64_t op, size_t len);
} ld_host_io;

typedef struct ld_host_config {
    ld_repl_config repl;
    uint32_t batch_ops_max;   /* ops in one entry, TICK included (<= LD_BATCH_OPS_MAX) */
    uint32_t entry_bytes_max; /* packed entry (<= LD_PEER_ENTRY_BYTES_MAX) */
    bool tick;                /* add a TICK when the state machine has something due */
    uint64_t config_epoch;    /* stamped on every peer message (repl_codec.h) */
} ld_host_config;

/* Writes the meta record of a brand-new replica into the pending write (ld_repl_format). */
void ld_host_format(const ld_store *repl_store);

/* Opens the state machine from `sm_store` and the replica from `repl_store` (which re-applies
 * committed entries past the state machine's applied op), as ld_sm_open and ld_repl_open.
 * Borrows the stores, io and cfg's contents for the host's life. Returns owned, free with
 * ld_host_free(). LD_ERR_STORAGE / LD_ERR_NOMEM as those; `*what_out` names which part. */
ld_err ld_host_open(const ld_host_config *cfg, const ld_store *sm_store, const ld_store *repl_store,
                    const ld_host_io *io, const uint8_t nonce[16], int64_t now, ld_host **out,
                    const char **what_out);
/* *out is set before the replica opens (its re-applies call io->applied, which may query the
 * host) and back to NULL if the open fails. */
void ld_host_free(ld_host *h);

/* One loop turn (see above). `now`: monotonic ms; `wall_ms`: the wall clock (the entry's
 * timestamp is never below the last one). Returns false when a write failed (io->write). */
bool ld_host_turn(ld_host *h, int64_t now, int64_t wall_ms);

/* Writes what calls outside a turn put (open, format) with sync and releases its messages. */
bool ld_host_flush(ld_host *h);

/* The caller stops waiting for every flight (shutdown): each ends as LD_HOST_END_LEFT_VIEW
 * (its entry may still commit). */
void ld_host_forget(ld_host *h);

/* Inside io->take: appends one write op. `pb` (and whatever it points into) is borrowed until
 * the turn prepares the entry; `op` is copied (with one replica the entry is applied from these).
 */
void ld_host_add(ld_host *h, const Ldpb__Op *pb, const ld_op *op, ld_host_src src);
/* Ops the entry still takes (TICK's room kept). */
uint32_t ld_host_room(const ld_host *h);
/* The flight being formed in this turn (inside io->take when can_prepare), else NULL. */
const ld_host_flight *ld_host_building(const ld_host *h);

/* ---- queries -------------------------------------------------------------------------------- */

ld_sm *ld_host_sm(const ld_host *h);
ld_repl *ld_host_repl(const ld_host *h);
/* As of the last replica call. */
const ld_repl_state *ld_host_state(const ld_host *h);
bool ld_host_ready(const ld_host *h);
/* Linearizable reads now (a single replica is its own quorum). */
bool ld_host_can_read(const ld_host *h, int64_t now);
/* Whether a turn now could prepare an entry. */
bool ld_host_can_prepare(const ld_host *h);
/* Peer messages waiting for the turn's write. */
uint32_t ld_host_outbox_len(const ld_host *h);
/* Applied op of the state machine as of the last write (what a scan reads). */
uint64_t ld_host_written_op(const ld_host *h);
/* The entry timestamp a turn at wall_ms would use. */
int64_t ld_host_timestamp(const ld_host *h, int64_t wall_ms);

typedef struct ld_host_stats {
    uint64_t turns;
    uint64_t writes;          /* writes (synced or not) */
    uint64_t writes_nosync;   /* unsynced (nothing in them had to be durable) */
    uint64_t fsyncs;          /* synced writes */
    uint64_t fsyncs_needless; /* synced with nothing that had to be durable (one replica) */
    uint64_t prepared;        /* entries prepared */
    uint64_t commit_turns;    /* turns whose replica step answered requests (3 or 5 replicas) */
    uint64_t commit_held;     /* ...whose answers then waited for the turn's fsync */
    uint64_t lost_sends;      /* peer messages not packed or past LD_HOST_OUTBOX_MAX */
    uint64_t batches;         /* entries applied */
    uint64_t batch_ops;       /* ops in them */
} ld_host_stats;
void ld_host_stats_get(const ld_host *h, ld_host_stats *out);

#endif /* LD_HOST_H */
