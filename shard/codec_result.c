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

/* The social and catalog kinds of a single result. */
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

/* ---- events -------------------------------------------------------------------------------- */

void
ld_codec_event_to_pb(const ld_event_view *ev, const char *topic, uint64_t topic_seq,
                     Ldpb__Event *pb_out, ld_codec_event_scratch *scratch)
{
    LD_ASSERT(ev != NULL);
    LD_ASSERT(pb_out != NULL && scratch != NULL);
    ldpb__event__init(pb_out);
    pb_out->seq = ev->seq;
    pb_out->shard = 0; /* one shard per node for now (source shard 0) */
    pb_out->timestamp_ms = ev->ts_ms;
    pb_out->type = (Ldpb__EventType)ev->type;
    pb_out->creator_id = ldi_codec_opt_bin(&ev->creator_id);
    pb_out->drop_id = ldi_codec_opt_bin(&ev->drop_id);
    pb_out->user_id = ldi_codec_opt_bin(&ev->user_id);
    pb_out->order_id = ldi_codec_opt_bin(&ev->order_id);
    pb_out->reservation_id = ldi_codec_opt_bin(&ev->reservation_id);
    if (!ld_id_is_zero(&ev->drop_id)) {
        /* Drop events carry the stock after the change. */
        stock_to_pb(&ev->stock, &scratch->stock);
        pb_out->stock = &scratch->stock;
    }
    pb_out->qty = ev->qty;
    pb_out->title = (char *)ev->title;
    if (topic != NULL)
        pb_out->topic = (char *)topic;
    pb_out->topic_seq = topic_seq;
}

/* ---- pages --------------------------------------------------------------------------------- */

/* Every wire message a page of any kind needs, one kind at a time. */
struct ld_codec_page_scratch {
    Ldpb__PageInfo page_info;
    union {
        struct {
            Ldpb__FollowPage page;
            Ldpb__FollowEdge edges[LD_PAGE_EDGES_MAX];
            Ldpb__FollowEdge *ptrs[LD_PAGE_EDGES_MAX];
        } follow;
        struct {
            Ldpb__ProductPage page;
            Ldpb__CatalogProduct products[LD_PAGE_DROPS_MAX];
            Ldpb__CatalogProduct *ptrs[LD_PAGE_DROPS_MAX];
            char *tags[LD_PAGE_DROPS_MAX][LD_TAGS_MAX];
            Ldpb__Attribute attrs[LD_PAGE_DROPS_MAX][LD_ATTRS_MAX];
            Ldpb__Attribute *attr_ptrs[LD_PAGE_DROPS_MAX][LD_ATTRS_MAX];
        } product;
        struct {
            Ldpb__DropPage page;
            Ldpb__Drop drops[LD_PAGE_DROPS_MAX];
            Ldpb__Drop *ptrs[LD_PAGE_DROPS_MAX];
            Ldpb__Product products[LD_PAGE_DROPS_MAX];
            char *tags[LD_PAGE_DROPS_MAX][LD_TAGS_MAX];
            Ldpb__Stock stocks[LD_PAGE_DROPS_MAX];
        } drop;
        struct {
            Ldpb__EventPage page;
            Ldpb__Event events[LD_PULL_EVENTS_MAX];
            Ldpb__Event *ptrs[LD_PULL_EVENTS_MAX];
            ld_codec_event_scratch scratch[LD_PULL_EVENTS_MAX];
            char topic[LD_TOPIC_BYTES_MAX + 1];
        } event;
        struct {
            Ldpb__NotificationPage page;
            Ldpb__Notification notes[LD_PAGE_DROPS_MAX];
            Ldpb__Notification *ptrs[LD_PAGE_DROPS_MAX];
            Ldpb__Event events[LD_PAGE_DROPS_MAX];
            ld_codec_event_scratch scratch[LD_PAGE_DROPS_MAX];
        } note;
    } u;
};

ld_err
ld_codec_page_scratch_alloc(ld_codec_page_scratch **out)
{
    LD_ASSERT(out != NULL);
    ld_codec_page_scratch *s = calloc(1, sizeof *s);
    if (s == NULL)
        return LD_ERR_NOMEM;
    *out = s;
    return LD_OK;
}

void
ld_codec_page_scratch_free(ld_codec_page_scratch *scratch)
{
    free(scratch);
}

static Ldpb__PageInfo *
page_info_to_pb(const ld_page *page, ld_codec_page_scratch *s)
{
    ldpb__page_info__init(&s->page_info);
    s->page_info.has_next_page = page->has_next_page;
    s->page_info.end_cursor = (char *)page->end_cursor;
    return &s->page_info;
}

static void
follow_page_to_pb(const ld_page *page, Ldpb__Result *pb, ld_codec_page_scratch *s)
{
    LD_ASSERT(page->count <= LD_PAGE_EDGES_MAX);
    ldpb__follow_page__init(&s->u.follow.page);
    for (uint32_t i = 0; i < page->count; i++) {
        const ld_follow_edge_view *e = &page->u.edges[i];
        Ldpb__FollowEdge *w = &s->u.follow.edges[i];
        ldpb__follow_edge__init(w);
        w->user_id = ldi_codec_bin(&e->user_id);
        w->creator_id = ldi_codec_bin(&e->creator_id);
        w->created_at_ms = e->created_at_ms;
        w->user_name = (char *)e->user_name;
        w->creator_handle = (char *)e->creator_handle;
        s->u.follow.ptrs[i] = w;
    }
    s->u.follow.page.n_edges = page->count;
    s->u.follow.page.edges = page->count ? s->u.follow.ptrs : NULL;
    s->u.follow.page.page_info = page_info_to_pb(page, s);
    pb->body_case = LDPB__RESULT__BODY_FOLLOW_PAGE;
    pb->follow_page = &s->u.follow.page;
}

static void
product_page_to_pb(const ld_page *page, Ldpb__Result *pb, ld_codec_page_scratch *s)
{
    LD_ASSERT(page->count <= LD_PAGE_DROPS_MAX);
    ldpb__product_page__init(&s->u.product.page);
    for (uint32_t i = 0; i < page->count; i++) {
        catalog_to_pb(&page->u.products[i], &s->u.product.products[i], s->u.product.tags[i],
                      s->u.product.attrs[i], s->u.product.attr_ptrs[i]);
        s->u.product.ptrs[i] = &s->u.product.products[i];
    }
    s->u.product.page.n_products = page->count;
    s->u.product.page.products = page->count ? s->u.product.ptrs : NULL;
    s->u.product.page.page_info = page_info_to_pb(page, s);
    pb->body_case = LDPB__RESULT__BODY_PRODUCT_PAGE;
    pb->product_page = &s->u.product.page;
}

static void
drop_page_to_pb(const ld_page *page, Ldpb__Result *pb, ld_codec_page_scratch *s)
{
    LD_ASSERT(page->count <= LD_PAGE_DROPS_MAX);
    ldpb__drop_page__init(&s->u.drop.page);
    for (uint32_t i = 0; i < page->count; i++) {
        drop_to_pb(&page->u.drops[i], &s->u.drop.drops[i], &s->u.drop.products[i],
                   s->u.drop.tags[i], &s->u.drop.stocks[i]);
        s->u.drop.ptrs[i] = &s->u.drop.drops[i];
    }
    s->u.drop.page.n_drops = page->count;
    s->u.drop.page.drops = page->count ? s->u.drop.ptrs : NULL;
    s->u.drop.page.page_info = page_info_to_pb(page, s);
    pb->body_case = LDPB__RESULT__BODY_DROP_PAGE;
    pb->drop_page = &s->u.drop.page;
}

/* Events read through a topic carry that topic and their position in it. */
static void
event_page_to_pb(const ld_page *page, Ldpb__Result *pb, ld_codec_page_scratch *s)
{
    LD_ASSERT(page->count <= LD_PULL_EVENTS_MAX);
    const char *topic = NULL;
    if (page->topic_kind != LD_TOPIC_NONE) {
        ld_topic_format(page->topic_kind, &page->topic_id, s->u.event.topic);
        topic = s->u.event.topic;
    }
    ldpb__event_page__init(&s->u.event.page);
    for (uint32_t i = 0; i < page->count; i++) {
        const ld_event_view *ev = &page->u.events[i];
        uint64_t topic_seq = topic != NULL ? ev->topic_seq[page->topic_kind] : 0;
        ld_codec_event_to_pb(ev, topic, topic_seq, &s->u.event.events[i], &s->u.event.scratch[i]);
        s->u.event.ptrs[i] = &s->u.event.events[i];
    }
    s->u.event.page.n_events = page->count;
    s->u.event.page.events = page->count ? s->u.event.ptrs : NULL;
    s->u.event.page.next_after = page->next_after;
    s->u.event.page.last_seq = page->last_seq;
    pb->body_case = LDPB__RESULT__BODY_EVENT_PAGE;
    pb->event_page = &s->u.event.page;
}

static void
notification_page_to_pb(const ld_page *page, Ldpb__Result *pb, ld_codec_page_scratch *s)
{
    LD_ASSERT(page->count <= LD_PAGE_DROPS_MAX);
    ldpb__notification_page__init(&s->u.note.page);
    for (uint32_t i = 0; i < page->count; i++) {
        const ld_notification_view *n = &page->u.notifications[i];
        Ldpb__Notification *w = &s->u.note.notes[i];
        ldpb__notification__init(w);
        w->kind = (Ldpb__NotificationKind)n->kind;
        ld_codec_event_to_pb(&n->event, NULL, 0, &s->u.note.events[i], &s->u.note.scratch[i]);
        w->event = &s->u.note.events[i];
        s->u.note.ptrs[i] = w;
    }
    s->u.note.page.n_notifications = page->count;
    s->u.note.page.notifications = page->count ? s->u.note.ptrs : NULL;
    s->u.note.page.page_info = page_info_to_pb(page, s);
    pb->body_case = LDPB__RESULT__BODY_NOTIFICATION_PAGE;
    pb->notification_page = &s->u.note.page;
}

void
ld_codec_page_to_pb(const ld_page *page, Ldpb__Result *pb_out, ld_codec_page_scratch *scratch)
{
    LD_ASSERT(page != NULL);
    LD_ASSERT(pb_out != NULL && scratch != NULL);
    ldpb__result__init(pb_out);
    pb_out->code = LD_OK;
    pb_out->message = (char *)ld_strerror(LD_OK);
    switch (page->kind) {
    case LD_RESULT_FOLLOW_PAGE:
        follow_page_to_pb(page, pb_out, scratch);
        break;
    case LD_RESULT_PRODUCT_PAGE:
        product_page_to_pb(page, pb_out, scratch);
        break;
    case LD_RESULT_DROP_PAGE:
        drop_page_to_pb(page, pb_out, scratch);
        break;
    case LD_RESULT_EVENT_PAGE:
        event_page_to_pb(page, pb_out, scratch);
        break;
    case LD_RESULT_NOTIFICATION_PAGE:
        notification_page_to_pb(page, pb_out, scratch);
        break;
    default:
        LD_ASSERT(!"ld_codec_page_to_pb: not a page kind");
    }
}
