/*
 * test_api.c -- the social and catalog calls of liblivedrop (api_social.c, api_catalog.c,
 * api_events.c, validate_social.c, wire_pages.c) against a scripted fake node: what each call puts
 * on the wire (body, principal), what it refuses before sending (the codec's codes and messages),
 * and how replies land in the caller's structs.
 */
#include "fake_node.h"

static fake_node node;
static ld_client *client;

static void
setup(void)
{
    fake_start(&node);
    ld_client_opts opts = {.timeout_ms = 5000, .inflight_max = 4};
    cr_assert_eq(ld_client_open(node.url, &opts, &client), LD_OK);
}

static void
teardown(void)
{
    ld_client_close(client);
    fake_stop(&node);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 60);

static void
expect_op(uint32_t i, Ldpb__Op__BodyCase body, const ld_id *principal)
{
    pthread_mutex_lock(&node.mu);
    fake_op op = node.ops[i];
    uint32_t nops = node.nops;
    pthread_mutex_unlock(&node.mu);
    cr_assert_lt(i, nops, "op %u was not sent", i);
    cr_assert_eq(op.body, body, "op %u: body case %d, expected %d", i, op.body, body);
    if (principal == NULL) {
        cr_assert_eq(op.principal_len, 0, "op %u: a read carries no principal", i);
    } else {
        cr_assert_eq(op.principal_len, LD_ID_BYTES, "op %u: principal missing", i);
        cr_assert(memcmp(op.principal.bytes, principal->bytes, LD_ID_BYTES) == 0,
                  "op %u: wrong principal", i);
    }
}

Test(api, writes_carry_the_documented_principal_and_reads_none)
{
    /* Every social and catalog call once against the fake node: the op it sends has the right body
     * case and, for writes, the principal livedrop.h documents (the user or creator acting). */
    ld_id user = fake_id(1), creator = fake_id(7), product = fake_id(3000), drop = fake_id(2000);
    ld_errmsg msg;
    ld_user_spec us = {.id = user, .name = "Ada", .email = "ada@example.com"};
    ld_user u;
    cr_assert_eq(ld_user_create(client, &us, &u, &msg), LD_OK, "%s", msg.text);
    cr_assert_str_eq(u.spec.name, "Ada");
    cr_assert_eq(u.following_count, 2);
    expect_op(0, LDPB__OP__BODY_CREATE_USER, &user);

    ld_creator_spec cs = {.id = creator, .handle = "SneakerLab", .name = "Sneaker Lab"};
    cs.profile_count = 1;
    strcpy(cs.profile[0].key, "city");
    ld_creator cr;
    cr_assert_eq(ld_creator_create(client, &cs, &cr, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(cr.follower_count, 1000000);
    expect_op(1, LDPB__OP__BODY_CREATE_CREATOR, &creator);

    ld_follow_state fs;
    cr_assert_eq(ld_follow(client, &user, &creator, &fs, &msg), LD_OK);
    cr_assert(fs.following);
    cr_assert_eq(fs.follower_count, 7);
    expect_op(2, LDPB__OP__BODY_FOLLOW, &user);
    cr_assert_eq(ld_unfollow(client, &user, &creator, &fs, &msg), LD_OK);
    cr_assert(!fs.following);
    expect_op(3, LDPB__OP__BODY_UNFOLLOW, &user);
    cr_assert_eq(ld_is_following(client, &user, &creator, &fs, &msg), LD_OK);
    expect_op(4, LDPB__OP__BODY_IS_FOLLOWING, NULL);

    ld_catalog_product_spec ps = {.id = product,
                                  .creator_id = creator,
                                  .title = "Sneaker X",
                                  .price_minor = 12000,
                                  .currency = "EUR"};
    ld_catalog_product p;
    cr_assert_eq(ld_product_create(client, &ps, &p, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(p.spec.attrs_count, 1);
    cr_assert_str_eq(p.spec.attrs[0].value, "42");
    expect_op(5, LDPB__OP__BODY_CREATE_PRODUCT, &creator);
    cr_assert_eq(ld_product_update(client, &ps, &p, &msg), LD_OK, "%s", msg.text);
    expect_op(6, LDPB__OP__BODY_UPDATE_PRODUCT, &creator);

    ld_drop d;
    cr_assert_eq(ld_drop_cancel(client, &creator, &drop, &d, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(d.status, LD_DROP_CANCELLED, "CANCELLED survives the conversion");
    cr_assert(memcmp(d.spec.product_id.bytes, product.bytes, 16) == 0, "product_id kept");
    expect_op(7, LDPB__OP__BODY_CANCEL_DROP, &creator);

    ld_drop_spec ds = {.id = drop, .product_id = product};
    ds.product.creator_id = creator;
    ds.starts_at_ms = 1700000000000LL;
    ds.ends_at_ms = ds.starts_at_ms + 3600000;
    ds.initial_stock = 10;
    cr_assert_eq(ld_drop_create(client, &ds, &d, &msg), LD_OK, "%s", msg.text);
    expect_op(8, LDPB__OP__BODY_CREATE_DROP, &creator);
    pthread_mutex_lock(&node.mu);
    fake_op cd = node.ops[8];
    pthread_mutex_unlock(&node.mu);
    cr_assert(!cd.create_drop_inline, "a drop from the catalog sends no inline product");
    cr_assert(memcmp(cd.product_id.bytes, product.bytes, 16) == 0);

    cr_assert_eq(ld_user_get(client, &user, &u, &msg), LD_OK);
    expect_op(9, LDPB__OP__BODY_GET_USER, NULL);
    cr_assert_eq(ld_creator_get_by_handle(client, "sneakerlab", &cr, &msg), LD_OK);
    expect_op(10, LDPB__OP__BODY_GET_CREATOR, NULL);
    cr_assert_eq(ld_product_get(client, &product, &p, &msg), LD_OK);
    expect_op(11, LDPB__OP__BODY_GET_PRODUCT, NULL);
}

Test(api, pages_land_in_place_in_the_callers_struct)
{
    /* A full page of followers (LD_PAGE_EDGES_MAX), products, drops, events and notifications
     * from the fake node: counts, ids, page_info and topics arrive; entries past `count` of a
     * reused struct are left alone. */
    ld_errmsg msg;
    ld_id creator = fake_id(7), user = fake_id(1);
    ld_follow_page *fp = malloc(sizeof *fp);
    memset(fp, 0xEE, sizeof *fp);
    cr_assert_eq(ld_followers_list(client, &creator, LD_PAGE_EDGES_MAX, NULL, fp, &msg), LD_OK,
                 "%s", msg.text);
    cr_assert_eq(fp->count, LD_PAGE_EDGES_MAX);
    ld_id last = fake_id(10000 + LD_PAGE_EDGES_MAX - 1);
    cr_assert(memcmp(fp->edges[LD_PAGE_EDGES_MAX - 1].user_id.bytes, last.bytes, 16) == 0);
    cr_assert_str_eq(fp->edges[0].user_name, "follower");
    cr_assert_str_eq(fp->edges[0].creator_handle, "", "each entry is written whole");
    cr_assert(fp->page_info.has_next_page);
    cr_assert_str_eq(fp->page_info.end_cursor, "AQEAAAAAAAAAAQ");

    cr_assert_eq(ld_following_list(client, &user, 2, fp->page_info.end_cursor, fp, &msg), LD_OK);
    cr_assert_eq(fp->count, 2);
    cr_assert_eq(fp->edges[2].created_at_ms, 1700000000000LL - 2, "entry 2 kept from before");

    ld_product_page *pp = calloc(1, sizeof *pp);
    cr_assert_eq(ld_products_list(client, &creator, 0, "", pp, &msg), LD_OK);
    cr_assert_eq(pp->count, 3);
    cr_assert_str_eq(pp->products[2].spec.currency, "EUR");

    ld_drop_page *dp = calloc(1, sizeof *dp);
    ld_drop_filter f = {.status = LD_DROP_CANCELLED, .price_max_minor = -1};
    cr_assert_eq(ld_drops_list(client, &f, 5, NULL, dp, &msg), LD_OK);
    cr_assert_eq(dp->count, 5);
    cr_assert_eq(dp->drops[4].status, LD_DROP_CANCELLED);

    ld_event_page *ep = calloc(1, sizeof *ep);
    cr_assert_eq(
        ld_events_pull(client, "creator/C1000000000000000000000000000007", 0, 4, 0, ep, &msg),
        LD_OK, "%s", msg.text);
    cr_assert_eq(ep->count, 4);
    cr_assert_str_eq(ep->events[0].topic, "creator/c1000000000000000000000000000007",
                     "the topic goes out in canonical lower case");
    cr_assert_eq(ep->events[3].topic_seq, 4);
    cr_assert_eq(ep->events[3].type, LD_EVENT_DROP_LIVE);
    cr_assert_eq(ep->next_after, 4);
    cr_assert_eq(ep->last_seq, 999);

    ld_notification_page *np = calloc(1, sizeof *np);
    cr_assert_eq(ld_notifications_list(client, &user, 0, NULL, np, &msg), LD_OK);
    cr_assert_eq(np->count, 3);
    cr_assert_eq(np->notifications[1].kind, LD_NOTIFY_SOLD_OUT);
    cr_assert_str_eq(np->notifications[1].event.title, "Sneaker X");
    free(fp);
    free(pp);
    free(dp);
    free(ep);
    free(np);
}

Test(api, oversized_page_is_a_protocol_error_with_an_empty_page)
{
    /* A follow page one edge longer than LD_PAGE_EDGES_MAX never overruns the caller's struct:
     * LD_ERR_PROTOCOL, count 0, page_info cleared. */
    pthread_mutex_lock(&node.mu);
    node.page_overflow = true;
    pthread_mutex_unlock(&node.mu);
    ld_follow_page *fp = malloc(sizeof *fp);
    memset(fp, 0xEE, sizeof *fp);
    ld_id creator = fake_id(7);
    ld_errmsg msg;
    cr_assert_eq(ld_followers_list(client, &creator, 0, NULL, fp, &msg), LD_ERR_PROTOCOL);
    cr_assert_eq(fp->count, 0);
    cr_assert(!fp->page_info.has_next_page);
    cr_assert_str_eq(fp->page_info.end_cursor, "");
    free(fp);
}

typedef struct refusal {
    ld_err code;
    const char *message;
} refusal;

static void
expect_refusal(ld_err got, const ld_errmsg *msg, refusal want)
{
    cr_assert_eq(got, want.code, "got %s (%s), expected %s", ld_err_name(got), msg->text,
                 ld_err_name(want.code));
    cr_assert_str_eq(msg->text, want.message);
}

Test(api, bad_arguments_are_refused_before_sending_with_the_codecs_answer)
{
    /* Each bad argument gets the code and message shard/codec.c would answer (the same field
     * names and wording), and nothing reaches the node. */
    ld_errmsg msg;
    ld_id user = fake_id(1), creator = fake_id(7), zero;
    memset(&zero, 0, sizeof zero);
    ld_user_spec us = {.id = user, .name = "Ada", .email = "ada@"};
    expect_refusal(ld_user_create(client, &us, NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_ARGUMENT,
                             "create_user.email: must be local@domain (one '@' with text on both "
                             "sides)"});
    us.name[0] = '\0';
    expect_refusal(
        ld_user_create(client, &us, NULL, &msg), &msg,
        (refusal){LD_ERR_MISSING_FIELD, "create_user.name: required, must not be empty"});
    ld_creator_spec cs = {.id = creator, .handle = "ab", .name = "x"};
    expect_refusal(ld_creator_create(client, &cs, NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_HANDLE,
                             "create_creator.handle: must be 3..32 characters of A-Z, a-z, 0-9, "
                             "'_' and '.'"});
    strcpy(cs.handle, "abc");
    cs.profile_count = LD_ATTRS_MAX + 1;
    expect_refusal(ld_creator_create(client, &cs, NULL, &msg), &msg,
                   (refusal){LD_ERR_VALUE_OUT_OF_RANGE,
                             "create_creator.profile: too many attributes (max 8), got 9"});
    cs.profile_count = 2;
    strcpy(cs.profile[0].key, "k");
    strcpy(cs.profile[1].key, "k");
    expect_refusal(ld_creator_create(client, &cs, NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_ARGUMENT,
                             "create_creator.profile[1].key: duplicate key "
                             "(same as create_creator.profile[0].key)"});
    expect_refusal(ld_follow(client, &user, &zero, NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_ID, "follow.creator_id: must not be all zero"});
    expect_refusal(ld_followers_list(client, &creator, LD_PAGE_EDGES_MAX + 1, NULL, NULL, &msg),
                   &msg,
                   (refusal){LD_ERR_VALUE_OUT_OF_RANGE,
                             "list_followers.first: 1001 is above the maximum 1000"});
    expect_refusal(ld_products_list(client, &creator, 0, "not/base64", NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_CURSOR,
                             "list_products.after: not a cursor (base64url characters only)"});
    ld_catalog_product_spec ps = {
        .id = fake_id(3), .creator_id = creator, .title = "T", .price_minor = 1, .currency = "eur"};
    expect_refusal(ld_product_create(client, &ps, NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_CURRENCY,
                             "create_product.currency: must be 3 upper-case letters"});
    ld_drop_filter f = {.status = 0, .price_max_minor = -1};
    expect_refusal(
        ld_drops_list(client, &f, 0, NULL, NULL, &msg), &msg,
        (refusal){LD_ERR_INVALID_ARGUMENT,
                  "list_drops.status: 0 is not 1..4 (UPCOMING, LIVE, ENDED, CANCELLED)"});
    f = (ld_drop_filter){.status = LD_DROP_LIVE, .price_min_minor = 5, .price_max_minor = 4};
    expect_refusal(ld_drops_list(client, &f, 0, NULL, NULL, &msg), &msg,
                   (refusal){LD_ERR_VALUE_OUT_OF_RANGE,
                             "list_drops.price_max_minor: 4 is below price_min_minor 5"});
    expect_refusal(ld_events_pull(client, "creator/123", 0, 0, 0, NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_TOPIC, "pull_events.topic: must be creator/, drop/ or "
                                                   "user/ followed by 32 hex digits"});
    expect_refusal(ld_events_pull(client, NULL, 0, 0, LD_PULL_WAIT_MS_MAX + 1, NULL, &msg), &msg,
                   (refusal){LD_ERR_VALUE_OUT_OF_RANGE,
                             "pull_events.wait_ms: 30001 is above the maximum 30000"});
    ld_drop_spec ds = {.id = fake_id(9), .product_id = fake_id(3), .product.title = "inline"};
    expect_refusal(ld_drop_create(client, &ds, NULL, &msg), &msg,
                   (refusal){LD_ERR_INVALID_ARGUMENT,
                             "create_drop.product: must be empty when product_id is set"});
    pthread_mutex_lock(&node.mu);
    uint32_t sent = node.nops;
    pthread_mutex_unlock(&node.mu);
    cr_assert_eq(sent, 0, "refused calls sent nothing");
}
