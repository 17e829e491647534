/*
 * client_int.h -- internals shared by the files of liblivedrop (never installed).
 *
 * The library is three layers:
 *
 *   api.c       public calls: check arguments (validate.c), build an Ldpb__Op on the caller's
 *               stack, hand it to the engine as one ldi_call, wait, retry IN_PROGRESS
 *   client.c    the engine: one NNG req0 socket, `inflight_max` contexts, a queue of calls
 *               coalesced into Request messages, timeouts, close
 *   wire.c      Response -> the caller's public structs
 *
 * An ldi_call lives on the stack of the thread that made the call. The engine links it into
 * its queue and, once packed, points at it from a context slot; the caller never returns
 * before the engine let go of it (see ldi_call_state).
 */
#ifndef LD_CLIENT_INT_H
#define LD_CLIENT_INT_H

#include <pthread.h>

#include "ld_base.h"
#include "livedrop.h"
#include "livedrop.pb-c.h"

/* Public symbols are marked LD_API; everything else stays inside the shared object (the
 * library is built with -fvisibility=hidden and a version script, see CMakeLists.txt). */
#define LD_API __attribute__((visibility("default")))

/* What the caller wants the result converted into. */
typedef enum ldi_out_kind {
    LDI_OUT_NONE = 0,
    LDI_OUT_DROP = 1,        /* ld_drop */
    LDI_OUT_RESERVATION = 2, /* ld_reservation */
    LDI_OUT_ORDER = 3,       /* ld_order */
    LDI_OUT_RAW = 4,         /* malloc'd copy of the reply frame */
} ldi_out_kind;

/* Calls of one class are packed together; a context takes the class whose oldest call waits
 * longest. place_order is its own class because its reply waits for a payment (up to seconds
 * with pm_card_slow): a read packed with it would wait as long. Raw frames travel alone. */
typedef enum ldi_class {
    LDI_CLASS_FAST = 0,
    LDI_CLASS_PAYMENT = 1,
    LDI_CLASS_RAW = 2,
    LDI_CLASSES = 3,
} ldi_class;

/*
 * Life of a call (all transitions under the client mutex):
 *
 *   QUEUED --take--> PINNED --packed--> SENT --reply--> PINNED --converted--> DONE
 *      |                                  |
 *      +--- deadline: unlinked, DONE      +--- deadline: slot entry cleared, DONE
 *
 * PINNED means an engine thread reads or writes the caller's memory without the mutex
 * (packing the op, or converting the result into *out): the caller must not return then, so a
 * caller whose deadline passes while pinned sets `wants_out` and waits to be unpinned.
 */
typedef enum ldi_call_state {
    LDI_CALL_QUEUED = 1,
    LDI_CALL_PINNED = 2,
    LDI_CALL_SENT = 3,
    LDI_CALL_DONE = 4,
} ldi_call_state;

struct ldi_slot;

typedef struct ldi_call {
    /* ---- set by the caller before ldi_client_call(), read-only afterwards ---- */
    const Ldpb__Op *op; /* borrowed; NULL for a raw frame */
    const void *raw;    /* raw frame (LDI_CLASS_RAW) */
    size_t raw_len;
    ldi_class cls;
    ldi_out_kind out_kind;
    void *out;            /* ld_drop / ld_reservation / ld_order, or NULL */
    ld_errmsg *msg;       /* may be NULL */
    void **raw_reply_out; /* LDI_OUT_RAW */
    size_t *raw_reply_len_out;
    int64_t deadline_ns; /* CLOCK_MONOTONIC */

    /* ---- owned by the engine, under the client mutex ---- */
    size_t wire_len; /* bytes this op adds to a Request (tag + length + body) */
    struct ldi_call *next;
    struct ldi_call *prev;
    uint64_t seq;
    ldi_call_state state;
    bool wants_out;
    ld_err code;
    struct ldi_slot *slot;
    uint32_t slot_index;
    pthread_cond_t cond;
} ldi_call;

/* Monotonic clock in nanoseconds. Thread: any. */
int64_t ldi_now_ns(void);

/* The deadline of a call made now on `client`. Thread: any. */
int64_t ldi_client_deadline(const ld_client *client);

/* Queues `call`, packs it (with others) into a request when a context is free, and waits until
 * it is answered, fails or its deadline passes. Returns the op's result code; the body was
 * converted into call->out and the detail into call->msg. Borrows `call` (and everything it
 * points to) until it returns. Thread: any caller thread, never an NNG callback. */
ld_err ldi_client_call(ld_client *client, ldi_call *call);

/* Writes the result of `call` (from `result`, or the envelope failure `code`/`text` when result
 * is NULL) into the caller's out struct and message. Runs while the call is pinned. Returns the
 * op's code. Thread: any (engine). */
ld_err ldi_wire_deliver(ldi_call *call, const Ldpb__Result *result, ld_err code, const char *text);

/* Copies `text` (may be NULL) into msg->text, truncating at LD_MESSAGE_BYTES_MAX. NULL msg is a
 * no-op. Thread: any. */
void ldi_errmsg_set(ld_errmsg *msg, const char *text);
/* printf-style ldi_errmsg_set(); returns `code`. */
ld_err ldi_errmsg_fail(ld_errmsg *msg, ld_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- argument checks (validate.c): the same order, codes and messages as the node's codec.
 * Each returns LD_OK or fills `msg` and returns the code the node would answer. ---- */
ld_err ldi_check_id(const ld_id *id, const char *field, ld_errmsg *msg);
ld_err ldi_check_str(const char *s, const char *field, size_t max, ld_errmsg *msg);
ld_err ldi_check_qty(int64_t qty, const char *field, ld_errmsg *msg);
ld_err ldi_check_drop_spec(const ld_drop_spec *spec, ld_errmsg *msg);

#endif /* LD_CLIENT_INT_H */
