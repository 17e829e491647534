/*
 * test_recover.c -- ld_sm_open()'s rebuild from the store (shard/recover.c): equal state after a
 * clean restart, the last synced state after a crash, and LD_ERR_STORAGE for every kind of bad
 * record or failed scan.
 */
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
    fx_apply(f, T0, op_commit(r.u.reservation.id, "ch"));
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
    ld_result p = fx_read(&f, T0, op_id(LD_OP_GET_RESERVATION, ldi_res_id_derive(4, 0)));
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
