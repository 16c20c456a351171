/*
 * test_state.c — Check suite "state": conformance of the keyed-state backends to the contract in
 * runnel/state.h. One set of tests runs against both backends: the TCase "memory" and the TCase
 * "rocksdb" are built from the same list (add_backend_tests) and differ only in the backend kind
 * their fixture selects. rn_state_key_encode, which needs no backend, has a TCase of its own.
 *
 * Time is a fake clock (rn_state_config.clock reading `fake_now`), so TTL expiry is tested to the
 * millisecond. Each test gets a fresh temporary directory (tu_tmp_setup); every RocksDB instance a
 * fresh, absent sub-directory of it. Semantics the header leaves to its plainest reading, pinned
 * here:
 *   - a value expires when now - (time of its last write) >= ttl_ms; add() is a write;
 *   - an empty value (len 0) is present: get gives a non-NULL pointer and len 0;
 *   - add_many / get_many with the same (key, namespace) several times in one call behave as
 *     the single calls in array order (duplicates fold in order; every repeat reads the same);
 *   - removing an absent key succeeds (0);
 *   - after a restore, a TTL'd entry keeps the write time it had: it expires at the same clock
 *     time as it would have without the snapshot;
 *   - entries() counts one per (key, namespace) of value and reducing states (exact for memory).
 * Assumes Check's fork mode (the default): file-level variables are per test.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "runnel/hash.h"
#include "runnel/state.h"

/* Assertions that call into Check only when they fail (Check records every passing ck_assert,
 * which is slow inside loops over thousands of keys). */
#define CHECK(cond) do { if (!(cond)) ck_abort_msg("%s:%d: assertion '%s' failed", __FILE__, __LINE__, #cond); } while (0)
#define CHECK_MSG(cond, ...) do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)
#define OK(call) do { int rc_ = (call); if (rc_ != 0) ck_abort_msg("%s:%d: %s returned %d (%s)", __FILE__, __LINE__, #call, rc_, rn_strerror(rc_)); } while (0)

enum { MP = 128 };   /* max_parallelism of every backend here */

/* ------------------------------------------------------------------------------------------ */
/* fixture: backend kind, fake clock, owned strings                                           */
/* ------------------------------------------------------------------------------------------ */

static enum rn_state_backend_kind g_kind;
static int64_t fake_now;
static int64_t fake_clock(void) { return fake_now; }

static char *owned[1024];
static int n_owned;
static int dir_seq;

static char *keep(char *s)
{
    ck_assert(n_owned < (int)(sizeof owned / sizeof owned[0]));
    owned[n_owned++] = s;
    return s;
}

/* A fresh, absent path inside the test's temporary directory. */
static const char *fresh_path(const char *what) { return keep(tu_tmp_path(keep(tu_fmt("%s-%d", what, dir_seq++)))); }

static void setup_common(void)
{
    tu_tmp_setup("runnel-state");
    fake_now = 1000;
    n_owned = 0;
    dir_seq = 0;
}
static void setup_memory(void) { setup_common(); g_kind = RN_STATE_MEMORY; }
static void setup_rocksdb(void) { setup_common(); g_kind = RN_STATE_ROCKSDB; }
static void teardown(void)
{
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    n_owned = 0;
    tu_tmp_teardown();
}

static struct rn_state_config config(uint32_t first, uint32_t last)
{
    struct rn_state_config c = {.kind = g_kind, .dir = NULL, .max_parallelism = MP, .kg_first = first,
                                .kg_last = last, .clock = fake_clock};
    if (g_kind == RN_STATE_ROCKSDB) c.dir = fresh_path("db");
    return c;
}

static rn_state_backend *open_range(uint32_t first, uint32_t last)
{
    struct rn_state_config c = config(first, last);
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    int rc = rn_state_backend_open(&c, &b, &err);
    ck_assert_msg(rc == 0 && b, "open (%s): %d %s", g_kind == RN_STATE_MEMORY ? "memory" : "rocksdb", rc, err.msg);
    return b;
}
static rn_state_backend *open_all(void) { return open_range(0, MP - 1); }

static rn_state_backend *restore_range(uint32_t first, uint32_t last, const char *const *dirs, size_t n)
{
    struct rn_state_config c = config(first, last);
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    int rc = rn_state_backend_restore(&c, dirs, n, &b, &err);
    ck_assert_msg(rc == 0 && b, "restore: %d %s", rc, err.msg);
    return b;
}

static void sum_i64(void *acc, const void *in, void *user);

static rn_state *declare_full(rn_state_backend *b, const char *name, enum rn_state_kind kind, uint32_t size, int64_t ttl,
                              rn_state_combine_fn combine, void *user)
{
    struct rn_state_desc d = {.name = name, .kind = kind, .value_size = size, .ttl_ms = ttl, .combine = combine,
                              .combine_user = user};
    struct rn_error err = {0};
    rn_state *s = NULL;
    int rc = rn_state_declare(b, &d, &s, &err);
    ck_assert_msg(rc == 0 && s, "declare %s: %d %s", name, rc, err.msg);
    return s;
}
static rn_state *declare(rn_state_backend *b, const char *name, enum rn_state_kind kind, uint32_t size, int64_t ttl)
{
    return declare_full(b, name, kind, size, ttl, kind == RN_STATE_REDUCING ? sum_i64 : NULL, NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* keys, values and combine functions                                                         */
/* ------------------------------------------------------------------------------------------ */

static uint16_t kg_of(const void *p, uint32_t len) { return (uint16_t)rn_key_group(rn_hash_bytes(p, len), MP); }

/* A key from a string literal (or any bytes that outlive its use), in its own key group. */
static struct rn_state_key skey(const char *s)
{
    uint32_t len = (uint32_t)strlen(s);
    return (struct rn_state_key){.data = s, .len = len, .key_group = kg_of(s, len)};
}
static struct rn_state_key bkey(const void *p, uint32_t len, uint16_t kg)
{
    return (struct rn_state_key){.data = p, .len = len, .key_group = kg};
}

/* n int64 keys base, base+1, ... with their key groups (rn_hash_i64, as an int64 key column). */
struct ikeys {
    int64_t *v;
    struct rn_state_key *k;
    uint32_t n;
};
static struct ikeys make_ikeys(uint32_t n, int64_t base)
{
    struct ikeys ik = {.v = malloc(n * sizeof(int64_t)), .k = malloc(n * sizeof(struct rn_state_key)), .n = n};
    ck_assert(ik.v && ik.k);
    for (uint32_t i = 0; i < n; i++) {
        ik.v[i] = base + (int64_t)i;
        ik.k[i] = bkey(&ik.v[i], 8, (uint16_t)rn_key_group(rn_hash_i64(ik.v[i]), MP));
    }
    return ik;
}
static void free_ikeys(struct ikeys *ik)
{
    free(ik->v);
    free(ik->k);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int64_t rd64(const void *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* acc += in; counts its calls in *(long *)user when user is given. */
static void sum_i64(void *acc, const void *in, void *user)
{
    int64_t a = rd64(acc) + rd64(in);
    memcpy(acc, &a, 8);
    if (user) ++*(long *)user;
}
static void max_i64(void *acc, const void *in, void *user)
{
    int64_t a = rd64(acc), b = rd64(in);
    if (b > a) memcpy(acc, &b, 8);
}
/* Not commutative: the result depends on the order in which values are folded. */
static uint64_t seq_fold(uint64_t a, uint64_t b) { return a * 1000003u + b; }
static void seq_u64(void *acc, const void *in, void *user)
{
    uint64_t a, b;
    memcpy(&a, acc, 8);
    memcpy(&b, in, 8);
    a = seq_fold(a, b);
    memcpy(acc, &a, 8);
}

static void put_str(rn_state *s, struct rn_state_key k, int64_t ns, const char *v)
{
    OK(rn_state_put(s, &k, ns, v, (uint32_t)strlen(v)));
}
static void put_i64(rn_state *s, struct rn_state_key k, int64_t ns, int64_t v) { OK(rn_state_put(s, &k, ns, &v, 8)); }
static void add_i64(rn_state *s, struct rn_state_key k, int64_t ns, int64_t v) { OK(rn_state_add(s, &k, ns, &v)); }

static void expect_absent_at(rn_state *s, struct rn_state_key k, int64_t ns, int line)
{
    const void *v = (const void *)1;
    uint32_t len = 77;
    int rc = rn_state_get(s, &k, ns, &v, &len);
    CHECK_MSG(rc == 0, "line %d: get returned %d", line, rc);
    CHECK_MSG(v == NULL, "line %d: key '%.*s' ns %" PRId64 " should be absent, has %u bytes", line, (int)k.len,
              (const char *)k.data, ns, len);
}
static void expect_value_at(rn_state *s, struct rn_state_key k, int64_t ns, const char *want, int line)
{
    const void *v = NULL;
    uint32_t len = 0;
    int rc = rn_state_get(s, &k, ns, &v, &len);
    CHECK_MSG(rc == 0, "line %d: get returned %d", line, rc);
    CHECK_MSG(v != NULL, "line %d: key '%.*s' ns %" PRId64 ": absent, want '%s'", line, (int)k.len,
              (const char *)k.data, ns, want);
    CHECK_MSG(len == strlen(want) && memcmp(v, want, len) == 0, "line %d: got '%.*s', want '%s'", line, (int)len,
              (const char *)v, want);
}
static void expect_int_at(rn_state *s, struct rn_state_key k, int64_t ns, int64_t want, int line)
{
    const void *v = NULL;
    uint32_t len = 0;
    int rc = rn_state_get(s, &k, ns, &v, &len);
    CHECK_MSG(rc == 0, "line %d: get returned %d", line, rc);
    CHECK_MSG(v != NULL, "line %d: absent, want %" PRId64, line, want);
    CHECK_MSG(len == 8, "line %d: value of %u bytes, want 8", line, len);
    CHECK_MSG(rd64(v) == want, "line %d: got %" PRId64 ", want %" PRId64, line, rd64(v), want);
}
#define expect_absent(s, k, ns) expect_absent_at(s, k, ns, __LINE__)
#define expect_value(s, k, ns, want) expect_value_at(s, k, ns, want, __LINE__)
#define expect_int(s, k, ns, want) expect_int_at(s, k, ns, want, __LINE__)

/* ------------------------------------------------------------------------------------------ */
/* collecting what iteration reports                                                          */
/* ------------------------------------------------------------------------------------------ */

struct ent {
    uint16_t kg;
    int64_t ns;
    char *key, *mkey, *val;
    uint32_t key_len, mkey_len, len;
    bool has_mkey;
};
struct ents {
    struct ent *v;
    size_t n, cap;
};

static char *dup_bytes(const void *p, uint32_t len)
{
    char *d = malloc(len + 1);
    ck_assert(d);
    if (len) memcpy(d, p, len);
    d[len] = 0;
    return d;
}

static struct ent *ents_push(struct ents *es)
{
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 64;
        es->v = realloc(es->v, es->cap * sizeof *es->v);
        ck_assert(es->v);
    }
    struct ent *e = &es->v[es->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static int collect_entry(const struct rn_state_entry *e, void *user)
{
    struct ent *c = ents_push(user);
    c->kg = e->key_group;
    c->ns = e->ns;
    c->key = dup_bytes(e->key, e->key_len);
    c->key_len = e->key_len;
    c->has_mkey = e->mkey != NULL;
    c->mkey = dup_bytes(e->mkey, e->mkey ? e->mkey_len : 0);
    c->mkey_len = e->mkey ? e->mkey_len : 0;
    c->val = dup_bytes(e->val, e->len);
    c->len = e->len;
    return 0;
}
static int collect_elem(const void *val, uint32_t len, void *user)
{
    struct ent *c = ents_push(user);
    c->val = dup_bytes(val, len);
    c->len = len;
    return 0;
}
static int collect_mapent(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user)
{
    struct ent *c = ents_push(user);
    c->has_mkey = true;
    c->mkey = dup_bytes(mkey, mlen);
    c->mkey_len = mlen;
    c->val = dup_bytes(val, len);
    c->len = len;
    return 0;
}
static void ents_free(struct ents *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->v[i].key);
        free(es->v[i].mkey);
        free(es->v[i].val);
    }
    free(es->v);
    memset(es, 0, sizeof *es);
}

static int cmp_bytes(const char *a, uint32_t al, const char *b, uint32_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}
static int cmp_ent(const void *pa, const void *pb)
{
    const struct ent *a = pa, *b = pb;
    if (a->kg != b->kg) return a->kg < b->kg ? -1 : 1;
    int c = cmp_bytes(a->key, a->key_len, b->key, b->key_len);
    if (c) return c;
    if (a->ns != b->ns) return a->ns < b->ns ? -1 : 1;
    if (a->has_mkey != b->has_mkey) return a->has_mkey ? 1 : -1;
    c = cmp_bytes(a->mkey, a->mkey_len, b->mkey, b->mkey_len);
    if (c) return c;
    return cmp_bytes(a->val, a->len, b->val, b->len);
}

static struct ents each_all(rn_state *s, uint32_t first, uint32_t last)
{
    struct ents es = {0};
    OK(rn_state_each(s, first, last, collect_entry, &es));
    return es;
}
static struct ents each_sorted(rn_state *s, uint32_t first, uint32_t last)
{
    struct ents es = each_all(s, first, last);
    if (es.n) qsort(es.v, es.n, sizeof es.v[0], cmp_ent);
    return es;
}
static struct ents list_of(rn_state *s, struct rn_state_key k, int64_t ns)
{
    struct ents es = {0};
    OK(rn_state_list_each(s, &k, ns, collect_elem, &es));
    return es;
}
static struct ents map_of(rn_state *s, struct rn_state_key k, int64_t ns)
{
    struct ents es = {0};
    OK(rn_state_map_each(s, &k, ns, collect_mapent, &es));
    return es;
}

static void expect_same_ents(const struct ents *a, const struct ents *b, const char *what)
{
    CHECK_MSG(a->n == b->n, "%s: %zu entries, want %zu", what, b->n, a->n);
    for (size_t i = 0; i < a->n; i++)
        CHECK_MSG(cmp_ent(&a->v[i], &b->v[i]) == 0, "%s: entry %zu differs (key '%s' ns %" PRId64 " vs key '%s' ns %" PRId64 ")",
                  what, i, a->v[i].key, a->v[i].ns, b->v[i].key, b->v[i].ns);
}

/* Element values of a list (or the "mkey=val" of a map) joined by '|'. */
static char *joined(const struct ents *es)
{
    size_t cap = 16;
    for (size_t i = 0; i < es->n; i++) cap += es->v[i].len + es->v[i].mkey_len + 2;
    char *out = malloc(cap), *o = out;
    ck_assert(out);
    for (size_t i = 0; i < es->n; i++) {
        if (i) *o++ = '|';
        if (es->v[i].has_mkey) {
            memcpy(o, es->v[i].mkey, es->v[i].mkey_len);
            o += es->v[i].mkey_len;
            *o++ = '=';
        }
        memcpy(o, es->v[i].val, es->v[i].len);
        o += es->v[i].len;
    }
    *o = 0;
    return out;
}
static void expect_list_at(rn_state *s, struct rn_state_key k, int64_t ns, const char *want, int line)
{
    struct ents es = list_of(s, k, ns);
    char *got = joined(&es);
    CHECK_MSG(strcmp(got, want) == 0, "line %d: list is '%s', want '%s'", line, got, want);
    free(got);
    ents_free(&es);
}
static void expect_map_at(rn_state *s, struct rn_state_key k, int64_t ns, const char *want, int line)
{
    struct ents es = map_of(s, k, ns);
    char *got = joined(&es);
    CHECK_MSG(strcmp(got, want) == 0, "line %d: map is '%s', want '%s'", line, got, want);
    free(got);
    ents_free(&es);
}
#define expect_list(s, k, ns, want) expect_list_at(s, k, ns, want, __LINE__)
#define expect_map(s, k, ns, want) expect_map_at(s, k, ns, want, __LINE__)

static void list_add(rn_state *s, struct rn_state_key k, int64_t ns, const char *v)
{
    OK(rn_state_list_append(s, &k, ns, v, (uint32_t)strlen(v)));
}
static void map_put(rn_state *s, struct rn_state_key k, int64_t ns, const char *mk, const char *v)
{
    OK(rn_state_map_put(s, &k, ns, mk, (uint32_t)strlen(mk), v, (uint32_t)strlen(v)));
}
static void expect_map_get_at(rn_state *s, struct rn_state_key k, int64_t ns, const char *mk, const char *want, int line)
{
    const void *v = (const void *)1;
    uint32_t len = 0;
    int rc = rn_state_map_get(s, &k, ns, mk, (uint32_t)strlen(mk), &v, &len);
    CHECK_MSG(rc == 0, "line %d: map_get returned %d", line, rc);
    if (!want) {
        CHECK_MSG(v == NULL, "line %d: map key '%s' should be absent, has '%.*s'", line, mk, (int)len, (const char *)v);
        return;
    }
    CHECK_MSG(v != NULL, "line %d: map key '%s' absent, want '%s'", line, mk, want);
    CHECK_MSG(len == strlen(want) && memcmp(v, want, len) == 0, "line %d: map key '%s' is '%.*s', want '%s'", line, mk,
              (int)len, (const char *)v, want);
}
#define expect_map_get(s, k, ns, mk, want) expect_map_get_at(s, k, ns, mk, want, __LINE__)

static void snapshot_ok(rn_state_backend *b, const char *dir)
{
    struct rn_error err = {0};
    int rc = rn_state_snapshot(b, dir, &err);
    ck_assert_msg(rc == 0, "snapshot into %s: %d %s", dir, rc, err.msg);
}

/* ------------------------------------------------------------------------------------------ */
/* opening and declaring                                                                      */
/* ------------------------------------------------------------------------------------------ */

START_TEST(open_refuses_a_bad_config)
{
    struct rn_state_config bad[] = {
        {.max_parallelism = 0, .kg_first = 0, .kg_last = 0},
        {.max_parallelism = 32769, .kg_first = 0, .kg_last = 0},
        {.max_parallelism = MP, .kg_first = 0, .kg_last = MP},
        {.max_parallelism = MP, .kg_first = 10, .kg_last = 9},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rn_state_config c = bad[i];
        c.kind = g_kind;
        if (g_kind == RN_STATE_ROCKSDB) c.dir = fresh_path("db");
        struct rn_error err = {0};
        rn_state_backend *b = (rn_state_backend *)1;
        int rc = rn_state_backend_open(&c, &b, &err);
        ck_assert_msg(rc == RN_EINVAL, "config %zu: open returned %d, want RN_EINVAL", i, rc);
        ck_assert_msg(err.msg[0] != 0, "config %zu: no message", i);
        ck_assert_ptr_null(b);
    }
    struct rn_state_config c = config(0, MP - 1);
    c.max_parallelism = 32768;   /* the largest allowed */
    c.kg_last = 32767;
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    ck_assert_msg(rn_state_backend_open(&c, &b, &err) == 0, "%s", err.msg);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(rocksdb_dir_must_be_empty_or_absent)
{
    /* rocksdb: a directory holding something is refused; an empty one is used. memory: dir unused. */
    const char *full = fresh_path("full");
    ck_assert_int_eq(mkdir(full, 0777), 0);
    char *f = keep(tu_fmt("%s/something", full));
    tu_write_file(f, "x");
    struct rn_state_config c = config(0, MP - 1);
    c.dir = full;
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    int rc = rn_state_backend_open(&c, &b, &err);
    if (g_kind == RN_STATE_ROCKSDB) {
        ck_assert_msg(rc == RN_EINVAL || rc == RN_EIO, "a non-empty rocksdb directory: open returned %d", rc);
        ck_assert_msg(err.msg[0], "no message");
        ck_assert_ptr_null(b);
    } else {
        ck_assert_msg(rc == 0, "memory backend: %s", err.msg);
        rn_state_backend_close(b);
    }
    char *kept = tu_slurp(f);
    ck_assert_msg(kept && strcmp(kept, "x") == 0, "the file in the refused directory was touched");
    free(kept);

    const char *empty = fresh_path("empty");
    ck_assert_int_eq(mkdir(empty, 0777), 0);
    c.dir = empty;
    rc = rn_state_backend_open(&c, &b, &err);
    ck_assert_msg(rc == 0, "an empty directory was refused: %s", err.msg);
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("k"), 0, "v");
    expect_value(s, skey("k"), 0, "v");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(close_deletes_the_rocksdb_working_directory)
{
    struct rn_state_config c = config(0, MP - 1);
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    ck_assert_msg(rn_state_backend_open(&c, &b, &err) == 0, "%s", err.msg);
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("k"), 0, "v");
    struct stat st;
    if (g_kind == RN_STATE_ROCKSDB) ck_assert_msg(stat(c.dir, &st) == 0 && S_ISDIR(st.st_mode), "open did not create %s", c.dir);
    rn_state_backend_close(b);
    if (g_kind == RN_STATE_ROCKSDB) ck_assert_msg(stat(c.dir, &st) != 0 && errno == ENOENT, "close left %s behind", c.dir);
    rn_state_backend_close(NULL);
}
END_TEST

START_TEST(a_backend_says_which_kind_it_is)
{
    rn_state_backend *b = open_all();
    ck_assert_int_eq(rn_state_backend_kind(b), g_kind);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(declare_twice_with_the_same_desc_returns_the_same_state)
{
    rn_state_backend *b = open_all();
    rn_state *a = declare(b, "counts", RN_STATE_REDUCING, 8, 500);
    rn_state *other = declare(b, "names", RN_STATE_MAP, 0, 0);
    add_i64(a, skey("k"), 0, 5);
    rn_state *again = declare(b, "counts", RN_STATE_REDUCING, 8, 500);
    ck_assert_ptr_eq(a, again);
    ck_assert_ptr_ne(a, other);
    expect_int(again, skey("k"), 0, 5);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(declare_with_another_desc_is_refused)
{
    rn_state_backend *b = open_all();
    rn_state *a = declare(b, "s", RN_STATE_VALUE, 8, 100);
    put_i64(a, skey("k"), 0, 7);
    struct rn_state_desc others[] = {
        {.name = "s", .kind = RN_STATE_LIST, .value_size = 8, .ttl_ms = 100},
        {.name = "s", .kind = RN_STATE_VALUE, .value_size = 4, .ttl_ms = 100},
        {.name = "s", .kind = RN_STATE_VALUE, .value_size = 0, .ttl_ms = 100},
        {.name = "s", .kind = RN_STATE_VALUE, .value_size = 8, .ttl_ms = 0},
        {.name = "s", .kind = RN_STATE_REDUCING, .value_size = 8, .ttl_ms = 100, .combine = sum_i64},
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct rn_error err = {0};
        rn_state *s = (rn_state *)1;
        int rc = rn_state_declare(b, &others[i], &s, &err);
        ck_assert_msg(rc == RN_EINVAL, "desc %zu: declare returned %d, want RN_EINVAL", i, rc);
        ck_assert_msg(strstr(err.msg, "s") && err.msg[0], "desc %zu: message '%s'", i, err.msg);
    }
    expect_int(a, skey("k"), 0, 7);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(declare_refuses_an_invalid_desc)
{
    rn_state_backend *b = open_all();
    struct rn_state_desc bad[] = {
        {.name = "r", .kind = RN_STATE_REDUCING, .value_size = 8},                       /* no combine */
        {.name = "r", .kind = RN_STATE_REDUCING, .value_size = 0, .combine = sum_i64},   /* no fixed size */
        {.name = "", .kind = RN_STATE_VALUE},
        {.name = NULL, .kind = RN_STATE_VALUE},
        {.name = "t", .kind = RN_STATE_VALUE, .ttl_ms = -1},
        {.name = "k", .kind = (enum rn_state_kind)42},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rn_error err = {0};
        rn_state *s = NULL;
        int rc = rn_state_declare(b, &bad[i], &s, &err);
        ck_assert_msg(rc == RN_EINVAL, "desc %zu: declare returned %d, want RN_EINVAL", i, rc);
        ck_assert_msg(err.msg[0], "desc %zu: no message", i);
    }
    rn_state_backend_close(b);
}
END_TEST

START_TEST(states_of_one_backend_are_separate)
{
    rn_state_backend *b = open_all();
    rn_state *x = declare(b, "x", RN_STATE_VALUE, 0, 0);
    rn_state *y = declare(b, "y", RN_STATE_VALUE, 0, 0);
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 0);
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    put_str(x, skey("k"), 0, "in x");
    expect_absent(y, skey("k"), 0);
    put_str(y, skey("k"), 0, "in y");
    list_add(l, skey("k"), 0, "in l");
    map_put(m, skey("k"), 0, "mk", "in m");
    expect_value(x, skey("k"), 0, "in x");
    expect_value(y, skey("k"), 0, "in y");
    OK(rn_state_remove(x, &(struct rn_state_key){"k", 1, kg_of("k", 1)}, 0));
    expect_absent(x, skey("k"), 0);
    expect_value(y, skey("k"), 0, "in y");
    expect_list(l, skey("k"), 0, "in l");
    expect_map(m, skey("k"), 0, "mk=in m");
    struct ents es = each_all(y, 0, MP - 1);
    ck_assert_uint_eq(es.n, 1);
    ck_assert_str_eq(es.v[0].val, "in y");
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* value states                                                                               */
/* ------------------------------------------------------------------------------------------ */

START_TEST(value_put_then_get)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("alice"), 0, "one");
    put_str(s, skey("bob"), 0, "two");
    expect_value(s, skey("alice"), 0, "one");
    expect_value(s, skey("bob"), 0, "two");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(value_absent_key_is_null)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    expect_absent(s, skey("nobody"), 0);
    put_str(s, skey("alice"), 5, "x");
    expect_absent(s, skey("nobody"), 5);
    expect_absent(s, skey("alice"), 0);
    expect_absent(s, skey("alic"), 5);
    expect_absent(s, skey("alice2"), 5);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(value_overwrite_replaces)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("k"), 0, "a rather long first value");
    put_str(s, skey("k"), 0, "short");
    expect_value(s, skey("k"), 0, "short");
    put_str(s, skey("k"), 0, "and a longer one again, longer than both");
    expect_value(s, skey("k"), 0, "and a longer one again, longer than both");
    struct ents es = each_all(s, 0, MP - 1);
    ck_assert_uint_eq(es.n, 1);
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(value_remove_makes_absent)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("k"), 0, "v");
    put_str(s, skey("j"), 0, "w");
    struct rn_state_key k = skey("k");
    OK(rn_state_remove(s, &k, 0));
    expect_absent(s, skey("k"), 0);
    expect_value(s, skey("j"), 0, "w");
    /* removing what is not there succeeds */
    OK(rn_state_remove(s, &k, 0));
    struct rn_state_key never = skey("never");
    OK(rn_state_remove(s, &never, 3));
    put_str(s, skey("k"), 0, "back");
    expect_value(s, skey("k"), 0, "back");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(value_variable_sizes_including_empty)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    static const uint32_t sizes[] = {0, 1, 7, 8, 9, 255, 4096, 100000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    char names[N][8];
    uint8_t *big = malloc(100000);
    ck_assert(big);
    for (uint32_t i = 0; i < 100000; i++) big[i] = (uint8_t)(i * 7 + 3);
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "k%d", i);
        struct rn_state_key k = skey(names[i]);
        OK(rn_state_put(s, &k, 0, big, sizes[i]));
    }
    for (int i = 0; i < N; i++) {
        struct rn_state_key k = skey(names[i]);
        const void *v = NULL;
        uint32_t len = 12345;
        OK(rn_state_get(s, &k, 0, &v, &len));
        ck_assert_msg(v != NULL, "value of %u bytes reads as absent", sizes[i]);
        ck_assert_uint_eq(len, sizes[i]);
        ck_assert_msg(len == 0 || memcmp(v, big, len) == 0, "value of %u bytes differs", sizes[i]);
    }
    /* an empty value overwrites a long one and stays present */
    struct rn_state_key k = skey(names[N - 1]);
    OK(rn_state_put(s, &k, 0, "", 0));
    const void *v = NULL;
    uint32_t len = 1;
    OK(rn_state_get(s, &k, 0, &v, &len));
    ck_assert_msg(v != NULL && len == 0, "empty value: %p, %u", v, len);
    free(big);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(value_fixed_size_is_enforced)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v8", RN_STATE_VALUE, 8, 0);
    rn_state *l = declare(b, "l8", RN_STATE_LIST, 8, 0);
    rn_state *m = declare(b, "m8", RN_STATE_MAP, 8, 0);
    struct rn_state_key k = skey("k"), j = skey("j");
    char buf[16] = "0123456789abcdef";
    ck_assert_int_eq(rn_state_put(s, &k, 0, buf, 7), RN_EINVAL);
    ck_assert_int_eq(rn_state_put(s, &k, 0, buf, 9), RN_EINVAL);
    ck_assert_int_eq(rn_state_put(s, &k, 0, buf, 0), RN_EINVAL);
    expect_absent(s, k, 0);
    put_i64(s, k, 0, 42);
    ck_assert_int_eq(rn_state_put(s, &k, 0, buf, 16), RN_EINVAL);
    expect_int(s, k, 0, 42);
    ck_assert_int_eq(rn_state_list_append(l, &j, 0, buf, 4), RN_EINVAL);
    expect_list(l, j, 0, "");
    ck_assert_int_eq(rn_state_map_put(m, &j, 0, "mk", 2, buf, 9), RN_EINVAL);
    expect_map(m, j, 0, "");
    OK(rn_state_list_append(l, &j, 0, buf, 8));
    OK(rn_state_map_put(m, &j, 0, "mk", 2, buf, 8));
    expect_list(l, j, 0, "01234567");
    expect_map(m, j, 0, "mk=01234567");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(namespaces_separate_values_of_one_key)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 8, 0);
    static const int64_t nss[] = {0, 1, -1, 2, 1000, -1000, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 256, 65536};
    enum { N = sizeof nss / sizeof nss[0] };
    for (int i = 0; i < N; i++) put_i64(s, skey("k"), nss[i], 100 + i);
    for (int i = 0; i < N; i++) expect_int(s, skey("k"), nss[i], 100 + i);
    expect_absent(s, skey("k"), 3);
    struct rn_state_key k = skey("k");
    OK(rn_state_remove(s, &k, -1));
    for (int i = 0; i < N; i++) {
        if (nss[i] == -1) expect_absent(s, k, -1);
        else expect_int(s, k, nss[i], 100 + i);
    }
    struct ents es = each_all(s, 0, MP - 1);
    ck_assert_uint_eq(es.n, N - 1);
    for (size_t i = 0; i < es.n; i++) {
        int at = -1;
        for (int n = 0; n < N; n++)
            if (nss[n] == es.v[i].ns) at = n;
        CHECK_MSG(at >= 0 && nss[at] != -1, "each reported namespace %" PRId64, es.v[i].ns);
        CHECK(rd64(es.v[i].val) == 100 + at);
        CHECK(es.v[i].key_len == 1 && es.v[i].key[0] == 'k');
    }
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(same_key_bytes_in_another_key_group_are_another_key)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 0);
    struct rn_state_key a = bkey("same", 4, 3), c = bkey("same", 4, 77), z = bkey("same", 4, 0);
    put_str(s, a, 0, "in 3");
    expect_absent(s, c, 0);
    expect_absent(s, z, 0);
    put_str(s, c, 0, "in 77");
    expect_value(s, a, 0, "in 3");
    expect_value(s, c, 0, "in 77");
    list_add(l, a, 0, "x");
    list_add(l, c, 0, "y");
    expect_list(l, a, 0, "x");
    expect_list(l, c, 0, "y");
    OK(rn_state_remove(s, &a, 0));
    expect_absent(s, a, 0);
    expect_value(s, c, 0, "in 77");
    struct ents es = each_all(s, 0, MP - 1);
    ck_assert_uint_eq(es.n, 1);
    ck_assert_uint_eq(es.v[0].kg, 77);
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(keys_that_prefix_each_other_are_separate)
{
    /* Empty keys, keys that are prefixes of others, and keys whose bytes continue with what
     * would be the namespace or user key of a shorter one: all distinct, all read back as
     * written by get and by each(). */
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    uint8_t keys[6][24];
    uint32_t lens[6] = {0, 1, 2, 9, 10, 17};
    memset(keys, 0, sizeof keys);
    int64_t ns1 = 1;
    for (int i = 0; i < 6; i++) {
        keys[i][0] = 'a';
        memcpy(&keys[i][1], &ns1, 8);   /* little-endian namespace bytes after 'a' */
        keys[i][9] = 'z';
    }
    for (int i = 0; i < 6; i++) {
        struct rn_state_key k = bkey(keys[i], lens[i], 5);
        char v[8];
        snprintf(v, sizeof v, "v%d", i);
        OK(rn_state_put(s, &k, 1, v, (uint32_t)strlen(v)));
        OK(rn_state_map_put(m, &k, 1, "z", 1, v, (uint32_t)strlen(v)));
    }
    for (int i = 0; i < 6; i++) {
        char v[8], w[8];
        snprintf(v, sizeof v, "v%d", i);
        snprintf(w, sizeof w, "z=v%d", i);
        expect_value(s, bkey(keys[i], lens[i], 5), 1, v);
        expect_map(m, bkey(keys[i], lens[i], 5), 1, w);
        expect_absent(s, bkey(keys[i], lens[i], 5), 0);
    }
    struct ents es = each_sorted(s, 5, 5);
    ck_assert_uint_eq(es.n, 6);
    for (size_t i = 0; i < es.n; i++) {
        /* sorted by key bytes = by length here (each key is a prefix of the next) */
        ck_assert_uint_eq(es.v[i].key_len, lens[i]);
        ck_assert_int_eq(memcmp(es.v[i].key, keys[i], lens[i]), 0);
        ck_assert_int_eq(es.v[i].ns, 1);
    }
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* reducing states                                                                            */
/* ------------------------------------------------------------------------------------------ */

START_TEST(reducing_add_sums)
{
    rn_state_backend *b = open_all();
    long calls = 0;
    rn_state *s = declare_full(b, "sum", RN_STATE_REDUCING, 8, 0, sum_i64, &calls);
    add_i64(s, skey("a"), 0, 5);
    add_i64(s, skey("a"), 0, 7);
    add_i64(s, skey("a"), 0, -2);
    add_i64(s, skey("b"), 0, 1);
    add_i64(s, skey("a"), 9, 100);
    expect_int(s, skey("a"), 0, 10);
    expect_int(s, skey("b"), 0, 1);
    expect_int(s, skey("a"), 9, 100);
    ck_assert_msg(calls >= 2, "combine_user was not passed to combine (%ld calls seen)", calls);
    /* put sets the accumulator; add continues from it */
    put_i64(s, skey("b"), 0, 1000);
    add_i64(s, skey("b"), 0, 1);
    expect_int(s, skey("b"), 0, 1001);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(reducing_add_max_stores_the_first_value_when_absent)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare_full(b, "max", RN_STATE_REDUCING, 8, 0, max_i64, NULL);
    add_i64(s, skey("a"), 0, -50);   /* not max(0, -50): the first value is stored as is */
    expect_int(s, skey("a"), 0, -50);
    add_i64(s, skey("a"), 0, -70);
    add_i64(s, skey("a"), 0, -20);
    add_i64(s, skey("a"), 0, -30);
    expect_int(s, skey("a"), 0, -20);
    add_i64(s, skey("b"), 0, INT64_MIN);
    expect_int(s, skey("b"), 0, INT64_MIN);
    add_i64(s, skey("b"), 0, INT64_MAX);
    expect_int(s, skey("b"), 0, INT64_MAX);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(reducing_add_on_a_non_reducing_state_is_refused)
{
    rn_state_backend *b = open_all();
    rn_state *kinds[] = {declare(b, "v", RN_STATE_VALUE, 8, 0), declare(b, "l", RN_STATE_LIST, 8, 0),
                         declare(b, "m", RN_STATE_MAP, 8, 0)};
    struct rn_state_key k = skey("k");
    int64_t one = 1, ns = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(rn_state_add(kinds[i], &k, 0, &one), RN_EINVAL);
        ck_assert_int_eq(rn_state_add_many(kinds[i], &k, &ns, 1, &one), RN_EINVAL);
    }
    expect_absent(kinds[0], k, 0);
    expect_list(kinds[1], k, 0, "");
    expect_map(kinds[2], k, 0, "");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(reducing_remove_restarts_the_fold)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "sum", RN_STATE_REDUCING, 8, 0);
    add_i64(s, skey("a"), 0, 5);
    struct rn_state_key a = skey("a");
    OK(rn_state_remove(s, &a, 0));
    expect_absent(s, a, 0);
    add_i64(s, a, 0, 3);
    expect_int(s, a, 0, 3);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(add_many_folds_repeated_keys_in_order)
{
    /* Thousands of (key, namespace) pairs, batches with repeats, a combine that is not
     * commutative: the result must be that of the single adds in array order. */
    enum { NK = 2500, NNS = 2, PAIRS = NK * NNS, BATCH = 6000, ROUNDS = 4 };
    rn_state_backend *b = open_all();
    rn_state *s = declare_full(b, "seq", RN_STATE_REDUCING, 8, 0, seq_u64, NULL);
    rn_state *one = declare_full(b, "seq1", RN_STATE_REDUCING, 8, 0, seq_u64, NULL);
    struct ikeys ik = make_ikeys(NK, -1000);
    uint64_t *ref = calloc(PAIRS, 8);
    bool *have = calloc(PAIRS, 1);
    struct rn_state_key *keys = malloc(BATCH * sizeof *keys);
    int64_t *ns = malloc(BATCH * 8);
    uint64_t *vals = malloc(BATCH * 8);
    ck_assert(ref && have && keys && ns && vals);
    for (int r = 0; r < ROUNDS; r++) {
        for (uint32_t i = 0; i < BATCH; i++) {
            /* a small hot set repeats often within the batch */
            uint32_t p = (i % 3 == 0) ? (uint32_t)(rnd() % 16) : (uint32_t)(rnd() % PAIRS);
            keys[i] = ik.k[p / NNS];
            ns[i] = (int64_t)(p % NNS) * 60000;
            vals[i] = rnd() % 1000;
            ref[p] = have[p] ? seq_fold(ref[p], vals[i]) : vals[i];
            have[p] = true;
            OK(rn_state_add(one, &keys[i], ns[i], &vals[i]));
        }
        OK(rn_state_add_many(s, keys, ns, BATCH, vals));
    }
    for (uint32_t p = 0; p < PAIRS; p++) {
        const void *v = NULL, *w = NULL;
        uint32_t len = 0, wl = 0;
        int64_t n = (int64_t)(p % NNS) * 60000;
        OK(rn_state_get(s, &ik.k[p / NNS], n, &v, &len));
        if (!have[p]) {
            CHECK_MSG(v == NULL, "pair %u never added but present", p);
            continue;
        }
        CHECK_MSG(v != NULL && len == 8, "pair %u: absent or %u bytes", p, len);
        uint64_t got;
        memcpy(&got, v, 8);
        CHECK_MSG(got == ref[p], "pair %u: add_many gave %" PRIu64 ", the adds in order %" PRIu64, p, got, ref[p]);
        OK(rn_state_get(one, &ik.k[p / NNS], n, &w, &wl));
        CHECK_MSG(w != NULL && wl == 8 && memcmp(w, &ref[p], 8) == 0, "pair %u: single adds differ from the reference", p);
    }
    free(ref);
    free(have);
    free(keys);
    free(ns);
    free(vals);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(get_many_reads_thousands_of_keys_with_repeats)
{
    /* Variable-size values; requests with repeats, absent keys and two namespaces. Every pointer
     * of one call must stay valid together until the next call. */
    enum { NK = 3000, REQ = 8192 };
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    struct ikeys ik = make_ikeys(NK, 0);
    char buf[64];
    for (uint32_t i = 0; i < NK; i += 2) {   /* even keys present in ns 0, multiples of 3 in ns 1 */
        int n = snprintf(buf, sizeof buf, "value-%u-%.*s", i, (int)(i % 40), "0123456789012345678901234567890123456789");
        OK(rn_state_put(s, &ik.k[i], 0, buf, (uint32_t)n));
    }
    for (uint32_t i = 0; i < NK; i += 3) {
        int n = snprintf(buf, sizeof buf, "ns1-%u", i);
        OK(rn_state_put(s, &ik.k[i], 1, buf, (uint32_t)n));
    }
    struct rn_state_key *keys = malloc(REQ * sizeof *keys);
    int64_t *ns = malloc(REQ * 8);
    uint32_t *which = malloc(REQ * 4), *lens = malloc(REQ * 4);
    const void **vals = malloc(REQ * sizeof *vals);
    ck_assert(keys && ns && which && lens && vals);
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < REQ; i++) {
            which[i] = (i % 4 == 0) ? (uint32_t)(rnd() % 8) : (uint32_t)(rnd() % NK);
            keys[i] = ik.k[which[i]];
            ns[i] = (int64_t)(rnd() % 2);
            vals[i] = (const void *)1;
        }
        OK(rn_state_get_many(s, keys, ns, REQ, vals, lens));
        for (uint32_t i = 0; i < REQ; i++) {
            uint32_t k = which[i];
            int n = -1;
            if (ns[i] == 0 && k % 2 == 0)
                n = snprintf(buf, sizeof buf, "value-%u-%.*s", k, (int)(k % 40), "0123456789012345678901234567890123456789");
            else if (ns[i] == 1 && k % 3 == 0)
                n = snprintf(buf, sizeof buf, "ns1-%u", k);
            if (n < 0) {
                CHECK_MSG(vals[i] == NULL, "request %u (key %u ns %" PRId64 "): absent but not NULL", i, k, ns[i]);
            } else {
                CHECK_MSG(vals[i] != NULL, "request %u (key %u ns %" PRId64 "): NULL", i, k, ns[i]);
                CHECK_MSG(lens[i] == (uint32_t)n && memcmp(vals[i], buf, (size_t)n) == 0,
                          "request %u (key %u ns %" PRId64 "): '%.*s', want '%s'", i, k, ns[i], (int)lens[i],
                          (const char *)vals[i], buf);
            }
        }
    }
    OK(rn_state_get_many(s, keys, ns, 0, vals, lens));
    free(keys);
    free(ns);
    free(which);
    free(lens);
    free(vals);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(get_many_of_a_reducing_state_after_add_many)
{
    enum { NK = 4096 };
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "sum", RN_STATE_REDUCING, 8, 0);
    struct ikeys ik = make_ikeys(NK, 1 << 20);
    int64_t *ns = calloc(NK, 8), *vals = malloc(NK * 8);
    const void **out = malloc(NK * sizeof *out);
    uint32_t *lens = malloc(NK * 4);
    ck_assert(ns && vals && out && lens);
    for (int r = 1; r <= 3; r++) {
        for (uint32_t i = 0; i < NK; i++) vals[i] = (int64_t)i * r;
        OK(rn_state_add_many(s, ik.k, ns, NK, vals));
    }
    OK(rn_state_get_many(s, ik.k, ns, NK, out, lens));
    for (uint32_t i = 0; i < NK; i++) {
        CHECK_MSG(out[i] && lens[i] == 8, "key %u absent or %u bytes", i, lens[i]);
        CHECK_MSG(rd64(out[i]) == (int64_t)i * 6, "key %u: %" PRId64 ", want %" PRId64, i, rd64(out[i]), (int64_t)i * 6);
    }
    free(ns);
    free(vals);
    free(out);
    free(lens);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* list states                                                                                */
/* ------------------------------------------------------------------------------------------ */

START_TEST(list_append_each_keeps_order)
{
    rn_state_backend *b = open_all();
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 0);
    static const char *els[] = {"zeta", "alpha", "", "mid", "alpha", "a much longer element than the others", "b"};
    for (size_t i = 0; i < sizeof els / sizeof els[0]; i++) list_add(l, skey("k"), 0, els[i]);
    expect_list(l, skey("k"), 0, "zeta|alpha||mid|alpha|a much longer element than the others|b");
    struct ents es = list_of(l, skey("k"), 0);
    ck_assert_uint_eq(es.n, 7);
    ck_assert_uint_eq(es.v[2].len, 0);
    ents_free(&es);
    /* a long list keeps order too */
    char v[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(v, sizeof v, "%d", 2999 - i);
        list_add(l, skey("long"), 0, v);
    }
    es = list_of(l, skey("long"), 0);
    ck_assert_uint_eq(es.n, 3000);
    for (int i = 0; i < 3000; i++) CHECK(atoi(es.v[i].val) == 2999 - i);
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(list_of_an_absent_key_is_empty)
{
    rn_state_backend *b = open_all();
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 0);
    expect_list(l, skey("nobody"), 0, "");
    list_add(l, skey("k"), 1, "x");
    expect_list(l, skey("k"), 0, "");
    expect_list(l, skey("k"), 2, "");
    expect_list(l, skey("k"), 1, "x");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(list_remove_clears)
{
    rn_state_backend *b = open_all();
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 0);
    for (int i = 0; i < 5; i++) list_add(l, skey("k"), 0, "e");
    list_add(l, skey("j"), 0, "other");
    list_add(l, skey("k"), 7, "other ns");
    struct rn_state_key k = skey("k");
    OK(rn_state_remove(l, &k, 0));
    expect_list(l, k, 0, "");
    expect_list(l, skey("j"), 0, "other");
    expect_list(l, k, 7, "other ns");
    list_add(l, k, 0, "again");
    expect_list(l, k, 0, "again");
    rn_state_backend_close(b);
}
END_TEST

static int stop_at_third(const void *val, uint32_t len, void *user)
{
    int *n = user;
    return ++*n == 3 ? 42 : 0;
}

START_TEST(list_each_stops_when_fn_returns_nonzero)
{
    rn_state_backend *b = open_all();
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 0);
    for (int i = 0; i < 10; i++) list_add(l, skey("k"), 0, "e");
    int n = 0;
    struct rn_state_key k = skey("k");
    ck_assert_int_eq(rn_state_list_each(l, &k, 0, stop_at_third, &n), 42);
    ck_assert_int_eq(n, 3);
    rn_state_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* map states                                                                                 */
/* ------------------------------------------------------------------------------------------ */

START_TEST(map_put_get_and_overwrite)
{
    rn_state_backend *b = open_all();
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    map_put(m, skey("k"), 0, "colour", "red");
    map_put(m, skey("k"), 0, "size", "");
    map_put(m, skey("k"), 0, "", "empty user key");
    map_put(m, skey("j"), 0, "colour", "blue");
    expect_map_get(m, skey("k"), 0, "colour", "red");
    expect_map_get(m, skey("k"), 0, "size", "");
    expect_map_get(m, skey("k"), 0, "", "empty user key");
    expect_map_get(m, skey("j"), 0, "colour", "blue");
    map_put(m, skey("k"), 0, "colour", "a much longer green");
    expect_map_get(m, skey("k"), 0, "colour", "a much longer green");
    expect_map(m, skey("k"), 0, "=empty user key|colour=a much longer green|size=");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(map_get_of_an_absent_user_key_is_null)
{
    rn_state_backend *b = open_all();
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    expect_map_get(m, skey("k"), 0, "x", NULL);
    map_put(m, skey("k"), 0, "ab", "1");
    expect_map_get(m, skey("k"), 0, "a", NULL);
    expect_map_get(m, skey("k"), 0, "abc", NULL);
    expect_map_get(m, skey("k"), 1, "ab", NULL);
    expect_map_get(m, skey("j"), 0, "ab", NULL);
    expect_map(m, skey("nobody"), 0, "");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(map_remove_of_one_user_key)
{
    rn_state_backend *b = open_all();
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    map_put(m, skey("k"), 0, "a", "1");
    map_put(m, skey("k"), 0, "b", "2");
    map_put(m, skey("k"), 0, "c", "3");
    struct rn_state_key k = skey("k");
    OK(rn_state_map_remove(m, &k, 0, "b", 1));
    expect_map_get(m, k, 0, "b", NULL);
    expect_map(m, k, 0, "a=1|c=3");
    OK(rn_state_map_remove(m, &k, 0, "nothing", 7));   /* absent user key: fine */
    OK(rn_state_map_remove(m, &k, 0, "a", 1));
    OK(rn_state_map_remove(m, &k, 0, "c", 1));
    expect_map(m, k, 0, "");
    map_put(m, k, 0, "b", "again");
    expect_map(m, k, 0, "b=again");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(map_each_is_in_user_key_byte_order)
{
    rn_state_backend *b = open_all();
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    /* inserted out of order; bytes >= 0x80 sort after ASCII (unsigned), prefixes first */
    static const char *mk[] = {"b", "\xff", "ab", "a", "\x80x", "B", "abc", "aa", "\x01", "ba", "zz"};
    enum { N = sizeof mk / sizeof mk[0] };
    for (int i = 0; i < N; i++) map_put(m, skey("k"), 0, mk[i], "v");
    /* a user key with a NUL byte in it */
    struct rn_state_key k = skey("k");
    OK(rn_state_map_put(m, &k, 0, "a\0b", 3, "nul", 3));
    struct ents es = map_of(m, k, 0);
    ck_assert_uint_eq(es.n, N + 1);
    static const char *want[] = {"\x01", "B", "a", "a\0b", "aa", "ab", "abc", "b", "ba", "zz", "\x80x", "\xff"};
    static const uint32_t wl[] = {1, 1, 1, 3, 2, 2, 3, 1, 2, 2, 2, 1};
    for (size_t i = 0; i < es.n; i++)
        ck_assert_msg(es.v[i].mkey_len == wl[i] && memcmp(es.v[i].mkey, want[i], wl[i]) == 0,
                      "position %zu: user key '%.*s' (%u bytes), want '%.*s'", i, (int)es.v[i].mkey_len, es.v[i].mkey,
                      es.v[i].mkey_len, (int)wl[i], want[i]);
    ck_assert_str_eq(es.v[3].val, "nul");
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(map_remove_of_the_key_clears_the_whole_map)
{
    rn_state_backend *b = open_all();
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    map_put(m, skey("k"), 0, "a", "1");
    map_put(m, skey("k"), 0, "b", "2");
    map_put(m, skey("k"), 5, "a", "other ns");
    map_put(m, skey("j"), 0, "a", "other key");
    struct rn_state_key k = skey("k");
    OK(rn_state_remove(m, &k, 0));
    expect_map(m, k, 0, "");
    expect_map_get(m, k, 0, "a", NULL);
    expect_map(m, k, 5, "a=other ns");
    expect_map(m, skey("j"), 0, "a=other key");
    rn_state_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* time-to-live (fake clock)                                                                  */
/* ------------------------------------------------------------------------------------------ */

START_TEST(ttl_value_expires_exactly_ttl_ms_after_its_write)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "t", RN_STATE_VALUE, 0, 100);
    fake_now = 1000;
    put_str(s, skey("k"), 0, "v");
    fake_now = 1050;
    put_str(s, skey("j"), 0, "w");
    fake_now = 1099;
    expect_value(s, skey("k"), 0, "v");
    fake_now = 1100;
    expect_absent(s, skey("k"), 0);
    expect_value(s, skey("j"), 0, "w");
    fake_now = 1149;
    expect_value(s, skey("j"), 0, "w");
    fake_now = 1150;
    expect_absent(s, skey("j"), 0);
    /* never returned again, even if the clock went back */
    fake_now = 1000;
    expect_absent(s, skey("k"), 0);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_overwrite_refreshes)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "t", RN_STATE_VALUE, 0, 100);
    put_str(s, skey("k"), 0, "first");
    fake_now = 1080;
    put_str(s, skey("k"), 0, "second");
    fake_now = 1179;
    expect_value(s, skey("k"), 0, "second");
    fake_now = 1180;
    expect_absent(s, skey("k"), 0);
    /* a put after expiry starts afresh */
    put_str(s, skey("k"), 0, "third");
    fake_now = 1279;
    expect_value(s, skey("k"), 0, "third");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_zero_never_expires)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "forever", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("k"), 0, "v");
    fake_now = INT64_MAX / 2;
    expect_value(s, skey("k"), 0, "v");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_add_refreshes_and_never_folds_into_an_expired_value)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "sum", RN_STATE_REDUCING, 8, 100);
    add_i64(s, skey("k"), 0, 5);
    fake_now = 1090;
    add_i64(s, skey("k"), 0, 1);   /* a write: refreshes */
    fake_now = 1189;
    expect_int(s, skey("k"), 0, 6);
    fake_now = 1190;
    expect_absent(s, skey("k"), 0);
    add_i64(s, skey("k"), 0, 7);   /* folds into nothing: 7, not 13 */
    expect_int(s, skey("k"), 0, 7);
    /* the batch form too */
    fake_now = 2000;
    struct rn_state_key k = skey("k");
    int64_t ns = 0, v = 100;
    OK(rn_state_add_many(s, &k, &ns, 1, &v));
    expect_int(s, k, 0, 100);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_expired_values_are_invisible_to_each_and_each_in_namespace)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "t", RN_STATE_VALUE, 8, 100);
    struct ikeys ik = make_ikeys(200, 0);
    for (uint32_t i = 0; i < 100; i++) OK(rn_state_put(s, &ik.k[i], 7, &ik.v[i], 8));
    fake_now = 1050;
    for (uint32_t i = 100; i < 200; i++) OK(rn_state_put(s, &ik.k[i], 7, &ik.v[i], 8));
    fake_now = 1100;
    struct ents es = each_all(s, 0, MP - 1);
    ck_assert_uint_eq(es.n, 100);
    for (size_t i = 0; i < es.n; i++) CHECK(rd64(es.v[i].val) >= 100);
    ents_free(&es);
    OK(rn_state_each_in_namespace(s, 7, collect_entry, &es));
    ck_assert_uint_eq(es.n, 100);
    for (size_t i = 0; i < es.n; i++) CHECK(rd64(es.v[i].val) >= 100 && es.v[i].ns == 7);
    ents_free(&es);
    fake_now = 1150;
    es = each_all(s, 0, MP - 1);
    ck_assert_uint_eq(es.n, 0);
    ents_free(&es);
    OK(rn_state_each_in_namespace(s, 7, collect_entry, &es));
    ck_assert_uint_eq(es.n, 0);
    ents_free(&es);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_expired_list_and_map_entries_are_invisible)
{
    rn_state_backend *b = open_all();
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 100);
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 100);
    list_add(l, skey("k"), 0, "a");
    list_add(l, skey("k"), 0, "b");
    map_put(m, skey("k"), 0, "x", "1");
    map_put(m, skey("k"), 0, "y", "2");
    fake_now = 1099;
    expect_list(l, skey("k"), 0, "a|b");
    expect_map(m, skey("k"), 0, "x=1|y=2");
    expect_map_get(m, skey("k"), 0, "x", "1");
    fake_now = 1100;
    expect_list(l, skey("k"), 0, "");
    expect_map(m, skey("k"), 0, "");
    expect_map_get(m, skey("k"), 0, "x", NULL);
    struct ents es = each_all(l, 0, MP - 1);
    ck_assert_uint_eq(es.n, 0);
    ents_free(&es);
    es = each_all(m, 0, MP - 1);
    ck_assert_uint_eq(es.n, 0);
    ents_free(&es);
    /* a later write brings none of the expired entries back */
    list_add(l, skey("k"), 0, "c");
    map_put(m, skey("k"), 0, "z", "3");
    expect_list(l, skey("k"), 0, "c");
    expect_map(m, skey("k"), 0, "z=3");
    expect_map_get(m, skey("k"), 0, "y", NULL);
    es = each_all(l, 0, MP - 1);
    ck_assert_uint_eq(es.n, 1);
    ents_free(&es);
    es = each_all(m, 0, MP - 1);
    ck_assert_uint_eq(es.n, 1);
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_list_elements_expire_each_ttl_ms_after_its_append)
{
    /* A list holds values; each value expires ttl ms after it was written (appended): a later
     * append does not keep earlier elements alive. */
    rn_state_backend *b = open_all();
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 100);
    list_add(l, skey("k"), 0, "a");
    fake_now = 1050;
    list_add(l, skey("k"), 0, "b");
    fake_now = 1099;
    expect_list(l, skey("k"), 0, "a|b");
    fake_now = 1100;
    expect_list(l, skey("k"), 0, "b");
    struct ents es = each_all(l, 0, MP - 1);
    ck_assert_uint_eq(es.n, 1);
    ck_assert_str_eq(es.v[0].val, "b");
    ents_free(&es);
    fake_now = 1149;
    expect_list(l, skey("k"), 0, "b");
    fake_now = 1150;
    expect_list(l, skey("k"), 0, "");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_map_entries_expire_each_ttl_ms_after_their_put)
{
    rn_state_backend *b = open_all();
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 100);
    map_put(m, skey("k"), 0, "x", "1");
    map_put(m, skey("k"), 0, "y", "2");
    fake_now = 1060;
    map_put(m, skey("k"), 0, "y", "3");   /* refreshes y only */
    map_put(m, skey("k"), 0, "z", "4");
    fake_now = 1100;
    expect_map_get(m, skey("k"), 0, "x", NULL);
    expect_map(m, skey("k"), 0, "y=3|z=4");
    fake_now = 1159;
    expect_map_get(m, skey("k"), 0, "y", "3");
    fake_now = 1160;
    expect_map(m, skey("k"), 0, "");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(ttl_get_many_does_not_return_expired_values)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "t", RN_STATE_REDUCING, 8, 100);
    struct ikeys ik = make_ikeys(1000, 0);
    int64_t *ns = calloc(1000, 8);
    const void **vals = malloc(1000 * sizeof *vals);
    uint32_t *lens = malloc(1000 * 4);
    ck_assert(ns && vals && lens);
    OK(rn_state_add_many(s, ik.k, ns, 500, ik.v));
    fake_now = 1060;
    OK(rn_state_add_many(s, ik.k + 500, ns, 500, ik.v + 500));
    fake_now = 1100;
    OK(rn_state_get_many(s, ik.k, ns, 1000, vals, lens));
    for (uint32_t i = 0; i < 1000; i++) {
        if (i < 500) CHECK_MSG(vals[i] == NULL, "key %u expired at 1100 but returned", i);
        else CHECK_MSG(vals[i] && rd64(vals[i]) == (int64_t)i, "key %u lost", i);
    }
    free(ns);
    free(vals);
    free(lens);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* iteration                                                                                  */
/* ------------------------------------------------------------------------------------------ */

START_TEST(each_visits_the_requested_key_groups_in_order_exactly_once)
{
    enum { NK = 5000 };
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 8, 0);
    struct ikeys ik = make_ikeys(NK, 77);
    for (uint32_t i = 0; i < NK; i++) {
        OK(rn_state_put(s, &ik.k[i], 0, &ik.v[i], 8));
        if (i % 5 == 0) OK(rn_state_put(s, &ik.k[i], -3, &ik.v[i], 8));
    }
    static const uint32_t ranges[][2] = {{0, MP - 1}, {10, 20}, {0, 0}, {MP - 1, MP - 1}, {64, 127}, {33, 33}};
    uint8_t *seen = malloc(NK * 2);
    ck_assert(seen);
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
        uint32_t lo = ranges[r][0], hi = ranges[r][1];
        struct ents es = each_all(s, lo, hi);
        memset(seen, 0, NK * 2);
        for (size_t i = 0; i < es.n; i++) {
            const struct ent *e = &es.v[i];
            CHECK_MSG(e->kg >= lo && e->kg <= hi, "range [%u,%u]: entry of key group %u", lo, hi, e->kg);
            CHECK_MSG(i == 0 || es.v[i - 1].kg <= e->kg, "range [%u,%u]: key group %u after %u", lo, hi, e->kg,
                      es.v[i - 1].kg);
            CHECK(e->key_len == 8 && !e->has_mkey && e->len == 8);
            int64_t kv = rd64(e->key);
            CHECK(kv >= 77 && kv < 77 + NK);
            uint32_t idx = (uint32_t)(kv - 77);
            CHECK_MSG(e->kg == ik.k[idx].key_group, "key %" PRId64 " reported in key group %u, stored in %u", kv, e->kg,
                      ik.k[idx].key_group);
            CHECK(rd64(e->val) == kv);
            CHECK(e->ns == 0 || e->ns == -3);
            uint32_t slot = idx * 2 + (e->ns == -3);
            CHECK_MSG(!seen[slot], "key %" PRId64 " ns %" PRId64 " seen twice", kv, e->ns);
            seen[slot] = 1;
        }
        for (uint32_t i = 0; i < NK; i++) {
            bool in = ik.k[i].key_group >= lo && ik.k[i].key_group <= hi;
            CHECK_MSG(seen[i * 2] == in, "range [%u,%u]: key %u (group %u) %s", lo, hi, i, ik.k[i].key_group,
                      in ? "missed" : "reported");
            CHECK(seen[i * 2 + 1] == (in && i % 5 == 0));
        }
        ents_free(&es);
    }
    free(seen);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(each_reports_list_elements_and_map_entries)
{
    rn_state_backend *b = open_all();
    rn_state *l = declare(b, "l", RN_STATE_LIST, 0, 0);
    rn_state *m = declare(b, "m", RN_STATE_MAP, 0, 0);
    rn_state *r = declare(b, "r", RN_STATE_REDUCING, 8, 0);
    list_add(l, skey("k"), 4, "one");
    list_add(l, skey("k"), 4, "two");
    list_add(l, skey("k"), 4, "three");
    list_add(l, skey("j"), 0, "");
    map_put(m, skey("k"), 4, "b", "2");
    map_put(m, skey("k"), 4, "a", "1");
    map_put(m, skey("j"), 0, "", "e");
    add_i64(r, skey("k"), 0, 9);

    struct ents es = each_all(l, 0, MP - 1);
    ck_assert_uint_eq(es.n, 4);
    int ones = 0;
    for (size_t i = 0; i < es.n; i++) {
        ck_assert_msg(!es.v[i].has_mkey, "list entries have mkey NULL");
        if (es.v[i].key_len == 1 && es.v[i].key[0] == 'k') {
            ck_assert_int_eq(es.v[i].ns, 4);
            ck_assert_uint_eq(es.v[i].kg, skey("k").key_group);
            ones += !strcmp(es.v[i].val, "one") + !strcmp(es.v[i].val, "two") + !strcmp(es.v[i].val, "three");
        } else {
            ck_assert_int_eq(es.v[i].len, 0);
        }
    }
    ck_assert_int_eq(ones, 3);
    ents_free(&es);

    es = each_sorted(m, 0, MP - 1);
    ck_assert_uint_eq(es.n, 3);
    for (size_t i = 0; i < es.n; i++) ck_assert_msg(es.v[i].has_mkey, "map entries carry their user key");
    int found = 0;
    for (size_t i = 0; i < es.n; i++) {
        const struct ent *e = &es.v[i];
        if (e->key[0] == 'k' && e->ns == 4 && !strcmp(e->mkey, "a") && !strcmp(e->val, "1")) found++;
        if (e->key[0] == 'k' && e->ns == 4 && !strcmp(e->mkey, "b") && !strcmp(e->val, "2")) found++;
        if (e->key[0] == 'j' && e->ns == 0 && e->mkey_len == 0 && !strcmp(e->val, "e")) found++;
    }
    ck_assert_int_eq(found, 3);
    ents_free(&es);

    es = each_all(r, 0, MP - 1);
    ck_assert_uint_eq(es.n, 1);
    ck_assert(!es.v[0].has_mkey);
    ck_assert_int_eq(rd64(es.v[0].val), 9);
    ents_free(&es);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(each_in_namespace_visits_the_keys_of_that_namespace)
{
    enum { NK = 3000 };
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "w", RN_STATE_REDUCING, 8, 0);
    struct ikeys ik = make_ikeys(NK, 0);
    for (uint32_t i = 0; i < NK; i++) {
        int64_t window = (int64_t)(i % 3) * 10000 - 10000;   /* -10000, 0, 10000 */
        OK(rn_state_add(s, &ik.k[i], window, &ik.v[i]));
        if (i % 7 == 0) OK(rn_state_add(s, &ik.k[i], INT64_MAX, &ik.v[i]));
    }
    uint8_t *seen = calloc(NK, 1);
    ck_assert(seen);
    static const int64_t windows[] = {-10000, 0, 10000, INT64_MAX, 5};
    for (int w = 0; w < 5; w++) {
        struct ents es = {0};
        OK(rn_state_each_in_namespace(s, windows[w], collect_entry, &es));
        memset(seen, 0, NK);
        for (size_t i = 0; i < es.n; i++) {
            const struct ent *e = &es.v[i];
            CHECK(e->ns == windows[w] && e->key_len == 8 && e->len == 8);
            int64_t kv = rd64(e->key);
            CHECK(kv >= 0 && kv < NK && !seen[kv]);
            seen[kv] = 1;
            CHECK(e->kg == ik.k[kv].key_group);
            CHECK(rd64(e->val) == kv);
        }
        for (uint32_t i = 0; i < NK; i++) {
            bool want = windows[w] == INT64_MAX ? i % 7 == 0 : (int64_t)(i % 3) * 10000 - 10000 == windows[w];
            CHECK_MSG(seen[i] == want, "namespace %" PRId64 ": key %u %s", windows[w], i, want ? "missed" : "reported");
        }
        ents_free(&es);
    }
    /* after a window is cleared key by key, nothing of it remains */
    for (uint32_t i = 0; i < NK; i += 3) OK(rn_state_remove(s, &ik.k[i], -10000));
    struct ents es = {0};
    OK(rn_state_each_in_namespace(s, -10000, collect_entry, &es));
    ck_assert_uint_eq(es.n, 0);
    ents_free(&es);
    free(seen);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* snapshots and restores                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* Fills the states of every kind with keys spread over [first, last] (keys whose key group is
 * outside are skipped); returns how many keys were used. */
struct all_states {
    rn_state *v, *f, *r, *l, *m, *t;
};
static struct all_states declare_all(rn_state_backend *b)
{
    struct all_states a;
    a.v = declare(b, "value", RN_STATE_VALUE, 0, 0);
    a.f = declare(b, "fixed", RN_STATE_VALUE, 8, 0);
    a.r = declare(b, "sum", RN_STATE_REDUCING, 8, 0);
    a.l = declare(b, "list", RN_STATE_LIST, 0, 0);
    a.m = declare(b, "map", RN_STATE_MAP, 0, 0);
    a.t = declare(b, "ttl", RN_STATE_VALUE, 0, 1000);
    return a;
}
static void fill_all(const struct all_states *a, const struct ikeys *ik, uint32_t first, uint32_t last)
{
    char buf[64];
    for (uint32_t i = 0; i < ik->n; i++) {
        const struct rn_state_key *k = &ik->k[i];
        if (k->key_group < first || k->key_group > last) continue;
        int n = snprintf(buf, sizeof buf, "v%" PRId64 "%.*s", ik->v[i], (int)(i % 20), "xxxxxxxxxxxxxxxxxxxx");
        OK(rn_state_put(a->v, k, (int64_t)(i % 4), buf, (uint32_t)n));
        OK(rn_state_put(a->f, k, 0, &ik->v[i], 8));
        OK(rn_state_add(a->r, k, 0, &ik->v[i]));
        OK(rn_state_add(a->r, k, 0, &ik->v[i]));
        for (uint32_t e = 0; e < i % 4; e++) {
            n = snprintf(buf, sizeof buf, "e%u", e);
            OK(rn_state_list_append(a->l, k, 9, buf, (uint32_t)n));
        }
        for (uint32_t e = 0; e < i % 3; e++) {
            char mk[16];
            int ml = snprintf(mk, sizeof mk, "m%u", 2 - e);
            n = snprintf(buf, sizeof buf, "%" PRId64 ":%u", ik->v[i], e);
            OK(rn_state_map_put(a->m, k, 1, mk, (uint32_t)ml, buf, (uint32_t)n));
        }
        OK(rn_state_put(a->t, k, 0, "t", i % 2));
    }
}
/* Every state's entries, canonically sorted, one ents per state. */
static void dump_all(const struct all_states *a, uint32_t first, uint32_t last, struct ents out[6])
{
    rn_state *s[6] = {a->v, a->f, a->r, a->l, a->m, a->t};
    for (int i = 0; i < 6; i++) out[i] = each_sorted(s[i], first, last);
}
static void free_dump(struct ents d[6])
{
    for (int i = 0; i < 6; i++) ents_free(&d[i]);
}
static void expect_same_dump(struct ents want[6], struct ents got[6])
{
    static const char *names[6] = {"value", "fixed", "sum", "list", "map", "ttl"};
    for (int i = 0; i < 6; i++) expect_same_ents(&want[i], &got[i], names[i]);
}

START_TEST(snapshot_then_restore_gives_the_same_contents)
{
    rn_state_backend *b = open_all();
    struct all_states a = declare_all(b);
    struct ikeys ik = make_ikeys(2000, 500);
    fill_all(&a, &ik, 0, MP - 1);
    struct ents before[6];
    dump_all(&a, 0, MP - 1, before);
    for (int i = 0; i < 6; i++) ck_assert_uint_gt(before[i].n, 0);
    const char *snap = fresh_path("snap");
    snapshot_ok(b, snap);
    rn_state_backend_close(b);   /* the snapshot survives the backend */

    rn_state_backend *r = restore_range(0, MP - 1, &snap, 1);
    struct all_states c = declare_all(r);
    struct ents after[6];
    dump_all(&c, 0, MP - 1, after);
    expect_same_dump(before, after);
    /* list order and map order per key, and the restored reducing state keeps folding */
    for (uint32_t i = 0; i < 40; i++) {
        struct ents x = list_of(c.l, ik.k[i], 9);
        ck_assert_uint_eq(x.n, i % 4);
        for (size_t e = 0; e < x.n; e++) {
            char w[24];
            snprintf(w, sizeof w, "e%zu", e);
            ck_assert_str_eq(x.v[e].val, w);
        }
        ents_free(&x);
        x = map_of(c.m, ik.k[i], 1);
        ck_assert_uint_eq(x.n, i % 3);
        for (size_t e = 1; e < x.n; e++) ck_assert_int_lt(strcmp(x.v[e - 1].mkey, x.v[e].mkey), 0);
        ents_free(&x);
        add_i64(c.r, ik.k[i], 0, 1);
        expect_int(c.r, ik.k[i], 0, 2 * ik.v[i] + 1);
    }
    free_dump(before);
    free_dump(after);
    free_ikeys(&ik);
    rn_state_backend_close(r);
}
END_TEST

START_TEST(snapshot_keeps_ttl_relative_to_the_clock)
{
    rn_state_backend *b = open_all();
    rn_state *t = declare(b, "t", RN_STATE_VALUE, 0, 100);
    rn_state *tl = declare(b, "tl", RN_STATE_LIST, 0, 100);
    rn_state *tm = declare(b, "tm", RN_STATE_MAP, 0, 100);
    fake_now = 1000;
    put_str(t, skey("early"), 0, "e");
    list_add(tl, skey("early"), 0, "e");
    map_put(tm, skey("early"), 0, "mk", "e");
    fake_now = 1030;
    put_str(t, skey("late"), 0, "l");
    fake_now = 900;
    put_str(t, skey("gone"), 0, "g");   /* expired (at 1000) before the snapshot */
    fake_now = 1040;
    const char *snap = fresh_path("snap");
    snapshot_ok(b, snap);
    rn_state_backend_close(b);

    fake_now = 1060;
    rn_state_backend *r = restore_range(0, MP - 1, &snap, 1);
    t = declare(r, "t", RN_STATE_VALUE, 0, 100);
    tl = declare(r, "tl", RN_STATE_LIST, 0, 100);
    tm = declare(r, "tm", RN_STATE_MAP, 0, 100);
    expect_absent(t, skey("gone"), 0);
    expect_value(t, skey("early"), 0, "e");
    fake_now = 1099;
    expect_value(t, skey("early"), 0, "e");
    expect_list(tl, skey("early"), 0, "e");
    expect_map(tm, skey("early"), 0, "mk=e");
    fake_now = 1100;   /* 100 ms after the write, as without the snapshot: neither reset nor lost */
    expect_absent(t, skey("early"), 0);
    expect_list(tl, skey("early"), 0, "");
    expect_map(tm, skey("early"), 0, "");
    expect_value(t, skey("late"), 0, "l");
    fake_now = 1129;
    expect_value(t, skey("late"), 0, "l");
    fake_now = 1130;
    expect_absent(t, skey("late"), 0);
    rn_state_backend_close(r);
}
END_TEST

START_TEST(snapshot_is_unchanged_by_later_writes_and_restores)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("a"), 0, "at snapshot");
    put_str(s, skey("b"), 0, "at snapshot");
    const char *snap = fresh_path("snap");
    snapshot_ok(b, snap);
    put_str(s, skey("a"), 0, "after");
    struct rn_state_key bk = skey("b");
    OK(rn_state_remove(s, &bk, 0));
    put_str(s, skey("c"), 0, "after");
    for (int round = 0; round < 2; round++) {
        rn_state_backend *r = restore_range(0, MP - 1, &snap, 1);
        rn_state *rs = declare(r, "v", RN_STATE_VALUE, 0, 0);
        expect_value(rs, skey("a"), 0, "at snapshot");
        expect_value(rs, skey("b"), 0, "at snapshot");
        expect_absent(rs, skey("c"), 0);
        /* writes to the restored backend do not reach the snapshot either */
        put_str(rs, skey("a"), 0, "restored and changed");
        put_str(rs, skey("d"), 0, "new");
        rn_state_backend_close(r);
    }
    expect_value(s, skey("a"), 0, "after");
    rn_state_backend_close(b);
}
END_TEST

START_TEST(snapshot_files_lists_the_rocksdb_sst_files)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 8, 0);
    struct ikeys ik = make_ikeys(5000, 0);
    for (uint32_t i = 0; i < ik.n; i++) OK(rn_state_put(s, &ik.k[i], 0, &ik.v[i], 8));
    const char *snap = fresh_path("snap");
    snapshot_ok(b, snap);
    char **names = NULL;
    size_t n = 99;
    struct rn_error err = {0};
    int rc = rn_state_snapshot_files(snap, &names, &n, &err);
    ck_assert_msg(rc == 0, "snapshot_files: %d %s", rc, err.msg);
    if (g_kind == RN_STATE_MEMORY) {
        ck_assert_uint_eq(n, 0);
    } else {
        ck_assert_msg(n > 0, "a rocksdb snapshot of 5000 keys lists no SST file");
        for (size_t i = 0; i < n; i++) {
            char *p = tu_fmt("%s/%s", snap, names[i]);
            struct stat st;
            ck_assert_msg(stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0, "listed file %s is not there", p);
            size_t l = strlen(names[i]);
            ck_assert_msg(l > 4 && strcmp(names[i] + l - 4, ".sst") == 0, "listed file %s is not an SST file", names[i]);
            free(p);
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(restore_with_a_narrower_range_drops_the_other_key_groups)
{
    rn_state_backend *b = open_all();
    struct all_states a = declare_all(b);
    struct ikeys ik = make_ikeys(3000, 0);
    fill_all(&a, &ik, 0, MP - 1);
    struct ents lo_want[6], hi_want[6];
    dump_all(&a, 0, 63, lo_want);
    dump_all(&a, 64, MP - 1, hi_want);
    const char *snap = fresh_path("snap");
    snapshot_ok(b, snap);
    rn_state_backend_close(b);
    /* 1 -> 2 subtasks: each takes its half */
    uint32_t ranges[2][2] = {{0, 63}, {64, MP - 1}};
    for (int h = 0; h < 2; h++) {
        rn_state_backend *r = restore_range(ranges[h][0], ranges[h][1], &snap, 1);
        struct all_states c = declare_all(r);
        struct ents got[6];
        dump_all(&c, ranges[h][0], ranges[h][1], got);
        expect_same_dump(h ? hi_want : lo_want, got);
        /* iterating every key group finds nothing of the other half either */
        struct ents all[6];
        dump_all(&c, 0, MP - 1, all);
        expect_same_dump(h ? hi_want : lo_want, all);
        free_dump(all);
        if (g_kind == RN_STATE_MEMORY) {
            /* nothing of the other half is stored */
            uint64_t n = 0;
            for (int i = 0; i < 6; i++)
                if (i != 3 && i != 4) n += got[i].n;   /* one entry per (key, ns) for value and reducing */
            uint64_t lists = 0, maps = 0;
            for (uint32_t i = 0; i < ik.n; i++) {
                if (ik.k[i].key_group < ranges[h][0] || ik.k[i].key_group > ranges[h][1]) continue;
                lists += i % 4 != 0;
                maps += i % 3 != 0;
            }
            uint64_t e = rn_state_backend_entries(r);
            ck_assert_msg(e >= n + lists + maps && e <= n + got[3].n + got[4].n,
                          "entries() is %" PRIu64 ": the dropped key groups seem to be kept (want %" PRIu64 "..%" PRIu64 ")",
                          e, n + lists + maps, n + (uint64_t)got[3].n + got[4].n);
        }
        free_dump(got);
        rn_state_backend_close(r);
    }
    free_dump(lo_want);
    free_dump(hi_want);
    free_ikeys(&ik);
}
END_TEST

START_TEST(restore_merges_snapshots_of_disjoint_ranges)
{
    /* 2 -> 1 subtasks */
    rn_state_backend *b1 = open_range(0, 63), *b2 = open_range(64, MP - 1);
    struct all_states a1 = declare_all(b1), a2 = declare_all(b2);
    struct ikeys ik = make_ikeys(3000, 10);
    fill_all(&a1, &ik, 0, 63);
    fill_all(&a2, &ik, 64, MP - 1);
    struct ents w1[6], w2[6];
    dump_all(&a1, 0, 63, w1);
    dump_all(&a2, 64, MP - 1, w2);
    const char *snaps[2] = {fresh_path("snap"), fresh_path("snap")};
    snapshot_ok(b1, snaps[0]);
    snapshot_ok(b2, snaps[1]);
    rn_state_backend_close(b1);
    rn_state_backend_close(b2);

    rn_state_backend *r = restore_range(0, MP - 1, snaps, 2);
    struct all_states c = declare_all(r);
    struct ents got1[6], got2[6];
    dump_all(&c, 0, 63, got1);
    dump_all(&c, 64, MP - 1, got2);
    expect_same_dump(w1, got1);
    expect_same_dump(w2, got2);
    for (uint32_t i = 0; i < ik.n; i += 97) expect_int(c.r, ik.k[i], 0, 2 * ik.v[i]);
    /* and in the other order of the directories */
    rn_state_backend *r2 = NULL;
    const char *rev[2] = {snaps[1], snaps[0]};
    rn_state_backend_close(r);
    r2 = restore_range(0, MP - 1, rev, 2);
    struct all_states d = declare_all(r2);
    free_dump(got1);
    dump_all(&d, 0, 63, got1);
    expect_same_dump(w1, got1);
    free_dump(w1);
    free_dump(w2);
    free_dump(got1);
    free_dump(got2);
    free_ikeys(&ik);
    rn_state_backend_close(r2);
}
END_TEST

START_TEST(snapshot_into_an_existing_directory_is_refused)
{
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 0, 0);
    put_str(s, skey("k"), 0, "v");
    const char *dir = fresh_path("snap");
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    char *inside = keep(tu_fmt("%s/mine", dir));
    tu_write_file(inside, "keep me");
    struct rn_error err = {0};
    int rc = rn_state_snapshot(b, dir, &err);
    ck_assert_msg(rc < 0, "snapshot into an existing directory returned %d", rc);
    ck_assert_msg(err.msg[0], "no message");
    char *still = tu_slurp(inside);
    ck_assert_msg(still && !strcmp(still, "keep me"), "the directory's file was changed");
    free(still);
    char *manifest = keep(tu_fmt("%s/RUNNEL-STATE", dir));
    struct stat st;
    ck_assert_msg(stat(manifest, &st) != 0, "a manifest was written into the existing directory");
    /* the backend still works and can snapshot elsewhere */
    expect_value(s, skey("k"), 0, "v");
    snapshot_ok(b, fresh_path("snap"));
    rn_state_backend_close(b);
}
END_TEST

/* Restores from dirs and expects an error whose message names `names`. */
static void expect_restore_fails(const char *const *dirs, size_t n, const char *names, bool corrupt_or_io)
{
    struct rn_state_config c = config(0, MP - 1);
    struct rn_error err = {0};
    rn_state_backend *b = (rn_state_backend *)1;
    int rc = rn_state_backend_restore(&c, dirs, n, &b, &err);
    if (rc == 0) {
        /* say how far it got: a state that fails only when declared is still a failure here */
        struct rn_state_desc d = {.name = "v", .kind = RN_STATE_VALUE};
        rn_state *s = NULL;
        struct rn_error derr = {0};
        int drc = rn_state_declare(b, &d, &s, &derr);
        rn_state_backend_close(b);
        ck_abort_msg("restore from %s succeeded (declaring then returned %d '%s')", names, drc, derr.msg);
    }
    ck_assert_ptr_null(b);
    if (corrupt_or_io)
        ck_assert_msg(rc == RN_ECORRUPT || rc == RN_EIO, "restore returned %d (%s), want RN_ECORRUPT or RN_EIO", rc,
                      rn_strerror(rc));
    else
        ck_assert_msg(rc < 0, "restore returned %d", rc);
    ck_assert_msg(strstr(err.msg, names), "message '%s' does not name %s", err.msg, names);
}

/* A snapshot with a little of every kind in it; closes its backend. */
static const char *make_snapshot(void)
{
    rn_state_backend *b = open_all();
    struct all_states a = declare_all(b);
    struct ikeys ik = make_ikeys(3000, 0);
    fill_all(&a, &ik, 0, MP - 1);
    const char *snap = fresh_path("snap");
    snapshot_ok(b, snap);
    rn_state_backend_close(b);
    free_ikeys(&ik);
    return snap;
}

START_TEST(restore_from_a_missing_directory_names_it)
{
    const char *dir = fresh_path("nothing-here");
    expect_restore_fails(&dir, 1, dir, true);
    /* one good and one missing */
    const char *dirs[2] = {make_snapshot(), dir};
    expect_restore_fails(dirs, 2, dir, true);
}
END_TEST

START_TEST(restore_from_a_truncated_manifest_names_it)
{
    const char *snap = make_snapshot();
    char *m = keep(tu_fmt("%s/RUNNEL-STATE", snap));
    char *text = tu_slurp(m);
    ck_assert_msg(text != NULL, "no manifest %s", m);
    size_t len = strlen(text);
    static const size_t cuts[] = {0, 5, 12, 30};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (cuts[i] >= len) continue;
        text[cuts[i]] = 0;
        unlink(m);
        tu_write_file(m, text);
        expect_restore_fails(&snap, 1, snap, true);
    }
    free(text);
}
END_TEST

START_TEST(restore_from_a_snapshot_of_the_other_backend_is_refused)
{
    enum rn_state_backend_kind mine = g_kind;
    g_kind = mine == RN_STATE_MEMORY ? RN_STATE_ROCKSDB : RN_STATE_MEMORY;
    const char *snap = make_snapshot();
    g_kind = mine;
    expect_restore_fails(&snap, 1, snap, false);
}
END_TEST

START_TEST(restore_with_another_max_parallelism_is_refused)
{
    const char *snap = make_snapshot();
    struct rn_state_config c = config(0, 63);
    c.max_parallelism = 64;
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    int rc = rn_state_backend_restore(&c, &snap, 1, &b, &err);
    ck_assert_msg(rc < 0, "restore at another max_parallelism returned %d", rc);
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(err.msg, snap), "message '%s' does not name %s", err.msg, snap);
}
END_TEST

/* Rewrites every file of a snapshot except the manifest (as new files: the originals may be
 * hard links into a live database): garbage, or the first half of the original. */
static int damage_mode, damaged;
static int damage_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    if (type != FTW_F || strcmp(path + ftw->base, "RUNNEL-STATE") == 0) return 0;
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    size_t size = (size_t)st->st_size;
    char *buf = malloc(size + 1);
    ck_assert(buf);
    ck_assert(fread(buf, 1, size, f) == size);
    fclose(f);
    ck_assert_int_eq(unlink(path), 0);
    f = fopen(path, "wb");
    ck_assert(f != NULL);
    if (damage_mode == 0) {
        size_t n = size < 64 ? 64 : size;
        for (size_t i = 0; i < n; i++) fputc((int)(rnd() & 0xff), f);
    } else {
        ck_assert(fwrite(buf, 1, size / 2, f) == size / 2);
    }
    fclose(f);
    free(buf);
    damaged++;
    return 0;
}
static void damage_snapshot(const char *dir, int mode)
{
    damage_mode = mode;
    damaged = 0;
    ck_assert_int_eq(nftw(dir, damage_one, 16, FTW_PHYS), 0);
    ck_assert_msg(damaged > 0, "the snapshot %s has no state files", dir);
}

START_TEST(restore_from_garbage_state_files_names_the_snapshot)
{
    const char *snap = make_snapshot();
    damage_snapshot(snap, 0);
    expect_restore_fails(&snap, 1, snap, true);
}
END_TEST

START_TEST(restore_from_truncated_state_files_names_the_snapshot)
{
    const char *snap = make_snapshot();
    damage_snapshot(snap, 1);
    expect_restore_fails(&snap, 1, snap, true);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* sizes and many keys                                                                        */
/* ------------------------------------------------------------------------------------------ */

START_TEST(entries_counts_what_is_stored)
{
    rn_state_backend *b = open_all();
    ck_assert_uint_eq(rn_state_backend_entries(b), 0);
    rn_state *v = declare(b, "v", RN_STATE_VALUE, 0, 0);
    rn_state *r = declare(b, "r", RN_STATE_REDUCING, 8, 0);
    struct ikeys ik = make_ikeys(1000, 0);
    for (uint32_t i = 0; i < 1000; i++) OK(rn_state_put(v, &ik.k[i], 0, "x", 1));
    for (uint32_t i = 0; i < 500; i++) OK(rn_state_add(r, &ik.k[i], 1, &ik.v[i]));
    for (uint32_t i = 0; i < 500; i++) OK(rn_state_add(r, &ik.k[i], 1, &ik.v[i]));   /* folds: no new entries */
    for (uint32_t i = 0; i < 1000; i += 2) OK(rn_state_put(v, &ik.k[i], 0, "yy", 2)); /* overwrites */
    uint64_t e = rn_state_backend_entries(b);
    if (g_kind == RN_STATE_MEMORY) ck_assert_uint_eq(e, 1500);
    else ck_assert_msg(e > 0, "rocksdb estimates 0 entries after 1500 writes");
    for (uint32_t i = 0; i < 100; i++) OK(rn_state_remove(v, &ik.k[i], 0));
    if (g_kind == RN_STATE_MEMORY) ck_assert_uint_eq(rn_state_backend_entries(b), 1400);
    uint64_t mem = rn_state_backend_memory(b);
    if (g_kind == RN_STATE_MEMORY) ck_assert_msg(mem > 1400 * 8, "memory() is %" PRIu64 " bytes for 1400 entries", mem);
    else ck_assert_uint_eq(mem, 0);
    free_ikeys(&ik);
    rn_state_backend_close(b);
}
END_TEST

START_TEST(many_keys_with_deletions)
{
    enum { NK = 100000 };
    rn_state_backend *b = open_all();
    rn_state *s = declare(b, "v", RN_STATE_VALUE, 8, 0);
    struct ikeys ik = make_ikeys(NK, -50000);
    for (uint32_t i = 0; i < NK; i++) OK(rn_state_put(s, &ik.k[i], 0, &ik.v[i], 8));
    for (uint32_t i = 0; i < NK; i += 3) OK(rn_state_remove(s, &ik.k[i], 0));
    for (uint32_t i = 0; i < NK; i += 6) {   /* half the removed ones come back with another value */
        int64_t v = -ik.v[i] - 1;
        OK(rn_state_put(s, &ik.k[i], 0, &v, 8));
    }
    uint64_t live = 0;
    for (uint32_t i = 0; i < NK; i++) {
        const void *v = NULL;
        uint32_t len = 0;
        OK(rn_state_get(s, &ik.k[i], 0, &v, &len));
        if (i % 6 == 0) CHECK_MSG(v && rd64(v) == -ik.v[i] - 1, "key %u: not re-put", i);
        else if (i % 3 == 0) CHECK_MSG(v == NULL, "key %u: removed but present", i);
        else CHECK_MSG(v && len == 8 && rd64(v) == ik.v[i], "key %u: lost", i);
        live += v != NULL;
    }
    struct ents es = each_all(s, 0, MP - 1);
    ck_assert_uint_eq(es.n, live);
    for (size_t i = 1; i < es.n; i++) CHECK(es.v[i - 1].kg <= es.v[i].kg);
    ents_free(&es);
    if (g_kind == RN_STATE_MEMORY) ck_assert_uint_eq(rn_state_backend_entries(b), live);
    else ck_assert_uint_gt(rn_state_backend_entries(b), 0);
    /* and through a snapshot */
    const char *snap = fresh_path("snap");
    snapshot_ok(b, snap);
    rn_state_backend_close(b);
    rn_state_backend *r = restore_range(0, MP - 1, &snap, 1);
    s = declare(r, "v", RN_STATE_VALUE, 8, 0);
    for (uint32_t i = 0; i < NK; i++) {
        const void *v = NULL;
        uint32_t len = 0;
        OK(rn_state_get(s, &ik.k[i], 0, &v, &len));
        if (i % 6 == 0) CHECK(v && rd64(v) == -ik.v[i] - 1);
        else if (i % 3 == 0) CHECK(v == NULL);
        else CHECK(v && rd64(v) == ik.v[i]);
    }
    free_ikeys(&ik);
    rn_state_backend_close(r);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* key encoding (no backend)                                                                  */
/* ------------------------------------------------------------------------------------------ */

static uint32_t enc(const struct rn_batch *bt, uint32_t row, uint8_t *buf, uint32_t cap)
{
    uint32_t n = rn_state_key_encode(bt->cols, bt->n_cols, row, buf, cap);
    ck_assert_msg(n <= cap, "key of %u bytes does not fit %u", n, cap);
    return n;
}
static bool same_key(const struct rn_batch *x, uint32_t i, const struct rn_batch *y, uint32_t j)
{
    uint8_t a[256], b[256];
    uint32_t la = enc(x, i, a, sizeof a), lb = enc(y, j, b, sizeof b);
    return la == lb && memcmp(a, b, la) == 0;
}

/* Each one-column key decodes back to the value it was encoded from. */
START_TEST(key_decode_gives_back_each_column_value)
{
    struct rn_batch *x = tu_batch("a:int64, s:string, d:double, t:timestamp, b:bool",
                                  "-7, gamma, 1.5, 100, true; NULL, NULL, NULL, NULL, NULL; 0, '', -0.25, 0, false");
    for (uint32_t row = 0; row < x->n_rows; row++)
        for (uint32_t c = 0; c < x->n_cols; c++) {
            uint8_t buf[64];
            uint32_t n = rn_state_key_encode(&x->cols[c], 1, row, buf, sizeof buf);
            struct rn_state_key k = {buf, n, 0};
            struct rn_key_value kv;
            const struct rn_column *col = &x->cols[c];
            ck_assert_int_eq(rn_state_key_decode(&k, col->type, &kv), 0);
            ck_assert(kv.null == rn_column_is_null(col, row));
            if (kv.null) continue;
            switch (col->type.id) {
            case RN_T_STRING: {
                struct rn_str want = rn_col_str(col, row);
                ck_assert(kv.s.len == want.len && !memcmp(kv.s.ptr, want.ptr, want.len));
                break;
            }
            case RN_T_DOUBLE: ck_assert(kv.v.d == rn_col_f64(col, row)); break;
            case RN_T_BOOL: ck_assert(kv.v.b == rn_col_bool(col, row)); break;
            default: ck_assert_int_eq(kv.v.i, rn_col_i64(col, row));
            }
        }
    /* bytes that are not a key of that type */
    uint8_t bad[3] = {1, 2, 3};
    struct rn_state_key k = {bad, sizeof bad, 0};
    struct rn_key_value kv;
    ck_assert_int_eq(rn_state_key_decode(&k, rn_type_of(RN_T_INT64), &kv), RN_ECORRUPT);
    ck_assert_int_eq(rn_state_key_decode(&k, rn_type_of(RN_T_STRING), &kv), RN_ECORRUPT);
    rn_batch_unref(x);
}
END_TEST

START_TEST(key_encode_equal_values_give_equal_bytes)
{
    struct rn_batch *x = tu_batch("a:int64, s:string", "1, alpha; 2, beta; -7, gamma; 1, alpha");
    struct rn_batch *y = tu_batch("a:int64, s:string", "0, zzz; 1, alpha; -7, gamma");
    ck_assert(same_key(x, 0, x, 3));
    ck_assert(same_key(x, 0, y, 1));
    ck_assert(same_key(x, 2, y, 2));
    struct rn_batch *z = tu_batch("d:double, t:timestamp, b:bool", "1.5, 100, true; 1.5, 100, true");
    ck_assert(same_key(z, 0, z, 1));
    rn_batch_unref(x);
    rn_batch_unref(y);
    rn_batch_unref(z);
}
END_TEST

START_TEST(key_encode_distinct_values_give_distinct_bytes)
{
    /* two string columns; NULL pointers are nulls (built directly: tu_batch cannot write "") */
    static const char *rows[][2] = {{"a", "bc"}, {"ab", "c"}, {"abc", ""}, {"ab", NULL}, {"a", NULL},
                                    {NULL, "abc"}, {"", ""}, {"", NULL}, {NULL, ""}, {NULL, NULL}};
    rn_schema *sch = tu_schema("a:string, b:string");
    rn_builder *bb = rn_builder_create(sch, 0);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (uint32_t c = 0; c < 2; c++)
            ck_assert_int_eq(rows[r][c] ? rn_builder_str(bb, c, rows[r][c], strlen(rows[r][c])) : rn_builder_null(bb, c), 0);
    struct rn_error err = {0};
    struct rn_batch *x = rn_builder_finish(bb, &err);
    ck_assert_msg(x != NULL, "%s", err.msg);
    rn_builder_destroy(bb);
    rn_schema_unref(sch);
    for (uint32_t i = 0; i < x->n_rows; i++)
        for (uint32_t j = 0; j < x->n_rows; j++)
            if (i != j) ck_assert_msg(!same_key(x, i, x, j), "rows %u and %u encode alike", i, j);
    struct rn_batch *y = tu_batch("a:int64, b:int64", "1, 2; 2, 1; 0, 0; -1, 0; 256, 0; 1, NULL; NULL, 1");
    for (uint32_t i = 0; i < y->n_rows; i++)
        for (uint32_t j = 0; j < y->n_rows; j++)
            if (i != j) ck_assert_msg(!same_key(y, i, y, j), "int rows %u and %u encode alike", i, j);
    rn_batch_unref(x);
    rn_batch_unref(y);
}
END_TEST

START_TEST(key_encode_nulls_are_distinct_from_values)
{
    struct rn_batch *x = tu_batch("a:int64, s:string, d:double", "0, x, 0; NULL, NULL, NULL; 0,  , 0");
    uint8_t a[64], b[64];
    for (uint32_t c = 0; c < 3; c++) {
        uint32_t la = rn_state_key_encode(&x->cols[c], 1, 0, a, sizeof a);
        uint32_t lb = rn_state_key_encode(&x->cols[c], 1, 1, b, sizeof b);
        ck_assert_msg(la != lb || memcmp(a, b, la) != 0, "column %u: null encodes like a value", c);
        uint32_t le = rn_state_key_encode(&x->cols[c], 1, 2, a, sizeof a);   /* 0, "" and 0.0 */
        ck_assert_msg(le != lb || memcmp(a, b, le) != 0, "column %u: null encodes like the zero value", c);
    }
    /* two nulls encode alike */
    ck_assert(same_key(x, 1, x, 1));
    struct rn_batch *y = tu_batch("a:int64, s:string, d:double", "NULL, NULL, NULL");
    ck_assert(same_key(x, 1, y, 0));
    rn_batch_unref(x);
    rn_batch_unref(y);
}
END_TEST

START_TEST(key_encode_int_and_string_keys_differ)
{
    struct rn_batch *i = tu_batch("a:int64", "1; 0; 12345678");
    struct rn_batch *s = tu_batch("a:string", "1; 0; 12345678");
    for (uint32_t r = 0; r < 3; r++) ck_assert_msg(!same_key(i, r, s, r), "int and string of row %u encode alike", r);
    rn_batch_unref(i);
    rn_batch_unref(s);
}
END_TEST

START_TEST(key_encode_returns_the_length_when_the_buffer_is_too_small)
{
    struct rn_batch *x = tu_batch("a:int64, s:string", "5, a string of some length");
    uint8_t full[128], small[128];
    uint32_t n = rn_state_key_encode(x->cols, 2, 0, full, sizeof full);
    ck_assert_uint_gt(n, 8 + 20);
    for (uint32_t cap = 0; cap < n; cap++) {
        memset(small, 0xAB, sizeof small);
        uint32_t m = rn_state_key_encode(x->cols, 2, 0, small, cap);
        ck_assert_msg(m == n && m > cap, "cap %u: returned %u, want %u", cap, m, n);
        for (uint32_t i = cap; i < sizeof small; i++) ck_assert_msg(small[i] == 0xAB, "cap %u: wrote byte %u", cap, i);
    }
    ck_assert_uint_eq(rn_state_key_encode(x->cols, 2, 0, small, n), n);
    ck_assert_int_eq(memcmp(small, full, n), 0);
    ck_assert_uint_eq(rn_state_key_encode(x->cols, 2, 0, NULL, 0), n);
    rn_batch_unref(x);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static void add_backend_tests(TCase *tc)
{
    tcase_add_test(tc, open_refuses_a_bad_config);
    tcase_add_test(tc, rocksdb_dir_must_be_empty_or_absent);
    tcase_add_test(tc, close_deletes_the_rocksdb_working_directory);
    tcase_add_test(tc, a_backend_says_which_kind_it_is);
    tcase_add_test(tc, declare_twice_with_the_same_desc_returns_the_same_state);
    tcase_add_test(tc, declare_with_another_desc_is_refused);
    tcase_add_test(tc, declare_refuses_an_invalid_desc);
    tcase_add_test(tc, states_of_one_backend_are_separate);
    tcase_add_test(tc, value_put_then_get);
    tcase_add_test(tc, value_absent_key_is_null);
    tcase_add_test(tc, value_overwrite_replaces);
    tcase_add_test(tc, value_remove_makes_absent);
    tcase_add_test(tc, value_variable_sizes_including_empty);
    tcase_add_test(tc, value_fixed_size_is_enforced);
    tcase_add_test(tc, namespaces_separate_values_of_one_key);
    tcase_add_test(tc, same_key_bytes_in_another_key_group_are_another_key);
    tcase_add_test(tc, keys_that_prefix_each_other_are_separate);
    tcase_add_test(tc, reducing_add_sums);
    tcase_add_test(tc, reducing_add_max_stores_the_first_value_when_absent);
    tcase_add_test(tc, reducing_add_on_a_non_reducing_state_is_refused);
    tcase_add_test(tc, reducing_remove_restarts_the_fold);
    tcase_add_test(tc, add_many_folds_repeated_keys_in_order);
    tcase_add_test(tc, get_many_reads_thousands_of_keys_with_repeats);
    tcase_add_test(tc, get_many_of_a_reducing_state_after_add_many);
    tcase_add_test(tc, list_append_each_keeps_order);
    tcase_add_test(tc, list_of_an_absent_key_is_empty);
    tcase_add_test(tc, list_remove_clears);
    tcase_add_test(tc, list_each_stops_when_fn_returns_nonzero);
    tcase_add_test(tc, map_put_get_and_overwrite);
    tcase_add_test(tc, map_get_of_an_absent_user_key_is_null);
    tcase_add_test(tc, map_remove_of_one_user_key);
    tcase_add_test(tc, map_each_is_in_user_key_byte_order);
    tcase_add_test(tc, map_remove_of_the_key_clears_the_whole_map);
    tcase_add_test(tc, ttl_value_expires_exactly_ttl_ms_after_its_write);
    tcase_add_test(tc, ttl_overwrite_refreshes);
    tcase_add_test(tc, ttl_zero_never_expires);
    tcase_add_test(tc, ttl_add_refreshes_and_never_folds_into_an_expired_value);
    tcase_add_test(tc, ttl_expired_values_are_invisible_to_each_and_each_in_namespace);
    tcase_add_test(tc, ttl_expired_list_and_map_entries_are_invisible);
    tcase_add_test(tc, ttl_list_elements_expire_each_ttl_ms_after_its_append);
    tcase_add_test(tc, ttl_map_entries_expire_each_ttl_ms_after_their_put);
    tcase_add_test(tc, ttl_get_many_does_not_return_expired_values);
    tcase_add_test(tc, each_visits_the_requested_key_groups_in_order_exactly_once);
    tcase_add_test(tc, each_reports_list_elements_and_map_entries);
    tcase_add_test(tc, each_in_namespace_visits_the_keys_of_that_namespace);
    tcase_add_test(tc, snapshot_then_restore_gives_the_same_contents);
    tcase_add_test(tc, snapshot_keeps_ttl_relative_to_the_clock);
    tcase_add_test(tc, snapshot_is_unchanged_by_later_writes_and_restores);
    tcase_add_test(tc, snapshot_files_lists_the_rocksdb_sst_files);
    tcase_add_test(tc, restore_with_a_narrower_range_drops_the_other_key_groups);
    tcase_add_test(tc, restore_merges_snapshots_of_disjoint_ranges);
    tcase_add_test(tc, snapshot_into_an_existing_directory_is_refused);
    tcase_add_test(tc, restore_from_a_missing_directory_names_it);
    tcase_add_test(tc, restore_from_a_truncated_manifest_names_it);
    tcase_add_test(tc, restore_from_a_snapshot_of_the_other_backend_is_refused);
    tcase_add_test(tc, restore_with_another_max_parallelism_is_refused);
    tcase_add_test(tc, restore_from_garbage_state_files_names_the_snapshot);
    tcase_add_test(tc, restore_from_truncated_state_files_names_the_snapshot);
    tcase_add_test(tc, entries_counts_what_is_stored);
    tcase_add_test(tc, many_keys_with_deletions);
}

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *mem = tcase_create("memory");
    tcase_add_checked_fixture(mem, setup_memory, teardown);
    tcase_set_timeout(mem, 120);
    add_backend_tests(mem);
    suite_add_tcase(s, mem);

    TCase *rdb = tcase_create("rocksdb");
    tcase_add_checked_fixture(rdb, setup_rocksdb, teardown);
    tcase_set_timeout(rdb, 120);
    add_backend_tests(rdb);
    suite_add_tcase(s, rdb);

    TCase *keys = tcase_create("key_encode");
    tcase_add_test(keys, key_encode_equal_values_give_equal_bytes);
    tcase_add_test(keys, key_encode_distinct_values_give_distinct_bytes);
    tcase_add_test(keys, key_encode_nulls_are_distinct_from_values);
    tcase_add_test(keys, key_encode_int_and_string_keys_differ);
    tcase_add_test(keys, key_encode_returns_the_length_when_the_buffer_is_too_small);
    tcase_add_test(keys, key_decode_gives_back_each_column_value);
    suite_add_tcase(s, keys);
    return s;
}

TU_MAIN(state_suite)
