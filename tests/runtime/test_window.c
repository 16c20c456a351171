/*
 * test_window.c — the `window` runtime suite: window_aggregate through real jobs run in-process
 * (registry, validator, runner) on both state backends. Every result is compared with the same
 * windows computed here in C by a direct simulation of the semantics (Flink's: window
 * assignment, watermark = max seen - bound - 1 after every source batch of 4096 rows, firing at
 * end - 1, allowed lateness, late rows), row by row.
 */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/aggregate.h"
#include "runnel/runner.h"
#include "rtutil.h"
#include "testutil.h"

static void setup(void) { tu_tmp_setup("runnel-window"); }
static void teardown(void) { tu_tmp_teardown(); }

/* ---- the simulation of keyed tumbling/sliding event-time windows ---- */

/* The job's input, row seq: key, value (or null), event time. */
struct row {
    int64_t k, v, ts;
    bool vnull;
};
typedef void (*gen_fn)(int64_t seq, struct row *r);

#define VMIN (-300)
#define VDOM 1000   /* values are VMIN .. VMIN + VDOM - 1 */

/* The aggregates every job here computes: n: count(*), s: sum(v), lo: min(v), hi: max(v),
 * d: count_distinct(v), f: first(v), l: last(v), mean: avg(v). */
#define AGGS "{ n: count(*), s: sum(v), lo: min(v), hi: max(v), d: count_distinct(v), f: first(v), l: last(v), mean: avg(v) }"
#define AGGS_NO_ORDER "{ n: count(*), s: sum(v), lo: min(v), hi: max(v), d: count_distinct(v), mean: avg(v) }"

struct acc {
    int64_t n, nv, s, lo, hi, f, l, d;
    uint8_t *seen;
};

static void acc_add(struct acc *a, const struct row *r)
{
    a->n++;
    if (r->vnull) return;
    if (!a->seen) a->seen = calloc(VDOM, 1);
    if (!a->nv) a->lo = a->hi = a->f = r->v;
    if (r->v < a->lo) a->lo = r->v;
    if (r->v > a->hi) a->hi = r->v;
    a->l = r->v;
    a->nv++;
    a->s += r->v;
    if (!a->seen[r->v - VMIN]) a->seen[r->v - VMIN] = 1, a->d++;
}

/* "k,start,end,n,s,lo,hi,d,f,l,mean" (with_order) or without f and l; NULLs empty. */
static char *acc_line(int64_t k, bool bounds, int64_t ws, int64_t we, const struct acc *a, bool with_order)
{
    char b[64] = "", mean[48] = "", s[32] = "", lo[32] = "", hi[32] = "", f[32] = "", l[32] = "";
    if (bounds) snprintf(b, sizeof b, "%" PRId64 ",%" PRId64, ws, we);
    else snprintf(b, sizeof b, ",");
    if (a->nv) {
        rn_double_format((double)a->s / (double)a->nv, mean);
        snprintf(s, sizeof s, "%" PRId64, a->s);
        snprintf(lo, sizeof lo, "%" PRId64, a->lo);
        snprintf(hi, sizeof hi, "%" PRId64, a->hi);
        snprintf(f, sizeof f, "%" PRId64, a->f);
        snprintf(l, sizeof l, "%" PRId64, a->l);
    }
    if (with_order)
        return tu_fmt("%" PRId64 ",%s,%" PRId64 ",%s,%s,%s,%" PRId64 ",%s,%s,%s", k, b, a->n, s, lo, hi, a->d, f, l, mean);
    return tu_fmt("%" PRId64 ",%s,%" PRId64 ",%s,%s,%s,%" PRId64 ",%s", k, b, a->n, s, lo, hi, a->d, mean);
}

struct sim {
    int64_t size, slide, bound, lateness;
    int nkeys;
    int64_t wmin, nwin;          /* window index = (start - wmin) / slide */
    struct acc *acc;             /* [key][window] */
    bool *fired;
    struct rt_lines out;
    struct rt_lines late;           /* rows dropped as late: "k,v,ts" */
    bool with_order;
    int64_t trig;                   /* count trigger: emit at multiples of trig rows, not at the end */
};

static int64_t floor_mod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static struct acc *sim_acc(struct sim *s, int64_t k, int64_t start, bool **fired)
{
    int64_t i = (start - s->wmin) / s->slide;
    ck_assert(i >= 0 && i < s->nwin && k >= 0 && k < s->nkeys);
    *fired = &s->fired[k * s->nwin + i];
    return &s->acc[k * s->nwin + i];
}

/* Runs rows 0..rows of gen through the windows, in source batches of 4096 rows. */
static void simulate(struct sim *s, gen_fn gen, int64_t rows)
{
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    for (int64_t q = 0; q < rows; q++) {
        struct row r;
        gen(q, &r);
        if (r.ts < tmin) tmin = r.ts;
        if (r.ts > tmax) tmax = r.ts;
    }
    s->wmin = tmin - floor_mod(tmin, s->slide) - (s->size + s->slide - 1) / s->slide * s->slide;
    s->nwin = (tmax - s->wmin) / s->slide + 2;
    s->acc = calloc((size_t)(s->nkeys * s->nwin), sizeof *s->acc);
    s->fired = calloc((size_t)(s->nkeys * s->nwin), sizeof *s->fired);
    int64_t wm = INT64_MIN, maxts = INT64_MIN;
    int64_t *re = malloc(sizeof *re * 2 * 4096 * (size_t)(s->size / s->slide + 1));
    for (int64_t b0 = 0; b0 < rows; b0 += 4096) {
        size_t nre = 0;
        for (int64_t q = b0; q < rows && q < b0 + 4096; q++) {
            struct row r;
            gen(q, &r);
            if (r.ts > maxts) maxts = r.ts;
            bool placed = false;
            for (int64_t w = r.ts - floor_mod(r.ts, s->slide); w > r.ts - s->size; w -= s->slide) {
                if (w + s->size - 1 + s->lateness <= wm) continue;   /* that window is gone */
                bool *fired;
                acc_add(sim_acc(s, r.k, w, &fired), &r);
                placed = true;
                bool emit = s->trig ? sim_acc(s, r.k, w, &fired)->n % s->trig == 0 : w + s->size - 1 <= wm;
                if (emit) re[2 * nre] = r.k, re[2 * nre + 1] = w, nre++;
            }
            if (!placed) {
                char v[32] = "";
                if (!r.vnull) snprintf(v, sizeof v, "%" PRId64, r.v);
                rt_lines_push(&s->late, tu_fmt("%" PRId64 ",%s,%" PRId64, r.k, v, r.ts));
            }
        }
        /* late firings (count trigger: the windows that reached a multiple of trig rows): once per
         * (key, window) per batch, with the whole batch in */
        for (size_t i = 0; i < nre; i++) {
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++) dup = re[2 * j] == re[2 * i] && re[2 * j + 1] == re[2 * i + 1];
            if (dup) continue;
            bool *fired;
            struct acc *a = sim_acc(s, re[2 * i], re[2 * i + 1], &fired);
            *fired = true;
            rt_lines_push(&s->out, acc_line(re[2 * i], true, re[2 * i + 1], re[2 * i + 1] + s->size, a, s->with_order));
        }
        int64_t nwm = b0 + 4096 >= rows ? INT64_MAX : maxts - s->bound - 1;
        if (nwm <= wm) continue;
        wm = nwm;
        if (s->trig) continue;   /* the count trigger replaces the firing at the end */
        for (int64_t k = 0; k < s->nkeys; k++)
            for (int64_t i = 0; i < s->nwin; i++) {
                int64_t w = s->wmin + i * s->slide;
                struct acc *a = &s->acc[k * s->nwin + i];
                bool *fired = &s->fired[k * s->nwin + i];
                if (!a->n || *fired || w + s->size - 1 > wm) continue;
                *fired = true;
                rt_lines_push(&s->out, acc_line(k, true, w, w + s->size, a, s->with_order));
            }
    }
    free(re);
}

static void sim_free(struct sim *s)
{
    for (int64_t i = 0; i < s->nkeys * s->nwin; i++) free(s->acc[i].seen);
    free(s->acc);
    free(s->fired);
    rt_lines_free(&s->out);
    rt_lines_free(&s->late);
}

/* ---- inputs ---- */

#define V_EXPR "CASE WHEN seq % 13 = 0 THEN CAST(NULL AS int64) ELSE (seq * 7919) % 1000 - 300 END"
static void gen_value(int64_t seq, struct row *r)
{
    r->vnull = seq % 13 == 0;
    r->v = r->vnull ? 0 : (seq * 7919) % 1000 - 300;
}

/* in order: k = seq % 7, ts = 10 * seq */
#define IN_ORDER_FIELDS "{ k: \"seq % 7\", v: \"" V_EXPR "\", t: \"to_timestamp(seq * 10)\" }"
static void gen_in_order(int64_t seq, struct row *r)
{
    gen_value(seq, r);
    r->k = seq % 7;
    r->ts = seq * 10;
}

/* out of order by up to 300 ms either way */
#define OOO_FIELDS "{ k: \"seq % 7\", v: \"" V_EXPR "\", t: \"to_timestamp(1000 + seq * 10 + ((seq * 7919) % 13 - 6) * 50)\" }"
static void gen_ooo(int64_t seq, struct row *r)
{
    gen_value(seq, r);
    r->k = seq % 7;
    r->ts = 1000 + seq * 10 + ((seq * 7919) % 13 - 6) * 50;
}

/* in order, except every 1000th row from the second batch on, 30 s behind */
#define LATE_FIELDS "{ k: \"seq % 7\", v: \"" V_EXPR "\", t: \"to_timestamp(CASE WHEN seq % 1000 = 500 AND seq >= 4096 THEN seq * 10 - 30000 ELSE seq * 10 END)\" }"
static void gen_late(int64_t seq, struct row *r)
{
    gen_value(seq, r);
    r->k = seq % 7;
    r->ts = seq % 1000 == 500 && seq >= 4096 ? seq * 10 - 30000 : seq * 10;
}

/* A window_aggregate job: datagen (fields, rows) with a watermark -> window_aggregate -> csv. */
static char *window_job(int parallelism, const char *backend, const char *sdir, int64_t rows, const char *fields,
                        int64_t bound_ms, const char *window, const char *aggs, const char *extra, const char *out)
{
    return tu_fmt("name: w\nparallelism: %d\nstate: { backend: %s, dir: %s }\noperators:\n"
                  "  - id: gen\n    type: datagen\n    with: { rows: %" PRId64 ", fields: %s }\n"
                  "    watermark: { column: t, max_out_of_orderness: %" PRId64 "ms }\n"
                  "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                  "    with: { window: %s, aggregates: %s%s }\n"
                  "  - { id: out, type: file_sink, input: w, with: { path: %s, format: csv } }\n",
                  parallelism, backend, sdir, rows, fields, bound_ms, window, aggs, extra, out);
}

/* Runs a job and compares its rows with the simulation's. */
static void check_windows_trig(int parallelism, const char *backend, int64_t rows, const char *fields, gen_fn gen,
                               int64_t bound, int64_t size, int64_t slide, int64_t lateness, const char *extra,
                               bool with_order, int64_t trig)
{
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char window[128];
    if (slide == size) snprintf(window, sizeof window, "{ type: tumbling, size: %" PRId64 "ms }", size);
    else snprintf(window, sizeof window, "{ type: sliding, size: %" PRId64 "ms, slide: %" PRId64 "ms }", size, slide);
    char ext[256];
    snprintf(ext, sizeof ext, ", allowed_lateness: %" PRId64 "ms%s", lateness, extra);
    if (trig) snprintf(ext + strlen(ext), sizeof ext - strlen(ext), ", trigger: { type: count, count: %" PRId64 " }", trig);
    char *text = window_job(parallelism, backend, sdir, rows, fields, bound, window, with_order ? AGGS : AGGS_NO_ORDER,
                            ext, out);
    rt_run_text_ok(NULL, text);
    struct sim s = {.size = size, .slide = slide, .bound = bound, .lateness = lateness, .nkeys = 7, .with_order = with_order,
                    .trig = trig};
    simulate(&s, gen, rows);
    struct rt_lines got = rt_read_csv_parts(out);
    char *what = tu_fmt("%s P=%d %s%s", backend, parallelism, window, ext);
    rt_lines_expect_sorted(&got, &s.out, what);
    free(what);
    rt_lines_free(&got);
    sim_free(&s);
    free(text);
    free(out);
    free(sdir);
}

static void check_windows(int parallelism, const char *backend, int64_t rows, const char *fields, gen_fn gen,
                          int64_t bound, int64_t size, int64_t slide, int64_t lateness, const char *extra, bool with_order)
{
    check_windows_trig(parallelism, backend, rows, fields, gen, bound, size, slide, lateness, extra, with_order, 0);
}

/* Loop tests run 4 ways: both backends, with the accumulator cache big (the default) and tiny
 * (3 entries: every batch spills to the backend, and firing reads it back). */
static const char *backend_of(int i) { return rt_backends[i % 2]; }
static const char *cache_of(int i) { return i / 2 ? ", cache_entries: 3" : ""; }

START_TEST(tumbling_windows_equal_a_direct_computation)
{
    check_windows(1, backend_of(_i), 30000, IN_ORDER_FIELDS, gen_in_order, 0, 1000, 1000, 0, cache_of(_i), true);
}
END_TEST

START_TEST(tumbling_windows_at_parallelism_2)
{
    /* two source subtasks: the rows of a key arrive interleaved, so first/last are left out */
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = window_job(2, rt_backends[_i], sdir, 30000, IN_ORDER_FIELDS, 0, "{ type: tumbling, size: 1s }",
                            AGGS_NO_ORDER, "", out);
    rt_run_text_ok(NULL, text);
    /* every window complete: the same as one big batch with the final watermark */
    struct sim s = {.size = 1000, .slide = 1000, .bound = INT64_MAX / 4, .nkeys = 7};
    simulate(&s, gen_in_order, 30000);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &s.out, rt_backends[_i]);
    rt_lines_free(&got);
    sim_free(&s);
    free(text);
    free(out);
    free(sdir);
}
END_TEST

START_TEST(sliding_windows_equal_a_direct_computation)
{
    /* size/slide ratios: 5 (panes of one slide), 10/3 (panes of 100 ms: gcd), 2, and 1 */
    static const int64_t shapes[][2] = {{1000, 200}, {1000, 300}, {2000, 1000}, {700, 700}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        check_windows(1, backend_of(_i), 12000, IN_ORDER_FIELDS, gen_in_order, 0, shapes[i][0], shapes[i][1], 0,
                      cache_of(_i), true);
}
END_TEST

START_TEST(out_of_order_rows_within_the_bound_are_all_counted)
{
    /* rows up to 300 ms out of order, bound 400 ms: none late; first/last in arrival order */
    check_windows(1, backend_of(_i), 30000, OOO_FIELDS, gen_ooo, 400, 1000, 1000, 0, cache_of(_i), true);
    check_windows(1, backend_of(_i), 12000, OOO_FIELDS, gen_ooo, 400, 1000, 250, 0, cache_of(_i), false);
}
END_TEST

START_TEST(out_of_order_rows_past_the_bound_are_dropped)
{
    /* bound 100 ms: some rows 300 ms behind come after their window fired */
    check_windows(1, backend_of(_i), 30000, OOO_FIELDS, gen_ooo, 100, 1000, 1000, 0, cache_of(_i), true);
}
END_TEST

START_TEST(late_rows_are_dropped_and_counted)
{
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = window_job(1, backend_of(_i), sdir, 40000, LATE_FIELDS, 0, "{ type: tumbling, size: 1s }", AGGS,
                            cache_of(_i), out);
    rn_registry *reg = rt_registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    uint64_t dropped = rt_run_ok(job, "w", "late_dropped");
    struct sim s = {.size = 1000, .slide = 1000, .nkeys = 7, .with_order = true};
    simulate(&s, gen_late, 40000);
    ck_assert_msg(s.late.n > 10, "the input has late rows (%zu)", s.late.n);
    ck_assert_uint_eq(dropped, s.late.n);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &s.out, backend_of(_i));
    rt_lines_free(&got);
    sim_free(&s);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir);
}
END_TEST

START_TEST(late_rows_within_allowed_lateness_update_and_re_emit_their_window)
{
    /* 20 s of lateness: some of the 30 s late rows are within it (their windows fire again),
     * some are not */
    check_windows(1, backend_of(_i), 40000, LATE_FIELDS, gen_late, 0, 1000, 1000, 20000, cache_of(_i), true);
    /* (sliding: first/last combine panes in time order, not the late rows' arrival order) */
    check_windows(1, backend_of(_i), 40000, LATE_FIELDS, gen_late, 0, 2000, 500, 20000, cache_of(_i), false);
}
END_TEST

START_TEST(late_rows_go_to_the_late_output)
{
    char *out = tu_tmp_path("out"), *late = tu_tmp_path("late"), *sdir = tu_tmp_path("state");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n    with: { rows: 40000, fields: %s }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                        "    with: { window: { type: tumbling, size: 1s }, aggregates: " AGGS
                        ", allowed_lateness: 5s, late_output: too_late }\n"
                        "  - { id: out, type: file_sink, input: w, with: { path: %s, format: csv } }\n"
                        "  - { id: late, type: file_sink, input: too_late, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir, LATE_FIELDS, out, late);
    rt_run_text_ok(NULL, text);
    struct sim s = {.size = 1000, .slide = 1000, .lateness = 5000, .nkeys = 7, .with_order = true};
    simulate(&s, gen_late, 40000);
    ck_assert(s.late.n > 10);
    struct rt_lines got = rt_read_csv_parts(out), got_late = rt_read_csv_parts(late);
    rt_lines_expect_sorted(&got, &s.out, "windows");
    rt_lines_expect_sorted(&got_late, &s.late, "late rows");
    rt_lines_free(&got);
    rt_lines_free(&got_late);
    sim_free(&s);
    free(text);
    free(out);
    free(late);
    free(sdir);
}
END_TEST

/* ---- sessions ---- */

/* Clusters of 40 rows (8 per key) 10 ms apart every 2 s; every 997th row (from cluster 3 on)
 * lands 6 s late in the gap between two earlier clusters of its key, bridging them. */
#define SESSION_FIELDS                                                                                         \
    "{ k: \"seq % 5\", v: \"" V_EXPR "\", t: \"to_timestamp(CASE WHEN seq % 997 = 0 AND seq >= 120 THEN "   \
    "(seq / 40 - 3) * 2000 + 1200 ELSE (seq / 40) * 2000 + (seq % 40) * 10 END)\" }"
static void gen_session(int64_t seq, struct row *r)
{
    gen_value(seq, r);
    r->k = seq % 5;
    r->ts = seq % 997 == 0 && seq >= 120 ? (seq / 40 - 3) * 2000 + 1200 : (seq / 40) * 2000 + (seq % 40) * 10;
}

/* The same, plus every 1009th row from seq 8192 on (after the first batch) long before every
 * other: late for every session (no session is open there). */
#define SESSION_LATE_FIELDS                                                                                    \
    "{ k: \"seq % 5\", v: \"" V_EXPR "\", t: \"to_timestamp(CASE WHEN seq % 1009 = 0 AND seq >= 8192 THEN "  \
    "-100000 - seq WHEN seq % 997 = 0 AND seq >= 120 THEN "                                      \
    "(seq / 40 - 3) * 2000 + 1200 ELSE (seq / 40) * 2000 + (seq % 40) * 10 END)\" }"
static bool session_row_is_late(int64_t seq) { return seq % 1009 == 0 && seq >= 8192; }

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sessions per key from all rows (none late): sorted times split where the next is more than
 * gap after the previous; session = [first, last + gap). */
static void expected_sessions(int64_t rows, int64_t gap, struct rt_lines *want, int64_t *n_bridging, bool skip_late)
{
    *n_bridging = 0;
    for (int64_t k = 0; k < 5; k++) {
        int64_t *seqs = malloc(sizeof *seqs * (size_t)rows), n = 0;
        struct row *rs = malloc(sizeof *rs * (size_t)rows);
        for (int64_t q = 0; q < rows; q++) {
            gen_session(q, &rs[q]);
            if (rs[q].k == k && !(skip_late && session_row_is_late(q))) seqs[n++] = q;
        }
        /* order by time */
        int64_t *ord = malloc(sizeof *ord * 2 * (size_t)n);
        for (int64_t i = 0; i < n; i++) ord[2 * i] = rs[seqs[i]].ts, ord[2 * i + 1] = seqs[i];
        qsort(ord, (size_t)n, 2 * sizeof *ord, cmp_i64);
        for (int64_t i = 0; i < n;) {
            int64_t j = i + 1;
            while (j < n && ord[2 * j] <= ord[2 * (j - 1)] + gap) j++;
            struct acc a = {0};
            for (int64_t x = i; x < j; x++) acc_add(&a, &rs[ord[2 * x + 1]]);
            rt_lines_push(want, acc_line(k, true, ord[2 * i], ord[2 * (j - 1)] + gap, &a, false));
            free(a.seen);
            i = j;
        }
        for (int64_t q = 0; q < rows; q++) *n_bridging += q % 997 == 0 && q >= 120 && rs[q].k == k;
        free(ord);
        free(rs);
        free(seqs);
    }
}

/* Runs the session job (gap 1 s, watermark bound 10 s: the bridging rows, 6 s behind, are not
 * late) at parallelism p and compares with expected_sessions; returns the expected number of
 * sessions and of bridging rows. */
static void check_sessions(int p, const char *backend, size_t *n_sessions, int64_t *bridging)
{
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = window_job(p, backend, sdir, 20000, SESSION_FIELDS, 10000, "{ type: session, gap: 1s }",
                            AGGS_NO_ORDER, "", out);
    rt_run_text_ok(NULL, text);
    struct rt_lines want = {0};
    expected_sessions(20000, 1000, &want, bridging, false);
    *n_sessions = want.n;
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, backend);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(out);
    free(sdir);
}

START_TEST(session_windows_merge_when_a_late_row_bridges_them)
{
    size_t n_sessions;
    int64_t bridging;
    check_sessions(1, rt_backends[_i], &n_sessions, &bridging);
    ck_assert(bridging > 10);
    /* without the bridging rows there would be one session per cluster and key: fewer here */
    ck_assert_uint_lt(n_sessions, 5 * 20000 / 40);
}
END_TEST

START_TEST(session_windows_at_parallelism_2)
{
    size_t n_sessions;
    int64_t bridging;
    check_sessions(2, rt_backends[_i], &n_sessions, &bridging);
}
END_TEST

START_TEST(session_rows_too_late_for_every_session_are_dropped)
{
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = window_job(1, rt_backends[_i], sdir, 20000, SESSION_LATE_FIELDS, 10000, "{ type: session, gap: 1s }",
                            AGGS_NO_ORDER, "", out);
    rn_registry *reg = rt_registry();
    struct rn_job *job = rt_parse_ok(reg, text);
    uint64_t dropped = rt_run_ok(job, "w", "late_dropped");
    int64_t late = 0;
    for (int64_t q = 0; q < 20000; q++) late += session_row_is_late(q);
    ck_assert(late > 5);
    ck_assert_uint_eq(dropped, (uint64_t)late);
    struct rt_lines want = {0};
    int64_t bridging;
    expected_sessions(20000, 1000, &want, &bridging, true);
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, rt_backends[_i]);
    rt_lines_free(&got);
    rt_lines_free(&want);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir);
}
END_TEST

/* ---- count triggers on tumbling and session windows ---- */

START_TEST(tumbling_windows_with_a_count_trigger_emit_at_multiples_not_at_their_end)
{
    /* 100 s windows (~1430 rows per key, over several batches): a row per batch that brings a
     * window to a multiple of 100 rows, none at the end */
    check_windows_trig(1, backend_of(_i), 30000, IN_ORDER_FIELDS, gen_in_order, 0, 100000, 100000, 0, cache_of(_i), true,
                       100);
    /* late rows within allowed_lateness count, and emit only when they reach a multiple */
    check_windows_trig(1, backend_of(_i), 40000, LATE_FIELDS, gen_late, 0, 1000, 1000, 20000, cache_of(_i), true, 7);
}
END_TEST

/* A session of the simulation: its rows (seqs), and its rows before the current batch. */
struct ssess {
    int64_t start, end, before, n, cap;
    int64_t *seqs;
};

/* Sessions with a count trigger, batch by batch (4096 rows, watermark = max seen - bound - 1
 * after each): rows merge into the sessions they overlap or touch, or open one unless late;
 * after a batch, every session whose rows reached a multiple of trig (rows before: those of the
 * sessions merged into it) emits its row; sessions go at end - 1 + lateness <= watermark. */
static void expected_sessions_trig(int64_t rows, int64_t gap, int64_t bound, int64_t trig,
                                   bool (*late)(int64_t), struct rt_lines *want, int64_t *n_emits_mid)
{
    struct ssess *ss[5] = {0};
    size_t nss[5] = {0};
    int64_t wm = INT64_MIN, maxts = INT64_MIN;
    *n_emits_mid = 0;
    for (int64_t b0 = 0; b0 < rows; b0 += 4096) {
        for (int k = 0; k < 5; k++)
            for (size_t i = 0; i < nss[k]; i++) ss[k][i].before = ss[k][i].n;
        for (int64_t q = b0; q < rows && q < b0 + 4096; q++) {
            struct row r;
            gen_session(q, &r);
            if (late && late(q)) r.ts = -100000 - q;
            if (r.ts > maxts) maxts = r.ts;
            int64_t t = r.ts, e = t + gap;
            struct ssess *L = ss[r.k];
            size_t into = SIZE_MAX;
            for (size_t i = 0; i < nss[r.k]; i++) {
                if (L[i].start > e || L[i].end < t) continue;
                if (into == SIZE_MAX) {
                    into = i;
                    continue;
                }
                /* merge i into `into` */
                struct ssess *a = &L[into], *g = &L[i];
                if (g->start < a->start) a->start = g->start;
                if (g->end > a->end) a->end = g->end;
                a->before += g->before;
                for (int64_t x = 0; x < g->n; x++) {
                    if (a->n == a->cap) a->seqs = realloc(a->seqs, sizeof *a->seqs * (size_t)(a->cap = a->cap * 2 + 16));
                    a->seqs[a->n++] = g->seqs[x];
                }
                free(g->seqs);
                L[i] = L[--nss[r.k]];
                if (into == nss[r.k]) into = i;
                i--;
            }
            if (into == SIZE_MAX) {
                if (e - 1 <= wm) continue;   /* late */
                ss[r.k] = L = realloc(L, sizeof *L * (nss[r.k] + 1));
                into = nss[r.k]++;
                L[into] = (struct ssess){t, e, 0, 0, 0, NULL};
            }
            struct ssess *a = &L[into];
            if (t < a->start) a->start = t;
            if (e > a->end) a->end = e;
            if (a->n == a->cap) a->seqs = realloc(a->seqs, sizeof *a->seqs * (size_t)(a->cap = a->cap * 2 + 16));
            a->seqs[a->n++] = q;
        }
        for (int k = 0; k < 5; k++)
            for (size_t i = 0; i < nss[k]; i++) {
                struct ssess *a = &ss[k][i];
                if (a->n / trig <= a->before / trig) continue;
                struct acc ac = {0};
                for (int64_t x = 0; x < a->n; x++) {
                    struct row r;
                    gen_session(a->seqs[x], &r);
                    acc_add(&ac, &r);
                }
                rt_lines_push(want, acc_line(k, true, a->start, a->end, &ac, false));
                *n_emits_mid += a->n % trig != 0;
                free(ac.seen);
            }
        wm = b0 + 4096 >= rows ? INT64_MAX : maxts - bound - 1;
        for (int k = 0; k < 5; k++)
            for (size_t i = 0; i < nss[k]; i++)
                if (ss[k][i].end - 1 <= wm) {
                    free(ss[k][i].seqs);
                    ss[k][i--] = ss[k][--nss[k]];
                }
    }
    for (int k = 0; k < 5; k++) free(ss[k]);
}

START_TEST(session_windows_with_a_count_trigger_emit_at_multiples_not_at_their_end)
{
    /* gap 1 s, bound 10 s: sessions of ~8 rows per key, merged by the bridging rows; 5 s gap:
     * sessions over several batches; rows too late for every session dropped */
    static const struct {
        const char *fields, *window;
        int64_t gap, trig;
        bool late;
    } cases[] = {{SESSION_FIELDS, "{ type: session, gap: 1s }", 1000, 3, false},
                 {SESSION_LATE_FIELDS, "{ type: session, gap: 1s }", 1000, 5, true},
                 {SESSION_FIELDS, "{ type: session, gap: 5s }", 5000, 100, false}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char on[32], sn[32];
        snprintf(on, sizeof on, "out%zu", c);
        snprintf(sn, sizeof sn, "state%zu", c);
        char *out = tu_tmp_path(on), *sdir = tu_tmp_path(sn);
        char *extra = tu_fmt(", trigger: { type: count, count: %" PRId64 " }", cases[c].trig);
        char *text = window_job(1, rt_backends[_i], sdir, 20000, cases[c].fields, 10000, cases[c].window, AGGS_NO_ORDER,
                                extra, out);
        rt_run_text_ok(NULL, text);
        struct rt_lines want = {0};
        int64_t mid;
        expected_sessions_trig(20000, cases[c].gap, 10000, cases[c].trig,
                               cases[c].late ? session_row_is_late : NULL, &want, &mid);
        ck_assert(want.n > 10);
        struct rt_lines got = rt_read_csv_parts(out);
        char *what = tu_fmt("%s %s%s", rt_backends[_i], cases[c].window, extra);
        rt_lines_expect_sorted(&got, &want, what);
        free(what);
        rt_lines_free(&got);
        rt_lines_free(&want);
        free(extra);
        free(text);
        free(out);
        free(sdir);
    }
}
END_TEST

/* ---- count and global windows ---- */

/* Per key in arrival order (P = 1: seq order): a row every `every` rows of the key with the last
 * `size` rows (cumulative: all rows so far); at the end, cumulative windows emit what is left. */
static void expected_counts(int64_t rows, int64_t size, int64_t every, bool cumulative, struct rt_lines *want)
{
    for (int64_t k = 0; k < 7; k++) {
        struct row *rs = malloc(sizeof *rs * (size_t)rows);
        int64_t n = 0;
        for (int64_t q = 0; q < rows; q++) {
            struct row r;
            gen_in_order(q, &r);
            if (r.k == k) rs[n++] = r;
        }
        for (int64_t o = 1; o <= n; o++) {
            bool fire = o % every == 0 || (cumulative && o == n);
            if (!fire) continue;
            struct acc a = {0};
            for (int64_t x = cumulative ? 0 : (o - size > 0 ? o - size : 0); x < o; x++) acc_add(&a, &rs[x]);
            rt_lines_push(want, acc_line(k, false, 0, 0, &a, true));
            free(a.seen);
        }
        free(rs);
    }
}

static void check_counts(const char *backend, const char *window, const char *extra, int64_t size, int64_t every,
                         bool cumulative)
{
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = window_job(1, backend, sdir, 10000, IN_ORDER_FIELDS, 0, window, AGGS, extra, out);
    rt_run_text_ok(NULL, text);
    struct rt_lines want = {0};
    expected_counts(10000, size, every, cumulative, &want);
    struct rt_lines got = rt_read_csv_parts(out);
    char *what = tu_fmt("%s %s%s", backend, window, extra);
    rt_lines_expect_sorted(&got, &want, what);
    free(what);
    rt_lines_free(&got);
    rt_lines_free(&want);
    free(text);
    free(out);
    free(sdir);
}

START_TEST(count_windows_fire_every_size_rows_of_a_key)
{
    check_counts(rt_backends[_i], "{ type: count, size: 100 }", "", 100, 100, false);
}
END_TEST

START_TEST(sliding_count_windows_fire_every_slide_rows_with_the_last_size)
{
    check_counts(rt_backends[_i], "{ type: count, size: 100, slide: 40 }", "", 100, 40, false);
    check_counts(rt_backends[_i], "{ type: count, size: 90, slide: 90 }", "", 90, 90, false);
}
END_TEST

START_TEST(global_window_with_a_count_trigger_fires_cumulative_rows)
{
    check_counts(rt_backends[_i], "{ type: global }", ", trigger: { type: count, count: 250 }", 0, 250, true);
}
END_TEST

START_TEST(global_window_fires_at_the_end_of_the_input)
{
    check_counts(rt_backends[_i], "{ type: global }", "", 0, INT64_MAX, true);
}
END_TEST

/* ---- processing time ---- */

START_TEST(processing_time_windows_fire)
{
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = window_job(1, rt_backends[_i], sdir, 30000, IN_ORDER_FIELDS, 0,
                            "{ type: tumbling, size: 20ms, time: processing }", "{ n: count(*), s: sum(v) }", "", out);
    rt_run_text_ok(NULL, text);
    /* no timing assertion: every row is in exactly one window of its key */
    struct rt_lines got = rt_read_csv_parts(out);
    ck_assert_uint_gt(got.n, 0);
    int64_t n[7] = {0}, sum[7] = {0}, want_n[7] = {0}, want_sum[7] = {0};
    for (size_t i = 0; i < got.n; i++) {
        int64_t k, ws, we, c, s = 0;   /* s is empty (NULL) when every v of the window is */
        ck_assert_int_ge(sscanf(got.v[i], "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &k, &ws, &we, &c, &s), 4);
        ck_assert(k >= 0 && k < 7 && we - ws == 20);
        n[k] += c;
        sum[k] += s;
    }
    for (int64_t q = 0; q < 30000; q++) {
        struct row r;
        gen_in_order(q, &r);
        want_n[r.k]++;
        if (!r.vnull) want_sum[r.k] += r.v;
    }
    for (int k = 0; k < 7; k++) {
        ck_assert_int_eq(n[k], want_n[k]);
        ck_assert_int_eq(sum[k], want_sum[k]);
    }
    rt_lines_free(&got);
    free(text);
    free(out);
    free(sdir);
}
END_TEST

/* ---- early firing ---- */

START_TEST(early_firing_emits_partial_rows_before_the_final_one)
{
    /* a slow source (2000 rows/s) and 1 s windows with early rows every 100 ms: each window's
     * final row equals the direct computation; partial rows come before it and never exceed it */
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n    with: { rows: 3000, rate_limit: 2000, fields: { k: \"seq %% 2\", t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                        "    with: { window: { type: tumbling, size: 1s }, aggregates: { n: count(*) }, trigger: { early_every: 100ms } }\n"
                        "  - { id: out, type: file_sink, input: w, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir, out);
    rt_run_text_ok(NULL, text);
    struct rt_lines got = rt_read_csv_parts(out);
    int64_t max_n[2][3] = {{0}}, rows[2][3] = {{0}};
    for (size_t i = 0; i < got.n; i++) {
        int64_t k, ws, we, c;
        ck_assert_int_eq(sscanf(got.v[i], "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%" SCNd64, &k, &ws, &we, &c), 4);
        ck_assert(k >= 0 && k < 2 && ws >= 0 && ws < 3000 && ws % 1000 == 0 && we == ws + 1000);
        ck_assert(c > 0 && c <= 500);
        if (c > max_n[k][ws / 1000]) max_n[k][ws / 1000] = c;
        rows[k][ws / 1000]++;
    }
    int64_t early = 0;
    for (int k = 0; k < 2; k++)
        for (int w = 0; w < 3; w++) {
            ck_assert_int_eq(max_n[k][w], 500);   /* the final row of every window */
            early += rows[k][w] - 1;
        }
    ck_assert_msg(early > 0, "no early rows in 1.5 s of input");
    rt_lines_free(&got);
    free(text);
    free(out);
    free(sdir);
}
END_TEST

/* ---- idle inputs ---- */

static pthread_mutex_t collect_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rt_lines collected;

static int c_plan(struct rn_plan_ctx *ctx)
{
    (void)ctx;
    return 0;
}
static int c_open(struct rn_op_ctx *ctx, void **state)
{
    (void)ctx;
    *state = NULL;
    return 0;
}
static int c_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)state;
    (void)ctx;
    (void)input;
    pthread_mutex_lock(&collect_mu);
    for (uint32_t i = 0; i < b->n_rows; i++) {
        /* key, window_start, n */
        rt_lines_push(&collected, tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64, rn_col_i64(&b->cols[0], i),
                                         rn_col_i64(&b->cols[1], i), rn_col_i64(&b->cols[3], i)));
    }
    pthread_mutex_unlock(&collect_mu);
    return 0;
}
static void c_close(void *state, struct rn_op_ctx *ctx)
{
    (void)state;
    (void)ctx;
}
static const struct rn_operator_def collect_op = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def), .name = "test_collect",
    .description = "test", .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = c_plan, .open = c_open, .process = c_process, .close = c_close,
};

/* A fast source (keys 0 and 1, event time = seq ms) and a slow unbounded one (a row a second,
 * key 9, times near 0) into 100 ms windows: the windows that fired within ~1.5 s. */
static size_t idle_windows(const char *backend, const char *idle)
{
    rn_registry *reg = rt_registry();
    struct rn_error err;
    ck_assert(rn_registry_add(reg, &collect_op, &err) == 0);
    char *sdir = tu_tmp_path("state");
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: fast\n    type: datagen\n"
                        "    with: { rows: 40000, rate_limit: 20000, fields: { k: \"seq %% 2\", t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: slow\n    type: datagen\n"
                        "    with: { rate_limit: 1, fields: { k: \"9 + seq * 0\", t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms%s }\n"
                        "  - { id: u, type: union, input: [fast, slow] }\n"
                        "  - id: w\n    type: window_aggregate\n    input: u\n    key_by: k\n"
                        "    with: { window: { type: tumbling, size: 100ms }, aggregates: { n: count(*) } }\n"
                        "  - { id: c, type: test_collect, input: w }\n",
                        backend, sdir, idle);
    struct rn_job *job = rt_parse_ok(reg, text);
    pthread_mutex_lock(&collect_mu);
    rt_lines_free(&collected);
    pthread_mutex_unlock(&collect_mu);
    FILE *log = fopen("/dev/null", "w");
    struct rn_run_options o = {.log = log};
    rn_runner *r = rn_runner_create(job, &o, &err);
    ck_assert(r && rn_runner_start(r, &err) == 0);
    rn_runner_wait(r, 1500);
    rn_runner_cancel(r);
    ck_assert(rn_runner_wait(r, 10000));
    rn_runner_destroy(r);
    fclose(log);
    /* every fired window of keys 0 and 1 is complete: 50 rows each */
    pthread_mutex_lock(&collect_mu);
    size_t n = 0;
    for (size_t i = 0; i < collected.n; i++) {
        int64_t k, ws, c;
        ck_assert(sscanf(collected.v[i], "%" SCNd64 ",%" SCNd64 ",%" SCNd64, &k, &ws, &c) == 3);
        if (k == 9) continue;
        ck_assert_msg(c == 50 && ws % 100 == 0, "window %s", collected.v[i]);
        n++;
    }
    rt_lines_free(&collected);
    pthread_mutex_unlock(&collect_mu);
    rn_job_free(job);
    rn_registry_destroy(reg);
    free(text);
    free(sdir);
    return n;
}

START_TEST(an_idle_input_does_not_hold_windows_back)
{
    size_t n = idle_windows(rt_backends[_i], ", idle_timeout: 100ms");
    ck_assert_msg(n >= 20, "only %zu windows fired: the idle source held the watermark back", n);
}
END_TEST

START_TEST(without_idle_timeout_a_silent_input_holds_windows_back)
{
    /* the slow source's event time stays near 0: no window of the fast one can fire */
    ck_assert_uint_eq(idle_windows("memory", ""), 0);
}
END_TEST

/* ---- aggregate functions from plugins ---- */

/* sumsq(x): the sum of squares of an int64 column, registered as a built-in would be. */
static int sq_plan(struct rn_type arg, struct rn_type *result, uint32_t *acc_size, char *msg, size_t len)
{
    if (arg.id != RN_T_INT64) {
        snprintf(msg, len, "takes int64");
        return 1;
    }
    *result = rn_type_of(RN_T_INT64);
    *acc_size = 16;   /* sum, count */
    return 0;
}
static void sq_add(void *accs, size_t stride, const uint32_t *slot, const struct rn_column *arg, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (rn_column_is_null(arg, i)) continue;
        int64_t *a = (int64_t *)((char *)accs + (size_t)slot[i] * stride), x = rn_col_i64(arg, i);
        a[0] += x * x;
        a[1]++;
    }
}
static void sq_merge(void *acc, const void *later)
{
    int64_t *a = acc;
    const int64_t *b = later;
    a[0] += b[0];
    a[1] += b[1];
}
static bool sq_result(const void *acc, void *out)
{
    const int64_t *a = acc;
    memcpy(out, &a[0], 8);
    return a[1] > 0;
}
static const struct rn_aggregate_def sumsq_def = {
    .abi_version = RN_AGGREGATE_ABI, .struct_size = sizeof(struct rn_aggregate_def), .name = "sumsq",
    .description = "sum of squares", .plan = sq_plan, .add = sq_add, .merge = sq_merge, .result = sq_result,
};

START_TEST(a_registered_aggregate_function_works_in_windows_and_aggregate)
{
    rn_registry *reg = rt_registry();
    struct rn_error err;
    ck_assert(rn_registry_add_aggregate(reg, &sumsq_def, &err) == 0);
    ck_assert(rn_registry_find_aggregate(reg, "sumsq") == &sumsq_def);
    ck_assert(rn_registry_add_aggregate(reg, &sumsq_def, &err) != 0);   /* a name once */
    char *out = tu_tmp_path("out"), *out2 = tu_tmp_path("out2"), *sdir = tu_tmp_path("state");
    /* sliding: the accumulators of panes merge */
    char *text = tu_fmt("state: { backend: %s, dir: %s }\noperators:\n"
                        "  - id: gen\n    type: datagen\n    with: { rows: 12000, fields: %s }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: w\n    type: window_aggregate\n    input: gen\n    key_by: k\n"
                        "    with: { window: { type: sliding, size: 1s, slide: 250ms }, aggregates: { q: sumsq(v), n: count(v) } }\n"
                        "  - { id: out, type: file_sink, input: w, with: { path: %s, format: csv } }\n"
                        "  - { id: a, type: aggregate, input: gen, key_by: k, with: { aggregates: { q: sumsq(v) } } }\n"
                        "  - { id: out2, type: file_sink, input: a, with: { path: %s, format: csv } }\n",
                        rt_backends[_i], sdir, IN_ORDER_FIELDS, out, out2);
    rt_run_text_ok(reg, text);
    /* expected: per key and window */
    struct rt_lines want = {0};
    int64_t total[7] = {0};
    for (int64_t k = 0; k < 7; k++)
        for (int64_t w = -750; w < 120000; w += 250) {
            int64_t q = 0, n = 0, rows = 0;
            for (int64_t s = (w > 0 ? w : 0) / 10; s < 12000 && s * 10 < w + 1000; s++) {
                struct row r;
                gen_in_order(s, &r);
                if (r.k != k || r.ts < w) continue;
                rows++;
                if (!r.vnull) q += r.v * r.v, n++;
            }
            if (rows) rt_lines_push(&want, n ? tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64, k, w, w + 1000, q, n)
                                         : tu_fmt("%" PRId64 ",%" PRId64 ",%" PRId64 ",,0", k, w, w + 1000));
        }
    for (int64_t s = 0; s < 12000; s++) {
        struct row r;
        gen_in_order(s, &r);
        if (!r.vnull) total[r.k] += r.v * r.v;
    }
    struct rt_lines got = rt_read_csv_parts(out);
    rt_lines_expect_sorted(&got, &want, "window sumsq");
    rt_lines_free(&got);
    rt_lines_free(&want);
    /* aggregate: the last row per key is the total */
    got = rt_read_csv_parts(out2);
    for (int64_t k = 0; k < 7; k++) {
        char *line = tu_fmt("%" PRId64 ",%" PRId64, k, total[k]);
        bool found = false;
        for (size_t i = 0; i < got.n && !found; i++) found = !strcmp(got.v[i], line);
        ck_assert_msg(found, "aggregate: no row %s", line);
        free(line);
    }
    rt_lines_free(&got);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(out2);
    free(sdir);
}
END_TEST

START_TEST(the_example_plugin_stddev_matches_a_direct_computation)
{
    const char *dir = getenv("RUNNEL_SAMPLE_PLUGIN_DIR");
    ck_assert_msg(dir, "RUNNEL_SAMPLE_PLUGIN_DIR is not set (meson sets it)");
    rn_registry *reg = rt_registry();
    unsigned refused = 0;
    ck_assert(rn_registry_load_dir(reg, dir, stderr, &refused) == 0);
    ck_assert_msg(rn_registry_find_aggregate(reg, "stddev"), "no stddev in %s", dir);
    char *out = tu_tmp_path("out"), *sdir = tu_tmp_path("state");
    char *text = window_job(1, rt_backends[_i], sdir, 20000, IN_ORDER_FIELDS, 0, "{ type: tumbling, size: 2s }",
                            "{ sd: stddev(v), n: count(v) }", "", out);
    rt_run_text_ok(reg, text);
    struct rt_lines got = rt_read_csv_parts(out);
    ck_assert_uint_eq(got.n, 7 * 100);
    for (size_t i = 0; i < got.n; i++) {
        int64_t k, ws, we, n;
        double sd;
        ck_assert(sscanf(got.v[i], "%" SCNd64 ",%" SCNd64 ",%" SCNd64 ",%lf,%" SCNd64, &k, &ws, &we, &sd, &n) == 5);
        double sum = 0, sq = 0;
        int64_t cnt = 0;
        for (int64_t s = ws / 10; s < we / 10; s++) {
            struct row r;
            gen_in_order(s, &r);
            if (r.k != k || r.vnull) continue;
            sum += (double)r.v;
            cnt++;
        }
        double mean = sum / (double)cnt;
        for (int64_t s = ws / 10; s < we / 10; s++) {
            struct row r;
            gen_in_order(s, &r);
            if (r.k != k || r.vnull) continue;
            sq += ((double)r.v - mean) * ((double)r.v - mean);
        }
        double want = sqrt(sq / (double)(cnt - 1));
        ck_assert_int_eq(n, cnt);
        ck_assert_msg(fabs(sd - want) <= 1e-9 * want, "%s: stddev %.17g, want %.17g", got.v[i], sd, want);
    }
    rt_lines_free(&got);
    rn_registry_destroy(reg);
    free(text);
    free(out);
    free(sdir);
}
END_TEST

/* ---- bad options ---- */

static void expect_invalid(const char *window_and_more, const char *word)
{
    char *text = tu_fmt("operators:\n"
                        "  - id: g\n    type: datagen\n    with: { fields: { k: seq, v: seq, s: \"'x'\", t: \"to_timestamp(seq)\" } }\n"
                        "    watermark: { column: t, max_out_of_orderness: 0ms }\n"
                        "  - id: w\n    type: window_aggregate\n    input: g\n    key_by: k\n    with: { %s }\n",
                        window_and_more);
    rt_expect_invalid(NULL, text, word);
    free(text);
}

START_TEST(bad_window_options_are_refused_with_clear_errors)
{
    const char *n = ", aggregates: { n: count(*) }";
    char *t;
#define BAD(w, word) (t = tu_fmt("window: %s%s", w, n), expect_invalid(t, word), free(t))
    BAD("{ type: tumbling }", "needs size");
    BAD("{ type: sliding, size: 10s }", "needs slide");
    BAD("{ type: sliding, size: 2s, slide: 5s }", "must not be larger than size");
    BAD("{ type: tumbling, size: 0s }", "must be positive");
    BAD("{ type: tumbling, size: -5s }", "size: expected a duration");
    BAD("{ type: count, size: -5 }", "must be positive");
    BAD("{ type: session }", "needs gap");
    BAD("{ type: count, size: 10, time: processing }", "count window");
    BAD("{ type: hopping, size: 10s }", "unknown window type");
    BAD("{ type: tumbling, size: 10s, column: nope }", "no column 'nope'");
    BAD("{ type: tumbling, size: 10s, column: s }", "not a timestamp");
#undef BAD
    expect_invalid("window: { type: tumbling, size: 1s }, aggregates: { n: median(v) }", "unknown aggregate");
    expect_invalid("window: { type: tumbling, size: 1s }, aggregates: { window_start: count(*) }", "window bound");
    expect_invalid("window: { type: sliding, size: 2s, slide: 1s }, aggregates: { n: count(*) }, "
                   "trigger: { type: count, count: 5 }",
                   "not sliding");
    expect_invalid("window: { type: count, size: 10 }, aggregates: { n: count(*) }, trigger: { type: count, count: 5 }",
                   "not for count windows");
    expect_invalid("window: { type: tumbling, size: 1s, time: processing }, aggregates: { n: count(*) }, "
                   "trigger: { type: count, count: 5 }",
                   "needs event time");
    expect_invalid("window: { type: tumbling, size: 1s, time: processing }, aggregates: { n: count(*) }, allowed_lateness: 1s",
                   "event-time windows");
    expect_invalid("window: { type: global }, aggregates: { n: count(*) }, trigger: { type: count }", "needs count");
    expect_invalid("window: { type: session, gap: 1s }, aggregates: { n: count(*) }, trigger: { early_every: 1s }",
                   "early_every");
}
END_TEST

START_TEST(a_window_without_an_event_time_column_is_refused)
{
    rn_registry *reg = rt_registry();
    const char *text = "operators:\n"
                       "  - { id: g, type: datagen, with: { fields: { k: seq, t: \"to_timestamp(seq)\" } } }\n"
                       "  - { id: w, type: window_aggregate, input: g, key_by: k,\n"
                       "      with: { window: { type: tumbling, size: 1s }, aggregates: { n: count(*) } } }\n";
    struct rn_job_errors errs = {0};
    struct rn_job *job = NULL;
    ck_assert(rn_job_parse("window.yaml", text, strlen(text), reg, &job, &errs) != 0);
    ck_assert_msg(errs.n && strstr(errs.items[0].msg, "set window.column or a watermark on the source"), "%s",
                  errs.n ? errs.items[0].msg : "none");
    rn_job_errors_free(&errs);
    /* naming the column is enough (no watermark: the windows fire at the end of the input) */
    char *out = tu_tmp_path("out");
    char *ok = tu_fmt("operators:\n"
                      "  - { id: g, type: datagen, with: { rows: 5000, fields: { k: \"seq %% 3\", t: \"to_timestamp(seq)\" } } }\n"
                      "  - { id: w, type: window_aggregate, input: g, key_by: k,\n"
                      "      with: { window: { type: tumbling, size: 1s, column: t }, aggregates: { n: count(*) } } }\n"
                      "  - { id: out, type: file_sink, input: w, with: { path: %s, format: csv } }\n",
                      out);
    rt_run_text_ok(reg, ok);
    struct rt_lines got = rt_read_csv_parts(out);
    ck_assert_uint_eq(got.n, 15);
    rt_lines_free(&got);
    rn_registry_destroy(reg);
    free(ok);
    free(out);
}
END_TEST

static Suite *make_suite(void)
{
    Suite *s = suite_create("window");
    TCase *tc = tcase_create("window");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, tumbling_windows_equal_a_direct_computation, 0, 4);
    tcase_add_loop_test(tc, tumbling_windows_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, sliding_windows_equal_a_direct_computation, 0, 4);
    tcase_add_loop_test(tc, out_of_order_rows_within_the_bound_are_all_counted, 0, 4);
    tcase_add_loop_test(tc, out_of_order_rows_past_the_bound_are_dropped, 0, 4);
    tcase_add_loop_test(tc, late_rows_are_dropped_and_counted, 0, 4);
    tcase_add_loop_test(tc, late_rows_within_allowed_lateness_update_and_re_emit_their_window, 0, 4);
    tcase_add_loop_test(tc, late_rows_go_to_the_late_output, 0, 2);
    tcase_add_loop_test(tc, session_windows_merge_when_a_late_row_bridges_them, 0, 2);
    tcase_add_loop_test(tc, session_windows_at_parallelism_2, 0, 2);
    tcase_add_loop_test(tc, session_rows_too_late_for_every_session_are_dropped, 0, 2);
    tcase_add_loop_test(tc, tumbling_windows_with_a_count_trigger_emit_at_multiples_not_at_their_end, 0, 4);
    tcase_add_loop_test(tc, session_windows_with_a_count_trigger_emit_at_multiples_not_at_their_end, 0, 2);
    tcase_add_loop_test(tc, count_windows_fire_every_size_rows_of_a_key, 0, 2);
    tcase_add_loop_test(tc, sliding_count_windows_fire_every_slide_rows_with_the_last_size, 0, 2);
    tcase_add_loop_test(tc, global_window_with_a_count_trigger_fires_cumulative_rows, 0, 2);
    tcase_add_loop_test(tc, global_window_fires_at_the_end_of_the_input, 0, 2);
    tcase_add_loop_test(tc, processing_time_windows_fire, 0, 2);
    tcase_add_loop_test(tc, early_firing_emits_partial_rows_before_the_final_one, 0, 2);
    tcase_add_loop_test(tc, an_idle_input_does_not_hold_windows_back, 0, 2);
    tcase_add_test(tc, without_idle_timeout_a_silent_input_holds_windows_back);
    tcase_add_loop_test(tc, a_registered_aggregate_function_works_in_windows_and_aggregate, 0, 2);
    tcase_add_loop_test(tc, the_example_plugin_stddev_matches_a_direct_computation, 0, 2);
    tcase_add_test(tc, bad_window_options_are_refused_with_clear_errors);
    tcase_add_test(tc, a_window_without_an_event_time_column_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(make_suite)
