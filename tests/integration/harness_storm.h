/*
 * harness_storm.h -- an order storm on one hot drop, and the checks that every acknowledged
 * order survived and every retry applied once (shared by test_crash.c and test_replication.c).
 *
 * ldh_storm_start() runs `threads` threads, each with its own client on `addrs` (one URL, or a
 * comma-separated cluster list), placing orders (pm_card_ok, qty 1..3, a fresh idempotency key
 * each) for random users until stopped. Every attempt is logged with its outcome: ACKED (LD_OK,
 * PAID, with the order id and the monotonic time it was acknowledged), UNKNOWN (a transport
 * code: the outcome is not known), or a failure of the thread (any business refusal, or an
 * acknowledged order that is not PAID with the asked qty).
 *
 * After a storm, ldh_storm_verify() reads every acknowledged order back (PAID, its qty, a
 * COMMITTED reservation), then ldh_storm_retry() retries every key (acked or not) and checks that
 * an acked key gives its first order back; ldh_storm_check_totals() then checks one order per key
 * and sold == the sum of every key's qty on the drop.
 */
#ifndef LD_TESTS_HARNESS_STORM_H
#define LD_TESTS_HARNESS_STORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

enum { LDH_ATT_UNKNOWN = 0, LDH_ATT_ACKED = 1, LDH_ATT_REFUSED = 2 };

typedef struct ldh_attempt {
    ld_id user;
    int64_t qty;
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    int state;
    ld_err err; /* last outcome */
    ld_id order_id;
    int64_t acked_mono_ms; /* when the ack came back (ACKED only) */
} ldh_attempt;

typedef struct ldh_attempts {
    ldh_attempt *v;
    size_t n, cap;
} ldh_attempts;

/* Appends a zeroed attempt (aborts on out of memory). Thread: any (one log per thread). */
ldh_attempt *ldh_attempts_push(ldh_attempts *log);
void ldh_attempts_free(ldh_attempts *log);

typedef struct ldh_storm ldh_storm;

#define LDH_STORM_USERS 500
#define LDH_STORM_THREADS_MAX 64

/* Starts the storm. `addrs` is borrowed until ldh_storm_stop. call_timeout_ms bounds each call;
 * the storm stops by itself at deadline_mono_ms. */
ldh_storm *ldh_storm_start(const char *addrs, const ld_id *drop_id, int threads, uint64_t seed,
                           uint32_t call_timeout_ms, int64_t deadline_mono_ms);
/* Orders acknowledged so far. Thread: any. */
long ldh_storm_acked(const ldh_storm *s);
/* Waits until `n` orders were acknowledged or the storm's deadline passed; true if reached. */
bool ldh_storm_wait_acked(const ldh_storm *s, long n);
/* Stops and joins the threads, asserts none failed, and appends every attempt to `all`. */
void ldh_storm_stop(ldh_storm *s, ldh_attempts *all);

/* Reads back every ACKED attempt of `all` through a client on addrs (asserts). */
void ldh_storm_verify(const char *addrs, const ld_id *drop_id, ldh_attempts *all);
/* Retries every attempt of `all` with its own key; all end ACKED (asserts). */
void ldh_storm_retry(const char *addrs, const ld_id *drop_id, ldh_attempts *all);
/* After ldh_storm_retry: asserts one distinct order per key and that the drop read through
 * `client` has sold == the sum of all keys' qty, reserved == 0, P1. */
void ldh_storm_check_totals(ld_client *client, const ld_id *drop_id, const ldh_attempts *all);
/* Sum of qty over the ACKED attempts. */
int64_t ldh_storm_acked_qty(const ldh_attempts *all);

#endif /* LD_TESTS_HARNESS_STORM_H */
