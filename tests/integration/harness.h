/*
 * harness.h -- what every integration suite needs to run real livedrop-node processes.
 *
 * A node runs as a child process (fork + exec of $LD_NODE_BIN) on a free loopback port with a
 * fresh data directory. Its stdout is a pipe the harness reads until the ready line
 * ("livedrop-node: listening on <url>"); its stderr goes to <tmpdir>/node.log, whose tail is
 * printed when a test fails. Nodes are registered: the suite fini (ldh_suite_fini), an atexit
 * handler and PR_SET_PDEATHSIG each make sure no node outlives the test process, even when the
 * test fails or crashes. A test that reaches its end calls ldh_node_destroy(), which stops the
 * node and removes its directory; a failed test keeps the directory for inspection.
 *
 * Functions whose name ends in nothing special assert with criterion (cr_assert) and so must be
 * called from the test's main thread only. Functions marked "Thread: any" never assert.
 */
#ifndef LD_TESTS_HARNESS_H
#define LD_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "livedrop.h"

/* Transport / node codes (100..199): the outcome of the call is unknown. */
#define LDH_IS_TRANSPORT(e) ((int)(e) >= 100 && (int)(e) < 200)

/* ---- time and randomness ------------------------------------------------------------------ */

/* Wall clock (CLOCK_REALTIME) in Unix ms: the clock the node stamps batches with. Thread: any. */
int64_t ldh_now_ms(void);
/* Monotonic clock in ms, for deadlines. Thread: any. */
int64_t ldh_mono_ms(void);
/* Sleeps `ms` milliseconds (a poll interval, never a substitute for a condition). Thread: any. */
void ldh_sleep_ms(int64_t ms);

/* A small PRNG (xorshift64*), one per thread. */
typedef struct ldh_rng {
    uint64_t s;
} ldh_rng;
/* The run's seed: $LD_TEST_SEED if set, else random; logged once so a failure can be replayed.
 * Thread: main. */
uint64_t ldh_seed(void);
void ldh_rng_init(ldh_rng *rng, uint64_t seed);
uint64_t ldh_rand(ldh_rng *rng);
/* Uniform in [lo, hi]. */
int64_t ldh_rand_range(ldh_rng *rng, int64_t lo, int64_t hi);
/* A random 128-bit id (ld_id_random, asserted). Thread: any (aborts on failure). */
ld_id ldh_id(void);
/* A fresh idempotency key "<prefix>-<16 hex>" into out[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1]. */
void ldh_key(ldh_rng *rng, const char *prefix, char *out, size_t out_size);
/* True if a and b are the same id. Thread: any. */
bool ldh_id_eq(const ld_id *a, const ld_id *b);
/* True if id is all zero. Thread: any. */
bool ldh_id_zero(const ld_id *id);
/* Hex of an id in a static per-thread buffer (for messages only). Thread: any. */
const char *ldh_hex(const ld_id *id);

/* ---- nodes -------------------------------------------------------------------------------- */

typedef struct ldh_node {
    pid_t pid;         /* 0 when not running */
    int stdout_fd;     /* read end of the node's stdout pipe, -1 when not running */
    uint16_t port;     /* chosen once, kept across restarts */
    char url[64];      /* tcp://127.0.0.1:<port> */
    uint16_t pub_port; /* the event publish socket's port (--publish), chosen once too */
    char pub_url[64];  /* tcp://127.0.0.1:<pub_port> */
    char root[256];    /* mkdtemp directory: data/ and node.log live here */
    char data_dir[300];
    char log_path[300];
    uint32_t payment_slow_ms; /* 0: the node's default */
    int starts;               /* how many times the node was started */
    int reg;                  /* harness registry slot */
    /* Cluster members (harness_cluster.h): when conf_path is set the node is started with
     * --config conf_path --node-id node_id, and with --format once when format_next is set. */
    char conf_path[300];
    uint32_t node_id;
    bool format_next;
} ldh_node;

/* Creates the temp directory and picks two free ports (requests, event publishing); does not
 * start the node. */
void ldh_node_init(ldh_node *node, uint32_t payment_slow_ms);
/* Starts (or restarts, same dir and ports) the node and waits for its ready line (deadline
 * LDH_START_TIMEOUT_MS). Passes --publish pub_url when the node binary knows the option (its
 * --help mentions it), so that nodes running side by side never share the default publish
 * port. Asserts on failure, printing the node's log. */
void ldh_node_start(ldh_node *node);
/* init + start. */
void ldh_node_spawn(ldh_node *node, uint32_t payment_slow_ms);
/* kill -9 and reap. Returns the waitpid status. Asserts the node was running and died by
 * SIGKILL (not earlier of its own accord). */
int ldh_node_kill9(ldh_node *node);
/* Sends SIGTERM only (the caller waits with ldh_node_wait_exit). */
void ldh_node_sigterm(ldh_node *node);
/* Waits up to timeout_ms for the node to exit; true and *status_out (waitpid status) if it did.
 * Thread: any. */
bool ldh_node_wait_exit(ldh_node *node, int64_t timeout_ms, int *status_out);
/* SIGTERM, wait up to timeout_ms, assert a clean exit 0. */
void ldh_node_stop(ldh_node *node, int64_t timeout_ms);
/* True if the process is still running (not exited). Thread: main. */
bool ldh_node_alive(ldh_node *node);
/* Stops the node if running (kill -9), removes its directory, unregisters it. Call at the end of
 * a test that passed. */
void ldh_node_destroy(ldh_node *node);
/* Prints the last `bytes` of the node's log to stderr. Thread: any. */
void ldh_node_print_log(const ldh_node *node, size_t bytes);

/* Suite fini: kills every registered node that is still running and prints where its log and
 * data were kept. Use as TestSuite(name, .fini = ldh_suite_fini). */
void ldh_suite_fini(void);

#define LDH_START_TIMEOUT_MS 30000
#define LDH_STOP_TIMEOUT_MS 30000

/* A free loopback TCP port (bound then released; the OS does not hand it out again at once). */
uint16_t ldh_free_port(void);

/* ---- clients ------------------------------------------------------------------------------ */

/* Opens a client to `node` (asserted). timeout_ms 0: the library default. */
ld_client *ldh_client(const ldh_node *node, uint32_t timeout_ms);
/* Same, without assertions: NULL on failure. Thread: any. */
ld_client *ldh_client_try(const char *url, uint32_t timeout_ms, uint32_t inflight_max);

/* Fills a spec for a drop that is live now: starts_at = now - 1 s, ends_at = now + 1 h, random
 * ids, title "integration drop", 1999 EUR. ttl_ms 0: the default TTL. */
void ldh_drop_spec_live(ld_drop_spec *spec, int64_t stock, int64_t max_per_user, int64_t ttl_ms);
/* Creates it (asserts LD_OK) and returns the created drop in *out (may be NULL). */
void ldh_drop_create(ld_client *client, const ld_drop_spec *spec, ld_drop *out);
/* spec_live + create. */
void ldh_drop_create_live(ld_client *client, ld_drop_spec *spec_out, int64_t stock,
                          int64_t max_per_user, int64_t ttl_ms);
/* Reads a drop (asserts LD_OK). */
void ldh_drop_get(ld_client *client, const ld_id *drop_id, ld_drop *out);
/* Asserts P1 on one drop: available + reserved + sold == initial_stock, each >= 0. */
void ldh_assert_stock(const ld_drop *drop);

/* ---- the CLI ------------------------------------------------------------------------------ */

typedef struct ldh_cli {
    int status; /* exit code, or 128 + signal, or -1 if it did not finish in time */
    char *out;  /* stdout, NUL-terminated, owned (freed by ldh_cli_free) */
    size_t out_len;
    char *err; /* stderr, NUL-terminated, owned */
    size_t err_len;
} ldh_cli;

/* Runs $LD_CLI_BIN with argv (NULL-terminated, without argv[0]), waits up to timeout_ms.
 * Thread: main. */
void ldh_cli_run(ldh_cli *res, int64_t timeout_ms, const char *const *argv);
/* The same for any program `bin` (e.g. ldh_node_bin(), for a node that must refuse to start). */
void ldh_prog_run(ldh_cli *res, int64_t timeout_ms, const char *bin, const char *const *argv);
void ldh_cli_free(ldh_cli *res);

/* $LD_NODE_BIN / $LD_CLI_BIN (asserted present). */
const char *ldh_node_bin(void);
const char *ldh_cli_bin(void);
/* True if `$LD_NODE_BIN --help` lists --publish (asked once, then cached). Thread: main. */
bool ldh_node_has_publish(void);

/* ---- raw frames --------------------------------------------------------------------------- */

/* A raw NNG req0 socket dialled to url, RECVMAXSZ 4 MiB, receive timeout recv_timeout_ms.
 * Returns the socket id (as uint32_t) or 0 on failure. Thread: any. */
uint32_t ldh_raw_open(const char *url, int32_t recv_timeout_ms);
/* Sends frame and waits for the reply. Returns 0 and an owned reply (free()) or an NNG error
 * number. Thread: any (one caller per socket). */
int ldh_raw_call(uint32_t sock, const void *frame, size_t len, void **reply_out,
                 size_t *reply_len_out);
/* Closes the socket -- unless its last request got no reply: closing it as the late reply
 * arrives can hang NNG 1.5.2 (nng #616), so it is left open until the process exits. */
void ldh_raw_close(uint32_t sock);
/* Plain TCP to the node's port, below NNG: for frames NNG itself would not send or survive.
 * ldh_tcp_connect: connected fd or -1. ldh_tcp_sp_connect: also does the SP handshake as a
 * req0 peer (and checks the node answers as rep0). Thread: any. */
int ldh_tcp_connect(uint16_t port, int64_t timeout_ms);
int ldh_tcp_sp_connect(uint16_t port, int64_t timeout_ms);
bool ldh_tcp_send_all(int fd, const void *buf, size_t len);
/* Sends the SP length header of a frame of `len` bytes (and nothing else). */
bool ldh_tcp_send_frame_header(int fd, uint64_t len);
/* Writes up to `fill_bytes` of filler (ignoring write errors), then waits up to timeout_ms for
 * the peer to close: true if it did (EOF or reset). */
bool ldh_tcp_wait_closed(int fd, size_t fill_bytes, int64_t timeout_ms);
void ldh_tcp_close(int fd);

/* nng_strerror. Thread: any. */
const char *ldh_raw_strerror(int rv);

#endif /* LD_TESTS_HARNESS_H */
