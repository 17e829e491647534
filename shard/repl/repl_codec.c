/*
 * repl_codec.c -- ld_repl_msg <-> ldpeer.PeerMessage (see repl_codec.h for what is checked).
 *
 * Packing points the protobuf-c structs at the message's own memory (no copies) and packs into
 * one malloc'd buffer. Unpacking keeps protobuf-c's unpacked message alive in the buffer struct:
 * the decoded ld_repl_msg borrows its byte fields from it.
 */
#include <stdlib.h>
#include <string.h>

#include "peer.pb-c.h"
#include "repl_codec.h"

/* ---- pack --------------------------------------------------------------------------------- */

static ProtobufCBinaryData
bin(const void *p, size_t len)
{
    ProtobufCBinaryData b = {.len = len, .data = (uint8_t *)(uintptr_t)p};
    return b;
}

static void
entry_to_pb(const ld_entry_header *h, Ldpeer__EntryHeader *out)
{
    ldpeer__entry_header__init(out);
    out->op = h->op;
    out->view = h->view;
    out->timestamp_ms = h->timestamp_ms;
    out->parent = bin(h->parent.b, 16);
    out->checksum = bin(h->checksum.b, 16);
    out->entry_size = h->entry_size;
}

ld_err
ld_repl_msg_pack(const ld_repl_msg *msg, uint64_t config_epoch, uint8_t **buf_out, size_t *len_out)
{
    LD_ASSERT(msg != NULL);
    LD_ASSERT(buf_out != NULL);
    LD_ASSERT(len_out != NULL);
    LD_ASSERT(msg->headers_len <= LD_PEER_DVC_HEADERS_MAX);
    Ldpeer__PeerMessage pm;
    Ldpeer__Header hdr;
    ldpeer__peer_message__init(&pm);
    ldpeer__header__init(&hdr);
    hdr.version = LD_PEER_PROTOCOL_VERSION;
    hdr.cluster_id = msg->cluster_id;
    hdr.config_epoch = config_epoch;
    hdr.shard_id = msg->shard_id;
    hdr.replica = msg->replica;
    hdr.view = msg->view;
    pm.header = &hdr;

    Ldpeer__Prepare prep;
    Ldpeer__EntryHeader entry;
    Ldpeer__PrepareOk pok;
    Ldpeer__Commit com;
    Ldpeer__StartViewChange svc;
    Ldpeer__DoViewChange dvc;
    Ldpeer__StartView sv;
    Ldpeer__RequestStartView rsv;
    Ldpeer__GetPrepare gp;
    Ldpeer__GetState gs;
    Ldpeer__NewState ns;
    Ldpeer__EntryHeader hs[LD_PEER_DVC_HEADERS_MAX];
    Ldpeer__EntryHeader *hps[LD_PEER_DVC_HEADERS_MAX];
    for (uint32_t i = 0; i < msg->headers_len; i++) {
        entry_to_pb(&msg->headers[i], &hs[i]);
        hps[i] = &hs[i];
    }
    ProtobufCBinaryData nonce = bin(msg->nonce, msg->has_nonce ? 16 : 0);

    switch (msg->kind) {
    case LD_REPL_PREPARE:
        ldpeer__prepare__init(&prep);
        entry_to_pb(&msg->entry, &entry);
        prep.entry = &entry;
        prep.commit = msg->commit;
        prep.log_entry = bin(msg->bytes, msg->bytes_len);
        prep.committed = msg->committed;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_PREPARE;
        pm.prepare = &prep;
        break;
    case LD_REPL_PREPARE_OK:
        ldpeer__prepare_ok__init(&pok);
        pok.op = msg->op;
        pok.checksum = bin(msg->checksum.b, 16);
        pok.ping_ms = msg->ping_ms;
        pok.has_ping = msg->has_ping;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_PREPARE_OK;
        pm.prepare_ok = &pok;
        break;
    case LD_REPL_COMMIT:
        ldpeer__commit__init(&com);
        com.commit = msg->commit;
        com.commit_checksum = bin(msg->checksum.b, 16);
        com.ping_ms = msg->ping_ms;
        com.has_ping = msg->has_ping;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_COMMIT;
        pm.commit = &com;
        break;
    case LD_REPL_START_VIEW_CHANGE:
        ldpeer__start_view_change__init(&svc);
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_START_VIEW_CHANGE;
        pm.start_view_change = &svc;
        break;
    case LD_REPL_DO_VIEW_CHANGE:
        ldpeer__do_view_change__init(&dvc);
        dvc.log_view = msg->log_view;
        dvc.op = msg->op;
        dvc.commit = msg->commit;
        dvc.commit_min = msg->commit_min;
        dvc.n_headers = msg->headers_len;
        dvc.headers = hps;
        dvc.suffix_from = msg->suffix_from;
        dvc.present_op = msg->present_op;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_DO_VIEW_CHANGE;
        pm.do_view_change = &dvc;
        break;
    case LD_REPL_START_VIEW:
        ldpeer__start_view__init(&sv);
        sv.op = msg->op;
        sv.commit = msg->commit;
        sv.n_headers = msg->headers_len;
        sv.headers = hps;
        sv.suffix_from = msg->suffix_from;
        sv.nonce = nonce;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_START_VIEW;
        pm.start_view = &sv;
        break;
    case LD_REPL_REQUEST_START_VIEW:
        ldpeer__request_start_view__init(&rsv);
        rsv.nonce = nonce;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_REQUEST_START_VIEW;
        pm.request_start_view = &rsv;
        break;
    case LD_REPL_GET_PREPARE:
        ldpeer__get_prepare__init(&gp);
        gp.op = msg->op;
        gp.checksum = bin(msg->checksum.b, msg->has_checksum ? 16 : 0);
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_GET_PREPARE;
        pm.get_prepare = &gp;
        break;
    case LD_REPL_GET_STATE:
        ldpeer__get_state__init(&gs);
        gs.min_op = msg->min_op;
        gs.nonce = nonce;
        gs.checkpoint_op = msg->checkpoint_op;
        gs.offset = msg->offset;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_GET_STATE;
        pm.get_state = &gs;
        break;
    case LD_REPL_NEW_STATE:
        ldpeer__new_state__init(&ns);
        ns.nonce = nonce;
        ns.checkpoint_op = msg->checkpoint_op;
        ns.checkpoint_checksum = bin(msg->checkpoint_checksum.b, 16);
        ns.checkpoint_timestamp_ms = msg->checkpoint_timestamp_ms;
        ns.total_bytes = msg->total_bytes;
        ns.stream_checksum = bin(msg->stream_checksum.b, 16);
        ns.offset = msg->offset;
        ns.data = bin(msg->bytes, msg->bytes_len);
        ns.last = msg->last;
        ns.responder_normal = msg->responder_normal;
        ns.responder_op = msg->responder_op;
        ns.responder_commit = msg->responder_commit;
        pm.body_case = LDPEER__PEER_MESSAGE__BODY_NEW_STATE;
        pm.new_state = &ns;
        break;
    default:
        LD_ASSERT(false && "unknown message kind");
    }
    size_t len = ldpeer__peer_message__get_packed_size(&pm);
    if (len > LD_PEER_FRAME_BYTES_MAX)
        return LD_ERR_FRAME_TOO_LARGE;
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return LD_ERR_NOMEM;
    size_t n = ldpeer__peer_message__pack(&pm, buf);
    LD_ASSERT(n == len);
    *buf_out = buf;
    *len_out = len;
    return LD_OK;
}

/* ---- unpack ------------------------------------------------------------------------------- */

/* A checksum field: exactly 16 bytes, or (when `optional`) empty = absent. */
static bool
cs_from(ProtobufCBinaryData b, bool optional, ld_checksum *out, bool *present)
{
    memset(out, 0, sizeof *out);
    if (present != NULL)
        *present = b.len == 16;
    if (b.len == 0)
        return optional;
    if (b.len != 16)
        return false;
    memcpy(out->b, b.data, 16);
    return true;
}

static bool
entry_from(const Ldpeer__EntryHeader *e, ld_entry_header *out)
{
    if (e == NULL || e->entry_size > LD_PEER_ENTRY_BYTES_MAX)
        return false;
    out->op = e->op;
    out->view = e->view;
    out->timestamp_ms = e->timestamp_ms;
    out->entry_size = e->entry_size;
    return cs_from(e->parent, false, &out->parent, NULL) &&
           cs_from(e->checksum, false, &out->checksum, NULL);
}

static bool
headers_from(Ldpeer__EntryHeader **hs, size_t n, ld_repl_msg_buf *out)
{
    if (n > LD_PEER_DVC_HEADERS_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!entry_from(hs[i], &out->headers[i]))
            return false;
    out->msg.headers = n > 0 ? out->headers : NULL;
    out->msg.headers_len = (uint32_t)n;
    return true;
}

static bool
nonce_from(ProtobufCBinaryData b, ld_repl_msg *m)
{
    if (b.len == 0)
        return true;
    if (b.len != 16)
        return false;
    memcpy(m->nonce, b.data, 16);
    m->has_nonce = true;
    return true;
}

static bool
body_from(const Ldpeer__PeerMessage *pm, ld_repl_msg_buf *out)
{
    ld_repl_msg *m = &out->msg;
    switch (pm->body_case) {
    case LDPEER__PEER_MESSAGE__BODY_PREPARE: {
        const Ldpeer__Prepare *p = pm->prepare;
        if (p == NULL || !entry_from(p->entry, &m->entry))
            return false;
        if (p->log_entry.len > LD_PEER_ENTRY_BYTES_MAX || p->log_entry.len != m->entry.entry_size)
            return false;
        m->kind = LD_REPL_PREPARE;
        m->commit = p->commit;
        m->committed = p->committed;
        m->bytes = p->log_entry.data;
        m->bytes_len = (uint32_t)p->log_entry.len;
        return true;
    }
    case LDPEER__PEER_MESSAGE__BODY_PREPARE_OK: {
        const Ldpeer__PrepareOk *p = pm->prepare_ok;
        m->kind = LD_REPL_PREPARE_OK;
        if (p == NULL)
            return false;
        m->op = p->op;
        m->ping_ms = p->ping_ms;
        m->has_ping = p->has_ping;
        return cs_from(p->checksum, false, &m->checksum, NULL);
    }
    case LDPEER__PEER_MESSAGE__BODY_COMMIT: {
        const Ldpeer__Commit *p = pm->commit;
        m->kind = LD_REPL_COMMIT;
        if (p == NULL)
            return false;
        m->commit = p->commit;
        m->ping_ms = p->ping_ms;
        m->has_ping = p->has_ping;
        return cs_from(p->commit_checksum, false, &m->checksum, NULL);
    }
    case LDPEER__PEER_MESSAGE__BODY_START_VIEW_CHANGE:
        m->kind = LD_REPL_START_VIEW_CHANGE;
        return pm->start_view_change != NULL;
    case LDPEER__PEER_MESSAGE__BODY_DO_VIEW_CHANGE: {
        const Ldpeer__DoViewChange *p = pm->do_view_change;
        m->kind = LD_REPL_DO_VIEW_CHANGE;
        if (p == NULL)
            return false;
        m->log_view = p->log_view;
        m->op = p->op;
        m->commit = p->commit;
        m->commit_min = p->commit_min;
        m->suffix_from = p->suffix_from;
        m->present_op = p->present_op;
        return headers_from(p->headers, p->n_headers, out);
    }
    case LDPEER__PEER_MESSAGE__BODY_START_VIEW: {
        const Ldpeer__StartView *p = pm->start_view;
        m->kind = LD_REPL_START_VIEW;
        if (p == NULL)
            return false;
        m->op = p->op;
        m->commit = p->commit;
        m->suffix_from = p->suffix_from;
        return headers_from(p->headers, p->n_headers, out) && nonce_from(p->nonce, m);
    }
    case LDPEER__PEER_MESSAGE__BODY_REQUEST_START_VIEW:
        m->kind = LD_REPL_REQUEST_START_VIEW;
        return pm->request_start_view != NULL && nonce_from(pm->request_start_view->nonce, m);
    case LDPEER__PEER_MESSAGE__BODY_GET_PREPARE: {
        const Ldpeer__GetPrepare *p = pm->get_prepare;
        m->kind = LD_REPL_GET_PREPARE;
        if (p == NULL)
            return false;
        m->op = p->op;
        return cs_from(p->checksum, true, &m->checksum, &m->has_checksum);
    }
    case LDPEER__PEER_MESSAGE__BODY_GET_STATE: {
        const Ldpeer__GetState *p = pm->get_state;
        m->kind = LD_REPL_GET_STATE;
        if (p == NULL)
            return false;
        m->min_op = p->min_op;
        m->checkpoint_op = p->checkpoint_op;
        m->offset = p->offset;
        return nonce_from(p->nonce, m);
    }
    case LDPEER__PEER_MESSAGE__BODY_NEW_STATE: {
        const Ldpeer__NewState *p = pm->new_state;
        m->kind = LD_REPL_NEW_STATE;
        if (p == NULL || p->data.len > LD_PEER_STATE_CHUNK_BYTES ||
            p->total_bytes > LD_PEER_STATE_BYTES_MAX || p->offset > p->total_bytes ||
            p->data.len > p->total_bytes - p->offset)
            return false;
        m->checkpoint_op = p->checkpoint_op;
        m->checkpoint_timestamp_ms = p->checkpoint_timestamp_ms;
        m->total_bytes = p->total_bytes;
        m->offset = p->offset;
        m->bytes = p->data.data;
        m->bytes_len = (uint32_t)p->data.len;
        m->last = p->last;
        m->responder_normal = p->responder_normal;
        m->responder_op = p->responder_op;
        m->responder_commit = p->responder_commit;
        return nonce_from(p->nonce, m) &&
               cs_from(p->checkpoint_checksum, true, &m->checkpoint_checksum, NULL) &&
               cs_from(p->stream_checksum, true, &m->stream_checksum, NULL);
    }
    default:
        return false;
    }
}

ld_err
ld_repl_msg_unpack(const uint8_t *frame, size_t len, ld_repl_msg_buf *out)
{
    LD_ASSERT(out != NULL);
    if (len > 0)
        LD_ASSERT(frame != NULL);
    memset(&out->msg, 0, sizeof out->msg);
    out->unpacked = NULL;
    out->config_epoch = 0;
    if (len > LD_PEER_FRAME_BYTES_MAX)
        return LD_ERR_FRAME_TOO_LARGE;
    Ldpeer__PeerMessage *pm = ldpeer__peer_message__unpack(NULL, len, frame);
    if (pm == NULL)
        return LD_ERR_PROTOCOL;
    const Ldpeer__Header *h = pm->header;
    if (h == NULL || h->version != LD_PEER_PROTOCOL_VERSION || !body_from(pm, out)) {
        ldpeer__peer_message__free_unpacked(pm, NULL);
        memset(&out->msg, 0, sizeof out->msg);
        return LD_ERR_PROTOCOL;
    }
    out->msg.cluster_id = h->cluster_id;
    out->msg.shard_id = h->shard_id;
    out->msg.replica = h->replica;
    out->msg.view = h->view;
    out->config_epoch = h->config_epoch;
    out->unpacked = pm;
    return LD_OK;
}

void
ld_repl_msg_buf_done(ld_repl_msg_buf *buf)
{
    if (buf == NULL || buf->unpacked == NULL)
        return;
    ldpeer__peer_message__free_unpacked(buf->unpacked, NULL);
    buf->unpacked = NULL;
}
