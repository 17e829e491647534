/*
 * config.c -- defaults, the cluster-conf file parser and the command-line parser (see config.h).
 *
 * Every setting is one row of `config_keys`: its file key, its flag, and the function that parses
 * and checks its value. The file and the flags go through the same rows, so a value means the
 * same thing and is checked the same way wherever it comes from.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ld_base.h"

#define CONFIG_LINE_BYTES_MAX 1024u

typedef bool (*config_set_fn)(ldi_config *cfg, const char *value, char *err, size_t err_len);

typedef struct config_key {
    const char *key;  /* in the file */
    const char *flag; /* on the command line, without the leading "--" */
    config_set_fn set;
} config_key;

static bool
parse_u32(const char *value, uint32_t min, uint32_t max, uint32_t *out, char *err, size_t err_len)
{
    if (value[0] < '0' || value[0] > '9') {
        snprintf(err, err_len, "expected a number, got \"%s\"", value);
        return false;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        snprintf(err, err_len, "expected a number in %u..%u, got \"%s\"", min, max, value);
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool
set_node_id(ldi_config *cfg, const char *value, char *err, size_t err_len)
{
    return parse_u32(value, 1, 65535, &cfg->node_id, err, err_len);
}

static bool
set_cluster_id(ldi_config *cfg, const char *value, char *err, size_t err_len)
{
    errno = 0;
    char *end = NULL;
    unsigned long long v = value[0] >= '0' && value[0] <= '9' ? strtoull(value, &end, 10) : 0;
    if (errno != 0 || end == NULL || *end != '\0' || v == 0) {
        snprintf(err, err_len, "expected a number in 1..%llu, got \"%s\"",
                 (unsigned long long)UINT64_MAX, value);
        return false;
    }
    cfg->cluster_id = (uint64_t)v;
    return true;
}

static bool
set_payment_slow_ms(ldi_config *cfg, const char *value, char *err, size_t err_len)
{
    return parse_u32(value, 0, LD_PAYMENT_SLOW_MS_MAX, &cfg->payment_slow_ms, err, err_len);
}

/* An NNG URL (checked for its form only: NNG itself refuses what it cannot bind). */
static bool
check_url(const char *value, const char *example, char *err, size_t err_len)
{
    if (strlen(value) > LDI_URL_BYTES_MAX) {
        snprintf(err, err_len, "URL longer than %u bytes", LDI_URL_BYTES_MAX);
        return false;
    }
    if (strstr(value, "://") == NULL) {
        snprintf(err, err_len, "expected an NNG URL such as %s, got \"%.64s\"%s", example, value,
                 strlen(value) > 64 ? "..." : "");
        return false;
    }
    return true;
}

static bool
set_listen(ldi_config *cfg, const char *value, char *err, size_t err_len)
{
    if (!check_url(value, LDI_DEFAULT_LISTEN, err, err_len))
        return false;
    strcpy(cfg->listen, value);
    return true;
}

static bool
set_publish(ldi_config *cfg, const char *value, char *err, size_t err_len)
{
    if (strcmp(value, LDI_PUBLISH_NONE) != 0 &&
        !check_url(value, LDI_DEFAULT_PUBLISH " or " LDI_PUBLISH_NONE, err, err_len))
        return false;
    strcpy(cfg->publish, value);
    return true;
}

static bool
set_data_dir(ldi_config *cfg, const char *value, char *err, size_t err_len)
{
    if (strlen(value) > LDI_PATH_BYTES_MAX) {
        snprintf(err, err_len, "path longer than %u bytes", LDI_PATH_BYTES_MAX);
        return false;
    }
    strcpy(cfg->data_dir, value);
    return true;
}

static bool
set_log_level(ldi_config *cfg, const char *value, char *err, size_t err_len)
{
    if (!ldi_log_level_parse(value, &cfg->log_level)) {
        snprintf(err, err_len, "expected debug, info, warn or error, got \"%s\"", value);
        return false;
    }
    return true;
}

static const config_key config_keys[] = {
    {.key = "node_id", .flag = "node-id", .set = set_node_id},
    {.key = "cluster_id", .flag = "cluster-id", .set = set_cluster_id},
    {.key = "listen", .flag = "listen", .set = set_listen},
    {.key = "publish", .flag = "publish", .set = set_publish},
    {.key = "data_dir", .flag = "data", .set = set_data_dir},
    {.key = "payment_slow_ms", .flag = "payment-slow-ms", .set = set_payment_slow_ms},
    {.key = "log_level", .flag = "log-level", .set = set_log_level},
};
#define CONFIG_KEYS_COUNT (sizeof config_keys / sizeof config_keys[0])

void
ldi_config_defaults(ldi_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->node_id = 1;
    strcpy(cfg->listen, LDI_DEFAULT_LISTEN);
    strcpy(cfg->publish, LDI_DEFAULT_PUBLISH);
    strcpy(cfg->data_dir, LDI_DEFAULT_DATA_DIR);
    cfg->payment_slow_ms = LD_PAYMENT_SLOW_MS_DEFAULT;
    cfg->log_level = LDI_LOG_INFO;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static char *
trim(char *s)
{
    while (is_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && is_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Splits "key = value # comment" in place. Returns NULL on success, else what is wrong. */
static const char *
split_line(char *line, char **key_out, char **value_out)
{
    char *eq = strchr(line, '=');
    if (eq == NULL)
        return "expected \"key = value\"";
    *eq = '\0';
    char *key = trim(line);
    char *value = eq + 1;
    while (is_space(*value))
        value++;
    if (*value == '"') {
        char *close = strchr(value + 1, '"');
        if (close == NULL)
            return "unterminated quoted value";
        char *rest = trim(close + 1);
        if (*rest != '\0' && *rest != '#')
            return "unexpected text after the quoted value";
        *close = '\0';
        value++;
    } else {
        /* A '#' after white space starts a comment; URLs and paths rarely hold " #". */
        for (char *p = value; *p != '\0'; p++) {
            if (*p == '#' && (p == value || is_space(p[-1]))) {
                *p = '\0';
                break;
            }
        }
        value = trim(value);
    }
    if (*key == '\0')
        return "missing key before '='";
    if (*value == '\0')
        return "missing value after '='";
    *key_out = key;
    *value_out = value;
    return NULL;
}

static const config_key *
find_key(const char *key)
{
    for (size_t i = 0; i < CONFIG_KEYS_COUNT; i++)
        if (strcmp(config_keys[i].key, key) == 0)
            return &config_keys[i];
    return NULL;
}

/* ---- replica lines --------------------------------------------------------------------------- */

#define REPLICA_FIELDS 4u
#define REPLICA_KEY "replica"
#define REPLICA_SYNTAX "<node_id> <client_url> <peer_url> <publish_url|none>"

/* Splits `value` in place at white space into at most `max` fields; returns how many there are
 * (max + 1 when there are more). */
static size_t
split_fields(char *value, char **fields, size_t max)
{
    size_t n = 0;
    char *p = value;
    for (;;) {
        while (is_space(*p))
            p++;
        if (*p == '\0')
            return n;
        if (n == max)
            return max + 1;
        fields[n++] = p;
        while (*p != '\0' && !is_space(*p))
            p++;
        if (*p != '\0')
            *p++ = '\0';
    }
}

/* True if another replica line already uses `url` for `field` (client and peer URLs must each be
 * distinct: two replicas cannot listen on one address). */
static bool
replica_url_taken(const ldi_config *cfg, size_t field_off, const char *url)
{
    for (uint32_t i = 0; i < cfg->replica_count; i++)
        if (strcmp((const char *)&cfg->replicas[i] + field_off, url) == 0)
            return true;
    return false;
}

/* Parses one `replica = ...` value and appends it to cfg->replicas. */
static bool
add_replica(ldi_config *cfg, char *value, char *err, size_t err_len)
{
    char *f[REPLICA_FIELDS];
    size_t n = split_fields(value, f, REPLICA_FIELDS);
    if (n != REPLICA_FIELDS) {
        snprintf(err, err_len, "expected \"%s\", got %s%zu field(s)", REPLICA_SYNTAX,
                 n > REPLICA_FIELDS ? "more than " : "",
                 n > REPLICA_FIELDS ? (size_t)REPLICA_FIELDS : n);
        return false;
    }
    if (cfg->replica_count == LD_PEER_REPLICAS_MAX) {
        snprintf(err, err_len, "more than %u replica lines", LD_PEER_REPLICAS_MAX);
        return false;
    }
    ldi_replica_conf r;
    memset(&r, 0, sizeof r);
    char what[200];
    if (!parse_u32(f[0], 1, 65535, &r.node_id, what, sizeof what)) {
        snprintf(err, err_len, "node_id: %s", what);
        return false;
    }
    if (!check_url(f[1], LDI_DEFAULT_LISTEN, what, sizeof what) ||
        !check_url(f[2], "tcp://127.0.0.1:7402", what, sizeof what) ||
        (strcmp(f[3], LDI_PUBLISH_NONE) != 0 &&
         !check_url(f[3], LDI_DEFAULT_PUBLISH " or " LDI_PUBLISH_NONE, what, sizeof what))) {
        snprintf(err, err_len, "%s", what);
        return false;
    }
    for (uint32_t i = 0; i < cfg->replica_count; i++) {
        if (cfg->replicas[i].node_id == r.node_id) {
            snprintf(err, err_len, "node_id %u is listed twice", r.node_id);
            return false;
        }
    }
    if (replica_url_taken(cfg, offsetof(ldi_replica_conf, client_url), f[1]) ||
        replica_url_taken(cfg, offsetof(ldi_replica_conf, peer_url), f[2])) {
        snprintf(err, err_len, "a client or peer URL is used by an earlier replica line");
        return false;
    }
    if (strcmp(f[1], f[2]) == 0) {
        snprintf(err, err_len, "client_url and peer_url must differ");
        return false;
    }
    strcpy(r.client_url, f[1]);
    strcpy(r.peer_url, f[2]);
    strcpy(r.publish_url, f[3]);
    cfg->replicas[cfg->replica_count++] = r;
    return true;
}

/* The checks that need the whole file: the replica count and the cluster id. */
static bool
check_replicas(const ldi_config *cfg, const char *path, char *errbuf, size_t errbuf_len)
{
    uint32_t n = cfg->replica_count;
    if (n == 0)
        return true;
    if (n != 1 && n != 3 && n != 5) {
        snprintf(errbuf, errbuf_len, "%s: %u replica lines; a replica group has 1, 3 or 5", path,
                 n);
        return false;
    }
    if (cfg->cluster_id == 0) {
        snprintf(errbuf, errbuf_len, "%s: replica lines need cluster_id (a number > 0)", path);
        return false;
    }
    return true;
}

/* Applies one line; `seen` marks keys already set by this file. */
static bool
apply_line(ldi_config *cfg, char *line, bool *seen, char *err, size_t err_len)
{
    char *body = trim(line);
    if (*body == '\0' || *body == '#')
        return true;
    char *key = NULL;
    char *value = NULL;
    const char *what = split_line(body, &key, &value);
    if (what != NULL) {
        snprintf(err, err_len, "%s", what);
        return false;
    }
    if (strcmp(key, REPLICA_KEY) == 0) {
        char what_buf[300];
        if (!add_replica(cfg, value, what_buf, sizeof what_buf)) {
            snprintf(err, err_len, "%s: %s", key, what_buf);
            return false;
        }
        return true;
    }
    const config_key *k = find_key(key);
    if (k == NULL) {
        snprintf(err, err_len, "unknown key \"%s\"", key);
        return false;
    }
    size_t index = (size_t)(k - config_keys);
    if (seen[index]) {
        snprintf(err, err_len, "key \"%s\" is set twice", key);
        return false;
    }
    seen[index] = true;
    char what_buf[300];
    if (!k->set(cfg, value, what_buf, sizeof what_buf)) {
        snprintf(err, err_len, "%s: %s", key, what_buf);
        return false;
    }
    return true;
}

bool
ldi_config_load_file(ldi_config *cfg, const char *path, char *errbuf, size_t errbuf_len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errbuf, errbuf_len, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    bool seen[CONFIG_KEYS_COUNT] = {false};
    char line[CONFIG_LINE_BYTES_MAX + 2];
    char what[400];
    unsigned lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof(f)) {
            snprintf(what, sizeof what, "line longer than %u bytes", CONFIG_LINE_BYTES_MAX);
            ok = false;
        } else {
            ok = apply_line(cfg, line, seen, what, sizeof what);
        }
        if (!ok)
            snprintf(errbuf, errbuf_len, "%s:%u: %s", path, lineno, what);
    }
    if (ok && ferror(f)) {
        snprintf(errbuf, errbuf_len, "%s: read error", path);
        ok = false;
    }
    fclose(f);
    return ok && check_replicas(cfg, path, errbuf, errbuf_len);
}

const char *
ldi_config_usage(void)
{
    return "Usage: livedrop-node [OPTIONS]\n"
           "\n"
           "Runs one livedrop node: a shard of drops, reservations and orders, served to\n"
           "clients over NNG (req/rep, protobuf frames) and stored in RocksDB. With no options\n"
           "it runs the single-node default: listen on " LDI_DEFAULT_LISTEN ",\n"
           "data in " LDI_DEFAULT_DATA_DIR ".\n"
           "\n"
           "Replication: a config file with `cluster_id` and 3 or 5 `replica` lines describes a\n"
           "replica group; start every node with that file and its own --node-id and --data.\n"
           "A node listens and publishes on its own line's addresses and talks to the others on\n"
           "their peer URLs; only the primary serves writes and linearizable reads, the others\n"
           "answer NOT_PRIMARY naming it. First start of a new cluster: add --format.\n"
           "\n"
           "Options (flags override the --config file, which overrides the defaults):\n"
           "  -c, --config FILE        read settings from FILE (cluster-conf format: `key = "
           "value`\n"
           "                           lines, `#` comments; see cluster-conf/README.md)\n"
           "  -l, --listen URL         NNG URL to serve clients on   [file key: listen]\n"
           "                           default " LDI_DEFAULT_LISTEN "; port 0 picks a free\n"
           "                           port, shown in the ready line\n"
           "  -p, --publish URL        NNG URL of the event publish socket (pub/sub: one\n"
           "                           message per event and topic, \"<topic>\\n\" + packed\n"
           "                           Event), or \"none\"   [file key: publish]\n"
           "                           default " LDI_DEFAULT_PUBLISH "; with port 0 the\n"
           "                           port picked is shown in a second stdout line\n"
           "  -d, --data DIR           RocksDB data directory, created if missing\n"
           "                           [file key: data_dir] default " LDI_DEFAULT_DATA_DIR "\n"
           "      --payment-slow-ms N  delay of the test card pm_card_slow, 0..600000\n"
           "                           [file key: payment_slow_ms] default 2000\n"
           "      --node-id N          this node's id, 1..65535, recorded in the data\n"
           "                           directory and checked on every start [node_id] default 1\n"
           "      --log-level LEVEL    debug | info | warn | error   [log_level] default info\n"
           "      --format             initialise an empty data directory as a replica of a\n"
           "                           brand-new cluster (writes the replica superblock);\n"
           "                           refused if the directory holds data. Needed once per\n"
           "                           node when the config has 3 or 5 `replica` lines: an\n"
           "                           empty directory started without it recovers its state\n"
           "                           from the other replicas instead. A single node (no\n"
           "                           replica lines, or one) formats a new directory itself\n"
           "  -h, --help               print this help and exit\n"
           "  -V, --version            print the version and exit\n"
           "\n"
           "Once it serves, the node prints one line to stdout:\n"
           "  livedrop-node: listening on <url>\n"
           "and, only when --publish asked for port 0, a second one:\n"
           "  livedrop-node: publishing on <url>\n"
           "Logs go to stderr (UTC timestamp, level). SIGTERM or SIGINT: stop accepting\n"
           "connections, finish in-flight work (including slow payments, at most 30 s), sync,\n"
           "exit 0. A second signal cuts the wait short.\n"
           "\n"
           "Test payment methods: pm_card_ok (approves), pm_card_declined (declines),\n"
           "pm_card_slow (approves after --payment-slow-ms); anything else declines.\n"
           "\n"
           "Exit status: 0 clean shutdown, 1 runtime or storage failure, 2 usage or config "
           "error.\n";
}

enum { OPT_PAYMENT_SLOW_MS = 256, OPT_NODE_ID, OPT_LOG_LEVEL, OPT_FORMAT };

static const struct option cli_options[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, 'l'},
    {"publish", required_argument, NULL, 'p'},
    {"data", required_argument, NULL, 'd'},
    {"payment-slow-ms", required_argument, NULL, OPT_PAYMENT_SLOW_MS},
    {"node-id", required_argument, NULL, OPT_NODE_ID},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"format", no_argument, NULL, OPT_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const config_key *
flag_key(int opt)
{
    const char *flag = NULL;
    switch (opt) {
    case 'l':
        flag = "listen";
        break;
    case 'p':
        flag = "publish";
        break;
    case 'd':
        flag = "data";
        break;
    case OPT_PAYMENT_SLOW_MS:
        flag = "payment-slow-ms";
        break;
    case OPT_NODE_ID:
        flag = "node-id";
        break;
    case OPT_LOG_LEVEL:
        flag = "log-level";
        break;
    default:
        return NULL;
    }
    for (size_t i = 0; i < CONFIG_KEYS_COUNT; i++)
        if (strcmp(config_keys[i].flag, flag) == 0)
            return &config_keys[i];
    return NULL;
}

/* With replica lines: finds this node's line and takes listen and publish from it, unless a flag
 * set them. */
static bool
resolve_own_replica(ldi_config *cfg, const char *path, bool listen_flag, bool publish_flag,
                    char *err, size_t err_len)
{
    if (cfg->replica_count == 0)
        return true;
    for (uint32_t i = 0; i < cfg->replica_count; i++) {
        const ldi_replica_conf *r = &cfg->replicas[i];
        if (r->node_id != cfg->node_id)
            continue;
        cfg->replica_index = i;
        if (!listen_flag)
            strcpy(cfg->listen, r->client_url);
        if (!publish_flag)
            strcpy(cfg->publish, r->publish_url);
        return true;
    }
    snprintf(err, err_len, "%s: node_id %u is not in any replica line (give --node-id)", path,
             cfg->node_id);
    return false;
}

/* Applies the flags recorded in values[] (indexed like config_keys) after the file. */
static bool
apply_flags(ldi_config *cfg, char *const *values, char *err, size_t err_len)
{
    char what[300];
    for (size_t i = 0; i < CONFIG_KEYS_COUNT; i++) {
        if (values[i] == NULL)
            continue;
        if (!config_keys[i].set(cfg, values[i], what, sizeof what)) {
            snprintf(err, err_len, "--%s: %s", config_keys[i].flag, what);
            return false;
        }
    }
    return true;
}

ldi_cli_action
ldi_config_parse_args(ldi_config *cfg, int argc, char **argv, char *errbuf, size_t errbuf_len)
{
    char *values[CONFIG_KEYS_COUNT] = {NULL};
    const char *config_path = NULL;
    ldi_config_defaults(cfg);
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":c:l:p:d:hV", cli_options, NULL)) != -1) {
        if (opt == 'h')
            return LDI_CLI_HELP;
        if (opt == 'V')
            return LDI_CLI_VERSION;
        if (opt == 'c') {
            config_path = optarg;
            continue;
        }
        if (opt == OPT_FORMAT) {
            cfg->format = true;
            continue;
        }
        if (opt == ':') {
            snprintf(errbuf, errbuf_len, "option %s needs a value", argv[optind - 1]);
            return LDI_CLI_USAGE;
        }
        const config_key *k = flag_key(opt);
        if (k == NULL) {
            snprintf(errbuf, errbuf_len, "unknown option %s", argv[optind - 1]);
            return LDI_CLI_USAGE;
        }
        values[k - config_keys] = optarg;
    }
    if (optind < argc) {
        snprintf(errbuf, errbuf_len, "unexpected argument \"%s\"", argv[optind]);
        return LDI_CLI_USAGE;
    }
    if (config_path != NULL && !ldi_config_load_file(cfg, config_path, errbuf, errbuf_len))
        return LDI_CLI_USAGE;
    if (!apply_flags(cfg, values, errbuf, errbuf_len))
        return LDI_CLI_USAGE;
    const config_key *listen = flag_key('l');
    const config_key *publish = flag_key('p');
    if (!resolve_own_replica(cfg, config_path, values[listen - config_keys] != NULL,
                             values[publish - config_keys] != NULL, errbuf, errbuf_len))
        return LDI_CLI_USAGE;
    return LDI_CLI_RUN;
}
