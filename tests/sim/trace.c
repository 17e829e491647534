/*
 * trace.c -- the simulator's event log: a ring of the last LD_SIM_TRACE_RING events, printed
 * when a seed fails, and a running hash of every event, which the self test compares between
 * two runs of one seed (determinism). With --trace every event is printed as it happens.
 */
#include <inttypes.h>
#include <string.h>

#include <xxhash.h>

#include "sim.h"

void
sim_trace_init(sim_trace *tr, bool live, FILE *out)
{
    memset(tr, 0, sizeof *tr);
    tr->live = live;
    tr->out = out;
    tr->hash = 0x6C64736Dull; /* any fixed start */
}

void
sim_trace_log(sim_trace *tr, const sim_ev *ev)
{
    tr->ring[tr->count % LD_SIM_TRACE_RING] = *ev;
    tr->count++;
    /* Hash the fields one by one: struct padding is not part of the event. */
    uint64_t f[9] = {(uint64_t)ev->t,
                     ev->kind,
                     ev->sub,
                     (uint64_t)(int64_t)ev->replica,
                     (uint64_t)(int64_t)ev->peer,
                     ev->view,
                     ev->op,
                     ev->commit,
                     (uint64_t)ev->x};
    tr->hash = XXH3_64bits_withSeed(f, sizeof f, tr->hash);
    if (tr->live && tr->out != NULL)
        sim_trace_print_ev(tr->out, ev);
}

static const char *
kind_name(uint16_t k)
{
    switch ((ld_repl_kind)k) {
    case LD_REPL_PREPARE:
        return "prepare";
    case LD_REPL_PREPARE_OK:
        return "prepare_ok";
    case LD_REPL_COMMIT:
        return "commit";
    case LD_REPL_START_VIEW_CHANGE:
        return "start_view_change";
    case LD_REPL_DO_VIEW_CHANGE:
        return "do_view_change";
    case LD_REPL_START_VIEW:
        return "start_view";
    case LD_REPL_REQUEST_START_VIEW:
        return "request_start_view";
    case LD_REPL_GET_PREPARE:
        return "get_prepare";
    case LD_REPL_GET_STATE:
        return "get_state";
    case LD_REPL_NEW_STATE:
        return "new_state";
    }
    return "?";
}

static const char *
status_name(uint16_t s)
{
    switch ((ld_repl_status)s) {
    case LD_REPL_NORMAL:
        return "normal";
    case LD_REPL_VIEW_CHANGE:
        return "view_change";
    case LD_REPL_RECOVERING:
        return "recovering";
    }
    return "down";
}

static const char *
lose_reason(int64_t r)
{
    static const char *names[] = {"random loss",           "partition",
                                  "receiver down",         "network full",
                                  "crash before the sync", "inbox full"};
    return r >= 0 && r < (int64_t)(sizeof names / sizeof names[0]) ? names[r] : "?";
}

void
sim_trace_print_ev(FILE *out, const sim_ev *e)
{
    fprintf(out, "%8" PRId64 " ", e->t);
    switch ((sim_ev_kind)e->kind) {
    case SIM_EV_SEND:
    case SIM_EV_DELIVER:
    case SIM_EV_DUP:
        fprintf(out, "r%d -> r%d %-8s %s view=%" PRIu64 " op=%" PRIu64 " commit=%" PRIu64 "\n",
                e->replica, e->peer,
                e->kind == SIM_EV_SEND  ? "send"
                : e->kind == SIM_EV_DUP ? "dup"
                                        : "deliver",
                kind_name(e->sub), e->view, e->op, e->commit);
        return;
    case SIM_EV_LOSE:
        if (e->sub == SIM_LOSE_SUB_REQ || e->sub == SIM_LOSE_SUB_REPLY)
            fprintf(out, "%s%d -> %s%d lost %s (%s)\n", e->sub == SIM_LOSE_SUB_REQ ? "c" : "r",
                    e->replica, e->sub == SIM_LOSE_SUB_REQ ? "r" : "c", e->peer,
                    e->sub == SIM_LOSE_SUB_REQ ? "request" : "reply", lose_reason(e->x));
        else
            fprintf(out, "r%d -> r%d lost     %s view=%" PRIu64 " op=%" PRIu64 " (%s)\n",
                    e->replica, e->peer, kind_name(e->sub), e->view, e->op, lose_reason(e->x));
        return;
    case SIM_EV_CRASH:
        fprintf(
            out, "r%d CRASH %s (view=%" PRIu64 " op=%" PRIu64 " commit=%" PRIu64 ")\n", e->replica,
            e->x ? "before the sync: the step's writes and messages are lost" : "after the sync",
            e->view, e->op, e->commit);
        return;
    case SIM_EV_RESTART:
        fprintf(out, "r%d RESTART %s view=%" PRIu64 " op=%" PRIu64 " commit=%" PRIu64 "\n",
                e->replica, status_name(e->sub), e->view, e->op, e->commit);
        return;
    case SIM_EV_WIPE:
        fprintf(out, "r%d WIPE (disk lost)\n", e->replica);
        return;
    case SIM_EV_PAUSE:
        fprintf(out, "r%d PAUSE until %" PRId64 "\n", e->replica, e->x);
        return;
    case SIM_EV_RESUME:
        fprintf(out, "r%d RESUME\n", e->replica);
        return;
    case SIM_EV_CUT:
        fprintf(out, "link r%d -> r%d CUT until %" PRId64 "\n", e->replica, e->peer, e->x);
        return;
    case SIM_EV_HEAL:
        fprintf(out, "link r%d -> r%d healed\n", e->replica, e->peer);
        return;
    case SIM_EV_WALL_JUMP:
        fprintf(out, "r%d wall clock jumps %+" PRId64 " ms\n", e->replica, e->x);
        return;
    case SIM_EV_STATUS:
        fprintf(out, "r%d status %s view=%" PRIu64 " op=%" PRIu64 " commit=%" PRIu64 "%s\n",
                e->replica, status_name(e->sub), e->view, e->op, e->commit, e->x ? " PRIMARY" : "");
        return;
    case SIM_EV_PREPARE:
        fprintf(out, "r%d prepares op=%" PRIu64 " view=%" PRIu64 " with %" PRId64 " ops\n",
                e->replica, e->op, e->view, e->x);
        return;
    case SIM_EV_APPLY:
        fprintf(out, "r%d applies op=%" PRIu64 " (%" PRId64 " ops) commit_max=%" PRIu64 "\n",
                e->replica, e->op, e->x, e->commit);
        return;
    case SIM_EV_INSTALL:
        fprintf(out, "r%d installs a checkpoint at op=%" PRIu64 "\n", e->replica, e->op);
        return;
    case SIM_EV_REQ:
        fprintf(out, "c%d -> r%d request %" PRId64 " (%u ops)\n", e->replica, e->peer, e->x,
                e->sub);
        return;
    case SIM_EV_ACK:
        fprintf(out,
                "r%d -> c%d ACK request %" PRId64 ": committed at op=%" PRIu64 " view=%" PRIu64
                "\n",
                e->replica, e->peer, e->x, e->op, e->view);
        return;
    case SIM_EV_NOT_PRIMARY:
        fprintf(out, "r%d -> c%d not primary for request %" PRId64 " (hint r%" PRId64 ")\n",
                e->replica, e->peer, e->x, (int64_t)e->op - 1);
        return;
    case SIM_EV_CLIENT_GOT:
        fprintf(out, "c%d got the answer to request %" PRId64 " from r%d\n", e->replica, e->x,
                e->peer);
        return;
    case SIM_EV_TIMEOUT:
        fprintf(out, "c%d timed out on request %" PRId64 "; resends to r%d\n", e->replica, e->x,
                e->peer);
        return;
    case SIM_EV_READ:
        fprintf(out, "r%d serves c%d a read at op=%" PRIu64 ": sold=%" PRId64 "\n", e->replica,
                e->peer, e->op, e->x);
        return;
    case SIM_EV_PHASE:
        switch (e->sub) {
        case 0:
            fprintf(out, "---- heal phase: links healed, every replica restarted and resumed\n");
            return;
        case SIM_STORM_EV_BEGIN:
            fprintf(out, "---- storm: the storm clients write back to back\n");
            return;
        case SIM_STORM_EV_WIPE:
            fprintf(out, "---- storm: r%d (a backup) loses its disk; restarts at %" PRId64 "\n",
                    e->replica, e->x);
            return;
        case SIM_STORM_EV_WHOLE:
            fprintf(out, "---- storm: r%d is whole again %" PRId64 " ms after its restart\n",
                    e->replica, e->x);
            return;
        case SIM_STORM_EV_END:
            fprintf(out, "---- storm: over\n");
            return;
        case SIM_STORM_EV_SKIP:
            fprintf(out, "---- storm: no view with every replica normal: skipped\n");
            return;
        }
        break;
    case SIM_EV_NOTE:
        fprintf(out, "note\n");
        return;
    }
    fprintf(out, "event %u\n", e->kind);
}

void
sim_trace_dump(const sim_trace *tr, FILE *out, size_t n)
{
    if (n > LD_SIM_TRACE_RING)
        n = LD_SIM_TRACE_RING;
    uint64_t have = tr->count < n ? tr->count : n;
    if (tr->count > have)
        fprintf(out, "... %" PRIu64 " earlier events not shown\n", tr->count - have);
    for (uint64_t i = tr->count - have; i < tr->count; i++)
        sim_trace_print_ev(out, &tr->ring[i % LD_SIM_TRACE_RING]);
}
