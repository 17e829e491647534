/*
 * engine_int.h -- internals shared by engine.c (turns, batches, recovery) and engine_req.c
 * (request slots: frame checks, decoding, result encoding, replies).
 *
 * Request slots. Slot i belongs to NNG context i: a context holds at most one request until it
 * is answered, so the slots never run out and need no allocation per request.
 *
 *   REQ_FREE --(frame admitted)--> REQ_QUEUED --(turn takes it)--> REQ_TAKEN --(all resolved)-->
 *   reply, REQ_FREE (gen++)          REQ_TAKEN --(a payment pending)--> REQ_WAITING
 *   REQ_WAITING --(last FINISH_ORDER result)--> reply, REQ_FREE (gen++)
 *
 * Each op of a request has a slot state. A resolved op's Result is encoded at once, as a ready
 * Response field (tag 5 + length + packed Result), into the request's `out` buffer; the reply is
 * then the packed Response header followed by those chunks in op order. protobuf allows a
 * repeated field's elements to follow the other fields, so this is a valid Response, and a
 * waiting request holds a few hundred bytes per op rather than an ld_result (~1 KiB) each.
 */
#ifndef LDI_ENGINE_INT_H
#define LDI_ENGINE_INT_H

#include "arena.h"
#include "codec.h"
#include "engine.h"
#include "host.h"
#include "metrics.h"
#include "payment.h"
#include "peer.h"
#include "repl.h"
#include "sm.h"
#include "store_rocks.h"

/* Internal ops per batch: FINISH_ORDER for finished payments, RELAY_FOLLOW for follow events of
 * earlier batches, plus one TICK. Client writes get the rest of LD_BATCH_OPS_MAX: the room of
 * the relays is reserved only in turns that have relays, so a turn without them still takes 7
 * whole max-size requests. Finished payments and relays past their share wait for the next
 * turn. */
#define ENG_FINISH_OPS_MAX 1023u /* 1023 + TICK leaves 7168 = 7 whole max-size requests */
#define ENG_RELAY_OPS_MAX LD_NODE_RELAY_BATCH_MAX
#define ENG_INTERNAL_OPS_MAX (ENG_FINISH_OPS_MAX + ENG_RELAY_OPS_MAX + 1u)
#define ENG_CLIENT_OPS_MAX (LD_BATCH_OPS_MAX - ENG_FINISH_OPS_MAX - 1u) /* no relays */
_Static_assert(LD_BATCH_OPS_MAX - ENG_INTERNAL_OPS_MAX >= LD_REQUEST_OPS_MAX,
               "a whole request always fits a batch, relays or not");
_Static_assert(ENG_CLIENT_OPS_MAX % LD_REQUEST_OPS_MAX == 0,
               "no batch room wasted on big requests");
_Static_assert(ENG_RELAY_OPS_MAX % LD_REQUEST_OPS_MAX == 0,
               "relays take the room of whole max-size requests");

/* Responses (P5): never above LD_RESPONSE_BYTES_MAX. Results other than pages are bounded by
 * the string limits (a catalog product, the largest, is under 2 KiB, so 1024 of them take under
 * 2 MiB); a page that would not fit is read again with half its size until it fits. Each
 * result still to come (a payment, another page) keeps ENG_RESULT_RESERVE_BYTES of room. */
#define ENG_RESPONSE_BYTES_MAX LD_RESPONSE_BYTES_MAX
#define ENG_RESULT_RESERVE_BYTES 1024u
#define ENG_RESPONSE_HEAD_BYTES 64u /* the Response fields before the results */
_Static_assert(ENG_RESPONSE_BYTES_MAX >= 4u * LD_FRAME_BYTES_MAX, "a response may be large");

/* Long polls (PULL_EVENTS with wait_ms): parked pulls are indexed by topic in a hash of chains
 * so that a batch's events wake exactly the pulls they concern. */
#define ENG_POLL_HASH_SLOTS 2048u /* power of two, >= 2 * LD_NODE_LONG_POLLS_MAX */
_Static_assert((ENG_POLL_HASH_SLOTS & (ENG_POLL_HASH_SLOTS - 1)) == 0, "power of two");
_Static_assert(ENG_POLL_HASH_SLOTS >= 2 * LD_NODE_LONG_POLLS_MAX, "short chains");

/* What one request may expand into when unpacked, and all queued requests together (P5). A
 * legitimate 1024-op request needs about 2 MiB. */
#define ENG_ARENA_BYTES_MAX (16u * LD_FRAME_BYTES_MAX)
#define ENG_ARENAS_BYTES_MAX (512u * 1024u * 1024u)

/* A request's result buffer above this is freed after the reply rather than kept for reuse. */
#define ENG_OUT_KEEP_BYTES (256u * 1024u)

/* Replication (REPLICATION.md §11). The client ops of one entry stop at
 * ENG_ENTRY_CLIENT_BYTES_MAX of request frames, so that the entry with its internal ops stays
 * below LD_PEER_ENTRY_BYTES_MAX (a FINISH_ORDER or RELAY_FOLLOW packs to under 200 bytes). */
#define ENG_ENTRY_CLIENT_BYTES_MAX (LD_PEER_ENTRY_BYTES_MAX - (1u << 20))
_Static_assert(ENG_INTERNAL_OPS_MAX * 200u < (1u << 20), "internal ops fit the entry's reserve");
_Static_assert(ENG_ENTRY_CLIENT_BYTES_MAX >= LD_FRAME_BYTES_MAX, "a whole request always fits");

#define ENG_METRICS_INTERVAL_MS 10000u /* at most one summary line per interval */

typedef enum eng_slot_state {
    SLOT_DONE = 0,    /* result encoded in out[off, off + len) */
    SLOT_PENDING = 1, /* not looked at yet */
    SLOT_BATCH = 2,   /* a write in this turn's batch */
    SLOT_READ = 3,    /* a read, answered after this turn's sync */
    SLOT_PAYMENT = 4, /* a place_order waiting for its FINISH_ORDER */
    SLOT_POLL = 5,    /* a PULL_EVENTS parked until an event or its wait_ms (eng_poll) */
} eng_slot_state;

typedef struct eng_slot {
    uint32_t off;
    uint32_t len;
    uint8_t state; /* eng_slot_state */
} eng_slot;

typedef enum eng_req_state {
    REQ_FREE = 0,
    REQ_QUEUED = 1,
    REQ_TAKEN = 2,
    REQ_WAITING = 3,
} eng_req_state;

typedef struct eng_req {
    uint32_t index; /* == NNG context index */
    eng_req_state state;
    bool follower;      /* Request.follower_read: answered by any replica in normal status */
    bool touched;       /* in e->touched: look at it after this turn's sync */
    bool abandoned;     /* its ops were prepared in a view this replica left: NOT_PRIMARY */
    bool has_write;     /* some op went into an entry */
    uint32_t n_batch;   /* ops in prepared entries, not applied yet (SLOT_BATCH) */
    uint32_t frame_len; /* bytes of the request frame (the entry's size budget) */
    uint64_t gen;       /* bumped at every reply: payment waiters carry it */
    uint64_t request_id;
    Ldpb__Request *pb; /* in `arena`; NULL once the request no longer needs it */
    ldi_arena arena;
    uint32_t n_ops;
    uint32_t unresolved; /* ops not SLOT_DONE */
    uint32_t n_reads;
    uint32_t n_pages; /* page ops admitted (at most LD_REQUEST_LIST_OPS_MAX) */
    eng_slot *slots;  /* [LD_REQUEST_OPS_MAX] */
    uint8_t *out;
    size_t out_len;
    size_t out_cap;
} eng_req;

/* One parked PULL_EVENTS: op `op_index` of request slot `req` (generation `gen`). */
typedef struct eng_poll {
    bool used;
    bool ready; /* an event of its topic arrived: read it again */
    uint32_t req;
    uint32_t op_index;
    uint64_t gen;
    ld_op_pull_events pull;
    uint32_t hash;    /* chain index in poll_hash, or ENG_POLL_HASH_SLOTS for the whole stream */
    uint32_t next;    /* next poll in the chain or in the free list, index + 1 (0: none) */
    uint32_t prev;    /* previous poll in the chain, index + 1 (0: it is the chain's head) */
    uv_timer_t timer; /* wait_ms */
    struct ldi_engine *engine;
} eng_poll;

/* ld_host_src.kind of the node's ops: where entry op i came from, a client op (a = request slot,
 * b = op index, flags ENG_SRC_PAYMENT for a place_order whose payment capacity is planned) or an
 * internal op (a = its index in the flight's finished payments, or in the relay queue). The
 * core's TICK is LD_HOST_SRC_TICK. */
typedef enum eng_src_kind {
    SRC_CLIENT = 0,
    SRC_FINISH = 1,
    SRC_RELAY = 3,
} eng_src_kind;
#define ENG_SRC_PAYMENT 1u

/* What the node keeps per flight of the host core (by ld_host_flight.index). */
typedef struct eng_flight {
    uint32_t payments;  /* place_orders counted in planned_payments, not resolved yet */
    ldi_pay_done *done; /* [ENG_FINISH_OPS_MAX]: the payments its FINISH_ORDERs carry */
} eng_flight;

/* A payment to start once this turn's write is durable. */
typedef struct eng_pay_start {
    ld_payment_request req;
    ldi_pay_waiter waiter;
} eng_pay_start;

struct ldi_engine {
    uv_loop_t *loop;
    uv_thread_t loop_thread; /* owns everything below */
    ldi_config cfg;
    ldi_rocks *rocks;
    ld_store store;          /* the state machine's records */
    ld_store repl_store;     /* the replica's records */
    ld_host *core;           /* the replica host core: state machine, replica, the turn */
    ld_host_io io;           /* the node's adapters (engine.c, engine_repl.c), arg = this engine */
    ld_sm *sm;               /* ld_host_sm(core), refreshed by a state transfer */
    ld_repl *repl;           /* ld_host_repl(core) */
    const ld_repl_state *rs; /* ld_host_state(core): as of the last replica call */
    ldi_peer *peer;          /* NULL with one replica */
    ldi_peer_batch peer_in;  /* the frames this turn hands to the replica */
    uint32_t replica_count;  /* 1, 3 or 5 */
    bool ready_pending;      /* the core said ready before the engine started: act at start */
    bool turn_blocked;       /* the queue's head waits for the pipeline (set by the take) */
    uint64_t commit_held_us; /* time replies of committed requests waited in a fsync */
    eng_flight flights[LD_HOST_FLIGHTS];
    eng_pay_start *pay_starts; /* grows; at most planned_payments */
    uint32_t n_pay_starts;
    uint32_t pay_starts_cap;
    uint32_t touched[LD_NODE_CONTEXTS];
    uint32_t n_touched;
    uv_timer_t repl_timer;
    uint64_t peer_bad_frames;
    uint64_t peer_lost_sends;
    ldi_pay *pay;
    ldi_net *net; /* NULL until started and after stopped */
    ldi_pub *pub; /* NULL when publishing is off, until started and after stopped */
    uv_idle_t turn_idle;
    uv_timer_t tick_timer;
    uv_timer_t metrics_timer;
    bool shutting_down;
    bool stopped;

    eng_req reqs[LD_NODE_CONTEXTS];
    size_t arena_bytes;              /* shared cap of every slot's arena */
    uint32_t fifo[LD_NODE_CONTEXTS]; /* queued request indices, ring */
    uint32_t fifo_head;
    uint32_t fifo_len;
    uint32_t pending_ops; /* ops of queued requests */
    uint32_t n_waiting;

    /* this turn's entry: the node's part of it (the core holds the ops) */
    uint32_t planned_payments;
    ld_op *internal_ops;   /* [ENG_INTERNAL_OPS_MAX]: what internal_pb points into */
    Ldpb__Op *internal_pb; /* [ENG_INTERNAL_OPS_MAX] */
    ld_codec_op_scratch *internal_scratch; /* [ENG_INTERNAL_OPS_MAX] */
    uint32_t batch_client_ops;             /* client write ops in the forming entry */
    uint32_t batch_bytes;                  /* request frame bytes of the entry's client ops */
    ld_op take_op;                         /* a client write op, decoded at take */
    ld_op tmp_op;
    ld_result tmp_result;

    /* pages: one page and one wire scratch, reused for every page op */
    ld_page *page;
    ld_codec_page_scratch *page_scratch;
    ld_result page_result;
    ld_op poll_op; /* a parked pull's op, rebuilt to read it again */

    /* long polls */
    eng_poll *polls;     /* [LD_NODE_LONG_POLLS_MAX] */
    uint32_t *poll_hash; /* [ENG_POLL_HASH_SLOTS + 1]: chain heads (index + 1); the last one
                            chains the pulls of the whole stream (no topic) */
    uint32_t poll_free;  /* free list head (index + 1) */
    uint32_t n_polls;
    uint32_t n_ready;   /* polls marked ready */
    bool polls_started; /* poll timers initialised (engine started) */

    /* relay of FOLLOWED / UNFOLLOWED events as RELAY_FOLLOW ops (docs/ARCHITECTURE.md §11) */
    ld_op_relay_follow *relay_q; /* [ENG_RELAY_OPS_MAX], in seq order, for the next batch */
    uint32_t relay_n;
    uint64_t relay_scanned; /* every follow event up to this seq is relayed or in relay_q */
    ld_op relay_op;         /* scratch: the lookups relays make */
    ld_result relay_result;

    ldi_metrics metrics;
    ldi_metrics metrics_last;
    uint64_t metrics_last_ms; /* uv_now of the last summary */
    uint64_t started_ms;      /* uv_now when serving started */
};

/* ---- engine_repl.c: the host core's peer, apply, state transfer and role adapters ----------- */

/* Monotonic milliseconds (the replica's `now`). */
int64_t ldi_eng_mono_ms(void);

/* Fills the io adapters of engine_repl.c into `io` (recv, send, applied, flight_end, events,
 * role, corrupt, snapshot, install, installed). */
void ldi_eng_repl_io(ld_host_io *io);

/* Marks `r` to be looked at after this turn's sync. */
void ldi_eng_touch(ldi_engine *e, eng_req *r);

/* Answers `r` as a whole with NOT_PRIMARY (where to retry) and frees the slot. */
void ldi_eng_reply_not_primary(ldi_engine *e, eng_req *r, const char *why);

/* Fills the Response fields every reply carries: applied_op, view. */
void ldi_eng_resp_fill(const ldi_engine *e, Ldpb__Response *resp);

/* Encodes this node's ReplicaStatus as the result of op `op_index` of `r`. */
void ldi_eng_put_cluster_status(ldi_engine *e, eng_req *r, uint32_t op_index);

/* The ready primary's start-of-service work (relays from the cursor, payments driven again);
 * deferred by the role adapter until the engine serves. */
void ldi_eng_become_ready(ldi_engine *e);

/* ---- engine_req.c -------------------------------------------------------------------------- */

/* Sets up every request slot (arenas, op slots). */
void ldi_eng_reqs_init(ldi_engine *e);
/* Frees what the slots hold. */
void ldi_eng_reqs_fini(ldi_engine *e);

/* ldi_net_msg_cb: checks and decodes one frame into slot `ctx_index` and queues it, or answers
 * it at once with an envelope error. Takes `msg`. */
void ldi_eng_on_msg(void *engine, uint32_t ctx_index, nng_msg *msg);

/* Encodes `res` (borrowed) as the result of op `op_index` of `r`, which must not be resolved
 * yet, and counts it. */
void ldi_eng_put_result(ldi_engine *e, eng_req *r, uint32_t op_index, const ld_result *res);

/* As ldi_eng_put_result() for a result already in wire form: `pb` (borrowed), whose packed
 * size is `len`, with result code `code`. */
void ldi_eng_put_pb(ldi_engine *e, eng_req *r, uint32_t op_index, const Ldpb__Result *pb,
                    size_t len, ld_err code);

/* True if a result of `len` packed bytes for one more op of `r` keeps its response within
 * ENG_RESPONSE_BYTES_MAX, with room left for the other ops still unresolved. */
bool ldi_eng_result_fits(const eng_req *r, size_t len);

/* Sends r's Response (every op resolved) and frees the slot. */
void ldi_eng_reply(ldi_engine *e, eng_req *r);

/* Answers `r` as a whole with `code` and no results, and frees the slot. */
void ldi_eng_reply_envelope(ldi_engine *e, eng_req *r, ld_err code, const char *message);

/* Forgets the decoded request (its arena), keeping the encoded results. */
void ldi_eng_req_drop_pb(ldi_engine *e, eng_req *r);

/* ---- engine_events.c: pages, long polls, push, relay --------------------------------------- */

/* Allocates the page, its wire scratch, the poll table and the relay queue; sets the relay scan
 * position to the state machine's relay cursor (so the first turns re-relay what a stop cut
 * off). */
void ldi_eng_events_init(ldi_engine *e);
/* Frees what ldi_eng_events_init() allocated. */
void ldi_eng_events_fini(ldi_engine *e);
/* Initialises the poll timers (engine start). */
void ldi_eng_polls_start(ldi_engine *e);
/* Closes the poll timers (engine stop; no poll may be parked). */
void ldi_eng_polls_stop(ldi_engine *e);

/* Answers page op `op_index` of `r` (its decoded op in `op`, which may be narrowed) read as of
 * now_ms: the page, or its refusal. An empty PULL_EVENTS page with wait_ms > 0 is parked
 * instead when `may_park` and fewer than LD_NODE_LONG_POLLS_MAX are parked (the slot becomes
 * SLOT_POLL). Call only when everything applied is durable. */
void ldi_eng_answer_page(ldi_engine *e, eng_req *r, uint32_t op_index, ld_op *op, int64_t now_ms,
                         bool may_park);

/* After an applied batch whose entry is durable (on a quorum): counts and publishes its events,
 * queues its follow events for relay when `relay` (the ready primary), and marks the parked
 * pulls that its events concern. */
void ldi_eng_after_commit(ldi_engine *e, bool relay);

/* Restarts the relay from the state machine's relay cursor (a replica becoming primary). */
void ldi_eng_relay_reset(ldi_engine *e);

/* Answers the parked pulls marked by ldi_eng_after_commit() whose page is no longer empty
 * (each request replies once all its ops are resolved). */
void ldi_eng_polls_run_ready(ldi_engine *e, int64_t now_ms);

/* Answers every parked pull now, with whatever its page holds (shutdown). */
void ldi_eng_polls_answer_all(ldi_engine *e, int64_t now_ms);

/* Fills the relay queue from the event log when follow events are waiting beyond it (after a
 * restart, or when a burst overflowed the queue): at most one page read per call. Returns how
 * many relays the next batch carries. */
uint32_t ldi_eng_relay_fill(ldi_engine *e, int64_t now_ms);

/* Appends the queued relays to the batch as RELAY_FOLLOW ops, internal slots k0.., and empties
 * the queue. Returns how many. */
uint32_t ldi_eng_relay_take(ldi_engine *e, uint32_t k0);

/* True while follow events wait to be relayed (a turn should follow). */
bool ldi_eng_relay_pending(const ldi_engine *e);

/* Appends internal op `op` (copied) to the forming entry, with internal scratch slot k. Defined
 * in engine.c. */
void ldi_eng_add_internal(ldi_engine *e, uint32_t k, const ld_op *op, ld_host_src src);

#endif /* LDI_ENGINE_INT_H */
