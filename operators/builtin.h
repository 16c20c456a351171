/*
 * builtin.h — the operators that ship inside runnel, registered through the same definition
 * struct and checks as plugins.
 */
#ifndef RN_BUILTIN_H
#define RN_BUILTIN_H

#include "runnel/job.h"

/* Registers every built-in operator. 0, or the first registration error (err says which). */
int rn_builtin_register(rn_registry *r, struct rn_error *err);

extern const struct rn_operator_def rn_op_filter, rn_op_select, rn_op_union, rn_op_print, rn_op_blackhole,
    rn_op_file_sink, rn_op_file_source, rn_op_datagen, rn_op_nexmark, rn_op_aggregate, rn_op_deduplicate;
/* operators/window/window_aggregate.c */
extern const struct rn_operator_def rn_op_window_aggregate;

/* operators/window/ */
extern const struct rn_operator_def rn_op_top_n, rn_op_window_process;

/* operators/join/ */
extern const struct rn_operator_def rn_op_join, rn_op_interval_join, rn_op_window_join;

#endif
