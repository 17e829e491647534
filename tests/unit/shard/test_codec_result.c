/*
 * test_codec_result.c -- ld_result / ld_page / ld_event_view -> wire (shard/codec_result.c) and
 * topic names: every body kind is packed, unpacked with the generated ldpb__*__unpack and
 * compared field by field.
 */
#include <stdlib.h>

#include "codec_fixture.h"

static void
set_id(ld_id *id, const uint8_t *bytes)
{
    memcpy(id->bytes, bytes, 16);
}

static bool
bin_eq(ProtobufCBinaryData b, const uint8_t *bytes)
{
    return b.len == 16 && memcmp(b.data, bytes, 16) == 0;
}

/* Packs a Result into a fresh buffer and unpacks it (free with ldpb__result__free_unpacked). */
static Ldpb__Result *
pack_unpack(const Ldpb__Result *pb)
{
    size_t len = ldpb__result__get_packed_size(pb);
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(ldpb__result__pack(pb, buf), len);
    Ldpb__Result *back = ldpb__result__unpack(NULL, len, buf);
    free(buf);
    cr_assert_not_null(back);
    return back;
}

static void
fill_product(ld_op_product *p)
{
    memset(p, 0, sizeof *p);
    set_id(&p->id, id_c);
    set_id(&p->creator_id, id_b);
    snprintf(p->title, sizeof p->title, "Hoodie");
    p->price_minor = 4999;
    memcpy(p->currency, "EUR", 4);
    p->tags_count = 2;
    snprintf(p->tags[0], sizeof p->tags[0], "apparel");
    snprintf(p->tags[1], sizeof p->tags[1], "limited");
    p->attrs_count = 2;
    snprintf(p->attrs[0].key, sizeof p->attrs[0].key, "size");
    snprintf(p->attrs[0].value, sizeof p->attrs[0].value, "XL");
    snprintf(p->attrs[1].key, sizeof p->attrs[1].key, "color");
}

static void
fill_drop(ld_drop_view *d, int i)
{
    memset(d, 0, sizeof *d);
    set_id(&d->spec.id, id_a);
    d->spec.id.bytes[15] = (uint8_t)i;
    set_id(&d->spec.product.creator_id, id_b);
    snprintf(d->spec.product.title, sizeof d->spec.product.title, "Drop %d", i);
    d->spec.product.price_minor = 100 + i;
    memcpy(d->spec.product.currency, "USD", 4);
    d->spec.product.tags_count = 1;
    snprintf(d->spec.product.tags[0], sizeof d->spec.product.tags[0], "t%d", i);
    d->spec.starts_at_ms = 1000;
    d->spec.ends_at_ms = 2000 + i;
    d->spec.initial_stock = 50;
    d->spec.low_stock_threshold = 5;
    d->spec.reservation_ttl_ms = 60000;
    d->status = LD_DROP_LIVE;
    d->stock = (ld_stock){.available = 140 - i, .reserved = 10, .sold = i};
    d->created_at_ms = 900;
}

static void
fill_event(ld_event_view *ev, uint64_t seq)
{
    memset(ev, 0, sizeof *ev);
    ev->seq = seq;
    ev->ts_ms = 5000 + (int64_t)seq;
    ev->type = LD_EVENT_SOLD_OUT;
    set_id(&ev->creator_id, id_b);
    set_id(&ev->drop_id, id_a);
    ev->stock = (ld_stock){.available = 0, .reserved = 3, .sold = 47};
    ev->qty = 2;
    snprintf(ev->title, sizeof ev->title, "Drop");
    ev->topic_seq[LD_TOPIC_CREATOR] = seq + 100;
    ev->topic_seq[LD_TOPIC_DROP] = seq + 200;
}

Test(codec_result, user_creator_follow_state)
{
    /* Goal: USER, CREATOR (with profile) and FOLLOW_STATE results carry every field, with
     * ld_strerror as the message when none is set. Method: encode, pack, unpack, compare. */
    ld_result r;
    memset(&r, 0, sizeof r);
    r.kind = LD_RESULT_USER;
    set_id(&r.u.user.id, id_a);
    snprintf(r.u.user.name, sizeof r.u.user.name, "Ada");
    snprintf(r.u.user.email, sizeof r.u.user.email, "ada@x.org");
    r.u.user.created_at_ms = 77;
    r.u.user.following_count = 3;
    Ldpb__Result pb;
    ld_codec_result_scratch s;
    ld_codec_result_to_pb(&r, &pb, &s);
    Ldpb__Result *back = pack_unpack(&pb);
    cr_assert_eq(back->code, LD_OK);
    cr_assert_str_eq(back->message, ld_strerror(LD_OK));
    cr_assert_eq(back->body_case, LDPB__RESULT__BODY_USER);
    cr_assert(bin_eq(back->user->id, id_a));
    cr_assert_str_eq(back->user->name, "Ada");
    cr_assert_str_eq(back->user->email, "ada@x.org");
    cr_assert_eq(back->user->created_at_ms, 77);
    cr_assert_eq(back->user->following_count, 3);
    ldpb__result__free_unpacked(back, NULL);

    memset(&r, 0, sizeof r);
    r.code = LD_EXISTS;
    r.kind = LD_RESULT_CREATOR;
    set_id(&r.u.creator.spec.id, id_b);
    snprintf(r.u.creator.spec.handle, sizeof r.u.creator.spec.handle, "Studio.9");
    snprintf(r.u.creator.spec.name, sizeof r.u.creator.spec.name, "Studio");
    r.u.creator.spec.profile_count = LD_ATTRS_MAX;
    for (unsigned i = 0; i < LD_ATTRS_MAX; i++) {
        snprintf(r.u.creator.spec.profile[i].key, LD_ATTR_KEY_BYTES_MAX + 1, "k%u", i);
        snprintf(r.u.creator.spec.profile[i].value, LD_ATTR_VALUE_BYTES_MAX + 1, "v%u", i);
    }
    r.u.creator.created_at_ms = 5;
    r.u.creator.follower_count = 1234;
    ld_codec_result_to_pb(&r, &pb, &s);
    back = pack_unpack(&pb);
    cr_assert_eq(back->code, LD_EXISTS);
    cr_assert_eq(back->body_case, LDPB__RESULT__BODY_CREATOR);
    cr_assert(bin_eq(back->creator->id, id_b));
    cr_assert_str_eq(back->creator->handle, "Studio.9");
    cr_assert_str_eq(back->creator->name, "Studio");
    cr_assert_eq(back->creator->n_profile, LD_ATTRS_MAX);
    cr_assert_str_eq(back->creator->profile[7]->key, "k7");
    cr_assert_str_eq(back->creator->profile[7]->value, "v7");
    cr_assert_eq(back->creator->created_at_ms, 5);
    cr_assert_eq(back->creator->follower_count, 1234);
    ldpb__result__free_unpacked(back, NULL);

    memset(&r, 0, sizeof r);
    r.kind = LD_RESULT_FOLLOW_STATE;
    r.u.follow_state = (ld_follow_state){.following = true, .since_ms = 99, .follower_count = 8};
    snprintf(r.message, sizeof r.message, "already following");
    ld_codec_result_to_pb(&r, &pb, &s);
    back = pack_unpack(&pb);
    cr_assert_str_eq(back->message, "already following");
    cr_assert_eq(back->body_case, LDPB__RESULT__BODY_FOLLOW_STATE);
    cr_assert(back->follow_state->following);
    cr_assert_eq(back->follow_state->since_ms, 99);
    cr_assert_eq(back->follow_state->follower_count, 8);
    ldpb__result__free_unpacked(back, NULL);
}

Test(codec_result, catalog_product)
{
    /* Goal: a PRODUCT result is a CatalogProduct with id, creator, title, price, currency,
     * tags, attributes (an empty value included) and both timestamps. Method: round trip. */
    ld_result r;
    memset(&r, 0, sizeof r);
    r.kind = LD_RESULT_PRODUCT;
    fill_product(&r.u.product.spec);
    r.u.product.created_at_ms = 10;
    r.u.product.updated_at_ms = 20;
    Ldpb__Result pb;
    ld_codec_result_scratch s;
    ld_codec_result_to_pb(&r, &pb, &s);
    Ldpb__Result *back = pack_unpack(&pb);
    cr_assert_eq(back->body_case, LDPB__RESULT__BODY_PRODUCT);
    const Ldpb__CatalogProduct *p = back->product;
    cr_assert(bin_eq(p->id, id_c));
    cr_assert(bin_eq(p->creator_id, id_b));
    cr_assert_str_eq(p->title, "Hoodie");
    cr_assert_eq(p->price_minor, 4999);
    cr_assert_str_eq(p->currency, "EUR");
    cr_assert_eq(p->n_tags, 2);
    cr_assert_str_eq(p->tags[1], "limited");
    cr_assert_eq(p->n_attributes, 2);
    cr_assert_str_eq(p->attributes[0]->key, "size");
    cr_assert_str_eq(p->attributes[0]->value, "XL");
    cr_assert_str_eq(p->attributes[1]->key, "color");
    cr_assert_str_eq(p->attributes[1]->value, "");
    cr_assert_eq(p->created_at_ms, 10);
    cr_assert_eq(p->updated_at_ms, 20);
    ldpb__result__free_unpacked(back, NULL);
}

Test(codec_result, drop_carries_product_id_and_cancelled)
{
    /* Goal: a drop scheduled from a catalog product carries product.product_id, an inline one
     * none; status CANCELLED goes on the wire as such. Method: both drops, round trip. */
    ld_result r;
    memset(&r, 0, sizeof r);
    r.kind = LD_RESULT_DROP;
    fill_drop(&r.u.drop, 1);
    Ldpb__Result pb;
    ld_codec_result_scratch s;
    ld_codec_result_to_pb(&r, &pb, &s);
    Ldpb__Result *back = pack_unpack(&pb);
    cr_assert_eq(back->drop->product->product_id.len, 0);
    cr_assert_eq(back->drop->status, LDPB__DROP_STATUS__DROP_STATUS_LIVE);
    ldpb__result__free_unpacked(back, NULL);
    set_id(&r.u.drop.spec.product_id, id_c);
    r.u.drop.status = LD_DROP_CANCELLED;
    ld_codec_result_to_pb(&r, &pb, &s);
    back = pack_unpack(&pb);
    cr_assert(bin_eq(back->drop->product->product_id, id_c));
    cr_assert_eq(back->drop->status, LDPB__DROP_STATUS__DROP_STATUS_CANCELLED);
    cr_assert_str_eq(back->drop->product->title, "Drop 1");
    cr_assert_eq(back->drop->stock->sold, 1);
    ldpb__result__free_unpacked(back, NULL);
}

Test(codec_result, event_with_and_without_topic)
{
    /* Goal: an event carries seq, time, type, its ids (zero ids absent), stock for drop events,
     * qty, title, and topic / topic_seq when given; a follow event has no stock. Method: encode
     * both kinds, pack with ldpb__event__pack, unpack, compare. */
    ld_event_view ev;
    fill_event(&ev, 41);
    Ldpb__Event pb;
    ld_codec_event_scratch s;
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ld_id drop;
    set_id(&drop, id_a);
    ld_topic_format(LD_TOPIC_DROP, &drop, topic);
    ld_codec_event_to_pb(&ev, topic, 241, &pb, &s);
    uint8_t buf[1024];
    size_t len = ldpb__event__pack(&pb, buf);
    Ldpb__Event *back = ldpb__event__unpack(NULL, len, buf);
    cr_assert_not_null(back);
    cr_assert_eq(back->seq, 41);
    cr_assert_eq(back->timestamp_ms, 5041);
    cr_assert_eq(back->type, LDPB__EVENT_TYPE__EVENT_SOLD_OUT);
    cr_assert(bin_eq(back->creator_id, id_b));
    cr_assert(bin_eq(back->drop_id, id_a));
    cr_assert_eq(back->user_id.len, 0);
    cr_assert_eq(back->order_id.len, 0);
    cr_assert_eq(back->reservation_id.len, 0);
    cr_assert_not_null(back->stock);
    cr_assert_eq(back->stock->sold, 47);
    cr_assert_eq(back->stock->reserved, 3);
    cr_assert_eq(back->qty, 2);
    cr_assert_str_eq(back->title, "Drop");
    cr_assert_str_eq(back->topic, topic);
    cr_assert_eq(back->topic_seq, 241);
    ldpb__event__free_unpacked(back, NULL);

    memset(&ev, 0, sizeof ev);
    ev.seq = 3;
    ev.type = LD_EVENT_FOLLOWED;
    set_id(&ev.user_id, id_a);
    set_id(&ev.creator_id, id_b);
    ld_codec_event_to_pb(&ev, NULL, 0, &pb, &s);
    len = ldpb__event__pack(&pb, buf);
    back = ldpb__event__unpack(NULL, len, buf);
    cr_assert_not_null(back);
    cr_assert_eq(back->type, LDPB__EVENT_TYPE__EVENT_FOLLOWED);
    cr_assert_null(back->stock);
    cr_assert(bin_eq(back->user_id, id_a));
    cr_assert_eq(back->drop_id.len, 0);
    cr_assert_str_eq(back->topic, "");
    cr_assert_eq(back->topic_seq, 0);
    ldpb__event__free_unpacked(back, NULL);
}

Test(codec_result, topic_format_and_parse)
{
    /* Goal: topics are "creator/", "drop/" or "user/" + 32 hex digits, formatted lower-case
     * and parsed in either case; anything else (other prefix or case, 31 / 33 digits, a
     * non-hex digit, the zero id, NULL) is refused. Method: format, parse, mutate. */
    ld_id id, out;
    set_id(&id, id_c);
    char t[LD_TOPIC_BYTES_MAX + 1];
    cr_assert_eq(ld_topic_format(LD_TOPIC_CREATOR, &id, t), 40);
    cr_assert_str_eq(t, "creator/abcdef00000000000000000000000042");
    cr_assert_eq(ld_topic_format(LD_TOPIC_DROP, &id, t), 37);
    cr_assert_str_eq(t, "drop/abcdef00000000000000000000000042");
    cr_assert_eq(ld_topic_format(LD_TOPIC_USER, &id, t), 37);
    ld_topic_kind kind;
    cr_assert(ld_topic_parse(t, &kind, &out));
    cr_assert_eq(kind, LD_TOPIC_USER);
    cr_assert(ld_id_eq(&out, &id));
    cr_assert(ld_topic_parse("creator/ABCDEF00000000000000000000000042", &kind, &out));
    cr_assert_eq(kind, LD_TOPIC_CREATOR);
    cr_assert(ld_id_eq(&out, &id));
    cr_assert(ld_topic_parse("drop/AbCdEf00000000000000000000000042", &kind, &out));
    cr_assert_eq(kind, LD_TOPIC_DROP);
    const char *bad[] = {
        "",
        "creator/",
        "creators/abcdef00000000000000000000000042",
        "Creator/abcdef00000000000000000000000042",
        "order/abcdef00000000000000000000000042",
        "creator/abcdef0000000000000000000000004",
        "creator/abcdef000000000000000000000000421",
        "creator/abcdeg00000000000000000000000042",
        "creator/ abcdef0000000000000000000000042",
        "creator/00000000000000000000000000000000",
        "abcdef00000000000000000000000042",
        "user/abcdef00000000000000000000000042\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(ld_topic_parse(bad[i], &kind, &out), "accepted '%s'", bad[i]);
    cr_assert_not(ld_topic_parse(NULL, &kind, &out));
}

/* One heap page for the page tests (an ld_page is about 0.5 MiB). */
static ld_page *
page_new(ld_result_kind kind, uint32_t count)
{
    ld_page *p = calloc(1, sizeof *p);
    cr_assert_not_null(p);
    p->kind = kind;
    p->count = count;
    p->has_next_page = true;
    snprintf(p->end_cursor, sizeof p->end_cursor, "AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    return p;
}

Test(codec_result, follow_and_product_pages)
{
    /* Goal: a full FollowPage (LD_PAGE_EDGES_MAX edges) and a ProductPage carry every entry in
     * order and their page_info; the scratch is reused across kinds. Method: encode, pack,
     * unpack, compare first and last entries. */
    ld_codec_page_scratch *s;
    cr_assert_eq(ld_codec_page_scratch_alloc(&s), LD_OK);
    ld_page *p = page_new(LD_RESULT_FOLLOW_PAGE, LD_PAGE_EDGES_MAX);
    for (uint32_t i = 0; i < p->count; i++) {
        set_id(&p->u.edges[i].user_id, id_a);
        p->u.edges[i].user_id.bytes[0] = (uint8_t)i;
        set_id(&p->u.edges[i].creator_id, id_b);
        p->u.edges[i].created_at_ms = 1000 - i;
        snprintf(p->u.edges[i].user_name, LD_NAME_BYTES_MAX + 1, "u%u", i);
    }
    snprintf(p->u.edges[5].creator_handle, LD_HANDLE_BYTES_MAX + 1, "studio");
    Ldpb__Result pb;
    ld_codec_page_to_pb(p, &pb, s);
    Ldpb__Result *back = pack_unpack(&pb);
    cr_assert_eq(back->code, LD_OK);
    cr_assert_eq(back->body_case, LDPB__RESULT__BODY_FOLLOW_PAGE);
    const Ldpb__FollowPage *fp = back->follow_page;
    cr_assert_eq(fp->n_edges, LD_PAGE_EDGES_MAX);
    cr_assert_eq(fp->edges[999]->user_id.data[0], (uint8_t)999);
    cr_assert(bin_eq(fp->edges[999]->creator_id, id_b));
    cr_assert_eq(fp->edges[999]->created_at_ms, 1);
    cr_assert_str_eq(fp->edges[999]->user_name, "u999");
    cr_assert_str_eq(fp->edges[5]->creator_handle, "studio");
    cr_assert(fp->page_info->has_next_page);
    cr_assert_str_eq(fp->page_info->end_cursor, p->end_cursor);
    ldpb__result__free_unpacked(back, NULL);
    free(p);

    p = page_new(LD_RESULT_PRODUCT_PAGE, 3);
    p->has_next_page = false;
    p->end_cursor[0] = '\0';
    for (uint32_t i = 0; i < 3; i++) {
        fill_product(&p->u.products[i].spec);
        p->u.products[i].spec.price_minor = i;
        p->u.products[i].created_at_ms = 30 - i;
    }
    p->u.products[2].spec.attrs_count = 0;
    p->u.products[2].spec.tags_count = 0;
    ld_codec_page_to_pb(p, &pb, s);
    back = pack_unpack(&pb);
    cr_assert_eq(back->body_case, LDPB__RESULT__BODY_PRODUCT_PAGE);
    const Ldpb__ProductPage *pp = back->product_page;
    cr_assert_eq(pp->n_products, 3);
    cr_assert_eq(pp->products[1]->price_minor, 1);
    cr_assert_eq(pp->products[1]->n_attributes, 2);
    cr_assert_str_eq(pp->products[1]->attributes[0]->value, "XL");
    cr_assert_str_eq(pp->products[0]->tags[0], "apparel");
    cr_assert_eq(pp->products[2]->n_attributes, 0);
    cr_assert_eq(pp->products[2]->n_tags, 0);
    cr_assert_eq(pp->products[2]->created_at_ms, 28);
    cr_assert_not(pp->page_info->has_next_page);
    cr_assert_str_eq(pp->page_info->end_cursor, "");
    ldpb__result__free_unpacked(back, NULL);
    free(p);
    ld_codec_page_scratch_free(s);
}

Test(codec_result, drop_and_empty_pages)
{
    /* Goal: a full DropPage carries each drop with its product, tags and stock; an empty page
     * of each kind encodes with zero entries and its page_info. Method: round trips. */
    ld_codec_page_scratch *s;
    cr_assert_eq(ld_codec_page_scratch_alloc(&s), LD_OK);
    ld_page *p = page_new(LD_RESULT_DROP_PAGE, LD_PAGE_DROPS_MAX);
    for (uint32_t i = 0; i < p->count; i++)
        fill_drop(&p->u.drops[i], (int)i);
    set_id(&p->u.drops[7].spec.product_id, id_c);
    Ldpb__Result pb;
    ld_codec_page_to_pb(p, &pb, s);
    Ldpb__Result *back = pack_unpack(&pb);
    const Ldpb__DropPage *dp = back->drop_page;
    cr_assert_eq(dp->n_drops, LD_PAGE_DROPS_MAX);
    cr_assert_eq(dp->drops[99]->id.data[15], 99);
    cr_assert_str_eq(dp->drops[99]->product->title, "Drop 99");
    cr_assert_str_eq(dp->drops[99]->product->tags[0], "t99");
    cr_assert_eq(dp->drops[99]->stock->available, 41);
    cr_assert_eq(dp->drops[99]->ends_at_ms, 2099);
    cr_assert(bin_eq(dp->drops[7]->product->product_id, id_c));
    cr_assert_eq(dp->drops[8]->product->product_id.len, 0);
    ldpb__result__free_unpacked(back, NULL);
    ld_result_kind kinds[] = {LD_RESULT_FOLLOW_PAGE, LD_RESULT_PRODUCT_PAGE, LD_RESULT_DROP_PAGE,
                              LD_RESULT_EVENT_PAGE, LD_RESULT_NOTIFICATION_PAGE};
    for (size_t k = 0; k < 5; k++) {
        p->kind = kinds[k];
        p->count = 0;
        ld_codec_page_to_pb(p, &pb, s);
        back = pack_unpack(&pb);
        cr_assert_eq(back->code, LD_OK);
        cr_assert_neq(back->body_case, LDPB__RESULT__BODY__NOT_SET);
        ldpb__result__free_unpacked(back, NULL);
    }
    free(p);
    ld_codec_page_scratch_free(s);
}

Test(codec_result, event_and_notification_pages)
{
    /* Goal: an EventPage carries next_after and last_seq; read through a topic each event has
     * the topic and its topic_seq for that topic, read from the stream neither. A
     * NotificationPage carries each kind and its event. Method: round trips, full event page. */
    ld_codec_page_scratch *s;
    cr_assert_eq(ld_codec_page_scratch_alloc(&s), LD_OK);
    ld_page *p = page_new(LD_RESULT_EVENT_PAGE, LD_PULL_EVENTS_MAX);
    for (uint32_t i = 0; i < p->count; i++)
        fill_event(&p->u.events[i], i + 1);
    p->next_after = 1000;
    p->last_seq = 1500;
    Ldpb__Result pb;
    ld_codec_page_to_pb(p, &pb, s);
    Ldpb__Result *back = pack_unpack(&pb);
    const Ldpb__EventPage *ep = back->event_page;
    cr_assert_eq(ep->n_events, LD_PULL_EVENTS_MAX);
    cr_assert_eq(ep->next_after, 1000);
    cr_assert_eq(ep->last_seq, 1500);
    cr_assert_eq(ep->events[999]->seq, 1000);
    cr_assert_str_eq(ep->events[999]->topic, "");
    cr_assert_eq(ep->events[999]->topic_seq, 0);
    ldpb__result__free_unpacked(back, NULL);

    p->count = 2;
    p->topic_kind = LD_TOPIC_CREATOR;
    set_id(&p->topic_id, id_b);
    ld_codec_page_to_pb(p, &pb, s);
    back = pack_unpack(&pb);
    ep = back->event_page;
    cr_assert_eq(ep->n_events, 2);
    cr_assert_str_eq(ep->events[1]->topic, "creator/09090909090909090909090909090909");
    cr_assert_eq(ep->events[1]->topic_seq, 102);
    cr_assert_eq(ep->events[0]->topic_seq, 101);
    ldpb__result__free_unpacked(back, NULL);

    p->kind = LD_RESULT_NOTIFICATION_PAGE;
    p->count = 2;
    p->u.notifications[0].kind = LD_NOTIFY_SOLD_OUT;
    fill_event(&p->u.notifications[0].event, 9);
    p->u.notifications[1].kind = LD_NOTIFY_ORDER_PAID;
    fill_event(&p->u.notifications[1].event, 4);
    p->u.notifications[1].event.type = LD_EVENT_ORDER_PAID;
    set_id(&p->u.notifications[1].event.order_id, id_c);
    ld_codec_page_to_pb(p, &pb, s);
    back = pack_unpack(&pb);
    const Ldpb__NotificationPage *np = back->notification_page;
    cr_assert_eq(np->n_notifications, 2);
    cr_assert_eq(np->notifications[0]->kind, LDPB__NOTIFICATION_KIND__NOTIFICATION_SOLD_OUT);
    cr_assert_eq(np->notifications[0]->event->seq, 9);
    cr_assert_eq(np->notifications[1]->kind, LDPB__NOTIFICATION_KIND__NOTIFICATION_ORDER_PAID);
    cr_assert_eq(np->notifications[1]->event->type, LDPB__EVENT_TYPE__EVENT_ORDER_PAID);
    cr_assert(bin_eq(np->notifications[1]->event->order_id, id_c));
    cr_assert(np->page_info->has_next_page);
    ldpb__result__free_unpacked(back, NULL);
    free(p);
    ld_codec_page_scratch_free(s);
}
