/*
 * closer.c -- every NNG socket liblivedrop closes (the client's req0 sockets, a subscriber's sub0
 * socket) is closed here, on a thread of its own, and the caller waits for it a bounded time.
 *
 * Why. NNG 1.5.2 (Debian 12) can hang forever in nng_close() when a message arrives on the
 * socket's TCP pipe as it closes (nng issue #616). In NNG's src/sp/transport/tcp/tcp.c, the pipe's
 * receive callback re-issues the read of the message body (or of the rest of a partial read)
 * without looking at the pipe's `closed` flag; when tcptran_pipe_close() has stopped that aio in
 * between, nni_aio_begin() refuses the read WITHOUT running the callback, so the protocol's receive
 * aio, whose cancel function the protocol's pipe_close already consumed, never completes. The
 * reaper thread then waits for it forever in pipe_destroy() -> the protocol's pipe_stop() ->
 * nni_aio_stop(); and as NNG has ONE reaper thread per process, every later nng_close() of the
 * process, on any socket, waits for that reaper too.
 *
 * Seen: integ_test_events' late_subscriber test timed out (120 s) in 3 of 155 runs on the loaded
 * 2-core machine; gdb showed the subscriber's close thread stuck in nng_close(), the reaper in
 * pipe_destroy -> pipe_stop -> nni_task_wait, and the test's main thread in the next close, the
 * client's, in nng_close() -> nni_sock_shutdown() waiting for its pipes (which only the reaper
 * removes). A subscriber receives whatever the node publishes, so its close often races an
 * arriving message; a client's req0 socket does when a reply comes after its caller gave up.
 *
 * Worse, the stuck reaper is the process's: in a criterion test process, criterion's own
 * nng_close() of its report socket then hangs after the test function returned.
 *
 * Two defences, both here:
 *
 *   - Avoid the race: close a connection only once the peer closed it. ldi_pipe_half_close()
 *     shuts down the writing half of a pipe's TCP connection; the node's NNG reads the end of
 *     the stream and closes the connection, and this side's NNG reads everything still in
 *     flight and then the end, and closes the pipe from its own receive path, where there is no
 *     race. Only then does nng_close() run, on a socket without a pipe. ld_subscriber_close()
 *     does this; ld_client_close() does not (yet): its race needs a reply that comes after its
 *     caller gave up, and it relies on the bound alone.
 *   - Bound the close: ldi_close_bounded() gives the caller its thread back after at most
 *     `wait_ms`. A close stuck in NNG leaves its socket, its thread and what the socket's
 *     callbacks may still touch behind (freed by that thread if nng_close() ever returns); it
 *     cannot be unstuck from outside NNG.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"

/* One bounded close. The last of the closing thread and the caller to let go frees it. */
typedef struct closer {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    ldi_close_fn *close_fn;
    ldi_close_fn *free_fn;
    void *arg;
    bool done;      /* close_fn returned */
    bool abandoned; /* the caller stopped waiting: the thread calls free_fn and frees */
} closer;

static void
closer_free(closer *k)
{
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

static void *
closer_main(void *arg)
{
    closer *k = arg;
    k->close_fn(k->arg);
    pthread_mutex_lock(&k->mu);
    k->done = true;
    bool abandoned = k->abandoned;
    pthread_cond_signal(&k->cond);
    pthread_mutex_unlock(&k->mu);
    if (abandoned) {
        k->free_fn(k->arg);
        closer_free(k);
    }
    return NULL;
}

/* Waits until the closer is done or wait_ms passed. Returns true when done; otherwise marks it
 * abandoned (under the same lock, so that the thread sees one or the other). */
static bool
closer_wait(closer *k, uint32_t wait_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&k->mu);
    while (!k->done && pthread_cond_timedwait(&k->cond, &k->mu, &until) != ETIMEDOUT)
        ;
    bool done = k->done;
    k->abandoned = !done;
    pthread_mutex_unlock(&k->mu);
    return done;
}

bool
ldi_close_bounded(ldi_close_fn *close_fn, ldi_close_fn *free_fn, void *arg, uint32_t wait_ms)
{
    LD_ASSERT(close_fn != NULL);
    LD_ASSERT(free_fn != NULL);
    closer *k = calloc(1, sizeof *k);
    if (k == NULL) {
        close_fn(arg); /* no memory for a thread: close here, unbounded */
        return true;
    }
    k->close_fn = close_fn;
    k->free_fn = free_fn;
    k->arg = arg;
    pthread_condattr_t attr;
    pthread_mutex_init(&k->mu, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cond, &attr);
    pthread_condattr_destroy(&attr);
    pthread_t thread;
    if (pthread_create(&thread, NULL, closer_main, k) != 0) {
        closer_free(k);
        close_fn(arg);
        return true;
    }
    if (closer_wait(k, wait_ms)) {
        pthread_join(thread, NULL);
        closer_free(k);
        return true;
    }
    pthread_detach(thread); /* stuck in NNG: it calls free_fn if close_fn ever returns */
    return false;
}

/* True if the NNG address `a` is the socket address `ss` (family, address and port; NNG keeps
 * the port and the IPv4 address in network byte order, as the kernel does). */
static bool
addr_same(const nng_sockaddr *a, const struct sockaddr_storage *ss)
{
    if (a->s_family == NNG_AF_INET && ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        return a->s_in.sa_port == in->sin_port && a->s_in.sa_addr == in->sin_addr.s_addr;
    }
    if (a->s_family == NNG_AF_INET6 && ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        return a->s_in6.sa_port == in6->sin6_port &&
               memcmp(a->s_in6.sa_addr, &in6->sin6_addr, sizeof a->s_in6.sa_addr) == 0;
    }
    return false;
}

bool
ldi_pipe_half_close(nng_pipe pipe)
{
    nng_sockaddr loc, rem;
    if (nng_pipe_get_addr(pipe, NNG_OPT_LOCADDR, &loc) != 0 ||
        nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &rem) != 0)
        return false;
    if (loc.s_family != NNG_AF_INET && loc.s_family != NNG_AF_INET6)
        return false; /* not TCP */
    /* NNG does not tell a pipe's descriptor: find the one with both addresses (a local TCP
     * address and port belong to one connection at a time). */
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return false;
    bool done = false;
    struct dirent *e;
    while (!done && (e = readdir(dir)) != NULL) {
        char *end = NULL;
        long fd = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd == dirfd(dir))
            continue;
        struct stat st;
        if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode))
            continue;
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname((int)fd, (struct sockaddr *)&ss, &len) != 0 || !addr_same(&loc, &ss))
            continue;
        len = sizeof ss;
        if (getpeername((int)fd, (struct sockaddr *)&ss, &len) != 0 || !addr_same(&rem, &ss))
            continue;
        done = shutdown((int)fd, SHUT_WR) == 0;
    }
    closedir(dir);
    return done;
}
