/*
 * test_events.c -- the outbox (shard/events.c, shard/page.c pulls): dense seqs, topics, the
 * coalesced STOCK_CHANGED, LOW_STOCK once, SOLD_OUT, order and expiry events, retention and
 * EVENTS_TRIMMED, pull limits, and the per-batch event budget.
 */
#include "sm_fixture.h"

static const ld_id CREATOR = {.bytes = {0xAB, [13] = 0xC0, [14] = 0xFF, [15] = 0xEE}};

/* Counts events of `type` in the last batch (about `drop` when it is non-NULL). */
static uint32_t
count_type(fx *f, ld_event_type type, const ld_id *drop)
{
    const ld_event_view *evs;
    size_t n = fx_events(f, &evs);
    uint32_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += evs[i].type == type && (drop == NULL || ld_id_eq(&evs[i].drop_id, drop));
    return c;
}

/* Pulls the whole stream after `after` into page (max 1000). */
static void
pull_all(fx *f, uint64_t after, ld_page *page)
{
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(fx_page(f, op_pull(after, LD_PULL_EVENTS_MAX, LD_TOPIC_NONE, zero), page), LD_OK);
}

Test(events, seqs_are_dense_and_pulls_return_what_batches_emitted)
{
    /* Goal: every event gets the next seq from 1 with no gap, the batch's events are those of the
     * stream, and a pull resumes after next_after. Method: a mixed workload, collecting
     * ld_sm_batch_events after each batch, then pulls in pages of 7. */
    fx f;
    fx_init(&f, NULL);
    wl w = {.rng = 3};
    ld_event_view *all = calloc(20000, sizeof *all);
    size_t total = 0;
    for (int b = 0; b < 300; b++) {
        wl_run(&f, &w, 1, 16);
        const ld_event_view *evs;
        size_t n = fx_events(&f, &evs);
        for (size_t i = 0; i < n; i++) {
            cr_assert_lt(total, 20000);
            all[total++] = evs[i];
        }
    }
    cr_assert_gt(total, 100);
    cr_assert_eq(ld_sm_last_event_seq(f.sm), total);
    for (size_t i = 0; i < total; i++)
        cr_assert_eq(all[i].seq, i + 1);
    ld_page *page = page_alloc();
    uint64_t after = 0;
    size_t got = 0;
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    for (;;) {
        cr_assert_eq(fx_page(&f, op_pull(after, 7, LD_TOPIC_NONE, zero), page), LD_OK);
        cr_assert_eq(page->last_seq, total);
        for (uint32_t i = 0; i < page->count; i++, got++)
            cr_assert_eq(memcmp(&page->u.events[i], &all[got], sizeof all[got]), 0, "event %zu",
                         got);
        if (page->count == 0)
            break;
        cr_assert_eq(page->next_after, page->u.events[page->count - 1].seq);
        after = page->next_after;
    }
    cr_assert_eq(got, total);
    cr_assert_eq(page->next_after, total); /* an empty page keeps the cursor */
    ld_sm_check(f.sm);
    ldi_sm_check_store(f.sm);
    free(all);
    free(page);
    fx_fini(&f);
}

Test(events, stock_changed_is_one_per_drop_per_batch_with_the_final_stock)
{
    /* Goal: many stock moves of two drops in one batch give exactly one STOCK_CHANGED per drop,
     * after the batch's other events, carrying the stock at the end of the batch; a batch that
     * moves no stock has none. Method: reserves and a release in one batch; then a get. */
    fx f;
    fx_init(&f, NULL);
    ld_id a = id_n(1), b = id_n(2);
    fx_live_drop(&f, a, 50, 0);
    fx_live_drop(&f, b, 50, 0);
    ld_result r0 = fx_apply(&f, T0, op_reserve(a, id_n(10), 3, "k0"));
    ld_op ops[6] = {
        op_reserve(a, id_n(11), 2, "k1"), op_reserve(b, id_n(12), 4, "k2"),
        op_reserve(a, id_n(13), 1, "k3"), op_id(LD_OP_RELEASE, r0.u.reservation.id),
        op_reserve(b, id_n(14), 5, "k4"), op_reserve(a, id_n(15), 1, "k5"),
    };
    ld_result res[6];
    fx_batch(&f, T0 + 1, ops, 6, res);
    cr_assert_eq(count_type(&f, LD_EVENT_STOCK_CHANGED, &a), 1);
    cr_assert_eq(count_type(&f, LD_EVENT_STOCK_CHANGED, &b), 1);
    const ld_event_view *evs;
    size_t n = fx_events(&f, &evs);
    cr_assert_eq(n, 2);
    cr_assert(ld_id_eq(&evs[0].drop_id, &a)); /* first moved first */
    cr_assert_eq(evs[0].stock.available, 50 - 4);
    cr_assert_eq(evs[0].stock.reserved, 4);
    cr_assert_eq(evs[1].stock.available, 50 - 9);
    /* drop/a: SCHEDULED, LIVE, the first batch's STOCK_CHANGED, this one. */
    cr_assert_eq(evs[0].topic_seq[LD_TOPIC_DROP], 4);
    cr_assert_eq(evs[0].topic_seq[LD_TOPIC_CREATOR], 0);
    fx_apply(&f, T0 + 2, op_tick());
    cr_assert_eq(fx_events(&f, &evs), 0);
    fx_fini(&f);
}

Test(events, low_stock_once_sold_out_every_time)
{
    /* Goal: LOW_STOCK is emitted once per drop, the first time available falls to the threshold
     * or below (not again after stock comes back, nor after a restart); SOLD_OUT each time
     * available reaches 0. Method: stock 10, threshold 4: reserve 6, release, reserve 7, restart,
     * reserve to 0, release 1, reserve 1. */
    fx f;
    fx_init(&f, NULL);
    ld_id d = id_n(1);
    ld_op c = op_create(d, T0 - HOUR_MS, T0 + DAY_MS, 10, 0);
    c.u.create_drop.low_stock_threshold = 4;
    assert_code(fx_apply(&f, T0, c), LD_OK);
    ld_result r = fx_apply(&f, T0, op_reserve(d, id_n(10), 6, "a"));
    cr_assert_eq(count_type(&f, LD_EVENT_LOW_STOCK, NULL), 1);
    const ld_event_view *evs;
    fx_events(&f, &evs);
    cr_assert_eq(evs[0].type, LD_EVENT_LOW_STOCK);
    cr_assert_eq(evs[0].stock.available, 4);
    cr_assert(evs[0].topic_seq[LD_TOPIC_CREATOR] > 0 && evs[0].topic_seq[LD_TOPIC_DROP] > 0);
    fx_apply(&f, T0, op_id(LD_OP_RELEASE, r.u.reservation.id));
    fx_apply(&f, T0, op_reserve(d, id_n(11), 7, "b"));
    cr_assert_eq(count_type(&f, LD_EVENT_LOW_STOCK, NULL), 0);
    fx_restart(&f);
    ld_result last = fx_apply(&f, T0, op_reserve(d, id_n(12), 3, "c"));
    cr_assert_eq(count_type(&f, LD_EVENT_LOW_STOCK, NULL), 0);
    cr_assert_eq(count_type(&f, LD_EVENT_SOLD_OUT, NULL), 1);
    fx_apply(&f, T0, op_id(LD_OP_RELEASE, last.u.reservation.id));
    cr_assert_eq(count_type(&f, LD_EVENT_SOLD_OUT, NULL), 0);
    fx_apply(&f, T0, op_reserve(d, id_n(13), 1, "d"));
    cr_assert_eq(count_type(&f, LD_EVENT_SOLD_OUT, NULL), 0); /* 2 left */
    fx_apply(&f, T0, op_reserve(d, id_n(14), 2, "e"));
    cr_assert_eq(count_type(&f, LD_EVENT_SOLD_OUT, NULL), 1);
    ld_sm_check(f.sm);
    fx_fini(&f);
}

Test(events, order_and_expiry_events_reach_the_user_topic)
{
    /* Goal: commit emits ORDER_PAID, a declined place_order ORDER_FAILED, an expiry
     * RESERVATION_EXPIRED, a place_order expiring in payment RESERVATION_EXPIRED then
     * ORDER_FAILED; each is on the drop and user topics, with the ids set. Method: one of each,
     * then a pull of the user's topic. */
    fx f;
    fx_init(&f, NULL);
    ld_id d = id_n(1), u = id_n(7);
    fx_live_drop(&f, d, 20, 0);
    ld_result a = fx_apply(&f, T0, op_reserve(d, u, 1, "a"));
    ld_result paid = fx_apply(&f, T0, op_checkout(a.u.reservation.id, "ch_1"));
    const ld_event_view *evs;
    cr_assert_eq(fx_events(&f, &evs), 2);
    cr_assert_eq(evs[0].type, LD_EVENT_ORDER_PAID);
    cr_assert(ld_id_eq(&evs[0].order_id, &paid.u.order.id));
    cr_assert(ld_id_eq(&evs[0].reservation_id, &a.u.reservation.id));
    cr_assert(ld_id_eq(&evs[0].creator_id, &CREATOR));
    cr_assert_eq(evs[0].qty, 1);
    cr_assert_eq(evs[0].stock.sold, 1);
    ld_result p = fx_apply(&f, T0, op_place(d, u, 2, "b", "pm_card_declined"));
    fx_apply(&f, T0 + 1, op_finish(p.payment.reservation_id, false, "pi_x"));
    cr_assert_eq(count_type(&f, LD_EVENT_ORDER_FAILED, NULL), 1);
    fx_apply(&f, T0 + 2, op_reserve(d, u, 1, "c"));
    fx_apply(&f, T0 + 3, op_place(d, u, 1, "e", "pm_card_slow"));
    fx_apply(&f, T0 + 3 + LD_RESERVATION_TTL_MS_DEFAULT, op_tick());
    cr_assert_eq(fx_events(&f, &evs), 4);
    cr_assert_eq(evs[0].type, LD_EVENT_RESERVATION_EXPIRED);
    cr_assert_eq(evs[1].type, LD_EVENT_RESERVATION_EXPIRED);
    cr_assert_eq(evs[2].type, LD_EVENT_ORDER_FAILED);
    cr_assert_eq(evs[3].type, LD_EVENT_STOCK_CHANGED);
    cr_assert_eq(evs[3].stock.available, 19);
    ld_page *page = page_alloc();
    cr_assert_eq(fx_page(&f, op_pull(0, 100, LD_TOPIC_USER, u), page), LD_OK);
    cr_assert_eq(page->count, 5);
    cr_assert_eq(page->last_seq, 5);
    cr_assert_eq(page->topic_kind, LD_TOPIC_USER);
    ld_event_type want[] = {LD_EVENT_ORDER_PAID, LD_EVENT_ORDER_FAILED,
                            LD_EVENT_RESERVATION_EXPIRED, LD_EVENT_RESERVATION_EXPIRED,
                            LD_EVENT_ORDER_FAILED};
    for (uint32_t i = 0; i < 5; i++) {
        cr_assert_eq(page->u.events[i].type, want[i]);
        cr_assert_eq(page->u.events[i].topic_seq[LD_TOPIC_USER], i + 1);
    }
    cr_assert_eq(fx_page(&f, op_pull(3, 100, LD_TOPIC_USER, u), page), LD_OK);
    cr_assert_eq(page->count, 2);
    cr_assert_eq(page->next_after, 5);
    cr_assert_eq(fx_page(&f, op_pull(0, 100, LD_TOPIC_USER, id_n(999)), page), LD_OK);
    cr_assert_eq(page->count, 0);
    cr_assert_eq(page->last_seq, 0);
    ldi_sm_check_store(f.sm);
    free(page);
    fx_fini(&f);
}

Test(events, topic_seqs_are_dense_per_topic)
{
    /* Goal: each topic numbers its events 1, 2, 3... with no gap, whatever other topics do;
     * pulling a topic returns exactly its events in order. Method: two creators' drops and
     * follows interleaved; pull each creator topic and compare with the stream. */
    fx f;
    fx_init(&f, NULL);
    ld_id c2 = id_n(0xC2);
    assert_code(fx_apply(&f, T0, op_creator(CREATOR, "maker_one")), LD_OK);
    assert_code(fx_apply(&f, T0, op_creator(c2, "maker_two")), LD_OK);
    for (uint32_t i = 0; i < 6; i++) {
        ld_op c = op_create(id_n(100 + i), T0 + (i % 2) * HOUR_MS, T0 + DAY_MS, 5, 0);
        if (i % 3 == 0) {
            c.u.create_drop.product.creator_id = c2;
            c.principal = c2;
        }
        assert_code(fx_apply(&f, T0, c), LD_OK);
        fx_follow(&f, LD_OP_FOLLOW, id_n(50 + i), i % 2 ? CREATOR : c2);
    }
    ld_page *page = page_alloc(), *stream = page_alloc();
    pull_all(&f, 0, stream);
    const ld_id *creators[2] = {&CREATOR, &c2};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(fx_page(&f, op_pull(0, 1000, LD_TOPIC_CREATOR, *creators[k]), page), LD_OK);
        uint32_t want = 0;
        for (uint32_t i = 0; i < stream->count; i++)
            if (stream->u.events[i].topic_seq[LD_TOPIC_CREATOR] != 0 &&
                ld_id_eq(&stream->u.events[i].creator_id, creators[k])) {
                cr_assert_lt(want, page->count);
                cr_assert_eq(page->u.events[want].seq, stream->u.events[i].seq);
                cr_assert_eq(page->u.events[want].topic_seq[LD_TOPIC_CREATOR], want + 1);
                want++;
            }
        cr_assert_eq(want, page->count);
        cr_assert_eq(page->last_seq, page->count);
    }
    free(page);
    free(stream);
    fx_fini(&f);
}

Test(events, retention_trims_old_events_and_their_index_records)
{
    /* Goal: with retention R, a TICK trims events older than the newest R (bounded, and
     * ld_sm_next_deadline_ms says when there is more), with their topic and feed index records;
     * a pull from before the oldest kept is EVENTS_TRIMMED, from just before it works; topic
     * pulls likewise; seqs go on after a restart. Method: caps.events_retain = 10. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.events_retain = 10;
    fx f;
    fx_init(&f, &caps);
    ld_id d = id_n(1);
    fx_live_drop(&f, d, 1000, 0);
    for (int i = 0; i < 30; i++)
        fx_apply(&f, T0 + i, op_reserve(d, id_n(100 + i), 1, "k"));
    uint64_t last = ld_sm_last_event_seq(f.sm);
    cr_assert_eq(last, 32);                            /* SCHEDULED, LIVE, 30 STOCK_CHANGED */
    cr_assert_leq(ld_sm_next_deadline_ms(f.sm), f.ts); /* a trim is due now */
    fx_apply(&f, f.ts, op_tick());
    cr_assert_lt(ld_sm_next_deadline_ms(f.sm), INT64_MAX);
    cr_assert_gt(ld_sm_next_deadline_ms(f.sm), f.ts);
    ld_page *page = page_alloc();
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(fx_page(&f, op_pull(0, 10, LD_TOPIC_NONE, zero), page), LD_ERR_EVENTS_TRIMMED);
    cr_assert_eq(fx_page(&f, op_pull(last - 11, 10, LD_TOPIC_NONE, zero), page),
                 LD_ERR_EVENTS_TRIMMED);
    cr_assert_eq(fx_page(&f, op_pull(last - 10, 100, LD_TOPIC_NONE, zero), page), LD_OK);
    cr_assert_eq(page->count, 10);
    cr_assert_eq(page->u.events[0].seq, last - 9);
    cr_assert_eq(fx_page(&f, op_pull(0, 10, LD_TOPIC_DROP, d), page), LD_ERR_EVENTS_TRIMMED);
    cr_assert_eq(fx_page(&f, op_pull(last - 10, 100, LD_TOPIC_DROP, d), page), LD_OK);
    cr_assert_eq(page->count, 10);
    ldi_sm_check_store(f.sm);
    ld_sm_check(f.sm);
    uint64_t digest = ld_sm_digest(f.sm);
    fx_restart(&f);
    cr_assert_eq(ld_sm_digest(f.sm), digest);
    fx_apply(&f, f.ts + 1, op_reserve(d, id_n(999), 1, "k"));
    const ld_event_view *evs;
    cr_assert_eq(fx_events(&f, &evs), 1);
    cr_assert_eq(evs[0].seq, last + 1);
    ld_sm_check(f.sm);
    free(page);
    fx_fini(&f);
}

Test(events, trimming_is_bounded_per_tick)
{
    /* Goal: a TICK trims at most LD_TICK_OPS_EXPIRE_MAX events; the next deadline stays "now"
     * until the backlog is gone. Method: retention 1, 2 * LD_TICK_OPS_EXPIRE_MAX + 10 events,
     * ticks. */
    ldi_sm_caps caps = ldi_sm_caps_default();
    caps.events_retain = 1;
    fx f;
    fx_init(&f, &caps);
    uint32_t n = 2 * LD_TICK_OPS_EXPIRE_MAX + 10;
    ld_op *ops = calloc(n, sizeof *ops);
    ld_result *res = calloc(n, sizeof *res);
    assert_code(fx_apply(&f, T0, op_creator(CREATOR, "maker")), LD_OK);
    fx_users(&f, 1000, n);
    for (uint32_t i = 0; i < n; i++)
        ops[i] = op_follow(LD_OP_FOLLOW, id_n(1000 + i), CREATOR);
    fx_batch(&f, T0, ops, n / 2, res);
    fx_batch(&f, T0, ops + n / 2, n - n / 2, res);
    cr_assert_eq(ld_sm_last_event_seq(f.sm), n);
    for (int t = 0; t < 2; t++) {
        cr_assert_eq(ld_sm_next_deadline_ms(f.sm), T0);
        ld_result r = fx_apply(&f, T0, op_tick());
        cr_assert(strstr(r.message, "4096 events trimmed") != NULL, "%s", r.message);
    }
    fx_apply(&f, T0, op_tick());
    cr_assert_eq(ld_sm_next_deadline_ms(f.sm), INT64_MAX);
    ld_store_mem_sync(f.mem);
    ldi_sm_check_store(f.sm);
    ld_sm_check(f.sm);
    free(ops);
    free(res);
    fx_fini(&f);
}

Test(events, pull_limits)
{
    /* Goal: max above LD_PULL_EVENTS_MAX and wait_ms above LD_PULL_WAIT_MS_MAX are
     * VALUE_OUT_OF_RANGE; max 0 means 100; a pull past the end is an empty page keeping the
     * cursor. Method: 150 events. */
    fx f;
    fx_init(&f, NULL);
    assert_code(fx_apply(&f, T0, op_creator(CREATOR, "maker")), LD_OK);
    fx_users(&f, 1000, 150);
    for (uint32_t i = 0; i < 150; i++)
        assert_code(fx_apply(&f, T0, op_follow(LD_OP_FOLLOW, id_n(1000 + i), CREATOR)), LD_OK);
    ld_page *page = page_alloc();
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    cr_assert_eq(fx_page(&f, op_pull(0, LD_PULL_EVENTS_MAX + 1, LD_TOPIC_NONE, zero), page),
                 LD_ERR_VALUE_OUT_OF_RANGE);
    ld_op slow = op_pull(0, 1, LD_TOPIC_NONE, zero);
    slow.u.pull.wait_ms = LD_PULL_WAIT_MS_MAX + 1;
    cr_assert_eq(fx_page(&f, slow, page), LD_ERR_VALUE_OUT_OF_RANGE);
    slow.u.pull.wait_ms = LD_PULL_WAIT_MS_MAX;
    cr_assert_eq(fx_page(&f, slow, page), LD_OK);
    cr_assert_eq(fx_page(&f, op_pull(0, 0, LD_TOPIC_NONE, zero), page), LD_OK);
    cr_assert_eq(page->count, 100);
    cr_assert(page->has_next_page);
    cr_assert_eq(fx_page(&f, op_pull(500, 10, LD_TOPIC_NONE, zero), page), LD_OK);
    cr_assert_eq(page->count, 0);
    cr_assert_eq(page->next_after, 500);
    cr_assert_eq(page->last_seq, 150);
    free(page);
    fx_fini(&f);
}

Test(events, many_ticks_in_one_batch_stay_within_the_event_budget)
{
    /* Goal: however many TICKs a batch holds, its events fit LDI_BATCH_EVENTS_MAX (each TICK
     * leaves room for the ops after it) and every due reservation still expires, over later
     * TICKs. Method: 25 000 reservations due at once; one batch of LD_BATCH_OPS_MAX TICKs; then
     * single TICKs until nothing is due. */
    fx f;
    fx_init(&f, NULL);
    ld_id d = id_n(1);
    ld_op c = op_create(d, T0 - HOUR_MS, T0 + DAY_MS, 100000, 0);
    c.u.create_drop.reservation_ttl_ms = LD_RESERVATION_TTL_MS_MIN;
    assert_code(fx_apply(&f, T0, c), LD_OK);
    enum { N = 25000, B = 1000 };
    ld_op *ops = calloc(LD_BATCH_OPS_MAX, sizeof *ops);
    ld_result *res = calloc(LD_BATCH_OPS_MAX, sizeof *res);
    for (uint32_t b = 0; b < N / B; b++) {
        for (uint32_t i = 0; i < B; i++)
            ops[i] = op_reserve(d, id_n(100000 + b * B + i), 1, "k");
        fx_batch(&f, T0, ops, B, res);
    }
    for (uint32_t i = 0; i < LD_BATCH_OPS_MAX; i++)
        ops[i] = op_tick();
    fx_batch(&f, T0 + LD_RESERVATION_TTL_MS_MIN, ops, LD_BATCH_OPS_MAX, res);
    const ld_event_view *evs;
    size_t n = fx_events(&f, &evs);
    cr_assert_leq(n, LDI_BATCH_EVENTS_MAX);
    cr_assert_gt(n, 4 * LD_TICK_OPS_EXPIRE_MAX);
    for (int t = 0; t < 10 && ld_sm_next_deadline_ms(f.sm) <= f.ts; t++)
        fx_apply(&f, f.ts, op_tick());
    ld_sm_stats st;
    ld_sm_stats_get(f.sm, &st);
    cr_assert_eq(st.reservations_active, 0);
    cr_assert_eq(fx_stock(&f, d).available, 100000);
    ld_sm_check(f.sm);
    free(ops);
    free(res);
    fx_fini(&f);
}
