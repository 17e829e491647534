/*
 * op.c -- the op table (name, flags, principal rule and handlers of every op), the
 * classification and names read from it, and the result failure helper.
 */
#include "op.h"
#include "shard_int.h"
#include "sm_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Shorthands for the table's flags: a client write, a client read, a client page read. */
#define W (LDI_OP_WRITE | LDI_OP_CLIENT)
#define R LDI_OP_CLIENT
#define PG (LDI_OP_CLIENT | LDI_OP_PAGE)
#define USER LDI_PRINCIPAL_USER
#define CREATOR LDI_PRINCIPAL_CREATOR

/* The table of every op the state machine knows (Redis' command table): name, flags, principal
 * rule and handlers. Adding an op is one row here plus its handler (see op.h for the rest). */
static const ldi_op_row op_table[] = {
    [LD_OP_NONE] = {.name = "none"},
    [LD_OP_CREATE_DROP] = {"create_drop", W, CREATOR, .apply = ldi_create_drop},
    [LD_OP_GET_DROP] = {"get_drop", R, .read = ldi_get_drop},
    [LD_OP_RESERVE] = {"reserve", W, USER, .apply = ldi_reserve},
    [LD_OP_CHECKOUT] = {"commit", W, USER, .apply = ldi_checkout},
    [LD_OP_RELEASE] = {"release", W, USER, .apply = ldi_release},
    [LD_OP_PLACE_ORDER] = {"place_order", W, USER, .apply = ldi_reserve},
    [LD_OP_GET_ORDER] = {"get_order", R, .read = ldi_get_order},
    [LD_OP_GET_RESERVATION] = {"get_reservation", R, .read = ldi_get_reservation},
    [LD_OP_CREATE_USER] = {"create_user", W, USER, .apply = ldi_create_user},
    [LD_OP_GET_USER] = {"get_user", R, .read = ldi_get_user},
    [LD_OP_CREATE_CREATOR] = {"create_creator", W, CREATOR, .apply = ldi_create_creator},
    [LD_OP_GET_CREATOR] = {"get_creator", R, .read = ldi_get_creator},
    [LD_OP_FOLLOW] = {"follow", W, USER, .apply = ldi_follow},
    [LD_OP_UNFOLLOW] = {"unfollow", W, USER, .apply = ldi_follow},
    [LD_OP_IS_FOLLOWING] = {"is_following", R, .read = ldi_is_following},
    [LD_OP_LIST_FOLLOWERS] = {"list_followers", PG, .page = ldi_list_followers},
    [LD_OP_LIST_FOLLOWING] = {"list_following", PG, .page = ldi_list_following},
    [LD_OP_CREATE_PRODUCT] = {"create_product", W, CREATOR, .apply = ldi_create_product},
    [LD_OP_UPDATE_PRODUCT] = {"update_product", W, CREATOR, .apply = ldi_update_product},
    [LD_OP_GET_PRODUCT] = {"get_product", R, .read = ldi_get_product},
    [LD_OP_LIST_PRODUCTS] = {"list_products", PG, .page = ldi_list_products},
    [LD_OP_CANCEL_DROP] = {"cancel_drop", W, CREATOR, .apply = ldi_cancel_drop},
    [LD_OP_LIST_DROPS] = {"list_drops", PG, .page = ldi_list_drops},
    [LD_OP_PULL_EVENTS] = {"pull_events", PG, .page = ldi_pull_events},
    [LD_OP_LIST_NOTIFICATIONS] = {"list_notifications", PG, .page = ldi_list_notifications},
    /* the node answers it (replica status): no handler here */
    [LD_OP_GET_CLUSTER_STATUS] = {"get_cluster_status", R, .apply = NULL},
};

/* The internal ops (LD_OP_TICK..): written to the log by the node, refused from clients. */
static const ldi_op_row op_table_internal[] = {
    [LD_OP_TICK - LD_OP_TICK] = {"tick", LDI_OP_WRITE, .apply = ldi_tick},
    [LD_OP_FINISH_ORDER - LD_OP_TICK] = {"finish_order", LDI_OP_WRITE, .apply = ldi_finish_order},
    [LD_OP_RELAY_FOLLOW - LD_OP_TICK] = {"relay_follow", LDI_OP_WRITE, .apply = ldi_relay_follow},
};

_Static_assert(sizeof op_table / sizeof op_table[0] == LD_OP_GET_CLUSTER_STATUS + 1,
               "every client op has a row");
_Static_assert(sizeof op_table_internal / sizeof op_table_internal[0] ==
                   LD_OP_RELAY_FOLLOW - LD_OP_TICK + 1,
               "every internal op has a row");

#undef W
#undef R
#undef PG
#undef USER
#undef CREATOR

const ldi_op_row *
ldi_op_row_of(ld_op_type type)
{
    static const ldi_op_row unknown = {.name = "unknown"};
    size_t t = (size_t)type;
    if (t < sizeof op_table / sizeof op_table[0] && op_table[t].name != NULL)
        return &op_table[t];
    if (t >= LD_OP_TICK && t - LD_OP_TICK < sizeof op_table_internal / sizeof op_table_internal[0])
        return &op_table_internal[t - LD_OP_TICK];
    return &unknown;
}

bool
ld_op_is_write(ld_op_type type)
{
    return (ldi_op_row_of(type)->flags & LDI_OP_WRITE) != 0;
}

bool
ld_op_is_client(ld_op_type type)
{
    return (ldi_op_row_of(type)->flags & LDI_OP_CLIENT) != 0;
}

bool
ld_op_is_page(ld_op_type type)
{
    return (ldi_op_row_of(type)->flags & LDI_OP_PAGE) != 0;
}

const char *
ld_op_name(ld_op_type type)
{
    return ldi_op_row_of(type)->name;
}

size_t
ldi_utf8_complete_prefix(const char *s, size_t len)
{
    size_t start = len;
    while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80 && len - start < 3)
        start--;
    if (start == 0)
        return len;
    unsigned char lead = (unsigned char)s[start - 1];
    size_t need = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return (len - (start - 1) < need) ? start - 1 : len;
}

ld_err
ld_result_fail(ld_result *result, ld_err code, const char *fmt, ...)
{
    LD_ASSERT(result != NULL);
    LD_ASSERT(fmt != NULL);
    memset(result, 0, sizeof *result);
    result->code = code;
    result->kind = LD_RESULT_NONE;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(result->message, sizeof result->message, fmt, ap);
    va_end(ap);
    if (n < 0)
        result->message[0] = '\0';
    /* A message cut mid-character would not be valid UTF-8 on the wire: drop a partial tail. */
    size_t len = strlen(result->message);
    if (n > 0 && (size_t)n > len)
        len = ldi_utf8_complete_prefix(result->message, len);
    result->message[len] = '\0';
    return code;
}
