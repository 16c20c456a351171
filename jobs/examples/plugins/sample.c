/*
 * sample.c — an example operator plugin: `sample` keeps one row in every `every` rows of its
 * input (per subtask, counting across batches), the way a monitoring job thins a firehose.
 * It shows the whole plugin surface: the option table, plan() checking options and declaring
 * the output schema, per-subtask state from open(), process() emitting a derived batch, and
 * the one exported symbol.
 *
 * Build: meson builds it into build/jobs/examples/plugins/; by hand:
 *   cc -shared -fPIC -I engine/include -o sample.so jobs/examples/plugins/sample.c
 * Use: runnel run jobs/examples/sampled_bids.yaml --plugin-dir build/jobs/examples/plugins
 */
#include <stdlib.h>

#include "runnel/operator.h"

static const struct rn_option options[] = {
    {"every", RN_OPT_INT, "10", "keep one row in this many"},
    {NULL, 0, NULL, NULL},
};

struct state {
    uint64_t every;
    uint64_t seen;      /* rows seen so far by this subtask */
    uint32_t *sel;
};

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    if (rn_opt_int(o, "every") < 1) return rn_plan_error(ctx, rn_opt_value(o, "every"), "every must be at least 1");
    return rn_plan_set_output(ctx, rn_plan_input_schema(ctx, 0));
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    s->every = (uint64_t)rn_opt_int(rn_op_options(ctx), "every");
    *state = s;
    return 0;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    uint32_t *sel = realloc(s->sel, b->n_rows * sizeof *sel), n = 0;
    if (!sel) return RN_ENOMEM;
    s->sel = sel;
    for (uint32_t i = 0; i < b->n_rows; i++)
        if ((s->seen + i) % s->every == 0) sel[n++] = i;
    s->seen += b->n_rows;
    struct rn_batch *out = rn_batch_select(b, sel, n);
    if (!out) {
        rn_op_error(ctx, "out of memory");
        return RN_ENOMEM;
    }
    return rn_op_emit(ctx, out);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    free(s->sel);
    free(s);
}

static const struct rn_operator_def def = {
    .abi_version = RN_OPERATOR_ABI,
    .struct_size = sizeof(struct rn_operator_def),
    .name = "sample",
    .description = "keeps one row in every N (example plugin)",
    .options = options,
    .n_inputs_min = 1,
    .n_inputs_max = 1,
    .plan = plan,
    .open = open_,
    .process = process,
    .close = close_,
};

const struct rn_operator_def *rn_plugin_entry(void) { return &def; }
