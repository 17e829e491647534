/*
 * sim.h -- the deterministic simulator's world (docs/ARCHITECTURE.md §7, proto/REPLICATION.md §10).
 *
 * One seed drives one world: replicas running the real shard/ replication core (shard/repl/repl.h)
 * and the real state machine (shard/sm.h) over in-memory stores, a simulated network (delay,
 * loss, duplication, reordering, partitions; every peer message goes through
 * shard/repl/repl_codec), simulated clocks (monotonic drift within rho = 1e-3, wall-clock jumps),
 * faults (crash losing what was not synced, restart, pause, wiped disk) and clients that retry with
 * the same ops. After every replica step the checks S1..S6 run (check.c); S7 (liveness) at the end.
 *
 * Time is simulated real time in ms (`t`), from 0. Nothing depends on addresses, the host's
 * clock or hash seeds: the same seed gives the same trace, byte for byte.
 *
 * Modules: prng.c (the only randomness), trace.c (event ring and trace hash), net.c (messages),
 * replica.c (the host of one replica: storage, apply, snapshot, batching), client.c (workload),
 * check.c (S1..S7), world.c (one seed: parameters, faults, the main loop), main.c (CLI).
 * Thread: one thread, one world at a time.
 */
#ifndef LD_TESTS_SIM_H
#define LD_TESTS_SIM_H

#include <stdio.h>

#include "host.h"
#include "livedrop.pb-c.h"
#include "op.h"
#include "repl.h"
#include "sim_limits.h"
#include "sm.h"
#include "store.h"

/* ---- prng.c: xoshiro256** seeded by splitmix64 ---------------------------------------------- */

typedef struct sim_rng {
    uint64_t s[4];
} sim_rng;

uint64_t sim_splitmix64(uint64_t *state);
void sim_rng_seed(sim_rng *rng, uint64_t seed);
uint64_t sim_rng_next(sim_rng *rng);
/* Uniform in [0, n); n > 0 (rejection sampling: no modulo bias). */
uint64_t sim_rng_below(sim_rng *rng, uint64_t n);
/* Uniform in [lo, hi], lo <= hi. */
int64_t sim_rng_range(sim_rng *rng, int64_t lo, int64_t hi);
/* True with probability ppm / 1,000,000. */
bool sim_rng_chance(sim_rng *rng, uint32_t ppm);

/* ---- trace.c -------------------------------------------------------------------------------- */

typedef enum sim_ev_kind {
    SIM_EV_SEND = 1, /* peer message queued: replica -> peer, sub = ld_repl_kind */
    SIM_EV_DELIVER,  /* peer message handed to ld_repl_on_message */
    SIM_EV_LOSE,     /* lost: random loss, partition, receiver down, queue full */
    SIM_EV_DUP,      /* duplicated by the network */
    SIM_EV_CRASH,    /* x = 1: before the step's sync (its writes and messages lost) */
    SIM_EV_RESTART,  /* ld_repl_open from the durable stores */
    SIM_EV_WIPE,     /* disk wiped; the replica restarts empty (recovering) */
    SIM_EV_PAUSE,    /* no steps until x */
    SIM_EV_RESUME,
    SIM_EV_CUT,         /* link replica -> peer cut until x */
    SIM_EV_HEAL,        /* link replica -> peer healed */
    SIM_EV_WALL_JUMP,   /* wall clock of replica moved by x ms */
    SIM_EV_STATUS,      /* status / view / primary changed: sub = status, x = primary */
    SIM_EV_PREPARE,     /* the primary's host prepared op with x client ops */
    SIM_EV_APPLY,       /* replica applied op (x = ops in the entry) */
    SIM_EV_INSTALL,     /* replica installed a checkpoint at op */
    SIM_EV_REQ,         /* client (replica field) sent request x to replica peer */
    SIM_EV_ACK,         /* replica acknowledged client peer's request x, committed at op */
    SIM_EV_NOT_PRIMARY, /* replica refused client peer's request x (hint in op) */
    SIM_EV_CLIENT_GOT,  /* client (replica field) got the answer to request x from peer */
    SIM_EV_TIMEOUT,     /* client (replica field) timed out on request x; retries at peer */
    SIM_EV_READ,        /* replica served a linearizable read for client peer: x = sold */
    SIM_EV_PHASE,       /* sub 0: heal phase begins; 1..5: the storm scenario (SIM_STORM_EV_*) */
    SIM_EV_NOTE,        /* free text (the violation) */
} sim_ev_kind;

/* SIM_EV_LOSE: x is the reason; sub the peer message kind, or one of these for client traffic */
enum {
    SIM_LOSE_RANDOM = 0,
    SIM_LOSE_PARTITION,
    SIM_LOSE_DOWN,
    SIM_LOSE_NET_FULL,
    SIM_LOSE_CRASH,
    SIM_LOSE_INBOX_FULL,
};
/* SIM_EV_PHASE subs of the storm scenario (world.c) */
enum {
    SIM_STORM_EV_BEGIN = 1, /* storm clients start writing */
    SIM_STORM_EV_WIPE,      /* replica: the victim loses its disk */
    SIM_STORM_EV_WHOLE,     /* replica: the victim is whole again, x ms after its restart */
    SIM_STORM_EV_END,       /* storm clients stop */
    SIM_STORM_EV_SKIP,      /* no stable view to start from: no storm */
};
#define SIM_LOSE_SUB_REQ 100
#define SIM_LOSE_SUB_REPLY 101

typedef struct sim_ev {
    int64_t t;
    uint16_t kind;
    uint16_t sub;
    int32_t replica; /* or client, per kind; -1: none */
    int32_t peer;
    uint64_t view;
    uint64_t op;
    uint64_t commit;
    int64_t x;
} sim_ev;

typedef struct sim_trace {
    sim_ev ring[LD_SIM_TRACE_RING];
    uint64_t count; /* events ever logged */
    uint64_t hash;  /* running hash of every event (determinism self test) */
    bool live;      /* print each event as it is logged (--trace) */
    FILE *out;
} sim_trace;

void sim_trace_init(sim_trace *tr, bool live, FILE *out);
void sim_trace_log(sim_trace *tr, const sim_ev *ev);
void sim_trace_print_ev(FILE *out, const sim_ev *ev);
/* Prints the last `n` events (at most the ring). */
void sim_trace_dump(const sim_trace *tr, FILE *out, size_t n);

/* ---- the world ------------------------------------------------------------------------------ */

typedef struct sim_world sim_world;

/* Compact result of one op as a client (and the checks) see it. */
typedef struct sim_res {
    ld_op_type type;
    ld_err code;
    ld_id id;       /* reservation (reserve), order (commit), drop (get_drop) */
    int64_t qty;    /* reservation / order qty */
    ld_stock stock; /* get_drop */
} sim_res;

/* One message in the network. */
typedef enum sim_msg_type {
    SIM_MSG_PEER = 1, /* replica -> replica: a packed ldpeer.PeerMessage */
    SIM_MSG_REQ,      /* client -> replica */
    SIM_MSG_REPLY,    /* replica -> client */
} sim_msg_type;

typedef enum sim_reply_code {
    SIM_REPLY_OK = 1,      /* committed and applied: results[] */
    SIM_REPLY_READ,        /* a linearizable read: results[0] */
    SIM_REPLY_NOT_PRIMARY, /* hint = primary index or -1 */
    SIM_REPLY_BUSY,
} sim_reply_code;

typedef struct sim_msg {
    int64_t at;   /* delivery time */
    uint64_t seq; /* tie-break: send order */
    sim_msg_type type;
    uint32_t from, to; /* replica or client index, per type */
    /* PEER */
    uint8_t *buf;
    size_t len;
    uint16_t peer_kind; /* for the trace */
    uint64_t peer_view, peer_op, peer_commit;
    /* REQ / REPLY */
    uint64_t req_id;
    uint32_t n_ops;
    bool is_read;
    uint8_t *ops[LD_SIM_REQ_OPS_MAX]; /* REQ: packed ldpb.Op each (owned) */
    size_t ops_len[LD_SIM_REQ_OPS_MAX];
    sim_reply_code reply;
    int32_t hint;
    uint64_t op_number; /* REPLY OK: the log entry, its view and hash, the ops' positions */
    uint64_t ack_view;
    uint64_t hash_lo, hash_hi;
    uint32_t first_pos;
    sim_res results[LD_SIM_REQ_OPS_MAX];
} sim_msg;

void sim_msg_free(sim_msg *m);

/* Network state (net.c). */
typedef struct sim_net {
    sim_msg **heap; /* min-heap on (at, seq) */
    size_t len;
    uint64_t seq;
    bool cut[LD_PEER_REPLICAS_MAX][LD_PEER_REPLICAS_MAX]; /* [from][to] */
    int64_t cut_until[LD_PEER_REPLICAS_MAX][LD_PEER_REPLICAS_MAX];
    uint32_t loss_ppm;
    uint32_t dup_ppm;
    int64_t delay_min_ms, delay_max_ms;
    uint32_t slow_ppm; /* a message is slow (delay up to slow_max_ms): reordering */
    int64_t slow_max_ms;
    int64_t hold_ms; /* added to every delay: a sender's step that took this long (storm install) */
    uint64_t sent, lost, dups, delivered;
} sim_net;

/* A request the primary's host queued or prepared. */
typedef struct sim_host_req {
    uint32_t client;
    uint64_t req_id;
    uint32_t n_ops;
    uint8_t *ops[LD_SIM_REQ_OPS_MAX];
    size_t ops_len[LD_SIM_REQ_OPS_MAX];
} sim_host_req;

/* The requests of an entry the primary's host core is forming or waiting on (one per flight of
 * the core, by ld_host_flight.index), in order, and where each one's ops start. */
typedef struct sim_host_entry {
    uint32_t n_reqs;
    sim_host_req reqs[LD_SIM_BATCH_OPS_MAX];
    uint32_t first_op_index[LD_SIM_BATCH_OPS_MAX]; /* position of each request's first op */
} sim_host_entry;

/* ld_host_src.kind of a client op (the core hands its sources back in flight_end). */
#define SIM_SRC_CLIENT 1u

typedef enum sim_crash_arm {
    SIM_CRASH_NONE = 0,
    SIM_CRASH_BEFORE_SYNC, /* at the next step with something to lose */
    SIM_CRASH_AFTER_SYNC,
} sim_crash_arm;

typedef struct sim_replica {
    uint32_t index;
    sim_world *w;
    ld_repl_config cfg;
    ld_host_io io; /* this replica's adapters, arg = this */
    ld_host *host; /* the replica host core the node runs; NULL while down */
    /* disks */
    ld_store_mem *log_mem; /* the replica's log and meta (keys of repl.h) */
    ld_store log_store;
    ld_store_mem *sm_mem; /* the state machine's records */
    ld_store sm_store;
    ld_sm *sm;     /* ld_host_sm(host), refreshed after every call that may change it */
    ld_repl *repl; /* ld_host_repl(host) */
    /* a checkpoint installed during this step: the previous state, kept until the sync */
    ld_store_mem *prev_sm_mem;
    uint64_t prev_snap_op;
    uint64_t snap_op; /* applied op of sm_mem's durable records */
    /* life */
    bool up;
    bool paused;
    bool wiped; /* lost its disk; cleared once it is normal again */
    int64_t restart_at;
    int64_t resume_at;
    sim_crash_arm crash_arm;
    int64_t crash_arm_until;
    /* clocks: mono(t) = mono0 + t + t * drift_ppm / 1e6; wall = epoch + mono - mono0 + wall_off */
    int64_t mono0;
    int32_t drift_ppm;
    int64_t wall_off;
    int64_t wake_at; /* next step time (real) */
    /* network */
    sim_msg *inbox[LD_SIM_INBOX_MAX];
    size_t inbox_head, inbox_len;
    sim_msg *peer_q[LD_SIM_INBOX_MAX]; /* this step's peer messages, for the core (io->recv) */
    size_t peer_q_head, peer_q_len;
    sim_msg **replies; /* LD_SIM_OUTBOX_MAX, this step's client replies */
    size_t replies_len;
    bool sent_in_step;     /* a peer message left in this step */
    bool replied_in_step;  /* a client reply left in this step */
    bool synced_in_step;   /* the step made a synced write */
    bool crashed_in_write; /* the armed crash failed the step's synced write */
    /* host: client requests */
    sim_host_req pending[LD_SIM_HOST_PENDING_MAX];
    size_t pending_head, pending_len;
    sim_host_entry *flights;                 /* [LD_HOST_FLIGHTS], by ld_host_flight.index */
    Ldpb__Op *take_pb[LD_SIM_BATCH_OPS_MAX]; /* the forming entry's ops, freed after the turn */
    uint32_t take_pb_len;
    ld_op take_op;
    ld_result take_res;
    /* S3: last observed and durable values */
    uint64_t seen_view, seen_commit_max, seen_commit_min;
    uint64_t dur_view, dur_commit_max, dur_commit_min;
    ld_repl_status seen_status;
    bool seen_primary;
    /* stats */
    uint64_t crashes, restarts, wipes;
    bool installed_in_step; /* host_install ran in this step (storm seeds: install_ms busy) */
} sim_replica;

typedef enum sim_client_phase {
    SIM_CL_SETUP = 1, /* client 0: creator, drop; others: their user */
    SIM_CL_WAIT_SETUP,
    SIM_CL_RESERVE,
    SIM_CL_FOLLOW_UP, /* commit / release / replay / read after a reserve */
    SIM_CL_STORM,     /* a storm client: back-to-back writes while the storm lasts */
    SIM_CL_DONE,
} sim_client_phase;

typedef struct sim_client {
    uint32_t index;
    ld_id user;
    sim_client_phase phase;
    uint32_t step;   /* position in the phase's script */
    uint32_t rounds; /* reserve rounds done */
    uint32_t rounds_max;
    /* the request in flight (one at a time) */
    bool waiting;
    uint64_t req_id;
    uint32_t n_ops;
    bool is_read;
    uint8_t *ops[LD_SIM_REQ_OPS_MAX];
    size_t ops_len[LD_SIM_REQ_OPS_MAX];
    ld_op_type op_types[LD_SIM_REQ_OPS_MAX];
    uint32_t target;
    int64_t sent_at;
    int64_t deadline;
    int64_t next_at; /* think time / backoff */
    int32_t believed_primary;
    uint32_t attempts;
    /* what the client knows */
    ld_id last_res; /* the last reservation it got */
    int64_t last_res_qty;
    char last_key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    sim_res last_reserve_result;
    bool has_res;
    uint32_t follow_kind; /* what the follow-up does */
    uint64_t requests_done;
    bool storm;         /* a storm client (world.c's storm scenario) */
    uint32_t storm_ops; /* creates it sent */
} sim_client;

/* One acknowledged client request (S5). */
typedef struct sim_ack {
    uint64_t op;
    uint64_t view;
    uint64_t hash_lo, hash_hi;
    uint32_t client;
    uint64_t req_id;
    uint32_t n_ops;
    uint32_t pos[LD_SIM_REQ_OPS_MAX]; /* positions in the entry */
    sim_res results[LD_SIM_REQ_OPS_MAX];
    int64_t at;
    uint32_t next_at_op; /* index + 1 of the next ack at the same op; 0: none */
} sim_ack;

/* What the checks know about one op number (S1, S6). */
typedef struct sim_op_rec {
    bool applied;              /* some replica applied it */
    uint64_t hash_lo, hash_hi; /* of (timestamp, entry bytes) */
    uint64_t results_hash;
    bool has_digest;
    uint64_t digest;    /* ld_sm_digest after applying it */
    uint32_t first_ack; /* index + 1 of the first ack at this op; 0: none */
} sim_op_rec;

/* One client op (by the hash of its packed bytes) and where it was first applied (S4). Every
 * later position of the same op (a retry committed twice) must give a result that shows it was
 * applied once: the same answer, or LD_EXISTS for a create. */
typedef struct sim_cop_rec {
    uint64_t fp; /* 0: empty slot */
    ld_op_type type;
    bool applied;
    uint64_t first_op;
    uint32_t first_pos;
    sim_res first_res;
} sim_cop_rec;

/* The undo journal of the step being run (check.c): an apply is a fact only once the step's sync
 * made it durable. Until then the records it changed keep their old values here, and a crash
 * before the sync puts them back (the disks lose the apply; so do the checks). */
typedef struct sim_undo_op {
    uint64_t op;
    sim_op_rec rec;
} sim_undo_op;

typedef struct sim_undo_cop {
    size_t slot;
    sim_cop_rec rec;
} sim_undo_cop;

#define SIM_UNDO_OPS_MAX (2u * LD_SIM_OPS_MAX) /* an op is saved by its apply and its digest */

typedef struct sim_params {
    uint64_t seed;
    uint32_t replica_count;
    uint32_t clients;
    int64_t fault_ms;    /* the fault phase lasts this long */
    int64_t heal_max_ms; /* liveness bound after the heal */
    int64_t fault_gap_min_ms, fault_gap_max_ms;
    uint32_t crash_w, pause_w, cut_w, jump_w, wipe_w, netchg_w; /* fault weights */
    int64_t stock;
    int64_t ttl_ms;
    uint64_t log_retain;
    uint32_t rounds_max;
    /* The storm scenario (world.c), drawn last: after the heal, the last storm_clients clients
     * write back to back, a backup loses its disk and restarts, and must be whole again (S8)
     * within catchup_max_ms of its restart while the storm goes on. Installing a checkpoint
     * keeps a replica busy for install_ms (a large state: RocksDB ingest and fsync). */
    bool storm;
    uint32_t storm_clients; /* included in `clients` */
    int64_t install_ms;
    int64_t catchup_max_ms;
    /* A slow host in the storm (0: none; drawn after the storm's other parameters): once the
     * victim has installed its checkpoint, stall_after_ms later, the other backup -- up, neither
     * the victim nor the primary -- takes no step for stall_ms (a loaded node whose loop is held:
     * an fsync or a snapshot of a many-MB state). At RF 3 the primary then has no quorum but the
     * victim, which must rejoin through the primary's StartView alone (REPLICATION.md 7.3). */
    int64_t stall_ms;
    int64_t stall_after_ms;
} sim_params;

typedef struct sim_stats {
    uint64_t ops_committed; /* highest op applied anywhere */
    uint64_t requests_acked;
    uint64_t view_changes;
    uint64_t state_transfers;
    uint64_t repairs;
    uint64_t crashes, wipes, partitions;
    uint64_t messages;
    int64_t sim_ms;
    int64_t converged_ms; /* time from the heal to convergence */
    uint64_t storms;      /* storm scenarios whose victim restarted (S8 judged) */
    uint64_t caught_up;   /* ... and whose victim was whole again in time */
    int64_t catchup_ms;   /* storm: restart of the wiped backup to whole again (per seed; main.c
                             sums, and keeps the max in catchup_ms_max) */
    int64_t catchup_ms_max;
    uint64_t storm_gap_max; /* storm: largest primary head - victim commit_min, once installed */
} sim_stats;

typedef enum sim_storm_phase {
    SIM_STORM_OFF = 0, /* not a storm seed, or the storm is over */
    SIM_STORM_WAIT,    /* heal phase: waiting for one view with every replica normal */
    SIM_STORM_RUN,     /* storm clients write; the wipe comes at storm_at */
    SIM_STORM_WIPED,   /* the victim is down without its disk */
    SIM_STORM_CATCHUP, /* the victim restarted: whole again by storm_at, or S8 fails */
    SIM_STORM_TAIL,    /* caught up: the storm goes on until storm_at */
    SIM_STORM_OVER,    /* storm clients finish */
} sim_storm_phase;

struct sim_world {
    sim_params p;
    sim_rng rng;          /* faults, network, workload */
    uint64_t id_seed_rng; /* splitmix64 state of the primaries' entry id seeds (its own stream,
                             so that drawing them leaves the fault schedule as it was) */
    sim_trace trace;
    int64_t t;
    bool healing; /* heal phase */
    int64_t heal_at;
    int64_t next_fault_at;
    sim_net net;
    sim_replica rep[LD_PEER_REPLICAS_MAX];
    sim_client cl[LD_SIM_CLIENTS_MAX];
    /* workload constants */
    ld_id creator;
    ld_id drop;
    bool setup_done;
    /* the storm scenario (sim_params.storm) */
    sim_storm_phase storm_phase;
    bool storm_on;    /* storm clients write */
    int64_t storm_at; /* the phase's deadline */
    uint32_t storm_victim;
    int64_t storm_restarted_at;
    int64_t storm_stall_at; /* when the slow host stalls (0: not yet known; INT64_MAX: done) */
    /* checks */
    sim_op_rec *ops; /* [LD_SIM_OPS_MAX + 1], by op number */
    sim_ack *acks;
    size_t acks_len;
    sim_cop_rec *cops; /* open addressing, LD_SIM_CLIENT_OPS_MAX * 2 slots */
    size_t cops_len;
    int64_t acked_sold; /* sum of qty of distinct PAID orders acknowledged */
    ld_id *paid_orders; /* acknowledged order ids (distinct) */
    size_t paid_len;
    uint64_t max_applied_op;
    /* the current step's tentative changes (sim_check_step_begin .. _durable or _lost) */
    sim_undo_op *undo_ops; /* grown up to SIM_UNDO_OPS_MAX */
    size_t undo_ops_len, undo_ops_cap;
    sim_undo_cop *undo_cops; /* grown up to LD_SIM_CLIENT_OPS_MAX */
    size_t undo_cops_len, undo_cops_cap;
    uint64_t undo_max_applied_op;
    /* scratch for apply */
    ld_op *ops_scratch;     /* [LD_SIM_BATCH_OPS_MAX + 2] */
    ld_result *res_scratch; /* [LD_SIM_BATCH_OPS_MAX + 2] */
    uint8_t *pack_scratch;
    size_t pack_cap;
    /* outcome */
    bool failed;
    char check[8];
    char why[512];
    sim_stats stats;
};

/* ---- world.c -------------------------------------------------------------------------------- */

/* The world being run (NULL between runs): main.c's abort handler prints its trace. */
extern sim_world *volatile sim_current;

/* Draws the parameters of `seed`; replica_count 0 draws it too (mostly 3, some 5 and 1). */
void sim_params_draw(uint64_t seed, uint32_t replica_count, sim_params *out);
/* Runs one seed to the end. Returns true if every check passed; the trace and the violation are
 * in the world (sim_world_report prints them). Returns owned, free with sim_world_free(). */
sim_world *sim_world_run(const sim_params *p, bool live_trace, FILE *trace_out);
void sim_world_free(sim_world *w);
void sim_world_report(const sim_world *w, FILE *out);
/* Records the first violated check and stops the world at the end of the current step. */
void sim_fail(sim_world *w, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_log(sim_world *w, sim_ev_kind kind, int32_t replica, int32_t peer, uint16_t sub,
             uint64_t view, uint64_t op, uint64_t commit, int64_t x);

/* ---- net.c ---------------------------------------------------------------------------------- */

void sim_net_init(sim_net *net);
void sim_net_fini(sim_net *net);
/* Queues m with a random delay (maybe loses or duplicates it). Takes m. */
void sim_net_send(sim_world *w, sim_msg *m);
/* Earliest delivery time, or INT64_MAX. */
int64_t sim_net_next_at(const sim_net *net);
/* Pops the next message due at or before t; NULL when none. */
sim_msg *sim_net_pop_due(sim_net *net, int64_t t);
bool sim_net_link_up(const sim_world *w, uint32_t from, uint32_t to);

/* ---- replica.c ------------------------------------------------------------------------------ */

int64_t sim_mono(const sim_replica *r, int64_t t);
int64_t sim_wall(const sim_replica *r, int64_t t);
/* The earliest real time at which r's monotonic clock reads at least `mono`. */
int64_t sim_real_at(const sim_replica *r, int64_t mono);
/* Formats the disks of a new replica and opens it. */
void sim_replica_init(sim_world *w, sim_replica *r, uint32_t index);
void sim_replica_fini(sim_replica *r);
/* One step at time t: inbox, tick, client requests, batching, then the sync (or the crash). */
void sim_replica_step(sim_replica *r);
void sim_replica_crash(sim_replica *r, bool before_sync);
void sim_replica_restart(sim_replica *r);
void sim_replica_wipe(sim_replica *r);
/* Queues a message for r's next step (drops it when the inbox is full). Takes m. */
void sim_replica_deliver(sim_replica *r, sim_msg *m);
bool sim_replica_has_work(const sim_replica *r);

/* ---- client.c ------------------------------------------------------------------------------- */

void sim_client_init(sim_world *w, sim_client *c, uint32_t index);
void sim_client_fini(sim_client *c);
/* Sends, resends or times out at time t. */
void sim_client_act(sim_world *w, sim_client *c);
void sim_client_on_reply(sim_world *w, sim_client *c, const sim_msg *m);
int64_t sim_client_next_at(const sim_client *c);
bool sim_client_done(const sim_client *c);

/* ---- check.c -------------------------------------------------------------------------------- */

/* A replica step (or restart) begins: what its applies record is tentative from here on. */
void sim_check_step_begin(sim_world *w);
/* The step's sync happened: its applies are durable facts. */
void sim_check_step_durable(sim_world *w);
/* The step crashed before its sync: its applies never happened (every record they changed gets
 * its old value back). A later apply at the same op may then carry another entry. */
void sim_check_step_lost(sim_world *w);
/* Registers a client op before it is first sent (S4: committed ops came from clients). */
void sim_check_client_op(sim_world *w, const uint8_t *packed, size_t len, ld_op_type type);
/* After replica r applied `op` (entry bytes, results): S1, S4, S5 (acks at op), S6. */
void sim_check_apply(sim_world *w, sim_replica *r, uint64_t op, int64_t ts, const uint8_t *entry,
                     uint32_t len, const Ldpb__LogEntry *le, const ld_op *ops,
                     const ld_result *results);
/* After r installed a checkpoint whose applied op is `op` (S6 digest at op). */
void sim_check_install(sim_world *w, sim_replica *r, uint64_t op);
/* A reply OK left replica r (released after the sync): records the ack (S5). */
void sim_check_ack(sim_world *w, sim_replica *r, const sim_msg *reply);
/* A linearizable read served by r (S5: it reflects every acknowledged write). */
void sim_check_read(sim_world *w, sim_replica *r, const sim_res *res);
/* After every step of r: S3 (monotone view / commit), S5 (a primary holds every acked op). */
void sim_check_step(sim_world *w, sim_replica *r);
/* r restarted from its disk: S3 against the durable values. */
void sim_check_restart(sim_world *w, sim_replica *r);
/* True when every replica is up, normal, and at the same commit_min and digest. */
bool sim_check_converged(sim_world *w, bool report);
/* The end-of-run checks once converged (stock accounting). */
void sim_check_final(sim_world *w);
uint64_t sim_fingerprint(const uint8_t *packed, size_t len);
void sim_entry_hash(int64_t ts, const uint8_t *entry, size_t len, uint64_t *lo, uint64_t *hi);
/* The compact form of one op's result. */
sim_res sim_res_from(const ld_result *res, ld_op_type type);
/* Reads the drop from r's state machine. */
bool sim_read_drop(sim_world *w, sim_replica *r, int64_t now_ms, sim_res *out);

/* ---- selftest.c ---------------------------------------------------------------------------- */

/* The checks' own scenarios (a genuine S1 divergence is caught; a lost, never durable apply is
 * forgotten). Returns the number of scenarios that went wrong, each printed to err. */
int sim_self_test_checks(FILE *err);

/* Builds an ld_id from two numbers (readable in traces). */
ld_id sim_id(uint32_t kind, uint32_t n);

#endif /* LD_TESTS_SIM_H */
