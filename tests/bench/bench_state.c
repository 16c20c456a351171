/*
 * bench_state.c — keyed-state micro-benchmark (runnel/state.h): operations per second of a
 * value state's get and put and of a reducing state's add_many in batches of 4096 distinct keys
 * (pre-combined, as the runtime's aggregates call it), with 1M and 10M distinct int64 keys, on
 * the memory and RocksDB backends; and bytes of memory per key of the memory backend
 * (rn_state_backend_memory / keys, reducing state of 8-byte values).
 *
 * Keys are a bijection of 0..N-1 (rn_hash_mix64), encoded with rn_state_key_encode from an int64
 * column, key groups from rn_hash_column / rn_key_group at max_parallelism 128, all built before
 * timing. One thread, one backend instance owning every key group, no TTL, namespace 0.
 *
 * Per backend and key count: the insert passes (put, add_many of keys not yet stored) run once
 * over all N keys; get, put (overwrite) and add_many (update) then run over every key again,
 * each the median of 3 runs, or a single run when one run takes over 4 s (printed). RocksDB at
 * 10M keys is cut down to keep the whole run within about three minutes: one 10M-key load only
 * (add_many into the reducing state; get and put are then measured on its entries, the same
 * key/value path as a value state's), and the later passes over 1 batch in 8 (1.25M keys spread
 * over the whole key space).
 *
 *   build/tests/bench/bench_state [memory|rocksdb|all] [keys ...]     (default: all 1000000 10000000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runnel/batch.h"
#include "runnel/hash.h"
#include "runnel/state.h"

enum { MAXP = 128, BATCH = 4096, KSTRIDE = 16 };
#define SINGLE_RUN_S 4.0   /* a timed pass slower than this is not repeated */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc, const struct rn_error *err)
{
    fprintf(stderr, "bench_state: %s failed: %d %s\n", what, rc, err && err->msg[0] ? err->msg : rn_strerror(rc));
    exit(1);
}

/* ---- keys ---- */

struct keyset {
    uint32_t n;
    uint8_t *bytes;               /* key i at bytes + i * KSTRIDE */
    struct rn_state_key *k;
};

static struct keyset make_keys(uint32_t n)
{
    struct keyset ks = {.n = n, .bytes = malloc((size_t)n * KSTRIDE), .k = malloc((size_t)n * sizeof(struct rn_state_key))};
    struct rn_error err;
    rn_schema *s = rn_schema_parse("k:int64 not null", &err);
    struct rn_batch *b = s ? rn_batch_new(s, BATCH) : NULL;
    if (!ks.bytes || !ks.k || !b) die("key set", RN_ENOMEM, NULL);
    uint64_t hashes[BATCH];
    int64_t *vals = b->cols[0].values;
    for (uint32_t off = 0; off < n; off += BATCH) {
        uint32_t m = n - off < BATCH ? n - off : BATCH;
        for (uint32_t i = 0; i < m; i++) vals[i] = (int64_t)rn_hash_mix64(off + i);   /* distinct */
        b->n_rows = m;
        rn_hash_column(&b->cols[0], m, hashes, 0);
        for (uint32_t i = 0; i < m; i++) {
            uint8_t *at = ks.bytes + (size_t)(off + i) * KSTRIDE;
            uint32_t len = rn_state_key_encode(b->cols, 1, i, at, KSTRIDE);
            if (len > KSTRIDE) die("rn_state_key_encode", RN_ERANGE, NULL);
            ks.k[off + i] = (struct rn_state_key){.data = at, .len = len, .key_group = (uint16_t)rn_key_group(hashes[i], MAXP)};
        }
    }
    rn_batch_unref(b);
    rn_schema_unref(s);
    return ks;
}

static void free_keys(struct keyset *ks)
{
    free(ks->bytes);
    free(ks->k);
}

/* ---- passes: run over the batches b with b % stride == 0; return operations done ---- */

struct pass {
    rn_state *s;
    const struct keyset *ks;
    uint32_t stride;
    const int64_t *ns;     /* BATCH zeros */
    const int64_t *vals;   /* BATCH values */
    uint64_t check;
};

typedef uint64_t (*pass_fn)(struct pass *p);

/* Batch bi covers keys [bi * BATCH, bi * BATCH + m); a pass visits every stride-th batch. */
#define FOR_SAMPLED_BATCHES(p, off, m)                                                                  \
    for (uint32_t off = 0, m = 0; off < (p)->ks->n; off += BATCH * (p)->stride)                      \
        if ((m = (p)->ks->n - off < BATCH ? (p)->ks->n - off : BATCH), 1)

static uint64_t pass_put(struct pass *p)
{
    uint64_t ops = 0;
    FOR_SAMPLED_BATCHES(p, off, m) {
        for (uint32_t i = 0; i < m; i++) {
            int rc = rn_state_put(p->s, &p->ks->k[off + i], 0, &p->vals[i], 8);
            if (rc) die("put", rc, NULL);
        }
        ops += m;
    }
    return ops;
}

static uint64_t pass_get(struct pass *p)
{
    uint64_t ops = 0;
    FOR_SAMPLED_BATCHES(p, off, m) {
        for (uint32_t i = 0; i < m; i++) {
            const void *v;
            uint32_t len;
            int rc = rn_state_get(p->s, &p->ks->k[off + i], 0, &v, &len);
            if (rc) die("get", rc, NULL);
            if (!v || len != 8) die("get (a stored key reads as absent)", RN_ECORRUPT, NULL);
            int64_t x;
            memcpy(&x, v, 8);
            p->check += (uint64_t)x;
        }
        ops += m;
    }
    return ops;
}

static uint64_t pass_add_many(struct pass *p)
{
    uint64_t ops = 0;
    FOR_SAMPLED_BATCHES(p, off, m) {
        int rc = rn_state_add_many(p->s, &p->ks->k[off], p->ns, m, p->vals);
        if (rc) die("add_many", rc, NULL);
        ops += m;
    }
    return ops;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs a pass once (insert passes) or up to 3 times; prints and returns the (median) ops/s. */
static double measure(const char *backend, uint32_t nkeys, const char *what, pass_fn fn, struct pass *p, bool repeat)
{
    double rates[3];
    int runs = 0;
    uint64_t ops = 0;
    do {
        double t0 = now_s();
        ops = fn(p);
        double dt = now_s() - t0;
        rates[runs++] = (double)ops / dt;
        if (dt > SINGLE_RUN_S) break;
    } while (repeat && runs < 3);
    qsort(rates, (size_t)runs, sizeof rates[0], cmp_double);
    double r = rates[runs / 2];
    char label[64];
    snprintf(label, sizeof label, "%s %uM keys", backend, nkeys / 1000000);
    printf("  %-18s %-28s %8.2f M ops/s  (%" PRIu64 " ops, %s)\n", label, what, r / 1e6, ops,
           runs == 3 ? "median of 3" : runs == 1 ? "1 run" : "median of 2");
    fflush(stdout);
    return r;
}

static int dir_seq;
static char workdir[512];

static rn_state_backend *open_backend(enum rn_state_backend_kind kind)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/db-%d", workdir, dir_seq++);
    struct rn_state_config cfg = {.kind = kind, .dir = kind == RN_STATE_ROCKSDB ? dir : NULL, .max_parallelism = MAXP,
                                  .kg_first = 0, .kg_last = MAXP - 1, .clock = NULL};
    struct rn_error err;
    rn_state_backend *b;
    int rc = rn_state_backend_open(&cfg, &b, &err);
    if (rc) die("open", rc, &err);
    return b;
}

static void sum_i64(void *acc, const void *in, void *user)
{
    int64_t a, b;
    memcpy(&a, acc, 8);
    memcpy(&b, in, 8);
    a += b;
    memcpy(acc, &a, 8);
}

static rn_state *declare(rn_state_backend *b, const char *name, enum rn_state_kind kind)
{
    struct rn_state_desc d = {.name = name, .kind = kind, .value_size = 8, .combine = kind == RN_STATE_REDUCING ? sum_i64 : NULL};
    struct rn_error err;
    rn_state *s;
    int rc = rn_state_declare(b, &d, &s, &err);
    if (rc) die("declare", rc, &err);
    return s;
}

struct result {
    double add_many_update;
    double bytes_per_key;
};

static struct result run_backend(enum rn_state_backend_kind kind, const struct keyset *ks)
{
    const char *name = kind == RN_STATE_MEMORY ? "memory" : "rocksdb";
    static int64_t zeros[BATCH], ones[BATCH];
    for (int i = 0; i < BATCH; i++) ones[i] = i + 1;
    /* RocksDB at 10M: sampled passes and a single 10M-key load (see the top of the file) */
    bool big = kind == RN_STATE_ROCKSDB && ks->n > 2000000;
    uint32_t stride = big ? 8 : 1;
    const char *sfx = big ? ", 1/8" : "";
    struct result res = {0};
    char what[64];
    double close_s = 0, t0;
    rn_state_backend *b;
    struct pass p;

    if (!big) {
        /* value state: insert, get, overwrite */
        b = open_backend(kind);
        p = (struct pass){.s = declare(b, "v", RN_STATE_VALUE), .ks = ks, .stride = 1, .ns = zeros, .vals = ones};
        measure(name, ks->n, "value put (insert)", pass_put, &p, false);
        p.stride = stride;
        measure(name, ks->n, "value get", pass_get, &p, true);
        measure(name, ks->n, "value put (update)", pass_put, &p, true);
        t0 = now_s();
        rn_state_backend_close(b);
        close_s += now_s() - t0;
    }

    /* reducing state: add_many of 4096 distinct keys per call */
    b = open_backend(kind);
    p = (struct pass){.s = declare(b, "r", RN_STATE_REDUCING), .ks = ks, .stride = 1, .ns = zeros, .vals = ones};
    measure(name, ks->n, "add_many (insert)", pass_add_many, &p, false);
    if (kind == RN_STATE_MEMORY) {
        res.bytes_per_key = (double)rn_state_backend_memory(b) / ks->n;
        printf("  %-18s %-28s %8.1f bytes/key  (%" PRIu64 " entries, %.1f MiB)\n", "memory", "reducing state, 8-byte values",
               res.bytes_per_key, rn_state_backend_entries(b), (double)rn_state_backend_memory(b) / (1 << 20));
    } else {
        printf("  %-18s %-28s %" PRIu64 " (estimate)\n", "rocksdb", "entries", rn_state_backend_entries(b));
    }
    p.stride = stride;
    if (big) {
        /* get and put on the reducing state's 10M entries (the same key/value path as a value
         * state's) rather than loading a second 10M-key state */
        snprintf(what, sizeof what, "get (reducing state%s)", sfx);
        measure(name, ks->n, what, pass_get, &p, true);
        snprintf(what, sizeof what, "put (update%s)", sfx);
        measure(name, ks->n, what, pass_put, &p, true);
    }
    snprintf(what, sizeof what, "add_many (update%s)", sfx);
    res.add_many_update = measure(name, ks->n, what, pass_add_many, &p, true);
    t0 = now_s();
    rn_state_backend_close(b);
    close_s += now_s() - t0;
    if (close_s > 1) printf("  (closing the %s backends took %.1f s, not counted)\n", name, close_s);
    return res;
}

int main(int argc, char **argv)
{
    int which = 3;   /* 1 memory, 2 rocksdb */
    int a = 1;
    if (argc > 1 && !strcmp(argv[1], "memory")) which = 1, a = 2;
    else if (argc > 1 && !strcmp(argv[1], "rocksdb")) which = 2, a = 2;
    else if (argc > 1 && !strcmp(argv[1], "all")) a = 2;
    uint32_t counts[8] = {1000000, 10000000};
    int nc = 2;
    if (a < argc) {
        nc = 0;
        for (; a < argc && nc < 8; a++) counts[nc++] = (uint32_t)strtoul(argv[a], NULL, 10);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/bench_state-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir)) die("mkdtemp", RN_EIO, NULL);

    printf("bench_state: 1 thread, max_parallelism %d, int64 keys (9 encoded bytes), 8-byte values, batches of %d "
           "distinct keys for add_many\n", MAXP, BATCH);
    double t_all = now_s();
    struct result res[8][2];
    memset(res, 0, sizeof res);
    for (int c = 0; c < nc; c++) {
        if (!counts[c]) continue;
        struct keyset ks = make_keys(counts[c]);
        printf("%u keys:\n", counts[c]);
        if (which & 1) res[c][0] = run_backend(RN_STATE_MEMORY, &ks);
        if (which & 2) res[c][1] = run_backend(RN_STATE_ROCKSDB, &ks);
        free_keys(&ks);
    }
    printf("goals (add_many update, pre-combined batches, one core):\n");
    for (int c = 0; c < nc; c++) {
        if (which & 1)
            printf("  memory  %8u keys: %6.2f M updates/s  (goal >= 20 M/s: %s); %.1f bytes/key\n", counts[c],
                   res[c][0].add_many_update / 1e6, res[c][0].add_many_update >= 20e6 ? "met" : "NOT met",
                   res[c][0].bytes_per_key);
        if (which & 2)
            printf("  rocksdb %8u keys: %6.2f M updates/s  (goal >= 1 M/s: %s)\n", counts[c],
                   res[c][1].add_many_update / 1e6, res[c][1].add_many_update >= 1e6 ? "met" : "NOT met");
    }
    printf("total %.0f s\n", now_s() - t_all);
    rmdir(workdir);
    return 0;
}
