/*
 * bad_size.c — a test plugin whose definition struct has another size than the host's (as if
 * built against an older operator.h): the loader must refuse it and give both sizes.
 */
#include "runnel/operator.h"

static int plan(struct rn_plan_ctx *ctx) { (void)ctx; return 0; }
static int open_(struct rn_op_ctx *ctx, void **state) { (void)ctx; *state = 0; return 0; }
static int process(void *s, struct rn_op_ctx *ctx, uint32_t i, const struct rn_batch *b) { (void)s; (void)ctx; (void)i; (void)b; return 0; }
static void close_(void *s, struct rn_op_ctx *ctx) { (void)s; (void)ctx; }

static const struct rn_operator_def def = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def) - 8,
    .name = "bad_size", .description = "struct of the wrong size", .n_inputs_min = 1, .n_inputs_max = 1,
    .plan = plan, .open = open_, .process = process, .close = close_,
};

const struct rn_operator_def *rn_plugin_entry(void) { return &def; }
