/*
 * test_browse.c -- drops from catalog products, cancel, status moves by TICK and the browse
 * index (shard/browse.c, shard/actor.c): snapshots, principals, exact boundaries, filters,
 * orders, pagination and walks while drops come and go.
 */
#include "sm_fixture.h"

static const ld_id CREATOR = {.bytes = {0xAB, [13] = 0xC0, [14] = 0xFF, [15] = 0xEE}};

static void
world(fx *f)
{
    fx_init(f, NULL);
    assert_code(fx_apply(f, T0, op_creator(CREATOR, "maker")), LD_OK);
    assert_code(fx_apply(f, T0, op_product(id_n(500), CREATOR, "Runner", 5000)), LD_OK);
}

static uint32_t
count_type(fx *f, ld_event_type type)
{
    const ld_event_view *evs;
    size_t n = fx_events(f, &evs);
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += evs[i].type == type;
    return c;
}

Test(browse, drop_from_product_snapshots_it)
{
    /* Goal: a drop made from a catalog product copies its fields (product_id set) and keeps them
     * when the product changes later; a retry after the change is still EXISTS; an unknown
     * product is PRODUCT_NOT_FOUND; the principal must be the product's creator. Method:
     * create, update product, retry, get. */
    fx f;
    world(&f);
    ld_op c = op_create_from(id_n(1), id_n(500), CREATOR, T0 + HOUR_MS, T0 + DAY_MS, 10);
    ld_op wrong = c;
    wrong.principal = id_n(9);
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    memset(&wrong.principal, 0, sizeof wrong.principal);
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    ld_op unknown = c;
    unknown.u.create_drop.product_id = id_n(501);
    assert_code(fx_apply(&f, T0, unknown), LD_ERR_PRODUCT_NOT_FOUND);
    ld_result r = fx_apply(&f, T0, c);
    assert_code(r, LD_OK);
    cr_assert_str_eq(r.u.drop.spec.product.title, "Runner");
    cr_assert_eq(r.u.drop.spec.product.price_minor, 5000);
    ld_id pid = id_n(500);
    cr_assert(ld_id_eq(&r.u.drop.spec.product_id, &pid));
    cr_assert(ld_id_eq(&r.u.drop.spec.product.creator_id, &CREATOR));
    ld_op up = op_product(id_n(500), CREATOR, "Runner v2", 9000);
    up.type = LD_OP_UPDATE_PRODUCT;
    assert_code(fx_apply(&f, T0 + 1, up), LD_OK);
    assert_code(fx_apply(&f, T0 + 2, c), LD_EXISTS);
    fx_restart(&f);
    ld_result g = fx_read(&f, T0 + 2, op_id(LD_OP_GET_DROP, id_n(1)));
    assert_code(g, LD_OK);
    cr_assert_str_eq(g.u.drop.spec.product.title, "Runner");
    cr_assert_eq(g.u.drop.spec.product.price_minor, 5000);
    /* A drop made after the update snapshots the new fields. */
    ld_op c2 = op_create_from(id_n(2), id_n(500), CREATOR, T0 + HOUR_MS, T0 + DAY_MS, 10);
    ld_result r2 = fx_apply(&f, T0 + 3, c2);
    cr_assert_str_eq(r2.u.drop.spec.product.title, "Runner v2");
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(browse, inline_drops_need_the_creator_principal)
{
    /* Goal: an inline-product drop needs its creator's principal (a wrong one is FORBIDDEN, also
     * for a retry of an existing drop); reserve, place_order, commit and release refuse a
     * principal other than their user. Method: wrong principals on each write. */
    fx f;
    fx_init(&f, NULL);
    ld_op c = op_create(id_n(1), T0 - HOUR_MS, T0 + DAY_MS, 10, 0);
    ld_op wrong = c;
    wrong.principal = id_n(3);
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    assert_code(fx_apply(&f, T0, c), LD_OK);
    assert_code(fx_apply(&f, T0, wrong), LD_ERR_FORBIDDEN);
    ld_op rs = op_reserve(id_n(1), id_n(7), 1, "k");
    ld_result ok = fx_apply(&f, T0, rs);
    assert_code(ok, LD_OK);
    rs.principal = id_n(8);
    ld_result fr = fx_apply(&f, T0, rs); /* same key: the stored result is not replayed */
    assert_code(fr, LD_ERR_FORBIDDEN);
    cr_assert(strstr(fr.message, "the user the reservation is for") != NULL);
    ld_op po = op_place(id_n(1), id_n(7), 1, "p", "pm_card_ok");
    po.principal = id_n(8);
    assert_code(fx_apply(&f, T0, po), LD_ERR_FORBIDDEN);
    ld_op cm = op_checkout(ok.u.reservation.id, "ch");
    cm.principal = id_n(8);
    assert_code(fx_apply_raw(&f, T0, cm), LD_ERR_FORBIDDEN);
    ld_op rl = op_id(LD_OP_RELEASE, ok.u.reservation.id);
    rl.principal = id_n(8);
    assert_code(fx_apply_raw(&f, T0, rl), LD_ERR_FORBIDDEN);
    rl.principal = id_n(7);
    assert_code(fx_apply_raw(&f, T0, rl), LD_OK);
    fx_fini(&f);
}

Test(browse, issue2_writes_refuse_a_missing_principal)
{
    /* Goal: a missing principal is refused like a wrong one on create_drop, reserve,
     * place_order, commit and release, and nothing changes. Method: zero each op's principal,
     * expect FORBIDDEN ("missing"), then the same op with its principal succeeds. */
    fx f;
    fx_init(&f, NULL);
    ld_op c = op_create(id_n(1), T0 - HOUR_MS, T0 + DAY_MS, 10, 0);
    ld_op none = c;
    memset(&none.principal, 0, sizeof none.principal);
    ld_result r = fx_apply(&f, T0, none);
    assert_code(r, LD_ERR_FORBIDDEN);
    cr_assert(strstr(r.message, "missing") != NULL, "%s", r.message);
    assert_code(fx_apply(&f, T0, c), LD_OK);
    ld_op rs = op_reserve(id_n(1), id_n(7), 1, "k");
    none = rs;
    memset(&none.principal, 0, sizeof none.principal);
    assert_code(fx_apply(&f, T0, none), LD_ERR_FORBIDDEN);
    ld_result ok = fx_apply(&f, T0, rs);
    assert_code(ok, LD_OK);
    ld_op po = op_place(id_n(1), id_n(7), 1, "p", "pm_card_ok");
    memset(&po.principal, 0, sizeof po.principal);
    assert_code(fx_apply(&f, T0, po), LD_ERR_FORBIDDEN);
    ld_op cm = op_checkout(ok.u.reservation.id, "ch");
    memset(&cm.principal, 0, sizeof cm.principal);
    assert_code(fx_apply_raw(&f, T0, cm), LD_ERR_FORBIDDEN);
    ld_op rl = op_id(LD_OP_RELEASE, ok.u.reservation.id);
    memset(&rl.principal, 0, sizeof rl.principal);
    assert_code(fx_apply_raw(&f, T0, rl), LD_ERR_FORBIDDEN);
    rl.principal = id_n(7);
    assert_code(fx_apply_raw(&f, T0, rl), LD_OK);
    fx_fini(&f);
}

Test(browse, status_moves_exactly_at_the_boundaries)
{
    /* Goal: a TICK at starts_at - 1 moves nothing; at starts_at the drop goes LIVE (DROP_LIVE,
     * browse record moved); at ends_at - 1 nothing; at ends_at ENDED (DROP_ENDED);
     * ld_sm_next_deadline_ms names each boundary. Method: one upcoming drop, ticks. */
    fx f;
    world(&f);
    int64_t s = T0 + HOUR_MS, e = T0 + 2 * HOUR_MS;
    assert_code(fx_apply(&f, T0, op_create_from(id_n(1), id_n(500), CREATOR, s, e, 5)), LD_OK);
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_SCHEDULED), 1);
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_LIVE), 0);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), s);
    ld_page *page = page_alloc();
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_UPCOMING, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 1);
    fx_apply(&f, s - 1, op_tick());
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_LIVE), 0);
    assert_code(fx_apply(&f, s - 1, op_reserve(id_n(1), id_n(7), 1, "a")), LD_ERR_DROP_NOT_STARTED);
    fx_apply(&f, s, op_tick());
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_LIVE), 1);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), e);
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_UPCOMING, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 0);
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_LIVE, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 1);
    cr_assert_eq(page->u.drops[0].status, LD_DROP_LIVE);
    fx_apply(&f, e - 1, op_tick());
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_ENDED), 0);
    fx_apply(&f, e, op_tick());
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_ENDED), 1);
    /* Only the refused reserve's idempotency key is left to fall due. */
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), s - 1 + LD_IDEMPOTENCY_TTL_MS);
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_ENDED, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 1);
    ld_sm_check(f.sm);
    ldi_sm_check_store(f.sm);
    free(page);
    fx_fini(&f);
}

Test(browse, created_live_and_late_ticks)
{
    /* Goal: a drop created already live emits DROP_SCHEDULED then DROP_LIVE at once; a TICK that
     * comes after both boundaries moves a drop twice (LIVE, then ENDED) in order. Method: two
     * drops, one late tick. */
    fx f;
    world(&f);
    assert_code(fx_apply(&f, T0, op_create(id_n(1), T0, T0 + HOUR_MS, 5, 0)), LD_OK);
    const ld_event_view *evs;
    cr_assert_eq(fx_events(&f, &evs), 2);
    cr_assert_eq(evs[0].type, LD_EVENT_DROP_SCHEDULED);
    cr_assert_eq(evs[1].type, LD_EVENT_DROP_LIVE);
    cr_assert_str_eq(evs[1].title, "Sneaker drop");
    assert_code(fx_apply(&f, T0, op_create(id_n(2), T0 + 10, T0 + 20, 5, 0)), LD_OK);
    fx_apply(&f, T0 + 2 * HOUR_MS, op_tick());
    /* Boundaries in order: drop 2 starts (T0 + 10), ends (T0 + 20), then drop 1 ends. */
    cr_assert_eq(fx_events(&f, &evs), 3);
    ld_id d1 = id_n(1), d2 = id_n(2);
    cr_assert(evs[0].type == LD_EVENT_DROP_LIVE && ld_id_eq(&evs[0].drop_id, &d2));
    cr_assert(evs[1].type == LD_EVENT_DROP_ENDED && ld_id_eq(&evs[1].drop_id, &d2));
    cr_assert(evs[2].type == LD_EVENT_DROP_ENDED && ld_id_eq(&evs[2].drop_id, &d1));
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(browse, cancel_rules)
{
    /* Goal: only the drop's creator cancels; cancel before starts_at works (DROP_CANCELLED, status
     * CANCELLED, browse record moved, no more boundary); again is LD_OK with no event; at or
     * after starts_at is NOT_CANCELLABLE; reserve and place_order on a cancelled drop are
     * DROP_CANCELLED, even once its window opens. Method: two drops, one op per rule. */
    fx f;
    world(&f);
    int64_t s = T0 + HOUR_MS;
    assert_code(fx_apply(&f, T0, op_create_from(id_n(1), id_n(500), CREATOR, s, s + HOUR_MS, 5)),
                LD_OK);
    assert_code(fx_apply(&f, T0, op_create(id_n(2), s, s + HOUR_MS, 5, 0)), LD_OK);
    ld_op cancel = op_id(LD_OP_CANCEL_DROP, id_n(1));
    assert_code(fx_apply(&f, T0 + 5, cancel), LD_ERR_FORBIDDEN); /* no principal */
    cancel.principal = id_n(9);
    assert_code(fx_apply(&f, T0 + 5, cancel), LD_ERR_FORBIDDEN);
    cancel.principal = CREATOR;
    ld_result r = fx_apply(&f, T0 + 5, cancel);
    assert_code(r, LD_OK);
    cr_assert_eq(r.u.drop.status, LD_DROP_CANCELLED);
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_CANCELLED), 1);
    assert_code(fx_apply(&f, T0 + 6, cancel), LD_OK);
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_CANCELLED), 0);
    ld_op unknown = op_id(LD_OP_CANCEL_DROP, id_n(77));
    unknown.principal = CREATOR;
    assert_code(fx_apply(&f, T0, unknown), LD_ERR_DROP_NOT_FOUND);
    ld_op late = op_id(LD_OP_CANCEL_DROP, id_n(2));
    late.principal = CREATOR;
    assert_code(fx_apply(&f, s, late), LD_ERR_NOT_CANCELLABLE);
    assert_code(fx_apply(&f, s, op_reserve(id_n(1), id_n(7), 1, "a")), LD_ERR_DROP_CANCELLED);
    assert_code(fx_apply(&f, s, op_place(id_n(1), id_n(7), 1, "b", "pm_card_ok")),
                LD_ERR_DROP_CANCELLED);
    fx_apply(&f, s, op_tick());
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_LIVE), 1); /* drop 2 only */
    ld_result g = fx_read(&f, s + 10, op_id(LD_OP_GET_DROP, id_n(1)));
    cr_assert_eq(g.u.drop.status, LD_DROP_CANCELLED);
    ld_page *page = page_alloc();
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_CANCELLED, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 1);
    cr_assert_eq(page->u.drops[0].status, LD_DROP_CANCELLED);
    fx_restart(&f);
    cr_assert_eq(fx_read(&f, s, op_id(LD_OP_GET_DROP, id_n(1))).u.drop.status, LD_DROP_CANCELLED);
    ld_sm_check(f.sm);
    ldi_sm_check_store(f.sm);
    free(page);
    fx_fini(&f);
}

/* Builds drops with varied creator, price, tags and windows; returns how many. */
static uint32_t
browse_world(fx *f)
{
    ld_id c2 = id_n(0xC2);
    assert_code(fx_apply(f, T0, op_creator(c2, "other")), LD_OK);
    for (uint32_t i = 0; i < 40; i++) {
        ld_op c = op_create(id_n(1000 + i), T0 + (int64_t)(i % 10) * HOUR_MS,
                            T0 + DAY_MS + (int64_t)(i % 7) * HOUR_MS, 10, 0);
        c.u.create_drop.product.price_minor = 100 * (i % 5);
        c.u.create_drop.product.tags_count = i % 3 == 0 ? 1 : 2;
        if (i % 4 == 0) {
            c.u.create_drop.product.creator_id = c2;
            c.principal = c2;
        }
        assert_code(fx_apply(f, T0, c), LD_OK);
    }
    return 40;
}

Test(browse, list_drops_orders_and_filters)
{
    /* Goal: LIVE lists ending soonest first, UPCOMING starting soonest first (ties by id);
     * filters (creator, inclusive price range, every tag present) combine; every drop returned
     * matches and every matching drop is returned exactly once over the pages. Method: 40 drops,
     * every filter combination checked against a brute-force model, pages of 3. */
    fx f;
    world(&f);
    browse_world(&f);
    ld_page *page = page_alloc();
    ld_id c2 = id_n(0xC2), zero;
    memset(&zero, 0, sizeof zero);
    for (int st = LD_DROP_UPCOMING; st <= LD_DROP_LIVE; st++)
        for (int cf = 0; cf < 3; cf++)
            for (int pf = 0; pf < 3; pf++)
                for (int tf = 0; tf < 2; tf++) {
                    ld_op op = op_list_drops((ld_drop_status)st, 3, "");
                    op.u.list_drops.creator_id = cf == 0 ? zero : cf == 1 ? c2 : CREATOR;
                    op.u.list_drops.price_min_minor = pf == 1 ? 100 : 0;
                    op.u.list_drops.price_max_minor = pf == 1 ? 300 : pf == 2 ? 0 : INT64_MAX;
                    op.u.list_drops.tags_count = (uint32_t)tf;
                    strcpy(op.u.list_drops.tags[0], "limited");
                    uint32_t want = 0, got = 0;
                    for (uint32_t i = 0; i < 40; i++) {
                        bool live = (int64_t)(i % 10) * HOUR_MS <= 0;
                        if (live != (st == LD_DROP_LIVE))
                            continue;
                        bool mine = i % 4 != 0;
                        if ((cf == 1 && mine) || (cf == 2 && !mine))
                            continue;
                        int64_t price = 100 * (i % 5);
                        if ((pf == 1 && (price < 100 || price > 300)) || (pf == 2 && price > 0))
                            continue;
                        if (tf && i % 3 == 0)
                            continue;
                        want++;
                    }
                    int64_t prev = INT64_MIN;
                    for (int n = 0; n < 40; n++) {
                        cr_assert_eq(fx_page(&f, op, page), LD_OK);
                        for (uint32_t k = 0; k < page->count; k++, got++) {
                            const ld_drop_view *d = &page->u.drops[k];
                            int64_t key =
                                st == LD_DROP_LIVE ? d->spec.ends_at_ms : d->spec.starts_at_ms;
                            cr_assert_geq(key, prev);
                            prev = key;
                            cr_assert_eq(d->status, (ld_drop_status)st);
                        }
                        if (!page->has_next_page)
                            break;
                        strcpy(op.u.list_drops.after, page->end_cursor);
                    }
                    cr_assert_eq(got, want, "status %d creator %d price %d tags %d", st, cf, pf,
                                 tf);
                }
    ld_op bad = op_list_drops((ld_drop_status)0, 3, "");
    cr_assert_eq(fx_page(&f, bad, page), LD_ERR_INVALID_ARGUMENT);
    bad = op_list_drops(LD_DROP_LIVE, LD_PAGE_DROPS_MAX + 1, "");
    cr_assert_eq(fx_page(&f, bad, page), LD_ERR_VALUE_OUT_OF_RANGE);
    /* A LIVE cursor is refused by the UPCOMING list. */
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_LIVE, 1, ""), page), LD_OK);
    char cur[LD_CURSOR_BYTES_MAX + 1];
    strcpy(cur, page->end_cursor);
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_UPCOMING, 1, cur), page), LD_ERR_INVALID_CURSOR);
    free(page);
    fx_fini(&f);
}

Test(browse, ended_and_cancelled_list_latest_first)
{
    /* Goal: ENDED lists the latest ended first, CANCELLED the latest cancelled first. Method:
     * drops ending at different times, cancels at different times. */
    fx f;
    world(&f);
    for (uint32_t i = 0; i < 4; i++) {
        assert_code(fx_apply(&f, T0, op_create(id_n(10 + i), T0, T0 + 10 + i, 5, 0)), LD_OK);
        assert_code(fx_apply(&f, T0, op_create(id_n(20 + i), T0 + DAY_MS, T0 + 2 * DAY_MS, 5, 0)),
                    LD_OK);
    }
    for (uint32_t i = 0; i < 4; i++) {
        ld_op c = op_id(LD_OP_CANCEL_DROP, id_n(20 + (i * 3) % 4));
        c.principal = id_n(0xC0FFEE);
        assert_code(fx_apply(&f, T0 + 100 + i, c), LD_OK);
    }
    fx_apply(&f, T0 + 200, op_tick());
    ld_page *page = page_alloc();
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_ENDED, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 4);
    for (uint32_t i = 0; i < 4; i++)
        cr_assert_eq(page->u.drops[i].spec.ends_at_ms, T0 + 13 - i);
    cr_assert_eq(fx_page(&f, op_list_drops(LD_DROP_CANCELLED, 10, ""), page), LD_OK);
    cr_assert_eq(page->count, 4);
    uint32_t order[] = {20 + (3 * 3) % 4, 20 + (2 * 3) % 4, 20 + (1 * 3) % 4, 20};
    for (uint32_t i = 0; i < 4; i++) {
        ld_id want = id_n(order[i]);
        cr_assert(ld_id_eq(&page->u.drops[i].spec.id, &want), "item %u", i);
    }
    free(page);
    fx_fini(&f);
}

Test(browse, a_filtered_page_examines_at_most_the_scan_limit)
{
    /* Goal: a page examines at most LD_BROWSE_SCAN_MAX index entries: with nothing matching it
     * comes back empty with has_next_page and an end_cursor that moved past what it examined, so
     * the next page goes on; the walk ends with the match. Method: LD_BROWSE_SCAN_MAX + 5 live
     * drops, only the last matching a price filter. */
    fx f;
    fx_init(&f, NULL);
    uint32_t n = LD_BROWSE_SCAN_MAX + 5;
    ld_op *ops = calloc(LD_BATCH_OPS_MAX, sizeof *ops);
    ld_result *res = calloc(LD_BATCH_OPS_MAX, sizeof *res);
    for (uint32_t done = 0; done < n;) {
        uint32_t k = n - done < LD_BATCH_OPS_MAX ? n - done : LD_BATCH_OPS_MAX;
        for (uint32_t i = 0; i < k; i++) {
            uint32_t j = done + i;
            ops[i] = op_create(id_n(100000 + j), T0, T0 + DAY_MS + j, 1, 0);
            ops[i].u.create_drop.product.price_minor = j == n - 1 ? 7 : 1;
        }
        fx_batch(&f, T0, ops, k, res);
        done += k;
    }
    ld_page *page = page_alloc();
    ld_op op = op_list_drops(LD_DROP_LIVE, 10, "");
    op.u.list_drops.price_min_minor = 7;
    cr_assert_eq(fx_page(&f, op, page), LD_OK);
    cr_assert_eq(page->count, 0);
    cr_assert(page->has_next_page);
    cr_assert_neq(page->end_cursor[0], '\0');
    strcpy(op.u.list_drops.after, page->end_cursor);
    cr_assert_eq(fx_page(&f, op, page), LD_OK);
    cr_assert_eq(page->count, 1);
    cr_assert_eq(page->u.drops[0].spec.product.price_minor, 7);
    cr_assert(!page->has_next_page);
    free(ops);
    free(res);
    free(page);
    fx_fini(&f);
}

Test(browse, upcoming_walk_under_new_drops_and_moves_is_exact)
{
    /* Goal: walking UPCOMING in pages while new drops are created, drops are cancelled and
     * drops go live between pages never returns a drop twice and never skips one that stayed
     * upcoming for the whole walk. Method: seeded, 150 drops, churn between pages of 4. */
    for (uint64_t seed = 1; seed <= 4; seed++) {
        fx f;
        fx_init(&f, NULL);
        uint64_t rng = seed * 7919;
        enum { N = 150, MAXD = 400 };
        bool stable[MAXD] = {false};
        uint32_t seen[MAXD] = {0}, made = 0;
        for (; made < N; made++) {
            rng = rng * 6364136223846793005ull + 1;
            int64_t start = T0 + HOUR_MS + (int64_t)((rng >> 33) % 50) * 1000;
            assert_code(fx_apply(&f, T0, op_create(id_n(1 + made), start, start + DAY_MS, 5, 0)),
                        LD_OK);
            stable[made] = true;
        }
        ld_page *page = page_alloc();
        ld_op op = op_list_drops(LD_DROP_UPCOMING, 4, "");
        int64_t now = T0;
        for (int pages = 0;; pages++) {
            cr_assert_lt(pages, 300);
            cr_assert_eq(fx_page(&f, op, page), LD_OK);
            for (uint32_t i = 0; i < page->count; i++) {
                uint32_t d = page->u.drops[i].spec.id.bytes[15] +
                             256u * page->u.drops[i].spec.id.bytes[14] - 1;
                cr_assert_lt(d, MAXD);
                cr_assert_eq(++seen[d], 1, "drop %u twice (seed %llu)", d,
                             (unsigned long long)seed);
            }
            if (!page->has_next_page)
                break;
            strcpy(op.u.list_drops.after, page->end_cursor);
            rng = rng * 6364136223846793005ull + 1;
            uint32_t what = (uint32_t)(rng >> 33) % 3;
            uint32_t target = (uint32_t)(rng >> 40) % made;
            if (what == 0 && made < MAXD) {
                int64_t start = T0 + HOUR_MS + (int64_t)((rng >> 20) % 50) * 1000;
                fx_apply(&f, now, op_create(id_n(1 + made), start, start + DAY_MS, 5, 0));
                made++;
            } else if (what == 1) {
                ld_op c = op_id(LD_OP_CANCEL_DROP, id_n(1 + target));
                c.principal = id_n(0xC0FFEE);
                fx_apply(&f, now, c);
                stable[target] = false;
            } else {
                now += 500; /* drops starting by now go live */
                fx_apply(&f, now, op_tick());
                for (uint32_t d = 0; d < made; d++) {
                    ld_result g = fx_read(&f, now, op_id(LD_OP_GET_DROP, id_n(1 + d)));
                    if (g.u.drop.status != LD_DROP_UPCOMING)
                        stable[d] = false;
                }
            }
        }
        for (uint32_t d = 0; d < made; d++)
            if (stable[d])
                cr_assert_eq(seen[d], 1, "drop %u skipped (seed %llu)", d,
                             (unsigned long long)seed);
        ld_sm_check(f.sm);
        ldi_sm_check_store(f.sm);
        free(page);
        fx_fini(&f);
    }
}

Test(browse, status_moves_are_bounded_per_tick)
{
    /* Goal: a TICK moves at most LD_TICK_OPS_EXPIRE_MAX drops; the rest stay due (the deadline
     * says so) and the next TICK moves them, in (boundary, id) order. Method:
     * LD_TICK_OPS_EXPIRE_MAX + 3 drops starting at the same time, two ticks. */
    fx f;
    fx_init(&f, NULL);
    uint32_t n = LD_TICK_OPS_EXPIRE_MAX + 3;
    ld_op *ops = calloc(n, sizeof *ops);
    ld_result *res = calloc(n, sizeof *res);
    for (uint32_t i = 0; i < n; i++)
        ops[i] = op_create(id_n(100000 + n - i), T0 + 10, T0 + DAY_MS, 1, 0);
    fx_batch(&f, T0, ops, n, res);
    fx_apply(&f, T0 + 10, op_tick());
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_LIVE), LD_TICK_OPS_EXPIRE_MAX);
    const ld_event_view *evs;
    fx_events(&f, &evs);
    ld_id first = id_n(100001);
    cr_assert(ld_id_eq(&evs[0].drop_id, &first)); /* equal boundaries: lowest id first */
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + 10);
    fx_apply(&f, T0 + 11, op_tick());
    cr_assert_eq(count_type(&f, LD_EVENT_DROP_LIVE), 3);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 + DAY_MS);
    ld_sm_check(f.sm);
    free(ops);
    free(res);
    fx_fini(&f);
}
