/*
 * cmd_events.c -- `livedrop events` (one pull from the event stream or a topic) and
 * `livedrop watch` (a push subscription with gap detection).
 *
 * watch: subscribes to each --topic on the node's publish socket, then reads each topic's
 * latest topic_seq with a pull, so that it knows where the stream stands. Every pushed event
 * with topic_seq == last + 1 is printed; a jump means pushed events were missed (the
 * connection was not up yet, or the subscriber fell behind): the missing range is pulled and
 * printed first, with a line saying which topic_seqs were filled. Duplicates (topic_seq <=
 * last) are skipped.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define WATCH_TOPICS_MAX 16
#define WATCH_POLL_MS 1000u

static const cli_body event_page_body = {"event_page", cli_json_event_page, cli_human_event_page,
                                         NULL};

/* ---- events --------------------------------------------------------------------------------- */

static int
cmd_events(cli *c)
{
    int64_t after, max, wait_ms;
    const char *topic = cli_opt_get(c, "topic");
    if (!cli_opt_range(c, "after", 0, INT64_MAX, 0, &after) ||
        !cli_opt_range(c, "max", 0, UINT32_MAX, 0, &max) ||
        !cli_opt_range(c, "wait-ms", 0, UINT32_MAX, 0, &wait_ms))
        return EXIT_USAGE;
    ld_event_page *page = calloc(1, sizeof *page);
    if (page == NULL) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        return EXIT_TRANSPORT;
    }
    ld_errmsg msg;
    ld_err err = ld_events_pull(c->client, topic, (uint64_t)after, (uint32_t)max, (uint32_t)wait_ms,
                                page, &msg);
    cli_body b = event_page_body;
    b.body = LD_ERR_IS_SUCCESS(err) ? page : NULL;
    int status = cli_report(c, err, &msg, &b);
    free(page);
    return status;
}

/* ---- watch ---------------------------------------------------------------------------------- */

typedef struct watch_topic {
    char name[LD_TOPIC_BYTES_MAX + 1];
    bool known;    /* `last` is the stream's position */
    uint64_t last; /* the last topic_seq printed (or the baseline) */
} watch_topic;

typedef struct watch {
    cli *c;
    watch_topic topics[WATCH_TOPICS_MAX];
    uint32_t ntopics;
    ld_event_page *page; /* for pulls */
    uint64_t printed;
    int status; /* the worst exit status seen */
} watch;

static int64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
print_event(const watch *w, const char *source, const ld_event *e)
{
    if (w->c->json) {
        printf("{\"code\":\"OK\",\"message\":\"\",\"source\":\"%s\",\"event\":", source);
        cli_json_event(stdout, e);
        printf("}\n");
    } else {
        printf("%s ", source);
        cli_human_event(stdout, e);
    }
    fflush(stdout);
}

static void
print_gap(const watch *w, const watch_topic *t, uint64_t from, uint64_t to, uint32_t pulled)
{
    if (w->c->json) {
        printf("{\"code\":\"OK\",\"message\":\"\",\"gap\":{\"topic\":\"%s\",\"from_topic_seq\":"
               "%" PRIu64 ",\"to_topic_seq\":%" PRIu64 ",\"pulled\":%u}}\n",
               t->name, from, to, pulled);
    } else {
        printf("gap  %s: topic_seq %" PRIu64 "..%" PRIu64 " missed by push, %u filled by pull\n",
               t->name, from, to, pulled);
    }
    fflush(stdout);
}

/* Pulls and prints the events of topic t before topic_seq `upto`. */
static void
fill_gap(watch *w, watch_topic *t, uint64_t upto)
{
    uint64_t from = t->last + 1;
    uint32_t pulled = 0;
    while (t->last + 1 < upto) {
        uint64_t want = upto - 1 - t->last;
        ld_errmsg msg;
        ld_err err = ld_events_pull(w->c->client, t->name, t->last,
                                    want < LD_PULL_EVENTS_MAX ? (uint32_t)want : LD_PULL_EVENTS_MAX,
                                    0, w->page, &msg);
        if (!LD_ERR_IS_SUCCESS(err)) {
            int s = cli_report(w->c, err, &msg, NULL);
            w->status = s > w->status ? s : w->status;
            break;
        }
        bool progress = false;
        for (uint32_t i = 0; i < w->page->count; i++) {
            const ld_event *e = &w->page->events[i];
            if (e->topic_seq <= t->last)
                continue;
            if (e->topic_seq >= upto)
                break;
            print_event(w, "pull", e);
            t->last = e->topic_seq;
            pulled++;
            w->printed++;
            progress = true;
        }
        if (!progress)
            break; /* nothing more to pull (trimmed, or not readable yet) */
    }
    print_gap(w, t, from, upto - 1, pulled);
}

/* One pushed event: skip duplicates, fill a gap, print. */
static void
on_push(watch *w, const ld_event *e)
{
    watch_topic *t = NULL;
    for (uint32_t i = 0; i < w->ntopics && t == NULL; i++)
        if (strcmp(w->topics[i].name, e->topic) == 0)
            t = &w->topics[i];
    if (t == NULL)
        return; /* a subscription this watch did not make */
    if (!t->known) {
        t->known = true; /* no baseline: the stream starts here */
        t->last = e->topic_seq > 0 ? e->topic_seq - 1 : 0;
    }
    if (e->topic_seq <= t->last)
        return;
    if (e->topic_seq > t->last + 1)
        fill_gap(w, t, e->topic_seq);
    print_event(w, "push", e);
    t->last = e->topic_seq;
    w->printed++;
}

/* Opens the subscription and reads each topic's position. */
static ld_err
watch_start(watch *w, const char *addr, ld_subscriber **sub_out)
{
    ld_err err = ld_subscriber_open(addr, sub_out);
    if (err != LD_OK)
        return err;
    for (uint32_t i = 0; i < w->ntopics; i++) {
        err = ld_subscribe(*sub_out, w->topics[i].name);
        if (err != LD_OK)
            return err;
    }
    for (uint32_t i = 0; i < w->ntopics; i++) {
        /* The topic's latest topic_seq; an error (trimmed, old node) leaves it unknown. */
        if (ld_events_pull(w->c->client, w->topics[i].name, 0, 1, 0, w->page, NULL) == LD_OK) {
            w->topics[i].known = true;
            w->topics[i].last = w->page->last_seq;
        }
    }
    return LD_OK;
}

static bool
watch_topics(const cli *c, watch *w)
{
    for (int i = 0; i < c->nopts; i++) {
        if (strcmp(c->opts[i].name, "topic") != 0)
            continue;
        if (w->ntopics >= WATCH_TOPICS_MAX)
            return cli_usage_error(c, "--topic: at most %u", WATCH_TOPICS_MAX), false;
        watch_topic *t = &w->topics[w->ntopics++];
        if (strlen(c->opts[i].value) > LD_TOPIC_BYTES_MAX)
            return cli_usage_error(c, "--topic '%s': too long", c->opts[i].value), false;
        strcpy(t->name, c->opts[i].value);
    }
    if (w->ntopics == 0)
        return cli_usage_error(c, "--topic is required"), false;
    return true;
}

static int
watch_loop(watch *w, ld_subscriber *sub, uint64_t count)
{
    int64_t deadline = w->c->timeout_ms > 0 ? mono_ms() + w->c->timeout_ms : INT64_MAX;
    while (count == 0 || w->printed < count) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            if (count == 0)
                return w->status; /* watched for the whole period */
            ld_errmsg msg;
            snprintf(msg.text, sizeof msg.text, "%" PRIu64 " of %" PRIu64 " events in %u ms",
                     w->printed, count, w->c->timeout_ms);
            return cli_report(w->c, LD_ERR_TIMEOUT, &msg, NULL);
        }
        ld_event e;
        ld_err err =
            ld_subscriber_recv(sub, left < WATCH_POLL_MS ? (uint32_t)left : WATCH_POLL_MS, &e);
        if (err == LD_ERR_TIMEOUT)
            continue;
        if (err == LD_ERR_PROTOCOL) {
            fprintf(stderr, "%s: skipped a malformed pushed message\n", cli_prog);
            continue;
        }
        if (err != LD_OK) {
            ld_errmsg msg = {.text = ""};
            return cli_report(w->c, err, &msg, NULL);
        }
        on_push(w, &e);
    }
    return w->status;
}

static int
cmd_watch(cli *c)
{
    static watch w;
    memset(&w, 0, sizeof w);
    w.c = c;
    int64_t count;
    if (!watch_topics(c, &w) || !cli_opt_range(c, "count", 0, INT64_MAX, 0, &count))
        return EXIT_USAGE;
    const char *addr = cli_opt_get(c, "publish-addr");
    if (addr == NULL)
        addr = getenv("LIVEDROP_PUBLISH_ADDR");
    if (addr == NULL)
        addr = LD_PUBLISH_ADDR_DEFAULT;
    w.page = calloc(1, sizeof *w.page);
    if (w.page == NULL) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        return EXIT_TRANSPORT;
    }
    ld_subscriber *sub = NULL;
    ld_err err = watch_start(&w, addr, &sub);
    int status;
    if (err == LD_ERR_INVALID_ARGUMENT && sub == NULL) {
        status = cli_usage_error(c, "--publish-addr '%s': %s", addr, ld_strerror(err));
    } else if (err != LD_OK) {
        ld_errmsg msg = {.text = ""};
        status = cli_report(c, err, &msg, NULL);
    } else {
        status = watch_loop(&w, sub, (uint64_t)count);
    }
    ld_subscriber_close(sub);
    free(w.page);
    return status;
}

/* ---- command table -------------------------------------------------------------------------- */

static const char *const events_opts[] = {"topic", "after", "max", "wait-ms", NULL};
static const char *const watch_opts[] = {"topic", "publish-addr", "count", NULL};

const cli_cmd cli_events_cmds[] = {
    {"events", "[--topic T] [--after N] [--max N] [--wait-ms N]", "pull events (outbox)",
     "Pulls events after a cursor: from the node's whole stream (--after is a seq), or from\n"
     "one topic (--topic creator/<hex>, drop/<hex> or user/<hex>; --after is a topic_seq).\n"
     "Continue with the printed next_after. With --wait-ms the call waits up to that long\n"
     "(at most 30000) for an event when there is none yet (long poll).\n\n"
     "Options:\n"
     "  --topic T      a topic (default: the whole stream)\n"
     "  --after N      return events after this seq / topic_seq (default 0)\n"
     "  --max N        at most N events, 1..1000 (default 100)\n"
     "  --wait-ms N    long-poll for up to N ms when nothing is there yet\n\n"
     "Examples:\n"
     "  livedrop events --after 0 --max 50\n"
     "  livedrop events --topic creator/2b7e151628aed2a6abf7158809cf4f3c --after 12 \\\n"
     "      --wait-ms 25000\n",
     events_opts, 0, cmd_events, 0},
    {"watch", "--topic T [--topic T]... [--publish-addr URL] [--count N]",
     "print pushed events live",
     "Subscribes to topics on the node's publish socket and prints each pushed event (\"push\").\n"
     "Events carry a per-topic sequence number: when one jumps, the missed events are pulled\n"
     "and printed first (\"pull\"), then a \"gap\" line says which topic_seqs were filled.\n"
     "Runs until --count events were printed, or for --timeout-ms (then exit status 0, or 3\n"
     "if --count was not reached), or until interrupted.\n\n"
     "Options:\n"
     "  --topic T           creator/<hex>, drop/<hex> or user/<hex>; repeatable (at most 16)\n"
     "  --publish-addr URL  the node's publish address (default $LIVEDROP_PUBLISH_ADDR or\n"
     "                      " LD_PUBLISH_ADDR_DEFAULT ")\n"
     "  --count N           stop after N events\n\n"
     "Examples:\n"
     "  livedrop watch --topic creator/2b7e151628aed2a6abf7158809cf4f3c\n"
     "  livedrop --json --timeout-ms 60000 watch --topic drop/5f0c6a3e9b1d4e2f8a7b6c5d4e3f2a1b \\\n"
     "      --count 10\n",
     watch_opts, 0, cmd_watch, 0},
};
const size_t cli_events_cmds_count = sizeof cli_events_cmds / sizeof cli_events_cmds[0];
