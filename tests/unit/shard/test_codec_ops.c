/*
 * test_codec_ops.c -- the social and catalog ops of shard/codec_ops.c, wire -> ld_op: users,
 * creators, follows and relay_follow. Every validation code at its boundary, the field named in
 * each message, and the exact round trip of each op through its log form.
 */
#include "codec_fixture.h"

/* An Op holding one social or catalog body, all in caller-owned storage. */
typedef struct op_msg {
    Ldpb__Op op;
    Ldpb__CreateUser cu;
    Ldpb__CreateCreator cc;
    Ldpb__Attribute attrs[10];
    Ldpb__Attribute *attr_ptrs[10];
    Ldpb__GetCreator gc;
    Ldpb__Follow f;
    Ldpb__RelayFollow rf;
} op_msg;

static void
user_init(op_msg *m)
{
    ldpb__op__init(&m->op);
    ldpb__create_user__init(&m->cu);
    m->cu.id = bin(id_a, 16);
    m->cu.name = "Ada";
    m->cu.email = "ada@example.org";
    m->op.body_case = LDPB__OP__BODY_CREATE_USER;
    m->op.create_user = &m->cu;
}

static void
creator_init(op_msg *m, size_t n_attrs)
{
    static char *keys[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"};
    ldpb__op__init(&m->op);
    ldpb__create_creator__init(&m->cc);
    m->cc.id = bin(id_b, 16);
    m->cc.handle = "Studio_9.x";
    m->cc.name = "Studio Nine";
    for (size_t i = 0; i < 10; i++) {
        ldpb__attribute__init(&m->attrs[i]);
        m->attrs[i].key = keys[i];
        m->attrs[i].value = "v";
        m->attr_ptrs[i] = &m->attrs[i];
    }
    m->cc.profile = m->attr_ptrs;
    m->cc.n_profile = n_attrs;
    m->op.body_case = LDPB__OP__BODY_CREATE_CREATOR;
    m->op.create_creator = &m->cc;
}

static void
follow_init(op_msg *m, Ldpb__Op__BodyCase body)
{
    ldpb__op__init(&m->op);
    ldpb__follow__init(&m->f);
    m->f.user_id = bin(id_a, 16);
    m->f.creator_id = bin(id_b, 16);
    /* Follow, Unfollow and IsFollowing have the same fields in the same layout. */
    m->op.body_case = body;
    m->op.follow = &m->f;
}

static void
relay_init(op_msg *m)
{
    ldpb__op__init(&m->op);
    ldpb__relay_follow__init(&m->rf);
    m->rf.source_shard = 0;
    m->rf.seq = 7;
    m->rf.user_id = bin(id_a, 16);
    m->rf.creator_id = bin(id_b, 16);
    m->rf.followed = 1;
    m->rf.at_ms = 12345;
    m->rf.creator_handle = "studio";
    m->op.body_case = LDPB__OP__BODY_RELAY_FOLLOW;
    m->op.relay_follow = &m->rf;
}

Test(codec_ops, create_user_fields)
{
    /* Goal: create_user decodes id, name and email; name is 1..100 bytes (MISSING_FIELD,
     * STRING_TOO_LONG), valid UTF-8; email is optional, at most 254 bytes, and local@domain.
     * Method: boundaries one field at a time. */
    op_msg m;
    user_init(&m);
    ld_op op = decode_ok(&m.op, false);
    cr_assert_eq(op.type, LD_OP_CREATE_USER);
    cr_assert_eq(memcmp(op.u.create_user.id.bytes, id_a, 16), 0);
    cr_assert_str_eq(op.u.create_user.name, "Ada");
    cr_assert_str_eq(op.u.create_user.email, "ada@example.org");
    m.cu.id = bin(id_zero, 16);
    expect(&m.op, LD_ERR_INVALID_ID, "create_user.id");
    m.cu.id = bin(id_a, 16);
    char buf[300];
    m.cu.name = "";
    expect(&m.op, LD_ERR_MISSING_FIELD, "create_user.name");
    m.cu.name = NULL;
    expect(&m.op, LD_ERR_MISSING_FIELD, "create_user.name");
    m.cu.name = fill(buf, 'n', LD_NAME_BYTES_MAX);
    expect(&m.op, LD_OK, NULL);
    m.cu.name = fill(buf, 'n', LD_NAME_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_user.name");
    m.cu.name = "a\xff";
    expect(&m.op, LD_ERR_INVALID_ARGUMENT, "create_user.name: not valid UTF-8");
    m.cu.name = "Ada";
    m.cu.email = "";
    expect(&m.op, LD_OK, NULL);
    m.cu.email = NULL;
    expect(&m.op, LD_OK, NULL);
    const char *bad[] = {"ada", "@example.org", "ada@", "a@b@c", "@"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.cu.email = (char *)bad[i];
        expect(&m.op, LD_ERR_INVALID_ARGUMENT, "create_user.email");
    }
    fill(buf, 'e', LD_EMAIL_BYTES_MAX);
    buf[1] = '@';
    m.cu.email = buf;
    expect(&m.op, LD_OK, NULL);
    fill(buf, 'e', LD_EMAIL_BYTES_MAX + 1);
    buf[1] = '@';
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_user.email");
}

Test(codec_ops, get_user_and_id_ops)
{
    /* Goal: get_user, get_product and cancel_drop take one id each, named in the refusal.
     * Method: valid, 15-byte and all-zero ids. */
    Ldpb__Op op = LDPB__OP__INIT;
    Ldpb__GetUser gu = LDPB__GET_USER__INIT;
    op.body_case = LDPB__OP__BODY_GET_USER;
    op.get_user = &gu;
    expect(&op, LD_ERR_INVALID_ID, "get_user.user_id");
    gu.user_id = bin(id_a, 16);
    cr_assert_eq(decode_ok(&op, false).type, LD_OP_GET_USER);
    Ldpb__GetProduct gp = LDPB__GET_PRODUCT__INIT;
    gp.product_id = bin(id_a, 15);
    op.body_case = LDPB__OP__BODY_GET_PRODUCT;
    op.get_product = &gp;
    expect(&op, LD_ERR_INVALID_ID, "get_product.product_id");
    gp.product_id = bin(id_c, 16);
    ld_op out = decode_ok(&op, false);
    cr_assert_eq(out.type, LD_OP_GET_PRODUCT);
    cr_assert_eq(memcmp(out.u.id.bytes, id_c, 16), 0);
    Ldpb__CancelDrop cd = LDPB__CANCEL_DROP__INIT;
    cd.drop_id = bin(id_zero, 16);
    op.body_case = LDPB__OP__BODY_CANCEL_DROP;
    op.cancel_drop = &cd;
    expect(&op, LD_ERR_INVALID_ID, "cancel_drop.drop_id");
    cd.drop_id = bin(id_b, 16);
    cr_assert_eq(decode_ok(&op, false).type, LD_OP_CANCEL_DROP);
}

Test(codec_ops, creator_handle)
{
    /* Goal: a handle is 3..32 characters of [A-Za-z0-9_.], kept as given; anything else
     * (empty, 2 or 33 characters, '-', space, '@', non-ASCII) is INVALID_HANDLE naming the
     * field. Method: each form on create_creator. */
    op_msg m;
    creator_init(&m, 0);
    ld_op op = decode_ok(&m.op, false);
    cr_assert_str_eq(op.u.create_creator.handle, "Studio_9.x");
    char buf[64];
    m.cc.handle = fill(buf, 'h', LD_HANDLE_BYTES_MIN);
    expect(&m.op, LD_OK, NULL);
    m.cc.handle = fill(buf, 'H', LD_HANDLE_BYTES_MAX);
    expect(&m.op, LD_OK, NULL);
    const char *bad[] = {"", "ab", "a-bc", "a bc", "ab@c", "caf\xc3\xa9", "abc\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        m.cc.handle = (char *)bad[i];
        expect(&m.op, LD_ERR_INVALID_HANDLE, "create_creator.handle");
    }
    m.cc.handle = NULL;
    expect(&m.op, LD_ERR_INVALID_HANDLE, "create_creator.handle");
    m.cc.handle = fill(buf, 'h', LD_HANDLE_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_INVALID_HANDLE, "create_creator.handle");
}

Test(codec_ops, creator_fields_and_profile)
{
    /* Goal: create_creator checks id and name, and its profile: at most LD_ATTRS_MAX pairs
     * (VALUE_OUT_OF_RANGE "too many attributes (max 8)"), keys 1..32 bytes (MISSING_FIELD,
     * STRING_TOO_LONG), values 0..128 bytes, keys unique (INVALID_ARGUMENT), no NULL entries.
     * Method: boundaries one at a time, field names checked. */
    op_msg m;
    creator_init(&m, LD_ATTRS_MAX);
    ld_op op = decode_ok(&m.op, false);
    cr_assert_eq(op.u.create_creator.profile_count, LD_ATTRS_MAX);
    cr_assert_str_eq(op.u.create_creator.profile[7].key, "k7");
    cr_assert_str_eq(op.u.create_creator.profile[7].value, "v");
    cr_assert_str_eq(op.u.create_creator.name, "Studio Nine");
    m.cc.n_profile = LD_ATTRS_MAX + 1;
    expect(&m.op, LD_ERR_VALUE_OUT_OF_RANGE, "create_creator.profile: too many attributes (max 8)");
    m.cc.n_profile = 3;
    char buf[300];
    m.attrs[1].key = "";
    expect(&m.op, LD_ERR_MISSING_FIELD, "create_creator.profile[1].key");
    m.attrs[1].key = fill(buf, 'k', LD_ATTR_KEY_BYTES_MAX);
    expect(&m.op, LD_OK, NULL);
    m.attrs[1].key = fill(buf, 'k', LD_ATTR_KEY_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_creator.profile[1].key");
    m.attrs[1].key = "k1";
    m.attrs[2].value = fill(buf, 'v', LD_ATTR_VALUE_BYTES_MAX);
    expect(&m.op, LD_OK, NULL);
    m.attrs[2].value = fill(buf, 'v', LD_ATTR_VALUE_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_creator.profile[2].value");
    m.attrs[2].value = "";
    expect(&m.op, LD_OK, NULL);
    m.attrs[2].value = "\xc0\x80";
    expect(&m.op, LD_ERR_INVALID_ARGUMENT, "create_creator.profile[2].value");
    m.attrs[2].value = "v";
    m.attrs[2].key = "k0";
    expect(&m.op, LD_ERR_INVALID_ARGUMENT, "create_creator.profile[2].key: duplicate");
    m.attrs[2].key = "K0"; /* keys compare exactly */
    expect(&m.op, LD_OK, NULL);
    m.attr_ptrs[0] = NULL;
    expect(&m.op, LD_ERR_MISSING_FIELD, "create_creator.profile[0]");
    m.attr_ptrs[0] = &m.attrs[0];
    m.cc.name = "";
    expect(&m.op, LD_ERR_MISSING_FIELD, "create_creator.name");
    m.cc.name = fill(buf, 'n', LD_NAME_BYTES_MAX + 1);
    expect(&m.op, LD_ERR_STRING_TOO_LONG, "create_creator.name");
    m.cc.name = "n";
    m.cc.id = bin(id_a, 3);
    expect(&m.op, LD_ERR_INVALID_ID, "create_creator.id");
}

Test(codec_ops, get_creator_by_id_or_handle)
{
    /* Goal: get_creator takes exactly one of creator_id and handle: neither is MISSING_FIELD,
     * both INVALID_ARGUMENT, a bad id INVALID_ID, a bad handle INVALID_HANDLE; by handle the
     * id stays zero and the handle is kept as given. Method: each combination. */
    op_msg m;
    ldpb__op__init(&m.op);
    ldpb__get_creator__init(&m.gc);
    m.op.body_case = LDPB__OP__BODY_GET_CREATOR;
    m.op.get_creator = &m.gc;
    expect(&m.op, LD_ERR_MISSING_FIELD, "get_creator");
    m.gc.handle = "Studio";
    ld_op op = decode_ok(&m.op, false);
    cr_assert(ld_id_is_zero(&op.u.get_creator.id));
    cr_assert_str_eq(op.u.get_creator.handle, "Studio");
    m.gc.creator_id = bin(id_b, 16);
    expect(&m.op, LD_ERR_INVALID_ARGUMENT, "not both");
    m.gc.handle = "";
    op = decode_ok(&m.op, false);
    cr_assert_eq(memcmp(op.u.get_creator.id.bytes, id_b, 16), 0);
    cr_assert_str_eq(op.u.get_creator.handle, "");
    m.gc.creator_id = bin(id_zero, 16);
    expect(&m.op, LD_ERR_INVALID_ID, "get_creator.creator_id");
    m.gc.creator_id = bin(NULL, 0);
    m.gc.handle = "a!";
    expect(&m.op, LD_ERR_INVALID_HANDLE, "get_creator.handle");
}

Test(codec_ops, follow_ops_ids)
{
    /* Goal: follow, unfollow and is_following decode user_id and creator_id, each named in its
     * INVALID_ID refusal with the op's own name; user == creator is left to the state machine.
     * Method: the three bodies with good and bad ids. */
    struct {
        Ldpb__Op__BodyCase body;
        ld_op_type type;
        const char *name;
    } cases[] = {{LDPB__OP__BODY_FOLLOW, LD_OP_FOLLOW, "follow"},
                 {LDPB__OP__BODY_UNFOLLOW, LD_OP_UNFOLLOW, "unfollow"},
                 {LDPB__OP__BODY_IS_FOLLOWING, LD_OP_IS_FOLLOWING, "is_following"}};
    for (size_t i = 0; i < 3; i++) {
        op_msg m;
        follow_init(&m, cases[i].body);
        ld_op op = decode_ok(&m.op, false);
        cr_assert_eq(op.type, cases[i].type);
        cr_assert_eq(memcmp(op.u.follow.user_id.bytes, id_a, 16), 0);
        cr_assert_eq(memcmp(op.u.follow.creator_id.bytes, id_b, 16), 0);
        char needle[64];
        m.f.user_id = bin(id_zero, 16);
        snprintf(needle, sizeof needle, "%s.user_id", cases[i].name);
        expect(&m.op, LD_ERR_INVALID_ID, needle);
        m.f.user_id = bin(id_a, 16);
        m.f.creator_id = bin(id_long, 17);
        snprintf(needle, sizeof needle, "%s.creator_id", cases[i].name);
        expect(&m.op, LD_ERR_INVALID_ID, needle);
        m.f.creator_id = bin(id_a, 16);
        expect(&m.op, LD_OK, NULL); /* self-follow: a business rule, not the codec's */
    }
}

Test(codec_ops, relay_follow_is_internal)
{
    /* Goal: relay_follow is refused from clients (UNKNOWN_OP) and decoded from the log with
     * every field; its ids, time and handle length are checked. Method: both directions, then
     * bad fields from the log. */
    op_msg m;
    relay_init(&m);
    expect(&m.op, LD_ERR_UNKNOWN_OP, "internal");
    ld_op op = decode_ok(&m.op, true);
    cr_assert_eq(op.type, LD_OP_RELAY_FOLLOW);
    cr_assert_eq(op.u.relay.seq, 7);
    cr_assert(op.u.relay.followed);
    cr_assert_eq(op.u.relay.at_ms, 12345);
    cr_assert_str_eq(op.u.relay.creator_handle, "studio");
    cr_assert_eq(memcmp(op.u.relay.creator_id.bytes, id_b, 16), 0);
    ld_result res;
    m.rf.at_ms = -1;
    cr_assert_eq(ld_codec_op_from_pb(&m.op, false, &op, &res), LD_ERR_INVALID_TIME);
    cr_assert(strstr(res.message, "relay_follow.at_ms") != NULL);
    m.rf.at_ms = 1;
    m.rf.user_id = bin(id_zero, 16);
    cr_assert_eq(ld_codec_op_from_pb(&m.op, false, &op, &res), LD_ERR_INVALID_ID);
    m.rf.user_id = bin(id_a, 16);
    char buf[64];
    m.rf.creator_handle = fill(buf, 'h', LD_HANDLE_BYTES_MAX + 1);
    cr_assert_eq(ld_codec_op_from_pb(&m.op, false, &op, &res), LD_ERR_STRING_TOO_LONG);
    m.rf.creator_handle = "";
    cr_assert_eq(ld_codec_op_from_pb(&m.op, false, &op, &res), LD_OK);
}

Test(codec_ops, social_ops_round_trip_with_principal)
{
    /* Goal: create_user, create_creator (full profile), get_creator (by id and by handle),
     * follow, unfollow, is_following, get_user and relay_follow survive op -> wire -> op byte
     * for byte, principal included. Method: decode each, round-trip, memcmp. */
    op_msg m;
    ld_op ops[16];
    size_t n = 0;
    user_init(&m);
    m.op.principal = bin(id_a, 16);
    ops[n++] = decode_ok(&m.op, false);
    m.cu.email = "";
    ops[n++] = decode_ok(&m.op, false);
    creator_init(&m, LD_ATTRS_MAX);
    m.op.principal = bin(id_b, 16);
    m.attrs[3].value = "";
    m.attrs[4].value = "caf\xc3\xa9";
    ops[n++] = decode_ok(&m.op, false);
    creator_init(&m, 0);
    ops[n++] = decode_ok(&m.op, false);
    Ldpb__Op__BodyCase fb[] = {LDPB__OP__BODY_FOLLOW, LDPB__OP__BODY_UNFOLLOW,
                               LDPB__OP__BODY_IS_FOLLOWING};
    for (size_t i = 0; i < 3; i++) {
        follow_init(&m, fb[i]);
        m.op.principal = bin(id_a, 16);
        ops[n++] = decode_ok(&m.op, false);
    }
    relay_init(&m);
    ops[n++] = decode_ok(&m.op, true);
    m.rf.followed = 0;
    m.rf.creator_handle = "";
    m.rf.source_shard = 3;
    m.rf.seq = UINT64_MAX;
    ops[n++] = decode_ok(&m.op, true);
    ldpb__op__init(&m.op);
    ldpb__get_creator__init(&m.gc);
    m.gc.handle = "Studio";
    m.op.body_case = LDPB__OP__BODY_GET_CREATOR;
    m.op.get_creator = &m.gc;
    ops[n++] = decode_ok(&m.op, false);
    m.gc.handle = "";
    m.gc.creator_id = bin(id_c, 16);
    ops[n++] = decode_ok(&m.op, false);
    memset(&ops[n], 0, sizeof ops[n]);
    ops[n].type = LD_OP_GET_USER;
    memcpy(ops[n].u.id.bytes, id_c, 16);
    n++;
    for (size_t i = 0; i < n; i++)
        expect_round_trip(&ops[i]);
}
