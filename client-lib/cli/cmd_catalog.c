/*
 * cmd_catalog.c -- `livedrop` commands for a creator's catalog (products), cancelling a drop
 * and browsing drops.
 */
#include <string.h>

#include "cli.h"

static const cli_body product_body = {"product", cli_json_product, cli_human_product, NULL};

static void
json_drop_cb(FILE *f, const void *body)
{
    cli_json_drop(f, body);
}

static void
human_drop_cb(FILE *f, const void *body)
{
    cli_human_drop(f, body);
}

/* ---- products ------------------------------------------------------------------------------- */

/* The fields create and update share: --title, --price, --currency, --tag, --attr. */
static bool
product_fields(const cli *c, ld_catalog_product_spec *s)
{
    const char *title, *currency = cli_opt_get(c, "currency");
    if (!cli_opt_required(c, "title", &title))
        return false;
    if (strlen(title) >= sizeof s->title)
        return cli_usage_error(c, "--title: longer than %u bytes", LD_TITLE_BYTES_MAX), false;
    strcpy(s->title, title);
    if (currency == NULL)
        currency = "USD";
    if (strlen(currency) != LD_CURRENCY_BYTES)
        return cli_usage_error(c, "--currency: '%s' is not a 3-letter code", currency), false;
    strcpy(s->currency, currency);
    if (cli_opt_get(c, "price") == NULL)
        return cli_usage_error(c, "--price is required (minor units, e.g. 1999)"), false;
    return cli_opt_i64(c, "price", 0, &s->price_minor) &&
           cli_opt_list(c, "tag", LD_TAGS_MAX, sizeof s->tags[0], &s->tags[0][0], &s->tags_count) &&
           cli_opt_attrs(c, "attr", s->attrs, &s->attrs_count);
}

static int
report_product(const cli *c, ld_err err, const ld_errmsg *msg, const ld_catalog_product *p)
{
    cli_body b = product_body;
    b.body = cli_id_is_zero(&p->spec.id) ? NULL : p;
    return cli_report(c, err, msg, &b);
}

static int
cmd_product_create(cli *c)
{
    ld_catalog_product_spec spec;
    memset(&spec, 0, sizeof spec);
    if (!cli_id_opt_or_random(c, "id", &spec.id) || !cli_id_opt(c, "creator", &spec.creator_id) ||
        !product_fields(c, &spec))
        return EXIT_USAGE;
    ld_catalog_product product;
    ld_errmsg msg;
    ld_err err = ld_product_create(c->client, &spec, &product, &msg);
    return report_product(c, err, &msg, &product);
}

static int
cmd_product_update(cli *c)
{
    ld_catalog_product_spec spec;
    memset(&spec, 0, sizeof spec);
    if (!cli_id_arg(c, c->pos[0], "PRODUCT_ID", &spec.id) ||
        !cli_id_opt(c, "creator", &spec.creator_id) || !product_fields(c, &spec))
        return EXIT_USAGE;
    ld_catalog_product product;
    ld_errmsg msg;
    ld_err err = ld_product_update(c->client, &spec, &product, &msg);
    return report_product(c, err, &msg, &product);
}

static int
cmd_product_get(cli *c)
{
    ld_id id;
    if (!cli_id_arg(c, c->pos[0], "PRODUCT_ID", &id))
        return EXIT_USAGE;
    ld_catalog_product product;
    ld_errmsg msg;
    ld_err err = ld_product_get(c->client, &id, &product, &msg);
    return report_product(c, err, &msg, &product);
}

/* The parsed arguments of the running page command. */
static struct {
    ld_id creator;
    uint32_t first;
    ld_drop_filter filter;
} g_args;

static ld_err
fetch_products(cli *c, const char *after, void *page, ld_errmsg *msg)
{
    return ld_products_list(c->client, &g_args.creator, g_args.first, after, page, msg);
}

static const ld_page_info *
product_page_info(const void *page)
{
    return &((const ld_product_page *)page)->page_info;
}

static int
cmd_products(cli *c)
{
    static const cli_body body = {"product_page", cli_json_product_page, cli_human_product_page,
                                  NULL};
    if (!cli_id_arg(c, c->pos[0], "CREATOR_ID", &g_args.creator) ||
        !cli_opt_first(c, &g_args.first))
        return EXIT_USAGE;
    return cli_pages_alloc(c, fetch_products, sizeof(ld_product_page), product_page_info, &body);
}

/* ---- drops ---------------------------------------------------------------------------------- */

static int
cmd_drop_cancel(cli *c)
{
    ld_id drop, creator;
    if (!cli_id_arg(c, c->pos[0], "DROP_ID", &drop) || !cli_id_opt(c, "creator", &creator))
        return EXIT_USAGE;
    ld_drop d;
    ld_errmsg msg;
    ld_err err = ld_drop_cancel(c->client, &creator, &drop, &d, &msg);
    cli_body b = {"drop", json_drop_cb, human_drop_cb, cli_id_is_zero(&d.spec.id) ? NULL : &d};
    return cli_report(c, err, &msg, &b);
}

static bool
status_opt(const cli *c, ld_drop_status *out)
{
    static const struct {
        const char *name;
        ld_drop_status status;
    } names[] = {{"upcoming", LD_DROP_UPCOMING},
                 {"live", LD_DROP_LIVE},
                 {"ended", LD_DROP_ENDED},
                 {"cancelled", LD_DROP_CANCELLED}};
    const char *v;
    if (!cli_opt_required(c, "status", &v))
        return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(v, names[i].name) == 0) {
            *out = names[i].status;
            return true;
        }
    }
    return cli_usage_error(c, "--status: upcoming, live, ended or cancelled, not '%s'", v), false;
}

static bool
filter_opts(const cli *c, ld_drop_filter *f)
{
    memset(f, 0, sizeof *f);
    if (!status_opt(c, &f->status))
        return false;
    if (cli_opt_get(c, "creator") != NULL && !cli_id_opt(c, "creator", &f->creator_id))
        return false;
    return cli_opt_range(c, "price-min", 0, LD_PRICE_MINOR_MAX, 0, &f->price_min_minor) &&
           cli_opt_range(c, "price-max", 0, LD_PRICE_MINOR_MAX, -1, &f->price_max_minor) &&
           cli_opt_list(c, "tag", LD_TAGS_MAX, sizeof f->tags[0], &f->tags[0][0], &f->tags_count);
}

static ld_err
fetch_drops(cli *c, const char *after, void *page, ld_errmsg *msg)
{
    return ld_drops_list(c->client, &g_args.filter, g_args.first, after, page, msg);
}

static const ld_page_info *
drop_page_info(const void *page)
{
    return &((const ld_drop_page *)page)->page_info;
}

static int
cmd_drops(cli *c)
{
    static const cli_body body = {"drop_page", cli_json_drop_page, cli_human_drop_page, NULL};
    if (!filter_opts(c, &g_args.filter) || !cli_opt_first(c, &g_args.first))
        return EXIT_USAGE;
    return cli_pages_alloc(c, fetch_drops, sizeof(ld_drop_page), drop_page_info, &body);
}

/* ---- command table -------------------------------------------------------------------------- */

static const char *const product_create_opts[] = {"id",       "creator", "title", "price",
                                                  "currency", "tag",     "attr",  NULL};
static const char *const product_update_opts[] = {"creator", "title", "price", "currency",
                                                  "tag",     "attr",  NULL};
static const char *const page_opts[] = {"first", "after", "all", NULL};
static const char *const cancel_opts[] = {"creator", NULL};
static const char *const drops_opts[] = {"status", "creator", "price-min", "price-max", "tag",
                                         "first",  "after",   "all",       NULL};
static const char *const no_opts[] = {NULL};

#define PRODUCT_FIELDS_HELP                                                                        \
    "  --title T        1..200 bytes (required)\n"                                                 \
    "  --price MINOR    price in minor units, e.g. 1999 for 19.99 (required)\n"                    \
    "  --currency C     ISO 4217 code (default USD)\n"                                             \
    "  --tag T          a tag, repeatable (at most 8)\n"                                           \
    "  --attr K=V       an attribute, repeatable (at most 8; keys unique)\n\n"

const cli_cmd cli_catalog_cmds[] = {
    {"product create", "--creator ID --title T --price MINOR [options]",
     "add a product to a creator's catalog",
     "Creates a catalog product of a creator (acting as the creator). The id is random unless\n"
     "given; a retry with the same --id and identical fields answers EXISTS. Schedule drops\n"
     "from it with `drop create --product ID --creator ID`.\n\n"
     "Options:\n"
     "  --id HEX         product id (random if omitted)\n"
     "  --creator HEX    the creator (required)\n" PRODUCT_FIELDS_HELP "Example:\n"
     "  livedrop product create --creator 2b7e151628aed2a6abf7158809cf4f3c \\\n"
     "      --title 'Sneaker X' --price 12000 --currency EUR --tag shoes --attr size=42\n",
     product_create_opts, 0, cmd_product_create, 0},
    {"product update", "PRODUCT_ID --creator ID --title T --price MINOR [options]",
     "replace a product's fields",
     "Replaces a product's title, price, currency, tags and attributes (acting as its\n"
     "creator, --creator). Drops already scheduled from it keep their snapshot.\n\n"
     "Options:\n"
     "  --creator HEX    the product's creator (required)\n" PRODUCT_FIELDS_HELP "Example:\n"
     "  livedrop product update 7d1c0a4e5b6f47a8b9c0d1e2f3a4b5c6 \\\n"
     "      --creator 2b7e151628aed2a6abf7158809cf4f3c --title 'Sneaker X2' --price 13000\n",
     product_update_opts, 1, cmd_product_update, 0},
    {"product get", "PRODUCT_ID", "show a catalog product",
     "Shows a catalog product.\n\nExample:\n  livedrop product get "
     "7d1c0a4e5b6f47a8b9c0d1e2f3a4b5c6\n",
     no_opts, 1, cmd_product_get, 0},
    {"products", "CREATOR_ID [--first N] [--after C] [--all]", "a creator's catalog",
     "Lists a creator's catalog products, newest first.\n\n" CLI_PAGE_HELP(
         "100") "Example:\n  livedrop products 2b7e151628aed2a6abf7158809cf4f3c --all\n",
     page_opts, 1, cmd_products, 0},
    {"drop cancel", "DROP_ID --creator ID", "cancel a drop that has not started",
     "Cancels a drop before it starts (acting as its creator). Cancelling again is OK; once\n"
     "the drop has started: ERR_NOT_CANCELLABLE (exit status 1).\n\n"
     "Example:\n"
     "  livedrop drop cancel 5f0c6a3e9b1d4e2f8a7b6c5d4e3f2a1b \\\n"
     "      --creator 2b7e151628aed2a6abf7158809cf4f3c\n",
     cancel_opts, 1, cmd_drop_cancel, 0},
    {"drops", "--status upcoming|live|ended|cancelled [filters] [--first N] [--after C] [--all]",
     "browse drops",
     "Lists drops of one status: upcoming (soonest start first), live (soonest end first),\n"
     "ended (latest end first) or cancelled (latest cancelled first). Filters combine; a page\n"
     "examines at most 10000 drops, so a narrow filter may print a short page that still has\n"
     "more: use --all.\n\n"
     "Filters:\n"
     "  --status S         upcoming | live | ended | cancelled (required)\n"
     "  --creator HEX      one creator's drops\n"
     "  --price-min MINOR  lowest price (inclusive)\n"
     "  --price-max MINOR  highest price (inclusive)\n"
     "  --tag T            drops with this tag, repeatable (all must match)\n\n" CLI_PAGE_HELP(
         "100") "Examples:\n"
                "  livedrop drops --status live --tag shoes --price-max 15000\n"
                "  livedrop --json drops --status upcoming --creator "
                "2b7e151628aed2a6abf7158809cf4f3c --all\n",
     drops_opts, 0, cmd_drops, 0},
};
const size_t cli_catalog_cmds_count = sizeof cli_catalog_cmds / sizeof cli_catalog_cmds[0];
