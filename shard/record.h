/*
 * record.h -- the state machine's records in the store: key layout and value encoding.
 *
 * Keys: a one-byte type, then the record's identity; ids are their 16 raw bytes (no integer
 * appears in a key today; any that does is big-endian so that key order is numeric order).
 *
 *   type  key bytes                                      record
 *   'M'   'M'                                            meta: applied op, last ts, next seq
 *   'D'   'D' drop_id[16]                                drop (spec, created_at)
 *   'R'   'R' reservation_id[16]                         reservation
 *   'O'   'O' order_id[16]                               order
 *   'I'   'I' drop_id[16] user_id[16] key[1..64]         idempotency key
 *
 * Values: a version byte (LDI_REC_VERSION), then fixed-order fields, little-endian; strings are
 * a length byte and that many bytes of UTF-8 (no NUL). `id` is 16 bytes, iN/uN are N-bit
 * integers. Decoders check every field against ld_limits.h and the key against the value, and
 * reject trailing bytes: a record that fails is LD_ERR_STORAGE, never an assertion.
 *
 *   meta                       drop                          reservation
 *   +---------------------+    +--------------------------+  +-----------------------------+
 *   | u8  version         |    | u8  version              |  | u8  version                 |
 *   | u64 applied_op      |    | id  id                   |  | resv  (see below)           |
 *   | i64 last_ts_ms      |    | id  creator_id           |  | i64 closed_at_ms (0: active)|
 *   | u64 next_seq        |    | str title                |  | u64 seq (0: active)         |
 *   +---------------------+    | i64 price_minor          |  | u8  origin (1 reserve,      |
 *                              | 3B  currency             |  |         2 place_order)      |
 *   resv (reservation view)    | u8  tags_count           |  | u8  awaiting_payment (0/1)  |
 *   +---------------------+    | str tags[tags_count]     |  | -- if awaiting_payment:     |
 *   | id  id              |    | i64 starts_at_ms         |  | str idempotency_key         |
 *   | id  drop_id         |    | i64 ends_at_ms           |  | str payment_method          |
 *   | id  user_id         |    | i64 initial_stock        |  +-----------------------------+
 *   | i64 qty             |    | i64 low_stock_threshold  |
 *   | i64 expires_at_ms   |    | i64 max_per_user         |  order
 *   | u8  state           |    | i64 reservation_ttl_ms   |  +-----------------------------+
 *   | id  order_id        |    | i64 created_at_ms        |  | u8  version                 |
 *   | i64 created_at_ms   |    +--------------------------+  | ordv  (see below)           |
 *   +---------------------+                                  +-----------------------------+
 *
 *   ordv (order view)          idempotency key
 *   +---------------------+    +------------------------------------------------------------+
 *   | id  id              |    | u8  version                                                |
 *   | id  drop_id         |    | u8  status (1 in progress, 2 done)                         |
 *   | id  user_id         |    | 16B request hash (XXH3_128, canonical big-endian bytes)    |
 *   | id  reservation_id  |    | i64 created_at_ms                                          |
 *   | i64 qty             |    | u64 seq                                                    |
 *   | i64 total_minor     |    | u16 code (ld_err of the stored result)                     |
 *   | 3B  currency        |    | str message                                                |
 *   | u8  status          |    | u8  kind (0 none, 2 reservation, 3 order)                  |
 *   | str payment_ref     |    | resv or ordv, by kind                                      |
 *   | i64 created_at_ms   |    +------------------------------------------------------------+
 *   +---------------------+
 *
 * Stock and the per-user counters are not stored: they are sums over reservations and orders,
 * recomputed by ld_sm_open(). Changing a layout means a new version byte and a decoder for the
 * old one.
 */
#ifndef LD_SHARD_RECORD_H
#define LD_SHARD_RECORD_H

#include "sm_int.h"

#define LDI_REC_VERSION 1u
#define LDI_REC_META 'M'
#define LDI_REC_DROP 'D'
#define LDI_REC_RES 'R'
#define LDI_REC_ORDER 'O'
#define LDI_REC_KEY 'I'

#define LDI_REC_KEY_BYTES_MAX (1u + 32u + LD_IDEMPOTENCY_KEY_BYTES_MAX)
#define LDI_REC_VAL_BYTES_MAX 1024u

typedef struct ldi_rec_meta {
    uint64_t applied_op;
    int64_t last_ts_ms;
    uint64_t next_seq;
} ldi_rec_meta;

/* A reservation record with what memory keeps elsewhere (the payment awaiting FINISH_ORDER). */
typedef struct ldi_rec_res {
    ldi_res res; /* links (drop_idx, heap_pos, next, pay_idx) are not set by the decoder */
    bool awaiting_payment;
    ldi_key_id key; /* drop_id, user_id and key; set when awaiting_payment */
    char payment_method[LD_PAYMENT_METHOD_BYTES_MAX + 1];
} ldi_rec_res;

/* Key builders: write the key into out (LDI_REC_KEY_BYTES_MAX bytes) and return its length. */
size_t ldi_rec_id_key(uint8_t type, const ld_id *id, uint8_t *out);
size_t ldi_rec_key_key(const ldi_key_id *id, uint8_t *out);

/* Encoders: write the value into buf (LDI_REC_VAL_BYTES_MAX bytes) and return its length. */
size_t ldi_rec_meta_encode(const ldi_rec_meta *meta, uint8_t *buf);
size_t ldi_rec_drop_encode(const ldi_drop *drop, uint8_t *buf);
size_t ldi_rec_res_encode(const ldi_rec_res *rec, uint8_t *buf);
size_t ldi_rec_order_encode(const ld_order_view *order, uint8_t *buf);
size_t ldi_rec_key_encode(const ldi_idem *key, uint8_t *buf);

/* Decoders: return false when the record is malformed in any way. The key decoder of 'I'
 * records fills id; ldi_rec_key_decode stores the message into msg_out (LD_MESSAGE_BYTES_MAX + 1)
 * and leaves key->message NULL. */
bool ldi_rec_meta_decode(const uint8_t *val, size_t len, ldi_rec_meta *out);
bool ldi_rec_drop_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                         ldi_drop *out);
bool ldi_rec_res_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                        ldi_rec_res *out);
bool ldi_rec_order_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                          ld_order_view *out);
bool ldi_rec_key_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                        ldi_idem *out, char *msg_out);

#endif /* LD_SHARD_RECORD_H */
