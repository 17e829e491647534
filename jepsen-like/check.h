/*
 * check.h -- the checker of a chaos run: reads history.jsonl (what the clients asked and heard,
 * what the nemesis did) and final.jsonl (what the healed cluster holds), and decides.
 *
 * A logical order is one idempotency key: one user (each key has its own user id), one qty, one
 * or more calls with that key. Its outcome is "ok" if any call was acknowledged (PAID), "fail" if
 * the last call got a definite refusal (a business or invalid-request code: the request did not
 * happen), "info" if the last call ended in a transport error or never completed (it may or may
 * not have happened). The final state lists every order the drop's event stream shows (ORDER_PAID
 * / ORDER_FAILED carry the order, its user and qty), read from the primary and from each replica,
 * so every order maps back to exactly one key by its user.
 *
 * The checks (jepsen-like/README.md has the long form):
 *   history      the history is complete (an "end" record) and not truncated;
 *   final        the final read happened: a primary, every replica read and converged;
 *   no-oversell  available + reserved + sold == initial, each >= 0, on the primary's read and on
 *                every replica;
 *   not-lost     every acknowledged order exists afterwards: same order id, PAID, same user and
 *                qty; and calling place_order again with its key returns that same order;
 *   no-double    at most one PAID order per key; sold == the sum of qty of the PAID orders (on
 *                every read); no order whose user is no key's (an effect nobody asked for);
 *   at-most-once a key refused definitely has no PAID order; an indeterminate key has 0 or 1;
 *   replicas     every replica holds the same stock and the same set of PAID orders.
 */
#ifndef LDC_CHECK_H
#define LDC_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum ldc_check_id {
    LDC_CHECK_HISTORY = 0,
    LDC_CHECK_FINAL,
    LDC_CHECK_OVERSELL,
    LDC_CHECK_LOST,
    LDC_CHECK_DOUBLE,
    LDC_CHECK_ONCE,
    LDC_CHECK_REPLICAS,
    LDC_CHECKS
};

/* The name of a check ("no-oversell"). */
const char *ldc_check_name(int check);

typedef struct ldc_model ldc_model;

/* Reads a history and its final state into a new model. NULL with a reason in err for a file
 * that cannot be read or is not a history of livedrop-chaos (a malformed record, an unknown
 * type, a key whose calls disagree, more than LDC_KEYS_MAX keys...). Returns owned, free with
 * ldc_model_free(). Thread: any. */
ldc_model *ldc_model_load(const char *history_path, const char *final_path, char *err,
                          size_t err_size);
void ldc_model_free(ldc_model *m);

/* Runs every check; prints the report (counts, each violation up to LDC_REPORT_ERRORS_MAX per
 * check, PASS / FAIL per check and overall) on out when not NULL. Returns the mask of failed
 * checks (bit LDC_CHECK_x): 0 means PASS. Thread: any. */
uint32_t ldc_check(const ldc_model *m, FILE *out);

/* Loads and checks. Returns 0 PASS, 1 FAIL, 2 the files could not be read (reason printed on
 * out). Thread: any. */
int ldc_check_files(const char *history_path, const char *final_path, FILE *out);

#endif /* LDC_CHECK_H */
