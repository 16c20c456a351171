/*
 * test_runtime.c — Check suite "runtime": whole jobs run in-process through the same registry,
 * validator and runner that `runnel run` uses (runnel/job.h, runnel/runner.h).
 *
 * Each test writes a small YAML job, runs it on threads, reads what a file_sink wrote (under a
 * mkdtemp directory removed afterwards) and compares it EXACTLY with the same computation done
 * here in C: expressions over datagen's seq, the Nexmark generator library called directly,
 * hand-written input files. Where the order of rows is not defined (parallelism above 1) lines
 * are sorted first. Besides results: chaining and channel counts, node statistics, every class of
 * validation error with its line and column, job graph pack/unpack, plugins (the example plugin
 * and the ones the loader must refuse), operator failures, back-pressure (bounded memory),
 * cancellation and watermarks. The test-only operators (a failing one, a slow sink, a watermark
 * recorder) are defined below and registered with rn_registry_add like any operator.
 *
 * Assumes Check's fork mode (the default): each test runs in its own process, so the test
 * operators may record into file-level variables, and a leak or a stuck thread fails only the
 * test that caused it. Environment (tests/runtime/meson.build): RUNNEL_SAMPLE_PLUGIN_DIR (the
 * example plugins), RUNNEL_BAD_PLUGIN_DIR (plugins the loader must refuse).
 */
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rtutil.h"
#include "testutil.h"

#include "builtin.h"
#include "nexmark_gen.h"
#include "runnel/hash.h"
#include "runnel/job.h"
#include "runnel/runner.h"

#define RUN_TIMEOUT_MS 60000   /* a bounded job of these sizes ends in well under a second */

/* ------------------------------------------------------------------------------------------ */
/* temporary directory and small string helpers                                               */
/* ------------------------------------------------------------------------------------------ */

static void setup(void) { tu_tmp_setup("runnel-rt"); }
static void teardown(void) { tu_tmp_teardown(); }

#define fmt tu_fmt
#define tmp_path tu_tmp_path
#define write_file tu_write_file
#define slurp tu_slurp

static void expect_contains(const char *hay, const char *needle)
{
    ck_assert_msg(hay && strstr(hay, needle), "expected \"%s\" in \"%s\"", needle, hay ? hay : "(null)");
}

/* ------------------------------------------------------------------------------------------ */
/* output files read back as lines (struct rt_lines: rtutil.h)                              */
/* ------------------------------------------------------------------------------------------ */

/* The lines of a file (without their '\n'); a missing file fails the test. */
static struct rt_lines read_lines(const char *path)
{
    struct rt_lines l = {0};
    char *text = slurp(path);
    ck_assert_msg(text != NULL, "missing output file %s", path);
    char *p = text;
    while (*p) {
        char *nl = strchr(p, '\n');
        CHECK_MSG(nl != NULL, "%s: the last line has no newline: \"%s\"", path, p);
        rt_lines_push(&l, strndup(p, (size_t)(nl - p)));
        p = nl + 1;
    }
    free(text);
    return l;
}

/* The lines of part-<subtask>.<ext> in dir. */
static struct rt_lines read_part(const char *dir, uint32_t subtask, const char *ext)
{
    char *p = fmt("%s/part-%u.%s", dir, subtask, ext);
    struct rt_lines l = read_lines(p);
    free(p);
    return l;
}

/* Every part file's lines, part 0 first. */
static struct rt_lines read_parts(const char *dir, uint32_t parts, const char *ext)
{
    struct rt_lines all = {0};
    for (uint32_t s = 0; s < parts; s++) {
        struct rt_lines l = read_part(dir, s, ext);
        rt_lines_append(&all, &l);
        rt_lines_free(&l);
    }
    return all;
}

/* The shortest-round-trip text the file formats use for doubles (runnel/types.h). */
static const char *dbl(double v, char buf[48]) { return rn_double_format(v, buf); }

/* ------------------------------------------------------------------------------------------ */
/* test-only operators                                                                        */
/* ------------------------------------------------------------------------------------------ */

static int plan_pass(struct rn_plan_ctx *ctx) { return rn_plan_set_output(ctx, rn_plan_input_schema(ctx, 0)); }
static int plan_sink(struct rn_plan_ctx *ctx) { (void)ctx; return 0; }
static void close_free(void *state, struct rn_op_ctx *ctx) { (void)ctx; free(state); }

/* fail_after: passes batches through, then fails on batch number after + 1 of its subtask. */
static const struct rn_option fail_after_options[] = {
    {"after", RN_OPT_INT, "3", "batches passed before failing"},
    {NULL, 0, NULL, NULL},
};

struct fail_after_state {
    int64_t after, seen;
};

static int fail_after_open(struct rn_op_ctx *ctx, void **state)
{
    struct fail_after_state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    s->after = rn_opt_int(rn_op_options(ctx), "after");
    *state = s;
    return 0;
}

static int fail_after_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct fail_after_state *s = state;
    if (++s->seen > s->after) {
        rn_op_error(ctx, "injected failure after %lld batches", (long long)s->after);
        return RN_EINVAL;
    }
    return rn_op_emit(ctx, rn_batch_ref(b));
}

static const struct rn_operator_def test_fail_after = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "test_fail_after", .description = "test: fails after N batches",
    .options = fail_after_options, .n_inputs_min = 1, .n_inputs_max = 1,
    .plan = plan_pass, .open = fail_after_open, .process = fail_after_process, .close = close_free,
};

/* test_slow_sink: sleeps sleep_ms per batch (a consumer slower than its producer). */
static const struct rn_option slow_sink_options[] = {
    {"sleep_ms", RN_OPT_INT, "2", "milliseconds slept per batch"},
    {NULL, 0, NULL, NULL},
};

static _Atomic uint64_t g_slow_rows, g_slow_batches;

static int slow_open(struct rn_op_ctx *ctx, void **state)
{
    int64_t *ms = malloc(sizeof *ms);
    if (!ms) return RN_ENOMEM;
    *ms = rn_opt_int(rn_op_options(ctx), "sleep_ms");
    *state = ms;
    return 0;
}

static int slow_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)ctx;
    (void)input;
    struct timespec ts = {0, (long)*(int64_t *)state * 1000000L};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&g_slow_rows, b->n_rows);
    atomic_fetch_add(&g_slow_batches, 1);
    return 0;
}

static const struct rn_operator_def test_slow_sink = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "test_slow_sink", .description = "test: a slow sink",
    .options = slow_sink_options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = plan_sink, .open = slow_open, .process = slow_process, .close = close_free,
};

/* test_wm_recorder: records, for every on_watermark call, the watermark and the largest `ts`
 * it had seen in process() by then (one subtask only). */
#define WM_MAX 1024
static struct {
    pthread_mutex_t mu;
    int64_t max_ts;          /* INT64_MIN before the first row */
    uint64_t batches;
    uint64_t late;           /* rows at or behind the watermark when they arrived */
    size_t n;
    int64_t wm[WM_MAX], seen[WM_MAX];
    uint64_t batches_at[WM_MAX];
} g_wm = {.mu = PTHREAD_MUTEX_INITIALIZER, .max_ts = INT64_MIN};

static int wm_plan(struct rn_plan_ctx *ctx)
{
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    int c = rn_schema_find(in, "ts");
    if (c < 0 || rn_schema_field(in, (size_t)c)->type.id != RN_T_TIMESTAMP)
        return rn_plan_error(ctx, NULL, "needs a timestamp column ts");
    return 0;
}

static int wm_open(struct rn_op_ctx *ctx, void **state)
{
    int *col = malloc(sizeof *col);
    if (!col) return RN_ENOMEM;
    *col = rn_schema_find(rn_op_input_schema(ctx, 0), "ts");
    *state = col;
    return 0;
}

static int wm_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    const struct rn_column *c = &b->cols[*(int *)state];
    int64_t wm = rn_op_watermark(ctx);
    pthread_mutex_lock(&g_wm.mu);
    for (uint32_t i = 0; i < b->n_rows; i++) {
        if (rn_column_is_null(c, i)) continue;
        if (rn_col_i64(c, i) > g_wm.max_ts) g_wm.max_ts = rn_col_i64(c, i);
        if (rn_col_i64(c, i) <= wm) g_wm.late++;
    }
    g_wm.batches++;
    pthread_mutex_unlock(&g_wm.mu);
    return 0;
}

static int wm_on_watermark(void *state, struct rn_op_ctx *ctx, int64_t wm)
{
    (void)state;
    (void)ctx;
    pthread_mutex_lock(&g_wm.mu);
    if (g_wm.n < WM_MAX) {
        g_wm.wm[g_wm.n] = wm;
        g_wm.seen[g_wm.n] = g_wm.max_ts;
        g_wm.batches_at[g_wm.n] = g_wm.batches;
        g_wm.n++;
    }
    pthread_mutex_unlock(&g_wm.mu);
    return 0;
}

static const struct rn_operator_def test_wm_recorder = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "test_wm_recorder", .description = "test: records watermarks",
    .options = NULL, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = wm_plan, .open = wm_open, .process = wm_process, .on_watermark = wm_on_watermark, .close = close_free,
};

/* ------------------------------------------------------------------------------------------ */
/* registry, jobs and runs                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* The built-in operators plus the test operators. */
static rn_registry *registry(void)
{
    struct rn_error err;
    rn_registry *r = rt_registry();
    ck_assert_msg(rn_registry_add(r, &test_fail_after, &err) == 0, "%s", err.msg);
    ck_assert_msg(rn_registry_add(r, &test_slow_sink, &err) == 0, "%s", err.msg);
    ck_assert_msg(rn_registry_add(r, &test_wm_recorder, &err) == 0, "%s", err.msg);
    return r;
}

struct run {
    enum rn_run_state state;
    char error[1024];
    char *log;               /* what the job logged (operator logs) */
    uint32_t n_nodes;
    uint64_t in[32], out[32];
    uint64_t skipped_lines[32];  /* the operators' "skipped_lines" counter (rn_op_metric) */
};

static void run_free(struct run *r) { free(r->log); }

/* Runs job to its end (bounded wait: a job that does not end fails the test). */
static struct run run_job(const struct rn_job *job)
{
    struct run res = {0};
    struct rn_error err;
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *log = open_memstream(&logbuf, &loglen);
    ck_assert(log);
    struct rn_run_options opts = {.log = log};
    rn_runner *r = rn_runner_create(job, &opts, &err);
    ck_assert_msg(r != NULL, "rn_runner_create: %s", err.msg);
    ck_assert_msg(rn_runner_start(r, &err) == 0, "rn_runner_start: %s", err.msg);
    bool ended = rn_runner_wait(r, RUN_TIMEOUT_MS);
    if (!ended) rn_runner_cancel(r);
    ck_assert_msg(ended, "the job did not end within %d ms", RUN_TIMEOUT_MS);
    const char *why = NULL;
    res.state = rn_runner_state(r, &why);
    if (why) snprintf(res.error, sizeof res.error, "%s", why);
    res.n_nodes = job->n_nodes;
    for (uint32_t i = 0; i < job->n_nodes && i < 32; i++) {
        rn_runner_node_stats(r, i, &res.in[i], &res.out[i]);
        const char *name;
        uint64_t value;
        for (uint32_t m = 0; rn_runner_node_metric(r, i, m, &name, &value); m++)
            if (!strcmp(name, "skipped_lines")) res.skipped_lines[i] = value;
    }
    rn_runner_destroy(r);
    fclose(log);
    res.log = logbuf;
    return res;
}

/* Parses, runs and expects the job to finish. */
static void run_text_ok(const char *text)
{
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct run res = run_job(job);
    ck_assert_msg(res.state == RN_RUN_FINISHED, "job state %d: %s\n--- job:\n%s", res.state, res.error, text);
    run_free(&res);
    rn_job_free(job);
    rn_registry_destroy(reg);
}

/* ------------------------------------------------------------------------------------------ */
/* datagen -> filter -> select -> file_sink                                                   */
/* ------------------------------------------------------------------------------------------ */

#define PIPE_ROWS 10000

static char *pipeline_job(const char *out, int parallelism)
{
    return fmt("name: pipeline\n"
               "parallelism: %d\n"
               "operators:\n"
               "  - id: gen\n"
               "    type: datagen\n"
               "    with:\n"
               "      rows: %d\n"
               "      fields:\n"
               "        seq: seq\n"
               "        a: \"seq %% 7\"\n"
               "        b: \"seq * 3 - 5\"\n"
               "        s: \"concat('k', seq %% 13)\"\n"
               "  - id: keep\n"
               "    type: filter\n"
               "    input: gen\n"
               "    with: { where: \"a <> 3 AND seq %% 5 < 3\" }\n"
               "  - id: shape\n"
               "    type: select\n"
               "    input: keep\n"
               "    with:\n"
               "      columns:\n"
               "        id: seq\n"
               "        x: \"a * 10 + b\"\n"
               "        d: \"seq / 4.0\"\n"
               "        s: s\n"
               "        big: \"b > 1000\"\n"
               "  - id: out\n"
               "    type: file_sink\n"
               "    input: shape\n"
               "    with: { path: \"%s\", format: jsonl }\n",
               parallelism, PIPE_ROWS, out);
}

/* The same rows computed here: seq in order. */
static struct rt_lines pipeline_expected(void)
{
    struct rt_lines want = {0};
    char d[48];
    for (int64_t seq = 0; seq < PIPE_ROWS; seq++) {
        int64_t a = seq % 7, b = seq * 3 - 5;
        if (!(a != 3 && seq % 5 < 3)) continue;
        rt_lines_addf(&want, "{\"id\":%" PRId64 ",\"x\":%" PRId64 ",\"d\":%s,\"s\":\"k%" PRId64 "\",\"big\":%s}", seq,
                      a * 10 + b, dbl((double)seq / 4.0, d), seq % 13, b > 1000 ? "true" : "false");
    }
    return want;
}

START_TEST(datagen_filter_select_rows_are_exact)
{
    char *out = tmp_path("out");
    char *job = pipeline_job(out, 1);
    run_text_ok(job);
    struct rt_lines got = read_part(out, 0, "jsonl"), want = pipeline_expected();
    ck_assert_uint_gt(want.n, 5000);
    rt_lines_expect(&got, &want, "datagen -> filter -> select at parallelism 1");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(job);
    free(out);
}
END_TEST

START_TEST(datagen_pipeline_same_rows_at_parallelism_1_and_2)
{
    char *out1 = tmp_path("p1"), *out2 = tmp_path("p2");
    char *job1 = pipeline_job(out1, 1), *job2 = pipeline_job(out2, 2);
    run_text_ok(job1);
    run_text_ok(job2);
    struct rt_lines got1 = read_parts(out1, 1, "jsonl"), got2 = read_parts(out2, 2, "jsonl"), want = pipeline_expected();
    /* both subtasks did work: datagen subtask r generates seq r, r + 2, ... */
    struct rt_lines p0 = read_part(out2, 0, "jsonl"), p1 = read_part(out2, 1, "jsonl");
    ck_assert_uint_gt(p0.n, 0);
    ck_assert_uint_gt(p1.n, 0);
    rt_lines_expect_sorted(&got2, &want, "parallelism 2 vs C");
    rt_lines_expect_sorted(&got1, &got2, "parallelism 1 vs parallelism 2");
    rt_lines_free(&p0);
    rt_lines_free(&p1);
    rt_lines_free(&got1);
    rt_lines_free(&got2);
    rt_lines_free(&want);
    free(job1);
    free(job2);
    free(out1);
    free(out2);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* nexmark                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Calls fn on every bid that the generator library gives for (events, P, index). */
typedef void (*bid_fn)(const struct rn_batch *b, uint32_t row, void *arg);

static void each_bid(uint64_t events, uint32_t p, uint32_t index, bid_fn fn, void *arg)
{
    struct rn_nexmark_config c;
    rn_nexmark_config_default(&c);
    c.events = events;
    c.num_generators = p;
    c.index = index;
    rn_nexmark_gen *g = rn_nexmark_gen_create(&c, RN_NEXMARK_BID);
    ck_assert(g != NULL);
    for (;;) {
        struct rn_batch *b = rn_batch_new(rn_nexmark_schema(RN_NEXMARK_BID), 1000);
        ck_assert(b != NULL);
        int n = rn_nexmark_gen_next(g, b, 1000);
        ck_assert_int_ge(n, 0);
        for (uint32_t i = 0; i < b->n_rows; i++) fn(b, i, arg);
        rn_batch_unref(b);
        if (n == 0) break;
    }
    rn_nexmark_gen_destroy(g);
}

static int bid_col(const char *name)
{
    int c = rn_schema_find(rn_nexmark_schema(RN_NEXMARK_BID), name);
    ck_assert_int_ge(c, 0);
    return c;
}

struct q2_arg {
    struct rt_lines *want;
    int auction, price;
    uint64_t bids;
};

static void q2_row(const struct rn_batch *b, uint32_t row, void *arg)
{
    struct q2_arg *a = arg;
    int64_t auction = rn_col_i64(&b->cols[a->auction], row), price = rn_col_i64(&b->cols[a->price], row);
    a->bids++;
    if (auction % 123 == 0) rt_lines_addf(a->want, "{\"auction\":%" PRId64 ",\"price\":%" PRId64 "}", auction, price);
}

START_TEST(nexmark_q2_selection_matches_generator)
{
    enum { EVENTS = 20000, P = 2 };
    char *out = tmp_path("q2");
    char *job = fmt("name: q2\n"
                    "parallelism: %d\n"
                    "operators:\n"
                    "  - id: bids\n"
                    "    type: nexmark\n"
                    "    with: { kind: bid, events: %d }\n"
                    "  - id: every_123rd\n"
                    "    type: filter\n"
                    "    input: bids\n"
                    "    with: { where: \"auction %% 123 = 0\" }\n"
                    "  - id: q2\n"
                    "    type: select\n"
                    "    input: every_123rd\n"
                    "    with: { columns: { auction: auction, price: price } }\n"
                    "  - id: out\n"
                    "    type: file_sink\n"
                    "    input: q2\n"
                    "    with: { path: \"%s\" }\n",
                    P, EVENTS, out);
    run_text_ok(job);
    struct rt_lines want = {0};
    struct q2_arg a = {&want, bid_col("auction"), bid_col("price"), 0};
    for (uint32_t i = 0; i < P; i++) each_bid(EVENTS, P, i, q2_row, &a);
    ck_assert_uint_gt(a.bids, EVENTS / 2);
    ck_assert_uint_gt(want.n, 5);   /* the filter keeps something */
    ck_assert_uint_lt(want.n, a.bids / 10);   /* ... and drops most */
    struct rt_lines got = read_parts(out, P, "jsonl");
    rt_lines_expect_sorted(&got, &want, "nexmark q2");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(job);
    free(out);
}
END_TEST

struct q1_arg {
    struct rt_lines *want;
    int auction, bidder, price, date_time;
};

static void q1_row(const struct rn_batch *b, uint32_t row, void *arg)
{
    struct q1_arg *a = arg;
    char d[48];
    rt_lines_addf(a->want, "{\"auction\":%" PRId64 ",\"bidder\":%" PRId64 ",\"price\":%s,\"date_time\":%" PRId64 "}",
                  rn_col_i64(&b->cols[a->auction], row), rn_col_i64(&b->cols[a->bidder], row),
                  dbl(0.908 * (double)rn_col_i64(&b->cols[a->price], row), d), rn_col_i64(&b->cols[a->date_time], row));
}

START_TEST(nexmark_q1_currency_conversion_matches_generator)
{
    enum { EVENTS = 5000 };
    char *out = tmp_path("q1");
    char *job = fmt("name: q1\n"
                    "operators:\n"
                    "  - id: bids\n"
                    "    type: nexmark\n"
                    "    with: { kind: bid, events: %d }\n"
                    "  - id: q1\n"
                    "    type: select\n"
                    "    input: bids\n"
                    "    with:\n"
                    "      columns:\n"
                    "        auction: auction\n"
                    "        bidder: bidder\n"
                    "        price: \"0.908 * price\"\n"
                    "        date_time: date_time\n"
                    "  - id: out\n"
                    "    type: file_sink\n"
                    "    input: q1\n"
                    "    with: { path: \"%s\" }\n",
                    EVENTS, out);
    run_text_ok(job);
    struct rt_lines want = {0};
    struct q1_arg a = {&want, bid_col("auction"), bid_col("bidder"), bid_col("price"), bid_col("date_time")};
    each_bid(EVENTS, 1, 0, q1_row, &a);
    ck_assert_uint_gt(want.n, EVENTS / 2);
    struct rt_lines got = read_part(out, 0, "jsonl");
    rt_lines_expect(&got, &want, "nexmark q1 (parallelism 1: generator order)");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(job);
    free(out);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* file_source                                                                                */
/* ------------------------------------------------------------------------------------------ */

/* ms since the epoch of a UTC civil time, computed with timegm (independent of the engine). */
static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

static char *copy_job(const char *src_with, const char *out, const char *out_format)
{
    return fmt("name: copy\n"
               "operators:\n"
               "  - id: src\n"
               "    type: file_source\n"
               "    with: %s\n"
               "  - id: out\n"
               "    type: file_sink\n"
               "    input: src\n"
               "    with: { path: \"%s\", format: %s }\n",
               src_with, out, out_format);
}

START_TEST(file_source_jsonl_to_jsonl_is_exact)
{
    char *in = tmp_path("in.jsonl"), *out = tmp_path("out");
    write_file(in, "{\"id\": 1, \"name\": \"alpha\", \"ts\": \"2024-01-02T03:04:05.678Z\", \"score\": 1.5, \"ok\": true}\n"
                   "{\"id\": 2, \"name\": \"be\\\"ta\", \"ts\": 1700000000000, \"score\": -2, \"ok\": false}\n"
                   "\n"
                   "{\"ts\": \"2024-02-29 12:00:00+01:00\", \"id\": 3, \"name\": null, \"score\": 0.25, \"ok\": true, "
                   "\"extra\": {\"x\": [1, 2]}}\n"
                   "{\"id\": 4, \"ts\": \"1999-12-31T23:59:59Z\", \"ok\": false}\n");
    char *with = fmt("{ path: \"%s\", format: jsonl, schema: { id: int64, name: string, ts: timestamp, score: double, "
                     "ok: bool } }", in);
    char *job = copy_job(with, out, "jsonl");
    run_text_ok(job);
    struct rt_lines want = {0}, got = read_part(out, 0, "jsonl");
    rt_lines_addf(&want, "{\"id\":1,\"name\":\"alpha\",\"ts\":%" PRId64 ",\"score\":1.5,\"ok\":true}",
                  utc_ms(2024, 1, 2, 3, 4, 5, 678));
    rt_lines_addf(&want, "{\"id\":2,\"name\":\"be\\\"ta\",\"ts\":1700000000000,\"score\":-2,\"ok\":false}");
    rt_lines_addf(&want, "{\"id\":3,\"name\":null,\"ts\":%" PRId64 ",\"score\":0.25,\"ok\":true}",
                  utc_ms(2024, 2, 29, 11, 0, 0, 0));
    rt_lines_addf(&want, "{\"id\":4,\"name\":null,\"ts\":%" PRId64 ",\"score\":null,\"ok\":false}",
                  utc_ms(1999, 12, 31, 23, 59, 59, 0));
    rt_lines_expect(&got, &want, "jsonl copy");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(job);
    free(with);
    free(in);
    free(out);
}
END_TEST

START_TEST(file_source_csv_to_csv_is_exact)
{
    char *in = tmp_path("in.csv"), *out = tmp_path("out");
    /* columns in another order than the schema, an extra one, quoting, a null, ISO and ms times */
    write_file(in, "name,unused,id,ts,score\n"
                   "\"Smith, J\",x,10,2024-01-02T00:00:00Z,3.5\n"
                   "plain,y,11,1700000000123,\n"
                   "\"say \"\"hi\"\"\",z,12,2024-01-02T00:00:00.250+00:00,1e3\n");
    char *with = fmt("{ path: \"%s\", format: csv, schema: { id: int64, name: string, ts: timestamp, score: double } }", in);
    char *job = copy_job(with, out, "csv");
    run_text_ok(job);
    struct rt_lines want = {0}, got = read_part(out, 0, "csv");
    rt_lines_addf(&want, "id,name,ts,score");
    rt_lines_addf(&want, "10,\"Smith, J\",%" PRId64 ",3.5", utc_ms(2024, 1, 2, 0, 0, 0, 0));
    rt_lines_addf(&want, "11,plain,1700000000123,");
    rt_lines_addf(&want, "12,\"say \"\"hi\"\"\",%" PRId64 ",1000", utc_ms(2024, 1, 2, 0, 0, 0, 250));
    rt_lines_expect(&got, &want, "csv copy");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(job);
    free(with);
    free(in);
    free(out);
}
END_TEST

START_TEST(file_source_reads_every_file_of_a_directory)
{
    char *dir = tmp_path("in"), *out1 = tmp_path("out1"), *out2 = tmp_path("out2");
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    /* written out of name order: the directory is read sorted */
    const char *names[] = {"c.jsonl", "a.jsonl", "b.jsonl"};
    int first[] = {6, 1, 4}, count[] = {4, 3, 2};
    for (int f = 0; f < 3; f++) {
        char *p = fmt("%s/%s", dir, names[f]);
        char text[512] = "";
        for (int k = 0; k < count[f]; k++) {
            size_t l = strlen(text);
            snprintf(text + l, sizeof text - l, "{\"id\": %d, \"file\": \"%s\"}\n", first[f] + k, names[f]);
        }
        write_file(p, text);
        free(p);
    }
    struct rt_lines want = {0};
    const char *file_of[] = {NULL, "a", "a", "a", "b", "b", "c", "c", "c", "c"};
    for (int id = 1; id <= 9; id++) rt_lines_addf(&want, "{\"id\":%d,\"file\":\"%s.jsonl\"}", id, file_of[id]);

    /* parallelism 1: files in sorted order, rows in file order */
    char *with = fmt("{ path: \"%s\", format: jsonl, schema: { id: int64, file: string } }", dir);
    char *job1 = copy_job(with, out1, "jsonl");
    run_text_ok(job1);
    struct rt_lines got1 = read_part(out1, 0, "jsonl");
    rt_lines_expect(&got1, &want, "directory at parallelism 1");

    /* parallelism 2: the files are split over the subtasks (file i to subtask i mod 2) */
    char *job2_body = copy_job(with, out2, "jsonl");
    char *job2 = fmt("parallelism: 2\n%s", job2_body);
    run_text_ok(job2);
    struct rt_lines p0 = read_part(out2, 0, "jsonl"), p1 = read_part(out2, 1, "jsonl");
    ck_assert_uint_eq(p0.n, 3 + 4);   /* a.jsonl and c.jsonl */
    ck_assert_uint_eq(p1.n, 2);       /* b.jsonl */
    struct rt_lines got2 = {0};
    rt_lines_append(&got2, &p0);
    rt_lines_append(&got2, &p1);
    rt_lines_expect_sorted(&got2, &want, "directory at parallelism 2");
    rt_lines_free(&p0);
    rt_lines_free(&p1);
    rt_lines_free(&got1);
    rt_lines_free(&got2);
    rt_lines_free(&want);
    free(job1);
    free(job2_body);
    free(job2);
    free(with);
    free(dir);
    free(out1);
    free(out2);
}
END_TEST

START_TEST(file_source_reads_the_files_a_glob_matches)
{
    char *dir = tmp_path("g"), *out = tmp_path("out");
    ck_assert_int_eq(mkdir(dir, 0777), 0);
    char *x2 = fmt("%s/x2.csv", dir), *x1 = fmt("%s/x1.csv", dir), *note = fmt("%s/notes.txt", dir),
         *y = fmt("%s/y1.csv", dir);
    write_file(x2, "v,when\n3,2020-01-01T00:00:01Z\n4,5\n");
    write_file(x1, "when,v\n1970-01-01T00:00:00.007Z,1\n2000-03-01T10:20:30.400-02:00,2\n");
    write_file(note, "this is not csv at all\n\"unterminated\n");
    write_file(y, "v,when\nbad,bad\n");   /* not matched by x*.csv */
    char *with = fmt("{ path: \"%s/x*.csv\", format: csv, schema: { v: int64, when: timestamp } }", dir);
    char *job = copy_job(with, out, "jsonl");
    run_text_ok(job);
    struct rt_lines want = {0}, got = read_part(out, 0, "jsonl");
    rt_lines_addf(&want, "{\"v\":1,\"when\":7}");
    rt_lines_addf(&want, "{\"v\":2,\"when\":%" PRId64 "}", utc_ms(2000, 3, 1, 12, 20, 30, 400));
    rt_lines_addf(&want, "{\"v\":3,\"when\":%" PRId64 "}", utc_ms(2020, 1, 1, 0, 0, 1, 0));
    rt_lines_addf(&want, "{\"v\":4,\"when\":5}");
    rt_lines_expect(&got, &want, "glob x*.csv");
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(job);
    free(with);
    free(x1);
    free(x2);
    free(note);
    free(y);
    free(dir);
    free(out);
}
END_TEST

static const char *malformed_text = "{\"id\": 1, \"name\": \"one\"}\n"
                                    "{\"id\": 2, \"name\": \"two\"}\n"
                                    "{\"id\": \"three\", \"name\": \"three\"}\n"
                                    "{\"id\": 4, \"name\": \"four\"}\n"
                                    "{\"id\": 5, \"name\": \"five\"\n"
                                    "{\"id\": 6, \"name\": \"six\"}\n";

START_TEST(file_source_malformed_line_fails_the_job_with_file_and_line)
{
    char *in = tmp_path("bad.jsonl"), *out = tmp_path("out");
    write_file(in, malformed_text);
    char *with = fmt("{ path: \"%s\", format: jsonl, schema: { id: int64, name: string } }", in);
    char *text = copy_job(with, out, "jsonl");
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct run res = run_job(job);
    ck_assert_int_eq(res.state, RN_RUN_FAILED);
    expect_contains(res.error, "operator 'src'");
    expect_contains(res.error, "subtask");
    char *where = fmt("%s:3", in);   /* the file and the line number */
    expect_contains(res.error, where);
    expect_contains(res.error, "id");
    run_free(&res);
    free(where);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(with);
    free(in);
    free(out);
}
END_TEST

START_TEST(file_source_on_error_skip_keeps_the_good_rows)
{
    char *in = tmp_path("bad.jsonl"), *out = tmp_path("out");
    write_file(in, malformed_text);
    char *with = fmt("{ path: \"%s\", format: jsonl, on_error: skip, schema: { id: int64, name: string } }", in);
    char *text = copy_job(with, out, "jsonl");
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct run res = run_job(job);
    ck_assert_msg(res.state == RN_RUN_FINISHED, "state %d: %s", res.state, res.error);
    expect_contains(res.log, "skipped 2");   /* counted and reported at the end */
    struct rt_lines want = {0}, got = read_part(out, 0, "jsonl");
    rt_lines_addf(&want, "{\"id\":1,\"name\":\"one\"}");
    rt_lines_addf(&want, "{\"id\":2,\"name\":\"two\"}");
    rt_lines_addf(&want, "{\"id\":4,\"name\":\"four\"}");
    rt_lines_addf(&want, "{\"id\":6,\"name\":\"six\"}");
    rt_lines_expect(&got, &want, "on_error: skip");
    ck_assert_uint_eq(res.out[rn_job_find(job, "src")], 4);
    ck_assert_uint_eq(res.skipped_lines[rn_job_find(job, "src")], 2);   /* the operator's counter */
    rt_lines_free(&got);
    rt_lines_free(&want);
    run_free(&res);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(with);
    free(in);
    free(out);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* partitioning                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* The subtask that owns each key 0 .. n-1 of an int64 key column, computed with the hash API. */
static void key_owners(uint32_t n, uint32_t max_parallelism, uint32_t parallelism, uint32_t *owner)
{
    rn_schema *s = tu_schema("k:int64");
    struct rn_batch *b = rn_batch_new(s, n);
    ck_assert(b);
    for (uint32_t i = 0; i < n; i++) ((int64_t *)b->cols[0].values)[i] = i;
    b->n_rows = n;
    uint64_t *h = calloc(n, sizeof *h);
    ck_assert(h);
    rn_hash_column(&b->cols[0], n, h, 0);
    for (uint32_t i = 0; i < n; i++)
        owner[i] = rn_key_group_subtask(rn_key_group(h[i], max_parallelism), max_parallelism, parallelism);
    free(h);
    rn_batch_unref(b);
    rn_schema_unref(s);
}

START_TEST(union_key_by_puts_each_key_in_the_subtask_of_its_key_group)
{
    enum { KEYS = 60, A_ROWS = 3000, B_ROWS = 2000, P = 2 };
    char *out = tmp_path("out");
    char *job = fmt("name: keyed\n"
                    "parallelism: %d\n"
                    "operators:\n"
                    "  - id: a\n"
                    "    type: datagen\n"
                    "    with: { rows: %d, fields: { k: \"seq %% 40\", v: seq, src: \"'a'\" } }\n"
                    "  - id: b\n"
                    "    type: datagen\n"
                    "    with: { rows: %d, fields: { k: \"seq %% 40 + 20\", v: \"seq + 100000\", src: \"'b'\" } }\n"
                    "  - id: both\n"
                    "    type: union\n"
                    "    input: [a, b]\n"
                    "  - id: out\n"
                    "    type: file_sink\n"
                    "    input: both\n"
                    "    key_by: k\n"
                    "    with: { path: \"%s\" }\n",
                    P, A_ROWS, B_ROWS, out);
    run_text_ok(job);
    uint32_t owner[KEYS];
    key_owners(KEYS, 128, P, owner);
    bool seen_in[KEYS][P];
    memset(seen_in, 0, sizeof seen_in);
    struct rt_lines all = {0}, want = {0};
    for (uint32_t part = 0; part < P; part++) {
        struct rt_lines l = read_part(out, part, "jsonl");
        ck_assert_uint_gt(l.n, 0);
        for (size_t i = 0; i < l.n; i++) {
            long long k = -1;
            CHECK_MSG(sscanf(l.v[i], "{\"k\":%lld,", &k) == 1 && k >= 0 && k < KEYS, "bad line \"%s\"", l.v[i]);
            CHECK_MSG(owner[k] == part, "key %lld is in part %u, its key group belongs to subtask %u", k, part, owner[k]);
            seen_in[k][part] = true;
        }
        rt_lines_append(&all, &l);
        rt_lines_free(&l);
    }
    for (int k = 0; k < KEYS; k++) CHECK_MSG(seen_in[k][0] != seen_in[k][1], "key %d is in both parts or neither", k);
    for (int64_t s = 0; s < A_ROWS; s++) rt_lines_addf(&want, "{\"k\":%" PRId64 ",\"v\":%" PRId64 ",\"src\":\"a\"}", s % 40, s);
    for (int64_t s = 0; s < B_ROWS; s++)
        rt_lines_addf(&want, "{\"k\":%" PRId64 ",\"v\":%" PRId64 ",\"src\":\"b\"}", s % 40 + 20, s + 100000);
    rt_lines_expect_sorted(&all, &want, "union + key_by");
    rt_lines_free(&all);
    rt_lines_free(&want);
    free(job);
    free(out);
}
END_TEST

START_TEST(filter_rejected_output_is_a_stream_other_operators_read)
{
    enum { ROWS = 5000, P = 2 };
    char *kept = tmp_path("kept"), *rejected = tmp_path("rejected");
    char *job = fmt("name: split\n"
                    "parallelism: %d\n"
                    "operators:\n"
                    "  - id: gen\n"
                    "    type: datagen\n"
                    "    with: { rows: %d, fields: { v: seq } }\n"
                    "  - id: thirds\n"
                    "    type: filter\n"
                    "    input: gen\n"
                    "    with: { where: \"v %% 3 = 0\", rejected_output: others }\n"
                    "  - id: out\n"
                    "    type: file_sink\n"
                    "    input: thirds\n"
                    "    with: { path: \"%s\" }\n"
                    "  - id: rest\n"
                    "    type: file_sink\n"
                    "    input: others\n"
                    "    parallelism: 1\n"
                    "    with: { path: \"%s\" }\n",
                    P, ROWS, kept, rejected);
    run_text_ok(job);
    struct rt_lines got_kept = read_parts(kept, P, "jsonl"), got_rej = read_parts(rejected, 1, "jsonl");
    struct rt_lines want_kept = {0}, want_rej = {0};
    for (int64_t v = 0; v < ROWS; v++) rt_lines_addf(v % 3 == 0 ? &want_kept : &want_rej, "{\"v\":%" PRId64 "}", v);
    rt_lines_expect_sorted(&got_kept, &want_kept, "rows where the condition holds");
    rt_lines_expect_sorted(&got_rej, &want_rej, "rows of the side output");
    rt_lines_free(&got_kept);
    rt_lines_free(&got_rej);
    rt_lines_free(&want_kept);
    rt_lines_free(&want_rej);
    free(job);
    free(kept);
    free(rejected);
}
END_TEST

START_TEST(key_by_map_keys_each_input_by_its_own_expression)
{
    enum { KEYS = 40, ROWS = 2000, P = 2 };
    char *out = tmp_path("out");
    /* the same key values come from column k of a and from m - 1000 of b */
    char *job = fmt("name: keyed\n"
                    "parallelism: %d\n"
                    "operators:\n"
                    "  - id: a\n"
                    "    type: datagen\n"
                    "    with: { rows: %d, fields: { k: \"seq %% 40\", src: \"'a'\" } }\n"
                    "  - id: b\n"
                    "    type: datagen\n"
                    "    with: { rows: %d, fields: { k: \"seq %% 40 + 1000\", src: \"'b'\" } }\n"
                    "  - id: both\n"
                    "    type: union\n"
                    "    input: [a, b]\n"
                    "    key_by: { a: k, b: \"k - 1000\" }\n"
                    "  - id: out\n"
                    "    type: file_sink\n"
                    "    input: both\n"
                    "    with: { path: \"%s\" }\n",
                    P, ROWS, ROWS, out);
    run_text_ok(job);
    uint32_t owner[KEYS];
    key_owners(KEYS, 128, P, owner);
    size_t total = 0;
    for (uint32_t part = 0; part < P; part++) {
        struct rt_lines l = read_part(out, part, "jsonl");
        for (size_t i = 0; i < l.n; i++) {
            long long k = -1;
            CHECK_MSG(sscanf(l.v[i], "{\"k\":%lld,", &k) == 1, "bad line \"%s\"", l.v[i]);
            if (k >= 1000) k -= 1000;
            CHECK_MSG(k >= 0 && k < KEYS && owner[k] == part, "key %lld is in part %u, its key group belongs to subtask %u",
                      k, part, k >= 0 && k < KEYS ? owner[k] : 0);
        }
        total += l.n;
        rt_lines_free(&l);
    }
    ck_assert_uint_eq(total, 2 * ROWS);
    free(job);
    free(out);
}
END_TEST

static struct rt_lines seq_lines(int64_t rows)
{
    struct rt_lines want = {0};
    for (int64_t s = 0; s < rows; s++) rt_lines_addf(&want, "{\"seq\":%" PRId64 "}", s);
    return want;
}

static char *one_to_two_job(const char *out, const char *partition, int rows)
{
    return fmt("name: spread\n"
               "operators:\n"
               "  - id: gen\n"
               "    type: datagen\n"
               "    with: { rows: %d, fields: { seq: seq } }\n"
               "  - id: out\n"
               "    type: file_sink\n"
               "    input: gen\n"
               "    parallelism: 2\n"
               "    partition: %s\n"
               "    with: { path: \"%s\" }\n",
               rows, partition, out);
}

START_TEST(rebalance_spreads_rows_over_every_subtask)
{
    enum { ROWS = 40000 };   /* about ten batches */
    char *out = tmp_path("out");
    char *job = one_to_two_job(out, "rebalance", ROWS);
    run_text_ok(job);
    struct rt_lines p0 = read_part(out, 0, "jsonl"), p1 = read_part(out, 1, "jsonl"), all = {0};
    ck_assert_uint_gt(p0.n, 0);
    ck_assert_uint_gt(p1.n, 0);
    rt_lines_append(&all, &p0);
    rt_lines_append(&all, &p1);
    struct rt_lines want = seq_lines(ROWS);
    rt_lines_expect_sorted(&all, &want, "rebalance");
    rt_lines_free(&p0);
    rt_lines_free(&p1);
    rt_lines_free(&all);
    rt_lines_free(&want);
    free(job);
    free(out);
}
END_TEST

START_TEST(broadcast_gives_every_subtask_every_row)
{
    enum { ROWS = 10000 };
    char *out = tmp_path("out");
    char *job = one_to_two_job(out, "broadcast", ROWS);
    run_text_ok(job);
    struct rt_lines want = seq_lines(ROWS);
    for (uint32_t part = 0; part < 2; part++) {
        /* one producer, one channel to each consumer: its order is kept */
        struct rt_lines l = read_part(out, part, "jsonl");
        rt_lines_expect(&l, &want, part ? "broadcast, subtask 1" : "broadcast, subtask 0");
        rt_lines_free(&l);
    }
    rt_lines_free(&want);
    free(job);
    free(out);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* execution graph: chaining and channels                                                     */
/* ------------------------------------------------------------------------------------------ */

static void expect_graph(const char *text, uint32_t tasks, uint32_t channels)
{
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct rn_error err;
    rn_runner *r = rn_runner_create(job, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_msg(rn_runner_n_tasks(r) == tasks && rn_runner_n_channels(r) == channels,
                  "%u tasks and %u channels, expected %u and %u, for:\n%s", rn_runner_n_tasks(r), rn_runner_n_channels(r),
                  tasks, channels, text);
    rn_runner_destroy(r);
    /* and the graph runs */
    struct run res = run_job(job);
    ck_assert_msg(res.state == RN_RUN_FINISHED, "%s", res.error);
    run_free(&res);
    rn_job_free(job);
    rn_registry_destroy(reg);
}

static const char *linear_fmt = "parallelism: %d\n"
                                "operators:\n"
                                "  - { id: gen, type: datagen, with: { rows: 1000, fields: { seq: seq } } }\n"
                                "  - { id: f, type: filter, input: gen, with: { where: \"seq > 10\" } }\n"
                                "  - { id: s, type: select, input: f, with: { columns: { x: \"seq * 2\" } } }\n"
                                "  - { id: out, type: blackhole, input: s, with: { quiet: true } }\n";

START_TEST(linear_job_at_parallelism_1_is_one_task_without_channels)
{
    char *t = fmt(linear_fmt, 1);
    expect_graph(t, 1, 0);
    free(t);
}
END_TEST

START_TEST(linear_job_at_parallelism_2_is_two_chained_tasks)
{
    char *t = fmt(linear_fmt, 2);
    expect_graph(t, 2, 0);
    free(t);
}
END_TEST

START_TEST(key_by_makes_p_times_p_channels)
{
    for (int p = 2; p <= 3; p++) {
        char *t = fmt("parallelism: %d\n"
                      "operators:\n"
                      "  - { id: gen, type: datagen, with: { rows: 1000, fields: { k: \"seq %% 10\" } } }\n"
                      "  - { id: f, type: filter, input: gen, with: { where: \"k > 2\" } }\n"
                      "  - { id: out, type: blackhole, input: f, key_by: k, with: { quiet: true } }\n",
                      p);
        expect_graph(t, (uint32_t)(2 * p), (uint32_t)(p * p));
        free(t);
    }
}
END_TEST

START_TEST(parallelism_change_breaks_the_chain)
{
    /* gen and f chain (1 task), s at parallelism 3 gets 1 x 3 channels and chains with out */
    expect_graph("operators:\n"
                 "  - { id: gen, type: datagen, with: { rows: 1000, fields: { seq: seq } } }\n"
                 "  - { id: f, type: filter, input: gen, with: { where: \"seq > 10\" } }\n"
                 "  - { id: s, type: select, input: f, parallelism: 3, with: { columns: { x: seq } } }\n"
                 "  - { id: out, type: blackhole, input: s, parallelism: 3, with: { quiet: true } }\n",
                 1 + 3, 3);
}
END_TEST

START_TEST(fan_out_and_union_use_channels)
{
    /* gen feeds two consumers: neither chains with it; the union has two inputs */
    expect_graph("operators:\n"
                 "  - { id: gen, type: datagen, with: { rows: 1000, fields: { seq: seq } } }\n"
                 "  - { id: lo, type: filter, input: gen, with: { where: \"seq < 10\" } }\n"
                 "  - { id: hi, type: filter, input: gen, with: { where: \"seq > 990\" } }\n"
                 "  - { id: u, type: union, input: [lo, hi] }\n"
                 "  - { id: out, type: blackhole, input: u, with: { quiet: true } }\n",
                 4, 4);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* node statistics                                                                            */
/* ------------------------------------------------------------------------------------------ */

static void expect_stats(const struct run *res, const struct rn_job *job, const char *id, uint64_t in, uint64_t out)
{
    int i = rn_job_find(job, id);
    ck_assert_int_ge(i, 0);
    ck_assert_msg(res->in[i] == in && res->out[i] == out, "node %s: rows in %" PRIu64 ", out %" PRIu64
                  ", expected %" PRIu64 " and %" PRIu64, id, res->in[i], res->out[i], in, out);
}

START_TEST(node_stats_count_rows_in_and_out)
{
    for (int p = 1; p <= 2; p++) {
        char *text = fmt("parallelism: %d\n"
                         "operators:\n"
                         "  - { id: gen, type: datagen, with: { rows: 10000, fields: { seq: seq } } }\n"
                         "  - { id: quarter, type: filter, input: gen, with: { where: \"seq %% 4 = 0\" } }\n"
                         "  - { id: s, type: select, input: quarter, with: { columns: { x: \"seq + 1\" } } }\n"
                         "  - { id: out, type: blackhole, input: s, key_by: x, with: { quiet: true } }\n",
                         p);
        rn_registry *reg = registry();
        struct rn_job *job = rt_parse_ok(reg, text);
        struct run res = run_job(job);
        ck_assert_msg(res.state == RN_RUN_FINISHED, "%s", res.error);
        expect_stats(&res, job, "gen", 0, 10000);
        expect_stats(&res, job, "quarter", 10000, 2500);
        expect_stats(&res, job, "s", 2500, 2500);
        expect_stats(&res, job, "out", 2500, 0);
        run_free(&res);
        rn_job_free(job);
        rn_registry_destroy(reg);
        free(text);
    }
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* validation errors                                                                          */
/* ------------------------------------------------------------------------------------------ */

/* Parses text expecting failure; checks that one error sits at (line, column) and names word.
 * Returns nothing; prints every error on mismatch. node may be NULL (not checked). */
static void expect_invalid(const char *text, int line, int column, const char *node, const char *word)
{
    rn_registry *reg = registry();
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    int rc = rn_job_parse("bad.yaml", text, strlen(text), reg, &job, &errs);
    char *all = rt_errors_text(&errs);
    ck_assert_msg(rc != 0, "the job validated but should not:\n%s", text);
    ck_assert_ptr_null(job);
    ck_assert_msg(errs.n > 0, "no error reported");
    bool found = false;
    for (size_t i = 0; i < errs.n && !found; i++) {
        const struct rn_job_error *e = &errs.items[i];
        found = e->line == line && e->column == column && e->msg && strstr(e->msg, word) &&
                (!node || (e->node && !strcmp(e->node, node))) && e->file && !strcmp(e->file, "bad.yaml");
    }
    ck_assert_msg(found, "expected an error at %d:%d (operator %s) containing \"%s\"; got:\n%s", line, column,
                  node ? node : "-", word, all);
    free(all);
    rn_job_errors_free(&errs);
    rn_registry_destroy(reg);
}

/* Lines 1-3 of most jobs below. */
#define HEAD "name: bad\n" "operators:\n"

START_TEST(invalid_yaml_syntax_reports_position)
{
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "    with: { events: 10 ]\n",   /* line 5: ']' closes nothing */
                   5, 24, NULL, "YAML");
}
END_TEST

START_TEST(invalid_unknown_operator_type_suggests_closest)
{
    const char *t = HEAD
        "  - id: src\n"
        "    type: nexmrak\n"           /* line 4, value at column 11 */
        "    with: { events: 10 }\n"
        "  - id: out\n"
        "    type: blackhole\n"
        "    input: src\n";
    expect_invalid(t, 4, 11, "src", "unknown operator type 'nexmrak'");
    expect_invalid(t, 4, 11, "src", "did you mean 'nexmark'");
}
END_TEST

START_TEST(invalid_unknown_option_suggests_closest)
{
    const char *t = HEAD
        "  - id: src\n"
        "    type: nexmark\n"
        "    with: { evnts: 10 }\n"     /* line 5, key at column 13 */
        "  - id: out\n"
        "    type: blackhole\n"
        "    input: src\n";
    expect_invalid(t, 5, 13, "src", "unknown option 'evnts'");
    expect_invalid(t, 5, 13, "src", "did you mean 'events'");
}
END_TEST

START_TEST(invalid_missing_required_option_points_at_the_operator)
{
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "  - id: keep\n"             /* line 5: the operator's map starts at column 5 */
                   "    type: filter\n"
                   "    input: src\n"
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: keep\n",
                   5, 5, "keep", "where");
}
END_TEST

START_TEST(invalid_option_type_points_at_the_value)
{
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "    with: { events: abc }\n"  /* line 5, value at column 21 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: src\n",
                   5, 21, "src", "events");
}
END_TEST

START_TEST(invalid_duration_points_at_the_value)
{
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: datagen\n"
                   "    with: { rows: 10, fields: { ts: \"to_timestamp(seq)\" } }\n"
                   "    watermark: { column: ts, max_out_of_orderness: 4x }\n"   /* line 6, column 52 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: src\n",
                   6, 52, "src", "4x");
}
END_TEST

START_TEST(invalid_unknown_input_suggests_closest)
{
    const char *t = HEAD
        "  - id: src\n"
        "    type: nexmark\n"
        "  - id: out\n"
        "    type: blackhole\n"
        "    input: scr\n";             /* line 7, column 12 */
    expect_invalid(t, 7, 12, "out", "input 'scr'");
    expect_invalid(t, 7, 12, "out", "did you mean 'src'");
}
END_TEST

START_TEST(invalid_cycle_names_the_operators)
{
    const char *t = HEAD
        "  - id: src\n"
        "    type: nexmark\n"
        "  - id: a\n"                   /* line 5 */
        "    type: union\n"
        "    input: [src, b]\n"
        "  - id: b\n"                   /* line 8 */
        "    type: filter\n"
        "    input: a\n"
        "    with: { where: \"price > 1\" }\n"
        "  - id: out\n"
        "    type: blackhole\n"
        "    input: b\n";
    rn_registry *reg = registry();
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    ck_assert_int_ne(rn_job_parse("bad.yaml", t, strlen(t), reg, &job, &errs), 0);
    ck_assert_ptr_null(job);
    char *all = rt_errors_text(&errs);
    bool found = false;
    for (size_t i = 0; i < errs.n && !found; i++) {
        const struct rn_job_error *e = &errs.items[i];
        found = strstr(e->msg, "cycle") && (strstr(e->msg, "a -> b -> a") || strstr(e->msg, "b -> a -> b")) &&
                ((e->line == 5 && e->column == 5) || (e->line == 8 && e->column == 5));
    }
    ck_assert_msg(found, "expected a cycle a -> b -> a at 5:5 or 8:5; got:\n%s", all);
    free(all);
    rn_job_errors_free(&errs);
    rn_registry_destroy(reg);
}
END_TEST

START_TEST(invalid_filter_condition_not_bool)
{
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "  - id: keep\n"
                   "    type: filter\n"
                   "    input: src\n"
                   "    with: { where: \"price + 1\" }\n"   /* line 8, the scalar at column 20 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: keep\n",
                   8, 20, "keep", "bool");
}
END_TEST

START_TEST(invalid_unknown_column_points_inside_the_expression)
{
    /* the quoted scalar starts at column 20, its text at 21; "pryce" is at offset 17 */
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "  - id: keep\n"
                   "    type: filter\n"
                   "    input: src\n"
                   "    with: { where: \"auction > 10 AND pryce < 5\" }\n"
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: keep\n",
                   8, 38, "keep", "pryce");
    /* the same in a select column written as a plain scalar (column 17 + offset 6) */
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "  - id: s\n"
                   "    type: select\n"
                   "    input: src\n"
                   "    with:\n"
                   "      columns:\n"
                   "        x: price * bidr\n"     /* line 10: value at column 12, bidr at 20 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: s\n",
                   10, 20, "s", "bidr");
}
END_TEST

START_TEST(invalid_duplicate_id)
{
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "  - id: src\n"             /* line 5, the id value at column 9 */
                   "    type: nexmark\n"
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: src\n",
                   5, 9, "src", "twice");
}
END_TEST

START_TEST(invalid_side_output_id_used_by_an_operator)
{
    expect_invalid(HEAD
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "  - id: f\n"
                   "    type: filter\n"
                   "    input: src\n"
                   "    with: { where: \"price > 10\", rejected_output: src }\n"   /* line 8, value at 51 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: f\n",
                   8, 51, "f", "already the id of an operator");
}
END_TEST

START_TEST(invalid_key_by_map_without_an_input)
{
    expect_invalid(HEAD
                   "  - id: a\n"
                   "    type: nexmark\n"
                   "  - id: b\n"
                   "    type: nexmark\n"
                   "  - id: u\n"
                   "    type: union\n"
                   "    input: [a, b]\n"
                   "    key_by: { a: auction }\n"      /* line 10, the map at column 13 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: u\n",
                   10, 13, "u", "no expression for input 'b'");
}
END_TEST

START_TEST(invalid_key_by_map_naming_another_operator)
{
    expect_invalid(HEAD
                   "  - id: a\n"
                   "    type: nexmark\n"
                   "  - id: b\n"
                   "    type: nexmark\n"
                   "  - id: u\n"
                   "    type: union\n"
                   "    input: [a, b]\n"
                   "    key_by: { a: auction, b: auction, c: bidder }\n"   /* line 10, key c at column 39 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: u\n",
                   10, 39, "u", "not an input");
}
END_TEST

START_TEST(invalid_key_by_map_with_keys_of_two_types)
{
    expect_invalid(HEAD
                   "  - id: a\n"
                   "    type: nexmark\n"
                   "  - id: b\n"
                   "    type: nexmark\n"
                   "  - id: u\n"
                   "    type: union\n"
                   "    input: [a, b]\n"
                   "    key_by: { a: auction, b: url }\n"   /* line 10, b's expression at column 30 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: u\n",
                   10, 30, "u", "one type");
}
END_TEST

START_TEST(invalid_source_with_an_input)
{
    expect_invalid(HEAD
                   "  - id: a\n"
                   "    type: nexmark\n"
                   "  - id: b\n"
                   "    type: nexmark\n"
                   "    input: a\n"             /* line 7, column 12 */
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: b\n",
                   7, 12, "b", "source");
}
END_TEST

START_TEST(invalid_sink_used_as_an_input)
{
    const char *t = HEAD
        "  - id: src\n"
        "    type: nexmark\n"
        "  - id: sink\n"
        "    type: blackhole\n"
        "    input: src\n"
        "  - id: after\n"               /* line 8, column 5 */
        "    type: filter\n"
        "    input: sink\n"             /* line 10, column 12 */
        "    with: { where: \"price > 1\" }\n";
    rn_registry *reg = registry();
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    ck_assert_int_ne(rn_job_parse("bad.yaml", t, strlen(t), reg, &job, &errs), 0);
    ck_assert_ptr_null(job);
    char *all = rt_errors_text(&errs);
    bool found = false;
    for (size_t i = 0; i < errs.n && !found; i++) {
        const struct rn_job_error *e = &errs.items[i];
        found = strstr(e->msg, "sink") && e->node && !strcmp(e->node, "after") &&
                ((e->line == 8 && e->column == 5) || (e->line == 10 && e->column == 12));
    }
    ck_assert_msg(found, "expected \"sink\" for operator 'after' at 8:5 or 10:12; got:\n%s", all);
    free(all);
    rn_job_errors_free(&errs);
    rn_registry_destroy(reg);
}
END_TEST

START_TEST(invalid_checkpoint_mode_is_refused_at_its_position)
{
    expect_invalid("name: bad\n"
                   "checkpoint: { interval: 10s, mode: twice }\n"   /* line 2, 'twice' at column 36 */
                   "operators:\n"
                   "  - id: src\n"
                   "    type: nexmark\n"
                   "  - id: out\n"
                   "    type: blackhole\n"
                   "    input: src\n",
                   2, 36, NULL, "exactly_once or at_least_once");
}
END_TEST

START_TEST(invalid_job_reports_every_error)
{
    /* errors are collected, not only the first */
    const char *t = HEAD
        "  - id: src\n"
        "    type: nexmark\n"
        "    with: { evnts: 10 }\n"
        "  - id: keep\n"
        "    type: fliter\n"
        "    input: src\n"
        "  - id: out\n"
        "    type: blackhole\n"
        "    input: nowhere\n";
    rn_registry *reg = registry();
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    ck_assert_int_ne(rn_job_parse("bad.yaml", t, strlen(t), reg, &job, &errs), 0);
    char *all = rt_errors_text(&errs);
    ck_assert_msg(errs.n >= 3, "expected at least 3 errors, got:\n%s", all);
    expect_contains(all, "bad.yaml:5:13: operator 'src':");
    expect_contains(all, "bad.yaml:7:11: operator 'keep':");
    expect_contains(all, "bad.yaml:11:12: operator 'out':");
    free(all);
    rn_job_errors_free(&errs);
    rn_registry_destroy(reg);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* job graph pack / unpack                                                                    */
/* ------------------------------------------------------------------------------------------ */

static bool values_equal(const rn_value *a, const rn_value *b, char *why, size_t why_len)
{
    if (rn_value_kind(a) != rn_value_kind(b))
        return snprintf(why, why_len, "kinds %d and %d", rn_value_kind(a), rn_value_kind(b)), false;
    if (rn_value_kind(a) == RN_VALUE_SCALAR) {
        if (strcmp(rn_value_text(a), rn_value_text(b)))
            return snprintf(why, why_len, "'%s' vs '%s'", rn_value_text(a), rn_value_text(b)), false;
        return true;
    }
    if (rn_value_len(a) != rn_value_len(b))
        return snprintf(why, why_len, "lengths %zu and %zu", rn_value_len(a), rn_value_len(b)), false;
    for (size_t i = 0; i < rn_value_len(a); i++) {
        if (rn_value_kind(a) == RN_VALUE_MAP && strcmp(rn_value_key(a, i), rn_value_key(b, i)))
            return snprintf(why, why_len, "keys '%s' and '%s'", rn_value_key(a, i), rn_value_key(b, i)), false;
        if (!values_equal(rn_value_at(a, i), rn_value_at(b, i), why, why_len)) return false;
    }
    return true;
}

START_TEST(pack_then_unpack_gives_the_same_job)
{
    char *text = fmt("name: packed\n"
                     "parallelism: 2\n"
                     "max_parallelism: 64\n"
                     "operators:\n"
                     "  - id: gen\n"
                     "    type: datagen\n"
                     "    with:\n"
                     "      rows: 100\n"
                     "      fields: { ts: \"to_timestamp(seq * 10)\", k: \"seq %% 3\", name: { type: string, kind: random, "
                     "values: [x, y] } }\n"
                     "    watermark: { column: ts, max_out_of_orderness: 2s }\n"
                     "  - id: bids\n"
                     "    type: nexmark\n"
                     "    parallelism: 1\n"
                     "    with: { events: 100 }\n"
                     "  - id: f\n"
                     "    type: filter\n"
                     "    input: gen\n"
                     "    partition: rebalance\n"
                     "    with: { where: \"k <> 1\" }\n"
                     "  - id: s\n"
                     "    type: select\n"
                     "    input: f\n"
                     "    key_by: \"k + 1\"\n"
                     "    with: { columns: { k: k, ts: ts } }\n"
                     "  - id: b\n"
                     "    type: select\n"
                     "    input: bids\n"
                     "    partition: broadcast\n"
                     "    with: { columns: { k: auction, ts: date_time } }\n"
                     "  - id: u\n"
                     "    type: union\n"
                     "    input: [s, b]\n"
                     "  - id: out\n"
                     "    type: print\n"
                     "    input: u\n"
                     "    with: { prefix: \">> \" }\n");
    rn_registry *reg = registry();
    struct rn_job *a = rt_parse_ok(reg, text), *b = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(rn_job_pack(a, &buf, &len), 0);
    ck_assert_uint_gt(len, 0);
    struct rn_job_errors errs = {0};
    int rc = rn_job_unpack(buf, len, reg, &b, &errs);
    char *e = rt_errors_text(&errs);
    ck_assert_msg(rc == 0 && b, "unpack failed: %s\n%s", rn_strerror(rc), e);
    free(e);
    ck_assert_str_eq(b->name, a->name);
    ck_assert_uint_eq(b->parallelism, a->parallelism);
    ck_assert_uint_eq(b->max_parallelism, 64);
    ck_assert_uint_eq(b->n_nodes, a->n_nodes);
    for (uint32_t i = 0; i < a->n_nodes; i++) {
        const struct rn_job_node *x = &a->nodes[i], *y = &b->nodes[i];
        char why[256] = "";
        ck_assert_str_eq(y->id, x->id);
        ck_assert_ptr_eq(y->def, x->def);
        ck_assert_uint_eq(y->parallelism, x->parallelism);
        ck_assert_uint_eq(y->n_inputs, x->n_inputs);
        for (uint32_t k = 0; k < x->n_inputs; k++) ck_assert_str_eq(b->nodes[y->inputs[k]].id, a->nodes[x->inputs[k]].id);
        ck_assert_msg((x->key_by == NULL) == (y->key_by == NULL), "node %s: key_by", x->id);
        if (x->key_by) ck_assert_str_eq(y->key_by, x->key_by);
        ck_assert_int_eq(y->partition, x->partition);
        ck_assert_msg((x->watermark == NULL) == (y->watermark == NULL), "node %s: watermark", x->id);
        if (x->watermark) {
            ck_assert_str_eq(y->watermark->column, x->watermark->column);
            ck_assert_int_eq(y->watermark->max_out_of_orderness, x->watermark->max_out_of_orderness);
            ck_assert_int_eq(y->watermark->idle_timeout, x->watermark->idle_timeout);
        }
        ck_assert_msg(values_equal(x->options, y->options, why, sizeof why), "node %s: options differ: %s", x->id, why);
        ck_assert_msg((x->output == NULL) == (y->output == NULL), "node %s: output", x->id);
        if (x->output) ck_assert_msg(rn_schema_equal(x->output, y->output), "node %s: output schemas differ", x->id);
    }
    /* the facts the test relies on are really in the job */
    ck_assert_int_eq(a->nodes[rn_job_find(a, "f")].partition, RN_PART_REBALANCE);
    ck_assert_int_eq(a->nodes[rn_job_find(a, "b")].partition, RN_PART_BROADCAST);
    ck_assert_int_eq(a->nodes[rn_job_find(a, "s")].partition, RN_PART_HASH);
    ck_assert_int_eq(a->nodes[rn_job_find(a, "gen")].watermark->max_out_of_orderness, 2000);
    rn_job_errors_free(&errs);
    rn_job_free(b);
    rn_job_free(a);
    free(buf);
    rn_registry_destroy(reg);
    free(text);
}
END_TEST

START_TEST(pack_then_unpack_keeps_side_outputs_and_key_by_maps)
{
    const char *text = "name: sides\n"
                       "operators:\n"
                       "  - id: a\n"
                       "    type: nexmark\n"
                       "  - id: f\n"
                       "    type: filter\n"
                       "    input: a\n"
                       "    with: { where: \"price > 10\", rejected_output: cheap }\n"
                       "  - id: u\n"
                       "    type: union\n"
                       "    input: [f, cheap]\n"
                       "    key_by: { f: auction, cheap: \"bidder + 1\" }\n"
                       "  - id: out\n"
                       "    type: blackhole\n"
                       "    input: u\n";
    rn_registry *reg = registry();
    struct rn_job *a = rt_parse_ok(reg, text), *b = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(rn_job_pack(a, &buf, &len), 0);
    struct rn_job_errors errs = {0};
    int rc = rn_job_unpack(buf, len, reg, &b, &errs);
    char *e = rt_errors_text(&errs);
    ck_assert_msg(rc == 0 && b, "unpack failed: %s\n%s", rn_strerror(rc), e);
    free(e);
    const struct rn_job_node *fa = &a->nodes[rn_job_find(a, "f")], *fb = &b->nodes[rn_job_find(b, "f")];
    ck_assert_uint_eq(fb->n_side, 1);
    ck_assert_str_eq(fb->side[0].id, "cheap");
    ck_assert(fb->side[0].schema && rn_schema_equal(fb->side[0].schema, fa->side[0].schema));
    const struct rn_job_node *ub = &b->nodes[rn_job_find(b, "u")];
    ck_assert_ptr_null(ub->key_by);
    ck_assert_uint_eq(ub->n_inputs, 2);
    ck_assert_uint_eq(ub->input_ports[0], 0);
    ck_assert_uint_eq(ub->input_ports[1], 1);
    ck_assert_str_eq(ub->input_key_by[0], "auction");
    ck_assert_str_eq(ub->input_key_by[1], "bidder + 1");
    rn_job_errors_free(&errs);
    rn_job_free(b);
    rn_job_free(a);
    free(buf);
    rn_registry_destroy(reg);
}
END_TEST

START_TEST(unpack_of_garbage_fails_cleanly)
{
    rn_registry *reg = registry();
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    /* field 5, length-delimited, claiming 100 bytes of which 3 are there */
    static const uint8_t short_len[] = {0x2a, 0x64, 1, 2, 3};
    const uint8_t *const inputs[] = {junk, short_len};
    const size_t lens[] = {sizeof junk, sizeof short_len};
    for (int i = 0; i < 2; i++) {
        struct rn_job_errors errs = {0};
        struct rn_job *job = (struct rn_job *)1;
        int rc = rn_job_unpack(inputs[i], lens[i], reg, &job, &errs);
        ck_assert_int_ne(rc, 0);
        ck_assert_ptr_null(job);
        ck_assert_uint_gt(errs.n, 0);
        ck_assert_ptr_nonnull(errs.items[0].msg);
        rn_job_errors_free(&errs);
    }
    rn_registry_destroy(reg);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* plugins                                                                                    */
/* ------------------------------------------------------------------------------------------ */

START_TEST(sample_plugin_loads_and_keeps_one_row_in_n)
{
    rn_registry *reg = registry();
    size_t before = rn_registry_len(reg);
    unsigned refused = 99;
    char *warn_buf = NULL;
    size_t warn_len = 0;
    FILE *warn = open_memstream(&warn_buf, &warn_len);
    ck_assert_int_eq(rn_registry_load_dir(reg, rt_env_dir("RUNNEL_SAMPLE_PLUGIN_DIR"), warn, &refused), 0);
    fclose(warn);
    ck_assert_msg(refused == 0, "refused %u: %s", refused, warn_buf);
    free(warn_buf);
    /* the example plugins: sample, and the keyed seqcheck */
    ck_assert_uint_eq(rn_registry_len(reg), before + 2);
    ck_assert_ptr_nonnull(rn_registry_find(reg, "seqcheck"));
    const struct rn_operator_def *d = rn_registry_find(reg, "sample");
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < rn_registry_len(reg); i++)
        if (rn_registry_at(reg, i) == d) expect_contains(rn_registry_origin(reg, i), "sample.so");

    char *out = tmp_path("out");
    char *text = fmt("operators:\n"
                     "  - { id: gen, type: datagen, with: { rows: 10000, fields: { seq: seq } } }\n"
                     "  - { id: one_in_7, type: sample, input: gen, with: { every: 7 } }\n"
                     "  - { id: out, type: file_sink, input: one_in_7, with: { path: \"%s\" } }\n",
                     out);
    struct rn_job *job = rt_parse_ok(reg, text);
    struct run res = run_job(job);
    ck_assert_msg(res.state == RN_RUN_FINISHED, "%s", res.error);
    struct rt_lines got = read_part(out, 0, "jsonl"), want = {0};
    for (int s = 0; s < 10000; s += 7) rt_lines_addf(&want, "{\"seq\":%d}", s);
    rt_lines_expect(&got, &want, "sample every 7");
    rt_lines_free(&got);
    rt_lines_free(&want);
    run_free(&res);
    rn_job_free(job);
    free(text);
    free(out);
    rn_registry_destroy(reg);
}
END_TEST

/* Loads dir/file expecting a refusal whose message holds every word of want (NULL-ended). */
static void expect_refused(const char *file, const char *const *want)
{
    rn_registry *reg = registry();
    size_t before = rn_registry_len(reg);
    char *path = fmt("%s/%s", rt_env_dir("RUNNEL_BAD_PLUGIN_DIR"), file);
    ck_assert_msg(access(path, R_OK) == 0, "%s is missing (is the test plugin built?)", path);
    struct rn_error err;
    rn_error_clear(&err);
    int rc = rn_registry_load_plugin(reg, path, &err);
    ck_assert_msg(rc != 0, "%s was accepted", file);
    for (const char *const *w = want; *w; w++)
        ck_assert_msg(strstr(err.msg, *w), "%s: refusal \"%s\" does not mention \"%s\"", file, err.msg, *w);
    ck_assert_uint_eq(rn_registry_len(reg), before);   /* nothing registered */
    free(path);
    rn_registry_destroy(reg);
}

START_TEST(plugin_of_another_abi_major_is_refused_with_both_versions)
{
    char host[32];
    snprintf(host, sizeof host, "%u.%u", RN_OPERATOR_ABI_MAJOR, RN_OPERATOR_ABI_MINOR);
    const char *want[] = {"ABI", "99.0", host, NULL};
    expect_refused("bad_abi.so", want);
}
END_TEST

START_TEST(plugin_with_another_struct_size_is_refused_with_both_sizes)
{
    char host[32], plugin[32];
    snprintf(host, sizeof host, "%zu", sizeof(struct rn_operator_def));
    snprintf(plugin, sizeof plugin, "%zu", sizeof(struct rn_operator_def) - 8);
    const char *want[] = {host, plugin, NULL};
    expect_refused("bad_size.so", want);
}
END_TEST

START_TEST(plugin_without_entry_point_is_refused)
{
    const char *want[] = {RN_PLUGIN_ENTRY, NULL};
    expect_refused("no_entry.so", want);
}
END_TEST

START_TEST(plugin_directory_of_bad_plugins_registers_nothing)
{
    rn_registry *reg = registry();
    size_t before = rn_registry_len(reg);
    unsigned refused = 0;
    char *buf = NULL;
    size_t len = 0;
    FILE *warn = open_memstream(&buf, &len);
    ck_assert_int_eq(rn_registry_load_dir(reg, rt_env_dir("RUNNEL_BAD_PLUGIN_DIR"), warn, &refused), 0);
    fclose(warn);
    ck_assert_uint_eq(refused, 3);
    expect_contains(buf, "bad_abi.so");
    expect_contains(buf, "bad_size.so");
    expect_contains(buf, "no_entry.so");
    ck_assert_uint_eq(rn_registry_len(reg), before);
    ck_assert_ptr_null(rn_registry_find(reg, "bad_abi"));
    ck_assert_ptr_null(rn_registry_find(reg, "bad_size"));
    free(buf);
    ck_assert_int_eq(rn_registry_load_dir(reg, "/nonexistent/runnel/plugins", NULL, &refused), RN_EIO);
    rn_registry_destroy(reg);
}
END_TEST

START_TEST(registry_refuses_a_name_registered_twice)
{
    rn_registry *reg = registry();
    struct rn_error err;
    size_t before = rn_registry_len(reg);
    ck_assert_int_ne(rn_registry_add(reg, &rn_op_filter, &err), 0);
    expect_contains(err.msg, "filter");
    ck_assert_uint_eq(rn_registry_len(reg), before);
    rn_registry_destroy(reg);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* failures, back-pressure, cancellation                                                      */
/* ------------------------------------------------------------------------------------------ */

static void expect_failure(const char *text, const char *op, const char *detail)
{
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct rn_error err;
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *log = open_memstream(&logbuf, &loglen);
    struct rn_run_options opts = {.log = log};
    rn_runner *r = rn_runner_create(job, &opts, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(rn_runner_start(r, &err), 0);
    /* every task ends on its own: the failure cancels the job, blocked producers wake up */
    bool ended = rn_runner_wait(r, 10000);
    if (!ended) rn_runner_cancel(r);
    ck_assert_msg(ended, "the job did not end within 10 s of a failure");
    const char *why = NULL;
    ck_assert_int_eq(rn_runner_state(r, &why), RN_RUN_FAILED);
    char *want_op = fmt("operator '%s'", op);
    expect_contains(why, want_op);
    expect_contains(why, "subtask");
    expect_contains(why, detail);
    free(want_op);
    rn_runner_destroy(r);
    fclose(log);
    free(logbuf);
    rn_job_free(job);
    rn_registry_destroy(reg);
}

START_TEST(operator_failure_fails_the_job_naming_operator_and_subtask)
{
    expect_failure("parallelism: 2\n"
                   "operators:\n"
                   "  - { id: gen, type: nexmark, with: { events: 0 } }\n"   /* unbounded */
                   "  - { id: boom, type: test_fail_after, input: gen, with: { after: 3 } }\n"
                   "  - { id: out, type: blackhole, input: boom, with: { quiet: true } }\n",
                   "boom", "injected failure after 3 batches");
}
END_TEST

START_TEST(operator_failure_behind_channels_ends_every_task)
{
    /* the failing operator sits behind key_by channels, with an unbounded source that blocks on
     * full channels: the failure must wake it */
    expect_failure("parallelism: 2\n"
                   "operators:\n"
                   "  - { id: gen, type: nexmark, with: { events: 0 } }\n"
                   "  - { id: boom, type: test_fail_after, input: gen, key_by: auction, with: { after: 5 } }\n"
                   "  - { id: out, type: test_slow_sink, input: boom, partition: rebalance, with: { sleep_ms: 1 } }\n",
                   "boom", "injected failure after 5 batches");
}
END_TEST

START_TEST(operator_open_failure_fails_the_job)
{
    char *file = tmp_path("a-file");
    write_file(file, "x");
    /* the sink's directory would be inside a regular file */
    char *text = fmt("operators:\n"
                     "  - { id: gen, type: datagen, with: { rows: 10, fields: { seq: seq } } }\n"
                     "  - { id: sink, type: file_sink, input: gen, with: { path: \"%s/sub\" } }\n",
                     file);
    expect_failure(text, "sink", "sub");
    free(text);
    free(file);
}
END_TEST

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = strtol(line + 6, NULL, 10);
    fclose(f);
    ck_assert_int_gt(kib, 0);
    return kib;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

START_TEST(back_pressure_keeps_memory_bounded)
{
    /* An unbounded Nexmark source (millions of bids per second) into a sink that needs ~2 ms
     * per 4096-row batch (~2 M rows/s at most, far less with scheduling): the source is faster.
     * The edge is a channel (partition: rebalance), bounded at 8 elements. Without back-pressure
     * the queue would grow by hundreds of MB per second (a bid batch is ~0.5 MB). With it, what
     * is in flight is a few channel slots plus one batch per thread: a few MB. The bound, 200
     * MiB, leaves room for allocator caches and pools yet is far below 2 s of unbounded
     * growth. Under ASan freed memory sits in the quarantine (256 MiB by default) before it is
     * reused, so the bound grows by that much there. */
    const long bound_kib = (200L + (UNDER_ASAN ? 256L : 0L)) * 1024L;
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, "operators:\n"
                                       "  - { id: bids, type: nexmark, with: { events: 0 } }\n"
                                       "  - { id: slow, type: test_slow_sink, input: bids, partition: rebalance, "
                                       "with: { sleep_ms: 2 } }\n");
    struct rn_error err;
    rn_runner *r = rn_runner_create(job, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(rn_runner_n_channels(r), 1);
    long before = rss_kib();
    ck_assert_int_eq(rn_runner_start(r, &err), 0);
    long peak = before;
    for (int i = 0; i < 20; i++) {   /* 2 s */
        ck_assert_msg(!rn_runner_wait(r, 100), "an unbounded job ended by itself");
        long now = rss_kib();
        if (now > peak) peak = now;
    }
    uint64_t in, out_rows;
    rn_runner_node_stats(r, (uint32_t)rn_job_find(job, "bids"), &in, &out_rows);
    uint64_t consumed = atomic_load(&g_slow_rows);
    ck_assert_uint_gt(consumed, 0);
    /* the source was held back: it is at most the channel's capacity (plus the batches in the
     * hands of the two threads) ahead of the sink */
    ck_assert_msg(out_rows <= consumed + (8 + 3) * (uint64_t)RN_BATCH_ROWS,
                  "the source produced %" PRIu64 " rows, the sink took %" PRIu64, out_rows, consumed);
    ck_assert_msg(peak - before < bound_kib, "RSS grew by %ld KiB (bound %ld KiB)", peak - before, bound_kib);
    double t0 = now_s();
    rn_runner_cancel(r);
    ck_assert_msg(rn_runner_wait(r, 5000), "the job did not stop within 5 s of cancel");
    ck_assert_msg(now_s() - t0 < 2.0, "cancel took %.2f s", now_s() - t0);
    ck_assert_int_eq(rn_runner_state(r, NULL), RN_RUN_CANCELLED);
    rn_runner_destroy(r);
    rn_job_free(job);
    rn_registry_destroy(reg);
}
END_TEST

/* Runs text for run_ms (it must still be running and have moved rows into node `busy`), then
 * cancels it: it must end within 5 s as CANCELLED, every thread joined. */
static void run_then_cancel(const char *text, int run_ms, const char *busy)
{
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct rn_error err;
    rn_runner *r = rn_runner_create(job, NULL, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(rn_runner_start(r, &err), 0);
    bool ended = rn_runner_wait(r, run_ms);
    const char *why = NULL;
    enum rn_run_state st = rn_runner_state(r, &why);
    ck_assert_msg(!ended && st == RN_RUN_RUNNING, "an unbounded job ended by itself (state %d: %s)", st,
                  why ? why : "");
    uint64_t in, out;
    rn_runner_node_stats(r, (uint32_t)rn_job_find(job, busy), &in, &out);
    ck_assert_uint_gt(in, 0);   /* it was really running */
    double t0 = now_s();
    rn_runner_cancel(r);
    ck_assert_msg(rn_runner_wait(r, 5000), "the job did not stop within 5 s of cancel");
    ck_assert_msg(now_s() - t0 < 2.0, "cancel took %.2f s", now_s() - t0);
    why = (const char *)1;
    ck_assert_int_eq(rn_runner_state(r, &why), RN_RUN_CANCELLED);
    ck_assert_ptr_null(why);
    rn_runner_cancel(r);   /* a second cancel after the end is harmless */
    rn_runner_destroy(r);  /* joins every thread; under ASan, the test's exit checks for leaks */
    rn_job_free(job);
    rn_registry_destroy(reg);
}

START_TEST(cancel_stops_an_unbounded_job)
{
    run_then_cancel("parallelism: 2\n"
                    "operators:\n"
                    "  - { id: bids, type: nexmark, with: { events: 0 } }\n"
                    "  - { id: f, type: filter, input: bids, with: { where: \"price > 100\" } }\n"
                    "  - { id: out, type: blackhole, input: f, key_by: bidder, with: { quiet: true } }\n",
                    300, "out");
}
END_TEST

START_TEST(unbounded_datagen_runs_at_parallelism_2_until_cancelled)
{
    run_then_cancel("parallelism: 2\n"
                    "operators:\n"
                    "  - { id: gen, type: datagen, with: { fields: { k: \"seq % 100\", s: \"concat('x', seq)\" } } }\n"
                    "  - { id: f, type: filter, input: gen, with: { where: \"k < 50\" } }\n"
                    "  - { id: out, type: blackhole, input: f, key_by: s, with: { quiet: true } }\n",
                    300, "out");
}
END_TEST

START_TEST(destroy_of_a_running_job_cancels_it)
{
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, "operators:\n"
                                       "  - { id: bids, type: nexmark, with: { events: 0 } }\n"
                                       "  - { id: slow, type: test_slow_sink, input: bids, partition: rebalance }\n");
    struct rn_error err;
    rn_runner *r = rn_runner_create(job, NULL, &err);
    ck_assert_int_eq(rn_runner_start(r, &err), 0);
    ck_assert(!rn_runner_wait(r, 200));
    double t0 = now_s();
    rn_runner_destroy(r);
    ck_assert_msg(now_s() - t0 < 5.0, "destroy took %.2f s", now_s() - t0);
    rn_job_free(job);
    rn_registry_destroy(reg);
}
END_TEST

/* ------------------------------------------------------------------------------------------ */
/* watermarks                                                                                 */
/* ------------------------------------------------------------------------------------------ */

#define WM_ROWS 20000
#define WM_BASE 1700000000000ll
/* ts(seq): increasing overall, out of order by up to 28 ms locally */
static int64_t wm_ts(int64_t seq) { return WM_BASE + seq * 3 - (seq % 5) * 7; }

static void check_watermarks(const char *partition_line)
{
    char *text = fmt("operators:\n"
                     "  - id: gen\n"
                     "    type: datagen\n"
                     "    with: { rows: %d, fields: { ts: \"to_timestamp(%lld + seq * 3 - (seq %% 5) * 7)\", v: seq } }\n"
                     "    watermark: { column: ts, max_out_of_orderness: 10ms }\n"
                     "  - id: rec\n"
                     "    type: test_wm_recorder\n"
                     "    input: gen\n"
                     "%s",
                     WM_ROWS, (long long)WM_BASE, partition_line);
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct run res = run_job(job);
    ck_assert_msg(res.state == RN_RUN_FINISHED, "%s", res.error);
    int64_t max_all = INT64_MIN;
    for (int64_t s = 0; s < WM_ROWS; s++)
        if (wm_ts(s) > max_all) max_all = wm_ts(s);
    ck_assert_int_eq(g_wm.max_ts, max_all);   /* every row arrived */
    ck_assert_uint_ge(g_wm.n, 2);
    ck_assert_uint_ge(g_wm.batches, 2);
    /* one watermark after each batch (each batch raises the max), then the final one */
    ck_assert_msg(g_wm.n == g_wm.batches + 1, "%zu watermarks for %" PRIu64 " batches", g_wm.n, g_wm.batches);
    for (size_t i = 0; i + 1 < g_wm.n; i++) {
        CHECK_MSG(g_wm.batches_at[i] == i + 1, "watermark %zu came after batch %" PRIu64, i, g_wm.batches_at[i]);
        CHECK_MSG(g_wm.wm[i] == g_wm.seen[i] - 10 - 1, "watermark %zu is %lld, max(ts) so far %lld: expected %lld", i,
                  (long long)g_wm.wm[i], (long long)g_wm.seen[i], (long long)(g_wm.seen[i] - 11));
        if (i) CHECK_MSG(g_wm.wm[i] >= g_wm.wm[i - 1], "watermark %zu goes back: %lld after %lld", i,
                         (long long)g_wm.wm[i], (long long)g_wm.wm[i - 1]);
    }
    ck_assert_int_eq(g_wm.wm[g_wm.n - 2], max_all - 11);
    ck_assert_int_eq(g_wm.wm[g_wm.n - 1], INT64_MAX);
    run_free(&res);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
}

START_TEST(watermarks_follow_max_event_time_minus_bound)
{
    check_watermarks("");   /* chained: the recorder runs in the source's task */
}
END_TEST

START_TEST(watermarks_cross_channels_in_order)
{
    check_watermarks("    partition: rebalance\n");
}
END_TEST

/* Two splits in one source subtask, the odd rows' split 5 s of event time behind the even
 * rows': with per-split watermarks (splits: 2) the lagging split holds the watermark back and
 * no row is late; as one split (splits: 1) odd rows are late at each batch boundary. */
static void run_split_job(int splits)
{
    char *text = fmt("operators:\n"
                     "  - id: gen\n"
                     "    type: datagen\n"
                     "    with: { rows: %d, splits: %d, fields: { ts: \"to_timestamp(%lld + seq * 10 - (seq %% 2) * 5000)\" } }\n"
                     "    watermark: { column: ts, max_out_of_orderness: 0ms }\n"
                     "  - id: rec\n"
                     "    type: test_wm_recorder\n"
                     "    input: gen\n",
                     WM_ROWS, splits, (long long)WM_BASE);
    rn_registry *reg = registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    struct run res = run_job(job);
    ck_assert_msg(res.state == RN_RUN_FINISHED, "%s", res.error);
    run_free(&res);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
}

START_TEST(watermarks_are_tracked_per_source_split)
{
    run_split_job(2);
    ck_assert_uint_eq(g_wm.late, 0);
    ck_assert_uint_ge(g_wm.n, 3);
    /* each watermark is the lagging split's: the max seen so far (an even row) - 5 s + 10 ms - 1 at most */
    for (size_t i = 0; i + 1 < g_wm.n; i++)
        CHECK_MSG(g_wm.wm[i] <= g_wm.seen[i] - 5000 + 10 - 1, "watermark %zu is %lld, max(ts) so far %lld", i,
                  (long long)g_wm.wm[i], (long long)g_wm.seen[i]);
    ck_assert_int_eq(g_wm.wm[g_wm.n - 1], INT64_MAX);
}
END_TEST

START_TEST(watermarks_of_one_split_make_a_lagging_half_late)
{
    run_split_job(1);
    ck_assert_uint_gt(g_wm.late, 500);   /* the odd rows at the start of each batch after the first */
}
END_TEST

/* ------------------------------------------------------------------------------------------ */

static Suite *make_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("jobs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, datagen_filter_select_rows_are_exact);
    tcase_add_test(tc, datagen_pipeline_same_rows_at_parallelism_1_and_2);
    tcase_add_test(tc, nexmark_q2_selection_matches_generator);
    tcase_add_test(tc, nexmark_q1_currency_conversion_matches_generator);
    tcase_add_test(tc, file_source_jsonl_to_jsonl_is_exact);
    tcase_add_test(tc, file_source_csv_to_csv_is_exact);
    tcase_add_test(tc, file_source_reads_every_file_of_a_directory);
    tcase_add_test(tc, file_source_reads_the_files_a_glob_matches);
    tcase_add_test(tc, file_source_malformed_line_fails_the_job_with_file_and_line);
    tcase_add_test(tc, file_source_on_error_skip_keeps_the_good_rows);
    tcase_add_test(tc, union_key_by_puts_each_key_in_the_subtask_of_its_key_group);
    tcase_add_test(tc, filter_rejected_output_is_a_stream_other_operators_read);
    tcase_add_test(tc, key_by_map_keys_each_input_by_its_own_expression);
    tcase_add_test(tc, rebalance_spreads_rows_over_every_subtask);
    tcase_add_test(tc, broadcast_gives_every_subtask_every_row);
    tcase_add_test(tc, linear_job_at_parallelism_1_is_one_task_without_channels);
    tcase_add_test(tc, linear_job_at_parallelism_2_is_two_chained_tasks);
    tcase_add_test(tc, key_by_makes_p_times_p_channels);
    tcase_add_test(tc, parallelism_change_breaks_the_chain);
    tcase_add_test(tc, fan_out_and_union_use_channels);
    tcase_add_test(tc, node_stats_count_rows_in_and_out);
    suite_add_tcase(s, tc);

    TCase *tv = tcase_create("validation");
    tcase_add_test(tv, invalid_yaml_syntax_reports_position);
    tcase_add_test(tv, invalid_unknown_operator_type_suggests_closest);
    tcase_add_test(tv, invalid_unknown_option_suggests_closest);
    tcase_add_test(tv, invalid_missing_required_option_points_at_the_operator);
    tcase_add_test(tv, invalid_option_type_points_at_the_value);
    tcase_add_test(tv, invalid_duration_points_at_the_value);
    tcase_add_test(tv, invalid_unknown_input_suggests_closest);
    tcase_add_test(tv, invalid_cycle_names_the_operators);
    tcase_add_test(tv, invalid_filter_condition_not_bool);
    tcase_add_test(tv, invalid_unknown_column_points_inside_the_expression);
    tcase_add_test(tv, invalid_duplicate_id);
    tcase_add_test(tv, invalid_side_output_id_used_by_an_operator);
    tcase_add_test(tv, invalid_key_by_map_without_an_input);
    tcase_add_test(tv, invalid_key_by_map_naming_another_operator);
    tcase_add_test(tv, invalid_key_by_map_with_keys_of_two_types);
    tcase_add_test(tv, invalid_source_with_an_input);
    tcase_add_test(tv, invalid_sink_used_as_an_input);
    tcase_add_test(tv, invalid_checkpoint_mode_is_refused_at_its_position);
    tcase_add_test(tv, invalid_job_reports_every_error);
    tcase_add_test(tv, pack_then_unpack_gives_the_same_job);
    tcase_add_test(tv, pack_then_unpack_keeps_side_outputs_and_key_by_maps);
    tcase_add_test(tv, unpack_of_garbage_fails_cleanly);
    suite_add_tcase(s, tv);

    TCase *tp = tcase_create("plugins");
    tcase_add_checked_fixture(tp, setup, teardown);
    tcase_add_test(tp, sample_plugin_loads_and_keeps_one_row_in_n);
    tcase_add_test(tp, plugin_of_another_abi_major_is_refused_with_both_versions);
    tcase_add_test(tp, plugin_with_another_struct_size_is_refused_with_both_sizes);
    tcase_add_test(tp, plugin_without_entry_point_is_refused);
    tcase_add_test(tp, plugin_directory_of_bad_plugins_registers_nothing);
    tcase_add_test(tp, registry_refuses_a_name_registered_twice);
    suite_add_tcase(s, tp);

    TCase *tl = tcase_create("lifecycle");
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_set_timeout(tl, 120);
    tcase_add_test(tl, operator_failure_fails_the_job_naming_operator_and_subtask);
    tcase_add_test(tl, operator_failure_behind_channels_ends_every_task);
    tcase_add_test(tl, operator_open_failure_fails_the_job);
    tcase_add_test(tl, back_pressure_keeps_memory_bounded);
    tcase_add_test(tl, cancel_stops_an_unbounded_job);
    tcase_add_test(tl, unbounded_datagen_runs_at_parallelism_2_until_cancelled);
    tcase_add_test(tl, destroy_of_a_running_job_cancels_it);
    tcase_add_test(tl, watermarks_follow_max_event_time_minus_bound);
    tcase_add_test(tl, watermarks_cross_channels_in_order);
    tcase_add_test(tl, watermarks_are_tracked_per_source_split);
    tcase_add_test(tl, watermarks_of_one_split_make_a_lagging_half_late);
    suite_add_tcase(s, tl);
    return s;
}

TU_MAIN(make_suite)
