/*
 * operators/keyed/accum.h — the accumulators of the aggregating operators (aggregate,
 * window_aggregate): parsing an `aggregates:` map ("count(*)", "sum(price)", plugin functions
 * from runnel/aggregate.h), the fixed-size accumulator layout, folding a batch into many
 * accumulators with tight loops per aggregate (no per-row calls), combining accumulators, and
 * writing results into output batches.
 *
 * An accumulator is acc_size bytes: per aggregate, at its offset, either a 16-byte struct
 * rn_acc_slot (built-ins) or the plugin's accumulator (rounded up to 8 bytes). All zero bytes
 * is the empty accumulator. Two aggregates keep what does not fit a fixed slot outside it, in
 * the operator's keyed state, and use the slot only for a count:
 *   count_distinct   the values seen (the operator keeps them in a map state); slot.n counts
 *                    the values new to that state
 *   min/max/first/last of strings   the string (a value or map state); slot.n = "has one"
 * (rn_acc_agg.external marks them: rn_acc_fold leaves them alone.)
 */
#ifndef RN_ACCUM_H
#define RN_ACCUM_H

#include <stdbool.h>
#include <stdint.h>

#include "runnel/aggregate.h"
#include "runnel/job.h"
#include "runnel/operator.h"

enum rn_acc_fn {
    RN_ACC_COUNT_STAR, RN_ACC_COUNT, RN_ACC_SUM, RN_ACC_MIN, RN_ACC_MAX, RN_ACC_AVG, RN_ACC_COUNT_DISTINCT,
    RN_ACC_FIRST, RN_ACC_LAST, RN_ACC_PLUGIN,
};

struct rn_acc_slot {
    union { int64_t i; double d; } v;
    int64_t n;       /* rows counted / values seen / "has a value" */
};

struct rn_acc_agg {
    const char *name;                  /* the output column (the map's key) */
    enum rn_acc_fn fn;
    char *arg;                         /* the argument expression's text (NULL for count(*)) */
    struct rn_type in, out;            /* the argument's type, the result's */
    bool nullable;                     /* the result can be NULL */
    bool is_double;                    /* arithmetic on doubles */
    bool external;                     /* count_distinct, or a string min/max/first/last */
    const struct rn_aggregate_def *plugin;
    uint32_t offset, size;             /* where its bytes are in an accumulator */
};

struct rn_acc_spec {
    uint32_t n;
    struct rn_acc_agg *a;
    uint32_t acc_size;                 /* bytes of one accumulator (a multiple of 8) */
    bool any_external, any_distinct, any_string;
};

#define RN_ACC_MAX_AGGS 64u

/* Parses the `aggregates` map (column -> "fn(argument)") against input schema in; plugin
 * functions are looked up in reg (may be NULL). NULL on error, with *where = the value to
 * blame and msg saying what is wrong ("column 'x': unknown aggregate 'median' ..."). */
struct rn_acc_spec *rn_acc_spec_build(const rn_value *aggs, const rn_schema *in, const struct rn_registry *reg,
                                      const rn_value **where, char *msg, size_t msg_len);
void rn_acc_spec_free(struct rn_acc_spec *s);
/* Appends one output column per aggregate (name, result type, nullability) to o. */
int rn_acc_add_columns(const struct rn_acc_spec *s, rn_schema *o);
/* Compiles every aggregate's argument against in: args[i] (NULL for count(*)); args has s->n
 * entries. 0, or RN_EINVAL with err. */
int rn_acc_compile_args(const struct rn_acc_spec *s, const rn_schema *in, rn_expr **args, struct rn_error *err);
/* Evaluates the arguments over batch b into cols[0..n) (zeroed columns for count(*)); release
 * them with rn_acc_release_args. 0, or RN_EINVAL with err naming the aggregate. */
int rn_acc_eval_args(const struct rn_acc_spec *s, rn_expr *const *args, const struct rn_batch *b,
                     struct rn_column *cols, struct rn_error *err);
void rn_acc_release_args(const struct rn_acc_spec *s, struct rn_column *cols);

/* Folds rows 0..n of the evaluated argument columns into accumulators: row r into the
 * accumulator at (char *)accs + slot[r] * stride, in row order. External aggregates are left
 * alone (the operator folds them). Tight loops per aggregate; plugins get one add() call. */
void rn_acc_fold(const struct rn_acc_spec *s, void *accs, size_t stride, const uint32_t *slot,
                 const struct rn_column *cols, uint32_t n);
/* acc = acc combined with later (later's rows come after acc's). External aggregates: their
 * counts add up (count_distinct: correct only when the two hold disjoint values — the operator
 * recounts otherwise), their "has a value" flags or together. */
void rn_acc_combine(const struct rn_acc_spec *s, void *acc, const void *later);
/* Writes aggregate i's result from acc into row `row` of column `col` of o (not for string
 * aggregates: the operator writes those). 0 or RN_ENOMEM. */
int rn_acc_put(const struct rn_acc_spec *s, uint32_t i, const void *acc, struct rn_batch *o, uint32_t col, uint32_t row);

/* The slot of aggregate i in an accumulator. */
static inline struct rn_acc_slot *rn_acc_slot_of(const struct rn_acc_spec *s, void *acc, uint32_t i)
{
    return (struct rn_acc_slot *)((char *)acc + s->a[i].offset);
}
static inline const struct rn_acc_slot *rn_acc_cslot_of(const struct rn_acc_spec *s, const void *acc, uint32_t i)
{
    return (const struct rn_acc_slot *)((const char *)acc + s->a[i].offset);
}

/* Strings: byte order comparison, and whether a later string replaces the current best of a
 * min/max/first/last (has_cur false: there is none yet). */
int rn_acc_str_cmp(struct rn_str a, struct rn_str b);
bool rn_acc_str_takes(enum rn_acc_fn fn, bool has_cur, struct rn_str cur, struct rn_str later);
/* Writes a key column's row src into row `row` of column col of o. */
int rn_acc_put_key(struct rn_batch *o, uint32_t col, const struct rn_column *kc, uint32_t src, uint32_t row);

#endif
