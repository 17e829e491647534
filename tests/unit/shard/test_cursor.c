/*
 * test_cursor.c -- page cursors (shard/cursor.c): the exact base64url form, round trips for
 * every list, and strict refusal of every malformed spelling.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cursor.h"

/* A reference encoder for arbitrary 26 raw bytes, to build cursors the encoder never makes. */
static void
raw_encode(const uint8_t raw[26], char out[36])
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    unsigned bits = 0, n = 0;
    for (unsigned i = 0; i < 26; i++) {
        acc = acc << 8 | raw[i];
        for (bits += 8; bits >= 6; bits -= 6)
            out[n++] = a[(acc >> (bits - 6)) & 0x3F];
    }
    out[n++] = a[(acc << (6 - bits)) & 0x3F];
    out[n] = '\0';
}

static ld_cursor
sample(ld_cursor_list list)
{
    ld_cursor c = {.list = list, .sort_key = 0x0123456789abcdefULL};
    for (unsigned i = 0; i < 16; i++)
        c.id.bytes[i] = (uint8_t)(0xf0 + i);
    return c;
}

Test(cursor, known_encoding)
{
    /* Goal: the wire form is base64url without padding of version|list|be64 key|id, 35
     * characters. Method: two vectors computed independently (Python's urlsafe_b64encode). */
    char text[LD_CURSOR_BYTES_MAX + 1];
    ld_cursor c = sample(LD_CURSOR_DROPS_LIVE);
    ld_cursor_encode(&c, text);
    cr_assert_str_eq(text, "AQUBI0VniavN7_Dx8vP09fb3-Pn6-_z9_v8");
    ld_cursor z = {.list = LD_CURSOR_FOLLOWERS};
    ld_cursor_encode(&z, text);
    cr_assert_str_eq(text, "AQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    cr_assert_eq(strlen(text), 35);
}

Test(cursor, round_trips_for_every_list)
{
    /* Goal: decode(encode(c), c.list) == c for every list and extreme sort keys, and the same
     * text is refused by every other list. Method: all 8 lists x 4 keys, then cross-decoding. */
    uint64_t keys[] = {0, 1, UINT64_MAX, 1ULL << 63};
    for (int l = LD_CURSOR_FOLLOWERS; l <= LD_CURSOR_NOTIFICATIONS; l++) {
        for (size_t k = 0; k < 4; k++) {
            ld_cursor c = sample((ld_cursor_list)l);
            c.sort_key = keys[k];
            c.id.bytes[0] = (uint8_t)k;
            char text[LD_CURSOR_BYTES_MAX + 1];
            ld_cursor_encode(&c, text);
            ld_cursor back;
            memset(&back, 0xEE, sizeof back);
            cr_assert(ld_cursor_decode(text, (ld_cursor_list)l, &back));
            cr_assert_eq(back.list, c.list);
            cr_assert_eq(back.sort_key, c.sort_key);
            cr_assert_eq(memcmp(back.id.bytes, c.id.bytes, 16), 0);
            for (int other = LD_CURSOR_FOLLOWERS; other <= LD_CURSOR_NOTIFICATIONS; other++)
                if (other != l)
                    cr_assert_not(ld_cursor_decode(text, (ld_cursor_list)other, &back));
        }
    }
}

Test(cursor, malformed_spellings_are_refused)
{
    /* Goal: NULL, empty, one character short or long, a padded form, any character outside
     * base64url, and nonzero unused trailing bits are refused. Method: mutate a valid cursor. */
    ld_cursor c = sample(LD_CURSOR_PRODUCTS), out;
    char good[LD_CURSOR_BYTES_MAX + 1], t[LD_CURSOR_BYTES_MAX + 2];
    ld_cursor_encode(&c, good);
    cr_assert(ld_cursor_decode(good, LD_CURSOR_PRODUCTS, &out));
    cr_assert_not(ld_cursor_decode(NULL, LD_CURSOR_PRODUCTS, &out));
    cr_assert_not(ld_cursor_decode("", LD_CURSOR_PRODUCTS, &out));
    memcpy(t, good, 34);
    t[34] = '\0';
    cr_assert_not(ld_cursor_decode(t, LD_CURSOR_PRODUCTS, &out));
    strcpy(t, good);
    strcat(t, "A");
    cr_assert_not(ld_cursor_decode(t, LD_CURSOR_PRODUCTS, &out));
    strcpy(t, good);
    strcat(t, "=");
    cr_assert_not(ld_cursor_decode(t, LD_CURSOR_PRODUCTS, &out));
    const char bad[] = {'+', '/', '=', ' ', '.', '\x80', '\xff', '~'};
    for (size_t i = 0; i < sizeof bad; i++) {
        for (size_t pos = 0; pos < 35; pos += 17) {
            strcpy(t, good);
            t[pos] = bad[i];
            cr_assert_not(ld_cursor_decode(t, LD_CURSOR_PRODUCTS, &out), "char %02x at %zu",
                          (unsigned char)bad[i], pos);
        }
    }
    /* The last character holds 4 data bits and 2 unused ones: '8' is 60 (low bits 00). */
    strcpy(t, good);
    cr_assert_eq(t[34], '8');
    t[34] = '9'; /* 61: an unused bit set */
    cr_assert_not(ld_cursor_decode(t, LD_CURSOR_PRODUCTS, &out));
    t[34] = '-'; /* 62 */
    cr_assert_not(ld_cursor_decode(t, LD_CURSOR_PRODUCTS, &out));
}

Test(cursor, wrong_version_or_list_byte_is_refused)
{
    /* Goal: a well-spelled cursor of version 0 or 2, or whose list byte is 0, 9 or 255, is
     * refused; the same bytes with version 1 and a real list decode. Method: the reference
     * encoder on hand-made raw bytes. */
    uint8_t raw[26] = {1, LD_CURSOR_FOLLOWING, 0, 0, 0, 0, 0, 0, 0, 42, 7};
    char t[36];
    ld_cursor out;
    raw_encode(raw, t);
    cr_assert(ld_cursor_decode(t, LD_CURSOR_FOLLOWING, &out));
    cr_assert_eq(out.sort_key, 42);
    cr_assert_eq(out.id.bytes[0], 7);
    uint8_t versions[] = {0, 2, 255};
    for (size_t i = 0; i < 3; i++) {
        raw[0] = versions[i];
        raw_encode(raw, t);
        cr_assert_not(ld_cursor_decode(t, LD_CURSOR_FOLLOWING, &out));
    }
    raw[0] = 1;
    uint8_t lists[] = {0, 9, 255};
    for (size_t i = 0; i < 3; i++) {
        raw[1] = lists[i];
        raw_encode(raw, t);
        for (int l = LD_CURSOR_FOLLOWERS; l <= LD_CURSOR_NOTIFICATIONS; l++)
            cr_assert_not(ld_cursor_decode(t, (ld_cursor_list)l, &out));
    }
}
