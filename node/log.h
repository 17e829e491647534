/*
 * log.h -- the node's logger: one line per event on stderr, with a UTC timestamp and a level.
 *
 *   2025-01-31T12:00:00.123Z INFO  node 1: livedrop-node 0.1.0 starting
 *
 * stdout is reserved for the one "listening on" line that tests and scripts wait for; everything
 * else goes to stderr. Each line is written with a single stdio call, so lines from the NNG
 * threads and the loop thread never interleave within a line.
 */
#ifndef LDI_LOG_H
#define LDI_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum ldi_log_level {
    LDI_LOG_DEBUG = 0,
    LDI_LOG_INFO = 1,
    LDI_LOG_WARN = 2,
    LDI_LOG_ERROR = 3,
} ldi_log_level;

/* Sets the lowest level that is printed (default INFO) and the node id shown on every line.
 * Thread: main thread, before any other thread starts. */
void ldi_log_init(ldi_log_level level, uint32_t node_id);

/* Parses "debug", "info", "warn" or "error". Returns false on anything else. Thread: any. */
bool ldi_log_level_parse(const char *text, ldi_log_level *out);

/* True if a message at `level` would be printed (skip building expensive arguments otherwise).
 * Thread: any. */
bool ldi_log_enabled(ldi_log_level level);

/* Prints one line at `level`. Lines longer than 1 KiB are truncated. Thread: any. */
void ldi_log(ldi_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs at ERROR, flushes stdout and stderr and terminates the process with exit status 1
 * without running atexit handlers or destructors (memory may be ahead of the disk: nothing must
 * be written any more). Thread: any. */
_Noreturn void ldi_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define LDI_DEBUG(...)                                                                             \
    do {                                                                                           \
        if (ldi_log_enabled(LDI_LOG_DEBUG))                                                        \
            ldi_log(LDI_LOG_DEBUG, __VA_ARGS__);                                                   \
    } while (0)
#define LDI_INFO(...) ldi_log(LDI_LOG_INFO, __VA_ARGS__)
#define LDI_WARN(...) ldi_log(LDI_LOG_WARN, __VA_ARGS__)
#define LDI_ERROR(...) ldi_log(LDI_LOG_ERROR, __VA_ARGS__)

#endif /* LDI_LOG_H */
