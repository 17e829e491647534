/*
 * store_rocks.h -- the node's RocksDB: one database per node, the ld_store adapters of the state
 * machine and of the replica, and the state stream of state transfer.
 *
 * Column families (docs/ARCHITECTURE.md §6):
 *
 *   +-----------+------------------------------+--------------------------------------------+
 *   | CF        | key                          | value                                      |
 *   +-----------+------------------------------+--------------------------------------------+
 *   | default   | (unused; RocksDB requires it)|                                            |
 *   | meta      | "format"                     | "livedrop-2": the on-disk format           |
 *   |           | "node_id"                    | decimal node id that created the directory |
 *   | log       | the replica's keys (repl.h): | "M": view, log_view, commit, checkpoint    |
 *   |           | "M", "L" + be64 op           | "L": entry header + packed LogEntry        |
 *   | state     | the state machine's keys     | the state machine's records (ld_store)     |
 *   +-----------+------------------------------+--------------------------------------------+
 *
 * Writes accumulate in one WriteBatch per loop turn: the replica's log entries and meta and every
 * state change the turn applied, made durable together by one synced write (group commit, P2);
 * a batch with nothing that must be durable (the host core decides: shard/host/host.h) may be
 * written unsynced.
 * RocksDB's `char **errptr` errors are logged and turned into LD_ERR_STORAGE here, and nowhere
 * else.
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
 * that it was created by node `node_id` with this format. In a brand-new database (no format
 * record) it sets *created_out and puts the format and node id into the pending write batch,
 * which the caller writes (with whatever else a new directory needs, in the same write).
 * Returns owned, free with ldi_rocks_close(); LD_ERR_STORAGE (logged) when RocksDB refuses,
 * e.g. another process holds the directory's lock, or the directory belongs to another node. */
ld_err ldi_rocks_open(const char *dir, uint32_t node_id, bool *created_out, ldi_rocks **out)
    __attribute__((warn_unused_result));

/* Flushes the WAL with fsync and closes the database. Accepts NULL. */
void ldi_rocks_close(ldi_rocks *rocks);

/* The ld_store view of the `state` CF: put/del go into the current write batch; scan and seek
 * read the durable records (seek: one iterator bounded to the prefix, forward with Seek or
 * backward with SeekForPrev). Valid while `rocks` is open. */
ld_store ldi_rocks_store(ldi_rocks *rocks);

/* Starts a new, empty write batch (dropping anything not written). */
void ldi_rocks_batch_clear(ldi_rocks *rocks);

/* The ld_store view of the `log` CF, for the replica (ld_repl_open): same semantics as
 * ldi_rocks_store(). Valid while `rocks` is open. */
ld_store ldi_rocks_repl_store(ldi_rocks *rocks);

/* Writes the batch in one atomic RocksDB write, fsync'd when `sync` (the host core's io->write
 * says when), then clears it. RocksDB's WAL is one sequence, so a synced
 * write makes every earlier unsynced one durable too.
 * Returns LD_OK or LD_ERR_STORAGE (logged). */
ld_err ldi_rocks_batch_write(ldi_rocks *rocks, bool sync) __attribute__((warn_unused_result));

/* Number of records in the pending write batch. */
int ldi_rocks_batch_count(ldi_rocks *rocks);

/* State transfer (REPLICATION.md §7.2). Serializes every durable record of the `state` CF, in
 * key order, as `le32 klen | key | le32 vlen | value` records into *buf_out (malloc'd, free with
 * free()). One iterator reads one consistent version: the state as of the last completed write.
 * LD_ERR_CAPACITY above max_bytes; LD_ERR_STORAGE (logged). */
ld_err ldi_rocks_state_snapshot(ldi_rocks *rocks, size_t max_bytes, uint8_t **buf_out,
                                size_t *len_out) __attribute__((warn_unused_result));

/* Puts into the pending write the deletion of every `state` record followed by the records of
 * the stream `buf` (from ldi_rocks_state_snapshot(), borrowed); ldi_rocks_batch_write() writes
 * them after the turn's other records (a range deletion cannot go into the indexed batch).
 * LD_ERR_STORAGE (logged, the batch untouched) when the stream is malformed. */
ld_err ldi_rocks_batch_state_replace(ldi_rocks *rocks, const uint8_t *buf, size_t len)
    __attribute__((warn_unused_result));

#endif /* LDI_STORE_ROCKS_H */
