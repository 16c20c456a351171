/*
 * rocksdb.c — the RocksDB keyed-state backend (runnel/state.h, `state: { backend: rocksdb }`):
 * one RocksDB instance per backend in cfg.dir, a column family per declared state, snapshots as
 * RocksDB checkpoints (hard-linked SST files) plus a manifest listing those files.
 *
 * Assumes RocksDB 7.8's C API (rocksdb/c.h) and nothing else of RocksDB, a POSIX filesystem
 * (hard links where it allows them, copies otherwise), and one thread per backend (the engine's
 * contract); of this file, RocksDB's background threads only run the list merge operator (pure)
 * and the TTL compaction filter, which reads atomics. The combine functions of reducing states
 * run on the backend's thread only.
 *
 * Key layout (every column family):
 *     [key group: 2 bytes BE][namespace: 8 bytes BE, sign bit flipped][key bytes]
 *     map states: [key group][namespace][key length: 4 bytes BE][key bytes][user key bytes]
 * A key-group range is a contiguous key range (each(), snapshots restored at another
 * parallelism), and within a key group the keys of one namespace are contiguous, so
 * each_in_namespace() costs one or two seeks per non-empty key group (the windows use case:
 * every key of the window that fires) instead of a scan of the whole state, which
 * [kg][key][ns] would need; point reads and writes do not care about the order.
 * The flipped sign bit makes byte order numeric order of namespaces. Map states put the length
 * of the key before it, so that (key, user key) splits unambiguously and the user keys of one
 * (key, namespace) are a contiguous range in user-key byte order.
 *
 * Values: with a TTL, every stored value starts with its 8-byte write time (little endian; the
 * backend's clock). Reads filter expired values and delete them on the spot (lazily), and a
 * compaction filter drops expired entries during compactions, so that keys never read again do
 * not stay forever. The filter runs on RocksDB's threads: it never calls the user's clock, it
 * compares with the latest time the backend's thread read from it (an atomic), which is never
 * ahead of the clock.
 * List states: one RocksDB value per (key, namespace) holding the elements back to back, each
 * [length: 4 bytes LE][write time: 8 bytes LE, TTL states only][bytes]; appends are RocksDB
 * merges with a concatenating merge operator, so an append is one blind write (no
 * read-modify-write: appending to a long list costs the same as to a short one).
 * Reducing states: add_many() reads the batch's distinct keys with ONE batched MultiGet,
 * combines in memory (duplicate keys within a call fold in order) and writes ONE WriteBatch;
 * the keys are sorted first (MultiGet wants them sorted, and memtable inserts in key order
 * start from the previous insert's position: see the insert hint below).
 *
 * Options: WAL off and no sync (checkpoints are the durability; a crashed instance is restored
 * from its last checkpoint); a process-wide 512 MiB LRU block cache shared by every backend of
 * the process (capacity, not a reservation); full bloom filters of 10 bits per key on whole
 * keys; hash index inside data blocks (faster point lookups); memtable bloom filters and
 * memtable insert hints per (key group, namespace); level compaction with dynamic level sizes;
 * no compression on L0/L1, LZ4 below; 8 MiB memtables, up to 3 per state (small memtables
 * keep the skip lists cache-friendly: their inserts and lookups dominate add_many), 512 MiB
 * memtable budget per instance; at most 512 open files per instance; info log at WARN level;
 * no flush on close (the working directory is deleted then).
 * Restore: one snapshot of the same key-group range is hard-linked in as the working copy
 * (other files copied); otherwise the entries of the new range are copied out of each snapshot
 * opened read-only, per column family.
 *
 * Pointers returned by reads point into RocksDB pinnable slices kept until the next call on
 * the backend. Iteration callbacks get pointers into the iterator, valid during the call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "runnel/hash.h"
#include "state_internal.h"

#define PFX 10                        /* key group + namespace */
#define NS_FLIP 0x8000000000000000ull
#define TS 8                          /* write-time prefix of TTL values */
#define CACHE_BYTES ((size_t)512 << 20)
#define EXACT_COUNT_BELOW 100000      /* entries(): count exactly below this estimate */
#define COPY_BATCH_BYTES ((size_t)4 << 20)

/* What the TTL compaction filter of one column family knows (owned by the filter). */
struct ttl_ctx {
    _Atomic int64_t ttl_ms;           /* 0 until a state with a TTL is declared on the family */
    _Atomic int kind;                 /* enum rn_state_kind of that state */
    const _Atomic int64_t *now;       /* the backend's latest clock reading */
};

/* One column family of the open DB. */
struct cf {
    char *name;
    rocksdb_column_family_handle_t *h;
    rocksdb_compactionfilter_t *filter;   /* owns ttl */
    struct ttl_ctx *ttl;
};

struct rdb_state {
    struct rn_state head;
    rocksdb_column_family_handle_t *h;
    bool map;
};

struct rdb_backend {
    struct rn_state_backend head;
    rocksdb_t *db;
    rocksdb_options_t *opts;          /* DB-wide options */
    rocksdb_readoptions_t *ro;
    rocksdb_writeoptions_t *wo;
    rocksdb_writebatch_t *wb;
    bool own_dir;                     /* cfg.dir is ours to delete */
    struct cf *cfs;
    size_t n_cfs, cap_cfs;
    struct rdb_state **states;
    size_t n_states, cap_states;
    _Atomic int64_t now;
    /* reads handed out, kept until the next call */
    rocksdb_pinnableslice_t **held;
    size_t n_held, cap_held;
    /* scratch */
    uint8_t *kbuf, *vbuf, *karena, *varena;
    size_t kbuf_cap, vbuf_cap, karena_cap, varena_cap;
    const char **kp;
    size_t *kl;
    rocksdb_pinnableslice_t **pins;
    char **errs;
    uint32_t *uidx, *tab, *perm;
    uint8_t *inited;
    const char **kp2;
    size_t *kl2;
    size_t kp_cap, kl_cap, pins_cap, errs_cap, uidx_cap, tab_cap, inited_cap, perm_cap, kp2_cap, kl2_cap;
    /* a snapshot begun (rn_state_snapshot_begin) and not yet written: its directory, bytes
     * written since the cut, when to look at the memtables next, and the result of a snapshot
     * a writer had to finish */
    bool cut;
    char *cut_dir;
    uint64_t cut_bytes, cut_check_at;
    bool cut_done;
    struct rn_error cut_err;
    int cut_rc;
};

#define B(s) ((struct rdb_backend *)(s)->backend)
#define S(s) ((struct rdb_state *)(s))

/* ---- bytes ---- */

static void put_be16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static uint32_t get_be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static uint32_t get_be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}
static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}
static void put_le64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 0; i < 8; i++, u >>= 8) p[i] = (uint8_t)u;
}
static int64_t get_le64(const void *q)
{
    const uint8_t *p = q;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
    return (int64_t)u;
}
static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++, v >>= 8) p[i] = (uint8_t)v;
}
static uint32_t get_le32(const void *q)
{
    const uint8_t *p = q;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Grows the array *p of elements of size `size` to hold at least `need`. */
static int grow_(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * size);
    if (!q) return RN_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}
#define GROW(p, cap, need) grow_((void **)&(p), &(cap), (need), sizeof *(p))

/* ---- keys and values ---- */

static size_t key_size(const struct rdb_state *s, uint32_t len) { return PFX + (s->map ? 4 : 0) + (size_t)len; }

static void put_prefix(uint8_t *o, uint32_t kg, int64_t ns)
{
    put_be16(o, kg);
    put_be64(o + 2, (uint64_t)ns ^ NS_FLIP);
}

static size_t encode_key(uint8_t *o, const struct rdb_state *s, const struct rn_state_key *k, int64_t ns)
{
    put_prefix(o, k->key_group, ns);
    size_t at = PFX;
    if (s->map) {
        put_be32(o + at, k->len);
        at += 4;
    }
    if (k->len) memcpy(o + at, k->data, k->len);
    return at + k->len;
}

/* The key into b->kbuf, with room for `extra` more bytes after it (a user key). */
static int key_in_kbuf(struct rdb_backend *b, const struct rdb_state *s, const struct rn_state_key *k, int64_t ns,
                       size_t extra, size_t *klen)
{
    if (GROW(b->kbuf, b->kbuf_cap, key_size(s, k->len) + extra)) return RN_ENOMEM;
    *klen = encode_key(b->kbuf, s, k, ns);
    return 0;
}

/* Splits a stored key into the entry's key group, namespace, key and user key. */
static int decode_key(const struct rdb_state *s, const char *key, size_t n, struct rn_state_entry *e)
{
    const uint8_t *p = (const uint8_t *)key;
    if (n < PFX) return RN_ECORRUPT;
    e->key_group = (uint16_t)get_be16(p);
    e->ns = (int64_t)(get_be64(p + 2) ^ NS_FLIP);
    if (s->map) {
        if (n < PFX + 4) return RN_ECORRUPT;
        uint32_t kl = get_be32(p + PFX);
        if (n - PFX - 4 < kl) return RN_ECORRUPT;
        e->key = p + PFX + 4;
        e->key_len = kl;
        e->mkey = p + PFX + 4 + kl;
        e->mkey_len = (uint32_t)(n - PFX - 4 - kl);
    } else {
        e->key = p + PFX;
        e->key_len = (uint32_t)(n - PFX);
        e->mkey = NULL;
        e->mkey_len = 0;
    }
    return 0;
}

/* The smallest key greater than every key starting with p[0..n): p with its last non-0xff byte
 * incremented and the rest cut; 0 when there is none (p all 0xff). */
static size_t prefix_end(uint8_t *p, size_t n)
{
    while (n && p[n - 1] == 0xff) n--;
    if (n) p[n - 1]++;
    return n;
}

static int64_t tick(struct rdb_backend *b)
{
    int64_t t = b->head.clock();
    atomic_store_explicit(&b->now, t, memory_order_relaxed);
    return t;
}

static bool expired(int64_t ttl, int64_t now, int64_t written)
{
    int64_t age;
    if (__builtin_sub_overflow(now, written, &age)) return now > written;
    return age >= ttl;
}

/* Strips the write time from a TTL state's value: 1 live (*v, *n updated), 0 expired, <0 bad. */
static int unwrap(const struct rdb_state *s, int64_t now, const char **v, size_t *n)
{
    if (!s->head.desc.ttl_ms) return 1;
    if (*n < TS) return RN_ECORRUPT;
    if (expired(s->head.desc.ttl_ms, now, get_le64(*v))) return 0;
    *v += TS;
    *n -= TS;
    return 1;
}

/* Walks the elements of a list value: calls step(elem, len, written, ctx) for each; <0 bad. */
static int list_walk(const struct rdb_state *s, const char *v, size_t n,
                     int (*step)(const char *e, uint32_t len, int64_t written, void *ctx), void *ctx)
{
    size_t hdr = 4 + (s->head.desc.ttl_ms ? TS : 0);
    while (n) {
        if (n < hdr) return RN_ECORRUPT;
        uint32_t len = get_le32(v);
        if (n - hdr < len) return RN_ECORRUPT;
        int64_t written = s->head.desc.ttl_ms ? get_le64(v + 4) : 0;
        int rc = step(v + hdr, len, written, ctx);
        if (rc) return rc;
        v += hdr + len;
        n -= hdr + len;
    }
    return 0;
}

/* ---- RocksDB callbacks ---- */

static char *concat(const char *first, size_t first_len, const char *const *ops, const size_t *lens, int n,
                    unsigned char *ok, size_t *out_len)
{
    size_t total = first_len;
    for (int i = 0; i < n; i++) total += lens[i];
    char *o = malloc(total ? total : 1);
    if (!o) {
        *ok = 0;
        return NULL;
    }
    if (first_len) memcpy(o, first, first_len);
    size_t at = first_len;
    for (int i = 0; i < n; i++) {
        if (lens[i]) memcpy(o + at, ops[i], lens[i]);
        at += lens[i];
    }
    *ok = 1;
    *out_len = total;
    return o;
}

/* List appends: elements are self-delimiting, so merging is concatenation. */
static char *list_full_merge(void *st, const char *key, size_t klen, const char *old, size_t old_len,
                             const char *const *ops, const size_t *lens, int n, unsigned char *ok, size_t *out_len)
{
    return concat(old, old ? old_len : 0, ops, lens, n, ok, out_len);
}
static char *list_partial_merge(void *st, const char *key, size_t klen, const char *const *ops, const size_t *lens,
                                int n, unsigned char *ok, size_t *out_len)
{
    return concat(NULL, 0, ops, lens, n, ok, out_len);
}
static void merge_free(void *st, const char *v, size_t n) { free((void *)v); }
static void nothing(void *st) {}
static const char *merge_name(void *st) { return "runnel.list_append"; }

struct all_expired {
    int64_t ttl, now;
};
static int elem_live(const char *e, uint32_t len, int64_t written, void *ctx)
{
    const struct all_expired *a = ctx;
    return expired(a->ttl, a->now, written) ? 0 : 1;
}

/* Drops entries of TTL states that expired (keeps anything it cannot read). */
static unsigned char ttl_filter(void *st, int level, const char *key, size_t klen, const char *v, size_t n,
                                char **nv, size_t *nvl, unsigned char *changed)
{
    struct ttl_ctx *c = st;
    int64_t ttl = atomic_load_explicit(&c->ttl_ms, memory_order_relaxed);
    if (ttl <= 0) return 0;
    int64_t now = atomic_load_explicit(c->now, memory_order_relaxed);
    if (atomic_load_explicit(&c->kind, memory_order_relaxed) != RN_STATE_LIST)
        return n >= TS && expired(ttl, now, get_le64(v));
    /* a list goes when every element expired */
    struct rdb_state tmp = {.head.desc.ttl_ms = ttl};
    struct all_expired a = {ttl, now};
    return list_walk(&tmp, v, n, elem_live, &a) == 0;
}
static void ttl_ctx_free(void *st) { free(st); }
static const char *ttl_name(void *st) { return "runnel.ttl"; }

static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static rocksdb_cache_t *cache;
static void cache_init(void) { cache = rocksdb_cache_create_lru(CACHE_BYTES); }

/* Options of the DB and of each column family (filter: the family's TTL filter, or NULL). */
#define WRITE_BUFFER_BYTES ((size_t)8 << 20)   /* each column family's memtable */
#define DB_WRITE_BUFFER_BYTES ((size_t)512 << 20)   /* all memtables of a DB */

static rocksdb_options_t *make_options(rocksdb_compactionfilter_t *filter)
{
    pthread_once(&cache_once, cache_init);
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(t, cache);
    rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
    rocksdb_block_based_options_set_data_block_index_type(t, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
    rocksdb_block_based_options_set_format_version(t, 5);
    rocksdb_options_set_block_based_table_factory(o, t);
    rocksdb_block_based_options_destroy(t);
    rocksdb_options_set_merge_operator(o, rocksdb_mergeoperator_create(NULL, nothing, list_full_merge, list_partial_merge,
                                                                       merge_free, merge_name));
    if (filter) rocksdb_options_set_compaction_filter(o, filter);
    rocksdb_options_set_write_buffer_size(o, WRITE_BUFFER_BYTES);
    rocksdb_options_set_max_write_buffer_number(o, 3);
    rocksdb_options_set_db_write_buffer_size(o, DB_WRITE_BUFFER_BYTES);
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(o, 0.05);
    rocksdb_options_set_memtable_whole_key_filtering(o, 1);
    rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    int levels[7] = {rocksdb_no_compression, rocksdb_no_compression, rocksdb_lz4_compression, rocksdb_lz4_compression,
                     rocksdb_lz4_compression, rocksdb_lz4_compression, rocksdb_lz4_compression};
    rocksdb_options_set_num_levels(o, 7);
    rocksdb_options_set_compression_per_level(o, levels, 7);
    rocksdb_options_set_max_open_files(o, 512);
    rocksdb_options_set_info_log_level(o, 2 /* WARN */);
    rocksdb_options_set_keep_log_file_num(o, 2);
    /* inserts remember their last position per (key group, namespace): add_many writes its keys
     * in key order, so each insert starts near the previous one instead of at the top of the
     * skip list (only settable through an options string in the C API; ignored if refused) */
    rocksdb_options_t *hinted = rocksdb_options_create();
    char *e = NULL;
    rocksdb_get_options_from_string(o, "memtable_insert_with_hint_prefix_extractor=rocksdb.FixedPrefix.10", hinted, &e);
    if (e) {
        free(e);
        rocksdb_options_destroy(hinted);
    } else {
        rocksdb_options_destroy(o);
        o = hinted;
    }
    return o;
}

/* ---- files ---- */

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)remove(p);
    return 0;
}
static void rm_rf(const char *dir) { nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static int mkdir_p(const char *dir)
{
    char *p = strdup(dir);
    if (!p) return -1;
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        if (mkdir(p, 0777) && errno != EEXIST) {
            free(p);
            return -1;
        }
        *q = '/';
    }
    int rc = mkdir(p, 0777) && errno != EEXIST ? -1 : 0;
    free(p);
    return rc;
}

/* The working directory: created when absent, refused when not empty. */
static int prepare_dir(const char *dir, struct rn_error *err)
{
    if (!dir || !*dir) return rn_error_set(err, RN_EINVAL, 0, 0, "the rocksdb state backend needs a directory");
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return rn_error_set(err, RN_EINVAL, 0, 0, "state directory %s is not a directory", dir);
        DIR *d = opendir(dir);
        if (!d) {
            int e = errno;
            rn_error_set(err, RN_EIO, 0, 0, "cannot open state directory %s: %s", dir, strerror(e));
            if (err) err->sys_errno = e;
            return RN_EIO;
        }
        bool empty = true;
        struct dirent *de;
        while (empty && (de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) empty = false;
        closedir(d);
        if (!empty)
            return rn_error_set(err, RN_EINVAL, 0, 0,
                                "state directory %s is not empty (it must be empty or absent: the backend's working "
                                "copy lives there and is deleted on close)",
                                dir);
        return 0;
    }
    if (errno != ENOENT || mkdir_p(dir)) {
        int e = errno;
        rn_error_set(err, RN_EIO, 0, 0, "cannot create state directory %s: %s", dir, strerror(e));
        if (err) err->sys_errno = e;
        return RN_EIO;
    }
    return 0;
}

static int copy_file(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY), out = -1, rc = -1;
    if (in < 0) return -1;
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (out < 0) goto close_in;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto close_out;
        if (n == 0) break;
        for (ssize_t at = 0; at < n;) {
            ssize_t w = write(out, buf + at, (size_t)(n - at));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) goto close_out;
            at += w;
        }
    }
    rc = 0;
close_out:
    if (close(out)) rc = -1;
close_in:
    close(in);
    return rc;
}

static bool is_sst(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && !strcmp(name + n - 4, ".sst");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names of the files in dir (sst_only: the SST files), sorted; NULL on failure. */
static char **list_dir(const char *dir, bool sst_only, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = malloc(sizeof *v);
    size_t cap = 1;
    struct dirent *de;
    while (v && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || (sst_only && !is_sst(de->d_name))) continue;
        if (*n == cap) {
            char **w = realloc(v, 2 * cap * sizeof *v);
            if (!w) goto fail;
            v = w;
            cap *= 2;
        }
        if (!(v[*n] = strdup(de->d_name))) goto fail;
        (*n)++;
    }
    closedir(d);
    if (v) qsort(v, *n, sizeof *v, cmp_str);
    return v;
fail:
    for (size_t i = 0; i < *n; i++) free(v[i]);
    free(v);
    closedir(d);
    *n = 0;
    return NULL;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* ---- the instance ---- */

#define CUT_CHECK_EVERY ((uint64_t)256 << 10)

static size_t wb_bytes(rocksdb_writebatch_t *wb)
{
    size_t n = 0;
    rocksdb_writebatch_data(wb, &n);
    return n;
}

static int cut_finish(struct rdb_backend *b, bool wait, struct rn_error *err);

/* Before every write while a snapshot is cut but not written: the writes after the cut stay
 * in the memtables that the cut started, so the snapshot can be written later without a flush
 * — as long as RocksDB does not flush those too. Before one of them grows to half its size
 * (where RocksDB would switch it), the snapshot is finished here, waiting for the cut's flush. */
static void cut_guard(struct rdb_backend *b, size_t bytes)
{
    if (!b->cut) return;
    b->cut_bytes += bytes;
    if (b->cut_bytes < b->cut_check_at) return;
    b->cut_check_at = b->cut_bytes + CUT_CHECK_EVERY;
    /* RocksDB also flushes the largest memtable when all of them pass the DB's write buffer
     * size: keep the post-cut ones well below that too */
    uint64_t total = 0;
    for (size_t i = 0; i < b->n_cfs; i++) {
        uint64_t active = 0, all = 0;
        if (rocksdb_property_int_cf(b->db, b->cfs[i].h, "rocksdb.cur-size-active-mem-table", &active)) continue;
        if (!rocksdb_property_int_cf(b->db, b->cfs[i].h, "rocksdb.cur-size-all-mem-tables", &all)) total += all;
        if (active + bytes >= WRITE_BUFFER_BYTES / 2 || total + bytes >= DB_WRITE_BUFFER_BYTES / 2) {
            b->cut_rc = cut_finish(b, true, &b->cut_err);
            b->cut_done = true;
            return;
        }
    }
}

static void release(struct rdb_backend *b)
{
    for (size_t i = 0; i < b->n_held; i++) rocksdb_pinnableslice_destroy(b->held[i]);
    b->n_held = 0;
}

static int hold(struct rdb_backend *b, rocksdb_pinnableslice_t *p)
{
    if (GROW(b->held, b->cap_held, b->n_held + 1)) {
        rocksdb_pinnableslice_destroy(p);
        return RN_ENOMEM;
    }
    b->held[b->n_held++] = p;
    return 0;
}

/* An error from RocksDB: its text freed, a code returned. */
static int rdb_code(char *e)
{
    int code = e && strstr(e, "Corruption") ? RN_ECORRUPT : RN_EIO;
    free(e);
    return code;
}

static void close_db(struct rdb_backend *b)
{
    release(b);
    for (size_t i = 0; i < b->n_cfs; i++)
        if (b->cfs[i].h) rocksdb_column_family_handle_destroy(b->cfs[i].h);
    if (b->db) rocksdb_close(b->db);
    b->db = NULL;
    for (size_t i = 0; i < b->n_cfs; i++) {
        /* destroying a filter frees its ttl_ctx; only after the DB (its threads) is gone */
        if (b->cfs[i].filter) rocksdb_compactionfilter_destroy(b->cfs[i].filter);
        free(b->cfs[i].name);
    }
    b->n_cfs = 0;
}

static void backend_free(struct rdb_backend *b)
{
    if (!b) return;
    close_db(b);
    if (b->own_dir && b->head.cfg.dir) rm_rf(b->head.cfg.dir);
    for (size_t i = 0; i < b->n_states; i++) {
        free((char *)b->states[i]->head.desc.name);
        free(b->states[i]);
    }
    free(b->states);
    free(b->cfs);
    free(b->held);
    if (b->opts) rocksdb_options_destroy(b->opts);
    if (b->ro) rocksdb_readoptions_destroy(b->ro);
    if (b->wo) rocksdb_writeoptions_destroy(b->wo);
    if (b->wb) rocksdb_writebatch_destroy(b->wb);
    free(b->cut_dir);
    free(b->kbuf);
    free(b->vbuf);
    free(b->karena);
    free(b->varena);
    free(b->kp);
    free(b->kl);
    free(b->pins);
    free(b->errs);
    free(b->uidx);
    free(b->tab);
    free(b->inited);
    free(b->perm);
    free(b->kp2);
    free(b->kl2);
    rn__state_free_head(&b->head);
    free(b);
}

static int backend_new(const struct rn_state_config *cfg, struct rdb_backend **out, struct rn_error *err)
{
    struct rdb_backend *b = calloc(1, sizeof *b);
    if (!b) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    int rc = rn__state_init_head(&b->head, &rn_rocksdb_backend_ops, cfg, err);
    if (rc) {
        free(b);
        return rc;
    }
    if ((rc = prepare_dir(cfg->dir, err))) {
        backend_free(b);
        return rc;
    }
    b->own_dir = true;
    b->opts = make_options(NULL);
    rocksdb_options_set_create_if_missing(b->opts, 1);
    rocksdb_options_set_create_missing_column_families(b->opts, 1);
    b->ro = rocksdb_readoptions_create();
    b->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(b->wo, 1);
    rocksdb_writeoptions_set_sync(b->wo, 0);
    b->wb = rocksdb_writebatch_create();
    *out = b;
    return 0;
}

/* A column-family slot with a fresh TTL filter (its handle comes when it is opened). */
static int new_cf(struct rdb_backend *b, const char *name)
{
    if (GROW(b->cfs, b->cap_cfs, b->n_cfs + 1)) return RN_ENOMEM;
    struct cf *c = &b->cfs[b->n_cfs];
    memset(c, 0, sizeof *c);
    c->ttl = calloc(1, sizeof *c->ttl);
    c->name = strdup(name);
    if (!c->ttl || !c->name) {
        free(c->ttl);
        free(c->name);
        return RN_ENOMEM;
    }
    c->ttl->now = &b->now;
    c->filter = rocksdb_compactionfilter_create(c->ttl, ttl_ctx_free, ttl_filter, ttl_name);
    b->n_cfs++;
    return 0;
}

static struct cf *find_cf(struct rdb_backend *b, const char *name)
{
    for (size_t i = 0; i < b->n_cfs; i++)
        if (!strcmp(b->cfs[i].name, name)) return &b->cfs[i];
    return NULL;
}

/* Opens the DB in cfg.dir with every column family it holds (a new DB: "default"; restored:
 * the DB must be there) plus the families `want` (created, all at once: RocksDB rewrites its
 * OPTIONS file for each family created later, which grows quadratic with many of them). */
static int open_db(struct rdb_backend *b, bool restored, const char *what, char *const *want, size_t n_want,
                   struct rn_error *err)
{
    const char *dir = b->head.cfg.dir;
    char *e = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(b->opts, dir, &n, &e);
    if (e) {
        /* a new DB has no column families to list yet (the list is allocated all the same) */
        if (names) rocksdb_list_column_families_destroy(names, n);
        names = NULL;
        n = 0;
        if (restored) {
            int rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "cannot open RocksDB %s in %s: %s", what, dir, e);
            free(e);
            return rc;
        }
        free(e);
        e = NULL;
    }
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) rc = new_cf(b, names[i]);
    if (!rc && !n) rc = new_cf(b, "default");
    for (size_t i = 0; !rc && i < n_want; i++)
        if (!find_cf(b, want[i])) rc = new_cf(b, want[i]);
    size_t count = b->n_cfs;
    rocksdb_options_t **opts = calloc(count, sizeof *opts);
    rocksdb_column_family_handle_t **hs = calloc(count, sizeof *hs);
    const char **cnames = calloc(count, sizeof *cnames);
    if (rc || !opts || !hs || !cnames) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto free_opts;
    }
    for (size_t i = 0; i < count; i++) {
        cnames[i] = b->cfs[i].name;
        opts[i] = make_options(b->cfs[i].filter);
    }
    b->db = rocksdb_open_column_families(b->opts, dir, (int)count, cnames, (const rocksdb_options_t *const *)opts, hs, &e);
    if (!b->db) {
        rc = rn_error_set(err, e && strstr(e, "Corruption") ? RN_ECORRUPT : RN_EIO, 0, 0, "cannot open RocksDB %s in %s: %s",
                          what, dir, e ? e : "unknown error");
        free(e);
        goto free_opts;
    }
    for (size_t i = 0; i < count; i++) b->cfs[i].h = hs[i];
    /* the working copy is deleted on close: flushing memtables then would be wasted work */
    const char *k[] = {"avoid_flush_during_shutdown"}, *v[] = {"true"};
    rocksdb_set_options(b->db, 1, k, v, &e);
    free(e);
free_opts:
    for (size_t i = 0; opts && i < count; i++)
        if (opts[i]) rocksdb_options_destroy(opts[i]);
    free(opts);
    free(hs);
    free(cnames);
    if (names) rocksdb_list_column_families_destroy(names, n);
    return rc;
}

static int rdb_open(const struct rn_state_config *cfg, rn_state_backend **out, struct rn_error *err)
{
    struct rdb_backend *b;
    int rc = backend_new(cfg, &b, err);
    if (rc) return rc;
    if ((rc = open_db(b, false, "state", NULL, 0, err))) {
        backend_free(b);
        return rc;
    }
    *out = &b->head;
    return 0;
}

static void rdb_close(rn_state_backend *bh) { backend_free((struct rdb_backend *)bh); }

static int rdb_declare(rn_state_backend *bh, const struct rn_state_desc *d, rn_state **out, struct rn_error *err)
{
    struct rdb_backend *b = (struct rdb_backend *)bh;
    struct rdb_state *prev = NULL;
    for (size_t i = 0; d->name && i < b->n_states; i++)
        if (!strcmp(b->states[i]->head.desc.name, d->name)) prev = b->states[i];
    int rc = rn__state_check_desc(d, prev ? &prev->head : NULL, err);
    if (rc) return rc;
    if (prev) {
        *out = &prev->head;
        return 0;
    }
    if (strchr(d->name, '\n'))
        return rn_error_set(err, RN_EINVAL, 0, 0, "state name '%s' has a newline (not allowed in a snapshot manifest)", d->name);
    if (GROW(b->states, b->cap_states, b->n_states + 1)) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    struct cf *c = find_cf(b, d->name);
    if (!c) {
        if (new_cf(b, d->name)) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        c = &b->cfs[b->n_cfs - 1];
        char *e = NULL;
        rocksdb_options_t *o = make_options(c->filter);
        c->h = rocksdb_create_column_family(b->db, o, d->name, &e);
        rocksdb_options_destroy(o);
        if (!c->h) {
            rc = rn_error_set(err, RN_EIO, 0, 0, "cannot create the column family of state '%s' in %s: %s", d->name,
                              b->head.cfg.dir, e ? e : "unknown error");
            free(e);
            b->n_cfs--;
            rocksdb_compactionfilter_destroy(c->filter);
            free(c->name);
            return rc;
        }
    }
    struct rdb_state *s = calloc(1, sizeof *s);
    char *name = strdup(d->name);
    if (!s || !name) {
        free(s);
        free(name);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    s->head.backend = bh;
    s->head.desc = *d;
    s->head.desc.name = name;
    s->head.id = (uint32_t)b->n_states;
    s->h = c->h;
    s->map = d->kind == RN_STATE_MAP;
    atomic_store(&c->ttl->kind, (int)d->kind);
    atomic_store(&c->ttl->ttl_ms, d->ttl_ms);
    b->states[b->n_states++] = s;
    *out = &s->head;
    return 0;
}

/* ---- value and reducing ---- */

static bool is_valueish(const rn_state *s) { return s->desc.kind == RN_STATE_VALUE || s->desc.kind == RN_STATE_REDUCING; }

/* Reads one stored value; *pin NULL when absent or expired (then deleted). */
static int read_one(struct rdb_backend *b, struct rdb_state *s, const char *key, size_t klen,
                    rocksdb_pinnableslice_t **pin, const char **v, size_t *n)
{
    char *e = NULL;
    *pin = rocksdb_get_pinned_cf(b->db, b->ro, s->h, key, klen, &e);
    if (e) return rdb_code(e);
    if (!*pin) return 0;
    *v = rocksdb_pinnableslice_value(*pin, n);
    if (!s->head.desc.ttl_ms) return 0;
    int live = unwrap(s, tick(b), v, n);
    if (live == 1) return 0;
    rocksdb_pinnableslice_destroy(*pin);
    *pin = NULL;
    if (live < 0) return live;
    cut_guard(b, klen);
    rocksdb_delete_cf(b->db, b->wo, s->h, key, klen, &e);   /* lazily dropped */
    return e ? rdb_code(e) : 0;
}

static int rdb_get(rn_state *sh, const struct rn_state_key *k, int64_t ns, const void **val, uint32_t *len)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    *val = NULL;
    *len = 0;
    if (!is_valueish(sh)) return RN_EINVAL;
    size_t klen;
    if (key_in_kbuf(b, s, k, ns, 0, &klen)) return RN_ENOMEM;
    rocksdb_pinnableslice_t *pin;
    const char *v;
    size_t n;
    int rc = read_one(b, s, (const char *)b->kbuf, klen, &pin, &v, &n);
    if (rc || !pin) return rc;
    if ((rc = hold(b, pin))) return rc;
    *val = v;
    *len = (uint32_t)n;
    return 0;
}

/* The value to store in b->vbuf: the write time (TTL states), then the bytes. */
static int wrap(struct rdb_backend *b, struct rdb_state *s, const void *val, uint32_t len, const char **v, size_t *n)
{
    if (!s->head.desc.ttl_ms) {
        *v = val;
        *n = len;
        return 0;
    }
    if (GROW(b->vbuf, b->vbuf_cap, (size_t)TS + len)) return RN_ENOMEM;
    put_le64(b->vbuf, tick(b));
    if (len) memcpy(b->vbuf + TS, val, len);
    *v = (const char *)b->vbuf;
    *n = TS + (size_t)len;
    return 0;
}

static int rdb_put(rn_state *sh, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    if (!is_valueish(sh)) return RN_EINVAL;
    size_t klen, n;
    const char *v;
    if (key_in_kbuf(b, s, k, ns, 0, &klen) || wrap(b, s, val, len, &v, &n)) return RN_ENOMEM;
    char *e = NULL;
    cut_guard(b, klen + n);
    rocksdb_put_cf(b->db, b->wo, s->h, (const char *)b->kbuf, klen, v, n, &e);
    return e ? rdb_code(e) : 0;
}

/* Deletes every key starting with p[0..n) (a map's entries). */
static int delete_prefix(struct rdb_backend *b, struct rdb_state *s, const uint8_t *p, size_t n)
{
    uint8_t *lo = malloc(2 * n + 1);
    if (!lo) return RN_ENOMEM;
    uint8_t *hi = lo + n;
    memcpy(lo, p, n);
    memcpy(hi, p, n);
    size_t hn = prefix_end(hi, n);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lo, n);
    if (hn) rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hi, hn);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(b->db, ro, s->h);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (rocksdb_iter_seek(it, (const char *)lo, n); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *key = rocksdb_iter_key(it, &kl);
        rocksdb_writebatch_delete_cf(wb, s->h, key, kl);
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    cut_guard(b, wb_bytes(wb));
    if (!e) rocksdb_write(b->db, b->wo, wb, &e);
    rocksdb_writebatch_destroy(wb);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    free(lo);
    return e ? rdb_code(e) : 0;
}

static int rdb_remove(rn_state *sh, const struct rn_state_key *k, int64_t ns)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    size_t klen;
    if (key_in_kbuf(b, s, k, ns, 0, &klen)) return RN_ENOMEM;
    if (s->map) return delete_prefix(b, s, b->kbuf, klen);
    char *e = NULL;
    cut_guard(b, klen);
    rocksdb_delete_cf(b->db, b->wo, s->h, (const char *)b->kbuf, klen, &e);
    return e ? rdb_code(e) : 0;
}

/* The n keys encoded back to back into b->karena; b->kp/b->kl point at them. */
static int encode_keys(struct rdb_backend *b, struct rdb_state *s, const struct rn_state_key *keys, const int64_t *ns,
                       uint32_t n)
{
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) total += key_size(s, keys[i].len);
    if (GROW(b->karena, b->karena_cap, total) || GROW(b->kp, b->kp_cap, n) || GROW(b->kl, b->kl_cap, n) ||
        GROW(b->pins, b->pins_cap, n) || GROW(b->errs, b->errs_cap, n))
        return RN_ENOMEM;
    uint8_t *o = b->karena;
    for (uint32_t i = 0; i < n; i++) {
        b->kl[i] = encode_key(o, s, &keys[i], ns[i]);
        b->kp[i] = (const char *)o;
        o += b->kl[i];
    }
    return 0;
}

/* One batched MultiGet of the first n keys of b->kp/b->kl (sorted: in key order) into b->pins;
 * errors freed. */
static int multi_get(struct rdb_backend *b, struct rdb_state *s, uint32_t n, bool sorted)
{
    rocksdb_batched_multi_get_cf(b->db, b->ro, s->h, n, b->kp, b->kl, b->pins, b->errs, sorted);
    int rc = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!b->errs[i]) continue;
        if (!rc) rc = strstr(b->errs[i], "Corruption") ? RN_ECORRUPT : RN_EIO;
        free(b->errs[i]);
    }
    if (rc)
        for (uint32_t i = 0; i < n; i++)
            if (b->pins[i]) rocksdb_pinnableslice_destroy(b->pins[i]);
    return rc;
}

static int rdb_get_many(rn_state *sh, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void **vals,
                        uint32_t *lens)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    for (uint32_t i = 0; i < n; i++) {
        vals[i] = NULL;
        lens[i] = 0;
    }
    if (!is_valueish(sh)) return RN_EINVAL;
    if (!n) return 0;
    if (encode_keys(b, s, keys, ns, n) || GROW(b->held, b->cap_held, n)) return RN_ENOMEM;
    int rc = multi_get(b, s, n, false);
    if (rc) return rc;
    int64_t now = s->head.desc.ttl_ms ? tick(b) : 0;
    rocksdb_writebatch_clear(b->wb);
    for (uint32_t i = 0; i < n; i++) {
        if (!b->pins[i]) continue;
        size_t len;
        const char *v = rocksdb_pinnableslice_value(b->pins[i], &len);
        int live = unwrap(s, now, &v, &len);
        if (live != 1) {
            if (live < 0 && !rc) rc = live;
            if (!live) rocksdb_writebatch_delete_cf(b->wb, s->h, b->kp[i], b->kl[i]);
            rocksdb_pinnableslice_destroy(b->pins[i]);
            continue;
        }
        b->held[b->n_held++] = b->pins[i];
        vals[i] = v;
        lens[i] = (uint32_t)len;
    }
    if (rocksdb_writebatch_count(b->wb)) {
        char *e = NULL;
        cut_guard(b, wb_bytes(b->wb));
        rocksdb_write(b->db, b->wo, b->wb, &e);
        rocksdb_writebatch_clear(b->wb);
        if (e && !rc) rc = rdb_code(e);
        else free(e);
    }
    return rc;
}

static int cmp_key(const void *x, const void *y, void *arg)
{
    const struct rdb_backend *b = arg;
    uint32_t i = *(const uint32_t *)x, j = *(const uint32_t *)y;
    size_t li = b->kl[i], lj = b->kl[j];
    int c = memcmp(b->kp[i], b->kp[j], li < lj ? li : lj);
    return c ? c : (li > lj) - (li < lj);
}

/* Puts the first nu keys of b->kp/b->kl in key order and renumbers b->uidx[0..n) to match:
 * MultiGet then need not sort them, and memtable inserts in key order reuse the skip list's
 * last insert position instead of searching from the top each time. */
static int sort_keys(struct rdb_backend *b, uint32_t nu, uint32_t n)
{
    if (nu < 2) return 0;
    if (GROW(b->perm, b->perm_cap, 2 * (size_t)nu) || GROW(b->kp2, b->kp2_cap, nu) || GROW(b->kl2, b->kl2_cap, nu))
        return RN_ENOMEM;
    uint32_t *perm = b->perm, *rank = b->perm + nu;
    for (uint32_t u = 0; u < nu; u++) perm[u] = u;
    qsort_r(perm, nu, sizeof *perm, cmp_key, b);
    for (uint32_t j = 0; j < nu; j++) {
        b->kp2[j] = b->kp[perm[j]];
        b->kl2[j] = b->kl[perm[j]];
        rank[perm[j]] = j;
    }
    memcpy(b->kp, b->kp2, nu * sizeof *b->kp);
    memcpy(b->kl, b->kl2, nu * sizeof *b->kl);
    for (uint32_t i = 0; i < n; i++) b->uidx[i] = rank[b->uidx[i]];
    return 0;
}

/* Folds n values into their keys' stored values: distinct keys found with a hash table (a
 * key repeated within the call folds in call order), one MultiGet, one WriteBatch. */
static int add_n(struct rdb_backend *b, struct rdb_state *s, const struct rn_state_key *keys, const int64_t *ns,
                 uint32_t n, const void *vals)
{
    if (!n) return 0;
    const uint32_t vs = s->head.desc.value_size;
    const size_t hdr = s->head.desc.ttl_ms ? TS : 0, rec = hdr + vs;
    const char *in = vals;
    int rc = encode_keys(b, s, keys, ns, n);
    if (rc || GROW(b->uidx, b->uidx_cap, n) || GROW(b->inited, b->inited_cap, n) || GROW(b->varena, b->varena_cap, n * rec))
        return RN_ENOMEM;
    /* distinct keys: kp/kl compacted in place to the first occurrence of each */
    uint32_t nu = 0;
    if (n == 1) {
        b->uidx[0] = 0;
        nu = 1;
    } else {
        size_t tn = 16;
        while (tn < 2 * (size_t)n) tn *= 2;
        if (GROW(b->tab, b->tab_cap, tn)) return RN_ENOMEM;
        memset(b->tab, 0, tn * sizeof *b->tab);
        for (uint32_t i = 0; i < n; i++) {
            const char *p = b->kp[i];
            size_t l = b->kl[i];
            size_t h = (size_t)rn_hash_bytes(p, l) & (tn - 1);
            uint32_t u;
            for (;;) {
                uint32_t t = b->tab[h];
                if (!t) {
                    u = nu++;
                    b->tab[h] = u + 1;
                    b->kp[u] = p;
                    b->kl[u] = l;
                    break;
                }
                if (b->kl[t - 1] == l && !memcmp(b->kp[t - 1], p, l)) {
                    u = t - 1;
                    break;
                }
                h = (h + 1) & (tn - 1);
            }
            b->uidx[i] = u;
        }
    }
    if ((rc = sort_keys(b, nu, n))) return rc;
    if ((rc = multi_get(b, s, nu, true))) return rc;
    int64_t now = hdr ? tick(b) : 0;
    memset(b->inited, 0, nu);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t u = b->uidx[i];
        uint8_t *r = b->varena + (size_t)u * rec;
        const char *x = in + (size_t)i * vs;
        if (b->inited[u]) {
            s->head.desc.combine(r + hdr, x, s->head.desc.combine_user);
            continue;
        }
        b->inited[u] = 1;
        if (hdr) put_le64(r, now);
        const char *old = NULL;
        size_t ol = 0;
        if (b->pins[u]) {
            old = rocksdb_pinnableslice_value(b->pins[u], &ol);
            int live = unwrap(s, now, &old, &ol);
            if (live < 0 || (live == 1 && ol != vs)) {
                rc = RN_ECORRUPT;
                break;
            }
            if (!live) old = NULL;
        }
        if (old) {
            memcpy(r + hdr, old, vs);
            s->head.desc.combine(r + hdr, x, s->head.desc.combine_user);
        } else {
            memcpy(r + hdr, x, vs);
        }
    }
    for (uint32_t u = 0; u < nu; u++)
        if (b->pins[u]) rocksdb_pinnableslice_destroy(b->pins[u]);
    if (rc) return rc;
    rocksdb_writebatch_clear(b->wb);
    for (uint32_t u = 0; u < nu; u++)
        rocksdb_writebatch_put_cf(b->wb, s->h, b->kp[u], b->kl[u], (const char *)b->varena + (size_t)u * rec, rec);
    char *e = NULL;
    cut_guard(b, wb_bytes(b->wb));
    rocksdb_write(b->db, b->wo, b->wb, &e);
    rocksdb_writebatch_clear(b->wb);
    return e ? rdb_code(e) : 0;
}

static int rdb_add(rn_state *sh, const struct rn_state_key *k, int64_t ns, const void *val)
{
    release(B(sh));
    return add_n(B(sh), S(sh), k, &ns, 1, val);
}

static int rdb_add_many(rn_state *sh, const struct rn_state_key *keys, const int64_t *ns, uint32_t n, const void *vals)
{
    release(B(sh));
    return add_n(B(sh), S(sh), keys, ns, n, vals);
}

/* ---- list ---- */

static int rdb_list_append(rn_state *sh, const struct rn_state_key *k, int64_t ns, const void *val, uint32_t len)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    size_t klen, hdr = 4 + (s->head.desc.ttl_ms ? TS : 0);
    if (key_in_kbuf(b, s, k, ns, 0, &klen) || GROW(b->vbuf, b->vbuf_cap, hdr + len)) return RN_ENOMEM;
    put_le32(b->vbuf, len);
    if (s->head.desc.ttl_ms) put_le64(b->vbuf + 4, tick(b));
    if (len) memcpy(b->vbuf + hdr, val, len);
    char *e = NULL;
    cut_guard(b, klen + hdr + len);
    rocksdb_merge_cf(b->db, b->wo, s->h, (const char *)b->kbuf, klen, (const char *)b->vbuf, hdr + len, &e);
    return e ? rdb_code(e) : 0;
}

struct list_pass {
    int64_t ttl, now;
    size_t live, dead;
    uint8_t *out;                     /* NULL: count only */
    int (*fn)(const void *val, uint32_t len, void *user);
    void *user;
};

static int list_count(const char *e, uint32_t len, int64_t written, void *ctx)
{
    struct list_pass *p = ctx;
    bool dead = p->ttl && expired(p->ttl, p->now, written);
    if (dead) {
        p->dead++;
    } else if (p->out) {
        /* keep the element as stored: the header sits right before its bytes */
        size_t hdr = 4 + TS;
        memcpy(p->out, e - hdr, hdr + len);
        p->out += hdr + len;
    } else {
        p->live++;
    }
    return 0;
}

static int list_call(const char *e, uint32_t len, int64_t written, void *ctx)
{
    struct list_pass *p = ctx;
    if (p->ttl && expired(p->ttl, p->now, written)) return 0;
    return p->fn(e, len, p->user);
}

static int rdb_list_each(rn_state *sh, const struct rn_state_key *k, int64_t ns,
                         int (*fn)(const void *val, uint32_t len, void *user), void *user)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    size_t klen;
    if (key_in_kbuf(b, s, k, ns, 0, &klen)) return RN_ENOMEM;
    char *e = NULL;
    rocksdb_pinnableslice_t *pin = rocksdb_get_pinned_cf(b->db, b->ro, s->h, (const char *)b->kbuf, klen, &e);
    if (e) return rdb_code(e);
    if (!pin) return 0;
    size_t n;
    const char *v = rocksdb_pinnableslice_value(pin, &n);
    struct list_pass p = {.ttl = s->head.desc.ttl_ms, .fn = fn, .user = user};
    int rc = 0;
    if (p.ttl) {
        /* drop expired elements before calling back (fn may append to this very list) */
        p.now = tick(b);
        rc = list_walk(s, v, n, list_count, &p);
        if (!rc && p.dead) {
            if (!p.live) {
                cut_guard(b, klen);
                rocksdb_delete_cf(b->db, b->wo, s->h, (const char *)b->kbuf, klen, &e);
            } else if (!(rc = GROW(b->vbuf, b->vbuf_cap, n))) {
                p.out = b->vbuf;
                list_walk(s, v, n, list_count, &p);
                cut_guard(b, klen + n);
                rocksdb_put_cf(b->db, b->wo, s->h, (const char *)b->kbuf, klen, (const char *)b->vbuf,
                               (size_t)(p.out - b->vbuf), &e);
            }
            if (e) rc = rdb_code(e);
        }
    }
    if (!rc) rc = list_walk(s, v, n, list_call, &p);
    rocksdb_pinnableslice_destroy(pin);
    return rc;
}

/* ---- map ---- */

/* The key of a map entry into b->kbuf. */
static int map_key(struct rdb_backend *b, struct rdb_state *s, const struct rn_state_key *k, int64_t ns,
                   const void *mkey, uint32_t mlen, size_t *klen)
{
    size_t n;
    if (key_in_kbuf(b, s, k, ns, mlen, &n)) return RN_ENOMEM;
    if (mlen) memcpy(b->kbuf + n, mkey, mlen);
    *klen = n + mlen;
    return 0;
}

static int rdb_map_put(rn_state *sh, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                       const void *val, uint32_t len)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    size_t klen, n;
    const char *v;
    if (map_key(b, s, k, ns, mkey, mlen, &klen) || wrap(b, s, val, len, &v, &n)) return RN_ENOMEM;
    char *e = NULL;
    cut_guard(b, klen + n);
    rocksdb_put_cf(b->db, b->wo, s->h, (const char *)b->kbuf, klen, v, n, &e);
    return e ? rdb_code(e) : 0;
}

static int rdb_map_get(rn_state *sh, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen,
                       const void **val, uint32_t *len)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    *val = NULL;
    *len = 0;
    size_t klen, n;
    if (map_key(b, s, k, ns, mkey, mlen, &klen)) return RN_ENOMEM;
    rocksdb_pinnableslice_t *pin;
    const char *v;
    int rc = read_one(b, s, (const char *)b->kbuf, klen, &pin, &v, &n);
    if (rc || !pin) return rc;
    if ((rc = hold(b, pin))) return rc;
    *val = v;
    *len = (uint32_t)n;
    return 0;
}

static int rdb_map_remove(rn_state *sh, const struct rn_state_key *k, int64_t ns, const void *mkey, uint32_t mlen)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    size_t klen;
    if (map_key(b, s, k, ns, mkey, mlen, &klen)) return RN_ENOMEM;
    char *e = NULL;
    cut_guard(b, klen);
    rocksdb_delete_cf(b->db, b->wo, s->h, (const char *)b->kbuf, klen, &e);
    return e ? rdb_code(e) : 0;
}

/* ---- iteration ---- */

/* An iterator over [lo, hi) of s's family (hi_len 0: no upper bound); the bounds must outlive
 * it. */
static rocksdb_iterator_t *iter_new(struct rdb_backend *b, struct rdb_state *s, const uint8_t *lo, size_t lo_len,
                                    const uint8_t *hi, size_t hi_len, rocksdb_readoptions_t **ro)
{
    *ro = rocksdb_readoptions_create();
    if (lo_len) rocksdb_readoptions_set_iterate_lower_bound(*ro, (const char *)lo, lo_len);
    if (hi_len) rocksdb_readoptions_set_iterate_upper_bound(*ro, (const char *)hi, hi_len);
    return rocksdb_create_iterator_cf(b->db, *ro, s->h);
}

static int iter_end(rocksdb_iterator_t *it, rocksdb_readoptions_t *ro, int rc)
{
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e && !rc) rc = rdb_code(e);
    else free(e);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

struct each_ctx {
    struct rn_state_entry *e;
    int (*fn)(const struct rn_state_entry *e, void *user);
    void *user;
    int64_t ttl, now;
};

static int each_elem(const char *v, uint32_t len, int64_t written, void *ctx)
{
    struct each_ctx *c = ctx;
    if (c->ttl && expired(c->ttl, c->now, written)) return 0;
    c->e->val = v;
    c->e->len = len;
    return c->fn(c->e, c->user);
}

/* Calls fn for the live entry (or list elements) at the iterator; drops an expired one. */
static int visit(struct rdb_backend *b, struct rdb_state *s, rocksdb_iterator_t *it, int64_t now,
                 int (*fn)(const struct rn_state_entry *e, void *user), void *user)
{
    size_t kl, vl;
    const char *key = rocksdb_iter_key(it, &kl);
    const char *v = rocksdb_iter_value(it, &vl);
    struct rn_state_entry e;
    int rc = decode_key(s, key, kl, &e);
    if (rc) return rc;
    if (s->head.desc.kind == RN_STATE_LIST) {
        struct each_ctx c = {&e, fn, user, s->head.desc.ttl_ms, now};
        return list_walk(s, v, vl, each_elem, &c);
    }
    int live = unwrap(s, now, &v, &vl);
    if (live < 0) return live;
    if (!live) {
        char *err = NULL;
        cut_guard(b, kl);
        rocksdb_delete_cf(b->db, b->wo, s->h, key, kl, &err);   /* the iterator reads a snapshot */
        return err ? rdb_code(err) : 0;
    }
    e.val = v;
    e.len = (uint32_t)vl;
    return fn(&e, user);
}

static int rdb_each(rn_state *sh, uint32_t kg_first, uint32_t kg_last, int (*fn)(const struct rn_state_entry *e, void *user),
                    void *user)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    if (kg_last > 0xfffe) kg_last = 0xfffe;
    if (kg_first > kg_last) return 0;
    uint8_t lo[2], hi[2];
    put_be16(lo, kg_first);
    put_be16(hi, kg_last + 1);
    int64_t now = s->head.desc.ttl_ms ? tick(b) : 0;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = iter_new(b, s, lo, 2, hi, 2, &ro);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)lo, 2); !rc && rocksdb_iter_valid(it); rocksdb_iter_next(it))
        rc = visit(b, s, it, now, fn, user);
    return iter_end(it, ro, rc);
}

static int rdb_each_in_namespace(rn_state *sh, int64_t ns, int (*fn)(const struct rn_state_entry *e, void *user),
                                 void *user)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    int64_t now = s->head.desc.ttl_ms ? tick(b) : 0;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = iter_new(b, s, NULL, 0, NULL, 0, &ro);
    uint8_t at[PFX];
    put_prefix(at, 0, ns);
    int rc = 0;
    /* one seek to (key group, ns) per non-empty key group: past the namespace, on to the next
     * key group; before it (a new key group), to the namespace in that key group */
    rocksdb_iter_seek(it, (const char *)at, PFX);
    while (!rc && rocksdb_iter_valid(it)) {
        size_t kl;
        const uint8_t *key = (const uint8_t *)rocksdb_iter_key(it, &kl);
        if (kl < PFX) {
            rc = RN_ECORRUPT;
            break;
        }
        if (!memcmp(key + 2, at + 2, 8)) {
            rc = visit(b, s, it, now, fn, user);
            rocksdb_iter_next(it);
            continue;
        }
        uint32_t kg = get_be16(key) + (memcmp(key + 2, at + 2, 8) > 0);
        if (kg > 0xffff) break;
        put_be16(at, kg);
        rocksdb_iter_seek(it, (const char *)at, PFX);
    }
    return iter_end(it, ro, rc);
}

static int rdb_map_each(rn_state *sh, const struct rn_state_key *k, int64_t ns,
                        int (*fn)(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user), void *user)
{
    struct rdb_backend *b = B(sh);
    struct rdb_state *s = S(sh);
    release(b);
    size_t n = key_size(s, k->len);
    uint8_t *lo = malloc(2 * n);
    if (!lo) return RN_ENOMEM;
    uint8_t *hi = lo + n;
    encode_key(lo, s, k, ns);
    memcpy(hi, lo, n);
    size_t hn = prefix_end(hi, n);
    int64_t now = s->head.desc.ttl_ms ? tick(b) : 0;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it = iter_new(b, s, lo, n, hi, hn, &ro);
    int rc = 0;
    for (rocksdb_iter_seek(it, (const char *)lo, n); !rc && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *key = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if (kl < n) {
            rc = RN_ECORRUPT;
            break;
        }
        int live = unwrap(s, now, &v, &vl);
        if (live < 0) {
            rc = live;
        } else if (!live) {
            char *e = NULL;
            cut_guard(b, kl);
            rocksdb_delete_cf(b->db, b->wo, s->h, key, kl, &e);
            if (e) rc = rdb_code(e);
        } else {
            rc = fn(key + n, (uint32_t)(kl - n), v, (uint32_t)vl, user);
        }
    }
    rc = iter_end(it, ro, rc);
    free(lo);
    return rc;
}

/* ---- snapshots ---- */

struct strbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_add(struct strbuf *sb, const char *a, const char *c)
{
    size_t need = sb->n + strlen(a) + strlen(c) + 2;
    if (sb->oom || GROW(sb->p, sb->cap, need)) {
        sb->oom = true;
        return;
    }
    sb->n += (size_t)sprintf(sb->p + sb->n, "%s%s\n", a, c);
}

/* A RocksDB checkpoint of the DB into dir/db plus the manifest. flush: memtables are flushed
 * first (the snapshot holds every write); else only what the SST files hold (a cut). */
static int write_snapshot(struct rdb_backend *b, const char *dir, bool flush, struct rn_error *err)
{
    struct stat st;
    if (!dir || !*dir) return rn_error_set(err, RN_EINVAL, 0, 0, "a snapshot needs a directory");
    if (!stat(dir, &st)) return rn_error_set(err, RN_EINVAL, 0, 0, "snapshot directory %s already exists", dir);
    if (mkdir_p(dir)) {
        int e = errno;
        rn_error_set(err, RN_EIO, 0, 0, "cannot create snapshot directory %s: %s", dir, strerror(e));
        if (err) err->sys_errno = e;
        return RN_EIO;
    }
    int rc = 0;
    char *e = NULL, *db = NULL;
    char **ssts = NULL;
    size_t n_ssts = 0;
    struct strbuf sb = {0};
    if (asprintf(&db, "%s/db", dir) < 0) {
        db = NULL;
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto remove_dir;
    }
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(b->db, &e);
    if (cp) {
        /* log_size_for_flush 0: memtables are flushed first; UINT64_MAX: never (there is no
         * WAL, so the checkpoint holds exactly the SST files) */
        rocksdb_checkpoint_create(cp, db, flush ? 0 : UINT64_MAX, &e);
        rocksdb_checkpoint_object_destroy(cp);
    }
    if (e) {
        rc = rn_error_set(err, RN_EIO, 0, 0, "cannot write a RocksDB checkpoint of %s into %s: %s", b->head.cfg.dir, db, e);
        free(e);
        goto remove_dir;
    }
    if (!(ssts = list_dir(db, true, &n_ssts))) {
        rc = rn_error_set(err, RN_EIO, 0, 0, "cannot list the checkpoint %s: %s", db, strerror(errno));
        goto remove_dir;
    }
    /* the states (column families; "default" only when a state has that name) */
    bool dflt = false;
    for (size_t i = 0; i < b->n_states; i++) dflt |= !strcmp(b->states[i]->head.desc.name, "default");
    for (size_t i = 0; i < b->n_cfs; i++)
        if (dflt || strcmp(b->cfs[i].name, "default")) sb_add(&sb, "cf ", b->cfs[i].name);
    for (size_t i = 0; i < n_ssts; i++) sb_add(&sb, "sst db/", ssts[i]);
    if (sb.oom) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto remove_dir;
    }
    rc = rn__state_write_manifest(dir, "rocksdb", &b->head.cfg, sb.p ? sb.p : "", err);
remove_dir:
    if (rc) rm_rf(dir);
    free_names(ssts, n_ssts);
    free(sb.p);
    free(db);
    return rc;
}

static int rdb_snapshot(rn_state_backend *bh, const char *dir, struct rn_error *err)
{
    struct rdb_backend *b = (struct rdb_backend *)bh;
    if (b->cut && cut_finish(b, true, err)) return err ? err->code : RN_EIO;
    release(b);
    return write_snapshot(b, dir, true, err);
}

/* The cut's memtables are in SST files once no column family has an immutable memtable left
 * (the writes since the cut are all in the active ones: cut_guard sees to it). */
static bool cut_durable(struct rdb_backend *b)
{
    for (size_t i = 0; i < b->n_cfs; i++) {
        uint64_t imm = 0;
        if (!rocksdb_property_int_cf(b->db, b->cfs[i].h, "rocksdb.num-immutable-mem-table", &imm) && imm) return false;
    }
    return true;
}

static int cut_finish(struct rdb_backend *b, bool wait, struct rn_error *err)
{
    while (!cut_durable(b)) {
        if (!wait) return 1;
        usleep(200);
    }
    int rc = write_snapshot(b, b->cut_dir, false, err);
    b->cut = false;
    free(b->cut_dir);
    b->cut_dir = NULL;
    return rc;
}

/* Cuts the state: every memtable becomes immutable and is flushed in the background; the
 * snapshot (rdb_snapshot_poll) will hold exactly the writes before this call. */
static int rdb_snapshot_begin(rn_state_backend *bh, const char *dir, struct rn_error *err)
{
    struct rdb_backend *b = (struct rdb_backend *)bh;
    if (b->cut || b->cut_done)
        return rn_error_set(err, RN_EINVAL, 0, 0, "a snapshot of %s is still being written", b->head.cfg.dir);
    struct stat st;
    if (!dir || !*dir) return rn_error_set(err, RN_EINVAL, 0, 0, "a snapshot needs a directory");
    if (!stat(dir, &st)) return rn_error_set(err, RN_EINVAL, 0, 0, "snapshot directory %s already exists", dir);
    if (!(b->cut_dir = strdup(dir))) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 0);
    char *e = NULL;
    for (size_t i = 0; i < b->n_cfs && !e; i++) rocksdb_flush_cf(b->db, fo, b->cfs[i].h, &e);
    rocksdb_flushoptions_destroy(fo);
    if (e) {
        int rc = rn_error_set(err, RN_EIO, 0, 0, "cannot flush %s for a snapshot: %s", b->head.cfg.dir, e);
        free(e);
        free(b->cut_dir);
        b->cut_dir = NULL;
        return rc;
    }
    b->cut = true;
    b->cut_bytes = 0;
    b->cut_check_at = CUT_CHECK_EVERY;
    return 0;
}

static int rdb_snapshot_poll(rn_state_backend *bh, bool wait, struct rn_error *err)
{
    struct rdb_backend *b = (struct rdb_backend *)bh;
    if (b->cut_done) {   /* a writer finished it */
        b->cut_done = false;
        if (b->cut_rc && err) *err = b->cut_err;
        return b->cut_rc;
    }
    if (!b->cut) return 0;
    return cut_finish(b, wait, err);
}

/* What a snapshot's manifest says. */
struct snap {
    const char *dir;
    char *db;                         /* dir/db */
    uint32_t kg_first, kg_last;
    char **cfs;
    size_t n_cfs;
};

static void snap_free(struct snap *sn)
{
    free(sn->db);
    free_names(sn->cfs, sn->n_cfs);
}

/* Reads a snapshot's manifest and checks that its files are there. */
static int snap_read(const struct rn_state_config *cfg, const char *dir, struct snap *sn, struct rn_error *err)
{
    memset(sn, 0, sizeof *sn);
    sn->dir = dir;
    char *extra = NULL;
    int rc = rn__state_read_manifest(dir, "rocksdb", cfg->max_parallelism, &sn->kg_first, &sn->kg_last, &extra, err);
    if (rc) return rc;
    if (asprintf(&sn->db, "%s/db", dir) < 0) {
        sn->db = NULL;
        free(extra);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    struct stat st;
    if (stat(sn->db, &st) || !S_ISDIR(st.st_mode))
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s has no RocksDB checkpoint (%s is missing)", dir, sn->db);
    for (char *line = extra, *next; !rc && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        if (!strncmp(line, "sst ", 4)) {
            char *path;
            if (strstr(line + 4, "..") || asprintf(&path, "%s/%s", dir, line + 4) < 0) {
                rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s: bad SST line '%s'", dir, line);
                break;
            }
            if (stat(path, &st) || !S_ISREG(st.st_mode))
                rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s is incomplete: SST file %s is missing", dir, path);
            free(path);
        } else if (!strncmp(line, "cf ", 3)) {
            char **v = realloc(sn->cfs, (sn->n_cfs + 1) * sizeof *v);
            if (!v || !(v[sn->n_cfs] = strdup(line + 3))) {
                if (v) sn->cfs = v;
                rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
                break;
            }
            sn->cfs = v;
            sn->n_cfs++;
        } else if (*line) {
            rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s: unknown manifest line '%s'", dir, line);
        }
    }
    free(extra);
    if (rc) snap_free(sn);
    return rc;
}

/* Every state the manifest names must be a column family of the opened DB. */
static int check_cfs(const struct snap *sn, char **names, size_t n, struct rn_error *err)
{
    for (size_t i = 0; i < sn->n_cfs; i++) {
        bool found = false;
        for (size_t j = 0; !found && j < n; j++) found = !strcmp(sn->cfs[i], names[j]);
        if (!found)
            return rn_error_set(err, RN_ECORRUPT, 0, 0, "state snapshot %s: state '%s' is missing from its checkpoint %s",
                                sn->dir, sn->cfs[i], sn->db);
    }
    return 0;
}

/* The same key groups: the checkpoint becomes the working copy (SST files hard-linked). */
static int restore_whole(struct rdb_backend *b, const struct snap *sn, struct rn_error *err)
{
    size_t n;
    char **files = list_dir(sn->db, false, &n);
    if (!files) return rn_error_set(err, RN_EIO, 0, 0, "cannot list the checkpoint %s: %s", sn->db, strerror(errno));
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        char *src = NULL, *dst = NULL;
        if (asprintf(&src, "%s/%s", sn->db, files[i]) < 0) src = NULL;
        if (asprintf(&dst, "%s/%s", b->head.cfg.dir, files[i]) < 0) dst = NULL;
        if (!src || !dst) {
            rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        } else if ((!is_sst(files[i]) || link(src, dst)) && copy_file(src, dst)) {
            int e = errno;
            rc = rn_error_set(err, RN_EIO, 0, 0, "cannot copy %s to %s: %s", src, dst, strerror(e));
            if (err) err->sys_errno = e;
        }
        free(src);
        free(dst);
    }
    free_names(files, n);
    if (rc) return rc;
    char what[64 + 4096];
    snprintf(what, sizeof what, "restored from %s", sn->dir);
    if ((rc = open_db(b, true, what, NULL, 0, err))) return rc;
    char **names = malloc((b->n_cfs + 1) * sizeof *names);
    if (!names) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    for (size_t i = 0; i < b->n_cfs; i++) names[i] = b->cfs[i].name;
    rc = check_cfs(sn, names, b->n_cfs, err);
    free(names);
    return rc;
}

/* Copies the entries of one column family of a snapshot whose key group is in [lo, hi]. */
static int copy_cf(struct rdb_backend *b, const struct snap *sn, rocksdb_t *src, rocksdb_column_family_handle_t *sh,
                   const char *name, uint32_t lo, uint32_t hi, struct rn_error *err)
{
    struct cf *c = find_cf(b, name);
    if (!c) {
        if (new_cf(b, name)) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        c = &b->cfs[b->n_cfs - 1];
        char *e = NULL;
        rocksdb_options_t *o = make_options(c->filter);
        c->h = rocksdb_create_column_family(b->db, o, name, &e);
        rocksdb_options_destroy(o);
        if (!c->h) {
            int rc = rn_error_set(err, RN_EIO, 0, 0, "cannot create column family '%s' in %s: %s", name, b->head.cfg.dir,
                                  e ? e : "unknown error");
            free(e);
            return rc;
        }
    }
    uint8_t lk[2], hk[2];
    put_be16(lk, lo);
    put_be16(hk, hi + 1);
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(ro, (const char *)lk, 2);
    rocksdb_readoptions_set_iterate_upper_bound(ro, (const char *)hk, 2);
    rocksdb_readoptions_set_fill_cache(ro, 0);
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(src, ro, sh);
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    char *e = NULL;
    for (rocksdb_iter_seek(it, (const char *)lk, 2); !e && rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        rocksdb_writebatch_put_cf(wb, c->h, k, kl, v, vl);
        size_t sz;
        rocksdb_writebatch_data(wb, &sz);
        if (sz >= COPY_BATCH_BYTES) {
            rocksdb_write(b->db, b->wo, wb, &e);
            rocksdb_writebatch_clear(wb);
        }
    }
    int rc = 0;
    if (e) {
        rc = rn_error_set(err, RN_EIO, 0, 0, "cannot write restored state '%s' into %s: %s", name, b->head.cfg.dir, e);
        free(e);
        e = NULL;
    }
    rocksdb_iter_get_error(it, &e);
    if (e && !rc)
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "cannot read state '%s' of snapshot %s: %s", name, sn->dir, e);
    free(e);
    e = NULL;
    if (!rc && rocksdb_writebatch_count(wb)) {
        rocksdb_write(b->db, b->wo, wb, &e);
        if (e) rc = rn_error_set(err, RN_EIO, 0, 0, "cannot write restored state '%s' into %s: %s", name, b->head.cfg.dir, e);
        free(e);
    }
    rocksdb_writebatch_destroy(wb);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

/* Other key groups: the entries of the new range are copied out of each snapshot. */
static int restore_part(struct rdb_backend *b, const struct snap *sn, struct rn_error *err)
{
    uint32_t lo = sn->kg_first > b->head.cfg.kg_first ? sn->kg_first : b->head.cfg.kg_first;
    uint32_t hi = sn->kg_last < b->head.cfg.kg_last ? sn->kg_last : b->head.cfg.kg_last;
    if (lo > hi) return 0;
    char *e = NULL;
    size_t n = 0;
    rocksdb_options_t *o = make_options(NULL);
    rocksdb_options_set_db_log_dir(o, b->head.cfg.dir);   /* leave the snapshot untouched */
    char **names = rocksdb_list_column_families(o, sn->db, &n, &e);
    int rc = 0;
    if (e || !n) {
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "cannot open the RocksDB checkpoint of state snapshot %s: %s", sn->dir,
                          e ? e : "no column families");
        free(e);
        if (names) rocksdb_list_column_families_destroy(names, n);
        rocksdb_options_destroy(o);
        return rc;
    }
    rocksdb_column_family_handle_t **hs = calloc(n, sizeof *hs);
    const rocksdb_options_t **os = calloc(n, sizeof *os);
    rocksdb_t *src = NULL;
    if (!hs || !os) {
        rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        goto free_names;
    }
    for (size_t i = 0; i < n; i++) os[i] = o;
    if ((rc = check_cfs(sn, names, n, err))) goto free_names;
    src = rocksdb_open_for_read_only_column_families(o, sn->db, (int)n, (const char *const *)names, os, hs, 0, &e);
    if (!src) {
        rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "cannot open the RocksDB checkpoint of state snapshot %s: %s", sn->dir,
                          e ? e : "unknown error");
        free(e);
        goto free_names;
    }
    for (size_t i = 0; !rc && i < n; i++) rc = copy_cf(b, sn, src, hs[i], names[i], lo, hi, err);
    for (size_t i = 0; i < n; i++) rocksdb_column_family_handle_destroy(hs[i]);
    rocksdb_close(src);
free_names:
    free(hs);
    free(os);
    rocksdb_list_column_families_destroy(names, n);
    rocksdb_options_destroy(o);
    return rc;
}

/* The column families of every snapshot's checkpoint (malloc'd names). */
static int all_cf_names(const struct snap *sn, size_t n_sn, char ***out, size_t *n_out, struct rn_error *err)
{
    rocksdb_options_t *o = rocksdb_options_create();
    int rc = 0;
    for (size_t i = 0; !rc && i < n_sn; i++) {
        char *e = NULL;
        size_t n = 0;
        char **names = rocksdb_list_column_families(o, sn[i].db, &n, &e);
        if (e || !names) {
            rc = rn_error_set(err, RN_ECORRUPT, 0, 0, "cannot open the RocksDB checkpoint of state snapshot %s: %s", sn[i].dir,
                              e ? e : "no column families");
            free(e);
            if (names) rocksdb_list_column_families_destroy(names, n);
            break;
        }
        for (size_t j = 0; !rc && j < n; j++) {
            bool seen = false;
            for (size_t k = 0; !seen && k < *n_out; k++) seen = !strcmp((*out)[k], names[j]);
            if (seen) continue;
            char **v = realloc(*out, (*n_out + 1) * sizeof *v);
            if (v) *out = v;
            if (!v || !(v[*n_out] = strdup(names[j]))) rc = rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
            else (*n_out)++;
        }
        rocksdb_list_column_families_destroy(names, n);
    }
    rocksdb_options_destroy(o);
    return rc;
}

static int rdb_restore(const struct rn_state_config *cfg, const char *const *dirs, size_t n_dirs, rn_state_backend **out,
                       struct rn_error *err)
{
    struct rdb_backend *b;
    struct snap *sn = calloc(n_dirs ? n_dirs : 1, sizeof *sn);
    if (!sn) return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    int rc = 0;
    size_t got = 0;
    /* every manifest and file checked before anything is written */
    for (; got < n_dirs; got++)
        if ((rc = snap_read(cfg, dirs[got], &sn[got], err))) goto free_snaps;
    if ((rc = backend_new(cfg, &b, err))) goto free_snaps;
    if (n_dirs == 1 && sn[0].kg_first == cfg->kg_first && sn[0].kg_last == cfg->kg_last) {
        rc = restore_whole(b, &sn[0], err);
    } else {
        char **names = NULL;
        size_t n_names = 0;
        rc = all_cf_names(sn, n_dirs, &names, &n_names, err);
        if (!rc) rc = open_db(b, false, "state", names, n_names, err);
        free_names(names, n_names);
        for (size_t i = 0; !rc && i < n_dirs; i++) rc = restore_part(b, &sn[i], err);
    }
    if (rc) backend_free(b);
    else *out = &b->head;
free_snaps:
    for (size_t i = 0; i < got; i++) snap_free(&sn[i]);
    free(sn);
    return rc;
}

/* ---- sizes ---- */

/* RocksDB's estimate of its keys summed over the column families (a map entry is a key
 * there); below EXACT_COUNT_BELOW an exact count by scanning, of (key, namespace) entries as
 * the memory backend counts them (a whole map is one, expired entries included until
 * dropped), so that small states (tests) see exact numbers and large ones stay cheap. */
static uint64_t rdb_entries(const rn_state_backend *bh)
{
    struct rdb_backend *b = (struct rdb_backend *)bh;
    uint64_t sum = 0;
    for (size_t i = 0; i < b->n_cfs; i++) {
        uint64_t v = 0;
        if (!rocksdb_property_int_cf(b->db, b->cfs[i].h, "rocksdb.estimate-num-keys", &v)) sum += v;
    }
    if (sum >= EXACT_COUNT_BELOW) return sum;
    uint64_t exact = 0;
    for (size_t i = 0; i < b->n_cfs; i++) {
        const struct rdb_state *map = NULL;
        for (size_t j = 0; j < b->n_states; j++)
            if (b->states[j]->h == b->cfs[i].h && b->states[j]->map) map = b->states[j];
        rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
        rocksdb_readoptions_set_fill_cache(ro, 0);
        rocksdb_iterator_t *it = rocksdb_create_iterator_cf(b->db, ro, b->cfs[i].h);
        const char *prev = NULL;
        size_t prev_len = 0;
        char *copy = NULL;
        for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
            if (!map) {
                exact++;
                continue;
            }
            /* a map's entries: count the (key group, namespace, key) prefixes */
            size_t kl;
            const char *k = rocksdb_iter_key(it, &kl);
            struct rn_state_entry e;
            if (decode_key(map, k, kl, &e)) continue;
            size_t pl = (size_t)((const char *)e.mkey - k);
            if (prev && pl == prev_len && !memcmp(prev, k, pl)) continue;
            exact++;
            char *c = realloc(copy, pl ? pl : 1);
            if (!c) continue;
            copy = c;
            memcpy(copy, k, pl);
            prev = copy;
            prev_len = pl;
        }
        free(copy);
        rocksdb_iter_destroy(it);
        rocksdb_readoptions_destroy(ro);
    }
    return exact;
}

static uint64_t rdb_memory(const rn_state_backend *b) { return 0; }

const struct rn_backend_ops rn_rocksdb_backend_ops = {
    .name = "rocksdb",
    .open = rdb_open,
    .restore = rdb_restore,
    .close = rdb_close,
    .declare = rdb_declare,
    .get = rdb_get,
    .put = rdb_put,
    .remove = rdb_remove,
    .add = rdb_add,
    .get_many = rdb_get_many,
    .add_many = rdb_add_many,
    .list_append = rdb_list_append,
    .list_each = rdb_list_each,
    .map_put = rdb_map_put,
    .map_get = rdb_map_get,
    .map_remove = rdb_map_remove,
    .map_each = rdb_map_each,
    .each = rdb_each,
    .each_in_namespace = rdb_each_in_namespace,
    .snapshot = rdb_snapshot,
    .snapshot_begin = rdb_snapshot_begin,
    .snapshot_poll = rdb_snapshot_poll,
    .entries = rdb_entries,
    .memory = rdb_memory,
};
