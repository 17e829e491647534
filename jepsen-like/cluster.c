/*
 * cluster.c -- see cluster.h.
 */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chaos.h"
#include "history.h"

#define READY_PREFIX "livedrop-node: listening on "

/* True if 127.0.0.1:port can be bound now. */
static bool
port_bindable(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* A free loopback port that none of the `n` ports in used[] is, or 0. Drawn at random from
 * 20000 up to the start of the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range), as
 * tests/integration/harness.c does: a port of the ephemeral range can be taken by any outgoing
 * connection while a killed node is down, and its restart would fail with "Address in use". */
static uint16_t
fresh_port(uint16_t *used, int n)
{
    static uint64_t state;
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2)
            lo = 32768;
        fclose(f);
    }
    const unsigned base = 20000;
    if (lo <= base + 1000)
        return 0;
    if (state == 0 && getrandom(&state, sizeof state, 0) != (ssize_t)sizeof state)
        state = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL;
    state |= 1;
    for (int tries = 0; tries < 1000; tries++) {
        state ^= state << 13; /* xorshift64 */
        state ^= state >> 7;
        state ^= state << 17;
        uint16_t p = (uint16_t)(base + state % (lo - base));
        bool dup = false;
        for (int i = 0; i < n && !dup; i++)
            dup = used[i] == p;
        if (!dup && port_bindable(p))
            return p;
    }
    return 0;
}

bool
ldc_cluster_init(ldc_cluster *c, const char *dir, const char *node_bin, char *err, size_t err_size)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s", dir);
    snprintf(c->node_bin, sizeof c->node_bin, "%s", node_bin);
    snprintf(c->conf_path, sizeof c->conf_path, "%s/cluster.conf", dir);
    uint16_t used[3 * LDC_NODES];
    int nused = 0;
    for (int i = 0; i < LDC_NODES; i++) {
        ldc_node *n = &c->nodes[i];
        n->id = i + 1;
        n->format_next = true;
        uint16_t *ports[3] = {&n->port, &n->pub_port, &n->peer_port};
        for (int k = 0; k < 3; k++) {
            *ports[k] = fresh_port(used, nused);
            used[nused++] = *ports[k];
        }
        if (!n->port || !n->pub_port || !n->peer_port) {
            snprintf(err, err_size, "no free loopback port below the ephemeral range");
            return false;
        }
        snprintf(n->url, sizeof n->url, "tcp://127.0.0.1:%u", (unsigned)n->port);
        snprintf(n->data_dir, sizeof n->data_dir, "%s/%d", dir, n->id);
        snprintf(n->log_path, sizeof n->log_path, "%s/%d.log", dir, n->id);
        snprintf(n->out_path, sizeof n->out_path, "%s/%d.out", dir, n->id);
        if (mkdir(n->data_dir, 0700) != 0) {
            snprintf(err, err_size, "mkdir %s: %s", n->data_dir, strerror(errno));
            return false;
        }
        size_t off = strlen(c->addrs);
        snprintf(c->addrs + off, sizeof c->addrs - off, "%s%s", i ? "," : "", n->url);
    }
    uint64_t cluster_id;
    if (getrandom(&cluster_id, sizeof cluster_id, 0) != (ssize_t)sizeof cluster_id) {
        snprintf(err, err_size, "getrandom: %s", strerror(errno));
        return false;
    }
    FILE *f = fopen(c->conf_path, "w");
    if (!f) {
        snprintf(err, err_size, "cannot write %s: %s", c->conf_path, strerror(errno));
        return false;
    }
    /* A random cluster id: a node of an earlier run still on a reused port is of another
     * cluster, and its messages are dropped. */
    fprintf(f, "# written by livedrop-chaos\ncluster_id = %llu\n",
            (unsigned long long)((cluster_id >> 1) | 1));
    for (int i = 0; i < LDC_NODES; i++) {
        const ldc_node *n = &c->nodes[i];
        fprintf(f, "replica = %d %s tcp://127.0.0.1:%u tcp://127.0.0.1:%u\n", n->id, n->url,
                (unsigned)n->peer_port, (unsigned)n->pub_port);
    }
    fprintf(f, "payment_slow_ms = %u\nlog_level = info\n", LDC_PAYMENT_SLOW_MS);
    if (fclose(f) != 0) {
        snprintf(err, err_size, "writing %s: %s", c->conf_path, strerror(errno));
        return false;
    }
    for (int i = 0; i < LDC_NODES; i++) {
        ld_client_opts opts = {.timeout_ms = LDC_STATUS_TIMEOUT_MS};
        if (ld_client_open(c->nodes[i].url, &opts, &c->nodes[i].status_client) != LD_OK) {
            snprintf(err, err_size, "ld_client_open %s failed", c->nodes[i].url);
            return false;
        }
    }
    return true;
}

/* True once the node's stdout file holds the ready line. */
static bool
ready_line(const ldc_node *n)
{
    FILE *f = fopen(n->out_path, "r");
    if (!f)
        return false;
    char line[256];
    bool ready = false;
    while (!ready && fgets(line, sizeof line, f))
        ready = strncmp(line, READY_PREFIX, strlen(READY_PREFIX)) == 0;
    fclose(f);
    return ready;
}

bool
ldc_node_start(ldc_cluster *c, int i, char *err, size_t err_size)
{
    ldc_node *n = &c->nodes[i];
    if (n->pid != 0)
        return true;
    char id[16];
    snprintf(id, sizeof id, "%d", n->id);
    const char *argv[12];
    int argc = 0;
    argv[argc++] = c->node_bin;
    argv[argc++] = "--config";
    argv[argc++] = c->conf_path;
    argv[argc++] = "--node-id";
    argv[argc++] = id;
    argv[argc++] = "--data";
    argv[argc++] = n->data_dir;
    if (n->format_next)
        argv[argc++] = "--format";
    argv[argc] = NULL;

    int out_fd = open(n->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int log_fd = open(n->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out_fd < 0 || log_fd < 0 || null_fd < 0) {
        snprintf(err, err_size, "opening %s / %s: %s", n->out_path, n->log_path, strerror(errno));
        goto out_close;
    }
    dprintf(log_fd, "==== livedrop-chaos: start #%d of node %d%s ====\n", n->starts + 1, n->id,
            n->format_next ? " (--format)" : "");
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, err_size, "fork: %s", strerror(errno));
        goto out_close;
    }
    if (pid == 0) {
        /* Child: async-signal-safe calls only until exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(null_fd, 0);
        dup2(out_fd, 1);
        dup2(log_fd, 2);
        execv(c->node_bin, (char *const *)argv);
        _exit(127);
    }
    close(out_fd);
    close(log_fd);
    close(null_fd);
    n->pid = pid;
    n->paused = false;
    n->format_next = false;
    n->starts++;
    int64_t deadline = ldc_mono_ms() + LDC_START_MS;
    while (!ready_line(n)) {
        char why[128];
        if (ldc_node_exited(c, i, why, sizeof why)) {
            snprintf(err, err_size, "node %d %s before its ready line (see %s)", n->id, why,
                     n->log_path);
            return false;
        }
        if (ldc_mono_ms() >= deadline) {
            ldc_node_kill(c, i);
            snprintf(err, err_size, "node %d printed no ready line within %d ms (see %s)", n->id,
                     LDC_START_MS, n->log_path);
            return false;
        }
        ldc_sleep_ms(10);
    }
    return true;
out_close:
    if (out_fd >= 0)
        close(out_fd);
    if (log_fd >= 0)
        close(log_fd);
    if (null_fd >= 0)
        close(null_fd);
    return false;
}

void
ldc_node_kill(ldc_cluster *c, int i)
{
    ldc_node *n = &c->nodes[i];
    if (n->pid == 0)
        return;
    kill(n->pid, SIGKILL);
    while (waitpid(n->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    n->pid = 0;
    n->paused = false;
}

void
ldc_node_pause(ldc_cluster *c, int i)
{
    ldc_node *n = &c->nodes[i];
    LDC_ASSERT(n->pid != 0);
    LDC_ASSERT(!n->paused);
    kill(n->pid, SIGSTOP);
    n->paused = true;
}

void
ldc_node_resume(ldc_cluster *c, int i)
{
    ldc_node *n = &c->nodes[i];
    if (n->pid == 0 || !n->paused)
        return;
    kill(n->pid, SIGCONT);
    n->paused = false;
}

static int
remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    if (ftw->level == 0)
        return 0; /* keep the directory itself */
    return remove(path) == 0 ? 0 : -1;
}

bool
ldc_node_wipe(ldc_cluster *c, int i, char *err, size_t err_size)
{
    ldc_node_kill(c, i);
    if (nftw(c->nodes[i].data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        snprintf(err, err_size, "removing the content of %s: %s", c->nodes[i].data_dir,
                 strerror(errno));
        return false;
    }
    c->nodes[i].format_next = false; /* empty and unformatted: it recovers from the others */
    return true;
}

bool
ldc_node_exited(ldc_cluster *c, int i, char *err, size_t err_size)
{
    ldc_node *n = &c->nodes[i];
    if (n->pid == 0)
        return false;
    int status = 0;
    pid_t r = waitpid(n->pid, &status, WNOHANG);
    if (r != n->pid)
        return false;
    n->pid = 0;
    n->paused = false;
    if (WIFEXITED(status))
        snprintf(err, err_size, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(err, err_size, "died of signal %d", WTERMSIG(status));
    else
        snprintf(err, err_size, "ended (wait status %d)", status);
    return true;
}

ldc_status
ldc_cluster_status(const ldc_cluster *c, int i)
{
    ldc_status st;
    memset(&st, 0, sizeof st);
    const ldc_node *n = &c->nodes[i];
    if (n->pid == 0 || n->paused)
        return st;
    ld_node_status ns;
    if (ld_cluster_status(n->status_client, 0, &ns, NULL) == LD_OK && ns.count >= 1) {
        st.ok = true;
        st.r = ns.replicas[0];
    }
    return st;
}

int
ldc_cluster_primary(const ldc_cluster *c)
{
    ldc_status st[LDC_NODES];
    uint64_t top = 0;
    for (int i = 0; i < LDC_NODES; i++) {
        st[i] = ldc_cluster_status(c, i);
        if (st[i].ok && st[i].r.view > top)
            top = st[i].r.view;
    }
    int primary = -1, primaries = 0;
    for (int i = 0; i < LDC_NODES; i++)
        if (st[i].ok && st[i].r.view == top && st[i].r.role == LD_ROLE_PRIMARY && st[i].r.lease) {
            primary = i;
            primaries++;
        }
    return primaries == 1 ? primary : -1;
}

void
ldc_cluster_stop(ldc_cluster *c)
{
    for (int i = 0; i < LDC_NODES; i++) {
        ldc_node_kill(c, i);
        ld_client_close(c->nodes[i].status_client);
        c->nodes[i].status_client = NULL;
    }
}

static int
remove_all(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

void
ldc_cluster_remove_data(ldc_cluster *c)
{
    for (int i = 0; i < LDC_NODES; i++)
        if (c->nodes[i].pid == 0)
            (void)nftw(c->nodes[i].data_dir, remove_all, 16, FTW_DEPTH | FTW_PHYS);
}
