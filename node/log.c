/*
 * log.c -- stderr logger with UTC timestamps and levels (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written once before threads start, read by every thread: atomics keep TSan (and the memory
 * model) happy at no measurable cost. */
static atomic_int log_level = LDI_LOG_INFO;
static atomic_uint log_node_id = 1;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void
ldi_log_init(ldi_log_level level, uint32_t node_id)
{
    atomic_store(&log_level, (int)level);
    atomic_store(&log_node_id, node_id);
}

bool
ldi_log_level_parse(const char *text, ldi_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (ldi_log_level)i;
            return true;
        }
    }
    return false;
}

bool
ldi_log_enabled(ldi_log_level level)
{
    return (int)level >= atomic_load(&log_level);
}

static void
log_vline(ldi_log_level level, const char *fmt, va_list ap)
{
    char line[1200];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s node %u: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000L, level_names[level], atomic_load(&log_node_id));
    if (n < 0)
        return;
    size_t used = (size_t)n;
    int m = vsnprintf(line + used, sizeof line - used - 1, fmt, ap);
    if (m < 0)
        return;
    used += (size_t)m < sizeof line - used - 1 ? (size_t)m : sizeof line - used - 2;
    line[used++] = '\n';
    line[used] = '\0';
    fputs(line, stderr);
}

void
ldi_log(ldi_log_level level, const char *fmt, ...)
{
    if (!ldi_log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vline(level, fmt, ap);
    va_end(ap);
}

void
ldi_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vline(LDI_LOG_ERROR, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fflush(stderr);
    _exit(1);
}
