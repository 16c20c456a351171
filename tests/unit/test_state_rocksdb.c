/*
 * test_state_rocksdb.c — Check suite "state_rocksdb": what only the RocksDB keyed-state backend
 * (state/rocksdb.c) does: its working directory (refused when not empty, deleted on close), its
 * snapshots (a RocksDB checkpoint whose manifest lists SST files that exist and are hard links
 * of the working copy's), restores that fail clearly on a missing or damaged SST file and that
 * keep only the new key-group range, and a DB with many column families. The behaviour both
 * backends share is test_state.c's.
 *
 * Assumes Check's fork mode (file-level variables are per test) and a filesystem with hard
 * links under TMPDIR (or /tmp); every test works in its own temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "runnel/hash.h"
#include "runnel/state.h"

enum { MP = 128 };

static int64_t fake_now = 1000;
static int64_t fake_clock(void) { return fake_now; }

static void setup(void) { tu_tmp_setup("runnel-rdb"); }
static void teardown(void) { tu_tmp_teardown(); }

static struct rn_state_config config(const char *dir, uint32_t first, uint32_t last)
{
    return (struct rn_state_config){.kind = RN_STATE_ROCKSDB, .dir = dir, .max_parallelism = MP, .kg_first = first,
                                    .kg_last = last, .clock = fake_clock};
}

static rn_state_backend *open_at(const char *dir, uint32_t first, uint32_t last)
{
    struct rn_state_config c = config(dir, first, last);
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    int rc = rn_state_backend_open(&c, &b, &err);
    ck_assert_msg(rc == 0 && b, "open %s: %d %s", dir, rc, err.msg);
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
    struct rn_state_desc d = {.name = name, .kind = kind, .value_size = kind == RN_STATE_REDUCING ? 8 : 0,
                              .combine = kind == RN_STATE_REDUCING ? sum_i64 : NULL};
    struct rn_error err = {0};
    rn_state *s = NULL;
    int rc = rn_state_declare(b, &d, &s, &err);
    ck_assert_msg(rc == 0 && s, "declare %s: %d %s", name, rc, err.msg);
    return s;
}

/* The int64 key v, in the key group an int64 key column gives it. */
static struct rn_state_key ikey(const int64_t *v)
{
    return (struct rn_state_key){.data = v, .len = 8, .key_group = (uint16_t)rn_key_group(rn_hash_i64(*v), MP)};
}

static void put_i64(rn_state *s, int64_t k, int64_t v)
{
    struct rn_state_key key = ikey(&k);
    ck_assert_int_eq(rn_state_put(s, &key, 0, &v, 8), 0);
}

/* The value of key k, or -1 when absent. */
static int64_t get_i64(rn_state *s, int64_t k)
{
    struct rn_state_key key = ikey(&k);
    const void *v;
    uint32_t len;
    ck_assert_int_eq(rn_state_get(s, &key, 0, &v, &len), 0);
    if (!v) return -1;
    ck_assert_uint_eq(len, 8);
    int64_t x;
    memcpy(&x, v, 8);
    return x;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A snapshot of a backend holding keys 0..n-1 (value k * 10) in state "v", at dir "snap". */
static char *snapshot_of_keys(int n, uint32_t first, uint32_t last)
{
    char *db = tu_tmp_path("db-src"), *snap = tu_tmp_path("snap");
    rn_state_backend *b = open_at(db, first, last);
    rn_state *s = declare(b, "v", RN_STATE_VALUE);
    for (int64_t k = 0; k < n; k++) put_i64(s, k, k * 10);
    struct rn_error err = {0};
    int rc = rn_state_snapshot(b, snap, &err);
    ck_assert_msg(rc == 0, "snapshot: %s", err.msg);
    rn_state_backend_close(b);
    free(db);
    return snap;
}

START_TEST(a_non_empty_directory_is_refused)
{
    char *dir = tu_tmp_path("busy"), *file = tu_fmt("%s/keep.txt", dir);
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    tu_write_file(file, "mine");
    struct rn_state_config c = config(dir, 0, MP - 1);
    struct rn_error err = {0};
    rn_state_backend *b = NULL;
    ck_assert_int_eq(rn_state_backend_open(&c, &b, &err), RN_EINVAL);
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(err.msg, dir) && strstr(err.msg, "not empty"), "message: %s", err.msg);
    ck_assert_msg(exists(file), "the refused directory was touched");
    /* restore refuses it too */
    ck_assert_int_eq(rn_state_backend_restore(&c, NULL, 0, &b, &err), RN_EINVAL);
    ck_assert(exists(file));
    free(file);
    free(dir);
}
END_TEST

START_TEST(an_absent_directory_is_created_and_deleted_on_close)
{
    char *dir = tu_tmp_path("a/b/db");
    rn_state_backend *b = open_at(dir, 0, MP - 1);
    ck_assert(exists(dir));
    rn_state *s = declare(b, "v", RN_STATE_VALUE);
    for (int64_t k = 0; k < 100; k++) put_i64(s, k, k);
    rn_state_backend_close(b);
    ck_assert_msg(!exists(dir), "%s survived close", dir);
    free(dir);
}
END_TEST

START_TEST(snapshot_manifest_lists_the_sst_files_it_holds)
{
    char *db = tu_tmp_path("db"), *snap = tu_tmp_path("snap");
    rn_state_backend *b = open_at(db, 0, MP - 1);
    rn_state *s1 = declare(b, "one", RN_STATE_VALUE), *s2 = declare(b, "two", RN_STATE_REDUCING);
    for (int64_t k = 0; k < 1000; k++) {
        put_i64(s1, k, k);
        struct rn_state_key key = ikey(&k);
        ck_assert_int_eq(rn_state_add(s2, &key, 0, &k), 0);
    }
    struct rn_error err = {0};
    ck_assert_msg(rn_state_snapshot(b, snap, &err) == 0, "snapshot: %s", err.msg);

    char **names;
    size_t n;
    ck_assert_int_eq(rn_state_snapshot_files(snap, &names, &n, &err), 0);
    ck_assert_uint_ge(n, 2);   /* at least one per state with data */
    for (size_t i = 0; i < n; i++) {
        char *p = tu_fmt("%s/%s", snap, names[i]);
        struct stat st, wst;
        ck_assert_msg(stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0, "%s is not there", p);
        ck_assert_msg(strlen(names[i]) > 4 && !strcmp(names[i] + strlen(names[i]) - 4, ".sst"), "%s", names[i]);
        /* a hard link of the working copy's file (same inode), not a copy */
        char *w = tu_fmt("%s/%s", db, strrchr(names[i], '/') + 1);
        ck_assert_msg(stat(w, &wst) == 0 && wst.st_ino == st.st_ino, "%s is not a hard link of %s", p, w);
        free(w);
        free(p);
    }
    /* every SST of the checkpoint is listed */
    char *cp = tu_fmt("%s/db", snap);
    DIR *d = opendir(cp);
    ck_assert_ptr_nonnull(d);
    size_t on_disk = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l > 4 && !strcmp(de->d_name + l - 4, ".sst")) on_disk++;
    }
    closedir(d);
    ck_assert_uint_eq(on_disk, n);
    char *mpath = tu_fmt("%s/RUNNEL-STATE", snap), *manifest = tu_slurp(mpath);
    free(mpath);
    ck_assert_ptr_nonnull(manifest);
    ck_assert_msg(strstr(manifest, "\ncf one\n") && strstr(manifest, "\ncf two\n"), "manifest:\n%s", manifest);
    ck_assert_msg(strstr(manifest, "backend rocksdb\n") == manifest, "manifest:\n%s", manifest);
    free(manifest);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(cp);
    rn_state_backend_close(b);
    /* the snapshot survives the backend */
    ck_assert(exists(snap));
    free(db);
    free(snap);
}
END_TEST

START_TEST(restore_with_a_missing_sst_file_fails_naming_it)
{
    char *snap = snapshot_of_keys(500, 0, MP - 1);
    char **names;
    size_t n;
    struct rn_error err = {0};
    ck_assert_int_eq(rn_state_snapshot_files(snap, &names, &n, &err), 0);
    ck_assert_uint_ge(n, 1);
    char *gone = tu_fmt("%s/%s", snap, names[0]);
    ck_assert_int_eq(unlink(gone), 0);
    char *db = tu_tmp_path("db-restored");
    struct rn_state_config c = config(db, 0, MP - 1);
    const char *dirs[] = {snap};
    rn_state_backend *b = NULL;
    int rc = rn_state_backend_restore(&c, dirs, 1, &b, &err);
    ck_assert_int_eq(rc, RN_ECORRUPT);
    ck_assert_ptr_null(b);
    ck_assert_msg(strstr(err.msg, gone) != NULL, "the message does not name %s: %s", gone, err.msg);
    ck_assert_msg(!exists(db), "a failed restore left %s behind", db);
    /* also when restoring another key-group range (the copying path) */
    c.kg_last = MP / 2;
    ck_assert_int_eq(rn_state_backend_restore(&c, dirs, 1, &b, &err), RN_ECORRUPT);
    ck_assert_msg(strstr(err.msg, gone) != NULL, "message: %s", err.msg);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(gone);
    free(db);
    free(snap);
}
END_TEST

START_TEST(restore_with_a_damaged_sst_file_fails_cleanly)
{
    char *snap = snapshot_of_keys(500, 0, MP - 1);
    char **names;
    size_t n;
    struct rn_error err = {0};
    ck_assert_int_eq(rn_state_snapshot_files(snap, &names, &n, &err), 0);
    ck_assert_uint_ge(n, 1);
    /* garbage of the same size: it is a hard link of nothing alive now, so overwrite in place */
    char *p = tu_fmt("%s/%s", snap, names[0]);
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    int fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    char junk[4096];
    memset(junk, 0x5a, sizeof junk);
    for (off_t at = 0; at < st.st_size; at += (off_t)sizeof junk)
        ck_assert_int_gt(write(fd, junk, (size_t)(st.st_size - at < (off_t)sizeof junk ? st.st_size - at : (off_t)sizeof junk)), 0);
    close(fd);
    const char *dirs[] = {snap};
    for (int narrow = 0; narrow < 2; narrow++) {
        char *db = tu_tmp_path(narrow ? "db-narrow" : "db-whole");
        struct rn_state_config c = config(db, 0, narrow ? MP / 2 : MP - 1);
        rn_state_backend *b = NULL;
        int rc = rn_state_backend_restore(&c, dirs, 1, &b, &err);
        if (rc == 0) {
            /* RocksDB may only notice when it reads the file: then reads fail, never crash */
            rn_state *s = declare(b, "v", RN_STATE_VALUE);
            int failed = 0;
            for (int64_t k = 0; k < 500; k++) {
                struct rn_state_key key = ikey(&k);
                const void *v;
                uint32_t len;
                int r = rn_state_get(s, &key, 0, &v, &len);
                ck_assert_msg(r == 0 || r == RN_ECORRUPT || r == RN_EIO, "rc %d", r);
                failed += r != 0;
            }
            ck_assert_msg(failed > 0, "the damage went unnoticed");
            rn_state_backend_close(b);
        } else {
            ck_assert_msg(rc == RN_ECORRUPT || rc == RN_EIO, "rc %d", rc);
            ck_assert_msg(strstr(err.msg, snap) != NULL, "the message does not name %s: %s", snap, err.msg);
            ck_assert(!exists(db));
        }
        free(db);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    free(p);
    free(snap);
}
END_TEST

static int count_entry(const struct rn_state_entry *e, void *user)
{
    uint32_t *c = user;
    if (e->key_group < c[1] || e->key_group > c[2]) c[3]++;
    c[0]++;
    return 0;
}

START_TEST(restore_into_a_narrower_range_drops_the_other_key_groups)
{
    enum { N = 3000 };
    const uint32_t first = 10, last = 60;
    char *snap = snapshot_of_keys(N, 0, MP - 1);
    char *db = tu_tmp_path("db-narrow");
    struct rn_state_config c = config(db, first, last);
    const char *dirs[] = {snap};
    rn_state_backend *b = NULL;
    struct rn_error err = {0};
    ck_assert_msg(rn_state_backend_restore(&c, dirs, 1, &b, &err) == 0, "restore: %s", err.msg);
    rn_state *s = declare(b, "v", RN_STATE_VALUE);
    uint32_t want = 0;
    for (int64_t k = 0; k < N; k++) {
        struct rn_state_key key = ikey(&k);
        bool in = key.key_group >= first && key.key_group <= last;
        want += in;
        int64_t v = get_i64(s, k);
        ck_assert_msg(in ? v == k * 10 : v == -1, "key %lld (key group %u): %lld", (long long)k, key.key_group, (long long)v);
    }
    ck_assert_uint_gt(want, 0);
    uint32_t cnt[4] = {0, first, last, 0};
    ck_assert_int_eq(rn_state_each(s, 0, MP - 1, count_entry, cnt), 0);
    ck_assert_uint_eq(cnt[0], want);
    ck_assert_uint_eq(cnt[3], 0);
    ck_assert_uint_eq(rn_state_backend_entries(b), want);
    rn_state_backend_close(b);
    free(db);
    free(snap);
}
END_TEST

START_TEST(a_db_with_many_column_families_snapshots_and_restores)
{
    enum { NS = 64, NK = 20 };
    char *db = tu_tmp_path("db"), *snap = tu_tmp_path("snap");
    rn_state_backend *b = open_at(db, 0, MP - 1);
    rn_state *s[NS];
    char name[32];
    for (int i = 0; i < NS; i++) {
        snprintf(name, sizeof name, "state-%d", i);
        s[i] = declare(b, name, i % 2 ? RN_STATE_REDUCING : RN_STATE_VALUE);
        for (int64_t k = 0; k < NK; k++) {
            int64_t v = k + i * 1000;
            struct rn_state_key key = ikey(&k);
            ck_assert_int_eq(i % 2 ? rn_state_add(s[i], &key, 0, &v) : rn_state_put(s[i], &key, 0, &v, 8), 0);
        }
    }
    struct rn_error err = {0};
    ck_assert_msg(rn_state_snapshot(b, snap, &err) == 0, "snapshot: %s", err.msg);
    rn_state_backend_close(b);

    for (int narrow = 0; narrow < 2; narrow++) {
        char *db2 = tu_tmp_path(narrow ? "db-narrow" : "db-whole");
        struct rn_state_config c = config(db2, 0, narrow ? MP - 2 : MP - 1);
        const char *dirs[] = {snap};
        ck_assert_msg(rn_state_backend_restore(&c, dirs, 1, &b, &err) == 0, "restore: %s", err.msg);
        /* declared in another order than before: states are found by name */
        for (int i = NS - 1; i >= 0; i--) {
            snprintf(name, sizeof name, "state-%d", i);
            rn_state *r = declare(b, name, i % 2 ? RN_STATE_REDUCING : RN_STATE_VALUE);
            for (int64_t k = 0; k < NK; k++) {
                struct rn_state_key key = ikey(&k);
                int64_t want = key.key_group <= c.kg_last ? k + i * 1000 : -1;
                ck_assert_int_eq(get_i64(r, k), want);
            }
        }
        rn_state_backend_close(b);
        free(db2);
    }
    free(db);
    free(snap);
}
END_TEST

START_TEST(a_restored_working_copy_leaves_the_snapshot_intact)
{
    char *snap = snapshot_of_keys(200, 0, MP - 1);
    char **names;
    size_t n;
    struct rn_error err = {0};
    ck_assert_int_eq(rn_state_snapshot_files(snap, &names, &n, &err), 0);
    char *db = tu_tmp_path("db2");
    struct rn_state_config c = config(db, 0, MP - 1);
    const char *dirs[] = {snap};
    rn_state_backend *b = NULL;
    ck_assert_msg(rn_state_backend_restore(&c, dirs, 1, &b, &err) == 0, "restore: %s", err.msg);
    rn_state *s = declare(b, "v", RN_STATE_VALUE);
    for (int64_t k = 0; k < 200; k++) put_i64(s, k, -k);
    ck_assert_int_eq(get_i64(s, 7), -7);
    rn_state_backend_close(b);
    ck_assert(!exists(db));
    for (size_t i = 0; i < n; i++) {
        char *p = tu_fmt("%s/%s", snap, names[i]);
        ck_assert_msg(exists(p), "%s went with the restored working copy", p);
        free(p);
        free(names[i]);
    }
    free(names);
    /* and restores again with the old values */
    ck_assert_msg(rn_state_backend_restore(&c, dirs, 1, &b, &err) == 0, "restore: %s", err.msg);
    s = declare(b, "v", RN_STATE_VALUE);
    ck_assert_int_eq(get_i64(s, 7), 70);
    rn_state_backend_close(b);
    free(db);
    free(snap);
}
END_TEST

/* Restores snap over the full range and returns the backend with state "v" declared. */
static rn_state_backend *restore_full(const char *snap, const char *name, rn_state **s)
{
    char *db = tu_tmp_path(name);
    struct rn_state_config c = config(db, 0, MP - 1);
    const char *dirs[] = {snap};
    rn_state_backend *b = NULL;
    struct rn_error err = {0};
    ck_assert_msg(rn_state_backend_restore(&c, dirs, 1, &b, &err) == 0, "restore: %s", err.msg);
    *s = declare(b, "v", RN_STATE_VALUE);
    free(db);
    return b;
}

START_TEST(a_two_step_snapshot_holds_exactly_the_writes_before_the_cut)
{
    char *db = tu_tmp_path("db-cut"), *snap = tu_tmp_path("snap-cut");
    rn_state_backend *b = open_at(db, 0, MP - 1);
    rn_state *s = declare(b, "v", RN_STATE_VALUE);
    for (int64_t k = 0; k < 1000; k++) put_i64(s, k, k);
    struct rn_error err = {0};
    ck_assert_msg(rn_state_snapshot_begin(b, snap, &err) == 0, "begin: %s", err.msg);
    /* after the cut: overwrite, add and remove, before the snapshot is written */
    for (int64_t k = 0; k < 1000; k += 2) put_i64(s, k, -1);
    for (int64_t k = 1000; k < 1100; k++) put_i64(s, k, k);
    int64_t gone = 3;
    struct rn_state_key key = ikey(&gone);
    ck_assert_int_eq(rn_state_remove(s, &key, 0), 0);
    int rc;
    while ((rc = rn_state_snapshot_poll(b, false, &err)) == 1) usleep(100);
    ck_assert_msg(rc == 0, "poll: %s", err.msg);
    ck_assert_int_eq(get_i64(s, 0), -1);   /* the working copy has everything */
    rn_state_backend_close(b);
    rn_state *r;
    rn_state_backend *rb = restore_full(snap, "db-cut-restored", &r);
    for (int64_t k = 0; k < 1100; k++) ck_assert_int_eq(get_i64(r, k), k < 1000 ? k : -1);
    rn_state_backend_close(rb);
    free(db);
    free(snap);
}
END_TEST

START_TEST(writes_that_would_flush_past_the_cut_finish_the_snapshot_first)
{
    char *db = tu_tmp_path("db-cut2"), *snap = tu_tmp_path("snap-cut2");
    rn_state_backend *b = open_at(db, 0, MP - 1);
    rn_state *s = declare(b, "v", RN_STATE_VALUE);
    for (int64_t k = 0; k < 100; k++) put_i64(s, k, k);
    struct rn_error err = {0};
    ck_assert_msg(rn_state_snapshot_begin(b, snap, &err) == 0, "begin: %s", err.msg);
    /* far more than a memtable after the cut: RocksDB flushes several times meanwhile */
    char big[4096];
    memset(big, 'x', sizeof big);
    for (int64_t k = 100; k < 100 + 8 * 1024; k++) {
        struct rn_state_key key = ikey(&k);
        ck_assert_int_eq(rn_state_put(s, &key, 0, big, sizeof big), 0);
    }
    ck_assert_int_eq(rn_state_snapshot_poll(b, true, &err), 0);
    /* the snapshot was written by a writer: a second poll has nothing left */
    ck_assert_int_eq(rn_state_snapshot_poll(b, false, &err), 0);
    rn_state_backend_close(b);
    rn_state *r;
    rn_state_backend *rb = restore_full(snap, "db-cut2-restored", &r);
    for (int64_t k = 0; k < 100; k++) ck_assert_int_eq(get_i64(r, k), k);
    for (int64_t k = 100; k < 100 + 8 * 1024; k += 97) ck_assert_int_eq(get_i64(r, k), -1);
    rn_state_backend_close(rb);
    free(db);
    free(snap);
}
END_TEST

START_TEST(a_second_cut_before_the_first_is_written_is_refused)
{
    char *db = tu_tmp_path("db-cut3"), *snap = tu_tmp_path("snap-cut3"), *snap2 = tu_tmp_path("snap-cut3b");
    rn_state_backend *b = open_at(db, 0, MP - 1);
    rn_state *s = declare(b, "v", RN_STATE_VALUE);
    put_i64(s, 1, 1);
    struct rn_error err = {0};
    ck_assert_int_eq(rn_state_snapshot_begin(b, snap, &err), 0);
    ck_assert_int_eq(rn_state_snapshot_begin(b, snap2, &err), RN_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "still being written"));
    ck_assert_int_eq(rn_state_snapshot_poll(b, true, &err), 0);
    ck_assert(exists(snap));
    rn_state_backend_close(b);
    free(db);
    free(snap);
    free(snap2);
}
END_TEST

static Suite *state_rocksdb_suite(void)
{
    Suite *s = suite_create("state_rocksdb");
    TCase *tc = tcase_create("rocksdb");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_non_empty_directory_is_refused);
    tcase_add_test(tc, an_absent_directory_is_created_and_deleted_on_close);
    tcase_add_test(tc, snapshot_manifest_lists_the_sst_files_it_holds);
    tcase_add_test(tc, restore_with_a_missing_sst_file_fails_naming_it);
    tcase_add_test(tc, restore_with_a_damaged_sst_file_fails_cleanly);
    tcase_add_test(tc, restore_into_a_narrower_range_drops_the_other_key_groups);
    tcase_add_test(tc, a_db_with_many_column_families_snapshots_and_restores);
    tcase_add_test(tc, a_restored_working_copy_leaves_the_snapshot_intact);
    tcase_add_test(tc, a_two_step_snapshot_holds_exactly_the_writes_before_the_cut);
    tcase_add_test(tc, writes_that_would_flush_past_the_cut_finish_the_snapshot_first);
    tcase_add_test(tc, a_second_cut_before_the_first_is_written_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(state_rocksdb_suite)
