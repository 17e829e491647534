/*
 * harness.c -- real livedrop-node processes, clients and the CLI for the integration suites.
 *
 * See harness.h. Children are started with fork + exec from the test's main thread only, with
 * PR_SET_PDEATHSIG(SIGKILL) so that a crashed test process takes its nodes with it; a normal exit
 * (pass or fail) kills them from ldh_suite_fini or the atexit handler.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#define LDH_READY_PREFIX "livedrop-node: listening on "
#define LDH_NODES_MAX 16

/* ---- time and randomness ------------------------------------------------------------------ */

int64_t
ldh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ldh_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
ldh_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

uint64_t
ldh_seed(void)
{
    static uint64_t seed;
    static bool have;
    if (have)
        return seed;
    const char *env = getenv("LD_TEST_SEED");
    if (env && *env) {
        seed = strtoull(env, NULL, 0);
    } else {
        cr_assert_eq(getrandom(&seed, sizeof seed, 0), (ssize_t)sizeof seed);
    }
    have = true;
    cr_log_info("LD_TEST_SEED=%llu (set it to replay this run)", (unsigned long long)seed);
    return seed;
}

void
ldh_rng_init(ldh_rng *rng, uint64_t seed)
{
    /* splitmix64 so that nearby seeds give unrelated streams; never zero. */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    rng->s = z ? z : 1;
}

uint64_t
ldh_rand(ldh_rng *rng)
{
    uint64_t x = rng->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

int64_t
ldh_rand_range(ldh_rng *rng, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(ldh_rand(rng) % (uint64_t)(hi - lo + 1));
}

ld_id
ldh_id(void)
{
    ld_id id;
    if (ld_id_random(&id) != LD_OK) {
        fprintf(stderr, "harness: ld_id_random failed\n");
        abort();
    }
    return id;
}

void
ldh_key(ldh_rng *rng, const char *prefix, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s-%016llx", prefix, (unsigned long long)ldh_rand(rng));
}

bool
ldh_id_eq(const ld_id *a, const ld_id *b)
{
    return memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

bool
ldh_id_zero(const ld_id *id)
{
    static const ld_id zero;
    return ldh_id_eq(id, &zero);
}

const char *
ldh_hex(const ld_id *id)
{
    static _Thread_local char buf[4][33];
    static _Thread_local int next;
    char *b = buf[next++ & 3];
    ld_id_format(id, b);
    return b;
}

/* ---- the node registry -------------------------------------------------------------------- */

/* Copies, not pointers: a failed cr_assert leaves the test function (and an ldh_node on its
 * stack) before the suite fini runs. */
typedef struct registry_entry {
    bool used;
    pid_t pid;
    char url[64];
    char root[256];
    char log_path[300];
} registry_entry;

static registry_entry registry[LDH_NODES_MAX];
static bool atexit_installed;

static void
print_log_file(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)bytes ? size - (long)bytes : 0;
    fseek(f, from, SEEK_SET);
    fprintf(stderr, "---- %s (last %ld bytes) ----\n", path, size - from);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of node log ----\n");
    fclose(f);
}

static void
registry_kill_all(bool report)
{
    for (int i = 0; i < LDH_NODES_MAX; i++) {
        registry_entry *e = &registry[i];
        if (!e->used)
            continue;
        if (e->pid > 0) {
            kill(e->pid, SIGKILL);
            waitpid(e->pid, NULL, 0);
            e->pid = 0;
        }
        if (report) {
            fprintf(stderr, "harness: node %s kept its directory %s\n", e->url, e->root);
            print_log_file(e->log_path, 3000);
        }
        e->used = false;
    }
}

static void
registry_atexit(void)
{
    registry_kill_all(false);
}

static int
registry_add(const ldh_node *node)
{
    if (!atexit_installed) {
        atexit(registry_atexit);
        atexit_installed = true;
    }
    for (int i = 0; i < LDH_NODES_MAX; i++) {
        registry_entry *e = &registry[i];
        if (!e->used) {
            memset(e, 0, sizeof *e);
            e->used = true;
            snprintf(e->url, sizeof e->url, "%s", node->url);
            snprintf(e->root, sizeof e->root, "%s", node->root);
            snprintf(e->log_path, sizeof e->log_path, "%s", node->log_path);
            return i;
        }
    }
    cr_assert_fail("harness: more than %d nodes in one test", LDH_NODES_MAX);
    return -1;
}

static void
registry_set_pid(const ldh_node *node, pid_t pid)
{
    if (node->reg >= 0 && node->reg < LDH_NODES_MAX)
        registry[node->reg].pid = pid;
}

static void
registry_remove(ldh_node *node)
{
    if (node->reg >= 0 && node->reg < LDH_NODES_MAX)
        registry[node->reg].used = false;
    node->reg = -1;
}

/* CLI output buffers not yet freed by ldh_cli_free(): a failed cr_assert skips the free, and
 * the suite fini releases them so that LeakSanitizer reports only real leaks. */
#define LDH_CLI_BUFS_MAX 64
static char *cli_bufs[LDH_CLI_BUFS_MAX];

static void
cli_bufs_track(char *buf, char *old)
{
    for (int i = 0; i < LDH_CLI_BUFS_MAX; i++) {
        if (cli_bufs[i] == old) {
            cli_bufs[i] = buf;
            return;
        }
    }
}

void
ldh_suite_fini(void)
{
    registry_kill_all(true);
    for (int i = 0; i < LDH_CLI_BUFS_MAX; i++) {
        free(cli_bufs[i]);
        cli_bufs[i] = NULL;
    }
}

/* ---- nodes -------------------------------------------------------------------------------- */

const char *
ldh_node_bin(void)
{
    const char *bin = getenv("LD_NODE_BIN");
    cr_assert(bin && *bin, "LD_NODE_BIN is not set (run through ctest)");
    return bin;
}

const char *
ldh_cli_bin(void)
{
    const char *bin = getenv("LD_CLI_BIN");
    cr_assert(bin && *bin, "LD_CLI_BIN is not set (run through ctest)");
    return bin;
}

bool
ldh_node_has_publish(void)
{
    static int known = -1;
    if (known >= 0)
        return known == 1;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' --help 2>/dev/null", ldh_node_bin());
    fflush(NULL);
    FILE *p = popen(cmd, "r");
    cr_assert(p, "popen %s --help: %s", ldh_node_bin(), strerror(errno));
    char line[512];
    known = 0;
    while (fgets(line, sizeof line, p))
        if (strstr(line, "--publish"))
            known = 1;
    pclose(p);
    return known == 1;
}

/* The environment for the nodes and CLIs this process starts: its own without LSAN_OPTIONS.
 * The integration test executables run with an LSan suppression for NNG's internals
 * (tests/integration/lsan-nng.supp, set by tests/CMakeLists.txt); the programs under test keep
 * LeakSanitizer's full checking. Built before fork (the child may only exec). */
static char *const *
child_env(void)
{
    extern char **environ;
    static char **env;
    if (env != NULL)
        return env;
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    env = calloc(n + 1, sizeof *env);
    cr_assert(env != NULL);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LSAN_OPTIONS=", 13) != 0)
            env[k++] = environ[i];
    env[k] = NULL;
    return env;
}

/* Is `port` free on 127.0.0.1 right now? */
static bool
port_bindable(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* A free loopback port BELOW the kernel's ephemeral range (ip_local_port_range), picked at
 * random and checked by a bind. A port from the ephemeral range (what bind to port 0 gives) can
 * be taken between the check and the node's own bind, or while a killed node is down, by any
 * outgoing connection on the machine -- the restarted node then fails with "Address in use"
 * (seen under load, with other test processes dialing). Falls back to port 0 when the range
 * leaves no room below it. */
uint16_t
ldh_free_port(void)
{
    /* The last ports given out in this process are not given again: a node that has not bound
     * its port yet must not share it with the next one. */
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint16_t recent[64];
    static unsigned nrecent;
    static uint64_t state;
    unsigned lo = 32768; /* the low end of the ephemeral range */
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%u", &lo) != 1)
            lo = 32768;
        fclose(f);
    }
    const unsigned base = 20000;
    if (lo > base + 1000) {
        pthread_mutex_lock(&mu);
        if (state == 0)
            state = ((uint64_t)getpid() << 32) ^ (uint64_t)ldh_mono_ms() ^ 0x9E3779B97F4A7C15ull;
        for (int tries = 0; tries < 1000; tries++) {
            state ^= state << 13; /* xorshift64 */
            state ^= state >> 7;
            state ^= state << 17;
            uint16_t port = (uint16_t)(base + state % (lo - base));
            bool seen = false;
            for (unsigned i = 0; i < nrecent && i < 64; i++)
                seen = seen || recent[i] == port;
            if (!seen && port_bindable(port)) {
                recent[nrecent++ % 64] = port;
                pthread_mutex_unlock(&mu);
                return port;
            }
        }
        pthread_mutex_unlock(&mu);
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "bind: %s", strerror(errno));
    socklen_t len = sizeof sa;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

void
ldh_node_init(ldh_node *node, uint32_t payment_slow_ms)
{
    memset(node, 0, sizeof *node);
    node->stdout_fd = -1;
    node->payment_slow_ms = payment_slow_ms;
    const char *tmp = getenv("TMPDIR");
    snprintf(node->root, sizeof node->root, "%s/ld-integ-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert(mkdtemp(node->root), "mkdtemp: %s", strerror(errno));
    snprintf(node->data_dir, sizeof node->data_dir, "%s/data", node->root);
    snprintf(node->log_path, sizeof node->log_path, "%s/node.log", node->root);
    cr_assert_eq(mkdir(node->data_dir, 0700), 0, "mkdir %s: %s", node->data_dir, strerror(errno));
    node->port = ldh_free_port();
    snprintf(node->url, sizeof node->url, "tcp://127.0.0.1:%u", (unsigned)node->port);
    do {
        node->pub_port = ldh_free_port();
    } while (node->pub_port == node->port);
    snprintf(node->pub_url, sizeof node->pub_url, "tcp://127.0.0.1:%u", (unsigned)node->pub_port);
    node->reg = registry_add(node);
}

void
ldh_node_print_log(const ldh_node *node, size_t bytes)
{
    print_log_file(node->log_path, bytes);
}

/* Reads the node's stdout until the ready line, EOF or the deadline. Returns true on the ready
 * line; line_out receives what was read (for the failure message). */
static bool
wait_ready(ldh_node *node, int64_t deadline_ms, char *line, size_t line_size)
{
    size_t len = 0;
    line[0] = '\0';
    for (;;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
            if (strncmp(line, LDH_READY_PREFIX, strlen(LDH_READY_PREFIX)) == 0)
                return true;
            /* Some other line first: drop it and keep reading. */
            size_t rest = len - (size_t)(nl + 1 - line);
            memmove(line, nl + 1, rest + 1);
            len = rest;
            continue;
        }
        int64_t left = deadline_ms - ldh_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = node->stdout_fd, .events = POLLIN};
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return false;
        if (len + 1 >= line_size)
            return false;
        ssize_t n = read(node->stdout_fd, line + len, line_size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false; /* EOF: the node exited */
        len += (size_t)n;
        line[len] = '\0';
    }
}

void
ldh_node_start(ldh_node *node)
{
    cr_assert_eq(node->pid, 0, "node %s is already running", node->url);
    const char *bin = ldh_node_bin();
    char slow[32], node_id[16];
    const char *argv[20];
    int argc = 0;
    argv[argc++] = bin;
    argv[argc++] = "--listen";
    argv[argc++] = node->url;
    argv[argc++] = "--data";
    argv[argc++] = node->data_dir;
    if (ldh_node_has_publish()) {
        argv[argc++] = "--publish";
        argv[argc++] = node->pub_url;
    }
    if (node->payment_slow_ms) {
        snprintf(slow, sizeof slow, "%u", node->payment_slow_ms);
        argv[argc++] = "--payment-slow-ms";
        argv[argc++] = slow;
    }
    if (node->conf_path[0]) {
        snprintf(node_id, sizeof node_id, "%u", node->node_id);
        argv[argc++] = "--config";
        argv[argc++] = node->conf_path;
        argv[argc++] = "--node-id";
        argv[argc++] = node_id;
        if (node->format_next)
            argv[argc++] = "--format";
        node->format_next = false;
    }
    argv[argc] = NULL;

    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
    int log_fd = open(node->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cr_assert_geq(log_fd, 0, "open %s: %s", node->log_path, strerror(errno));
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(null_fd, 0);
    char banner[128];
    int banner_len = snprintf(banner, sizeof banner, "==== harness: start #%d of %s ====\n",
                              node->starts + 1, node->url);
    if (write(log_fd, banner, (size_t)banner_len) < 0) {
        /* the log is a diagnostic only */
    }
    char *const *env = child_env();
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Child: async-signal-safe calls only until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(null_fd, 0);
        dup2(fds[1], 1);
        dup2(log_fd, 2);
        execve(bin, (char *const *)argv, env);
        _exit(127);
    }
    close(fds[1]);
    close(log_fd);
    close(null_fd);
    node->pid = pid;
    node->stdout_fd = fds[0];
    node->starts++;
    registry_set_pid(node, pid);

    char line[1024];
    bool ready = wait_ready(node, ldh_mono_ms() + LDH_START_TIMEOUT_MS, line, sizeof line);
    if (!ready) {
        int status = 0;
        bool exited = ldh_node_wait_exit(node, 0, &status);
        ldh_node_print_log(node, 6000);
        cr_assert_fail("node %s did not print its ready line within %d ms (%s; stdout: \"%s\")",
                       node->url, LDH_START_TIMEOUT_MS, exited ? "it exited" : "still running",
                       line);
    }
    const char *url = line + strlen(LDH_READY_PREFIX);
    cr_assert_str_eq(url, node->url, "node announced \"%s\", expected \"%s\"", url, node->url);
}

void
ldh_node_spawn(ldh_node *node, uint32_t payment_slow_ms)
{
    ldh_node_init(node, payment_slow_ms);
    ldh_node_start(node);
}

static void
node_reaped(ldh_node *node)
{
    node->pid = 0;
    registry_set_pid(node, 0);
    if (node->stdout_fd >= 0) {
        close(node->stdout_fd);
        node->stdout_fd = -1;
    }
}

bool
ldh_node_wait_exit(ldh_node *node, int64_t timeout_ms, int *status_out)
{
    if (node->pid <= 0)
        return false;
    int64_t deadline = ldh_mono_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(node->pid, &status, WNOHANG);
        if (r == node->pid) {
            node_reaped(node);
            if (status_out)
                *status_out = status;
            return true;
        }
        if (r < 0 && errno != EINTR)
            return false;
        if (ldh_mono_ms() >= deadline)
            return false;
        ldh_sleep_ms(5);
    }
}

bool
ldh_node_alive(ldh_node *node)
{
    if (node->pid <= 0)
        return false;
    int status;
    pid_t r = waitpid(node->pid, &status, WNOHANG);
    if (r == node->pid) {
        node_reaped(node);
        fprintf(stderr, "harness: node %s exited unexpectedly (status 0x%x)\n", node->url, status);
        ldh_node_print_log(node, 4000);
        return false;
    }
    return true;
}

int
ldh_node_kill9(ldh_node *node)
{
    cr_assert_gt(node->pid, 0, "kill -9: node %s is not running", node->url);
    pid_t pid = node->pid;
    cr_assert_eq(kill(pid, SIGKILL), 0, "kill: %s", strerror(errno));
    int status = 0;
    bool exited = ldh_node_wait_exit(node, LDH_STOP_TIMEOUT_MS, &status);
    cr_assert(exited, "node %s (pid %d) did not die from SIGKILL", node->url, (int)pid);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
        ldh_node_print_log(node, 4000);
        cr_assert_fail("node %s had already exited on its own before kill -9 (status 0x%x)",
                       node->url, status);
    }
    return status;
}

void
ldh_node_sigterm(ldh_node *node)
{
    cr_assert_gt(node->pid, 0, "SIGTERM: node %s is not running", node->url);
    cr_assert_eq(kill(node->pid, SIGTERM), 0, "kill: %s", strerror(errno));
}

void
ldh_node_stop(ldh_node *node, int64_t timeout_ms)
{
    ldh_node_sigterm(node);
    int status = 0;
    pid_t pid = node->pid;
    bool exited = ldh_node_wait_exit(node, timeout_ms, &status);
    if (!exited) {
        ldh_node_print_log(node, 4000);
        cr_assert_fail("node %s (pid %d) did not exit within %lld ms of SIGTERM", node->url,
                       (int)pid, (long long)timeout_ms);
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        ldh_node_print_log(node, 4000);
        cr_assert_fail("node %s did not exit 0 after SIGTERM: %s %d", node->url,
                       WIFEXITED(status) ? "exit code" : "signal",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
ldh_node_destroy(ldh_node *node)
{
    if (node->pid > 0) {
        kill(node->pid, SIGKILL);
        waitpid(node->pid, NULL, 0);
        node_reaped(node);
    }
    if (node->root[0])
        nftw(node->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    registry_remove(node);
}

/* ---- clients ------------------------------------------------------------------------------ */

ld_client *
ldh_client_try(const char *url, uint32_t timeout_ms, uint32_t inflight_max)
{
    ld_client_opts opts = {.timeout_ms = timeout_ms, .inflight_max = inflight_max};
    ld_client *client = NULL;
    if (ld_client_open(url, &opts, &client) != LD_OK)
        return NULL;
    return client;
}

ld_client *
ldh_client(const ldh_node *node, uint32_t timeout_ms)
{
    ld_client *client = ldh_client_try(node->url, timeout_ms, 0);
    cr_assert(client, "ld_client_open(%s) failed", node->url);
    return client;
}

void
ldh_drop_spec_live(ld_drop_spec *spec, int64_t stock, int64_t max_per_user, int64_t ttl_ms)
{
    memset(spec, 0, sizeof *spec);
    spec->id = ldh_id();
    spec->product.creator_id = ldh_id();
    snprintf(spec->product.title, sizeof spec->product.title, "integration drop");
    spec->product.price_minor = 1999;
    memcpy(spec->product.currency, "EUR", 4);
    spec->product.tags_count = 1;
    snprintf(spec->product.tags[0], sizeof spec->product.tags[0], "integ");
    int64_t now = ldh_now_ms();
    spec->starts_at_ms = now - 1000;
    spec->ends_at_ms = now + 3600 * 1000;
    spec->initial_stock = stock;
    spec->low_stock_threshold = 0;
    spec->max_per_user = max_per_user;
    spec->reservation_ttl_ms = ttl_ms;
}

void
ldh_drop_create(ld_client *client, const ld_drop_spec *spec, ld_drop *out)
{
    ld_drop drop;
    ld_errmsg msg = {{0}};
    ld_err err = ld_drop_create(client, spec, &drop, &msg);
    cr_assert_eq(err, LD_OK, "ld_drop_create: %s (%s)", ld_err_name(err), msg.text);
    cr_assert(ldh_id_eq(&drop.spec.id, &spec->id), "created drop has another id");
    cr_assert_eq(drop.stock.available, spec->initial_stock);
    cr_assert_eq(drop.stock.reserved, 0);
    cr_assert_eq(drop.stock.sold, 0);
    if (out)
        *out = drop;
}

void
ldh_drop_create_live(ld_client *client, ld_drop_spec *spec_out, int64_t stock, int64_t max_per_user,
                     int64_t ttl_ms)
{
    ldh_drop_spec_live(spec_out, stock, max_per_user, ttl_ms);
    ld_drop drop;
    ldh_drop_create(client, spec_out, &drop);
    cr_assert_eq(drop.status, LD_DROP_LIVE, "a drop that started 1 s ago is not LIVE: %d",
                 (int)drop.status);
}

void
ldh_drop_get(ld_client *client, const ld_id *drop_id, ld_drop *out)
{
    ld_errmsg msg = {{0}};
    ld_err err = ld_drop_get(client, drop_id, out, &msg);
    cr_assert_eq(err, LD_OK, "ld_drop_get(%s): %s (%s)", ldh_hex(drop_id), ld_err_name(err),
                 msg.text);
}

void
ldh_assert_stock(const ld_drop *drop)
{
    const ld_stock *s = &drop->stock;
    cr_assert_geq(s->available, 0, "available %lld < 0", (long long)s->available);
    cr_assert_geq(s->reserved, 0, "reserved %lld < 0", (long long)s->reserved);
    cr_assert_geq(s->sold, 0, "sold %lld < 0", (long long)s->sold);
    cr_assert_eq(s->available + s->reserved + s->sold, drop->spec.initial_stock,
                 "P1 broken: available %lld + reserved %lld + sold %lld != initial %lld",
                 (long long)s->available, (long long)s->reserved, (long long)s->sold,
                 (long long)drop->spec.initial_stock);
}

/* ---- the CLI ------------------------------------------------------------------------------ */

static void
buf_append(char **buf, size_t *len, size_t *cap, const char *data, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = *cap ? *cap : 4096;
        while (ncap < *len + n + 1)
            ncap *= 2;
        *buf = realloc(*buf, ncap);
        cr_assert(*buf);
        *cap = ncap;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

static void cli_run(ldh_cli *res, int64_t timeout_ms, const char *bin, const char *const *args);
static void cli_track(ldh_cli *res);

void
ldh_cli_run(ldh_cli *res, int64_t timeout_ms, const char *const *args)
{
    cli_run(res, timeout_ms, ldh_cli_bin(), args);
    cli_track(res);
}

void
ldh_prog_run(ldh_cli *res, int64_t timeout_ms, const char *bin, const char *const *args)
{
    cli_run(res, timeout_ms, bin, args);
    cli_track(res);
}

static void
cli_run(ldh_cli *res, int64_t timeout_ms, const char *bin, const char *const *args)
{
    memset(res, 0, sizeof *res);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = bin;
    for (int i = 0; args[i]; i++) {
        cr_assert_lt(argc, 63);
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;

    int out_fds[2], err_fds[2];
    cr_assert_eq(pipe2(out_fds, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(err_fds, O_CLOEXEC), 0);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(null_fd, 0);
    char *const *env = child_env();
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(null_fd, 0);
        dup2(out_fds[1], 1);
        dup2(err_fds[1], 2);
        execve(bin, (char *const *)argv, env);
        _exit(127);
    }
    close(out_fds[1]);
    close(err_fds[1]);
    close(null_fd);

    size_t out_cap = 0, err_cap = 0;
    buf_append(&res->out, &res->out_len, &out_cap, "", 0);
    buf_append(&res->err, &res->err_len, &err_cap, "", 0);
    int64_t deadline = ldh_mono_ms() + timeout_ms;
    bool out_open = true, err_open = true;
    bool timed_out = false;
    while (out_open || err_open) {
        struct pollfd pfd[2] = {{.fd = out_open ? out_fds[0] : -1, .events = POLLIN},
                                {.fd = err_open ? err_fds[0] : -1, .events = POLLIN}};
        int64_t left = deadline - ldh_mono_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        int rc = poll(pfd, 2, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0) {
            timed_out = true;
            break;
        }
        char buf[4096];
        for (int i = 0; i < 2; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(pfd[i].fd, buf, sizeof buf);
            if (n <= 0) {
                if (i == 0)
                    out_open = false;
                else
                    err_open = false;
            } else if (i == 0) {
                buf_append(&res->out, &res->out_len, &out_cap, buf, (size_t)n);
            } else {
                buf_append(&res->err, &res->err_len, &err_cap, buf, (size_t)n);
            }
        }
    }
    close(out_fds[0]);
    close(err_fds[0]);
    int status = 0;
    if (timed_out) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        res->status = -1;
        return;
    }
    /* Both pipes closed: the process is exiting; give it the rest of the deadline. */
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (ldh_mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            res->status = -1;
            return;
        }
        ldh_sleep_ms(2);
    }
    res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Registers the result's buffers until ldh_cli_free(). */
static void
cli_track(ldh_cli *res)
{
    cli_bufs_track(res->out, NULL);
    cli_bufs_track(res->err, NULL);
}

void
ldh_cli_free(ldh_cli *res)
{
    cli_bufs_track(NULL, res->out);
    cli_bufs_track(NULL, res->err);
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof *res);
}

/* ---- raw frames --------------------------------------------------------------------------- */

uint32_t
ldh_raw_open(const char *url, int32_t recv_timeout_ms)
{
    nng_socket sock;
    if (nng_req0_open(&sock) != 0)
        return 0;
    if (nng_setopt_size(sock, NNG_OPT_RECVMAXSZ, 4u << 20) != 0 ||
        nng_setopt_ms(sock, NNG_OPT_RECVTIMEO, recv_timeout_ms) != 0 ||
        nng_setopt_ms(sock, NNG_OPT_SENDTIMEO, recv_timeout_ms) != 0 ||
        nng_dial(sock, url, NULL, 0) != 0) {
        nng_close(sock);
        return 0;
    }
    return nng_socket_id(sock);
}

/* Raw sockets whose last request got no reply (a timeout): its reply may still arrive, and
 * NNG 1.5.2 can hang forever closing a socket while a message arrives on it (nng #616,
 * client-lib/lib/closer.c) -- and then every later close of the process, criterion's own at the
 * end of the test included. ldh_raw_close() leaves such a socket open until the process exits
 * (NNG drops the late reply); a socket whose requests were all answered has nothing in flight
 * and is closed. Guarded by raw_mu. */
#define RAW_UNANSWERED_MAX 1024
static pthread_mutex_t raw_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t raw_unanswered[RAW_UNANSWERED_MAX];
static size_t raw_unanswered_n;

/* Marks socket `id` as waiting for a reply (or not). */
static void
raw_mark(uint32_t id, bool waiting)
{
    pthread_mutex_lock(&raw_mu);
    size_t i = 0;
    while (i < raw_unanswered_n && raw_unanswered[i] != id)
        i++;
    if (waiting && i == raw_unanswered_n && raw_unanswered_n < RAW_UNANSWERED_MAX)
        raw_unanswered[raw_unanswered_n++] = id;
    if (!waiting && i < raw_unanswered_n)
        raw_unanswered[i] = raw_unanswered[--raw_unanswered_n];
    pthread_mutex_unlock(&raw_mu);
}

static bool
raw_waiting(uint32_t id)
{
    pthread_mutex_lock(&raw_mu);
    bool found = false;
    for (size_t i = 0; i < raw_unanswered_n && !found; i++)
        found = raw_unanswered[i] == id;
    pthread_mutex_unlock(&raw_mu);
    return found;
}

int
ldh_raw_call(uint32_t id, const void *frame, size_t len, void **reply_out, size_t *reply_len_out)
{
    nng_socket sock = {.id = id};
    *reply_out = NULL;
    *reply_len_out = 0;
    raw_mark(id, true); /* from the send on, a reply may come */
    int rv = nng_send(sock, (void *)frame, len, 0);
    if (rv != 0)
        return rv;
    char *buf = NULL;
    size_t n = 0;
    rv = nng_recv(sock, &buf, &n, NNG_FLAG_ALLOC);
    if (rv != 0)
        return rv;
    raw_mark(id, false);
    void *copy = malloc(n ? n : 1);
    if (!copy) {
        nng_free(buf, n);
        return NNG_ENOMEM;
    }
    memcpy(copy, buf, n);
    nng_free(buf, n);
    *reply_out = copy;
    *reply_len_out = n;
    return 0;
}

void
ldh_raw_close(uint32_t id)
{
    if (raw_waiting(id))
        return; /* a late reply may be on its way: left open (see raw_unanswered) */
    nng_socket sock = {.id = id};
    nng_close(sock);
}

const char *
ldh_raw_strerror(int rv)
{
    return nng_strerror(rv);
}

/* ---- plain TCP ---------------------------------------------------------------------------- */

int
ldh_tcp_connect(uint16_t port, int64_t timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool
ldh_tcp_send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

int
ldh_tcp_sp_connect(uint16_t port, int64_t timeout_ms)
{
    int fd = ldh_tcp_connect(port, timeout_ms);
    if (fd < 0)
        return -1;
    /* SP over TCP: 0x00 'S' 'P' version 0, protocol id (req0 = 0x30) big-endian, 2 reserved. */
    static const uint8_t hello[8] = {0x00, 'S', 'P', 0x00, 0x00, 0x30, 0x00, 0x00};
    uint8_t peer[8];
    size_t got = 0;
    if (!ldh_tcp_send_all(fd, hello, sizeof hello))
        goto fail;
    while (got < sizeof peer) {
        ssize_t n = recv(fd, peer + got, sizeof peer - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail;
        got += (size_t)n;
    }
    if (peer[0] != 0x00 || peer[1] != 'S' || peer[2] != 'P' || peer[4] != 0x00 || peer[5] != 0x31)
        goto fail; /* not a rep0 peer */
    return fd;
fail:
    close(fd);
    return -1;
}

bool
ldh_tcp_send_frame_header(int fd, uint64_t len)
{
    uint8_t hdr[8];
    for (int i = 0; i < 8; i++)
        hdr[i] = (uint8_t)(len >> (56 - 8 * i));
    return ldh_tcp_send_all(fd, hdr, sizeof hdr);
}

bool
ldh_tcp_wait_closed(int fd, size_t fill_bytes, int64_t timeout_ms)
{
    static uint8_t filler[4096];
    memset(filler, 0xab, sizeof filler);
    for (size_t sent = 0; sent < fill_bytes; sent += sizeof filler) {
        ssize_t n = send(fd, filler, sizeof filler, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n <= 0)
            break; /* closed, reset or a full buffer: enough either way */
    }
    int64_t deadline = ldh_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - ldh_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return false;
        uint8_t buf[512];
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return true; /* EOF or reset */
        /* Data (e.g. a reply): keep waiting for the close. */
    }
}

void
ldh_tcp_close(int fd)
{
    if (fd >= 0)
        close(fd);
}
