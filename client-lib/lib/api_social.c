/*
 * api_social.c -- the public calls for users, creators and the follow graph: check the
 * arguments (validate_social.c), build the op on the caller's stack with its principal (the
 * user or creator the write acts for), run it through the engine. Follower and following pages
 * are page ops (class PAGE: at most LD_REQUEST_LIST_OPS_MAX in one message).
 */
#include <stdio.h>
#include <string.h>

#include "client_int.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        ld_err try_err_ = (expr);                                                                  \
        if (try_err_ != LD_OK)                                                                     \
            return try_err_;                                                                       \
    } while (0)

/* ---- users ---------------------------------------------------------------------------------- */

LD_API ld_err
ld_user_create(ld_client *c, const ld_user_spec *spec, ld_user *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_USER, out, msg);
    TRY(ldi_check_user_spec(spec, msg));
    Ldpb__CreateUser create = LDPB__CREATE_USER__INIT;
    create.id = ldi_id_pb(&spec->id);
    create.name = (char *)spec->name;
    create.email = (char *)spec->email;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(&spec->id);
    op.body_case = LDPB__OP__BODY_CREATE_USER;
    op.create_user = &create;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_USER, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_user_get(ld_client *c, const ld_id *user_id, ld_user *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_USER, out, msg);
    TRY(ldi_check_id(user_id, "get_user.user_id", msg));
    Ldpb__GetUser get = LDPB__GET_USER__INIT;
    get.user_id = ldi_id_pb(user_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_USER;
    op.get_user = &get;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_USER, out, msg, ldi_client_deadline(c));
}

/* ---- creators ------------------------------------------------------------------------------- */

LD_API ld_err
ld_creator_create(ld_client *c, const ld_creator_spec *spec, ld_creator *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_CREATOR, out, msg);
    TRY(ldi_check_creator_spec(spec, msg));
    Ldpb__Attribute attrs[LD_ATTRS_MAX];
    Ldpb__Attribute *attr_ptrs[LD_ATTRS_MAX];
    for (uint32_t i = 0; i < spec->profile_count; i++) {
        ldpb__attribute__init(&attrs[i]);
        attrs[i].key = (char *)spec->profile[i].key;
        attrs[i].value = (char *)spec->profile[i].value;
        attr_ptrs[i] = &attrs[i];
    }
    Ldpb__CreateCreator create = LDPB__CREATE_CREATOR__INIT;
    create.id = ldi_id_pb(&spec->id);
    create.handle = (char *)spec->handle;
    create.name = (char *)spec->name;
    create.n_profile = spec->profile_count;
    create.profile = attr_ptrs;
    Ldpb__Op op = LDPB__OP__INIT;
    op.principal = ldi_id_pb(&spec->id);
    op.body_case = LDPB__OP__BODY_CREATE_CREATOR;
    op.create_creator = &create;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_CREATOR, out, msg, ldi_client_deadline(c));
}

/* GET_CREATOR by id (handle NULL) or by handle (id NULL). */
static ld_err
creator_get(ld_client *c, const ld_id *id, const char *handle, ld_creator *out, ld_errmsg *msg)
{
    Ldpb__GetCreator get = LDPB__GET_CREATOR__INIT;
    if (id != NULL)
        get.creator_id = ldi_id_pb(id);
    else
        get.handle = (char *)handle;
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_CREATOR;
    op.get_creator = &get;
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_CREATOR, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_creator_get(ld_client *c, const ld_id *creator_id, ld_creator *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_CREATOR, out, msg);
    TRY(ldi_check_id(creator_id, "get_creator.creator_id", msg));
    return creator_get(c, creator_id, NULL, out, msg);
}

LD_API ld_err
ld_creator_get_by_handle(ld_client *c, const char *handle, ld_creator *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_CREATOR, out, msg);
    TRY(ldi_check_handle(handle, "get_creator.handle", msg));
    return creator_get(c, NULL, handle, out, msg);
}

/* ---- follows -------------------------------------------------------------------------------- */

typedef enum follow_kind {
    FOLLOW_FOLLOW,
    FOLLOW_UNFOLLOW,
    FOLLOW_IS_FOLLOWING,
} follow_kind;

/* FOLLOW, UNFOLLOW and IS_FOLLOWING: the same two ids; the writes act as the user. */
static ld_err
follow_op(ld_client *c, follow_kind kind, const ld_id *user_id, const ld_id *creator_id,
          ld_follow_state *out, ld_errmsg *msg)
{
    static const char *const names[] = {"follow", "unfollow", "is_following"};
    char field[40];
    LDI_CALL_START(c, LDI_OUT_FOLLOW_STATE, out, msg);
    snprintf(field, sizeof field, "%s.user_id", names[kind]);
    TRY(ldi_check_id(user_id, field, msg));
    snprintf(field, sizeof field, "%s.creator_id", names[kind]);
    TRY(ldi_check_id(creator_id, field, msg));
    Ldpb__Follow follow = LDPB__FOLLOW__INIT;
    Ldpb__Unfollow unfollow = LDPB__UNFOLLOW__INIT;
    Ldpb__IsFollowing is = LDPB__IS_FOLLOWING__INIT;
    Ldpb__Op op = LDPB__OP__INIT;
    switch (kind) {
    case FOLLOW_FOLLOW:
        follow.user_id = ldi_id_pb(user_id);
        follow.creator_id = ldi_id_pb(creator_id);
        op.principal = ldi_id_pb(user_id);
        op.body_case = LDPB__OP__BODY_FOLLOW;
        op.follow = &follow;
        break;
    case FOLLOW_UNFOLLOW:
        unfollow.user_id = ldi_id_pb(user_id);
        unfollow.creator_id = ldi_id_pb(creator_id);
        op.principal = ldi_id_pb(user_id);
        op.body_case = LDPB__OP__BODY_UNFOLLOW;
        op.unfollow = &unfollow;
        break;
    case FOLLOW_IS_FOLLOWING:
        is.user_id = ldi_id_pb(user_id);
        is.creator_id = ldi_id_pb(creator_id);
        op.body_case = LDPB__OP__BODY_IS_FOLLOWING;
        op.is_following = &is;
        break;
    }
    return ldi_run(c, &op, LDI_CLASS_FAST, LDI_OUT_FOLLOW_STATE, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_follow(ld_client *c, const ld_id *user_id, const ld_id *creator_id, ld_follow_state *out,
          ld_errmsg *msg)
{
    return follow_op(c, FOLLOW_FOLLOW, user_id, creator_id, out, msg);
}

LD_API ld_err
ld_unfollow(ld_client *c, const ld_id *user_id, const ld_id *creator_id, ld_follow_state *out,
            ld_errmsg *msg)
{
    return follow_op(c, FOLLOW_UNFOLLOW, user_id, creator_id, out, msg);
}

LD_API ld_err
ld_is_following(ld_client *c, const ld_id *user_id, const ld_id *creator_id, ld_follow_state *out,
                ld_errmsg *msg)
{
    return follow_op(c, FOLLOW_IS_FOLLOWING, user_id, creator_id, out, msg);
}

LD_API ld_err
ld_followers_list(ld_client *c, const ld_id *creator_id, uint32_t first, const char *after,
                  ld_follow_page *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_FOLLOW_PAGE, out, msg);
    TRY(ldi_check_id(creator_id, "list_followers.creator_id", msg));
    TRY(ldi_check_page("list_followers", first, LD_PAGE_EDGES_MAX, after, msg));
    Ldpb__ListFollowers list = LDPB__LIST_FOLLOWERS__INIT;
    list.creator_id = ldi_id_pb(creator_id);
    list.first = first;
    list.after = after != NULL ? (char *)after : "";
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_LIST_FOLLOWERS;
    op.list_followers = &list;
    return ldi_run(c, &op, LDI_CLASS_PAGE, LDI_OUT_FOLLOW_PAGE, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_following_list(ld_client *c, const ld_id *user_id, uint32_t first, const char *after,
                  ld_follow_page *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_FOLLOW_PAGE, out, msg);
    TRY(ldi_check_id(user_id, "list_following.user_id", msg));
    TRY(ldi_check_page("list_following", first, LD_PAGE_EDGES_MAX, after, msg));
    Ldpb__ListFollowing list = LDPB__LIST_FOLLOWING__INIT;
    list.user_id = ldi_id_pb(user_id);
    list.first = first;
    list.after = after != NULL ? (char *)after : "";
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_LIST_FOLLOWING;
    op.list_following = &list;
    return ldi_run(c, &op, LDI_CLASS_PAGE, LDI_OUT_FOLLOW_PAGE, out, msg, ldi_client_deadline(c));
}
