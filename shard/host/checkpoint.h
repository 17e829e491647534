/*
 * checkpoint.h -- the state machine's checkpoint stream, the body of a state transfer
 * (proto/REPLICATION.md §7.2): every record of the state machine's key space, in key order, each
 * `le32 klen | key | le32 vlen | value`, keys never empty. One writer and one reader, used by the
 * node (node/store_rocks.c, RocksDB's `state` column family) and the simulator (in-memory
 * stores), so both send and check the same stream.
 *
 * Thread: no shared state; a writer and a stream are used by one thread at a time.
 */
#ifndef LD_HOST_CHECKPOINT_H
#define LD_HOST_CHECKPOINT_H

#include "ld_base.h"
#include "store.h"

typedef struct ld_checkpoint_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    size_t max; /* LD_ERR_CAPACITY past this many bytes */
} ld_checkpoint_writer;

/* Appends one record. LD_ERR_CAPACITY past w->max (the stream is then useless: free it); an
 * empty key is LD_ERR_INVALID_ARGUMENT. */
ld_err ld_checkpoint_append(ld_checkpoint_writer *w, const void *key, size_t key_len,
                            const void *val, size_t val_len);

/* The stream written so far (never NULL, even when empty): returns owned, free with free(). */
uint8_t *ld_checkpoint_take(ld_checkpoint_writer *w, size_t *len_out);

/* Frees what the writer holds (after an error). */
void ld_checkpoint_writer_fini(ld_checkpoint_writer *w);

/* Writes every durable record of `store` as a stream into *buf_out (owned, free with free()).
 * LD_ERR_CAPACITY above max_bytes; a scan error as it is. */
ld_err ld_checkpoint_from_store(const ld_store *store, size_t max_bytes, uint8_t **buf_out,
                                size_t *len_out);

/* Whether `buf` is a whole, well-formed stream (no record runs past the end, no empty key,
 * keys strictly increasing). */
bool ld_checkpoint_valid(const uint8_t *buf, size_t len);

/* Calls cb for every record of a stream ld_checkpoint_valid() accepted, in order. */
typedef void (*ld_checkpoint_cb)(void *arg, const uint8_t *key, size_t key_len, const uint8_t *val,
                                 size_t val_len);
void ld_checkpoint_walk(const uint8_t *buf, size_t len, ld_checkpoint_cb cb, void *arg);

#endif /* LD_HOST_CHECKPOINT_H */
