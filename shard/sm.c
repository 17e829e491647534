/*
 * sm.c -- TEMPORARY placeholder so that node/ can link: every op answers LD_ERR_INTERNAL.
 * The real state machine replaces this file.
 */
#include "sm.h"

#include <stdlib.h>
#include <string.h>

struct ld_sm {
    const ld_store *store;
    uint64_t applied_op;
    int64_t last_ts_ms;
};

ld_err
ld_sm_open(const ld_store *store, ld_sm **out)
{
    LD_ASSERT(store != NULL && out != NULL);
    ld_sm *sm = calloc(1, sizeof *sm);
    if (sm == NULL)
        return LD_ERR_NOMEM;
    sm->store = store;
    *out = sm;
    return LD_OK;
}

void
ld_sm_free(ld_sm *sm)
{
    free(sm);
}

void
ld_sm_apply(ld_sm *sm, uint64_t op_number, int64_t ts_ms, const ld_op *ops, size_t n,
            ld_result *results_out)
{
    LD_ASSERT(op_number == sm->applied_op + 1);
    LD_ASSERT(ts_ms >= sm->last_ts_ms);
    for (size_t i = 0; i < n; i++)
        ld_result_fail(&results_out[i], LD_ERR_INTERNAL, "%s: not implemented yet",
                       ld_op_name(ops[i].type));
    sm->applied_op = op_number;
    sm->last_ts_ms = ts_ms;
}

void
ld_sm_read(const ld_sm *sm, int64_t now_ms, const ld_op *op, ld_result *result_out)
{
    (void)sm;
    (void)now_ms;
    ld_result_fail(result_out, LD_ERR_INTERNAL, "%s: not implemented yet", ld_op_name(op->type));
}

uint64_t
ld_sm_applied_op(const ld_sm *sm)
{
    return sm->applied_op;
}

int64_t
ld_sm_last_ts(const ld_sm *sm)
{
    return sm->last_ts_ms;
}

int64_t
ld_sm_next_deadline_ms(const ld_sm *sm)
{
    (void)sm;
    return INT64_MAX;
}

size_t
ld_sm_pending_payments(const ld_sm *sm, void (*cb)(void *arg, const ld_payment_request *req),
                       void *arg)
{
    (void)sm;
    (void)cb;
    (void)arg;
    return 0;
}

void
ld_sm_check(const ld_sm *sm)
{
    (void)sm;
}

uint64_t
ld_sm_digest(const ld_sm *sm)
{
    return sm->applied_op;
}

void
ld_sm_stats_get(const ld_sm *sm, ld_sm_stats *out)
{
    (void)sm;
    memset(out, 0, sizeof *out);
}
