/*
 * test_pool.c -- the chunked object pool (shard/pool.c).
 */
#include <criterion/criterion.h>

#include "pool.h"

Test(pool, capacity_reuse_and_stable_addresses)
{
    /* Goal: a pool hands out zeroed elements up to its capacity, then ERR_CAPACITY; freed ones
     * are reused; addresses do not move as chunks are added. Method: 3000 elements of 16 bytes
     * (three chunks). */
    ldi_pool p;
    cr_assert_eq(ldi_pool_init(&p, 16, 3000), LD_OK);
    uint32_t idx;
    cr_assert_eq(ldi_pool_alloc(&p, &idx), LD_OK);
    uint8_t *first = ldi_pool_at(&p, idx);
    first[0] = 42;
    for (uint32_t i = 1; i < 3000; i++) {
        uint32_t j;
        cr_assert_eq(ldi_pool_alloc(&p, &j), LD_OK);
        cr_assert_eq(((uint8_t *)ldi_pool_at(&p, j))[5], 0);
        ((uint8_t *)ldi_pool_at(&p, j))[5] = 1;
    }
    cr_assert(ldi_pool_full(&p));
    cr_assert_eq(ldi_pool_alloc(&p, &idx), LD_ERR_CAPACITY);
    cr_assert_eq(ldi_pool_at(&p, 0), first);
    cr_assert_eq(first[0], 42);
    ldi_pool_free(&p, 1234);
    cr_assert(!ldi_pool_used(&p, 1234));
    cr_assert_eq(ldi_pool_alloc(&p, &idx), LD_OK);
    cr_assert_eq(idx, 1234);
    cr_assert_eq(((uint8_t *)ldi_pool_at(&p, idx))[5], 0);
    cr_assert_eq(p.live, 3000);
    ldi_pool_fini(&p);
}
