/*
 * shard_int.h -- small helpers shared by the files of shard/ (not part of any contract).
 */
#ifndef LD_SHARD_INT_H
#define LD_SHARD_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Returns the length of the longest prefix of s[0..len) that does not end inside a UTF-8
 * sequence (the string is assumed valid up to a possibly truncated last character).
 * Thread: any. */
size_t ldi_utf8_complete_prefix(const char *s, size_t len);

#endif /* LD_SHARD_INT_H */
