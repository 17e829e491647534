/*
 * codec.h -- livedrop.proto <-> ld_op / ld_result, with every limit checked on the way in.
 *
 * This is the front line of P6: anything a client sends passes ld_codec_op_from_pb() before the
 * state machine sees it, and any refusal comes back as a code and a message.
 */
#ifndef LD_SHARD_CODEC_H
#define LD_SHARD_CODEC_H

#include "livedrop.pb-c.h"
#include "op.h"

/* Validates and converts one op. from_client: internal ops (tick, finish_order) are refused with
 * LD_ERR_UNKNOWN_OP; from the log they are accepted. On error fills result_out (code + message)
 * and returns its code; on LD_OK result_out is untouched. Borrows `pb`. Thread: any. */
ld_err ld_codec_op_from_pb(const Ldpb__Op *pb, bool from_client, ld_op *op_out,
                           ld_result *result_out);

/* Builds the wire form of an op (for the log). Pointers inside *pb_out point into `op` and
 * `scratch`, which must outlive *pb_out. Thread: any. */
typedef struct ld_codec_op_scratch {
    Ldpb__CreateDrop create_drop;
    Ldpb__Product product;
    char *tags[LD_TAGS_MAX];
    Ldpb__GetDrop get_drop;
    Ldpb__Reserve reserve;
    Ldpb__Commit commit;
    Ldpb__Release release;
    Ldpb__PlaceOrder place_order;
    Ldpb__GetOrder get_order;
    Ldpb__GetReservation get_reservation;
    Ldpb__Tick tick;
    Ldpb__FinishOrder finish_order;
} ld_codec_op_scratch;
void ld_codec_op_to_pb(const ld_op *op, Ldpb__Op *pb_out, ld_codec_op_scratch *scratch);

/* Scratch for one Result's wire form (no heap: every pointer points into it or into result). */
typedef struct ld_codec_result_scratch {
    Ldpb__Drop drop;
    Ldpb__Product product;
    char *tags[LD_TAGS_MAX];
    Ldpb__Stock stock;
    Ldpb__Reservation reservation;
    Ldpb__Order order;
} ld_codec_result_scratch;

/* Builds the wire form of a result. Pointers inside *pb_out point into `result` and `scratch`,
 * which must outlive *pb_out. An empty result->message is sent as ld_strerror(code).
 * Thread: any. */
void ld_codec_result_to_pb(const ld_result *result, Ldpb__Result *pb_out,
                           ld_codec_result_scratch *scratch);

#endif /* LD_SHARD_CODEC_H */
