/*
 * table.c -- open-addressing hash index (see table.h).
 */
#include "table.h"

#include <stdlib.h>
#include <xxhash.h>

#define TABLE_SLOTS_MIN 64u

uint64_t
ldi_table_hash(const void *key, size_t len)
{
    return XXH3_64bits(key, len);
}

static uint32_t
slots_for(uint32_t entries)
{
    uint64_t n = TABLE_SLOTS_MIN;
    while (n < 2ull * entries)
        n <<= 1;
    LD_ASSERT(n <= (1ull << 31));
    return (uint32_t)n;
}

ld_err
ldi_table_init(ldi_table *table, uint32_t cap_max)
{
    LD_ASSERT(table != NULL);
    LD_ASSERT(cap_max >= 1);
    table->slots = calloc(TABLE_SLOTS_MIN, sizeof *table->slots);
    if (table->slots == NULL)
        return LD_ERR_NOMEM;
    table->mask = TABLE_SLOTS_MIN - 1;
    table->count = 0;
    table->cap_max = cap_max;
    return LD_OK;
}

void
ldi_table_fini(ldi_table *table)
{
    if (table == NULL)
        return;
    free(table->slots);
    table->slots = NULL;
    table->count = 0;
}

uint32_t
ldi_table_find(const ldi_table *table, uint64_t hash, ldi_table_eq_fn eq, const void *ctx,
               const void *key)
{
    uint32_t h = (uint32_t)hash;
    for (uint32_t i = h & table->mask;; i = (i + 1) & table->mask) {
        const ldi_table_slot *s = &table->slots[i];
        if (s->val == 0)
            return LDI_NIL;
        if (s->hash == h && eq(ctx, s->val - 1, key))
            return s->val - 1;
    }
}

static void
place(ldi_table_slot *slots, uint32_t mask, ldi_table_slot entry)
{
    uint32_t i = entry.hash & mask;
    while (slots[i].val != 0)
        i = (i + 1) & mask;
    slots[i] = entry;
}

ld_err
ldi_table_reserve(ldi_table *table, uint32_t n)
{
    if ((uint64_t)table->count + n > table->cap_max)
        return LD_ERR_CAPACITY;
    uint32_t want = table->count + n;
    if (2ull * want <= (uint64_t)table->mask + 1)
        return LD_OK;
    uint32_t slots_len = slots_for(want);
    ldi_table_slot *slots = calloc(slots_len, sizeof *slots);
    if (slots == NULL)
        return LD_ERR_NOMEM;
    for (uint32_t i = 0; i <= table->mask; i++)
        if (table->slots[i].val != 0)
            place(slots, slots_len - 1, table->slots[i]);
    free(table->slots);
    table->slots = slots;
    table->mask = slots_len - 1;
    return LD_OK;
}

void
ldi_table_insert(ldi_table *table, uint64_t hash, uint32_t idx)
{
    LD_ASSERT(idx < UINT32_MAX);
    LD_ASSERT(2ull * (table->count + 1) <= (uint64_t)table->mask + 1);
    place(table->slots, table->mask, (ldi_table_slot){.hash = (uint32_t)hash, .val = idx + 1});
    table->count++;
}

void
ldi_table_remove(ldi_table *table, uint64_t hash, uint32_t idx)
{
    uint32_t mask = table->mask;
    uint32_t i = (uint32_t)hash & mask;
    while (table->slots[i].val != idx + 1) {
        LD_ASSERT(table->slots[i].val != 0); /* the entry must be present */
        i = (i + 1) & mask;
    }
    /* Backward shift: pull later entries of the cluster into the hole when their home slot
     * is not between the hole and their current slot (cyclically). */
    uint32_t hole = i;
    for (uint32_t j = (hole + 1) & mask; table->slots[j].val != 0; j = (j + 1) & mask) {
        uint32_t home = table->slots[j].hash & mask;
        bool stays = (j > hole) ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        table->slots[hole] = table->slots[j];
        hole = j;
    }
    table->slots[hole] = (ldi_table_slot){0};
    table->count--;
}
