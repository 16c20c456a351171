/*
 * select.c — `select`: computes the output columns, in the order written, from expressions over
 * the input columns. A column that is only a reference to an input column shares its buffer.
 */
#include <stdio.h>
#include <stdlib.h>

#include "builtin.h"

static const struct rn_option options[] = {
    {"columns", RN_OPT_MAP, NULL, "output column name -> expression, in output order"},
    {NULL, 0, NULL, NULL},
};

/* Compiles the columns map against in. On failure err has the failing column's message. */
static int compile(const rn_value *cols, const rn_schema *in, rn_projection **out, struct rn_error *err)
{
    size_t n = rn_value_len(cols);
    const char **names = calloc(n ? n : 1, sizeof *names), **exprs = calloc(n ? n : 1, sizeof *exprs);
    int rc = RN_ENOMEM;
    if (names && exprs) {
        rc = 0;
        for (size_t i = 0; i < n && !rc; i++) {
            names[i] = rn_value_key(cols, i);
            exprs[i] = rn_value_text(rn_value_at(cols, i));
            if (!exprs[i]) rc = rn_error_set(err, RN_EINVAL, 0, 0, "column '%s': expected an expression", names[i]);
        }
        if (!rc) rc = rn_projection_compile(names, exprs, (uint32_t)n, in, out, err);
    }
    free(names);
    free(exprs);
    return rc;
}

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *cols = rn_opt_value(rn_plan_options(ctx), "columns");
    if (rn_value_len(cols) == 0) return rn_plan_error(ctx, cols, "columns must name at least one column");
    /* compile each column on its own first, for errors at the right place in the file */
    for (size_t i = 0; i < rn_value_len(cols); i++) {
        char what[96];
        rn_expr *e = NULL;
        snprintf(what, sizeof what, "column '%s'", rn_value_key(cols, i));
        int rc = rn_plan_compile_value(ctx, rn_value_at(cols, i), what, rn_plan_input_schema(ctx, 0), &e);
        if (rc) return rc;
        rn_expr_destroy(e);
    }
    rn_projection *p;
    struct rn_error err;
    if (compile(cols, rn_plan_input_schema(ctx, 0), &p, &err)) return rn_plan_error(ctx, cols, "%s", err.msg);
    rn_plan_set_output(ctx, rn_projection_schema(p));
    rn_projection_destroy(p);
    return 0;
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct rn_error err;
    int rc = compile(rn_opt_value(rn_op_options(ctx), "columns"), rn_op_input_schema(ctx, 0), (rn_projection **)state, &err);
    if (rc) rn_op_error(ctx, "%s", err.msg);
    return rc;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct rn_batch *out;
    struct rn_error err;
    int rc = rn_projection_apply(state, b, &out, &err);
    if (rc) {
        rn_op_error(ctx, "%s", err.msg);
        return rc;
    }
    return rn_op_emit(ctx, out);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    rn_projection_destroy(state);
}

const struct rn_operator_def rn_op_select = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "select", .description = "computes output columns from expressions",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1,
    .plan = plan, .open = open_, .process = process, .close = close_,
};
