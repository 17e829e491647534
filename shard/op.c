/*
 * op.c -- classification and names of ops, and the result failure helper.
 */
#include "op.h"
#include "shard_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool
ld_op_is_write(ld_op_type type)
{
    switch (type) {
    case LD_OP_CREATE_DROP:
    case LD_OP_RESERVE:
    case LD_OP_COMMIT:
    case LD_OP_RELEASE:
    case LD_OP_PLACE_ORDER:
    case LD_OP_TICK:
    case LD_OP_FINISH_ORDER:
        return true;
    case LD_OP_NONE:
    case LD_OP_GET_DROP:
    case LD_OP_GET_ORDER:
    case LD_OP_GET_RESERVATION:
        return false;
    }
    return false;
}

bool
ld_op_is_client(ld_op_type type)
{
    switch (type) {
    case LD_OP_CREATE_DROP:
    case LD_OP_GET_DROP:
    case LD_OP_RESERVE:
    case LD_OP_COMMIT:
    case LD_OP_RELEASE:
    case LD_OP_PLACE_ORDER:
    case LD_OP_GET_ORDER:
    case LD_OP_GET_RESERVATION:
        return true;
    case LD_OP_NONE:
    case LD_OP_TICK:
    case LD_OP_FINISH_ORDER:
        return false;
    }
    return false;
}

const char *
ld_op_name(ld_op_type type)
{
    switch (type) {
    case LD_OP_NONE:
        return "none";
    case LD_OP_CREATE_DROP:
        return "create_drop";
    case LD_OP_GET_DROP:
        return "get_drop";
    case LD_OP_RESERVE:
        return "reserve";
    case LD_OP_COMMIT:
        return "commit";
    case LD_OP_RELEASE:
        return "release";
    case LD_OP_PLACE_ORDER:
        return "place_order";
    case LD_OP_GET_ORDER:
        return "get_order";
    case LD_OP_GET_RESERVATION:
        return "get_reservation";
    case LD_OP_TICK:
        return "tick";
    case LD_OP_FINISH_ORDER:
        return "finish_order";
    }
    return "unknown";
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
