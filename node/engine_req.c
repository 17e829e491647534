/*
 * engine_req.c -- request slots: frame checks, decoding, result encoding and replies (see
 * engine_int.h for the slot life cycle and the reply layout).
 *
 * Envelope checks, in this order; each failure answers the request as a whole, with the
 * request_id if one could be read, and no results:
 *
 *   frame > LD_FRAME_BYTES_MAX             ERR_FRAME_TOO_LARGE
 *   not a well-formed protobuf Request     ERR_PROTOCOL (cheap wire walk, before any unpack)
 *   version != LD_PROTOCOL_VERSION         ERR_UNSUPPORTED_VERSION
 *   no ops / more than LD_REQUEST_OPS_MAX  ERR_INVALID_ARGUMENT "no ops" / ERR_TOO_MANY_OPS
 *   node shutting down                     ERR_SHUTTING_DOWN
 *   queued ops would pass LD_NODE_PENDING_OPS_MAX, or decode memory exhausted   ERR_BUSY
 *   protobuf-c refuses it                  ERR_PROTOCOL (or FRAME_TOO_LARGE past the arena cap)
 *
 * The wire walk counts the ops before protobuf-c allocates anything, so a frame of 100k tiny
 * ops costs a scan, not 100k allocations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "log.h"
#include "util.h"

/* Response field 5 (results), wire type 2 (length-delimited). */
#define RESPONSE_RESULTS_TAG ((5u << 3) | 2u)
#define VARINT_BYTES_MAX 10u

void
ldi_eng_reqs_init(ldi_engine *e)
{
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++) {
        eng_req *r = &e->reqs[i];
        memset(r, 0, sizeof *r);
        r->index = i;
        r->slots = ldi_xcalloc(LD_REQUEST_OPS_MAX, sizeof *r->slots);
        ldi_arena_init(&r->arena, ENG_ARENA_BYTES_MAX, &e->arena_bytes, ENG_ARENAS_BYTES_MAX);
    }
}

void
ldi_eng_reqs_fini(ldi_engine *e)
{
    for (uint32_t i = 0; i < LD_NODE_CONTEXTS; i++) {
        eng_req *r = &e->reqs[i];
        ldi_arena_fini(&r->arena);
        free(r->slots);
        free(r->out);
        r->slots = NULL;
        r->out = NULL;
    }
}

/* ---- wire walk ----------------------------------------------------------------------------- */

typedef struct eng_prescan {
    uint32_t version;
    uint64_t request_id;
    size_t n_ops;
} eng_prescan;

static bool
read_varint(const uint8_t *p, size_t n, size_t *at, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*at >= n)
            return false;
        uint8_t b = p[(*at)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Walks the top level of a Request frame: reads version and request_id, counts ops, and
 * checks that every field is well-framed. Nested messages are left to protobuf-c. */
static bool
prescan(const uint8_t *p, size_t n, eng_prescan *out)
{
    size_t at = 0;
    while (at < n) {
        uint64_t key = 0;
        uint64_t v = 0;
        if (!read_varint(p, n, &at, &key) || (key >> 3) == 0)
            return false;
        uint64_t field = key >> 3;
        switch (key & 7) {
        case 0:
            if (!read_varint(p, n, &at, &v))
                return false;
            if (field == 1)
                out->version = (uint32_t)v;
            else if (field == 2)
                out->request_id = v;
            break;
        case 1:
            if (n - at < 8)
                return false;
            at += 8;
            break;
        case 2:
            if (!read_varint(p, n, &at, &v) || v > n - at)
                return false;
            at += (size_t)v;
            out->n_ops += field == 3;
            break;
        case 5:
            if (n - at < 4)
                return false;
            at += 4;
            break;
        default:
            return false; /* groups and invalid wire types */
        }
    }
    return true;
}

/* ---- replies ------------------------------------------------------------------------------- */

static void
req_free_slot(ldi_engine *e, eng_req *r)
{
    ldi_eng_req_drop_pb(e, r);
    if (r->out_cap > ENG_OUT_KEEP_BYTES) {
        free(r->out);
        r->out = NULL;
        r->out_cap = 0;
    }
    r->out_len = 0;
    r->n_ops = 0;
    r->unresolved = 0;
    r->n_reads = 0;
    r->n_pages = 0;
    r->n_batch = 0;
    r->follower = false;
    r->abandoned = false;
    r->has_write = false;
    r->request_id = 0;
    r->state = REQ_FREE;
    r->gen++;
}

/* Builds a Response with no results into a new message (NULL when out of memory). */
static nng_msg *
envelope_msg(const ldi_engine *e, uint64_t request_id, ld_err code, const char *message,
             Ldpb__NotPrimary *not_primary)
{
    Ldpb__Response resp = LDPB__RESPONSE__INIT;
    resp.version = LD_PROTOCOL_VERSION;
    resp.request_id = request_id;
    resp.code = (uint32_t)code;
    resp.message = (char *)(message != NULL ? message : ld_strerror(code));
    resp.not_primary = not_primary;
    ldi_eng_resp_fill(e, &resp);
    size_t len = ldpb__response__get_packed_size(&resp);
    nng_msg *msg = NULL;
    if (nng_msg_alloc(&msg, len) != 0) {
        LDI_ERROR("out of memory for a %zu-byte reply", len);
        return NULL;
    }
    ldpb__response__pack(&resp, nng_msg_body(msg));
    return msg;
}

static void
reply_envelope_index(ldi_engine *e, uint32_t index, uint64_t request_id, ld_err code,
                     const char *message, Ldpb__NotPrimary *not_primary)
{
    LDI_DEBUG("request %llu refused: %s: %s", (unsigned long long)request_id, ld_err_name(code),
              message);
    e->metrics.err_envelope++;
    e->metrics.replies++;
    ldi_net_reply(e->net, index, envelope_msg(e, request_id, code, message, not_primary));
}

void
ldi_eng_reply_not_primary(ldi_engine *e, eng_req *r, const char *why)
{
    LD_ASSERT(r->state != REQ_FREE);
    Ldpb__NotPrimary np = LDPB__NOT_PRIMARY__INIT;
    np.view = e->rs->view;
    np.primary = e->rs->primary_index;
    np.primary_address = (char *)"";
    /* The primary's address only when this replica knows the view has one (status normal). */
    if (e->rs->status == LD_REPL_NORMAL && e->rs->primary_index < e->cfg.replica_count)
        np.primary_address = e->cfg.replicas[e->rs->primary_index].client_url;
    reply_envelope_index(e, r->index, r->request_id, LD_ERR_NOT_PRIMARY, why, &np);
    req_free_slot(e, r);
}

void
ldi_eng_reply_envelope(ldi_engine *e, eng_req *r, ld_err code, const char *message)
{
    LD_ASSERT(r->state != REQ_FREE);
    reply_envelope_index(e, r->index, r->request_id, code, message, NULL);
    req_free_slot(e, r);
}

void
ldi_eng_reply(ldi_engine *e, eng_req *r)
{
    LD_ASSERT(r->state == REQ_TAKEN || r->state == REQ_WAITING);
    LD_ASSERT(r->unresolved == 0);
    Ldpb__Response resp = LDPB__RESPONSE__INIT;
    resp.version = LD_PROTOCOL_VERSION;
    resp.request_id = r->request_id;
    ldi_eng_resp_fill(e, &resp);
    size_t head = ldpb__response__get_packed_size(&resp);
    LD_ASSERT(head <= ENG_RESPONSE_HEAD_BYTES);
    if (head + r->out_len > ENG_RESPONSE_BYTES_MAX) {
        /* Not reached while results respect ldi_eng_result_fits() (engine_int.h): refuse the
         * reply as a whole rather than send what the client must not accept. */
        LDI_ERROR("reply of %zu bytes to request %llu exceeds %u bytes; answering "
                  "ERR_INTERNAL",
                  head + r->out_len, (unsigned long long)r->request_id, ENG_RESPONSE_BYTES_MAX);
        ldi_eng_reply_envelope(e, r, LD_ERR_INTERNAL, "response too large (node bug)");
        return;
    }
    nng_msg *msg = NULL;
    if (nng_msg_alloc(&msg, head + r->out_len) == 0) {
        uint8_t *body = nng_msg_body(msg);
        ldpb__response__pack(&resp, body);
        size_t at = head;
        for (uint32_t i = 0; i < r->n_ops; i++) {
            const eng_slot *s = &r->slots[i];
            LD_ASSERT(s->state == SLOT_DONE);
            memcpy(body + at, r->out + s->off, s->len);
            at += s->len;
        }
        LD_ASSERT(at == head + r->out_len); /* every chunk used exactly once */
    } else {
        LDI_ERROR("out of memory for a %zu-byte reply; the client will resend", head + r->out_len);
        msg = NULL;
    }
    e->metrics.replies++;
    ldi_net_reply(e->net, r->index, msg);
    req_free_slot(e, r);
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

bool
ldi_eng_result_fits(const eng_req *r, size_t len)
{
    LD_ASSERT(r->unresolved > 0);
    size_t others = (size_t)(r->unresolved - 1) * ENG_RESULT_RESERVE_BYTES;
    size_t need = ENG_RESPONSE_HEAD_BYTES + r->out_len + 1 + VARINT_BYTES_MAX + len + others;
    return need <= ENG_RESPONSE_BYTES_MAX;
}

void
ldi_eng_put_pb(ldi_engine *e, eng_req *r, uint32_t op_index, const Ldpb__Result *pb, size_t len,
               ld_err code)
{
    LD_ASSERT(op_index < r->n_ops);
    eng_slot *s = &r->slots[op_index];
    LD_ASSERT(s->state != SLOT_DONE);
    LD_ASSERT(r->unresolved > 0);
    size_t need = r->out_len + 1 + VARINT_BYTES_MAX + len;
    if (need > r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap : 4096;
        while (cap < need)
            cap *= 2;
        r->out = ldi_xrealloc(r->out, cap);
        r->out_cap = cap;
    }
    uint8_t *p = r->out + r->out_len;
    p[0] = RESPONSE_RESULTS_TAG;
    size_t head = 1 + put_varint(p + 1, len);
    size_t packed = ldpb__result__pack(pb, p + head);
    LD_ASSERT(packed == len);
    s->off = (uint32_t)r->out_len;
    s->len = (uint32_t)(head + len);
    s->state = SLOT_DONE;
    r->out_len += head + len;
    r->unresolved--;
    ldi_metrics_count_result(&e->metrics, (int)code);
}

void
ldi_eng_put_result(ldi_engine *e, eng_req *r, uint32_t op_index, const ld_result *res)
{
    Ldpb__Result pb;
    ld_codec_result_scratch scratch;
    ld_codec_result_to_pb(res, &pb, &scratch);
    ldi_eng_put_pb(e, r, op_index, &pb, ldpb__result__get_packed_size(&pb), res->code);
}

void
ldi_eng_req_drop_pb(ldi_engine *e, eng_req *r)
{
    (void)e;
    r->pb = NULL;
    ldi_arena_reset(&r->arena);
}

/* ---- admission ----------------------------------------------------------------------------- */

/* Checks the envelope; returns LD_OK or the code to refuse with (message in buf). */
static ld_err
check_envelope(const ldi_engine *e, size_t len, const eng_prescan *ps, bool scanned, char *buf,
               size_t buf_len)
{
    if (len > LD_FRAME_BYTES_MAX) {
        snprintf(buf, buf_len, "frame of %zu bytes exceeds the limit of %u bytes", len,
                 LD_FRAME_BYTES_MAX);
        return LD_ERR_FRAME_TOO_LARGE;
    }
    if (!scanned) {
        snprintf(buf, buf_len, "malformed frame: not a livedrop Request");
        return LD_ERR_PROTOCOL;
    }
    if (ps->version != LD_PROTOCOL_VERSION) {
        snprintf(buf, buf_len, "protocol version %u; this node speaks %u", ps->version,
                 LD_PROTOCOL_VERSION);
        return LD_ERR_UNSUPPORTED_VERSION;
    }
    if (ps->n_ops == 0) {
        snprintf(buf, buf_len, "no ops");
        return LD_ERR_INVALID_ARGUMENT;
    }
    if (ps->n_ops > LD_REQUEST_OPS_MAX) {
        snprintf(buf, buf_len, "%zu ops in one request; the limit is %u", ps->n_ops,
                 LD_REQUEST_OPS_MAX);
        return LD_ERR_TOO_MANY_OPS;
    }
    if (e->shutting_down) {
        snprintf(buf, buf_len, "node is shutting down");
        return LD_ERR_SHUTTING_DOWN;
    }
    if (e->pending_ops + ps->n_ops > LD_NODE_PENDING_OPS_MAX) {
        snprintf(buf, buf_len, "%u ops already queued; retry later", e->pending_ops);
        return LD_ERR_BUSY;
    }
    return LD_OK;
}

/* Unpacks the frame into r's arena. Returns LD_OK or the code to refuse with. */
static ld_err
unpack_request(eng_req *r, const uint8_t *body, size_t len, size_t n_ops, char *buf, size_t buf_len)
{
    r->pb = ldpb__request__unpack(&r->arena.pb, len, body);
    if (r->pb != NULL && r->pb->n_ops == n_ops)
        return LD_OK;
    ld_err code = LD_ERR_PROTOCOL;
    snprintf(buf, buf_len, "malformed frame: protobuf decoding failed");
    if (r->arena.shared_cap_hit) {
        code = LD_ERR_BUSY;
        snprintf(buf, buf_len, "decode memory of queued requests exhausted; retry later");
    } else if (r->arena.cap_hit) {
        code = LD_ERR_FRAME_TOO_LARGE;
        snprintf(buf, buf_len, "request expands past %u bytes when decoded", ENG_ARENA_BYTES_MAX);
    }
    r->pb = NULL;
    ldi_arena_reset(&r->arena);
    return code;
}

void
ldi_eng_on_msg(void *engine, uint32_t ctx_index, nng_msg *msg)
{
    ldi_engine *e = engine;
    LD_ASSERT(ctx_index < LD_NODE_CONTEXTS);
    eng_req *r = &e->reqs[ctx_index];
    LD_ASSERT(r->state == REQ_FREE);
    e->metrics.requests++;
    const uint8_t *body = nng_msg_body(msg);
    size_t len = nng_msg_len(msg);
    eng_prescan ps = {0};
    bool scanned = len <= LD_FRAME_BYTES_MAX && prescan(body, len, &ps);
    char why[160];
    ld_err code = check_envelope(e, len, &ps, scanned, why, sizeof why);
    if (code == LD_OK)
        code = unpack_request(r, body, len, ps.n_ops, why, sizeof why);
    nng_msg_free(msg); /* protobuf-c copied every string and bytes field */
    if (code != LD_OK) {
        reply_envelope_index(e, ctx_index, ps.request_id, code, why, NULL);
        return;
    }
    r->request_id = r->pb->request_id;
    r->follower = r->pb->follower_read;
    r->frame_len = (uint32_t)len;
    r->n_ops = (uint32_t)r->pb->n_ops;
    r->unresolved = r->n_ops;
    r->n_reads = 0;
    r->n_pages = 0;
    for (uint32_t i = 0; i < r->n_ops; i++)
        r->slots[i].state = SLOT_PENDING;
    r->state = REQ_QUEUED;
    LD_ASSERT(e->fifo_len < LD_NODE_CONTEXTS);
    e->fifo[(e->fifo_head + e->fifo_len) % LD_NODE_CONTEXTS] = ctx_index;
    e->fifo_len++;
    e->pending_ops += r->n_ops;
    e->metrics.ops += r->n_ops;
}
