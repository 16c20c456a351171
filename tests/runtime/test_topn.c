/*
 * test_topn.c — the `topn` runtime suite: top_n (windowed, over window results, unwindowed) and
 * window_process with the example window-function plugin, through real jobs run in-process
 * (registry, validator, runner) on both state backends. Every result is compared with the same
 * computation done here in C from the generating formulas.
 *
 * Environment (tests/runtime/meson.build): RUNNEL_SAMPLE_PLUGIN_DIR (the example plugins, with
 * median_price), RUNNEL_BAD_WINDOW_FN_DIR (a window-function plugin of another ABI version).
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/runner.h"
#include "runnel/window_fn.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-topn"); }
static void teardown(void) { tu_tmp_teardown(); }

/* The registry with the example plugins (median_price among them). */
static rn_registry *registry_with_plugins(void)
{
    rn_registry *r = rt_registry();
    unsigned refused = 0;
    FILE *warn = fopen("/dev/null", "w");
    ck_assert_int_eq(rn_registry_load_dir(r, rt_env_dir("RUNNEL_SAMPLE_PLUGIN_DIR"), warn, &refused), 0);
    fclose(warn);
    ck_assert_uint_eq(refused, 0);
    return r;
}

/* Runs job text (printf'd with backend, state dir and output dir) and returns its output lines. */
static struct rt_lines run_job(rn_registry *reg, const char *text)
{
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, NULL, NULL);
    rn_job_free(job);
    char *out = tu_tmp_path("out");
    struct rt_lines l = rt_read_csv_parts(out);
    free(out);
    return l;
}

/* ---- the rows of the generated jobs and the reference top-n ---- */

struct row {
    int64_t k, a, b, s, t;   /* key, order values, seq, event time */
    bool b_null;
};

/* Rows sort by a (desc or asc), then b asc with nulls last (when by_b), then arrival (seq). */
struct order {
    bool a_desc, by_b;
};
static struct order g_order;

static int cmp_rows(const void *x, const void *y)
{
    const struct row *p = x, *q = y;
    if (p->a != q->a) return (p->a < q->a) == g_order.a_desc ? 1 : -1;
    if (g_order.by_b) {
        if (p->b_null != q->b_null) return p->b_null ? 1 : -1;
        if (!p->b_null && p->b != q->b) return p->b < q->b ? -1 : 1;
    }
    return (p->s > q->s) - (p->s < q->s);
}
static bool tied(const struct row *p, const struct row *q)
{
    return p->a == q->a && (!g_order.by_b || (p->b_null == q->b_null && (p->b_null || p->b == q->b)));
}

/* Sorts the m rows of one group and appends the kept ones as lines: fmt_row(row, rank). */
static void top_of_group(struct row *g, size_t m, size_t n, bool ties, struct rt_lines *want,
                         char *(*fmt_row)(const struct row *, int64_t rank, const void *user), const void *user)
{
    qsort(g, m, sizeof *g, cmp_rows);
    size_t keep = m < n ? m : n;
    while (ties && keep < m && keep > 0 && tied(&g[keep], &g[keep - 1])) keep++;
    int64_t rank = 0;
    for (size_t i = 0; i < keep; i++) {
        if (!(ties && i > 0 && tied(&g[i], &g[i - 1]))) rank = (int64_t)i + 1;
        rt_lines_push(want, fmt_row(&g[i], rank, user));
    }
}

/* ---- windowed top_n ---- */

#define WIN_ROWS 20000
/* k = seq % 7, a = (seq * 7919) % 101 % MOD (a key's rows in a window hold distinct values of
 * (seq * 7919) % 101, so MOD makes the ties), t = seq * 3 ms */
#define WIN_JOB                                                                                        \
    "parallelism: %d\nstate: { backend: %s, dir: %s }\noperators:\n"                                    \
    "  - id: gen\n    type: datagen\n"                                                                \
    "    with: { rows: %d, fields: { k: \"seq %% 7\", a: \"(seq * 7919) %% 101 %% %d\", t: \"to_timestamp(seq * 3)\", s: seq } }\n" \
    "    watermark: { column: t, max_out_of_orderness: 0ms }\n"                                       \
    "  - id: top\n    type: top_n\n    input: gen\n    key_by: k\n"                                     \
    "    with: { n: %d, order_by: \"a desc\", with_ties: %s, rank_column: rk, window: %s }\n"            \
    "  - { id: out, type: file_sink, input: top, with: { path: %s, format: csv } }\n"

struct win_user {
    int64_t start, end;
};
static char *fmt_win_row(const struct row *r, int64_t rank, const void *user)
{
    const struct win_user *w = user;
    return tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, r->k, r->a, r->t,
                  r->s, w->start, w->end, rank);
}

/* The expected lines of WIN_JOB for windows of size / slide (tumbling: slide = size). */
static struct rt_lines expected_windows(int mod, int64_t size, int64_t slide, size_t n, bool ties)
{
    struct rt_lines want = {0};
    struct row *all = malloc(WIN_ROWS * sizeof *all), *g = malloc(WIN_ROWS * sizeof *g);
    for (int64_t s = 0; s < WIN_ROWS; s++) all[s] = (struct row){s % 7, (s * 7919) % 101 % mod, 0, s, s * 3, false};
    g_order = (struct order){true, false};
    int64_t t_max = (WIN_ROWS - 1) * 3;
    /* every window holding a row: starts are multiples of slide, from the first one holding t = 0 */
    for (int64_t start = -((size - 1) / slide) * slide; start <= t_max; start += slide)
        for (int64_t k = 0; k < 7; k++) {
            size_t m = 0;
            for (int64_t s = k; s < WIN_ROWS; s += 7)
                if (all[s].t >= start && all[s].t < start + size) g[m++] = all[s];
            struct win_user w = {start, start + size};
            top_of_group(g, m, n, ties, &want, fmt_win_row, &w);
        }
    free(all);
    free(g);
    return want;
}

static void check_windowed(int parallelism, const char *backend, int mod, const char *window, int64_t size,
                           int64_t slide, int n, bool ties)
{
    rn_registry *reg = rt_registry();
    char *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *text = tu_fmt(WIN_JOB, parallelism, backend, sdir, WIN_ROWS, mod, n, ties ? "true" : "false", window, out);
    struct rt_lines got = run_job(reg, text), want = expected_windows(mod, size, slide, (size_t)n, ties);
    char *what = tu_fmt("%s P=%d %s n=%d ties=%d", backend, parallelism, window, n, ties);
    rt_lines_expect_sorted(&got, &want, what);
    free(what);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(sdir);
    free(out);
    rn_registry_destroy(reg);
}

START_TEST(top_n_tumbling_keeps_exactly_n_first_arrived_winning_ties)
{
    /* ~48 rows per key and window over 23 values: ties at the n-th */
    check_windowed(1, rt_backends[_i], 23, "{type: tumbling, size: 1s}", 1000, 1000, 3, false);
}
END_TEST

START_TEST(top_n_tumbling_with_ties_keeps_every_row_tied_with_the_nth)
{
    /* 5 values: heavy ties; RANK semantics (1, 1, 3, ...) */
    check_windowed(1, rt_backends[_i], 5, "{type: tumbling, size: 1s}", 1000, 1000, 2, true);
}
END_TEST

START_TEST(top_n_sliding_windows_equal_a_direct_computation)
{
    check_windowed(1, rt_backends[_i], 23, "{type: sliding, size: 2s, slide: 500ms}", 2000, 500, 4, false);
    check_windowed(1, rt_backends[_i], 7, "{type: sliding, size: 1500ms, slide: 1s}", 1500, 1000, 2, true);
}
END_TEST

START_TEST(top_n_at_parallelism_2_gives_the_same_results)
{
    /* a key's values in a window are distinct (101 is prime, 7 * 7919 invertible mod it, ~48
     * rows): no tie depends on the arrival order across the two source subtasks */
    check_windowed(2, rt_backends[_i], 101, "{type: tumbling, size: 1s}", 1000, 1000, 5, false);
}
END_TEST

START_TEST(top_n_drops_rows_whose_window_has_fired)
{
    /* every 1000th row is 9 s behind (t = (seq - 3000) * 3 ms) with a watermark bound of 0: such
     * a row is late when its window's end - 1 is at or below the watermark that the previous
     * batch left (datagen emits RN_BATCH_ROWS rows per batch and a watermark after each) */
    rn_registry *reg = rt_registry();
    char *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: %d, fields: { k: \"seq %% 7\", a: \"(seq * 7919) %% 101 %% 23\", "
                        "t: \"to_timestamp(CASE WHEN seq %% 1000 = 999 THEN (seq - 3000) * 3 ELSE seq * 3 END)\", s: seq } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: top\n    type: top_n\n    input: gen\n    key_by: k\n"
                        "    with: { n: 2, order_by: \"a desc\", rank_column: rk, window: {type: tumbling, size: 1s} }\n"
                        "  - { id: out, type: file_sink, input: top, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir, WIN_ROWS, out);
    struct rt_lines got = run_job(reg, text), want = {0};
    struct row *all = malloc(WIN_ROWS * sizeof *all), *g = malloc(WIN_ROWS * sizeof *g);
    bool *late = calloc(WIN_ROWS, sizeof *late);
    int64_t wm = INT64_MIN, max_t = INT64_MIN, min_t = INT64_MAX, n_late = 0;
    for (int64_t s = 0; s < WIN_ROWS; s++) {
        if (s % RN_BATCH_ROWS == 0 && s) wm = max_t - 1;
        int64_t t = s % 1000 == 999 ? (s - 3000) * 3 : s * 3;
        all[s] = (struct row){s % 7, (s * 7919) % 101 % 23, 0, s, t, false};
        int64_t start = t - ((t % 1000) + 1000) % 1000;
        late[s] = start + 1000 - 1 <= wm;
        n_late += late[s];
        if (t > max_t) max_t = t;
        if (t < min_t) min_t = t;
    }
    ck_assert_int_gt(n_late, 10);   /* the test is about them */
    g_order = (struct order){true, false};
    for (int64_t start = min_t - ((min_t % 1000) + 1000) % 1000; start <= max_t; start += 1000)
        for (int64_t k = 0; k < 7; k++) {
            size_t m = 0;
            for (int64_t s = k; s < WIN_ROWS; s += 7)
                if (!late[s] && all[s].t >= start && all[s].t < start + 1000) g[m++] = all[s];
            struct win_user w = {start, start + 1000};
            top_of_group(g, m, 2, false, &want, fmt_win_row, &w);
        }
    free(all);
    free(g);
    free(late);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(sdir);
    free(out);
    rn_registry_destroy(reg);
}
END_TEST

/* ---- over window results (window_column) ---- */

START_TEST(top_n_over_window_results_keeps_each_windows_maximum)
{
    /* what window_aggregate would output: (auction, cnt, window_end) per window; nexmark q5's
     * second step keeps, per window, the auctions whose count is the window's maximum */
    char *in = tu_tmp_path("in.csv");
    FILE *f = fopen(in, "w");
    ck_assert(f);
    fprintf(f, "auction,cnt,window_end\n");
    struct rt_lines want = {0};
    for (int64_t w = 1; w <= 40; w++) {
        int64_t end = w * 2000, best = -1;
        for (int64_t a = 0; a < 30; a++) {
            int64_t cnt = (a * 37 + w * 11) % 13 + (a % 5 == 0 ? 3 : 0);
            if (cnt > best) best = cnt;
        }
        for (int64_t a = 0; a < 30; a++) {
            int64_t cnt = (a * 37 + w * 11) % 13 + (a % 5 == 0 ? 3 : 0);
            fprintf(f, "%" PRId64 ",%" PRId64 ",%" PRId64 "\n", 1000 + a, cnt, end);
            if (cnt == best) rt_lines_push(&want, tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",1", 1000 + a, cnt, end));
        }
    }
    fclose(f);
    rn_registry *reg = rt_registry();
    char *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: counts\n    type: file_source\n"
                        "    with: { path: %s, format: csv, schema: { auction: int64, cnt: int64, window_end: timestamp } }\n"
                        "    watermark: { column: window_end, max_out_of_orderness: 0ms }\n"
                        "  - id: hot\n    type: top_n\n    input: counts\n    key_by: window_end\n"
                        "    with: { n: 1, order_by: \"cnt desc\", with_ties: true, rank_column: r, window_column: window_end }\n"
                        "  - { id: out, type: file_sink, input: hot, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir, in, out);
    struct rt_lines got = run_job(reg, text);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(sdir);
    free(out);
    free(in);
    rn_registry_destroy(reg);
}
END_TEST

/* ---- unwindowed ---- */

static char *fmt_plain_row(const struct row *r, int64_t rank, const void *user)
{
    (void)user;
    if (r->b_null) return tu_fmt("%" PRId64 ",%" PRId64 ",,%" PRId64 ",%" PRId64, r->k, r->a, r->s, rank);
    return tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, r->k, r->a, r->b, r->s, rank);
}

START_TEST(top_n_without_window_emits_each_keys_final_rows_at_the_end)
{
    /* two order keys: a desc, then b asc with its nulls last; 5000 rows over 3+ batches */
    rn_registry *reg = rt_registry();
    char *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: 15000, fields: { k: \"seq %% 13\", a: \"(seq * 31) %% 17\", "
                        "b: \"CASE WHEN seq %% 11 = 0 THEN CAST(NULL AS int64) ELSE (seq * 7) %% 23 END\", s: seq } }\n"
                        "  - id: top\n    type: top_n\n    input: gen\n    key_by: k\n"
                        "    with: { n: 4, order_by: \"a desc, b\", rank_column: rank }\n"
                        "  - { id: out, type: file_sink, input: top, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir, out);
    struct rt_lines got = run_job(reg, text), want = {0};
    g_order = (struct order){true, true};
    struct row *g = malloc(15000 * sizeof *g);
    for (int64_t k = 0; k < 13; k++) {
        size_t m = 0;
        for (int64_t s = k; s < 15000; s += 13)
            g[m++] = (struct row){k, (s * 31) % 17, (s * 7) % 23, s, 0, s % 11 == 0};
        top_of_group(g, m, 4, false, &want, fmt_plain_row, NULL);
    }
    free(g);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(sdir);
    free(out);
    rn_registry_destroy(reg);
}
END_TEST

START_TEST(top_n_nulls_first_and_ascending_order)
{
    /* a asc, b desc nulls first: the null b rows lead their a */
    rn_registry *reg = rt_registry();
    char *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n"
                        "    with: { rows: 3000, fields: { k: \"seq %% 3\", a: \"(seq * 31) %% 4\", "
                        "b: \"CASE WHEN seq %% 7 = 0 THEN CAST(NULL AS int64) ELSE (seq * 7) %% 23 END\", s: seq } }\n"
                        "  - id: top\n    type: top_n\n    input: gen\n    key_by: k\n"
                        "    with: { n: 6, order_by: \"a ASC, b DESC NULLS FIRST\", rank_column: rank }\n"
                        "  - { id: out, type: file_sink, input: top, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir, out);
    struct rt_lines got = run_job(reg, text), want = {0};
    /* reference: a asc, then null b first, then b desc, then seq */
    for (int64_t k = 0; k < 3; k++) {
        struct row best[6];
        size_t m = 0;
        for (int64_t s = k; s < 3000; s += 3) {
            struct row r = {k, (s * 31) % 4, (s * 7) % 23, s, 0, s % 7 == 0};
            /* insertion into the 6 best: r beats x when it sorts before it */
            size_t at = m;
            while (at > 0) {
                const struct row *x = &best[at - 1];
                bool before = r.a != x->a ? r.a < x->a
                              : r.b_null != x->b_null ? r.b_null
                              : !r.b_null && r.b != x->b ? r.b > x->b
                              : false;
                if (!before) break;
                at--;
            }
            if (at >= 6) continue;
            if (m < 6) m++;
            memmove(&best[at + 1], &best[at], (m - 1 - at) * sizeof *best);
            best[at] = r;
        }
        for (size_t i = 0; i < m; i++) rt_lines_push(&want, fmt_plain_row(&best[i], (int64_t)i + 1, NULL));
    }
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(sdir);
    free(out);
    rn_registry_destroy(reg);
}
END_TEST

/* ---- bad options ---- */

#define GEN "operators:\n  - id: g\n    type: datagen\n    with: { fields: { k: seq, a: seq, t: \"to_timestamp(seq)\", v: \"CAST(NULL AS vector<2>)\" } }\n" \
            "    watermark: { column: t, max_out_of_orderness: 0ms }\n"

START_TEST(top_n_bad_options_are_refused_with_their_position)
{
    rn_registry *reg = rt_registry();
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { n: 0, order_by: a } }\n", "n must be");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: \"nope desc\" } }\n", "nope");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: \"a sideways\" } }\n",
                      "order_by");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: \"a nulls\" } }\n",
                      "order_by");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: \"a desc nulls middle\" } }\n",
                      "nulls first");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: v } }\n", "vector");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: \"a,\" } }\n", "no expression");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, with: { order_by: a } }\n", "key_by");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: a, window: { type: session, gap: 1s } } }\n",
                      "tumbling and sliding");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: a, window: { type: tumbling } } }\n",
                      "size");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: a, window: { type: tumbling, size: 1s }, window_column: t } }\n",
                      "not both");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: a, window_column: nope } }\n",
                      "no column 'nope'");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: a, window_column: v } }\n",
                      "not a timestamp");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: a, rank_column: a } }\n",
                      "already has a column 'a'");
    rt_expect_invalid(reg, GEN "  - { id: x, type: top_n, input: g, key_by: k, with: { order_by: a, limit: 3 } }\n",
                      "unknown option");
    rn_registry_destroy(reg);
}
END_TEST

/* ---- window_process with the example plugin (median_price) ---- */

/* The generated rows of the window_process jobs: k = seq % K, price = (seq * 7919) % 1000 with a
 * null every 17th row, and an event time given per job. */
#define WP_JOB                                                                                         \
    "state: { backend: %s, dir: %s }\noperators:\n"                                                   \
    "  - id: gen\n    type: datagen\n"                                                                \
    "    with: { rows: %d, fields: { k: \"seq %% %d\", t: \"to_timestamp(%s)\", "                        \
    "price: \"CASE WHEN seq %% 17 = 0 THEN CAST(NULL AS int64) ELSE (seq * 7919) %% 1000 END\" } }\n"   \
    "    watermark: { column: t, max_out_of_orderness: %s }\n"                                        \
    "  - id: med\n    type: window_process\n    input: gen\n    key_by: k\n"                            \
    "    with: { window: %s, function: median_price, options: { column: price } }\n"                   \
    "  - { id: out, type: file_sink, input: med, with: { path: %s, format: csv } }\n"

static bool price_of(int64_t seq, int64_t *price)
{
    *price = (seq * 7919) % 1000;
    return seq % 17 != 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The line median_price gives for the rows seqs[0..n) of key k and window [ws, we) (bounds
 * false: count and global windows, whose bounds are null). */
static char *median_line(int64_t k, const int64_t *seqs, size_t n, bool bounds, int64_t ws, int64_t we)
{
    int64_t *v = malloc((n + 1) * sizeof *v);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (price_of(seqs[i], &v[m])) m++;
    qsort(v, m, sizeof *v, cmp_i64);
    char med[40] = "";
    if (m) rn_double_format(m % 2 ? (double)v[m / 2] : ((double)v[m / 2 - 1] + (double)v[m / 2]) / 2, med);
    free(v);
    if (!bounds) return tu_fmt("%" PRId64 ",,,%s,%zu", k, med, m);
    return tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",%s,%zu", k, ws, we, med, m);
}

static struct rt_lines run_wp(const char *backend, int rows, int keys, const char *time_expr, const char *bound, const char *window)
{
    rn_registry *reg = registry_with_plugins();
    char *sdir = tu_tmp_path("state"), *out = tu_tmp_path("out");
    char *text = tu_fmt(WP_JOB, backend, sdir, rows, keys, time_expr, bound, window, out);
    struct rt_lines got = run_job(reg, text);
    free(text);
    free(sdir);
    free(out);
    rn_registry_destroy(reg);
    return got;
}

/* The reference for time windows of size / slide over t = seq * step. */
static struct rt_lines expected_time_windows(int rows, int keys, int64_t step, int64_t size, int64_t slide)
{
    struct rt_lines want = {0};
    int64_t *seqs = malloc((size_t)rows * sizeof *seqs);
    int64_t t_max = (rows - 1) * step;
    for (int64_t start = -((size - 1) / slide) * slide; start <= t_max; start += slide)
        for (int64_t k = 0; k < keys; k++) {
            size_t n = 0;
            for (int64_t s = k; s < rows; s += keys)
                if (s * step >= start && s * step < start + size) seqs[n++] = s;
            if (n) rt_lines_push(&want, median_line(k, seqs, n, true, start, start + size));
        }
    free(seqs);
    return want;
}

START_TEST(window_process_calls_the_plugin_with_each_tumbling_windows_rows)
{
    struct rt_lines got = run_wp(rt_backends[_i], 20000, 5, "seq * 3", "0ms", "{type: tumbling, size: 1s}");
    struct rt_lines want = expected_time_windows(20000, 5, 3, 1000, 1000);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
}
END_TEST

START_TEST(window_process_sliding_windows_gather_every_pane)
{
    struct rt_lines got = run_wp(rt_backends[_i], 20000, 5, "seq * 3", "0ms", "{type: sliding, size: 2s, slide: 500ms}");
    struct rt_lines want = expected_time_windows(20000, 5, 3, 2000, 500);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
}
END_TEST

START_TEST(window_process_session_windows_merge_across_batches)
{
    /* 3 batches of 4096 rows, 3 keys: batch 0 holds two clusters of times (A: 0..41 s, B:
     * 100..141 s), batch 1 rows that bridge them (41..102 s, 45 ms apart per key), batch 2 a
     * separate session from 200 s; the bound keeps every row on time, so A and B merge into one
     * stored session when batch 1 arrives. Gap 1 s. */
    const char *t = "CASE WHEN seq < 4096 THEN (CASE WHEN seq % 2 = 0 THEN seq * 10 ELSE 100000 + seq * 10 END) "
                    "WHEN seq < 8192 THEN 40960 + (seq - 4096) * 15 ELSE 200000 + (seq - 8192) * 10 END";
    struct rt_lines got = run_wp(rt_backends[_i], 12288, 3, t, "200s", "{type: session, gap: 1s}");
    /* reference: per key, rows by time, a new session where the next time is more than gap on */
    struct rt_lines want = {0};
    int64_t *ts = malloc(12288 * sizeof *ts), *seqs = malloc(12288 * sizeof *seqs);
    for (int64_t s = 0; s < 12288; s++)
        ts[s] = s < 4096 ? (s % 2 == 0 ? s * 10 : 100000 + s * 10) : s < 8192 ? 40960 + (s - 4096) * 15 : 200000 + (s - 8192) * 10;
    for (int64_t k = 0; k < 3; k++) {
        size_t n = 0;
        for (int64_t s = k; s < 12288; s += 3) seqs[n++] = s;
        /* sort the key's rows by time */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && ts[seqs[j - 1]] > ts[seqs[j]]; j--) {
                int64_t x = seqs[j];
                seqs[j] = seqs[j - 1];
                seqs[j - 1] = x;
            }
        size_t from = 0;
        for (size_t i = 1; i <= n; i++)
            if (i == n || ts[seqs[i]] > ts[seqs[i - 1]] + 1000) {
                rt_lines_push(&want, median_line(k, seqs + from, i - from, true, ts[seqs[from]], ts[seqs[i - 1]] + 1000));
                from = i;
            }
    }
    free(ts);
    free(seqs);
    ck_assert_uint_eq(want.n, 6);   /* per key: A + bridge + B, and the last cluster */
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
}
END_TEST

/* The reference for count windows: every `slide` rows of a key, its last `size` rows. */
static struct rt_lines expected_counts(int rows, int keys, int64_t size, int64_t slide)
{
    struct rt_lines want = {0};
    for (int64_t k = 0; k < keys; k++) {
        int64_t *seqs = malloc((size_t)rows * sizeof *seqs);
        size_t n = 0;
        for (int64_t s = k; s < rows; s += keys) {
            seqs[n++] = s;
            if ((int64_t)n % slide == 0) {
                size_t from = (int64_t)n > size ? n - (size_t)size : 0;
                rt_lines_push(&want, median_line(k, seqs + from, n - from, false, 0, 0));
            }
        }
        free(seqs);
    }
    return want;
}

START_TEST(window_process_count_windows_fire_every_slide_rows)
{
    struct rt_lines got = run_wp(rt_backends[_i], 20000, 7, "seq", "0ms", "{type: count, size: 100}");
    struct rt_lines want = expected_counts(20000, 7, 100, 100);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
    got = run_wp(rt_backends[_i], 20000, 7, "seq", "0ms", "{type: count, size: 250, slide: 60}");
    want = expected_counts(20000, 7, 250, 60);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
}
END_TEST

START_TEST(window_process_global_window_fires_at_the_end)
{
    struct rt_lines got = run_wp(rt_backends[_i], 15000, 4, "seq", "0ms", "{type: global}");
    struct rt_lines want = {0};
    int64_t *seqs = malloc(15000 * sizeof *seqs);
    for (int64_t k = 0; k < 4; k++) {
        size_t n = 0;
        for (int64_t s = k; s < 15000; s += 4) seqs[n++] = s;
        rt_lines_push(&want, median_line(k, seqs, n, false, 0, 0));
    }
    free(seqs);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
}
END_TEST

/* A bounded input ends long before a one-day processing-time window is due: the windows still
 * open fire at the end (every key's rows come out; two windows per key only if the run
 * straddles midnight UTC). */
START_TEST(window_process_processing_time_windows_fire_at_the_end_of_the_input)
{
    struct rt_lines got = run_wp(rt_backends[_i], 4000, 4, "seq", "0ms", "{type: tumbling, size: 1d, time: processing}");
    ck_assert_msg(got.n >= 4 && got.n <= 8, "%zu windows for 4 keys", got.n);
    rt_lines_free(&got);
}
END_TEST

START_TEST(window_function_plugin_of_another_abi_is_refused)
{
    rn_registry *reg = rt_registry();
    struct rn_error err;
    const char *path = rt_env_dir("RUNNEL_BAD_WINDOW_FN");
    ck_assert_int_ne(rn_registry_load_plugin(reg, path, &err), 0);
    ck_assert_msg(strstr(err.msg, "window-function ABI 2.0") && strstr(err.msg, "ABI 1.0"), "message: %s", err.msg);
    ck_assert_ptr_null(rn_registry_find_window_fn(reg, "from_the_future"));
    /* a built-in definition gets the same checks */
    rn_registry *with = registry_with_plugins();
    struct rn_window_fn_def def = *rn_registry_find_window_fn(with, "median_price");
    def.name = "median_again";
    def.struct_size = sizeof def - 8;
    ck_assert_int_ne(rn_registry_add_window_fn(reg, &def, &err), 0);
    ck_assert_msg(strstr(err.msg, "struct rn_window_fn_def"), "message: %s", err.msg);
    rn_registry_destroy(with);
    rn_registry_destroy(reg);
}
END_TEST

#define WP_GEN "operators:\n  - id: g\n    type: datagen\n    with: { fields: { k: seq, price: seq, t: \"to_timestamp(seq)\" } }\n" \
               "    watermark: { column: t, max_out_of_orderness: 0ms }\n"

START_TEST(window_process_bad_function_or_options_are_refused_with_their_position)
{
    rn_registry *reg = registry_with_plugins();
    rt_expect_invalid(reg, WP_GEN "  - { id: x, type: window_process, input: g, key_by: k, with: { window: { type: tumbling, size: 1s }, "
                               "function: median_prise } }\n",
                   "no window function 'median_prise'");
    rt_expect_invalid(reg, WP_GEN "  - { id: x, type: window_process, input: g, key_by: k, with: { window: { type: tumbling, size: 1s }, "
                               "function: median_price, options: { colum: price } } }\n",
                   "unknown option 'colum' for window function 'median_price'");
    rt_expect_invalid(reg, WP_GEN "  - { id: x, type: window_process, input: g, key_by: k, with: { window: { type: tumbling, size: 1s }, "
                               "function: median_price, options: { column: nope } } }\n",
                   "no column 'nope'");
    rt_expect_invalid(reg, WP_GEN "  - { id: x, type: window_process, input: g, key_by: k, with: { window: { type: tumbling, size: 1s }, "
                               "function: median_price, options: { column: [a, b] } } }\n",
                   "must be a string");
    rt_expect_invalid(reg, WP_GEN "  - { id: x, type: window_process, input: g, key_by: k, with: { window: { type: hopping, size: 1s }, "
                               "function: median_price } }\n",
                   "unknown window type");
    rt_expect_invalid(reg, WP_GEN "  - { id: x, type: window_process, input: g, with: { window: { type: global }, function: median_price } }\n",
                      "key_by");
    rn_registry_destroy(reg);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("topn");
    TCase *tc = tcase_create("topn");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, top_n_tumbling_keeps_exactly_n_first_arrived_winning_ties, 0, 2);
    tcase_add_loop_test(tc, top_n_tumbling_with_ties_keeps_every_row_tied_with_the_nth, 0, 2);
    tcase_add_loop_test(tc, top_n_sliding_windows_equal_a_direct_computation, 0, 2);
    tcase_add_loop_test(tc, top_n_at_parallelism_2_gives_the_same_results, 0, 2);
    tcase_add_loop_test(tc, top_n_drops_rows_whose_window_has_fired, 0, 2);
    tcase_add_loop_test(tc, top_n_over_window_results_keeps_each_windows_maximum, 0, 2);
    tcase_add_loop_test(tc, top_n_without_window_emits_each_keys_final_rows_at_the_end, 0, 2);
    tcase_add_loop_test(tc, top_n_nulls_first_and_ascending_order, 0, 2);
    tcase_add_test(tc, top_n_bad_options_are_refused_with_their_position);
    tcase_add_loop_test(tc, window_process_calls_the_plugin_with_each_tumbling_windows_rows, 0, 2);
    tcase_add_loop_test(tc, window_process_sliding_windows_gather_every_pane, 0, 2);
    tcase_add_loop_test(tc, window_process_session_windows_merge_across_batches, 0, 2);
    tcase_add_loop_test(tc, window_process_count_windows_fire_every_slide_rows, 0, 2);
    tcase_add_loop_test(tc, window_process_global_window_fires_at_the_end, 0, 2);
    tcase_add_loop_test(tc, window_process_processing_time_windows_fire_at_the_end_of_the_input, 0, 2);
    tcase_add_test(tc, window_function_plugin_of_another_abi_is_refused);
    tcase_add_test(tc, window_process_bad_function_or_options_are_refused_with_their_position);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
