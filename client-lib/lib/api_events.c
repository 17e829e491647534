/*
 * api_events.c -- the public calls for the event stream (pull) and the notification feed.
 *
 * A pull without a wait is an ordinary page op (class PAGE). A long poll (wait_ms > 0) may be
 * held by the node until an event arrives, so it travels alone in its message (class POLL: a
 * held reply would hold every op packed with it), never takes the client's last free context,
 * and its deadline is max(timeout, wait_ms + LDI_POLL_SLACK_MS): the node's empty answer after
 * wait_ms must still find its caller waiting.
 */
#include <string.h>

#include "client_int.h"

#define TRY(expr)                                                                                  \
    do {                                                                                           \
        ld_err try_err_ = (expr);                                                                  \
        if (try_err_ != LD_OK)                                                                     \
            return try_err_;                                                                       \
    } while (0)

LD_API ld_err
ld_events_pull(ld_client *c, const char *topic, uint64_t after, uint32_t max, uint32_t wait_ms,
               ld_event_page *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_EVENT_PAGE, out, msg);
    if (max > LD_PULL_EVENTS_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                               "pull_events.max: %u is above the maximum %u", max,
                               LD_PULL_EVENTS_MAX);
    if (wait_ms > LD_PULL_WAIT_MS_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_VALUE_OUT_OF_RANGE,
                               "pull_events.wait_ms: %u is above the maximum %u", wait_ms,
                               LD_PULL_WAIT_MS_MAX);
    char canonical[LD_TOPIC_BYTES_MAX + 1] = "";
    if (topic != NULL && topic[0] != '\0')
        TRY(ldi_check_topic(topic, "pull_events.topic", canonical, msg));
    Ldpb__PullEvents pull = LDPB__PULL_EVENTS__INIT;
    pull.after = after;
    pull.max = max;
    pull.wait_ms = wait_ms;
    pull.topic = canonical;
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_PULL_EVENTS;
    op.pull_events = &pull;
    if (wait_ms > 0)
        return ldi_run(c, &op, LDI_CLASS_POLL, LDI_OUT_EVENT_PAGE, out, msg,
                       ldi_client_poll_deadline(c, wait_ms));
    return ldi_run(c, &op, LDI_CLASS_PAGE, LDI_OUT_EVENT_PAGE, out, msg, ldi_client_deadline(c));
}

LD_API ld_err
ld_notifications_list(ld_client *c, const ld_id *user_id, uint32_t first, const char *after,
                      ld_notification_page *out, ld_errmsg *msg)
{
    LDI_CALL_START(c, LDI_OUT_NOTIFICATION_PAGE, out, msg);
    TRY(ldi_check_id(user_id, "list_notifications.user_id", msg));
    TRY(ldi_check_page("list_notifications", first, LD_PAGE_DROPS_MAX, after, msg));
    Ldpb__ListNotifications list = LDPB__LIST_NOTIFICATIONS__INIT;
    list.user_id = ldi_id_pb(user_id);
    list.first = first;
    list.after = after != NULL ? (char *)after : "";
    Ldpb__Op op = LDPB__OP__INIT;
    op.body_case = LDPB__OP__BODY_LIST_NOTIFICATIONS;
    op.list_notifications = &list;
    return ldi_run(c, &op, LDI_CLASS_PAGE, LDI_OUT_NOTIFICATION_PAGE, out, msg,
                   ldi_client_deadline(c));
}
