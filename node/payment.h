/*
 * payment.h -- payments of place_order: pluggable providers and the node's in-flight table.
 *
 * Payment is I/O, so it runs outside the state machine (docs/ARCHITECTURE.md §5): a place_order
 * result with needs_payment makes the engine call ldi_pay_start(); the provider's verdict comes
 * back on the loop thread, is queued here, and the engine's next turn turns it into a FINISH_ORDER
 * op in the log. A payment that finishes after its reservation expired is voided through the
 * provider.
 *
 * A provider is an ops table (NNG style, designated initializers). The built-in "test" provider
 * uses Stripe-like test method ids:
 *
 *   pm_card_ok        approves on the next loop iteration
 *   pm_card_declined  declines on the next loop iteration
 *   pm_card_slow      approves after payment_slow_ms (a uv_timer: blocks no one)
 *
 * A place_order naming any other method is refused when the node admits it
 * (LD_ERR_INVALID_ARGUMENT, nothing logged, nothing reserved): see ldi_pay_method_check(). A
 * provider still declines an unknown method it is handed (a payment restarted from a log written
 * by an older node).
 *
 * Its payment reference is "pi_" followed by the 32 hex digits of the reservation id, so a
 * payment restarted after a crash gets the same reference (providers deduplicate by it).
 *
 * Thread: everything here runs on the loop thread.
 */
#ifndef LDI_PAYMENT_H
#define LDI_PAYMENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "op.h"

/* A provider's verdict. Called exactly once per started payment (unless the provider is closed
 * first), on the loop thread, never from inside start(). `payment_ref` and `reason` are borrowed
 * for the call; reason is empty when approved. */
typedef void (*ldi_payment_done_cb)(void *cb_arg, bool approved, const char *payment_ref,
                                    const char *reason);

typedef struct ldi_payment_provider_ops {
    const char *name;
    /* The payment method ids the provider takes, NULL-terminated. */
    const char *const *methods;
    /* Starts authorizing `req` (borrowed for the call). LD_OK: done_cb will be called later;
     * an error: it will not be. */
    ld_err (*start)(void *impl, const ld_payment_request *req, ldi_payment_done_cb done_cb,
                    void *cb_arg);
    /* Cancels an approved payment whose reservation expired first. Fire and forget. */
    void (*void_payment)(void *impl, const ld_id *reservation_id, const char *payment_ref);
    /* Abandons every payment still running (their done_cb are never called) and releases the
     * provider; uv handles close on the loop, so run it afterwards. */
    void (*close)(void *impl);
} ldi_payment_provider_ops;

typedef struct ldi_payment_provider {
    const ldi_payment_provider_ops *ops;
    void *impl;
} ldi_payment_provider;

/* Creates the built-in test provider on `loop` (borrowed). Never fails (aborts on OOM). */
ldi_payment_provider ldi_payment_test_provider(uv_loop_t *loop, uint32_t slow_ms);

/* Who waits for a payment's outcome: a request slot, one op of it, and the slot's generation
 * (a slot is reused once its request is answered). valid == false: nobody (restarted payment). */
typedef struct ldi_pay_waiter {
    bool valid;
    uint32_t req_index;
    uint32_t op_index;
    uint64_t gen;
} ldi_pay_waiter;

/* A finished payment, ready to become a FINISH_ORDER op. */
typedef struct ldi_pay_done {
    ld_id reservation_id;
    bool approved;
    char payment_ref[LD_PAYMENT_REF_BYTES_MAX + 1];
    ldi_pay_waiter waiter;
} ldi_pay_done;

typedef struct ldi_pay ldi_pay;

/* Wraps `provider` (taken: closed by ldi_pay_close). ready_cb(ready_arg) is called on the loop
 * thread when a payment finishes (so the engine schedules a turn). Returns owned. */
ldi_pay *ldi_pay_open(ldi_payment_provider provider, void (*ready_cb)(void *arg), void *ready_arg);

/* Starts the payment `req` (borrowed) for `waiter` (borrowed). LD_ERR_CAPACITY when
 * LD_NODE_PAYMENTS_MAX payments are in flight; the provider's error otherwise. */
ld_err ldi_pay_start(ldi_pay *pay, const ld_payment_request *req, const ldi_pay_waiter *waiter)
    __attribute__((warn_unused_result));

/* Checks a place_order's payment method against the provider's list: LD_OK if it takes it, else
 * LD_ERR_INVALID_ARGUMENT with a message naming the method and the ones it takes in
 * msg_out[msg_size]. Borrows everything. */
ld_err ldi_pay_method_check(const ldi_pay *pay, const char *method, char *msg_out, size_t msg_size)
    __attribute__((warn_unused_result));

/* Moves up to `max` finished payments, oldest first, into out[]. Returns how many. */
size_t ldi_pay_take_done(ldi_pay *pay, ldi_pay_done *out, size_t max);

/* Payments started and not yet taken by ldi_pay_take_done() (running or finished). */
uint32_t ldi_pay_in_flight(const ldi_pay *pay);
/* Payments finished and not yet taken. */
uint32_t ldi_pay_done_count(const ldi_pay *pay);

/* Voids an approved payment through the provider, and logs it. */
void ldi_pay_void(ldi_pay *pay, const ld_id *reservation_id, const char *payment_ref);

/* Counters for metrics. */
typedef struct ldi_pay_stats {
    uint64_t started;
    uint64_t approved;
    uint64_t declined;
    uint64_t voided;
} ldi_pay_stats;
void ldi_pay_stats_get(const ldi_pay *pay, ldi_pay_stats *out);

/* Closes the provider (abandoning running payments: a restarted node runs them again from
 * ld_sm_pending_payments) and frees everything. Run the loop afterwards. Accepts NULL. */
void ldi_pay_close(ldi_pay *pay);

#endif /* LDI_PAYMENT_H */
