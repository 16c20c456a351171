/*
 * operators/join/window_join.c — `window_join`: joins two keyed inputs per event-time window
 * (Flink's JoinedStreams ... where/equalTo ... window(...) ... apply, an inner join): every pair
 * (l, r) of the same key whose rows fall in the same window is emitted when the window fires
 * (the watermark reaches end - 1), with the window's bounds in two trailing columns
 * window_start and window_end (Flink leaves them out; runnel adds them, nexmark q8 needs them).
 *
 * Tumbling and sliding windows: rows are kept per (key, pane) in keyed list state (namespace =
 * the pane's start; one list element per distinct (key, pane) per batch holding that batch's
 * rows, encoded and concatenated), so a row of a sliding window is stored once, not size/slide
 * times. Each window that holds a pane has an event-time timer (key, namespace = window start,
 * time = end - 1); when it fires the window's panes are read on both sides, the cross product
 * is emitted, and the panes no later window holds (those starting before start + slide) are
 * cleared.
 *
 * Session windows: a key's live sessions (start, end, id) are kept in a value state; rows are
 * kept in list state under the session's id (the start it had when it was created; it keeps
 * the id as it grows, so only sessions that merge with each other move rows). A row opens
 * [ts, ts + gap); sessions of either side that overlap or touch merge (Flink's merging). Each
 * session has a timer at end - 1, moved as it grows.
 *
 * Late rows: a row is late when every window that would hold it has fired (tumbling and
 * sliding: the last window holding it has end - 1 <= watermark; session: its window
 * [ts, ts + gap) has end - 1 <= watermark and touches no live session); late rows are dropped
 * and counted in the metric late_dropped (NULL times in null_times, NULL keys, which never
 * match, in null_keys).
 *
 * Checkpoints: rows, sessions and timers are keyed state; memory holds the output writer (a
 * window's pairs wait there from its timer to the watermark callback: snapshot() emits them)
 * and nothing else a restored run needs but the watermark (keyed/ckpt.h: a pane first seen
 * after a restore must not get the timers of windows that fired before the checkpoint).
 */
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "join_common.h"
#include "keyed/ckpt.h"
#include "window/window_spec.h"

static const struct rn_option options[] = {
    {"window", RN_OPT_MAP, NULL, "{type: tumbling, size} | {type: sliding, size, slide} | {type: session, gap}; "
                                 "offset and column as for window_aggregate (event time)"},
    RN_JOIN_PREFIX_OPTIONS,
    {NULL, 0, NULL, NULL},
};

static const struct rn__join_extra extra_cols[2] = {
    {"window_start", {RN_T_TIMESTAMP, 0}},
    {"window_end", {RN_T_TIMESTAMP, 0}},
};

static int check_spec(struct rn_plan_ctx *ctx, const struct rn_win_spec *s)
{
    const rn_value *w = rn_opt_value(rn_plan_options(ctx), "window");
    if (s->processing_time)
        return rn_plan_error(ctx, rn_value_get(w, "time"), "window_join works in event time (time: processing is not supported)");
    if (s->type != RN_WIN_TUMBLING && s->type != RN_WIN_SLIDING && s->type != RN_WIN_SESSION)
        return rn_plan_error(ctx, rn_value_get(w, "type"), "window_join takes tumbling, sliding or session windows (not %s)",
                             rn_win_type_name(s->type));
    return 0;
}

static int plan(struct rn_plan_ctx *ctx)
{
    if (rn_plan_n_inputs(ctx) != 2)
        return rn_plan_error(ctx, NULL, "a join takes exactly two inputs: input: [left_id, right_id]");
    struct rn_win_spec s[2];
    for (uint32_t i = 0; i < 2; i++)
        if (rn_win_spec_plan(ctx, "window", i, &s[i]) || check_spec(ctx, &s[i])) return RN_EINVAL;
    rn_schema *out;
    int rc = rn__join_plan_output(ctx, false, extra_cols, 2, &out);
    if (rc) return rc;
    rc = rn_plan_set_output(ctx, out);
    rn_schema_unref(out);
    return rc;
}

/* ---- run time ---- */

struct timed {
    int64_t ts;       /* the row's time */
    int64_t ns;       /* its pane's start (tumbling, sliding) or session index (session) */
    uint32_t row;
};

/* A session of one key while a batch is merged into the key's sessions. */
struct session {
    int64_t start, end, id;
    int64_t stored_end;     /* the end its timer is at in state; INT64_MIN for a new session */
    int32_t into;           /* merged into session `into` (-1: alive) */
};
struct stored_session {
    int64_t start, end, id;
};

struct state {
    struct rn_win_spec spec;
    int time_col[2];
    struct rn__join_codec codec[2];
    struct rn__join_view lview, rview;
    struct rn__join_out out;
    rn_state *rows[2];              /* list state per side: ns = pane start or session id */
    rn_state *sessions;             /* value state (session windows): stored_session[] */
    struct rn__join_groups groups;
    struct timed *sel;
    uint32_t cap_sel;
    struct session *sess;
    uint32_t n_sess, cap_sess;
    struct rn__join_buf chunk, lrows, moved;
    _Atomic uint64_t *late, *null_times, *null_keys;
    int64_t wm_floor;               /* the watermark at the checkpoint restored from */
};

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    st->wm_floor = INT64_MIN;
    int rc;
    struct rn_win_spec other;
    if (rn_win_spec_open(ctx, "window", 0, &st->spec, &st->time_col[0]) ||
        rn_win_spec_open(ctx, "window", 1, &other, &st->time_col[1]))
        return RN_EINVAL;
    if (st->time_col[0] < 0 || st->time_col[1] < 0) {
        rn_op_error(ctx, "window: no event-time column");
        return RN_EINVAL;
    }
    for (uint32_t i = 0; i < 2; i++)
        if ((rc = rn__join_codec_init(&st->codec[i], rn_op_input_schema(ctx, i)))) return rc;
    if ((rc = rn__join_view_init(&st->lview, &st->codec[0])) || (rc = rn__join_view_init(&st->rview, &st->codec[1])))
        return rc;
    rn__join_out_init(&st->out, ctx, &st->codec[0], &st->codec[1]);
    struct rn_state_desc d[3] = {
        {"window_join.left", RN_STATE_LIST, 0, 0, NULL, NULL},
        {"window_join.right", RN_STATE_LIST, 0, 0, NULL, NULL},
        {"window_join.sessions", RN_STATE_VALUE, 0, 0, NULL, NULL},
    };
    rn_state **targets[3] = {&st->rows[0], &st->rows[1], &st->sessions};
    for (uint32_t i = 0; i < (st->spec.type == RN_WIN_SESSION ? 3u : 2u); i++)
        if ((rc = rn_op_state_declare(ctx, &d[i], targets[i]))) return rc;
    st->late = rn_op_metric(ctx, "late_dropped");
    st->null_times = rn_op_metric(ctx, "null_times");
    st->null_keys = rn_op_metric(ctx, "null_keys");
    return 0;
}

static int cmp_timed(const void *a, const void *b)
{
    const struct timed *x = a, *y = b;
    if (x->ns != y->ns) return x->ns < y->ns ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* Appends the batch rows sel[a..z) of `side` as one list element under (k, ns). */
static int append_rows(struct state *st, uint32_t side, const struct rn_state_key *k, int64_t ns,
                       const struct rn_batch *b, uint32_t a, uint32_t z)
{
    st->chunk.len = 0;
    int rc = 0;
    for (uint32_t i = a; i < z && rc == 0; i++) rc = rn__join_row_append(b, st->sel[i].row, &st->chunk);
    return rc ? rc : rn_state_list_append(st->rows[side], k, ns, st->chunk.p, (uint32_t)st->chunk.len);
}

/* ---- tumbling and sliding windows ---- */

/* The start of the last window (ending last) that holds the pane starting at p. */
static int64_t last_window(const struct rn_win_spec *s, int64_t p) { return rn_win_last_start(s, p); }

/* Groups' rows by pane, drops late ones, stores each (key, pane) once and registers the timers
 * of the windows holding the pane that have not fired. */
static int process_panes(struct state *st, struct rn_op_ctx *ctx, uint32_t side, const struct rn_batch *b,
                         const struct rn_op_keys *keys, int64_t wm, uint64_t *late, uint64_t *null_times)
{
    const struct rn_win_spec *s = &st->spec;
    const struct rn_column *tc = &b->cols[st->time_col[side]];
    int rc = 0;
    for (uint32_t g = 0; g < st->groups.n_groups && rc == 0; g++) {
        const uint32_t *rows = st->groups.order + st->groups.start[g];
        uint32_t n = st->groups.start[g + 1] - st->groups.start[g], m = 0;
        if (rn_column_is_null(keys->column, keys->first_row[g])) {
            if (st->null_keys) *st->null_keys += n;
            continue;
        }
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = rows[j];
            if (rn_column_is_null(tc, r)) {
                (*null_times)++;
                continue;
            }
            int64_t ts = rn_col_i64(tc, r), p = rn_win_pane_start(s, ts);
            if (rn_win_end(last_window(s, p), s->size) - 1 <= wm) {
                (*late)++;
                continue;
            }
            st->sel[m++] = (struct timed){ts, p, r};
        }
        if (m > 1) qsort(st->sel, m, sizeof *st->sel, cmp_timed);
        const struct rn_state_key *k = &keys->group_keys[g];
        for (uint32_t a = 0; a < m && rc == 0;) {
            uint32_t z = a + 1;
            int64_t p = st->sel[a].ns;
            while (z < m && st->sel[z].ns == p) z++;
            rc = append_rows(st, side, k, p, b, a, z);
            /* the windows holding pane [p, p + pane): starts last, last - slide, ... > p + pane - 1 - size */
            for (int64_t ws = last_window(s, p); rc == 0 && ws > p + s->pane - 1 - s->size; ws -= s->slide) {
                int64_t fire = rn_win_end(ws, s->size) - 1;
                if (fire <= wm) break;   /* this one and every earlier one fired */
                rc = rn_op_timer_register(ctx, RN_TIMER_EVENT, k, ws, fire);
                if (ws < INT64_MIN + s->slide) break;
            }
            a = z;
        }
    }
    return rc;
}

static int copy_rows_fn(const void *val, uint32_t len, void *user)
{
    return rn__join_buf_append(user, val, len);
}

struct fire {
    struct state *st;
    int64_t extra[2];               /* window_start, window_end */
};

/* One right list element: pairs each of its rows with every left row copied into st->lrows. */
static int pair_fn(const void *val, uint32_t len, void *user)
{
    struct fire *f = user;
    struct state *st = f->st;
    const uint8_t *q = val;
    size_t left = len;
    while (left) {
        size_t used = rn__join_row_view(&st->codec[1], q, left, &st->rview);
        if (!used) return RN_ECORRUPT;
        q += used;
        left -= used;
        struct rn__join_ref r = {NULL, 0, &st->rview};
        for (size_t at = 0; at < st->lrows.len;) {
            size_t lu = rn__join_row_view(&st->codec[0], st->lrows.p + at, st->lrows.len - at, &st->lview);
            if (!lu) return RN_ECORRUPT;
            at += lu;
            struct rn__join_ref l = {NULL, 0, &st->lview};
            int rc = rn__join_out_pair(&st->out, &l, &r, f->extra, 2);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Emits the cross product of key k's left and right rows under the n namespaces first,
 * first + step, ... as window [start, end). */
static int emit_window(struct state *st, const struct rn_state_key *k, int64_t first, int64_t step, uint64_t n,
                       int64_t start, int64_t end)
{
    st->lrows.len = 0;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i++)
        rc = rn_state_list_each(st->rows[0], k, first + (int64_t)i * step, copy_rows_fn, &st->lrows);
    if (rc || !st->lrows.len) return rc;
    struct fire f = {st, {start, end}};
    for (uint64_t i = 0; i < n && rc == 0; i++)
        rc = rn_state_list_each(st->rows[1], k, first + (int64_t)i * step, pair_fn, &f);
    if (rc == RN_ECORRUPT) rn_op_error(st->out.ctx, "keyed state: a stored row is corrupt");
    return rc;
}

/* The timer of window [ns, ns + size) of timer->key: emits it, then clears the panes that no
 * later window holds ([start, start + slide)). */
static int fire_pane_window(struct state *st, const struct rn_timer *t)
{
    const struct rn_win_spec *s = &st->spec;
    int64_t ws = t->ns, we = rn_win_end(ws, s->size);
    int rc = emit_window(st, &t->key, ws, s->pane, (uint64_t)((we - ws) / s->pane), ws, we);
    for (int64_t p = ws; rc == 0 && p - ws < s->slide && p < we; p += s->pane)
        for (uint32_t side = 0; side < 2 && rc == 0; side++) rc = rn_state_remove(st->rows[side], &t->key, p);
    return rc;
}

/* ---- session windows ---- */

static int grow_sessions(struct state *st, uint32_t n)
{
    if (n <= st->cap_sess) return 0;
    uint32_t cap = st->cap_sess ? st->cap_sess * 2 : 16;
    while (cap < n) cap *= 2;
    struct session *p = realloc(st->sess, (size_t)cap * sizeof *p);
    if (!p) return RN_ENOMEM;
    st->sess = p;
    st->cap_sess = cap;
    return 0;
}

/* Loads key k's stored sessions into st->sess. */
static int load_sessions(struct state *st, const struct rn_state_key *k)
{
    const void *v;
    uint32_t len;
    int rc = rn_state_get(st->sessions, k, 0, &v, &len);
    st->n_sess = 0;
    if (rc || !v) return rc;
    if (len % sizeof(struct stored_session)) return RN_ECORRUPT;
    uint32_t n = len / (uint32_t)sizeof(struct stored_session);
    if ((rc = grow_sessions(st, n))) return rc;
    for (uint32_t i = 0; i < n; i++) {
        struct stored_session ss;
        memcpy(&ss, (const uint8_t *)v + (size_t)i * sizeof ss, sizeof ss);
        st->sess[i] = (struct session){ss.start, ss.end, ss.id, ss.end, -1};
    }
    st->n_sess = n;
    return 0;
}

/* Writes the live sessions of st->sess back for key k (removes the entry when none). */
static int save_sessions(struct state *st, const struct rn_state_key *k)
{
    st->chunk.len = 0;
    for (uint32_t i = 0; i < st->n_sess; i++) {
        if (st->sess[i].into >= 0) continue;
        struct stored_session ss = {st->sess[i].start, st->sess[i].end, st->sess[i].id};
        int rc = rn__join_buf_append(&st->chunk, &ss, sizeof ss);
        if (rc) return rc;
    }
    if (!st->chunk.len) return rn_state_remove(st->sessions, k, 0);
    return rn_state_put(st->sessions, k, 0, st->chunk.p, (uint32_t)st->chunk.len);
}

static uint32_t resolve(const struct state *st, uint32_t i)
{
    while (st->sess[i].into >= 0) i = (uint32_t)st->sess[i].into;
    return i;
}

/* A row's window [ts, ts + gap) joins the key's sessions: returns the index of the session
 * that holds it after merging, or -1 when the row is late. */
static int32_t merge_row(struct state *st, int64_t ts, int64_t wm)
{
    int64_t start = ts, end = rn__join_add_sat(ts, st->spec.gap);
    int32_t into = -1;
    for (uint32_t i = 0; i < st->n_sess; i++) {
        struct session *s = &st->sess[i];
        if (s->into >= 0 || !(s->start <= end && start <= s->end)) continue;
        if (into < 0) {
            into = (int32_t)i;
            continue;
        }
        /* a second session touches: the two merge (the earlier-starting one survives) */
        struct session *t = &st->sess[into];
        if (s->start < t->start) {
            struct session *x = s;
            s = t;
            t = x;
            into = (int32_t)(t - st->sess);
        }
        if (s->end > t->end) t->end = s->end;   /* t starts first */
        s->into = into;
    }
    if (into < 0) {
        if (end - 1 <= wm) return -1;
        if (grow_sessions(st, st->n_sess + 1)) return -2;
        st->sess[st->n_sess] = (struct session){start, end, ts, INT64_MIN, -1};
        return (int32_t)st->n_sess++;
    }
    struct session *t = &st->sess[into];
    if (start < t->start) t->start = start;
    if (end > t->end) t->end = end;
    return into;
}

/* Moves the rows of session id `from` (both sides) under id `to`. */
static int move_rows(struct state *st, const struct rn_state_key *k, int64_t from, int64_t to)
{
    for (uint32_t side = 0; side < 2; side++) {
        st->moved.len = 0;
        int rc = rn_state_list_each(st->rows[side], k, from, copy_rows_fn, &st->moved);
        if (!rc && st->moved.len) rc = rn_state_list_append(st->rows[side], k, to, st->moved.p, (uint32_t)st->moved.len);
        if (!rc) rc = rn_state_remove(st->rows[side], k, from);
        if (rc) return rc;
    }
    return 0;
}

static int process_sessions(struct state *st, struct rn_op_ctx *ctx, uint32_t side, const struct rn_batch *b,
                            const struct rn_op_keys *keys, int64_t wm, uint64_t *late, uint64_t *null_times)
{
    const struct rn_column *tc = &b->cols[st->time_col[side]];
    int rc = 0;
    for (uint32_t g = 0; g < st->groups.n_groups && rc == 0; g++) {
        const uint32_t *rows = st->groups.order + st->groups.start[g];
        uint32_t n = st->groups.start[g + 1] - st->groups.start[g], m = 0;
        if (rn_column_is_null(keys->column, keys->first_row[g])) {
            if (st->null_keys) *st->null_keys += n;
            continue;
        }
        const struct rn_state_key *k = &keys->group_keys[g];
        if ((rc = load_sessions(st, k))) break;
        uint32_t n_loaded = st->n_sess;
        for (uint32_t j = 0; j < n; j++) {
            uint32_t r = rows[j];
            if (rn_column_is_null(tc, r)) {
                (*null_times)++;
                continue;
            }
            int64_t ts = rn_col_i64(tc, r);
            int32_t s = merge_row(st, ts, wm);
            if (s == -2) return RN_ENOMEM;
            if (s < 0) {
                (*late)++;
                continue;
            }
            st->sel[m++] = (struct timed){ts, s, r};
        }
        if (!m) continue;
        for (uint32_t i = 0; i < m; i++) st->sel[i].ns = st->sess[resolve(st, (uint32_t)st->sel[i].ns)].id;
        /* stored sessions merged into others: their rows move, their timers go */
        for (uint32_t i = 0; i < n_loaded && rc == 0; i++) {
            struct session *s = &st->sess[i];
            if (s->into < 0) continue;
            const struct session *t = &st->sess[resolve(st, i)];
            rc = move_rows(st, k, s->id, t->id);
            if (!rc) rc = rn_op_timer_delete(ctx, RN_TIMER_EVENT, k, s->id, s->stored_end - 1);
        }
        /* this batch's rows, once per session */
        if (m > 1) qsort(st->sel, m, sizeof *st->sel, cmp_timed);
        for (uint32_t a = 0; a < m && rc == 0;) {
            uint32_t z = a + 1;
            while (z < m && st->sel[z].ns == st->sel[a].ns) z++;
            rc = append_rows(st, side, k, st->sel[a].ns, b, a, z);
            a = z;
        }
        /* timers of the live sessions that are new or grew */
        for (uint32_t i = 0; i < st->n_sess && rc == 0; i++) {
            struct session *s = &st->sess[i];
            if (s->into >= 0 || s->end == s->stored_end) continue;
            if (s->stored_end != INT64_MIN) rc = rn_op_timer_delete(ctx, RN_TIMER_EVENT, k, s->id, s->stored_end - 1);
            if (!rc) rc = rn_op_timer_register(ctx, RN_TIMER_EVENT, k, s->id, s->end - 1);
        }
        if (rc == 0) rc = save_sessions(st, k);
    }
    return rc;
}

static int fire_session(struct state *st, const struct rn_timer *t)
{
    int rc = load_sessions(st, &t->key);
    if (rc) return rc;
    for (uint32_t i = 0; i < st->n_sess; i++) {
        struct session *s = &st->sess[i];
        if (s->id != t->ns || s->end - 1 != t->time) continue;
        int64_t id = s->id, start = s->start, end = s->end;
        s->into = (int32_t)i;   /* gone: not written back */
        if ((rc = save_sessions(st, &t->key))) return rc;
        if ((rc = emit_window(st, &t->key, id, 1, 1, start, end))) return rc;
        for (uint32_t side = 0; side < 2 && rc == 0; side++) rc = rn_state_remove(st->rows[side], &t->key, id);
        return rc;
    }
    return 0;   /* a timer of a session that has merged or moved since (deleted timers never fire) */
}

/* ---- callbacks ---- */

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    struct state *st = state;
    uint32_t side = input ? 1 : 0;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, side, b, &keys);
    if (rc || (rc = rn__join_group(&st->groups, &keys))) return rc;
    if (b->n_rows > st->cap_sel) {
        struct timed *p = realloc(st->sel, (size_t)b->n_rows * sizeof *p);
        if (!p) return RN_ENOMEM;
        st->sel = p;
        st->cap_sel = b->n_rows;
    }
    uint64_t late = 0, null_times = 0;
    int64_t wm = rn__ckpt_watermark(ctx, st->wm_floor);
    rc = st->spec.type == RN_WIN_SESSION ? process_sessions(st, ctx, side, b, &keys, wm, &late, &null_times)
                                         : process_panes(st, ctx, side, b, &keys, wm, &late, &null_times);
    if (late && st->late) *st->late += late;
    if (null_times && st->null_times) *st->null_times += null_times;
    if (rc && rc != RN_ENOMEM && rc != RN_ECANCELED) rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
    return rc;
}

/* A window fired: its pairs go into the writer, which on_watermark flushes once every timer
 * of the watermark has fired (so the pairs of many small windows share batches). */
static int on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *timer)
{
    (void)ctx;
    struct state *st = state;
    return st->spec.type == RN_WIN_SESSION ? fire_session(st, timer) : fire_pane_window(st, timer);
}

static int on_watermark(void *state, struct rn_op_ctx *ctx, int64_t watermark)
{
    (void)ctx;
    (void)watermark;
    return rn__join_out_flush(&((struct state *)state)->out);
}

#define WM_LIST "window_join.watermark"

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct state *st = state;
    int rc = rn__join_out_flush(&st->out);   /* pairs already due leave before the barrier */
    if (!rc) rc = rn__ckpt_save_watermark(w, ctx, WM_LIST, st->wm_floor);
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
    rn__join_view_free(&st->lview);
    rn__join_view_free(&st->rview);
    rn__join_groups_free(&st->groups);
    rn__join_buf_free(&st->chunk);
    rn__join_buf_free(&st->lrows);
    rn__join_buf_free(&st->moved);
    free(st->sel);
    free(st->sess);
    free(st);
}

const struct rn_operator_def rn_op_window_join = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "window_join", .description = "joins two keyed inputs per event-time window (pairs of the same key and window)",
    .options = options, .n_inputs_min = 2, .n_inputs_max = 2, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .on_timer = on_timer,
    .on_watermark = on_watermark, .snapshot = snapshot, .restore = restore, .close = close_,
};
