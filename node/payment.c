/*
 * payment.c -- the in-flight payment table and the built-in test provider (see payment.h).
 */
#include "payment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* ---- the test provider --------------------------------------------------------------------- */

typedef struct test_provider test_provider;

typedef struct test_payment {
    uv_timer_t timer; /* delivers the verdict: never from inside start() */
    test_provider *tp;
    ldi_payment_done_cb done_cb;
    void *cb_arg;
    bool approved;
    const char *reason;
    char ref[LD_PAYMENT_REF_BYTES_MAX + 1];
    struct test_payment *prev;
    struct test_payment *next;
} test_payment;

struct test_provider {
    uv_loop_t *loop;
    uint32_t slow_ms;
    test_payment *running; /* doubly linked, so close() can find them */
};

static void
test_unlink(test_payment *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        p->tp->running = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

static void
test_free_cb(uv_handle_t *handle)
{
    free(handle->data);
}

static void
test_timer_cb(uv_timer_t *timer)
{
    test_payment *p = timer->data;
    test_unlink(p);
    p->done_cb(p->cb_arg, p->approved, p->ref, p->reason);
    uv_close((uv_handle_t *)&p->timer, test_free_cb);
}

static ld_err
test_start(void *impl, const ld_payment_request *req, ldi_payment_done_cb done_cb, void *cb_arg)
{
    test_provider *tp = impl;
    test_payment *p = ldi_xcalloc(1, sizeof *p);
    p->tp = tp;
    p->done_cb = done_cb;
    p->cb_arg = cb_arg;
    char hex[33];
    ld_id_to_hex(&req->reservation_id, hex);
    snprintf(p->ref, sizeof p->ref, "pi_%s", hex);
    uint64_t delay_ms = 0;
    if (strcmp(req->payment_method, "pm_card_ok") == 0) {
        p->approved = true;
        p->reason = "";
    } else if (strcmp(req->payment_method, "pm_card_slow") == 0) {
        p->approved = true;
        p->reason = "";
        delay_ms = tp->slow_ms;
    } else if (strcmp(req->payment_method, "pm_card_declined") == 0) {
        p->reason = "card declined";
    } else { /* refused at admission; only a payment restarted from an older log gets here */
        p->reason = "unknown payment method";
    }
    LD_ASSERT(uv_timer_init(tp->loop, &p->timer) == 0);
    p->timer.data = p;
    /* Even a 0 ms timer fires on a later loop iteration: done_cb is never re-entrant. */
    LD_ASSERT(uv_timer_start(&p->timer, test_timer_cb, delay_ms, 0) == 0);
    p->next = tp->running;
    if (tp->running != NULL)
        tp->running->prev = p;
    tp->running = p;
    return LD_OK;
}

static void
test_void_payment(void *impl, const ld_id *reservation_id, const char *payment_ref)
{
    (void)impl;
    char hex[33];
    ld_id_to_hex(reservation_id, hex);
    LDI_INFO("payment provider test: voided %s (reservation %s)", payment_ref, hex);
}

static void
test_close(void *impl)
{
    test_provider *tp = impl;
    while (tp->running != NULL) {
        test_payment *p = tp->running;
        test_unlink(p);
        uv_timer_stop(&p->timer);
        uv_close((uv_handle_t *)&p->timer, test_free_cb);
    }
    free(tp);
}

static const char *const test_methods[] = {"pm_card_ok", "pm_card_declined", "pm_card_slow", NULL};

static const ldi_payment_provider_ops test_provider_ops = {
    .name = "test",
    .methods = test_methods,
    .start = test_start,
    .void_payment = test_void_payment,
    .close = test_close,
};

ldi_payment_provider
ldi_payment_test_provider(uv_loop_t *loop, uint32_t slow_ms)
{
    test_provider *tp = ldi_xcalloc(1, sizeof *tp);
    tp->loop = loop;
    tp->slow_ms = slow_ms;
    return (ldi_payment_provider){.ops = &test_provider_ops, .impl = tp};
}

/* ---- the in-flight table ------------------------------------------------------------------- */

typedef struct pay_rec {
    ldi_pay *pay;
    ldi_pay_done done; /* reservation id and waiter at start; verdict once finished */
    struct pay_rec *prev;
    struct pay_rec *next;
} pay_rec;

struct ldi_pay {
    ldi_payment_provider provider;
    void (*ready_cb)(void *arg);
    void *ready_arg;
    pay_rec *running;   /* doubly linked: started, no verdict yet */
    pay_rec *done_head; /* singly linked FIFO: verdict in, not yet taken */
    pay_rec *done_tail;
    uint32_t in_flight;
    uint32_t done_count;
    ldi_pay_stats stats;
};

ldi_pay *
ldi_pay_open(ldi_payment_provider provider, void (*ready_cb)(void *arg), void *ready_arg)
{
    LD_ASSERT(provider.ops != NULL && provider.ops->start != NULL);
    LD_ASSERT(ready_cb != NULL);
    ldi_pay *pay = ldi_xcalloc(1, sizeof *pay);
    pay->provider = provider;
    pay->ready_cb = ready_cb;
    pay->ready_arg = ready_arg;
    return pay;
}

static void
pay_unlink_running(ldi_pay *pay, pay_rec *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        pay->running = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void
pay_done_cb(void *cb_arg, bool approved, const char *payment_ref, const char *reason)
{
    pay_rec *r = cb_arg;
    ldi_pay *pay = r->pay;
    pay_unlink_running(pay, r);
    r->done.approved = approved;
    snprintf(r->done.payment_ref, sizeof r->done.payment_ref, "%s", payment_ref);
    if (approved) {
        pay->stats.approved++;
    } else {
        pay->stats.declined++;
        char hex[33];
        ld_id_to_hex(&r->done.reservation_id, hex);
        LDI_DEBUG("payment %s declined: %s (reservation %s)", payment_ref, reason, hex);
    }
    if (pay->done_tail != NULL)
        pay->done_tail->next = r;
    else
        pay->done_head = r;
    pay->done_tail = r;
    pay->done_count++;
    pay->ready_cb(pay->ready_arg);
}

ld_err
ldi_pay_start(ldi_pay *pay, const ld_payment_request *req, const ldi_pay_waiter *waiter)
{
    LD_ASSERT(req != NULL && waiter != NULL);
    if (pay->in_flight >= LD_NODE_PAYMENTS_MAX)
        return LD_ERR_CAPACITY;
    pay_rec *r = ldi_xcalloc(1, sizeof *r);
    r->pay = pay;
    r->done.reservation_id = req->reservation_id;
    r->done.waiter = *waiter;
    ld_err e = pay->provider.ops->start(pay->provider.impl, req, pay_done_cb, r);
    if (e != LD_OK) {
        free(r);
        return e;
    }
    r->next = pay->running;
    if (pay->running != NULL)
        pay->running->prev = r;
    pay->running = r;
    pay->in_flight++;
    pay->stats.started++;
    return LD_OK;
}

size_t
ldi_pay_take_done(ldi_pay *pay, ldi_pay_done *out, size_t max)
{
    size_t n = 0;
    while (n < max && pay->done_head != NULL) {
        pay_rec *r = pay->done_head;
        pay->done_head = r->next;
        if (pay->done_head == NULL)
            pay->done_tail = NULL;
        out[n++] = r->done;
        LD_ASSERT(pay->in_flight > 0 && pay->done_count > 0);
        pay->in_flight--;
        pay->done_count--;
        free(r);
    }
    return n;
}

ld_err
ldi_pay_method_check(const ldi_pay *pay, const char *method, char *msg_out, size_t msg_size)
{
    LD_ASSERT(pay != NULL && method != NULL);
    const char *const *m = pay->provider.ops->methods;
    LD_ASSERT(m != NULL && m[0] != NULL);
    for (size_t i = 0; m[i] != NULL; i++) {
        if (strcmp(method, m[i]) == 0)
            return LD_OK;
    }
    int at = snprintf(msg_out, msg_size,
                      "place_order: unknown payment method \"%.64s\"; the %s "
                      "provider takes",
                      method, pay->provider.ops->name);
    for (size_t i = 0; m[i] != NULL && at >= 0 && (size_t)at < msg_size; i++)
        at += snprintf(msg_out + at, msg_size - (size_t)at, "%s %s", i ? "," : "", m[i]);
    return LD_ERR_INVALID_ARGUMENT;
}

uint32_t
ldi_pay_in_flight(const ldi_pay *pay)
{
    return pay->in_flight;
}

uint32_t
ldi_pay_done_count(const ldi_pay *pay)
{
    return pay->done_count;
}

void
ldi_pay_void(ldi_pay *pay, const ld_id *reservation_id, const char *payment_ref)
{
    char hex[33];
    ld_id_to_hex(reservation_id, hex);
    LDI_WARN("payment %s approved after reservation %s expired: voiding it", payment_ref, hex);
    pay->stats.voided++;
    if (pay->provider.ops->void_payment != NULL)
        pay->provider.ops->void_payment(pay->provider.impl, reservation_id, payment_ref);
}

void
ldi_pay_stats_get(const ldi_pay *pay, ldi_pay_stats *out)
{
    *out = pay->stats;
}

void
ldi_pay_close(ldi_pay *pay)
{
    if (pay == NULL)
        return;
    if (pay->in_flight > pay->done_count)
        LDI_WARN("payments: abandoning %u running payment(s); they restart with the node",
                 pay->in_flight - pay->done_count);
    if (pay->provider.ops->close != NULL)
        pay->provider.ops->close(pay->provider.impl);
    while (pay->running != NULL) {
        pay_rec *r = pay->running;
        pay_unlink_running(pay, r);
        free(r);
    }
    while (pay->done_head != NULL) {
        pay_rec *r = pay->done_head;
        pay->done_head = r->next;
        free(r);
    }
    free(pay);
}
