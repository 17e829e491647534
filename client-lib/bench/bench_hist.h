/*
 * bench_hist.h -- the latency histogram of the bench programs (livedrop-bench, redis-lua-bench):
 * values below 64 exactly, then 32 buckets per power of two (~3% precision), so memory stays
 * fixed however long a run lasts. Header-only: each bench is one executable.
 */
#ifndef LD_BENCH_HIST_H
#define LD_BENCH_HIST_H

#include <math.h>
#include <stdint.h>

#define HIST_SUB 32
#define HIST_BUCKETS (64 + 58 * HIST_SUB)

typedef struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
} hist;

static inline unsigned
hist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 5;
    return 64 + (msb - 6) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The middle of bucket i's value range. */
static inline uint64_t
hist_value(unsigned i)
{
    if (i < 64)
        return i;
    unsigned k = i - 64;
    unsigned msb = k / HIST_SUB + 6;
    uint64_t sub = k % HIST_SUB + HIST_SUB;
    unsigned shift = msb - 5;
    return (sub << shift) + ((uint64_t)1 << shift) / 2;
}

static inline void
hist_add(hist *h, uint64_t v)
{
    h->counts[hist_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

static inline void
hist_merge(hist *into, const hist *h)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        into->counts[i] += h->counts[i];
    into->total += h->total;
    if (h->max > into->max)
        into->max = h->max;
}

static inline uint64_t
hist_percentile(const hist *h, double p)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

#endif /* LD_BENCH_HIST_H */
