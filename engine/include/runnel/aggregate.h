/*
 * runnel/aggregate.h — the ABI of aggregate functions: C code that `aggregate` and
 * `window_aggregate` call beside their built-in aggregates (count, sum, min, max, avg,
 * count_distinct, first, last), written in a job as `name(argument)`:
 *
 *     with:
 *       window: { type: tumbling, size: 10s }
 *       aggregates: { spread: "stddev(price)", g: "geomean(price)" }
 *
 * A plugin (a shared object in the plugin directory, beside or instead of operators) exports
 *
 *     const struct rn_aggregate_def *const *rn_plugin_aggregates(void);
 *
 * returning a NULL-terminated array of static definitions. The loader checks each one as it
 * checks operators: abi_version (the major version must be this header's), struct_size (this
 * header's sizeof), a name [a-z][a-z0-9_]* that is not a built-in aggregate's, and plan, add,
 * merge and result present; a plugin with one bad definition is refused whole, saying which
 * check failed. Built-in functions register through the same struct
 * (rn_registry_add_aggregate in runnel/job.h).
 *
 * The model is an incremental aggregate over a fixed-size accumulator (Flink's
 * AggregateFunction with a mergeable accumulator):
 *   - an accumulator is acc_size plain bytes (no pointers: it is copied, stored in keyed state
 *     and in snapshots, and may be read back by another process); all zero bytes is the empty
 *     accumulator (no rows yet); accumulators are 8-byte aligned;
 *   - add() folds a whole batch's column into many accumulators at once (the operators
 *     pre-combine a batch per key and window, then fold): one call per batch, never per row;
 *   - merge() combines two accumulators: the state's one with a batch's, panes of a sliding
 *     window, merged sessions. `later` holds rows that come after acc's (in arrival order for
 *     a key, in time order for panes and sessions), for functions where order matters;
 *   - result() reads the value out (a window that fires, an aggregate's updated row).
 * All functions must be pure functions of their arguments (no global mutable state): they run
 * on several subtask threads at once.
 */
#ifndef RUNNEL_AGGREGATE_H
#define RUNNEL_AGGREGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runnel/batch.h"
#include "runnel/types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RN_AGGREGATE_ABI_MAJOR 1u
#define RN_AGGREGATE_ABI_MINOR 0u
/* abi_version = major << 16 | minor: a definition of another major version is refused. */
#define RN_AGGREGATE_ABI ((RN_AGGREGATE_ABI_MAJOR << 16) | RN_AGGREGATE_ABI_MINOR)

/* The largest accumulator a function may ask for. */
#define RN_AGGREGATE_MAX_ACC 256u

struct rn_aggregate_def {
    uint32_t abi_version;          /* RN_AGGREGATE_ABI */
    uint32_t struct_size;          /* sizeof(struct rn_aggregate_def) */
    const char *name;              /* used as name(argument): [a-z][a-z0-9_]* */
    const char *description;       /* one line */

    /* Checks the argument's type (the type of the expression written between the parentheses)
     * and sets the result's type (bool, int64, double or timestamp) and the accumulator's size
     * (1 .. RN_AGGREGATE_MAX_ACC bytes). On an argument it cannot take: returns non-zero with a
     * message in msg ("takes int64 or double"). Required. */
    int (*plan)(struct rn_type arg, struct rn_type *result, uint32_t *acc_size, char *msg, size_t msg_len);
    /* Folds n rows of the argument column into accumulators: row i goes into the accumulator at
     * (char *)accs + slot[i] * stride. Rows are in arrival order; null rows are passed too
     * (rn_column_is_null says which; most functions skip them). Required. */
    void (*add)(void *accs, size_t stride, const uint32_t *slot, const struct rn_column *arg, uint32_t n);
    /* acc = acc merged with later (both acc_size bytes). Required. */
    void (*merge)(void *acc, const void *later);
    /* Writes the result of acc into *out: an int64_t (int64, timestamp), a double, or a bool
     * stored as one byte 0/1 in the first byte; returns false for NULL (such as no rows).
     * Required. */
    bool (*result)(const void *acc, void *out);
    void *reserved[4];             /* zero: room to grow without breaking plugins */
};

/* The symbol a plugin exports to register aggregate functions. */
typedef const struct rn_aggregate_def *const *(*rn_plugin_aggregates_fn)(void);
#define RN_PLUGIN_AGGREGATES "rn_plugin_aggregates"
const struct rn_aggregate_def *const *rn_plugin_aggregates(void);

#ifdef __cplusplus
}
#endif
#endif
