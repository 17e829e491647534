/*
 * client_int.h -- internals shared by the files of liblivedrop (never installed).
 *
 * The library is three layers:
 *
 *   api*.c      public calls: check arguments (validate*.c), build an Ldpb__Op on the caller's
 *               stack, hand it to the engine as one ldi_call, wait, retry IN_PROGRESS
 *               (api.c: drops, orders; api_social.c: users, creators, follows; api_catalog.c:
 *               products, cancel, browse; api_events.c: pull, notifications)
 *   client.c    the engine: one NNG req0 socket, `inflight_max` contexts, a queue of calls
 *               coalesced into Request messages, timeouts, close
 *   wire.c      Response -> the caller's public structs (wire_pages.c: users, creators,
 *               products, pages and events, also used by subscriber.c for pushed events)
 *   subscriber.c  the push side: an NNG sub0 socket per ld_subscriber
 *   closer.c    bounded closes of those sockets (NNG 1.5.2 can hang in nng_close())
 *   probe.c     connect probes, for the connect gate of client.c (refused addresses fail fast)
 *
 * An ldi_call lives on the stack of the thread that made the call. The engine links it into
 * its queue and, once packed, points at it from a context slot; the caller never returns
 * before the engine let go of it (see ldi_call_state).
 */
#ifndef LD_CLIENT_INT_H
#define LD_CLIENT_INT_H

#include <nng/nng.h>
#include <pthread.h>
#include <string.h>

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
    LDI_OUT_USER = 5,        /* ld_user */
    LDI_OUT_CREATOR = 6,     /* ld_creator */
    LDI_OUT_PRODUCT = 7,     /* ld_catalog_product */
    LDI_OUT_FOLLOW_STATE = 8,
    LDI_OUT_FOLLOW_PAGE = 9, /* pages: only the header and the first `count` entries are written */
    LDI_OUT_PRODUCT_PAGE = 10,
    LDI_OUT_DROP_PAGE = 11,
    LDI_OUT_EVENT_PAGE = 12,
    LDI_OUT_NOTIFICATION_PAGE = 13,
    LDI_OUT_CLUSTER_STATUS = 14, /* ld_node_status */
} ldi_out_kind;

/* Calls of one class are packed together; a context takes the class whose oldest call waits
 * longest. place_order is its own class because its reply waits for a payment (up to seconds
 * with pm_card_slow): a read packed with it would wait as long. Page ops (lists, pulls without
 * a wait) go at most LD_REQUEST_LIST_OPS_MAX to a message, apart from the small fast ops whose
 * replies would otherwise wait for the conversion of large pages. A long-poll pull (wait_ms > 0)
 * and a raw frame travel alone. PAYMENT and POLL are the slow classes: they never take the last
 * free context. */
typedef enum ldi_class {
    LDI_CLASS_FAST = 0,
    LDI_CLASS_PAYMENT = 1,
    LDI_CLASS_RAW = 2,
    LDI_CLASS_PAGE = 3,
    LDI_CLASS_POLL = 4,
    LDI_CLASS_DIRECT = 5, /* pinned to one address (call->pin_addr): no routing; alone */
    LDI_CLASSES = 6,
} ldi_class;

/* Ops of class `cls` one request message may carry. Thread: any. */
uint32_t ldi_class_ops_max(ldi_class cls);
/* True for the classes whose replies may take seconds (never given the last free context). */
bool ldi_class_is_slow(ldi_class cls);

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

struct ldi_inflight;

typedef struct ldi_call {
    /* ---- set by the caller before ldi_client_call(), read-only afterwards ---- */
    const Ldpb__Op *op; /* borrowed; NULL for a raw frame */
    const void *raw;    /* raw frame (LDI_CLASS_RAW) */
    size_t raw_len;
    ldi_class cls;
    ldi_out_kind out_kind;
    void *out;            /* the public struct of out_kind, or NULL */
    ld_errmsg *msg;       /* may be NULL */
    void **raw_reply_out; /* LDI_OUT_RAW */
    size_t *raw_reply_len_out;
    int64_t deadline_ns; /* CLOCK_MONOTONIC */
    uint32_t pin_addr;   /* LDI_CLASS_DIRECT: index of the address to ask */

    /* ---- owned by the engine, under the client mutex ---- */
    size_t wire_len; /* bytes this op adds to a Request (tag + length + body) */
    struct ldi_call *next;
    struct ldi_call *prev;
    uint64_t seq;
    ldi_call_state state;
    bool wants_out;
    bool read_only; /* every op a read: may travel with Request.follower_read */
    bool answered;  /* a node's Response reached the call; `info` is set */
    ld_call_info info;
    ld_err code;
    struct ldi_inflight *slot;
    uint32_t slot_index;
    pthread_cond_t cond;
} ldi_call;

/* The addresses of a client, parsed from the comma-separated list given to ld_client_open(). */
typedef struct ldi_addr_list {
    uint32_t count;
    char urls[LD_CLIENT_ADDRS_MAX][LD_CLIENT_ADDR_BYTES_MAX + 1];
} ldi_addr_list;

/* Splits `list` at commas into out (spaces around an element are ignored). LD_OK, or
 * LD_ERR_INVALID_ARGUMENT with the reason in `why` (may be NULL): an empty list or element,
 * more than LD_CLIENT_ADDRS_MAX elements, one longer than LD_CLIENT_ADDR_BYTES_MAX, or the same
 * address twice. URLs themselves are checked by NNG when the client dials. Thread: any. */
ld_err ldi_addr_list_parse(const char *list, ldi_addr_list *out, ld_errmsg *why);

/* Is this op a read (never changes state, may be a follower read)? Thread: any. */
bool ldi_op_is_read(const Ldpb__Op *op);

/* Remembers `info` as the calling thread's last answered call on `client` (see
 * ld_client_last_call); `info` NULL forgets it. Thread: the caller's. */
void ldi_last_call_set(const ld_client *client, const ld_call_info *info);

/* Monotonic clock in nanoseconds. Thread: any. */
int64_t ldi_now_ns(void);

/* ---- probe.c: one connect probe per node address (client.c's connect gate) -------------------
 * Fields under the client's mutex `mu` (borrowed). aio NULL: NNG has no stream dialer for the
 * URL's scheme, and the address never counts as refusing. */
typedef struct ldi_probe {
    pthread_mutex_t *mu;  /* the client's, borrowed */
    pthread_cond_t *cond; /* broadcast when a probe ends (the client's `connected`) */
    nng_stream_dialer *dialer;
    nng_aio *aio;
    bool running;
    int rv;          /* NNG result of the last finished probe */
    int64_t done_ns; /* when it finished (0: none yet) */
} ldi_probe;

/* Prepares the probe of `url` (borrowed for the call). Never fails: without a dialer the probe
 * does nothing. Thread: the opener's, before the client is shared. */
void ldi_probe_open(ldi_probe *p, const char *url, pthread_mutex_t *mu, pthread_cond_t *cond);
/* Stops a running probe (waits for its callback) and frees it. Thread: any, not holding mu. */
void ldi_probe_close(ldi_probe *p);
/* NNG's completion callback (NNG thread); takes mu. */
void ldi_probe_cb(void *arg);
/* Starts the probe unless one is running or one finished at or after since_ns. Returns true
 * when it started one. The dial only queues work for NNG's threads: the callback never runs
 * inside it. Thread: any, holding mu. */
bool ldi_probe_start_locked(ldi_probe *p, int64_t since_ns);
/* True when a probe finished at or after since_ns and the address refused (connection refused,
 * unreachable, no such IPC path). Thread: any, holding mu. */
bool ldi_probe_refused_locked(const ldi_probe *p, int64_t since_ns);

/* The deadline of a call made now on `client`. Thread: any. */
int64_t ldi_client_deadline(const ld_client *client);
/* The deadline of a long-poll pull made now: max(timeout, wait_ms + LDI_POLL_SLACK_MS) from
 * now, so that the node's empty answer after wait_ms still arrives in time. Thread: any. */
#define LDI_POLL_SLACK_MS 2000u
int64_t ldi_client_poll_deadline(const ld_client *client, uint32_t wait_ms);

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

/* ---- running ops (api.c, for every api*.c) ---- */

/* The wire form of an id. Borrows `id`. */
static inline ProtobufCBinaryData
ldi_id_pb(const ld_id *id)
{
    return (ProtobufCBinaryData){.len = LD_ID_BYTES, .data = (uint8_t *)id->bytes};
}

/* Runs one op built on the caller's stack as one call of class `cls` with this deadline;
 * converts its result into `out` (of out kind `kind`, may be NULL) and `msg`. Thread: any
 * caller thread. */
ld_err ldi_run(ld_client *c, const Ldpb__Op *op, ldi_class cls, ldi_out_kind kind, void *out,
               ld_errmsg *msg, int64_t deadline_ns);
/* Clears a call's outputs before it starts (see ldi_out_clear()); both may be NULL. */
void ldi_outputs_clear(ldi_out_kind kind, void *out, ld_errmsg *msg);

/* The start of a public call: clear the outputs, refuse a NULL client. */
#define LDI_CALL_START(c, kind, out, msg)                                                          \
    do {                                                                                           \
        ldi_outputs_clear((kind), (out), (msg));                                                   \
        if ((c) == NULL)                                                                           \
            return ldi_errmsg_fail((msg), LD_ERR_INVALID_ARGUMENT, "client is NULL");              \
    } while (0)

/* ---- conversion helpers (wire.c, wire_pages.c, subscriber.c) ---- */

/* Copies a string into a field of `size` bytes (NUL included), truncating; NULL -> "". */
static inline void
ldi_copy_str(char *dst, size_t size, const char *src)
{
    if (src == NULL)
        src = "";
    size_t len = strnlen(src, size - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* An id field: 16 bytes, or empty (zero id). Anything else is a protocol violation: false. */
static inline bool
ldi_copy_id(ld_id *dst, const ProtobufCBinaryData *src)
{
    memset(dst->bytes, 0, sizeof dst->bytes);
    if (src->len == 0)
        return true;
    if (src->len != LD_ID_BYTES || src->data == NULL)
        return false;
    memcpy(dst->bytes, src->data, LD_ID_BYTES);
    return true;
}

/* v when lo <= v <= hi, else 0 (an enum value this client does not know). */
static inline int
ldi_enum_in(int v, int lo, int hi)
{
    return v >= lo && v <= hi ? v : 0;
}

/* Converts the body of a Result for out kinds LDI_OUT_USER and up (wire_pages.c). Writes
 * call->out; returns false when the body is missing, of another kind or malformed (*out is then
 * cleared as ldi_out_clear() does). Thread: any (engine). */
bool ldi_wire_pages_body(ldi_call *call, const Ldpb__Result *result);
/* Clears the caller's struct of `kind` for a failure: whole for entities, header only for
 * pages (their entries past `count` are never read). Thread: any. */
void ldi_out_clear(ldi_out_kind kind, void *out);
/* Converts a ClusterStatus body into call->out (an ld_node_status); false when the body is
 * missing or has more than LD_CLUSTER_STATUS_REPLICAS_MAX replicas (api_cluster.c). */
bool ldi_wire_cluster_status(ldi_call *call, const Ldpb__Result *result);
/* Converts one Event; false when malformed (an id not 16 bytes). Writes every field of *out.
 * `topic` (may be NULL) is used when the event carries none. Thread: any. */
bool ldi_event_from_pb(ld_event *out, const Ldpb__Event *pb, const char *topic);
/* Converts a Drop (also for pages). Thread: any. */
bool ldi_drop_from_pb(ld_drop *out, const Ldpb__Drop *pb);

/* ---- argument checks (validate.c): the same order, codes and messages as the node's codec.
 * Each returns LD_OK or fills `msg` and returns the code the node would answer. ---- */
ld_err ldi_check_id(const ld_id *id, const char *field, ld_errmsg *msg);
ld_err ldi_check_str(const char *s, const char *field, size_t max, ld_errmsg *msg);
ld_err ldi_check_qty(int64_t qty, const char *field, ld_errmsg *msg);
ld_err ldi_check_drop_spec(const ld_drop_spec *spec, ld_errmsg *msg);
/* Users, creators, products, pages, browse filters, topics (validate_social.c). */
ld_err ldi_check_user_spec(const ld_user_spec *spec, ld_errmsg *msg);
ld_err ldi_check_creator_spec(const ld_creator_spec *spec, ld_errmsg *msg);
ld_err ldi_check_handle(const char *handle, const char *field, ld_errmsg *msg);
/* `update`: UPDATE_PRODUCT (no creator_id on the wire; it is the principal). */
ld_err ldi_check_product_spec(const ld_catalog_product_spec *spec, bool update, ld_errmsg *msg);
/* A page request: `first` against `first_max`, `after` (NULL or "" for the first page). */
ld_err ldi_check_page(const char *op, uint32_t first, uint32_t first_max, const char *after,
                      ld_errmsg *msg);
ld_err ldi_check_drop_filter(const ld_drop_filter *filter, ld_errmsg *msg);
/* Checks a topic and writes its canonical form (lower-case hex) into out. */
ld_err ldi_check_topic(const char *topic, const char *field, char out[LD_TOPIC_BYTES_MAX + 1],
                       ld_errmsg *msg);

/* ---- bounded close (closer.c) ---- */

/* How long ld_client_close() and ld_subscriber_close() wait for NNG to close their sockets. */
#define LDI_CLOSE_WAIT_MS 2000

typedef void ldi_close_fn(void *arg);

/* Runs close_fn(arg) -- the nng_close() calls of one handle -- on a thread of its own and waits
 * at most wait_ms for it to return. True: it returned, and the caller goes on to free `arg`.
 * False: it is stuck inside NNG (see closer.c); the caller must not touch `arg` again: the
 * thread calls free_fn(arg) if close_fn ever returns. Without memory for a thread it closes on
 * the caller's thread, unbounded. Thread: any thread but an NNG callback. */
bool ldi_close_bounded(ldi_close_fn *close_fn, ldi_close_fn *free_fn, void *arg, uint32_t wait_ms);

/* Shuts down the sending half of `pipe`'s TCP connection (shutdown(SHUT_WR) on its descriptor),
 * so that the peer closes the connection and this side's NNG closes the pipe from its receive
 * path (see closer.c). False if the pipe is not TCP or its descriptor was not found. The caller
 * makes sure the pipe is not removed meanwhile (it holds the lock its NNG_PIPE_EV_REM_POST
 * callback takes): NNG closes the descriptor only after that callback. Thread: any but an NNG
 * callback. */
bool ldi_pipe_half_close(nng_pipe pipe);

#endif /* LD_CLIENT_INT_H */
