/*
 * test_feed.c -- the notification feed (shard/feed.c): events of followed creators after the
 * follow, the user's own order outcomes, unfollow, pages, and a randomized comparison with a
 * model built from the event stream.
 */
#include "sm_fixture.h"

static const ld_id CREATOR = {.bytes = {0xAB, [13] = 0xC0, [14] = 0xFF, [15] = 0xEE}};

/* A live drop of `creator` with stock and a low-stock threshold. */
static void
drop_of(fx *f, ld_id id, ld_id creator, int64_t starts, int64_t stock, int64_t low)
{
    ld_op c = op_create(id, starts, T0 + 30 * DAY_MS, stock, 0);
    c.u.create_drop.product.creator_id = creator;
    c.u.create_drop.low_stock_threshold = low;
    c.principal = creator;
    assert_code(fx_apply(f, f->ts, c), LD_OK);
}

static ld_err
feed(fx *f, ld_id user, uint32_t first, const char *after, ld_page *page)
{
    return fx_page(f, op_list(LD_OP_LIST_NOTIFICATIONS, user, first, after), page);
}

Test(feed, follows_unfollows_and_own_orders)
{
    /* Goal: the feed holds a followed creator's DROP_LIVE, LOW_STOCK and SOLD_OUT after the
     * follow (not before it), newest first, and the user's own ORDER_PAID / ORDER_FAILED; never
     * other creators' events, nor other kinds (STOCK_CHANGED, RESERVATION_EXPIRED, DROP_ENDED);
     * unfollowing removes the creator's events. Method: a scripted history, pages read after each
     * step. */
    fx f;
    fx_init(&f, NULL);
    ld_id u = id_n(1), other = id_n(0xC2);
    assert_code(fx_apply(&f, T0, op_creator(CREATOR, "maker")), LD_OK);
    assert_code(fx_apply(&f, T0, op_creator(other, "other")), LD_OK);
    drop_of(&f, id_n(10), CREATOR, T0, 5, 0); /* live before the follow: not in the feed */
    ld_page *page = page_alloc();
    cr_assert_eq(feed(&f, u, 10, "", page), LD_OK);
    cr_assert_eq(page->kind, LD_RESULT_NOTIFICATION_PAGE);
    cr_assert_eq(page->count, 0);
    fx_follow(&f, LD_OP_FOLLOW, u, CREATOR);
    drop_of(&f, id_n(11), CREATOR, T0, 4, 2);                           /* DROP_LIVE */
    drop_of(&f, id_n(12), other, T0, 4, 2);                             /* not followed */
    fx_apply(&f, T0, op_reserve(id_n(11), id_n(2), 3, "a"));            /* LOW_STOCK */
    fx_apply(&f, T0, op_reserve(id_n(12), id_n(2), 4, "b"));            /* other's LOW, SOLD */
    ld_result mine = fx_apply(&f, T0, op_reserve(id_n(11), u, 1, "c")); /* SOLD_OUT */
    fx_apply(&f, T0, op_checkout(mine.u.reservation.id, "ch"));         /* ORDER_PAID */
    ld_result decl = fx_apply(&f, T0, op_place(id_n(10), u, 1, "d", "pm_card_declined"));
    fx_apply(&f, T0 + 1, op_finish(decl.payment.reservation_id, false, "")); /* ORDER_FAILED */
    fx_apply(&f, T0 + 2, op_reserve(id_n(10), u, 1, "e"));
    fx_apply(&f, T0 + 2 + LD_RESERVATION_TTL_MS_DEFAULT, op_tick()); /* EXPIRED: not a note */
    cr_assert_eq(feed(&f, u, 10, "", page), LD_OK);
    ld_notification_kind want[] = {LD_NOTIFY_ORDER_FAILED, LD_NOTIFY_ORDER_PAID, LD_NOTIFY_SOLD_OUT,
                                   LD_NOTIFY_LOW_STOCK, LD_NOTIFY_DROP_LIVE};
    cr_assert_eq(page->count, 5);
    ld_id d11 = id_n(11);
    for (uint32_t i = 0; i < 5; i++) {
        cr_assert_eq(page->u.notifications[i].kind, want[i], "item %u", i);
        if (i > 0)
            cr_assert_lt(page->u.notifications[i].event.seq,
                         page->u.notifications[i - 1].event.seq);
    }
    cr_assert(ld_id_eq(&page->u.notifications[4].event.drop_id, &d11));
    cr_assert(!page->has_next_page);
    /* The other user sees none of it (it follows no one, and its orders are reserves only). */
    cr_assert_eq(feed(&f, id_n(2), 10, "", page), LD_OK);
    cr_assert_eq(page->count, 0);
    fx_follow(&f, LD_OP_UNFOLLOW, u, CREATOR);
    cr_assert_eq(feed(&f, u, 10, "", page), LD_OK);
    cr_assert_eq(page->count, 2);
    cr_assert_eq(page->u.notifications[0].kind, LD_NOTIFY_ORDER_FAILED);
    /* Following again shows only what comes after the new follow. */
    fx_follow(&f, LD_OP_FOLLOW, u, CREATOR);
    cr_assert_eq(feed(&f, u, 10, "", page), LD_OK);
    cr_assert_eq(page->count, 2);
    drop_of(&f, id_n(13), CREATOR, T0 + 3 * DAY_MS, 4, 0);
    fx_apply(&f, T0 + 3 * DAY_MS, op_tick());
    cr_assert_eq(feed(&f, u, 10, "", page), LD_OK);
    cr_assert_eq(page->count, 3);
    cr_assert_eq(page->u.notifications[0].kind, LD_NOTIFY_DROP_LIVE);
    cr_assert_eq(feed(&f, u, LD_PAGE_DROPS_MAX + 1, "", page), LD_ERR_VALUE_OUT_OF_RANGE);
    cr_assert_eq(feed(&f, u, 1, "nonsense", page), LD_ERR_INVALID_CURSOR);
    free(page);
    fx_fini(&f);
}

/* ---- randomized comparison with a model ---------------------------------------------------- */

enum { MODEL_CREATORS = 6, MODEL_USERS = 4 };

static bool
creator_notable(ld_event_type t)
{
    return t == LD_EVENT_DROP_LIVE || t == LD_EVENT_LOW_STOCK || t == LD_EVENT_SOLD_OUT;
}

/* The feed of `user` computed from the whole event stream: the user's current follows (each
 * with its last FOLLOWED seq), then the notable events after them and the user's orders.
 * Returns the count; seqs newest first. */
static uint32_t
model_feed(fx *f, ld_id user, uint64_t *out, uint32_t cap)
{
    ld_page *page = page_alloc();
    uint64_t follow_seq[MODEL_CREATORS] = {0}; /* 0: not following */
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    ld_event_view *all = calloc(8192, sizeof *all);
    uint32_t total = 0, n = 0;
    for (uint64_t after = 0;; after = page->next_after) {
        cr_assert_eq(fx_page(f, op_pull(after, LD_PULL_EVENTS_MAX, LD_TOPIC_NONE, zero), page),
                     LD_OK);
        for (uint32_t i = 0; i < page->count; i++) {
            const ld_event_view *e = &page->u.events[i];
            cr_assert_lt(total, 8192);
            all[total++] = *e;
            if ((e->type == LD_EVENT_FOLLOWED || e->type == LD_EVENT_UNFOLLOWED) &&
                ld_id_eq(&e->user_id, &user))
                follow_seq[e->creator_id.bytes[15] - 0x70] =
                    e->type == LD_EVENT_FOLLOWED ? e->seq : 0;
        }
        if (page->count == 0)
            break;
    }
    for (uint32_t i = total; i-- > 0;) {
        const ld_event_view *e = &all[i];
        uint32_t c = e->creator_id.bytes[15] - 0x70;
        bool note = (creator_notable(e->type) && c < MODEL_CREATORS && follow_seq[c] != 0 &&
                     e->seq > follow_seq[c]) ||
                    ((e->type == LD_EVENT_ORDER_PAID || e->type == LD_EVENT_ORDER_FAILED) &&
                     ld_id_eq(&e->user_id, &user));
        if (note) {
            cr_assert_lt(n, cap);
            out[n++] = e->seq;
        }
    }
    free(all);
    free(page);
    return n;
}

static uint32_t
rnd(uint64_t *rng, uint32_t n)
{
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*rng >> 33) % n;
}

Test(feed, random_histories_match_the_model)
{
    /* Goal: for random histories of follows, unfollows, drops going live, reserves, orders and
     * ticks, every user's feed, walked in pages of 3, equals the model computed from the event
     * stream (followed creators' notable events after the follow, own orders), with no
     * duplicate; a restart gives identical pages. Method: seeded histories over 6 creators and 4
     * users. */
    for (uint64_t seed = 1; seed <= 6; seed++) {
        fx f;
        fx_init(&f, NULL);
        uint64_t rng = seed * 0x2545F4914F6CDD1Dull;
#define RND(n) rnd(&rng, (n))
        for (uint32_t c = 0; c < MODEL_CREATORS; c++) {
            char h[16];
            snprintf(h, sizeof h, "maker%u", c);
            assert_code(fx_apply(&f, T0, op_creator(id_n(0x70 + c), h)), LD_OK);
        }
        fx_users(&f, 1, MODEL_USERS);
        uint32_t drops = 0;
        ld_id res_ids[64];
        uint32_t res_n = 0;
        for (int step = 0; step < 250; step++) {
            uint32_t kind = RND(10);
            ld_id u = id_n(1 + RND(MODEL_USERS)), c = id_n(0x70 + RND(MODEL_CREATORS));
            if (kind < 3) {
                ld_result r =
                    fx_apply(&f, f.ts, op_follow(RND(3) ? LD_OP_FOLLOW : LD_OP_UNFOLLOW, u, c));
                assert_code(r, LD_OK);
                fx_relay(&f, f.ts);
            } else if (kind < 5 || drops == 0) {
                int64_t stock = 1 + RND(6);
                drop_of(&f, id_n(1000 + drops++), c, f.ts + RND(3) * 1000, stock,
                        RND((uint32_t)stock + 1));
            } else if (kind < 8) {
                char key[16];
                snprintf(key, sizeof key, "k%d", step);
                ld_op op = RND(2) ? op_reserve(id_n(1000 + RND(drops)), u, 1, key)
                                  : op_place(id_n(1000 + RND(drops)), u, 1, key, "pm");
                ld_result r = fx_apply(&f, f.ts, op);
                if (r.code == LD_OK)
                    res_ids[res_n++ % 64] = r.u.reservation.id;
            } else if (kind < 9 && res_n > 0) {
                ld_id rid = res_ids[RND(res_n < 64 ? res_n : 64)];
                fx_apply(&f, f.ts, RND(2) ? op_checkout(rid, "ch") : op_finish(rid, RND(2), "p"));
            } else {
                fx_apply(&f, f.ts + 500 + RND(3) * LD_RESERVATION_TTL_MS_DEFAULT, op_tick());
            }
        }
        ld_page *page = page_alloc();
        uint64_t model[2048], got[2048];
        for (int restart = 0; restart < 2; restart++) {
            for (uint32_t ui = 0; ui < MODEL_USERS; ui++) {
                ld_id u = id_n(1 + ui);
                uint32_t want = model_feed(&f, u, model, 2048), n = 0;
                char after[LD_CURSOR_BYTES_MAX + 1] = "";
                for (int pages = 0; pages < 1000; pages++) {
                    cr_assert_eq(feed(&f, u, 3, after, page), LD_OK);
                    for (uint32_t i = 0; i < page->count; i++)
                        got[n++] = page->u.notifications[i].event.seq;
                    if (!page->has_next_page)
                        break;
                    strcpy(after, page->end_cursor);
                }
                cr_assert_eq(n, want, "seed %llu user %u", (unsigned long long)seed, ui);
                for (uint32_t i = 0; i < n; i++)
                    cr_assert_eq(got[i], model[i], "seed %llu user %u item %u",
                                 (unsigned long long)seed, ui, i);
            }
            fx_restart(&f);
        }
        ld_sm_check(f.sm);
        ldi_sm_check_store(f.sm);
        free(page);
        fx_fini(&f);
#undef RND
    }
}
