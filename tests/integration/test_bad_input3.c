/*
 * test_bad_input3.c -- the negative space of the social and catalog ops: each bad field
 * gets its code and a message, and the node keeps serving everyone else (P6).
 *
 * Hand-made ops (protobuf-c messages the client library's checks would refuse)
 * go to the node through ld_client_raw on their own connection. After each one
 * a well-behaved client on another connection must still be served: it reads
 * the creator and flips a follow, and the creator's follower count must match
 * what it did.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(bad_input3, .fini = ldh_suite_fini, .timeout = 120);

typedef struct b3_ctx {
    ldh_node node;
    ld_client *good; /* the neighbour */
    ld_client *raw;  /* the hostile connection */
    ld_id creator, fan, drop;
    bool following;
    char live_cursor[LD_CURSOR_BYTES_MAX + 1]; /* a valid cursor of the live drops list */
} b3_ctx;

static b3_ctx ctx;

/* The neighbour is served and the state is what it made. */
static void
b3_assert_serving(const char *after)
{
    cr_assert(ldh_node_alive(&ctx.node), "the node died after %s", after);
    ld_follow_state st;
    ld_errmsg msg = {{0}};
    ld_err err = ctx.following ? ld_unfollow(ctx.good, &ctx.fan, &ctx.creator, &st, &msg)
                               : ld_follow(ctx.good, &ctx.fan, &ctx.creator, &st, &msg);
    cr_assert_eq(err, LD_OK, "after %s: the neighbour's follow: %s (%s)", after, ld_err_name(err),
                 msg.text);
    ctx.following = !ctx.following;
    ld_creator cr;
    err = ld_creator_get(ctx.good, &ctx.creator, &cr, &msg);
    cr_assert_eq(err, LD_OK, "after %s: get_creator: %s (%s)", after, ld_err_name(err), msg.text);
    cr_assert_eq(cr.follower_count, ctx.following ? 1 : 0, "after %s: follower_count %lld", after,
                 (long long)cr.follower_count);
}

/* Sends one op raw; its code must be `want` (or `alt` when alt != LD_OK) with a
 * message. */
static void
b3_expect(const char *label, Ldpb__Op *op, ld_err want, ld_err alt)
{
    char msg[LD_MESSAGE_BYTES_MAX + 1];
    ld_err err = ldh_raw_op(ctx.raw, op, msg);
    cr_assert(err == want || (alt != LD_OK && err == alt), "%s: got %s \"%s\", expected %s%s%s",
              label, ld_err_name(err), msg, ld_err_name(want), alt != LD_OK ? " or " : "",
              alt != LD_OK ? ld_err_name(alt) : "");
    if (err != LD_OK)
        cr_assert(msg[0], "%s: %s without a message", label, ld_err_name(err));
    b3_assert_serving(label);
}

static void
b3_setup(void)
{
    memset(&ctx, 0, sizeof ctx);
    ldh_node_spawn(&ctx.node, 0);
    ctx.good = ldh_client(&ctx.node, 10000);
    ctx.raw = ldh_client(&ctx.node, 10000);
    ctx.creator = ldh_creator_create(ctx.good, "target", NULL);
    ctx.fan = ldh_user_create(ctx.good, "fan", NULL);
    int64_t now = ldh_now_ms();
    for (int i = 0; i < 2; i++) {
        ld_drop_spec spec;
        ldh_drop_spec_at(&spec, &ctx.creator, now - 1000, now + 3600000, 10);
        ldh_drop_create(ctx.good, &spec, NULL);
        ctx.drop = spec.id;
    }
    ld_drop_filter f;
    memset(&f, 0, sizeof f);
    f.status = LD_DROP_LIVE;
    f.price_max_minor = -1;
    ld_drop_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_drops_list(ctx.good, &f, 1, NULL, page, &msg), LD_OK, "%s", msg.text);
    cr_assert(page->page_info.has_next_page);
    snprintf(ctx.live_cursor, sizeof ctx.live_cursor, "%s", page->page_info.end_cursor);
    free(page);
    b3_assert_serving("setup");
}

static void
b3_teardown(void)
{
    ld_client_close(ctx.raw);
    ld_client_close(ctx.good);
    ldh_node_stop(&ctx.node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&ctx.node);
}

/* ---- op builders over static storage
 * -------------------------------------------------------- */

static uint8_t b3_bytes[64];

static ProtobufCBinaryData
b3_bin(size_t len, uint8_t fill)
{
    memset(b3_bytes, fill, sizeof b3_bytes);
    return (ProtobufCBinaryData){.len = len, .data = b3_bytes};
}

static char *
b3_str(char *buf, size_t len, char c)
{
    memset(buf, c, len);
    buf[len] = '\0';
    return buf;
}

/* Attributes k0..k8 = "v" for profile / attribute cases (static storage). */
static Ldpb__Attribute b3_attrs[LD_ATTRS_MAX + 1];
static Ldpb__Attribute *b3_attr_ptrs[LD_ATTRS_MAX + 1];
static char b3_keys[LD_ATTRS_MAX + 1][8];

static void
b3_attrs_init(void)
{
    for (uint32_t i = 0; i <= LD_ATTRS_MAX; i++) {
        b3_attrs[i] = (Ldpb__Attribute)LDPB__ATTRIBUTE__INIT;
        snprintf(b3_keys[i], sizeof b3_keys[i], "k%u", i);
        b3_attrs[i].key = b3_keys[i];
        b3_attrs[i].value = "v";
        b3_attr_ptrs[i] = &b3_attrs[i];
    }
}

Test(bad_input3, principals_and_ids_are_checked, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: a principal that is not 16 bytes or is all zero, and an id of the
     * wrong length, each get their code and a message, and the node keeps
     * serving. Method: one raw follow per case, then the neighbour's check. */
    Ldpb__Follow f = LDPB__FOLLOW__INIT;
    f.user_id = ldh_pb_id(&ctx.fan);
    f.creator_id = ldh_pb_id(&ctx.creator);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_FOLLOW;
    op.follow = &f;
    op.principal = b3_bin(15, 0x11);
    b3_expect("principal of 15 bytes", &op, LD_ERR_INVALID_ID, LD_OK);
    op.principal = b3_bin(17, 0x11);
    b3_expect("principal of 17 bytes", &op, LD_ERR_INVALID_ID, LD_OK);
    op.principal = b3_bin(16, 0);
    b3_expect("all-zero principal", &op, LD_ERR_INVALID_ID, LD_ERR_FORBIDDEN);
    op.principal = ldh_pb_id(&ctx.fan);
    f.creator_id = b3_bin(3, 0x22);
    b3_expect("creator id of 3 bytes", &op, LD_ERR_INVALID_ID, LD_OK);
    f.creator_id = ldh_pb_id(&ctx.creator);
    f.user_id = b3_bin(0, 0);
    b3_expect("no user id", &op, LD_ERR_INVALID_ID, LD_ERR_MISSING_FIELD);
}

Test(bad_input3, creator_fields_are_checked, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: handles outside 3..32 of [A-Za-z0-9_.], more than LD_ATTRS_MAX
     * profile entries, empty, long or duplicate keys, long values, long or empty
     * names each get their code and a message; the node keeps serving, and the
     * fixed create then succeeds. Method: one raw create_creator per case, then
     * the neighbour's check. */
    static char s1[300], s2[300];
    Ldpb__CreateCreator cc = LDPB__CREATE_CREATOR__INIT;
    ld_id cid = ldh_id();
    cc.id = ldh_pb_id(&cid);
    cc.name = "Bad Creator";
    Ldpb__Op cop = LDPB__OP__INIT;
    cop.principal = ldh_pb_id(&cid);
    cop.body_case = LDPB__OP__BODY_CREATE_CREATOR;
    cop.create_creator = &cc;
    static const char *const bad_handles[] = {"",          "ab",          "has-dash",  "has space",
                                              "tab\there", "caf\xc3\xa9", "semi;colon"};
    for (size_t i = 0; i < sizeof bad_handles / sizeof bad_handles[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "handle \"%s\"", bad_handles[i]);
        cc.handle = (char *)bad_handles[i];
        b3_expect(label, &cop, LD_ERR_INVALID_HANDLE, LD_OK);
    }
    cc.handle = b3_str(s1, LD_HANDLE_BYTES_MAX + 1, 'h');
    b3_expect("handle of 33 bytes", &cop, LD_ERR_INVALID_HANDLE, LD_OK);
    cc.handle = b3_str(s1, LD_HANDLE_BYTES_MAX, 'h'); /* valid from here on */

    b3_attrs_init();
    cc.profile = b3_attr_ptrs;
    cc.n_profile = LD_ATTRS_MAX + 1;
    b3_expect("9 profile attributes", &cop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    cc.n_profile = 2;
    b3_attrs[1].key = "k0";
    b3_expect("duplicate profile keys", &cop, LD_ERR_INVALID_ARGUMENT, LD_OK);
    b3_attrs[1].key = "";
    b3_expect("empty profile key", &cop, LD_ERR_MISSING_FIELD, LD_ERR_INVALID_ARGUMENT);
    b3_attrs[1].key = b3_str(s2, LD_ATTR_KEY_BYTES_MAX + 1, 'k');
    b3_expect("profile key of 33 bytes", &cop, LD_ERR_STRING_TOO_LONG, LD_OK);
    b3_attrs[1].key = b3_keys[1];
    b3_attrs[1].value = b3_str(s2, LD_ATTR_VALUE_BYTES_MAX + 1, 'v');
    b3_expect("profile value of 129 bytes", &cop, LD_ERR_STRING_TOO_LONG, LD_OK);
    b3_attrs[1].value = "v";
    cc.name = b3_str(s2, LD_NAME_BYTES_MAX + 1, 'n');
    b3_expect("creator name of 101 bytes", &cop, LD_ERR_STRING_TOO_LONG, LD_OK);
    cc.name = "";
    b3_expect("empty creator name", &cop, LD_ERR_MISSING_FIELD, LD_OK);
    cc.name = "Fine Now";
    b3_expect("the fixed creator", &cop, LD_OK, LD_OK);
}

Test(bad_input3, user_product_and_lookup_fields_are_checked, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: malformed and over-long emails, a user created under another
     * principal, more than LD_ATTRS_MAX product attributes, a negative price, a
     * lower-case currency and a get_creator with neither or both of id and handle
     * each get their code and a message, and the node keeps serving. Method: one
     * raw op per case, then the neighbour's check. */
    static char s2[300];
    Ldpb__CreateUser cu = LDPB__CREATE_USER__INIT;
    ld_id uid = ldh_id();
    cu.id = ldh_pb_id(&uid);
    cu.name = "Mallory";
    Ldpb__Op uop = LDPB__OP__INIT;
    uop.principal = ldh_pb_id(&uid);
    uop.body_case = LDPB__OP__BODY_CREATE_USER;
    uop.create_user = &cu;
    static const char *const bad_emails[] = {"plain", "@x.org", "x@", "a@b@c"};
    for (size_t i = 0; i < sizeof bad_emails / sizeof bad_emails[0]; i++) {
        cu.email = (char *)bad_emails[i];
        b3_expect("bad email", &uop, LD_ERR_INVALID_ARGUMENT, LD_OK);
    }
    cu.email = b3_str(s2, LD_EMAIL_BYTES_MAX + 1, 'e');
    b3_expect("email of 255 bytes", &uop, LD_ERR_STRING_TOO_LONG, LD_OK);
    cu.email = "";
    ld_id other = ldh_id();
    uop.principal = ldh_pb_id(&other);
    b3_expect("create_user acting as someone else", &uop, LD_ERR_FORBIDDEN, LD_OK);

    b3_attrs_init();
    Ldpb__CreateProduct cp = LDPB__CREATE_PRODUCT__INIT;
    ld_id pid = ldh_id();
    cp.id = ldh_pb_id(&pid);
    cp.creator_id = ldh_pb_id(&ctx.creator);
    cp.title = "Product";
    cp.currency = "EUR";
    cp.price_minor = 100;
    cp.attributes = b3_attr_ptrs;
    cp.n_attributes = LD_ATTRS_MAX + 1;
    Ldpb__Op pop = LDPB__OP__INIT;
    pop.principal = ldh_pb_id(&ctx.creator);
    pop.body_case = LDPB__OP__BODY_CREATE_PRODUCT;
    pop.create_product = &cp;
    b3_expect("9 product attributes", &pop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    cp.n_attributes = 1;
    cp.price_minor = -1;
    b3_expect("negative price", &pop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    cp.price_minor = 100;
    cp.currency = "eur";
    b3_expect("lower-case currency", &pop, LD_ERR_INVALID_CURRENCY, LD_OK);

    Ldpb__GetCreator gc = LDPB__GET_CREATOR__INIT;
    Ldpb__Op gop = LDPB__OP__INIT;
    gop.body_case = LDPB__OP__BODY_GET_CREATOR;
    gop.get_creator = &gc;
    b3_expect("get_creator with neither id nor handle", &gop, LD_ERR_MISSING_FIELD, LD_OK);
    gc.creator_id = ldh_pb_id(&ctx.creator);
    gc.handle = "target";
    b3_expect("get_creator with id and handle", &gop, LD_ERR_INVALID_ARGUMENT, LD_OK);
}

/* A list_followers op of ctx.creator. */
static void
b3_list_followers(Ldpb__Op *op, Ldpb__ListFollowers *l, uint32_t first, const char *after)
{
    *l = (Ldpb__ListFollowers)LDPB__LIST_FOLLOWERS__INIT;
    l->creator_id = ldh_pb_id(&ctx.creator);
    l->first = first;
    l->after = (char *)after;
    *op = (Ldpb__Op)LDPB__OP__INIT;
    op->body_case = LDPB__OP__BODY_LIST_FOLLOWERS;
    op->list_followers = l;
}

Test(bad_input3, list_sizes_and_cursors_are_checked, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: `first` above each list's maximum and bad cursors (not base64url, too
     * long, not a cursor, another list's) each get their code and a message;
     * first 0 means LD_PAGE_DEFAULT; the node keeps serving. Method: one raw list
     * op per case, then the neighbour's check. */
    static char s1[300];
    Ldpb__ListFollowers lf;
    Ldpb__Op op;
    b3_list_followers(&op, &lf, 0, "");
    b3_expect("first 0", &op, LD_OK, LD_OK);
    lf.first = LD_PAGE_EDGES_MAX + 1;
    b3_expect("followers first 1001", &op, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    lf.first = 10;
    static const char *const bad_cursors[] = {
        "!!", "a b", "AAAA", "AgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "=", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad_cursors / sizeof bad_cursors[0]; i++) {
        lf.after = (char *)bad_cursors[i];
        b3_expect("bad cursor", &op, LD_ERR_INVALID_CURSOR, LD_OK);
    }
    lf.after = b3_str(s1, LD_CURSOR_BYTES_MAX + 1, 'A');
    b3_expect("cursor of 65 bytes", &op, LD_ERR_INVALID_CURSOR, LD_OK);
    lf.after = ctx.live_cursor;
    b3_expect("a live-drops cursor on followers", &op, LD_ERR_INVALID_CURSOR, LD_OK);

    Ldpb__ListNotifications ln = LDPB__LIST_NOTIFICATIONS__INIT;
    ln.user_id = ldh_pb_id(&ctx.fan);
    ln.first = LD_PAGE_DROPS_MAX + 1;
    Ldpb__Op nop = LDPB__OP__INIT;
    nop.body_case = LDPB__OP__BODY_LIST_NOTIFICATIONS;
    nop.list_notifications = &ln;
    b3_expect("notifications first 101", &nop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    Ldpb__ListProducts lp = LDPB__LIST_PRODUCTS__INIT;
    lp.creator_id = ldh_pb_id(&ctx.creator);
    lp.first = LD_PAGE_DROPS_MAX + 1;
    Ldpb__Op lpop = LDPB__OP__INIT;
    lpop.body_case = LDPB__OP__BODY_LIST_PRODUCTS;
    lpop.list_products = &lp;
    b3_expect("products first 101", &lpop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
}

Test(bad_input3, drop_filters_are_checked, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: list_drops with no or an unknown status, another list's cursor,
     * `first` above LD_PAGE_DROPS_MAX, a price range upside down or negative, too
     * many tags and a creator id of the wrong length each get their code and a
     * message; its own cursor is accepted; the node keeps serving. Method: one
     * raw list_drops per case, then the neighbour's check. */
    Ldpb__ListDrops ld = LDPB__LIST_DROPS__INIT;
    Ldpb__Op dop = LDPB__OP__INIT;
    dop.body_case = LDPB__OP__BODY_LIST_DROPS;
    dop.list_drops = &ld;
    ld.status = LDPB__DROP_STATUS__DROP_STATUS_LIVE;
    ld.after = ctx.live_cursor;
    b3_expect("its own cursor", &dop, LD_OK, LD_OK);
    ld.after = "";
    ld.status = 0;
    b3_expect("list_drops without a status", &dop, LD_ERR_INVALID_ARGUMENT, LD_ERR_MISSING_FIELD);
    ld.status = 9;
    b3_expect("list_drops status 9", &dop, LD_ERR_INVALID_ARGUMENT, LD_OK);
    ld.status = LDPB__DROP_STATUS__DROP_STATUS_UPCOMING;
    ld.after = ctx.live_cursor;
    b3_expect("a live cursor on upcoming", &dop, LD_ERR_INVALID_CURSOR, LD_OK);
    ld.after = "";
    ld.first = LD_PAGE_DROPS_MAX + 1;
    b3_expect("drops first 101", &dop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    ld.first = 0;
    ld.price_min_minor = 500;
    ld.price_max_minor = 100;
    ld.price_max_set = true;
    b3_expect("price max below min", &dop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    ld.price_min_minor = -1;
    ld.price_max_set = false;
    b3_expect("negative price min", &dop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    ld.price_min_minor = 0;
    static char *tags[LD_TAGS_MAX + 1];
    for (uint32_t i = 0; i <= LD_TAGS_MAX; i++)
        tags[i] = "t";
    ld.tags = tags;
    ld.n_tags = LD_TAGS_MAX + 1;
    b3_expect("9 tags", &dop, LD_ERR_TOO_MANY_TAGS, LD_OK);
    ld.n_tags = 0;
    ld.creator_id = b3_bin(5, 1);
    b3_expect("creator filter of 5 bytes", &dop, LD_ERR_INVALID_ID, LD_OK);
}

Test(bad_input3, pulls_and_topics_are_checked, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: a pull with max above LD_PULL_EVENTS_MAX, wait_ms above
     * LD_PULL_WAIT_MS_MAX, or a topic that is not creator/, drop/ or user/
     * followed by exactly 32 hex digits gets its code and a message; a good topic
     * is accepted; the node keeps serving. Method: one raw pull_events per case,
     * then the neighbour's check. */
    Ldpb__PullEvents pe = LDPB__PULL_EVENTS__INIT;
    Ldpb__Op eop = LDPB__OP__INIT;
    eop.body_case = LDPB__OP__BODY_PULL_EVENTS;
    eop.pull_events = &pe;
    pe.max = LD_PULL_EVENTS_MAX + 1;
    b3_expect("pull max 1001", &eop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    pe.max = 0;
    pe.wait_ms = LD_PULL_WAIT_MS_MAX + 1;
    b3_expect("wait_ms over the maximum", &eop, LD_ERR_VALUE_OUT_OF_RANGE, LD_OK);
    pe.wait_ms = 0;
    char hex[33];
    ld_id_format(&ctx.creator, hex);
    static char topics[8][80];
    snprintf(topics[0], sizeof topics[0], "creator/xyz");
    snprintf(topics[1], sizeof topics[1], "shop/%s", hex);
    snprintf(topics[2], sizeof topics[2], "creator/%.31s", hex);
    snprintf(topics[3], sizeof topics[3], "creator/%s0", hex);
    snprintf(topics[4], sizeof topics[4], "creator/%s/x", hex);
    snprintf(topics[5], sizeof topics[5], "creator%s", hex);
    snprintf(topics[6], sizeof topics[6], "creator/%.31sg", hex);
    snprintf(topics[7], sizeof topics[7], "CREATOR/%s", hex);
    for (int i = 0; i < 8; i++) {
        pe.topic = topics[i];
        char label[160];
        snprintf(label, sizeof label, "topic \"%.79s\"", topics[i]);
        b3_expect(label, &eop, LD_ERR_INVALID_TOPIC, LD_OK);
    }
    snprintf(topics[0], sizeof topics[0], "creator/%s", hex);
    pe.topic = topics[0];
    b3_expect("a good topic", &eop, LD_OK, LD_OK);
}

Test(bad_input3, more_than_the_page_ops_limit_in_one_request, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: a request with more than LD_REQUEST_LIST_OPS_MAX page ops answers
     * ERR_TOO_MANY_OPS (with a message) for the page ops past the limit, runs the
     * first LD_REQUEST_LIST_OPS_MAX and every other op of the request, and the
     * node keeps serving. Method: one raw request of get_drop, 12 list_followers
     * and get_drop; then one of exactly the limit. */
    enum { N_PAGES = LD_REQUEST_LIST_OPS_MAX + 4, N_OPS = N_PAGES + 2 };
    Ldpb__ListFollowers lf[N_PAGES];
    Ldpb__Op ops[N_OPS];
    Ldpb__Op *ptrs[N_OPS];
    Ldpb__GetDrop gd = LDPB__GET_DROP__INIT;
    gd.drop_id = ldh_pb_id(&ctx.drop);
    for (int i = 0; i < N_OPS; i++) {
        if (i == 0 || i == N_OPS - 1) {
            ops[i] = (Ldpb__Op)LDPB__OP__INIT;
            ops[i].body_case = LDPB__OP__BODY_GET_DROP;
            ops[i].get_drop = &gd;
        } else {
            b3_list_followers(&ops[i], &lf[i - 1], 5, "");
        }
        ptrs[i] = &ops[i];
    }
    uint32_t codes[N_OPS];
    char msgs[N_OPS][LD_MESSAGE_BYTES_MAX + 1];
    cr_assert_eq(ldh_raw_ops(ctx.raw, ptrs, N_OPS, codes, msgs), 0, "the envelope failed");
    cr_assert_eq(codes[0], LD_OK, "get_drop before the lists: %s", ld_err_name(codes[0]));
    cr_assert_eq(codes[N_OPS - 1], LD_OK, "get_drop after the lists: %s",
                 ld_err_name(codes[N_OPS - 1]));
    for (int i = 1; i <= N_PAGES; i++) {
        ld_err want = i <= (int)LD_REQUEST_LIST_OPS_MAX ? LD_OK : LD_ERR_TOO_MANY_OPS;
        cr_assert_eq(codes[i], want, "page op %d: %s \"%s\"", i, ld_err_name(codes[i]), msgs[i]);
    }
    b3_assert_serving("too many page ops");
    cr_assert_eq(ldh_raw_ops(ctx.raw, ptrs, LD_REQUEST_LIST_OPS_MAX + 1, codes, msgs), 0);
    for (uint32_t i = 0; i <= LD_REQUEST_LIST_OPS_MAX; i++)
        cr_assert_eq(codes[i], LD_OK, "op %u of a request at the limit: %s", i,
                     ld_err_name(codes[i]));
    b3_assert_serving("page ops at the limit");
}

Test(bad_input3, mixed_and_internal_ops, .init = b3_setup, .fini = b3_teardown)
{
    /* Goal: create_drop with both a catalog product and an inline product, an
     * internal relay_follow sent by a client, a cancel without a drop id and a
     * follow of an unknown creator each get their code and a message, change
     * nothing, and the node keeps serving. Method: raw ops, then reads. */
    Ldpb__Product p = LDPB__PRODUCT__INIT;
    p.creator_id = ldh_pb_id(&ctx.creator);
    p.title = "inline";
    p.currency = "EUR";
    p.price_minor = 10;
    Ldpb__CreateDrop cd = LDPB__CREATE_DROP__INIT;
    ld_id did = ldh_id(), prod = ldh_id();
    cd.id = ldh_pb_id(&did);
    cd.product = &p;
    cd.product_id = ldh_pb_id(&prod);
    int64_t now = ldh_now_ms();
    cd.starts_at_ms = now;
    cd.ends_at_ms = now + 60000;
    cd.initial_stock = 1;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldh_pb_id(&ctx.creator);
    op.body_case = LDPB__OP__BODY_CREATE_DROP;
    op.create_drop = &cd;
    b3_expect("product_id and an inline product", &op, LD_ERR_INVALID_ARGUMENT, LD_OK);
    ld_drop d;
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_drop_get(ctx.good, &did, &d, &msg), LD_ERR_DROP_NOT_FOUND);

    Ldpb__RelayFollow rf = LDPB__RELAY_FOLLOW__INIT;
    rf.seq = 1;
    rf.user_id = ldh_pb_id(&ctx.fan);
    rf.creator_id = ldh_pb_id(&ctx.creator);
    rf.followed = true;
    rf.at_ms = now;
    Ldpb__Op rop = LDPB__OP__INIT;
    rop.body_case = LDPB__OP__BODY_RELAY_FOLLOW;
    rop.relay_follow = &rf;
    b3_expect("relay_follow from a client", &rop, LD_ERR_UNKNOWN_OP, LD_OK);

    Ldpb__CancelDrop cdrop = LDPB__CANCEL_DROP__INIT;
    Ldpb__Op xop = LDPB__OP__INIT;
    xop.principal = ldh_pb_id(&ctx.creator);
    xop.body_case = LDPB__OP__BODY_CANCEL_DROP;
    xop.cancel_drop = &cdrop;
    b3_expect("cancel without a drop id", &xop, LD_ERR_INVALID_ID, LD_ERR_MISSING_FIELD);

    Ldpb__Follow f = LDPB__FOLLOW__INIT;
    ld_id ghost = ldh_id();
    f.user_id = ldh_pb_id(&ctx.fan);
    f.creator_id = ldh_pb_id(&ghost);
    Ldpb__Op fop = LDPB__OP__INIT;
    fop.principal = ldh_pb_id(&ctx.fan);
    fop.body_case = LDPB__OP__BODY_FOLLOW;
    fop.follow = &f;
    b3_expect("follow an unknown creator", &fop, LD_ERR_CREATOR_NOT_FOUND, LD_OK);
}
