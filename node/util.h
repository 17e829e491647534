/*
 * util.h -- small helpers of the node: wall clock, allocation that cannot fail, big-endian keys.
 */
#ifndef LDI_UTIL_H
#define LDI_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Wall-clock time (CLOCK_REALTIME) in milliseconds since the epoch. This is the only clock the
 * state machine ever sees, through batch timestamps. Thread: any. */
int64_t ldi_now_ms(void);

/* malloc / calloc / realloc that terminate the node (ldi_fatal, exit status 1) when memory is
 * exhausted. Used where a partial failure would leave memory ahead of the disk or a client
 * without a reply; everything they allocate is bounded by ld_limits.h. Thread: any. */
void *ldi_xmalloc(size_t size);
void *ldi_xcalloc(size_t count, size_t size);
void *ldi_xrealloc(void *ptr, size_t size);

/* Big-endian u64: log keys sort by op number. Thread: any. */
static inline void
ldi_be64_put(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

static inline uint64_t
ldi_be64_get(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | in[i];
    return v;
}

#endif /* LDI_UTIL_H */
