/*
 * runnel/window_fn.h — the ABI of window functions: C code that the `window_process` operator
 * calls once per fired window of a key, with every row of that window.
 *
 * A window function is what a job cannot say with aggregates: a median, a percentile, a
 * pattern over the window's rows in time order, a model scored on the whole window. A plugin
 * (a shared object in the plugin directory, beside or instead of operators) exports
 *
 *     const struct rn_window_fn_def *const *rn_plugin_window_fns(void);
 *
 * returning a NULL-terminated array of static definitions. The loader checks each one as it
 * checks operators: abi_version (the major version must be this header's), struct_size (must
 * be this header's sizeof), a name [a-z][a-z0-9_]*, plan and process present; a plugin with one
 * bad definition is refused whole, with a message that says which check failed. Built-in window
 * functions register through the same struct (rn_registry_add_window_fn in runnel/job.h).
 *
 * A job uses one by name:
 *
 *     - id: medians
 *       type: window_process
 *       input: bids
 *       key_by: auction
 *       with:
 *         window: { type: tumbling, size: 10s }
 *         function: median_price
 *         options: { column: price }
 *
 * Life of a window function in a job:
 *   plan()     once when the job is validated: check the options against the input schema and
 *              declare the schema of the rows it outputs per window (its own columns: the
 *              operator puts the key, window_start and window_end in front of them).
 *   open()     once per parallel subtask (optional): allocate per-subtask state.
 *   process()  a window of a key fired: rows is one batch (the input schema) holding every row
 *              of the window, in arrival order; return the output rows as a batch of the
 *              declared schema (or none).
 *   close()    after open(), whatever happened (optional).
 * Calls for one subtask never run concurrently; calls for different subtasks may (keep no
 * global mutable state). The function may use every rn_* function of runnel/batch.h,
 * runnel/types.h, runnel/value.h and runnel/expr.h.
 *
 * Options: the table works as an operator's (runnel/operator.h): `options:` in the job is
 * checked against it (unknown names and wrong types are errors at their position in the job
 * file) and absent options get their default, so plan() and open() read them with rn_opt_*.
 */
#ifndef RUNNEL_WINDOW_FN_H
#define RUNNEL_WINDOW_FN_H

#include <stdint.h>

#include "runnel/batch.h"
#include "runnel/error.h"
#include "runnel/operator.h"
#include "runnel/types.h"
#include "runnel/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RN_WINDOW_FN_ABI_MAJOR 1u
#define RN_WINDOW_FN_ABI_MINOR 0u
/* abi_version = major << 16 | minor: a definition of another major version is refused. */
#define RN_WINDOW_FN_ABI ((RN_WINDOW_FN_ABI_MAJOR << 16) | RN_WINDOW_FN_ABI_MINOR)

/* What plan() and open() are told. */
struct rn_window_fn_setup {
    const char *node_id;       /* the window_process node (for messages) */
    const rn_schema *input;    /* the schema of the rows process() gets */
    const rn_value *options;   /* `options:` checked against the table, defaults filled in: a map */
    const rn_schema *output;   /* open(): the schema plan() declared; NULL in plan() */
    struct rn_type key_type;   /* the type of the node's key_by */
    const char *key_name;      /* the name of the key column in the operator's output */
};

/* One fired window of one key. */
struct rn_window_call {
    const struct rn_column *key;   /* the key_by column evaluated over the rows ... */
    uint32_t key_row;              /* ... and the row of it holding this window's key */
    int64_t start, end;            /* the window: [start, end), event or processing time, ms
                                    * (a global window is [INT64_MIN, INT64_MAX)) */
};

struct rn_window_fn_def {
    uint32_t abi_version;          /* RN_WINDOW_FN_ABI */
    uint32_t struct_size;          /* sizeof(struct rn_window_fn_def) */
    const char *name;              /* `function:` in window_process: [a-z][a-z0-9_]* */
    const char *description;       /* one line */
    const struct rn_option *options;   /* terminated by an entry with name NULL; may be NULL */

    /* Checks setup->options against setup->input and sets *output to a new schema (the caller
     * takes the reference) of at least one column. On a bad option: returns RN_EINVAL with err
     * filled; err's line and column, when set (the rn_value_* readers set them), point at the
     * offending value. Required. */
    int (*plan)(const struct rn_window_fn_setup *setup, rn_schema **output, struct rn_error *err);
    /* Per-subtask state (optional: NULL means *state stays NULL). */
    int (*open)(const struct rn_window_fn_setup *setup, void **state, struct rn_error *err);
    /* A window fired. rows holds every row of the window (at least one), lent for the call.
     * Set *out to a new batch of the output schema (its reference moves to the caller), or leave
     * it NULL for no rows. Returns 0, or a negative RN_E* with err saying why (the job fails
     * naming the operator). Required. */
    int (*process)(void *state, const struct rn_window_call *w, const struct rn_batch *rows, struct rn_batch **out,
                   struct rn_error *err);
    /* Frees what open() made (optional; also called when open() failed after setting *state). */
    void (*close)(void *state);
    void *reserved[8];             /* zero: room to grow without breaking plugins */
};

/* The symbol a plugin exports to register window functions (besides, or instead of, the
 * operator entry points of runnel/operator.h). */
typedef const struct rn_window_fn_def *const *(*rn_plugin_window_fns_fn)(void);
#define RN_PLUGIN_WINDOW_FNS "rn_plugin_window_fns"
const struct rn_window_fn_def *const *rn_plugin_window_fns(void);

#ifdef __cplusplus
}
#endif
#endif
