/*
 * util.c -- wall clock and allocation helpers (see util.h).
 */
#include "util.h"

#include <stdlib.h>
#include <time.h>

#include "log.h"

int64_t
ldi_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void *
ldi_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        ldi_fatal("out of memory allocating %zu bytes", size);
    return p;
}

void *
ldi_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        ldi_fatal("out of memory allocating %zu x %zu bytes", count, size);
    return p;
}

void *
ldi_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        ldi_fatal("out of memory reallocating to %zu bytes", size);
    return p;
}
