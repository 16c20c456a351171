/*
 * test_checkpoint_ops.c — the `checkpoint_ops` runtime suite: every keyed and windowed operator
 * survives a crash and a restore exactly. Each job is datagen (rate-limited, so that several
 * checkpoints complete before its end) -> the operator -> file_sink with `delivery:
 * exactly_once`, checkpointing every 50 ms; rt_run_crash_restore cancels it once a few
 * checkpoints completed (like a crash) and runs it again restored from the latest one to its
 * end. The committed output must equal what a failure-free run of the same job writes (no
 * checkpoints), or, where that depends on batch boundaries (aggregate's upsert stream,
 * deduplicate's keep: last, processing time), rows checked against a computation done here.
 * Both state backends; window_aggregate also with a cache of 3 entries (every batch spills to
 * the backend).
 *
 * The inputs make the failure-free output independent of timing: event times out of order by
 * less than the watermark bound, and one source subtask where arrival order decides the result
 * (first/last, ties). The event-time inputs also hold rows far too late (every tenth row from
 * seq 1000 on, 60 s or more behind): late as soon as the operator has a watermark, so always
 * dropped in a failure-free run, they catch a restored operator that judges the first rows
 * after the restore (the crash comes after 5 checkpoints 50 ms apart, with the sources paced at
 * a quarter of RATE: 1250 rows or more) against no watermark, before the first one arrives,
 * instead of the checkpoint's. Sliding windows and allowed lateness keep panes alive after their
 * windows fired, which catches a restored operator that fires them again. The failure-free run
 * keeps the rate limit (RATE, 20000 rows/s): its first batches are then far below 1000 rows,
 * and no source runs a whole batch ahead of another.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/job.h"
#include "runnel/window_fn.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-ckops"); }
static void teardown(void) { tu_tmp_teardown(); }

/* Checkpoints completed before the crash. */
#define CRASH_AFTER 5

/* ---- a window function for window_process: the rows and the sum of column v ---- */

static int nsum_plan(const struct rn_window_fn_setup *s, rn_schema **out, struct rn_error *err)
{
    if (rn_schema_find(s->input, "v") < 0) {
        rn_error_set(err, RN_EINVAL, 0, 0, "no column v");
        return RN_EINVAL;
    }
    rn_schema *o = rn_schema_create();
    if (!o || rn_schema_add(o, "n", rn_type_of(RN_T_INT64), false) || rn_schema_add(o, "s", rn_type_of(RN_T_INT64), false)) {
        rn_schema_unref(o);
        return RN_ENOMEM;
    }
    *out = o;
    return 0;
}

static int nsum_process(void *state, const struct rn_window_call *w, const struct rn_batch *rows, struct rn_batch **out,
                        struct rn_error *err)
{
    (void)state;
    (void)w;
    (void)err;
    int v = rn_schema_find(rows->schema, "v");
    int64_t s = 0;
    for (uint32_t r = 0; r < rows->n_rows; r++) s += rn_col_i64(&rows->cols[v], r);
    rn_schema *o = NULL;
    if (nsum_plan(&(struct rn_window_fn_setup){.input = rows->schema}, &o, err)) return RN_ENOMEM;
    struct rn_batch *b = rn_batch_new(o, 1);
    rn_schema_unref(o);
    if (!b) return RN_ENOMEM;
    ((int64_t *)b->cols[0].values)[0] = rows->n_rows;
    ((int64_t *)b->cols[1].values)[0] = s;
    b->n_rows = 1;
    *out = b;
    return 0;
}

static const struct rn_window_fn_def nsum_fn = {
    .abi_version = RN_WINDOW_FN_ABI, .struct_size = sizeof(struct rn_window_fn_def), .name = "ck_nsum",
    .description = "rows and sum(v) of a window", .plan = nsum_plan, .process = nsum_process,
};

static rn_registry *registry(void)
{
    rn_registry *r = rt_registry();
    struct rn_error err;
    ck_assert_msg(rn_registry_add_window_fn(r, &nsum_fn, &err) == 0, "%s", err.msg);
    return r;
}

/* ---- jobs ---- */

/* A copy of s with every "@RATE@" replaced by rate. */
static char *with_rate(const char *s, const char *rate)
{
    size_t n = 0, rl = strlen(rate);
    for (const char *p = s; (p = strstr(p, "@RATE@")); p += 6) n++;
    char *o = malloc(strlen(s) + n * rl + 1), *q = o;
    ck_assert(o);
    for (const char *p = s;;) {
        const char *m = strstr(p, "@RATE@");
        size_t len = m ? (size_t)(m - p) : strlen(p);
        memcpy(q, p, len);
        q += len;
        if (!m) break;
        memcpy(q, rate, rl);
        q += rl;
        p = m + 6;
    }
    *q = 0;
    return o;
}

/* A job: parallelism p, the state backend, then body (nodes; each "@RATE@" becomes
 * ", rate_limit: rate", or nothing when rate is 0), then the exactly-once file sink of node
 * `last`. With ckdir: a checkpoint every 50 ms into it. */
static char *job_text(int p, const char *backend, const char *ckdir, const char *body, int64_t rate, const char *last,
                      const char *out)
{
    char *sdir = tu_tmp_path("state");
    char rate_clause[64] = "", ck[512] = "";
    if (rate) snprintf(rate_clause, sizeof rate_clause, ", rate_limit: %" PRId64, rate);
    if (ckdir) snprintf(ck, sizeof ck, "checkpoint: { interval: 50ms, dir: %s }\n", ckdir);
    char *nodes = with_rate(body, rate_clause);
    char *text = tu_fmt("name: ckops\nparallelism: %d\n%sstate: { backend: %s, dir: %s }\noperators:\n%s"
                        "  - { id: out, type: file_sink, input: %s, with: { path: %s, format: csv, delivery: exactly_once } }\n",
                        p, ck, backend, sdir, nodes, last, out);
    free(nodes);
    free(sdir);
    return text;
}

/* The committed output of body run at parallelism p with a crash after CRASH_AFTER
 * checkpoints, restored at parallelism p_restored. */
static struct rt_lines crashed_output(const rn_registry *reg, const char *backend, const char *body, int64_t rate,
                                      const char *last, int p, int p_restored)
{
    char *out = tu_tmp_path("crashed"), *ckdir = tu_tmp_path("checkpoints");
    char *first = job_text(p, backend, ckdir, body, rate, last, out);
    char *again = job_text(p_restored, backend, ckdir, body, rate, last, out);
    rt_run_crash_restore(reg, first, again, CRASH_AFTER);
    struct rt_lines got = rt_read_csv_parts(out);
    free(first);
    free(again);
    free(out);
    free(ckdir);
    return got;
}

/* The output of body run once to its end without checkpoints. */
static struct rt_lines failure_free_output(const rn_registry *reg, const char *backend, const char *body,
                                           int64_t rate, const char *last, int p)
{
    char *out = tu_tmp_path("reference");
    char *text = job_text(p, backend, NULL, body, rate, last, out);
    rt_run_text_ok(reg, text);
    struct rt_lines want = rt_read_csv_parts(out);
    free(text);
    free(out);
    return want;
}

/* Crash and restore (at p_restored) give what a failure-free run at p gives. */
static void expect_exact_rescaled(const char *backend, const char *body, int64_t rate, const char *last, int p,
                                  int p_restored)
{
    rn_registry *reg = registry();
    struct rt_lines want = failure_free_output(reg, backend, body, rate, last, p);
    CHECK_MSG(want.n > 0, "the failure-free run wrote nothing:\n%s", body);
    struct rt_lines got = crashed_output(reg, backend, body, rate, last, p, p_restored);
    char *what = tu_fmt("%s, parallelism %d restored at %d:\n%s", backend, p, p_restored, body);
    rt_lines_expect_sorted(&got, &want, what);
    free(what);
    rt_lines_free(&got);
    rt_lines_free(&want);
    rn_registry_destroy(reg);
}

static void expect_exact(const char *backend, const char *body, int64_t rate, const char *last)
{
    expect_exact_rescaled(backend, body, rate, last, 1, 1);
}

/* ---- inputs ---- */

/* Event times 10 ms apart shuffled by up to 300 ms either way (within the bound of 700 ms),
 * except every tenth row from seq 1000 on, 60 s behind (late). */
#define T_OOO "to_timestamp(CASE WHEN seq % 10 = 5 AND seq >= 1000 THEN seq * 10 - 60000 " \
              "ELSE 1000 + seq * 10 + ((seq * 7919) % 13 - 6) * 50 END)"
/* One source subtask, 20000 rows over about 2 s: k = seq % 7, v in -300 .. 699. */
#define GEN_OOO                                                                                            \
    "  - id: gen\n    type: datagen\n    parallelism: 1\n"                                               \
    "    with: { rows: 20000@RATE@, fields: { k: \"seq % 7\", v: \"(seq * 7919) % 1000 - 300\", "       \
    "t: \"" T_OOO "\" } }\n"                                                                             \
    "    watermark: { column: t, max_out_of_orderness: 700ms }\n"
#define RATE 20000

/* Aggregates whose result depends on arrival order too (first, last). */
#define ORDERED_AGGS "{ n: count(*), s: sum(v), lo: min(v), hi: max(v), f: first(v), l: last(v), d: count_distinct(v) }"

static char *window_body(const char *window, const char *extra)
{
    return tu_fmt("%s  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                  "    with: { window: %s, aggregates: " ORDERED_AGGS "%s }\n",
                  GEN_OOO, window, extra);
}

/* Loop tests over 4: both backends, with the default cache and with 3 entries. */
static const char *backend_of(int i) { return rt_backends[i % 2]; }
static const char *cache_of(int i) { return i / 2 ? ", cache_entries: 3" : ""; }

/* ---- window_aggregate ---- */

START_TEST(window_aggregate_tumbling_windows_are_exact_after_a_restore)
{
    char *body = window_body("{ type: tumbling, size: 1s }", cache_of(_i));
    expect_exact(backend_of(_i), body, RATE, "w");
    free(body);
}
END_TEST

START_TEST(window_aggregate_sliding_windows_are_exact_after_a_restore)
{
    char *body = window_body("{ type: sliding, size: 2s, slide: 500ms }", cache_of(_i));
    expect_exact(backend_of(_i), body, RATE, "w");
    free(body);
}
END_TEST

START_TEST(window_aggregate_allowed_lateness_keeps_fired_windows_across_a_restore)
{
    /* panes outlive their firing by 3 s: a restored subtask must not fire them again */
    char *body = window_body("{ type: sliding, size: 1s, slide: 500ms }", ", allowed_lateness: 3s");
    expect_exact(rt_backends[_i], body, RATE, "w");
    free(body);
}
END_TEST

/* Sessions: every 1000 rows the time jumps 5 s, so each key has a session per 1000 rows (gap
 * 2 s); every tenth row from seq 1000 on is 120 s behind (late). */
#define GEN_SESSIONS                                                                                       \
    "  - id: gen\n    type: datagen\n    parallelism: 1\n"                                               \
    "    with: { rows: 20000@RATE@, fields: { k: \"seq % 7\", v: \"(seq * 7919) % 1000 - 300\", "       \
    "t: \"to_timestamp(1000 + seq * 10 + (seq / 1000) * 5000 + ((seq * 7919) % 13 - 6) * 5 - "           \
    "CASE WHEN seq % 10 = 5 AND seq >= 1000 THEN 120000 ELSE 0 END)\" } }\n"                             \
    "    watermark: { column: t, max_out_of_orderness: 100ms }\n"

START_TEST(window_aggregate_session_windows_are_exact_after_a_restore)
{
    expect_exact(rt_backends[_i],
                 GEN_SESSIONS "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                              "    with: { window: { type: session, gap: 2s }, aggregates: " ORDERED_AGGS " }\n",
                 RATE, "w");
}
END_TEST

/* Count trigger: 5000 keys, so that no batch (at most 4096 consecutive rows) holds two rows of a
 * key and every firing is at an exact multiple whatever the batch boundaries; t = seq ms, so a
 * 20 s window holds 4 rows of each key (40000 rows at twice the rate). */
START_TEST(window_aggregate_count_trigger_is_exact_after_a_restore)
{
    expect_exact(rt_backends[_i],
                 "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                 "    with: { rows: 40000@RATE@, fields: { k: \"seq % 5000\", v: \"(seq * 7919) % 1000\", "
                 "t: \"to_timestamp(seq)\" } }\n"
                 "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                 "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                 "    with: { window: { type: tumbling, size: 20s }, aggregates: { n: count(*), s: sum(v) }, "
                 "trigger: { type: count, count: 2 } }\n",
                 2 * RATE, "w");
}
END_TEST

/* Processing-time windows: what fires when depends on the clock, but every row is counted
 * once: the counts of every key over all its windows add up to its rows. */
START_TEST(window_aggregate_processing_time_windows_count_every_row_once_across_a_restore)
{
    rn_registry *reg = registry();
    const char *body = "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                       "    with: { rows: 20000@RATE@, fields: { k: \"seq % 7\", v: seq } }\n"
                       "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                       "    with: { window: { type: tumbling, size: 100ms, time: processing }, "
                       "aggregates: { n: count(*), s: sum(v) } }\n";
    struct rt_lines got = crashed_output(reg, rt_backends[_i], body, RATE, "w", 1, 1);
    int64_t n[7] = {0}, s[7] = {0};
    for (size_t i = 0; i < got.n; i++) {
        int64_t k, ws, we, cn, cs;
        CHECK_MSG(sscanf(got.v[i], "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &k, &ws, &we, &cn, &cs) == 5 &&
                      k >= 0 && k < 7,
                  "line %s", got.v[i]);
        n[k] += cn;
        s[k] += cs;
    }
    for (int64_t k = 0; k < 7; k++) {
        int64_t wn = 0, wsum = 0;
        for (int64_t q = k; q < 20000; q += 7) wn++, wsum += q;
        CHECK_MSG(n[k] == wn && s[k] == wsum, "%s: key %" PRId64 ": %" PRId64 " rows summing to %" PRId64
                  ", want %" PRId64 " summing to %" PRId64, rt_backends[_i], k, n[k], s[k], wn, wsum);
    }
    rt_lines_free(&got);
    rn_registry_destroy(reg);
}
END_TEST

/* Rescaling: two source subtasks (order-free aggregates), parallelism 2 restored at 1 and 3. */
#define GEN_P "  - id: gen\n    type: datagen\n"                                                           \
              "    with: { rows: 20000@RATE@, fields: { k: \"seq % 11\", v: \"(seq * 7919) % 1000 - 300\", " \
              "t: \"" T_OOO "\" } }\n"                                                                     \
              "    watermark: { column: t, max_out_of_orderness: 700ms }\n"

START_TEST(window_aggregate_restores_at_another_parallelism)
{
    static const int to[] = {1, 3};
    expect_exact_rescaled(rt_backends[_i % 2],
                          GEN_P "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                                "    with: { window: { type: sliding, size: 2s, slide: 500ms }, "
                                "aggregates: { n: count(*), s: sum(v), lo: min(v), hi: max(v), d: count_distinct(v) } }\n",
                          RATE, "w", 2, to[_i / 2]);
}
END_TEST

/* ---- top_n and window_process ---- */

START_TEST(top_n_sliding_windows_are_exact_after_a_restore)
{
    /* v has 20 values: ties everywhere, broken by arrival (the counter a restore must keep) */
    expect_exact(rt_backends[_i],
                 "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                 "    with: { rows: 20000@RATE@, fields: { k: \"seq % 7\", v: \"(seq * 7919) % 20\", s: seq, "
                 "t: \"" T_OOO "\" } }\n"
                 "    watermark: { column: t, max_out_of_orderness: 700ms }\n"
                 "  - id: top\n    type: top_n\n    input: gen\n    key_by: k\n"
                 "    with: { n: 3, order_by: v desc, rank_column: r, window: { type: sliding, size: 2s, slide: 500ms } }\n",
                 RATE, "top");
}
END_TEST

START_TEST(top_n_ties_go_to_the_first_arrived_across_a_restore)
{
    /* unwindowed, one key's rows all tied: the top 5 are its first 5 rows, whenever it crashed */
    expect_exact(rt_backends[_i],
                 "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                 "    with: { rows: 20000@RATE@, fields: { k: \"seq % 3\", v: \"seq % 2\", s: seq } }\n"
                 "  - id: top\n    type: top_n\n    input: gen\n    key_by: k\n"
                 "    with: { n: 5, order_by: v desc }\n",
                 RATE, "top");
}
END_TEST

START_TEST(window_process_sliding_windows_are_exact_after_a_restore)
{
    expect_exact(rt_backends[_i],
                 GEN_OOO "  - id: wp\n    type: window_process\n    input: gen\n    key_by: k\n"
                         "    with: { window: { type: sliding, size: 2s, slide: 500ms }, function: ck_nsum }\n",
                 RATE, "wp");
}
END_TEST

START_TEST(window_process_session_windows_are_exact_after_a_restore)
{
    expect_exact(rt_backends[_i],
                 GEN_SESSIONS "  - id: wp\n    type: window_process\n    input: gen\n    key_by: k\n"
                              "    with: { window: { type: session, gap: 2s }, function: ck_nsum }\n",
                 RATE, "wp");
}
END_TEST

/* ---- deduplicate and aggregate ---- */

START_TEST(deduplicate_passes_each_keys_first_row_once_across_a_restore)
{
    /* 10000 keys: first rows keep arriving until half-way */
    expect_exact(rt_backends[_i],
                 "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                 "    with: { rows: 20000@RATE@, fields: { k: \"seq % 10000\", s: seq } }\n"
                 "  - id: d\n    type: deduplicate\n    input: gen\n    key_by: k\n    with: { keep: first }\n",
                 RATE, "d");
}
END_TEST

START_TEST(deduplicate_keep_last_passes_each_change_once_across_a_restore)
{
    /* v = seq / 2000 grows: which values leave depends on the batches (a batch passes each key's
     * last row), but none may leave twice, and every key's last one is its final value */
    rn_registry *reg = registry();
    const char *body = "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                       "    with: { rows: 20000@RATE@, fields: { k: \"seq % 7\", v: \"seq / 2000\" } }\n"
                       "  - id: d\n    type: deduplicate\n    input: gen\n    key_by: k\n    with: { keep: last }\n";
    struct rt_lines got = crashed_output(reg, rt_backends[_i], body, RATE, "d", 1, 1);
    bool seen[7][10] = {{false}};
    for (size_t i = 0; i < got.n; i++) {
        int64_t k, v;
        CHECK_MSG(sscanf(got.v[i], "%" SCNd64 ",%" SCNd64, &k, &v) == 2 && k >= 0 && k < 7 && v >= 0 && v < 10,
                  "%s: line %s", rt_backends[_i], got.v[i]);
        CHECK_MSG(!seen[k][v], "%s: %s passed twice", rt_backends[_i], got.v[i]);
        seen[k][v] = true;
    }
    for (int k = 0; k < 7; k++) CHECK_MSG(seen[k][9], "%s: key %d never passed its final row", rt_backends[_i], k);
    rt_lines_free(&got);
    rn_registry_destroy(reg);
}
END_TEST

START_TEST(aggregate_upserts_continue_from_the_restored_state)
{
    /* the upsert rows depend on batch boundaries; each one must be the key's running result
     * after exactly its n first rows (one source subtask: a key's rows arrive in seq order),
     * with no n twice, and the last one the key's total */
    rn_registry *reg = registry();
    const char *body = "  - id: gen\n    type: datagen\n    parallelism: 1\n"
                       "    with: { rows: 20000@RATE@, fields: { k: \"seq % 7\", v: \"(seq * 7919) % 1000\" } }\n"
                       "  - id: a\n    type: aggregate\n    input: gen\n    key_by: k\n"
                       "    with: { aggregates: { n: count(*), s: sum(v), l: last(v) } }\n";
    struct rt_lines got = crashed_output(reg, rt_backends[_i], body, RATE, "a", 1, 1);
    /* the running sum and last value of key k after its n first rows, at k * PER_KEY + n */
    enum { PER_KEY = 20000 / 7 + 2 };
    int64_t *sum = calloc(7 * PER_KEY, sizeof *sum), *last = calloc(7 * PER_KEY, sizeof *last);
    bool *seen = calloc(7 * PER_KEY, 1);
    int64_t total[7] = {0}, maxn[7] = {0};
    ck_assert(sum && last && seen);
    for (int64_t k = 0; k < 7; k++) {
        int64_t n = 0, s = 0;
        for (int64_t q = k; q < 20000; q += 7) {
            n++;
            s += (q * 7919) % 1000;
            sum[k * PER_KEY + n] = s;
            last[k * PER_KEY + n] = (q * 7919) % 1000;
        }
        total[k] = n;
    }
    for (size_t i = 0; i < got.n; i++) {
        int64_t k, n, s, l;
        CHECK_MSG(sscanf(got.v[i], "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &k, &n, &s, &l) == 4 && k >= 0 && k < 7 &&
                      n >= 1 && n <= total[k],
                  "%s: line %s", rt_backends[_i], got.v[i]);
        size_t at = (size_t)(k * PER_KEY + n);
        CHECK_MSG(!seen[at], "%s: key %" PRId64 " emitted n = %" PRId64 " twice", rt_backends[_i], k, n);
        seen[at] = true;
        CHECK_MSG(s == sum[at] && l == last[at], "%s: %s, want sum %" PRId64 " and last %" PRId64 " after %" PRId64 " rows",
                  rt_backends[_i], got.v[i], sum[at], last[at], n);
        if (n > maxn[k]) maxn[k] = n;
    }
    for (int k = 0; k < 7; k++)
        CHECK_MSG(maxn[k] == total[k], "%s: key %d ends at %" PRId64 " rows, want %" PRId64, rt_backends[_i], k, maxn[k],
                  total[k]);
    free(sum);
    free(last);
    free(seen);
    rt_lines_free(&got);
    rn_registry_destroy(reg);
}
END_TEST

/* ---- joins ---- */

/* Two sources of 20000 rows each, in step: left t = seq * 10, right t = seq * 10 + 3, but on
 * both every tenth row from seq 1000 on is 200 s behind: late once both sources sent a
 * watermark, and a late left row and a late right row would pair if they were kept. */
#define JOIN_SOURCES(P)                                                                                     \
    "  - id: l\n    type: datagen\n" P                                                                     \
    "    with: { rows: 20000@RATE@, fields: { k: \"seq % 20\", lv: seq, t: \"to_timestamp(seq * 10 - "       \
    "CASE WHEN seq % 10 = 5 AND seq >= 1000 THEN 200000 ELSE 0 END)\" } }\n"                                 \
    "    watermark: { column: t, max_out_of_orderness: 0ms }\n"                                            \
    "  - id: r\n    type: datagen\n" P                                                                     \
    "    with: { rows: 20000@RATE@, fields: { k: \"seq % 20\", rv: seq, t: \"to_timestamp(seq * 10 + 3 - "   \
    "CASE WHEN seq % 10 = 5 AND seq >= 1000 THEN 200000 ELSE 0 END)\" } }\n"                                 \
    "    watermark: { column: t, max_out_of_orderness: 0ms }\n"

START_TEST(window_join_sliding_windows_are_exact_after_a_restore)
{
    expect_exact(rt_backends[_i],
                 JOIN_SOURCES("    parallelism: 1\n")
                 "  - id: j\n    type: window_join\n    input: [l, r]\n    key_by: k\n"
                 "    with: { window: { type: sliding, size: 400ms, slide: 200ms }, right_prefix: r_ }\n",
                 RATE, "j");
}
END_TEST

START_TEST(window_join_session_windows_are_exact_after_a_restore)
{
    /* every 100 rows a 2 s jump: sessions of gap 1 s */
    expect_exact(rt_backends[_i],
                 "  - id: l\n    type: datagen\n    parallelism: 1\n"
                 "    with: { rows: 20000@RATE@, fields: { k: \"seq % 20\", lv: seq, "
                 "t: \"to_timestamp(seq * 10 + (seq / 100) * 2000)\" } }\n"
                 "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                 "  - id: r\n    type: datagen\n    parallelism: 1\n"
                 "    with: { rows: 20000@RATE@, fields: { k: \"seq % 20\", rv: seq, "
                 "t: \"to_timestamp(seq * 10 + (seq / 100) * 2000 + 3)\" } }\n"
                 "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                 "  - id: j\n    type: window_join\n    input: [l, r]\n    key_by: k\n"
                 "    with: { window: { type: session, gap: 1s }, right_prefix: r_ }\n",
                 RATE, "j");
}
END_TEST

START_TEST(interval_join_is_exact_after_a_restore)
{
    expect_exact(rt_backends[_i],
                 JOIN_SOURCES("    parallelism: 1\n")
                 "  - id: j\n    type: interval_join\n    input: [l, r]\n    key_by: k\n"
                 "    with: { between: [-400ms, 400ms], right_prefix: r_ }\n",
                 RATE, "j");
}
END_TEST

/* The regular join: 5 rows per key and side, every pair once (10000 rows at half the rate). */
#define REGULAR_SOURCES                                                                                     \
    "  - id: l\n    type: datagen\n"                                                                       \
    "    with: { rows: 10000@RATE@, fields: { k: \"seq % 2000\", lv: seq } }\n"                            \
    "  - id: r\n    type: datagen\n"                                                                       \
    "    with: { rows: 10000@RATE@, fields: { k: \"seq % 2000\", rv: seq } }\n"

START_TEST(join_is_exact_after_a_restore)
{
    expect_exact(rt_backends[_i],
                 REGULAR_SOURCES "  - id: j\n    type: join\n    input: [l, r]\n    key_by: k\n"
                                 "    with: { right_prefix: r_ }\n",
                 RATE / 2, "j");
}
END_TEST

START_TEST(join_restores_at_another_parallelism)
{
    static const int to[] = {1, 3};
    expect_exact_rescaled(rt_backends[_i % 2],
                          REGULAR_SOURCES "  - id: j\n    type: join\n    input: [l, r]\n    key_by: k\n"
                                          "    with: { right_prefix: r_ }\n",
                          RATE / 2, "j", 2, to[_i / 2]);
}
END_TEST

START_TEST(window_join_restores_at_another_parallelism)
{
    static const int to[] = {1, 3};
    expect_exact_rescaled(rt_backends[_i % 2],
                          JOIN_SOURCES("")
                          "  - id: j\n    type: window_join\n    input: [l, r]\n    key_by: k\n"
                          "    with: { window: { type: sliding, size: 400ms, slide: 200ms }, right_prefix: r_ }\n",
                          RATE, "j", 2, to[_i / 2]);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("checkpoint_ops");
    TCase *tc = tcase_create("restore");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, window_aggregate_tumbling_windows_are_exact_after_a_restore, 0, 4);
    tcase_add_loop_test(tc, window_aggregate_sliding_windows_are_exact_after_a_restore, 0, 4);
    tcase_add_loop_test(tc, window_aggregate_allowed_lateness_keeps_fired_windows_across_a_restore, 0, 2);
    tcase_add_loop_test(tc, window_aggregate_session_windows_are_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, window_aggregate_count_trigger_is_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, window_aggregate_processing_time_windows_count_every_row_once_across_a_restore, 0, 2);
    tcase_add_loop_test(tc, window_aggregate_restores_at_another_parallelism, 0, 4);
    tcase_add_loop_test(tc, top_n_sliding_windows_are_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, top_n_ties_go_to_the_first_arrived_across_a_restore, 0, 2);
    tcase_add_loop_test(tc, window_process_sliding_windows_are_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, window_process_session_windows_are_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, deduplicate_passes_each_keys_first_row_once_across_a_restore, 0, 2);
    tcase_add_loop_test(tc, deduplicate_keep_last_passes_each_change_once_across_a_restore, 0, 2);
    tcase_add_loop_test(tc, aggregate_upserts_continue_from_the_restored_state, 0, 2);
    tcase_add_loop_test(tc, window_join_sliding_windows_are_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, window_join_session_windows_are_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, interval_join_is_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, join_is_exact_after_a_restore, 0, 2);
    tcase_add_loop_test(tc, join_restores_at_another_parallelism, 0, 4);
    tcase_add_loop_test(tc, window_join_restores_at_another_parallelism, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
