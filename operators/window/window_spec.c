/*
 * window_spec.c — parsing and checking the `window:` option of the window operators
 * (window_spec.h), and Flink's assignment of timestamps to tumbling and sliding windows.
 *
 * The same parser runs at plan time (errors recorded at the offending value with rn_plan_error)
 * and at open time (the job was validated already; a failure there is only reported).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "window_spec.h"

static const char *const type_names[] = {"tumbling", "sliding", "session", "count", "global"};

const char *rn_win_type_name(enum rn_win_type t)
{
    return (unsigned)t < sizeof type_names / sizeof *type_names ? type_names[t] : "?";
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Where the parse reports errors: a plan context, or an op context (open time). */
struct sink {
    struct rn_plan_ctx *plan;
    struct rn_op_ctx *op;
    const char *name;
};

#define FAIL(s, at, ...) fail_(s, at, __VA_ARGS__)
__attribute__((format(printf, 3, 4))) static int fail_(const struct sink *s, const rn_value *at, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->plan) return rn_plan_error(s->plan, at, "%s: %s", s->name, msg);
    rn_op_error(s->op, "%s: %s", s->name, msg);
    return RN_EINVAL;
}

/* A positive duration (ms) or row count from entry `key` of map w; *present tells whether it is
 * there. */
static int read_positive(const struct sink *s, const rn_value *w, const char *key, bool rows, int64_t *out,
                         bool *present)
{
    const rn_value *v = rn_value_get(w, key);
    *present = v != NULL;
    if (!v) return 0;
    struct rn_error err;
    if (rows ? rn_value_int(v, out, &err) : rn_value_duration(v, out, &err))
        return FAIL(s, v, "%s: %s", key, err.msg);
    if (*out <= 0)
        return FAIL(s, v, "%s must be positive (got %s)", key, rn_value_text(v) ? rn_value_text(v) : "?");
    return 0;
}

static int parse(const struct sink *s, const rn_value *w, const rn_schema *in, const char *default_column,
                 struct rn_win_spec *out)
{
    memset(out, 0, sizeof *out);
    if (!w || rn_value_kind(w) != RN_VALUE_MAP)
        return FAIL(s, w, "expected a map such as {type: tumbling, size: 10s}");
    static const char *const known[] = {"type", "size", "slide", "gap", "offset", "time", "column"};
    for (size_t i = 0; i < rn_value_len(w); i++) {
        const char *k = rn_value_key(w, i);
        bool ok = false;
        for (size_t j = 0; j < sizeof known / sizeof *known; j++) ok |= !strcmp(k, known[j]);
        if (!ok)
            return FAIL(s, rn_value_at(w, i), "unknown key '%s' (type, size, slide, gap, offset, time, column)", k);
    }
    const rn_value *tv = rn_value_get(w, "type");
    const char *t = tv ? rn_value_text(tv) : NULL;
    if (!tv) return FAIL(s, w, "missing type (tumbling, sliding, session, count or global)");
    int type = -1;
    for (int i = 0; t && i < 5; i++)
        if (!strcmp(t, type_names[i])) type = i;
    if (type < 0) return FAIL(s, tv, "unknown window type '%s' (tumbling, sliding, session, count or global)", t ? t : "");
    out->type = (enum rn_win_type)type;

    /* time: event | processing */
    const rn_value *timev = rn_value_get(w, "time");
    if (timev) {
        const char *tt = rn_value_text(timev);
        if (tt && !strcmp(tt, "processing")) out->processing_time = true;
        else if (!tt || strcmp(tt, "event"))
            return FAIL(s, timev, "time must be event or processing (got '%s')", tt ? tt : "");
    }

    bool has_size, has_slide, has_gap, has_offset;
    bool rows = out->type == RN_WIN_COUNT;
    int rc;
    if ((rc = read_positive(s, w, "size", rows, &out->size, &has_size)) ||
        (rc = read_positive(s, w, "slide", rows, &out->slide, &has_slide)) ||
        (rc = read_positive(s, w, "gap", false, &out->gap, &has_gap)))
        return rc;
    const rn_value *ov = rn_value_get(w, "offset");
    has_offset = ov != NULL;
    if (ov) {
        struct rn_error err;
        if (rn_value_duration(ov, &out->offset, &err)) return FAIL(s, ov, "offset: %s", err.msg);
    }
    switch (out->type) {
    case RN_WIN_TUMBLING:
    case RN_WIN_SLIDING:
        if (!has_size) return FAIL(s, w, "a %s window needs size (such as size: 10s)", t);
        if (out->type == RN_WIN_SLIDING && !has_slide) return FAIL(s, w, "a sliding window needs slide (such as slide: 2s)");
        if (out->type == RN_WIN_TUMBLING && has_slide)
            return FAIL(s, rn_value_get(w, "slide"), "a tumbling window has no slide (use type: sliding)");
        if (has_gap) return FAIL(s, rn_value_get(w, "gap"), "gap is for session windows");
        if (!has_slide) out->slide = out->size;
        if (out->slide > out->size)
            return FAIL(s, rn_value_get(w, "slide"), "slide (%lld ms) must not be larger than size (%lld ms)",
                        (long long)out->slide, (long long)out->size);
        if (out->offset <= -out->slide || out->offset >= out->slide)
            return FAIL(s, ov, "offset must be smaller than the %s (%lld ms)", out->type == RN_WIN_SLIDING ? "slide" : "size",
                        (long long)out->slide);
        out->pane = gcd64(out->size, out->slide);
        break;
    case RN_WIN_SESSION:
        if (!has_gap) return FAIL(s, w, "a session window needs gap (such as gap: 10s)");
        if (has_size) return FAIL(s, rn_value_get(w, "size"), "a session window has a gap, not a size");
        if (has_slide) return FAIL(s, rn_value_get(w, "slide"), "a session window has no slide");
        if (has_offset) return FAIL(s, ov, "a session window has no offset");
        break;
    case RN_WIN_COUNT:
        if (!has_size) return FAIL(s, w, "a count window needs size (rows, such as size: 100)");
        if (has_gap) return FAIL(s, rn_value_get(w, "gap"), "gap is for session windows");
        if (has_offset) return FAIL(s, ov, "a count window has no offset");
        if (out->processing_time) return FAIL(s, timev, "a count window counts rows: time: processing does not apply");
        if (!has_slide) out->slide = out->size;
        if (out->slide > out->size)
            return FAIL(s, rn_value_get(w, "slide"), "slide (%lld rows) must not be larger than size (%lld rows)",
                        (long long)out->slide, (long long)out->size);
        out->pane = gcd64(out->size, out->slide);
        break;
    case RN_WIN_GLOBAL:
        if (has_size || has_slide || has_gap || has_offset)
            return FAIL(s, w, "a global window takes no size, slide, gap or offset (it fires by trigger or at the end)");
        if (out->processing_time) return FAIL(s, timev, "a global window has no time: it fires by trigger or at the end");
        break;
    }

    /* the event-time column */
    const rn_value *cv = rn_value_get(w, "column");
    bool uses_time = !out->processing_time && out->type != RN_WIN_COUNT && out->type != RN_WIN_GLOBAL;
    if (cv && !uses_time)
        return FAIL(s, cv, "column is for event-time windows (%s)",
                    out->processing_time ? "this one is in processing time" : "this one does not use time");
    if (uses_time) {
        const char *col = cv ? rn_value_text(cv) : default_column;
        if (!col)
            return FAIL(s, w, "no event-time column: set window.column or a watermark on the source (or time: processing)");
        int at = rn_schema_find(in, col);
        if (at < 0) return FAIL(s, cv ? cv : w, "no column '%s' in the input", col);
        enum rn_type_id id = rn_schema_field(in, (size_t)at)->type.id;
        if (id != RN_T_TIMESTAMP && id != RN_T_INT64)
            return FAIL(s, cv ? cv : w, "column '%s' is not a timestamp or int64 (ms)", col);
        out->time_column = rn_schema_field(in, (size_t)at)->name;
    }
    return 0;
}

int rn_win_spec_plan(struct rn_plan_ctx *ctx, const char *name, uint32_t input, struct rn_win_spec *out)
{
    struct sink s = {ctx, NULL, name};
    return parse(&s, rn_opt_value(rn_plan_options(ctx), name), rn_plan_input_schema(ctx, input),
                 rn_plan_time_column(ctx, input), out);
}

int rn_win_spec_open(struct rn_op_ctx *ctx, const char *name, uint32_t input, struct rn_win_spec *out, int *time_col)
{
    struct sink s = {NULL, ctx, name};
    const rn_schema *in = rn_op_input_schema(ctx, input);
    int rc = parse(&s, rn_opt_value(rn_op_options(ctx), name), in, rn_op_time_column(ctx, input), out);
    if (time_col) *time_col = rc || !out->time_column ? -1 : rn_schema_find(in, out->time_column);
    return rc;
}

uint32_t rn_win_assign(const struct rn_win_spec *s, int64_t ts, int64_t *starts, uint32_t cap)
{
    if (s->type != RN_WIN_TUMBLING && s->type != RN_WIN_SLIDING) return 0;
    int64_t last = ts - rn_win_floor_mod(ts - s->offset, s->slide);
    uint32_t n = 0;
    /* ts - st stays small and non-negative: no overflow near the ends of the range */
    for (int64_t st = last; ts - st < s->size; st -= s->slide) {
        if (n < cap) starts[n] = st;
        n++;
        if (st < INT64_MIN + s->slide) break;
    }
    return n;
}
