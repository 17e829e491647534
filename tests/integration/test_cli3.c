/*
 * test_cli3.c -- the creators, follows and browse walkthrough with the real `livedrop` CLI against
 * a real node: creator -> product -> drop from the product -> follow -> browse -> the drop goes
 * live -> the follower's notification -> an order -> the order in the feed, plus the event pull.
 *
 * JSON is read leniently, as in test_cli.c: a key is "key" followed by optional
 * whitespace and a colon. What the CLI printed is cross-checked against the
 * node through the library.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness3.h"

TestSuite(cli3, .fini = ldh_suite_fini, .timeout = 120);

#define CLI3_TIMEOUT_MS 20000

static const char *cli3_url; /* the node under test */

#define CLI3(res, ...)                                                                             \
    do {                                                                                           \
        const char *const argv_[] = {"--addr", cli3_url, "--json", __VA_ARGS__, NULL};             \
        ldh_cli_run((res), CLI3_TIMEOUT_MS, argv_);                                                \
    } while (0)

#define CLI3_OK(res, what)                                                                         \
    cr_assert_eq((res)->status, 0, "%s: exit %d\nstdout: %s\nstderr: %s", (what), (res)->status,   \
                 (res)->out, (res)->err)

/* The value after the first "key": at or after `from`; NULL if absent. */
static const char *
json_value(const char *from, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    for (const char *p = strstr(from, pat); p; p = strstr(p + 1, pat)) {
        const char *q = p + strlen(pat);
        while (isspace((unsigned char)*q))
            q++;
        if (*q != ':')
            continue;
        q++;
        while (isspace((unsigned char)*q))
            q++;
        return q;
    }
    return NULL;
}

/* Asserts "key": <value...> starts with `want` somewhere at or after `from`. */
static void
json_expect(const ldh_cli *res, const char *from, const char *key, const char *want)
{
    const char *v = json_value(from, key);
    cr_assert(v, "no \"%s\" in: %s", key, res->out);
    cr_assert(strncmp(v, want, strlen(want)) == 0, "\"%s\" is not %s in: %s", key, want, res->out);
}

/* The 32-hex "id" of the object under `object`, into out (and *id_out when not
 * NULL). */
static void
json_id(const ldh_cli *res, const char *object, char out[33], ld_id *id_out)
{
    const char *obj = json_value(res->out, object);
    cr_assert(obj && *obj == '{', "no \"%s\" object in: %s", object, res->out);
    const char *v = json_value(obj, "id");
    cr_assert(v && *v == '"', "no \"%s\".\"id\" in: %s", object, res->out);
    memcpy(out, v + 1, 32);
    out[32] = '\0';
    ld_id id;
    cr_assert_eq(ld_id_parse(out, &id), LD_OK, "\"%s\".\"id\" is not an id in: %s", object,
                 res->out);
    if (id_out)
        *id_out = id;
}

/* True if `text` mentions the id (as printed: 32 lower-case hex digits). */
static bool
mentions(const char *text, const char *hex)
{
    return strstr(text, hex) != NULL;
}

/* The ids of the walkthrough, as the CLI printed them. */
typedef struct walk {
    char handle[LD_HANDLE_BYTES_MAX + 1];
    char creator[33], user[33], product[33], drop[33], order[33];
    ld_id creator_id, drop_id;
} walk;

/* creator create, user create, product create, follow. */
static void
walk_accounts(walk *w)
{
    ldh_cli r;
    ld_id rnd = ldh_id();
    snprintf(w->handle, sizeof w->handle, "SneakerLab_%.8s", ldh_hex(&rnd));
    CLI3(&r, "creator", "create", "--handle", w->handle, "--name", "Sneaker Lab", "--profile",
         "city=Berlin");
    CLI3_OK(&r, "creator create");
    json_expect(&r, r.out, "code", "\"OK\"");
    json_id(&r, "creator", w->creator, &w->creator_id);
    json_expect(&r, r.out, "handle", "\"SneakerLab_");
    ldh_cli_free(&r);

    CLI3(&r, "user", "create", "--name", "Ada L.", "--email", "ada@example.com");
    CLI3_OK(&r, "user create");
    json_id(&r, "user", w->user, NULL);
    ldh_cli_free(&r);

    CLI3(&r, "product", "create", "--creator", w->creator, "--title", "Sneaker X", "--price",
         "12000", "--currency", "EUR", "--tag", "shoes", "--attr", "size=42");
    CLI3_OK(&r, "product create");
    json_id(&r, "product", w->product, NULL);
    json_expect(&r, r.out, "price_minor", "12000");
    ldh_cli_free(&r);

    CLI3(&r, "follow", "--user", w->user, "--creator", w->creator);
    CLI3_OK(&r, "follow");
    json_expect(&r, r.out, "following", "true");
    json_expect(&r, r.out, "follower_count", "1");
    ldh_cli_free(&r);
}

/* Runs `args` (a drops or notifications command) every 50 ms until its output
 * names `hex` (and contains `also` when not NULL); fails after 10 s. */
static void
walk_poll(const char *const *args, const char *hex, const char *also, const char *what)
{
    int64_t deadline = ldh_mono_ms() + 10000;
    for (;;) {
        cr_assert_lt(ldh_mono_ms(), deadline, "%s: not after 10 s", what);
        const char *argv[16] = {"--addr", cli3_url, "--json"};
        int n = 3;
        for (int i = 0; args[i] && n < 15; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        ldh_cli r;
        ldh_cli_run(&r, CLI3_TIMEOUT_MS, argv);
        CLI3_OK(&r, what);
        bool found = mentions(r.out, hex) && (!also || strstr(r.out, also));
        ldh_cli_free(&r);
        if (found)
            return;
        ldh_sleep_ms(50);
    }
}

/* drop create --product, then browse: upcoming, and live once it started. */
static void
walk_drop(walk *w, ld_client *c)
{
    ldh_cli r;
    CLI3(&r, "drop", "create", "--product", w->product, "--creator", w->creator, "--stock", "5",
         "--starts-in-s", "2", "--duration-s", "600");
    CLI3_OK(&r, "drop create --product");
    json_id(&r, "drop", w->drop, &w->drop_id);
    json_expect(&r, r.out, "title", "\"Sneaker X\"");
    json_expect(&r, r.out, "status", "\"DROP_STATUS_UPCOMING\"");
    ldh_cli_free(&r);
    ld_drop d;
    ldh_drop_get(c, &w->drop_id, &d);
    cr_assert_eq(d.spec.product.price_minor, 12000, "the drop did not snapshot the price");

    CLI3(&r, "drops", "--status", "upcoming", "--creator", w->creator);
    CLI3_OK(&r, "drops --status upcoming");
    cr_assert(mentions(r.out, w->drop), "the upcoming list lacks the drop: %s", r.out);
    ldh_cli_free(&r);
    const char *live[] = {"drops", "--status", "live", "--creator", w->creator, NULL};
    walk_poll(live, w->drop, NULL, "the drop listed live");
}

/* The follower's feed, the order, the feed again. */
static void
walk_notify_and_order(walk *w)
{
    const char *feed[] = {"notifications", w->user, NULL};
    walk_poll(feed, w->drop, "NOTIFICATION_DROP_LIVE", "the DROP_LIVE notification");
    ldh_cli r;
    CLI3(&r, "order", "place", "--drop", w->drop, "--user", w->user, "--qty", "1", "--key",
         "walk-1", "--pm", "pm_card_ok");
    CLI3_OK(&r, "order place");
    json_id(&r, "order", w->order, NULL);
    json_expect(&r, r.out, "status", "\"ORDER_STATUS_PAID\"");
    json_expect(&r, r.out, "total_minor", "12000");
    ldh_cli_free(&r);

    CLI3(&r, "notifications", w->user);
    CLI3_OK(&r, "notifications after the order");
    const char *paid = strstr(r.out, "NOTIFICATION_ORDER_PAID");
    const char *dl = strstr(r.out, "NOTIFICATION_DROP_LIVE");
    cr_assert(paid && dl && paid < dl, "the feed is not ORDER_PAID then DROP_LIVE: %s", r.out);
    cr_assert(mentions(r.out, w->order), "the feed does not name the order: %s", r.out);
    ldh_cli_free(&r);
}

/* The creator's topic, followers, the creator by handle in another case. */
static void
walk_reads(walk *w)
{
    ldh_cli r;
    char topic[LD_TOPIC_BYTES_MAX + 1];
    CLI3(&r, "events", "--topic", ldh_topic(topic, "creator", &w->creator_id), "--after", "0");
    CLI3_OK(&r, "events --topic");
    const char *fol = strstr(r.out, "EVENT_FOLLOWED");
    const char *sch = strstr(r.out, "EVENT_DROP_SCHEDULED");
    const char *liv = strstr(r.out, "EVENT_DROP_LIVE");
    cr_assert(fol && sch && liv && fol < sch && sch < liv,
              "the creator's topic is not FOLLOWED, DROP_SCHEDULED, DROP_LIVE: %s", r.out);
    ldh_cli_free(&r);

    CLI3(&r, "followers", w->creator);
    CLI3_OK(&r, "followers");
    cr_assert(mentions(r.out, w->user), "the followers list lacks the user: %s", r.out);
    json_expect(&r, r.out, "user_name", "\"Ada L.\"");
    ldh_cli_free(&r);

    for (char *p = w->handle; *p; p++) /* found case-insensitively */
        *p = (char)tolower((unsigned char)*p);
    CLI3(&r, "creator", "get", "--handle", w->handle);
    CLI3_OK(&r, "creator get by handle");
    cr_assert(mentions(r.out, w->creator));
    json_expect(&r, r.out, "follower_count", "1");
    ldh_cli_free(&r);
}

Test(cli3, walkthrough_creator_product_drop_follow_browse_live_notify_order)
{
    /* Goal: the README's walkthrough (e) works end to end with the CLI and
     * --json: each command exits 0 with the object it names, the drop scheduled
     * from the product snapshots it, browse lists it as upcoming then live, the
     * follower's feed shows DROP_LIVE and then the ORDER_PAID, and the creator's
     * topic pull shows the events. Method: one command at a time against a real
     * node; the moments that depend on time or on the derived following side are
     * polled with deadlines; ids are parsed from the JSON and checked with the
     * library. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    cli3_url = node.url;
    ld_client *c = ldh_client(&node, 10000);
    static walk w;
    memset(&w, 0, sizeof w);
    walk_accounts(&w);
    walk_drop(&w, c);
    walk_notify_and_order(&w);
    walk_reads(&w);
    ld_drop d;
    ldh_drop_get(c, &w.drop_id, &d);
    cr_assert_eq(d.stock.sold, 1);
    ld_client_close(c);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(cli3, refusals_exit_with_their_status)
{
    /* Goal: the social and catalog commands map refusals to exit statuses: a taken handle
     * and a forbidden cancel are business refusals (1), a bad handle and a bad
     * cursor are invalid requests (2). Method: run each with --json and check the
     * exit status and the printed code. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    cli3_url = node.url;
    ldh_cli r;
    char handle[LD_HANDLE_BYTES_MAX + 1];
    ld_id rnd = ldh_id();
    snprintf(handle, sizeof handle, "taken_%.8s", ldh_hex(&rnd));
    CLI3(&r, "creator", "create", "--handle", handle, "--name", "First");
    CLI3_OK(&r, "creator create");
    char creator[33];
    json_id(&r, "creator", creator, NULL);
    ldh_cli_free(&r);
    for (char *p = handle; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    CLI3(&r, "creator", "create", "--handle", handle, "--name", "Second");
    cr_assert_eq(r.status, 1, "a taken handle: exit %d\n%s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.out, "ERR_HANDLE_TAKEN"), "%s", r.out);
    ldh_cli_free(&r);

    CLI3(&r, "creator", "create", "--handle", "no-dashes", "--name", "Third");
    cr_assert_eq(r.status, 2, "a bad handle: exit %d\n%s%s", r.status, r.out, r.err);
    ldh_cli_free(&r);

    CLI3(&r, "followers", creator, "--after", "not*a*cursor");
    cr_assert_eq(r.status, 2, "a bad cursor: exit %d\n%s%s", r.status, r.out, r.err);
    ldh_cli_free(&r);

    CLI3(&r, "drop", "create", "--creator", creator, "--title", "Later", "--price", "100",
         "--stock", "3", "--starts-in-s", "3600");
    CLI3_OK(&r, "drop create");
    char drop[33];
    json_id(&r, "drop", drop, NULL);
    ldh_cli_free(&r);
    char other[33];
    ld_id o = ldh_id();
    ld_id_format(&o, other);
    CLI3(&r, "drop", "cancel", drop, "--creator", other);
    cr_assert_eq(r.status, 1, "a forbidden cancel: exit %d\n%s%s", r.status, r.out, r.err);
    cr_assert(strstr(r.out, "ERR_FORBIDDEN"), "%s", r.out);
    ldh_cli_free(&r);
    CLI3(&r, "drop", "cancel", drop, "--creator", creator);
    CLI3_OK(&r, "drop cancel");
    json_expect(&r, r.out, "status", "\"DROP_STATUS_CANCELLED\"");
    ldh_cli_free(&r);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
