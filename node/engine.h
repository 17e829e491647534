/*
 * engine.h -- the node's single-threaded core: requests in, batches to disk, replies out.
 *
 * One libuv loop thread owns the replica host core (shard/host/host.h: the state machine, the
 * replica and the turn's order), the RocksDB handle and every request. Each loop turn
 * (docs/ARCHITECTURE.md §4, §8, §9; REPLICATION.md §11) is ld_host_turn() with the node's
 * adapters; what happens in it, in order:
 *
 *   1. drain the NNG queue: check each frame (size, protobuf, version, op count) -- a bad
 *      envelope is answered at once with a code and no results; then drain the peer queue into
 *      the replica and run its due timeouts (committed entries are applied here and their
 *      requests' results recorded); a replica that is not the primary (or a primary without
 *      its read lease, for linearizable reads) answers NOT_PRIMARY naming the primary;
 *   2. take whole queued requests while their ops fit in one batch; decode each op (a bad op
 *      gets its error result, the others go on); writes join the batch, reads wait; past
 *      LD_REQUEST_LIST_OPS_MAX page ops (lists, pulls) in one request, ERR_TOO_MANY_OPS;
 *   3. append internal ops: FINISH_ORDER for every payment that finished, RELAY_FOLLOW for
 *      follow events of earlier batches, TICK when a reservation, key or drop boundary is due;
 *   4. stamp the batch (ts = max(wall clock, last ts)) and hand it to the replica as the next
 *      log entry (ld_repl_prepare); with one replica it is applied at once, with 3 or 5 once a
 *      quorum holds it; everything the turn wrote goes in ONE RocksDB write batch, written once,
 *      with sync when the core says it must be (group commit);
 *   5. after that write only (P2): send the replica's messages, publish the batch's events,
 *      answer reads and pages from the new state (an empty PULL_EVENTS with wait_ms parks until
 *      an event or its deadline), answer parked pulls the events concern, start payments, and
 *      send every reply whose ops are all resolved. A place_order's reply waits for its payment.
 *      With 3 or 5 replicas, the requests that step 1 committed are released before step 2
 *      when that step put nothing that must be synced.
 *
 * A failed synced write stops the node (exit status 1): memory would be ahead of the disk.
 *
 * Thread: every function here runs on the loop thread, except where noted.
 */
#ifndef LDI_ENGINE_H
#define LDI_ENGINE_H

#include <stdbool.h>
#include <uv.h>

#include "config.h"
#include "net.h"
#include "pub.h"

typedef struct ldi_engine ldi_engine;

/* Opens the data directory (formatting a brand-new one when cfg->format or when it is the only
 * replica; refusing --format on one with data), rebuilds the state machine (ld_sm_open), opens
 * the peer sockets (3 or 5 replicas) and the replica (ld_repl_open: it re-applies committed log
 * entries past the applied op, or starts recovering in an unformatted directory), and checks
 * every invariant (ld_sm_check). Borrows `loop`; copies `cfg`. Returns owned, free with
 * ldi_engine_free() after ldi_engine_stop() and a final loop run; LD_ERR_STORAGE (logged) when
 * the data cannot be opened or recovered, LD_ERR_CONNECTION when the peer URL cannot be bound. */
ld_err ldi_engine_open(uv_loop_t *loop, const ldi_config *cfg, ldi_engine **out)
    __attribute__((warn_unused_result));

/* Starts serving requests that `net` delivers, publishing events on `pub` (NULL: publishing is
 * off), restarts the payments a crash interrupted, and starts the tick and metrics timers.
 * Borrows `net` and `pub`, which must outlive the engine's use of them, i.e. until
 * ldi_engine_stop(). */
void ldi_engine_start(ldi_engine *engine, ldi_net *net, ldi_pub *pub);

/* The ldi_net wake callback: schedules a turn. `engine` is an ldi_engine *. */
void ldi_engine_wake(void *engine);

/* Shutdown, step 1: admits what has already arrived, answers every parked pull at once (with
 * its page as it is), then answers every later request with ERR_SHUTTING_DOWN while in-flight
 * work (queued requests, payments) goes on. */
void ldi_engine_shutdown_begin(ldi_engine *engine);

/* True once nothing is in flight: no queued or waiting request, no payment. */
bool ldi_engine_drained(const ldi_engine *engine);

/* Shutdown, step 2 (drain deadline passed): answers every request still waiting, with
 * ERR_SHUTTING_DOWN for ops not resolved yet (their payments resume when the node restarts). */
void ldi_engine_abandon(ldi_engine *engine);

/* Shutdown, step 3: stops the timers, abandons payment providers, logs the final metrics.
 * The engine stops using `net`. Run the loop afterwards so the handles close. */
void ldi_engine_stop(ldi_engine *engine);

/* Closes the state machine and the database (WAL flushed and synced) and frees the engine.
 * Accepts NULL. Call after ldi_engine_stop() and a loop run (or before ldi_engine_start()). */
void ldi_engine_free(ldi_engine *engine);

#endif /* LDI_ENGINE_H */
