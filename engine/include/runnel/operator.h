/*
 * runnel/operator.h — the operator ABI: the one header an operator plugin includes.
 *
 * A plugin is a shared object that exports
 *
 *     const struct rn_operator_def *rn_plugin_entry(void);
 *
 * returning a static definition (or, for several operators, rn_plugin_entries returning a
 * NULL-terminated array). The definition starts with abi_version and struct_size; the loader
 * refuses a plugin built against another ABI major version or with a struct of another size,
 * and says which. Built-in operators register through the same struct.
 *
 * Life of an operator in a job:
 *   plan()     once per job node when the job is validated (before anything runs): read and
 *              check options, declare the output schema from the input schemas.
 *   open()     once per parallel subtask, on the subtask's thread: allocate the state.
 *   poll()     sources only: emit what is ready; RN_EEND when the input is exhausted.
 *   process()  a batch arrived on input i (the batch is only lent: take a reference to keep it).
 *   on_watermark()  event time advanced to wm on every input (the host forwards it after).
 *   finish()   every input ended: emit what is still held (end of a bounded job).
 *   snapshot() / restore() / checkpoint_complete()   checkpoints (ABI 1.2; see "checkpoints"
 *              below).
 *   close()    always after open(), whatever happened, whenever open() stored a state (also
 *              when open() then failed): free the state, which may be partly built.
 * Callbacks of one subtask never run concurrently. A callback fails by returning a negative
 * RN_E* code after describing the problem with rn_op_error(); the job then fails with a message
 * naming the operator id and subtask.
 *
 * Host services are reached through the context handles, never through globals.
 */
#ifndef RUNNEL_OPERATOR_H
#define RUNNEL_OPERATOR_H

#include <stdint.h>

#include "runnel/batch.h"
#include "runnel/error.h"
#include "runnel/expr.h"
#include "runnel/state.h"
#include "runnel/types.h"
#include "runnel/value.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RN_OPERATOR_ABI_MAJOR 1u
#define RN_OPERATOR_ABI_MINOR 3u
/* abi_version = major << 16 | minor: a plugin of another major version is refused; a newer
 * minor version of the host accepts older plugins. */
#define RN_OPERATOR_ABI ((RN_OPERATOR_ABI_MAJOR << 16) | RN_OPERATOR_ABI_MINOR)

enum rn_option_type {
    RN_OPT_STRING,    /* any scalar, as text */
    RN_OPT_INT,       /* int64 */
    RN_OPT_DOUBLE,
    RN_OPT_BOOL,
    RN_OPT_DURATION,  /* "10s", "500ms"; read as int64 milliseconds */
    RN_OPT_EXPR,      /* an expression (docs/job-spec.md), compiled against a schema */
    RN_OPT_MAP,
    RN_OPT_LIST,
    RN_OPT_SCHEMA,    /* a map of column: type */
    RN_OPT_OUTPUT,    /* the id of a side output of this node: other nodes name it in `input:` as
                       * they name an operator (ABI 1.1) */
};

/* One entry of an operator's option table; the table ends with an entry whose name is NULL.
 * The same table validates job files and prints `runnel operators NAME`. */
struct rn_option {
    const char *name;            /* key under `with:` */
    enum rn_option_type type;
    const char *default_value;   /* as it would be written in YAML; NULL = required */
    const char *help;
};

struct rn_plan_ctx;   /* validation-time context of one job node */
struct rn_op_ctx;     /* run-time context of one operator subtask */
/* A timer of a keyed operator: fires once for (kind, key, namespace, time). */
enum rn_timer_kind { RN_TIMER_EVENT, RN_TIMER_PROCESSING };
struct rn_timer {
    enum rn_timer_kind kind;
    int64_t time;                /* event time (ms) or processing time (ms since the epoch) */
    struct rn_state_key key;     /* the key it was registered for (bytes valid during on_timer) */
    int64_t ns;
};
struct rn_snapshot_writer;
struct rn_snapshot_reader;

struct rn_operator_def {
    uint32_t abi_version;         /* RN_OPERATOR_ABI */
    uint32_t struct_size;         /* sizeof(struct rn_operator_def) */
    const char *name;             /* the `type:` in job files: [a-z][a-z0-9_]* */
    const char *description;      /* one line */
    const struct rn_option *options;
    uint32_t n_inputs_min, n_inputs_max;   /* 0, 0 for a source */
    uint32_t flags;               /* RN_OP_* */

    int (*plan)(struct rn_plan_ctx *ctx);
    int (*open)(struct rn_op_ctx *ctx, void **state);
    int (*poll)(void *state, struct rn_op_ctx *ctx);
    int (*process)(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b);
    int (*on_watermark)(void *state, struct rn_op_ctx *ctx, int64_t watermark);
    int (*finish)(void *state, struct rn_op_ctx *ctx);
    void (*close)(void *state, struct rn_op_ctx *ctx);
    /* A timer registered with rn_op_timer_register is due (keyed operators). */
    int (*on_timer)(void *state, struct rn_op_ctx *ctx, const struct rn_timer *timer);
    /* Checkpoints (ABI 1.2; NULL: nothing to do): see "checkpoints" below. */
    int (*snapshot)(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_writer *w);
    int (*restore)(void *state, struct rn_op_ctx *ctx, struct rn_snapshot_reader *r);
    int (*checkpoint_complete)(void *state, struct rn_op_ctx *ctx, int64_t checkpoint_id);
    void *reserved[8];            /* zero: room to grow without breaking plugins */
};

/* flags */
#define RN_OP_SINK 1u   /* produces no output (nothing may take it as input) */
#define RN_OP_KEYED 2u  /* needs key_by: works per key (rn_op_keys) with keyed state */

/* The symbol a plugin exports (one of the two). */
typedef const struct rn_operator_def *(*rn_plugin_entry_fn)(void);
typedef const struct rn_operator_def *const *(*rn_plugin_entries_fn)(void);
#define RN_PLUGIN_ENTRY "rn_plugin_entry"
#define RN_PLUGIN_ENTRIES "rn_plugin_entries"
/* Declared here so that a plugin's definition of its entry point has a prototype. */
const struct rn_operator_def *rn_plugin_entry(void);
const struct rn_operator_def *const *rn_plugin_entries(void);

/* ---- plan time ---- */

const char *rn_plan_node_id(const struct rn_plan_ctx *ctx);
uint32_t rn_plan_n_inputs(const struct rn_plan_ctx *ctx);
const rn_schema *rn_plan_input_schema(const struct rn_plan_ctx *ctx, uint32_t i);
/* Declares the output schema (a reference is taken). Every operator but a sink must. */
int rn_plan_set_output(struct rn_plan_ctx *ctx, const rn_schema *s);
/* Declares the schema of the side output named by the RN_OPT_OUTPUT option `option` (a
 * reference is taken). Returns its port (1, 2, ... in option-table order), 0 when the job does
 * not set that option (nothing to declare), or RN_EINVAL for an option that is not an output. */
int rn_plan_set_side_output(struct rn_plan_ctx *ctx, const char *option, const rn_schema *s);
/* Records an error at the position of value at (NULL: the node) and returns RN_EINVAL. */
int rn_plan_error(struct rn_plan_ctx *ctx, const rn_value *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Compiles the expression option `name` against s; on failure records the error at the
 * expression's position in the job file and returns it. */
int rn_plan_compile(struct rn_plan_ctx *ctx, const char *name, const rn_schema *s, rn_expr **out);
/* The same for any scalar value inside the options (a column of a map, an item of a list);
 * `what` names it in the message ("column 'price'"). */
int rn_plan_compile_value(struct rn_plan_ctx *ctx, const rn_value *v, const char *what, const rn_schema *s,
                          rn_expr **out);

/* Keyed operators: the type of the node's key_by expression over input i, and the name its
 * column takes in outputs (the key_by text when it is a plain column name, else "key"). A node
 * with several inputs may key each one by its own expression (`key_by: {input_id: expr}`); the
 * validator checks that every input's key has the same type. */
int rn_plan_key(struct rn_plan_ctx *ctx, uint32_t input, struct rn_type *type, const char **name);

/* The event-time column of input i: the watermark column of the source upstream of it when the
 * input's schema still has that column (a timestamp or int64 ms), else NULL. Operators that
 * work in event time use it unless an option names another column. */
const char *rn_plan_time_column(const struct rn_plan_ctx *ctx, uint32_t input);
const char *rn_op_time_column(const struct rn_op_ctx *ctx, uint32_t input);

/* The registry the job was validated against (for the aggregate and window functions that
 * plugins register beside operators). Valid for the life of the job. */
struct rn_registry;
const struct rn_registry *rn_plan_registry(const struct rn_plan_ctx *ctx);
const struct rn_registry *rn_op_registry(const struct rn_op_ctx *ctx);

/* ---- options (both contexts) ---- */

/* Options of something an operator hosts (a plugin's window function, ...): given (a map, or
 * NULL) checked against table as a node's `with:` is (unknown names with a "did you mean",
 * types, required options; each error recorded at its position in the job file, owner naming
 * the table's owner: "window function 'median_price'") and returned with the defaults filled
 * in, or NULL after an error. rn_options_fill does the same without reporting, for open()
 * (the job was checked already). Free the result with rn_options_free. */
rn_value *rn_plan_check_options(struct rn_plan_ctx *ctx, const struct rn_option *table, const char *owner,
                                const rn_value *given);
rn_value *rn_options_fill(const struct rn_option *table, const rn_value *given);
void rn_options_free(rn_value *options);

/* The node's options, type-checked against the option table: absent options with a default are
 * present with the default. */
const rn_value *rn_plan_options(const struct rn_plan_ctx *ctx);
const rn_value *rn_op_options(const struct rn_op_ctx *ctx);
/* Typed reads of option name (NULL defaults: the option is required, so it is present). */
const char *rn_opt_string(const rn_value *options, const char *name);
int64_t rn_opt_int(const rn_value *options, const char *name);
double rn_opt_double(const rn_value *options, const char *name);
bool rn_opt_bool(const rn_value *options, const char *name);
int64_t rn_opt_duration(const rn_value *options, const char *name);
/* The raw value, or NULL when absent without a default. */
const rn_value *rn_opt_value(const rn_value *options, const char *name);

/* ---- run time ---- */

const char *rn_op_node_id(const struct rn_op_ctx *ctx);
/* The job's `name:` ("" when it has none): stable across restarts (ABI 1.3). */
const char *rn_op_job_name(const struct rn_op_ctx *ctx);
uint32_t rn_op_subtask(const struct rn_op_ctx *ctx);       /* 0 .. parallelism-1 */
uint32_t rn_op_parallelism(const struct rn_op_ctx *ctx);
uint32_t rn_op_max_parallelism(const struct rn_op_ctx *ctx);
const rn_schema *rn_op_input_schema(const struct rn_op_ctx *ctx, uint32_t i);
const rn_schema *rn_op_output_schema(const struct rn_op_ctx *ctx);
/* Compiles the expression option `name` against s (per subtask: compiled expressions are not
 * shared between threads). */
int rn_op_compile(struct rn_op_ctx *ctx, const char *name, const rn_schema *s, rn_expr **out);

/* Keyed operators: the keys of batch b (from input `input`), evaluated with the node's key_by:
 * per row the key column's value, its hash, and its encoded bytes with the key group (for
 * keyed state); and the batch's rows grouped by distinct key (in order of first appearance),
 * for pre-combining a batch before touching state once per key. Valid until the next call. */
struct rn_op_keys {
    uint32_t n;                              /* rows */
    const struct rn_column *column;
    const uint64_t *hashes;
    const struct rn_state_key *keys;         /* per row */
    uint32_t n_groups;                       /* distinct keys */
    const uint32_t *group;                   /* per row: its distinct key, 0 .. n_groups-1 */
    const struct rn_state_key *group_keys;   /* per distinct key */
    const uint32_t *first_row, *last_row;    /* per distinct key */
};
int rn_op_keys(struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b, struct rn_op_keys *out);
/* The keyed-state configuration of this subtask (the job's `state:` backend, a working
 * directory private to this operator subtask written into dir, max_parallelism, and the key
 * groups this subtask owns), for rn_state_backend_open in open(). */
int rn_op_state_config(struct rn_op_ctx *ctx, struct rn_state_config *cfg, char *dir, size_t dir_len);
/* Keyed operators: this subtask's keyed-state backend, opened on first use with the job's
 * `state:` backend and closed by the host after close(). NULL (with rn_op_error set) when it
 * cannot be opened. */
rn_state_backend *rn_op_state(struct rn_op_ctx *ctx);
/* Declares a keyed state of this subtask's backend (rn_op_state); on failure the error is
 * described ("keyed state: ...") and returned. */
int rn_op_state_declare(struct rn_op_ctx *ctx, const struct rn_state_desc *desc, rn_state **out);
/* Timers of keyed operators, kept in the operator's keyed state (so they are snapshotted with
 * it). An event-time timer fires when the watermark reaches its time, a processing-time timer
 * when the clock does; registering the same (kind, key, ns, time) twice gives one timer.
 * on_timer runs on the task's thread like every callback; it may register timers. */
int rn_op_timer_register(struct rn_op_ctx *ctx, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                         int64_t time);
int rn_op_timer_delete(struct rn_op_ctx *ctx, enum rn_timer_kind kind, const struct rn_state_key *key, int64_t ns,
                       int64_t time);
/* Fires now, in time order, every pending timer of kind (on_timer runs for each, and for any
 * it registers): for finish(), where a bounded input ends before processing-time windows are
 * due and the job still wants their results. */
int rn_op_timers_fire_all(struct rn_op_ctx *ctx, enum rn_timer_kind kind);
/* The task's processing-time clock, in ms since the epoch. */
int64_t rn_op_processing_time(const struct rn_op_ctx *ctx);

/* Sends a batch downstream, giving up the caller's reference. May block while downstream is
 * full (back-pressure). Returns 0, or RN_ECANCELED when the job is stopping (return it). */
int rn_op_emit(struct rn_op_ctx *ctx, struct rn_batch *b);
/* Sources that read several splits in one subtask (files, partitions): the watermark is then
 * tracked per split — each split's own max event time - bound - 1 — and the subtask's is the
 * minimum over its splits that have not finished and are not idle (no rows for the watermark's
 * idle_timeout), so that a split behind the others holds the watermark back instead of making
 * its rows late. A declared split that has sent no rows yet holds it at its start. Splits are
 * numbered from 0; rn_op_emit emits as split 0. rn_op_declare_splits announces n splits before
 * their first rows; rn_op_split_finished says a split has no more rows. */
#define RN_OP_MAX_SPLITS 4096u
int rn_op_declare_splits(struct rn_op_ctx *ctx, uint32_t n);
int rn_op_emit_split(struct rn_op_ctx *ctx, uint32_t split, struct rn_batch *b);
int rn_op_split_finished(struct rn_op_ctx *ctx, uint32_t split);
/* Sends a batch to side output `port` (rn_op_side_port), giving up the caller's reference; a
 * side output that nothing consumes drops it. Same return values as rn_op_emit. */
int rn_op_emit_to(struct rn_op_ctx *ctx, uint32_t port, struct rn_batch *b);
/* The port of the side output named by RN_OPT_OUTPUT option `option`, or 0 when the job does
 * not set it (then there is nowhere to send those rows). */
uint32_t rn_op_side_port(const struct rn_op_ctx *ctx, const char *option);
/* Describes why a callback is about to fail (the host adds operator and subtask). */
void rn_op_error(struct rn_op_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True once the job is being cancelled: long-running sources return RN_EEND or RN_ECANCELED. */
bool rn_op_cancelled(const struct rn_op_ctx *ctx);
/* Current event-time watermark at this operator (INT64_MIN before the first). */
int64_t rn_op_watermark(const struct rn_op_ctx *ctx);
/* Writes a line to the job's log, prefixed with the operator and subtask. */
void rn_op_log(struct rn_op_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A named counter of this subtask (created on first use, at most RN_OP_MAX_METRICS per
 * operator): the operator adds to it, the host sums it over subtasks for the job summary (and,
 * later, the metrics endpoint). NULL when there is no room. Rows in and out are counted by the
 * host already. */
#define RN_OP_MAX_METRICS 8
_Atomic uint64_t *rn_op_metric(struct rn_op_ctx *ctx, const char *name);
/* ---- checkpoints (ABI 1.2) ----
 *
 * When checkpoint `id` reaches a subtask (barrier n arrived on every input; sources: when the
 * coordinator triggers it), the host calls, on the task's thread, between two batches (after
 * every row before the barrier, before any row after it), for each operator of the chain:
 *   snapshot(state, ctx, w)   write back to keyed state whatever the operator caches in memory
 *                             (the host snapshots the keyed state right after), and record what
 *                             is not keyed state — a source's positions, a sink's pending files —
 *                             as operator-state lists through w. It pauses the task: keep it
 *                             short (the host copies the state to storage asynchronously).
 *                             Rows it emits (what it was holding) go downstream before the
 *                             barrier: the chain is snapshotted head to tail and the barrier
 *                             forwarded after the last operator.
 * After a bounded job's finish() the host takes one final checkpoint the same way.
 *   restore(state, ctx, r)    after open() of a subtask started from a checkpoint or savepoint
 *                             (never on a fresh start): rn_op_state already holds the restored
 *                             keyed state (and timers); r reads the operator-state lists.
 *                             Rebuild in-memory indexes here.
 *   checkpoint_complete(state, ctx, id)   checkpoint id is durable (its metadata written): two-
 *                             phase-commit sinks make visible what it covers. Ids only grow; one
 *                             covers every earlier one (some may never be notified). Savepoints
 *                             do not commit (Flink's semantics), except the one of a stop.
 *
 * Operator-state lists are redistributed when the parallelism changes: element i of a list,
 * counted over the old subtasks in order, goes to new subtask i mod parallelism (a source's
 * splits); a union list goes whole to every new subtask (what every subtask must see). */
int64_t rn_snapshot_id(const struct rn_snapshot_writer *w);
bool rn_snapshot_is_savepoint(const struct rn_snapshot_writer *w);
int rn_snapshot_append(struct rn_snapshot_writer *w, const char *list, const void *val, uint32_t len);
int rn_snapshot_append_union(struct rn_snapshot_writer *w, const char *list, const void *val, uint32_t len);
/* The checkpoint restored from, and the parallelism the node had then. */
int64_t rn_restore_id(const struct rn_snapshot_reader *r);
uint32_t rn_restore_old_parallelism(const struct rn_snapshot_reader *r);
/* Calls fn for each element of list this subtask got (none when the list is absent). */
int rn_restore_each(struct rn_snapshot_reader *r, const char *list, int (*fn)(const void *val, uint32_t len, void *user),
                    void *user);
/* Little-endian integers for the bytes of operator-state elements (checkpoints may be read back
 * on another machine). */
static inline void rn_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t rn_get_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static inline void rn_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint64_t rn_get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
/* True when the job takes checkpoints (`checkpoint:`): two-phase-commit sinks then commit in
 * checkpoint_complete; without, they commit in finish(). */
bool rn_op_checkpointing(const struct rn_op_ctx *ctx);

/* Serialises writes of whole lines to the process's stdout across subtasks (print sinks). */
void rn_op_stdout_lock(struct rn_op_ctx *ctx);
void rn_op_stdout_unlock(struct rn_op_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
