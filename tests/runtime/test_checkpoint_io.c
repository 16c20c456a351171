/*
 * test_checkpoint_io.c — the `checkpoint_io` runtime suite: the positions of the sources
 * (datagen, nexmark, file_source) and the exactly-once file_sink across checkpoints, failures
 * and restores, through real jobs run in-process. A "crash" is a cancel after some checkpoints
 * completed (nothing more is committed); the job then runs again restored from the latest
 * completed checkpoint to its end. The committed output must hold every row once: it is
 * compared with a failure-free run and, where the rows can be computed here, with that
 * computation. Rescaling goes through savepoints taken by a stop.
 *
 * The jobs pace their sources (`rate_limit`) only so that checkpoints complete while they run;
 * no result depends on timing.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runnel/runner.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-ckio"); }
static void teardown(void) { tu_tmp_teardown(); }

/* ---- running, crashing, restoring ---- */


/* Stops the job with a savepoint (its sinks commit what it covers); returns its directory. */
static char *stop_with_savepoint(struct rt_ckrun *run)
{
    struct rn_error err;
    int64_t id;
    int rc;
    while ((rc = rn_runner_trigger(run->r, true, NULL, true, &id, &err)) == RN_EAGAIN) {
        ck_assert_msg(!rn_runner_wait(run->r, 5), "the job ended before its savepoint");
    }
    ck_assert_msg(rc == 0, "savepoint: %s", err.msg);
    char path[1024];
    ck_assert_msg(rn_runner_wait_checkpoint(run->r, id, RT_RUN_WAIT_MS, path, sizeof path, &err) == 0, "savepoint: %s",
                  err.msg);
    ck_assert_msg(rn_runner_wait(run->r, RT_RUN_WAIT_MS), "the job did not stop after its savepoint");
    rt_ckrun_end(run);
    return strdup(path);
}

/* Waits for the job's end, which must be a finish. */
static void finish_ok(struct rt_ckrun *run)
{
    ck_assert_msg(rn_runner_wait(run->r, RT_RUN_WAIT_MS), "the job did not end");
    const char *why = NULL;
    enum rn_run_state st = rn_runner_state(run->r, &why);
    ck_assert_msg(st == RN_RUN_FINISHED, "the job did not finish: %s", why ? why : "?");
    rt_ckrun_end(run);
}

/* Parses text (which must validate) with the built-in operators. */
static struct rn_job *parse(const char *text)
{
    rn_registry *reg = rt_registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    rn_registry_destroy(reg);
    return job;
}

/* Runs text fresh to its end. */
static void run_text_ok(const char *text)
{
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    finish_ok(&run);
    rn_job_free(job);
}

/* rt_run_crash_restore (the crashed run paced as slowly) with something done between the crash
 * and the restore: before_restore runs with the directory of the checkpoint the job restarts from. */
static void crash_and_restore(const char *text, uint64_t n, void (*before_restore)(const char *chk, void *), void *user)
{
    char *slow = rt_slower_sources(text, RT_CRASH_RUN_SLOWER);
    struct rn_job *crashed = parse(slow), *job = parse(text);
    free(slow);
    struct rt_ckrun run = rt_ckrun_start(crashed, NULL);
    rt_wait_checkpoints(&run, n);
    char *chk = rt_ckrun_crash(&run);
    rn_job_free(crashed);
    if (before_restore) before_restore(chk, user);
    run = rt_ckrun_start(job, chk);
    finish_ok(&run);
    free(chk);
    rn_job_free(job);
}

/* ---- output ---- */

/* The names in dir that start with prefix. */
static size_t count_names(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d, "no directory %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Every committed row once: the lines of a failure-free run, sorted, equal these. */
static void expect_same_rows(const char *got_dir, const char *want_dir, const char *what)
{
    struct rt_lines got = rt_read_csv_parts(got_dir), want = rt_read_csv_parts(want_dir);
    ck_assert_msg(want.n > 0, "%s: the failure-free run wrote nothing", what);
    rt_lines_expect(&got, &want, what);
    rt_lines_free(&got);
    rt_lines_free(&want);
}

/* ---- datagen ---- */

/* seq, a function of it, and random fields: rows 0 .. DG_ROWS-1. */
#define DG_ROWS 40000
#define DG_JOB                                                                                            \
    "name: dg\nparallelism: %d\nmax_parallelism: 16\n"                                                   \
    "checkpoint: { interval: 30ms, dir: %s }\n"                                                          \
    "operators:\n"                                                                                       \
    "  - id: gen\n    type: datagen\n"                                                                   \
    "    with:\n      rows: %d\n      rate_limit: %d\n      splits: %d\n      seed: 7\n      fields:\n" \
    "        seq: seq\n        v: \"seq * 7 %% 1000\"\n"                                                 \
    "        r: { type: int64, min: 0, max: 1000000 }\n        s: { type: string, min_length: 3, max_length: 9 }\n" \
    "        d: { type: double, null_rate: 0.1 }\n"                                                      \
    "  - id: out\n    type: file_sink\n    input: gen\n    with: { path: %s, format: csv, delivery: exactly_once }\n"

static char *dg_text(int parallelism, int rate, int splits, const char *chk, const char *out)
{
    return tu_fmt(DG_JOB, parallelism, chk, DG_ROWS, rate, splits, out);
}

/* Independent check of the committed rows: seq 0 .. DG_ROWS-1 each once, v = seq * 7 % 1000. */
static void expect_dg_rows(const char *dir)
{
    struct rt_lines got = rt_read_csv_parts(dir);
    char *seen = calloc(DG_ROWS, 1);
    ck_assert(seen);
    for (size_t i = 0; i < got.n; i++) {
        char *end;
        long long seq = strtoll(got.v[i], &end, 10), v = strtoll(end + 1, NULL, 10);
        CHECK_MSG(*end == ',' && seq >= 0 && seq < DG_ROWS, "bad row %s", got.v[i]);
        CHECK_MSG(!seen[seq], "row %lld twice", seq);
        CHECK_MSG(v == seq * 7 % 1000, "row %s: v should be %lld", got.v[i], seq * 7 % 1000);
        seen[seq] = 1;
    }
    CHECK_MSG(got.n == DG_ROWS, "%zu rows, want %d", got.n, DG_ROWS);
    free(seen);
    rt_lines_free(&got);
}

START_TEST(datagen_restored_run_makes_exactly_the_rows_after_the_checkpoint)
{
    char *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out"), *ref = tu_tmp_path("ref"), *chk2 = tu_tmp_path("chk2");
    char *text = dg_text(2, 20000, 3, chk, out), *ref_text = dg_text(2, 0, 3, chk2, ref);
    rt_run_crash_restore(NULL, text, NULL, 2);
    run_text_ok(ref_text);
    expect_dg_rows(out);
    expect_same_rows(out, ref, "datagen after a crash and a restore");
    free(text);
    free(ref_text);
    free(chk);
    free(chk2);
    free(out);
    free(ref);
}
END_TEST

START_TEST(datagen_rescales_1_to_2_to_1_through_savepoints)
{
    char *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out"), *ref = tu_tmp_path("ref"), *chk2 = tu_tmp_path("chk2");
    char *t1 = dg_text(1, 15000, 4, chk, out), *t2 = dg_text(2, 15000, 4, chk, out), *ref_text = dg_text(1, 0, 4, chk2, ref);
    struct rn_job *j1 = parse(t1), *j2 = parse(t2);
    struct rt_ckrun run = rt_ckrun_start(j1, NULL);
    rt_wait_checkpoints(&run, 1);
    char *sp1 = stop_with_savepoint(&run);
    run = rt_ckrun_start(j2, sp1);
    rt_wait_checkpoints(&run, 1);
    char *sp2 = stop_with_savepoint(&run);
    run = rt_ckrun_start(j1, sp2);
    finish_ok(&run);
    run_text_ok(ref_text);
    expect_dg_rows(out);
    expect_same_rows(out, ref, "datagen through parallelism 1, 2, 1");
    rn_job_free(j1);
    rn_job_free(j2);
    free(sp1);
    free(sp2);
    free(t1);
    free(t2);
    free(ref_text);
    free(chk);
    free(chk2);
    free(out);
    free(ref);
}
END_TEST

/* ---- nexmark ---- */

#define NX_EVENTS 60000
#define NX_JOB                                                                                       \
    "name: nx\nparallelism: %d\nmax_parallelism: 16\ncheckpoint: { interval: 30ms, dir: %s }\n"     \
    "operators:\n"                                                                                  \
    "  - id: src\n    type: nexmark\n    with: { kind: %s, events: %d, rate_limit: %d, seed: 3 }\n"  \
    "  - id: out\n    type: file_sink\n    input: src\n    with: { path: %s, format: csv, delivery: exactly_once }\n"

START_TEST(nexmark_restored_run_makes_exactly_the_events_after_the_checkpoint)
{
    char *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out"), *ref = tu_tmp_path("ref"), *chk2 = tu_tmp_path("chk2");
    char *text = tu_fmt(NX_JOB, 2, chk, "all", NX_EVENTS, 30000, out), *ref_text = tu_fmt(NX_JOB, 2, chk2, "all", NX_EVENTS, 0, ref);
    rt_run_crash_restore(NULL, text, NULL, 2);
    run_text_ok(ref_text);
    expect_same_rows(out, ref, "nexmark after a crash and a restore");
    free(text);
    free(ref_text);
    free(chk);
    free(chk2);
    free(out);
    free(ref);
}
END_TEST

START_TEST(nexmark_rescales_2_to_1_through_a_savepoint)
{
    char *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out"), *ref = tu_tmp_path("ref"), *chk2 = tu_tmp_path("chk2");
    char *t2 = tu_fmt(NX_JOB, 2, chk, "bid", NX_EVENTS, 30000, out), *t1 = tu_fmt(NX_JOB, 1, chk, "bid", NX_EVENTS, 30000, out);
    char *ref_text = tu_fmt(NX_JOB, 2, chk2, "bid", NX_EVENTS, 0, ref);
    struct rn_job *j2 = parse(t2), *j1 = parse(t1);
    struct rt_ckrun run = rt_ckrun_start(j2, NULL);
    rt_wait_checkpoints(&run, 1);
    char *sp = stop_with_savepoint(&run);
    run = rt_ckrun_start(j1, sp);
    finish_ok(&run);
    run_text_ok(ref_text);
    expect_same_rows(out, ref, "nexmark from parallelism 2 to 1");
    rn_job_free(j1);
    rn_job_free(j2);
    free(sp);
    free(t1);
    free(t2);
    free(ref_text);
    free(chk);
    free(chk2);
    free(out);
    free(ref);
}
END_TEST

/* ---- file_source ---- */

/* FS_FILES CSV files of FS_LINES rows each (a, b, name), columns in two orders; the rows a
 * test expects are built beside them. The source is slowed by the sink's back-pressure only,
 * so the files are large enough for checkpoints to complete while it reads. */
#define FS_FILES 6
#define FS_LINES 60000
#define FS_JOB                                                                                           \
    "name: fs\nparallelism: %d\nmax_parallelism: 16\ncheckpoint: { interval: 10ms, dir: %s }\n"         \
    "operators:\n"                                                                                      \
    "  - id: src\n    type: file_source\n"                                                              \
    "    with: { path: %s, format: csv, schema: { a: int64, b: int64, name: string } }\n"               \
    "  - id: out\n    type: file_sink\n    input: src\n    with: { path: %s, format: csv, delivery: exactly_once }\n"

static void write_csv_file(const char *path, int file, int lines, struct rt_lines *want)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f, "cannot create %s", path);
    bool swapped = file % 2;   /* every other file has its columns in another order */
    fputs(swapped ? "name,b,a\n" : "a,b,name\n", f);
    for (int i = 0; i < lines; i++) {
        long long a = (long long)file * 1000000 + i, b = (a * 31) % 977;
        if (swapped) fprintf(f, "n%lld,%lld,%lld\n", a, b, a);
        else fprintf(f, "%lld,%lld,n%lld\n", a, b, a);
        if (want) rt_lines_addf(want, "%lld,%lld,n%lld", a, b, a);
    }
    ck_assert(fclose(f) == 0);
}

static char *make_csv_dir(struct rt_lines *want)
{
    char *dir = tu_tmp_path("in");
    ck_assert(mkdir(dir, 0777) == 0);
    for (int i = 0; i < FS_FILES; i++) {
        char *p = tu_fmt("%s/f%02d.csv", dir, i);
        write_csv_file(p, i, FS_LINES, want);
        free(p);
    }
    return dir;
}

START_TEST(file_source_restored_run_reads_each_file_from_its_offset)
{
    struct rt_lines want = {0};
    char *in = make_csv_dir(&want), *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out");
    char *text = tu_fmt(FS_JOB, 2, chk, in, out);
    rt_run_crash_restore(NULL, text, NULL, 1);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, "file_source after a crash and a restore");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(in);
    free(chk);
    free(out);
}
END_TEST

/* A checkpoint of parallelism 2 restored at 3: the files are dealt out again. */
START_TEST(file_source_restored_at_another_parallelism_reads_every_row_once)
{
    struct rt_lines want = {0};
    char *in = make_csv_dir(&want), *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out");
    char *t2 = tu_fmt(FS_JOB, 2, chk, in, out), *t3 = tu_fmt(FS_JOB, 3, chk, in, out);
    rt_run_crash_restore(NULL, t2, t3, 1);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, "file_source from parallelism 2 to 3");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(t2);
    free(t3);
    free(in);
    free(chk);
    free(out);
}
END_TEST

struct add_file {
    const char *dir;
    struct rt_lines *want;
};

static void add_a_file(const char *chk, void *user)
{
    (void)chk;
    struct add_file *a = user;
    char *p = tu_fmt("%s/f99-new.csv", a->dir);
    write_csv_file(p, 99, 1000, a->want);
    free(p);
}

START_TEST(file_source_restored_run_reads_a_file_added_since_the_checkpoint)
{
    struct rt_lines want = {0};
    char *in = make_csv_dir(&want), *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out");
    char *text = tu_fmt(FS_JOB, 2, chk, in, out);
    struct add_file a = {in, &want};
    crash_and_restore(text, 1, add_a_file, &a);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, "file_source with a file added before the restore");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(in);
    free(chk);
    free(out);
}
END_TEST

/* ---- file_sink ---- */

/* datagen -> deduplicate (keyed state: the first row of each k = seq % 5000, i.e. seq < 5000)
 * -> file_sink. Keys of one datagen subtask never meet another's (k has seq's parity), so
 * the first row of each key is the one with seq = k whatever the timing. */
#define SINK_ROWS 40000
#define SINK_JOB                                                                                          \
    "name: sink\nparallelism: 2\nmax_parallelism: 16\nstate: { backend: %s }\n"                          \
    "%s"                                                                                                 \
    "operators:\n"                                                                                       \
    "  - id: gen\n    type: datagen\n"                                                                   \
    "    with: { rows: %d, rate_limit: %d, fields: { seq: seq, k: \"seq %% 5000\", w: \"seq * 3\" } }\n" \
    "  - id: dedup\n    type: deduplicate\n    input: gen\n    key_by: k\n"                             \
    "  - id: all\n    type: file_sink\n    input: gen\n    with: { path: %s, format: csv, delivery: %s }\n" \
    "  - id: firsts\n    type: file_sink\n    input: dedup\n    with: { path: %s, format: csv, delivery: %s }\n"

/* interval NULL: no checkpoint block */
static char *sink_text(int backend, const char *interval, const char *chk, int rate, const char *all, const char *firsts,
                       const char *delivery)
{
    char *ck = interval ? tu_fmt("checkpoint: { interval: %s, dir: %s }\n", interval, chk) : strdup("");
    char *t = tu_fmt(SINK_JOB, rt_backends[backend], ck, SINK_ROWS, rate, all, delivery, firsts, delivery);
    free(ck);
    return t;
}

static struct rt_lines sink_want_all(void)
{
    struct rt_lines l = {0};
    for (long long s = 0; s < SINK_ROWS; s++) rt_lines_addf(&l, "%lld,%lld,%lld", s, s % 5000, s * 3);
    return l;
}

static struct rt_lines sink_want_firsts(void)
{
    struct rt_lines l = {0};
    for (long long s = 0; s < 5000; s++) rt_lines_addf(&l, "%lld,%lld,%lld", s, s, s * 3);
    return l;
}

static void expect_sink_output(const char *all, const char *firsts, const char *what)
{
    struct rt_lines got = rt_read_csv_parts(all), want = sink_want_all();
    rt_lines_expect_sorted(&got, &want, what);
    rt_lines_free(&got);
    rt_lines_free(&want);
    got = rt_read_csv_parts(firsts);
    want = sink_want_firsts();
    rt_lines_expect_sorted(&got, &want, what);
    rt_lines_free(&got);
    rt_lines_free(&want);
}

/* Leftovers of a crashed run that the restore must delete: an in-progress file of subtask 1
 * and one of a subtask 5 that the job does not have (written at another parallelism), both
 * with rows that must not show up. */
static void plant_leftovers(const char *chk, void *user)
{
    (void)chk;
    const char *dir = user;
    static const char *const names[] = {".part-1-0-999.csv.inprogress", ".part-5-0-0.csv.inprogress"};
    for (int i = 0; i < 2; i++) {
        char *p = tu_fmt("%s/%s", dir, names[i]);
        tu_write_file(p, "seq,k,w\n-1,-1,-1\n");
        free(p);
    }
}

START_TEST(file_sink_exactly_once_commits_each_row_once_across_a_crash)
{
    char *chk = tu_tmp_path("chk"), *all = tu_tmp_path("all"), *firsts = tu_tmp_path("firsts");
    char *text = sink_text(_i, "30ms", chk, 20000, all, firsts, "exactly_once");
    crash_and_restore(text, 2, plant_leftovers, all);
    expect_sink_output(all, firsts, "exactly_once after a crash and a restore");
    ck_assert_msg(count_names(all, ".part-") == 0 && count_names(firsts, ".part-") == 0,
                  "in-progress files are left after the restored run");
    free(text);
    free(chk);
    free(all);
    free(firsts);
}
END_TEST

/* A savepoint that is not a stop commits nothing: when the job then fails, its pending files
 * exist only as in-progress files, and the run restored from it must commit them. */
START_TEST(file_sink_exactly_once_restore_commits_what_its_checkpoint_lists)
{
    char *chk = tu_tmp_path("chk"), *all = tu_tmp_path("all"), *firsts = tu_tmp_path("firsts");
    char *text = sink_text(_i, "1h", chk, 20000, all, firsts, "exactly_once");
    struct rn_job *job = parse(text);
    int node = rn_job_find(job, "all");
    ck_assert(node >= 0);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    for (uint64_t in = 0, out; in < 4000;) {
        ck_assert_msg(!rn_runner_wait(run.r, 5), "the job ended early");
        rn_runner_node_stats(run.r, (uint32_t)node, &in, &out);
    }
    struct rn_error err;
    int64_t id;
    char sp[1024];
    ck_assert_msg(rn_runner_trigger(run.r, true, NULL, false, &id, &err) == 0, "savepoint: %s", err.msg);
    ck_assert_msg(rn_runner_wait_checkpoint(run.r, id, RT_RUN_WAIT_MS, sp, sizeof sp, &err) == 0, "savepoint: %s", err.msg);
    ck_assert_msg(count_names(all, "part-") == 0, "a savepoint committed files");
    ck_assert_msg(count_names(all, ".part-") > 0, "no in-progress file before the savepoint");
    rn_runner_cancel(run.r);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    rt_ckrun_end(&run);
    run = rt_ckrun_start(job, sp);
    finish_ok(&run);
    expect_sink_output(all, firsts, "exactly_once restored from a savepoint");
    ck_assert_msg(count_names(all, ".part-") == 0, "in-progress files are left after the restored run");
    rn_job_free(job);
    free(text);
    free(chk);
    free(all);
    free(firsts);
}
END_TEST

START_TEST(file_sink_exactly_once_without_checkpoints_commits_at_the_end)
{
    char *all = tu_tmp_path("all"), *firsts = tu_tmp_path("firsts");
    char *text = sink_text(_i, NULL, NULL, 0, all, firsts, "exactly_once");
    run_text_ok(text);
    expect_sink_output(all, firsts, "exactly_once without checkpoints");
    for (int s = 0; s < 2; s++) {
        char *p = tu_fmt("%s/part-%d-0-0.csv", all, s);
        ck_assert_msg(exists(p), "no committed file %s", p);
        free(p);
    }
    ck_assert_uint_eq(count_names(all, "part-"), 2);
    ck_assert_uint_eq(count_names(all, ".part-"), 0);
    free(text);
    free(all);
    free(firsts);
}
END_TEST

START_TEST(file_sink_exactly_once_fresh_start_replaces_earlier_output)
{
    char *all = tu_tmp_path("all"), *firsts = tu_tmp_path("firsts");
    ck_assert(mkdir(all, 0777) == 0);
    static const char *const old[] = {"part-0-4-2.csv", "part-7-0-0.csv", ".part-1-3-0.csv.inprogress"};
    for (int i = 0; i < 3; i++) {
        char *p = tu_fmt("%s/%s", all, old[i]);
        tu_write_file(p, "seq,k,w\n-5,-5,-5\n");
        free(p);
    }
    char *other = tu_fmt("%s/notes.txt", all);   /* not the sink's: kept */
    tu_write_file(other, "x\n");
    char *text = sink_text(0, NULL, NULL, 0, all, firsts, "exactly_once");
    run_text_ok(text);
    expect_sink_output(all, firsts, "exactly_once over an earlier run's output");
    ck_assert_msg(exists(other), "a file that is not the sink's was deleted");
    free(other);
    free(text);
    free(all);
    free(firsts);
}
END_TEST

/* 20 rows over many checkpoints (10 ms apart, a row every 100 ms per subtask): most
 * checkpoints see no new rows, and none of them may commit an empty file. */
START_TEST(file_sink_exactly_once_commits_no_empty_files)
{
    char *chk = tu_tmp_path("chk"), *out = tu_tmp_path("out");
    char *text = tu_fmt("name: few\nparallelism: 2\ncheckpoint: { interval: 10ms, dir: %s }\noperators:\n"
                        "  - { id: gen, type: datagen, with: { rows: 20, rate_limit: 20, fields: { seq: seq } } }\n"
                        "  - { id: out, type: file_sink, input: gen, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        chk, out);
    run_text_ok(text);
    struct rt_lines want = {0};
    for (int s = 0; s < 20; s++) rt_lines_addf(&want, "%d", s);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, "rows of a slow source");
    size_t files = count_names(out, "part-");
    ck_assert_msg(files >= 1 && files <= 20, "%zu committed files for 20 rows: some are empty", files);
    DIR *d = opendir(out);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "part-", 5)) continue;
        char *p = tu_fmt("%s/%s", out, e->d_name), *body = tu_slurp(p);
        ck_assert_msg(body && strchr(body, '\n') && strchr(body, '\n')[1], "%s holds no row", p);
        free(body);
        free(p);
    }
    closedir(d);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(chk);
    free(out);
}
END_TEST

START_TEST(file_sink_exactly_once_fails_naming_a_directory_it_cannot_make)
{
    char *file = tu_tmp_path("plain"), *bad = tu_fmt("%s/sub", file);
    tu_write_file(file, "not a directory\n");
    char *text = tu_fmt("name: bad\noperators:\n"
                        "  - { id: gen, type: datagen, with: { rows: 10, fields: { seq: seq } } }\n"
                        "  - { id: out, type: file_sink, input: gen, with: { path: %s, delivery: exactly_once } }\n",
                        bad);
    struct rn_job *job = parse(text);
    char why[1024];
    ck_assert_int_eq(rt_run(job, why, sizeof why, NULL, NULL, NULL), RN_RUN_FAILED);
    ck_assert_msg(strstr(why, bad) && strstr(why, "out"), "the error does not name the directory and the operator: %s", why);
    rn_job_free(job);
    free(text);
    free(bad);
    free(file);
}
END_TEST

START_TEST(file_sink_refuses_an_unknown_delivery)
{
    rt_expect_invalid(NULL,
                      "name: bad\noperators:\n"
                      "  - { id: gen, type: datagen, with: { rows: 10, fields: { seq: seq } } }\n"
                      "  - { id: out, type: file_sink, input: gen, with: { path: /tmp/x, delivery: twice } }\n",
                      "delivery");
}
END_TEST

/* at_least_once: the restored run appends to the part files; every row is there at least once
 * and each file has one header. */
START_TEST(file_sink_at_least_once_restore_appends_every_row)
{
    char *chk = tu_tmp_path("chk"), *all = tu_tmp_path("all"), *firsts = tu_tmp_path("firsts");
    char *text = sink_text(_i, "30ms", chk, 20000, all, firsts, "at_least_once");
    rt_run_crash_restore(NULL, text, NULL, 2);
    struct rt_lines got = rt_read_csv_parts(all), want = sink_want_all();
    size_t kept = 0;   /* repeats dropped */
    for (size_t i = 0; i < got.n; i++)
        if (kept == 0 || strcmp(got.v[kept - 1], got.v[i])) got.v[kept++] = got.v[i];
        else free(got.v[i]);
    got.n = kept;
    rt_lines_expect_sorted(&got, &want, "at_least_once after a crash and a restore");
    for (int s = 0; s < 2; s++) {
        char *p = tu_fmt("%s/part-%d.csv", all, s), *body = tu_slurp(p);
        ck_assert_msg(body, "no %s", p);
        ck_assert_msg(!strncmp(body, "seq,k,w\n", 8) && !strstr(body + 1, "seq,k,w"), "%s: one header at the top", p);
        free(body);
        free(p);
    }
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(chk);
    free(all);
    free(firsts);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("checkpoint_io");
    TCase *tc = tcase_create("checkpoint_io");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, datagen_restored_run_makes_exactly_the_rows_after_the_checkpoint);
    tcase_add_test(tc, datagen_rescales_1_to_2_to_1_through_savepoints);
    tcase_add_test(tc, nexmark_restored_run_makes_exactly_the_events_after_the_checkpoint);
    tcase_add_test(tc, nexmark_rescales_2_to_1_through_a_savepoint);
    tcase_add_test(tc, file_source_restored_run_reads_each_file_from_its_offset);
    tcase_add_test(tc, file_source_restored_at_another_parallelism_reads_every_row_once);
    tcase_add_test(tc, file_source_restored_run_reads_a_file_added_since_the_checkpoint);
    tcase_add_loop_test(tc, file_sink_exactly_once_commits_each_row_once_across_a_crash, 0, 2);
    tcase_add_loop_test(tc, file_sink_exactly_once_restore_commits_what_its_checkpoint_lists, 0, 2);
    tcase_add_loop_test(tc, file_sink_exactly_once_without_checkpoints_commits_at_the_end, 0, 2);
    tcase_add_test(tc, file_sink_exactly_once_fresh_start_replaces_earlier_output);
    tcase_add_test(tc, file_sink_exactly_once_commits_no_empty_files);
    tcase_add_test(tc, file_sink_exactly_once_fails_naming_a_directory_it_cannot_make);
    tcase_add_test(tc, file_sink_refuses_an_unknown_delivery);
    tcase_add_loop_test(tc, file_sink_at_least_once_restore_appends_every_row, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
