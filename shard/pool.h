/*
 * pool.h -- a chunked object pool with stable addresses and a hard capacity.
 *
 * The state machine keeps every record (drop, reservation, order, key, ...) in a pool and refers
 * to it by a 32-bit index. Elements live in chunks of LDI_POOL_CHUNK that are never moved, so a
 * pointer from ldi_pool_at() stays valid until the element is freed. Freed elements are reused
 * (free list). Memory grows one chunk at a time up to cap_max elements and is returned only by
 * ldi_pool_fini(): a pool never grows past its capacity (P5).
 */
#ifndef LD_SHARD_POOL_H
#define LD_SHARD_POOL_H

#include "ld_base.h"

#define LDI_NIL UINT32_MAX
#define LDI_POOL_CHUNK_SHIFT 10u
#define LDI_POOL_CHUNK (1u << LDI_POOL_CHUNK_SHIFT)

typedef struct ldi_pool {
    size_t elem_size;
    uint32_t cap_max;
    uint32_t chunks_len; /* chunks allocated */
    uint8_t **chunks;    /* chunks_max pointers, each LDI_POOL_CHUNK elements */
    uint8_t **used;      /* per chunk: 1 byte per element, 1 while allocated */
    uint32_t high;       /* elements handed out at least once: [0, high) */
    uint32_t free_head;  /* LDI_NIL or a freed element, whose first 4 bytes link the next */
    uint32_t live;
} ldi_pool;

/* Prepares an empty pool of elements of elem_size bytes (>= 4), at most cap_max (>= 1).
 * Allocates only the chunk directory. Returns LD_ERR_NOMEM. Thread: the owner's. */
ld_err ldi_pool_init(ldi_pool *pool, size_t elem_size, uint32_t cap_max);
/* Frees every chunk; the elements' own heap pointers are the caller's business. */
void ldi_pool_fini(ldi_pool *pool);

/* Takes a zeroed element. Returns LD_ERR_CAPACITY when cap_max are live, LD_ERR_NOMEM when a new
 * chunk cannot be allocated; *idx_out is set on LD_OK only. */
ld_err ldi_pool_alloc(ldi_pool *pool, uint32_t *idx_out);
/* Gives element idx back. It must be live (asserted). */
void ldi_pool_free(ldi_pool *pool, uint32_t idx);

/* Address of live element idx; stable until it is freed. */
static inline void *
ldi_pool_at(const ldi_pool *pool, uint32_t idx)
{
    LD_DEBUG_ASSERT(idx < pool->high);
    return pool->chunks[idx >> LDI_POOL_CHUNK_SHIFT] +
           (size_t)(idx & (LDI_POOL_CHUNK - 1)) * pool->elem_size;
}

/* True when element idx (< pool->high) is allocated; for iteration over [0, high). */
static inline bool
ldi_pool_used(const ldi_pool *pool, uint32_t idx)
{
    return pool->used[idx >> LDI_POOL_CHUNK_SHIFT][idx & (LDI_POOL_CHUNK - 1)] != 0;
}

static inline bool
ldi_pool_full(const ldi_pool *pool)
{
    return pool->live >= pool->cap_max;
}

#endif /* LD_SHARD_POOL_H */
