/*
 * arena.c -- bump allocator with caps (see arena.h).
 *
 *   block: | ldi_arena_block header (padded to 16) | data ........................ |
 *                                                    ^ used                    ^ cap
 */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#include "ld_base.h"

#define ARENA_ALIGN 16u
#define ARENA_BLOCK_BYTES (64u * 1024u)

struct ldi_arena_block {
    ldi_arena_block *next;
    size_t cap;  /* data bytes */
    size_t used; /* data bytes handed out */
    size_t pad;  /* keeps the header a multiple of ARENA_ALIGN on 64-bit and 32-bit hosts */
};

#define ARENA_HEADER_BYTES ((sizeof(ldi_arena_block) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

static void *
arena_pb_alloc(void *data, size_t size)
{
    return ldi_arena_alloc(data, size);
}

static void
arena_pb_free(void *data, void *ptr)
{
    /* Everything goes at the next reset. */
    (void)data;
    (void)ptr;
}

void
ldi_arena_init(ldi_arena *arena, size_t bytes_max, size_t *shared_bytes, size_t shared_bytes_max)
{
    LD_ASSERT(arena != NULL);
    LD_ASSERT(bytes_max >= ARENA_BLOCK_BYTES);
    *arena = (ldi_arena){
        .pb = {.alloc = arena_pb_alloc, .free = arena_pb_free, .allocator_data = arena},
        .bytes_max = bytes_max,
        .shared_bytes = shared_bytes,
        .shared_bytes_max = shared_bytes_max,
    };
}

static ldi_arena_block *
arena_grow(ldi_arena *arena, size_t size)
{
    size_t cap = size > ARENA_BLOCK_BYTES ? size : ARENA_BLOCK_BYTES;
    size_t total = ARENA_HEADER_BYTES + cap;
    if (arena->bytes + total > arena->bytes_max) {
        arena->cap_hit = true;
        return NULL;
    }
    if (arena->shared_bytes != NULL && *arena->shared_bytes + total > arena->shared_bytes_max) {
        arena->shared_cap_hit = true;
        return NULL;
    }
    ldi_arena_block *b = malloc(total);
    if (b == NULL)
        return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = arena->blocks;
    arena->blocks = b;
    arena->bytes += total;
    if (arena->shared_bytes != NULL)
        *arena->shared_bytes += total;
    return b;
}

void *
ldi_arena_alloc(ldi_arena *arena, size_t size)
{
    LD_ASSERT(arena != NULL);
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (size == 0)
        size = ARENA_ALIGN;
    ldi_arena_block *b = arena->blocks;
    if (b == NULL || b->cap - b->used < size) {
        b = arena_grow(arena, size);
        if (b == NULL)
            return NULL;
    }
    void *p = (uint8_t *)b + ARENA_HEADER_BYTES + b->used;
    b->used += size;
    return p;
}

static void
arena_release(ldi_arena *arena, ldi_arena_block *b)
{
    size_t total = ARENA_HEADER_BYTES + b->cap;
    LD_ASSERT(arena->bytes >= total);
    arena->bytes -= total;
    if (arena->shared_bytes != NULL) {
        LD_ASSERT(*arena->shared_bytes >= total);
        *arena->shared_bytes -= total;
    }
    free(b);
}

void
ldi_arena_reset(ldi_arena *arena)
{
    /* Keep the oldest block if it has the default size: most requests fit in it, so a busy slot
     * does not go back to malloc for every request. */
    ldi_arena_block *keep = NULL;
    ldi_arena_block *b = arena->blocks;
    while (b != NULL) {
        ldi_arena_block *next = b->next;
        if (next == NULL && b->cap == ARENA_BLOCK_BYTES)
            keep = b;
        else
            arena_release(arena, b);
        b = next;
    }
    if (keep != NULL)
        keep->used = 0;
    arena->blocks = keep;
    arena->cap_hit = false;
    arena->shared_cap_hit = false;
}

void
ldi_arena_fini(ldi_arena *arena)
{
    ldi_arena_block *b = arena->blocks;
    while (b != NULL) {
        ldi_arena_block *next = b->next;
        arena_release(arena, b);
        b = next;
    }
    arena->blocks = NULL;
}
