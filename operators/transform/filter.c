/*
 * filter.c — `filter`: keeps the rows for which the `where` expression is true (false and null
 * rows are dropped, as in SQL). Strings of the kept rows are not copied.
 */
#include "builtin.h"

static const struct rn_option options[] = {
    {"where", RN_OPT_EXPR, NULL, "the condition (a bool expression over the input columns)"},
    {NULL, 0, NULL, NULL},
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
    return rn_plan_set_output(ctx, in);
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    return rn_op_compile(ctx, "where", rn_op_input_schema(ctx, 0), (rn_expr **)state);
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct rn_batch *out;
    struct rn_error err;
    int rc = rn_expr_filter(state, b, &out, &err);
    if (rc) {
        rn_op_error(ctx, "where: %s", err.msg);
        return rc;
    }
    return rn_op_emit(ctx, out);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    rn_expr_destroy(state);
}

const struct rn_operator_def rn_op_filter = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "filter", .description = "keeps the rows where a condition is true",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1,
    .plan = plan, .open = open_, .process = process, .close = close_,
};
