/*
 * test_repl_codec.c -- ld_repl_msg <-> ldpeer.PeerMessage (shard/repl/repl_codec.c): every kind
 * round-trips, and each malformed case of repl_codec.h is LD_ERR_PROTOCOL (or
 * LD_ERR_FRAME_TOO_LARGE), never a crash.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "peer.pb-c.h"
#include "repl_codec.h"

static ld_entry_header
hdr(uint64_t op, uint8_t fill)
{
    ld_entry_header h = {
        .op = op, .view = 3, .timestamp_ms = 1700000000000 + (int64_t)op, .entry_size = 4};
    memset(h.parent.b, fill, 16);
    memset(h.checksum.b, fill + 1, 16);
    return h;
}

static ld_repl_msg
base(ld_repl_kind kind)
{
    ld_repl_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind;
    m.cluster_id = 77;
    m.shard_id = 5;
    m.replica = 2;
    m.view = 9;
    return m;
}

static void
round_trip(const ld_repl_msg *m, ld_repl_msg_buf *out)
{
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ld_repl_msg_pack(m, 4, &buf, &len), LD_OK);
    cr_assert_eq(ld_repl_msg_unpack(buf, len, out), LD_OK, "kind %d", m->kind);
    free(buf);
    const ld_repl_msg *d = &out->msg;
    cr_assert_eq(out->config_epoch, 4);
    cr_assert_eq(d->kind, m->kind);
    cr_assert_eq(d->cluster_id, m->cluster_id);
    cr_assert_eq(d->shard_id, m->shard_id);
    cr_assert_eq(d->replica, m->replica);
    cr_assert_eq(d->view, m->view);
}

static void
assert_hdr_eq(const ld_entry_header *a, const ld_entry_header *b)
{
    cr_assert_eq(a->op, b->op);
    cr_assert_eq(a->view, b->view);
    cr_assert_eq(a->timestamp_ms, b->timestamp_ms);
    cr_assert_eq(a->entry_size, b->entry_size);
    cr_assert_eq(memcmp(a->parent.b, b->parent.b, 16), 0);
    cr_assert_eq(memcmp(a->checksum.b, b->checksum.b, 16), 0);
}

Test(repl_codec, every_kind_round_trips)
{
    /* Goal: each of the ten kinds keeps every field it carries through pack/unpack. Method: one
     * message per kind with distinct values, compared field by field. */
    ld_repl_msg_buf out;
    const uint8_t entry[4] = {1, 2, 3, 4};

    ld_repl_msg m = base(LD_REPL_PREPARE);
    m.entry = hdr(12, 7);
    m.bytes = entry;
    m.bytes_len = 4;
    m.commit = 11;
    round_trip(&m, &out);
    assert_hdr_eq(&out.msg.entry, &m.entry);
    cr_assert_eq(out.msg.commit, 11);
    cr_assert_eq(out.msg.bytes_len, 4);
    cr_assert_eq(memcmp(out.msg.bytes, entry, 4), 0);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_PREPARE_OK);
    m.op = 12;
    memset(m.checksum.b, 0x5A, 16);
    m.ping_ms = 123456;
    m.has_ping = true;
    round_trip(&m, &out);
    cr_assert_eq(out.msg.op, 12);
    cr_assert_eq(memcmp(out.msg.checksum.b, m.checksum.b, 16), 0);
    cr_assert_eq(out.msg.ping_ms, 123456);
    cr_assert(out.msg.has_ping);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_COMMIT);
    m.commit = 40;
    memset(m.checksum.b, 0x33, 16);
    m.ping_ms = -5;
    m.has_ping = true;
    round_trip(&m, &out);
    cr_assert_eq(out.msg.commit, 40);
    cr_assert_eq(memcmp(out.msg.checksum.b, m.checksum.b, 16), 0);
    cr_assert_eq(out.msg.ping_ms, -5);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_START_VIEW_CHANGE);
    round_trip(&m, &out);
    ld_repl_msg_buf_done(&out);

    ld_entry_header hs[3] = {hdr(20, 1), hdr(19, 2), hdr(18, 3)};
    m = base(LD_REPL_DO_VIEW_CHANGE);
    m.log_view = 7;
    m.op = 20;
    m.commit = 18;
    m.commit_min = 17;
    m.headers = hs;
    m.headers_len = 3;
    m.suffix_from = 17;
    round_trip(&m, &out);
    cr_assert_eq(out.msg.log_view, 7);
    cr_assert_eq(out.msg.op, 20);
    cr_assert_eq(out.msg.commit, 18);
    cr_assert_eq(out.msg.commit_min, 17);
    cr_assert_eq(out.msg.suffix_from, 17);
    cr_assert_eq(out.msg.headers_len, 3);
    for (int i = 0; i < 3; i++)
        assert_hdr_eq(&out.msg.headers[i], &hs[i]);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_START_VIEW);
    m.op = 20;
    m.commit = 19;
    m.headers = hs;
    m.headers_len = 3;
    m.suffix_from = 17;
    memset(m.nonce, 0xEE, 16);
    m.has_nonce = true;
    round_trip(&m, &out);
    cr_assert_eq(out.msg.commit, 19);
    cr_assert_eq(out.msg.headers_len, 3);
    cr_assert(out.msg.has_nonce);
    cr_assert_eq(memcmp(out.msg.nonce, m.nonce, 16), 0);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_REQUEST_START_VIEW);
    memset(m.nonce, 0x11, 16);
    m.has_nonce = true;
    round_trip(&m, &out);
    cr_assert(out.msg.has_nonce);
    cr_assert_eq(out.msg.nonce[15], 0x11);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_GET_PREPARE);
    m.op = 5;
    memset(m.checksum.b, 0x44, 16);
    m.has_checksum = true;
    round_trip(&m, &out);
    cr_assert_eq(out.msg.op, 5);
    cr_assert(out.msg.has_checksum);
    cr_assert_eq(out.msg.checksum.b[0], 0x44);
    ld_repl_msg_buf_done(&out);
    m.has_checksum = false;
    round_trip(&m, &out);
    cr_assert_not(out.msg.has_checksum);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_GET_STATE);
    m.min_op = 3;
    m.checkpoint_op = 8;
    m.offset = 1024;
    memset(m.nonce, 0x22, 16);
    m.has_nonce = true;
    round_trip(&m, &out);
    cr_assert_eq(out.msg.min_op, 3);
    cr_assert_eq(out.msg.checkpoint_op, 8);
    cr_assert_eq(out.msg.offset, 1024);
    cr_assert(out.msg.has_nonce);
    ld_repl_msg_buf_done(&out);

    m = base(LD_REPL_NEW_STATE);
    memset(m.nonce, 0x22, 16);
    m.has_nonce = true;
    m.checkpoint_op = 8;
    memset(m.checkpoint_checksum.b, 0x66, 16);
    m.checkpoint_timestamp_ms = 99;
    m.total_bytes = 10;
    memset(m.stream_checksum.b, 0x77, 16);
    m.offset = 6;
    m.bytes = entry;
    m.bytes_len = 4;
    m.last = true;
    m.responder_normal = true;
    m.responder_op = 30;
    m.responder_commit = 29;
    round_trip(&m, &out);
    const ld_repl_msg *d = &out.msg;
    cr_assert_eq(d->checkpoint_op, 8);
    cr_assert_eq(d->checkpoint_checksum.b[3], 0x66);
    cr_assert_eq(d->checkpoint_timestamp_ms, 99);
    cr_assert_eq(d->total_bytes, 10);
    cr_assert_eq(d->stream_checksum.b[3], 0x77);
    cr_assert_eq(d->offset, 6);
    cr_assert_eq(d->bytes_len, 4);
    cr_assert(d->last);
    cr_assert(d->responder_normal);
    cr_assert_eq(d->responder_op, 30);
    cr_assert_eq(d->responder_commit, 29);
    ld_repl_msg_buf_done(&out);
}

/* Packs a hand-built PeerMessage (to make what ld_repl_msg_pack never produces). */
static ld_err
unpack_pm(const Ldpeer__PeerMessage *pm)
{
    size_t len = ldpeer__peer_message__get_packed_size(pm);
    uint8_t *buf = malloc(len + 1);
    ldpeer__peer_message__pack(pm, buf);
    ld_repl_msg_buf out;
    ld_err err = ld_repl_msg_unpack(buf, len, &out);
    if (err == LD_OK)
        ld_repl_msg_buf_done(&out);
    free(buf);
    return err;
}

Test(repl_codec, malformed_messages_are_protocol_errors)
{
    /* Goal: each check of repl_codec.h refuses: no header, version 0 and 2, no body, checksums
     * and nonces of the wrong length, more than LD_PEER_DVC_HEADERS_MAX headers, entry bytes
     * whose length differs from entry_size, a chunk too large or past total_bytes, an oversize
     * frame, garbage. Method: hand-built messages, one defect each, next to a valid one. */
    Ldpeer__PeerMessage pm = LDPEER__PEER_MESSAGE__INIT;
    Ldpeer__Header h = LDPEER__HEADER__INIT;
    h.version = LD_PEER_PROTOCOL_VERSION;
    h.cluster_id = 1;
    Ldpeer__PrepareOk pok = LDPEER__PREPARE_OK__INIT;
    uint8_t sixteen[16] = {0}, seventeen[17] = {0};
    pok.checksum.data = sixteen;
    pok.checksum.len = 16;
    pm.body_case = LDPEER__PEER_MESSAGE__BODY_PREPARE_OK;
    pm.prepare_ok = &pok;
    cr_assert_eq(unpack_pm(&pm), LD_ERR_PROTOCOL, "no header");
    pm.header = &h;
    cr_assert_eq(unpack_pm(&pm), LD_OK, "the valid one");
    h.version = 0;
    cr_assert_eq(unpack_pm(&pm), LD_ERR_PROTOCOL, "version 0");
    h.version = LD_PEER_PROTOCOL_VERSION + 1;
    cr_assert_eq(unpack_pm(&pm), LD_ERR_PROTOCOL, "unknown version");
    h.version = LD_PEER_PROTOCOL_VERSION;
    pok.checksum.len = 15;
    cr_assert_eq(unpack_pm(&pm), LD_ERR_PROTOCOL, "15-byte checksum");
    pok.checksum.len = 0;
    cr_assert_eq(unpack_pm(&pm), LD_ERR_PROTOCOL, "missing checksum");
    pok.checksum.data = seventeen;
    pok.checksum.len = 17;
    cr_assert_eq(unpack_pm(&pm), LD_ERR_PROTOCOL, "17-byte checksum");

    /* no body */
    Ldpeer__PeerMessage empty = LDPEER__PEER_MESSAGE__INIT;
    empty.header = &h;
    cr_assert_eq(unpack_pm(&empty), LD_ERR_PROTOCOL, "no body");

    /* prepare: entry bytes vs entry_size, oversize entry_size, parent length */
    Ldpeer__Prepare prep = LDPEER__PREPARE__INIT;
    Ldpeer__EntryHeader eh = LDPEER__ENTRY_HEADER__INIT;
    uint8_t body[8] = {0};
    eh.op = 1;
    eh.parent.data = sixteen;
    eh.parent.len = 16;
    eh.checksum.data = sixteen;
    eh.checksum.len = 16;
    eh.entry_size = 8;
    prep.entry = &eh;
    prep.log_entry.data = body;
    prep.log_entry.len = 8;
    Ldpeer__PeerMessage pp = LDPEER__PEER_MESSAGE__INIT;
    pp.header = &h;
    pp.body_case = LDPEER__PEER_MESSAGE__BODY_PREPARE;
    pp.prepare = &prep;
    cr_assert_eq(unpack_pm(&pp), LD_OK);
    eh.entry_size = 7;
    cr_assert_eq(unpack_pm(&pp), LD_ERR_PROTOCOL, "entry_size mismatch");
    eh.entry_size = LD_PEER_ENTRY_BYTES_MAX + 1;
    cr_assert_eq(unpack_pm(&pp), LD_ERR_PROTOCOL, "entry_size above the limit");
    eh.entry_size = 8;
    eh.parent.len = 3;
    cr_assert_eq(unpack_pm(&pp), LD_ERR_PROTOCOL, "short parent");
    eh.parent.len = 16;
    prep.entry = NULL;
    cr_assert_eq(unpack_pm(&pp), LD_ERR_PROTOCOL, "no entry header");
    prep.entry = &eh;

    /* DVC with too many headers */
    Ldpeer__DoViewChange dvc = LDPEER__DO_VIEW_CHANGE__INIT;
    Ldpeer__EntryHeader *many[LD_PEER_DVC_HEADERS_MAX + 1];
    for (unsigned i = 0; i <= LD_PEER_DVC_HEADERS_MAX; i++)
        many[i] = &eh;
    dvc.headers = many;
    dvc.n_headers = LD_PEER_DVC_HEADERS_MAX;
    Ldpeer__PeerMessage pd = LDPEER__PEER_MESSAGE__INIT;
    pd.header = &h;
    pd.body_case = LDPEER__PEER_MESSAGE__BODY_DO_VIEW_CHANGE;
    pd.do_view_change = &dvc;
    cr_assert_eq(unpack_pm(&pd), LD_OK, "exactly the maximum");
    dvc.n_headers = LD_PEER_DVC_HEADERS_MAX + 1;
    cr_assert_eq(unpack_pm(&pd), LD_ERR_PROTOCOL, "one header too many");

    /* nonce length */
    Ldpeer__RequestStartView rsv = LDPEER__REQUEST_START_VIEW__INIT;
    rsv.nonce.data = sixteen;
    rsv.nonce.len = 8;
    Ldpeer__PeerMessage pr = LDPEER__PEER_MESSAGE__INIT;
    pr.header = &h;
    pr.body_case = LDPEER__PEER_MESSAGE__BODY_REQUEST_START_VIEW;
    pr.request_start_view = &rsv;
    cr_assert_eq(unpack_pm(&pr), LD_ERR_PROTOCOL, "8-byte nonce");
    rsv.nonce.len = 16;
    cr_assert_eq(unpack_pm(&pr), LD_OK);

    /* new_state chunk bounds */
    Ldpeer__NewState ns = LDPEER__NEW_STATE__INIT;
    ns.total_bytes = 8;
    ns.offset = 4;
    ns.data.data = body;
    ns.data.len = 4;
    Ldpeer__PeerMessage pn = LDPEER__PEER_MESSAGE__INIT;
    pn.header = &h;
    pn.body_case = LDPEER__PEER_MESSAGE__BODY_NEW_STATE;
    pn.new_state = &ns;
    cr_assert_eq(unpack_pm(&pn), LD_OK);
    ns.data.len = 5;
    cr_assert_eq(unpack_pm(&pn), LD_ERR_PROTOCOL, "chunk past total_bytes");
    ns.data.len = 4;
    ns.offset = 9;
    cr_assert_eq(unpack_pm(&pn), LD_ERR_PROTOCOL, "offset past total_bytes");
    ns.offset = 0;
    ns.total_bytes = LD_PEER_STATE_BYTES_MAX + 1;
    cr_assert_eq(unpack_pm(&pn), LD_ERR_PROTOCOL, "stream above the limit");

    /* garbage and oversize frames */
    uint8_t junk[64];
    for (unsigned i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    ld_repl_msg_buf out;
    cr_assert_eq(ld_repl_msg_unpack(junk, sizeof junk, &out), LD_ERR_PROTOCOL);
    cr_assert_eq(ld_repl_msg_unpack(junk, (size_t)LD_PEER_FRAME_BYTES_MAX + 1, &out),
                 LD_ERR_FRAME_TOO_LARGE);
    cr_assert_eq(ld_repl_msg_unpack(junk, 0, &out), LD_ERR_PROTOCOL, "empty frame: no header");
}

Test(repl_codec, chunk_above_the_limit_is_refused)
{
    /* Goal: a NewState chunk above LD_PEER_STATE_CHUNK_BYTES is refused even when total_bytes
     * covers it. Method: pack a valid message with a chunk one byte too large, unpack. */
    uint8_t *data = calloc(1, LD_PEER_STATE_CHUNK_BYTES + 1);
    ld_repl_msg m = base(LD_REPL_NEW_STATE);
    m.total_bytes = LD_PEER_STATE_CHUNK_BYTES + 1;
    m.bytes = data;
    m.bytes_len = LD_PEER_STATE_CHUNK_BYTES + 1;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ld_repl_msg_pack(&m, 1, &buf, &len), LD_OK);
    ld_repl_msg_buf out;
    cr_assert_eq(ld_repl_msg_unpack(buf, len, &out), LD_ERR_PROTOCOL);
    m.bytes_len = LD_PEER_STATE_CHUNK_BYTES;
    free(buf);
    cr_assert_eq(ld_repl_msg_pack(&m, 1, &buf, &len), LD_OK);
    cr_assert_eq(ld_repl_msg_unpack(buf, len, &out), LD_OK);
    ld_repl_msg_buf_done(&out);
    free(buf);
    free(data);
}
