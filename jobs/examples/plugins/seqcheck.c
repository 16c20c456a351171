/*
 * seqcheck.c — an example keyed operator plugin: `seqcheck` watches a per-key sequence number
 * and emits an alert row when a key's number is not the previous one + 1 ("gap" when numbers
 * were skipped, "repeat" when one came again or went back), and, with `silence`, when a key has
 * sent nothing for that long in event time ("silent"). With `first`, a key's first row must carry
 * that number ("gap" or "repeat" against it otherwise), which also catches a key whose state
 * was lost (after a restore, say) and starts over in the middle of its sequence.
 *
 * It shows the keyed surface of the operator ABI: RN_OP_KEYED (the job must key_by), the keys
 * of each batch (rn_op_keys), keyed value state in the job's backend (rn_op_state), an
 * event-time timer per key (rn_op_timer_register / rn_op_timer_delete) and on_timer.
 *
 * Job: jobs/examples/sequence_check.yaml. Build: meson (build/jobs/examples/plugins/).
 */
#include <stdlib.h>
#include <string.h>

#include "runnel/operator.h"

static const struct rn_option options[] = {
    {"seq", RN_OPT_EXPR, NULL, "the sequence number of each row (int64)"},
    {"time", RN_OPT_EXPR, "''", "the event time of each row (timestamp); needed with silence"},
    {"silence", RN_OPT_DURATION, "0", "alert when a key sends nothing for this long in event time; 0 = off"},
    {"first", RN_OPT_STRING, "''", "the number every key starts at (an integer): a first row with another number is "
                                    "alerted; empty = any first number"},
    {NULL, 0, NULL, NULL},
};

/* What is kept per key: the last sequence number and the time its silence timer is set for. */
struct last {
    int64_t seq;
    int64_t timer;
};

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    const rn_value *o = rn_plan_options(ctx);
    rn_expr *e;
    int rc = rn_plan_compile(ctx, "seq", in, &e);
    if (rc) return rc;
    bool ok = rn_expr_type(e).id == RN_T_INT64;
    rn_expr_destroy(e);
    if (!ok) return rn_plan_error(ctx, rn_opt_value(o, "seq"), "seq must be an int64 expression");
    if (rn_opt_duration(o, "silence") > 0) {
        const char *t = rn_opt_string(o, "time");
        if (!t || !*t) return rn_plan_error(ctx, rn_opt_value(o, "silence"), "silence needs the time option");
        if ((rc = rn_plan_compile(ctx, "time", in, &e))) return rc;
        ok = rn_expr_type(e).id == RN_T_TIMESTAMP;
        rn_expr_destroy(e);
        if (!ok) return rn_plan_error(ctx, rn_opt_value(o, "time"), "time must be a timestamp expression");
    }
    const char *first = rn_opt_string(o, "first");
    int64_t first_n;
    struct rn_error verr;
    if (first && *first && rn_value_int(rn_opt_value(o, "first"), &first_n, &verr))
        return rn_plan_error(ctx, rn_opt_value(o, "first"), "first must be an integer (or empty), not '%s'", first);
    struct rn_type kt;
    const char *kname;
    if ((rc = rn_plan_key(ctx, 0, &kt, &kname))) return rc;
    rn_schema *out = rn_schema_create();
    if (!out) return RN_ENOMEM;
    rn_schema_add(out, kname, kt, true);
    rn_schema_add(out, "alert", rn_type_of(RN_T_STRING), false);
    rn_schema_add(out, "expected", rn_type_of(RN_T_INT64), true);
    rn_schema_add(out, "got", rn_type_of(RN_T_INT64), true);
    rn_schema_add(out, "at", rn_type_of(RN_T_TIMESTAMP), true);
    rn_plan_set_output(ctx, out);
    rn_schema_unref(out);
    return 0;
}

struct state {
    rn_expr *seq, *time;
    int64_t silence;
    bool check_first;     /* `first` is set: a key's first row must carry it */
    int64_t first;
    rn_state *last;
    rn_builder *alerts;
    /* key values of the current batch, for the alerts' key column */
    const struct rn_column *key_col;
};

static int open_(struct rn_op_ctx *ctx, void **statep)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *statep = s;
    const rn_value *o = rn_op_options(ctx);
    s->silence = rn_opt_duration(o, "silence");
    const char *first = rn_opt_string(o, "first");
    struct rn_error verr;
    s->check_first = first && *first && !rn_value_int(rn_opt_value(o, "first"), &s->first, &verr);
    int rc = rn_op_compile(ctx, "seq", rn_op_input_schema(ctx, 0), &s->seq);
    if (!rc && s->silence > 0) rc = rn_op_compile(ctx, "time", rn_op_input_schema(ctx, 0), &s->time);
    if (rc) return rc;
    rn_state_backend *b = rn_op_state(ctx);
    struct rn_error err;
    struct rn_state_desc d = {"seqcheck.last", RN_STATE_VALUE, sizeof(struct last), 0, NULL, NULL};
    if (!b) return RN_EINVAL;
    if ((rc = rn_state_declare(b, &d, &s->last, &err))) {
        rn_op_error(ctx, "%s", err.msg);
        return rc;
    }
    s->alerts = rn_builder_create(rn_op_output_schema(ctx), 0);
    return s->alerts ? 0 : RN_ENOMEM;
}

/* Appends an alert row; the key comes from row `row` of key column kc, or from key bytes. */
static int alert(struct state *s, const struct rn_column *kc, uint32_t row, const char *what, int64_t expected,
                 bool has_expected, int64_t got, bool has_got, int64_t at, bool has_at)
{
    rn_builder *bb = s->alerts;
    int rc;
    if (!kc || rn_column_is_null(kc, row)) rc = rn_builder_null(bb, 0);
    else if (kc->type.id == RN_T_STRING) {
        struct rn_str k = rn_col_str(kc, row);
        rc = rn_builder_str(bb, 0, k.ptr, k.len);
    } else if (kc->type.id == RN_T_INT64) rc = rn_builder_i64(bb, 0, rn_col_i64(kc, row));
    else rc = rn_builder_null(bb, 0);
    if (!rc) rc = rn_builder_str(bb, 1, what, strlen(what));
    if (!rc) rc = has_expected ? rn_builder_i64(bb, 2, expected) : rn_builder_null(bb, 2);
    if (!rc) rc = has_got ? rn_builder_i64(bb, 3, got) : rn_builder_null(bb, 3);
    if (!rc) rc = has_at ? rn_builder_ts(bb, 4, at) : rn_builder_null(bb, 4);
    return rc;
}

static int flush(struct state *s, struct rn_op_ctx *ctx)
{
    if (!rn_builder_rows(s->alerts)) return 0;
    struct rn_error err;
    struct rn_batch *b = rn_builder_finish(s->alerts, &err);
    return b ? rn_op_emit(ctx, b) : RN_ENOMEM;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    struct rn_op_keys keys;
    struct rn_column seq = {0}, time = {0};
    struct rn_error err;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    if (!rc && (rc = rn_expr_eval(s->seq, b, &seq, &err))) rn_op_error(ctx, "seq: %s", err.msg);
    if (!rc && s->time && (rc = rn_expr_eval(s->time, b, &time, &err))) rn_op_error(ctx, "time: %s", err.msg);
    for (uint32_t r = 0; r < b->n_rows && !rc; r++) {
        if (rn_column_is_null(&seq, r)) continue;
        int64_t got = rn_col_i64(&seq, r);
        const void *v;
        uint32_t len;
        struct last l = {0, INT64_MIN};
        if ((rc = rn_state_get(s->last, &keys.keys[r], 0, &v, &len))) break;
        if (v) {
            memcpy(&l, v, sizeof l);
            if (got != l.seq + 1)
                rc = alert(s, keys.column, r, got > l.seq + 1 ? "gap" : "repeat", l.seq + 1, true, got, true, 0, false);
        } else if (s->check_first && got != s->first) {
            rc = alert(s, keys.column, r, got > s->first ? "gap" : "repeat", s->first, true, got, true, 0, false);
        }
        if (!v || got > l.seq) l.seq = got;
        /* move this key's silence timer to (this row's time + silence) */
        if (!rc && s->time && !rn_column_is_null(&time, r)) {
            int64_t due = rn_col_i64(&time, r) + s->silence;
            if (l.timer != INT64_MIN && l.timer != due) rc = rn_op_timer_delete(ctx, RN_TIMER_EVENT, &keys.keys[r], 0, l.timer);
            if (!rc && due > l.timer) {
                rc = rn_op_timer_register(ctx, RN_TIMER_EVENT, &keys.keys[r], 0, due);
                l.timer = due;
            }
        }
        if (!rc) rc = rn_state_put(s->last, &keys.keys[r], 0, &l, sizeof l);
        if (!rc && rn_builder_full(s->alerts)) rc = flush(s, ctx);
    }
    rn_column_release(&seq);
    rn_column_release(&time);
    return rc ? rc : flush(s, ctx);
}

static int on_timer(void *state, struct rn_op_ctx *ctx, const struct rn_timer *t)
{
    struct state *s = state;
    /* at the end of the input the final watermark fires every timer: the stream ended, the key
     * did not fall silent */
    if (rn_op_watermark(ctx) == INT64_MAX) return 0;
    const void *v;
    uint32_t len;
    struct last l;
    int rc = rn_state_get(s->last, &t->key, 0, &v, &len);
    if (rc || !v) return rc;
    memcpy(&l, v, sizeof l);
    /* the key column of the alert: the timer's key decoded */
    rn_builder *bb = s->alerts;
    const struct rn_field *kf = rn_schema_field(rn_op_output_schema(ctx), 0);
    struct rn_key_value kv;
    if (rn_state_key_decode(&t->key, kf->type, &kv) || kv.null) rc = rn_builder_null(bb, 0);
    else if (kf->type.id == RN_T_INT64) rc = rn_builder_i64(bb, 0, kv.v.i);
    else if (kf->type.id == RN_T_STRING) rc = rn_builder_str(bb, 0, kv.s.ptr, kv.s.len);
    else rc = rn_builder_null(bb, 0);
    if (!rc) rc = rn_builder_str(bb, 1, "silent", 6);
    if (!rc) rc = rn_builder_i64(bb, 2, l.seq + 1);
    if (!rc) rc = rn_builder_null(bb, 3);
    if (!rc) rc = rn_builder_ts(bb, 4, t->time);
    return rc ? rc : flush(s, ctx);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    rn_expr_destroy(s->seq);
    rn_expr_destroy(s->time);
    rn_builder_destroy(s->alerts);
    free(s);
}

static const struct rn_operator_def def = {
    .abi_version = RN_OPERATOR_ABI,
    .struct_size = sizeof(struct rn_operator_def),
    .name = "seqcheck",
    .description = "alerts when a key's sequence number is not the last + 1 (example keyed plugin)",
    .options = options,
    .n_inputs_min = 1,
    .n_inputs_max = 1,
    .flags = RN_OP_KEYED,
    .plan = plan,
    .open = open_,
    .process = process,
    .on_timer = on_timer,
    .close = close_,
};

const struct rn_operator_def *rn_plugin_entry(void) { return &def; }
