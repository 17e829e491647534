/*
 * repl_int.h -- internals shared by the files of the replica (repl.c normal path, repl_vc.c view
 * change, repl_sync.c repair / state transfer / trimming, repl_log.c records and the in-memory
 * log window). Not a contract: only shard/repl/repl*.c include it.
 *
 * The in-memory log window. A replica holds the headers of the ops (op - RING, op] in a ring of
 * slots indexed by op % RING, and never lets its head run more than LD_PEER_WINDOW_MAX ops past
 * commit_min (a prepare further out is dropped; a replica further behind than that catches up by
 * fill, below, or state transfer when the log it needs is gone). So every op that is not yet
 * applied has its slot, and the window also keeps
 * the newest applied headers for DoViewChange / StartView suffixes and resends.
 *
 * A slot with op == k says "the log holds a record for op k with header h" (put into the store;
 * by the host rule it is durable before any effect of this replica leaves), with or without the
 * body (StartView and the new primary install headers first and repair bodies after). Bodies of
 * unapplied ops stay in memory too, so apply never reads the store (which shows durable records
 * only: a record put in this loop turn is not visible there yet).
 *
 * Canonical log. The log from the head down is "linked" while every slot's checksum equals the
 * parent of the slot above; link_scan() walks (commit_min, op] from the head and either reaches
 * commit_min with the checksum of the applied entry (linked) or stops at break_op, the highest op
 * whose entry is missing or differs from break_expect (what the chain above wants there). The
 * head is always an entry of the replica's current log (StartView, new primary, or the view's
 * prepares), so the linked part is that log; entries at or below the break are old and are
 * replaced by repair. canon_op: every entry in (commit_min, canon_op] is in the view's log and
 * has its body. A backup acknowledges canon_op and applies up to min(commit_max, canon_op).
 *
 * Fill (REPLICATION.md 6.1). A replica more than the window behind the view's log (recovering
 * after a checkpoint, normal but not yet installed, or an installed backup that fell behind)
 * cannot hold the headers it would walk down from: it fetches the committed entries right above
 * commit_min instead, by GetPrepare without checksum, up to LD_PEER_WINDOW_MAX in flight. Such an
 * answer (Prepare.committed) comes only from a replica that applied the entry; its slot is marked
 * `committed` and applied as soon as it chains onto commit_min, whatever the link state above.
 */
#ifndef LD_SHARD_REPL_INT_H
#define LD_SHARD_REPL_INT_H

#include "repl.h"

#define LDI_REPL_RING (2u * LD_PEER_WINDOW_MAX)
_Static_assert((LDI_REPL_RING & (LDI_REPL_RING - 1)) == 0, "ring size is a power of two");
_Static_assert(LDI_REPL_RING >= LD_PEER_WINDOW_MAX + LD_PEER_DVC_HEADERS_MAX,
               "the ring holds the unapplied window and a DVC suffix below it");

/* Log records deleted by one trimming pass (REPLICATION.md §7.1: in batches). */
#define LDI_REPL_TRIM_BATCH 256u
/* A cached checkpoint (state transfer responder) is freed after this long unused. */
#define LDI_REPL_STATE_IDLE_MS 5000

typedef struct ldi_ring_entry {
    uint64_t op;       /* 0: empty */
    ld_entry_header h; /* valid when op != 0 */
    bool has_body;     /* the log record holds the body */
    bool committed;    /* a fill answer: known to be the committed entry at op */
    uint8_t *body;     /* in-memory copy (malloc'd) or NULL; entry_size bytes */
} ldi_ring_entry;

/* One DoViewChange received (or made) for the view being formed. */
typedef struct ldi_dvc {
    bool have;
    uint64_t log_view;
    uint64_t op;
    uint64_t commit;
    uint64_t commit_min;
    uint64_t suffix_from;
    uint64_t present_op;
    uint32_t headers_len;
    ld_entry_header headers[LD_PEER_DVC_HEADERS_MAX]; /* newest first */
} ldi_dvc;

/* State transfer, asking side. */
typedef struct ldi_xfer {
    bool active;
    uint32_t from;          /* responder */
    uint64_t min_op;        /* asked checkpoint_op >= min_op */
    uint64_t checkpoint_op; /* 0 until the first chunk came */
    ld_checksum checkpoint_checksum;
    int64_t checkpoint_ts;
    uint64_t total;
    ld_checksum stream_checksum;
    uint8_t *buf;  /* total bytes once the first chunk came */
    uint64_t have; /* bytes received (in order) */
    int64_t asked_at;
    uint32_t retries;
} ldi_xfer;

/* State transfer, responding side: one cached checkpoint. */
typedef struct ldi_ckpt {
    uint8_t *buf; /* NULL: none */
    size_t len;
    uint64_t op;
    ld_checksum checksum;
    int64_t ts;
    ld_checksum stream_checksum;
    int64_t used_at;
} ldi_ckpt;

/*
 * The replica. Invariants, written beside their fields and checked by ldi_repl_invariants()
 * (repl.c) whenever a public entry returns (open, on_message, on_tick, prepare). "Anchored"
 * below means status != RECOVERING || rec_installed: a replica recovering from a lost disk has
 * no log of its own until it holds a state to build on (a checkpoint, or the empty state), and
 * its commit_min is whatever the host said it applied, with op and canon_op 0 below it.
 */
struct ld_repl {
    ld_repl_config cfg; /* defaults filled in */
    ld_store store;
    ld_repl_host host;
    uint32_t n;    /* 1, 3 or 5 */
    uint32_t q;    /* n / 2 + 1 */
    uint32_t self; /* < n */

    /* RECOVERING only from an open without meta until the StartView install makes it NORMAL;
     * never entered again in the incarnation. VIEW_CHANGE: view > log_view (vc_enter raises
     * view; only form_view and the StartView install raise log_view, to view, and leave
     * VIEW_CHANGE). n == 1: always NORMAL, installed and primary. */
    ld_repl_status status;
    uint64_t view;     /* never goes back; durable (meta) except while RECOVERING */
    uint64_t log_view; /* <= view; == view when installed (n > 1: the disk's word for n == 1) */
    /* head: highest record in the log (or log_start). Anchored: log_start <= commit_min <= op
     * <= commit_min + LD_PEER_WINDOW_MAX (ldi_log_write's bound), and op > commit_min means the
     * head has its slot. */
    uint64_t op;
    /* commit_min <= commit_max. A backup may know commits above its head (learned from the
     * primary before it has the entries): commit_max <= op only on the primary. The pipeline
     * bound op - commit_max <= LD_PEER_PIPELINE_MAX holds for what a primary prepares
     * (ld_repl_prepare asserts it) but is no invariant: a new primary adopts a log whose head
     * may be up to the window above the commits the DVCs reported. */
    uint64_t commit_max;
    uint64_t commit_min;     /* applied; >= log_start */
    ld_checksum cm_checksum; /* checksum of entry commit_min (the anchor's when at log_start) */
    int64_t cm_ts;
    uint64_t anchor_op; /* checkpoint anchor: the log starts after it (format: 0); <= log_start */
    ld_checksum anchor_checksum;
    int64_t anchor_ts;
    uint64_t log_start; /* records <= log_start are gone (trimmed or before the anchor) */
    /* Durable (record "R", ldi_lost_write): the head of the StartView log a recovery from a wiped
     * disk installed, 0 if the disk was never lost. Before the wipe this replica may have
     * acknowledged entries up to there whose bodies it no longer holds, so its DVCs report
     * present_op >= lost_op: the nack rule must not take their absence as proof that an entry was
     * never committed. 0 while RECOVERING (set by the install that ends it). */
    uint64_t lost_op;

    bool linked;       /* linked: break_op == 0 (ldi_link_scan) */
    uint64_t break_op; /* !linked: the highest op missing or off the head's chain */
    ld_checksum break_expect;
    uint64_t canon_op; /* anchored: commit_min <= canon_op <= op; == op on the primary */
    /* NORMAL only (VIEW_CHANGE and RECOVERING never installed): the log is this view's
     * (StartView or formed view). */
    bool installed;
    ldi_ring_entry ring[LDI_REPL_RING];

    /* primary */
    uint64_t acked[LD_PEER_REPLICAS_MAX];
    int64_t lease_at[LD_PEER_REPLICAS_MAX]; /* send time of the latest Commit each one acked */
    int64_t resend_at[LD_PEER_REPLICAS_MAX];
    uint32_t resend_ms[LD_PEER_REPLICAS_MAX];
    int64_t commit_sent_at;
    /* head adopted at the start of the view (reads wait for it); <= op on the primary */
    uint64_t view_start_op;

    /* backup */
    int64_t heard_at;    /* last Prepare / Commit / StartView from primary(view) */
    int64_t ack_sent_at; /* last PrepareOk sent (lease promise) */
    int64_t rsv_at;      /* next RequestStartView resend */
    uint64_t rsv_view;   /* the view it asks about */
    int64_t progress_at; /* canon_op / commit_min last advanced or nothing was missing */

    /* view change */
    uint64_t svc_votes[LD_PEER_REPLICAS_MAX];   /* highest view each replica voted for (> view) */
    int64_t svc_first_at[LD_PEER_REPLICAS_MAX]; /* when its votes (> view) began */
    int64_t svc_last_at[LD_PEER_REPLICAS_MAX];  /* its latest vote */
    bool voting;                                /* never while RECOVERING */
    uint64_t vote_view; /* the view this replica votes for while voting: > view */
    int64_t vote_at;    /* next SVC resend */
    bool vc_adopted;    /* new primary: the best DVC's log is installed, repairing (VIEW_CHANGE:
                         * only on primary(view); stale, unused, once NORMAL) */
    uint64_t vc_commit; /* new primary: max commit over the DVCs */
    int64_t vc_at;      /* status view_change entered (or restart) */
    int64_t dvc_at;     /* next DVC resend */
    int64_t opened_at;
    ldi_dvc dvcs[LD_PEER_REPLICAS_MAX];

    /* repair */
    int64_t repair_at;
    uint32_t repair_rot;
    uint64_t overwrite_min; /* lowest op overwritten or deleted in this incarnation */

    /* fill: committed entries fetched forward from commit_min (6.1) */
    uint64_t fill_commit;   /* an op known committed (a StartView's commit, a filled entry). Not
                             * commit_max: that one lets ldi_apply_committed apply the replica's
                             * own linked log, which is the view's only once installed */
    int64_t fill_at;        /* next round asking every missing op again (INT64_MAX: idle) */
    uint64_t fill_asked_hi; /* ops up to here were asked in this round */
    uint64_t fill_round_cm; /* commit_min when the round began: no progress rotates the target */
    uint32_t fill_rot;

    /* state transfer and recovery */
    uint8_t nonce[16];
    ldi_xfer xfer; /* active: from < n, from != self */
    ldi_ckpt ckpt; /* buf != NULL: op <= commit_min (a state this replica applied) */
    uint64_t rec_view[LD_PEER_REPLICAS_MAX]; /* recovering: answers with our nonce */
    bool rec_have[LD_PEER_REPLICAS_MAX];
    bool rec_normal[LD_PEER_REPLICAS_MAX];
    uint64_t rec_commit[LD_PEER_REPLICAS_MAX];
    int64_t rec_at;
    /* recovering: a state to build on (a checkpoint installed in this incarnation, or the empty
     * state when nothing was committed anywhere) and a view learned from f+1 others whose primary
     * was normal. From then on, and until the StartView install makes it normal, it asks
     * primary(view) for the StartView, accepts StartViews of views >= view and fills (6.1, 7.3).
     * Only the StartView install clears it (and ends RECOVERING): the f+1 round that set it already
     * showed every view the lost disk may have counted in (REPLICATION.md 7.3), and a later view's
     * primary is as good a source. So rec_installed implies RECOVERING. */
    bool rec_installed;
    int64_t rec_installed_at; /* ... since then, or the last StartView / fill progress */
    /* recovering, rec_installed: VC_TIMEOUT passed without a StartView or fill progress, so it
     * probes everybody again (f+1 answers) for a newer view -- while it keeps asking
     * primary(view) and listening to its StartView (a replica deaf until that round completed
     * stayed recovering at the primary's commit when an answer was missing). Implies
     * RECOVERING and rec_installed. */
    bool rec_probing;
    /* recovering: this incarnation installed a checkpoint (cm_checksum is its anchor or a filled
     * entry's), so a new round of probes needs no new transfer (never an older checkpoint).
     * RECOVERING and rec_anchored: rec_installed. Not cleared by the install (unused after). */
    bool rec_anchored;

    ld_repl_stats stats;
};

/* ---- repl_log.c: records, slots, the canonical log -------------------------------------- */

bool ldi_cs_eq(const ld_checksum *a, const ld_checksum *b);
bool ldi_cs_zero(const ld_checksum *a);
ldi_ring_entry *ldi_ring_entry_get(ld_repl *r, uint64_t op); /* NULL when not in the ring */
const ldi_ring_entry *ldi_ring_entry_cget(const ld_repl *r, uint64_t op); /* same, const */
/* Checksum of op (commit_min's / the anchor's or a slot's). False when unknown. */
bool ldi_checksum_of(const ld_repl *r, uint64_t op, ld_checksum *out);
/* Writes the log record for h (body may be NULL: header only) and sets the slot. Takes body
 * (malloc'd) on every path. */
void ldi_log_write(ld_repl *r, const ld_entry_header *h, uint8_t *body, bool has_body);
/* Deletes the records (after, op] and lowers the head to `after`. */
void ldi_log_truncate(ld_repl *r, uint64_t after);
/* Deletes the durable log records lo..hi (pending write; the ring is the caller's). */
void ldi_log_del_range(ld_repl *r, uint64_t lo, uint64_t hi);
/* Reads the durable record for op with checksum `want`; returns a malloc'd body or NULL. */
uint8_t *ldi_log_read_body(ld_repl *r, uint64_t op, const ld_checksum *want, ld_entry_header *h);
void ldi_meta_write(ld_repl *r);
/* Writes the recovered record (lost_op) of a replica that recovered from a lost disk. */
void ldi_lost_write(ld_repl *r);
/* Recomputes linked / break_op / canon_op. */
void ldi_link_scan(ld_repl *r);
/* Applies (commit_min, min(commit_max, canon_op)] through host->apply. */
void ldi_apply_committed(ld_repl *r, int64_t now);
/* Applies the fill's committed entries chained onto commit_min (slot.committed), in op order. */
void ldi_apply_filled(ld_repl *r, int64_t now);
void ldi_ring_entry_clear(ldi_ring_entry *s);
void ldi_ring_clear(ld_repl *r);

/* ---- repl.c: shared helpers ----------------------------------------------------------------- */

uint32_t ldi_primary_of(const ld_repl *r, uint64_t view);
bool ldi_is_primary(const ld_repl *r);
void ldi_msg_init(const ld_repl *r, ld_repl_msg *m, ld_repl_kind kind);
void ldi_send(ld_repl *r, uint32_t to, const ld_repl_msg *m);
void ldi_send_prepare_ok(ld_repl *r, int64_t ping, int64_t now);
/* Fills up to LD_PEER_DVC_HEADERS_MAX linked headers from the head down; returns the count and
 * sets *suffix_from. */
uint32_t ldi_suffix_headers(const ld_repl *r, ld_entry_header *out, uint64_t *suffix_from);
/* Accepts an entry (prepare or repair answer) into the log if it is wanted. */
void ldi_accept_entry(ld_repl *r, const ld_repl_msg *m, bool canonical, int64_t now);
/* Primary: a view begins with the current log (after forming it). */
void ldi_primary_begin(ld_repl *r, int64_t now);
/* Asserts the invariants of struct ld_repl above (LD_ASSERT, one fact each): called when every
 * public entry returns. Cheap: O(n), no log walk. */
void ldi_repl_invariants(const ld_repl *r);

/* ---- repl_vc.c ------------------------------------------------------------------------------ */

void ldi_vc_on_svc(ld_repl *r, const ld_repl_msg *m, int64_t now);
void ldi_vc_on_dvc(ld_repl *r, const ld_repl_msg *m, int64_t now);
void ldi_vc_on_start_view(ld_repl *r, const ld_repl_msg *m, int64_t now);
void ldi_vc_on_rsv(ld_repl *r, const ld_repl_msg *m, int64_t now);
void ldi_vc_tick(ld_repl *r, int64_t now);
/* Enters status view_change in view w (durable), records own DVC. */
void ldi_vc_enter(ld_repl *r, uint64_t w, int64_t now);
/* A message of a view above ours: ask primary(view) for a StartView (throttled). */
void ldi_vc_request_start_view(ld_repl *r, uint64_t view, int64_t now);
/* The primary has been heard from: clears votes. */
void ldi_vc_heard(ld_repl *r, int64_t now);
/* New primary: adopt the best DVC's log once a quorum is in; form the view when complete. */
void ldi_vc_try_form(ld_repl *r, int64_t now);
int64_t ldi_vc_deadline(const ld_repl *r);

/* ---- repl_sync.c ---------------------------------------------------------------------------- */

void ldi_sync_on_get_prepare(ld_repl *r, const ld_repl_msg *m, int64_t now);
/* Whether this replica fetches committed entries forward now (6.1): it has its log anchored
 * (recovering with a checkpoint, or normal and not the primary) and knows commits above
 * commit_min. */
bool ldi_sync_filling(const ld_repl *r);
/* Asks for the committed entries (commit_min, min(commit_max, commit_min + window)] it lacks:
 * the ops above those already asked when `force` (progress, a new commit), all of them again at
 * each REPAIR_TIMEOUT round (the next replica when a round made no progress). */
void ldi_sync_fill(ld_repl *r, int64_t now, bool force);
/* A Prepare with `committed`: writes it if it fits the window and chains, marks it committed. */
void ldi_sync_on_fill(ld_repl *r, const ld_repl_msg *m);
void ldi_sync_on_get_state(ld_repl *r, const ld_repl_msg *m, int64_t now);
void ldi_sync_on_new_state(ld_repl *r, const ld_repl_msg *m, int64_t now);
/* Asks for missing bodies / the break entry when due. `force`: now, not at repair_at. */
void ldi_sync_repair(ld_repl *r, int64_t now, bool force);
void ldi_sync_tick(ld_repl *r, int64_t now);
void ldi_sync_trim(ld_repl *r);
void ldi_sync_start_transfer(ld_repl *r, uint32_t from, uint64_t min_op, int64_t now);
void ldi_sync_free(ld_repl *r);
int64_t ldi_sync_deadline(const ld_repl *r);

#endif /* LD_SHARD_REPL_INT_H */
