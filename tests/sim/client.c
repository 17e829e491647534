/*
 * client.c -- the simulated clients and their workload.
 *
 * Client 0 is the creator: it creates itself and one drop with a small stock, then reads the
 * drop (linearizable GET_DROP at the primary) now and then. Every other client is a user: it
 * creates itself, waits for the drop, then runs reserve rounds; each reserve (with its own
 * idempotency key) is followed by a commit, a release, nothing (the reservation expires through
 * the primary's TICKs), or a replay of the same reserve whose answer must be the first one
 * (S4, P3), then a commit. One request at a time per client, sent to the replica it believes is
 * the primary; on NOT_PRIMARY it follows the hint (or tries the next replica), on a timeout it
 * tries the next replica, always resending the SAME op bytes (REPLICATION.md §9.3).
 *
 * Storm clients (the last p.storm_clients of a storm seed, world.c) wait for the storm, then
 * send creates of fresh users back to back (think time 0..2 ms) until it is over: a write rate
 * the scripted clients never reach, so that a replica restarting from a lost disk comes back far
 * behind a primary that keeps going.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "sim.h"

#define SIM_EPOCH_MS 1700000000000LL
#define CLIENT_TIMEOUT_MS 400
#define HOUR_MS 3600000LL

enum follow_kind {
    FOLLOW_CHECKOUT = 0,
    FOLLOW_RELEASE,
    FOLLOW_NOTHING,
    FOLLOW_REPLAY, /* the same reserve again, then a commit */
};

ld_id
sim_id(uint32_t kind, uint32_t n)
{
    ld_id id;
    memset(&id, 0, sizeof id);
    id.bytes[0] = 0x51; /* never all zero */
    id.bytes[1] = (uint8_t)kind;
    for (int i = 0; i < 4; i++)
        id.bytes[12 + i] = (uint8_t)(n >> (24 - 8 * i));
    return id;
}

void
sim_client_init(sim_world *w, sim_client *c, uint32_t index)
{
    memset(c, 0, sizeof *c);
    c->index = index;
    c->user = sim_id(2, index);
    c->phase = SIM_CL_SETUP;
    c->rounds_max = w->p.rounds_max;
    c->believed_primary = 0;
    c->target = 0;
    c->next_at = sim_rng_range(&w->rng, 0, 50);
    if (index >= w->p.clients - w->p.storm_clients) {
        c->storm = true;
        c->phase = SIM_CL_STORM;
    }
}

static void
free_ops(sim_client *c)
{
    for (uint32_t i = 0; i < LD_SIM_REQ_OPS_MAX; i++) {
        free(c->ops[i]);
        c->ops[i] = NULL;
        c->ops_len[i] = 0;
    }
    c->n_ops = 0;
}

void
sim_client_fini(sim_client *c)
{
    free_ops(c);
}

bool
sim_client_done(const sim_client *c)
{
    return c->phase == SIM_CL_DONE;
}

int64_t
sim_client_next_at(const sim_client *c)
{
    if (c->phase == SIM_CL_DONE)
        return INT64_MAX;
    if ((c->phase == SIM_CL_WAIT_SETUP || c->phase == SIM_CL_STORM) && !c->waiting)
        return c->next_at; /* polls */
    if (c->waiting && c->sent_at >= 0)
        return c->deadline;
    return c->next_at;
}

/* Adds one op (packed) to the request being built and registers it with the checks (S4). */
static void
add_op(sim_world *w, sim_client *c, const ld_op *op)
{
    LD_ASSERT(c->n_ops < LD_SIM_REQ_OPS_MAX);
    Ldpb__Op pb;
    ld_codec_op_scratch scratch;
    ld_codec_op_to_pb(op, &pb, &scratch);
    size_t len = ldpb__op__get_packed_size(&pb);
    uint8_t *buf = malloc(len ? len : 1);
    LD_ASSERT(buf != NULL);
    LD_ASSERT(ldpb__op__pack(&pb, buf) == len);
    c->ops[c->n_ops] = buf;
    c->ops_len[c->n_ops] = len;
    c->op_types[c->n_ops] = op->type;
    c->n_ops++;
    if (op->type != LD_OP_GET_DROP)
        sim_check_client_op(w, buf, len, op->type);
}

static ld_op
op_new(ld_op_type type, ld_id principal)
{
    ld_op op;
    memset(&op, 0, sizeof op);
    op.type = type;
    op.principal = principal;
    return op;
}

static void
build_create_creator(sim_world *w, sim_client *c)
{
    ld_op op = op_new(LD_OP_CREATE_CREATOR, w->creator);
    op.u.create_creator.id = w->creator;
    snprintf(op.u.create_creator.handle, sizeof op.u.create_creator.handle, "sim_creator");
    snprintf(op.u.create_creator.name, sizeof op.u.create_creator.name, "Sim Creator");
    add_op(w, c, &op);
}

static void
build_create_drop(sim_world *w, sim_client *c)
{
    ld_op op = op_new(LD_OP_CREATE_DROP, w->creator);
    ld_op_create_drop *d = &op.u.create_drop;
    d->id = w->drop;
    d->product.creator_id = w->creator;
    snprintf(d->product.title, sizeof d->product.title, "Sim drop");
    d->product.price_minor = 2500;
    memcpy(d->product.currency, "EUR", 4);
    /* Live for the whole run whatever the wall clocks do (they jump by seconds, not hours). */
    d->starts_at_ms = SIM_EPOCH_MS - HOUR_MS;
    d->ends_at_ms = SIM_EPOCH_MS + 24 * HOUR_MS;
    d->initial_stock = w->p.stock;
    d->low_stock_threshold = 2;
    d->max_per_user = 0;
    d->reservation_ttl_ms = w->p.ttl_ms;
    add_op(w, c, &op);
}

static void
build_create_user(sim_world *w, sim_client *c)
{
    ld_op op = op_new(LD_OP_CREATE_USER, c->user);
    op.u.create_user.id = c->user;
    snprintf(op.u.create_user.name, sizeof op.u.create_user.name, "user %u", c->index);
    snprintf(op.u.create_user.email, sizeof op.u.create_user.email, "u%u@sim.test", c->index);
    add_op(w, c, &op);
}

static void
build_reserve(sim_world *w, sim_client *c, int64_t qty)
{
    ld_op op = op_new(LD_OP_RESERVE, c->user);
    op.u.reserve.drop_id = w->drop;
    op.u.reserve.user_id = c->user;
    op.u.reserve.qty = qty;
    snprintf(op.u.reserve.idempotency_key, sizeof op.u.reserve.idempotency_key, "%s", c->last_key);
    add_op(w, c, &op);
}

static void
build_commit(sim_world *w, sim_client *c)
{
    ld_op op = op_new(LD_OP_CHECKOUT, c->user);
    op.u.checkout.reservation_id = c->last_res;
    snprintf(op.u.checkout.payment_ref, sizeof op.u.checkout.payment_ref, "pay-%u-%u", c->index,
             c->rounds);
    add_op(w, c, &op);
}

static void
build_release(sim_world *w, sim_client *c)
{
    ld_op op = op_new(LD_OP_RELEASE, c->user);
    op.u.id = c->last_res;
    add_op(w, c, &op);
}

/* A storm write: a user nobody else creates (each op distinct, so S4 tracks each one). */
static void
build_storm_create(sim_world *w, sim_client *c)
{
    ld_id id = sim_id(4, c->index << 20 | ++c->storm_ops);
    ld_op op = op_new(LD_OP_CREATE_USER, id);
    op.u.create_user.id = id;
    snprintf(op.u.create_user.name, sizeof op.u.create_user.name, "storm %u", c->storm_ops);
    snprintf(op.u.create_user.email, sizeof op.u.create_user.email, "s%u-%u@sim.test", c->index,
             c->storm_ops);
    add_op(w, c, &op);
}

static void
build_read(sim_world *w, sim_client *c)
{
    ld_op op = op_new(LD_OP_GET_DROP, w->creator);
    op.u.id = w->drop;
    add_op(w, c, &op);
    c->is_read = true;
}

/* Builds the client's next request from its script; false when there is none now. */
static bool
next_request(sim_world *w, sim_client *c)
{
    free_ops(c);
    c->is_read = false;
    switch (c->phase) {
    case SIM_CL_SETUP:
        if (c->index == 0) {
            if (c->step == 0)
                build_create_creator(w, c);
            else
                build_create_drop(w, c);
        } else {
            build_create_user(w, c);
        }
        return true;
    case SIM_CL_WAIT_SETUP:
        return false;
    case SIM_CL_STORM:
        build_storm_create(w, c);
        return true;
    case SIM_CL_RESERVE:
        if (c->index == 0) {
            build_read(w, c);
            return true;
        }
        snprintf(c->last_key, sizeof c->last_key, "k-%u-%u", c->index, c->rounds);
        c->last_res_qty = sim_rng_range(&w->rng, 1, 2);
        build_reserve(w, c, c->last_res_qty);
        return true;
    case SIM_CL_FOLLOW_UP:
        if (c->follow_kind == FOLLOW_RELEASE)
            build_release(w, c);
        else if (c->follow_kind == FOLLOW_REPLAY && c->step == 0)
            build_reserve(w, c, c->last_res_qty);
        else
            build_commit(w, c);
        return true;
    case SIM_CL_DONE:
        return false;
    }
    return false;
}

static void
send_attempt(sim_world *w, sim_client *c)
{
    sim_msg *m = calloc(1, sizeof *m);
    LD_ASSERT(m != NULL);
    m->type = SIM_MSG_REQ;
    m->from = c->index;
    m->to = c->target;
    m->req_id = c->req_id;
    m->n_ops = c->n_ops;
    m->is_read = c->is_read;
    for (uint32_t i = 0; i < c->n_ops; i++) {
        m->ops[i] = malloc(c->ops_len[i] ? c->ops_len[i] : 1);
        LD_ASSERT(m->ops[i] != NULL);
        memcpy(m->ops[i], c->ops[i], c->ops_len[i]);
        m->ops_len[i] = c->ops_len[i];
    }
    sim_log(w, SIM_EV_REQ, (int32_t)c->index, (int32_t)c->target, (uint16_t)c->n_ops, 0, 0, 0,
            (int64_t)c->req_id);
    c->sent_at = w->t;
    c->deadline = w->t + CLIENT_TIMEOUT_MS;
    c->attempts++;
    sim_net_send(w, m);
}

void
sim_client_act(sim_world *w, sim_client *c)
{
    if (c->phase == SIM_CL_DONE)
        return;
    if (c->phase == SIM_CL_WAIT_SETUP) {
        if (!w->setup_done) {
            c->next_at = w->t + 20;
            return;
        }
        c->phase = SIM_CL_RESERVE;
        c->next_at = w->t;
    }
    if (c->phase == SIM_CL_STORM && !c->waiting) {
        if (w->storm_phase == SIM_STORM_OVER || w->storm_phase == SIM_STORM_OFF) {
            c->phase = SIM_CL_DONE;
            return;
        }
        if (!w->storm_on) {
            if (c->next_at <= w->t)
                c->next_at = w->t + 20;
            return;
        }
    }
    if (!c->waiting) {
        if (w->t < c->next_at)
            return;
        if (!next_request(w, c))
            return;
        c->waiting = true;
        c->req_id = ((uint64_t)c->index << 32) | (c->requests_done + 1);
        c->attempts = 0;
        c->target = (uint32_t)c->believed_primary;
        send_attempt(w, c);
        return;
    }
    if (c->sent_at >= 0 && w->t >= c->deadline) {
        c->target = (c->target + 1) % w->p.replica_count;
        sim_log(w, SIM_EV_TIMEOUT, (int32_t)c->index, (int32_t)c->target, 0, 0, 0, 0,
                (int64_t)c->req_id);
        send_attempt(w, c);
        return;
    }
    if (c->sent_at < 0 && w->t >= c->next_at)
        send_attempt(w, c);
}

static void
request_done(sim_world *w, sim_client *c, int64_t think_max_ms)
{
    c->waiting = false;
    c->sent_at = 0;
    c->requests_done++;
    c->next_at = w->t + sim_rng_range(&w->rng, 0, think_max_ms);
}

static void
next_round(sim_world *w, sim_client *c)
{
    c->rounds++;
    c->step = 0;
    c->phase = c->rounds >= c->rounds_max ? SIM_CL_DONE : SIM_CL_RESERVE;
    if (c->index == 0 && c->phase == SIM_CL_DONE) {
        /* the creator keeps reading while users still run */
        for (uint32_t i = 1; i < w->p.clients; i++)
            if (!sim_client_done(&w->cl[i]))
                c->phase = SIM_CL_RESERVE;
    }
}

/* The script moves on with the result of the answered request. */
static void
on_result(sim_world *w, sim_client *c, const sim_msg *m)
{
    const sim_res *res = &m->results[0];
    switch (c->phase) {
    case SIM_CL_SETUP:
        if (c->index == 0 && c->step == 0) {
            c->step = 1;
        } else {
            if (c->index == 0)
                w->setup_done = true;
            c->step = 0;
            c->phase = SIM_CL_WAIT_SETUP;
        }
        request_done(w, c, 20);
        return;
    case SIM_CL_RESERVE:
        if (c->index == 0) {
            next_round(w, c);
            request_done(w, c, 300);
            return;
        }
        if (res->code == LD_OK) {
            c->last_res = res->id;
            c->last_reserve_result = *res;
            c->has_res = true;
            uint64_t k = sim_rng_below(&w->rng, 100);
            c->follow_kind = k < 50   ? FOLLOW_CHECKOUT
                             : k < 70 ? FOLLOW_RELEASE
                             : k < 85 ? FOLLOW_NOTHING
                                      : FOLLOW_REPLAY;
            if (c->follow_kind == FOLLOW_NOTHING) {
                next_round(w, c);
            } else {
                c->phase = SIM_CL_FOLLOW_UP;
                c->step = 0;
            }
        } else {
            next_round(w, c);
        }
        request_done(w, c, 150);
        return;
    case SIM_CL_FOLLOW_UP:
        if (c->follow_kind == FOLLOW_REPLAY && c->step == 0) {
            /* P3: the same key and body give the first answer again */
            const sim_res *first = &c->last_reserve_result;
            if (res->code != first->code || memcmp(&res->id, &first->id, sizeof res->id) != 0)
                sim_fail(w, "S4", "c%u: replaying reserve key %s gave %s, the first answer was %s",
                         c->index, c->last_key, ld_err_name(res->code), ld_err_name(first->code));
            c->step = 1;
        } else {
            next_round(w, c);
        }
        request_done(w, c, 150);
        return;
    case SIM_CL_STORM:
        request_done(w, c, 2);
        return;
    case SIM_CL_WAIT_SETUP:
    case SIM_CL_DONE:
        return;
    }
}

void
sim_client_on_reply(sim_world *w, sim_client *c, const sim_msg *m)
{
    if (!c->waiting || m->req_id != c->req_id)
        return; /* an old or duplicated answer */
    switch (m->reply) {
    case SIM_REPLY_OK:
    case SIM_REPLY_READ:
        sim_log(w, SIM_EV_CLIENT_GOT, (int32_t)c->index, (int32_t)m->from, 0, 0, m->op_number, 0,
                (int64_t)c->req_id);
        c->believed_primary = (int32_t)m->from;
        on_result(w, c, m);
        return;
    case SIM_REPLY_NOT_PRIMARY:
        if (c->sent_at < 0 || m->from != c->target)
            return; /* about an earlier attempt */
        if (m->hint >= 0 && (uint32_t)m->hint != c->target) {
            c->target = (uint32_t)m->hint;
            c->next_at = w->t + 2;
        } else {
            c->target = (c->target + 1) % w->p.replica_count;
            c->next_at = w->t + LD_CLIENT_NOT_PRIMARY_BACKOFF_MS;
        }
        c->believed_primary = (int32_t)c->target;
        c->sent_at = -1; /* resend at next_at */
        return;
    case SIM_REPLY_BUSY:
        if (c->sent_at < 0 || m->from != c->target)
            return;
        c->next_at = w->t + LD_CLIENT_NOT_PRIMARY_BACKOFF_MS;
        c->sent_at = -1;
        return;
    }
}
