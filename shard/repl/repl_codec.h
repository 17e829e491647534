/*
 * repl_codec.h -- ld_repl_msg <-> proto/peer.proto (ldpeer.PeerMessage) bytes.
 *
 * Unpacking validates what the protocol relies on before ld_repl_on_message() sees a message:
 * version, a known body kind, 16-byte checksums and nonces, at most LD_PEER_DVC_HEADERS_MAX
 * headers, an entry of at most LD_PEER_ENTRY_BYTES_MAX bytes whose length equals
 * entry.entry_size, a chunk of at most LD_PEER_STATE_CHUNK_BYTES. Anything else is
 * LD_ERR_PROTOCOL and the caller drops the frame (and counts it).
 */
#ifndef LD_SHARD_REPL_CODEC_H
#define LD_SHARD_REPL_CODEC_H

#include "repl.h"

/* Packs msg (Header.version = LD_PEER_PROTOCOL_VERSION, config_epoch = config_epoch) into a
 * malloc'd buffer (*buf_out, freed by the caller). LD_ERR_NOMEM; LD_ERR_FRAME_TOO_LARGE above
 * LD_PEER_FRAME_BYTES_MAX. */
ld_err ld_repl_msg_pack(const ld_repl_msg *msg, uint64_t config_epoch, uint8_t **buf_out,
                        size_t *len_out);

/* A decoded message and the memory its pointers borrow. */
typedef struct ld_repl_msg_buf {
    ld_repl_msg msg;
    uint64_t config_epoch;
    void *unpacked; /* the protobuf-c message the pointers point into */
    ld_entry_header headers[LD_PEER_DVC_HEADERS_MAX];
} ld_repl_msg_buf;

/* Decodes frame (len bytes) into *out; out->msg stays valid until ld_repl_msg_buf_done(out).
 * LD_ERR_FRAME_TOO_LARGE above LD_PEER_FRAME_BYTES_MAX; LD_ERR_PROTOCOL for anything the
 * checks above refuse (nothing to release then). */
ld_err ld_repl_msg_unpack(const uint8_t *frame, size_t len, ld_repl_msg_buf *out);
void ld_repl_msg_buf_done(ld_repl_msg_buf *buf);

#endif /* LD_SHARD_REPL_CODEC_H */
