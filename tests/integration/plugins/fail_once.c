/*
 * fail_once.c — a test operator plugin for the restart strategies (--plugin-dir
 * build/tests/integration/plugins): `fail_once` passes its rows through unchanged, except that
 * once `after_checkpoints` checkpoints of the run completed it fails in process() if the file
 * named by `marker` does not exist, creating it first. So the first attempt of a job fails once
 * (after a checkpoint it can restart from) and every later attempt, restarted in the same
 * process or run again, goes through.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runnel/operator.h"

static const struct rn_option fail_once_options[] = {
    {"marker", RN_OPT_STRING, NULL, "a file: absent, the operator creates it and fails; present, it never fails"},
    {"after_checkpoints", RN_OPT_INT, "0", "checkpoints of this run that must have completed before it fails"},
    {NULL, 0, NULL, NULL},
};

struct state {
    const char *marker;
    int64_t after;        /* checkpoints to wait for */
    int64_t completed;    /* checkpoints completed in this run */
};

static int fail_once_plan(struct rn_plan_ctx *ctx)
{
    const rn_value *o = rn_plan_options(ctx);
    const char *m = rn_opt_string(o, "marker");
    if (!m || !*m) return rn_plan_error(ctx, rn_opt_value(o, "marker"), "marker must name a file");
    if (rn_opt_int(o, "after_checkpoints") < 0)
        return rn_plan_error(ctx, rn_opt_value(o, "after_checkpoints"), "after_checkpoints must not be negative");
    return rn_plan_set_output(ctx, rn_plan_input_schema(ctx, 0));
}

static int fail_once_open(struct rn_op_ctx *ctx, void **statep)
{
    struct state *s = calloc(1, sizeof *s);
    if (!s) return RN_ENOMEM;
    *statep = s;
    const rn_value *o = rn_op_options(ctx);
    s->marker = rn_opt_string(o, "marker");
    s->after = rn_opt_int(o, "after_checkpoints");
    return 0;
}

static int fail_once_process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *s = state;
    if (s->completed >= s->after && access(s->marker, F_OK) != 0) {
        /* O_EXCL: of several subtasks failing at once, one creates it; all fail this time */
        int fd = open(s->marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) {
            rn_op_error(ctx, "cannot create the marker %s: %s", s->marker, strerror(errno));
            return RN_EIO;
        }
        if (fd >= 0) close(fd);
        rn_op_error(ctx, "failing once on purpose after %lld checkpoints (marker %s created)", (long long)s->completed,
                    s->marker);
        return RN_EIO;
    }
    return rn_op_emit(ctx, rn_batch_ref(b));
}

static int checkpoint_complete(void *state, struct rn_op_ctx *ctx, int64_t id)
{
    (void)ctx;
    (void)id;
    struct state *s = state;
    s->completed++;
    return 0;
}

static void free_state(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    free(state);
}

static const struct rn_operator_def fail_once = {
    .abi_version = RN_OPERATOR_ABI,
    .struct_size = sizeof(struct rn_operator_def),
    .name = "fail_once",
    .description = "passes rows through, failing once while a marker file is absent (test plugin)",
    .options = fail_once_options,
    .n_inputs_min = 1,
    .n_inputs_max = 1,
    .plan = fail_once_plan,
    .open = fail_once_open,
    .process = fail_once_process,
    .checkpoint_complete = checkpoint_complete,
    .close = free_state,
};

const struct rn_operator_def *rn_plugin_entry(void) { return &fail_once; }
