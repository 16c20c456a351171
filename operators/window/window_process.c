/*
 * operators/window/window_process.c — `window_process`: buffers every row of each (key, window)
 * in keyed list state and, when the window fires, calls a window function (runnel/window_fn.h,
 * usually from a plugin) with the key, the window's bounds and all its rows as one batch. The
 * output rows are the key column, window_start, window_end, then the function's columns.
 *
 * Windows (window_spec.h):
 *   tumbling, sliding  rows are stored once per (key, pane), a pane being gcd(size, slide) of
 *                      time (so a sliding window does not copy a row size/slide times); a window
 *                      is the union of its panes, gathered when it fires (watermark or clock at
 *                      end - 1). A pane goes when the last window holding it has fired.
 *   session            per key, a value state holds the open sessions (start, end, id); rows are
 *                      stored under the session's id, which stays the same when sessions merge
 *                      (the rows of the absorbed session are moved once). A session fires when
 *                      the watermark reaches its end - 1 (end = last row's time + gap).
 *   count              fires every `slide` rows of a key (default size) with the key's last
 *                      `size` rows; a value state counts the key's rows; an incomplete window at
 *                      the end of the input does not fire (as Flink's).
 *   global             one window per key, fired at the end of the input.
 * Count and global windows have no time bounds: window_start and window_end are null.
 *
 * Per batch: rows are grouped by (key, pane or session); each group becomes one chunk (a row
 * count, then each row as winrows.h encodes it) appended to the list state: one state update
 * per distinct (key, window) per batch. Late rows (every window that would hold them has fired)
 * are dropped and counted in the `late_rows` metric.
 *
 * The function's options (`options:`) are checked against its option table here, with the same
 * rules as an operator's `with:` (unknown names, types, defaults), so that a plugin reads them
 * with rn_opt_* like an operator does.
 *
 * Checkpoints: rows, sessions, counts and timers are all keyed state; memory holds nothing a
 * restored run needs but the watermark (keyed/ckpt.h: a pane first seen after a restore must
 * not get the timer of a window that fired before the checkpoint, nor a row that was late then
 * be kept). Window functions have no checkpoint callbacks: they are called per fired window and
 * must keep nothing between calls that the output depends on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "keyed/ckpt.h"
#include "runnel/window_fn.h"
#include "window_spec.h"
#include "winrows.h"

#define WP_MAX_PANES 100000   /* panes per sliding window (size / gcd(size, slide)) */

static const struct rn_option options[] = {
    {"window", RN_OPT_MAP, NULL,
     "the window: {type: tumbling|sliding|session|count|global, size, slide, gap, offset, time, column} (see "
     "window_aggregate)"},
    {"function", RN_OPT_STRING, NULL, "the window function called with each fired window's rows (runnel/window_fn.h)"},
    {"options", RN_OPT_MAP, "", "the window function's options (its option table)"},
    {NULL, 0, NULL, NULL},
};

/* ---- the function and its options ---- */

/* The value inside v at (line, col), for an error the function reported with a position. */
static const rn_value *value_at(const rn_value *v, int line, int col)
{
    if (!v || line <= 0) return NULL;
    if (rn_value_line(v) == line && rn_value_column(v) == col) return v;
    for (size_t i = 0; i < rn_value_len(v); i++) {
        const rn_value *hit = value_at(rn_value_at(v, i), line, col);
        if (hit) return hit;
    }
    return NULL;
}

/* The output's window columns are null for count and global windows (no time bounds). */
static bool has_bounds(const struct rn_win_spec *s) { return s->type != RN_WIN_COUNT && s->type != RN_WIN_GLOBAL; }

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    struct rn_window_fn_setup setup = {.node_id = rn_plan_node_id(ctx), .input = in};
    int rc = rn_plan_key(ctx, 0, &setup.key_type, &setup.key_name);
    if (rc) return rc;
    struct rn_win_spec spec;
    if (rn_win_spec_plan(ctx, "window", 0, &spec)) return RN_EINVAL;
    if ((spec.type == RN_WIN_TUMBLING || spec.type == RN_WIN_SLIDING) && spec.size / spec.pane > WP_MAX_PANES)
        return rn_plan_error(ctx, rn_opt_value(o, "window"), "size / gcd(size, slide) is %lld: at most %d panes per window",
                             (long long)(spec.size / spec.pane), WP_MAX_PANES);
    const char *name = rn_opt_string(o, "function");
    const struct rn_window_fn_def *fn = rn_registry_find_window_fn(rn_plan_registry(ctx), name);
    if (!fn) {
        const struct rn_registry *reg = rn_plan_registry(ctx);
        char known[256] = "";
        for (size_t i = 0; i < rn_registry_window_fn_len(reg); i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", known[0] ? ", " : "",
                     rn_registry_window_fn_at(reg, i)->name);
        return rn_plan_error(ctx, rn_opt_value(o, "function"),
                             "no window function '%s' (%s%s; plugins add theirs from the plugin directory)", name ? name : "",
                             known[0] ? "registered: " : "none is registered", known);
    }
    const rn_value *given = rn_opt_value(o, "options");
    char owner[160];
    snprintf(owner, sizeof owner, "window function '%s'", fn->name);
    rn_value *fo = rn_plan_check_options(ctx, fn->options, owner, given);
    if (!fo) return RN_EINVAL;   /* reported at the options' positions */
    setup.options = fo;
    rn_schema *fout = NULL;
    struct rn_error err = {0};
    rc = fn->plan(&setup, &fout, &err);
    if (rc || !fout || !rn_schema_len(fout)) {
        const rn_value *at = value_at(given, err.line, err.column);
        rn_options_free(fo);
        rn_schema_unref(fout);
        return rn_plan_error(ctx, at ? at : given ? given : rn_opt_value(o, "function"), "window function '%s': %s", fn->name,
                             rc ? (err.msg[0] ? err.msg : rn_strerror(rc)) : "plan() declared no output columns");
    }
    rn_options_free(fo);
    rn_schema *out = rn_schema_create();
    bool bounds = has_bounds(&spec);
    rc = out ? rn_schema_add(out, setup.key_name, setup.key_type, true) : RN_ENOMEM;
    if (!rc) rc = rn_schema_add(out, "window_start", rn_type_of(RN_T_TIMESTAMP), !bounds);
    if (!rc) rc = rn_schema_add(out, "window_end", rn_type_of(RN_T_TIMESTAMP), !bounds);
    for (size_t i = 0; i < rn_schema_len(fout) && !rc; i++) {
        const struct rn_field *f = rn_schema_field(fout, i);
        if ((rc = rn_schema_add(out, f->name, f->type, f->nullable)))
            rn_plan_error(ctx, rn_opt_value(o, "function"), "window function '%s' outputs a column named '%s', like the key "
                                                            "or a window column",
                          fn->name, f->name);
    }
    if (!rc) rn_plan_set_output(ctx, out);
    rn_schema_unref(out);
    rn_schema_unref(fout);
    return rc ? RN_EINVAL : 0;
}

/* ---- run time ---- */

struct rowref {
    const uint8_t *p;
    uint32_t len;
};

/* A session of a key: rows are stored under id, which survives merges. */
struct session {
    int64_t start, end, id;
};

struct wp {
    const struct rn_window_fn_def *fn;
    void *fn_state;
    bool fn_open;
    rn_value *fn_opts;
    rn_schema *fn_out;
    struct rn_win_spec spec;
    int time_col;
    enum rn_timer_kind tkind;
    const rn_schema *in;
    rn_state *rows, *sessions, *counts;
    rn_builder *out;
    _Atomic uint64_t *late, *no_time;
    struct rn__wr_groups groups;
    /* per batch, per row */
    uint32_t cap_rows;
    int64_t *ts, *ns;
    bool *keep;
    uint32_t *order;              /* rows by group, in arrival order within a group */
    struct srow { uint32_t dkey; int64_t ts; uint32_t row; } *srows;   /* sessions: rows by (key, time) */
    /* per batch, per group */
    uint32_t cap_groups;
    uint32_t *gstart;             /* group g's rows: order[gstart[g] .. + count[g]] */
    struct rn_state_key *gkeys;
    int64_t *gns;
    const void **vals;
    uint32_t *lens;
    int64_t *counts_seen;
    /* byte arenas */
    uint8_t *chunk, *gather, *tkey;
    size_t chunk_cap, gather_cap, tkey_cap;
    size_t gather_len;
    struct rowref *refs;
    uint32_t refs_cap;
    struct session *sess;         /* sessions: the stored ones (per key) and the merged result */
    uint32_t sess_cap;
    /* the rows of the current fire, as a batch */
    rn_builder *rows_builder;
    int64_t wm_floor;             /* the watermark at the checkpoint restored from */
};

static int grow_rows(struct wp *st, uint32_t n)
{
#define GROW(p, count) do { void *q_ = realloc((p), (size_t)(count) * sizeof *(p)); if (!q_) return RN_ENOMEM; (p) = q_; } while (0)
    if (n <= st->cap_rows) return 0;
    GROW(st->ts, n);
    GROW(st->ns, n);
    GROW(st->keep, n);
    GROW(st->order, n);
    GROW(st->srows, n);
    st->cap_rows = n;
    return 0;
}

static int grow_groups(struct wp *st, uint32_t n)
{
    if (n <= st->cap_groups) return 0;
    GROW(st->gstart, n);
    GROW(st->gkeys, n);
    GROW(st->gns, n);
    GROW(st->vals, n);
    GROW(st->lens, n);
    GROW(st->counts_seen, n);
    st->cap_groups = n;
    return 0;
}

static int grow_refs(struct wp *st, uint32_t n)
{
    if (n <= st->refs_cap) return 0;
    uint32_t c = st->refs_cap ? st->refs_cap : 256;
    while (c < n) c *= 2;
    GROW(st->refs, c);
    st->refs_cap = c;
    return 0;
}

static int grow_sessions(struct wp *st, uint32_t n)
{
    if (n <= st->sess_cap) return 0;
    uint32_t c = st->sess_cap ? st->sess_cap : 64;
    while (c < n) c *= 2;
    GROW(st->sess, c);
    st->sess_cap = c;
    return 0;
#undef GROW
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct wp *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    const rn_value *o = rn_op_options(ctx);
    st->in = rn_op_input_schema(ctx, 0);
    if (rn_win_spec_open(ctx, "window", 0, &st->spec, &st->time_col)) return RN_EINVAL;
    st->tkind = st->spec.processing_time ? RN_TIMER_PROCESSING : RN_TIMER_EVENT;
    st->wm_floor = INT64_MIN;
    st->fn = rn_registry_find_window_fn(rn_op_registry(ctx), rn_opt_string(o, "function"));
    if (!st->fn) {
        rn_op_error(ctx, "no window function '%s'", rn_opt_string(o, "function"));
        return RN_EINVAL;
    }
    if (!(st->fn_opts = rn_options_fill(st->fn->options, rn_opt_value(o, "options")))) {
        rn_op_error(ctx, "window function '%s': its options do not check (or no memory)", st->fn->name);
        return RN_EINVAL;
    }
    const rn_schema *out = rn_op_output_schema(ctx);
    struct rn_window_fn_setup setup = {rn_op_node_id(ctx), st->in, st->fn_opts, NULL, rn_schema_field(out, 0)->type,
                                       rn_schema_field(out, 0)->name};
    struct rn_error err = {0};
    int rc = st->fn->plan(&setup, &st->fn_out, &err);
    if (rc || !st->fn_out) {
        rn_op_error(ctx, "window function '%s': %s", st->fn->name, err.msg[0] ? err.msg : rn_strerror(rc));
        return rc ? rc : RN_EINVAL;
    }
    setup.output = st->fn_out;
    if (st->fn->open) {
        rc = st->fn->open(&setup, &st->fn_state, &err);
        st->fn_open = true;
        if (rc) {
            rn_op_error(ctx, "window function '%s': open: %s", st->fn->name, err.msg[0] ? err.msg : rn_strerror(rc));
            return rc;
        }
    }
    st->late = rn_op_metric(ctx, "late_rows");
    st->no_time = rn_op_metric(ctx, "rows_without_time");
    if (!(st->out = rn_builder_create(out, 0))) return RN_ENOMEM;
    struct rn_state_desc rows = {"window_process.rows", RN_STATE_LIST, 0, 0, NULL, NULL};
    struct rn_state_desc sessions = {"window_process.sessions", RN_STATE_VALUE, 0, 0, NULL, NULL};
    struct rn_state_desc counts = {"window_process.count", RN_STATE_VALUE, 8, 0, NULL, NULL};
    if ((rc = rn_op_state_declare(ctx, &rows, &st->rows))) return rc;
    if (st->spec.type == RN_WIN_SESSION) return rn_op_state_declare(ctx, &sessions, &st->sessions);
    if (st->spec.type == RN_WIN_COUNT) return rn_op_state_declare(ctx, &counts, &st->counts);
    return 0;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct wp *st = state;
    if (!st) return;
    if (st->fn_open && st->fn->close) st->fn->close(st->fn_state);
    rn_options_free(st->fn_opts);
    rn_schema_unref(st->fn_out);
    rn_builder_destroy(st->out);
    rn__wr_groups_free(&st->groups);
    free(st->ts);
    free(st->ns);
    free(st->keep);
    free(st->order);
    free(st->srows);
    free(st->gstart);
    free(st->gkeys);
    free(st->gns);
    free(st->vals);
    free(st->lens);
    free(st->counts_seen);
    free(st->chunk);
    free(st->gather);
    free(st->tkey);
    free(st->refs);
    free(st->sess);
    free(st);
}

static int flush(struct wp *st, struct rn_op_ctx *ctx)
{
    if (!rn_builder_rows(st->out)) return 0;
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(st->out, &err);
    if (!b) {
        rn_op_error(ctx, "output: %s", err.msg);
        return RN_ENOMEM;
    }
    return rn_op_emit(ctx, b);
}

/* ---- chunks: what one list append stores (u32 rows, then per row: u32 length, the row) ---- */

/* Encodes rows[0..n) of b (indexes) as one chunk into st->chunk; returns its size. */
static int make_chunk(struct wp *st, const struct rn_batch *b, const uint32_t *rows, uint32_t n, size_t *size)
{
    size_t total = 4;
    for (uint32_t i = 0; i < n; i++) total += 4 + rn__row_size(b, rows[i]);
    if (total > UINT32_MAX) return RN_ERANGE;
    int rc = rn__wr_reserve(&st->chunk, &st->chunk_cap, total);
    if (rc) return rc;
    memcpy(st->chunk, &n, 4);
    size_t at = 4;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t len = (uint32_t)rn__row_encode(b, rows[i], st->chunk + at + 4);
        memcpy(st->chunk + at, &len, 4);
        at += 4 + (size_t)len;
    }
    *size = at;
    return 0;
}

/* list_each callback: copies a chunk to the end of the gather arena. */
static int gather_chunk(const void *val, uint32_t len, void *user)
{
    struct wp *st = user;
    int rc = rn__wr_reserve(&st->gather, &st->gather_cap, st->gather_len + len);
    if (rc) return rc;
    memcpy(st->gather + st->gather_len, val, len);
    st->gather_len += len;
    return 0;
}

/* Appends the rows of the chunks in gather[from, to) to refs (from *n on); RN_ECORRUPT when
 * they are not chunks. */
static int index_chunks(struct wp *st, size_t from, size_t to, uint32_t *n)
{
    size_t at = from;
    while (at < to) {
        uint32_t rows;
        if (to - at < 4) return RN_ECORRUPT;
        memcpy(&rows, st->gather + at, 4);
        at += 4;
        int rc = grow_refs(st, *n + rows);
        if (rc) return rc;
        for (uint32_t i = 0; i < rows; i++) {
            uint32_t len;
            if (to - at < 4) return RN_ECORRUPT;
            memcpy(&len, st->gather + at, 4);
            if (to - at - 4 < len) return RN_ECORRUPT;
            st->refs[(*n)++] = (struct rowref){st->gather + at + 4, len};
            at += 4 + (size_t)len;
        }
    }
    return 0;
}

/* Gathers the rows stored under (key, ns) onto refs (from *n on). *found tells whether any list
 * was there. */
static int gather(struct wp *st, struct rn_op_ctx *ctx, const struct rn_state_key *key, int64_t ns, uint32_t *n,
                  bool *found)
{
    size_t from = st->gather_len;
    int rc = rn_state_list_each(st->rows, key, ns, gather_chunk, st);
    if (rc) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    if (found) *found = st->gather_len > from;
    if ((rc = index_chunks(st, from, st->gather_len, n)))
        rn_op_error(ctx, "keyed state holds a list element that is not a chunk of rows");
    return rc;
}

/* Calls the function with the n rows at refs of one window of one key, and appends its output
 * rows. The key is row key_row of column key, or (key NULL) evaluated over the rows. The refs
 * point into gather, which may be reused afterwards. */
static int fire(struct wp *st, struct rn_op_ctx *ctx, const struct rowref *refs, uint32_t n, const struct rn_column *key,
                uint32_t key_row, int64_t start, int64_t end)
{
    if (!n) return 0;
    if (n > RN_BATCH_MAX_ROWS) {
        rn_op_error(ctx, "a window holds %u rows: at most %u can be handed to a window function", n, RN_BATCH_MAX_ROWS);
        return RN_ERANGE;
    }
    rn_builder *bb = rn_builder_create(st->in, n);
    if (!bb) return RN_ENOMEM;
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        size_t used;
        rc = rn__row_decode(bb, 0, st->in, refs[i].p, refs[i].len, &used);
    }
    struct rn_error err = {0};
    struct rn_batch *rows = rc ? NULL : rn_builder_finish(bb, &err);
    rn_builder_destroy(bb);
    if (!rows) {
        rn_op_error(ctx, "keyed state holds rows that do not decode (%s)", rc ? rn_strerror(rc) : err.msg);
        return rc ? rc : RN_ECORRUPT;
    }
    struct rn_op_keys keys;
    if (!key) {
        if ((rc = rn_op_keys(ctx, 0, rows, &keys))) {
            rn_batch_unref(rows);
            return rc;
        }
        key = keys.column;
        key_row = 0;
    }
    struct rn_window_call call = {key, key_row, start, end};
    struct rn_batch *got = NULL;
    rc = st->fn->process(st->fn_state, &call, rows, &got, &err);
    if (rc) {
        rn_op_error(ctx, "window function '%s': %s", st->fn->name, err.msg[0] ? err.msg : rn_strerror(rc));
        rn_batch_unref(rows);
        rn_batch_unref(got);
        return rc;
    }
    if (got && (got->n_cols != rn_schema_len(st->fn_out) || !rn_schema_equal(got->schema, st->fn_out))) {
        char a[256], b[256];
        rn_op_error(ctx, "window function '%s' returned rows of (%s), it declared (%s)", st->fn->name,
                    rn_schema_describe(got->schema, a, sizeof a), rn_schema_describe(st->fn_out, b, sizeof b));
        rn_batch_unref(rows);
        rn_batch_unref(got);
        return RN_EINVAL;
    }
    bool bounds = has_bounds(&st->spec);
    for (uint32_t r = 0; got && r < got->n_rows && !rc; r++) {
        if (rn_builder_full(st->out) && (rc = flush(st, ctx))) break;
        rc = rn__wr_append_value(st->out, 0, key, key_row);
        if (!rc) rc = bounds ? rn_builder_ts(st->out, 1, start) : rn_builder_null(st->out, 1);
        if (!rc) rc = bounds ? rn_builder_ts(st->out, 2, end) : rn_builder_null(st->out, 2);
        for (uint32_t c = 0; c < got->n_cols && !rc; c++) rc = rn__wr_append_value(st->out, 3 + c, &got->cols[c], r);
        if (rc && rc != RN_ECANCELED) rn_op_error(ctx, "window function '%s': output row %u: %s", st->fn->name, r, rn_strerror(rc));
    }
    rn_batch_unref(got);
    rn_batch_unref(rows);   /* after the output: key may be a column of the rows' keys */
    return rc;
}

/* ---- process ---- */

/* Event or processing time of each row; false in keep when it has none. */
static void row_times(struct wp *st, struct rn_op_ctx *ctx, const struct rn_batch *b)
{
    const struct rn_column *c = st->time_col >= 0 ? &b->cols[st->time_col] : NULL;
    int64_t now = st->spec.processing_time ? rn_op_processing_time(ctx) : 0;
    uint64_t missing = 0;
    for (uint32_t r = 0; r < b->n_rows; r++) {
        bool has = !c || !rn_column_is_null(c, r);
        st->ts[r] = c ? (has ? rn_col_i64(c, r) : 0) : now;
        st->keep[r] = has;
        missing += !has;
    }
    if (missing) *st->no_time += missing;
}

/* order[]: the rows of each group together, in arrival order; gstart[g] where group g's start. */
static void order_by_group(struct wp *st, uint32_t n)
{
    const struct rn__wr_groups *g = &st->groups;
    uint32_t off = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        st->gstart[i] = off;
        off += g->count[i];
    }
    for (uint32_t i = 0; i < g->n; i++) st->counts_seen[i] = 0;   /* scratch: rows placed */
    for (uint32_t r = 0; r < n; r++) {
        uint32_t gi = g->group[r];
        if (gi == UINT32_MAX) continue;
        st->order[st->gstart[gi] + (uint32_t)st->counts_seen[gi]++] = r;
    }
}

/* Appends each group's rows as one chunk under (key, gns[g]). */
static int append_groups(struct wp *st, struct rn_op_ctx *ctx, const struct rn_batch *b)
{
    const struct rn__wr_groups *g = &st->groups;
    for (uint32_t i = 0; i < g->n; i++) {
        size_t size;
        int rc = make_chunk(st, b, st->order + st->gstart[i], g->count[i], &size);
        if (!rc) rc = rn_state_list_append(st->rows, &st->gkeys[i], st->gns[i], st->chunk, (uint32_t)size);
        if (rc) {
            rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* Tumbling and sliding windows: rows to (key, pane); the timer of the first window to fire
 * that holds each pane. Global windows: rows to (key, 0), fired at the end. */
static int process_panes(struct wp *st, struct rn_op_ctx *ctx, const struct rn_batch *b, const struct rn_op_keys *keys)
{
    const struct rn_win_spec *s = &st->spec;
    bool global = s->type == RN_WIN_GLOBAL;
    int64_t now = s->processing_time ? rn_op_processing_time(ctx) : rn__ckpt_watermark(ctx, st->wm_floor);
    uint64_t late = 0;
    for (uint32_t r = 0; r < b->n_rows; r++) {
        if (global) {
            st->ns[r] = 0;
            st->keep[r] = true;
            continue;
        }
        if (!st->keep[r]) continue;
        int64_t ps = rn_win_pane_start(s, st->ts[r]);
        st->ns[r] = ps + s->pane;
        if (rn_win_end(rn_win_last_start(s, ps), s->size) - 1 <= now) st->keep[r] = false, late++;
    }
    if (late) *st->late += late;
    int rc = rn__wr_group(&st->groups, b->n_rows, keys->group, st->ns, st->keep);
    if (rc || (rc = grow_groups(st, st->groups.n))) return rc;
    for (uint32_t i = 0; i < st->groups.n; i++) {
        st->gkeys[i] = keys->group_keys[st->groups.dkey[i]];
        st->gns[i] = st->groups.ns[i];
    }
    order_by_group(st, b->n_rows);
    if ((rc = append_groups(st, ctx, b))) return rc;
    for (uint32_t i = 0; i < st->groups.n && !rc; i++) {
        int64_t end = global ? INT64_MAX : rn__wr_first_window_end(s, st->gns[i], now);
        if (end != INT64_MIN) rc = rn_op_timer_register(ctx, st->tkind, &st->gkeys[i], global ? 0 : end, end - 1);
    }
    return rc;
}

static int srow_cmp(const void *a, const void *b)
{
    const struct srow *x = a, *y = b;
    if (x->dkey != y->dkey) return x->dkey < y->dkey ? -1 : 1;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

/* Reads a key's stored sessions (value: n x (start, end, id)) into st->sess[at..]; returns how
 * many, or -1 when the bytes are not that. */
static int64_t read_sessions(struct wp *st, const void *v, uint32_t len, uint32_t at)
{
    if (!v) return 0;
    if (len % sizeof(struct session)) return -1;
    uint32_t n = len / (uint32_t)sizeof(struct session);
    if (grow_sessions(st, at + n)) return -1;
    memcpy(st->sess + at, v, len);
    return n;
}

/* Moves the rows of session `from` of a key under session id `to`. */
static int move_rows(struct wp *st, struct rn_op_ctx *ctx, const struct rn_state_key *key, int64_t from, int64_t to)
{
    st->gather_len = 0;
    int rc = rn_state_list_each(st->rows, key, from, gather_chunk, st);
    /* chunks are self-delimiting: the moved ones go as one element */
    if (!rc && st->gather_len) rc = rn_state_list_append(st->rows, key, to, st->gather, (uint32_t)st->gather_len);
    if (!rc) rc = rn_state_remove(st->rows, key, from);
    if (rc) rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
    return rc;
}

/* Session windows: per key, the batch's rows (by time) form sessions that merge with each other
 * and with the stored ones; each merged session keeps the id of its earliest stored one. */
static int process_sessions(struct wp *st, struct rn_op_ctx *ctx, const struct rn_batch *b, const struct rn_op_keys *keys)
{
    const struct rn_win_spec *s = &st->spec;
    int64_t now = s->processing_time ? rn_op_processing_time(ctx) : rn__ckpt_watermark(ctx, st->wm_floor);
    uint32_t m = 0;
    for (uint32_t r = 0; r < b->n_rows; r++)
        if (st->keep[r]) st->srows[m++] = (struct srow){keys->group[r], st->ts[r], r};
    if (!m) return 0;
    if (m) qsort(st->srows, m, sizeof *st->srows, srow_cmp);
    /* the distinct keys present, in srows order */
    uint32_t nk = 0;
    int rc = grow_groups(st, keys->n_groups);
    if (rc) return rc;
    for (uint32_t i = 0; i < m; i++)
        if (i == 0 || st->srows[i].dkey != st->srows[i - 1].dkey) {
            st->gkeys[nk] = keys->group_keys[st->srows[i].dkey];
            st->gns[nk] = 0;
            st->gstart[nk++] = i;
        }
    if ((rc = rn_state_get_many(st->sessions, st->gkeys, st->gns, nk, st->vals, st->lens))) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    /* copy every key's stored sessions before the next state call; counts_seen[k] = how many,
     * their place in sess follows from the running sum */
    uint32_t stored_total = 0;
    for (uint32_t k = 0; k < nk; k++) {
        int64_t got = read_sessions(st, st->vals[k], st->lens[k], stored_total);
        if (got < 0) {
            rn_op_error(ctx, "keyed state holds a value that is not a session list");
            return RN_ECORRUPT;
        }
        st->counts_seen[k] = got;
        stored_total += (uint32_t)got;
    }
    uint64_t late = 0;
    uint32_t stored_at = 0;
    for (uint32_t k = 0; k < nk && !rc; k++) {
        const struct rn_state_key *key = &st->gkeys[k];
        uint32_t ns_stored = (uint32_t)st->counts_seen[k], first = st->gstart[k];
        uint32_t last = k + 1 < nk ? st->gstart[k + 1] : m;
        /* the merged sessions go after all stored ones in sess */
        uint32_t out_at = stored_total, n_out = 0;
        if ((rc = grow_sessions(st, stored_total + ns_stored + (last - first)))) break;
        struct session *stored = st->sess + stored_at;
        /* sweep the stored sessions and the batch's rows by start time */
        uint32_t i = 0, j = first;
        while (i < ns_stored || j < last) {
            /* one merged session: start with the earliest of the next stored and next row */
            struct session cur;
            bool has_stored = false;
            int64_t keeper_id = 0, keeper_end = 0;
            uint32_t rows_from = j;
            if (i < ns_stored && (j >= last || stored[i].start <= st->srows[j].ts)) {
                cur = stored[i];
                has_stored = true;
                keeper_id = stored[i].id;
                keeper_end = stored[i].end;
                i++;
            } else {
                cur = (struct session){st->srows[j].ts, st->srows[j].ts + s->gap, st->srows[j].ts};
                j++;
            }
            for (;;) {   /* absorb what overlaps or touches [cur.start, cur.end) */
                if (j < last && st->srows[j].ts <= cur.end) {
                    int64_t e = st->srows[j].ts + s->gap;
                    if (e > cur.end) cur.end = e;
                    j++;
                } else if (i < ns_stored && stored[i].start <= cur.end) {
                    if (stored[i].end > cur.end) cur.end = stored[i].end;
                    if (!has_stored) {
                        has_stored = true;
                        keeper_id = stored[i].id;
                        keeper_end = stored[i].end;
                    } else {   /* two stored sessions merge: the later one's rows move */
                        if ((rc = rn_op_timer_delete(ctx, st->tkind, key, stored[i].id, stored[i].end - 1)) ||
                            (rc = move_rows(st, ctx, key, stored[i].id, keeper_id)))
                            break;
                    }
                    i++;
                } else {
                    break;
                }
            }
            if (rc) break;
            /* the rows srows[rows_from .. j) that belong to it (in time order) */
            uint32_t nrows = j - rows_from;
            if (!has_stored) {
                cur.id = cur.start;
                if (cur.end - 1 <= now) {   /* a new session that would have fired already */
                    late += nrows;
                    continue;
                }
            } else {
                cur.id = keeper_id;
            }
            if (nrows) {
                for (uint32_t x = 0; x < nrows; x++) st->order[x] = st->srows[rows_from + x].row;
                /* the chunk keeps arrival order within the batch */
                for (uint32_t x = 1; x < nrows; x++)
                    for (uint32_t y = x; y > 0 && st->order[y - 1] > st->order[y]; y--) {
                        uint32_t t = st->order[y];
                        st->order[y] = st->order[y - 1];
                        st->order[y - 1] = t;
                    }
                size_t size;
                if ((rc = make_chunk(st, b, st->order, nrows, &size)) ||
                    (rc = rn_state_list_append(st->rows, key, cur.id, st->chunk, (uint32_t)size)))
                    break;
            }
            if (!has_stored || cur.end != keeper_end) {
                if (has_stored && (rc = rn_op_timer_delete(ctx, st->tkind, key, keeper_id, keeper_end - 1))) break;
                if ((rc = rn_op_timer_register(ctx, st->tkind, key, cur.id, cur.end - 1))) break;
            }
            st->sess[out_at + n_out++] = cur;
        }
        if (!rc && (n_out || ns_stored))
            rc = n_out ? rn_state_put(st->sessions, key, 0, st->sess + out_at, n_out * (uint32_t)sizeof(struct session))
                       : rn_state_remove(st->sessions, key, 0);
        stored_at += ns_stored;
    }
    if (late) *st->late += late;
    if (rc && rc != RN_ECANCELED) rn_op_error(ctx, "session windows: %s", rn_strerror(rc));
    return rc;
}

/* Count windows: every `slide` rows of a key, its last `size` rows. */
static int process_counts(struct wp *st, struct rn_op_ctx *ctx, const struct rn_batch *b, const struct rn_op_keys *keys)
{
    const struct rn_win_spec *s = &st->spec;
    uint32_t n = b->n_rows;
    memset(st->ns, 0, n * sizeof *st->ns);
    int rc = rn__wr_group(&st->groups, n, keys->group, st->ns, NULL);
    if (rc || (rc = grow_groups(st, st->groups.n))) return rc;
    const struct rn__wr_groups *g = &st->groups;
    for (uint32_t i = 0; i < g->n; i++) {
        st->gkeys[i] = keys->group_keys[g->dkey[i]];
        st->gns[i] = 0;
    }
    if ((rc = rn_state_get_many(st->counts, st->gkeys, st->gns, g->n, st->vals, st->lens))) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    int64_t *seen = st->ts;   /* scratch (per group): rows the key had before this batch */
    for (uint32_t i = 0; i < g->n; i++) {
        seen[i] = 0;
        if (st->vals[i]) memcpy(&seen[i], st->vals[i], 8);
    }
    order_by_group(st, n);
    for (uint32_t i = 0; i < g->n && !rc; i++) {
        const struct rn_state_key *key = &st->gkeys[i];
        const uint32_t *rows = st->order + st->gstart[i];
        int64_t t0 = seen[i], t1 = t0 + g->count[i];
        size_t size;
        if (t1 / s->slide == t0 / s->slide) {   /* nothing fires: append */
            if ((rc = make_chunk(st, b, rows, g->count[i], &size)) ||
                (rc = rn_state_list_append(st->rows, key, 0, st->chunk, (uint32_t)size)))
                break;
        } else {
            /* the stored rows (the last ones before t0), then this batch's */
            st->gather_len = 0;
            uint32_t nr = 0;
            if ((rc = gather(st, ctx, key, 0, &nr, NULL))) break;
            uint32_t n_stored = nr;
            if ((rc = make_chunk(st, b, rows, g->count[i], &size)) || (rc = gather_chunk(st->chunk, (uint32_t)size, st)))
                break;
            /* index again: the arena may have moved */
            nr = 0;
            if ((rc = index_chunks(st, 0, st->gather_len, &nr))) break;
            int64_t first_index = t0 - n_stored + 1;   /* arrival number (1-based) of refs[0] */
            for (int64_t t = (t0 / s->slide + 1) * s->slide; t <= t1 && !rc; t += s->slide) {
                int64_t lo = t - s->size + 1 > first_index ? t - s->size + 1 : first_index;
                rc = fire(st, ctx, st->refs + (lo - first_index), (uint32_t)(t - lo + 1), keys->column,
                          keys->first_row[g->dkey[i]], INT64_MIN, INT64_MAX);
            }
            if (rc) break;
            /* keep what the next window needs: arrival numbers > next fire - size */
            int64_t keep_from = (t1 / s->slide + 1) * s->slide - s->size + 1;
            if (keep_from < first_index) keep_from = first_index;
            if ((rc = rn_state_remove(st->rows, key, 0))) break;
            if (keep_from <= t1) {
                uint32_t from = (uint32_t)(keep_from - first_index), cnt = (uint32_t)(t1 - keep_from + 1);
                size_t total = 4;
                for (uint32_t x = 0; x < cnt; x++) total += 4 + st->refs[from + x].len;
                if ((rc = rn__wr_reserve(&st->chunk, &st->chunk_cap, total))) break;
                memcpy(st->chunk, &cnt, 4);
                size_t at = 4;
                for (uint32_t x = 0; x < cnt; x++) {
                    memcpy(st->chunk + at, &st->refs[from + x].len, 4);
                    memcpy(st->chunk + at + 4, st->refs[from + x].p, st->refs[from + x].len);
                    at += 4 + st->refs[from + x].len;
                }
                if ((rc = rn_state_list_append(st->rows, key, 0, st->chunk, (uint32_t)at))) break;
            }
        }
        rc = rn_state_put(st->counts, key, 0, &t1, 8);
    }
    if (rc && rc != RN_ECANCELED) rn_op_error(ctx, "count windows: %s", rn_strerror(rc));
    return rc ? rc : flush(st, ctx);
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct wp *st = state;
    if (!b->n_rows) return 0;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    if (rc || (rc = grow_rows(st, b->n_rows))) return rc;
    row_times(st, ctx, b);
    switch (st->spec.type) {
    case RN_WIN_SESSION: return process_sessions(st, ctx, b, &keys);
    case RN_WIN_COUNT: return process_counts(st, ctx, b, &keys);
    default: return process_panes(st, ctx, b, &keys);
    }
}

/* ---- firing ---- */

static int on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *t)
{
    struct wp *st = state;
    const struct rn_win_spec *s = &st->spec;
    /* the key's bytes may live in the backend: keep a copy across the state calls below */
    if (rn__wr_reserve(&st->tkey, &st->tkey_cap, t->key.len + 1)) return RN_ENOMEM;
    memcpy(st->tkey, t->key.data, t->key.len);
    struct rn_state_key key = {st->tkey, t->key.len, t->key.key_group};
    int rc = 0;
    uint32_t n = 0;
    st->gather_len = 0;
    if (s->type == RN_WIN_SESSION) {
        const void *v;
        uint32_t len;
        if ((rc = rn_state_get(st->sessions, &key, 0, &v, &len))) return rc;
        int64_t ns = read_sessions(st, v, len, 0);
        if (ns < 0) {
            rn_op_error(ctx, "keyed state holds a value that is not a session list");
            return RN_ECORRUPT;
        }
        int64_t at = -1;
        for (int64_t i = 0; i < ns; i++)
            if (st->sess[i].id == t->ns && st->sess[i].end - 1 == t->time) at = i;
        if (at < 0) return 0;   /* merged into another session since */
        struct session w = st->sess[at];
        memmove(st->sess + at, st->sess + at + 1, (size_t)(ns - at - 1) * sizeof *st->sess);
        if ((rc = gather(st, ctx, &key, w.id, &n, NULL)) || (rc = fire(st, ctx, st->refs, n, NULL, 0, w.start, w.end)))
            return rc;
        if ((rc = rn_state_remove(st->rows, &key, w.id))) return rc;
        rc = ns > 1 ? rn_state_put(st->sessions, &key, 0, st->sess, (uint32_t)(ns - 1) * (uint32_t)sizeof *st->sess)
                    : rn_state_remove(st->sessions, &key, 0);
    } else if (s->type == RN_WIN_GLOBAL) {
        if ((rc = gather(st, ctx, &key, 0, &n, NULL)) || (rc = fire(st, ctx, st->refs, n, NULL, 0, INT64_MIN, INT64_MAX)))
            return rc;
        rc = rn_state_remove(st->rows, &key, 0);
    } else {
        /* a window [end - size, end): its panes end at end - size + pane, ..., end */
        int64_t end = t->ns;
        uint32_t np = (uint32_t)(s->size / s->pane);
        bool remain = false;
        int64_t next_start = end - s->size + s->slide;
        for (uint32_t i = 0; i < np && !rc; i++) {
            bool found;
            int64_t pns = end - s->size + s->pane * (int64_t)(i + 1);
            size_t from = st->gather_len;
            rc = rn_state_list_each(st->rows, &key, pns, gather_chunk, st);
            found = st->gather_len > from;
            if (found && pns - s->pane >= next_start) remain = true;
        }
        if (rc) return rc;
        if ((rc = index_chunks(st, 0, st->gather_len, &n))) {
            rn_op_error(ctx, "keyed state holds a list element that is not a chunk of rows");
            return rc;
        }
        if ((rc = fire(st, ctx, st->refs, n, NULL, 0, end - s->size, end))) return rc;
        /* the panes the next window does not hold go; the next window fires when panes remain */
        for (uint32_t i = 0; i < np && !rc; i++) {
            int64_t pns = end - s->size + s->pane * (int64_t)(i + 1);
            if (pns - s->pane < next_start) rc = rn_state_remove(st->rows, &key, pns);
        }
        if (!rc && remain && end <= INT64_MAX - s->slide)
            rc = rn_op_timer_register(ctx, st->tkind, &key, end + s->slide, end + s->slide - 1);
    }
    if (!rc && st->tkind == RN_TIMER_PROCESSING) rc = flush(st, ctx);
    return rc;
}

static int on_watermark(void *state, struct rn_op_ctx *ctx, int64_t wm)
{
    (void)wm;
    return flush(state, ctx);
}

/* The end of a bounded input: the final watermark fired the event-time windows; processing-time
 * windows still open fire now too (as window_aggregate's do). */
static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct wp *st = state;
    int rc = st->tkind == RN_TIMER_PROCESSING ? rn_op_timers_fire_all(ctx, RN_TIMER_PROCESSING) : 0;
    return rc ? rc : flush(st, ctx);
}

/* ---- checkpoints ---- */

#define WM_LIST "window_process.watermark"

static int snapshot(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w)
{
    struct wp *st = state;
    int rc = flush(st, ctx);   /* rows already due leave before the barrier */
    if (!rc) rc = rn__ckpt_save_watermark(w, ctx, WM_LIST, st->wm_floor);
    if (rc && rc != RN_ECANCELED) rn_op_error(ctx, "checkpoint: %s", rn_strerror(rc));
    return rc;
}

static int restore(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r)
{
    struct wp *st = state;
    int rc = rn__ckpt_load_watermark(r, WM_LIST, &st->wm_floor);
    if (rc) rn_op_error(ctx, "restoring from a checkpoint: %s", rn_strerror(rc));
    return rc;
}

const struct rn_operator_def rn_op_window_process = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "window_process", .description = "calls a window function with all the rows of each fired window of a key",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .on_watermark = on_watermark, .finish = finish,
    .on_timer = on_timer, .snapshot = snapshot, .restore = restore, .close = close_,
};
