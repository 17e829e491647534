/*
 * pool.c -- chunked object pool (see pool.h).
 */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

ld_err
ldi_pool_init(ldi_pool *pool, size_t elem_size, uint32_t cap_max)
{
    LD_ASSERT(pool != NULL);
    LD_ASSERT(elem_size >= sizeof(uint32_t));
    LD_ASSERT(cap_max >= 1 && cap_max < LDI_NIL);
    memset(pool, 0, sizeof *pool);
    uint32_t chunks_max = (cap_max + LDI_POOL_CHUNK - 1) >> LDI_POOL_CHUNK_SHIFT;
    pool->chunks = calloc(chunks_max, sizeof *pool->chunks);
    pool->used = calloc(chunks_max, sizeof *pool->used);
    if (pool->chunks == NULL || pool->used == NULL) {
        free(pool->chunks);
        free(pool->used);
        return LD_ERR_NOMEM;
    }
    pool->elem_size = elem_size;
    pool->cap_max = cap_max;
    pool->free_head = LDI_NIL;
    return LD_OK;
}

void
ldi_pool_fini(ldi_pool *pool)
{
    if (pool == NULL || pool->chunks == NULL)
        return;
    for (uint32_t i = 0; i < pool->chunks_len; i++) {
        free(pool->chunks[i]);
        free(pool->used[i]);
    }
    free(pool->chunks);
    free(pool->used);
    memset(pool, 0, sizeof *pool);
}

static ld_err
pool_grow(ldi_pool *pool)
{
    uint8_t *chunk = malloc(pool->elem_size * LDI_POOL_CHUNK);
    uint8_t *used = calloc(LDI_POOL_CHUNK, 1);
    if (chunk == NULL || used == NULL) {
        free(chunk);
        free(used);
        return LD_ERR_NOMEM;
    }
    pool->chunks[pool->chunks_len] = chunk;
    pool->used[pool->chunks_len] = used;
    pool->chunks_len++;
    return LD_OK;
}

ld_err
ldi_pool_alloc(ldi_pool *pool, uint32_t *idx_out)
{
    LD_ASSERT(pool != NULL && idx_out != NULL);
    if (pool->live >= pool->cap_max)
        return LD_ERR_CAPACITY;
    uint32_t idx;
    if (pool->free_head != LDI_NIL) {
        idx = pool->free_head;
        memcpy(&pool->free_head, ldi_pool_at(pool, idx), sizeof pool->free_head);
    } else {
        LD_ASSERT(pool->high < pool->cap_max);
        if ((pool->high >> LDI_POOL_CHUNK_SHIFT) >= pool->chunks_len) {
            ld_err err = pool_grow(pool);
            if (err != LD_OK)
                return err;
        }
        idx = pool->high++;
    }
    memset(ldi_pool_at(pool, idx), 0, pool->elem_size);
    pool->used[idx >> LDI_POOL_CHUNK_SHIFT][idx & (LDI_POOL_CHUNK - 1)] = 1;
    pool->live++;
    *idx_out = idx;
    return LD_OK;
}

void
ldi_pool_free(ldi_pool *pool, uint32_t idx)
{
    LD_ASSERT(idx < pool->high);
    LD_ASSERT(ldi_pool_used(pool, idx));
    pool->used[idx >> LDI_POOL_CHUNK_SHIFT][idx & (LDI_POOL_CHUNK - 1)] = 0;
    memcpy(ldi_pool_at(pool, idx), &pool->free_head, sizeof pool->free_head);
    pool->free_head = idx;
    pool->live--;
}
