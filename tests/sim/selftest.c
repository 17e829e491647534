/*
 * selftest.c -- the checks' own test (livedrop-sim --self-test): S1 still bites now that an
 * apply is only a fact once its step's sync made it durable (check.c's undo journal).
 *
 * It drives check.c directly, with no network and no replication core: two replicas' state
 * machines on fresh in-memory stores apply a one-TICK entry at op 1, and the scenarios say which
 * steps synced and which crashed before their sync:
 *   1. r0 applies A (synced), r1 applies B          -> S1 (a genuine divergence)
 *   2. r0 applies A (synced), r0 restarts, applies B -> S1 (a durable apply cannot be replaced)
 *   3. r0 applies A, crashes before the sync, restarts and applies B -> no violation (A never
 *      became durable: the disk lost it, so the checks forget it)
 *   4. r0 applies A (synced), r1 applies B in a step that then crashes -> S1 (a tentative apply is
 *      still compared with the facts when it happens)
 */
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "sim.h"

typedef struct st_replica {
    ld_store_mem *mem;
    ld_store store;
    ld_sm *sm;
} st_replica;

static void
st_open(sim_replica *r, st_replica *h, uint32_t index)
{
    memset(r, 0, sizeof *r);
    r->index = index;
    LD_ASSERT(ld_store_mem_alloc(&h->mem) == LD_OK);
    h->store = ld_store_mem_store(h->mem);
    LD_ASSERT(ld_sm_open(&h->store, &h->sm) == LD_OK);
    r->sm = h->sm;
}

static void
st_close(st_replica *h)
{
    ld_sm_free(h->sm);
    ld_store_mem_free(h->mem);
    memset(h, 0, sizeof *h);
}

/* Replica r applies a one-TICK entry at op 1 with timestamp ts (entry bytes: the timestamp). */
static void
st_apply(sim_world *w, sim_replica *r, int64_t ts)
{
    ld_op tick;
    memset(&tick, 0, sizeof tick);
    tick.type = LD_OP_TICK;
    Ldpb__Op pb;
    ld_codec_op_scratch scratch;
    ld_codec_op_to_pb(&tick, &pb, &scratch);
    Ldpb__Op *pbs[1] = {&pb};
    Ldpb__LogEntry le = LDPB__LOG_ENTRY__INIT;
    le.op = 1;
    le.timestamp_ms = ts;
    le.n_ops = 1;
    le.ops = pbs;
    w->ops_scratch[0] = tick;
    ld_batch_stamp stamp = {.op = 1, .ts_ms = ts};
    ld_sm_apply(r->sm, &stamp, w->ops_scratch, 1, w->res_scratch);
    uint8_t entry[8];
    memcpy(entry, &ts, sizeof entry);
    sim_check_apply(w, r, 1, ts, entry, sizeof entry, &le, w->ops_scratch, w->res_scratch);
}

/* Runs one scenario; returns the check that failed ("" when none). */
static const char *
st_scenario(int which, char *check, size_t check_len)
{
    sim_world *w = calloc(1, sizeof *w);
    LD_ASSERT(w != NULL);
    w->ops = calloc((size_t)LD_SIM_OPS_MAX + 1, sizeof *w->ops);
    w->cops = calloc((size_t)LD_SIM_CLIENT_OPS_MAX * 2, sizeof *w->cops);
    w->ops_scratch = calloc(LD_SIM_BATCH_OPS_MAX + 2, sizeof *w->ops_scratch);
    w->res_scratch = calloc(LD_SIM_BATCH_OPS_MAX + 2, sizeof *w->res_scratch);
    LD_ASSERT(w->ops && w->cops && w->ops_scratch && w->res_scratch);
    w->drop = sim_id(3, 1);
    sim_replica r0, r1;
    st_replica h0, h1;
    st_open(&r0, &h0, 0);
    st_open(&r1, &h1, 1);
    const int64_t a = 1700000000000LL, b = a + 1;

    sim_check_step_begin(w);
    st_apply(w, &r0, a);
    if (which == 3) {
        sim_check_step_lost(w); /* r0 crashed before the sync; it restarts empty */
        st_close(&h0);
        st_open(&r0, &h0, 0);
    } else {
        sim_check_step_durable(w);
    }
    sim_check_step_begin(w);
    if (which == 1 || which == 4) {
        st_apply(w, &r1, b);
    } else { /* 2, 3: r0 again after a restart from what its disk held */
        if (which == 2) {
            st_close(&h0); /* the synced apply is on the disk; a fresh state shows the check */
            st_open(&r0, &h0, 0);
        }
        st_apply(w, &r0, b);
    }
    if (which == 4)
        sim_check_step_lost(w);
    else
        sim_check_step_durable(w);

    snprintf(check, check_len, "%s", w->failed ? w->check : "");
    st_close(&h0);
    st_close(&h1);
    free(w->ops);
    free(w->cops);
    free(w->undo_ops);
    free(w->undo_cops);
    free(w->ops_scratch);
    free(w->res_scratch);
    free(w);
    return check;
}

int
sim_self_test_checks(FILE *err)
{
    static const char *const want[5] = {NULL, "S1", "S1", "", "S1"};
    int bad = 0;
    for (int i = 1; i <= 4; i++) {
        char check[8];
        const char *got = st_scenario(i, check, sizeof check);
        if (strcmp(got, want[i]) != 0) {
            fprintf(err, "self-test: check scenario %d: expected %s, got %s\n", i,
                    want[i][0] ? want[i] : "no violation", got[0] ? got : "no violation");
            bad++;
        }
    }
    return bad;
}
