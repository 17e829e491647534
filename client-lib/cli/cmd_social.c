/*
 * cmd_social.c -- `livedrop` commands for users, creators, the follow graph and notifications.
 */
#include <string.h>

#include "cli.h"

/* ---- users and creators --------------------------------------------------------------------- */

static const cli_body user_body = {"user", cli_json_user, cli_human_user, NULL};
static const cli_body creator_body = {"creator", cli_json_creator, cli_human_creator, NULL};
static const cli_body follow_state_body = {"follow_state", cli_json_follow_state,
                                           cli_human_follow_state, NULL};

/* Copies a string option into a fixed field; false (after a usage message) if too long. */
static bool
str_opt(const cli *c, const char *name, bool required, char *out, size_t size)
{
    const char *v = cli_opt_get(c, name);
    if (v == NULL) {
        if (required)
            return cli_usage_error(c, "--%s is required", name), false;
        out[0] = '\0';
        return true;
    }
    if (strlen(v) >= size)
        return cli_usage_error(c, "--%s: longer than %zu bytes", name, size - 1), false;
    strcpy(out, v);
    return true;
}

static int
report_user(const cli *c, ld_err err, const ld_errmsg *msg, const ld_user *u)
{
    cli_body b = user_body;
    b.body = cli_id_is_zero(&u->spec.id) ? NULL : u;
    return cli_report(c, err, msg, &b);
}

static int
report_creator(const cli *c, ld_err err, const ld_errmsg *msg, const ld_creator *cr)
{
    cli_body b = creator_body;
    b.body = cli_id_is_zero(&cr->spec.id) ? NULL : cr;
    return cli_report(c, err, msg, &b);
}

static int
cmd_user_create(cli *c)
{
    ld_user_spec spec;
    memset(&spec, 0, sizeof spec);
    if (!cli_id_opt_or_random(c, "id", &spec.id) ||
        !str_opt(c, "name", true, spec.name, sizeof spec.name) ||
        !str_opt(c, "email", false, spec.email, sizeof spec.email))
        return EXIT_USAGE;
    ld_user user;
    ld_errmsg msg;
    ld_err err = ld_user_create(c->client, &spec, &user, &msg);
    return report_user(c, err, &msg, &user);
}

static int
cmd_user_get(cli *c)
{
    ld_id id;
    if (!cli_id_arg(c, c->pos[0], "USER_ID", &id))
        return EXIT_USAGE;
    ld_user user;
    ld_errmsg msg;
    ld_err err = ld_user_get(c->client, &id, &user, &msg);
    return report_user(c, err, &msg, &user);
}

static int
cmd_creator_create(cli *c)
{
    ld_creator_spec spec;
    memset(&spec, 0, sizeof spec);
    if (!cli_id_opt_or_random(c, "id", &spec.id) ||
        !str_opt(c, "handle", true, spec.handle, sizeof spec.handle) ||
        !str_opt(c, "name", true, spec.name, sizeof spec.name) ||
        !cli_opt_attrs(c, "profile", spec.profile, &spec.profile_count))
        return EXIT_USAGE;
    ld_creator creator;
    ld_errmsg msg;
    ld_err err = ld_creator_create(c->client, &spec, &creator, &msg);
    return report_creator(c, err, &msg, &creator);
}

static int
cmd_creator_get(cli *c)
{
    const char *handle = cli_opt_get(c, "handle");
    if ((c->npos == 1) == (handle != NULL))
        return cli_usage_error(c, "give a CREATOR_ID or --handle H (one of them)");
    ld_creator creator;
    ld_errmsg msg;
    ld_err err;
    if (handle != NULL) {
        err = ld_creator_get_by_handle(c->client, handle, &creator, &msg);
    } else {
        ld_id id;
        if (!cli_id_arg(c, c->pos[0], "CREATOR_ID", &id))
            return EXIT_USAGE;
        err = ld_creator_get(c->client, &id, &creator, &msg);
    }
    return report_creator(c, err, &msg, &creator);
}

/* ---- follows -------------------------------------------------------------------------------- */

typedef ld_err (*follow_fn)(ld_client *, const ld_id *, const ld_id *, ld_follow_state *,
                            ld_errmsg *);

static int
follow_cmd(cli *c, follow_fn fn)
{
    ld_id user, creator;
    if (!cli_id_opt(c, "user", &user) || !cli_id_opt(c, "creator", &creator))
        return EXIT_USAGE;
    ld_follow_state state;
    ld_errmsg msg;
    ld_err err = fn(c->client, &user, &creator, &state, &msg);
    cli_body b = follow_state_body;
    b.body = LD_ERR_IS_SUCCESS(err) ? &state : NULL;
    return cli_report(c, err, &msg, &b);
}

static int
cmd_follow(cli *c)
{
    return follow_cmd(c, ld_follow);
}

static int
cmd_unfollow(cli *c)
{
    return follow_cmd(c, ld_unfollow);
}

static int
cmd_is_following(cli *c)
{
    return follow_cmd(c, ld_is_following);
}

/* ---- pages ---------------------------------------------------------------------------------- */

typedef struct page_args {
    ld_id id;
    uint32_t first;
} page_args;

static page_args g_page; /* the parsed arguments of the running page command */

static ld_err
fetch_followers(cli *c, const char *after, void *page, ld_errmsg *msg)
{
    return ld_followers_list(c->client, &g_page.id, g_page.first, after, page, msg);
}

static ld_err
fetch_following(cli *c, const char *after, void *page, ld_errmsg *msg)
{
    return ld_following_list(c->client, &g_page.id, g_page.first, after, page, msg);
}

static ld_err
fetch_notifications(cli *c, const char *after, void *page, ld_errmsg *msg)
{
    return ld_notifications_list(c->client, &g_page.id, g_page.first, after, page, msg);
}

static const ld_page_info *
follow_page_info(const void *page)
{
    return &((const ld_follow_page *)page)->page_info;
}

static const ld_page_info *
notification_page_info(const void *page)
{
    return &((const ld_notification_page *)page)->page_info;
}

/* The page commands of this file: ID, --first, --after, --all. */
static int
page_cmd(cli *c, const char *what, cli_page_fn fetch, size_t page_size,
         const ld_page_info *(*info_of)(const void *), const cli_body *body)
{
    if (!cli_id_arg(c, c->pos[0], what, &g_page.id) || !cli_opt_first(c, &g_page.first))
        return EXIT_USAGE;
    return cli_pages_alloc(c, fetch, page_size, info_of, body);
}

static int
cmd_followers(cli *c)
{
    static const cli_body body = {"follow_page", cli_json_follow_page, cli_human_follow_page, NULL};
    return page_cmd(c, "CREATOR_ID", fetch_followers, sizeof(ld_follow_page), follow_page_info,
                    &body);
}

static int
cmd_following(cli *c)
{
    static const cli_body body = {"follow_page", cli_json_follow_page, cli_human_follow_page, NULL};
    return page_cmd(c, "USER_ID", fetch_following, sizeof(ld_follow_page), follow_page_info, &body);
}

static int
cmd_notifications(cli *c)
{
    static const cli_body body = {"notification_page", cli_json_notification_page,
                                  cli_human_notification_page, NULL};
    return page_cmd(c, "USER_ID", fetch_notifications, sizeof(ld_notification_page),
                    notification_page_info, &body);
}

/* ---- command table -------------------------------------------------------------------------- */

static const char *const user_create_opts[] = {"id", "name", "email", NULL};
static const char *const creator_create_opts[] = {"id", "handle", "name", "profile", NULL};
static const char *const creator_get_opts[] = {"handle", NULL};
static const char *const follow_opts[] = {"user", "creator", NULL};
static const char *const page_opts[] = {"first", "after", "all", NULL};
static const char *const no_opts[] = {NULL};

const cli_cmd cli_social_cmds[] = {
    {"user create", "--name NAME [--email E] [--id HEX]", "create a user",
     "Creates a user. The id is random unless given; a retry with the same --id and identical\n"
     "fields answers EXISTS, different fields ERR_ID_CONFLICT. The call acts as the new user.\n\n"
     "Options:\n"
     "  --id HEX       user id, 32 hex digits (random if omitted)\n"
     "  --name NAME    1..100 bytes (required)\n"
     "  --email E      optional, local@domain\n\n"
     "Example:\n  livedrop user create --name 'Ada L.' --email ada@example.com\n",
     user_create_opts, 0, cmd_user_create, 0},
    {"user get", "USER_ID", "show a user",
     "Shows a user and the number of creators they follow.\n\n"
     "Example:\n  livedrop user get 0123456789abcdef0123456789abcdef\n",
     no_opts, 1, cmd_user_get, 0},
    {"creator create", "--handle H --name NAME [--profile K=V]... [--id HEX]", "create a creator",
     "Creates a creator. The handle (3..32 characters of A-Z, a-z, 0-9, '_' and '.') is unique\n"
     "case-insensitively (ERR_HANDLE_TAKEN). The id is random unless given; a retry with the\n"
     "same --id and identical fields answers EXISTS.\n\n"
     "Options:\n"
     "  --id HEX         creator id (random if omitted)\n"
     "  --handle H       required\n"
     "  --name NAME      1..100 bytes (required)\n"
     "  --profile K=V    a profile entry, repeatable (at most 8; keys unique)\n\n"
     "Example:\n"
     "  livedrop creator create --handle sneakerlab --name 'Sneaker Lab' \\\n"
     "      --profile city=Berlin --profile site=sneakerlab.example\n",
     creator_create_opts, 0, cmd_creator_create, 0},
    {"creator get", "CREATOR_ID | --handle H", "show a creator (by id or handle)",
     "Shows a creator and their follower count, by id or by handle (case-insensitive).\n\n"
     "Examples:\n"
     "  livedrop creator get 2b7e151628aed2a6abf7158809cf4f3c\n"
     "  livedrop creator get --handle SneakerLab\n",
     creator_get_opts, 0, cmd_creator_get, 1},
    {"follow", "--user ID --creator ID", "follow a creator",
     "Makes a user follow a creator (acting as the user). Following again changes nothing.\n"
     "Following yourself is ERR_SELF_FOLLOW; an unknown creator ERR_CREATOR_NOT_FOUND.\n"
     "Prints the follow state and the creator's follower count.\n\n"
     "Example:\n"
     "  livedrop follow --user 0123456789abcdef0123456789abcdef \\\n"
     "      --creator 2b7e151628aed2a6abf7158809cf4f3c\n",
     follow_opts, 0, cmd_follow, 0},
    {"unfollow", "--user ID --creator ID", "stop following a creator",
     "Makes a user stop following a creator (acting as the user). Unfollowing when not\n"
     "following changes nothing.\n\n"
     "Example:\n"
     "  livedrop unfollow --user 0123456789abcdef0123456789abcdef \\\n"
     "      --creator 2b7e151628aed2a6abf7158809cf4f3c\n",
     follow_opts, 0, cmd_unfollow, 0},
    {"is-following", "--user ID --creator ID", "does a user follow a creator?",
     "Shows whether a user follows a creator, since when, and the creator's follower count.\n"
     "Exit status 0 either way.\n\n"
     "Example:\n"
     "  livedrop is-following --user 0123456789abcdef0123456789abcdef \\\n"
     "      --creator 2b7e151628aed2a6abf7158809cf4f3c\n",
     follow_opts, 0, cmd_is_following, 0},
    {"followers", "CREATOR_ID [--first N] [--after C] [--all]", "a creator's followers",
     "Lists a creator's followers, newest first, a page at a time.\n\n" CLI_PAGE_HELP(
         "1000") "Examples:\n"
                 "  livedrop followers 2b7e151628aed2a6abf7158809cf4f3c --first 100\n"
                 "  livedrop --json followers 2b7e151628aed2a6abf7158809cf4f3c --all --first "
                 "1000\n",
     page_opts, 1, cmd_followers, 0},
    {"following", "USER_ID [--first N] [--after C] [--all]", "the creators a user follows",
     "Lists the creators a user follows, newest first (derived from follow events: a follow\n"
     "shows up here a moment after it is acknowledged).\n\n" CLI_PAGE_HELP(
         "1000") "Example:\n  livedrop following 0123456789abcdef0123456789abcdef --all\n",
     page_opts, 1, cmd_following, 0},
    {"notifications", "USER_ID [--first N] [--after C] [--all]", "a user's notification feed",
     "Lists a user's notifications, newest first: drop live, low stock and sold out from the\n"
     "creators they follow (after the follow), and their own order outcomes.\n\n" CLI_PAGE_HELP(
         "100") "Example:\n  livedrop notifications 0123456789abcdef0123456789abcdef --first 10\n",
     page_opts, 1, cmd_notifications, 0},
};
const size_t cli_social_cmds_count = sizeof cli_social_cmds / sizeof cli_social_cmds[0];
