/*
 * store_rocks.c -- RocksDB: column families, the per-turn write batch, the ld_store adapter and
 * log scans (see store_rocks.h for the layout).
 */
#include "store_rocks.h"

#include <errno.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "log.h"
#include "repl.h"
#include "util.h"

/* livedrop-2: the `log` CF holds the replica's records (shard/repl/repl.h keys) instead of bare
 * log entries keyed by op; a livedrop-1 directory is refused with a clear message. */
#define ROCKS_FORMAT "livedrop-2"
#define ROCKS_WRITE_BUFFER_BYTES (32u * 1024u * 1024u)
/* Longest prefix seek() bounds (the state machine's index prefixes are a few dozen bytes). */
#define ROCKS_SEEK_PREFIX_BYTES_MAX 256u
/* install's delete range ends at this many 0xff bytes: above every state key, which are short
 * (a prefix byte and a few ids). */
#define ROCKS_KEY_END_BYTES 1024u

enum { CF_DEFAULT = 0, CF_META, CF_LOG, CF_STATE, CF_COUNT };
static const char *const cf_names[CF_COUNT] = {"default", "meta", "log", "state"};

/* What an ld_store's impl points to: one column family of one database. */
typedef struct rocks_cf_store {
    struct ldi_rocks *r;
    int cf;
} rocks_cf_store;

struct ldi_rocks {
    rocks_cf_store stores[CF_COUNT];
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_column_family_handle_t *cf[CF_COUNT];
    rocksdb_writeoptions_t *write_sync;
    rocksdb_writeoptions_t *write_nosync;
    rocksdb_readoptions_t *read;
    /* The turn's pending write, indexed so that get() reads the turn's own writes (RocksDB's
     * WriteBatchWithIndex). It cannot hold a range deletion: an installed state goes into
     * `replace`, written after it in the same ldi_rocks_batch_write(). */
    rocksdb_writebatch_wi_t *batch;
    rocksdb_writebatch_t *replace;
};

/* The one place where RocksDB's errptr becomes an ld_err: logs it, frees it. */
static ld_err
rocks_err(char *errptr, const char *what)
{
    if (errptr == NULL)
        return LD_OK;
    LDI_ERROR("rocksdb: %s: %s", what, errptr);
    rocksdb_free(errptr);
    return LD_ERR_STORAGE;
}

/* mkdir -p: RocksDB creates only the last component of the path. */
static ld_err
make_dirs(const char *dir)
{
    char path[4096];
    if (strlen(dir) >= sizeof path || dir[0] == '\0') {
        LDI_ERROR("data dir \"%s\": bad path", dir);
        return LD_ERR_STORAGE;
    }
    strcpy(path, dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            LDI_ERROR("data dir: cannot create %s: %s", path, strerror(errno));
            return LD_ERR_STORAGE;
        }
        *p = saved;
        if (saved == '\0')
            return LD_OK;
    }
}

static rocksdb_options_t *
rocks_options(void)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    /* One loop thread writes; background flush and compaction get two threads. */
    rocksdb_options_increase_parallelism(o, 2);
    rocksdb_options_set_write_buffer_size(o, ROCKS_WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_total_wal_size(o, 4 * (uint64_t)ROCKS_WRITE_BUFFER_BYTES);
    rocksdb_options_set_keep_log_file_num(o, 4);
    return o;
}

/* Checks (or, in a new directory, puts into the pending batch) the format and node id in the meta
 * CF. *created_out: the directory had no format record. */
static ld_err
rocks_check_meta(ldi_rocks *r, uint32_t node_id, bool *created_out)
{
    char want_id[16];
    snprintf(want_id, sizeof want_id, "%u", node_id);
    char *err = NULL;
    size_t len = 0;
    char *format = rocksdb_get_cf(r->db, r->read, r->cf[CF_META], "format", 6, &len, &err);
    if (err != NULL)
        return rocks_err(err, "read meta");
    if (format == NULL) {
        rocksdb_writebatch_wi_put_cf(r->batch, r->cf[CF_META], "format", 6, ROCKS_FORMAT,
                                     strlen(ROCKS_FORMAT));
        rocksdb_writebatch_wi_put_cf(r->batch, r->cf[CF_META], "node_id", 7, want_id,
                                     strlen(want_id));
        *created_out = true;
        return LD_OK;
    }
    bool format_ok = len == strlen(ROCKS_FORMAT) && memcmp(format, ROCKS_FORMAT, len) == 0;
    rocksdb_free(format);
    if (!format_ok) {
        LDI_ERROR("data dir: unknown on-disk format (want %s)", ROCKS_FORMAT);
        return LD_ERR_STORAGE;
    }
    char *id = rocksdb_get_cf(r->db, r->read, r->cf[CF_META], "node_id", 7, &len, &err);
    if (err != NULL)
        return rocks_err(err, "read meta");
    bool id_ok = id != NULL && len == strlen(want_id) && memcmp(id, want_id, len) == 0;
    if (!id_ok)
        LDI_ERROR("data dir belongs to node %.*s, not to node %s", id ? (int)len : 1, id ? id : "?",
                  want_id);
    rocksdb_free(id);
    return id_ok ? LD_OK : LD_ERR_STORAGE;
}

ld_err
ldi_rocks_open(const char *dir, uint32_t node_id, bool *created_out, ldi_rocks **out)
{
    LD_ASSERT(dir != NULL);
    LD_ASSERT(out != NULL && created_out != NULL);
    *created_out = false;
    ld_err e = make_dirs(dir);
    if (e != LD_OK)
        return e;
    ldi_rocks *r = ldi_xcalloc(1, sizeof *r);
    r->options = rocks_options();
    const rocksdb_options_t *cf_options[CF_COUNT];
    for (int i = 0; i < CF_COUNT; i++)
        cf_options[i] = r->options;
    char *err = NULL;
    r->db =
        rocksdb_open_column_families(r->options, dir, CF_COUNT, cf_names, cf_options, r->cf, &err);
    r->write_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->write_sync, 1);
    r->write_nosync = rocksdb_writeoptions_create();
    r->read = rocksdb_readoptions_create();
    r->batch = rocksdb_writebatch_wi_create(0, 1); /* overwrite_key: the last put of a key wins */
    r->replace = rocksdb_writebatch_create();
    for (int i = 0; i < CF_COUNT; i++)
        r->stores[i] = (rocks_cf_store){.r = r, .cf = i};
    if (err != NULL) {
        e = rocks_err(err, "open");
        r->db = NULL;
        goto out_close;
    }
    e = rocks_check_meta(r, node_id, created_out);
    if (e != LD_OK)
        goto out_close;
    *out = r;
    return LD_OK;
out_close:
    ldi_rocks_close(r);
    return e;
}

void
ldi_rocks_close(ldi_rocks *r)
{
    if (r == NULL)
        return;
    if (r->db != NULL) {
        char *err = NULL;
        rocksdb_flush_wal(r->db, 1, &err);
        (void)rocks_err(err, "flush wal on close");
        for (int i = 0; i < CF_COUNT; i++)
            rocksdb_column_family_handle_destroy(r->cf[i]);
        rocksdb_close(r->db);
    }
    rocksdb_writebatch_wi_destroy(r->batch);
    rocksdb_writebatch_destroy(r->replace);
    rocksdb_readoptions_destroy(r->read);
    rocksdb_writeoptions_destroy(r->write_nosync);
    rocksdb_writeoptions_destroy(r->write_sync);
    rocksdb_options_destroy(r->options);
    free(r);
}

void
ldi_rocks_batch_clear(ldi_rocks *r)
{
    rocksdb_writebatch_wi_clear(r->batch);
    rocksdb_writebatch_clear(r->replace);
}

ld_err
ldi_rocks_batch_write(ldi_rocks *r, bool sync)
{
    /* Whether a batch must be synced is the host core's decision (shard/host/host.c: it sees
     * every record the replica puts), not the storage's. */
    char *err = NULL;
    bool replacing = rocksdb_writebatch_count(r->replace) > 0;
    /* With an installed state: the turn's writes, then the state (range deletion and records),
     * the second write synced when asked (one WAL: it makes the first durable too). */
    rocksdb_write_writebatch_wi(r->db, sync && !replacing ? r->write_sync : r->write_nosync,
                                r->batch, &err);
    rocksdb_writebatch_wi_clear(r->batch);
    if (err == NULL && replacing)
        rocksdb_write(r->db, sync ? r->write_sync : r->write_nosync, r->replace, &err);
    rocksdb_writebatch_clear(r->replace);
    return rocks_err(err, "write");
}

int
ldi_rocks_batch_count(ldi_rocks *r)
{
    return rocksdb_writebatch_wi_count(r->batch) + rocksdb_writebatch_count(r->replace);
}

/* ---- ld_store adapter (state CF for the state machine, log CF for the replica) -------------- */

static void
store_put(void *impl, const void *key, size_t key_len, const void *val, size_t val_len)
{
    rocks_cf_store *s = impl;
    rocksdb_writebatch_wi_put_cf(s->r->batch, s->r->cf[s->cf], key, key_len, val, val_len);
}

static void
store_del(void *impl, const void *key, size_t key_len)
{
    rocks_cf_store *s = impl;
    rocksdb_writebatch_wi_delete_cf(s->r->batch, s->r->cf[s->cf], key, key_len);
}

/* Iterates `cf` from `start` while keys begin with prefix[0..prefix_len). */
typedef ld_err (*rocks_iter_fn)(void *arg, const char *key, size_t key_len, const char *val,
                                size_t val_len);

static ld_err
rocks_iterate(ldi_rocks *r, int cf, const void *start, size_t start_len, const void *prefix,
              size_t prefix_len, rocks_iter_fn fn, void *arg)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_fill_cache(ro, 0); /* recovery scans: do not evict hot blocks */
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, ro, r->cf[cf]);
    ld_err e = LD_OK;
    for (rocksdb_iter_seek(it, start, start_len); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t key_len = 0;
        size_t val_len = 0;
        const char *key = rocksdb_iter_key(it, &key_len);
        if (prefix_len > 0 && (key_len < prefix_len || memcmp(key, prefix, prefix_len) != 0))
            break;
        const char *val = rocksdb_iter_value(it, &val_len);
        e = fn(arg, key, key_len, val, val_len);
        if (e != LD_OK)
            break;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (err != NULL)
        e = rocks_err(err, "scan");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return e;
}

typedef struct store_scan_arg {
    ld_store_scan_cb cb;
    void *arg;
} store_scan_arg;

static ld_err
store_scan_one(void *arg, const char *key, size_t key_len, const char *val, size_t val_len)
{
    store_scan_arg *a = arg;
    return a->cb(a->arg, key, key_len, val, val_len);
}

static ld_err
store_scan(void *impl, const void *prefix, size_t prefix_len, ld_store_scan_cb cb, void *arg)
{
    rocks_cf_store *s = impl;
    store_scan_arg a = {.cb = cb, .arg = arg};
    return rocks_iterate(s->r, s->cf, prefix, prefix_len, prefix, prefix_len, store_scan_one, &a);
}

/* The smallest key greater than every key that starts with prefix[0..len): the prefix with its
 * last byte below 0xff incremented and what follows dropped. Returns its length; 0 when there
 * is none (an empty prefix or all 0xff), i.e. no upper bound. */
static size_t
prefix_successor(const uint8_t *prefix, size_t len, uint8_t *out)
{
    while (len > 0 && prefix[len - 1] == 0xff)
        len--;
    if (len == 0)
        return 0;
    memcpy(out, prefix, len);
    out[len - 1]++;
    return len;
}

/* Page reads (docs/ARCHITECTURE.md §6 index records): one iterator bounded to the prefix range by
 * the read options (RocksDB then never steps into the next prefix's blocks), positioned with Seek
 * or SeekForPrev. The prefix is also checked per key, so the bounds are only an optimisation. */
static ld_err
store_seek(void *impl, const void *prefix, size_t prefix_len, const void *start, size_t start_len,
           bool reverse, ld_store_scan_cb cb, void *arg)
{
    rocks_cf_store *s = impl;
    ldi_rocks *r = s->r;
    LD_ASSERT(prefix_len <= ROCKS_SEEK_PREFIX_BYTES_MAX);
    LD_ASSERT(start_len >= prefix_len);
    LD_ASSERT(prefix_len == 0 || memcmp(start, prefix, prefix_len) == 0);
    uint8_t upper[ROCKS_SEEK_PREFIX_BYTES_MAX];
    size_t upper_len = prefix_successor(prefix, prefix_len, upper);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (prefix_len > 0)
        rocksdb_readoptions_set_iterate_lower_bound(ro, prefix, prefix_len);
    if (upper_len > 0)
        rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)upper, upper_len);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(r->db, ro, r->cf[s->cf]);
    if (reverse)
        rocksdb_iter_seek_for_prev(it, start, start_len);
    else
        rocksdb_iter_seek(it, start, start_len);
    ld_err e = LD_OK;
    for (; rocksdb_iter_valid(it); reverse ? rocksdb_iter_prev(it) : rocksdb_iter_next(it)) {
        size_t key_len = 0;
        size_t val_len = 0;
        const char *key = rocksdb_iter_key(it, &key_len);
        if (key_len < prefix_len || memcmp(key, prefix, prefix_len) != 0)
            break;
        const char *val = rocksdb_iter_value(it, &val_len);
        e = cb(arg, key, key_len, val, val_len);
        if (e != LD_OK)
            break;
    }
    if (e == LD_EXISTS)
        e = LD_OK; /* the callback's "stop here" */
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (err != NULL)
        e = rocks_err(err, "seek");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro); /* after the iterator, which reads the bounds */
    return e;
}

/* The turn's batch first, then the database (the last completed write, synced or not). */
static ld_err
store_get(void *impl, const void *key, size_t key_len, ld_store_get_cb cb, void *arg,
          bool *found_out)
{
    rocks_cf_store *s = impl;
    LD_ASSERT(cb != NULL && found_out != NULL);
    LD_ASSERT(rocksdb_writebatch_count(s->r->replace) == 0); /* written in the install's call */
    char *err = NULL;
    size_t len = 0;
    char *val = rocksdb_writebatch_wi_get_from_batch_and_db_cf(
        s->r->batch, s->r->db, s->r->read, s->r->cf[s->cf], key, key_len, &len, &err);
    if (err != NULL)
        return rocks_err(err, "get");
    *found_out = val != NULL;
    if (val != NULL) {
        cb(arg, val, len);
        rocksdb_free(val);
    }
    return LD_OK;
}

static const ld_store_ops rocks_store_ops = {
    .put = store_put,
    .del = store_del,
    .scan = store_scan,
    .seek = store_seek,
    .get = store_get,
};

ld_store
ldi_rocks_store(ldi_rocks *r)
{
    return (ld_store){.ops = &rocks_store_ops, .impl = &r->stores[CF_STATE]};
}

ld_store
ldi_rocks_repl_store(ldi_rocks *r)
{
    return (ld_store){.ops = &rocks_store_ops, .impl = &r->stores[CF_LOG]};
}

/* ---- state transfer: the state CF as one stream ------------------------------------------- */

/* The stream's format and checks have one home, shard/host/checkpoint.c: the simulator writes and
 * reads the same stream. */
static ld_err
snap_append(void *arg, const char *key, size_t key_len, const char *val, size_t val_len)
{
    ld_checkpoint_writer *w = arg;
    ld_err err = ld_checkpoint_append(w, key, key_len, val, val_len);
    if (err == LD_ERR_CAPACITY)
        LDI_WARN("snapshot: the state passes %zu bytes; refused", w->max);
    return err;
}

ld_err
ldi_rocks_state_snapshot(ldi_rocks *r, size_t max_bytes, uint8_t **buf_out, size_t *len_out)
{
    LD_ASSERT(buf_out != NULL && len_out != NULL);
    ld_checkpoint_writer w = {.max = max_bytes};
    /* An iterator reads one implicit snapshot of the database: the records it walks are those of
     * the last completed write, never half of a later one. */
    ld_err e = rocks_iterate(r, CF_STATE, "", 0, NULL, 0, snap_append, &w);
    if (e != LD_OK) {
        ld_checkpoint_writer_fini(&w);
        return e;
    }
    *buf_out = ld_checkpoint_take(&w, len_out);
    return LD_OK;
}

static void
replace_put_cb(void *arg, const uint8_t *key, size_t key_len, const uint8_t *val, size_t val_len)
{
    ldi_rocks *r = arg;
    rocksdb_writebatch_put_cf(r->replace, r->cf[CF_STATE], (const char *)key, key_len,
                              (const char *)val, val_len);
}

ld_err
ldi_rocks_batch_state_replace(ldi_rocks *r, const uint8_t *buf, size_t len)
{
    LD_ASSERT(buf != NULL || len == 0);
    if (!ld_checkpoint_valid(buf, len)) {
        LDI_ERROR("state transfer: the received state stream is malformed; not installed");
        return LD_ERR_STORAGE;
    }
    static const char lo[1] = {0};
    static char hi[ROCKS_KEY_END_BYTES];
    memset(hi, 0xff, sizeof hi);
    /* Every state key sorts at or above "" + lo and below hi. The puts that follow get later
     * sequence numbers inside the batch, so the range deletion does not hide them. */
    rocksdb_writebatch_delete_range_cf(r->replace, r->cf[CF_STATE], lo, 0, hi, sizeof hi);
    ld_checkpoint_walk(buf, len, replace_put_cb, r);
    return LD_OK;
}
