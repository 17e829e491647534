/*
 * api.c -- the public calls of livedrop.h: check the arguments, build the op on the caller's
 * stack, run it through the engine (client.c), and retry LD_ERR_IN_PROGRESS within the call's
 * deadline for the keyed writes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "client_int.h"

/* Raw frames are for tests of the node's limits, so they may exceed LD_FRAME_BYTES_MAX; this
 * bound only keeps a buggy caller from allocating without limit. */
#define RAW_FRAME_BYTES_MAX (16 * (size_t)LD_FRAME_BYTES_MAX)

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        ld_err try_err_ = (expr);                                                                  \
        if (try_err_ != LD_OK)                                                                     \
            return try_err_;                                                                       \
    } while (0)

/* ---- ids ------------------------------------------------------------------------------------ */

LD_API ld_err
ld_id_random(ld_id *out)
{
    if (out == NULL)
        return LD_ERR_INVALID_ARGUMENT;
    do {
        size_t got = 0;
        while (got < sizeof out->bytes) {
            ssize_t n = getrandom(out->bytes + got, sizeof out->bytes - got, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return LD_ERR_INTERNAL;
            got += (size_t)n;
        }
    } while (ld_id_is_zero(out));
    return LD_OK;
}

LD_API void
ld_id_format(const ld_id *id, char out[33])
{
    if (out == NULL)
        return;
    if (id == NULL) {
        out[0] = '\0';
        return;
    }
    ld_id_to_hex(id, out);
}

LD_API ld_err
ld_id_parse(const char *hex, ld_id *out)
{
    if (out == NULL)
        return LD_ERR_INVALID_ARGUMENT;
    ld_id id;
    if (!ld_id_from_hex(hex, &id))
        return LD_ERR_INVALID_ID;
    *out = id;
    return LD_OK;
}

/* ---- running ops ---------------------------------------------------------------------------- */

/* Clears the outputs so that a failure leaves zeroed structs and an empty message. */
static void
outputs_clear(void *out, size_t size, ld_errmsg *msg)
{
    if (out != NULL)
        memset(out, 0, size);
    if (msg != NULL)
        msg->text[0] = '\0';
}

void
ldi_outputs_clear(ldi_out_kind kind, void *out, ld_errmsg *msg)
{
    ldi_out_clear(kind, out);
    if (msg != NULL)
        msg->text[0] = '\0';
}

ld_err
ldi_run(ld_client *c, const Ldpb__Op *op, ldi_class cls, ldi_out_kind kind, void *out,
        ld_errmsg *msg, int64_t deadline_ns)
{
    ldi_call call = {
        .op = op,
        .cls = cls,
        .out_kind = kind,
        .out = out,
        .msg = msg,
        .deadline_ns = deadline_ns,
    };
    return ldi_client_call(c, &call);
}

static void
sleep_until(int64_t wake_ns)
{
    struct timespec ts = {.tv_sec = wake_ns / 1000000000, .tv_nsec = wake_ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Runs a keyed write; while the node answers IN_PROGRESS (the same key is still being worked
 * on), waits LD_CLIENT_IN_PROGRESS_WAIT_MS and asks again, until the call's deadline. */
static ld_err
run_keyed(ld_client *c, const Ldpb__Op *op, ldi_class cls, ldi_out_kind kind, void *out,
          size_t out_size, ld_errmsg *msg)
{
    int64_t deadline = ldi_client_deadline(c);
    for (;;) {
        ld_err err = ldi_run(c, op, cls, kind, out, msg, deadline);
        if (err != LD_ERR_IN_PROGRESS)
            return err;
        int64_t wake = ldi_now_ns() + (int64_t)LD_CLIENT_IN_PROGRESS_WAIT_MS * 1000000;
        if (wake >= deadline) {
            outputs_clear(out, out_size, NULL);
            return ldi_errmsg_fail(msg, LD_ERR_TIMEOUT,
                                   "still in progress on the node when the timeout passed");
        }
        sleep_until(wake);
    }
}

/* ---- public calls --------------------------------------------------------------------------- */

LD_API ld_err
ld_drop_create(ld_client *c, const ld_drop_spec *spec, ld_drop *out, ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(ldi_check_drop_spec(spec, msg));
    bool from_catalog = !ld_id_is_zero(&spec->product_id);
    const ld_product_spec *p = &spec->product;
    char *tags[LD_TAGS_MAX];
    for (uint32_t i = 0; i < p->tags_count; i++)
        tags[i] = (char *)p->tags[i];
    Ldpb__Product product = LDPB__PRODUCT__INIT;
    product.creator_id = ldi_id_pb(&p->creator_id);
    product.title = (char *)p->title;
    product.price_minor = p->price_minor;
    product.currency = (char *)p->currency;
    product.n_tags = p->tags_count;
    product.tags = tags;
    Ldpb__CreateDrop create = LDPB__CREATE_DROP__INIT;
    create.id = ldi_id_pb(&spec->id);
    if (from_catalog)
        create.product_id =
            ldi_id_pb(&spec->product_id); /* the inline product stays off the wire */
    else
        create.product = &product;
    create.starts_at_ms = spec->starts_at_ms;
    create.ends_at_ms = spec->ends_at_ms;
    create.initial_stock = spec->initial_stock;
    create.low_stock_threshold = spec->low_stock_threshold;
    create.max_per_user = spec->max_per_user;
    create.reservation_ttl_ms = spec->reservation_ttl_ms;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(&spec->product.creator_id);
    op.body_case = LDPB__OP__BODY_CREATE_DROP;
    op.create_drop = &create;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_DROP, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_drop_get(ld_client *c, const ld_id *drop_id, ld_drop *out, ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(ldi_check_id(drop_id, "get_drop.drop_id", msg));
    Ldpb__GetDrop get = LDPB__GET_DROP__INIT;
    get.drop_id = ldi_id_pb(drop_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_DROP;
    op.get_drop = &get;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_DROP, out, msg, ldi_client_deadline(c));
}

/* The checks shared by reserve and place_order, in the codec's order. */
static ld_err
check_reserve(const char *name, const ld_id *drop_id, const ld_id *user_id, int64_t qty,
              const char *key, ld_errmsg *msg)
{
    char field[48];
    snprintf(field, sizeof field, "%s.drop_id", name);
    TRY(ldi_check_id(drop_id, field, msg));
    snprintf(field, sizeof field, "%s.user_id", name);
    TRY(ldi_check_id(user_id, field, msg));
    snprintf(field, sizeof field, "%s.qty", name);
    TRY(ldi_check_qty(qty, field, msg));
    snprintf(field, sizeof field, "%s.idempotency_key", name);
    return ldi_check_str(key, field, LD_IDEMPOTENCY_KEY_BYTES_MAX, msg);
}

LD_API ld_err
ld_reserve(ld_client *c, const ld_id *drop_id, const ld_id *user_id, int64_t qty,
           const char *idempotency_key, ld_reservation *out, ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(check_reserve("reserve", drop_id, user_id, qty, idempotency_key, msg));
    Ldpb__Reserve reserve = LDPB__RESERVE__INIT;
    reserve.drop_id = ldi_id_pb(drop_id);
    reserve.user_id = ldi_id_pb(user_id);
    reserve.qty = qty;
    reserve.idempotency_key = (char *)idempotency_key;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(user_id);
    op.body_case = LDPB__OP__BODY_RESERVE;
    op.reserve = &reserve;
    return run_keyed(c, &op, LDI_CLASS_FAST, LDI_OUT_RESERVATION, out, sizeof *out, msg);
}

LD_API ld_err
ld_commit(ld_client *c, const ld_id *user_id, const ld_id *reservation_id, const char *payment_ref,
          ld_order *out, ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(ldi_check_id(user_id, "commit.principal", msg));
    TRY(ldi_check_id(reservation_id, "commit.reservation_id", msg));
    TRY(ldi_check_str(payment_ref, "commit.payment_ref", LD_PAYMENT_REF_BYTES_MAX, msg));
    Ldpb__Commit commit = LDPB__COMMIT__INIT;
    commit.reservation_id = ldi_id_pb(reservation_id);
    commit.payment_ref = (char *)payment_ref;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(user_id);
    op.body_case = LDPB__OP__BODY_COMMIT;
    op.commit = &commit;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_ORDER, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_release(ld_client *c, const ld_id *user_id, const ld_id *reservation_id, ld_reservation *out,
           ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(ldi_check_id(user_id, "release.principal", msg));
    TRY(ldi_check_id(reservation_id, "release.reservation_id", msg));
    Ldpb__Release release = LDPB__RELEASE__INIT;
    release.reservation_id = ldi_id_pb(reservation_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(user_id);
    op.body_case = LDPB__OP__BODY_RELEASE;
    op.release = &release;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_RESERVATION, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_place_order(ld_client *c, const ld_id *drop_id, const ld_id *user_id, int64_t qty,
               const char *idempotency_key, const char *payment_method, ld_order *out,
               ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(check_reserve("place_order", drop_id, user_id, qty, idempotency_key, msg));
    TRY(ldi_check_str(payment_method, "place_order.payment_method", LD_PAYMENT_METHOD_BYTES_MAX,
                      msg));
    Ldpb__PlaceOrder place = LDPB__PLACE_ORDER__INIT;
    place.drop_id = ldi_id_pb(drop_id);
    place.user_id = ldi_id_pb(user_id);
    place.qty = qty;
    place.idempotency_key = (char *)idempotency_key;
    place.payment_method = (char *)payment_method;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(user_id);
    op.body_case = LDPB__OP__BODY_PLACE_ORDER;
    op.place_order = &place;
    return run_keyed(c, &op, LDI_CLASS_PAYMENT, LDI_OUT_ORDER, out, sizeof *out, msg);
}

LD_API ld_err
ld_order_get(ld_client *c, const ld_id *order_id, ld_order *out, ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(ldi_check_id(order_id, "get_order.order_id", msg));
    Ldpb__GetOrder get = LDPB__GET_ORDER__INIT;
    get.order_id = ldi_id_pb(order_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_ORDER;
    op.get_order = &get;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_ORDER, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_reservation_get(ld_client *c, const ld_id *reservation_id, ld_reservation *out, ld_errmsg *msg)
{
    outputs_clear(out, sizeof *out, msg);
    if (c == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "client is NULL");
    TRY(ldi_check_id(reservation_id, "get_reservation.reservation_id", msg));
    Ldpb__GetReservation get = LDPB__GET_RESERVATION__INIT;
    get.reservation_id = ldi_id_pb(reservation_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_RESERVATION;
    op.get_reservation = &get;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_RESERVATION, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_client_raw(ld_client *c, const void *frame, size_t frame_len, void **reply_out,
              size_t *reply_len_out)
{
    if (reply_out != NULL)
        *reply_out = NULL;
    if (reply_len_out != NULL)
        *reply_len_out = 0;
    if (c == NULL || reply_out == NULL || reply_len_out == NULL || (frame == NULL && frame_len > 0))
        return LD_ERR_INVALID_ARGUMENT;
    if (frame_len > RAW_FRAME_BYTES_MAX)
        return LD_ERR_FRAME_TOO_LARGE;
    ldi_call call = {
        .raw = frame,
        .raw_len = frame_len,
        .cls = LDI_CLASS_RAW,
        .out_kind = LDI_OUT_RAW,
        .raw_reply_out = reply_out,
        .raw_reply_len_out = reply_len_out,
        .deadline_ns = ldi_client_deadline(c),
    };
    return ldi_client_call(c, &call);
}
