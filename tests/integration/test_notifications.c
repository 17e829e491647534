/*
 * test_notifications.c -- a user's notification feed on a real node: drop live, low stock and
 * sold out of the creators the user follows (only events after the follow), the user's own
 * order outcomes, newest first, paged; unfollowing takes a creator's events out of the feed.
 *
 * The feed is built from the derived following side, which may trail a follow by a batch: each
 * test waits (bounded) until the following list shows the change before it acts.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(notifications, .fini = ldh_suite_fini, .timeout = 120);

#define NT_DERIVED_MS 5000

/* One expected notification. */
typedef struct nt_want {
    ld_notification_kind kind;
    ld_id drop;  /* the drop it is about */
    ld_id order; /* own orders: the order; zero otherwise */
} nt_want;

/* Reads the whole feed with `first` per page into out (owned, *n_out); checks newest first
 * (seq strictly decreasing across pages) and that kind matches the event type. */
static ld_notification *
nt_read(ld_client *c, const ld_id *user, uint32_t first, size_t *n_out)
{
    ld_notification_page *page = calloc(1, sizeof *page);
    size_t cap = 1024, n = 0;
    ld_notification *all = calloc(cap, sizeof *all);
    cr_assert(page && all);
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    for (int pages = 0;; pages++) {
        cr_assert_lt(pages, 1000, "the feed does not end");
        ld_errmsg msg = {{0}};
        ld_err err = ld_notifications_list(c, user, first, after, page, &msg);
        cr_assert_eq(err, LD_OK, "ld_notifications_list: %s (%s)", ld_err_name(err), msg.text);
        cr_assert_leq(page->count, first ? first : LD_PAGE_DEFAULT);
        for (uint32_t i = 0; i < page->count; i++) {
            cr_assert_lt(n, cap);
            all[n] = page->notifications[i];
            if (n > 0)
                cr_assert_lt(all[n].event.seq, all[n - 1].event.seq,
                             "feed entry %zu (seq %llu) is not older than the one before (%llu)", n,
                             (unsigned long long)all[n].event.seq,
                             (unsigned long long)all[n - 1].event.seq);
            static const ld_event_type type_of[] = {
                [LD_NOTIFY_DROP_LIVE] = LD_EVENT_DROP_LIVE,
                [LD_NOTIFY_LOW_STOCK] = LD_EVENT_LOW_STOCK,
                [LD_NOTIFY_SOLD_OUT] = LD_EVENT_SOLD_OUT,
                [LD_NOTIFY_ORDER_PAID] = LD_EVENT_ORDER_PAID,
                [LD_NOTIFY_ORDER_FAILED] = LD_EVENT_ORDER_FAILED,
            };
            cr_assert(all[n].kind >= LD_NOTIFY_DROP_LIVE && all[n].kind <= LD_NOTIFY_ORDER_FAILED,
                      "notification kind %d", (int)all[n].kind);
            cr_assert_eq(all[n].event.type, type_of[all[n].kind], "kind %d carries a %s event",
                         (int)all[n].kind, ldh_event_name(all[n].event.type));
            n++;
        }
        if (!page->page_info.has_next_page)
            break;
        snprintf(after, sizeof after, "%s", page->page_info.end_cursor);
    }
    free(page);
    *n_out = n;
    return all;
}

/* True if the feed is exactly `want` (newest first). */
static bool
nt_feed_is(ld_client *c, const ld_id *user, const nt_want *want, size_t n_want, uint32_t first)
{
    size_t n = 0;
    ld_notification *all = nt_read(c, user, first, &n);
    bool same = n == n_want;
    for (size_t i = 0; same && i < n; i++) {
        same = all[i].kind == want[i].kind && ldh_id_eq(&all[i].event.drop_id, &want[i].drop) &&
               (ldh_id_zero(&want[i].order) || ldh_id_eq(&all[i].event.order_id, &want[i].order));
    }
    if (!same) {
        cr_log_info("feed of %zu, expected %zu:", n, n_want);
        for (size_t i = 0; i < n; i++)
            cr_log_info("  %zu: kind %d seq %llu drop %s", i, (int)all[i].kind,
                        (unsigned long long)all[i].event.seq, ldh_hex(&all[i].event.drop_id));
    }
    free(all);
    return same;
}

static void
nt_order(ld_client *c, const ld_id *drop, const ld_id *user, int64_t qty, const char *key,
         const char *method, ld_err want, ld_order *out)
{
    ld_errmsg msg = {{0}};
    ld_err err = ld_place_order(c, drop, user, qty, key, method, out, &msg);
    cr_assert_eq(err, want, "order %s: %s (%s)", key, ld_err_name(err), msg.text);
}

Test(notifications, feed_holds_followed_creators_events_after_the_follow_and_own_orders)
{
    /* Goal: after following creator A, the user's feed gets A's DROP_LIVE, LOW_STOCK and SOLD_OUT
     * (not those before the follow, not creator B's), plus the user's own ORDER_PAID and
     * ORDER_FAILED, newest first; after unfollowing A, A's entries leave the feed and the own
     * orders stay; following again brings only what comes after the new follow. Method: A's
     * first drop goes live before the follow; the rest happens after the following list shows
     * A; the feed is compared with the expected list, read with pages of 1 and of the default. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id a = ldh_creator_create(c, "followed", NULL);
    ld_id b = ldh_creator_create(c, "ignored", NULL);
    ld_id user = ldh_user_create(c, "reader", NULL);
    ld_id buyer = ldh_id();
    int64_t now = ldh_now_ms();
    ld_drop_spec early, a2, b1;
    ldh_drop_spec_at(&early, &a, now - 1000, now + 3600000, 10);
    ldh_drop_create(c, &early, NULL); /* DROP_LIVE before the follow */

    ldh_follow(c, &user, &a, NULL);
    ldh_wait_following(c, &user, &a, true, NT_DERIVED_MS);
    cr_assert(nt_feed_is(c, &user, NULL, 0, 0), "the feed holds events from before the follow");

    ldh_drop_spec_at(&a2, &a, now - 1000, now + 3600000, 4);
    a2.low_stock_threshold = 2;
    ldh_drop_create(c, &a2, NULL); /* DROP_LIVE */
    ld_order o;
    nt_order(c, &a2.id, &buyer, 2, "n-1", "pm_card_ok", LD_OK, &o); /* LOW_STOCK */
    nt_order(c, &a2.id, &buyer, 2, "n-2", "pm_card_ok", LD_OK, &o); /* SOLD_OUT */
    ldh_drop_spec_at(&b1, &b, now - 1000, now + 3600000, 10);
    ldh_drop_create(c, &b1, NULL); /* B's DROP_LIVE: not followed */
    ld_order paid, failed;
    nt_order(c, &b1.id, &user, 1, "n-3", "pm_card_ok", LD_OK, &paid);
    nt_order(c, &b1.id, &user, 1, "n-4", "pm_card_declined", LD_ERR_PAYMENT_DECLINED, &failed);
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    const nt_want full[] = {
        {LD_NOTIFY_ORDER_FAILED, b1.id, zero}, {LD_NOTIFY_ORDER_PAID, b1.id, paid.id},
        {LD_NOTIFY_SOLD_OUT, a2.id, zero},     {LD_NOTIFY_LOW_STOCK, a2.id, zero},
        {LD_NOTIFY_DROP_LIVE, a2.id, zero},
    };
    cr_assert(nt_feed_is(c, &user, full, 5, 0), "the feed after the follow (default pages)");
    cr_assert(nt_feed_is(c, &user, full, 5, 1), "the feed after the follow (pages of 1)");

    ldh_unfollow(c, &user, &a, NULL);
    ldh_wait_following(c, &user, &a, false, NT_DERIVED_MS);
    LDH_POLL_UNTIL(NT_DERIVED_MS, nt_feed_is(c, &user, full, 2, 0),
                   "A's events are still in the feed after the unfollow");

    ldh_follow(c, &user, &a, NULL);
    ldh_wait_following(c, &user, &a, true, NT_DERIVED_MS);
    cr_assert(nt_feed_is(c, &user, full, 2, 0), "re-following brought back old events");
    ld_drop_spec a3;
    ldh_drop_spec_at(&a3, &a, now - 1000, now + 3600000, 10);
    ldh_drop_create(c, &a3, NULL);
    const nt_want again[] = {{LD_NOTIFY_DROP_LIVE, a3.id, zero}, full[0], full[1]};
    cr_assert(nt_feed_is(c, &user, again, 3, 0), "the feed after following again");

    /* Another user who follows no one sees nothing of this. */
    ld_id stranger = ldh_user_create(c, "stranger", NULL);
    cr_assert(nt_feed_is(c, &stranger, NULL, 0, 0), "a stranger's feed is not empty");
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(notifications, feed_pages_newest_first_without_repeats)
{
    /* Goal: a feed of many entries from several followed creators pages newest first with no
     * entry twice and none missing, for page sizes 1, 7, the default and LD_PAGE_DROPS_MAX;
     * `first` above LD_PAGE_DROPS_MAX is refused. Method: the user follows 3 creators, which
     * make 45 live drops in turn; the expected feed is their DROP_LIVE events in reverse order
     * of creation (each create is acknowledged before the next). */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *c = ldh_client(&node, 10000);
    ld_id user = ldh_user_create(c, "avid", NULL);
    ld_id creators[3];
    for (int i = 0; i < 3; i++) {
        creators[i] = ldh_creator_create(c, "prolific", NULL);
        ldh_follow(c, &user, &creators[i], NULL);
    }
    for (int i = 0; i < 3; i++)
        ldh_wait_following(c, &user, &creators[i], true, NT_DERIVED_MS);
    enum { N = 45 };
    static nt_want want[N];
    int64_t now = ldh_now_ms();
    ld_id zero;
    memset(&zero, 0, sizeof zero);
    for (int i = 0; i < N; i++) {
        ld_drop_spec spec;
        ldh_drop_spec_at(&spec, &creators[i % 3], now - 1000, now + 3600000, 5);
        ldh_drop_create(c, &spec, NULL);
        want[N - 1 - i] = (nt_want){LD_NOTIFY_DROP_LIVE, spec.id, zero};
    }
    static const uint32_t firsts[] = {1, 7, 0, LD_PAGE_DROPS_MAX};
    for (size_t k = 0; k < sizeof firsts / sizeof firsts[0]; k++)
        cr_assert(nt_feed_is(c, &user, want, N, firsts[k]), "feed read with first %u", firsts[k]);

    ld_notification_page *page = calloc(1, sizeof *page);
    cr_assert(page);
    ld_errmsg msg = {{0}};
    cr_assert_eq(ld_notifications_list(c, &user, 0, NULL, page, &msg), LD_OK);
    cr_assert_eq(page->count, LD_PAGE_DEFAULT);
    cr_assert(page->page_info.has_next_page);
    ld_err err = ld_notifications_list(c, &user, LD_PAGE_DROPS_MAX + 1, NULL, page, &msg);
    cr_assert_eq(err, LD_ERR_VALUE_OUT_OF_RANGE, "first over max: %s", ld_err_name(err));
    err = ld_notifications_list(c, &user, 10, "garbage!", page, &msg);
    cr_assert_eq(err, LD_ERR_INVALID_CURSOR, "bad cursor: %s", ld_err_name(err));
    free(page);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
