/*
 * chaos.h -- what every file of livedrop-chaos shares: the always-on assertion and id helpers.
 */
#ifndef LDC_CHAOS_H
#define LDC_CHAOS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "livedrop.h"

/* Always on, release builds too: a broken invariant of the harness itself aborts loudly. Never
 * used on input from a file or a node (those are errors with a message). */
#define LDC_ASSERT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "livedrop-chaos: %s:%d: assertion failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Hex of an id into out[33]; returns out. Thread: any. */
const char *ldc_hex(const ld_id *id, char out[33]);
/* True if a and b are the same id. Thread: any. */
bool ldc_id_eq(const ld_id *a, const ld_id *b);

#endif /* LDC_CHAOS_H */
