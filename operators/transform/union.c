/*
 * union.c — `union`: merges several inputs with the same columns (names and types, in order)
 * into one stream. Batches pass through untouched; order across inputs is not defined.
 */
#include <string.h>

#include "builtin.h"

static const struct rn_option options[] = {{NULL, 0, NULL, NULL}};

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_schema *first = rn_plan_input_schema(ctx, 0);
    rn_schema *out = rn_schema_create();
    if (!out) return RN_ENOMEM;
    for (size_t c = 0; c < rn_schema_len(first); c++) {
        const struct rn_field *f = rn_schema_field(first, c);
        bool nullable = f->nullable;
        for (uint32_t i = 1; i < rn_plan_n_inputs(ctx); i++) {
            const rn_schema *s = rn_plan_input_schema(ctx, i);
            const struct rn_field *g = c < rn_schema_len(s) ? rn_schema_field(s, c) : NULL;
            if (rn_schema_len(s) != rn_schema_len(first) || !g || strcmp(g->name, f->name) || !rn_type_eq(g->type, f->type)) {
                char a[300], b[300];
                rn_schema_unref(out);
                return rn_plan_error(ctx, NULL, "input %u has columns (%s), input 1 has (%s): union needs the same", i + 1,
                                     rn_schema_describe(s, a, sizeof a), rn_schema_describe(first, b, sizeof b));
            }
            nullable |= g->nullable;
        }
        rn_schema_add(out, f->name, f->type, nullable);
    }
    rn_plan_set_output(ctx, out);
    rn_schema_unref(out);
    return 0;
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    (void)ctx;
    *state = NULL;
    return 0;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)state;
    (void)input;
    return rn_op_emit(ctx, rn_batch_ref(b));
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)state;
    (void)ctx;
}

const struct rn_operator_def rn_op_union = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "union", .description = "merges inputs that have the same columns",
    .options = options, .n_inputs_min = 2, .n_inputs_max = UINT32_MAX,
    .plan = plan, .open = open_, .process = process, .close = close_,
};
