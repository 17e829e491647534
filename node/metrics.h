/*
 * metrics.h -- the node's counters and their one-line log summary.
 *
 * Counters are plain integers bumped on the loop thread. Every ENG_METRICS_INTERVAL_MS the
 * engine logs what changed since the last summary (only if there was traffic), and the totals
 * at shutdown:
 *
 *   stats 10.0s: requests=.. (../s) ops=.. writes=.. reads=.. | batches=.. fsyncs=..
 *   ops/fsync=.. (max ..) fsync_ms=avg/max | errors envelope=.. transport=.. invalid=..
 *   business=.. | payments started=.. approved=.. declined=.. voided=.. | pages=.. events=..
 *   published=.. (dropped ..) polls parked=.. woken=.. now=.. subscribers=.. relayed=.. | state ...
 */
#ifndef LDI_METRICS_H
#define LDI_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "payment.h"
#include "sm.h"

typedef struct ldi_metrics {
    uint64_t requests;          /* request frames received */
    uint64_t replies;           /* replies handed to NNG */
    uint64_t ops;               /* client ops in admitted requests */
    uint64_t writes;            /* client ops that went into a batch */
    uint64_t reads;             /* client ops answered from state */
    uint64_t internal_ops;      /* TICK and FINISH_ORDER ops the node wrote */
    uint64_t batches;           /* log entries written */
    uint64_t fsyncs;            /* synced RocksDB writes */
    uint64_t batch_ops;         /* ops in those log entries */
    uint64_t records;           /* RocksDB records written (log entries, state puts, deletes) */
    uint64_t batch_ops_max;     /* largest log entry (reset at each summary) */
    uint64_t fsync_us;          /* time spent in synced writes */
    uint64_t fsync_us_max;      /* slowest synced write (reset at each summary) */
    uint64_t batch_ops_max_all; /* largest log entry of the run */
    uint64_t fsync_us_max_all;  /* slowest synced write of the run */
    uint64_t err_envelope;  /* requests refused as a whole (bad frame, busy, shutting down...) */
    uint64_t err_transport; /* op results in 100..199 */
    uint64_t err_invalid;   /* op results in 200..299 */
    uint64_t err_business;  /* op results in 300..399 */
    uint64_t pages;         /* page ops answered (lists, pulls) */
    uint64_t events;        /* events emitted by committed batches */
    uint64_t published;     /* push messages handed to the pub socket (one per event and topic) */
    uint64_t pub_dropped;   /* push messages the pub socket refused (or no memory) */
    uint64_t publish_ns;    /* time spent building and handing over push messages */
    uint64_t polls_parked;  /* pulls parked (long poll) */
    uint64_t polls_woken;   /* parked pulls answered with events */
    uint64_t relayed;       /* RELAY_FOLLOW ops written */
    uint64_t relay_errors;  /* event pages the relay could not read (it skipped ahead) */
    /* gauges, set before each summary (not differences) */
    uint64_t polls_now;   /* pulls parked now */
    uint64_t subscribers; /* push subscribers connected now */
} ldi_metrics;

/* Counts one op result `code` into the right class. */
void ldi_metrics_count_result(ldi_metrics *m, int code);

/* Logs the summary of `now` minus `*last` over `seconds` and makes *last = now (the per-summary
 * maxima of `now` are reset). `final`: the whole run is shown (`seconds` is then the run's
 * length) with the run's maxima. */
void ldi_metrics_report(ldi_metrics *now, ldi_metrics *last, const ldi_pay_stats *pay,
                        const ld_sm_stats *sm, double seconds, bool final);

#endif /* LDI_METRICS_H */
