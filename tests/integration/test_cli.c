/*
 * test_cli.c -- the `livedrop` CLI against a real node: the README walkthrough, exit statuses
 * (0 success, 1 refused, 2 usage / invalid, 3 unreachable) and --json output.
 *
 * JSON is checked leniently (any spacing): a key is found as "key" followed by optional
 * whitespace and a colon; values are compared by prefix. The library reads the node as well, so
 * what the CLI printed is cross-checked against the node's state.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "harness3.h"

TestSuite(cli, .fini = ldh_suite_fini, .timeout = 180);

#define CLI_TIMEOUT_MS 20000

#define CLI(res, ...)                                                                              \
    do {                                                                                           \
        const char *const argv_[] = {__VA_ARGS__, NULL};                                           \
        ldh_cli_run((res), CLI_TIMEOUT_MS, argv_);                                                 \
    } while (0)

/* Asserts the exit status, showing what the CLI printed otherwise. */
#define CLI_STATUS(res, want, what)                                                                \
    cr_assert_eq((res)->status, (want), "%s: exit %d, expected %d\nstdout: %s\nstderr: %s",        \
                 (what), (res)->status, (want), (res)->out, (res)->err)

/* Returns a pointer to the value of the first "key" (at or after `from`), whitespace skipped;
 * NULL if absent. */
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

/* Asserts "key": <value...> where the printed value starts with `want` (e.g. "\"OK\"", "5"). */
static void
json_expect(const ldh_cli *res, const char *from, const char *key, const char *want)
{
    const char *v = json_value(from, key);
    cr_assert(v, "no \"%s\" in: %s", key, res->out);
    cr_assert(strncmp(v, want, strlen(want)) == 0, "\"%s\" is not %s in: %s", key, want, res->out);
    if (isdigit((unsigned char)want[strlen(want) - 1]))
        cr_assert(!isdigit((unsigned char)v[strlen(want)]), "\"%s\" is not %s in: %s", key, want,
                  res->out);
}

/* Reads the 32-hex "id" of the object under `object` ("drop", "reservation", "order"). */
static void
json_id(const ldh_cli *res, const char *object, const char *key, char out[33])
{
    const char *obj = json_value(res->out, object);
    cr_assert(obj && *obj == '{', "no \"%s\" object in: %s", object, res->out);
    const char *v = json_value(obj, key);
    cr_assert(v && *v == '"', "no \"%s\".\"%s\" in: %s", object, key, res->out);
    memcpy(out, v + 1, 32);
    out[32] = '\0';
    ld_id id;
    cr_assert_eq(ld_id_parse(out, &id), LD_OK, "\"%s\" is not an id in: %s", key, res->out);
}

/* --json prints exactly one JSON object (one line) per result. */
static void
json_one_object(const ldh_cli *res)
{
    cr_assert_gt(res->out_len, 2, "no output; stderr: %s", res->err);
    cr_assert_eq(res->out[0], '{', "not a JSON object: %s", res->out);
    const char *nl = strchr(res->out, '\n');
    cr_assert(nl && nl[1] == '\0', "not exactly one line: %s", res->out);
    cr_assert_eq(nl[-1], '}', "not a JSON object: %s", res->out);
    int depth = 0;
    bool in_str = false;
    for (const char *p = res->out; p < nl; p++) {
        if (in_str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                in_str = false;
        } else if (*p == '"') {
            in_str = true;
        } else if (*p == '{') {
            depth++;
        } else if (*p == '}') {
            depth--;
            cr_assert(depth > 0 || p == nl - 1, "more than one object: %s", res->out);
        }
    }
    cr_assert_eq(depth, 0, "unbalanced braces: %s", res->out);
}

Test(cli, walkthrough_create_reserve_commit_release_order)
{
    /* Goal: the README walkthrough works end to end with the CLI: create (and its identical
     * retry), get, reserve, commit, release, order place, order get, with --json printing one
     * object per result with proto field names, and the node agreeing. Method: run each command
     * against a real node, parse ids out of the JSON, cross-check with the library. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    char starts[32], ends[32];
    int64_t now = ldh_now_ms();
    snprintf(starts, sizeof starts, "%lld", (long long)(now - 1000));
    snprintf(ends, sizeof ends, "%lld", (long long)(now + 3600000));
    ld_id drop_id = ldh_id(), creator = ldh_id(), user = ldh_id(), user2 = ldh_id();
    char drop_hex[33], creator_hex[33], user_hex[33], user2_hex[33];
    ld_id_format(&drop_id, drop_hex);
    ld_id_format(&creator, creator_hex);
    ld_id_format(&user, user_hex);
    ld_id_format(&user2, user2_hex);

    ldh_cli r;
    CLI(&r, "--addr", node.url, "--json", "drop", "create", "--id", drop_hex, "--creator",
        creator_hex, "--title", "Sneaker X", "--price", "12000", "--currency", "EUR", "--stock",
        "6", "--max-per-user", "3", "--starts-at-ms", starts, "--ends-at-ms", ends, "--tag",
        "shoes");
    CLI_STATUS(&r, 0, "drop create");
    json_one_object(&r);
    json_expect(&r, r.out, "code", "\"OK\"");
    json_expect(&r, r.out, "status", "\"DROP_STATUS_LIVE\"");
    json_expect(&r, r.out, "available", "6");
    json_expect(&r, r.out, "initial_stock", "6");
    json_expect(&r, r.out, "title", "\"Sneaker X\"");
    json_expect(&r, r.out, "currency", "\"EUR\"");
    char got[33];
    json_id(&r, "drop", "id", got);
    cr_assert_str_eq(got, drop_hex);
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "drop", "create", "--id", drop_hex, "--creator",
        creator_hex, "--title", "Sneaker X", "--price", "12000", "--currency", "EUR", "--stock",
        "6", "--max-per-user", "3", "--starts-at-ms", starts, "--ends-at-ms", ends, "--tag",
        "shoes");
    CLI_STATUS(&r, 0, "identical drop create");
    json_expect(&r, r.out, "code", "\"EXISTS\"");
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "drop", "get", drop_hex);
    CLI_STATUS(&r, 0, "drop get");
    json_one_object(&r);
    json_expect(&r, r.out, "code", "\"OK\"");
    const char *stock = json_value(r.out, "stock");
    cr_assert(stock && *stock == '{', "no \"stock\" object: %s", r.out);
    json_expect(&r, stock, "available", "6");
    json_expect(&r, stock, "reserved", "0");
    json_expect(&r, stock, "sold", "0");
    json_expect(&r, r.out, "max_per_user", "3");
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "reserve", "--drop", drop_hex, "--user", user_hex,
        "--qty", "2", "--key", "cart-1");
    CLI_STATUS(&r, 0, "reserve");
    json_one_object(&r);
    json_expect(&r, r.out, "state", "\"RESERVATION_STATE_ACTIVE\"");
    json_expect(&r, r.out, "qty", "2");
    char res_hex[33];
    json_id(&r, "reservation", "id", res_hex);
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "commit", res_hex, "--user", user_hex, "--payment-ref",
        "ch_walk");
    CLI_STATUS(&r, 0, "commit");
    json_one_object(&r);
    json_expect(&r, r.out, "code", "\"OK\"");
    json_expect(&r, r.out, "status", "\"ORDER_STATUS_PAID\"");
    json_expect(&r, r.out, "payment_ref", "\"ch_walk\"");
    json_expect(&r, r.out, "total_minor", "24000");
    char order1_hex[33];
    json_id(&r, "order", "id", order1_hex);
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "reserve", "--drop", drop_hex, "--user", user_hex,
        "--qty", "1", "--key", "cart-2");
    CLI_STATUS(&r, 0, "second reserve");
    char res2_hex[33];
    json_id(&r, "reservation", "id", res2_hex);
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "release", res2_hex, "--user", user_hex);
    CLI_STATUS(&r, 0, "release");
    json_one_object(&r);
    json_expect(&r, r.out, "state", "\"RESERVATION_STATE_RELEASED\"");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "release", res2_hex, "--user", user_hex);
    CLI_STATUS(&r, 0, "release again");
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "order", "place", "--drop", drop_hex, "--user", user2_hex,
        "--qty", "3", "--key", "order-1", "--pm", "pm_card_ok");
    CLI_STATUS(&r, 0, "order place");
    json_one_object(&r);
    json_expect(&r, r.out, "status", "\"ORDER_STATUS_PAID\"");
    char order2_hex[33];
    json_id(&r, "order", "id", order2_hex);
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "order", "get", order2_hex);
    CLI_STATUS(&r, 0, "order get");
    json_one_object(&r);
    json_expect(&r, r.out, "qty", "3");
    json_expect(&r, r.out, "status", "\"ORDER_STATUS_PAID\"");
    json_id(&r, "order", "user_id", got);
    cr_assert_str_eq(got, user2_hex);
    ldh_cli_free(&r);

    CLI(&r, "--addr", node.url, "--json", "reservation", "get", res_hex);
    CLI_STATUS(&r, 0, "reservation get");
    json_expect(&r, r.out, "state", "\"RESERVATION_STATE_COMMITTED\"");
    json_id(&r, "reservation", "order_id", got);
    cr_assert_str_eq(got, order1_hex);
    ldh_cli_free(&r);

    /* Human output (no --json) of the same drop mentions the stock. */
    CLI(&r, "--addr", node.url, "drop", "get", drop_hex);
    CLI_STATUS(&r, 0, "drop get (human)");
    cr_assert(strstr(r.out, drop_hex) && strstr(r.out, "available"), "human output: %s", r.out);
    ldh_cli_free(&r);

    /* The node agrees with what the CLI printed: 2 + 3 sold, 1 released. */
    ld_client *client = ldh_client(&node, 10000);
    ld_drop d;
    ldh_drop_get(client, &drop_id, &d);
    ldh_assert_stock(&d);
    cr_assert_eq(d.stock.sold, 5);
    cr_assert_eq(d.stock.available, 1);
    cr_assert_eq(d.stock.reserved, 0);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

Test(cli, exit_statuses)
{
    /* Goal: exit 1 for business refusals (sold out, key reused, not live), 2 for usage errors
     * and invalid requests (unknown flag, missing argument, qty 0, bad id, bad currency), 3
     * when no node listens; 0 for --help; errors say why on stderr or in the JSON. Method: run
     * each case against a real node (or a closed port), check status and output. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec live, upcoming;
    ldh_drop_create_live(client, &live, 2, 0, 0);
    ldh_drop_spec_live(&upcoming, 5, 0, 0);
    upcoming.starts_at_ms = ldh_now_ms() + 3600000;
    upcoming.ends_at_ms = upcoming.starts_at_ms + 3600000;
    ldh_drop_create(client, &upcoming, NULL);
    char live_hex[33], up_hex[33], user_hex[33];
    ld_id_format(&live.id, live_hex);
    ld_id_format(&upcoming.id, up_hex);
    ld_id user = ldh_id();
    ld_id_format(&user, user_hex);
    ldh_cli r;

    CLI(&r, "--help");
    CLI_STATUS(&r, 0, "--help");
    cr_assert(strstr(r.out, "drop create"), "--help lists no commands: %s", r.out);
    ldh_cli_free(&r);

    /* 1: refused. */
    CLI(&r, "--addr", node.url, "--json", "order", "place", "--drop", live_hex, "--user", user_hex,
        "--qty", "2", "--key", "k1", "--pm", "pm_card_ok");
    CLI_STATUS(&r, 0, "buy the whole stock");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "order", "place", "--drop", live_hex, "--user", user_hex,
        "--qty", "1", "--key", "k2", "--pm", "pm_card_ok");
    CLI_STATUS(&r, 1, "sold out");
    json_one_object(&r);
    json_expect(&r, r.out, "code", "\"ERR_SOLD_OUT\"");
    const char *m = json_value(r.out, "message");
    cr_assert(m && m[0] == '"' && m[1] != '"', "a refusal without a message: %s", r.out);
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "order", "place", "--drop", live_hex, "--user", user_hex,
        "--qty", "1", "--key", "k1", "--pm", "pm_card_ok");
    CLI_STATUS(&r, 1, "key reused with another qty");
    json_expect(&r, r.out, "code", "\"ERR_IDEMPOTENCY_KEY_REUSED\"");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "reserve", "--drop", up_hex, "--user", user_hex, "--qty",
        "1", "--key", "k3");
    CLI_STATUS(&r, 1, "drop not live yet");
    json_expect(&r, r.out, "code", "\"ERR_DROP_NOT_STARTED\"");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "order", "place", "--drop", live_hex, "--user", user_hex, "--qty",
        "1", "--key", "k4", "--pm", "pm_card_ok");
    CLI_STATUS(&r, 1, "sold out (human)");
    cr_assert(strstr(r.err, "ERR_SOLD_OUT"), "stderr does not say why: %s", r.err);
    ldh_cli_free(&r);

    /* 2: usage and invalid requests. */
    CLI(&r, "--addr", node.url, "drop", "get", live_hex, "--bogus", "1");
    CLI_STATUS(&r, 2, "unknown flag");
    cr_assert_str_not_empty(r.err, "a usage error says what is wrong");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "drop", "get");
    CLI_STATUS(&r, 2, "missing argument");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "frobnicate");
    CLI_STATUS(&r, 2, "unknown command");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "drop", "get", "not-an-id");
    CLI_STATUS(&r, 2, "malformed id");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "reserve", "--drop", live_hex, "--user", user_hex,
        "--qty", "0", "--key", "k5");
    CLI_STATUS(&r, 2, "qty 0");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "reserve", "--drop", live_hex, "--user", user_hex,
        "--qty", "1");
    CLI_STATUS(&r, 2, "missing --key");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "drop", "create", "--title", "t", "--price", "1",
        "--stock", "1", "--currency", "eur");
    CLI_STATUS(&r, 2, "lower-case currency");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "drop", "create", "--title", "t", "--price", "1",
        "--stock", "1", "--duration-s", "-5");
    CLI_STATUS(&r, 2, "ends before it starts");
    ldh_cli_free(&r);

    /* 3: nobody listening. */
    uint16_t dead_port;
    {
        ldh_node dead;
        ldh_node_init(&dead, 0);
        dead_port = dead.port;
        ldh_node_destroy(&dead);
    }
    char dead_url[64];
    snprintf(dead_url, sizeof dead_url, "tcp://127.0.0.1:%u", (unsigned)dead_port);
    int64_t t0 = ldh_mono_ms();
    CLI(&r, "--addr", dead_url, "--timeout-ms", "300", "drop", "get", live_hex);
    int64_t took = ldh_mono_ms() - t0;
    CLI_STATUS(&r, 3, "no node listening");
    cr_assert_lt(took, 10000, "--timeout-ms 300 took %lld ms", (long long)took);
    ldh_cli_free(&r);
    CLI(&r, "--addr", dead_url, "--timeout-ms", "300", "--json", "order", "place", "--drop",
        live_hex, "--user", user_hex, "--qty", "1", "--key", "k6", "--pm", "pm_card_ok");
    CLI_STATUS(&r, 3, "no node listening (order)");
    ldh_cli_free(&r);

    /* Nothing that was refused changed the node. */
    ld_drop d;
    ldh_drop_get(client, &live.id, &d);
    cr_assert_eq(d.stock.sold, 2);
    cr_assert_eq(d.stock.reserved, 0);
    ldh_drop_get(client, &upcoming.id, &d);
    cr_assert_eq(d.stock.available, 5);
    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}

/* Counts the occurrences of `needle` in `hay`. */
static int
count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(cli, what_a_new_user_tripped_over)
{
    /* Goal: the reproductions a new user ran from the README and --help behave as documented:
     * a commit with another payment reference is refused (exit 1, KEY_REUSED); releasing an
     * expired reservation is OK with its EXPIRED state; a never-created user cannot follow; an
     * unknown payment method is a bad request (exit 2) that creates nothing, and `order place
     * --help` lists the methods; every tool's --help names one default address; a dead address
     * fails fast (exit 3); `--json --all` prints one
     * document for the whole walk; `--follower-read --json` names the node in the JSON. Method:
     * the CLI against a real node, each step checked on its exit status and output, and the
     * node's stock read back through the library. Every step failed on the code before. */
    ldh_node node;
    ldh_node_spawn(&node, 0);
    ld_client *client = ldh_client(&node, 10000);
    ld_drop_spec spec;
    ldh_drop_create_live(client, &spec, 10, 0, LD_RESERVATION_TTL_MS_MIN);
    char drop_hex[33], user_hex[33], res_hex[33];
    ld_id_format(&spec.id, drop_hex);
    ld_id user = ldh_id();
    ld_id_format(&user, user_hex);
    ldh_cli r;

    /* Commit: the same reference is the same order, another one is refused. */
    CLI(&r, "--addr", node.url, "--json", "reserve", "--drop", drop_hex, "--user", user_hex,
        "--qty", "1", "--key", "nu-1");
    CLI_STATUS(&r, 0, "reserve");
    json_id(&r, "reservation", "id", res_hex);
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "commit", res_hex, "--user", user_hex, "--payment-ref",
        "ch_1");
    CLI_STATUS(&r, 0, "commit ch_1");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "commit", res_hex, "--user", user_hex, "--payment-ref",
        "ch_1");
    CLI_STATUS(&r, 0, "commit ch_1 again");
    json_expect(&r, r.out, "payment_ref", "\"ch_1\"");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "commit", res_hex, "--user", user_hex, "--payment-ref",
        "ch_2");
    CLI_STATUS(&r, 1, "commit with another reference");
    json_expect(&r, r.out, "code", "\"ERR_IDEMPOTENCY_KEY_REUSED\"");
    ldh_cli_free(&r);

    /* Release after expiry: OK, EXPIRED, twice. */
    CLI(&r, "--addr", node.url, "--json", "reserve", "--drop", drop_hex, "--user", user_hex,
        "--qty", "2", "--key", "nu-2");
    CLI_STATUS(&r, 0, "reserve to expire");
    json_id(&r, "reservation", "id", res_hex);
    const char *exp = json_value(r.out, "expires_at_ms");
    cr_assert(exp != NULL, "%s", r.out);
    int64_t expires_at = strtoll(exp, NULL, 10);
    ldh_cli_free(&r);
    while (ldh_now_ms() <= expires_at)
        ldh_sleep_ms(5);
    for (int i = 0; i < 2; i++) {
        CLI(&r, "--addr", node.url, "--json", "release", res_hex, "--user", user_hex);
        CLI_STATUS(&r, 0, "release of an expired reservation");
        json_expect(&r, r.out, "state", "\"RESERVATION_STATE_EXPIRED\"");
        ldh_cli_free(&r);
    }

    /* A follow by a user that was never created. */
    ld_id creator = ldh_id();
    char creator_hex[33];
    ld_id_format(&creator, creator_hex);
    CLI(&r, "--addr", node.url, "creator", "create", "--id", creator_hex, "--handle", "nu_maker",
        "--name", "Maker");
    CLI_STATUS(&r, 0, "creator create");
    ldh_cli_free(&r);
    CLI(&r, "--addr", node.url, "--json", "follow", "--user", user_hex, "--creator", creator_hex);
    CLI_STATUS(&r, 1, "follow by an uncreated user");
    json_expect(&r, r.out, "code", "\"ERR_USER_NOT_FOUND\"");
    ldh_cli_free(&r);

    /* An unknown payment method: exit 2, the methods named, nothing reserved. */
    CLI(&r, "--addr", node.url, "--json", "order", "place", "--drop", drop_hex, "--user", user_hex,
        "--qty", "1", "--key", "nu-3", "--pm", "pm_card_whatever");
    CLI_STATUS(&r, 2, "unknown payment method");
    json_expect(&r, r.out, "code", "\"ERR_INVALID_ARGUMENT\"");
    cr_assert(strstr(r.out, "pm_card_ok") != NULL, "the methods are not named: %s", r.out);
    ldh_cli_free(&r);
    ld_drop d;
    ldh_drop_get(client, &spec.id, &d);
    cr_assert(d.stock.sold == 1 && d.stock.reserved == 0 && d.stock.available == 9,
              "stock %lld/%lld/%lld", (long long)d.stock.available, (long long)d.stock.reserved,
              (long long)d.stock.sold);
    CLI(&r, "order", "place", "--help");
    CLI_STATUS(&r, 0, "order place --help");
    cr_assert(strstr(r.out, "pm_card_declined") && strstr(r.out, "pm_card_slow") &&
                  strstr(r.out, "new key"),
              "%s", r.out);
    ldh_cli_free(&r);

    /* One default address, the same in the CLI's, livedrop-bench's and livedrop-fanout's
     * --help (they live beside the CLI in the build). */
    const char *tools[] = {"livedrop-bench", "livedrop-fanout"};
    CLI(&r, "--help");
    cr_assert(strstr(r.out, LD_ADDR_DEFAULT) != NULL, "livedrop --help: %s", r.out);
    ldh_cli_free(&r);
    for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        char bin[600];
        const char *cli_bin = ldh_cli_bin(), *slash = strrchr(cli_bin, '/');
        snprintf(bin, sizeof bin, "%.*s%s", slash ? (int)(slash + 1 - cli_bin) : 0, cli_bin,
                 tools[i]);
        const char *help[] = {"--help", NULL};
        ldh_prog_run(&r, CLI_TIMEOUT_MS, bin, help);
        cr_assert(strstr(r.out, LD_ADDR_DEFAULT) != NULL || strstr(r.err, LD_ADDR_DEFAULT),
                  "%s --help (exit %d): %s%s", tools[i], r.status, r.out, r.err);
        ldh_cli_free(&r);
    }

    /* A dead address: exit 3 at once with the default 10 s timeout. */
    uint16_t dead_port = ldh_free_port();
    char dead_url[64];
    snprintf(dead_url, sizeof dead_url, "tcp://127.0.0.1:%u", (unsigned)dead_port);
    int64_t t0 = ldh_mono_ms();
    CLI(&r, "--addr", dead_url, "--json", "drop", "get", drop_hex);
    int64_t took = ldh_mono_ms() - t0;
    CLI_STATUS(&r, 3, "dead address");
    json_expect(&r, r.out, "code", "\"ERR_CONNECTION\"");
    cr_assert_lt(took, 2000, "a refused address took %lld ms", (long long)took);
    ldh_cli_free(&r);

    /* --json --all: one document, every follower, the page count and one code. */
    for (int i = 0; i < 5; i++) {
        ld_id u = ldh_id();
        cr_assert_eq(ldh_user_ensure(client, &u), LD_OK);
        ld_follow_state st;
        cr_assert_eq(ld_follow(client, &u, &creator, &st, NULL), LD_OK);
    }
    CLI(&r, "--addr", node.url, "--json", "followers", creator_hex, "--all", "--first", "2");
    CLI_STATUS(&r, 0, "followers --all");
    json_one_object(&r);
    json_expect(&r, r.out, "pages", "3");
    json_expect(&r, r.out, "code", "\"OK\"");
    json_expect(&r, r.out, "has_next_page", "false");
    cr_assert_eq(count_of(r.out, "\"user_id\""), 5, "%s", r.out);
    cr_assert_eq(count_of(r.out, "\"code\""), 1, "%s", r.out);
    ldh_cli_free(&r);

    /* --follower-read: the answering node is in the JSON. */
    CLI(&r, "--addr", node.url, "--json", "--follower-read", "drop", "get", drop_hex);
    CLI_STATUS(&r, 0, "follower read");
    json_one_object(&r);
    const char *by = json_value(r.out, "answered_by");
    cr_assert(by != NULL && *by == '{', "%s", r.out);
    json_expect(&r, by, "addr", "\"tcp://127.0.0.1:");
    json_expect(&r, by, "follower_read", "true");
    ldh_cli_free(&r);

    ld_client_close(client);
    ldh_node_stop(&node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&node);
}
