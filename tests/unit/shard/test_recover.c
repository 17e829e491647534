/*
 * test_recover.c -- ld_sm_open()'s rebuild from the store (shard/recover.c): equal state after a
 * clean restart, the last synced state after a crash, and LD_ERR_STORAGE for every kind of bad
 * record or failed scan.
 */
#include <stddef.h>
#include <xxhash.h>

#include "record.h"
#include "sm_fixture.h"

Test(recover, empty_store_opens_a_new_shard)
{
    /* Goal: an empty store is a new shard: op 0, time 0, nothing due. Method: open on empty. */
    fx f;
    fx_init(&f, NULL);
    cr_assert_eq(ld_sm_applied_op(f.sm), 0);
    cr_assert_eq(ld_sm_last_ts(f.sm), 0);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), INT64_MAX);
    fx_fini(&f);
}

Test(recover, restart_rebuilds_equal_state)
{
    /* Goal: after random work, a replica started from the synced store has the same digest,
     * op, time, deadline and pending payments, passes ld_sm_check, and stays equal when both are
     * fed the same further batches (so heap and FIFO orders were rebuilt identically). Method:
     * seeded workload, clone, continue both with the same seed. */
    fx a, b;
    fx_init(&a, NULL);
    wl wa = {.rng = 7};
    wl_run(&a, &wa, 1500, 24);
    ld_store_mem_sync(a.mem);
    fx_clone(&a, &b);
    ld_sm_check(b.sm);
    cr_assert_eq(ld_sm_digest(a.sm), ld_sm_digest(b.sm));
    cr_assert_eq(ld_sm_applied_op(a.sm), ld_sm_applied_op(b.sm));
    cr_assert_eq(ld_sm_last_ts(a.sm), ld_sm_last_ts(b.sm));
    cr_assert_eq(ld_sm_next_deadline_ms(a.sm), ld_sm_next_deadline_ms(b.sm));
    cr_assert_eq(ld_sm_pending_payments(a.sm, NULL, NULL),
                 ld_sm_pending_payments(b.sm, NULL, NULL));
    ld_sm_stats sa, sb;
    ld_sm_stats_get(a.sm, &sa);
    ld_sm_stats_get(b.sm, &sb);
    cr_assert_eq(memcmp(&sa, &sb, sizeof sa), 0);
    cr_assert_gt(sa.reservations, 10);
    wl wb = wa;
    wl_run(&a, &wa, 1500, 24);
    wl_run(&b, &wb, 1500, 24);
    cr_assert_eq(ld_sm_digest(a.sm), ld_sm_digest(b.sm));
    ld_sm_check(b.sm);
    fx_fini(&a);
    fx_fini(&b);
}

Test(recover, crash_returns_to_the_last_sync)
{
    /* Goal: a crash loses exactly what was not synced: the reopened state equals the state at
     * the last sync. Method: work, sync, note the digest; more work; crash; reopen. */
    fx f;
    fx_init(&f, NULL);
    wl w = {.rng = 99};
    wl_run(&f, &w, 400, 16);
    ld_store_mem_sync(f.mem);
    uint64_t synced = ld_sm_digest(f.sm);
    uint64_t synced_op = ld_sm_applied_op(f.sm);
    wl_run(&f, &w, 200, 16);
    cr_assert_neq(ld_sm_digest(f.sm), synced);
    ld_store_mem_crash(f.mem);
    ld_sm_free(f.sm);
    fx_open_sm(&f);
    cr_assert_eq(ld_sm_digest(f.sm), synced);
    cr_assert_eq(ld_sm_applied_op(f.sm), synced_op);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(recover, pending_payment_survives_restart)
{
    /* Goal: a place_order awaiting payment is still pending after a restart and FINISH_ORDER
     * settles it there. Method: place, restart, list, approve. */
    fx f;
    fx_init(&f, NULL);
    fx_live_drop(&f, id_n(1), 5, 0);
    ld_result p = fx_apply(&f, T0, op_place(id_n(1), id_n(2), 2, "k", "pm_card_slow"));
    fx_restart(&f);
    cr_assert_eq(ld_sm_pending_payments(f.sm, NULL, NULL), 1);
    assert_code(fx_apply(&f, T0 + 1, op_place(id_n(1), id_n(2), 2, "k", "pm_card_slow")),
                LD_ERR_IN_PROGRESS);
    ld_result fin = fx_apply(&f, T0 + 2, op_finish(p.payment.reservation_id, true, "pi"));
    assert_code(fin, LD_OK);
    cr_assert_eq(fx_stock(&f, id_n(1)).sold, 2);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(recover, scan_failure_is_storage_error)
{
    /* Goal: a failing scan makes ld_sm_open fail with LD_ERR_STORAGE (whatever the store said),
     * with no leak; the next open works (the fault was one-shot). Method: fail after 0 and 3
     * records. */
    fx f;
    fx_init(&f, NULL);
    fx_live_drop(&f, id_n(1), 5, 0);
    fx_apply(&f, T0, op_reserve(id_n(1), id_n(2), 1, "k"));
    ld_store_mem_sync(f.mem);
    ld_store_mem_fail_scan(f.mem, 0, LD_ERR_STORAGE);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    ld_store_mem_fail_scan(f.mem, 3, LD_ERR_INTERNAL);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    cr_assert_eq(fx_try_open(&f), LD_OK);
    fx_fini(&f);
}

/* Finds the first durable record with the given type byte. */
typedef struct found {
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    size_t key_len;
    uint8_t val[LDI_REC_VAL_BYTES_MAX];
    size_t val_len;
} found;

static ld_err
find_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    found *out = arg;
    memcpy(out->key, key, key_len);
    out->key_len = key_len;
    memcpy(out->val, val, val_len);
    out->val_len = val_len;
    return LD_ERR_INTERNAL; /* stop at the first */
}

static found
find_rec(fx *f, uint8_t type)
{
    found out;
    memset(&out, 0, sizeof out);
    f->store.ops->scan(f->store.impl, &type, 1, find_cb, &out);
    cr_assert_gt(out.key_len, 0, "no record of type %c", type);
    return out;
}

/* A shard with one of everything: drop, committed reservation + order, a place_order awaiting
 * payment, keys. */
static void
world(fx *f)
{
    fx_init(f, NULL);
    fx_live_drop(f, id_n(1), 5, 0);
    ld_result r = fx_apply(f, T0, op_reserve(id_n(1), id_n(2), 1, "a"));
    fx_apply(f, T0, op_checkout(r.u.reservation.id, "ch"));
    fx_apply(f, T0, op_place(id_n(1), id_n(3), 1, "b", "pm_card_ok"));
    ld_store_mem_sync(f->mem);
}

Test(recover, every_truncation_of_every_record_type_is_refused)
{
    /* Goal: a record cut short anywhere, or with a trailing byte, or an unknown version, is
     * LD_ERR_STORAGE and never an assertion. Method: for each type (M, D, R, O, I), rewrite its
     * first record truncated to every shorter length, then extended, then versioned 99. */
    const uint8_t types[] = {LDI_REC_META, LDI_REC_DROP, LDI_REC_RES, LDI_REC_ORDER, LDI_REC_KEY};
    for (size_t t = 0; t < sizeof types; t++) {
        fx f;
        world(&f);
        found rec = find_rec(&f, types[t]);
        for (size_t len = 0; len < rec.val_len; len++) {
            fx_store_put(&f, rec.key, rec.key_len, rec.val, len);
            cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE, "type %c len %zu", types[t], len);
        }
        uint8_t longer[LDI_REC_VAL_BYTES_MAX + 1];
        memcpy(longer, rec.val, rec.val_len);
        longer[rec.val_len] = 0;
        fx_store_put(&f, rec.key, rec.key_len, longer, rec.val_len + 1);
        cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
        longer[0] = 99;
        fx_store_put(&f, rec.key, rec.key_len, longer, rec.val_len);
        cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
        fx_store_put(&f, rec.key, rec.key_len, rec.val, rec.val_len);
        cr_assert_eq(fx_try_open(&f), LD_OK);
        fx_fini(&f);
    }
}

Test(recover, bad_keys_and_unknown_types_are_refused)
{
    /* Goal: unknown record types, ids of the wrong length, a key id that differs from the value's
     * id, and records without a meta record are LD_ERR_STORAGE. Method: one corruption at a time
     * on a fresh world. */
    fx f;
    world(&f);
    fx_store_put(&f, "Zzz", 3, "x", 1);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_store_del(&f, "Zzz", 3);
    cr_assert_eq(fx_try_open(&f), LD_OK);

    found d = find_rec(&f, LDI_REC_DROP);
    fx_store_put(&f, d.key, d.key_len - 1, d.val, d.val_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_store_del(&f, d.key, d.key_len - 1);

    uint8_t other[17];
    memcpy(other, d.key, 17);
    other[16] ^= 1;
    fx_store_put(&f, other, 17, d.val, d.val_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_store_del(&f, other, 17);
    cr_assert_eq(fx_try_open(&f), LD_OK);

    found m = find_rec(&f, LDI_REC_META);
    fx_store_del(&f, m.key, m.key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);
}

Test(recover, cross_record_inconsistencies_are_refused)
{
    /* Goal: records that do not fit together are LD_ERR_STORAGE: a reservation of a missing
     * drop, a committed reservation without its order, an IN_PROGRESS key without its
     * reservation, a drop whose records oversell it. Method: one corruption per fresh world. */
    fx f;
    world(&f);
    found d = find_rec(&f, LDI_REC_DROP);
    fx_store_del(&f, d.key, d.key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);

    world(&f);
    found o = find_rec(&f, LDI_REC_ORDER);
    fx_store_del(&f, o.key, o.key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);

    world(&f);
    ld_result p =
        fx_read(&f, T0, op_id(LD_OP_GET_RESERVATION, ldi_res_id_derive(&f.id_seed, 4, 0)));
    assert_code(p, LD_OK); /* op 4 is the place_order */
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    size_t key_len = ldi_rec_id_key(LDI_REC_RES, &p.u.reservation.id, key);
    fx_store_del(&f, key, key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);

    world(&f);
    ldi_drop drop;
    cr_assert(ldi_rec_drop_decode(d.key, d.key_len, d.val, d.val_len, &drop));
    drop.spec.initial_stock = 1; /* one sold + one reserved > 1 */
    drop.spec.low_stock_threshold = 0;
    uint8_t val[LDI_REC_VAL_BYTES_MAX];
    size_t len = ldi_rec_drop_encode(&drop, val);
    fx_store_put(&f, d.key, d.key_len, val, len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);
}

Test(recover, more_records_than_capacity_is_refused)
{
    /* Goal: a store holding more records than this build's capacities is LD_ERR_STORAGE rather
     * than silent loss. Method: two drops, reopen with room for one. */
    fx f;
    fx_init(&f, NULL);
    fx_live_drop(&f, id_n(1), 1, 0);
    fx_live_drop(&f, id_n(2), 1, 0);
    ld_store_mem_sync(f.mem);
    f.has_caps = true;
    f.caps = ldi_sm_caps_default();
    f.caps.drops = 1;
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    f.caps.drops = 2;
    cr_assert_eq(fx_try_open(&f), LD_OK);
    fx_fini(&f);
}

Test(recover, states_the_rules_forbid_are_refused)
{
    /* Goal: records that are well-formed but describe a state the rules cannot produce are
     * LD_ERR_STORAGE rather than an assertion later in ld_sm_check: more active reservations of
     * one user than allowed, and orders plus payments in flight beyond the order capacity.
     * Method: clone an active reservation record under a new id; reopen with a smaller cap. */
    fx f;
    fx_init(&f, NULL);
    fx_live_drop(&f, id_n(1), 100, 0);
    for (unsigned i = 0; i < LD_ACTIVE_RESERVATIONS_PER_USER_MAX; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%u", i);
        assert_code(fx_apply(&f, T0, op_reserve(id_n(1), id_n(2), 1, key)), LD_OK);
    }
    ld_store_mem_sync(f.mem);
    cr_assert_eq(fx_try_open(&f), LD_OK);
    found r = find_rec(&f, LDI_REC_RES);
    r.key[16] ^= 0x55; /* a new id, in the key and in the value (which starts after version) */
    r.val[16] ^= 0x55;
    fx_store_put(&f, r.key, r.key_len, r.val, r.val_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_store_del(&f, r.key, r.key_len);
    cr_assert_eq(fx_try_open(&f), LD_OK);
    fx_fini(&f);

    world(&f); /* one order and one payment in flight */
    f.has_caps = true;
    f.caps = ldi_sm_caps_default();
    f.caps.orders = 1;
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    f.caps.orders = 2;
    cr_assert_eq(fx_try_open(&f), LD_OK);
    fx_fini(&f);
}

/* ---- users, creators, products, follows, events ------------------------------------------ */

static uint64_t
mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001B3ull + 0x9E3779B97F4A7C15ull;
}

static uint64_t
id_hash(const ld_id *id)
{
    return XXH3_64bits(id->bytes, sizeof id->bytes);
}

static uint64_t
event_hash(const ld_event_view *e)
{
    uint64_t h = mix(e->seq, (uint64_t)e->type);
    h = mix(h, (uint64_t)e->ts_ms);
    h = mix(h, id_hash(&e->drop_id) ^ id_hash(&e->user_id) ^ id_hash(&e->order_id));
    h = mix(h, (uint64_t)e->stock.available * 3 + (uint64_t)e->stock.sold);
    for (int k = 1; k < 4; k++)
        h = mix(h, e->topic_seq[k]);
    return h;
}

/* The visible fields of item k of a page (not raw bytes: views have padding). */
static uint64_t
item_hash(const ld_page *p, uint32_t k)
{
    switch (p->kind) {
    case LD_RESULT_FOLLOW_PAGE:
        return mix(
            id_hash(&p->u.edges[k].user_id) ^ id_hash(&p->u.edges[k].creator_id),
            (uint64_t)p->u.edges[k].created_at_ms ^
                XXH3_64bits(p->u.edges[k].creator_handle, strlen(p->u.edges[k].creator_handle)) ^
                XXH3_64bits(p->u.edges[k].user_name, strlen(p->u.edges[k].user_name)));
    case LD_RESULT_PRODUCT_PAGE:
        return mix(id_hash(&p->u.products[k].spec.id), (uint64_t)p->u.products[k].updated_at_ms);
    case LD_RESULT_DROP_PAGE:
        return mix(mix(id_hash(&p->u.drops[k].spec.id), p->u.drops[k].status),
                   (uint64_t)p->u.drops[k].stock.available);
    case LD_RESULT_EVENT_PAGE:
        return event_hash(&p->u.events[k]);
    default:
        return mix(p->u.notifications[k].kind, event_hash(&p->u.notifications[k].event));
    }
}

/* Every page a client could read from this world, hashed: drops of each status, followers and
 * products of each workload creator, following and notifications of each workload user, the
 * stream and each creator topic. */
static uint64_t
pages_hash(fx *f)
{
    ld_page *page = page_alloc();
    uint64_t h = 0;
    ld_op ops[64];
    size_t n = 0;
    for (int st = LD_DROP_UPCOMING; st <= LD_DROP_CANCELLED; st++)
        ops[n++] = op_list_drops((ld_drop_status)st, LD_PAGE_DROPS_MAX, "");
    for (uint32_t c = 0; c < 4; c++) {
        ops[n++] = op_list(LD_OP_LIST_FOLLOWERS, id_n(0x7000 + c), LD_PAGE_EDGES_MAX, "");
        ops[n++] = op_list(LD_OP_LIST_PRODUCTS, id_n(0x7000 + c), LD_PAGE_DROPS_MAX, "");
        ops[n++] = op_pull(0, LD_PULL_EVENTS_MAX, LD_TOPIC_CREATOR, id_n(0x7000 + c));
    }
    for (uint32_t u = 0; u < 12; u++) {
        ops[n++] = op_list(LD_OP_LIST_FOLLOWING, id_n(50 + u), LD_PAGE_EDGES_MAX, "");
        ops[n++] = op_list(LD_OP_LIST_NOTIFICATIONS, id_n(50 + u), LD_PAGE_DROPS_MAX, "");
    }
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    uint64_t last = ld_sm_last_event_seq(f->sm);
    ops[n++] = op_pull(last > 500 ? last - 500 : 0, LD_PULL_EVENTS_MAX, LD_TOPIC_NONE, zero);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(fx_page(f, ops[i], page), LD_OK, "page op %zu", i);
        h = mix(h, page->kind);
        h = mix(h, page->count);
        h = mix(h, page->has_next_page);
        h = mix(h, XXH3_64bits(page->end_cursor, strlen(page->end_cursor)));
        h = mix(h, page->next_after);
        h = mix(h, page->last_seq);
        for (uint32_t k = 0; k < page->count; k++)
            h = mix(h, item_hash(page, k));
    }
    free(page);
    return h;
}

Test(recover, issue3_state_survives_a_restart)
{
    /* Goal: with users, creators, products, follows and their relay, catalog drops, cancels and
     * events, a replica started from the synced store has the same digest, stats, deadline,
     * relay cursor and identical pages; its next events continue the seq with no gap; fed the
     * same batches, both stay equal. Method: seeded social and catalog workload, clone, compare, go
     * on. */
    fx a, b;
    fx_init(&a, NULL);
    wl wa = {.rng = 11, .social = 1};
    wl_run(&a, &wa, 800, 24);
    ld_store_mem_sync(a.mem);
    fx_clone(&a, &b);
    ld_sm_check(b.sm);
    ldi_sm_check_store(b.sm);
    cr_assert_eq(ld_sm_digest(a.sm), ld_sm_digest(b.sm));
    cr_assert_eq(ld_sm_last_event_seq(a.sm), ld_sm_last_event_seq(b.sm));
    cr_assert_eq(ld_sm_relay_cursor(a.sm, 0), ld_sm_relay_cursor(b.sm, 0));
    cr_assert_eq(ld_sm_next_deadline_ms(a.sm), ld_sm_next_deadline_ms(b.sm));
    ld_sm_stats sa, sb;
    ld_sm_stats_get(a.sm, &sa);
    ld_sm_stats_get(b.sm, &sb);
    cr_assert_eq(memcmp(&sa, &sb, sizeof sa), 0);
    cr_assert_gt(sa.follows, 0);
    cr_assert_gt(sa.creators, 0);
    cr_assert_gt(sa.products, 0);
    cr_assert_eq(pages_hash(&a), pages_hash(&b));
    uint64_t last = ld_sm_last_event_seq(b.sm);
    wl wb = wa;
    wl_run(&a, &wa, 1, 24);
    wl_run(&b, &wb, 1, 24);
    const ld_event_view *evs;
    if (ld_sm_batch_events(b.sm, &evs) > 0)
        cr_assert_eq(evs[0].seq, last + 1);
    wl_run(&a, &wa, 400, 24);
    wl_run(&b, &wb, 400, 24);
    cr_assert_eq(ld_sm_digest(a.sm), ld_sm_digest(b.sm));
    cr_assert_eq(pages_hash(&a), pages_hash(&b));
    ld_sm_check(b.sm);
    fx_fini(&a);
    fx_fini(&b);
}

Test(recover, issue3_crash_returns_to_the_last_sync)
{
    /* Goal: a crash loses exactly what was not synced, events included: the reopened state has
     * the synced digest and last event seq, and the next events continue from there. Method:
     * work, sync, note; more work; crash; reopen; one more batch. */
    fx f;
    fx_init(&f, NULL);
    wl w = {.rng = 5, .social = 1};
    wl_run(&f, &w, 300, 16);
    ld_store_mem_sync(f.mem);
    uint64_t digest = ld_sm_digest(f.sm), last = ld_sm_last_event_seq(f.sm);
    uint64_t pages = pages_hash(&f);
    int64_t synced_ts = f.ts;
    wl_run(&f, &w, 200, 16);
    cr_assert_gt(ld_sm_last_event_seq(f.sm), last);
    ld_store_mem_crash(f.mem);
    ld_sm_free(f.sm);
    fx_open_sm(&f);
    cr_assert_eq(ld_sm_digest(f.sm), digest);
    cr_assert_eq(ld_sm_last_event_seq(f.sm), last);
    f.ts = synced_ts; /* pages show drop status as of the reader's time */
    cr_assert_eq(pages_hash(&f), pages);
    assert_code(fx_apply(&f, f.ts, op_creator(id_n(0x9999), "after_crash")), LD_OK);
    const ld_event_view *evs;
    fx_ensure_user(&f, id_n(1));
    assert_code(fx_apply(&f, f.ts, op_follow(LD_OP_FOLLOW, id_n(1), id_n(0x9999))), LD_OK);
    cr_assert_eq(ld_sm_batch_events(f.sm, &evs), 1);
    cr_assert_eq(evs[0].seq, last + 1);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

/* A shard with one record of every social and catalog type: user, creator, product, catalog drop,
 * follow edge and its relay (following entry, relay cursor), topics and events. */
static void
world3(fx *f)
{
    world(f);
    assert_code(fx_apply(f, T0, op_user(id_n(2), "Ada", "ada@x.org")), LD_OK);
    assert_code(fx_apply(f, T0, op_creator(id_n(0x7000), "maker")), LD_OK);
    assert_code(fx_apply(f, T0, op_product(id_n(0x8000), id_n(0x7000), "p", 5)), LD_OK);
    assert_code(
        fx_apply(f, T0,
                 op_create_from(id_n(9), id_n(0x8000), id_n(0x7000), T0 + HOUR_MS, T0 + DAY_MS, 3)),
        LD_OK);
    fx_follow(f, LD_OP_FOLLOW, id_n(2), id_n(0x7000));
    ld_store_mem_sync(f->mem);
}

Test(recover, every_truncation_of_every_issue3_record_is_refused)
{
    /* Goal: the social and catalog records (U, C, P, F, G, A, E, Y, and the drop of a catalog
     * product) cut short anywhere, with a trailing byte or an unknown version are LD_ERR_STORAGE,
     * never an assertion. Method: as for the drop and order records, on the first record of each
     * type. */
    const uint8_t types[] = {LDI_REC_USER,      LDI_REC_CREATOR, LDI_REC_PRODUCT, LDI_REC_FOLLOWER,
                             LDI_REC_FOLLOWING, LDI_REC_TOPIC,   LDI_REC_EVENT,   LDI_REC_RELAY};
    for (size_t t = 0; t < sizeof types; t++) {
        fx f;
        world3(&f);
        found rec = find_rec(&f, types[t]);
        for (size_t len = 0; len < rec.val_len; len++) {
            fx_store_put(&f, rec.key, rec.key_len, rec.val, len);
            cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE, "type %c len %zu", types[t], len);
        }
        uint8_t longer[LDI_REC_VAL_BYTES_MAX + 1];
        memcpy(longer, rec.val, rec.val_len);
        longer[rec.val_len] = 0;
        fx_store_put(&f, rec.key, rec.key_len, longer, rec.val_len + 1);
        cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE, "type %c longer", types[t]);
        longer[0] = 99;
        fx_store_put(&f, rec.key, rec.key_len, longer, rec.val_len);
        cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE, "type %c version", types[t]);
        fx_store_put(&f, rec.key, rec.key_len, rec.val, rec.val_len);
        cr_assert_eq(fx_try_open(&f), LD_OK);
        fx_fini(&f);
    }
}

Test(recover, issue3_cross_record_inconsistencies_are_refused)
{
    /* Goal: records that do not fit together are LD_ERR_STORAGE: a follow edge of an unknown
     * creator, an event on a topic without its counter record, a gap in the retained events,
     * a last event seq in the meta record that the events do not reach, two creators with one
     * handle in different case. Method: one corruption per fresh world. */
    fx f;
    world3(&f);
    found c = find_rec(&f, LDI_REC_CREATOR);
    fx_store_del(&f, c.key, c.key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);

    world3(&f);
    found a = find_rec(&f, LDI_REC_TOPIC);
    fx_store_del(&f, a.key, a.key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);

    world3(&f);
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    size_t key_len = ldi_rec_event_key(2, key);
    fx_store_del(&f, key, key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);

    world3(&f);
    key_len = ldi_rec_event_key(ld_sm_last_event_seq(f.sm), key);
    fx_store_del(&f, key, key_len);
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);

    world3(&f);
    ldi_creator cr;
    cr_assert(ldi_rec_creator_decode(c.key, c.key_len, c.val, c.val_len, &cr));
    cr.spec.id = id_n(0x7001);
    strcpy(cr.spec.handle, "MAKER");
    uint8_t val[LDI_REC_VAL_BYTES_MAX];
    key_len = ldi_rec_id_key(LDI_REC_CREATOR, &cr.spec.id, key);
    fx_store_put(&f, key, key_len, val, ldi_rec_creator_encode(&cr, val));
    cr_assert_eq(fx_try_open(&f), LD_ERR_STORAGE);
    fx_fini(&f);
}

Test(recover, version_1_meta_and_drop_records_still_load)
{
    /* Goal: records of layout version 1 (meta and drop, before events and the catalog) open: the
     * drop is announced UPCOMING until the first TICK moves it (DROP_LIVE), and events start at 1.
     * Method: write version-1 encodings by hand, open, tick. */
    fx f;
    fx_init(&f, NULL);
    uint8_t val[LDI_REC_VAL_BYTES_MAX];
    uint8_t meta[1 + 8 + 8 + 8] = {1};
    meta[1] = 7;                         /* applied op 7 */
    memcpy(meta + 9, &(int64_t){T0}, 8); /* last ts (little-endian host) */
    meta[17] = 1;                        /* next_seq 1 */
    fx_store_put(&f, "M", 1, meta, sizeof meta);
    ldi_drop d;
    memset(&d, 0, sizeof d);
    d.spec = op_create(id_n(1), T0 - HOUR_MS, T0 + HOUR_MS, 5, 0).u.create_drop;
    d.created_at_ms = T0 - 2 * HOUR_MS;
    d.announced = LD_DROP_UPCOMING;
    size_t len = ldi_rec_drop_encode(&d, val);
    val[0] = 1; /* version 1 ends at created_at: no product id, status, flag, cancel time */
    len -= 16 + 1 + 1 + 8;
    uint8_t key[LDI_REC_KEY_BYTES_MAX];
    fx_store_put(&f, key, ldi_rec_id_key(LDI_REC_DROP, &d.spec.id, key), val, len);
    ld_sm_free(f.sm);
    fx_open_sm(&f);
    ld_sm_check(f.sm); /* the node checks right after opening */
    cr_assert_eq(ld_sm_applied_op(f.sm), 7);
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0 - HOUR_MS); /* its start: due */
    f.ts = T0;
    fx_apply(&f, T0, op_tick());
    const ld_event_view *evs;
    cr_assert_eq(ld_sm_batch_events(f.sm, &evs), 1);
    cr_assert_eq(evs[0].type, LD_EVENT_DROP_LIVE);
    cr_assert_eq(evs[0].seq, 1);
    assert_code(fx_apply(&f, T0, op_reserve(id_n(1), id_n(2), 1, "k")), LD_OK);
    ld_sm_check(f.sm);
    fx_fini(&f);
}
