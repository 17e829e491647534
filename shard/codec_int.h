/*
 * codec_int.h -- internals shared by the files of the codec (codec.c: field checks, dispatch and
 * the drop and order ops; codec_ops.c: the social and catalog ops; codec_result.c: results, pages,
 * events, topics). Not part of any contract.
 *
 * Every check below either copies a valid field into its ld_op slot and returns LD_OK, or fills
 * `res` (code + a message that starts with `field`) and returns the code. None of them asserts
 * on its input: the input is the network's.
 */
#ifndef LD_SHARD_CODEC_INT_H
#define LD_SHARD_CODEC_INT_H

#include "codec.h"

#define LDI_TRY(expr)                                                                              \
    do {                                                                                           \
        ld_err ldi_try_err_ = (expr);                                                              \
        if (ldi_try_err_ != LD_OK)                                                                 \
            return ldi_try_err_;                                                                   \
    } while (0)

/* Room for a field name such as "create_product.attributes[7].value". */
#define LDI_FIELD_BYTES 64

/* A required id: exactly 16 bytes, not all zero (LD_ERR_INVALID_ID). Thread: any. */
ld_err ldi_codec_check_id(const ProtobufCBinaryData *b, const char *field, ld_id *out,
                          ld_result *res);
/* An optional id: absent (0 bytes) gives the zero id, else as ldi_codec_check_id(). */
ld_err ldi_codec_check_opt_id(const ProtobufCBinaryData *b, const char *field, ld_id *out,
                              ld_result *res);
/* A string of at most `max` bytes of valid UTF-8 (NULL reads as ""), copied NUL-terminated into
 * out[max + 1]. STRING_TOO_LONG, MISSING_FIELD (required and empty), INVALID_ARGUMENT (UTF-8). */
ld_err ldi_codec_check_str(const char *s, const char *field, size_t max, bool required, char *out,
                           ld_result *res);
/* lo <= v <= hi, else VALUE_OUT_OF_RANGE. */
ld_err ldi_codec_check_range(int64_t v, int64_t lo, int64_t hi, const char *field, ld_result *res);
/* LD_TIME_MS_MIN <= t <= LD_TIME_MS_MAX, else INVALID_TIME. */
ld_err ldi_codec_check_time(int64_t t, const char *field, ld_result *res);
/* Exactly three upper-case ASCII letters, copied into out[4] (INVALID_CURRENCY). */
ld_err ldi_codec_check_currency(const char *cur, const char *field, char *out, ld_result *res);
/* 0..LD_TAGS_MAX tags (TOO_MANY_TAGS), each non-empty (INVALID_ARGUMENT) and at most
 * LD_TAG_BYTES_MAX bytes; `field` names the list ("create_drop.product.tags"). */
ld_err ldi_codec_check_tags(size_t n, char *const *tags, const char *field,
                            char out[][LD_TAG_BYTES_MAX + 1], uint32_t *count_out, ld_result *res);
/* 0..LD_ATTRS_MAX key/value pairs (VALUE_OUT_OF_RANGE), keys 1..LD_ATTR_KEY_BYTES_MAX
 * (MISSING_FIELD, STRING_TOO_LONG) and unique (INVALID_ARGUMENT), values
 * 0..LD_ATTR_VALUE_BYTES_MAX. */
ld_err ldi_codec_check_attrs(size_t n, Ldpb__Attribute *const *attrs, const char *field,
                             ld_attr *out, uint32_t *count_out, ld_result *res);
/* LD_HANDLE_BYTES_MIN..MAX characters of [A-Za-z0-9_.], copied as given (INVALID_HANDLE for any
 * length or character outside that, the empty handle included). */
ld_err ldi_codec_check_handle(const char *s, const char *field, char *out, ld_result *res);
/* A page size: 0 gives LD_PAGE_DEFAULT, above `max` is VALUE_OUT_OF_RANGE. */
ld_err ldi_codec_check_first(uint32_t first, uint32_t max, const char *field, uint32_t *out,
                             ld_result *res);
/* A page cursor as sent: empty, or at most LD_CURSOR_BYTES_MAX base64url characters
 * (INVALID_CURSOR). Its content is decoded later, by the state machine (cursor.h). */
ld_err ldi_codec_check_cursor(const char *s, const char *field, char *out, ld_result *res);

/* Decodes the body of a social or catalog op (users, creators, follows, catalog, browse, events,
 * relay_follow) into op->type and op->u; LD_ERR_UNKNOWN_OP for any other body case.
 * Borrows pb. Thread: any. */
ld_err ldi_codec_ops_from_pb(const Ldpb__Op *pb, ld_op *op, ld_result *res);
/* Encodes a social or catalog op (see ldi_codec_ops_from_pb); returns false for any other type.
 * Pointers in *pb point into op and s. Thread: any. */
bool ldi_codec_ops_to_pb(const ld_op *op, Ldpb__Op *pb, ld_codec_op_scratch *s);

/* The wire form of an id (pointing into it), and of an optional id (zero: absent). */
ProtobufCBinaryData ldi_codec_bin(const ld_id *id);
ProtobufCBinaryData ldi_codec_opt_bin(const ld_id *id);
/* Fills pb (and tags[0..LD_TAGS_MAX)) from a drop's product snapshot; pointers into p. */
void ldi_codec_product_to_pb(const ld_product *p, Ldpb__Product *pb, char **tags);
/* Fills pb, ptrs[0..n) and attrs[0..n) from n attributes; pointers into in. */
void ldi_codec_attrs_to_pb(const ld_attr *in, uint32_t n, Ldpb__Attribute *attrs,
                           Ldpb__Attribute **ptrs);

#endif /* LD_SHARD_CODEC_INT_H */
