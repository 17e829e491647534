/*
 * conf.c -- the client's reading of a cluster-conf file (cluster-conf/README.md): the client
 * addresses of a cluster, for `livedrop --conf`, livedrop-bench and livedrop-fanout.
 *
 * Only two keys matter to a client; every other line is skipped without checking it (the node
 * is the one that validates its configuration):
 *
 *   replica = <node_id> <client_url> <peer_url> <publish_url|none>   -> client_url, in order
 *   listen  = <url>                                                  -> used when no replica
 *
 * Comments follow the node's rule: '#' at the start of a line, or after white space in an
 * unquoted value. A conf with neither key describes the node's built-in default.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client_int.h"

#define CONF_LISTEN_DEFAULT "tcp://127.0.0.1:7400" /* livedrop-node's built-in `listen` */

static bool
conf_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Trims white space and cuts a comment; returns the start. Quotes are left alone: client URLs
 * never need them, and the node refuses what it cannot parse anyway. */
static char *
conf_clean(char *s)
{
    for (char *p = s; *p != '\0'; p++)
        if (*p == '#' && (p == s || conf_space(p[-1]))) {
            *p = '\0';
            break;
        }
    while (conf_space(*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && conf_space(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Appends `url` to the comma-separated list in out[size]. */
static ld_err
conf_append(char *out, size_t size, uint32_t *count, const char *url, ld_errmsg *msg)
{
    if (*count >= LD_CLIENT_ADDRS_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT,
                               "more than %u replica lines (LD_CLIENT_ADDRS_MAX)",
                               LD_CLIENT_ADDRS_MAX);
    size_t used = strlen(out), len = strlen(url);
    if (used + (used > 0) + len + 1 > size)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "addresses do not fit in %zu bytes",
                               size);
    if (used > 0)
        out[used++] = ',';
    memcpy(out + used, url, len + 1);
    (*count)++;
    return LD_OK;
}

/* One `replica` value: the second of its four fields. */
static ld_err
conf_replica(char *value, unsigned line_no, char *url_out, ld_errmsg *msg)
{
    char *fields[4];
    int n = 0;
    for (char *tok = strtok(value, " \t"); tok != NULL; tok = strtok(NULL, " \t")) {
        if (n == 4)
            return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "line %u: replica takes 4 fields",
                                   line_no);
        fields[n++] = tok;
    }
    if (n != 4)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT,
                               "line %u: replica = <node_id> <client_url> <peer_url> "
                               "<publish_url|none>",
                               line_no);
    if (strlen(fields[1]) > LD_CLIENT_ADDR_BYTES_MAX)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "line %u: client_url too long",
                               line_no);
    strcpy(url_out, fields[1]);
    return LD_OK;
}

/* Reads the lines of `f` into out (replica client URLs) and listen_out. */
static ld_err
conf_read(FILE *f, char *out, size_t size, char *listen_out, ld_errmsg *msg)
{
    char line[LD_CLIENT_CONF_LINE_BYTES_MAX + 2];
    uint32_t count = 0;
    unsigned line_no = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line_no++;
        if (strlen(line) > LD_CLIENT_CONF_LINE_BYTES_MAX && strchr(line, '\n') == NULL)
            return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "line %u is longer than %u bytes",
                                   line_no, LD_CLIENT_CONF_LINE_BYTES_MAX);
        char *body = conf_clean(line);
        char *eq = strchr(body, '=');
        if (*body == '\0' || eq == NULL)
            continue;
        *eq = '\0';
        char *key = conf_clean(body), *value = conf_clean(eq + 1);
        char url[LD_CLIENT_ADDR_BYTES_MAX + 1];
        if (strcmp(key, "replica") == 0) {
            ld_err err = conf_replica(value, line_no, url, msg);
            if (err == LD_OK)
                err = conf_append(out, size, &count, url, msg);
            if (err != LD_OK)
                return err;
        } else if (strcmp(key, "listen") == 0 && strlen(value) <= LD_CLIENT_ADDR_BYTES_MAX) {
            strcpy(listen_out, value);
        }
    }
    if (ferror(f))
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "read error: %s", strerror(errno));
    return LD_OK;
}

LD_API ld_err
ld_conf_client_addrs(const char *path, char *out, size_t out_size, ld_errmsg *msg)
{
    if (msg != NULL)
        msg->text[0] = '\0';
    if (path == NULL || out == NULL || out_size == 0)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "path or out is NULL");
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "%s: %s", path, strerror(errno));
    char listen[LD_CLIENT_ADDR_BYTES_MAX + 1] = CONF_LISTEN_DEFAULT;
    ld_err err = conf_read(f, out, out_size, listen, msg);
    fclose(f);
    if (err == LD_OK && out[0] == '\0') {
        if (strlen(listen) + 1 > out_size)
            err = ldi_errmsg_fail(msg, LD_ERR_INVALID_ARGUMENT, "listen does not fit");
        else
            strcpy(out, listen);
    }
    if (err != LD_OK)
        out[0] = '\0';
    return err;
}
