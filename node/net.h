/*
 * net.h -- the client port: an NNG rep0 socket bridged onto the libuv loop.
 *
 * NNG cannot run on a libuv loop (docs/ARCHITECTURE.md §13), so the two meet at a queue:
 *
 *   NNG threads                              loop thread
 *   -----------                              -----------
 *   ctx[i] recv done --> lock, push ctx[i],  uv_async (coalesced) --> wake_cb --> engine turn
 *                        unlock, uv_async_send        ldi_net_drain(): takes every queued
 *                                                      message, in arrival order
 *   ctx[i] send done <-- nng_ctx_send <---------------- ldi_net_reply(i, msg)
 *   (re-arms recv on ctx[i])
 *
 * There are LD_NODE_CONTEXTS contexts, each with one nng_aio: at most that many requests are in
 * the node at once, and each context's index names its request slot in the engine. A context
 * that has delivered a message receives nothing more until the loop answers it with
 * ldi_net_reply() -- a request always gets exactly one reply (or none at all if the loop gives up
 * on it, which only happens when memory is exhausted; the client then times out and resends).
 *
 * Frame size: NNG_OPT_RECVMAXSZ is set to 4 * LD_FRAME_BYTES_MAX. A frame above
 * LD_FRAME_BYTES_MAX but within that cap is received and answered with ERR_FRAME_TOO_LARGE (the
 * client learns why); a frame above the cap is refused by NNG itself, which drops the
 * connection without reading it (the client sees the connection close, not an error reply).
 * The cap bounds the memory a hostile peer can make the node allocate per context.
 */
#ifndef LDI_NET_H
#define LDI_NET_H

#include <nng/nng.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ld_base.h"

#define LDI_NET_RECV_BYTES_MAX (4u * LD_FRAME_BYTES_MAX)

typedef struct ldi_net ldi_net;

/* Called on the loop thread when messages are waiting (several arrivals may share one call). */
typedef void (*ldi_net_wake_cb)(void *arg);

/* Called by ldi_net_drain() for one received message of context `ctx_index`. Takes `msg`
 * (owned: the callee frees it or hands it on). The context then waits for ldi_net_reply(). */
typedef void (*ldi_net_msg_cb)(void *arg, uint32_t ctx_index, nng_msg *msg);

/* Opens the rep0 socket, starts listening on `url` and arms every context. Borrows `loop`.
 * On success writes the URL actually bound into bound_url (for "tcp://host:0", the port NNG
 * picked). Returns owned, close with ldi_net_close(); LD_ERR_CONNECTION (logged) if the URL is
 * invalid or cannot be bound; LD_ERR_NOMEM. Thread: loop thread. */
ld_err ldi_net_open(uv_loop_t *loop, const char *url, ldi_net_wake_cb wake_cb, void *wake_arg,
                    char *bound_url, size_t bound_url_len, ldi_net **out)
    __attribute__((warn_unused_result));

/* Writes into out the URL `listener` (started on `url`) is bound to: `url` itself, except that
 * for "tcp://host:0" the port NNG picked replaces the 0. Thread: any. */
void ldi_net_bound_url(nng_listener listener, const char *url, char *out, size_t out_len);

/* Hands every queued message to cb, in arrival order. Thread: loop thread. */
void ldi_net_drain(ldi_net *net, ldi_net_msg_cb cb, void *arg);

/* Answers the request held by context `ctx_index` and re-arms its receive. Takes `msg` always
 * (if NNG refuses it, it is freed when the send fails). msg NULL: no answer, just re-arm.
 * Thread: loop thread. */
void ldi_net_reply(ldi_net *net, uint32_t ctx_index, nng_msg *msg);

/* Refuses new connections from now on; established ones go on (their requests are answered,
 * by the engine with ERR_SHUTTING_DOWN). Idempotent. Thread: any.
 *
 * Why not nng_listener_close(): in NNG, closing a listener also closes every connection it
 * accepted, so replies to requests still in flight (a slow payment) would be lost. Instead a
 * pipe callback (NNG_PIPE_EV_ADD_PRE) closes each new connection before it joins the socket:
 * a client dialling in sees its connection closed at once. The listener itself is closed by
 * ldi_net_close(). */
void ldi_net_refuse_new(ldi_net *net);

/* Replies handed to NNG whose send has not completed yet. Thread: any. */
uint32_t ldi_net_sends_pending(const ldi_net *net);

/* Closes the socket (in-flight NNG operations are cancelled and waited for), frees queued
 * messages and starts closing the uv_async handle; the memory is freed by the loop once the
 * handle is closed, so run the loop afterwards. Thread: loop thread. */
void ldi_net_close(ldi_net *net);

#endif /* LDI_NET_H */
