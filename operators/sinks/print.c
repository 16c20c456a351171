/*
 * print.c — `print`: writes each row to standard output as text ("v1, v2, ..."; strings quoted,
 * nulls as NULL, timestamps ISO-8601). With parallelism above 1, lines start with "N> ", the
 * subtask (as Flink's print sink does). Whole batches are written under one lock, so lines of
 * different subtasks never interleave mid-line. `limit` caps the rows each subtask prints (the
 * rest are consumed silently), for demos over large streams.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"

static const struct rn_option options[] = {
    {"prefix", RN_OPT_STRING, "''", "text written before each row"},
    {"limit", RN_OPT_INT, "0", "rows printed per subtask at most; 0 = all"},
    {NULL, 0, NULL, NULL},
};

struct state {
    char *line;
    size_t cap;
    const char *prefix;
    uint64_t limit, printed;
};

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    if (rn_opt_int(o, "limit") < 0) return rn_plan_error(ctx, rn_opt_value(o, "limit"), "limit must be >= 0");
    return 0;
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    s->cap = 64 * 1024;
    s->line = malloc(s->cap);
    s->prefix = rn_opt_string(rn_op_options(ctx), "prefix");
    if (!s->prefix) s->prefix = "";
    s->limit = (uint64_t)rn_opt_int(rn_op_options(ctx), "limit");
    *state = s;
    return s->line ? 0 : RN_ENOMEM;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    bool tag = rn_op_parallelism(ctx) > 1;
    uint32_t n = b->n_rows;
    if (s->limit && s->printed + n > s->limit) n = (uint32_t)(s->limit - s->printed);
    s->printed += n;
    if (n == 0) return 0;
    rn_op_stdout_lock(ctx);
    for (uint32_t i = 0; i < n; i++) {
        if (tag) printf("%u> ", rn_op_subtask(ctx) + 1);
        printf("%s%s\n", s->prefix, rn_batch_format_row(b, i, s->line, s->cap));
    }
    fflush(stdout);
    rn_op_stdout_unlock(ctx);
    return 0;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *s = state;
    if (!s) return;
    free(s->line);
    free(s);
}

const struct rn_operator_def rn_op_print = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "print", .description = "writes rows to standard output as text",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = plan, .open = open_, .process = process, .close = close_,
};
