/*
 * util.h -- small helpers of the node: wall clock, allocation that cannot fail. (The byte-order
 * helpers live in proto/ld_base.h.)
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

#endif /* LDI_UTIL_H */
