/*
 * record.h -- the state machine's records in the store: key layout and value encoding.
 *
 * Keys: a one-byte type, then the record's identity; ids are their 16 raw bytes, integers in keys
 * are big-endian so that key order is numeric order ("~t" is the bitwise NOT of t: newest first).
 *
 *   type  key bytes                                      record
 *   'A'   'A' kind[1] id[16]                             topic counters (kind: ld_topic_kind)
 *   'B'   'B' status[1] sort_key[8] drop_id[16]          browse index (value: version only)
 *   'C'   'C' creator_id[16]                             creator
 *   'D'   'D' drop_id[16]                                drop (spec, created_at, status)
 *   'E'   'E' seq[8]                                     event (the outbox)
 *   'F'   'F' creator_id[16] ~since_ms[8] user_id[16]    follow edge = follower index
 *   'G'   'G' user_id[16] ~at_ms[8] creator_id[16]       derived following index
 *   'H'   'H' kind[1] id[16] seq[8]                      feed-worthy events of a topic (value:
 *                                                        version only): DROP_LIVE, LOW_STOCK,
 *                                                        SOLD_OUT on creator/, ORDER_* on user/
 *   'I'   'I' drop_id[16] user_id[16] key[1..64]         idempotency key
 *   'M'   'M'                                            meta: applied op, last ts, next seq
 *   'O'   'O' order_id[16]                               order
 *   'P'   'P' product_id[16]                             catalog product
 *   'Q'   'Q' creator_id[16] ~created_at_ms[8] product_id[16]  products of a creator (version)
 *   'R'   'R' reservation_id[16]                         reservation
 *   'T'   'T' kind[1] id[16] topic_seq[8]                topic index -> event seq
 *   'U'   'U' user_id[16]                                user
 *   'Y'   'Y' source_shard[4]                            relay cursor of RELAY_FOLLOW
 *
 * The browse sort key is starts_at (UPCOMING), ends_at (LIVE), ~ends_at (ENDED) or
 * ~cancelled_at (CANCELLED). 'A' sorts before 'E' on purpose: recovery, which scans in key order,
 * knows every topic before it meets the events.
 *
 * Values: a version byte, then fixed-order fields, little-endian; strings are a length byte and
 * that many bytes of UTF-8 (no NUL). `id` is 16 bytes (zero only where said), iN/uN are N-bit
 * integers. Decoders check every field against ld_limits.h and the key against the value, and
 * reject trailing bytes: a record that fails is LD_ERR_STORAGE, never an assertion. Index
 * records ('B', 'H', 'Q') hold only the version byte.
 *
 *   meta (version 2; 1 had no last_event_seq)             drop (version 2; 1 ended at created_at)
 *   +---------------------+    +--------------------------+  +-----------------------------+
 *   | u8  version         |    | u8  version              |  | u8  version                 |
 *   | u64 applied_op      |    | id  id                   |  | resv  (see below)           |
 *   | i64 last_ts_ms      |    | id  creator_id           |  | i64 closed_at_ms (0: active)|
 *   | u64 next_seq        |    | str title                |  | u64 seq (0: active)         |
 *   | u64 last_event_seq  |    | i64 price_minor          |  | u8  origin (1 reserve,      |
 *   +---------------------+    | 3B  currency             |  |         2 place_order)      |
 *                              | u8  tags_count           |  | u8  awaiting_payment (0/1)  |
 *   resv (reservation view)    | str tags[tags_count]     |  | -- if awaiting_payment:     |
 *   +---------------------+    | i64 starts_at_ms         |  | str idempotency_key         |
 *   | id  id              |    | i64 ends_at_ms           |  | str payment_method          |
 *   | id  drop_id         |    | i64 initial_stock        |  +-----------------------------+
 *   | id  user_id         |    | i64 low_stock_threshold  |    reservation (above)
 *   | i64 qty             |    | i64 max_per_user         |
 *   | i64 expires_at_ms   |    | i64 reservation_ttl_ms   |  order
 *   | u8  state           |    | i64 created_at_ms        |  +-----------------------------+
 *   | id  order_id        |    | id  product_id (or zero) |  | u8  version                 |
 *   | i64 created_at_ms   |    | u8  announced status     |  | ordv  (see below)           |
 *   +---------------------+    | u8  low_stock_sent (0/1) |  +-----------------------------+
 *                              | i64 cancelled_at_ms      |
 *                              +--------------------------+
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
 *   user                  creator                       product
 *   +----------------+    +--------------------------+  +-------------------------------+
 *   | u8  version    |    | u8  version              |  | u8  version                   |
 *   | id  id         |    | id  id                   |  | id  id                        |
 *   | str name       |    | str handle (as given)    |  | id  creator_id                |
 *   | str email      |    | str name                 |  | str title                     |
 *   | i64 created_at |    | u8  profile_count        |  | i64 price_minor               |
 *   +----------------+    | (str key, str value)[n]  |  | 3B  currency                  |
 *                         | i64 created_at_ms        |  | u8 tags_count, str tags[n]    |
 *   topic ('A')           +--------------------------+  | u8 attrs_count,               |
 *   +------------------+                                |   (str key, str value)[n]     |
 *   | u8  version      |  follow edge ('F')             | i64 created_at_ms             |
 *   | u64 count        |  +------------------------+    | i64 updated_at_ms             |
 *   | u64 last_notable |  | u8  version            |    +-------------------------------+
 *   +------------------+  | u64 seq (FOLLOWED)     |
 *                         +------------------------+    event ('E')
 *   topic index ('T')     following ('G')               +-------------------------------+
 *   +------------------+  +------------------------+    | u8  version                   |
 *   | u8  version      |  | u8  version            |    | u8  type (ld_event_type)      |
 *   | u64 seq          |  | u64 seq (FOLLOWED, at  |    | i64 ts_ms                     |
 *   +------------------+  |     the source shard)  |    | id  creator, drop, user,      |
 *                         | str creator_handle     |    |     order, reservation (or 0) |
 *   relay cursor ('Y')    +------------------------+    | i64 available, reserved, sold |
 *   +------------------+                                | i64 qty                       |
 *   | u8  version      |                                | str title                     |
 *   | u64 seq          |                                | u64 topic_seq creator, drop,  |
 *   +------------------+                                |     user (0: not on it)       |
 *                                                       +-------------------------------+
 *
 * Stock, per-user counters, follower counts and the fans are not stored: they are sums over
 * records, recomputed by ld_sm_open(). Changing a layout means a new version byte and a decoder
 * for the old one.
 */
#ifndef LD_SHARD_RECORD_H
#define LD_SHARD_RECORD_H

#include "sm_int.h"

#define LDI_REC_VERSION 1u
#define LDI_REC_META_VERSION 2u
#define LDI_REC_DROP_VERSION 2u
#define LDI_REC_META 'M'
#define LDI_REC_DROP 'D'
#define LDI_REC_RES 'R'
#define LDI_REC_ORDER 'O'
#define LDI_REC_KEY 'I'
#define LDI_REC_TOPIC 'A'
#define LDI_REC_BROWSE 'B'
#define LDI_REC_CREATOR 'C'
#define LDI_REC_EVENT 'E'
#define LDI_REC_FOLLOWER 'F'
#define LDI_REC_FOLLOWING 'G'
#define LDI_REC_NOTABLE 'H'
#define LDI_REC_PRODUCT 'P'
#define LDI_REC_PRODUCTS 'Q'
#define LDI_REC_TINDEX 'T'
#define LDI_REC_USER 'U'
#define LDI_REC_RELAY 'Y'

#define LDI_REC_KEY_BYTES_MAX (1u + 32u + LD_IDEMPOTENCY_KEY_BYTES_MAX)
#define LDI_REC_VAL_BYTES_MAX 2048u
/* Index keys of lists: type, a fixed middle (creator, user or status), sort key, id. */
#define LDI_REC_LIST_KEY_BYTES_MAX (1u + 16u + 8u + 16u)

typedef struct ldi_rec_meta {
    uint64_t applied_op;
    int64_t last_ts_ms;
    uint64_t next_seq;
    uint64_t last_event_seq;
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
/* A list index key: type | mid[mid_len] | sort_key (big-endian) | id ('B', 'F', 'G', 'Q'). */
size_t ldi_rec_list_key(uint8_t type, const void *mid, size_t mid_len, uint64_t sort_key,
                        const ld_id *id, uint8_t *out);
/* Splits a list index key of the given type and middle length; false if malformed. */
bool ldi_rec_list_key_split(const uint8_t *key, size_t key_len, uint8_t type, size_t mid_len,
                            uint64_t *sort_key_out, ld_id *id_out);
/* 'A' kind id, 'T' kind id topic_seq, 'H' kind id seq, 'E' seq, 'Y' shard. */
size_t ldi_rec_topic_key(uint8_t kind, const ld_id *id, uint8_t *out);
size_t ldi_rec_tindex_key(uint8_t kind, const ld_id *id, uint64_t topic_seq, uint8_t *out);
size_t ldi_rec_notable_key(uint8_t kind, const ld_id *id, uint64_t seq, uint8_t *out);
size_t ldi_rec_event_key(uint64_t seq, uint8_t *out);
size_t ldi_rec_relay_key(uint32_t source_shard, uint8_t *out);

/* Encoders: write the value into buf (LDI_REC_VAL_BYTES_MAX bytes) and return its length. */
size_t ldi_rec_meta_encode(const ldi_rec_meta *meta, uint8_t *buf);
size_t ldi_rec_drop_encode(const ldi_drop *drop, uint8_t *buf);
size_t ldi_rec_res_encode(const ldi_rec_res *rec, uint8_t *buf);
size_t ldi_rec_order_encode(const ld_order_view *order, uint8_t *buf);
size_t ldi_rec_key_encode(const ldi_idem *key, uint8_t *buf);
size_t ldi_rec_user_encode(const ldi_user *user, uint8_t *buf);
size_t ldi_rec_creator_encode(const ldi_creator *creator, uint8_t *buf);
size_t ldi_rec_product_encode(const ldi_product *product, uint8_t *buf);
size_t ldi_rec_topic_encode(const ldi_topic *topic, uint8_t *buf);
size_t ldi_rec_event_encode(const ld_event_view *ev, uint8_t *buf);
/* One u64 after the version byte: 'F' (FOLLOWED seq), 'T' (event seq), 'Y' (relay cursor). */
size_t ldi_rec_u64_encode(uint64_t v, uint8_t *buf);
/* 'G': the FOLLOWED seq and the creator's handle. */
size_t ldi_rec_fol_encode(uint64_t seq, const char *creator_handle, uint8_t *buf);
/* 'B', 'H', 'Q': the version byte only. */
size_t ldi_rec_marker_encode(uint8_t *buf);

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
bool ldi_rec_user_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                         ldi_user *out);
bool ldi_rec_creator_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                            ldi_creator *out);
bool ldi_rec_product_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                            ldi_product *out);
/* Fills kind, id, count and last_notable (floor and dirty are memory's business). */
bool ldi_rec_topic_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                          ldi_topic *out);
bool ldi_rec_event_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                          ld_event_view *out);
bool ldi_rec_u64_decode(const uint8_t *val, size_t len, uint64_t *out);
/* 'F' key + value -> edge. */
bool ldi_rec_edge_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                         ldi_edge *out);
/* 'G' key + value -> following entry (links unset) and the handle (LD_HANDLE_BYTES_MAX + 1). */
bool ldi_rec_fol_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                        ldi_fol *out, char *handle_out);
bool ldi_rec_relay_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                          ldi_relay *out);
bool ldi_rec_marker_decode(const uint8_t *val, size_t len);
/* The events' topic ids by kind (creator, drop, user) for an event type: *ids_out[k] is NULL when
 * the type is not on topic kind k + 1. */
void ldi_event_topic_ids(const ld_event_view *ev, const ld_id *ids_out[3]);
/* True when an event of `type` is feed-worthy on topic kind `kind`. */
bool ldi_event_notable(uint8_t type, uint8_t kind);

#endif /* LD_SHARD_RECORD_H */
