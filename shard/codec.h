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

/* Validates and converts one op. from_client: internal ops (tick, finish_order, relay_follow) are
 * refused with LD_ERR_UNKNOWN_OP; from the log they are accepted. Op.principal is copied into
 * op_out->principal (absent: zero; present but not 16 bytes or all zero: LD_ERR_INVALID_ID).
 * Page sizes (`first`, pull `max`) come out defaulted, a list_drops without an upper price
 * bound has price_max_minor INT64_MAX, and a pull topic comes out parsed. Cursors are only
 * checked for length and alphabet here; the state machine decodes them (cursor.h).
 * On error fills result_out (code + message naming the field) and returns its code; on LD_OK
 * result_out is untouched. Borrows `pb`. Thread: any. */
ld_err ld_codec_op_from_pb(const Ldpb__Op *pb, bool from_client, ld_op *op_out,
                           ld_result *result_out);

/* Builds the wire form of any op (for the log), principal included, such that
 * ld_codec_op_from_pb(from_client = false) gives `op` back exactly. Pointers inside *pb_out
 * point into `op` and `scratch`, which must outlive *pb_out. No heap. Thread: any. */
typedef struct ld_codec_op_scratch {
    union { /* the op's body: one at a time */
        Ldpb__CreateDrop create_drop;
        Ldpb__GetDrop get_drop;
        Ldpb__Reserve reserve;
        Ldpb__Commit commit;
        Ldpb__Release release;
        Ldpb__PlaceOrder place_order;
        Ldpb__GetOrder get_order;
        Ldpb__GetReservation get_reservation;
        Ldpb__Tick tick;
        Ldpb__FinishOrder finish_order;
        Ldpb__CreateUser create_user;
        Ldpb__GetUser get_user;
        Ldpb__CreateCreator create_creator;
        Ldpb__GetCreator get_creator;
        Ldpb__Follow follow;
        Ldpb__Unfollow unfollow;
        Ldpb__IsFollowing is_following;
        Ldpb__ListFollowers list_followers;
        Ldpb__ListFollowing list_following;
        Ldpb__CreateProduct create_product;
        Ldpb__UpdateProduct update_product;
        Ldpb__GetProduct get_product;
        Ldpb__ListProducts list_products;
        Ldpb__CancelDrop cancel_drop;
        Ldpb__ListDrops list_drops;
        Ldpb__PullEvents pull_events;
        Ldpb__ListNotifications list_notifications;
        Ldpb__GetClusterStatus get_cluster_status;
        Ldpb__RelayFollow relay_follow;
    };
    Ldpb__Product product;
    char *tags[LD_TAGS_MAX];
    Ldpb__Attribute attrs[LD_ATTRS_MAX];
    Ldpb__Attribute *attr_ptrs[LD_ATTRS_MAX];
    char topic[LD_TOPIC_BYTES_MAX + 1];
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
    Ldpb__User user;
    Ldpb__Creator creator;
    Ldpb__CatalogProduct catalog_product;
    Ldpb__Attribute attrs[LD_ATTRS_MAX];
    Ldpb__Attribute *attr_ptrs[LD_ATTRS_MAX];
    Ldpb__FollowState follow_state;
} ld_codec_result_scratch;

/* Builds the wire form of a result. Pointers inside *pb_out point into `result` and `scratch`,
 * which must outlive *pb_out. An empty result->message is sent as ld_strerror(code).
 * Thread: any. */
void ld_codec_result_to_pb(const ld_result *result, Ldpb__Result *pb_out,
                           ld_codec_result_scratch *scratch);

/* Scratch for one page result's wire form (ld_page -> Result with a *_page body). Large and
 * heap-allocated once; reused for every page. */
typedef struct ld_codec_page_scratch ld_codec_page_scratch;
/* Returns owned, free with ld_codec_page_scratch_free(). LD_ERR_NOMEM. Thread: any. */
ld_err ld_codec_page_scratch_alloc(ld_codec_page_scratch **out);
void ld_codec_page_scratch_free(ld_codec_page_scratch *scratch);

/* Builds the wire form of a page (result code LD_OK). Pointers inside *pb_out point into `page`
 * and `scratch`, which must outlive *pb_out and not change until it is packed. Thread: any. */
void ld_codec_page_to_pb(const ld_page *page, Ldpb__Result *pb_out, ld_codec_page_scratch *scratch);

/* Builds the wire form of one event (also the payload of a push message). `topic` (may be NULL)
 * and `topic_seq` fill the fields of the same name. Pointers inside *pb_out point into `ev`,
 * `topic` and `scratch`. Thread: any. */
typedef struct ld_codec_event_scratch {
    Ldpb__Stock stock;
} ld_codec_event_scratch;
void ld_codec_event_to_pb(const ld_event_view *ev, const char *topic, uint64_t topic_seq,
                          Ldpb__Event *pb_out, ld_codec_event_scratch *scratch);

/* Formats a topic name, "creator/<32 hex>" etc., into out. Returns its length. Thread: any. */
size_t ld_topic_format(ld_topic_kind kind, const ld_id *id, char out[LD_TOPIC_BYTES_MAX + 1]);
/* Parses a topic name; false if malformed. Thread: any. */
bool ld_topic_parse(const char *topic, ld_topic_kind *kind_out, ld_id *id_out);

#endif /* LD_SHARD_CODEC_H */
