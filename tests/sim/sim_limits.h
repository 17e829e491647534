/*
 * sim_limits.h -- bounds of the deterministic simulator's own tables (one seed's world); a seed
 * that would pass one stops with a "sim limit" failure instead of growing. Included by sim.h.
 * Not installed: proto/ld_limits.h holds the limits of the product, these are the test's.
 */
#ifndef LD_TESTS_SIM_LIMITS_H
#define LD_TESTS_SIM_LIMITS_H

#define LD_SIM_CLIENTS_MAX 8u          /* simulated clients */
#define LD_SIM_OPS_MAX 8192u           /* log entries one seed may commit */
#define LD_SIM_ACKS_MAX 8192u          /* acknowledged client requests recorded */
#define LD_SIM_CLIENT_OPS_MAX 8192u    /* distinct client ops (fingerprints) recorded */
#define LD_SIM_NET_INFLIGHT_MAX 16384u /* messages in flight; past it a send is lost */
#define LD_SIM_INBOX_MAX 1024u         /* messages waiting for one (paused) replica */
#define LD_SIM_OUTBOX_MAX 4096u        /* messages one replica step may send */
#define LD_SIM_HOST_PENDING_MAX 64u    /* client requests queued at a primary's host */
#define LD_SIM_BATCH_OPS_MAX 16u       /* ops in one simulated log entry */
#define LD_SIM_REQ_OPS_MAX 2u          /* ops in one simulated client request */
#define LD_SIM_TRACE_RING 256u         /* events kept for a failing seed's trace */
#define LD_SIM_TRACE_PRINT 200u        /* events printed for a failing seed */

#endif /* LD_TESTS_SIM_LIMITS_H */
