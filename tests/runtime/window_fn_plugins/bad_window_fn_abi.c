/*
 * bad_window_fn_abi.c — a window-function plugin built for window-function ABI 2.0: the loader
 * must refuse it, saying which versions differ, and register nothing from it.
 */
#include <stddef.h>

#include "runnel/window_fn.h"

static int plan(const struct rn_window_fn_setup *setup, rn_schema **output, struct rn_error *err)
{
    (void)setup;
    (void)output;
    (void)err;
    return RN_EINVAL;
}

static int process(void *state, const struct rn_window_call *w, const struct rn_batch *rows, struct rn_batch **out,
                   struct rn_error *err)
{
    (void)state;
    (void)w;
    (void)rows;
    (void)out;
    (void)err;
    return RN_EINVAL;
}

static const struct rn_window_fn_def def = {
    .abi_version = 2u << 16,
    .struct_size = sizeof(struct rn_window_fn_def),
    .name = "from_the_future",
    .description = "a window function of another ABI major version (must be refused)",
    .plan = plan,
    .process = process,
};

static const struct rn_window_fn_def *const all[] = {&def, NULL};

const struct rn_window_fn_def *const *rn_plugin_window_fns(void) { return all; }
