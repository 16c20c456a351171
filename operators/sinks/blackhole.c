/*
 * blackhole.c — `blackhole`: consumes rows and counts them; at the end of input each subtask
 * logs its count and rate. For benchmarks: the cost of the job without the cost of output.
 */
#include <stdlib.h>
#include <time.h>

#include "builtin.h"

static const struct rn_option options[] = {
    {"quiet", RN_OPT_BOOL, "false", "do not log the count at the end"},
    {NULL, 0, NULL, NULL},
};

struct state {
    uint64_t rows, batches;
    struct timespec start;
    bool started, quiet;
};

static int plan(struct rn_plan_ctx *ctx)
{
    (void)ctx;
    return 0;
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    s->quiet = rn_opt_bool(rn_op_options(ctx), "quiet");
    *state = s;
    return 0;
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
