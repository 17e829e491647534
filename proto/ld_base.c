/*
 * ld_base.c -- result code strings, id hex codec, slot math, the UTF-8 check and the assertion
 * handler.
 */
#include "ld_base.h"

#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

const char *
ld_strerror(ld_err err)
{
    switch (err) {
#define LD_ERR(name, value, text)                                                                  \
    case LD_##name:                                                                                \
        return text;
#include "ld_errors.def"
#undef LD_ERR
    }
    return "unknown error";
}

const char *
ld_err_name(ld_err err)
{
    switch (err) {
#define LD_ERR(name, value, text)                                                                  \
    case LD_##name:                                                                                \
        return #name;
#include "ld_errors.def"
#undef LD_ERR
    }
    return "UNKNOWN";
}

void
ld_assert_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "livedrop: assertion failed at %s:%d: %s\n", file, line, cond);
    fflush(stderr);
    abort();
}

void
ld_id_to_hex(const ld_id *id, char out[33])
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 16; i++) {
        out[2 * i] = digits[id->bytes[i] >> 4];
        out[2 * i + 1] = digits[id->bytes[i] & 15];
    }
    out[32] = '\0';
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool
ld_id_from_hex(const char *hex, ld_id *out)
{
    if (hex == NULL)
        return false;
    for (unsigned i = 0; i < 16; i++) {
        if (hex[2 * i] == '\0' || hex[2 * i + 1] == '\0')
            return false;
        int hi = hex_value(hex[2 * i]);
        int lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return hex[32] == '\0';
}

uint32_t
ld_slot(const ld_id *id)
{
    _Static_assert(LD_SLOTS == (1u << 14), "slot = top 14 bits of the hash");
    return (uint32_t)(XXH3_64bits(id->bytes, sizeof id->bytes) >> 50);
}

bool
ldi_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0)
            n = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            n = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            n = 4, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}
