/*
 * net.c -- the simulated network: every message (peer frames, client requests and replies) waits
 * in one min-heap ordered by (delivery time, send order). Each send draws a delay (sometimes a
 * long one, which reorders), may be lost or duplicated, and is refused by a cut link. A link cut
 * after the send loses the message at delivery (world.c checks again). The heap is bounded by
 * LD_SIM_NET_INFLIGHT_MAX: past it a send is lost, as a full socket queue would drop it.
 */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

void
sim_msg_free(sim_msg *m)
{
    if (m == NULL)
        return;
    free(m->buf);
    for (uint32_t i = 0; i < LD_SIM_REQ_OPS_MAX; i++)
        free(m->ops[i]);
    free(m);
}

void
sim_net_init(sim_net *net)
{
    memset(net, 0, sizeof *net);
    net->heap = calloc(LD_SIM_NET_INFLIGHT_MAX, sizeof *net->heap);
    LD_ASSERT(net->heap != NULL);
}

void
sim_net_fini(sim_net *net)
{
    for (size_t i = 0; i < net->len; i++)
        sim_msg_free(net->heap[i]);
    free(net->heap);
    net->heap = NULL;
    net->len = 0;
}

static bool
msg_before(const sim_msg *a, const sim_msg *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
heap_push(sim_net *net, sim_msg *m)
{
    LD_ASSERT(net->len < LD_SIM_NET_INFLIGHT_MAX);
    size_t i = net->len++;
    net->heap[i] = m;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!msg_before(net->heap[i], net->heap[parent]))
            break;
        sim_msg *tmp = net->heap[i];
        net->heap[i] = net->heap[parent];
        net->heap[parent] = tmp;
        i = parent;
    }
}

static sim_msg *
heap_pop(sim_net *net)
{
    LD_ASSERT(net->len > 0);
    sim_msg *top = net->heap[0];
    net->heap[0] = net->heap[--net->len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < net->len && msg_before(net->heap[l], net->heap[m]))
            m = l;
        if (r < net->len && msg_before(net->heap[r], net->heap[m]))
            m = r;
        if (m == i)
            break;
        sim_msg *tmp = net->heap[i];
        net->heap[i] = net->heap[m];
        net->heap[m] = tmp;
        i = m;
    }
    return top;
}

bool
sim_net_link_up(const sim_world *w, uint32_t from, uint32_t to)
{
    LD_ASSERT(from < LD_PEER_REPLICAS_MAX && to < LD_PEER_REPLICAS_MAX);
    return !w->net.cut[from][to];
}

static void
log_lose(sim_world *w, const sim_msg *m, int64_t reason)
{
    if (m->type == SIM_MSG_PEER)
        sim_log(w, SIM_EV_LOSE, (int32_t)m->from, (int32_t)m->to, m->peer_kind, m->peer_view,
                m->peer_op, m->peer_commit, reason);
    else
        sim_log(w, SIM_EV_LOSE, (int32_t)m->from, (int32_t)m->to,
                m->type == SIM_MSG_REQ ? SIM_LOSE_SUB_REQ : SIM_LOSE_SUB_REPLY, 0, 0, 0, reason);
}

static sim_msg *
msg_dup(const sim_msg *m)
{
    sim_msg *d = malloc(sizeof *d);
    LD_ASSERT(d != NULL);
    *d = *m;
    d->buf = NULL;
    if (m->len > 0) {
        d->buf = malloc(m->len);
        LD_ASSERT(d->buf != NULL);
        memcpy(d->buf, m->buf, m->len);
    }
    for (uint32_t i = 0; i < LD_SIM_REQ_OPS_MAX; i++) {
        d->ops[i] = NULL;
        if (m->ops[i] != NULL) {
            d->ops[i] = malloc(m->ops_len[i] ? m->ops_len[i] : 1);
            LD_ASSERT(d->ops[i] != NULL);
            memcpy(d->ops[i], m->ops[i], m->ops_len[i]);
        }
    }
    return d;
}

static int64_t
draw_delay(sim_world *w)
{
    sim_net *net = &w->net;
    if (net->slow_ppm > 0 && sim_rng_chance(&w->rng, net->slow_ppm))
        return sim_rng_range(&w->rng, net->delay_min_ms, net->slow_max_ms);
    return sim_rng_range(&w->rng, net->delay_min_ms, net->delay_max_ms);
}

void
sim_net_send(sim_world *w, sim_msg *m)
{
    sim_net *net = &w->net;
    net->sent++;
    if (m->type == SIM_MSG_PEER && !sim_net_link_up(w, m->from, m->to)) {
        log_lose(w, m, SIM_LOSE_PARTITION);
        net->lost++;
        sim_msg_free(m);
        return;
    }
    if (sim_rng_chance(&w->rng, net->loss_ppm)) {
        log_lose(w, m, SIM_LOSE_RANDOM);
        net->lost++;
        sim_msg_free(m);
        return;
    }
    if (net->len + 2 > LD_SIM_NET_INFLIGHT_MAX) {
        log_lose(w, m, SIM_LOSE_NET_FULL);
        net->lost++;
        sim_msg_free(m);
        return;
    }
    m->at = w->t + net->hold_ms + draw_delay(w);
    m->seq = net->seq++;
    if (sim_rng_chance(&w->rng, net->dup_ppm)) {
        sim_msg *d = msg_dup(m);
        d->at = w->t + net->hold_ms + draw_delay(w);
        d->seq = net->seq++;
        if (m->type == SIM_MSG_PEER)
            sim_log(w, SIM_EV_DUP, (int32_t)m->from, (int32_t)m->to, m->peer_kind, m->peer_view,
                    m->peer_op, m->peer_commit, d->at);
        net->dups++;
        heap_push(net, d);
    }
    heap_push(net, m);
}

int64_t
sim_net_next_at(const sim_net *net)
{
    return net->len > 0 ? net->heap[0]->at : INT64_MAX;
}

sim_msg *
sim_net_pop_due(sim_net *net, int64_t t)
{
    if (net->len == 0 || net->heap[0]->at > t)
        return NULL;
    return heap_pop(net);
}
