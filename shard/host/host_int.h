/*
 * host_int.h -- internals shared by host.c (the replica's host table, roles, life) and
 * host_turn.c (the loop turn, the entry, the write and the release).
 */
#ifndef LDI_HOST_INT_H
#define LDI_HOST_INT_H

#include "codec.h"
#include "host.h"

/* A peer message packed during the turn, sent after its write (the host rule of repl.h). */
typedef struct ldi_host_out {
    ld_host_sent sent;
    uint8_t *buf;
    size_t len;
} ldi_host_out;

struct ld_host {
    ld_host_config cfg;
    ld_host_io io;
    const ld_store *sm_store;   /* the caller's; replaced by an install */
    const ld_store *repl_store; /* the caller's */
    ld_store repl_wrap;         /* what the replica writes through: repl_store + the sync rule */
    ld_repl_host repl_host;     /* this core as the replica's host */
    ld_sm *sm;
    ld_repl *repl;

    /* The sync decision: the pending write holds a record that must be durable before the
     * effects of the calls that put it leave. Cleared by every write. */
    bool needs_sync;
    uint8_t last_meta[128]; /* the last meta record put, to tell a commit-only change */
    size_t last_meta_len;
    bool has_last_meta;

    /* roles, as of the last replica call (ldi_host_observe) */
    ld_repl_state rs;
    bool rs_valid;
    bool ready;        /* primary whose view's adopted log is applied */
    uint64_t ready_op; /* ...once commit_min reaches this op */
    bool opening;      /* inside ld_repl_open: applies re-apply; no events, no roles */

    /* the turn */
    ld_host_flight flights[LD_HOST_FLIGHTS];
    ld_host_flight *building; /* the flight this turn's entry fills, or NULL */
    uint32_t batch_n;
    ld_op *batch_ops;    /* [batch_ops_max]: the entry's ops as taken */
    Ldpb__Op **batch_pb; /* [batch_ops_max]: borrowed until the entry is packed */
    ld_id seed;          /* the building entry's id seed */
    Ldpb__Op tick_pb;
    ld_codec_op_scratch tick_scratch;
    uint8_t *log_buf;
    size_t log_cap;
    ld_op *apply_ops;    /* [batch_ops_max]: a decoded committed entry */
    ld_result *results;  /* [batch_ops_max] */
    uint32_t resolved;   /* flights applied since the turn began */
    bool events_due;     /* applies whose events wait for this turn's synced write */
    uint64_t written_op; /* the state machine's applied op as of the last write */
    ld_repl_msg_buf in;  /* the peer message being handed to the replica (~5 KiB of headers) */
    ldi_host_out outbox[LD_HOST_OUTBOX_MAX];
    uint32_t n_out;

    ld_host_stats stats;
};

/* Reads the replica's state after a call into it: role changes (io->role), flights of a view it
 * left end (io->flight_end, LD_HOST_END_LEFT_VIEW), a new primary becomes ready. */
void ldi_host_observe(ld_host *h);
/* Ends flight f without results. */
void ldi_host_end_flight(ld_host *h, ld_host_flight *f, ld_host_end why, ld_err err);
/* Sends every message of the outbox (io->send). */
void ldi_host_send_outbox(ld_host *h);

#endif /* LDI_HOST_INT_H */
