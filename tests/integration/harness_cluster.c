/*
 * harness_cluster.c -- see harness_cluster.h.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <nng/nng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness_cluster.h"
#include "ld_base.h"
#include "ld_limits.h"
#include "livedrop.pb-c.h"

void
ldh_cluster_init(ldh_cluster *c, int n, uint32_t payment_slow_ms)
{
    cr_assert(n == 1 || n == 3 || n == 5, "replication factor %d", n);
    memset(c, 0, sizeof *c);
    c->n = n;
    for (int i = 0; i < n; i++) {
        ldh_node_init(&c->nodes[i], payment_slow_ms);
        uint16_t p;
        do {
            p = ldh_free_port();
        } while (p == c->nodes[i].port || p == c->nodes[i].pub_port);
        c->peer_port[i] = p;
    }
    snprintf(c->conf_path, sizeof c->conf_path, "%s/cluster.conf", c->nodes[0].root);
    FILE *f = fopen(c->conf_path, "w");
    cr_assert(f, "fopen %s: %s", c->conf_path, strerror(errno));
    /* A random cluster id: a node of an earlier test still listening on a reused port would be
     * of another cluster and its messages dropped. */
    uint64_t cluster_id = (uint64_t)ldh_mono_ms() * 2654435761u ^ (uint64_t)getpid();
    fprintf(f, "# written by harness_cluster.c\ncluster_id = %llu\n",
            (unsigned long long)(cluster_id | 1));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        ldh_node *node = &c->nodes[i];
        fprintf(f, "replica = %d %s tcp://127.0.0.1:%u %s\n", i + 1, node->url,
                (unsigned)c->peer_port[i], node->pub_url);
        snprintf(node->conf_path, sizeof node->conf_path, "%s", c->conf_path);
        node->node_id = (uint32_t)(i + 1);
        node->format_next = true;
        off += (size_t)snprintf(c->addrs + off, sizeof c->addrs - off, "%s%s", i ? "," : "",
                                node->url);
    }
    cr_assert_eq(fclose(f), 0);
}

void
ldh_cluster_start_all(ldh_cluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].pid == 0)
            ldh_node_start(&c->nodes[i]);
}

void
ldh_cluster_kill_all(ldh_cluster *c)
{
    for (int i = 0; i < c->n; i++)
        if (c->nodes[i].pid != 0)
            ldh_node_kill9(&c->nodes[i]);
}

void
ldh_cluster_destroy(ldh_cluster *c)
{
    for (int i = c->n - 1; i >= 0; i--)
        ldh_node_destroy(&c->nodes[i]); /* node 0 last: its root holds the conf file */
}

void
ldh_cluster_wipe(ldh_cluster *c, int i)
{
    ldh_node *node = &c->nodes[i];
    if (node->pid != 0)
        ldh_node_kill9(node);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s'", node->data_dir, node->data_dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    node->format_next = false;
}

/* ---- raw requests ---------------------------------------------------------------------------- */

/* Sends one request to url and returns the unpacked Response (owned) or NULL on no answer. */
static Ldpb__Response *
direct_call(const char *url, Ldpb__Op **ops, size_t n, bool follower_read, int32_t timeout_ms)
{
    Ldpb__Request req = LDPB__REQUEST__INIT;
    req.version = LD_PROTOCOL_VERSION;
    req.request_id = 1;
    req.n_ops = n;
    req.ops = ops;
    req.follower_read = follower_read;
    size_t len = ldpb__request__get_packed_size(&req);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    ldpb__request__pack(&req, buf);
    uint32_t sock = ldh_raw_open(url, timeout_ms);
    Ldpb__Response *resp = NULL;
    if (sock != 0) {
        void *reply = NULL;
        size_t reply_len = 0;
        if (ldh_raw_call(sock, buf, len, &reply, &reply_len) == 0) {
            resp = ldpb__response__unpack(NULL, reply_len, reply);
            free(reply);
        }
        ldh_raw_close(sock);
    }
    free(buf);
    return resp;
}

ldh_rstatus
ldh_cluster_status(const ldh_cluster *c, int i, int32_t timeout_ms)
{
    ldh_rstatus st;
    memset(&st, 0, sizeof st);
    if (c->nodes[i].pid == 0)
        return st;
    Ldpb__GetClusterStatus body = LDPB__GET_CLUSTER_STATUS__INIT;
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_CLUSTER_STATUS;
    op.get_cluster_status = &body;
    Ldpb__Op *ops[1] = {&op};
    Ldpb__Response *resp = direct_call(c->nodes[i].url, ops, 1, false, timeout_ms);
    if (!resp)
        return st;
    if (resp->code == 0 && resp->n_results == 1 && resp->results[0]->code == 0 &&
        resp->results[0]->body_case == LDPB__RESULT__BODY_CLUSTER_STATUS &&
        resp->results[0]->cluster_status->n_replicas >= 1) {
        const Ldpb__ReplicaStatus *r = resp->results[0]->cluster_status->replicas[0];
        st.ok = true;
        st.role = (int)r->role;
        st.replica = r->replica;
        st.view = r->view;
        st.log_view = r->log_view;
        st.op = r->op;
        st.commit = r->commit;
        st.applied = r->applied;
        st.digest = r->state_digest;
        st.lease = r->lease;
    }
    ldpb__response__free_unpacked(resp, NULL);
    return st;
}

static const char *
role_name(int role)
{
    switch (role) {
    case LDH_ROLE_PRIMARY:
        return "primary";
    case LDH_ROLE_BACKUP:
        return "backup";
    case LDH_ROLE_VIEW_CHANGE:
        return "view_change";
    case LDH_ROLE_RECOVERING:
        return "recovering";
    default:
        return "?";
    }
}

void
ldh_cluster_print_status(const ldh_cluster *c)
{
    for (int i = 0; i < c->n; i++) {
        ldh_rstatus st = ldh_cluster_status(c, i, 1000);
        if (!st.ok) {
            cr_log_warn("node %d: %s", i + 1, c->nodes[i].pid ? "no answer" : "not running");
            continue;
        }
        cr_log_warn("node %d: %s view %llu log_view %llu op %llu commit %llu applied %llu "
                    "lease %d digest %016llx",
                    i + 1, role_name(st.role), (unsigned long long)st.view,
                    (unsigned long long)st.log_view, (unsigned long long)st.op,
                    (unsigned long long)st.commit, (unsigned long long)st.applied, st.lease,
                    (unsigned long long)st.digest);
    }
}

int
ldh_cluster_wait_primary(const ldh_cluster *c, unsigned mask, int64_t timeout_ms)
{
    int64_t deadline = ldh_mono_ms() + timeout_ms;
    for (;;) {
        uint64_t top = 0;
        int primary = -1, primaries = 0;
        ldh_rstatus st[LDH_CLUSTER_MAX];
        for (int i = 0; i < c->n; i++) {
            st[i] = (mask >> i & 1u) ? ldh_cluster_status(c, i, 500) : (ldh_rstatus){0};
            if (st[i].ok && st[i].view > top)
                top = st[i].view;
        }
        for (int i = 0; i < c->n; i++)
            if (st[i].ok && st[i].view == top && st[i].role == LDH_ROLE_PRIMARY && st[i].lease) {
                primary = i;
                primaries++;
            }
        if (primaries == 1)
            return primary;
        if (ldh_mono_ms() >= deadline) {
            ldh_cluster_print_status(c);
            cr_assert_fail("no primary with a lease among the nodes 0x%x within %lld ms", mask,
                           (long long)timeout_ms);
        }
        ldh_sleep_ms(20);
    }
}

uint64_t
ldh_cluster_wait_converged(const ldh_cluster *c, unsigned mask, uint64_t min_applied,
                           int64_t timeout_ms)
{
    int64_t deadline = ldh_mono_ms() + timeout_ms;
    for (;;) {
        bool same = true, first = true;
        ldh_rstatus ref = {0};
        for (int i = 0; i < c->n && same; i++) {
            if (!(mask >> i & 1u))
                continue;
            ldh_rstatus st = ldh_cluster_status(c, i, 500);
            if (!st.ok || (st.role != LDH_ROLE_PRIMARY && st.role != LDH_ROLE_BACKUP) ||
                st.applied < min_applied) {
                same = false;
            } else if (first) {
                ref = st;
                first = false;
            } else if (st.view != ref.view || st.applied != ref.applied ||
                       st.digest != ref.digest) {
                same = false;
            }
        }
        if (same && !first)
            return ref.applied;
        if (ldh_mono_ms() >= deadline) {
            ldh_cluster_print_status(c);
            cr_assert_fail("nodes 0x%x did not converge (same view, applied op and digest) "
                           "within %lld ms",
                           mask, (long long)timeout_ms);
        }
        ldh_sleep_ms(20);
    }
}

static ProtobufCBinaryData
pb_id(const ld_id *id)
{
    return (ProtobufCBinaryData){.len = sizeof id->bytes, .data = (uint8_t *)id->bytes};
}

/* The envelope code if nonzero, else the first result's code; LD_ERR_TIMEOUT on no answer. */
static ld_err
resp_code(const Ldpb__Response *resp)
{
    if (!resp)
        return LD_ERR_TIMEOUT;
    if (resp->code != 0)
        return (ld_err)resp->code;
    if (resp->n_results != 1)
        return LD_ERR_PROTOCOL;
    return (ld_err)resp->results[0]->code;
}

ld_err
ldh_cluster_follower_stock(const ldh_cluster *c, int i, const ld_id *drop_id, ldh_stock *out,
                           int32_t timeout_ms)
{
    Ldpb__GetDrop body = LDPB__GET_DROP__INIT;
    body.drop_id = pb_id(drop_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_DROP;
    op.get_drop = &body;
    Ldpb__Op *ops[1] = {&op};
    Ldpb__Response *resp = direct_call(c->nodes[i].url, ops, 1, true, timeout_ms);
    ld_err err = resp_code(resp);
    if (err == LD_OK) {
        const Ldpb__Result *r = resp->results[0];
        if (r->body_case != LDPB__RESULT__BODY_DROP || !r->drop->stock) {
            err = LD_ERR_PROTOCOL;
        } else {
            out->initial = r->drop->initial_stock;
            out->available = r->drop->stock->available;
            out->reserved = r->drop->stock->reserved;
            out->sold = r->drop->stock->sold;
        }
    }
    if (resp)
        ldpb__response__free_unpacked(resp, NULL);
    return err;
}

ld_err
ldh_cluster_direct_get_drop(const ldh_cluster *c, int i, const ld_id *drop_id, int32_t timeout_ms)
{
    Ldpb__GetDrop body = LDPB__GET_DROP__INIT;
    body.drop_id = pb_id(drop_id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_DROP;
    op.get_drop = &body;
    Ldpb__Op *ops[1] = {&op};
    Ldpb__Response *resp = direct_call(c->nodes[i].url, ops, 1, false, timeout_ms);
    ld_err err = resp_code(resp);
    if (resp)
        ldpb__response__free_unpacked(resp, NULL);
    return err;
}

ld_err
ldh_cluster_direct_reserve(const ldh_cluster *c, int i, const ld_id *drop_id, const ld_id *user_id,
                           const char *key, int32_t timeout_ms)
{
    Ldpb__Reserve body = LDPB__RESERVE__INIT;
    body.drop_id = pb_id(drop_id);
    body.user_id = pb_id(user_id);
    body.qty = 1;
    body.idempotency_key = (char *)key;
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_RESERVE;
    op.reserve = &body;
    op.principal = pb_id(user_id);
    Ldpb__Op *ops[1] = {&op};
    Ldpb__Response *resp = direct_call(c->nodes[i].url, ops, 1, false, timeout_ms);
    ld_err err = resp_code(resp);
    if (resp)
        ldpb__response__free_unpacked(resp, NULL);
    return err;
}
