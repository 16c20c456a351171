/*
 * test_checkpoint_store.c — Check suite "checkpoint_store": the checkpoint storage of
 * engine/checkpoint.c on its own, without a running job: retention of the last N checkpoints
 * and the reference counts of shared files, what opening a job's checkpoint directory cleans up
 * (incomplete checkpoints, orphan shared files) and its lock, the metadata's framing checks, the
 * incremental upload of a RocksDB-like snapshot, and materializing a part for a restore.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_internal.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-ckstore"); }
static void teardown(void) { tu_tmp_teardown(); }

/* ---- helpers ---- */

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static bool exists_in(const char *dir, const char *rel)
{
    char *p = tu_fmt("%s/%s", dir, rel);
    bool e = exists(p);
    free(p);
    return e;
}

/* A file of `size` bytes of c (directories made as needed). */
static void make_file(const char *path, size_t size, char c)
{
    char *dir = strdup(path), *slash = strrchr(dir, '/');
    *slash = 0;
    ck_assert_msg(rn__mkdir_p(dir) == 0, "mkdir %s", dir);
    free(dir);
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f, "cannot create %s", path);
    for (size_t i = 0; i < size; i++) fputc(c, f);
    ck_assert(fclose(f) == 0);
}

/* A job the store can write metadata for (no operators). */
static struct rn_job fake_job(void)
{
    static char name[] = "unit", file[] = "unit.yaml";
    return (struct rn_job){.name = name, .file = file, .parallelism = 1, .max_parallelism = 128};
}

/* A part of node "op", subtask 0 of 1, with the shared files named in `shared` (a
 * space-separated list of names: shared/<name>, 100 bytes each, made in job_dir when missing)
 * and one private file op-0/keyed/MANIFEST of 10 bytes made in ck_dir. */
static struct rn_ck_part make_part(const char *job_dir, const char *ck_dir, const char *shared)
{
    struct rn_ck_part p = {0};
    p.node = strdup("op");
    p.parallelism = 1;
    p.kg_last = 127;
    p.keyed = strdup("op-0/keyed");
    char *list = strdup(shared);
    for (char *save = NULL, *n = strtok_r(list, " ", &save); n; n = strtok_r(NULL, " ", &save)) {
        char *rel = tu_fmt("shared/%s", n), *path = tu_fmt("%s/%s", job_dir, rel);
        if (!exists(path)) make_file(path, 100, 's');
        p.shared = realloc(p.shared, (p.n_shared + 1) * sizeof *p.shared);
        p.shared[p.n_shared++] = (struct rn_ck_shared){strdup(n), rel, 100};
        free(path);
    }
    free(list);
    char *priv = tu_fmt("%s/op-0/keyed/MANIFEST", ck_dir);
    make_file(priv, 10, 'm');
    free(priv);
    p.files = calloc(1, sizeof *p.files);
    p.files[0] = (struct rn_ck_file){strdup("op-0/keyed/MANIFEST"), 10};
    p.n_files = 1;
    return p;
}

/* Completes checkpoint id in store s, its part referring to the shared files named. */
static void complete(struct rn_ck_store *s, int64_t id, const char *shared)
{
    struct rn_job job = fake_job();
    char *dir = tu_fmt("%s/chk-%lld", rn__ck_store_dir(s), (long long)id);
    ck_assert(rn__mkdir_p(dir) == 0);
    struct rn_ck_part p = make_part(rn__ck_store_dir(s), dir, shared);
    struct rn_error err;
    ck_assert_msg(rn__ck_store_complete(s, &job, id, false, false, dir, &p, 1, 110, &err) == 0, "%s", err.msg);
    rn__ck_part_clear(&p);
    free(dir);
}

static struct rn_ck_store *open_store(const char *root, uint32_t retain)
{
    struct rn_ck_store *s = NULL;
    struct rn_error err;
    ck_assert_msg(rn__ck_store_open(root, "unit", retain, NULL, &s, &err) == 0, "%s", err.msg);
    return s;
}

/* Expects exactly the shared files named (space-separated) in job_dir/shared. */
static void expect_shared(const char *job_dir, const char *names)
{
    char *sd = tu_fmt("%s/shared", job_dir);
    DIR *d = opendir(sd);
    ck_assert_msg(d, "no %s", sd);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        n++;
        char *pad = tu_fmt(" %s ", names), *want = tu_fmt(" %s ", e->d_name);
        ck_assert_msg(strstr(pad, want), "shared/%s is there, want only: %s", e->d_name, names);
        free(pad);
        free(want);
    }
    closedir(d);
    int want_n = 0;
    for (const char *p = names; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        want_n++;
        while (*p && *p != ' ') p++;
    }
    ck_assert_msg(n == want_n, "%d shared files, want %d (%s)", n, want_n, names);
    free(sd);
}

/* ---- retention and reference counts ---- */

START_TEST(completing_keeps_the_last_retain_checkpoints_and_their_shared_files)
{
    char *root = tu_tmp_path("ck"), *jd = tu_fmt("%s/unit", root);
    struct rn_ck_store *s = open_store(root, 2);
    ck_assert_str_eq(rn__ck_store_dir(s), jd);
    complete(s, 1, "a.sst b.sst");
    complete(s, 2, "b.sst c.sst");
    ck_assert(exists_in(jd, "chk-1") && exists_in(jd, "chk-2"));
    expect_shared(jd, "a.sst b.sst c.sst");
    /* 3: chk-1 goes, and a.sst with it (only chk-1 had it); b.sst stays for chk-2 */
    complete(s, 3, "c.sst d.sst");
    ck_assert(!exists_in(jd, "chk-1") && exists_in(jd, "chk-2") && exists_in(jd, "chk-3"));
    expect_shared(jd, "b.sst c.sst d.sst");
    /* 4: chk-2 goes, b.sst too; c.sst is still chk-3's */
    complete(s, 4, "d.sst e.sst");
    ck_assert(!exists_in(jd, "chk-2") && exists_in(jd, "chk-3") && exists_in(jd, "chk-4"));
    expect_shared(jd, "c.sst d.sst e.sst");
    ck_assert_int_eq(rn__ck_store_max_id(s), 4);
    /* what is left reads back */
    struct rn_ck_meta m;
    struct rn_error err;
    char *c4 = tu_fmt("%s/chk-4", jd);
    ck_assert_msg(rn__ck_meta_read(c4, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.id, 4);
    ck_assert_str_eq(m.job_name, "unit");
    ck_assert_str_eq(m.job_dir, jd);
    ck_assert_uint_eq(m.n_parts, 1);
    ck_assert_uint_eq(m.parts[0].n_shared, 2);
    ck_assert_str_eq(m.parts[0].shared[0].path, "shared/d.sst");
    ck_assert_str_eq(m.parts[0].shared[1].name, "e.sst");
    ck_assert_str_eq(m.parts[0].keyed, "op-0/keyed");
    rn__ck_meta_free(&m);
    free(c4);
    rn__ck_store_close(s);
    free(jd);
    free(root);
}
END_TEST

START_TEST(a_savepoint_is_not_retained_and_takes_no_reference)
{
    char *root = tu_tmp_path("ck"), *jd = tu_fmt("%s/unit", root), *sp = tu_tmp_path("sp");
    struct rn_ck_store *s = open_store(root, 1);
    complete(s, 1, "a.sst");
    ck_assert(rn__mkdir_p(sp) == 0);
    struct rn_ck_part p = make_part(jd, sp, "");
    struct rn_job job = fake_job();
    struct rn_error err;
    ck_assert_msg(rn__ck_store_complete(s, &job, 2, true, false, sp, &p, 1, 10, &err) == 0, "%s", err.msg);
    rn__ck_part_clear(&p);
    /* the savepoint did not push chk-1 out */
    ck_assert(exists_in(jd, "chk-1"));
    ck_assert(exists_in(sp, "_metadata"));
    struct rn_checkpoint_info info;
    ck_assert_msg(rn_checkpoint_read_info(sp, &info, &err) == 0, "%s", err.msg);
    ck_assert(info.savepoint);
    ck_assert_int_eq(info.id, 2);
    complete(s, 3, "b.sst");
    ck_assert(!exists_in(jd, "chk-1") && exists_in(jd, "chk-3") && exists_in(sp, "_metadata"));
    expect_shared(jd, "b.sst");
    rn__ck_store_close(s);
    free(sp);
    free(jd);
    free(root);
}
END_TEST

START_TEST(opening_removes_incomplete_checkpoints_and_orphan_files_and_counts_references)
{
    char *root = tu_tmp_path("ck"), *jd = tu_fmt("%s/unit", root);
    struct rn_ck_store *s = open_store(root, 2);
    complete(s, 1, "a.sst b.sst");
    complete(s, 2, "b.sst c.sst");
    rn__ck_store_close(s);
    /* what a crash leaves: a checkpoint without metadata, a file no checkpoint refers to */
    char *c9 = tu_fmt("%s/chk-9/op-0/keyed/MANIFEST", jd), *orphan = tu_fmt("%s/shared/zz.sst", jd);
    make_file(c9, 5, 'x');
    make_file(orphan, 5, 'x');
    s = open_store(root, 2);
    ck_assert(!exists_in(jd, "chk-9"));
    ck_assert(exists_in(jd, "chk-1") && exists_in(jd, "chk-2"));
    expect_shared(jd, "a.sst b.sst c.sst");
    /* ids go on after the highest seen, incomplete ones included */
    ck_assert_int_eq(rn__ck_store_max_id(s), 9);
    /* the reference counts were loaded: completing 10 drops chk-1 and a.sst only */
    complete(s, 10, "c.sst");
    ck_assert(!exists_in(jd, "chk-1") && exists_in(jd, "chk-2") && exists_in(jd, "chk-10"));
    expect_shared(jd, "b.sst c.sst");
    rn__ck_store_close(s);
    free(c9);
    free(orphan);
    free(jd);
    free(root);
}
END_TEST

START_TEST(a_job_directory_is_used_by_one_run_at_a_time)
{
    char *root = tu_tmp_path("ck");
    struct rn_ck_store *s = open_store(root, 2), *t = NULL;
    struct rn_error err;
    ck_assert_int_eq(rn__ck_store_open(root, "unit", 2, NULL, &t, &err), RN_EINVAL);
    ck_assert_ptr_null(t);
    char *pid = tu_fmt("pid %d", (int)getpid());
    ck_assert_msg(strstr(err.msg, "another runnel run") && strstr(err.msg, pid), "%s", err.msg);
    free(pid);
    rn__ck_store_close(s);
    t = open_store(root, 2);
    rn__ck_store_close(t);
    free(root);
}
END_TEST

START_TEST(a_job_name_that_cannot_name_a_directory_is_refused)
{
    char *root = tu_tmp_path("ck");
    static const char *const bad[] = {"a/b", "..", ".", ""};
    for (int i = 0; i < 4; i++) {
        struct rn_ck_store *s = NULL;
        struct rn_error err;
        ck_assert_int_eq(rn__ck_store_open(root, bad[i], 2, NULL, &s, &err), RN_EINVAL);
        ck_assert_ptr_null(s);
    }
    free(root);
}
END_TEST

/* ---- metadata ---- */

/* A savepoint in tmp/sp (one part, no shared file); returns its directory. */
static char *one_savepoint(struct rn_ck_store **s)
{
    char *root = tu_tmp_path("ck"), *sp = tu_tmp_path("sp");
    *s = open_store(root, 2);
    ck_assert(rn__mkdir_p(sp) == 0);
    struct rn_ck_part p = make_part(rn__ck_store_dir(*s), sp, "");
    struct rn_job job = fake_job();
    struct rn_error err;
    ck_assert_msg(rn__ck_store_complete(*s, &job, 5, true, false, sp, &p, 1, 10, &err) == 0, "%s", err.msg);
    rn__ck_part_clear(&p);
    free(root);
    return sp;
}

/* Byte edits of the metadata and the message each must give. */
struct edit {
    long at;                 /* offset; negative: from the end */
    int value;               /* the new byte; -1: truncate the file to `at` bytes */
    const char *word;
};
static const struct edit edits[] = {
    {0, 'X', "magic"},                  /* "RNCK" */
    {4, 2, "unknown version"},          /* u32 version 1 -> 2 */
    {8, 0x7f, "length does not match"}, /* u32 length */
    {-1, 0x00, "checksum"},             /* the CRC itself */
    {-8, 0x55, "checksum"},             /* the message */
    {10, -1, "truncated"},              /* shorter than the header */
};

START_TEST(metadata_framing_errors_are_named)
{
    struct rn_ck_store *s;
    char *sp = one_savepoint(&s);
    char *meta = tu_fmt("%s/_metadata", sp);
    const struct edit *e = &edits[_i];
    if (e->value < 0) {
        ck_assert(truncate(meta, e->at) == 0);
    } else {
        FILE *f = fopen(meta, "r+b");
        ck_assert(f);
        ck_assert(fseek(f, e->at, e->at < 0 ? SEEK_END : SEEK_SET) == 0);
        int old = fgetc(f);
        ck_assert(old != EOF);
        ck_assert(fseek(f, e->at, e->at < 0 ? SEEK_END : SEEK_SET) == 0);
        fputc(old == e->value ? e->value ^ 0xff : e->value, f);
        ck_assert(fclose(f) == 0);
    }
    struct rn_checkpoint_info info;
    struct rn_error err;
    int rc = rn_checkpoint_read_info(sp, &info, &err);
    ck_assert_msg(rc == RN_ECORRUPT && strstr(err.msg, e->word) && strstr(err.msg, sp), "edit %d: %s: %s", _i,
                  rn_strerror(rc), err.msg);
    rn__ck_store_close(s);
    free(meta);
    free(sp);
}
END_TEST

START_TEST(metadata_paths_may_not_leave_the_checkpoint)
{
    char *root = tu_tmp_path("ck"), *sp = tu_tmp_path("sp");
    struct rn_ck_store *s = open_store(root, 2);
    ck_assert(rn__mkdir_p(sp) == 0);
    char *outside = tu_tmp_path("outside");
    make_file(outside, 3, 'o');
    free(outside);
    struct rn_ck_part p = make_part(rn__ck_store_dir(s), sp, "");
    free(p.files[0].path);
    p.files[0] = (struct rn_ck_file){strdup("../outside"), 3};
    struct rn_job job = fake_job();
    struct rn_error err;
    ck_assert_msg(rn__ck_store_complete(s, &job, 1, true, false, sp, &p, 1, 3, &err) == 0, "%s", err.msg);
    rn__ck_part_clear(&p);
    struct rn_checkpoint_info info;
    int rc = rn_checkpoint_read_info(sp, &info, &err);
    ck_assert_msg(rc == RN_ECORRUPT && strstr(err.msg, "leaves the checkpoint directory"), "%s: %s", rn_strerror(rc),
                  err.msg);
    rn__ck_store_close(s);
    free(sp);
    free(root);
}
END_TEST

/* ---- incremental upload ---- */

/* A snapshot as rn_state_snapshot leaves it: a manifest, db/CURRENT and the SST files named
 * (each of `size` bytes of c). */
static char *make_snapshot(const char *name, const char *const *ssts, const size_t *sizes, int n)
{
    char *local = tu_tmp_path(name);
    char *p = tu_fmt("%s/manifest", local);
    make_file(p, 20, 'm');
    free(p);
    p = tu_fmt("%s/db/CURRENT", local);
    make_file(p, 16, 'c');
    free(p);
    for (int i = 0; i < n; i++) {
        p = tu_fmt("%s/db/%s", local, ssts[i]);
        make_file(p, sizes[i], (char)('a' + i));
        free(p);
    }
    return local;
}

static const struct rn_ck_shared *find_shared(const struct rn_ck_part *p, const char *name)
{
    for (size_t i = 0; i < p->n_shared; i++)
        if (!strcmp(p->shared[i].name, name)) return &p->shared[i];
    return NULL;
}

START_TEST(upload_copies_only_sst_files_not_uploaded_before)
{
    char *jd = tu_tmp_path("job"), *c1 = tu_fmt("%s/chk-1", jd), *c2 = tu_fmt("%s/chk-2", jd);
    char *shared = tu_fmt("%s/shared", jd);
    ck_assert(rn__mkdir_p(shared) == 0 && rn__mkdir_p(c1) == 0 && rn__mkdir_p(c2) == 0);
    struct rn_ck_known known = {0};
    struct rn_error err;
    /* first: everything is copied; the SSTs into shared/ */
    const char *s1[] = {"000007.sst", "000009.sst"};
    const size_t z1[] = {1000, 3000};
    char *local = make_snapshot("snap1", s1, z1, 2);
    struct rn_ck_part p1 = {0};
    uint64_t written = 0;
    ck_assert_msg(rn__ck_upload_keyed(jd, c1, "op-0/keyed", local, "inst", &known, &p1, &written, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(written, 1000 + 3000 + 20 + 16);
    ck_assert(!exists(local));   /* the local snapshot is removed */
    ck_assert_uint_eq(p1.n_shared, 2);
    ck_assert_uint_eq(p1.n_files, 2);   /* manifest and db/CURRENT */
    ck_assert_str_eq(p1.keyed, "op-0/keyed");
    const struct rn_ck_shared *a = find_shared(&p1, "000007.sst");
    ck_assert(a && a->size == 1000);
    ck_assert_str_eq(a->path, "shared/inst-000007.sst");
    ck_assert(exists_in(jd, "shared/inst-000007.sst") && exists_in(jd, "shared/inst-000009.sst"));
    ck_assert(exists_in(c1, "op-0/keyed/manifest") && exists_in(c1, "op-0/keyed/db/CURRENT"));
    ck_assert(!exists_in(c1, "op-0/keyed/db/000007.sst"));
    free(local);
    /* second: 000009 is known and kept, 000011 is new; 000007 is gone from the snapshot */
    const char *s2[] = {"000009.sst", "000011.sst"};
    const size_t z2[] = {3000, 500};
    local = make_snapshot("snap2", s2, z2, 2);
    struct rn_ck_part p2 = {0};
    written = 0;
    ck_assert_msg(rn__ck_upload_keyed(jd, c2, "op-0/keyed", local, "inst", &known, &p2, &written, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(written, 500 + 20 + 16);
    ck_assert_uint_eq(p2.n_shared, 2);
    ck_assert_str_eq(find_shared(&p2, "000009.sst")->path, "shared/inst-000009.sst");
    ck_assert_str_eq(find_shared(&p2, "000011.sst")->path, "shared/inst-000011.sst");
    ck_assert(!find_shared(&p2, "000007.sst"));
    free(local);
    /* a file of a known name but another size is not the same file: copied again */
    const char *s3[] = {"000011.sst"};
    const size_t z3[] = {501};
    local = make_snapshot("snap3", s3, z3, 1);
    struct rn_ck_part p3 = {0};
    written = 0;
    char *c3 = tu_fmt("%s/chk-3", jd);
    ck_assert(rn__mkdir_p(c3) == 0);
    ck_assert_msg(rn__ck_upload_keyed(jd, c3, "op-0/keyed", local, "inst", &known, &p3, &written, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(written, 501 + 20 + 16);
    free(local);
    free(c3);
    rn__ck_part_clear(&p1);
    rn__ck_part_clear(&p2);
    rn__ck_part_clear(&p3);
    rn__ck_known_free(&known);
    free(shared);
    free(c1);
    free(c2);
    free(jd);
}
END_TEST

START_TEST(a_savepoint_upload_keeps_its_sst_files_inside_it)
{
    char *jd = tu_tmp_path("job"), *sp = tu_tmp_path("sp");
    ck_assert(rn__mkdir_p(sp) == 0 && rn__mkdir_p(jd) == 0);
    const char *s1[] = {"000007.sst"};
    const size_t z1[] = {1000};
    char *local = make_snapshot("snap", s1, z1, 1);
    struct rn_ck_part p = {0};
    uint64_t written = 0;
    struct rn_error err;
    ck_assert_msg(rn__ck_upload_keyed(jd, sp, "op-0/keyed", local, "inst", NULL, &p, &written, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(p.n_shared, 0);
    ck_assert_uint_eq(p.n_files, 3);
    ck_assert_uint_eq(written, 1000 + 20 + 16);
    ck_assert(exists_in(sp, "op-0/keyed/db/000007.sst"));
    ck_assert(!exists_in(jd, "shared/inst-000007.sst"));
    rn__ck_part_clear(&p);
    free(local);
    free(sp);
    free(jd);
}
END_TEST

/* ---- materialize ---- */

START_TEST(materialize_puts_private_and_shared_files_together)
{
    char *root = tu_tmp_path("ck"), *tmp = tu_tmp_path("restore");
    struct rn_ck_store *s = open_store(root, 2);
    complete(s, 1, "a.sst b.sst");
    char *c1 = tu_fmt("%s/chk-1", rn__ck_store_dir(s));
    struct rn_ck_meta m;
    struct rn_error err;
    ck_assert_msg(rn__ck_meta_read(c1, &m, &err) == 0, "%s", err.msg);
    char out[4096];
    bool made = false;
    ck_assert_msg(rn__ck_materialize(&m, &m.parts[0], tmp, out, sizeof out, &made, &err) == 0, "%s", err.msg);
    ck_assert(made);
    ck_assert_str_eq(out, tmp);
    /* the private files without the part's keyed prefix, the shared ones under db/ by name */
    ck_assert(exists_in(tmp, "MANIFEST"));
    ck_assert(exists_in(tmp, "db/a.sst") && exists_in(tmp, "db/b.sst"));
    char *a = tu_fmt("%s/db/a.sst", tmp), *text = tu_slurp(a);
    ck_assert(text && strlen(text) == 100 && text[0] == 's');
    free(text);
    free(a);
    rn__rm_rf(tmp);
    /* a part without shared files is restored from where it is */
    free(m.parts[0].shared[0].name);
    free(m.parts[0].shared[0].path);
    free(m.parts[0].shared[1].name);
    free(m.parts[0].shared[1].path);
    m.parts[0].n_shared = 0;
    ck_assert_msg(rn__ck_materialize(&m, &m.parts[0], tmp, out, sizeof out, &made, &err) == 0, "%s", err.msg);
    ck_assert(!made);
    char *want = tu_fmt("%s/op-0/keyed", c1);
    ck_assert_str_eq(out, want);
    ck_assert(!exists(tmp));
    free(want);
    rn__ck_meta_free(&m);
    rn__ck_store_close(s);
    free(c1);
    free(tmp);
    free(root);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("checkpoint_store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, completing_keeps_the_last_retain_checkpoints_and_their_shared_files);
    tcase_add_test(tc, a_savepoint_is_not_retained_and_takes_no_reference);
    tcase_add_test(tc, opening_removes_incomplete_checkpoints_and_orphan_files_and_counts_references);
    tcase_add_test(tc, a_job_directory_is_used_by_one_run_at_a_time);
    tcase_add_test(tc, a_job_name_that_cannot_name_a_directory_is_refused);
    tcase_add_loop_test(tc, metadata_framing_errors_are_named, 0, (int)(sizeof edits / sizeof edits[0]));
    tcase_add_test(tc, metadata_paths_may_not_leave_the_checkpoint);
    tcase_add_test(tc, upload_copies_only_sst_files_not_uploaded_before);
    tcase_add_test(tc, a_savepoint_upload_keeps_its_sst_files_inside_it);
    tcase_add_test(tc, materialize_puts_private_and_shared_files_together);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
