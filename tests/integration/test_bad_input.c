/*
 * test_bad_input.c -- bad input hurts no one else (P6).
 *
 * Hand-made frames (ldpb__request__pack on crafted messages, or plain bytes) go to the node over
 * a raw NNG req0 socket and through ld_client_raw. Each must get an error reply with the
 * expected code and a non-empty message. After each one, a normal client on another connection
 * must still be served and the state must be intact: a drop created before keeps its stock
 * (45 available, 5 reserved by an ACTIVE reservation, 0 sold), and an order on a second drop
 * still goes through.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "livedrop.pb-c.h"

TestSuite(bad_input, .fini = ldh_suite_fini, .timeout = 240);

#define RAW_TIMEOUT_MS 10000

typedef struct bad_ctx {
    ldh_node node;
    ld_client *client; /* the well-behaved neighbour */
    uint32_t raw;      /* the hostile connection */
    ld_client *raw_client;
    ld_drop_spec drop; /* 50 units, 5 of them reserved by `res` */
    ld_reservation res;
    ld_drop_spec drop2; /* sells 1 unit per health check */
    int64_t sold2;
    ldh_rng rng;
} bad_ctx;

static bad_ctx ctx;

/* ---- frames ------------------------------------------------------------------------------- */

typedef struct frame {
    uint8_t *data;
    size_t len;
} frame;

static frame
pack_request(uint32_t version, Ldpb__Op **ops, size_t n_ops)
{
    Ldpb__Request req = LDPB__REQUEST__INIT;
    req.version = version;
    req.request_id = 42;
    req.n_ops = n_ops;
    req.ops = ops;
    frame f;
    f.len = ldpb__request__get_packed_size(&req);
    f.data = malloc(f.len ? f.len : 1);
    cr_assert(f.data);
    cr_assert_eq(ldpb__request__pack(&req, f.data), f.len);
    return f;
}

static frame
pack_one(Ldpb__Op *op)
{
    return pack_request(LD_PROTOCOL_VERSION, &op, 1);
}

static frame
bytes_frame(const void *data, size_t len)
{
    frame f = {.data = malloc(len ? len : 1), .len = len};
    cr_assert(f.data);
    if (len)
        memcpy(f.data, data, len);
    return f;
}

static ProtobufCBinaryData
bin(const ld_id *id)
{
    return (ProtobufCBinaryData){.len = sizeof id->bytes, .data = (uint8_t *)id->bytes};
}

/* A create_drop op over static storage, valid until modified. */
typedef struct create_parts {
    Ldpb__Op op;
    Ldpb__CreateDrop cd;
    Ldpb__Product product;
    ld_id id, creator;
    char title[LD_TITLE_BYTES_MAX * 2];
    char currency[16];
    char *tags[LD_TAGS_MAX + 2];
} create_parts;

static void
create_init(create_parts *p)
{
    memset(p, 0, sizeof *p);
    p->op = (Ldpb__Op)LDPB__OP__INIT;
    p->cd = (Ldpb__CreateDrop)LDPB__CREATE_DROP__INIT;
    p->product = (Ldpb__Product)LDPB__PRODUCT__INIT;
    p->id = ldh_id();
    p->creator = ldh_id();
    snprintf(p->title, sizeof p->title, "bad input drop");
    snprintf(p->currency, sizeof p->currency, "EUR");
    p->product.creator_id = bin(&p->creator);
    p->product.title = p->title;
    p->product.price_minor = 500;
    p->product.currency = p->currency;
    p->cd.id = bin(&p->id);
    p->cd.product = &p->product;
    int64_t now = ldh_now_ms();
    p->cd.starts_at_ms = now - 1000;
    p->cd.ends_at_ms = now + 3600000;
    p->cd.initial_stock = 10;
    p->op.principal = bin(&p->creator); /* acts as the drop's creator */
    p->op.body_case = LDPB__OP__BODY_CREATE_DROP;
    p->op.create_drop = &p->cd;
}

typedef struct reserve_parts {
    Ldpb__Op op;
    Ldpb__Reserve r;
    ld_id user;
    uint8_t id_buf[32];
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX * 2];
} reserve_parts;

static void
reserve_init(reserve_parts *p, const ld_id *drop_id, int64_t qty)
{
    memset(p, 0, sizeof *p);
    p->op = (Ldpb__Op)LDPB__OP__INIT;
    p->r = (Ldpb__Reserve)LDPB__RESERVE__INIT;
    p->user = ldh_id();
    memcpy(p->id_buf, drop_id->bytes, 16);
    p->r.drop_id = (ProtobufCBinaryData){.len = 16, .data = p->id_buf};
    p->r.user_id = bin(&p->user);
    p->r.qty = qty;
    ld_id k = ldh_id(); /* thread-safe, unlike ctx.rng */
    snprintf(p->key, sizeof p->key, "bad-%s", ldh_hex(&k));
    p->r.idempotency_key = p->key;
    p->op.principal = bin(&p->user); /* acts as the user the reservation is for */
    p->op.body_case = LDPB__OP__BODY_RESERVE;
    p->op.reserve = &p->r;
}

/* ---- the node's answer and the neighbour's health ---------------------------------------- */

/* Asserts the state is intact and a normal client on another connection is served. */
static void
assert_intact(const char *after)
{
    cr_assert(ldh_node_alive(&ctx.node), "the node died after %s", after);
    ld_drop d;
    ld_errmsg msg = {{0}};
    ld_err err = ld_drop_get(ctx.client, &ctx.drop.id, &d, &msg);
    cr_assert_eq(err, LD_OK, "after %s: get_drop on another connection: %s (%s)", after,
                 ld_err_name(err), msg.text);
    cr_assert(d.stock.available == 45 && d.stock.reserved == 5 && d.stock.sold == 0,
              "after %s: stock changed to %lld/%lld/%lld", after, (long long)d.stock.available,
              (long long)d.stock.reserved, (long long)d.stock.sold);
    ld_reservation r;
    err = ld_reservation_get(ctx.client, &ctx.res.id, &r, &msg);
    cr_assert_eq(err, LD_OK, "after %s: reservation_get: %s", after, ld_err_name(err));
    cr_assert_eq(r.state, LD_RES_ACTIVE, "after %s: reservation state %d", after, (int)r.state);
    ld_id user = ldh_id();
    char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
    ldh_key(&ctx.rng, "ok", key, sizeof key);
    ld_order o;
    err = ld_place_order(ctx.client, &ctx.drop2.id, &user, 1, key, "pm_card_ok", &o, &msg);
    cr_assert_eq(err, LD_OK, "after %s: a normal order failed: %s (%s)", after, ld_err_name(err),
                 msg.text);
    ctx.sold2++;
    ldh_drop_get(ctx.client, &ctx.drop2.id, &d);
    cr_assert_eq(d.stock.sold, ctx.sold2, "after %s: second drop sold %lld, expected %lld", after,
                 (long long)d.stock.sold, (long long)ctx.sold2);
}

static bool
code_in(uint32_t code, const ld_err *codes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (code == (uint32_t)codes[i])
            return true;
    return false;
}

/* Checks one reply: the envelope code if nonzero (then no results), else the single result's. */
static void
check_reply(const char *label, const char *via, const void *reply, size_t len, const ld_err *codes,
            size_t n_codes)
{
    Ldpb__Response *resp = ldpb__response__unpack(NULL, len, reply);
    cr_assert(resp, "%s via %s: the reply (%zu bytes) is not a Response", label, via, len);
    uint32_t code;
    const char *message;
    if (resp->code != 0) {
        cr_assert_eq(resp->n_results, 0, "%s via %s: envelope error %u with %zu results", label,
                     via, resp->code, resp->n_results);
        code = resp->code;
        message = resp->message;
    } else {
        cr_assert_eq(resp->n_results, 1, "%s via %s: envelope OK but %zu results", label, via,
                     resp->n_results);
        code = resp->results[0]->code;
        message = resp->results[0]->message;
    }
    char want[256] = "";
    for (size_t i = 0; i < n_codes; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i ? " or " : "",
                 ld_err_name(codes[i]));
    cr_assert(code_in(code, codes, n_codes), "%s via %s: got %s (%u) \"%s\", expected %s", label,
              via, ld_err_name((ld_err)code), code, message ? message : "", want);
    cr_assert(message && message[0], "%s via %s: %s without a message", label, via,
              ld_err_name((ld_err)code));
    cr_assert_leq(strlen(message), LD_MESSAGE_BYTES_MAX, "%s: message over the limit", label);
    ldpb__response__free_unpacked(resp, NULL);
}

/* Sends `f` over the raw socket and through ld_client_raw, expecting one of `codes` each time,
 * then checks the neighbour. Frees f. */
static void
expect_codes(const char *label, frame f, const ld_err *codes, size_t n_codes)
{
    void *reply = NULL;
    size_t reply_len = 0;
    int rv = ldh_raw_call(ctx.raw, f.data, f.len, &reply, &reply_len);
    cr_assert_eq(rv, 0, "%s: no reply on the raw socket: %s", label, ldh_raw_strerror(rv));
    check_reply(label, "nng req0", reply, reply_len, codes, n_codes);
    free(reply);
    assert_intact(label);

    ld_err err = ld_client_raw(ctx.raw_client, f.data, f.len, &reply, &reply_len);
    cr_assert_eq(err, LD_OK, "%s: ld_client_raw: %s", label, ld_err_name(err));
    check_reply(label, "ld_client_raw", reply, reply_len, codes, n_codes);
    free(reply);
    assert_intact(label);
    free(f.data);
}

#define EXPECT(label, f, ...)                                                                      \
    do {                                                                                           \
        const ld_err codes_[] = {__VA_ARGS__};                                                     \
        expect_codes(label, f, codes_, sizeof codes_ / sizeof codes_[0]);                          \
    } while (0)

static void
bad_setup(void)
{
    ldh_rng_init(&ctx.rng, ldh_seed());
    ldh_node_spawn(&ctx.node, 0);
    ctx.client = ldh_client(&ctx.node, 10000);
    ctx.raw_client = ldh_client(&ctx.node, RAW_TIMEOUT_MS);
    ctx.raw = ldh_raw_open(ctx.node.url, RAW_TIMEOUT_MS);
    cr_assert_neq(ctx.raw, 0, "raw req0 socket to %s", ctx.node.url);
    ldh_drop_create_live(ctx.client, &ctx.drop, 50, 0, 0);
    ldh_drop_create_live(ctx.client, &ctx.drop2, 100000, 0, 0);
    ld_id user = ldh_id();
    ld_errmsg msg = {{0}};
    ld_err err = ld_reserve(ctx.client, &ctx.drop.id, &user, 5, "held", &ctx.res, &msg);
    cr_assert_eq(err, LD_OK, "%s (%s)", ld_err_name(err), msg.text);
    ctx.sold2 = 0;
    assert_intact("setup");
}

static void
bad_teardown(void)
{
    ldh_raw_close(ctx.raw);
    ld_client_close(ctx.raw_client);
    ld_client_close(ctx.client);
    ldh_node_stop(&ctx.node, LDH_STOP_TIMEOUT_MS);
    ldh_node_destroy(&ctx.node);
}

/* Asserts that `f` does not decode as a Request (a precondition of the frame-level cases). */
static void
assert_undecodable(const frame *f, const char *label)
{
    Ldpb__Request *req = ldpb__request__unpack(NULL, f->len, f->data);
    if (req)
        ldpb__request__free_unpacked(req, NULL);
    cr_assert_null(req, "test bug: the %s frame decodes", label);
}

static frame
get_drop_frame(uint32_t version, const ld_id *id)
{
    Ldpb__GetDrop g = LDPB__GET_DROP__INIT;
    g.drop_id = bin(id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_DROP;
    op.get_drop = &g;
    Ldpb__Op *ops[1] = {&op};
    return pack_request(version, ops, 1);
}

Test(bad_input, malformed_frames_get_error_replies)
{
    /* Goal: frames that are not a usable Request -- garbage, a valid request cut in half, empty,
     * over LD_FRAME_BYTES_MAX, version 0 / 999, zero ops, LD_REQUEST_OPS_MAX + 1 ops -- each
     * get an envelope error with the right code and a message, and nobody else is affected.
     * Method: craft each frame, send it over a raw req0 socket and ld_client_raw, decode the
     * Response, then check the neighbour's drop and a normal order. */
    bad_setup();

    uint8_t ff[32];
    memset(ff, 0xff, sizeof ff);
    frame f = bytes_frame(ff, sizeof ff);
    assert_undecodable(&f, "0xff");
    EXPECT("32 bytes of 0xff", f, LD_ERR_PROTOCOL);

    const char *http = "GET / HTTP/1.1\r\nHost: livedrop\r\n\r\n";
    f = bytes_frame(http, strlen(http));
    assert_undecodable(&f, "HTTP");
    EXPECT("an HTTP request", f, LD_ERR_PROTOCOL);

    create_parts cp;
    create_init(&cp);
    f = pack_one(&cp.op);
    size_t full = f.len;
    f.len = full / 2;
    assert_undecodable(&f, "truncated");
    EXPECT("a valid create_drop cut in half", f, LD_ERR_PROTOCOL);

    f = bytes_frame(NULL, 0);
    EXPECT("an empty frame", f, LD_ERR_PROTOCOL, LD_ERR_UNSUPPORTED_VERSION);

    f.len = LD_FRAME_BYTES_MAX + 1;
    f.data = malloc(f.len);
    cr_assert(f.data);
    memset(f.data, 0xff, f.len);
    EXPECT("a frame of LD_FRAME_BYTES_MAX + 1 bytes", f, LD_ERR_FRAME_TOO_LARGE);

    EXPECT("version 0", get_drop_frame(0, &ctx.drop.id), LD_ERR_UNSUPPORTED_VERSION);
    EXPECT("version 999", get_drop_frame(999, &ctx.drop.id), LD_ERR_UNSUPPORTED_VERSION);
    EXPECT("zero ops", pack_request(LD_PROTOCOL_VERSION, NULL, 0), LD_ERR_PROTOCOL,
           LD_ERR_MISSING_FIELD, LD_ERR_INVALID_ARGUMENT);

    /* LD_REQUEST_OPS_MAX ops are fine (every result a drop); one more is refused whole. */
    size_t n = LD_REQUEST_OPS_MAX + 1;
    Ldpb__Op **ops = calloc(n, sizeof *ops);
    Ldpb__GetDrop g = LDPB__GET_DROP__INIT;
    g.drop_id = bin(&ctx.drop.id);
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_GET_DROP;
    op.get_drop = &g;
    for (size_t i = 0; i < n; i++)
        ops[i] = &op;
    f = pack_request(LD_PROTOCOL_VERSION, ops, n - 1);
    void *reply = NULL;
    size_t reply_len = 0;
    cr_assert_eq(ldh_raw_call(ctx.raw, f.data, f.len, &reply, &reply_len), 0);
    Ldpb__Response *resp = ldpb__response__unpack(NULL, reply_len, reply);
    cr_assert(resp);
    cr_assert_eq(resp->code, 0, "%u ops refused: %s", LD_REQUEST_OPS_MAX, resp->message);
    cr_assert_eq(resp->request_id, 42, "request_id not echoed");
    cr_assert_eq(resp->n_results, LD_REQUEST_OPS_MAX);
    for (size_t i = 0; i < resp->n_results; i++) {
        cr_assert_eq(resp->results[i]->code, 0, "op %zu: %u", i, resp->results[i]->code);
        cr_assert_eq(resp->results[i]->body_case, LDPB__RESULT__BODY_DROP);
    }
    ldpb__response__free_unpacked(resp, NULL);
    free(reply);
    free(f.data);
    EXPECT("LD_REQUEST_OPS_MAX + 1 ops", pack_request(LD_PROTOCOL_VERSION, ops, n),
           LD_ERR_TOO_MANY_OPS);
    free(ops);

    /* Far above the node's receive cap: the node must drop the connection without reading the
     * frame (no reply is owed) and live on. Spoken as raw SP-over-TCP, so that the test sees
     * the node close the connection after the length header alone. */
    int fd = ldh_tcp_sp_connect(ctx.node.port, 5000);
    cr_assert_geq(fd, 0, "SP handshake with the node failed");
    uint64_t huge_len = 8 * (uint64_t)LD_FRAME_BYTES_MAX;
    cr_assert(ldh_tcp_send_frame_header(fd, huge_len), "could not send the length header");
    cr_assert(ldh_tcp_wait_closed(fd, 64 * 1024, 5000),
              "the node kept a connection announcing a %llu-byte frame open",
              (unsigned long long)huge_len);
    ldh_tcp_close(fd);
    assert_intact("an 8 MiB frame");

    /* Not even the SP handshake: bytes of another protocol on the TCP port. */
    fd = ldh_tcp_connect(ctx.node.port, 5000);
    cr_assert_geq(fd, 0);
    const char *junk = "HELLO livedrop, this is not SP\r\n\r\n";
    cr_assert(ldh_tcp_send_all(fd, junk, strlen(junk)));
    cr_assert(ldh_tcp_wait_closed(fd, 0, 5000), "the node kept a non-SP connection open");
    ldh_tcp_close(fd);
    assert_intact("a non-SP connection");

    bad_teardown();
}

/* A Request whose only op has field number 50 in its oneof: unknown to this protocol. */
static frame
unknown_field_op_frame(void)
{
    static const uint8_t bytes[] = {0x08, 0x01,        /* version = 1 */
                                    0x1a, 0x03,        /* ops: 3 bytes */
                                    0x92, 0x03, 0x00}; /* field 50, length 0 */
    frame f = bytes_frame(bytes, sizeof bytes);
    Ldpb__Request *req = ldpb__request__unpack(NULL, f.len, f.data);
    cr_assert(req && req->n_ops == 1 && req->ops[0]->body_case == LDPB__OP__BODY__NOT_SET,
              "test bug: unknown-field frame");
    ldpb__request__free_unpacked(req, NULL);
    return f;
}

Test(bad_input, invalid_ops_get_error_results)
{
    /* Goal: a well-formed request whose op is unknown, internal, or breaks a limit gets that
     * op's error code with a message, changes nothing, and nobody else is affected. Method: one
     * crafted op per request over both raw paths: empty oneof, unknown field, tick,
     * finish_order on a live reservation, qty 0 / -1 / LD_QTY_MAX + 1, unknown drop, 15 / 17 /
     * zero-byte ids, title / key / method / ref past their limits, bad currencies, ends <=
     * starts, too many tags, stock and TTL out of range. */
    bad_setup();

    Ldpb__Op empty = LDPB__OP__INIT;
    EXPECT("an op with no body", pack_one(&empty), LD_ERR_UNKNOWN_OP);
    EXPECT("an op with an unknown field", unknown_field_op_frame(), LD_ERR_UNKNOWN_OP);

    Ldpb__Tick tick = LDPB__TICK__INIT;
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_TICK;
    op.tick = &tick;
    EXPECT("tick from a client", pack_one(&op), LD_ERR_UNKNOWN_OP);

    /* finish_order approving the held reservation: refused, so it stays ACTIVE (assert_intact). */
    Ldpb__FinishOrder fin = LDPB__FINISH_ORDER__INIT;
    fin.reservation_id = bin(&ctx.res.id);
    fin.approved = 1;
    fin.payment_ref = "forged";
    op = (Ldpb__Op)LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_FINISH_ORDER;
    op.finish_order = &fin;
    EXPECT("finish_order from a client", pack_one(&op), LD_ERR_UNKNOWN_OP);

    reserve_parts rp;
    const int64_t bad_qty[] = {0, -1, LD_QTY_MAX + 1, INT64_MIN};
    for (size_t i = 0; i < sizeof bad_qty / sizeof bad_qty[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "reserve qty %lld", (long long)bad_qty[i]);
        reserve_init(&rp, &ctx.drop.id, bad_qty[i]);
        EXPECT(label, pack_one(&rp.op), LD_ERR_QTY_OUT_OF_RANGE);
    }
    Ldpb__PlaceOrder po = LDPB__PLACE_ORDER__INIT;
    ld_id po_user = ldh_id();
    po.drop_id = bin(&ctx.drop.id);
    po.user_id = bin(&po_user);
    po.qty = 0;
    po.idempotency_key = "po-qty0";
    po.payment_method = "pm_card_ok";
    op = (Ldpb__Op)LDPB__OP__INIT;
    op.principal = bin(&po_user);
    op.body_case = LDPB__OP__BODY_PLACE_ORDER;
    op.place_order = &po;
    EXPECT("place_order qty 0", pack_one(&op), LD_ERR_QTY_OUT_OF_RANGE);
    po.qty = 1;
    char method[LD_PAYMENT_METHOD_BYTES_MAX + 2];
    memset(method, 'm', sizeof method - 1);
    method[sizeof method - 1] = '\0';
    po.payment_method = method;
    EXPECT("payment_method of LD_PAYMENT_METHOD_BYTES_MAX + 1", pack_one(&op),
           LD_ERR_STRING_TOO_LONG);
    /* A method the node's provider does not take is a bad request, refused before the log:
     * nothing reserved (assert_intact), nothing paid, the key not remembered -- the same key
     * with a known method then orders. Before, it made a FAILED order with PAYMENT_DECLINED. */
    po.drop_id = bin(&ctx.drop2.id);
    po.payment_method = "pm_card_whatever";
    po.idempotency_key = "po-unknown-method";
    EXPECT("place_order with an unknown payment method", pack_one(&op), LD_ERR_INVALID_ARGUMENT);
    po.payment_method = "";
    EXPECT("place_order without a payment method", pack_one(&op), LD_ERR_INVALID_ARGUMENT,
           LD_ERR_MISSING_FIELD);
    ld_order po_order;
    ld_errmsg po_msg;
    ld_err po_err = ld_place_order(ctx.client, &ctx.drop2.id, &po_user, 1, "po-unknown-method",
                                   "pm_card_ok", &po_order, &po_msg);
    cr_assert_eq(po_err, LD_OK, "the key of a refused place_order was remembered: %s (%s)",
                 ld_err_name(po_err), po_msg.text);
    ctx.sold2++;

    ld_id unknown = ldh_id();
    reserve_init(&rp, &unknown, 1);
    EXPECT("reserve on an unknown drop", pack_one(&rp.op), LD_ERR_DROP_NOT_FOUND);
    reserve_init(&rp, &ctx.drop.id, 1);
    rp.op.principal.len = 0;
    EXPECT("reserve without a principal", pack_one(&rp.op), LD_ERR_FORBIDDEN);
    reserve_init(&rp, &ctx.drop.id, 1);
    ld_id someone_else = ldh_id();
    rp.op.principal = bin(&someone_else);
    EXPECT("reserve acting for another user", pack_one(&rp.op), LD_ERR_FORBIDDEN);
    reserve_init(&rp, &ctx.drop.id, 1);
    rp.op.principal.len = 15;
    EXPECT("a principal of 15 bytes", pack_one(&rp.op), LD_ERR_INVALID_ID);
    EXPECT("get_drop of an unknown drop", get_drop_frame(LD_PROTOCOL_VERSION, &unknown),
           LD_ERR_DROP_NOT_FOUND);

    reserve_init(&rp, &ctx.drop.id, 1);
    rp.r.drop_id.len = 15;
    EXPECT("a drop id of 15 bytes", pack_one(&rp.op), LD_ERR_INVALID_ID);
    reserve_init(&rp, &ctx.drop.id, 1);
    rp.r.drop_id.len = 17;
    EXPECT("a drop id of 17 bytes", pack_one(&rp.op), LD_ERR_INVALID_ID);
    reserve_init(&rp, &ctx.drop.id, 1);
    memset(rp.id_buf, 0, 16);
    EXPECT("an all-zero drop id", pack_one(&rp.op), LD_ERR_INVALID_ID);
    reserve_init(&rp, &ctx.drop.id, 1);
    rp.r.user_id.len = 0;
    EXPECT("no user id", pack_one(&rp.op), LD_ERR_INVALID_ID, LD_ERR_MISSING_FIELD);
    reserve_init(&rp, &ctx.drop.id, 1);
    memset(rp.key, 'k', LD_IDEMPOTENCY_KEY_BYTES_MAX + 1);
    rp.key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1] = '\0';
    EXPECT("an idempotency key of LD_IDEMPOTENCY_KEY_BYTES_MAX + 1", pack_one(&rp.op),
           LD_ERR_STRING_TOO_LONG);
    reserve_init(&rp, &ctx.drop.id, 1);
    rp.key[0] = '\0';
    EXPECT("an empty idempotency key", pack_one(&rp.op), LD_ERR_MISSING_FIELD);

    Ldpb__Commit commit = LDPB__COMMIT__INIT;
    char ref[LD_PAYMENT_REF_BYTES_MAX + 2];
    memset(ref, 'r', sizeof ref - 1);
    ref[sizeof ref - 1] = '\0';
    commit.reservation_id = bin(&ctx.res.id);
    commit.payment_ref = ref;
    op = (Ldpb__Op)LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_COMMIT;
    op.commit = &commit;
    EXPECT("a payment ref of LD_PAYMENT_REF_BYTES_MAX + 1", pack_one(&op), LD_ERR_STRING_TOO_LONG);

    create_parts cp;
    create_init(&cp);
    memset(cp.title, 't', LD_TITLE_BYTES_MAX + 1);
    cp.title[LD_TITLE_BYTES_MAX + 1] = '\0';
    EXPECT("a title of LD_TITLE_BYTES_MAX + 1", pack_one(&cp.op), LD_ERR_STRING_TOO_LONG);
    const char *bad_currency[] = {"eur", "EURO", "EU", "", "E1R"};
    for (size_t i = 0; i < sizeof bad_currency / sizeof bad_currency[0]; i++) {
        char label[64];
        snprintf(label, sizeof label, "currency \"%s\"", bad_currency[i]);
        create_init(&cp);
        snprintf(cp.currency, sizeof cp.currency, "%s", bad_currency[i]);
        EXPECT(label, pack_one(&cp.op), LD_ERR_INVALID_CURRENCY);
    }
    create_init(&cp);
    cp.cd.ends_at_ms = cp.cd.starts_at_ms;
    EXPECT("ends_at == starts_at", pack_one(&cp.op), LD_ERR_INVALID_TIME);
    create_init(&cp);
    cp.cd.ends_at_ms = cp.cd.starts_at_ms - 1000;
    EXPECT("ends_at < starts_at", pack_one(&cp.op), LD_ERR_INVALID_TIME);
    create_init(&cp);
    for (unsigned i = 0; i < LD_TAGS_MAX + 1; i++)
        cp.tags[i] = "tag";
    cp.product.n_tags = LD_TAGS_MAX + 1;
    cp.product.tags = cp.tags;
    EXPECT("LD_TAGS_MAX + 1 tags", pack_one(&cp.op), LD_ERR_TOO_MANY_TAGS);
    create_init(&cp);
    cp.cd.initial_stock = 0;
    EXPECT("initial_stock 0", pack_one(&cp.op), LD_ERR_VALUE_OUT_OF_RANGE);
    create_init(&cp);
    cp.cd.initial_stock = LD_STOCK_MAX + 1;
    EXPECT("initial_stock LD_STOCK_MAX + 1", pack_one(&cp.op), LD_ERR_VALUE_OUT_OF_RANGE);
    create_init(&cp);
    cp.product.price_minor = -1;
    EXPECT("price -1", pack_one(&cp.op), LD_ERR_VALUE_OUT_OF_RANGE);
    create_init(&cp);
    cp.cd.reservation_ttl_ms = LD_RESERVATION_TTL_MS_MIN - 1;
    EXPECT("TTL below the minimum", pack_one(&cp.op), LD_ERR_VALUE_OUT_OF_RANGE);
    create_init(&cp);
    cp.cd.product = NULL;
    EXPECT("create_drop without a product", pack_one(&cp.op), LD_ERR_MISSING_FIELD);

    /* None of the refused creates exists. */
    ld_drop d;
    ld_errmsg msg = {{0}};
    ld_err err = ld_drop_get(ctx.client, &cp.id, &d, &msg);
    cr_assert_eq(err, LD_ERR_DROP_NOT_FOUND, "a refused create_drop exists: %s", ld_err_name(err));

    bad_teardown();
}

Test(bad_input, bad_op_does_not_spoil_its_neighbours_in_a_request)
{
    /* Goal: in one request, a bad op gets its own error while the good ops around it run.
     * Method: [get_drop, reserve qty 0, reserve qty 1] in one frame; results OK / QTY / OK, and
     * the good reserve really holds 1 unit. */
    bad_setup();
    Ldpb__GetDrop g = LDPB__GET_DROP__INIT;
    g.drop_id = bin(&ctx.drop.id);
    Ldpb__Op get = LDPB__OP__INIT;
    get.body_case = LDPB__OP__BODY_GET_DROP;
    get.get_drop = &g;
    reserve_parts bad, good;
    reserve_init(&bad, &ctx.drop.id, 0);
    reserve_init(&good, &ctx.drop.id, 1);
    Ldpb__Op *ops[3] = {&get, &bad.op, &good.op};
    frame f = pack_request(LD_PROTOCOL_VERSION, ops, 3);
    void *reply = NULL;
    size_t reply_len = 0;
    cr_assert_eq(ldh_raw_call(ctx.raw, f.data, f.len, &reply, &reply_len), 0);
    Ldpb__Response *resp = ldpb__response__unpack(NULL, reply_len, reply);
    cr_assert(resp);
    cr_assert_eq(resp->code, 0, "whole request refused: %s", resp->message);
    cr_assert_eq(resp->n_results, 3);
    cr_assert_eq(resp->results[0]->code, LD_OK);
    cr_assert_eq(resp->results[0]->body_case, LDPB__RESULT__BODY_DROP);
    cr_assert_eq(resp->results[1]->code, LD_ERR_QTY_OUT_OF_RANGE);
    cr_assert_str_not_empty(resp->results[1]->message);
    cr_assert_eq(resp->results[2]->code, LD_OK, "good reserve: %s", resp->results[2]->message);
    cr_assert_eq(resp->results[2]->body_case, LDPB__RESULT__BODY_RESERVATION);
    ldpb__response__free_unpacked(resp, NULL);
    free(reply);
    free(f.data);
    ld_drop d;
    ldh_drop_get(ctx.client, &ctx.drop.id, &d);
    cr_assert_eq(d.stock.reserved, 6);
    cr_assert_eq(d.stock.available, 44);
    ldh_assert_stock(&d);
    bad_teardown();
}

/* ---- a burst of garbage amid normal traffic ----------------------------------------------- */

#define BURST_GARBAGE_THREADS 4
#define BURST_FRAMES_PER_THREAD 50 /* 200 garbage frames in all */
#define BURST_NORMAL_THREADS 4
#define BURST_ORDERS_PER_THREAD 50

typedef struct burst_thread {
    pthread_t tid;
    uint64_t seed;
    bool garbage;
    int ok, bad;
    char bad_msg[256];
} burst_thread;

static frame
garbage_frame(ldh_rng *rng, int i)
{
    switch (i % 5) {
    case 0: { /* random bytes that do not decode */
        for (;;) {
            size_t len = (size_t)ldh_rand_range(rng, 1, 300);
            frame f = {.data = malloc(len), .len = len};
            for (size_t k = 0; k < len; k++)
                f.data[k] = (uint8_t)ldh_rand(rng);
            Ldpb__Request *req = ldpb__request__unpack(NULL, f.len, f.data);
            if (!req)
                return f;
            ldpb__request__free_unpacked(req, NULL);
            free(f.data);
        }
    }
    case 1:
        return get_drop_frame(999, &ctx.drop.id);
    case 2: {
        Ldpb__Op empty = LDPB__OP__INIT;
        return pack_one(&empty);
    }
    case 3: {
        reserve_parts rp;
        reserve_init(&rp, &ctx.drop.id, LD_QTY_MAX + 1);
        return pack_one(&rp.op);
    }
    default: {
        create_parts cp;
        create_init(&cp);
        frame f = pack_one(&cp.op);
        f.len = (size_t)ldh_rand_range(rng, 1, (int64_t)f.len - 1);
        Ldpb__Request *req = ldpb__request__unpack(NULL, f.len, f.data);
        if (req) { /* a cut on a field boundary decodes: make it a bad version instead */
            ldpb__request__free_unpacked(req, NULL);
            free(f.data);
            return get_drop_frame(0, &ctx.drop.id);
        }
        return f;
    }
    }
}

static void *
burst_main(void *arg)
{
    burst_thread *t = arg;
    ldh_rng rng;
    ldh_rng_init(&rng, t->seed);
    if (t->garbage) {
        uint32_t sock = ldh_raw_open(ctx.node.url, RAW_TIMEOUT_MS);
        if (!sock) {
            t->bad++;
            return NULL;
        }
        for (int i = 0; i < BURST_FRAMES_PER_THREAD; i++) {
            frame f = garbage_frame(&rng, i);
            void *reply = NULL;
            size_t len = 0;
            int rv = ldh_raw_call(sock, f.data, f.len, &reply, &len);
            free(f.data);
            Ldpb__Response *resp = rv == 0 ? ldpb__response__unpack(NULL, len, reply) : NULL;
            uint32_t code = 0;
            if (resp)
                code =
                    resp->code ? resp->code : (resp->n_results == 1 ? resp->results[0]->code : 0);
            if (!resp || code == 0) {
                if (t->bad++ == 0)
                    snprintf(t->bad_msg, sizeof t->bad_msg, "garbage frame %d (kind %d): %s", i,
                             i % 5,
                             rv     ? "no reply"
                             : resp ? "answered OK"
                                    : "bad Response");
            } else {
                t->ok++;
            }
            if (resp)
                ldpb__response__free_unpacked(resp, NULL);
            free(reply);
        }
        ldh_raw_close(sock);
        return NULL;
    }
    ld_client *client = ldh_client_try(ctx.node.url, 15000, 0);
    if (!client) {
        t->bad++;
        return NULL;
    }
    for (int i = 0; i < BURST_ORDERS_PER_THREAD; i++) {
        ld_id user = ldh_id();
        char key[LD_IDEMPOTENCY_KEY_BYTES_MAX + 1];
        ldh_key(&rng, "burst", key, sizeof key);
        ld_order o;
        ld_errmsg msg = {{0}};
        ld_err err = ld_place_order(client, &ctx.drop2.id, &user, 1, key, "pm_card_ok", &o, &msg);
        if (err == LD_OK && o.status == LD_ORDER_PAID) {
            t->ok++;
        } else if (t->bad++ == 0) {
            snprintf(t->bad_msg, sizeof t->bad_msg, "order %d: %s (%s)", i, ld_err_name(err),
                     msg.text);
        }
    }
    ld_client_close(client);
    return NULL;
}

Test(bad_input, garbage_burst_amid_normal_traffic)
{
    /* Goal: 200 hostile frames sent while normal clients order do not cost the normal clients
     * a single failure, and each hostile frame still gets an error reply. Method: 4 threads send
     * 50 frames each (random bytes, version 999, empty op, qty past the limit, truncated) on raw
     * sockets while 4 threads place 50 orders each; count outcomes, then check the counters. */
    bad_setup();
    static burst_thread th[BURST_GARBAGE_THREADS + BURST_NORMAL_THREADS];
    memset(th, 0, sizeof th);
    int n = BURST_GARBAGE_THREADS + BURST_NORMAL_THREADS;
    for (int i = 0; i < n; i++) {
        th[i].seed = ldh_rand(&ctx.rng);
        th[i].garbage = i % 2 == 0;
        cr_assert_eq(pthread_create(&th[i].tid, NULL, burst_main, &th[i]), 0);
    }
    int garbage_ok = 0, orders = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(th[i].tid, NULL);
        cr_expect_eq(th[i].bad, 0, "%s thread %d: %d failures, first: %s",
                     th[i].garbage ? "garbage" : "normal", i, th[i].bad, th[i].bad_msg);
        if (th[i].garbage)
            garbage_ok += th[i].ok;
        else
            orders += th[i].ok;
    }
    cr_assert_eq(garbage_ok, BURST_GARBAGE_THREADS * BURST_FRAMES_PER_THREAD);
    cr_assert_eq(orders, BURST_NORMAL_THREADS * BURST_ORDERS_PER_THREAD);
    ctx.sold2 += orders;
    assert_intact("the garbage burst");
    bad_teardown();
}
