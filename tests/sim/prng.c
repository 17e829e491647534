/*
 * prng.c -- the simulator's only source of randomness: xoshiro256** (Blackman and Vigna),
 * seeded by splitmix64 from the run's u64 seed. Never rand(): its sequence differs between C
 * libraries, and the same seed must give the same run everywhere.
 */
#include "sim.h"

uint64_t
sim_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void
sim_rng_seed(sim_rng *rng, uint64_t seed)
{
    LD_ASSERT(rng != NULL);
    uint64_t st = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = sim_splitmix64(&st);
    /* xoshiro's state must not be all zero; splitmix64 never yields four zeros in a row */
    LD_ASSERT((rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) != 0);
}

static inline uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
sim_rng_next(sim_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t
sim_rng_below(sim_rng *rng, uint64_t n)
{
    LD_ASSERT(n > 0);
    /* Reject the top partial bucket so every value is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = sim_rng_next(rng);
        if (x < limit)
            return x % n;
    }
}

int64_t
sim_rng_range(sim_rng *rng, int64_t lo, int64_t hi)
{
    LD_ASSERT(lo <= hi);
    uint64_t span = (uint64_t)(hi - lo) + 1;
    if (span == 0) /* the whole int64 range */
        return (int64_t)sim_rng_next(rng);
    return lo + (int64_t)sim_rng_below(rng, span);
}

bool
sim_rng_chance(sim_rng *rng, uint32_t ppm)
{
    if (ppm == 0)
        return false;
    return sim_rng_below(rng, 1000000) < ppm;
}
