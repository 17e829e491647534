/*
 * test_op.c -- op classification, names and ld_result_fail (shard/op.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "op.h"

Test(op, write_and_client_classification)
{
    /* Goal: writes are exactly the seven state-changing ops; client ops exclude the internal
     * ones and NONE. Method: a table of every type. */
    struct {
        ld_op_type t;
        bool write, client;
    } rows[] = {
        {LD_OP_NONE, false, false},           {LD_OP_CREATE_DROP, true, true},
        {LD_OP_GET_DROP, false, true},        {LD_OP_RESERVE, true, true},
        {LD_OP_CHECKOUT, true, true},         {LD_OP_RELEASE, true, true},
        {LD_OP_PLACE_ORDER, true, true},      {LD_OP_GET_ORDER, false, true},
        {LD_OP_GET_RESERVATION, false, true}, {LD_OP_TICK, true, false},
        {LD_OP_FINISH_ORDER, true, false},    {(ld_op_type)77, false, false},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cr_assert_eq(ld_op_is_write(rows[i].t), rows[i].write, "type %d", rows[i].t);
        cr_assert_eq(ld_op_is_client(rows[i].t), rows[i].client, "type %d", rows[i].t);
    }
}

Test(op, names)
{
    /* Goal: each type has its snake_case name; unknown types say so. Method: spot checks. */
    cr_assert_str_eq(ld_op_name(LD_OP_RESERVE), "reserve");
    cr_assert_str_eq(ld_op_name(LD_OP_PLACE_ORDER), "place_order");
    cr_assert_str_eq(ld_op_name(LD_OP_FINISH_ORDER), "finish_order");
    cr_assert_str_eq(ld_op_name((ld_op_type)77), "unknown");
}

Test(op, result_fail_formats_and_resets)
{
    /* Goal: ld_result_fail sets the code, a formatted message, kind NONE and no payment, and
     * returns the code. Method: fail a result that held a body. */
    ld_result r;
    memset(&r, 0, sizeof r);
    r.kind = LD_RESULT_ORDER;
    r.needs_payment = true;
    cr_assert_eq(ld_result_fail(&r, LD_ERR_SOLD_OUT, "%d left", 3), LD_ERR_SOLD_OUT);
    cr_assert_eq(r.code, LD_ERR_SOLD_OUT);
    cr_assert_str_eq(r.message, "3 left");
    cr_assert_eq(r.kind, LD_RESULT_NONE);
    cr_assert(!r.needs_payment);
}

Test(op, result_fail_truncates_on_a_character_boundary)
{
    /* Goal: a message longer than LD_MESSAGE_BYTES_MAX is cut to fit, never inside a UTF-8
     * sequence. Method: 199 ASCII bytes then a 3-byte euro sign (would straddle the end); and
     * 198 bytes then the euro sign (fits exactly). */
    char long_msg[400];
    memset(long_msg, 'a', 199);
    strcpy(long_msg + 199, "\xe2\x82\xac tail");
    ld_result r;
    ld_result_fail(&r, LD_ERR_INVALID_ARGUMENT, "%s", long_msg);
    cr_assert_eq(strlen(r.message), 199);
    memset(long_msg, 'a', 197);
    strcpy(long_msg + 197, "\xe2\x82\xac tail");
    ld_result_fail(&r, LD_ERR_INVALID_ARGUMENT, "%s", long_msg);
    cr_assert_eq(strlen(r.message), 200);
    cr_assert_eq((unsigned char)r.message[199], 0xac);
    memset(long_msg, 'b', sizeof long_msg - 1);
    long_msg[sizeof long_msg - 1] = '\0';
    ld_result_fail(&r, LD_ERR_INVALID_ARGUMENT, "%s", long_msg);
    cr_assert_eq(strlen(r.message), LD_MESSAGE_BYTES_MAX);
}
