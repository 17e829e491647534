/*
 * selftest.c -- livedrop-chaos --self-test: proves the checker bites.
 *
 * A small planted run (10 units; two acknowledged orders, a refused one, an indeterminate one
 * that happened and one that did not) must PASS; then each variant plants one kind of bug in the
 * history or the final state -- a lost acknowledged order, a doubled order, an oversell, a
 * refused order that happened, an indeterminate order that happened twice, a replica that
 * diverged, a phantom order nobody asked for, a recheck that returns another order, a truncated
 * or unfinished history -- and must FAIL on the check that names that bug. A malformed history
 * must be refused outright. The files are written to a temp directory and read back by the same
 * code as `livedrop-chaos check`.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chaos.h"
#include "check.h"
#include "run.h"

#define ID(n) "0000000000000000000000000000000" #n
#define USER(n) "1111111111111111111111111111111" #n

enum {
    P_LOST = 1 << 0,          /* O2, acknowledged, is gone everywhere (sold 3) */
    P_DOUBLE = 1 << 1,        /* k1 has a second PAID order everywhere (sold 6) */
    P_OVERSELL = 1 << 2,      /* every read: available -2, sold 12 */
    P_REFUSED = 1 << 3,       /* k3 was refused SOLD_OUT but has order O3 (sold 5) */
    P_INFO_TWICE = 1 << 4,    /* k5 (indeterminate) has two orders (sold 8) */
    P_DIVERGED = 1 << 5,      /* replica 3 lacks O4 and sold 3 */
    P_PHANTOM = 1 << 6,       /* an order of a user no key has (sold 5) */
    P_RECHECK = 1 << 7,       /* place_order again with k1's key returns another order */
    P_TRUNCATED = 1 << 8,     /* the history hit its size limit */
    P_NO_END = 1 << 9,        /* the history has no end record */
    P_MALFORMED = 1 << 10,    /* a completion of a key never invoked */
    P_REPLICA_GONE = 1 << 11, /* replica 2 could not be read */
};

static bool
write_history(const char *path, unsigned p)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "{\"t_ms\":0,\"type\":\"run\",\"seed\":1,\"drop\":\"" ID(
                   9) "\",\"stock\":10,"
                      "\"clients\":2,\"time_s\":1,\"faults\":\"kill\"}\n");
    static const struct {
        const char *key, *user;
        int qty;
    } keys[5] = {{"k1", USER(1), 2},
                 {"k2", USER(2), 1},
                 {"k3", USER(3), 1},
                 {"k4", USER(4), 1},
                 {"k5", USER(5), 2}};
    for (int i = 0; i < 5; i++)
        fprintf(f,
                "{\"t_ms\":1,\"type\":\"invoke\",\"client\":%d,\"op\":\"order\",\"key\":\"%s\","
                "\"user\":\"%s\",\"qty\":%d,\"attempt\":1}\n",
                i % 2, keys[i].key, keys[i].user, keys[i].qty);
    fprintf(f, "{\"t_ms\":2,\"type\":\"nemesis\",\"op\":\"kill\",\"node\":1}\n");
    fprintf(f, "{\"t_ms\":3,\"type\":\"ok\",\"key\":\"k1\",\"code\":0,\"order\":\"" ID(
                   1) "\","
                      "\"qty\":2}\n");
    fprintf(f, "{\"t_ms\":3,\"type\":\"ok\",\"key\":\"k2\",\"code\":0,\"order\":\"" ID(
                   2) "\","
                      "\"qty\":1}\n");
    fprintf(f, "{\"t_ms\":3,\"type\":\"fail\",\"key\":\"k3\",\"code\":304}\n");
    fprintf(f, "{\"t_ms\":3,\"type\":\"info\",\"key\":\"k4\",\"code\":100}\n");
    fprintf(f, "{\"t_ms\":3,\"type\":\"info\",\"key\":\"k5\",\"code\":100}\n");
    if (p & P_MALFORMED)
        fprintf(f, "{\"t_ms\":3,\"type\":\"ok\",\"key\":\"k77\",\"code\":0,\"order\":\"" ID(
                       7) "\",\"qty\":1}\n");
    fprintf(f, "{\"t_ms\":4,\"type\":\"nemesis\",\"op\":\"restart\",\"node\":1}\n");
    if (p & P_TRUNCATED)
        fprintf(f, "{\"t_ms\":5,\"type\":\"truncated\",\"bytes_max\":4096}\n");
    if (!(p & P_NO_END))
        fprintf(f, "{\"t_ms\":9,\"type\":\"end\",\"crashes\":0}\n");
    return fclose(f) == 0;
}

static void
write_order(FILE *f, int src, const char *order, const char *user, int qty)
{
    fprintf(f,
            "{\"type\":\"order\",\"src\":%d,\"order\":\"%s\",\"user\":\"%s\",\"qty\":%d,"
            "\"status\":\"PAID\"}\n",
            src, order, user, qty);
}

static bool
write_final(const char *path, unsigned p)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    for (int src = 0; src <= LDC_NODES; src++) {
        int sold = 0;
        fprintf(f, "{\"type\":\"orders\",\"src\":%d}\n", src);
        write_order(f, src, ID(1), USER(1), 2);
        sold += 2;
        if (!(p & P_LOST)) {
            write_order(f, src, ID(2), USER(2), 1);
            sold += 1;
        }
        if (!(p & P_DIVERGED) || src != 3) {
            write_order(f, src, ID(4), USER(4), 1);
            sold += 1;
        }
        if (p & P_DOUBLE) {
            write_order(f, src, ID(6), USER(1), 2);
            sold += 2;
        }
        if (p & P_REFUSED) {
            write_order(f, src, ID(3), USER(3), 1);
            sold += 1;
        }
        if (p & P_INFO_TWICE) {
            write_order(f, src, ID(5), USER(5), 2);
            write_order(f, src, ID(8), USER(5), 2);
            sold += 4;
        }
        if (p & P_PHANTOM) {
            write_order(f, src, ID(7), USER(7), 1);
            sold += 1;
        }
        int available = 10 - sold;
        if (p & P_OVERSELL) {
            sold = 12;
            available = -2;
        }
        if (src == 0)
            fprintf(f,
                    "{\"type\":\"final\",\"drop\":\"" ID(
                        9) "\",\"complete\":true,\"note\":\"\","
                           "\"initial\":10,\"available\":%d,\"reserved\":0,\"sold\":%d}\n",
                    available, sold);
        else if ((p & P_REPLICA_GONE) && src == 2)
            fprintf(f, "{\"type\":\"replica\",\"node\":2,\"ok\":false}\n");
        else
            fprintf(f,
                    "{\"type\":\"replica\",\"node\":%d,\"ok\":true,\"applied\":40,"
                    "\"initial\":10,\"available\":%d,\"reserved\":0,\"sold\":%d}\n",
                    src, available, sold);
    }
    fprintf(f,
            "{\"type\":\"recheck\",\"key\":\"k1\",\"code\":0,\"order\":\"%s\",\"get_code\":0,"
            "\"get_status\":\"PAID\",\"get_qty\":2}\n",
            (p & P_RECHECK) ? ID(6) : ID(1));
    if (!(p & P_LOST))
        fprintf(f, "{\"type\":\"recheck\",\"key\":\"k2\",\"code\":0,\"order\":\"" ID(
                       2) "\","
                          "\"get_code\":0,\"get_status\":\"PAID\",\"get_qty\":1}\n");
    else
        fprintf(f, "{\"type\":\"recheck\",\"key\":\"k2\",\"code\":304,\"order\":\"" ID(
                       0) "\","
                          "\"get_code\":302,\"get_status\":\"\",\"get_qty\":0}\n");
    return fclose(f) == 0;
}

int
ldc_self_test(void)
{
    static const struct {
        const char *name;
        unsigned plant;
        int expect_check; /* the check that must fail; -1: none (PASS); -2: refused (status 2) */
    } cases[] = {
        {"clean run", 0, -1},
        {"lost acknowledged order", P_LOST, LDC_CHECK_LOST},
        {"doubled order", P_DOUBLE, LDC_CHECK_DOUBLE},
        {"oversell", P_OVERSELL, LDC_CHECK_OVERSELL},
        {"refused order that happened", P_REFUSED, LDC_CHECK_ONCE},
        {"indeterminate order twice", P_INFO_TWICE, LDC_CHECK_ONCE},
        {"replica diverged", P_DIVERGED, LDC_CHECK_REPLICAS},
        {"phantom order", P_PHANTOM, LDC_CHECK_DOUBLE},
        {"recheck returns another order", P_RECHECK, LDC_CHECK_LOST},
        {"truncated history", P_TRUNCATED, LDC_CHECK_HISTORY},
        {"unfinished history", P_NO_END, LDC_CHECK_HISTORY},
        {"replica not read", P_REPLICA_GONE, LDC_CHECK_FINAL},
        {"malformed history", P_MALFORMED, -2},
    };
    const char *tmp = getenv("TMPDIR");
    char dir[LDC_PATH_BYTES_MAX], hist[LDC_PATH_BYTES_MAX + 32], final[LDC_PATH_BYTES_MAX + 32];
    snprintf(dir, sizeof dir, "%s/livedrop-chaos-selftest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "livedrop-chaos: mkdtemp %s: %s\n", dir, strerror(errno));
        return 3;
    }
    snprintf(hist, sizeof hist, "%s/history.jsonl", dir);
    snprintf(final, sizeof final, "%s/final.jsonl", dir);
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!write_history(hist, cases[i].plant) || !write_final(final, cases[i].plant)) {
            fprintf(stderr, "livedrop-chaos: writing %s: %s\n", dir, strerror(errno));
            return 3;
        }
        char err[512];
        ldc_model *m = ldc_model_load(hist, final, err, sizeof err);
        uint32_t mask = m ? ldc_check(m, NULL) : 0;
        bool good;
        if (cases[i].expect_check == -2)
            good = m == NULL;
        else if (cases[i].expect_check == -1)
            good = m != NULL && mask == 0;
        else
            good = m != NULL && (mask & (1u << cases[i].expect_check)) != 0;
        printf("self-test  %-32s %-6s expected %-14s got %s (failed checks 0x%02x)%s%s\n",
               cases[i].name, good ? "ok" : "WRONG",
               cases[i].expect_check == -1   ? "PASS"
               : cases[i].expect_check == -2 ? "refused"
                                             : ldc_check_name(cases[i].expect_check),
               !m     ? "refused"
               : mask ? "FAIL"
                      : "PASS",
               mask, m ? "" : ": ", m ? "" : err);
        if (!good && m)
            (void)ldc_check(m, stdout); /* show why */
        ldc_model_free(m);
        failures += !good;
    }
    unlink(hist);
    unlink(final);
    rmdir(dir);
    printf("self-test  %s: %d of %zu cases wrong\n", failures ? "FAIL" : "PASS", failures,
           sizeof cases / sizeof cases[0]);
    return failures ? 1 : 0;
}
