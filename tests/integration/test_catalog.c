/*
 * test_catalog.c -- users, creators, catalog products and drops scheduled from
 * them on a real node: idempotent creates, handle rules, snapshots, creator
 * scoping (ERR_FORBIDDEN for every creator-scoped write made by another
 * principal, with nothing changed), cancellation and time checks.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(catalog, .fini = ldh_suite_fini, .timeout = 120);

#define CAT_EXPECT(call, code)                                                                     \
    do {                                                                                           \
        ld_errmsg m_ = {{0}}; /* `call` passes &m_ */                                              \
        ld_err e_ = (call);                                                                        \
        cr_assert_eq(e_, (code), "%s: %s (%s), expected %s", #call, ld_err_name(e_), m_.text,      \
                     ld_err_name(code));                                                           \
        cr_assert(e_ == LD_OK || m_.text[0], "%s: %s without a message", #call, ld_err_name(e_));  \
    } while (0)

typedef struct cat_env {
    ldh_node node;
    ld_client *c;
} cat_env;

static void
cat_open(cat_env *env)
{
    ldh_node_spawn(&env->node, 0);
    env->c = ldh_client(&env->node, 10000);
}

static void
cat_close(cat_env *env)
{
    ld_client_close(env->c);
    ldh_node_stop(&env->node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&env->node);
}

Test(catalog, users_are_created_once_and_read_back)
{
    /* Goal: a user create is idempotent by id (LD_EXISTS when identical,
     * ERR_ID_CONFLICT when not), reads back as created, and bad names and emails
     * are refused. Method: the public API; created_at bracketed by the wall
     * clock. */
    cat_env env;
    cat_open(&env);
    ld_user_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = ldh_id();
    snprintf(spec.name, sizeof spec.name, "Grace Hopper");
    snprintf(spec.email, sizeof spec.email, "grace@example.com");
    ld_user u, got;
    ld_errmsg msg = {{0}};
    int64_t t0 = ldh_now_ms();
    cr_assert_eq(ld_user_create(env.c, &spec, &u, &msg), LD_OK, "%s", msg.text);
    int64_t t1 = ldh_now_ms();
    cr_assert_str_eq(u.spec.name, "Grace Hopper");
    cr_assert_str_eq(u.spec.email, "grace@example.com");
    cr_assert(u.created_at_ms >= t0 && u.created_at_ms <= t1);
    cr_assert_eq(u.following_count, 0);
    cr_assert_eq(ld_user_create(env.c, &spec, &got, &msg), LD_EXISTS, "identical retry");
    cr_assert_eq(got.created_at_ms, u.created_at_ms);
    ld_user_spec other = spec;
    snprintf(other.name, sizeof other.name, "Someone Else");
    ld_err err = ld_user_create(env.c, &other, &got, &msg);
    cr_assert_eq(err, LD_ERR_ID_CONFLICT, "same id, other name: %s", ld_err_name(err));
    cr_assert(msg.text[0]);
    cr_assert_eq(ld_user_get(env.c, &spec.id, &got, &msg), LD_OK);
    cr_assert_str_eq(got.spec.name, "Grace Hopper", "the conflicting create changed the user");
    ld_id unknown = ldh_id();
    CAT_EXPECT(ld_user_get(env.c, &unknown, &got, &m_), LD_ERR_USER_NOT_FOUND);

    static const char *const bad_emails[] = {"nope", "@example.com", "grace@", "a@b@c"};
    for (size_t i = 0; i < sizeof bad_emails / sizeof bad_emails[0]; i++) {
        ld_user_spec s = spec;
        s.id = ldh_id();
        snprintf(s.email, sizeof s.email, "%s", bad_emails[i]);
        err = ld_user_create(env.c, &s, &got, &msg);
        cr_assert_eq(err, LD_ERR_INVALID_ARGUMENT, "email \"%s\": %s", bad_emails[i],
                     ld_err_name(err));
        cr_assert(msg.text[0]);
    }
    ld_user_spec s = spec;
    s.id = ldh_id();
    s.email[0] = '\0'; /* no email is fine */
    cr_assert_eq(ld_user_create(env.c, &s, &got, &msg), LD_OK, "%s", msg.text);
    s.id = ldh_id();
    s.name[0] = '\0';
    err = ld_user_create(env.c, &s, &got, &msg);
    cr_assert_eq(err, LD_ERR_MISSING_FIELD, "empty name: %s", ld_err_name(err));
    cat_close(&env);
}

Test(catalog, creator_handles_are_unique_case_insensitively)
{
    /* Goal: a creator's handle is stored as given, found by any case, unique
     * regardless of case (ERR_HANDLE_TAKEN), and must be 3..32 of [A-Za-z0-9_.]
     * (ERR_INVALID_HANDLE); creates are idempotent by id; profiles keep their
     * attributes. Method: the public API. */
    cat_env env;
    cat_open(&env);
    ld_creator_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = ldh_id();
    snprintf(spec.handle, sizeof spec.handle, "Neon.Tiger_%.6s", ldh_hex(&spec.id));
    snprintf(spec.name, sizeof spec.name, "Neon Tiger");
    spec.profile_count = LD_ATTRS_MAX;
    for (uint32_t i = 0; i < LD_ATTRS_MAX; i++) {
        snprintf(spec.profile[i].key, sizeof spec.profile[i].key, "k%u", i);
        snprintf(spec.profile[i].value, sizeof spec.profile[i].value, "v%u", i);
    }
    ld_creator cr, got;
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_creator_create(env.c, &spec, &cr, &msg), LD_OK, "%s", msg.text);
    cr_assert_str_eq(cr.spec.handle, spec.handle);
    cr_assert_eq(cr.spec.profile_count, LD_ATTRS_MAX);
    cr_assert_str_eq(cr.spec.profile[7].value, "v7");
    cr_assert_eq(cr.follower_count, 0);
    cr_assert_eq(ld_creator_create(env.c, &spec, &got, &msg), LD_EXISTS);

    char lower[LD_HANDLE_BYTES_MAX + 1], upper[LD_HANDLE_BYTES_MAX + 1];
    for (size_t i = 0; i <= strlen(spec.handle); i++) {
        lower[i] = (char)tolower((unsigned char)spec.handle[i]);
        upper[i] = (char)toupper((unsigned char)spec.handle[i]);
    }
    cr_assert_eq(ld_creator_get_by_handle(env.c, lower, &got, &msg), LD_OK, "%s", msg.text);
    cr_assert(ldh_id_eq(&got.spec.id, &spec.id));
    cr_assert_str_eq(got.spec.handle, spec.handle, "the handle is stored as given");
    cr_assert_eq(ld_creator_get_by_handle(env.c, upper, &got, &msg), LD_OK);
    cr_assert(ldh_id_eq(&got.spec.id, &spec.id));
    cr_assert_eq(ld_creator_get(env.c, &spec.id, &got, &msg), LD_OK);
    cr_assert_str_eq(got.spec.name, "Neon Tiger");

    ld_creator_spec taken = spec;
    taken.id = ldh_id();
    snprintf(taken.handle, sizeof taken.handle, "%s", upper);
    ld_err err = ld_creator_create(env.c, &taken, &got, &msg);
    cr_assert_eq(err, LD_ERR_HANDLE_TAKEN, "the handle in upper case: %s", ld_err_name(err));
    cr_assert(msg.text[0]);
    CAT_EXPECT(ld_creator_get(env.c, &taken.id, &got, &m_), LD_ERR_CREATOR_NOT_FOUND);
    CAT_EXPECT(ld_creator_get_by_handle(env.c, "no_such_handle", &got, &m_),
               LD_ERR_CREATOR_NOT_FOUND);
    ld_creator_spec conflict = spec;
    snprintf(conflict.name, sizeof conflict.name, "Renamed");
    CAT_EXPECT(ld_creator_create(env.c, &conflict, &got, &m_), LD_ERR_ID_CONFLICT);

    /* (A handle over 32 bytes does not fit the struct: test_bad_input3 sends one
     * raw.) */
    static const char *const bad[] = {"ab", "has-dash", "has space", "caf\xc3\xa9", "a/b", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ld_creator_spec s = spec;
        s.id = ldh_id();
        snprintf(s.handle, sizeof s.handle, "%s", bad[i]);
        err = ld_creator_create(env.c, &s, &got, &msg);
        cr_assert_eq(err, LD_ERR_INVALID_HANDLE, "handle \"%s\": %s", bad[i], ld_err_name(err));
    }
    ld_creator_spec dup = spec;
    dup.id = ldh_id();
    snprintf(dup.handle, sizeof dup.handle, "dupkeys%.6s", ldh_hex(&dup.id));
    snprintf(dup.profile[1].key, sizeof dup.profile[1].key, "k0");
    CAT_EXPECT(ld_creator_create(env.c, &dup, &got, &m_), LD_ERR_INVALID_ARGUMENT);
    cat_close(&env);
}

static void
assert_product(const ld_catalog_product *p, const ld_catalog_product_spec *want)
{
    cr_assert(ldh_id_eq(&p->spec.id, &want->id));
    cr_assert(ldh_id_eq(&p->spec.creator_id, &want->creator_id));
    cr_assert_str_eq(p->spec.title, want->title);
    cr_assert_eq(p->spec.price_minor, want->price_minor);
    cr_assert_str_eq(p->spec.currency, want->currency);
    cr_assert_eq(p->spec.tags_count, want->tags_count);
    for (uint32_t i = 0; i < want->tags_count; i++)
        cr_assert_str_eq(p->spec.tags[i], want->tags[i]);
    cr_assert_eq(p->spec.attrs_count, want->attrs_count);
    for (uint32_t i = 0; i < want->attrs_count; i++) {
        cr_assert_str_eq(p->spec.attrs[i].key, want->attrs[i].key);
        cr_assert_str_eq(p->spec.attrs[i].value, want->attrs[i].value);
    }
}

/* Walks the creator's products 2 per page: specs[n-1] .. specs[0]. */
static void
assert_products_newest_first(ld_client *c, const ld_id *creator,
                             const ld_catalog_product_spec *specs, int n)
{
    ld_product_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    int seen = 0;
    for (;;) {
        cr_assert_eq(ld_products_list(c, creator, 2, after, page, &msg), LD_OK, "%s", msg.text);
        for (uint32_t i = 0; i < page->count; i++, seen++) {
            cr_assert_lt(seen, n);
            cr_assert(ldh_id_eq(&page->products[i].spec.id, &specs[n - 1 - seen].id),
                      "product %d of the list is not Tee #%d", seen, n - 1 - seen);
        }
        if (!page->page_info.has_next_page)
            break;
        snprintf(after, sizeof after, "%s", page->page_info.end_cursor);
    }
    cr_assert_eq(seen, n);
    free(page);
}

Test(catalog, products_create_update_get_list)
{
    /* Goal: products are created once per id (LD_EXISTS / ERR_ID_CONFLICT), need
     * a known creator, update replaces every field and stamps updated_at
     * (created_at stays), and a creator's products list newest first across
     * pages. Method: 5 products created after the wall clock passed the previous
     * one's time; walked with first 2. */
    cat_env env;
    cat_open(&env);
    ld_id creator = ldh_creator_create(env.c, "maker", NULL);
    static const char *const tags[] = {"tee", "cotton", NULL};
    ld_catalog_product_spec specs[5];
    ld_catalog_product made[5];
    for (int i = 0; i < 5; i++) {
        char title[32];
        snprintf(title, sizeof title, "Tee #%d", i);
        ldh_catalog_spec(&specs[i], &creator, title, 1500 + i, tags);
        if (i > 0)
            ldh_wait_clock_past(made[i - 1].created_at_ms);
        ldh_product_create(env.c, &specs[i], &made[i]);
        assert_product(&made[i], &specs[i]);
        cr_assert_eq(made[i].updated_at_ms, made[i].created_at_ms);
    }
    ld_catalog_product got;
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_product_create(env.c, &specs[0], &got, &msg), LD_EXISTS);
    ld_catalog_product_spec conflict = specs[0];
    conflict.price_minor = 1;
    CAT_EXPECT(ld_product_create(env.c, &conflict, &got, &m_), LD_ERR_ID_CONFLICT);
    ld_catalog_product_spec orphan;
    ld_id nobody = ldh_id();
    ldh_catalog_spec(&orphan, &nobody, "Orphan", 100, NULL);
    CAT_EXPECT(ld_product_create(env.c, &orphan, &got, &m_), LD_ERR_CREATOR_NOT_FOUND);

    ld_catalog_product_spec upd = specs[2];
    snprintf(upd.title, sizeof upd.title, "Tee #2, second edition");
    upd.price_minor = 2500;
    memcpy(upd.currency, "USD", 4);
    upd.tags_count = 1;
    snprintf(upd.tags[0], sizeof upd.tags[0], "limited");
    upd.attrs_count = 2;
    snprintf(upd.attrs[1].key, sizeof upd.attrs[1].key, "size");
    snprintf(upd.attrs[1].value, sizeof upd.attrs[1].value, "XL");
    ldh_wait_clock_past(made[4].created_at_ms);
    int64_t t0 = ldh_now_ms();
    cr_assert_eq(ld_product_update(env.c, &upd, &got, &msg), LD_OK, "%s", msg.text);
    assert_product(&got, &upd);
    cr_assert_eq(got.created_at_ms, made[2].created_at_ms, "update moved created_at");
    cr_assert_geq(got.updated_at_ms, t0);
    cr_assert_eq(ld_product_get(env.c, &upd.id, &got, &msg), LD_OK);
    assert_product(&got, &upd);
    ld_catalog_product_spec ghost = upd;
    ghost.id = ldh_id();
    CAT_EXPECT(ld_product_update(env.c, &ghost, &got, &m_), LD_ERR_PRODUCT_NOT_FOUND);
    CAT_EXPECT(ld_product_get(env.c, &ghost.id, &got, &m_), LD_ERR_PRODUCT_NOT_FOUND);

    /* Newest first, 2 per page; an update does not move a product in the list. */
    assert_products_newest_first(env.c, &creator, specs, 5);
    ld_product_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    CAT_EXPECT(ld_products_list(env.c, &creator, LD_PAGE_DROPS_MAX + 1, NULL, page, &m_),
               LD_ERR_VALUE_OUT_OF_RANGE);
    free(page);
    cat_close(&env);
}

Test(catalog, drops_from_a_product_keep_their_snapshot)
{
    /* Goal: a drop scheduled from a catalog product copies the product's fields
     * (and its id) and keeps them when the product is updated later; a drop from
     * the updated product gets the new fields; an unknown product is
     * ERR_PRODUCT_NOT_FOUND. Method: product -> drop -> update -> get_drop, then
     * a second drop. */
    cat_env env;
    cat_open(&env);
    ld_id creator = ldh_creator_create(env.c, "snap", NULL);
    static const char *const tags[] = {"hoodie", "winter", NULL};
    ld_catalog_product_spec ps;
    ldh_catalog_spec(&ps, &creator, "Hoodie", 4900, tags);
    ldh_product_create(env.c, &ps, NULL);

    ld_drop_spec ds;
    int64_t now = ldh_now_ms();
    ldh_drop_spec_at(&ds, &creator, now - 1000, now + 3600000, 20);
    memset(&ds.product, 0, sizeof ds.product);
    ds.product.creator_id = creator;
    ds.product_id = ps.id;
    ld_drop d;
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_drop_create(env.c, &ds, &d, &msg), LD_OK, "%s", msg.text);
    cr_assert(ldh_id_eq(&d.spec.product_id, &ps.id), "the drop does not name its product");
    cr_assert_str_eq(d.spec.product.title, "Hoodie");
    cr_assert_eq(d.spec.product.price_minor, 4900);
    cr_assert_str_eq(d.spec.product.currency, "EUR");
    cr_assert_eq(d.spec.product.tags_count, 2);
    cr_assert_str_eq(d.spec.product.tags[1], "winter");
    cr_assert_eq(ld_drop_create(env.c, &ds, &d, &msg), LD_EXISTS, "retry of a product drop");

    ld_catalog_product_spec upd = ps;
    snprintf(upd.title, sizeof upd.title, "Hoodie v2");
    upd.price_minor = 5900;
    upd.tags_count = 0;
    cr_assert_eq(ld_product_update(env.c, &upd, NULL, &msg), LD_OK, "%s", msg.text);
    ldh_drop_get(env.c, &ds.id, &d);
    cr_assert_str_eq(d.spec.product.title, "Hoodie", "the update reached a scheduled drop");
    cr_assert_eq(d.spec.product.price_minor, 4900);
    cr_assert_eq(d.spec.product.tags_count, 2);

    ld_drop_spec ds2 = ds;
    ds2.id = ldh_id();
    cr_assert_eq(ld_drop_create(env.c, &ds2, &d, &msg), LD_OK, "%s", msg.text);
    cr_assert_str_eq(d.spec.product.title, "Hoodie v2");
    cr_assert_eq(d.spec.product.price_minor, 5900);
    cr_assert_eq(d.spec.product.tags_count, 0);

    /* An order is priced from the snapshot. */
    ld_id buyer = ldh_id();
    ld_order o;
    cr_assert_eq(ld_place_order(env.c, &ds.id, &buyer, 2, "snap-1", "pm_card_ok", &o, &msg), LD_OK,
                 "%s", msg.text);
    cr_assert_eq(o.total_minor, 2 * 4900);

    ld_drop_spec ghost = ds;
    ghost.id = ldh_id();
    ghost.product_id = ldh_id();
    CAT_EXPECT(ld_drop_create(env.c, &ghost, &d, &m_), LD_ERR_PRODUCT_NOT_FOUND);
    CAT_EXPECT(ld_drop_get(env.c, &ghost.id, &d, &m_), LD_ERR_DROP_NOT_FOUND);
    cat_close(&env);
}

/* Raw create_product acting as `principal` (NULL: none) for creator `owner`. */
static ld_err
raw_create_product(ld_client *c, const ld_id *principal, const ld_catalog_product_spec *s)
{
    Ldpb__CreateProduct cp = LDPB__CREATE_PRODUCT__INIT;
    cp.id = ldh_pb_id(&s->id);
    cp.creator_id = ldh_pb_id(&s->creator_id);
    cp.title = (char *)s->title;
    cp.price_minor = s->price_minor;
    cp.currency = (char *)s->currency;
    Ldpb__Op op = LDPB__OP__INIT;
    if (principal)
        op.principal = ldh_pb_id(principal);
    op.body_case = LDPB__OP__BODY_CREATE_PRODUCT;
    op.create_product = &cp;
    return ldh_raw_op(c, &op, NULL);
}

/* Raw inline create_drop of `owner`'s product acting as `principal` (NULL:
 * none). */
static ld_err
raw_create_drop(ld_client *c, const ld_id *principal, const ld_drop_spec *s)
{
    Ldpb__Product p = LDPB__PRODUCT__INIT;
    p.creator_id = ldh_pb_id(&s->product.creator_id);
    p.title = (char *)s->product.title;
    p.price_minor = s->product.price_minor;
    p.currency = (char *)s->product.currency;
    Ldpb__CreateDrop cd = LDPB__CREATE_DROP__INIT;
    cd.id = ldh_pb_id(&s->id);
    cd.product = &p;
    cd.starts_at_ms = s->starts_at_ms;
    cd.ends_at_ms = s->ends_at_ms;
    cd.initial_stock = s->initial_stock;
    Ldpb__Op op = LDPB__OP__INIT;
    if (principal)
        op.principal = ldh_pb_id(principal);
    op.body_case = LDPB__OP__BODY_CREATE_DROP;
    op.create_drop = &cd;
    return ldh_raw_op(c, &op, NULL);
}

Test(catalog, creator_scoped_writes_by_another_principal_are_forbidden)
{
    /* Goal: every creator-scoped write -- create_product, update_product,
     * create_drop (from a product and inline), cancel_drop -- made by another
     * creator is ERR_FORBIDDEN (so is a create_product by no one), even when it
     * repeats an existing create (the principal is checked before idempotency),
     * and changes nothing. Method: creators A and B; the public API where it lets
     * the acting creator differ (update, drop from a product, cancel), raw ops
     * elsewhere; each refusal is followed by reads that show the state unchanged.
     */
    cat_env env;
    cat_open(&env);
    ld_id a = ldh_creator_create(env.c, "owner", NULL);
    ld_id b = ldh_creator_create(env.c, "intruder", NULL);
    ld_catalog_product_spec pa;
    ldh_catalog_spec(&pa, &a, "A's print", 3000, NULL);
    ldh_product_create(env.c, &pa, NULL);
    int64_t now = ldh_now_ms();
    ld_drop_spec da;
    ldh_drop_spec_at(&da, &a, now + 3600000, now + 7200000, 10);
    ldh_drop_create(env.c, &da, NULL);
    ld_errmsg msg = {{0}};
    ld_catalog_product got;
    ld_drop d;

    ld_catalog_product_spec pb_for_a;
    ldh_catalog_spec(&pb_for_a, &a, "B sneaks into A's catalog", 1, NULL);
    cr_assert_eq(raw_create_product(env.c, &b, &pb_for_a), LD_ERR_FORBIDDEN);
    cr_assert_eq(raw_create_product(env.c, NULL, &pb_for_a), LD_ERR_FORBIDDEN);
    CAT_EXPECT(ld_product_get(env.c, &pb_for_a.id, &got, &m_), LD_ERR_PRODUCT_NOT_FOUND);
    cr_assert_eq(raw_create_product(env.c, &b, &pa), LD_ERR_FORBIDDEN,
                 "a forbidden retry of an existing product saw its stored result");

    ld_catalog_product_spec upd = pa;
    upd.creator_id = b;
    upd.price_minor = 1;
    CAT_EXPECT(ld_product_update(env.c, &upd, &got, &m_), LD_ERR_FORBIDDEN);
    cr_assert_eq(ld_product_get(env.c, &pa.id, &got, &msg), LD_OK);
    cr_assert_eq(got.spec.price_minor, 3000, "a forbidden update changed the price");

    ld_drop_spec from_product;
    ldh_drop_spec_at(&from_product, &b, now - 1000, now + 3600000, 10);
    memset(&from_product.product, 0, sizeof from_product.product);
    from_product.product.creator_id = b;
    from_product.product_id = pa.id;
    CAT_EXPECT(ld_drop_create(env.c, &from_product, &d, &m_), LD_ERR_FORBIDDEN);
    CAT_EXPECT(ld_drop_get(env.c, &from_product.id, &d, &m_), LD_ERR_DROP_NOT_FOUND);

    ld_drop_spec inline_a;
    ldh_drop_spec_at(&inline_a, &a, now - 1000, now + 3600000, 10);
    /* A wrong principal: refused before anything is looked up (a missing one is refused
     * the same way on every write: shard/sm.c, ldi_principal_is). */
    cr_assert_eq(raw_create_drop(env.c, &b, &inline_a), LD_ERR_FORBIDDEN);
    CAT_EXPECT(ld_drop_get(env.c, &inline_a.id, &d, &m_), LD_ERR_DROP_NOT_FOUND);
    cr_assert_eq(raw_create_drop(env.c, &b, &da), LD_ERR_FORBIDDEN,
                 "a forbidden retry of an existing drop saw its stored result");
    cr_assert_eq(raw_create_drop(env.c, &a, &inline_a), LD_OK, "the owner's own raw create");

    CAT_EXPECT(ld_drop_cancel(env.c, &b, &da.id, &d, &m_), LD_ERR_FORBIDDEN);
    ldh_drop_get(env.c, &da.id, &d);
    cr_assert_eq(d.status, LD_DROP_UPCOMING, "a forbidden cancel cancelled");

    /* The messages say which principal was expected. */
    cr_assert_eq(ld_drop_cancel(env.c, &b, &da.id, &d, &msg), LD_ERR_FORBIDDEN);
    cr_assert(msg.text[0], "ERR_FORBIDDEN without a message");
    cat_close(&env);
}

Test(catalog, cancel_only_before_the_start)
{
    /* Goal: a drop that has not started can be cancelled (again: LD_OK), then
     * reads CANCELLED, moves from the upcoming to the cancelled list, emits
     * DROP_CANCELLED once, and refuses reserve and place_order with
     * ERR_DROP_CANCELLED; a live drop is ERR_NOT_CANCELLABLE; an unknown one
     * ERR_DROP_NOT_FOUND. Method: the public API and the drop's topic. */
    cat_env env;
    cat_open(&env);
    ld_id creator = ldh_creator_create(env.c, "canceller", NULL);
    int64_t now = ldh_now_ms();
    ld_drop_spec up, live;
    ldh_drop_spec_at(&up, &creator, now + 3600000, now + 7200000, 10);
    ldh_drop_create(env.c, &up, NULL);
    ldh_drop_spec_at(&live, &creator, now - 1000, now + 3600000, 10);
    ldh_drop_create(env.c, &live, NULL);

    ld_drop d;
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_drop_cancel(env.c, &creator, &up.id, &d, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(d.status, LD_DROP_CANCELLED);
    cr_assert_eq(ld_drop_cancel(env.c, &creator, &up.id, &d, &msg), LD_OK, "cancel again");
    cr_assert_eq(d.status, LD_DROP_CANCELLED);
    ldh_drop_get(env.c, &up.id, &d);
    cr_assert_eq(d.status, LD_DROP_CANCELLED);

    ld_id user = ldh_id();
    ld_reservation r;
    ld_order o;
    CAT_EXPECT(ld_reserve(env.c, &up.id, &user, 1, "c-1", &r, &m_), LD_ERR_DROP_CANCELLED);
    CAT_EXPECT(ld_place_order(env.c, &up.id, &user, 1, "c-2", "pm_card_ok", &o, &m_),
               LD_ERR_DROP_CANCELLED);
    CAT_EXPECT(ld_drop_cancel(env.c, &creator, &live.id, &d, &m_), LD_ERR_NOT_CANCELLABLE);
    ldh_drop_get(env.c, &live.id, &d);
    cr_assert_eq(d.status, LD_DROP_LIVE);
    ld_id ghost = ldh_id();
    CAT_EXPECT(ld_drop_cancel(env.c, &creator, &ghost, &d, &m_), LD_ERR_DROP_NOT_FOUND);

    ld_drop_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_drop_filter f;
    memset(&f, 0, sizeof f);
    f.price_max_minor = -1;
    f.status = LD_DROP_CANCELLED;
    cr_assert_eq(ld_drops_list(env.c, &f, 0, NULL, page, &msg), LD_OK, "%s", msg.text);
    cr_assert_eq(page->count, 1);
    cr_assert(ldh_id_eq(&page->drops[0].spec.id, &up.id));
    cr_assert_eq(page->drops[0].status, LD_DROP_CANCELLED);
    f.status = LD_DROP_UPCOMING;
    cr_assert_eq(ld_drops_list(env.c, &f, 0, NULL, page, &msg), LD_OK);
    cr_assert_eq(page->count, 0, "a cancelled drop is still listed as upcoming");
    free(page);

    char topic[LD_TOPIC_BYTES_MAX + 1];
    ldh_events evs = {0};
    ldh_events_pull_all(env.c, ldh_topic(topic, "drop", &up.id), 0, 0, &evs);
    int cancelled = 0;
    for (size_t i = 0; i < evs.n; i++)
        cancelled += evs.v[i].type == LD_EVENT_DROP_CANCELLED;
    cr_assert_eq(cancelled, 1, "%d DROP_CANCELLED events", cancelled);
    ldh_events_free(&evs);
    cat_close(&env);
}

Test(catalog, drop_times_are_checked)
{
    /* Goal: a drop whose window is empty or reversed, already over, or outside
     * the time range is ERR_INVALID_TIME, inline or from a product, and is not
     * created. Method: the public API, then get_drop. */
    cat_env env;
    cat_open(&env);
    ld_id creator = ldh_creator_create(env.c, "timer", NULL);
    ld_catalog_product_spec ps;
    ldh_catalog_spec(&ps, &creator, "Clock", 1000, NULL);
    ldh_product_create(env.c, &ps, NULL);
    int64_t now = ldh_now_ms();
    const struct {
        int64_t starts, ends;
        const char *what;
    } cases[] = {
        {now + 60000, now + 60000, "ends == starts"},
        {now + 60000, now + 30000, "ends before starts"},
        {now - 120000, now - 60000, "already over"},
        {-5, now + 60000, "negative start"},
        {now, LD_TIME_MS_MAX + 1, "end past year 9999"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int from_product = 0; from_product < 2; from_product++) {
            ld_drop_spec ds;
            ldh_drop_spec_at(&ds, &creator, cases[i].starts, cases[i].ends, 10);
            if (from_product) {
                memset(&ds.product, 0, sizeof ds.product);
                ds.product.creator_id = creator;
                ds.product_id = ps.id;
            }
            ld_drop d;
            ld_errmsg msg = {{0}};
            ld_err err = ld_drop_create(env.c, &ds, &d, &msg);
            cr_assert_eq(err, LD_ERR_INVALID_TIME, "%s (%s): %s", cases[i].what,
                         from_product ? "from a product" : "inline", ld_err_name(err));
            cr_assert(msg.text[0]);
            CAT_EXPECT(ld_drop_get(env.c, &ds.id, &d, &m_), LD_ERR_DROP_NOT_FOUND);
        }
    }
    cat_close(&env);
}
