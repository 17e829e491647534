/*
 * cursor.c -- opaque page cursors: base64url (RFC 4648 §5, no padding) of 26 bytes (cursor.h).
 *
 * Decoding is strict, so that one cursor has exactly one spelling: exactly 35 characters of the
 * base64url alphabet, the unused low bits of the last character zero, version 1 and the list the
 * caller reads. Anything else is refused (the caller answers LD_ERR_INVALID_CURSOR).
 */
#include "cursor.h"

#include <string.h>

#define CURSOR_VERSION 1u
#define CURSOR_RAW_BYTES 26u
#define CURSOR_TEXT_CHARS 35u /* ceil(26 * 8 / 6) */

_Static_assert(CURSOR_TEXT_CHARS <= LD_CURSOR_BYTES_MAX, "a cursor fits its wire limit");
_Static_assert((CURSOR_RAW_BYTES * 8 + 5) / 6 == CURSOR_TEXT_CHARS, "base64url length");

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static bool
list_valid(ld_cursor_list list)
{
    return list >= LD_CURSOR_FOLLOWERS && list <= LD_CURSOR_NOTIFICATIONS;
}

/* The 6-bit value of a base64url character, or -1. */
static int
b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

void
ld_cursor_encode(const ld_cursor *cursor, char out[LD_CURSOR_BYTES_MAX + 1])
{
    LD_ASSERT(cursor != NULL && out != NULL);
    LD_ASSERT(list_valid(cursor->list));
    uint8_t raw[CURSOR_RAW_BYTES];
    raw[0] = CURSOR_VERSION;
    raw[1] = (uint8_t)cursor->list;
    ldi_be64_put(raw + 2, cursor->sort_key);
    memcpy(raw + 10, cursor->id.bytes, LD_ID_BYTES);
    uint32_t acc = 0;
    unsigned bits = 0, n = 0;
    for (unsigned i = 0; i < CURSOR_RAW_BYTES; i++) {
        acc = acc << 8 | raw[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = b64url[(acc >> bits) & 0x3F];
        }
    }
    if (bits > 0)
        out[n++] = b64url[(acc << (6 - bits)) & 0x3F];
    LD_ASSERT(n == CURSOR_TEXT_CHARS);
    out[n] = '\0';
}

/* Decodes exactly CURSOR_TEXT_CHARS characters into raw; false on any other spelling. */
static bool
b64url_decode(const char *text, uint8_t raw[CURSOR_RAW_BYTES])
{
    if (strnlen(text, CURSOR_TEXT_CHARS + 1) != CURSOR_TEXT_CHARS)
        return false;
    uint32_t acc = 0;
    unsigned bits = 0, n = 0;
    for (unsigned i = 0; i < CURSOR_TEXT_CHARS; i++) {
        int v = b64url_value(text[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* The bits left over must be zero: otherwise two spellings would name one cursor. */
    return n == CURSOR_RAW_BYTES && (acc & ((1u << bits) - 1)) == 0;
}

bool
ld_cursor_decode(const char *text, ld_cursor_list list, ld_cursor *out)
{
    LD_ASSERT(out != NULL);
    LD_ASSERT(list_valid(list));
    uint8_t raw[CURSOR_RAW_BYTES];
    if (text == NULL || !b64url_decode(text, raw))
        return false;
    if (raw[0] != CURSOR_VERSION || raw[1] != (uint8_t)list)
        return false;
    out->list = list;
    out->sort_key = ldi_be64_get(raw + 2);
    memcpy(out->id.bytes, raw + 10, LD_ID_BYTES);
    return true;
}
