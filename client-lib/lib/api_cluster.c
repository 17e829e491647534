/*
 * api_cluster.c -- the cluster side of liblivedrop: the address list a client is
 * opened with, which ops are reads (follower reads), the per-thread info of the last call, and
 * ld_cluster_status (GetClusterStatus asked of one given address, no routing).
 */
#include <string.h>

#include "client_int.h"

/* ---- address list --------------------------------------------------------------------------- */

static bool
is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

ld_err
ldi_addr_list_parse(const char *list, ldi_addr_list *out, ld_errmsg *why)
{
    LD_ASSERT(out != NULL);
    memset(out, 0, sizeof *out);
    if (list == NULL || list[0] == '\0')
        return ldi_errmsg_fail(why, LD_ERR_INVALID_ARGUMENT, "no address given");
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma != NULL ? comma : p + strlen(p);
        const char *b = p, *e = end;
        while (b < e && is_space(*b))
            b++;
        while (e > b && is_space(e[-1]))
            e--;
        size_t len = (size_t)(e - b);
        if (len == 0)
            return ldi_errmsg_fail(why, LD_ERR_INVALID_ARGUMENT, "address %u of the list is empty",
                                   out->count + 1);
        if (out->count >= LD_CLIENT_ADDRS_MAX)
            return ldi_errmsg_fail(why, LD_ERR_INVALID_ARGUMENT,
                                   "more than %u addresses (LD_CLIENT_ADDRS_MAX)",
                                   LD_CLIENT_ADDRS_MAX);
        if (len > LD_CLIENT_ADDR_BYTES_MAX)
            return ldi_errmsg_fail(why, LD_ERR_INVALID_ARGUMENT,
                                   "address %u is longer than %u bytes", out->count + 1,
                                   LD_CLIENT_ADDR_BYTES_MAX);
        char *url = out->urls[out->count];
        memcpy(url, b, len);
        url[len] = '\0';
        for (uint32_t i = 0; i < out->count; i++)
            if (strcmp(out->urls[i], url) == 0)
                return ldi_errmsg_fail(why, LD_ERR_INVALID_ARGUMENT, "address %s is listed twice",
                                       url);
        out->count++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    LD_ASSERT(out->count >= 1 && out->count <= LD_CLIENT_ADDRS_MAX);
    return LD_OK;
}

/* ---- reads ---------------------------------------------------------------------------------- */

bool
ldi_op_is_read(const Ldpb__Op *op)
{
    switch (op->body_case) {
    case LDPB__OP__BODY_GET_DROP:
    case LDPB__OP__BODY_GET_ORDER:
    case LDPB__OP__BODY_GET_RESERVATION:
    case LDPB__OP__BODY_GET_USER:
    case LDPB__OP__BODY_GET_CREATOR:
    case LDPB__OP__BODY_IS_FOLLOWING:
    case LDPB__OP__BODY_LIST_FOLLOWERS:
    case LDPB__OP__BODY_LIST_FOLLOWING:
    case LDPB__OP__BODY_GET_PRODUCT:
    case LDPB__OP__BODY_LIST_PRODUCTS:
    case LDPB__OP__BODY_LIST_DROPS:
    case LDPB__OP__BODY_PULL_EVENTS:
    case LDPB__OP__BODY_LIST_NOTIFICATIONS:
    case LDPB__OP__BODY_GET_CLUSTER_STATUS:
        return true;
    default:
        return false;
    }
}

/* ---- last call info (per thread, like errno) ------------------------------------------------ */

static _Thread_local struct {
    const ld_client *client;
    ld_call_info info;
} last_call;

void
ldi_last_call_set(const ld_client *client, const ld_call_info *info)
{
    last_call.client = info != NULL ? client : NULL;
    if (info != NULL)
        last_call.info = *info;
    else
        memset(&last_call.info, 0, sizeof last_call.info);
}

LD_API bool
ld_client_last_call(const ld_client *client, ld_call_info *out)
{
    bool known = client != NULL && last_call.client == client;
    if (out != NULL) {
        if (known)
            *out = last_call.info;
        else
            memset(out, 0, sizeof *out);
    }
    return known;
}

/* ---- cluster status ------------------------------------------------------------------------- */

LD_API const char *
ld_replica_role_name(ld_replica_role role)
{
    switch (role) {
    case LD_ROLE_PRIMARY:
        return "primary";
    case LD_ROLE_BACKUP:
        return "backup";
    case LD_ROLE_VIEW_CHANGE:
        return "view_change";
    case LD_ROLE_RECOVERING:
        return "recovering";
    case LD_ROLE_UNKNOWN:
        break;
    }
    return "unknown";
}

static void
replica_from_pb(ld_replica_status *r, const Ldpb__ReplicaStatus *pb)
{
    memset(r, 0, sizeof *r);
    r->shard_id = pb->shard_id;
    r->node_id = pb->node_id;
    r->replica = pb->replica;
    r->replica_count = pb->replica_count;
    r->role = (ld_replica_role)ldi_enum_in((int)pb->role, LD_ROLE_PRIMARY, LD_ROLE_RECOVERING);
    r->view = pb->view;
    r->log_view = pb->log_view;
    r->op = pb->op;
    r->commit = pb->commit;
    r->applied = pb->applied;
    r->lease = pb->lease;
    r->state_digest = pb->state_digest;
    r->view_changes = pb->view_changes;
    r->repairs = pb->repairs;
    r->state_transfers = pb->state_transfers;
    r->dropped = pb->dropped;
}

bool
ldi_wire_cluster_status(ldi_call *call, const Ldpb__Result *result)
{
    ld_node_status *out = call->out;
    LD_ASSERT(out != NULL);
    LD_ASSERT(call->out_kind == LDI_OUT_CLUSTER_STATUS);
    const Ldpb__ClusterStatus *pb = result->cluster_status;
    if (result->body_case != LDPB__RESULT__BODY_CLUSTER_STATUS || pb == NULL ||
        pb->n_replicas > LD_CLUSTER_STATUS_REPLICAS_MAX) {
        ldi_out_clear(LDI_OUT_CLUSTER_STATUS, out);
        return false;
    }
    out->count = (uint32_t)pb->n_replicas;
    for (uint32_t i = 0; i < out->count; i++) {
        if (pb->replicas[i] == NULL) {
            ldi_out_clear(LDI_OUT_CLUSTER_STATUS, out);
            return false;
        }
        replica_from_pb(&out->replicas[i], pb->replicas[i]);
    }
    return true;
}

LD_API ld_err
ld_cluster_status(ld_client *c, uint32_t addr_index, ld_node_status *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_CLUSTER_STATUS, out, msg);
    if (out == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "out is NULL");
    if (addr_index >= ld_client_addrs_count(c))
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT,
                               "address index %u: the client has %u addresses", addr_index,
                               ld_client_addrs_count(c));
    Ldpb__GetClusterStatus get = LDPB__GET_CLUSTER_STATUS__INIT;
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_CLUSTER_STATUS;
    op.get_cluster_status = &get;
    ldi_call call = {
        .op = &op,
        .cls = LDI_CLASS_DIRECT,
        .out_kind = LDI_OUT_CLUSTER_STATUS,
        .out = out,
        .msg = msg,
        .deadline_ns = ldi_client_deadline(c),
        .pin_addr = addr_index,
    };
    return ldi_client_call(c, &call);
}
