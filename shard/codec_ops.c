/*
 * codec_ops.c -- livedrop.proto <-> ld_op for the social and catalog ops: users, creators, follows,
 * the catalog, browse, events, notifications and the internal relay_follow (see codec.h).
 *
 * Same rules as codec.c: fields are checked in their .proto order, the first bad one answers
 * with a precise code and a message naming it. Page ops get their `first` (or pull `max`)
 * defaulted here, so the state machine only ever sees a size within its list's maximum.
 */
#include <stdio.h>
#include <string.h>

#include "codec_int.h"

/* Pull size when the caller leaves it 0. */
#define PULL_MAX_DEFAULT (LD_PULL_EVENTS_MAX / 10u)
_Static_assert(PULL_MAX_DEFAULT >= 1 && PULL_MAX_DEFAULT <= LD_PULL_EVENTS_MAX, "pull default");

/* ---- users and creators ------------------------------------------------------------------ */

/* An email is optional; when given it is local@domain: one '@', with text on both sides. */
static ld_err
check_email(const char *s, const char *field, char *out, ld_result *res)
{
    LDI_TRY(ldi_codec_check_str(s, field, LD_EMAIL_BYTES_MAX, false, out, res));
    if (out[0] == '\0')
        return LD_OK;
    const char *at = strchr(out, '@');
    if (at == NULL || at == out || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                              "%s: must be local@domain (one '@' with text on both sides)", field);
    return LD_OK;
}

static ld_err
create_user_from_pb(const Ldpb__CreateUser *pb, ld_op_create_user *u, ld_result *res)
{
    LDI_TRY(ldi_codec_check_id(&pb->id, "create_user.id", &u->id, res));
    LDI_TRY(
        ldi_codec_check_str(pb->name, "create_user.name", LD_NAME_BYTES_MAX, true, u->name, res));
    return check_email(pb->email, "create_user.email", u->email, res);
}

static ld_err
create_creator_from_pb(const Ldpb__CreateCreator *pb, ld_op_create_creator *c, ld_result *res)
{
    LDI_TRY(ldi_codec_check_id(&pb->id, "create_creator.id", &c->id, res));
    LDI_TRY(ldi_codec_check_handle(pb->handle, "create_creator.handle", c->handle, res));
    LDI_TRY(ldi_codec_check_str(pb->name, "create_creator.name", LD_NAME_BYTES_MAX, true, c->name,
                                res));
    return ldi_codec_check_attrs(pb->n_profile, pb->profile, "create_creator.profile", c->profile,
                                 &c->profile_count, res);
}

/* By id, or (id absent) by handle: exactly one of the two. */
static ld_err
get_creator_from_pb(const Ldpb__GetCreator *pb, ld_op_get_creator *g, ld_result *res)
{
    bool has_handle = pb->handle != NULL && pb->handle[0] != '\0';
    if (pb->creator_id.len == 0 && !has_handle)
        return ld_result_fail(res, LD_ERR_MISSING_FIELD,
                              "get_creator: creator_id or handle required");
    if (pb->creator_id.len != 0 && has_handle)
        return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                              "get_creator: set creator_id or handle, not both");
    if (pb->creator_id.len != 0)
        return ldi_codec_check_id(&pb->creator_id, "get_creator.creator_id", &g->id, res);
    return ldi_codec_check_handle(pb->handle, "get_creator.handle", g->handle, res);
}

static ld_err
follow_from_pb(const ProtobufCBinaryData *user_id, const ProtobufCBinaryData *creator_id,
               const char *name, ld_op_follow *f, ld_result *res)
{
    char field[LDI_FIELD_BYTES];
    snprintf(field, sizeof field, "%s.user_id", name);
    LDI_TRY(ldi_codec_check_id(user_id, field, &f->user_id, res));
    snprintf(field, sizeof field, "%s.creator_id", name);
    return ldi_codec_check_id(creator_id, field, &f->creator_id, res);
}

/* list_followers, list_following, list_products, list_notifications: id, first, after. */
static ld_err
list_from_pb(const ProtobufCBinaryData *id, uint32_t first, const char *after, const char *name,
             const char *id_name, uint32_t max, ld_op_list *l, ld_result *res)
{
    char field[LDI_FIELD_BYTES];
    snprintf(field, sizeof field, "%s.%s", name, id_name);
    LDI_TRY(ldi_codec_check_id(id, field, &l->id, res));
    snprintf(field, sizeof field, "%s.first", name);
    LDI_TRY(ldi_codec_check_first(first, max, field, &l->first, res));
    snprintf(field, sizeof field, "%s.after", name);
    return ldi_codec_check_cursor(after, field, l->after, res);
}

/* ---- catalog ------------------------------------------------------------------------------ */

/* The fields create_product and update_product share, from title on. */
static ld_err
product_fields_from_pb(const char *name, const char *title, int64_t price_minor,
                       const char *currency, size_t n_tags, char *const *tags, size_t n_attrs,
                       Ldpb__Attribute *const *attrs, ld_op_product *p, ld_result *res)
{
    char field[LDI_FIELD_BYTES];
    snprintf(field, sizeof field, "%s.title", name);
    LDI_TRY(ldi_codec_check_str(title, field, LD_TITLE_BYTES_MAX, true, p->title, res));
    snprintf(field, sizeof field, "%s.price_minor", name);
    LDI_TRY(ldi_codec_check_range(price_minor, 0, LD_PRICE_MINOR_MAX, field, res));
    p->price_minor = price_minor;
    snprintf(field, sizeof field, "%s.currency", name);
    LDI_TRY(ldi_codec_check_currency(currency, field, p->currency, res));
    snprintf(field, sizeof field, "%s.tags", name);
    LDI_TRY(ldi_codec_check_tags(n_tags, tags, field, p->tags, &p->tags_count, res));
    snprintf(field, sizeof field, "%s.attributes", name);
    return ldi_codec_check_attrs(n_attrs, attrs, field, p->attrs, &p->attrs_count, res);
}

static ld_err
create_product_from_pb(const Ldpb__CreateProduct *pb, ld_op_product *p, ld_result *res)
{
    LDI_TRY(ldi_codec_check_id(&pb->id, "create_product.id", &p->id, res));
    LDI_TRY(ldi_codec_check_id(&pb->creator_id, "create_product.creator_id", &p->creator_id, res));
    return product_fields_from_pb("create_product", pb->title, pb->price_minor, pb->currency,
                                  pb->n_tags, pb->tags, pb->n_attributes, pb->attributes, p, res);
}

static ld_err
update_product_from_pb(const Ldpb__UpdateProduct *pb, ld_op_product *p, ld_result *res)
{
    LDI_TRY(ldi_codec_check_id(&pb->id, "update_product.id", &p->id, res));
    return product_fields_from_pb("update_product", pb->title, pb->price_minor, pb->currency,
                                  pb->n_tags, pb->tags, pb->n_attributes, pb->attributes, p, res);
}

/* ---- browse, events, relay ---------------------------------------------------------------- */

static ld_err
list_drops_from_pb(const Ldpb__ListDrops *pb, ld_op_list_drops *l, ld_result *res)
{
    if ((int)pb->status < LD_DROP_UPCOMING || (int)pb->status > LD_DROP_CANCELLED)
        return ld_result_fail(res, LD_ERR_INVALID_ARGUMENT,
                              "list_drops.status: %d is not 1..4 (UPCOMING, LIVE, ENDED, "
                              "CANCELLED)",
                              (int)pb->status);
    l->status = (ld_drop_status)pb->status;
    LDI_TRY(ldi_codec_check_opt_id(&pb->creator_id, "list_drops.creator_id", &l->creator_id, res));
    LDI_TRY(ldi_codec_check_range(pb->price_min_minor, 0, LD_PRICE_MINOR_MAX,
                                  "list_drops.price_min_minor", res));
    l->price_min_minor = pb->price_min_minor;
    l->price_max_minor = INT64_MAX;
    if (pb->price_max_set) {
        LDI_TRY(ldi_codec_check_range(pb->price_max_minor, 0, LD_PRICE_MINOR_MAX,
                                      "list_drops.price_max_minor", res));
        if (pb->price_max_minor < pb->price_min_minor)
            return ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE,
                                  "list_drops.price_max_minor: %lld is below price_min_minor %lld",
                                  (long long)pb->price_max_minor, (long long)pb->price_min_minor);
        l->price_max_minor = pb->price_max_minor;
    }
    LDI_TRY(ldi_codec_check_tags(pb->n_tags, pb->tags, "list_drops.tags", l->tags, &l->tags_count,
                                 res));
    LDI_TRY(
        ldi_codec_check_first(pb->first, LD_PAGE_DROPS_MAX, "list_drops.first", &l->first, res));
    return ldi_codec_check_cursor(pb->after, "list_drops.after", l->after, res);
}

static ld_err
pull_events_from_pb(const Ldpb__PullEvents *pb, ld_op_pull_events *p, ld_result *res)
{
    p->after = pb->after;
    if (pb->max > LD_PULL_EVENTS_MAX)
        return ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE,
                              "pull_events.max: %u is above the maximum %u", pb->max,
                              LD_PULL_EVENTS_MAX);
    p->max = pb->max == 0 ? PULL_MAX_DEFAULT : pb->max;
    if (pb->wait_ms > LD_PULL_WAIT_MS_MAX)
        return ld_result_fail(res, LD_ERR_VALUE_OUT_OF_RANGE,
                              "pull_events.wait_ms: %u is above the maximum %u", pb->wait_ms,
                              LD_PULL_WAIT_MS_MAX);
    p->wait_ms = pb->wait_ms;
    p->topic_kind = LD_TOPIC_NONE;
    if (pb->topic == NULL || pb->topic[0] == '\0')
        return LD_OK; /* the shard's whole stream */
    if (strnlen(pb->topic, LD_TOPIC_BYTES_MAX + 1) > LD_TOPIC_BYTES_MAX ||
        !ld_topic_parse(pb->topic, &p->topic_kind, &p->topic_id))
        return ld_result_fail(res, LD_ERR_INVALID_TOPIC,
                              "pull_events.topic: must be creator/, drop/ or user/ followed by "
                              "32 hex digits");
    return LD_OK;
}

/* Internal: written by the node. Its handle is the creator's stored one (or empty), so only its
 * length and encoding are checked -- a stricter check here could refuse a logged op on replay. */
static ld_err
relay_follow_from_pb(const Ldpb__RelayFollow *pb, ld_op_relay_follow *r, ld_result *res)
{
    r->source_shard = pb->source_shard;
    r->seq = pb->seq;
    LDI_TRY(ldi_codec_check_id(&pb->user_id, "relay_follow.user_id", &r->user_id, res));
    LDI_TRY(ldi_codec_check_id(&pb->creator_id, "relay_follow.creator_id", &r->creator_id, res));
    r->followed = pb->followed != 0;
    LDI_TRY(ldi_codec_check_time(pb->at_ms, "relay_follow.at_ms", res));
    r->at_ms = pb->at_ms;
    return ldi_codec_check_str(pb->creator_handle, "relay_follow.creator_handle",
                               LD_HANDLE_BYTES_MAX, false, r->creator_handle, res);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static ld_err
social_from_pb(const Ldpb__Op *pb, ld_op *op, ld_result *res)
{
    switch (pb->body_case) {
    case LDPB__OP__BODY_CREATE_USER:
        op->type = LD_OP_CREATE_USER;
        return create_user_from_pb(pb->create_user, &op->u.create_user, res);
    case LDPB__OP__BODY_GET_USER:
        op->type = LD_OP_GET_USER;
        return ldi_codec_check_id(&pb->get_user->user_id, "get_user.user_id", &op->u.id, res);
    case LDPB__OP__BODY_CREATE_CREATOR:
        op->type = LD_OP_CREATE_CREATOR;
        return create_creator_from_pb(pb->create_creator, &op->u.create_creator, res);
    case LDPB__OP__BODY_GET_CREATOR:
        op->type = LD_OP_GET_CREATOR;
        return get_creator_from_pb(pb->get_creator, &op->u.get_creator, res);
    case LDPB__OP__BODY_FOLLOW:
        op->type = LD_OP_FOLLOW;
        return follow_from_pb(&pb->follow->user_id, &pb->follow->creator_id, "follow",
                              &op->u.follow, res);
    case LDPB__OP__BODY_UNFOLLOW:
        op->type = LD_OP_UNFOLLOW;
        return follow_from_pb(&pb->unfollow->user_id, &pb->unfollow->creator_id, "unfollow",
                              &op->u.follow, res);
    case LDPB__OP__BODY_IS_FOLLOWING:
        op->type = LD_OP_IS_FOLLOWING;
        return follow_from_pb(&pb->is_following->user_id, &pb->is_following->creator_id,
                              "is_following", &op->u.follow, res);
    case LDPB__OP__BODY_LIST_FOLLOWERS: {
        const Ldpb__ListFollowers *l = pb->list_followers;
        op->type = LD_OP_LIST_FOLLOWERS;
        return list_from_pb(&l->creator_id, l->first, l->after, "list_followers", "creator_id",
                            LD_PAGE_EDGES_MAX, &op->u.list, res);
    }
    case LDPB__OP__BODY_LIST_FOLLOWING: {
        const Ldpb__ListFollowing *l = pb->list_following;
        op->type = LD_OP_LIST_FOLLOWING;
        return list_from_pb(&l->user_id, l->first, l->after, "list_following", "user_id",
                            LD_PAGE_EDGES_MAX, &op->u.list, res);
    }
    case LDPB__OP__BODY_RELAY_FOLLOW:
        op->type = LD_OP_RELAY_FOLLOW;
        return relay_follow_from_pb(pb->relay_follow, &op->u.relay, res);
    default:
        return ld_result_fail(res, LD_ERR_UNKNOWN_OP, "op: no known body set (case %d)",
                              (int)pb->body_case);
    }
}

ld_err
ldi_codec_ops_from_pb(const Ldpb__Op *pb, ld_op *op, ld_result *res)
{
    switch (pb->body_case) {
    case LDPB__OP__BODY_CREATE_PRODUCT:
        op->type = LD_OP_CREATE_PRODUCT;
        return create_product_from_pb(pb->create_product, &op->u.product, res);
    case LDPB__OP__BODY_UPDATE_PRODUCT:
        op->type = LD_OP_UPDATE_PRODUCT;
        return update_product_from_pb(pb->update_product, &op->u.product, res);
    case LDPB__OP__BODY_GET_PRODUCT:
        op->type = LD_OP_GET_PRODUCT;
        return ldi_codec_check_id(&pb->get_product->product_id, "get_product.product_id", &op->u.id,
                                  res);
    case LDPB__OP__BODY_LIST_PRODUCTS: {
        const Ldpb__ListProducts *l = pb->list_products;
        op->type = LD_OP_LIST_PRODUCTS;
        return list_from_pb(&l->creator_id, l->first, l->after, "list_products", "creator_id",
                            LD_PAGE_DROPS_MAX, &op->u.list, res);
    }
    case LDPB__OP__BODY_CANCEL_DROP:
        op->type = LD_OP_CANCEL_DROP;
        return ldi_codec_check_id(&pb->cancel_drop->drop_id, "cancel_drop.drop_id", &op->u.id, res);
    case LDPB__OP__BODY_LIST_DROPS:
        op->type = LD_OP_LIST_DROPS;
        return list_drops_from_pb(pb->list_drops, &op->u.list_drops, res);
    case LDPB__OP__BODY_PULL_EVENTS:
        op->type = LD_OP_PULL_EVENTS;
        return pull_events_from_pb(pb->pull_events, &op->u.pull, res);
    case LDPB__OP__BODY_LIST_NOTIFICATIONS: {
        const Ldpb__ListNotifications *l = pb->list_notifications;
        op->type = LD_OP_LIST_NOTIFICATIONS;
        return list_from_pb(&l->user_id, l->first, l->after, "list_notifications", "user_id",
                            LD_PAGE_DROPS_MAX, &op->u.list, res);
    }
    case LDPB__OP__BODY_GET_CLUSTER_STATUS:
        op->type = LD_OP_GET_CLUSTER_STATUS; /* no fields */
        return LD_OK;
    default:
        return social_from_pb(pb, op, res);
    }
}

/* ---- ld_op -> wire ------------------------------------------------------------------------ */

static void
create_user_to_pb(const ld_op_create_user *u, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ldpb__create_user__init(&s->create_user);
    s->create_user.id = ldi_codec_bin(&u->id);
    s->create_user.name = (char *)u->name;
    s->create_user.email = (char *)u->email;
    pb->body_case = LDPB__OP__BODY_CREATE_USER;
    pb->create_user = &s->create_user;
}

static void
create_creator_to_pb(const ld_op_create_creator *c, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ldpb__create_creator__init(&s->create_creator);
    s->create_creator.id = ldi_codec_bin(&c->id);
    s->create_creator.handle = (char *)c->handle;
    s->create_creator.name = (char *)c->name;
    ldi_codec_attrs_to_pb(c->profile, c->profile_count, s->attrs, s->attr_ptrs);
    s->create_creator.n_profile = c->profile_count;
    s->create_creator.profile = c->profile_count ? s->attr_ptrs : NULL;
    pb->body_case = LDPB__OP__BODY_CREATE_CREATOR;
    pb->create_creator = &s->create_creator;
}

static void
get_creator_to_pb(const ld_op_get_creator *g, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ldpb__get_creator__init(&s->get_creator);
    s->get_creator.creator_id = ldi_codec_opt_bin(&g->id);
    s->get_creator.handle = (char *)g->handle;
    pb->body_case = LDPB__OP__BODY_GET_CREATOR;
    pb->get_creator = &s->get_creator;
}

/* follow, unfollow and is_following have the same two fields (and the same layout). */
static void
follow_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ProtobufCBinaryData user = ldi_codec_bin(&op->u.follow.user_id);
    ProtobufCBinaryData creator = ldi_codec_bin(&op->u.follow.creator_id);
    if (op->type == LD_OP_FOLLOW) {
        ldpb__follow__init(&s->follow);
        s->follow.user_id = user;
        s->follow.creator_id = creator;
        pb->body_case = LDPB__OP__BODY_FOLLOW;
        pb->follow = &s->follow;
    } else if (op->type == LD_OP_UNFOLLOW) {
        ldpb__unfollow__init(&s->unfollow);
        s->unfollow.user_id = user;
        s->unfollow.creator_id = creator;
        pb->body_case = LDPB__OP__BODY_UNFOLLOW;
        pb->unfollow = &s->unfollow;
    } else {
        LD_ASSERT(op->type == LD_OP_IS_FOLLOWING);
        ldpb__is_following__init(&s->is_following);
        s->is_following.user_id = user;
        s->is_following.creator_id = creator;
        pb->body_case = LDPB__OP__BODY_IS_FOLLOWING;
        pb->is_following = &s->is_following;
    }
}

static void
product_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    const ld_op_product *p = &op->u.product;
    LD_ASSERT(p->tags_count <= LD_TAGS_MAX);
    for (uint32_t i = 0; i < p->tags_count; i++)
        s->tags[i] = (char *)p->tags[i];
    ldi_codec_attrs_to_pb(p->attrs, p->attrs_count, s->attrs, s->attr_ptrs);
    char **tags = p->tags_count ? s->tags : NULL;
    Ldpb__Attribute **attrs = p->attrs_count ? s->attr_ptrs : NULL;
    if (op->type == LD_OP_CREATE_PRODUCT) {
        Ldpb__CreateProduct *c = &s->create_product;
        ldpb__create_product__init(c);
        c->id = ldi_codec_bin(&p->id);
        c->creator_id = ldi_codec_bin(&p->creator_id);
        c->title = (char *)p->title;
        c->price_minor = p->price_minor;
        c->currency = (char *)p->currency;
        c->n_tags = p->tags_count, c->tags = tags;
        c->n_attributes = p->attrs_count, c->attributes = attrs;
        pb->body_case = LDPB__OP__BODY_CREATE_PRODUCT;
        pb->create_product = c;
        return;
    }
    LD_ASSERT(op->type == LD_OP_UPDATE_PRODUCT);
    LD_ASSERT(ld_id_is_zero(&p->creator_id)); /* an update names no creator */
    Ldpb__UpdateProduct *u = &s->update_product;
    ldpb__update_product__init(u);
    u->id = ldi_codec_bin(&p->id);
    u->title = (char *)p->title;
    u->price_minor = p->price_minor;
    u->currency = (char *)p->currency;
    u->n_tags = p->tags_count, u->tags = tags;
    u->n_attributes = p->attrs_count, u->attributes = attrs;
    pb->body_case = LDPB__OP__BODY_UPDATE_PRODUCT;
    pb->update_product = u;
}

/* list_followers, list_following, list_products, list_notifications. */
static void
list_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    const ld_op_list *l = &op->u.list;
    ProtobufCBinaryData id = ldi_codec_bin(&l->id);
    char *after = (char *)l->after;
    switch (op->type) {
    case LD_OP_LIST_FOLLOWERS:
        ldpb__list_followers__init(&s->list_followers);
        s->list_followers.creator_id = id, s->list_followers.first = l->first;
        s->list_followers.after = after;
        pb->body_case = LDPB__OP__BODY_LIST_FOLLOWERS;
        pb->list_followers = &s->list_followers;
        break;
    case LD_OP_LIST_FOLLOWING:
        ldpb__list_following__init(&s->list_following);
        s->list_following.user_id = id, s->list_following.first = l->first;
        s->list_following.after = after;
        pb->body_case = LDPB__OP__BODY_LIST_FOLLOWING;
        pb->list_following = &s->list_following;
        break;
    case LD_OP_LIST_PRODUCTS:
        ldpb__list_products__init(&s->list_products);
        s->list_products.creator_id = id, s->list_products.first = l->first;
        s->list_products.after = after;
        pb->body_case = LDPB__OP__BODY_LIST_PRODUCTS;
        pb->list_products = &s->list_products;
        break;
    default:
        LD_ASSERT(op->type == LD_OP_LIST_NOTIFICATIONS);
        ldpb__list_notifications__init(&s->list_notifications);
        s->list_notifications.user_id = id, s->list_notifications.first = l->first;
        s->list_notifications.after = after;
        pb->body_case = LDPB__OP__BODY_LIST_NOTIFICATIONS;
        pb->list_notifications = &s->list_notifications;
        break;
    }
}

static void
list_drops_to_pb(const ld_op_list_drops *l, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    Ldpb__ListDrops *d = &s->list_drops;
    ldpb__list_drops__init(d);
    d->status = (Ldpb__DropStatus)l->status;
    d->creator_id = ldi_codec_opt_bin(&l->creator_id);
    d->price_min_minor = l->price_min_minor;
    d->price_max_set = l->price_max_minor != INT64_MAX;
    d->price_max_minor = d->price_max_set ? l->price_max_minor : 0;
    LD_ASSERT(l->tags_count <= LD_TAGS_MAX);
    for (uint32_t i = 0; i < l->tags_count; i++)
        s->tags[i] = (char *)l->tags[i];
    d->n_tags = l->tags_count;
    d->tags = l->tags_count ? s->tags : NULL;
    d->first = l->first;
    d->after = (char *)l->after;
    pb->body_case = LDPB__OP__BODY_LIST_DROPS;
    pb->list_drops = d;
}

static void
pull_events_to_pb(const ld_op_pull_events *p, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    Ldpb__PullEvents *e = &s->pull_events;
    ldpb__pull_events__init(e);
    e->after = p->after;
    e->max = p->max;
    e->wait_ms = p->wait_ms;
    if (p->topic_kind != LD_TOPIC_NONE) {
        ld_topic_format(p->topic_kind, &p->topic_id, s->topic);
        e->topic = s->topic;
    }
    pb->body_case = LDPB__OP__BODY_PULL_EVENTS;
    pb->pull_events = e;
}

static void
relay_follow_to_pb(const ld_op_relay_follow *r, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    Ldpb__RelayFollow *f = &s->relay_follow;
    ldpb__relay_follow__init(f);
    f->source_shard = r->source_shard;
    f->seq = r->seq;
    f->user_id = ldi_codec_bin(&r->user_id);
    f->creator_id = ldi_codec_bin(&r->creator_id);
    f->followed = r->followed;
    f->at_ms = r->at_ms;
    f->creator_handle = (char *)r->creator_handle;
    pb->body_case = LDPB__OP__BODY_RELAY_FOLLOW;
    pb->relay_follow = f;
}

/* The ops whose body is one id. */
static void
id_op_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    ProtobufCBinaryData id = ldi_codec_bin(&op->u.id);
    switch (op->type) {
    case LD_OP_GET_USER:
        ldpb__get_user__init(&s->get_user);
        s->get_user.user_id = id;
        pb->body_case = LDPB__OP__BODY_GET_USER;
        pb->get_user = &s->get_user;
        break;
    case LD_OP_GET_PRODUCT:
        ldpb__get_product__init(&s->get_product);
        s->get_product.product_id = id;
        pb->body_case = LDPB__OP__BODY_GET_PRODUCT;
        pb->get_product = &s->get_product;
        break;
    default:
        LD_ASSERT(op->type == LD_OP_CANCEL_DROP);
        ldpb__cancel_drop__init(&s->cancel_drop);
        s->cancel_drop.drop_id = id;
        pb->body_case = LDPB__OP__BODY_CANCEL_DROP;
        pb->cancel_drop = &s->cancel_drop;
        break;
    }
}

bool
ldi_codec_ops_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s)
{
    switch (op->type) {
    case LD_OP_CREATE_USER:
        create_user_to_pb(&op->u.create_user, pb, s);
        return true;
    case LD_OP_CREATE_CREATOR:
        create_creator_to_pb(&op->u.create_creator, pb, s);
        return true;
    case LD_OP_GET_CREATOR:
        get_creator_to_pb(&op->u.get_creator, pb, s);
        return true;
    case LD_OP_FOLLOW:
    case LD_OP_UNFOLLOW:
    case LD_OP_IS_FOLLOWING:
        follow_to_pb(op, pb, s);
        return true;
    case LD_OP_CREATE_PRODUCT:
    case LD_OP_UPDATE_PRODUCT:
        product_to_pb(op, pb, s);
        return true;
    case LD_OP_LIST_FOLLOWERS:
    case LD_OP_LIST_FOLLOWING:
    case LD_OP_LIST_PRODUCTS:
    case LD_OP_LIST_NOTIFICATIONS:
        list_to_pb(op, pb, s);
        return true;
    case LD_OP_LIST_DROPS:
        list_drops_to_pb(&op->u.list_drops, pb, s);
        return true;
    case LD_OP_PULL_EVENTS:
        pull_events_to_pb(&op->u.pull, pb, s);
        return true;
    case LD_OP_RELAY_FOLLOW:
        relay_follow_to_pb(&op->u.relay, pb, s);
        return true;
    case LD_OP_GET_USER:
    case LD_OP_GET_PRODUCT:
    case LD_OP_CANCEL_DROP:
        id_op_to_pb(op, pb, s);
        return true;
    case LD_OP_GET_CLUSTER_STATUS:
        ldpb__get_cluster_status__init(&s->get_cluster_status);
        pb->body_case = LDPB__OP__BODY_GET_CLUSTER_STATUS;
        pb->get_cluster_status = &s->get_cluster_status;
        return true;
    default:
        return false;
    }
}
