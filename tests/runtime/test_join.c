/*
 * test_join.c — the `join` runtime suite: window_join, interval_join and join run as real jobs
 * in-process (registry, validator, runner) on both state backends, their CSV output compared
 * with the same join computed here by nested loops over the generated inputs.
 *
 * The inputs are datagen sources whose fields are expressions over seq, mirrored in C below
 * (left_* and right_* functions). Event times are out of order by less than the watermark
 * bound, so no row is late and the expected output is the whole join; each test also checks
 * that the operator's late_dropped metric stayed 0.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/runner.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-join"); }
static void teardown(void) { tu_tmp_teardown(); }

/* ---- the inputs, as the jobs generate them ---- */

/* Windows and interval joins: left (k, t timestamp, lv), right (k, t int64, rv); times
 * shuffled by less than the 40 ms watermark bound. */
#define N_LEFT 3000
#define N_RIGHT 2000
static int64_t left_k(int64_t s) { return s % 5; }
static int64_t left_t(int64_t s) { return 1000 + s * 3 - (s * 7919) % 40; }
static int64_t right_k(int64_t s) { return s % 4; }
static int64_t right_t(int64_t s) { return 1000 + s * 4 - (s * 104729) % 30; }

#define TIMED_SOURCES                                                                                   \
    "  - id: l\n    type: datagen\n"                                                                    \
    "    with: { rows: 3000, rate_limit: 6000, fields: { k: \"seq %% 5\", t: \"to_timestamp(1000 + seq * 3 - (seq * 7919) %% 40)\", " \
    "lv: seq } }\n"                                                                                     \
    "    watermark: { column: t, max_out_of_orderness: 40ms }\n"                                        \
    "  - id: r\n    type: datagen\n"                                                                    \
    "    with: { rows: 2000, rate_limit: 4500, fields: { k: \"seq %% 4\", t: \"1000 + seq * 4 - (seq * 104729) %% 30\", rv: \"seq * 2\" } }\n" \
    "    watermark: { column: t, max_out_of_orderness: 40ms }\n"

static char *timed_job(const char *backend, const char *sdir, const char *op, const char *with, const char *out)
{
    return tu_fmt("state: { backend: %s, dir: %s }\noperators:\n" TIMED_SOURCES
                  "  - { id: j, type: %s, input: [l, r], key_by: k, with: %s }\n"
                  "  - { id: out, type: file_sink, input: j, with: { path: %s, format: csv } }\n",
                  backend, sdir, op, with, out);
}

static char *pair_line(int64_t ls, int64_t rs)
{
    return tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, left_k(ls), left_t(ls), ls,
                  right_k(rs), right_t(rs), rs * 2);
}

/* Runs a window or interval join over the timed sources and compares with want. */
static void run_timed(const char *backend, const char *op, const char *with, struct rt_lines *want)
{
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = timed_job(backend, sdir, op, with, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    uint64_t late = rt_run_ok(job, "j", "late_dropped");
    ck_assert_msg(late == 0, "%s: %" PRIu64 " rows dropped as late (the inputs stay within the bound)", backend, late);
    struct rt_lines got = rt_read_csv_parts(out);
    char *what = tu_fmt("%s %s", op, backend);
    rt_lines_expect_sorted(&got, want, what);
    free(what);
    rt_lines_free(&got);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir);
}

/* ---- window_join ---- */

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

START_TEST(window_join_tumbling_emits_the_pairs_of_each_key_and_window)
{
    const int64_t size = 100;
    struct rt_lines want = {0};
    for (int64_t ls = 0; ls < N_LEFT; ls++)
        for (int64_t rs = 0; rs < N_RIGHT; rs++) {
            if (left_k(ls) != right_k(rs)) continue;
            int64_t w = floor_div(left_t(ls), size);
            if (w != floor_div(right_t(rs), size)) continue;
            char *p = pair_line(ls, rs);
            rt_lines_push(&want, tu_fmt("%s,%" PRId64 ",%" PRId64, p, w * size, w * size + size));
            free(p);
        }
    ck_assert(want.n > 1000);
    run_timed(rt_backends[_i], "window_join", "{ window: { type: tumbling, size: 100ms }, right_prefix: r_ }", &want);
    rt_lines_free(&want);
}
END_TEST

START_TEST(window_join_sliding_emits_each_pair_once_per_shared_window)
{
    const int64_t size = 100, slide = 40;
    struct rt_lines want = {0};
    for (int64_t ls = 0; ls < N_LEFT; ls++)
        for (int64_t rs = 0; rs < N_RIGHT; rs++) {
            if (left_k(ls) != right_k(rs)) continue;
            int64_t lt = left_t(ls), rt = right_t(rs);
            /* every window [s, s + size) with s a multiple of slide that holds both */
            for (int64_t s = floor_div(lt, slide) * slide; s > lt - size; s -= slide) {
                if (rt < s || rt >= s + size) continue;
                char *p = pair_line(ls, rs);
                rt_lines_push(&want, tu_fmt("%s,%" PRId64 ",%" PRId64, p, s, s + size));
                free(p);
            }
        }
    ck_assert(want.n > 1000);
    run_timed(rt_backends[_i], "window_join", "{ window: { type: sliding, size: 100ms, slide: 40ms }, left_prefix: l_ }",
              &want);
    rt_lines_free(&want);
}
END_TEST

/* Session windows. The expected pairs: per key, the rows of both inputs sorted by time form
 * sessions (a row whose window [t, t + gap) overlaps or touches the session so far joins it);
 * every (left, right) pair of one session is emitted with the session's bounds. */
struct ev {
    int64_t t;
    int side;
    int64_t seq;
};
static int cmp_ev(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    return (x->t > y->t) - (x->t < y->t);
}

struct session_data {
    int nl, nr;
    int64_t gap;
    int64_t (*lk)(int64_t), (*lt)(int64_t), (*rk)(int64_t), (*rt)(int64_t);
    const char *lk_expr, *lt_expr, *rk_expr, *rt_expr;
    const char *bound;                    /* the watermark bound */
};

static void expected_sessions(const struct session_data *d, struct rt_lines *want)
{
    struct ev *evs = calloc((size_t)(d->nl + d->nr), sizeof *evs);
    ck_assert(evs);
    for (int64_t key = 0; key < 8; key++) {
        int n = 0;
        for (int64_t s = 0; s < d->nl; s++)
            if (d->lk(s) == key) evs[n++] = (struct ev){d->lt(s), 0, s};
        for (int64_t s = 0; s < d->nr; s++)
            if (d->rk(s) == key) evs[n++] = (struct ev){d->rt(s), 1, s};
        qsort(evs, (size_t)n, sizeof *evs, cmp_ev);
        for (int a = 0; a < n;) {
            int z = a + 1;
            int64_t last = evs[a].t;
            while (z < n && evs[z].t <= last + d->gap) {
                /* a gap of exactly `gap` touches; the data keeps clear of it (a session that fired
                 * may not merge any more, so the result would depend on the watermark's timing) */
                ck_assert(evs[z].t != last + d->gap);
                if (evs[z].t > last) last = evs[z].t;
                z++;
            }
            for (int i = a; i < z; i++)
                for (int j = a; j < z; j++) {
                    if (evs[i].side != 0 || evs[j].side != 1) continue;
                    int64_t ls = evs[i].seq, rs = evs[j].seq;
                    rt_lines_push(want, tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
                                               ",%" PRId64 ",%" PRId64,
                                               d->lk(ls), d->lt(ls), ls, d->rk(rs), d->rt(rs), rs, evs[a].t, last + d->gap));
                }
            a = z;
        }
    }
    free(evs);
}

static void check_sessions(const char *backend, const struct session_data *d)
{
    struct rt_lines want = {0};
    expected_sessions(d, &want);
    ck_assert(want.n > 100);
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: l\n    type: datagen\n"
                        "    with: { rows: %d, rate_limit: %d, fields: { k: \"%s\", t: \"%s\", lv: seq } }\n"
                        "    watermark: { column: t, max_out_of_orderness: %s }\n"
                        "  - id: r\n    type: datagen\n"
                        "    with: { rows: %d, rate_limit: %d, fields: { k: \"%s\", t: \"%s\", rv: seq } }\n"
                        "    watermark: { column: t, max_out_of_orderness: %s }\n"
                        "  - { id: j, type: window_join, input: [l, r], key_by: k, with: { window: { type: session, gap: %"
                        PRId64 "ms }, right_prefix: r_ } }\n"
                        "  - { id: out, type: file_sink, input: j, with: { path: %s, format: csv } }\n",
                        backend, sdir, d->nl, d->nl * 2, d->lk_expr, d->lt_expr, d->bound, d->nr, d->nr * 2, d->rk_expr, d->rt_expr, d->bound,
                        d->gap, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    ck_assert_uint_eq(rt_run_ok(job, "j", "late_dropped"), 0);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, backend);
    rt_lines_free(&got);
    rt_lines_free(&want);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir);
}

/* Bursts every 500 ms (left) and 700 ms (right); within a left burst a key's rows come at
 * offsets 0, 60, 30, 90 ms, so the third row bridges two sessions. */
static int64_t s1_lk(int64_t s) { return s % 3; }
static int64_t s1_lt(int64_t s)
{
    static const int64_t offs[4] = {0, 60, 30, 90};
    return 1000 + (s / 12) * 500 + offs[(s % 12) / 3];
}
static int64_t s1_rk(int64_t s) { return s % 2; }
static int64_t s1_rt(int64_t s) { return 1200 + (s / 8) * 700 + (s % 8) * 5; }

START_TEST(window_join_session_pairs_rows_of_merged_sessions)
{
    struct session_data d = {
        600, 400, 40, s1_lk, s1_lt, s1_rk, s1_rt,
        "seq % 3",
        "1000 + (seq / 12) * 500 + CASE WHEN (seq % 12) / 3 = 0 THEN 0 WHEN (seq % 12) / 3 = 1 THEN 60 "
        "WHEN (seq % 12) / 3 = 2 THEN 30 ELSE 90 END",
        "seq % 2", "1200 + (seq / 8) * 700 + (seq % 8) * 5", "70ms",
    };
    check_sessions(rt_backends[_i], &d);
}
END_TEST

/* The first 4096 left rows (one batch) open two sessions per key and burst (offsets 0 and
 * 60 ms); the next batch brings, for every burst, a row at 30 ms that bridges the two stored
 * sessions (the watermark bound is long enough that nothing fired yet): their rows move into
 * one session. */
static int64_t s2_lt(int64_t s)
{
    return s < 4096 ? 1000 + (s / 6) * 500 + ((s % 6) / 3) * 60 : 1000 + ((s - 4096) / 3) * 500 + 30;
}
static int64_t s2_rt(int64_t s) { return 1000 + (s / 2) * 500 + 45; }

START_TEST(window_join_session_row_bridging_stored_sessions_merges_them)
{
    struct session_data d = {
        6144, 1366, 40, s1_lk, s2_lt, s1_rk, s2_rt,
        "seq % 3",
        "CASE WHEN seq < 4096 THEN 1000 + (seq / 6) * 500 + ((seq % 6) / 3) * 60 "
        "ELSE 1000 + ((seq - 4096) / 3) * 500 + 30 END",
        "seq % 2", "1000 + (seq / 2) * 500 + 45", "1h",
    };
    check_sessions(rt_backends[_i], &d);
}
END_TEST

/* ---- interval_join ---- */

static void check_interval(const char *backend, int64_t lo, int64_t hi, bool lo_excl, bool hi_excl)
{
    struct rt_lines want = {0};
    for (int64_t ls = 0; ls < N_LEFT; ls++)
        for (int64_t rs = 0; rs < N_RIGHT; rs++) {
            if (left_k(ls) != right_k(rs)) continue;
            int64_t lt = left_t(ls), rt = right_t(rs);
            bool above = lo_excl ? rt > lt + lo : rt >= lt + lo;
            bool below = hi_excl ? rt < lt + hi : rt <= lt + hi;
            if (above && below) rt_lines_push(&want, pair_line(ls, rs));
        }
    ck_assert(want.n > 1000);
    char *with = tu_fmt("{ between: [%" PRId64 "ms, %" PRId64 "ms], lower_exclusive: %s, upper_exclusive: %s, right_prefix: r_ }",
                        lo, hi, lo_excl ? "true" : "false", hi_excl ? "true" : "false");
    run_timed(backend, "interval_join", with, &want);
    free(with);
    rt_lines_free(&want);
}

START_TEST(interval_join_with_asymmetric_bounds_over_out_of_order_input)
{
    check_interval(rt_backends[_i], -30, 10, false, false);
}
END_TEST

START_TEST(interval_join_exclusive_bounds_leave_out_the_ends)
{
    check_interval(rt_backends[_i], -30, 10, true, true);
}
END_TEST

START_TEST(interval_join_with_bounds_entirely_in_the_past)
{
    /* every partner lies 40 to 20 ms before the left row: the left rows are never stored for
     * long, the right ones until the watermark passes r.t + 40 */
    check_interval(rt_backends[_i], -40, -20, false, false);
}
END_TEST

/* ---- join ---- */

/* left (k nullable, lv, s string), right (k, rv nullable, rs string) */
#define J_LEFT 2000
#define J_RIGHT 1500
static bool jl_null(int64_t s) { return s % 11 == 0; }
static int64_t jl_k(int64_t s, int64_t keys) { return s % keys; }
static int64_t jr_k(int64_t s) { return s % 50; }
static bool jr_null(int64_t s) { return s % 13 == 0; }

static char *jl_text(int64_t s, int64_t keys)
{
    if (jl_null(s)) return tu_fmt(",%" PRId64 ",x%" PRId64, s, s);
    return tu_fmt("%" PRId64 ",%" PRId64 ",x%" PRId64, jl_k(s, keys), s, s);
}
static char *jr_text(int64_t s)
{
    if (jr_null(s)) return tu_fmt("%" PRId64 ",,y%" PRId64, jr_k(s), s % 7);
    return tu_fmt("%" PRId64 ",%" PRId64 ",y%" PRId64, jr_k(s), s * 3, s % 7);
}

/* The expected output of a join: pairs of equal non-null keys, and for a left join each left
 * row without one (NULL key or a key the right never has) with NULLs. */
static void expected_join(bool left, int64_t keys, struct rt_lines *want)
{
    for (int64_t ls = 0; ls < J_LEFT; ls++) {
        bool matched = false;
        char *l = jl_text(ls, keys);
        for (int64_t rs = 0; rs < J_RIGHT && !jl_null(ls); rs++) {
            if (jl_k(ls, keys) != jr_k(rs)) continue;
            char *r = jr_text(rs);
            rt_lines_push(want, tu_fmt("%s,%s", l, r));
            free(r);
            matched = true;
        }
        if (left && !matched) rt_lines_push(want, tu_fmt("%s,,,", l));
        free(l);
    }
}

static char *join_job(const char *backend, const char *sdir, int parallelism, int64_t keys, const char *with,
                      const char *right_rate, const char *out)
{
    return tu_fmt("state: { backend: %s, dir: %s }\nparallelism: %d\noperators:\n"
                  "  - id: a\n    type: datagen\n"
                  "    with: { rows: %d, rate_limit: 8000, fields: { k: \"CASE WHEN seq %% 11 = 0 THEN CAST(NULL AS int64) ELSE seq %% %" PRId64
                  " END\", lv: seq, s: \"concat('x', seq)\" } }\n"
                  "  - id: b\n    type: datagen\n"
                  "    with: { rows: %d%s, fields: { k: \"seq %% 50\", rv: \"CASE WHEN seq %% 13 = 0 THEN CAST(NULL AS int64) "
                  "ELSE seq * 3 END\", rs: \"concat('y', seq %% 7)\" } }\n"
                  "  - { id: j, type: join, input: [a, b], key_by: k, with: %s }\n"
                  "  - { id: out, type: file_sink, input: j, with: { path: %s, format: csv } }\n",
                  backend, sdir, parallelism, J_LEFT, keys, J_RIGHT, right_rate, with, out);
}

/* Runs a join job; returns its output lines (sorted). */
static struct rt_lines run_join(const char *backend, int parallelism, int64_t keys, const char *with, const char *right_rate)
{
    rn_registry *reg = rt_registry();
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = join_job(backend, sdir, parallelism, keys, with, right_rate, out);
    struct rn_job *job = rt_parse_ok(reg, text);
    rt_run_ok(job, "j", "null_keys");
    struct rt_lines got = rt_read_csv_parts(out);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir);
    return got;
}

/* Runs the join at parallelism 1 and 2 (right input at 6,000 rows/s) and compares each output
 * with the nested-loop join, which must have more than min_want rows. */
static void check_join_p1_p2(const char *backend, bool left, int64_t keys, const char *with, size_t min_want)
{
    for (int p = 1; p <= 2; p++) {
        struct rt_lines want = {0};
        expected_join(left, keys, &want);
        ck_assert(want.n > min_want);
        struct rt_lines got = run_join(backend, p, keys, with, ", rate_limit: 6000");
        char *what = tu_fmt("%s P=%d", backend, p);
        rt_lines_expect_sorted(&got, &want, what);
        free(what);
        rt_lines_free(&got);
        rt_lines_free(&want);
    }
}

START_TEST(join_inner_emits_every_pair_of_equal_keys)
{
    check_join_p1_p2(rt_backends[_i], false, 60, "{ type: inner, right_prefix: r_ }", 10000);
}
END_TEST

START_TEST(join_left_emits_unmatched_left_rows_with_nulls_at_end_of_input)
{
    check_join_p1_p2(rt_backends[_i], true, 70, "{ type: left, right_prefix: r_ }", 0);
}
END_TEST

START_TEST(join_with_a_ttl_longer_than_the_job_equals_the_join_without)
{
    for (int left = 0; left <= 1; left++) {
        struct rt_lines want = {0};
        expected_join(left, 70, &want);
        struct rt_lines got = run_join(rt_backends[_i], 1, 70, left ? "{ type: left, ttl: 1h, right_prefix: r_ }"
                                                              : "{ type: inner, ttl: 1h, right_prefix: r_ }",
                                     ", rate_limit: 6000");
        rt_lines_expect_sorted(&got, &want, left ? "left, ttl 1h" : "inner, ttl 1h");
        rt_lines_free(&got);
        rt_lines_free(&want);
    }
}
END_TEST

/* The left-row part (the first three fields) of an output line, and whether the right part is
 * all NULL. */
static char *left_part(const char *line, bool *nulls)
{
    const char *p = line;
    for (int i = 0; i < 3; i++) p = strchr(p, ',') + 1;
    *nulls = !strcmp(p, ",,");
    return strndup(line, (size_t)(p - 1 - line));
}

START_TEST(join_left_with_a_ttl_emits_each_left_row_matched_or_once_with_nulls)
{
    /* ttl 1 ms and a right input throttled to 2,000 rows/s: most left rows expire before their
     * partners come. Whatever the timing, every output pair is a true pair, no pair repeats,
     * and every left row leaves either in pairs or once with NULLs (at expiry or at the end). */
    struct rt_lines full = {0};
    expected_join(true, 70, &full);
    rt_lines_sort(&full);
    struct rt_lines got = run_join(rt_backends[_i], 1, 70, "{ type: left, ttl: 1ms, right_prefix: r_ }", ", rate_limit: 2000");
    static int matched[J_LEFT], with_nulls[J_LEFT];
    memset(matched, 0, sizeof matched);
    memset(with_nulls, 0, sizeof with_nulls);
    for (size_t i = 0; i < got.n; i++) {
        ck_assert_msg(i == 0 || strcmp(got.v[i - 1], got.v[i]), "repeated row %s", got.v[i]);
        bool nulls;
        char *l = left_part(got.v[i], &nulls);
        const char *lv = strchr(l, ',') + 1;
        long s = strtol(lv, NULL, 10);
        ck_assert(s >= 0 && s < J_LEFT);
        if (nulls) {
            with_nulls[s]++;
        } else {
            matched[s]++;
            ck_assert_msg(bsearch(&got.v[i], full.v, full.n, sizeof *full.v, rt_cmp_line), "not a pair of the join: %s", got.v[i]);
        }
        free(l);
    }
    for (int s = 0; s < J_LEFT; s++)
        ck_assert_msg((matched[s] > 0 && with_nulls[s] == 0) || (matched[s] == 0 && with_nulls[s] == 1),
                      "left row %d: %d pairs and %d rows with NULLs", s, matched[s], with_nulls[s]);
    rt_lines_free(&got);
    rt_lines_free(&full);
}
END_TEST

/* ---- plan errors ---- */

#define TWO_SOURCES                                                                                     \
    "operators:\n"                                                                                      \
    "  - id: l\n    type: datagen\n    with: { fields: { k: seq, t: \"to_timestamp(seq)\", s: \"'a'\" } }\n" \
    "    watermark: { column: t, max_out_of_orderness: 0ms }\n"                                         \
    "  - id: r\n    type: datagen\n    with: { fields: { k: seq, t: \"to_timestamp(seq)\", window_start: seq } }\n" \
    "    watermark: { column: t, max_out_of_orderness: 0ms }\n"

START_TEST(a_column_name_clash_is_refused_with_a_prefix_suggested)
{
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: join, input: [l, r], key_by: k }\n", "output column 'k'");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: join, input: [l, r], key_by: k }\n", "right_prefix");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: interval_join, input: [l, r], key_by: k, with: { between: [-1s, 1s], "
                               "left_prefix: x, right_prefix: x } }\n",
                   "output column 'xk'");
    /* window_join adds window_start, which the right input has */
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: window_join, input: [l, r], key_by: k, with: { window: "
                               "{ type: tumbling, size: 1s }, left_prefix: l_ } }\n",
                   "column 'window_start' of the right input clashes");
}
END_TEST

START_TEST(keys_of_different_types_are_refused)
{
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: join, input: [l, r], key_by: { l: s, r: k }, with: { right_prefix: r_ } }\n",
                      "one type");
}
END_TEST

START_TEST(bad_join_options_are_refused)
{
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: join, input: [l, r], key_by: k, with: { type: outer, right_prefix: r_ } }\n",
                      "inner or left");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: interval_join, input: [l, r], key_by: k, with: { between: [1s], "
                               "right_prefix: r_ } }\n",
                   "two durations");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: interval_join, input: [l, r], key_by: k, with: { between: [1s, -1s], "
                               "right_prefix: r_ } }\n",
                   "lower bound is above");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: interval_join, input: [l, r], key_by: k, with: { between: [soon, 1s], "
                               "right_prefix: r_ } }\n",
                   "signed duration");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: window_join, input: [l, r], key_by: k, with: { window: "
                               "{ type: count, size: 10 }, right_prefix: r_ } }\n",
                   "tumbling, sliding or session");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: window_join, input: [l, r], key_by: k, with: { window: "
                               "{ type: tumbling, size: 1s, time: processing }, right_prefix: r_ } }\n",
                   "event time");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: interval_join, input: [l, r], key_by: k, with: { between: [-1s, 1s], "
                               "left_time: nope, right_prefix: r_ } }\n",
                   "no column 'nope'");
    rt_expect_invalid(NULL, TWO_SOURCES "  - { id: j, type: join, input: [l], key_by: k }\n", "input");
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("join");
    TCase *tc = tcase_create("join");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, window_join_tumbling_emits_the_pairs_of_each_key_and_window, 0, 2);
    tcase_add_loop_test(tc, window_join_sliding_emits_each_pair_once_per_shared_window, 0, 2);
    tcase_add_loop_test(tc, window_join_session_pairs_rows_of_merged_sessions, 0, 2);
    tcase_add_loop_test(tc, window_join_session_row_bridging_stored_sessions_merges_them, 0, 2);
    tcase_add_loop_test(tc, interval_join_with_asymmetric_bounds_over_out_of_order_input, 0, 2);
    tcase_add_loop_test(tc, interval_join_exclusive_bounds_leave_out_the_ends, 0, 2);
    tcase_add_loop_test(tc, interval_join_with_bounds_entirely_in_the_past, 0, 2);
    tcase_add_loop_test(tc, join_inner_emits_every_pair_of_equal_keys, 0, 2);
    tcase_add_loop_test(tc, join_left_emits_unmatched_left_rows_with_nulls_at_end_of_input, 0, 2);
    tcase_add_loop_test(tc, join_with_a_ttl_longer_than_the_job_equals_the_join_without, 0, 2);
    tcase_add_loop_test(tc, join_left_with_a_ttl_emits_each_left_row_matched_or_once_with_nulls, 0, 2);
    tcase_add_test(tc, a_column_name_clash_is_refused_with_a_prefix_suggested);
    tcase_add_test(tc, keys_of_different_types_are_refused);
    tcase_add_test(tc, bad_join_options_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
