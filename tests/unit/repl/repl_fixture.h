/*
 * repl_fixture.h -- a tiny deterministic cluster for the replica's unit tests: n replicas over
 * in-memory stores, a toy state machine (a running hash of the applied entries, kept in the same
 * store so it is as durable as the log), and a message pump. Every message goes through the
 * codec (pack, then unpack on delivery), so the tests exercise the wire form too.
 *
 * One round of the pump: deliver every message in flight (in send order, unless a link is cut),
 * tick every replica, then sync every store and only then release the messages the round
 * produced -- the host rule of repl.h. Time advances by TICK ms per round.
 * Header-only (static functions): every test file is its own executable.
 */
#ifndef LD_TEST_REPL_FIXTURE_H
#define LD_TEST_REPL_FIXTURE_H

#include <criterion/criterion.h>
#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "repl.h"
#include "repl_codec.h"
#include "store.h"

#define RF_TICK 10
#define RF_MSGS_MAX 20000
#define RF_CLUSTER 7u
#define RF_SHARD 3u

typedef struct rf_node rf_node;
typedef struct rf_cluster rf_cluster;

struct rf_node {
    rf_cluster *c;
    uint32_t idx;
    ld_store_mem *mem;
    ld_store store;
    ld_repl *r;
    bool down;
    /* toy state machine: applied op and a running hash of the applied entries */
    uint64_t applied;
    uint64_t hash;
    uint64_t applies; /* apply calls in this incarnation */
    /* kinds this replica sent while recovering (must be none of SVC/DVC/PrepareOk) */
    uint32_t sent_kinds[16];
};

typedef struct rf_msg {
    uint32_t from, to;
    uint8_t *frame;
    size_t len;
    bool early;
} rf_msg;

struct rf_cluster {
    uint32_t n;
    rf_node nodes[5];
    ld_repl_config cfg;
    int64_t now;
    rf_msg *flight; /* released, waiting for delivery */
    size_t flight_len;
    rf_msg *out; /* produced this round, released after the sync */
    size_t out_len;
    bool cut[5][5]; /* cut[a][b]: messages a -> b are lost */
    uint64_t delivered;
    uint8_t nonce_seed;
};

/* ---- the toy state machine (host) ----------------------------------------------------------- */

static inline void
rf_sm_persist(rf_node *nd)
{
    uint8_t v[16];
    uint64_t a = htole64(nd->applied), h = htole64(nd->hash);
    memcpy(v, &a, 8);
    memcpy(v + 8, &h, 8);
    nd->store.ops->put(nd->store.impl, "S", 1, v, sizeof v);
}

static inline void
rf_host_send(void *arg, uint32_t to, const ld_repl_msg *msg, bool early)
{
    rf_node *nd = arg;
    rf_cluster *c = nd->c;
    cr_assert_lt(to, c->n);
    cr_assert_neq(to, nd->idx);
    cr_assert_lt(c->out_len, RF_MSGS_MAX);
    if ((unsigned)msg->kind < 16)
        nd->sent_kinds[msg->kind]++;
    rf_msg *m = &c->out[c->out_len++];
    m->from = nd->idx;
    m->to = to;
    m->early = early;
    ld_err err = ld_repl_msg_pack(msg, 1, &m->frame, &m->len);
    cr_assert_eq(err, LD_OK, "pack: %s", ld_err_name(err));
}

static inline void
rf_host_apply(void *arg, uint64_t op, int64_t ts, const uint8_t *entry, uint32_t len)
{
    rf_node *nd = arg;
    cr_assert_eq(op, nd->applied + 1, "replica %u applies op %lu after %lu", nd->idx,
                 (unsigned long)op, (unsigned long)nd->applied);
    uint64_t buf[3] = {nd->hash, op, (uint64_t)ts};
    nd->hash = XXH3_64bits_withSeed(entry, len, XXH3_64bits(buf, sizeof buf));
    nd->applied = op;
    nd->applies++;
    rf_sm_persist(nd);
}

static inline ld_err
rf_host_snapshot(void *arg, uint8_t **buf_out, size_t *len_out, uint64_t *op_out)
{
    rf_node *nd = arg;
    /* A bigger stream than the state, so that it takes several chunks when the test wants. */
    size_t len = 16 + 3000;
    uint8_t *b = malloc(len);
    cr_assert_not_null(b);
    uint64_t a = htole64(nd->applied), h = htole64(nd->hash);
    memcpy(b, &a, 8);
    memcpy(b + 8, &h, 8);
    for (size_t i = 16; i < len; i++)
        b[i] = (uint8_t)(i * 7 + nd->applied);
    *buf_out = b;
    *len_out = len;
    *op_out = nd->applied;
    return LD_OK;
}

static inline ld_err
rf_host_install(void *arg, const uint8_t *buf, size_t len, uint64_t op)
{
    rf_node *nd = arg;
    if (len < 16)
        return LD_ERR_STORAGE;
    uint64_t a, h;
    memcpy(&a, buf, 8);
    memcpy(&h, buf + 8, 8);
    if (le64toh(a) != op)
        return LD_ERR_STORAGE;
    nd->applied = op;
    nd->hash = le64toh(h);
    rf_sm_persist(nd);
    return LD_OK;
}

static inline ld_err
rf_sm_load_cb(void *arg, const void *key, size_t key_len, const void *val, size_t val_len)
{
    rf_node *nd = arg;
    if (key_len == 1 && memcmp(key, "S", 1) == 0 && val_len == 16) {
        uint64_t a, h;
        memcpy(&a, val, 8);
        memcpy(&h, (const uint8_t *)val + 8, 8);
        nd->applied = le64toh(a);
        nd->hash = le64toh(h);
    }
    return LD_OK;
}

/* ---- cluster -------------------------------------------------------------------------------- */

/* Opens replica i from its durable store; returns the open result. */
static inline ld_err
rf_open(rf_cluster *c, uint32_t i)
{
    rf_node *nd = &c->nodes[i];
    nd->applied = 0;
    nd->hash = 0;
    nd->applies = 0;
    memset(nd->sent_kinds, 0, sizeof nd->sent_kinds);
    ld_err err = nd->store.ops->scan(nd->store.impl, "S", 1, rf_sm_load_cb, nd);
    cr_assert_eq(err, LD_OK);
    ld_repl_config cfg = c->cfg;
    cfg.replica = i;
    cfg.replica_count = c->n;
    ld_repl_host host = {.arg = nd,
                         .send = rf_host_send,
                         .apply = rf_host_apply,
                         .snapshot = rf_host_snapshot,
                         .install = rf_host_install};
    uint8_t nonce[16];
    memset(nonce, 0, sizeof nonce);
    nonce[0] = (uint8_t)i;
    nonce[1] = ++c->nonce_seed;
    err = ld_repl_open(&cfg, &nd->store, &host, nd->applied, nonce, c->now, &nd->r);
    if (err == LD_OK) {
        nd->down = false;
        ld_store_mem_sync(nd->mem); /* what open wrote (re-applied state) */
    }
    return err;
}

static inline void
rf_init(rf_cluster *c, uint32_t n, const ld_repl_config *cfg)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    c->now = 1000;
    if (cfg != NULL)
        c->cfg = *cfg;
    c->cfg.cluster_id = RF_CLUSTER;
    c->cfg.shard_id = RF_SHARD;
    c->flight = calloc(RF_MSGS_MAX, sizeof *c->flight);
    c->out = calloc(RF_MSGS_MAX, sizeof *c->out);
    cr_assert(c->flight != NULL && c->out != NULL);
    for (uint32_t i = 0; i < n; i++) {
        rf_node *nd = &c->nodes[i];
        nd->c = c;
        nd->idx = i;
        cr_assert_eq(ld_store_mem_alloc(&nd->mem), LD_OK);
        nd->store = ld_store_mem_store(nd->mem);
        ld_repl_format(&nd->store);
        ld_store_mem_sync(nd->mem);
        cr_assert_eq(rf_open(c, i), LD_OK);
    }
}

/* Crash: memory and unsynced writes are gone; messages it had not released are lost. */
static inline void
rf_crash(rf_cluster *c, uint32_t i)
{
    rf_node *nd = &c->nodes[i];
    ld_repl_free(nd->r);
    nd->r = NULL;
    nd->down = true;
    ld_store_mem_crash(nd->mem);
}

/* Wipes replica i's disk (a new, unformatted data directory). It stays down. */
static inline void
rf_wipe(rf_cluster *c, uint32_t i)
{
    rf_node *nd = &c->nodes[i];
    if (!nd->down)
        rf_crash(c, i);
    ld_store_mem_free(nd->mem);
    cr_assert_eq(ld_store_mem_alloc(&nd->mem), LD_OK);
    nd->store = ld_store_mem_store(nd->mem);
}

static inline void
rf_msg_free(rf_msg *m)
{
    free(m->frame);
    m->frame = NULL;
}

/* One round (see the file comment). */
static inline void
rf_round(rf_cluster *c)
{
    size_t n = c->flight_len;
    for (size_t k = 0; k < n; k++) {
        rf_msg *m = &c->flight[k];
        rf_node *dst = &c->nodes[m->to];
        if (!dst->down && !c->cut[m->from][m->to]) {
            ld_repl_msg_buf buf;
            ld_err err = ld_repl_msg_unpack(m->frame, m->len, &buf);
            cr_assert_eq(err, LD_OK, "unpack: %s", ld_err_name(err));
            cr_assert_eq(buf.config_epoch, 1);
            ld_repl_on_message(dst->r, &buf.msg, c->now);
            ld_repl_msg_buf_done(&buf);
            c->delivered++;
        }
        rf_msg_free(m);
    }
    c->flight_len = 0;
    for (uint32_t i = 0; i < c->n; i++)
        if (!c->nodes[i].down)
            ld_repl_on_tick(c->nodes[i].r, c->now);
    for (uint32_t i = 0; i < c->n; i++)
        ld_store_mem_sync(c->nodes[i].mem);
    memcpy(c->flight, c->out, c->out_len * sizeof *c->out);
    c->flight_len = c->out_len;
    c->out_len = 0;
    c->now += RF_TICK;
}

static inline void
rf_rounds(rf_cluster *c, int k)
{
    for (int i = 0; i < k; i++)
        rf_round(c);
}

/* Syncs and releases what was produced outside a round (e.g. by rf_prepare). */
static inline void
rf_flush(rf_cluster *c)
{
    for (uint32_t i = 0; i < c->n; i++)
        ld_store_mem_sync(c->nodes[i].mem);
    cr_assert_lt(c->flight_len + c->out_len, RF_MSGS_MAX);
    memcpy(c->flight + c->flight_len, c->out, c->out_len * sizeof *c->out);
    c->flight_len += c->out_len;
    c->out_len = 0;
}

static inline ld_repl_state
rf_state(rf_cluster *c, uint32_t i)
{
    ld_repl_state s;
    ld_repl_state_get(c->nodes[i].r, &s);
    return s;
}

/* The index of the replica that is primary in status normal, or -1. */
static inline int
rf_primary(rf_cluster *c)
{
    int p = -1;
    uint64_t best = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].down)
            continue;
        ld_repl_state s = rf_state(c, i);
        if (s.primary && (p < 0 || s.view > best)) {
            p = (int)i;
            best = s.view;
        }
    }
    return p;
}

/* Prepares one entry of `len` bytes derived from `seed` on replica p. */
static inline ld_err
rf_prepare(rf_cluster *c, uint32_t p, uint32_t seed, uint32_t len)
{
    uint8_t buf[256];
    cr_assert_leq(len, sizeof buf);
    for (uint32_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 31 + i);
    ld_repl *r = c->nodes[p].r;
    int64_t ts = c->now + 1000;
    if (ts < ld_repl_head_timestamp(r))
        ts = ld_repl_head_timestamp(r);
    return ld_repl_prepare(r, buf, len, ts, c->now);
}

/* Rounds until cond(c) holds, at most `max` rounds. Returns whether it held. */
static inline bool
rf_until(rf_cluster *c, bool (*cond)(rf_cluster *), int max)
{
    for (int i = 0; i < max; i++) {
        if (cond(c))
            return true;
        rf_round(c);
    }
    return cond(c);
}

/* Every replica that is up holds the same applied op and hash as replica `ref`. */
static inline bool
rf_same_state(rf_cluster *c, uint64_t op)
{
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].down)
            continue;
        if (c->nodes[i].applied != op)
            return false;
    }
    uint64_t h = 0;
    bool first = true;
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].down)
            continue;
        if (first)
            h = c->nodes[i].hash;
        else if (c->nodes[i].hash != h)
            return false;
        first = false;
    }
    return true;
}

static inline void
rf_fini(rf_cluster *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->nodes[i].r != NULL)
            ld_repl_free(c->nodes[i].r);
        ld_store_mem_free(c->nodes[i].mem);
    }
    for (size_t k = 0; k < c->flight_len; k++)
        rf_msg_free(&c->flight[k]);
    for (size_t k = 0; k < c->out_len; k++)
        rf_msg_free(&c->out[k]);
    free(c->flight);
    free(c->out);
}

#endif /* LD_TEST_REPL_FIXTURE_H */
