/*
 * op.c -- classification and names of ops, and the result failure helper.
 */
#include "op.h"
#include "shard_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The table of every op (Redis' command table): name, and whether it writes (goes through the
 * log), whether clients may send it, and whether it answers with a page. */
typedef struct op_info {
    const char *name;
    bool write;
    bool client;
    bool page;
} op_info;

static const op_info *
op_info_of(ld_op_type type)
{
    static const op_info none = {"unknown", false, false, false};
    static const op_info table[] = {
        [LD_OP_NONE] = {"none", false, false, false},
        [LD_OP_CREATE_DROP] = {"create_drop", true, true, false},
        [LD_OP_GET_DROP] = {"get_drop", false, true, false},
        [LD_OP_RESERVE] = {"reserve", true, true, false},
        [LD_OP_COMMIT] = {"commit", true, true, false},
        [LD_OP_RELEASE] = {"release", true, true, false},
        [LD_OP_PLACE_ORDER] = {"place_order", true, true, false},
        [LD_OP_GET_ORDER] = {"get_order", false, true, false},
        [LD_OP_GET_RESERVATION] = {"get_reservation", false, true, false},
        [LD_OP_CREATE_USER] = {"create_user", true, true, false},
        [LD_OP_GET_USER] = {"get_user", false, true, false},
        [LD_OP_CREATE_CREATOR] = {"create_creator", true, true, false},
        [LD_OP_GET_CREATOR] = {"get_creator", false, true, false},
        [LD_OP_FOLLOW] = {"follow", true, true, false},
        [LD_OP_UNFOLLOW] = {"unfollow", true, true, false},
        [LD_OP_IS_FOLLOWING] = {"is_following", false, true, false},
        [LD_OP_LIST_FOLLOWERS] = {"list_followers", false, true, true},
        [LD_OP_LIST_FOLLOWING] = {"list_following", false, true, true},
        [LD_OP_CREATE_PRODUCT] = {"create_product", true, true, false},
        [LD_OP_UPDATE_PRODUCT] = {"update_product", true, true, false},
        [LD_OP_GET_PRODUCT] = {"get_product", false, true, false},
        [LD_OP_LIST_PRODUCTS] = {"list_products", false, true, true},
        [LD_OP_CANCEL_DROP] = {"cancel_drop", true, true, false},
        [LD_OP_LIST_DROPS] = {"list_drops", false, true, true},
        [LD_OP_PULL_EVENTS] = {"pull_events", false, true, true},
        [LD_OP_LIST_NOTIFICATIONS] = {"list_notifications", false, true, true},
        [LD_OP_GET_CLUSTER_STATUS] = {"get_cluster_status", false, true, false},
    };
    static const op_info internal[] = {
        [LD_OP_TICK - LD_OP_TICK] = {"tick", true, false, false},
        [LD_OP_FINISH_ORDER - LD_OP_TICK] = {"finish_order", true, false, false},
        [LD_OP_RELAY_FOLLOW - LD_OP_TICK] = {"relay_follow", true, false, false},
    };
    size_t t = (size_t)type;
    if (t < sizeof table / sizeof table[0] && table[t].name != NULL)
        return &table[t];
    if (t >= LD_OP_TICK && t - LD_OP_TICK < sizeof internal / sizeof internal[0])
        return &internal[t - LD_OP_TICK];
    return &none;
}

bool
ld_op_is_write(ld_op_type type)
{
    return op_info_of(type)->write;
}

bool
ld_op_is_client(ld_op_type type)
{
    return op_info_of(type)->client;
}

bool
ld_op_is_page(ld_op_type type)
{
    return op_info_of(type)->page;
}

const char *
ld_op_name(ld_op_type type)
{
    return op_info_of(type)->name;
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
