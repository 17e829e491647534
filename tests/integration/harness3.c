/*
 * harness3.c -- accounts, catalog, follows, events, push and raw ops for the social and catalog
 * suites.
 *
 * See harness3.h. Everything goes through the public client API (livedrop.h) except the raw ops,
 * which pack a Request with protobuf-c and send it with ld_client_raw().
 */
#include "harness3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

/* ---- polling ------------------------------------------------------------------------------ */

void
ldh_wait_clock_past(int64_t t_ms)
{
    while (ldh_now_ms() <= t_ms)
        ldh_sleep_ms(1);
}

/* ---- accounts and catalog ----------------------------------------------------------------- */

ld_id
ldh_user_create(ld_client *c, const char *name, ld_user *out)
{
    ld_user_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = ldh_id();
    snprintf(spec.name, sizeof spec.name, "%s", name);
    snprintf(spec.email, sizeof spec.email, "%.12s@example.com", ldh_hex(&spec.id));
    ld_user user;
    ld_errmsg msg = {{0}};
    ld_err err = ld_user_create(c, &spec, &user, &msg);
    cr_assert_eq(err, LD_OK, "ld_user_create(%s): %s (%s)", name, ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&user.spec.id, &spec.id), "created user has another id");
    if (out)
        *out = user;
    return spec.id;
}

ld_id
ldh_creator_create(ld_client *c, const char *prefix, ld_creator *out)
{
    ld_creator_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = ldh_id();
    snprintf(spec.handle, sizeof spec.handle, "%s%.8s", prefix, ldh_hex(&spec.id));
    snprintf(spec.name, sizeof spec.name, "Creator %s", spec.handle);
    spec.profile_count = 1;
    snprintf(spec.profile[0].key, sizeof spec.profile[0].key, "bio");
    snprintf(spec.profile[0].value, sizeof spec.profile[0].value, "makes things");
    ld_creator creator;
    ld_errmsg msg = {{0}};
    ld_err err = ld_creator_create(c, &spec, &creator, &msg);
    cr_assert_eq(err, LD_OK, "ld_creator_create(%s): %s (%s)", spec.handle, ld_err_name(err),
                 msg.text);
    cr_assert(ldh_id_eq(&creator.spec.id, &spec.id), "created creator has another id");
    if (out)
        *out = creator;
    return spec.id;
}

void
ldh_catalog_spec(ld_catalog_product_spec *spec, const ld_id *creator, const char *title,
                 int64_t price_minor, const char *const *tags)
{
    memset(spec, 0, sizeof *spec);
    spec->id = ldh_id();
    spec->creator_id = *creator;
    snprintf(spec->title, sizeof spec->title, "%s", title);
    spec->price_minor = price_minor;
    memcpy(spec->currency, "EUR", 4);
    for (size_t i = 0; tags && tags[i] && i < LD_TAGS_MAX; i++)
        snprintf(spec->tags[spec->tags_count++], sizeof spec->tags[0], "%s", tags[i]);
    spec->attrs_count = 1;
    snprintf(spec->attrs[0].key, sizeof spec->attrs[0].key, "color");
    snprintf(spec->attrs[0].value, sizeof spec->attrs[0].value, "black");
}

void
ldh_product_create(ld_client *c, const ld_catalog_product_spec *spec, ld_catalog_product *out)
{
    ld_catalog_product p;
    ld_errmsg msg = {{0}};
    ld_err err = ld_product_create(c, spec, &p, &msg);
    cr_assert_eq(err, LD_OK, "ld_product_create(%s): %s (%s)", spec->title, ld_err_name(err),
                 msg.text);
    cr_assert(ldh_id_eq(&p.spec.id, &spec->id), "created product has another id");
    if (out)
        *out = p;
}

void
ldh_drop_spec_at(ld_drop_spec *spec, const ld_id *creator, int64_t starts_at_ms, int64_t ends_at_ms,
                 int64_t stock)
{
    ldh_drop_spec_live(spec, stock, 0, 0);
    spec->product.creator_id = *creator;
    spec->starts_at_ms = starts_at_ms;
    spec->ends_at_ms = ends_at_ms;
}

/* ---- follows ------------------------------------------------------------------------------ */

ld_err
ldh_user_ensure(ld_client *c, const ld_id *user)
{
    ld_user_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = *user;
    snprintf(spec.name, sizeof spec.name, "user %.12s", ldh_hex(user));
    snprintf(spec.email, sizeof spec.email, "%.12s@example.com", ldh_hex(user));
    ld_user got;
    ld_err err = ld_user_create(c, &spec, &got, NULL);
    /* ID_CONFLICT: the test created this user earlier with its own fields. */
    return err == LD_EXISTS || err == LD_ERR_ID_CONFLICT ? LD_OK : err;
}

void
ldh_follow(ld_client *c, const ld_id *user, const ld_id *creator, ld_follow_state *out)
{
    ld_follow_state st;
    ld_errmsg msg = {{0}};
    ld_err err = ldh_user_ensure(c, user);
    cr_assert_eq(err, LD_OK, "ldh_user_ensure(%s): %s", ldh_hex(user), ld_err_name(err));
    err = ld_follow(c, user, creator, &st, &msg);
    cr_assert_eq(err, LD_OK, "ld_follow(%s -> %s): %s (%s)", ldh_hex(user), ldh_hex(creator),
                 ld_err_name(err), msg.text);
    cr_assert(st.following, "ld_follow answered following = false");
    if (out)
        *out = st;
}

void
ldh_unfollow(ld_client *c, const ld_id *user, const ld_id *creator, ld_follow_state *out)
{
    ld_follow_state st;
    ld_errmsg msg = {{0}};
    ld_err err = ld_unfollow(c, user, creator, &st, &msg);
    cr_assert_eq(err, LD_OK, "ld_unfollow(%s -> %s): %s (%s)", ldh_hex(user), ldh_hex(creator),
                 ld_err_name(err), msg.text);
    cr_assert_not(st.following, "ld_unfollow answered following = true");
    if (out)
        *out = st;
}

bool
ldh_following_has(ld_client *c, const ld_id *user, const ld_id *creator)
{
    ld_follow_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    ld_err err = ld_following_list(c, user, LD_PAGE_EDGES_MAX, NULL, page, &msg);
    cr_assert_eq(err, LD_OK, "ld_following_list: %s (%s)", ld_err_name(err), msg.text);
    bool found = false;
    for (uint32_t i = 0; i < page->count; i++)
        if (ldh_id_eq(&page->edges[i].creator_id, creator))
            found = true;
    free(page);
    return found;
}

void
ldh_wait_following(ld_client *c, const ld_id *user, const ld_id *creator, bool following,
                   int64_t timeout_ms)
{
    LDH_POLL_UNTIL(timeout_ms, ldh_following_has(c, user, creator) == following,
                   "list_following of %s still %s %s after %lld ms", ldh_hex(user),
                   following ? "lacks" : "holds", ldh_hex(creator), (long long)timeout_ms);
}

/* ---- events ------------------------------------------------------------------------------- */

void
ldh_events_free(ldh_events *evs)
{
    free(evs->v);
    memset(evs, 0, sizeof *evs);
}

static void
events_push(ldh_events *evs, const ld_event *ev)
{
    if (evs->n == evs->cap) {
        evs->cap = evs->cap ? evs->cap * 2 : 256;
        evs->v = realloc(evs->v, evs->cap * sizeof *evs->v);
        cr_assert(evs->v);
    }
    evs->v[evs->n++] = *ev;
}

const char *
ldh_topic(char out[LD_TOPIC_BYTES_MAX + 1], const char *kind, const ld_id *id)
{
    char hex[33];
    ld_id_format(id, hex);
    snprintf(out, LD_TOPIC_BYTES_MAX + 1, "%s/%s", kind, hex);
    return out;
}

/* Checks one page's events for density after *next and advances *next. */
static void
events_check_dense(const ld_event_page *page, const char *topic, uint64_t *next)
{
    for (uint32_t i = 0; i < page->count; i++) {
        const ld_event *ev = &page->events[i];
        uint64_t pos = topic ? ev->topic_seq : ev->seq;
        cr_assert_eq(pos, *next + 1, "%s: event %s at %s %llu, expected %llu (a gap or a repeat)",
                     topic ? topic : "stream", ldh_event_name(ev->type),
                     topic ? "topic_seq" : "seq", (unsigned long long)pos,
                     (unsigned long long)(*next + 1));
        if (topic)
            cr_assert_str_eq(ev->topic, topic, "an event read through %s carries topic \"%s\"",
                             topic, ev->topic);
        *next = pos;
    }
    cr_assert_eq(page->next_after, *next, "next_after %llu, expected %llu",
                 (unsigned long long)page->next_after, (unsigned long long)*next);
}

uint64_t
ldh_events_pull_all(ld_client *c, const char *topic, uint64_t after, uint32_t max, ldh_events *out)
{
    ld_event_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    uint64_t next = after;
    uint64_t last_seq = 0;
    for (;;) {
        ld_errmsg msg = {{0}};
        ld_err err = ld_events_pull(c, topic, next, max, 0, page, &msg);
        cr_assert_eq(err, LD_OK, "ld_events_pull(%s, %llu): %s (%s)", topic ? topic : "stream",
                     (unsigned long long)next, ld_err_name(err), msg.text);
        cr_assert_leq(page->count, max ? max : LD_PULL_EVENTS_MAX);
        events_check_dense(page, topic, &next);
        for (uint32_t i = 0; i < page->count; i++)
            events_push(out, &page->events[i]);
        last_seq = page->last_seq;
        if (page->count == 0)
            break;
    }
    cr_assert_eq(last_seq, next, "%s: read up to %llu but last_seq is %llu",
                 topic ? topic : "stream", (unsigned long long)next, (unsigned long long)last_seq);
    free(page);
    return last_seq;
}

ld_event
ldh_events_wait(ld_client *c, const char *topic, uint64_t *after, ld_event_type type,
                const ld_id *drop_id, int64_t timeout_ms)
{
    ld_event_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    int64_t deadline = ldh_mono_ms() + timeout_ms;
    ld_event found;
    memset(&found, 0, sizeof found);
    bool have = false;
    while (!have) {
        int64_t left = deadline - ldh_mono_ms();
        cr_assert_gt(left, 0, "no %s event on %s within %lld ms", ldh_event_name(type),
                     topic ? topic : "the stream", (long long)timeout_ms);
        uint32_t wait_ms = left > 1000 ? 1000 : (uint32_t)left;
        ld_errmsg msg = {{0}};
        ld_err err = ld_events_pull(c, topic, *after, 0, wait_ms, page, &msg);
        cr_assert_eq(err, LD_OK, "ld_events_pull(%s, %llu, wait): %s (%s)",
                     topic ? topic : "stream", (unsigned long long)*after, ld_err_name(err),
                     msg.text);
        for (uint32_t i = 0; i < page->count && !have; i++) {
            const ld_event *ev = &page->events[i];
            *after = topic ? ev->topic_seq : ev->seq;
            if (ev->type == type && (!drop_id || ldh_id_eq(&ev->drop_id, drop_id))) {
                found = *ev;
                have = true;
            }
        }
    }
    free(page);
    return found;
}

long
ldh_events_find(const ldh_events *evs, size_t from, ld_event_type type, const ld_id *drop_id)
{
    for (size_t i = from; i < evs->n; i++)
        if (evs->v[i].type == type && (!drop_id || ldh_id_eq(&evs->v[i].drop_id, drop_id)))
            return (long)i;
    return -1;
}

const char *
ldh_event_name(ld_event_type type)
{
    static const char *const names[] = {
        [LD_EVENT_DROP_SCHEDULED] = "DROP_SCHEDULED",
        [LD_EVENT_DROP_LIVE] = "DROP_LIVE",
        [LD_EVENT_LOW_STOCK] = "LOW_STOCK",
        [LD_EVENT_SOLD_OUT] = "SOLD_OUT",
        [LD_EVENT_DROP_ENDED] = "DROP_ENDED",
        [LD_EVENT_DROP_CANCELLED] = "DROP_CANCELLED",
        [LD_EVENT_STOCK_CHANGED] = "STOCK_CHANGED",
        [LD_EVENT_RESERVATION_EXPIRED] = "RESERVATION_EXPIRED",
        [LD_EVENT_ORDER_PAID] = "ORDER_PAID",
        [LD_EVENT_ORDER_FAILED] = "ORDER_FAILED",
        [LD_EVENT_FOLLOWED] = "FOLLOWED",
        [LD_EVENT_UNFOLLOWED] = "UNFOLLOWED",
    };
    if ((int)type > 0 && (size_t)type < sizeof names / sizeof names[0] && names[type])
        return names[type];
    return "UNKNOWN_EVENT";
}

bool
ldh_event_same(const ld_event *a, const ld_event *b)
{
    return a->seq == b->seq && a->shard == b->shard && a->timestamp_ms == b->timestamp_ms &&
           a->type == b->type && ldh_id_eq(&a->creator_id, &b->creator_id) &&
           ldh_id_eq(&a->drop_id, &b->drop_id) && ldh_id_eq(&a->user_id, &b->user_id) &&
           ldh_id_eq(&a->order_id, &b->order_id) &&
           ldh_id_eq(&a->reservation_id, &b->reservation_id) &&
           a->stock.available == b->stock.available && a->stock.reserved == b->stock.reserved &&
           a->stock.sold == b->stock.sold && a->qty == b->qty && strcmp(a->title, b->title) == 0;
}

/* ---- push --------------------------------------------------------------------------------- */

ld_subscriber *
ldh_subscriber_synced(const ldh_node *node, ld_client *c, const ld_id *creator,
                      uint64_t *last_topic_seq_out)
{
    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_topic(topic, "creator", creator);
    ld_subscriber *sub = NULL;
    ld_err err = ld_subscriber_open(node->pub_url, &sub);
    cr_assert_eq(err, LD_OK, "ld_subscriber_open(%s): %s", node->pub_url, ld_err_name(err));
    err = ld_subscribe(sub, topic);
    cr_assert_eq(err, LD_OK, "ld_subscribe(%s): %s", topic, ld_err_name(err));
    ld_id probe = ldh_id();
    int64_t deadline = ldh_mono_ms() + 10000;
    ld_event ev;
    memset(&ev, 0, sizeof ev);
    bool live = false;
    for (int i = 0; !live; i++) {
        cr_assert_lt(ldh_mono_ms(), deadline, "subscriber on %s received nothing in 10 s",
                     node->pub_url);
        if (i % 2 == 0)
            ldh_follow(c, &probe, creator, NULL);
        else
            ldh_unfollow(c, &probe, creator, NULL);
        live = ld_subscriber_recv(sub, 200, &ev) == LD_OK;
    }
    /* Make sure the probe is not left following, then drain up to the topic's last event. */
    ldh_unfollow(c, &probe, creator, NULL);
    ldh_events evs = {0};
    uint64_t last = ldh_events_pull_all(c, topic, 0, 0, &evs);
    ldh_events_free(&evs);
    while (ev.topic_seq < last) {
        err = ld_subscriber_recv(sub, 5000, &ev);
        cr_assert_eq(err, LD_OK, "subscriber: topic_seq %llu of %s never came (last seen %llu)",
                     (unsigned long long)last, topic, (unsigned long long)ev.topic_seq);
        cr_assert_str_eq(ev.topic, topic);
    }
    *last_topic_seq_out = last;
    return sub;
}

/* ---- raw ops ------------------------------------------------------------------------------ */

ProtobufCBinaryData
ldh_pb_id(const ld_id *id)
{
    return (ProtobufCBinaryData){.len = sizeof id->bytes, .data = (uint8_t *)id->bytes};
}

uint32_t
ldh_raw_ops(ld_client *c, Ldpb__Op **ops, size_t n, uint32_t *codes_out,
            char (*msgs_out)[LD_MESSAGE_BYTES_MAX + 1])
{
    Ldpb__Request req = LDPB__REQUEST__INIT;
    req.version = LD_PROTOCOL_VERSION;
    req.request_id = 7;
    req.n_ops = n;
    req.ops = ops;
    size_t len = ldpb__request__get_packed_size(&req);
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert(buf);
    cr_assert_eq(ldpb__request__pack(&req, buf), len);
    void *reply = NULL;
    size_t reply_len = 0;
    ld_err err = ld_client_raw(c, buf, len, &reply, &reply_len);
    free(buf);
    cr_assert_eq(err, LD_OK, "ld_client_raw: %s", ld_err_name(err));
    Ldpb__Response *resp = ldpb__response__unpack(NULL, reply_len, reply);
    cr_assert(resp, "the reply (%zu bytes) is not a Response", reply_len);
    uint32_t env = resp->code;
    if (env != 0) {
        cr_assert_eq(resp->n_results, 0, "envelope error %u with results", env);
        cr_assert(resp->message && resp->message[0], "envelope error %u without a message", env);
    } else {
        cr_assert_eq(resp->n_results, n, "%zu ops, %zu results", n, resp->n_results);
    }
    for (size_t i = 0; i < n; i++) {
        const char *m = env ? resp->message : resp->results[i]->message;
        codes_out[i] = env ? env : resp->results[i]->code;
        if (codes_out[i] != LD_OK && codes_out[i] != LD_EXISTS) {
            cr_assert(m && m[0], "op %zu: %s without a message", i,
                      ld_err_name((ld_err)codes_out[i]));
            cr_assert_leq(strlen(m), LD_MESSAGE_BYTES_MAX, "op %zu: message over the limit", i);
        }
        if (msgs_out)
            snprintf(msgs_out[i], LD_MESSAGE_BYTES_MAX + 1, "%s", m ? m : "");
    }
    ldpb__response__free_unpacked(resp, NULL);
    free(reply);
    return env;
}

ld_err
ldh_raw_op(ld_client *c, Ldpb__Op *op, char msg_out[LD_MESSAGE_BYTES_MAX + 1])
{
    uint32_t code = 0;
    char msgs[1][LD_MESSAGE_BYTES_MAX + 1];
    ldh_raw_ops(c, &op, 1, &code, msgs);
    if (msg_out)
        snprintf(msg_out, LD_MESSAGE_BYTES_MAX + 1, "%s", msgs[0]);
    return (ld_err)code;
}
