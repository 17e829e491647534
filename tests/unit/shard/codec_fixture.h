/*
 * codec_fixture.h -- helpers shared by the codec suites (test_codec*.c): ids, wire bytes, the
 * expect() check of a refusal, and the op -> wire -> op round trip the log relies on.
 */
#ifndef LD_TEST_CODEC_FIXTURE_H
#define LD_TEST_CODEC_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

static __attribute__((unused))
uint8_t id_a[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static __attribute__((unused)) uint8_t id_b[16] = {9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
static __attribute__((unused))
uint8_t id_c[16] = {0xab, 0xcd, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42};
static __attribute__((unused)) uint8_t id_zero[16];
static __attribute__((unused)) uint8_t id_long[17] = {1};

static inline ProtobufCBinaryData
bin(uint8_t *b, size_t len)
{
    return (ProtobufCBinaryData){.len = len, .data = b};
}

/* Decodes from a client and asserts the code; the message must contain `needle` if given. */
static inline void
expect(const Ldpb__Op *pb, ld_err want, const char *needle)
{
    ld_op op;
    ld_result res;
    memset(&res, 0, sizeof res);
    ld_err err = ld_codec_op_from_pb(pb, true, &op, &res);
    cr_assert_eq(err, want, "got %s (%s), want %s", ld_err_name(err), res.message,
                 ld_err_name(want));
    if (want == LD_OK)
        return;
    cr_assert_eq(res.code, want);
    cr_assert_eq(res.kind, LD_RESULT_NONE);
    if (needle != NULL)
        cr_assert(strstr(res.message, needle) != NULL, "message '%s' lacks '%s'", res.message,
                  needle);
}

/* Decodes a valid op (from a client unless `from_log`) and returns it. */
static inline ld_op
decode_ok(const Ldpb__Op *pb, bool from_log)
{
    ld_op op;
    ld_result res;
    ld_err err = ld_codec_op_from_pb(pb, !from_log, &op, &res);
    cr_assert_eq(err, LD_OK, "got %s (%s)", ld_err_name(err), res.message);
    return op;
}

/* Packs an ld_op's wire form, unpacks it and decodes it as the log would. */
static inline ld_op
round_trip(const ld_op *in)
{
    Ldpb__Op pb;
    ld_codec_op_scratch scratch;
    ld_codec_op_to_pb(in, &pb, &scratch);
    size_t len = protobuf_c_message_get_packed_size(&pb.base);
    uint8_t buf[8192];
    cr_assert_leq(len, sizeof buf);
    protobuf_c_message_pack(&pb.base, buf);
    Ldpb__Op *back = ldpb__op__unpack(NULL, len, buf);
    cr_assert_not_null(back);
    ld_op out;
    ld_result res;
    ld_err err = ld_codec_op_from_pb(back, false, &out, &res);
    cr_assert_eq(err, LD_OK, "%s", res.message);
    ldpb__op__free_unpacked(back, NULL);
    return out;
}

/* Asserts that `op` survives the round trip byte for byte. */
static inline void
expect_round_trip(const ld_op *op)
{
    ld_op back = round_trip(op);
    cr_assert_eq(memcmp(&back, op, sizeof back), 0, "%s does not round-trip", ld_op_name(op->type));
}

/* A string of n copies of c, in buf[n + 1]. */
static inline char *
fill(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

#endif /* LD_TEST_CODEC_FIXTURE_H */
