/*
 * aggregate.c — `aggregate`: running aggregates per key, unwindowed (count, sum, min, max, avg,
 * count_distinct, first, last). For every batch it emits, per distinct key of the batch, the
 * key's updated row: an upsert stream (the latest row per key is the current result).
 *
 * Per batch: the rows are pre-combined by key in a scratch hash table into one accumulator per
 * distinct key; keyed state is then touched once per distinct key (rn_state_add_many folds the
 * batch's accumulators into the stored ones, rn_state_get_many reads the results back). Each
 * accumulator is a fixed-size array of 16-byte slots, one per aggregate, folded by combine().
 * count_distinct keeps the values seen per key in a map state (namespace = the aggregate's
 * index) and adds only the values new to it. min, max, first and last of strings keep the
 * string in a value state (namespace = the aggregate's index): the batch's best string per key
 * is chosen first, then the state is read and written once per key.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builtin.h"
#include "runnel/hash.h"

static const struct rn_option options[] = {
    {"aggregates", RN_OPT_MAP, NULL, "output column -> count(*), count(x), sum(x), min(x), max(x), avg(x), "
                                     "count_distinct(x), first(x) or last(x)"},
    {NULL, 0, NULL, NULL},
};

enum fn { F_COUNT_STAR, F_COUNT, F_SUM, F_MIN, F_MAX, F_AVG, F_COUNT_DISTINCT, F_FIRST, F_LAST };
static const char *const fn_names[] = {"count", "count", "sum", "min", "max", "avg", "count_distinct", "first", "last"};

struct slot {
    union { int64_t i; double d; } v;
    int64_t n;       /* rows counted / values seen / "has a value" */
};

struct agg {
    const char *name;
    enum fn fn;
    char *arg;             /* the argument expression's text (NULL for count(*)) */
    struct rn_type in;     /* the argument's type */
    struct rn_type out;
    bool is_double;        /* arithmetic on doubles */
    bool is_string;        /* min/max/first/last of strings: kept in the string state */
};

struct spec {
    uint32_t n;
    struct agg *a;
    struct rn_type key_type;
    const char *key_name;
};

static void spec_free(struct spec *s)
{
    if (!s) return;
    for (uint32_t i = 0; i < s->n; i++) free(s->a[i].arg);
    free(s->a);
    free(s);
}

/* Parses "fn(arg)" into an aggregate; the argument is type-checked against in. On failure *why
 * gets a message (static or in buf). */
static int parse_agg(const char *text, struct agg *a, const rn_schema *in, char *buf, size_t blen)
{
    while (*text == ' ') text++;
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    if (!open || !close || close < open) return snprintf(buf, blen, "expected fn(argument), such as sum(price)"), RN_EINVAL;
    for (const char *p = close + 1; *p; p++)
        if (*p != ' ') return snprintf(buf, blen, "unexpected text after ')'"), RN_EINVAL;
    size_t fl = (size_t)(open - text);
    while (fl && text[fl - 1] == ' ') fl--;
    int f = -1;
    for (int i = 1; i < 9; i++)
        if (strlen(fn_names[i]) == fl && !strncasecmp(text, fn_names[i], fl)) f = i;
    if (f < 0)
        return snprintf(buf, blen, "unknown aggregate '%.*s' (count, sum, min, max, avg, count_distinct, first, last)",
                        (int)fl, text), RN_EINVAL;
    const char *arg = open + 1;
    size_t al = (size_t)(close - arg);
    while (al && *arg == ' ') arg++, al--;
    while (al && arg[al - 1] == ' ') al--;
    a->fn = (enum fn)f;
    if (f == F_COUNT && al == 1 && *arg == '*') {
        a->fn = F_COUNT_STAR;
        a->out = rn_type_of(RN_T_INT64);
        return 0;
    }
    if (!al) return snprintf(buf, blen, "%s() needs an argument", fn_names[f]), RN_EINVAL;
    a->arg = strndup(arg, al);
    rn_expr *e;
    struct rn_error err;
    if (rn_expr_compile(a->arg, in, &e, &err)) return snprintf(buf, blen, "%s: %.300s", fn_names[f], err.msg), RN_EINVAL;
    a->in = rn_expr_type(e);
    rn_expr_destroy(e);
    enum rn_type_id t = a->in.id;
    a->is_double = t == RN_T_DOUBLE;
    switch (a->fn) {
    case F_COUNT:
    case F_COUNT_DISTINCT:
        if (t == RN_T_VECTOR) return snprintf(buf, blen, "%s() of a vector", fn_names[f]), RN_EINVAL;
        a->out = rn_type_of(RN_T_INT64);
        return 0;
    case F_SUM:
    case F_AVG:
        if (t != RN_T_INT64 && t != RN_T_DOUBLE)
            return snprintf(buf, blen, "%s() takes int64 or double", fn_names[f]), RN_EINVAL;
        a->out = a->fn == F_AVG ? rn_type_of(RN_T_DOUBLE) : a->in;
        return 0;
    default:   /* min, max, first, last */
        if (t != RN_T_INT64 && t != RN_T_DOUBLE && t != RN_T_TIMESTAMP && t != RN_T_BOOL && t != RN_T_STRING)
            return snprintf(buf, blen, "%s() takes int64, double, timestamp, bool or string", fn_names[f]), RN_EINVAL;
        a->is_string = t == RN_T_STRING;
        a->out = a->in;
        return 0;
    }
}

static struct spec *build_spec(const rn_value *aggs, const rn_schema *in, const rn_value **where, char *buf, size_t blen)
{
    struct spec *s = calloc(1, sizeof *s);
    size_t n = rn_value_len(aggs);
    if (!s || !(s->a = calloc(n ? n : 1, sizeof *s->a))) {
        spec_free(s);
        snprintf(buf, blen, "out of memory");
        return NULL;
    }
    s->n = (uint32_t)n;
    *where = aggs;
    if (!n || n > 64) {
        snprintf(buf, blen, "aggregates must name from 1 to 64 columns");
        spec_free(s);
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        s->a[i].name = rn_value_key(aggs, i);
        const char *t = rn_value_text(rn_value_at(aggs, i));
        *where = rn_value_at(aggs, i);
        char msg[400];
        if (!t || parse_agg(t, &s->a[i], in, msg, sizeof msg)) {
            snprintf(buf, blen, "column '%.60s': %.300s", s->a[i].name, t ? msg : "expected an aggregate such as sum(price)");
            spec_free(s);
            return NULL;
        }
    }
    return s;
}

static rn_schema *out_schema(const struct spec *s)
{
    rn_schema *o = rn_schema_create();
    if (!o) return NULL;
    int rc = rn_schema_add(o, s->key_name, s->key_type, true);
    for (uint32_t i = 0; i < s->n && !rc; i++) {
        bool nullable = s->a[i].fn != F_COUNT_STAR && s->a[i].fn != F_COUNT && s->a[i].fn != F_COUNT_DISTINCT;
        rc = rn_schema_add(o, s->a[i].name, s->a[i].out, nullable);
    }
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
    struct spec *s = build_spec(rn_opt_value(rn_plan_options(ctx), "aggregates"), in, &where, msg, sizeof msg);
    if (!s) return rn_plan_error(ctx, where, "%s", msg);
    int rc = rn_plan_key(ctx, 0, &s->key_type, &s->key_name);
    for (uint32_t i = 0; !rc && i < s->n; i++)
        if (!strcmp(s->a[i].name, s->key_name))
            rc = rn_plan_error(ctx, where, "column '%s' is also the key's name", s->key_name);
    rn_schema *o = rc ? NULL : out_schema(s);
    if (!rc && !o) rc = rn_plan_error(ctx, NULL, "cannot build the output schema (a column named twice?)");
    if (o) rn_plan_set_output(ctx, o);
    rn_schema_unref(o);
    spec_free(s);
    return rc;
}

/* ---- run time ---- */

struct state {
    struct spec *spec;
    rn_expr **args;
    rn_state_backend *backend;
    rn_state *acc_state, *distinct_state, *string_state;
    uint32_t acc_size;          /* bytes of one accumulator */
    /* per-batch scratch */
    uint32_t cap;
    struct rn_state_key *dkeys; /* per distinct key */
    int64_t *ns;
    struct slot *accs;          /* n_distinct * n aggregates */
    const void **results;
    uint32_t *lens;
    struct rn_str *best;        /* string aggregates: the batch's best string per (key, aggregate) */
};

static void combine(void *accp, const void *inp, void *user)
{
    const struct spec *s = user;
    struct slot *a = accp;
    const struct slot *b = inp;
    for (uint32_t i = 0; i < s->n; i++, a++, b++) {
        const struct agg *g = &s->a[i];
        switch (g->fn) {
        case F_COUNT_STAR:
        case F_COUNT:
        case F_COUNT_DISTINCT: a->n += b->n; break;
        case F_SUM:
        case F_AVG:
            if (g->is_double || g->fn == F_AVG) a->v.d += b->v.d;
            else a->v.i = (int64_t)((uint64_t)a->v.i + (uint64_t)b->v.i);
            a->n += b->n;
            break;
        case F_MIN:
        case F_MAX:
            if (g->is_string) {   /* the value is in the string state; here only "has one" */
                a->n |= b->n;
                break;
            }
            if (!b->n) break;
            if (!a->n) *a = *b;
            else if (g->is_double ? (g->fn == F_MIN ? b->v.d < a->v.d : b->v.d > a->v.d)
                                  : (g->fn == F_MIN ? b->v.i < a->v.i : b->v.i > a->v.i))
                a->v = b->v;
            break;
        case F_FIRST:
            if (!a->n && b->n) *a = *b;
            break;
        case F_LAST:
            if (b->n) a->v = b->v, a->n |= b->n;
            break;
        }
    }
}

static int open_(struct rn_op_ctx *ctx, void **state)
{
    struct state *st = calloc(1, sizeof *st);
    if (!st) return RN_ENOMEM;
    *state = st;
    char msg[512];
    const rn_value *where;
    const rn_schema *in = rn_op_input_schema(ctx, 0);
    if (!(st->spec = build_spec(rn_opt_value(rn_op_options(ctx), "aggregates"), in, &where, msg, sizeof msg))) {
        rn_op_error(ctx, "%s", msg);
        return RN_EINVAL;
    }
    const rn_schema *out = rn_op_output_schema(ctx);
    st->spec->key_name = rn_schema_field(out, 0)->name;
    st->spec->key_type = rn_schema_field(out, 0)->type;
    if (!(st->args = calloc(st->spec->n, sizeof *st->args))) return RN_ENOMEM;
    struct rn_error err;
    for (uint32_t i = 0; i < st->spec->n; i++)
        if (st->spec->a[i].arg && rn_expr_compile(st->spec->a[i].arg, in, &st->args[i], &err)) {
            rn_op_error(ctx, "%s", err.msg);
            return RN_EINVAL;
        }
    int rc;
    if (!(st->backend = rn_op_state(ctx))) return RN_EINVAL;
    st->acc_size = st->spec->n * (uint32_t)sizeof(struct slot);
    struct rn_state_desc acc = {"aggregate.acc", RN_STATE_REDUCING, st->acc_size, 0, combine, st->spec};
    if ((rc = rn_state_declare(st->backend, &acc, &st->acc_state, &err))) {
        rn_op_error(ctx, "keyed state: %s", err.msg);
        return rc;
    }
    for (uint32_t i = 0; i < st->spec->n; i++)
        if (st->spec->a[i].is_string && !st->string_state) {
            struct rn_state_desc d = {"aggregate.string", RN_STATE_VALUE, 0, 0, NULL, NULL};
            if ((rc = rn_state_declare(st->backend, &d, &st->string_state, &err))) {
                rn_op_error(ctx, "keyed state: %s", err.msg);
                return rc;
            }
        }
    for (uint32_t i = 0; i < st->spec->n; i++)
        if (st->spec->a[i].fn == F_COUNT_DISTINCT && !st->distinct_state) {
            struct rn_state_desc d = {"aggregate.distinct", RN_STATE_MAP, 0, 0, NULL, NULL};
            if ((rc = rn_state_declare(st->backend, &d, &st->distinct_state, &err))) {
                rn_op_error(ctx, "keyed state: %s", err.msg);
                return rc;
            }
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
    void *a = realloc(st->accs, (size_t)n * st->acc_size);
    if (!a) return RN_ENOMEM;
    st->accs = a;
    if (!(a = realloc(st->best, (size_t)n * st->spec->n * sizeof *st->best))) return RN_ENOMEM;
    st->best = a;
#undef GROW
    st->cap = n;
    return 0;
}

/* Folds one row's value into a batch accumulator slot. */
static void fold_row(const struct agg *g, struct slot *sl, const struct rn_column *c, uint32_t row)
{
    if (g->fn == F_COUNT_STAR) {
        sl->n++;
        return;
    }
    if (rn_column_is_null(c, row)) return;
    struct slot one = {.n = 1};
    if (g->fn == F_COUNT) {
        sl->n++;
        return;
    }
    switch (g->in.id) {
    case RN_T_DOUBLE: one.v.d = rn_col_f64(c, row); break;
    case RN_T_BOOL: one.v.i = rn_col_bool(c, row); break;
    default: one.v.i = rn_col_i64(c, row);
    }
    if (g->fn == F_AVG && !g->is_double) one.v.d = (double)one.v.i;
    struct spec single = {1, (struct agg *)g, {0, 0}, NULL};
    combine(sl, &one, &single);
}

static int str_cmp(struct rn_str a, struct rn_str b)
{
    uint32_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* The batch's best string for one key so far (best is valid when sl->n is set). */
static void fold_string(const struct agg *g, struct slot *sl, struct rn_str *best, const struct rn_column *c,
                        uint32_t row)
{
    if (rn_column_is_null(c, row)) return;
    struct rn_str v = rn_col_str(c, row);
    bool take = !sl->n || g->fn == F_LAST || (g->fn == F_MIN && str_cmp(v, *best) < 0) ||
                (g->fn == F_MAX && str_cmp(v, *best) > 0);
    if (take) *best = v;
    sl->n = 1;
}

/* Merges the batch's best string with the stored one for key d and writes the result into the
 * output (before any other state call: the stored pointer is only valid until then). */
static int merge_string(struct state *st, uint32_t agg_index, const struct agg *g, uint32_t d, bool batch_has,
                        struct rn_batch *o, uint32_t col)
{
    const void *v;
    uint32_t len;
    int rc = rn_state_get(st->string_state, &st->dkeys[d], agg_index, &v, &len);
    if (rc) return rc;
    struct rn_str stored = {v, len}, mine = st->best[(size_t)d * st->spec->n + agg_index];
    bool has_stored = v != NULL, use_mine;
    if (!batch_has) use_mine = false;
    else if (!has_stored) use_mine = true;
    else if (g->fn == F_FIRST) use_mine = false;
    else if (g->fn == F_LAST) use_mine = true;
    else use_mine = g->fn == F_MIN ? str_cmp(mine, stored) < 0 : str_cmp(mine, stored) > 0;
    struct rn_str result = use_mine ? mine : stored;
    if (!use_mine && !has_stored) return rn_batch_set_null(o, col, d);
    if ((rc = rn_batch_set_str(o, col, d, result.ptr, result.len))) return rc;
    return use_mine ? rn_state_put(st->string_state, &st->dkeys[d], agg_index, mine.ptr, mine.len) : 0;
}

static int add_distinct(struct state *st, uint32_t agg_index, const struct rn_column *c, uint32_t row,
                        const struct rn_state_key *k, struct slot *sl)
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

static int put_value(struct rn_batch *o, uint32_t col, uint32_t row, const struct agg *g, const struct slot *sl)
{
    struct rn_column *c = &o->cols[col];
    switch (g->fn) {
    case F_COUNT_STAR:
    case F_COUNT:
    case F_COUNT_DISTINCT: ((int64_t *)c->values)[row] = sl->n; return 0;
    case F_AVG:
        if (!sl->n) return rn_batch_set_null(o, col, row);
        ((double *)c->values)[row] = sl->v.d / (double)sl->n;
        return 0;
    default:
        if (!sl->n) return rn_batch_set_null(o, col, row);
        if (g->out.id == RN_T_DOUBLE) ((double *)c->values)[row] = sl->v.d;
        else if (g->out.id == RN_T_BOOL) ((uint8_t *)c->values)[row] = sl->v.i != 0;
        else ((int64_t *)c->values)[row] = sl->v.i;
        return 0;
    }
}

static int put_key(struct rn_batch *o, const struct rn_column *kc, uint32_t row, uint32_t src)
{
    struct rn_column *c = &o->cols[0];
    if (rn_column_is_null(kc, src)) return rn_batch_set_null(o, 0, row);
    if (kc->type.id == RN_T_STRING) {
        struct rn_str s = rn_col_str(kc, src);
        return rn_batch_set_str(o, 0, row, s.ptr, s.len);
    }
    size_t w = rn_type_width(kc->type);
    memcpy((char *)c->values + (size_t)row * w, (const char *)kc->values + (size_t)src * w, w);
    return 0;
}

static int process(void *state, struct rn_op_ctx *ctx, uint32_t input, const struct rn_batch *b)
{
    (void)input;
    struct state *st = state;
    const struct spec *sp = st->spec;
    struct rn_op_keys keys;
    int rc = rn_op_keys(ctx, 0, b, &keys);
    if (rc) return rc;
    uint32_t n = b->n_rows;
    if ((rc = grow(st, n))) return rc;
    struct rn_column cols[64];
    uint32_t n_args = sp->n < 64 ? sp->n : 64;
    struct rn_error err;
    for (uint32_t i = 0; i < n_args; i++) {
        memset(&cols[i], 0, sizeof cols[i]);
        if (st->args[i] && rn_expr_eval(st->args[i], b, &cols[i], &err)) {
            rn_op_error(ctx, "%s: %s", sp->a[i].name, err.msg);
            for (uint32_t j = 0; j < i; j++) rn_column_release(&cols[j]);
            return RN_EINVAL;
        }
    }
    /* 1. the batch's distinct keys (the runtime grouped the rows) */
    uint32_t nd = keys.n_groups;
    memcpy(st->dkeys, keys.group_keys, nd * sizeof *st->dkeys);
    memset(st->ns, 0, nd * sizeof *st->ns);
    memset(st->accs, 0, (size_t)nd * st->acc_size);
    /* 2. pre-combine the rows into one accumulator per distinct key */
    for (uint32_t i = 0; i < n_args && rc == 0; i++) {
        const struct agg *g = &sp->a[i];
        for (uint32_t r = 0; r < n && rc == 0; r++) {
            struct slot *sl = (struct slot *)((char *)st->accs + (size_t)keys.group[r] * st->acc_size) + i;
            if (g->fn == F_COUNT_DISTINCT) rc = add_distinct(st, i, &cols[i], r, &keys.keys[r], sl);
            else if (g->is_string) fold_string(g, sl, &st->best[(size_t)keys.group[r] * sp->n + i], &cols[i], r);
            else fold_row(g, sl, &cols[i], r);
        }
    }
    for (uint32_t i = 0; i < n_args; i++) rn_column_release(&cols[i]);
    if (rc) return rc;
    /* 3. one state update per distinct key, then the results */
    if ((rc = rn_state_add_many(st->acc_state, st->dkeys, st->ns, nd, st->accs)) ||
        (rc = rn_state_get_many(st->acc_state, st->dkeys, st->ns, nd, st->results, st->lens))) {
        rn_op_error(ctx, "keyed state: %s", rn_strerror(rc));
        return rc;
    }
    struct rn_batch *o = rn_batch_new(rn_op_output_schema(ctx), nd ? nd : 1);
    if (!o) return RN_ENOMEM;
    /* the batch's own "has a string" flags, before results[] pointers are invalidated */
    for (uint32_t d = 0; d < nd && rc == 0; d++) {
        rc = put_key(o, keys.column, d, keys.first_row[d]);
        const struct slot *sl = st->results[d];
        for (uint32_t i = 0; i < sp->n && rc == 0 && sl; i++)
            if (!sp->a[i].is_string) rc = put_value(o, i + 1, d, &sp->a[i], &sl[i]);
    }
    for (uint32_t i = 0; i < sp->n && rc == 0; i++) {
        if (!sp->a[i].is_string) continue;
        for (uint32_t d = 0; d < nd && rc == 0; d++) {
            const struct slot *mine = (const struct slot *)((const char *)st->accs + (size_t)d * st->acc_size) + i;
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
    spec_free(st->spec);
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
