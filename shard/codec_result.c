/*
 * codec_result.c -- ld_result, ld_page and ld_event_view -> livedrop.proto, and topic names
 * (see codec.h).
 *
 * Nothing here allocates per call: every pointer of the wire form points into the result, page
 * or event being encoded, or into a caller-owned scratch. The page scratch is one large block,
 * allocated once by the caller (ld_codec_page_scratch_alloc) and reused for every page.
 * Zero ids ("does not apply") are sent as absent bytes fields.
 */
#include <stdlib.h>
#include <string.h>

#include "codec_int.h"

/* ---- single results ----------------------------------------------------------------------- */

static void
stock_to_pb(const ld_stock *st, Ldpb__Stock *pb)
{
    ldpb__stock__init(pb);
    pb->available = st->available;
    pb->reserved = st->reserved;
    pb->sold = st->sold;
}

/* A drop into pb, its product snapshot into product/tags and its stock into stock. */
static void
drop_to_pb(const ld_drop_view *d, Ldpb__Drop *pb, Ldpb__Product *product, char **tags,
           Ldpb__Stock *stock)
{
    ldpb__drop__init(pb);
    pb->id = ldi_codec_bin(&d->spec.id);
    ldi_codec_product_to_pb(&d->spec.product, product, tags);
    product->product_id = ldi_codec_opt_bin(&d->spec.product_id);
    pb->product = product;
    pb->starts_at_ms = d->spec.starts_at_ms;
    pb->ends_at_ms = d->spec.ends_at_ms;
    pb->initial_stock = d->spec.initial_stock;
    pb->low_stock_threshold = d->spec.low_stock_threshold;
    pb->max_per_user = d->spec.max_per_user;
    pb->reservation_ttl_ms = d->spec.reservation_ttl_ms;
    pb->status = (Ldpb__DropStatus)d->status;
    stock_to_pb(&d->stock, stock);
    pb->stock = stock;
    pb->created_at_ms = d->created_at_ms;
}

static void
reservation_to_pb(const ld_reservation_view *r, Ldpb__Reservation *pb)
{
    ldpb__reservation__init(pb);
    pb->id = ldi_codec_bin(&r->id);
    pb->drop_id = ldi_codec_bin(&r->drop_id);
    pb->user_id = ldi_codec_bin(&r->user_id);
    pb->qty = r->qty;
    pb->expires_at_ms = r->expires_at_ms;
    pb->state = (Ldpb__ReservationState)r->state;
    pb->order_id = ldi_codec_opt_bin(&r->order_id);
    pb->created_at_ms = r->created_at_ms;
}

static void
order_to_pb(const ld_order_view *o, Ldpb__Order *pb)
{
    ldpb__order__init(pb);
    pb->id = ldi_codec_bin(&o->id);
    pb->drop_id = ldi_codec_bin(&o->drop_id);
    pb->user_id = ldi_codec_bin(&o->user_id);
    pb->reservation_id = ldi_codec_bin(&o->reservation_id);
    pb->qty = o->qty;
    pb->total_minor = o->total_minor;
    pb->currency = (char *)o->currency;
    pb->status = (Ldpb__OrderStatus)o->status;
    pb->payment_ref = (char *)o->payment_ref;
    pb->created_at_ms = o->created_at_ms;
}

static void
user_to_pb(const ld_user_view *u, Ldpb__User *pb)
{
    ldpb__user__init(pb);
    pb->id = ldi_codec_bin(&u->id);
    pb->name = (char *)u->name;
    pb->email = (char *)u->email;
    pb->created_at_ms = u->created_at_ms;
    pb->following_count = u->following_count;
}

static void
creator_to_pb(const ld_creator_view *c, Ldpb__Creator *pb, Ldpb__Attribute *attrs,
              Ldpb__Attribute **ptrs)
{
    ldpb__creator__init(pb);
    pb->id = ldi_codec_bin(&c->spec.id);
    pb->handle = (char *)c->spec.handle;
    pb->name = (char *)c->spec.name;
    ldi_codec_attrs_to_pb(c->spec.profile, c->spec.profile_count, attrs, ptrs);
    pb->n_profile = c->spec.profile_count;
    pb->profile = c->spec.profile_count ? ptrs : NULL;
    pb->created_at_ms = c->created_at_ms;
    pb->follower_count = c->follower_count;
}

/* A catalog product; tags[LD_TAGS_MAX], attrs and ptrs[LD_ATTRS_MAX] come from the scratch. */
static void
catalog_to_pb(const ld_product_view *p, Ldpb__CatalogProduct *pb, char **tags,
              Ldpb__Attribute *attrs, Ldpb__Attribute **ptrs)
{
    const ld_op_product *s = &p->spec;
    ldpb__catalog_product__init(pb);
    pb->id = ldi_codec_bin(&s->id);
    pb->creator_id = ldi_codec_bin(&s->creator_id);
    pb->title = (char *)s->title;
    pb->price_minor = s->price_minor;
    pb->currency = (char *)s->currency;
    LD_ASSERT(s->tags_count <= LD_TAGS_MAX);
    for (uint32_t i = 0; i < s->tags_count; i++)
        tags[i] = (char *)s->tags[i];
    pb->n_tags = s->tags_count;
    pb->tags = s->tags_count ? tags : NULL;
    ldi_codec_attrs_to_pb(s->attrs, s->attrs_count, attrs, ptrs);
    pb->n_attributes = s->attrs_count;
    pb->attributes = s->attrs_count ? ptrs : NULL;
    pb->created_at_ms = p->created_at_ms;
    pb->updated_at_ms = p->updated_at_ms;
}

static void
follow_state_to_pb(const ld_follow_state *f, Ldpb__FollowState *pb)
{
    ldpb__follow_state__init(pb);
    pb->following = f->following;
    pb->since_ms = f->since_ms;
    pb->follower_count = f->follower_count;
}

/* The issue-3 kinds of a single result. */
static void
social_result_to_pb(const ld_result *r, Ldpb__Result *pb, ld_codec_result_scratch *s)
{
    switch (r->kind) {
    case LD_RESULT_USER:
        user_to_pb(&r->u.user, &s->user);
        pb->body_case = LDPB__RESULT__BODY_USER;
        pb->user = &s->user;
        break;
    case LD_RESULT_CREATOR:
        creator_to_pb(&r->u.creator, &s->creator, s->attrs, s->attr_ptrs);
        pb->body_case = LDPB__RESULT__BODY_CREATOR;
        pb->creator = &s->creator;
        break;
    case LD_RESULT_PRODUCT:
        catalog_to_pb(&r->u.product, &s->catalog_product, s->tags, s->attrs, s->attr_ptrs);
        pb->body_case = LDPB__RESULT__BODY_PRODUCT;
        pb->product = &s->catalog_product;
        break;
    case LD_RESULT_FOLLOW_STATE:
        follow_state_to_pb(&r->u.follow_state, &s->follow_state);
        pb->body_case = LDPB__RESULT__BODY_FOLLOW_STATE;
        pb->follow_state = &s->follow_state;
        break;
    default:
        /* Pages are encoded by ld_codec_page_to_pb(), never through an ld_result. */
        LD_ASSERT(r->kind == LD_RESULT_NONE);
        pb->body_case = LDPB__RESULT__BODY__NOT_SET;
        break;
    }
}

void
ld_codec_result_to_pb(const ld_result *result, Ldpb__Result *pb_out,
                      ld_codec_result_scratch *scratch)
{
    LD_ASSERT(result != NULL);
    LD_ASSERT(pb_out != NULL && scratch != NULL);
    ldpb__result__init(pb_out);
    pb_out->code = (uint32_t)result->code;
    pb_out->message = (char *)(result->message[0] ? result->message : ld_strerror(result->code));
    switch (result->kind) {
    case LD_RESULT_DROP:
        drop_to_pb(&result->u.drop, &scratch->drop, &scratch->product, scratch->tags,
                   &scratch->stock);
        pb_out->body_case = LDPB__RESULT__BODY_DROP;
        pb_out->drop = &scratch->drop;
        break;
    case LD_RESULT_RESERVATION:
        reservation_to_pb(&result->u.reservation, &scratch->reservation);
        pb_out->body_case = LDPB__RESULT__BODY_RESERVATION;
        pb_out->reservation = &scratch->reservation;
        break;
    case LD_RESULT_ORDER:
        order_to_pb(&result->u.order, &scratch->order);
        pb_out->body_case = LDPB__RESULT__BODY_ORDER;
        pb_out->order = &scratch->order;
        break;
    default:
        social_result_to_pb(result, pb_out, scratch);
        break;
    }
}

/* ---- topics -------------------------------------------------------------------------------- */

static const char *const topic_prefix[] = {
    [LD_TOPIC_CREATOR] = "creator/",
    [LD_TOPIC_DROP] = "drop/",
    [LD_TOPIC_USER] = "user/",
};

size_t
ld_topic_format(ld_topic_kind kind, const ld_id *id, char out[LD_TOPIC_BYTES_MAX + 1])
{
    LD_ASSERT(kind == LD_TOPIC_CREATOR || kind == LD_TOPIC_DROP || kind == LD_TOPIC_USER);
    LD_ASSERT(id != NULL && out != NULL);
    size_t n = strlen(topic_prefix[kind]);
    _Static_assert(sizeof "creator/" - 1 + 32 <= LD_TOPIC_BYTES_MAX, "topic fits");
    memcpy(out, topic_prefix[kind], n);
    ld_id_to_hex(id, out + n);
    return n + 32;
}

bool
ld_topic_parse(const char *topic, ld_topic_kind *kind_out, ld_id *id_out)
{
    LD_ASSERT(kind_out != NULL && id_out != NULL);
    if (topic == NULL)
        return false;
    for (int k = LD_TOPIC_CREATOR; k <= LD_TOPIC_USER; k++) {
        size_t n = strlen(topic_prefix[k]);
        ld_id id;
        if (strncmp(topic, topic_prefix[k], n) != 0 || !ld_id_from_hex(topic + n, &id))
            continue;
        if (ld_id_is_zero(&id))
            return false; /* no entity has the zero id */
        *kind_out = (ld_topic_kind)k;
        *id_out = id;
        return true;
    }
    return false;
}
