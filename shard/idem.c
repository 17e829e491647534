/*
 * idem.c -- idempotency keys of reserve and place_order (docs/ARCHITECTURE.md §2, P3).
 *
 * A key is scoped to (drop, user) and remembers a hash of the request that first used it, its
 * status (IN_PROGRESS while a place_order awaits its payment, then DONE) and the full result it
 * produced, refusals included, so that a retry gets the same answer byte for byte. Keys are
 * forgotten LD_IDEMPOTENCY_TTL_MS after first use: by TICK, oldest first (creation order is the
 * `seq` order, and batch times never go back), or at once when a request finds its key past the
 * TTL before a TICK got to it. Keys are never evicted early: that would break exactly-once, so a
 * full key table answers LD_ERR_CAPACITY instead.
 *
 * The request hash is XXH3_128 over a canonical little-endian encoding, never over a struct:
 *
 *   +----------+---------+----------+----------+---------+--------------+-----------------+
 *   | "ldreq1" | u8 type | drop[16] | user[16] | i64 qty | u8 len, key  | u8 len, method  |
 *   | + 2 NUL  |         |          |          |         |              | (place_order)   |
 *   +----------+---------+----------+----------+---------+--------------+-----------------+
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "record.h"
#include "sm_int.h"

void
ldi_request_hash(const ld_op *op, uint8_t out[16])
{
    LD_ASSERT(op->type == LD_OP_RESERVE || op->type == LD_OP_PLACE_ORDER);
    const ld_op_reserve *r = &op->u.reserve;
    uint8_t
        buf[8 + 1 + 32 + 8 + 1 + LD_IDEMPOTENCY_KEY_BYTES_MAX + 1 + LD_PAYMENT_METHOD_BYTES_MAX];
    size_t len = 0;
    memcpy(buf, "ldreq1\0\0", 8);
    len = 8;
    buf[len++] = (uint8_t)op->type;
    memcpy(buf + len, r->drop_id.bytes, 16);
    memcpy(buf + len + 16, r->user_id.bytes, 16);
    len += 32;
    ldi_le64_put(buf + len, (uint64_t)r->qty);
    len += 8;
    size_t key_len = strnlen(r->idempotency_key, LD_IDEMPOTENCY_KEY_BYTES_MAX);
    buf[len++] = (uint8_t)key_len;
    memcpy(buf + len, r->idempotency_key, key_len);
    len += key_len;
    size_t method_len = 0;
    if (op->type == LD_OP_PLACE_ORDER)
        method_len = strnlen(r->payment_method, LD_PAYMENT_METHOD_BYTES_MAX);
    buf[len++] = (uint8_t)method_len;
    memcpy(buf + len, r->payment_method, method_len);
    len += method_len;
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, XXH3_128bits(buf, len));
    memcpy(out, c.digest, 16);
}

void
ldi_key_id_of(const ld_op_reserve *op, ldi_key_id *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strnlen(op->idempotency_key, LD_IDEMPOTENCY_KEY_BYTES_MAX + 1);
    LD_ASSERT(len >= 1 && len <= LD_IDEMPOTENCY_KEY_BYTES_MAX); /* the codec checked it */
    out->drop_id = op->drop_id;
    out->user_id = op->user_id;
    out->len = (uint8_t)len;
    memcpy(out->bytes, op->idempotency_key, len);
}

uint32_t
ldi_key_lookup(ld_sm *sm, const ldi_key_id *id, uint64_t *hash_out)
{
    *hash_out = ldi_key_hash(id);
    uint32_t idx = ldi_table_find(&sm->key_index, *hash_out, ldi_key_eq, sm, id);
    if (idx == LDI_NIL)
        return LDI_NIL;
    const ldi_idem *k = ldi_key_at(sm, idx);
    /* Past its TTL the key is forgotten, whether or not a TICK got to it yet. A key still in
     * progress cannot be that old: its reservation expires (TTL <= 1 h) long before. */
    if (sm->now_ms - k->created_at_ms >= LD_IDEMPOTENCY_TTL_MS && k->status == LDI_KEY_DONE) {
        ldi_key_delete(sm, idx);
        return LDI_NIL;
    }
    return idx;
}

void
ldi_key_result(const ldi_idem *key, ld_result *res)
{
    LD_ASSERT(key->status == LDI_KEY_DONE);
    memset(res, 0, sizeof *res);
    res->code = (ld_err)key->code;
    if (key->message != NULL)
        memcpy(res->message, key->message, strlen(key->message) + 1);
    res->kind = (ld_result_kind)key->kind;
    if (key->kind == LD_RESULT_RESERVATION)
        res->u.reservation = key->body.res;
    else if (key->kind == LD_RESULT_ORDER)
        res->u.order = key->body.order;
}

static void
key_set_result(ldi_idem *k, const ld_result *result)
{
    LD_ASSERT(!result->needs_payment);
    LD_ASSERT(result->kind == LD_RESULT_NONE || result->kind == LD_RESULT_RESERVATION ||
              result->kind == LD_RESULT_ORDER);
    k->code = (uint16_t)result->code;
    k->kind = (uint8_t)result->kind;
    free(k->message);
    k->message = NULL;
    size_t len = strnlen(result->message, LD_MESSAGE_BYTES_MAX);
    if (len > 0) {
        k->message = malloc(len + 1);
        if (k->message == NULL)
            ldi_sm_oom(__FILE__, __LINE__);
        memcpy(k->message, result->message, len);
        k->message[len] = '\0';
    }
    memset(&k->body, 0, sizeof k->body);
    if (result->kind == LD_RESULT_RESERVATION)
        k->body.res = result->u.reservation;
    else if (result->kind == LD_RESULT_ORDER)
        k->body.order = result->u.order;
}

ld_err
ldi_key_room(ld_sm *sm)
{
    if (ldi_pool_full(&sm->keys))
        return LD_ERR_CAPACITY;
    ld_err err = ldi_table_reserve(&sm->key_index, 1);
    if (err == LD_ERR_NOMEM)
        ldi_sm_oom(__FILE__, __LINE__);
    return err;
}

void
ldi_key_fifo_append(ld_sm *sm, uint32_t key_idx)
{
    ldi_idem *k = ldi_key_at(sm, key_idx);
    k->next = LDI_NIL;
    k->prev = sm->key_tail;
    if (sm->key_tail == LDI_NIL) {
        sm->key_head = key_idx;
    } else {
        LD_ASSERT(ldi_key_at(sm, sm->key_tail)->seq < k->seq);
        ldi_key_at(sm, sm->key_tail)->next = key_idx;
    }
    sm->key_tail = key_idx;
}

static void
key_fifo_unlink(ld_sm *sm, uint32_t key_idx)
{
    ldi_idem *k = ldi_key_at(sm, key_idx);
    if (k->prev == LDI_NIL)
        sm->key_head = k->next;
    else
        ldi_key_at(sm, k->prev)->next = k->next;
    if (k->next == LDI_NIL)
        sm->key_tail = k->prev;
    else
        ldi_key_at(sm, k->next)->prev = k->prev;
    k->prev = k->next = LDI_NIL;
}

uint32_t
ldi_key_create(ld_sm *sm, const ldi_key_id *id, uint64_t key_hash, const uint8_t hash[16],
               uint8_t status, const ld_result *result)
{
    LD_ASSERT(status == LDI_KEY_IN_PROGRESS || status == LDI_KEY_DONE);
    uint32_t idx;
    ld_err err = ldi_pool_alloc(&sm->keys, &idx);
    if (err != LD_OK) /* ldi_key_room() said there was room: only memory can fail */
        ldi_sm_oom(__FILE__, __LINE__);
    ldi_idem *k = ldi_key_at(sm, idx);
    k->id = *id;
    k->status = status;
    memcpy(k->req_hash, hash, sizeof k->req_hash);
    k->created_at_ms = sm->now_ms;
    k->seq = sm->next_seq++;
    if (status == LDI_KEY_DONE)
        key_set_result(k, result);
    ldi_key_fifo_append(sm, idx);
    ldi_table_insert(&sm->key_index, key_hash, idx);
    ldi_put_key(sm, k);
    return idx;
}

void
ldi_key_finish(ld_sm *sm, uint32_t key_idx, const ld_result *result)
{
    ldi_idem *k = ldi_key_at(sm, key_idx);
    LD_ASSERT(k->status == LDI_KEY_IN_PROGRESS);
    k->status = LDI_KEY_DONE;
    key_set_result(k, result);
    ldi_put_key(sm, k);
}

void
ldi_key_delete(ld_sm *sm, uint32_t key_idx)
{
    ldi_idem *k = ldi_key_at(sm, key_idx);
    LD_ASSERT(k->status == LDI_KEY_DONE);
    ldi_del_key(sm, k);
    key_fifo_unlink(sm, key_idx);
    ldi_table_remove(&sm->key_index, ldi_key_hash(&k->id), key_idx);
    free(k->message);
    k->message = NULL;
    ldi_pool_free(&sm->keys, key_idx);
}
