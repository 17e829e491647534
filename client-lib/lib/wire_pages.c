/*
 * wire_pages.c -- Results of the social and catalog ops -> the caller's public structs: users,
 * creators, catalog products, follow states, and the pages (followers, products, drops, events,
 * notifications). Also the Event conversion that pushed events (subscriber.c) share.
 *
 * Same rules as wire.c: ids must be exactly 16 bytes (or empty), strings are truncated to their
 * field, unknown enum values become 0, and a page with more entries than its struct holds is a
 * protocol violation. Pages are large (up to ~0.5 MiB): they are written in place into the
 * caller's struct, entry by entry, and only the header and the first `count` entries are
 * written -- never the whole struct.
 */
#include <string.h>

#include "client_int.h"

static void
attrs_from_pb(ld_attr *out, uint32_t *count_out, Ldpb__Attribute *const *pb, size_t n)
{
    if (n > LD_ATTRS_MAX)
        n = LD_ATTRS_MAX;
    *count_out = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        const Ldpb__Attribute *a = pb[i];
        ldi_copy_str(out[i].key, sizeof out[i].key, a != NULL ? a->key : NULL);
        ldi_copy_str(out[i].value, sizeof out[i].value, a != NULL ? a->value : NULL);
    }
}

static bool
user_from_pb(ld_user *u, const Ldpb__User *pb)
{
    memset(u, 0, sizeof *u);
    bool ok = ldi_copy_id(&u->spec.id, &pb->id);
    ldi_copy_str(u->spec.name, sizeof u->spec.name, pb->name);
    ldi_copy_str(u->spec.email, sizeof u->spec.email, pb->email);
    u->created_at_ms = pb->created_at_ms;
    u->following_count = pb->following_count;
    return ok;
}

static bool
creator_from_pb(ld_creator *c, const Ldpb__Creator *pb)
{
    memset(c, 0, sizeof *c);
    bool ok = ldi_copy_id(&c->spec.id, &pb->id);
    ldi_copy_str(c->spec.handle, sizeof c->spec.handle, pb->handle);
    ldi_copy_str(c->spec.name, sizeof c->spec.name, pb->name);
    attrs_from_pb(c->spec.profile, &c->spec.profile_count, pb->profile, pb->n_profile);
    c->created_at_ms = pb->created_at_ms;
    c->follower_count = pb->follower_count;
    return ok;
}

static bool
product_from_pb(ld_catalog_product *p, const Ldpb__CatalogProduct *pb)
{
    memset(p, 0, sizeof *p);
    ld_catalog_product_spec *s = &p->spec;
    bool ok = ldi_copy_id(&s->id, &pb->id);
    ok = ldi_copy_id(&s->creator_id, &pb->creator_id) && ok;
    ldi_copy_str(s->title, sizeof s->title, pb->title);
    s->price_minor = pb->price_minor;
    ldi_copy_str(s->currency, sizeof s->currency, pb->currency);
    size_t n = pb->n_tags < LD_TAGS_MAX ? pb->n_tags : LD_TAGS_MAX;
    s->tags_count = (uint32_t)n;
    for (size_t i = 0; i < n; i++)
        ldi_copy_str(s->tags[i], sizeof s->tags[i], pb->tags[i]);
    attrs_from_pb(s->attrs, &s->attrs_count, pb->attributes, pb->n_attributes);
    p->created_at_ms = pb->created_at_ms;
    p->updated_at_ms = pb->updated_at_ms;
    return ok;
}

static bool
follow_state_from_pb(ld_follow_state *f, const Ldpb__FollowState *pb)
{
    memset(f, 0, sizeof *f);
    f->following = pb->following != 0;
    f->since_ms = pb->since_ms;
    f->follower_count = pb->follower_count;
    return true;
}

bool
ldi_event_from_pb(ld_event *e, const Ldpb__Event *pb, const char *topic)
{
    memset(e, 0, sizeof *e);
    e->seq = pb->seq;
    e->shard = pb->shard;
    e->timestamp_ms = pb->timestamp_ms;
    e->type =
        (ld_event_type)ldi_enum_in((int)pb->type, LD_EVENT_DROP_SCHEDULED, LD_EVENT_UNFOLLOWED);
    bool ok = ldi_copy_id(&e->creator_id, &pb->creator_id);
    ok = ldi_copy_id(&e->drop_id, &pb->drop_id) && ok;
    ok = ldi_copy_id(&e->user_id, &pb->user_id) && ok;
    ok = ldi_copy_id(&e->order_id, &pb->order_id) && ok;
    ok = ldi_copy_id(&e->reservation_id, &pb->reservation_id) && ok;
    if (pb->stock != NULL) {
        e->stock.available = pb->stock->available;
        e->stock.reserved = pb->stock->reserved;
        e->stock.sold = pb->stock->sold;
    }
    e->qty = pb->qty;
    ldi_copy_str(e->title, sizeof e->title, pb->title);
    const char *t = pb->topic != NULL && pb->topic[0] != '\0' ? pb->topic : topic;
    ldi_copy_str(e->topic, sizeof e->topic, t);
    e->topic_seq = pb->topic_seq;
    return ok;
}

static void
page_info_from_pb(ld_page_info *out, const Ldpb__PageInfo *pb)
{
    memset(out, 0, sizeof *out);
    if (pb == NULL)
        return;
    out->has_next_page = pb->has_next_page != 0;
    ldi_copy_str(out->end_cursor, sizeof out->end_cursor, pb->end_cursor);
}

static bool
edge_from_pb(ld_follow_edge *e, const Ldpb__FollowEdge *pb)
{
    memset(e, 0, sizeof *e);
    if (pb == NULL)
        return false;
    bool ok = ldi_copy_id(&e->user_id, &pb->user_id);
    ok = ldi_copy_id(&e->creator_id, &pb->creator_id) && ok;
    e->created_at_ms = pb->created_at_ms;
    ldi_copy_str(e->user_name, sizeof e->user_name, pb->user_name);
    ldi_copy_str(e->creator_handle, sizeof e->creator_handle, pb->creator_handle);
    return ok;
}

static bool
follow_page_from_pb(ld_follow_page *p, const Ldpb__FollowPage *pb)
{
    if (pb->n_edges > LD_PAGE_EDGES_MAX)
        return false;
    for (size_t i = 0; i < pb->n_edges; i++)
        if (!edge_from_pb(&p->edges[i], pb->edges[i]))
            return false;
    p->count = (uint32_t)pb->n_edges;
    page_info_from_pb(&p->page_info, pb->page_info);
    return true;
}

static bool
product_page_from_pb(ld_product_page *p, const Ldpb__ProductPage *pb)
{
    if (pb->n_products > LD_PAGE_DROPS_MAX)
        return false;
    for (size_t i = 0; i < pb->n_products; i++)
        if (pb->products[i] == NULL || !product_from_pb(&p->products[i], pb->products[i]))
            return false;
    p->count = (uint32_t)pb->n_products;
    page_info_from_pb(&p->page_info, pb->page_info);
    return true;
}

static bool
drop_page_from_pb(ld_drop_page *p, const Ldpb__DropPage *pb)
{
    if (pb->n_drops > LD_PAGE_DROPS_MAX)
        return false;
    for (size_t i = 0; i < pb->n_drops; i++)
        if (pb->drops[i] == NULL || !ldi_drop_from_pb(&p->drops[i], pb->drops[i]))
            return false;
    p->count = (uint32_t)pb->n_drops;
    page_info_from_pb(&p->page_info, pb->page_info);
    return true;
}

static bool
event_page_from_pb(ld_event_page *p, const Ldpb__EventPage *pb)
{
    if (pb->n_events > LD_PULL_EVENTS_MAX)
        return false;
    for (size_t i = 0; i < pb->n_events; i++)
        if (pb->events[i] == NULL || !ldi_event_from_pb(&p->events[i], pb->events[i], NULL))
            return false;
    p->count = (uint32_t)pb->n_events;
    p->next_after = pb->next_after;
    p->last_seq = pb->last_seq;
    return true;
}

static bool
notification_page_from_pb(ld_notification_page *p, const Ldpb__NotificationPage *pb)
{
    if (pb->n_notifications > LD_PAGE_DROPS_MAX)
        return false;
    for (size_t i = 0; i < pb->n_notifications; i++) {
        const Ldpb__Notification *n = pb->notifications[i];
        ld_notification *out = &p->notifications[i];
        if (n == NULL || n->event == NULL || !ldi_event_from_pb(&out->event, n->event, NULL))
            return false;
        out->kind = (ld_notification_kind)ldi_enum_in((int)n->kind, LD_NOTIFY_DROP_LIVE,
                                                      LD_NOTIFY_ORDER_FAILED);
    }
    p->count = (uint32_t)pb->n_notifications;
    page_info_from_pb(&p->page_info, pb->page_info);
    return true;
}

/* The result's body, if it is of `want` with its message set; else NULL. */
static const void *
body_of(const Ldpb__Result *r, Ldpb__Result__BodyCase want)
{
    if (r->body_case != want)
        return NULL;
    switch (want) {
    case LDPB__RESULT__BODY_USER:
        return r->user;
    case LDPB__RESULT__BODY_CREATOR:
        return r->creator;
    case LDPB__RESULT__BODY_PRODUCT:
        return r->product;
    case LDPB__RESULT__BODY_FOLLOW_STATE:
        return r->follow_state;
    case LDPB__RESULT__BODY_FOLLOW_PAGE:
        return r->follow_page;
    case LDPB__RESULT__BODY_PRODUCT_PAGE:
        return r->product_page;
    case LDPB__RESULT__BODY_DROP_PAGE:
        return r->drop_page;
    case LDPB__RESULT__BODY_EVENT_PAGE:
        return r->event_page;
    case LDPB__RESULT__BODY_NOTIFICATION_PAGE:
        return r->notification_page;
    default:
        return NULL;
    }
}

static bool
convert(ldi_out_kind kind, void *out, const Ldpb__Result *r)
{
    const void *b;
    switch (kind) {
    case LDI_OUT_USER:
        return (b = body_of(r, LDPB__RESULT__BODY_USER)) != NULL && user_from_pb(out, b);
    case LDI_OUT_CREATOR:
        return (b = body_of(r, LDPB__RESULT__BODY_CREATOR)) != NULL && creator_from_pb(out, b);
    case LDI_OUT_PRODUCT:
        return (b = body_of(r, LDPB__RESULT__BODY_PRODUCT)) != NULL && product_from_pb(out, b);
    case LDI_OUT_FOLLOW_STATE:
        return (b = body_of(r, LDPB__RESULT__BODY_FOLLOW_STATE)) != NULL &&
               follow_state_from_pb(out, b);
    case LDI_OUT_FOLLOW_PAGE:
        return (b = body_of(r, LDPB__RESULT__BODY_FOLLOW_PAGE)) != NULL &&
               follow_page_from_pb(out, b);
    case LDI_OUT_PRODUCT_PAGE:
        return (b = body_of(r, LDPB__RESULT__BODY_PRODUCT_PAGE)) != NULL &&
               product_page_from_pb(out, b);
    case LDI_OUT_DROP_PAGE:
        return (b = body_of(r, LDPB__RESULT__BODY_DROP_PAGE)) != NULL && drop_page_from_pb(out, b);
    case LDI_OUT_EVENT_PAGE:
        return (b = body_of(r, LDPB__RESULT__BODY_EVENT_PAGE)) != NULL &&
               event_page_from_pb(out, b);
    case LDI_OUT_NOTIFICATION_PAGE:
        return (b = body_of(r, LDPB__RESULT__BODY_NOTIFICATION_PAGE)) != NULL &&
               notification_page_from_pb(out, b);
    default:
        break;
    }
    LD_ASSERT(!"ldi_wire_pages_body: not a social or catalog out kind");
    return false;
}

bool
ldi_wire_pages_body(ldi_call *call, const Ldpb__Result *r)
{
    LD_ASSERT(call->out != NULL);
    LD_ASSERT(call->out_kind >= LDI_OUT_USER);
    if (convert(call->out_kind, call->out, r))
        return true;
    ldi_out_clear(call->out_kind, call->out);
    return false;
}

void
ldi_out_clear(ldi_out_kind kind, void *out)
{
    if (out == NULL)
        return;
    switch (kind) {
    case LDI_OUT_NONE:
    case LDI_OUT_RAW:
        return;
    case LDI_OUT_DROP:
        memset(out, 0, sizeof(ld_drop));
        return;
    case LDI_OUT_RESERVATION:
        memset(out, 0, sizeof(ld_reservation));
        return;
    case LDI_OUT_ORDER:
        memset(out, 0, sizeof(ld_order));
        return;
    case LDI_OUT_USER:
        memset(out, 0, sizeof(ld_user));
        return;
    case LDI_OUT_CREATOR:
        memset(out, 0, sizeof(ld_creator));
        return;
    case LDI_OUT_PRODUCT:
        memset(out, 0, sizeof(ld_catalog_product));
        return;
    case LDI_OUT_FOLLOW_STATE:
        memset(out, 0, sizeof(ld_follow_state));
        return;
    case LDI_OUT_FOLLOW_PAGE: {
        ld_follow_page *p = out;
        p->count = 0;
        memset(&p->page_info, 0, sizeof p->page_info);
        return;
    }
    case LDI_OUT_PRODUCT_PAGE: {
        ld_product_page *p = out;
        p->count = 0;
        memset(&p->page_info, 0, sizeof p->page_info);
        return;
    }
    case LDI_OUT_DROP_PAGE: {
        ld_drop_page *p = out;
        p->count = 0;
        memset(&p->page_info, 0, sizeof p->page_info);
        return;
    }
    case LDI_OUT_EVENT_PAGE: {
        ld_event_page *p = out;
        p->count = 0;
        p->next_after = 0;
        p->last_seq = 0;
        return;
    }
    case LDI_OUT_NOTIFICATION_PAGE: {
        ld_notification_page *p = out;
        p->count = 0;
        memset(&p->page_info, 0, sizeof p->page_info);
        return;
    }
    case LDI_OUT_CLUSTER_STATUS:
        memset(out, 0, sizeof(ld_node_status));
        return;
    }
}
