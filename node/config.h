/*
 * config.h -- the node's configuration: defaults, the cluster-conf file format, command-line flags.
 *
 * Precedence: built-in defaults < the --config file < command-line flags. The file format is
 * documented in cluster-conf/README.md: `key = value` lines, `#` starts a comment, unknown keys
 * and repeated keys are errors that name the line. `replica` is the one key that repeats: one
 * line per replica of shard 0, in replica-index order (1, 3 or 5 lines; none is replication
 * factor 1, a single node without replication). With replica lines the node takes its `listen` and
 * `publish` from its own line (found by node_id); the --listen / --publish flags still win.
 */
#ifndef LDI_CONFIG_H
#define LDI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ld_limits.h"
#include "log.h"

#define LDI_DEFAULT_LISTEN "tcp://127.0.0.1:7400"
#define LDI_DEFAULT_PUBLISH "tcp://127.0.0.1:7401"
#define LDI_PUBLISH_NONE "none" /* the `publish` value that turns push off */
#define LDI_DEFAULT_DATA_DIR "./livedrop-data"
#define LDI_URL_BYTES_MAX 255u
#define LDI_PATH_BYTES_MAX 4095u

/* One `replica = <node_id> <client_url> <peer_url> <publish_url|none>` line. */
typedef struct ldi_replica_conf {
    uint32_t node_id;
    char client_url[LDI_URL_BYTES_MAX + 1];
    char peer_url[LDI_URL_BYTES_MAX + 1];
    char publish_url[LDI_URL_BYTES_MAX + 1]; /* or "none" */
} ldi_replica_conf;

typedef struct ldi_config {
    uint32_t node_id;                      /* 1.. ; recorded in the data dir, checked on open */
    char listen[LDI_URL_BYTES_MAX + 1];    /* NNG URL for clients, e.g. tcp://127.0.0.1:7400 */
    char publish[LDI_URL_BYTES_MAX + 1];   /* NNG URL of the event pub socket, or "none" */
    char data_dir[LDI_PATH_BYTES_MAX + 1]; /* RocksDB directory; created if missing */
    uint32_t payment_slow_ms;              /* pm_card_slow approves after this delay */
    ldi_log_level log_level;
    uint64_t cluster_id;    /* > 0 with replica lines; 0 without (replication factor 1) */
    uint32_t replica_count; /* replica lines: 0 (RF 1, no peers), 1, 3 or 5 */
    uint32_t replica_index; /* this node's line (by node_id); 0 when replica_count == 0 */
    ldi_replica_conf replicas[LD_PEER_REPLICAS_MAX];
    bool format; /* --format: initialise a brand-new replica (REPLICATION.md §7.3) */
} ldi_config;

/* What main() should do after parsing the command line. */
typedef enum ldi_cli_action {
    LDI_CLI_RUN = 0,
    LDI_CLI_HELP = 1,    /* --help: print ldi_config_usage() to stdout, exit 0 */
    LDI_CLI_VERSION = 2, /* --version: print the version, exit 0 */
    LDI_CLI_USAGE = 3,   /* bad usage or config: the error is in errbuf, exit 2 */
} ldi_cli_action;

/* Fills `cfg` with the built-in defaults (single node, LDI_DEFAULT_*). Thread: any. */
void ldi_config_defaults(ldi_config *cfg);

/* Applies the `key = value` lines of the file at `path` to `cfg`. On error writes
 * "<path>:<line>: <what>" into errbuf and returns false (cfg may be partly updated).
 * Thread: any. */
bool ldi_config_load_file(ldi_config *cfg, const char *path, char *errbuf, size_t errbuf_len);

/* Parses argv into `cfg` (defaults, then --config FILE, then the other flags), then finds this
 * node's replica line (by node_id; an error if replica lines exist and none is this node's) and
 * takes listen and publish from it unless the flags set them. Returns the action; on
 * LDI_CLI_USAGE, errbuf says why. Thread: main thread (uses getopt_long). */
ldi_cli_action ldi_config_parse_args(ldi_config *cfg, int argc, char **argv, char *errbuf,
                                     size_t errbuf_len);

/* The --help text. Thread: any. */
const char *ldi_config_usage(void);

#endif /* LDI_CONFIG_H */
