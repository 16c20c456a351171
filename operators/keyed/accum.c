/*
 * operators/keyed/accum.c — accumulators shared by aggregate and window_aggregate (accum.h):
 * parsing aggregates, batch folds as one tight loop per aggregate over the rows (the type and
 * the null check chosen outside the loop), combining and reading results.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "accum.h"

static const char *const fn_names[] = {"count", "count", "sum", "min", "max", "avg", "count_distinct", "first", "last"};

void rn_acc_spec_free(struct rn_acc_spec *s)
{
    if (!s) return;
    for (uint32_t i = 0; i < s->n; i++) free(s->a[i].arg);
    free(s->a);
    free(s);
}

/* Parses "fn(arg)" into a; the argument is type-checked against in. On failure msg says why. */
static int parse_agg(const char *text, struct rn_acc_agg *a, const rn_schema *in, const struct rn_registry *reg,
                     char *msg, size_t mlen)
{
    while (*text == ' ') text++;
    const char *open = strchr(text, '('), *close = strrchr(text, ')');
    if (!open || !close || close < open) return snprintf(msg, mlen, "expected fn(argument), such as sum(price)"), RN_EINVAL;
    for (const char *p = close + 1; *p; p++)
        if (*p != ' ') return snprintf(msg, mlen, "unexpected text after ')'"), RN_EINVAL;
    size_t fl = (size_t)(open - text);
    while (fl && text[fl - 1] == ' ') fl--;
    int f = -1;
    for (int i = 1; i < 9; i++)
        if (strlen(fn_names[i]) == fl && !strncasecmp(text, fn_names[i], fl)) f = i;
    char fname[72];
    snprintf(fname, sizeof fname, "%.*s", (int)(fl < 64 ? fl : 64), text);
    if (f < 0) {
        a->plugin = reg && fl < 64 ? rn_registry_find_aggregate(reg, fname) : NULL;
        if (!a->plugin)
            return snprintf(msg, mlen,
                            "unknown aggregate '%s' (count, sum, min, max, avg, count_distinct, first, last, or an "
                            "aggregate function from a plugin)",
                            fname), RN_EINVAL;
        f = RN_ACC_PLUGIN;
    }
    const char *arg = open + 1;
    size_t al = (size_t)(close - arg);
    while (al && *arg == ' ') arg++, al--;
    while (al && arg[al - 1] == ' ') al--;
    a->fn = (enum rn_acc_fn)f;
    a->size = sizeof(struct rn_acc_slot);
    if (f == RN_ACC_COUNT && al == 1 && *arg == '*') {
        a->fn = RN_ACC_COUNT_STAR;
        a->out = rn_type_of(RN_T_INT64);
        return 0;
    }
    const char *shown = f == RN_ACC_PLUGIN ? a->plugin->name : fn_names[f];
    if (!al) return snprintf(msg, mlen, "%s() needs an argument", shown), RN_EINVAL;
    if (!(a->arg = strndup(arg, al))) return snprintf(msg, mlen, "out of memory"), RN_ENOMEM;
    rn_expr *e;
    struct rn_error err;
    if (rn_expr_compile(a->arg, in, &e, &err)) return snprintf(msg, mlen, "%s: %.300s", shown, err.msg), RN_EINVAL;
    a->in = rn_expr_type(e);
    rn_expr_destroy(e);
    enum rn_type_id t = a->in.id;
    a->is_double = t == RN_T_DOUBLE;
    a->nullable = true;
    switch (a->fn) {
    case RN_ACC_COUNT:
    case RN_ACC_COUNT_DISTINCT:
        if (t == RN_T_VECTOR) return snprintf(msg, mlen, "%s() of a vector", shown), RN_EINVAL;
        a->out = rn_type_of(RN_T_INT64);
        a->nullable = false;
        a->external = a->fn == RN_ACC_COUNT_DISTINCT;
        return 0;
    case RN_ACC_SUM:
    case RN_ACC_AVG:
        if (t != RN_T_INT64 && t != RN_T_DOUBLE) return snprintf(msg, mlen, "%s() takes int64 or double", shown), RN_EINVAL;
        a->out = a->fn == RN_ACC_AVG ? rn_type_of(RN_T_DOUBLE) : a->in;
        return 0;
    case RN_ACC_PLUGIN: {
        uint32_t size = 0;
        char pm[256] = "";
        if (a->plugin->plan(a->in, &a->out, &size, pm, sizeof pm))
            return snprintf(msg, mlen, "%s(): %s", shown, pm[0] ? pm : "refuses this argument"), RN_EINVAL;
        enum rn_type_id o = a->out.id;
        if (o != RN_T_INT64 && o != RN_T_DOUBLE && o != RN_T_BOOL && o != RN_T_TIMESTAMP)
            return snprintf(msg, mlen, "%s(): the function declares a result type other than bool, int64, double or timestamp",
                            shown), RN_EINVAL;
        if (size < 1 || size > RN_AGGREGATE_MAX_ACC)
            return snprintf(msg, mlen, "%s(): the function asks for an accumulator of %u bytes (1 to %u)", shown, size,
                            RN_AGGREGATE_MAX_ACC), RN_EINVAL;
        a->size = (size + 7u) & ~7u;
        return 0;
    }
    default:   /* min, max, first, last */
        if (t != RN_T_INT64 && t != RN_T_DOUBLE && t != RN_T_TIMESTAMP && t != RN_T_BOOL && t != RN_T_STRING)
            return snprintf(msg, mlen, "%s() takes int64, double, timestamp, bool or string", shown), RN_EINVAL;
        a->external = t == RN_T_STRING;
        a->out = a->in;
        return 0;
    }
}

struct rn_acc_spec *rn_acc_spec_build(const rn_value *aggs, const rn_schema *in, const struct rn_registry *reg,
                                      const rn_value **where, char *msg, size_t msg_len)
{
    *where = aggs;
    if (!aggs || rn_value_kind(aggs) != RN_VALUE_MAP) {
        snprintf(msg, msg_len, "aggregates must be a map of column: \"fn(argument)\"");
        return NULL;
    }
    struct rn_acc_spec *s = calloc(1, sizeof *s);
    size_t n = rn_value_len(aggs);
    if (!s || !(s->a = calloc(n ? n : 1, sizeof *s->a))) {
        rn_acc_spec_free(s);
        snprintf(msg, msg_len, "out of memory");
        return NULL;
    }
    s->n = (uint32_t)n;
    if (!n || n > RN_ACC_MAX_AGGS) {
        snprintf(msg, msg_len, "aggregates must name from 1 to %u columns", RN_ACC_MAX_AGGS);
        rn_acc_spec_free(s);
        return NULL;
    }
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct rn_acc_agg *a = &s->a[i];
        a->name = rn_value_key(aggs, i);
        const char *t = rn_value_text(rn_value_at(aggs, i));
        *where = rn_value_at(aggs, i);
        char why[400];
        if (!t || parse_agg(t, a, in, reg, why, sizeof why)) {
            snprintf(msg, msg_len, "column '%.60s': %.300s", a->name, t ? why : "expected an aggregate such as sum(price)");
            rn_acc_spec_free(s);
            return NULL;
        }
        a->offset = off;
        off += a->size;
        s->any_external |= a->external;
        s->any_distinct |= a->fn == RN_ACC_COUNT_DISTINCT;
        s->any_string |= a->external && a->fn != RN_ACC_COUNT_DISTINCT;
    }
    s->acc_size = off;
    return s;
}

int rn_acc_add_columns(const struct rn_acc_spec *s, rn_schema *o)
{
    int rc = 0;
    for (uint32_t i = 0; i < s->n && !rc; i++) rc = rn_schema_add(o, s->a[i].name, s->a[i].out, s->a[i].nullable);
    return rc;
}

int rn_acc_compile_args(const struct rn_acc_spec *s, const rn_schema *in, rn_expr **args, struct rn_error *err)
{
    for (uint32_t i = 0; i < s->n; i++) {
        args[i] = NULL;
        if (s->a[i].arg && rn_expr_compile(s->a[i].arg, in, &args[i], err)) return RN_EINVAL;
    }
    return 0;
}

int rn_acc_eval_args(const struct rn_acc_spec *s, rn_expr *const *args, const struct rn_batch *b, struct rn_column *cols,
                     struct rn_error *err)
{
    for (uint32_t i = 0; i < s->n; i++) {
        memset(&cols[i], 0, sizeof cols[i]);
        struct rn_error e;
        if (args[i] && rn_expr_eval(args[i], b, &cols[i], &e)) {
            rn_error_set(err, RN_EINVAL, 0, 0, "%s: %s", s->a[i].name, e.msg);
            for (uint32_t j = 0; j < i; j++) rn_column_release(&cols[j]);
            return RN_EINVAL;
        }
    }
    return 0;
}

void rn_acc_release_args(const struct rn_acc_spec *s, struct rn_column *cols)
{
    for (uint32_t i = 0; i < s->n; i++) rn_column_release(&cols[i]);
}

/* ---- folding a batch ---- */

/* The body runs for every row r (valid rows only when the column has nulls); SL is row r's slot. */
#define SL ((struct rn_acc_slot *)(base + (size_t)slot[r] * stride))
#define ROWS(...)                                                                                                    \
    do {                                                                                                             \
        if (!valid) {                                                                                                \
            for (uint32_t r = 0; r < n; r++) { __VA_ARGS__; }                                                             \
        } else {                                                                                                     \
            for (uint32_t r = 0; r < n; r++)                                                                         \
                if (rn_bit_get(valid, r)) { __VA_ARGS__; }                                                                \
        }                                                                                                            \
    } while (0)

static void fold_one(const struct rn_acc_agg *g, char *base, size_t stride, const uint32_t *slot, const struct rn_column *c,
                     uint32_t n)
{
    if (g->fn == RN_ACC_COUNT_STAR) {
        for (uint32_t r = 0; r < n; r++) SL->n++;
        return;
    }
    const uint64_t *valid = c->validity;
    const int64_t *xi = c->values;
    const double *xd = c->values;
    const uint8_t *xb = c->values;
    bool dbl = g->in.id == RN_T_DOUBLE, bl = g->in.id == RN_T_BOOL;
    switch (g->fn) {
    case RN_ACC_COUNT:
        ROWS(SL->n++);
        return;
    case RN_ACC_SUM:
        if (dbl) ROWS(SL->v.d += xd[r]; SL->n++);
        else ROWS(SL->v.i = (int64_t)((uint64_t)SL->v.i + (uint64_t)xi[r]); SL->n++);
        return;
    case RN_ACC_AVG:
        if (dbl) ROWS(SL->v.d += xd[r]; SL->n++);
        else ROWS(SL->v.d += (double)xi[r]; SL->n++);
        return;
    case RN_ACC_MIN:
        if (dbl) ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n || xd[r] < s_->v.d) s_->v.d = xd[r]; s_->n = 1);
        else if (bl) ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n || xb[r] < s_->v.i) s_->v.i = xb[r]; s_->n = 1);
        else ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n || xi[r] < s_->v.i) s_->v.i = xi[r]; s_->n = 1);
        return;
    case RN_ACC_MAX:
        if (dbl) ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n || xd[r] > s_->v.d) s_->v.d = xd[r]; s_->n = 1);
        else if (bl) ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n || xb[r] > s_->v.i) s_->v.i = xb[r]; s_->n = 1);
        else ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n || xi[r] > s_->v.i) s_->v.i = xi[r]; s_->n = 1);
        return;
    case RN_ACC_FIRST:
        if (dbl) ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n) s_->v.d = xd[r], s_->n = 1);
        else if (bl) ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n) s_->v.i = xb[r], s_->n = 1);
        else ROWS(struct rn_acc_slot *s_ = SL; if (!s_->n) s_->v.i = xi[r], s_->n = 1);
        return;
    case RN_ACC_LAST:
        if (dbl) ROWS(SL->v.d = xd[r]; SL->n = 1);
        else if (bl) ROWS(SL->v.i = xb[r]; SL->n = 1);
        else ROWS(SL->v.i = xi[r]; SL->n = 1);
        return;
    default:
        return;
    }
}
#undef SL
#undef ROWS

void rn_acc_fold(const struct rn_acc_spec *s, void *accs, size_t stride, const uint32_t *slot,
                 const struct rn_column *cols, uint32_t n)
{
    for (uint32_t i = 0; i < s->n; i++) {
        const struct rn_acc_agg *g = &s->a[i];
        if (g->external) continue;
        if (g->fn == RN_ACC_PLUGIN) g->plugin->add((char *)accs + g->offset, stride, slot, &cols[i], n);
        else fold_one(g, (char *)accs + g->offset, stride, slot, &cols[i], n);
    }
}

void rn_acc_combine(const struct rn_acc_spec *s, void *accp, const void *laterp)
{
    for (uint32_t i = 0; i < s->n; i++) {
        const struct rn_acc_agg *g = &s->a[i];
        if (g->fn == RN_ACC_PLUGIN) {
            g->plugin->merge((char *)accp + g->offset, (const char *)laterp + g->offset);
            continue;
        }
        struct rn_acc_slot *a = (struct rn_acc_slot *)((char *)accp + g->offset);
        const struct rn_acc_slot *b = (const struct rn_acc_slot *)((const char *)laterp + g->offset);
        switch (g->fn) {
        case RN_ACC_COUNT_STAR:
        case RN_ACC_COUNT:
        case RN_ACC_COUNT_DISTINCT: a->n += b->n; break;
        case RN_ACC_SUM:
        case RN_ACC_AVG:
            if (g->is_double || g->fn == RN_ACC_AVG) a->v.d += b->v.d;
            else a->v.i = (int64_t)((uint64_t)a->v.i + (uint64_t)b->v.i);
            a->n += b->n;
            break;
        case RN_ACC_MIN:
        case RN_ACC_MAX:
            if (g->external) {   /* the value is kept outside; here only "has one" */
                a->n |= b->n;
                break;
            }
            if (!b->n) break;
            if (!a->n) *a = *b;
            else if (g->is_double ? (g->fn == RN_ACC_MIN ? b->v.d < a->v.d : b->v.d > a->v.d)
                                  : (g->fn == RN_ACC_MIN ? b->v.i < a->v.i : b->v.i > a->v.i))
                a->v = b->v;
            break;
        case RN_ACC_FIRST:
            if (!a->n && b->n) *a = *b;
            break;
        case RN_ACC_LAST:
            if (b->n) a->v = b->v, a->n |= b->n;
            break;
        default: break;
        }
    }
}

int rn_acc_put(const struct rn_acc_spec *s, uint32_t i, const void *acc, struct rn_batch *o, uint32_t col, uint32_t row)
{
    const struct rn_acc_agg *g = &s->a[i];
    struct rn_column *c = &o->cols[col];
    if (g->fn == RN_ACC_PLUGIN) {
        union { int64_t i; double d; uint8_t b; } v = {0};
        if (!g->plugin->result((const char *)acc + g->offset, &v)) return rn_batch_set_null(o, col, row);
        if (g->out.id == RN_T_DOUBLE) ((double *)c->values)[row] = v.d;
        else if (g->out.id == RN_T_BOOL) ((uint8_t *)c->values)[row] = v.b != 0;
        else ((int64_t *)c->values)[row] = v.i;
        return 0;
    }
    const struct rn_acc_slot *sl = (const struct rn_acc_slot *)((const char *)acc + g->offset);
    switch (g->fn) {
    case RN_ACC_COUNT_STAR:
    case RN_ACC_COUNT:
    case RN_ACC_COUNT_DISTINCT: ((int64_t *)c->values)[row] = sl->n; return 0;
    case RN_ACC_AVG:
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

int rn_acc_str_cmp(struct rn_str a, struct rn_str b)
{
    uint32_t m = a.len < b.len ? a.len : b.len;
    int c = m ? memcmp(a.ptr, b.ptr, m) : 0;
    return c ? c : (a.len > b.len) - (a.len < b.len);
}

bool rn_acc_str_takes(enum rn_acc_fn fn, bool has_cur, struct rn_str cur, struct rn_str later)
{
    if (!has_cur) return true;
    switch (fn) {
    case RN_ACC_FIRST: return false;
    case RN_ACC_LAST: return true;
    case RN_ACC_MIN: return rn_acc_str_cmp(later, cur) < 0;
    case RN_ACC_MAX: return rn_acc_str_cmp(later, cur) > 0;
    default: return false;
    }
}

int rn_acc_put_key(struct rn_batch *o, uint32_t col, const struct rn_column *kc, uint32_t src, uint32_t row)
{
    struct rn_column *c = &o->cols[col];
    if (rn_column_is_null(kc, src)) return rn_batch_set_null(o, col, row);
    if (kc->type.id == RN_T_STRING) {
        struct rn_str s = rn_col_str(kc, src);
        return rn_batch_set_str(o, col, row, s.ptr, s.len);
    }
    size_t w = rn_type_width(kc->type);
    memcpy((char *)c->values + (size_t)row * w, (const char *)kc->values + (size_t)src * w, w);
    return 0;
}
