/*
 * client.c -- the engine of liblivedrop: one NNG req0 socket per node address, a queue of
 * calls, and `inflight_max` slots that carry coalesced Request messages to the node the client
 * believes is the primary.
 *
 * Coalescing (as TigerBeetle's client does it). A call enqueues itself; whoever finds a free
 * context and queued calls -- the calling thread, or the NNG callback that just finished a
 * reply -- takes up to ldi_class_ops_max() calls of one class (LD_REQUEST_OPS_MAX for fast ops
 * and place_orders, LD_REQUEST_LIST_OPS_MAX for page ops, 1 for a long-poll pull or a raw
 * frame; under LD_FRAME_BYTES_MAX encoded) and sends them as ONE Request. There is no engine
 * thread: a lone caller packs its own op and pays no hand-off; under load, replies refill their
 * context from the queue, so the calls that arrive during one round trip leave together in the
 * next message.
 *
 *   caller A ─┐                                         ┌─ ctx 0: Request{ops A,B,C} ──> node
 *   caller B ─┼─> queues (FAST|PAGE|PAYMENT|POLL|RAW) ──┤
 *   caller C ─┘                                         └─ ctx 1: idle (free list)
 *
 * Per-slot life: SENDING (nng_ctx_send) -> RECEIVING (nng_ctx_recv) -> reply: unpack,
 * convert each Result into its caller's struct, wake the callers, refill or go idle.
 *
 * Routing in a cluster (REPLICATION.md 9.3). A slot has one req0 context per address (a context
 * belongs to one socket, and a req0 socket spreads requests over every peer it dialled, so it is
 * one socket per node) and keeps its encoded Request until the message is over. It sends to
 * `target`, taken from the client's `primary` (the address that last answered as primary, or
 * that a NOT_PRIMARY reply named). Then:
 *
 *   reply NOT_PRIMARY naming address i  -> resend the kept bytes to i (after a backoff if i is
 *                                          the node that refused: a primary without its lease)
 *   reply NOT_PRIMARY, no name           -> next address, after LD_CLIENT_NOT_PRIMARY_BACKOFF_MS
 *   no reply by the failover deadline    -> next address (LD_CLIENT_FAILOVER_TIMEOUT_MS; payments
 *                                          LD_CLIENT_FAILOVER_SLOW_TIMEOUT_MS; polls: none)
 *   the target's connection drops        -> next address at once (see connection_lost())
 *
 * "Next address" skips the addresses that have no live connection (a dead node), unless none
 * has one.
 *   any other reply                      -> delivered; an ordinary answer makes target primary
 *
 *          +-----------------------------------------------+
 *          v                                               |
 *   SENDING -> RECEIVING -> reply --NOT_PRIMARY--> (BACKOFF) -> SENDING (same bytes, new target)
 *      |          |
 *      +----------+--- no answer by the failover deadline --> SENDING (next address)
 *
 * The bytes are the same, so are the ops' ids and idempotency keys: the node applies a
 * resent write at most once (P3), whichever replica took the first copy. Every resend stays
 * within the message's deadline; past it the callers get LD_ERR_TIMEOUT as with one node.
 * When the slot moves on, its context on the old socket drops the old request (req0 gives
 * each context one request at a time), so a late answer from the old node is never read.
 * With one address there is no failover; a NOT_PRIMARY without a name is retried on the same
 * node after the backoff.
 *
 * Timeouts. Every call has its own deadline (now + timeout_ms; a long poll's is
 * max(timeout_ms, wait_ms + LDI_POLL_SLACK_MS)). A caller waits on its own
 * condition variable until the deadline; when it passes, the caller leaves the queue, or
 * detaches from its in-flight message (the reply then skips it), and returns LD_ERR_TIMEOUT --
 * or LD_ERR_CONNECTION if no socket ever had a connection. A message's aio timeout is the
 * latest deadline among its calls (or its failover deadline, if sooner), so a context whose
 * callers all gave up comes back.
 *
 * Resends. NNG_OPT_REQ_RESENDTIME is set beyond any call's life (2 * timeout + 1 s), so there
 * are no timed resends: resending a message the node is still working on (say, waiting for an
 * fsync under load) only adds load; our per-call deadline is the retry policy, and the caller
 * retries with the same key or id. NNG still resends a request when its connection drops and
 * the dialer reconnects within the deadline; that is safe because every write is idempotent on
 * the node (P3). (NNG_DURATION_INFINITE would disable that too: 1.5.2 then fails the request
 * with ECONNRESET as soon as its connection drops.)
 *
 * Message ownership: nng_ctx_send takes the message only on success; on failure the callback
 * finds it back on the aio and frees it. Replies are freed once converted.
 *
 * Locking: one mutex per client guards the queue, the slots' call arrays, call states and the
 * counters. Packing, unpacking, conversions and every NNG call happen outside it.
 */
#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_int.h"

typedef enum slot_phase {
    SLOT_IDLE = 0,
    SLOT_SENDING = 1,
    SLOT_RECEIVING = 2,
    SLOT_BACKOFF = 3, /* nng_sleep_aio (backoff_aio) before a resend after NOT_PRIMARY */
} slot_phase;

typedef struct ldi_inflight {
    ld_client *client;
    nng_ctx ctxs[LD_CLIENT_ADDRS_MAX]; /* one per address (the address's socket) */
    nng_aio *aio;                      /* the request's sends and receives */
    nng_aio *backoff_aio;              /* the pause before a resend (see slot_redirect) */
    slot_phase phase; /* written by the packer before the send, then by the callback only */
    ldi_class cls;
    uint64_t request_id;
    int64_t deadline_ns;                 /* latest deadline among the calls */
    int64_t attempt_deadline_ns;         /* this send: failover deadline, at most deadline_ns */
    uint32_t target;                     /* address index the message goes to */
    bool follower;                       /* sent with Request.follower_read */
    nng_msg *request;                    /* the encoded Request, kept for resends; NULL when idle */
    char note[LD_MESSAGE_BYTES_MAX + 1]; /* the client's own detail for an envelope failure */
    size_t wire_len;                     /* encoded Request size */
    uint32_t count;
    ldi_call **calls;     /* [LD_REQUEST_OPS_MAX]; an entry is NULL once its caller left */
    const Ldpb__Op **ops; /* [LD_REQUEST_OPS_MAX]; packing scratch */
    struct ldi_inflight *next_free;
} ldi_inflight;

typedef struct call_queue {
    ldi_call *head;
    ldi_call *tail;
} call_queue;

/* One node address: its socket, whether it ever had a connection and how many it has now,
 * and its connect probe (see connect_gate_locked). */
typedef struct ldi_addr {
    struct ld_client *client;
    uint32_t index;
    nng_socket sock;
    bool sock_open;
    atomic_bool connected_ever; /* set by NNG's pipe callback */
    atomic_int pipes;           /* live connections (pipe callback: +1 on add, -1 on removal) */
    int64_t lost_ns;            /* under mu: when its last connection dropped (0: never) */
    ldi_probe probe;            /* its connect probe (probe.c) */
} ldi_addr;

struct ld_client {
    pthread_mutex_t mu;
    pthread_condattr_t condattr; /* CLOCK_MONOTONIC, for every call's condition variable */
    pthread_cond_t idle;         /* close waits here for callers and packers to leave */
    pthread_cond_t connected;    /* open waits here for its first connections */
    ldi_addr_list list;
    ldi_addr addrs[LD_CLIENT_ADDRS_MAX];
    uint32_t primary;   /* under mu: the address new messages go to */
    uint64_t view;      /* under mu: the highest view a node reported with a primary */
    bool follower_read; /* set at open */
    uint32_t timeout_ms;
    uint32_t inflight_max;
    ldi_inflight *slots;
    ldi_inflight *free_slots;
    call_queue queues[LDI_CLASSES];
    uint32_t queued;
    uint64_t next_seq;
    uint64_t next_request_id;
    uint32_t callers;    /* threads inside ldi_client_call */
    uint32_t packers;    /* slots taken but not yet handed to nng_ctx_send */
    uint32_t slow_slots; /* slots carrying a message of a slow class (payment, poll) */
    bool closed;
    ld_client_stats stats;
};

/* Request envelope without its ops: version (tag + varint32), request_id (tag + varint64) and
 * follower_read (tag + bool). */
#define REQUEST_HEAD_BYTES_MAX (1 + 5 + 1 + 10 + 2)

/* ---- time ----------------------------------------------------------------------------------- */

int64_t
ldi_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
ldi_client_deadline(const ld_client *client)
{
    return ldi_now_ns() + (int64_t)client->timeout_ms * 1000000;
}

int64_t
ldi_client_poll_deadline(const ld_client *client, uint32_t wait_ms)
{
    int64_t ms = (int64_t)wait_ms + LDI_POLL_SLACK_MS;
    if (ms < (int64_t)client->timeout_ms)
        ms = client->timeout_ms;
    return ldi_now_ns() + ms * 1000000;
}

/* ---- classes -------------------------------------------------------------------------------- */

uint32_t
ldi_class_ops_max(ldi_class cls)
{
    switch (cls) {
    case LDI_CLASS_FAST:
    case LDI_CLASS_PAYMENT:
        return LD_REQUEST_OPS_MAX;
    case LDI_CLASS_PAGE:
        return LD_REQUEST_LIST_OPS_MAX;
    case LDI_CLASS_RAW:
    case LDI_CLASS_POLL:
    case LDI_CLASS_DIRECT:
    case LDI_CLASSES:
        break;
    }
    return 1;
}

bool
ldi_class_is_slow(ldi_class cls)
{
    return cls == LDI_CLASS_PAYMENT || cls == LDI_CLASS_POLL;
}

/* Milliseconds from now until `deadline_ns`, at least 1 (an aio timeout of 0 means "now"). */
static nng_duration
ms_until(int64_t deadline_ns)
{
    int64_t ms = (deadline_ns - ldi_now_ns() + 999999) / 1000000;
    if (ms < 1)
        ms = 1;
    if (ms > INT32_MAX)
        ms = INT32_MAX;
    return (nng_duration)ms;
}

static struct timespec
abs_timespec(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    return ts;
}

/* ---- errors --------------------------------------------------------------------------------- */

/* A call that got no answer in time: TIMEOUT (outcome unknown) once a socket it may have used
 * ever had a connection, CONNECTION (no node was ever reached) otherwise. `pin` is the address
 * of a DIRECT call, or -1 for a routed one (any address counts). */
static ld_err
timeout_code(ld_client *c, int pin)
{
    for (uint32_t i = 0; i < c->list.count; i++)
        if ((pin < 0 || (uint32_t)pin == i) && atomic_load(&c->addrs[i].connected_ever))
            return LD_ERR_TIMEOUT;
    return LD_ERR_CONNECTION;
}

static int
slot_pin(const ldi_inflight *slot)
{
    return slot->cls == LDI_CLASS_DIRECT ? (int)slot->target : -1;
}

static ld_err
err_from_nng(ld_client *c, int pin, int rv)
{
    switch (rv) {
    case NNG_ETIMEDOUT:
        return timeout_code(c, pin);
    case NNG_ECLOSED:
    case NNG_ECANCELED:
        return LD_ERR_CLOSED;
    case NNG_ENOMEM:
        return LD_ERR_NOMEM;
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
        /* The connection dropped with the request on it: it may have run. */
        return timeout_code(c, pin);
    case NNG_ECONNREFUSED:
    case NNG_EUNREACHABLE:
        return LD_ERR_CONNECTION;
    case NNG_EMSGSIZE:
        return LD_ERR_FRAME_TOO_LARGE;
    default:
        return LD_ERR_INTERNAL;
    }
}

/* ---- queue (under the mutex) ---------------------------------------------------------------- */

static void
queue_push(call_queue *q, ldi_call *call)
{
    call->next = NULL;
    call->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = call;
    else
        q->head = call;
    q->tail = call;
}

static void
queue_remove(call_queue *q, ldi_call *call)
{
    if (call->prev != NULL)
        call->prev->next = call->next;
    else
        q->head = call->next;
    if (call->next != NULL)
        call->next->prev = call->prev;
    else
        q->tail = call->prev;
    call->next = call->prev = NULL;
}

/* May a context take a message of class k now? Payment and long-poll messages may hold a
 * context for seconds (the reply waits for the provider, or for an event), so together they
 * never take the last free one: reads and reserves keep a way through. */
static bool
class_allowed(const ld_client *c, int k)
{
    return !ldi_class_is_slow((ldi_class)k) || c->inflight_max == 1 ||
           c->slow_slots + 1 < c->inflight_max;
}

/* The class whose oldest queued call waits longest among those allowed now, or -1. */
static int
oldest_class(const ld_client *c)
{
    int best = -1;
    for (int k = 0; k < LDI_CLASSES; k++) {
        const ldi_call *h = c->queues[k].head;
        if (h == NULL || !class_allowed(c, k))
            continue;
        if (best < 0 || h->seq < c->queues[best].head->seq)
            best = k;
    }
    return best;
}

/* Bytes of a length-delimited field: tag, varint length, body. */
static size_t
field_len(size_t body_len)
{
    size_t n = 1 + 1;
    for (size_t v = body_len; v >= 0x80; v >>= 7)
        n++;
    return n + body_len;
}

/* The first address after `from` with a live connection, or UINT32_MAX if no other has one. */
static uint32_t
addr_connected_after(const ld_client *c, uint32_t from)
{
    for (uint32_t k = 1; k < c->list.count; k++) {
        uint32_t i = (from + k) % c->list.count;
        if (atomic_load(&c->addrs[i].pipes) > 0)
            return i;
    }
    return UINT32_MAX;
}

/* The slot's message is over: it no longer counts as a slow message. */
static void
slot_end_locked(ld_client *c, ldi_inflight *slot)
{
    if (slot->phase != SLOT_IDLE && ldi_class_is_slow(slot->cls)) {
        LD_ASSERT(c->slow_slots > 0);
        c->slow_slots--;
    }
    slot->phase = SLOT_IDLE;
}

/* Takes `slot` (free, already unlinked from the free list) and fills it with queued calls of
 * the oldest class, pinning them. On a follower-read client the message takes the run of calls
 * at the head of the queue that are all reads or all writes (follower_read is per message), so
 * FIFO order holds. Caller holds the mutex and then must call slot_send(). */
static void
slot_take_locked(ld_client *c, ldi_inflight *slot)
{
    int k = oldest_class(c);
    LD_ASSERT(k >= 0);
    LD_ASSERT(slot->phase == SLOT_IDLE);
    call_queue *q = &c->queues[k];
    uint32_t ops_max = ldi_class_ops_max((ldi_class)k);
    LD_ASSERT(ops_max >= 1 && ops_max <= LD_REQUEST_OPS_MAX);
    slot->cls = (ldi_class)k;
    slot->count = 0;
    slot->wire_len = REQUEST_HEAD_BYTES_MAX;
    slot->deadline_ns = 0;
    slot->request_id = ++c->next_request_id;
    while (q->head != NULL && slot->count < ops_max) {
        ldi_call *call = q->head;
        if (slot->count > 0 && slot->wire_len + call->wire_len > LD_FRAME_BYTES_MAX)
            break;
        if (slot->count > 0 && c->follower_read && call->read_only != slot->calls[0]->read_only)
            break;
        queue_remove(q, call);
        c->queued--;
        call->state = LDI_CALL_PINNED;
        call->slot = slot;
        call->slot_index = slot->count;
        slot->calls[slot->count] = call;
        slot->ops[slot->count] = call->op;
        slot->count++;
        slot->wire_len += call->wire_len;
        if (call->deadline_ns > slot->deadline_ns)
            slot->deadline_ns = call->deadline_ns;
    }
    const ldi_call *first = slot->calls[0];
    /* A primary without a connection (a dead node, say the first address of a client opened
     * after it died) gives way to a connected address: its answer names the primary. */
    if (k != LDI_CLASS_DIRECT && k != LDI_CLASS_RAW &&
        atomic_load(&c->addrs[c->primary].pipes) <= 0) {
        uint32_t other = addr_connected_after(c, c->primary);
        if (other != UINT32_MAX)
            c->primary = other;
    }
    slot->target = k == LDI_CLASS_DIRECT ? first->pin_addr : c->primary;
    LD_ASSERT(slot->target < c->list.count);
    slot->follower =
        c->follower_read && first->read_only && k != LDI_CLASS_DIRECT && k != LDI_CLASS_RAW;
    slot->note[0] = '\0';
    slot->phase = SLOT_SENDING;
    if (ldi_class_is_slow(slot->cls))
        c->slow_slots++;
    c->packers++;
}

/* A free slot filled with queued work, or NULL. Caller holds the mutex. */
static ldi_inflight *
take_work_locked(ld_client *c)
{
    if (c->closed || c->free_slots == NULL || c->queued == 0 || oldest_class(c) < 0)
        return NULL;
    ldi_inflight *slot = c->free_slots;
    c->free_slots = slot->next_free;
    slot->next_free = NULL;
    slot_take_locked(c, slot);
    return slot;
}

static void
slot_release_locked(ld_client *c, ldi_inflight *slot)
{
    slot_end_locked(c, slot);
    slot->count = 0;
    slot->next_free = c->free_slots;
    c->free_slots = slot;
}

/* Marks a call finished with `code` (unless already converted) and wakes its caller. Caller
 * holds the mutex: the caller cannot return (and destroy the condvar) before we unlock. */
static void
call_done_locked(ldi_call *call, ld_err code, bool set_code)
{
    if (set_code)
        call->code = code;
    call->state = LDI_CALL_DONE;
    call->slot = NULL;
    pthread_cond_signal(&call->cond);
}

/* ---- sending -------------------------------------------------------------------------------- */

/* Encodes the slot's calls into one message. Calls are pinned. Thread: any, no mutex. */
static ld_err
slot_encode(ldi_inflight *slot, nng_msg **msg_out)
{
    nng_msg *msg = NULL;
    if (slot->cls == LDI_CLASS_RAW) {
        const ldi_call *call = slot->calls[0];
        if (nng_msg_alloc(&msg, call->raw_len) != 0)
            return LD_ERR_NOMEM;
        if (call->raw_len > 0)
            memcpy(nng_msg_body(msg), call->raw, call->raw_len);
        *msg_out = msg;
        return LD_OK;
    }
    Ldpb__Request req = LDPB__REQUEST__INIT;
    req.version = LD_PROTOCOL_VERSION;
    req.request_id = slot->request_id;
    req.n_ops = slot->count;
    req.ops = (Ldpb__Op **)slot->ops;
    req.follower_read = slot->follower;
    size_t len = ldpb__request__get_packed_size(&req);
    LD_ASSERT(len <= slot->wire_len);
    if (nng_msg_alloc(&msg, len) != 0)
        return LD_ERR_NOMEM;
    size_t packed = ldpb__request__pack(&req, nng_msg_body(msg));
    LD_ASSERT(packed == len);
    *msg_out = msg;
    return LD_OK;
}

/* May this message move to another address? Raw frames and DIRECT calls stay where they are. */
static bool
slot_routed(const ldi_inflight *slot)
{
    return slot->cls != LDI_CLASS_RAW && slot->cls != LDI_CLASS_DIRECT;
}

/* How long one send waits for an answer before the message tries the next address. */
static int64_t
failover_ms(const ld_client *c, const ldi_inflight *slot)
{
    if (c->list.count < 2 || !slot_routed(slot) || slot->cls == LDI_CLASS_POLL)
        return INT64_MAX / 2000000; /* never: the message's own deadline comes first */
    if (slot->cls == LDI_CLASS_PAYMENT)
        return LD_CLIENT_FAILOVER_SLOW_TIMEOUT_MS;
    return LD_CLIENT_FAILOVER_TIMEOUT_MS;
}

static void slot_finish(ldi_inflight *slot, ld_err env, nng_msg *msg, Ldpb__Response *resp);

/* Sends a copy of the slot's kept request to slot->target, with this attempt's failover
 * deadline. Thread: any, no mutex held; the slot is ours (packer or its callback). */
static void
slot_transmit(ldi_inflight *slot)
{
    LD_ASSERT(slot->request != NULL);
    LD_ASSERT(slot->target < slot->client->list.count);
    nng_msg *msg = NULL;
    if (nng_msg_dup(&msg, slot->request) != 0) {
        slot_finish(slot, LD_ERR_NOMEM, NULL, NULL);
        return;
    }
    int64_t failover_ns = ldi_now_ns() + failover_ms(slot->client, slot) * 1000000;
    slot->attempt_deadline_ns = failover_ns < slot->deadline_ns ? failover_ns : slot->deadline_ns;
    slot->phase = SLOT_SENDING;
    nng_aio_set_msg(slot->aio, msg);
    nng_aio_set_timeout(slot->aio, ms_until(slot->attempt_deadline_ns));
    nng_ctx_send(slot->ctxs[slot->target], slot->aio);
}

/* Packs and sends a slot taken by slot_take_locked(). Thread: any, no mutex held. */
static void
slot_send(ldi_inflight *slot)
{
    ld_client *c = slot->client;
    nng_msg *msg = NULL;
    ld_err err = slot_encode(slot, &msg);

    pthread_mutex_lock(&c->mu);
    if (err == LD_OK && c->closed)
        err = LD_ERR_CLOSED;
    for (uint32_t i = 0; i < slot->count; i++) {
        ldi_call *call = slot->calls[i];
        LD_ASSERT(call != NULL && call->state == LDI_CALL_PINNED);
        if (err != LD_OK) {
            slot->calls[i] = NULL;
            call_done_locked(call, err, true);
            continue;
        }
        call->state = LDI_CALL_SENT;
        if (call->wants_out)
            pthread_cond_signal(&call->cond);
    }
    if (err == LD_OK) {
        c->stats.messages_sent++;
        c->stats.ops_sent += slot->count;
    } else {
        slot_release_locked(c, slot);
    }
    pthread_mutex_unlock(&c->mu);

    if (err == LD_OK) {
        slot->request = msg;
        slot_transmit(slot);
    } else if (msg != NULL) {
        nng_msg_free(msg);
    }

    pthread_mutex_lock(&c->mu);
    c->packers--;
    if (c->closed && c->packers == 0)
        pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->mu);
}

/* ---- routing -------------------------------------------------------------------------------- */

/* Does any caller still wait for this message? Caller holds the mutex. */
static bool
slot_has_callers_locked(const ldi_inflight *slot)
{
    for (uint32_t i = 0; i < slot->count; i++)
        if (slot->calls[i] != NULL)
            return true;
    return false;
}

/* May the message be sent again now? Else the code to finish it with. Caller holds the mutex. */
static ld_err
slot_may_resend_locked(ld_client *c, const ldi_inflight *slot)
{
    if (c->closed)
        return LD_ERR_CLOSED;
    if (!slot_has_callers_locked(slot) || ldi_now_ns() >= slot->deadline_ns)
        return timeout_code(c, slot_pin(slot));
    return LD_OK;
}

/* The first address after `from` with a live connection, or simply the next one if none has
 * one: a request sent to a socket without a connection waits there for its whole failover
 * deadline while its node is down (seconds, for a payment). */
static uint32_t
addr_after(const ld_client *c, uint32_t from)
{
    uint32_t i = addr_connected_after(c, from);
    return i != UINT32_MAX ? i : (from + 1) % c->list.count;
}

/* Moves the slot to the address after its target, and the client's primary with it unless
 * another message moved it already (then the slot follows the newer choice). Mutex held. */
static void
slot_next_addr_locked(ld_client *c, ldi_inflight *slot)
{
    if (c->primary == slot->target)
        c->primary = addr_after(c, slot->target);
    slot->target = c->primary;
}

/* The index of `url` among the client's addresses, or -1. */
static int
addr_find(const ld_client *c, const char *url)
{
    for (uint32_t i = 0; i < c->list.count; i++)
        if (strcmp(c->list.urls[i], url) == 0)
            return (int)i;
    return -1;
}

/* A send got no answer (timeout, connection error): on a routed message with time left, try
 * the next address; otherwise the message ends with `err`. Thread: NNG callback. */
static void
slot_failed(ldi_inflight *slot, ld_err err)
{
    ld_client *c = slot->client;
    bool retry = slot_routed(slot) && c->list.count > 1 &&
                 (err == LD_ERR_TIMEOUT || err == LD_ERR_CONNECTION);
    if (retry) {
        pthread_mutex_lock(&c->mu);
        ld_err why = slot_may_resend_locked(c, slot);
        if (why == LD_OK) {
            slot_next_addr_locked(c, slot);
            c->stats.failovers++;
        } else {
            err = why;
        }
        pthread_mutex_unlock(&c->mu);
        if (why == LD_OK) {
            slot_transmit(slot);
            return;
        }
    }
    slot_finish(slot, err, NULL, NULL);
}

/* A NOT_PRIMARY reply to a routed message: picks where to resend and whether to back off
 * first. Returns LD_OK when the message was sent on (or is backing off), else the code to
 * finish it with (slot->note may explain). Thread: NNG callback. */
static ld_err
slot_redirect(ldi_inflight *slot, const Ldpb__Response *resp)
{
    ld_client *c = slot->client;
    const Ldpb__NotPrimary *np = resp->not_primary;
    const char *named = np != NULL && np->primary_address != NULL ? np->primary_address : "";
    uint64_t view = np != NULL ? np->view : resp->view;
    int idx = named[0] != '\0' ? addr_find(c, named) : -1;
    uint32_t refused_by = slot->target;

    pthread_mutex_lock(&c->mu);
    ld_err why = slot_may_resend_locked(c, slot);
    if (why == LD_OK && named[0] != '\0' && idx < 0) {
        snprintf(slot->note, sizeof slot->note,
                 "not the primary; the primary is %.*s (view %llu), which is not among this "
                 "client's addresses",
                 (int)(LD_MESSAGE_BYTES_MAX / 2), named, (unsigned long long)view);
        why = LD_ERR_NOT_PRIMARY;
    }
    /* A backup that has not yet noticed its primary died still names it: a named node with no
     * live connection counts as no name (back off, try the next connected node), else the
     * message would wait out its failover deadline on a dead node's socket. */
    if (why == LD_OK && idx >= 0 && atomic_load(&c->addrs[idx].pipes) <= 0)
        idx = -1;
    if (why == LD_OK) {
        if (idx >= 0) {
            if (view >= c->view) {
                c->view = view;
                c->primary = (uint32_t)idx;
            }
            /* A newer belief than this stale answer wins, unless it points back here. */
            slot->target = c->primary != refused_by ? c->primary : (uint32_t)idx;
        } else {
            slot_next_addr_locked(c, slot);
        }
        c->stats.redirects++;
    }
    pthread_mutex_unlock(&c->mu);
    if (why != LD_OK)
        return why;
    /* Back off when no node is named (a view change is under way) or the node that refused
     * named itself (a primary that lost its lease): resending at once would only spin. */
    if (idx < 0 || slot->target == refused_by) {
        int64_t ms = LD_CLIENT_NOT_PRIMARY_BACKOFF_MS;
        int64_t left = (slot->deadline_ns - ldi_now_ns()) / 1000000;
        slot->phase = SLOT_BACKOFF;
        /* On its own aio: NNG 1.5.2's nng_sleep_aio leaves the aio marked "expiry is success"
         * (a_expire_ok, never cleared), so a later receive on the same aio that timed out
         * completed with result 0 and no message -- a NULL reply, a crash in reply_check. */
        nng_sleep_aio((nng_duration)(left < ms ? (left > 0 ? left : 0) : ms), slot->backoff_aio);
    } else {
        slot_transmit(slot);
    }
    return LD_OK;
}

/* The backoff sleep ended (rv 0) or was cancelled by close: resend, or end the message. */
static void
slot_resume(ldi_inflight *slot, int rv)
{
    ld_client *c = slot->client;
    pthread_mutex_lock(&c->mu);
    ld_err why = rv != 0 ? LD_ERR_CLOSED : slot_may_resend_locked(c, slot);
    pthread_mutex_unlock(&c->mu);
    if (why != LD_OK)
        slot_finish(slot, why, NULL, NULL);
    else
        slot_transmit(slot);
}

/* ---- replies -------------------------------------------------------------------------------- */

/* Checks a reply against the request. Returns LD_OK with *resp_out set, or the code every op
 * of the message gets (with `text` describing it); *resp_out is set whenever it unpacked. */
static ld_err
reply_check(const ldi_inflight *slot, nng_msg *msg, Ldpb__Response **resp_out, const char **text)
{
    size_t len = nng_msg_len(msg);
    Ldpb__Response *resp = ldpb__response__unpack(NULL, len, nng_msg_body(msg));
    *resp_out = resp;
    if (resp == NULL) {
        *text = "reply is not a valid Response";
        return LD_ERR_PROTOCOL;
    }
    if (resp->request_id != slot->request_id) {
        *text = "reply carries another request_id";
        return LD_ERR_PROTOCOL;
    }
    if (resp->code != LD_OK) {
        *text = resp->message;
        return (ld_err)resp->code;
    }
    if (resp->n_results != slot->count) {
        *text = "reply has a different number of results than the request has ops";
        return LD_ERR_PROTOCOL;
    }
    return LD_OK;
}

/* Converts one pinned call's outcome. `resp` is NULL for a transport failure. */
static void
deliver_one(ldi_inflight *slot, uint32_t i, nng_msg *msg, const Ldpb__Response *resp, ld_err env,
            const char *text)
{
    ldi_call *call = slot->calls[i];
    if (resp != NULL && resp->request_id == slot->request_id) {
        call->answered = true;
        call->info = (ld_call_info){.addr_index = slot->target,
                                    .view = resp->view,
                                    .applied_op = resp->applied_op,
                                    .follower_read = slot->follower};
    }
    if (call->out_kind == LDI_OUT_RAW) {
        call->code = env;
        if (env == LD_OK) {
            size_t len = nng_msg_len(msg);
            void *copy = malloc(len > 0 ? len : 1);
            if (copy == NULL) {
                call->code = LD_ERR_NOMEM;
                return;
            }
            memcpy(copy, nng_msg_body(msg), len);
            *call->raw_reply_out = copy;
            *call->raw_reply_len_out = len;
        }
        return;
    }
    if (env != LD_OK)
        call->code = ldi_wire_deliver(call, NULL, env, text);
    else
        call->code = ldi_wire_deliver(call, resp->results[i], LD_OK, NULL);
}

/* An ordinary answer from a routed message's target: that node is the primary (of the view it
 * reports, if no newer one is known). Mutex held. */
static void
slot_note_primary_locked(ld_client *c, const ldi_inflight *slot, const Ldpb__Response *resp)
{
    if (!slot_routed(slot) || slot->follower || resp->view < c->view)
        return;
    c->view = resp->view;
    c->primary = slot->target;
}

/* Finishes the slot's message: env is LD_OK with `msg` the reply (and `resp` its unpacked
 * Response, or NULL to unpack here), or the failure of the whole message. Converts every
 * attached call, wakes them, then refills the slot or frees it. Thread: NNG callback (or a
 * packer on NOMEM). Takes `msg` and `resp`. */
static void
slot_finish(ldi_inflight *slot, ld_err env, nng_msg *msg, Ldpb__Response *resp)
{
    ld_client *c = slot->client;
    const char *text = NULL;
    if (msg != NULL && slot->cls != LDI_CLASS_RAW && resp == NULL)
        env = reply_check(slot, msg, &resp, &text);
    else if (resp != NULL && env != LD_OK)
        text = resp->message;
    if (slot->note[0] != '\0')
        text = slot->note;

    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < slot->count; i++)
        if (slot->calls[i] != NULL)
            slot->calls[i]->state = LDI_CALL_PINNED;
    if (resp != NULL && env == LD_OK)
        slot_note_primary_locked(c, slot, resp);
    pthread_mutex_unlock(&c->mu);

    for (uint32_t i = 0; i < slot->count; i++)
        if (slot->calls[i] != NULL)
            deliver_one(slot, i, msg, resp, env, text);
    if (resp != NULL)
        ldpb__response__free_unpacked(resp, NULL);
    if (msg != NULL)
        nng_msg_free(msg);
    if (slot->request != NULL) {
        nng_msg_free(slot->request);
        slot->request = NULL;
    }

    pthread_mutex_lock(&c->mu);
    for (uint32_t i = 0; i < slot->count; i++)
        if (slot->calls[i] != NULL)
            call_done_locked(slot->calls[i], LD_OK, false);
    slot_end_locked(c, slot);
    ldi_inflight *next = NULL;
    if (!c->closed && c->queued > 0 && oldest_class(c) >= 0) {
        slot_take_locked(c, slot);
        next = slot;
    } else {
        slot_release_locked(c, slot);
    }
    pthread_mutex_unlock(&c->mu);
    if (next != NULL)
        slot_send(next);
}

/* A reply arrived: a NOT_PRIMARY to a routed message is resent elsewhere, anything else ends
 * the message. Thread: NNG callback. Takes `msg`. */
static void
slot_reply(ldi_inflight *slot, nng_msg *msg)
{
    if (slot->cls == LDI_CLASS_RAW) {
        slot_finish(slot, LD_OK, msg, NULL);
        return;
    }
    Ldpb__Response *resp = NULL;
    const char *text = NULL;
    ld_err env = reply_check(slot, msg, &resp, &text);
    if (env == LD_ERR_NOT_PRIMARY && slot_routed(slot)) {
        ld_err why = slot_redirect(slot, resp);
        if (why == LD_OK) {
            ldpb__response__free_unpacked(resp, NULL);
            nng_msg_free(msg);
            return;
        }
        env = why;
    }
    slot_finish(slot, env, msg, resp);
}

/* The aio callback of a slot: a send, a receive or a backoff finished. Thread: NNG. */
static void
slot_cb(void *arg)
{
    ldi_inflight *slot = arg;
    ld_client *c = slot->client;
    int rv = nng_aio_result(slot->aio);
    /* Only close (which sets `closed` first) and connection_lost() cancel a slot's aio. The
     * latter means the request's connection dropped: it may have run, so it goes on to the
     * next address like a timeout (the bytes, keys and ids are the same: P3). */
    if (rv == NNG_ECANCELED) {
        pthread_mutex_lock(&c->mu);
        if (!c->closed)
            rv = NNG_ECONNSHUT;
        pthread_mutex_unlock(&c->mu);
    }
    switch (slot->phase) {
    case SLOT_SENDING:
        if (rv != 0) {
            /* The send failed, so the message is still ours. */
            nng_msg *msg = nng_aio_get_msg(slot->aio);
            nng_aio_set_msg(slot->aio, NULL);
            if (msg != NULL)
                nng_msg_free(msg);
            slot_failed(slot, err_from_nng(c, slot_pin(slot), rv));
            return;
        }
        slot->phase = SLOT_RECEIVING;
        nng_aio_set_timeout(slot->aio, ms_until(slot->attempt_deadline_ns));
        nng_ctx_recv(slot->ctxs[slot->target], slot->aio);
        return;
    case SLOT_RECEIVING: {
        nng_msg *msg = rv == 0 ? nng_aio_get_msg(slot->aio) : NULL;
        nng_aio_set_msg(slot->aio, NULL);
        if (rv == 0 && msg == NULL)
            rv = NNG_ETIMEDOUT; /* never a reply: see slot_redirect's backoff */
        if (rv != 0) {
            slot_failed(slot, err_from_nng(c, slot_pin(slot), rv));
            return;
        }
        slot_reply(slot, msg);
        return;
    }
    case SLOT_BACKOFF:
    case SLOT_IDLE:
        break;
    }
    LD_ASSERT(slot->phase != SLOT_IDLE && slot->phase != SLOT_BACKOFF);
}

/* The backoff before a resend ended (or close cancelled it). Thread: NNG. */
static void
slot_backoff_cb(void *arg)
{
    ldi_inflight *slot = arg;
    LD_ASSERT(slot->phase == SLOT_BACKOFF);
    slot_resume(slot, nng_aio_result(slot->backoff_aio));
}

/* Address `a`'s connection dropped (its node died or closed it). A req0 socket would keep the
 * requests that were on it and resend them when the dialer reconnects -- to a dead node, never,
 * so they would sit out their failover deadline (seconds, for a payment). Routed messages bound
 * there move to the next address now (and so does the client's primary): their aios are
 * cancelled and slot_cb() takes the cancellation for a dropped connection. With one address nothing
 * moves (NNG's resend on reconnect is the retry). The cancel happens after the mutex is released,
 * so it may hit a slot that has moved on meanwhile: that costs it one extra hop, nothing else. */
static void
connection_lost(ld_client *c, uint32_t index)
{
    nng_aio *aios[LD_CLIENT_INFLIGHT_MAX];
    uint32_t n = 0;
    pthread_mutex_lock(&c->mu);
    if (!c->closed)
        c->stats.connections_lost++;
    if (!c->closed && c->list.count > 1 && c->slots != NULL) {
        for (uint32_t i = 0; i < c->inflight_max; i++) {
            ldi_inflight *slot = &c->slots[i];
            if (slot->count > 0 && slot->target == index && slot_routed(slot))
                aios[n++] = slot->aio;
        }
        if (c->primary == index) /* new messages go elsewhere too */
            c->primary = addr_after(c, index);
    }
    pthread_mutex_unlock(&c->mu);
    for (uint32_t i = 0; i < n; i++)
        nng_aio_cancel(aios[i]);
}

static void
pipe_cb(nng_pipe pipe, nng_pipe_ev ev, void *arg)
{
    (void)pipe;
    ldi_addr *a = arg;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        atomic_fetch_add(&a->pipes, 1);
        atomic_store(&a->connected_ever, true);
        ld_client *c = a->client;
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->connected);
        pthread_mutex_unlock(&c->mu);
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        /* Never below zero: a pipe can be removed between its pre- and post-add events. */
        int n = atomic_load(&a->pipes);
        while (n > 0 && !atomic_compare_exchange_weak(&a->pipes, &n, n - 1))
            ;
        ld_client *c = a->client;
        pthread_mutex_lock(&c->mu);
        a->lost_ns = ldi_now_ns();
        pthread_mutex_unlock(&c->mu);
        connection_lost(c, a->index);
    }
}

/* ---- the connect gate ------------------------------------------------------------------------
 *
 * NNG's dialers retry in the background and never say that a connection was refused, so a call
 * to addresses where nothing listens would wait out its whole deadline. Before a call is queued,
 * if none of the addresses it may use has a connection, the gate asks each of them once itself:
 * a stream connect (nng_stream_dialer, so tcp:// and ipc:// alike), closed at once. When every
 * probe finished after the gate opened says "refused", the call ends with LD_ERR_CONNECTION
 * without being sent (its outcome is known: nothing happened). A connection that dropped less
 * than LD_CLIENT_RECONNECT_WAIT_MS ago (a node restarting) is waited for, probing again every
 * LD_CLIENT_PROBE_INTERVAL_MS. Anything else -- a probe that connects, or times out -- leaves
 * the call to the ordinary path and its deadline. */

/* Stops and frees every probe; waits for a running callback. Thread: not holding mu. */
static void
probes_close(ld_client *c)
{
    for (uint32_t i = 0; i < c->list.count; i++)
        ldi_probe_close(&c->addrs[i].probe);
}

/* Starts the probe of every address of `mask` that has none running and no result since
 * `since_ns` (nothing before since_ns itself). Called with mu held. */
static void
probes_start_locked(ld_client *c, uint32_t mask, int64_t since_ns)
{
    if (ldi_now_ns() < since_ns)
        return; /* the next round is not due yet */
    for (uint32_t i = 0; i < c->list.count; i++)
        if ((mask & (1u << i)) && ldi_probe_start_locked(&c->addrs[i].probe, since_ns))
            c->stats.probes++;
}

/* What the probes of `mask` say since `since_ns`: -1 some address is connected or may be
 * (a probe still running or not refused), 1 every one refused. */
static int
probes_all_refused_locked(const ld_client *c, uint32_t mask, int64_t since_ns)
{
    for (uint32_t i = 0; i < c->list.count; i++) {
        const ldi_addr *a = &c->addrs[i];
        if ((mask & (1u << i)) &&
            (atomic_load(&a->pipes) > 0 || !ldi_probe_refused_locked(&a->probe, since_ns)))
            return -1;
    }
    return 1;
}

static bool
any_connected(const ld_client *c, uint32_t mask)
{
    for (uint32_t i = 0; i < c->list.count; i++)
        if ((mask & (1u << i)) && atomic_load(&c->addrs[i].pipes) > 0)
            return true;
    return false;
}

/* The gate (mutex held): LD_OK to queue the call, or LD_ERR_CONNECTION (message set) when every
 * address it may use refuses connections. */
static ld_err
connect_gate_locked(ld_client *c, ldi_call *call)
{
    uint32_t mask =
        call->cls == LDI_CLASS_DIRECT ? 1u << call->pin_addr : (1u << c->list.count) - 1u;
    int64_t since_ns = ldi_now_ns();
    while (!c->closed && !any_connected(c, mask)) {
        int64_t now = ldi_now_ns();
        if (now >= call->deadline_ns)
            return LD_OK; /* the ordinary path answers: timeout, or connection */
        probes_start_locked(c, mask, since_ns);
        int64_t wake_ns = call->deadline_ns;
        if (probes_all_refused_locked(c, mask, since_ns) > 0) {
            int64_t lost_ns = 0;
            for (uint32_t i = 0; i < c->list.count; i++)
                if ((mask & (1u << i)) && c->addrs[i].lost_ns > lost_ns)
                    lost_ns = c->addrs[i].lost_ns;
            if (now - lost_ns >= (int64_t)LD_CLIENT_RECONNECT_WAIT_MS * 1000000) {
                c->stats.connects_refused++;
                return ldi_errmsg_fail(call->msg, LD_ERR_CONNECTION, "connection refused by %s%s",
                                       c->list.urls[__builtin_ctz(mask)],
                                       __builtin_popcount(mask) > 1 ? " and every other address"
                                                                    : "");
            }
            /* A node that just went away may be restarting: ask again a little later. */
            since_ns = now + (int64_t)LD_CLIENT_PROBE_INTERVAL_MS * 1000000;
            wake_ns = since_ns < wake_ns ? since_ns : wake_ns;
        }
        struct timespec ts = abs_timespec(wake_ns);
        pthread_cond_timedwait(&c->connected, &c->mu, &ts);
    }
    return LD_OK;
}

/* ---- calls ---------------------------------------------------------------------------------- */

/* Leaves after the deadline: out of the queue, or detached from the in-flight message. Returns
 * false when the call is pinned and the caller must wait for the engine to let go. */
static bool
call_abandon_locked(ld_client *c, ldi_call *call)
{
    switch (call->state) {
    case LDI_CALL_QUEUED:
        queue_remove(&c->queues[call->cls], call);
        c->queued--;
        break;
    case LDI_CALL_SENT:
        LD_ASSERT(call->slot != NULL);
        LD_ASSERT(call->slot->calls[call->slot_index] == call);
        call->slot->calls[call->slot_index] = NULL;
        break;
    case LDI_CALL_PINNED:
        call->wants_out = true;
        return false;
    case LDI_CALL_DONE:
        return true;
    }
    call->code = timeout_code(c, call->cls == LDI_CLASS_DIRECT ? (int)call->pin_addr : -1);
    call->state = LDI_CALL_DONE;
    call->slot = NULL;
    return true;
}

/* Waits (mutex held) until the call is done or abandoned at its deadline. */
static void
call_wait_locked(ld_client *c, ldi_call *call)
{
    while (call->state != LDI_CALL_DONE) {
        if (call->wants_out) {
            pthread_cond_wait(&call->cond, &c->mu);
            if (call->state != LDI_CALL_PINNED)
                call_abandon_locked(c, call);
            continue;
        }
        if (ldi_now_ns() >= call->deadline_ns) {
            call_abandon_locked(c, call);
            continue;
        }
        struct timespec ts = abs_timespec(call->deadline_ns);
        int rv = pthread_cond_timedwait(&call->cond, &c->mu, &ts);
        LD_ASSERT(rv == 0 || rv == ETIMEDOUT || rv == EINTR);
    }
}

ld_err
ldi_client_call(ld_client *c, ldi_call *call)
{
    LD_ASSERT(c != NULL && call != NULL);
    LD_ASSERT((call->op != NULL) != (call->cls == LDI_CLASS_RAW));
    call->wire_len =
        call->op != NULL ? field_len(ldpb__op__get_packed_size(call->op)) : call->raw_len;
    if (call->cls != LDI_CLASS_RAW && REQUEST_HEAD_BYTES_MAX + call->wire_len > LD_FRAME_BYTES_MAX)
        return ldi_errmsg_fail(call->msg, LD_ERR_FRAME_TOO_LARGE, "op of %zu bytes",
                               call->wire_len);
    LD_ASSERT(call->cls != LDI_CLASS_DIRECT || call->pin_addr < c->list.count);
    call->state = LDI_CALL_QUEUED;
    call->wants_out = false;
    call->read_only = call->op != NULL && ldi_op_is_read(call->op);
    call->answered = false;
    call->code = LD_ERR_INTERNAL;
    call->slot = NULL;
    pthread_cond_init(&call->cond, &c->condattr);

    pthread_mutex_lock(&c->mu);
    ld_err err = LD_OK;
    if (c->closed)
        err = LD_ERR_CLOSED;
    else if (c->queued >= LD_CLIENT_QUEUE_OPS_MAX)
        err = LD_ERR_BUSY;
    if (err != LD_OK) {
        pthread_mutex_unlock(&c->mu);
        pthread_cond_destroy(&call->cond);
        return ldi_errmsg_fail(call->msg, err, "%s", ld_strerror(err));
    }
    c->callers++;
    err = connect_gate_locked(c, call);
    if (err != LD_OK || c->closed) {
        err = err != LD_OK ? err : LD_ERR_CLOSED;
        c->callers--;
        if (c->closed && c->callers == 0)
            pthread_cond_broadcast(&c->idle);
        pthread_mutex_unlock(&c->mu);
        pthread_cond_destroy(&call->cond);
        ldi_last_call_set(c, NULL);
        if (call->msg != NULL && call->msg->text[0] == '\0')
            ldi_errmsg_set(call->msg, ld_strerror(err));
        return err;
    }
    call->seq = ++c->next_seq;
    queue_push(&c->queues[call->cls], call);
    c->queued++;
    ldi_inflight *slot = take_work_locked(c);
    pthread_mutex_unlock(&c->mu);

    if (slot != NULL)
        slot_send(slot);

    pthread_mutex_lock(&c->mu);
    call_wait_locked(c, call);
    LD_ASSERT(call->state == LDI_CALL_DONE);
    c->callers--;
    if (c->closed && c->callers == 0)
        pthread_cond_broadcast(&c->idle);
    pthread_mutex_unlock(&c->mu);
    pthread_cond_destroy(&call->cond);

    ldi_last_call_set(c, call->answered ? &call->info : NULL);
    if (!LD_ERR_IS_SUCCESS(call->code) && call->msg != NULL && call->msg->text[0] == '\0')
        ldi_errmsg_set(call->msg, ld_strerror(call->code));
    return call->code;
}

/* ---- open / close --------------------------------------------------------------------------- */

static ld_err
slots_open(ld_client *c)
{
    c->slots = calloc(c->inflight_max, sizeof *c->slots);
    if (c->slots == NULL)
        return LD_ERR_NOMEM;
    for (uint32_t i = 0; i < c->inflight_max; i++) {
        ldi_inflight *slot = &c->slots[i];
        slot->client = c;
        slot->calls = calloc(LD_REQUEST_OPS_MAX, sizeof *slot->calls);
        slot->ops = calloc(LD_REQUEST_OPS_MAX, sizeof *slot->ops);
        if (slot->calls == NULL || slot->ops == NULL)
            return LD_ERR_NOMEM;
        if (nng_aio_alloc(&slot->aio, slot_cb, slot) != 0 ||
            nng_aio_alloc(&slot->backoff_aio, slot_backoff_cb, slot) != 0)
            return LD_ERR_NOMEM;
        for (uint32_t a = 0; a < c->list.count; a++)
            if (nng_ctx_open(&slot->ctxs[a], c->addrs[a].sock) != 0)
                return LD_ERR_INTERNAL;
        slot->next_free = c->free_slots;
        c->free_slots = slot;
    }
    return LD_OK;
}

/* Stops every context's aio: cancels what is pending and waits for its callback, which sees
 * `closed` and submits nothing new. This must happen BEFORE the socket closes: with NNG 1.5.2,
 * an aio whose timeout fires while nng_close() tears the socket down can run its cancel
 * function on the freed socket (a panic "pthread_mutex_lock: Invalid argument" in the
 * nng:aio:expire thread, seen when closing a client whose calls just timed out). */
static void
slots_stop(ld_client *c)
{
    for (uint32_t i = 0; c->slots != NULL && i < c->inflight_max; i++) {
        if (c->slots[i].aio != NULL)
            nng_aio_stop(c->slots[i].aio);
        if (c->slots[i].backoff_aio != NULL)
            nng_aio_stop(c->slots[i].backoff_aio);
    }
}

/* Frees the slots; their aios are stopped and the sockets are closed. */
static void
slots_free(ld_client *c)
{
    if (c->slots == NULL)
        return;
    for (uint32_t i = 0; i < c->inflight_max; i++) {
        ldi_inflight *slot = &c->slots[i];
        if (slot->aio != NULL)
            nng_aio_free(slot->aio);
        if (slot->backoff_aio != NULL)
            nng_aio_free(slot->backoff_aio);
        if (slot->request != NULL)
            nng_msg_free(slot->request);
        free(slot->calls);
        free(slot->ops);
    }
    free(c->slots);
}

/* Opens the req0 socket of address i and dials it in the background. */
static ld_err
socket_open(ld_client *c, uint32_t i)
{
    ldi_addr *a = &c->addrs[i];
    if (nng_req0_open(&a->sock) != 0)
        return LD_ERR_NOMEM;
    a->sock_open = true;
    /* Replies are bounded by the protocol; a larger message is a broken or hostile peer. */
    if (nng_socket_set_size(a->sock, NNG_OPT_RECVMAXSZ, LD_RESPONSE_BYTES_MAX) != 0)
        return LD_ERR_INTERNAL;
    /* No timed resend within a call's life (see the file comment), long polls included. Not
     * INFINITE: NNG 1.5.2 then also gives up on a request whose connection drops
     * (NNG_ECONNRESET at once) instead of resending it when the dialer reconnects. */
    int64_t life_ms = (int64_t)LD_PULL_WAIT_MS_MAX + LDI_POLL_SLACK_MS;
    if (life_ms < (int64_t)c->timeout_ms)
        life_ms = c->timeout_ms;
    int64_t resend_ms = 2 * life_ms + 1000;
    if (nng_socket_set_ms(a->sock, NNG_OPT_REQ_RESENDTIME,
                          (nng_duration)(resend_ms < INT32_MAX ? resend_ms : INT32_MAX)) != 0)
        return LD_ERR_INTERNAL;
    (void)nng_socket_set_ms(a->sock, NNG_OPT_RECONNMINT, 20);
    (void)nng_socket_set_ms(a->sock, NNG_OPT_RECONNMAXT, 500);
    if (nng_pipe_notify(a->sock, NNG_PIPE_EV_ADD_POST, pipe_cb, a) != 0 ||
        nng_pipe_notify(a->sock, NNG_PIPE_EV_REM_POST, pipe_cb, a) != 0)
        return LD_ERR_INTERNAL;
    /* Non-blocking: the dialer keeps trying in the background; calls wait up to their
     * deadline for a connection. */
    int rv = nng_dial(a->sock, c->list.urls[i], NULL, NNG_FLAG_NONBLOCK);
    if (rv != 0)
        return rv == NNG_ENOMEM ? LD_ERR_NOMEM : LD_ERR_INVALID_ARGUMENT;
    return LD_OK;
}

/* ldi_close_bounded()'s halves for a client: the NNG closes, then the memory (after them: the
 * sockets' pipe callbacks point into the client). */
static void
client_close_sockets(void *arg)
{
    ld_client *c = arg;
    for (uint32_t i = 0; i < c->list.count; i++)
        if (c->addrs[i].sock_open)
            nng_close(c->addrs[i].sock);
}

static void
client_release(void *arg)
{
    ld_client *c = arg;
    slots_free(c);
    pthread_cond_destroy(&c->idle);
    pthread_cond_destroy(&c->connected);
    pthread_condattr_destroy(&c->condattr);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Stops the slots, closes the sockets -- bounded by LDI_CLOSE_WAIT_MS: NNG 1.5.2 can hang in
 * nng_close() (closer.c) -- and frees the client, or leaves it to the closing thread. */
static void
client_free(ld_client *c)
{
    probes_close(c);
    slots_stop(c);
    if (ldi_close_bounded(client_close_sockets, client_release, c, LDI_CLOSE_WAIT_MS))
        client_release(c);
}

/* With several addresses, waits until every address has a connection, so that the first call
 * goes to a live node (a dead first address would hold it for a failover deadline) -- but at
 * most LD_CLIENT_OPEN_CONNECT_GRACE_MS after the first connection, and LD_CLIENT_OPEN_CONNECT_
 * WAIT_MS in all: live nodes connect within about one round trip of each other, and a dead one
 * never does. A gateway opening 64 clients while a node is down pays the grace, not the wait. */
static void
wait_connected(ld_client *c)
{
    int64_t start_ns = ldi_now_ns();
    int64_t deadline_ns = start_ns + (int64_t)LD_CLIENT_OPEN_CONNECT_WAIT_MS * 1000000;
    uint32_t all = (1u << c->list.count) - 1u;
    bool grace = false;
    pthread_mutex_lock(&c->mu);
    probes_start_locked(c, all, start_ns);
    for (;;) {
        uint32_t up = 0;
        for (uint32_t i = 0; i < c->list.count; i++)
            up += atomic_load(&c->addrs[i].pipes) > 0;
        int64_t now = ldi_now_ns();
        /* Every address refusing: no connection is coming; the first call says so. */
        if (up == c->list.count || now >= deadline_ns ||
            probes_all_refused_locked(c, all, start_ns) > 0)
            break;
        if (up > 0 && !grace) {
            int64_t g = now + (int64_t)LD_CLIENT_OPEN_CONNECT_GRACE_MS * 1000000;
            deadline_ns = g < deadline_ns ? g : deadline_ns;
            grace = true;
        }
        struct timespec ts = abs_timespec(deadline_ns);
        pthread_cond_timedwait(&c->connected, &c->mu, &ts);
    }
    pthread_mutex_unlock(&c->mu);
}

LD_API ld_err
ld_client_open(const char *addr, const ld_client_opts *opts, ld_client **out)
{
    if (out == NULL)
        return LD_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (addr == NULL || addr[0] == '\0')
        return LD_ERR_INVALID_ARGUMENT;
    ld_client_opts o = opts != NULL ? *opts : (ld_client_opts){0};
    if (o.inflight_max > LD_CLIENT_INFLIGHT_MAX)
        return LD_ERR_INVALID_ARGUMENT;
    ld_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return LD_ERR_NOMEM;
    if (ldi_addr_list_parse(addr, &c->list, NULL) != LD_OK) {
        free(c);
        return LD_ERR_INVALID_ARGUMENT;
    }
    LD_ASSERT(c->list.count >= 1 && c->list.count <= LD_CLIENT_ADDRS_MAX);
    c->timeout_ms = o.timeout_ms != 0 ? o.timeout_ms : LD_CLIENT_TIMEOUT_MS_DEFAULT;
    c->inflight_max = o.inflight_max != 0 ? o.inflight_max : LD_CLIENT_INFLIGHT_DEFAULT;
    c->follower_read = o.follower_read;
    for (uint32_t i = 0; i < LD_CLIENT_ADDRS_MAX; i++) {
        c->addrs[i].client = c;
        c->addrs[i].index = i;
        atomic_init(&c->addrs[i].connected_ever, false);
        atomic_init(&c->addrs[i].pipes, 0);
    }
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_init(&c->condattr);
    pthread_condattr_setclock(&c->condattr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->idle, NULL);
    pthread_cond_init(&c->connected, &c->condattr);

    ld_err err = LD_OK;
    for (uint32_t i = 0; i < c->list.count && err == LD_OK; i++) {
        err = socket_open(c, i);
        ldi_probe_open(&c->addrs[i].probe, c->list.urls[i], &c->mu, &c->connected);
    }
    if (err == LD_OK)
        err = slots_open(c);
    if (err != LD_OK) {
        client_free(c);
        return err;
    }
    if (c->list.count > 1)
        wait_connected(c);
    *out = c;
    return LD_OK;
}

/* Fails every call that is queued or in flight with LD_ERR_CLOSED. Pinned calls finish on
 * their engine thread, which sees `closed`. Caller holds the mutex. */
static void
fail_all_locked(ld_client *c)
{
    for (int k = 0; k < LDI_CLASSES; k++) {
        ldi_call *call;
        while ((call = c->queues[k].head) != NULL) {
            queue_remove(&c->queues[k], call);
            c->queued--;
            call_done_locked(call, LD_ERR_CLOSED, true);
        }
    }
    for (uint32_t i = 0; i < c->inflight_max; i++) {
        ldi_inflight *slot = &c->slots[i];
        for (uint32_t j = 0; j < slot->count; j++) {
            ldi_call *call = slot->calls[j];
            if (call != NULL && call->state == LDI_CALL_SENT) {
                slot->calls[j] = NULL;
                call_done_locked(call, LD_ERR_CLOSED, true);
            }
        }
    }
}

LD_API void
ld_client_close(ld_client *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    LD_ASSERT(!c->closed);
    c->closed = true;
    fail_all_locked(c);
    pthread_cond_broadcast(&c->connected); /* callers waiting in the connect gate */
    while (c->callers > 0 || c->packers > 0)
        pthread_cond_wait(&c->idle, &c->mu);
    pthread_mutex_unlock(&c->mu);
    /* Nobody can take a slot any more. Closing the sockets fails the contexts' pending aios
     * (their callbacks see `closed` and only free); slots_free() waits for those callbacks. */
    client_free(c);
}

LD_API void
ld_client_stats_get(ld_client *c, ld_client_stats *out)
{
    if (c == NULL || out == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    *out = c->stats;
    pthread_mutex_unlock(&c->mu);
}

LD_API uint32_t
ld_client_addrs_count(const ld_client *c)
{
    return c != NULL ? c->list.count : 0;
}

LD_API const char *
ld_client_addr(const ld_client *c, uint32_t i)
{
    return c != NULL && i < c->list.count ? c->list.urls[i] : NULL;
}
