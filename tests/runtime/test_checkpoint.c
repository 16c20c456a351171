/*
 * test_checkpoint.c — the `checkpoint` runtime suite: the engine's checkpoint protocol and
 * storage seen through real jobs run in-process. It covers the `checkpoint:` and `restart:` job
 * blocks (errors at their positions, defaults, packing), the restart strategies' delays, barrier
 * alignment with several inputs (exactly-once: a crash and a restore give the failure-free
 * output; at-least-once: nothing is lost), retention and the reference counts of the shared
 * RocksDB files, incremental RocksDB checkpoints, corrupt and incomplete checkpoints (detected,
 * skipped by a resolve, refused by a restore), failing checkpoint storage (the checkpoint fails,
 * the job goes on), savepoints (self-contained, rescaling 1 -> 2 -> 1, stop-with-savepoint), and
 * restores that run nothing (a finished job) or must be refused (another max_parallelism, state
 * of an unknown operator).
 *
 * The jobs pace their sources (`rate_limit`) only so that checkpoints complete while they run;
 * each result is compared with a failure-free run or with values computed here, never with a
 * timing. Where the operator keeps keyed state, both backends run.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_internal.h"
#include "runnel/checkpoint.h"
#include "runnel/runner.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-ckpt"); }
static void teardown(void) { tu_tmp_teardown(); }

/* ---- running jobs ---- */

/* Parses text (which must validate) with the built-in operators. */
static struct rn_job *parse(const char *text)
{
    rn_registry *reg = rt_registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    rn_registry_destroy(reg);
    return job;
}

/* Waits for the job's end, which must be a finish. */
static void finish_ok(struct rt_ckrun *run)
{
    ck_assert_msg(rn_runner_wait(run->r, RT_RUN_WAIT_MS), "the job did not end");
    const char *why = NULL;
    enum rn_run_state st = rn_runner_state(run->r, &why);
    ck_assert_msg(st == RN_RUN_FINISHED, "the job did not finish: %s", why ? why : "?");
}

/* Triggers a savepoint (stop: stop-with-savepoint) and waits for it; returns its directory. */
static char *take_savepoint(struct rt_ckrun *run, bool stop)
{
    struct rn_error err;
    int64_t id;
    int rc;
    while ((rc = rn_runner_trigger(run->r, true, NULL, stop, &id, &err)) == RN_EAGAIN)
        ck_assert_msg(!rn_runner_wait(run->r, 5), "the job ended before its savepoint");
    ck_assert_msg(rc == 0, "savepoint: %s", err.msg);
    char path[1024];
    ck_assert_msg(rn_runner_wait_checkpoint(run->r, id, RT_RUN_WAIT_MS, path, sizeof path, &err) == 0, "savepoint %" PRId64 ": %s",
                  id, err.msg);
    return strdup(path);
}

/* Rows the node with this id emitted so far. */
static uint64_t rows_out(const struct rn_job *job, struct rt_ckrun *run, const char *node)
{
    int at = rn_job_find(job, node);
    ck_assert_msg(at >= 0, "no node %s", node);
    uint64_t in, out;
    rn_runner_node_stats(run->r, (uint32_t)at, &in, &out);
    return out;
}

/* Runs text fresh to its end. */
static void run_text_ok(const char *text)
{
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    finish_ok(&run);
    rt_ckrun_end(&run);
    rn_job_free(job);
}

/* ---- files ---- */

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The ids of the chk-<n> directories in job_dir, ascending (at most max). */
static size_t chk_ids(const char *job_dir, int64_t *ids, size_t max)
{
    DIR *d = opendir(job_dir);
    ck_assert_msg(d, "no checkpoint directory %s", job_dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "chk-", 4)) continue;
        long long id = strtoll(e->d_name + 4, &end, 10);
        CHECK_MSG(!*end && id > 0, "odd name %s in %s", e->d_name, job_dir);
        ck_assert(n < max);
        size_t at = n++;
        while (at > 0 && ids[at - 1] > id) ids[at] = ids[at - 1], at--;
        ids[at] = id;
    }
    closedir(d);
    return n;
}

/* The names in dir (but hidden ones), sorted. */
static struct rt_lines file_names(const char *dir)
{
    struct rt_lines l = {0};
    DIR *d = opendir(dir);
    ck_assert_msg(d, "no directory %s", dir);
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') rt_lines_push(&l, strdup(e->d_name));
    closedir(d);
    rt_lines_sort(&l);
    return l;
}

static bool lines_have(const struct rt_lines *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return true;
    return false;
}

/* The shared paths (relative to the job's directory) a checkpoint's metadata refers to, each
 * once, sorted; the metadata must read (and its files check) without error. */
static struct rt_lines shared_of(const char *chk_dir)
{
    struct rn_ck_meta m;
    struct rn_error err;
    ck_assert_msg(rn__ck_meta_read(chk_dir, &m, &err) == 0, "%s", err.msg);
    struct rt_lines l = {0};
    for (size_t i = 0; i < m.n_parts; i++)
        for (size_t k = 0; k < m.parts[i].n_shared; k++)
            if (!lines_have(&l, m.parts[i].shared[k].path)) rt_lines_push(&l, strdup(m.parts[i].shared[k].path));
    rn__ck_meta_free(&m);
    rt_lines_sort(&l);
    return l;
}

/* Damage: cut a file to its first `size` bytes, flip the bits of one byte, append n bytes. */
static void truncate_file(const char *path, off_t size) { ck_assert_msg(truncate(path, size) == 0, "truncate %s", path); }

static void flip_byte(const char *path, long at)
{
    FILE *f = fopen(path, "r+b");
    ck_assert_msg(f, "cannot open %s", path);
    ck_assert(fseek(f, at, SEEK_SET) == 0);
    int c = fgetc(f);
    ck_assert(c != EOF);
    ck_assert(fseek(f, at, SEEK_SET) == 0);
    fputc(c ^ 0x5a, f);
    ck_assert(fclose(f) == 0);
}

static void append_bytes(const char *path, size_t n)
{
    FILE *f = fopen(path, "ab");
    ck_assert_msg(f, "cannot open %s", path);
    for (size_t i = 0; i < n; i++) fputc('x', f);
    ck_assert(fclose(f) == 0);
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_msg(stat(path, &st) == 0, "no file %s", path);
    return st.st_size;
}

/* ---- 1. the checkpoint: and restart: blocks ---- */

#define OPS "operators:\n  - { id: g, type: datagen, with: { rows: 1, fields: { a: seq } } }\n" \
            "  - { id: o, type: blackhole, input: g }\n"

/* A refused job: its text, a word of the message, and the error's line and column (the value
 * the message is about; columns count from 1). */
struct bad_block {
    const char *text, *word;
    int line, column;
};
static const struct bad_block bad_blocks[] = {
    {"name: v\ncheckpoint: { mode: exactly_once }\n" OPS, "needs an interval", 2, 13},
    {"name: v\ncheckpoint: { interval: 1s, mode: twice }\n" OPS, "mode must be exactly_once or at_least_once", 2, 35},
    {"name: v\ncheckpoint: { interval: 1s, dir: s3://bucket/ck }\n" OPS, "only file:// storage is supported", 2, 34},
    {"name: v\ncheckpoint: { interval: 1s, savepoint_dir: \"hdfs://nn/sp\" }\n" OPS, "only file:// storage", 2, 44},
    {"name: v\ncheckpoint: { interval: 1s, dir: \"file://\" }\n" OPS, "has no path", 2, 34},
    {"name: v\ncheckpoint: { interval: 1s, retain: 0 }\n" OPS, "retain must be from 1 to 1000", 2, 37},
    {"name: v\ncheckpoint: { interval: 5ms }\n" OPS, "interval must be at least 10ms", 2, 25},
    {"name: v\ncheckpoint: every 10s\n" OPS, "checkpoint must be a map", 2, 13},
    {"name: v\ncheckpoint: { interval: 1s, retian: 3 }\n" OPS, "retian", 2, 29},
    {"name: v\ncheckpoint: { interval: 1s }\nrestart: { strategy: sometimes }\n" OPS,
     "strategy must be fixed-delay, exponential-delay or none", 3, 22},
    {"name: v\nrestart: { strategy: fixed-delay }\n" OPS, "restart needs a checkpoint block", 2, 22},
    {"name: v\nrestart: { attempts: 3 }\n" OPS, "restart needs a checkpoint block", 2, 10},
    {"name: v\ncheckpoint: { interval: 1s }\nrestart: { strategy: exponential-delay, multiplier: 0.5 }\n" OPS,
     "multiplier must be from 1 to 100", 3, 53},
    {"name: v\ncheckpoint: { interval: 1s }\nrestart: { strategy: exponential-delay, multiplier: 101 }\n" OPS,
     "multiplier must be from 1 to 100", 3, 53},
    {"name: v\ncheckpoint: { interval: 1s }\nrestart: { strategy: exponential-delay, delay: 10s, max_delay: 1s }\n" OPS,
     "max_delay must not be below delay", 3, 10},
};

START_TEST(checkpoint_and_restart_errors_are_reported_at_their_position)
{
    const struct bad_block *b = &bad_blocks[_i];
    rn_registry *reg = rt_registry();
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    ck_assert_msg(rn_job_parse("test.yaml", b->text, strlen(b->text), reg, &job, &errs) != 0, "accepted:\n%s", b->text);
    bool found = false;
    for (size_t i = 0; i < errs.n && !found; i++)
        found = strstr(errs.items[i].msg, b->word) && errs.items[i].line == b->line && errs.items[i].column == b->column;
    char *all = rt_errors_text(&errs);
    CHECK_MSG(found, "no error with \"%s\" at %d:%d; got:\n%s--- job:\n%s", b->word, b->line, b->column, all, b->text);
    free(all);
    rn_job_errors_free(&errs);
    rn_registry_destroy(reg);
}
END_TEST

START_TEST(checkpoint_block_defaults)
{
    struct rn_job *job = parse("name: v\ncheckpoint: { interval: 2s }\n" OPS);
    const struct rn_checkpoint_spec *c = &job->checkpoint;
    ck_assert(c->enabled);
    ck_assert_int_eq(c->interval, 2000);
    ck_assert_int_eq(c->mode, RN_CHECKPOINT_EXACTLY_ONCE);
    ck_assert_str_eq(c->dir, "checkpoints");
    ck_assert_ptr_null(c->savepoint_dir);
    ck_assert_uint_eq(c->retain, 3);
    ck_assert_int_eq(c->timeout, 10 * 60 * 1000);
    ck_assert_int_eq(c->min_pause, 0);
    /* with checkpoints, a failed job restarts: fixed-delay, 10 attempts, 1 s apart */
    const struct rn_restart_spec *r = &job->restart;
    ck_assert_int_eq(r->kind, RN_RESTART_FIXED_DELAY);
    ck_assert_uint_eq(r->attempts, 10);
    ck_assert_int_eq(r->delay, 1000);
    rn_job_free(job);
}
END_TEST

START_TEST(without_checkpoint_block_nothing_restarts)
{
    struct rn_job *job = parse("name: v\n" OPS);
    ck_assert(!job->checkpoint.enabled);
    ck_assert_int_eq(job->restart.kind, RN_RESTART_NONE);
    ck_assert_int_eq(rn_restart_delay(&job->restart, 1), -1);
    rn_job_free(job);
}
END_TEST

START_TEST(checkpoint_block_reads_every_field)
{
    struct rn_job *job = parse("name: v\n"
                               "checkpoint: { interval: 250ms, mode: at_least_once, dir: \"file:///var/ck\", "
                               "savepoint_dir: /var/sp, retain: 7, timeout: 2m, min_pause: 100ms }\n"
                               "restart: { strategy: exponential-delay, delay: 500ms, max_delay: 1m, multiplier: 1.5, "
                               "reset_after: 10m, attempts: 4 }\n" OPS);
    const struct rn_checkpoint_spec *c = &job->checkpoint;
    ck_assert_int_eq(c->interval, 250);
    ck_assert_int_eq(c->mode, RN_CHECKPOINT_AT_LEAST_ONCE);
    ck_assert_str_eq(c->dir, "/var/ck");   /* a file:// URI is its path */
    ck_assert_str_eq(c->savepoint_dir, "/var/sp");
    ck_assert_uint_eq(c->retain, 7);
    ck_assert_int_eq(c->timeout, 120000);
    ck_assert_int_eq(c->min_pause, 100);
    const struct rn_restart_spec *r = &job->restart;
    ck_assert_int_eq(r->kind, RN_RESTART_EXPONENTIAL_DELAY);
    ck_assert_int_eq(r->delay, 500);
    ck_assert_int_eq(r->max_delay, 60000);
    ck_assert(r->multiplier == 1.5);
    ck_assert_int_eq(r->reset_after, 600000);
    ck_assert_uint_eq(r->attempts, 4);
    rn_job_free(job);
}
END_TEST

START_TEST(pack_and_unpack_keep_the_checkpoint_restart_and_state_blocks)
{
    rn_registry *reg = rt_registry();
    struct rn_job *job = rt_parse_ok(reg, "name: v\n"
                                          "checkpoint: { interval: 3s, mode: at_least_once, dir: /var/ck, "
                                          "savepoint_dir: /var/sp, retain: 5, timeout: 30s, min_pause: 1s }\n"
                                          "restart: { strategy: exponential-delay, delay: 2s, max_delay: 30s, "
                                          "multiplier: 3, reset_after: 5m, attempts: 6 }\n"
                                          "state: { backend: rocksdb, dir: /var/state }\n" OPS);
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(rn_job_pack(job, &buf, &len), 0);
    struct rn_job *back = NULL;
    struct rn_job_errors errs = {0};
    int rc = rn_job_unpack(buf, len, reg, &back, &errs);
    char *e = rt_errors_text(&errs);
    ck_assert_msg(rc == 0 && back, "unpack: %s", e);
    free(e);
    const struct rn_checkpoint_spec *a = &job->checkpoint, *b = &back->checkpoint;
    ck_assert(b->enabled);
    ck_assert_int_eq(b->interval, a->interval);
    ck_assert_int_eq(b->interval, 3000);
    ck_assert_int_eq(b->mode, RN_CHECKPOINT_AT_LEAST_ONCE);
    ck_assert_str_eq(b->dir, "/var/ck");
    ck_assert_str_eq(b->savepoint_dir, "/var/sp");
    ck_assert_uint_eq(b->retain, 5);
    ck_assert_int_eq(b->timeout, 30000);
    ck_assert_int_eq(b->min_pause, 1000);
    const struct rn_restart_spec *r = &back->restart;
    ck_assert_int_eq(r->kind, RN_RESTART_EXPONENTIAL_DELAY);
    ck_assert_int_eq(r->delay, 2000);
    ck_assert_int_eq(r->max_delay, 30000);
    ck_assert(r->multiplier == 3.0);
    ck_assert_int_eq(r->reset_after, 300000);
    ck_assert_uint_eq(r->attempts, 6);
    ck_assert_int_eq(back->state_backend, RN_STATE_ROCKSDB);
    ck_assert_str_eq(back->state_dir, "/var/state");
    free(buf);
    rn_job_errors_free(&errs);
    rn_job_free(back);
    rn_job_free(job);
    rn_registry_destroy(reg);
}
END_TEST

/* ---- 2. restart delays ---- */

START_TEST(fixed_delay_allows_exactly_attempts_restarts)
{
    struct rn_restart_spec s = {.kind = RN_RESTART_FIXED_DELAY, .attempts = 3, .delay = 1500};
    for (uint32_t f = 1; f <= 3; f++) ck_assert_int_eq(rn_restart_delay(&s, f), 1500);
    ck_assert_int_eq(rn_restart_delay(&s, 4), -1);
    ck_assert_int_eq(rn_restart_delay(&s, 100), -1);
    s.attempts = 0;   /* no restart at all */
    ck_assert_int_eq(rn_restart_delay(&s, 1), -1);
}
END_TEST

START_TEST(exponential_delay_grows_by_its_multiplier_up_to_max_delay)
{
    struct rn_restart_spec s = {.kind = RN_RESTART_EXPONENTIAL_DELAY, .attempts = 0, .delay = 100, .max_delay = 5000,
                                .multiplier = 3.0};
    /* independently: 100, 300, 900, 2700, then capped at 5000 */
    int64_t want = 100;
    for (uint32_t f = 1; f <= 40; f++) {
        int64_t got = rn_restart_delay(&s, f);
        CHECK_MSG(got == (want < 5000 ? want : 5000), "restart %u: %" PRId64 " ms, want %" PRId64, f, got,
                  want < 5000 ? want : 5000);
        if (want < 5000) want *= 3;
    }
    /* unlimited (attempts 0): still a delay after many failures */
    ck_assert_int_eq(rn_restart_delay(&s, 1000000), 5000);
    s.multiplier = 1.5;
    s.delay = 1000;
    s.max_delay = 100000;
    ck_assert_int_eq(rn_restart_delay(&s, 2), 1500);
    ck_assert_int_eq(rn_restart_delay(&s, 3), 2250);
}
END_TEST

START_TEST(exponential_delay_with_attempts_stops_after_them)
{
    struct rn_restart_spec s = {.kind = RN_RESTART_EXPONENTIAL_DELAY, .attempts = 2, .delay = 10, .max_delay = 1000,
                                .multiplier = 2.0};
    ck_assert_int_eq(rn_restart_delay(&s, 1), 10);
    ck_assert_int_eq(rn_restart_delay(&s, 2), 20);
    ck_assert_int_eq(rn_restart_delay(&s, 3), -1);
}
END_TEST

START_TEST(strategy_none_never_restarts)
{
    struct rn_restart_spec s = {.kind = RN_RESTART_NONE, .attempts = 10, .delay = 1000, .max_delay = 1000, .multiplier = 2};
    for (uint32_t f = 1; f <= 5; f++) ck_assert_int_eq(rn_restart_delay(&s, f), -1);
}
END_TEST

/* ---- 3. barrier alignment with several inputs ---- */

/* Two sources at different speeds over the same event-time range (0 .. 200 s): `fast` (two
 * subtasks, 40000 rows, t = seq * 5 ms) and `slow` (one subtask, 8000 rows, t = seq * 25 ms),
 * unioned (two subtasks, so the union aligns three channels) and re-keyed by k into a window
 * operator of two subtasks. v tells the rows apart (slow's are offset by 1000000). */
#define FAST_ROWS 40000
#define SLOW_ROWS 8000
#define N_KEYS 13
static char *two_sources(bool paced)
{
    return tu_fmt("  - id: fast\n    type: datagen\n    parallelism: 2\n"
                  "    with: { rows: %d%s, fields: { k: \"seq %% %d\", v: seq, t: \"to_timestamp(seq * 5)\" } }\n"
                  "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                  "  - id: slow\n    type: datagen\n    parallelism: 1\n"
                  "    with: { rows: %d%s, fields: { k: \"seq %% %d\", v: \"1000000 + seq\", t: \"to_timestamp(seq * 25)\" } }\n"
                  "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                  "  - { id: u, type: union, input: [fast, slow], parallelism: 2 }\n",
                  FAST_ROWS, paced ? ", rate_limit: 30000" : "", N_KEYS, SLOW_ROWS, paced ? ", rate_limit: 6000" : "",
                  N_KEYS);
}

/* The job around body (nodes after the sources; its last node `last` goes to the exactly-once
 * sink writing into out). mode NULL: no checkpoint block (and unpaced sources). */
static char *job_text(const char *name, const char *mode, const char *backend, const char *ckdir, const char *body,
                      const char *last, const char *out)
{
    char *sdir = tu_tmp_path("state"), *src = two_sources(mode != NULL);
    char *ck = mode ? tu_fmt("checkpoint: { interval: 40ms, mode: %s, dir: %s }\n", mode, ckdir) : strdup("");
    char *text = tu_fmt("name: %s\nparallelism: 2\n%sstate: { backend: %s, dir: %s }\noperators:\n%s%s"
                        "  - { id: out, type: file_sink, input: %s, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        name, ck, backend, sdir, src, body, last, out);
    free(sdir);
    free(src);
    free(ck);
    return text;
}

#define WINDOW_BODY "  - id: w\n    type: window_aggregate\n    input: u\n    key_by: k\n    parallelism: 2\n" \
                    "    with: { window: { type: tumbling, size: 1s }, aggregates: { n: count(*), s: sum(v) } }\n"

/* What the windows must hold, computed here: per key and 1 s window, the rows and the sum of v
 * of both sources; as the sink writes them (k, window_start, window_end, n, s). */
static struct rt_lines expected_windows(void)
{
    enum { N_WIN = 200 };
    static int64_t n[N_KEYS][N_WIN], s[N_KEYS][N_WIN];
    memset(n, 0, sizeof n);
    memset(s, 0, sizeof s);
    for (int64_t q = 0; q < FAST_ROWS; q++) n[q % N_KEYS][q * 5 / 1000]++, s[q % N_KEYS][q * 5 / 1000] += q;
    for (int64_t q = 0; q < SLOW_ROWS; q++) n[q % N_KEYS][q * 25 / 1000]++, s[q % N_KEYS][q * 25 / 1000] += 1000000 + q;
    struct rt_lines l = {0};
    for (int k = 0; k < N_KEYS; k++)
        for (int w = 0; w < N_WIN; w++)
            if (n[k][w]) rt_lines_addf(&l, "%d,%d,%d,%" PRId64 ",%" PRId64, k, w * 1000, w * 1000 + 1000, n[k][w], s[k][w]);
    return l;
}

START_TEST(exactly_once_alignment_over_a_union_gives_the_failure_free_windows)
{
    const char *backend = rt_backends[_i];
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out"), *ref = tu_tmp_path("ref");
    char *text = job_text("align", "exactly_once", backend, ck, WINDOW_BODY, "w", out);
    char *ref_text = job_text("align", NULL, backend, NULL, WINDOW_BODY, "w", ref);
    rt_run_crash_restore(NULL, text, NULL, 4);
    run_text_ok(ref_text);
    struct rt_lines want = expected_windows();
    struct rt_lines got = rt_read_csv_parts(out), free_run = rt_read_csv_parts(ref);
    char *what = tu_fmt("%s: the failure-free run against the windows computed here", backend);
    rt_lines_expect_sorted(&free_run, &want, what);
    free(what);
    what = tu_fmt("%s: crash and restore against the windows computed here", backend);
    rt_lines_expect_sorted(&got, &want, what);
    free(what);
    rt_lines_free(&want);
    rt_lines_free(&got);
    rt_lines_free(&free_run);
    free(text);
    free(ref_text);
    free(ck);
    free(out);
    free(ref);
}
END_TEST

/* A source that ends long before the other: checkpoints go on after it ended (it snapshots its
 * final position when triggered), and a restore from one of those does not run it again. */
static char *early_end_text(const char *backend, const char *ckdir, const char *out)
{
    char *sdir = tu_tmp_path("state");
    char *ck = ckdir ? tu_fmt("checkpoint: { interval: 40ms, dir: %s }\n", ckdir) : strdup("");
    char *text = tu_fmt("name: early\nparallelism: 2\n%sstate: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: short\n    type: datagen\n    parallelism: 1\n"
                        "    with: { rows: 3000, fields: { k: \"seq %% 7\", v: seq, t: \"to_timestamp(seq * 10)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: long\n    type: datagen\n    parallelism: 2\n"
                        "    with: { rows: 30000%s, fields: { k: \"seq %% 7\", v: \"1000000 + seq\", t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - { id: u, type: union, input: [short, long], parallelism: 2 }\n"
                        "  - id: w\n    type: window_aggregate\n    input: u\n    key_by: k\n"
                        "    with: { window: { type: tumbling, size: 1s }, aggregates: { n: count(*), s: sum(v) } }\n"
                        "  - { id: out, type: file_sink, input: w, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        ck, backend, sdir, ckdir ? ", rate_limit: 20000" : "", out);
    free(sdir);
    free(ck);
    return text;
}

START_TEST(checkpoints_go_on_after_a_source_ended_and_a_restore_does_not_rerun_it)
{
    const char *backend = rt_backends[_i];
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out"), *ref = tu_tmp_path("ref");
    char *text = early_end_text(backend, ck, out), *ref_text = early_end_text(backend, NULL, ref);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    while (rows_out(job, &run, "short") < 3000) ck_assert_msg(!rn_runner_wait(run.r, 2), "the job ended too soon");
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run.r, &st);
    rt_wait_checkpoints(&run, st.completed + 3);   /* failed before: no checkpoint once a task ended */
    rn_runner_cancel(run.r);
    rt_ckrun_end(&run);
    char jobdir[4096], from[4096];
    struct rn_error err;
    snprintf(jobdir, sizeof jobdir, "%s/early", ck);
    ck_assert_msg(!rn_checkpoint_resolve(jobdir, from, sizeof from, NULL, &err), "%s", err.msg);
    run = rt_ckrun_start(job, from);
    finish_ok(&run);
    CHECK_MSG(rows_out(job, &run, "short") == 0, "%s: the ended source ran again after the restore", backend);
    rt_ckrun_end(&run);
    run_text_ok(ref_text);
    struct rt_lines got = rt_read_csv_parts(out), want = rt_read_csv_parts(ref);
    CHECK_MSG(want.n > 0, "%s: the failure-free run wrote nothing", backend);
    char *what = tu_fmt("%s: crash and restore after the short source ended against the failure-free run", backend);
    rt_lines_expect_sorted(&got, &want, what);
    free(what);
    rt_lines_free(&got);
    rt_lines_free(&want);
    rn_job_free(job);
    free(text);
    free(ref_text);
    free(ck);
    free(out);
    free(ref);
}
END_TEST

START_TEST(at_least_once_checkpoints_complete_and_a_restore_loses_no_row)
{
    const char *backend = rt_backends[_i];
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out");
    /* keyed by the row's own v: every row passes the first time its v is seen */
    char *text = job_text("alo", "at_least_once", backend, ck,
                          "  - id: d\n    type: deduplicate\n    input: u\n    key_by: v\n    parallelism: 2\n", "d", out);
    rt_run_crash_restore(NULL, text, NULL, 4);
    struct rt_lines got = rt_read_csv_parts(out);
    /* each row (k, v, t) at least once, and nothing else */
    char *seen_fast = calloc(FAST_ROWS, 1), *seen_slow = calloc(SLOW_ROWS, 1);
    ck_assert(seen_fast && seen_slow);
    for (size_t i = 0; i < got.n; i++) {
        long long k, v, t;
        CHECK_MSG(sscanf(got.v[i], "%lld,%lld,%lld", &k, &v, &t) == 3, "%s: bad line %s", backend, got.v[i]);
        bool slow = v >= 1000000;
        long long q = slow ? v - 1000000 : v;
        CHECK_MSG(q >= 0 && q < (slow ? SLOW_ROWS : FAST_ROWS) && k == q % N_KEYS && t == q * (slow ? 25 : 5),
                  "%s: a row that no source made: %s", backend, got.v[i]);
        (slow ? seen_slow : seen_fast)[q] = 1;
    }
    for (int q = 0; q < FAST_ROWS; q++) CHECK_MSG(seen_fast[q], "%s: fast row %d is lost", backend, q);
    for (int q = 0; q < SLOW_ROWS; q++) CHECK_MSG(seen_slow[q], "%s: slow row %d is lost", backend, q);
    free(seen_fast);
    free(seen_slow);
    rt_lines_free(&got);
    free(text);
    free(ck);
    free(out);
}
END_TEST

/* ---- 4. retention and reference counts ---- */

/* An aggregate whose state changes with every batch (so that every checkpoint has new RocksDB
 * files), 20000 rows over about a second, a checkpoint every interval_ms, the last `retain` kept;
 * the sink drops the rows. */
static char *agg_job(const char *name, const char *backend, const char *ckdir, int retain, int interval_ms)
{
    char *sdir = tu_tmp_path("state");
    char *text = tu_fmt("name: %s\ncheckpoint: { interval: %dms, dir: %s, retain: %d }\n"
                        "state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: 20000, rate_limit: 20000, fields: { k: \"seq %% 1000\", v: \"(seq * 7919) %% 1000\" } }\n"
                        "  - id: agg\n    type: aggregate\n    input: gen\n    key_by: k\n"
                        "    with: { aggregates: { n: count(*), s: sum(v) } }\n"
                        "  - { id: out, type: blackhole, input: agg, with: { quiet: true } }\n",
                        name, interval_ms, ckdir, retain, backend, sdir);
    free(sdir);
    return text;
}

/* The ids of the checkpoints the log says completed (not savepoints), ascending. */
static size_t completed_ids(int64_t *ids, size_t max)
{
    char *path = tu_tmp_path("job.log"), *text = tu_slurp(path);
    ck_assert_msg(text, "no log %s", path);
    size_t n = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long id;
        char c;
        if ((sscanf(line, "runnel: checkpoint %lld completed i%c", &id, &c) == 2 ||
             sscanf(line, "runnel: final checkpoint %lld completed i%c", &id, &c) == 2) &&
            n < max)
            ids[n++] = id;
    }
    free(text);
    free(path);
    for (size_t i = 1; i < n; i++) CHECK_MSG(ids[i] > ids[i - 1], "checkpoint ids out of order in the log");
    return n;
}

/* job_dir/shared holds exactly the files the checkpoints ids[0..n-1] refer to (their metadata
 * read, every file checked): none missing, no orphan. */
static void expect_shared_exact(const char *job_dir, const int64_t *ids, size_t n, const char *backend)
{
    struct rt_lines want = {0};
    for (size_t i = 0; i < n; i++) {
        char *dir = tu_fmt("%s/chk-%" PRId64, job_dir, ids[i]);
        struct rt_lines sh = shared_of(dir);
        for (size_t k = 0; k < sh.n; k++) {
            CHECK_MSG(!strncmp(sh.v[k], "shared/", 7), "%s: shared path %s", backend, sh.v[k]);
            if (!lines_have(&want, sh.v[k] + 7)) rt_lines_push(&want, strdup(sh.v[k] + 7));
        }
        rt_lines_free(&sh);
        free(dir);
    }
    if (!strcmp(backend, "rocksdb")) CHECK_MSG(want.n > 0, "rocksdb: the checkpoints refer to no shared file");
    else CHECK_MSG(want.n == 0, "memory: the checkpoints refer to shared files");
    char *shared = tu_fmt("%s/shared", job_dir);
    struct rt_lines got = file_names(shared);
    /* the difference both ways, named */
    char *orphans = strdup(""), *missing = strdup("");
    size_t n_orphans = 0, n_missing = 0;
    for (size_t i = 0; i < got.n; i++)
        if (!lines_have(&want, got.v[i])) {
            char *o = tu_fmt("%s %s", orphans, got.v[i]);
            free(orphans);
            orphans = o;
            n_orphans++;
        }
    for (size_t i = 0; i < want.n; i++)
        if (!lines_have(&got, want.v[i])) {
            char *m = tu_fmt("%s %s", missing, want.v[i]);
            free(missing);
            missing = m;
            n_missing++;
        }
    CHECK_MSG(!n_orphans && !n_missing,
              "%s: %s holds %zu files no retained checkpoint refers to (%s ) and lacks %zu they refer to (%s )", backend,
              shared, n_orphans, orphans, n_missing, missing);
    free(orphans);
    free(missing);
    free(shared);
    rt_lines_free(&got);
    rt_lines_free(&want);
}

START_TEST(retention_keeps_the_last_checkpoints_and_shared_holds_exactly_their_files)
{
    const char *backend = rt_backends[_i];
    char *ck = tu_tmp_path("ck"), *job_dir = tu_fmt("%s/keep", ck);
    char *text = agg_job("keep", backend, ck, 2, 20);
    run_text_ok(text);
    int64_t done[4096], present[64];
    size_t n_done = completed_ids(done, 4096);
    CHECK_MSG(n_done >= 6, "%s: only %zu checkpoints completed", backend, n_done);
    /* exactly the two latest completed ones remain, the final one (the job's end) included */
    size_t n = chk_ids(job_dir, present, 64);
    CHECK_MSG(n == 2 && present[0] == done[n_done - 2] && present[1] == done[n_done - 1],
              "%s: %zu checkpoints remain (%" PRId64 ", %" PRId64 "), want %" PRId64 " and %" PRId64, backend, n,
              n ? present[0] : -1, n > 1 ? present[1] : -1, done[n_done - 2], done[n_done - 1]);
    char *last = tu_fmt("%s/chk-%" PRId64, job_dir, present[1]);
    struct rn_checkpoint_info info;
    struct rn_error err;
    ck_assert_msg(rn_checkpoint_read_info(last, &info, &err) == 0, "%s", err.msg);
    ck_assert(info.finished);
    ck_assert_int_eq(info.id, present[1]);
    /* shared/ holds exactly the files the two refer to: none missing, no orphan */
    expect_shared_exact(job_dir, present, n, backend);
    free(last);
    free(text);
    free(job_dir);
    free(ck);
}
END_TEST

/* A restored run goes on in the same checkpoint directory (its RocksDB files already in shared/
 * are referred to, not copied again): after it, the retained checkpoints and shared/ still match. */
START_TEST(retention_and_shared_files_stay_exact_across_a_restore)
{
    char *ck = tu_tmp_path("ck"), *job_dir = tu_fmt("%s/keep", ck);
    char *text = agg_job("keep", "rocksdb", ck, 2, 20);
    rt_run_crash_restore(NULL, text, NULL, 3);
    int64_t present[64];
    size_t n = chk_ids(job_dir, present, 64);
    ck_assert_uint_eq(n, 2);
    char *last = tu_fmt("%s/chk-%" PRId64, job_dir, present[1]);
    struct rn_checkpoint_info info;
    struct rn_error err;
    ck_assert_msg(rn_checkpoint_read_info(last, &info, &err) == 0, "%s", err.msg);
    ck_assert(info.finished);
    expect_shared_exact(job_dir, present, n, "rocksdb");
    free(last);
    free(text);
    free(job_dir);
    free(ck);
}
END_TEST

/* Files that a checkpoint which then failed uploaded to shared/ must not stay there once no
 * checkpoint can refer to them. Checkpoints are triggered by hand (the interval is an hour);
 * checkpoints 2 .. 13 fail when their metadata is written (a directory stands where the
 * metadata's temporary file goes), after each flushed and uploaded a new RocksDB file, enough
 * for RocksDB to compact them into others; then 14 and 15 complete. */
START_TEST(files_of_failed_checkpoints_do_not_stay_in_shared)
{
    char *ck = tu_tmp_path("ck"), *sdir = tu_tmp_path("state"), *job_dir = tu_fmt("%s/orphans", ck);
    char *text = tu_fmt("name: orphans\ncheckpoint: { interval: 1h, dir: %s, retain: 2 }\n"
                        "state: { backend: rocksdb, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: 0, rate_limit: 20000, fields: { k: seq } }\n"
                        "  - id: d\n    type: deduplicate\n    input: gen\n    key_by: k\n"
                        "  - { id: out, type: blackhole, input: d, with: { quiet: true } }\n",
                        ck, sdir);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    struct rn_error err;
    for (int64_t want = 1; want <= 15; want++) {
        /* new keys since the last one: each checkpoint has a new RocksDB file */
        uint64_t rows = rows_out(job, &run, "d");
        while (rows_out(job, &run, "d") < rows + 500) ck_assert_msg(!rn_runner_wait(run.r, 5), "the job ended");
        bool fail = want >= 2 && want <= 13;
        char *blocker = tu_fmt("%s/chk-%" PRId64 "/_metadata.tmp", job_dir, want);
        if (fail) ck_assert(rn__mkdir_p(blocker) == 0);
        int64_t id;
        int rc;
        while ((rc = rn_runner_trigger(run.r, false, NULL, false, &id, &err)) == RN_EAGAIN)
            ck_assert(!rn_runner_wait(run.r, 5));
        ck_assert_msg(rc == 0, "trigger: %s", err.msg);
        ck_assert_int_eq(id, want);
        rc = rn_runner_wait_checkpoint(run.r, id, RT_RUN_WAIT_MS, NULL, 0, &err);
        if (fail) CHECK_MSG(rc != 0 && strstr(err.msg, "_metadata"), "checkpoint %" PRId64 ": %s", id, rc ? err.msg : "completed");
        else CHECK_MSG(rc == 0, "checkpoint %" PRId64 ": %s", id, err.msg);
        free(blocker);
    }
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run.r, &st);
    ck_assert_uint_eq(st.failed, 12);
    ck_assert_uint_eq(st.completed, 3);
    rn_runner_cancel(run.r);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    rt_ckrun_end(&run);
    int64_t present[64];
    size_t n = chk_ids(job_dir, present, 64);
    ck_assert_msg(n == 2 && present[0] == 14 && present[1] == 15, "%zu checkpoints remain", n);
    expect_shared_exact(job_dir, present, n, "rocksdb");
    rn_job_free(job);
    free(text);
    free(job_dir);
    free(sdir);
    free(ck);
}
END_TEST

/* ---- 5. incremental RocksDB checkpoints ---- */

START_TEST(rocksdb_checkpoints_upload_only_new_files)
{
    /* deduplicate keeps a marker per key (a key of about 80 bytes): the 10000 keys are all
     * there after the first 10000 rows, then the state no longer changes */
    char *ck = tu_tmp_path("ck"), *sdir = tu_tmp_path("state"), *job_dir = tu_fmt("%s/incr", ck);
    char *text = tu_fmt("name: incr\ncheckpoint: { interval: 50ms, dir: %s, retain: 1000 }\n"
                        "state: { backend: rocksdb, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: 150000, rate_limit: 100000, fields: { k: \"concat(hash(seq %% 10000), '-', "
                        "hash(seq %% 10000 + 1), '-', hash(seq %% 10000 + 2), '-', hash(seq %% 10000 + 3))\" } }\n"
                        "  - id: d\n    type: deduplicate\n    input: gen\n    key_by: k\n"
                        "  - { id: out, type: blackhole, input: d, with: { quiet: true } }\n",
                        ck, sdir);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    /* once every key is in, a few checkpoints (and RocksDB's compactions) go by */
    while (rows_out(job, &run, "gen") < 10000) ck_assert_msg(!rn_runner_wait(run.r, 5), "the job ended too soon");
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run.r, &st);
    rt_wait_checkpoints(&run, st.completed + 3);
    finish_ok(&run);
    rn_runner_checkpoint_stats(run.r, &st);
    rt_ckrun_end(&run);
    /* the final checkpoint refers to the whole state but wrote only what changed: nothing
     * but RocksDB's small private files (MANIFEST, OPTIONS, CURRENT) */
    CHECK_MSG(st.last_full_bytes >= 500000, "the state is only %" PRIu64 " bytes", st.last_full_bytes);
    CHECK_MSG(st.last_bytes * 20 <= st.last_full_bytes, "the last checkpoint wrote %" PRIu64 " of %" PRIu64 " bytes",
              st.last_bytes, st.last_full_bytes);
    struct rn_checkpoint_info info;
    struct rn_error err;
    ck_assert_msg(rn_checkpoint_read_info(st.last_path, &info, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(info.bytes, st.last_full_bytes);
    /* every shared file it refers to was uploaded by an earlier checkpoint */
    int64_t ids[1024];
    size_t n = chk_ids(job_dir, ids, 1024);
    ck_assert_msg(n >= 2 && ids[n - 1] == st.last_id, "%zu checkpoints, the last %" PRId64, n, n ? ids[n - 1] : -1);
    struct rt_lines last = shared_of(st.last_path), earlier = {0};
    ck_assert_msg(last.n > 0, "the last checkpoint refers to no shared file");
    for (size_t i = 0; i + 1 < n; i++) {
        char *dir = tu_fmt("%s/chk-%" PRId64, job_dir, ids[i]);
        struct rt_lines sh = shared_of(dir);
        rt_lines_append(&earlier, &sh);
        rt_lines_free(&sh);
        free(dir);
    }
    for (size_t k = 0; k < last.n; k++)
        CHECK_MSG(lines_have(&earlier, last.v[k]), "%s is new in the last checkpoint", last.v[k]);
    rt_lines_free(&last);
    rt_lines_free(&earlier);
    rn_job_free(job);
    free(text);
    free(job_dir);
    free(sdir);
    free(ck);
}
END_TEST

/* ---- 6. corrupt and incomplete checkpoints ---- */

enum corruption { TRUNCATED_METADATA, FLIPPED_BYTE, MISSING_SST, WRONG_SIZE_SST, N_CORRUPTIONS };
static const char *const corruption_names[] = {"truncated metadata", "a flipped byte", "a missing SST file",
                                               "an SST file of the wrong size"};

/* Runs the aggregate job (rocksdb, retain 3) to its end; the checkpoints it leaves, ascending
 * ids into ids (3 of them). */
static char *three_checkpoints(const char *ck, int64_t *ids)
{
    char *text = agg_job("bad", "rocksdb", ck, 3, 30);
    run_text_ok(text);
    free(text);
    char *job_dir = tu_fmt("%s/bad", ck);
    ck_assert_uint_eq(chk_ids(job_dir, ids, 3), 3);
    return job_dir;
}

START_TEST(a_corrupt_checkpoint_is_named_skipped_by_resolve_and_refused_by_restore)
{
    enum corruption what = (enum corruption)_i;
    char *ck = tu_tmp_path("ck");
    int64_t ids[3];
    char *job_dir = three_checkpoints(ck, ids);
    char *newest = tu_fmt("%s/chk-%" PRId64, job_dir, ids[2]), *middle = tu_fmt("%s/chk-%" PRId64, job_dir, ids[1]);
    char *meta = tu_fmt("%s/_metadata", newest);
    /* the file the error must name, and the checkpoint a resolve must fall back to */
    char *named = NULL;
    const char *fallback = middle;
    if (what == TRUNCATED_METADATA || what == FLIPPED_BYTE) {
        if (what == TRUNCATED_METADATA) truncate_file(meta, file_size(meta) - 7);
        else flip_byte(meta, (long)file_size(meta) / 2);
        named = strdup(newest);
    } else {
        /* a shared file of the newest checkpoint that the middle one does not refer to */
        struct rt_lines a = shared_of(newest), b = shared_of(middle);
        for (size_t i = 0; i < a.n && !named; i++)
            if (!lines_have(&b, a.v[i])) named = tu_fmt("%s/%s", job_dir, a.v[i]);
        ck_assert_msg(named, "the newest checkpoint has no shared file of its own");
        if (what == MISSING_SST) ck_assert(unlink(named) == 0);
        else append_bytes(named, 100);
        rt_lines_free(&a);
        rt_lines_free(&b);
    }
    /* read_info: corrupt, naming the file */
    struct rn_checkpoint_info info;
    struct rn_error err;
    int rc = rn_checkpoint_read_info(newest, &info, &err);
    CHECK_MSG(rc == RN_ECORRUPT && strstr(err.msg, named), "%s: read_info gave %s: %s", corruption_names[what],
              rn_strerror(rc), err.msg);
    /* resolve on the job's directory: the previous valid checkpoint, said on the log */
    char *log_text = NULL;
    size_t log_len = 0;
    FILE *log = open_memstream(&log_text, &log_len);
    ck_assert(log);
    char chosen[4096];
    rc = rn_checkpoint_resolve(job_dir, chosen, sizeof chosen, log, &err);
    fclose(log);
    ck_assert_msg(rc == 0, "%s: resolve: %s", corruption_names[what], err.msg);
    CHECK_MSG(!strcmp(chosen, fallback), "%s: resolve chose %s, want %s", corruption_names[what], chosen, fallback);
    CHECK_MSG(strstr(log_text, "skipping") && strstr(log_text, newest), "%s: the log says: %s", corruption_names[what],
              log_text);
    /* resolve on the exact path: refused */
    ck_assert_int_eq(rn_checkpoint_resolve(newest, chosen, sizeof chosen, NULL, &err), RN_ECORRUPT);
    /* a runner restored from it is refused at creation, with the reason */
    char *text = agg_job("bad", "rocksdb", ck, 3, 30);
    struct rn_job *job = parse(text);
    FILE *devnull = fopen("/dev/null", "w");
    struct rn_run_options o = {.log = devnull, .restore = newest};
    rn_runner *r = rn_runner_create(job, &o, &err);
    CHECK_MSG(!r, "%s: a runner restored from a corrupt checkpoint was created", corruption_names[what]);
    CHECK_MSG(strstr(err.msg, named) && (strstr(err.msg, "corrupt") || strstr(err.msg, "missing")),
              "%s: rn_runner_create says: %s", corruption_names[what], err.msg);
    /* while the fallback restores */
    o.restore = fallback;
    r = rn_runner_create(job, &o, &err);
    ck_assert_msg(r, "restoring from %s: %s", fallback, err.msg);
    rn_runner_destroy(r);
    fclose(devnull);
    rn_job_free(job);
    free(text);
    free(log_text);
    free(named);
    free(meta);
    free(newest);
    free(middle);
    free(job_dir);
    free(ck);
}
END_TEST

START_TEST(a_checkpoint_without_metadata_is_incomplete)
{
    char *ck = tu_tmp_path("ck");
    int64_t ids[3];
    char *job_dir = three_checkpoints(ck, ids);
    char *newest = tu_fmt("%s/chk-%" PRId64, job_dir, ids[2]), *middle = tu_fmt("%s/chk-%" PRId64, job_dir, ids[1]);
    char *meta = tu_fmt("%s/_metadata", newest);
    ck_assert(unlink(meta) == 0);
    struct rn_checkpoint_info info;
    struct rn_error err;
    int rc = rn_checkpoint_read_info(newest, &info, &err);
    CHECK_MSG(rc == RN_ENOTFOUND && strstr(err.msg, "incomplete"), "read_info gave %s: %s", rn_strerror(rc), err.msg);
    char chosen[4096];
    ck_assert_int_eq(rn_checkpoint_resolve(newest, chosen, sizeof chosen, NULL, &err), RN_ENOTFOUND);
    ck_assert_int_eq(rn_checkpoint_resolve(job_dir, chosen, sizeof chosen, NULL, &err), 0);
    ck_assert_str_eq(chosen, middle);
    /* the listing says which one is incomplete and counts the two others */
    char *list = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&list, &len);
    ck_assert(f);
    rc = rn_checkpoint_list(job_dir, f, &err);
    fclose(f);
    ck_assert_int_eq(rc, 2);
    bool found = false;
    for (char *save = NULL, *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        found |= strstr(line, "incomplete") && strstr(line, newest);
    ck_assert_msg(found, "the listing does not mark %s incomplete", newest);
    free(list);
    /* with none usable left, resolve says so */
    for (int i = 0; i < 2; i++) {
        char *m = tu_fmt("%s/chk-%" PRId64 "/_metadata", job_dir, ids[i]);
        ck_assert(unlink(m) == 0);
        free(m);
    }
    rc = rn_checkpoint_resolve(job_dir, chosen, sizeof chosen, NULL, &err);
    CHECK_MSG(rc == RN_ENOTFOUND && strstr(err.msg, "no usable checkpoint"), "resolve gave %s: %s", rn_strerror(rc),
              err.msg);
    free(meta);
    free(newest);
    free(middle);
    free(job_dir);
    free(ck);
}
END_TEST

/* ---- 7. failing checkpoint storage ---- */

START_TEST(failing_storage_fails_checkpoints_not_the_job)
{
    /* every row a new key: every checkpoint has new RocksDB files to upload to shared/ */
    enum { ROWS = 60000 };
    char *ck = tu_tmp_path("ck"), *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *shared = tu_fmt("%s/fs/shared", ck), *away = tu_fmt("%s/fs/shared.away", ck);
    char *text = tu_fmt("name: fs\ncheckpoint: { interval: 30ms, dir: %s }\n"
                        "state: { backend: rocksdb, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: %d, rate_limit: 20000, fields: { k: seq } }\n"
                        "  - id: d\n    type: deduplicate\n    input: gen\n    key_by: k\n"
                        "  - { id: out, type: file_sink, input: d, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        ck, sdir, ROWS, out);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    rt_wait_checkpoints(&run, 1);
    /* the shared folder becomes a regular file */
    ck_assert_msg(rename(shared, away) == 0, "rename %s: %s", shared, strerror(errno));
    tu_write_file(shared, "not a directory\n");
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run.r, &st);
    uint64_t completed = st.completed;
    for (;;) {
        rn_runner_checkpoint_stats(run.r, &st);
        if (st.failed >= 2) break;
        ck_assert_msg(!rn_runner_wait(run.r, 5), "the job ended before two checkpoints failed: make its source slower");
    }
    /* at most the one in flight when the folder went completes; none after */
    struct rn_checkpoint_stats st2;
    rn_runner_checkpoint_stats(run.r, &st2);
    CHECK_MSG(st2.completed <= completed + 1, "%" PRIu64 " checkpoints completed without a shared folder",
              st2.completed - completed);
    CHECK_MSG(strstr(st.last_error, "shared") && strstr(st.last_error, strerror(ENOTDIR)),
              "the failed checkpoint's error: %s", st.last_error);
    const char *why = NULL;
    CHECK_MSG(rn_runner_state(run.r, &why) == RN_RUN_RUNNING, "the job is not running: %s", why ? why : "");
    /* the folder comes back: checkpoints complete again */
    ck_assert(unlink(shared) == 0);
    ck_assert(rename(away, shared) == 0);
    rt_wait_checkpoints(&run, st2.completed + 2);
    finish_ok(&run);
    rt_ckrun_end(&run);
    /* and the job's output is whole: every row once */
    struct rt_lines got = rt_read_csv_parts(out), want = {0};
    for (int q = 0; q < ROWS; q++) rt_lines_addf(&want, "%d", q);
    rt_lines_expect_sorted(&got, &want, "the output of a job whose checkpoints failed for a while");
    rt_lines_free(&got);
    rt_lines_free(&want);
    rn_job_free(job);
    free(text);
    free(shared);
    free(away);
    free(out);
    free(sdir);
    free(ck);
}
END_TEST

/* The final checkpoint is what commits a bounded job's end: when it fails, the job fails (and
 * would restart from the latest completed checkpoint). */
START_TEST(a_failed_final_checkpoint_fails_the_job)
{
    enum { ROWS = 20000 };
    char *ck = tu_tmp_path("ck"), *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *shared = tu_fmt("%s/ff/shared", ck);
    char *text = tu_fmt("name: ff\ncheckpoint: { interval: 30ms, dir: %s }\n"
                        "state: { backend: rocksdb, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: %d, rate_limit: 20000, fields: { k: seq } }\n"
                        "  - id: d\n    type: deduplicate\n    input: gen\n    key_by: k\n"
                        "  - { id: out, type: file_sink, input: d, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        ck, sdir, ROWS, out);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    rt_wait_checkpoints(&run, 1);
    rn__rm_rf(shared);
    tu_write_file(shared, "not a directory\n");
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the job did not end");
    const char *why = NULL;
    enum rn_run_state end = rn_runner_state(run.r, &why);
    CHECK_MSG(end == RN_RUN_FAILED && why && strstr(why, "final checkpoint") && strstr(why, "failed"),
              "the job ended in state %d: %s", (int)end, why ? why : "");
    rt_ckrun_end(&run);
    /* what was committed, a checkpoint covered: no row twice, and not all of them */
    struct rt_lines got = rt_read_csv_parts(out);
    for (size_t i = 1; i < got.n; i++) CHECK_MSG(strcmp(got.v[i - 1], got.v[i]), "row %s twice", got.v[i]);
    CHECK_MSG(got.n < ROWS, "every row was committed although the final checkpoint failed");
    rt_lines_free(&got);
    rn_job_free(job);
    free(text);
    free(shared);
    free(out);
    free(sdir);
    free(ck);
}
END_TEST

/* ---- 8. savepoints ---- */

/* One source (splits 2, so that it can run on two subtasks), 20000 rows, k = seq % 11, t = seq ms,
 * into a keyed tumbling window at parallelism p, into the exactly-once sink. interval_ms 0:
 * no checkpoint block (and no rate limit). */
static char *sp_job(const char *name, int p, const char *backend, const char *ckdir, int interval_ms, const char *out)
{
    char *sdir = tu_tmp_path("state");
    char *ck = interval_ms ? tu_fmt("checkpoint: { interval: %dms, dir: %s }\n", interval_ms, ckdir) : strdup("");
    char *text = tu_fmt("name: %s\nparallelism: %d\nmax_parallelism: 32\n%sstate: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: 20000%s, splits: 2, fields: { k: \"seq %% 11\", v: \"(seq * 7919) %% 1000\", "
                        "t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                        "    with: { window: { type: tumbling, size: 500ms }, aggregates: { n: count(*), s: sum(v), "
                        "lo: min(v), hi: max(v) } }\n"
                        "  - { id: out, type: file_sink, input: w, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        name, p, ck, backend, sdir, interval_ms ? ", rate_limit: 10000" : "", out);
    free(sdir);
    free(ck);
    return text;
}

/* The windows of sp_job computed here. */
static struct rt_lines sp_expected(void)
{
    enum { W = 40 };
    int64_t n[11][W] = {{0}}, s[11][W] = {{0}}, lo[11][W], hi[11][W];
    for (int64_t q = 0; q < 20000; q++) {
        int k = (int)(q % 11), w = (int)(q / 500);
        int64_t v = (q * 7919) % 1000;
        if (!n[k][w] || v < lo[k][w]) lo[k][w] = v;
        if (!n[k][w] || v > hi[k][w]) hi[k][w] = v;
        n[k][w]++;
        s[k][w] += v;
    }
    struct rt_lines l = {0};
    for (int k = 0; k < 11; k++)
        for (int w = 0; w < W; w++)
            rt_lines_addf(&l, "%d,%d,%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, k, w * 500, w * 500 + 500, n[k][w],
                          s[k][w], lo[k][w], hi[k][w]);
    return l;
}

static void expect_sp_output(const char *out, const char *what)
{
    struct rt_lines got = rt_read_csv_parts(out), want = sp_expected();
    rt_lines_expect_sorted(&got, &want, what);
    rt_lines_free(&got);
    rt_lines_free(&want);
}

START_TEST(a_savepoint_is_self_contained)
{
    const char *backend = rt_backends[_i];
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out"), *moved = tu_tmp_path("moved-savepoint");
    char *job_dir = tu_fmt("%s/sp", ck);
    /* no periodic checkpoint (1 h apart): only the savepoint */
    char *text = sp_job("sp", 1, backend, ck, 3600000, out);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    while (rows_out(job, &run, "w") == 0) ck_assert_msg(!rn_runner_wait(run.r, 5), "the job ended before any window");
    char *sp = take_savepoint(&run, false);
    rn_runner_cancel(run.r);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    rt_ckrun_end(&run);
    struct rn_checkpoint_info info;
    struct rn_error err;
    ck_assert_msg(rn_checkpoint_read_info(sp, &info, &err) == 0, "%s", err.msg);
    ck_assert(info.savepoint && !info.finished);
    /* a savepoint commits nothing (the job was not stopped by it) */
    struct rt_lines none = rt_read_csv_parts(out);
    CHECK_MSG(none.n == 0, "%s: %zu rows committed by a savepoint", backend, none.n);
    rt_lines_free(&none);
    /* moved elsewhere, with the job's checkpoint directory gone, it still restores */
    ck_assert_msg(rename(sp, moved) == 0, "rename %s: %s", sp, strerror(errno));
    rn__rm_rf(job_dir);
    ck_assert(!exists(job_dir));
    ck_assert_msg(rn_checkpoint_read_info(moved, &info, &err) == 0, "the moved savepoint: %s", err.msg);
    run = rt_ckrun_start(job, moved);
    finish_ok(&run);
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run.r, &st);
    ck_assert_int_eq(st.restored_id, info.id);
    rt_ckrun_end(&run);
    char *what = tu_fmt("%s: restored from a moved savepoint", backend);
    expect_sp_output(out, what);
    free(what);
    rn_job_free(job);
    free(text);
    free(sp);
    free(job_dir);
    free(moved);
    free(out);
    free(ck);
}
END_TEST

START_TEST(savepoints_rescale_keyed_and_operator_state_1_to_2_to_1)
{
    const char *backend = rt_backends[_i];
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out"), *ref = tu_tmp_path("ref");
    char *t1 = sp_job("resc", 1, backend, ck, 30, out), *t2 = sp_job("resc", 2, backend, ck, 30, out);
    struct rn_job *j1 = parse(t1), *j2 = parse(t2);
    struct rt_ckrun run = rt_ckrun_start(j1, NULL);
    rt_wait_checkpoints(&run, 2);
    char *sp1 = take_savepoint(&run, true);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    rt_ckrun_end(&run);
    run = rt_ckrun_start(j2, sp1);
    rt_wait_checkpoints(&run, 2);
    char *sp2 = take_savepoint(&run, true);
    ck_assert(rn_runner_wait(run.r, RT_RUN_WAIT_MS));
    rt_ckrun_end(&run);
    run = rt_ckrun_start(j1, sp2);
    finish_ok(&run);
    rt_ckrun_end(&run);
    char *what = tu_fmt("%s: rescaled 1 -> 2 -> 1 through savepoints", backend);
    expect_sp_output(out, what);
    free(what);
    /* and the failure-free run gives the same */
    char *tref = sp_job("resc-ref", 1, backend, NULL, 0, ref);
    run_text_ok(tref);
    what = tu_fmt("%s: the failure-free run", backend);
    expect_sp_output(ref, what);
    free(what);
    rn_job_free(j1);
    rn_job_free(j2);
    free(t1);
    free(t2);
    free(tref);
    free(sp1);
    free(sp2);
    free(out);
    free(ref);
    free(ck);
}
END_TEST

START_TEST(stop_with_savepoint_commits_what_it_covers_and_cancels)
{
    enum { ROWS = 30000 };
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out");
    /* no periodic checkpoint: whatever is committed, the stop committed */
    char *text = tu_fmt("name: stop\ncheckpoint: { interval: 1h, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                        "    with: { rows: %d, rate_limit: 20000, fields: { q: seq } }\n"
                        "  - { id: out, type: file_sink, input: gen, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        ck, ROWS, out);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    while (rows_out(job, &run, "gen") < 2000) ck_assert_msg(!rn_runner_wait(run.r, 5), "the job ended too soon");
    char *sp = take_savepoint(&run, true);
    ck_assert_msg(rn_runner_wait(run.r, RT_RUN_WAIT_MS), "the job did not stop after its savepoint");
    const char *why = NULL;
    enum rn_run_state end = rn_runner_state(run.r, &why);
    ck_assert_msg(end == RN_RUN_CANCELLED, "the job stopped by a savepoint ended in state %d (%s)", (int)end, why ? why : "");
    rt_ckrun_end(&run);
    struct rn_checkpoint_info info;
    struct rn_error err;
    ck_assert_msg(rn_checkpoint_read_info(sp, &info, &err) == 0, "%s", err.msg);
    ck_assert(info.savepoint);
    /* committed: a prefix 0 .. n-1 of the rows (one source subtask, rows in order), n > 0 */
    struct rt_lines got = rt_read_csv_parts(out);
    long long *v = calloc(got.n ? got.n : 1, sizeof *v);
    ck_assert(v);
    for (size_t i = 0; i < got.n; i++) v[i] = strtoll(got.v[i], NULL, 10);
    for (size_t i = 0; i < got.n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            long long x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    CHECK_MSG(got.n >= 2000 && got.n < ROWS, "%zu rows committed by the stop", got.n);
    for (size_t i = 0; i < got.n; i++) CHECK_MSG(v[i] == (long long)i, "committed row %zu is %lld", i, v[i]);
    free(v);
    rt_lines_free(&got);
    /* restored from it, the job writes the rest: every row once */
    run = rt_ckrun_start(job, sp);
    finish_ok(&run);
    rt_ckrun_end(&run);
    struct rt_lines all = rt_read_csv_parts(out), want = {0};
    for (int q = 0; q < ROWS; q++) rt_lines_addf(&want, "%d", q);
    rt_lines_expect_sorted(&all, &want, "stopped with a savepoint, then restored from it");
    rt_lines_free(&all);
    rt_lines_free(&want);
    rn_job_free(job);
    free(sp);
    free(text);
    free(out);
    free(ck);
}
END_TEST

START_TEST(trigger_needs_a_checkpoint_block)
{
    struct rn_job *job = parse("name: v\noperators:\n  - { id: g, type: datagen, with: { rows: 0, rate_limit: 1000, "
                               "fields: { a: seq } } }\n  - { id: o, type: blackhole, input: g, with: { quiet: true } }\n");
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    struct rn_error err;
    int64_t id;
    ck_assert_int_eq(rn_runner_trigger(run.r, true, NULL, false, &id, &err), RN_EINVAL);
    ck_assert_msg(strstr(err.msg, "checkpoint"), "%s", err.msg);
    rn_runner_cancel(run.r);
    rt_ckrun_end(&run);
    rn_job_free(job);
}
END_TEST

START_TEST(a_savepoint_into_an_existing_directory_is_refused)
{
    char *ck = tu_tmp_path("ck"), *there = tu_tmp_path("there");
    ck_assert(rn__mkdir_p(there) == 0);
    char *text = tu_fmt("name: exists\ncheckpoint: { interval: 1h, dir: %s }\noperators:\n"
                        "  - { id: g, type: datagen, with: { rows: 0, rate_limit: 1000, fields: { a: seq } } }\n"
                        "  - { id: o, type: blackhole, input: g, with: { quiet: true } }\n",
                        ck);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    struct rn_error err;
    int64_t id;
    ck_assert_int_eq(rn_runner_trigger(run.r, true, there, false, &id, &err), RN_EINVAL);
    ck_assert_msg(strstr(err.msg, there) && strstr(err.msg, "exists"), "%s", err.msg);
    /* and the job goes on: a savepoint elsewhere completes */
    char *sp = tu_tmp_path("sp");
    ck_assert_msg(rn_runner_trigger(run.r, true, sp, false, &id, &err) == 0, "%s", err.msg);
    char path[1024];
    ck_assert_msg(rn_runner_wait_checkpoint(run.r, id, RT_RUN_WAIT_MS, path, sizeof path, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(path, sp);
    rn_runner_cancel(run.r);
    rt_ckrun_end(&run);
    rn_job_free(job);
    free(sp);
    free(text);
    free(there);
    free(ck);
}
END_TEST

/* ---- 9. restores that run nothing or are refused ---- */

START_TEST(restoring_a_finished_jobs_final_checkpoint_only_commits)
{
    const char *backend = rt_backends[_i];
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out"), *job_dir = tu_fmt("%s/fin", ck);
    char *text = sp_job("fin", 1, backend, ck, 30, out);
    struct rn_job *job = parse(text);
    struct rt_ckrun run = rt_ckrun_start(job, NULL);
    finish_ok(&run);
    rt_ckrun_end(&run);
    expect_sp_output(out, "the first run");
    struct rn_error err;
    char final[4096];
    ck_assert_msg(rn_checkpoint_resolve(job_dir, final, sizeof final, NULL, &err) == 0, "%s", err.msg);
    struct rn_checkpoint_info info;
    ck_assert_msg(rn_checkpoint_read_info(final, &info, &err) == 0, "%s", err.msg);
    ck_assert_msg(info.finished, "the latest checkpoint of a finished job is not its final one");
    int64_t before[64], after[64];
    size_t n_before = chk_ids(job_dir, before, 64);
    run = rt_ckrun_start(job, final);
    finish_ok(&run);
    CHECK_MSG(rows_out(job, &run, "gen") == 0, "%s: the source emitted %" PRIu64 " rows", backend, rows_out(job, &run, "gen"));
    struct rn_checkpoint_stats st;
    rn_runner_checkpoint_stats(run.r, &st);
    ck_assert_int_eq(st.restored_id, info.id);
    ck_assert_uint_eq(st.completed, 0);
    rt_ckrun_end(&run);
    /* no new checkpoint, and the output as it was */
    size_t n_after = chk_ids(job_dir, after, 64);
    ck_assert_uint_eq(n_after, n_before);
    for (size_t i = 0; i < n_after; i++) ck_assert_int_eq(after[i], before[i]);
    char *what = tu_fmt("%s: after restoring the final checkpoint", backend);
    expect_sp_output(out, what);
    free(what);
    rn_job_free(job);
    free(text);
    free(job_dir);
    free(out);
    free(ck);
}
END_TEST

/* A finished run of sp_job (max_parallelism 32) and the path of its latest checkpoint. */
static char *finished_checkpoint(const char *ck, const char *out)
{
    char *text = sp_job("other", 1, "memory", ck, 30, out);
    run_text_ok(text);
    free(text);
    char *job_dir = tu_fmt("%s/other", ck), path[4096];
    struct rn_error err;
    ck_assert_msg(rn_checkpoint_resolve(job_dir, path, sizeof path, NULL, &err) == 0, "%s", err.msg);
    free(job_dir);
    return strdup(path);
}

/* rn_runner_create of text restored from chk must fail with a message holding each of words. */
static void expect_refused_restore(const char *text, const char *chk, const char *w1, const char *w2)
{
    struct rn_job *job = parse(text);
    FILE *devnull = fopen("/dev/null", "w");
    struct rn_run_options o = {.log = devnull, .restore = chk};
    struct rn_error err;
    rn_runner *r = rn_runner_create(job, &o, &err);
    CHECK_MSG(!r, "a runner was created from %s", chk);
    CHECK_MSG(strstr(err.msg, w1) && strstr(err.msg, w2), "rn_runner_create says: %s", err.msg);
    fclose(devnull);
    rn_job_free(job);
}

START_TEST(restore_refuses_another_max_parallelism)
{
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out");
    char *chk = finished_checkpoint(ck, out);
    char *text = sp_job("other", 1, "memory", ck, 30, out), *p = strstr(text, "max_parallelism: 32");
    ck_assert(p);
    memcpy(p, "max_parallelism: 64", 19);
    expect_refused_restore(text, chk, "max_parallelism 32", "64");
    free(text);
    free(chk);
    free(out);
    free(ck);
}
END_TEST

START_TEST(restore_refuses_state_of_an_operator_the_job_lacks)
{
    char *ck = tu_tmp_path("ck"), *out = tu_tmp_path("out");
    char *chk = finished_checkpoint(ck, out);
    /* the window renamed: its state has no owner */
    char *text = sp_job("other", 1, "memory", ck, 30, out), *p = strstr(text, "  - id: w\n");
    ck_assert(p);
    char *renamed = tu_fmt("%.*s  - id: win\n%s", (int)(p - text), text, p + 10);
    char *in = strstr(renamed, "input: w,");
    ck_assert(in);
    char *fixed = tu_fmt("%.*sinput: win,%s", (int)(in - renamed), renamed, in + 9);
    expect_refused_restore(fixed, chk, "operator 'w'", "does not have");
    free(fixed);
    free(renamed);
    free(text);
    free(chk);
    free(out);
    free(ck);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *job = tcase_create("job");
    tcase_add_loop_test(job, checkpoint_and_restart_errors_are_reported_at_their_position, 0,
                        (int)(sizeof bad_blocks / sizeof bad_blocks[0]));
    tcase_add_test(job, checkpoint_block_defaults);
    tcase_add_test(job, without_checkpoint_block_nothing_restarts);
    tcase_add_test(job, checkpoint_block_reads_every_field);
    tcase_add_test(job, pack_and_unpack_keep_the_checkpoint_restart_and_state_blocks);
    tcase_add_test(job, fixed_delay_allows_exactly_attempts_restarts);
    tcase_add_test(job, exponential_delay_grows_by_its_multiplier_up_to_max_delay);
    tcase_add_test(job, exponential_delay_with_attempts_stops_after_them);
    tcase_add_test(job, strategy_none_never_restarts);
    suite_add_tcase(s, job);

    TCase *run = tcase_create("run");
    tcase_add_checked_fixture(run, setup, teardown);
    tcase_add_loop_test(run, exactly_once_alignment_over_a_union_gives_the_failure_free_windows, 0, 2);
    tcase_add_loop_test(run, checkpoints_go_on_after_a_source_ended_and_a_restore_does_not_rerun_it, 0, 2);
    tcase_add_loop_test(run, at_least_once_checkpoints_complete_and_a_restore_loses_no_row, 0, 2);
    tcase_add_loop_test(run, retention_keeps_the_last_checkpoints_and_shared_holds_exactly_their_files, 0, 2);
    tcase_add_test(run, retention_and_shared_files_stay_exact_across_a_restore);
    tcase_add_test(run, files_of_failed_checkpoints_do_not_stay_in_shared);
    tcase_add_test(run, rocksdb_checkpoints_upload_only_new_files);
    tcase_add_loop_test(run, a_corrupt_checkpoint_is_named_skipped_by_resolve_and_refused_by_restore, 0, N_CORRUPTIONS);
    tcase_add_test(run, a_checkpoint_without_metadata_is_incomplete);
    tcase_add_test(run, failing_storage_fails_checkpoints_not_the_job);
    tcase_add_test(run, a_failed_final_checkpoint_fails_the_job);
    tcase_add_loop_test(run, a_savepoint_is_self_contained, 0, 2);
    tcase_add_loop_test(run, savepoints_rescale_keyed_and_operator_state_1_to_2_to_1, 0, 2);
    tcase_add_test(run, stop_with_savepoint_commits_what_it_covers_and_cancels);
    tcase_add_test(run, trigger_needs_a_checkpoint_block);
    tcase_add_test(run, a_savepoint_into_an_existing_directory_is_refused);
    tcase_add_loop_test(run, restoring_a_finished_jobs_final_checkpoint_only_commits, 0, 2);
    tcase_add_test(run, restore_refuses_another_max_parallelism);
    tcase_add_test(run, restore_refuses_state_of_an_operator_the_job_lacks);
    suite_add_tcase(s, run);
    return s;
}

TU_MAIN(make_suite)
