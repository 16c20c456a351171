/*
 * aggregate.c — `aggregate`: running aggregates per key, unwindowed (count, sum, min, max, avg,
 * count_distinct, first, last, and aggregate functions from plugins). For every batch it emits,
 * per distinct key of the batch, the key's updated row: an upsert stream (the latest row per key
 * is the current result).
 *
 * Per batch: the rows are pre-combined by key (rn_op_keys's grouping) into one accumulator per
 * distinct key (accum.h: one tight loop per aggregate); keyed state is then touched once per
 * distinct key (rn_state_add_many folds the batch's accumulators into the stored ones,
 * rn_state_get_many reads the results back). count_distinct keeps the values seen per key in a
 * map state (namespace = the aggregate's index) and adds only the values new to it. min, max,
 * first and last of strings keep the string in a value state (namespace = the aggregate's
 * index): the batch's best string per key is chosen first, then the state is read and written
 * once per key.
 *
 * Checkpoints: nothing to do: every accumulator is written to keyed state in the batch that
 * changed it (the per-batch arrays are scratch).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accum.h"
#include "builtin.h"
#include "runnel/hash.h"

static const struct rn_option options[] = {
    {"aggregates", RN_OPT_MAP, NULL, "output column -> count(*), count(x), sum(x), min(x), max(x), avg(x), "
                                     "count_distinct(x), first(x), last(x) or a plugin's function(x)"},
    {NULL, 0, NULL, NULL},
};

static rn_schema *out_schema(const struct rn_acc_spec *s, const char *key_name, struct rn_type key_type)
{
    rn_schema *o = rn_schema_create();
    if (!o) return NULL;
    int rc = rn_schema_add(o, key_name, key_type, true);
    if (!rc) rc = rn_acc_add_columns(s, o);
    if (rc) {
        rn_schema_unref(o);
        return NULL;
    }
    return o;
}

static int plan(struct rn_plan_ctx *ctx)
{
    char msg[512];
    const rn_value *where;
    const rn_schema *in = rn_plan_input_schema(ctx, 0);
    struct rn_acc_spec *s = rn_acc_spec_build(rn_opt_value(rn_plan_options(ctx), "aggregates"), in,
                                              rn_plan_registry(ctx), &where, msg, sizeof msg);
    if (!s) return rn_plan_error(ctx, where, "%s", msg);
    struct rn_type key_type;
    const char *key_name;
    int rc = rn_plan_key(ctx, 0, &key_type, &key_name);
    for (uint32_t i = 0; !rc && i < s->n; i++)
        if (!strcmp(s->a[i].name, key_name))
            rc = rn_plan_error(ctx, where, "column '%s' is also the key's name", key_name);
    rn_schema *o = rc ? NULL : out_schema(s, key_name, key_type);
    if (!rc && !o) rc = rn_plan_error(ctx, NULL, "cannot build the output schema (a column named twice?)");
    if (o) rn_plan_set_output(ctx, o);
    rn_schema_unref(o);
    rn_acc_spec_free(s);
    return rc;
}

/* ---- run time ---- */

struct state {
    struct rn_acc_spec *spec;
    rn_expr **args;
    rn_state_backend *backend;
    rn_state *acc_state, *distinct_state, *string_state;
    /* per-batch scratch */
    uint32_t cap;
    struct rn_state_key *dkeys; /* per distinct key */
    int64_t *ns;
    void *accs;                 /* n_distinct accumulators */
    const void **results;
    uint32_t *lens;
    struct rn_str *best;        /* string aggregates: the batch's best string per (key, aggregate) */
};

static void combine(void *accp, const void *inp, void *user) { rn_acc_combine(user, accp, inp); }

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    char msg[512];
    const rn_value *where;
    const rn_schema *in = rn_op_input_schema(ctx, 0);
    if (!(st->spec = rn_acc_spec_build(rn_opt_value(rn_op_options(ctx), "aggregates"), in, rn_op_registry(ctx), &where,
                                       msg, sizeof msg))) {
        rn_op_error(ctx, "%s", msg);
        return RN_EINVAL;
    }
    if (!(st->args = calloc(st->spec->n, sizeof *st->args))) return RN_ENOMEM;
    struct rn_error err;
    if (rn_acc_compile_args(st->spec, in, st->args, &err)) {
        rn_op_error(ctx, "%s", err.msg);
        return RN_EINVAL;
    }
    int rc;
    if (!(st->backend = rn_op_state(ctx))) return RN_EINVAL;
    struct rn_state_desc acc = {"aggregate.acc", RN_STATE_REDUCING, st->spec->acc_size, 0, combine, st->spec};
    if ((rc = rn_op_state_declare(ctx, &acc, &st->acc_state))) return rc;
    if (st->spec->any_string) {
        struct rn_state_desc d = {"aggregate.string", RN_STATE_VALUE, 0, 0, NULL, NULL};
        if ((rc = rn_op_state_declare(ctx, &d, &st->string_state))) return rc;
    }
    if (st->spec->any_distinct) {
        struct rn_state_desc d = {"aggregate.distinct", RN_STATE_MAP, 0, 0, NULL, NULL};
        if ((rc = rn_op_state_declare(ctx, &d, &st->distinct_state))) return rc;
    }
    return 0;
}

static int grow(struct state *st, uint32_t n)
{
    if (n <= st->cap) return 0;
#define GROW(p, count) do { void *q_ = realloc((p), (size_t)(count) * sizeof *(p)); if (!q_) return RN_ENOMEM; (p) = q_; } while (0)
    GROW(st->dkeys, n);
    GROW(st->ns, n);
    GROW(st->results, n);
    GROW(st->lens, n);
    void *a = realloc(st->accs, (size_t)n * st->spec->acc_size);
    if (!a) return RN_ENOMEM;
    st->accs = a;
    if (!(a = realloc(st->best, (size_t)n * st->spec->n * sizeof *st->best))) return RN_ENOMEM;
    st->best = a;
#undef GROW
    st->cap = n;
    return 0;
}

/* The batch's best string for one key so far (best is valid when sl->n is set). */
static void fold_string(const struct rn_acc_agg *g, struct rn_acc_slot *sl, struct rn_str *best,
                        const struct rn_column *c, uint32_t row)
{
    if (rn_column_is_null(c, row)) return;
    struct rn_str v = rn_col_str(c, row);
    if (rn_acc_str_takes(g->fn, sl->n != 0, *best, v)) *best = v;
    sl->n = 1;
}

/* Merges the batch's best string with the stored one for key d and writes the result into the
 * output (before any other state call: the stored pointer is only valid until then). */
static int merge_string(struct state *st, uint32_t agg_index, const struct rn_acc_agg *g, uint32_t d, bool batch_has,
                        struct rn_batch *o, uint32_t col)
{
    const void *v;
    uint32_t len;
    int rc = rn_state_get(st->string_state, &st->dkeys[d], agg_index, &v, &len);
    if (rc) return rc;
    struct rn_str stored = {v, len}, mine = st->best[(size_t)d * st->spec->n + agg_index];
    bool has_stored = v != NULL;
    bool use_mine = batch_has && rn_acc_str_takes(g->fn, has_stored, stored, mine);
    struct rn_str result = use_mine ? mine : stored;
    if (!use_mine && !has_stored) return rn_batch_set_null(o, col, d);
    if ((rc = rn_batch_set_str(o, col, d, result.ptr, result.len))) return rc;
    return use_mine ? rn_state_put(st->string_state, &st->dkeys[d], agg_index, mine.ptr, mine.len) : 0;
}

static int add_distinct(struct state *st, uint32_t agg_index, const struct rn_column *c, uint32_t row,
                        const struct rn_state_key *k, struct rn_acc_slot *sl)
{
    if (rn_column_is_null(c, row)) return 0;
    uint8_t buf[256];
    uint32_t len = rn_state_key_encode(c, 1, row, buf, sizeof buf);
    uint8_t *p = buf;
    if (len > sizeof buf) {
        if (!(p = malloc(len))) return RN_ENOMEM;
        rn_state_key_encode(c, 1, row, p, len);
    }
    const void *v;
    uint32_t vl;
    int rc = rn_state_map_get(st->distinct_state, k, agg_index, p, len, &v, &vl);
    if (!rc && !v) {
        rc = rn_state_map_put(st->distinct_state, k, agg_index, p, len, "", 0);
        sl->n++;
    }
    if (p != buf) free(p);
    return rc;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *st = state;
    const struct rn_acc_spec *sp = st->spec;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    if (rc) return rc;
    uint32_t n = b->n_rows;
    if ((rc = grow(st, n))) return rc;
    struct rn_column cols[RN_ACC_MAX_AGGS];
    struct rn_error err;
    if (rn_acc_eval_args(sp, st->args, b, cols, &err)) {
        rn_op_error(ctx, "%s", err.msg);
        return RN_EINVAL;
    }
    /* 1. the batch's distinct keys (the runtime grouped the rows) */
    uint32_t nd = keys.n_groups;
    size_t asz = sp->acc_size;
    memcpy(st->dkeys, keys.group_keys, nd * sizeof *st->dkeys);
    memset(st->ns, 0, nd * sizeof *st->ns);
    memset(st->accs, 0, (size_t)nd * asz);
    /* 2. pre-combine the rows into one accumulator per distinct key */
    rn_acc_fold(sp, st->accs, asz, keys.group, cols, n);
    for (uint32_t i = 0; i < sp->n && rc == 0; i++) {
        const struct rn_acc_agg *g = &sp->a[i];
        if (!g->external) continue;
        for (uint32_t r = 0; r < n && rc == 0; r++) {
            struct rn_acc_slot *sl = rn_acc_slot_of(sp, (char *)st->accs + (size_t)keys.group[r] * asz, i);
            if (g->fn == RN_ACC_COUNT_DISTINCT) rc = add_distinct(st, i, &cols[i], r, &keys.keys[r], sl);
            else fold_string(g, sl, &st->best[(size_t)keys.group[r] * sp->n + i], &cols[i], r);
        }
    }
    rn_acc_release_args(sp, cols);
    if (rc) return rc;
    /* 3. one state update per distinct key, then the results */
    if ((rc = rn_state_add_many(st->acc_state, st->dkeys, st->ns, nd, st->accs)) ||
        (rc = rn_state_get_many(st->acc_state, st->dkeys, st->ns, nd, st->results, st->lens))) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    struct rn_batch *o = rn_batch_new(rn_op_output_schema(ctx), nd ? nd : 1);
    if (!o) return RN_ENOMEM;
    for (uint32_t d = 0; d < nd && rc == 0; d++) {
        rc = rn_acc_put_key(o, 0, keys.column, keys.first_row[d], d);
        const void *acc = st->results[d];
        for (uint32_t i = 0; i < sp->n && rc == 0 && acc; i++)
            if (!sp->a[i].external || sp->a[i].fn == RN_ACC_COUNT_DISTINCT) rc = rn_acc_put(sp, i, acc, o, i + 1, d);
    }
    /* string aggregates last: their state reads invalidate results[] */
    for (uint32_t i = 0; i < sp->n && rc == 0; i++) {
        if (!sp->a[i].external || sp->a[i].fn == RN_ACC_COUNT_DISTINCT) continue;
        for (uint32_t d = 0; d < nd && rc == 0; d++) {
            const struct rn_acc_slot *mine = rn_acc_cslot_of(sp, (const char *)st->accs + (size_t)d * asz, i);
            rc = merge_string(st, i, &sp->a[i], d, mine->n != 0, o, i + 1);
        }
    }
    o->n_rows = nd;
    if (rc) {
        rn_batch_unref(o);
        return rc;
    }
    return rn_op_emit(ctx, o);
}

static void close_(void *state, struct rn_op_ctx *ctx)
{
    (void)ctx;
    struct state *st = state;
    if (!st) return;
    for (uint32_t i = 0; st->spec && st->args && i < st->spec->n; i++) rn_expr_destroy(st->args[i]);
    free(st->args);
    rn_acc_spec_free(st->spec);
    free(st->dkeys);
    free(st->ns);
    free(st->accs);
    free(st->results);
    free(st->lens);
    free(st->best);
    free(st);
}

const struct rn_operator_def rn_op_aggregate = {
    .abi_version = RN_OPERATOR_ABI, .struct_size = sizeof(struct rn_operator_def),
    .name = "aggregate", .description = "running aggregates per key (emits each key's updated row per batch)",
    .options = options, .n_inputs_min = 1, .n_inputs_max = 1, .flags = RN_OP_KEYED,
    .plan = plan, .open = open_, .process = process, .close = close_,
};
