/*
 * cursor.h -- opaque page cursors (proto/PROTOCOL.md §4.4, docs/ARCHITECTURE.md §11): base64url of
 * (list, sort key, id).
 *
 *   byte  0      version (1)
 *   byte  1      list kind (ld_cursor_list): a cursor of one list is refused by another
 *   bytes 2..9   sort key, big-endian, as the index orders it (e.g. ~created_at)
 *   bytes 10..25 id (16 bytes): the tie-breaker, so (sort key, id) is unique
 *
 * 26 bytes -> 35 base64url characters without padding. A page resumes strictly after the
 * cursor's (sort key, id), so entries that existed for the whole walk are seen exactly once.
 */
#ifndef LD_SHARD_CURSOR_H
#define LD_SHARD_CURSOR_H

#include "ld_base.h"

typedef enum ld_cursor_list {
    LD_CURSOR_FOLLOWERS = 1,
    LD_CURSOR_FOLLOWING = 2,
    LD_CURSOR_PRODUCTS = 3,
    LD_CURSOR_DROPS_UPCOMING = 4,
    LD_CURSOR_DROPS_LIVE = 5,
    LD_CURSOR_DROPS_ENDED = 6,
    LD_CURSOR_DROPS_CANCELLED = 7,
    LD_CURSOR_NOTIFICATIONS = 8,
} ld_cursor_list;

typedef struct ld_cursor {
    ld_cursor_list list;
    uint64_t sort_key;
    ld_id id;
} ld_cursor;

/* Writes the base64url form and a NUL into out. Thread: any. */
void ld_cursor_encode(const ld_cursor *cursor, char out[LD_CURSOR_BYTES_MAX + 1]);
/* Parses `text`; false when malformed, of another version, or of a list other than `list`.
 * Thread: any. */
bool ld_cursor_decode(const char *text, ld_cursor_list list, ld_cursor *out);

#endif /* LD_SHARD_CURSOR_H */
