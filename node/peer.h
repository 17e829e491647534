/*
 * peer.h -- the replication transport (REPLICATION.md §11): one NNG pull0 socket listening on
 * this node's peer URL, one push0 socket dialling each other replica, bridged onto the libuv
 * loop the way net.c bridges the client socket:
 *
 *   NNG thread                                   loop thread
 *   ----------                                   -----------
 *   pull0 recv done --> lock, append frame,      uv_async (coalesced) --> wake_cb --> turn
 *                       unlock, uv_async_send    ldi_peer_take(): every queued frame, in order
 *                       re-arm recv
 *   push0[to] <------------------------------------- ldi_peer_send(to, bytes): non-blocking
 *
 * Replication is one-way asynchronous messages, so a lost one is the protocol's business: a send
 * that NNG cannot queue at once (no connection yet, LD_PEER_SEND_QUEUE_MAX queued) is dropped and
 * counted, and so is a received frame when LD_PEER_RECV_QUEUE_MAX frames or
 * LD_PEER_RECV_QUEUE_BYTES_MAX bytes wait for the loop. Every socket sets NNG_OPT_RECVMAXSZ to
 * LD_PEER_FRAME_BYTES_MAX (NNG drops the connection of a peer that sends more). Dialers reconnect
 * after LD_PEER_RECONNECT_MIN_MS, backing off to LD_PEER_RECONNECT_MAX_MS, so a restarted peer
 * is heard again within about 100 ms.
 *
 * The transport knows nothing of the messages: the engine packs and unpacks them with
 * shard/repl/repl_codec.h.
 */
#ifndef LDI_PEER_H
#define LDI_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "ld_base.h"
#include "net.h"

typedef struct ldi_peer ldi_peer;

/* Called by ldi_peer_batch_next() for one received frame; `frame` is valid during the call only. */
typedef void (*ldi_peer_frame_cb)(void *arg, const uint8_t *frame, size_t len);

/* Opens the transport of replica `self` of `n`: listens on urls[self], dials urls[i] for every
 * other i (in the background: a peer that is down is dialled again until it answers). Borrows
 * `loop` and copies the URLs. wake_cb(wake_arg) runs on the loop thread when frames wait.
 * Returns owned, close with ldi_peer_close(); LD_ERR_CONNECTION (logged) when the own URL cannot
 * be bound or a URL is invalid. Thread: loop thread. */
ld_err ldi_peer_open(uv_loop_t *loop, uint32_t self, uint32_t n, const char *const *urls,
                     ldi_net_wake_cb wake_cb, void *wake_arg, ldi_peer **out)
    __attribute__((warn_unused_result));

/* The frames queued when a turn began, taken off the transport's queue at once (the turn works
 * on a bounded set while the NNG threads go on queueing for the next one). */
typedef struct ldi_peer_batch {
    struct peer_frame *head;
} ldi_peer_batch;

/* Moves every queued frame into `b` (which must be empty), in arrival order. Thread: loop
 * thread. */
void ldi_peer_take(ldi_peer *peer, ldi_peer_batch *b);

/* Hands the oldest frame of `b` to cb and frees it; false when `b` is empty. */
bool ldi_peer_batch_next(ldi_peer_batch *b, ldi_peer_frame_cb cb, void *arg);

/* Frees every frame left in `b`. */
void ldi_peer_batch_free(ldi_peer_batch *b);

/* Queues `len` bytes of `buf` (copied) for replica `to` (!= self) without blocking. Returns
 * false (counted) when NNG cannot take it now: the message is lost, as on a lossy network.
 * Thread: loop thread. */
bool ldi_peer_send(ldi_peer *peer, uint32_t to, const uint8_t *buf, size_t len);

typedef struct ldi_peer_stats {
    uint64_t received;     /* frames handed to the loop */
    uint64_t recv_dropped; /* frames dropped because the loop's queue was full */
    uint64_t sent;         /* messages NNG took */
    uint64_t send_dropped; /* messages NNG refused (no connection, queue full) */
} ldi_peer_stats;
/* Thread: loop thread. */
void ldi_peer_stats_get(ldi_peer *peer, ldi_peer_stats *out);

/* Closes every socket (waiting for NNG callbacks), frees queued frames, and starts closing the
 * uv_async handle; the memory is freed once it is closed, so run the loop afterwards. Accepts
 * NULL. Thread: loop thread. */
void ldi_peer_close(ldi_peer *peer);

#endif /* LDI_PEER_H */
