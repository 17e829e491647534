/*
 * metrics.c -- counters and their summary line (see metrics.h).
 */
#include "metrics.h"

#include <inttypes.h>

#include "log.h"

void
ldi_metrics_count_result(ldi_metrics *m, int code)
{
    if (LD_ERR_IS_TRANSPORT(code))
        m->err_transport++;
    else if (LD_ERR_IS_INVALID(code))
        m->err_invalid++;
    else if (LD_ERR_IS_BUSINESS(code))
        m->err_business++;
}

void
ldi_metrics_report(ldi_metrics *now, ldi_metrics *last, const ldi_pay_stats *pay,
                   const ld_sm_stats *sm, double seconds, bool final)
{
    ldi_metrics zero = {0};
    const ldi_metrics *base = final ? &zero : last;
    uint64_t requests = now->requests - base->requests;
    uint64_t fsyncs = now->fsyncs - base->fsyncs;
    uint64_t batch_ops = now->batch_ops - base->batch_ops;
    uint64_t published = now->published - base->published;
    double per_s = seconds > 0 ? (double)requests / seconds : 0.0;
    double ops_per_fsync = fsyncs ? (double)batch_ops / (double)fsyncs : 0.0;
    uint64_t ops_max = final ? now->batch_ops_max_all : now->batch_ops_max;
    uint64_t fsync_us_max = final ? now->fsync_us_max_all : now->fsync_us_max;
    double fsync_ms = fsyncs ? (double)(now->fsync_us - base->fsync_us) / 1000.0 / fsyncs : 0.0;
    LDI_INFO(
        "stats %s %.1fs: requests=%" PRIu64 " (%.0f/s) ops=%" PRIu64 " writes=%" PRIu64
        " reads=%" PRIu64 " internal=%" PRIu64 " replies=%" PRIu64 " | batches=%" PRIu64
        " fsyncs=%" PRIu64 " ops/fsync=%.1f (max %" PRIu64
        ") records/op=%.1f fsync_ms=%.2f (max %.2f)"
        " | errors envelope=%" PRIu64 " transport=%" PRIu64 " invalid=%" PRIu64 " business=%" PRIu64
        " | payments started=%" PRIu64 " approved=%" PRIu64 " declined=%" PRIu64 " voided=%" PRIu64
        " | pages=%" PRIu64 " events=%" PRIu64 " published=%" PRIu64 " (dropped %" PRIu64
        ", %.2f us each) polls parked=%" PRIu64 " woken=%" PRIu64 " now=%" PRIu64
        " subscribers=%" PRIu64 " relayed=%" PRIu64 " (errors %" PRIu64 ") | state drops=%" PRIu64
        " reservations_active=%" PRIu64 " orders=%" PRIu64 " last_event_seq=%" PRIu64,
        final ? "totals" : "last", seconds, requests, per_s, now->ops - base->ops,
        now->writes - base->writes, now->reads - base->reads,
        now->internal_ops - base->internal_ops, now->replies - base->replies,
        now->batches - base->batches, fsyncs, ops_per_fsync, ops_max,
        batch_ops ? (double)(now->records - base->records) / (double)batch_ops : 0.0, fsync_ms,
        (double)fsync_us_max / 1000.0, now->err_envelope - base->err_envelope,
        now->err_transport - base->err_transport, now->err_invalid - base->err_invalid,
        now->err_business - base->err_business, pay->started, pay->approved, pay->declined,
        pay->voided, now->pages - base->pages, now->events - base->events, published,
        now->pub_dropped - base->pub_dropped,
        published ? (double)(now->publish_ns - base->publish_ns) / 1000.0 / (double)published : 0.0,
        now->polls_parked - base->polls_parked, now->polls_woken - base->polls_woken,
        now->polls_now, now->subscribers, now->relayed - base->relayed,
        now->relay_errors - base->relay_errors, sm->drops, sm->reservations_active, sm->orders,
        sm->last_event_seq);
    now->batch_ops_max = 0;
    now->fsync_us_max = 0;
    *last = *now;
}
