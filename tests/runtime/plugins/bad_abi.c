/*
 * bad_abi.c — a test plugin built against an operator ABI major version that does not exist:
 * the loader must refuse it and say which versions differ.
 */
#include "runnel/operator.h"

static int plan(struct rn_plan_ctx *ctx) { (void)ctx; return 0; }
static int open_(struct rn_op_ctx *ctx, void **state) { (void)ctx; *state = 0; return 0; }
static int process(void *s, struct rn_op_ctx *ctx, uint32_t i, const struct rn_batch *b) { (void)s; (void)ctx; (void)i; (void)b; return 0; }
static void close_(void *s, struct rn_op_ctx *ctx) { (void)s; (void)ctx; }

static const struct rn_operator_def def = {
    .abi_version = (99u << 16) | 0u, .struct_size = sizeof(struct rn_operator_def),
    .name = "bad_abi", .description = "built for ABI 99", .n_inputs_min = 1, .n_inputs_max = 1,
    .plan = plan, .open = open_, .process = process, .close = close_,
};

const struct rn_operator_def *rn_plugin_entry(void) { return &def; }
