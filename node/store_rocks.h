/*
 * store_rocks.h -- the node's RocksDB: one database per node, the log, and the ld_store adapter.
 *
 * Column families (DESIGN.md §5):
 *
 *   +-----------+------------------------------+--------------------------------------------+
 *   | CF        | key                          | value                                      |
 *   +-----------+------------------------------+--------------------------------------------+
 *   | default   | (unused; RocksDB requires it)|                                            |
 *   | meta      | "format"                     | "livedrop-1": the on-disk format           |
 *   |           | "node_id"                    | decimal node id that created the directory |
 *   | log       | op number, u64 big-endian    | Ldpb__LogEntry (protobuf): one batch       |
 *   | state     | the state machine's keys     | the state machine's records (ld_store)     |
 *   +-----------+------------------------------+--------------------------------------------+
 *
 * Writes accumulate in one WriteBatch per loop turn: the log entry and every state change of
 * that batch, made durable together by one synced write (group commit, P2). RocksDB's
 * `char **errptr` errors are logged and turned into LD_ERR_STORAGE here, and nowhere else.
 *
 * Thread: everything here runs on the loop thread (the handle is not thread-safe).
 */
#ifndef LDI_STORE_ROCKS_H
#define LDI_STORE_ROCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct ldi_rocks ldi_rocks;

/* Opens (creating if missing, parent directories included) the database in `dir` and checks
 * that it was created by node `node_id` with this format. Returns owned, free with
 * ldi_rocks_close(); LD_ERR_STORAGE (logged) when RocksDB refuses, e.g. another process holds
 * the directory's lock, or the directory belongs to another node. */
ld_err ldi_rocks_open(const char *dir, uint32_t node_id, ldi_rocks **out)
    __attribute__((warn_unused_result));

/* Flushes the WAL with fsync and closes the database. Accepts NULL. */
void ldi_rocks_close(ldi_rocks *rocks);

/* The ld_store view of the `state` CF: put/del go into the current write batch; scan and seek
 * read the durable records (seek: one iterator bounded to the prefix, forward with Seek or
 * backward with SeekForPrev). Valid while `rocks` is open. */
ld_store ldi_rocks_store(ldi_rocks *rocks);

/* Starts a new, empty write batch (dropping anything not written). */
void ldi_rocks_batch_clear(ldi_rocks *rocks);

/* Adds log entry `op` (its packed LogEntry, borrowed for the call) to the write batch. */
void ldi_rocks_batch_log_put(ldi_rocks *rocks, uint64_t op, const void *entry, size_t len);

/* Adds the deletion of every log entry with an op number below `below_op` to the write batch. */
void ldi_rocks_batch_log_trim(ldi_rocks *rocks, uint64_t below_op);

/* Writes the batch in one atomic RocksDB write, fsync'd when `sync`, then clears it.
 * Returns LD_OK or LD_ERR_STORAGE (logged). */
ld_err ldi_rocks_batch_write(ldi_rocks *rocks, bool sync) __attribute__((warn_unused_result));

/* Number of records in the pending write batch. */
int ldi_rocks_batch_count(ldi_rocks *rocks);

/* Called for every log entry from ldi_rocks_log_scan(), in op order; buffers valid for the call
 * only. Return LD_OK to go on; anything else stops the scan and is returned. */
typedef ld_err (*ldi_rocks_log_cb)(void *arg, uint64_t op, const void *entry, size_t len);

/* Calls cb for every durable log entry with op >= from_op. A key that is not 8 bytes long is
 * reported as LD_ERR_STORAGE. */
ld_err ldi_rocks_log_scan(ldi_rocks *rocks, uint64_t from_op, ldi_rocks_log_cb cb, void *arg)
    __attribute__((warn_unused_result));

#endif /* LDI_STORE_ROCKS_H */
