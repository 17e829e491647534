/*
 * cli.h -- internals shared by the files of the `livedrop` CLI (never installed).
 *
 *   livedrop.c      parsing, help, main, the drop / reservation / order commands, and the
 *                   option and output helpers below
 *   print.c         output of users, creators, products, pages and events (JSON and human)
 *   cmd_social.c    user, creator, follow, unfollow, is-following, followers, following,
 *                   notifications
 *   cmd_catalog.c   product, products, drop cancel, drops
 *   cmd_events.c    events, watch
 *   cmd_cluster.c   cluster status
 *
 * Single-threaded: every function runs on the main thread.
 */
#ifndef LD_CLI_H
#define LD_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "livedrop.h"

#define EXIT_OK 0
#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_TRANSPORT 3

#define OPTS_MAX 64
#define POS_MAX 4

/* ---- parsed command line -------------------------------------------------------------------- */

typedef struct cli_opt {
    const char *name; /* without the leading "--" */
    const char *value;
} cli_opt;

typedef struct cli {
    const char *addr; /* one node address, or a comma-separated list (a cluster) */
    const char *conf; /* --conf FILE: addr is read from it */
    bool addr_given;  /* --addr was on the command line */
    bool json;
    bool follower_read;  /* --follower-read: ld_client_opts.follower_read */
    bool all;            /* --all: walk every page */
    uint32_t timeout_ms; /* 0: not given */
    const struct cli_cmd *cmd;
    const char *pos[POS_MAX];
    int npos;
    cli_opt opts[OPTS_MAX];
    int nopts;
    ld_client *client;
} cli;

typedef int (*cli_run_fn)(cli *c);

typedef struct cli_cmd {
    const char *words;       /* "drop create" */
    const char *synopsis;    /* after the words */
    const char *summary;     /* one line for `livedrop --help` */
    const char *help;        /* options and examples */
    const char *const *opts; /* value-taking options it accepts, NULL-terminated */
    int npos;                /* positional arguments it requires */
    cli_run_fn run;
    int npos_opt; /* optional positional arguments after the required ones */
} cli_cmd;

/* The command tables of the other files. */
extern const cli_cmd cli_social_cmds[];
extern const size_t cli_social_cmds_count;
extern const cli_cmd cli_catalog_cmds[];
extern const size_t cli_catalog_cmds_count;
extern const cli_cmd cli_events_cmds[];
extern const size_t cli_events_cmds_count;
extern const cli_cmd cli_cluster_cmds[];
extern const size_t cli_cluster_cmds_count;

extern const char *cli_prog;

/* ---- options (livedrop.c) ------------------------------------------------------------------- */

/* Prints "livedrop: <message>" and a hint to stderr; returns EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int cli_usage_error(const cli *c, const char *fmt, ...);
/* The value of --name (the last one wins), or NULL. */
const char *cli_opt_get(const cli *c, const char *name);
bool cli_parse_i64(const char *s, int64_t *out);
/* A numeric option; absent: *out = dflt. False (after a usage message) if not a number. */
bool cli_opt_i64(const cli *c, const char *name, int64_t dflt, int64_t *out);
/* A numeric option in lo..hi; absent: *out = dflt. */
bool cli_opt_range(const cli *c, const char *name, int64_t lo, int64_t hi, int64_t dflt,
                   int64_t *out);
bool cli_opt_required(const cli *c, const char *name, const char **out);
/* An id given as 32 hex digits; `what` names it in messages. */
bool cli_id_arg(const cli *c, const char *hex, const char *what, ld_id *out);
/* A required --name id. */
bool cli_id_opt(const cli *c, const char *name, ld_id *out);
/* An optional --name id: absent gives a random one. */
bool cli_id_opt_or_random(const cli *c, const char *name, ld_id *out);
/* Copies every --name value into out[i][size] (at most max); false after a usage message. */
bool cli_opt_list(const cli *c, const char *name, uint32_t max, size_t size, char *out,
                  uint32_t *count_out);
/* Every --name k=v into attrs (at most LD_ATTRS_MAX); false after a usage message. */
bool cli_opt_attrs(const cli *c, const char *name, ld_attr *attrs, uint32_t *count_out);
int64_t cli_now_ms(void);

/* ---- output (livedrop.c, print.c) ----------------------------------------------------------- */

int cli_exit_status(ld_err err);
void cli_json_str(FILE *f, const char *s);
void cli_json_id(FILE *f, const char *key, const ld_id *id);
const char *cli_drop_status_name(ld_drop_status s, bool json);
void cli_json_drop(FILE *f, const ld_drop *d);
void cli_human_drop(FILE *f, const ld_drop *d);
const char *cli_fmt_time(int64_t ms, char buf[32]);
bool cli_id_is_zero(const ld_id *id);

/* What a result carries to print: a JSON key and the two printers. */
typedef struct cli_body {
    const char *key; /* "user", "follow_page", ... */
    void (*json)(FILE *f, const void *body);
    void (*human)(FILE *f, const void *body);
    const void *body; /* NULL: nothing to print */
} cli_body;

/* Prints one result ({"code", "message", key: body} with --json; else the body for people and
 * the refusal on stderr) and returns its exit status. */
int cli_report(const cli *c, ld_err err, const ld_errmsg *msg, const cli_body *body);
/* With --follower-read, prints ,"answered_by":{"addr","follower_read","applied_op","view"} of
 * the last call into a JSON object being written (nothing otherwise, or without an answer). */
void cli_json_answered_by(const cli *c, FILE *f);

/* The printers of print.c (body: a pointer to the type in the name). */
void cli_json_user(FILE *f, const void *body);
void cli_human_user(FILE *f, const void *body);
void cli_json_creator(FILE *f, const void *body);
void cli_human_creator(FILE *f, const void *body);
void cli_json_product(FILE *f, const void *body);
void cli_human_product(FILE *f, const void *body);
void cli_json_follow_state(FILE *f, const void *body);
void cli_human_follow_state(FILE *f, const void *body);
void cli_json_follow_page(FILE *f, const void *body);
void cli_human_follow_page(FILE *f, const void *body);
void cli_json_product_page(FILE *f, const void *body);
void cli_human_product_page(FILE *f, const void *body);
void cli_json_drop_page(FILE *f, const void *body);
void cli_human_drop_page(FILE *f, const void *body);
void cli_json_event(FILE *f, const void *body);
void cli_human_event(FILE *f, const void *body);
void cli_json_event_page(FILE *f, const void *body);
void cli_human_event_page(FILE *f, const void *body);
void cli_json_notification_page(FILE *f, const void *body);
void cli_human_notification_page(FILE *f, const void *body);
/* The footer of a human page: "(N entries; more: --after C)" or "(N entries, last page)". */
void cli_human_page_footer(FILE *f, uint32_t count, const ld_page_info *info);

/* The options section of a page command's help; max is a string literal ("1000"). */
#define CLI_PAGE_HELP(max)                                                                         \
    "Options:\n"                                                                                   \
    "  --first N    entries per page, 1.." max " (default 20)\n"                                   \
    "  --after C    the cursor printed by the previous page (end_cursor)\n"                        \
    "  --all        walk every page; with --json, one document holding every page's\n"             \
    "               entries, the last page_info, \"pages\" and the walk's \"code\"\n\n"

/* ---- paging (print.c) ----------------------------------------------------------------------- */

/* One page call: fetches the page after `after` into the caller's page. */
typedef ld_err (*cli_page_fn)(cli *c, const char *after, void *page, ld_errmsg *msg);

/* Runs a page command: one page (--after, --first), or every page with --all. Prints each
 * page as one result and returns the exit status of the last. `info_of` finds the page_info in
 * a page. `page` is the caller's (heap) page, reused for every call. */
int cli_pages(cli *c, cli_page_fn fetch, void *page, const ld_page_info *(*info_of)(const void *),
              const cli_body *body);
/* cli_pages() with a zeroed heap page of page_size bytes (pages are large). */
int cli_pages_alloc(cli *c, cli_page_fn fetch, size_t page_size,
                    const ld_page_info *(*info_of)(const void *), const cli_body *body);
/* --first N: 0 (absent) leaves the default to the node. */
bool cli_opt_first(const cli *c, uint32_t *out);

#endif /* LD_CLI_H */
