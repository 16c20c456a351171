/*
 * blackhole.c — `blackhole`: consumes rows and counts them; at the end of input each subtask
 * logs its count and rate. For benchmarks: the cost of the job without the cost of output.
 * `sum: [col, ...]` also adds up int64 columns (nulls skipped) into counters named
 * `sum(col)`, which the job summary totals over subtasks: a benchmark's correctness check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "builtin.h"

static const struct rn_option options[] = {
    {"quiet", RN_OPT_BOOL, "false", "do not log the count at the end"},
    {"sum", RN_OPT_LIST, "[]", "int64 columns to add up (counters sum(col) in the job summary)"},
    {NULL, 0, NULL, NULL},
};

#define MAX_SUMS 6

struct state {
    uint64_t rows, batches;
    struct timespec start;
    bool started, quiet;
    uint32_t n_sums;
    int col[MAX_SUMS];
    _Atomic uint64_t *sum[MAX_SUMS];
};

static int plan(struct rn_plan_ctx *ctx)
{
    const rn_value *list = rn_opt_value(rn_plan_options(ctx), "sum");
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    size_t n = rn_value_len(list);
    if (n > MAX_SUMS) return rn_plan_error(ctx, list, "sum: at most %d columns", MAX_SUMS);
    for (size_t i = 0; i < n; i++) {
        const rn_value *v = rn_value_at(list, i);
        const char *name = rn_value_text(v);
        int c = name ? rn_schema_find(in, name) : -1;
        if (c < 0) return rn_plan_error(ctx, v, "sum: '%s' is not a column of the input", name ? name : "?");
        enum rn_type_id t = rn_schema_field(in, (size_t)c)->type.id;
        if (t != RN_T_INT64)
            return rn_plan_error(ctx, v, "sum: column '%s' is not an integer", name);
    }
    return 0;
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *state = s;
    const rn_value *opts = rn_op_options(ctx), *list = rn_opt_value(opts, "sum");
    s->quiet = rn_opt_bool(opts, "quiet");
    s->n_sums = (uint32_t)rn_value_len(list);
    for (uint32_t i = 0; i < s->n_sums; i++) {
        char name[64];
        const char *col = rn_value_text(rn_value_at(list, i));
        snprintf(name, sizeof name, "sum(%.50s)", col);
        s->col[i] = rn_schema_find(rn_op_input_schema(ctx, 0), col);
        if (!(s->sum[i] = rn_op_metric(ctx, name))) {
            rn_op_error(ctx, "no room for counter %s", name);
            return RN_ENOMEM;
        }
    }
    return 0;
}

/* Adds up int64 column c (nulls skipped), wrapping like the counters do. */
static uint64_t column_sum(const struct rn_column *c, uint32_t n)
{
    uint64_t t = 0;
    if (!c->validity) {
        const int64_t *v = c->values;
        for (uint32_t i = 0; i < n; i++) t += (uint64_t)v[i];
    } else {
        const int64_t *v = c->values;
        for (uint32_t i = 0; i < n; i++) t += rn_column_is_null(c, i) ? 0 : (uint64_t)v[i];
    }
    return t;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)ctx;
    (void)input;
    struct state *s = state;
    if (!s->started) {
        clock_gettime(CLOCK_MONOTONIC, &s->start);
        s->started = true;
    }
    s->rows += b->n_rows;
    s->batches++;
    for (uint32_t i = 0; i < s->n_sums; i++)
        atomic_fetch_add_explicit(s->sum[i], column_sum(&b->cols[s->col[i]], b->n_rows), memory_order_relaxed);
    return 0;
}

static int finish(void *state, struct rn_op_ctx *ctx)
{
    struct state *s = state;
    if (s->quiet) return 0;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double secs = s->started ? (double)(now.tv_sec - s->start.tv_sec) + (double)(now.tv_nsec - s->start.tv_nsec) * 1e-9 : 0;
    rn_op_log(ctx, "%llu rows in %llu batches, %.3f s from the first batch (%.1f M rows/s)", (unsigned long long)s->rows,
              (unsigned long long)s->batches, secs, secs > 0 ? (double)s->rows / secs / 1e6 : 0.0);
    return 0;
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    free(state);
}

const struct rn_operator_def rn_op_blackhole = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "blackhole", .description = "counts rows and drops them (benchmarks)",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_SINK,
    .plan = plan, .open = open_, .process = process, .finish = finish, .close = close_,
};
