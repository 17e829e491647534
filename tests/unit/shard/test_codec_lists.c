/*
 * test_codec_lists.c -- the catalog, browse, pull and list ops of shard/codec_ops.c, wire ->
 * ld_op: create/update_product, list_followers/following/products/notifications, list_drops
 * and pull_events. Every validation code at its boundary, the defaults, and round trips.
 */
#include "codec_fixture.h"

typedef struct prod_msg {
    Ldpb__Op op;
    Ldpb__CreateProduct cp;
    Ldpb__UpdateProduct up;
    char *tags[10];
    Ldpb__Attribute attrs[10];
    Ldpb__Attribute *attr_ptrs[10];
} prod_msg;

static void
prod_init(prod_msg *m, bool update)
{
    static char *keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"};
    ldpb__op__init(&m->op);
    for (size_t i = 0; i < 10; i++) {
        m->tags[i] = "tag";
        ldpb__attribute__init(&m->attrs[i]);
        m->attrs[i].key = keys[i];
        m->attrs[i].value = "v";
        m->attr_ptrs[i] = &m->attrs[i];
    }
    ldpb__create_product__init(&m->cp);
    m->cp.id = bin(id_c, 16);
    m->cp.creator_id = bin(id_b, 16);
    m->cp.title = "Hoodie";
    m->cp.price_minor = 4999;
    m->cp.currency = "EUR";
    m->cp.tags = m->tags;
    m->cp.n_tags = 2;
    m->cp.attributes = m->attr_ptrs;
    m->cp.n_attributes = 2;
    ldpb__update_product__init(&m->up);
    m->up.id = bin(id_c, 16);
    m->up.title = "Hoodie 2";
    m->up.price_minor = 5999;
    m->up.currency = "USD";
    m->up.tags = m->tags;
    m->up.n_tags = 1;
    m->up.attributes = m->attr_ptrs;
    m->up.n_attributes = 1;
    if (update) {
        m->op.body_case = LDPB__OP__BODY_UPDATE_PRODUCT;
        m->op.update_product = &m->up;
    } else {
        m->op.body_case = LDPB__OP__BODY_CREATE_PRODUCT;
        m->op.create_product = &m->cp;
    }
}

Test(codec_lists, create_product_fields)
{
    /* Goal: create_product decodes every field and checks id, creator_id, title (1..200),
     * price (0..10^12), currency, tags (as create_drop) and attributes (count, key, value,
     * duplicates), naming "create_product.<field>". Method: boundaries one at a time. */
    prod_msg m;
    prod_init(&m, false);
    ld_op op = decode_ok(&m.op, false);
    const ld_op_product *p = &op.u.product;
    cr_assert_eq(op.type, LD_OP_CREATE_PRODUCT);
    cr_assert_eq(memcmp(p->id.bytes, id_c, 16), 0);
    cr_assert_eq(memcmp(p->creator_id.bytes, id_b, 16), 0);
    cr_assert_str_eq(p->title, "Hoodie");
    cr_assert_eq(p->price_minor, 4999);
    cr_assert_str_eq(p->currency, "EUR");
    cr_assert_eq(p->tags_count, 2);
    cr_assert_eq(p->attrs_count, 2);
    cr_assert_str_eq(p->attrs[1].key, "k1");
    m.cp.id = bin(id_zero, 16);
    expect(&m.op, LD_ERR_INVALID_ID, "create_product.id");
    m.cp.id = bin(id_c, 16);
    m.cp.creator_id = bin(NULL, 0);
    expect(&m.op, LD_ERR_INVALID_ID, "create_product.creator_id");
    m.cp.creator_id = bin(id_b, 16);
    char buf[300];
    m.cp.title = "";
    expect(&m.op, LD_ERR_MISSING_FIELD, "create_product.title");
    m.cp.title = fill(buf, 't', LD_TITLE_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_product.title");
    m.cp.title = fill(buf, 't', LD_TITLE_BYTES_MAX);
    expect(&m.op, LD_OK, NULL);
    m.cp.price_minor = -1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "create_product.price_minor");
    m.cp.price_minor = LD_PRICE_MINOR_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "create_product.price_minor");
    m.cp.price_minor = 0;
    expect(&m.op, LD_OK, NULL);
    m.cp.currency = "eur";
    expect(&m.op, LD_ERR_INVALID_CURRENCY, "create_product.currency");
    m.cp.currency = "EUR";
    m.cp.n_tags = LD_TAGS_MAX + 1;
    expect(&m.op, LD_ERR_TOO_MANY_TAGS, "create_product.tags");
    m.cp.n_tags = LD_TAGS_MAX;
    expect(&m.op, LD_OK, NULL);
    m.tags[3] = "";
    expect(&m.op, LD_ERR_INVALID_ARGUMENT, "create_product.tags[3]");
    m.tags[3] = fill(buf, 'g', LD_TAG_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_product.tags[3]");
    m.tags[3] = "tag";
    m.cp.n_attributes = LD_ATTRS_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "create_product.attributes: too many attributes");
    m.cp.n_attributes = LD_ATTRS_MAX;
    expect(&m.op, LD_OK, NULL);
    m.attrs[6].key = NULL;
    expect(&m.op, LD_ERR_MISSING_FIELD, "create_product.attributes[6].key");
    m.attrs[6].key = "k5";
    expect(&m.op, LD_ERR_INVALID_ARGUMENT, "create_product.attributes[6].key: duplicate");
    m.attrs[6].key = "k6";
    m.attrs[7].value = fill(buf, 'v', LD_ATTR_VALUE_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_product.attributes[7].value");
}

Test(codec_lists, update_product_fields)
{
    /* Goal: update_product has no creator (zero in the op) and checks the same fields under its
     * own name. Method: valid decode, then one bad field per check. */
    prod_msg m;
    prod_init(&m, true);
    ld_op op = decode_ok(&m.op, false);
    cr_assert_eq(op.type, LD_OP_UPDATE_PRODUCT);
    cr_assert(ld_id_is_zero(&op.u.product.creator_id));
    cr_assert_str_eq(op.u.product.title, "Hoodie 2");
    cr_assert_eq(op.u.product.price_minor, 5999);
    cr_assert_str_eq(op.u.product.currency, "USD");
    m.up.id = bin(id_a, 15);
    expect(&m.op, LD_ERR_INVALID_ID, "update_product.id");
    m.up.id = bin(id_c, 16);
    m.up.title = NULL;
    expect(&m.op, LD_ERR_MISSING_FIELD, "update_product.title");
    m.up.title = "t";
    m.up.price_minor = -5;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "update_product.price_minor");
    m.up.price_minor = 5;
    m.up.currency = NULL;
    expect(&m.op, LD_ERR_INVALID_CURRENCY, "update_product.currency");
    m.up.currency = "USD";
    m.up.n_tags = 9;
    expect(&m.op, LD_ERR_TOO_MANY_TAGS, "update_product.tags");
    m.up.n_tags = 0;
    m.up.n_attributes = 9;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "update_product.attributes");
    m.up.n_attributes = 0;
    expect(&m.op, LD_OK, NULL);
}

/* The four list ops with (id, first, after), as one table. */
typedef struct list_case {
    Ldpb__Op__BodyCase body;
    ld_op_type type;
    const char *name; /* "list_followers.creator_id" etc. come from name + id_name */
    const char *id_name;
    uint32_t max;
} list_case;

static const list_case list_cases[] = {
    {LDPB__OP__BODY_LIST_FOLLOWERS, LD_OP_LIST_FOLLOWERS, "list_followers", "creator_id",
     LD_PAGE_EDGES_MAX},
    {LDPB__OP__BODY_LIST_FOLLOWING, LD_OP_LIST_FOLLOWING, "list_following", "user_id",
     LD_PAGE_EDGES_MAX},
    {LDPB__OP__BODY_LIST_PRODUCTS, LD_OP_LIST_PRODUCTS, "list_products", "creator_id",
     LD_PAGE_DROPS_MAX},
    {LDPB__OP__BODY_LIST_NOTIFICATIONS, LD_OP_LIST_NOTIFICATIONS, "list_notifications", "user_id",
     LD_PAGE_DROPS_MAX},
};

/* ListFollowers, ListFollowing, ListProducts and ListNotifications share one layout:
 * (bytes id = 1, uint32 first = 2, string after = 3). */
typedef struct list_msg {
    Ldpb__Op op;
    Ldpb__ListFollowers l;
} list_msg;

static void
list_init(list_msg *m, const list_case *c)
{
    ldpb__op__init(&m->op);
    ldpb__list_followers__init(&m->l);
    m->l.creator_id = bin(id_a, 16);
    m->op.body_case = c->body;
    m->op.list_followers = &m->l;
}

Test(codec_lists, list_ops_first_after_and_id)
{
    /* Goal: for each list op: `first` 0 becomes LD_PAGE_DEFAULT, its maximum passes, one more
     * is VALUE_OUT_OF_RANGE; `after` up to LD_CURSOR_BYTES_MAX base64url characters passes,
     * longer or with another character is INVALID_CURSOR; the id is required. Method: the
     * four ops through one table, field names checked. */
    for (size_t k = 0; k < sizeof list_cases / sizeof list_cases[0]; k++) {
        const list_case *c = &list_cases[k];
        list_msg m;
        list_init(&m, c);
        ld_op op = decode_ok(&m.op, false);
        cr_assert_eq(op.type, c->type);
        cr_assert_eq(op.u.list.first, LD_PAGE_DEFAULT);
        cr_assert_str_eq(op.u.list.after, "");
        cr_assert_eq(memcmp(op.u.list.id.bytes, id_a, 16), 0);
        char needle[64], buf[100];
        m.l.first = c->max;
        cr_assert_eq(decode_ok(&m.op, false).u.list.first, c->max);
        m.l.first = 1;
        cr_assert_eq(decode_ok(&m.op, false).u.list.first, 1);
        m.l.first = c->max + 1;
        snprintf(needle, sizeof needle, "%s.first", c->name);
        expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, needle);
        m.l.first = UINT32_MAX;
        expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, needle);
        m.l.first = 0;
        m.l.after = fill(buf, 'A', LD_CURSOR_BYTES_MAX);
        cr_assert_str_eq(decode_ok(&m.op, false).u.list.after, buf);
        m.l.after = fill(buf, 'A', LD_CURSOR_BYTES_MAX + 1);
        snprintf(needle, sizeof needle, "%s.after", c->name);
        expect(&m.op, LD_ERR_INVALID_CURSOR, needle);
        const char *bad[] = {"AQ+E", "AQ/E", "AQE=", "A Q", "caf\xc3\xa9", "\xff"};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            m.l.after = (char *)bad[i];
            expect(&m.op, LD_ERR_INVALID_CURSOR, needle);
        }
        m.l.after = "AQEA-_z9";
        expect(&m.op, LD_OK, NULL);
        m.l.creator_id = bin(id_zero, 16);
        snprintf(needle, sizeof needle, "%s.%s", c->name, c->id_name);
        expect(&m.op, LD_ERR_INVALID_ID, needle);
    }
}

typedef struct drops_msg {
    Ldpb__Op op;
    Ldpb__ListDrops l;
    char *tags[10];
} drops_msg;

static void
drops_init(drops_msg *m)
{
    ldpb__op__init(&m->op);
    ldpb__list_drops__init(&m->l);
    m->l.status = LDPB__DROP_STATUS__DROP_STATUS_LIVE;
    for (size_t i = 0; i < 10; i++)
        m->tags[i] = "t";
    m->l.tags = m->tags;
    m->op.body_case = LDPB__OP__BODY_LIST_DROPS;
    m->op.list_drops = &m->l;
}

Test(codec_lists, list_drops_filters)
{
    /* Goal: list_drops: status must be 1..4 (INVALID_ARGUMENT), creator optional, prices in
     * 0..10^12 with min <= max (VALUE_OUT_OF_RANGE), no upper bound -> INT64_MAX, tags as
     * create_drop, `first` 0 -> default and at most LD_PAGE_DROPS_MAX, `after` a cursor.
     * Method: each boundary. */
    drops_msg m;
    drops_init(&m);
    ld_op op = decode_ok(&m.op, false);
    const ld_op_list_drops *l = &op.u.list_drops;
    cr_assert_eq(op.type, LD_OP_LIST_DROPS);
    cr_assert_eq(l->status, LD_DROP_LIVE);
    cr_assert(ld_id_is_zero(&l->creator_id));
    cr_assert_eq(l->price_min_minor, 0);
    cr_assert_eq(l->price_max_minor, INT64_MAX);
    cr_assert_eq(l->first, LD_PAGE_DEFAULT);
    int bad_status[] = {0, 5, -1, 100};
    for (size_t i = 0; i < 4; i++) {
        m.l.status = (Ldpb__DropStatus)bad_status[i];
        expect(&m.op, LD_ERR_INVALID_ARGUMENT, "list_drops.status");
    }
    for (int st = 1; st <= 4; st++) {
        m.l.status = (Ldpb__DropStatus)st;
        cr_assert_eq(decode_ok(&m.op, false).u.list_drops.status, (ld_drop_status)st);
    }
    m.l.creator_id = bin(id_b, 3);
    expect(&m.op, LD_ERR_INVALID_ID, "list_drops.creator_id");
    m.l.creator_id = bin(id_b, 16);
    cr_assert_eq(memcmp(decode_ok(&m.op, false).u.list_drops.creator_id.bytes, id_b, 16), 0);
    m.l.price_min_minor = -1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "list_drops.price_min_minor");
    m.l.price_min_minor = LD_PRICE_MINOR_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "list_drops.price_min_minor");
    m.l.price_min_minor = 500;
    m.l.price_max_minor = 10; /* ignored: price_max_set is false */
    cr_assert_eq(decode_ok(&m.op, false).u.list_drops.price_max_minor, INT64_MAX);
    m.l.price_max_set = 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "list_drops.price_max_minor");
    m.l.price_max_minor = 499;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "below price_min_minor");
    m.l.price_max_minor = 500;
    op = decode_ok(&m.op, false);
    cr_assert_eq(op.u.list_drops.price_min_minor, 500);
    cr_assert_eq(op.u.list_drops.price_max_minor, 500);
    m.l.price_max_minor = LD_PRICE_MINOR_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "list_drops.price_max_minor");
    m.l.price_max_minor = LD_PRICE_MINOR_MAX;
    m.l.n_tags = LD_TAGS_MAX;
    cr_assert_eq(decode_ok(&m.op, false).u.list_drops.tags_count, LD_TAGS_MAX);
    m.l.n_tags = LD_TAGS_MAX + 1;
    expect(&m.op, LD_ERR_TOO_MANY_TAGS, "list_drops.tags");
    m.l.n_tags = 2;
    m.tags[1] = "";
    expect(&m.op, LD_ERR_INVALID_ARGUMENT, "list_drops.tags[1]");
    m.tags[1] = "t";
    m.l.first = LD_PAGE_DROPS_MAX;
    cr_assert_eq(decode_ok(&m.op, false).u.list_drops.first, LD_PAGE_DROPS_MAX);
    m.l.first = LD_PAGE_DROPS_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "list_drops.first");
    m.l.first = 0;
    m.l.after = "bad cursor";
    expect(&m.op, LD_ERR_INVALID_CURSOR, "list_drops.after");
}

typedef struct pull_msg {
    Ldpb__Op op;
    Ldpb__PullEvents p;
} pull_msg;

static void
pull_init(pull_msg *m)
{
    ldpb__op__init(&m->op);
    ldpb__pull_events__init(&m->p);
    m->op.body_case = LDPB__OP__BODY_PULL_EVENTS;
    m->op.pull_events = &m->p;
}

Test(codec_lists, pull_events_bounds_and_topic)
{
    /* Goal: pull_events: `max` 0 -> 100, above LD_PULL_EVENTS_MAX VALUE_OUT_OF_RANGE; wait_ms
     * above LD_PULL_WAIT_MS_MAX VALUE_OUT_OF_RANGE; an empty topic is the whole stream, a
     * valid one is parsed, anything else (too long included) is INVALID_TOPIC. Method: each
     * boundary and topic form. */
    pull_msg m;
    pull_init(&m);
    m.p.after = UINT64_MAX;
    ld_op op = decode_ok(&m.op, false);
    cr_assert_eq(op.type, LD_OP_PULL_EVENTS);
    cr_assert_eq(op.u.pull.after, UINT64_MAX);
    cr_assert_eq(op.u.pull.max, 100);
    cr_assert_eq(op.u.pull.wait_ms, 0);
    cr_assert_eq(op.u.pull.topic_kind, LD_TOPIC_NONE);
    m.p.max = LD_PULL_EVENTS_MAX;
    cr_assert_eq(decode_ok(&m.op, false).u.pull.max, LD_PULL_EVENTS_MAX);
    m.p.max = LD_PULL_EVENTS_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "pull_events.max");
    m.p.max = 1;
    m.p.wait_ms = LD_PULL_WAIT_MS_MAX;
    cr_assert_eq(decode_ok(&m.op, false).u.pull.wait_ms, LD_PULL_WAIT_MS_MAX);
    m.p.wait_ms = LD_PULL_WAIT_MS_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "pull_events.wait_ms");
    m.p.wait_ms = 0;
    m.p.topic = "drop/ABCDEF00000000000000000000000042";
    op = decode_ok(&m.op, false);
    cr_assert_eq(op.u.pull.topic_kind, LD_TOPIC_DROP);
    cr_assert_eq(memcmp(op.u.pull.topic_id.bytes, id_c, 16), 0);
    m.p.topic = NULL;
    cr_assert_eq(decode_ok(&m.op, false).u.pull.topic_kind, LD_TOPIC_NONE);
    char buf[200];
    snprintf(buf, sizeof buf, "user/%s", "abcdef00000000000000000000000042");
    m.p.topic = buf;
    cr_assert_eq(decode_ok(&m.op, false).u.pull.topic_kind, LD_TOPIC_USER);
    const char *bad[] = {"creator",
                         "creator/",
                         "drop/abc",
                         "user/00000000000000000000000000000000",
                         "shop/abcdef00000000000000000000000042",
                         "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.p.topic = (char *)bad[i];
        expect(&m.op, LD_ERR_INVALID_TOPIC, "pull_events.topic");
    }
    m.p.topic = fill(buf, 'a', LD_TOPIC_BYTES_MAX + 1);
    memcpy(buf, "creator/", 8);
    expect(&m.op, LD_ERR_INVALID_TOPIC, "pull_events.topic");
}

Test(codec_lists, catalog_browse_and_pull_ops_round_trip)
{
    /* Goal: create_product and update_product (full tags and attributes, principal), cancel_drop
     * and get_product, the four list ops with a cursor, list_drops with and without bounds, and
     * pull_events with and without a topic survive op -> wire -> op byte for byte.
     * Method: decode each, round-trip, memcmp. */
    ld_op ops[16];
    size_t n = 0;
    prod_msg pm;
    prod_init(&pm, false);
    pm.op.principal = bin(id_b, 16);
    pm.cp.n_tags = LD_TAGS_MAX;
    pm.cp.n_attributes = LD_ATTRS_MAX;
    pm.attrs[2].value = "";
    ops[n++] = decode_ok(&pm.op, false);
    prod_init(&pm, true);
    pm.op.principal = bin(id_b, 16);
    ops[n++] = decode_ok(&pm.op, false);
    pm.up.n_tags = 0;
    pm.up.n_attributes = 0;
    ops[n++] = decode_ok(&pm.op, false);
    ld_op_type id_ops[] = {LD_OP_CANCEL_DROP, LD_OP_GET_PRODUCT};
    for (size_t i = 0; i < 2; i++) {
        memset(&ops[n], 0, sizeof ops[n]);
        ops[n].type = id_ops[i];
        memcpy(ops[n].u.id.bytes, id_c, 16);
        memcpy(ops[n].principal.bytes, id_b, 16);
        n++;
    }
    for (size_t k = 0; k < 4; k++) {
        list_msg lm;
        list_init(&lm, &list_cases[k]);
        lm.l.first = 7;
        lm.l.after = "AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        ops[n++] = decode_ok(&lm.op, false);
    }
    drops_msg dm;
    drops_init(&dm);
    ops[n++] = decode_ok(&dm.op, false);
    dm.l.status = LDPB__DROP_STATUS__DROP_STATUS_CANCELLED;
    dm.l.creator_id = bin(id_b, 16);
    dm.l.price_min_minor = 5;
    dm.l.price_max_set = 1;
    dm.l.price_max_minor = 0 + 5;
    dm.l.n_tags = LD_TAGS_MAX;
    dm.l.first = 3;
    dm.l.after = "AQEA";
    ops[n++] = decode_ok(&dm.op, false);
    pull_msg p;
    pull_init(&p);
    ops[n++] = decode_ok(&p.op, false);
    p.p.after = 42;
    p.p.max = 7;
    p.p.wait_ms = 250;
    p.p.topic = "creator/ABCDEF00000000000000000000000042";
    ops[n++] = decode_ok(&p.op, false);
    for (size_t i = 0; i < n; i++)
        expect_round_trip(&ops[i]);
}
