/*
 * arena.h -- a bump allocator for protobuf-c unpacking, with a per-arena and a shared byte cap.
 *
 * protobuf-c 1.4.1 has no size limit of its own (docs/ARCHITECTURE.md §13): a 1 MiB frame of tiny
 * repeated fields can make it allocate tens of MiB of structs. Each request slot unpacks into its
 * own arena, so (1) unpacking costs a few block allocations instead of one malloc per field, (2)
 * freeing a request is one reset, and (3) the bytes a request can expand into are capped, per
 * request and over every live request together (P5). An allocation past a cap fails, protobuf-c
 * gives up cleanly, and the caller answers with an error (see ldi_arena_cap_hit()).
 */
#ifndef LDI_ARENA_H
#define LDI_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ldi_arena_block ldi_arena_block;

typedef struct ldi_arena {
    ProtobufCAllocator pb;   /* hand &arena->pb to ldpb__*__unpack() */
    ldi_arena_block *blocks; /* newest first; the oldest (first) one is kept across resets */
    size_t bytes;            /* bytes of blocks held, counted against both caps */
    size_t bytes_max;        /* cap of this arena */
    size_t *shared_bytes;    /* sum over every arena sharing the cap (NULL: none) */
    size_t shared_bytes_max;
    bool cap_hit;        /* the last failure was this arena's cap */
    bool shared_cap_hit; /* the last failure was the shared cap */
} ldi_arena;

/* Prepares an empty arena. `shared_bytes` (may be NULL) is borrowed and must outlive the arena.
 * Thread: the owner's; an arena is used by one thread at a time. */
void ldi_arena_init(ldi_arena *arena, size_t bytes_max, size_t *shared_bytes,
                    size_t shared_bytes_max);

/* Returns `size` bytes aligned for any type, or NULL past a cap or when malloc fails. The memory
 * lives until the next reset or fini. Thread: the owner's. */
void *ldi_arena_alloc(ldi_arena *arena, size_t size);

/* Forgets every allocation; keeps the first block (up to its default size) for reuse. */
void ldi_arena_reset(ldi_arena *arena);

/* Frees every block. The arena may be initialised again afterwards. */
void ldi_arena_fini(ldi_arena *arena);

#endif /* LDI_ARENA_H */
