/*
 * final.c -- the final read, once every node is healed: wait for a primary, call place_order
 * again with the key of every acknowledged order (the same key and body return the recorded
 * result) and get that order, wait until no reservation is left (a payment cut short by a kill
 * leaves one until its TTL), wait until the three replicas have converged (same view, applied op
 * and state digest), then read the drop's stock and its orders (the ORDER_PAID / ORDER_FAILED
 * events of the topic drop/<id>) from the primary, linearizably, and from each replica by a
 * follower read. Everything goes into final.jsonl; the checker decides.
 */
#include <string.h>

#include "chaos.h"
#include "run.h"

typedef struct final_ctx {
    ldc_run *run;
    FILE *f;
    bool complete;
    char note[200];
} final_ctx;

static void
incomplete(final_ctx *fc, const char *what)
{
    if (fc->complete)
        snprintf(fc->note, sizeof fc->note, "%s", what);
    fc->complete = false;
    fprintf(stderr, "livedrop-chaos: final read: %s\n", what);
}

static int
wait_primary(ldc_run *run)
{
    int64_t deadline = ldc_mono_ms() + LDC_PRIMARY_MS;
    for (;;) {
        int p = ldc_cluster_primary(&run->cluster);
        if (p >= 0 || ldc_mono_ms() >= deadline)
            return p;
        ldc_sleep_ms(LDC_POLL_MS);
    }
}

static bool
converged(ldc_run *run, uint64_t *applied_out)
{
    ldc_status ref = {0};
    for (int i = 0; i < LDC_NODES; i++) {
        ldc_status st = ldc_cluster_status(&run->cluster, i);
        if (!st.ok || (st.r.role != LD_ROLE_PRIMARY && st.r.role != LD_ROLE_BACKUP))
            return false;
        if (i == 0)
            ref = st;
        else if (st.r.view != ref.r.view || st.r.applied != ref.r.applied ||
                 st.r.state_digest != ref.r.state_digest)
            return false;
    }
    *applied_out = ref.r.applied;
    return true;
}

static void
recheck(final_ctx *fc, ld_client *c)
{
    ldc_run *run = fc->run;
    for (uint32_t i = 0; i < run->acked_n; i++) {
        const ldc_acked *a = &run->acked[i];
        ld_order order, got;
        memset(&order, 0, sizeof order);
        memset(&got, 0, sizeof got);
        ld_err e = LD_ERR_TIMEOUT;
        for (int attempt = 0; attempt < 3 && LD_ERR_IS_TRANSPORT(e); attempt++)
            e = ld_place_order(c, &run->drop_id, &a->user, a->qty, a->key, a->pm, &order, NULL);
        ld_err ge = LD_ERR_TIMEOUT;
        for (int attempt = 0; attempt < 3 && LD_ERR_IS_TRANSPORT(ge); attempt++)
            ge = ld_order_get(c, &a->order, &got, NULL);
        char oh[33];
        fprintf(fc->f,
                "{\"type\":\"recheck\",\"key\":\"%s\",\"code\":%d,\"error\":\"%s\","
                "\"order\":\"%s\",\"get_code\":%d,\"get_status\":\"%s\",\"get_qty\":%lld}\n",
                a->key, (int)e, ld_err_name(e), ldc_hex(&order.id, oh), (int)ge,
                ge != LD_OK                   ? ""
                : got.status == LD_ORDER_PAID ? "PAID"
                                              : "FAILED",
                (long long)got.qty);
    }
}

/* Reads the drop on client c into one "final" (src 0) or "replica" record. */
static bool
read_stock(final_ctx *fc, ld_client *c, int src)
{
    ld_drop d;
    ld_errmsg msg = {{0}};
    ld_err e = LD_ERR_TIMEOUT;
    for (int attempt = 0; attempt < 3 && LD_ERR_IS_TRANSPORT(e); attempt++)
        e = ld_drop_get(c, &fc->run->drop_id, &d, &msg);
    ld_call_info info = {0};
    (void)ld_client_last_call(c, &info);
    if (e != LD_OK) {
        char what[160];
        snprintf(what, sizeof what, "drop get on %s%d: %s", src ? "replica " : "primary", src,
                 ld_err_name(e));
        incomplete(fc, what);
        if (src)
            fprintf(fc->f, "{\"type\":\"replica\",\"node\":%d,\"ok\":false}\n", src);
        return false;
    }
    if (src)
        fprintf(fc->f, "{\"type\":\"replica\",\"node\":%d,\"ok\":true,", src);
    else
        fprintf(fc->f, "{\"type\":\"final\",\"drop\":\"%s\",", fc->run->drop_hex);
    fprintf(fc->f,
            "\"applied\":%llu,\"follower_read\":%s,\"initial\":%lld,\"available\":%lld,"
            "\"reserved\":%lld,\"sold\":%lld",
            (unsigned long long)info.applied_op, info.follower_read ? "true" : "false",
            (long long)d.spec.initial_stock, (long long)d.stock.available,
            (long long)d.stock.reserved, (long long)d.stock.sold);
    if (!src)
        fprintf(fc->f, ",\"complete\":%s,\"note\":\"%s\"", fc->complete ? "true" : "false",
                fc->note);
    fprintf(fc->f, "}\n");
    return true;
}

/* Walks the drop's topic on client c and writes one "order" record per order event. */
static void
read_orders(final_ctx *fc, ld_client *c, int src, ld_event_page *page)
{
    char topic[LD_TOPIC_BYTES_MAX + 1];
    snprintf(topic, sizeof topic, "drop/%s", fc->run->drop_hex);
    uint64_t after = 0;
    for (uint32_t pages = 0; pages < LDC_EVENT_PAGES_MAX; pages++) {
        ld_err e = LD_ERR_TIMEOUT;
        for (int attempt = 0; attempt < 3 && LD_ERR_IS_TRANSPORT(e); attempt++)
            e = ld_events_pull(c, topic, after, LD_PULL_EVENTS_MAX, 0, page, NULL);
        if (e != LD_OK) {
            char what[160];
            snprintf(what, sizeof what, "events of %s on src %d: %s", topic, src, ld_err_name(e));
            incomplete(fc, what);
            return;
        }
        if (page->count == 0) {
            fprintf(fc->f, "{\"type\":\"orders\",\"src\":%d,\"pages\":%u}\n", src, pages);
            return;
        }
        for (uint32_t i = 0; i < page->count; i++) {
            const ld_event *ev = &page->events[i];
            if (ev->type != LD_EVENT_ORDER_PAID && ev->type != LD_EVENT_ORDER_FAILED)
                continue;
            char oh[33], uh[33];
            fprintf(fc->f,
                    "{\"type\":\"order\",\"src\":%d,\"order\":\"%s\",\"user\":\"%s\","
                    "\"qty\":%lld,\"status\":\"%s\",\"seq\":%llu}\n",
                    src, ldc_hex(&ev->order_id, oh), ldc_hex(&ev->user_id, uh), (long long)ev->qty,
                    ev->type == LD_EVENT_ORDER_PAID ? "PAID" : "FAILED",
                    (unsigned long long)ev->seq);
        }
        after = page->next_after;
    }
    incomplete(fc, "more event pages than LDC_EVENT_PAGES_MAX");
}

/* Polls the primary's drop until no reservation is left (payments cut short expire). */
static void
settle(final_ctx *fc, ld_client *c)
{
    int64_t deadline = ldc_mono_ms() + LDC_SETTLE_MS;
    for (;;) {
        ld_drop d;
        if (ld_drop_get(c, &fc->run->drop_id, &d, NULL) == LD_OK && d.stock.reserved == 0)
            return;
        if (ldc_mono_ms() >= deadline) {
            /* Not a violation in itself: the stock check still holds with reservations. */
            (void)ldc_hist_add(&fc->run->hist,
                               "\"type\":\"note\",\"what\":\"reservations left "
                               "after %d ms\"",
                               LDC_SETTLE_MS);
            return;
        }
        ldc_sleep_ms(LDC_POLL_MS * 5);
    }
}

bool
ldc_final_read(ldc_run *run, const char *final_path, char *err, size_t err_size)
{
    final_ctx fc = {.run = run, .complete = true};
    fc.f = fopen(final_path, "w");
    if (!fc.f) {
        snprintf(err, err_size, "cannot write %s", final_path);
        return false;
    }
    ld_event_page *page = malloc(sizeof *page);
    LDC_ASSERT(page);
    ld_client_opts lin = {.timeout_ms = run->o.call_timeout_ms};
    ld_client *c = NULL;
    LDC_ASSERT(ld_client_open(run->cluster.addrs, &lin, &c) == LD_OK);
    if (wait_primary(run) < 0)
        incomplete(&fc, "no primary with its lease after healing");
    recheck(&fc, c);
    settle(&fc, c);
    uint64_t applied = 0;
    int64_t deadline = ldc_mono_ms() + LDC_CONVERGE_MS;
    while (!converged(run, &applied)) {
        if (ldc_mono_ms() >= deadline) {
            incomplete(&fc, "the replicas did not converge (same view, applied op, digest)");
            break;
        }
        ldc_sleep_ms(LDC_POLL_MS);
    }
    for (int src = 0; src <= LDC_NODES; src++) {
        ld_client *rc = c;
        if (src) {
            ld_client_opts fo = {.timeout_ms = run->o.call_timeout_ms, .follower_read = true};
            LDC_ASSERT(ld_client_open(run->cluster.nodes[src - 1].url, &fo, &rc) == LD_OK);
        }
        read_orders(&fc, rc, src, page);
        if (src)
            ld_client_close(rc);
    }
    /* The stock last: the "final" record carries complete / note of everything before it. */
    for (int src = 1; src <= LDC_NODES; src++) {
        ld_client *rc;
        ld_client_opts fo = {.timeout_ms = run->o.call_timeout_ms, .follower_read = true};
        LDC_ASSERT(ld_client_open(run->cluster.nodes[src - 1].url, &fo, &rc) == LD_OK);
        read_stock(&fc, rc, src);
        ld_client_close(rc);
    }
    if (!read_stock(&fc, c, 0))
        fprintf(fc.f, "{\"type\":\"final\",\"ok\":false,\"complete\":false,\"note\":\"%s\"}\n",
                fc.note);
    ld_client_close(c);
    free(page);
    bool ok = fclose(fc.f) == 0;
    if (!ok)
        snprintf(err, err_size, "writing %s failed", final_path);
    (void)applied;
    return ok;
}
