/*
 * runnel/job.h — jobs: a job file is loaded (YAML), validated against the operator registry
 * (types, options, inputs, cycles, expressions, schemas) and turned into a job: a graph of
 * planned nodes with their output schemas, ready to be expanded into tasks and run. A job can be
 * packed into the protobuf message runnel.JobGraph (runtime/proto/jobgraph.proto) to be sent to
 * a job manager or stored with checkpoints, and unpacked again (which validates it again).
 */
#ifndef RUNNEL_JOB_H
#define RUNNEL_JOB_H

#include <stdint.h>
#include <stdio.h>

#include "runnel/operator.h"
#include "runnel/state.h"
#include "runnel/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- operator registry ---- */

typedef struct rn_registry rn_registry;

/* An empty registry (operators/builtin.h registers the built-in operators into it). */
rn_registry *rn_registry_create(void);
void rn_registry_destroy(rn_registry *r);
/* Adds a definition (checked: ABI version, struct size, name, callbacks). err says what is
 * wrong; a name already registered is refused. The definition must outlive the registry. */
int rn_registry_add(rn_registry *r, const struct rn_operator_def *def, struct rn_error *err);
/* Loads every *.so in dir. Plugins that cannot be loaded are refused one by one: each refusal is
 * written to warn (if not NULL) as "plugin <file>: <why>" and counted in *refused. Returns 0, or
 * RN_EIO when dir cannot be read. */
int rn_registry_load_dir(rn_registry *r, const char *dir, FILE *warn, unsigned *refused);
/* Loads one plugin file (a path inside a plugin directory). */
int rn_registry_load_plugin(rn_registry *r, const char *path, struct rn_error *err);
const struct rn_operator_def *rn_registry_find(const rn_registry *r, const char *name);
/* The registered name closest to name (for "did you mean"), or NULL. */
const char *rn_registry_closest(const rn_registry *r, const char *name);
size_t rn_registry_len(const rn_registry *r);
/* Definitions sorted by name. */
const struct rn_operator_def *rn_registry_at(const rn_registry *r, size_t i);
/* Where a definition came from: "built-in" or the plugin's path. */
const char *rn_registry_origin(const rn_registry *r, size_t i);

/* Writes the help of one operator (description, inputs, option table) to f. */
void rn_operator_describe(const struct rn_operator_def *def, FILE *f);

/* ---- window functions (runnel/window_fn.h), for window_process ---- */

struct rn_window_fn_def;
/* Adds a window function (checked like an operator: ABI major version, struct size, name,
 * plan and process). A name already registered is refused. The definition must outlive the
 * registry. Plugins register theirs by exporting rn_plugin_window_fns (loaded by
 * rn_registry_load_plugin / rn_registry_load_dir with their operators). */
int rn_registry_add_window_fn(rn_registry *r, const struct rn_window_fn_def *def, struct rn_error *err);
/* The window function of that name, or NULL. */
const struct rn_window_fn_def *rn_registry_find_window_fn(const rn_registry *r, const char *name);
/* Window functions sorted by name, and where each came from ("built-in" or the plugin's path). */
size_t rn_registry_window_fn_len(const rn_registry *r);
const struct rn_window_fn_def *rn_registry_window_fn_at(const rn_registry *r, size_t i);
const char *rn_registry_window_fn_origin(const rn_registry *r, size_t i);

/* ---- aggregate functions (runnel/aggregate.h), for aggregate and window_aggregate ---- */

struct rn_aggregate_def;
/* Adds an aggregate function (checked like an operator: ABI major version, struct size, a name
 * that is not a built-in aggregate's, plan, add, merge and result). A name already registered
 * is refused. The definition must outlive the registry. Plugins register theirs by exporting
 * rn_plugin_aggregates (loaded by rn_registry_load_plugin / rn_registry_load_dir). */
int rn_registry_add_aggregate(rn_registry *r, const struct rn_aggregate_def *def, struct rn_error *err);
/* The aggregate function of that name, or NULL. */
const struct rn_aggregate_def *rn_registry_find_aggregate(const rn_registry *r, const char *name);
/* Aggregate functions sorted by name, and where each came from ("built-in" or the plugin's path). */
size_t rn_registry_aggregate_len(const rn_registry *r);
const struct rn_aggregate_def *rn_registry_aggregate_at(const rn_registry *r, size_t i);
const char *rn_registry_aggregate_origin(const rn_registry *r, size_t i);

/* ---- validation errors ---- */

struct rn_job_error {
    char *file;       /* the job file */
    int line, column; /* 0 when unknown */
    char *node;       /* the operator id, or NULL */
    char *msg;
};

struct rn_job_errors {
    size_t n, cap;
    struct rn_job_error *items;
};
void rn_job_errors_free(struct rn_job_errors *e);
/* Prints each as "file:line:col: operator 'id': message". */
void rn_job_errors_print(const struct rn_job_errors *e, FILE *f);

/* ---- jobs ---- */

enum rn_partition { RN_PART_FORWARD, RN_PART_REBALANCE, RN_PART_BROADCAST, RN_PART_HASH };

struct rn_watermark_spec {
    char *column;               /* a timestamp (or int64) column of the node's output */
    int64_t max_out_of_orderness; /* ms */
    int64_t idle_timeout;       /* ms; 0 = never idle */
};

/* A side output of a node (an RN_OPT_OUTPUT option the job sets): a stream of its own that
 * other nodes take as input by its id. */
struct rn_side_output {
    char *id;                   /* the option's value: the stream's id */
    const char *option;         /* the option's name (in the operator's table) */
    rn_schema *schema;          /* declared by plan(); NULL until then */
};

struct rn_job_node {
    char *id;
    const struct rn_operator_def *def;
    uint32_t parallelism;
    uint32_t n_inputs;
    uint32_t *inputs;           /* indexes of input nodes, in the order written */
    uint32_t *input_ports;      /* per input: 0 = the main output of that node, k = its side output k */
    char *key_by;               /* the key_by as written when it is one expression, or NULL */
    char **input_key_by;        /* per input: its key expression (NULL entries when no key_by) */
    uint32_t n_side;
    struct rn_side_output *side;/* side output k is side[k - 1] */
    enum rn_partition partition;/* of the edges into this node */
    struct rn_watermark_spec *watermark;  /* NULL when none */
    rn_value *options;          /* with defaults filled in */
    rn_schema *output;          /* NULL for sinks */
    int line, column;
};

/* `checkpoint:` (docs/job-spec.md): periodic checkpoints into dir/<job name>/chk-<n>. */
enum rn_checkpoint_mode { RN_CHECKPOINT_EXACTLY_ONCE, RN_CHECKPOINT_AT_LEAST_ONCE };
struct rn_checkpoint_spec {
    bool enabled;               /* the job has a checkpoint block */
    int64_t interval;           /* ms between triggers */
    enum rn_checkpoint_mode mode;
    char *dir;                  /* storage root (a `file://` URI's path, or a path) */
    char *savepoint_dir;        /* where savepoints go by default; NULL: dir/<job>/savepoints */
    uint32_t retain;            /* completed checkpoints kept */
    int64_t timeout;            /* ms: a checkpoint not complete by then is discarded */
    int64_t min_pause;          /* ms between the end of one and the trigger of the next */
};

/* `restart:` (docs/job-spec.md): what happens when a task fails. */
enum rn_restart_kind { RN_RESTART_NONE, RN_RESTART_FIXED_DELAY, RN_RESTART_EXPONENTIAL_DELAY };
struct rn_restart_spec {
    enum rn_restart_kind kind;
    uint32_t attempts;          /* restarts allowed (fixed-delay; exponential-delay: 0 = no limit) */
    int64_t delay;              /* ms: fixed-delay's delay, exponential-delay's first */
    int64_t max_delay;          /* ms (exponential-delay) */
    double multiplier;          /* (exponential-delay) */
    int64_t reset_after;        /* ms of running without failure after which the backoff starts over */
};

struct rn_job {
    char *file;
    char *name;
    struct rn_checkpoint_spec checkpoint;
    struct rn_restart_spec restart;
    enum rn_state_backend_kind state_backend;   /* `state: {backend}`: memory (default) or rocksdb */
    char *state_dir;                             /* `state: {dir}`: where RocksDB working copies go */
    uint32_t parallelism, max_parallelism;
    const rn_registry *registry;                 /* the registry it was validated against */
    uint32_t n_nodes;
    struct rn_job_node *nodes;  /* in topological order (inputs before consumers) */
    rn_value *source;           /* the parsed file */
};

/* Loads and validates a job file. On success *out owns the job. On failure returns RN_EINVAL
 * (or RN_EIO when the file cannot be read) and errs lists every problem found. */
int rn_job_load(const char *path, const rn_registry *reg, struct rn_job **out, struct rn_job_errors *errs);
/* The same from text in memory (file is the name used in messages). */
int rn_job_parse(const char *file, const char *text, size_t len, const rn_registry *reg,
                 struct rn_job **out, struct rn_job_errors *errs);
void rn_job_free(struct rn_job *job);
/* The restart strategy's delay (ms) before restart number `failures` (1 = the first after a
 * failure; exponential-delay counts failures since the last reset_after of calm), or -1 when
 * the strategy allows no more restarts. */
int64_t rn_restart_delay(const struct rn_restart_spec *s, uint32_t failures);
/* Index of the node with this id, or -1. */
int rn_job_find(const struct rn_job *job, const char *id);
/* The schema of output `port` of node i (0 = main output; NULL for a sink or an undeclared side
 * output). */
const rn_schema *rn_job_output_schema(const struct rn_job *job, uint32_t node, uint32_t port);
/* The event-time column of output `port` of node i: a source's watermark column, else the
 * event-time column its inputs share when that output still has it; NULL when none. */
const char *rn_job_time_column(const struct rn_job *job, uint32_t node, uint32_t port);

/* The job as a runnel.JobGraph protobuf message (malloc'd; the caller frees), and back. */
int rn_job_pack(const struct rn_job *job, uint8_t **out, size_t *len);
int rn_job_unpack(const uint8_t *data, size_t len, const rn_registry *reg, struct rn_job **out,
                  struct rn_job_errors *errs);

#ifdef __cplusplus
}
#endif
#endif
