/*
 * table.h -- open-addressing hash index from a record's key to its pool index.
 *
 * Linear probing with backward-shift deletion (no tombstones), load factor <= 1/2. The table
 * stores only (32 bits of the key's hash, pool index); the key itself lives in the record and is
 * compared through the caller's `eq` callback, so one table type serves every key size. Hashes
 * are XXH3_64 of the key's fixed bytes (ldi_table_hash). The table doubles as it fills, up to the
 * size that holds cap_max entries, and never beyond.
 */
#ifndef LD_SHARD_TABLE_H
#define LD_SHARD_TABLE_H

#include "ld_base.h"
#include "pool.h"

typedef struct ldi_table_slot {
    uint32_t hash; /* low 32 bits of the key's hash */
    uint32_t val;  /* pool index + 1; 0 marks an empty slot */
} ldi_table_slot;

typedef struct ldi_table {
    ldi_table_slot *slots;
    uint32_t mask; /* slots - 1; a power of two minus one */
    uint32_t count;
    uint32_t cap_max;
} ldi_table;

/* True when pool element idx holds `key`. */
typedef bool (*ldi_table_eq_fn)(const void *ctx, uint32_t idx, const void *key);

/* Prepares an empty table for up to cap_max entries. Returns LD_ERR_NOMEM. */
ld_err ldi_table_init(ldi_table *table, uint32_t cap_max);
void ldi_table_fini(ldi_table *table);

/* The hash of a key's bytes (XXH3_64, stable across platforms). */
uint64_t ldi_table_hash(const void *key, size_t len);

/* Returns the pool index stored for `key`, or LDI_NIL. Borrows everything for the call. */
uint32_t ldi_table_find(const ldi_table *table, uint64_t hash, ldi_table_eq_fn eq, const void *ctx,
                        const void *key);

/* Makes room so that the next `n` inserts cannot fail. Returns LD_ERR_NOMEM (table unchanged),
 * LD_ERR_CAPACITY when count + n > cap_max. */
ld_err ldi_table_reserve(ldi_table *table, uint32_t n);

/* Adds (hash -> idx). The key must not be present and room must have been reserved (asserted). */
void ldi_table_insert(ldi_table *table, uint64_t hash, uint32_t idx);

/* Removes the entry of pool index idx, which must be present under `hash` (asserted). */
void ldi_table_remove(ldi_table *table, uint64_t hash, uint32_t idx);

#endif /* LD_SHARD_TABLE_H */
