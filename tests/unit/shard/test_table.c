/*
 * test_table.c -- the open-addressing index (shard/table.c).
 */
#include <criterion/criterion.h>

#include "table.h"

static uint64_t keys[20000];

static bool
eq(const void *ctx, uint32_t idx, const void *key)
{
    (void)ctx;
    return keys[idx] == *(const uint64_t *)key;
}

/* A deliberately weak hash so that clusters and wrap-around happen. */
static uint64_t
weak(uint64_t k)
{
    return k % 97;
}

Test(table, insert_find_remove_under_collisions)
{
    /* Goal: entries stay findable through growth and backward-shift deletion even when all
     * hashes collide into few slots; removed keys are gone; capacity is enforced. Method: 2000
     * keys over 97 hash values, remove every third, check all. */
    ldi_table t;
    cr_assert_eq(ldi_table_init(&t, 2000), LD_OK);
    for (uint32_t i = 0; i < 2000; i++) {
        keys[i] = 1000003ull * i;
        cr_assert_eq(ldi_table_reserve(&t, 1), LD_OK);
        ldi_table_insert(&t, weak(keys[i]), i);
    }
    cr_assert_eq(ldi_table_reserve(&t, 1), LD_ERR_CAPACITY);
    for (uint32_t i = 0; i < 2000; i += 3)
        ldi_table_remove(&t, weak(keys[i]), i);
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t got = ldi_table_find(&t, weak(keys[i]), eq, NULL, &keys[i]);
        cr_assert_eq(got, i % 3 == 0 ? LDI_NIL : i, "key %u", i);
    }
    uint64_t absent = 7;
    cr_assert_eq(ldi_table_find(&t, weak(absent), eq, NULL, &absent), LDI_NIL);
    cr_assert_eq(t.count, 2000 - 667);
    ldi_table_fini(&t);
}

Test(table, real_hash_random_churn)
{
    /* Goal: with the real hash, many inserts and removals in mixed order keep every present key
     * findable. Method: 20000 keys, remove odd ones, reinsert half of them. */
    ldi_table t;
    cr_assert_eq(ldi_table_init(&t, 20000), LD_OK);
    for (uint32_t i = 0; i < 20000; i++) {
        keys[i] = i * 2654435761ull;
        cr_assert_eq(ldi_table_reserve(&t, 1), LD_OK);
        ldi_table_insert(&t, ldi_table_hash(&keys[i], 8), i);
    }
    for (uint32_t i = 1; i < 20000; i += 2)
        ldi_table_remove(&t, ldi_table_hash(&keys[i], 8), i);
    for (uint32_t i = 1; i < 20000; i += 4) {
        cr_assert_eq(ldi_table_reserve(&t, 1), LD_OK);
        ldi_table_insert(&t, ldi_table_hash(&keys[i], 8), i);
    }
    for (uint32_t i = 0; i < 20000; i++) {
        bool present = i % 2 == 0 || i % 4 == 1;
        uint32_t got = ldi_table_find(&t, ldi_table_hash(&keys[i], 8), eq, NULL, &keys[i]);
        cr_assert_eq(got, present ? i : LDI_NIL, "key %u", i);
    }
    ldi_table_fini(&t);
}
