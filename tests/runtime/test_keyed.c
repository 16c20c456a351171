/*
 * test_keyed.c — the `keyed` runtime suite: keyed operators, keyed state and timers through real
 * jobs run in-process (registry, validator, runner), on both state backends. Results are compared
 * with the same computation done here in C.
 */
#include <check.h>
#include <stdatomic.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/runner.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-keyed"); }
static void teardown(void) { tu_tmp_teardown(); }

/* The last line per key (the first CSV field) of an upsert stream, in order of appearance per
 * part file: for an aggregate, a key's final result. Key values here are small ints. */
#define MAX_KEYS 1000
static void last_per_key(const char *dir, char **last)
{
    DIR *d = opendir(dir);
    ck_assert(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "part-", 5)) continue;
        char *path = tu_fmt("%s/%s", dir, e->d_name), *text = tu_slurp(path);
        bool header = true;
        for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (header) {
                header = false;
                continue;
            }
            long k = strtol(line, NULL, 10);
            ck_assert(k >= 0 && k < MAX_KEYS);
            free(last[k]);
            last[k] = strdup(line);
        }
        free(text);
        free(path);
    }
    closedir(d);
}

/* 50,000 rows: k = seq % 97, v = (seq * 7919) % 1000 - 300 (negatives too), null every 13th */
#define AGG_JOB                                                                                  \
    "name: agg\nparallelism: %d\nstate: { backend: %s, dir: %s }\noperators:\n"                  \
    "  - id: gen\n    type: datagen\n    with:\n      rows: 50000\n      fields:\n"             \
    "        k: \"seq %% 97\"\n        v: \"CASE WHEN seq %% 13 = 0 THEN CAST(NULL AS int64) ELSE (seq * 7919) %% 1000 - 300 END\"\n" \
    "        t: \"to_timestamp(seq)\"\n"                                                        \
    "  - id: agg\n    type: aggregate\n    input: gen\n    key_by: k\n    with:\n      aggregates:\n" \
    "        n: count(*)\n        nv: count(v)\n        s: sum(v)\n        lo: min(v)\n        hi: max(v)\n" \
    "        mean: avg(v)\n        f: first(t)\n        l: last(t)\n        d: count_distinct(v)\n" \
    "  - id: out\n    type: file_sink\n    input: agg\n    with: { path: %s, format: csv }\n"

static void expected_agg(char **want)
{
    for (int k = 0; k < 97; k++) {
        int64_t n = 0, nv = 0, s = 0, lo = INT64_MAX, hi = INT64_MIN, f = -1, l = -1;
        static bool seen[1000];
        memset(seen, 0, sizeof seen);
        int64_t d = 0;
        for (int64_t seq = k; seq < 50000; seq += 97) {
            n++;
            if (f < 0) f = seq;
            l = seq;
            if (seq % 13 == 0) continue;
            int64_t v = (seq * 7919) % 1000 - 300;
            nv++;
            s += v;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            if (!seen[v + 300]) seen[v + 300] = true, d++;
        }
        char mean[40];
        rn_double_format((double)s / (double)nv, mean);
        want[k] = tu_fmt("%d,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%" PRId64 ",%" PRId64 ",%" PRId64, k,
                         n, nv, s, lo, hi, mean, f, l, d);
    }
}

/* Drops CSV fields 7 and 8 (first, last): at parallelism 2 the arrival order of rows from
 * the two source subtasks is not defined, so first() and last() are not either. */
static void drop_order_dependent(char *line)
{
    char *f7 = line;
    for (int i = 0; i < 7 && f7; i++) f7 = strchr(f7, ',') ? strchr(f7, ',') + 1 : NULL;
    char *f9 = f7;
    for (int i = 0; i < 2 && f9; i++) f9 = strchr(f9, ',') ? strchr(f9, ',') + 1 : NULL;
    if (f7 && f9) memmove(f7, f9, strlen(f9) + 1);
}

static void check_agg(int parallelism, const char *backend)
{
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = tu_fmt(AGG_JOB, parallelism, backend, sdir, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    char *got[MAX_KEYS] = {0}, *want[MAX_KEYS] = {0};
    last_per_key(out, got);
    expected_agg(want);
    for (int k = 0; k < 97; k++) {
        ck_assert_msg(got[k], "%s P=%d: no row for key %d", backend, parallelism, k);
        if (parallelism > 1) {
            drop_order_dependent(got[k]);
            drop_order_dependent(want[k]);
        }
        ck_assert_msg(!strcmp(got[k], want[k]), "%s P=%d key %d:\n got  %s\n want %s", backend, parallelism, k, got[k],
                      want[k]);
        free(got[k]);
        free(want[k]);
    }
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir);
}

START_TEST(aggregate_final_rows_equal_a_direct_computation)
{
    check_agg(1, rt_backends[_i]);
}
END_TEST

START_TEST(aggregate_at_parallelism_2_gives_the_same_results)
{
    check_agg(2, rt_backends[_i]);
}
END_TEST

START_TEST(aggregate_min_max_first_last_of_strings)
{
    /* 20,000 rows over 3 batches+: k = seq % 7, s = 'v' || ((seq * 7919) % 1000), null every 11th */
    char *sdir_ = tu_tmp_path("s");
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n    with:\n      rows: 20000\n      fields:\n"
                        "        k: \"seq %% 7\"\n"
                        "        s: \"CASE WHEN seq %% 11 = 0 THEN CAST(NULL AS string) ELSE concat('v', (seq * 7919) %% 1000) END\"\n"
                        "  - { id: agg, type: aggregate, input: gen, key_by: k, with: { aggregates: "
                        "{ lo: min(s), hi: max(s), f: first(s), l: last(s) } } }\n"
                        "  - { id: out, type: file_sink, input: agg, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir_, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    char *got[MAX_KEYS] = {0};
    last_per_key(out, got);
    for (int k = 0; k < 7; k++) {
        char lo[16] = "", hi[16] = "", f[16] = "", l[16] = "", v[16];
        for (int64_t seq = k; seq < 20000; seq += 7) {
            if (seq % 11 == 0) continue;
            snprintf(v, sizeof v, "v%d", (int)((seq * 7919) % 1000));
            if (!lo[0] || strcmp(v, lo) < 0) strcpy(lo, v);
            if (!hi[0] || strcmp(v, hi) > 0) strcpy(hi, v);
            if (!f[0]) strcpy(f, v);
            strcpy(l, v);
        }
        char *want = tu_fmt("%d,%s,%s,%s,%s", k, lo, hi, f, l);
        ck_assert_msg(got[k] && !strcmp(got[k], want), "%s key %d: got %s, want %s", rt_backends[_i], k,
                      got[k] ? got[k] : "(none)", want);
        free(want);
        free(got[k]);
    }
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir_);
}
END_TEST

START_TEST(aggregate_emits_one_row_per_distinct_key_per_batch)
{
    char *sdir_ = tu_tmp_path("s");
    /* 4096-row batches of 10 keys: 10 rows out per batch */
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - { id: gen, type: datagen, with: { rows: 12288, fields: { k: \"seq %% 10\" } } }\n"
                        "  - { id: agg, type: aggregate, input: gen, key_by: k, with: { aggregates: { n: count(*) } } }\n"
                        "  - { id: out, type: file_sink, input: agg, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir_, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    struct rt_lines l = rt_read_csv_parts(out);
    ck_assert_uint_eq(l.n, 30);   /* 3 batches x 10 keys */
    rt_lines_free(&l);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir_);
}
END_TEST

START_TEST(deduplicate_keep_first_passes_each_keys_first_row)
{
    char *sdir_ = tu_tmp_path("s");
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - { id: gen, type: datagen, with: { rows: 20000, fields: { k: \"seq * 31 %% 101\", s: seq } } }\n"
                        "  - { id: d, type: deduplicate, input: gen, key_by: k }\n"
                        "  - { id: out, type: file_sink, input: d, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir_, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    struct rt_lines got = rt_read_csv_parts(out), want = {0};
    bool seen[101] = {0};
    for (int64_t seq = 0; seq < 20000; seq++) {
        int k = (int)(seq * 31 % 101);
        if (seen[k]) continue;
        seen[k] = true;
        rt_lines_push(&want, tu_fmt("%d,%" PRId64, k, seq));
    }
    rt_lines_sort(&want);
    ck_assert_uint_eq(got.n, want.n);
    for (size_t i = 0; i < got.n; i++) ck_assert_str_eq(got.v[i], want.v[i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir_);
}
END_TEST

START_TEST(deduplicate_keep_last_passes_changes_only)
{
    char *sdir_ = tu_tmp_path("s");
    /* every key's value is constant: after its first row nothing changes, so one row per key */
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - { id: gen, type: datagen, with: { rows: 30000, fields: { k: \"seq %% 50\", v: \"seq %% 50 * 2\" } } }\n"
                        "  - { id: d, type: deduplicate, input: gen, key_by: k, with: { keep: last } }\n"
                        "  - { id: out, type: file_sink, input: d, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir_, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    struct rt_lines got = rt_read_csv_parts(out);
    ck_assert_uint_eq(got.n, 50);
    rt_lines_free(&got);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir_);
}
END_TEST

START_TEST(state_working_directories_are_removed_after_the_job)
{
    rn_registry *reg = rt_registry();
    char *sdir = tu_tmp_path("state");
    char *text = tu_fmt("state: { backend: rocksdb, dir: %s }\nparallelism: 2\noperators:\n"
                        "  - { id: gen, type: datagen, with: { rows: 5000, fields: { k: \"seq %% 10\" } } }\n"
                        "  - { id: agg, type: aggregate, input: gen, key_by: k, with: { aggregates: { n: count(*) } } }\n"
                        "  - { id: out, type: blackhole, input: agg, with: { quiet: true } }\n",
                        sdir);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    DIR *d = opendir(sdir);
    ck_assert_msg(d, "the state directory's parent was created");
    struct dirent *e;
    int left = 0;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') left++;
    closedir(d);
    ck_assert_int_eq(left, 0);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(sdir);
}
END_TEST

START_TEST(keyed_operator_without_key_by_is_refused)
{
    rt_expect_invalid(NULL, "operators:\n  - { id: g, type: datagen, with: { fields: { k: seq } } }\n"
                      "  - { id: a, type: aggregate, input: g, with: { aggregates: { n: count(*) } } }\n",
                      "key_by");
}
END_TEST

START_TEST(bad_state_backend_and_bad_aggregate_are_refused)
{
    rt_expect_invalid(NULL, "state: { backend: leveldb }\noperators:\n  - { id: g, type: datagen, with: { fields: { k: seq } } }\n",
                      "memory or rocksdb");
    rt_expect_invalid(NULL, "operators:\n  - { id: g, type: datagen, with: { fields: { k: seq, s: \"'x'\" } } }\n"
                      "  - { id: a, type: aggregate, input: g, key_by: k, with: { aggregates: { m: median(k) } } }\n",
                      "unknown aggregate");
    rt_expect_invalid(NULL, "operators:\n  - { id: g, type: datagen, with: { fields: { k: seq, s: \"'x'\" } } }\n"
                      "  - { id: a, type: aggregate, input: g, key_by: k, with: { aggregates: { m: sum(s) } } }\n",
                      "int64 or double");
    rt_expect_invalid(NULL, "operators:\n  - { id: g, type: datagen, with: { fields: { k: seq, v: \"CAST(NULL AS vector<2>)\" } } }\n"
                      "  - { id: a, type: aggregate, input: g, key_by: k, with: { aggregates: { m: max(v) } } }\n",
                      "string");
}
END_TEST

/* ---- timers, through a test-only keyed operator ---- */

struct fired {
    int64_t times[64];
    int n;
};
static struct fired fired[2];   /* per subtask */

static int t_plan(struct rn_plan_ctx *ctx) { return rn_plan_set_output(ctx, rn_plan_input_schema(ctx, 0)); }
static int t_open(struct rn_op_ctx *ctx, void **state)
{
    *state = NULL;
    fired[rn_op_subtask(ctx)].n = 0;
    return rn_op_state(ctx) ? 0 : RN_EINVAL;
}
/* For each row: an event-time timer at 100 * (k + 1) ms, registered on every row (one timer). */
static int t_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)state;
    (void)input;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    for (uint32_t r = 0; r < b->n_rows && !rc; r++)
        rc = rn_op_timer_register(ctx, RN_TIMER_EVENT, &keys.keys[r], 0, 100 * (rn_col_i64(keys.column, r) + 1));
    return rc;
}
static int t_on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *t)
{
    (void)state;
    struct fired *f = &fired[rn_op_subtask(ctx)];
    ck_assert(t->kind == RN_TIMER_EVENT && t->time <= rn_op_watermark(ctx));
    if (f->n < 64) f->times[f->n++] = t->time;
    return 0;
}
static void t_close(void *state, struct rn_op_ctx *ctx)
{
    (void)state;
    (void)ctx;
}
static const struct rn_operator_def timer_op = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def), .name = "test_timers",
    .description = "test", .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_KEYED | RN_OP_SINK,
    .plan = t_plan, .open = t_open, .process = t_process, .on_timer = t_on_timer, .close = t_close,
};

START_TEST(event_time_timers_fire_once_each_in_time_order)
{
    char *sdir_ = tu_tmp_path("s");
    rn_registry *reg = rt_registry();
    struct rn_error err;
    ck_assert(rn_registry_add(reg, &timer_op, &err) == 0);
    /* keys 0..9, event time = seq ms, watermark = max - 1: timers at 100, 200, ..., 1000 */
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n    with: { rows: 3000, fields: { k: \"seq %% 10\", t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - { id: tt, type: test_timers, input: gen, key_by: k }\n",
                        rt_backends[_i], sdir_);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    ck_assert_int_eq(fired[0].n, 10);
    for (int i = 0; i < 10; i++) ck_assert_int_eq(fired[0].times[i], 100 * (i + 1));
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(sdir_);
}
END_TEST

/* ---- processing-time timers ---- */

static _Atomic int proc_fired;
static _Atomic int64_t proc_late_ms;

static int p_open(struct rn_op_ctx *ctx, void **state)
{
    *state = NULL;
    return rn_op_state(ctx) ? 0 : RN_EINVAL;
}
/* On the first row of each key: a processing-time timer 50 ms from now. */
static int p_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)state;
    (void)input;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    int64_t now = rn_op_processing_time(ctx);
    for (uint32_t r = 0; r < b->n_rows && !rc; r++)
        rc = rn_op_timer_register(ctx, RN_TIMER_PROCESSING, &keys.keys[r], 0, now + 50);
    return rc;
}
static int p_on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *t)
{
    (void)state;
    ck_assert(t->kind == RN_TIMER_PROCESSING);
    int64_t late = rn_op_processing_time(ctx) - t->time;
    ck_assert(late >= 0);
    if (late > proc_late_ms) proc_late_ms = late;
    proc_fired++;
    return 0;
}
static const struct rn_operator_def proc_op = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def), .name = "test_proc_timers",
    .description = "test", .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_KEYED | RN_OP_SINK,
    .plan = t_plan, .open = p_open, .process = p_process, .on_timer = p_on_timer, .close = t_close,
};

START_TEST(processing_time_timers_fire_while_the_job_runs)
{
    rn_registry *reg = rt_registry();
    struct rn_error err;
    ck_assert(rn_registry_add(reg, &proc_op, &err) == 0);
    /* an unbounded, slow source (200 rows/s) of 3 keys: input keeps the task busy now and then,
     * the timers must fire from the mailbox loop's deadline, not from input */
    char *text = tu_fmt("operators:\n"
                        "  - { id: gen, type: datagen, with: { rate_limit: 200, fields: { k: \"seq %% 3\" } } }\n"
                        "  - { id: pt, type: test_proc_timers, input: gen, key_by: k }\n");
    struct rn_job *job = rt_parse_ok(reg, text);
    proc_fired = 0;
    proc_late_ms = 0;
    FILE *log = fopen("/dev/null", "w");
    struct rn_run_options o = {.log = log};
    rn_runner *r = rn_runner_create(job, &o, &err);
    ck_assert(r && rn_runner_start(r, &err) == 0);
    for (int i = 0; i < 100 && proc_fired < 3; i++) rn_runner_wait(r, 50);
    rn_runner_cancel(r);
    ck_assert(rn_runner_wait(r, 10000));
    ck_assert_msg(proc_fired >= 3, "%d processing-time timers fired in 5 s", (int)proc_fired);
    ck_assert_msg(proc_late_ms < 1000, "a timer fired %lld ms late", (long long)proc_late_ms);
    ck_assert_int_eq(rn_runner_state(r, NULL), RN_RUN_CANCELLED);
    rn_runner_destroy(r);
    fclose(log);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
}
END_TEST

/* ---- idle sources do not hold the watermark back ---- */

static _Atomic int64_t max_wm;

static int w_plan(struct rn_plan_ctx *ctx)
{
    (void)ctx;
    return 0;
}
static int w_open(struct rn_op_ctx *ctx, void **state)
{
    (void)ctx;
    *state = NULL;
    return 0;
}
static int w_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)state;
    (void)ctx;
    (void)input;
    (void)b;
    return 0;
}
static int w_on_watermark(void *state, struct rn_op_ctx *ctx, int64_t wm)
{
    (void)state;
    (void)ctx;
    if (wm != INT64_MAX && wm > max_wm) max_wm = wm;
    return 0;
}
static const struct rn_operator_def wm_op = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def), .name = "test_wm_max",
    .description = "test", .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = w_plan, .open = w_open, .process = w_process, .on_watermark = w_on_watermark, .close = t_close,
};

/* A fast source (event times from 1,000,000 ms) and a slow unbounded one (2 rows/s, event times
 * near 0) into a union: returns the highest watermark the union passed on within ~1.5 s. */
static int64_t union_watermark(const char *slow_idle)
{
    rn_registry *reg = rt_registry();
    struct rn_error err;
    ck_assert(rn_registry_add(reg, &wm_op, &err) == 0);
    char *text = tu_fmt("operators:\n"
                        "  - id: fast\n    type: datagen\n"
                        "    with: { rows: 40000, rate_limit: 20000, fields: { t: \"to_timestamp(1000000 + seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: slow\n    type: datagen\n"
                        "    with: { rate_limit: 2, fields: { t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms%s }\n"
                        "  - { id: u, type: union, input: [fast, slow] }\n"
                        "  - { id: rec, type: test_wm_max, input: u }\n",
                        slow_idle);
    struct rn_job *job = rt_parse_ok(reg, text);
    max_wm = INT64_MIN;
    FILE *log = fopen("/dev/null", "w");
    struct rn_run_options o = {.log = log};
    rn_runner *r = rn_runner_create(job, &o, &err);
    ck_assert(r && rn_runner_start(r, &err) == 0);
    rn_runner_wait(r, 1500);
    rn_runner_cancel(r);
    ck_assert(rn_runner_wait(r, 10000));
    rn_runner_destroy(r);
    fclose(log);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    return max_wm;
}

START_TEST(an_idle_source_does_not_hold_back_the_watermark)
{
    int64_t wm = union_watermark(", idle_timeout: 100ms");
    ck_assert_msg(wm > 1000000, "the union's watermark reached %lld: the idle source held it back", (long long)wm);
}
END_TEST

START_TEST(without_idle_timeout_the_slowest_source_holds_the_watermark)
{
    int64_t wm = union_watermark("");
    ck_assert_msg(wm < 1000000, "the union's watermark reached %lld past the slow source's", (long long)wm);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("keyed");
    TCase *tc = tcase_create("keyed");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, aggregate_final_rows_equal_a_direct_computation, 0, 2);
    tcase_add_loop_test(tc, aggregate_at_parallelism_2_gives_the_same_results, 0, 2);
    tcase_add_loop_test(tc, aggregate_emits_one_row_per_distinct_key_per_batch, 0, 2);
    tcase_add_loop_test(tc, aggregate_min_max_first_last_of_strings, 0, 2);
    tcase_add_loop_test(tc, deduplicate_keep_first_passes_each_keys_first_row, 0, 2);
    tcase_add_loop_test(tc, deduplicate_keep_last_passes_changes_only, 0, 2);
    tcase_add_test(tc, state_working_directories_are_removed_after_the_job);
    tcase_add_test(tc, keyed_operator_without_key_by_is_refused);
    tcase_add_test(tc, bad_state_backend_and_bad_aggregate_are_refused);
    tcase_add_loop_test(tc, event_time_timers_fire_once_each_in_time_order, 0, 2);
    tcase_add_test(tc, processing_time_timers_fire_while_the_job_runs);
    tcase_add_test(tc, an_idle_source_does_not_hold_back_the_watermark);
    tcase_add_test(tc, without_idle_timeout_the_slowest_source_holds_the_watermark);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
