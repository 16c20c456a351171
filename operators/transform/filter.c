/*
 * filter.c — `filter`: keeps the rows for which the `where` expression is true (false and null
 * rows are dropped, as in SQL), or sends them to the side output `rejected_output` when the job
 * names one. Strings of the kept rows are not copied.
 */
#include <stdlib.h>

#include "builtin.h"

static const struct rn_option options[] = {
    {"where", RN_OPT_EXPR, NULL, "the condition (a bool expression over the input columns)"},
    {"rejected_output", RN_OPT_OUTPUT, "", "side output id for the rows where the condition is false or null"},
    {NULL, 0, NULL, NULL},
};

struct filter {
    rn_expr *where;
    uint32_t rejected_port;   /* 0: rejected rows are dropped */
    uint32_t *sel[2];         /* scratch: rows kept, rows rejected */
    uint32_t cap;
};

static int plan(struct rn_plan_ctx *ctx)
{
    rn_expr *e;
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    int rc = rn_plan_compile(ctx, "where", in, &e);
    if (rc) return rc;
    bool is_bool = rn_expr_type(e).id == RN_T_BOOL;
    rn_expr_destroy(e);
    if (!is_bool) return rn_plan_error(ctx, rn_opt_value(rn_plan_options(ctx), "where"), "where must be a bool condition");
    int port = rn_plan_set_side_output(ctx, "rejected_output", in);
    if (port < 0) return port;
    return rn_plan_set_output(ctx, in);
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct filter *f = calloc(1, sizeof *f);
    if (!(*state = f)) return RN_ENOMEM;
    f->rejected_port = rn_op_side_port(ctx, "rejected_output");
    return rn_op_compile(ctx, "where", rn_op_input_schema(ctx, 0), &f->where);
}

/* Splits b into the rows where the condition is true and the others. */
static int split(struct filter *f, struct rn_op_ctx *ctx, const struct rn_batch *b)
{
    struct rn_column c;
    struct rn_error err;
    int rc = rn_expr_eval(f->where, b, &c, &err);
    if (rc) {
        rn_op_error(ctx, "where: %s", err.msg);
        return rc;
    }
    if (b->n_rows > f->cap) {
        for (int k = 0; k < 2; k++) {
            uint32_t *p = realloc(f->sel[k], b->n_rows * sizeof *p);
            if (!p) return rn_column_release(&c), RN_ENOMEM;
            f->sel[k] = p;
        }
        f->cap = b->n_rows;
    }
    uint32_t n[2] = {0, 0};
    for (uint32_t i = 0; i < b->n_rows; i++) {
        int rejected = !(rn_col_bool(&c, i) && !rn_column_is_null(&c, i));
        f->sel[rejected][n[rejected]++] = i;
    }
    rn_column_release(&c);
    struct rn_batch *kept = rn_batch_select(b, f->sel[0], n[0]), *rejected = rn_batch_select(b, f->sel[1], n[1]);
    if (!kept || !rejected) {
        rn_batch_unref(kept);
        rn_batch_unref(rejected);
        return RN_ENOMEM;
    }
    rc = rn_op_emit(ctx, kept);
    if (rc) return rn_batch_unref(rejected), rc;
    return rn_op_emit_to(ctx, f->rejected_port, rejected);
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct filter *f = state;
    if (f->rejected_port) return split(f, ctx, b);
    struct rn_batch *out;
    struct rn_error err;
    int rc = rn_expr_filter(f->where, b, &out, &err);
    if (rc) {
        rn_op_error(ctx, "where: %s", err.msg);
        return rc;
    }
    return rn_op_emit(ctx, out);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct filter *f = state;
    if (!f) return;
    rn_expr_destroy(f->where);
    free(f->sel[0]);
    free(f->sel[1]);
    free(f);
}

const struct rn_operator_def rn_op_filter = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "filter", .description = "keeps the rows where a condition is true",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1,
    .plan = plan, .open = open_, .process = process, .close = close_,
};
