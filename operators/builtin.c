/*
 * builtin.c — the table of built-in operators.
 */
#include "builtin.h"

int rn_builtin_register(rn_registry *r, struct rn_error *err)
{
    static const struct rn_operator_def *const all[] = {
        &rn_op_nexmark, &rn_op_datagen, &rn_op_file_source, &rn_op_filter, &rn_op_select,
        &rn_op_union, &rn_op_aggregate, &rn_op_deduplicate, &rn_op_print, &rn_op_file_sink, &rn_op_blackhole,
        &rn_op_window_aggregate,
        &rn_op_top_n, &rn_op_window_process,
        &rn_op_join, &rn_op_interval_join, &rn_op_window_join,
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        int rc = rn_registry_add(r, all[i], err);
        if (rc) return rc;
    }
    return 0;
}
