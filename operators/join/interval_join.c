/*
 * operators/join/interval_join.c — `interval_join`: joins two keyed inputs in event time, each
 * left row l with every right row r of the same key whose time lies within bounds of l's:
 *     l.ts + lower <= r.ts <= l.ts + upper         (`between: [lower, upper]`, inclusive)
 * emitting each pair as soon as both rows have arrived (Flink's IntervalJoinOperator).
 *
 * State: per side a keyed map state, user key = a row time (8 bytes, ordered), value = the rows
 * of that key and time, encoded and concatenated (join_common.h). A batch is grouped by key
 * (rn_op_keys); per distinct key the other side's map is iterated once, and each stored time
 * is matched against the batch's rows of that key sorted by time (a binary search gives the
 * range of rows it pairs with); then the batch's rows are added to the own map once per
 * distinct (key, time).
 *
 * Lateness and clean-up (exact: every pair of two rows that are not late is emitted once):
 * a row is late when its time is <= the watermark (no row at or before the watermark is
 * expected any more); late rows are dropped and counted in the metric late_dropped, rows with
 * a NULL time in null_times. Stored rows are kept while a row still to come could pair with
 * them: a left row until the watermark reaches l.ts + upper, a right row until it reaches
 * r.ts - lower (an event-time timer at that time, namespace = the row time, removes them). A
 * row whose clean-up time is already behind the watermark is joined but not stored. Flink
 * differs only in calling a row late when its time is < the watermark (and can lose a pair at
 * exactly that boundary).
 *
 * Rows whose key is NULL never match; they are dropped and counted in null_keys.
 *
 * Checkpoints: rows and clean-up timers are keyed state and the output writer is emptied at the
 * end of every callback; what a restored run needs from memory is the watermark (keyed/ckpt.h),
 * which decides which rows are late and which are stored.
 */
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "join_common.h"
#include "keyed/ckpt.h"

static const struct rn_option options[] = {
    {"between", RN_OPT_LIST, NULL, "[lower, upper]: signed durations (e.g. [-2s, 1s]); a right row r pairs with a "
                                   "left row l when l.time + lower <= r.time <= l.time + upper"},
    {"lower_exclusive", RN_OPT_BOOL, "false", "exclude the lower bound: l.time + lower < r.time"},
    {"upper_exclusive", RN_OPT_BOOL, "false", "exclude the upper bound: r.time < l.time + upper"},
    {"left_time", RN_OPT_STRING, "''", "event-time column of the left input; empty: the watermark column of its source"},
    {"right_time", RN_OPT_STRING, "''", "event-time column of the right input; empty: the watermark column of its source"},
    RN_JOIN_PREFIX_OPTIONS,
    {NULL, 0, NULL, NULL},
};

/* Reads between and the exclusivity flags into inclusive bounds [lo, hi]. */
static int read_bounds(const rn_value *o, int64_t *lo, int64_t *hi, const rn_value **where, const char **why)
{
    const rn_value *b = rn_opt_value(o, "between");
    *where = b;
    if (!b || rn_value_kind(b) != RN_VALUE_LIST || rn_value_len(b) != 2) {
        *why = "between must be a list of two durations [lower, upper], e.g. [-2s, 1s]";
        return RN_EINVAL;
    }
    int64_t v[2];
    for (size_t i = 0; i < 2; i++) {
        *where = rn_value_at(b, i);
        if (rn__join_signed_duration(rn_value_text(rn_value_at(b, i)), &v[i])) {
            *why = "expected a signed duration such as -2s, 500ms or 0";
            return RN_EINVAL;
        }
    }
    if (rn_opt_bool(o, "lower_exclusive")) v[0] = rn__join_add_sat(v[0], 1);
    if (rn_opt_bool(o, "upper_exclusive")) v[1] = rn__join_add_sat(v[1], -1);
    *where = b;
    if (v[0] > v[1]) {
        *why = "between: the lower bound is above the upper bound (no pair could ever match)";
        return RN_EINVAL;
    }
    *lo = v[0];
    *hi = v[1];
    return 0;
}

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx), *where;
    const char *why;
    int64_t lo, hi;
    if (read_bounds(o, &lo, &hi, &where, &why)) return rn_plan_error(ctx, where, "%s", why);
    rn_schema *out;
    int rc = rn__join_plan_output(ctx, false, NULL, 0, &out);
    if (rc) return rc;
    if (rn__join_plan_time(ctx, 0, "left_time") < 0 || rn__join_plan_time(ctx, 1, "right_time") < 0) rc = RN_EINVAL;
    if (!rc) rc = rn_plan_set_output(ctx, out);
    rn_schema_unref(out);
    return rc;
}

/* ---- run time ---- */

struct timed {
    int64_t ts;
    uint32_t row;
};

struct state {
    int64_t lo, hi;
    int time_col[2];
    struct rn__join_codec codec[2];
    struct rn__join_view view;
    struct rn__join_out out;
    rn_state *rows[2];              /* map state per side: time -> rows */
    struct rn__join_groups groups;
    struct timed *sel;              /* a key's usable batch rows, sorted by time */
    uint32_t cap_sel;
    struct rn__join_buf blob;
    _Atomic uint64_t *late, *null_times, *null_keys;
    int64_t wm_floor;               /* the watermark at the checkpoint restored from */
};

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    st->wm_floor = INT64_MIN;
    const rn_value *o = rn_op_options(ctx), *where;
    const char *why;
    if (read_bounds(o, &st->lo, &st->hi, &where, &why)) {
        rn_op_error(ctx, "%s", why);
        return RN_EINVAL;
    }
    int rc;
    for (uint32_t i = 0; i < 2; i++) {
        if ((st->time_col[i] = rn__join_open_time(ctx, i, i ? "right_time" : "left_time")) < 0) return RN_EINVAL;
        if ((rc = rn__join_codec_init(&st->codec[i], rn_op_input_schema(ctx, i)))) return rc;
    }
    struct rn__join_codec *wide = st->codec[0].n_cols >= st->codec[1].n_cols ? &st->codec[0] : &st->codec[1];
    if ((rc = rn__join_view_init(&st->view, wide))) return rc;
    rn__join_out_init(&st->out, ctx, &st->codec[0], &st->codec[1]);
    struct rn_state_desc d[2] = {
        {"interval_join.left", RN_STATE_MAP, 0, 0, NULL, NULL},
        {"interval_join.right", RN_STATE_MAP, 0, 0, NULL, NULL},
    };
    for (uint32_t i = 0; i < 2; i++)
        if ((rc = rn_op_state_declare(ctx, &d[i], &st->rows[i]))) return rc;
    st->late = rn_op_metric(ctx, "late_dropped");
    st->null_times = rn_op_metric(ctx, "null_times");
    st->null_keys = rn_op_metric(ctx, "null_keys");
    return 0;
}

/* The clean-up time of a stored row of `side` at time ts: when the watermark reaches it, no
 * row still to come can pair with it. */
static int64_t cleanup_time(const struct state *st, uint32_t side, int64_t ts)
{
    return side == 0 ? rn__join_add_sat(ts, st->hi) : rn__join_add_sat(ts, -st->lo);
}

static int cmp_timed(const void *a, const void *b)
{
    const struct timed *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* The first index of sel[0..n) whose time is >= t. */
static uint32_t lower_index(const struct timed *sel, uint32_t n, int64_t t)
{
    uint32_t a = 0, b = n;
    while (a < b) {
        uint32_t m = a + (b - a) / 2;
        if (sel[m].ts < t) a = m + 1;
        else b = m;
    }
    return a;
}

struct probe {
    struct state *st;
    uint32_t side;                  /* of the batch rows; the stored rows are the other side's */
    const struct rn_batch *b;
    const struct timed *sel;
    uint32_t n;
};

/* One stored time of the other side: pairs its rows with the batch rows in range. */
static int probe_fn(const void *mkey, uint32_t mlen, const void *val, uint32_t len, void *user)
{
    struct probe *p = user;
    struct state *st = p->st;
    if (mlen != 8) return RN_ECORRUPT;
    int64_t t = rn__join_ts_from_key(mkey);
    /* batch rows at ts pair with stored time t when (left batch) ts + lo <= t <= ts + hi,
     * (right batch) t + lo <= ts <= t + hi */
    int64_t from, to;
    if (p->side == 0) from = rn__join_add_sat(t, -st->hi), to = rn__join_add_sat(t, -st->lo);
    else from = rn__join_add_sat(t, st->lo), to = rn__join_add_sat(t, st->hi);
    uint32_t a = lower_index(p->sel, p->n, from);
    if (a == p->n || p->sel[a].ts > to) return 0;
    uint32_t other = 1 - p->side;
    const uint8_t *q = val;
    size_t left = len;
    while (left) {
        size_t used = rn__join_row_view(&st->codec[other], q, left, &st->view);
        if (!used) {
            rn_op_error(st->out.ctx, "keyed state: a stored row is corrupt");
            return RN_ECORRUPT;
        }
        q += used;
        left -= used;
        struct rn__join_ref stored = {NULL, 0, &st->view};
        for (uint32_t i = a; i < p->n && p->sel[i].ts <= to; i++) {
            struct rn__join_ref live = {p->b, p->sel[i].row, NULL};
            int rc = p->side == 0 ? rn__join_out_pair(&st->out, &live, &stored, NULL, 0)
                                  : rn__join_out_pair(&st->out, &stored, &live, NULL, 0);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Adds the batch rows sel[a..z) (all of time ts) to the own map of `side` under key k. */
static int store(struct state *st, struct rn_op_ctx *ctx, uint32_t side, const struct rn_state_key *k,
                 const struct rn_batch *b, uint32_t a, uint32_t z, int64_t ts)
{
    uint8_t mk[8];
    rn__join_ts_key(ts, mk);
    const void *old;
    uint32_t old_len;
    int rc = rn_state_map_get(st->rows[side], k, 0, mk, 8, &old, &old_len);
    if (rc) return rc;
    st->blob.len = 0;
    if (old && (rc = rn__join_buf_append(&st->blob, old, old_len))) return rc;
    for (uint32_t i = a; i < z && rc == 0; i++) rc = rn__join_row_append(b, st->sel[i].row, &st->blob);
    if (!rc) rc = rn_state_map_put(st->rows[side], k, 0, mk, 8, st->blob.p, (uint32_t)st->blob.len);
    if (!rc) rc = rn_op_timer_register(ctx, RN_TIMER_EVENT, k, ts, cleanup_time(st, side, ts));
    return rc;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    struct state *st = state;
    uint32_t side = input ? 1 : 0, other = 1 - side;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, side, b, &keys);
    if (rc || (rc = rn__join_group(&st->groups, &keys))) return rc;
    if (b->n_rows > st->cap_sel) {
        struct timed *p = realloc(st->sel, (size_t)b->n_rows * sizeof *p);
        if (!p) return RN_ENOMEM;
        st->sel = p;
        st->cap_sel = b->n_rows;
    }
    const struct rn_column *tc = &b->cols[st->time_col[side]];
    int64_t wm = rn__ckpt_watermark(ctx, st->wm_floor);
    uint64_t late = 0, null_times = 0, null_keys = 0;
    for (uint32_t g = 0; g < st->groups.n_groups && rc == 0; g++) {
        const uint32_t *rows = st->groups.order + st->groups.start[g];
        uint32_t n = st->groups.start[g + 1] - st->groups.start[g], m = 0;
        if (rn_column_is_null(keys.column, keys.first_row[g])) {
            null_keys += n;
            continue;
        }
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = rows[j];
            if (rn_column_is_null(tc, r)) {
                null_times++;
                continue;
            }
            int64_t ts = rn_col_i64(tc, r);
            if (ts <= wm) {
                late++;
                continue;
            }
            st->sel[m++] = (struct timed){ts, r};
        }
        if (!m) continue;
        if (m > 1) qsort(st->sel, m, sizeof *st->sel, cmp_timed);
        const struct rn_state_key *k = &keys.group_keys[g];
        struct probe p = {st, side, b, st->sel, m};
        if ((rc = rn_state_map_each(st->rows[other], k, 0, probe_fn, &p))) break;
        /* store the rows that a row still to come could pair with, once per distinct time */
        for (uint32_t a = 0; a < m && rc == 0;) {
            uint32_t z = a + 1;
            while (z < m && st->sel[z].ts == st->sel[a].ts) z++;
            if (cleanup_time(st, side, st->sel[a].ts) > wm) rc = store(st, ctx, side, k, b, a, z, st->sel[a].ts);
            a = z;
        }
    }
    if (late && st->late) *st->late += late;
    if (null_times && st->null_times) *st->null_times += null_times;
    if (null_keys && st->null_keys) *st->null_keys += null_keys;
    if (rc == 0) rc = rn__join_out_flush(&st->out);
    return rc;
}

/* The watermark passed the clean-up time of the rows of timer->key at time timer->ns (of the
 * left side, the right, or both when their clean-up times coincide). */
static int on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *timer)
{
    (void)ctx;
    struct state *st = state;
    uint8_t mk[8];
    rn__join_ts_key(timer->ns, mk);
    int rc = 0;
    for (uint32_t side = 0; side < 2 && rc == 0; side++)
        if (cleanup_time(st, side, timer->ns) == timer->time) rc = rn_state_map_remove(st->rows[side], &timer->key, 0, mk, 8);
    return rc;
}

#define WM_LIST "interval_join.watermark"

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *st = state;
    int rc = rn__ckpt_save_watermark(w, ctx, WM_LIST, st->wm_floor);
    if (rc && rc != RN_ECANCELED) rn_op_error(ctx, "checkpoint: %s", rn_strerror(rc));
    return rc;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct state *st = state;
    int rc = rn__ckpt_load_watermark(r, WM_LIST, &st->wm_floor);
    if (rc) rn_op_error(ctx, "restoring from a checkpoint: %s", rn_strerror(rc));
    return rc;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *st = state;
    if (!st) return;
    rn__join_out_free(&st->out);
    for (uint32_t i = 0; i < 2; i++) rn__join_codec_free(&st->codec[i]);
    rn__join_view_free(&st->view);
    rn__join_groups_free(&st->groups);
    rn__join_buf_free(&st->blob);
    free(st->sel);
    free(st);
}

const struct rn_operator_def rn_op_interval_join = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "interval_join", .description = "joins two keyed inputs on rows whose times lie within bounds of each other",
    .options = options, .n_inputs_min = 2, .n_inputs_max = 2, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .on_timer = on_timer, .snapshot = snapshot, .restore = restore,
    .close = close_,
};
