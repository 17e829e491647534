/*
 * print.c -- output of the social and catalog results for the `livedrop` CLI: users, creators,
 * catalog products, follow states, the pages and events, in JSON (the proto's field names, ids as
 * 32 hex digits, enums by name) and for people; and the page walk behind --all.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- JSON pieces ---------------------------------------------------------------------------- */

static void
json_key_str(FILE *f, const char *key, const char *value)
{
    fprintf(f, "\"%s\":", key);
    cli_json_str(f, value);
}

static void
json_attrs(FILE *f, const char *key, const ld_attr *attrs, uint32_t n)
{
    fprintf(f, "\"%s\":[", key);
    for (uint32_t i = 0; i < n && i < LD_ATTRS_MAX; i++) {
        fputs(i > 0 ? ",{" : "{", f);
        json_key_str(f, "key", attrs[i].key);
        fputc(',', f);
        json_key_str(f, "value", attrs[i].value);
        fputc('}', f);
    }
    fputc(']', f);
}

static void
json_tags(FILE *f, const char (*tags)[LD_TAG_BYTES_MAX + 1], uint32_t n)
{
    fputs("\"tags\":[", f);
    for (uint32_t i = 0; i < n && i < LD_TAGS_MAX; i++) {
        if (i > 0)
            fputc(',', f);
        cli_json_str(f, tags[i]);
    }
    fputc(']', f);
}

static void
json_page_info(FILE *f, const ld_page_info *p)
{
    fprintf(f, "\"page_info\":{\"has_next_page\":%s,", p->has_next_page ? "true" : "false");
    json_key_str(f, "end_cursor", p->end_cursor);
    fputc('}', f);
}

/* The type's name without the EVENT_ prefix of the proto's enum, or "UNSPECIFIED". */
static const char *
event_type_name(ld_event_type t)
{
    static const char *const names[] = {
        [LD_EVENT_DROP_SCHEDULED] = "DROP_SCHEDULED",
        [LD_EVENT_DROP_LIVE] = "DROP_LIVE",
        [LD_EVENT_LOW_STOCK] = "LOW_STOCK",
        [LD_EVENT_SOLD_OUT] = "SOLD_OUT",
        [LD_EVENT_DROP_ENDED] = "DROP_ENDED",
        [LD_EVENT_DROP_CANCELLED] = "DROP_CANCELLED",
        [LD_EVENT_STOCK_CHANGED] = "STOCK_CHANGED",
        [LD_EVENT_RESERVATION_EXPIRED] = "RESERVATION_EXPIRED",
        [LD_EVENT_ORDER_PAID] = "ORDER_PAID",
        [LD_EVENT_ORDER_FAILED] = "ORDER_FAILED",
        [LD_EVENT_FOLLOWED] = "FOLLOWED",
        [LD_EVENT_UNFOLLOWED] = "UNFOLLOWED",
    };
    if ((unsigned)t < sizeof names / sizeof names[0] && names[t] != NULL)
        return names[t];
    return "UNSPECIFIED";
}

static const char *
notification_kind_name(ld_notification_kind k, bool json)
{
    switch (k) {
    case LD_NOTIFY_DROP_LIVE:
        return json ? "NOTIFICATION_DROP_LIVE" : "DROP_LIVE";
    case LD_NOTIFY_LOW_STOCK:
        return json ? "NOTIFICATION_LOW_STOCK" : "LOW_STOCK";
    case LD_NOTIFY_SOLD_OUT:
        return json ? "NOTIFICATION_SOLD_OUT" : "SOLD_OUT";
    case LD_NOTIFY_ORDER_PAID:
        return json ? "NOTIFICATION_ORDER_PAID" : "ORDER_PAID";
    case LD_NOTIFY_ORDER_FAILED:
        return json ? "NOTIFICATION_ORDER_FAILED" : "ORDER_FAILED";
    }
    return json ? "NOTIFICATION_KIND_UNSPECIFIED" : "UNSPECIFIED";
}

/* ---- entities ------------------------------------------------------------------------------- */

void
cli_json_user(FILE *f, const void *body)
{
    const ld_user *u = body;
    fputc('{', f);
    cli_json_id(f, "id", &u->spec.id);
    fputc(',', f);
    json_key_str(f, "name", u->spec.name);
    fputc(',', f);
    json_key_str(f, "email", u->spec.email);
    fprintf(f, ",\"created_at_ms\":%" PRId64 ",\"following_count\":%" PRId64 "}", u->created_at_ms,
            u->following_count);
}

void
cli_human_user(FILE *f, const void *body)
{
    const ld_user *u = body;
    char id[33], t[32];
    ld_id_format(&u->spec.id, id);
    fprintf(f, "user %s \"%s\" %s following %" PRId64 ", created %s\n", id, u->spec.name,
            u->spec.email[0] != '\0' ? u->spec.email : "-", u->following_count,
            cli_fmt_time(u->created_at_ms, t));
}

void
cli_json_creator(FILE *f, const void *body)
{
    const ld_creator *c = body;
    fputc('{', f);
    cli_json_id(f, "id", &c->spec.id);
    fputc(',', f);
    json_key_str(f, "handle", c->spec.handle);
    fputc(',', f);
    json_key_str(f, "name", c->spec.name);
    fputc(',', f);
    json_attrs(f, "profile", c->spec.profile, c->spec.profile_count);
    fprintf(f, ",\"created_at_ms\":%" PRId64 ",\"follower_count\":%" PRId64 "}", c->created_at_ms,
            c->follower_count);
}

static void
human_attrs(FILE *f, const char *label, const ld_attr *attrs, uint32_t n)
{
    for (uint32_t i = 0; i < n && i < LD_ATTRS_MAX; i++)
        fprintf(f, "%s%s=%s", i == 0 ? label : ", ", attrs[i].key, attrs[i].value);
}

void
cli_human_creator(FILE *f, const void *body)
{
    const ld_creator *c = body;
    char id[33], t[32];
    ld_id_format(&c->spec.id, id);
    fprintf(f, "creator %s @%s \"%s\" followers %" PRId64 ", created %s\n", id, c->spec.handle,
            c->spec.name, c->follower_count, cli_fmt_time(c->created_at_ms, t));
    if (c->spec.profile_count > 0) {
        human_attrs(f, "  profile ", c->spec.profile, c->spec.profile_count);
        fputc('\n', f);
    }
}

void
cli_json_product(FILE *f, const void *body)
{
    const ld_catalog_product *p = body;
    const ld_catalog_product_spec *s = &p->spec;
    fputc('{', f);
    cli_json_id(f, "id", &s->id);
    fputc(',', f);
    cli_json_id(f, "creator_id", &s->creator_id);
    fputc(',', f);
    json_key_str(f, "title", s->title);
    fprintf(f, ",\"price_minor\":%" PRId64 ",", s->price_minor);
    json_key_str(f, "currency", s->currency);
    fputc(',', f);
    json_tags(f, s->tags, s->tags_count);
    fputc(',', f);
    json_attrs(f, "attributes", s->attrs, s->attrs_count);
    fprintf(f, ",\"created_at_ms\":%" PRId64 ",\"updated_at_ms\":%" PRId64 "}", p->created_at_ms,
            p->updated_at_ms);
}

void
cli_human_product(FILE *f, const void *body)
{
    const ld_catalog_product *p = body;
    const ld_catalog_product_spec *s = &p->spec;
    char id[33], creator[33], t1[32], t2[32];
    ld_id_format(&s->id, id);
    ld_id_format(&s->creator_id, creator);
    fprintf(f, "product %s \"%s\" price %" PRId64 " %s, creator %s\n", id, s->title, s->price_minor,
            s->currency, creator);
    fprintf(f, "  created %s, updated %s", cli_fmt_time(p->created_at_ms, t1),
            cli_fmt_time(p->updated_at_ms, t2));
    for (uint32_t i = 0; i < s->tags_count && i < LD_TAGS_MAX; i++)
        fprintf(f, "%s%s", i == 0 ? ", tags " : ",", s->tags[i]);
    human_attrs(f, ", attributes ", s->attrs, s->attrs_count);
    fputc('\n', f);
}

void
cli_json_follow_state(FILE *f, const void *body)
{
    const ld_follow_state *s = body;
    fprintf(f, "{\"following\":%s,\"since_ms\":%" PRId64 ",\"follower_count\":%" PRId64 "}",
            s->following ? "true" : "false", s->since_ms, s->follower_count);
}

void
cli_human_follow_state(FILE *f, const void *body)
{
    const ld_follow_state *s = body;
    char t[32];
    if (s->following)
        fprintf(f, "following since %s; the creator has %" PRId64 " followers\n",
                cli_fmt_time(s->since_ms, t), s->follower_count);
    else
        fprintf(f, "not following; the creator has %" PRId64 " followers\n", s->follower_count);
}

/* ---- events --------------------------------------------------------------------------------- */

void
cli_json_event(FILE *f, const void *body)
{
    const ld_event *e = body;
    fprintf(f, "{\"seq\":%" PRIu64 ",\"shard\":%u,\"timestamp_ms\":%" PRId64 ",\"type\":\"%s%s\",",
            e->seq, e->shard, e->timestamp_ms, e->type != 0 ? "EVENT_" : "EVENT_TYPE_",
            event_type_name(e->type));
    cli_json_id(f, "creator_id", &e->creator_id);
    fputc(',', f);
    cli_json_id(f, "drop_id", &e->drop_id);
    fputc(',', f);
    cli_json_id(f, "user_id", &e->user_id);
    fputc(',', f);
    cli_json_id(f, "order_id", &e->order_id);
    fputc(',', f);
    cli_json_id(f, "reservation_id", &e->reservation_id);
    fprintf(f,
            ",\"stock\":{\"available\":%" PRId64 ",\"reserved\":%" PRId64 ",\"sold\":%" PRId64
            "},\"qty\":%" PRId64 ",",
            e->stock.available, e->stock.reserved, e->stock.sold, e->qty);
    json_key_str(f, "title", e->title);
    fputc(',', f);
    json_key_str(f, "topic", e->topic);
    fprintf(f, ",\"topic_seq\":%" PRIu64 "}", e->topic_seq);
}

/* " name <hex>" when the id is set. */
static void
human_id(FILE *f, const char *name, const ld_id *id)
{
    if (cli_id_is_zero(id))
        return;
    char hex[33];
    ld_id_format(id, hex);
    fprintf(f, " %s %s", name, hex);
}

void
cli_human_event(FILE *f, const void *body)
{
    const ld_event *e = body;
    char t[32];
    fprintf(f, "#%" PRIu64 " %s %s", e->seq, cli_fmt_time(e->timestamp_ms, t),
            event_type_name(e->type));
    if (e->topic[0] != '\0')
        fprintf(f, " [%s #%" PRIu64 "]", e->topic, e->topic_seq);
    human_id(f, "creator", &e->creator_id);
    human_id(f, "drop", &e->drop_id);
    human_id(f, "user", &e->user_id);
    human_id(f, "order", &e->order_id);
    human_id(f, "reservation", &e->reservation_id);
    if (e->qty != 0)
        fprintf(f, " qty %" PRId64, e->qty);
    if (e->stock.available != 0 || e->stock.reserved != 0 || e->stock.sold != 0)
        fprintf(f, " stock %" PRId64 "/%" PRId64 "/%" PRId64, e->stock.available, e->stock.reserved,
                e->stock.sold);
    if (e->title[0] != '\0')
        fprintf(f, " \"%s\"", e->title);
    fputc('\n', f);
}

/* ---- pages ---------------------------------------------------------------------------------- */

void
cli_human_page_footer(FILE *f, uint32_t count, const ld_page_info *info)
{
    const char *what = count == 1 ? "entry" : "entries";
    if (info->has_next_page)
        fprintf(f, "(%u %s; more: --after %s)\n", count, what, info->end_cursor);
    else
        fprintf(f, "(%u %s, last page)\n", count, what);
}

static void
json_edge(FILE *f, const ld_follow_edge *e)
{
    fputc('{', f);
    cli_json_id(f, "user_id", &e->user_id);
    fputc(',', f);
    cli_json_id(f, "creator_id", &e->creator_id);
    fprintf(f, ",\"created_at_ms\":%" PRId64 ",", e->created_at_ms);
    json_key_str(f, "user_name", e->user_name);
    fputc(',', f);
    json_key_str(f, "creator_handle", e->creator_handle);
    fputc('}', f);
}

void
cli_json_follow_page(FILE *f, const void *body)
{
    const ld_follow_page *p = body;
    fputs("{\"edges\":[", f);
    for (uint32_t i = 0; i < p->count; i++) {
        if (i > 0)
            fputc(',', f);
        json_edge(f, &p->edges[i]);
    }
    fputs("],", f);
    json_page_info(f, &p->page_info);
    fputc('}', f);
}

void
cli_human_follow_page(FILE *f, const void *body)
{
    const ld_follow_page *p = body;
    for (uint32_t i = 0; i < p->count; i++) {
        const ld_follow_edge *e = &p->edges[i];
        char user[33], creator[33], t[32];
        ld_id_format(&e->user_id, user);
        ld_id_format(&e->creator_id, creator);
        fprintf(f, "%s -> %s since %s", user, creator, cli_fmt_time(e->created_at_ms, t));
        if (e->user_name[0] != '\0')
            fprintf(f, " \"%s\"", e->user_name);
        if (e->creator_handle[0] != '\0')
            fprintf(f, " @%s", e->creator_handle);
        fputc('\n', f);
    }
    cli_human_page_footer(f, p->count, &p->page_info);
}

void
cli_json_product_page(FILE *f, const void *body)
{
    const ld_product_page *p = body;
    fputs("{\"products\":[", f);
    for (uint32_t i = 0; i < p->count; i++) {
        if (i > 0)
            fputc(',', f);
        cli_json_product(f, &p->products[i]);
    }
    fputs("],", f);
    json_page_info(f, &p->page_info);
    fputc('}', f);
}

void
cli_human_product_page(FILE *f, const void *body)
{
    const ld_product_page *p = body;
    for (uint32_t i = 0; i < p->count; i++)
        cli_human_product(f, &p->products[i]);
    cli_human_page_footer(f, p->count, &p->page_info);
}

void
cli_json_drop_page(FILE *f, const void *body)
{
    const ld_drop_page *p = body;
    fputs("{\"drops\":[", f);
    for (uint32_t i = 0; i < p->count; i++) {
        if (i > 0)
            fputc(',', f);
        cli_json_drop(f, &p->drops[i]);
    }
    fputs("],", f);
    json_page_info(f, &p->page_info);
    fputc('}', f);
}

void
cli_human_drop_page(FILE *f, const void *body)
{
    const ld_drop_page *p = body;
    for (uint32_t i = 0; i < p->count; i++)
        cli_human_drop(f, &p->drops[i]);
    cli_human_page_footer(f, p->count, &p->page_info);
}

void
cli_json_event_page(FILE *f, const void *body)
{
    const ld_event_page *p = body;
    fputs("{\"events\":[", f);
    for (uint32_t i = 0; i < p->count; i++) {
        if (i > 0)
            fputc(',', f);
        cli_json_event(f, &p->events[i]);
    }
    fprintf(f, "],\"next_after\":%" PRIu64 ",\"last_seq\":%" PRIu64 "}", p->next_after,
            p->last_seq);
}

void
cli_human_event_page(FILE *f, const void *body)
{
    const ld_event_page *p = body;
    for (uint32_t i = 0; i < p->count; i++)
        cli_human_event(f, &p->events[i]);
    fprintf(f, "(%u events; next: --after %" PRIu64 "; latest %" PRIu64 ")\n", p->count,
            p->next_after, p->last_seq);
}

void
cli_json_notification_page(FILE *f, const void *body)
{
    const ld_notification_page *p = body;
    fputs("{\"notifications\":[", f);
    for (uint32_t i = 0; i < p->count; i++) {
        const ld_notification *n = &p->notifications[i];
        fprintf(f, "%s{\"kind\":\"%s\",\"event\":", i > 0 ? "," : "",
                notification_kind_name(n->kind, true));
        cli_json_event(f, &n->event);
        fputc('}', f);
    }
    fputs("],", f);
    json_page_info(f, &p->page_info);
    fputc('}', f);
}

void
cli_human_notification_page(FILE *f, const void *body)
{
    const ld_notification_page *p = body;
    for (uint32_t i = 0; i < p->count; i++) {
        const ld_notification *n = &p->notifications[i];
        fprintf(f, "%-12s ", notification_kind_name(n->kind, false));
        cli_human_event(f, &n->event);
    }
    cli_human_page_footer(f, p->count, &p->page_info);
}

/* ---- the page walk -------------------------------------------------------------------------- */

bool
cli_opt_first(const cli *c, uint32_t *out)
{
    int64_t v;
    if (!cli_opt_range(c, "first", 0, UINT32_MAX, 0, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

int
cli_pages_alloc(cli *c, cli_page_fn fetch, size_t page_size,
                const ld_page_info *(*info_of)(const void *), const cli_body *body)
{
    void *page = calloc(1, page_size);
    if (page == NULL) {
        fprintf(stderr, "%s: out of memory\n", cli_prog);
        return EXIT_TRANSPORT;
    }
    int status = cli_pages(c, fetch, page, info_of, body);
    free(page);
    return status;
}

/* --json --all: the walk as ONE JSON document, streamed a page at a time (memory holds one
 * page, however long the walk):
 *   {"<key>":{"<items>":[every page's items],"page_info":<the last page's>},"pages":N,
 *    "code":"OK","message":""[,"answered_by":{...}]}
 * A page that fails after the first ends the items there, and code and message are its
 * refusal; a first page that fails prints as one result does. Each page's JSON printer writes
 * {"<items>":[...],"page_info":{...}}; the items are cut out of that. */
typedef struct json_walk {
    uint32_t pages;
    bool any_item;
    char page_info[LD_CURSOR_BYTES_MAX + 96]; /* the last page's "page_info":{...} */
} json_walk;

/* Prints the items of one page (rendered by body->json) into the open document. */
static bool
json_walk_page(json_walk *w, const cli_body *body, const void *page)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem == NULL)
        return false;
    body->json(mem, page);
    if (fclose(mem) != 0 || buf == NULL)
        return false;
    char *open = strchr(buf, '[');
    char *tail = NULL;
    for (char *p = strstr(buf, "],\"page_info\":"); p != NULL;
         p = strstr(p + 1, "],\"page_info\":"))
        tail = p;
    bool ok = open != NULL && tail != NULL && tail >= open && buf[len - 1] == '}' &&
              len - 1 - (size_t)(tail + 2 - buf) < sizeof w->page_info;
    if (ok) {
        if (w->pages == 0)
            printf("{\"%s\":%.*s", body->key, (int)(open + 1 - buf), buf);
        size_t items = (size_t)(tail - (open + 1));
        if (items > 0)
            printf("%s%.*s", w->any_item ? "," : "", (int)items, open + 1);
        w->any_item |= items > 0;
        size_t info_len = len - 1 - (size_t)(tail + 2 - buf);
        memcpy(w->page_info, tail + 2, info_len);
        w->page_info[info_len] = '\0';
        w->pages++;
    }
    free(buf);
    return ok;
}

/* Closes the document with the walk's outcome; returns the exit status. */
static int
json_walk_end(const cli *c, const json_walk *w, ld_err err, const ld_errmsg *msg)
{
    printf("],%s},\"pages\":%u,\"code\":\"%s\",\"message\":", w->page_info, w->pages,
           ld_err_name(err));
    cli_json_str(stdout, LD_ERR_IS_SUCCESS(err) && msg->text[0] == '\0'
                             ? ""
                             : (msg->text[0] != '\0' ? msg->text : ld_strerror(err)));
    cli_json_answered_by(c, stdout);
    printf("}\n");
    fflush(stdout);
    return cli_exit_status(err);
}

static int
pages_json_all(cli *c, cli_page_fn fetch, void *page, const ld_page_info *(*info_of)(const void *),
               const cli_body *body, char *after)
{
    json_walk w = {0};
    for (;;) {
        ld_errmsg msg;
        ld_err err = fetch(c, after, page, &msg);
        if (!LD_ERR_IS_SUCCESS(err) && w.pages == 0)
            return cli_report(c, err, &msg, NULL);
        if (!LD_ERR_IS_SUCCESS(err))
            return json_walk_end(c, &w, err, &msg);
        if (!json_walk_page(&w, body, page)) {
            fprintf(stderr, "%s: page %u: cannot render its JSON\n", cli_prog, w.pages + 1);
            return EXIT_TRANSPORT;
        }
        const ld_page_info *info = info_of(page);
        if (!info->has_next_page) {
            msg.text[0] = '\0';
            return json_walk_end(c, &w, err, &msg);
        }
        if (info->end_cursor[0] == '\0' || strcmp(info->end_cursor, after) == 0) {
            ld_errmsg bad;
            snprintf(bad.text, sizeof bad.text, "page %u: has_next_page without a new end_cursor",
                     w.pages);
            return json_walk_end(c, &w, LD_ERR_PROTOCOL, &bad);
        }
        strcpy(after, info->end_cursor);
    }
}

int
cli_pages(cli *c, cli_page_fn fetch, void *page, const ld_page_info *(*info_of)(const void *),
          const cli_body *body)
{
    char after[LD_CURSOR_BYTES_MAX + 1] = "";
    const char *given = cli_opt_get(c, "after");
    if (given != NULL) {
        if (strlen(given) > LD_CURSOR_BYTES_MAX)
            return cli_usage_error(c, "--after: longer than %u bytes", LD_CURSOR_BYTES_MAX);
        strcpy(after, given);
    }
    if (c->json && c->all)
        return pages_json_all(c, fetch, page, info_of, body, after);
    for (uint32_t pages = 1;; pages++) {
        ld_errmsg msg;
        ld_err err = fetch(c, after, page, &msg);
        cli_body b = *body;
        b.body = LD_ERR_IS_SUCCESS(err) ? page : NULL;
        int status = cli_report(c, err, &msg, &b);
        const ld_page_info *info = info_of(page);
        if (status != EXIT_OK || !c->all || !info->has_next_page)
            return status;
        if (info->end_cursor[0] == '\0' || strcmp(info->end_cursor, after) == 0) {
            fprintf(stderr, "%s: page %u: has_next_page without a new end_cursor\n", cli_prog,
                    pages);
            return EXIT_TRANSPORT;
        }
        strcpy(after, info->end_cursor);
    }
}
