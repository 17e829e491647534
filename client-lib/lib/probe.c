/*
 * probe.c -- one connect probe per node address, for the connect gate of client.c.
 *
 * NNG's dialers retry in the background and never say that a connection was refused. A probe
 * asks once itself: a stream connect (nng_stream_dialer, so tcp:// and ipc:// alike), closed as
 * soon as it is made, with the answer kept (its NNG result and when it came). The fields live
 * under the client's mutex; the callback takes that mutex and broadcasts the client's
 * `connected` condition, where the gate waits.
 */
#include "client_int.h"

void
ldi_probe_open(ldi_probe *p, const char *url, pthread_mutex_t *mu, pthread_cond_t *cond)
{
    memset(p, 0, sizeof *p);
    p->mu = mu;
    p->cond = cond;
    if (nng_stream_dialer_alloc(&p->dialer, url) != 0) {
        p->dialer = NULL;
        return;
    }
    if (nng_aio_alloc(&p->aio, ldi_probe_cb, p) != 0) {
        nng_stream_dialer_free(p->dialer);
        p->dialer = NULL;
        p->aio = NULL;
        return;
    }
    nng_aio_set_timeout(p->aio, (nng_duration)LD_CLIENT_PROBE_TIMEOUT_MS);
}

void
ldi_probe_close(ldi_probe *p)
{
    if (p->aio != NULL) {
        nng_aio_stop(p->aio); /* waits for a running callback */
        nng_aio_free(p->aio);
        p->aio = NULL;
    }
    if (p->dialer != NULL) {
        nng_stream_dialer_close(p->dialer);
        nng_stream_dialer_free(p->dialer);
        p->dialer = NULL;
    }
}

void
ldi_probe_cb(void *arg)
{
    ldi_probe *p = arg;
    int rv = nng_aio_result(p->aio);
    if (rv == 0)
        nng_stream_free(nng_aio_get_output(p->aio, 0)); /* closes the connection */
    pthread_mutex_lock(p->mu);
    p->running = false;
    p->rv = rv;
    p->done_ns = ldi_now_ns();
    pthread_cond_broadcast(p->cond);
    pthread_mutex_unlock(p->mu);
}

bool
ldi_probe_start_locked(ldi_probe *p, int64_t since_ns)
{
    if (p->aio == NULL || p->running || p->done_ns >= since_ns)
        return false;
    p->running = true;
    nng_stream_dialer_dial(p->dialer, p->aio);
    return true;
}

bool
ldi_probe_refused_locked(const ldi_probe *p, int64_t since_ns)
{
    return p->aio != NULL && p->done_ns >= since_ns &&
           (p->rv == NNG_ECONNREFUSED || p->rv == NNG_EUNREACHABLE || p->rv == NNG_ENOENT);
}
