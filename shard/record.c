/*
 * record.c -- encoding and checked decoding of the state machine's records (see record.h).
 */
#include "record.h"

#include <endian.h>
#include <string.h>

#include "shard_int.h"

/* ---- writer ------------------------------------------------------------------------------ */

typedef struct wr {
    uint8_t *p;
    size_t len;
} wr;

static inline uint8_t *
w_room(wr *w, size_t n)
{
    LD_ASSERT(w->len + n <= LDI_REC_VAL_BYTES_MAX);
    uint8_t *p = w->p + w->len;
    w->len += n;
    return p;
}

static inline void
w_bytes(wr *w, const void *b, size_t n)
{
    uint8_t *p = w_room(w, n);
    if (n > 0)
        memcpy(p, b, n);
}

static inline void
w_u8(wr *w, uint8_t v)
{
    *w_room(w, 1) = v;
}

static inline void
w_u64(wr *w, uint64_t v)
{
    uint64_t le = htole64(v);
    memcpy(w_room(w, 8), &le, 8);
}

static inline void
w_i64(wr *w, int64_t v)
{
    w_u64(w, (uint64_t)v);
}

static inline void
w_u16(wr *w, uint16_t v)
{
    uint8_t *p = w_room(w, 2);
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void
w_id(wr *w, const ld_id *id)
{
    memcpy(w_room(w, LD_ID_BYTES), id->bytes, LD_ID_BYTES);
}

static void
w_str(wr *w, const char *s)
{
    size_t n = strlen(s);
    LD_ASSERT(n <= 255);
    w_u8(w, (uint8_t)n);
    w_bytes(w, s, n);
}

/* ---- reader ------------------------------------------------------------------------------ */

typedef struct rd {
    const uint8_t *p;
    size_t left;
    bool ok;
} rd;

static const uint8_t *
r_take(rd *r, size_t n)
{
    if (!r->ok || r->left < n) {
        r->ok = false;
        return NULL;
    }
    const uint8_t *b = r->p;
    r->p += n;
    r->left -= n;
    return b;
}

static uint8_t
r_u8(rd *r)
{
    const uint8_t *b = r_take(r, 1);
    return b ? b[0] : 0;
}

static uint16_t
r_u16(rd *r)
{
    const uint8_t *b = r_take(r, 2);
    return b ? (uint16_t)(b[0] | b[1] << 8) : 0;
}

static uint64_t
r_u64(rd *r)
{
    const uint8_t *b = r_take(r, 8);
    uint64_t le = 0;
    if (b != NULL)
        memcpy(&le, b, 8);
    return le64toh(le);
}

static int64_t
r_i64(rd *r)
{
    return (int64_t)r_u64(r);
}

/* Reads a nonzero id. */
static void
r_id(rd *r, ld_id *out)
{
    const uint8_t *b = r_take(r, LD_ID_BYTES);
    if (b == NULL)
        return;
    memcpy(out->bytes, b, LD_ID_BYTES);
    if (ld_id_is_zero(out))
        r->ok = false;
}

/* Reads an id that may be zero. */
static void
r_id_or_zero(rd *r, ld_id *out)
{
    const uint8_t *b = r_take(r, LD_ID_BYTES);
    if (b != NULL)
        memcpy(out->bytes, b, LD_ID_BYTES);
}

/* Reads a string of min..max bytes of UTF-8 into out[max + 1]. */
static void
r_str(rd *r, size_t min, size_t max, char *out)
{
    size_t n = r_u8(r);
    const uint8_t *b = r_take(r, n);
    if (b == NULL || n < min || n > max || !ldi_utf8_valid((const char *)b, n)) {
        r->ok = false;
        out[0] = '\0';
        return;
    }
    memcpy(out, b, n);
    out[n] = '\0';
}

static void
r_currency(rd *r, char out[LD_CURRENCY_BYTES + 1])
{
    const uint8_t *b = r_take(r, LD_CURRENCY_BYTES);
    out[0] = '\0';
    if (b == NULL)
        return;
    for (unsigned i = 0; i < LD_CURRENCY_BYTES; i++) {
        if (b[i] < 'A' || b[i] > 'Z') {
            r->ok = false;
            return;
        }
        out[i] = (char)b[i];
    }
    out[LD_CURRENCY_BYTES] = '\0';
}

static void
r_check(rd *r, bool cond)
{
    if (!cond)
        r->ok = false;
}

static bool
r_time_ok(int64_t t)
{
    return t >= LD_TIME_MS_MIN && t <= LD_TIME_MS_MAX;
}

static bool
r_done(rd *r)
{
    return r->ok && r->left == 0;
}

/* ---- keys -------------------------------------------------------------------------------- */

size_t
ldi_rec_id_key(uint8_t type, const ld_id *id, uint8_t *out)
{
    out[0] = type;
    memcpy(out + 1, id->bytes, LD_ID_BYTES);
    return 1 + LD_ID_BYTES;
}

size_t
ldi_rec_key_key(const ldi_key_id *id, uint8_t *out)
{
    LD_ASSERT(id->len >= 1 && id->len <= LD_IDEMPOTENCY_KEY_BYTES_MAX);
    out[0] = LDI_REC_KEY;
    memcpy(out + 1, id->drop_id.bytes, LD_ID_BYTES);
    memcpy(out + 1 + LD_ID_BYTES, id->user_id.bytes, LD_ID_BYTES);
    memcpy(out + 1 + 2 * LD_ID_BYTES, id->bytes, id->len);
    return 1 + 2 * LD_ID_BYTES + id->len;
}

/* Checks an 'X' id key and returns its id. */
static bool
id_key_decode(uint8_t type, const uint8_t *key, size_t key_len, ld_id *out)
{
    if (key_len != 1 + LD_ID_BYTES || key[0] != type)
        return false;
    memcpy(out->bytes, key + 1, LD_ID_BYTES);
    return !ld_id_is_zero(out);
}

/* ---- meta -------------------------------------------------------------------------------- */

size_t
ldi_rec_meta_encode(const ldi_rec_meta *meta, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_u64(&w, meta->applied_op);
    w_i64(&w, meta->last_ts_ms);
    w_u64(&w, meta->next_seq);
    return w.len;
}

bool
ldi_rec_meta_decode(const uint8_t *val, size_t len, ldi_rec_meta *out)
{
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    out->applied_op = r_u64(&r);
    out->last_ts_ms = r_i64(&r);
    out->next_seq = r_u64(&r);
    r_check(&r, r_time_ok(out->last_ts_ms));
    return r_done(&r);
}

/* ---- drop -------------------------------------------------------------------------------- */

size_t
ldi_rec_drop_encode(const ldi_drop *drop, uint8_t *buf)
{
    const ld_op_create_drop *s = &drop->spec;
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_id(&w, &s->id);
    w_id(&w, &s->product.creator_id);
    w_str(&w, s->product.title);
    w_i64(&w, s->product.price_minor);
    w_bytes(&w, s->product.currency, LD_CURRENCY_BYTES);
    w_u8(&w, (uint8_t)s->product.tags_count);
    for (uint32_t i = 0; i < s->product.tags_count; i++)
        w_str(&w, s->product.tags[i]);
    w_i64(&w, s->starts_at_ms);
    w_i64(&w, s->ends_at_ms);
    w_i64(&w, s->initial_stock);
    w_i64(&w, s->low_stock_threshold);
    w_i64(&w, s->max_per_user);
    w_i64(&w, s->reservation_ttl_ms);
    w_i64(&w, drop->created_at_ms);
    return w.len;
}

static void
r_product(rd *r, ld_product *p)
{
    r_id(r, &p->creator_id);
    r_str(r, 1, LD_TITLE_BYTES_MAX, p->title);
    p->price_minor = r_i64(r);
    r_check(r, p->price_minor >= 0 && p->price_minor <= LD_PRICE_MINOR_MAX);
    r_currency(r, p->currency);
    p->tags_count = r_u8(r);
    r_check(r, p->tags_count <= LD_TAGS_MAX);
    for (uint32_t i = 0; r->ok && i < p->tags_count; i++)
        r_str(r, 1, LD_TAG_BYTES_MAX, p->tags[i]);
}

bool
ldi_rec_drop_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                    ldi_drop *out)
{
    memset(out, 0, sizeof *out);
    ld_id key_id;
    if (!id_key_decode(LDI_REC_DROP, key, key_len, &key_id))
        return false;
    ld_op_create_drop *s = &out->spec;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    r_id(&r, &s->id);
    r_product(&r, &s->product);
    s->starts_at_ms = r_i64(&r);
    s->ends_at_ms = r_i64(&r);
    s->initial_stock = r_i64(&r);
    s->low_stock_threshold = r_i64(&r);
    s->max_per_user = r_i64(&r);
    s->reservation_ttl_ms = r_i64(&r);
    out->created_at_ms = r_i64(&r);
    r_check(&r, ld_id_eq(&key_id, &s->id));
    r_check(&r, r_time_ok(s->starts_at_ms) && r_time_ok(s->ends_at_ms));
    r_check(&r, s->ends_at_ms > s->starts_at_ms && r_time_ok(out->created_at_ms));
    r_check(&r, s->initial_stock >= 1 && s->initial_stock <= LD_STOCK_MAX);
    r_check(&r, s->low_stock_threshold >= 0 && s->low_stock_threshold <= s->initial_stock);
    r_check(&r, s->max_per_user >= 0 && s->max_per_user <= LD_MAX_PER_USER_MAX);
    r_check(&r, s->reservation_ttl_ms >= LD_RESERVATION_TTL_MS_MIN &&
                    s->reservation_ttl_ms <= LD_RESERVATION_TTL_MS_MAX);
    out->stock.available = s->initial_stock;
    return r_done(&r);
}

/* ---- reservation and order views ---------------------------------------------------------- */

static void
w_resv(wr *w, const ld_reservation_view *v)
{
    w_id(w, &v->id);
    w_id(w, &v->drop_id);
    w_id(w, &v->user_id);
    w_i64(w, v->qty);
    w_i64(w, v->expires_at_ms);
    w_u8(w, (uint8_t)v->state);
    w_id(w, &v->order_id);
    w_i64(w, v->created_at_ms);
}

static void
r_resv(rd *r, ld_reservation_view *v)
{
    r_id(r, &v->id);
    r_id(r, &v->drop_id);
    r_id(r, &v->user_id);
    v->qty = r_i64(r);
    v->expires_at_ms = r_i64(r);
    uint8_t state = r_u8(r);
    r_id_or_zero(r, &v->order_id);
    v->created_at_ms = r_i64(r);
    r_check(r, state >= LD_RES_ACTIVE && state <= LD_RES_EXPIRED);
    v->state = (ld_reservation_state)state;
    r_check(r, v->qty >= 1 && v->qty <= LD_QTY_MAX);
    /* expires_at may pass LD_TIME_MS_MAX by up to one TTL (a reservation near the end of time). */
    r_check(r, r_time_ok(v->created_at_ms) && v->expires_at_ms > v->created_at_ms);
    r_check(r, v->expires_at_ms - v->created_at_ms <= LD_RESERVATION_TTL_MS_MAX);
    /* The order id is set exactly when the reservation is committed. */
    r_check(r, (v->state == LD_RES_COMMITTED) == !ld_id_is_zero(&v->order_id));
}

static void
w_ordv(wr *w, const ld_order_view *o)
{
    w_id(w, &o->id);
    w_id(w, &o->drop_id);
    w_id(w, &o->user_id);
    w_id(w, &o->reservation_id);
    w_i64(w, o->qty);
    w_i64(w, o->total_minor);
    w_bytes(w, o->currency, LD_CURRENCY_BYTES);
    w_u8(w, (uint8_t)o->status);
    w_str(w, o->payment_ref);
    w_i64(w, o->created_at_ms);
}

static void
r_ordv(rd *r, ld_order_view *o)
{
    r_id(r, &o->id);
    r_id(r, &o->drop_id);
    r_id(r, &o->user_id);
    r_id(r, &o->reservation_id);
    o->qty = r_i64(r);
    o->total_minor = r_i64(r);
    r_currency(r, o->currency);
    uint8_t status = r_u8(r);
    r_str(r, 0, LD_PAYMENT_REF_BYTES_MAX, o->payment_ref);
    o->created_at_ms = r_i64(r);
    r_check(r, status == LD_ORDER_PAID || status == LD_ORDER_FAILED);
    o->status = (ld_order_status)status;
    r_check(r, o->qty >= 1 && o->qty <= LD_QTY_MAX);
    r_check(r, o->total_minor >= 0 && o->total_minor <= LD_QTY_MAX * LD_PRICE_MINOR_MAX);
    r_check(r, r_time_ok(o->created_at_ms));
}

/* ---- reservation ------------------------------------------------------------------------- */

size_t
ldi_rec_res_encode(const ldi_rec_res *rec, uint8_t *buf)
{
    const ldi_res *res = &rec->res;
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_resv(&w, &res->v);
    w_i64(&w, res->closed_at_ms);
    w_u64(&w, res->seq);
    w_u8(&w, res->origin);
    w_u8(&w, rec->awaiting_payment ? 1 : 0);
    if (rec->awaiting_payment) {
        w_u8(&w, rec->key.len);
        w_bytes(&w, rec->key.bytes, rec->key.len);
        w_str(&w, rec->payment_method);
    }
    return w.len;
}

static void
r_res_tail(rd *r, ldi_rec_res *out)
{
    ldi_res *res = &out->res;
    uint8_t awaiting = r_u8(r);
    r_check(r, awaiting <= 1);
    out->awaiting_payment = awaiting == 1;
    if (!out->awaiting_payment)
        return;
    r_check(r, res->origin == LDI_ORIGIN_PLACE_ORDER && res->v.state == LD_RES_ACTIVE);
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    r_str(r, 1, LD_IDEMPOTENCY_KEY_BYTES_MAX, key);
    out->key.drop_id = res->v.drop_id;
    out->key.user_id = res->v.user_id;
    out->key.len = (uint8_t)strlen(key);
    memcpy(out->key.bytes, key, out->key.len);
    r_str(r, 1, LD_PAYMENT_METHOD_BYTES_MAX, out->payment_method);
}

bool
ldi_rec_res_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                   ldi_rec_res *out)
{
    memset(out, 0, sizeof *out);
    ld_id key_id;
    if (!id_key_decode(LDI_REC_RES, key, key_len, &key_id))
        return false;
    ldi_res *res = &out->res;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    r_resv(&r, &res->v);
    res->closed_at_ms = r_i64(&r);
    res->seq = r_u64(&r);
    res->origin = r_u8(&r);
    r_check(&r, res->origin == LDI_ORIGIN_RESERVE || res->origin == LDI_ORIGIN_PLACE_ORDER);
    r_check(&r, ld_id_eq(&key_id, &res->v.id));
    if (res->v.state == LD_RES_ACTIVE)
        r_check(&r, res->closed_at_ms == 0 && res->seq == 0);
    else
        r_check(&r, res->seq != 0 && r_time_ok(res->closed_at_ms) &&
                        res->closed_at_ms >= res->v.created_at_ms);
    r_res_tail(&r, out);
    return r_done(&r);
}

/* ---- order ------------------------------------------------------------------------------- */

size_t
ldi_rec_order_encode(const ld_order_view *order, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_ordv(&w, order);
    return w.len;
}

bool
ldi_rec_order_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                     ld_order_view *out)
{
    memset(out, 0, sizeof *out);
    ld_id key_id;
    if (!id_key_decode(LDI_REC_ORDER, key, key_len, &key_id))
        return false;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    r_ordv(&r, out);
    r_check(&r, ld_id_eq(&key_id, &out->id));
    return r_done(&r);
}

/* ---- idempotency key --------------------------------------------------------------------- */

size_t
ldi_rec_key_encode(const ldi_idem *key, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_u8(&w, key->status);
    w_bytes(&w, key->req_hash, sizeof key->req_hash);
    w_i64(&w, key->created_at_ms);
    w_u64(&w, key->seq);
    w_u16(&w, key->code);
    w_str(&w, key->message ? key->message : "");
    w_u8(&w, key->kind);
    if (key->kind == LD_RESULT_RESERVATION)
        w_resv(&w, &key->body.res);
    else if (key->kind == LD_RESULT_ORDER)
        w_ordv(&w, &key->body.order);
    return w.len;
}

static bool
code_known(uint16_t code)
{
    return strcmp(ld_err_name((ld_err)code), "UNKNOWN") != 0;
}

bool
ldi_rec_key_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                   ldi_idem *out, char *msg_out)
{
    memset(out, 0, sizeof *out);
    msg_out[0] = '\0';
    size_t fixed = 1 + 2 * LD_ID_BYTES;
    if (key_len <= fixed || key_len > LDI_REC_KEY_BYTES_MAX || key[0] != LDI_REC_KEY)
        return false;
    memcpy(out->id.drop_id.bytes, key + 1, LD_ID_BYTES);
    memcpy(out->id.user_id.bytes, key + 1 + LD_ID_BYTES, LD_ID_BYTES);
    out->id.len = (uint8_t)(key_len - fixed);
    memcpy(out->id.bytes, key + fixed, out->id.len);
    if (ld_id_is_zero(&out->id.drop_id) || ld_id_is_zero(&out->id.user_id) ||
        !ldi_utf8_valid(out->id.bytes, out->id.len))
        return false;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    out->status = r_u8(&r);
    const uint8_t *h = r_take(&r, sizeof out->req_hash);
    if (h != NULL)
        memcpy(out->req_hash, h, sizeof out->req_hash);
    out->created_at_ms = r_i64(&r);
    out->seq = r_u64(&r);
    out->code = r_u16(&r);
    r_str(&r, 0, LD_MESSAGE_BYTES_MAX, msg_out);
    out->kind = r_u8(&r);
    if (out->kind == LD_RESULT_RESERVATION)
        r_resv(&r, &out->body.res);
    else if (out->kind == LD_RESULT_ORDER)
        r_ordv(&r, &out->body.order);
    else
        r_check(&r, out->kind == LD_RESULT_NONE);
    r_check(&r, out->status == LDI_KEY_IN_PROGRESS || out->status == LDI_KEY_DONE);
    r_check(&r, code_known(out->code) && out->seq != 0 && r_time_ok(out->created_at_ms));
    return r_done(&r);
}
