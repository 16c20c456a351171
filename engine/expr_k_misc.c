/*
 * expr_k_misc.c — the function table: for each function its arity, a checker that types its
 * arguments at compile time (inserting casts, requiring constants where the doc says so) and
 * picks a kernel; and the numeric, null-handling, hashing and time kernels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "expr_kernel.h"
#include "runnel/hash.h"

static const char *tname(struct rn_type t, char buf[24])
{
    return t.id == RN_T_NULL ? "NULL" : rn_type_name(t, buf, 24);
}

/* Argument i must be of type t (an untyped NULL becomes one; int64 widens to double). */
static int want(struct enode *nd, uint32_t i, enum rn_type_id t, const char *fname, struct rn_error *err)
{
    struct enode *a = nd->args[i];
    if (a->type.id == RN_T_NULL || a->type.id == t) {
        a->type = rn_type_of(t);
        return 0;
    }
    if (t == RN_T_DOUBLE && a->type.id == RN_T_INT64) return rn__coerce(&nd->args[i], rn_type_of(t), err);
    char x[24], y[24];
    return rn__type_error(a, err, "%s() argument %u must be %s, found %s", fname, i + 1,
                          tname(rn_type_of(t), y), tname(a->type, x));
}

static int want_numeric(struct enode *nd, uint32_t i, const char *fname, struct rn_error *err)
{
    struct enode *a = nd->args[i];
    if (a->type.id == RN_T_NULL) a->type = rn_type_of(RN_T_DOUBLE);
    if (rn__is_numeric(a->type)) return 0;
    char x[24];
    return rn__type_error(a, err, "%s() argument %u must be a number, found %s", fname, i + 1, tname(a->type, x));
}

static int want_const(struct enode *nd, uint32_t i, const char *fname, struct rn_error *err)
{
    struct enode *a = nd->args[i];
    if (a->kind == N_CONST && !a->cnull) return 0;
    return rn__type_error(a, err, "%s() argument %u must be a constant (not null)", fname, i + 1);
}

/* ---- numeric ---- */

#define UNARY_F64(name, expr)                                           \
    static int name(struct enode *nd, struct ectx *cx)                  \
    {                                                                   \
        int rc = rn__kernel_prepare(nd, cx->n);                                    \
        if (rc) return rc;                                              \
        const double *a = nd->args[0]->out.values;                      \
        double *o = nd->out.values;                                     \
        for (uint32_t i = 0; i < cx->n; i++) {                          \
            double x = a[i];                                            \
            o[i] = (expr);                                              \
        }                                                               \
        return 0;                                                       \
    }

UNARY_F64(k_abs_f64, fabs(x))
UNARY_F64(k_round_f64, round(x))
UNARY_F64(k_floor_f64, floor(x))
UNARY_F64(k_ceil_f64, ceil(x))
UNARY_F64(k_sqrt, sqrt(x))
UNARY_F64(k_ln, log(x))
UNARY_F64(k_exp, exp(x))

static int k_abs_i64(struct enode *nd, struct ectx *cx)
{
    int rc = rn__kernel_prepare(nd, cx->n);
    if (rc) return rc;
    const int64_t *a = nd->args[0]->out.values;
    int64_t *o = nd->out.values;
    for (uint32_t i = 0; i < cx->n; i++) o[i] = a[i] < 0 ? (int64_t)((uint64_t)0 - (uint64_t)a[i]) : a[i];
    return 0;
}

static int k_power(struct enode *nd, struct ectx *cx)
{
    int rc = rn__kernel_prepare(nd, cx->n);
    if (rc) return rc;
    const double *a = nd->args[0]->out.values, *b = nd->args[1]->out.values;
    double *o = nd->out.values;
    for (uint32_t i = 0; i < cx->n; i++) o[i] = pow(a[i], b[i]);
    return 0;
}

static int k_round_digits(struct enode *nd, struct ectx *cx)
{
    int rc = rn__kernel_prepare(nd, cx->n);
    if (rc) return rc;
    const double *a = nd->args[0]->out.values;
    const int64_t *d = nd->args[1]->out.values;
    double *o = nd->out.values;
    for (uint32_t i = 0; i < cx->n; i++) {
        int64_t digits = d[i] > 308 ? 308 : d[i] < -308 ? -308 : d[i];
        double scale = pow(10.0, (double)(digits < 0 ? -digits : digits));
        o[i] = digits >= 0 ? round(a[i] * scale) / scale : round(a[i] / scale) * scale;
    }
    return 0;
}

static int check_abs(struct enode *nd, struct rn_error *err)
{
    int rc = want_numeric(nd, 0, "abs", err);
    nd->type = nd->args[0]->type;
    nd->fn = nd->type.id == RN_T_INT64 ? k_abs_i64 : k_abs_f64;
    return rc;
}

static int check_round_like(struct enode *nd, rn_kern f64, const char *name, struct rn_error *err)
{
    int rc = want_numeric(nd, 0, name, err);
    if (rc) return rc;
    nd->type = nd->args[0]->type;
    if (nd->n_args == 2) {
        if ((rc = want(nd, 1, RN_T_INT64, name, err)) || (rc = want(nd, 0, RN_T_DOUBLE, name, err))) return rc;
        nd->type = rn_type_of(RN_T_DOUBLE);
        nd->fn = k_round_digits;
        return 0;
    }
    nd->fn = nd->type.id == RN_T_INT64 ? rn__k_share : f64;
    return 0;
}

static int check_round(struct enode *nd, struct rn_error *err) { return check_round_like(nd, k_round_f64, "round", err); }
static int check_floor(struct enode *nd, struct rn_error *err) { return check_round_like(nd, k_floor_f64, "floor", err); }
static int check_ceil(struct enode *nd, struct rn_error *err) { return check_round_like(nd, k_ceil_f64, "ceil", err); }

static int check_math1(struct enode *nd, rn_kern k, const char *name, struct rn_error *err)
{
    nd->type = rn_type_of(RN_T_DOUBLE);
    nd->fn = k;
    return want(nd, 0, RN_T_DOUBLE, name, err);
}
static int check_sqrt(struct enode *nd, struct rn_error *err) { return check_math1(nd, k_sqrt, "sqrt", err); }
static int check_ln(struct enode *nd, struct rn_error *err) { return check_math1(nd, k_ln, "ln", err); }
static int check_exp(struct enode *nd, struct rn_error *err) { return check_math1(nd, k_exp, "exp", err); }

static int check_power(struct enode *nd, struct rn_error *err)
{
    nd->type = rn_type_of(RN_T_DOUBLE);
    nd->fn = k_power;
    int rc = want(nd, 0, RN_T_DOUBLE, "power", err);
    return rc ? rc : want(nd, 1, RN_T_DOUBLE, "power", err);
}

static int check_mod(struct enode *nd, struct rn_error *err)
{
    int rc = want_numeric(nd, 0, "mod", err);
    if (!rc) rc = want_numeric(nd, 1, "mod", err);
    return rc ? rc : rn__check_arith_op(nd, OP_MOD, err);
}

/* ---- strings ---- */

static int check_str1(struct enode *nd, rn_kern k, struct rn_type out, const char *name, struct rn_error *err)
{
    nd->type = out;
    nd->fn = k;
    return want(nd, 0, RN_T_STRING, name, err);
}
static int check_lower(struct enode *nd, struct rn_error *err) { return check_str1(nd, rn__k_lower, rn_type_of(RN_T_STRING), "lower", err); }
static int check_upper(struct enode *nd, struct rn_error *err) { return check_str1(nd, rn__k_upper, rn_type_of(RN_T_STRING), "upper", err); }
static int check_length(struct enode *nd, struct rn_error *err) { return check_str1(nd, rn__k_length, rn_type_of(RN_T_INT64), "length", err); }

static int check_substr(struct enode *nd, struct rn_error *err)
{
    int rc = check_str1(nd, rn__k_substr, rn_type_of(RN_T_STRING), "substr", err);
    for (uint32_t i = 1; !rc && i < nd->n_args; i++) rc = want(nd, i, RN_T_INT64, "substr", err);
    return rc;
}

static int check_concat(struct enode *nd, struct rn_error *err)
{
    nd->type = rn_type_of(RN_T_STRING);
    nd->fn = rn__k_concat;
    for (uint32_t i = 0; i < nd->n_args; i++) {
        struct enode *a = nd->args[i];
        if (a->type.id == RN_T_NULL || a->type.id == RN_T_STRING) {
            a->type = rn_type_of(RN_T_STRING);
            continue;
        }
        rn_kern k = rn__k_cast(a->type, rn_type_of(RN_T_STRING));
        if (!k) {
            char x[24];
            return rn__type_error(a, err, "concat() cannot turn %s into a string", tname(a->type, x));
        }
        struct enode *c = calloc(1, sizeof *c);
        if (!c || !(c->args = malloc(sizeof *c->args))) {
            free(c);
            return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
        }
        c->kind = N_KERNEL;
        c->fn = k;
        c->type = rn_type_of(RN_T_STRING);
        c->nullable = a->nullable;
        c->volatile_ = a->volatile_;
        c->line = a->line;
        c->col = a->col;
        c->out.cap_deps = 2;
        c->args[0] = a;
        c->n_args = 1;
        nd->args[i] = c;
    }
    return 0;
}

static int check_split_index(struct enode *nd, struct rn_error *err)
{
    nd->type = rn_type_of(RN_T_STRING);
    nd->fn = rn__k_split_index;
    nd->nullable = true;
    int rc = want(nd, 0, RN_T_STRING, "split_index", err);
    if (!rc) rc = want(nd, 1, RN_T_STRING, "split_index", err);
    if (!rc) rc = want(nd, 2, RN_T_INT64, "split_index", err);
    return rc;
}

static int check_replace(struct enode *nd, struct rn_error *err)
{
    int rc = check_str1(nd, rn__k_replace, rn_type_of(RN_T_STRING), "replace", err);
    for (uint32_t i = 1; !rc && i < 3; i++) rc = want(nd, i, RN_T_STRING, "replace", err);
    return rc;
}

static void free_regex(void *p)
{
    struct rn_regex *rx = p;
    regfree(&rx->re);
    free(rx->scratch);
    free(rx);
}

/* glibc's regcomp expands a bounded repetition by copying its operand: '((a{255}){255}){255}'
 * asks for 16M nodes and gigabytes. Before compiling, the pattern's size after expansion is
 * estimated (an atom counts 1, a repeated operand its size times the bound, plus one; x+ is
 * built as x x*, a copy each) and a
 * pattern over REGEX_MAX_NODES, or nested deeper than REGEX_MAX_DEPTH groups, is refused. The
 * scan only measures: syntax errors are left for regcomp to report. */
#define REGEX_MAX_NODES 20000u
#define REGEX_MAX_DEPTH 64
#define REGEX_TOO_BIG (REGEX_MAX_NODES + 1ull)

struct rx_scan {
    const char *p;
    size_t i, n;
    int depth;
};

/* At '{': a bound "{m}", "{m,}" or "{m,n}" is consumed and *times set to what it expands to;
 * anything else is not a bound and is left in place. */
static bool rx_bound(struct rx_scan *s, uint64_t *times)
{
    size_t i = s->i + 1;
    uint64_t m = 0, n = 0;
    bool digits = false, comma = false, upper = false;
    for (; i < s->n && s->p[i] >= '0' && s->p[i] <= '9'; i++, digits = true)
        if (m < 1000000) m = m * 10 + (uint64_t)(s->p[i] - '0');
    if (i < s->n && s->p[i] == ',') {
        comma = true;
        for (i++; i < s->n && s->p[i] >= '0' && s->p[i] <= '9'; i++, upper = true)
            if (n < 1000000) n = n * 10 + (uint64_t)(s->p[i] - '0');
    }
    if (!digits || i >= s->n || s->p[i] != '}') return false;
    s->i = i + 1;
    *times = !comma ? m : upper ? (n > m ? n : m) : m + 1;
    if (*times == 0) *times = 1;
    return true;
}

/* Skips a bracket expression from its '['; "[]a]", "[^]a]" and "[[:alpha:]]" included. */
static void rx_bracket(struct rx_scan *s)
{
    size_t i = s->i;
    if (i < s->n && s->p[i] == '^') i++;
    if (i < s->n && s->p[i] == ']') i++;
    while (i < s->n && s->p[i] != ']') {
        if (s->p[i] == '[' && i + 1 < s->n && strchr(":.=", s->p[i + 1])) {
            char close = s->p[i + 1];
            for (i += 2; i + 1 < s->n && !(s->p[i] == close && s->p[i + 1] == ']'); i++) {}
            i += 2;
        } else {
            i++;
        }
    }
    s->i = i < s->n ? i + 1 : s->n;
}

static uint64_t rx_alternation(struct rx_scan *s);

static uint64_t rx_atom(struct rx_scan *s)
{
    char c = s->p[s->i++];
    if (c == '(') {
        if (++s->depth > REGEX_MAX_DEPTH) return REGEX_TOO_BIG;
        uint64_t inner = rx_alternation(s);
        if (s->i < s->n && s->p[s->i] == ')') s->i++;
        s->depth--;
        return inner + 1;
    }
    if (c == '[') rx_bracket(s);
    else if (c == '\\' && s->i < s->n) s->i++;
    return 1;
}

/* Branches up to a ')' or the end: the sum of their items, saturating above the limit. */
static uint64_t rx_alternation(struct rx_scan *s)
{
    uint64_t total = 0;
    while (s->i < s->n && s->p[s->i] != ')' && total <= REGEX_MAX_NODES) {
        if (s->p[s->i] == '|') {
            s->i++;
            total++;
            continue;
        }
        uint64_t item = rx_atom(s), times;
        while (s->i < s->n && item <= REGEX_MAX_NODES) {
            char c = s->p[s->i];
            if (c == '*' || c == '?') {
                s->i++;
                item++;
            } else if (c == '+') { /* x+ is built as x x*: a copy */
                s->i++;
                item = item * 2 + 1;
            } else if (c == '{' && rx_bound(s, &times)) {
                item = item * times + 1;
            } else {
                break;
            }
        }
        total += item;
    }
    return total;
}

/* The estimated node count of pattern p (REGEX_TOO_BIG when over the limit or nested too deep). */
static uint64_t rx_expanded_size(const char *p, size_t n)
{
    struct rx_scan s = {p, 0, n, 0};
    uint64_t total = 0;
    while (s.i < s.n && total <= REGEX_MAX_NODES) {
        total += rx_alternation(&s);
        if (s.i < s.n && s.p[s.i] == ')') s.i++, total++; /* an unmatched ')' */
    }
    return total > REGEX_MAX_NODES ? REGEX_TOO_BIG : total;
}

int rn_regex_check(const char *pattern, size_t len, struct rn_error *err)
{
    if (rx_expanded_size(pattern ? pattern : "", pattern ? len : 0) <= REGEX_MAX_NODES) return 0;
    return rn_error_set(err, RN_EINVAL, 0, 0,
                        "regular expression too large once its repetitions are expanded (over %u nodes, or "
                        "groups nested over %d deep)",
                        REGEX_MAX_NODES, REGEX_MAX_DEPTH);
}

static int compile_regex(struct enode *nd, const char *fname, struct rn_error *err)
{
    int rc = want(nd, 0, RN_T_STRING, fname, err);
    if (!rc) rc = want(nd, 1, RN_T_STRING, fname, err);
    if (!rc) rc = want_const(nd, 1, fname, err);
    if (rc) return rc;
    struct rn_str p = nd->args[1]->cstr;
    struct rn_error why;
    if (rn_regex_check(p.ptr, p.len, &why)) return rn__type_error(nd->args[1], err, "%s(): %s", fname, why.msg);
    char *pat = strndup(p.len ? p.ptr : "", p.len);
    struct rn_regex *rx = calloc(1, sizeof *rx);
    if (!pat || !rx) {
        free(pat);
        free(rx);
        return rn_error_set(err, RN_ENOMEM, 0, 0, "out of memory");
    }
    int e = regcomp(&rx->re, pat, REG_EXTENDED);
    free(pat);
    if (e) {
        char msg[128];
        regerror(e, &rx->re, msg, sizeof msg);
        free(rx);
        return rn__type_error(nd->args[1], err, "%s(): bad regular expression: %s", fname, msg);
    }
    nd->aux = rx;
    nd->aux_free = free_regex;
    return 0;
}

static int check_regexp_match(struct enode *nd, struct rn_error *err)
{
    nd->type = rn_type_of(RN_T_BOOL);
    nd->fn = rn__k_regexp_match;
    return compile_regex(nd, "regexp_match", err);
}

static int check_regexp_extract(struct enode *nd, struct rn_error *err)
{
    nd->type = rn_type_of(RN_T_STRING);
    nd->fn = rn__k_regexp_extract;
    nd->nullable = true;
    int rc = compile_regex(nd, "regexp_extract", err);
    if (rc) return rc;
    nd->k.i = 1;
    if (nd->n_args == 3) {
        if ((rc = want(nd, 2, RN_T_INT64, "regexp_extract", err)) || (rc = want_const(nd, 2, "regexp_extract", err)))
            return rc;
        nd->k.i = nd->args[2]->cval.i;
    }
    const struct rn_regex *rx = nd->aux;
    if (nd->k.i < 0 || nd->k.i > 9 || (size_t)nd->k.i > rx->re.re_nsub)
        return rn__type_error(nd->n_args == 3 ? nd->args[2] : nd, err,
                              "regexp_extract(): group %lld does not exist (the pattern has %zu, at most 9 are usable)",
                              (long long)nd->k.i, (size_t)rx->re.re_nsub);
    return 0;
}

/* ---- nulls ---- */

static int k_coalesce(struct enode *nd, struct ectx *cx)
{
    uint32_t n = cx->n;
    int rc = rn__out_values(nd, n);
    if (!rc) rc = rn__out_validity(nd, n);
    if (rc) return rc;
    size_t width = rn_type_width(nd->type);
    char *o = nd->out.values;
    bool any_null = false;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = 0;
        while (k < nd->n_args && rn_column_is_null(&nd->args[k]->out, i)) k++;
        if (k == nd->n_args) {
            memset(o + i * width, 0, width);
            rn_bit_clear(nd->out.validity, i);
            any_null = true;
        } else {
            memcpy(o + i * width, (const char *)nd->args[k]->out.values + i * width, width);
        }
    }
    if (!any_null) {
        rn_buf_unref(nd->out.validity_buf);
        nd->out.validity_buf = NULL;
        nd->out.validity = NULL;
    }
    for (uint32_t k = 0; nd->type.id == RN_T_STRING && k < nd->n_args; k++)
        if ((rc = rn_column_share_deps(&nd->out, &nd->args[k]->out))) return rc;
    return 0;
}

static int check_coalesce(struct enode *nd, struct rn_error *err)
{
    int rc = rn__common_type(nd->args, nd->n_args, &nd->type, err);
    nd->fn = k_coalesce;
    nd->nullable = true;
    for (uint32_t i = 0; i < nd->n_args; i++) nd->nullable &= nd->args[i]->nullable;
    return rc;
}

/* ---- hash ---- */

static int k_hash(struct enode *nd, struct ectx *cx)
{
    int rc = rn__out_values(nd, cx->n);
    if (rc) return rc;
    uint64_t *o = nd->out.values;   /* int64 storage, written as the unsigned hash */
    for (uint32_t k = 0; k < nd->n_args; k++) rn_hash_column(&nd->args[k]->out, cx->n, o, k > 0);
    return 0;
}

static int check_hash(struct enode *nd, struct rn_error *err)
{
    (void)err;
    nd->type = rn_type_of(RN_T_INT64);
    nd->nullable = false;
    nd->fn = k_hash;
    for (uint32_t i = 0; i < nd->n_args; i++)
        if (nd->args[i]->type.id == RN_T_NULL) nd->args[i]->type = rn_type_of(RN_T_INT64);
    return 0;
}

/* ---- time ---- */

static int k_now(struct enode *nd, struct ectx *cx)
{
    int rc = rn__out_values(nd, cx->n);
    if (rc) return rc;
    int64_t *o = nd->out.values;
    for (uint32_t i = 0; i < cx->n; i++) o[i] = cx->now;
    return 0;
}

static int check_now(struct enode *nd, struct rn_error *err)
{
    (void)err;
    nd->type = rn_type_of(RN_T_TIMESTAMP);
    nd->nullable = false;
    nd->volatile_ = true;
    nd->fn = k_now;
    return 0;
}

static int check_to_timestamp(struct enode *nd, struct rn_error *err)
{
    struct enode *a = nd->args[0];
    nd->type = rn_type_of(RN_T_TIMESTAMP);
    if (a->type.id == RN_T_NULL) a->type = nd->type;
    if (a->type.id == RN_T_TIMESTAMP) {
        nd->fn = rn__k_share;
        return 0;
    }
    if (a->type.id != RN_T_INT64 && a->type.id != RN_T_DOUBLE && a->type.id != RN_T_STRING) {
        char x[24];
        return rn__type_error(a, err, "to_timestamp() takes int64, double or string, found %s", tname(a->type, x));
    }
    nd->fn = rn__k_cast(a->type, nd->type);
    nd->nullable |= a->type.id != RN_T_INT64;
    return 0;
}

static int tumble(struct enode *nd, struct ectx *cx, bool end)
{
    int rc = rn__kernel_prepare(nd, cx->n);
    if (rc) return rc;
    const int64_t *a = nd->args[0]->out.values;
    int64_t *o = nd->out.values, size = nd->k.i;
    const struct rn_divmagic dm = nd->dm;
    for (uint32_t i = 0; i < cx->n; i++) {
        int64_t m = rn__smod_magic(&dm, a[i]);
        m += m < 0 ? size : 0;
        o[i] = (int64_t)((uint64_t)a[i] - (uint64_t)m + (end ? (uint64_t)size : 0));
    }
    return 0;
}
static int k_tumble_start(struct enode *nd, struct ectx *cx) { return tumble(nd, cx, false); }
static int k_tumble_end(struct enode *nd, struct ectx *cx) { return tumble(nd, cx, true); }

static int check_tumble(struct enode *nd, bool end, const char *name, struct rn_error *err)
{
    struct enode *a = nd->args[0];
    nd->type = rn_type_of(RN_T_TIMESTAMP);
    if (a->type.id == RN_T_NULL) a->type = nd->type;
    if (a->type.id != RN_T_TIMESTAMP && a->type.id != RN_T_INT64) {
        char x[24];
        return rn__type_error(a, err, "%s() argument 1 must be a timestamp, found %s", name, tname(a->type, x));
    }
    int rc = want(nd, 1, RN_T_INT64, name, err);
    if (!rc) rc = want_const(nd, 1, name, err);
    if (rc) return rc;
    nd->k.i = nd->args[1]->cval.i;
    if (nd->k.i <= 0) return rn__type_error(nd->args[1], err, "%s() size must be a positive duration", name);
    rn__divmagic_init(&nd->dm, nd->k.i);
    nd->fn = end ? k_tumble_end : k_tumble_start;
    return 0;
}
/* hour(ts): the hour of the day, 0 to 23, of a timestamp in UTC (flooring before 1970). */
static int k_hour(struct enode *nd, struct ectx *cx)
{
    int rc = rn__kernel_prepare(nd, cx->n);
    if (rc) return rc;
    const int64_t *a = nd->args[0]->out.values;
    int64_t *o = nd->out.values;
    for (uint32_t i = 0; i < cx->n; i++) {
        int64_t ms = a[i] % 86400000;
        o[i] = (ms < 0 ? ms + 86400000 : ms) / 3600000;
    }
    return 0;
}

static int check_hour(struct enode *nd, struct rn_error *err)
{
    nd->type = rn_type_of(RN_T_INT64);
    nd->fn = k_hour;
    return want(nd, 0, RN_T_TIMESTAMP, "hour", err);
}

static int check_tumble_start(struct enode *nd, struct rn_error *err) { return check_tumble(nd, false, "tumble_start", err); }
static int check_tumble_end(struct enode *nd, struct rn_error *err) { return check_tumble(nd, true, "tumble_end", err); }

/* ---- the table ---- */

#define ANY UINT32_MAX
static const struct rn_func funcs[] = {
    {"abs", 1, 1, check_abs},
    {"round", 1, 2, check_round},
    {"floor", 1, 1, check_floor},
    {"ceil", 1, 1, check_ceil},
    {"sqrt", 1, 1, check_sqrt},
    {"ln", 1, 1, check_ln},
    {"exp", 1, 1, check_exp},
    {"power", 2, 2, check_power},
    {"mod", 2, 2, check_mod},
    {"lower", 1, 1, check_lower},
    {"upper", 1, 1, check_upper},
    {"length", 1, 1, check_length},
    {"substr", 2, 3, check_substr},
    {"concat", 1, ANY, check_concat},
    {"split_index", 3, 3, check_split_index},
    {"replace", 3, 3, check_replace},
    {"regexp_match", 2, 2, check_regexp_match},
    {"regexp_extract", 2, 3, check_regexp_extract},
    {"coalesce", 1, ANY, check_coalesce},
    {"hash", 1, ANY, check_hash},
    {"now", 0, 0, check_now},
    {"to_timestamp", 1, 1, check_to_timestamp},
    {"hour", 1, 1, check_hour},
    {"tumble_start", 2, 2, check_tumble_start},
    {"tumble_end", 2, 2, check_tumble_end},
};

const struct rn_func *rn__func_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++)
        if (strlen(funcs[i].name) == len && strncasecmp(funcs[i].name, name, len) == 0) return &funcs[i];
    return NULL;
}

const char *rn__func_closest(const char *name, size_t len)
{
    char want[65];
    if (len > 64) return NULL;
    memcpy(want, name, len);
    want[len] = 0;
    const char *best = NULL;
    size_t best_d = 3;
    for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++) {
        size_t d = rn__edit_distance(want, funcs[i].name);
        if (d < best_d) best_d = d, best = funcs[i].name;
    }
    return best;
}
