/*
 * store.h -- the state machine's view of storage: a small ops table (docs/ARCHITECTURE.md §6).
 *
 * The state machine keeps its working state in memory and writes every change through to a
 * store, as puts and deletes on the `state` key space, during ld_sm_apply(). The store collects
 * them into the write that the node makes durable together with the log entry (one RocksDB
 * WriteBatch, synced once per loop turn). At start, ld_sm_open() rebuilds memory with scan().
 *
 * Implementations: node/store_rocks.c (RocksDB `state` column family, writes into the turn's
 * WriteBatch) and proto/store_mem.c (in memory, for tests and the simulator; can inject faults).
 *
 * The replica (shard/repl/) writes its log records and meta through the same ops table, on its
 * own key space. So the interface lives in the base layer (proto/, ldproto), which both the state
 * machine (ldsm) and the replica (ldrepl) link without seeing each other.
 *
 * Thread: an ld_store is used by one thread at a time, the one that owns its pending write (the
 * node's loop thread, the simulator's); callbacks run on it, inside the call.
 */
#ifndef LD_STORE_H
#define LD_STORE_H

#include "ld_base.h"

/* Called once per record by scan(). The pointers are valid only during the call. Return LD_OK to
 * go on; anything else stops the scan and is returned by scan(). */
typedef ld_err (*ld_store_scan_cb)(void *arg, const void *key, size_t key_len, const void *val,
                                   size_t val_len);

/* Called by get() with the value of the key it found; `val` is valid only during the call. */
typedef void (*ld_store_get_cb)(void *arg, const void *val, size_t val_len);

typedef struct ld_store_ops {
    /* Records key -> val in the pending write. Borrows both buffers for the call only. */
    void (*put)(void *impl, const void *key, size_t key_len, const void *val, size_t val_len);
    /* Records the deletion of key in the pending write. Borrows key for the call only. */
    void (*del)(void *impl, const void *key, size_t key_len);
    /* Calls cb for every durable record whose key starts with prefix, in key order. */
    ld_err (*scan)(void *impl, const void *prefix, size_t prefix_len, ld_store_scan_cb cb,
                   void *arg);
    /* Calls cb for durable records whose key starts with prefix, from `start` on: forward (key
     * order, first key >= start) or, when reverse, backward (first key <= start). start must
     * itself start with prefix. The callback stops the walk by returning non-LD_OK (LD_EXISTS
     * is the conventional "stop, no error": seek() then returns LD_OK). Used by page reads. */
    ld_err (*seek)(void *impl, const void *prefix, size_t prefix_len, const void *start,
                   size_t start_len, bool reverse, ld_store_scan_cb cb, void *arg);
    /* Reads one key as the writes so far left it (read-your-writes): the pending write first --
     * its last put gives the value, a del "absent" -- then the durable records. When the key is
     * present, calls cb once with its value and sets *found_out; else *found_out = false and cb
     * is not called. Returns LD_OK, or the storage's error (LD_ERR_STORAGE). The point reads of
     * docs/ARCHITECTURE.md §6.4: what it returns is a function of the writes, as every record is,
     * so state machines that read through it stay deterministic. */
    ld_err (*get)(void *impl, const void *key, size_t key_len, ld_store_get_cb cb, void *arg,
                  bool *found_out);
} ld_store_ops;

typedef struct ld_store {
    const ld_store_ops *ops;
    void *impl;
} ld_store;

/* ---- in-memory store (tests, simulator) ---------------------------------------------------- */

typedef struct ld_store_mem ld_store_mem;

/* Allocates an empty in-memory store. Returns owned, free with ld_store_mem_free(). */
ld_err ld_store_mem_alloc(ld_store_mem **out);
void ld_store_mem_free(ld_store_mem *mem);
/* The store interface of `mem`; valid while mem lives. */
ld_store ld_store_mem_store(ld_store_mem *mem);
/* Makes every pending put/del durable (the "fsync"). */
void ld_store_mem_sync(ld_store_mem *mem);
/* Drops every pending put/del, as a crash before the sync would. */
void ld_store_mem_crash(ld_store_mem *mem);
/* Number of durable records. */
size_t ld_store_mem_count(const ld_store_mem *mem);
/* Number of pending puts and deletes (not synced yet). */
size_t ld_store_mem_pending(const ld_store_mem *mem);
/* Makes the next scan() fail with `err` after `after` records (LD_OK disables). */
void ld_store_mem_fail_scan(ld_store_mem *mem, size_t after, ld_err err);

#endif /* LD_STORE_H */
