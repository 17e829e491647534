/*
 * test_check.c -- ld_sm_check() and P1 under random load (shard/check.c).
 */
#include "sm_fixture.h"

static void
assert_p1_all(fx *f, const wl *w)
{
    for (uint32_t i = 0; i < w->drops; i++) {
        ld_result r = fx_read(f, f->ts, op_id(LD_OP_GET_DROP, id_n(1000 + i)));
        if (r.code != LD_OK)
            continue; /* a create refused (e.g. capacity) */
        const ld_stock *s = &r.u.drop.stock;
        cr_assert(s->available >= 0 && s->reserved >= 0 && s->sold >= 0);
        cr_assert_eq(s->available + s->reserved + s->sold, r.u.drop.spec.initial_stock);
    }
}

Test(check, random_ops_keep_every_invariant)
{
    /* Goal: after thousands of random ops (all op types, replays, time jumps) every invariant
     * of ld_sm_check holds and available + reserved + sold == initial_stock on every drop.
     * Method: three seeds x 1500 batches, checking every 100 batches. */
    for (uint64_t seed = 1; seed <= 3; seed++) {
        fx f;
        fx_init(&f, NULL);
        wl w = {.rng = seed * 0x9E3779B97F4A7C15ull};
        for (int round = 0; round < 15; round++) {
            wl_run(&f, &w, 100, 32);
            ld_sm_check(f.sm);
            assert_p1_all(&f, &w);
        }
        cr_assert_gt(w.ops_applied, 10000);
        fx_fini(&f);
    }
}

Test(check, random_ops_with_tiny_capacities)
{
    /* Goal: the same under capacity pressure: CAPACITY refusals and early eviction of retained
     * reservations never break an invariant. Method: caps of a few records each. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.drops = 3;
    caps.reservations = 20;
    caps.orders = 15;
    caps.keys = 30;
    caps.user_drops = 10;
    caps.payments = 3;
    fx f;
    fx_init(&f, &caps);
    wl w = {.rng = 12345};
    for (int round = 0; round < 20; round++) {
        wl_run(&f, &w, 100, 16);
        ld_sm_check(f.sm);
        assert_p1_all(&f, &w);
    }
    fx_restart(&f);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(check, random_issue3_ops_keep_every_invariant)
{
    /* Goal: with creators, follows and their relay, catalog products and drops, cancels and
     * users in the mix, every invariant of ld_sm_check holds (follower counts equal edges, the
     * ring matches the topic counters, the boundary heap holds exactly the moving drops) and
     * every index record in the store agrees with memory; also with small capacities and a
     * short event retention. Method: two seeds, default and tiny caps, checks every 50 batches
     * after a sync. */
    for (int tiny = 0; tiny < 2; tiny++) {
        ldi_sm_caps caps = ldi_sm_caps_default();
        if (tiny) {
            caps.drops = 6;
            caps.follows = 8;
            caps.topics = 12;
            caps.events_retain = 50;
            caps.products = 3;
        }
        for (uint64_t seed = 1; seed <= 2; seed++) {
            fx f;
            fx_init(&f, &caps);
            wl w = {.rng = seed * 0x9E3779B97F4A7C15ull + (uint64_t)tiny, .social = 1};
            for (int round = 0; round < 10; round++) {
                wl_run(&f, &w, 50, 24);
                ld_store_mem_sync(f.mem);
                ld_sm_check(f.sm);
                ldi_sm_check_store(f.sm);
                assert_p1_all(&f, &w);
            }
            ld_sm_stats st;
            ld_sm_stats_get(f.sm, &st);
            cr_assert_gt(st.last_event_seq, 100);
            if (!tiny)
                cr_assert_gt(st.follows, 0);
            fx_fini(&f);
        }
    }
}
