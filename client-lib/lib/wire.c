/*
 * wire.c -- a Result from the node -> the caller's public structs and message.
 *
 * The node is trusted to follow the protocol but never trusted with memory: ids must be
 * exactly 16 bytes, strings are truncated to their field, enums outside the known range become
 * 0, and a success without the body the op promises is LD_ERR_PROTOCOL.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"

void
ldi_errmsg_set(ld_errmsg *msg, const char *text)
{
    if (msg == NULL)
        return;
    if (text == NULL)
        text = "";
    size_t len = strnlen(text, LD_MESSAGE_BYTES_MAX);
    memcpy(msg->text, text, len);
    msg->text[len] = '\0';
}

ld_err
ldi_errmsg_fail(ld_errmsg *msg, ld_err code, const char *fmt, ...)
{
    if (msg != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg->text, sizeof msg->text, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* A drop's product snapshot; its catalog product id (if any) goes to *product_id. */
static bool
product_from_pb(ld_product_spec *p, ld_id *product_id, const Ldpb__Product *pb)
{
    if (pb == NULL)
        return true;
    if (!ldi_copy_id(product_id, &pb->product_id))
        return false;
    bool ok = ldi_copy_id(&p->creator_id, &pb->creator_id);
    ldi_copy_str(p->title, sizeof p->title, pb->title);
    p->price_minor = pb->price_minor;
    ldi_copy_str(p->currency, sizeof p->currency, pb->currency);
    size_t n = pb->n_tags < LD_TAGS_MAX ? pb->n_tags : LD_TAGS_MAX;
    p->tags_count = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        ldi_copy_str(p->tags[i], sizeof p->tags[i], pb->tags[i]);
    return ok;
}

bool
ldi_drop_from_pb(ld_drop *d, const Ldpb__Drop *pb)
{
    memset(d, 0, sizeof *d);
    bool ok = ldi_copy_id(&d->spec.id, &pb->id);
    ok = product_from_pb(&d->spec.product, &d->spec.product_id, pb->product) && ok;
    d->spec.starts_at_ms = pb->starts_at_ms;
    d->spec.ends_at_ms = pb->ends_at_ms;
    d->spec.initial_stock = pb->initial_stock;
    d->spec.low_stock_threshold = pb->low_stock_threshold;
    d->spec.max_per_user = pb->max_per_user;
    d->spec.reservation_ttl_ms = pb->reservation_ttl_ms;
    d->status = (ld_drop_status)ldi_enum_in((int)pb->status, LD_DROP_UPCOMING, LD_DROP_CANCELLED);
    if (pb->stock != NULL) {
        d->stock.available = pb->stock->available;
        d->stock.reserved = pb->stock->reserved;
        d->stock.sold = pb->stock->sold;
    }
    d->created_at_ms = pb->created_at_ms;
    return ok;
}

static bool
reservation_from_pb(ld_reservation *r, const Ldpb__Reservation *pb)
{
    memset(r, 0, sizeof *r);
    bool ok = ldi_copy_id(&r->id, &pb->id);
    ok = ldi_copy_id(&r->drop_id, &pb->drop_id) && ok;
    ok = ldi_copy_id(&r->user_id, &pb->user_id) && ok;
    r->qty = pb->qty;
    r->expires_at_ms = pb->expires_at_ms;
    r->state = (ld_reservation_state)ldi_enum_in((int)pb->state, LD_RES_ACTIVE, LD_RES_EXPIRED);
    ok = ldi_copy_id(&r->order_id, &pb->order_id) && ok;
    r->created_at_ms = pb->created_at_ms;
    return ok;
}

static bool
order_from_pb(ld_order *o, const Ldpb__Order *pb)
{
    memset(o, 0, sizeof *o);
    bool ok = ldi_copy_id(&o->id, &pb->id);
    ok = ldi_copy_id(&o->drop_id, &pb->drop_id) && ok;
    ok = ldi_copy_id(&o->user_id, &pb->user_id) && ok;
    ok = ldi_copy_id(&o->reservation_id, &pb->reservation_id) && ok;
    o->qty = pb->qty;
    o->total_minor = pb->total_minor;
    ldi_copy_str(o->currency, sizeof o->currency, pb->currency);
    o->status = (ld_order_status)ldi_enum_in((int)pb->status, LD_ORDER_PAID, LD_ORDER_FAILED);
    ldi_copy_str(o->payment_ref, sizeof o->payment_ref, pb->payment_ref);
    o->created_at_ms = pb->created_at_ms;
    return ok;
}

/* Converts the body if it is the kind the caller expects. Returns false when the body is
 * missing, of another kind, or malformed. */
static bool
body_from_pb(ldi_call *call, const Ldpb__Result *r)
{
    switch (call->out_kind) {
    case LDI_OUT_DROP:
        return r->body_case == LDPB__RESULT__BODY_DROP && r->drop != NULL &&
               ldi_drop_from_pb(call->out, r->drop);
    case LDI_OUT_RESERVATION:
        return r->body_case == LDPB__RESULT__BODY_RESERVATION && r->reservation != NULL &&
               reservation_from_pb(call->out, r->reservation);
    case LDI_OUT_ORDER:
        return r->body_case == LDPB__RESULT__BODY_ORDER && r->order != NULL &&
               order_from_pb(call->out, r->order);
    case LDI_OUT_CLUSTER_STATUS:
        return ldi_wire_cluster_status(call, r);
    case LDI_OUT_NONE:
    case LDI_OUT_RAW:
        break;
    default:
        return ldi_wire_pages_body(call, r);
    }
    return true;
}

ld_err
ldi_wire_deliver(ldi_call *call, const Ldpb__Result *result, ld_err code, const char *text)
{
    LD_ASSERT(call->out_kind != LDI_OUT_RAW);
    if (result == NULL) {
        LD_ASSERT(code != LD_OK);
        ldi_errmsg_set(call->msg, text != NULL && text[0] != '\0' ? text : ld_strerror(code));
        return code;
    }
    code = (ld_err)result->code;
    ldi_errmsg_set(call->msg, result->message);
    if (call->out == NULL || call->out_kind == LDI_OUT_NONE)
        return code;
    if (result->body_case == LDPB__RESULT__BODY__NOT_SET && !LD_ERR_IS_SUCCESS(code))
        return code; /* a refusal without a body: *out stays zeroed */
    if (!body_from_pb(call, result)) {
        ldi_out_clear(call->out_kind, call->out);
        if (LD_ERR_IS_SUCCESS(code))
            return ldi_errmsg_fail(call->msg, LD_ERR_PROTOCOL,
                                   "reply to a successful op lacks its body (code %s)",
                                   ld_err_name(code));
    }
    return code;
}
