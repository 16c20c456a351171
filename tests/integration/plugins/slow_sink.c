/*
 * slow_sink.c — a test operator plugin for back-pressure (--plugin-dir
 * build/tests/integration/plugins): `slow_sink` drops its rows like blackhole, but sleeps
 * `sleep_ms` milliseconds per batch first, so that it consumes far slower than a free-running
 * source produces and its upstream must block (credits across processes, queues in one). The
 * sleep is taken in slices of at most 10 ms that check for cancellation, so a cancelled job
 * still ends promptly. Rows and batches are counted in the counters `rows` and `batches`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "runnel/operator.h"

static const struct rn_option slow_sink_options[] = {
    {"sleep_ms", RN_OPT_INT, "50", "milliseconds to sleep per batch (0 to 60000)"},
    {NULL, 0, NULL, NULL},
};

struct state {
    int64_t sleep_ms;
    _Atomic uint64_t *rows, *batches;
};

static int slow_sink_plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    int64_t ms = rn_opt_int(o, "sleep_ms");
    if (ms < 0 || ms > 60000) return rn_plan_error(ctx, rn_opt_value(o, "sleep_ms"), "sleep_ms must be from 0 to 60000");
    return 0;
}

static int slow_sink_open(struct rn_op_ctx *ctx, void **statep)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *statep = s;
    s->sleep_ms = rn_opt_int(rn_op_options(ctx), "sleep_ms");
    s->rows = rn_op_metric(ctx, "rows");
    s->batches = rn_op_metric(ctx, "batches");
    return 0;
}

static int slow_sink_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    for (int64_t left = s->sleep_ms; left > 0 && !rn_op_cancelled(ctx);) {
        int64_t step = left < 10 ? left : 10;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        left -= step;
    }
    if (s->rows) *s->rows += b->n_rows;
    if (s->batches) *s->batches += 1;
    return 0;
}

static void slow_sink_close(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    free(state);
}

static const struct rn_operator_def slow_sink = {
    .abi_version = RN_OPERATOR_ABI,
    .struct_size = sizeof(struct rn_operator_def),
    .name = "slow_sink",
    .description = "drops rows after sleeping sleep_ms per batch (test plugin: back-pressure)",
    .options = slow_sink_options,
    .n_inputs_min = 1,
    .n_inputs_max = 1,
    .flags = RN_OP_SINK,
    .plan = slow_sink_plan,
    .open = slow_sink_open,
    .process = slow_sink_process,
    .close = slow_sink_close,
};

const struct rn_operator_def *rn_plugin_entry(void) { return &slow_sink; }
