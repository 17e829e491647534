/*
 * record.c -- encoding and checked decoding of the state machine's records (see record.h).
 */
#include "record.h"

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
    ldi_le64_put(w_room(w, 8), v);
}

static inline void
w_i64(wr *w, int64_t v)
{
    w_u64(w, (uint64_t)v);
}

static inline void
w_u16(wr *w, uint16_t v)
{
    ldi_le16_put(w_room(w, 2), v);
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
    return b ? ldi_le16_get(b) : 0;
}

static uint64_t
r_u64(rd *r)
{
    const uint8_t *b = r_take(r, 8);
    return b ? ldi_le64_get(b) : 0;
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
    w_u8(&w, LDI_REC_META_VERSION);
    w_u64(&w, meta->applied_op);
    w_i64(&w, meta->last_ts_ms);
    w_u64(&w, meta->next_seq);
    w_u64(&w, meta->last_event_seq);
    return w.len;
}

bool
ldi_rec_meta_decode(const uint8_t *val, size_t len, ldi_rec_meta *out)
{
    memset(out, 0, sizeof *out);
    rd r = {.p = val, .left = len, .ok = true};
    uint8_t version = r_u8(&r);
    r_check(&r, version == 1 || version == LDI_REC_META_VERSION);
    out->applied_op = r_u64(&r);
    out->last_ts_ms = r_i64(&r);
    out->next_seq = r_u64(&r);
    if (version >= 2)
        out->last_event_seq = r_u64(&r);
    r_check(&r, r_time_ok(out->last_ts_ms));
    return r_done(&r);
}

/* ---- drop -------------------------------------------------------------------------------- */

size_t
ldi_rec_drop_encode(const ldi_drop *drop, uint8_t *buf)
{
    const ld_op_create_drop *s = &drop->spec;
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_DROP_VERSION);
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
    w_id(&w, &s->product_id);
    w_u8(&w, drop->announced);
    w_u8(&w, drop->low_stock_sent ? 1 : 0);
    w_i64(&w, drop->cancelled_at_ms);
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

/* The fields version 2 added: product id, announced status, LOW_STOCK sent, cancelled_at. */
static void
r_drop_v2(rd *r, ldi_drop *out)
{
    r_id_or_zero(r, &out->spec.product_id);
    out->announced = r_u8(r);
    uint8_t low = r_u8(r);
    out->cancelled_at_ms = r_i64(r);
    r_check(r, out->announced >= LD_DROP_UPCOMING && out->announced <= LD_DROP_CANCELLED);
    r_check(r, low <= 1);
    out->low_stock_sent = low == 1;
    /* cancelled_at is 0 unless cancelled, and a cancel happens before the drop starts. */
    if (out->announced == LD_DROP_CANCELLED)
        r_check(r,
                r_time_ok(out->cancelled_at_ms) && out->cancelled_at_ms < out->spec.starts_at_ms);
    else
        r_check(r, out->cancelled_at_ms == 0);
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
    uint8_t version = r_u8(&r);
    r_check(&r, version == 1 || version == LDI_REC_DROP_VERSION);
    r_id(&r, &s->id);
    r_product(&r, &s->product);
    s->starts_at_ms = r_i64(&r);
    s->ends_at_ms = r_i64(&r);
    s->initial_stock = r_i64(&r);
    s->low_stock_threshold = r_i64(&r);
    s->max_per_user = r_i64(&r);
    s->reservation_ttl_ms = r_i64(&r);
    out->created_at_ms = r_i64(&r);
    out->announced = LD_DROP_UPCOMING; /* version 1: the first TICK announces what is due */
    if (version >= 2)
        r_drop_v2(&r, out);
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

/* ---- keys of the social, catalog and event records ------------------------------------------ */

size_t
ldi_rec_list_key(uint8_t type, const void *mid, size_t mid_len, uint64_t sort_key, const ld_id *id,
                 uint8_t *out)
{
    LD_ASSERT(mid_len <= LD_ID_BYTES);
    out[0] = type;
    memcpy(out + 1, mid, mid_len);
    ldi_be64_put(out + 1 + mid_len, sort_key);
    memcpy(out + 1 + mid_len + 8, id->bytes, LD_ID_BYTES);
    return 1 + mid_len + 8 + LD_ID_BYTES;
}

bool
ldi_rec_list_key_split(const uint8_t *key, size_t key_len, uint8_t type, size_t mid_len,
                       uint64_t *sort_key_out, ld_id *id_out)
{
    if (key_len != 1 + mid_len + 8 + LD_ID_BYTES || key[0] != type)
        return false;
    *sort_key_out = ldi_be64_get(key + 1 + mid_len);
    memcpy(id_out->bytes, key + 1 + mid_len + 8, LD_ID_BYTES);
    return !ld_id_is_zero(id_out);
}

static size_t
kind_id_key(uint8_t type, uint8_t kind, const ld_id *id, uint8_t *out)
{
    out[0] = type;
    out[1] = kind;
    memcpy(out + 2, id->bytes, LD_ID_BYTES);
    return 2 + LD_ID_BYTES;
}

size_t
ldi_rec_topic_key(uint8_t kind, const ld_id *id, uint8_t *out)
{
    return kind_id_key(LDI_REC_TOPIC, kind, id, out);
}

size_t
ldi_rec_tindex_key(uint8_t kind, const ld_id *id, uint64_t topic_seq, uint8_t *out)
{
    size_t n = kind_id_key(LDI_REC_TINDEX, kind, id, out);
    ldi_be64_put(out + n, topic_seq);
    return n + 8;
}

size_t
ldi_rec_notable_key(uint8_t kind, const ld_id *id, uint64_t seq, uint8_t *out)
{
    size_t n = kind_id_key(LDI_REC_NOTABLE, kind, id, out);
    ldi_be64_put(out + n, seq);
    return n + 8;
}

size_t
ldi_rec_event_key(uint64_t seq, uint8_t *out)
{
    out[0] = LDI_REC_EVENT;
    ldi_be64_put(out + 1, seq);
    return 9;
}

size_t
ldi_rec_relay_key(uint32_t source_shard, uint8_t *out)
{
    out[0] = LDI_REC_RELAY;
    ldi_be32_put(out + 1, source_shard);
    return 5;
}

/* ---- small values ------------------------------------------------------------------------ */

size_t
ldi_rec_u64_encode(uint64_t v, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_u64(&w, v);
    return w.len;
}

bool
ldi_rec_u64_decode(const uint8_t *val, size_t len, uint64_t *out)
{
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    *out = r_u64(&r);
    return r_done(&r);
}

size_t
ldi_rec_marker_encode(uint8_t *buf)
{
    buf[0] = LDI_REC_VERSION;
    return 1;
}

bool
ldi_rec_marker_decode(const uint8_t *val, size_t len)
{
    return len == 1 && val[0] == LDI_REC_VERSION;
}

/* ---- user, creator, product -------------------------------------------------------------- */

size_t
ldi_rec_user_encode(const ldi_user *user, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_id(&w, &user->id);
    w_str(&w, user->name);
    w_str(&w, user->email);
    w_i64(&w, user->created_at_ms);
    return w.len;
}

bool
ldi_rec_user_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                    ldi_user *out)
{
    memset(out, 0, sizeof *out);
    ld_id key_id;
    if (!id_key_decode(LDI_REC_USER, key, key_len, &key_id))
        return false;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    r_id(&r, &out->id);
    r_str(&r, 1, LD_NAME_BYTES_MAX, out->name);
    r_str(&r, 0, LD_EMAIL_BYTES_MAX, out->email);
    out->created_at_ms = r_i64(&r);
    r_check(&r, ld_id_eq(&key_id, &out->id) && r_time_ok(out->created_at_ms));
    return r_done(&r);
}

static void
w_attrs(wr *w, uint32_t n, const ld_attr *attrs)
{
    w_u8(w, (uint8_t)n);
    for (uint32_t i = 0; i < n; i++) {
        w_str(w, attrs[i].key);
        w_str(w, attrs[i].value);
    }
}

static void
r_attrs(rd *r, uint32_t *n_out, ld_attr *attrs)
{
    uint32_t n = r_u8(r);
    r_check(r, n <= LD_ATTRS_MAX);
    for (uint32_t i = 0; r->ok && i < n; i++) {
        r_str(r, 1, LD_ATTR_KEY_BYTES_MAX, attrs[i].key);
        r_str(r, 0, LD_ATTR_VALUE_BYTES_MAX, attrs[i].value);
    }
    *n_out = r->ok ? n : 0;
}

size_t
ldi_rec_creator_encode(const ldi_creator *creator, uint8_t *buf)
{
    const ld_op_create_creator *c = &creator->spec;
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_id(&w, &c->id);
    w_str(&w, c->handle);
    w_str(&w, c->name);
    w_attrs(&w, c->profile_count, c->profile);
    w_i64(&w, creator->created_at_ms);
    return w.len;
}

bool
ldi_rec_creator_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                       ldi_creator *out)
{
    memset(out, 0, sizeof *out);
    ld_id key_id;
    if (!id_key_decode(LDI_REC_CREATOR, key, key_len, &key_id))
        return false;
    ld_op_create_creator *c = &out->spec;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    r_id(&r, &c->id);
    r_str(&r, LD_HANDLE_BYTES_MIN, LD_HANDLE_BYTES_MAX, c->handle);
    r_str(&r, 0, LD_NAME_BYTES_MAX, c->name);
    r_attrs(&r, &c->profile_count, c->profile);
    out->created_at_ms = r_i64(&r);
    r_check(&r, ld_id_eq(&key_id, &c->id) && r_time_ok(out->created_at_ms));
    return r_done(&r);
}

size_t
ldi_rec_product_encode(const ldi_product *product, uint8_t *buf)
{
    const ld_op_product *p = &product->spec;
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_id(&w, &p->id);
    w_id(&w, &p->creator_id);
    w_str(&w, p->title);
    w_i64(&w, p->price_minor);
    w_bytes(&w, p->currency, LD_CURRENCY_BYTES);
    w_u8(&w, (uint8_t)p->tags_count);
    for (uint32_t i = 0; i < p->tags_count; i++)
        w_str(&w, p->tags[i]);
    w_attrs(&w, p->attrs_count, p->attrs);
    w_i64(&w, product->created_at_ms);
    w_i64(&w, product->updated_at_ms);
    return w.len;
}

bool
ldi_rec_product_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                       ldi_product *out)
{
    memset(out, 0, sizeof *out);
    ld_id key_id;
    if (!id_key_decode(LDI_REC_PRODUCT, key, key_len, &key_id))
        return false;
    ld_op_product *p = &out->spec;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    r_id(&r, &p->id);
    r_id(&r, &p->creator_id);
    r_str(&r, 1, LD_TITLE_BYTES_MAX, p->title);
    p->price_minor = r_i64(&r);
    r_check(&r, p->price_minor >= 0 && p->price_minor <= LD_PRICE_MINOR_MAX);
    r_currency(&r, p->currency);
    p->tags_count = r_u8(&r);
    r_check(&r, p->tags_count <= LD_TAGS_MAX);
    for (uint32_t i = 0; r.ok && i < p->tags_count; i++)
        r_str(&r, 1, LD_TAG_BYTES_MAX, p->tags[i]);
    r_attrs(&r, &p->attrs_count, p->attrs);
    out->created_at_ms = r_i64(&r);
    out->updated_at_ms = r_i64(&r);
    r_check(&r, ld_id_eq(&key_id, &p->id));
    r_check(&r, r_time_ok(out->created_at_ms) && r_time_ok(out->updated_at_ms) &&
                    out->updated_at_ms >= out->created_at_ms);
    return r_done(&r);
}

/* ---- follows ------------------------------------------------------------------------------ */

bool
ldi_rec_edge_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                    ldi_edge *out)
{
    memset(out, 0, sizeof *out);
    uint64_t sort_key;
    if (!ldi_rec_list_key_split(key, key_len, LDI_REC_FOLLOWER, LD_ID_BYTES, &sort_key,
                                &out->user_id))
        return false;
    memcpy(out->creator_id.bytes, key + 1, LD_ID_BYTES);
    out->since_ms = (int64_t)~sort_key;
    return !ld_id_is_zero(&out->creator_id) && r_time_ok(out->since_ms) &&
           ldi_rec_u64_decode(val, len, &out->seq) && out->seq != 0;
}

size_t
ldi_rec_fol_encode(uint64_t seq, const char *creator_handle, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_u64(&w, seq);
    w_str(&w, creator_handle);
    return w.len;
}

bool
ldi_rec_fol_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len, ldi_fol *out,
                   char *handle_out)
{
    memset(out, 0, sizeof *out);
    uint64_t sort_key;
    if (!ldi_rec_list_key_split(key, key_len, LDI_REC_FOLLOWING, LD_ID_BYTES, &sort_key,
                                &out->creator_id))
        return false;
    memcpy(out->user_id.bytes, key + 1, LD_ID_BYTES);
    out->at_ms = (int64_t)~sort_key;
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    out->seq = r_u64(&r);
    r_str(&r, 0, LD_HANDLE_BYTES_MAX, handle_out);
    r_check(&r, !ld_id_is_zero(&out->user_id) && r_time_ok(out->at_ms) && out->seq != 0);
    return r_done(&r);
}

bool
ldi_rec_relay_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                     ldi_relay *out)
{
    if (key_len != 5 || key[0] != LDI_REC_RELAY)
        return false;
    out->source_shard = ldi_be32_get(key + 1);
    return ldi_rec_u64_decode(val, len, &out->seq);
}

/* ---- topics and events --------------------------------------------------------------------- */

size_t
ldi_rec_topic_encode(const ldi_topic *topic, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_u64(&w, topic->count);
    w_u64(&w, topic->last_notable);
    return w.len;
}

bool
ldi_rec_topic_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                     ldi_topic *out)
{
    memset(out, 0, sizeof *out);
    if (key_len != 2 + LD_ID_BYTES || key[0] != LDI_REC_TOPIC)
        return false;
    out->kind = key[1];
    memcpy(out->id.bytes, key + 2, LD_ID_BYTES);
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    out->count = r_u64(&r);
    out->last_notable = r_u64(&r);
    r_check(&r, out->kind >= LD_TOPIC_CREATOR && out->kind <= LD_TOPIC_USER);
    r_check(&r, !ld_id_is_zero(&out->id));
    return r_done(&r);
}

void
ldi_event_topic_ids(const ld_event_view *ev, const ld_id *ids_out[3])
{
    ids_out[0] = ids_out[1] = ids_out[2] = NULL;
    switch (ev->type) {
    case LD_EVENT_DROP_SCHEDULED:
    case LD_EVENT_DROP_LIVE:
    case LD_EVENT_LOW_STOCK:
    case LD_EVENT_SOLD_OUT:
    case LD_EVENT_DROP_ENDED:
    case LD_EVENT_DROP_CANCELLED:
        ids_out[LD_TOPIC_CREATOR - 1] = &ev->creator_id;
        ids_out[LD_TOPIC_DROP - 1] = &ev->drop_id;
        return;
    case LD_EVENT_STOCK_CHANGED:
        ids_out[LD_TOPIC_DROP - 1] = &ev->drop_id;
        return;
    case LD_EVENT_RESERVATION_EXPIRED:
    case LD_EVENT_ORDER_PAID:
    case LD_EVENT_ORDER_FAILED:
        ids_out[LD_TOPIC_DROP - 1] = &ev->drop_id;
        ids_out[LD_TOPIC_USER - 1] = &ev->user_id;
        return;
    case LD_EVENT_FOLLOWED:
    case LD_EVENT_UNFOLLOWED:
        ids_out[LD_TOPIC_CREATOR - 1] = &ev->creator_id;
        ids_out[LD_TOPIC_USER - 1] = &ev->user_id;
        return;
    }
}

bool
ldi_event_notable(uint8_t type, uint8_t kind)
{
    if (kind == LD_TOPIC_CREATOR)
        return type == LD_EVENT_DROP_LIVE || type == LD_EVENT_LOW_STOCK ||
               type == LD_EVENT_SOLD_OUT;
    if (kind == LD_TOPIC_USER)
        return type == LD_EVENT_ORDER_PAID || type == LD_EVENT_ORDER_FAILED;
    return false;
}

size_t
ldi_rec_event_encode(const ld_event_view *ev, uint8_t *buf)
{
    wr w = {.p = buf};
    w_u8(&w, LDI_REC_VERSION);
    w_u8(&w, (uint8_t)ev->type);
    w_i64(&w, ev->ts_ms);
    w_id(&w, &ev->creator_id);
    w_id(&w, &ev->drop_id);
    w_id(&w, &ev->user_id);
    w_id(&w, &ev->order_id);
    w_id(&w, &ev->reservation_id);
    w_i64(&w, ev->stock.available);
    w_i64(&w, ev->stock.reserved);
    w_i64(&w, ev->stock.sold);
    w_i64(&w, ev->qty);
    w_str(&w, ev->title);
    for (unsigned k = LD_TOPIC_CREATOR; k <= LD_TOPIC_USER; k++)
        w_u64(&w, ev->topic_seq[k]);
    return w.len;
}

bool
ldi_rec_event_decode(const uint8_t *key, size_t key_len, const uint8_t *val, size_t len,
                     ld_event_view *out)
{
    memset(out, 0, sizeof *out);
    if (key_len != 9 || key[0] != LDI_REC_EVENT)
        return false;
    out->seq = ldi_be64_get(key + 1);
    rd r = {.p = val, .left = len, .ok = true};
    r_check(&r, r_u8(&r) == LDI_REC_VERSION);
    uint8_t type = r_u8(&r);
    out->ts_ms = r_i64(&r);
    r_id_or_zero(&r, &out->creator_id);
    r_id_or_zero(&r, &out->drop_id);
    r_id_or_zero(&r, &out->user_id);
    r_id_or_zero(&r, &out->order_id);
    r_id_or_zero(&r, &out->reservation_id);
    out->stock.available = r_i64(&r);
    out->stock.reserved = r_i64(&r);
    out->stock.sold = r_i64(&r);
    out->qty = r_i64(&r);
    r_str(&r, 0, LD_TITLE_BYTES_MAX, out->title);
    for (unsigned k = LD_TOPIC_CREATOR; k <= LD_TOPIC_USER; k++)
        out->topic_seq[k] = r_u64(&r);
    r_check(&r, type >= LD_EVENT_DROP_SCHEDULED && type <= LD_EVENT_UNFOLLOWED);
    out->type = (ld_event_type)type;
    r_check(&r, out->seq != 0 && r_time_ok(out->ts_ms));
    r_check(&r, out->stock.available >= 0 && out->stock.reserved >= 0 && out->stock.sold >= 0);
    /* An event is on a topic only when its type says so, and that topic's id is set. */
    const ld_id *ids[3];
    ldi_event_topic_ids(out, ids);
    for (unsigned k = 0; r.ok && k < 3; k++)
        r_check(&r, ids[k] == NULL ? out->topic_seq[k + 1] == 0 : !ld_id_is_zero(ids[k]));
    return r_done(&r);
}
