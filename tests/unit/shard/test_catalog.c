/*
 * test_catalog.c -- users, creators and catalog products (shard/catalog.c): principals,
 * idempotent creates, handle rules, product ownership, updates, list_products pages.
 */
#include "sm_fixture.h"

static const ld_id CREATOR = {.bytes = {0xAB, [13] = 0xC0, [14] = 0xFF, [15] = 0xEE}};

static void
world_creator(fx *f)
{
    fx_init(f, NULL);
    assert_code(fx_apply(f, T0, op_creator(CREATOR, "Sneaker_Head")), LD_OK);
}

Test(catalog, create_user_is_idempotent_and_checked)
{
    /* Goal: a user is created once; an identical retry is EXISTS, a different body ID_CONFLICT;
     * an empty name, and an email without exactly one '@' between text, are refused. Method: one
     * op per case, then get_user. */
    fx f;
    fx_init(&f, NULL);
    ld_result r = fx_apply(&f, T0, op_user(id_n(1), "Ada", "ada@example.com"));
    assert_code(r, LD_OK);
    cr_assert_eq(r.kind, LD_RESULT_USER);
    cr_assert_eq(r.u.user.created_at_ms, T0);
    assert_code(fx_apply(&f, T0 + 1, op_user(id_n(1), "Ada", "ada@example.com")), LD_EXISTS);
    assert_code(fx_apply(&f, T0 + 1, op_user(id_n(1), "Ada L", "ada@example.com")),
                LD_ERR_ID_CONFLICT);
    assert_code(fx_apply(&f, T0, op_user(id_n(2), "", "")), LD_ERR_MISSING_FIELD);
    const char *bad[] = {"ada", "@example.com", "ada@", "a@b@c"};
    for (int i = 0; i < 4; i++)
        assert_code(fx_apply(&f, T0, op_user(id_n(2), "Bo", bad[i])), LD_ERR_INVALID_ARGUMENT);
    assert_code(fx_apply(&f, T0, op_user(id_n(2), "Bo", "")), LD_OK);
    ld_result g = fx_read(&f, T0, op_id(LD_OP_GET_USER, id_n(1)));
    assert_code(g, LD_OK);
    cr_assert_str_eq(g.u.user.email, "ada@example.com");
    cr_assert_eq(g.u.user.following_count, 0);
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_USER, id_n(3))), LD_ERR_USER_NOT_FOUND);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(catalog, creates_need_their_own_principal_before_the_idempotency_lookup)
{
    /* Goal: create_user / create_creator with a missing or another principal are FORBIDDEN, also
     * when the id already exists (a forbidden request never sees a stored result). Method: create,
     * then retry the identical op with no principal and with another one. */
    fx f;
    fx_init(&f, NULL);
    ld_op u = op_user(id_n(1), "Ada", "");
    ld_op c = op_creator(id_n(2), "ada_makes");
    for (int round = 0; round < 2; round++) {
        ld_op nu = u, nc = c;
        memset(&nu.principal, 0, sizeof nu.principal);
        nc.principal = id_n(1);
        assert_code(fx_apply(&f, T0, nu), LD_ERR_FORBIDDEN);
        assert_code(fx_apply(&f, T0, nc), LD_ERR_FORBIDDEN);
        ld_result fr = fx_apply(&f, T0, nc);
        cr_assert(strstr(fr.message, "the creator being created") != NULL, "%s", fr.message);
        if (round == 0) {
            assert_code(fx_apply(&f, T0, u), LD_OK);
            assert_code(fx_apply(&f, T0, c), LD_OK);
        }
    }
    fx_fini(&f);
}

Test(catalog, handles_are_unique_case_insensitively_and_kept_as_given)
{
    /* Goal: a handle differing only in case is HANDLE_TAKEN; get_creator by handle ignores case
     * and returns the handle as given; handles of bad length or characters are INVALID_HANDLE;
     * profile keys must be unique. Method: creators with related handles. */
    fx f;
    world_creator(&f);
    assert_code(fx_apply(&f, T0, op_creator(id_n(2), "sneaker_head")), LD_ERR_HANDLE_TAKEN);
    assert_code(fx_apply(&f, T0, op_creator(id_n(2), "SNEAKER_HEAD")), LD_ERR_HANDLE_TAKEN);
    assert_code(fx_apply(&f, T0, op_creator(id_n(2), "sneaker_head2")), LD_OK);
    const char *bad[] = {"ab", "with space", "dash-no", "caf\xc3\xa9"};
    for (int i = 0; i < 4; i++)
        assert_code(fx_apply(&f, T0, op_creator(id_n(3), bad[i])), LD_ERR_INVALID_HANDLE);
    ld_op dup = op_creator(id_n(3), "dup.keys");
    dup.u.create_creator.profile_count = 2;
    strcpy(dup.u.create_creator.profile[0].key, "site");
    strcpy(dup.u.create_creator.profile[1].key, "site");
    assert_code(fx_apply(&f, T0, dup), LD_ERR_INVALID_ARGUMENT);
    strcpy(dup.u.create_creator.profile[1].key, "bio");
    assert_code(fx_apply(&f, T0, dup), LD_OK);
    ld_op get;
    memset(&get, 0, sizeof get);
    get.type = LD_OP_GET_CREATOR;
    strcpy(get.u.get_creator.handle, "sNEAKER_hEAD");
    ld_result g = fx_read(&f, T0, get);
    assert_code(g, LD_OK);
    cr_assert_str_eq(g.u.creator.spec.handle, "Sneaker_Head");
    cr_assert(ld_id_eq(&g.u.creator.spec.id, &CREATOR));
    strcpy(get.u.get_creator.handle, "nobody");
    assert_code(fx_read(&f, T0, get), LD_ERR_CREATOR_NOT_FOUND);
    get.u.get_creator.id = id_n(3);
    ld_result byid = fx_read(&f, T0, get);
    assert_code(byid, LD_OK);
    cr_assert_eq(byid.u.creator.spec.profile_count, 2);
    /* An identical retry is EXISTS even though its handle is "taken" (by itself). */
    assert_code(fx_apply(&f, T0 + 1, op_creator(CREATOR, "Sneaker_Head")), LD_EXISTS);
    assert_code(fx_apply(&f, T0 + 1, op_creator(CREATOR, "sneaker_head")), LD_ERR_ID_CONFLICT);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(catalog, products_belong_to_their_creator)
{
    /* Goal: create_product needs the creator's principal and an existing creator; only the
     * product's creator may update it; update replaces the fields and sets updated_at; creates
     * are idempotent; attribute keys must be unique. Method: one op per rule. */
    fx f;
    world_creator(&f);
    assert_code(fx_apply(&f, T0, op_creator(id_n(9), "other_one")), LD_OK);
    ld_op p = op_product(id_n(100), CREATOR, "Runner", 5000);
    ld_op wrong = p;
    wrong.principal = id_n(9);
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    memset(&wrong.principal, 0, sizeof wrong.principal);
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    assert_code(fx_apply(&f, T0, op_product(id_n(101), id_n(77), "x", 1)),
                LD_ERR_CREATOR_NOT_FOUND);
    ld_op dup = p;
    dup.u.product.attrs_count = 2;
    strcpy(dup.u.product.attrs[1].key, "size");
    assert_code(fx_apply(&f, T0, dup), LD_ERR_INVALID_ARGUMENT);
    assert_code(fx_apply(&f, T0, p), LD_OK);
    assert_code(fx_apply(&f, T0 + 1, p), LD_EXISTS);
    ld_op changed = p;
    changed.u.product.price_minor = 1;
    assert_code(fx_apply(&f, T0 + 1, changed), LD_ERR_ID_CONFLICT);

    ld_op up = p;
    up.type = LD_OP_UPDATE_PRODUCT;
    memset(&up.u.product.creator_id, 0, sizeof up.u.product.creator_id);
    strcpy(up.u.product.title, "Runner 2");
    up.u.product.tags_count = 0;
    up.principal = id_n(9);
    assert_code(fx_apply(&f, T0 + 5, up), LD_ERR_FORBIDDEN);
    memset(&up.principal, 0, sizeof up.principal);
    assert_code(fx_apply(&f, T0 + 5, up), LD_ERR_FORBIDDEN);
    up.principal = CREATOR;
    ld_result u = fx_apply(&f, T0 + 5, up);
    assert_code(u, LD_OK);
    cr_assert_str_eq(u.u.product.spec.title, "Runner 2");
    cr_assert_eq(u.u.product.spec.tags_count, 0);
    cr_assert(ld_id_eq(&u.u.product.spec.creator_id, &CREATOR));
    cr_assert_eq(u.u.product.created_at_ms, T0);
    cr_assert_eq(u.u.product.updated_at_ms, T0 + 5);
    up.u.product.id = id_n(555);
    assert_code(fx_apply(&f, T0 + 5, up), LD_ERR_PRODUCT_NOT_FOUND);
    ld_result g = fx_read(&f, T0, op_id(LD_OP_GET_PRODUCT, id_n(100)));
    assert_code(g, LD_OK);
    cr_assert_str_eq(g.u.product.spec.attrs[0].value, "42");
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_PRODUCT, id_n(5))), LD_ERR_PRODUCT_NOT_FOUND);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(catalog, list_products_newest_first_in_pages)
{
    /* Goal: a creator's products list newest first (ties by id), in pages whose cursors resume
     * exactly after the last one; another creator's products never show; first above the max is
     * VALUE_OUT_OF_RANGE and a cursor of another list INVALID_CURSOR. Method: 7 products over 4
     * times, pages of 3. */
    fx f;
    world_creator(&f);
    assert_code(fx_apply(&f, T0, op_creator(id_n(9), "other_one")), LD_OK);
    for (uint32_t i = 0; i < 7; i++)
        assert_code(fx_apply(&f, T0 + i / 2, op_product(id_n(200 + i), CREATOR, "p", 1)), LD_OK);
    assert_code(fx_apply(&f, T0 + 9, op_product(id_n(300), id_n(9), "q", 1)), LD_OK);
    ld_page *page = page_alloc();
    uint32_t want[] = {206, 204, 205, 202, 203, 200, 201}; /* newest time first, then by id */
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    uint32_t seen = 0;
    for (int n = 0; n < 3; n++) {
        cr_assert_eq(fx_page(&f, op_list(LD_OP_LIST_PRODUCTS, CREATOR, 3, after), page), LD_OK);
        cr_assert_eq(page->kind, LD_RESULT_PRODUCT_PAGE);
        for (uint32_t i = 0; i < page->count; i++) {
            ld_id w = id_n(want[seen++]);
            cr_assert(ld_id_eq(&page->u.products[i].spec.id, &w), "item %u", seen - 1);
        }
        cr_assert_eq(page->has_next_page, seen < 7);
        strcpy(after, page->end_cursor);
    }
    cr_assert_eq(seen, 7);
    ld_op big = op_list(LD_OP_LIST_PRODUCTS, CREATOR, LD_PAGE_DROPS_MAX + 1, "");
    cr_assert_eq(fx_page(&f, big, page), LD_ERR_VALUE_OUT_OF_RANGE);
    cr_assert_eq(fx_page(&f, op_list(LD_OP_LIST_PRODUCTS, CREATOR, 0, ""), page), LD_OK);
    cr_assert_eq(page->count, 7); /* first 0 means LD_PAGE_DEFAULT */
    ld_op other = op_list(LD_OP_LIST_FOLLOWERS, CREATOR, 3, "");
    cr_assert_eq(fx_page(&f, other, page), LD_OK);
    cr_assert_eq(fx_page(&f, op_list(LD_OP_LIST_PRODUCTS, CREATOR, 3, "garbage"), page),
                 LD_ERR_INVALID_CURSOR);
    ld_cursor foreign = {.list = LD_CURSOR_FOLLOWERS, .sort_key = 1, .id = id_n(1)};
    char text[LD_CURSOR_BYTES_MAX + 1];
    ld_cursor_encode(&foreign, text);
    cr_assert_eq(fx_page(&f, op_list(LD_OP_LIST_PRODUCTS, CREATOR, 3, text), page),
                 LD_ERR_INVALID_CURSOR);
    ldi_sm_check_store(f.sm);
    free(page);
    fx_fini(&f);
}

Test(catalog, capacities_refuse_new_records)
{
    /* Goal: full user, creator and product tables answer CAPACITY and store nothing; existing ids
     * still answer EXISTS. Method: caps of 2 each. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.users = 2;
    caps.creators = 2;
    caps.products = 2;
    fx f;
    fx_init(&f, &caps);
    for (uint32_t i = 0; i < 2; i++) {
        char h[16];
        snprintf(h, sizeof h, "maker%u", i);
        assert_code(fx_apply(&f, T0, op_user(id_n(1 + i), "u", "")), LD_OK);
        assert_code(fx_apply(&f, T0, op_creator(id_n(10 + i), h)), LD_OK);
        assert_code(fx_apply(&f, T0, op_product(id_n(20 + i), id_n(10), "p", 1)), LD_OK);
    }
    assert_code(fx_apply(&f, T0, op_user(id_n(3), "u", "")), LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0, op_creator(id_n(12), "maker2")), LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0, op_product(id_n(22), id_n(10), "p", 1)), LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0, op_user(id_n(1), "u", "")), LD_EXISTS);
    ld_sm_stats st;
    ld_sm_stats_get(f.sm, &st);
    cr_assert(st.users == 2 && st.creators == 2 && st.products == 2);
    fx_restart(&f);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(catalog, a_full_topic_table_refuses_creators_and_drops_but_not_events)
{
    /* Goal: creators and drops need room for their topics (CAPACITY otherwise, nothing
     * created); a user's topic is made by its first event, and when the table is full the event
     * is still emitted, just not on that user's topic. Method: caps.topics = 3: a creator (1
     * topic), an inline drop of it (its drop topic: 2), a second creator fits (3); a second drop
     * and a third creator do not; a follow's event then has no user topic. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.topics = 3;
    fx f;
    fx_init(&f, &caps);
    assert_code(fx_apply(&f, T0, op_creator(CREATOR, "maker")), LD_OK);
    fx_users(&f, 9, 1); /* users have no topic until their first event */
    assert_code(fx_apply(&f, T0, op_create(id_n(1), T0, T0 + DAY_MS, 5, 0)), LD_OK);
    assert_code(fx_apply(&f, T0, op_creator(id_n(2), "maker2")), LD_OK);
    assert_code(fx_apply(&f, T0, op_create(id_n(3), T0, T0 + DAY_MS, 5, 0)), LD_ERR_CAPACITY);
    assert_code(fx_apply(&f, T0, op_creator(id_n(4), "maker4")), LD_ERR_CAPACITY);
    assert_code(fx_read(&f, T0, op_id(LD_OP_GET_DROP, id_n(3))), LD_ERR_DROP_NOT_FOUND);
    ld_result r = fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, id_n(9), CREATOR));
    assert_code(r, LD_OK);
    const ld_event_view *evs;
    cr_assert_eq(fx_events(&f, &evs), 1);
    cr_assert_gt(evs[0].topic_seq[LD_TOPIC_CREATOR], 0);
    cr_assert_eq(evs[0].topic_seq[LD_TOPIC_USER], 0);
    ld_store_mem_sync(f.mem);
    ld_sm_check(f.sm);
    ldi_sm_check_store(f.sm);
    fx_restart(&f);
    ld_sm_check(f.sm);
    fx_fini(&f);
}
