/*
 * test_protocol_doc.c -- proto/PROTOCOL.md documents every result code, and the generated
 * ld_strerror() / ld_err_name() agree with ld_errors.def.
 *
 * The X-macro list is expanded here into a table of (name, value, text), so a code added to
 * ld_errors.def without a row in PROTOCOL.md fails this suite.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ld_base.h"

#ifndef LD_SOURCE_DIR
#error "LD_SOURCE_DIR must be defined by tests/CMakeLists.txt"
#endif

typedef struct code_row {
    const char *name; /* without the LD_ prefix */
    int value;
    const char *text;
} code_row;

static const code_row codes[] = {
#define LD_ERR(name, value, text) {#name, value, text},
#include "ld_errors.def"
#undef LD_ERR
};
#define CODES_N (sizeof codes / sizeof codes[0])

/* Reads the whole file into a NUL-terminated heap buffer. Returns owned, free with free(). */
static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    cr_assert_gt(len, 0, "%s is empty", path);
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    char *buf = malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* True if some line of `doc` is a table row whose first cell is `value` and which names
 * `LD_<name>` in backquotes. */
static bool
doc_has_row(const char *doc, const char *name, int value)
{
    char token[96];
    char first_cell[32];
    snprintf(token, sizeof token, "`LD_%s`", name);
    snprintf(first_cell, sizeof first_cell, "| %d |", value);
    const char *line = doc;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        size_t cell_len = strlen(first_cell);
        if (len > cell_len && strncmp(line, first_cell, cell_len) == 0) {
            char row[512];
            size_t n = len < sizeof row - 1 ? len : sizeof row - 1;
            memcpy(row, line, n);
            row[n] = '\0';
            if (strstr(row, token) != NULL)
                return true;
        }
        if (end == NULL)
            break;
        line = end + 1;
    }
    return false;
}

Test(protocol_doc, every_error_code_has_a_row_in_protocol_md)
{
    /* Goal: no code ships undocumented. Method: for each X-macro entry, look for a table row
     * "| <value> | `LD_<NAME>` | ..." in proto/PROTOCOL.md. */
    cr_assert_geq(CODES_N, 30u, "the X-macro expanded to too few codes");
    char *doc = read_file(LD_SOURCE_DIR "/proto/PROTOCOL.md");
    size_t missing = 0;
    for (size_t i = 0; i < CODES_N; i++) {
        if (!doc_has_row(doc, codes[i].name, codes[i].value)) {
            cr_log_error("PROTOCOL.md lacks a row for %d LD_%s", codes[i].value, codes[i].name);
            missing++;
        }
    }
    free(doc);
    cr_assert_eq(missing, 0, "%zu error codes are not documented in proto/PROTOCOL.md", missing);
}

Test(protocol_doc, protocol_md_states_the_current_version_and_limits)
{
    /* Goal: the document speaks of the limits the code enforces. Method: look for the version
     * number and the frame and ops limits by name. */
    char *doc = read_file(LD_SOURCE_DIR "/proto/PROTOCOL.md");
    cr_expect_not_null(strstr(doc, "LD_PROTOCOL_VERSION"));
    cr_expect_not_null(strstr(doc, "LD_FRAME_BYTES_MAX"));
    cr_expect_not_null(strstr(doc, "LD_REQUEST_OPS_MAX"));
    cr_expect_not_null(strstr(doc, "ERR_UNSUPPORTED_VERSION"));
    free(doc);
}

Test(protocol_doc, strerror_and_name_match_the_list)
{
    /* Goal: the generated functions cover every code. Method: compare each against the table
     * expanded from the same X-macro. */
    for (size_t i = 0; i < CODES_N; i++) {
        ld_err err = (ld_err)codes[i].value;
        cr_expect_str_eq(ld_strerror(err), codes[i].text, "ld_strerror(%d)", codes[i].value);
        cr_expect_str_eq(ld_err_name(err), codes[i].name, "ld_err_name(%d)", codes[i].value);
        cr_expect_gt(strlen(codes[i].text), 0u);
        cr_expect_leq(strlen(codes[i].text), LD_MESSAGE_BYTES_MAX);
    }
}

Test(protocol_doc, unknown_values_get_the_fallback_strings)
{
    /* Goal: a code from a newer peer prints sanely. Method: values in gaps and out of every
     * range. */
    static const int unknown[] = {2, 99, 112, 199, 299, 399, 400, 12345, -1};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        bool known = false;
        for (size_t j = 0; j < CODES_N; j++)
            known = known || codes[j].value == unknown[i];
        if (known)
            continue; /* a later code filled this gap: nothing to check */
        ld_err err = (ld_err)unknown[i];
        cr_expect_str_eq(ld_strerror(err), "unknown error", "ld_strerror(%d)", unknown[i]);
        cr_expect_str_eq(ld_err_name(err), "UNKNOWN", "ld_err_name(%d)", unknown[i]);
    }
}

Test(protocol_doc, values_are_unique_and_in_their_ranges)
{
    /* Goal: the wire values stay a clean, stable list. Method: pairwise uniqueness; every code
     * falls in exactly one of the ranges PROTOCOL.md describes; names follow the convention. */
    for (size_t i = 0; i < CODES_N; i++) {
        int v = codes[i].value;
        cr_expect(v >= 0 && v < 400, "LD_%s = %d outside 0..399", codes[i].name, v);
        int classes = LD_ERR_IS_SUCCESS(v) + LD_ERR_IS_TRANSPORT(v) + LD_ERR_IS_INVALID(v) +
                      LD_ERR_IS_BUSINESS(v);
        cr_expect_eq(classes, 1, "LD_%s = %d is in %d classes", codes[i].name, v, classes);
        bool err_prefix = strncmp(codes[i].name, "ERR_", 4) == 0;
        cr_expect_eq(err_prefix, !LD_ERR_IS_SUCCESS(v), "LD_%s: ERR_ prefix iff not a success",
                     codes[i].name);
        for (size_t j = i + 1; j < CODES_N; j++) {
            cr_expect_neq(v, codes[j].value, "LD_%s and LD_%s share %d", codes[i].name,
                          codes[j].name, v);
            cr_expect_str_neq(codes[i].name, codes[j].name);
        }
    }
    cr_expect_eq(LD_OK, 0);
}
